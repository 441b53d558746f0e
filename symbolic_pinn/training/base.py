"""The base of the training strategies: :class:`TrainingStrategy` and its :class:`PointSet`.

A strategy fills, for every term, an ``(N, n_indvars)`` array of points. Only the
term's free coordinates are sampled: a condition on the face ``x = 0`` gets points on
that face only, and a condition at a point gets that single point. Columns a term
does not read are set to the lower bound (the generated code ignores them).
:meth:`TrainingStrategy.place` does this for a strategy of one's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ir import ProblemIR, TermIR

__all__ = ["TrainingStrategy", "PointSet"]


@dataclass(frozen=True)
class PointSet:
    """Points per term, and optional quadrature weights per term (summing to 1).

    Attributes:
        points: ``{term: (N, n_indvars) array}``, one row per point, columns in the order
            of the independent variables.
        weights: ``{term: (N, 1) array}`` of weights summing to 1 per term, or ``None``
            (the losses are plain means). The generated loss reads them only for
            :class:`~symbolic_pinn.training.QuadratureTraining`.

    Examples:
        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, symbolic_discretize
        >>> from symbolic_pinn.training import GridTraining, QuadratureTraining
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)}, [x], [u(x)])
        >>> quad = QuadratureTraining(2)
        >>> ir = symbolic_discretize(s, PhysicsInformedNN(MLP(1, 1, [8]), quad)).ir
        >>> ps = quad.sample(ir, np.random.default_rng(0))
        >>> sorted(ps.points)
        ['bc_0', 'bc_1', 'pde_0']
        >>> ps.points["pde_0"].round(4).tolist()  # two Gauss nodes on [0, 1]: 1/2 ± 1/(2√3)
        [[0.2113], [0.7887]]
        >>> ps.weights["pde_0"].round(12).tolist()
        [[0.5], [0.5]]
        >>> ps.points["bc_1"].tolist(), ps.weights["bc_1"].round(12).tolist()  # u(1): one point
        ([[1.0]], [[1.0]])
        >>> GridTraining(0.25).sample(ir, None).weights is None
        True
    """

    points: dict[str, np.ndarray]
    weights: dict[str, np.ndarray] | None = None


class TrainingStrategy:
    """Base class. Subclasses implement :meth:`sample`.

    ``sample(ir, rng)`` returns a :class:`PointSet` with an ``(N, n_indvars)`` array for
    every term of ``ir`` and for no other name (the run raises a
    :class:`~symbolic_pinn.errors.StrategyError` otherwise); ``rng`` is the run's
    ``numpy.random.Generator`` (seeded by ``solve(seed=...)``).

    Attributes:
        resamples: Whether :meth:`sample` is called again before every optimizer step.
        shares_points: Whether terms that sample the same columns and fix the same values
            (all equations; the conditions on one face) may get equal points. Then the
            generated ``all_residuals`` evaluates such terms with one ``jet`` call per
            network and input whenever their points are equal (the run makes them one tensor).
            ``True`` here, in :class:`GridTraining` and in :class:`QuadratureTraining`;
            ``False`` in :class:`StochasticTraining` and :class:`QuasiRandomTraining`,
            which draw each term's points apart unless given ``share=True``.

    Examples:
        A custom strategy: ``n`` cell midpoints along each free coordinate of a term;
        :meth:`place` fills in the columns a condition fixes.

        >>> import itertools
        >>> class Midpoints(TrainingStrategy):
        ...     def __init__(self, n):
        ...         self.n = n
        ...     def sample(self, ir, rng):
        ...         points = {}
        ...         for term in ir.terms:
        ...             axes = [lo + (hi - lo) * (np.arange(self.n) + 0.5) / self.n
        ...                     for lo, hi in (ir.bounds[col] for col in term.free)]
        ...             rows = list(itertools.product(*axes))  # [()] for a point condition
        ...             free = np.array(rows).reshape(len(rows), len(term.free))
        ...             points[term.name] = self.place(ir, term, free)
        ...         return PointSet(points)
        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)}, [x], [u(x)])
        >>> prob = discretize(s, PhysicsInformedNN(MLP(1, 1, [8]), Midpoints(4)))
        >>> ps = prob.strategy.sample(prob.ir, None)
        >>> ps.points["pde_0"].ravel().tolist(), ps.points["bc_1"].tolist()
        ([0.125, 0.375, 0.625, 0.875], [[1.0]])
        >>> prob.strategy.resamples  # the default: the first points serve the whole run
        False
        >>> len(prob.solve(iterations=2, seed=0).history)
        2
    """

    resamples = False
    shares_points = True

    def sample(self, ir: ProblemIR, rng: np.random.Generator) -> PointSet:
        """Points for every term of ``ir``."""
        raise NotImplementedError

    @staticmethod
    def place(ir: ProblemIR, term: TermIR, free_values: np.ndarray) -> np.ndarray:
        """Expand samples of a term's free columns to full rows.

        Args:
            ir: The problem's intermediate representation.
            term: The term; ``term.free`` lists the columns it samples and
                ``term.fixed`` the ``(column, value)`` pairs its condition fixes.
            free_values: ``(N, len(term.free))`` values of the free columns.

        Returns:
            ``(N, n_indvars)`` rows: the free columns from ``free_values``, the fixed ones
            set to their values.
        """
        n = free_values.shape[0]
        out = np.tile(np.array([lo for lo, _ in ir.bounds], dtype=np.float64), (n, 1))
        for j, col in enumerate(term.free):
            out[:, col] = free_values[:, j]
        for col, value in term.fixed:
            out[:, col] = value
        return out
