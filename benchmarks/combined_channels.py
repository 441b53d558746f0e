"""What the combined top-order channel (the forward Laplacian) saves, per training step.

With the taylor derivatives the generated ``jet`` call carries ``-u_xx - u_yy`` (Poisson),
``u_tt - 4*u_xx`` (wave) or ``u_t - ν u_xx`` (Burgers, beside ``u u_x``) as one channel
instead of two (see ``symbolic_pinn.channels``).
This script builds each problem of ``speed.py`` twice in one process, with the
combination and with it switched off (``combine_top_order`` patched, in code generation,
to return the residual unchanged, so the generated text differs only there), and times them interleaved:
rounds of ``--steps`` solve steps, A, B, A, B, ... The figure is the median over rounds of
the per-round ratio combined / separate, with its min-max.

Usage::

    python benchmarks/combined_channels.py                 # eager and compiled (~4 min)
    python benchmarks/combined_channels.py --no-compile --rounds 4   # quicker

Measured (torch 2.13.0+cpu, 1 thread, 2-core machine; 12 rounds of 60 steps): see
docs/performance.md, "Combined channels".
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time

import torch
from speed import _fixed_strategy, make_points, make_system

from symbolic_pinn import MLP, PhysicsInformedNN, discretize, jet_calls, loading


def build(problem: str, combine: bool, compile_: bool):
    """The speed.py problem (MLP 2-64-64-1, 2000 + 4 x 100 points), with or without the
    combined channel; its first steps (and compilation) run here."""
    real = jet_calls.combine_top_order
    if not combine:
        jet_calls.combine_top_order = lambda term, orders, used: (term.expr, {})
    try:
        loading._LOADED.clear()  # a module (and compiled graph) of its own
        torch.manual_seed(0)
        pinn = PhysicsInformedNN(MLP(2, 1, [64, 64]),
                                 _fixed_strategy(make_points(problem, 2000, 100, 0)),
                                 compile=compile_)
        prob = discretize(make_system(problem), pinn)
    finally:
        jet_calls.combine_top_order = real
    assert ("_comb = jet(" in prob.source) == combine
    prob.solve(iterations=3, lr=1e-3, progress=False)
    return prob


def step_ms(prob, steps: int) -> float:
    stamps: list[float] = []
    prob.solve(iterations=steps, lr=1e-3, progress=False,
               callback=lambda row: stamps.append(time.perf_counter()) and None)
    diffs = [b - a for a, b in itertools.pairwise(stamps[10:])]
    return statistics.median(diffs) * 1e3


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--steps", type=int, default=60, help="solve steps per round")
    ap.add_argument("--no-compile", action="store_true", help="eager steps only")
    ap.add_argument("--problems", nargs="+", default=["poisson", "wave", "burgers"])
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    for compile_ in [False] if args.no_compile else [False, True]:
        for problem in args.problems:
            pair = [build(problem, combine, compile_) for combine in (False, True)]
            times: list[list[float]] = [[], []]
            for _ in range(args.rounds):
                for i, prob in enumerate(pair):
                    times[i].append(step_ms(prob, args.steps))
            ratios = [b / a for a, b in zip(*times)]
            print(f"{problem:8s} {'compiled' if compile_ else 'eager':8s} separate "
                  f"{statistics.median(times[0]):6.2f} ms  combined "
                  f"{statistics.median(times[1]):6.2f} ms  combined / separate "
                  f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})",
                  flush=True)


if __name__ == "__main__":
    sys.exit(main())
