"""Self-adaptive weights (SA-PINN): McClenny & Braga-Neto, J. Comput. Phys. 474 (2023) 111722.

Every training point ``x_i`` of a weighted term gets a trainable weight ``λ_i``; the
term's loss becomes ``mean_i m(λ_i) r(x_i)²`` with a mask ``m`` that is non-negative and
increasing on ``[0, ∞)``. The networks minimise the loss while the weights maximise it
(a saddle point ``min_θ max_λ L``): ``θ ← θ − η ∇_θ L``, ``λ ← λ + ρ ∇_λ L``. Since
``∂L/∂λ_i = m'(λ_i) r_i² / N ≥ 0``, the weights of poorly fitted points grow fastest and
no weight ever decreases (for ``λ ≥ 0``).

Follows the authors' code (``levimcclenny/SA-PINNs``) where paper and code differ: mask
``m(λ) = λ²`` by default (the code's ``mean((λ e)²)``), mean-reduced losses, a separate
Adam optimizer stepping the weights on the negated gradient (here ``maximize=True``),
and weights frozen during L-BFGS.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch

from ..errors import StrategyError
from .base import AdaptiveLoss, Need, ReweightContext, RunSetup, _term_names

__all__ = ["SelfAdaptiveLoss"]

_MASKS = ("square", "polynomial", "sigmoid")


class SelfAdaptiveLoss(AdaptiveLoss):
    """One trainable weight per training point, trained by gradient ascent (SA-PINN).

    The weights are created when a run starts, one per point of each selected term, on
    the points' device and in their dtype. Their gradient comes from the run's own
    ``loss.backward()`` (they enter the loss through the point weights); after every
    optimizer step they take one ascent step with their own optimizer. The gradient is
    cleared at every closure evaluation, so only the step's last evaluation counts.

    With ``optimizer="lbfgs"`` in :func:`~symbolic_pinn.solve` the weights are frozen
    (no gradient, no ascent), as in the paper's Adam-then-L-BFGS schedule: a run with
    L-BFGS on the same points as the previous run keeps that run's weights; any other
    run starts again from ``init``. The weights are tied to fixed points, so training
    strategies that resample (stochastic, quasi-random with resampling) are refused.

    Args:
        terms: The weighted terms (default: all); the others are left unweighted.
        mask: ``"square"``: ``m(λ) = λ²`` (the authors' code); ``"polynomial"``:
            ``m(λ) = min(c |λ|^q, cap)``, the paper's capped polynomial mask;
            ``"sigmoid"``: ``m(λ) = c σ(s λ)``, the paper's logistic mask; or any
            callable ``tensor -> tensor``.
        mask_options: ``c``, ``q``, ``cap`` for ``"polynomial"`` (defaults 1, 2, 1e4);
            ``c``, ``s`` for ``"sigmoid"`` (defaults 1, 1).
        lr: Learning rate ``ρ`` of the ascent, one number or ``{term: rate}`` (the
            paper's constant 5e-3 by default; it recommends 1e-3 to 1e-1).
        init: Initial ``λ``: a number, ``"uniform"`` (U(0, 1), as in the authors'
            Burgers and Helmholtz scripts), or ``{term: number | "uniform"}``.
        optimizer: ``"adam"`` (default, as in the code), ``"sgd"``, or a callable
            ``list of tensors -> torch.optim.Optimizer`` that must maximise (e.g.
            ``lambda ps: torch.optim.Adam(ps, lr=5e-3, betas=(0.99, 0.999), maximize=True)``).
        stats_every: Record weight statistics in the history every this many steps.

    Attributes:
        lambdas: ``{term: (N, 1) tensor}``, the raw trainable weights ``λ``.

    Examples:
        >>> sa = SelfAdaptiveLoss(terms=["pde_0"], lr=1e-2)
        >>> sa.mask(torch.tensor([2.0]))
        tensor([4.])
    """

    needs = frozenset({Need.LOSSES, Need.POINT_WEIGHTS})
    hook = "losses"  # only to record statistics: term weights are never changed

    def __init__(
        self,
        *,
        terms: list[str] | tuple[str, ...] | None = None,
        mask: str | Callable[[torch.Tensor], torch.Tensor] = "square",
        mask_options: Mapping[str, float] | None = None,
        lr: float | Mapping[str, float] = 5e-3,
        init: float | str | Mapping[str, float | str] = 1.0,
        optimizer: str | Callable = "adam",
        stats_every: int = 1,
    ) -> None:
        super().__init__(reweight_every=stats_every)
        self.terms = _term_names(terms)
        self.mask = _mask(mask, dict(mask_options or {}))
        self.lr = lr
        _check_rates(lr)
        self.init = init
        if not (callable(optimizer) or optimizer in ("adam", "sgd")):
            raise StrategyError(f"optimizer must be 'adam', 'sgd' or a callable, got {optimizer!r}")
        self.optimizer_spec = optimizer
        self.lambdas: dict[str, torch.Tensor] = {}
        self.frozen = False
        self._optimizer: torch.optim.Optimizer | None = None
        self._points: dict[str, torch.Tensor] = {}
        self.ascent_steps = 0

    # -- the hook ---------------------------------------------------------------------
    def prepare(self, setup: RunSetup) -> None:
        terms = self.terms if self.terms is not None else setup.term_names
        unknown = [t for t in terms if t not in setup.term_names]
        if unknown:
            raise StrategyError(f"SelfAdaptiveLoss: unknown terms {unknown}; the terms are "
                                f"{list(setup.term_names)}")
        if setup.resamples:
            raise StrategyError(
                f"SelfAdaptiveLoss weights single training points of {', '.join(terms)}, so "
                "it needs points that stay fixed; the training strategy draws new points "
                "every step: use GridTraining, QuadratureTraining or QuasiRandomTraining("
                "..., resampling=False)"
            )
        self.frozen = setup.optimizer == "lbfgs"
        keep = self.frozen and set(self.lambdas) == set(terms) and all(
            _same(self._points.get(t), setup.points[t]) for t in terms)
        lambdas = {}
        for term in terms:
            pts = setup.points[term]
            if keep:
                lam = self.lambdas[term].detach().to(device=pts.device, dtype=pts.dtype)
            else:
                lam = _initial(self.init, term, pts.shape[0], pts.device, pts.dtype)
            lambdas[term] = lam.clone().requires_grad_(not self.frozen)
        self.lambdas = lambdas
        self._points = {t: setup.points[t].detach().clone() for t in terms}
        self.ascent_steps = 0
        self._optimizer = None if self.frozen else self._make_optimizer(terms)

    def point_weights(self, residuals, step: int) -> dict[str, torch.Tensor]:
        del residuals, step
        out = {}
        for term, lam in self.lambdas.items():
            if self.frozen:
                out[term] = self.mask(lam).detach()
            else:
                lam.grad = None  # this evaluation's backward pass alone fills it
                out[term] = self.mask(lam)
        return out

    def after_step(self, step: int) -> None:
        del step
        if self.frozen or self._optimizer is None:
            return
        if all(lam.grad is None for lam in self.lambdas.values()):
            return
        self._optimizer.step()  # ascent: the optimizer maximises
        self.ascent_steps += 1
        for lam in self.lambdas.values():
            lam.grad = None

    def update(self, ctx: ReweightContext) -> None:
        return None  # no term weights; called on stats steps to record statistics

    def history_extras(self) -> dict:
        return {"sa_weights": {term: _stats(self.point_weights_of(term))
                               for term in self.lambdas}}

    # -- inspection ---------------------------------------------------------------------
    def point_weights_of(self, term: str) -> torch.Tensor:
        """The masked weights ``m(λ)`` of one term's points, ``(N,)``, detached."""
        if term not in self.lambdas:
            raise StrategyError(f"SelfAdaptiveLoss has no weights for term {term!r}; it weights "
                                f"{sorted(self.lambdas) or 'nothing yet (no run started)'}")
        return self.mask(self.lambdas[term].detach()).reshape(-1).clone()

    def points_of(self, term: str) -> torch.Tensor:
        """The points the weights of ``term`` belong to."""
        return self._points[term]

    def state_dict(self) -> dict:
        return {
            "weights": dict(self.weights),
            "lambdas": {t: lam.detach().clone() for t, lam in self.lambdas.items()},
            "points": {t: p.clone() for t, p in self._points.items()},
            "optimizer": None if self._optimizer is None else self._optimizer.state_dict(),
            "ascent_steps": self.ascent_steps,
        }

    def load_state_dict(self, state: Mapping) -> None:
        self.weights = dict(state["weights"])
        self.lambdas = {t: lam.clone().requires_grad_(not self.frozen)
                        for t, lam in state.get("lambdas", {}).items()}
        self._points = dict(state.get("points", {}))
        self.ascent_steps = int(state.get("ascent_steps", 0))
        self._optimizer = None
        if self.lambdas and not self.frozen:
            self._optimizer = self._make_optimizer(tuple(self.lambdas))
            if state.get("optimizer") is not None:
                self._optimizer.load_state_dict(state["optimizer"])

    # -- helpers -----------------------------------------------------------------------
    def _make_optimizer(self, terms) -> torch.optim.Optimizer:
        if callable(self.optimizer_spec):
            return self.optimizer_spec([self.lambdas[t] for t in terms])
        groups = [{"params": [self.lambdas[t]], "lr": _rate(self.lr, t)} for t in terms]
        if self.optimizer_spec == "adam":
            return torch.optim.Adam(groups, maximize=True)
        return torch.optim.SGD(groups, lr=1.0, maximize=True)


def _mask(mask, options: dict) -> Callable[[torch.Tensor], torch.Tensor]:
    if callable(mask):
        return mask
    if mask not in _MASKS:
        raise StrategyError(f"mask must be one of {_MASKS} or a callable, got {mask!r}")
    allowed = {"square": set(), "polynomial": {"c", "q", "cap"}, "sigmoid": {"c", "s"}}[mask]
    extra = sorted(set(options) - allowed)
    if extra:
        raise StrategyError(f"mask {mask!r} takes options {sorted(allowed)}, got {extra}")
    if mask == "square":
        return torch.square
    if mask == "polynomial":
        c, q, cap = (float(options.get("c", 1.0)), float(options.get("q", 2.0)),
                     float(options.get("cap", 1e4)))
        if not (c > 0 and q > 0 and cap > 0):
            raise StrategyError(f"polynomial mask needs c, q, cap > 0, got {c}, {q}, {cap}")
        return lambda lam: torch.clamp(c * lam.abs() ** q, max=cap)
    c, s = float(options.get("c", 1.0)), float(options.get("s", 1.0))
    if not (c > 0 and s > 0):
        raise StrategyError(f"sigmoid mask needs c, s > 0, got {c}, {s}")
    return lambda lam: c * torch.sigmoid(s * lam)


def _check_rates(lr) -> None:
    rates = lr.values() if isinstance(lr, Mapping) else [lr]
    for rate in rates:
        if not (isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0):
            raise StrategyError(f"lr must be a positive number (or {{term: number}}), got {lr!r}")


def _rate(lr, term: str) -> float:
    if isinstance(lr, Mapping):
        if term not in lr:
            raise StrategyError(f"SelfAdaptiveLoss: no learning rate for term {term} in {dict(lr)}")
        return float(lr[term])
    return float(lr)


def _initial(init, term: str, n: int, device, dtype) -> torch.Tensor:
    if isinstance(init, Mapping):
        if term not in init:
            raise StrategyError(f"SelfAdaptiveLoss: no initial weight for term {term} in "
                                f"{dict(init)}")
        init = init[term]
    if init == "uniform":
        return torch.rand(n, 1, device=device, dtype=dtype)
    try:
        value = float(init)
    except (TypeError, ValueError) as exc:
        raise StrategyError(f"init must be a number or 'uniform', got {init!r}") from exc
    if not math.isfinite(value):
        raise StrategyError(f"init must be finite, got {init!r}")
    return torch.full((n, 1), value, device=device, dtype=dtype)


def _same(a: torch.Tensor | None, b: torch.Tensor) -> bool:
    return a is not None and a.shape == b.shape and torch.equal(
        a.to(device=b.device, dtype=b.dtype), b)


def _stats(w: torch.Tensor) -> dict[str, float]:
    values = torch.stack([w.min(), w.mean(), w.max()]).tolist()
    return dict(zip(("min", "mean", "max"), values))
