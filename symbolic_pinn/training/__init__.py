"""Training strategies: where the residuals are evaluated."""

from .base import PointSet, TrainingStrategy
from .strategies import (
    GridTraining,
    QuadratureTraining,
    QuasiRandomTraining,
    StochasticTraining,
)

__all__ = [
    "TrainingStrategy",
    "GridTraining",
    "StochasticTraining",
    "QuasiRandomTraining",
    "QuadratureTraining",
    "PointSet",
]
