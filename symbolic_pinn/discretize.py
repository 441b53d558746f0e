"""The pipeline: ``PDESystem`` + ``PhysicsInformedNN`` -> generated module -> problem.

``symbolic_discretize`` runs stages 2-3 (analysis, code generation) and returns the
symbolic residuals and the source; ``discretize`` also runs stage 4 (loading) and
returns a :class:`DiscretizedProblem` whose ``solve`` runs stage 5 (training).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import sympy as sp
import torch
from torch import nn

from .adaptive.base import AdaptiveLoss, Need, NonAdaptiveLoss
from .analysis import analyze
from .codegen import GenerationOptions, generate
from .errors import ProblemError, StrategyError, TrainingError
from .ir import ProblemIR
from .loading import load
from .networks import check_not_batch_coupled
from .problem import PDESystem
from .training.strategies import QuadratureTraining, TrainingStrategy

__all__ = ["PhysicsInformedNN", "SymbolicDiscretization", "DiscretizedProblem",
           "symbolic_discretize", "discretize"]


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
            maps each dependent variable's name to a function of ``(N, k)`` raw
            coordinates, ``params`` maps parameter names to tensors.
        input_scaling: ``None`` (raw coordinates), ``"standardize"`` (each coordinate
            mapped to mean 0 and standard deviation 1 of the uniform distribution on
            its interval), or ``{symbol: (mean, std)}``. Applied inside the generated
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
            it pays off over long runs, see ``docs/performance.md``). Needs the
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
        input_scaling: str | Mapping[sp.Symbol, tuple[float, float]] | None = None,
        derivatives: str = "auto",
        compile: bool = False,
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
        if not isinstance(compile, bool):
            raise TypeError(f"compile must be True or False, got {compile!r}")
        self.derivatives, self.compile = derivatives, compile


@dataclass(frozen=True)
class SymbolicDiscretization:
    """What ``symbolic_discretize`` returns: nothing is trained or even loaded.

    Attributes:
        term_names: ``pde_0, ..., bc_0, ...``.
        residuals: ``{term: lowered residual}`` (lhs - rhs, derivatives as symbols).
        derivatives: ``{term: [derivative names in computation order]}``.
        ir: The full intermediate representation.
        source: The generated module's source.
        options: The generation options, with ``derivatives`` resolved to
            ``"autograd"`` or ``"taylor"``.

    Examples:
        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN
        >>> from symbolic_pinn.training import GridTraining
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)}, [x], [u(x)])
        >>> sym = symbolic_discretize(s, PhysicsInformedNN(MLP(1, 1, [8]), GridTraining(0.1)))
        >>> sym.term_names, sym.options.derivatives
        (('pde_0', 'bc_0', 'bc_1'), 'taylor')
        >>> body = sym.source.split("def residual_pde_0")[1].split("def point_residual")[0]
        >>> for line in body.strip().splitlines()[-3:]:  # after the docstring
        ...     print(line)
            x = points[:, 0:1]
            u_xx = jet(nets[0], x, ((2,),), scale=(1.0,), column=0)[0]  # u(x)
            return u_xx + 1
    """

    term_names: tuple[str, ...]
    residuals: dict[str, sp.Expr]
    derivatives: dict[str, list[str]]
    ir: ProblemIR
    source: str
    options: GenerationOptions


def symbolic_discretize(system: PDESystem, pinn: PhysicsInformedNN) -> SymbolicDiscretization:
    """Analyse ``system`` and generate its code, without loading or training.

    Examples:
        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN
        >>> from symbolic_pinn.training import GridTraining
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)}, [x], [u(x)])
        >>> sym = symbolic_discretize(s, PhysicsInformedNN(MLP(1, 1, [8]), GridTraining(0.1)))
        >>> sym.residuals["pde_0"], sym.derivatives["pde_0"]
        (u_xx + 1, ['u_x', 'u_xx'])
    """
    nets, layout = _layout(system, pinn.chain)
    ir = analyze(system, layout, _scaling(system, pinn.input_scaling))
    if not any(t.sites for t in ir.terms) and pinn.additional_loss is None:
        names = ", ".join(str(dv) for dv in system.depvars)
        raise ProblemError(f"no term involves a dependent variable ({names}): the networks "
                           "would fit nothing; check the equations and conditions")
    options = _options(pinn, _derivatives(pinn, ir, nets))
    source = generate(ir, options)
    return SymbolicDiscretization(
        term_names=tuple(t.name for t in ir.terms),
        residuals={t.name: t.expr for t in ir.terms},
        derivatives={t.name: [n.name for n in t.derivatives] for t in ir.terms},
        ir=ir,
        source=source,
        options=options,
    )


def discretize(system: PDESystem, pinn: PhysicsInformedNN) -> DiscretizedProblem:
    """Analyse, generate and load: a problem ready to ``solve``.

    Args:
        system: The PDE system.
        pinn: Networks, training strategy and options.

    Returns:
        The problem; its ``source`` is the generated module.

    Examples:
        >>> import numpy as np, sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN
        >>> from symbolic_pinn.training import GridTraining
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)}, [x], [u(x)])
        >>> prob = discretize(s, PhysicsInformedNN(MLP(1, 1, [16]), GridTraining(0.1)))
        >>> prob.term_names
        ['pde_0', 'bc_0', 'bc_1']
        >>> prob.residuals["bc_1"](np.zeros((3, 1))).shape  # x is set to 1 by bc_1
        torch.Size([3])
        >>> res = prob.solve(iterations=5, seed=0)
        >>> res.predict({x: np.linspace(0, 1, 4)})["u"].shape, len(res.history)
        ((4,), 5)
    """
    symbolic = symbolic_discretize(system, pinn)
    nets, _ = _layout(system, pinn.chain)
    _check_networks(system, symbolic.ir, nets)
    return DiscretizedProblem(system, pinn, symbolic, load(symbolic.source), nets)


class DiscretizedProblem:
    """A discretized PINN problem: generated module, networks, parameters.

    Attributes:
        source: The generated module's source text.
        module: The loaded module.
        term_names: All terms, equations first.
        residuals: ``{term: f(points) -> (N,) tensor}`` with the current networks.
        nets: The networks, in the generated code's ``nets[i]`` order.
        params: ``{identifier: tensor}`` of the system's parameters.

    Examples:
        The residuals are callables on points; here ``u_xx + 1``, checked against a second
        derivative taken with autograd:

        >>> import torch, sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)}, [x], [u(x)])
        >>> prob = discretize(s, PhysicsInformedNN(MLP(1, 1, [8]), GridTraining(0.1)))
        >>> prob
        DiscretizedProblem(terms=['pde_0', 'bc_0', 'bc_1'])
        >>> pts = torch.linspace(0, 1, 7).reshape(-1, 1).requires_grad_()
        >>> u_x, = torch.autograd.grad(prob.nets[0](pts).sum(), pts, create_graph=True)
        >>> u_xx, = torch.autograd.grad(u_x.sum(), pts)
        >>> bool(torch.allclose(prob.residuals["pde_0"](pts), u_xx[:, 0] + 1, atol=1e-5))
        True
        >>> prob.dtype, prob.device.type
        (torch.float32, 'cpu')
    """

    def __init__(self, system, pinn, symbolic: SymbolicDiscretization, module: ModuleType,
                 nets: tuple[nn.Module, ...]) -> None:
        self.system, self.pinn, self.symbolic = system, pinn, symbolic
        self.ir, self.source, self.module, self.nets = symbolic.ir, symbolic.source, module, nets
        self.term_names = list(symbolic.term_names)
        self.kinds = {t.name: t.kind for t in self.ir.terms}
        self.strategy, self.adaptive_loss = pinn.strategy, pinn.adaptive_loss
        self.params = _params(system, self.ir, pinn.param_estim, self.dtype)
        self.residuals = {name: self._residual(name) for name in self.term_names}

    def _residual(self, term: str) -> Callable:
        fn = self.module.RESIDUALS[term]

        def residual(points) -> torch.Tensor:
            with torch.enable_grad():  # autograd derivatives work under torch.no_grad() too
                return fn(self.nets, self.as_points(term, points), self.params)[:, 0]

        residual.__name__ = residual.__qualname__ = f"residual_{term}"
        residual.__doc__ = fn.__doc__
        return residual

    def as_points(self, term: str, points) -> torch.Tensor:
        """Convert points to a ``(N, n_indvars)`` tensor of the networks' dtype and device
        (a tensor is cast with ``.to``, which keeps its autograd graph)."""
        if term not in self.kinds:
            raise KeyError(f"unknown term {term!r}; the terms are {self.term_names}")
        if isinstance(points, torch.Tensor):
            points = points.to(dtype=self.dtype, device=self.device)
        else:
            points = torch.as_tensor(np.asarray(points), dtype=self.dtype, device=self.device)
        n = len(self.ir.indvars)
        if points.ndim != 2 or points.shape[1] != n:
            raise ValueError(
                f"points for {term} must have shape (N, {n}) (columns "
                f"{', '.join(self.ir.indvar_names)}), got {tuple(points.shape)}"
            )
        return points

    @property
    def dtype(self) -> torch.dtype:
        """The floating dtype of the networks (the default dtype if they have none)."""
        for net in self.nets:
            for t in list(net.parameters()) + list(net.buffers()):
                if t.is_floating_point():
                    return t.dtype
        return torch.get_default_dtype()

    @property
    def device(self) -> torch.device:
        """The device of the networks (CPU if they have no tensors)."""
        for net in self.nets:
            for t in list(net.parameters()) + list(net.buffers()):
                return t.device
        return torch.device("cpu")

    @property
    def param_names(self) -> dict[str, str]:
        """``{identifier: user name}`` of the system's parameters."""
        return dict(self.ir.params)

    def write(self, path: str | Path) -> Path:
        """Save the generated source to ``path`` and return the path."""
        path = Path(path)
        path.write_text(self.source, encoding="utf-8")
        return path

    def solve(self, iterations: int = 1000, **options):
        """Train; see :func:`symbolic_pinn.solver.solve` for the options."""
        from .solver import solve  # the solver imports this module

        return solve(self, iterations=iterations, **options)

    def __repr__(self) -> str:
        return f"DiscretizedProblem(terms={self.term_names})"


def _options(pinn: PhysicsInformedNN, derivatives: str) -> GenerationOptions:
    loss = pinn.adaptive_loss
    if loss.hook not in (None, "losses", "step"):
        raise TypeError(f"{type(loss).__name__}.hook must be None, 'losses' or 'step'")
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
    )


def _derivatives(pinn: PhysicsInformedNN, ir: ProblemIR, nets) -> str:
    """Resolve ``pinn.derivatives`` to ``"autograd"`` or ``"taylor"``.

    ``"taylor"`` (asked for, or needed by ``compile=True``) requires every network the
    residuals evaluate to be a supported MLP; a ProblemError names the first that is not.
    """
    from .jets import supports

    used = {s.net for t in ir.terms for s in t.sites}
    unsupported = [i for i, net in enumerate(nets) if i in used and not supports(net)]
    if pinn.derivatives == "autograd":
        if pinn.compile:
            raise ProblemError(
                'compile=True needs derivatives="taylor" (or "auto"): torch.compile cannot '
                'differentiate through the nested autograd.grad calls of derivatives="autograd"')
        return "autograd"
    if not unsupported:
        return "taylor"
    if pinn.derivatives == "auto" and not pinn.compile:
        return "autograd"
    i = unsupported[0]
    asked = "compile=True" if pinn.compile else 'derivatives="taylor"'
    raise ProblemError(
        f"{asked} needs every network to be a plain symbolic_pinn.MLP with a supported "
        f"activation (tanh, sin, sigmoid, SiLU, GELU, ReLU, softplus, ELU) and no hooks; "
        f"{ir.network_label(i)} is a {type(nets[i]).__name__}: use "
        f'derivatives="autograd"' + (" without compile" if pinn.compile else "") + " for it")


def _check_adaptive(pinn: PhysicsInformedNN) -> None:
    """Before any code is generated: the strategy gets the quantities it declares."""
    loss = pinn.adaptive_loss
    name = type(loss).__name__
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


def _layout(system: PDESystem, chain) -> tuple[tuple[nn.Module, ...], dict[str, tuple[int, int]]]:
    names = [dv.func.__name__ for dv in system.depvars]
    if isinstance(chain, nn.Module):
        if len(names) > 1:
            args = {dv.args for dv in system.depvars}
            if len(args) > 1:
                raise ProblemError(
                    "one shared network needs every dependent variable to take the same "
                    f"arguments; got {list(system.depvars)}: pass one network per variable"
                )
        return (chain,), {name: (0, i) for i, name in enumerate(names)}
    if isinstance(chain, Mapping):
        by_name = {}
        for key, net in chain.items():
            key = getattr(key, "__name__", None) or getattr(getattr(key, "func", None),
                                                           "__name__", None) or str(key)
            if key in by_name:
                raise ProblemError(f"networks given twice for {key} (keys name the same "
                                   "dependent variable)")
            by_name[key] = net
        missing = [n for n in names if n not in by_name]
        extra = [k for k in by_name if k not in names]
        if missing or extra:
            raise ProblemError(f"networks given for {sorted(by_name)}; dependent variables "
                               f"are {names}")
        chain = [by_name[n] for n in names]
    try:
        nets = tuple(chain)
    except TypeError as exc:
        raise ProblemError(f"chain must be a torch.nn.Module, a list of them or a mapping "
                           f"{{dependent variable: module}}, got {chain!r}") from exc
    if len(nets) != len(names) or not all(isinstance(n, nn.Module) for n in nets):
        raise ProblemError(
            f"expected one torch.nn.Module per dependent variable ({len(names)}: "
            f"{', '.join(names)}), got {len(nets)} object(s)"
        )
    for i, net in enumerate(nets):
        twin = next((j for j in range(i) if nets[j] is net), None)
        if twin is not None:  # its parameters would be trained twice per step
            raise ProblemError(
                f"the same network object is given for {names[twin]} and {names[i]}; give "
                "each its own network, or pass one network for all (one output column per "
                "dependent variable)")
    return nets, {name: (i, 0) for i, name in enumerate(names)}


def _check_networks(system: PDESystem, ir: ProblemIR, nets) -> None:
    for i, net in enumerate(nets):
        dvs = [dv for dv in ir.depvars if dv.net == i]
        k = len(dvs[0].args)
        dtype = next((p.dtype for p in net.parameters() if p.is_floating_point()),
                     torch.get_default_dtype())
        # probed where it lives: a network the user moved to a GPU first is fine
        device = next((t.device for t in itertools.chain(net.parameters(), net.buffers())),
                      torch.device("cpu"))
        was_training = net.training  # eval: the probe must not touch BatchNorm statistics
        try:
            net.eval()
            with torch.no_grad():
                out = net(torch.zeros(2, k, dtype=dtype, device=device))
        except Exception as exc:
            raise TrainingError(
                f"{ir.network_label(i)} fails on inputs of shape (N, {k}): {exc}"
            ) from exc
        finally:
            net.train(was_training)
        want = max(dv.column for dv in dvs) + 1
        if not isinstance(out, torch.Tensor) or out.shape != (2, want):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise TrainingError(
                f"{ir.network_label(i)} must map (N, {k}) inputs to (N, {want}); "
                f"it returned {shape} for N = 2"
            )
    check_not_batch_coupled(nets, ir)


def _scaling(system: PDESystem, spec) -> list[tuple[float, float] | None]:
    if spec is None:
        return [None] * len(system.indvars)
    if spec == "standardize":
        return [((lo + hi) / 2, (hi - lo) / math.sqrt(12))
                for lo, hi in (system.domains[v] for v in system.indvars)]
    if not isinstance(spec, Mapping):
        raise ProblemError(f"input_scaling must be None, 'standardize' or a dict, got {spec!r}")
    out = []
    for var in spec:
        if var not in system.indvars:
            raise ProblemError(f"input_scaling given for {var}, not an independent variable")
    for var in system.indvars:
        if var not in spec:
            out.append(None)
            continue
        try:
            mean, std = (float(v) for v in spec[var])
        except (TypeError, ValueError) as exc:
            raise ProblemError(f"input_scaling of {var}: expected (mean, std), got "
                               f"{spec[var]!r}") from exc
        if not (math.isfinite(mean) and math.isfinite(std) and std > 0):
            raise ProblemError(f"input_scaling of {var}: need finite mean and std > 0")
        out.append((mean, std))
    return out


def _params(system: PDESystem, ir: ProblemIR, param_estim,
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
