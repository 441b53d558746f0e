"""``compile=True``: the residuals of a loss evaluation as one ``torch.compile`` graph.

The compiled ``all_residuals`` must give the residuals and loss gradients of the eager
(taylor) path and of the autograd path: 1e-10 relative in float64, 1e-5 in float32.
Compiling takes seconds (tens of seconds on a busy 2-core machine), so each dtype is
compiled once, in one test.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import sympy as sp
import torch

from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
from symbolic_pinn.errors import ProblemError
from symbolic_pinn.training import GridTraining, StochasticTraining

x, y = sp.symbols("x y")
a = sp.Symbol("a")
u = sp.Function("u")

pytestmark = pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None,
                                reason="torch.compile (TorchInductor) needs a C compiler on CPU")


def system() -> PDESystem:
    """Nonlinear, an estimated parameter, a derivative condition, one non-unit interval, and
    a combined channel (u_xx + 2*u_yy)."""
    eq = sp.Eq(-(u(x, y).diff(x, 2) + 2 * u(x, y).diff(y, 2)) + a * u(x, y) * u(x, y).diff(x),
               sp.sin(x))
    bcs = [sp.Eq(u(0, y), 0), sp.Eq(u(x, 0).diff(x), 0)]
    return PDESystem([eq], bcs, {x: (0, 1), y: (0, 2)}, [x, y], [u(x, y)], {a: 1.5})


def problems(dtype, **kw):
    """The system discretized three ways with one network: autograd, taylor, compiled."""
    torch.manual_seed(0)
    net = MLP(2, 1, [16, 16]).to(dtype)
    out = {}
    for name, opts in {"autograd": {"derivatives": "autograd"}, "taylor": {},
                       "compiled": {"compile": True}}.items():
        pinn = PhysicsInformedNN(net, StochasticTraining(64), param_estim=True,
                                 input_scaling="standardize", **opts, **kw)
        out[name] = discretize(system(), pinn)
    return net, out


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_compiled_residuals_and_gradients_equal_the_eager_paths(dtype):
    net, probs = problems(dtype)
    assert probs["taylor"].symbolic.options.derivatives == "taylor"  # what "auto" chose
    assert "all_residuals = torch.compile(all_residuals)" in probs["compiled"].source
    assert "torch.compile" not in probs["taylor"].source
    assert "u_comb = jet(" in probs["compiled"].source  # the combination, compiled
    gen = torch.Generator().manual_seed(1)
    pts = {t: torch.rand(64, 2, generator=gen, dtype=dtype) * torch.tensor([1.0, 2.0],
                                                                          dtype=dtype)
           for t in probs["taylor"].term_names}
    rtol = 1e-10 if dtype == torch.float64 else 1e-5
    thetas = list(net.parameters())
    results = {}
    for name, prob in probs.items():
        r = prob.module.all_residuals(prob.nets, pts, prob.params)
        loss = sum(v.square().mean() for v in r.values())
        param = prob.params["a"]
        results[name] = (r, torch.autograd.grad(loss, thetas + [param]))
    ref_r, ref_g = results["autograd"]
    for name in ("taylor", "compiled"):
        r, g = results[name]
        for term in ref_r:
            scale = float(ref_r[term].detach().abs().max()) + 1.0
            torch.testing.assert_close(r[term].detach(), ref_r[term].detach(), rtol=rtol,
                                       atol=rtol * scale,
                                       msg=lambda m, name=name, term=term: f"{name} {term}: {m}")
        for i, (g1, g2) in enumerate(zip(ref_g, g)):
            scale = float(g1.abs().max()) + 1.0
            torch.testing.assert_close(g2, g1, rtol=rtol, atol=rtol * scale,
                                       msg=lambda m, name=name, i=i: f"{name} gradient {i}: {m}")
    # training runs the compiled graph (new points of the same shape: no recompile), with
    # Adam's fused kernel unless the options say otherwise
    made = []

    class Spy(torch.optim.Adam):
        def __init__(self, params, **options):
            params = list(params)
            if len(params) > 1:  # the run's optimizer, not solve's probe of the options
                made.append(options)
            super().__init__(params, **options)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(torch.optim, "Adam", Spy)
        result = probs["compiled"].solve(3, seed=2, progress=False)
        probs["compiled"].solve(1, progress=False, optimizer_options={"fused": False})
        probs["taylor"].solve(1, progress=False)
    assert [m.get("fused") for m in made] == [True, False, None]
    assert len(result.history) == 3 and all(torch.isfinite(torch.tensor(
        [h["loss"] for h in result.history])))


def test_compile_needs_the_taylor_path():
    torch.manual_seed(0)
    with pytest.raises(ProblemError, match=r'compile=True needs derivatives="taylor"'):
        discretize(system(), PhysicsInformedNN(MLP(2, 1, [4]), GridTraining(0.5),
                                               derivatives="autograd", compile=True))
    seq = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    with pytest.raises(ProblemError, match=r"compile=True needs every network.*network 0 "
                                           r"\(for u\) is not: it is a Sequential"):
        discretize(system(), PhysicsInformedNN(seq, GridTraining(0.5), compile=True))
    # without compile, "auto" falls back to autograd for a network jet cannot propagate
    prob = discretize(system(), PhysicsInformedNN(seq, GridTraining(0.5)))
    assert prob.symbolic.options.derivatives == "autograd" and "jet(" not in prob.source
    with pytest.raises(ValueError, match="compile must be True, False or a torch.compile "
                                         "mode .*'reduce-overhead'.*got 'yes'"):
        PhysicsInformedNN(MLP(2, 1, [4]), GridTraining(0.5), compile="yes")
    for value in (1, None):
        with pytest.raises(TypeError, match="compile must be True, False or the name of"):
            PhysicsInformedNN(MLP(2, 1, [4]), GridTraining(0.5), compile=value)
    with pytest.raises(ProblemError, match=r"compile='max-autotune' needs derivatives="):
        discretize(system(), PhysicsInformedNN(MLP(2, 1, [4]), GridTraining(0.5),
                                               derivatives="autograd", compile="max-autotune"))


def test_a_compile_mode_is_written_into_the_generated_code():
    """A mode string reaches torch.compile in the generated source (on a GPU,
    ``"reduce-overhead"`` replays CUDA graphs: tests/test_cuda.py trains with it); an
    unknown one never reaches the template."""
    from symbolic_pinn.codegen import GenerationOptions, generate
    from symbolic_pinn.errors import CodegenError

    pinn = PhysicsInformedNN(MLP(2, 1, [4]), GridTraining(0.5), compile="reduce-overhead")
    prob = discretize(system(), pinn)
    assert 'all_residuals = torch.compile(all_residuals, mode="reduce-overhead")' in prob.source
    plain = discretize(system(), PhysicsInformedNN(MLP(2, 1, [4]), GridTraining(0.5),
                                                   compile=True))
    assert "all_residuals = torch.compile(all_residuals)\n" in plain.source
    assert prob.module.all_residuals is not plain.module.all_residuals
    with pytest.raises(CodegenError, match="compile must be a bool or one of"):
        generate(prob.symbolic.ir, GenerationOptions(derivatives="taylor", compile="fast"))


def test_residuals_trace_as_one_graph():
    """What ``compile=True`` compiles, ``all_residuals`` of the taylor path, traces as one
    graph without breaks (a break would split it and fall back to eager Python between
    the pieces): with a sigmoid network too (another activation form), a first-order
    member in a combination, a derivative condition and an estimated parameter."""
    t = sp.Symbol("t")
    burgers = sp.Eq(u(x, t).diff(t) + a * u(x, t) * u(x, t).diff(x), u(x, t).diff(x, 2) / 10)
    bcs = [sp.Eq(u(x, 0), -sp.sin(sp.pi * x)), sp.Eq(u(x, t).diff(x).subs(x, 0), 0)]
    for activation in ("tanh", "sigmoid"):
        torch.manual_seed(0)
        pinn = PhysicsInformedNN(MLP(2, 1, [8, 8], activation), StochasticTraining(16),
                                 param_estim=True)
        prob = discretize(PDESystem([burgers], bcs, {x: (0, 1), t: (0, 1)}, [x, t],
                                    [u(x, t)], {a: 1.0}), pinn)
        assert "u_comb = u_t - u_xx/10" in prob.source
        pts = {name: torch.rand(16, 2) for name in prob.term_names}
        explained = torch._dynamo.explain(prob.module.all_residuals)(prob.nets, pts,
                                                                     prob.params)
        assert (explained.graph_count, explained.graph_break_count) == (1, 0), \
            explained.break_reasons


def test_cuda_graphs_refuse_strategies_that_keep_outputs():
    """Under CUDA graphs (a mode that uses them, on a GPU) a strategy that keeps per-term
    gradients or residual values is refused by name; compile=True, the CPU, and
    strategies that only read the step's losses (the NTK's diagonals come from their own
    propagation) are not."""
    from symbolic_pinn.adaptive import (
        Compose,
        GradientScaleAdaptiveLoss,
        GradNormAdaptiveLoss,
        NeuralTangentKernelAdaptiveLoss,
        NonAdaptiveLoss,
        SoftAdaptAdaptiveLoss,
    )
    from symbolic_pinn.adaptive.base import AdaptiveLoss, Need
    from symbolic_pinn.errors import StrategyError
    from symbolic_pinn.solve_checks import check_cuda_graphs

    class KeepsResiduals(AdaptiveLoss):
        needs = frozenset({Need.LOSSES, Need.RESIDUALS})

    refused = {GradientScaleAdaptiveLoss(5): "per-term gradients",
               GradNormAdaptiveLoss(): "per-term gradients",
               KeepsResiduals(): "residual values"}
    for mode in ("reduce-overhead", "max-autotune"):
        for loss, what in refused.items():
            with pytest.raises(StrategyError, match=f"{type(loss).__name__} needs {what}, "
                                                    f"which compile='{mode}'"):
                check_cuda_graphs(mode, torch.device("cuda", 0), loss)
    composed = Compose(SoftAdaptAdaptiveLoss(), GradientScaleAdaptiveLoss(5))
    with pytest.raises(StrategyError, match=r"Compose \(its GradientScaleAdaptiveLoss\) needs "
                                            r"per-term gradients.*max-autotune-no-cudagraphs"):
        check_cuda_graphs("max-autotune", "cuda", composed)
    for loss in refused:
        check_cuda_graphs("reduce-overhead", "cpu", loss)
        check_cuda_graphs(True, "cuda", loss)
        check_cuda_graphs("max-autotune-no-cudagraphs", "cuda", loss)
    for loss in (NeuralTangentKernelAdaptiveLoss(10), NonAdaptiveLoss()):
        check_cuda_graphs("reduce-overhead", "cuda", loss)


def test_under_cuda_graphs_the_run_copies_what_strategies_keep(monkeypatch):
    """Under CUDA graphs (compile="reduce-overhead" on a GPU) every replay writes its
    outputs into the same memory: the next term's backward replay would overwrite this
    term's gradients, the next forward replay the residual values. Simulated here on the
    CPU: each gradient call returns the same buffers, refilled; the run copies them out.
    (solve still refuses such strategies under CUDA graphs: whether the copies are all a
    GPU needs is for tests/test_cuda.py to show, which has not run since they were added.)"""
    from symbolic_pinn.adaptive.base import AdaptiveLoss, Need
    from symbolic_pinn.run import Run

    class Keeps(AdaptiveLoss):
        needs = frozenset({Need.LOSSES, Need.GRADIENTS, Need.RESIDUALS})

        def update(self, ctx):
            return None

    torch.manual_seed(0)
    problem = discretize(system(), PhysicsInformedNN(MLP(2, 1, [4]), GridTraining(0.5),
                                                     compile="reduce-overhead",
                                                     adaptive_loss=Keeps()))
    run = Run(problem, "adam", lambda ps: torch.optim.Adam(ps, lr=1e-3),
              np.random.default_rng(0), torch.device("cpu"), torch.float32)
    assert not run.graphed  # on the CPU there are no CUDA graphs
    residuals = problem.module.RESIDUALS
    r = {t: residuals[t](run.nets, run.points[t], run.params) for t in run.term_names}
    losses = {t: v.square().mean() for t, v in r.items()}
    want = {t: torch.autograd.grad(losses[t], run.parameters, retain_graph=True,
                                   materialize_grads=True)
            for t in run.term_names}
    real, buffers = torch.autograd.grad, [torch.zeros_like(p) for p in run.parameters]

    def replayed(*args, **kw):  # a graph's outputs: the same memory at every replay
        for buffer, g in zip(buffers, real(*args, **kw), strict=True):
            buffer.copy_(g)
        return tuple(buffers)

    monkeypatch.setattr(torch.autograd, "grad", replayed)
    first, last = run.term_names[0], run.term_names[-1]
    assert not all(torch.equal(a, b) for a, b in zip(want[first], want[last]))
    ctx = run._context(losses, r)  # without copies: every term gets the last one's gradients
    assert all(torch.equal(a, b) for a, b in zip(ctx.gradients[first], ctx.gradients[last]))
    run.graphed = True
    ctx = run._context(losses, r)
    for v in r.values():
        v.detach().fill_(7.0)  # the next forward replay
    for term in run.term_names:
        for got, g in zip(ctx.gradients[term], want[term], strict=True):
            torch.testing.assert_close(got, g)
        assert not (ctx.residual_values[term] == 7.0).any()


def test_per_term_gradients_train_without_donated_buffers(monkeypatch):
    """A compiled problem whose strategy takes per-term gradients (a second backward
    through the compiled residuals, which torch 2.11 refuses with AOTAutograd's donated
    buffers) gets its own generated module, and trains with donated buffers off; one
    without them trains in torch's default. torch.compile is replaced by the identity
    here: what is checked is solve's scope, not the compiler."""
    from symbolic_pinn.adaptive import Compose, GradNormAdaptiveLoss, SoftAdaptAdaptiveLoss

    monkeypatch.setattr(torch, "compile", lambda fn, **kw: fn)
    config = torch._functorch.config

    def make(loss):
        torch.manual_seed(0)
        return discretize(system(), PhysicsInformedNN(MLP(2, 1, [4]), GridTraining(0.5),
                                                      compile="default", adaptive_loss=loss))

    plain, graded = make(Compose(SoftAdaptAdaptiveLoss())), make(Compose(GradNormAdaptiveLoss()))
    assert plain.module is not graded.module  # same hook owner, Compose; other sources
    assert "without AOTAutograd's donated buffers" in graded.source
    assert "donated" not in plain.source
    before = config.donated_buffer
    for problem, inside in ((plain, before), (graded, False)):
        seen = []
        problem.solve(2, progress=False, callback=lambda row, seen=seen: seen.append(
            config.donated_buffer) and None)
        assert seen == [inside, inside]
        assert config.donated_buffer == before  # restored after the run
