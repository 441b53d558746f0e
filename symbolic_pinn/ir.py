"""The intermediate representation produced by analysis and consumed by code generation.

Every record is frozen. Identifiers in it are already safe Python names (see
:mod:`symbolic_pinn.naming`); SymPy expressions in it contain no ``Derivative`` nodes,
only symbols named after those identifiers.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

__all__ = ["Coordinate", "Site", "DerivativeNode", "TermIR", "DepvarIR", "ProblemIR"]


@dataclass(frozen=True, slots=True)
class Coordinate:
    """An input tensor of a term: one column of the points, or a constant.

    Attributes:
        name: Identifier in the generated code (``x``, or ``x_s1`` for a site constant).
        column: Column of the points array it is shaped after.
        value: The constant it holds, or ``None`` to read the column.
        requires_grad: Whether some derivative is taken with respect to it.
    """

    name: str
    column: int
    value: float | None
    requires_grad: bool


@dataclass(frozen=True, slots=True)
class Site:
    """One evaluation of a dependent variable, e.g. ``u`` at ``(x, t)`` or ``(0, t)``.

    Attributes:
        name: Identifier of the value (``u``, or ``u_s1`` when a term has several sites).
        fn: Identifier of the per-point function that evaluates the site (``f_u``).
        text: How the user would write it, for comments: ``u(0, t)``.
        args: Identifiers of the coordinate tensors fed to each argument slot.
        columns: The column of each slot's declared variable (its input scaling).
        net: Index of the network.
        column: Output column of the network.
    """

    name: str
    fn: str
    text: str
    args: tuple[str, ...]
    columns: tuple[int, ...]
    net: int
    column: int


@dataclass(frozen=True, slots=True)
class DerivativeNode:
    """One first-order step in the derivative DAG: ``name = d(parent)/d(wrt)``.

    Attributes:
        name: Identifier, e.g. ``u_xx``.
        fn: Identifier of its per-point function (``f_u_xx``).
        parent: Identifier of the value differentiated, e.g. ``u_x``.
        site: Identifier of the site the chain starts from.
        wrt: Identifier of the coordinate tensor differentiated against.
        slot: Argument slot of ``wrt`` in the site's dependent variable.
    """

    name: str
    fn: str
    parent: str
    site: str
    wrt: str
    slot: int


@dataclass(frozen=True, slots=True)
class TermIR:
    """One lowered equation or condition.

    Attributes:
        name: ``pde_0``, ``bc_1``, ...
        kind: ``"pde"`` or ``"bc"``.
        text: SymPy text of the term as given.
        expr: The residual over lowered symbols (no ``Derivative`` left).
        coordinates: Input tensors, in creation order.
        sites: Network evaluations.
        derivatives: Derivative DAG nodes in topological order, each computed once.
        params: Identifiers of the parameters the residual uses.
        free: Columns that are sampled for this term.
        fixed: ``{column: value}`` for coordinates the condition fixes.
    """

    name: str
    kind: str
    text: str
    expr: sp.Expr
    coordinates: tuple[Coordinate, ...]
    sites: tuple[Site, ...]
    derivatives: tuple[DerivativeNode, ...]
    params: tuple[str, ...]
    free: tuple[int, ...]
    fixed: tuple[tuple[int, float], ...]


@dataclass(frozen=True, slots=True)
class DepvarIR:
    """A dependent variable: its network, output column and argument columns."""

    name: str
    ident: str
    args: tuple[int, ...]
    net: int
    column: int


@dataclass(frozen=True, slots=True)
class ProblemIR:
    """Everything code generation needs, and nothing it does not.

    Attributes:
        indvars: Identifiers of the independent variables, in column order.
        indvar_names: The user's names of the same variables.
        bounds: ``(lower, upper)`` per column.
        scaling: ``(mean, std)`` per column, or ``None`` where inputs are raw.
        depvars: Dependent variables.
        params: ``(identifier, user name)`` of every parameter.
        terms: Lowered terms, equations first.
    """

    indvars: tuple[str, ...]
    indvar_names: tuple[str, ...]
    bounds: tuple[tuple[float, float], ...]
    scaling: tuple[tuple[float, float] | None, ...]
    depvars: tuple[DepvarIR, ...]
    params: tuple[tuple[str, str], ...]
    terms: tuple[TermIR, ...]

    def network_label(self, net: int) -> str:
        """``"network i (for u, v)"``: how error messages name network ``i``.

        Examples:
            >>> dv = DepvarIR("u", "u", (0,), 0, 0)
            >>> ProblemIR(("x",), ("x",), ((0.0, 1.0),), (None,), (dv,), (), ()).network_label(0)
            'network 0 (for u)'
        """
        served = ", ".join(dv.name for dv in self.depvars if dv.net == net)
        return f"network {net} (for {served})"
