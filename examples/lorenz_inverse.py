"""Parameter estimation: recover the Lorenz system's σ, ρ, β from data.

``x' = σ(y - x)``, ``y' = x(ρ - z) - y``, ``z' = xy - βz`` on t ∈ [0, 1] with
``x(0) = 1, y(0) = 0, z(0) = 0``. The data are the solution for ``σ = 10, ρ = 28,
β = 8/3``, computed here by ``scipy.integrate.solve_ivp`` and sampled at a few times;
the PINN starts from the guesses ``σ = 9, ρ = 27, β = 3`` and estimates all three
(``PhysicsInformedNN(param_estim=True, additional_loss=...)``). This is NeuralPDE.jl's
v7 test: three networks 1-12-12-1 (sigmoid), ``GridTraining(0.02)``, 1,000 Adam steps
(lr 0.01) then 2,000 BFGS iterations; pass mark: every parameter within 10 %.

Here: the same networks and grid, float64, ``iterations`` Adam steps (lr 0.01) then
``lbfgs_iterations`` L-BFGS steps of up to 20 evaluations each. The data term is the
mean squared difference of the three networks from the data at ``data_points`` equally
spaced times.

Run ``python examples/lorenz_inverse.py``.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
import torch
from scipy.integrate import solve_ivp

from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
from symbolic_pinn.training import GridTraining

TRUE = {"sigma": 10.0, "rho": 28.0, "beta": 8.0 / 3.0}
GUESS = {"sigma": 9.0, "rho": 27.0, "beta": 3.0}


def lorenz_data(times: np.ndarray) -> np.ndarray:
    """``(len(times), 3)``: x, y, z of the true system at ``times`` (solve_ivp, RK45)."""
    s, r, b = TRUE["sigma"], TRUE["rho"], TRUE["beta"]

    def rhs(_, v):
        return [s * (v[1] - v[0]), v[0] * (r - v[2]) - v[1], v[0] * v[1] - b * v[2]]

    sol = solve_ivp(rhs, (0.0, 1.0), [1.0, 0.0, 0.0], t_eval=times, rtol=1e-10, atol=1e-12)
    return sol.y.T


def main(iterations: int = 1000, seed: int = 0, lbfgs_iterations: int = 100,
         data_points: int = 11) -> dict:
    """Estimate σ, ρ, β.

    Args:
        iterations: Adam steps (lr 0.01).
        seed: Seed of the initialisation.
        lbfgs_iterations: L-BFGS steps afterwards (up to 20 evaluations each).
        data_points: Number of data times in [0, 1].

    Returns:
        ``{"params": {name: estimate}, "relative_errors": {name: |estimate/true - 1|},
        "error": the largest relative error, "recovered": all within 10 %,
        "result": Result}``.
    """
    t = sp.Symbol("t")
    X, Y, Z = (sp.Function(n) for n in ("x", "y", "z"))
    sigma, rho, beta = sp.symbols("sigma rho beta")
    system = PDESystem(
        [sp.Eq(X(t).diff(t), sigma * (Y(t) - X(t))),
         sp.Eq(Y(t).diff(t), X(t) * (rho - Z(t)) - Y(t)),
         sp.Eq(Z(t).diff(t), X(t) * Y(t) - beta * Z(t))],
        [sp.Eq(X(0), 1), sp.Eq(Y(0), 0), sp.Eq(Z(0), 0)],
        domains={t: (0, 1)},
        indvars=[t],
        depvars=[X(t), Y(t), Z(t)],
        params={sigma: GUESS["sigma"], rho: GUESS["rho"], beta: GUESS["beta"]},
    )
    times = np.linspace(0, 1, data_points)
    data = torch.tensor(lorenz_data(times), dtype=torch.float64)
    t_data = torch.tensor(times, dtype=torch.float64).reshape(-1, 1)

    def data_loss(funcs, params):
        del params
        return sum(torch.mean((funcs[n](t_data).reshape(-1) - data[:, i]) ** 2)
                   for i, n in enumerate(("x", "y", "z")))

    nets = [MLP(1, 1, [12, 12], activation="sigmoid") for _ in range(3)]
    pinn = PhysicsInformedNN(nets, GridTraining(0.02), param_estim=True,
                             additional_loss=data_loss)
    problem = discretize(system, pinn)
    result = problem.solve(iterations, lr=0.01, seed=seed, dtype=torch.float64)
    if lbfgs_iterations:  # seed=None: continue from the Adam run
        result = problem.solve(lbfgs_iterations, optimizer="lbfgs", lr=1.0,
                               dtype=torch.float64)
    params = {k: float(v) for k, v in result.params.items()}
    rel = {k: abs(params[k] / TRUE[k] - 1) for k in TRUE}
    worst = max(rel.values())
    for k, true in TRUE.items():
        print(f"{k:5s}: estimated {params[k]:.4f}, true {true:.4f}, "
              f"relative error {rel[k]:.2e}")
    print(f"within 10 %: {worst <= 0.1}; final loss {result.history[-1]['loss']:.3e}")
    return {"params": params, "relative_errors": rel, "error": worst,
            "recovered": worst <= 0.1, "result": result}


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
