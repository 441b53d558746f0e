"""The ``symbolic-pinn`` command.

``symbolic-pinn`` with no arguments runs the demonstration: the NTK paper's 1D
Poisson problem ``u_xx = -16π² sin(4πx)``, ``u(0) = u(1) = 0`` (§7.2), trained twice
with the same seed, network, points and optimizer, once with plain weights and once
with :class:`~symbolic_pinn.adaptive.NeuralTangentKernelAdaptiveLoss`. It prints both
relative L2 errors and the NTK weights and traces, and writes the generated module,
a plot and a JSON summary to ``--out``.

Other commands::

    symbolic-pinn list              # the built-in gallery problems
    symbolic-pinn show-code NAME    # the generated module of one of them
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from . import __version__, gallery
from .adaptive import NeuralTangentKernelAdaptiveLoss, NonAdaptiveLoss
from .discretization import discretize, symbolic_discretize
from .networks import MLP
from .pinn import PhysicsInformedNN
from .training import GridTraining, QuasiRandomTraining

__all__ = ["main", "DEMO"]

#: The demonstration's configuration (chosen by measurement; see ``run_demo``).
DEMO = {
    "problem": "poisson1d_sin4pi",
    "hidden": [100],  # one hidden layer of 100 tanh units, as in the paper's sec. 7.2
    "dx": 0.01,  # GridTraining: 99 interior points, and x = 0, x = 1
    "input_scaling": "standardize",  # as the paper's code; it is what makes lambda_b large
    "lr": 1e-3,
    "lr_decay": 0.7,  # Adam, lr = 1e-3 * 0.7 ** (step / 1000)
    "iterations": 10_000,
    "quick_iterations": 300,
    "reweight_every": 100,
    "trace": "mean",  # per point: the conditions have 1 point each, the equation 99
}


def _demo_problem(adaptive):
    example = gallery.get(DEMO["problem"])
    pinn = PhysicsInformedNN(
        MLP(1, 1, DEMO["hidden"]),
        GridTraining(DEMO["dx"]),
        adaptive_loss=adaptive,
        input_scaling=DEMO["input_scaling"],
    )
    return discretize(example.system, pinn), example.exact


def _relative_l2(result, exact, xs: np.ndarray) -> tuple[float, np.ndarray]:
    pred = result.predict({"x": xs})["u"]
    ref = exact(xs)
    return float(np.linalg.norm(pred - ref) / np.linalg.norm(ref)), pred


def run_demo(iterations: int, seed: int, out: Path, *, progress: bool | None = None) -> dict:
    """Train the demonstration problem with and without NTK weights; write the outputs.

    Args:
        iterations: Adam steps per run.
        seed: Seed of both runs (same initial network).
        out: Output directory (created).
        progress: Show progress bars (default: for long runs).

    Returns:
        The summary also written to ``out / "summary.json"``.
    """
    out.mkdir(parents=True, exist_ok=True)
    xs = np.linspace(0.0, 1.0, 1001)
    decay = DEMO["lr_decay"]
    options = {"lr": DEMO["lr"], "seed": seed, "progress": progress, "log_every": 10,
               "lr_schedule": lambda step: decay ** (step / 1000)}
    runs = {}
    start = time.perf_counter()
    for name, adaptive in (
        ("plain", NonAdaptiveLoss()),
        ("ntk", NeuralTangentKernelAdaptiveLoss(DEMO["reweight_every"], trace=DEMO["trace"])),
    ):
        problem, exact = _demo_problem(adaptive)
        t0 = time.perf_counter()
        result = problem.solve(iterations, **options)
        seconds = time.perf_counter() - t0
        error, pred = _relative_l2(result, exact, xs)
        runs[name] = {"problem": problem, "result": result, "error": error, "pred": pred,
                      "seconds": seconds}
        print(f"  {name:5s}: relative L2 error {error:.3e}  ({seconds:.1f} s)", flush=True)
    wall = time.perf_counter() - start

    ntk_run = runs["ntk"]
    ntk = ntk_run["problem"].adaptive_loss
    code_path = ntk_run["problem"].write(out / "poisson1d_ntk_generated.py")
    plot_path = _plot(runs, xs, exact(xs), out / "poisson1d_ntk_vs_plain.png")
    ratio = runs["plain"]["error"] / max(ntk_run["error"], 1e-300)
    summary = {
        "problem": gallery.get(DEMO["problem"]).description,
        "configuration": {**DEMO, "iterations": iterations, "seed": seed},
        "relative_l2": {"plain": runs["plain"]["error"], "ntk": ntk_run["error"]},
        "improvement": ratio,
        "ntk_weights": dict(ntk.weights),
        "ntk_traces": dict(ntk.traces),
        "weight_history": [
            {"step": row["step"], "weights": row["weights"], "traces": row["traces"]}
            for row in ntk_run["result"].history if "traces" in row
        ],
        "seconds": {"plain": runs["plain"]["seconds"], "ntk": ntk_run["seconds"],
                    "total": wall},
        "files": {"generated_code": str(code_path), "plot": str(plot_path)},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def _plot(runs: dict, xs: np.ndarray, exact: np.ndarray, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8), constrained_layout=True)
    ax = axes[0, 0]
    ax.plot(xs, exact, "k-", lw=3, alpha=0.35, label="exact sin(4πx)")
    for name, style in (("plain", "C3--"), ("ntk", "C0-")):
        ax.plot(xs, runs[name]["pred"], style, lw=1.5,
                label=f"{name} (rel. L2 {runs[name]['error']:.2e})")
    ax.set(title="solution", xlabel="x", ylabel="u")
    ax.legend(loc="lower left", fontsize=8)

    ax = axes[0, 1]
    for name, color in (("plain", "C3"), ("ntk", "C0")):
        ax.semilogy(xs, np.abs(runs[name]["pred"] - exact) + 1e-12, color=color, label=name)
    ax.set(title="pointwise error |u - exact|", xlabel="x")
    ax.legend(fontsize=8)

    ax = axes[1, 0]
    rows = [row for row in runs["ntk"]["result"].history if "traces" in row]
    steps = [row["step"] for row in rows]
    for term in rows[0]["weights"] if rows else ():
        ax.semilogy(steps, [row["weights"][term] for row in rows], marker=".", label=f"λ {term}")
    ax.set(title="NTK weights λ_k = Σ_j Tr K_jj / Tr K_kk", xlabel="step")
    ax.legend(fontsize=8)

    ax = axes[1, 1]
    for name, style in (("plain", "--"), ("ntk", "-")):
        history = runs[name]["result"].history
        steps = [row["step"] for row in history]
        for i, term in enumerate(history[0]["losses"]):
            ax.semilogy(steps, [row["losses"][term] for row in history], style,
                        color=f"C{i}", lw=1, label=f"{name} {term}")
    ax.set(title="unweighted loss of each term", xlabel="step")
    ax.legend(fontsize=7, ncol=2)

    fig.suptitle("1D Poisson u = sin(4πx): plain PINN vs NTK adaptive weights (same seed)")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _cmd_demo(args: argparse.Namespace) -> int:
    iterations = args.iterations
    if iterations is None:
        iterations = DEMO["quick_iterations"] if args.quick else DEMO["iterations"]
    out = Path(args.out)
    print(f"symbolic-pinn {__version__}: {gallery.get(DEMO['problem']).description}")
    print(f"MLP(1, 1, {DEMO['hidden']}) tanh, GridTraining({DEMO['dx']}), standardized input, "
          f"Adam lr {DEMO['lr']} * {DEMO['lr_decay']}^(step/1000), {iterations} steps, "
          f"seed {args.seed}")
    print("Training the same network twice: plain weights, then NTK weights "
          f"(reweight_every={DEMO['reweight_every']}, trace={DEMO['trace']!r}) ...", flush=True)
    s = run_demo(iterations, args.seed, out, progress=False if args.quick else None)
    plain, ntk = s["relative_l2"]["plain"], s["relative_l2"]["ntk"]
    print()
    print(f"relative L2 error, plain PINN:  {plain:.3e}")
    print(f"relative L2 error, NTK weights: {ntk:.3e}   ({s['improvement']:.1f}x lower)")
    print("final NTK weights: " + ", ".join(f"{k} = {v:.4g}" for k, v in s["ntk_weights"].items()))
    print("final NTK traces (per point): "
          + ", ".join(f"Tr K[{k}] = {v:.4g}" for k, v in s["ntk_traces"].items()))
    first = s["weight_history"][0] if s["weight_history"] else None
    if first is not None:
        print("NTK weights at step 0:  "
              + ", ".join(f"{k} = {v:.4g}" for k, v in first["weights"].items()))
    print(f"wall time: {s['seconds']['total']:.1f} s")
    print(f"wrote {s['files']['generated_code']}")
    print(f"wrote {s['files']['plot']}")
    print(f"wrote {out / 'summary.json'}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    del args
    width = max(map(len, gallery.names()))
    for name in gallery.names():
        print(f"{name:{width}s}  {gallery.get(name).description}")
    return 0


def _cmd_show_code(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.name not in gallery.EXAMPLES:
        parser.error(f"unknown example {args.name!r}; the examples are: "
                     f"{', '.join(gallery.names())}")
    system = gallery.get(args.name).system
    nets = [MLP(len(dv.args), 1, [16]) for dv in system.depvars]
    adaptive = NeuralTangentKernelAdaptiveLoss(100) if args.ntk else NonAdaptiveLoss()
    pinn = PhysicsInformedNN(
        nets, QuasiRandomTraining(100), adaptive_loss=adaptive,
        input_scaling="standardize" if args.standardize else None,
    )
    sys.stdout.write(symbolic_discretize(system, pinn).source)
    return 0


def _parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    parser = argparse.ArgumentParser(
        prog="symbolic-pinn",
        description="Without a command: train the NTK paper's 1D Poisson problem with and "
                    "without NTK adaptive weights and compare them.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--iterations", type=int, default=None,
                        help=f"Adam steps per run (default {DEMO['iterations']}, "
                             f"{DEMO['quick_iterations']} with --quick)")
    parser.add_argument("--seed", type=int, default=0, help="seed of both runs (default 0)")
    parser.add_argument("--out", default="symbolic_pinn_output",
                        help="output directory (default ./symbolic_pinn_output)")
    parser.add_argument("--quick", action="store_true",
                        help="a few hundred steps: checks the installation, proves nothing")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: fastest for this small network)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("list", help="list the built-in example problems")
    show = sub.add_parser("show-code", help="print the generated module of a built-in example")
    show.add_argument("name", metavar="NAME", help="an example name (see 'symbolic-pinn list')")
    show.add_argument("--ntk", action="store_true",
                      help="generate it with NeuralTangentKernelAdaptiveLoss (the hook call)")
    show.add_argument("--standardize", action="store_true",
                      help="with input_scaling='standardize' (chain-rule factors in the code)")
    return parser, show


def main(argv: list[str] | None = None) -> int:
    """Run the ``symbolic-pinn`` command.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status (0). Usage errors, such as an unknown example name or an
        ``--out`` that is an existing file, exit with status 2 (``SystemExit``), as
        argparse does, before anything is trained.

    Examples:
        The gallery, and the generated module of one of its problems:

        >>> import contextlib, io
        >>> def run(*argv):
        ...     out = io.StringIO()
        ...     with contextlib.redirect_stdout(out):
        ...         status = main(list(argv))
        ...     return status, out.getvalue().splitlines()
        >>> status, lines = run("list")
        >>> status, [line.split()[0] for line in lines]
        (0, ['heat1d', 'poisson1d_sin4pi', 'poisson2d', 'wave1d'])
        >>> status, code = run("show-code", "poisson1d_sin4pi")
        >>> status, code[4]
        (0, '# pde_0: Eq(Derivative(u(x), (x, 2)), -16*pi**2*sin(4*pi*x))')

        With ``--ntk`` (``NeuralTangentKernelAdaptiveLoss``) the closure calls the hook:

        >>> [line for line in code if "run.adapt" in line]
        []
        >>> status, code = run("show-code", "poisson1d_sin4pi", "--ntk")
        >>> [line.strip() for line in code if "run.adapt" in line]
        ['run.adapt(losses)']

        An unknown example is a usage error:

        >>> with contextlib.redirect_stderr(io.StringIO()):
        ...     try:
        ...         main(["show-code", "poisson3d"])
        ...     except SystemExit as error:
        ...         print(error.code)
        2
    """
    parser, show = _parser()
    args = parser.parse_args(argv)
    if args.command in ("list", "show-code"):
        try:
            status = _cmd_list(args) if args.command == "list" else _cmd_show_code(args, show)
            sys.stdout.flush()
        except BrokenPipeError:  # `symbolic-pinn list | head -1`: the reader has gone
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # quiet at exit
            return 0
        return status
    if args.iterations is not None and args.iterations < 1:
        parser.error("--iterations must be positive")
    if args.threads < 1:
        parser.error("--threads must be positive")
    if not 0 <= args.seed < 2**64:  # torch's range
        parser.error("--seed must be an integer in [0, 2**64)")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        parser.error(f"argument --out: {args.out!r} exists and is not a directory")
    try:  # before training: a wrong --out costs no run
        Path(args.out).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        parser.error(f"argument --out: cannot create the directory {args.out!r}: "
                     f"{exc.strerror or exc}")
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return _cmd_demo(args)
    finally:
        torch.set_num_threads(threads)  # main() may be called from a larger program


if __name__ == "__main__":
    sys.exit(main())
