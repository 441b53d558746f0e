"""Adaptive loss weighting: the hook, and the strategies that plug into it.

Global term weights: :class:`NeuralTangentKernelAdaptiveLoss` (NTK traces),
:class:`GradientScaleAdaptiveLoss` (learning-rate annealing), :class:`GradNormAdaptiveLoss`
(Expert's-guide gradient norms), :class:`MiniMaxAdaptiveLoss` (gradient ascent on term
weights), :class:`SoftAdaptAdaptiveLoss` and :class:`ReLoBRaLoAdaptiveLoss` (loss
statistics). Point weights: :class:`SelfAdaptiveLoss` (SA-PINN) and
:class:`CausalAdaptiveLoss`. :class:`Compose` combines them; see ``docs/adaptive_losses.md``
for the hook contract.

The strategy modules load on first use of their names (PEP 562), so that importing the
package, which needs only :mod:`.base`, does not pay for all of them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .. import _LOCK
from .base import AdaptiveLoss, Need, NonAdaptiveLoss, ReweightContext, RunSetup

if TYPE_CHECKING:
    from .causal import CausalAdaptiveLoss, causal_weights
    from .compose import Compose
    from .grad_norm import GradNormAdaptiveLoss, gradient_norm
    from .gradient_scale import GradientScaleAdaptiveLoss
    from .kernel import ntk_diagonal, term_ntk_diagonal
    from .loss_balancing import ReLoBRaLoAdaptiveLoss, SoftAdaptAdaptiveLoss, scaled_softmax
    from .minimax import MiniMaxAdaptiveLoss
    from .ntk import NeuralTangentKernelAdaptiveLoss, traces_at
    from .self_adaptive import SelfAdaptiveLoss

_HOMES = {
    "CausalAdaptiveLoss": "causal",
    "causal_weights": "causal",
    "Compose": "compose",
    "GradNormAdaptiveLoss": "grad_norm",
    "gradient_norm": "grad_norm",
    "GradientScaleAdaptiveLoss": "gradient_scale",
    "ntk_diagonal": "kernel",
    "term_ntk_diagonal": "kernel",
    "ReLoBRaLoAdaptiveLoss": "loss_balancing",
    "SoftAdaptAdaptiveLoss": "loss_balancing",
    "scaled_softmax": "loss_balancing",
    "MiniMaxAdaptiveLoss": "minimax",
    "NeuralTangentKernelAdaptiveLoss": "ntk",
    "traces_at": "ntk",
    "SelfAdaptiveLoss": "self_adaptive",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _LOCK:  # the package's: one lazy import at a time (see symbolic_pinn.__init__)
        value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

__all__ = [
    "AdaptiveLoss",
    "Need",
    "NonAdaptiveLoss",
    "ReweightContext",
    "RunSetup",
    "Compose",
    "NeuralTangentKernelAdaptiveLoss",
    "ntk_diagonal",
    "term_ntk_diagonal",
    "traces_at",
    "GradientScaleAdaptiveLoss",
    "GradNormAdaptiveLoss",
    "gradient_norm",
    "MiniMaxAdaptiveLoss",
    "SoftAdaptAdaptiveLoss",
    "ReLoBRaLoAdaptiveLoss",
    "scaled_softmax",
    "SelfAdaptiveLoss",
    "CausalAdaptiveLoss",
    "causal_weights",
]
