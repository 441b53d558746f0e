"""The exact NTK diagonals of many terms: one propagation per network, one backward pass
per round.

:mod:`symbolic_pinn.fast_ntk` computes ``K_ii = ‖∂r_i/∂θ‖²`` of a term from one forward
propagation and one backward pass of ``Σ_i r_i``: row ``i`` of a layer's stacked outputs
only reaches its own residual, so the pass gives every sample's ``δ`` at once. This
module does the same for a whole problem:

* **Blocks.** Terms whose points are one tensor form a block. They share their samples,
  so each term needs a backward pass of its own; the network evaluations they share (the
  same network at the same inputs) are made once, their channels joined.
* **Units.** A block that evaluates a network once has its rows concatenated with those
  of every other such block that carries the same channels (one *unit*): the conditions
  on values of a problem take one propagation together, its equations another, and no
  row carries channels it does not need. A block that evaluates a network more than
  once (``u(0, t) - u(1, t)``) keeps a unit of its own: a sample's Gram matrices must
  stack all of its evaluations of a network.
* **Rounds.** Round ``k`` takes the ``k``-th term of every block and backpropagates the
  sum of their residuals once. Blocks are different rows, so each row's ``δ`` is that of
  its own block's term: a problem takes as many backward passes as its largest block has
  terms (Kovasznay flow: 3 for 12 terms; Poisson: 1 for 5).
* **Parts.** Many points are taken in parts (:func:`parts`), each block's rows split
  alike, so that no stack of channels outgrows the memory the allocator reuses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .channels import plan_channels
from .grad_mode import differentiable
from .propagation import Record, propagate
from .term_plan import (
    Evaluation,
    coordinates,
    network_layers,
    parameters,
    pick,
    residual,
    seeds,
    term_plan,
)

__all__ = ["ntk_diagonals"]


@dataclass
class _Block:
    """Terms at one points tensor, their evaluations merged by what they compute."""

    terms: list[str]
    points: torch.Tensor
    plans: dict = field(default_factory=dict)
    coords: dict = field(default_factory=dict)
    evals: list = field(default_factory=list)  # (key, channels, input columns)
    where: dict = field(default_factory=dict)  # (term, plan evaluation) -> index in evals
    leaves: dict = field(default_factory=dict)  # per-sample parameter leaves


@dataclass
class _Unit:
    """One propagation of a network over the rows of its members ``(block, evals)``."""

    net: int
    members: list = field(default_factory=list)
    offsets: list = field(default_factory=list)  # per member: its first row in the unit
    groups: list = field(default_factory=list)
    inputs: list = field(default_factory=list)  # per evaluation, per argument: a column
    index: list = field(default_factory=list)  # per evaluation: {channel: position}
    records: list = field(default_factory=list)
    outputs: list = field(default_factory=list)


def _block(problem, terms: list[str], points: torch.Tensor) -> _Block:
    block = _Block(terms, points)
    keys: dict[tuple, int] = {}
    for term in terms:
        plan = block.plans[term] = term_plan(problem, term)
        block.coords[term] = coords = coordinates(plan, points)
        spec = {name: (column, value) for name, column, value in plan.coordinates}
        for gi, g in enumerate(plan.groups):
            key = (g.net, tuple(spec[a] for a in g.args), g.scaling)
            if key not in keys:
                keys[key] = len(block.evals)
                block.evals.append((key, [], [coords[a] for a in g.args]))
            block.where[term, gi] = keys[key]
            channels = block.evals[keys[key]][1]
            channels.extend(c for c in g.channels if c not in channels)
    return block


def _units(blocks: list[_Block]) -> list[_Unit]:
    """Each block's evaluations of each network: in a shared unit where a block makes
    one (per network, input scaling and channels), else in a unit of the block's own."""
    units: list[_Unit] = []
    shared: dict[tuple, _Unit] = {}
    for b, block in enumerate(blocks):
        by_net: dict[int, list[int]] = {}
        for e, (key, _, _) in enumerate(block.evals):
            by_net.setdefault(key[0], []).append(e)
        for net, evals in by_net.items():
            (_, _, scaling), channels, _ = block.evals[evals[0]]
            key = (net, scaling, frozenset(channels))
            unit = shared.get(key) if len(evals) == 1 else None
            if unit is None:
                unit = _Unit(net)
                units.append(unit)
                if len(evals) == 1:
                    shared[key] = unit
            unit.members.append((b, evals))
    for unit in units:
        rows = [blocks[b].points.shape[0] for b, _ in unit.members]
        unit.offsets = [sum(rows[:m]) for m in range(len(rows))]
        for j in range(len(unit.members[0][1])):
            evals = [blocks[b].evals[e[j]] for b, e in unit.members]
            channels: list = []
            for _, chans, _ in evals:
                channels.extend(c for c in chans if c not in channels)
            (net, spec, scaling), _, columns = evals[0]
            planned, rules, _ = plan_channels(channels, len(spec))
            unit.groups.append(Evaluation(net, tuple(map(str, spec)), scaling, planned, rules))
            unit.index.append({c: k for k, c in enumerate(planned)})
            unit.inputs.append(columns if len(evals) == 1 else
                               [torch.cat(col) for col in zip(*(ev[2] for ev in evals))])
    return units


def _residuals(problem, blocks: list[_Block], units: list[_Unit]) -> dict:
    """Each term's residual ``(N_b,)``, read from the units' output channels."""
    where = {(b, e): (unit, j, offset) for unit in units
             for (b, evals), offset in zip(unit.members, unit.offsets)
             for j, e in enumerate(evals)}
    out = {}
    for b, block in enumerate(blocks):
        n = block.points.shape[0]
        for term in block.terms:
            plan = block.plans[term]
            env = {**block.coords[term],
                   **parameters(problem, plan.params, n, True, block.leaves)}
            for name, gi, c, column in plan.values:
                unit, j, offset = where[b, block.where[term, gi]]
                t = unit.outputs[j][unit.index[j][plan.groups[gi].channels[c]]]
                if t is not None and len(unit.members) > 1:
                    t = t[offset:offset + n]
                env[name] = pick(t, column, block.points)
            out[term] = residual(plan, env, block.points)
    return out


def _gram(a: torch.Tensor) -> torch.Tensor:
    """Per-sample Gram matrices ``(N, M, M)`` of stacked channels ``(M, N, w)``."""
    t = a.transpose(0, 1)
    return torch.bmm(t, t.transpose(1, 2))


def _unit_diagonal(records: list[Record], deltas, grams: dict) -> torch.Tensor | None:
    """``Σ_layers ‖∂r_i/∂W‖² + ‖∂r_i/∂b‖²`` per row of a unit from its layers' ``δ``
    (``grams``: the input Gram matrices by record, made once for all rounds)."""
    diag = None
    for rec, delta in zip(records, deltas):
        if delta is None:
            continue
        if diag is None:
            diag = torch.zeros(delta.shape[1], dtype=delta.dtype, device=delta.device)
        if rec.layer.weight.requires_grad:
            if rec.inputs.shape[0] == 1:
                diag += rec.inputs[0].square().sum(1) * delta[0].square().sum(1)
            else:
                if id(rec) not in grams:
                    grams[id(rec)] = _gram(rec.inputs)
                diag += (grams[id(rec)] * _gram(delta)).sum((1, 2))
        bias = rec.layer.bias
        if bias is not None and bias.requires_grad and rec.value_rows:
            diag += delta[rec.value_rows].sum(0).square().sum(1)
    return diag


#: Points per part times the widest layer's width, in bytes of the points' dtype: each
#: channel of a layer stays under 2 MiB and a stack of a few under glibc's raised mmap
#: threshold (:mod:`symbolic_pinn.allocator`), where a larger tensor is mapped afresh,
#: page by page, at every allocation (docs/performance.md, "Exact NTK diagonal").
PART_BYTES = 2**21


def parts(problem, blocks: list[tuple[list[str], torch.Tensor]]) -> int:
    """Into how many parts :func:`ntk_diagonals` splits the points: ``n × width × itemsize``
    at most :data:`PART_BYTES` a part (``n`` all the blocks' points, ``width`` the widest
    ``Linear`` layer of the networks), at most ``n``; one part off the CPU (the reason,
    glibc's allocator, is the CPU's: not measured on a GPU).

    Examples:
        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0)], {x: (0, 1)}, [x], [u(x)])
        >>> prob = discretize(s, PhysicsInformedNN(MLP(1, 1, [64]), GridTraining(0.1)))
        >>> [parts(prob, [(["pde_0"], torch.zeros(n, 1))]) for n in (8192, 8193, 76800)]
        [1, 2, 10]
    """
    if any(points.device.type != "cpu" for _, points in blocks):
        return 1
    width = max((m.out_features for net in problem.nets for m in net.modules()
                 if isinstance(m, torch.nn.Linear)), default=1)
    n = sum(points.shape[0] for _, points in blocks)
    size = max((points.element_size() for _, points in blocks), default=4)
    return max(1, min(n, -(-n * width * size // PART_BYTES)))


def ntk_diagonals(problem, blocks: list[tuple[list[str], torch.Tensor]]) -> dict | None:
    """``{term: K_ii}`` (detached) of the terms of ``blocks``, ``[(terms, points)]``
    with the points already converted (``problem.as_points``); ``None`` when a network
    is not supported by the forward propagation, or uses a parameter tensor twice.

    The points are taken in :func:`parts` (each block's rows split alike): every row's
    diagonal is its own, so the parts give the same values, and at large ``N`` each part
    stays in memory the allocator reuses (0.64–0.70 of the time at 76,800 points).

    Examples:
        The equation and a condition of ``u'' = -1`` in one propagation and one backward
        pass (their points differ), against each term on its own:

        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.fast_ntk import fast_ntk_diagonal
        >>> from symbolic_pinn.training import GridTraining
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)}, [x],
        ...               [u(x)])
        >>> _ = torch.manual_seed(0)
        >>> prob = discretize(s, PhysicsInformedNN(MLP(1, 1, [8]).double(), GridTraining(0.1)))
        >>> inside = torch.linspace(0.1, 0.9, 5, dtype=torch.float64).reshape(-1, 1)
        >>> edge = torch.zeros(1, 1, dtype=torch.float64)
        >>> both = ntk_diagonals(prob, [(["pde_0"], inside), (["bc_0"], edge)])
        >>> {t: tuple(d.shape) for t, d in both.items()}
        {'pde_0': (5,), 'bc_0': (1,)}
        >>> bool(torch.allclose(both["pde_0"], fast_ntk_diagonal(prob, "pde_0", inside),
        ...                     rtol=1e-12))
        True
    """
    k = parts(problem, blocks)
    if k == 1:
        return _diagonals(problem, blocks)
    split: list[list] = [[] for _ in range(k)]
    for terms, points in blocks:
        for j, rows in enumerate(points.tensor_split(k)):
            if rows.shape[0] or j == 0:  # (a block of fewer than k points: some parts)
                split[j].append((terms, rows))
    found = []
    for part in split:
        diagonals = _diagonals(problem, part)
        if diagonals is None:
            return None
        found.append(diagonals)
    return {term: torch.cat([f[term] for f in found if term in f])
            for terms, _ in blocks for term in terms}


def _diagonals(problem, blocks: list[tuple[list[str], torch.Tensor]]) -> dict | None:
    """:func:`ntk_diagonals` of one part."""
    blocks_ = [_block(problem, list(terms), pts) for terms, pts in blocks]
    layers = network_layers(problem, [p for b in blocks_ for p in b.plans.values()],
                            untied=True)
    if layers is None:
        return None
    with differentiable():
        units = _units(blocks_)
        for unit in units:
            inputs = [seeds(g, cols) for g, cols in zip(unit.groups, unit.inputs)]
            unit.outputs = propagate(layers[unit.net], unit.groups, inputs, unit.records)
        residuals = _residuals(problem, blocks_, units)
        leaves = [(b, leaf) for b, block in enumerate(blocks_) for leaf in block.leaves.values()]
        targets = [rec.outputs for unit in units for rec in unit.records]
        targets += [leaf for _, leaf in leaves]
        rounds = max((len(b.terms) for b in blocks_), default=0)
        out, grams = {}, {}
        for k in range(rounds):
            active = {b: block for b, block in enumerate(blocks_) if len(block.terms) > k}
            diags = {b: torch.zeros(block.points.shape[0], dtype=block.points.dtype,
                                    device=block.points.device) for b, block in active.items()}
            live = [residuals[block.terms[k]].sum() for block in active.values()
                    if residuals[block.terms[k]].requires_grad]
            if live and targets:
                grads = torch.autograd.grad(torch.stack(live).sum(), targets, allow_unused=True,
                                            retain_graph=k < rounds - 1)
                _accumulate(blocks_, units, leaves, grads, grams, diags)
            out.update({block.terms[k]: diags[b].detach() for b, block in active.items()})
    return {term: out[term] for block in blocks_ for term in block.terms}


@torch.no_grad()
def _accumulate(blocks, units, leaves, grads, grams, diags) -> None:
    """Add each unit's per-row diagonal to the rows of its members in this round."""
    pos = 0
    for unit in units:
        deltas = grads[pos:pos + len(unit.records)]
        pos += len(unit.records)
        diag = _unit_diagonal(unit.records, deltas, grams)
        for (b, _), offset in zip(unit.members, unit.offsets):
            if diag is not None and b in diags:
                diags[b] += diag[offset:offset + blocks[b].points.shape[0]]
    for (b, _), g in zip(leaves, grads[pos:]):
        if g is not None and b in diags:
            diags[b] += g[:, 0].square()
