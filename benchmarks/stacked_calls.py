"""What stacking the conditions into one ``jet`` call saves, per training step.

The generated ``all_residuals`` evaluates the conditions that ask one network for the same
channels (Poisson's four edges; the wave's u(x, 0), u(0, t) and u(1, t); Burgers' three
conditions) by one call on their stacked rows (``symbolic_pinn.stacking``). This script
builds each problem of ``speed.py`` twice in one process, with the stacked calls and with
them switched off (``stacked_groups`` patched, in code generation, to find none, so each
condition makes its own call as before), checks that both give the same loss, and times
them interleaved: rounds of ``--steps`` solve steps, A, B, A, B, ... The figure is the
median over rounds of the per-round ratio stacked / separate, with its min-max. It also
counts the kernel-like aten ops of a step (``speed.kernel_ops``, what a GPU would launch
as kernels; ``--ops-only``: those alone, and the hand-written step's). Two sizes:
``speed.py``'s 2000 interior + 100 points per condition, and a small problem, 100 + 25.
``--problems kovasznay`` adds Kovasznay flow on a grid, whose conditions on each face
share their points: its four groups of conditions are one call since the seventeenth
session, and "separate" is then one call per face. ``--problems allen_cahn`` measures
Allen-Cahn's periodic conditions (``u(-1, t) = u(1, t)`` and the same of ``u_x``,
``examples/allen_cahn.py``; ``speed.py``'s MLP and points as for Burgers), whose inputs
are stacked like terms since the nineteenth session: the two values with ``u(x, 0)`` in
one call, the two slopes in another; "separate" is one call per input.
``allen_cahn_grid``: the same on a ``GridTraining`` grid, where the periodic conditions
share their points (one group at two inputs: one call since the nineteenth session). ``--derivatives autograd`` measures
the autograd path (any ``nn.Module``), whose conditions that read values alone are one
call of the network since the eighteenth session (the wave's u_t(x, 0) keeps its own).

Usage::

    python benchmarks/stacked_calls.py --out stacked.json    # eager (~3 min)
    python benchmarks/stacked_calls.py --rounds 2 --steps 10 # a smoke run
    python benchmarks/stacked_calls.py --ops-only --out ops.json  # op counts (~1 min)
    python benchmarks/stacked_calls.py --device cuda --sizes large --rounds 5  # on a GPU
    python benchmarks/stacked_calls.py --problems kovasznay --out kovasznay.json
    python benchmarks/stacked_calls.py --derivatives autograd --out autograd.json

Measured (torch 2.13.0+cpu, 1 thread, 2-core machine): docs/performance.md,
"Conditions stacked into one call".
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
from pathlib import Path

import speed
import torch
from speed import (
    _fixed_strategy,
    generated_loss,
    hand_loss_fn,
    hand_steps,
    kernel_ops,
    make_points,
    make_system,
    ours_steps,
    plain_mlp,
)

from symbolic_pinn import MLP, PhysicsInformedNN, codegen, discretize, loading
from symbolic_pinn.training import GridTraining

SIZES = {"large": (2000, 100), "small": (100, 25)}


def build(problem: str, size: str, stacked: bool, compile_: bool = False,
          derivatives: str = "auto"):
    """The speed.py problem (MLP 2-64-64-1) at one of SIZES, with or without the stacked
    calls; or Kovasznay flow as in ``peers_kovasznay.py`` (MLP 2-50-50-50-3 on a
    ``GridTraining`` grid: dx = 0.03 for "large", 3234 interior points and faces of 51
    and 67 points; 0.1 for "small", 266, 16 and 21), whose conditions are four groups
    of shared points; or Allen-Cahn on a grid (``allen_cahn_grid``: dx = 0.02 for "large",
    0.1 for "small"), whose periodic conditions are a group of shared points at two
    inputs. ``derivatives``: ``PhysicsInformedNN``'s.
    Its first steps (and compilation) run here."""
    real = codegen.stacked_groups
    if not stacked:
        codegen.stacked_groups = lambda ir, terms, shared: []
    try:
        loading._LOADED.clear()  # a module (and compiled graph) of its own
        torch.manual_seed(0)
        if problem == "kovasznay":
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
            import kovasznay

            dx = 0.03 if size == "large" else 0.1
            pinn = PhysicsInformedNN(MLP(2, 3, [50, 50, 50]).to(speed.DEVICE),
                                     GridTraining(dx), compile=compile_,
                                     derivatives=derivatives)
            prob = discretize(kovasznay.kovasznay_system(20), pinn)
        elif problem == "allen_cahn_grid":  # the periodic conditions share their points
            pinn = PhysicsInformedNN(MLP(2, 1, [64, 64]).to(speed.DEVICE),
                                     GridTraining(0.02 if size == "large" else 0.1),
                                     compile=compile_, derivatives=derivatives)
            prob = discretize(make_system("allen_cahn"), pinn)
        else:
            pinn = PhysicsInformedNN(MLP(2, 1, [64, 64]).to(speed.DEVICE),
                                     _fixed_strategy(make_points(problem, *SIZES[size], 0)),
                                     compile=compile_, derivatives=derivatives)
            prob = discretize(make_system(problem), pinn)
    finally:
        codegen.stacked_groups = real
    assert ("stacked_residuals_0(" in prob.source) == stacked
    loss = _loss(prob)  # before any step: the same networks
    prob.solve(iterations=3, lr=1e-3, progress=False, device=speed.DEVICE)
    return prob, loss


def _loss(prob) -> float:
    """The loss at the problem's points (those of a grid, or the fixed ones)."""
    if isinstance(prob.strategy, GridTraining):
        points = prob.strategy.sample(prob.ir, None).points
        return float(sum(prob.residuals[t](points[t]).detach().square().mean()
                         for t in prob.term_names))
    return generated_loss(prob)


def step_ms(prob, steps: int) -> float:
    stamps = ours_steps(prob, steps)  # on speed.DEVICE; each step's history row syncs
    diffs = [b - a for a, b in itertools.pairwise(stamps[min(10, steps // 2):])]
    return statistics.median(diffs) * 1e3


def ops_per_step(run, steps: int = 20) -> float:
    """Kernel-like aten ops a step of ``run(k)`` (k steps), after 3 warm-up steps, over
    ``steps`` steps of one call: the method of ``speed.py --profile``. (The first
    version of this script counted 10 steps of one ``solve`` with no warm-up, its set-up
    included: the ``ops_*`` fields of ``results/stacked-calls-cpu.json`` and ``-2.json``.)"""
    from torch.profiler import ProfilerActivity, profile

    run(3)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run(steps)
    return kernel_ops(prof.events()) / steps


def count_ops(problems, derivatives: str = "auto") -> list[dict]:
    """Kernel-like ops a step, separate / stacked / hand-written, at 2000 + 100 points (the
    counts do not depend on the number of points)."""
    rows = []
    for problem in problems:
        (separate, _), (stacked, _) = (build(problem, "large", s, derivatives=derivatives)
                                       for s in (False, True))
        ops = [ops_per_step(lambda k, p=p: ours_steps(p, k)) for p in (separate, stacked)]
        rows.append({"problem": problem, "ops_separate": ops[0], "ops_stacked": ops[1]})
        if problem in ("poisson", "wave", "burgers"):  # (no hand-written step of the others)
            points = make_points(problem, *SIZES["large"], 0)
            net = plain_mlp().to(speed.DEVICE)
            loss = hand_loss_fn(problem, points, net)
            opt = torch.optim.Adam(net.parameters(), lr=1e-3)
            rows[-1]["ops_hand"] = ops_per_step(lambda k, lo=loss, o=opt: hand_steps(lo, o, k))
        print(f"{problem:8s} kernel-like ops a step: separate {ops[0]:.1f}, stacked "
              f"{ops[1]:.1f}, hand-written {rows[-1].get('ops_hand', float('nan')):.1f}",
              flush=True)
    return rows


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--steps", type=int, default=60, help="solve steps per round")
    ap.add_argument("--compile", action="store_true", help="compile=True as well")
    ap.add_argument("--problems", nargs="+", default=["poisson", "wave", "burgers"],
                    choices=["poisson", "wave", "burgers", "kovasznay", "allen_cahn",
                             "allen_cahn_grid"])
    ap.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--out", help="write the results here as JSON")
    ap.add_argument("--device", default="cpu", help="where both variants train (cuda: a GPU)")
    ap.add_argument("--derivatives", default="auto", choices=["auto", "autograd"],
                    help="the derivative path of both variants (auto: taylor for these MLPs)")
    ap.add_argument("--ops-only", action="store_true",
                    help="count the kernel-like ops of each step (and the hand-written one's); "
                         "no timing")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    speed.DEVICE = torch.device(args.device)
    if args.ops_only:
        rows = count_ops(args.problems, args.derivatives)
        if args.out:
            with open(args.out, "w") as f:
                json.dump({"torch": torch.__version__, "derivatives": args.derivatives,
                           "ops": rows}, f, indent=1)
        return rows
    results = []
    for compile_, size, problem in itertools.product(
            [False, True] if args.compile else [False], args.sizes, args.problems):
        if compile_ and args.derivatives == "autograd":
            continue  # (compile needs the taylor path)
        built = [build(problem, size, stacked, compile_, args.derivatives)
                 for stacked in (False, True)]
        (separate, loss_s), (stacked, loss_t) = built
        assert abs(loss_t - loss_s) <= 1e-5 * abs(loss_s), (loss_t, loss_s)
        times: list[list[float]] = [[], []]
        for _ in range(args.rounds):
            for i, prob in enumerate((separate, stacked)):
                times[i].append(step_ms(prob, args.steps))
        ratios = [b / a for a, b in zip(*times)]
        ops = [ops_per_step(lambda k, p=p: ours_steps(p, k)) for p in (separate, stacked)]
        row = {"problem": problem, "size": size,
               "points": ({"dx": 0.03 if size == "large" else 0.1} if problem == "kovasznay"
                          else {"dx": 0.02 if size == "large" else 0.1}
                          if problem == "allen_cahn_grid"
                          else SIZES[size]),
               "compiled": compile_, "derivatives": args.derivatives,
               "separate_ms": statistics.median(times[0]),
               "stacked_ms": statistics.median(times[1]),
               "ratio": statistics.median(ratios), "ratio_min": min(ratios),
               "ratio_max": max(ratios), "rounds": args.rounds, "steps": args.steps,
               "ops_separate": ops[0], "ops_stacked": ops[1],
               "loss_separate": loss_s, "loss_stacked": loss_t}
        results.append(row)
        print(f"{problem:8s} {size:5s} {'compiled' if compile_ else 'eager':8s} separate "
              f"{row['separate_ms']:6.2f} ms  stacked {row['stacked_ms']:6.2f} ms  "
              f"stacked / separate {row['ratio']:.3f} ({min(ratios):.3f}-{max(ratios):.3f})  "
              f"kernel-like ops {ops[0]:.1f} -> {ops[1]:.1f}", flush=True)
        if args.out:
            with open(args.out, "w") as f:
                json.dump({"torch": torch.__version__, "device": str(speed.DEVICE),
                           "results": results}, f, indent=1)
    return results


if __name__ == "__main__":
    sys.exit(main() and None)
