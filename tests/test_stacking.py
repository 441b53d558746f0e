"""Terms at different points stacked into one ``jet`` call (:mod:`symbolic_pinn.stacking`).

The generated ``all_residuals`` evaluates the terms whose one call each asks a network
for the same channels (the conditions on the faces of a domain) by one call on their
stacked rows. Its residuals and their gradients must equal the per-term functions'
(1e-10 relative in float64, 1e-5 in float32), for terms of different sizes, with
coordinates and parameters in the residual, standardised inputs, derivative channels and
calls with several outputs (a Robin condition; two variables from one network).
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
import sympy as sp
import torch
from test_shared_points import mlp  # MLP(2, n_out, [12, 10]), nonzero biases

from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
from symbolic_pinn.analysis import analyze
from symbolic_pinn.codegen import GenerationOptions, generate
from symbolic_pinn.training import GridTraining, StochasticTraining

x, y, a = sp.symbols("x y a")
u, v = sp.Function("u"), sp.Function("v")


def system() -> PDESystem:
    """Three value conditions of u (one reads y and the estimated a, one sin(pi x)), two
    Neumann conditions of u, two value conditions of v (another network), one condition
    on both networks."""
    U, V = u(x, y), v(x, y)
    eqs = [U.diff(x, 2) + U.diff(y, 2) - a * sp.sin(x), V.diff(x) - U]
    bcs = [sp.Eq(u(0, y), 0), sp.Eq(u(1, y), a * y), sp.Eq(u(x, 0), sp.sin(sp.pi * x)),
           sp.Eq(U.diff(x).subs(x, 0), y), sp.Eq(U.diff(x).subs(x, 1), 0),
           sp.Eq(v(0, y), 0), sp.Eq(v(x, 2), x), sp.Eq(u(x, 2) + v(1, y), 1)]
    return PDESystem(eqs, bcs, {x: (0, 1), y: (0, 2)}, [x, y], [U, V], {a: 0.7})


def problem(strategy=None, dtype=torch.float64, **kw):
    pinn = PhysicsInformedNN([mlp(1, 1).to(dtype), mlp(1, 2).to(dtype)],
                             strategy or StochasticTraining(16, 4), param_estim=True,
                             input_scaling="standardize", **kw)
    return discretize(system(), pinn)


def stacked_terms(source: str) -> list[tuple[str, ...]]:
    """The terms of each stacked_residuals_<k> call in all_residuals, in order."""
    body = source.split("def all_residuals")[1].split("def make_closure")[0]
    return [tuple(re.findall(r'residuals\["(\w+)"\]', line))
            for line in body.splitlines() if "stacked_residuals_" in line]


def test_groups_are_the_terms_with_the_same_network_and_channels():
    prob = problem()
    assert stacked_terms(prob.source) == [("bc_0", "bc_1", "bc_2"), ("bc_3", "bc_4"),
                                          ("bc_5", "bc_6")]
    body = prob.source.split("def stacked_residuals_1")[1].split("def stacked_residuals_2")[0]
    assert body.count("jet(nets[0]") == 1 and "((1, 0),)" in body  # u_x, one call
    # bc_7 evaluates two networks: it keeps its own function
    assert 'residuals["bc_7"] = residual_bc_7(' in prob.source


def two_outputs(dtype=torch.float64):
    """u and v from one MLP(2, 2); two Robin conditions (value and u_x from one call: two
    outputs to split), two conditions on both variables (the value columns 0 and 1) and
    two on one variable each (v, then u): one call for the four value conditions."""
    U, V = u(x, y), v(x, y)
    eqs = [U.diff(x, 2) + V.diff(y, 2), V.diff(x) - U]
    bcs = [sp.Eq(u(0, y) + U.diff(x).subs(x, 0), y), sp.Eq(u(1, y) + U.diff(x).subs(x, 1), 0),
           sp.Eq(u(x, 0) + v(x, 0), x), sp.Eq(u(x, 2) - v(x, 2), 2), sp.Eq(v(0, y), 0),
           sp.Eq(u(1, y), y)]
    system = PDESystem(eqs, bcs, {x: (0, 1), y: (0, 2)}, [x, y], [U, V])
    return discretize(system, PhysicsInformedNN(mlp(2, 3).to(dtype), StochasticTraining(16, 4)))


def test_calls_with_several_outputs_are_split_per_output():
    prob = two_outputs()
    assert stacked_terms(prob.source) == [("bc_0", "bc_1"), ("bc_2", "bc_3", "bc_4", "bc_5")]
    body = prob.source.split("def stacked_residuals_0")[1].split("RESIDUALS = ")[0]
    assert body.count("torch.split(") == 4  # two outputs in each group
    # bc_4 reads v alone and bc_5 u alone: their rows of the other column are not used
    assert "u_bc_2, u_bc_3, unused, u_bc_5 = torch.split(u, " in body
    assert "v_bc_2, v_bc_3, v_bc_4, unused = torch.split(v, " in body
    assert_stacked_equal(prob, torch.float64)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_stacked_residuals_equal_the_per_term_ones(dtype):
    """Each term at its own number of points; residuals and loss gradients."""
    assert_stacked_equal(problem(dtype=dtype), dtype)
    assert_stacked_equal(two_outputs(dtype), dtype)


def assert_stacked_equal(prob, dtype):
    rtol = 1e-10 if dtype == torch.float64 else 1e-5
    gen = torch.Generator().manual_seed(0)
    points = {t: torch.rand(5 + 3 * i, 2, generator=gen, dtype=dtype) * torch.tensor(
        [1.0, 2.0], dtype=dtype) for i, t in enumerate(prob.term_names)}
    stacked = prob.module.all_residuals(prob.nets, points, prob.params)
    separate = {t: prob.module.RESIDUALS[t](prob.nets, points[t], prob.params)
                for t in prob.term_names}
    assert list(stacked) == list(prob.term_names)
    for term in prob.term_names:
        assert stacked[term].shape == separate[term].shape == (points[term].shape[0], 1)
        scale = float(separate[term].detach().abs().max()) + 1.0
        torch.testing.assert_close(stacked[term].detach(), separate[term].detach(), rtol=rtol,
                                   atol=rtol * scale, msg=lambda m, t=term: f"{t}: {m}")
    thetas = [p for net in prob.nets for p in net.parameters()] + list(prob.params.values())
    grads = [torch.autograd.grad(sum(r.square().mean() for r in rs.values()), thetas)
             for rs in (stacked, separate)]
    for i, (g, s) in enumerate(zip(*grads, strict=True)):
        torch.testing.assert_close(g, s, rtol=rtol, atol=rtol * (float(s.abs().max()) + 1.0),
                                   msg=lambda m, i=i: f"gradient {i}: {m}")


def test_terms_that_share_their_points_are_not_stacked():
    """Under GridTraining the conditions on one face share their points, and their calls
    (jet_calls.shared_groups): bc_0 and bc_3 (x = 0) and bc_1 and bc_4 (x = 1) are such
    groups (and the equations); of the value conditions of u only bc_2 is left, alone,
    and those of v are stacked."""
    prob = problem(GridTraining(0.25))
    assert prob.module.SHARED == (("pde_0", "pde_1"), ("bc_0", "bc_3"), ("bc_1", "bc_4"))
    assert stacked_terms(prob.source) == [("bc_5", "bc_6")]


def test_no_stacking_on_the_autograd_path_or_when_turned_off():
    ir = analyze(system(), {"u": (0, 0), "v": (1, 0)}, [None, None])
    assert "stacked_residuals" not in generate(ir, GenerationOptions(derivatives="autograd"))
    on = GenerationOptions(derivatives="taylor", shared_points=False)  # as StochasticTraining
    assert "stacked_residuals_2" in generate(ir, on)
    assert "stacked_residuals" not in generate(ir, replace(on, stack_calls=False))


def test_training_with_stacked_calls_converges():
    """u'' = -pi^2 sin(pi x) on [0, 1] with u = 0 at both ends: its two conditions are
    one call; 1500 Adam steps reach the exact solution sin(pi x) to 2e-2."""
    s = PDESystem([sp.Eq(u(x).diff(x, 2), -sp.pi**2 * sp.sin(sp.pi * x))], [u(0), u(1)],
                  {x: (0, 1)}, [x], [u(x)])
    torch.manual_seed(0)
    prob = discretize(s, PhysicsInformedNN(MLP(1, 1, [16, 16]), GridTraining(0.05)))
    assert stacked_terms(prob.source) == [("bc_0", "bc_1")]
    result = prob.solve(1500, lr=5e-3, seed=0, progress=False)
    grid = np.linspace(0, 1, 41)
    error = np.abs(result.predict({x: grid})["u"] - np.sin(np.pi * grid)).max()
    assert error < 2e-2


def test_stacked_calls_trace_as_one_graph():
    """torch.compile can take the stacked calls (split sizes from the points' shapes):
    one graph, no breaks."""
    prob = problem(dtype=torch.float32)
    points = {t: torch.rand(6 + i, 2) for i, t in enumerate(prob.term_names)}
    explained = torch._dynamo.explain(prob.module.all_residuals)(prob.nets, points,
                                                                 prob.params)
    assert (explained.graph_count, explained.graph_break_count) == (1, 0), \
        explained.break_reasons
