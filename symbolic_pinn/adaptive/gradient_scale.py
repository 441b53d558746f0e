"""Learning-rate annealing: Algorithm 2.1 of Wang, Teng & Perdikaris (SIAM J. Sci. Comput. 2021).

Each condition term ``k`` gets the weight that brings the mean magnitude of its
gradient up to the largest magnitude of the equation's gradient,

    λ̂_k = max_θ |∇θ L_pde| / mean_θ |∇θ L_k|,      λ_k ← α λ_k + (1 - α) λ̂_k,

with ``α`` the ``weight_change_inertia``. This is NeuralPDE's
``GradientScaleAdaptiveLoss``: one weight per condition, the numerator the max over
every equation term, equation weights left at their set values. The gradients are
those of the unweighted losses, on the step's own points, computed once per reweight
step by the trainer (:attr:`Need.GRADIENTS`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import torch

from ..errors import StrategyError
from .base import AdaptiveLoss, Need, ReweightContext, _losses_finite, _positive, _skip_update

__all__ = ["GradientScaleAdaptiveLoss"]

_STATISTICS = ("max", "mean")
_PARAMETERS = ("all", "weights")
_MEAN_OVER = ("entries", "tensors")


class GradientScaleAdaptiveLoss(AdaptiveLoss):
    """Learning-rate annealing (LRA): scale each condition's gradient up to the equation's.

    On a due step, with ``G_pde = max over equation terms of S(∇θ L_pde)`` and
    ``m_k = mean|∇θ L_k|`` for each condition term ``k``:

    * ``lambda_in_denominator=False`` (paper text, NeuralPDE):
      ``λ̂_k = G_pde / (m_k + eps)``, so that ``λ̂_k m_k = G_pde``;
    * ``lambda_in_denominator=True`` (eq. 2.30 and the authors' TensorFlow code, which
      differentiate the *weighted* loss ``λ_k L_k``): ``λ̂_k = G_pde / (λ_k m_k + eps)``
      with ``λ_k`` the weight in force before the update. Its fixed point is
      ``λ* = sqrt(G_pde / m_k)`` rather than ``G_pde / m_k``.

    Then ``λ_k ← α λ_k + (1 - α) λ̂_k``, from the first update on (the starting weight is
    ``bc_loss_weights``), as in NeuralPDE and the authors' code. Equation weights never
    change. ``S`` is the max of the absolute gradient entries (``statistic="max"``, the
    paper) or their mean (``"mean"``, the variant in ReLoBRaLo's re-implementation).

    The authors' code (Helmholtz, Klein-Gordon) corresponds to
    ``GradientScaleAdaptiveLoss(10, 0.9, lambda_in_denominator=True,
    parameters="weights", mean_over="tensors")``; note that it keeps a single weight for
    all boundary terms together, whereas this class (like NeuralPDE) keeps one per term.

    Args:
        reweight_every: Optimizer steps between updates (first update at step 0). The
            paper's experiments used 10; NeuralPDE's Poisson test, 100.
        weight_change_inertia: ``α`` in ``[0, 1)``: the share of the old weight kept at
            each update (0.9 in NeuralPDE and in the authors' code).
        statistic: ``"max"`` (paper) or ``"mean"``: how the equation gradients are
            summarised into ``G_pde``.
        lambda_in_denominator: Whether the condition gradient is that of the weighted
            loss ``λ_k L_k`` (eq. 2.30, authors' code) or of ``L_k`` (NeuralPDE).
        parameters: ``"all"`` trainable tensors (network and estimated PDE parameters,
            NeuralPDE) or ``"weights"``: the networks' weight matrices only (tensors of two
            or more dimensions; no biases, no PDE parameters), as in the authors' code.
        mean_over: ``"entries"``: means over all selected gradient entries together (the
            paper); ``"tensors"``: the mean of per-tensor means (the authors' code, which
            averages per layer). ``max`` is the same either way.
        pde_loss_weights: The (fixed) weight of every equation term.
        bc_loss_weights: The starting weight of every condition term (positive).
        additional_loss_weight: Weight of the ``additional_loss`` (data) term; fixed.
        eps: Added to each denominator (NeuralPDE's is 1e-7 in effect).

    Attributes:
        weights: The last weights, ``{term: λ}``.
        pde_statistic: ``G_pde`` of the last update.
        bc_means: ``{term: m_k}`` of the last update (unweighted ``mean|∇θ L_k|``).

    Raises:
        StrategyError: For bad arguments; at an update, when no tensor is selected.

    A condition whose gradient is zero (its loss does not depend on the selected
    parameters) keeps its weight, with a :class:`RuntimeWarning` naming it; when the
    equation gradient is zero, no weight changes. An update whose losses or gradients are
    not finite changes nothing: the trainer stops that step with a
    :class:`~symbolic_pinn.errors.NonFiniteError` naming the term, or rolls it back.

    Examples:
        >>> lra = GradientScaleAdaptiveLoss(100, pde_loss_weights=1e3)
        >>> lra.initial_weights(("pde_0", "bc_0"), {"pde_0": "pde", "bc_0": "bc"})
        {'pde_0': 1000.0, 'bc_0': 1.0}
        >>> lra.is_due(0), lra.is_due(150), lra.is_due(200)
        (True, False, True)
    """

    needs = frozenset({Need.LOSSES, Need.GRADIENTS})
    hook = "losses"

    def __init__(
        self,
        reweight_every: int,
        weight_change_inertia: float = 0.9,
        *,
        statistic: str = "max",
        lambda_in_denominator: bool = False,
        parameters: str = "all",
        mean_over: str = "entries",
        pde_loss_weights: float = 1.0,
        bc_loss_weights: float = 1.0,
        additional_loss_weight: float = 1.0,
        eps: float = 1e-12,
    ) -> None:
        super().__init__(reweight_every)
        if not 0.0 <= weight_change_inertia < 1.0:
            raise StrategyError(
                f"weight_change_inertia must be in [0, 1), got {weight_change_inertia!r}")
        _choice("statistic", statistic, _STATISTICS)
        _choice("parameters", parameters, _PARAMETERS)
        _choice("mean_over", mean_over, _MEAN_OVER)
        if not isinstance(lambda_in_denominator, bool):
            raise StrategyError("lambda_in_denominator must be True or False, got "
                                f"{lambda_in_denominator!r}")
        if not eps >= 0.0:
            raise StrategyError(f"eps must be non-negative, got {eps!r}")
        self.weight_change_inertia = float(weight_change_inertia)
        self.statistic, self.parameters, self.mean_over = statistic, parameters, mean_over
        self.lambda_in_denominator = lambda_in_denominator
        self.pde_loss_weights = _positive("pde_loss_weights", pde_loss_weights)
        self.bc_loss_weights = _positive("bc_loss_weights", bc_loss_weights)
        if self.bc_loss_weights == 0.0:
            raise StrategyError("bc_loss_weights must be positive, got 0")
        self.additional_loss_weight = _positive("additional_loss_weight", additional_loss_weight)
        self.eps = float(eps)
        self.pde_statistic: float | None = None
        self.bc_means: dict[str, float] = {}

    def initial_weights(self, term_names, kinds) -> dict:
        self.pde_statistic, self.bc_means = None, {}
        group = {"pde": self.pde_loss_weights, "bc": self.bc_loss_weights}
        return {name: group[kinds[name]] for name in term_names}

    def update(self, ctx: ReweightContext) -> dict[str, float] | None:
        index = _selected(ctx, self.parameters)
        pde_terms = [t for t in ctx.term_names if ctx.kinds[t] == "pde"]
        bc_terms = [t for t in ctx.term_names if ctx.kinds[t] != "pde"]
        if not pde_terms:
            raise StrategyError("GradientScaleAdaptiveLoss needs at least one equation term")
        if not _losses_finite(ctx):
            return None  # the trainer stops (or rolls back) the step; keep the last weights
        grads = {t: [ctx.gradients[t][i] for i in index] for t in ctx.term_names}
        stat = _abs_max if self.statistic == "max" else self._abs_mean
        values = {t: stat(grads[t]) if t in pde_terms else self._abs_mean(grads[t])
                  for t in ctx.term_names}
        bad = [t for t, value in values.items() if not math.isfinite(value)]
        if bad:
            return _skip_update(type(self).__name__, ctx, f"the gradient of the loss of "
                                f"term {bad[0]} is not finite")
        top = max(values[t] for t in pde_terms)
        means = {t: values[t] for t in bc_terms}
        self.pde_statistic, self.bc_means = top, means
        if not top > 0.0:
            warnings.warn(
                f"GradientScaleAdaptiveLoss: the gradient of the equation terms {pde_terms} is "
                f"zero at step {ctx.step}; no weight changes", RuntimeWarning, stacklevel=2)
            return {}
        alpha, new = self.weight_change_inertia, {}
        for term in bc_terms:
            old = ctx.weights[term]
            if not means[term] > 0.0:
                warnings.warn(
                    f"GradientScaleAdaptiveLoss: the gradient of term {term} is zero at step "
                    f"{ctx.step} (its loss does not depend on the parameters used, or sits at a stationary point: a residual that is exactly 0 has zero gradient); its weight "
                    "is left unchanged", RuntimeWarning, stacklevel=2)
                continue
            scale = means[term] * (old if self.lambda_in_denominator else 1.0)
            proposal = top / (scale + self.eps)
            value = alpha * old + (1.0 - alpha) * proposal
            if value == 0.0:  # underflow: a zero weight would drop the condition for good
                warnings.warn(
                    f"GradientScaleAdaptiveLoss: the weight of term {term} underflows to 0 at "
                    f"step {ctx.step}; its weight is left unchanged", RuntimeWarning,
                    stacklevel=2)
                continue
            new[term] = value  # an overflow to inf: the trainer's NonFiniteWeightError
        self.weights = {**ctx.weights, **new}
        return new

    def history_extras(self) -> dict:
        return {"grad_scale_pde": self.pde_statistic, "grad_scale_bc": dict(self.bc_means)}

    def state_dict(self) -> dict:
        return {"weights": dict(self.weights), "pde_statistic": self.pde_statistic,
                "bc_means": dict(self.bc_means)}

    def load_state_dict(self, state: Mapping) -> None:
        self.weights = dict(state["weights"])
        self.pde_statistic = state.get("pde_statistic")
        self.bc_means = dict(state.get("bc_means", {}))

    def _abs_mean(self, grads: Sequence[torch.Tensor]) -> float:
        grads = [g for g in grads if g.numel()]
        if self.mean_over == "tensors":
            return sum(float(g.abs().mean()) for g in grads) / len(grads)
        total = sum(float(g.abs().sum()) for g in grads)
        return total / sum(g.numel() for g in grads)


def _abs_max(grads: Sequence[torch.Tensor]) -> float:
    return max(float(g.abs().max()) for g in grads if g.numel())


def _selected(ctx: ReweightContext, parameters: str) -> list[int]:
    """Indices into ``ctx.parameters`` of the tensors the statistics use."""
    index = [
        i for i, (name, p) in enumerate(zip(ctx.parameter_names, ctx.parameters))
        if p.numel() and (parameters == "all" or (not name.startswith("p.") and p.dim() >= 2))
    ]
    if not index:
        what = "weight matrices" if parameters == "weights" else "trainable tensors"
        raise StrategyError(f"GradientScaleAdaptiveLoss: no {what} among the parameters "
                            f"{list(ctx.parameter_names)}")
    return index


def _choice(what: str, value, options) -> None:
    if value not in options:
        raise StrategyError(f"{what} must be one of {options}, got {value!r}")
