"""NTK adaptive weights: Algorithm 1 of Wang, Yu & Perdikaris (J. Comput. Phys. 2022).

For terms ``k = 1..m`` with kernel blocks ``K_kk`` the weights are

    λ_k = Σ_j Tr(K_jj) / Tr(K_kk),    Tr(K_kk) = Σ_i ‖∂r_k(x_i)/∂θ‖²,

so every weighted trace ``λ_k Tr(K_kk)`` equals ``Tr(K)``. Terms may be grouped to share
one weight, as the paper's ``λ_u`` for the initial values and both walls of the wave: a
group's trace is taken over the union of its members' points. Only the kernel's diagonal
is needed, and it is computed exactly: by forward (Taylor-mode) propagation through
the networks and one backward pass (:mod:`symbolic_pinn.fast_ntk`) where every network
is a supported MLP, else by ``vmap(grad)``
(:func:`~symbolic_pinn.adaptive.kernel.ntk_diagonal`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence

import torch

from ..errors import StrategyError, integer_at_least
from ..training import QuasiRandomTraining, StochasticTraining, TrainingStrategy
from .base import AdaptiveLoss, Need, ReweightContext, _losses_finite, _positive, _skip_update
from .kernel import NTK_METHODS, check_chunk_size, terms_ntk_diagonals

__all__ = ["NeuralTangentKernelAdaptiveLoss", "traces_at"]

_TRACES = ("sum", "mean")
_NUMERATORS = ("sum", "mean")


class NeuralTangentKernelAdaptiveLoss(AdaptiveLoss):
    """Reweight every term by the NTK trace ratio ``λ_k = Σ_j Tr K_jj / Tr K_kk``.

    Args:
        reweight_every: Optimizer steps between updates (first update at step 0).
            The paper's wave run used 1000; its code, 100.
        kernel_points: Where the kernel is evaluated: ``"batch"`` (the points of the
            current step, as in Algorithm 1), ``"stochastic"`` or ``"quasirandom"``
            (``kernel_size`` fresh points per term), or any training strategy object,
            e.g. ``GridTraining(0.05)``.
        kernel_size: Points per term for ``"stochastic"``/``"quasirandom"``.
        trace: ``"sum"``: ``Tr K_kk`` as in Algorithm 1; ``"mean"``: ``Tr K_kk / N_k``,
            per point, as in the Expert's-guide (jaxpi) code. They give the same weights
            when all terms have the same number of points.
        numerator: ``"sum"``: ``λ_k = Σ_j t_j / t_k`` (Algorithm 1); ``"mean"``:
            ``λ_k = mean_j t_j / t_k``, the jaxpi code's normalisation (``m`` times
            smaller for ``m`` weights: a group counts once). With ``trace="mean"`` it is
            jaxpi's NTK weighting.
        smoothing: ``α`` of a moving average ``λ ← α λ + (1 - α) λ̂`` after the first
            update (0, the default, is Algorithm 1: no averaging). jaxpi averages from
            the first update on, starting from ``λ = 1``; here the first update sets
            ``λ̂`` itself.
        eps: Guard added to numerator and denominator.
        chunk_size: Points per vectorised chunk when computing diagonals (``vmap``):
            a positive integer, ``None`` (one chunk) or ``"auto"`` (the default:
            :func:`~symbolic_pinn.adaptive.kernel.auto_chunk_size`).
        method: How the exact diagonals are computed: ``"auto"`` (default: forward
            propagation through the networks, one backward pass, about 1.4 training
            steps, where every network is a supported
            :class:`~symbolic_pinn.networks.MLP`; else ``vmap``), ``"exact-vmap"``
            (always ``torch.func.vmap(grad)``), ``"taylor"`` (always forward
            propagation; an error for other networks). All give the same traces.
        groups: ``{group: [term, ...]}``: the members of a group share one weight
            ``λ_g = Σ_j Tr K_jj / Tr K_gg``, where ``Tr K_gg`` is taken over the union of
            the members' points (the sum of their traces with ``trace="sum"``, the mean
            over all their points with ``"mean"``). Terms in no group keep their own
            weight. Each member's loss keeps its weight ``λ_g``, so the loss is
            ``λ_g Σ_{k∈g} L_k``, as in the NTK paper's wave code. Default: no groups.

    Attributes:
        weights: The last weights, ``{term: λ}``.
        traces: The last traces, ``{term or group: Tr K}`` (or per-point means).

    Raises:
        StrategyError: An invalid option; at the start of a run, a group that names a
            term the problem does not have.

    An update whose losses or traces are not finite changes nothing (a
    :class:`RuntimeWarning` says so when the losses are finite): the trainer stops that
    step with a :class:`~symbolic_pinn.errors.NonFiniteError` naming the term, or rolls
    it back (``on_nonfinite="rollback"``).

    Examples:
        >>> ntk = NeuralTangentKernelAdaptiveLoss(reweight_every=100, smoothing=0.9)
        >>> ntk.is_due(0), ntk.is_due(50), ntk.is_due(200)
        (True, False, True)
        >>> wave = NeuralTangentKernelAdaptiveLoss(groups={"u": ["bc_0", "bc_2", "bc_3"]})
        >>> wave.units(("pde_0", "bc_0", "bc_1", "bc_2", "bc_3"))
        {'pde_0': ('pde_0',), 'u': ('bc_0', 'bc_2', 'bc_3'), 'bc_1': ('bc_1',)}
    """

    needs = frozenset({Need.LOSSES, Need.NTK_DIAG})
    hook = "losses"

    def __init__(
        self,
        reweight_every: int = 100,
        *,
        kernel_points: str | TrainingStrategy = "batch",
        kernel_size: int = 300,
        trace: str = "sum",
        numerator: str = "sum",
        smoothing: float = 0.0,
        eps: float = 1e-12,
        chunk_size: int | str | None = "auto",
        method: str = "auto",
        groups: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        super().__init__(reweight_every)
        if method not in NTK_METHODS:
            raise StrategyError(f"method must be one of {NTK_METHODS}, got {method!r}")
        if trace not in _TRACES:
            raise StrategyError(f"trace must be one of {_TRACES}, got {trace!r}")
        if numerator not in _NUMERATORS:
            raise StrategyError(f"numerator must be one of {_NUMERATORS}, got {numerator!r}")
        self.numerator = numerator
        if not _positive("smoothing", smoothing) < 1.0:
            raise StrategyError(f"smoothing must be in [0, 1), got {smoothing!r}")
        _positive("eps", eps)
        check_chunk_size(chunk_size)
        self.kernel_sampler = _kernel_sampler(kernel_points, kernel_size)
        self.trace, self.smoothing, self.eps = trace, float(smoothing), float(eps)
        self.chunk_size, self.ntk_method = chunk_size, method
        self.groups = _checked_groups(groups)
        self.traces: dict[str, float] = {}
        self.updates = 0

    @property
    def method(self) -> str:
        """How the diagonals are computed (``ntk_method``, which the trainer reads)."""
        return self.ntk_method

    def initial_weights(self, term_names, kinds) -> dict:
        # A new run starts from weight 1 everywhere, so its first update is unsmoothed
        # again (the run restarts the weights; without this reset a second ``solve``
        # would average its first proposal with 1 and differ from the first run).
        self.updates, self.traces = 0, {}
        self.units(term_names)  # a group naming an unknown term fails here, not mid-run
        return super().initial_weights(term_names, kinds)

    def units(self, term_names: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """The weight units, ``{group or term: members}``, in term order (a group at its
        first member's place).

        Raises:
            StrategyError: A group names a term not in ``term_names``, or a group's name
                is the name of a term outside it.
        """
        group_of = {t: g for g, members in self.groups.items() for t in members}
        for group, members in self.groups.items():
            unknown = [t for t in members if t not in term_names]
            if unknown:
                raise StrategyError(f"NTK group {group!r} names unknown term(s) {unknown}; "
                                    f"the terms are {list(term_names)}")
            if group in term_names and group not in members:
                raise StrategyError(f"NTK group {group!r} has the name of term {group!r}, "
                                    "which is not one of its members: rename the group")
        units: dict[str, tuple[str, ...]] = {}
        for term in term_names:
            group = group_of.get(term)
            if group is None:
                units[term] = (term,)
            elif group not in units:
                units[group] = tuple(self.groups[group])
        return units

    def kernel_points(self, ctx: ReweightContext) -> Mapping[str, torch.Tensor]:
        if self.kernel_sampler is None:
            return ctx.points
        return ctx.extras["sample"](self.kernel_sampler)

    def update(self, ctx: ReweightContext) -> dict[str, float] | None:
        units = self.units(ctx.term_names)
        if not _losses_finite(ctx):
            return None  # the trainer stops (or rolls back) the step; keep the last weights
        traces = {unit: _pooled(members, ctx.ntk_diagonals, self.trace)
                  for unit, members in units.items()}
        bad = [unit for unit, tr in traces.items() if not math.isfinite(tr)]
        if bad:
            unit = bad[0]
            what = "term" if units[unit] == (unit,) else "group"
            return _skip_update(type(self).__name__, ctx,
                                f"the NTK trace of {what} {unit} is {traces[unit]}")
        total = sum(traces.values())
        top = total if self.numerator == "sum" else total / len(traces)
        new = {}
        for unit, tr in traces.items():
            members = units[unit]
            if not tr > 0.0:
                what = f"term {unit}" if members == (unit,) else f"group {unit} {list(members)}"
                warnings.warn(
                    f"NTK trace of {what} is {tr}: its residual does not depend on the "
                    "parameters at these points; its weight is left unchanged",
                    RuntimeWarning,
                    stacklevel=2,
                )
                new.update({term: ctx.weights[term] for term in members})
                continue
            proposal = (top + self.eps) / (tr + self.eps)
            for term in members:
                new[term] = (self.smoothing * ctx.weights[term] + (1 - self.smoothing) * proposal
                             if self.updates and self.smoothing else proposal)
        self.traces, self.weights = traces, dict(new)
        self.updates += 1
        return new

    def history_extras(self) -> dict:
        return {"traces": dict(self.traces)}

    def traces_at(self, problem, points: Mapping[str, object]) -> dict[str, float]:
        """Traces at given points with the problem's current networks (this ``trace``)."""
        return traces_at(problem, points, trace=self.trace, chunk_size=self.chunk_size,
                         method=self.ntk_method)

    def state_dict(self) -> dict:
        return {"weights": dict(self.weights), "traces": dict(self.traces),
                "updates": self.updates}

    def load_state_dict(self, state: Mapping) -> None:
        self.weights = dict(state["weights"])
        self.traces = dict(state.get("traces", {}))
        self.updates = int(state.get("updates", 0))


def traces_at(
    problem,
    points: Mapping[str, object],
    trace: str = "sum",
    chunk_size: int | str | None = "auto",
    method: str = "auto",
) -> dict[str, float]:
    """NTK traces ``Tr K_kk`` of the given terms at the given points.

    Args:
        problem: A problem from :func:`symbolic_pinn.discretize`.
        points: ``{term: (N, n_indvars) array}``.
        trace: ``"sum"`` or ``"mean"`` (per point).
        chunk_size: Points per vectorised chunk (``vmap`` path; see
            :func:`~symbolic_pinn.adaptive.kernel.ntk_diagonal`).
        method: ``"auto"``, ``"exact-vmap"`` or ``"taylor"`` (see
            :class:`NeuralTangentKernelAdaptiveLoss`).

    Returns:
        ``{term: trace}`` as floats, with the problem's current networks.

    Examples:
        The traces at the grid points, then one NTK reweight step (at step 0, before the
        optimizer moves the networks) on the same points: the strategy's traces are these,
        and each weighted trace ``λ_k Tr K_kk`` is the total ``Σ_j Tr K_jj``:

        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)}, [x], [u(x)])
        >>> ntk = NeuralTangentKernelAdaptiveLoss(reweight_every=1)
        >>> pinn = PhysicsInformedNN(MLP(1, 1, [8]), GridTraining(0.25), adaptive_loss=ntk)
        >>> problem = discretize(s, pinn)
        >>> grid = {"pde_0": [[0.25], [0.5], [0.75]], "bc_0": [[0.0]], "bc_1": [[1.0]]}
        >>> traces = traces_at(problem, grid)
        >>> list(traces), all(isinstance(v, float) and v > 0 for v in traces.values())
        (['pde_0', 'bc_0', 'bc_1'], True)
        >>> means = traces_at(problem, grid, trace="mean")  # per point: Tr K_kk / N_k
        >>> math.isclose(means["pde_0"], traces["pde_0"] / 3, rel_tol=1e-6)
        True
        >>> _ = problem.solve(1, progress=False)  # no seed: it trains the networks as they are
        >>> all(math.isclose(ntk.traces[t], traces[t], rel_tol=1e-5) for t in grid)
        True
        >>> total = sum(traces.values())
        >>> all(math.isclose(ntk.weights[t] * traces[t], total, rel_tol=1e-5) for t in grid)
        True
    """
    if trace not in _TRACES:
        raise StrategyError(f"trace must be one of {_TRACES}, got {trace!r}")
    diags = terms_ntk_diagonals(problem, points, method=method, chunk_size=chunk_size)
    return {term: _reduce(term, diag, trace) for term, diag in diags.items()}


def _reduce(term: str, diag: torch.Tensor, trace: str, check: bool = True) -> float:
    value = float(diag.sum() if trace == "sum" else diag.mean())
    if check and not math.isfinite(value):
        raise StrategyError(
            f"NTK trace of term {term} is {value}: its residual or its gradient is not finite"
        )
    return value


def _pooled(members: tuple[str, ...], diagonals: Mapping[str, torch.Tensor],
            trace: str) -> float:
    """The trace over the union of the members' points (one member: its own trace)."""
    if len(members) == 1:
        return _reduce(members[0], diagonals[members[0]], trace, check=False)
    sums = [_reduce(term, diagonals[term], "sum", check=False) for term in members]
    if trace == "sum":
        return sum(sums)
    return sum(sums) / sum(diagonals[term].numel() for term in members)


def _checked_groups(groups) -> dict[str, tuple[str, ...]]:
    if groups is None:
        return {}
    if not isinstance(groups, Mapping):
        raise StrategyError(f"groups must be a mapping {{group: [term, ...]}}, got {groups!r}")
    out: dict[str, tuple[str, ...]] = {}
    seen: dict[str, str] = {}
    for group, members in groups.items():
        if isinstance(members, str) or not isinstance(members, Sequence) or not members:
            raise StrategyError(f"NTK group {group!r}: give its members as a non-empty list "
                                f"of term names, got {members!r}")
        for term in members:
            if term in seen:
                where = (f"twice in NTK group {group!r}" if seen[term] == str(group) else
                         f"in NTK groups {seen[term]!r} and {group!r}")
                raise StrategyError(f"term {term!r} is {where}; a term can be in one group only")
            seen[term] = str(group)
        out[str(group)] = tuple(str(t) for t in members)
    return out


def _kernel_sampler(kernel_points, kernel_size: int) -> TrainingStrategy | None:
    if isinstance(kernel_points, TrainingStrategy):
        return kernel_points
    if kernel_points == "batch":
        return None
    if kernel_points in ("stochastic", "quasirandom") and not integer_at_least(kernel_size, 1):
        raise StrategyError(f"kernel_size must be a positive integer (points per term for "
                            f"kernel_points={kernel_points!r}), got {kernel_size!r}")
    if kernel_points == "stochastic":
        return StochasticTraining(kernel_size, kernel_size)
    if kernel_points == "quasirandom":
        return QuasiRandomTraining(kernel_size, kernel_size)
    raise StrategyError(
        "kernel_points must be 'batch', 'stochastic', 'quasirandom' or a training "
        f"strategy object, got {kernel_points!r}"
    )
