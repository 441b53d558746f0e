"""What the factored tanh derivatives save per training step (``symbolic_pinn.activations``).

Forward propagation builds each derivative channel at a tanh layer from Faà di Bruno's
rule. The library holds tanh's derivatives as ``σ' = 1 - t²`` times ratios (``σ''/σ' =
-2t``), so a second-order channel is ``σ'·(z_xx - 2t z_x²)``. The *plain* form, which the
library used before, builds the tensors ``σ'`` and ``σ'' = -2tσ'`` and sums
``σ' z_xx + σ'' z_x²``. This script trains each ``speed.py`` problem once and switches the
form after every step (the activation is looked up at every call), so the two forms
alternate step by step in one process; the figure is the median step time of each form
and the median of the ratios of neighbouring steps (factored / plain).

Usage::

    python benchmarks/tanh_form.py                    # 1000 steps per problem (~1 minute)
    python benchmarks/tanh_form.py --steps 200 --problems burgers
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from speed import PROBLEMS, make_points, make_problem
from torch import nn

from symbolic_pinn import activations


def plain_tanh(z: torch.Tensor, K: int) -> activations.Plain:
    """tanh and its derivatives as tensors (the form before the factored one)."""
    t = torch.tanh(z)
    if K >= 4:
        return activations.Plain(activations._poly_derivatives(t, K, [1.0, 0.0, -1.0]))
    out = [t]
    if K >= 1:
        s = 1 - t * t
        out.append(s)
    if K >= 2:
        out.append(-2 * t * s)
    if K >= 3:
        out.append(s * (6 * t * t - 2))
    return activations.Plain(out)


def alternate(problem: str, steps: int) -> dict:
    prob = make_problem(problem, make_points(problem, 2000, 100))
    calls = {"plain": 0, "factored": 0}

    def counted(name, fn):
        def form(z, K):
            calls[name] += 1
            return fn(z, K)
        return form

    forms = {"plain": counted("plain", plain_tanh),
             "factored": counted("factored", activations._SMOOTH[nn.Tanh])}
    order = list(forms)
    stamps: list[float] = []
    used: list[str] = []

    def switch(row) -> None:
        stamps.append(time.perf_counter())
        used.append(order[len(stamps) % 2])  # the form of the next step
        activations._SMOOTH[nn.Tanh] = forms[used[-1]]

    real = activations._SMOOTH[nn.Tanh]
    activations._SMOOTH[nn.Tanh] = forms[order[0]]
    try:
        prob.solve(iterations=steps, lr=1e-3, progress=False, callback=switch)
    finally:
        activations._SMOOTH[nn.Tanh] = real
    assert calls["plain"] and calls["factored"], calls  # both forms trained
    times: dict[str, list[float]] = {name: [] for name in forms}
    for k in range(20, len(stamps)):  # step k ran with the form chosen after step k - 1
        times[used[k - 1]].append(stamps[k] - stamps[k - 1])
    pairs = [f / p for p, f in zip(times["plain"], times["factored"])]
    return {"problem": problem, "plain_ms": 1e3 * statistics.median(times["plain"]),
            "factored_ms": 1e3 * statistics.median(times["factored"]),
            "ratio": statistics.median(pairs), "quartiles": statistics.quantiles(pairs, n=4)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=PROBLEMS)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    for problem in args.problems:
        r = alternate(problem, args.steps)
        q = r["quartiles"]
        print(f"{problem:8s} plain {r['plain_ms']:6.2f} ms  factored {r['factored_ms']:6.2f} ms"
              f"  factored / plain {r['ratio']:.3f} (quartiles {q[0]:.3f}-{q[2]:.3f})",
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
