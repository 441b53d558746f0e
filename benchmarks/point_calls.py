"""What sharing the per-point residual's evaluations saves in the exact NTK diagonal by vmap.

``ntk_diagonal`` (``method="exact-vmap"``, the NTK path for any ``nn.Module``) takes
``torch.func.vmap(grad)`` of the generated per-point residuals. Three layouts of them
(``symbolic_pinn.point_calls``):

* ``apart``: each read value by its own function (``u = f_u(x, t)``, ``u_t = f_u_t(x,
  t)``, ...), the generator's code before the nineteenth session;
* ``shared``: the derivatives of one value in one call, with the value where it is read
  too (``(u_t, u_x), u = grad_and_value(f_u, argnums=(1, 0))(x, t)``), the nineteenth
  session's (``point_evaluations(nested=False)``);
* ``nested`` (the default since the twentieth session): a site's second derivatives in
  one call with its value and first derivatives (Burgers: ``u_xx, (u_x, (u_t, u)) =
  grad_and_value(f_u_grad, argnums=0, has_aux=True)(x, t)``; the wave: ``(u_tt, _), (_,
  u_xx) = jacrev(f_u_grad, argnums=(1, 0))(x, t)``).

This script builds each problem of ``speed.py`` once per layout in one process, checks
that the diagonals agree (float32 rounding), and times ``ntk_diagonal`` over all terms at
``speed.py``'s points (chunks of 64) in interleaved rounds (the order of the layouts
rotates from round to round): per pair of layouts the median over rounds of the
per-round ratio, with its min-max. Where two layouts generate the same code (Poisson's
and the wave's ``shared`` is their ``apart``: they read no two values of one call), the
ratio shows the noise.

Usage::

    python benchmarks/point_calls.py --out point_calls.json   # (~5 min)
    python benchmarks/point_calls.py --rounds 1 --problems burgers   # a smoke run

Measured (torch 2.13.0+cpu, 1 thread, 2-core machine): docs/performance.md, "Exact NTK
diagonal over all N training points".
"""

from __future__ import annotations

import argparse
import functools
import itertools
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


LAYOUTS = {
    "apart": one_by_one,
    "shared": functools.partial(codegen.point_evaluations, nested=False),
    "nested": codegen.point_evaluations,
}


def build(problem: str, points, layout: str):
    real = codegen.point_evaluations
    codegen.point_evaluations = LAYOUTS[layout]
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
    names = list(LAYOUTS)
    for problem in args.problems:
        points = make_points(problem, 2000, 100)
        probs = {name: build(problem, points, name) for name in names}
        tensors = {k: torch.tensor(v) for k, v in points.items()}

        def diagonals(prob, tensors=tensors):
            return {t: ntk_diagonal(prob.module.POINT_RESIDUALS[t], prob.nets, prob.params,
                                    tensors[t], chunk_size=64) for t in prob.term_names}

        diags = {name: diagonals(p) for name, p in probs.items()}
        ref = diags["apart"]
        diff = max(float(((d[t] - ref[t]).abs() / ref[t].abs().clamp_min(1e-30)).max())
                   for d in diags.values() for t in ref)
        assert diff < 1e-4, diff
        times: dict[str, list[float]] = {name: [] for name in names}
        for r in range(args.rounds):
            for name in names[r % 3:] + names[:r % 3]:
                start = time.perf_counter()
                diagonals(probs[name])
                times[name].append(time.perf_counter() - start)
        row = {"problem": problem, "rounds": args.rounds, "max_rel_diff": diff,
               "same_code": [[a, b] for a, b in itertools.combinations(names, 2)
                             if probs[a].source == probs[b].source]}
        for name in names:
            row[f"{name}_s"] = statistics.median(times[name])
        line = f"{problem:10s}"
        for a, b in (("shared", "apart"), ("nested", "shared"), ("nested", "apart")):
            ratios = [y / x for x, y in zip(times[b], times[a])]
            row[f"{a}_over_{b}"] = {"median": statistics.median(ratios),
                                    "min": min(ratios), "max": max(ratios)}
            same = " (same code)" if [b, a] in row["same_code"] else ""
            line += (f"  {a}/{b} {statistics.median(ratios):.3f} ({min(ratios):.3f}-"
                     f"{max(ratios):.3f}){same}")
        results.append(row)
        print(f"{line}  max rel diff {diff:.1e}", flush=True)
    if args.out:
        write_results(args.out, results)
    return results


if __name__ == "__main__":
    main()
