"""Adaptive weights stay finite and positive in degenerate cases.

The cases: a term whose residual does not depend on the trained parameters θ (a
condition on a parameter-free, closed-form network: a zero NTK trace and a zero
gradient), a term whose loss is exactly zero, a term with a single point (a point
condition), and all terms degenerate at once. Every strategy in
:mod:`symbolic_pinn.adaptive` is run end to end on such a problem, and the
weight formulas are also fed all-zero quantities directly.

Degenerate inputs to the analysis, too: a ``Subs`` that SymPy's cache hands back with
another problem's bound variable, and a condition's fixed value a rounding error away from
a face of its interval (``0.1 + 0.2`` on ``[0, 0.3]``).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import sympy as sp
import torch

from symbolic_pinn import (
    MLP,
    InteriorConditionWarning,
    PDESystem,
    PhysicsInformedNN,
    ProblemError,
    discretize,
    symbolic_discretize,
)
from symbolic_pinn.adaptive import (
    CausalAdaptiveLoss,
    GradientScaleAdaptiveLoss,
    GradNormAdaptiveLoss,
    MiniMaxAdaptiveLoss,
    NeuralTangentKernelAdaptiveLoss,
    ReLoBRaLoAdaptiveLoss,
    ReweightContext,
    RunSetup,
    SelfAdaptiveLoss,
    SoftAdaptAdaptiveLoss,
)
from symbolic_pinn.analysis import FACE_TOLERANCE
from symbolic_pinn.training import GridTraining

torch.set_num_threads(1)
# the documented warnings are asserted where they matter; the others are expected noise
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

x, t = sp.symbols("x t")
u, v = sp.Function("u"), sp.Function("v")


class ClosedForm(torch.nn.Module):
    """``v(x, t) = x t``: no parameters, so no residual of ``v`` depends on θ."""

    def forward(self, inputs):
        return inputs[:, :1] * inputs[:, 1:2]


# pde_0 couples u and v; bc_0 an ordinary face; bc_1 a single point; bc_2 a θ-free
# condition with an exactly zero residual (v(0, t) = 0); bc_3 a θ-free condition with
# a non-zero residual (v(1, t) = t, not 2).
SYSTEM = PDESystem(
    [u(x, t).diff(t) - u(x, t).diff(x, 2) - v(x, t)],
    [u(0, t), sp.Eq(u(0.5, 0.5), 1), v(0, t), sp.Eq(v(1, t), 2)],
    {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t), v(x, t)],
)
THETA_FREE = ("bc_2", "bc_3")

STRATEGIES = {
    "NTK": (lambda: NeuralTangentKernelAdaptiveLoss(1), "NTK trace of term {}"),
    "NTK-mean": (lambda: NeuralTangentKernelAdaptiveLoss(1, trace="mean", smoothing=0.5),
                 "NTK trace of term {}"),
    "GradientScale": (lambda: GradientScaleAdaptiveLoss(1), "gradient of term {} is zero"),
    "GradientScale-mean": (lambda: GradientScaleAdaptiveLoss(1, statistic="mean",
                                                             lambda_in_denominator=True),
                           "gradient of term {} is zero"),
    "GradNorm": (lambda: GradNormAdaptiveLoss(1, 0.5), "gradient of term {} is zero"),
    "MiniMax": (lambda: MiniMaxAdaptiveLoss(1), None),
    "SoftAdapt": (lambda: SoftAdaptAdaptiveLoss(1), None),
    "SoftAdapt-relative": (lambda: SoftAdaptAdaptiveLoss(1, slope="relative",
                                                         loss_weighted=True), None),
    "ReLoBRaLo": (lambda: ReLoBRaLoAdaptiveLoss(1), None),
    "SelfAdaptive": (lambda: SelfAdaptiveLoss(), None),
    "Causal": (lambda: CausalAdaptiveLoss(t, chunks=4), None),
}


def finite_positive(values) -> bool:
    return all(math.isfinite(float(w)) and float(w) > 0 for w in values)


@pytest.mark.parametrize("key", list(STRATEGIES))
def test_weights_stay_finite_and_positive_end_to_end(key):
    make, warning = STRATEGIES[key]
    loss = make()
    prob = discretize(SYSTEM, PhysicsInformedNN([MLP(2, 1, [8]), ClosedForm()],
                                                GridTraining(0.25), adaptive_loss=loss))
    assert prob.strategy.sample(prob.ir, None).points["bc_1"].shape == (1, 2)  # one point
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = prob.solve(4, lr=1e-2, seed=0, dtype=torch.float64, progress=False)
    assert len(result.history) == 4
    for row in result.history:
        assert set(row["weights"]) == set(prob.term_names)
        assert finite_positive(row["weights"].values()), row["weights"]
        assert math.isfinite(row["loss"])
    messages = [str(w.message) for w in caught]
    if warning is not None:  # documented: the θ-free terms are named, weights kept
        for term in THETA_FREE:
            assert any(warning.format(term) in m for m in messages), messages
            assert all(row["weights"][term] == 1.0 for row in result.history)
    # point weights, where the strategy has them, including the single-point term
    if isinstance(loss, SelfAdaptiveLoss):
        for term in prob.term_names:
            pw = loss.point_weights_of(term)
            assert finite_positive(pw.tolist()) and pw.numel() >= 1
        assert loss.point_weights_of("bc_1").shape == (1,)
    if isinstance(loss, CausalAdaptiveLoss):
        points = prob.strategy.sample(prob.ir, None).points
        residuals = {term: prob.residuals[term](points[term]).detach()[:, None]
                     for term in prob.term_names}
        for term, pw in loss.point_weights(residuals, 4).items():
            assert finite_positive(pw.reshape(-1).tolist())


# -- the weight formulas fed all-zero quantities ---------------------------------------

TERMS = ("pde_0", "bc_0", "bc_1")
KINDS = {"pde_0": "pde", "bc_0": "bc", "bc_1": "bc"}
PARAM = torch.zeros(3, dtype=torch.float64)


def context(step: int, weights, *, losses=None, gradients=None, diagonals=None,
            points=None) -> ReweightContext:
    points = points or {term: torch.zeros(4, 2, dtype=torch.float64) for term in TERMS}
    return ReweightContext(
        step=step, term_names=TERMS, kinds=KINDS,
        losses=losses or {term: 0.0 for term in TERMS},
        residuals={}, points=points, nets=(), params={}, weights=dict(weights),
        parameters=(PARAM,), parameter_names=("0.w",),
        gradients=gradients, ntk_diagonals=diagonals, ntk_points=points,
    )


def drive(loss, steps: int, **quantities) -> list[dict]:
    """Run ``loss`` through ``steps`` updates the way the trainer does."""
    weights = loss.initial_weights(TERMS, KINDS)
    loss.weights = dict(weights)
    points = {term: torch.zeros(4 if term != "bc_1" else 1, 2, dtype=torch.float64)
              for term in TERMS}
    loss.prepare(RunSetup(term_names=TERMS, kinds=KINDS, points=points, resamples=False,
                          optimizer="adam", indvar_names=("x", "t"),
                          bounds=((0.0, 1.0), (0.0, 1.0)), current_points=lambda: points))
    seen = []
    for step in range(steps):
        per_step = {k: (q(step) if callable(q) else q) for k, q in quantities.items()}
        new = loss.update(context(step, weights, points=points, **per_step)) or {}
        weights.update({k: float(w) for k, w in new.items()})
        loss.weights = dict(weights)
        seen.append(dict(weights))
    return seen


ZERO_GRADS = {term: (torch.zeros(3, dtype=torch.float64),) for term in TERMS}


def test_ntk_all_traces_zero_keeps_the_weights_and_warns():
    diagonals = {term: torch.zeros(4 if term != "bc_1" else 1, dtype=torch.float64)
                 for term in TERMS}
    for trace in ("sum", "mean"):
        with pytest.warns(RuntimeWarning, match="NTK trace of term bc_1 is 0.0"):
            seen = drive(NeuralTangentKernelAdaptiveLoss(1, trace=trace), 3,
                         diagonals=diagonals)
        assert all(w == {term: 1.0 for term in TERMS} for w in seen)


def test_ntk_single_point_term_with_a_tiny_trace():
    diagonals = {"pde_0": torch.full((4,), 1.0, dtype=torch.float64),
                 "bc_0": torch.full((4,), 1e-300, dtype=torch.float64),
                 "bc_1": torch.tensor([5e-324], dtype=torch.float64)}  # one point, subnormal
    for trace in ("sum", "mean"):
        seen = drive(NeuralTangentKernelAdaptiveLoss(1, trace=trace), 2, diagonals=diagonals)
        assert all(finite_positive(w.values()) for w in seen), seen


def test_gradnorm_all_gradients_zero_keeps_the_weights_and_warns():
    with pytest.warns(RuntimeWarning, match="GradNormAdaptiveLoss: the gradient of term pde_0"):
        seen = drive(GradNormAdaptiveLoss(1, 0.0), 3, gradients=ZERO_GRADS)
    assert all(w == {term: 1.0 for term in TERMS} for w in seen)


def test_gradient_scale_zero_equation_gradient_keeps_the_weights_and_warns():
    with pytest.warns(RuntimeWarning, match="gradient of the equation terms"):
        seen = drive(GradientScaleAdaptiveLoss(1), 3, gradients=ZERO_GRADS)
    assert all(w == {term: 1.0 for term in TERMS} for w in seen)


def test_gradient_scale_tiny_condition_gradient_gives_a_finite_weight():
    grads = {"pde_0": (torch.ones(3, dtype=torch.float64),),
             "bc_0": (torch.full((3,), 1e-300, dtype=torch.float64),),
             "bc_1": (torch.zeros(3, dtype=torch.float64),)}
    with pytest.warns(RuntimeWarning, match="gradient of term bc_1 is zero"):
        seen = drive(GradientScaleAdaptiveLoss(1, 0.0), 2, gradients=grads)
    assert all(finite_positive(w.values()) for w in seen), seen
    assert seen[-1]["bc_1"] == 1.0


@pytest.mark.parametrize("make", [
    lambda: SoftAdaptAdaptiveLoss(1),
    lambda: SoftAdaptAdaptiveLoss(1, slope="relative"),
    lambda: SoftAdaptAdaptiveLoss(1, slope="normalized"),
    lambda: SoftAdaptAdaptiveLoss(1, slope="relative", loss_weighted=True),
    lambda: ReLoBRaLoAdaptiveLoss(1),
    lambda: ReLoBRaLoAdaptiveLoss(1, alpha=0.5, rho=0.5),
    lambda: MiniMaxAdaptiveLoss(1),
], ids=["softadapt", "softadapt-relative", "softadapt-normalized", "softadapt-weighted",
        "relobralo", "relobralo-lookback", "minimax"])
def test_loss_statistics_with_zero_losses_and_a_jump_from_zero(make):
    # all losses exactly zero (an exact solution), then one jumps from 0 to 1e6
    def losses(step):
        if step < 3:
            return {term: 0.0 for term in TERMS}
        return {"pde_0": 1e6 if step == 3 else 1.0, "bc_0": 0.0, "bc_1": 1e-300}
    seen = drive(make(), 6, losses=losses)
    assert all(finite_positive(w.values()) for w in seen), seen


def test_self_adaptive_and_causal_point_weights_on_a_single_point():
    sa = SelfAdaptiveLoss()
    drive(sa, 1)
    for term in TERMS:
        assert finite_positive(sa.point_weights_of(term).tolist())
    assert sa.point_weights_of("bc_1").shape == (1,)
    causal = CausalAdaptiveLoss("t", chunks=4, terms=["pde_0", "bc_1"])
    drive(causal, 1)
    residuals = {"pde_0": torch.zeros(4, 1, dtype=torch.float64),
                 "bc_1": torch.full((1, 1), 1e150, dtype=torch.float64)}
    for term, pw in causal.point_weights(residuals, 0).items():
        values = pw.reshape(-1).tolist()
        assert finite_positive(values), (term, values)


# -- degenerate inputs to the analysis ----------------------------------------------------
class Sine(torch.nn.Module):
    """``u(s) = sin(2 s)`` in float64, whatever the variable is called."""

    def __init__(self):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))  # the dtype

    def forward(self, inputs):
        return torch.sin(2 * inputs) + self.anchor


def neumann(name: str, bound: str | None = None):
    """u'' = -1 on [0, 1], u(0) = 0, u'(1) = 0 in the variable ``name``; the Neumann
    condition through ``.subs`` (SymPy builds the Subs), or written with its own bound
    variable ``bound``."""
    var = sp.Symbol(name)
    if bound is None:
        neumann_bc = sp.Eq(u(var).diff(var).subs(var, 1), 0)
    else:
        s = sp.Symbol(bound)
        neumann_bc = sp.Eq(sp.Subs(u(s).diff(s), s, 1), 0)
    return PDESystem([sp.Eq(u(var).diff(var, 2), -1)], [sp.Eq(u(0), 0), neumann_bc],
                     {var: (0, 1)}, [var], [u(var)])


@pytest.mark.parametrize("derivatives", ["autograd", "taylor"])
@pytest.mark.parametrize("order", [("s", "x"), ("x", "s")])
def test_a_subs_from_sympys_cache_is_lowered_by_its_own_variables(order, derivatives):
    """SymPy treats a Subs' variables as dummies: after ``u(s).diff(s).subs(s, 1)``, the
    ``lhs - rhs`` of the same condition in x is the cached Subs in s. Both builds lower
    it to u' at 1 (the residual of sin(2 s) is 2 cos 2), in either order."""
    sp.core.cache.clear_cache()
    pts = torch.rand(5, 1, dtype=torch.float64)
    for name in order:
        system = neumann(name)
        if derivatives == "taylor":
            net = MLP(1, 1, [1], activation="sin").double()
            with torch.no_grad():
                for layer, w in ((net[0], 2.0), (net[2], 1.0)):
                    layer.weight.fill_(w)
                    layer.bias.zero_()
        else:
            net = Sine()
        prob = discretize(system, PhysicsInformedNN(net, GridTraining(0.25),
                                                    derivatives=derivatives))
        bc = prob.ir.terms[2]
        assert bc.fixed == ((0, 1.0),) and [n.name for n in bc.derivatives] == [f"u_{name}"]
        assert prob.symbolic.residuals["bc_1"] == sp.Symbol(f"u_{name}")
        torch.testing.assert_close(prob.residuals["bc_1"](pts).detach(),
                                   torch.full((5,), 2 * math.cos(2.0), dtype=torch.float64))


def test_a_subs_with_its_own_bound_variable():
    """``Subs(u(s).diff(s), s, 1)`` in a problem on x: u' at x = 1 (s is bound, not free)."""
    sp.core.cache.clear_cache()  # or this Subs may come back as an earlier one in x
    ir = symbolic_discretize(neumann("x", bound="s"),
                             PhysicsInformedNN(MLP(1, 1, [4]), GridTraining(0.25))).ir
    assert ir.terms[2].fixed == ((0, 1.0),)
    assert [n.name for n in ir.terms[2].derivatives] == ["u_x"]
    s = sp.Symbol("s")  # outside a Subs, s is unknown
    with pytest.raises(ProblemError, match=r"with respect to s, which is not an independent"):
        symbolic_discretize(PDESystem([u(x).diff(x) + u(s).diff(s)], [u(0)], {x: (0, 1)}, [x],
                                      [u(x)]),
                            PhysicsInformedNN(MLP(1, 1, [4]), GridTraining(0.25)))


L = 0.1 + 0.2  # 0.30000000000000004: a length computed in a script


def face_problem(hi: float, face: float) -> PDESystem:
    return PDESystem([sp.Eq(u(x, t).diff(t), u(x, t).diff(x, 2))],
                     [sp.Eq(u(face, t), 0), sp.Eq(u(x, 0), 1)],
                     {x: (0, hi), t: (0, 1)}, [x, t], [u(x, t)])


def face_ir(hi: float, face: float):
    pinn = PhysicsInformedNN(MLP(2, 1, [4]), GridTraining(0.25))
    return symbolic_discretize(face_problem(hi, face), pinn).ir


@pytest.mark.parametrize("hi, face", [(L, 0.3), (0.3, L), (0.3, 0.3 * (1 + 5e-13)),
                                      (0.3, 0.3 * (1 - 5e-13)), (1.0, L - 0.3)],
                         ids=["domain-rounded", "face-rounded", "just-above", "just-below",
                              "lower-face"])
def test_a_face_within_tolerance_is_the_face(hi, face):
    """Within FACE_TOLERANCE (1e-12) of the interval's length, a fixed value is the face:
    no error, no interior warning, and the condition's points carry the face's value."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ir = face_ir(hi, face)
    want = 0.0 if face < hi / 2 else hi
    assert ir.terms[1].fixed == ((0, want),) and ir.terms[1].free == (1,)
    points = GridTraining(0.25).sample(ir, np.random.default_rng(0)).points["bc_0"]
    assert len(points) and all(float(p[0]) == want for p in points)


@pytest.mark.parametrize("face, problem", [(0.3 * (1 + 2e-12), "outside its domain"),
                                           (-0.3 * 2e-12, "outside its domain"),
                                           (0.3 * (1 - 2e-12), "strictly inside")])
def test_a_face_beyond_tolerance_still_errors_or_warns(face, problem):
    assert FACE_TOLERANCE == 1e-12
    if problem == "strictly inside":
        with pytest.warns(InteriorConditionWarning, match=problem):
            ir = face_ir(0.3, face)
        assert ir.terms[1].fixed == ((0, face),)
    else:
        with pytest.raises(ProblemError, match=problem):
            face_ir(0.3, face)
