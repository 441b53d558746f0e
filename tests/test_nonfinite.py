"""Non-finite values: detected within the step they appear in; raise, or roll back.

Faults are injected by a network wrapper that, once armed, poisons the values (NaN)
or only the gradients (NaN in backward, finite values) of the rows on the face
``x = 1`` (term ``bc_1``), or by adaptive strategies that return NaN weights or wreck a
parameter after the optimizer step.
"""

from __future__ import annotations

import math
import warnings

import pytest
import sympy as sp
import torch
from neuralpde_poisson import poisson_system
from torch import nn

from symbolic_pinn import (
    MLP,
    NonFiniteError,
    PDESystem,
    PhysicsInformedNN,
    StrategyError,
    TrainingError,
    discretize,
)
from symbolic_pinn.adaptive import (
    AdaptiveLoss,
    GradientScaleAdaptiveLoss,
    GradNormAdaptiveLoss,
    NeuralTangentKernelAdaptiveLoss,
)
from symbolic_pinn.training import GridTraining

torch.set_num_threads(1)

x, y = sp.symbols("x y")
u = sp.Function("u")


class PoisonGrad(torch.autograd.Function):
    """Identity forward; NaN wherever a non-zero gradient flows back."""

    @staticmethod
    def forward(ctx, value):
        return value.clone()

    @staticmethod
    def backward(ctx, grad):
        return torch.where(grad != 0, torch.full_like(grad, float("nan")), grad)


class Faulty(nn.Module):
    """An MLP whose rows on the right edge (term bc_1) go bad while armed.

    ``kind``: ``"value"`` (NaN outputs: a non-finite residual and loss) or
    ``"gradient"`` (finite outputs, NaN gradients). ``skip`` bc_1 evaluations pass
    before the fault; it lasts ``times`` bc_1 evaluations (``None``: for good).
    """

    def __init__(self, kind: str):
        super().__init__()
        self.net = MLP(2, 1, [8])
        self.kind, self.armed, self.skip, self.times = kind, False, 0, None
        self.seen: list[list[torch.Tensor]] = []  # parameters at each bc_1 evaluation

    def reset_parameters(self):
        self.net.reset_parameters()

    def arm(self, skip: int = 0, times: int | None = None):
        self.armed, self.skip, self.times = True, skip, times

    def forward(self, inputs):
        out = self.net(inputs)
        yv = inputs[:, 1:2]
        mask = (inputs[:, 0:1] == 1.0) & (yv > 0) & (yv < 1)
        if not (self.armed and bool(mask.any())):
            return out
        self.seen.append([p.detach().clone() for p in self.net.parameters()])
        if self.skip > 0:
            self.skip -= 1
            return out
        if self.times is not None:
            if self.times == 0:
                return out
            self.times -= 1
        if self.kind == "value":
            return torch.where(mask, torch.full_like(out, float("nan")), out)
        return torch.where(mask, PoisonGrad.apply(out), out)


def faulty_problem(kind: str, adaptive_loss=None):
    net = Faulty(kind)
    pinn = PhysicsInformedNN(net, GridTraining(0.25), adaptive_loss=adaptive_loss)
    return discretize(poisson_system(), pinn), net


def arm_after(net, step: int, **kwargs):
    def callback(row):
        if row["step"] == step:
            net.arm(**kwargs)

    return callback


def params(problem):
    return [p.detach().clone() for net in problem.nets for p in net.parameters()]


# -- on_nonfinite="raise" ----------------------------------------------------------------


def test_nan_residual_is_caught_in_its_step_before_the_update():
    problem, net = faulty_problem("value")
    with pytest.raises(NonFiniteError, match=r"step 3: the loss of term bc_1 is nan") as info:
        problem.solve(8, lr=1e-2, seed=0, progress=False, callback=arm_after(net, 2))
    error = info.value
    assert isinstance(error, TrainingError)
    assert (error.step, error.term, error.quantity) == (3, "bc_1", "loss")
    assert [row["step"] for row in error.result.history] == [0, 1, 2, 3]
    assert math.isnan(error.result.history[-1]["losses"]["bc_1"])
    # the optimizer never applied the NaN gradient: the networks are those after step 2
    clean, _ = faulty_problem("value")
    clean.solve(3, lr=1e-2, seed=0, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(params(problem), params(clean)))


def test_nan_gradient_with_finite_loss_names_the_term_and_step():
    problem, net = faulty_problem("gradient")
    with pytest.raises(NonFiniteError, match=r"step 2: the gradient of term bc_1 is not finite"
                       ) as info:
        problem.solve(8, lr=1e-2, seed=0, progress=False, callback=arm_after(net, 1))
    assert (info.value.step, info.value.term, info.value.quantity) == (2, "bc_1", "gradient")
    last = info.value.result.history[-1]
    assert last["step"] == 2 and all(math.isfinite(v) for v in last["losses"].values())
    assert all(bool(torch.isfinite(p).all()) for p in params(problem))


def test_nan_gradient_with_lbfgs_is_caught_mid_step():
    problem, net = faulty_problem("gradient")
    with pytest.raises(NonFiniteError, match="step 1: the gradient of term bc_1"):
        problem.solve(5, lr=0.5, optimizer="lbfgs", optimizer_options={"max_iter": 5}, seed=0,
                      progress=False, callback=lambda row: net.arm(skip=2))


class NaNWeightAt(AdaptiveLoss):
    def __init__(self, step: int, times: int = 1):
        super().__init__(reweight_every=1)
        self.bad_step, self.times = step, times

    def update(self, ctx):
        if ctx.step == self.bad_step and self.times > 0:
            self.times -= 1
            return {"bc_2": float("nan")}
        return {"bc_2": 1.0 + ctx.step}


def test_nan_adaptive_weight_names_the_term_and_step():
    problem = discretize(poisson_system(), PhysicsInformedNN(
        MLP(2, 1, [8]), GridTraining(0.25), adaptive_loss=NaNWeightAt(2)))
    with pytest.raises(NonFiniteError, match=r"weight of term bc_2 to nan at step 2") as info:
        problem.solve(5, lr=1e-2, seed=0, progress=False)
    assert isinstance(info.value, StrategyError)  # still the strategy's fault, as before
    assert (info.value.step, info.value.term, info.value.quantity) == (2, "bc_2", "weight")
    assert [row["step"] for row in info.value.result.history] == [0, 1]


class WreckParameter(AdaptiveLoss):
    """Sets a parameter to inf after the optimizer step of ``step`` (like an overflow)."""

    needs = frozenset()
    hook = None

    def __init__(self, step: int, times: int = 1):
        super().__init__(reweight_every=1)
        self.bad_step, self.times, self.nets = step, times, None

    def prepare(self, setup):
        pass

    def is_due(self, step):
        return False

    def after_step(self, step):
        if step == self.bad_step and self.times > 0:
            self.times -= 1
            with torch.no_grad():
                next(self.target.parameters()).view(-1)[0] = float("inf")


def test_non_finite_parameters_after_the_step_are_caught_in_that_step():
    strategy = WreckParameter(3)
    net = MLP(2, 1, [8])
    strategy.target = net
    problem = discretize(poisson_system(), PhysicsInformedNN(net, GridTraining(0.25),
                                                             adaptive_loss=strategy))
    with pytest.raises(NonFiniteError, match=r"step 3: the parameters are not finite") as info:
        problem.solve(6, lr=1e-2, seed=0, progress=False)
    assert info.value.quantity == "parameters" and info.value.term is None


# -- on_nonfinite="rollback" ---------------------------------------------------------------


def test_rollback_survives_a_transient_nan_and_halves_the_learning_rate():
    problem, net = faulty_problem("value")
    schedule = lambda s: 0.9**s
    with pytest.warns(RuntimeWarning, match="rolled back to the state before step 3"):
        result = problem.solve(8, lr=1e-2, seed=0, progress=False, on_nonfinite="rollback",
                               lr_schedule=schedule, callback=arm_after(net, 2, times=1))
    assert result.rollbacks == [{"step": 3, "quantity": "loss", "term": "bc_1",
                                 "lr": pytest.approx(0.5e-2 * 0.9**3)}]
    assert [row["step"] for row in result.history] == list(range(8))
    assert all(math.isfinite(row["loss"]) for row in result.history)
    training = result.training
    assert training["scheduler_state"]["base_lrs"] == [pytest.approx(0.5e-2)]
    assert training["optimizer_state"]["param_groups"][0]["lr"] == pytest.approx(
        0.5e-2 * 0.9**8)
    # Adam counted only the 8 good steps
    assert all(int(s["step"]) == 8 for s in training["optimizer_state"]["state"].values())
    # the retry started from the state before step 3
    failed, retry = net.seen[0], net.seen[1]
    assert all(torch.equal(a, b) for a, b in zip(failed, retry))


def test_lbfgs_rollback_restores_parameters_moved_by_the_line_search():
    problem, net = faulty_problem("value")
    before = {}

    def callback(row):
        if row["step"] == 1:
            before["params"] = [p.detach().clone() for p in net.net.parameters()]
            net.arm(skip=3, times=1)  # the 4th evaluation of step 2: mid line search

    with pytest.warns(RuntimeWarning, match="rolled back"):
        result = problem.solve(4, lr=0.5, optimizer="lbfgs", optimizer_options={"max_iter": 6},
                               seed=0, progress=False, on_nonfinite="rollback",
                               callback=callback)
    assert result.rollbacks[0]["step"] == 2 and result.rollbacks[0]["lr"] == 0.25
    assert [row["step"] for row in result.history] == [0, 1, 2, 3]
    moved = net.seen[3]  # parameters at the failing evaluation
    assert not all(torch.equal(a, b) for a, b in zip(moved, before["params"]))
    retry = net.seen[4]  # first evaluation of the retried step
    assert all(torch.equal(a, b) for a, b in zip(retry, before["params"]))


def test_rollback_gives_up_after_consecutive_failures():
    problem, net = faulty_problem("gradient")
    with pytest.warns(RuntimeWarning), pytest.raises(
            NonFiniteError, match=r"step 2: the gradient of term bc_1 .*\[gave up after 3 "
                                  r"consecutive rollbacks; learning rate 0.00125") as info:
        problem.solve(8, lr=1e-2, seed=0, progress=False, on_nonfinite="rollback",
                      callback=arm_after(net, 1))  # for good: every retry fails
    result = info.value.result
    assert [r["step"] for r in result.rollbacks] == [2, 2, 2]
    assert [r["lr"] for r in result.rollbacks] == [5e-3, 2.5e-3, 1.25e-3]
    assert all(bool(torch.isfinite(p).all()) for p in params(problem))  # last good state


def test_lbfgs_rollback_that_gives_up_leaves_the_last_good_state():
    """Every 4th evaluation fails: the retried step's line search has moved the
    parameters again when it fails, and giving up restores the state before step 2."""
    problem, net = faulty_problem("value")
    before = {}

    def callback(row):
        if row["step"] == 1:
            before["params"] = [p.detach().clone() for p in net.net.parameters()]
            net.arm(skip=3, times=1)

    def rearm(module, inputs, out):  # after each fault, pass 3 evaluations, fail the 4th
        if net.armed and net.times == 0:
            net.arm(skip=3, times=1)

    net.register_forward_hook(rearm)
    with pytest.warns(RuntimeWarning, match="rolled back"), pytest.raises(
            NonFiniteError, match=r"step 2: .*gave up after 1 consecutive rollbacks"):
        problem.solve(4, lr=0.5, optimizer="lbfgs", optimizer_options={"max_iter": 6},
                      seed=0, progress=False, on_nonfinite="rollback", max_rollbacks=1,
                      callback=callback)
    moved = net.seen[7]  # parameters at the retried step's failing evaluation
    assert not all(torch.equal(a, b) for a, b in zip(moved, before["params"]))
    assert all(torch.equal(a, b) for a, b in zip(net.net.parameters(), before["params"]))


@pytest.mark.parametrize("schedule, step", [(lambda s: 1.0 if s < 1 else float("nan"), 1),
                                            (lambda s: 1.0 if s < 3 else float("inf"), 3),
                                            (lambda s: -1.0 if s == 2 else 1.0, 2)])
def test_a_learning_rate_schedule_gone_bad_stops_before_its_step(schedule, step):
    problem = discretize(poisson_system(), PhysicsInformedNN(MLP(2, 1, [8]), GridTraining(0.25)))
    seen = []
    with pytest.raises(TrainingError, match=f"learning rate for step {step} is "):
        problem.solve(6, lr=1e-2, seed=0, progress=False, lr_schedule=schedule,
                      callback=lambda row: seen.append(row["step"]) and None)
    assert seen == list(range(step))
    assert all(bool(torch.isfinite(p).all()) for p in params(problem))


def test_rollback_after_a_nan_weight_and_after_wrecked_parameters():
    problem = discretize(poisson_system(), PhysicsInformedNN(
        MLP(2, 1, [8]), GridTraining(0.25), adaptive_loss=NaNWeightAt(2)))
    with pytest.warns(RuntimeWarning, match="weight of term bc_2"):
        result = problem.solve(5, lr=1e-2, seed=0, progress=False, on_nonfinite="rollback")
    assert [(r["step"], r["quantity"], r["term"]) for r in result.rollbacks] == [
        (2, "weight", "bc_2")]
    assert [row["weights"]["bc_2"] for row in result.history] == [1.0, 2.0, 3.0, 4.0, 5.0]

    strategy, net = WreckParameter(3), MLP(2, 1, [8])
    strategy.target = net
    problem = discretize(poisson_system(), PhysicsInformedNN(net, GridTraining(0.25),
                                                             adaptive_loss=strategy))
    with pytest.warns(RuntimeWarning, match="parameters are not finite"):
        result = problem.solve(6, lr=1e-2, seed=0, progress=False, on_nonfinite="rollback")
    assert [(r["step"], r["quantity"]) for r in result.rollbacks] == [(3, "parameters")]
    assert all(bool(torch.isfinite(p).all()) for p in net.parameters())


def test_bad_on_nonfinite_arguments():
    problem, _ = faulty_problem("value")
    with pytest.raises(ValueError, match="on_nonfinite"):
        problem.solve(1, progress=False, on_nonfinite="ignore")
    with pytest.raises(ValueError, match="max_rollbacks"):
        problem.solve(1, progress=False, on_nonfinite="rollback", max_rollbacks=0)


# -- strategies that read gradients or NTK traces leave a NaN to the trainer ---------------

#: (class, options): each reweights at every step; their inputs go NaN with the residuals
READERS = [(NeuralTangentKernelAdaptiveLoss, {}), (GradNormAdaptiveLoss, {"smoothing": 0.5}),
           (GradientScaleAdaptiveLoss, {"weight_change_inertia": 0.5})]
READER_IDS = [cls.__name__ for cls, _ in READERS]


def sqrt_problem(cls, options):
    """``sqrt(u) = 1``: NaN residuals wherever the fresh network is negative (step 0)."""
    s = sp.Symbol("s")
    system = PDESystem([sp.Eq(sp.sqrt(u(s)), 1)], [sp.Eq(u(0), 1)], {s: (0, 1)}, [s], [u(s)])
    return discretize(system, PhysicsInformedNN(MLP(1, 1, [4]), GridTraining(0.25),
                                                adaptive_loss=cls(1, **options)))


@pytest.mark.parametrize("cls, options", READERS, ids=READER_IDS)
def test_a_nan_on_a_reweight_step_is_the_trainers_non_finite_error(cls, options):
    """Not a StrategyError from inside the update: the trainer's error, with the step,
    the term, its SymPy text and the partial result (regression)."""
    problem = sqrt_problem(cls, options)
    with pytest.raises(NonFiniteError, match=r"^step 0: the loss of term pde_0 is nan "
                       r"\(term pde_0 \(Eq\(sqrt\(u\(s\)\), 1\)\)\)") as info:
        problem.solve(3, lr=1e-2, seed=0, progress=False)
    error = info.value
    assert not isinstance(error, StrategyError)
    assert (error.step, error.term, error.quantity) == (0, "pde_0", "loss")
    [row] = error.result.history
    assert row["step"] == 0 and math.isnan(row["losses"]["pde_0"])
    assert row["weights"] == {"pde_0": 1.0, "bc_0": 1.0}  # the update changed nothing


@pytest.mark.parametrize("cls, options", READERS, ids=READER_IDS)
def test_a_nan_on_a_reweight_step_rolls_back(cls, options):
    problem = sqrt_problem(cls, options)
    with pytest.warns(RuntimeWarning, match="rolled back to the state before step 0"), \
            pytest.raises(NonFiniteError, match=r"step 0: the loss of term pde_0 is nan.*"
                          r"\[gave up after 2 consecutive rollbacks") as info:
        problem.solve(3, lr=1e-2, seed=0, progress=False, on_nonfinite="rollback",
                      max_rollbacks=2)
    result = info.value.result
    assert result.rollbacks == [{"step": 0, "quantity": "loss", "term": "pde_0", "lr": 5e-3},
                                {"step": 0, "quantity": "loss", "term": "pde_0", "lr": 2.5e-3}]
    assert all(bool(torch.isfinite(p).all()) for p in params(problem))


@pytest.mark.parametrize("cls, options", READERS[1:], ids=READER_IDS[1:])
def test_gradient_strategies_survive_a_transient_nan_by_rollback(cls, options):
    """A NaN at step 3 rolls back and the run goes on; until then, and in a run without
    a NaN, the strategy reweights as ever (``on_nonfinite`` changes nothing there)."""
    clean = faulty_problem("value", cls(1, **options))[0].solve(
        8, lr=1e-2, seed=0, progress=False)
    same = faulty_problem("value", cls(1, **options))[0].solve(
        8, lr=1e-2, seed=0, progress=False, on_nonfinite="rollback")
    assert same.history == clean.history and same.rollbacks == []
    assert clean.history[-1]["weights"] != clean.history[0]["weights"]  # it did reweight
    problem, net = faulty_problem("value", cls(1, **options))
    with pytest.warns(RuntimeWarning, match="rolled back to the state before step 3"):
        result = problem.solve(8, lr=1e-2, seed=0, progress=False, on_nonfinite="rollback",
                               callback=arm_after(net, 2, times=1))
    assert result.rollbacks == [{"step": 3, "quantity": "loss", "term": "bc_1", "lr": 5e-3}]
    assert [row["step"] for row in result.history] == list(range(8))
    assert all(math.isfinite(w) for row in result.history for w in row["weights"].values())
    assert result.history[:3] == clean.history[:3]


@pytest.mark.parametrize("cls, options", READERS[1:], ids=READER_IDS[1:])
def test_a_nan_gradient_with_finite_losses_warns_then_stops(cls, options):
    problem, net = faulty_problem("gradient", cls(1, **options))
    with pytest.warns(RuntimeWarning, match=f"{cls.__name__}: the gradient of the loss of "
                      "term bc_1 is not finite at step 2; no weight changes"), \
            pytest.raises(NonFiniteError, match="step 2: the gradient of term bc_1") as info:
        problem.solve(5, lr=1e-2, seed=0, progress=False, callback=arm_after(net, 1))
    history = info.value.result.history
    assert history[-1]["step"] == 2 and history[-1]["weights"] == history[-2]["weights"]


class _Wall(torch.nn.Module):
    """u = p x, with a loss that is NaN once p > 1.5 (the data want p = 3)."""

    def __init__(self):
        super().__init__()
        self.p = torch.nn.Parameter(torch.tensor([1.0]))

    def forward(self, z):
        return z * self.p + 0 * torch.sqrt(1.5 - self.p)


def test_rollback_goes_a_step_further_back_when_the_state_itself_is_bad():
    """A step whose loss, gradients and parameters were finite can still move to a state
    whose loss is NaN; retrying the next step from that state at a lower rate cannot
    help. It used to fail every retry and give up with a NonFiniteError."""
    x_ = sp.Symbol("x")
    f = sp.Function("u")
    system = PDESystem([sp.Eq(f(x_).diff(x_, 2), 0)], [sp.Eq(f(0), 0), sp.Eq(f(1), 3)],
                       {x_: (0, 1)}, [x_], [f(x_)])
    problem = discretize(system, PhysicsInformedNN(_Wall(), GridTraining(0.1)))
    with warnings.catch_warnings(record=True) as caught:  # one per rollback
        warnings.simplefilter("always")
        result = problem.solve(6, lr=0.2, optimizer="sgd", on_nonfinite="rollback",
                               max_rollbacks=5, progress=False)
    assert any("rolled back to the state before step 0 (the loss was still not finite"
               in str(w.message) for w in caught)
    assert [row["step"] for row in result.history] == list(range(6))  # each step once
    assert [r["step"] for r in result.rollbacks[:2]] == [1, 0]  # retried, then a step back
    assert all(math.isfinite(row["loss"]) for row in result.history)
    assert 1.0 < float(problem.nets[0].p.detach()) < 1.6


def test_a_callback_sees_a_step_redone_after_going_back_again():
    """The callback saw step 0 before the run went back to redo it: it sees the redone
    step 0 too (as the solve docstring says); the history holds each step once, the
    row of its last sighting."""
    x_ = sp.Symbol("x")
    f = sp.Function("u")
    system = PDESystem([sp.Eq(f(x_).diff(x_, 2), 0)], [sp.Eq(f(0), 0), sp.Eq(f(1), 3)],
                       {x_: (0, 1)}, [x_], [f(x_)])
    problem = discretize(system, PhysicsInformedNN(_Wall(), GridTraining(0.1)))
    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = problem.solve(6, lr=0.2, optimizer="sgd", on_nonfinite="rollback",
                               max_rollbacks=5, progress=False, callback=seen.append)
    assert [r["step"] for r in result.rollbacks[:2]] == [1, 0]  # it did go a step back
    assert [row["step"] for row in seen[:3]] == [0, 0, 1]  # (later steps go back too)
    last = {row["step"]: row for row in seen}  # each step's last sighting: the history's
    assert list(last.values()) == result.history and len(seen) > len(result.history)


def test_a_step_redone_after_going_back_is_counted_once_by_the_progress_bar(monkeypatch):
    from symbolic_pinn import solver

    bars = []
    real = solver._progress
    monkeypatch.setattr(solver, "_progress", lambda n, shown: bars.append(real(n, shown))
                        or bars[-1])
    x_ = sp.Symbol("x")
    f = sp.Function("u")
    system = PDESystem([sp.Eq(f(x_).diff(x_, 2), 0)], [sp.Eq(f(0), 0), sp.Eq(f(1), 3)],
                       {x_: (0, 1)}, [x_], [f(x_)])
    problem = discretize(system, PhysicsInformedNN(_Wall(), GridTraining(0.1)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        result = problem.solve(6, lr=0.2, optimizer="sgd", on_nonfinite="rollback",
                               max_rollbacks=5, progress=True)
    assert [r["step"] for r in result.rollbacks[:2]] == [1, 0]  # it did go a step back
    assert bars[0].n == 6


def test_rollbacks_that_make_no_progress_are_bounded():
    """Going back a step and redoing it is not progress: the count of rollbacks is reset
    only past the furthest step reached, so a run diverging over several steps gives up
    after max_rollbacks (SGD at lr 30 on a 1D Poisson problem: losses up to 3.6e35, then
    infinity), each retry at half the rate that failed."""
    x_ = sp.Symbol("x")
    f = sp.Function("u")
    system = PDESystem([sp.Eq(f(x_).diff(x_, 2), -sp.pi**2 * sp.sin(sp.pi * x_))],
                       [sp.Eq(f(0), 0), sp.Eq(f(1), 0)], {x_: (0, 1)}, [x_], [f(x_)])
    problem = discretize(system, PhysicsInformedNN(MLP(1, 1, [16, 16]), GridTraining(0.05)))
    with pytest.warns(RuntimeWarning), pytest.raises(NonFiniteError, match="gave up after 6"):
        problem.solve(30, lr=30, optimizer="sgd", seed=0, on_nonfinite="rollback",
                      max_rollbacks=6, progress=False)
    assert all(bool(torch.isfinite(p).all()) for p in params(problem))  # left finite


def test_large_finite_gradients_are_not_taken_for_non_finite_ones():
    """The check looks at every gradient entry, not at sums of them: 1024 entries of 1e36
    (float32's largest number is 3.4e38) sum to infinity, and each is finite. A data loss
    1e36 · Σ W₁ puts exactly that gradient on the first layer's weights; the step must
    train (Adam's step is then 0: its second moment overflows, its update stays finite)."""
    torch.manual_seed(0)
    net = MLP(2, 1, [512])
    first = next(net.parameters())  # the first layer's weight, (512, 2)
    assert first.numel() == 1024
    pinn = PhysicsInformedNN(net, GridTraining(0.5),
                             additional_loss=lambda funcs, params: 1e36 * first.sum())
    problem = discretize(poisson_system(), pinn)
    result = problem.solve(2, lr=1e-3, seed=0, progress=False)
    grad = first.grad
    assert torch.isfinite(grad).all() and not torch.isfinite(grad.sum())
    assert all(math.isfinite(row["loss"]) for row in result.history)
