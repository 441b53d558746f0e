"""``PhysicsInformedNN``: how to discretize a system, and the checks of its settings.

:func:`~symbolic_pinn.discretization.discretize` resolves the settings against the system
here: the input scaling, the derivative path (``"auto"`` becomes ``"autograd"`` or
``"taylor"``), the generator's options (after checking what the adaptive loss declares)
and the parameter tensors. Each check raises an error that names the setting.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

import sympy as sp
import torch
from torch import nn

from .adaptive.base import AdaptiveLoss, Need, NonAdaptiveLoss
from .codegen import COMPILE_MODES, GenerationOptions
from .errors import ProblemError, StrategyError
from .ir import ProblemIR
from .problem import PDESystem
from .training import QuadratureTraining, TrainingStrategy

__all__ = ["PhysicsInformedNN"]


class PhysicsInformedNN:
    """How to discretize a system: networks, points, loss weighting, options.

    Args:
        chain: One ``torch.nn.Module`` (for one dependent variable, or shared by all:
            output column ``i`` is the ``i``-th dependent variable), a list with one
            module per dependent variable, or a dict ``{name: module}``. A module maps
            ``(N, k)`` inputs (the dependent variable's arguments, in order) to
            ``(N, outputs)``.
        strategy: A training strategy (``GridTraining``, ``StochasticTraining``, ...).
        adaptive_loss: An :class:`~symbolic_pinn.adaptive.AdaptiveLoss`
            (default: ``NonAdaptiveLoss()``).
        param_estim: Estimate the system's parameters (``True``: all of them; or a
            list of the symbols to estimate). Their given values are initial guesses.
        additional_loss: ``f(u, params) -> scalar tensor``, added to the loss; ``u``
            maps each dependent variable's name to a function from a tensor of ``(N, k)``
            raw coordinates (its ``k`` variables in argument order, in the networks'
            dtype and on their device) to its ``N`` values, shape ``(N,)``: compare them
            with data of shape ``(N,)`` (data of shape ``(N, 1)`` would broadcast to
            ``(N, N)``). ``params`` maps parameter names to tensors. Inputs of another
            shape, dtype or device, and a result that is not one number, raise a
            :class:`~symbolic_pinn.errors.TrainingError`.
        input_scaling: ``None`` (raw coordinates), ``"standardize"`` (each coordinate
            mapped to mean 0 and standard deviation 1 of the uniform distribution on
            its interval), or ``{variable: (mean, std)}`` keyed by the symbol or its
            name (``{"x": (0.5, 0.3)}``). Applied inside the generated
            residuals, so derivatives get the chain-rule factors.
        derivatives: How the generated batched residuals (the training step) get
            input derivatives. ``"taylor"``: the value and every needed derivative of
            an evaluation in one forward pass (:func:`symbolic_pinn.jets.jet`), so the
            loss needs a single backward pass; every network must be a plain
            :class:`~symbolic_pinn.MLP` with a supported activation and no hooks
            (checked when discretizing: a :class:`~symbolic_pinn.errors.ProblemError`
            names the network otherwise; there is no per-term fallback).
            ``"autograd"``: one network call per evaluation and one
            ``torch.autograd.grad`` call per first-order step, any ``nn.Module``.
            ``"auto"`` (default): ``"taylor"`` when every network the residuals
            evaluate supports it, else ``"autograd"``. The per-point residuals
            (``torch.func``) are the same on both paths.
        compile: Run all batched residuals of a loss evaluation as one graph compiled
            by ``torch.compile`` (compiled at the first step, which then takes seconds;
            it pays off over long runs, see ``docs/performance.md``). ``True`` uses
            torch's default mode; a string names another ``torch.compile`` mode, e.g.
            ``"reduce-overhead"``, which on a GPU also replays the compiled graphs as
            CUDA graphs (the step there is bound by kernel launches). Needs the
            ``"taylor"`` path: ``torch.compile`` cannot differentiate through the nested
            ``autograd.grad`` calls of the other one.

    Examples:
        >>> from symbolic_pinn import MLP
        >>> from symbolic_pinn.training import StochasticTraining
        >>> from symbolic_pinn.adaptive import NeuralTangentKernelAdaptiveLoss
        >>> pinn = PhysicsInformedNN(MLP(2, 1, [32, 32]), StochasticTraining(256),
        ...                          adaptive_loss=NeuralTangentKernelAdaptiveLoss(100),
        ...                          input_scaling="standardize")
        >>> type(pinn.adaptive_loss).__name__
        'NeuralTangentKernelAdaptiveLoss'
    """

    def __init__(
        self,
        chain: nn.Module | Iterable[nn.Module] | Mapping[object, nn.Module],
        strategy: TrainingStrategy,
        *,
        adaptive_loss: AdaptiveLoss | None = None,
        param_estim: bool | Iterable[sp.Symbol] = False,
        additional_loss: Callable | None = None,
        input_scaling: str | Mapping[sp.Symbol | str, tuple[float, float]] | None = None,
        derivatives: str = "auto",
        compile: bool | str = False,
    ) -> None:
        if not isinstance(strategy, TrainingStrategy):
            raise TypeError(f"strategy must be a training strategy, got {type(strategy).__name__}")
        adaptive_loss = NonAdaptiveLoss() if adaptive_loss is None else adaptive_loss
        if not isinstance(adaptive_loss, AdaptiveLoss):
            raise TypeError(
                f"adaptive_loss must be an AdaptiveLoss, got {type(adaptive_loss).__name__}"
            )
        if additional_loss is not None and not callable(additional_loss):
            raise TypeError("additional_loss must be callable")
        self.chain, self.strategy, self.adaptive_loss = chain, strategy, adaptive_loss
        self.param_estim, self.additional_loss = param_estim, additional_loss
        self.input_scaling = input_scaling
        if derivatives not in ("auto", "autograd", "taylor"):
            raise ValueError(
                f"derivatives must be 'auto', 'autograd' or 'taylor', got {derivatives!r}")
        if not isinstance(compile, (bool, str)):
            raise TypeError(f"compile must be True, False or the name of a torch.compile "
                            f"mode, got {compile!r}")
        if isinstance(compile, str) and compile not in COMPILE_MODES:
            raise ValueError(f"compile must be True, False or a torch.compile mode "
                             f"({', '.join(map(repr, COMPILE_MODES))}), got {compile!r}")
        self.derivatives, self.compile = derivatives, compile


def generation_options(pinn: PhysicsInformedNN, derivatives: str) -> GenerationOptions:
    """The code generator's options for ``pinn``, ``derivatives`` resolved; checks the
    adaptive loss first (its hook place and the quantities it declares)."""
    loss = pinn.adaptive_loss
    if loss.hook not in (None, "losses", "step"):
        raise StrategyError(f"{type(loss).__name__}.hook must be None, 'losses' or "
                            f"'step', got {loss.hook!r}")
    _check_adaptive(pinn)
    return GenerationOptions(
        hook=loss.hook or "none",
        hook_owner=type(loss).__name__,
        quadrature=isinstance(pinn.strategy, QuadratureTraining),
        point_weights=Need.POINT_WEIGHTS in loss.needs,
        residuals=Need.RESIDUALS in loss.needs,
        after_step=loss.wants_after_step(),
        additional_loss=pinn.additional_loss is not None,
        derivatives=derivatives,
        compile=pinn.compile,
        per_term_gradients=Need.GRADIENTS in loss.needs,
        shared_points=bool(getattr(pinn.strategy, "shares_points", True)),
    )


def resolve_derivatives(pinn: PhysicsInformedNN, ir: ProblemIR, nets) -> str:
    """Resolve ``pinn.derivatives`` to ``"autograd"`` or ``"taylor"``.

    ``"taylor"`` (asked for, or needed by ``compile``) requires every network the
    residuals evaluate to be a supported MLP; a ProblemError names the first that is not.
    """
    from .propagation import supports, unsupported_reason

    used = {s.net for t in ir.terms for s in t.sites}
    unsupported = [i for i, net in enumerate(nets) if i in used and not supports(net)]
    asked = f"compile={pinn.compile!r}" if pinn.compile else 'derivatives="taylor"'
    if pinn.derivatives == "autograd":
        if pinn.compile:
            raise ProblemError(
                f'{asked} needs derivatives="taylor" (or "auto"): torch.compile cannot '
                'differentiate through the nested autograd.grad calls of derivatives="autograd"')
        return "autograd"
    if not unsupported:
        return "taylor"
    if pinn.derivatives == "auto" and not pinn.compile:
        return "autograd"
    i = unsupported[0]
    raise ProblemError(
        f"{asked} needs every network to be a plain symbolic_pinn.MLP with a supported "
        f"activation (tanh, sin, sigmoid, SiLU, GELU, ReLU, softplus, ELU) and no hooks; "
        f"{ir.network_label(i)} is not: {unsupported_reason(nets[i])}; use "
        f'derivatives="autograd"' + (" without compile" if pinn.compile else "") + " for it")


def _check_adaptive(pinn: PhysicsInformedNN) -> None:
    """Before any code is generated: the strategy gets the quantities it declares."""
    loss = pinn.adaptive_loss
    name = type(loss).__name__
    for part in (*getattr(loss, "strategies", ()), loss):
        missing = [a for a in ("reweight_every", "weights") if not hasattr(part, a)]
        if missing:
            raise StrategyError(
                f"{type(part).__name__} has no {' and no '.join(missing)}, which "
                "AdaptiveLoss.__init__ sets: call super().__init__(reweight_every) in its "
                "__init__")
    for part in (*getattr(loss, "strategies", ()), loss):
        if part.hook is not None and type(part).update is AdaptiveLoss.update:
            raise StrategyError(
                f"{type(part).__name__} has hook = {part.hook!r} but does not implement "
                "update(self, ctx), which the hook calls on its due steps: override it to "
                "return {term: weight} (or None for no change), or set hook = None for a "
                "strategy that never reweights terms (one that only weights points, "
                "Need.POINT_WEIGHTS, included)")
    try:
        valid = all(isinstance(n, Need) for n in loss.needs)
    except TypeError:  # not a collection
        valid = False
    if not valid or isinstance(loss.needs, str | Need):
        raise StrategyError(f"{name}.needs must be a set of Need members (e.g. "
                            f"frozenset({{Need.GRADIENTS}})), got {loss.needs!r}")
    graph_needs = sorted(n.value for n in loss.needs & {Need.RESIDUALS, Need.GRADIENTS})
    if graph_needs and loss.hook != "losses":
        raise StrategyError(
            f"{name} needs {', '.join(graph_needs)}, which only the hook place 'losses' "
            f"provides (inside the closure, before the weighted sum); its hook is "
            f"{loss.hook!r}")
    from .adaptive.self_adaptive import SelfAdaptiveLoss  # the adaptive package imports base

    parts = getattr(loss, "strategies", (loss,))
    if pinn.strategy.resamples and any(isinstance(p, SelfAdaptiveLoss) for p in parts):
        raise StrategyError(
            f"SelfAdaptiveLoss weights single training points, so it needs points that stay "
            f"fixed; {type(pinn.strategy).__name__} draws new points every step: use "
            "GridTraining, QuadratureTraining or QuasiRandomTraining(..., resampling=False)")


def coordinate_scaling(system: PDESystem, spec) -> list[tuple[float, float] | None]:
    """``(mean, std)`` per independent variable (``None``: raw) from ``input_scaling``."""
    if spec is None:
        return [None] * len(system.indvars)
    if spec == "standardize":
        return [((lo + hi) / 2, (hi - lo) / math.sqrt(12))
                for lo, hi in (system.domains[v] for v in system.indvars)]
    if not isinstance(spec, Mapping):
        raise ProblemError(f"input_scaling must be None, 'standardize' or a dict, got {spec!r}")
    by_var: dict = {}
    names = {v.name: v for v in system.indvars}
    for key, value in spec.items():  # a variable's symbol or its name
        var = key if key in system.indvars else names.get(key) if isinstance(key, str) else None
        if var is None:
            raise ProblemError(f"input_scaling given for {key}, not an independent variable "
                               f"(they are {', '.join(names)})")
        if var in by_var:
            raise ProblemError(f"input_scaling given twice for {var} (as its symbol and its "
                               "name)")
        by_var[var] = value
    out = []
    for var in system.indvars:
        if var not in by_var:
            out.append(None)
            continue
        try:
            mean, std = (float(v) for v in by_var[var])
        except (TypeError, ValueError) as exc:
            raise ProblemError(f"input_scaling of {var}: expected (mean, std), got "
                               f"{by_var[var]!r}") from exc
        if not (math.isfinite(mean) and math.isfinite(std) and std > 0):
            raise ProblemError(f"input_scaling of {var}: need finite mean and std > 0")
        out.append((mean, std))
    return out


def parameter_tensors(system: PDESystem, ir: ProblemIR, param_estim,
                      dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """Parameter tensors in ``dtype`` (the networks'), so residuals keep its precision."""
    if param_estim is True:
        estimated = set(system.params)
    elif param_estim is False or param_estim is None:
        estimated = set()
    elif isinstance(param_estim, sp.Symbol):  # one parameter
        estimated = {param_estim}
    elif isinstance(param_estim, str) or not isinstance(param_estim, Iterable):
        raise ProblemError(f"param_estim must be True, False or a list of parameter symbols, "
                           f"got {param_estim!r}")
    else:
        estimated = set(param_estim)
        unknown = estimated - set(system.params)
        if unknown:
            raise ProblemError(f"param_estim names {sorted(map(str, unknown))}, which are not "
                               "parameters of the system")
    out = {}
    for (ident, _), (sym, value) in zip(ir.params, system.params.items()):
        tensor = torch.tensor(value, dtype=dtype or torch.get_default_dtype())
        out[ident] = nn.Parameter(tensor) if sym in estimated else tensor
    return out


def recast_known(p: torch.Tensor, given: torch.Tensor, dtype: torch.dtype,
                 device: torch.device) -> torch.Tensor:
    """A known parameter ``p`` in ``dtype`` on ``device``: the system's value ``given``
    where ``p`` still holds it (cast up, its rounding would stay), else ``p``'s own value.

    Examples:
        >>> p = torch.tensor(0.1)  # float32
        >>> recast_known(p, torch.tensor(0.1, dtype=torch.float64), torch.float64,
        ...              torch.device("cpu")).item()
        0.1
        >>> recast_known(torch.tensor(0.5), torch.tensor(0.1, dtype=torch.float64),
        ...              torch.float64, torch.device("cpu")).item()  # set by the user
        0.5
    """
    if p.dtype != dtype and torch.equal(p.detach().cpu(), given.to(p.dtype)):
        p = given
    return p.detach().to(device=device, dtype=dtype)
