"""Adaptive loss weighting: the hook, and the strategies that plug into it."""

from .base import AdaptiveLoss, Need, NonAdaptiveLoss, ReweightContext, RunSetup
from .compose import Compose
from .kernel import ntk_diagonal
from .ntk import NeuralTangentKernelAdaptiveLoss, traces_at

__all__ = [
    "AdaptiveLoss",
    "Need",
    "NonAdaptiveLoss",
    "ReweightContext",
    "RunSetup",
    "Compose",
    "NeuralTangentKernelAdaptiveLoss",
    "ntk_diagonal",
    "traces_at",
]
