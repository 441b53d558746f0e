"""Terms at different points stacked into one ``jet`` call (:mod:`symbolic_pinn.stacking`).

The generated ``all_residuals`` evaluates the terms whose one call each asks a network
for the same channels (the conditions on the faces of a domain) by one call on their
stacked rows. Its residuals and their gradients must equal the per-term functions'
(1e-10 relative in float64, 1e-5 in float32), for terms of different sizes, with
coordinates and parameters in the residual, standardised inputs, derivative channels and
calls with several outputs (a Robin condition; two variables from one network). On the
autograd path (any ``nn.Module``) terms are stacked into one call of the network (values,
and derivatives by one DAG on the stacked coordinates), with the same checks.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
import sympy as sp
import torch
from test_shared_points import kovasznay, mlp  # mlp: MLP(2, n_out, [12, 10]), nonzero biases

from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, codegen, discretize, loading
from symbolic_pinn.analysis import analyze
from symbolic_pinn.codegen import GenerationOptions, generate
from symbolic_pinn.run import Run
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


def problem(strategy=None, dtype=torch.float64, nets=None, **kw):
    nets = [mlp(1, 1), mlp(1, 2)] if nets is None else nets
    pinn = PhysicsInformedNN([net.to(dtype) for net in nets],
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


def two_outputs(dtype=torch.float64, net=None):
    """u and v from one MLP(2, 2); two Robin conditions (value and u_x from one call: two
    outputs to split), two conditions on both variables (the value columns 0 and 1) and
    two on one variable each (v, then u): one call for the four value conditions."""
    U, V = u(x, y), v(x, y)
    eqs = [U.diff(x, 2) + V.diff(y, 2), V.diff(x) - U]
    bcs = [sp.Eq(u(0, y) + U.diff(x).subs(x, 0), y), sp.Eq(u(1, y) + U.diff(x).subs(x, 1), 0),
           sp.Eq(u(x, 0) + v(x, 0), x), sp.Eq(u(x, 2) - v(x, 2), 2), sp.Eq(v(0, y), 0),
           sp.Eq(u(1, y), y)]
    system = PDESystem(eqs, bcs, {x: (0, 1), y: (0, 2)}, [x, y], [U, V])
    net = (mlp(2, 3) if net is None else net).to(dtype)
    return discretize(system, PhysicsInformedNN(net, StochasticTraining(16, 4)))


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


def own_points(prob, dtype):
    """Points of each term, 5, 8, 11, ... rows, in the domain [0, 1] x [0, 2]."""
    gen = torch.Generator().manual_seed(0)
    return {t: torch.rand(5 + 3 * i, 2, generator=gen, dtype=dtype) * torch.tensor(
        [1.0, 2.0], dtype=dtype) for i, t in enumerate(prob.term_names)}


def assert_stacked_equal(prob, dtype):
    """all_residuals against the per-term functions, each term at its own points."""
    assert_all_residuals_equal(prob, own_points(prob, dtype), dtype)


def shared_points(prob, dtype=torch.float64, apart=False):
    """Points of each term (:func:`own_points`), those of each group of ``SHARED`` one
    tensor, as the run makes them (``apart``: the group's later members get copies moved
    a little, so the group does not share them)."""
    points = own_points(prob, dtype)
    for group in prob.module.SHARED:
        for t in group[1:]:
            points[t] = points[group[0]] * 0.99 + 0.001 if apart else points[group[0]]
    return points


def assert_all_residuals_equal(prob, points, dtype=torch.float64, stacked_calls=None,
                               monkeypatch=None):
    """all_residuals against each term's own function at ``points`` (residuals and loss
    gradients); ``stacked_calls`` (with ``monkeypatch``): how many times its stacked
    functions must run."""
    rtol = 1e-10 if dtype == torch.float64 else 1e-5
    calls = []
    module = prob.module
    if stacked_calls is not None:
        def counted(name, real):
            return lambda *args: calls.append(name) or real(*args)

        for name in [n for n in vars(module) if n.startswith("stacked_residuals_")]:
            monkeypatch.setattr(module, name, counted(name, getattr(module, name)))
    together = module.all_residuals(prob.nets, points, prob.params)
    if stacked_calls is not None:
        assert len(calls) == stacked_calls, calls
    separate = {t: module.RESIDUALS[t](prob.nets, points[t], prob.params)
                for t in prob.term_names}
    assert list(together) == list(prob.term_names)
    for term in prob.term_names:
        assert together[term].shape == separate[term].shape == (points[term].shape[0], 1)
        scale = float(separate[term].detach().abs().max()) + 1.0
        torch.testing.assert_close(together[term].detach(), separate[term].detach(),
                                   rtol=rtol, atol=rtol * scale,
                                   msg=lambda m, t=term: f"{t}: {m}")
    thetas = [p for net in prob.nets for p in net.parameters()] + list(prob.params.values())
    grads = [torch.autograd.grad(sum(r.square().mean() for r in rs.values()), thetas)
             for rs in (together, separate)]
    for i, (g, s) in enumerate(zip(*grads, strict=True)):
        torch.testing.assert_close(g, s, rtol=rtol, atol=rtol * (float(s.abs().max()) + 1.0),
                                   msg=lambda m, i=i: f"gradient {i}: {m}")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_groups_of_shared_points_on_different_faces_are_stacked(dtype, monkeypatch):
    """Under GridTraining the conditions on one face share their points, and their calls
    (jet_calls.shared_groups): bc_0 and bc_3 (x = 0: u and u_x) and bc_1 and bc_4 (x = 1)
    are such groups, and the two groups' calls are one, on both faces' rows. bc_2 reads
    the value of u alone: another call, with no partner. When a group's points differ,
    all_residuals evaluates its terms apart."""
    prob = problem(GridTraining(0.25), dtype=dtype)
    assert prob.module.SHARED == (("pde_0", "pde_1"), ("bc_0", "bc_3"), ("bc_1", "bc_4"))
    assert stacked_terms(prob.source) == [("bc_0", "bc_3", "bc_1", "bc_4"), ("bc_5", "bc_6")]
    body = prob.source.split("def stacked_residuals_0")[1].split("def stacked_residuals_1")[0]
    assert body.count("jet(nets[0]") == 1
    assert "u_bc_0, u_bc_1 = torch.split(u, " in body
    assert "u_x_bc_0, u_x_bc_1 = torch.split(u_x, " in body
    assert_all_residuals_equal(prob, shared_points(prob, dtype), dtype, 2, monkeypatch)
    apart = shared_points(prob, dtype, apart=True)
    assert_all_residuals_equal(prob, apart, dtype, 1, monkeypatch)  # bc_5 and bc_6 only


def values_of_two_variables(strategy, dtype=torch.float64):
    """u and v from one MLP(2, 2): at x = 0 and at x = 1 a condition on each (two groups
    under GridTraining), at y = 0 one on u, at y = 2 one on v."""
    U, V = u(x, y), v(x, y)
    bcs = [sp.Eq(u(0, y), y), sp.Eq(v(0, y), 0), sp.Eq(u(1, y), sp.sin(y)), sp.Eq(v(1, y), 1),
           sp.Eq(u(x, 0), x), sp.Eq(v(x, 2), 0)]
    system = PDESystem([U.diff(x, 2) + V.diff(y, 2), V.diff(x) - U], bcs,
                       {x: (0, 1), y: (0, 2)}, [x, y], [U, V])
    return discretize(system, PhysicsInformedNN(mlp(2, 3).to(dtype), strategy))


def test_groups_stack_with_groups_and_terms_with_terms(monkeypatch):
    """The two groups are one call, the two single terms another: the terms' call does
    not wait on the groups' points being shared, and when they are not, the groups are
    evaluated apart (each term's own call here) while the terms stay stacked."""
    prob = values_of_two_variables(GridTraining(0.25))
    assert prob.module.SHARED == (("pde_0", "pde_1"), ("bc_0", "bc_1"), ("bc_2", "bc_3"))
    assert stacked_terms(prob.source) == [("bc_0", "bc_1", "bc_2", "bc_3"), ("bc_4", "bc_5")]
    body = prob.source.split("def stacked_residuals_1")[1].split("RESIDUALS = ")[0]
    assert "u_bc_4, unused = torch.split(u, " in body  # bc_5 reads v alone
    assert "unused, v_bc_5 = torch.split(v, " in body  # bc_4 reads u alone
    assert_all_residuals_equal(prob, shared_points(prob), stacked_calls=2,
                               monkeypatch=monkeypatch)
    assert_all_residuals_equal(prob, shared_points(prob, apart=True), stacked_calls=1,
                               monkeypatch=monkeypatch)


def test_kovasznay_conditions_on_a_grid_are_one_call(monkeypatch):
    """The nine conditions on u, v and p on the four faces (four groups of shared
    points): one jet call, at the points the run makes; torch.compile traces it as one
    graph."""
    torch.manual_seed(0)
    prob = discretize(kovasznay(), PhysicsInformedNN(MLP(2, 3, [16, 16]).double(),
                                                     GridTraining(0.25)))
    assert len(prob.module.SHARED) == 5
    (terms,) = stacked_terms(prob.source)
    assert sorted(terms) == [f"bc_{i}" for i in range(9)]
    run = Run(prob, "adam", lambda ps: torch.optim.Adam(ps, lr=1e-3),
              np.random.default_rng(0), torch.device("cpu"), torch.float64)
    assert_all_residuals_equal(prob, run.points, stacked_calls=1, monkeypatch=monkeypatch)
    explained = torch._dynamo.explain(prob.module.all_residuals)(prob.nets, run.points,
                                                                 prob.params)
    assert (explained.graph_count, explained.graph_break_count) == (1, 0), \
        explained.break_reasons


@pytest.mark.parametrize("derivatives", ["auto", "autograd"])
def test_training_is_the_same_with_and_without_stacked_groups(derivatives):
    """Ten Adam steps under GridTraining, from the same networks, with the groups of
    shared points stacked (on the autograd path: the value conditions) and with the
    calls apart (stack_calls=False)."""
    histories = []
    for stack in (True, False):
        prob = problem(GridTraining(0.25), dtype=torch.float32, derivatives=derivatives)
        if not stack:
            real = codegen.stacked_groups
            codegen.stacked_groups = lambda ir, terms, shared: []
            try:
                loading._LOADED.clear()
                prob = problem(GridTraining(0.25), dtype=torch.float32,
                               derivatives=derivatives)
            finally:
                codegen.stacked_groups = real
                loading._LOADED.clear()
        assert ("stacked_residuals_0" in prob.source) == stack
        histories.append(prob.solve(iterations=10, seed=0, progress=False).history)
    for h1, h2 in zip(*histories, strict=True):
        for term, value in h2["losses"].items():
            assert h1["losses"][term] == pytest.approx(value, rel=1e-5, abs=1e-7), term


def test_stacking_on_both_paths_and_turned_off():
    """Both paths stack the same three groups (the Neumann conditions too);
    stack_calls=False turns them off."""
    ir = analyze(system(), {"u": (0, 0), "v": (1, 0)}, [None, None])
    on = GenerationOptions(derivatives="taylor", shared_points=False)  # as StochasticTraining
    assert "stacked_residuals_2" in generate(ir, on)
    assert "stacked_residuals" not in generate(ir, replace(on, stack_calls=False))
    autograd = replace(on, derivatives="autograd")
    assert stacked_terms(generate(ir, autograd)) == stacked_terms(generate(ir, on))
    assert "stacked_residuals" not in generate(ir, replace(autograd, stack_calls=False))


class Features(torch.nn.Module):
    """Not an MLP (the autograd path's kind of network): sin features, then a layer."""

    def __init__(self, n_out: int) -> None:
        super().__init__()
        self.inner, self.outer = torch.nn.Linear(2, 9), torch.nn.Linear(9, n_out)

    def forward(self, z):
        return self.outer(torch.sin(self.inner(z)) + z[:, :1] * z[:, 1:])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_autograd_path_stacks_values_and_derivatives(dtype, monkeypatch):
    """On the autograd path the value conditions of u (bc_0, bc_1, bc_2) are one call of
    the network, those of v (bc_5, bc_6, another network) another, and the Neumann
    conditions (bc_3, bc_4: u_x at x = 0 and 1) a third, whose derivative is taken once
    on the stacked rows; bc_7 evaluates two networks and keeps its own function."""
    torch.manual_seed(0)
    prob = problem(dtype=dtype, nets=[Features(1), Features(1)])
    assert stacked_terms(prob.source) == [("bc_0", "bc_1", "bc_2"), ("bc_3", "bc_4"),
                                          ("bc_5", "bc_6")]
    body = prob.source.split("def stacked_residuals_0")[1].split("def stacked_residuals_1")[0]
    assert body.count("nets[0](") == 1 and "jet(" not in body and " d(" not in body
    assert re.search(r"\n    u = nets\[0\]\(.*\)\[:, 0:1\]  # u\(x, y\)\n", body)
    body = prob.source.split("def stacked_residuals_1")[1].split("def stacked_residuals_2")[0]
    assert body.count("nets[0](") == 1 and body.count(" d(") == 1
    assert "    x = coordinate(torch.cat((x_bc_3, x_bc_4)))\n" in body
    assert "    y = torch.cat((y_bc_3, y_bc_4))\n" in body  # (not differentiated)
    assert "    u_x = d(u, x)\n    u_x_bc_3, u_x_bc_4 = torch.split(u_x, " in body
    assert 'residuals["bc_7"] = residual_bc_7(' in prob.source
    assert_all_residuals_equal(prob, own_points(prob, dtype), dtype, 3, monkeypatch)


def test_autograd_path_splits_a_call_with_several_outputs(monkeypatch):
    """u and v from one network: the four value conditions are one call whose output
    columns are taken apart by name; the two Robin conditions (u and u_x) another."""
    torch.manual_seed(0)
    prob = two_outputs(net=Features(2))
    assert stacked_terms(prob.source) == [("bc_0", "bc_1"), ("bc_2", "bc_3", "bc_4", "bc_5")]
    body = prob.source.split("def stacked_residuals_1")[1].split("RESIDUALS = ")[0]
    assert "    net0_out = nets[0](torch.cat((torch.cat((x_bc_2, x_bc_3, x_bc_4, x_bc_5))" in body
    assert "    u = net0_out[:, 0:1]\n    v = net0_out[:, 1:2]\n" in body
    assert "u_bc_2, u_bc_3, unused, u_bc_5 = torch.split(u, " in body
    assert "v_bc_2, v_bc_3, v_bc_4, unused = torch.split(v, " in body
    assert_all_residuals_equal(prob, own_points(prob, torch.float64), torch.float64, 2,
                               monkeypatch)


def test_autograd_path_reads_the_one_column_its_terms_read(monkeypatch):
    """Conditions on v alone, the second output of the network: one call, column 1."""
    U, V = u(x, y), v(x, y)
    system = PDESystem([U.diff(x, 2) + V.diff(y, 2), V.diff(x) - U],
                       [sp.Eq(v(0, y), y), sp.Eq(v(1, y), 0), sp.Eq(U.diff(y).subs(y, 0), 0)],
                       {x: (0, 1), y: (0, 2)}, [x, y], [U, V])
    torch.manual_seed(0)
    prob = discretize(system, PhysicsInformedNN(Features(2).double(), StochasticTraining(16, 4)))
    assert stacked_terms(prob.source) == [("bc_0", "bc_1")]
    assert re.search(r"\n    v = nets\[0\]\(.*\)\[:, 1:2\]  # v\(x, y\)\n", prob.source)
    assert_all_residuals_equal(prob, own_points(prob, torch.float64), torch.float64, 1,
                               monkeypatch)


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


def test_autograd_path_stacks_a_dag_of_two_outputs(monkeypatch):
    """u and v from one network, a condition on u_x + v_y on each of two faces y = 0 and
    y = 2 (x free: differentiated; y fixed): one network call whose two columns feed
    the DAG; at points that are part of the caller's graph as well."""
    U, V = u(x, y), v(x, y)
    system = PDESystem([U.diff(x, 2) + V.diff(y, 2), V.diff(x) - U],
                       [sp.Eq((U.diff(x) + V.diff(y)).subs(y, 0), x),
                        sp.Eq((U.diff(x) + V.diff(y)).subs(y, 2), 0)],
                       {x: (0, 1), y: (0, 2)}, [x, y], [U, V])
    torch.manual_seed(0)
    prob = discretize(system, PhysicsInformedNN(Features(2).double(), StochasticTraining(16, 4)))
    assert stacked_terms(prob.source) == [("bc_0", "bc_1")]
    body = prob.source.split("def stacked_residuals_0")[1].split("RESIDUALS = ")[0]
    assert "    x = coordinate(torch.cat((x_bc_0, x_bc_1)))\n" in body
    assert "    y = coordinate(torch.cat((y_bc_0, y_bc_1)))\n" in body
    assert "    u = net0_out[:, 0:1]  # u(x, y)\n    v = net0_out[:, 1:2]  # v(x, y)\n" in body
    assert body.count(" d(") == 2
    points = own_points(prob, torch.float64)
    assert_all_residuals_equal(prob, points, torch.float64, 1, monkeypatch)
    in_graph = {t: p.clone().requires_grad_(True) for t, p in points.items()}
    assert_all_residuals_equal(prob, in_graph, torch.float64, 1, monkeypatch)


def test_autograd_path_defines_the_helpers_the_stacked_dag_needs():
    """An algebraic equation and two Neumann conditions: no term's function marks a
    free coordinate for differentiation (the conditions fix theirs), the stacked DAG
    does, so the module must define ``coordinate`` for it."""
    s = PDESystem([u(x) - sp.sin(x)], [sp.Eq(u(x).diff(x).subs(x, 0), 1),
                                       sp.Eq(u(x).diff(x).subs(x, 1), sp.cos(1))],
                  {x: (0, 1)}, [x], [u(x)])
    torch.manual_seed(0)
    prob = discretize(s, PhysicsInformedNN(Features1D(), StochasticTraining(8, 3)))
    assert stacked_terms(prob.source) == [("bc_0", "bc_1")]
    points = {t: torch.rand(4 + i, 1, dtype=torch.float64) for i, t in enumerate(prob.term_names)}
    assert_all_residuals_equal(prob, points)


class Features1D(torch.nn.Module):
    """One input, not an MLP."""

    def __init__(self) -> None:
        super().__init__()
        self.inner, self.outer = torch.nn.Linear(1, 7), torch.nn.Linear(7, 1)
        self.double()

    def forward(self, z):
        return self.outer(torch.sin(self.inner(z)))


def periodic(dtype=torch.float64, net=None, **kw):
    """Conditions that evaluate u at several inputs: values at x = 0 and 1 (reading y and
    the estimated a), slopes at x = 0 and 1, values at three inputs, and a value at x = 0
    against a slope at x = 1 (two calls that ask for different channels); two value
    conditions at one input each. Inputs standardised."""
    U = u(x, y)
    ux = U.diff(x)
    bcs = [sp.Eq(u(x, 0), sp.sin(sp.pi * x)), sp.Eq(u(0, y) - u(1, y), a * y),
           sp.Eq(ux.subs(x, 0), ux.subs(x, 1)), sp.Eq(u(0, y) + u(0.5, y), 2 * u(1, y)),
           sp.Eq(u(0, y), ux.subs(x, 1)), sp.Eq(u(x, 2), 0)]
    system = PDESystem([U.diff(x, 2) + U.diff(y, 2) - a * sp.sin(x)], bcs,
                       {x: (0, 1), y: (0, 2)}, [x, y], [U], {a: 0.7})
    net = (mlp(1, 4) if net is None else net).to(dtype)
    return discretize(system, PhysicsInformedNN(net, StochasticTraining(16, 4),
                                                param_estim=True,
                                                input_scaling="standardize", **kw))


@pytest.mark.filterwarnings("ignore:term bc_3:symbolic_pinn.errors.InteriorConditionWarning")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("path", ["taylor", "autograd"])
def test_a_term_at_several_inputs_is_stacked_like_several_terms(path, dtype, monkeypatch):
    """Each input of a term is a unit of stacking on the term's rows: bc_1's two inputs
    and bc_3's three join the value conditions bc_0 and bc_5 in one call; bc_2's two
    slopes are one call of their own (one derivative on the stacked rows on the autograd
    path); bc_4's value and slope would go to two calls, so it keeps its own function."""
    torch.manual_seed(0)
    prob = periodic(dtype, net=Features(1) if path == "autograd" else None)
    assert prob.symbolic.options.derivatives == path
    assert stacked_terms(prob.source) == [("bc_0", "bc_1", "bc_3", "bc_5"), ("bc_2",)]
    assert 'residuals["bc_4"] = residual_bc_4(' in prob.source
    call = "nets[0](" if path == "autograd" else "jet(nets[0]"
    body = prob.source.split("def stacked_residuals_0")[1].split("def stacked_residuals_1")[0]
    assert body.count(call) == 1
    assert "(bc_1 at 2 inputs of the network, on the same rows) (bc_3 at 3 inputs" in body
    sizes = ", ".join(f'points["{t}"].shape[0]' for t in ("bc_0", "bc_1", "bc_1", "bc_3",
                                                          "bc_3", "bc_3", "bc_5"))
    assert f" = torch.split(u, ({sizes}))" in body
    body = prob.source.split("def stacked_residuals_1")[1].split("RESIDUALS = ")[0]
    assert body.count(call) == 1
    if path == "autograd":
        assert "    u_s1_x = d(u_s1, x_u_s1)\n" in body and body.count(" = d(") == 1
    assert "one network call" in prob.source or path == "taylor"
    assert_all_residuals_equal(prob, own_points(prob, dtype), dtype, 2, monkeypatch)


@pytest.mark.filterwarnings("ignore:term bc_3:symbolic_pinn.errors.InteriorConditionWarning")
def test_a_term_at_several_inputs_trains_as_before(monkeypatch):
    """Ten Adam steps with its inputs stacked and with each call apart give the same
    losses."""
    histories = []
    for stack in (True, False):
        if not stack:
            monkeypatch.setattr(codegen, "stacked_groups", lambda ir, terms, shared: [])
            monkeypatch.setattr(loading, "_LOADED", {})
        prob = periodic(torch.float32)
        assert ("stacked_residuals_1" in prob.source) == stack
        histories.append(prob.solve(iterations=10, seed=0, progress=False).history)
    for h1, h2 in zip(*histories, strict=True):
        for term, value in h2["losses"].items():
            assert h1["losses"][term] == pytest.approx(value, rel=1e-5, abs=1e-7), term


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("path", ["taylor", "autograd"])
def test_a_group_of_shared_points_at_several_inputs_is_stacked(path, dtype, monkeypatch):
    """Under GridTraining the periodic values and slopes share their points and make one
    call per input (x = 0 and x = 1, each u and u_x): the two inputs are one call on the
    group's rows, taken when the group's points are one tensor; the value conditions at
    y = 0 and y = 2 another."""
    U = u(x, y)
    ux = U.diff(x)
    bcs = [sp.Eq(u(x, 0), sp.sin(sp.pi * x)), sp.Eq(u(0, y) - u(1, y), a * y),
           sp.Eq(ux.subs(x, 0), ux.subs(x, 1)), sp.Eq(u(x, 2), 0)]
    system = PDESystem([U.diff(x, 2) + U.diff(y, 2) - a * sp.sin(x)], bcs,
                       {x: (0, 1), y: (0, 2)}, [x, y], [U], {a: 0.7})
    torch.manual_seed(0)
    net = (Features(1) if path == "autograd" else mlp(1, 4)).to(dtype)
    prob = discretize(system, PhysicsInformedNN(net, GridTraining(0.25), param_estim=True,
                                                input_scaling="standardize"))
    assert prob.symbolic.options.derivatives == path
    assert prob.module.SHARED == (("bc_1", "bc_2"),)
    assert stacked_terms(prob.source) == [("bc_0", "bc_3"), ("bc_1", "bc_2")]
    body = prob.source.split("def stacked_residuals_1")[1].split("RESIDUALS = ")[0]
    assert body.count("nets[0](" if path == "autograd" else "jet(nets[0]") == 1
    assert "# one {} on the stacked rows of 1 group (2 terms; bc_1, bc_2 at 2 inputs)".format(
        "network call" if path == "autograd" else "jet call") in prob.source
    assert_all_residuals_equal(prob, shared_points(prob, dtype), dtype, 2, monkeypatch)
    apart = shared_points(prob, dtype, apart=True)
    assert_all_residuals_equal(prob, apart, dtype, 1, monkeypatch)  # bc_0 and bc_3 only
