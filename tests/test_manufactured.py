"""Manufactured-solution tests of the generated residuals.

The networks are replaced by modules that compute closed-form functions. For every
term of a problem, the generated batched residual (``prob.residuals[term]``) and the
generated per-point residual (``prob.module.POINT_RESIDUALS[term]`` under
``torch.func.vmap``) must equal the residual SymPy computes for the same functions
(substituted into ``lhs - rhs`` and ``.doit()``-ed, evaluated in float64).

Most closed forms deliberately do *not* solve the problem, so residuals are non-zero
and the comparison means something; a few do, and there the residual must vanish.
Coordinates a condition fixes (``x`` in ``u(0, t)``), and columns a term never reads,
are filled with garbage to show that the residual ignores them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest
import sympy as sp
import torch
from torch import nn

from symbolic_pinn import PDESystem, PhysicsInformedNN, discretize
from symbolic_pinn.training import GridTraining

# Some synthetic conditions below sit strictly inside their interval on purpose (y = 1 on
# (0, 2)): the residual check does not care, and the warning is tested in test_errors_more.
pytestmark = pytest.mark.filterwarnings("ignore::symbolic_pinn.InteriorConditionWarning")

TOL = {torch.float32: 1e-5, torch.float64: 1e-10}
DTYPES = pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])

_TORCH = {
    "sin": torch.sin, "cos": torch.cos, "exp": torch.exp, "tanh": torch.tanh,
    "log": torch.log, "sqrt": torch.sqrt, "sinh": torch.sinh, "cosh": torch.cosh,
}  # fmt: skip

x, y, t, a, b = sp.symbols("x y t a b")
u, v = sp.Function("u"), sp.Function("v")


# -- closed-form "networks" --------------------------------------------------------------
class ClosedForm(nn.Module):
    """Maps (N, k) inputs (the arguments ``args``) to (N, len(exprs)) closed-form values.

    ``scaling`` is ``(mean, std)`` or ``None`` per input: the generated code feeds
    ``z = (arg - mean) / std``, which this module undoes before evaluating. The module
    owns a buffer of ``dtype`` so that the problem sees the networks' dtype.
    """

    def __init__(self, args, exprs, dtype, scaling=None):
        super().__init__()
        self.register_buffer("anchor", torch.zeros((), dtype=dtype))
        self.fns = [sp.lambdify(args, sp.sympify(e), modules=[_TORCH, "math"]) for e in exprs]
        self.scaling = list(scaling) if scaling is not None else [None] * len(args)
        self.calls = 0

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        assert inputs.ndim == 2 and inputs.shape[1] == len(self.scaling), inputs.shape
        cols = []
        for i, scale in enumerate(self.scaling):
            col = inputs[:, i]
            if scale is not None:
                mean, std = scale
                col = col * std + mean
            cols.append(col)
        outs = [fn(*cols) + torch.zeros_like(cols[0]) for fn in self.fns]
        return torch.stack(outs, dim=1)


# -- problem descriptions ------------------------------------------------------------------
@dataclass
class Case:
    """A PDE system, and closed-form solutions to check it with.

    Attributes:
        eqs, bcs, domains, indvars, depvars, params: as for ``PDESystem``.
        ignored: ``{term: columns}`` the term must not read (fixed by a condition, or
            not an argument of anything in the term).
        solutions: ``(functions, zero_terms)`` pairs: ``{depvar name: expr}`` and the
            terms whose residual vanishes for those functions (all others must not).
    """

    eqs: list
    bcs: list
    domains: dict
    indvars: list
    depvars: list
    params: dict = field(default_factory=dict)
    ignored: dict = field(default_factory=dict)
    solutions: list = field(default_factory=list)

    def system(self) -> PDESystem:
        return PDESystem(self.eqs, self.bcs, self.domains, self.indvars, self.depvars,
                         params=self.params)

    @property
    def names(self) -> list[str]:
        return [f"pde_{i}" for i in range(len(self.eqs))] + [
            f"bc_{i}" for i in range(len(self.bcs))
        ]

    def reference(self, term: str, functions: dict) -> sp.Expr:
        """The residual of ``term`` for closed-form ``functions``, by SymPy alone."""
        kind, i = term.split("_")
        item = (self.eqs if kind == "pde" else self.bcs)[int(i)]
        expr = item.lhs - item.rhs if isinstance(item, sp.Equality) else sp.sympify(item)
        for dv in self.depvars:
            expr = expr.subs(dv.func, sp.Lambda(dv.args, functions[dv.func.__name__]))
        expr = expr.doit().subs(self.params)
        assert not expr.atoms(sp.Derivative, sp.Subs, sp.core.function.AppliedUndef), expr
        return expr


def heat() -> Case:
    exact = sp.sin(sp.pi * x) * sp.exp(-sp.pi**2 * t)
    return Case(
        eqs=[sp.Eq(u(x, t).diff(t), u(x, t).diff(x, 2))],
        bcs=[sp.Eq(u(0, t), 0), sp.Eq(u(1, t), 0), sp.Eq(u(x, 0), sp.sin(sp.pi * x)),
             sp.Eq(u(0, 0), 1)],
        domains={x: (0, 1), t: (0, 1)}, indvars=[x, t], depvars=[u(x, t)],
        ignored={"bc_0": "x", "bc_1": "x", "bc_2": "t", "bc_3": "xt"},
        solutions=[
            ({"u": x**2 * sp.cos(t) + x * t + sp.exp(x * t / 2) + 0.25}, set()),
            ({"u": exact}, {"pde_0", "bc_0", "bc_1", "bc_2"}),
        ],
    )


def wave() -> Case:
    exact = sp.sin(sp.pi * x) * sp.cos(2 * sp.pi * t)
    return Case(
        eqs=[sp.Eq(u(x, t).diff(t, 2), 4 * u(x, t).diff(x, 2))],
        bcs=[sp.Eq(u(0, t), 0), sp.Eq(u(1, t), 0), sp.Eq(u(x, 0), sp.sin(sp.pi * x)),
             sp.Eq(u(x, t).diff(t).subs(t, 0), 0)],
        domains={x: (0, 1), t: (0, 1)}, indvars=[x, t], depvars=[u(x, t)],
        ignored={"bc_0": "x", "bc_1": "x", "bc_2": "t", "bc_3": "t"},
        solutions=[
            ({"u": sp.sin(2 * x) * sp.cos(3 * t) + x * t**2 + t * x**2 + 0.5}, set()),
            ({"u": exact}, {"pde_0", "bc_0", "bc_1", "bc_2", "bc_3"}),
        ],
    )


def wave_params() -> Case:
    """Known parameters: ``a`` exact in float32, ``b`` not."""
    return Case(
        eqs=[sp.Eq(u(x, t).diff(t, 2), a * u(x, t).diff(x, 2) + b * u(x, t))],
        bcs=[sp.Eq(u(x, t).diff(t).subs(t, 0), a * b * x), sp.Eq(u(0, t), a)],
        domains={x: (0, 1), t: (0, 2)}, indvars=[x, t], depvars=[u(x, t)],
        params={a: 2.0, b: 0.3},
        ignored={"bc_0": "t", "bc_1": "x"},
        solutions=[({"u": sp.sin(2 * x) * sp.cos(3 * t) + x * t**3 + sp.exp(t) / 3}, set())],
    )


def poisson() -> Case:
    f = -2 * sp.pi**2 * sp.sin(sp.pi * x) * sp.sin(sp.pi * y)
    return Case(
        eqs=[sp.Eq(u(x, y).diff(x, 2) + u(x, y).diff(y, 2), f)],
        bcs=[sp.Eq(u(0, y), 0), sp.Eq(u(1, y), 0), sp.Eq(u(x, 0), 0), sp.Eq(u(x, 1), 0)],
        domains={x: (0, 1), y: (0, 1)}, indvars=[x, y], depvars=[u(x, y)],
        ignored={"bc_0": "x", "bc_1": "x", "bc_2": "y", "bc_3": "y"},
        solutions=[
            ({"u": sp.exp(x) * sp.cos(2 * y) + x * y**3 + 1}, set()),
            ({"u": sp.sin(sp.pi * x) * sp.sin(sp.pi * y)}, {"pde_0", "bc_0", "bc_1", "bc_2",
                                                           "bc_3"}),
        ],
    )


def mixed() -> Case:
    """A mixed derivative, a Neumann and a Robin condition, on a box not at 0."""
    return Case(
        eqs=[sp.Eq(u(x, y).diff(x, y) + u(x, y), sp.sin(x))],
        bcs=[sp.Eq(u(x, y).diff(x).subs(x, -1), 0),
             sp.Eq(u(x, y).diff(y).subs(y, 1) + 2 * u(x, 1), x),
             sp.Eq(u(x, y).diff(x, 2, y).subs(x, 2), y)],
        domains={x: (-1, 2), y: (0.5, 1.5)}, indvars=[x, y], depvars=[u(x, y)],
        ignored={"bc_0": "x", "bc_1": "y", "bc_2": "x"},
        solutions=[({"u": sp.sin(x * y) + x**2 * y**3 + sp.exp(x - y)}, set())],
    )


def burgers() -> Case:
    """Nonlinear ``u * u_x``, periodic conditions on the value and on the derivative."""
    return Case(
        eqs=[sp.Eq(u(x, t).diff(t) + u(x, t) * u(x, t).diff(x), 0.01 * u(x, t).diff(x, 2))],
        bcs=[sp.Eq(u(-1, t), u(1, t)),
             sp.Eq(u(x, t).diff(x).subs(x, -1), u(x, t).diff(x).subs(x, 1)),
             sp.Eq(u(x, 0), -sp.sin(sp.pi * x))],
        domains={x: (-1, 1), t: (0, 1)}, indvars=[x, t], depvars=[u(x, t)],
        ignored={"bc_0": "x", "bc_1": "x", "bc_2": "t"},
        solutions=[
            ({"u": sp.sin(sp.pi * x) * sp.exp(-t) + x * t + x**2 * t}, set()),
            # periodic in x with a periodic derivative: only the conditions vanish
            ({"u": sp.cos(sp.pi * x) * (1 + t) + t}, {"bc_0", "bc_1"}),
        ],
    )


def ode3() -> Case:
    """A third-order nonlinear ODE with value, slope and curvature conditions."""
    return Case(
        eqs=[sp.Eq(u(x).diff(x, 3) + u(x) * u(x).diff(x), sp.cos(x))],
        bcs=[sp.Eq(u(0), 0), sp.Eq(u(x).diff(x).subs(x, 0), 1),
             sp.Eq(u(x).diff(x, 2).subs(x, 2), 0)],
        domains={x: (0, 2)}, indvars=[x], depvars=[u(x)],
        ignored={"bc_0": "x", "bc_1": "x", "bc_2": "x"},
        solutions=[
            ({"u": sp.sin(x) * sp.exp(x / 2) + x**3 / 7 + 2 * x + 0.5}, set()),
            ({"u": x + x**2 - x**3 / 6}, {"bc_0", "bc_1", "bc_2"}),
        ],
    )


def separate() -> Case:
    """u(x, y) and v(y), each on its own network and its own variables."""
    return Case(
        eqs=[sp.Eq(u(x, y).diff(x, 2) + u(x, y).diff(y, 2), v(y) * u(x, y)),
             sp.Eq(v(y).diff(y, 2) + v(y), y)],
        bcs=[sp.Eq(u(0, y), v(y)), sp.Eq(v(0), 1), sp.Eq(v(y).diff(y).subs(y, 0), 0),
             sp.Eq(u(x, 0), x * v(0)), sp.Eq(u(x, 1), v(0)),
             sp.Eq(u(x, y).diff(y).subs(y, 1), v(y).diff(y).subs(y, 1)),
             # v evaluated (and differentiated) at x, another variable than its own
             sp.Eq(u(x, 0), v(x).diff(x) + v(x))],
        domains={x: (0, 1), y: (0, 2)}, indvars=[x, y], depvars=[u(x, y), v(y)],
        ignored={"pde_1": "x", "bc_0": "x", "bc_1": "xy", "bc_2": "xy", "bc_3": "y",
                 "bc_4": "y", "bc_5": "y", "bc_6": "y"},
        solutions=[
            ({"u": sp.exp(x) * sp.sin(y) + x * y**2, "v": sp.cos(2 * y) + y**3 + y + 0.5}, set()),
            ({"u": sp.exp(x * y) + x, "v": y + sp.cos(y) - sp.sin(y)}, {"pde_1", "bc_1", "bc_2"}),
        ],
    )


def shared() -> Case:
    """u(x, t) and v(x, t) as the two output columns of one network."""
    return Case(
        eqs=[sp.Eq(u(x, t).diff(t), v(x, t).diff(x)),
             sp.Eq(v(x, t).diff(t), u(x, t).diff(x) + u(x, t) * v(x, t).diff(x, t))],
        bcs=[sp.Eq(u(0, t), 0), sp.Eq(v(1, t), 0), sp.Eq(u(x, 0) - v(x, 0), sp.sin(x)),
             sp.Eq(u(0, t), v(1, t))],
        domains={x: (0, 1), t: (0, 1)}, indvars=[x, t], depvars=[u(x, t), v(x, t)],
        ignored={"bc_0": "x", "bc_1": "x", "bc_2": "t", "bc_3": "x"},
        solutions=[
            ({"u": sp.sin(x + 2 * t) + x * t, "v": sp.exp(x - t) + t**2}, set()),
            # u_t = v_x; the nonlinear term vanishes since v_xt = 0: both equations hold
            ({"u": 2 * x + 3 * t, "v": 3 * x + 2 * t}, {"pde_0", "pde_1"}),
        ],
    )


def nonlocal_() -> Case:
    """Sites with constant arguments inside an equation: u_t = u(x, 0) * u_x(0, t)."""
    return Case(
        eqs=[sp.Eq(u(x, t).diff(t), u(x, 0) * u(x, t).diff(x).subs(x, 0) + u(x, t).diff(x, 2))],
        bcs=[sp.Eq(u(x, 0).diff(x), 1)],  # d/dx of u(x, 0): the value at t = 0, then d/dx
        domains={x: (0, 1), t: (0, 1)}, indvars=[x, t], depvars=[u(x, t)],
        ignored={"bc_0": "t"},
        solutions=[({"u": sp.exp(x) * sp.sin(t + 1) + x**2 * t**2}, set())],
    )


def reordered() -> Case:
    """u(t, x): the network's inputs in another order than the point columns."""
    return Case(
        eqs=[sp.Eq(u(t, x).diff(t), u(t, x).diff(x, 2) + x * u(t, x).diff(t, x))],
        bcs=[sp.Eq(u(t, 0), 0), sp.Eq(u(0, x), x**2),
             sp.Eq(u(t, x).diff(x).subs(x, 1), t)],
        domains={x: (0, 1), t: (0, 2)}, indvars=[x, t], depvars=[u(t, x)],
        ignored={"bc_0": "x", "bc_1": "t", "bc_2": "x"},
        solutions=[({"u": sp.sin(3 * x + t) + x**3 * t + sp.exp(t / 2)}, set())],
    )


CASES = {f.__name__.rstrip("_"): f for f in (heat, wave, wave_params, poisson, mixed, burgers,
                                             ode3, separate, shared, nonlocal_, reordered)}


# -- the check ---------------------------------------------------------------------------
def _scaling_of(case: Case, input_scaling) -> dict:
    """(mean, std) per independent variable, computed here, independently of the library."""
    if input_scaling is None:
        return {}
    if input_scaling == "standardize":
        return {var: ((lo + hi) / 2, (hi - lo) / math.sqrt(12))
                for var, (lo, hi) in case.domains.items()}
    return dict(input_scaling)


def build(case: Case, functions: dict, dtype, *, shared_net=False, input_scaling=None,
          param_estim=False):
    scale = _scaling_of(case, input_scaling)
    if shared_net:
        args = case.depvars[0].args
        exprs = [functions[dv.func.__name__] for dv in case.depvars]
        modules = ClosedForm(args, exprs, dtype, [scale.get(arg) for arg in args])
    else:
        modules = [ClosedForm(dv.args, [functions[dv.func.__name__]], dtype,
                              [scale.get(arg) for arg in dv.args]) for dv in case.depvars]
    pinn = PhysicsInformedNN(modules, GridTraining(0.25), input_scaling=input_scaling,
                             param_estim=param_estim)
    return discretize(case.system(), pinn)


def random_points(case: Case, n: int, dtype, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    cols = []
    for var in case.indvars:
        lo, hi = case.domains[var]
        cols.append(lo + (hi - lo) * torch.rand(n, generator=gen, dtype=torch.float64))
    return torch.stack(cols, dim=1).to(dtype)


def evaluate_reference(case: Case, expr: sp.Expr, points: torch.Tensor) -> torch.Tensor:
    fn = sp.lambdify(case.indvars, expr, "numpy")
    cols = points.detach().double().numpy().T
    value = np.broadcast_to(np.asarray(fn(*cols), dtype=np.float64), (points.shape[0],))
    return torch.from_numpy(value.copy())


def point_path(prob, term: str, points: torch.Tensor) -> torch.Tensor:
    fn = prob.module.POINT_RESIDUALS[term]

    def call(i, inp):
        return prob.nets[i](inp.unsqueeze(0)).squeeze(0)

    return torch.func.vmap(lambda p: fn(call, p, prob.params))(points)


def assert_close(got: torch.Tensor, ref: torch.Tensor, tol: float, what: str) -> None:
    assert got.shape == ref.shape, f"{what}: shape {tuple(got.shape)} != {tuple(ref.shape)}"
    got = got.detach().double()
    assert torch.isfinite(got).all(), f"{what}: non-finite values {got}"
    err = ((got - ref).abs() / ref.abs().clamp_min(1.0)).max().item()
    worst = int(((got - ref).abs() / ref.abs().clamp_min(1.0)).argmax())
    assert err <= tol, (f"{what}: relative error {err:.3g} > {tol:g} "
                        f"(got {got[worst].item()!r}, want {ref[worst].item()!r})")


def garble(case: Case, points: torch.Tensor, columns: str, seed: int) -> torch.Tensor:
    """Copy of ``points`` with the named columns replaced by garbage (large or NaN)."""
    bad = points.clone()
    gen = torch.Generator().manual_seed(seed)
    for name in columns:
        col = [str(v) for v in case.indvars].index(name)
        noise = 1e3 * torch.randn(points.shape[0], generator=gen, dtype=torch.float64)
        noise[::3] = float("nan")
        bad[:, col] = noise.to(points.dtype)
    return bad


def check(case: Case, dtype, *, shared_net=False, input_scaling=None, param_estim=False,
          n=64, seed=0):
    tol = TOL[dtype]
    for k, (functions, zero_terms) in enumerate(case.solutions):
        prob = build(case, functions, dtype, shared_net=shared_net,
                     input_scaling=input_scaling, param_estim=param_estim)
        assert prob.term_names == case.names
        assert prob.dtype == dtype
        points = random_points(case, n, dtype, seed + k)
        for term in case.names:
            what = f"{term} (solution {k}, {dtype}, scaling {input_scaling})"
            ref = evaluate_reference(case, case.reference(term, functions), points)
            if term in zero_terms:
                assert ref.abs().max() < 1e-12, f"{what}: test bug, reference not ~0"
            else:
                assert ref.abs().max() > 1e-2, f"{what}: test bug, reference ~0"

            batched = prob.residuals[term](points)
            assert batched.dtype == dtype, f"{what}: batched dtype {batched.dtype}"
            assert_close(batched, ref, tol, f"{what} batched")

            pointwise = point_path(prob, term, points)
            assert pointwise.dtype == dtype, f"{what}: per-point dtype {pointwise.dtype}"
            assert_close(pointwise, ref, tol, f"{what} per-point")
            assert_close(pointwise, batched.detach().double(), tol,
                         f"{what} per-point vs batched")

            ignored = case.ignored.get(term, "")
            if ignored:
                bad = garble(case, points, ignored, seed + 100 + k)
                assert_close(prob.residuals[term](bad), ref, tol, f"{what} batched, garbage "
                             f"in {ignored}")
                assert_close(point_path(prob, term, bad), ref, tol,
                             f"{what} per-point, garbage in {ignored}")


# -- tests -------------------------------------------------------------------------------
@DTYPES
@pytest.mark.parametrize("name", list(CASES))
def test_manufactured(name, dtype):
    check(CASES[name](), dtype)


@DTYPES
@pytest.mark.parametrize("name", ["heat", "wave", "poisson", "mixed", "burgers", "ode3",
                                  "separate", "shared", "nonlocal", "reordered"])
def test_manufactured_standardized(name, dtype):
    check(CASES[name](), dtype, input_scaling="standardize", seed=1)


@DTYPES
def test_manufactured_scaling_dict(dtype):
    check(mixed(), dtype, input_scaling={x: (0.3, 2.0)}, seed=2)
    check(separate(), dtype, input_scaling={y: (-1.0, 0.5), x: (2.0, 3.0)}, seed=3)
    check(reordered(), dtype, input_scaling={t: (1.0, 3.0), x: (-0.5, 0.25)}, seed=11)


@DTYPES
def test_manufactured_shared_network(dtype):
    check(shared(), dtype, shared_net=True, seed=4)
    check(shared(), dtype, shared_net=True, input_scaling="standardize", seed=5)


@DTYPES
def test_manufactured_estimated_params(dtype):
    check(wave_params(), dtype, param_estim=True, seed=6)
    check(wave_params(), dtype, param_estim=[b], input_scaling="standardize", seed=7)


@DTYPES
def test_params_follow_their_values(dtype):
    """Changing a parameter's tensor changes the residual as SymPy says it should."""
    case = wave_params()
    functions = case.solutions[0][0]
    prob = build(case, functions, dtype)
    points = random_points(case, 32, dtype, 8)
    prob.params["a"] = torch.tensor(-1.5, dtype=dtype)
    other = Case(case.eqs, case.bcs, case.domains, case.indvars, case.depvars,
                 params={a: -1.5, b: 0.3})
    for term in ("pde_0", "bc_0", "bc_1"):
        ref = evaluate_reference(case, other.reference(term, functions), points)
        assert_close(prob.residuals[term](points), ref, TOL[dtype], f"{term} with a=-1.5")
        assert_close(point_path(prob, term, points), ref, TOL[dtype], f"{term} per-point")


def test_check_can_fail():
    """The comparison notices a wrong function: u and the reference disagree."""
    case = heat()
    prob = build(case, {"u": x**2 * t}, torch.float64)
    points = random_points(case, 16, torch.float64, 9)
    ref = evaluate_reference(case, case.reference("pde_0", {"u": x**3 * t}), points)
    with pytest.raises(AssertionError):
        assert_close(prob.residuals["pde_0"](points), ref, 1e-10, "pde_0")


def test_closed_form_networks_are_called():
    """The residuals come from the given modules (not a cached or default network)."""
    case = poisson()
    prob = build(case, {"u": x * y}, torch.float64)
    before = prob.nets[0].calls
    points = random_points(case, 8, torch.float64, 10)
    r = prob.residuals["bc_3"](points)  # u(x, 1) = x
    assert prob.nets[0].calls > before
    assert_close(r, points[:, 0].clone(), 1e-12, "bc_3")
