"""Gradient-based and min-max weights: learning-rate annealing, grad-norm, min-max ascent.

The update rules are checked on explicit gradients (a hand-built context), then inside
``solve``: the gradients a strategy sees are those of the step's own training loss, two
strategies share one backward pass per term, and L-BFGS counts optimizer steps. The
NeuralPDE 2D Poisson adaptive-loss test closes the file.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import sympy as sp
import torch
from neuralpde_poisson import poisson_system
from neuralpde_poisson import train as neuralpde_train

from symbolic_pinn import MLP, PhysicsInformedNN, StrategyError, discretize
from symbolic_pinn.adaptive import (
    Compose,
    NeuralTangentKernelAdaptiveLoss,
    NonAdaptiveLoss,
    ReweightContext,
)
from symbolic_pinn.adaptive.grad_norm import GradNormAdaptiveLoss, gradient_norm
from symbolic_pinn.adaptive.gradient_scale import GradientScaleAdaptiveLoss
from symbolic_pinn.adaptive.minimax import MiniMaxAdaptiveLoss
from symbolic_pinn.training import GridTraining, StochasticTraining

torch.set_num_threads(1)

x, y = sp.symbols("x y")
u = sp.Function("u")
TERMS = ("pde_0", "bc_0", "bc_1", "bc_2", "bc_3")
BCS = TERMS[1:]


def make_problem(adaptive_loss, strategy=None, hidden=(8, 8)):
    # float64 from the start: a seeded solve re-draws the weights in the nets' dtype
    pinn = PhysicsInformedNN(MLP(2, 1, list(hidden)).double(),
                             strategy or StochasticTraining(16, 6),
                             adaptive_loss=adaptive_loss)
    return discretize(poisson_system(), pinn)


def solve(problem, iterations=3, **kwargs):
    options = {"lr": 1e-2, "seed": 0, "dtype": torch.float64, "progress": False, **kwargs}
    if "resume" in kwargs:  # a resumed run takes nothing of seed
        del options["seed"]
    return problem.solve(iterations, **options)


# -- explicit gradients --------------------------------------------------------------

NAMES = ("0.0.weight", "0.0.bias", "0.2.weight", "0.2.bias", "p.a")
SHAPES = ((3, 2), (3,), (1, 3), (1,), ())
KINDS = {"pde_0": "pde", "pde_1": "pde", "bc_0": "bc", "bc_1": "bc"}


def explicit_context(weights, seed=0, zero=(), scale=None):
    """Two equations and two conditions with random gradients (pde_1 the larger)."""
    gen = torch.Generator().manual_seed(seed)
    scale = scale or {"pde_0": 1.0, "pde_1": 5.0, "bc_0": 0.1, "bc_1": 0.01}
    grads = {
        term: tuple(torch.zeros(s, dtype=torch.float64) if term in zero
                    else scale[term] * torch.randn(s, generator=gen, dtype=torch.float64)
                    for s in SHAPES)
        for term in KINDS
    }
    params = tuple(torch.zeros(s, dtype=torch.float64) for s in SHAPES)
    return ReweightContext(
        step=0, term_names=tuple(KINDS), kinds=KINDS, losses={t: 1.0 for t in KINDS},
        residuals={}, points={}, nets=(), params={}, weights=dict(weights),
        parameters=params, parameter_names=NAMES, gradients=grads,
    )


def selected(grads, parameters):
    keep = [i for i, n in enumerate(NAMES) if parameters == "all" or n.endswith("weight")]
    return [grads[i] for i in keep]


def abs_mean(grads, mean_over):
    if mean_over == "tensors":
        return float(np.mean([g.abs().mean().item() for g in grads]))
    return torch.cat([g.reshape(-1) for g in grads]).abs().mean().item()


def abs_max(grads):
    return torch.cat([g.reshape(-1) for g in grads]).abs().max().item()


@pytest.mark.parametrize("statistic", ["max", "mean"])
@pytest.mark.parametrize("lambda_in_denominator", [False, True])
@pytest.mark.parametrize("parameters", ["all", "weights"])
@pytest.mark.parametrize("mean_over", ["entries", "tensors"])
def test_lra_one_update_without_inertia_balances_the_gradients(
        statistic, lambda_in_denominator, parameters, mean_over):
    lra = GradientScaleAdaptiveLoss(1, 0.0, statistic=statistic,
                                    lambda_in_denominator=lambda_in_denominator,
                                    parameters=parameters, mean_over=mean_over,
                                    pde_loss_weights=7.0, bc_loss_weights=2.0, eps=0.0)
    start = lra.initial_weights(tuple(KINDS), KINDS)
    assert start == {"pde_0": 7.0, "pde_1": 7.0, "bc_0": 2.0, "bc_1": 2.0}
    ctx = explicit_context(start)
    new = lra.update(ctx)
    assert set(new) == {"bc_0", "bc_1"}  # equation weights stay
    grads = {t: selected(ctx.gradients[t], parameters) for t in KINDS}
    stat = abs_max if statistic == "max" else (lambda g: abs_mean(g, mean_over))
    top = max(stat(grads["pde_0"]), stat(grads["pde_1"]))  # NeuralPDE: max over equations
    assert top == stat(grads["pde_1"]) > stat(grads["pde_0"])
    assert lra.pde_statistic == pytest.approx(top, rel=1e-12)
    for term in ("bc_0", "bc_1"):
        m = abs_mean(grads[term], mean_over)
        assert lra.bc_means[term] == pytest.approx(m, rel=1e-12)
        old = 2.0 if lambda_in_denominator else 1.0  # the code differentiates λ_k L_k
        assert new[term] * old * m == pytest.approx(top, rel=1e-12)
        assert type(new[term]) is float and new[term] > 0


def test_lra_parameters_weights_ignores_biases_and_pde_parameters():
    lra = GradientScaleAdaptiveLoss(1, 0.0, parameters="weights", eps=0.0)
    start = lra.initial_weights(tuple(KINDS), KINDS)
    ctx = explicit_context(start)
    first = lra.update(ctx)
    for i in (1, 3, 4):  # bias and PDE-parameter gradients do not matter
        for term in KINDS:
            ctx.gradients[term] = tuple(g * 1e3 if j == i else g
                                        for j, g in enumerate(ctx.gradients[term]))
    assert lra.update(ctx) == first
    assert GradientScaleAdaptiveLoss(1, 0.0, eps=0.0).update(ctx) != first


def test_lra_moving_average_and_fixed_point():
    alpha = 0.9
    for inside in (False, True):
        lra = GradientScaleAdaptiveLoss(1, alpha, lambda_in_denominator=inside, eps=0.0)
        weights = lra.initial_weights(tuple(KINDS), KINDS)
        ctx = explicit_context(weights)
        top = abs_max(ctx.gradients["pde_1"])
        m = abs_mean(ctx.gradients["bc_0"], "entries")
        for _ in range(300):  # the same gradients over and over
            old = weights["bc_0"]
            new = lra.update(explicit_context(weights))
            proposal = top / (m * (old if inside else 1.0))
            assert new["bc_0"] == pytest.approx(alpha * old + (1 - alpha) * proposal, rel=1e-12)
            weights.update(new)
        # Text version: λ* = M/m; the code's version (λ inside): λ* = sqrt(M/m).
        expected = math.sqrt(top / m) if inside else top / m
        assert weights["bc_0"] == pytest.approx(expected, rel=1e-6)
        assert weights["pde_0"] == weights["pde_1"] == 1.0


def test_gradnorm_one_update_without_smoothing_equalises_weighted_norms():
    for numerator in ("sum", "mean"):
        gn = GradNormAdaptiveLoss(1, 0.0, numerator=numerator, eps=0.0)
        ctx = explicit_context(gn.initial_weights(tuple(KINDS), KINDS))
        new = gn.update(ctx)
        assert set(new) == set(KINDS)  # every term, equations included
        norms = {t: torch.cat([g.reshape(-1) for g in ctx.gradients[t]]).norm().item()
                 for t in KINDS}
        assert gn.norms == pytest.approx(norms, rel=1e-12)
        total = sum(norms.values()) / (1 if numerator == "sum" else len(KINDS))
        for term in KINDS:
            weighted = torch.cat([(new[term] * g).reshape(-1)
                                  for g in ctx.gradients[term]]).norm().item()
            assert weighted == pytest.approx(total, rel=1e-12)


def test_gradnorm_moving_average_starts_from_one():
    gn = GradNormAdaptiveLoss(1, 0.9, eps=0.0)
    weights = gn.initial_weights(tuple(KINDS), KINDS)
    ctx = explicit_context(weights)
    new = gn.update(ctx)
    norms = {t: gradient_norm(ctx.gradients[t]) for t in KINDS}
    for term in KINDS:
        assert new[term] == pytest.approx(0.9 + 0.1 * sum(norms.values()) / norms[term],
                                          rel=1e-12)


def test_minimax_ascent_rule():
    sgd = MiniMaxAdaptiveLoss(1, pde_max_optimiser=torch.optim.SGD, pde_max_lr=0.01,
                              bc_max_optimiser=lambda p: torch.optim.SGD(p, lr=0.1))
    weights = sgd.initial_weights(tuple(KINDS), KINDS)
    losses = {"pde_0": 2.0, "pde_1": 0.5, "bc_0": 3.0, "bc_1": 1e-3}
    for _ in range(3):
        ctx = explicit_context(weights)
        ctx.losses = losses
        new = sgd.update(ctx)
        for term, kind in KINDS.items():  # λ_k ← λ_k + lr ∂(Σ λ_j L_j)/∂λ_k = λ_k + lr L_k
            lr = 0.01 if kind == "pde" else 0.1
            assert new[term] == pytest.approx(weights[term] + lr * losses[term], rel=1e-12)
        weights = new
    # NeuralPDE's defaults: Adam(1e-4) for equations, Adam(0.5) for conditions; Adam moves
    # each weight by about its learning rate per step, whatever the loss.
    adam = MiniMaxAdaptiveLoss(1)
    weights = adam.initial_weights(tuple(KINDS), KINDS)
    for step in range(1, 4):
        ctx = explicit_context(weights)
        ctx.losses = losses
        weights = adam.update(ctx)
        for term, kind in KINDS.items():
            lr = 1e-4 if kind == "pde" else 0.5
            loss = losses[term]  # constant gradient: each step is lr L / (L + Adam's eps)
            assert weights[term] == pytest.approx(1 + step * lr * loss / (loss + 1e-8),
                                                  rel=1e-9)
    assert adam.updates == 3


def test_minimax_clamps_weights_at_min_weight():
    """An ascent optimizer with weight decay, SGD(lr=0.5, weight_decay=4): its step is
    λ ← λ - 0.5 (4 λ - L) = 0.5 L - λ, below min_weight = 0.05 for λ = 1, L < 2.1; such a
    weight is set to min_weight exactly, the others follow the rule; the next step starts
    from the clamped weight."""
    mm = MiniMaxAdaptiveLoss(
        1, min_weight=0.05, pde_max_optimiser=torch.optim.SGD, pde_max_lr=0.01,
        bc_max_optimiser=lambda p: torch.optim.SGD(p, lr=0.5, weight_decay=4.0))
    weights = mm.initial_weights(tuple(KINDS), KINDS)
    ctx = explicit_context(weights)
    ctx.losses = {"pde_0": 2.0, "pde_1": 0.5, "bc_0": 0.2, "bc_1": 3.0}
    new = mm.update(ctx)
    assert new["bc_0"] == 0.05  # 0.5 * 0.2 - 1 = -0.9, clamped
    assert new["bc_1"] == pytest.approx(0.5 * 3.0 - 1.0, rel=1e-12)  # 0.5, not clamped
    assert new["pde_0"] == pytest.approx(1.02, rel=1e-12)
    assert new["pde_1"] == pytest.approx(1.005, rel=1e-12)
    assert mm.weights == new
    ctx = explicit_context(new)
    ctx.losses = {"pde_0": 2.0, "pde_1": 0.5, "bc_0": 0.3, "bc_1": 0.2}
    again = mm.update(ctx)
    assert again["bc_0"] == pytest.approx(0.5 * 0.3 - 0.05, rel=1e-12)  # 0.1, from 0.05
    assert again["bc_1"] == 0.05  # 0.1 - 0.5 = -0.4, clamped


def test_zero_gradients_warn_and_keep_the_weight():
    lra = GradientScaleAdaptiveLoss(1, 0.0)
    weights = lra.initial_weights(tuple(KINDS), KINDS)
    with pytest.warns(RuntimeWarning, match="term bc_1"):
        new = lra.update(explicit_context(weights, zero=("bc_1",)))
    assert "bc_1" not in new and new["bc_0"] > 0
    with pytest.warns(RuntimeWarning, match=r"equation terms \['pde_0', 'pde_1'\]"):
        assert lra.update(explicit_context(weights, zero=("pde_0", "pde_1"))) == {}
    gn = GradNormAdaptiveLoss(1, 0.0)
    with pytest.warns(RuntimeWarning, match="term bc_0"):
        new = gn.update(explicit_context(gn.initial_weights(tuple(KINDS), KINDS),
                                         zero=("bc_0",)))
    assert "bc_0" not in new and all(math.isfinite(v) and v > 0 for v in new.values())


def test_non_finite_gradients_skip_the_update():
    """No StrategyError from inside the update: it changes nothing and leaves the NaN to
    the trainer's NonFiniteError (or rollback); it warns, naming the term, only when the
    losses are finite (a NaN loss is certain to stop the step). Regression."""
    for strategy in (GradientScaleAdaptiveLoss(1), GradNormAdaptiveLoss(1)):
        weights = strategy.initial_weights(tuple(KINDS), KINDS)
        strategy.weights = dict(weights)
        state = strategy.state_dict()
        ctx = explicit_context(weights)
        ctx.gradients["bc_1"] = tuple(g * float("nan") for g in ctx.gradients["bc_1"])
        with pytest.warns(RuntimeWarning, match=f"{type(strategy).__name__}: the gradient of "
                          "the loss of term bc_1 is not finite at step 0; no weight changes"):
            assert strategy.update(ctx) is None
        assert strategy.state_dict() == state
        for nan_loss in (ctx, explicit_context(weights)):  # a NaN loss: skipped, silently
            nan_loss.losses["bc_1"] = float("nan")
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                assert strategy.update(nan_loss) is None
            assert strategy.state_dict() == state
        # finite gradients whose statistic overflows are skipped the same way
        huge = explicit_context(weights, scale={"pde_0": 1.0, "pde_1": 5.0, "bc_0": 1e308,
                                                "bc_1": 0.01})
        with pytest.warns(RuntimeWarning, match="term bc_0 is not finite"):
            assert strategy.update(huge) is None
        assert strategy.state_dict() == state


def test_lra_weight_overflow_is_left_to_the_trainer():
    """Finite statistics, a weight that overflows: returned as inf, which the trainer turns
    into its NonFiniteWeightError for the step (it was a StrategyError)."""
    lra = GradientScaleAdaptiveLoss(1, 0.0)
    ctx = explicit_context(lra.initial_weights(tuple(KINDS), KINDS),
                           scale={"pde_0": 1e300, "pde_1": 1e300, "bc_0": 1e-300, "bc_1": 1.0})
    new = lra.update(ctx)
    assert new["bc_0"] == math.inf and math.isfinite(new["bc_1"])


def test_invalid_options_are_rejected():
    bad = [
        lambda: GradientScaleAdaptiveLoss(0),
        lambda: GradientScaleAdaptiveLoss(1, 1.0),
        lambda: GradientScaleAdaptiveLoss(1, statistic="median"),
        lambda: GradientScaleAdaptiveLoss(1, parameters="biases"),
        lambda: GradientScaleAdaptiveLoss(1, mean_over="layers"),
        lambda: GradientScaleAdaptiveLoss(1, lambda_in_denominator="yes"),
        lambda: GradientScaleAdaptiveLoss(1, bc_loss_weights=0),
        lambda: GradientScaleAdaptiveLoss(1, pde_loss_weights=-1),
        lambda: GradNormAdaptiveLoss(1, smoothing=1.0),
        lambda: GradNormAdaptiveLoss(1, numerator="max"),
        lambda: MiniMaxAdaptiveLoss(1, bc_max_lr=-0.5),
        lambda: MiniMaxAdaptiveLoss(1, bc_max_optimiser=lambda p: torch.optim.SGD(p, lr=1),
                                    bc_max_lr=0.1),
        lambda: MiniMaxAdaptiveLoss(1, pde_max_optimiser="adam"),
        lambda: MiniMaxAdaptiveLoss(1, bc_loss_weights=0),
    ]
    for make in bad:
        with pytest.raises(StrategyError):
            make()
    only_pde_params = GradientScaleAdaptiveLoss(1, parameters="weights")
    ctx = explicit_context(only_pde_params.initial_weights(tuple(KINDS), KINDS))
    ctx.parameter_names = tuple(f"p.{name}" for name in NAMES)  # PDE parameters only
    with pytest.raises(StrategyError, match="weight matrices"):
        only_pde_params.update(ctx)


# -- inside solve ------------------------------------------------------------------------


class Spy:
    """Mixin recording what the strategy saw, and checking the gradients it was given
    against autograd on the losses of the same points."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = []

    def update(self, ctx):
        for term in ctx.term_names:  # the trainer's gradients are ∇θ of the step's losses
            r = ctx.residuals[term](ctx.points[term])
            loss = torch.mean(r**2)
            assert float(loss.detach()) == pytest.approx(ctx.losses[term], rel=1e-12)
            expected = torch.autograd.grad(loss, ctx.parameters, materialize_grads=True)
            for got, ref in zip(ctx.gradients[term], expected):
                torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-14)
        self.seen.append({
            "step": ctx.step,
            "gradients": ctx.gradients,
            "copies": {t: tuple(g.clone() for g in ctx.gradients[t]) for t in ctx.term_names},
            "weights_before": dict(ctx.weights),
        })
        return super().update(ctx)


class SpyLRA(Spy, GradientScaleAdaptiveLoss):
    pass


class SpyGradNorm(Spy, GradNormAdaptiveLoss):
    pass


def test_reweighting_gradients_are_those_of_the_training_loss():
    """ctx.gradients are ∇θ L_k on the step's points: Σ_k λ_k ∇θ L_k is the gradient the
    optimizer stepped with (read from .grad after the step)."""
    lra = SpyLRA(1, 0.0, pde_loss_weights=10.0, eps=0.0)
    problem = make_problem(lra)
    applied = []

    def callback(row):
        applied.append([p.grad.clone() for p in problem.nets[0].parameters()])

    result = solve(problem, 4, callback=callback)
    assert [s["step"] for s in lra.seen] == [0, 1, 2, 3]
    for seen, row, grads in zip(lra.seen, result.history, applied):
        for i, g in enumerate(grads):
            combined = sum(row["weights"][t] * seen["copies"][t][i] for t in TERMS)
            torch.testing.assert_close(g, combined, rtol=1e-10, atol=1e-14)
        # and the LRA rule holds on them (inertia 0, λ not in the denominator)
        top = abs_max(seen["copies"]["pde_0"])
        assert row["grad_scale_pde"] == pytest.approx(top, rel=1e-12)
        for term in BCS:
            m = abs_mean(seen["copies"][term], "entries")
            assert row["weights"][term] * m == pytest.approx(top, rel=1e-10)
        assert row["weights"]["pde_0"] == 10.0
    # fresh points every step: the gradients differ from step to step
    assert not torch.equal(lra.seen[0]["copies"]["bc_0"][0], lra.seen[1]["copies"]["bc_0"][0])


def test_gradnorm_in_solve_equalises_weighted_norms():
    gn = SpyGradNorm(2, 0.0, numerator="mean", eps=0.0)
    result = solve(make_problem(gn), 4)
    rows = [row for row in result.history if "grad_norms" in row]
    assert [row["step"] for row in rows] == [0, 2]
    for seen, row in zip(gn.seen, rows):
        norms = {t: gradient_norm(seen["copies"][t]) for t in TERMS}
        assert row["grad_norms"] == pytest.approx(norms, rel=1e-12)
        for term in TERMS:
            assert row["weights"][term] * norms[term] == pytest.approx(
                sum(norms.values()) / len(TERMS), rel=1e-10)
    by_step = {row["step"]: row for row in result.history}
    assert by_step[1]["weights"] == by_step[0]["weights"]


def test_composed_gradient_strategies_share_one_backward_pass_per_term():
    lra, gn = SpyLRA(1, 0.5), SpyGradNorm(2, 0.5)
    both = Compose(lra, gn)
    result = solve(make_problem(both), 4)
    # one backward pass per term and reweight step, not one per strategy
    assert [row["gradient_passes"] for row in result.history] == [5, 10, 15, 20]
    assert [s["step"] for s in lra.seen] == [0, 1, 2, 3]
    assert [s["step"] for s in gn.seen] == [0, 2]
    for s in gn.seen:  # the very same tensors
        assert s["gradients"] is lra.seen[s["step"]]["gradients"]
    for row in result.history:
        comp = row["components"]
        for term in TERMS:
            product = comp["SpyLRA"][term] * comp["SpyGradNorm"][term]
            assert row["weights"][term] == pytest.approx(product, rel=1e-12)
        total = sum(row["weights"][t] * row["losses"][t] for t in TERMS)
        assert row["loss"] == pytest.approx(total, rel=1e-12)
    # A strategy that needs no gradients costs no backward pass.
    plain = solve(make_problem(MiniMaxAdaptiveLoss(1)), 2)
    assert all("gradient_passes" not in row for row in plain.history)


def test_composed_strategies_compute_only_what_the_due_ones_read():
    """Compose(NTK every 3, GradNorm every 2): per-term gradients on GradNorm's steps only
    (0, 2, 4), not on NTK's step 3; NTK diagonals on NTK's steps only."""
    seen = {"ntk": [], "grads": []}

    class Ntk(NeuralTangentKernelAdaptiveLoss):
        def update(self, ctx):
            seen["ntk"].append(ctx.step)
            return super().update(ctx)

    class Gn(GradNormAdaptiveLoss):
        def update(self, ctx):
            seen["grads"].append(ctx.step)
            return super().update(ctx)

    spy = {}

    class Both(Compose):
        def update(self, ctx):
            spy[ctx.step] = (ctx.gradients is not None, ctx.ntk_diagonals is not None)
            return super().update(ctx)

    result = solve(make_problem(Both(Ntk(3), Gn(2))), 6)
    assert spy == {0: (True, True), 2: (True, False), 3: (False, True), 4: (True, False)}
    assert [row.get("gradient_passes") for row in result.history] == [5, 5, 10, 10, 15, 15]
    assert seen == {"ntk": [0, 3], "grads": [0, 2, 4]}


def test_compose_keeps_the_components_data_term_weight():
    """The data term's weights multiply, like the terms' (it was silently 1)."""
    both = Compose(NonAdaptiveLoss(additional_loss_weight=10.0),
                   MiniMaxAdaptiveLoss(2, additional_loss_weight=0.5), GradNormAdaptiveLoss(2))
    assert both.additional_loss_weight == 5.0


def test_compose_keys_repeated_classes_by_position():
    """Two components of one class both appear in "components", and the row's weights are
    the product of what it shows (one NonAdaptiveLoss hid the other). Regression."""
    both = Compose(NonAdaptiveLoss(bc_loss_weights=10.0), MiniMaxAdaptiveLoss(1),
                   NonAdaptiveLoss(pde_loss_weights=2.0))
    assert both.names == ("NonAdaptiveLoss#0", "MiniMaxAdaptiveLoss", "NonAdaptiveLoss#2")
    result = solve(make_problem(both, GridTraining(0.25)), 2)
    for row in result.history:
        comp = row["components"]
        assert list(comp) == list(both.names)
        assert comp["NonAdaptiveLoss#0"] == {t: 1.0 if t == "pde_0" else 10.0 for t in TERMS}
        assert comp["NonAdaptiveLoss#2"] == {t: 2.0 if t == "pde_0" else 1.0 for t in TERMS}
        for term in TERMS:
            product = math.prod(weights[term] for weights in comp.values())
            assert row["weights"][term] == pytest.approx(product, rel=1e-12)


def test_compose_rows_hold_the_extras_of_the_components_updated_at_their_step():
    """Compose(NTK every 3, GradNorm every 2): traces only in the rows of steps 0 and 3,
    norms only in those of 0, 2, 4 (a row repeated the other component's old extras)."""
    ntk, gn = NeuralTangentKernelAdaptiveLoss(3), GradNormAdaptiveLoss(2, 0.0)
    result = solve(make_problem(Compose(ntk, gn), GridTraining(0.25)), 5)
    rows = {row["step"]: row for row in result.history}
    assert "components" not in rows[1]  # nothing was due
    assert [s for s, row in rows.items() if "traces" in row] == [0, 3]
    assert [s for s, row in rows.items() if "grad_norms" in row] == [0, 2, 4]
    assert rows[3]["traces"] != rows[0]["traces"] and rows[3]["traces"] == ntk.traces
    assert rows[4]["grad_norms"] == gn.norms
    for step in (0, 2, 3, 4):  # every component's weights, due or not
        comp = rows[step]["components"]
        assert set(comp) == {"NeuralTangentKernelAdaptiveLoss", "GradNormAdaptiveLoss"}
        for term in TERMS:
            product = comp["NeuralTangentKernelAdaptiveLoss"][term] * comp[
                "GradNormAdaptiveLoss"][term]
            assert rows[step]["weights"][term] == pytest.approx(product, rel=1e-12)


def test_compose_with_repeated_classes_resumes_exactly(tmp_path):
    def build():
        return make_problem(Compose(NonAdaptiveLoss(bc_loss_weights=10.0),
                                    GradNormAdaptiveLoss(2, 0.5),
                                    NonAdaptiveLoss(pde_loss_weights=2.0),
                                    NeuralTangentKernelAdaptiveLoss(3)), GridTraining(0.25))

    reference = build()
    ref = solve(reference, 6)
    path = tmp_path / "run.ckpt"
    solve(build(), 6, checkpoint_path=path, callback=lambda row: row["step"] == 2)
    resumed = build()
    out = solve(resumed, 6, resume=path)
    assert out.history == ref.history
    assert [row["step"] for row in out.history if "traces" in row] == [0, 3]
    assert resumed.adaptive_loss.state_dict() == reference.adaptive_loss.state_dict()


def test_lbfgs_counts_optimizer_steps():
    lra, gn = SpyLRA(1), SpyGradNorm(1)
    problem = make_problem(Compose(lra, gn), GridTraining(0.25))
    result = solve(problem, 3, lr=1.0, optimizer="lbfgs", optimizer_options={"max_iter": 4})
    assert [s["step"] for s in lra.seen] == [0, 1, 2]
    assert [s["step"] for s in gn.seen] == [0, 1, 2]
    assert [row["gradient_passes"] for row in result.history] == [5, 10, 15]
    assert [row["step"] for row in result.history] == [0, 1, 2]
    for row in result.history:
        total = sum(row["weights"][t] * row["losses"][t] for t in TERMS)
        assert row["loss"] == pytest.approx(total, rel=1e-12)
    mm = MiniMaxAdaptiveLoss(1, bc_max_optimiser=torch.optim.SGD, bc_max_lr=0.1)
    result = solve(make_problem(mm, GridTraining(0.25)), 3, lr=1.0, optimizer="lbfgs",
                   optimizer_options={"max_iter": 4})
    assert mm.updates == 3
    weights = {t: 1.0 for t in TERMS}
    for row in result.history:  # one ascent step per optimizer step, on the step's losses
        for term in BCS:
            assert row["weights"][term] == pytest.approx(
                weights[term] + 0.1 * row["losses"][term], rel=1e-12)
        weights = row["weights"]


def test_minimax_in_solve_ascends_and_restarts_with_each_run():
    mm = MiniMaxAdaptiveLoss(2)
    problem = make_problem(mm)
    first = solve(problem, 5).history
    assert solve(problem, 5).history == first  # optimizer state restarts with the run
    by_step = {row["step"]: row["weights"] for row in first}
    assert by_step[1] == by_step[0] and by_step[3] == by_step[2]
    for term in TERMS:  # Adam: the first step is its learning rate; then they keep rising
        lr = 1e-4 if term == "pde_0" else 0.5
        assert by_step[0][term] == pytest.approx(1 + lr, rel=1e-6)
        assert by_step[0][term] < by_step[2][term] < by_step[4][term]
    assert mm.updates == 3 and mm.weights == by_step[4]


def test_minimax_resume_is_exact(tmp_path):
    """Interrupted and resumed from a checkpoint: the same run as an uninterrupted one
    (the ascent optimizers' Adam moments travel in the adaptive-loss state)."""
    def build():
        return make_problem(MiniMaxAdaptiveLoss(1))

    reference = build()
    ref = solve(reference, 6)
    path = tmp_path / "run.ckpt"
    solve(build(), 6, checkpoint_path=path, callback=lambda row: row["step"] == 2)
    resumed = build()
    torch.manual_seed(123)
    resumed.nets[0].reset_parameters()
    out = solve(resumed, 6, resume=path)
    assert out.history == ref.history
    assert resumed.adaptive_loss.state_dict() == reference.adaptive_loss.state_dict()
    assert resumed.adaptive_loss.updates == 6
    for a, b in zip(reference.nets[0].parameters(), resumed.nets[0].parameters()):
        assert torch.equal(a, b)


def test_solve_twice_gives_the_same_run():
    for make in (lambda: GradientScaleAdaptiveLoss(1), lambda: GradNormAdaptiveLoss(1)):
        problem = make_problem(make())
        assert solve(problem, 3).history == solve(problem, 3).history


# -- NeuralPDE's adaptive-loss test -----------------------------------------------------


GRADIENT_STRATEGIES = {
    "gradient_scale": lambda: GradientScaleAdaptiveLoss(100, pde_loss_weights=1e3,
                                                        bc_loss_weights=1),
    "grad_norm": lambda: GradNormAdaptiveLoss(100),
    "minimax": lambda: MiniMaxAdaptiveLoss(100),
}


@pytest.mark.parametrize("name", sorted(GRADIENT_STRATEGIES))
def test_gradient_strategies_train_neuralpde_train(name):
    """NeuralPDE's problem at a stable learning rate: Adam(0.01) x 1000, seed 0 (not
    picked), relative L1 < 0.3. Measured with the default (taylor) path, seeds 0 / 1 / 2:
    GradientScale 0.140 / 0.210 / 0.343, GradNorm 0.215 / 0.377 / 0.205, MiniMax 0.085 /
    0.301 / 0.098 (plain 0.197 / 0.385 / 0.261).

    Plain training also clears the mark at seed 0, so the mark alone does not tell a
    strategy from plain training (nor from one whose ``update`` returns ``{}``); the
    assertions on the recorded weights check that each of the 10 updates changed them,
    and the formula tests above check their values.
    """
    loss = GRADIENT_STRATEGIES[name]()
    err, result = neuralpde_train(loss, seed=0, iterations=1000, lr=0.01)
    assert err < 0.3, f"relative L1 error {err:.3f}"
    kinds = {t: "pde" if t.startswith("pde") else "bc" for t in TERMS}
    initial = GRADIENT_STRATEGIES[name]().initial_weights(TERMS, kinds)
    by_step = {row["step"]: row["weights"] for row in result.history}
    first = max(abs(by_step[0][t] / initial[t] - 1) for t in TERMS)
    assert first > 0.1, (initial, by_step[0])  # the update at step 0 moved a weight by > 10 %
    for step in range(100, 1000, 100):  # every update changes a weight; none in between
        assert by_step[step] != by_step[step - 1], step
        assert by_step[step - 1] == by_step[step - 100], step
    if isinstance(loss, MiniMaxAdaptiveLoss):
        assert loss.updates == 10
    else:  # 10 updates, one backward pass per term each
        assert result.history[-1]["gradient_passes"] == 10 * len(TERMS)
    assert all(math.isfinite(w) and w > 0 for w in result.weights.values())


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(GRADIENT_STRATEGIES))
def test_neuralpde_adaptive_loss_poisson_seeds(name):
    """NeuralPDE's configuration: Adam(0.03) x 2000, relative L1 < 0.4, as the median of
    seeds 0-2. Adam at lr 0.03 is chaotic here: float32 rounding (taylor vs autograd
    derivatives) moves single seeds a lot. Measured (seeds 0 / 1 / 2), taylor: GradientScale
    0.097 / 0.353 / 0.344, GradNorm 0.171 / 0.272 / 0.139, MiniMax 0.350 / 0.254 / 0.319;
    autograd (since it takes the derivatives of one value in one call, 2026-12-01): 0.152 /
    0.225 / 0.592, 0.102 / 0.396 / 0.101, 0.063 / 0.066 / 0.210 (the README gives the runs
    before, each a change of rounding only). This test trains on the taylor path.
    """
    errors = [neuralpde_train(GRADIENT_STRATEGIES[name](), seed)[0] for seed in (0, 1, 2)]
    assert float(np.median(errors)) < 0.4, errors
