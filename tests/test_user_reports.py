"""Faults found by exploratory use (2026-12-01), each with the behaviour now expected.

* Residuals, NTK diagonals and training under ``torch.inference_mode()`` (derivatives
  were silently zero on the autograd path, NTK diagonals zero on the taylor path).
* A network that autograd cannot differentiate through (computed in NumPy, or from
  detached inputs) is refused where the problem differentiates it.
* Known parameters follow networks cast after ``discretize`` (from the system's values).
* A condition that fixes a coordinate and also uses it freely is warned about.
* Clearer messages: a derivative of ``Abs(u)``, ``Compose`` given a non-strategy,
  ``kernel_size``, ``reweight_every=True``/``None``, an unknown device.
* A custom strategy's point weights: warned about where the loss does not read them,
  refused when not ``(N, 1)`` where it does; the callback gets a copy of its row.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import sympy as sp
import torch
from torch import nn

from symbolic_pinn import (
    MLP,
    FreeCoordinateWarning,
    PDESystem,
    PhysicsInformedNN,
    ProblemError,
    StrategyError,
    SymbolicPinnWarning,
    TrainingError,
    discretize,
)
from symbolic_pinn.adaptive import (
    CausalAdaptiveLoss,
    Compose,
    NeuralTangentKernelAdaptiveLoss,
    term_ntk_diagonal,
)
from symbolic_pinn.training import (
    GridTraining,
    PointSet,
    QuadratureTraining,
    StochasticTraining,
    TrainingStrategy,
)

x, t, a = sp.symbols("x t a")
u = sp.Function("u")
POINTS = np.array([[0.2], [0.5], [0.9]])


def bar(params=None):
    """u'' + a u = 1 on [0, 1], u(0) = 0 (a = 1 unless given)."""
    return PDESystem([u(x).diff(x, 2) + a * u(x) - 1], [u(0)], {x: (0, 1)}, [x], [u(x)],
                     params=params or {a: 1})


def problem(derivatives, net=None, strategy=None, system=None, **pinn):
    torch.manual_seed(0)
    return discretize(system or bar(), PhysicsInformedNN(
        net or MLP(1, 1, [8]), strategy or StochasticTraining(8), derivatives=derivatives,
        **pinn))


@pytest.mark.parametrize("derivatives", ["taylor", "autograd"])
def test_residuals_and_ntk_under_inference_mode(derivatives):
    prob = problem(derivatives)
    pts = torch.tensor(POINTS, dtype=torch.float32)
    normal = prob.residuals["pde_0"](POINTS)
    diagonals = {m: term_ntk_diagonal(prob, "pde_0", pts, method=m)
                 for m in ("auto", "exact-vmap")}
    assert float(normal.detach().abs().min()) > 1e-3  # derivatives matter here
    with torch.inference_mode():
        made_inside = torch.tensor(POINTS, dtype=torch.float32)  # an inference tensor
        for points in (POINTS, made_inside):
            torch.testing.assert_close(prob.residuals["pde_0"](points), normal,
                                       rtol=1e-6, atol=0)
        for method, expected in diagonals.items():
            got = term_ntk_diagonal(prob, "pde_0", made_inside, method=method)
            torch.testing.assert_close(got, expected, rtol=1e-6, atol=0)
    with torch.no_grad():
        torch.testing.assert_close(prob.residuals["pde_0"](POINTS), normal, rtol=1e-6, atol=0)


def test_the_generated_helper_refuses_inference_mode():
    """Called directly (not through ``prob.residuals``), the autograd path's ``d`` raises
    under inference mode instead of taking the derivatives as zeros."""
    prob = problem("autograd")
    fn, points = prob.module.RESIDUALS["pde_0"], torch.tensor(POINTS, dtype=torch.float32)
    for grad_on in (False, True):  # enable_grad() inside inference_mode records nothing
        with torch.inference_mode(), torch.set_grad_enabled(grad_on), pytest.raises(
                RuntimeError, match=r"with gradients enabled \(not under .*inference_mode"):
            fn(prob.nets, points, prob.params)


@pytest.mark.parametrize("derivatives", ["taylor", "autograd"])
def test_solve_under_inference_mode_trains_as_usual(derivatives):
    plain = problem(derivatives).solve(5, seed=0, progress=False)
    prob = problem(derivatives)
    with torch.inference_mode():
        inside = prob.solve(5, seed=0, progress=False)
    assert inside.history == plain.history


class NumpySin(nn.Module):
    """u = sin(x), computed outside autograd."""

    def forward(self, z):
        return torch.as_tensor(np.sin(z.detach().cpu().numpy()), dtype=z.dtype)


class Detached(nn.Module):
    """Trainable, but its input is detached: every input derivative would be zero."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(1, 1)

    def forward(self, z):
        return self.layer(z.detach())


class InPlace(nn.Module):
    """Writes into its input: fine under no_grad, refused by autograd on a leaf."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(1, 1)

    def forward(self, z):
        return self.layer(z.mul_(2.0))


def test_a_network_that_fails_with_gradients_on_is_refused_by_name():
    with pytest.raises(TrainingError, match=r"network 0 \(for u\) fails on inputs that require "
                       r"gradients \(the derivatives of u\(x\) \(in pde_0\) need them\)"):
        problem("auto", net=InPlace())


@pytest.mark.parametrize("net", [NumpySin(), Detached()], ids=["numpy", "detached"])
def test_a_network_autograd_cannot_differentiate_is_refused(net):
    with pytest.raises(TrainingError, match=r"network 0 \(for u\) returns outputs that "
                       r"autograd cannot differentiate.*derivatives of u\(x\) \(in pde_0\)"):
        problem("auto", net=net)
    # where nothing of it is differentiated, it is fine
    algebraic = PDESystem([u(x) - 1], [u(0)], {x: (0, 1)}, [x], [u(x)])
    assert problem("auto", net=net, system=algebraic).term_names == ["pde_0", "bc_0"]


@pytest.mark.parametrize("derivatives", ["taylor", "autograd"])
def test_known_parameters_follow_networks_cast_after_discretize(derivatives):
    """``a = 0.1`` is not a float32 number: after ``prob.nets[0].double()`` the residual
    ``a u - u / 10`` is zero to float64 rounding, not float32's."""
    system = PDESystem([a * u(x) - u(x) / 10], [u(0)], {x: (0, 1)}, [x], [u(x)],
                       params={a: 0.1})
    prob = problem(derivatives, system=system)
    assert prob.params["a"].dtype == torch.float32
    prob.nets[0].double()
    r = prob.residuals["pde_0"](POINTS)
    assert r.dtype == prob.params["a"].dtype == torch.float64
    assert prob.params["a"].item() == 0.1
    assert float(r.detach().abs().max()) < 1e-15
    prob.params["a"] = torch.tensor(0.25, dtype=torch.float64)  # set by the user: kept
    prob.nets[0].float()
    prob.residuals["pde_0"](POINTS)
    assert (prob.params["a"].dtype, prob.params["a"].item()) == (torch.float32, 0.25)


def test_a_condition_that_fixes_and_uses_a_coordinate_is_warned_about():
    def heat(condition):
        return PDESystem([sp.Eq(u(x, t).diff(t), u(x, t).diff(x, 2))], [condition],
                         {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t)])

    pinn = PhysicsInformedNN(MLP(2, 1, [8]), GridTraining(0.25))
    with pytest.warns(FreeCoordinateWarning, match=r"term bc_0 \(Eq\(u\(0, t\), sin\(x \+ 1\)"
                      r"\)\): u\(0, t\) fixes x = 0 but the condition also uses x freely"):
        prob = discretize(heat(sp.Eq(u(0, t), sp.sin(x + 1))), pinn)
    assert prob.ir.terms[1].free == (0, 1)  # sampled over all of x: what is warned about
    with pytest.warns(FreeCoordinateWarning, match=r"u\(0\) fixes x = 0"):
        discretize(PDESystem([u(x).diff(x) + u(x)], [u(0) - x / 3], {x: (0, 1)}, [x],
                             [u(x)]), PhysicsInformedNN(MLP(1, 1, [8]), GridTraining(0.25)))
    with warnings.catch_warnings():  # a point value in a condition on a face; a face
        warnings.simplefilter("error", SymbolicPinnWarning)
        discretize(heat(sp.Eq(u(x, 0), x * u(0, 0))), pinn)
        discretize(heat(sp.Eq(u(0, t), sp.sin(t))), pinn)
        discretize(heat(sp.Eq(u(0, t), u(1, t))), pinn)
        discretize(heat(sp.Eq(u(t, 0), 0)), pinn)  # t fed to x's slot: on the face t = 0


def test_a_derivative_of_abs_names_the_remedy():
    U = u(x, t)
    system = PDESystem([sp.Derivative(sp.Abs(U), x) + U.diff(t)], [u(0, t)],
                       {x: (0, 1), t: (0, 1)}, [x, t], [U])
    with pytest.raises(ProblemError, match=r"term pde_0 .*cannot expand the derivative "
                       r"Derivative\(im\(u\(x, t\)\), x\).*sp.Function\('u', real=True\)"):
        discretize(system, PhysicsInformedNN(MLP(2, 1, [8]), GridTraining(0.25)))
    ur = sp.Function("u", real=True)
    R = ur(x, t)
    real = PDESystem([sp.Derivative(sp.Abs(R), x) + R.diff(t)], [ur(0, t)],
                     {x: (0, 1), t: (0, 1)}, [x, t], [R])
    prob = discretize(real, PhysicsInformedNN(MLP(2, 1, [8]), GridTraining(0.25)))
    assert str(prob.symbolic.residuals["pde_0"]) == "u_t + u_x*sign(u)"


def test_option_messages_name_what_was_given():
    with pytest.raises(StrategyError, match=r"argument 1 is 5, of type int"):
        Compose(NeuralTangentKernelAdaptiveLoss(3), 5)
    with pytest.raises(StrategyError, match=r"kernel_size must be a positive integer .*got 0"):
        NeuralTangentKernelAdaptiveLoss(10, kernel_points="stochastic", kernel_size=0)
    for bad in (True, None, 0, 2.5, "10"):
        with pytest.raises(StrategyError, match="reweight_every must be a positive integer"):
            NeuralTangentKernelAdaptiveLoss(bad)
    with pytest.raises(ProblemError, match=r"chain must be a torch.nn.Module, a list of them "
                       r"or a mapping .*got 'net'"):  # not three networks 'n', 'e', 't'
        discretize(bar(), PhysicsInformedNN("net", GridTraining(0.25)))
    prob = problem("auto")
    with pytest.raises(ValueError, match=r"device must be a torch device .*got 'tpu'"):
        prob.solve(1, device="tpu")
    with pytest.raises(ValueError, match="iterations must be a non-negative integer"):
        prob.solve(True)


class Weighted(TrainingStrategy):
    """Three points and weights (1, 0, 0) for every term with a free coordinate."""

    def __init__(self, flat=False):
        self.flat = flat

    def sample(self, ir, rng):
        points, weights = {}, {}
        for term in ir.terms:
            free = POINTS if term.free else np.zeros((1, 0))
            points[term.name] = self.place(ir, term, free)
            w = np.array([[1.0], [0.0], [0.0]])[: len(free)]
            weights[term.name] = w.reshape(-1) if self.flat else w
        return PointSet(points, weights)


class WeightedQuadrature(QuadratureTraining, Weighted):
    sample = Weighted.sample

    def __init__(self, flat=False):
        QuadratureTraining.__init__(self)
        Weighted.__init__(self, flat)


def test_point_weights_the_loss_does_not_read_are_warned_about():
    prob = problem("auto", strategy=Weighted())
    with pytest.warns(SymbolicPinnWarning, match="Weighted gave point weights, which the "
                      "generated loss does not read"):
        result = prob.solve(1, seed=0, progress=False, lr=0.0)
    r = prob.residuals["pde_0"](POINTS)
    assert result.history[0]["losses"]["pde_0"] == pytest.approx(float((r.detach()**2).mean()))


def test_quadrature_weights_must_be_one_per_point():
    weighted = problem("auto", strategy=WeightedQuadrature())
    result = weighted.solve(1, seed=0, progress=False, lr=0.0)
    r = weighted.residuals["pde_0"](POINTS)
    assert result.history[0]["losses"]["pde_0"] == pytest.approx(float(r[0].detach() ** 2))
    flat = problem("auto", strategy=WeightedQuadrature(flat=True))
    with pytest.raises(StrategyError, match=r"WeightedQuadrature gave weights of shape \(3,\) "
                       r"for term pde_0 .*must be \(N, 1\), one per point \(N = 3\)"):
        flat.solve(1, seed=0, progress=False)


def test_the_callback_gets_a_copy_of_its_row():
    """Nested dicts too (CausalAdaptiveLoss's rows hold {"causal": {"min_weight": {...}}})."""
    def meddle(row):
        row["loss"] = -1.0
        row["losses"]["pde_0"] = -1.0
        row["causal"]["min_weight"].clear()

    heat = PDESystem([u(x, t).diff(t) - u(x, t).diff(x, 2)], [sp.Eq(u(x, 0), sp.sin(x))],
                     {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t)])
    prob = problem("auto", net=MLP(2, 1, [8]), system=heat, strategy=GridTraining(0.25),
                   adaptive_loss=CausalAdaptiveLoss(t))
    result = prob.solve(3, seed=0, progress=False, callback=meddle)
    assert all(row["loss"] > 0 and row["losses"]["pde_0"] > 0 for row in result.history)
    assert all(row["causal"]["min_weight"] for row in result.history)


def test_a_quadrature_problem_needs_weights_for_every_term():
    class Partial(QuadratureTraining):
        def sample(self, ir, rng):
            given = super().sample(ir, rng)
            return PointSet(given.points, {"pde_0": given.weights["pde_0"]})

    with pytest.raises(StrategyError, match=r"Partial gave no point weights for term bc_0 "
                       r"\(u\(0\)\); the loss of a QuadratureTraining problem weights"):
        problem("auto", strategy=Partial()).solve(1, progress=False)


def test_ntk_parts_off_the_cpu_and_at_most_one_a_point(monkeypatch):
    """One part where the points are not on the CPU (the reason for parts is glibc's);
    never more parts than points."""
    from symbolic_pinn import ntk_units

    prob = problem("auto")
    assert ntk_units.parts(prob, [(["pde_0"], torch.zeros(10**6, 1, device="meta"))]) == 1
    assert ntk_units.parts(prob, [(["pde_0"], torch.zeros(10**6, 1))]) == 16  # width 8
    monkeypatch.setattr(ntk_units, "PART_BYTES", 1)
    blocks = [(["pde_0"], torch.zeros(5, 1)), (["bc_0"], torch.zeros(2, 1))]
    assert ntk_units.parts(prob, blocks) == 7
