"""What equations that share their points and a network cost: one jet call each.

Kovasznay flow (steady incompressible Navier–Stokes, Re = 20) with u, v and p from one
``MLP(2, 3, [50, 50, 50])`` under ``GridTraining``, which gives the three equations the
same interior grid. Each generated residual makes its own ``jet`` call, although the first
momentum equation's call already carries every channel the other two equations need. The
script times, interleaved in rounds, the forward and backward pass of (a) that equation's
residual alone, (b) all three equations, (c) the whole loss; (b) - (a) bounds what one
call per shared point set could save. A measurement for a change not built (see
docs/performance.md, "Left to do").

Usage::

    python benchmarks/shared_points.py            # grid spacing 0.03: 3234 interior points
    python benchmarks/shared_points.py --quick    # a smoke run, a few seconds
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import sympy as sp
import torch

from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
from symbolic_pinn.training import GridTraining


def kovasznay(re: int = 20) -> PDESystem:
    """The momentum and continuity equations on [-0.5, 1] x [-0.5, 1.5], u and v given by
    the exact solution on the four edges, p on the outflow edge."""
    x, y = sp.symbols("x y")
    u, v, p = (sp.Function(n) for n in "uvp")
    lam = sp.Rational(re, 2) - sp.sqrt(sp.Rational(re**2, 4) + 4 * sp.pi**2)
    exact = {u: 1 - sp.exp(lam * x) * sp.cos(2 * sp.pi * y),
             v: lam / (2 * sp.pi) * sp.exp(lam * x) * sp.sin(2 * sp.pi * y),
             p: (1 - sp.exp(2 * lam * x)) / 2}
    U, V, P, nu = u(x, y), v(x, y), p(x, y), sp.Rational(1, re)
    eqs = [U * U.diff(x) + V * U.diff(y) + P.diff(x) - nu * (U.diff(x, 2) + U.diff(y, 2)),
           U * V.diff(x) + V * V.diff(y) + P.diff(y) - nu * (V.diff(x, 2) + V.diff(y, 2)),
           U.diff(x) + V.diff(y)]
    bcs = [sp.Eq(f(*point), exact[f].subs(dict(zip((x, y), point))))
           for f in (u, v) for point in ((-0.5, y), (1, y), (x, -0.5), (x, 1.5))]
    bcs.append(sp.Eq(p(1, y), exact[p].subs(x, 1)))
    return PDESystem(eqs, bcs, {x: (-0.5, 1), y: (-0.5, 1.5)}, [x, y], [U, V, P])


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a smoke run (coarse grid, 1 round)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=20, help="evaluations per round and part")
    ap.add_argument("--out", help="write the results as JSON to this file")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    dx, rounds, repeats = (0.25, 1, 2) if args.quick else (0.03, args.rounds, args.repeats)
    torch.manual_seed(0)
    problem = discretize(kovasznay(), PhysicsInformedNN(MLP(2, 3, [50, 50, 50]),
                                                        GridTraining(dx)))
    points = {term: torch.tensor(value, dtype=torch.float32)
              for term, value in problem.strategy.sample(problem.ir, None).points.items()}
    shared = all(torch.equal(points["pde_0"], points[t]) for t in ("pde_1", "pde_2"))
    residuals, nets, params = problem.module.RESIDUALS, problem.nets, problem.params
    parts = {"pde_0": ["pde_0"], "equations": ["pde_0", "pde_1", "pde_2"],
             "loss": list(problem.term_names)}

    def ms(terms: list[str]) -> float:
        start = time.perf_counter()
        for _ in range(repeats):
            sum((residuals[t](nets, points[t], params) ** 2).mean() for t in terms).backward()
        return (time.perf_counter() - start) / repeats * 1e3

    for terms in parts.values():  # warm-up
        ms(terms)
    times: dict[str, list[float]] = {name: [] for name in parts}
    for _ in range(rounds):
        for name, terms in parts.items():
            times[name].append(ms(terms))
    out = {"quick": args.quick, "interior_points": len(points["pde_0"]),
           "equations_share_points": shared, "rounds": rounds, "repeats": repeats,
           **{f"{name}_ms": statistics.median(v) for name, v in times.items()}}
    print(json.dumps(out, indent=1))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=1)
    return out


if __name__ == "__main__":
    main()
