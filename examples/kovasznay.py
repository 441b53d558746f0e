"""Kovasznay flow: steady incompressible Navier–Stokes in velocity and pressure.

Kovasznay (Proc. Camb. Phil. Soc. 1948) gave an exact solution of the steady
Navier–Stokes equations behind a grid, here at Re = 20 on [-0.5, 1] × [-0.5, 1.5]:

    u = 1 - exp(λx) cos(2πy),   v = λ/(2π) exp(λx) sin(2πy),   p = (1 - exp(2λx)) / 2,
    λ = Re/2 - sqrt(Re²/4 + 4π²).

The system: the two momentum equations ``u u_x + v u_y + p_x - (u_xx + u_yy)/Re = 0``
(and the same for v with p_y) and continuity ``u_x + v_y = 0``; u and v given by the
exact solution on the four edges, p on the outflow edge x = 1. u, v and p come from one
``MLP(2, 3, [50, 50, 50])`` (tanh).

Under ``GridTraining`` the three equations have the same interior points, and the
conditions on one edge the same points, so the generated module evaluates the equations
with one ``jet`` call (``shared_residuals_0``), and the conditions of all four edges with
another (``stacked_residuals_0``; README, "What is generated"). The defaults, Adam (lr
1e-3, 2,000 steps) then L-BFGS (200 steps of up to 20 evaluations), on a grid of spacing
0.05 (1,131 interior points), gave relative L2 errors of 4.8e-4 (u), 2.0e-3 (v) and
1.0e-3 (p) on a 101 × 101 grid, seed 0, in about two minutes of one CPU core
(2026-11-30; with one call per edge, before the edges were stacked, 4.7e-4, 2.1e-3 and
1.3e-3: the same sums in another float32 order).

Run ``python examples/kovasznay.py``.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
import torch

from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
from symbolic_pinn.training import GridTraining

DOMAIN = {"x": (-0.5, 1.0), "y": (-0.5, 1.5)}


def kovasznay_system(re: int = 20) -> PDESystem:
    """The momentum and continuity equations at Reynolds number ``re``, u and v given by
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
    (x0, x1), (y0, y1) = DOMAIN["x"], DOMAIN["y"]
    bcs = [sp.Eq(f(*point), exact[f].subs(dict(zip((x, y), point))))
           for f in (u, v) for point in ((x0, y), (x1, y), (x, y0), (x, y1))]
    bcs.append(sp.Eq(p(x1, y), exact[p].subs(x, x1)))
    return PDESystem(eqs, bcs, {x: DOMAIN["x"], y: DOMAIN["y"]}, [x, y], [U, V, P])


def exact_solution(xs: np.ndarray, ys: np.ndarray, re: int = 20) -> dict[str, np.ndarray]:
    """u, v and p at the points ``(xs, ys)``."""
    lam = re / 2 - np.sqrt(re**2 / 4 + 4 * np.pi**2)
    return {"u": 1 - np.exp(lam * xs) * np.cos(2 * np.pi * ys),
            "v": lam / (2 * np.pi) * np.exp(lam * xs) * np.sin(2 * np.pi * ys),
            "p": (1 - np.exp(2 * lam * xs)) / 2}


def main(iterations: int = 2000, lbfgs_iterations: int = 200, dx: float = 0.05,
         seed: int = 0) -> dict:
    """Train, then compare u, v and p with the exact solution.

    Args:
        iterations: Adam steps (lr 1e-3).
        lbfgs_iterations: L-BFGS steps afterwards (lr 1, up to 20 evaluations each).
        dx: Grid spacing.
        seed: Seed of the network's initialisation.

    Returns:
        ``{"errors": {"u", "v", "p"}`` (relative L2 errors on a 101 × 101 grid),
        ``"error"`` (the largest of them), ``"result"``, ``"problem"``}.
    """
    problem = discretize(kovasznay_system(),
                         PhysicsInformedNN(MLP(2, 3, [50, 50, 50]), GridTraining(dx)))
    result = problem.solve(iterations, lr=1e-3, seed=seed)
    if lbfgs_iterations:  # seed=None: go on from the Adam run's network
        result = problem.solve(lbfgs_iterations, optimizer="lbfgs", lr=1.0,
                               optimizer_options={"max_iter": 20})
    xs, ys = np.meshgrid(np.linspace(*DOMAIN["x"], 101), np.linspace(*DOMAIN["y"], 101))
    x, y = problem.system.indvars
    predicted, exact = result.predict({x: xs, y: ys}), exact_solution(xs, ys)
    errors = {k: float(np.linalg.norm(predicted[k] - exact[k]) / np.linalg.norm(exact[k]))
              for k in "uvp"}
    print("groups of terms that share their jet calls:", problem.module.SHARED)
    for k, e in errors.items():
        print(f"relative L2 error of {k}: {e:.3e}")
    return {"errors": errors, "error": max(errors.values()), "result": result,
            "problem": problem}


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
