"""Value and input derivatives of an MLP in one forward pass, for the generated residuals.

With the taylor derivatives (``PhysicsInformedNN(..., derivatives="auto")``, the default,
for MLPs, or ``derivatives="taylor"``) the generated batched residuals call :func:`jet`
once per network evaluation instead of calling the network and then
``torch.autograd.grad`` once per first-order derivative step::

    u_xx, u_yy = jet(nets[0], torch.cat((x, y), dim=1), ((2, 0), (0, 2)),
                     scale=(1.0, 1.0), column=0)

The propagation is :mod:`symbolic_pinn.propagation` (value and derivative channels
through every ``Linear``, Faà di Bruno's formula at every activation), shared with the
exact NTK diagonals of :mod:`symbolic_pinn.fast_ntk`: only the channels the requested
multi-indices need are carried. The inputs need no ``requires_grad``; the outputs are
ordinary differentiable functions of the networks' parameters, so ``loss.backward()`` is
one backward pass through the forward graph (no double backward).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
from torch import nn

from .channels import is_combination, plan_channels, seed_channels, seed_rows
from .propagation import layers_of, propagate, supports

__all__ = ["jet", "supports"]


class _Plan:
    """The channels for one set of orders and number of inputs, and their seed rows."""

    __slots__ = ("_seeds", "channels", "picks", "rules")

    def __init__(self, orders: tuple, n_in: int) -> None:
        self.channels, self.rules, self.picks = plan_channels(orders, n_in)
        self._seeds: dict = {}

    def seeds(self, inputs: torch.Tensor, factors: tuple[float, ...]) -> list:
        """``inputs`` and the constant ``(1, k)`` seed rows of the derivative channels, as
        :func:`~symbolic_pinn.channels.seed_channels` makes them. Their numbers are
        worked out once per scale (they do not depend on the points); each call makes
        its tensors from them, one call each, in whatever mode it runs (inference,
        ``torch.func`` transforms, fake tensors: a cached tensor would carry its mode)."""
        rows = self._seeds.get(factors)
        if rows is None:
            rows = seed_rows(self.channels, factors, inputs.shape[1])
            if len(self._seeds) < 8:
                self._seeds[factors] = rows
        dtype, device = inputs.dtype, inputs.device
        return [inputs, *(None if row is None else torch.tensor([row], dtype=dtype,
                                                                  device=device)
                          for row in rows)]


@functools.lru_cache(maxsize=512)
def _plan(orders: tuple, n_in: int) -> _Plan:
    return _Plan(tuple(_normalised(alpha) for alpha in orders), n_in)


def jet(net: nn.Module, inputs: torch.Tensor, orders: Sequence[Sequence[int]],
        scale: Sequence[float] | None = None,
        column: int | Sequence[int] | None = None) -> tuple[torch.Tensor, ...]:
    """The network's output and its input derivatives ``∂^α net`` for each ``α`` in ``orders``.

    Args:
        net: A :class:`~symbolic_pinn.MLP` (see :func:`supports`).
        inputs: ``(N, k)`` network inputs (standardised, if the problem standardises).
        orders: Multi-indices ``α`` (derivative order per input column); ``(0, ..., 0)``
            is the value. An entry may also be a linear combination
            ``((c_1, α_1), (c_2, α_2), ...)`` of derivatives (no value among them), which
            returns ``Σ c_k ∂^α_k net`` from one channel: a Laplacian
            ``((1.0, (2, 0)), (1.0, (0, 2)))`` costs one channel instead of two.
        scale: Per input column, the derivative of the input with respect to the
            coordinate it comes from (``1/std`` for a standardised input; default 1):
            derivatives are with respect to the coordinates.
        column: Output column to return for every ``α`` (an int), one column per ``α``
            (a sequence), or ``None`` for all outputs.

    Returns:
        One tensor per ``α``: ``(N, 1)`` for a column, else ``(N, outputs)``.

    Raises:
        TypeError: ``net`` is not a supported MLP.

    Examples:
        >>> import torch
        >>> from symbolic_pinn import MLP
        >>> net = MLP(1, 1, [8])
        >>> x = torch.linspace(0, 1, 5).reshape(-1, 1)
        >>> u, u_x = jet(net, x, ((0,), (1,)), column=0)
        >>> xg = x.clone().requires_grad_(True)
        >>> ref = torch.autograd.grad(net(xg).sum(), xg)[0]
        >>> bool(torch.allclose(u_x, ref, atol=1e-6)), u.shape
        (True, torch.Size([5, 1]))
        >>> net2 = MLP(2, 1, [8]).double()
        >>> xy = torch.rand(4, 2, dtype=torch.float64)
        >>> u_xx, u_yy, lap = jet(net2, xy, ((2, 0), (0, 2), ((1.0, (2, 0)), (1.0, (0, 2)))))
        >>> bool(torch.allclose(lap, u_xx + u_yy, rtol=1e-12))
        True
    """
    layers = layers_of(net)
    if layers is None:
        raise TypeError(
            f"jet (derivatives=\"taylor\") needs a plain symbolic_pinn.MLP with a supported "
            f"activation and no hooks; got {type(net).__name__}: use derivatives=\"autograd\"")
    n_in = inputs.shape[1]
    # Under torch.compile the plan is built once at tracing time (dynamo does not trace
    # through the lru_cache wrapper); eagerly it comes from the cache, by the orders as
    # given when they are a hashable tuple (a generated module's are), else normalised.
    compiling = torch.compiler.is_compiling()
    if compiling or not (isinstance(orders, tuple) and _hashable(orders)):
        orders = tuple(_normalised(alpha) for alpha in orders)  # (lists, generators)
    plan = _Plan(orders, n_in) if compiling else _plan(orders, n_in)
    if len(plan.channels) == 1:  # the value alone: an ordinary call
        value = net(inputs)
        outs = [value] * len(orders)
        if column is not None:
            outs = [t[:, c:c + 1] for t, c in zip(
                outs, [column] * len(orders) if isinstance(column, int) else column)]
        return tuple(outs)
    factors = (1.0,) * n_in if scale is None else tuple(float(s) for s in scale)
    seeds = (seed_channels(inputs, plan.channels, factors, expand=False) if compiling
             else plan.seeds(inputs, factors))
    chans = propagate(layers, [plan], [seeds], None)[0]
    value = chans[0]
    outs = []
    for i, pick in enumerate(plan.picks):
        t = chans[pick]
        if t is None:  # identically zero (e.g. a network without activations)
            t = torch.zeros_like(value)
        elif t.shape[0] != value.shape[0]:  # a constant seed row (no activation after it)
            t = t.expand(value.shape[0], -1)
        if column is not None:
            c = column if isinstance(column, int) else column[i]
            t = t[:, c:c + 1]
        outs.append(t)
    return tuple(outs)


def _normalised(alpha):
    if is_combination(alpha):
        return tuple((float(c), tuple(int(k) for k in member)) for c, member in alpha)
    return tuple(int(k) for k in alpha)


def _hashable(orders) -> bool:
    try:
        hash(orders)
    except TypeError:
        return False
    return True
