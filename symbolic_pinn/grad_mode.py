"""Autograd switched on wherever the caller stands.

Residuals take derivatives, NTK diagonals differentiate residuals, and training
differentiates the loss: each needs torch to record a graph. ``torch.enable_grad()``
alone is not enough under ``torch.inference_mode()``, where nothing is recorded and the
derivatives would silently come out as zeros; :func:`differentiable` leaves inference
mode as well, and :func:`recordable` copies a tensor made under it (such a tensor cannot
join a graph).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["differentiable", "recordable"]


@contextlib.contextmanager
def differentiable() -> Iterator[None]:
    """Record autograd graphs inside, even under ``torch.no_grad()`` or
    ``torch.inference_mode()``.

    Examples:
        >>> x = torch.ones(2, requires_grad=True)
        >>> with torch.inference_mode(), differentiable():
        ...     y = (x**2).sum()
        >>> torch.autograd.grad(y, x)[0].tolist()
        [2.0, 2.0]
    """
    with torch.inference_mode(False), torch.enable_grad():
        yield


def recordable(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` itself, or a copy outside inference mode where it was made under
    ``torch.inference_mode()`` (an inference tensor cannot require grad or be saved for
    a backward pass).

    Examples:
        >>> with torch.inference_mode():
        ...     t = torch.zeros(3)
        >>> t.is_inference(), recordable(t).is_inference()
        (True, False)
        >>> u = torch.zeros(3)
        >>> recordable(u) is u
        True
    """
    if not tensor.is_inference():
        return tensor
    with torch.inference_mode(False):
        return tensor.clone()
