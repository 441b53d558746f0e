"""The evaluations of a per-point residual (``point_residual_<term>``, for ``torch.func``).

A per-point residual defines one function per site (``f_u``) and per derivative
(``f_u_x = grad(f_u, argnums=0)``), then evaluates the values its expression reads.
Each evaluation runs the network again, forward and backward as often as the
derivative's order: evaluated one by one, Burgers' ``u``, ``u_t``, ``u_x`` and ``u_xx``
take four forward passes. :func:`point_evaluations` shares what it can:

* the second derivatives of a site come from one call that differentiates the first
  derivatives they are taken of, with the site's value and its first derivatives that
  the residual reads beside them (``has_aux``): Burgers' four values take one forward
  pass through the network, and the wave's ``u_tt`` and ``u_xx`` are one ``jacrev`` of
  ``(u_t, u_x)``;
* the derivatives of one value are one call, with the value where it is read too
  (``(u_t, u_x), u = grad_and_value(f_u, argnums=(1, 0))(x, t)``);

and it defines only the functions that something still calls. Under ``vmap`` (the exact
NTK diagonals of any module) every evaluation counts once per point.
"""

from __future__ import annotations

from .ir import DerivativeNode, Site, TermIR
from .naming import RESERVED

__all__ = ["point_evaluations"]


def point_evaluations(term: TermIR, used: set[str],
                      nested: bool = True) -> tuple[list[dict], list[str]]:
    """The evaluations of a per-point residual, and the derivative functions it defines.

    With ``nested``, the second derivatives of a site that the residual reads come from
    one call (see the module's docstring), with the site's value and first derivatives
    that it reads: ``grad_and_value(..., has_aux=True)`` where they are derivatives of
    one first derivative, else ``jacrev`` of the first derivatives they are taken of.
    Left out are a second derivative whose own derivative is read (it comes with that
    one's call), and the case where the call would share nothing (the derivatives of one
    first derivative, and no other value of the site read). Then the children of one
    value that the residual reads are one ``grad`` call over their argument slots, or
    one ``grad_and_value`` call when the value is read too and no earlier call gave it;
    a child alone whose value is not read, and every other value, is evaluated by its
    own function.

    Args:
        term: The analysed term.
        used: The names of the values (sites and derivatives) its residual reads.
        nested: Take a site's second derivatives together (``False``: the layout of the
            nineteenth session, which ``benchmarks/point_calls.py`` compares against).

    Returns:
        ``(evaluations, functions)``: per evaluation, ``target``, ``call`` and ``args``
        (``target = call(args)``), and ``define`` for one that calls a function of its
        own (``name``, ``comment``, and the ``target = call(args)`` and ``returns`` of
        its body); and the derivative nodes' names whose functions are called, directly or
        by another one's ``grad``, in the DAG's order.

    Examples:
        Burgers' ``u*u_x + u_t - nu*u_xx``: one evaluation where there were four.

        >>> import sympy as sp
        >>> from symbolic_pinn.analysis import analyze
        >>> from symbolic_pinn.problem import PDESystem
        >>> x, t = sp.symbols("x t"); u = sp.Function("u"); U = u(x, t)
        >>> s = PDESystem([U * U.diff(x) + U.diff(t) - U.diff(x, 2) / 100,
        ...                U.diff(t, 2) - 4 * U.diff(x, 2)], [u(x, 0)],
        ...               {x: (-1, 1), t: (0, 1)}, [x, t], [U])
        >>> burgers, wave = analyze(s, {"u": (0, 0)}, [None, None]).terms[:2]
        >>> def show(term, nested=True):
        ...     used = {str(v) for v in term.expr.free_symbols}
        ...     evaluations, functions = point_evaluations(term, used, nested)
        ...     for e in evaluations:
        ...         if "define" in e:
        ...             f = e["define"]
        ...             print(f"def {f['name']}({e['args']}):  # {f['comment']}")
        ...             print(f"    {f['target']} = {f['call']}({e['args']})")
        ...             print(f"    return {f['returns']}")
        ...         print(f"{e['target']} = {e['call']}({e['args']})")
        ...     return functions
        >>> show(burgers)
        def f_u_grad(x, t):  # u_x to differentiate, and (u_t, u) to keep
            (u_t, u_x), u = grad_and_value(f_u, argnums=(1, 0))(x, t)
            return u_x, (u_t, u)
        u_xx, (u_x, (u_t, u)) = grad_and_value(f_u_grad, argnums=0, has_aux=True)(x, t)
        []
        >>> show(burgers, nested=False)
        (u_t, u_x), u = grad_and_value(f_u, argnums=(1, 0))(x, t)
        u_xx = f_u_xx(x, t)
        ['u_x', 'u_xx']

        The wave's ``u_tt - 4*u_xx``: the Jacobian of ``(u_t, u_x)`` with respect to
        ``(t, x)``, whose mixed entries are not read:

        >>> show(wave)
        def f_u_grad(x, t):  # (u_t, u_x) to differentiate
            u_t, u_x = grad(f_u, argnums=(1, 0))(x, t)
            return u_t, u_x
        (u_tt, _), (_, u_xx) = jacrev(f_u_grad, argnums=(1, 0))(x, t)
        []
    """
    fns = {s.name: s.fn for s in term.sites} | {n.name: n.fn for n in term.derivatives}
    site_args = {s.name: ", ".join(s.args) for s in term.sites}
    args = site_args | {n.name: site_args[n.site] for n in term.derivatives}
    parent = {n.name: n.parent for n in term.derivatives}
    evaluations, done, called = [], set(), set()
    if nested:
        taken = set(RESERVED) | set(fns.values()) | set(fns) | set(term.params) | {
            c.name for c in term.coordinates}
        for site in term.sites:
            nest = _nested(term, site, used, taken)
            if nest is not None:
                evaluations.append(nest[0])
                done |= nest[1]
                taken.add(nest[0]["define"]["name"])
    read_children: dict[str, list] = {}
    for node in term.derivatives:
        if node.name in used and node.name not in done:
            read_children.setdefault(node.parent, []).append(node)
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


def _tuple(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"({', '.join(names)})"


def _nested(term: TermIR, site: Site, used: set[str],
            taken: set[str]) -> tuple[dict, set[str]] | None:
    """The one evaluation of ``site``'s read second derivatives, with its read value and
    first derivatives, and the names it gives; None where there is nothing to share."""
    firsts = [n for n in term.derivatives if n.parent == site.name]
    read_below = {n.parent for n in term.derivatives if n.name in used}
    seconds: list[DerivativeNode] = [
        n for n in term.derivatives
        if n.parent in {f.name for f in firsts} and n.name in used
        and n.name not in read_below]  # else it comes with its own child's call
    outs = [f for f in firsts if any(s.parent == f.name for s in seconds)]
    slots = list(dict.fromkeys(s.slot for s in seconds))
    # jacrev returns no values: with several outputs, the read ones ride along as aux
    keep = [f.name for f in firsts if f.name in used and (len(outs) > 1 or f not in outs)]
    keep += [site.name] if site.name in used else []
    if not outs or len(outs) == 1 and not keep:
        return None  # one value's derivatives, and nothing else: the plain rules' one call
    inner = [f for f in firsts if f in outs or f.name in used]
    name = f"{site.fn}_grad"
    while name in taken:
        name += "_"
    define = {
        "name": name,
        "comment": f"{_tuple([f.name for f in outs])} to differentiate"
        + (f", and {_tuple(keep)} to keep" if keep else ""),
        "target": f"{_tuple([f.name for f in inner])}, {site.name}" if site.name in used
        else ", ".join(f.name for f in inner),
        "call": f"{'grad_and_value' if site.name in used else 'grad'}({site.fn}, "
                f"argnums={_tuple([str(f.slot) for f in inner])})",
        "returns": f"{_tuple([f.name for f in outs])}, {_tuple(keep)}" if keep
        else ", ".join(f.name for f in outs),
    }
    entry = {(s.parent, s.slot): s.name for s in seconds}
    argnums = _tuple([str(k) for k in slots])
    if len(outs) == 1:  # its derivatives, its value and the rest (has_aux)
        out = outs[0].name
        value = out if out in used else "_"
        target = f"{_tuple([entry[out, k] for k in slots])}, ({value}, {_tuple(keep)})"
        call = f"grad_and_value({name}, argnums={argnums}, has_aux=True)"
    else:  # d(out)/d(slot) per output and slot ("_": an entry that is not read)
        rows = [_tuple([entry.get((f.name, k), "_") for k in slots]) for f in outs]
        target = ", ".join(rows) if not keep else f"({', '.join(rows)}), {_tuple(keep)}"
        call = f"jacrev({name}, argnums={argnums}{', has_aux=True' if keep else ''})"
    gives = {s.name for s in seconds} | set(keep) | {f.name for f in outs if f.name in used}
    evaluation = {"target": target, "call": call, "args": ", ".join(site.args),
                  "define": define}
    return evaluation, gives
