"""Networks: the multilayer perceptron PINNs usually use, with Xavier initialisation."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from .errors import TrainingError

__all__ = ["MLP", "ACTIVATIONS", "batch_coupled"]


class _Sin(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x)


#: Activation names accepted by :class:`MLP`.
ACTIVATIONS = {
    "tanh": nn.Tanh,
    "sin": _Sin,
    "sigmoid": nn.Sigmoid,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "softplus": nn.Softplus,
    "elu": nn.ELU,
}


class MLP(nn.Sequential):
    """A fully connected network ``n_in -> hidden... -> n_out``.

    Weights use Xavier (Glorot) normal initialisation and biases start at zero, as in
    the NTK paper's wave code. The last layer is linear.

    Args:
        n_in: Number of inputs (the arguments of the dependent variable).
        n_out: Number of outputs (1, or the number of dependent variables it serves).
        hidden: Widths of the hidden layers.
        activation: One of :data:`ACTIVATIONS`.

    Examples:
        >>> net = MLP(2, 1, hidden=[16, 16])
        >>> net(torch.zeros(5, 2)).shape
        torch.Size([5, 1])
        >>> sum(p.numel() for p in net.parameters())
        337
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        hidden: Sequence[int] = (64, 64),
        activation: str = "tanh",
    ) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}"
            )
        widths = [int(n_in), *map(int, hidden), int(n_out)]
        if min(widths) < 1:
            raise ValueError(f"layer widths must be positive, got {widths}")
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(widths)):
            layers.append(nn.Linear(a, b))
            if i < len(widths) - 2:
                layers.append(ACTIVATIONS[activation]())
        super().__init__(*layers)
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw the weights (Xavier normal) and zero the biases."""
        for layer in self:
            if isinstance(layer, nn.Linear):
                nn.init.xavier_normal_(layer.weight)
                nn.init.zeros_(layer.bias)


# every BatchNorm (1d/2d/3d, their lazy forms, SyncBatchNorm) derives from this base
_BATCH_NORMS = nn.modules.batchnorm._BatchNorm


def _batch_norms(net: nn.Module):
    """``(name, module)`` of the layers that normalise with the batch's own statistics."""
    for name, module in net.named_modules():
        if isinstance(module, _BATCH_NORMS) and (module.training
                                                 or not module.track_running_stats):
            yield name, module


def batch_coupled(net: nn.Module) -> str | None:
    """The first submodule that would normalise with the batch's own statistics.

    A BatchNorm layer in training mode (or one without running statistics, in any
    mode) makes each point's output depend on every other point of the batch: the
    derivatives with respect to a point's inputs, the per-point residuals and the NTK
    diagonals are then not those of a function of the point. In evaluation mode with
    running statistics it is a fixed affine map, and fine.

    Args:
        net: A network.

    Returns:
        The offending submodule's name (``""`` for the network itself), or None.

    Examples:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.Tanh(), nn.Linear(8, 1))
        >>> batch_coupled(net)
        '1'
        >>> batch_coupled(net.eval()) is None
        True
    """
    return next((name for name, _ in _batch_norms(net)), None)


def check_not_batch_coupled(nets: Sequence[nn.Module], ir) -> None:
    """Raise :class:`~symbolic_pinn.errors.TrainingError` for the first network in which
    :func:`batch_coupled` finds a layer, naming the network, the dependent variables it
    serves (from the problem's ``ir``) and the layer."""
    for i, net in enumerate(nets):
        for name, module in _batch_norms(net):
            raise TrainingError(
                f"{ir.network_label(i)}: layer {name or '(the network)'!r} "
                f"({type(module).__name__}) normalises with the batch's statistics, so a "
                "point's output depends on the other points and its input derivatives are "
                "wrong; put the network in evaluation mode (net.eval(), with running "
                "statistics) or leave the layer out")
