"""Points per ``vmap`` chunk in the exact NTK diagonal (``method="exact-vmap"``).

``ntk_diagonal`` runs ``torch.func.vmap(grad)`` over the generated per-point residuals in
chunks. Each chunk has a fixed cost (tracing the residual through ``vmap`` and ``grad``,
Python), and its per-point gradients take ``chunk × n_parameters`` entries of memory.
This script times the diagonals of every term of ``speed.py``'s problems (2,000 interior
points, 100 per condition) for several chunk sizes and for ``chunk_size="auto"`` (the
library's default, ``symbolic_pinn.adaptive.kernel.auto_chunk_size``), beside the
forward-propagated diagonal of the same terms (``method="taylor"``, all terms in one
call) as the unit. Interleaved rounds, the order rotating per round; each method's time
in a round is the median of 3 calls. The values are checked to be the same to the bit
for every chunk size before anything is timed.

Usage::

    python benchmarks/ntk_chunks.py --out ntk_chunks.json            # (~6 min)
    python benchmarks/ntk_chunks.py --widths 64 --problems burgers --rounds 1  # smoke run

Measured (torch 2.13.0+cpu, 1 thread, 2-core machine): docs/performance.md, "Exact NTK
diagonal over all N training points".
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from derivative_calls import write_results
from speed import _fast_ntk, make_points, make_problem

from symbolic_pinn.adaptive.kernel import auto_chunk_size, ntk_diagonal


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--widths", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--problems", nargs="+", default=["poisson", "wave", "burgers"],
                    choices=["poisson", "wave", "burgers"])
    ap.add_argument("--chunks", type=int, nargs="+", default=[16, 64, 256, 1024])
    ap.add_argument("--out", help="write the results here as JSON")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    _, terms_ntk = _fast_ntk()
    results = []
    for width in args.widths:
        for problem in args.problems:
            torch.manual_seed(0)
            points = make_points(problem, 2000, 100)
            prob = make_problem(problem, points, width=width)
            tensors = {k: torch.tensor(v) for k, v in points.items()}
            n_theta = sum(p.numel() for p in prob.nets[0].parameters() if p.requires_grad)

            def diagonals(chunk, prob=prob, tensors=tensors):
                return {t: ntk_diagonal(prob.module.POINT_RESIDUALS[t], prob.nets,
                                        prob.params, tensors[t], chunk_size=chunk)
                        for t in prob.term_names}

            methods = {str(c): (lambda c=c: diagonals(c)) for c in args.chunks}
            methods["auto"] = lambda: diagonals("auto")
            methods["taylor"] = lambda prob=prob, tensors=tensors: terms_ntk(
                prob, tensors, method="taylor")
            ref = diagonals(64)
            for name, fn in methods.items():
                if name != "taylor":  # (also the warm-up)
                    out = fn()
                    assert all(torch.equal(out[t], ref[t]) for t in ref), name
            methods["taylor"]()
            names, times = list(methods), {name: [] for name in methods}
            for r in range(args.rounds):
                for name in names[r % len(names):] + names[:r % len(names)]:
                    calls = []
                    for _ in range(3):
                        start = time.perf_counter()
                        methods[name]()
                        calls.append(time.perf_counter() - start)
                    times[name].append(statistics.median(calls))
            row = {"problem": problem, "width": width, "n_parameters": n_theta,
                   "auto_chunk": auto_chunk_size(n_theta), "rounds": args.rounds,
                   "taylor_ms": statistics.median(times["taylor"]) * 1e3}
            for name in names[:-1]:  # per round, in taylor calls; and against chunks of 64
                row[f"{name}_over_taylor"] = statistics.median(
                    [a / b for a, b in zip(times[name], times["taylor"])])
                ratios = [a / b for a, b in zip(times[name], times["64"])]
                row[f"{name}_over_64"] = {"median": statistics.median(ratios),
                                          "min": min(ratios), "max": max(ratios)}
            results.append(row)
            print(f"{problem:8s} width {width:3d} ({n_theta} parameters, auto chunk "
                  f"{row['auto_chunk']}): in taylor calls "
                  + "  ".join(f"{n} {row[f'{n}_over_taylor']:.1f}" for n in names[:-1])
                  + "; auto / 64 {:.2f}".format(row["auto_over_64"]["median"]), flush=True)
    if args.out:
        write_results(args.out, results)
    return results


if __name__ == "__main__":
    main()
