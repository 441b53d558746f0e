"""How the exact NTK diagonal's cost grows with the points and the width, in training steps.

``speed.py``'s NTK section measures the diagonal over every training point at one size
(2,000 interior points, width 64). This script measures it from 1k to 64k interior
points (width 64) and from width 64 to 512 (2,000 interior points), the sizes of
``speed.py``'s scaling section, each against one training step on the same points:
``taylor`` (all terms in one ``terms_ntk_diagonals`` call, ``method="taylor"``: what the
NTK strategy computes for an ``MLP``) and ``vmap_auto`` (``ntk_diagonal``,
``torch.func.vmap(grad)`` with the library's default chunks: the path for any module),
and ``taylor_whole``, the forward-propagated diagonal with all points in one part (as
before ``symbolic_pinn.ntk_units.parts`` split them).
``speed.compare_ntk`` does the measuring: interleaved rounds, each method's time in a
round the median of a few calls, the two methods' diagonals checked against each other
before anything is timed.

Usage::

    python benchmarks/ntk_scaling.py --out ntk_scaling.json           # (~15 min)
    python benchmarks/ntk_scaling.py --quick                          # smoke run (~20 s)
    python benchmarks/ntk_scaling.py --points 64000 --widths          # one size

Measured (torch 2.13.0+cpu, 1 thread, 2-core machine): docs/performance.md, "Exact NTK
diagonal over all N training points".
"""

from __future__ import annotations

import argparse

import torch
from derivative_calls import write_results
from speed import compare_ntk


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a tiny run (smoke test)")
    ap.add_argument("--problems", nargs="+", default=["poisson"],
                    choices=["poisson", "wave", "burgers"])
    ap.add_argument("--points", type=int, nargs="*", default=[1000, 4000, 16000, 64000],
                    help="interior points (width 64; each boundary set a twentieth)")
    ap.add_argument("--widths", type=int, nargs="*", default=[64, 128, 256, 512],
                    help="widths of the two hidden layers (2,000 interior points)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", help="write the results here as JSON")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.quick:
        args.points, args.widths, args.rounds = [200], [16], 1
    sizes = [(n, 64) for n in args.points] + [(200 if args.quick else 2000, w)
                                               for w in args.widths]
    results = []
    for problem in args.problems:
        for n, width in sizes:
            steps = 4 if args.quick else max(5, min(40, 80000 // n, 40 * 64 // width))
            r = compare_ntk(problem, n, max(5, n // 20), width, args.rounds, 0, steps,
                            only=("vmap_auto", "taylor", "taylor_whole"))
            results.append(r)
            print(f"{problem:8s} N={r['n_points']:6d} width={width:4d} step "
                  f"{r['step_ms']:8.2f} ms  taylor/step {r['taylor_over_step']['median']:.2f}"
                  + f"  vmap_auto/step {r['vmap_auto_over_step']['median']:.1f}  vmap_auto/"
                  f"taylor {r['vmap_auto_over_taylor']['median']:.1f}  taylor in parts / whole "
                  f"{r['taylor_over_taylor_whole']['median']:.2f}"
                  + f"  (check {max(r['max_rel_diff'].values()):.1e})", flush=True)
            write_results(args.out, results)
    return results


if __name__ == "__main__":
    main()
