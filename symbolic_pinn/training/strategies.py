"""Training strategies: where the residuals are evaluated (NeuralPDE's names and meaning).

Each fills, for every term, an ``(N, n_indvars)`` array of points on the term's face
(:mod:`symbolic_pinn.training.base`).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence

import numpy as np

from ..errors import StrategyError, integer_at_least
from ..ir import ProblemIR, TermIR
from .base import PointSet, TrainingStrategy

__all__ = ["GridTraining", "StochasticTraining", "QuasiRandomTraining", "QuadratureTraining"]


def _count(term: TermIR, points: int, bcs_points: int | None) -> int:
    if not term.free:
        return 1  # a point condition: one point is all there is
    return points if term.kind == "pde" or bcs_points is None else bcs_points


def _check_count(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if not integer_at_least(value, 1):
        raise StrategyError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_flag(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise StrategyError(f"{name} must be True or False, got {value!r}")
    return bool(value)


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
            out[term.name] = self.place(ir, term, free)
        return PointSet(out)


class StochasticTraining(TrainingStrategy):
    """Uniform random points, drawn again before every optimizer step.

    Args:
        points: Points per equation.
        bcs_points: Points per condition (default: ``points``).
        share: Draw one point set for the terms that sample the same columns and fix the
            same values (all equations of a system; the conditions on one face), as
            DeepXDE evaluates every equation at the same collocation points, instead of
            one per term (NeuralPDE's way, the default). With ``derivatives="taylor"`` such
            terms then share their ``jet`` calls (:attr:`TrainingStrategy.shares_points`).

    Examples:
        The heat equation on ``(t, x) ∈ [0, 1] × [0, 2]``, with an initial condition at
        ``t = 0`` and boundary conditions at ``x = 0`` and ``x = 2``:

        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, symbolic_discretize
        >>> t, x = sp.symbols("t x"); u = sp.Function("u")
        >>> heat = PDESystem([sp.Eq(u(t, x).diff(t), u(t, x).diff(x, 2))],
        ...                  [sp.Eq(u(0, x), sp.sin(sp.pi * x)), u(t, 0), u(t, 2)],
        ...                  {t: (0, 1), x: (0, 2)}, [t, x], [u(t, x)])
        >>> strategy = StochasticTraining(100, bcs_points=20)
        >>> ir = symbolic_discretize(heat, PhysicsInformedNN(MLP(2, 1, [8]), strategy)).ir
        >>> ps = strategy.sample(ir, np.random.default_rng(0))
        >>> {term: p.shape for term, p in ps.points.items()}
        {'pde_0': (100, 2), 'bc_0': (20, 2), 'bc_1': (20, 2), 'bc_2': (20, 2)}
        >>> pde = ps.points["pde_0"]
        >>> bool((pde >= 0).all() and (pde[:, 0] < 1).all() and (pde[:, 1] < 2).all())
        True
        >>> ic, right = ps.points["bc_0"], ps.points["bc_2"]  # each on its own face
        >>> bool((ic[:, 0] == 0).all() and (right[:, 1] == 2).all())
        True
        >>> strategy.resamples  # the run draws fresh points from its generator every step
        True
        >>> rng = np.random.default_rng(0)
        >>> first, second = (strategy.sample(ir, rng).points["pde_0"] for _ in range(2))
        >>> np.array_equal(first, second), np.array_equal(first, pde)  # fresh; same seed
        (False, True)

        With ``share=True`` the two conditions at ``x = 0`` get one draw:

        >>> s = PDESystem([sp.Eq(u(t, x).diff(t), u(t, x).diff(x, 2))],
        ...               [u(t, 0), u(t, x).diff(x).subs(x, 0), u(t, 2)],
        ...               {t: (0, 1), x: (0, 2)}, [t, x], [u(t, x)])
        >>> shared = StochasticTraining(100, bcs_points=20, share=True)
        >>> ir = symbolic_discretize(s, PhysicsInformedNN(MLP(2, 1, [8]), shared)).ir
        >>> ps = shared.sample(ir, np.random.default_rng(0))
        >>> ps.points["bc_0"] is ps.points["bc_1"], ps.points["bc_0"] is ps.points["bc_2"]
        (True, False)
    """

    resamples = True
    shares_points = False  # every term's points are drawn apart (unless share=True)

    def __init__(self, points: int, bcs_points: int | None = None, share: bool = False) -> None:
        self.points = _check_count("points", points)
        self.bcs_points = _check_count("bcs_points", bcs_points)
        self.share = self.shares_points = _check_flag("share", share)

    def sample(self, ir: ProblemIR, rng: np.random.Generator) -> PointSet:
        def draw(term, n):
            lo = np.array([ir.bounds[c][0] for c in term.free])
            hi = np.array([ir.bounds[c][1] for c in term.free])
            return self.place(ir, term, lo + (hi - lo) * rng.random((n, len(lo))))

        return _drawn(ir, self.points, self.bcs_points, self.share, draw)


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
        share: One point set for the terms that sample the same columns and fix the same
            values, as in :class:`StochasticTraining`.

    Examples:
        The heat equation on ``(t, x) ∈ [0, 1] × [0, 2]``; ``cells`` counts the cells of
        an ``n × n`` grid over the domain that hold points.

        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, symbolic_discretize
        >>> t, x = sp.symbols("t x"); u = sp.Function("u")
        >>> heat = PDESystem([sp.Eq(u(t, x).diff(t), u(t, x).diff(x, 2))],
        ...                  [sp.Eq(u(0, x), sp.sin(sp.pi * x)), u(t, 0), u(t, 2)],
        ...                  {t: (0, 1), x: (0, 2)}, [t, x], [u(t, x)])
        >>> sobol = QuasiRandomTraining(16, bcs_points=8)
        >>> ir = symbolic_discretize(heat, PhysicsInformedNN(MLP(2, 1, [8]), sobol)).ir
        >>> def cells(p, n):
        ...     return len({(int(n * t), int(n * x / 2)) for t, x in p})
        >>> rng = np.random.default_rng(0)
        >>> ps = sobol.sample(ir, rng)
        >>> cells(ps.points["pde_0"], 4)  # 16 Sobol points: one in each of the 4 x 4 cells
        16
        >>> cells(StochasticTraining(16).sample(ir, rng).points["pde_0"], 4) < 16  # random
        True
        >>> ps.points["bc_0"].shape, sorted(int(4 * x) for _, x in ps.points["bc_0"])
        ((8, 2), [0, 1, 2, 3, 4, 5, 6, 7])

        Halton points stratify likewise along their first coordinate (base 2); a Latin
        hypercube puts one point in each of ``N`` equal slices of every coordinate, for
        any ``N``:

        >>> halton = QuasiRandomTraining(16, bcs_points=8, sampler="halton")
        >>> sorted(int(4 * x) for _, x in halton.sample(ir, rng).points["bc_0"])
        [0, 1, 2, 3, 4, 5, 6, 7]
        >>> lhs = QuasiRandomTraining(10, sampler="lhs").sample(ir, rng).points["pde_0"]
        >>> strata = [sorted(int(10 * t) for t, _ in lhs), sorted(int(5 * x) for _, x in lhs)]
        >>> strata == [list(range(10))] * 2
        True

        Each call scrambles afresh; the run draws before every step unless
        ``resampling=False``:

        >>> again = sobol.sample(ir, rng).points["pde_0"]
        >>> np.array_equal(again, ps.points["pde_0"]), cells(again, 4)
        (False, 16)
        >>> sobol.resamples, QuasiRandomTraining(16, resampling=False).resamples
        (True, False)
    """

    shares_points = False  # every term's points are drawn apart (unless share=True)

    def __init__(
        self,
        points: int,
        bcs_points: int | None = None,
        sampler: str = "sobol",
        resampling: bool = True,
        share: bool = False,
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
        self.share = self.shares_points = _check_flag("share", share)

    def sample(self, ir: ProblemIR, rng: np.random.Generator) -> PointSet:
        def draw(term, n):
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
            return self.place(ir, term, lo + (hi - lo) * unit)

        return _drawn(ir, self.points, self.bcs_points, self.share, draw)


def _drawn(ir: ProblemIR, points: int, bcs_points, share: bool, draw) -> PointSet:
    """Each term's ``draw(term, n)``; with ``share``, one draw (one array) for the terms
    that sample the same columns and fix the same values."""
    out, drawn = {}, {}
    for term in ir.terms:
        n = _count(term, points, bcs_points)
        key = (term.free, term.fixed, n)
        if not share or key not in drawn:
            drawn[key] = draw(term, n)
        out[term.name] = drawn[key]
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
            points[term.name] = self.place(ir, term, free)
            point_weights[term.name] = w.reshape(-1, 1)
        return PointSet(points, point_weights)
