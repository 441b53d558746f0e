"""The generated module's text: constants torch accepts, only the imports and helpers it
uses (``ruff check --select F`` finds nothing), clean tuples and dicts, and source lines
that stay visible in tracebacks after ``linecache.clearcache()``."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import linecache
import os
import shutil
import subprocess
import sys
import traceback

import pytest
import sympy as sp
import torch

from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
from symbolic_pinn.adaptive import NeuralTangentKernelAdaptiveLoss
from symbolic_pinn.errors import CodegenError
from symbolic_pinn.printing import torch_code
from symbolic_pinn.training import GridTraining, QuadratureTraining

torch.set_num_threads(1)

x, t, a = sp.symbols("x t a")
u, v = sp.Function("u"), sp.Function("v")
PATHS = ("autograd", "taylor")


def problem(system, derivatives, n_in=1, n_out=1, strategy=None, **options):
    torch.manual_seed(0)
    net = MLP(n_in, n_out, [6]).double()
    pinn = PhysicsInformedNN(net, strategy or GridTraining(0.5), derivatives=derivatives,
                             **options)
    return discretize(system, pinn)


def points(n_in, n=5):
    torch.manual_seed(1)
    return torch.rand(n, n_in, dtype=torch.float64)


# -- 1. integers beyond 64 bits ---------------------------------------------------------

def test_integers_past_2_53_print_as_floats():
    assert torch_code(2**64 * x) == "1.8446744073709552e+19*x"
    assert torch_code(-(2**64) * x) == "-1.8446744073709552e+19*x"
    assert torch_code(sp.factorial(25) * x) == f"{float(sp.factorial(25))!r}*x"
    assert torch_code(2**53 * x + 3) == "9007199254740992*x + 3"  # exact: stays an int
    assert float(torch_code(sp.Integer(2**53 + 1))) == float(2**53 + 1)


def test_numeric_factors_fold_into_one_coefficient():
    """Two factors that print as floats (a float times a constant expression) print as
    one (they printed as a product of two, e.g. Kovasznay's boundary data); rationals and
    named constants stay as they read; a product that is finite although one factor
    overflows now prints."""
    y = sp.Symbol("y")
    lam = 10 - sp.sqrt(100 + 4 * sp.pi**2)
    data = sp.Float(-0.5) * sp.exp(lam / 2) * sp.cos(2 * sp.pi * y)
    coefficient, rest = torch_code(data).split("*", 1)
    assert rest == "torch.cos(2*math.pi*y)"
    assert float(coefficient) == pytest.approx(float(-0.5 * sp.exp(lam / 2)), rel=1e-15)
    coefficient, rest = torch_code(-sp.exp(2) * sp.sqrt(3) * x).split("*", 1)
    assert (float(coefficient), rest) == (pytest.approx(-12.798220583324571, rel=1e-15), "x")
    assert torch_code(2 * sp.pi * x + sp.Rational(1, 2) * x**2) == "(1/2)*x**2 + 2*math.pi*x"
    assert torch_code(16 * sp.pi**2 * x) == "16*9.869604401089358*x"  # one float: as it was
    assert torch_code(sp.Float(1e-300) * sp.exp(1000) * x) == "1.970071114017047e+134*x"
    with pytest.raises(CodegenError, match="not finite"):
        torch_code(sp.Float(2.5) * sp.exp(1000) * x)


@pytest.mark.parametrize("derivatives", PATHS)
def test_big_integer_coefficients_evaluate(derivatives):
    big = sp.Integer(2**64)
    s = PDESystem([big * u(x).diff(x, 2) - sp.factorial(25) * x], [u(0), big * u(1)],
                  {x: (0, 1)}, [x], [u(x)])
    prob = problem(s, derivatives)
    pts = points(1).requires_grad_(True)
    r = prob.residuals["pde_0"](pts)
    value = prob.nets[0](pts)
    u_x = torch.autograd.grad(value.sum(), pts, create_graph=True)[0]
    u_xx = torch.autograd.grad(u_x.sum(), pts)[0]
    expected = float(2**64) * u_xx - float(sp.factorial(25)) * pts.detach()
    torch.testing.assert_close(r.detach().reshape(-1, 1), expected, rtol=1e-10, atol=0)
    bc = prob.residuals["bc_1"](points(1)).detach().reshape(-1, 1)
    at_one = prob.nets[0](torch.ones(5, 1, dtype=torch.float64)).detach()
    torch.testing.assert_close(bc, float(2**64) * at_one, rtol=1e-12, atol=0)


# -- 2. only the imports and helpers the module uses ------------------------------------

U = u(x, t)
SYSTEMS = {
    "noderiv": PDESystem([U - x * t], [u(0, t)], {x: (0, 1), t: (0, 1)}, [x, t], [U]),
    "deriv": PDESystem([U.diff(t) - a * U.diff(x, 2)], [u(x, 0) - x, u(0, t) - u(1, t)],
                       {x: (0, 1), t: (0, 1)}, [x, t], [U], params={a: 0.1}),
    "pi": PDESystem([U.diff(x, 2) + sp.sin(sp.pi * x)],
                    [sp.Eq(u(x, 0), sp.sin(sp.pi * x)), sp.Subs(U.diff(t), t, 0)],
                    {x: (0, 1), t: (0, 1)}, [x, t], [U]),
    "pointbc": PDESystem([U.diff(t) - U.diff(x, 2)], [u(0.5, 0.5) - 1],
                         {x: (0, 1), t: (0, 1)}, [x, t], [U]),
    "two": PDESystem([U.diff(t) - v(x, t).diff(x), v(x, t) - U.diff(x)], [u(x, 0), v(0, t)],
                     {x: (0, 1), t: (0, 1)}, [x, t], [U, v(x, t)]),
    "noderiv_a": PDESystem([U - a * x], [u(0, t) - a], {x: (0, 1), t: (0, 1)}, [x, t], [U],
                           params={a: 0.5}),
}
OPTIONS = {
    "plain": {},
    "ntk": {"adaptive_loss": NeuralTangentKernelAdaptiveLoss(reweight_every=10)},
    "standardize": {"input_scaling": "standardize"},
    "quadrature": {"strategy": QuadratureTraining(3)},
    "estimated": {"param_estim": True},
}
CASES = [("noderiv", "plain"), ("noderiv", "ntk"), ("noderiv", "quadrature"),
         ("noderiv", "standardize"), ("noderiv_a", "estimated"), ("deriv", "plain"),
         ("deriv", "estimated"), ("deriv", "ntk"), ("pi", "plain"), ("pi", "standardize"),
         ("pointbc", "quadrature"), ("two", "plain")]


def ruff() -> str | None:
    return shutil.which("ruff") or shutil.which("ruff", path=os.path.dirname(sys.executable))


def unused(source: str) -> set[str]:
    """Imported names, and the helpers ``d`` and ``coordinate``, that nothing reads."""
    tree = ast.parse(source)
    defined = {alias.asname or alias.name.split(".")[0] for node in ast.walk(tree)
               if isinstance(node, ast.Import | ast.ImportFrom) for alias in node.names}
    defined |= {node.name for node in tree.body if isinstance(node, ast.FunctionDef)
                and node.name in ("d", "coordinate")}
    read = {node.id for node in ast.walk(tree)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    return defined - read


@pytest.mark.parametrize("derivatives", PATHS)
def test_written_modules_have_no_unused_imports_or_names(tmp_path, derivatives):
    """Without ruff (CI's environment) the check is ast's: no unused import or helper."""
    written = {}
    for system, option in CASES:
        options = dict(OPTIONS[option])
        n_out = 2 if system == "two" else 1
        prob = problem(SYSTEMS[system], derivatives, n_in=2, n_out=n_out, **options)
        path = tmp_path / f"gen_{system}_{option}.py"
        prob.write(path)
        written[path] = prob
        source = path.read_text()
        assert ("import math" in source) == ("math." in source)
        if system.startswith("noderiv"):
            assert "from torch.func import grad" not in source
            assert "def d(" not in source and "def coordinate(" not in source
        assert not unused(source), (path.name, unused(source))
    executable = ruff()
    if executable is not None:  # ruff's F rules too, where it is installed
        result = subprocess.run(
            [executable, "check", "--no-cache", "--isolated", "--select", "F",
             "--output-format", "concise", *map(str, written)],
            capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
    for path, prob in written.items():  # still imports, and its residuals still evaluate
        spec = importlib.util.spec_from_file_location(f"written_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        pts = points(2)
        for term in module.TERMS:
            r = module.RESIDUALS[term](prob.nets, pts, prob.params)
            expected = prob.module.RESIDUALS[term](prob.nets, pts, prob.params)
            torch.testing.assert_close(r, expected)
            assert r.shape == (5, 1)


# -- 3. tuples and dicts without stray separators ---------------------------------------

@pytest.mark.parametrize("derivatives", PATHS)
def test_tuples_and_dicts_render_cleanly(derivatives):
    one = problem(PDESystem([u(x) - x], [], {x: (0, 1)}, [x], [u(x)]), derivatives)
    lines = one.source.splitlines()
    assert 'TERMS = ("pde_0",)' in lines
    assert 'KINDS = {"pde_0": "pde"}' in lines
    assert 'RESIDUALS = {"pde_0": residual_pde_0}' in lines
    assert 'EVALUATE = {"u": evaluate_u}' in lines
    three = problem(SYSTEMS["deriv"], derivatives, n_in=2).source
    assert 'TERMS = ("pde_0", "bc_0", "bc_1")' in three.splitlines()
    for source in (one.source, three):
        assert ", )" not in source and ", }" not in source


# -- 4. a constant argument of atan2 ----------------------------------------------------

@pytest.mark.parametrize("derivatives", PATHS)
def test_constant_atan2_argument_does_not_repeat_the_other(derivatives):
    s = PDESystem([u(x).diff(x) + sp.atan2(2, u(x) + 3)], [u(0)], {x: (0, 1)}, [x], [u(x)])
    prob = problem(s, derivatives)
    assert "torch.full_like(u + 3" not in prob.source
    pts = points(1).requires_grad_(True)
    value = prob.nets[0](pts)
    u_x = torch.autograd.grad(value.sum(), pts)[0]
    expected = u_x + torch.atan2(torch.tensor(2.0, dtype=torch.float64), value.detach() + 3)
    r = prob.residuals["pde_0"](pts)
    torch.testing.assert_close(r.detach().reshape(-1, 1), expected, rtol=1e-10, atol=1e-12)
    point_residual = prob.module.POINT_RESIDUALS["pde_0"]
    nets = prob.nets

    def one(point):
        return point_residual(lambda i, inputs: nets[i](inputs), point, prob.params)

    batched = torch.func.vmap(one)(points(1))
    torch.testing.assert_close(batched.reshape(-1, 1).detach(), expected, rtol=1e-10,
                               atol=1e-12)


# -- 5. source lines after linecache.clearcache() ---------------------------------------

@pytest.mark.parametrize("derivatives", PATHS)
def test_generated_lines_survive_clearcache(derivatives):
    prob = problem(SYSTEMS["deriv"], derivatives, n_in=2)
    linecache.clearcache()
    try:
        prob.module.residual_pde_0(prob.nets, points(2), {})  # no parameter a
    except KeyError:
        tb = traceback.format_exc()
    else:
        pytest.fail("no error")
    assert '    a = params["a"]' in tb
    assert "in residual_pde_0" in tb
    linecache.clearcache()
    assert inspect.getsource(prob.module.residual_pde_0).startswith(
        "def residual_pde_0(nets, points, params):\n")
    linecache.clearcache()
    assert inspect.getsource(prob.module) == prob.source
