"""Terms at different points that ask one network for the same channels: one ``jet`` call.

The conditions of a problem usually ask one network for its value alone, each on its
own face (``u(0, y) = 0``, ``u(1, y) = 0``, ...). Evaluated apart, each is a network
call of its own, forward and backward, and each layer's parameter gradient is summed
over the calls. :func:`stacked_groups` finds such terms; the generated ``all_residuals``
then stacks their rows, makes one ``jet`` call on them and splits its outputs again.
The residuals are the same (the rows of a batch never mix); a step launches fewer,
larger operations (measured in ``docs/performance.md``, "Conditions stacked into one
call"). A group of terms that share their points and one call
(:func:`~symbolic_pinn.jet_calls.shared_groups`: the u, v and p conditions of one face
under ``GridTraining``) stacks as one unit with the groups of other faces. On the
autograd path (``derivatives="autograd"``, any ``nn.Module``) terms are stacked the same
way, into one call of the network itself followed, for derivatives, by one derivative
DAG on the stacked coordinates (:mod:`symbolic_pinn.autograd_calls`). A term that
evaluates a network at several inputs (a periodic condition) is stacked input by input,
each a block of the term's rows, on both paths.
"""

from __future__ import annotations

from dataclasses import replace

import sympy as sp

from .autograd_calls import input_calls, stacked_dag, stacked_names
from .channels import is_combination
from .ir import ProblemIR
from .jet_calls import _call, batched_input
from .naming import Namer
from .printing import torch_code

__all__ = ["stacked_groups"]


def stacked_groups(ir: ProblemIR, terms: list[dict], shared: list[dict]) -> list[dict]:
    """Groups of terms whose one ``jet`` call each can be one call on their stacked rows.

    Candidates are units: a term on the forward-propagated path that makes exactly one
    ``jet`` call (on the autograd path: one network call,
    :func:`~symbolic_pinn.autograd_calls.autograd_call`) and is in no group of
    :func:`~symbolic_pinn.jet_calls.shared_groups`; each call of such a term that makes
    several, one per input of a network (a periodic condition, ``u(-1, t) - u(1, t)``;
    :func:`~symbolic_pinn.autograd_calls.input_calls`), on the term's rows, stacked only
    when all of them fall in one group;
    and a group of shared points whose members make one ``jet`` call together (its rows
    are its first term's points). Units of one kind (terms, or groups of shared points)
    whose calls evaluate the same network for the same channels (multi-indices and
    output columns) with the same input scaling form a group; so do units that read
    values alone, of any output columns (one evaluation gives them all: the call
    returns each column some unit reads, and a unit's rows of a column it does not read
    go to ``unused``). A group needs two units. ``all_residuals`` calls a group of
    groups of shared points when each of them shares its points, and evaluates each
    of them as before otherwise; the terms are kept apart from the groups so that
    their call never waits on that condition.

    Args:
        ir: The analysed problem.
        terms: The terms' generation contexts, in the order of ``ir.terms``.
        shared: The problem's shared groups.

    Returns:
        Per group, the context of its generated function ``stacked_residuals_<k>``: the
        units with their coordinates (renamed per unit), the terms' residuals, the
        parameters, the one call on their stacked inputs with the names its outputs are
        split into (on the autograd path, the network's output columns by name, or the
        derivative DAG on the stacked coordinates), and the groups of shared points it
        holds with the condition that they share them.

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
    candidates: dict[tuple, list] = {}
    for unit in _units(ir, terms, shared):
        jet = unit["jet"]
        channels = tuple((alpha, column) for _, alpha, column in jet["entries"])
        if all(_is_value(alpha) for alpha, _ in channels):
            channels = "values"  # one evaluation gives every output column's value
        # groups of shared points stack with each other, single terms with each other:
        # a group's stacked call waits on its points being shared, the terms' never does
        key = (jet["net"], tuple(jet["columns"]), channels, jet["key"][2],
               unit["shared"] is not None)
        candidates.setdefault(key, []).append(unit)
    groups = [units for units in map(_whole, candidates.values()) if len(units) > 1]
    return [_stacked(ir, f"stacked_residuals_{k}", units) for k, units in enumerate(groups)]


def _units(ir: ProblemIR, terms: list[dict], shared: list[dict]) -> list[dict]:
    """What may be stacked, in the order of the terms: a term in no group of shared points
    that makes one ``jet`` call, and a group of shared points whose members make one
    ``jet`` call together (its terms then take their rows from its first term's points);
    on the autograd path, one network call (:mod:`symbolic_pinn.autograd_calls`)."""
    group_of = {name: group for group in shared for name in group["terms"]}
    units = []
    for term, ctx in zip(ir.terms, terms):
        group = group_of.get(term.name)
        call = ctx["jets"][0] if ctx["taylor"] and len(ctx["jets"]) == 1 else ctx["autograd_call"]
        if group is None and not ctx["constant"] and call is not None:
            units.append({"terms": [term], "rows": term.name, "shared": None,
                          "coordinates": term.coordinates, "jet": call,
                          "exprs": [ctx["batched_expr"]], "taylor": ctx["taylor"]})
            continue
        if group is None and not ctx["constant"]:  # a term at several inputs?
            units += _parts(ctx["jets"] if ctx["taylor"] else input_calls(ir, term), {
                "terms": [term], "rows": term.name, "shared": None,
                "coordinates": term.coordinates, "exprs": [ctx["batched_expr"]],
                "taylor": ctx["taylor"]}, term.name)
            continue
        if group is None or term.name != group["terms"][0]:
            continue
        call = (group["autograd_call"] if group["autograd"]
                else group["jets"][0] if len(group["jets"]) == 1 else None)
        members = {t.name: t for t in ir.terms if t.name in group["terms"]}
        unit = {"terms": [members[name] for name in group["terms"]], "rows": term.name,
                "shared": group, "coordinates": group["coordinates"],
                "exprs": [r["expr"] for r in group["returns"]], "taylor": not group["autograd"]}
        if call is not None:
            units.append(dict(unit, jet=call))
        else:  # a group at several inputs?
            units += _parts(group["input_calls"] if group["autograd"] else group["jets"],
                            unit, ", ".join(group["terms"]))
    return units


def _parts(calls: list[dict], unit: dict, name: str) -> list[dict]:
    """A term, or a group of shared points, that evaluates a network at several inputs
    (a periodic condition, ``u(-1, t) - u(1, t)``): one unit per call, on the same rows
    each. Each part holds the coordinates of its call; the last also the others and the
    residuals, which read the values of all parts; the first names the terms in the
    generated comments. The parts are stacked only all together (:func:`stacked_groups`).
    ``unit``: the unit it would be with one call (no ``"jet"``); ``name``: what the
    generated comments call it."""
    if len(calls) < 2:
        return []
    coordinates = {c.name: c for c in unit["coordinates"]}
    parts = []
    for k, call in enumerate(calls):
        own = [coordinates.pop(a) for a in call["args"] if a in coordinates]
        parts.append(dict(unit, terms=[], exprs=[], coordinates=own, jet=call,
                          label=unit["terms"] if k == 0 else [], part_of=name,
                          parts=len(calls)))
    parts[-1].update(terms=unit["terms"], exprs=unit["exprs"],
                     coordinates=parts[-1]["coordinates"] + list(coordinates.values()))
    return parts


def _whole(units: list[dict]) -> list[dict]:
    """The units less the parts of a term, or group, whose parts are not all among them."""
    counts: dict[str, int] = {}
    for unit in units:
        if "part_of" in unit:
            counts[unit["part_of"]] = counts.get(unit["part_of"], 0) + 1
    return [u for u in units if "part_of" not in u or counts[u["part_of"]] == u["parts"]]


def _is_value(alpha) -> bool:
    return not is_combination(alpha) and not any(alpha)


def _stacked(ir: ProblemIR, name: str, units: list[dict]) -> dict:
    terms = [term for unit in units for term in unit["terms"]]
    params = list(dict.fromkeys(p for term in terms for p in term.params))
    namer = Namer(set(params))
    first = units[0]["jet"]
    # the channels of all units, in order (the same for all, but for the values of
    # several output columns: a term may read u where the next reads v)
    named: dict[tuple, str] = {}
    for unit in units:
        for old, alpha, column in unit["jet"]["entries"]:
            named.setdefault((alpha, column), old)
    channels = list(named)
    autograd = not units[0]["taylor"]  # (one path for the whole module)
    # on the autograd path with derivatives, the first term's DAG computes the channels
    dag_names = (stacked_names(first, namer) if autograd
                 and not all(_is_value(alpha) for alpha, _ in channels) else None)
    outputs = [dag_names[named[c]] if dag_names else namer.claim(named[c]) for c in channels]
    contexts, members, renames = [], [], {}
    splits, inputs = [[] for _ in outputs], [[] for _ in first["args"]]
    for unit in units:
        jet, rows = unit["jet"], unit["rows"]
        rename = renames.setdefault(rows, {})  # one per term: its parts share it
        rename.update({c.name: namer.claim(f"{c.name}_{rows}") for c in unit["coordinates"]})
        args = tuple(rename[a] for a in jet["args"])
        for stack, arg in zip(inputs, args):
            stack.append(arg)
        own = {(alpha, column): old for old, alpha, column in jet["entries"]}
        for channel, split in zip(channels, splits):
            if channel in own:
                rename[own[channel]] = namer.claim(f"{own[channel]}_{rows}")
            split.append(rename[own[channel]] if channel in own else None)
        read = set(args)
        for term, expr in zip(unit["terms"], unit["exprs"]):
            expr = expr.xreplace({s: sp.Symbol(rename[s.name], **s.assumptions0)
                                  for s in expr.free_symbols if s.name in rename})
            read |= {s.name for s in expr.free_symbols}
            members.append({"name": term.name, "code": torch_code(expr)})
        contexts.append({
            "rows": rows,
            "terms": [{"name": term.name, "text": term.text}
                      for term in unit.get("label", unit["terms"])],
            "shared": unit["shared"] is not None and bool(unit.get("label", unit["terms"])),
            "coordinates": [replace(c, name=rename[c.name]) for c in unit["coordinates"]
                            if rename[c.name] in read],
        })
    if any(None in split for split in splits):  # a unit's rows of a column it does not read
        unused = namer.claim("unused")
        splits = [[n if n is not None else unused for n in split] for split in splits]
    # each input column stacked, then standardised once and joined
    stacked = batched_input(ir, [f"torch.cat(({', '.join(names)}))" for names in inputs],
                            first["columns"])
    renamed = {named[c]: out for c, out in zip(channels, outputs)}  # the first's names
    texts = list(dict.fromkeys(t for unit in units for t in unit["jet"]["site_texts"]))
    call = _call(first["net"], stacked, first["key"][2],
                 [(out, alpha, column) for out, (alpha, column) in zip(outputs, channels)],
                 texts, [(renamed[n], text) for n, text in first["combined"]],
                 first["key"], first["args"], first["columns"])
    sizes = ", ".join(f'points["{unit["rows"]}"].shape[0]' for unit in units)
    # (a group at several inputs is several units)
    groups = list({id(u["shared"]): u["shared"] for u in units if u["shared"] is not None}
                  .values())
    return {
        "name": name,
        # the autograd path calls the network itself (no jet): for values alone its output
        # is named when it holds several columns that are read; with derivatives, the
        # first term's DAG on the stacked coordinates
        "autograd": autograd,
        "dag": stacked_dag(ir, first, dag_names, inputs, namer) if dag_names else None,
        "out": namer.claim(f"net{first['net']}_out") if autograd and not dag_names
        and len(outputs) > 1 else None,
        "outputs": [{"name": out, "column": column}
                    for out, (_, column) in zip(outputs, channels)],
        "terms": [term.name for term in terms],
        # the terms that evaluate the network at several inputs, each input a unit
        "inputs": [{"term": term, "count": count} for term, count in
                   dict.fromkeys((u["part_of"], u["parts"]) for u in units if "part_of" in u)],
        "targets": ", ".join(f'residuals["{term.name}"]' for term in terms)
        + ("," if len(terms) == 1 else ""),  # (one term: its residual from a 1-tuple)
        "params": params,
        "units": contexts,
        "members": members,
        "jet": call,
        "splits": [{"output": out, "names": ", ".join(names), "sizes": f"({sizes})"}
                   for out, names in zip(outputs, splits)],
        # the groups of shared points stacked here (all or none of the units), and the
        # condition that they share them
        "shared": groups,
        "condition": " and ".join(f'points["{t}"] is points["{g["terms"][0]}"]'
                                  for g in groups for t in g["terms"][1:]),
    }
