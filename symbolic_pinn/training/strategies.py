"""Training strategies: where the residuals are evaluated (NeuralPDE's names and meaning).

Each strategy fills, for every term, an ``(N, n_indvars)`` array of points. Only the
term's free coordinates are sampled: a condition on the face ``x = 0`` gets points on
that face only, and a condition at a point gets that single point. Columns a term
does not read are set to the lower bound (the generated code ignores them).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import StrategyError
from ..ir import ProblemIR, TermIR

__all__ = [
    "TrainingStrategy",
    "GridTraining",
    "StochasticTraining",
    "QuasiRandomTraining",
    "QuadratureTraining",
    "PointSet",
]


@dataclass(frozen=True)
class PointSet:
    """Points per term, and optional quadrature weights per term (summing to 1)."""

    points: dict[str, np.ndarray]
    weights: dict[str, np.ndarray] | None = None


class TrainingStrategy:
    """Base class. Subclasses implement :meth:`sample`.

    Attributes:
        resamples: Whether :meth:`sample` is called again before every optimizer step.
    """

    resamples = False

    def sample(self, ir: ProblemIR, rng: np.random.Generator) -> PointSet:
        """Points for every term of ``ir``."""
        raise NotImplementedError

    @staticmethod
    def _place(ir: ProblemIR, term: TermIR, free_values: np.ndarray) -> np.ndarray:
        """Expand samples of the free columns to full rows."""
        n = free_values.shape[0]
        out = np.tile(np.array([lo for lo, _ in ir.bounds], dtype=np.float64), (n, 1))
        for j, col in enumerate(term.free):
            out[:, col] = free_values[:, j]
        for col, value in term.fixed:
            out[:, col] = value
        return out


def _count(term: TermIR, points: int, bcs_points: int | None) -> int:
    if not term.free:
        return 1  # a point condition: one point is all there is
    return points if term.kind == "pde" or bcs_points is None else bcs_points


def _check_count(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    try:
        ok = int(value) == value and value >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise StrategyError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class GridTraining(TrainingStrategy):
    """A fixed tensor grid with spacing ``dx``.

    Equations use the grid minus every coordinate value that some condition fixes
    (the interior, as in NeuralPDE); conditions use the grid on their face.

    Args:
        dx: One spacing for all variables, or one per independent variable.

    Examples:
        >>> GridTraining(0.1).dx
        0.1
    """

    def __init__(self, dx: float | Sequence[float]) -> None:
        try:
            values = [float(v) for v in ([dx] if np.isscalar(dx) else list(dx))]
        except (TypeError, ValueError):
            values = []
        if not values or any(not np.isfinite(v) or v <= 0 for v in values):
            raise StrategyError(f"dx must be positive and finite, got {dx!r}")
        self.dx = dx

    def sample(self, ir: ProblemIR, rng: np.random.Generator) -> PointSet:
        del rng  # a grid is not random
        n = len(ir.bounds)
        dx = [self.dx] * n if np.isscalar(self.dx) else list(self.dx)
        if len(dx) != n:
            raise StrategyError(
                f"GridTraining: {len(dx)} spacings for {n} independent variables"
            )
        excluded = {col: set() for col in range(n)}
        for term in ir.terms:
            if term.kind == "bc":
                for col, value in term.fixed:
                    excluded[col].add(value)
        axes = []
        for col, ((lo, hi), h) in enumerate(zip(ir.bounds, dx)):
            steps = int(np.floor((hi - lo) / h + 1e-9))
            axis = lo + h * np.arange(steps + 1)
            # lo + k h rounds (0.1 + 3 * 0.2 = 0.7000000000000001): grid points within
            # rounding of the upper bound or of a condition's face are put on it
            for value in (hi, *excluded[col]):
                axis[np.abs(axis - value) <= 1e-9 * h] = value
            axes.append(axis)
        out = {}
        for term in ir.terms:
            grids = []
            for col in term.free:
                axis = axes[col]
                if term.kind == "pde":
                    axis = axis[~np.isin(axis, sorted(excluded[col]))]
                grids.append(axis)
            rows = list(itertools.product(*grids))  # one empty row for a point condition
            free = np.array(rows, dtype=np.float64).reshape(len(rows), len(term.free))
            out[term.name] = self._place(ir, term, free)
        return PointSet(out)


class StochasticTraining(TrainingStrategy):
    """Uniform random points, drawn again before every optimizer step.

    Args:
        points: Points per equation.
        bcs_points: Points per condition (default: ``points``).
    """

    resamples = True

    def __init__(self, points: int, bcs_points: int | None = None) -> None:
        self.points = _check_count("points", points)
        self.bcs_points = _check_count("bcs_points", bcs_points)

    def sample(self, ir: ProblemIR, rng: np.random.Generator) -> PointSet:
        out = {}
        for term in ir.terms:
            n = _count(term, self.points, self.bcs_points)
            lo = np.array([ir.bounds[c][0] for c in term.free])
            hi = np.array([ir.bounds[c][1] for c in term.free])
            out[term.name] = self._place(ir, term, lo + (hi - lo) * rng.random((n, len(lo))))
        return PointSet(out)


# scipy.stats (about 0.6 s to import) is imported when points are first drawn, not with
# the package
_SAMPLERS = {"sobol": "Sobol", "halton": "Halton", "lhs": "LatinHypercube"}


class QuasiRandomTraining(TrainingStrategy):
    """Low-discrepancy points from :mod:`scipy.stats.qmc` (scrambled).

    Args:
        points: Points per equation.
        bcs_points: Points per condition (default: ``points``).
        sampler: ``"sobol"``, ``"halton"`` or ``"lhs"`` (Latin hypercube).
        resampling: Draw a fresh scrambled set before every step (``True``), or keep
            the first set for the whole run.
    """

    def __init__(
        self,
        points: int,
        bcs_points: int | None = None,
        sampler: str = "sobol",
        resampling: bool = True,
    ) -> None:
        if sampler not in _SAMPLERS:
            raise StrategyError(
                f"unknown sampler {sampler!r}; choose one of {sorted(_SAMPLERS)}"
            )
        self.points = _check_count("points", points)
        self.bcs_points = _check_count("bcs_points", bcs_points)
        self.sampler = sampler
        self.resampling = bool(resampling)
        self.resamples = self.resampling

    def sample(self, ir: ProblemIR, rng: np.random.Generator) -> PointSet:
        out = {}
        for term in ir.terms:
            n = _count(term, self.points, self.bcs_points)
            dim = len(term.free)
            if dim == 0:
                unit = np.zeros((n, 0))
            else:
                from scipy.stats import qmc

                engine = getattr(qmc, _SAMPLERS[self.sampler])(d=dim, rng=rng)
                with warnings.catch_warnings():  # Sobol prefers powers of 2; any n is fine here
                    warnings.simplefilter("ignore", UserWarning)
                    unit = engine.random(n)
            lo = np.array([ir.bounds[c][0] for c in term.free])
            hi = np.array([ir.bounds[c][1] for c in term.free])
            out[term.name] = self._place(ir, term, lo + (hi - lo) * unit)
        return PointSet(out)


class QuadratureTraining(TrainingStrategy):
    """Gauss–Legendre tensor-product nodes; each loss is ``∫ r² / volume``.

    Args:
        order: Nodes per free dimension (exact for polynomials of degree ``2*order-1``).

    Examples:
        >>> QuadratureTraining(8).order
        8
    """

    def __init__(self, order: int = 16) -> None:
        self.order = _check_count("order", order)

    def sample(self, ir: ProblemIR, rng: np.random.Generator) -> PointSet:
        del rng  # quadrature nodes are fixed
        nodes, weights = np.polynomial.legendre.leggauss(self.order)
        points, point_weights = {}, {}
        for term in ir.terms:
            axes, axis_weights = [], []
            for col in term.free:
                lo, hi = ir.bounds[col]
                axes.append(lo + (hi - lo) * (nodes + 1) / 2)
                axis_weights.append(weights / 2)  # normalised: the weights sum to 1
            rows = list(itertools.product(*axes))  # one empty row for a point condition
            free = np.array(rows, dtype=np.float64).reshape(len(rows), len(term.free))
            w = np.array([np.prod(c) for c in itertools.product(*axis_weights)])
            points[term.name] = self._place(ir, term, free)
            point_weights[term.name] = w.reshape(-1, 1)
        return PointSet(points, point_weights)
