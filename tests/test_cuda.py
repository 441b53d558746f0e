"""On a GPU: the derivative paths, the exact NTK diagonals and training equal the CPU's.

Skipped where torch sees no CUDA device (every machine this project's CI has run on so
far). On an NVIDIA H200 (2026-11-30, torch 2.11) ``python -m pytest tests/test_cuda.py``
took 33-40 s, most of it compiling. Every check runs the same computation on the CPU and
on the GPU from the same parameters: 1e-10 relative in float64 and 1e-5 in float32
(other summation orders; torch keeps TF32 off for float32 matrix products by default);
the compiled trainings follow eager training on the GPU to 1e-3 over ten steps.
``test_cuda_graphs_refuse_per_term_gradients`` was added after that run, and the
``reduce-overhead`` cases of ``test_compiled_training_equals_eager_on_cuda`` with
per-term gradients and kept residual values (which lift that refusal, to see whether the
run's copies out of the graphs' memory are all it takes) after the next: neither has run
on a GPU yet.
"""

from __future__ import annotations

import copy
import importlib.util

import numpy as np
import pytest
import sympy as sp
import torch

from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
from symbolic_pinn.adaptive import NeuralTangentKernelAdaptiveLoss
from symbolic_pinn.adaptive.base import AdaptiveLoss, Need
from symbolic_pinn.fast_ntk import fast_ntk_diagonal, fast_ntk_diagonals
from symbolic_pinn.training import GridTraining

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

x, t, a = sp.symbols("x t a")
u = sp.Function("u")
DTYPES = [torch.float64, torch.float32]


def rtol(dtype) -> float:
    return 1e-10 if dtype == torch.float64 else 1e-5


def burgers(derivatives: str, dtype, adaptive_loss=None, **kw):
    """Nonlinear, a combined channel with a first-order member, a derivative condition
    and an estimated parameter."""
    eq = sp.Eq(u(x, t).diff(t) + a * u(x, t) * u(x, t).diff(x), u(x, t).diff(x, 2) / 10)
    bcs = [sp.Eq(u(x, 0), -sp.sin(sp.pi * x)), sp.Eq(u(x, t).diff(x).subs(x, 0), 0)]
    system = PDESystem([eq], bcs, {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t)], {a: 1.0})
    torch.manual_seed(0)
    pinn = PhysicsInformedNN(MLP(2, 1, [16, 16]).to(dtype), GridTraining(0.1),
                             derivatives=derivatives, param_estim=True,
                             adaptive_loss=adaptive_loss, **kw)
    problem = discretize(system, pinn)
    for ident, p in list(problem.params.items()):
        problem.params[ident] = torch.nn.Parameter(p.detach().to(dtype))
    return problem


def to(problem, device: str):
    for net in problem.nets:
        net.to(device)
    for ident, p in list(problem.params.items()):
        problem.params[ident] = torch.nn.Parameter(p.detach().to(device))


def close(got: torch.Tensor, want: torch.Tensor, dtype, what: str) -> None:
    tol = rtol(dtype)
    scale = float(want.detach().abs().max()) + 1.0
    torch.testing.assert_close(got.detach().cpu(), want.detach().cpu(), rtol=tol,
                               atol=tol * scale, msg=lambda m: f"{what}: {m}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("derivatives", ["taylor", "autograd"])
def test_residuals_and_ntk_diagonals_equal_the_cpu(derivatives, dtype):
    problem = burgers(derivatives, dtype)
    gen = torch.Generator().manual_seed(1)
    pts = torch.rand(64, 2, generator=gen, dtype=dtype)
    cpu = {term: (problem.residuals[term](pts).detach(),
                  fast_ntk_diagonal(problem, term, pts)) for term in problem.term_names}
    # all terms at once (shared rows and backward passes), each at its own points
    at = {term: pts[i::2] for i, term in enumerate(problem.term_names)}
    cpu_all = fast_ntk_diagonals(problem, at)
    to(problem, "cuda")
    assert problem.device.type == "cuda"
    gpu_all = fast_ntk_diagonals(problem, {term: p.cuda() for term, p in at.items()})
    for term, k_cpu in cpu_all.items():
        assert gpu_all[term].device.type == "cuda"
        close(gpu_all[term], k_cpu, dtype, f"all-terms NTK diagonal {term}")
    for term, (r_cpu, k_cpu) in cpu.items():
        r_gpu = problem.residuals[term](pts.cuda())
        assert r_gpu.device.type == "cuda"
        close(r_gpu, r_cpu, dtype, f"{derivatives} residual {term}")
        k_gpu = fast_ntk_diagonal(problem, term, pts.cuda())
        assert k_gpu.device.type == "cuda"
        close(k_gpu, k_cpu, dtype, f"NTK diagonal {term}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_ntk_training_equals_the_cpu(dtype):
    """Twenty Adam steps with NTK weights (reweighted every five), from one initial state,
    on the CPU and on the GPU: the same losses and weights, and predict on the GPU."""
    runs = {}
    start = None
    for device in ("cpu", "cuda"):
        problem = burgers("auto", dtype,
                          adaptive_loss=NeuralTangentKernelAdaptiveLoss(reweight_every=5))
        if start is None:
            start = copy.deepcopy(problem.nets[0].state_dict())
        problem.nets[0].load_state_dict(start)
        result = problem.solve(20, lr=1e-3, device=device, dtype=dtype, progress=False)
        assert problem.device.type == device
        runs[device] = result
    tol = 1e-8 if dtype == torch.float64 else 1e-3  # twenty steps amplify the rounding
    for row_cpu, row_gpu in zip(runs["cpu"].history, runs["cuda"].history, strict=True):
        assert row_gpu["loss"] == pytest.approx(row_cpu["loss"], rel=tol)
        for term, w in row_cpu["weights"].items():
            assert row_gpu["weights"][term] == pytest.approx(w, rel=tol)
    grid = {x: np.linspace(0, 1, 5), t: np.full(5, 0.5)}
    np.testing.assert_allclose(runs["cuda"].predict(grid)["u"], runs["cpu"].predict(grid)["u"],
                               rtol=tol, atol=tol)


@pytest.mark.skipif(importlib.util.find_spec("triton") is None,
                    reason="torch.compile on CUDA needs triton")
def test_compiled_residuals_on_cuda():
    eager = burgers("taylor", torch.float32)
    compiled = burgers("taylor", torch.float32, compile=True)
    compiled.nets[0].load_state_dict(eager.nets[0].state_dict())
    to(eager, "cuda")
    to(compiled, "cuda")
    gen = torch.Generator().manual_seed(2)
    pts = {term: torch.rand(64, 2, generator=gen).cuda() for term in eager.term_names}
    want = eager.module.all_residuals(eager.nets, pts, eager.params)
    got = compiled.module.all_residuals(compiled.nets, pts, compiled.params)
    for term in want:
        close(got[term], want[term], torch.float32, f"compiled {term}")
    result = compiled.solve(5, device="cuda", progress=False)
    assert all(np.isfinite(row["loss"]) for row in result.history)


class FromKeptResiduals(AdaptiveLoss):
    """Weights from the residual values kept at the reweight step before: they must
    outlive the CUDA graph replays in between."""

    needs = frozenset({Need.LOSSES, Need.RESIDUALS})

    def __init__(self):
        super().__init__(reweight_every=2)
        self.kept = None

    def update(self, ctx):
        before, self.kept = self.kept, ctx.residual_values
        if before is None:
            return None
        return {term: 1.0 + float(before[term].abs().mean()) for term in ctx.term_names}


@pytest.mark.skipif(importlib.util.find_spec("triton") is None,
                    reason="torch.compile on CUDA needs triton")
@pytest.mark.parametrize(("strategy", "mode"), [("plain", "reduce-overhead"),
                                              ("gradient-scale", True),
                                              ("gradient-scale", "reduce-overhead"),
                                              ("kept-residuals", "reduce-overhead")])
def test_compiled_training_equals_eager_on_cuda(strategy, mode, monkeypatch):
    """compile="reduce-overhead" replays the compiled graphs as CUDA graphs, whose outputs
    are overwritten at the next replay: ten steps must still follow the eager ones, also
    with per-term gradients (GradientScaleAdaptiveLoss takes one per term every step: a
    backward replay each, with retain_graph=True) and with residual values kept from one
    reweight step to the next (the run copies both out of the graphs' memory).
    compile=True with per-term gradients (a backward with retain_graph=True, which torch
    2.11 refuses for a compiled backward with donated buffers: solve turns them off) must
    follow them too. solve refuses the strategies that keep outputs under CUDA graphs
    (test_cuda_graphs_refuse_per_term_gradients): the refusal is lifted here, to learn
    whether the copies suffice before it goes."""
    from symbolic_pinn import solver
    from symbolic_pinn.adaptive import GradientScaleAdaptiveLoss

    monkeypatch.setattr(solver, "check_cuda_graphs", lambda *args: None)

    def make(**kw):
        loss = {"plain": lambda: None, "gradient-scale": lambda: GradientScaleAdaptiveLoss(1),
                "kept-residuals": FromKeptResiduals}[strategy]()
        return burgers("taylor", torch.float32, adaptive_loss=loss, **kw)

    eager, graphed = make(), make(compile=mode)
    assert "torch.compile(all_residuals" in graphed.source
    graphed.nets[0].load_state_dict(eager.nets[0].state_dict())
    runs = [p.solve(10, lr=1e-3, device="cuda", progress=False) for p in (eager, graphed)]
    for row_e, row_g in zip(runs[0].history, runs[1].history, strict=True):
        assert row_g["loss"] == pytest.approx(row_e["loss"], rel=1e-3)
        for term, w in row_e["weights"].items():
            assert row_g["weights"][term] == pytest.approx(w, rel=1e-3)
    if strategy != "plain":  # the strategy did reweight
        assert any(w != 1.0 for w in runs[0].history[-1]["weights"].values())
    for p_e, p_g in zip(eager.nets[0].parameters(), graphed.nets[0].parameters(), strict=True):
        close(p_g, p_e, torch.float32, "parameters after ten steps")


def test_cuda_graphs_refuse_per_term_gradients():
    """Per-term gradients outlive a CUDA graph replay (a 2026-11-30 run failed with them):
    solve refuses them under compile="reduce-overhead" on the GPU, before anything moves."""
    from symbolic_pinn.adaptive import GradientScaleAdaptiveLoss
    from symbolic_pinn.errors import StrategyError

    problem = burgers("taylor", torch.float32, adaptive_loss=GradientScaleAdaptiveLoss(1),
                      compile="reduce-overhead")
    with pytest.raises(StrategyError, match="per-term gradients.*Use compile=True"):
        problem.solve(2, device="cuda", progress=False)
    assert next(problem.nets[0].parameters()).device.type == "cpu"
