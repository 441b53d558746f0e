"""Min-max weights: gradient ascent on one weight per term (NeuralPDE's ``MiniMaxAdaptiveLoss``).

The network minimises ``L = Σ_k λ_k L_k`` while the weights maximise it. The gradient
of ``L`` with respect to ``λ_k`` is the term's loss ``L_k``, so on a due step each
weight takes one ascent step of its own optimizer with gradient ``L_k``. This is the
self-adaptive PINN of McClenny & Braga-Neto (arXiv 2009.04544) with one weight per
term instead of one per point; it needs only the loss values (no extra backward pass).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch

from ..errors import StrategyError
from .base import AdaptiveLoss, Need, ReweightContext, _positive

__all__ = ["MiniMaxAdaptiveLoss"]

OptimiserSpec = type[torch.optim.Optimizer] | Callable[[list], torch.optim.Optimizer]


class MiniMaxAdaptiveLoss(AdaptiveLoss):
    """Gradient ascent on the term weights, one optimizer for equations, one for conditions.

    On a due step the equation weights ``λ_pde`` take one step of
    ``pde_max_optimiser`` and the condition weights one step of ``bc_max_optimiser``,
    each with gradient ``-L_k`` (so a minimising torch optimizer ascends). With Adam
    every step moves a weight by about its learning rate, whatever the size of the loss;
    with ``torch.optim.SGD`` a step is ``λ_k ← λ_k + lr L_k``. As in NeuralPDE the
    weights are not normalised, so they keep growing while the losses are positive;
    they are kept at or above ``min_weight``, and a non-finite weight raises.

    The optimizers are created afresh when a run starts, so two runs with the same seed
    are identical.

    Args:
        reweight_every: Optimizer steps between ascent steps (first at step 0).
        pde_max_optimiser: A ``torch.optim.Optimizer`` subclass, created with
            ``lr=pde_max_lr``, or a factory ``params -> optimizer`` (then leave
            ``pde_max_lr`` unset). Default: Adam with lr ``1e-4``, as NeuralPDE.
        bc_max_optimiser: The same for the condition weights. Default: Adam with lr
            ``0.5``, as NeuralPDE.
        pde_max_lr: Learning rate for an optimizer class (default ``1e-4``).
        bc_max_lr: Learning rate for an optimizer class (default ``0.5``).
        pde_loss_weights: Starting weight of every equation term (positive).
        bc_loss_weights: Starting weight of every condition term (positive).
        additional_loss_weight: Weight of the ``additional_loss`` (data) term; fixed.
        min_weight: Lower bound the weights are clamped to after each step.

    Attributes:
        weights: The last weights, ``{term: λ}``.
        updates: Ascent steps taken in the current run.

    Examples:
        >>> mm = MiniMaxAdaptiveLoss(1, bc_max_optimiser=torch.optim.SGD, bc_max_lr=0.1)
        >>> kinds = {"pde_0": "pde", "bc_0": "bc"}
        >>> mm.weights = mm.initial_weights(("pde_0", "bc_0"), kinds)
        >>> ctx = ReweightContext(step=0, term_names=("pde_0", "bc_0"), kinds=kinds,
        ...     losses={"pde_0": 2.0, "bc_0": 3.0}, residuals={}, points={}, nets=(),
        ...     params={}, weights=dict(mm.weights))
        >>> new = mm.update(ctx)
        >>> round(new["bc_0"], 12), round(new["pde_0"], 6)  # 1 + 0.1 * 3; Adam: 1 + 1e-4
        (1.3, 1.0001)
    """

    needs = frozenset({Need.LOSSES})
    hook = "losses"

    def __init__(
        self,
        reweight_every: int,
        *,
        pde_max_optimiser: OptimiserSpec = torch.optim.Adam,
        bc_max_optimiser: OptimiserSpec = torch.optim.Adam,
        pde_max_lr: float | None = None,
        bc_max_lr: float | None = None,
        pde_loss_weights: float = 1.0,
        bc_loss_weights: float = 1.0,
        additional_loss_weight: float = 1.0,
        min_weight: float = 1e-12,
    ) -> None:
        super().__init__(reweight_every)
        self._factories = {
            "pde": _factory("pde_max_optimiser", pde_max_optimiser, pde_max_lr, 1e-4),
            "bc": _factory("bc_max_optimiser", bc_max_optimiser, bc_max_lr, 0.5),
        }
        self.pde_loss_weights = _positive("pde_loss_weights", pde_loss_weights)
        self.bc_loss_weights = _positive("bc_loss_weights", bc_loss_weights)
        self.additional_loss_weight = _positive("additional_loss_weight", additional_loss_weight)
        self.min_weight = _positive("min_weight", min_weight)
        if min(self.pde_loss_weights, self.bc_loss_weights) < self.min_weight:
            raise StrategyError("MiniMaxAdaptiveLoss: pde_loss_weights and bc_loss_weights must "
                                f"be at least min_weight={self.min_weight}")
        self.updates = 0
        self._groups: dict[str, tuple[tuple[str, ...], torch.Tensor, torch.optim.Optimizer]] = {}
        self._unapplied: dict = {}  # loaded optimizer states with no run to take them yet

    def initial_weights(self, term_names, kinds) -> dict:
        start = {"pde": self.pde_loss_weights, "bc": self.bc_loss_weights}
        self._groups, self.updates, self._unapplied = {}, 0, {}
        for kind in ("pde", "bc"):
            names = tuple(t for t in term_names if kinds[t] == kind)
            if not names:
                continue
            tensor = torch.full((len(names),), start[kind], dtype=torch.float64,
                                requires_grad=True)
            optimizer = self._factories[kind]([tensor])
            if not isinstance(optimizer, torch.optim.Optimizer):
                raise StrategyError(f"{kind}_max_optimiser must build a torch.optim.Optimizer, "
                                    f"got {type(optimizer).__name__}")
            self._groups[kind] = (names, tensor, optimizer)
        return {name: start[kinds[name]] for name in term_names}

    def update(self, ctx: ReweightContext) -> dict[str, float]:
        if not self._groups:
            raise StrategyError("MiniMaxAdaptiveLoss.update called before initial_weights")
        bad = [t for t in ctx.term_names if not math.isfinite(ctx.losses[t])]
        if bad:  # leave the weights; the trainer reports the non-finite loss by name
            return {}
        new = {}
        for names, tensor, optimizer in self._groups.values():
            with torch.no_grad():  # the weights in force (e.g. after load_state_dict)
                tensor.copy_(torch.tensor([ctx.weights[t] for t in names], dtype=tensor.dtype))
            optimizer.zero_grad(set_to_none=False)
            tensor.grad = -torch.tensor([ctx.losses[t] for t in names], dtype=tensor.dtype)
            optimizer.step()
            with torch.no_grad():
                tensor.clamp_(min=self.min_weight)
            for name, value in zip(names, tensor.detach().tolist()):
                if not math.isfinite(value):
                    raise StrategyError(f"MiniMaxAdaptiveLoss: the weight of term {name} became "
                                        f"{value} at step {ctx.step}")
                new[name] = float(value)
        self.updates += 1
        self.weights = {**ctx.weights, **new}
        return new

    def state_dict(self) -> dict:
        """Weights, update count and the ascent optimizers' state (plain lists, no
        tensors), so that a resumed or rolled-back run continues exactly."""
        optimisers = dict(self._unapplied)
        optimisers.update({kind: _plain(opt.state_dict())
                           for kind, (_, _, opt) in self._groups.items()})
        return {"weights": dict(self.weights), "updates": self.updates,
                "optimisers": optimisers}

    def load_state_dict(self, state: Mapping) -> None:
        """Restore :meth:`state_dict` output; the optimizer state is applied to the
        optimizers of the current run (a run not yet started creates fresh ones; until
        then the loaded state is kept, so saving again loses nothing)."""
        self.weights = dict(state["weights"])
        self.updates = int(state.get("updates", 0))
        self._unapplied = {}
        for kind, saved in state.get("optimisers", {}).items():
            if kind not in self._groups:
                self._unapplied[kind] = saved
            else:
                names, tensor, optimizer = self._groups[kind]
                optimizer.load_state_dict(_tensors(saved))
                with torch.no_grad():
                    tensor.copy_(torch.tensor([self.weights[t] for t in names],
                                              dtype=tensor.dtype))


def _factory(what: str, spec, lr: float | None, default_lr: float) -> Callable:
    if isinstance(spec, type) and issubclass(spec, torch.optim.Optimizer):
        rate = default_lr if lr is None else lr
        try:
            rate = float(rate)
        except (TypeError, ValueError) as exc:
            raise StrategyError(f"{what}: the learning rate must be a number, got {lr!r}") from exc
        if not (math.isfinite(rate) and rate > 0):
            raise StrategyError(f"{what}: the learning rate must be positive, got {lr!r}")
        return lambda params: spec(params, lr=rate)
    if callable(spec):
        if lr is not None:
            raise StrategyError(f"{what} is a factory: give it its learning rate itself and "
                                "leave the *_lr argument unset")
        return spec
    raise StrategyError(f"{what} must be a torch.optim.Optimizer subclass or a factory "
                        f"params -> optimizer, got {spec!r}")


def _plain(value):
    """Tensors to ``{"tensor": list, "dtype": str}``, recursively (comparable with ==)."""
    if isinstance(value, torch.Tensor):
        return {"tensor": value.detach().cpu().tolist(), "dtype": str(value.dtype)[6:]}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def _tensors(value):
    """The inverse of :func:`_plain`."""
    if isinstance(value, dict):
        if set(value) == {"tensor", "dtype"}:
            return torch.tensor(value["tensor"], dtype=getattr(torch, value["dtype"]))
        return {k: _tensors(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_tensors(v) for v in value)
    return value
