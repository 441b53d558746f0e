"""NeuralPDE's adaptive-loss test problem and metric, shared by the training tests.

The system is the library's own ``gallery.poisson2d`` (``Δu = -sin(πx) sin(πy)`` on the
unit square, zero on the edges); the metric is NeuralPDE's relative L1 error on the
101 x 101 grid (pass mark < 0.4).
"""

from __future__ import annotations

from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize, gallery
from symbolic_pinn.training import StochasticTraining


def poisson_system() -> PDESystem:
    """NeuralPDE's adaptive-loss problem (``gallery.poisson2d``)."""
    return gallery.poisson2d().system


def relative_l1(result) -> float:
    """``Σ|u - u_exact| / Σ|u_exact|`` on the 101 x 101 grid of [0, 1]²."""
    return gallery.poisson2d().relative_error(result, points_per_axis=101, norm="l1")


def train(adaptive_loss, seed: int, iterations: int = 2000, lr: float = 0.03, **options):
    """NeuralPDE's configuration (``MLP(2, 1, [40, 40])`` tanh, ``StochasticTraining(256)``,
    Adam) with ``adaptive_loss``; returns ``(relative L1 error, Result)``."""
    problem = discretize(poisson_system(), PhysicsInformedNN(
        MLP(2, 1, [40, 40], "tanh"), StochasticTraining(256), adaptive_loss=adaptive_loss))
    result = problem.solve(iterations, lr=lr, seed=seed, progress=False, **options)
    return relative_l1(result), result
