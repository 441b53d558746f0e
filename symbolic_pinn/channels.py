"""The channels of forward (Taylor-mode) propagation through an MLP.

Shared by the generated residuals' :func:`~symbolic_pinn.jets.jet` calls and the NTK
diagonals of :mod:`symbolic_pinn.fast_ntk`, so both carry the same channels:

* A channel is a multi-index ``α`` (the derivative ``∂^α`` of a layer's values with
  respect to the network inputs, one order per input slot), or a linear combination
  ``((c_1, α_1), (c_2, α_2), ...)`` of derivatives (never the value).
* :func:`plan_channels` closes a set of requested channels downwards (every multi-index
  that Faà di Bruno's formula reads) and gives each channel its rule at an activation,
  ``∂^α σ(z) = Σ_π σ^(|π|)(z) Π_{B ∈ π} z_B`` over the set partitions ``π`` of the
  derivative directions, as ``(k, coefficient, block channels)`` triples.
* A combination's rule is the sum of its members' rules, whose one-block terms
  ``σ'(z) c_α z_α`` add up to ``σ'(z) z_comb`` (a ``Linear`` layer is linear:
  ``z_comb = Σ c_α z_α``). So ``-u_xx - u_yy`` travels as one channel, not two (the
  forward Laplacian), as does ``u_t - ν u_xx``;
  :func:`symbolic_pinn.top_order.combine_top_order` finds such combinations in a
  residual: derivatives that no other channel reads.

This module needs torch alone: the generated code imports it (through
:mod:`symbolic_pinn.jets`) without SymPy.
"""

from __future__ import annotations

import torch

__all__ = ["plan_channels", "seed_channels", "seed_rows", "is_combination"]

Multi = tuple[int, ...]  # derivative orders per input slot
Rule = tuple[tuple[int, float, tuple[int, ...]], ...]


def is_combination(channel) -> bool:
    """Whether a channel is a combination ``((c, α), ...)`` rather than a multi-index.

    Examples:
        >>> is_combination((2, 0)), is_combination(((1.0, (2, 0)), (1.0, (0, 2))))
        (False, True)
        >>> channels, _, _ = plan_channels([((1.0, (2, 0)), (1.0, (0, 2)))], 2)
        >>> [is_combination(c) for c in channels]  # the Laplacian after its closure
        [False, False, False, True]
    """
    return bool(channel) and not isinstance(channel[0], int)


def _set_partitions(items: list[int]):
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in _set_partitions(rest):
        yield [[first], *part]
        for i in range(len(part)):
            yield [*part[:i], [first, *part[i]], *part[i + 1:]]


def _closure(needed: set[Multi], n: int) -> list[Multi]:
    """Every multi-index below a needed one, lower orders first."""
    out: set[Multi] = {(0,) * n}
    for alpha in needed:
        stack: list[Multi] = [()]
        for k in alpha:
            stack = [s + (j,) for s in stack for j in range(k + 1)]
        out.update(stack)
    return sorted(out, key=lambda a: (sum(a), tuple(-k for k in a)))


def _faa_di_bruno(alpha: Multi, index: dict, coef: float, merged: dict, skip_one: bool):
    """Add ``coef`` times the terms of ``∂^α σ(z)`` to ``merged`` ({(k, blocks): c})."""
    directions = [slot for slot, k in enumerate(alpha) for _ in range(k)]
    for part in _set_partitions(list(range(len(directions)))):
        if skip_one and len(part) == 1:
            continue
        blocks = []
        for block in part:
            b = [0] * len(alpha)
            for pos in block:
                b[directions[pos]] += 1
            blocks.append(index[tuple(b)])
        key = (len(part), tuple(sorted(blocks)))
        merged[key] = merged.get(key, 0.0) + coef


def _check(alpha, n_in: int, member: bool = False) -> None:
    if len(alpha) != n_in or any(k < 0 for k in alpha) or (member and not any(alpha)):
        raise ValueError(f"jet: multi-index {alpha} does not fit {n_in} input(s)"
                         + (" (or is the value, which a combination cannot hold)"
                            if member else ""))


def plan_channels(requests, n_in: int) -> tuple[tuple, tuple[Rule, ...], tuple[int, ...]]:
    """The channels that ``requests`` (multi-indices and combinations) need.

    Returns ``(channels, rules, picks)``: the multi-indices in an order where each rule
    reads only earlier channels, then the combinations; per channel its activation rule;
    per request its channel's position.

    Examples:
        >>> channels, rules, picks = plan_channels([((1.0, (2, 0)), (1.0, (0, 2)))], 2)
        >>> channels
        ((0, 0), (1, 0), (0, 1), ((1.0, (2, 0)), (1.0, (0, 2))))
        >>> rules[3]  # σ'(z) z_lap + σ''(z) (z_x² + z_y²)
        ((1, 1.0, (3,)), (2, 1.0, (1, 1)), (2, 1.0, (2, 2)))
    """
    multis, combos = [], []
    for alpha in requests:
        if is_combination(alpha):
            for _, member in alpha:
                _check(member, n_in, member=True)
                # the combination reads every multi-index strictly below a member
                multis += [tuple(k - (i == j) for i, k in enumerate(member))
                           for j, kj in enumerate(member) if kj]
            combos.append(alpha)
        else:
            _check(alpha, n_in)
            multis.append(alpha)
    combos = list(dict.fromkeys(combos))  # each combination is carried once
    channels = _closure(set(multis), n_in)
    index = {a: i for i, a in enumerate(channels)}
    rules = []
    for alpha in channels:
        merged: dict = {}
        _faa_di_bruno(alpha, index, 1.0, merged, skip_one=False)
        rules.append(tuple((k, c, b) for (k, b), c in sorted(merged.items())))
    for i, combo in enumerate(combos):
        me = len(channels) + i
        merged = {(1, (me,)): 1.0}
        for coef, alpha in combo:
            _faa_di_bruno(alpha, index, coef, merged, skip_one=True)
        rules.append(tuple((k, c, b) for (k, b), c in sorted(merged.items()) if c != 0.0))
        index[combo] = me
    return tuple(channels) + tuple(combos), tuple(rules), tuple(index[a] for a in requests)


def seed_channels(value: torch.Tensor, channels, factors,
                  expand: bool = True) -> list[torch.Tensor | None]:
    """Input channels of one evaluation: ``value`` (N, k), then per channel the seed
    ``factors[j] e_j`` of ``∂/∂slot j``, ``Σ c factors[j] e_j`` over a combination's
    first-order members, and ``None`` (zero) for higher orders.

    ``factors[j]`` is ``d(input j)/d(coordinate)``: 1 for a raw input, ``1/std`` for a
    standardised one. With ``expand=False`` the seeds stay ``(1, k)`` rows (the training
    path broadcasts them).

    Examples:
        Inputs ``(x, t)`` standardised with ``std = (0.5, 2)``, so ``factors = (2, 0.5)``;
        Burgers' ``u_t - 0.01 u_xx`` is seeded by its first-order member alone:

        >>> burgers = ((-0.01, (2, 0)), (1.0, (0, 1)))
        >>> channels = ((0, 0), (1, 0), (2, 0), burgers, ((1.0, (1, 0)), (-3.0, (0, 1))))
        >>> value = torch.tensor([[0.5, 2.0], [1.0, 4.0]])
        >>> seeds = seed_channels(value, channels, [2.0, 0.5], expand=False)
        >>> seeds[0] is value, seeds[1].tolist(), seeds[2], seeds[3].tolist()
        (True, [[2.0, 0.0]], None, [[0.0, 0.5]])
        >>> seeds[4].tolist()  # 1·2 e_x - 3·0.5 e_t
        [[2.0, -1.5]]
        >>> seed_channels(value, channels, [2.0, 0.5])[1].shape  # expanded to (N, k)
        torch.Size([2, 2])
    """
    n_in = value.shape[1]
    out: list[torch.Tensor | None] = [value]
    for row in seed_rows(channels, tuple(factors), n_in):
        seed = (None if row is None
                else torch.tensor([row], dtype=value.dtype, device=value.device))
        out.append(seed.expand(value.shape[0], n_in) if expand and seed is not None
                   else seed)
    return out


def seed_rows(channels, factors: tuple[float, ...],
              n_in: int) -> tuple[tuple[float, ...] | None, ...]:
    """The seeds of :func:`seed_channels` as numbers: per channel after the value, the
    row ``Σ c factors[j] e_j`` over its first-order members, or ``None`` (zero).

    A channel's members are distinct multi-indices, so each slot gets one product, and
    the tensor made from the row holds its rounding to the tensor's dtype.

    Examples:
        >>> seed_rows(((0, 0), (1, 0), (2, 0), ((1.0, (1, 0)), (-3.0, (0, 1)))), (2.0, 0.5), 2)
        ((2.0, 0.0), None, (2.0, -1.5))
    """
    rows = []
    for channel in channels[1:]:
        terms = channel if is_combination(channel) else ((1.0, channel),)
        row = None
        for coef, alpha in terms:
            if sum(alpha) == 1:
                row = row or [0.0] * n_in
                slot = alpha.index(1)
                row[slot] += coef * factors[slot]
        rows.append(None if row is None else tuple(row))
    return tuple(rows)
