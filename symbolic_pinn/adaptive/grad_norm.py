"""Gradient-norm global weights: Algorithm 1 of "An Expert's Guide to Training PINNs".

Wang, Sankaran, Wang & Perdikaris (arXiv 2308.08468), eqs. 2.12-2.15: every term ``k``
(equations and conditions alike) gets

    λ̂_k = Σ_j ‖∇θ L_j‖ / ‖∇θ L_k‖,      λ_k ← α λ_k + (1 - α) λ̂_k,

so that the weighted gradient norms ``‖λ̂_k ∇θ L_k‖`` are all equal. ``‖·‖`` is the L2
norm over every trainable parameter. Not to be confused with GradNorm (Chen et al.
2018), which trains the weights with a separate loss.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import torch

from ..errors import StrategyError
from .base import AdaptiveLoss, Need, ReweightContext, _losses_finite, _skip_update

__all__ = ["GradNormAdaptiveLoss", "gradient_norm"]

_NUMERATORS = ("sum", "mean")


class GradNormAdaptiveLoss(AdaptiveLoss):
    """Balance the gradient norms of all terms (the Expert's guide grad-norm weights).

    On a due step, with ``g_k = ‖∇θ L_k‖`` (unweighted losses, the step's points, all
    trainable tensors), ``λ̂_k = S / (g_k + eps)`` where ``S = Σ_j g_j`` (``"sum"``,
    the paper's eq. 2.12) or ``mean_j g_j`` (``"mean"``, the jaxpi code; the weights are
    then smaller by the number of terms, which Adam ignores up to its epsilon). Then
    ``λ_k ← α λ_k + (1 - α) λ̂_k`` from the first update on, starting from weight 1,
    as in jaxpi.

    Args:
        reweight_every: Optimizer steps between updates (first update at step 0); the
            paper's default is 1000.
        smoothing: ``α`` in ``[0, 1)`` (0.9 in the paper and jaxpi; 0: no averaging).
        numerator: ``"sum"`` (paper) or ``"mean"`` (jaxpi).
        eps: Added to each norm in the denominator.

    Attributes:
        weights: The last weights, ``{term: λ}``.
        norms: ``{term: ‖∇θ L_k‖}`` of the last update.

    Raises:
        StrategyError: For bad arguments.

    A term whose gradient is zero keeps its weight, with a :class:`RuntimeWarning`
    naming it. An update whose losses or gradients are not finite changes nothing (a
    :class:`RuntimeWarning` says so when the losses are finite): the trainer stops that
    step with a :class:`~symbolic_pinn.errors.NonFiniteError`, or rolls it back.

    Examples:
        >>> gn = GradNormAdaptiveLoss(reweight_every=100, numerator="mean")
        >>> gn.is_due(0), gn.is_due(99), gn.is_due(100)
        (True, False, True)
        >>> gn.initial_weights(("pde_0", "bc_0"), {"pde_0": "pde", "bc_0": "bc"})
        {'pde_0': 1.0, 'bc_0': 1.0}
    """

    needs = frozenset({Need.LOSSES, Need.GRADIENTS})
    hook = "losses"

    def __init__(
        self,
        reweight_every: int = 1000,
        smoothing: float = 0.9,
        *,
        numerator: str = "sum",
        eps: float = 1e-12,
    ) -> None:
        super().__init__(reweight_every)
        if not 0.0 <= smoothing < 1.0:
            raise StrategyError(f"smoothing must be in [0, 1), got {smoothing!r}")
        if numerator not in _NUMERATORS:
            raise StrategyError(f"numerator must be one of {_NUMERATORS}, got {numerator!r}")
        if not eps >= 0.0:
            raise StrategyError(f"eps must be non-negative, got {eps!r}")
        self.smoothing, self.numerator, self.eps = float(smoothing), numerator, float(eps)
        self.norms: dict[str, float] = {}

    def initial_weights(self, term_names, kinds) -> dict:
        self.norms = {}
        return super().initial_weights(term_names, kinds)

    def update(self, ctx: ReweightContext) -> dict[str, float] | None:
        if not _losses_finite(ctx):
            return None  # the trainer stops (or rolls back) the step; keep the last weights
        norms = {term: gradient_norm(ctx.gradients[term]) for term in ctx.term_names}
        bad = [term for term, norm in norms.items() if not math.isfinite(norm)]
        if bad:
            return _skip_update(type(self).__name__, ctx,
                               f"the gradient of the loss of term {bad[0]} is not finite")
        self.norms = norms
        total = sum(norms.values())
        top = total if self.numerator == "sum" else total / len(norms)
        alpha, new = self.smoothing, {}
        for term, norm in norms.items():
            if not norm > 0.0:
                warnings.warn(
                    f"GradNormAdaptiveLoss: the gradient of term {term} is zero at step "
                    f"{ctx.step} (its loss does not depend on the parameters, or sits at a stationary point: a residual that is exactly 0 has zero gradient); its weight is "
                    "left unchanged", RuntimeWarning, stacklevel=2)
                continue
            new[term] = alpha * ctx.weights[term] + (1.0 - alpha) * top / (norm + self.eps)
        self.weights = {**ctx.weights, **new}
        return new

    def history_extras(self) -> dict:
        return {"grad_norms": dict(self.norms)}

    def state_dict(self) -> dict:
        return {"weights": dict(self.weights), "norms": dict(self.norms)}

    def load_state_dict(self, state: Mapping) -> None:
        self.weights = dict(state["weights"])
        self.norms = dict(state.get("norms", {}))


def gradient_norm(gradients: Sequence[torch.Tensor]) -> float:
    """The L2 norm of a gradient given as a sequence of tensors (all entries together).

    Examples:
        >>> gradient_norm((torch.tensor([3.0]), torch.tensor([[4.0]])))
        5.0
    """
    squares = [g.detach().double().square().sum() for g in gradients if g.numel()]
    return math.sqrt(float(sum(squares))) if squares else 0.0
