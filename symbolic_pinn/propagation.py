"""Forward (Taylor-mode) propagation of value and derivative channels through an MLP.

The engine behind the generated residuals' :func:`~symbolic_pinn.jets.jet` calls and the
exact NTK diagonals of :mod:`symbolic_pinn.fast_ntk`. Each network evaluation carries
*channels*: the value and every input derivative ``∂^α h`` that is needed (a
multi-index ``α`` over the network's input slots, closed downwards so every lower
derivative that the chain rule asks for is present; :mod:`symbolic_pinn.channels` plans
them and seeds the inputs).

* A ``Linear`` layer maps every channel by the same matrix, ``z_α = W a_α`` (``+ b`` on
  the value channel only: the bias does not depend on the input).
* An activation maps channels by Faà di Bruno's formula,
  ``∂^α σ(z) = Σ_π σ^(|π|)(z) Π_{B ∈ π} z_B`` over the set partitions ``π`` of the
  derivative directions, with closed-form derivatives ``σ^(k)``
  (:mod:`symbolic_pinn.activations`).

With ``records`` (the NTK path), all channels of all evaluations of one network go
through each layer as one stacked matrix product, and each layer's stacked inputs and
outputs are kept for the per-sample Gram matrices. Without (the training path), the value
channel goes through ``F.linear`` and each derivative channel through its own product.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from .activations import derivatives_of
from .networks import MLP

__all__ = ["supports", "layers_of", "propagate", "unsupported_reason"]


def _hooked(module: nn.Module) -> bool:
    return bool(module._forward_hooks or module._forward_pre_hooks
                or getattr(module, "_backward_hooks", None)
                or getattr(module, "_backward_pre_hooks", None))


def layers_of(net: nn.Module) -> list[tuple[str, object]] | None:
    """``[("linear", Linear) | ("act", fn)]`` for a plain MLP, else None.

    ``fn(z, K)`` gives the activation's value and derivatives up to order ``K``
    (:func:`symbolic_pinn.activations.derivatives_of`). ``None`` for anything else: a
    network that is not an :class:`~symbolic_pinn.MLP` (a subclass with its own
    ``forward`` included), an activation without closed-form derivatives, or a forward
    or backward hook anywhere (the propagation would bypass it).

    Examples:
        >>> [kind for kind, _ in layers_of(MLP(2, 1, [8, 8]))]
        ['linear', 'act', 'linear', 'act', 'linear']
        >>> net = MLP(2, 1, [8])
        >>> handle = net[0].register_forward_hook(lambda *args: None)
        >>> layers_of(net) is None
        True
    """
    if not isinstance(net, MLP) or type(net).forward is not nn.Sequential.forward:
        return None
    if _hooked(net) or nn.modules.module._global_forward_hooks \
            or nn.modules.module._global_forward_pre_hooks:
        return None
    out: list[tuple[str, object]] = []
    for layer in net:
        if _hooked(layer):
            return None
        if type(layer) is nn.Linear:
            out.append(("linear", layer))
            continue
        fn = derivatives_of(layer)
        if fn is None:
            return None
        out.append(("act", fn))
    return out



def unsupported_reason(net: nn.Module) -> str | None:
    """Why :func:`layers_of` refuses ``net`` (``None`` if it does not).

    Examples:
        >>> unsupported_reason(MLP(2, 1, [8])) is None
        True
        >>> net = MLP(2, 1, [8])
        >>> net[1] = nn.LeakyReLU()
        >>> unsupported_reason(net)
        'its layer 1, LeakyReLU(negative_slope=0.01), has no closed-form derivatives here'
    """
    if layers_of(net) is not None:
        return None
    if not isinstance(net, MLP) or type(net).forward is not nn.Sequential.forward:
        return f"it is a {type(net).__name__}, not a plain symbolic_pinn.MLP"
    if _hooked(net):
        return "a hook (forward or backward) is registered on it"
    for k, layer in enumerate(net):
        if _hooked(layer):
            return f"its layer {k}, {layer}, has a hook"
        if type(layer) is not nn.Linear and derivatives_of(layer) is None:
            return f"its layer {k}, {layer}, has no closed-form derivatives here"
    return "a forward hook is registered on every module (torch.nn's global hooks)"


def supports(net: nn.Module) -> bool:
    """Whether the propagation handles ``net``: a plain :class:`~symbolic_pinn.MLP` of
    supported activations (tanh, sin, sigmoid, SiLU, GELU, ReLU, softplus, ELU), no hooks.

    Examples:
        >>> supports(MLP(2, 1, [8])), supports(nn.Sequential(nn.Linear(2, 1)))
        (True, False)
    """
    return layers_of(net) is not None


@dataclass
class Record:
    """One Linear layer's stacked input and output channels, for the Gram matrices.

    Attributes:
        layer: The layer.
        inputs: ``(M, N, in)``: its ``M`` input channels (over all evaluations), stacked.
        outputs: ``(M, N, out)``: ``inputs @ W.T`` (no bias), a leaf of the backward pass.
        value_rows: The rows of ``outputs`` that are value channels (the bias adds there).

    :func:`propagate`'s example shows the records of a small network.
    """

    layer: nn.Linear
    inputs: torch.Tensor  # (M, N, in)
    outputs: torch.Tensor  # (M, N, out)
    value_rows: list[int]


def propagate(layers, groups, inputs: list[list[torch.Tensor | None]],
               records: list[Record] | None) -> list[list[torch.Tensor | None]]:
    """Push the channels of the evaluations of one network through its layers.

    Args:
        layers: The network's :func:`layers_of`.
        groups: Per evaluation, an object whose ``rules`` are its channels' activation
            rules (from :func:`~symbolic_pinn.channels.plan_channels`).
        inputs: Per evaluation, its seeded input channels
            (:func:`~symbolic_pinn.channels.seed_channels`); ``None`` is a zero channel.
        records: ``None`` on the training path; else a list that receives a
            :class:`Record` per trainable ``Linear`` layer.

    Returns:
        Per evaluation, the output channels (``None`` where identically zero).

    Examples:
        ``u`` and ``u_xx`` of a one-input MLP, against autograd. With ``records``, one
        record per ``Linear`` layer: the first stacks the value and ``x_x = 1`` (the
        zero seed ``x_xx`` is not carried), the second all three channels:

        >>> from types import SimpleNamespace
        >>> from symbolic_pinn.channels import plan_channels, seed_channels
        >>> net = MLP(1, 1, [8]).double()
        >>> x = torch.linspace(0, 1, 5, dtype=torch.float64).reshape(-1, 1)
        >>> channels, rules, picks = plan_channels([(0,), (2,)], 1)
        >>> channels, picks
        (((0,), (1,), (2,)), (0, 2))
        >>> seeds = seed_channels(x, channels, [1.0])
        >>> records = []
        >>> out = propagate(layers_of(net), [SimpleNamespace(rules=rules)], [seeds], records)[0]
        >>> xg = x.clone().requires_grad_()
        >>> u_x, = torch.autograd.grad(net(xg).sum(), xg, create_graph=True)
        >>> u_xx, = torch.autograd.grad(u_x.sum(), xg)
        >>> bool(torch.allclose(out[0], net(x))), bool(torch.allclose(out[2], u_xx))
        (True, True)
        >>> [tuple(r.inputs.shape) for r in records], records[0].value_rows
        ([(2, 5, 1), (3, 5, 8)], [0])
    """
    chans = inputs
    for kind, obj in layers:
        if kind == "linear" and records is None:
            chans = _linear_channels(obj, chans)  # type: ignore[arg-type]
        elif kind == "linear":
            layer: nn.Linear = obj  # type: ignore[assignment]
            entries = [(g, c) for g, ch in enumerate(chans) for c, t in enumerate(ch)
                       if t is not None]
            stacked = torch.stack([chans[g][c] for g, c in entries])
            out = torch.matmul(stacked, layer.weight.t())
            trainable = layer.weight.requires_grad or (
                layer.bias is not None and layer.bias.requires_grad)
            if records is not None and trainable:
                if not out.requires_grad:
                    out.requires_grad_(True)
                records.append(Record(layer, stacked, out,
                                       [m for m, (_, c) in enumerate(entries) if c == 0]))
            rows = out.unbind(0)
            new: list[list[torch.Tensor | None]] = [[None] * len(ch) for ch in chans]
            for m, (g, c) in enumerate(entries):
                z = rows[m]
                if c == 0 and layer.bias is not None:
                    z = z + layer.bias
                new[g][c] = z
            chans = new
        else:
            fn: Callable = obj  # type: ignore[assignment]
            new = []
            for g, ch in enumerate(chans):
                rules = groups[g].rules
                live = [k for c, rule in enumerate(rules) if c for k, _, blocks in rule
                        if all(ch[b] is not None for b in blocks)]
                K = max(live) if live else 0  # (no max(default=): torch.compile traces this)
                sig = fn(ch[0], K)
                h = [sig.value] + [sig.channel(rules[c], ch) for c in range(1, len(ch))]
                new.append(h)
            chans = new
    return chans


def _linear_channels(layer: nn.Linear, chans):
    """A Linear layer for the training path (no Gram records): the value channel by
    ``F.linear`` (bias fused), each derivative channel by its own product without bias
    (measured faster on CPU than one stacked product, which copies every channel); a
    ``(1, w)`` row (a constant seed) stays a row."""
    weight_t = layer.weight.t()
    new: list[list[torch.Tensor | None]] = []
    full: list[tuple[int, int]] = []
    for g, ch in enumerate(chans):
        n = ch[0].shape[0]
        row: list[torch.Tensor | None] = [nn.functional.linear(ch[0], layer.weight, layer.bias)]
        for c, t in enumerate(ch[1:], 1):
            if t is None:
                row.append(None)
            elif t.shape[0] == 1 and n != 1:
                row.append(torch.matmul(t, weight_t))
            else:
                row.append(None)
                full.append((g, c))
        new.append(row)
    for g, c in full:  # one product per channel: stacking would copy them all
        new[g][c] = torch.matmul(chans[g][c], weight_t)
    return new
