"""Training strategies: where the residuals are evaluated."""

from .strategies import (
    GridTraining,
    PointSet,
    QuadratureTraining,
    QuasiRandomTraining,
    StochasticTraining,
    TrainingStrategy,
)

__all__ = [
    "TrainingStrategy",
    "GridTraining",
    "StochasticTraining",
    "QuasiRandomTraining",
    "QuadratureTraining",
    "PointSet",
]
