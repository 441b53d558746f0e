"""The adaptive-loss hook contract (docs/adaptive_losses.md), standalone and in Compose."""

import math

import numpy as np
import pytest
import sympy as sp
import torch

from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
from symbolic_pinn.adaptive import AdaptiveLoss, Compose, Need, NonAdaptiveLoss
from symbolic_pinn.errors import NonFiniteWeightError, StrategyError
from symbolic_pinn.training import GridTraining

torch.set_num_threads(1)
x = sp.Symbol("x")
u = sp.Function("u")


def solve(strategy, steps=3, additional=False, **options):
    system = PDESystem([sp.Eq(u(x).diff(x, 2), -sp.pi**2 * sp.sin(sp.pi * x))],
                       [sp.Eq(u(0), 0), sp.Eq(u(1), 0)], {x: (0, 1)}, [x], [u(x)])
    xd = torch.linspace(0.1, 0.9, 5).reshape(-1, 1)
    data = (lambda f, p: ((f["u"](xd) - torch.sin(math.pi * xd[:, 0])) ** 2).mean())
    pinn = PhysicsInformedNN(MLP(1, 1, [5]), GridTraining(0.25), adaptive_loss=strategy,
                             additional_loss=data if additional else None)
    return discretize(system, pinn).solve(steps, seed=0, progress=False, **options)


class Returns(AdaptiveLoss):
    def __init__(self, value, **kw):
        super().__init__(**kw)
        self.value = value

    def update(self, ctx):
        return self.value()


class Fixed(AdaptiveLoss):  # never reweights: hook None, update inherited (raises)
    hook = None
    needs = frozenset()

    def initial_weights(self, term_names, kinds):
        return {t: 10.0 if kinds[t] == "bc" else 1.0 for t in term_names}


def test_hook_none_component_never_updated_in_compose():
    result = solve(Compose(Fixed(), Returns(lambda: None)))
    assert result.weights == {"pde_0": 1.0, "bc_0": 10.0, "bc_1": 10.0}


BAD_WEIGHTS = [
    (lambda: {"nope": 1.0}, StrategyError, "unknown term 'nope'; the terms are ['pde_0'"),
    (lambda: {"bc_0": -1.0}, StrategyError, "term bc_0 to -1.0"),
    (lambda: {"bc_0": float("nan")}, NonFiniteWeightError, "term bc_0 to nan"),
    (lambda: {"bc_0": "abc"}, StrategyError, "not a number"),
    (lambda: {"bc_0": None}, StrategyError, "not a number"),
    (lambda: [("bc_0", 1.0)], StrategyError, "update returned a list"),
    (lambda: {"bc_0": torch.tensor([1.0, 2.0])}, StrategyError, "not a number"),
]


@pytest.mark.parametrize("value, error, message", BAD_WEIGHTS)
@pytest.mark.parametrize("compose", [False, True])
def test_update_weights_checked_standalone_and_in_compose(value, error, message, compose):
    bad = Returns(value)
    strategy = Compose(NonAdaptiveLoss(), bad) if compose else bad
    with pytest.raises(error, match="^Returns") as info:
        solve(strategy, steps=1)
    assert message in str(info.value)


class Initial(AdaptiveLoss):
    hook = None
    needs = frozenset()

    def __init__(self, weights):
        super().__init__()
        self.given = weights

    def initial_weights(self, term_names, kinds):
        return self.given


@pytest.mark.parametrize("weights, error, message", [
    ({"pde_0": 1.0, "bc_0": 1.0, "bc_1": -1.0}, StrategyError, "bc_1 to -1.0"),
    ({"pde_0": 1.0, "bc_0": 1.0, "bc_1": float("nan")}, NonFiniteWeightError, "bc_1 to nan"),
    ({"pde_0": 1.0, "bc_0": 1.0}, StrategyError, "no weight for the terms ['bc_1']"),
    ({"pde_0": 1.0, "bc_0": 1.0, "bc_1": 1.0, "bcc_1": 5.0}, StrategyError, "'bcc_1'"),
    ({"pde_0": 1.0, "bc_0": 1.0, "bc_1": "2"}, StrategyError, "not a number"),
])
@pytest.mark.parametrize("compose", [False, True])
def test_initial_weights_checked(weights, error, message, compose):
    strategy = Compose(NonAdaptiveLoss(), Initial(weights)) if compose else Initial(weights)
    with pytest.raises(error, match=r"^Initial\.initial_weights") as info:
        solve(strategy, steps=1)
    assert message in str(info.value)


def test_initial_weights_stored_as_plain_floats():
    grad = torch.tensor(2.0, requires_grad=True)
    strategy = Initial({"pde_0": 1, "bc_0": grad, "bc_1": 1.0})
    result = solve(strategy, steps=1)
    assert result.weights == {"pde_0": 1.0, "bc_0": 2.0, "bc_1": 1.0}
    assert all(type(w) is float for w in strategy.weights.values())


class Widens(AdaptiveLoss):
    def __init__(self, extra, hook):
        super().__init__()
        self.extra, self.hook = extra, hook

    def needs_at(self, step):
        return frozenset({Need.LOSSES, self.extra})

    def update(self, ctx):
        return None


@pytest.mark.parametrize("extra, hook", [(Need.GRADIENTS, "step"),
                                         (Need.RESIDUALS, "losses")])
@pytest.mark.parametrize("compose", [False, True])
def test_needs_at_only_narrows(extra, hook, compose):
    strategy = Widens(extra, hook)
    with pytest.raises(StrategyError, match=rf"^Widens\.needs_at\(0\) asked for {extra.value}"):
        solve(Compose(NonAdaptiveLoss(), strategy) if compose else strategy, steps=1)


class SeesLosses(AdaptiveLoss):
    def update(self, ctx):
        self.keys = sorted(ctx.losses)


@pytest.mark.parametrize("hook", ["losses", "step"])
def test_ctx_losses_hold_the_terms_only(hook):
    strategy = SeesLosses()
    strategy.hook = hook
    result = solve(strategy, steps=2, additional=True)
    assert strategy.keys == ["bc_0", "bc_1", "pde_0"]
    assert "additional" in result.history[0]["losses"]  # the history rows keep it


class RandomDue(AdaptiveLoss):
    needs = frozenset({Need.LOSSES, Need.GRADIENTS})

    def initial_weights(self, term_names, kinds):
        self.rng, self.calls, self.seen = np.random.default_rng(1), {}, []
        return super().initial_weights(term_names, kinds)

    def is_due(self, step):
        self.calls[step] = self.calls.get(step, 0) + 1
        return bool(self.rng.random() < 0.5)

    def update(self, ctx):
        self.seen.append(ctx.gradients is not None)


def test_is_due_once_per_step_under_lbfgs():
    strategy = RandomDue()
    solve(strategy, steps=4, optimizer="lbfgs", optimizer_options={"max_iter": 5},
          dtype=torch.float64)
    assert strategy.calls == {0: 1, 1: 1, 2: 1, 3: 1}


def test_is_due_once_per_step_in_compose():
    strategy = RandomDue()
    solve(Compose(strategy, NonAdaptiveLoss()), steps=6)
    assert strategy.calls == {s: 1 for s in range(6)}
    assert strategy.seen and all(strategy.seen)  # updated only with its gradients


class PointWeights(AdaptiveLoss):
    needs = frozenset({Need.LOSSES, Need.POINT_WEIGHTS})

    def __init__(self, make):
        super().__init__()
        self.make = make

    def update(self, ctx):
        return None

    def point_weights(self, residuals, step):
        return {"pde_0": self.make(residuals["pde_0"])}


@pytest.mark.parametrize("make, found", [
    (lambda r: np.ones((r.shape[0], 1)), "ndarray"),
    (lambda r: [1.0] * r.shape[0], "list"),
    (lambda r: "x", "str"),
])
@pytest.mark.parametrize("compose", [False, True])
def test_point_weights_must_be_tensors(make, found, compose):
    strategy = PointWeights(make)
    with pytest.raises(StrategyError, match=rf"^PointWeights gave point weights of type {found} "
                                            r"for term pde_0; expected a torch.Tensor of shape"):
        solve(Compose(strategy, NonAdaptiveLoss()) if compose else strategy, steps=1)


def test_point_weights_checked_in_compose():
    strategy = PointWeights(lambda r: torch.ones(r.shape[0]))
    with pytest.raises(StrategyError, match=r"^PointWeights gave point weights of shape \(3,\)"):
        solve(Compose(strategy, NonAdaptiveLoss()), steps=1)


def test_nan_point_weights_are_named_in_the_error():
    """Point-weight values are not checked (a host sync per step); a non-finite loss
    that they may have caused names them beside the usual suspects."""
    from symbolic_pinn.errors import NonFiniteError

    with pytest.raises(NonFiniteError, match=r"the loss of term pde_0 is nan.*lower the "
                                             r"learning rate.*or the point weights of "
                                             r"PointWeights, whose values are not checked"):
        solve(PointWeights(lambda r: torch.full_like(r, math.nan)), steps=1)
    with pytest.raises(NonFiniteError) as info:  # without point weights: not named
        solve(NonAdaptiveLoss(), steps=5, lr=1e30)
    assert "point weights" not in str(info.value)


@pytest.mark.parametrize("number", [np.float32(2.0), np.int64(2), 2, 2.0, True])
def test_point_weights_may_be_plain_numbers(number):
    """A number (NumPy's included) weights every point of the term alike, as before."""
    scaled = solve(PointWeights(lambda r: number), steps=1, lr=0.0, dtype=torch.float64)
    plain = solve(NonAdaptiveLoss(), steps=1, lr=0.0, dtype=torch.float64)
    assert scaled.history[0]["losses"]["pde_0"] == pytest.approx(
        float(number) * plain.history[0]["losses"]["pde_0"], rel=1e-12)
