"""The per-point residuals' shared evaluations (``symbolic_pinn.point_calls``).

Each system below reads second derivatives in another arrangement. The generated
``point_residual_<term>`` must equal the batched residual at every point (float64, under
``vmap``, on both derivative paths), its gradient with respect to the parameters must
equal that of the layout without nested calls (``point_evaluations(nested=False)``),
and the lines that take the second derivatives must be the ones stated.
"""

from __future__ import annotations

import functools

import pytest
import sympy as sp
import torch
from torch.func import functional_call, grad, vmap

from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, codegen, discretize, loading
from symbolic_pinn.point_calls import point_evaluations
from symbolic_pinn.training import QuasiRandomTraining

x, y, z, t, k = sp.symbols("x y z t k")
u, v = sp.Function("u"), sp.Function("v")


def build(system, n_out=1, derivatives="taylor", nested=True, monkeypatch=None):
    if not nested:
        monkeypatch.setattr(codegen, "point_evaluations",
                            functools.partial(point_evaluations, nested=False))
        monkeypatch.setattr(loading, "_LOADED", {})
    torch.manual_seed(0)
    net = MLP(len(system.indvars), n_out, [6, 5]).double()  # all outputs from one
    return discretize(system, PhysicsInformedNN(net, QuasiRandomTraining(8),
                                                derivatives=derivatives))


def lines(problem, term):
    source = problem.source.split(f"def point_residual_{term}(")[1].split("\ndef ")[0]
    return [line.strip() for line in source.splitlines()]


def pointwise(problem, term, pts, state=None):
    net = problem.nets[0]
    state = state or dict(net.named_parameters())

    def call(i, inp):
        return functional_call(net, state, (inp.unsqueeze(0),)).squeeze(0)

    fn = problem.module.POINT_RESIDUALS[term]
    return vmap(lambda p: fn(call, p, problem.params))(pts)


CASES = {
    # Burgers: one output differentiated once more, its value and u_t kept
    "burgers": (PDESystem([u(x, t).diff(t) + u(x, t) * u(x, t).diff(x)
                           - u(x, t).diff(x, 2) / 100], [u(x, 0)],
                          {x: (-1, 1), t: (0, 1)}, [x, t], [u(x, t)]),
                ("u_xx, (u_x, (u_t, u)) = grad_and_value(f_u_grad, argnums=0, has_aux=True)"
                 "(x, t)")),
    # one output, two slots, the value kept: (u_xt, u_xx) and u_x from one call
    "one output, two slots": (
        PDESystem([u(x, t) + u(x, t).diff(x, t) + k * u(x, t).diff(x, 2)], [u(x, 0)],
                  {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t)], params={k: 0.5}),
        "(u_xt, u_xx), (_, u) = grad_and_value(f_u_grad, argnums=(1, 0), has_aux=True)(x, t)"),
    # the Laplacian in three variables: a 3 x 3 Jacobian, its diagonal read
    "laplacian 3d": (
        PDESystem([u(x, y, z).diff(x, 2) + u(x, y, z).diff(y, 2) + u(x, y, z).diff(z, 2)],
                  [u(x, y, 0)], {x: (0, 1), y: (0, 1), z: (0, 1)}, [x, y, z], [u(x, y, z)]),
        ("(u_zz, _, _), (_, u_yy, _), (_, _, u_xx) = jacrev(f_u_grad, argnums=(2, 1, 0))"
         "(x, y, z)")),
    # the value and u_xx, with u_xxx read too: u_xx comes with u_xxx, u_tt with u_t
    "third order": (
        PDESystem([u(x, t) * u(x, t).diff(t, 2) + u(x, t).diff(x, 2) * u(x, t).diff(x, 3)
                   + u(x, t).diff(t)], [u(x, 0)], {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t)]),
        "u_tt, (u_t, u) = grad_and_value(f_u_grad, argnums=1, has_aux=True)(x, t)"),
    # a periodic condition on values, slopes and curvatures: one nested call per site
    "two sites": (
        PDESystem([u(x, t).diff(t) - u(x, t).diff(x, 2)],
                  [u(0, t) - u(1, t) + sp.Subs(u(x, t).diff(x, 2) * u(x, t).diff(x), x, 0)
                   - sp.Subs(u(x, t).diff(x, 2) * u(x, t).diff(x), x, 1)],
                  {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t)]),
        ("u_s2_xx, (u_s2_x, u_s2) = grad_and_value(f_u_s2_grad, argnums=0, has_aux=True)"
         "(x_u_s2, t)")),
    # two outputs of one network, each with its second derivatives
    "two functions": (
        PDESystem([u(x, t).diff(t, 2) - v(x, t).diff(x, 2) + u(x, t).diff(x) * v(x, t)],
                  [u(x, 0)], {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t), v(x, t)]),
        "u_tt, (_, u_x) = grad_and_value(f_u_grad, argnums=1, has_aux=True)(x, t)"),
}


@pytest.mark.parametrize("derivatives", ["autograd", "taylor"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_nested_point_residuals_equal_the_batched_ones(case, derivatives):
    system, line = CASES[case]
    n_out = len(system.depvars)
    problem = build(system, n_out, derivatives)
    assert line in lines(problem, "pde_0" if case != "two sites" else "bc_0")
    pts = torch.rand(7, len(system.indvars), dtype=torch.float64,
                     generator=torch.Generator().manual_seed(2))
    for term in problem.term_names:
        want = problem.residuals[term](pts).detach().reshape(-1)
        assert want.abs().max() > 1e-3
        torch.testing.assert_close(pointwise(problem, term, pts).detach(), want,
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", sorted(CASES))
def test_nested_calls_give_the_same_parameter_gradients(case, monkeypatch):
    """Per-point gradients with respect to the weights, as the exact NTK diagonal takes
    them, equal those of the code without nested calls (float64)."""
    system, _ = CASES[case]
    pts = torch.rand(5, len(system.indvars), dtype=torch.float64,
                     generator=torch.Generator().manual_seed(3))
    nested = build(system, len(system.depvars))
    flat = build(system, len(system.depvars), nested=False, monkeypatch=monkeypatch)
    assert nested.source != flat.source
    flat.nets[0].load_state_dict(nested.nets[0].state_dict())
    state = {name: p.detach() for name, p in nested.nets[0].named_parameters()}
    for term in nested.term_names:
        def per_point(problem, term=term):
            def one(p):
                return grad(lambda s: pointwise(problem, term, p[None], s).sum())(state)
            return vmap(one)(pts)

        got, want = per_point(nested), per_point(flat)
        assert any(float(g.abs().max()) > 1e-6 for g in want.values())
        for name in want:
            torch.testing.assert_close(got[name], want[name], rtol=1e-11, atol=1e-13)


def test_a_user_name_like_the_nested_function_is_left_alone():
    """A function called ``u_grad`` has ``f_u_grad`` for its own evaluation: the nested
    function of ``u`` takes the next free name."""
    g = sp.Function("u_grad")
    system = PDESystem([u(x, t).diff(t) - u(x, t).diff(x, 2) * u(x, t) + g(x, t)], [u(x, 0)],
                       {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t), g(x, t)])
    problem = build(system, 2)
    body = lines(problem, "pde_0")
    assert "def f_u_grad(x, t):  # u_grad(x, t)" in body
    assert "def f_u_grad_(x, t):  # u_x to differentiate, and (u_t, u) to keep" in body
    pts = torch.rand(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(pointwise(problem, "pde_0", pts).detach(),
                               problem.residuals["pde_0"](pts).detach().reshape(-1),
                               rtol=1e-12, atol=1e-12)
