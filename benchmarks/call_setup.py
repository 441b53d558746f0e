"""Per-call set-up of the generated residuals' ``jet`` calls, cached or not, step against step.

Each ``jet`` call used to rebuild three things that do not depend on the points: the
constant ``(1, k)`` seed rows of the first-order channels (a zero tensor and one indexed
add per seed), the polynomials in ``t = tanh(z)`` behind tanh's derivative ratios (at
every tanh layer), and the normalised orders it looks its channel plan up by. The library
now works each out once (``jets._Plan.seeds`` keeps the rows' numbers and makes each row's
tensor in one call, ``activations._ratio_polynomials``, the plan cache keyed by the orders
as given) and forms ``1 - t²`` with ``torch.rsub`` (the operator goes through a Python
wrapper). The values are the same to the bit.

This script trains each ``speed.py`` problem once and switches between the library's
cached path and the uncached one (the previous code, patched in) after every step, so the
two alternate step by step in one process; the figure is the median of the ratios of
neighbouring steps (cached / uncached), at ``--points`` interior points (boundary sets of
a twentieth of that, at least 5). Before training, it checks that both paths give the
same residuals, to the bit (``same_residuals``).

Usage::

    python benchmarks/call_setup.py                      # 2000 points, 1000 steps
    python benchmarks/call_setup.py --points 100 --problems burgers
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch
from speed import PROBLEMS, make_points, make_problem
from torch import nn

from symbolic_pinn import activations, jets
from symbolic_pinn.channels import is_combination

CACHED = {"tanh": activations._SMOOTH[nn.Tanh], "ratios": activations._ratio_polynomials,
          "hashable": jets._hashable, "seeds": jets._Plan.seeds}


def _uncached_tanh(z: torch.Tensor, K: int) -> activations.Factored:
    t = torch.tanh(z)
    return activations._factored(t, 1 - t * t if K else None, K, (1.0, 0.0, -1.0))


def _uncached_seeds(plan, inputs: torch.Tensor, factors) -> list:
    """The previous code: a zero row and one indexed add per first-order member, at
    every call."""
    n_in = inputs.shape[1]
    out: list = [inputs]
    for channel in plan.channels[1:]:
        terms = channel if is_combination(channel) else ((1.0, channel),)
        seed = None
        for coef, alpha in terms:
            if sum(alpha) == 1:
                if seed is None:
                    seed = torch.zeros(1, n_in, dtype=inputs.dtype, device=inputs.device)
                slot = alpha.index(1)
                seed[0, slot] += coef * factors[slot]
        out.append(seed)
    return out


UNCACHED = {"tanh": _uncached_tanh, "ratios": activations._ratio_polynomials.__wrapped__,
            "hashable": lambda orders: False, "seeds": _uncached_seeds}


def use(path: dict) -> None:
    activations._SMOOTH[nn.Tanh] = path["tanh"]
    activations._ratio_polynomials = path["ratios"]
    jets._hashable = path["hashable"]  # unhashable: the orders normalised at every call
    jets._Plan.seeds = path["seeds"]


def alternate(problem: str, steps: int, points: int) -> dict:
    prob = make_problem(problem, make_points(problem, points, max(5, points // 20)))
    paths = {"uncached": UNCACHED, "cached": CACHED}
    pts = {term: torch.tensor(v) for term, v in prob.strategy.sample(None, None).points.items()}
    values = []
    for path in (UNCACHED, CACHED, CACHED):  # the cached path: its rows made, then reused
        use(path)
        values.append(prob.module.all_residuals(prob.nets, pts, prob.params))
    same = all(torch.equal(values[0][term], other[term])
               for other in values[1:] for term in values[0])
    order = ["uncached", "cached"]
    stamps: list[float] = []
    used: list[str] = []

    def switch(row) -> None:
        stamps.append(time.perf_counter())
        used.append(order[len(stamps) % 2])  # the path of the next step
        use(paths[used[-1]])

    use(UNCACHED)
    try:
        result = prob.solve(iterations=steps, lr=1e-3, progress=False, callback=switch)
    finally:
        use(CACHED)
    times: dict[str, list[float]] = {name: [] for name in order}
    for k in range(20, len(stamps)):  # step k ran with the path chosen after step k - 1
        times[used[k - 1]].append(stamps[k] - stamps[k - 1])
    pairs = [b / a for a, b in zip(times["uncached"], times["cached"])]
    q = statistics.quantiles(pairs, n=4)
    return {"problem": problem, "points": points, "steps": steps,
            "uncached_ms": 1e3 * statistics.median(times["uncached"]),
            "cached_ms": 1e3 * statistics.median(times["cached"]),
            "ratio": statistics.median(pairs), "quartiles": [q[0], q[2]],
            "same_residuals": same, "last_loss": result.history[-1]["loss"]}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--points", type=int, default=2000)
    ap.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=PROBLEMS)
    ap.add_argument("--quick", action="store_true", help="a smoke test: 60 steps, 100 points")
    ap.add_argument("--out", help="write the results as JSON to this file")
    args = ap.parse_args(argv)
    if args.quick:
        args.steps, args.points = 60, 100
    torch.set_num_threads(1)
    results = []
    for problem in args.problems:
        r = alternate(problem, args.steps, args.points)
        results.append(r)
        print(f"{problem:8s} {r['points']} points: uncached {r['uncached_ms']:6.2f} ms  cached "
              f"{r['cached_ms']:6.2f} ms  cached / uncached {r['ratio']:.3f} (quartiles "
              f"{r['quartiles'][0]:.3f}-{r['quartiles'][1]:.3f}); residuals "
              f"{'equal to the bit' if r['same_residuals'] else 'DIFFERENT'}", flush=True)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump({"quick": args.quick, "torch": torch.__version__, "results": results},
                      f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
