"""The forward-propagated (Taylor-mode) NTK diagonal against the generic vmap(grad) path.

:func:`symbolic_pinn.fast_ntk.fast_ntk_diagonal` propagates values and input
derivatives through MLP layers and gets every ``‖∂r_i/∂θ‖²`` from one backward pass
with per-layer Gram matrices; :func:`symbolic_pinn.adaptive.kernel.ntk_diagonal`
differentiates the generated per-point residual with ``torch.func``. They must agree
to 1e-10 (relative) in float64 and 1e-5 in float32, and the forward-propagated
residual must equal the generated batched residual.
"""

from __future__ import annotations

import math

import pytest
import sympy as sp
import torch
from torch import nn

from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, StrategyError, discretize
from symbolic_pinn.adaptive import (
    NeuralTangentKernelAdaptiveLoss,
    ntk_diagonal,
    term_ntk_diagonal,
    traces_at,
)
from symbolic_pinn.adaptive.kernel import NTK_METHODS
from symbolic_pinn.fast_ntk import fast_ntk_diagonal, fast_ntk_diagonals, fast_residual, supports
from symbolic_pinn.networks import ACTIVATIONS
from symbolic_pinn.term_plan import plan_of as _plan
from symbolic_pinn.training import GridTraining, StochasticTraining

torch.set_num_threads(1)

x, y, t = sp.symbols("x y t")
a, nu = sp.symbols("a nu")
u, v, w = sp.Function("u"), sp.Function("v"), sp.Function("w")
BOX = {x: (0, 1), y: (0, 1), t: (0, 1)}


def build(eqs, bcs, indvars, depvars, nets, *, params=None, param_estim=False,
          input_scaling=None, dtype=torch.float64):
    system = PDESystem(eqs, bcs, {v_: BOX[v_] for v_ in indvars}, indvars, depvars, params)
    if isinstance(nets, nn.Module):
        nets = nets.to(dtype)
    else:
        nets = [n.to(dtype) for n in nets]
    pinn = PhysicsInformedNN(nets, GridTraining(0.25), param_estim=param_estim,
                             input_scaling=input_scaling)
    problem = discretize(system, pinn)
    for ident, p in list(problem.params.items()):
        moved = p.detach().to(dtype)
        problem.params[ident] = nn.Parameter(moved) if p.requires_grad else moved
    return problem


def mlp(n_in, n_out=1, hidden=(12, 10), activation="tanh", seed=0):
    torch.manual_seed(seed)
    net = MLP(n_in, n_out, list(hidden), activation)
    with torch.no_grad():  # nonzero biases, so the bias channel matters
        for layer in net:
            if isinstance(layer, nn.Linear):
                layer.bias.uniform_(-0.5, 0.5)
    return net


def points(problem, n=17, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, len(problem.ir.indvars), generator=gen,
                      dtype=problem.dtype) * 0.98 + 0.01


def reference(problem, term, pts):
    return ntk_diagonal(problem.module.POINT_RESIDUALS[term], problem.nets, problem.params,
                        pts, chunk_size=None)


def check(problem, terms=None, rtol=None, n=17):
    rtol = rtol or (1e-10 if problem.dtype == torch.float64 else 1e-5)
    for term in terms or problem.term_names:
        pts = points(problem, n)
        r_ref = problem.residuals[term](pts).detach()
        r_fast = fast_residual(problem, term, pts)
        assert r_fast is not None
        scale = float(r_ref.abs().max()) + 1.0
        torch.testing.assert_close(r_fast.detach(), r_ref, rtol=rtol, atol=rtol * scale)
        ref = reference(problem, term, pts)
        got = fast_ntk_diagonal(problem, term, pts)
        assert got is not None and got.shape == (n,) and not got.requires_grad
        assert got.dtype == problem.dtype
        assert float(ref.min()) > 0, term
        torch.testing.assert_close(got, ref, rtol=rtol, atol=0, msg=lambda m, term=term: f"{term}: {m}")


# -- the problems of the brief ------------------------------------------------------------


def poisson(dtype=torch.float64, **kw):
    eq = sp.Eq(u(x, y).diff(x, 2) + u(x, y).diff(y, 2), -sp.sin(sp.pi * x) * sp.sin(sp.pi * y))
    bcs = [sp.Eq(u(0, y), 0), sp.Eq(u(1, y), 0), sp.Eq(u(x, 0), 0), sp.Eq(u(x, 1), 0)]
    return build([eq], bcs, [x, y], [u(x, y)], mlp(2), dtype=dtype, **kw)


def wave(dtype=torch.float64, **kw):
    eq = sp.Eq(u(x, t).diff(t, 2), 4 * u(x, t).diff(x, 2))
    bcs = [sp.Eq(u(x, 0), sp.sin(sp.pi * x)), sp.Eq(u(x, t).diff(t).subs(t, 0), 0),
           sp.Eq(u(0, t), 0), sp.Eq(u(1, t), 0)]
    return build([eq], bcs, [x, t], [u(x, t)], mlp(2), dtype=dtype, **kw)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_poisson_2d(dtype):
    problem = poisson(dtype)
    # u_xx + u_yy travels as one combined channel, as in the generated jet call
    plan = _plan(problem.ir.terms[0], tuple(problem.ir.scaling))
    assert plan.groups[0].channels == ((0, 0), (1, 0), (0, 1),
                                       ((1.0, (2, 0)), (1.0, (0, 2))))
    assert "(((1.0, (2, 0)), (1.0, (0, 2))),)" in problem.source
    check(problem)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_burgers_first_order_member(dtype):
    # u_t and u_xx (not u_x, which u_xx reads) travel as one channel
    visc = sp.Rational(1, 100) / sp.pi
    eq = u(x, t).diff(t) + u(x, t) * u(x, t).diff(x) - visc * u(x, t).diff(x, 2)
    problem = build([eq], [sp.Eq(u(x, 0), -sp.sin(sp.pi * x))], [x, t], [u(x, t)], mlp(2),
                    dtype=dtype)
    plan = _plan(problem.ir.terms[0], tuple(problem.ir.scaling))
    assert plan.groups[0].channels == ((0, 0), (1, 0), ((-float(visc), (2, 0)), (1.0, (0, 1))))
    check(problem)
    # standardised inputs: the first-order member's seed carries 1/std_t
    check(build([eq], [], [x, t], [u(x, t)], mlp(2), dtype=dtype, input_scaling="standardize"))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_wave_with_subs_condition(dtype):
    problem = wave(dtype)
    assert [n.name for n in problem.ir.terms[2].derivatives] == ["u_t"]  # u_t(x, 0)
    check(problem)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_input_standardization(dtype):
    problem = wave(dtype, input_scaling="standardize")
    assert all(s is not None for s in problem.ir.scaling)
    check(problem)
    custom = poisson(dtype, input_scaling={x: (0.3, 2.5), y: (-1.0, 0.2)})
    check(custom)


def test_mixed_and_third_derivatives():
    eqs = [u(x, y).diff(x, y) - x * y,
           u(x, y).diff(x, 2, y) + u(x, y).diff(y, 3) - sp.cos(x),
           u(x, y).diff(x, y) * u(x, y).diff(x, 2) + sp.exp(u(x, y))]
    problem = build(eqs, [sp.Eq(u(x, y).diff(x, y).subs(x, 0), 1)], [x, y], [u(x, y)],
                    mlp(2), input_scaling="standardize")
    check(problem)


def test_nonlinear_terms():
    eqs = [u(x, t).diff(t) + u(x, t) * u(x, t).diff(x) - 0.01 * u(x, t).diff(x, 2),
           sp.sin(u(x, t)) * u(x, t).diff(x) ** 2 + x * t * u(x, t) ** 3]
    problem = build(eqs, [sp.Eq(u(x, 0), -sp.sin(sp.pi * x))], [x, t], [u(x, t)], mlp(2))
    check(problem)


def test_boundary_conditions_robin_and_periodic():
    bcs = [sp.Eq(u(x, t).diff(x).subs(x, 0) + 2 * u(0, t), t),  # Robin
           sp.Eq(u(0, t) - u(1, t), 0),  # periodic: two sites of one net
           sp.Eq(u(x, t).diff(x).subs(x, 0) - u(x, t).diff(x).subs(x, 1), 0),
           sp.Eq(u(sp.Rational(1, 2), sp.Rational(1, 4)), 1)]  # a point
    problem = build([u(x, t).diff(t) - u(x, t).diff(x, 2)], bcs, [x, t], [u(x, t)], mlp(2),
                    input_scaling="standardize")
    check(problem)


def test_multi_net_system():
    """Separate networks, one of them with one input, coupled nonlinearly."""
    eqs = [u(x, t).diff(t) - v(x, t).diff(x, 2) + w(x) * u(x, t),
           v(x, t).diff(t) + u(x, t) * v(x, t).diff(x) - w(x).diff(x, 2),
           w(x).diff(x) - sp.sin(x)]
    bcs = [sp.Eq(u(0, t) + v(1, t), 0), sp.Eq(w(0), 0)]
    nets = [mlp(2, seed=1), mlp(2, hidden=(9,), seed=2), mlp(1, hidden=(7, 7, 5), seed=3)]
    problem = build(eqs, bcs, [x, t], [u(x, t), v(x, t), w(x)], nets)
    check(problem)


def test_shared_multi_output_net():
    eqs = [u(x, t).diff(t) + v(x, t).diff(x), v(x, t).diff(t) + u(x, t) * u(x, t).diff(x, 2)]
    bcs = [sp.Eq(u(0, t) - v(1, t), 0)]
    problem = build(eqs, bcs, [x, t], [u(x, t), v(x, t)], mlp(2, 2))
    check(problem)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_estimated_parameters(dtype):
    eqs = [sp.Eq(u(x, y).diff(x, 2) + a * u(x, y).diff(y, 2), sp.sin(x)),
           a * nu * u(x, y) ** 2 + sp.exp(nu) * u(x, y).diff(x)]
    bcs = [sp.Eq(u(0, y), 0), sp.Eq(a * y, 1)]  # the last: no network
    problem = build(eqs, bcs, [x, y], [u(x, y)], mlp(2), params={a: 1.3, nu: 0.4},
                    param_estim=True, dtype=dtype)
    assert all(p.requires_grad for p in problem.params.values())
    assert problem.ir.terms[-1].sites == ()
    check(problem)
    # Known parameters are not part of θ.
    fixed = build(eqs, bcs, [x, y], [u(x, y)], mlp(2), params={a: 1.3, nu: 0.4},
                  param_estim=[nu])
    check(fixed, terms=["pde_0", "pde_1", "bc_0"])
    pts = points(fixed)
    assert torch.equal(fast_ntk_diagonal(fixed, "bc_1", pts), torch.zeros(17, dtype=torch.float64))


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_every_activation(activation):
    eqs = [u(x, y).diff(x, 2) + u(x, y).diff(y, 2) + u(x, y).diff(x) * u(x, y)]
    problem = build(eqs, [sp.Eq(u(0, y), 0)], [x, y], [u(x, y)],
                    mlp(2, activation=activation, hidden=(10, 10)))
    assert supports(problem.nets[0])
    check(problem)


@pytest.mark.parametrize("activation", ["tanh", "sin", "sigmoid", "silu", "gelu", "softplus"])
def test_third_order_for_smooth_activations(activation):
    eqs = [u(x, y).diff(x, 3) + u(x, y).diff(x, y, 2)]
    problem = build(eqs, [], [x, y], [u(x, y)], mlp(2, activation=activation))
    check(problem)


def test_fourth_order():
    eqs = [u(x, y).diff(x, 4) + 2 * u(x, y).diff(x, 2, y, 2) + u(x, y).diff(y, 4)]
    check(build(eqs, [], [x, y], [u(x, y)], mlp(2, hidden=(8, 8))))


def test_single_layer_and_deep_networks():
    eq = u(x, y).diff(x, 2) * u(x, y) + u(x, y).diff(y)
    check(build([eq], [], [x, y], [u(x, y)], mlp(2, hidden=())))  # linear: u_xx = 0
    check(build([eq], [], [x, y], [u(x, y)], mlp(2, hidden=(6, 5, 4, 3))))


def test_frozen_parameters_are_not_in_theta():
    problem = poisson()
    problem.nets[0][0].weight.requires_grad_(False)
    problem.nets[0][2].bias.requires_grad_(False)
    check(problem)
    for p in problem.nets[0].parameters():
        p.requires_grad_(False)
    pts = points(problem)
    assert torch.equal(fast_ntk_diagonal(problem, "pde_0", pts),
                       torch.zeros(17, dtype=torch.float64))


def test_no_gradients_are_left_on_the_parameters():
    problem = poisson()
    fast_ntk_diagonal(problem, "pde_0", points(problem))
    assert all(p.grad is None for p in problem.nets[0].parameters())


# -- fallback --------------------------------------------------------------------------------


class _Custom(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))

    def forward(self, z):
        return self.body(z)


class _MLPWithForward(MLP):
    def forward(self, z):
        return super().forward(z) * 2


def test_fallback_for_unsupported_networks():
    eq = u(x, y).diff(x, 2) + u(x, y).diff(y, 2)
    for net in (_Custom(), nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)),
                _MLPWithForward(2, 1, [8])):
        problem = build([eq], [sp.Eq(u(0, y), 0)], [x, y], [u(x, y)], net)
        assert not supports(problem.nets[0])
        pts = points(problem)
        assert fast_ntk_diagonal(problem, "pde_0", pts) is None
        assert fast_residual(problem, "pde_0", pts) is None
    # an unsupported activation module inside an MLP, and a forward hook
    net = mlp(2)
    net[1] = nn.Hardtanh()
    assert not supports(net)
    net = mlp(2)
    handle = net[2].register_forward_hook(lambda *args: None)
    assert not supports(net)
    handle.remove()
    assert supports(net)
    # one unsupported net among supported ones: the whole term falls back
    eqs = [u(x, t).diff(t) + v(x, t).diff(x)]
    problem = build(eqs, [], [x, t], [u(x, t), v(x, t)], [mlp(2), _Custom()])
    assert fast_ntk_diagonal(problem, "pde_0", points(problem)) is None


@pytest.mark.parametrize("register", [
    nn.modules.module.register_module_forward_hook,
    nn.modules.module.register_module_forward_pre_hook,
], ids=["forward", "forward-pre"])
def test_a_global_forward_hook_turns_the_fast_path_off_while_registered(register):
    """A hook on every module (torch's global registry) would be bypassed by the
    propagation: while one is registered no MLP is supported and derivatives="auto"
    picks autograd; once removed, the same network is supported again."""
    from symbolic_pinn import symbolic_discretize

    net = mlp(2)
    system = PDESystem([u(x, y).diff(x, 2) + u(x, y).diff(y, 2)], [sp.Eq(u(0, y), 0)],
                       {x: (0, 1), y: (0, 1)}, [x, y], [u(x, y)])
    assert supports(net)
    calls = []
    handle = register(lambda module, *args: calls.append(type(module).__name__))
    try:
        assert not supports(net)
        sym = symbolic_discretize(system, PhysicsInformedNN(net, GridTraining(0.25),
                                                            derivatives="auto"))
        assert sym.options.derivatives == "autograd"
        net(torch.zeros(1, 2))
        assert "MLP" in calls  # the hook is live, on the MLP too
    finally:
        handle.remove()
    assert supports(net)
    sym = symbolic_discretize(system, PhysicsInformedNN(net, GridTraining(0.25),
                                                        derivatives="auto"))
    assert sym.options.derivatives == "taylor"


# -- wiring --------------------------------------------------------------------------------


def test_traces_at_methods_agree():
    problem = wave(input_scaling="standardize")
    pts = {term: points(problem, 11) for term in problem.term_names}
    generic = traces_at(problem, pts, method="exact-vmap")
    for method in ("auto", "taylor"):
        got = traces_at(problem, pts, method=method)
        for term in problem.term_names:
            assert got[term] == pytest.approx(generic[term], rel=1e-10)
    custom = build([u(x, y).diff(x, 2)], [], [x, y], [u(x, y)], _Custom())
    pts = {"pde_0": points(custom)}
    assert traces_at(custom, pts)["pde_0"] == pytest.approx(
        traces_at(custom, pts, method="exact-vmap")["pde_0"], rel=1e-12)
    with pytest.raises(StrategyError, match="taylor"):
        traces_at(custom, pts, method="taylor")
    with pytest.raises(StrategyError, match="method"):
        traces_at(problem, {"pde_0": points(problem)}, method="fast")


def test_method_option():
    assert NeuralTangentKernelAdaptiveLoss().method == "auto"
    assert NeuralTangentKernelAdaptiveLoss(method="exact-vmap").ntk_method == "exact-vmap"
    with pytest.raises(StrategyError, match="method"):
        NeuralTangentKernelAdaptiveLoss(method="fast")
    from symbolic_pinn.adaptive import CausalAdaptiveLoss, Compose

    both = Compose(NeuralTangentKernelAdaptiveLoss(method="taylor"), CausalAdaptiveLoss(t))
    assert both.ntk_method == "taylor"


def test_term_ntk_diagonal_picks_the_path():
    problem = poisson()
    pts = points(problem)
    ref = reference(problem, "pde_0", pts)
    for method in NTK_METHODS:
        torch.testing.assert_close(term_ntk_diagonal(problem, "pde_0", pts, method=method), ref,
                                   rtol=1e-10, atol=0)


@pytest.mark.parametrize("method", ["auto", "taylor"])
def test_training_with_fast_traces_matches_the_generic_path(method):
    def run(m):
        ntk = NeuralTangentKernelAdaptiveLoss(reweight_every=1, method=m)
        eq = sp.Eq(u(x, y).diff(x, 2) + u(x, y).diff(y, 2), -sp.sin(sp.pi * x))
        system = PDESystem([eq], [sp.Eq(u(0, y), 0), sp.Eq(u(x, 1), 0)],
                           {x: (0, 1), y: (0, 1)}, [x, y], [u(x, y)])
        problem = discretize(system, PhysicsInformedNN(mlp(2).double(),
                                                       StochasticTraining(20, 8),
                                                       adaptive_loss=ntk))
        result = problem.solve(3, lr=1e-2, seed=0, dtype=torch.float64, progress=False)
        return [row["traces"] for row in result.history if "traces" in row]

    fast, generic = run(method), run("exact-vmap")
    assert len(fast) == len(generic) == 3
    for f, g in zip(fast, generic):
        for term in g:
            assert f[term] == pytest.approx(g[term], rel=1e-9)


# -- every term of a problem at once (symbolic_pinn.ntk_units) ----------------------------


def two_network_problem():
    """Two networks (u(x, t), v(x)), an estimated parameter in equations and conditions,
    two equations at one points tensor, a periodic condition (two evaluations of u at a
    sample), conditions on values (v's with a term without points); the problem and its
    points per term."""
    U, V = u(x, t), v(x)
    eqs = [U.diff(t) - a * U.diff(x, 2) + V * U, V.diff(x, 2) + a**2 * V - sp.sin(x)]
    bcs = [sp.Eq(u(x, 0), sp.sin(sp.pi * x)), sp.Eq(u(0, t), u(1, t)),
           sp.Eq(v(0), a), sp.Eq(u(x, 1), 0), sp.Eq(v(1), 0)]
    problem = build(eqs, bcs, [x, t], [U, V], [mlp(2, seed=1), mlp(1, seed=2)],
                    params={a: 0.7}, param_estim=True, input_scaling="standardize")
    interior, face = points(problem, 13, seed=3), points(problem, 7, seed=4)
    return problem, {"pde_0": interior, "pde_1": interior, "bc_0": face, "bc_1": face[:5],
                     "bc_2": face[:3], "bc_3": face[2:6], "bc_4": face[:0]}


def test_all_terms_at_once_share_propagations_and_backward_passes(monkeypatch):
    """two_network_problem: the diagonals of fast_ntk_diagonals equal the generic vmap
    path's, from one propagation per unit (u: equations, values, periodic; v: equations,
    values) and as many backward passes as the largest block has terms (2)."""
    from symbolic_pinn import fast_ntk, ntk_units

    problem, given = two_network_problem()
    calls = {"propagate": 0, "grad": 0}
    real_propagate, real_grad = ntk_units.propagate, torch.autograd.grad

    def count(name, fn):
        return lambda *args, **kw: calls.__setitem__(name, calls[name] + 1) or fn(*args, **kw)

    monkeypatch.setattr(ntk_units, "propagate", count("propagate", real_propagate))
    monkeypatch.setattr(torch.autograd, "grad", count("grad", real_grad))
    diags = fast_ntk.fast_ntk_diagonals(problem, given)
    assert calls == {"propagate": 5, "grad": 2}
    monkeypatch.undo()
    assert list(diags) == list(given)
    for term, pts in given.items():
        ref = reference(problem, term, pts)
        assert diags[term].shape == (len(pts),) and not diags[term].requires_grad
        torch.testing.assert_close(diags[term], ref, rtol=1e-10, atol=0,
                                   msg=lambda m, term=term: f"{term}: {m}")
    assert float(diags["bc_1"].min()) > 0 and float(diags["bc_2"].min()) > 0


def test_the_points_in_parts_give_the_diagonals_of_all_at_once(monkeypatch):
    """ntk_diagonals splits the points into parts (ntk_units.parts) where they are many:
    forced here into 4 parts of two_network_problem (blocks of 13, 7, 5, 4 and 3 points,
    and one of none), the diagonals are those of all points at once, in order."""
    from symbolic_pinn import fast_ntk, ntk_units

    problem, given = two_network_problem()
    whole = fast_ntk.fast_ntk_diagonals(problem, given)
    n = sum(len(p) for p in given.values()) - len(given["pde_1"])  # one block for pde_0, pde_1
    monkeypatch.setattr(ntk_units, "PART_BYTES", n * 12 * 8 // 4)  # width 12, float64
    calls = []
    real = ntk_units._diagonals
    monkeypatch.setattr(ntk_units, "_diagonals",
                        lambda prob, blocks: calls.append(len(blocks)) or real(prob, blocks))
    parted = fast_ntk.fast_ntk_diagonals(problem, given)
    assert calls == [6, 5, 5, 4]  # the empty block in the first part; bc_2's 3 rows in three
    assert list(parted) == list(given)
    for term in given:
        torch.testing.assert_close(parted[term], whole[term], rtol=1e-13, atol=0,
                                   msg=lambda m, term=term: f"{term}: {m}")


@pytest.mark.parametrize("tie", ["weight", "layer"])
def test_tied_parameters_in_the_ntk(tie):
    """A network that uses one tensor under two names. The forward propagation's Gram
    matrices count each layer's gradient apart, so the fast path declines (None); a tied
    weight then takes the vmap path, which is right (checked against autograd, one point
    at a time), and method="taylor" refuses it by name. A layer used twice is wrong on
    both paths and refused by every method. Residuals and plain training are unaffected."""
    from symbolic_pinn.adaptive import NeuralTangentKernelAdaptiveLoss

    net = mlp(1, hidden=(6, 6, 6))
    if tie == "weight":
        net[4].weight = net[2].weight
    else:
        net[4] = net[2]
    eq = sp.Eq(u(x).diff(x, 2), -1)
    problem = build([eq], [sp.Eq(u(0), 0)], [x], [u(x)], net)
    pts = points(problem, 5)
    assert fast_ntk_diagonal(problem, "pde_0", pts) is None
    xg = pts.clone().requires_grad_()
    u_x, = torch.autograd.grad(net(xg).sum(), xg, create_graph=True)
    u_xx, = torch.autograd.grad(u_x.sum(), xg)
    torch.testing.assert_close(fast_residual(problem, "pde_0", pts).detach(), u_xx[:, 0] + 1)
    theta = list(net.parameters())  # each tensor once

    def explicit(point):
        p = point.reshape(1, 1).clone().requires_grad_()
        d1, = torch.autograd.grad(net(p).sum(), p, create_graph=True)
        d2, = torch.autograd.grad(d1.sum(), p, create_graph=True)
        grads = torch.autograd.grad(d2.sum(), theta, materialize_grads=True)
        return sum(g.square().sum() for g in grads)

    want = torch.stack([explicit(p) for p in pts])
    for method in NTK_METHODS:
        if tie == "weight" and method != "taylor":
            torch.testing.assert_close(term_ntk_diagonal(problem, "pde_0", pts, method=method),
                                       want, rtol=1e-10, atol=0)
            continue
        why = (r"network 0 \(for u\) ties '2.weight' to '4.weight'; method='taylor'"
               if tie == "weight" else r"network 0 \(for u\) uses one layer twice \(as '2' "
               r"and '4'\)")
        with pytest.raises(StrategyError, match=why):
            term_ntk_diagonal(problem, "pde_0", pts, method=method)
    plain = problem.solve(2, seed=0, progress=False, dtype=torch.float64)
    assert all(math.isfinite(row["loss"]) for row in plain.history)
    pinn = PhysicsInformedNN(net, GridTraining(0.25),
                             adaptive_loss=NeuralTangentKernelAdaptiveLoss(reweight_every=1))
    adaptive = discretize(PDESystem([eq], [sp.Eq(u(0), 0)], {x: (0, 1)}, [x], [u(x)]), pinn)
    if tie == "weight":  # "auto": the vmap path
        adaptive.solve(2, progress=False, dtype=torch.float64)
    else:
        with pytest.raises(StrategyError, match="uses one layer twice"):
            adaptive.solve(1, progress=False)


def test_networks_sharing_a_parameter_are_refused_by_the_ntk():
    """A layer shared by two networks trains (tests/test_errors_more.py), but the NTK
    diagonals would count it once per network."""
    first, second = mlp(2), mlp(1, seed=1)
    second[2] = first[2]  # a hidden layer of u's network inside v's
    system = PDESystem([u(x, t).diff(t) - v(x)], [], {x: (0, 1), t: (0, 1)}, [x, t],
                       [u(x, t), v(x)])
    problem = discretize(system, PhysicsInformedNN([first.double(), second.double()],
                                                   GridTraining(0.25)))
    pts = points(problem, 4)
    assert fast_ntk_diagonals(problem, {"pde_0": pts}) is None
    second[2].requires_grad_(False)  # frozen, the shared layer is not in θ: no refusal
    first[2].requires_grad_(False)
    assert fast_ntk_diagonals(problem, {"pde_0": pts}) is not None
    term_ntk_diagonal(problem, "pde_0", pts, method="exact-vmap")
    first[2].requires_grad_(True)
    for method in NTK_METHODS:
        with pytest.raises(StrategyError, match=r"network 1 \(for v\) shares its parameter "
                                                r"'2.weight' with network 0 \(for u\) \(its "
                                                r"'2.weight'\)"):
            term_ntk_diagonal(problem, "pde_0", pts, method=method)
