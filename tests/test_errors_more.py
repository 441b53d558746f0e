"""More of the bad-input catalogue (see tests/test_errors.py), and no half-built state.

Covers: conditions strictly inside the domain (a warning naming the term; point and
face conditions are not flagged), strategies missing the quantities they need
(refused at discretize, before any code is generated or trained), NaN in the data of
parameter estimation, duplicate names, non-finite coefficients, network shapes, and
that a failing ``discretize`` or a bad ``solve`` argument leaves the user's
networks, system and the interpreter's module tables as they were.
"""

from __future__ import annotations

import copy
import linecache
import math
import re
import sys
import warnings

import numpy as np
import pytest
import sympy as sp
import torch

from symbolic_pinn import (
    MLP,
    CodegenError,
    InteriorConditionWarning,
    NonFiniteError,
    PDESystem,
    PhysicsInformedNN,
    PointsOutsideDomainWarning,
    ProblemError,
    StrategyError,
    SymbolicPinnError,
    TrainingError,
    discretize,
    symbolic_discretize,
)
from symbolic_pinn.adaptive import (
    AdaptiveLoss,
    Compose,
    Need,
    NeuralTangentKernelAdaptiveLoss,
    SelfAdaptiveLoss,
)
from symbolic_pinn.training import (
    GridTraining,
    PointSet,
    QuadratureTraining,
    QuasiRandomTraining,
    StochasticTraining,
)

torch.set_num_threads(1)

x, t, a, z = sp.symbols("x t a z")
u, v = sp.Function("u"), sp.Function("v")
DOMAINS = {x: (0, 1), t: (0, 1)}
HEAT = sp.Eq(u(x, t).diff(t), u(x, t).diff(x, 2))


def system(bcs=(), eq=HEAT, params=None) -> PDESystem:
    return PDESystem([eq], list(bcs), DOMAINS, [x, t], [u(x, t)], params)


def pinn(net=None, strategy=None, **kw) -> PhysicsInformedNN:
    return PhysicsInformedNN(MLP(2, 1, [8]) if net is None else net,
                             strategy or GridTraining(0.25), **kw)


def check(exc_info, cls, *fragments) -> str:
    err = exc_info.value
    assert isinstance(err, cls) and isinstance(err, SymbolicPinnError), type(err)
    text = str(err)
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"
    return text


# -- conditions strictly inside the domain ---------------------------------------------

@pytest.mark.parametrize("bc, shown", [
    (u(0.5, t), "fixes x = 0.5"),
    (sp.Eq(u(x, 0.5), sp.sin(x)), "fixes t = 0.5"),
    (sp.Subs(u(x, t).diff(x), x, 0.25), "fixes x = 0.25"),
    (u(0.5, t) - u(1, t), "fixes x = 0.5"),  # an interface-like coupling: still flagged
])
def test_condition_inside_the_domain_warns_with_term_and_text(bc, shown):
    with pytest.warns(InteriorConditionWarning) as record:
        symbolic_discretize(system([u(0, t), bc]), pinn())
    [warning] = [w for w in record if issubclass(w.category, InteriorConditionWarning)]
    text = str(warning.message)
    assert "term bc_1 (" in text and str(bc) in text and shown in text
    assert "strictly inside" in text and "bc_0" not in text


@pytest.mark.parametrize("bc", [
    u(0, t), u(1, t), u(x, 0), sp.Eq(u(x, 1), x),  # faces
    u(0, t) - u(1, t),  # periodic
    sp.Eq(u(0.5, 0.5), 1), sp.Eq(u(0.25, 0.75), u(0.5, 0.5)),  # point conditions
    sp.Subs(u(x, t).diff(t), t, 0),  # a derivative on a face
])
def test_face_periodic_and_point_conditions_do_not_warn(bc):
    with warnings.catch_warnings():
        warnings.simplefilter("error", InteriorConditionWarning)
        symbolic_discretize(system([bc]), pinn())


def test_equation_with_a_site_inside_the_domain_does_not_warn():
    eq = sp.Eq(u(x, t).diff(t), u(x, t).diff(x, 2) - u(0.5, t))  # a non-local term
    with warnings.catch_warnings():
        warnings.simplefilter("error", InteriorConditionWarning)
        symbolic_discretize(system([u(0, t)], eq=eq), pinn())


def test_interior_condition_is_a_warning_so_training_runs():
    with pytest.warns(InteriorConditionWarning):
        prob = discretize(system([u(0.5, t)]), pinn())
    assert len(prob.solve(1, seed=0, progress=False).history) == 1


# -- a strategy missing the quantities it needs (refused at discretize) ----------------

def custom(needs, hook):
    class Custom(AdaptiveLoss):
        def update(self, ctx):
            return {}
    Custom.needs, Custom.hook = frozenset({Need.LOSSES, *needs}), hook
    return Custom()


@pytest.mark.parametrize("needs, hook, shown", [
    ({Need.RESIDUALS}, "step", "needs residuals"),
    ({Need.GRADIENTS}, "step", "needs gradients"),
    ({Need.RESIDUALS, Need.GRADIENTS}, None, "needs gradients, residuals"),
])
def test_strategy_whose_hook_place_lacks_what_it_needs(needs, hook, shown):
    for stage in (symbolic_discretize, discretize):
        with pytest.raises(StrategyError) as info:
            stage(system([u(0, t)]), pinn(adaptive_loss=custom(needs, hook)))
        check(info, StrategyError, "Custom", shown, "'losses'", repr(hook))


@pytest.mark.parametrize("needs", [{"gradients"}, "gradients", Need.GRADIENTS, 3])
def test_needs_that_are_not_need_members(needs):
    class Custom(AdaptiveLoss):
        def update(self, ctx):
            return {}
    Custom.needs = needs
    with pytest.raises(StrategyError) as info:
        discretize(system([u(0, t)]), pinn(adaptive_loss=Custom()))
    check(info, StrategyError, "Custom.needs must be a set of Need members")


@pytest.mark.parametrize("returned, shown", [
    (["bc_0", 2.0], "Custom.update returned a list; it must return a mapping"),
    ({"bc_0": "big"}, "set the weight of term bc_0 to 'big', which is not a number"),
    ({"bc_9": 1.0}, "unknown term 'bc_9'"),
])
def test_update_returning_something_else_than_weights(returned, shown):
    class Custom(AdaptiveLoss):
        def update(self, ctx):
            return returned
    prob = discretize(system([u(0, t)]), pinn(adaptive_loss=Custom()))
    with pytest.raises(StrategyError) as info:
        prob.solve(2, seed=0, progress=False)
    check(info, StrategyError, shown)


@pytest.mark.parametrize("make, shown", [
    (lambda r: {"pde_0": torch.ones(r["pde_0"].shape[0])},
     "shape (16,) for term pde_0, whose residuals have shape (16, 1)"),
    (lambda r: {"bc_7": torch.ones_like(r["bc_0"])}, "point weights for unknown term 'bc_7'"),
])
def test_point_weights_of_the_wrong_shape_or_term(make, shown):
    """A (N,) weight times (N, 1) residuals would broadcast to N x N: refused."""
    class Custom(AdaptiveLoss):
        needs = frozenset({Need.LOSSES, Need.POINT_WEIGHTS})

        def update(self, ctx):
            return {}

        def point_weights(self, residuals, step):
            return make(residuals)
    prob = discretize(system([u(0, t)]), pinn(adaptive_loss=Custom(),
                                              strategy=StochasticTraining(16, 4)))
    with pytest.raises(StrategyError) as info:
        prob.solve(1, seed=0, progress=False)
    check(info, StrategyError, "Custom gave", shown)


def test_step_hook_with_ntk_diagonals_is_fine():
    prob = discretize(system([u(0, t)]), pinn(adaptive_loss=custom({Need.NTK_DIAG}, "step")))
    prob.solve(1, seed=0, progress=False)


@pytest.mark.parametrize("strategy, loss", [
    (StochasticTraining(16, 4), SelfAdaptiveLoss()),
    (QuasiRandomTraining(16, 4), SelfAdaptiveLoss(terms=["bc_0"])),
    (StochasticTraining(16, 4), Compose(SelfAdaptiveLoss(), NeuralTangentKernelAdaptiveLoss(1))),
], ids=["stochastic", "quasi-random-resampling", "composed"])
def test_self_adaptive_with_a_resampling_strategy(strategy, loss):
    with pytest.raises(StrategyError) as info:
        discretize(system([u(0, t)]), pinn(strategy=strategy, adaptive_loss=loss))
    check(info, StrategyError, "SelfAdaptiveLoss", type(strategy).__name__, "fixed")


# -- NaN in the data of parameter estimation -----------------------------------------

DATA_X = torch.tensor([[0.2, 0.3], [0.6, 0.1], [0.4, 0.9]])


def data_loss(inputs, targets):
    def loss(funcs, params):
        return ((funcs["u"](inputs) - targets) ** 2).mean()
    return loss


@pytest.mark.parametrize("inputs, targets", [
    (DATA_X, torch.tensor([1.0, float("nan"), 0.0])),
    (DATA_X, torch.tensor([1.0, float("inf"), 0.0])),
    (torch.tensor([[0.2, float("nan")]]), torch.tensor([1.0])),
], ids=["nan-target", "inf-target", "nan-input"])
def test_nan_in_parameter_estimation_data(inputs, targets):
    s = system([u(0, t)], eq=sp.Eq(u(x, t).diff(t), a * u(x, t).diff(x, 2)), params={a: 1.0})
    prob = discretize(s, pinn(param_estim=True, additional_loss=data_loss(inputs, targets)))
    before = [p.detach().clone() for p in prob.nets[0].parameters()]
    with pytest.raises(NonFiniteError) as info:
        prob.solve(3, seed=0, progress=False)
    text = check(info, NonFiniteError, "step 0", "term additional", "additional_loss",
                 "NaN or infinity")
    assert (info.value.step, info.value.term, info.value.quantity) == (0, "additional", "loss")
    assert "lower the learning rate" not in text
    # nothing was applied: the networks are those of the seeded start, a is its guess
    torch.manual_seed(0)
    fresh = copy.deepcopy(prob.nets[0])
    fresh.reset_parameters()
    assert all(torch.equal(p, q) for p, q in zip(prob.nets[0].parameters(), fresh.parameters()))
    assert float(prob.params["a"].detach()) == 1.0
    assert len(before) == len(list(fresh.parameters()))


@pytest.mark.parametrize("loss, shown", [
    (lambda f, p: (f["u"](torch.rand(5, 3)) ** 2).mean(),
     r"u takes a tensor of shape \(N, 2\) \(columns x, t\), got shape \(5, 3\)"),
    (lambda f, p: (f["u"](torch.rand(5)) ** 2).mean(), r"got shape \(5,\)"),
    (lambda f, p: (f["u"](torch.rand(5, 2, dtype=torch.float64)) ** 2).mean(),
     r"u got inputs of torch.float64 on cpu, but the networks are torch.float32 on cpu"),
    (lambda f, p: f["u"](torch.rand(5, 2)), r"one element .*got a tensor of shape \(5,\)"),
    (lambda f, p: 0.0, "one element .*got 0.0"),
], ids=["columns", "one-dimensional", "dtype", "not-a-scalar", "a-float"])
def test_additional_loss_inputs_and_result_are_checked(loss, shown):
    """A wrong shape of the data's coordinates would be read column by column without
    complaint; the others failed inside torch or the library without naming the data."""
    prob = discretize(system([u(0, t)]), pinn(additional_loss=loss))
    with pytest.raises(TrainingError, match=shown) as info:
        prob.solve(2, seed=0, progress=False)
    assert "additional_loss" in str(info.value)


def test_additional_loss_gets_one_value_per_row():
    """Each function returns shape (N,), the documented shape (a target of shape (N, 1)
    would broadcast), and equals the network's output column."""
    seen = {}

    def loss(funcs, params):
        pts = torch.tensor([[0.2, 0.3], [0.6, 0.1], [0.4, 0.9]])
        seen["value"], seen["net"] = funcs["u"](pts), prob.nets[0](pts)
        return seen["value"].sum() * 0

    prob = discretize(system([u(0, t)]), pinn(additional_loss=loss))
    prob.solve(1, seed=0, progress=False)
    assert seen["value"].shape == (3,)
    assert torch.equal(seen["value"], seen["net"][:, 0])


def test_nonfinite_loss_message_names_the_term_and_its_sympy_text():
    bc = sp.Eq(u(1, t), sp.log(t - 2 + 2 * t))  # log of a negative number at t < 2/3
    prob = discretize(system([u(0, t), bc]), pinn())
    with pytest.raises(NonFiniteError) as info:
        prob.solve(2, seed=0, progress=False)
    check(info, NonFiniteError, "step 0", "term bc_1", str(bc))


def test_a_variable_fed_to_a_slot_with_a_narrower_domain():
    wide = {x: (0, 1), t: (0, 10)}
    with pytest.raises(ProblemError) as info:
        discretize(PDESystem([HEAT], [u(t, 0)], wide, [x, t], [u(x, t)]), pinn())
    check(info, ProblemError, "term bc_0", "u(t, 0) feeds t in [0.0, 10.0] to the slot of x",
          "[0.0, 1.0]")
    # the same feed within the slot's domain is fine (a condition on the diagonal, say)
    discretize(PDESystem([HEAT], [u(t, 0)], DOMAINS, [x, t], [u(x, t)]), pinn())


def test_a_system_whose_terms_involve_no_dependent_variable():
    with pytest.raises(ProblemError) as info:  # terms on a parameter alone
        discretize(PDESystem([a - 1], [a * x], DOMAINS, [x, t], [u(x, t)], {a: 0.5}),
                   pinn(param_estim=True))
    check(info, ProblemError, "no term involves a dependent variable (u(x, t))")


def test_networks_with_nothing_to_train():
    net = MLP(2, 1, [8]).requires_grad_(False)
    prob = discretize(system([u(0, t)]), pinn(net))
    with pytest.raises(TrainingError) as info:
        prob.solve(2, progress=False)
    check(info, TrainingError, "nothing to train")


def test_a_grid_with_no_interior_point_names_the_term_before_training():
    """dx = 1 on [0, 1]² with conditions at x = 0 and x = 1: the equation keeps no point."""
    prob = discretize(system([u(0, t), u(1, t)]), pinn(strategy=GridTraining(1.0)))
    with pytest.raises(StrategyError) as info:
        prob.solve(2, seed=0, progress=False)
    check(info, StrategyError, "GridTraining gave no points for term pde_0", str(HEAT),
          "smaller dx")


class _NoPointsFor(GridTraining):
    def sample(self, ir, rng):
        pointset = super().sample(ir, rng)
        del pointset.points["bc_0"]
        return pointset


class _FreeColumnsOnly(GridTraining):
    """Forgets ``TrainingStrategy.place``: each term gets only its free columns."""

    def __init__(self, flat=False, resamples=False, bad_from=0):
        super().__init__(0.25)
        self.flat, self.resamples, self.bad_from, self.calls = flat, resamples, bad_from, 0

    def sample(self, ir, rng):
        pointset = super().sample(ir, rng)
        self.calls += 1
        if self.calls > self.bad_from:
            for term in ir.terms:
                free = pointset.points[term.name][:, list(term.free)]
                pointset.points[term.name] = free[:, 0] if self.flat else free
        return pointset


@pytest.mark.parametrize("strategy, term, found", [
    (_FreeColumnsOnly(), "bc_0", "(5, 1)"),  # pde_0 has both columns free: bc_0 is short
    (_FreeColumnsOnly(flat=True), "pde_0", "(20,)"),
    (_FreeColumnsOnly(resamples=True, bad_from=2), "bc_0", "(5, 1)"),  # at the 3rd step
])
def test_points_of_the_wrong_shape_name_strategy_term_and_shapes(strategy, term, found):
    prob = discretize(system([u(0, t)]), pinn(strategy=strategy))
    with pytest.raises(StrategyError) as info:
        prob.solve(4, seed=0, progress=False)
    check(info, StrategyError, f"_FreeColumnsOnly gave points of shape {found} for term {term}",
          "expected (N, 2)", "(x, t)", "TrainingStrategy.place")
    assert strategy.calls == 1 + strategy.bad_from


class _NaNPoints(GridTraining):
    def sample(self, ir, rng):
        pointset = super().sample(ir, rng)
        pointset.points["bc_0"] = pointset.points["bc_0"].copy()
        pointset.points["bc_0"][1, 1] = np.nan
        return pointset


class _RaggedPoints(GridTraining):
    def sample(self, ir, rng):
        pointset = super().sample(ir, rng)
        rows = pointset.points["bc_0"].tolist()
        pointset.points["bc_0"] = [rows[0][:1], *rows[1:]]  # one row lost a column
        return pointset


class _ExtraPoints(GridTraining):
    def sample(self, ir, rng):
        pointset = super().sample(ir, rng)
        pointset.points["bc_9"] = pointset.points["bc_0"]  # a term the system does not have
        return pointset


class _ExtraWeights(GridTraining):
    def sample(self, ir, rng):
        return PointSet(super().sample(ir, rng).points, {"pde_1": np.ones((1, 1))})


class _MisspeltPoints(GridTraining):
    def sample(self, ir, rng):
        points = dict(super().sample(ir, rng).points)
        points["bc0"] = points.pop("bc_0")
        return PointSet(points)


class _DictPoints(GridTraining):
    def sample(self, ir, rng):
        return dict(super().sample(ir, rng).points)  # a plain dict, not a PointSet


@pytest.mark.parametrize("strategy, shown", [
    (_DictPoints, ("_DictPoints.sample must return a symbolic_pinn.training.PointSet",
                   "got dict")),
    (_NoPointsFor, ("_NoPointsFor gave no points for term bc_0", "sample() left the term out")),
    (_NaNPoints, ("_NaNPoints gave NaN or infinite points for term bc_0",)),
    (_RaggedPoints, ("_RaggedPoints gave points of shape ('ragged',) for term bc_0",
                     "expected (N, 2)")),
    (_MisspeltPoints, ("_MisspeltPoints gave no points for term bc_0",
                       "(it gave points for 'bc0', not a term; the terms are pde_0, bc_0)")),
    (_ExtraPoints, ("_ExtraPoints gave points for unknown term(s) 'bc_9'",
                    "the terms are pde_0, bc_0")),
    (_ExtraWeights, ("_ExtraWeights gave weights for unknown term(s) 'pde_1'",
                     "the terms are pde_0, bc_0")),
])
def test_bad_points_from_a_strategy_name_it_and_the_term(strategy, shown):
    prob = discretize(system([u(0, t)]), pinn(strategy=strategy(0.25)))
    with pytest.raises(StrategyError) as info:
        prob.solve(2, seed=0, progress=False)
    check(info, StrategyError, *shown)


class _Stretched(StochasticTraining):
    """Uniform draws over [0, 2] in x: half of them outside the domain (resampled)."""

    def sample(self, ir, rng):
        pointset = super().sample(ir, rng)
        for term in ir.terms:
            if 0 in term.free:
                pointset.points[term.name][:, 0] *= 2
        return pointset


class _TensorOutside(GridTraining):
    """Tensors, not arrays; bc_1's t column (u(0, t) samples t) runs to 1.5."""

    def sample(self, ir, rng):
        points = {k: torch.as_tensor(p) for k, p in super().sample(ir, rng).points.items()}
        points["bc_1"][:, 1] *= 1.5
        return PointSet(points)


def test_points_outside_the_domain_warn_once_per_term():
    """A strategy's points outside the domain in a column the term samples are trained on,
    with a PointsOutsideDomainWarning naming the strategy, the term, the column, the range
    found and the domain: once per term, although the strategy draws again every step."""
    prob = discretize(system([u(x, 0), u(0, t)]), pinn(strategy=_Stretched(50, 20)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prob.solve(4, seed=0, progress=False)
    said = [str(w.message) for w in caught if w.category is PointsOutsideDomainWarning]
    assert len(said) == 2, said  # pde_0 and bc_0 sample x; bc_1 fixes it
    assert said[0].startswith("_Stretched gave points outside the domain for term pde_0 (")
    assert re.search(r": x from 0\.\d+ to 1\.\d+, but x is in \[0, 1\]; they are trained on",
                     said[0]), said[0]
    assert "for term bc_0 (" in said[1]
    prob = discretize(system([u(x, 0), u(0, t)]), pinn(strategy=_TensorOutside(0.25)))
    with pytest.warns(PointsOutsideDomainWarning, match=r"term bc_1 .*: t from 0 to 1\.5"):
        prob.solve(1, seed=0, progress=False)


@pytest.mark.parametrize("strategy", [
    GridTraining(0.1), StochasticTraining(64, 16), QuadratureTraining(4),
    *(QuasiRandomTraining(64, 16, sampler=s) for s in ("sobol", "halton", "lhs")),
], ids=lambda s: f"{type(s).__name__}-{getattr(s, 'sampler', '')}")
def test_the_built_in_strategies_stay_inside_the_domain(strategy):
    domains = {x: (-1.3, 0.7), t: (2.0, 2.1)}  # not the unit square; one thin interval
    s = PDESystem([HEAT], [u(x, 2.0), u(-1.3, t), u(0.7, t)], domains, [x, t], [u(x, t)])
    prob = discretize(s, pinn(strategy=strategy))
    with warnings.catch_warnings():
        warnings.simplefilter("error", PointsOutsideDomainWarning)
        prob.solve(3, seed=0, progress=False)


# -- names for variables and terms -----------------------------------------------------

def test_input_scaling_by_variable_name_equals_by_symbol():
    by_name = discretize(system([u(0, t)]), pinn(input_scaling={"x": (0.5, 0.3), t: (0, 2)}))
    by_symbol = discretize(system([u(0, t)]), pinn(input_scaling={x: (0.5, 0.3), t: (0, 2)}))
    assert by_name.source == by_symbol.source
    assert "0.3" in by_name.source
    with pytest.raises(ProblemError) as info:
        discretize(system([u(0, t)]), pinn(input_scaling={"y": (0, 1)}))
    check(info, ProblemError, "input_scaling given for y, not an independent variable",
          "they are x, t")
    with pytest.raises(ProblemError) as info:
        discretize(system([u(0, t)]), pinn(input_scaling={"x": (0, 1), x: (0, 2)}))
    check(info, ProblemError, "input_scaling given twice for x")


def test_unknown_residual_term_is_a_key_error_listing_the_terms():
    prob = discretize(system([u(0, t)]), pinn())
    with pytest.raises(KeyError) as info:
        prob.residuals["nope"]
    assert "'nope'" in str(info.value) and "['pde_0', 'bc_0']" in str(info.value)
    assert isinstance(prob.residuals, dict) and list(prob.residuals) == ["pde_0", "bc_0"]
    assert prob.residuals.get("nope") is None and "nope" not in prob.residuals
    assert prob.residuals["bc_0"](np.zeros((3, 2))).shape == (3,)


def test_predict_with_shapes_that_do_not_broadcast_names_each_variable():
    result = discretize(system([u(0, t)]), pinn()).solve(1, seed=0, progress=False)
    with pytest.raises(ValueError) as info:
        result.predict({x: np.zeros(3), "t": np.zeros(4)})
    assert "x (3,)" in str(info.value) and "t (4,)" in str(info.value)


# -- duplicate names -------------------------------------------------------------------

def test_networks_given_twice_for_one_dependent_variable():
    with pytest.raises(ProblemError) as info:
        discretize(system([u(0, t)]), pinn({u: MLP(2, 1, [8]), "u": MLP(2, 1, [8])}))
    check(info, ProblemError, "networks given twice for u")


@pytest.mark.parametrize("depvars, shown", [
    ([u(x, t), v(x, t), u(t, x)], "dependent variable u is declared twice"),
    ([u(x, t), v(x, t), v(x, t)], "dependent variable v is declared twice"),
])
def test_a_dependent_variable_declared_twice_among_several(depvars, shown):
    with pytest.raises(ProblemError) as info:
        PDESystem([HEAT], [], DOMAINS, [x, t], depvars)
    check(info, ProblemError, shown)


def test_a_symbol_that_is_both_parameter_and_independent_variable_in_use():
    with pytest.raises(ProblemError) as info:
        PDESystem([HEAT], [], DOMAINS, [x, t], [u(x, t)], params={t: 0.5})
    check(info, ProblemError, "parameter t", "independent variable")


# -- non-finite coefficients and unsupported functions -------------------------------

@pytest.mark.parametrize("eq, shown", [
    (u(x, t).diff(t) - sp.Float("inf") * u(x, t), "oo"),
    (u(x, t).diff(t) - float("-inf") * u(x, t).diff(x), "oo"),
    (u(x, t).diff(t) - u(x, t) / sp.S(0), "zoo"),
    (u(x, t).diff(t) - sp.nan * x, "nan"),
])
def test_non_finite_coefficient_in_an_equation(eq, shown):
    with pytest.raises(CodegenError) as info:
        symbolic_discretize(system([u(0, t)], eq=eq), pinn())
    check(info, CodegenError, "pde_0", shown, "not finite")


@pytest.mark.parametrize("func, name", [
    (lambda: sp.zeta(t + 2), "zeta"),
    (lambda: sp.polygamma(1, t + 1), "polygamma"),
    (lambda: sp.fresnels(t), "fresnels"),
    (lambda: sp.elliptic_k(t / 2), "elliptic_k"),
])
def test_more_unsupported_functions_name_the_function(func, name):
    bc = sp.Eq(u(1, t), func())
    with pytest.raises(CodegenError) as info:
        symbolic_discretize(system([u(0, t), bc]), pinn())
    check(info, CodegenError, "bc_1", str(bc), name, "no PyTorch translation")


# -- networks, checked before training ------------------------------------------------

class Vector(torch.nn.Module):
    """Returns (N,) instead of (N, 1)."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(2, 1)

    def forward(self, inputs):
        return self.lin(inputs)[:, 0]


class Broken(torch.nn.Module):
    def forward(self, inputs):
        raise RuntimeError("kaboom")


@pytest.mark.parametrize("chain, shown", [
    (Vector(), "returned (2,)"),
    (Broken(), "kaboom"),
    (torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.Unflatten(1, (1, 1))),
     "returned (2, 1, 1)"),
])
def test_more_networks_with_the_wrong_shape(chain, shown):
    with pytest.raises(TrainingError) as info:
        discretize(system([u(0, t)]), pinn(chain))
    check(info, TrainingError, "network 0", "for u", shown)


def test_shared_network_with_too_few_outputs():
    s = PDESystem([HEAT, v(x, t).diff(x)], [], DOMAINS, [x, t], [u(x, t), v(x, t)])
    with pytest.raises(TrainingError) as info:
        discretize(s, pinn(MLP(2, 1, [8])))
    check(info, TrainingError, "network 0", "for u, v", "(N, 2)")


def test_a_list_holding_something_that_is_not_a_module():
    s = PDESystem([HEAT, v(x, t).diff(x)], [], DOMAINS, [x, t], [u(x, t), v(x, t)])
    with pytest.raises(ProblemError) as info:
        discretize(s, pinn([MLP(2, 1, [8]), lambda z: z]))
    check(info, ProblemError, "one torch.nn.Module per dependent variable")


# -- no half-built state ---------------------------------------------------------------

def module_tables():
    generated = {k for k in sys.modules if k.startswith("symbolic_pinn.generated")}
    lines = {k for k in linecache.cache if "symbolic_pinn generated" in k}
    return generated, lines


def net_state(net):
    return {k: v.clone() for k, v in net.state_dict().items()}, net.training


def same_state(net, state) -> bool:
    tensors, training = state
    now = net.state_dict()
    return (net.training == training and set(now) == set(tensors)
            and all(now[k].dtype == tensors[k].dtype and torch.equal(now[k], tensors[k])
                    for k in tensors))


def bn_net():
    return torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.BatchNorm1d(4),
                               torch.nn.Tanh(), torch.nn.Linear(4, 1))


@pytest.mark.parametrize("make, cls", [
    (lambda net: (system([u(0, t), sp.Eq(u(1, t), sp.zeta(t + 2))]), pinn(net)), CodegenError),
    (lambda net: (system([u(0, t), sp.Eq(u(1, t), a)]), pinn(net)), ProblemError),
    (lambda net: (system([u(0, t)]), pinn(net, adaptive_loss=custom({Need.GRADIENTS}, "step"))),
     StrategyError),
    (lambda net: (system([u(0, t)]), pinn([net, net])), ProblemError),
    (lambda net: (system([u(0, t)]), pinn(torch.nn.Sequential(net, torch.nn.Linear(1, 2)))),
     TrainingError),
], ids=["codegen", "problem", "strategy", "layout", "network-shape"])
def test_failing_discretize_leaves_nothing_behind(make, cls):
    net = bn_net()
    state = net_state(net)
    s, p = make(net)
    terms, text = s.terms, repr(s)
    tables = module_tables()
    with pytest.raises(cls):
        discretize(s, p)
    assert module_tables() == tables
    assert same_state(net, state)  # not even the BatchNorm statistics moved
    assert s.terms == terms and repr(s) == text


def test_successful_discretize_does_not_touch_the_networks():
    net = bn_net().eval()  # running statistics: allowed, and the probe must not move them
    state = net_state(net)
    discretize(system([u(0, t)]), pinn(net))
    assert same_state(net, state)
    net.train()  # batch statistics: refused, and still nothing moved
    state = net_state(net)
    with pytest.raises(TrainingError, match="BatchNorm1d"):
        discretize(system([u(0, t)]), pinn(net))
    assert same_state(net, state)


@pytest.fixture()
def prob_and_state():
    s = system([u(0, t)], eq=sp.Eq(u(x, t).diff(t), a * u(x, t).diff(x, 2)), params={a: 0.7})
    prob = discretize(s, pinn(param_estim=True))
    return prob, net_state(prob.nets[0]), {k: v.detach().clone() for k, v in prob.params.items()}


@pytest.mark.parametrize("options, exc", [
    ({"optimizer": "rmsprop"}, "optimizer must be 'adam', 'lbfgs' or 'sgd', got 'rmsprop'"),
    ({"lr": -1.0}, "lr"), ({"lr": math.nan}, "lr"),
    ({"lr": "fast"}, "lr"), ({"on_nonfinite": "ignore"}, "on_nonfinite"),
    ({"max_rollbacks": 0}, "max_rollbacks"), ({"lr_schedule": 0.5}, "lr_schedule"),
    ({"iterations": -1}, "iterations"), ({"iterations": 1.5}, "iterations"),
    ({"dtype": torch.float16}, "dtype"), ({"checkpoint_every": 2}, "checkpoint_every"),
    # torch's own refusals of optimizer_options, made before anything is touched
    ({"optimizer_options": {"lr": 0.1}}, r"optimizer_options=\{'lr': 0.1\}.*Adam.*'lr'"),
    ({"optimizer_options": {"momentum": 0.9}}, r"optimizer_options=.*Adam.*'momentum'"),
    ({"optimizer_options": [("betas", 1)]}, r"optimizer_options=\[\('betas', 1\)\]"),
    ({"optimizer_options": 5}, "optimizer_options must be a mapping"),
    ({"optimizer_options": {"betas": (2.0, 0.9)}}, r"optimizer_options=.*beta"),
    ({"optimizer": "sgd", "optimizer_options": {"betas": (0.9, 0.99)}},
     r"optimizer_options=.*torch.optim.SGD"),
    ({"optimizer": "lbfgs", "optimizer_options": {"line_search_fn": "armijo"}},
     r"optimizer_options=.*LBFGS.*strong_wolfe"),  # refused by torch only at the step
], ids=lambda v: v.split()[0] if isinstance(v, str) else None)
def test_bad_solve_argument_leaves_networks_and_parameters(prob_and_state, options, exc):
    prob, state, params = prob_and_state
    kwargs = {"iterations": 2, "seed": 0, "dtype": torch.float64, "progress": False, **options}
    with pytest.raises(ValueError, match=exc):
        prob.solve(**kwargs)
    assert same_state(prob.nets[0], state)  # not moved to float64, not re-initialised
    assert all(prob.params[k].dtype == v.dtype and torch.equal(prob.params[k].detach(), v)
               for k, v in params.items())


@pytest.mark.parametrize("schedule, error, shown", [
    (lambda s: float("nan"), TrainingError, "learning rate for step 0 is nan"),
    (lambda s: -0.5, TrainingError, "learning rate for step 0 is -0.0005"),
    (lambda s: 1 / s, ZeroDivisionError, "division by zero"),  # the schedule's own error
])
def test_a_schedule_bad_from_the_start_leaves_networks_and_parameters(prob_and_state, schedule,
                                                                     error, shown):
    """The first factor is checked with the other arguments: the same TrainingError as at
    a later step, but before the networks are cast to float64 or re-initialised."""
    prob, state, params = prob_and_state
    with pytest.raises(error, match=shown):
        prob.solve(2, seed=0, dtype=torch.float64, progress=False, lr_schedule=schedule)
    assert same_state(prob.nets[0], state)
    assert all(prob.params[k].dtype == v.dtype and torch.equal(prob.params[k].detach(), v)
               for k, v in params.items())


@pytest.mark.parametrize("logger, cls, shown", [
    (123, TypeError, "logger must be None, a log directory"),
    ("file", ValueError, "is a file, not a log directory"),
])
def test_bad_logger_leaves_networks_and_parameters(prob_and_state, tmp_path, logger, cls,
                                                   shown):
    prob, state, params = prob_and_state
    if logger == "file":
        logger = tmp_path / "events.txt"
        logger.write_text("not a folder")
    with pytest.raises(cls, match=shown):
        prob.solve(2, seed=0, dtype=torch.float64, progress=False, logger=logger)
    assert same_state(prob.nets[0], state)  # not moved to float64, not re-initialised
    assert all(prob.params[k].dtype == v.dtype and torch.equal(prob.params[k].detach(), v)
               for k, v in params.items())


def test_checking_a_log_directory_creates_nothing(tmp_path):
    pytest.importorskip("tensorboard")  # without it, a log directory is an ImportError
    from symbolic_pinn.tensorboard_logging import check_logger

    check_logger(tmp_path / "tb")
    assert not (tmp_path / "tb").exists()
    prob = discretize(system([u(0, t)]), pinn())
    with pytest.raises(ValueError, match="optimizer_options"):
        prob.solve(2, progress=False, logger=tmp_path / "tb", optimizer_options={"lr": 1.0})
    assert not (tmp_path / "tb").exists()


@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda", 1)])
def test_cuda_without_a_cuda_device_names_the_device(prob_and_state, monkeypatch, device):
    """On a machine without CUDA (simulated, so the test means the same everywhere),
    ``device="cuda"`` is refused before the networks are moved, cast or re-seeded."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    prob, state, params = prob_and_state
    with pytest.raises(ValueError) as info:
        prob.solve(2, seed=0, device=device, dtype=torch.float64, progress=False)
    assert str(info.value) == (f"device {device!r}: this torch build has no usable CUDA "
                               "device")
    assert same_state(prob.nets[0], state)
    assert all(prob.params[k].dtype == v.dtype and torch.equal(prob.params[k].detach(), v)
               for k, v in params.items())


def test_wrong_resume_file_leaves_networks_and_parameters(tmp_path, prob_and_state):
    prob, _, _ = prob_and_state
    path = tmp_path / "ckpt.pt"
    prob.solve(2, seed=1, progress=False, checkpoint_path=path)
    state = net_state(prob.nets[0])
    params = {k: v.detach().clone() for k, v in prob.params.items()}
    other = discretize(system([u(1, t)]), pinn())
    for kwargs, shown in [
        ({"optimizer": "lbfgs"}, "optimizer='adam'"),
        ({"lr_schedule": lambda s: 1.0}, "lr_schedule"),
    ]:
        with pytest.raises(ValueError, match=shown):
            prob.solve(4, resume=path, progress=False, **kwargs)
        assert same_state(prob.nets[0], state)
        assert all(torch.equal(prob.params[k].detach(), v) for k, v in params.items())
    other_state = net_state(other.nets[0])
    with pytest.raises(ValueError, match="different problem"):
        other.solve(4, resume=path, dtype=torch.float64, progress=False)
    assert same_state(other.nets[0], other_state)
    empty = tmp_path / "weights_only.pt"
    result = prob.solve(0, progress=False)
    result.training = None
    result.save(empty)
    with pytest.raises(ValueError, match="no training state"):
        prob.solve(4, resume=empty, dtype=torch.float64, progress=False)
    assert same_state(prob.nets[0], state)
    # and the file itself resumes fine
    resumed = prob.solve(4, resume=path, progress=False)
    assert resumed.history[-1]["step"] == 3
    assert np.isfinite(resumed.history[-1]["loss"])


# -- nothing is written or loaded implicitly -------------------------------------------

def test_discretize_and_solve_write_nothing_to_disk(tmp_path, monkeypatch):
    """There is no on-disk cache of generated modules: only ``prob.write`` and
    checkpoints (when asked for) touch the disk."""
    import builtins
    import io
    import os
    import pathlib

    monkeypatch.chdir(tmp_path)
    writes = []
    real_open, real_os_open = builtins.open, os.open

    def spy_open(file, mode="r", *args, **kwargs):
        if any(flag in str(mode) for flag in "wax+"):
            writes.append(str(file))
        return real_open(file, mode, *args, **kwargs)

    def spy_os_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            writes.append(str(path))
        return real_os_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(io, "open", spy_open)
    monkeypatch.setattr(os, "open", spy_os_open)
    monkeypatch.setattr(pathlib.Path, "write_text", lambda *a, **k: writes.append(a[0]))
    s = system([u(0, t), sp.Eq(u(1, t), sp.sin(t))])
    prob = discretize(s, pinn(adaptive_loss=NeuralTangentKernelAdaptiveLoss(1)))
    prob.solve(2, seed=0, progress=False)
    assert writes == [] and list(tmp_path.iterdir()) == []
    prob.write(tmp_path / "mod.py")  # explicit
    assert writes == [tmp_path / "mod.py"]


@pytest.mark.parametrize("name", ["/etc/passwd", "__import__('os').system('true')",
                                  "../symbolic_pinn/cli.py"])
def test_cli_never_loads_a_problem_from_a_file_or_text(name, capsys):
    """The CLI only names built-in gallery problems: no file is read, no text evaluated."""
    from symbolic_pinn.cli import main

    with pytest.raises(SystemExit) as info:
        main(["show-code", name])
    assert info.value.code == 2
    assert "unknown example" in capsys.readouterr().err


# -- arguments of the wrong kind: clear errors, not Python's -------------------------------

@pytest.mark.parametrize("make, cls, shown", [
    (lambda: PDESystem([HEAT], None, DOMAINS, [x, t], [u(x, t)]), ProblemError,
     "bcs must be a list, got None"),
    (lambda: PDESystem([HEAT], [], [(x, 0, 1), (t, 0, 1)], [x, t], [u(x, t)]), ProblemError,
     "domains must be a mapping"),
    (lambda: PDESystem([HEAT], [], DOMAINS, "xt", [u(x, t)]), ProblemError,
     "indvars must be a list, got 'xt'"),
    (lambda: PDESystem([HEAT], [], DOMAINS, [x, t], [u(x, t)], params=[a]), ProblemError,
     "params must be a mapping"),
    (lambda: discretize(system([u(0, t)]), PhysicsInformedNN(5, GridTraining(0.25))),
     ProblemError, "chain must be a torch.nn.Module"),
    (lambda: discretize(system([u(0, t)], params={a: 1.0}), pinn(param_estim="a")),
     ProblemError, "param_estim must be True, False or a list"),
    (lambda: discretize(system([u(0, t)]), pinn(input_scaling={x: 1.0})), ProblemError,
     "input_scaling of x: expected (mean, std)"),
    (lambda: discretize(system([u(0, t)]), pinn(input_scaling={x: (0.5, 0.3), z: (0, 1)})),
     ProblemError, "input_scaling given for z, not an independent variable"),
    (lambda: NeuralTangentKernelAdaptiveLoss(chunk_size=0), StrategyError, "chunk_size"),
    (lambda: NeuralTangentKernelAdaptiveLoss(smoothing="a"), StrategyError,
     "smoothing must be a number"),
    (lambda: SelfAdaptiveLoss(terms="pde_0"), StrategyError, "write ['pde_0']"),
])
def test_arguments_of_the_wrong_kind(make, cls, shown):
    with pytest.raises(cls) as info:
        make()
    check(info, cls, shown)


def test_one_equation_condition_and_variable_may_be_given_alone():
    alone = PDESystem(HEAT, u(0, t), DOMAINS, [x, t], u(x, t))
    listed = PDESystem([HEAT], [u(0, t)], DOMAINS, [x, t], [u(x, t)])
    assert [t_.residual for t_ in alone.terms] == [t_.residual for t_ in listed.terms]
    one = discretize(system([u(0, t)], params={a: 1.0}, eq=sp.Eq(HEAT.lhs, a * HEAT.rhs)),
                     pinn(param_estim=a))
    assert one.params["a"].requires_grad


@pytest.mark.parametrize("options, shown", [
    ({"iterations": float("nan")}, "iterations must be a non-negative integer"),
    ({"iterations": None}, "iterations must be a non-negative integer"),
    ({"log_every": 0}, "log_every must be a positive integer"),
    ({"seed": -1}, r"seed must be an integer in \[0, 2\*\*64\) or None, got -1"),
    ({"seed": 2**64}, r"seed must be an integer in \[0, 2\*\*64\)"),
    ({"callback": 3}, "callback must be callable"),
])
def test_solve_arguments_are_checked_before_training(options, shown):
    prob = discretize(system([u(0, t)]), pinn())
    with pytest.raises(ValueError, match=shown):
        prob.solve(**({"iterations": 2, "progress": False} | options))


def test_one_network_object_for_two_dependent_variables():
    net = MLP(2, 1, [8])
    two = PDESystem([u(x, t).diff(t) - v(x, t), v(x, t).diff(t) + u(x, t)], [u(0, t)], DOMAINS,
                    [x, t], [u(x, t), v(x, t)])
    for chain in ([net, net], {u: net, v: net}):
        with pytest.raises(ProblemError) as info:
            discretize(two, PhysicsInformedNN(chain, GridTraining(0.25)))
        check(info, ProblemError, "the same network object is given for u and v")


def test_a_layer_two_networks_share_is_trained_once_per_step():
    """One SGD step moves a shared layer by lr times its gradient (summed over both uses),
    not twice that (it was handed to the optimizer once per network)."""
    shared = torch.nn.Linear(8, 8)
    nets = [MLP(2, 1, [8, 8]), MLP(2, 1, [8, 8])]
    for net in nets:
        net[2] = shared
    two = PDESystem([u(x, t).diff(t) - v(x, t), v(x, t).diff(t) + u(x, t)], [u(0, t)], DOMAINS,
                    [x, t], [u(x, t), v(x, t)])
    prob = discretize(two, PhysicsInformedNN(nets, GridTraining(0.25), derivatives="autograd"))
    before = shared.weight.detach().clone()
    grad = {}
    prob.solve(1, lr=0.0, optimizer="sgd", progress=False,
               callback=lambda row: grad.update(g=shared.weight.grad.detach().clone()))
    torch.testing.assert_close(shared.weight.detach(), before)  # lr 0: no move
    prob.solve(1, lr=0.1, optimizer="sgd", progress=False)
    torch.testing.assert_close(shared.weight.detach(), before - 0.1 * grad["g"])


def test_batch_statistics_are_refused_and_running_statistics_train():
    """A BatchNorm layer that normalises with the batch's statistics (training mode, or no
    running statistics) couples the points: refused at discretize and at solve, naming the
    network, its variables and the layer. In evaluation mode it is a fixed affine map:
    a point's residual is the same alone or in a batch, and NTK training runs."""
    def bn_net(**kw):
        return torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Sequential(
            torch.nn.Linear(8, 8), torch.nn.BatchNorm1d(8, **kw)), torch.nn.Linear(8, 1))

    two = PDESystem([u(x, t).diff(t) - v(x, t), v(x, t).diff(t) + u(x, t)], [u(0, t)], DOMAINS,
                    [x, t], [u(x, t), v(x, t)])
    with pytest.raises(TrainingError) as info:
        discretize(two, PhysicsInformedNN([MLP(2, 1, [8]), bn_net()], GridTraining(0.25)))
    check(info, TrainingError, "network 1 (for v): layer '2.1' (BatchNorm1d) normalises with "
                               "the batch's statistics")
    with pytest.raises(TrainingError, match="layer '2.1'"):  # no running statistics
        discretize(system(), pinn(bn_net(track_running_stats=False).eval()))
    net = bn_net().eval()
    with torch.no_grad():
        net[2][1].running_mean.uniform_(-0.5, 0.5)
        net[2][1].running_var.uniform_(0.5, 2.0)
    prob = discretize(system([sp.Eq(u(x, 0), sp.sin(sp.pi * x))]), pinn(
        net, adaptive_loss=NeuralTangentKernelAdaptiveLoss(reweight_every=2)))
    points = torch.rand(6, 2)
    together = prob.residuals["pde_0"](points)
    alone = torch.cat([prob.residuals["pde_0"](points[i:i + 1]) for i in range(6)])
    torch.testing.assert_close(together, alone)
    result = prob.solve(3, progress=False)
    assert all(math.isfinite(w) for w in result.weights.values())
    net.train()  # switched after discretize: solve refuses before touching anything
    state = copy.deepcopy(net.state_dict())
    with pytest.raises(TrainingError, match="network 0 \\(for u\\): layer '2.1'"):
        prob.solve(3, progress=False, seed=1)
    for key, value in net.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_a_network_on_another_device_is_probed_there():
    """discretize checks a network's output shape on the device its tensors are on (the
    probe was a CPU tensor, so a network moved to a GPU before discretize was refused).
    The meta device stands in for a GPU here; tests/test_cuda.py trains on one."""
    net = MLP(2, 1, [8]).to("meta")
    prob = discretize(system([u(0, t)]), pinn(net))
    assert prob.device.type == "meta" and net[0].weight.device.type == "meta"
    wrong = torch.nn.Sequential(torch.nn.Linear(2, 3)).to("meta")
    with pytest.raises(TrainingError, match=r"must map \(N, 2\) inputs to \(N, 1\)"):
        discretize(system([u(0, t)]), pinn(wrong))
