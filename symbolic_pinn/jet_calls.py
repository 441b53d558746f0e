"""The ``jet`` calls of the generated residuals (``derivatives="taylor"``).

A term makes one :func:`~symbolic_pinn.jets.jet` call per network evaluation
(:func:`term_jets`). Terms that the training strategy gives the same points, such as the
three Navier–Stokes equations under ``GridTraining``, or two conditions on one face, can
share those calls: :func:`shared_groups` finds them, and the generated ``all_residuals``
evaluates each group with one call per network and input whenever the points are one tensor
(the run makes equal points one tensor).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import sympy as sp

from .channels import is_combination
from .ir import Coordinate, ProblemIR, Site, TermIR
from .naming import Namer
from .printing import scaled_input, torch_code
from .top_order import combine_top_order, derivative_orders

__all__ = ["shared_groups"]  # batched_input, call_key and term_jets serve codegen


def batched_input(ir: ProblemIR, args, columns) -> str:
    """The network input of one evaluation: its coordinates, standardised where the
    problem standardises, as one ``(N, k)`` tensor."""
    inputs = []
    for name, column in zip(args, columns):
        scale = ir.scaling[column]
        inputs.append(name if scale is None else scaled_input(name, *scale))
    return inputs[0] if len(inputs) == 1 else f"torch.cat(({', '.join(inputs)}), dim=1)"


def term_jets(ir: ProblemIR, term: TermIR) -> tuple[list[dict], sp.Expr]:
    """One ``jet`` call per network evaluation: the values and derivatives the residual
    uses, their multi-indices and output columns (intermediate derivatives of the DAG are
    propagated inside ``jet`` but not returned), and the residual to print with them.

    Where the residual is linear, with constant coefficients, in two or more top-order
    derivatives of one site (``-u_xx - u_yy``, ``u_tt - 4*u_xx``, Burgers' ``u_t - ν u_xx``),
    the jet returns their combination from one channel and the residual reads that
    (:func:`symbolic_pinn.top_order.combine_top_order`).
    """
    orders = derivative_orders(term)
    groups: dict[tuple, list[Site]] = {}
    for site in term.sites:
        groups.setdefault((site.net, site.args), []).append(site)
    used = {str(sym) for sym in term.expr.free_symbols}  # jet returns only what is used
    expr, combos = combine_top_order(term, orders, used)
    folded = {n for _, members, _ in combos.values() for _, n in members}
    out = []
    for (net, args), sites in groups.items():
        entries, combined = [], []
        for site in sites:
            chain = [site.name] + [n.name for n in term.derivatives if n.site == site.name]
            entries += [(n, orders[n][1], site.column)
                        for n in chain if n in used and n not in folded]
            for name, (owner, members, text) in combos.items():
                if owner == site.name:
                    alpha = tuple((c, orders[n][1]) for c, n in members)
                    entries.append((name, alpha, site.column))
                    combined.append((name, text))
        if not entries:
            continue
        key = call_key(ir, term, sites[0])
        out.append(_call(net, batched_input(ir, args, sites[0].columns), key[2], entries,
                         [s.text for s in sites], combined, key, args, sites[0].columns))
    return out, expr


def call_key(ir: ProblemIR | None, term: TermIR, site: Site) -> tuple:
    """What makes two terms' evaluations of a network one call: the network, what each
    input column holds (its column and fixed value), and the input scaling (the
    derivative of each input with respect to its coordinate: ``1/std`` where the problem
    standardises; left out without ``ir``)."""
    coordinates = {c.name: c for c in term.coordinates}
    spec = tuple((coordinates[a].column, coordinates[a].value) for a in site.args)
    if ir is None:
        return site.net, spec
    scale = tuple(1.0 if ir.scaling[c] is None else 1.0 / ir.scaling[c][1]
                  for c in site.columns)
    return site.net, spec, scale


def _call(net, batched, scale, entries, site_texts, combined, key, args, columns) -> dict:
    names = [name for name, _, _ in entries]
    outputs = [column for _, _, column in entries]
    texts = [", ".join(site_texts)] + [f"{name} = {text}" for name, text in combined]
    return {
        "names": ", ".join(names),
        "single": len(names) == 1,
        "net": net,
        "batched_input": batched,
        "orders": _tuple(", ".join(_alpha(a) for _, a, _ in entries), len(entries)),
        "scale": _tuple(", ".join(repr(float(v)) for v in scale), len(scale)),
        "column": outputs[0] if len(set(outputs)) == 1 else f"({', '.join(map(str, outputs))})",
        "texts": "; ".join(texts),
        # for shared_groups
        "key": key, "entries": entries, "site_texts": site_texts, "combined": combined,
        "args": args, "columns": columns,
    }


def _alpha(alpha) -> str:
    if is_combination(alpha):  # ((c, alpha), ...)
        return _tuple(", ".join(f"({c!r}, {_alpha(a)})" for c, a in alpha), len(alpha))
    return _tuple(", ".join(map(str, alpha)), len(alpha))


def _tuple(inner: str, n: int) -> str:
    return f"({inner},)" if n == 1 else f"({inner})"


def shared_groups(ir: ProblemIR, terms: list[dict]) -> list[dict]:
    """Groups of terms that can share their ``jet`` calls when they share their points.

    Candidates are the terms on the forward-propagated path that sample the same columns
    and fix the same values (all equations of a problem; the conditions on one face). A
    group keeps those that share at least one call (the same network at the same inputs)
    with another member; it needs two members. A constant coordinate that has another
    member's name but another value (``u(0, t)`` in one equation, ``u(1, t)`` in the next)
    is renamed in the group.

    Args:
        ir: The analysed problem.
        terms: The terms' generation contexts, in the order of ``ir.terms``.

    Returns:
        Per group, the context of its generated function ``shared_residuals_<k>``: the
        terms, their coordinates and parameters, the merged calls (one per network and
        input) and each term's residual over the merged calls' names.

    Examples:
        Two equations on one network: one call returns what both read (``v_comb`` adds
        one channel).

        >>> from symbolic_pinn.analysis import analyze
        >>> from symbolic_pinn.codegen import generate
        >>> from symbolic_pinn.problem import PDESystem
        >>> x, y = sp.symbols("x y"); u, v = sp.Function("u"), sp.Function("v")
        >>> U, V = u(x, y), v(x, y)
        >>> s = PDESystem([U.diff(x, 2) + U.diff(y, 2) - V, V.diff(x) + V.diff(y) - U],
        ...               [u(0, y), v(0, y)], {x: (0, 1), y: (0, 1)}, [x, y], [U, V])
        >>> from symbolic_pinn.codegen import GenerationOptions
        >>> source = generate(analyze(s, {"u": (0, 0), "v": (0, 1)}, [None, None]),
        ...                   GenerationOptions(derivatives="taylor"))
        >>> body = source.split("def shared_residuals_0")[1].split("def shared_residuals_1")[0]
        >>> for line in body.strip().splitlines()[-7:]:
        ...     print(line)
            x = points[:, 0:1]
            y = points[:, 1:2]
            u_comb, v, u, v_comb = jet(nets[0], torch.cat((x, y), dim=1), (((1.0, (2, 0)), (1.0, (0, 2))), (0, 0), (0, 0), ((1.0, (1, 0)), (1.0, (0, 1)))), scale=(1.0, 1.0), column=(0, 1, 0, 1))  # u(x, y), v(x, y); u_comb = u_xx + u_yy; v_comb = v_x + v_y
            return (
                u_comb - v,  # pde_0
                -u + v_comb,  # pde_1
            )
        >>> [line for line in source.splitlines() if line.startswith("SHARED")]
        ['SHARED = (("pde_0", "pde_1"), ("bc_0", "bc_1"))']
    """
    candidates: dict[tuple, list[tuple[TermIR, dict]]] = {}
    for term, ctx in zip(ir.terms, terms):
        if ctx["taylor"] and not ctx["constant"] and ctx["jets"]:
            candidates.setdefault((term.free, term.fixed), []).append((term, ctx))
    groups = []
    for members in candidates.values():
        calls = Counter(key for _, ctx in members for key in {j["key"] for j in ctx["jets"]})
        members = [(t, c) for t, c in members if any(calls[j["key"]] > 1 for j in c["jets"])]
        if len(members) > 1:
            groups.append(_merged(ir, f"shared_residuals_{len(groups)}", members))
    return groups


def _merged(ir: ProblemIR, name: str, members: list) -> dict:
    params = list(dict.fromkeys(p for term, _ in members for p in term.params))
    namer = Namer({c.name for term, _ in members for c in term.coordinates} | set(params))
    coordinates: dict[str, Coordinate] = {}
    channel: dict[tuple, str] = {}  # (call, multi-index, column) -> its name in the group
    calls: dict[tuple, dict] = {}
    returns, read = [], set()
    for term, ctx in members:
        rename: dict[str, str] = {}
        for c in term.coordinates:  # one name, one column and value
            held = coordinates.get(c.name)
            if held is not None and (held.column, held.value) != (c.column, c.value):
                rename[c.name] = namer.claim(c.name)
                c = replace(c, name=rename[c.name])
            coordinates[c.name] = c
        for jet in ctx["jets"]:
            if jet["key"] not in calls:
                args = tuple(rename.get(a, a) for a in jet["args"])
                calls[jet["key"]] = {
                    "jet": jet, "args": args, "entries": [], "site_texts": [], "combined": [],
                    "batched_input": batched_input(ir, args, jet["columns"])}
            call = calls[jet["key"]]
            for old, alpha, column in jet["entries"]:
                if (jet["key"], alpha, column) not in channel:
                    channel[jet["key"], alpha, column] = new = namer.claim(old)
                    call["entries"].append((new, alpha, column))
                rename[old] = channel[jet["key"], alpha, column]
            call["site_texts"] += [t for t in jet["site_texts"] if t not in call["site_texts"]]
            call["combined"] += [(rename[n], t) for n, t in jet["combined"]
                                 if (rename[n], t) not in call["combined"]]
        expr = ctx["batched_expr"].xreplace(
            {s: sp.Symbol(rename[s.name], **s.assumptions0)
             for s in ctx["batched_expr"].free_symbols if rename.get(s.name, s.name) != s.name})
        returns.append({"term": term.name, "code": torch_code(expr), "expr": expr})
        read |= {s.name for s in expr.free_symbols}
    # a merged call reads its first term's coordinates: another term's of the same
    # column and value are not needed
    read |= {a for c in calls.values() for a in c["args"]}
    return {
        "name": name,
        "autograd": False,
        "terms": [term.name for term, _ in members],
        "params": params,
        "coordinates": [c for c in coordinates.values() if c.name in read],
        "jets": [_call(c["jet"]["net"], c["batched_input"], c["jet"]["key"][2], c["entries"],
                       c["site_texts"], c["combined"], c["jet"]["key"], c["args"],
                       c["jet"]["columns"])
                 for c in calls.values()],
        "returns": returns,
    }
