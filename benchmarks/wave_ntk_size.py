"""The NTK-weighted (or plain) wave (NTK paper §7.3) at a chosen width and step count.

How far the `cpu` fidelity row (3×128, 20k steps) is from the paper's configuration
(3×500, 80k steps) in error: one run per call, NTK-weighted or, with ``--plain``, with
unit weights (the fidelity row trains both, which doubles the time), the
example's settings otherwise (``examples/wave1d.py``: standardized inputs, Xavier init,
Adam 1e-3·0.9^(k/1000), 300 residual + 100 points per condition drawn fresh each step,
NTK weights every 100 steps: the notebook's one ``λ_u`` for the three ``u`` conditions
and per-point traces, or with ``--per-condition`` one weight per condition from summed
traces, the example's weights until 2026-11-29). Every ``--every`` steps it records the
relative L2 error on the example's 200×200 grid and the weights, and writes them as JSON.

Usage::

    python benchmarks/wave_ntk_size.py --width 256 --iterations 80000 --out wave.json
    python benchmarks/wave_ntk_size.py --width 500 --iterations 40000 --plain --seed 1 \
        --out plain.json --field plain.png           # and the final |error| field
    python benchmarks/wave_ntk_size.py --history curves.png --records plain.json wave.json
    python benchmarks/wave_ntk_size.py --width 8 --iterations 20 --every 10   # smoke

Measured (docs/fidelity.md, "The wave at the paper's network"; one core, torch
2.13.0+cpu): at 3×500 and 40k steps NTK 1.38e-2 / 4.49e-3 / 5.21e-3 with the notebook's
weights, 4.36e-3 / 5.47e-3 / 1.29e-2 with per-condition weights (seeds 0-2), plain
0.455 / 0.486 (seeds 0, 2); at all 80k steps (after the factored tanh) NTK 1.18e-2 /
4.54e-3 / 4.77e-3 with the notebook's weights (seeds 0-2), plain 0.445 / 0.420 / 0.465
(seeds 0-2), 81-115 minutes a run with both cores busy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from symbolic_pinn import MLP, PhysicsInformedNN, discretize, gallery
from symbolic_pinn.result import Result
from symbolic_pinn.training import StochasticTraining

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from wave1d import ntk_loss  # the example's NTK weights


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--width", type=int, default=256, help="width of the 3 hidden layers")
    ap.add_argument("--iterations", type=int, default=80000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--every", type=int, default=5000, help="steps between error records")
    ap.add_argument("--plain", action="store_true", help="unit weights instead of NTK weights")
    ap.add_argument("--per-condition", action="store_true",
                    help="one NTK weight per condition (summed traces), not the notebook's")
    ap.add_argument("--out", help="write the records as JSON to this file")
    ap.add_argument("--field", help="save the final |error| field as this PNG")
    ap.add_argument("--history", help="no training: plot the error (and NTK weights) of "
                    "the --records files against the step, as this PNG")
    ap.add_argument("--records", nargs="+", default=[], help="JSON files written by --out")
    args = ap.parse_args(argv)
    if args.history:
        return plot_history([_load(path) for path in args.records], args.history)
    torch.set_num_threads(1)
    system, exact, _ = gallery.get("wave1d")
    x, t = system.indvars
    pinn = PhysicsInformedNN(MLP(2, 1, [args.width] * 3), StochasticTraining(300, 100),
                             adaptive_loss=None if args.plain
                             else ntk_loss(100, paper_weights=not args.per_condition),
                             input_scaling="standardize")
    problem = discretize(system, pinn)
    xs, ts = np.meshgrid(np.linspace(0, 1, 200), np.linspace(0, 1, 200))
    ref = exact(xs, ts)
    records: list[dict] = []
    start = time.perf_counter()

    def record(row: dict) -> None:
        if (row["step"] + 1) % args.every == 0:
            records.append({"step": row["step"] + 1,
                            "rel_l2": Result(problem, []).relative_error({x: xs, t: ts}, ref),
                            "weights": row.get("weights"),
                            "wall_s": time.perf_counter() - start})
            print(json.dumps(records[-1]), flush=True)

    problem.solve(args.iterations, lr=1e-3, seed=args.seed, progress=False, callback=record,
                  lr_schedule=lambda step: 0.9 ** (step / 1000))
    meta = {"width": args.width, "iterations": args.iterations, "seed": args.seed,
            "method": "plain" if args.plain else "ntk",
            "ntk_weights": (None if args.plain
                            else "per-condition" if args.per_condition else "paper"),
            "torch": torch.__version__, "threads": 1}
    if args.field:
        pred = Result(problem, []).predict({x: xs, t: ts})["u"]
        plot_field(np.abs(pred - ref), meta, args.field)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"meta": meta, "records": records}, f, indent=1)
    return records


def _load(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _label(meta: dict) -> str:
    method = meta.get("method", "ntk")
    if method == "ntk":  # records without "ntk_weights" predate the notebook's weights
        method += f" ({meta.get('ntk_weights', 'per-condition')})"
    return f"{method}, 3×{meta['width']}, seed {meta['seed']}"


def plot_field(err: np.ndarray, meta: dict, path: str) -> None:
    """``|u - u_exact|`` on the 200×200 grid (x across, t up)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.4, 3.5))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(err, origin="lower", extent=(0, 1, 0, 1), aspect="auto", cmap="viridis")
    fig.colorbar(im, ax=ax)
    ax.set_xlabel("x")
    ax.set_ylabel("t")
    ax.set_title(f"wave |error|: {_label(meta)}, {meta['iterations']} steps", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=70)


def plot_history(runs: list[dict], path: str) -> list[dict]:
    """Relative L2 error against the step for each run; the NTK runs' weights beside it."""
    from matplotlib.figure import Figure

    if not runs:
        raise SystemExit("--history needs --records FILE [FILE ...]")
    fig = Figure(figsize=(10, 3.6))
    ax_err, ax_w = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    ntk_runs = 0
    for run in runs:
        steps = [r["step"] for r in run["records"]]
        ax_err.semilogy(steps, [r["rel_l2"] for r in run["records"]], "o-", ms=3,
                        label=_label(run["meta"]))
        if run["records"] and run["meta"].get("method", "ntk") == "ntk":
            # colour: the term; line style: the run
            style = ("-", "--", ":", "-.")[ntk_runs % 4]
            for k, name in enumerate(run["records"][0]["weights"]):
                ax_w.semilogy(steps, [r["weights"][name] for r in run["records"]], style,
                              color=f"C{k}", label=name if ntk_runs == 0 else None)
            ntk_runs += 1
    ax_err.axhline(5e-3, color="k", ls=":", lw=1, label="target 5e-3")
    ax_err.set_xlabel("step")
    ax_err.set_ylabel("relative L2 error")
    ax_err.legend(fontsize=6)
    ax_w.set_xlabel("step")
    ax_w.set_ylabel("NTK weight (one line style per NTK run)")
    ax_w.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=70)
    print(history_table(runs))
    return [record for run in runs for record in run["records"]]


def history_table(runs: list[dict]) -> str:
    """A markdown table: one row per run, its error at each recorded step, its wall time."""
    steps = sorted({r["step"] for run in runs for r in run["records"]})
    lines = ["| run | " + " | ".join(f"{s / 1000:g}k" for s in steps) + " | wall |",
             "|---" * (len(steps) + 2) + "|"]
    for run in runs:
        by_step = {r["step"]: r["rel_l2"] for r in run["records"]}
        cells = [f"{by_step[s]:.2e}" if s in by_step else "—" for s in steps]
        wall = f"{run['records'][-1]['wall_s']:.0f} s" if run["records"] else "—"
        lines.append(f"| {_label(run['meta'])} | " + " | ".join(cells) + f" | {wall} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
