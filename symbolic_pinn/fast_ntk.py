"""Exact NTK diagonals by forward (Taylor-mode) propagation through MLPs, one backward.

For a term with residuals ``r_i = r(u, ∂u, ...; x_i)`` the diagonal of its kernel block
is ``K_ii = ‖∂r_i/∂θ‖²``. The generic path (:func:`~symbolic_pinn.adaptive.kernel.
ntk_diagonal`) differentiates the per-point residual with ``vmap(grad)``; for the
networks this library builds (:class:`~symbolic_pinn.networks.MLP`) this module does
the same computation for about 1.4 training steps (docs/performance.md):

* **Forward.** Each network evaluation carries the value and every input derivative the
  term needs as *channels*, through every layer (:mod:`symbolic_pinn.propagation`; the
  channels are those of the generated ``jet`` calls, :mod:`symbolic_pinn.channels`: top-order
  derivatives that the residual holds linearly with constant coefficients travel as one
  combined channel). Inputs are standardised like the generated code,
  ``z = (x - mean)/std``, so the first-order seed of slot ``j`` is ``e_j / std_j``.
* **Backward.** The residual is evaluated from the channel tensors with the term's own
  printed expression, and one ordinary backward pass of ``Σ_i r_i`` gives
  ``δ_α = ∂r_i/∂z_α`` at every layer for every sample (a row of ``z`` only reaches its
  own residual). The per-sample gradient of layer ``W`` is ``Σ_α δ_α a_αᵀ``, so
  ``‖∂r_i/∂W‖² = Σ_{α,β} (a_α·a_β)(δ_α·δ_β)``, a product of two small per-sample Gram
  matrices; the bias gradient is ``Σ_{α=0 channels} δ_α``. Estimated PDE parameters
  enter as per-sample copies, so the same backward pass gives ``∂r_i/∂p``.

:func:`fast_ntk_diagonal` returns ``None`` when a network is not a plain MLP of
supported activations (or has hooks), and callers fall back to the generic path.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from .channels import combine_top_order, derivative_orders, plan_channels, seed_channels
from .ir import ProblemIR, TermIR
from .printing import torch_code
from .propagation import Record, layers_of, propagate, supports

__all__ = ["fast_ntk_diagonal", "fast_ntk_diagonals", "fast_ntk_together", "fast_residual",
           "supports"]


# -- the per-term plan (from the IR alone, cached) -----------------------------------------


@dataclass(frozen=True)
class _Group:
    """One network evaluation (a site, or the sites of a shared multi-output call)."""

    net: int
    args: tuple[str, ...]
    scaling: tuple[tuple[float, float] | None, ...]
    channels: tuple  # multi-indices, then combinations
    rules: tuple


@dataclass(frozen=True)
class _Plan:
    coordinates: tuple[tuple[str, int, float | None], ...]
    params: tuple[str, ...]
    groups: tuple[_Group, ...]
    values: tuple[tuple[str, int, int, int], ...]  # (identifier, group, channel, column)
    code: object  # compiled residual expression, or None for a constant term


@functools.lru_cache(maxsize=256)
def _plan(term: TermIR, scaling: tuple) -> _Plan:
    """The channels of each network evaluation: those the generated ``jet`` calls carry,
    combinations of top-order derivatives included (:mod:`symbolic_pinn.channels`)."""
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
        for (name, _, site), pick in zip(wanted, picks):
            where[name] = (gi, pick, site_of[site].column)
        cols = site_of[names[0]].columns
        groups.append(_Group(net, args, tuple(scaling[c] for c in cols), channels, rules))
    values = tuple((name, *where[name]) for name in where)
    code = None
    if expr.free_symbols:
        code = compile(torch_code(expr), f"<fast_ntk {term.name}>", "eval")
    return _Plan(tuple((c.name, c.column, c.value) for c in term.coordinates), term.params,
                 tuple(groups), values, code)


def _seeds(group: _Group, inputs: list[torch.Tensor]) -> list[torch.Tensor | None]:
    """Input channels: the standardised inputs (``inputs``: the coordinate columns of the
    group's arguments), ``e_j/std_j`` for ``∂/∂slot j`` (summed with their coefficients
    in a combination), zeros above."""
    cols = []
    for x, scale in zip(inputs, group.scaling):
        cols.append(x if scale is None else (x - scale[0]) / scale[1])
    value = cols[0] if len(cols) == 1 else torch.cat(cols, dim=1)
    factors = [1.0 if scale is None else 1.0 / scale[1] for scale in group.scaling]
    return seed_channels(value, group.channels, factors)


def _term_plan(problem, term: str) -> _Plan:
    ir: ProblemIR = problem.ir
    term_ir = next((t for t in ir.terms if t.name == term), None)
    if term_ir is None:
        raise KeyError(f"unknown term {term!r}")
    return _plan(term_ir, tuple(ir.scaling))


def _layers(problem, plans) -> dict | None:
    """The layers of every network the plans evaluate; None if one is unsupported."""
    layers = {}
    for plan in plans:
        for g in plan.groups:
            if g.net not in layers:
                found = layers_of(problem.nets[g.net])
                if found is None:
                    return None
                layers[g.net] = found
    return layers


def _coordinates(plan: _Plan, points: torch.Tensor) -> dict[str, torch.Tensor]:
    coords = {}
    for name, column, value in plan.coordinates:
        col = points[:, column:column + 1]
        coords[name] = col if value is None else torch.full_like(col, value)
    return coords


def _parameters(problem, names, n: int, per_sample: bool, leaves: dict) -> dict:
    """The estimated parameters; trainable ones as per-sample leaves (``leaves``, made
    once per name, so that terms evaluated together share them)."""
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


def _residual(plan: _Plan, env: dict, points: torch.Tensor) -> torch.Tensor:
    n, dtype, device = points.shape[0], points.dtype, points.device
    if plan.code is None:
        return torch.zeros(n, dtype=dtype, device=device)
    r = eval(plan.code, {"__builtins__": {}, "torch": torch, "math": math}, env)
    r = torch.as_tensor(r, dtype=dtype, device=device)
    return torch.broadcast_to(r.reshape(-1, 1) if r.ndim else r, (n, 1))[:, 0]


def _pick(t: torch.Tensor | None, column: int, points: torch.Tensor) -> torch.Tensor:
    if t is None:  # identically zero
        return torch.zeros(points.shape[0], 1, dtype=points.dtype, device=points.device)
    return t[:, column:column + 1]


def _evaluate(problem, term: str, points: torch.Tensor, records, per_sample: bool):
    """The residual ``(N,)`` and the per-sample parameter leaves; None if unsupported."""
    plan = _term_plan(problem, term)
    layers = _layers(problem, [plan])
    if layers is None:
        return None
    coords = _coordinates(plan, points)
    leaves: dict[str, torch.Tensor] = {}
    env = {**coords, **_parameters(problem, plan.params, points.shape[0], per_sample, leaves)}
    outputs: dict[int, list[list[torch.Tensor | None]]] = {}
    for net, net_layers in layers.items():
        idx = [i for i, g in enumerate(plan.groups) if g.net == net]
        groups = [plan.groups[i] for i in idx]
        seeds = [_seeds(g, [coords[a] for a in g.args]) for g in groups]
        for i, ch in zip(idx, propagate(net_layers, groups, seeds, records)):
            outputs[i] = ch
    for name, g, c, column in plan.values:
        env[name] = _pick(outputs[g][c], column, points)
    return _residual(plan, env, points), list(leaves.values())


def _evaluate_together(problem, terms: list[str], points: torch.Tensor, records):
    """The residuals ``{term: (N,)}`` of terms at the same points, with one propagation
    per network: the network evaluations of the terms that compute the same thing (the
    same network at the same inputs, fixed values included) are merged, their channels
    joined. Returns the residuals and the shared per-sample parameter leaves; None if a
    network is unsupported."""
    plans = {term: _term_plan(problem, term) for term in terms}
    layers = _layers(problem, plans.values())
    if layers is None:
        return None
    keys: dict[tuple, int] = {}
    joined: list[tuple[tuple, list, list]] = []  # (key, channels, coordinate columns)
    where: dict[tuple[str, int], int] = {}
    coords = {term: _coordinates(plan, points) for term, plan in plans.items()}
    for term, plan in plans.items():
        spec = {name: (column, value) for name, column, value in plan.coordinates}
        for gi, g in enumerate(plan.groups):
            key = (g.net, tuple(spec[a] for a in g.args), g.scaling)
            if key not in keys:
                keys[key] = len(joined)
                joined.append((key, [], [coords[term][a] for a in g.args]))
            where[term, gi] = keys[key]
            channels = joined[keys[key]][1]
            channels.extend(c for c in g.channels if c not in channels)
    merged = []
    for (net, spec, scaling), channels, _ in joined:
        planned, rules, _ = plan_channels(channels, len(spec))
        merged.append(_Group(net, tuple(map(str, spec)), scaling, planned, rules))
    outputs: dict[int, list[list[torch.Tensor | None]]] = {}
    for net, net_layers in layers.items():
        idx = [i for i, g in enumerate(merged) if g.net == net]
        groups = [merged[i] for i in idx]
        seeds = [_seeds(merged[i], joined[i][2]) for i in idx]
        for i, ch in zip(idx, propagate(net_layers, groups, seeds, records)):
            outputs[i] = ch
    index = [{c: k for k, c in enumerate(g.channels)} for g in merged]
    leaves: dict[str, torch.Tensor] = {}
    residuals = {}
    for term, plan in plans.items():
        env = {**coords[term],
               **_parameters(problem, plan.params, points.shape[0], True, leaves)}
        for name, gi, c, column in plan.values:
            m = where[term, gi]
            env[name] = _pick(outputs[m][index[m][plan.groups[gi].channels[c]]], column, points)
        residuals[term] = _residual(plan, env, points)
    return residuals, list(leaves.values())


def fast_residual(problem, term: str, points) -> torch.Tensor | None:
    """The residual ``(N,)`` of ``term`` by forward propagation (graph attached).

    Equal to ``problem.residuals[term](points)`` up to rounding; ``None`` if a network
    of the term is not supported.

    Examples:
        ``u'' = -1``, whose residual is ``u_xx + 1``, against a second derivative taken
        with plain autograd:

        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)}, [x], [u(x)])
        >>> _ = torch.manual_seed(0)
        >>> net = MLP(1, 1, [8]).double()
        >>> prob = discretize(s, PhysicsInformedNN(net, GridTraining(0.1)))
        >>> pts = torch.linspace(0, 1, 7, dtype=torch.float64).reshape(-1, 1)
        >>> r = fast_residual(prob, "pde_0", pts)
        >>> r.shape, r.requires_grad  # the graph to the network's parameters is attached
        (torch.Size([7]), True)
        >>> p = pts.clone().requires_grad_()
        >>> u_x, = torch.autograd.grad(net(p).sum(), p, create_graph=True)
        >>> u_xx, = torch.autograd.grad(u_x.sum(), p)
        >>> bool(torch.allclose(r, u_xx[:, 0] + 1, rtol=1e-10))
        True
        >>> bool(torch.allclose(r, prob.residuals["pde_0"](pts), rtol=1e-10))
        True
    """
    points = problem.as_points(term, points)
    with torch.enable_grad():
        out = _evaluate(problem, term, points, None, per_sample=False)
    return None if out is None else out[0]


def _gram(a: torch.Tensor) -> torch.Tensor:
    """Per-sample Gram matrices ``(N, M, M)`` of stacked channels ``(M, N, w)``."""
    t = a.transpose(0, 1)
    return torch.bmm(t, t.transpose(1, 2))


def fast_ntk_diagonal(problem, term: str, points) -> torch.Tensor | None:
    """Exact ``K_ii = ‖∂r_i/∂θ‖²`` of ``term`` at ``points``, by forward propagation.

    ``θ`` is every trainable tensor (as in :func:`~symbolic_pinn.adaptive.kernel.
    ntk_diagonal`): the networks' parameters with ``requires_grad`` and the estimated
    PDE parameters.

    Args:
        problem: A problem from :func:`symbolic_pinn.discretize`.
        term: A term name.
        points: ``(N, n_indvars)`` tensor or array.

    Returns:
        A detached ``(N,)`` tensor, or ``None`` when a network of the term is not a
        plain :class:`~symbolic_pinn.networks.MLP` with a supported activation (then
        use the generic path).

    Examples:
        ``u'' = -a`` with ``a`` estimated (residual ``a + u_xx``), against
        ``‖∂r_i/∂θ‖²`` over the network's parameters and ``a`` by plain autograd, one
        point at a time:

        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> x, a = sp.symbols("x a"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -a)], [u(0), u(1)], {x: (0, 1)}, [x],
        ...               [u(x)], {a: 1.0})
        >>> _ = torch.manual_seed(0)
        >>> net = MLP(1, 1, [8]).double()
        >>> prob = discretize(s, PhysicsInformedNN(net, GridTraining(0.1), param_estim=True))
        >>> pts = torch.linspace(0, 1, 5, dtype=torch.float64).reshape(-1, 1)
        >>> diag = fast_ntk_diagonal(prob, "pde_0", pts)
        >>> diag.shape, diag.requires_grad
        (torch.Size([5]), False)
        >>> theta = [*net.parameters(), prob.params["a"]]
        >>> def sq_grad_norm(p):  # ‖∂r/∂θ‖² at one point (the output bias does not reach u_xx)
        ...     p = p.reshape(1, 1).requires_grad_()
        ...     u_x, = torch.autograd.grad(net(p).sum(), p, create_graph=True)
        ...     u_xx, = torch.autograd.grad(u_x.sum(), p, create_graph=True)
        ...     grads = torch.autograd.grad(theta[-1] + u_xx.sum(), theta, allow_unused=True)
        ...     return sum(g.square().sum() for g in grads if g is not None)
        >>> bool(torch.allclose(diag, torch.stack([sq_grad_norm(p) for p in pts]), rtol=1e-10))
        True
    """
    points = problem.as_points(term, points)
    records: list[Record] = []
    with torch.enable_grad():
        out = _evaluate(problem, term, points, records, per_sample=True)
        if out is None:
            return None
        r, leaves = out
        return _diagonal(r, records, leaves, points, {}, retain=False)


def _diagonal(r: torch.Tensor, records: list[Record], leaves: list[torch.Tensor],
              points: torch.Tensor, grams: dict, retain: bool) -> torch.Tensor:
    """``‖∂r_i/∂θ‖²`` from one backward pass of ``Σ r_i`` to the layers' stacked outputs
    and the parameter leaves (``grams``: the records' input Gram matrices, made once for
    terms evaluated together; ``retain``: keep the graph for the next term's pass)."""
    targets = [rec.outputs for rec in records] + leaves
    diag = torch.zeros(points.shape[0], dtype=points.dtype, device=points.device)
    if not targets or not r.requires_grad:
        return diag
    grads = torch.autograd.grad(r.sum(), targets, allow_unused=True, retain_graph=retain)
    with torch.no_grad():
        for k, (rec, delta) in enumerate(zip(records, grads)):
            if delta is None:
                continue
            if rec.layer.weight.requires_grad:
                if rec.inputs.shape[0] == 1:
                    diag += rec.inputs[0].square().sum(1) * delta[0].square().sum(1)
                else:
                    if k not in grams:
                        grams[k] = _gram(rec.inputs)
                    diag += (grams[k] * _gram(delta)).sum((1, 2))
            bias = rec.layer.bias
            if bias is not None and bias.requires_grad and rec.value_rows:
                db = delta[rec.value_rows].sum(0)
                diag += db.square().sum(1)
        for g in grads[len(records):]:
            if g is not None:
                diag += g[:, 0].square()
    return diag.detach()


def fast_ntk_together(problem, terms, points) -> dict[str, torch.Tensor] | None:
    """:func:`fast_ntk_diagonal` of several terms at the same points, from one forward
    propagation per network (the evaluations the terms share are made once, as in the
    generated ``shared_residuals_<k>``) and one backward pass per term.

    Args:
        problem: A problem from :func:`symbolic_pinn.discretize`.
        terms: Term names.
        points: ``(N, n_indvars)`` tensor or array, the points of every one of them.

    Returns:
        ``{term: (N,)}`` detached, equal to :func:`fast_ntk_diagonal` up to rounding, or
        ``None`` when a network is not supported.

    Examples:
        The two equations of a system, against each term on its own:

        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> x = sp.Symbol("x"); u, v = sp.Function("u"), sp.Function("v")
        >>> U, V = u(x), v(x)
        >>> s = PDESystem([U.diff(x, 2) + V, V.diff(x) - U * V], [u(0), v(0)], {x: (0, 1)},
        ...               [x], [U, V])
        >>> _ = torch.manual_seed(0)
        >>> prob = discretize(s, PhysicsInformedNN(MLP(1, 2, [8]).double(), GridTraining(0.1)))
        >>> pts = torch.linspace(0, 1, 6, dtype=torch.float64).reshape(-1, 1)
        >>> both = fast_ntk_together(prob, ["pde_0", "pde_1"], pts)
        >>> all(torch.allclose(both[t], fast_ntk_diagonal(prob, t, pts), rtol=1e-12)
        ...     for t in ("pde_0", "pde_1"))
        True
    """
    terms = list(terms)
    points = problem.as_points(terms[0], points)
    records: list[Record] = []
    with torch.enable_grad():
        out = _evaluate_together(problem, terms, points, records)
        if out is None:
            return None
        residuals, leaves = out
        grams: dict = {}
        return {term: _diagonal(residuals[term], records, leaves, points, grams,
                                retain=k < len(terms) - 1)
                for k, term in enumerate(terms)}


def fast_ntk_diagonals(problem, points: dict) -> dict[str, torch.Tensor] | None:
    """:func:`fast_ntk_diagonal` for several terms; ``None`` if any is unsupported.

    Examples:
        The boundary term ``u(0)`` has ``K_ii = ‖∂u(0)/∂θ‖²`` at every point, checked
        with plain autograd; a network that is not an :class:`~symbolic_pinn.MLP` gives
        ``None``:

        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)}, [x], [u(x)])
        >>> _ = torch.manual_seed(0)
        >>> net = MLP(1, 1, [8]).double()
        >>> prob = discretize(s, PhysicsInformedNN(net, GridTraining(0.1)))
        >>> pts = torch.linspace(0, 1, 4, dtype=torch.float64).reshape(-1, 1)
        >>> diags = fast_ntk_diagonals(prob, {"pde_0": pts, "bc_0": pts[:2]})
        >>> {term: tuple(d.shape) for term, d in diags.items()}
        {'pde_0': (4,), 'bc_0': (2,)}
        >>> bool(torch.equal(diags["pde_0"], fast_ntk_diagonal(prob, "pde_0", pts)))
        True
        >>> grads = torch.autograd.grad(net(torch.zeros(1, 1, dtype=torch.float64)).sum(),
        ...                             list(net.parameters()))
        >>> k_00 = sum(g.square().sum() for g in grads)
        >>> bool(torch.allclose(diags["bc_0"], k_00.expand(2), rtol=1e-10))
        True
        >>> seq = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(),
        ...                           torch.nn.Linear(8, 1))
        >>> other = discretize(s, PhysicsInformedNN(seq, GridTraining(0.1)))
        >>> fast_ntk_diagonals(other, {"pde_0": pts}) is None
        True
    """
    out = {}
    for term, pts in points.items():
        d = fast_ntk_diagonal(problem, term, pts)
        if d is None:
            return None
        out[term] = d
    return out
