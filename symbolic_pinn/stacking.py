"""Terms at different points that ask one network for the same channels: one ``jet`` call.

The conditions of a problem usually ask one network for its value alone, each on its
own face (``u(0, y) = 0``, ``u(1, y) = 0``, ...). Evaluated apart, each is a network
call of its own, forward and backward, and each layer's parameter gradient is summed
over the calls. :func:`stacked_groups` finds such terms; the generated ``all_residuals``
then stacks their rows, makes one ``jet`` call on them and splits its outputs again.
The residuals are the same (the rows of a batch never mix); a step launches fewer,
larger operations (measured in ``docs/performance.md``, "Conditions stacked into one
call").
"""

from __future__ import annotations

from dataclasses import replace

import sympy as sp

from .channels import is_combination
from .ir import ProblemIR
from .jet_calls import _call, batched_input
from .naming import Namer
from .printing import torch_code

__all__ = ["stacked_groups"]


def stacked_groups(ir: ProblemIR, terms: list[dict], shared: list[dict]) -> list[dict]:
    """Groups of terms whose one ``jet`` call each can be one call on their stacked rows.

    Candidates are the terms on the forward-propagated path that make exactly one
    ``jet`` call and are in no group of :func:`~symbolic_pinn.jet_calls.shared_groups`
    (those share their calls when they share their points). Terms whose calls evaluate
    the same network for the same channels (multi-indices and output columns) with the
    same input scaling form a group; so do terms that read values alone, of any output
    columns (one evaluation gives them all: the call returns each column some member
    reads, and a member's rows of a column it does not read go to ``unused``). A group
    needs two members.

    Args:
        ir: The analysed problem.
        terms: The terms' generation contexts, in the order of ``ir.terms``.
        shared: The problem's shared groups.

    Returns:
        Per group, the context of its generated function ``stacked_residuals_<k>``: the
        terms with their coordinates (renamed per term) and residuals, the parameters,
        and the one call on their stacked inputs with the names its outputs are split
        into.

    Examples:
        The four edges of the unit square: one call of ``u`` on all their rows.

        >>> from symbolic_pinn.analysis import analyze
        >>> from symbolic_pinn.codegen import GenerationOptions, generate
        >>> from symbolic_pinn.problem import PDESystem
        >>> x, y = sp.symbols("x y"); u = sp.Function("u")
        >>> s = PDESystem([u(x, y).diff(x, 2) + u(x, y).diff(y, 2)],
        ...               [u(0, y), u(1, y), sp.Eq(u(x, 0), sp.sin(x)), u(x, 1)],
        ...               {x: (0, 1), y: (0, 1)}, [x, y], [u(x, y)])
        >>> source = generate(analyze(s, {"u": (0, 0)}, [None, None]),
        ...                   GenerationOptions(derivatives="taylor"))
        >>> body = source.split("def stacked_residuals_0")[1].split("RESIDUALS = ")[0]
        >>> for line in body.strip().splitlines()[-8:]:
        ...     print(line)
            u = jet(nets[0], torch.cat((torch.cat((x_bc_0, x_bc_1, x_bc_2, x_bc_3)), torch.cat((y_bc_0, y_bc_1, y_bc_2, y_bc_3))), dim=1), ((0, 0),), scale=(1.0, 1.0), column=0)[0]  # u(x, y)
            u_bc_0, u_bc_1, u_bc_2, u_bc_3 = torch.split(u, (points["bc_0"].shape[0], points["bc_1"].shape[0], points["bc_2"].shape[0], points["bc_3"].shape[0]))
            return (
                u_bc_0,  # bc_0
                u_bc_1,  # bc_1
                u_bc_2 - torch.sin(x_bc_2),  # bc_2
                u_bc_3,  # bc_3
            )
    """
    in_shared = {name for group in shared for name in group["terms"]}
    candidates: dict[tuple, list] = {}
    for term, ctx in zip(ir.terms, terms):
        if (ctx["taylor"] and not ctx["constant"] and len(ctx["jets"]) == 1
                and term.name not in in_shared):
            jet = ctx["jets"][0]
            channels = tuple((alpha, column) for _, alpha, column in jet["entries"])
            if all(_is_value(alpha) for alpha, _ in channels):
                channels = "values"  # one evaluation gives every output column's value
            key = (jet["net"], tuple(jet["columns"]), channels, jet["key"][2])
            candidates.setdefault(key, []).append((term, ctx))
    return [_stacked(ir, f"stacked_residuals_{k}", members)
            for k, members in enumerate(m for m in candidates.values() if len(m) > 1)]


def _is_value(alpha) -> bool:
    return not is_combination(alpha) and not any(alpha)


def _stacked(ir: ProblemIR, name: str, members: list) -> dict:
    params = list(dict.fromkeys(p for term, _ in members for p in term.params))
    namer = Namer(set(params))
    first = members[0][1]["jets"][0]
    # the channels of all members, in order (the same for all, but for the values of
    # several output columns: a term may read u where the next reads v)
    named: dict[tuple, str] = {}
    for _, ctx in members:
        for old, alpha, column in ctx["jets"][0]["entries"]:
            named.setdefault((alpha, column), old)
    channels = list(named)
    outputs = [namer.claim(named[c]) for c in channels]
    contexts, splits, inputs = [], [[] for _ in outputs], [[] for _ in first["args"]]
    for term, ctx in members:
        jet = ctx["jets"][0]
        rename = {c.name: namer.claim(f"{c.name}_{term.name}") for c in term.coordinates}
        args = tuple(rename[a] for a in jet["args"])
        for stack, arg in zip(inputs, args):
            stack.append(arg)
        own = {(alpha, column): old for old, alpha, column in jet["entries"]}
        for channel, split in zip(channels, splits):
            if channel in own:
                rename[own[channel]] = namer.claim(f"{own[channel]}_{term.name}")
            split.append(rename[own[channel]] if channel in own else None)
        expr = ctx["batched_expr"].xreplace(
            {s: sp.Symbol(rename[s.name], **s.assumptions0)
             for s in ctx["batched_expr"].free_symbols if s.name in rename})
        read = {s.name for s in expr.free_symbols} | set(args)
        contexts.append({
            "name": term.name,
            "text": term.text,
            "coordinates": [replace(c, name=rename[c.name]) for c in term.coordinates
                            if rename[c.name] in read],
            "code": torch_code(expr),
        })
    if any(None in split for split in splits):  # a member's rows of a column it does not read
        unused = namer.claim("unused")
        splits = [[n if n is not None else unused for n in split] for split in splits]
    # each input column stacked, then standardised once and joined
    stacked = batched_input(ir, [f"torch.cat(({', '.join(names)}))" for names in inputs],
                            first["columns"])
    renamed = {named[c]: out for c, out in zip(channels, outputs)}  # the first's names
    texts = list(dict.fromkeys(t for _, ctx in members for t in ctx["jets"][0]["site_texts"]))
    call = _call(first["net"], stacked, first["key"][2],
                 [(out, alpha, column) for out, (alpha, column) in zip(outputs, channels)],
                 texts, [(renamed[n], text) for n, text in first["combined"]],
                 first["key"], first["args"], first["columns"])
    sizes = ", ".join(f'points["{term.name}"].shape[0]' for term, _ in members)
    return {
        "name": name,
        "terms": [term.name for term, _ in members],
        "targets": ", ".join(f'residuals["{term.name}"]' for term, _ in members),
        "params": params,
        "members": contexts,
        "jet": call,
        "splits": [{"output": out, "names": ", ".join(names), "sizes": f"({sizes})"}
                   for out, names in zip(outputs, splits)],
    }
