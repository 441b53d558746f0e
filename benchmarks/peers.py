"""Our training step side by side with DeepXDE and PINA, measured in one run, as ratios.

Problem (``../shared/reference/peers_bench``): -Δu = 2π² sin(πx) sin(πy) on [0, 1]²,
u = 0 on the boundary, exact u = sin(πx) sin(πy); MLP 2-64-64-1 tanh, 2000 interior +
400 boundary random points, Adam lr 1e-3, float32, CPU, equal loss weights.

Implementations (``--impls``):

* ``hand``: eager PyTorch, batched ``torch.autograd.grad`` (``speed.hand_loss_fn``);
* ``hand-warm``, ``deepxde-warm``, ``pina-warm``: the same after freeing one 16 MiB
  block, as ``solve`` does first (``symbolic_pinn.allocator``: it raises glibc's dynamic
  mmap threshold), to show how much of a ratio is the allocator's state;
* ``ours``: ``PhysicsInformedNN(MLP(2, 1, [64, 64]), strategy)`` with default settings,
  ``discretize``, ``solve``; the derivative path that "default" resolved to is reported;
* ``ours-autograd``, ``ours-taylor``: ``derivatives="autograd"`` / ``"taylor"``;
* ``ours-compiled``: ``derivatives="taylor", compile=True`` ("unavailable" where
  ``PhysicsInformedNN`` has no ``compile``); its first step holds the compilation;
* ``deepxde``: DeepXDE, PyTorch backend, ``train_distribution="pseudo"``;
* ``pina``: PINA 0.3, ``PhysicsInformedSingleModelSolver``, full batch (1 epoch = 1 step).

hand and ours train on the same fixed points (``speed.make_points``: 2000 interior, 100
on each edge, ours with one loss term per edge) from the same initialisation. DeepXDE
and PINA sample their own 2000 + 400 points, as their users would; DeepXDE evaluates
the network and the Hessian on the 400 boundary points as well (its design: the PDE
loss covers all 2400 training points). PINA's network uses torch's default init.

Method: each measurement is a fresh subprocess (``--child NAME``, run by
``--peers-python``) that prints one ``RESULT {json}`` line: the median step time after
a warm-up (differences of ``perf_counter`` stamps taken after every step by a ``solve``
callback, a DeepXDE callback or a Lightning callback: each library's per-step
bookkeeping is in, its set-up is not), the time from the start of training to the end
of step 1 (from creating the optimizer on: set-up, the first ``Adam()``'s import of
``torch._dynamo``, for ours-compiled the compilation into an inductor cache that is
empty in round 1), peak RSS (VmHWM), the import time of torch and the library, and the
relative L2 error on a 100x100 grid. A round runs every implementation once, interleaved
(the order rotates each round), all with the same ``torch.set_num_threads``. Ratios are
taken per round, then the median (min-max) over rounds, so a slow phase of a shared
machine hits both sides alike. A missing library is reported as "not installed".

Usage::

    .venv-peers/bin/python benchmarks/peers.py --quick   # smoke test: 1 round x 30 steps,
                                                         # no ours-compiled (< 1 minute)
    .venv-peers/bin/python benchmarks/peers.py --out peers.json  # 5 rounds x 300 steps:
                                # about 7 minutes on 2 cores (the first compile 15-46 s)
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import itertools
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
IMPLS = ("hand", "hand-warm", "ours", "ours-autograd", "ours-taylor", "ours-compiled",
         "deepxde", "deepxde-warm", "pina", "pina-warm")
OURS = tuple(name for name in IMPLS if name.startswith("ours"))
PEERS = ("deepxde", "deepxde-warm", "pina", "pina-warm")
N_INTERIOR, N_EDGE, LR, WIDTH = 2000, 100, 1e-3, 64
LIBS = {"hand": ("torch",), "deepxde": ("torch", "deepxde"),  # imported (timed), versions
        "pina": ("torch", "pina", "lightning")}  # ours: torch, symbolic_pinn
OURS_OPTIONS = {"ours": {}, "ours-autograd": {"derivatives": "autograd"},
                "ours-taylor": {"derivatives": "taylor"},
                "ours-compiled": {"derivatives": "taylor", "compile": True}}


class Unavailable(Exception):
    """The installed symbolic_pinn lacks an option this implementation needs."""


# ------------------------------------------------------------------ child processes
def _stamper(stamps: list[float]):
    return lambda *_: stamps.append(time.perf_counter()) and None


def run_hand(steps: int, seed: int):
    import torch
    from speed import hand_loss_fn, hand_steps, make_points, plain_mlp

    torch.manual_seed(seed)
    net = plain_mlp(WIDTH, 2)
    loss = hand_loss_fn("poisson", make_points("poisson", N_INTERIOR, N_EDGE, seed), net)
    start = time.perf_counter()  # the first Adam(...) of a process imports torch._dynamo
    return start, hand_steps(loss, torch.optim.Adam(net.parameters(), lr=LR), steps), net, {}


def run_ours(steps: int, seed: int, options: dict):
    import torch
    from speed import _fixed_strategy, make_points, make_system

    from symbolic_pinn import MLP, PhysicsInformedNN, discretize

    torch.manual_seed(seed)
    net = MLP(2, 1, [WIDTH, WIDTH])
    strategy = _fixed_strategy(make_points("poisson", N_INTERIOR, N_EDGE, seed))
    try:
        pinn = PhysicsInformedNN(net, strategy, **options)
    except TypeError as error:
        if "compile" in options and "compile" in str(error):
            raise Unavailable(f"PhysicsInformedNN rejects compile=True: {error}") from error
        raise
    prob = discretize(make_system("poisson"), pinn)
    stamps: list[float] = []
    start = time.perf_counter()
    prob.solve(iterations=steps, lr=LR, progress=False, callback=_stamper(stamps))
    resolved = getattr(getattr(prob.symbolic, "options", None), "derivatives", "?")
    return start, stamps, net, {"derivatives": resolved}  # what "auto" resolved to


def run_deepxde(steps: int, seed: int):
    import deepxde as dde
    import torch

    dde.config.set_default_float("float32")
    dde.config.set_random_seed(seed)
    geom = dde.geometry.Rectangle([0.0, 0.0], [1.0, 1.0])

    def pde(x, u):
        lap = dde.grad.hessian(u, x, i=0, j=0) + dde.grad.hessian(u, x, i=1, j=1)
        return -lap - 2 * math.pi**2 * torch.sin(math.pi * x[:, 0:1]) * torch.sin(
            math.pi * x[:, 1:2])

    bc = dde.icbc.DirichletBC(geom, lambda x: 0.0, lambda _, on_boundary: on_boundary)
    data = dde.data.PDE(geom, pde, bc, num_domain=N_INTERIOR, num_boundary=4 * N_EDGE,
                        train_distribution="pseudo")
    model = dde.Model(data, dde.nn.FNN([2, WIDTH, WIDTH, 1], "tanh", "Glorot normal"))
    stamps: list[float] = []
    timer = dde.callbacks.Callback()
    timer.on_batch_end = _stamper(stamps)
    start = time.perf_counter()
    model.compile("adam", lr=LR)  # creates the optimizer
    # display_every=steps: no test-loss evaluation in between
    model.train(iterations=steps, display_every=steps, callbacks=[timer], verbose=0)
    return start, stamps, model.net, {"pde_points": len(data.train_x_all),
                                      "network_points": len(data.train_x)}


def run_pina(steps: int, seed: int):
    import lightning
    import torch
    from pina import Condition, Trainer
    from pina.domain import CartesianDomain
    from pina.equation import Equation
    from pina.equation.zoo import FixedValue
    from pina.model import FeedForward
    from pina.operator import laplacian
    from pina.optim import TorchOptimizer
    from pina.problem import SpatialProblem
    from pina.solver import PhysicsInformedSingleModelSolver

    def residual(input_, output_):
        x, y = input_.extract(["x"]), input_.extract(["y"])
        f = 2 * math.pi**2 * torch.sin(math.pi * x) * torch.sin(math.pi * y)
        return -laplacian(output_, input_, components=["u"], d=["x", "y"]) - f

    class Poisson(SpatialProblem):  # PINA reads these class attributes
        output_variables = ["u"]  # noqa: RUF012
        spatial_domain = CartesianDomain({"x": [0, 1], "y": [0, 1]})
        domains = {"interior": spatial_domain, "boundary": spatial_domain.partial()}  # noqa: RUF012
        conditions = {"interior": Condition(domain="interior", equation=Equation(residual)),  # noqa: RUF012
                      "boundary": Condition(domain="boundary", equation=FixedValue(0.0))}

    lightning.seed_everything(seed, verbose=False)
    problem = Poisson()
    problem.discretise_domain(n=N_INTERIOR, mode="random", domains=["interior"])
    problem.discretise_domain(n=4 * N_EDGE, mode="random", domains=["boundary"])
    model = FeedForward(input_dimensions=2, output_dimensions=1, inner_size=WIDTH,
                        n_layers=2, func=torch.nn.Tanh)
    solver = PhysicsInformedSingleModelSolver(
        problem=problem, model=model, optimizer=TorchOptimizer(torch.optim.Adam, lr=LR))
    stamps: list[float] = []
    timer = lightning.pytorch.Callback()
    timer.on_train_batch_end = _stamper(stamps)
    trainer = Trainer(solver=solver, max_epochs=steps, accelerator="cpu", batch_size=None,
                      enable_progress_bar=False, enable_model_summary=False, logger=False,
                      enable_checkpointing=False, callbacks=[timer])
    start = time.perf_counter()
    trainer.train()
    return start, stamps, model, {}  # the raw module: the grid error needs no labels


def child(name: str, steps: int, warmup: int, threads: int, seed: int) -> dict:
    """Import, train, measure; the dict becomes the child's RESULT line."""
    t0 = time.perf_counter()
    out = {"impl": name, "status": "ok"}
    base = name.removesuffix("-warm")
    libs = LIBS.get(base, ("torch", "symbolic_pinn"))
    try:
        for module in ("numpy", *libs):
            importlib.import_module(module)
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in ("deepxde", "pina", "lightning"):
            raise
        return {**out, "status": "not installed", "detail": str(error)}
    out["import_s"] = time.perf_counter() - t0
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    try:
        if name in OURS:
            start, stamps, net, extra = run_ours(steps, seed, OURS_OPTIONS[name])
        else:
            if name.endswith("-warm"):  # symbolic_pinn.allocator.warm_up, not imported
                block = torch.empty(4 << 20, dtype=torch.float32)
                del block
            start, stamps, net, extra = {"hand": run_hand, "deepxde": run_deepxde,
                                         "pina": run_pina}[base](steps, seed)
    except Unavailable as error:
        return {**out, "status": "unavailable", "detail": str(error)}
    diffs = [b - a for a, b in itertools.pairwise(stamps)]
    g = np.linspace(0.0, 1.0, 100, dtype=np.float32)
    grid = np.stack([a.ravel() for a in np.meshgrid(g, g, indexing="ij")], axis=1)
    exact = np.sin(np.pi * grid[:, 0]) * np.sin(np.pi * grid[:, 1])
    with torch.no_grad():
        pred = net(torch.from_numpy(grid)).detach().numpy().reshape(-1)
    out["peak_rss_mb"] = peak_rss_mb()
    versions = {m: getattr(sys.modules[m], "__version__", None)
                or importlib.metadata.version("pina-mathlab" if m == "pina" else m) for m in libs}
    return {**out, "steps": len(stamps), "warmup": warmup,
            "ms_per_step": statistics.median(diffs[warmup:] or diffs) * 1e3,
            "first_step_s": stamps[0] - start,
            "rel_l2": float(np.linalg.norm(pred - exact) / np.linalg.norm(exact)),
            "threads": torch.get_num_threads(), "versions": versions, **extra}


def peak_rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))


# ------------------------------------------------------------------------- parent
def run_child(python: str, name: str, args, cache: str) -> dict:
    env = {**os.environ, "DDE_BACKEND": "pytorch", "OMP_NUM_THREADS": str(args.threads),
           "MKL_NUM_THREADS": str(args.threads), "PYTHONWARNINGS": "ignore",
           "TORCHINDUCTOR_CACHE_DIR": cache}
    cmd = [python, os.path.abspath(__file__), "--child", name, "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--threads", str(args.threads), "--seed",
           str(args.seed)]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=args.child_timeout, check=False)
    except subprocess.TimeoutExpired:
        return {"impl": name, "status": "failed", "detail": "timed out"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        return {"impl": name, "status": "failed", "detail": proc.stderr[-2000:]}
    return json.loads(lines[-1][len("RESULT "):])


def _summary(values: list[float]) -> dict | None:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "rounds": len(values)} if values else None


def summarize(rounds: list[dict], impls: list[str], status: dict) -> dict:
    rows = {}
    for name in impls:
        runs = [r[name] for r in rounds if name in r]
        if not runs:
            rows[name] = status[name]
            continue
        rows[name] = {**runs[0], **{k: statistics.median(run[k] for run in runs) for k in (
            "ms_per_step", "first_step_s", "peak_rss_mb", "import_s", "rel_l2")},
            "ms_per_step_rounds": [run["ms_per_step"] for run in runs],
            "first_step_s_rounds": [run["first_step_s"] for run in runs]}
        if name == "ours-compiled":  # round 1 compiles into an empty inductor cache
            warm = [run["first_step_s"] for run in runs[1:]]
            rows[name]["compile_s"] = {"cold": runs[0]["first_step_s"],
                                       "warm": statistics.median(warm) if warm else None}
    pairs = [(a, "hand") for a in impls if a != "hand"]
    pairs += [(a, "hand-warm") for a in impls if a in OURS and "hand-warm" in impls]
    pairs += [(a, b) for a in impls if a in OURS for b in impls if b in PEERS]
    ratios = {key: {f"{a}/{b}": _summary([r[a][key] / r[b][key] for r in rounds
                                          if a in r and b in r]) for a, b in pairs}
              for key in ("ms_per_step", "peak_rss_mb")}
    return {"implementations": rows, "time_ratios": ratios["ms_per_step"],
            "peak_rss_ratios": ratios["peak_rss_mb"]}


def _fmt(s: dict | None) -> str:
    return f"{s['median']:.2f} ({s['min']:.2f}-{s['max']:.2f})" if s else "-"


def report(res: dict) -> None:
    rows, times, rss = res["implementations"], res["time_ratios"], res["peak_rss_ratios"]
    print(f"\n{'impl':14s} {'ms/step':>8s} {'/hand (min-max)':>17s} {'RSS MB':>7s} "
          f"{'/hand':>5s} {'import s':>8s} {'1st step s':>10s} {'rel L2':>8s}")
    for name, row in rows.items():
        if row["status"] != "ok":
            print(f"{name:14s} {row['status']}: "
                  + (row.get("detail", "").strip().splitlines() or [""])[-1])
            continue
        m = rss.get(f"{name}/hand")
        print(f"{name:14s} {row['ms_per_step']:8.2f} {_fmt(times.get(f'{name}/hand')):>17s} "
              f"{row['peak_rss_mb']:7.0f} {m['median'] if m else 1:5.2f} {row['import_s']:8.2f} "
              f"{row['first_step_s']:10.2f} {row['rel_l2']:8.1e}"
              + (f"  [{row['derivatives']}]" if "derivatives" in row else ""))
    if "compile_s" in rows.get("ours-compiled", {}):
        c = rows["ours-compiled"]["compile_s"]
        print(f"ours-compiled first step (compilation): {c['cold']:.1f} s with an empty "
              "inductor cache" + (f", {c['warm']:.1f} s cached" if c["warm"] else ""))
    for key, s in times.items():
        if s is not None and not key.endswith("/hand"):
            print(f"{key:26s} time {_fmt(s)}   peak RSS {_fmt(rss[key])}")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 round x 30 steps (smoke test)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=300, help="training steps per child")
    ap.add_argument("--warmup", type=int, help="steps left out of the median "
                    "(default: a tenth of --steps, at least 5)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--impls", nargs="+", choices=IMPLS, help="default: all; with --quick "
                    "all but ours-compiled (its compilation alone takes about a minute)")
    ap.add_argument("--peers-python", default=os.path.join(ROOT, ".venv-peers", "bin",
                                                           "python"))
    ap.add_argument("--child-timeout", type=float, default=900, help="seconds per child")
    ap.add_argument("--out", help="write the results as JSON to this file")
    ap.add_argument("--child", choices=IMPLS, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.quick:
        args.rounds, args.steps = 1, 30
    if args.impls is None:
        args.impls = [n for n in IMPLS if not (args.quick and n == "ours-compiled")]
    if args.warmup is None:
        args.warmup = max(5, args.steps // 10)
    if args.child:
        sys.path[:0] = [HERE, ROOT]
        print("RESULT " + json.dumps(child(args.child, args.steps, args.warmup,
                                           args.threads, args.seed)), flush=True)
        return {}
    python = args.peers_python
    if not os.path.exists(python):
        print(f"{python} not found; using {sys.executable}", flush=True)
        python = sys.executable
    status = {name: {"status": "ok"} for name in args.impls}
    rounds, t0, n = [], time.perf_counter(), len(args.impls)
    # a fresh inductor cache for this run: ours-compiled compiles from scratch in its
    # first round and loads from the cache in later rounds (both are reported)
    with tempfile.TemporaryDirectory(prefix="peers-inductor-") as cache:
        for r in range(args.rounds):
            rounds.append({})
            for name in args.impls[r % n:] + args.impls[:r % n]:  # rotated each round
                if status[name]["status"] == "ok":
                    res = run_child(python, name, args, cache)
                    (rounds[-1] if res["status"] == "ok" else status)[name] = res
                    print(f"round {r + 1}/{args.rounds} {name:14s} " + (
                        f"{res['ms_per_step']:7.2f} ms/step" if res["status"] == "ok"
                        else res["status"]), flush=True)
    res = {"meta": {"quick": args.quick, "rounds": args.rounds, "steps": args.steps,
                    "warmup": args.warmup, "threads": args.threads, "seed": args.seed,
                    "python": python, "python_version": platform.python_version(),
                    "machine": platform.machine(), "cpu_count": os.cpu_count(),
                    "wall_s": time.perf_counter() - t0,
                    "method": "fresh subprocess per measurement; interleaved rounds; "
                              "median step time after warm-up; median (min-max) over "
                              "rounds of per-round ratios"},
           **summarize(rounds, args.impls, status), "raw": rounds}
    report(res)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(res, f, indent=1)
    return res


if __name__ == "__main__":
    main()
