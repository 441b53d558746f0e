"""Causal weights: Wang, Sankaran & Perdikaris, "Respecting causality is all you need for
training physics-informed neural networks" (arXiv 2203.07404; CMAME 421 (2024) 116813).

The time interval ``[t_0, T]`` is cut into ``M`` equal slices. With ``L_i`` the mean
squared residual of the points in slice ``i`` (in time order), the residual loss becomes

    L_r = (1/M) Σ_i w_i L_i,     w_i = exp(−ε Σ_{k<i} L_k),   w_1 = 1,

so a slice counts only once the slices before it are fitted. The weights carry no
gradient. Here they are applied as per-point weights: a point in slice ``i`` (holding
``n_i`` of the term's ``N`` points) gets ``w_i N / (M n_i)``, which makes the term's
``mean(pw · r²)`` equal ``(1/M) Σ_i w_i L_i`` exactly, however unevenly the points fall
(``M`` counts the slices that hold points).

Two variants: a single ``ε`` (the Expert's-guide / jaxpi default, ``ε = 1``, ``M = 32``),
or Algorithm 1 of the paper: ``ε`` annealed over a list (``[1e-2, 1e-1, 1, 10, 100]``),
moving to the next value once ``min_i w_i > δ`` (``δ = 0.99``).

Limits: the slices are equal parts of the time domain (the paper's slices, not jaxpi's
equal-count chunks of the sorted batch); the running sum holds the residual slices only,
with ``w_1 = 1``, as in the Expert's-guide code: the paper's Algorithm 1 also counts the
initial-condition loss ``λ_ic L_ic`` (``λ_ic = 1e3`` recommended) as the first entry of
the sum, which makes every ``w_i`` smaller while the initial condition is not yet fitted;
with ``QuadratureTraining`` the point weights still assume plain means, so the identity
above holds only approximately; composed with NTK weights, the NTK traces are those of
the unweighted residuals (jaxpi instead multiplies the residual kernel diagonal by the
causal weights per slice).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from ..errors import StrategyError, integer_at_least
from .base import AdaptiveLoss, Need, ReweightContext, RunSetup, _positive, _term_names

__all__ = ["CausalAdaptiveLoss", "causal_weights"]


class CausalAdaptiveLoss(AdaptiveLoss):
    """Weight residual points by how well the earlier times are already fitted.

    Args:
        time: The time variable: a SymPy symbol or its name. Required; it must be one of
            the problem's independent variables.
        epsilon: The causality parameter ``ε`` (when ``epsilons`` is not given).
        chunks: Number ``M`` of equal time slices.
        terms: Terms to weight (default: every equation); each term's own slice losses
            set its own causal weights.
        epsilons: An annealing list of increasing ``ε`` values; overrides ``epsilon``.
        delta: Move to the next ``ε`` once the smallest weight exceeds ``delta``.
        stats_every: Record ``ε`` and the weights in the history every this many steps.

    Attributes:
        epsilon: The ``ε`` in force.
        last_weights: ``{term: (M,) tensor}``, the slice weights of the last evaluation.
        last_losses: ``{term: (M,) tensor}``, the slice losses ``L_i`` of the last
            evaluation (0 for slices without points).
        switches: ``[(step, new ε), ...]``: when the annealing moved on.

    Examples:
        >>> import sympy as sp
        >>> t = sp.Symbol("t")
        >>> causal = CausalAdaptiveLoss(t, epsilons=[1e-2, 1e-1, 1.0, 10.0, 100.0])
        >>> causal.epsilon
        0.01
    """

    needs = frozenset({Need.LOSSES, Need.POINT_WEIGHTS})
    hook = "losses"  # only to record statistics: term weights are never changed

    def __init__(
        self,
        time=None,
        *,
        epsilon: float = 1.0,
        chunks: int = 32,
        terms: Sequence[str] | None = None,
        epsilons: Sequence[float] | None = None,
        delta: float = 0.99,
        stats_every: int = 1,
    ) -> None:
        super().__init__(reweight_every=stats_every)
        if time is None:
            raise StrategyError(
                "CausalAdaptiveLoss needs the time variable, e.g. CausalAdaptiveLoss(t) "
                "with t the SymPy symbol (or its name) of the independent variable that is time"
            )
        name = getattr(time, "name", time)
        if not isinstance(name, str) or not name:
            raise StrategyError("CausalAdaptiveLoss: time must be a SymPy symbol or a variable "
                                f"name, got {time!r}")
        self.time = name
        if not integer_at_least(chunks, 1):
            raise StrategyError(f"chunks must be a positive integer, got {chunks!r}")
        self.chunks = int(chunks)
        schedule = [epsilon] if epsilons is None else list(epsilons)
        if not schedule:
            raise StrategyError("epsilons must hold at least one value")
        self.epsilons = tuple(_positive("ε", e) for e in schedule)
        if not 0.0 < _positive("delta", delta) <= 1.0:
            raise StrategyError(f"delta must be in (0, 1], got {delta!r}")
        self.delta = float(delta)
        self.terms = _term_names(terms)
        self.stage = 0
        self.switches: list[tuple[int, float]] = []
        self.last_weights: dict[str, torch.Tensor] = {}
        self.last_losses: dict[str, torch.Tensor] = {}
        self._column = 0
        self._bounds = (0.0, 1.0)
        self._current_points = None
        self._selected: tuple[str, ...] = ()

    @property
    def epsilon(self) -> float:
        """The ``ε`` in force."""
        return self.epsilons[self.stage]

    # -- the hook ---------------------------------------------------------------------
    def prepare(self, setup: RunSetup) -> None:
        if self.time not in setup.indvar_names:
            raise StrategyError(
                f"CausalAdaptiveLoss: time variable {self.time!r} is not an independent "
                f"variable of the problem ({', '.join(setup.indvar_names)}); causal weights "
                "need a time-dependent problem"
            )
        if setup.current_points is None:
            raise StrategyError("CausalAdaptiveLoss needs RunSetup.current_points")
        terms = self.terms if self.terms is not None else tuple(
            t for t in setup.term_names if setup.kinds[t] == "pde")
        unknown = [t for t in terms if t not in setup.term_names]
        if unknown:
            raise StrategyError(f"CausalAdaptiveLoss: unknown terms {unknown}; the terms are "
                                f"{list(setup.term_names)}")
        self._column = setup.indvar_names.index(self.time)
        if setup.bounds:
            lo, hi = setup.bounds[self._column]
        else:  # no domain given: the span of the first points
            times = torch.cat([setup.points[t][:, self._column] for t in terms])
            lo, hi = float(times.min()), float(times.max())
        if not hi > lo:
            raise StrategyError(f"CausalAdaptiveLoss: the time interval [{lo}, {hi}] is empty")
        self._bounds = (float(lo), float(hi))
        self._selected = tuple(terms)
        self._current_points = setup.current_points
        self.stage, self.switches = 0, []
        self.last_weights, self.last_losses = {}, {}

    def point_weights(self, residuals, step: int) -> dict[str, torch.Tensor]:
        del step
        points = self._current_points()
        out = {}
        for term in self._selected:
            r = residuals[term].detach()
            chunk = self.chunk_of(points[term])
            pw, w, losses = causal_weights(r, chunk, self.chunks, self.epsilon)
            out[term] = pw.reshape(r.shape)
            self.last_weights[term], self.last_losses[term] = w, losses
        return out

    def after_step(self, step: int) -> None:
        if self.stage + 1 < len(self.epsilons) and self.last_weights and all(
                float(w.min()) > self.delta for w in self.last_weights.values()):
            self.stage += 1
            self.switches.append((step, self.epsilon))

    def update(self, ctx: ReweightContext) -> None:
        return None  # no term weights; called on stats steps to record statistics

    def history_extras(self) -> dict:
        return {"causal": {
            "epsilon": self.epsilon,
            "min_weight": {t: float(w.min()) for t, w in self.last_weights.items()},
        }}

    # -- inspection ---------------------------------------------------------------------
    def chunk_of(self, points: torch.Tensor) -> torch.Tensor:
        """The time slice (0 .. M-1) of each point, ``(N,)`` int64."""
        lo, hi = self._bounds
        t = points[:, self._column].detach()
        index = torch.floor((t - lo) / (hi - lo) * self.chunks).to(torch.int64)
        return index.clamp_(0, self.chunks - 1)

    def state_dict(self) -> dict:
        return {"weights": dict(self.weights), "stage": self.stage,
                "switches": list(self.switches)}

    def load_state_dict(self, state: Mapping) -> None:
        self.weights = dict(state["weights"])
        self.stage = int(state.get("stage", 0))
        self.switches = list(state.get("switches", []))


def causal_weights(residual: torch.Tensor, chunk: torch.Tensor, chunks: int,
                   epsilon: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Causal weights of one term's points.

    Args:
        residual: ``(N,)`` or ``(N, 1)`` residual values (detached).
        chunk: ``(N,)`` slice index of each point.
        chunks: Number of slices ``M``.
        epsilon: ``ε``.

    Returns:
        ``(point weights (N,), slice weights w (M,), slice losses L (M,))``, with
        ``mean(point weights · r²) = mean over non-empty slices of w_i L_i``.

    Examples:
        Four points in three slices: three in slice 0, none in slice 1, one in slice 2.

        >>> import math
        >>> r = torch.tensor([1.0, 1.0, 1.0, 2.0])
        >>> chunk = torch.tensor([0, 0, 0, 2])
        >>> pw, w, L = causal_weights(r, chunk, 3, epsilon=math.log(2))
        >>> L.tolist()  # mean r² per slice, 0 for the empty one
        [1.0, 0.0, 4.0]
        >>> [round(v, 6) for v in w.tolist()]  # exp(-ε Σ_{k<i} L_k) = 2^-0, 2^-1, 2^-(1+0)
        [1.0, 0.5, 0.5]
        >>> [round(v, 6) for v in pw.tolist()]  # w_i N / (M n_i), M = 2 non-empty slices
        [0.666667, 0.666667, 0.666667, 1.0]
        >>> bool(torch.isclose((pw * r**2).mean(), (w * L)[[0, 2]].mean()))  # (1 + 2) / 2
        True
    """
    r2 = residual.reshape(-1) ** 2
    counts = torch.zeros(chunks, dtype=r2.dtype, device=r2.device).index_add_(
        0, chunk, torch.ones_like(r2))
    sums = torch.zeros_like(counts).index_add_(0, chunk, r2)
    losses = sums / counts.clamp(min=1)  # L_i; 0 for empty slices
    before = torch.cumsum(losses, 0) - losses  # Σ_{k<i} L_k
    w = torch.exp(-epsilon * before)
    filled = int((counts > 0).sum())
    per_point = w / counts.clamp(min=1) * (r2.numel() / max(filled, 1))
    return per_point[chunk], w, losses
