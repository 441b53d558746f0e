"""Stage 5, training: :class:`Run`, the state one ``solve`` runs on.

The generated ``train_step`` and closure call its methods (``resample``, ``adapt``,
``point_weights``, ``observe``, ``after_step``); it holds the points, the term weights,
the optimizer and the step counter, and builds the adaptive-loss context, computing each
quantity a strategy declares (per-term gradients, NTK diagonals) once per reweight step.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping

import numpy as np
import torch

from .adaptive.base import Need, ReweightContext, RunSetup
from .adaptive.contract import (
    check_initial_weights,
    check_needs_at,
    check_point_weights,
    check_weights,
)
from .adaptive.kernel import terms_ntk_diagonals
from .errors import (
    NonFiniteError,
    PointsOutsideDomainWarning,
    StrategyError,
    SymbolicPinnWarning,
    TrainingError,
    term_context,
)
from .grad_mode import differentiable
from .networks import placement
from .solve_checks import uses_cuda_graphs
from .training.base import PointSet
from .training.strategies import GridTraining

__all__ = ["Run"]


class Run:
    """The mutable state of one training run, as the generated code sees it.

    Args:
        problem: The :class:`~symbolic_pinn.discretization.DiscretizedProblem` (networks,
            parameters, training strategy, adaptive loss, generated module).
        optimizer: The optimizer's name (``"adam"``, ...), as the adaptive loss's
            ``prepare`` sees it.
        optimizer_factory: ``parameters -> torch.optim.Optimizer`` for the trainable
            tensors.
        rng: The random generator the training strategy samples points with.
        device: The device the points are put on (``solve`` moves the networks).
        dtype: The dtype of the points.

    Raises:
        TrainingError: Nothing requires grad.
        StrategyError: The training strategy gave a term no points, points that are not
            an ``(N, n_indvars)`` array, or non-finite points (checked at every sample).

    Examples:
        :func:`~symbolic_pinn.solve` builds one and passes it to the generated module's
        ``make_closure`` and ``train_step``; the same by hand:

        >>> import numpy as np, sympy as sp, torch
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)}, [x], [u(x)])
        >>> problem = discretize(s, PhysicsInformedNN(MLP(1, 1, [8]), GridTraining(0.1)))
        >>> run = Run(problem, "adam", lambda params: torch.optim.Adam(params, lr=1e-3),
        ...           np.random.default_rng(0), torch.device("cpu"), torch.float32)
        >>> {term: tuple(points.shape) for term, points in run.points.items()}
        {'pde_0': (9, 1), 'bc_0': (1, 1), 'bc_1': (1, 1)}
        >>> run.weights
        {'pde_0': 1.0, 'bc_0': 1.0, 'bc_1': 1.0}
        >>> run.parameter_names
        ('0.0.weight', '0.0.bias', '0.2.weight', '0.2.bias')

        One optimizer step: the closure records the step's losses through ``observe``
        and the parameters move (``solve`` then advances ``run.step``):

        >>> before = [p.detach().clone() for p in run.parameters]
        >>> closure = problem.module.make_closure(run)
        >>> _ = problem.module.train_step(run, closure)
        >>> weighted = sum(run.weights[t] * run.step_losses[t] for t in run.term_names)
        >>> bool(torch.isclose(run.step_loss, weighted)), run.step
        (True, 0)
        >>> any(not torch.equal(b, p) for b, p in zip(before, run.parameters))
        True
    """

    def __init__(self, problem, optimizer: str, optimizer_factory, rng: np.random.Generator,
                 device, dtype):
        self.problem, self.rng, self.device, self.dtype = problem, rng, device, dtype
        self.nets = problem.nets
        self.params = problem.params
        self.adaptive = problem.adaptive_loss
        self.sampler = problem.strategy
        self.term_names = tuple(problem.term_names)
        self.weights: dict[str, float] = check_initial_weights(
            type(self.adaptive).__name__,
            self.adaptive.initial_weights(self.term_names, problem.kinds), self.term_names,
            self._text)
        self.adaptive.weights = dict(self.weights)
        self.points: dict[str, torch.Tensor] = {}
        self.quadrature: dict[str, torch.Tensor] = {}  # QuadratureTraining's point weights
        self._outside: set[str] = set()  # terms already warned about points outside
        self._weights_warned = False  # point weights the loss does not read
        self._sampled = False
        self._fill(self.sampler.sample(problem.ir, rng))
        named = self._named_trainable()
        self.parameter_names = tuple(name for name, _ in named)
        self.parameters = tuple(p for _, p in named)
        if not self.parameters:
            raise TrainingError("nothing to train: no network parameter or estimated PDE "
                                "parameter requires grad")
        self.optimizer = optimizer_factory(list(self.parameters))
        self.gradient_passes = 0  # backward passes spent on Need.GRADIENTS
        # CUDA graphs (compile="reduce-overhead" or "max-autotune" on a GPU) write their
        # outputs into the same memory at every replay: what a strategy keeps of them
        # (per-term gradients, residual values) is copied out (see _context). solve still
        # refuses such strategies there (solve_checks.check_cuda_graphs) until a GPU run
        # shows that the copies suffice.
        self.graphed = uses_cuda_graphs(getattr(problem.symbolic.options, "compile", False),
                                        device)
        self.adaptive.prepare(RunSetup(
            term_names=self.term_names, kinds=dict(problem.kinds), points=dict(self.points),
            resamples=bool(self.sampler.resamples), optimizer=optimizer,
            indvar_names=tuple(problem.ir.indvar_names),
            bounds=tuple(problem.ir.bounds), current_points=lambda: self.points,
        ))
        self.step = 0
        self.step_losses: dict[str, torch.Tensor] = {}
        self.step_loss: torch.Tensor | None = None
        self.step_weights: dict[str, float] = dict(self.weights)
        self.lr: float | None = None  # the run's first learning rate (solve sets it)
        self.reweighted: dict | None = None
        self._fresh = True
        self._adapted = False
        pinn = problem.pinn
        self.additional_weight = float(getattr(self.adaptive, "additional_loss_weight", 1.0))
        self._additional = pinn.additional_loss
        # where additional_loss's inputs must be: the networks are placed before a Run
        self._placement = placement(self.nets, problem.ir) if self._additional else None

    # -- called by the generated code -----------------------------------------------
    def resample(self) -> None:
        """Start a step: fresh points for resampling strategies, hooks re-armed."""
        if self.step > 0 and self.sampler.resamples:
            self._fill(self.sampler.sample(self.problem.ir, self.rng))
        self._fresh, self._adapted, self.reweighted = True, False, None

    def adapt(self, losses: Mapping[str, torch.Tensor],
              residuals: Mapping[str, torch.Tensor] | None = None) -> None:
        """The adaptive-loss hook: once per optimizer step, on the strategy's due steps.

        ``is_due(step)`` is asked once per optimizer step (not per closure evaluation)."""
        if self._adapted:
            return
        self._adapted = True
        if not self.adaptive.is_due(self.step):
            return
        ctx = self._context(losses, residuals)
        new = check_weights(type(self.adaptive).__name__, self.adaptive.update(ctx),
                            self.term_names, self.step, self._text)
        self.weights.update(new)  # in place: the closure holds this dict
        self.adaptive.weights = dict(self.weights)
        self.reweighted = self.adaptive.history_extras()

    def point_weights(self, residuals: Mapping[str, torch.Tensor]) -> dict:
        """The strategy's per-point weights for this evaluation (1.0 where it has none)."""
        weights = self.adaptive.point_weights(residuals, self.step)
        check_point_weights(type(self.adaptive).__name__, weights, residuals)
        return {term: weights.get(term, 1.0) for term in self.term_names}

    def after_step(self) -> None:
        """The strategy's work after each optimizer step (e.g. SA-PINN's ascent step)."""
        self.adaptive.after_step(self.step)

    def observe(self, losses: Mapping[str, torch.Tensor], loss: torch.Tensor) -> None:
        """Keep the first evaluation of each step (L-BFGS evaluates several times)."""
        if self._fresh:
            self._fresh = False
            self.step_losses = {k: v.detach() for k, v in losses.items()}
            self.step_loss = loss.detach()
            # the weights this loss used: a hook after the optimizer step changes them
            # before the history row is written
            self.step_weights = dict(self.weights)
        self._check_finite(losses, loss)

    def _check_finite(self, losses: Mapping[str, torch.Tensor], loss: torch.Tensor) -> None:
        """Raise :class:`NonFiniteError` if a loss or the gradient is NaN or infinite.

        Called after ``backward`` at every closure evaluation, so the optimizer never
        applies a non-finite gradient. One host sync and three ops (cat, isfinite, all):
        the total and every gradient entry are checked together, each entry itself (a sum
        of large finite entries could overflow). A non-finite residual makes its term's loss non-finite,
        and so the total (the weights are finite and non-negative, and ``0 · inf`` is
        NaN); the term losses are read only to name the term in the error.
        """
        values = [loss.detach().reshape(1)]
        values += [p.grad.reshape(-1) for p in self.parameters if p.grad is not None]
        if bool(torch.isfinite(torch.cat(values)).all()):  # (cat promotes dtypes)
            return
        losses_now = {k: float(v.detach()) for k, v in losses.items()}
        for term, value in losses_now.items():
            if not math.isfinite(value):
                hint = ("check the data of additional_loss for NaN or infinity"
                        if term == "additional" else
                        "lower the learning rate, or check the equation and its scaling")
                if term != "additional" and Need.POINT_WEIGHTS in self.adaptive.needs:
                    hint += (f", or the point weights of {type(self.adaptive).__name__}, "
                             "whose values are not checked")
                error = NonFiniteError(
                    f"step {self.step}: the loss of term {term} is {value}{self._text(term)}; "
                    f"training stopped ({hint})",
                    step=self.step, term=term, quantity="loss", value=value)
                break
        else:
            term = self._blame_gradient()
            whose = f"of term {term}" if term is not None else "of the loss"
            error = NonFiniteError(
                f"step {self.step}: the gradient {whose} is not finite"
                f"{self._text(term) if term is not None else ''} (the losses are "
                "finite); training stopped (lower the learning rate, or check the equation "
                "for singular points, e.g. sqrt or log at 0)",
                step=self.step, term=term, quantity="gradient")
        error.losses = {"loss": float(loss.detach()), "losses": losses_now}
        raise error

    def _term(self, term: str) -> str:
        """``"term bc_1 (Eq(...))"``: the term with its SymPy text, for error messages."""
        text = next((t.text for t in self.problem.ir.terms if t.name == term), None)
        return f"term {term}" if text is None else term_context(term, text)

    def _text(self, term: str) -> str:
        """``" (term bc_1 (Eq(...)))"``: the same in brackets, or nothing for a name that is
        not a term (``"additional"``)."""
        known = any(t.name == term for t in self.problem.ir.terms)
        return f" ({self._term(term)})" if known else ""

    def _blame_gradient(self) -> str | None:
        """The first term whose unweighted loss has a non-finite gradient (error path only)."""
        module = self.problem.module
        for term in self.term_names:
            with differentiable():
                r = module.RESIDUALS[term](self.nets, self.points[term], self.params)
                grads = torch.autograd.grad((r**2).mean(), self.parameters, allow_unused=True)
            if not all(bool(torch.isfinite(g).all()) for g in grads if g is not None):
                return term
        if self._additional is not None:
            with differentiable():
                grads = torch.autograd.grad(self.additional_loss(), self.parameters,
                                            allow_unused=True)
            if not all(bool(torch.isfinite(g).all()) for g in grads if g is not None):
                return "additional"
        return None

    def additional_loss(self) -> torch.Tensor:
        """The user's ``additional_loss(u, params)``, checked to be one number."""
        dtype, device = self._placement
        funcs = {dv.name: self._evaluator(dv, dtype, device) for dv in self.problem.ir.depvars}
        params = {name: self.params[ident] for ident, name in self.problem.ir.params}
        value = self._additional(funcs, params)
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            shown = (f"a tensor of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor)
                     else repr(value))
            raise TrainingError(f"additional_loss must return a tensor with one element (the "
                                f"data loss), got {shown}")
        return value.reshape(())

    # -- helpers ---------------------------------------------------------------------------
    def _named_trainable(self) -> list[tuple[str, torch.Tensor]]:
        out, seen = [], set()
        named = [(f"{i}.{name}", p) for i, net in enumerate(self.nets)
                 for name, p in net.named_parameters()]
        named += [(f"p.{name}", p) for name, p in self.params.items()]
        for name, p in named:
            if p.requires_grad and id(p) not in seen:  # a tensor two networks share: once
                seen.add(id(p))
                out.append((name, p))
        return out

    def trainable(self) -> list[torch.Tensor]:
        """The tensors the optimizer trains: network and estimated PDE parameters."""
        return [p for _, p in self._named_trainable()]

    def _evaluator(self, dv, dtype: torch.dtype, device: torch.device) -> Callable:
        """``inputs (N, k) -> (N,)`` for ``additional_loss``, its inputs checked: a wrong
        shape would be read column by column without complaint."""
        fn = self.problem.module.EVALUATE[dv.ident]
        names = [str(self.problem.system.indvars[i]) for i in dv.args]
        wanted = f"(N, {len(names)}) (columns {', '.join(names)})"

        def evaluate(inputs):
            if not isinstance(inputs, torch.Tensor) or inputs.ndim != 2 or (
                    inputs.shape[1] != len(names)):
                shown = (f"shape {tuple(inputs.shape)}" if isinstance(inputs, torch.Tensor)
                         else type(inputs).__name__)
                raise TrainingError(f"additional_loss: {dv.name} takes a tensor of shape "
                                    f"{wanted}, got {shown}")
            if inputs.dtype != dtype or inputs.device != device:
                raise TrainingError(
                    f"additional_loss: {dv.name} got inputs of {inputs.dtype} on "
                    f"{inputs.device}, but the networks are {dtype} on {device}; convert "
                    f"the data with .to(dtype={dtype}, device='{device}')")
            return fn(self.nets, inputs)[:, 0]

        return evaluate

    def _fill(self, pointset) -> None:
        _check_pointset(self.sampler, pointset)
        name = type(self.sampler).__name__
        unknown = {what: ", ".join(repr(t) for t in given if t not in self.term_names)
                   for what, given in (("points", pointset.points),
                                       ("weights", pointset.weights or {}))}
        for term in self.term_names:
            pts = pointset.points.get(term)
            if pts is None or _empty(pts):
                hint = (": its sample() left the term out" if pts is None
                        else ": a spacing dx as wide as the domain leaves no grid point "
                        "strictly inside it; use a smaller dx"
                        if isinstance(self.sampler, GridTraining) else "")
                if pts is None and unknown["points"]:  # a misspelt name, most likely
                    hint += (f" (it gave points for {unknown['points']}, not a term; the "
                             f"terms are {', '.join(self.term_names)})")
                raise StrategyError(f"{name} gave no points for {self._term(term)}{hint}")
        for what, names in unknown.items():
            if names:  # (a strategy written for another system, say)
                raise StrategyError(f"{name} gave {what} for unknown term(s) {names}; the "
                                    f"terms are {', '.join(self.term_names)}")
        points = dict(pointset.points)
        for term in self.term_names:
            points[term] = self._checked(term, points[term])
            # NumPy arrays (the built-in strategies') are checked on the host, before they
            # are copied to the device: no device sync per step
            pts = pointset.points[term]
            finite = (np.isfinite(pts).all() if isinstance(pts, np.ndarray)
                      else bool(torch.isfinite(points[term]).all()))
            if not finite:
                raise StrategyError(
                    f"{type(self.sampler).__name__} gave NaN or infinite points for "
                    f"{self._term(term)} (its sample() for step "
                    f"{getattr(self, 'step', 0)})")
        for term in self.term_names:
            self.points[term] = points[term]
        self._check_inside(pointset)
        self.share_points(pointset)
        self._fill_weights(pointset)
        self._sampled = True

    def _fill_weights(self, pointset) -> None:
        """Quadrature weights, ``(N, 1)`` per term; weights that the generated loss does
        not read (a strategy other than QuadratureTraining) are warned about once."""
        name = type(self.sampler).__name__
        if not getattr(self.problem.symbolic.options, "quadrature", False):
            if pointset.weights and not self._weights_warned:
                warnings.warn(
                    f"{name} gave point weights, which the generated loss does not read: "
                    "its losses are plain means over the points (only a QuadratureTraining "
                    "problem weights them)", SymbolicPinnWarning, stacklevel=2)
                self._weights_warned = True
            return
        for term in self.term_names:
            w = (pointset.weights or {}).get(term)
            if w is None:
                raise StrategyError(f"{name} gave no point weights for {self._term(term)}; "
                                    "the loss of a QuadratureTraining problem weights the "
                                    "points of every term")
            w = torch.as_tensor(w, dtype=self.dtype, device=self.device)
            n = self.points[term].shape[0]
            if tuple(w.shape) != (n, 1):  # (N,) would broadcast against (N, 1) to (N, N)
                raise StrategyError(f"{name} gave weights of shape {tuple(w.shape)} for "
                                    f"{self._term(term)}; they must be (N, 1), one per point "
                                    f"(N = {n})")
            self.quadrature[term] = w

    def _check_inside(self, pointset) -> None:
        """Warn, once per term, about points outside the domain in a column the term
        samples. NumPy arrays are checked at every sample, on the host; tensors at the
        first only (no device sync per step)."""
        ir = self.problem.ir
        for term in ir.terms:
            pts = pointset.points[term.name]
            if term.name in self._outside or not (isinstance(pts, np.ndarray)
                                                  or not self._sampled):
                continue
            values = np.asarray(pts if isinstance(pts, np.ndarray)
                                else self.points[term.name].detach().cpu(), dtype=np.float64)
            for col in term.free:
                (lo, hi), name = ir.bounds[col], ir.indvar_names[col]
                low, high = values[:, col].min(), values[:, col].max()
                slack = 1e-6 * max(hi - lo, abs(lo), abs(hi))  # float32 points, rounding
                if low < lo - slack or high > hi + slack:
                    self._outside.add(term.name)
                    warnings.warn(
                        f"{type(self.sampler).__name__} gave points outside the domain for "
                        f"{self._term(term.name)}: {name} from {low:g} to "
                        f"{high:g}, but {name} is in [{lo:g}, {hi:g}]; they are trained on "
                        "(said once per term)", PointsOutsideDomainWarning, stacklevel=2)
                    break

    def share_points(self, pointset: PointSet | None = None) -> None:
        """Make the points of each group of the generated module's ``SHARED`` one tensor
        where they are equal, so that ``all_residuals`` evaluates the group with one
        ``jet`` call per network and input (a module without groups defines no
        ``SHARED``).

        Called after every sample, and after a checkpoint's points are put back.

        Args:
            pointset: The sample the points came from: its NumPy arrays (the built-in
                strategies') are compared on the host. ``None`` compares the tensors.

        Examples:
            The two equations of a system on one grid:

            >>> import numpy as np, sympy as sp, torch
            >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
            >>> from symbolic_pinn.training import GridTraining
            >>> x, y = sp.symbols("x y"); u, v = sp.Function("u"), sp.Function("v")
            >>> U, V = u(x, y), v(x, y)
            >>> s = PDESystem([U.diff(x) - V, V.diff(y) + U], [u(0, y), v(x, 0)],
            ...               {x: (0, 1), y: (0, 1)}, [x, y], [U, V])
            >>> problem = discretize(s, PhysicsInformedNN(MLP(2, 2, [8]), GridTraining(0.25)))
            >>> problem.module.SHARED
            (('pde_0', 'pde_1'),)
            >>> run = Run(problem, "adam", lambda ps: torch.optim.Adam(ps),
            ...           np.random.default_rng(0), torch.device("cpu"), torch.float32)
            >>> run.points["pde_1"] is run.points["pde_0"]
            True
            >>> run.points["pde_1"] = run.points["pde_0"].clone()
            >>> run.share_points()
            >>> run.points["pde_1"] is run.points["pde_0"]
            True
        """
        for group in getattr(self.problem.module, "SHARED", ()):
            if all(self._same_points(group[0], term, pointset) for term in group[1:]):
                for term in group[1:]:
                    self.points[term] = self.points[group[0]]

    def _same_points(self, a: str, b: str, pointset) -> bool:
        # equal to the bit: -0.0 and 0.0 compare equal, but atan2 or 1/x tell them apart
        pa, pb = (None, None) if pointset is None else (pointset.points[a], pointset.points[b])
        if pa is not None and pa is pb:
            return True
        if isinstance(pa, np.ndarray) and isinstance(pb, np.ndarray):
            return (pa.shape == pb.shape and bool(np.array_equal(pa, pb))
                    and bool(np.array_equal(np.signbit(pa), np.signbit(pb))))
        ta, tb = self.points[a], self.points[b]
        return ta is tb or (ta.shape == tb.shape and bool(torch.equal(ta, tb))
                            and bool(torch.equal(torch.signbit(ta), torch.signbit(tb))))

    def _checked(self, term: str, pts) -> torch.Tensor:
        """One term's points from ``sample()`` as a tensor, if ``(N, n_indvars)``; else a
        StrategyError naming the strategy, the term and the shape found and expected."""
        name, ir = type(self.sampler).__name__, self.problem.ir
        try:
            shape = tuple(getattr(pts, "shape", None) or np.shape(pts))
        except ValueError:  # a ragged list of rows
            shape = ("ragged",)
        n = len(ir.indvar_names)
        if len(shape) != 2 or shape[1] != n:
            raise StrategyError(
                f"{name} gave points of shape {shape} for {self._term(term)}; "
                f"expected (N, {n}), N >= 1 rows with one column per independent variable "
                f"({', '.join(ir.indvar_names)}); a strategy of your own makes full rows from "
                "a term's free columns with TrainingStrategy.place, which also sets the "
                "columns a condition fixes")
        try:
            tensor = torch.as_tensor(pts, dtype=self.dtype, device=self.device)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise StrategyError(f"{name} gave points for {self._term(term)} that "
                                f"are not numbers: {exc}") from exc
        return tensor

    def sample(self, strategy) -> dict[str, torch.Tensor]:
        """Points from another strategy (e.g. an NTK kernel sampler), on this run's device."""
        pointset = strategy.sample(self.problem.ir, self.rng)
        _check_pointset(strategy, pointset)
        return {t: torch.as_tensor(p, dtype=self.dtype, device=self.device)
                for t, p in pointset.points.items()}

    def _context(self, losses, residuals) -> ReweightContext:
        parameters = self.parameters
        ctx = ReweightContext(
            step=self.step,
            term_names=self.term_names,
            kinds=dict(self.problem.kinds),
            # the terms only: at hook="step" the step's losses also hold "additional"
            losses={t: float(losses[t].detach()) for t in self.term_names},
            residuals=self.problem.residuals,
            points=dict(self.points),
            nets=tuple(self.nets),
            params=self.params,
            weights=dict(self.adaptive.weights),
            parameters=parameters,
            parameter_names=tuple(self.parameter_names),
            extras={"sample": self.sample, "term_text": self._text},
        )
        needs = check_needs_at(type(self.adaptive).__name__, self.adaptive.needs_at(self.step),
                               self.adaptive.needs, self.step)
        if Need.RESIDUALS in needs:
            if residuals is None:
                raise StrategyError(f"{type(self.adaptive).__name__} needs residuals, which "
                                    "its hook place does not provide")
            ctx.residual_values = {k: self._kept(v.detach()) for k, v in residuals.items()}
        if Need.GRADIENTS in needs:
            ctx.gradients = {}
            for term in self.term_names:  # one backward pass per term, shared by all users
                if not losses[term].requires_grad:  # the term does not depend on θ at all
                    ctx.gradients[term] = tuple(torch.zeros_like(p) for p in parameters)
                    continue
                ctx.gradients[term] = tuple(self._kept(g) for g in torch.autograd.grad(
                    losses[term], parameters, retain_graph=True, materialize_grads=True))
                self.gradient_passes += 1
        if Need.NTK_DIAG in needs:
            pts = self.adaptive.kernel_points(ctx)
            chunk = getattr(self.adaptive, "chunk_size", "auto")
            method = getattr(self.adaptive, "ntk_method", "auto")  # forward propagation
            ctx.ntk_points = pts  # for MLPs (about one step), else vmap: the same values
            ctx.ntk_diagonals = terms_ntk_diagonals(  # all terms in one call
                self.problem, {term: pts[term] for term in self.term_names}, method=method,
                chunk_size=chunk)
        return ctx

    def _kept(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor``, copied out of a CUDA graph's memory, which the next replay overwrites
        (the next term's backward replay overwrites the gradients of this one)."""
        return tensor.clone() if self.graphed else tensor


def _check_pointset(strategy, pointset) -> None:
    if not isinstance(pointset, PointSet):
        raise StrategyError(f"{type(strategy).__name__}.sample must return a "
                            "symbolic_pinn.training.PointSet ({term: (N, k) points}), got "
                            f"{type(pointset).__name__}")


def _empty(pts) -> bool:
    """Whether a strategy gave a term no rows (a scalar or 0-d array is left to the shape
    check, which names it)."""
    try:
        return len(pts) == 0
    except TypeError:  # no len(): a number, a 0-d array or tensor
        return False
