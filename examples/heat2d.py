"""A sanity problem: the 2D heat equation with a separable exact solution.

``u_t = κ (u_xx + u_yy)`` on (x, y) ∈ [0, 1]², t ∈ [0, 1], ``κ = 0.1``,
``u(x, y, 0) = sin(πx) sin(πy)``, ``u = 0`` on the four walls; exact
``u = exp(-2κπ²t) sin(πx) sin(πy)``. Three independent variables, a first-order time
derivative and five conditions: a quick check that the whole pipeline works in 3D.

Run ``python examples/heat2d.py``.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
import torch

from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
from symbolic_pinn.training import QuasiRandomTraining

KAPPA = 0.1


def heat2d_system() -> PDESystem:
    """The 2D heat system (SymPy)."""
    x, y, t = sp.symbols("x y t")
    u = sp.Function("u")
    U = u(x, y, t)
    return PDESystem(
        [sp.Eq(U.diff(t), KAPPA * (U.diff(x, 2) + U.diff(y, 2)))],
        [
            sp.Eq(u(x, y, 0), sp.sin(sp.pi * x) * sp.sin(sp.pi * y)),
            sp.Eq(u(0, y, t), 0), sp.Eq(u(1, y, t), 0),
            sp.Eq(u(x, 0, t), 0), sp.Eq(u(x, 1, t), 0),
        ],
        domains={x: (0, 1), y: (0, 1), t: (0, 1)},
        indvars=[x, y, t],
        depvars=[U],
    )


def exact_solution(x, y, t):
    return np.exp(-2 * KAPPA * np.pi**2 * t) * np.sin(np.pi * x) * np.sin(np.pi * y)


def main(iterations: int = 2000, seed: int = 0, hidden: tuple[int, ...] = (32, 32)) -> dict:
    """Train and return ``{"error": relative L2 error, "result": Result, "problem": ...}``.

    Args:
        iterations: Adam steps (lr 3e-3).
        seed: Seed of the initialisation and of the sampling.
        hidden: Hidden layer widths.
    """
    system = heat2d_system()
    x, y, t = system.indvars
    pinn = PhysicsInformedNN(MLP(3, 1, list(hidden)), QuasiRandomTraining(512, 128))
    problem = discretize(system, pinn)
    result = problem.solve(iterations, lr=3e-3, seed=seed,
                           lr_schedule=lambda step: 0.9 ** (step / 500))
    g = np.linspace(0, 1, 21)
    xs, ys, ts = np.meshgrid(g, g, g, indexing="ij")
    error = result.relative_error({x: xs, y: ys, t: ts}, exact_solution(xs, ys, ts))
    print(f"relative L2 error: {error:.3e}")
    return {"error": error, "result": result, "problem": problem}


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
