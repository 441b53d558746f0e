"""Hostile and clashing names: the generated module stays valid, runs only the maths,
and computes the right residuals.

Symbols and functions are named after keywords, builtins, the generated module's own
names and derivative names, or carry code, quotes, backslashes, newlines and unicode.
The networks are closed-form modules, so every residual can be compared with SymPy.
"""

from __future__ import annotations

import ast
import builtins
import io
import os
import tempfile
import tokenize

import numpy as np
import pytest
import sympy as sp
import torch
from torch.func import vmap

from symbolic_pinn import PDESystem, PhysicsInformedNN, discretize
from symbolic_pinn.adaptive import NeuralTangentKernelAdaptiveLoss
from symbolic_pinn.training import GridTraining, StochasticTraining

SENTINEL = os.path.join(tempfile.gettempdir(), f"symbolic_pinn_pwned_{os.getpid()}")
INJECT_OS = f'"); import os; os.system("touch {SENTINEL}"); ("'
INJECT_BUILTINS = '"); import builtins; builtins.PWNED = 1; ("'
INJECT_DOCSTRING = '"""; import builtins; builtins.PWNED = 2; """'
INJECT_NEWLINE = '\nimport builtins\nbuiltins.PWNED = 3\n#'
INJECT_BACKSLASH = '\\"""\\\\\n__import__("builtins").PWNED = 4 # \\'

# name sets: (X, T, U, V, [param names]); X, T independent, U(X, T), V(X, T) dependent
NAME_SETS = {
    "keywords": ("lambda", "x.y", "class", "print", ["def", "None", "if", "match", "sum"]),
    "injection": (INJECT_OS, INJECT_BUILTINS, INJECT_DOCSTRING, INJECT_NEWLINE,
                  [INJECT_BACKSLASH, 'q"""q', "a\nb", "b\\s\\", "'''", "#"]),
    "unicode": ("θ", "t\r\x00", "ψ", "\u2028", ["ñ", "\x0c", "λ", "", "1x", "__name__"]),
    "collisions": ("x", "t", "u", "v", [
        "u_x", "torch", "d", "nets", "u_xx", "u_t", "f_u", "points", "params", "u",
        "x_u_s1", "u_s1", "u_s2", "grad", "math", "point", "call", "residual_pde_0", "v_x",
        "losses", "weights", "run", "TERMS", "x_2", "u_2",
    ]),
    "derivative_names": ("x", "u_x", "u", "v", ["u_u_x", "u_x_2", "x_x", "v_u_x"]),
}
VALUES = [2.0, 0.5, 1.5, -0.75, 0.25, 3.0, -1.25, 0.125]


def closed_form(X, T):
    """The functions the 'networks' compute, in SymPy."""
    return sp.sin(X) * sp.exp(-T) + X**2 * T, sp.cos(2 * X) * T + X


class ClosedForm(torch.nn.Module):
    """A 'network' computing one closed-form function of its (N, 2) inputs."""

    def __init__(self, which: int) -> None:
        super().__init__()
        self.which = which
        self.scale = torch.nn.Parameter(torch.ones((), dtype=torch.float64))

    def forward(self, inputs):
        X, T = inputs[..., 0:1], inputs[..., 1:2]
        if self.which == 0:
            out = torch.sin(X) * torch.exp(-T) + X**2 * T
        else:
            out = torch.cos(2 * X) * T + X
        return self.scale * out


def build(names):
    xn, tn, un, vn, pnames = names
    X, T = sp.Symbol(xn), sp.Symbol(tn)
    U, V = sp.Function(un), sp.Function(vn)
    P = [sp.Symbol(p) for p in pnames]
    params = {p: VALUES[i % len(VALUES)] for i, p in enumerate(P)}
    u, v = U(X, T), V(X, T)
    extra = sum(p * (X ** (i % 3)) * (T if i % 2 else 1) for i, p in enumerate(P[2:]))
    eqs = [
        sp.Eq(u.diff(T), P[0] * u.diff(X, 2) + P[1] * sp.sin(X) + v),
        v.diff(X) - u * extra + u.diff(X, T) * v.diff(T),
    ]
    bcs = [
        sp.Eq(U(0, T), 0),
        sp.Eq(sp.Subs(u.diff(T), T, 0), P[0] * X),
        U(0, T) - U(1, T),  # periodic: two sites of U
        sp.Subs(v.diff(X, 2), X, 1) + V(0, T) * P[1],
        U(sp.Rational(1, 2), sp.Rational(1, 4)) - P[-1],  # a point condition
    ]
    system = PDESystem(eqs, bcs, {X: (0, 1), T: (0, 1)}, [X, T], [u, v], params)
    return system, (X, T, U, V, params)


def reference(system, symbols, term_name, pts: np.ndarray) -> np.ndarray:
    X, T, U, V, params = symbols
    fu, fv = closed_form(X, T)
    term = next(term for term in system.terms if term.name == term_name)
    expr = term.residual.subs({U: sp.Lambda((X, T), fu), V: sp.Lambda((X, T), fv)}).doit()
    expr = expr.subs(params)
    assert not (expr.free_symbols - {X, T}), expr
    f = sp.lambdify([X, T], expr, modules="numpy", dummify=True)
    return np.broadcast_to(np.asarray(f(pts[:, 0], pts[:, 1]), dtype=np.float64), (len(pts),))


def pwned() -> bool:
    return hasattr(builtins, "PWNED") or os.path.exists(SENTINEL)


def code_tokens(source: str):
    """Tokens outside comments and string literals."""
    skip = {tokenize.COMMENT, tokenize.STRING, tokenize.NL, tokenize.NEWLINE,
            tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    return [tok for tok in tokenize.generate_tokens(io.StringIO(source).readline)
            if tok.type not in skip]


def docstring_nodes(tree) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


# string constants that the template writes itself (no user text in them)
TEMPLATE_TEXT = {
    ("the residuals take derivatives with autograd: call them with gradients enabled (not "
     "under torch.no_grad() or torch.inference_mode())"),
}


def check_source(source: str) -> None:
    assert source.isascii()
    tree = ast.parse(source)
    imports = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imports |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imports |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Call):
            f = node.func
            name = getattr(f, "id", None) or getattr(f, "attr", "")
            assert name not in {"exec", "eval", "compile", "__import__", "open", "system",
                                "setattr", "getattr"}, ast.unparse(node)
        elif isinstance(node, ast.Attribute):
            assert node.attr != "PWNED"
    # the module imports only what it uses, from these
    assert "torch" in imports
    assert imports <= {"math", "torch", "torch.func.grad", "torch.func.grad_and_value",
                       "torch.func.jacrev", "symbolic_pinn.jets.jet"}, imports
    names = {tok.string for tok in code_tokens(source) if tok.type == tokenize.NAME}
    assert not names & {"os", "builtins", "PWNED", "system", "__import__", "import"} - {"import"}
    # the only `import` tokens are those of these import statements
    statements = sum(isinstance(node, ast.Import | ast.ImportFrom) for node in ast.walk(tree))
    assert sum(tok.string == "import" for tok in code_tokens(source)) == statements
    docs = docstring_nodes(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            # term names and parameter keys; and the template's own error message
            assert node.value.isidentifier() or node.value in TEMPLATE_TEXT, repr(node.value)
    for line in source.splitlines():
        assert "\r" not in line and "\x0c" not in line and "\x00" not in line


@pytest.fixture(autouse=True)
def no_injected_side_effects():
    """After every test (and the module fixture's loading): nothing injected ran."""
    yield
    ran = pwned()
    if hasattr(builtins, "PWNED"):
        del builtins.PWNED
    if os.path.exists(SENTINEL):
        os.remove(SENTINEL)
    assert not ran, "injected code ran"


@pytest.fixture(scope="module")
def problems():
    out = {}
    for key, names in NAME_SETS.items():
        system, symbols = build(names)
        prob = discretize(system, PhysicsInformedNN([ClosedForm(0), ClosedForm(1)],
                                                     GridTraining(0.25)))
        out[key] = (system, symbols, prob)
    return out


@pytest.mark.parametrize("key", list(NAME_SETS))
def test_source_is_valid_and_inert(problems, key, capfd):
    _, _, prob = problems[key]
    check_source(prob.source)
    assert not pwned()
    assert "pwned" not in capfd.readouterr().out


@pytest.mark.parametrize("key", list(NAME_SETS))
def test_residuals_are_numerically_correct(problems, key):
    system, symbols, prob = problems[key]
    rng = np.random.default_rng(0)
    pts = rng.random((7, 2))
    tensor = torch.tensor(pts, dtype=torch.float64)
    for name in prob.term_names:
        got = prob.residuals[name](tensor).detach().numpy()
        want = reference(system, symbols, name, pts)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, err_msg=f"{key} {name}")
    assert not pwned()


@pytest.mark.parametrize("key", list(NAME_SETS))
def test_point_residuals_match_batched(problems, key):
    _, _, prob = problems[key]
    pts = torch.tensor(np.random.default_rng(1).random((5, 2)), dtype=torch.float64)

    def call(i, inputs):
        return prob.nets[i](inputs.unsqueeze(0)).squeeze(0)

    for name in prob.term_names:
        fn = prob.module.POINT_RESIDUALS[name]
        got = vmap(lambda p, fn=fn: fn(call, p, prob.params))(pts)
        want = prob.residuals[name](pts)
        torch.testing.assert_close(got.reshape(-1), want.detach(), rtol=1e-9, atol=1e-9)


def test_parameter_identifiers_are_distinct(problems):
    _, (_, _, _, _, params), prob = problems["collisions"]
    assert len(prob.params) == len(params)
    assert set(prob.param_names.values()) == {p.name for p in params}
    for ident in prob.params:
        assert ident.isidentifier()


def test_identifiers_are_safe(problems):
    _, _, prob = problems["keywords"]
    assert prob.ir.indvars == ("lambda_", "x_y")
    assert [dv.ident for dv in prob.ir.depvars] == ["class_", "print_"]
    assert "def lambda" not in prob.source and "\n    print(" not in prob.source


def test_collision_names_do_not_shadow(problems):
    _, _, prob = problems["collisions"]
    body = prob.source.split("def residual_pde_0")[1].split("\ndef ")[0]
    # the module-level helpers keep their names; user symbols get fresh ones
    assert '    u_x = params["u_x"]\n' in body  # the parameter keeps its name...
    assert "u_x = d(" not in body  # ...and the derivative of u gets another one
    derivs = [name for line in body.splitlines() if " = d(" in line
              for name in line.split(" = ")[0].strip().split(", ")]
    assert len(derivs) == len(set(derivs)) == 3  # u_t, u_x, u_xx under fresh names
    assert "u_x" not in derivs
    assert "\n    torch = " not in prob.source and "\n    d = " not in prob.source
    assert "\n    nets = " not in prob.source and "\n    params = " not in prob.source


@pytest.mark.filterwarnings("ignore:NTK trace of term:RuntimeWarning")
def test_training_steps_run_with_hostile_names():
    system, _ = build(NAME_SETS["injection"])
    prob = discretize(system, PhysicsInformedNN(
        [ClosedForm(0), ClosedForm(1)], StochasticTraining(16),
        adaptive_loss=NeuralTangentKernelAdaptiveLoss(reweight_every=1), param_estim=True))
    result = prob.solve(2, seed=0, dtype=torch.float64, progress=False)
    assert result is not None
    assert not pwned()


def test_same_name_twice_with_different_assumptions():
    x1, x2 = sp.Symbol("x"), sp.Symbol("x", positive=True)
    f = sp.Function("f")
    system = PDESystem([f(x1, x2).diff(x1) - f(x1, x2).diff(x2) - x2], [f(0, x2)],
                       {x1: (0, 1), x2: (0, 1)}, [x1, x2], [f(x1, x2)])
    prob = discretize(system, PhysicsInformedNN(ClosedForm(0), GridTraining(0.25)))
    assert prob.ir.indvars == ("x", "x_2")
    pts = np.random.default_rng(2).random((6, 2))
    got = prob.residuals["pde_0"](torch.tensor(pts)).detach().numpy()
    X, T = pts[:, 0], pts[:, 1]
    want = (np.cos(X) * np.exp(-T) + 2 * X * T) - (-np.sin(X) * np.exp(-T) + X**2) - T
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_the_source_checker_catches_injected_code(problems):
    """The checks above are not vacuous: real injected statements fail them."""
    _, _, prob = problems["injection"]
    for bad in ("import os\n", "__import__('os').system('true')\n", "x = 'not an ident'\n",
                "builtins.PWNED = 1\n"):
        with pytest.raises(AssertionError):
            check_source(prob.source + bad)
