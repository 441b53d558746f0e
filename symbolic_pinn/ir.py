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
        name: Identifier in the generated code (``x``, or ``x_u_s1`` for a constant
            argument first used by site ``u_s1``: all sites holding that column at that
            value read it, so sites of one network at one point share its evaluation).
        column: Column of the points array it is shaped after.
        value: The constant it holds, or ``None`` to read the column.
        requires_grad: Whether some derivative is taken with respect to it.

    Examples:
        The heat equation differentiates with respect to both columns; its initial
        condition reads ``x`` from the points and holds ``t`` at 0:

        >>> import sympy as sp
        >>> from symbolic_pinn.analysis import analyze
        >>> from symbolic_pinn.problem import PDESystem
        >>> x, t = sp.symbols("x t"); u = sp.Function("u")
        >>> s = PDESystem([u(x, t).diff(t) - u(x, t).diff(x, 2)], [u(x, 0) - sp.sin(x)],
        ...               {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t)])
        >>> pde, ic = analyze(s, {"u": (0, 0)}, [None, None]).terms
        >>> [(c.name, c.column, c.value, c.requires_grad) for c in pde.coordinates]
        [('x', 0, None, True), ('t', 1, None, True)]
        >>> [(c.name, c.column, c.value, c.requires_grad) for c in ic.coordinates]
        [('x', 0, None, False), ('t', 1, 0.0, False)]
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
        text: The evaluation as the generated comments show it: ``u(x, t)``, also for
            a condition on a face such as ``u(0, t)`` (its ``x`` is a fixed column, see
            :attr:`TermIR.fixed`); ``u(0, t)`` for a site with a constant argument, whose
            tensor the term's other sites at that constant (``v(0, t)``) read too.
        args: Identifiers of the coordinate tensors fed to each argument slot.
        columns: The column of each slot's declared variable (its input scaling).
        net: Index of the network.
        column: Output column of the network.

    Examples:
        A periodic condition evaluates ``u`` at two sites, each with its own constant
        for ``x`` (shaped after column 0):

        >>> import sympy as sp
        >>> from symbolic_pinn.analysis import analyze
        >>> from symbolic_pinn.problem import PDESystem
        >>> x, t = sp.symbols("x t"); u = sp.Function("u")
        >>> s = PDESystem([u(x, t).diff(t) - u(x, t).diff(x, 2)], [u(0, t) - u(1, t)],
        ...               {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t)])
        >>> bc = analyze(s, {"u": (0, 0)}, [None, None]).terms[1]
        >>> bc.expr
        u_s1 - u_s2
        >>> for site in bc.sites:
        ...     print(site.name, site.fn, site.text, site.args, site.columns, site.net, site.column)
        u_s1 f_u_s1 u(0, t) ('x_u_s1', 't') (0, 1) 0 0
        u_s2 f_u_s2 u(1, t) ('x_u_s2', 't') (0, 1) 0 0
        >>> [(c.name, c.value) for c in bc.coordinates]
        [('t', None), ('x_u_s1', 0.0), ('x_u_s2', 1.0)]
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

    Examples:
        ``u_xx + u_xt`` needs three first-order steps: ``u_x`` is computed once and is
        the parent of both second derivatives:

        >>> import sympy as sp
        >>> from symbolic_pinn.analysis import analyze
        >>> from symbolic_pinn.problem import PDESystem
        >>> x, t = sp.symbols("x t"); u = sp.Function("u")
        >>> s = PDESystem([u(x, t).diff(x, 2) + u(x, t).diff(x, t)], [u(x, 0)],
        ...               {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t)])
        >>> pde = analyze(s, {"u": (0, 0)}, [None, None]).terms[0]
        >>> pde.expr
        u_xt + u_xx
        >>> for node in pde.derivatives:
        ...     print(f"{node.name} = d({node.parent})/d({node.wrt})", node.fn, node.site,
        ...           node.slot)
        u_x = d(u)/d(x) f_u_x u 0
        u_xt = d(u_x)/d(t) f_u_xt u 1
        u_xx = d(u_x)/d(x) f_u_xx u 0
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
        fixed: ``(column, value)`` pairs for the coordinates the condition fixes.

    Examples:
        >>> import sympy as sp
        >>> from symbolic_pinn.analysis import analyze
        >>> from symbolic_pinn.problem import PDESystem
        >>> x, t, a = sp.symbols("x t a"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x, t).diff(t), a * u(x, t).diff(x, 2))],
        ...               [sp.Eq(u(x, 0), sp.sin(sp.pi * x)), u(0, t)],
        ...               {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t)], {a: 0.1})
        >>> ir = analyze(s, {"u": (0, 0)}, [None, None])
        >>> for term in ir.terms:
        ...     print(term.name, term.kind, term.expr, term.params, term.free, term.fixed)
        pde_0 pde -a*u_xx + u_t ('a',) (0, 1) ()
        bc_0 bc u - sin(pi*x) () (0,) ((1, 0.0),)
        bc_1 bc u () (1,) ((0, 0.0),)
        >>> ir.terms[0].text
        'Eq(Derivative(u(x, t), t), a*Derivative(u(x, t), (x, 2)))'
        >>> [node.name for node in ir.terms[0].derivatives]
        ['u_t', 'u_x', 'u_xx']
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
    """A dependent variable: its network, output column and argument columns.

    Attributes:
        name: The user's name of the function (``u``).
        ident: Its identifier in the generated code (the name, made a safe Python name).
        args: Columns of its arguments, in argument order.
        net: Index of the network that evaluates it.
        column: Output column of that network.

    Examples:
        Two variables on one network with two outputs; ``lambda`` is a Python keyword,
        so its identifier differs from its name:

        >>> import sympy as sp
        >>> from symbolic_pinn.analysis import analyze
        >>> from symbolic_pinn.problem import PDESystem
        >>> x, t = sp.symbols("x t"); u, lam = sp.Function("u"), sp.Function("lambda")
        >>> s = PDESystem([u(x, t).diff(t) - lam(x)], [u(x, 0), lam(0)],
        ...               {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t), lam(x)])
        >>> ir = analyze(s, {"u": (0, 0), "lambda": (0, 1)}, [None, None])
        >>> for dv in ir.depvars:
        ...     print(dv.name, dv.ident, dv.args, dv.net, dv.column)
        u u (0, 1) 0 0
        lambda lambda_ (0,) 0 1
        >>> ir.terms[0].expr
        -lambda_ + u_t
    """

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

    Examples:
        The IR of a discretization, with standardized inputs (mean and standard
        deviation of the uniform distribution on each interval):

        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, symbolic_discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> x, t, k = sp.symbols("x t kappa"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x, t).diff(t), k * u(x, t).diff(x, 2))], [u(x, 0) - 1],
        ...               {x: (0, 1), t: (0, 2)}, [x, t], [u(x, t)], {k: 0.1})
        >>> pinn = PhysicsInformedNN(MLP(2, 1, [8]), GridTraining(0.5),
        ...                          input_scaling="standardize")
        >>> ir = symbolic_discretize(s, pinn).ir
        >>> ir.indvars, ir.bounds, ir.params
        (('x', 't'), ((0.0, 1.0), (0.0, 2.0)), (('kappa', 'kappa'),))
        >>> [(round(mean, 4), round(std, 4)) for mean, std in ir.scaling]
        [(0.5, 0.2887), (1.0, 0.5774)]
        >>> [term.name for term in ir.terms], ir.network_label(0)
        (['pde_0', 'bc_0'], 'network 0 (for u)')
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
