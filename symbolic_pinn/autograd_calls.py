"""The network calls of the autograd path (``derivatives="autograd"``) that may be stacked.

On the autograd path a term evaluates its networks and spells out its derivative DAG,
one ``d(y, x)`` (one ``torch.autograd.grad``) per differentiated value: the nodes that
differentiate one parent are one call (:func:`derivative_calls`). A term that evaluates one
network at one input is described here as :mod:`symbolic_pinn.jet_calls` describes a
``jet`` call (the values and derivatives it reads, by multi-index and output column), so
that :mod:`symbolic_pinn.stacking` can stack such terms at different points into one
call: the network on their stacked rows, then the DAG of the first of them, then the
values and derivatives split back per term (:func:`stacked_dag`).
"""

from __future__ import annotations

from dataclasses import replace

import sympy as sp

from .ir import Coordinate, DerivativeNode, ProblemIR, Site, TermIR
from .jet_calls import _call, batched_input, call_key
from .naming import Namer
from .top_order import derivative_orders

__all__ = ["autograd_call", "derivative_calls", "input_calls", "merged_term", "sharing_groups",
           "stacked_dag", "stacked_names"]


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
    key = call_key(ir, term, site)
    call = _call(site.net, batched_input(ir, site.args, site.columns), key[2], entries,
                 [s.text for s in term.sites], [], key, site.args, site.columns)
    call["term"] = term
    return call


def input_calls(ir: ProblemIR, term: TermIR) -> list[dict]:
    """The network calls of an autograd-path term that evaluates a network at several
    inputs (``u(-1, t) - u(1, t)``), one per network and input, each described as
    :func:`autograd_call` describes a term's one call, with the part of the term that
    makes it (its sites, and their derivatives) under ``"term"``; ``[]`` for a term with
    fewer than two. :mod:`symbolic_pinn.stacking` stacks them like calls of several terms.

    Examples:
        A periodic condition on the slope: two calls, each with its site's ``u_x``.

        >>> import sympy as sp
        >>> from symbolic_pinn.analysis import analyze
        >>> from symbolic_pinn.problem import PDESystem
        >>> x, t = sp.symbols("x t"); u = sp.Function("u")
        >>> ux = u(x, t).diff(x)
        >>> s = PDESystem([u(x, t).diff(t) - u(x, t).diff(x, 2)],
        ...               [ux.subs(x, -1) - ux.subs(x, 1)],
        ...               {x: (-1, 1), t: (0, 1)}, [x, t], [u(x, t)])
        >>> ir = analyze(s, {"u": (0, 0)}, [None, None])
        >>> [(c["args"], c["entries"]) for c in input_calls(ir, ir.terms[1])]
        [(('x_u_s1', 't'), [('u_s1_x', (1, 0), 0)]), (('x_u_s2', 't'), [('u_s2_x', (1, 0), 0)])]
    """
    by_input: dict[tuple, list[Site]] = {}
    for site in term.sites:
        by_input.setdefault((site.net, site.args), []).append(site)
    if len(by_input) < 2:
        return []
    calls = []
    for sites in by_input.values():
        names = {site.name for site in sites}
        part = replace(term, sites=tuple(sites),
                       derivatives=tuple(n for n in term.derivatives if n.site in names))
        calls.append(autograd_call(ir, part))
    return calls


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
        differentiation where the DAG differentiates against it, then the network call
        and the nodes as the per-term functions lay them out (``evaluations``, its output
        named when it serves several sites, and ``derivatives``).

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
        >>> dag["evaluations"][0]["batched_input"], dag["derivatives"]
        ('torch.cat((x, t), dim=1)', [{'name': 'u_x', 'parent': 'u', 'wrt': 'x'}])
    """
    term = call["term"]
    wrt = {node.wrt for node in term.derivatives}
    sites = [{"name": names[s.name], "column": s.column, "text": s.text} for s in term.sites]
    return {
        "coordinates": [{"name": names[a], "parts": ", ".join(parts), "grad": a in wrt}
                        for a, parts in zip(call["args"], inputs)],
        "evaluations": [{
            "name": namer.claim(f"net{call['net']}_out") if len(sites) > 1 else None,
            "net": call["net"], "sites": sites,
            "batched_input": batched_input(ir, [names[a] for a in call["args"]],
                                           call["columns"])}],
        "derivatives": [{"name": names[n.name], "parent": names[n.parent],
                         "wrt": names[n.wrt]} for n in term.derivatives],
    }


def derivative_calls(nodes: list[dict]) -> list[dict]:
    """The derivative DAG as the ``torch.autograd.grad`` calls that compute it: the nodes
    that differentiate one parent are one call, one backward pass for all of them (where
    each took a pass of its own through the network), at the place of the first of them.

    Args:
        nodes: The DAG's nodes in a topological order, as ``name``, ``parent`` and
            ``wrt`` (the coordinate) identifiers.

    Returns:
        One entry per parent, in an order that still computes each parent before its
        call: ``names`` and ``wrt`` (joined with ", ", in the nodes' order) and ``parent``.

    Examples:
        Burgers' ``u_t + u u_x - nu u_xx``: ``u_t`` and ``u_x`` are one call.

        >>> dag = [{"name": "u_t", "parent": "u", "wrt": "t"},
        ...        {"name": "u_x", "parent": "u", "wrt": "x"},
        ...        {"name": "u_xx", "parent": "u_x", "wrt": "x"}]
        >>> for call in derivative_calls(dag):
        ...     print(f"{call['names']} = d({call['parent']}, {call['wrt']})")
        u_t, u_x = d(u, t, x)
        u_xx = d(u_x, x)
    """
    calls: dict[str, dict] = {}
    for node in nodes:
        call = calls.setdefault(node["parent"], {"parent": node["parent"], "names": [], "wrt": []})
        call["names"].append(node["name"])
        call["wrt"].append(node["wrt"])
    return [{"names": ", ".join(c["names"]), "parent": c["parent"], "wrt": ", ".join(c["wrt"])}
            for c in calls.values()]


def sharing_groups(candidates: list[TermIR]) -> list[list[TermIR]]:
    """The terms that may share their network calls when they share their points: those
    that sample the same columns and fix the same values, and evaluate a network at an
    input another of them evaluates it at; a group needs two.

    Examples:
        >>> import sympy as sp
        >>> from symbolic_pinn.analysis import analyze
        >>> from symbolic_pinn.problem import PDESystem
        >>> x, y = sp.symbols("x y"); u, v = sp.Function("u"), sp.Function("v")
        >>> U, V = u(x, y), v(x, y)
        >>> s = PDESystem([U.diff(x, 2) - V, V.diff(y) - U], [u(0, y), v(0, y), u(x, 0)],
        ...               {x: (0, 1), y: (0, 1)}, [x, y], [U, V])
        >>> ir = analyze(s, {"u": (0, 0), "v": (1, 0)}, [None, None])
        >>> [[t.name for t in g] for g in sharing_groups(list(ir.terms))]
        [['pde_0', 'pde_1']]
    """
    by_domain: dict[tuple, list[TermIR]] = {}
    for term in candidates:
        by_domain.setdefault((term.free, term.fixed), []).append(term)
    groups = []
    for members in by_domain.values():
        keys = [{call_key(None, t, s) for s in t.sites} for t in members]
        shared = [t for i, t in enumerate(members)
                  if any(keys[i] & other for j, other in enumerate(keys) if j != i)]
        if len(shared) > 1:
            groups.append(shared)
    return groups


def merged_term(name: str, terms: list[TermIR]) -> tuple[TermIR, list[sp.Expr]]:
    """One term that evaluates what ``terms`` evaluate at the same points, each network
    at each input once and each derivative once, and each term's residual over its names.

    A coordinate is one per column and value, marked for differentiation if any term
    differentiates against it; a site one per network, output column and input; a
    derivative node one per site and multi-index. A name another member uses for
    something else gets a suffix. The merged term's ``expr`` is the tuple of the
    residuals (what :func:`autograd_call` reads).

    Examples:
        ``u_x`` of the first equation is the one the second reads:

        >>> import sympy as sp
        >>> from symbolic_pinn.analysis import analyze
        >>> from symbolic_pinn.problem import PDESystem
        >>> x, y = sp.symbols("x y"); u = sp.Function("u")
        >>> U = u(x, y)
        >>> s = PDESystem([U.diff(x, 2) + U.diff(y, 2), U.diff(x) - U], [u(0, y)],
        ...               {x: (0, 1), y: (0, 1)}, [x, y], [U])
        >>> ir = analyze(s, {"u": (0, 0)}, [None, None])
        >>> term, exprs = merged_term("shared", list(ir.terms[:2]))
        >>> [n.name for n in term.derivatives], exprs
        (['u_y', 'u_x', 'u_yy', 'u_xx'], [u_xx + u_yy, -u + u_x])
    """
    params = tuple(dict.fromkeys(p for t in terms for p in t.params))
    namer = Namer(set(params))
    coordinates: dict[tuple, Coordinate] = {}
    sites: dict[tuple, Site] = {}
    nodes: dict[tuple, DerivativeNode] = {}
    exprs = []
    for term in terms:
        rename: dict[str, str] = {}
        for c in term.coordinates:
            held = coordinates.get((c.column, c.value))
            if held is None:
                held = replace(c, name=namer.claim(c.name))
            coordinates[c.column, c.value] = held = replace(
                held, requires_grad=held.requires_grad or c.requires_grad)
            rename[c.name] = held.name
        keys = {}
        for site in term.sites:
            keys[site.name] = key = (site.net, site.column, tuple(rename[a] for a in site.args))
            if key not in sites:
                sites[key] = replace(site, name=namer.claim(site.name), args=key[2])
            rename[site.name] = sites[key].name
        orders = derivative_orders(term)
        for n in term.derivatives:
            key = (keys[n.site], orders[n.name][1])
            if key not in nodes:
                nodes[key] = replace(n, name=namer.claim(n.name), parent=rename[n.parent],
                                     site=rename[n.site], wrt=rename[n.wrt])
            rename[n.name] = nodes[key].name
        exprs.append(term.expr.xreplace({s: sp.Symbol(rename[s.name], **s.assumptions0)
                                         for s in term.expr.free_symbols
                                         if rename.get(s.name, s.name) != s.name}))
    merged = replace(terms[0], name=name, expr=sp.Tuple(*exprs),
                     coordinates=tuple(coordinates.values()), sites=tuple(sites.values()),
                     derivatives=tuple(nodes.values()), params=params)
    return merged, exprs
