"""Ways to compute tanh and its derivatives in forward propagation, step against step.

Forward propagation builds each derivative channel at a tanh layer from Faà di Bruno's
rule. The library (*factored*) holds tanh's derivatives as ``σ' = 1 - t²`` times ratios
(``σ''/σ' = -2t``), so a second-order channel is ``σ'·(z_xx - 2t z_x²)``, with
``t = torch.tanh(z)``. The alternatives:

* *plain*: the form the library used before, the tensors ``σ'`` and ``σ'' = -2tσ'``,
  summed as ``σ' z_xx + σ'' z_x²``;
* *sigmoid*: factored, with the value computed as ``t = 2σ(2z) - 1`` (torch's CPU sigmoid
  is about ten times faster than its tanh on these tensors), which loses tanh's relative
  accuracy near 0 (``2σ - 1`` cancels);
* *expm1*: factored, with ``t = -e / (2 + e)``, ``e = expm1(-2z)`` (``z`` clamped to
  ±20), an autograd function whose backward is tanh's: accurate to a few ulp.

This script trains each ``speed.py`` problem once and switches the form after every step
(the activation is looked up at every call), so two forms alternate step by step in one
process; the figure is the median step time of each form and the median of the ratios
of neighbouring steps (second form / first). ``--accuracy`` prints each value form's
largest error against float64 tanh.

Usage::

    python benchmarks/tanh_form.py                    # plain vs factored, 1000 steps each
    python benchmarks/tanh_form.py --forms factored sigmoid --problems poisson
    python benchmarks/tanh_form.py --accuracy
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

TANH_CHAIN = [1.0, 0.0, -1.0]  # d tanh / dz = 1 - tanh²


def plain_tanh(z: torch.Tensor, K: int) -> activations.Plain:
    """tanh and its derivatives as tensors (the form before the factored one)."""
    t = torch.tanh(z)
    if K >= 4:
        return activations.Plain(activations._poly_derivatives(t, K, TANH_CHAIN))
    out = [t]
    if K >= 1:
        s = 1 - t * t
        out.append(s)
    if K >= 2:
        out.append(-2 * t * s)
    if K >= 3:
        out.append(s * (6 * t * t - 2))
    return activations.Plain(out)


def sigmoid_value(z: torch.Tensor) -> torch.Tensor:
    return 2 * torch.sigmoid(2 * z) - 1


class _Expm1Tanh(torch.autograd.Function):
    """``tanh z = -e / (2 + e)`` with ``e = expm1(-2z)``; backward ``g (1 - t²)``."""

    @staticmethod
    def forward(z):
        e = torch.clamp(z, -20.0, 20.0).mul_(-2.0).expm1_()
        return e.div_(e + 2.0).neg_()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx, grad):
        (t,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, t)


VALUES = {"torch.tanh": torch.tanh, "sigmoid": sigmoid_value, "expm1": _Expm1Tanh.apply}


def factored_with(value):
    def form(z: torch.Tensor, K: int) -> activations.Factored:
        t = value(z)
        return activations._factored(t, 1 - t * t if K else None, K, TANH_CHAIN)
    return form


FORMS = {"plain": plain_tanh, "factored": activations._SMOOTH[nn.Tanh],
         "sigmoid": factored_with(sigmoid_value), "expm1": factored_with(_Expm1Tanh.apply)}


def alternate(problem: str, steps: int, first: str = "plain", second: str = "factored") -> dict:
    prob = make_problem(problem, make_points(problem, 2000, 100))
    calls = {first: 0, second: 0}

    def counted(name, fn):
        def form(z, K):
            calls[name] += 1
            return fn(z, K)
        return form

    forms = {first: counted(first, FORMS[first]), second: counted(second, FORMS[second])}
    order = [first, second]
    stamps: list[float] = []
    used: list[str] = []

    def switch(row) -> None:
        stamps.append(time.perf_counter())
        used.append(order[len(stamps) % 2])  # the form of the next step
        activations._SMOOTH[nn.Tanh] = forms[used[-1]]

    real = activations._SMOOTH[nn.Tanh]
    activations._SMOOTH[nn.Tanh] = forms[first]
    try:
        prob.solve(iterations=steps, lr=1e-3, progress=False, callback=switch)
    finally:
        activations._SMOOTH[nn.Tanh] = real
    assert calls[first] and calls[second], calls  # both forms trained
    times: dict[str, list[float]] = {name: [] for name in order}
    for k in range(20, len(stamps)):  # step k ran with the form chosen after step k - 1
        times[used[k - 1]].append(stamps[k] - stamps[k - 1])
    pairs = [b / a for a, b in zip(times[first], times[second])]
    return {"problem": problem, "first": first, "second": second,
            "first_ms": 1e3 * statistics.median(times[first]),
            "second_ms": 1e3 * statistics.median(times[second]),
            "ratio": statistics.median(pairs), "quartiles": statistics.quantiles(pairs, n=4)}


def accuracy() -> dict:
    """Largest absolute error, and relative error, of each value form in float32 against
    float64 tanh on 2,000,001 points of [-30, 30] (relative: also on |z| < 0.01)."""
    z64 = torch.linspace(-30.0, 30.0, 2_000_001, dtype=torch.float64)
    exact = torch.tanh(z64)
    small = z64.abs() < 1e-2
    out = {}
    with torch.no_grad():
        for name, value in VALUES.items():
            err = (value(z64.float()).double() - exact).abs()
            rel = err / exact.abs().clamp_min(1e-300)
            out[name] = {"max_abs": err.max().item(), "max_rel": rel.max().item(),
                         "max_rel_small": rel[small].max().item()}
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=PROBLEMS)
    ap.add_argument("--forms", nargs=2, default=["plain", "factored"], choices=list(FORMS),
                    metavar="FORM", help=f"two of {', '.join(FORMS)} (default plain factored)")
    ap.add_argument("--accuracy", action="store_true",
                    help="print the value forms' errors against float64 tanh and exit")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.accuracy:
        for name, e in accuracy().items():
            print(f"{name:10s} max abs error {e['max_abs']:.2e}  max relative {e['max_rel']:.2e}"
                  f"  (|z| < 0.01: {e['max_rel_small']:.2e})")
        return
    first, second = args.forms
    for problem in args.problems:
        r = alternate(problem, args.steps, first, second)
        q = r["quartiles"]
        print(f"{problem:8s} {first} {r['first_ms']:6.2f} ms  {second} {r['second_ms']:6.2f} ms"
              f"  {second} / {first} {r['ratio']:.3f} (quartiles {q[0]:.3f}-{q[2]:.3f})",
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
