"""``derivatives="taylor"``: the training step's residuals by forward propagation.

With ``PhysicsInformedNN(..., derivatives="taylor")`` the generated batched residuals get
each network evaluation and all its input derivatives from one
:func:`symbolic_pinn.jets.jet` call instead of ``autograd.grad`` calls. The residuals,
the loss gradients and short training runs must equal the default autograd path's
(1e-10 relative in float64, 1e-5 in float32).
"""

from __future__ import annotations

import copy
import math

import pytest
import sympy as sp
import torch
from torch import nn

from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
from symbolic_pinn.errors import ProblemError
from symbolic_pinn.jets import jet, supports
from symbolic_pinn.networks import ACTIVATIONS
from symbolic_pinn.training import GridTraining

torch.set_num_threads(1)

x, y, t = sp.symbols("x y t")
a, nu = sp.symbols("a nu")
u, v = sp.Function("u"), sp.Function("v")
BOX = {x: (0, 1), y: (0, 1), t: (0, 1)}


def mlp(n_in, n_out=1, hidden=(12, 10), activation="tanh", seed=0):
    torch.manual_seed(seed)
    net = MLP(n_in, n_out, list(hidden), activation)
    with torch.no_grad():  # nonzero biases
        for layer in net:
            if isinstance(layer, nn.Linear):
                layer.bias.uniform_(-0.5, 0.5)
    return net


def pair(eqs, bcs, indvars, depvars, net, *, params=None, param_estim=False,
         input_scaling=None, dtype=torch.float64, step=0.25):
    """The same system twice, autograd and taylor, with equal copies of the networks."""
    system = PDESystem(eqs, bcs, {v_: BOX[v_] for v_ in indvars}, indvars, depvars, params)
    out = []
    for mode in ("autograd", "taylor"):
        nets = copy.deepcopy(net)
        nets = nets.to(dtype) if isinstance(nets, nn.Module) else [n.to(dtype) for n in nets]
        pinn = PhysicsInformedNN(nets, GridTraining(step), param_estim=param_estim,
                                 input_scaling=input_scaling, derivatives=mode)
        out.append(discretize(system, pinn))
    return out


def points(problem, n=23, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, len(problem.ir.indvars), generator=gen,
                      dtype=problem.dtype) * 0.98 + 0.01


def tol(problem):
    return 1e-10 if problem.dtype == torch.float64 else 1e-5


def thetas(problem):
    return [p for net in problem.nets for p in net.parameters()] + [
        p for p in problem.params.values() if p.requires_grad]


def check(auto, taylor, n=23):
    """Residuals per term, then the gradient of Σ mean(r²) w.r.t. every trainable tensor."""
    rtol = tol(auto)
    pts = {term: points(auto, n, seed=i) for i, term in enumerate(auto.term_names)}
    loss_a = loss_t = 0.0
    for term in auto.term_names:
        ra, rt = auto.residuals[term](pts[term]), taylor.residuals[term](pts[term])
        assert rt.shape == ra.shape == (n,)
        scale = float(ra.detach().abs().max()) + 1.0
        torch.testing.assert_close(rt.detach(), ra.detach(), rtol=rtol, atol=rtol * scale,
                                   msg=lambda m, term=term: f"{term}: {m}")
        loss_a = loss_a + ra.square().mean()
        loss_t = loss_t + rt.square().mean()
    ga = torch.autograd.grad(loss_a, thetas(auto), allow_unused=True)
    gt = torch.autograd.grad(loss_t, thetas(taylor), allow_unused=True)
    for i, (g1, g2) in enumerate(zip(ga, gt)):
        assert (g1 is None) == (g2 is None), i
        if g1 is not None:
            scale = float(g1.abs().max()) + 1.0
            torch.testing.assert_close(g2, g1, rtol=rtol, atol=rtol * scale,
                                       msg=lambda m, i=i: f"gradient {i}: {m}")


# -- the problems -------------------------------------------------------------------------


def poisson(dtype=torch.float64, **kw):
    eq = sp.Eq(u(x, y).diff(x, 2) + u(x, y).diff(y, 2), -sp.sin(sp.pi * x) * sp.sin(sp.pi * y))
    bcs = [sp.Eq(u(0, y), 0), sp.Eq(u(1, y), 0), sp.Eq(u(x, 0), 0), sp.Eq(u(x, 1), 0)]
    return pair([eq], bcs, [x, y], [u(x, y)], mlp(2), dtype=dtype, **kw)


def wave(dtype=torch.float64, **kw):
    eq = sp.Eq(u(x, t).diff(t, 2), 4 * u(x, t).diff(x, 2))
    bcs = [sp.Eq(u(x, 0), sp.sin(sp.pi * x)), sp.Eq(u(x, t).diff(t).subs(t, 0), 0),
           sp.Eq(u(0, t), 0), sp.Eq(u(1, t), 0)]
    return pair([eq], bcs, [x, t], [u(x, t)], mlp(2), dtype=dtype, **kw)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_poisson(dtype):
    check(*poisson(dtype))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_wave_with_subs_condition(dtype):
    auto, taylor = wave(dtype)
    assert [n.name for n in taylor.ir.terms[2].derivatives] == ["u_t"]  # u_t(x, 0)
    check(auto, taylor)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_mixed_and_third_derivatives(dtype):
    eqs = [u(x, y).diff(x, y) - x * y,
           u(x, y).diff(x, 2, y) + u(x, y).diff(y, 3) - sp.cos(x),
           u(x, y).diff(x, y) * u(x, y).diff(x, 2) + sp.exp(u(x, y))]
    check(*pair(eqs, [sp.Eq(u(x, y).diff(x, y).subs(x, 0), 1)], [x, y], [u(x, y)], mlp(2),
                dtype=dtype))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_nonlinear_terms(dtype):
    eqs = [u(x, t).diff(t) + u(x, t) * u(x, t).diff(x) - 0.01 * u(x, t).diff(x, 2),
           sp.sin(u(x, t)) * u(x, t).diff(x) ** 2 + x * t * u(x, t) ** 3]
    check(*pair(eqs, [sp.Eq(u(x, 0), -sp.sin(sp.pi * x))], [x, t], [u(x, t)], mlp(2),
                dtype=dtype))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_input_standardization(dtype):
    check(*wave(dtype, input_scaling="standardize"))
    check(*poisson(dtype, input_scaling={x: (0.3, 2.5), y: (-1.0, 0.2)}))


def test_shared_two_output_net():
    eqs = [u(x, t).diff(t) + v(x, t).diff(x), v(x, t).diff(t) + u(x, t) * u(x, t).diff(x, 2)]
    bcs = [sp.Eq(u(0, t) - v(1, t), 0), sp.Eq(u(x, 0) + v(x, 0).diff(x), x)]
    auto, taylor = pair(eqs, bcs, [x, t], [u(x, t), v(x, t)], mlp(2, 2))
    # one jet call serves u and v where they share the network's inputs
    assert "column=(" in taylor.source
    check(auto, taylor)


def test_separate_networks():
    eqs = [u(x, t).diff(t) - v(x, t).diff(x, 2) + u(x, t), v(x, t).diff(t) + u(x, t).diff(x)]
    auto, taylor = pair(eqs, [sp.Eq(u(0, t) + v(1, t), 0)], [x, t], [u(x, t), v(x, t)],
                        [mlp(2, seed=1), mlp(2, hidden=(9,), seed=2)])
    check(auto, taylor)


def test_periodic_and_robin_conditions():
    bcs = [sp.Eq(u(x, t).diff(x).subs(x, 0) + 2 * u(0, t), t),  # Robin
           sp.Eq(u(0, t) - u(1, t), 0),  # periodic: two sites of one net
           sp.Eq(u(x, t).diff(x).subs(x, 0) - u(x, t).diff(x).subs(x, 1), 0),
           sp.Eq(u(sp.Rational(1, 2), sp.Rational(1, 4)), 1)]  # a point
    check(*pair([u(x, t).diff(t) - u(x, t).diff(x, 2)], bcs, [x, t], [u(x, t)], mlp(2),
                input_scaling="standardize"))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_estimated_parameters(dtype):
    eqs = [sp.Eq(u(x, y).diff(x, 2) + a * u(x, y).diff(y, 2), sp.sin(x)),
           a * nu * u(x, y) ** 2 + sp.exp(nu) * u(x, y).diff(x)]
    bcs = [sp.Eq(u(0, y), 0), sp.Eq(a * y, 1)]  # the last: no network
    auto, taylor = pair(eqs, bcs, [x, y], [u(x, y)], mlp(2), params={a: 1.3, nu: 0.4},
                        param_estim=True, dtype=dtype)
    assert all(p.requires_grad for p in taylor.params.values())
    check(auto, taylor)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_every_activation(activation):
    eqs = [u(x, y).diff(x, 2) + u(x, y).diff(y, 2) + u(x, y).diff(x) * u(x, y)]
    net = mlp(2, activation=activation, hidden=(10, 10))
    assert supports(net)
    check(*pair(eqs, [sp.Eq(u(0, y), 0)], [x, y], [u(x, y)], net))


# -- training ----------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer, dtype, rel", [
    ("adam", torch.float32, 1e-4),
    ("lbfgs", torch.float64, 1e-8),  # many evaluations a step: float32 rounding would grow
])
def test_training_history_matches_autograd(optimizer, dtype, rel):
    eqs = [u(x, t).diff(t) + u(x, t) * u(x, t).diff(x) - 0.05 * u(x, t).diff(x, 2)]
    bcs = [sp.Eq(u(x, 0), -sp.sin(sp.pi * x)), sp.Eq(u(0, t), 0),
           sp.Eq(u(x, t).diff(x).subs(x, 1), 0)]
    auto, taylor = pair(eqs, bcs, [x, t], [u(x, t)], mlp(2), dtype=dtype, step=0.1)
    iters = 3 if optimizer == "lbfgs" else 25
    runs = [p.solve(iterations=iters, seed=0, optimizer=optimizer, lr=1e-2, dtype=dtype).history
            for p in (auto, taylor)]
    ha, ht = runs
    assert len(ha) == len(ht) == iters
    for ra, rt in zip(ha, ht):
        assert rt["loss"] == pytest.approx(ra["loss"], rel=rel, abs=rel * 1e-3)
        for term, value in ra["losses"].items():
            assert rt["losses"][term] == pytest.approx(value, rel=rel, abs=rel * 1e-3)
    for pa, pt in zip(auto.nets[0].parameters(), taylor.nets[0].parameters()):
        torch.testing.assert_close(pt, pa, rtol=rel, atol=rel * 0.1)


# -- the generated text ---------------------------------------------------------------------


def test_option_in_source():
    auto, taylor = poisson()
    assert 'derivatives="taylor"' in taylor.source
    assert "from symbolic_pinn.jets import jet" in taylor.source
    # only what the residual uses is returned (u, u_x, u_y are propagated inside jet),
    # and u_xx + u_yy comes from one combined channel
    assert "u_comb = jet(nets[0], torch.cat((x, y), dim=1), " \
        "(((1.0, (2, 0)), (1.0, (0, 2))),), scale=(1.0, 1.0), column=0)[0]  " \
        "# u(x, y); u_comb = u_xx + u_yy" in taylor.source
    assert "return u_comb + torch.sin(math.pi*x)*torch.sin(math.pi*y)" in taylor.source
    assert "requires_grad_(True)" not in taylor.source.split("def point_residual")[0]
    assert "autograd.grad" not in taylor.source
    assert "jet(" not in auto.source and 'derivatives="taylor"' not in auto.source
    assert "u_y, u_x = d(u, y, x)" in auto.source  # one backward pass for both
    # the per-point residuals (torch.func) are the same text on both paths
    point = [s.split("\n\n\n")[0] for s in taylor.source.split("def point_residual")[1:]]
    assert point == [s.split("\n\n\n")[0] for s in auto.source.split("def point_residual")[1:]]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_combined_channels(dtype):
    """Derivatives held linearly with constant coefficients, with none of the call's other
    derivatives above them, share one channel; anything else keeps its own (and every
    variant agrees with autograd)."""
    combined = [u(x, y).diff(x, 2) + 3 * u(x, y).diff(y, 2) + u(x, y) * u(x, y).diff(x),
                sp.Eq(u(x, y).diff(y, 2), 2 * (u(x, y).diff(x, 2) - sp.pi))]
    separate = [u(x, y).diff(x, 2) ** 2 + u(x, y).diff(y, 2),  # not linear
                x * u(x, y).diff(x, 2) + u(x, y).diff(y, 2),  # coefficient varies
                u(x, y).diff(x, 2) * u(x, y).diff(y, 2)]
    below = [u(x, y).diff(x, 2) + u(x, y).diff(y, 2) + u(x, y).diff(x, 2, y)]  # u_xx needed
    lap = u(x, y).diff(x, 2) + u(x, y).diff(y, 2)
    # the derivative is 1 in both branches, but the condition reads u_xx and u_yy
    branch = [sp.Piecewise((lap, lap > 0), (lap - 1, True))]
    # first order counts too: u_y + u u_x - u_xx/10 (Burgers; u_x is below u_xx), advection
    first = [u(x, y).diff(y) + u(x, y) * u(x, y).diff(x) - u(x, y).diff(x, 2) / 10,
             u(x, y).diff(y) + 2 * u(x, y).diff(x),
             u(x, y).diff(x) + u(x, y).diff(x, y)]  # u_x is below u_xy: nothing to combine
    auto, taylor = pair(combined + separate + below + branch + first, [sp.Eq(u(0, y), 0)],
                        [x, y], [u(x, y)], mlp(2), dtype=dtype)
    lines = {name: taylor.source.split(f"def residual_{name}(")[1].split("\n\n\n")[0]
             for name in taylor.term_names}
    assert "u_comb = u_xx + 3*u_yy" in lines["pde_0"]
    assert "((1.0, (2, 0)), (3.0, (0, 2)))" in lines["pde_0"]
    assert "return u*u_x + u_comb" in lines["pde_0"]
    assert "u_comb = -2*u_xx + u_yy" in lines["pde_1"]
    for name in ("pde_2", "pde_3", "pde_4"):
        assert "u_comb" not in lines[name], name
    assert "u_comb = u_xxy + u_yy" in lines["pde_5"] and "u_xx, u_comb = jet(" in lines["pde_5"]
    assert "u_comb" not in lines["pde_6"]
    assert "u, u_x, u_comb = jet(" in lines["pde_7"] and "u_comb = -u_xx/10 + u_y" in lines["pde_7"]
    assert "((-0.1, (2, 0)), (1.0, (0, 1)))" in lines["pde_7"]
    assert "u_comb = jet(" in lines["pde_8"] and "u_comb = 2*u_x + u_y" in lines["pde_8"]
    assert "u_comb" not in lines["pde_9"]
    check(auto, taylor)


def test_combined_channels_of_a_shared_network():
    """Channels are per network call: u_xx is not folded where the same call carries v_xx."""
    eqs = [u(x, y).diff(x, 2) + u(x, y).diff(y, 2) - v(x, y).diff(x, 2) ** 2,
           v(x, y).diff(x, 2) - 3 * v(x, y).diff(y, 2) + u(x, y).diff(x) * u(x, y)]
    auto, taylor = pair(eqs, [sp.Eq(u(0, y), v(0, y))], [x, y], [u(x, y), v(x, y)], mlp(2, 2))
    pde_0, pde_1 = (taylor.source.split(f"def residual_{n}(")[1].split("\n\n\n")[0]
                    for n in ("pde_0", "pde_1"))
    assert "_comb" not in pde_0 and "u_yy, u_xx, v_xx = jet(" in pde_0
    assert "u, u_x, v_comb = jet(" in pde_1 and "v_comb = v_xx - 3*v_yy" in pde_1
    check(auto, taylor)


def test_jet_combination_matches_its_members():
    net = mlp(3, 2, hidden=(8, 8)).double()
    X = torch.rand(9, 3, dtype=torch.float64)
    members = ((2, 0, 0), (0, 1, 1), (0, 0, 3), (1, 0, 0))
    combo = tuple(zip((1.5, -2.0, 0.25, 3.0), members))
    *parts, both = jet(net, X, (*members, combo), scale=(2.0, 0.5, 1.0))
    want = sum(c * p for c, p in zip((1.5, -2.0, 0.25, 3.0), parts))
    torch.testing.assert_close(both, want, rtol=1e-12, atol=1e-12)
    alone, = jet(net, X, (combo,), scale=(2.0, 0.5, 1.0))  # members not requested
    torch.testing.assert_close(alone, want, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="combination cannot hold"):
        jet(net, X, (((1.0, (0, 0, 0)), (1.0, (2, 0, 0))),))


def test_standardized_scale_factors_in_source():
    _, taylor = wave(input_scaling="standardize")
    factor = 1.0 / ((1 - 0) / math.sqrt(12))  # 1/std of the uniform distribution on [0, 1]
    assert f"scale=({factor!r}, {factor!r})" in taylor.source


# -- errors ------------------------------------------------------------------------------


def _system():
    return PDESystem([u(x).diff(x, 2) + 1], [u(0), u(1)], {x: (0, 1)}, [x], [u(x)])


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError, match="derivatives must be 'auto', 'autograd' or 'taylor'"):
        PhysicsInformedNN(MLP(1, 1, [4]), GridTraining(0.1), derivatives="forward")


def _hooked_mlp():
    net = MLP(1, 1, [8])
    net.register_forward_hook(lambda *args: None)
    return net


def _leaky_mlp():
    net = MLP(1, 1, [8])
    net[1] = nn.LeakyReLU()
    return net


@pytest.mark.parametrize("make, why", [
    (lambda: nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1)),
     "it is a Sequential, not a plain symbolic_pinn.MLP"),
    (_hooked_mlp, r"a hook \(forward or backward\) is registered on it"),
    (_leaky_mlp, r"its layer 1, LeakyReLU\(negative_slope=0.01\), has no closed-form"),
], ids=["sequential", "hooked-mlp", "leaky-relu"])
def test_unsupported_network_is_rejected(make, why):
    net = make()
    with pytest.raises(ProblemError, match=r'derivatives="taylor".*network 0 \(for u\) is '
                                           r"not: " + why):
        discretize(_system(), PhysicsInformedNN(net, GridTraining(0.1), derivatives="taylor"))
    # the default path takes any module
    discretize(_system(), PhysicsInformedNN(net, GridTraining(0.1)))


def test_jet_rejects_unsupported_network_at_call_time():
    with pytest.raises(TypeError, match="plain symbolic_pinn.MLP"):
        jet(nn.Linear(1, 1), torch.zeros(3, 1), ((0,),))
    with pytest.raises(ValueError, match="does not fit 1 input"):
        jet(MLP(1, 1, [4]), torch.zeros(3, 1), ((0, 1),))


def test_jet_matches_autograd_directly():
    net = mlp(2, 3, hidden=(8, 8), activation="sin").double()
    X = torch.rand(11, 2, dtype=torch.float64)
    u0, u_x, u_xy = jet(net, X, ((0, 0), (1, 0), (1, 1)), scale=(2.0, 0.5), column=(0, 2, 1))
    xs = X.clone().requires_grad_(True)
    out = net(xs)  # scale: d(input)/d(coordinate) per column, a chain-rule factor
    g = torch.autograd.grad(out[:, 2].sum(), xs, create_graph=True)[0]
    g1 = torch.autograd.grad(out[:, 1].sum(), xs, create_graph=True)[0]
    ref_xy = torch.autograd.grad(g1[:, 0].sum(), xs)[0][:, 1]
    torch.testing.assert_close(u_x[:, 0], 2.0 * g[:, 0].detach())
    torch.testing.assert_close(u_xy[:, 0], 2.0 * 0.5 * ref_xy)
    torch.testing.assert_close(u0[:, 0], out[:, 0].detach())
    assert u0.shape == (11, 1)


def test_jet_seed_rows_worked_out_once_give_the_same_values():
    """The seed rows' numbers are worked out at the first call per plan and scale, and
    each call makes its tensors from them: later calls, lists or a generator as orders,
    another scale and dtype, and a first call in inference mode, under
    ``torch.func.functionalize`` or with fake tensors (whose tensors must not reach later
    calls) all give the values of rows made afresh, to the bit."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    from symbolic_pinn.channels import seed_channels
    from symbolic_pinn.jets import _plan
    from symbolic_pinn.propagation import layers_of, propagate

    net = mlp(2, 1, hidden=(8, 8))
    burgers = ((-0.01, (2, 0)), (1.0, (0, 1)))
    orders = ((0, 0), (1, 0), burgers)
    X = torch.rand(9, 2)

    def afresh(net, X, scale):
        plan = _plan(orders, 2)
        seeds = seed_channels(X, plan.channels, list(scale), expand=False)
        chans = propagate(layers_of(net), [plan], [seeds], None)[0]
        return [chans[i] for i in plan.picks]

    def same(got, want):
        assert all(torch.equal(g, w) for g, w in zip(got, want, strict=True))

    for first in ("inference", "functionalize", "fake"):
        _plan.cache_clear()
        if first == "inference":
            with torch.inference_mode():
                same(jet(net, X, orders, scale=(2.0, 0.5)), afresh(net, X, (2.0, 0.5)))
        elif first == "functionalize":
            torch.func.functionalize(lambda X: jet(net, X, orders, scale=(2.0, 0.5)))(X)
        else:
            with FakeTensorMode(allow_non_fake_inputs=True) as mode:
                jet(net, mode.from_tensor(X), orders, scale=(2.0, 0.5))
        for scale in ((2.0, 0.5), (1.0, 3.0)):
            want = afresh(net, X, scale)
            same(jet(net, X, orders, scale=scale), want)
            same(jet(net, X, [list(o) if not isinstance(o[0], tuple) else o for o in orders],
                     scale=list(scale)), want)
            same(jet(net, X, (o for o in orders), scale=scale), want)
        net64, X64 = copy.deepcopy(net).double(), X.double()
        same(jet(net64, X64, orders, scale=(2.0, 0.5)), afresh(net64, X64, (2.0, 0.5)))
        # the graph of a later call is differentiated
        sum(out.square().sum() for out in jet(net, X, orders, scale=(2.0, 0.5))).backward()
        assert all(p.grad is not None for p in net.parameters())
        net.zero_grad()


def test_network_without_hidden_layers():
    """A linear MLP: first derivatives are constants, second derivatives zero."""
    eqs = [u(x, t).diff(t) + u(x, t).diff(x, 2), u(x, t).diff(x)]
    check(*pair(eqs, [sp.Eq(u(x, t).diff(x).subs(x, 0), 1)], [x, t], [u(x, t)],
                mlp(2, hidden=())))


def test_residuals_under_no_grad_and_their_gradient_with_respect_to_the_points():
    """prob.residuals work under torch.no_grad() on both paths (the autograd path used to
    return zeros there), and both paths give the same d(residual)/d(points)."""
    eq = u(x, y).diff(x, 2) + sp.sin(y) * u(x, y) * u(x, y).diff(y)
    auto, taylor = pair([eq], [sp.Eq(u(0, y), 0)], [x, y], [u(x, y)], mlp(2))
    pts = points(auto)
    with_grad = auto.residuals["pde_0"](pts).detach()
    with torch.no_grad():
        for prob in (auto, taylor):
            torch.testing.assert_close(prob.residuals["pde_0"](pts).detach(), with_grad)
    grads = []
    for prob in (auto, taylor):
        p = pts.clone().requires_grad_(True)
        grads.append(torch.autograd.grad(prob.residuals["pde_0"](p).sum(), p)[0])
    assert grads[0].abs().min() > 0  # both columns are differentiated: none was detached
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-10, atol=1e-12)
    # the generated function itself refuses to run without gradients rather than give zeros
    fn = auto.module.RESIDUALS["pde_0"]
    with torch.no_grad(), pytest.raises(RuntimeError, match="gradients enabled"):
        fn(auto.nets, pts, auto.params)
