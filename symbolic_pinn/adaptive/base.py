"""The adaptive-loss hook: what a strategy declares, and what it receives.

A strategy is a small object. It declares

* ``needs``: the quantities it reads (:class:`Need`); the trainer computes each one
  once per reweight step and hands it over in a :class:`ReweightContext`;
* ``hook``: where the generated code calls it (``"losses"``: inside the closure,
  between the per-term losses and their weighted sum; ``"step"``: after the optimizer
  step; ``None``: never);
* ``is_due(step)``: on which optimizer steps it reweights.

On a due step the trainer calls ``update(context)``, which returns the new weight of
each term it changes. Term weights are plain floats: they never carry gradient.
Strategies that weight single points (SA-PINN, causal weights) declare
:attr:`Need.POINT_WEIGHTS` and return them from ``point_weights`` at every closure
evaluation; strategies with their own trainable tensors step them in ``after_step``.
"""

from __future__ import annotations

import enum
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

from ..errors import StrategyError, integer_at_least

__all__ = ["Need", "RunSetup", "ReweightContext", "AdaptiveLoss", "NonAdaptiveLoss"]


class Need(enum.Enum):
    """Quantities a strategy can ask the trainer for.

    Examples:
        The members, and what the base class and two built-in strategies declare:

        >>> [need.value for need in Need]
        ['losses', 'residuals', 'gradients', 'ntk_diag', 'point_weights']
        >>> AdaptiveLoss.needs == {Need.LOSSES}, NonAdaptiveLoss.needs == set()
        (True, True)
        >>> from symbolic_pinn.adaptive import NeuralTangentKernelAdaptiveLoss
        >>> sorted(need.name for need in NeuralTangentKernelAdaptiveLoss.needs)
        ['LOSSES', 'NTK_DIAG']

        A strategy of your own lists what its ``update`` reads; on its reweight steps the
        trainer then fills ``ctx.gradients`` (one backward pass per term):

        >>> class FromGradients(AdaptiveLoss):
        ...     needs = frozenset({Need.LOSSES, Need.GRADIENTS})
        ...     def update(self, ctx):
        ...         return None  # read ctx.gradients[term] here
        >>> sorted(need.value for need in FromGradients().needs_at(0))
        ['gradients', 'losses']
    """

    LOSSES = "losses"  #: the scalar loss of each term (always provided)
    RESIDUALS = "residuals"  #: the step's per-point residual values (detached)
    GRADIENTS = "gradients"  #: per-term ``∇θ L_k`` (one backward pass per term)
    NTK_DIAG = "ntk_diag"  #: per-point ``‖∂r_i/∂θ‖²`` of each term: the diagonal of K
    POINT_WEIGHTS = "point_weights"  #: the strategy weights points (every evaluation)


@dataclass(frozen=True)
class RunSetup:
    """What a strategy learns once, when a run starts (:meth:`AdaptiveLoss.prepare`).

    Attributes:
        term_names: All terms, equations first.
        kinds: ``{term: "pde" | "bc"}``.
        points: The first points of each term.
        resamples: Whether the training strategy draws new points every step.
        optimizer: ``"adam"``, ``"lbfgs"`` or ``"sgd"``.
        indvar_names: The independent variables, in point-column order.
        bounds: ``(lower, upper)`` of each independent variable, in the same order.
        current_points: ``() -> {term: points}``: the points of the step being taken
            (new ones after each resampling); for strategies that weight points by
            where they lie (causal weights), read inside ``point_weights``.

    Examples:
        A strategy with fixed weights that keeps the setup it is given, trained for two
        steps on points drawn afresh every step (4 per equation, 1 per condition):

        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.training import StochasticTraining
        >>> class KeepSetup(NonAdaptiveLoss):
        ...     def prepare(self, setup):
        ...         self.setup = setup
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)}, [x], [u(x)])
        >>> strategy = KeepSetup()
        >>> pinn = PhysicsInformedNN(MLP(1, 1, [8]), StochasticTraining(4, 1),
        ...                          adaptive_loss=strategy)
        >>> _ = discretize(s, pinn).solve(2, seed=0, progress=False)
        >>> setup = strategy.setup
        >>> setup.term_names, setup.kinds, setup.optimizer
        (('pde_0', 'bc_0', 'bc_1'), {'pde_0': 'pde', 'bc_0': 'bc', 'bc_1': 'bc'}, 'adam')
        >>> setup.indvar_names, setup.bounds, setup.resamples
        (('x',), ((0.0, 1.0),), True)
        >>> {term: tuple(pts.shape) for term, pts in setup.points.items()}
        {'pde_0': (4, 1), 'bc_0': (1, 1), 'bc_1': (1, 1)}

        ``points`` keeps the first draw; ``current_points()`` gives the last step's:

        >>> first, now = setup.points, setup.current_points()
        >>> torch.equal(first["pde_0"], now["pde_0"]), now["bc_1"].tolist()
        (False, [[1.0]])
    """

    term_names: tuple[str, ...]
    kinds: Mapping[str, str]
    points: Mapping[str, torch.Tensor]
    resamples: bool
    optimizer: str
    indvar_names: tuple[str, ...]
    bounds: tuple[tuple[float, float], ...] = ()
    current_points: Callable[[], Mapping[str, torch.Tensor]] | None = None


@dataclass
class ReweightContext:
    """What a strategy sees on a reweight step.

    Attributes:
        step: Optimizer steps taken before this one (L-BFGS counts one per step).
        term_names: All terms, equations first.
        kinds: ``{term: "pde" | "bc"}``.
        losses: Scalar loss of each term at the current parameters and points.
        residuals: ``{term: f(points) -> (N,) tensor}``, per-point residuals with the
            current networks (graph attached).
        points: The points of each term in this step.
        nets: The networks.
        params: PDE parameters by identifier (tensors; trainable when estimated).
        weights: This strategy's weights in force before this update (a copy).
        parameters: The trainable tensors ``θ``, in a fixed order.
        parameter_names: Their names: ``"<net>.<name>"`` (``"0.0.weight"``) or
            ``"p.<param>"``.
        residual_values: ``{term: (N, 1) tensor}`` of this step, detached, when the
            strategy needs :attr:`Need.RESIDUALS`.
        gradients: ``{term: tuple of tensors}``, ``∇θ L_k`` of the unweighted loss,
            aligned with ``parameters``, when the strategy needs :attr:`Need.GRADIENTS`.
        ntk_diagonals: ``{term: (N_k,) tensor}`` when the strategy needs
            :attr:`Need.NTK_DIAG`, computed once on ``ntk_points``.
        ntk_points: The points the diagonals were computed on.

    Examples:
        A strategy that doubles the weight of ``bc_0`` on every second step (0, 2, ...) and
        records what it sees; with no point weights, ``losses`` are the mean squared
        ``residuals`` at ``points``:

        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> class DoubleBoundary(AdaptiveLoss):
        ...     def initial_weights(self, term_names, kinds):
        ...         self.seen = []  # per-run state starts afresh
        ...         return super().initial_weights(term_names, kinds)
        ...     def update(self, ctx):
        ...         r = ctx.residuals["pde_0"](ctx.points["pde_0"])  # (N,), graph attached
        ...         mse = float(r.detach().square().mean())
        ...         same = math.isclose(mse, ctx.losses["pde_0"], rel_tol=1e-5)
        ...         self.seen.append((ctx.step, ctx.weights["bc_0"], same))
        ...         self.last = ctx
        ...         return {"bc_0": 2 * ctx.weights["bc_0"]}  # the others keep theirs
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)}, [x], [u(x)])
        >>> strategy = DoubleBoundary(reweight_every=2)
        >>> pinn = PhysicsInformedNN(MLP(1, 1, [8]), GridTraining(0.25), adaptive_loss=strategy)
        >>> _ = discretize(s, pinn).solve(3, seed=0, progress=False)
        >>> strategy.seen  # (step, weight of bc_0 before the update, loss == mean r²)
        [(0, 1.0, True), (2, 2.0, True)]
        >>> strategy.weights
        {'pde_0': 1.0, 'bc_0': 4.0, 'bc_1': 1.0}
        >>> ctx = strategy.last
        >>> ctx.term_names, ctx.kinds["bc_1"], ctx.points["pde_0"].flatten().tolist()
        (('pde_0', 'bc_0', 'bc_1'), 'bc', [0.25, 0.5, 0.75])
        >>> ctx.parameter_names
        ('0.0.weight', '0.0.bias', '0.2.weight', '0.2.bias')
        >>> ctx.gradients is None, ctx.ntk_diagonals is None  # not declared in needs
        (True, True)
    """

    step: int
    term_names: tuple[str, ...]
    kinds: Mapping[str, str]
    losses: Mapping[str, float]
    residuals: Mapping[str, Callable[[torch.Tensor], torch.Tensor]]
    points: Mapping[str, torch.Tensor]
    nets: tuple[torch.nn.Module, ...]
    params: Mapping[str, torch.Tensor]
    weights: Mapping[str, float]
    parameters: tuple[torch.Tensor, ...] = ()
    parameter_names: tuple[str, ...] = ()
    residual_values: Mapping[str, torch.Tensor] | None = None
    gradients: Mapping[str, tuple[torch.Tensor, ...]] | None = None
    ntk_diagonals: Mapping[str, torch.Tensor] | None = None
    ntk_points: Mapping[str, torch.Tensor] | None = None
    extras: dict = field(default_factory=dict)


class AdaptiveLoss:
    """Base class of adaptive-loss strategies (NeuralPDE's ``AbstractAdaptiveLoss``).

    Subclass it in your own code, set ``needs`` and override :meth:`update`; nothing
    in the library has to change.

    Args:
        reweight_every: Reweight on every ``reweight_every``-th optimizer step,
            starting with step 0.

    Examples:
        >>> class HalveBoundaries(AdaptiveLoss):
        ...     def update(self, ctx):
        ...         return {t: ctx.weights[t] / 2 for t in ctx.term_names if ctx.kinds[t] == "bc"}
        >>> HalveBoundaries(reweight_every=10).is_due(20)
        True
    """

    needs: frozenset[Need] = frozenset({Need.LOSSES})
    hook: str | None = "losses"

    def __init__(self, reweight_every: int = 1) -> None:
        if not integer_at_least(reweight_every, 1):
            raise StrategyError(f"reweight_every must be a positive integer, got {reweight_every!r}")
        self.reweight_every = int(reweight_every)
        self.weights: dict[str, float] = {}

    def initial_weights(self, term_names: tuple[str, ...], kinds: Mapping[str, str]) -> dict:
        """Weights before the first update (1 for every term)."""
        del kinds
        return {name: 1.0 for name in term_names}

    def is_due(self, step: int) -> bool:
        """Whether to reweight at optimizer step ``step`` (asked once per optimizer step)."""
        return step % self.reweight_every == 0

    def needs_at(self, step: int) -> frozenset:
        """What the trainer computes for the update at due step ``step`` (default:
        :attr:`needs`; :class:`~symbolic_pinn.adaptive.Compose` asks only for what its
        components due at ``step`` read). It may only narrow :attr:`needs`: anything
        else is a :class:`~symbolic_pinn.errors.StrategyError`)."""
        del step
        return self.needs

    def prepare(self, setup: RunSetup) -> None:
        """Called once when a run starts, after :meth:`initial_weights` (default: nothing)."""
        del setup

    def point_weights(self, residuals: Mapping[str, torch.Tensor],
                      step: int) -> Mapping[str, torch.Tensor]:
        """Per-point weights, ``{term: (N, 1) tensor}``, for strategies that declare
        :attr:`Need.POINT_WEIGHTS`; called at every closure evaluation. Terms left out
        are not weighted."""
        del residuals, step
        return {}

    def after_step(self, step: int) -> None:
        """Called after every optimizer step when overridden (e.g. gradient ascent on
        trainable weights); the generated ``train_step`` shows the call."""
        del step

    def wants_after_step(self) -> bool:
        """Whether the generated ``train_step`` must call :meth:`after_step`."""
        return type(self).after_step is not AdaptiveLoss.after_step

    def kernel_points(self, ctx: ReweightContext) -> Mapping[str, torch.Tensor]:
        """Points for the NTK diagonals (default: the current batch)."""
        return ctx.points

    def update(self, ctx: ReweightContext) -> Mapping[str, float] | None:
        """Return new weights for some or all terms (or ``None`` for no change)."""
        raise NotImplementedError(
            f"{type(self).__name__} does not implement update(self, ctx): an AdaptiveLoss "
            "subclass with a hook must override it to return {term: weight} for the terms "
            "it reweights, or None for no change, on its due steps (see "
            "docs/adaptive_losses.md); a strategy that never reweights sets hook = None")

    def history_extras(self) -> dict:
        """Extra entries for the history row of a reweight step (e.g. NTK traces)."""
        return {}

    def state_dict(self) -> dict:
        """State to checkpoint."""
        return {"weights": dict(self.weights)}

    def load_state_dict(self, state: Mapping) -> None:
        """Restore :meth:`state_dict` output."""
        self.weights = dict(state["weights"])


class NonAdaptiveLoss(AdaptiveLoss):
    """Fixed weights: per term, or one for all equations and one for all conditions.

    Args:
        weights: ``{term: weight}``; terms not named use the group weights.
        pde_loss_weights: Weight of every equation not in ``weights``.
        bc_loss_weights: Weight of every condition not in ``weights``.
        additional_loss_weight: Weight of the ``additional_loss`` (data) term.

    Examples:
        >>> NonAdaptiveLoss(bc_loss_weights=10).initial_weights(("pde_0", "bc_0"),
        ...     {"pde_0": "pde", "bc_0": "bc"})
        {'pde_0': 1.0, 'bc_0': 10.0}
    """

    needs = frozenset()
    hook = None

    def __init__(
        self,
        weights: Mapping[str, float] | None = None,
        *,
        pde_loss_weights: float = 1.0,
        bc_loss_weights: float = 1.0,
        additional_loss_weight: float = 1.0,
    ) -> None:
        super().__init__(reweight_every=1)
        self.fixed = {str(k): _positive(f"weight of {k}", v) for k, v in (weights or {}).items()}
        self.pde_loss_weights = _positive("pde_loss_weights", pde_loss_weights)
        self.bc_loss_weights = _positive("bc_loss_weights", bc_loss_weights)
        self.additional_loss_weight = _positive("additional_loss_weight", additional_loss_weight)

    def initial_weights(self, term_names, kinds) -> dict:
        unknown = sorted(set(self.fixed) - set(term_names))
        if unknown:
            raise StrategyError(f"NonAdaptiveLoss: weights for unknown terms {unknown}; "
                                f"the terms are {list(term_names)}")
        group = {"pde": self.pde_loss_weights, "bc": self.bc_loss_weights}
        return {n: self.fixed.get(n, group[kinds[n]]) for n in term_names}

    def is_due(self, step: int) -> bool:
        return False

    def update(self, ctx: ReweightContext) -> None:
        return None


def check_per_point_residuals(nets, ir, strategy) -> None:
    """Raise :class:`~symbolic_pinn.errors.TrainingError` if ``strategy`` needs NTK
    diagonals (the ``vmap`` path over the generated per-point residuals) and a network
    that a term evaluates has an active dropout layer (training mode, ``p > 0``).

    ``discretize`` calls it, and so does every ``solve`` before it touches the networks
    (a network's mode may have changed since); plain training with dropout is fine.
    """
    if Need.NTK_DIAG not in getattr(strategy, "needs", ()):
        return
    from .kernel import check_no_random_layers  # torch.func: loaded when needed only

    used = sorted({s.net for t in ir.terms for s in t.sites})
    why = f"{type(strategy).__name__} (its NTK diagonals)"
    check_no_random_layers(nets, ir, used, why)


def _positive(what: str, value: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise StrategyError(f"{what} must be a number, got {value!r}") from exc
    if not math.isfinite(number) or number < 0:
        raise StrategyError(f"{what} must be finite and non-negative, got {value!r}")
    return number


def _term_names(terms) -> tuple[str, ...] | None:
    """``terms=`` of a strategy: a list of term names, or ``None`` (a lone string would be
    read letter by letter)."""
    if terms is None:
        return None
    if isinstance(terms, str):
        raise StrategyError(f"terms must be a list of term names, got the string {terms!r} "
                            f"(write [{terms!r}])")
    return tuple(str(t) for t in terms)


def _losses_finite(ctx: ReweightContext) -> bool:
    """Whether every loss of the update is finite: if not, the strategies that read
    gradients or traces skip the update (``return None``) and leave the step to the
    trainer, which stops it with a :class:`~symbolic_pinn.errors.NonFiniteError` naming
    the term, its SymPy text and the step, or rolls it back (``on_nonfinite="rollback"``).

    Examples:
        >>> from symbolic_pinn.adaptive import ReweightContext
        >>> ctx = ReweightContext(step=3, term_names=("pde_0",), kinds={"pde_0": "pde"},
        ...                       losses={"pde_0": float("nan")}, residuals={}, points={},
        ...                       nets=(), params={}, weights={"pde_0": 1.0})
        >>> _losses_finite(ctx)
        False
    """
    return all(math.isfinite(float(v)) for v in ctx.losses.values())


def _skip_update(name: str, ctx: ReweightContext, what: str) -> None:
    """Skip an update whose losses are finite but whose other inputs are not: warn, and
    return ``None`` (no weight changes).

    The trainer stops the step (or rolls it back) if the gradient of the loss is not
    finite; an input it does not check (an NTK trace on other kernel points, a statistic
    that overflows) may be the only non-finite value, hence the warning.

    Args:
        name: The strategy, for the warning.
        ctx: The update's context (its ``step``).
        what: What is not finite, e.g. ``"the gradient of the loss of term bc_0 is not
            finite"``.

    Examples:
        >>> from symbolic_pinn.adaptive import ReweightContext
        >>> ctx = ReweightContext(step=3, term_names=("pde_0",), kinds={"pde_0": "pde"},
        ...                       losses={"pde_0": 0.5}, residuals={}, points={},
        ...                       nets=(), params={}, weights={"pde_0": 1.0})
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     _skip_update("Mine", ctx, "the gradient of term pde_0 is not finite")
        >>> str(caught[0].message)
        'Mine: the gradient of term pde_0 is not finite at step 3; no weight changes at this update'
    """
    warnings.warn(f"{name}: {what} at step {ctx.step}; no weight changes at this update",
                  RuntimeWarning, stacklevel=3)
