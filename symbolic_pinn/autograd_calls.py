"""The network calls of the autograd path (``derivatives="autograd"``) that may be stacked.

On the autograd path a term evaluates its networks and spells out its derivative DAG,
one ``d(y, x)`` (one ``torch.autograd.grad``) per node. A term that evaluates one
network at one input is described here as :mod:`symbolic_pinn.jet_calls` describes a
``jet`` call (the values and derivatives it reads, by multi-index and output column), so
that :mod:`symbolic_pinn.stacking` can stack such terms at different points into one
call: the network on their stacked rows, then the DAG of the first of them, then the
values and derivatives split back per term (:func:`stacked_dag`).
"""

from __future__ import annotations

from .ir import ProblemIR, TermIR
from .jet_calls import _call, batched_input
from .naming import Namer
from .top_order import derivative_orders

__all__ = ["autograd_call", "stacked_dag", "stacked_names"]


def autograd_call(ir: ProblemIR, term: TermIR) -> dict | None:
    """The one network call of an autograd-path term and what its residual reads from it:
    a :func:`~symbolic_pinn.jet_calls.term_jets` entry (no combined channels), with the
    term itself under ``"term"``; ``None`` for a term that evaluates no network or
    several (two networks, or one at two inputs: ``u(0, t) - u(1, t)``).

    Examples:
        >>> import sympy as sp
        >>> from symbolic_pinn.analysis import analyze
        >>> from symbolic_pinn.problem import PDESystem
        >>> x, t = sp.symbols("x t"); u = sp.Function("u")
        >>> s = PDESystem([u(x, t).diff(t) - u(x, t).diff(x, 2)],
        ...               [sp.Eq(u(x, t).diff(x).subs(x, 0), 0), u(0, t) - u(1, t)],
        ...               {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t)])
        >>> ir = analyze(s, {"u": (0, 0)}, [None, None])
        >>> autograd_call(ir, ir.terms[1])["entries"]  # u_x, at x = 0
        [('u_x', (1, 0), 0)]
        >>> autograd_call(ir, ir.terms[2]) is None  # u at two inputs
        True
    """
    if not term.sites or len({(s.net, s.args) for s in term.sites}) != 1:
        return None
    orders = derivative_orders(term)
    used = {str(sym) for sym in term.expr.free_symbols}
    entries = []
    for site in term.sites:
        chain = [site.name] + [n.name for n in term.derivatives if n.site == site.name]
        entries += [(n, orders[n][1], site.column) for n in chain if n in used]
    site = term.sites[0]
    scale = tuple(1.0 if ir.scaling[c] is None else 1.0 / ir.scaling[c][1]
                  for c in site.columns)
    coordinates = {c.name: c for c in term.coordinates}
    key = (site.net, tuple((coordinates[a].column, coordinates[a].value) for a in site.args),
           scale)
    call = _call(site.net, batched_input(ir, site.args, site.columns), scale, entries,
                 [s.text for s in term.sites], [], key, site.args, site.columns)
    call["term"] = term
    return call


def stacked_names(call: dict, namer: Namer) -> dict[str, str]:
    """The stacked names of the first term's arguments, sites and DAG nodes (``x``, ``u``,
    ``u_x``, ...), claimed before the units' own names so that they stay short.

    Examples:
        Two Neumann conditions of the heat equation, ``u_x(0, t) = 0`` and
        ``u_x(1, t) = t``, stacked; a name already taken gets a suffix:

        >>> import sympy as sp
        >>> from symbolic_pinn.analysis import analyze
        >>> from symbolic_pinn.problem import PDESystem
        >>> x, t = sp.symbols("x t"); u = sp.Function("u")
        >>> s = PDESystem([u(x, t).diff(t) - u(x, t).diff(x, 2)],
        ...               [sp.Eq(u(x, t).diff(x).subs(x, 0), 0),
        ...                sp.Eq(u(x, t).diff(x).subs(x, 1), t)],
        ...               {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t)])
        >>> ir = analyze(s, {"u": (0, 0)}, [None, None])
        >>> call = autograd_call(ir, ir.terms[1])
        >>> stacked_names(call, Namer({"x"}))
        {'x': 'x_2', 't': 't', 'u': 'u', 'u_x': 'u_x'}
    """
    term = call["term"]
    order = [*call["args"], *(s.name for s in term.sites), *(n.name for n in term.derivatives)]
    return {name: namer.claim(name) for name in dict.fromkeys(order)}


def stacked_dag(ir: ProblemIR, call: dict, names: dict[str, str], inputs: list[list[str]],
                namer: Namer) -> dict:
    """The DAG of a stacked call with derivatives: its first term's, on the stacked rows.

    Args:
        ir: The analysed problem.
        call: The first term's :func:`autograd_call`.
        names: Its :func:`stacked_names`.
        inputs: Per argument of the call, the units' names of that coordinate.
        namer: The stacked function's names.

    Returns:
        The template's context: the stacked coordinates, each marked for
        differentiation where the DAG differentiates against it, the network call's
        input and sites (its output named when it serves several), and the nodes.

    Examples:
        The two conditions of :func:`stacked_names`' example: ``x`` is differentiated,
        ``t`` is not.

        >>> import sympy as sp
        >>> from symbolic_pinn.analysis import analyze
        >>> from symbolic_pinn.problem import PDESystem
        >>> x, t = sp.symbols("x t"); u = sp.Function("u")
        >>> s = PDESystem([u(x, t).diff(t) - u(x, t).diff(x, 2)],
        ...               [sp.Eq(u(x, t).diff(x).subs(x, 0), 0),
        ...                sp.Eq(u(x, t).diff(x).subs(x, 1), t)],
        ...               {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t)])
        >>> ir = analyze(s, {"u": (0, 0)}, [None, None])
        >>> call, namer = autograd_call(ir, ir.terms[1]), Namer(set())
        >>> names = stacked_names(call, namer)
        >>> dag = stacked_dag(ir, call, names, [["x_bc_0", "x_bc_1"], ["t_bc_0", "t_bc_1"]],
        ...                   namer)
        >>> [(c["name"], c["parts"], c["grad"]) for c in dag["coordinates"]]
        [('x', 'x_bc_0, x_bc_1', True), ('t', 't_bc_0, t_bc_1', False)]
        >>> dag["input"], dag["nodes"]
        ('torch.cat((x, t), dim=1)', [{'name': 'u_x', 'parent': 'u', 'wrt': 'x'}])
    """
    term = call["term"]
    wrt = {node.wrt for node in term.derivatives}
    sites = [{"name": names[s.name], "column": s.column, "text": s.text} for s in term.sites]
    return {
        "coordinates": [{"name": names[a], "parts": ", ".join(parts), "grad": a in wrt}
                        for a, parts in zip(call["args"], inputs)],
        "input": batched_input(ir, [names[a] for a in call["args"]], call["columns"]),
        "sites": sites,
        "out": namer.claim(f"net{call['net']}_out") if len(sites) > 1 else None,
        "nodes": [{"name": names[n.name], "parent": names[n.parent], "wrt": names[n.wrt]}
                  for n in term.derivatives],
    }
