"""The LRA paper's nonlinear Klein-Gordon equation: plain PINN against learning-rate annealing.

``u_tt - u_xx + u³ = f`` on (x, t) ∈ [0, 1]² (the paper's ``u_tt + α u_xx + β u + γ u^k``
with ``α = -1, β = 0, γ = 1, k = 3``), with the manufactured exact solution
``u = x cos(5πt) + (xt)³``: ``f`` is computed from it in SymPy, and the conditions are its
values: ``u(0, t) = 0``, ``u(1, t) = cos(5πt) + t³``, ``u(x, 0) = x``, ``u_t(x, 0) = 0``
(Wang, Teng & Perdikaris, SIAM J. Sci. Comput. 2021, §3, eqs. 3.1-3.6; the conditions are
those of the authors' code). Table 5 of the paper: plain PINN 1.79e-1, learning-rate
annealing 1.06e-2 (5 hidden layers of 50, 40,000 Adam steps).

As in the authors' code: tanh network, standardized inputs, 128 fresh uniform points per
term and step, Adam with ``lr = 1e-3·0.9^(step/1000)``, and the code's variant of the
annealing (see ``examples/helmholtz2d.py``); the code has one weight for both walls and
one for both initial conditions, here each condition has its own. The defaults are
CPU-sized: 3 hidden layers of 50 and 3,000 steps (``hidden=(50,) * 5,
iterations=40000`` is the paper's).

Run ``python examples/klein_gordon.py``.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
import torch

from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
from symbolic_pinn.adaptive import GradientScaleAdaptiveLoss
from symbolic_pinn.training import StochasticTraining


def klein_gordon_system() -> tuple[PDESystem, sp.Expr]:
    """The system and the SymPy exact solution."""
    x, t = sp.symbols("x t")
    u = sp.Function("u")
    exact = x * sp.cos(5 * sp.pi * t) + (x * t) ** 3
    forcing = exact.diff(t, 2) - exact.diff(x, 2) + exact**3
    system = PDESystem(
        [sp.Eq(u(x, t).diff(t, 2) - u(x, t).diff(x, 2) + u(x, t) ** 3, forcing)],
        [
            sp.Eq(u(0, t), exact.subs(x, 0)),
            sp.Eq(u(1, t), exact.subs(x, 1)),
            sp.Eq(u(x, 0), exact.subs(t, 0)),
            sp.Eq(u(x, t).diff(t).subs(t, 0), exact.diff(t).subs(t, 0)),
        ],
        domains={x: (0, 1), t: (0, 1)},
        indvars=[x, t],
        depvars=[u(x, t)],
    )
    return system, exact


def _train(adaptive, iterations, seed, hidden, points):
    system, exact = klein_gordon_system()
    x, t = system.indvars
    pinn = PhysicsInformedNN(MLP(2, 1, list(hidden)), StochasticTraining(points),
                             adaptive_loss=adaptive, input_scaling="standardize")
    problem = discretize(system, pinn)
    result = problem.solve(iterations, lr=1e-3, seed=seed,
                           lr_schedule=lambda step: 0.9 ** (step / 1000))
    xs, ts = np.meshgrid(np.linspace(0, 1, 100), np.linspace(0, 1, 100))
    ref = sp.lambdify((x, t), exact, "numpy")(xs, ts)
    return result.relative_error({x: xs, t: ts}, ref), result


def main(iterations: int = 3000, seed: int = 0, hidden: tuple[int, ...] = (50, 50, 50),
         points: int = 128) -> dict:
    """Train plain and LRA-weighted PINNs with the same seed and configuration.

    Args:
        iterations: Adam steps of each run (paper: 40,000).
        seed: Seed of the initialisation and of the sampling (both runs).
        hidden: Hidden layer widths (paper: five of 50).
        points: Points per term and step (paper: 128).

    Returns:
        ``{"error_plain", "error_lra"`` (relative L2 errors on a 100×100 grid),
        ``"error"`` (= ``error_lra``), ``"lra_weights"``, ``"result_plain",
        "result_lra"``}``.
    """
    error_plain, result_plain = _train(None, iterations, seed, hidden, points)
    lra = GradientScaleAdaptiveLoss(10, 0.9, lambda_in_denominator=True,
                                    parameters="weights", mean_over="tensors")
    error_lra, result_lra = _train(lra, iterations, seed, hidden, points)
    print(f"relative L2 error, plain PINN:              {error_plain:.3e}")
    print(f"relative L2 error, learning-rate annealing: {error_lra:.3e}")
    print("LRA weights:", {k: round(v, 2) for k, v in result_lra.weights.items()})
    return {"error_plain": error_plain, "error_lra": error_lra, "error": error_lra,
            "lra_weights": dict(result_lra.weights),
            "result_plain": result_plain, "result_lra": result_lra}


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
