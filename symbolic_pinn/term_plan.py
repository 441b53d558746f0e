"""What one term evaluates by forward propagation: its network evaluations and channels.

A :class:`TermPlan` is worked out from the IR alone (and cached): which network
evaluations a term makes (a site, or the sites of one multi-output call), which
channels each carries (those of the generated ``jet`` calls, :mod:`symbolic_pinn.channels`:
top-order derivatives that the residual holds linearly with constant coefficients
travel as one combined channel, found by :mod:`symbolic_pinn.top_order`), and where each derivative symbol of the residual is
read. The helpers below turn a plan and points into seeds, coordinates, parameters and
the residual itself; :mod:`symbolic_pinn.fast_ntk` and :mod:`symbolic_pinn.ntk_units`
use them.

Examples:
    ``u'' = -1``: the equation evaluates ``u`` once with the value, ``u_x`` and ``u_xx``
    channels (``u_x`` because the chain rule of ``u_xx`` reads it); the residual from
    those channels is the generated one:

    >>> import sympy as sp
    >>> import torch
    >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
    >>> from symbolic_pinn.propagation import layers_of, propagate
    >>> from symbolic_pinn.training import GridTraining
    >>> x = sp.Symbol("x"); u = sp.Function("u")
    >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)}, [x], [u(x)])
    >>> _ = torch.manual_seed(0)
    >>> prob = discretize(s, PhysicsInformedNN(MLP(1, 1, [8]).double(), GridTraining(0.1)))
    >>> plan = term_plan(prob, "pde_0")
    >>> [g.channels for g in plan.groups], plan.values  # (name, evaluation, channel, column)
    ([((0,), (1,), (2,))], (('u_xx', 0, 2, 0),))
    >>> pts = torch.linspace(0, 1, 5, dtype=torch.float64).reshape(-1, 1)
    >>> coords = coordinates(plan, pts)
    >>> g = plan.groups[0]
    >>> out = propagate(layers_of(prob.nets[0]), [g], [seeds(g, [coords["x"]])], None)[0]
    >>> env = {**coords, **parameters(prob, plan.params, 5, False, {}),
    ...        "u_xx": pick(out[2], 0, pts)}
    >>> bool(torch.allclose(residual(plan, env, pts), prob.residuals["pde_0"](pts)))
    True
    >>> network_layers(prob, [plan]).keys()  # the layers of each network the plans use
    dict_keys([0])
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from .channels import plan_channels, seed_channels
from .ir import ProblemIR, TermIR
from .networks import reused_parameters
from .printing import torch_code
from .propagation import layers_of
from .top_order import combine_top_order, derivative_orders

__all__ = ["Evaluation", "TermPlan", "plan_of", "term_plan", "seeds", "network_layers",
           "coordinates", "parameters", "residual", "pick"]


@dataclass(frozen=True)
class Evaluation:
    """One network evaluation (a site, or the sites of a shared multi-output call).

    Examples:
        The module's example covers it.
    """

    net: int
    args: tuple[str, ...]
    scaling: tuple[tuple[float, float] | None, ...]
    channels: tuple  # multi-indices, then combinations
    rules: tuple


@dataclass(frozen=True)
class TermPlan:
    """A term's coordinates ``(name, column, fixed value or None)``, parameters,
    evaluations, the reads ``(identifier, evaluation, channel, output column)`` and its
    compiled residual expression (``None`` for a constant term).

    Examples:
        The module's example covers it.
    """

    coordinates: tuple[tuple[str, int, float | None], ...]
    params: tuple[str, ...]
    groups: tuple[Evaluation, ...]
    values: tuple[tuple[str, int, int, int], ...]
    code: object


@functools.lru_cache(maxsize=256)
def plan_of(term: TermIR, scaling: tuple) -> TermPlan:
    """The channels of each network evaluation: those the generated ``jet`` calls carry,
    combinations of top-order derivatives included (:mod:`symbolic_pinn.top_order`).

    Examples:
        The module's example covers it.
    """
    site_of = {s.name: s for s in term.sites}
    orders = derivative_orders(term)
    used = {s.name for s in term.expr.free_symbols}
    expr, combos = combine_top_order(term, orders, used)
    folded = {n for _, members, _ in combos.values() for _, n in members}
    keys: dict[tuple[int, tuple[str, ...]], list[str]] = {}
    for s in term.sites:
        keys.setdefault((s.net, s.args), []).append(s.name)
    groups, where = [], {}
    for gi, ((net, args), names) in enumerate(keys.items()):
        wanted = [(n, alpha, site) for n, (site, alpha) in orders.items()
                  if site in names and n in used and n not in folded]
        wanted += [(n, tuple((c, orders[m][1]) for c, m in members), site)
                   for n, (site, members, _) in combos.items() if site in names]
        channels, rules, picks = plan_channels([alpha for _, alpha, _ in wanted], len(args))
        for (name, _, site), pick_ in zip(wanted, picks):
            where[name] = (gi, pick_, site_of[site].column)
        cols = site_of[names[0]].columns
        groups.append(Evaluation(net, args, tuple(scaling[c] for c in cols), channels, rules))
    values = tuple((name, *where[name]) for name in where)
    code = None
    if expr.free_symbols:
        code = compile(torch_code(expr), f"<fast_ntk {term.name}>", "eval")
    return TermPlan(tuple((c.name, c.column, c.value) for c in term.coordinates), term.params,
                    tuple(groups), values, code)


def term_plan(problem, term: str) -> TermPlan:
    """:func:`plan_of` the term named ``term`` of ``problem`` (KeyError if unknown).

    Examples:
        The module's example covers it.
    """
    ir: ProblemIR = problem.ir
    term_ir = next((t for t in ir.terms if t.name == term), None)
    if term_ir is None:
        raise KeyError(f"unknown term {term!r}")
    return plan_of(term_ir, tuple(ir.scaling))


def seeds(group: Evaluation, inputs: list[torch.Tensor]) -> list[torch.Tensor | None]:
    """Input channels: the standardised inputs (``inputs``: the coordinate columns of the
    group's arguments), ``e_j/std_j`` for ``∂/∂slot j`` (summed with their coefficients
    in a combination), zeros above.

    Examples:
        The module's example covers it.
    """
    cols = []
    for x, scale in zip(inputs, group.scaling):
        cols.append(x if scale is None else (x - scale[0]) / scale[1])
    value = cols[0] if len(cols) == 1 else torch.cat(cols, dim=1)
    factors = [1.0 if scale is None else 1.0 / scale[1] for scale in group.scaling]
    return seed_channels(value, group.channels, factors)


def network_layers(problem, plans, untied: bool = False) -> dict | None:
    """The layers of every network the plans evaluate; None if one is unsupported (with
    ``untied``, for the NTK's Gram matrices, so are networks that use a trainable
    parameter tensor twice, within one or between two: each use's gradient would be
    counted apart).

    Examples:
        The module's example covers it.
    """
    layers = {}
    for plan in plans:
        for g in plan.groups:
            if g.net not in layers:
                found = layers_of(problem.nets[g.net])
                if found is None:
                    return None
                layers[g.net] = found
    if untied and reused_parameters(problem.nets, layers):
        return None
    return layers


def coordinates(plan: TermPlan, points: torch.Tensor) -> dict[str, torch.Tensor]:
    """``{name: (N, 1) column}``; a coordinate the term fixes is filled with its value.

    Examples:
        The module's example covers it.
    """
    coords = {}
    for name, column, value in plan.coordinates:
        col = points[:, column:column + 1]
        coords[name] = col if value is None else torch.full_like(col, value)
    return coords


def parameters(problem, names, n: int, per_sample: bool, leaves: dict) -> dict:
    """The estimated parameters; trainable ones as per-sample leaves (``leaves``, made
    once per name, so that terms evaluated together share them).

    Examples:
        The module's example covers it.
    """
    env = {}
    for p in names:
        tensor = problem.params[p]
        if per_sample and tensor.requires_grad:
            if p not in leaves:
                leaves[p] = tensor.detach().reshape(1, 1).expand(n, 1).clone().requires_grad_(True)
            env[p] = leaves[p]
        else:
            env[p] = tensor
    return env


def residual(plan: TermPlan, env: dict, points: torch.Tensor) -> torch.Tensor:
    """The term's residual ``(N,)`` from ``env`` (coordinates, parameters, reads).

    Examples:
        The module's example covers it.
    """
    n, dtype, device = points.shape[0], points.dtype, points.device
    if plan.code is None:
        return torch.zeros(n, dtype=dtype, device=device)
    r = eval(plan.code, {"__builtins__": {}, "torch": torch, "math": math}, env)
    r = torch.as_tensor(r, dtype=dtype, device=device)
    return torch.broadcast_to(r.reshape(-1, 1) if r.ndim else r, (n, 1))[:, 0]


def pick(t: torch.Tensor | None, column: int, points: torch.Tensor) -> torch.Tensor:
    """Output column ``column`` of channel ``t`` as ``(N, 1)`` (zeros for ``None``).

    Examples:
        The module's example covers it.
    """
    if t is None:  # identically zero
        return torch.zeros(points.shape[0], 1, dtype=points.dtype, device=points.device)
    return t[:, column:column + 1]
