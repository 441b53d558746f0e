"""Sites of one network at one point share its evaluation, also off a single face.

``u(0, y) - u(1, y) + v(0, y) - v(1, y)`` (periodic in ``x``, one shared network for
``u`` and ``v``) fixes ``x`` per site, not per condition. Sites holding the same column at
the same value read one constant tensor, so the generated residual evaluates the network
once per distinct point: one ``nets[0](`` call (autograd) or one ``jet(nets[0]`` line
(taylor) at ``x = 0``, not one per site. The residuals, per-point residuals and the fast
NTK diagonal still equal SymPy's and the generic path's values.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
import torch
from torch import nn

from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
from symbolic_pinn.adaptive.kernel import term_ntk_diagonal
from symbolic_pinn.training import GridTraining

x, y = sp.symbols("x y")
u, v = sp.Function("u"), sp.Function("v")
MODES = pytest.mark.parametrize("mode", ["autograd", "taylor"])
# hand-set weights of MLP(2, 2, [3], "tanh"): out = W2 tanh(W1 (x, y) + b1) + b2
W1 = [[0.7, -0.4], [-1.1, 0.3], [0.5, 0.9]]
B1 = [0.2, -0.3, 0.1]
W2 = [[0.8, -0.6, 0.5], [-0.3, 0.9, 0.4]]
B2 = [0.05, -0.15]


def condition(extra=0):
    cond = u(0, y) - u(1, y) + v(0, y) - v(1, y)
    if extra:  # derivatives at the shared constant, in both slots
        cond += (sp.Subs(u(x, y).diff(x), x, 0) * v(0, y)
                 + sp.Subs(v(x, y).diff(x, 2), x, 1) - sp.Subs(u(x, y).diff(y), x, 0))
    return cond


def periodic(extra=0):
    """A shared network for (u, v); ``bc_0`` evaluates both at ``x = 0`` and ``x = 1``."""
    cond = condition(extra)
    U, V = u(x, y), v(x, y)
    return PDESystem([U.diff(x) + V.diff(y)], [cond], {x: (0, 1), y: (0, 1)}, [x, y], [U, V])


def hand_mlp():
    net = MLP(2, 2, [3], "tanh").double()
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for layer, (w, b) in zip(linears, [(W1, B1), (W2, B2)]):
            layer.weight.copy_(torch.tensor(w, dtype=torch.float64))
            layer.bias.copy_(torch.tensor(b, dtype=torch.float64))
    return net


def sympy_outputs():
    hidden = [sp.tanh(sum(sp.Float(w) * s for w, s in zip(row, (x, y))) + sp.Float(b))
              for row, b in zip(W1, B1)]
    return [sum(sp.Float(w) * h for w, h in zip(row, hidden)) + sp.Float(b)
            for row, b in zip(W2, B2)]


def problem(mode, extra=0, net=None):
    pinn = PhysicsInformedNN(net or hand_mlp(), GridTraining(0.25), derivatives=mode)
    return discretize(periodic(extra), pinn)


def residual_source(prob, term="bc_0"):
    return prob.source.split(f"def residual_{term}(")[1].split("\n\n\n")[0]


def pts(n=11):
    gen = torch.Generator().manual_seed(3)
    return torch.rand(n, 2, generator=gen, dtype=torch.float64)


@MODES
def test_one_evaluation_per_point_of_a_shared_network(mode):
    prob = problem(mode)
    body = residual_source(prob)
    needle = "nets[0](" if mode == "autograd" else "jet(nets[0]"
    calls = [line for line in body.splitlines() if needle in line]
    assert len(calls) == 2, body  # x = 0 and x = 1, each holding u and v
    assert sum("full_like" in line for line in body.splitlines()) == 2, body
    zero = [c for c in calls if "u(0, y)" in c or "u_s1" in c]
    assert len(zero) == 1, calls


def test_forward_calls_counted_by_a_hook():
    net, calls = hand_mlp(), []
    net.register_forward_hook(lambda m, i, o: calls.append(tuple(i[0].shape)))
    prob = problem("autograd", net=net)
    calls.clear()
    prob.residuals["bc_0"](pts(5))
    assert calls == [(5, 2), (5, 2)]


@MODES
@pytest.mark.parametrize("extra", [0, 1])
def test_residuals_match_sympy(mode, extra):
    prob = problem(mode, extra)
    assert prob.dtype == torch.float64
    out_u, out_v = sympy_outputs()
    expr = condition(extra).replace(u, sp.Lambda((x, y), out_u)).replace(v, sp.Lambda((x, y), out_v))
    fn = sp.lambdify((x, y), expr.doit(), "numpy")
    p = pts()
    ref = torch.from_numpy(np.broadcast_to(np.asarray(fn(*p.numpy().T), dtype=np.float64),
                                           (p.shape[0],)).copy())
    got = prob.residuals["bc_0"](p).detach().reshape(-1)
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-12)

    point_fn = prob.module.POINT_RESIDUALS["bc_0"]

    def call(i, inp):
        return prob.nets[i](inp.unsqueeze(0)).squeeze(0)

    per_point = torch.func.vmap(lambda q: point_fn(call, q, prob.params))(p)
    torch.testing.assert_close(per_point.detach().reshape(-1), ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("extra", [0, 1])
def test_fast_ntk_diagonal_matches_exact_vmap(extra):
    prob = problem("taylor", extra)
    p = pts()
    fast = term_ntk_diagonal(prob, "bc_0", p, method="taylor")
    exact = term_ntk_diagonal(prob, "bc_0", p, method="exact-vmap")
    torch.testing.assert_close(fast, exact, rtol=1e-10, atol=1e-14)
