"""Bad input gets a clear error from the symbolic_pinn.errors hierarchy.

Every message names the term at fault (``pde_0``, ``bc_1``) and the offending symbol
or function; no raw Python, SymPy or torch exception escapes.
"""

from __future__ import annotations

import math

import pytest
import sympy as sp
import torch

from symbolic_pinn import (
    MLP,
    CodegenError,
    PDESystem,
    PhysicsInformedNN,
    ProblemError,
    StrategyError,
    SymbolicPinnError,
    TrainingError,
    discretize,
    symbolic_discretize,
)
from symbolic_pinn.adaptive import Compose, NeuralTangentKernelAdaptiveLoss, NonAdaptiveLoss
from symbolic_pinn.training import (
    GridTraining,
    QuadratureTraining,
    QuasiRandomTraining,
    StochasticTraining,
)

x, t, a, n, y = sp.symbols("x t a n y")
u, v, w = sp.Function("u"), sp.Function("v"), sp.Function("w")
DOMAINS = {x: (0, 1), t: (0, 1)}
HEAT = sp.Eq(u(x, t).diff(t), u(x, t).diff(x, 2))
BC0 = sp.Eq(u(0, t), 0)
U = u(x, t)


def system(eqs=(HEAT,), bcs=(BC0,), domains=None, indvars=(x, t), depvars=(U,),
           params=None) -> PDESystem:
    return PDESystem(list(eqs), list(bcs), DOMAINS if domains is None else domains,
                     list(indvars), list(depvars), params)


def pinn(net=None, **kw) -> PhysicsInformedNN:
    return PhysicsInformedNN(MLP(2, 1, [8]) if net is None else net, GridTraining(0.25), **kw)


def generate(bc=None, eq=HEAT, **kw):
    """Run analysis and code generation on a heat system with one extra term."""
    bcs = [BC0] if bc is None else [BC0, bc]
    return symbolic_discretize(system(eqs=[eq], bcs=bcs, **kw), pinn())


def check(exc_info, cls, *fragments):
    err = exc_info.value
    assert isinstance(err, cls) and isinstance(err, SymbolicPinnError), type(err)
    text = str(err)
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"
    return text


# -- the required cases ---------------------------------------------------------------

def test_unknown_symbol_names_term_and_symbol():
    with pytest.raises(ProblemError) as info:
        generate(sp.Eq(u(1, t), a))
    check(info, ProblemError, "bc_1", "unknown symbol a", "params")


XR = sp.Symbol("x", real=True)  # the name of x, other assumptions: another symbol to SymPy
SAME_NAME = "x has the name of the variable x but other assumptions: use one Symbol object"


@pytest.mark.parametrize("make, shown", [
    (lambda: generate(eq=sp.Eq(u(x, t).diff(t), u(x, t).diff(x, 2) + XR)),
     ["pde_0", "unknown symbol x", SAME_NAME]),
    (lambda: generate(eq=sp.Eq(u(x, t).diff(t), u(XR, t))), ["pde_0", "argument x of u(x, t)",
                                                             SAME_NAME]),
    (lambda: system(depvars=(u(XR, t),)), ["argument x is not an independent variable",
                                           SAME_NAME]),
    (lambda: system(domains={"x": (0, 1), t: (0, 1)}),
     ["domain given for x", "the string 'x': use the symbol x itself"]),
    # SymPy makes d/dx_real u(x, t) zero at once: the term is 0 and constrains nothing
    (lambda: system(eqs=(u(x, t).diff(XR),)), ["pde_0", "residual is identically 0"]),
])
def test_lookalike_symbols_and_vanished_terms(make, shown):
    with pytest.raises(ProblemError) as info:
        make()
    check(info, ProblemError, *shown)


def test_unknown_symbol_in_equation():
    with pytest.raises(ProblemError) as info:
        generate(eq=sp.Eq(u(x, t).diff(t), a * u(x, t).diff(x, 2)))
    check(info, ProblemError, "pde_0", "unknown symbol a")


@pytest.mark.parametrize("make", [
    lambda: sp.Derivative(u(x, t), a, evaluate=False),
    lambda: sp.Derivative(u(x, t), a),
    lambda: sp.Eq(sp.Derivative(u(x, t), (a, 2)), 0),
])
def test_derivative_with_respect_to_non_variable(make):
    with pytest.raises(ProblemError) as info:
        generate(make())
    check(info, ProblemError, "bc_1", "with respect to a", "not an independent variable")


def test_derivative_with_respect_to_a_parameter():
    with pytest.raises(ProblemError) as info:
        generate(sp.Derivative(u(x, t), a, evaluate=False), params={a: 1.0})
    check(info, ProblemError, "bc_1", "with respect to a")


def test_derivative_with_respect_to_a_function():
    with pytest.raises(ProblemError) as info:
        generate(sp.Derivative(u(x, t), u(x, t)))
    check(info, ProblemError, "bc_1", "with respect to u(x, t)")


def test_derivative_of_symbolic_order():
    with pytest.raises(ProblemError) as info:
        generate(sp.Derivative(u(x, t), (x, n)))
    check(info, ProblemError, "bc_1", "order n", "positive integers")


def test_condition_on_a_variable_without_domain():
    # y is used as an argument but is no independent variable (so it has no domain)
    with pytest.raises(ProblemError) as info:
        generate(sp.Eq(u(x, y), 0))
    check(info, ProblemError, "bc_1", "argument y", "u(x, y)")


def test_condition_on_a_variable_outside_the_domains_in_an_expression():
    with pytest.raises(ProblemError) as info:
        generate(sp.Eq(u(x, 0), y))
    check(info, ProblemError, "bc_1", "unknown symbol y")


def test_independent_variable_without_domain():
    with pytest.raises(ProblemError) as info:
        system(domains={x: (0, 1)})
    check(info, ProblemError, "t", "has no domain")


@pytest.mark.parametrize("func, name", [
    (lambda: sp.besselj(0, t), "besselj"),
    (lambda: sp.gamma(t), "gamma"),
    (lambda: sp.LambertW(t), "LambertW"),
    (lambda: sp.Max(t, 0.5), "Max"),
    (lambda: sp.Heaviside(t), "Heaviside"),
])
def test_unsupported_function_is_a_codegen_error(func, name):
    with pytest.raises(CodegenError) as info:
        generate(sp.Eq(u(1, t), func()))
    check(info, CodegenError, "bc_1", name, "no PyTorch translation")


def test_unsupported_function_in_equation():
    with pytest.raises(CodegenError) as info:
        generate(eq=sp.Eq(u(x, t).diff(t), sp.gamma(x) * u(x, t).diff(x, 2)))
    check(info, CodegenError, "pde_0", "gamma")


@pytest.mark.parametrize("bc, shown", [
    (sp.Eq(u(1), 0), "u(1) has 1 argument"),
    (sp.Eq(u(x, t, x), 0), "u(x, t, x) has 3 argument"),
    (sp.Eq(sp.Subs(u(x).diff(x), x, 0), 0), "has 1 argument"),
])
def test_dependent_variable_with_wrong_number_of_arguments(bc, shown):
    with pytest.raises(ProblemError) as info:
        generate(bc)
    check(info, ProblemError, "bc_1", shown, "declared as u(x, t)")


# -- more cases -----------------------------------------------------------------------

@pytest.mark.parametrize("bc", [sp.Eq(v(1, t), 0), sp.Eq(v(x, t).diff(x), 0), w(x) + u(x, 0)])
def test_function_that_is_not_a_dependent_variable(bc):
    with pytest.raises(ProblemError) as info:
        generate(bc)
    check(info, ProblemError, "bc_1", "is not a dependent variable", "declared: u")


@pytest.mark.parametrize("bounds, shown", [
    ((1, 1), "empty or inverted"), ((1, 0), "empty or inverted"),
    ((0, sp.oo), "not finite"), ((-math.inf, 0), "not finite"), ((0, float("nan")), "not finite"),
    ((0, a), "not a number"), ((0, "abc"), "not a number"), ((0, sp.I), "not a number"),
    ((0, 1, 2), "expected (lower, upper)"),
])
def test_bad_domain(bounds, shown):
    with pytest.raises(ProblemError) as info:
        system(domains={x: bounds, t: (0, 1)})
    check(info, ProblemError, "domain of x", shown)


def test_domain_for_a_non_variable():
    with pytest.raises(ProblemError) as info:
        system(domains={**DOMAINS, a: (0, 1)})
    check(info, ProblemError, "domain given for a")


@pytest.mark.parametrize("value, shown", [
    (float("nan"), "not finite"), (math.inf, "not finite"), (sp.oo, "not finite"),
    ("abc", "not a number"), (1j, "not a number"),
])
def test_bad_parameter_value(value, shown):
    with pytest.raises(ProblemError) as info:
        system(params={a: value})
    check(info, ProblemError, "parameter a", shown)


def test_parameter_that_is_an_independent_variable():
    with pytest.raises(ProblemError) as info:
        system(params={x: 1.0})
    check(info, ProblemError, "parameter x", "independent variable")


@pytest.mark.parametrize("bc, truth", [(sp.Eq(x, x), "True"), (sp.Eq(1, 2), "False"),
                                       (sp.Eq(u(0, t).diff(x), 1), "False")])
def test_trivial_equation(bc, truth):
    with pytest.raises(ProblemError) as info:
        system(bcs=[BC0, bc])
    # the commonest cause, a derivative of u(0, t), gets the Subs spelling as a hint
    check(info, ProblemError, "bc_1", f"trivially {truth}", "u(x, t).diff(x).subs(x, 0)")


@pytest.mark.parametrize("eqs, bcs, term", [
    ([HEAT], [BC0, sp.Eq(x, 0)], "term bc_1 (Eq(x, 0))"),
    ([HEAT, sp.Eq(t**2, 1)], [BC0], "term pde_1 (Eq(t**2, 1))"),
    ([HEAT], [BC0, sp.Integer(3)], "term bc_1 (3)"),
])
def test_a_term_without_a_dependent_variable_or_parameter(eqs, bcs, term):
    """Its loss is fixed: nothing training changes enters it. It used to train, with a
    constant loss, and NTK warned of a zero trace at every update. (A term on the
    parameters alone, which trains them, is allowed.)"""
    with pytest.raises(ProblemError) as info:
        discretize(system(eqs=eqs, bcs=bcs, params={a: 1.0}), pinn())
    check(info, ProblemError, term, "none of the dependent variables (u) and no parameter")


@pytest.mark.parametrize("bc, shown", [
    (x > 0, "StrictGreaterThan"), (sp.Le(u(0, t), 1), "LessThan"),
    (sp.And(x > 0, t > 0), "And"), (None, "NoneType"), ([u(0, t)], "list"),
    (sp.Matrix([u(0, t)]), "matrix"),
])
def test_not_an_equation(bc, shown):
    with pytest.raises(ProblemError) as info:
        system(bcs=[BC0, bc])
    check(info, ProblemError, "bc_1", shown)


def test_not_an_equation_in_equations():
    with pytest.raises(ProblemError) as info:
        system(eqs=[HEAT, sp.Ne(u(x, t), 0)])
    check(info, ProblemError, "pde_1", "Unequality")


def test_no_equation():
    with pytest.raises(ProblemError, match="no equation"):
        system(eqs=[])


@pytest.mark.parametrize("depvars", [[u(x, t), u(x, t)], [u(x, t), u(x)]])
def test_duplicate_dependent_variables(depvars):
    with pytest.raises(ProblemError) as info:
        system(depvars=depvars)
    check(info, ProblemError, "dependent variable u", "declared twice")


@pytest.mark.parametrize("depvars, shown", [
    ([u], "applied undefined function"), ([u(x, a)], "argument a"),
    ([u(x, x)], "repeats"), ([sp.sin(x)], "applied undefined function"),
])
def test_bad_dependent_variable(depvars, shown):
    with pytest.raises(ProblemError) as info:
        system(depvars=depvars)
    check(info, ProblemError, "dependent variable", shown)


@pytest.mark.parametrize("indvars, shown", [([x, 2], "not a sympy.Symbol"), ([x, x], "repeat")])
def test_bad_independent_variables(indvars, shown):
    with pytest.raises(ProblemError) as info:
        system(indvars=indvars)
    check(info, ProblemError, shown)


@pytest.mark.parametrize("bc, shown", [
    (u(sp.I, t), "argument I"), (u(x + 1, t), "argument x + 1"), (u(sp.oo, t), "argument oo"),
])
def test_bad_site_argument(bc, shown):
    with pytest.raises(ProblemError) as info:
        generate(bc)
    check(info, ProblemError, "bc_1", shown, "independent variable or a real number")


@pytest.mark.parametrize("point, shown", [(a, "to a"), (x + 1, "to x + 1")])
def test_subs_to_an_unsupported_point(point, shown):
    with pytest.raises(ProblemError) as info:
        generate(sp.Subs(u(x, t).diff(t), t, point))
    check(info, ProblemError, "bc_1", f"Subs sets t {shown}")


@pytest.mark.parametrize("const, shown", [(sp.oo, "oo"), (-sp.oo, "-oo"), (sp.zoo, "zoo")])
def test_non_finite_constant(const, shown):
    with pytest.raises(CodegenError) as info:
        generate(sp.Eq(u(1, t), const * t))
    check(info, CodegenError, "bc_1", shown, "is not finite")


def test_complex_constant():
    with pytest.raises(CodegenError) as info:
        generate(sp.Eq(u(1, t), sp.I * t))
    check(info, CodegenError, "bc_1", "complex")


@pytest.mark.parametrize("expr, name", [
    (sp.Integral(u(x, t), x), "Integral"),
    (sp.Sum(u(x, t), (n, 1, 3)), "Sum"),
])
def test_unsupported_construct(expr, name):
    with pytest.raises(CodegenError) as info:
        generate(expr)
    check(info, CodegenError, "bc_1", name)


def test_piecewise_without_default_branch():
    with pytest.raises(CodegenError) as info:
        generate(u(1, t) - sp.Piecewise((1, t > 0.5)))
    check(info, CodegenError, "bc_1", "Piecewise", "True")


def test_piecewise_with_boolean_condition_runs():
    """``And``/``Or`` print as elementwise ``&``/``|``, not Python's ``and``."""
    cond = (t > 0.25) & (t < 0.75) | ~(t < 0.9)

    class Zero(torch.nn.Module):
        def forward(self, inputs):
            return inputs[:, :1] * 0

    bc = u(1, t) - sp.Piecewise((1.0, cond), (0.0, True))
    prob = discretize(system(bcs=[BC0, bc]), pinn(Zero()))
    pts = torch.tensor([[1.0, 0.1], [1.0, 0.5], [1.0, 0.8], [1.0, 0.95]])
    got = prob.residuals["bc_1"](pts)
    assert torch.equal(got, -torch.tensor([0.0, 1.0, 0.0, 1.0]))


def test_error_message_escapes_newlines_in_term_text():
    bad = sp.Symbol("p\nq")
    with pytest.raises(ProblemError) as info:
        generate(sp.Eq(u(1, t), bad))
    head = str(info.value).split(": unknown symbol")[0]
    assert "\n" not in head and "bc_1" in head and "p\\nq" in head


# -- networks (TrainingError at discretize) -------------------------------------------

@pytest.mark.parametrize("net, shown", [
    (MLP(3, 1, [8]), "fails on inputs of shape (N, 2)"),
    (MLP(2, 2, [8]), "must map (N, 2) inputs to (N, 1)"),
    (torch.nn.Flatten(0), "must map (N, 2) inputs to (N, 1)"),
])
def test_network_with_wrong_shape(net, shown):
    with pytest.raises(TrainingError) as info:
        discretize(system(), pinn(net))
    check(info, TrainingError, "network 0", "for u", shown)


def test_network_that_returns_a_non_tensor():
    class Bad(torch.nn.Module):
        def forward(self, inputs):
            return [inputs]

    with pytest.raises(TrainingError) as info:
        discretize(system(), pinn(Bad()))
    check(info, TrainingError, "network 0", "list")


def test_wrong_network_layout():
    with pytest.raises(ProblemError) as info:
        discretize(system(), pinn({"v": MLP(2, 1, [8])}))
    check(info, ProblemError, "['v']", "['u']")
    with pytest.raises(ProblemError) as info:
        discretize(system(), pinn([MLP(2, 1, [8])] * 2))
    check(info, ProblemError, "one torch.nn.Module per dependent variable", "got 2")


def test_shared_network_needs_equal_arguments():
    s = system(eqs=[HEAT, v(x).diff(x) - u(x, 0)], depvars=[u(x, t), v(x)])
    with pytest.raises(ProblemError) as info:
        discretize(s, pinn(MLP(2, 2, [8])))
    check(info, ProblemError, "one shared network", "one network per variable")


def test_bad_input_scaling_and_param_estim():
    with pytest.raises(ProblemError, match="input_scaling"):
        discretize(system(), pinn(input_scaling="foo"))
    with pytest.raises(ProblemError, match="input_scaling of x"):
        discretize(system(), pinn(input_scaling={x: (0.0, 0.0)}))
    with pytest.raises(ProblemError, match=r"param_estim names \['a'\]"):
        discretize(system(), pinn(param_estim=[a]))


# -- strategies -----------------------------------------------------------------------

@pytest.mark.parametrize("make, shown", [
    (lambda: GridTraining(-1), "dx"), (lambda: GridTraining([0.1, 0.0]), "dx"),
    (lambda: GridTraining("abc"), "dx"), (lambda: GridTraining(math.nan), "dx"),
    (lambda: StochasticTraining(0), "points"), (lambda: StochasticTraining(2.5), "points"),
    (lambda: StochasticTraining(10, bcs_points=-1), "bcs_points"),
    (lambda: StochasticTraining("many"), "points"),
    (lambda: QuasiRandomTraining(10, sampler="foo"), "sampler 'foo'"),
    (lambda: QuadratureTraining(0), "order"),
    (lambda: NeuralTangentKernelAdaptiveLoss(reweight_every=0), "reweight_every"),
    (lambda: NeuralTangentKernelAdaptiveLoss(reweight_every=1.5), "reweight_every"),
    (lambda: NeuralTangentKernelAdaptiveLoss(trace="max"), "trace"),
    (lambda: NeuralTangentKernelAdaptiveLoss(numerator="max"), "numerator"),
    (lambda: NeuralTangentKernelAdaptiveLoss(smoothing=1.0), "smoothing"),
    (lambda: NeuralTangentKernelAdaptiveLoss(eps=-1.0), "eps"),
    (lambda: NeuralTangentKernelAdaptiveLoss(kernel_points="foo"), "kernel_points"),
    (lambda: NonAdaptiveLoss(bc_loss_weights=-1), "bc_loss_weights"),
    (lambda: NonAdaptiveLoss(pde_loss_weights=math.inf), "pde_loss_weights"),
    (lambda: NonAdaptiveLoss({"bc_0": "heavy"}), "weight of bc_0"),
])
def test_bad_strategy_arguments(make, shown):
    with pytest.raises(StrategyError) as info:
        make()
    check(info, StrategyError, shown)
    assert isinstance(info.value, ValueError)  # and still a ValueError, as before


def test_grid_spacings_for_wrong_number_of_variables():
    prob = discretize(system(), PhysicsInformedNN(MLP(2, 1, [8]), GridTraining([0.1] * 3)))
    with pytest.raises(StrategyError) as info:
        prob.strategy.sample(prob.ir, None)
    check(info, StrategyError, "3 spacings for 2 independent variables")


def test_non_adaptive_weights_for_unknown_terms():
    loss = NonAdaptiveLoss({"bc_7": 2.0, "pde_0": 1.0})
    prob = discretize(system(), pinn(adaptive_loss=loss))
    with pytest.raises(StrategyError) as info:
        loss.initial_weights(tuple(prob.term_names), prob.kinds)
    check(info, StrategyError, "bc_7", "unknown terms", "pde_0", "bc_0")


def test_hierarchy():
    for cls in (ProblemError, CodegenError, TrainingError, StrategyError):
        assert issubclass(cls, SymbolicPinnError)


@pytest.mark.parametrize("bc, shown", [
    (sp.Eq(u(2, t), 0), "x = 2"),
    (sp.Eq(u(x, t).diff(t).subs(t, -1), 0), "t = -1"),
])
def test_condition_outside_the_domain(bc, shown):
    with pytest.raises(ProblemError) as info:
        generate(bc)
    check(info, ProblemError, "bc_1", shown, "outside its domain")


def test_repeated_argument_is_rejected():
    with pytest.raises(ProblemError) as info:
        generate(sp.Eq(u(x, x), 0))
    check(info, ProblemError, "bc_1", "repeats an argument")


# -- networks that do not fit the per-point path, or one another ------------------------

def dropout_net(p=0.1):
    return torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Sequential(
        torch.nn.Linear(8, 8), torch.nn.Dropout(p)), torch.nn.Linear(8, 1))


def test_active_dropout_is_refused_where_the_ntk_diagonals_need_vmap():
    """torch.func.vmap over the per-point residuals cannot draw random numbers: an NTK
    strategy with a dropout layer in training mode is refused at discretize and, when the
    mode changes afterwards, at solve before anything is moved; plain training, dropout
    with p = 0 and evaluation mode run."""
    two = system(eqs=[HEAT, v(x, t).diff(t) + u(x, t)], depvars=[U, v(x, t)])
    net = dropout_net()
    with pytest.raises(TrainingError) as info:
        discretize(two, pinn([MLP(2, 1, [8]), net],
                             adaptive_loss=NeuralTangentKernelAdaptiveLoss(1)))
    check(info, TrainingError, "network 1 (for v): layer '2.1' (Dropout, p=0.1)",
          "NeuralTangentKernelAdaptiveLoss", "net.eval()", "leave the layer out")
    plain = discretize(two, pinn([MLP(2, 1, [8]), net])).solve(2, progress=False)
    assert len(plain.history) == 2 and net.training
    discretize(system(), pinn(dropout_net(0.0), adaptive_loss=NeuralTangentKernelAdaptiveLoss(1)))
    net = dropout_net().eval()
    prob = discretize(system(), pinn(net, adaptive_loss=NeuralTangentKernelAdaptiveLoss(1)))
    assert math.isfinite(prob.solve(1, progress=False).weights["bc_0"])
    net.train()  # switched after discretize
    state = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(TrainingError) as info:
        prob.solve(1, seed=3, dtype=torch.float64, progress=False)
    check(info, TrainingError, "network 0 (for u): layer '2.1' (Dropout")
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())  # untouched
    from symbolic_pinn.solver import solve  # called directly: the run refuses it too

    with pytest.raises(TrainingError, match="layer '2.1' \\(Dropout"):
        solve(prob, 1, progress=False)


def test_random_draws_in_the_ntk_diagonal_of_one_term():
    from symbolic_pinn.adaptive import term_ntk_diagonal

    prob = discretize(system(), pinn(dropout_net().eval()))
    prob.nets[0].train()
    with pytest.raises(TrainingError) as info:
        term_ntk_diagonal(prob, "pde_0", [[0.5, 0.5]])
    check(info, TrainingError, "network 0 (for u): layer '2.1'", "NTK diagonal of term pde_0")

    class Noisy(torch.nn.Module):  # a random draw no layer check can see
        def __init__(self):
            super().__init__()
            self.net = MLP(2, 1, [8])

        def forward(self, inputs):
            return self.net(inputs) + 1e-3 * torch.randn_like(inputs[:, :1])

    prob = discretize(system(), pinn(Noisy()))
    with pytest.raises(TrainingError) as info:
        term_ntk_diagonal(prob, "bc_0", [[0.0, 0.5]])
    check(info, TrainingError, "network 0 (for u) draws random numbers",
          "NTK diagonal of term bc_0", "net.eval()")


def test_non_module_in_the_network_list_is_named():
    s = system(eqs=[HEAT, v(x, t).diff(t) + u(x, t)], depvars=[U, v(x, t)])
    with pytest.raises(ProblemError) as info:
        discretize(s, pinn([MLP(2, 1, [8]), None]))
    check(info, ProblemError, "network 1 (for v) is a NoneType object, not a torch.nn.Module")
    with pytest.raises(ProblemError) as info:
        discretize(s, pinn({"u": "mlp", "v": MLP(2, 1, [8])}))
    check(info, ProblemError, "network 0 (for u) is a str object")


@pytest.mark.parametrize("second, shown", [
    (lambda: MLP(1, 1, [4]).double(),
     "network 0 (for u) has dtype torch.float32 but network 1 (for v) has dtype torch.float64"),
    (lambda: MLP(1, 1, [4]).to("meta"),
     "network 0 (for u) has device cpu but network 1 (for v) has device meta"),
], ids=["dtype", "device"])
def test_networks_of_different_dtypes_or_devices(second, shown):
    s = system(eqs=[HEAT, v(x).diff(x) - u(x, 0)], depvars=[U, v(x)])
    with pytest.raises(TrainingError) as info:
        discretize(s, pinn([MLP(2, 1, [4]), second()]))
    what = shown.split()[-2]
    check(info, TrainingError, shown, f"solve({what}=...)")
    prob = discretize(s, pinn([MLP(2, 1, [4]), MLP(1, 1, [4])]))
    if what == "dtype":  # changed after discretize: the residuals say so; solve casts them
        prob.nets[1].double()
        with pytest.raises(TrainingError, match="has dtype torch.float64"):
            prob.residuals["pde_1"]([[0.5, 0.5]])
        prob.solve(1, progress=False)
        assert prob.residuals["pde_1"]([[0.5, 0.5]]).dtype == torch.float32


def test_strategy_hooks_that_break_the_contract():
    from symbolic_pinn.adaptive import AdaptiveLoss, Need

    class NoneWeights(AdaptiveLoss):
        needs = frozenset({Need.POINT_WEIGHTS})

        def point_weights(self, residuals, step):
            return None

        def update(self, ctx):
            return None

    with pytest.raises(StrategyError) as info:
        discretize(system(), pinn(adaptive_loss=NoneWeights())).solve(1, progress=False)
    check(info, StrategyError, "NoneWeights.point_weights returned NoneType",
          "mapping {term: (N, 1) tensor}")

    class NoUpdate(AdaptiveLoss):
        pass

    class OnlyPointWeights(AdaptiveLoss):  # the default hook, no update
        needs = frozenset({Need.POINT_WEIGHTS})

        def point_weights(self, residuals, step):
            return {}

    for strategy in (NoUpdate(), OnlyPointWeights(), Compose(NonAdaptiveLoss(), NoUpdate())):
        with pytest.raises(StrategyError) as info:  # at discretize, before any training
            discretize(system(), pinn(adaptive_loss=strategy))
        name = type(strategy.strategies[1] if isinstance(strategy, Compose) else strategy)
        check(info, StrategyError, f"{name.__name__} has hook = 'losses' but does not "
              "implement update(self, ctx)", "or set hook = None", "Need.POINT_WEIGHTS")
    OnlyPointWeights.hook = None  # weights points only: trains
    discretize(system(), pinn(adaptive_loss=OnlyPointWeights())).solve(1, progress=False)

    class Typo(NonAdaptiveLoss):
        hook = "loss"

    with pytest.raises(StrategyError) as info:
        discretize(system(), pinn(adaptive_loss=Typo()))
    check(info, StrategyError, "Typo.hook must be None, 'losses' or 'step', got 'loss'")


class _NoSuperInit(NonAdaptiveLoss):
    def __init__(self):  # forgets super().__init__(...)
        self.extra = 1


@pytest.mark.parametrize("make", [lambda: _NoSuperInit(),
                                  lambda: Compose(NonAdaptiveLoss(), _NoSuperInit())],
                         ids=["alone", "in-compose"])
def test_a_strategy_that_forgets_super_init(make):
    """It used to fail at the first step with a bare AttributeError: 'reweight_every'."""
    with pytest.raises(StrategyError) as info:
        discretize(system(), pinn(adaptive_loss=make()))
    check(info, StrategyError, "_NoSuperInit has no reweight_every and no weights",
          "super().__init__(reweight_every)")
