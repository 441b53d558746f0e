"""Which derivatives of a residual travel through the network as one combined channel.

Code generation (:mod:`symbolic_pinn.jet_calls`) and the NTK diagonals
(:mod:`symbolic_pinn.term_plan`) read a term's derivatives as multi-indices per network
call (:func:`derivative_orders`) and fold the top-order ones that a residual holds
linearly into one channel (:func:`combine_top_order`): the symbolic half of
:mod:`symbolic_pinn.channels`, kept apart so that the generated code's runtime does not
import SymPy.
"""

from __future__ import annotations

import sympy as sp

from .ir import TermIR
from .naming import Namer

__all__ = ["derivative_orders", "combine_top_order"]

Multi = tuple[int, ...]  # derivative orders per input slot


def derivative_orders(term: TermIR) -> dict[str, tuple[str, Multi]]:
    """``{name: (site, α)}`` for every site value and derivative node of a term.

    Examples:
        >>> from symbolic_pinn.analysis import analyze
        >>> from symbolic_pinn.problem import PDESystem
        >>> x, t = sp.symbols("x t"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x, t).diff(x, t), u(x, t).diff(x, 2))], [u(x, 0)],
        ...               {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t)])
        >>> term = analyze(s, {"u": (0, 0)}, [None, None]).terms[0]
        >>> term.expr
        u_xt - u_xx
        >>> derivative_orders(term)  # u_xt and u_xx are both taken from u_x
        {'u': ('u', (0, 0)), 'u_x': ('u', (1, 0)), 'u_xt': ('u', (1, 1)), 'u_xx': ('u', (2, 0))}
    """
    orders = {s.name: (s.name, (0,) * len(s.args)) for s in term.sites}
    for node in term.derivatives:  # topological order: parents first
        site, alpha = orders[node.parent]
        orders[node.name] = (site, tuple(k + (i == node.slot) for i, k in enumerate(alpha)))
    return orders


def combine_top_order(term: TermIR, orders: dict, used: set[str]) -> tuple[sp.Expr, dict]:
    """Fold, per site, the top-order derivatives the residual holds linearly with constant
    coefficients into one combined channel: ``-u_xx - u_yy`` becomes ``u_comb``, and
    Burgers' ``u_t - ν u_xx`` (beside ``u u_x``) travels as one channel, not two.

    A derivative is top-order when no other derivative the residual takes from the same
    network call lies at or above it (else its channel is carried anyway: ``u_x`` below
    ``u_xx``); it may have any order ≥ 1. It qualifies when it is top-order,
    the residual's partial derivative with respect to it is a nonzero real number ``c``,
    and the residual less ``c`` times it no longer holds it (so not in a ``Piecewise``
    condition either). At least two must qualify.

    Returns the residual over the combined symbols and, per combination,
    ``{name: (site, ((c, derivative), ...), text)}``.

    Examples:
        Burgers' equation with ``ν = 1/100``: ``u_x`` lies below ``u_xx`` and stays,
        ``u_t`` and ``u_xx`` fold into ``u_comb``; substituting the text back gives the
        residual:

        >>> from symbolic_pinn.analysis import analyze
        >>> from symbolic_pinn.problem import PDESystem
        >>> x, t = sp.symbols("x t"); u = sp.Function("u")
        >>> eq = sp.Eq(u(x, t).diff(t) + u(x, t) * u(x, t).diff(x), u(x, t).diff(x, 2) / 100)
        >>> s = PDESystem([eq], [u(x, 0)], {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t)])
        >>> term = analyze(s, {"u": (0, 0)}, [None, None]).terms[0]
        >>> used = {v.name for v in term.expr.free_symbols}
        >>> expr, combos = combine_top_order(term, derivative_orders(term), used)
        >>> expr
        u*u_x + u_comb
        >>> combos
        {'u_comb': ('u', ((-0.01, 'u_xx'), (1.0, 'u_t')), 'u_t - u_xx/100')}
        >>> back = sp.expand(expr.subs(sp.Symbol("u_comb"), sp.sympify(combos["u_comb"][2])))
        >>> back, back == term.expr
        (u*u_x + u_t - u_xx/100, True)
    """
    expr, combos = term.expr, {}
    taken = {c.name for c in term.coordinates} | set(term.params) | set(orders)
    namer = Namer(taken | {s.fn for s in term.sites} | {n.fn for n in term.derivatives})
    call_of = {s.name: (s.net, s.args) for s in term.sites}  # one jet call per (net, args)
    for site in term.sites:
        mine = {n: a for n, (s, a) in orders.items() if s == site.name and n in used}
        same_call = {n: a for n, (s, a) in orders.items()
                     if call_of[s] == call_of[site.name] and n in used}
        picked = []
        for name, alpha in mine.items():
            below = any(other != name and all(x <= y for x, y in zip(alpha, b))
                        for other, b in same_call.items())
            if not any(alpha) or below:  # the value is not a derivative
                continue
            symbol = sp.Symbol(name)
            coef = sp.diff(expr, symbol)
            if not (coef.is_number and coef.is_extended_real and coef != 0):
                continue
            # linear means nowhere else either: a Piecewise condition, or a function whose
            # derivative cancels, still reads the derivative after it is folded away
            if symbol in sp.expand(expr - coef * symbol).free_symbols:
                continue
            picked.append((coef, name))
        if len(picked) < 2:
            continue
        picked.sort(key=lambda cn: tuple(-k for k in mine[cn[1]]))  # u_xx before u_yy
        name = namer.claim(f"{site.name}_comb")
        text = str(sp.Add(*(c * sp.Symbol(n) for c, n in picked)))
        expr = expr.subs({sp.Symbol(n): 0 for _, n in picked}) + sp.Symbol(name)
        combos[name] = (site.name, tuple((float(c), n) for c, n in picked), text)
    return expr, combos
