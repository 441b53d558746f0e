"""Code generation: determinism, layout, tracebacks, golden file, user names vs the module's own.

Regenerate the golden file with ``SYMBOLIC_PINN_UPDATE_GOLDEN=1 pytest tests/test_codegen.py``.
"""

from __future__ import annotations

import builtins
import dataclasses
import hashlib
import inspect
import os
import re
import subprocess
import symtable
import sys
import traceback
from pathlib import Path

import pytest
import sympy as sp
import torch

import symbolic_pinn
from symbolic_pinn import (
    MLP,
    PDESystem,
    PhysicsInformedNN,
    SymbolicDiscretization,
    discretize,
    symbolic_discretize,
)
from symbolic_pinn.adaptive import NeuralTangentKernelAdaptiveLoss, NonAdaptiveLoss
from symbolic_pinn.codegen import GenerationOptions, generate
from symbolic_pinn.loading import source_hash
from symbolic_pinn.naming import GENERATED_PREFIXES, RESERVED
from symbolic_pinn.training import GridTraining, QuasiRandomTraining

GOLDEN = Path(__file__).parent / "golden"
ROOT = Path(__file__).resolve().parent.parent

x, t, c = sp.symbols("x t c")
u = sp.Function("u")


def wave_system() -> PDESystem:
    """The README quickstart: u_tt = 4 u_xx on [0, 1]^2."""
    eq = sp.Eq(u(x, t).diff(t, 2), 4 * u(x, t).diff(x, 2))
    bcs = [
        sp.Eq(u(0, t), 0),
        sp.Eq(u(1, t), 0),
        sp.Eq(u(x, 0), sp.sin(sp.pi * x) + sp.sin(4 * sp.pi * x) / 2),
        sp.Eq(sp.Subs(u(x, t).diff(t), t, 0), 0),
    ]
    return PDESystem([eq], bcs, {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t)])


def wave_pinn(adaptive_loss=None, derivatives="autograd") -> PhysicsInformedNN:
    """The layout tests pin the autograd path (one line per derivative of the DAG)."""
    if adaptive_loss is None:
        adaptive_loss = NeuralTangentKernelAdaptiveLoss(reweight_every=100)
    return PhysicsInformedNN(MLP(2, 1, [64, 64, 64]), QuasiRandomTraining(300),
                             adaptive_loss=adaptive_loss, derivatives=derivatives)


def mixed_system() -> PDESystem:
    """u_t + c u_x u_xt - u_xx + u_tt = 0 plus conditions that reuse derivatives."""
    eq = (u(x, t).diff(t) + c * u(x, t).diff(x) * u(x, t).diff(x, t) - u(x, t).diff(x, 2)
          + u(x, t).diff(t, 2) + u(x, t).diff(t, x) ** 2)
    bcs = [sp.Eq(u(0, t), 0), u(x, 0).diff(x) + sp.Subs(u(x, t).diff(x, t), t, 0)]
    return PDESystem([eq], bcs, {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t)], params={c: 0.5})


def body(source: str, fn: str) -> list[str]:
    """Lines of one top-level function of the generated source."""
    lines = source.splitlines()
    start = lines.index(next(line for line in lines if line.startswith(f"def {fn}(")))
    out = []
    for line in lines[start + 1:]:
        if line and not line.startswith(" "):
            break
        out.append(line)
    while out and not out[-1].strip():
        out.pop()
    return out


# -- determinism ------------------------------------------------------------------------

def test_generation_is_deterministic():
    a = symbolic_discretize(wave_system(), wave_pinn()).source
    b = symbolic_discretize(wave_system(), wave_pinn()).source
    assert a.encode() == b.encode()
    m1 = symbolic_discretize(mixed_system(), wave_pinn()).source
    m2 = symbolic_discretize(mixed_system(), wave_pinn()).source
    assert m1 == m2


_SCRIPT = """
import hashlib, sys
sys.path.insert(0, {tests!r})
from test_codegen import mixed_system, wave_pinn, wave_system
from symbolic_pinn import symbolic_discretize
for system in (wave_system(), mixed_system()):
    print(hashlib.sha256(symbolic_discretize(system, wave_pinn()).source.encode()).hexdigest())
"""


def test_generation_is_identical_across_hash_seeds():
    script = _SCRIPT.format(tests=str(Path(__file__).parent))
    procs = []
    for seed in ("0", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        procs.append(subprocess.Popen([sys.executable, "-c", script], env=env, cwd=ROOT,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outs.append(out.split())
    here = [hashlib.sha256(symbolic_discretize(s, wave_pinn()).source.encode()).hexdigest()
            for s in (wave_system(), mixed_system())]
    assert outs[0] == outs[1] == here


# -- layout of the generated code ----------------------------------------------------

def derivative_calls(lines: list[str]) -> list[tuple[list[str], str, list[str]]]:
    """The ``names = d(parent, wrt...)`` lines of generated code, parsed."""
    calls = []
    for line in lines:
        if " = d(" in line:
            names, rhs = line.strip().split(" = d(")
            parent, *wrt = rhs.rstrip(")").split(", ")
            calls.append((names.split(", "), parent, wrt))
    return calls


def test_each_derivative_computed_once_one_call_per_parent():
    source = symbolic_discretize(wave_system(), wave_pinn()).source
    lines = body(source, "residual_pde_0")
    derivs = [line.strip() for line in lines if re.match(r"\s+[\w, ]+ = d\(", line)]
    # u_t and u_x differentiate u: one call, one backward pass
    assert derivs == ["u_t, u_x = d(u, t, x)", "u_tt = d(u_t, t)", "u_xx = d(u_x, x)"]
    assert lines[-1].strip() == "return u_tt - 4*u_xx"
    for name in ("u_t", "u_x", "u_tt", "u_xx"):
        assert sum(name in c[0] for c in derivative_calls(lines)) == 1


def test_mixed_derivatives_share_their_chain():
    sym = symbolic_discretize(mixed_system(), wave_pinn())
    calls = derivative_calls(body(sym.source, "residual_pde_0"))
    # u_t, u_x, u_tt, u_xt, u_xx: one call per differentiated value (u, u_t, u_x)
    assert calls == [(["u_t", "u_x"], "u", ["t", "x"]), (["u_tt"], "u_t", ["t"]),
                     (["u_xt", "u_xx"], "u_x", ["t", "x"])]
    assert [c[0] for c in derivative_calls(body(sym.source, "residual_bc_1"))] == [
        ["u_x"], ["u_xt"]]
    assert sym.derivatives["pde_0"] == ["u_t", "u_x", "u_tt", "u_xt", "u_xx"]
    # every derivative is defined before it is used, by the derivative of its name
    seen = {"u", "x", "t"}
    for names, parent, wrt in calls:
        assert parent in seen and set(wrt) <= seen
        assert names == [parent + ("_" if parent == "u" else "") + w for w in wrt]
        seen.update(names)
    # the point-wise variant builds the same DAG with torch.func.grad, and evaluates the
    # derivatives of one value by one call (point_calls.point_evaluations)
    point = [line.strip() for line in body(sym.source, "point_residual_pde_0")]
    assert point[8:13] == [
        "def f_u_grad(x, t):  # (u_t, u_x) to differentiate, and (u_t, u_x) to keep",
        "u_t, u_x = grad(f_u, argnums=(1, 0))(x, t)",
        "return (u_t, u_x), (u_t, u_x)",
        "",
        ("((u_tt, _), (u_xt, u_xx)), (u_t, u_x) = jacrev(f_u_grad, argnums=(1, 0), "
         "has_aux=True)(x, t)")]
    assert not any(line.startswith("f_u_") for line in point)  # no derivative function
    bc = [line.strip() for line in body(sym.source, "point_residual_bc_1")]  # u_x, u_xt
    assert "u_xt, u_x = grad_and_value(f_u_x, argnums=1)(x, t)" in bc


@pytest.mark.parametrize("derivatives", ["autograd", "taylor"])
def test_point_residuals_share_their_evaluations(derivatives):
    """The per-point residuals evaluate the derivatives of one value in one call, with the
    value when it is read too (and a second derivative with the values below it: more in
    tests/test_point_calls.py), define only the functions something calls, and equal the
    batched residuals (float64)."""
    eq = u(x, t).diff(t) - u(x, t).diff(x, 2) + u(x, t) * u(x, t).diff(x)  # u, u_t, u_x
    bcs = [u(x, 0).diff(x) + u(x, 0),  # u_x and its value at t = 0: grad_and_value, argnums=0
           sp.Subs(u(x, t).diff(x, t) + u(x, t).diff(x, 2), t, 0)]  # u_xt, u_xx: grad
    system = PDESystem([eq], bcs, {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t)])
    torch.manual_seed(0)
    prob = discretize(system, PhysicsInformedNN(MLP(2, 1, [8]).double(), QuasiRandomTraining(8),
                                                derivatives=derivatives))
    lines = {t: [line.strip() for line in body(prob.source, f"point_residual_{t}")]
             for t in ("pde_0", "bc_0", "bc_1")}
    assert "(u_t, u_x), u = grad_and_value(f_u, argnums=(1, 0))(x, t)" in lines["pde_0"]
    assert ("u_xx, (u_x, (u_t, u)) = grad_and_value(f_u_grad, argnums=0, has_aux=True)(x, t)"
            in lines["pde_0"])
    assert not any(line.startswith("f_u_") for line in lines["pde_0"])  # not called
    assert any(" = grad_and_value(f_u, argnums=0)(x, t)" in line for line in lines["bc_0"])
    assert any(" = grad(f_u_x, argnums=(1, 0))(x, t)" in line for line in lines["bc_1"])
    assert "from torch.func import grad, grad_and_value" in prob.source
    pts = torch.rand(6, 2, dtype=torch.float64)

    def call(i, inp):
        return prob.nets[i](inp.unsqueeze(0)).squeeze(0)

    for term in ("pde_0", "bc_0", "bc_1"):
        fn = prob.module.POINT_RESIDUALS[term]
        pointwise = torch.func.vmap(lambda p, fn=fn: fn(call, p, prob.params))(pts)
        torch.testing.assert_close(pointwise.detach(),
                                   prob.residuals[term](pts).detach().reshape(-1),
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("trainable", [True, False])
def test_one_call_for_several_derivatives_of_a_constant(trainable):
    """A linear network: u_x is a constant, so ``u_xt, u_xx = d(u_x, t, x)`` is zero,
    whether u_x is a function of trainable weights (autograd returns no gradient, made
    zeros) or not part of any graph (frozen weights: ``d``'s own zeros)."""
    net = torch.nn.Linear(2, 1).double().requires_grad_(trainable)
    prob = discretize(mixed_system(), PhysicsInformedNN(net, QuasiRandomTraining(8)))
    assert "u_xt, u_xx = d(u_x, t, x)" in prob.source
    pts = torch.rand(5, 2, dtype=torch.float64)
    r = prob.module.residual_pde_0(prob.nets, pts, {"c": torch.tensor(0.5)})
    b = net.weight[0, 1].detach()
    torch.testing.assert_close(r.detach(), torch.full((5, 1), float(b), dtype=torch.float64),
                               rtol=1e-14, atol=1e-14)  # u_t alone: u_tt = u_xt = u_xx = 0
    u_x = torch.ones(5, 1, dtype=torch.float64)  # requires no gradient
    xs = torch.rand(5, 1, requires_grad=True), torch.rand(5, 1, requires_grad=True)
    zeros = prob.module.d(u_x, *xs)
    assert isinstance(zeros, tuple) and all(torch.equal(z, torch.zeros(5, 1)) for z in zeros)


def test_condition_derivatives_are_named_like_equation_ones():
    sym = symbolic_discretize(mixed_system(), wave_pinn())
    lines = [line.strip() for line in body(sym.source, "residual_bc_1")]
    assert "u_x = d(u, x)" in lines and "u_xt = d(u_x, t)" in lines
    assert "t = torch.full_like(points[:, 1:2], 0.0).requires_grad_(True)" in lines


def test_hook_call_visible_for_ntk_and_absent_without():
    ntk = symbolic_discretize(wave_system(), wave_pinn()).source
    fixed = symbolic_discretize(wave_system(), wave_pinn(NonAdaptiveLoss())).source
    closure = "\n".join(body(ntk, "make_closure"))
    assert closure.count("run.adapt(losses)") == 1
    assert closure.index("run.adapt(") < closure.index("loss = (")  # before weights apply
    assert "NeuralTangentKernelAdaptiveLoss" in closure
    assert "run.adapt(" not in fixed and "NonAdaptiveLoss" not in fixed
    assert source_hash(ntk) != source_hash(fixed)


def test_getsource_of_a_generated_residual():
    prob = discretize(wave_system(), wave_pinn())
    text = inspect.getsource(prob.module.residual_pde_0)
    assert text.startswith("def residual_pde_0(nets, points, params):")
    assert "    u_xx = d(u_x, x)\n" in text and "return u_tt - 4*u_xx" in text
    assert inspect.getsource(prob.module) == prob.source
    assert prob.module.__name__ == f"symbolic_pinn.generated.m{source_hash(prob.source)}"


def test_runtime_error_shows_the_generated_line():
    prob = discretize(mixed_system(), wave_pinn())
    pts = torch.rand(4, 2)
    try:
        prob.module.residual_pde_0(prob.nets, pts, {})  # no parameter c
    except KeyError:
        tb = traceback.format_exc()
    else:
        pytest.fail("no error")
    assert '    c = params["c"]' in tb
    assert f"<symbolic_pinn generated m{source_hash(prob.source)}>" in tb
    assert "in residual_pde_0" in tb


def test_error_inside_the_network_call_shows_the_generated_line():
    class Breaks(torch.nn.Module):
        def forward(self, inputs):
            if inputs.shape[0] > 2:  # passes the shape check at discretize
                raise RuntimeError("boom")
            return inputs[:, :1]

    prob = discretize(wave_system(), PhysicsInformedNN(Breaks(), QuasiRandomTraining(8)))
    with pytest.raises(RuntimeError, match="boom") as info:
        prob.residuals["bc_2"](torch.rand(5, 2))
    tb = "".join(traceback.format_exception(info.value))
    assert "u = nets[0](torch.cat((x, t), dim=1))[:, 0:1]  # u(x, t)" in tb
    assert "in residual_bc_2" in tb


def test_write_saves_the_same_text(tmp_path):
    prob = discretize(wave_system(), wave_pinn())
    path = prob.write(tmp_path / "wave.py")
    assert path == tmp_path / "wave.py"
    assert path.read_bytes() == prob.source.encode("utf-8")
    compile(path.read_text(encoding="utf-8"), str(path), "exec")


def test_symbolic_discretize_returns_without_loading_or_training():
    a = sp.Symbol("alpha_symbolic_only")
    system = PDESystem([u(x, t).diff(t) - a * u(x, t).diff(x, 2)], [u(0, t)],
                       {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t)], params={a: 0.25})
    net = MLP(2, 1, [4])
    before = [p.detach().clone() for p in net.parameters()]
    sym = symbolic_discretize(system, PhysicsInformedNN(net, GridTraining(0.5)))
    assert isinstance(sym, SymbolicDiscretization)
    assert sym.term_names == ("pde_0", "bc_0")
    u_t, u_xx = sp.symbols("u_t u_xx")
    assert sp.simplify(sym.residuals["pde_0"] - (u_t - a * u_xx)) == 0
    assert sym.residuals["bc_0"] == sp.Symbol("u")
    assert sym.derivatives == {"pde_0": ["u_t", "u_x", "u_xx"], "bc_0": []}
    assert "def residual_pde_0(nets, points, params):" in sym.source
    assert f"symbolic_pinn.generated.m{source_hash(sym.source)}" not in sys.modules
    assert all(torch.equal(p, q) for p, q in zip(before, net.parameters()))
    assert all(p.grad is None for p in net.parameters())


# -- golden file -------------------------------------------------------------------------

@pytest.mark.parametrize("derivatives, name", [("autograd", "wave1d_ntk.py"),
                                               ("taylor", "wave1d_ntk_taylor.py")])
def test_golden_wave1d_ntk(derivatives, name):
    path = GOLDEN / name
    source = discretize(wave_system(), wave_pinn(derivatives=derivatives)).source
    if os.environ.get("SYMBOLIC_PINN_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8", newline="\n")
    assert path.is_file(), "golden file missing; run with SYMBOLIC_PINN_UPDATE_GOLDEN=1"
    golden = path.read_text(encoding="utf-8")
    assert source == golden, (
        f"generated wave module differs from tests/golden/{name}; if the change is "
        "intended, regenerate with SYMBOLIC_PINN_UPDATE_GOLDEN=1"
    )
    assert golden.startswith(f"# Generated by symbolic_pinn {symbolic_pinn.__version__}.")


@pytest.mark.parametrize("derivatives", ["autograd", "taylor"])
@pytest.mark.parametrize("f", [sp.Piecewise((0.1, x > 0.5), (0.3, True)),
                               sp.pi * sp.Piecewise((1, x > 0.5), (0, True)),
                               sp.exp(sp.Piecewise((1, x > 0.5), (2, True)))])
def test_constant_piecewise_branches_keep_the_networks_dtype(f, derivatives):
    """torch.where of two numbers is float32 (or int64): the branches take x's dtype."""
    assert torch.get_default_dtype() == torch.float32
    system = PDESystem([u(x, t) - f], [u(0, t)], {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t)])
    torch.manual_seed(0)
    prob = discretize(system, PhysicsInformedNN(MLP(2, 1, [4]).double(), GridTraining(0.5),
                                                derivatives=derivatives))
    pts = torch.rand(7, 2, dtype=torch.float64)
    got = prob.residuals["pde_0"](pts).detach()
    with torch.no_grad():
        expected = prob.nets[0](pts)[:, 0] - torch.tensor(
            [float(f.subs(x, float(v))) for v in pts[:, 0]], dtype=torch.float64)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, expected, rtol=1e-15, atol=1e-15)


# -- user names never clash with the generated module's own -----------------------------
# Every RESERVED name (jet and coordinate included) is used as an independent variable, a
# dependent variable and a parameter, on both derivative paths; the residuals are checked
# against SymPy for closed-form networks. Then the generated source is scanned: every name
# it defines, imports, or reads inside a function that also binds user names is RESERVED.

NAMES = sorted(RESERVED | {"jet", "coordinate"})


class SineWave(torch.nn.Module):
    """``sin(w . inputs + b)`` in float64: the closed form of ``sine_mlp(w, b)``."""

    def __init__(self, w, b):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(w, dtype=torch.float64))  # sets the dtype
        self.b = b

    def forward(self, inputs):
        return torch.sin(inputs @ self.w[:, None] + self.b)


def sine_mlp(w, b) -> MLP:
    """An MLP (so the taylor path can take it) whose one sine unit computes sin(w . z + b)."""
    net = MLP(len(w), 1, [1], activation="sin").double()
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([w], dtype=torch.float64))
        net[0].bias.fill_(b)
        net[2].weight.fill_(1.0)
        net[2].bias.zero_()
    return net


def names_problem(role: str):
    """A system whose variables, functions or parameters carry every name of NAMES, and
    the closed form sin(w . args + b) of each function."""
    n = len(NAMES)
    z, f = sp.Symbol("z"), sp.Function("f")
    if role == "variable":
        vs = sp.symbols(NAMES)
        g = f(*vs)
        eqs = [sum((k + 1) * g.diff(v) for k, v in enumerate(vs)) + g.diff(vs[0], 2)]
        bcs = [g.subs(vs[0], 0), sp.Subs(g.diff(vs[1]), vs[0], 1)]
        closed = {f: (vs, [0.5 + k / n for k in range(n)], 0.3)}
        return PDESystem(eqs, bcs, dict.fromkeys(vs, (0, 1)), vs, [g]), closed, {}
    if role == "function":
        fs = [sp.Function(name)(z) for name in NAMES]
        eqs = [sum(g.diff(z, 2) + (k + 1) * g.diff(z) for k, g in enumerate(fs))]
        bcs = [sum(g.subs(z, 0) for g in fs), sum(sp.Subs(g.diff(z), z, 1) for g in fs)]
        closed = {g.func: ((z,), [1 + k / n], k / n) for k, g in enumerate(fs)}
        return PDESystem(eqs, bcs, {z: (0, 1)}, [z], fs), closed, {}
    syms = sp.symbols(NAMES)
    ps = {p: 0.1 * (k + 1) for k, p in enumerate(syms)}
    eqs = [f(z).diff(z, 2) + sum(p * z ** (k % 3) for k, p in enumerate(syms))]
    bcs = [f(0) - sum(syms), sp.Subs(f(z).diff(z), z, 1) * syms[0] - syms[-1]]
    closed = {f: ((z,), [1.5], 0.2)}
    return PDESystem(eqs, bcs, {z: (0, 1)}, [z], [f(z)], params=ps), closed, ps


@pytest.mark.parametrize("derivatives", ["autograd", "taylor"])
@pytest.mark.parametrize("role", ["variable", "function", "parameter"])
def test_reserved_names_in_every_role_give_correct_residuals(role, derivatives):
    system, closed, params = names_problem(role)
    make = sine_mlp if derivatives == "taylor" else SineWave
    nets = [make(w, b) for _, w, b in closed.values()]
    prob = discretize(system, PhysicsInformedNN(nets, QuasiRandomTraining(4),
                                                derivatives=derivatives,
                                                param_estim=derivatives == "taylor"))
    assert prob.symbolic.options.derivatives == derivatives
    gen = torch.Generator().manual_seed(1)
    points = torch.rand(9, len(system.indvars), generator=gen, dtype=torch.float64)
    lambdas = {f: sp.Lambda(tuple(args), sp.sin(sum(wi * a for wi, a in zip(w, args)) + b))
               for f, (args, w, b) in closed.items()}
    for term in system.terms:
        expr = term.residual.replace(lambda e: e.func in lambdas,
                                     lambda e: lambdas[e.func](*e.args))
        ref = sp.lambdify(system.indvars, expr.doit().subs(params), "numpy", dummify=True)
        want = torch.as_tensor(ref(*points.T.numpy()), dtype=torch.float64).expand(9)
        assert want.abs().max() > 1e-3  # the check means something
        got = prob.residuals[term.name](points)
        torch.testing.assert_close(got.detach(), want, rtol=1e-10, atol=1e-10)

        def call(i, inp):
            return prob.nets[i](inp.unsqueeze(0)).squeeze(0)

        fn = prob.module.POINT_RESIDUALS[term.name]
        pointwise = torch.func.vmap(lambda p: fn(call, p, prob.params))(points)  # noqa: B023
        torch.testing.assert_close(pointwise.detach(), want, rtol=1e-10, atol=1e-10)


def representative_system() -> PDESystem:
    """One network for u and v (a shared call), a periodic condition (two sites of u, each
    with its own coordinate), a combined channel (u_tt - 4 u_xx), an estimated parameter."""
    v = sp.Function("v")
    eqs = [u(x, t).diff(t, 2) - 4 * u(x, t).diff(x, 2) + c * v(x, t) * u(x, t).diff(x),
           v(x, t).diff(t) - u(x, t)]
    bcs = [u(0, t) - u(1, t), sp.Subs(u(x, t).diff(t), t, 0) + v(x, 0), v(0.5, 0.5) - 1]
    return PDESystem(eqs, bcs, {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t), v(x, t)],
                     params={c: 0.5})


def assert_generated_names_reserved(source: str) -> None:
    """Every name the module defines or imports, every name a function reads from outside
    itself, the arguments of the functions that bind user names, and every name of the
    template's own functions (closure, step) is RESERVED (or a builtin, or one of the
    module's ``residual_<term>``-style functions)."""
    top = symtable.symtable(source, "<generated>", "exec")
    defined = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()}
    generated = {n for n in defined if n.startswith(GENERATED_PREFIXES)}
    allowed = RESERVED | generated
    assert defined <= allowed, sorted(defined - allowed)
    assert generated, "no per-term function found: the scan reads the wrong source"

    def walk(table, owner: str, enclosing: frozenset = frozenset()) -> None:
        reads = {s.get_name() for s in table.get_symbols() if s.is_global()}
        missing = reads - allowed - set(dir(builtins))
        assert not missing, f"{owner}/{table.get_name()} reads {sorted(missing)}"
        # a nested function's free names are its generated enclosing function's own
        free = {s.get_name() for s in table.get_symbols() if s.is_free()}
        assert free <= enclosing, f"{owner}/{table.get_name()} reads {sorted(free)}"
        if owner.startswith(GENERATED_PREFIXES) and table.get_name() == owner:
            assert set(table.get_parameters()) <= RESERVED, (owner, table.get_parameters())
        if owner in ("all_residuals", "make_closure", "train_step"):
            names = {s.get_name() for s in table.get_symbols()} - set(dir(builtins))
            assert names <= allowed, f"{owner}: {sorted(names - allowed)}"
        bound = {s.get_name() for s in table.get_symbols()
                 if s.is_local() or s.is_parameter()} if table.get_type() == "function" else set()
        for child in table.get_children():
            walk(child, owner, enclosing | bound)

    for fn in top.get_children():
        walk(fn, fn.get_name())


@pytest.mark.parametrize("derivatives", ["autograd", "taylor"])
def test_every_name_of_the_generated_module_is_reserved(derivatives):
    pinn = PhysicsInformedNN(MLP(2, 2, [4]), QuasiRandomTraining(8), param_estim=True,
                             adaptive_loss=NeuralTangentKernelAdaptiveLoss(10),
                             derivatives=derivatives)
    sym = symbolic_discretize(representative_system(), pinn)
    for needed in ("net0_out" if derivatives == "autograd" else "u_comb", "x_u_s1", "c = "):
        assert needed in sym.source, needed
    assert_generated_names_reserved(sym.source)
    # every branch of the template: each boolean option on, both hook placements
    flags = {f.name: True for f in dataclasses.fields(GenerationOptions)
             if isinstance(f.default, bool)}
    flags["compile"] = derivatives == "taylor"
    for hook in ("losses", "step"):
        options = GenerationOptions(**flags, hook=hook, derivatives=derivatives)
        assert_generated_names_reserved(generate(sym.ir, options))
