"""What sharing the per-point residual's evaluations saves in the exact NTK diagonal by vmap.

``ntk_diagonal`` (``method="exact-vmap"``, the NTK path for any ``nn.Module``) takes
``torch.func.vmap(grad)`` of the generated per-point residuals. Since the nineteenth
session those evaluate the derivatives of one value that the residual reads in one call,
with the value where it is read too (``(u_t, u_x), u = grad_and_value(f_u, argnums=(1,
0))(x, t)``; ``symbolic_pinn.point_calls``); before, each value by its own function
(``u = f_u(x, t)``, ``u_t = f_u_t(x, t)``, ...). This script builds each problem of
``speed.py`` twice in one process, with the shared evaluations and with the code
generator's ``point_evaluations`` swapped for one that evaluates every value apart,
checks that the diagonals agree (float32 rounding), and times ``ntk_diagonal`` over all
terms at ``speed.py``'s points (chunks of 64) interleaved: the median over rounds of the
per-round ratio shared / apart, with its min-max. Poisson's and the wave's residuals read
no two derivatives of one value (u_xx and u_yy come from u_x and u_y), so their code does
not change: they are the control.

Usage::

    python benchmarks/point_calls.py --out point_calls.json   # (~3 min)
    python benchmarks/point_calls.py --rounds 1 --problems burgers   # a smoke run

Measured (torch 2.13.0+cpu, 1 thread, 2-core machine): docs/performance.md, "Exact NTK
diagonal over all N training points".
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from derivative_calls import write_results
from speed import make_points, make_problem

from symbolic_pinn import codegen, loading
from symbolic_pinn.adaptive.kernel import ntk_diagonal


def one_by_one(term, used):
    """Every read value by its own function, every derivative's function defined (the
    generator's per-point code before the nineteenth session)."""
    fns = {s.name: s.fn for s in term.sites} | {n.name: n.fn for n in term.derivatives}
    args = {s.name: ", ".join(s.args) for s in term.sites}
    args |= {n.name: args[n.site] for n in term.derivatives}
    evaluations = [{"target": name, "call": fns[name], "args": args[name]}
                   for name in [s.name for s in term.sites] + [n.name for n in term.derivatives]
                   if name in used]
    return evaluations, [n.name for n in term.derivatives]


def build(problem: str, points, shared: bool):
    real = codegen.point_evaluations
    if not shared:
        codegen.point_evaluations = one_by_one
    try:
        loading._LOADED.clear()
        torch.manual_seed(0)
        prob = make_problem(problem, points)
    finally:
        codegen.point_evaluations = real
    return prob


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--problems", nargs="+", default=["poisson", "wave", "burgers"],
                    choices=["poisson", "wave", "burgers", "allen_cahn"])
    ap.add_argument("--out", help="write the results here as JSON")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    results = []
    for problem in args.problems:
        points = make_points(problem, 2000, 100)
        probs = [build(problem, points, shared) for shared in (False, True)]
        changed = probs[0].source != probs[1].source
        tensors = {k: torch.tensor(v) for k, v in points.items()}

        def diagonals(prob, tensors=tensors):
            return {t: ntk_diagonal(prob.module.POINT_RESIDUALS[t], prob.nets, prob.params,
                                    tensors[t]) for t in prob.term_names}

        apart, shared = (diagonals(p) for p in probs)
        diff = max(float(((apart[t] - shared[t]).abs() / apart[t].abs().clamp_min(1e-30)).max())
                   for t in apart)
        assert diff < 1e-4, diff
        times: list[list[float]] = [[], []]
        for r in range(args.rounds):
            for i in ((0, 1) if r % 2 == 0 else (1, 0)):
                start = time.perf_counter()
                diagonals(probs[i])
                times[i].append(time.perf_counter() - start)
        ratios = [b / a for a, b in zip(*times)]
        row = {"problem": problem, "code_changed": changed, "apart_s": statistics.median(times[0]),
               "shared_s": statistics.median(times[1]), "ratio": statistics.median(ratios),
               "ratio_min": min(ratios), "ratio_max": max(ratios), "rounds": args.rounds,
               "max_rel_diff": diff}
        results.append(row)
        print(f"{problem:9s} code {'changed' if changed else 'the same'}: apart "
              f"{row['apart_s']:.3f} s  shared {row['shared_s']:.3f} s  shared / apart "
              f"{row['ratio']:.3f} ({min(ratios):.3f}-{max(ratios):.3f})  max rel diff "
              f"{diff:.1e}", flush=True)
    if args.out:
        write_results(args.out, results)
    return results


if __name__ == "__main__":
    main()
