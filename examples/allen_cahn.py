"""The Allen-Cahn equation with periodic conditions: plain PINN against causal weights.

``u_t - 1e-4 u_xx + 5u³ - 5u = 0`` on x ∈ [-1, 1], t ∈ [0, 1], ``u(x, 0) = x² cos(πx)``,
periodic in x (``u`` and ``u_x`` equal at x = ±1): the hard benchmark of SA-PINN
(McClenny & Braga-Neto 2023: plain 9.6e-1, SA-PINN 2.1e-2) and of causal training
(Wang, Sankaran & Perdikaris, CMAME 2024: plain 4.98e-1, causal MLP 1.43e-3 after
3·10⁵ steps with a 4×128 network).

The reference solution is computed here: Fourier pseudo-spectral in x (256 modes) and
``scipy.integrate.solve_ivp`` (RK45, tight tolerances) in t; a second of CPU.

Both runs use the same seed, network, points (fresh Sobol points each step) and Adam
schedule, and a fixed weight of 100 on the initial condition (the causal paper
recommends a large one, 1e3); the causal run adds ``CausalAdaptiveLoss(t, epsilon=...,
chunks=32)`` (the Expert's-guide variant), composed with those fixed weights. The defaults are CPU-sized (3×64 network, 2,000
steps), far from the papers' budgets: expect both errors to stay large, and look at the
contrast, not at the papers' numbers.

Run ``python examples/allen_cahn.py``.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
import torch
from scipy.integrate import solve_ivp

from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
from symbolic_pinn.adaptive import CausalAdaptiveLoss, Compose, NonAdaptiveLoss
from symbolic_pinn.training import QuasiRandomTraining

D = 1e-4


def allen_cahn_system() -> PDESystem:
    """Allen-Cahn with periodic conditions (SymPy)."""
    x, t = sp.symbols("x t")
    u = sp.Function("u")
    ux = u(x, t).diff(x)
    return PDESystem(
        [sp.Eq(u(x, t).diff(t) - sp.Float(D) * u(x, t).diff(x, 2) + 5 * u(x, t) ** 3
               - 5 * u(x, t), 0)],
        [
            sp.Eq(u(x, 0), x**2 * sp.cos(sp.pi * x)),
            sp.Eq(u(-1, t), u(1, t)),                      # periodic values
            sp.Eq(ux.subs(x, -1), ux.subs(x, 1)),          # periodic slopes
        ],
        domains={x: (-1, 1), t: (0, 1)},
        indvars=[x, t],
        depvars=[u(x, t)],
    )


def reference_solution(times: np.ndarray, modes: int = 256):
    """``(x, u)``: the grid ``x`` (``modes`` points on [-1, 1)) and ``u`` of shape
    ``(len(times), modes)``, by Fourier pseudo-spectral method of lines."""
    x = -1 + 2 * np.arange(modes) / modes
    k = np.pi * np.fft.rfftfreq(modes, d=1 / modes)  # wave numbers of period 2

    def rhs(_, u):
        u_xx = np.fft.irfft(-(k**2) * np.fft.rfft(u), n=modes)
        return D * u_xx + 5 * u - 5 * u**3

    sol = solve_ivp(rhs, (0, float(np.max(times))), x**2 * np.cos(np.pi * x),
                    t_eval=times, method="RK45", rtol=1e-9, atol=1e-11)
    return x, sol.y.T


def _train(causal, iterations, seed, hidden, points, epsilon, ic_weight):
    system = allen_cahn_system()
    x, t = system.indvars
    adaptive = NonAdaptiveLoss(weights={"bc_0": ic_weight})  # the IC weight, fixed
    if causal:  # term weights multiply: the IC keeps its weight, the residual is causal
        adaptive = Compose(adaptive, CausalAdaptiveLoss(t, epsilon=epsilon, chunks=32))
    pinn = PhysicsInformedNN(MLP(2, 1, list(hidden)), QuasiRandomTraining(points, points // 4),
                             adaptive_loss=adaptive)
    problem = discretize(system, pinn)
    result = problem.solve(iterations, lr=1e-3, seed=seed,
                           lr_schedule=lambda step: 0.9 ** (step / 1000))
    times = np.linspace(0, 1, 101)
    grid, ref = reference_solution(times)
    xs, ts = np.meshgrid(grid, times)
    return result.relative_error({x: xs, t: ts}, ref), result


def main(iterations: int = 2000, seed: int = 0, hidden: tuple[int, ...] = (64, 64, 64),
         points: int = 512, epsilon: float = 1.0, ic_weight: float = 100.0) -> dict:
    """Train a plain PINN and one with causal weights.

    Args:
        iterations: Adam steps of each run.
        seed: Seed of the initialisation and of the sampling (both runs).
        hidden: Hidden layer widths.
        points: Residual points per step (a quarter as many per condition).
        epsilon: Causality parameter ``ε``.
        ic_weight: Fixed weight of the initial condition (both runs).

    Returns:
        ``{"error_plain", "error_causal"`` (relative L2 errors on the reference grid,
        256 × 101), ``"error"`` (= ``error_causal``), ``"result_plain",
        "result_causal"``}``.
    """
    error_plain, result_plain = _train(False, iterations, seed, hidden, points, epsilon,
                                       ic_weight)
    error_causal, result_causal = _train(True, iterations, seed, hidden, points, epsilon,
                                         ic_weight)
    print(f"relative L2 error, plain PINN:     {error_plain:.3e}")
    print(f"relative L2 error, causal weights: {error_causal:.3e}")
    return {"error_plain": error_plain, "error_causal": error_causal, "error": error_causal,
            "result_plain": result_plain, "result_causal": result_causal}


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
