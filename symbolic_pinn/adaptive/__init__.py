"""Adaptive loss weighting: the hook, and the strategies that plug into it.

Global term weights: :class:`NeuralTangentKernelAdaptiveLoss` (NTK traces),
:class:`GradientScaleAdaptiveLoss` (learning-rate annealing), :class:`GradNormAdaptiveLoss`
(Expert's-guide gradient norms), :class:`MiniMaxAdaptiveLoss` (gradient ascent on term
weights), :class:`SoftAdaptAdaptiveLoss` and :class:`ReLoBRaLoAdaptiveLoss` (loss
statistics). Point weights: :class:`SelfAdaptiveLoss` (SA-PINN) and
:class:`CausalAdaptiveLoss`. :class:`Compose` combines them; see ``docs/adaptive_losses.md``
for the hook contract.
"""

from .base import AdaptiveLoss, Need, NonAdaptiveLoss, ReweightContext, RunSetup
from .causal import CausalAdaptiveLoss, causal_weights
from .compose import Compose
from .grad_norm import GradNormAdaptiveLoss, gradient_norm
from .gradient_scale import GradientScaleAdaptiveLoss
from .kernel import ntk_diagonal, term_ntk_diagonal
from .loss_balancing import ReLoBRaLoAdaptiveLoss, SoftAdaptAdaptiveLoss, scaled_softmax
from .minimax import MiniMaxAdaptiveLoss
from .ntk import NeuralTangentKernelAdaptiveLoss, traces_at
from .self_adaptive import SelfAdaptiveLoss

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
