"""The evaluations of a per-point residual (``point_residual_<term>``, for ``torch.func``).

A per-point residual defines one function per site (``f_u``) and per derivative
(``f_u_x = grad(f_u, argnums=0)``), then evaluates the values its expression reads.
Each evaluation runs the network again, forward and backward as often as the
derivative's order: evaluated one by one, Burgers' ``u``, ``u_t``, ``u_x`` and ``u_xx``
take four forward passes. :func:`point_evaluations` takes the derivatives of one value
that the residual reads in one call, with the value itself where it is read too
(``(u_t, u_x), u = grad_and_value(f_u, argnums=(1, 0))(x, t)``), and defines only the
functions that something still calls. Under ``vmap`` (the exact NTK diagonals of any
module) every evaluation counts once per point.
"""

from __future__ import annotations

from .ir import TermIR

__all__ = ["point_evaluations"]


def point_evaluations(term: TermIR, used: set[str]) -> tuple[list[dict], list[str]]:
    """The evaluations of a per-point residual, and the derivative functions it defines.

    The children of one value that the residual reads are one ``grad`` call over their
    argument slots, or one ``grad_and_value`` call when the value is read too and no
    earlier call gave it; a child alone whose value is not read, and every other value,
    is evaluated by its own function.

    Args:
        term: The analysed term.
        used: The names of the values (sites and derivatives) its residual reads.

    Returns:
        ``(evaluations, functions)``: per evaluation, ``target``, ``call`` and ``args``
        (``target = call(args)``); and the derivative nodes' names whose functions are
        called, directly or by another one's ``grad``, in the DAG's order.

    Examples:
        Burgers' ``u*u_x + u_t - nu*u_xx``: two evaluations where there were four.

        >>> import sympy as sp
        >>> from symbolic_pinn.analysis import analyze
        >>> from symbolic_pinn.problem import PDESystem
        >>> x, t = sp.symbols("x t"); u = sp.Function("u"); U = u(x, t)
        >>> s = PDESystem([U * U.diff(x) + U.diff(t) - U.diff(x, 2) / 100], [u(x, 0)],
        ...               {x: (-1, 1), t: (0, 1)}, [x, t], [U])
        >>> term = analyze(s, {"u": (0, 0)}, [None, None]).terms[0]
        >>> evaluations, functions = point_evaluations(
        ...     term, {str(v) for v in term.expr.free_symbols})
        >>> for e in evaluations:
        ...     print(f"{e['target']} = {e['call']}({e['args']})")
        (u_t, u_x), u = grad_and_value(f_u, argnums=(1, 0))(x, t)
        u_xx = f_u_xx(x, t)
        >>> functions
        ['u_x', 'u_xx']
    """
    fns = {s.name: s.fn for s in term.sites} | {n.name: n.fn for n in term.derivatives}
    site_args = {s.name: ", ".join(s.args) for s in term.sites}
    args = site_args | {n.name: site_args[n.site] for n in term.derivatives}
    parent = {n.name: n.parent for n in term.derivatives}
    read_children: dict[str, list] = {}
    for node in term.derivatives:
        if node.name in used:
            read_children.setdefault(node.parent, []).append(node)
    evaluations, done, called = [], set(), set()
    for name in [s.name for s in term.sites] + [n.name for n in term.derivatives]:
        kids = read_children.get(name, [])
        with_value = name in used and name not in done
        if len(kids) + with_value < 2:  # nothing to share
            continue
        names = ", ".join(n.name for n in kids)
        slots = ", ".join(str(n.slot) for n in kids)
        argnums = slots if len(kids) == 1 else f"({slots})"
        grads = names if len(kids) == 1 or not with_value else f"({names})"
        evaluations.append({
            "target": f"{grads}, {name}" if with_value else names,
            "call": f"{'grad_and_value' if with_value else 'grad'}({fns[name]}, argnums={argnums})",
            "args": args[name]})
        done |= {n.name for n in kids} | ({name} if with_value else set())
        called.add(name)
    for name in [s.name for s in term.sites] + [n.name for n in term.derivatives]:
        if name in used and name not in done:
            evaluations.append({"target": name, "call": fns[name], "args": args[name]})
            called.add(name)
    needed = set()
    for name in called:
        while name in parent and name not in needed:  # a derivative's function and its chain
            needed.add(name)
            name = parent[name]
    return evaluations, [n.name for n in term.derivatives if n.name in needed]
