"""Burgers' equation with a shock: plain PINN against SA-PINN (self-adaptive point weights).

``u_t + u u_x = ν u_xx`` with ``ν = 0.01/π`` on x ∈ [-1, 1], t ∈ [0, 1],
``u(x, 0) = -sin(πx)``, ``u(±1, t) = 0``: the classic PINN benchmark (Raissi, Perdikaris
& Karniadakis 2019), whose solution steepens into a shock at x = 0 near t = 1/π. SA-PINN
(McClenny & Braga-Neto, J. Comput. Phys. 2023, §4) reports a relative L2 error of
4.80e-4 ± 1.01e-4 over 10 seeds (8 hidden layers of 20, 10,000 points, 10,000 Adam steps
then 10,000 L-BFGS iterations; Raissi's PINN: 6.7e-4).

The reference solution is computed here, by the Cole-Hopf formula (Basdevant et al.,
Comput. Fluids 1986):

    u(x, t) = -∫ sin(π(x-η)) F(x-η) G(η) dη / ∫ F(x-η) G(η) dη,
    F(y) = exp(-cos(πy) / (2πν)),   G(η) = exp(-η² / (4νt)),

with ``η = sqrt(4νt) z`` and the trapezoidal rule in ``z`` (see
:func:`reference_solution`). Nothing is downloaded. ``reference_solution`` is
checked by :func:`shock_slope`: the steepest slope, ``u_x(0, 1.6037/π) = -152.00516``
(Basdevant et al.).

Both runs use the same seed, network, points and schedule: Adam (lr 5e-3), then L-BFGS
(strong Wolfe line search, up to 20 evaluations per step) with the SA weights frozen, as
in the paper. The points are the paper's: 10,000 Latin-hypercube residual points, 100 on
the initial line and 100 on each wall, drawn once from the seed and kept for both phases
(SA-PINN ties a weight to each point; ``dx, dt`` give a grid instead). The SA run uses
``SelfAdaptiveLoss(init="uniform")`` (λ ~ U(0, 1), mask λ², ρ = 5e-3). The defaults are
the paper's network (8 hidden layers of 20, tanh) with half its Adam steps (5,000); L-BFGS
then runs until it stops changing the loss (about 100-250 steps, i.e. 2,000-5,000
evaluations; the paper: 10,000 iterations). With ``derivatives="taylor"`` both runs
take about 7-9 minutes of one CPU core and reach 2-5e-4 (seeds 0-3: plain 4.7, 4.9, 3.7,
4.5e-4; SA-PINN 2.3, 3.7, 1.9, 5.2e-4; before the factored tanh derivatives of
2026-11-29, a change of float32 rounding: plain 4.0, 4.5, 7.3, 5.3e-4, SA-PINN 4.9, 4.9,
2.2, 2.7e-4; the SA-PINN paper: 4.8e-4 ± 1.0e-4, Raissi et al.: 6.7e-4). One difference
from the authors' script
(``levimcclenny/SA-PINNs``, ``Burgers/burgers.py``): it weights only the residual (λ
initialised at 100) and the initial points, not the walls, and samples 25 points per
wall; here every term is weighted, as the paper's text describes.

Run ``python examples/burgers1d.py``.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
import torch

from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
from symbolic_pinn.adaptive import SelfAdaptiveLoss
from symbolic_pinn.training import GridTraining, QuasiRandomTraining

NU = 0.01 / np.pi


def burgers_system() -> PDESystem:
    """Burgers' equation with ``ν = 0.01/π`` (SymPy)."""
    x, t = sp.symbols("x t")
    u = sp.Function("u")
    nu = sp.Rational(1, 100) / sp.pi
    return PDESystem(
        [sp.Eq(u(x, t).diff(t) + u(x, t) * u(x, t).diff(x), nu * u(x, t).diff(x, 2))],
        [sp.Eq(u(x, 0), -sp.sin(sp.pi * x)), sp.Eq(u(-1, t), 0), sp.Eq(u(1, t), 0)],
        domains={x: (-1, 1), t: (0, 1)},
        indvars=[x, t],
        depvars=[u(x, t)],
    )


def reference_solution(x, t, nu: float = NU, half_width: float = 15.0,
                       spacing: float = 0.02) -> np.ndarray:
    """``u(x, t)`` by the Cole-Hopf formula, ``x`` and ``t`` arrays of the same shape.

    With ``η = sqrt(4νt) z`` both integrals become ``∫ h(z) exp(-z²) dz``. Gauss-Hermite
    nodes miss the sharp peak of ``F`` that sits in the Gaussian's tail near the shock, so
    the integrals are taken by the trapezoidal rule on ``z ∈ [-half_width, half_width]``
    with step ``spacing`` (spectrally accurate for a smooth integrand that decays like
    ``exp(-z²)``), the exponents shifted by their maximum so that nothing overflows.
    """
    x, t = np.broadcast_arrays(np.asarray(x, float), np.asarray(t, float))
    shape = x.shape
    x, t = x.reshape(-1, 1), t.reshape(-1, 1)
    z = np.arange(-half_width, half_width + spacing / 2, spacing)
    out = np.empty(x.shape[0])
    for start in range(0, x.shape[0], 2048):  # chunks: (2048, nodes) arrays
        xc, tc = x[start:start + 2048], t[start:start + 2048]
        y = xc - np.sqrt(4 * nu * tc) * z
        exponent = -z**2 - np.cos(np.pi * y) / (2 * np.pi * nu)
        weight = np.exp(exponent - exponent.max(axis=1, keepdims=True))
        out[start:start + 2048] = -(weight * np.sin(np.pi * y)).sum(axis=1) / weight.sum(axis=1)
    return out.reshape(shape)


def shock_slope(h: float = 1e-6) -> float:
    """``u_x(0, 1.6037/π)`` of :func:`reference_solution` (Basdevant et al.: -152.00516)."""
    t = np.full(2, 1.6037 / np.pi)
    u = reference_solution(np.array([-h, h]), t)
    return float((u[1] - u[0]) / (2 * h))


class SeededLatinHypercube(QuasiRandomTraining):
    """Latin-hypercube points drawn once from ``seed``, whatever generator ``solve`` passes.

    ``solve(..., seed=None)`` (the L-BFGS run, which must keep the Adam run's network)
    draws from an unseeded generator; seeding the draw here gives the L-BFGS run the
    Adam run's points, so SA-PINN keeps its trained weights (they belong to the points).
    """

    def __init__(self, points: int, bcs_points: int, seed: int) -> None:
        super().__init__(points, bcs_points, sampler="lhs", resampling=False)
        self.seed = seed

    def sample(self, ir, rng):
        del rng
        return super().sample(ir, np.random.default_rng(self.seed))


def _stalled(window: int = 10):
    """A ``solve`` callback that stops once the loss has not changed for ``window`` steps
    (L-BFGS has converged: torch's tolerances end each further step at once, unchanged)."""
    losses = []

    def callback(row) -> bool:
        losses.append(row["loss"])
        return len(losses) >= window and len(set(losses[-window:])) == 1

    return callback


def _train(adaptive, adam_iterations, lbfgs_iterations, seed, hidden, dx, dt, points,
           bcs_points, derivatives, lbfgs_max_iter):
    system = burgers_system()
    x, t = system.indvars
    strategy = (GridTraining((dx, dt)) if points is None
                else SeededLatinHypercube(points, bcs_points, seed))
    pinn = PhysicsInformedNN(MLP(2, 1, list(hidden)), strategy, adaptive_loss=adaptive,
                             derivatives=derivatives)
    problem = discretize(system, pinn)
    result = problem.solve(adam_iterations, lr=5e-3, seed=seed)
    if lbfgs_iterations:  # seed=None: keep the Adam run's network (and the SA weights)
        result = problem.solve(lbfgs_iterations, optimizer="lbfgs", lr=1.0,
                               optimizer_options={"max_iter": lbfgs_max_iter},
                               callback=_stalled())
    xs, ts = np.meshgrid(np.linspace(-1, 1, 256), np.linspace(0, 1, 101))
    return result.relative_error({x: xs, t: ts}, reference_solution(xs, ts)), result


def main(iterations: int = 5000, seed: int = 0, lbfgs_iterations: int = 500,
         hidden: tuple[int, ...] = (20,) * 8, points: int = 10000, bcs_points: int = 100,
         dx: float | None = None, dt: float | None = None, derivatives: str = "taylor",
         lbfgs_max_iter: int = 20) -> dict:
    """Train plain and SA-PINN with the same seed and configuration.

    Args:
        iterations: Adam steps of each run (paper: 10,000).
        seed: Seed of the initialisation, of the training points and of the SA weights.
        lbfgs_iterations: L-BFGS steps afterwards, of up to ``lbfgs_max_iter``
            evaluations each (paper: 10,000 iterations in all); L-BFGS stops early once
            the loss no longer changes (torch's tolerances).
        hidden: Hidden layer widths (paper: eight of 20).
        points: Latin-hypercube residual points (paper: 10,000), drawn once from ``seed``.
        bcs_points: Points per condition: the initial line and each wall (paper:
            N0 = 100, Nb = 200 on the two walls).
        dx, dt: Use a grid with these spacings instead of the random points (both
            needed; ``points`` and ``bcs_points`` are then ignored).
        derivatives: ``"taylor"`` (forward-propagated derivatives, the faster path for
            an MLP) or ``"autograd"``.
        lbfgs_max_iter: Evaluations per L-BFGS step (torch's ``max_iter``).

    Returns:
        ``{"error_plain", "error_sa"`` (relative L2 errors against the Cole-Hopf
        reference on a 256×101 grid), ``"error"`` (= ``error_sa``), ``"shock_slope"``
        (the reference's ``u_x(0, 1.6037/π)``), ``"result_plain", "result_sa"``}``.
    """
    if (dx is None) != (dt is None):
        raise ValueError(f"give both dx and dt for a grid, or neither; got {dx!r}, {dt!r}")
    if dx is not None:
        points = None
    config = (hidden, dx, dt, points, bcs_points, derivatives, lbfgs_max_iter)
    slope = shock_slope()
    error_plain, result_plain = _train(None, iterations, lbfgs_iterations, seed, *config)
    sa = SelfAdaptiveLoss(init="uniform", lr=5e-3)
    error_sa, result_sa = _train(sa, iterations, lbfgs_iterations, seed, *config)
    print(f"reference u_x(0, 1.6037/pi) = {slope:.5f} (Basdevant et al.: -152.00516)")
    print(f"relative L2 error, plain PINN: {error_plain:.3e}")
    print(f"relative L2 error, SA-PINN:    {error_sa:.3e}")
    return {"error_plain": error_plain, "error_sa": error_sa, "error": error_sa,
            "shock_slope": slope, "result_plain": result_plain, "result_sa": result_sa}


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
