"""Training: the adaptive-loss hook, optimizers, strategies, parameters, errors, results.

The NeuralPDE adaptive-loss test (2D Poisson, relative L1 < 0.4) is at the end; the
rest uses a few iterations of small networks.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import sympy as sp
import torch
from neuralpde_poisson import poisson_system, relative_l1
from torch import nn

from symbolic_pinn import (
    MLP,
    PDESystem,
    PhysicsInformedNN,
    Result,
    StrategyError,
    TrainingError,
    discretize,
    gallery,
)
from symbolic_pinn.adaptive import (
    AdaptiveLoss,
    Compose,
    Need,
    NeuralTangentKernelAdaptiveLoss,
    NonAdaptiveLoss,
)
from symbolic_pinn.training import (
    GridTraining,
    QuadratureTraining,
    QuasiRandomTraining,
    StochasticTraining,
)

torch.set_num_threads(1)

x, y = sp.symbols("x y")
a, b = sp.symbols("a b")
u = sp.Function("u")
TERMS = ("pde_0", "bc_0", "bc_1", "bc_2", "bc_3")


def poisson(strategy, adaptive_loss=None, hidden=(8,), **kwargs):
    pinn = PhysicsInformedNN(MLP(2, 1, list(hidden)), strategy, adaptive_loss=adaptive_loss,
                             **kwargs)
    return discretize(poisson_system(), pinn)


class Recorder(AdaptiveLoss):
    """A user-defined strategy: records its context and sets weights depending on the step."""

    def __init__(self, reweight_every=1):
        super().__init__(reweight_every)
        self.calls = []

    def update(self, ctx):
        record = {
            "step": ctx.step,
            "losses": dict(ctx.losses),
            "points": {t: p.detach().clone() for t, p in ctx.points.items()},
            "weights_before": dict(ctx.weights),
            "term_names": ctx.term_names,
            "kinds": dict(ctx.kinds),
            "nets": ctx.nets,
            "params": ctx.params,
            "ntk": ctx.ntk_diagonals,
        }
        # The per-point residual functions: (N,) tensors at any points.
        record["residuals"] = {}
        for t in ctx.term_names:
            r = ctx.residuals[t](ctx.points[t])
            record["residuals"][t] = r.detach().clone()
        self.calls.append(record)
        return {t: 1.0 + 0.5 * ctx.step + i for i, t in enumerate(ctx.term_names)}


# -- the adaptive-loss hook with a user strategy ----------------------------------------


def test_custom_strategy_is_called_on_its_steps_with_the_full_context():
    strategy = Recorder(reweight_every=3)
    problem = poisson(StochasticTraining(12, 5), strategy)
    assert "run.adapt(losses)" in problem.source
    assert "Adaptive-loss hook (Recorder)" in problem.source
    result = problem.solve(10, lr=1e-3, seed=3, dtype=torch.float64, progress=False)
    assert [c["step"] for c in strategy.calls] == [0, 3, 6, 9]

    # The points of each step, replayed from the seed: the strategy saw the step's own points.
    rng = np.random.default_rng(3)
    replay = [StochasticTraining(12, 5).sample(problem.ir, rng).points for _ in range(10)]
    rows = {row["step"]: row for row in result.history}
    assert sorted(rows) == list(range(10))
    for call in strategy.calls:
        step = call["step"]
        assert call["term_names"] == TERMS
        assert call["kinds"] == {"pde_0": "pde", "bc_0": "bc", "bc_1": "bc", "bc_2": "bc",
                                 "bc_3": "bc"}
        assert call["nets"] == problem.nets
        assert call["params"] is problem.params
        assert call["ntk"] is None  # not asked for
        for t in TERMS:
            assert type(call["losses"][t]) is float
            np.testing.assert_array_equal(call["points"][t].numpy(), replay[step][t])
            r = call["residuals"][t]
            assert r.shape == (12 if t == "pde_0" else 5,)
            # The residuals at these points give the step's loss, as recorded.
            assert float(torch.mean(r**2)) == pytest.approx(call["losses"][t], rel=1e-12)
            assert rows[step]["losses"][t] == pytest.approx(call["losses"][t], rel=1e-12)
        # The weights it saw were those in force before the update.
        prev = rows[step - 1]["weights"] if step else {t: 1.0 for t in TERMS}
        assert call["weights_before"] == prev

    # The weights it set are the weights of the loss, from its step on.
    for step, row in rows.items():
        due = 3 * (step // 3)
        expected = {t: 1.0 + 0.5 * due + i for i, t in enumerate(TERMS)}
        assert row["weights"] == expected
        assert all(type(w) is float for w in row["weights"].values())
        total = sum(row["weights"][t] * row["losses"][t] for t in TERMS)
        assert row["loss"] == pytest.approx(total, rel=1e-12)
    assert strategy.weights == rows[9]["weights"]


def test_custom_strategy_with_lbfgs_counts_optimizer_steps(monkeypatch):
    strategy = Recorder(reweight_every=2)
    problem = poisson(GridTraining(0.25), strategy)
    evaluations = []
    original = problem.module.residual_pde_0

    def counting(*args):
        evaluations.append(1)
        return original(*args)

    monkeypatch.setattr(problem.module, "residual_pde_0", counting)
    result = problem.solve(5, lr=1.0, optimizer="lbfgs", optimizer_options={"max_iter": 4},
                           seed=0, dtype=torch.float64, progress=False)
    assert [row["step"] for row in result.history] == [0, 1, 2, 3, 4]
    assert len(evaluations) > 5 + 5  # several closure evaluations per step (plus the hook's)
    assert [c["step"] for c in strategy.calls] == [0, 2, 4]
    for call in strategy.calls:  # its losses are those of the step's first evaluation
        row = result.history[call["step"]]
        for t in TERMS:
            assert row["losses"][t] == pytest.approx(call["losses"][t], rel=1e-12)
    for row in result.history:
        total = sum(row["weights"][t] * row["losses"][t] for t in TERMS)
        assert row["loss"] == pytest.approx(total, rel=1e-12)


def test_strategy_that_needs_ntk_diagonals_gets_them():
    class NeedsKernel(AdaptiveLoss):
        needs = frozenset({Need.LOSSES, Need.NTK_DIAG})

        def __init__(self):
            super().__init__(reweight_every=2)
            self.shapes = []

        def update(self, ctx):
            self.shapes.append({t: tuple(ctx.ntk_diagonals[t].shape) for t in ctx.term_names})
            assert all(not d.requires_grad for d in ctx.ntk_diagonals.values())
            # returns None: the weights stay as they are

    strategy = NeedsKernel()
    result = poisson(StochasticTraining(10, 4), strategy).solve(3, lr=1e-3, seed=0,
                                                                  progress=False)
    assert strategy.shapes == [{t: ((10,) if t == "pde_0" else (4,)) for t in TERMS}] * 2
    assert all(row["weights"] == {t: 1.0 for t in TERMS} for row in result.history)


def test_step_hook_runs_after_the_optimizer_step():
    """At hook="step" the update of step k sees the networks after that step's optimizer
    step and the losses of that step (taken before it, as its history row holds them)."""
    class AfterStep(Recorder):
        hook = "step"

        def update(self, ctx):
            self.seen_params = getattr(self, "seen_params", [])
            self.seen_params.append([p.detach().clone() for p in ctx.nets[0].parameters()])
            return super().update(ctx)

    strategy = AfterStep(reweight_every=2)
    problem = poisson(GridTraining(0.5), strategy)
    assert "run.adapt(run.step_losses)" in problem.source
    assert "run.adapt(losses)" not in problem.source
    after_step = []  # the callback runs after the step (and its hook)
    rows = problem.solve(5, lr=1e-2, seed=0, progress=False, callback=lambda row: after_step.append(
        [p.detach().clone() for p in problem.nets[0].parameters()])).history
    assert [c["step"] for c in strategy.calls] == [0, 2, 4]
    for call, seen in zip(strategy.calls, strategy.seen_params):
        step = call["step"]
        assert call["losses"] == rows[step]["losses"]
        assert all(torch.equal(a, b) for a, b in zip(seen, after_step[step]))
        if step:  # the optimizer step came first: the parameters moved since step - 1
            assert not all(torch.equal(a, b) for a, b in zip(seen, after_step[step - 1]))


def test_no_hook_for_fixed_weights():
    problem = poisson(GridTraining(0.5), NonAdaptiveLoss(bc_loss_weights=10, weights={"bc_3": 2}))
    assert "run.adapt" not in problem.source
    result = problem.solve(2, lr=1e-3, seed=0, progress=False)
    assert result.weights == {"pde_0": 1.0, "bc_0": 10.0, "bc_1": 10.0, "bc_2": 10.0, "bc_3": 2.0}


def test_bad_weights_from_a_strategy_are_rejected():
    class Bad(AdaptiveLoss):
        def __init__(self, value):
            super().__init__(1)
            self.value = value

        def update(self, ctx):
            return self.value

    # A tensor weight (even one carrying gradient) is stored as a plain float.
    problem = poisson(GridTraining(0.5), Bad({"bc_0": torch.tensor(2.5, requires_grad=True)}))
    result = problem.solve(2, lr=1e-3, seed=0, progress=False)
    for row in result.history:
        assert type(row["weights"]["bc_0"]) is float and row["weights"]["bc_0"] == 2.5
        total = sum(row["weights"][t] * row["losses"][t] for t in TERMS)
        assert row["loss"] == pytest.approx(total, rel=1e-6)
    assert all(type(w) is float for w in problem.adaptive_loss.weights.values())

    with pytest.raises(StrategyError, match="unknown term"):
        poisson(GridTraining(0.5), Bad({"pde_7": 1.0})).solve(1, progress=False)
    with pytest.raises(StrategyError, match="bc_0"):
        poisson(GridTraining(0.5), Bad({"bc_0": float("nan")})).solve(1, progress=False)
    with pytest.raises(StrategyError, match="bc_1"):
        poisson(GridTraining(0.5), Bad({"bc_1": -1.0})).solve(1, progress=False)


# -- optimizers --------------------------------------------------------------------------


def test_lbfgs_steps_and_decreases_the_loss():
    problem = poisson(GridTraining(0.2), hidden=(10,))
    result = problem.solve(4, lr=1.0, optimizer="lbfgs", optimizer_options={"max_iter": 10},
                           seed=0, dtype=torch.float64, progress=False)
    losses = [row["loss"] for row in result.history]
    assert [row["step"] for row in result.history] == [0, 1, 2, 3]
    assert losses[-1] < 0.5 * losses[0]
    assert all(b <= a * (1 + 1e-9) for a, b in itertools.pairwise(losses))  # strong Wolfe


def test_sgd_is_plain_gradient_descent():
    """optimizer="sgd": each step moves the parameters by -lr times the loss gradient."""
    problem = poisson(GridTraining(0.25), hidden=(6,))
    result = problem.solve(1, lr=1e-2, optimizer="sgd", seed=0, dtype=torch.float64,
                           progress=False)
    assert len(result.history) == 1
    params = [p.detach().clone() for p in problem.nets[0].parameters()]
    # the next step's gradient by hand, on the same grid and parameters
    points = {t: torch.as_tensor(v, dtype=torch.float64)
              for t, v in problem.strategy.sample(problem.ir, None).points.items()}
    total = sum((problem.module.RESIDUALS[t](problem.nets, points[t], problem.params) ** 2)
                .mean() for t in problem.term_names)
    grads = torch.autograd.grad(total, list(problem.nets[0].parameters()))
    problem.solve(1, lr=1e-2, optimizer="sgd", dtype=torch.float64, progress=False)
    for p, before, g in zip(problem.nets[0].parameters(), params, grads):
        torch.testing.assert_close(p.detach(), before - 1e-2 * g, rtol=1e-12, atol=1e-14)


def test_lr_schedule_is_applied():
    factors = []

    def schedule(step):
        factors.append(step)
        return 1.0 if step < 2 else 0.0

    problem = poisson(GridTraining(0.25))
    snapshots = []

    def callback(row):
        snapshots.append(torch.cat([p.detach().reshape(-1).clone()
                                    for p in problem.nets[0].parameters()]))

    before = torch.cat([p.detach().reshape(-1).clone() for p in problem.nets[0].parameters()])
    problem.solve(5, lr=1e-2, lr_schedule=schedule, callback=callback, progress=False)
    assert factors[1:7] == [0, 1, 2, 3, 4, 5]  # factors[0]: solve checks it before training
    assert not torch.equal(snapshots[0], before)  # steps 0 and 1 move
    assert not torch.equal(snapshots[1], snapshots[0])
    for later in snapshots[2:]:  # lr 0 from step 2 on
        assert torch.equal(later, snapshots[1])


def test_callback_stops_training():
    seen = []

    def callback(row):
        seen.append(row["step"])
        return row["step"] == 2

    result = poisson(StochasticTraining(8)).solve(50, lr=1e-3, callback=callback, seed=0,
                                                  progress=False)
    assert seen == [0, 1, 2]
    assert [row["step"] for row in result.history] == [0, 1, 2]


def test_log_every_keeps_reweight_and_last_rows():
    problem = poisson(GridTraining(0.5), NeuralTangentKernelAdaptiveLoss(reweight_every=3))
    result = problem.solve(8, lr=1e-3, log_every=5, seed=0, progress=False)
    assert [row["step"] for row in result.history] == [0, 3, 5, 6, 7]
    assert [row["step"] for row in result.history if "traces" in row] == [0, 3, 6]


def test_log_every_with_strategies_due_every_step():
    """Reweight rows are always recorded: CausalAdaptiveLoss and SelfAdaptiveLoss record
    statistics every step unless their ``stats_every`` thins them (solve's docstring)."""
    from symbolic_pinn.adaptive import CausalAdaptiveLoss, SelfAdaptiveLoss
    from symbolic_pinn.solver import solve

    assert "stats_every" in solve.__doc__.split("log_every:")[1].split("logger:")[0]
    t = sp.Symbol("t")
    heat = PDESystem([sp.Eq(u(t, x).diff(t), u(t, x).diff(x, 2))], [sp.Eq(u(0, x), 0)],
                     {t: (0, 1), x: (0, 1)}, [t, x], [u(t, x)])
    for make in (lambda k: CausalAdaptiveLoss(t, stats_every=k),
                 lambda k: SelfAdaptiveLoss(stats_every=k)):
        steps = []
        for k in (1, 4):
            pinn = PhysicsInformedNN(MLP(2, 1, [4]), GridTraining(0.5), adaptive_loss=make(k))
            result = discretize(heat, pinn).solve(9, seed=0, progress=False, log_every=4)
            steps.append([row["step"] for row in result.history])
        assert steps == [list(range(9)), [0, 4, 8]]


def test_plot_history_checks_the_term_names(tmp_path):
    pytest.importorskip("matplotlib")
    result = poisson(GridTraining(0.5)).solve(2, seed=0, progress=False)
    for typo in (["bc_O"], ["pde_0", "bc_9"], "bc_O"):
        with pytest.raises(ValueError) as info:
            result.plot_history(tmp_path / "h.png", terms=typo)
        assert "unknown terms" in str(info.value) and "pde_0" in str(info.value)
        assert str(info.value).count("bc_3") == 1  # the recorded terms are listed
    assert not (tmp_path / "h.png").exists()
    one = result.plot_history(tmp_path / "one.png", terms="bc_0", total=False)  # one name
    many = result.plot_history(tmp_path / "many.png", terms=["bc_0"], total=False)
    for fig in (one, many):
        assert [line.get_label() for line in fig.axes[0].get_lines()] == ["bc_0"]
    assert (tmp_path / "one.png").stat().st_size > 1000


def test_same_seed_same_run():
    runs = []
    for _ in range(2):
        problem = poisson(StochasticTraining(16, 4), NeuralTangentKernelAdaptiveLoss(2))
        runs.append(problem.solve(4, lr=1e-2, seed=7, progress=False).history)
    assert runs[0] == runs[1]


# -- training strategies, as seen by the trainer ----------------------------------------


def _points_seen(strategy, iterations=3, **kwargs):
    recorder = Recorder(reweight_every=1)
    recorder.update = lambda ctx, rec=recorder: rec.calls.append(
        {t: p.detach().clone() for t, p in ctx.points.items()})
    problem = poisson(strategy, recorder, **kwargs)
    problem.solve(iterations, lr=1e-3, seed=0, progress=False)
    return problem, recorder.calls


def _assert_faces(points):
    assert torch.all(points["bc_0"][:, 0] == 0) and torch.all(points["bc_1"][:, 0] == 1)
    assert torch.all(points["bc_2"][:, 1] == 0) and torch.all(points["bc_3"][:, 1] == 1)
    for t in ("bc_0", "bc_1"):  # the free coordinate varies along the face
        assert points[t][:, 1].unique().numel() == points[t].shape[0]
    for t in ("bc_2", "bc_3"):
        assert points[t][:, 0].unique().numel() == points[t].shape[0]
    for p in points.values():
        assert torch.all((p >= 0) & (p <= 1))


def test_grid_training_interior_and_faces():
    _, calls = _points_seen(GridTraining(0.1), iterations=2)
    pts = calls[0]
    interior = pts["pde_0"]
    assert interior.shape == (81, 2)  # 11 x 11 grid minus the boundary lines
    assert torch.all((interior > 1e-9) & (interior < 1 - 1e-9))
    for t in TERMS[1:]:
        assert pts[t].shape == (11, 2)
    _assert_faces(pts)
    assert all(torch.equal(calls[1][t], pts[t]) for t in TERMS)  # a fixed grid


def test_grid_training_per_variable_spacing():
    pinn = PhysicsInformedNN(MLP(2, 1, [4]), GridTraining([0.25, 0.5]))
    problem = discretize(poisson_system(), pinn)
    pts = GridTraining([0.25, 0.5]).sample(problem.ir, np.random.default_rng(0)).points
    assert pts["pde_0"].shape == (3 * 1, 2)
    assert pts["bc_0"].shape == (3, 2) and pts["bc_2"].shape == (5, 2)


def test_grid_training_puts_rounded_points_on_the_bound_and_the_faces():
    """0.1 + 3 * 0.2 is 0.7000000000000001: that point is the face x = 0.7, not interior."""
    x_ = sp.Symbol("x")
    u_ = sp.Function("u")
    system = PDESystem([u_(x_).diff(x_, 2) + 1], [u_(0.1), u_(0.7)], {x_: (0.1, 0.7)}, [x_],
                       [u_(x_)])
    problem = discretize(system, PhysicsInformedNN(MLP(1, 1, [4]), GridTraining(0.2)))
    pts = GridTraining(0.2).sample(problem.ir, np.random.default_rng(0)).points
    assert pts["pde_0"][:, 0] == pytest.approx([0.3, 0.5])
    assert pts["bc_1"][:, 0].tolist() == [0.7]


def test_stochastic_training_resamples_on_faces():
    _, calls = _points_seen(StochasticTraining(20, 7))
    for pts in calls:
        assert pts["pde_0"].shape == (20, 2)
        assert all(pts[t].shape == (7, 2) for t in TERMS[1:])
        _assert_faces(pts)
    assert not torch.equal(calls[0]["pde_0"], calls[1]["pde_0"])
    assert not torch.equal(calls[1]["bc_2"], calls[2]["bc_2"])


@pytest.mark.parametrize("sampler", ["sobol", "halton", "lhs"])
@pytest.mark.parametrize("resampling", [True, False])
def test_quasirandom_training(sampler, resampling):
    _, calls = _points_seen(QuasiRandomTraining(16, 8, sampler=sampler, resampling=resampling))
    for pts in calls:
        assert pts["pde_0"].shape == (16, 2)
        assert all(pts[t].shape == (8, 2) for t in TERMS[1:])
        _assert_faces(pts)
    same = all(torch.equal(calls[0][t], calls[i][t]) for t in TERMS for i in (1, 2))
    assert same == (not resampling)
    if sampler == "lhs":  # one point per stratum in each column
        cols = np.sort(calls[0]["pde_0"].numpy(), axis=0)
        np.testing.assert_array_equal(np.floor(cols * 16), np.tile(np.arange(16)[:, None], 2))


def test_quasirandom_unknown_sampler():
    with pytest.raises(ValueError, match="sampler"):
        QuasiRandomTraining(16, sampler="lattice")


class ScaledProduct(nn.Module):
    """u = c x y: a closed-form 'network' with one trainable coefficient."""

    def __init__(self, c: float):
        super().__init__()
        self.c = nn.Parameter(torch.tensor(float(c), dtype=torch.float64))

    def forward(self, inputs):
        return self.c * inputs[:, 0:1] * inputs[:, 1:2]


def test_quadrature_training_weights_and_loss():
    problem = discretize(poisson_system(), PhysicsInformedNN(ScaledProduct(2.0),
                                                             QuadratureTraining(8)))
    pointset = QuadratureTraining(8).sample(problem.ir, np.random.default_rng(0))
    assert pointset.weights is not None
    for t in TERMS:
        w = pointset.weights[t].reshape(-1)
        assert w.sum() == pytest.approx(1.0, abs=1e-14) and np.all(w > 0)
        assert pointset.points[t].shape[0] == (64 if t == "pde_0" else 8)
    _assert_faces({t: torch.as_tensor(p) for t, p in pointset.points.items()})
    assert "quadrature[\"pde_0\"]" in problem.source
    result = problem.solve(1, lr=0.0, dtype=torch.float64, progress=False)
    row = result.history[0]
    # The loss is the weighted mean of r², i.e. the mean of r² over the square.
    for t in TERMS:
        r = problem.residuals[t](pointset.points[t]).detach().numpy()
        w = pointset.weights[t].reshape(-1)
        assert row["losses"][t] == pytest.approx(float(np.sum(w * r**2)), rel=1e-12)
    # Exact integrals: Δ(cxy) = 0, so ∫∫ sin²(πx) sin²(πy) = 1/4;
    # u(1, y) = 2y, so ∫ 4y² = 4/3.
    assert row["losses"]["pde_0"] == pytest.approx(0.25, rel=1e-6)
    assert row["losses"]["bc_0"] == pytest.approx(0.0, abs=1e-20)
    assert row["losses"]["bc_1"] == pytest.approx(4 / 3, rel=1e-12)
    assert row["losses"]["bc_3"] == pytest.approx(4 / 3, rel=1e-12)


# -- parameters and data --------------------------------------------------------------


def decay_system(a_value):
    t_ = sp.Symbol("t")
    f = sp.Function("f")
    system = PDESystem([sp.Eq(f(t_).diff(t_), a * f(t_))], [sp.Eq(f(0), 1)], {t_: (0, 1)}, [t_],
                       [f(t_)], {a: a_value})
    return system


def test_param_estim_recovers_a_parameter_from_data():
    """f' = a f, f(0) = 1, data of exp(-t): a -> -1."""
    t_data = torch.linspace(0, 1, 11, dtype=torch.float64).reshape(-1, 1)
    f_data = torch.exp(-t_data[:, 0])

    def data_loss(funcs, params):
        assert set(funcs) == {"f"} and set(params) == {"a"}
        return torch.mean((funcs["f"](t_data) - f_data) ** 2)

    torch.manual_seed(0)
    pinn = PhysicsInformedNN(MLP(1, 1, [12]), GridTraining(0.05), param_estim=True,
                             additional_loss=data_loss)
    problem = discretize(decay_system(0.5), pinn)
    assert "run.additional_loss()" in problem.source
    result = problem.solve(40, lr=1.0, optimizer="lbfgs", seed=0, dtype=torch.float64,
                           progress=False)
    assert set(result.params) == {"a"}
    assert result.params["a"] == pytest.approx(-1.0, abs=1e-2)
    assert "additional" in result.history[-1]["losses"]
    row = result.history[-1]
    total = row["losses"]["pde_0"] + row["losses"]["bc_0"] + row["losses"]["additional"]
    assert row["loss"] == pytest.approx(total, rel=1e-10)


@pytest.mark.parametrize("make", [
    lambda: NonAdaptiveLoss(pde_loss_weights=2, bc_loss_weights=3, additional_loss_weight=10),
    # Compose: the components' additional_loss_weight multiply (4 · 2.5 = 10), as do
    # the term weights (2 · 1 and 1 · 3)
    lambda: Compose(NonAdaptiveLoss(pde_loss_weights=2, additional_loss_weight=4),
                    NonAdaptiveLoss(bc_loss_weights=3, additional_loss_weight=2.5)),
], ids=["non-adaptive", "compose"])
def test_additional_loss_weight_multiplies_the_data_term(make):
    """loss = Σ_k w_k · L_k + 10 · L_additional in every row (the data term is recorded
    unweighted under "additional"; it has no entry among the term weights)."""
    t_data = torch.linspace(0, 1, 6, dtype=torch.float64).reshape(-1, 1)
    f_data = torch.exp(-t_data[:, 0])

    def data_loss(funcs, params):
        return torch.mean((funcs["f"](t_data) - f_data) ** 2)

    strategy = make()
    assert strategy.additional_loss_weight == 10
    torch.manual_seed(0)
    pinn = PhysicsInformedNN(MLP(1, 1, [6]), GridTraining(0.1), param_estim=True,
                             additional_loss=data_loss, adaptive_loss=strategy)
    rows = discretize(decay_system(0.5), pinn).solve(
        3, lr=1e-2, seed=0, dtype=torch.float64, progress=False).history
    assert len(rows) == 3
    for row in rows:
        assert row["weights"] == {"pde_0": 2.0, "bc_0": 3.0}
        losses = row["losses"]
        assert set(losses) == {"pde_0", "bc_0", "additional"}
        assert losses["additional"] > 1e-3  # large enough for a wrong weight to show
        expected = 2 * losses["pde_0"] + 3 * losses["bc_0"] + 10 * losses["additional"]
        assert row["loss"] == pytest.approx(expected, rel=1e-12)


def test_same_seed_same_run_with_estimated_parameters():
    """A seed also sets the estimated parameters back to the system's values: the same
    seed gives the same run after any other run of the problem."""
    problem = discretize(decay_system(0.5), PhysicsInformedNN(
        MLP(1, 1, [6]), GridTraining(0.1), param_estim=True))
    first = problem.solve(5, lr=1e-1, seed=0, dtype=torch.float64, progress=False)
    a_first = first.params["a"]
    assert a_first != 0.5  # it moved
    problem.solve(5, lr=1e-1, seed=1, dtype=torch.float64, progress=False)
    again = problem.solve(5, lr=1e-1, seed=0, dtype=torch.float64, progress=False)
    assert again.history == first.history
    assert again.params["a"] == a_first
    # Without a seed the run continues from the current parameters.
    onward = problem.solve(1, lr=1e-1, dtype=torch.float64, progress=False)
    assert onward.history[0]["losses"] != first.history[0]["losses"]


def test_a_result_keeps_its_run_after_the_problem_is_solved_again(tmp_path):
    """Solving the problem again (or loading into it) leaves an earlier result as it was:
    its predictions, parameters and saved file are those of its own run."""
    problem = discretize(decay_system(0.5), PhysicsInformedNN(
        MLP(1, 1, [6]), GridTraining(0.1), param_estim=True))
    t_ = problem.system.indvars[0]
    ts = np.linspace(0, 1, 7)
    r1 = problem.solve(5, lr=1e-1, seed=0, progress=False)
    assert r1.nets is problem.nets  # live while it is the latest
    pred1, params1 = r1.predict({t_: ts})["f"], r1.params
    r2 = problem.solve(5, lr=1e-1, seed=1, dtype=torch.float64, progress=False)
    assert not np.array_equal(r2.predict({t_: ts})["f"], pred1)
    assert np.array_equal(r1.predict({t_: ts})["f"], pred1)  # float32, as trained
    assert r1.params == params1 != r2.params
    assert r1.nets is not problem.nets and r2.nets is problem.nets
    path = r1.save(tmp_path / "r1.pt")
    fresh = discretize(decay_system(0.5), PhysicsInformedNN(
        MLP(1, 1, [6]), GridTraining(0.1), param_estim=True))
    loaded = Result.load(path, fresh)
    assert np.array_equal(loaded.predict({t_: ts})["f"], pred1)
    assert loaded.params == params1 and loaded.history == r1.history
    # Loading r1's file into the problem itself: r2 keeps its own run.
    pred2 = r2.predict({t_: ts})["f"]
    Result.load(path, problem)
    assert np.array_equal(r2.predict({t_: ts})["f"], pred2)


def test_a_result_keeps_its_run_when_another_problem_trains_its_network():
    """A second system trained on from the first one's network (the same module object)
    changes that module in place: the first result keeps its own run."""
    net = MLP(1, 1, [6])
    first = discretize(decay_system(0.5), PhysicsInformedNN(net, GridTraining(0.1)))
    t_ = first.system.indvars[0]
    ts = np.linspace(0, 1, 7)
    r1 = first.solve(5, lr=1e-1, seed=0, progress=False)
    pred1 = r1.predict({t_: ts})["f"]
    second = discretize(decay_system(2.0), PhysicsInformedNN(net, GridTraining(0.1)))
    r2 = second.solve(5, lr=1e-1, progress=False)  # no seed: trains on from r1's network
    assert r2.nets[0] is net
    assert not np.array_equal(r2.predict({t_: ts})["f"], pred1)
    assert np.array_equal(r1.predict({t_: ts})["f"], pred1)
    # A problem that shares nothing with the first leaves r2 live.
    discretize(decay_system(0.5), PhysicsInformedNN(MLP(1, 1, [6]), GridTraining(0.1))).solve(
        2, progress=False)
    assert r2.nets[0] is net


def test_a_result_of_a_network_that_cannot_be_copied(tmp_path):
    """Solving again never fails because an earlier result must keep its run: it keeps
    tensors; only rebuilding its networks needs a copy of the module, and that one says
    what it cannot do (save and params still work)."""
    import threading

    class Locked(MLP):  # a module that copy.deepcopy refuses
        def __init__(self):
            super().__init__(1, 1, [6])
            self.lock = threading.Lock()

    problem = discretize(decay_system(0.5), PhysicsInformedNN(
        Locked(), GridTraining(0.1), param_estim=True))
    r1 = problem.solve(3, lr=1e-1, seed=0, progress=False)
    params1 = r1.params
    problem.solve(3, lr=1e-1, seed=1, progress=False)  # works, and r1 keeps its run
    assert r1.params == params1
    with pytest.raises(TrainingError, match=r"network 0 \(for f\) cannot be copied"):
        _ = r1.nets
    fresh = discretize(decay_system(0.5), PhysicsInformedNN(
        MLP(1, 1, [6]), GridTraining(0.1), param_estim=True))
    assert Result.load(r1.save(tmp_path / "r1.pt"), fresh).params == params1


def test_param_estim_subset_and_known_params():
    t_ = sp.Symbol("t")
    f = sp.Function("f")
    system = PDESystem([sp.Eq(f(t_).diff(t_), a * f(t_) + b)], [sp.Eq(f(0), 1)], {t_: (0, 1)},
                       [t_], [f(t_)], {a: 0.5, b: 0.25})
    for estim, trainable in ((False, set()), ([a], {"a"}), (True, {"a", "b"})):
        problem = discretize(system, PhysicsInformedNN(MLP(1, 1, [4]), GridTraining(0.1),
                                                       param_estim=estim))
        by_name = {problem.param_names[k]: v for k, v in problem.params.items()}
        assert {n for n, v in by_name.items() if v.requires_grad} == trainable
        result = problem.solve(3, lr=0.1, seed=0, progress=False)
        for name in ("a", "b"):
            if name in trainable:
                assert result.params[name] != {"a": 0.5, "b": 0.25}[name]
            else:
                assert result.params[name] == {"a": 0.5, "b": 0.25}[name]


def test_known_parameter_value_enters_the_residual():
    problem = discretize(decay_system(-2.0), PhysicsInformedNN(MLP(1, 1, [4]), GridTraining(0.1)))
    pts = torch.tensor([[0.3], [0.7]])
    inputs = pts.clone().requires_grad_(True)
    f = problem.nets[0](inputs)
    f_t = torch.autograd.grad(f.sum(), inputs)[0]
    expected = (f_t - (-2.0) * f).detach()[:, 0]
    torch.testing.assert_close(problem.residuals["pde_0"](pts).detach(), expected)


class ClosedForm(nn.Module):
    """``scale · g(x)`` for a fixed ``g`` (one trainable scale, 1.0, so there is
    something to train)."""

    def __init__(self, g):
        super().__init__()
        self.g = g
        self.scale = nn.Parameter(torch.ones((), dtype=torch.float64))

    def forward(self, inputs):
        return self.scale * self.g(inputs[:, :1])


@pytest.mark.parametrize("keys", ["functions", "strings", "applied"])
def test_networks_given_by_name_go_to_their_variables(keys):
    """A dict of networks in another order than the depvars [u, v]: each network goes to
    the variable its key names, so the residuals are those of u = sin x, v = x²."""
    v = sp.Function("v")
    eqs = [sp.Eq(u(x).diff(x), v(x)), sp.Eq(v(x).diff(x), -x * u(x))]
    system = PDESystem(eqs, [sp.Eq(u(0), 1), sp.Eq(v(1), 0)], {x: (0, 1)}, [x], [u(x), v(x)])
    net_u, net_v = ClosedForm(torch.sin), ClosedForm(torch.square)
    key_u, key_v = {"functions": (u, v), "strings": ("u", "v"),
                    "applied": (u(x), v(x))}[keys]
    chain = {key_v: net_v, key_u: net_u}  # reversed
    problem = discretize(system, PhysicsInformedNN(chain, GridTraining(0.25)))
    assert len(problem.nets) == 2
    assert problem.nets[0] is net_u and problem.nets[1] is net_v
    closed = {u(x): sp.sin(x), v(x): x**2}
    pts = torch.tensor([[0.1], [0.35], [0.8]], dtype=torch.float64)
    for term, eq in zip(("pde_0", "pde_1"), eqs):
        expr = (eq.lhs - eq.rhs).subs(closed).doit()  # cos x - x², 2x + x sin x
        expected = torch.tensor([float(expr.subs(x, p)) for p in pts[:, 0].tolist()],
                                dtype=torch.float64)
        torch.testing.assert_close(problem.residuals[term](pts).detach(), expected,
                                   rtol=1e-12, atol=1e-12)
    # u(0) - 1 = sin 0 - 1 = -1 and v(1) - 0 = 1 at every point
    torch.testing.assert_close(problem.residuals["bc_0"](pts).detach(),
                               torch.full((3,), -1.0, dtype=torch.float64))
    torch.testing.assert_close(problem.residuals["bc_1"](pts).detach(),
                               torch.full((3,), 1.0, dtype=torch.float64))


# -- failures ----------------------------------------------------------------------------


class NaNOnRightEdge(nn.Module):
    """NaN on the open edge x = 1, 0 < y < 1 (only bc_1 sees it), finite elsewhere."""

    def __init__(self):
        super().__init__()
        self.net = MLP(2, 1, [4])

    def forward(self, inputs):
        out = self.net(inputs)
        yv = inputs[:, 1:2]
        bad = (inputs[:, 0:1] == 1.0) & (yv > 0) & (yv < 1)
        return torch.where(bad, torch.full_like(out, float("nan")), out)


def test_non_finite_loss_stops_training_and_names_the_term():
    problem = discretize(poisson_system(), PhysicsInformedNN(NaNOnRightEdge(), GridTraining(0.25)))
    with pytest.raises(TrainingError, match=r"step 0: the loss of term bc_1 is nan") as info:
        problem.solve(5, lr=1e-3, progress=False)
    partial = info.value.result
    assert isinstance(partial, Result)
    assert len(partial.history) == 1 and math.isnan(partial.history[0]["losses"]["bc_1"])
    assert all(math.isfinite(v) for t, v in partial.history[0]["losses"].items() if t != "bc_1")


def test_huge_learning_rate_diverges_with_a_named_term():
    problem = discretize(decay_system(3.0),
                         PhysicsInformedNN(MLP(1, 1, [8], activation="relu"), GridTraining(0.1)))
    with pytest.raises(TrainingError, match=r"the loss of term (pde_0|bc_0) is (nan|inf)"):
        problem.solve(200, lr=1e30, seed=0, progress=False)


# -- dtype, results, save and load ---------------------------------------------------------


def test_float64_training():
    problem = poisson(StochasticTraining(8), NeuralTangentKernelAdaptiveLoss(2))
    result = problem.solve(2, lr=1e-3, seed=0, dtype=torch.float64, progress=False)
    assert problem.dtype == torch.float64
    assert all(p.dtype == torch.float64 for p in problem.nets[0].parameters())
    assert problem.residuals["pde_0"](np.array([[0.5, 0.5]])).dtype == torch.float64
    pred = result.predict({"x": [0.1, 0.2], "y": 0.5})["u"]
    assert pred.dtype == np.float64


def test_float64_training_keeps_the_parameters_exact():
    """A float32 problem solved in float64: the known and the reset estimated parameters
    take the system's values in float64 (0.1, not float32's 0.10000000149...), as the
    residual of the value of a parameter-only condition shows."""
    t_ = sp.Symbol("t")
    f = sp.Function("f")
    system = PDESystem([sp.Eq(f(t_).diff(t_), a * f(t_) + b)], [sp.Eq(f(0), 1)], {t_: (0, 1)},
                       [t_], [f(t_)], {a: 0.1, b: 0.3})
    problem = discretize(system, PhysicsInformedNN(MLP(1, 1, [4]), GridTraining(0.1),
                                                   param_estim=[a]))
    assert problem.dtype == torch.float32
    result = problem.solve(1, lr=0.0, seed=0, dtype=torch.float64, progress=False)
    by_name = {problem.param_names[k]: v for k, v in problem.params.items()}
    assert by_name["a"].dtype == by_name["b"].dtype == torch.float64
    assert by_name["a"].item() == 0.1 and by_name["b"].item() == 0.3  # lr 0: a kept
    assert result.params == {"a": 0.1, "b": 0.3}
    manual = torch.tensor(0.7, dtype=torch.float32)  # a value set by hand is kept, cast
    ident = next(k for k, n in problem.param_names.items() if n == "b")
    problem.params[ident] = manual
    problem.solve(1, lr=0.0, seed=0, dtype=torch.float64, progress=False)
    assert float(problem.params[ident]) == float(manual)


def test_predict_shapes():
    result = poisson(GridTraining(0.5)).solve(1, lr=1e-3, seed=0, progress=False)
    assert result.predict({x: 0.3, y: 0.4})["u"].shape == ()
    assert result.predict({"x": np.linspace(0, 1, 7), "y": 0.5})["u"].shape == (7,)
    gx, gy = np.meshgrid(np.linspace(0, 1, 5), np.linspace(0, 1, 3), indexing="ij")
    assert result.predict({x: gx, y: gy})["u"].shape == (5, 3)
    out = result.predict({"x": np.zeros((4, 1)), "y": np.zeros((1, 6))})["u"]
    assert out.shape == (4, 6)
    with torch.no_grad():
        direct = problem_value(result, 0.3, 0.4)
    assert result.predict({x: 0.3, y: 0.4})["u"] == pytest.approx(direct, rel=1e-6)
    with pytest.raises(KeyError):
        result.predict({"z": 1.0})
    with pytest.raises(KeyError):
        result.predict({"x": 1.0})  # u needs y as well
    with pytest.raises(KeyError, match="variable x is given twice"):
        result.predict({x: np.zeros(5), "x": np.zeros(2), y: 0.5})
    with pytest.raises(TypeError, match=r"predict takes a mapping .* got ndarray; for an "
                                        r"\(N, 2\) array of points give its columns, "
                                        r"\{'x': pts\[:, 0\], 'y': pts\[:, 1\]\}"):
        result.predict(np.zeros((5, 2)))


def problem_value(result, xv, yv):
    return float(result.nets[0](torch.tensor([[xv, yv]], dtype=torch.float32))[0, 0])


def test_save_and_load_round_trip(tmp_path):
    def build():
        pinn = PhysicsInformedNN(MLP(2, 1, [6]), StochasticTraining(8),
                                 adaptive_loss=NeuralTangentKernelAdaptiveLoss(2))
        return discretize(poisson_system(), pinn)

    problem = build()
    result = problem.solve(3, lr=1e-2, seed=0, progress=False)
    path = result.save(tmp_path / "run.pt")
    assert path.exists() and not list(tmp_path.glob("*.tmp"))

    other = build()
    loaded = Result.load(path, other)
    g = np.linspace(0, 1, 9)
    coords = {"x": g[:, None], "y": g[None, :]}
    np.testing.assert_array_equal(loaded.predict(coords)["u"], result.predict(coords)["u"])
    assert loaded.history == result.history
    assert loaded.weights == result.weights
    assert other.adaptive_loss.weights == problem.adaptive_loss.weights
    assert other.adaptive_loss.traces == problem.adaptive_loss.traces
    assert other.adaptive_loss.updates == problem.adaptive_loss.updates

    different = discretize(poisson_system(), PhysicsInformedNN(MLP(2, 1, [6]),
                                                               StochasticTraining(8)))
    with pytest.raises(ValueError, match="different problem"):
        Result.load(path, different)


def test_save_and_load_estimated_parameters(tmp_path):
    def build():
        return discretize(decay_system(0.5), PhysicsInformedNN(MLP(1, 1, [4]), GridTraining(0.1),
                                                               param_estim=True))

    result = build().solve(3, lr=0.1, seed=0, progress=False)
    assert result.params["a"] != 0.5
    loaded = Result.load(result.save(tmp_path / "p.pt"), build())
    assert loaded.params == result.params


# -- NeuralPDE's adaptive-loss test -----------------------------------------------------


@pytest.mark.parametrize(
    "adaptive_loss, lr",
    [(NonAdaptiveLoss, 0.003), (lambda: NeuralTangentKernelAdaptiveLoss(reweight_every=100), 0.03)],
    ids=["nonadaptive", "ntk"],
)
def test_neuralpde_adaptive_loss_poisson(adaptive_loss, lr):
    """2D Poisson, MLP(2,1,[40,40]) tanh, StochasticTraining(256), Adam x 2000.

    Relative L1 error on the 101 x 101 grid must be < 0.4 (NeuralPDE's threshold). NTK
    weights run at NeuralPDE's lr 0.03 (5 of seeds 0-5 pass, README; seed 0: 0.060).
    Plain weights are chaotic at lr 0.03 (they pass 3 of seeds 0-5) and run at lr 0.003
    here, where seeds 0-5 all pass (0.072-0.299). Seed 0 is not hand-picked.
    """
    loss = adaptive_loss()
    problem = discretize(poisson_system(), PhysicsInformedNN(MLP(2, 1, [40, 40], "tanh"),
                                                             StochasticTraining(256),
                                                             adaptive_loss=loss))
    result = problem.solve(2000, lr=lr, seed=0, progress=False)
    err = relative_l1(result)
    assert err < 0.4, f"relative L1 error {err:.3f}"
    if isinstance(loss, NeuralTangentKernelAdaptiveLoss):
        rows = [row for row in result.history if "traces" in row]
        assert [row["step"] for row in rows] == list(range(0, 2000, 100))
        assert loss.weights == rows[-1]["weights"]


@pytest.mark.slow
def test_ntk_meets_neuralpde_pass_mark_over_seeds():
    """NTK-weighted NeuralPDE Poisson, seeds 0-5: median < 0.2, every seed < 0.4.

    Relative L1 errors measured, default taylor path, after the factored tanh derivatives
    (2026-11-29): NTK 0.034 / 0.054 / 0.197 / 0.140 / 0.254 / 0.056 (median 0.098), plain
    0.027 / 0.363 / 0.159 / 0.030 / 0.043 / 0.552 (median 0.101; plain is not asserted:
    NTK does not beat it here, see the README). Before them: NTK 0.060 / 0.053 / 0.217 /
    0.159 / 0.422 / 0.067 (median 0.113; the every-seed bound failed on seed 4), plain
    0.468 / 0.363 / 0.656 / 0.163 / 0.037 / 0.559 (median 0.416). With
    derivatives="autograd", since it takes the derivatives of one value in one call
    (2026-12-01): NTK 0.029 / 0.056 / 0.086 / 0.175 / 0.123 / 0.052 (median 0.071), plain
    0.081 / 0.363 / 0.413 / 0.041 / 0.040 / 0.556 (median 0.222); the README gives the
    runs before (each a change of rounding only).

    Adam at lr 0.03 is chaotic here: float32 rounding differences (between the derivative
    paths, or before and after a change of the propagation's arithmetic) change single
    seeds by up to 17x, so only claims over seeds mean something.
    """
    errors = []
    for seed in range(6):
        problem = discretize(poisson_system(), PhysicsInformedNN(
            MLP(2, 1, [40, 40], "tanh"), StochasticTraining(256),
            adaptive_loss=NeuralTangentKernelAdaptiveLoss(reweight_every=100)))
        errors.append(relative_l1(problem.solve(2000, lr=0.03, seed=seed, progress=False)))
    assert np.median(errors) < 0.2, errors
    assert max(errors) < 0.4, errors  # NeuralPDE's pass mark, on every seed


def test_same_seed_same_run_when_dtype_changes():
    """A float32-built net solved in float64 twice with one seed gives one run."""
    x_ = sp.Symbol("x")
    u_ = sp.Function("u")
    system = PDESystem([u_(x_).diff(x_, 2) + 1], [u_(0), u_(1)], {x_: (0, 1)}, [x_], [u_(x_)])
    problem = discretize(system, PhysicsInformedNN(MLP(1, 1, [32]), GridTraining(0.1)))
    first = problem.solve(3, seed=5, dtype=torch.float64, progress=False).history
    second = problem.solve(3, seed=5, dtype=torch.float64, progress=False).history
    assert first == second


def test_condition_on_parameters_only_gives_one_residual_per_point():
    """``a + 1 = 0`` involves no coordinate or network: still one value per point."""
    x_, a_ = sp.symbols("x a")
    u_ = sp.Function("u")
    system = PDESystem([u_(x_).diff(x_) - a_ * u_(x_)], [u_(0) - 1, a_ + 1],
                       {x_: (0, 1)}, [x_], [u_(x_)], params={a_: -0.5})
    problem = discretize(system, PhysicsInformedNN(MLP(1, 1, [8]), GridTraining(0.25),
                                                   param_estim=True))
    points = torch.rand(4, 1)
    assert torch.allclose(problem.residuals["bc_1"](points), torch.full((4,), 0.5))
    call = lambda i, inp: problem.nets[i](inp.unsqueeze(0)).squeeze(0)
    per_point = torch.func.vmap(
        lambda p: problem.module.POINT_RESIDUALS["bc_1"](call, p, problem.params))(points)
    assert torch.allclose(per_point, torch.full((4,), 0.5))
    result = problem.solve(3, seed=0, progress=False)
    assert result.history[-1]["losses"]["bc_1"] > 0


def test_relative_error_matches_explicit_norms():
    result = poisson(GridTraining(0.5)).solve(2, lr=1e-3, seed=0, progress=False)
    gx, gy = np.meshgrid(np.linspace(0, 1, 11), np.linspace(0, 1, 7), indexing="ij")
    ref = np.sin(np.pi * gx) * np.sin(np.pi * gy) + 0.1
    pred = result.predict({x: gx, y: gy})["u"]
    l2 = np.sqrt(((pred - ref) ** 2).sum() / (ref**2).sum())
    l1 = np.abs(pred - ref).sum() / np.abs(ref).sum()
    assert result.relative_error({x: gx, y: gy}, ref) == pytest.approx(l2, rel=1e-12)
    assert result.relative_error({"x": gx, "y": gy}, ref, norm="l1", variable="u") == \
        pytest.approx(l1, rel=1e-12)
    assert result.relative_error({x: gx, y: gy}, pred) == 0.0
    # a scalar reference broadcasts to the points
    assert result.relative_error({x: gx, y: gy}, 2.0) == pytest.approx(
        np.linalg.norm(pred - 2.0) / (2.0 * np.sqrt(pred.size)), rel=1e-12)
    with pytest.raises(ValueError, match="norm must be"):
        result.relative_error({x: gx, y: gy}, ref, norm="max")
    with pytest.raises(ValueError, match="all zero"):
        result.relative_error({x: gx, y: gy}, np.zeros_like(ref))
    with pytest.raises(KeyError, match="'w'"):
        result.relative_error({x: gx, y: gy}, ref, variable="w")
    with pytest.raises(ValueError, match=r"shape \(7, 11\), which does not broadcast to the "
                                         r"points' shape \(11, 7\)"):
        result.relative_error({x: gx, y: gy}, np.ones((7, 11)))


def test_gallery_relative_error_is_the_grid_error_over_the_domain():
    """``Example.relative_error`` is ``Result.relative_error`` on a uniform grid spanning
    each variable's domain (a shifted domain checked with an example built here)."""
    from symbolic_pinn.gallery import Example

    example = gallery.poisson2d()
    result = discretize(example.system, PhysicsInformedNN(MLP(2, 1, [8]), GridTraining(0.5))
                        ).solve(2, seed=0, progress=False)
    gx, gy = np.meshgrid(np.linspace(0, 1, 5), np.linspace(0, 1, 5), indexing="ij")
    explicit = result.relative_error({"x": gx, "y": gy}, example.exact(gx, gy), norm="l1")
    assert example.relative_error(result, points_per_axis=5, norm="l1") == explicit
    # a shifted domain: the grid follows it
    xs_, u_ = sp.Symbol("x"), sp.Function("u")
    system = PDESystem([u_(xs_).diff(xs_) - 1], [u_(-2) + 2], {xs_: (-2, 3)}, [xs_], [u_(xs_)])
    shifted = Example(system, lambda x: x, "u' = 1, u(-2) = -2")
    fit = discretize(system, PhysicsInformedNN(MLP(1, 1, [4]), GridTraining(0.5))
                     ).solve(2, seed=0, progress=False)
    xs = np.linspace(-2, 3, 7)
    assert shifted.relative_error(fit, points_per_axis=7) == fit.relative_error({"x": xs}, xs)
    with pytest.raises(ValueError, match="points_per_axis"):
        example.relative_error(result, points_per_axis=1)
    with pytest.raises(ValueError, match="no exact solution"):
        Example(system, None, "").relative_error(fit)


def test_relative_error_needs_the_variable_of_a_system_of_two():
    t_ = sp.Symbol("t")
    u, v = sp.Function("u"), sp.Function("v")
    system = PDESystem([sp.Eq(u(t_).diff(t_), v(t_)), sp.Eq(v(t_).diff(t_), -u(t_))],
                       [sp.Eq(u(0), 0), sp.Eq(v(0), 1)], {t_: (0, 1)}, [t_], [u(t_), v(t_)])
    pinn = PhysicsInformedNN([MLP(1, 1, [4]), MLP(1, 1, [4])], GridTraining(0.25))
    result = discretize(system, pinn).solve(1, progress=False)
    ts = np.linspace(0, 1, 5)
    with pytest.raises(ValueError, match=r"\['u', 'v'\].*variable="):
        result.relative_error({t_: ts}, np.sin(ts))
    expected = np.linalg.norm(result.predict({t_: ts})["v"] - np.cos(ts)) / np.linalg.norm(
        np.cos(ts))
    for variable in ("v", v, v(t_)):  # the name, the SymPy function, the applied function
        assert result.relative_error({t_: ts}, np.cos(ts), variable=variable) == \
            pytest.approx(expected)
    with pytest.raises(KeyError, match=r"unknown dependent variable 'w'; they are \['u', 'v'\]"):
        result.relative_error({t_: ts}, np.cos(ts), variable=sp.Function("w"))
    # tensors (even ones that require grad) are points as well as arrays
    as_tensor = torch.tensor(ts, requires_grad=True)
    assert result.predict({t_: as_tensor})["v"] == pytest.approx(result.predict({t_: ts})["v"])


def test_residuals_cast_tensor_points_to_the_networks_dtype():
    problem = poisson(GridTraining(0.5))
    pts = np.random.default_rng(0).random((6, 2))
    expected = problem.residuals["pde_0"](pts).detach()
    problem.solve(0, dtype=torch.float64, progress=False)  # the networks become float64
    as32 = problem.residuals["pde_0"](torch.tensor(pts, dtype=torch.float32))
    assert as32.dtype == torch.float64
    torch.testing.assert_close(as32.float(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("hook", ["losses", "step"])
def test_history_rows_hold_the_weights_their_loss_used(hook):
    """A step-hook strategy reweights after the optimizer step: its row must still show
    the weights of that step's loss (loss = Σ weight · term loss), not the new ones."""

    class Doubling(AdaptiveLoss):
        needs = frozenset({Need.LOSSES})

        def update(self, ctx):
            return {"bc_0": 2 * ctx.weights["bc_0"]}

    Doubling.hook = hook
    rows = poisson(GridTraining(0.25), Doubling(reweight_every=2)).solve(
        5, seed=0, dtype=torch.float64, progress=False).history
    for row in rows:
        weighted = sum(row["weights"][t] * row["losses"][t] for t in row["losses"])
        assert row["loss"] == pytest.approx(weighted, rel=1e-12)
    # due at steps 0, 2, 4; "losses": before that step's loss, "step": after its update
    expected = [2, 2, 4, 4, 8] if hook == "losses" else [1, 2, 2, 4, 4]
    assert [row["weights"]["bc_0"] for row in rows] == expected


def test_progress_true_shows_the_bar_outside_a_terminal_too(capsys):
    """progress=True is a request: the bar shows in a log file or CI (pytest captures
    stderr, so it is not a terminal); the default shows it on a terminal only."""
    problem = poisson(GridTraining(0.5))
    problem.solve(3, seed=0, progress=True)
    assert "training" in capsys.readouterr().err
    problem.solve(3, seed=0)  # default: 3 < 500 steps, no bar
    problem.solve(3, seed=0, progress=False)
    assert capsys.readouterr().err == ""
