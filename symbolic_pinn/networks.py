"""Networks: the multilayer perceptron PINNs usually use, with Xavier initialisation."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MLP", "ACTIVATIONS"]


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
