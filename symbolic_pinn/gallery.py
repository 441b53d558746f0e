"""Built-in example problems: small PDE systems with known solutions.

Each entry of :data:`EXAMPLES` is a function returning an :class:`Example`, a named
tuple ``(system, exact, description)``: the :class:`~symbolic_pinn.PDESystem`, the
exact solution (a function of NumPy arrays, one per independent variable in the
order of ``system.indvars``, or ``None`` when none is known) and a one-line
description.

Examples:
    >>> from symbolic_pinn import gallery
    >>> gallery.names()
    ['heat1d', 'poisson1d_sin4pi', 'poisson2d', 'wave1d']
    >>> system, exact, description = gallery.get("poisson1d_sin4pi")
    >>> system.term_names
    ['pde_0', 'bc_0', 'bc_1']
    >>> round(float(exact(0.125)), 6)
    1.0

:data:`EXAMPLES` maps each name to its function; calling the function directly gives
its options, such as the diffusivity of ``heat1d``:

    >>> sorted(gallery.EXAMPLES) == gallery.names()
    True
    >>> gallery.EXAMPLES["heat1d"](kappa=0.5).system.params
    {kappa: 0.5}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import sympy as sp

from .problem import PDESystem

__all__ = ["Example", "EXAMPLES", "names", "get", "poisson1d_sin4pi", "wave1d", "poisson2d",
           "heat1d"]


class Example(NamedTuple):
    """A built-in problem.

    Attributes:
        system: The PDE system.
        exact: ``exact(*coords) -> array``, coordinates in the order of
            ``system.indvars``; ``None`` when no exact solution is known.
        description: One line saying what the problem is and where it comes from.

    Examples:
        >>> from symbolic_pinn import gallery
        >>> example = gallery.get("wave1d")
        >>> isinstance(example, gallery.Example), example._fields
        (True, ('system', 'exact', 'description'))
        >>> [str(v) for v in example.system.indvars]  # the order exact() takes them in
        ['x', 't']
        >>> round(float(example.exact(0.5, 0.0)), 12)  # sin(pi/2) + sin(2 pi)/2
        1.0

        An example of your own may leave ``exact`` out (``None``); it then cannot be
        scored:

        >>> own = gallery.Example(example.system, None, "the wave, no reference solution")
        >>> try:
        ...     own.relative_error(result=None)
        ... except ValueError as error:
        ...     print(error)
        this example has no exact solution to compare with
    """

    system: PDESystem
    exact: Callable[..., np.ndarray] | None
    description: str

    def relative_error(self, result, points_per_axis: int = 101, norm: str = "l2") -> float:
        """A trained result's error against :attr:`exact` on a uniform grid.

        The grid spans every independent variable's domain, ends included, with
        ``points_per_axis`` points along each.

        Args:
            result: A :class:`~symbolic_pinn.Result` of this example's system.
            points_per_axis: Grid points along each independent variable (at least 2).
            norm: ``"l2"`` or ``"l1"``, as for :meth:`symbolic_pinn.Result.relative_error`
                (``"l1"`` on 101 points per axis is NeuralPDE.jl's test metric).

        Returns:
            The relative error over the grid.

        Raises:
            ValueError: The example has no exact solution, or ``points_per_axis < 2``.

        Examples:
            >>> from symbolic_pinn import MLP, PhysicsInformedNN, discretize, gallery
            >>> from symbolic_pinn.training import GridTraining
            >>> example = gallery.poisson2d()
            >>> problem = discretize(example.system,
            ...                      PhysicsInformedNN(MLP(2, 1, [8]), GridTraining(0.25)))
            >>> result = problem.solve(3, progress=False, seed=0)
            >>> error = example.relative_error(result, points_per_axis=11, norm="l1")
            >>> error > 0
            True
        """
        if self.exact is None:
            raise ValueError("this example has no exact solution to compare with")
        if isinstance(points_per_axis, bool) or not isinstance(points_per_axis, int) \
                or points_per_axis < 2:
            raise ValueError(f"points_per_axis must be an integer >= 2, got {points_per_axis!r}")
        indvars = self.system.indvars
        axes = [np.linspace(*map(float, self.system.domains[v]), points_per_axis)
                for v in indvars]
        grid = np.meshgrid(*axes, indexing="ij")
        return result.relative_error({v.name: g for v, g in zip(indvars, grid)},
                                     self.exact(*grid), norm=norm)


def poisson1d_sin4pi() -> Example:
    """1D Poisson ``u_xx = -16π² sin(4πx)`` on [0, 1], ``u(0) = u(1) = 0``.

    The NTK paper's §7.2 example (Wang, Yu & Perdikaris 2022): exact solution
    ``u = sin(4πx)``. With standardized inputs the residual's kernel dominates the
    boundary's, and the NTK weights put a weight of a few hundred on the boundary.

    Returns:
        The :class:`Example`.

    Examples:
        The exact solution satisfies every term (each residual simplifies to 0):

        >>> import sympy as sp
        >>> example = poisson1d_sin4pi()
        >>> (x,), u = example.system.indvars, example.system.depvars[0]
        >>> solution = sp.Lambda(x, sp.sin(4 * sp.pi * x))
        >>> [sp.simplify(term.residual.replace(u.func, solution).doit())
        ...  for term in example.system.terms]
        [0, 0, 0]

        The first NTK update of a small network on standardized inputs leaves the
        equation's weight near 1 and puts a few hundred on each boundary point:

        >>> from symbolic_pinn import MLP, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.adaptive import NeuralTangentKernelAdaptiveLoss
        >>> from symbolic_pinn.training import GridTraining
        >>> pinn = PhysicsInformedNN(MLP(1, 1, [32, 32]), GridTraining(0.01),
        ...                          adaptive_loss=NeuralTangentKernelAdaptiveLoss(),
        ...                          input_scaling="standardize")
        >>> result = discretize(example.system, pinn).solve(1, seed=0, progress=False)
        >>> weights = result.weights
        >>> round(weights["pde_0"], 1), [100 < weights[bc] < 1000 for bc in ("bc_0", "bc_1")]
        (1.0, [True, True])
    """
    x = sp.Symbol("x")
    u = sp.Function("u")
    system = PDESystem(
        [sp.Eq(u(x).diff(x, 2), -16 * sp.pi**2 * sp.sin(4 * sp.pi * x))],
        [sp.Eq(u(0), 0), sp.Eq(u(1), 0)],
        domains={x: (0, 1)},
        indvars=[x],
        depvars=[u(x)],
    )

    def exact(x):
        return np.sin(4 * np.pi * np.asarray(x, dtype=float))

    return Example(system, exact, "1D Poisson u_xx = -16 pi^2 sin(4 pi x), u(0) = u(1) = 0 "
                                  "(NTK paper, sec. 7.2); exact u = sin(4 pi x)")


def wave1d() -> Example:
    """1D wave ``u_tt = 4 u_xx`` on [0, 1]², the NTK paper's §7.3 example.

    Conditions: ``u(x, 0) = sin(πx) + ½ sin(4πx)``, ``u_t(x, 0) = 0``,
    ``u(0, t) = u(1, t) = 0``. Exact solution
    ``u = sin(πx) cos(2πt) + ½ sin(4πx) cos(8πt)``. Plain PINNs fail here (about 45 %
    relative error in the paper); NTK weights bring it to about 2e-3.

    Returns:
        The :class:`Example`.

    Examples:
        The conditions in term order (``bc_1`` is the initial velocity), and the exact
        solution checked against every term:

        >>> import sympy as sp
        >>> example = wave1d()
        >>> for term in example.system.terms:
        ...     print(term.name, term.source)
        pde_0 Eq(Derivative(u(x, t), (t, 2)), 4*Derivative(u(x, t), (x, 2)))
        bc_0 Eq(u(x, 0), sin(pi*x) + sin(4*pi*x)/2)
        bc_1 Eq(Subs(Derivative(u(x, t), t), t, 0), 0)
        bc_2 Eq(u(0, t), 0)
        bc_3 Eq(u(1, t), 0)
        >>> (x, t), u = example.system.indvars, example.system.depvars[0]
        >>> solution = sp.Lambda((x, t), sp.sin(sp.pi * x) * sp.cos(2 * sp.pi * t)
        ...                      + sp.sin(4 * sp.pi * x) * sp.cos(8 * sp.pi * t) / 2)
        >>> [sp.simplify(term.residual.replace(u.func, solution).doit())
        ...  for term in example.system.terms]
        [0, 0, 0, 0, 0]

        ``exact`` takes arrays that broadcast together:

        >>> import numpy as np
        >>> example.exact(np.linspace(0, 1, 5)[:, None], np.linspace(0, 1, 3)).shape
        (5, 3)
        >>> bool(np.allclose(example.exact([0.0, 1.0], 0.3), 0))  # the fixed ends
        True
    """
    x, t = sp.symbols("x t")
    u = sp.Function("u")
    system = PDESystem(
        [sp.Eq(u(x, t).diff(t, 2), 4 * u(x, t).diff(x, 2))],
        [
            sp.Eq(u(x, 0), sp.sin(sp.pi * x) + sp.sin(4 * sp.pi * x) / 2),
            sp.Eq(u(x, t).diff(t).subs(t, 0), 0),
            sp.Eq(u(0, t), 0),
            sp.Eq(u(1, t), 0),
        ],
        domains={x: (0, 1), t: (0, 1)},
        indvars=[x, t],
        depvars=[u(x, t)],
    )

    def exact(x, t):
        x, t = np.asarray(x, dtype=float), np.asarray(t, dtype=float)
        return (np.sin(np.pi * x) * np.cos(2 * np.pi * t)
                + 0.5 * np.sin(4 * np.pi * x) * np.cos(8 * np.pi * t))

    return Example(system, exact, "1D wave u_tt = 4 u_xx on [0, 1]^2 (NTK paper, sec. 7.3); "
                                  "exact u = sin(pi x) cos(2 pi t) + sin(4 pi x) cos(8 pi t) / 2")


def poisson2d() -> Example:
    """2D Poisson ``u_xx + u_yy = -sin(πx) sin(πy)`` on [0, 1]², zero on the boundary.

    NeuralPDE.jl's introductory example; exact solution
    ``u = sin(πx) sin(πy) / (2π²)``.

    Returns:
        The :class:`Example`.

    Examples:
        Discretized with a "network" that computes the exact solution, every generated
        residual vanishes up to float32 round-off:

        >>> import numpy as np, torch
        >>> from symbolic_pinn import PhysicsInformedNN, discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> class Exact(torch.nn.Module):
        ...     def forward(self, xy):
        ...         x, y = xy[:, :1], xy[:, 1:]
        ...         return torch.sin(torch.pi * x) * torch.sin(torch.pi * y) / (2 * torch.pi**2)
        >>> example = poisson2d()
        >>> problem = discretize(example.system, PhysicsInformedNN(Exact(), GridTraining(0.1)))
        >>> points = torch.rand(50, 2, generator=torch.Generator().manual_seed(0))
        >>> {term: bool(f(points).abs().max() < 1e-5) for term, f in problem.residuals.items()}
        {'pde_0': True, 'bc_0': True, 'bc_1': True, 'bc_2': True, 'bc_3': True}
        >>> round(float(example.exact(0.5, 0.5)) * 2 * np.pi**2, 12)  # the peak, 1/(2 pi^2)
        1.0
    """
    x, y = sp.symbols("x y")
    u = sp.Function("u")
    system = PDESystem(
        [sp.Eq(u(x, y).diff(x, 2) + u(x, y).diff(y, 2),
               -sp.sin(sp.pi * x) * sp.sin(sp.pi * y))],
        [sp.Eq(u(0, y), 0), sp.Eq(u(1, y), 0), sp.Eq(u(x, 0), 0), sp.Eq(u(x, 1), 0)],
        domains={x: (0, 1), y: (0, 1)},
        indvars=[x, y],
        depvars=[u(x, y)],
    )

    def exact(x, y):
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        return np.sin(np.pi * x) * np.sin(np.pi * y) / (2 * np.pi**2)

    return Example(system, exact, "2D Poisson u_xx + u_yy = -sin(pi x) sin(pi y), u = 0 on "
                                  "the boundary (NeuralPDE.jl); exact sin(pi x) sin(pi y)/(2 pi^2)")


def heat1d(kappa: float = 0.1) -> Example:
    """1D heat equation ``u_t = κ u_xx`` on [0, 1]², with ``κ`` a parameter.

    Conditions: ``u(x, 0) = sin(πx)``, ``u(0, t) = u(1, t) = 0``. Exact solution
    ``u = exp(-κ π² t) sin(πx)``. ``κ`` is a parameter of the system, so it can be
    estimated (``param_estim=True``) from data given through ``additional_loss``.

    Args:
        kappa: The diffusivity.

    Returns:
        The :class:`Example`.

    Examples:
        >>> import numpy as np, sympy as sp
        >>> example = heat1d(kappa=0.5)
        >>> example.system.params
        {kappa: 0.5}
        >>> (x, t), u = example.system.indvars, example.system.depvars[0]
        >>> (k,) = example.system.params
        >>> solution = sp.Lambda((x, t), sp.exp(-k * sp.pi**2 * t) * sp.sin(sp.pi * x))
        >>> [sp.simplify(term.residual.replace(u.func, solution).doit())
        ...  for term in example.system.terms]
        [0, 0, 0, 0]
        >>> bool(np.isclose(example.exact(0.5, 1.0), np.exp(-0.5 * np.pi**2)))
        True

        With ``param_estim=True`` the diffusivity becomes a trained tensor that starts
        at ``kappa`` (the data would go in through ``additional_loss``):

        >>> from symbolic_pinn import MLP, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> pinn = PhysicsInformedNN(MLP(2, 1, [8]), GridTraining(0.25), param_estim=True)
        >>> kappa = discretize(example.system, pinn).params["kappa"]
        >>> float(kappa.detach()), kappa.requires_grad
        (0.5, True)
    """
    x, t, k = sp.symbols("x t kappa")
    u = sp.Function("u")
    system = PDESystem(
        [sp.Eq(u(x, t).diff(t), k * u(x, t).diff(x, 2))],
        [sp.Eq(u(x, 0), sp.sin(sp.pi * x)), sp.Eq(u(0, t), 0), sp.Eq(u(1, t), 0)],
        domains={x: (0, 1), t: (0, 1)},
        indvars=[x, t],
        depvars=[u(x, t)],
        params={k: kappa},
    )

    def exact(x, t):
        x, t = np.asarray(x, dtype=float), np.asarray(t, dtype=float)
        return np.exp(-kappa * np.pi**2 * t) * np.sin(np.pi * x)

    description = (f"1D heat u_t = kappa u_xx (kappa = {kappa}), u(x, 0) = sin(pi x), u = 0 "
                   "at x = 0, 1; exact exp(-kappa pi^2 t) sin(pi x)")
    return Example(system, exact, description)


#: ``{name: function returning an Example}``. A dict cannot carry a docstring: see the
#: module's examples and :func:`names`.
EXAMPLES: dict[str, Callable[[], Example]] = {
    "poisson1d_sin4pi": poisson1d_sin4pi,
    "wave1d": wave1d,
    "poisson2d": poisson2d,
    "heat1d": heat1d,
}


def names() -> list[str]:
    """The names of the built-in examples, sorted.

    Returns:
        The keys of :data:`EXAMPLES`, sorted.

    Examples:
        >>> names()
        ['heat1d', 'poisson1d_sin4pi', 'poisson2d', 'wave1d']
        >>> names() == sorted(EXAMPLES)
        True
        >>> {name: len(EXAMPLES[name]().system.terms) for name in names()}
        {'heat1d': 4, 'poisson1d_sin4pi': 3, 'poisson2d': 5, 'wave1d': 5}
    """
    return sorted(EXAMPLES)


def get(name: str) -> Example:
    """The built-in example called ``name``.

    Args:
        name: One of :func:`names`.

    Returns:
        A new :class:`Example`, built with the function's default options.

    Raises:
        KeyError: No example has that name (the message lists the names).

    Examples:
        >>> example = get("heat1d")
        >>> example.system.params, example.description.split(",")[0]
        ({kappa: 0.1}, '1D heat u_t = kappa u_xx (kappa = 0.1)')
        >>> try:
        ...     get("poisson2D")
        ... except KeyError as error:
        ...     print(error.args[0])
        unknown example 'poisson2D'; the examples are: heat1d, poisson1d_sin4pi, poisson2d, wave1d
    """
    try:
        factory = EXAMPLES[name]
    except KeyError:
        known = ", ".join(names())
        raise KeyError(f"unknown example {name!r}; the examples are: {known}") from None
    return factory()
