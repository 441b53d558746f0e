"""NeuralPDE.jl's introductory example: 2D Poisson with zero boundary values.

``u_xx + u_yy = -sin(πx) sin(πy)`` on [0, 1]², ``u = 0`` on the boundary; exact
solution ``sin(πx) sin(πy) / (2π²)``. The system comes from the built-in gallery
(``symbolic_pinn.gallery``); the generated module is written next to this file's
output so you can read it.

Run ``python examples/poisson2d.py``.
"""

from __future__ import annotations

import numpy as np

from symbolic_pinn import MLP, PhysicsInformedNN, discretize, gallery
from symbolic_pinn.training import GridTraining


def main(iterations: int = 100, seed: int = 0, write_code: str | None = None) -> dict:
    """Train and return ``{"error": relative L2 error, "result": Result, "problem": ...}``.

    Args:
        iterations: L-BFGS steps (each up to 20 evaluations), as NeuralPDE uses BFGS.
        seed: Seed of the network initialisation.
        write_code: Where to write the generated module (default: not written).
    """
    system, exact, description = gallery.get("poisson2d")
    print(description)
    pinn = PhysicsInformedNN(MLP(2, 1, [16, 16]), GridTraining(0.1))
    problem = discretize(system, pinn)
    if write_code is not None:
        problem.write(write_code)
    result = problem.solve(iterations, optimizer="lbfgs", lr=1.0, seed=seed)

    xs, ys = np.meshgrid(np.linspace(0, 1, 51), np.linspace(0, 1, 51))
    error = result.relative_error({"x": xs, "y": ys}, exact(xs, ys))
    print(f"relative L2 error: {error:.3e}")
    return {"error": error, "result": result, "problem": problem}


if __name__ == "__main__":
    main()
