"""Speed of the generated training step, the exact NTK trace and adaptive training.

Every figure is a ratio of two implementations measured side by side in this one
process, interleaved (A, B, A, B, ...) after a warm-up, as the median over rounds of
per-round medians; the spread of the per-round ratios is reported with it. Peak memory
and import times come from fresh subprocesses. Timed assertions do not belong in the
test suite: ``tests/test_benchmarks.py`` only runs ``--quick`` as a smoke test.

Problems (float32, CPU unless ``--device``, Adam lr 1e-3, equal weights, fixed points):

* ``poisson``: -Δu = 2π² sin(πx) sin(πy) on [0, 1]², u = 0 on the four edges; the
  problem of ``../shared/reference/peers_bench`` (MLP 2-64-64-1 tanh, 2000 interior
  points, 400 boundary points: 100 on each edge, one loss term per edge here);
* ``wave``: u_tt = 4 u_xx on [0, 1]² (the NTK paper's §7.3), u(x, 0) and u_t(x, 0) given,
  u = 0 at x = 0, 1: second derivatives in two variables and a derivative condition;
* ``burgers``: u_t + u u_x - (0.01/π) u_xx = 0 on [-1, 1] x [0, 1], u(x, 0) = -sin(πx),
  u(±1, t) = 0: a nonlinear coupling of the value and its derivatives.

What "ours" means: ``solve(problem, iterations=K, progress=False, callback=stamp)``
with a callback that only records ``time.perf_counter()``, with the library's defaults
(``derivatives="auto"``, which takes the forward-propagated taylor path for these MLPs).
The per-step time is the difference of consecutive stamps, so it covers exactly solve's
loop (generated ``train_step`` and closure, ``Run`` bookkeeping, the history row with its
finiteness check) and nothing of solve's set-up. "autograd" is the same with
``derivatives="autograd"`` (nested ``torch.autograd.grad``, the path for any module),
"compiled" with ``compile=True`` (``torch.compile`` of the residuals; its compile time is
reported apart) and, on a GPU, "graphed" with ``compile="reduce-overhead"`` (the same,
replayed as CUDA graphs). "hand" is an eager PyTorch loop written here: batched
``torch.autograd.grad`` on one input tensor per point set, the same network (a deep copy
of the same initialisation), the same points and the same loss (checked: the losses agree
to float32 rounding before timing). All of them share this process's allocator state:
the script first frees one 16 MiB block, as ``solve`` does
(``symbolic_pinn.allocator.warm_up``: glibc's dynamic mmap threshold), so the
hand-written loop runs in the state ours trains in. ``benchmarks/peers.py`` measures
each implementation in a fresh process, the hand-written one with and without it.

Usage::

    python benchmarks/speed.py --quick            # about 30 s (smoke test)
    python benchmarks/speed.py --out speed.json   # the full run (about 12 minutes)
    python benchmarks/speed.py --profile          # torch.profiler table of our step
    python benchmarks/speed.py --profile autograd # ... of the derivatives="autograd" step
    python benchmarks/speed.py --profile hand     # ... of the hand-written step (also:
                                                  # taylor, compiled, graphed)
    python benchmarks/speed.py --device cuda --skip import --out speed-cuda.json  # on a GPU

With ``--device cuda`` everything trains on the GPU (the hand-written loop and the NTK
timings synchronise the device before each time stamp) and the memory section adds each
fresh process's peak GPU memory (``torch.cuda.max_memory_allocated``).
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PROBLEMS = ("poisson", "wave", "burgers")
DEVICE = torch.device("cpu")  # --device: where every implementation trains


def _sync() -> None:
    """Wait for the device's queued kernels, so that a time stamp means the work is done
    (a CUDA step is asynchronous; ``solve`` reads its losses back every step anyway)."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)


# --------------------------------------------------------------------------- problems
def make_points(problem: str, n_int: int, n_bc: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Full rows (N, 2) per term, in the generated code's term order (pde_0, bc_0, ...)."""
    rng = np.random.default_rng(seed)
    u = rng.random
    if problem == "poisson":  # columns x, y; bcs: x=0, x=1, y=0, y=1
        pts = {"pde_0": rng.random((n_int, 2))}
        for k, (col, value) in enumerate([(0, 0.0), (0, 1.0), (1, 0.0), (1, 1.0)]):
            p = np.stack([u(n_bc), u(n_bc)], axis=1)
            p[:, col] = value
            pts[f"bc_{k}"] = p
    elif problem == "wave":  # columns x, t; bcs: u(x,0), u_t(x,0), u(0,t), u(1,t)
        pts = {"pde_0": rng.random((n_int, 2))}
        for k, (col, value) in enumerate([(1, 0.0), (1, 0.0), (0, 0.0), (0, 1.0)]):
            p = np.stack([u(n_bc), u(n_bc)], axis=1)
            p[:, col] = value
            pts[f"bc_{k}"] = p
    elif problem in ("burgers", "allen_cahn"):  # columns x, t; x in [-1, 1]; bcs: u(x,0),
        # then u(-1,t) and u(1,t) (Allen-Cahn: the periodic ones, both at x = -1 and 1)
        pts = {"pde_0": np.stack([2 * u(n_int) - 1, u(n_int)], axis=1)}
        for k, (col, value) in enumerate([(1, 0.0), (0, -1.0), (0, 1.0)]):
            p = np.stack([2 * u(n_bc) - 1, u(n_bc)], axis=1)
            p[:, col] = value
            pts[f"bc_{k}"] = p
    else:
        raise ValueError(problem)
    return {k: v.astype(np.float32) for k, v in pts.items()}


def make_system(problem: str):
    import sympy as sp

    from symbolic_pinn import PDESystem

    u = sp.Function("u")
    if problem == "poisson":
        x, y = sp.symbols("x y")
        return PDESystem(
            [sp.Eq(-(u(x, y).diff(x, 2) + u(x, y).diff(y, 2)),
                   2 * sp.pi**2 * sp.sin(sp.pi * x) * sp.sin(sp.pi * y))],
            [sp.Eq(u(0, y), 0), sp.Eq(u(1, y), 0), sp.Eq(u(x, 0), 0), sp.Eq(u(x, 1), 0)],
            {x: (0, 1), y: (0, 1)}, [x, y], [u(x, y)])
    x, t = sp.symbols("x t")
    if problem == "wave":
        return PDESystem(
            [sp.Eq(u(x, t).diff(t, 2), 4 * u(x, t).diff(x, 2))],
            [sp.Eq(u(x, 0), sp.sin(sp.pi * x) + sp.sin(4 * sp.pi * x) / 2),
             sp.Eq(u(x, t).diff(t).subs(t, 0), 0), sp.Eq(u(0, t), 0), sp.Eq(u(1, t), 0)],
            {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t)])
    if problem == "burgers":
        U = u(x, t)
        return PDESystem(
            [sp.Eq(U.diff(t) + U * U.diff(x) - (sp.Rational(1, 100) / sp.pi) * U.diff(x, 2), 0)],
            [sp.Eq(u(x, 0), -sp.sin(sp.pi * x)), sp.Eq(u(-1, t), 0), sp.Eq(u(1, t), 0)],
            {x: (-1, 1), t: (0, 1)}, [x, t], [U])
    if problem == "allen_cahn":  # examples/allen_cahn.py: periodic values and slopes
        U = u(x, t)
        return PDESystem(
            [sp.Eq(U.diff(t) - sp.Float(1e-4) * U.diff(x, 2) + 5 * U**3 - 5 * U, 0)],
            [sp.Eq(u(x, 0), x**2 * sp.cos(sp.pi * x)), sp.Eq(u(-1, t), u(1, t)),
             sp.Eq(U.diff(x).subs(x, -1), U.diff(x).subs(x, 1))],
            {x: (-1, 1), t: (0, 1)}, [x, t], [U])
    raise ValueError(problem)


def _fixed_strategy(points: dict[str, np.ndarray]):
    from symbolic_pinn.training import PointSet, TrainingStrategy

    class FixedPoints(TrainingStrategy):
        """The benchmark's points, the same at every step (no resampling). Each term's
        are its own draw, so no two terms share theirs (``shares_points``): the
        conditions on one face (the wave's u and u_t at t = 0) are stacked with the
        others into one call rather than grouped for equal points they never get."""

        shares_points = False

        def sample(self, ir, rng):
            return PointSet({k: v.copy() for k, v in points.items()})

    return FixedPoints()


def make_problem(problem: str, points, width: int = 64, depth: int = 2, adaptive=None,
                 net: torch.nn.Module | None = None, **options):
    """``options``: ``PhysicsInformedNN`` keywords (``derivatives``, ``compile``)."""
    from symbolic_pinn import MLP, PhysicsInformedNN, discretize

    net = (net if net is not None else MLP(2, 1, [width] * depth)).to(DEVICE)
    pinn = PhysicsInformedNN(net, _fixed_strategy(points), adaptive_loss=adaptive, **options)
    return discretize(make_system(problem), pinn)


def plain_mlp(width: int = 64, depth: int = 2) -> torch.nn.Sequential:
    """The same architecture and initialisation as symbolic_pinn.MLP, in plain torch."""
    layers, widths = [], [2] + [width] * depth + [1]
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(torch.nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(torch.nn.Tanh())
    net = torch.nn.Sequential(*layers)
    for m in net:
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.xavier_normal_(m.weight)
            torch.nn.init.zeros_(m.bias)
    return net


# ----------------------------------------------------------------- hand-written loop
def hand_loss_fn(problem: str, points: dict[str, np.ndarray], net: torch.nn.Module):
    """What a user writes by hand: one input tensor per point set, batched autograd.grad.

    The boundary sets that need no derivative are evaluated in one network call; the
    loss is the same sum of per-term mean squares as the generated closure's.
    """
    T = {k: torch.tensor(v, device=DEVICE) for k, v in points.items()}
    pi = math.pi

    def grad(y, x):
        return torch.autograd.grad(y, x, torch.ones_like(y), create_graph=True)[0]

    if problem == "poisson":
        xi = T["pde_0"].clone().requires_grad_(True)
        f = (2 * pi**2 * torch.sin(pi * xi[:, 0:1]) * torch.sin(pi * xi[:, 1:2])).detach()
        xb = torch.cat([T[f"bc_{k}"] for k in range(4)])
        sizes = [len(T[f"bc_{k}"]) for k in range(4)]

        def loss():
            u = net(xi)
            g = grad(u, xi)
            u_xx = grad(g[:, 0:1], xi)[:, 0:1]
            u_yy = grad(g[:, 1:2], xi)[:, 1:2]
            r = -(u_xx + u_yy) - f
            total = (r**2).mean()
            for rb in net(xb).split(sizes):
                total = total + (rb**2).mean()
            return total

    elif problem == "wave":
        xi = T["pde_0"].clone().requires_grad_(True)
        x0 = T["bc_0"]
        g0 = (torch.sin(pi * x0[:, 0:1]) + torch.sin(4 * pi * x0[:, 0:1]) / 2)
        xt = T["bc_1"].clone().requires_grad_(True)
        xw = torch.cat([T["bc_2"], T["bc_3"]])
        n0, nw = len(x0), [len(T["bc_2"]), len(T["bc_3"])]

        def loss():
            u = net(xi)
            g = grad(u, xi)
            u_xx = grad(g[:, 0:1], xi)[:, 0:1]
            u_tt = grad(g[:, 1:2], xi)[:, 1:2]
            total = ((u_tt - 4 * u_xx) ** 2).mean()
            ub = net(torch.cat([x0, xw]))
            total = total + ((ub[:n0] - g0) ** 2).mean()
            ut = grad(net(xt), xt)[:, 1:2]
            total = total + (ut**2).mean()
            for rb in ub[n0:].split(nw):
                total = total + (rb**2).mean()
            return total

    elif problem == "burgers":
        nu = 0.01 / pi
        xi = T["pde_0"].clone().requires_grad_(True)
        x0 = T["bc_0"]
        g0 = -torch.sin(pi * x0[:, 0:1])
        xb = torch.cat([x0, T["bc_1"], T["bc_2"]])
        sizes = [len(x0), len(T["bc_1"]), len(T["bc_2"])]

        def loss():
            u = net(xi)
            g = grad(u, xi)
            u_x, u_t = g[:, 0:1], g[:, 1:2]
            u_xx = grad(u_x, xi)[:, 0:1]
            total = ((u_t + u * u_x - nu * u_xx) ** 2).mean()
            ub0, ub1, ub2 = net(xb).split(sizes)
            return total + ((ub0 - g0) ** 2).mean() + (ub1**2).mean() + (ub2**2).mean()

    else:
        raise ValueError(problem)
    return loss


def hand_steps(loss, opt, k: int) -> list[float]:
    stamps = []
    for _ in range(k):
        opt.zero_grad(set_to_none=True)
        value = loss()
        value.backward()
        opt.step()
        _sync()
        stamps.append(time.perf_counter())
    return stamps


def ours_steps(prob, k: int) -> list[float]:
    stamps: list[float] = []
    prob.solve(iterations=k, lr=1e-3, progress=False, device=DEVICE,
               callback=lambda row: stamps.append(time.perf_counter()) and None)
    return stamps


def mirror_loss_fn(prob, params_net):
    """The generated ``all_residuals`` in a bare loop: no solve, Run or closure.

    Timing it against "ours" isolates the trainer's per-step overhead; against "hand",
    the cost of the generated code's layout. (Before 2026-11-30's sixteenth session it
    called each term's own residual function, so "bare" lacked the stacked conditions.)
    """
    mod, pts = prob.module, {k: torch.tensor(v, device=DEVICE)
                             for k, v in prob.strategy.sample(None, None).points.items()}
    nets, params = (params_net,), prob.params

    def loss():
        residuals = mod.all_residuals(nets, pts, params)
        total = 0.0
        for term in prob.term_names:
            total = total + torch.mean(residuals[term] ** 2)
        return total

    return loss


def generated_loss(prob) -> float:
    mod, pts = prob.module, {k: torch.tensor(v, device=DEVICE)
                             for k, v in prob.strategy.sample(None, None).points.items()}
    total = 0.0
    for term in prob.term_names:
        r = mod.RESIDUALS[term](prob.nets, pts[term], prob.params)
        total = total + (r.detach() ** 2).mean()
    return float(total)


def _diffs(stamps: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(stamps)]


def _fmt(summary: dict) -> str:
    return f"{summary['median']:.2f} ({summary['min']:.2f}-{summary['max']:.2f})"


def _summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "rounds": len(values)}


def compare_step(problem: str, n_int: int, n_bc: int, width: int, steps: int, rounds: int,
                 depth: int = 2, variants: tuple[str, ...] = ("autograd",)) -> dict:
    """ms per training step, ours vs hand-written, interleaved by rounds.

    "ours" is the library's default (``derivatives="auto"``: the forward-propagated
    taylor path for these MLPs). ``variants`` adds ``"autograd"`` (``derivatives=
    "autograd"``: nested ``autograd.grad``), ``"compiled"`` (``compile=True``; its
    first step, which compiles, is timed separately as ``compile_s``) and ``"graphed"``
    (``compile="reduce-overhead"``: CUDA graphs on a GPU; ``graphed_compile_s``). Every variant
    trains a copy of the same initialisation on the same points, and its loss is checked
    against the hand-written one before timing.
    """
    from symbolic_pinn import MLP

    torch.manual_seed(0)
    points = make_points(problem, n_int, n_bc)
    net = MLP(2, 1, [width] * depth)
    hand_net = plain_mlp(width, depth)
    hand_net.load_state_dict(net.state_dict())
    hand_net.to(DEVICE)
    options = {"ours": {}, "autograd": {"derivatives": "autograd"},
               "compiled": {"compile": True}, "graphed": {"compile": "reduce-overhead"}}
    probs = {name: make_problem(problem, points, net=copy.deepcopy(net), **options[name])
             for name in ("ours", *variants)}
    loss = hand_loss_fn(problem, points, hand_net)
    hand0 = float(loss().detach())
    opt = torch.optim.Adam(hand_net.parameters(), lr=1e-3)
    mirror_net = copy.deepcopy(net).to(DEVICE)
    mirror = mirror_loss_fn(probs["ours"], mirror_net)
    mirror_opt = torch.optim.Adam(mirror_net.parameters(), lr=1e-3)
    out = {"problem": problem, "n_interior": n_int, "n_boundary_per_term": n_bc,
           "width": width, "steps_per_round": steps, "loss_check": {}}
    for name, prob in probs.items():
        value = generated_loss(prob)
        out["loss_check"][name] = abs(value - hand0) / max(abs(hand0), 1e-30)
        start = time.perf_counter()
        stamps = ours_steps(prob, 3)  # warm-up (and, compiled, the compilation)
        if name == "compiled":
            out["compile_s"] = stamps[0] - start
        elif name == "graphed":
            out["graphed_compile_s"] = stamps[0] - start
    hand_steps(loss, opt, 3), hand_steps(mirror, mirror_opt, 3)
    ms = {name: [] for name in (*probs, "hand", "bare")}
    for _ in range(rounds):
        for name, prob in probs.items():
            ms[name].append(statistics.median(_diffs(ours_steps(prob, steps))) * 1e3)
        ms["hand"].append(statistics.median(_diffs(hand_steps(loss, opt, steps))) * 1e3)
        ms["bare"].append(statistics.median(_diffs(hand_steps(mirror, mirror_opt, steps))) * 1e3)
    out.update({f"{name}_ms": statistics.median(v) for name, v in ms.items()})
    out["ratio"] = _summary([a / b for a, b in zip(ms["ours"], ms["hand"])])
    out["ours_over_generated_bare"] = _summary([a / b for a, b in zip(ms["ours"], ms["bare"])])
    for name in variants:
        out[f"{name}_ratio"] = _summary([a / b for a, b in zip(ms[name], ms["hand"])])
        out[f"{name}_over_ours"] = _summary([a / b for a, b in zip(ms[name], ms["ours"])])
    return out


# ------------------------------------------------------------------------------ NTK
def naive_ntk(prob, term: str, pts: torch.Tensor) -> torch.Tensor:
    """Per-point loop (PINNsNTK / SciANN style): one residual and one backward per point."""
    params = [p for net in prob.nets for p in net.parameters() if p.requires_grad]
    out = []
    for i in range(pts.shape[0]):
        r = prob.module.RESIDUALS[term](prob.nets, pts[i : i + 1], prob.params)
        g = torch.autograd.grad(r.sum(), params, allow_unused=True)
        out.append(sum(float((v**2).sum()) for v in g if v is not None))
    return torch.tensor(out, device=pts.device)


def _fast_ntk():
    """The library's method-selecting entry points (per term, for all terms), where this
    version has them."""
    try:
        from symbolic_pinn.adaptive.kernel import term_ntk_diagonal
    except ImportError:
        return None, None
    try:
        from symbolic_pinn.adaptive.kernel import terms_ntk_diagonals
    except ImportError:
        terms_ntk_diagonals = None
    return term_ntk_diagonal, terms_ntk_diagonals


def compare_ntk(problem: str, n_int: int, n_bc: int, width: int, rounds: int,
                naive_points: int, steps: int, only: tuple[str, ...] | None = None) -> dict:
    """Exact NTK diagonal over all N training points vs one training step on them.

    Methods: ``vmap64`` (``torch.func.vmap(grad)``, chunks of 64: the generic path, the
    library's default before ``chunk_size="auto"``), ``vmap_auto`` (the same with the
    library's default chunks, ``auto_chunk_size``), ``vmap_unchunked`` (the same, one
    chunk), ``taylor`` (the forward-propagation path
    for MLPs, ``method="taylor"``, where the library has it: all terms in one call of
    ``terms_ntk_diagonals``, as the NTK strategy computes them), ``taylor_per_term``
    (the same path, one ``term_ntk_diagonal`` call per term) and ``naive`` (a per-point
    loop: one batched residual and one backward per point, timed on a few points and
    extrapolated to N). ``only`` keeps the methods it names (``naive_points=0`` leaves
    out the naive loop); the first vmap method kept is then the baseline that the others
    are checked and timed against (``vmap64`` in the full set).
    """
    from symbolic_pinn.adaptive.kernel import ntk_diagonal

    torch.manual_seed(0)
    points = make_points(problem, n_int, n_bc)
    prob = make_problem(problem, points, width=width)
    T = {k: torch.tensor(v, device=DEVICE) for k, v in points.items()}
    n_total = sum(len(v) for v in T.values())
    term_ntk, terms_ntk = _fast_ntk()

    def vmap(chunk):
        return {t: ntk_diagonal(prob.module.POINT_RESIDUALS[t], prob.nets, prob.params, T[t],
                                chunk_size=chunk) for t in prob.term_names}

    def taylor_per_term():
        return {t: term_ntk(prob, t, T[t], method="taylor") for t in prob.term_names}

    def taylor():
        return terms_ntk(prob, T, method="taylor")

    def taylor_whole():  # all points in one part (as before the parts, ntk_units.parts)
        from symbolic_pinn import ntk_units

        saved, ntk_units.PART_BYTES = ntk_units.PART_BYTES, 2**62
        try:
            return terms_ntk(prob, T, method="taylor")
        finally:
            ntk_units.PART_BYTES = saved

    share = {t: max(1, round(naive_points * len(T[t]) / n_total)) for t in prob.term_names}

    def naive():
        return {t: naive_ntk(prob, t, T[t][: share[t]]) for t in prob.term_names}

    methods = {"vmap64": lambda: vmap(64), "vmap_auto": lambda: vmap("auto"),
               "vmap_unchunked": lambda: vmap(None)}
    if term_ntk is not None:
        methods["taylor"] = taylor if terms_ntk is not None else taylor_per_term
        if terms_ntk is not None:
            methods["taylor_per_term"] = taylor_per_term
    if only is not None:
        methods = {m: {"taylor_whole": taylor_whole, **methods}[m] for m in only}
    base = next((m for m in methods if m.startswith("vmap")), None)
    if base is None:
        raise ValueError(f"compare_ntk: only={only} names no vmap method to check against")
    reference = methods[base]()

    def rel(a, b):
        return float(((a - b).abs() / b.abs().clamp_min(1e-30)).max())

    checks = {}
    if naive_points:
        dn = naive()
        checks[f"{base}_vs_naive"] = max(rel(reference[t][: share[t]], dn[t])
                                         for t in prob.term_names)
    for name, fn in methods.items():
        if name != base:
            out = fn()  # also the warm-up
            checks[f"{name}_vs_{base}"] = max(rel(out[t], reference[t]) for t in prob.term_names)
    ours_steps(prob, 3)
    times = {"step": [], **{m: [] for m in methods}, **({"naive": []} if naive_points else {})}
    for _ in range(rounds):
        times["step"].append(statistics.median(_diffs(ours_steps(prob, steps))))
        for name, fn in methods.items():  # like the step: a median of repeated calls
            calls = []
            for _ in range(5 if name.startswith("taylor") else 3):
                _sync()
                t0 = time.perf_counter()
                fn()
                _sync()
                calls.append(time.perf_counter() - t0)
            times[name].append(statistics.median(calls))
        if naive_points:
            _sync()
            t0 = time.perf_counter()
            naive()
            _sync()
            times["naive"].append((time.perf_counter() - t0) / sum(share.values()) * n_total)
    out = {"problem": problem, "n_points": n_total, "width": width,
           "n_parameters": sum(p.numel() for p in prob.nets[0].parameters()),
           "step_ms": statistics.median(times["step"]) * 1e3,
           "naive_points_timed": sum(share.values()) if naive_points else 0,
           "max_rel_diff": checks}
    for name in [m for m in times if m != "step"]:
        out[f"{name}_ms"] = statistics.median(times[name]) * 1e3
        out[f"{name}_over_step"] = _summary([a / b for a, b in zip(times[name], times["step"])])
    for name in methods:
        if name != base:  # speed-up over the vmap baseline, per round
            out[f"{base}_over_{name}"] = _summary(
                [a / b for a, b in zip(times[base], times[name])])
    for other in ("taylor_per_term", "taylor_whole"):  # all terms in one call / per term;
        if other in times and "taylor" in times:  # in parts / all points at once
            out[f"taylor_over_{other}"] = _summary(
                [a / b for a, b in zip(times["taylor"], times[other])])
    if naive_points:
        out[f"naive_over_{base}"] = _summary([a / b for a, b in zip(times["naive"], times[base])])
    return out


# ------------------------------------------------------------------------- adaptive
def compare_adaptive(problem: str, n_int: int, n_bc: int, width: int, iterations: int,
                     every: int, rounds: int) -> dict:
    """Whole solve() wall time: NTK weights every ``every`` steps vs no adaptive loss."""
    from symbolic_pinn import MLP
    from symbolic_pinn.adaptive import NeuralTangentKernelAdaptiveLoss, NonAdaptiveLoss

    torch.manual_seed(0)
    points = make_points(problem, n_int, n_bc)
    init = MLP(2, 1, [width, width]).state_dict()
    variants = [("plain", NonAdaptiveLoss()),
                ("ntk", NeuralTangentKernelAdaptiveLoss(reweight_every=every))]
    try:  # the generic vmap path, where the library also has a faster one
        variants.append(("ntk_vmap", NeuralTangentKernelAdaptiveLoss(reweight_every=every,
                                                                     method="exact-vmap")))
    except TypeError:
        pass
    probs = {}
    for name, loss in variants:
        net = MLP(2, 1, [width, width])
        probs[name] = make_problem(problem, points, net=net, adaptive=loss)

    due = [k for k in range(iterations) if k % every == 0]  # the reweight steps

    def run(name):
        """Wall time of solve(), and a spike-robust estimate of it.

        The estimate keeps the measured times of the reweight steps (step 0 counted from
        the call, so it includes solve's set-up) and counts every other step at the
        run's median step time, so a spike from another process on a shared machine
        does not decide the ratio unless it hits one of the few reweight steps.
        """
        probs[name].nets[0].load_state_dict(init)
        stamps = [time.perf_counter()]
        probs[name].solve(iterations=iterations, lr=1e-3, progress=False, device=DEVICE,
                          callback=lambda row: stamps.append(time.perf_counter()) and None)
        steps = _diffs(stamps)  # steps[k]: the time of step k
        others = [t for k, t in enumerate(steps) if k not in due]
        robust = sum(steps[k] for k in due) + statistics.median(others) * len(others)
        return stamps[-1] - stamps[0], robust

    for name in probs:  # warm-up
        run(name)
    times = {name: [] for name in probs}
    robust = {name: [] for name in probs}
    for _ in range(rounds):
        for name in probs:
            wall, est = run(name)
            times[name].append(wall), robust[name].append(est)
    out = {"problem": problem, "iterations": iterations, "reweight_every": every,
           "n_points": sum(len(v) for v in points.values()),
           **{f"{name}_s": statistics.median(times[name]) for name in probs}}
    for name in probs:
        if name != "plain":
            suffix = "" if name == "ntk" else "_" + name.split("_", 1)[1]
            out["ratio" + suffix] = _summary(
                [a / b for a, b in zip(times[name], times["plain"])])
            out["ratio_spike_robust" + suffix] = _summary(
                [a / b for a, b in zip(robust[name], robust["plain"])])
    return out


# --------------------------------------------------------------- subprocess measures
def _child(kind: str, problem: str, steps: int, n_int: int, n_bc: int) -> None:
    """Run in a fresh process: train and print its peak resident set as JSON."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    points = make_points(problem, n_int, n_bc)
    if kind in ("ours", "autograd"):
        prob = make_problem(problem, points,
                            **({"derivatives": "autograd"} if kind == "autograd" else {}))
        prob.solve(iterations=steps, progress=False, device=DEVICE)
    else:
        net = plain_mlp().to(DEVICE)
        loss = hand_loss_fn(problem, points, net)
        hand_steps(loss, torch.optim.Adam(net.parameters(), lr=1e-3), steps)
    peak = {"peak_rss_mb": peak_rss_mb()}
    if DEVICE.type == "cuda":
        peak["peak_cuda_mb"] = torch.cuda.max_memory_allocated(DEVICE) / 2**20
    print(json.dumps(peak))


def peak_rss_mb() -> float:
    """This process's peak resident set: VmHWM (Linux), else ru_maxrss.

    ru_maxrss is not used on Linux because it carries over the parent's resident set at
    fork across exec, so a child of a large benchmark process reports the parent's size.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def measure_memory(problems, steps: int, n_int: int, n_bc: int) -> list[dict]:
    out = []
    for problem in problems:
        row = {"problem": problem}
        for kind in ("hand", "ours", "autograd"):
            res = subprocess.run(
                [sys.executable, __file__, "--_child", kind, "--_problem", problem,
                 "--_steps", str(steps), "--_n", str(n_int), "--_nbc", str(n_bc),
                 "--device", str(DEVICE)],
                capture_output=True, text=True, check=True, cwd=ROOT)
            peak = json.loads(res.stdout.strip().splitlines()[-1])
            for key, value in peak.items():  # peak_rss_mb, and peak_cuda_mb on a GPU
                row[f"{kind}_{key}"] = value
        row["ratio"] = row["ours_peak_rss_mb"] / row["hand_peak_rss_mb"]
        row["autograd_ratio"] = row["autograd_peak_rss_mb"] / row["hand_peak_rss_mb"]
        if "ours_peak_cuda_mb" in row:
            row["cuda_ratio"] = row["ours_peak_cuda_mb"] / row["hand_peak_cuda_mb"]
            row["autograd_cuda_ratio"] = row["autograd_peak_cuda_mb"] / row["hand_peak_cuda_mb"]
        out.append(row)
    return out


def measure_import(repeats: int) -> dict:
    code = "import time; t = time.perf_counter(); {stmt}; print(time.perf_counter() - t)"
    statements = {
        "torch": "import torch",
        # what a user's script imports anyway to write a system
        "torch, sympy": "import torch, sympy",
        # the package alone (its errors and MLP); the names that need SymPy load on
        # first use
        "symbolic_pinn": "import symbolic_pinn",
        # what writing and discretizing a system loads (SymPy, problem to code generation)
        "system": "import symbolic_pinn; from symbolic_pinn import *",
        # and what the package defers further (code generation's jinja2, the adaptive-loss
        # strategies): the cost a script that trains pays in all
        "everything": "import symbolic_pinn, jinja2; from symbolic_pinn import *; "
                      "from symbolic_pinn.adaptive import *",
    }
    times: dict[str, list[float]] = {m: [] for m in statements}
    names = list(statements)
    for i in range(repeats):
        for m in names[i % len(names):] + names[:i % len(names)]:  # each goes first in turn
            res = subprocess.run([sys.executable, "-c", code.format(stmt=statements[m])],
                                 capture_output=True, text=True, check=True, cwd=ROOT)
            times[m].append(float(res.stdout.strip().splitlines()[-1]))

    def ratios(a, b):
        return _summary([x / y for x, y in zip(times[a], times[b])])

    return {"torch_s": statistics.median(times["torch"]),
            "symbolic_pinn_s": statistics.median(times["symbolic_pinn"]),
            "torch_sympy_s": statistics.median(times["torch, sympy"]),
            "system_s": statistics.median(times["system"]),
            "everything_s": statistics.median(times["everything"]),
            "ratio": ratios("symbolic_pinn", "torch"),
            "ratio_torch_sympy": ratios("torch, sympy", "torch"),
            "ratio_vs_torch_sympy": ratios("symbolic_pinn", "torch, sympy"),
            "ratio_system": ratios("system", "torch"),
            "ratio_system_vs_torch_sympy": ratios("system", "torch, sympy"),
            "ratio_everything": ratios("everything", "torch"),
            "repeats": repeats}


# ---------------------------------------------------------------------------- profile
#: aten ops that move no data: views, metadata and allocation (no kernel on a GPU)
_NO_KERNEL = frozenset(f"aten::{name}" for name in (
    "empty", "empty_strided", "empty_like", "view", "_unsafe_view", "reshape",
    "_reshape_alias", "t", "transpose", "permute", "expand", "as_strided", "slice", "select",
    "narrow", "split", "unsqueeze", "squeeze", "detach", "detach_", "alias", "lift_fresh",
    "resolve_conj", "resolve_neg", "result_type", "set_", "is_nonzero", "item",
    "_local_scalar_dense", "size", "stride", "numel"))


def kernel_ops(events) -> int:
    """The profiled aten ops that do work themselves: leaves of the op tree (no aten op
    inside them) that are not views or allocations. On the CPU this counts what a GPU
    would launch as kernels: on the Poisson step (``--profile auto`` and ``hand`` on this
    project's CPU), 288.7 a step for ours and 228.0 hand-written (1.27), against 300.6
    and 236 kernel launches (1.27) on an H200
    (``benchmarks/results/profile-*-cuda-h200.log``): a way to count a GPU's launches
    without one. (Ours: 282.7 since the finiteness check reads all gradients at once.)"""
    return sum(1 for e in events if e.name.startswith("aten::") and e.name not in _NO_KERNEL
               and not any(c.name.startswith("aten::") for c in e.cpu_children))


def profile(problem: str, steps: int, variant: str = "auto") -> None:
    """torch.profiler's table and cProfile's top functions for ``steps`` steps of one
    variant: ``auto``, ``taylor``, ``autograd`` (``derivatives``), ``compiled``
    (``compile=True``), ``graphed`` (``compile="reduce-overhead"``) or ``hand``. A line
    counts the kernel-like aten ops per step (:func:`kernel_ops`); on a GPU the table
    adds the CUDA kernels, and another line counts the launches per step."""
    import cProfile
    import pstats

    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as tprofile

    points = make_points(problem, 2000, 100)
    if variant == "hand":
        net = plain_mlp().to(DEVICE)
        loss = hand_loss_fn(problem, points, net)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)

        def run(k):
            return hand_steps(loss, opt, k)
    else:
        options = ({"compile": True} if variant == "compiled" else
                   {"compile": "reduce-overhead"} if variant == "graphed" else
                   {"derivatives": variant})
        prob = make_problem(problem, points, **options)

        def run(k):
            return ours_steps(prob, k)
    run(5)
    activities = [ProfilerActivity.CPU]
    if DEVICE.type == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with tprofile(activities=activities) as prof:
        run(steps)
    events = prof.key_averages()
    print(events.table(sort_by="self_cpu_time_total", row_limit=25))
    if DEVICE.type == "cuda":
        launches = {e.key: e.count / steps for e in events
                    if e.key in ("cudaLaunchKernel", "cuLaunchKernel", "cudaGraphLaunch",
                                 "cudaLaunchKernelExC", "cudaMemcpyAsync",
                                 "cudaStreamSynchronize", "cudaDeviceSynchronize")}
        print(f"{variant}: per step " + ", ".join(f"{k} {v:.1f}" for k, v in launches.items()))
    print(f"{variant}: per step {kernel_ops(prof.events()) / steps:.1f} kernel-like aten ops")
    pr = cProfile.Profile()
    pr.enable()
    run(steps)
    pr.disable()
    pstats.Stats(pr).sort_stats("tottime").print_stats(20)


# ------------------------------------------------------------------------------- main
def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a tiny run (about 30 s)")
    ap.add_argument("--out", help="write the results as JSON to this file")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--profile", nargs="?", const="auto",
                    choices=["auto", "autograd", "taylor", "compiled", "graphed", "hand"],
                    help="profile one variant of the Poisson step and exit (auto: ours with "
                         "the defaults; taylor, autograd: those derivatives; compiled, "
                         "graphed: compile=True, compile=\"reduce-overhead\"; hand)")
    ap.add_argument("--skip", nargs="*", default=[],
                    choices=["step", "ntk", "adaptive", "memory", "import", "scaling"])
    ap.add_argument("--points", type=int,
                    help="interior points (default 2000; each boundary set a twentieth of "
                         "that, at least 5) in every section but the scaling by points")
    ap.add_argument("--no-compile", action="store_true",
                    help="leave out the compiled variants of the step section (compile=True, "
                         "and compile=\"reduce-overhead\" on a GPU)")
    ap.add_argument("--device", default="cpu",
                    help="where everything trains: cpu (default) or cuda (GPU figures are "
                         "reported apart; times are taken after a device synchronisation)")
    ap.add_argument("--_child", help=argparse.SUPPRESS)
    ap.add_argument("--_problem", help=argparse.SUPPRESS)
    ap.add_argument("--_steps", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--_n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--_nbc", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    global DEVICE
    DEVICE = torch.device(args.device)
    if DEVICE.type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: torch sees no CUDA device")
    from symbolic_pinn import allocator

    allocator.warm_up()  # before anything is timed: see the module docstring
    if args._child:
        _child(args._child, args._problem, args._steps, args._n, args._nbc)
        return {}
    if args.profile:
        profile("poisson", 50, args.profile)
        return {}
    q = args.quick
    n_int, n_bc, width = (200, 20, 16) if q else (2000, 100, 64)
    if args.points is not None:
        if args.points < 1:
            ap.error("--points must be a positive number of points")
        n_int, n_bc = args.points, max(5, args.points // 20)
    steps, rounds = (4, 2) if q else (40, 7)
    results: dict = {"meta": {
        "quick": q, "torch": torch.__version__, "python": platform.python_version(),
        "machine": platform.machine(), "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "dtype": "float32", "device": str(DEVICE), "points": [n_int, n_bc],
        "device_name": (torch.cuda.get_device_name(DEVICE) if DEVICE.type == "cuda"
                        else platform.processor() or platform.machine()),
        "method": "interleaved rounds; per-round median step time; median (min, max) of "
                  "per-round ratios",
    }}

    def save():
        if args.out:
            with open(args.out, "w", encoding="utf-8") as f:
                json.dump(results, f, indent=1)

    def log(msg):  # after every measurement: a run cut short keeps what it measured
        print(msg, flush=True)
        save()

    if "step" not in args.skip:
        results["step"] = []
        variants = (("autograd",) if q or args.no_compile else
                    ("autograd", "compiled", "graphed") if DEVICE.type == "cuda" else
                    ("autograd", "compiled"))
        for problem in PROBLEMS:
            r = compare_step(problem, n_int, n_bc, width, steps, rounds, variants=variants)
            results["step"].append(r)
            log(f"step  {problem:8s} ours {r['ours_ms']:7.2f} ms  hand {r['hand_ms']:7.2f} ms  "
                f"ours/hand {_fmt(r['ratio'])}  ours/bare "
                f"{r['ours_over_generated_bare']['median']:.3f}  loss rel diffs "
                + " ".join(f"{k} {v:.1e}" for k, v in r["loss_check"].items()))
            for name in variants:
                log(f"      {problem:8s} {name} {r[name + '_ms']:7.2f} ms  {name}/hand "
                    f"{_fmt(r[name + '_ratio'])}  {name}/ours {_fmt(r[name + '_over_ours'])}"
                    + (f"  compile {r['compile_s']:.1f} s" if name == "compiled" else "")
                    + (f"  compile {r['graphed_compile_s']:.1f} s" if name == "graphed" else ""))
    if "ntk" not in args.skip:
        results["ntk"] = []
        for problem in PROBLEMS:
            r = compare_ntk(problem, n_int, n_bc, width, max(2, rounds // 2),
                            8 if q else 48, steps)
            results["ntk"].append(r)
            log(f"ntk   {problem:8s} N={r['n_points']} step {r['step_ms']:.2f} ms; in steps: "
                + "  ".join(f"{m} {r[m + '_over_step']['median']:.1f}"
                            for m in ("taylor", "taylor_per_term", "vmap64", "vmap_auto",
                                      "vmap_unchunked", "naive")
                            if m + "_over_step" in r)
                + (f"; all terms / per term {r['taylor_over_taylor_per_term']['median']:.2f}"
                   if "taylor_over_taylor_per_term" in r else "")
                + f"  (checks {max(r['max_rel_diff'].values()):.1e})")
    if "adaptive" not in args.skip:
        results["adaptive"] = []
        for problem in (("poisson",) if q else PROBLEMS):
            r = compare_adaptive(problem, n_int, n_bc, width, 20 if q else 300, 10 if q else 100,
                                 1 if q else 3)
            ntk = {n["problem"]: n for n in results.get("ntk", [])}
            if problem in ntk:  # the same ratio from its parts: NTK cost / step cost
                n = ntk[problem]
                updates = math.ceil(r["iterations"] / r["reweight_every"])
                ntk_ms = n.get("taylor_ms", n["vmap64_ms"])  # what "auto" picks for an MLP
                r["predicted_ratio_from_ntk_section"] = 1 + updates * ntk_ms / (
                    r["iterations"] * n["step_ms"]) if r["n_points"] == n["n_points"] else None
            results["adaptive"].append(r)
            log(f"adapt {problem:8s} {r['iterations']} its, every {r['reweight_every']}: plain "
                f"{r['plain_s']:.2f} s  ntk {r['ntk_s']:.2f} s  ratio {r['ratio']['median']:.3f} "
                f"({r['ratio']['min']:.3f}-{r['ratio']['max']:.3f}); spike-robust "
                f"{r['ratio_spike_robust']['median']:.3f} "
                f"({r['ratio_spike_robust']['min']:.3f}-{r['ratio_spike_robust']['max']:.3f}); "
                "from parts "
                f"{r.get('predicted_ratio_from_ntk_section') or float('nan'):.3f}"
                + (f"; vmap path: spike-robust {r['ratio_spike_robust_vmap']['median']:.3f}"
                   if "ratio_spike_robust_vmap" in r else ""))
    if "memory" not in args.skip:
        results["memory"] = measure_memory(("poisson",) if q else PROBLEMS, 5 if q else 200,
                                           n_int, n_bc)
        for r in results["memory"]:
            log(f"mem   {r['problem']:8s} hand {r['hand_peak_rss_mb']:.0f} MB  ours "
                f"{r['ours_peak_rss_mb']:.0f} MB  ratio {r['ratio']:.2f}  autograd "
                f"{r['autograd_peak_rss_mb']:.0f} MB  ratio {r['autograd_ratio']:.2f}"
                + (f"  GPU: hand {r['hand_peak_cuda_mb']:.0f} MB  ours "
                   f"{r['ours_peak_cuda_mb']:.0f} MB  ratio {r['cuda_ratio']:.2f}  autograd "
                   f"ratio {r['autograd_cuda_ratio']:.2f}" if "cuda_ratio" in r else ""))
    if "import" not in args.skip:
        r = results["import"] = measure_import(1 if q else 11)
        log(f"import torch {r['torch_s']:.2f} s  symbolic_pinn {r['symbolic_pinn_s']:.2f} s  "
            f"ratio {r['ratio']['median']:.2f} ({r['ratio']['min']:.2f}-{r['ratio']['max']:.2f}); "
            f"torch+sympy {r['torch_sympy_s']:.2f} s (ratio {r['ratio_torch_sympy']['median']:.2f}); "
            f"symbolic_pinn / torch+sympy {r['ratio_vs_torch_sympy']['median']:.2f}; with the "
            f"system names {r['system_s']:.2f} s (ratio {r['ratio_system']['median']:.2f}; / "
            f"torch+sympy {r['ratio_system_vs_torch_sympy']['median']:.2f}); everything "
            f"{r['everything_s']:.2f} s (ratio {r['ratio_everything']['median']:.2f})")
    if "scaling" not in args.skip:
        results["scaling"] = {"points": [], "width": []}
        ns = (200, 800) if q else (1000, 4000, 16000, 64000)
        for n in ns:
            k = 4 if q else max(5, min(40, 80000 // n))
            r = compare_step("poisson", n, max(1, n // 20), width, k, 2 if q else 3)
            results["scaling"]["points"].append(r)
            log(f"scale N={n:6d} ours {r['ours_ms']:8.2f} ms  hand {r['hand_ms']:8.2f} ms  "
                f"ratio {r['ratio']['median']:.2f}  autograd/hand "
                f"{r['autograd_ratio']['median']:.2f}")
        for w in ((16, 32) if q else (64, 128, 256, 512)):
            k = 4 if q else max(5, 40 * 64 // w)
            r = compare_step("poisson", n_int, n_bc, w, k, 2 if q else 3)
            results["scaling"]["width"].append(r)
            log(f"scale width={w:4d} ours {r['ours_ms']:8.2f} ms  hand {r['hand_ms']:8.2f} ms  "
                f"ratio {r['ratio']['median']:.2f}  autograd/hand "
                f"{r['autograd_ratio']['median']:.2f}")
    save()
    return results


if __name__ == "__main__":
    sys.path.insert(0, ROOT)
    main()
