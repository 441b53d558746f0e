"""Composition: several strategies behind one hook, sharing every computed quantity."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import torch

from ..errors import StrategyError
from .base import AdaptiveLoss, Need, ReweightContext, RunSetup
from .contract import check_initial_weights, check_needs_at, check_point_weights, check_weights

__all__ = ["Compose"]


class Compose(AdaptiveLoss):
    """Run several strategies together: their term weights multiply, and so do their
    per-point weights.

    The trainer builds one context per reweight step for the union of the needs of the
    components due at that step, so a quantity two components need (per-term gradients,
    NTK diagonals) is computed once, and none is computed for a component that is not
    due. Each component sees its own previous weights in ``ctx.weights`` and is updated
    only on its own due steps. The ``additional_loss`` weight is the product of the
    components' ``additional_loss_weight`` (1 for those without one).

    The history row of a reweight step holds the extras of the components updated at
    that step only (a component that was not due adds none: its last ones belong to an
    earlier row; if two updated components give the same key, the later one's value is
    kept), and ``"components"``: ``{key: weights}`` for every component, whose product
    is the row's ``"weights"``. A component's key is its class name, or, for a class
    that occurs more than once, the class name, ``#`` and its position among the
    components, counted from 0 (:attr:`names`).

    Args:
        *strategies: The components, e.g. global NTK weights and causal point weights.

    Attributes:
        strategies: The components, in order.
        names: Their keys in the history rows' ``"components"``, in the same order.

    Examples:
        >>> from symbolic_pinn.adaptive import NeuralTangentKernelAdaptiveLoss, NonAdaptiveLoss
        >>> both = Compose(NonAdaptiveLoss(bc_loss_weights=10),
        ...                NeuralTangentKernelAdaptiveLoss(reweight_every=100))
        >>> both.initial_weights(("pde_0", "bc_0"), {"pde_0": "pde", "bc_0": "bc"})
        {'pde_0': 1.0, 'bc_0': 10.0}
        >>> both.names
        ('NonAdaptiveLoss', 'NeuralTangentKernelAdaptiveLoss')
        >>> Compose(NonAdaptiveLoss(bc_loss_weights=10), both.strategies[1],
        ...         NonAdaptiveLoss(pde_loss_weights=2)).names
        ('NonAdaptiveLoss#0', 'NeuralTangentKernelAdaptiveLoss', 'NonAdaptiveLoss#2')
    """

    def __init__(self, *strategies: AdaptiveLoss) -> None:
        if not strategies:
            raise StrategyError("Compose needs one or more AdaptiveLoss objects, got none")
        for k, s in enumerate(strategies):
            if not isinstance(s, AdaptiveLoss):
                raise StrategyError(f"Compose takes AdaptiveLoss objects; argument {k} is "
                                    f"{s!r}, of type {type(s).__name__}")
        hooks = {s.hook for s in strategies if s.hook is not None}
        if len(hooks) > 1:
            raise StrategyError(f"Compose: components ask for different hook places {hooks}")
        if sum(Need.NTK_DIAG in s.needs for s in strategies) > 1:
            raise StrategyError("Compose: at most one component may need NTK diagonals")
        super().__init__(reweight_every=1)
        self.strategies = tuple(strategies)
        classes = [type(s).__name__ for s in strategies]
        self.names = tuple(c if classes.count(c) == 1 else f"{c}#{i}"
                           for i, c in enumerate(classes))
        self._updated: tuple[int, ...] = ()  # the components updated at the last update
        self._due: tuple[int | None, tuple[bool, ...]] = (None, ())  # (step, per component)
        self.hook = hooks.pop() if hooks else None
        self.needs = frozenset().union(*(s.needs for s in strategies))
        ntk = [s for s in strategies if Need.NTK_DIAG in s.needs]
        self.chunk_size = getattr(ntk[0], "chunk_size", "auto") if ntk else "auto"
        self.ntk_method = getattr(ntk[0], "ntk_method", "auto") if ntk else "auto"
        # the data term's weight: the components' weights multiply, like the terms' ones
        self.additional_loss_weight = math.prod(
            float(getattr(s, "additional_loss_weight", 1.0)) for s in strategies)

    def initial_weights(self, term_names, kinds) -> dict:
        self._updated, self._due = (), (None, ())
        for s in self.strategies:
            s.weights = check_initial_weights(type(s).__name__,
                                              s.initial_weights(term_names, kinds), term_names)
        return self._product(term_names)

    def prepare(self, setup: RunSetup) -> None:
        for s in self.strategies:
            s.prepare(setup)

    def is_due(self, step: int) -> bool:
        # asked once per optimizer step by the trainer: each component's is_due is
        # evaluated here, once, and the answers reused by needs_at, update and the history
        self._due = (None, ())
        return any(self._components_due(step))

    def _components_due(self, step: int) -> tuple[bool, ...]:
        if self._due[0] != step:  # a component with hook None never reweights
            self._due = (step, tuple(s.hook is not None and bool(s.is_due(step))
                                     for s in self.strategies))
        return self._due[1]

    def needs_at(self, step: int) -> frozenset:
        due = self._components_due(step)
        return frozenset().union(*(check_needs_at(type(s).__name__, s.needs_at(step), s.needs,
                                                  step)
                                   for s, d in zip(self.strategies, due) if d))

    def kernel_points(self, ctx: ReweightContext) -> Mapping[str, torch.Tensor]:
        for s in self.strategies:
            if Need.NTK_DIAG in s.needs:
                return s.kernel_points(ctx)
        return ctx.points

    def update(self, ctx: ReweightContext) -> dict[str, float]:
        due = self._components_due(ctx.step)
        self._updated = tuple(i for i, d in enumerate(due) if d)
        text = ctx.extras.get("term_text")
        for i in self._updated:
            s = self.strategies[i]
            new = s.update(dataclasses.replace(ctx, weights=dict(s.weights)))
            s.weights.update(check_weights(type(s).__name__, new, ctx.term_names, ctx.step,
                                           text))
        return self._product(ctx.term_names)

    def point_weights(self, residuals, step: int) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}
        for s in self.strategies:
            if Need.POINT_WEIGHTS in s.needs:
                weights = s.point_weights(residuals, step)
                check_point_weights(type(s).__name__, weights, residuals)
                for term, w in weights.items():
                    out[term] = out[term] * w if term in out else w
        return out

    def wants_after_step(self) -> bool:
        return any(s.wants_after_step() for s in self.strategies)

    def after_step(self, step: int) -> None:
        for s in self.strategies:
            s.after_step(step)

    def history_extras(self) -> dict:
        extras: dict = {}
        for i in self._updated:  # a component not due at this step has nothing new
            extras.update(self.strategies[i].history_extras())
        extras["components"] = {name: dict(s.weights)
                                for name, s in zip(self.names, self.strategies)}
        return extras

    def state_dict(self) -> dict:
        return {"weights": dict(self.weights),
                "components": [s.state_dict() for s in self.strategies]}

    def load_state_dict(self, state: Mapping) -> None:
        self.weights = dict(state["weights"])
        for s, sub in zip(self.strategies, state["components"]):
            s.load_state_dict(sub)

    def _product(self, term_names) -> dict[str, float]:
        return {n: math.prod(s.weights.get(n, 1.0) for s in self.strategies) for n in term_names}
