"""Loss-statistics weights: SoftAdapt and ReLoBRaLo.

Both read only the scalar loss of each term (:attr:`~symbolic_pinn.adaptive.Need.LOSSES`):
no extra backward pass, no per-point quantity. ``t`` counts *updates* (reweight steps), so
with ``reweight_every=k`` the "previous" losses are those of ``k`` optimizer steps ago.

* SoftAdapt (Heydari, Thompson & Mehmood, arXiv 1912.12355; as in eq. 10 of ReLoBRaLo)::

      λ_i(t) = m · exp(β s_i) / Σ_j exp(β s_j),    s_i = L_i(t) - L_i(t-1)

* ReLoBRaLo (Bischof & Kraus, arXiv 2110.09813)::

      λ_i^bal(t, t') = m · exp(L_i(t) / (T L_i(t'))) / Σ_j exp(L_j(t) / (T L_j(t')))
      λ_i^hist(t)    = ρ λ_i(t-1) + (1 - ρ) λ_i^bal(t, 0)
      λ_i(t)         = α λ_i^hist(t) + (1 - α) λ_i^bal(t, t-1)

  with ``ρ ~ Bernoulli(E[ρ])`` drawn once per update.

``m`` is the number of terms; both softmaxes subtract their largest logit, so the weights
sum to ``m`` (equal progress gives weight 1 everywhere, as with no adaptive loss).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from ..errors import StrategyError
from .base import AdaptiveLoss, Need, ReweightContext, RunSetup

__all__ = ["ReLoBRaLoAdaptiveLoss", "SoftAdaptAdaptiveLoss", "scaled_softmax"]

_SLOPES = ("difference", "relative", "normalized")

#: Smallest weight a softmax may hand out (as a fraction of the total) before the
#: weights are renormalised: an underflowing ``exp`` would otherwise give weight 0.
_FLOOR = 1e-12


def scaled_softmax(logits: Sequence[float], total: float) -> list[float]:
    """``total · softmax(logits)``, max-subtracted, every entry positive and finite.

    Examples:
        >>> scaled_softmax([0.0, 0.0, 0.0], 3.0)
        [1.0, 1.0, 1.0]
        >>> [round(w, 6) for w in scaled_softmax([math.log(3.0), 0.0], 2.0)]
        [1.5, 0.5]
    """
    values = np.asarray(logits, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise StrategyError(f"softmax logits must be finite, got {values.tolist()}")
    exps = np.exp(values - values.max())  # the largest is exp(0) = 1: no overflow
    probs = exps / exps.sum()
    if probs.min() < _FLOOR:  # exp underflowed: keep every weight positive
        probs = np.maximum(probs, _FLOOR)
        probs = probs / probs.sum()
    return [float(total * p) for p in probs]


class SoftAdaptAdaptiveLoss(AdaptiveLoss):
    """SoftAdapt: terms whose loss grows (or falls slowest) get more weight.

    On the first update it only records the losses (the weights stay 1); on every later
    one it sets ``λ_i = total · softmax(β s)_i`` with the slope ``s_i`` of each term
    since the previous update.

    Args:
        reweight_every: Optimizer steps between updates (first update at step 0).
        beta: ``β``, the softmax's inverse temperature (the paper's 0.1; NeuralPDE's
            ``α``). ``β = 0`` gives equal weights.
        slope: How ``s_i`` is measured: ``"difference"`` (default): ``L_i(t) - L_i(t-1)``,
            SoftAdapt's basic form and eq. 10 of the ReLoBRaLo paper; ``"relative"``:
            ``(L_i(t) - L_i(t-1)) / (L_i(t-1) + eps)``, as in NeuralPDE's
            ``SoftAdaptAdaptiveLoss`` (scale-free: a good choice when losses are small);
            ``"normalized"``: the differences divided by ``Σ_j |difference_j| + eps``
            (SoftAdapt's normalized slopes).
        loss_weighted: SoftAdapt's loss-weighted variant: ``λ_i ∝ L_i exp(β s_i)``.
        total: What the weights sum to; ``None`` (default): the number of terms, as in
            NeuralPDE and the ReLoBRaLo code, so equal slopes give weight 1. ``1.0`` is the
            formula exactly as printed.
        eps: Guard in the ``"relative"``/``"normalized"`` denominators.

    Attributes:
        weights: The last weights.
        previous: The losses of the last update.

    Examples:
        >>> soft = SoftAdaptAdaptiveLoss(beta=0.1)
        >>> soft.is_due(0), soft.is_due(1)
        (True, True)
    """

    needs = frozenset({Need.LOSSES})
    hook = "losses"

    def __init__(
        self,
        reweight_every: int = 1,
        *,
        beta: float = 0.1,
        slope: str = "difference",
        loss_weighted: bool = False,
        total: float | None = None,
        eps: float = 1e-8,
    ) -> None:
        super().__init__(reweight_every)
        if slope not in _SLOPES:
            raise StrategyError(f"slope must be one of {_SLOPES}, got {slope!r}")
        self.beta = _finite("beta", beta)
        self.slope = slope
        self.loss_weighted = bool(loss_weighted)
        self.total = None if total is None else _positive_number("total", total)
        self.eps = _non_negative("eps", eps)
        self.previous: dict[str, float] = {}

    def initial_weights(self, term_names, kinds) -> dict:
        self.previous = {}  # a new run starts again from "no previous losses"
        return super().initial_weights(term_names, kinds)

    def update(self, ctx: ReweightContext) -> dict[str, float] | None:
        losses = {t: float(ctx.losses[t]) for t in ctx.term_names}
        if not all(math.isfinite(v) for v in losses.values()):
            return None  # the trainer stops on a non-finite loss; keep the last weights
        previous, self.previous = self.previous, losses
        if not previous:
            return None  # first update: nothing to compare with yet
        names = ctx.term_names
        diffs = [losses[t] - previous[t] for t in names]
        if self.slope == "relative":
            slopes = [d / (previous[t] + self.eps) for d, t in zip(diffs, names)]
        elif self.slope == "normalized":
            scale = sum(abs(d) for d in diffs) + self.eps
            slopes = [d / scale for d in diffs] if scale > 0 else [0.0] * len(diffs)
        else:
            slopes = diffs
        logits = [self.beta * s for s in slopes]
        if self.loss_weighted:  # L_i exp(β s_i) = exp(β s_i + log L_i)
            logits = [z + math.log(max(losses[t], 1e-300)) for z, t in zip(logits, names)]
        total = float(len(names)) if self.total is None else self.total
        new = dict(zip(names, scaled_softmax(logits, total)))
        self.weights = dict(new)
        return new

    def state_dict(self) -> dict:
        return {"weights": dict(self.weights), "previous": dict(self.previous)}

    def load_state_dict(self, state: Mapping) -> None:
        self.weights = dict(state["weights"])
        self.previous = dict(state.get("previous", {}))


class ReLoBRaLoAdaptiveLoss(AdaptiveLoss):
    """ReLoBRaLo: Relative Loss Balancing with Random Lookback (Bischof & Kraus).

    Each update compares every term's loss with its loss at the previous update and at
    the first update, through a softmax with temperature ``T``; the first comparison is
    blended in with weight ``1 - α``, the second stands in for the previous weights when
    the random look-back ``ρ`` is 0. The update follows the paper's equations and its
    authors' code: the first update records the losses (weights stay 1, they are also
    ``L(0)``); the second uses ``α = 0`` (pure ``λ^bal(t, t-1)``); every later one draws
    ``ρ`` and applies the full formula. Weights sum to the number of terms ``m``.

    A term whose loss is exactly 0 at a reference update (``L(0)``, or the previous
    update's; e.g. a condition ``u(0) = 0`` that the default
    :class:`~symbolic_pinn.networks.MLP` meets exactly at the start, its zero biases
    giving ``u(0) = 0``) gets the logit ``L_i(t) / eps``, huge as soon as its loss moves
    off 0: it takes nearly all the weight and the other terms' weights collapse to about
    ``1e-12`` of the total, as the published formula prescribes; a larger ``eps`` (e.g.
    ``1e-4``, small against ``T`` times the other terms' losses) bounds that logit, or
    start from a network whose output there is not exactly 0.

    Args:
        reweight_every: Optimizer steps between updates (first update at step 0). The
            paper updates every step.
        alpha: ``α``, the exponential decay of the history (paper: 0.9 to 0.999).
        temperature: ``T`` of the softmax (paper and code: 0.1).
        rho: ``E[ρ]``, the probability of keeping the previous weights in the history
            rather than looking back to the first losses (paper: close to 1; the
            authors' Keras code used 0.99).
        seed: Seed of the ``numpy.random.Generator`` that draws ``ρ``; it is re-seeded
            when a run starts, so every run with the same ``seed`` draws the same ``ρ``
            sequence, whatever ``solve``'s own seed. ``None``: fresh OS entropy (not
            reproducible).
        eps: Guard added to ``T L_i(t')`` in the softmax denominators.

    Attributes:
        weights: The last weights.
        initial: ``L(0)``, the losses of the first update.
        previous: The losses of the last update.
        lookbacks: The ``ρ`` drawn so far in this run (``1`` or ``0``; ``None`` for the
            first two updates, which draw nothing).

    Examples:
        >>> relo = ReLoBRaLoAdaptiveLoss(alpha=0.999, temperature=0.1, rho=0.999, seed=0)
        >>> relo.initial_weights(("pde_0", "bc_0"), {"pde_0": "pde", "bc_0": "bc"})
        {'pde_0': 1.0, 'bc_0': 1.0}
    """

    needs = frozenset({Need.LOSSES})
    hook = "losses"

    def __init__(
        self,
        reweight_every: int = 1,
        *,
        alpha: float = 0.999,
        temperature: float = 0.1,
        rho: float = 0.999,
        seed: int | None = 0,
        eps: float = 1e-12,
    ) -> None:
        super().__init__(reweight_every)
        if not 0.0 <= float(alpha) <= 1.0:
            raise StrategyError(f"alpha must be in [0, 1], got {alpha!r}")
        if not 0.0 <= float(rho) <= 1.0:
            raise StrategyError(f"rho must be in [0, 1], got {rho!r}")
        self.alpha, self.rho = float(alpha), float(rho)
        self.temperature = _positive_number("temperature", temperature)
        self.eps = _non_negative("eps", eps)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.initial: dict[str, float] = {}
        self.previous: dict[str, float] = {}
        self.lookbacks: list[int | None] = []

    def initial_weights(self, term_names, kinds) -> dict:
        self._restart()
        return super().initial_weights(term_names, kinds)

    def prepare(self, setup: RunSetup) -> None:
        del setup
        self.rng = np.random.default_rng(self.seed)  # the same ρ sequence in every run

    def balanced(self, losses: Mapping[str, float], reference: Mapping[str, float],
                 names: Sequence[str]) -> dict[str, float]:
        """``λ^bal``: ``m · softmax_i(L_i / (T L_i^ref + eps))`` over ``names``."""
        logits = [losses[t] / (self.temperature * reference[t] + self.eps) for t in names]
        return dict(zip(names, scaled_softmax(logits, float(len(names)))))

    def update(self, ctx: ReweightContext) -> dict[str, float] | None:
        names = ctx.term_names
        losses = {t: float(ctx.losses[t]) for t in names}
        if not all(math.isfinite(v) and v >= 0 for v in losses.values()):
            return None  # the trainer stops on a non-finite loss; keep the last weights
        if not self.initial:  # first update: L(0); the weights stay as they are
            self.initial, self.previous = dict(losses), dict(losses)
            self.lookbacks.append(None)
            return None
        bal_prev = self.balanced(losses, self.previous, names)
        if len(self.lookbacks) == 1:  # second update: α = 0, ρ = 1
            alpha, rho = 0.0, 1
            self.lookbacks.append(None)
        else:
            alpha = self.alpha
            rho = int(self.rng.random() < self.rho)
            self.lookbacks.append(rho)
        if alpha > 0.0:
            hist = (dict(ctx.weights) if rho else self.balanced(losses, self.initial, names))
            new = {t: alpha * hist[t] + (1.0 - alpha) * bal_prev[t] for t in names}
        else:
            new = bal_prev
        self.previous = dict(losses)
        self.weights = dict(new)
        return new

    def history_extras(self) -> dict:
        return {"lookback": self.lookbacks[-1]} if self.lookbacks else {}

    def state_dict(self) -> dict:
        return {"weights": dict(self.weights), "initial": dict(self.initial),
                "previous": dict(self.previous), "lookbacks": list(self.lookbacks),
                "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: Mapping) -> None:
        self.weights = dict(state["weights"])
        self.initial = dict(state.get("initial", {}))
        self.previous = dict(state.get("previous", {}))
        self.lookbacks = list(state.get("lookbacks", []))
        if "rng" in state:
            self.rng.bit_generator.state = state["rng"]

    def _restart(self) -> None:
        self.initial, self.previous, self.lookbacks = {}, {}, []
        self.rng = np.random.default_rng(self.seed)


def _finite(what: str, value: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise StrategyError(f"{what} must be a number, got {value!r}") from exc
    if not math.isfinite(number):
        raise StrategyError(f"{what} must be finite, got {value!r}")
    return number


def _non_negative(what: str, value: float) -> float:
    number = _finite(what, value)
    if number < 0:
        raise StrategyError(f"{what} must be non-negative, got {value!r}")
    return number


def _positive_number(what: str, value: float) -> float:
    number = _finite(what, value)
    if not number > 0:
        raise StrategyError(f"{what} must be positive, got {value!r}")
    return number
