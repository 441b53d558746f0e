"""What one jet call per shared point set saves: Kovasznay flow under GridTraining.

Kovasznay flow (steady incompressible Navier–Stokes, Re = 20) with u, v and p from one
``MLP(2, 3, [50, 50, 50])`` under ``GridTraining``, which gives the three equations the
same interior grid and the conditions on one edge the same points. The generated
``all_residuals`` then evaluates each such group with one ``jet`` call per network and input
(``shared_residuals_<k>``; see ``symbolic_pinn.jet_calls``), where each term used to make
its own. Timed, interleaved in rounds:

* the forward and backward pass of the mean squared residuals of the first momentum
  equation alone (``pde_0``); of the three equations, per term (``equations_separate``) and
  as one group (``equations_shared``); of the whole loss, per term (``loss_separate``) and
  through ``all_residuals`` (``loss_shared``);
* one optimizer step (``train_step``, Adam) of the problem as generated (``step_shared``)
  and of the same problem under a grid strategy with ``shares_points = False``, whose
  module has no groups (``step_separate``): the same networks, points and losses;
* the same two steps under ``StochasticTraining(share=True)`` (as many points per term as
  the grid; fresh points every step, their drawing included), with and without the groups
  (``step_stochastic_shared``, ``step_stochastic_separate``);
* the exact NTK diagonals of all twelve terms at their points: ``ntk``, what
  ``NeuralTangentKernelAdaptiveLoss`` computes on a reweight step (by forward propagation,
  all twelve terms in one call: ``symbolic_pinn.adaptive.kernel.terms_ntk_diagonals``;
  before the fourteenth session only the terms of a group, whose points are one tensor,
  were together), and ``ntk_separate``, each term on its own (``term_ntk_diagonal``);
  reported in grouped steps.

``--derivatives autograd`` measures the autograd path (any ``nn.Module``), whose groups
call each network once per input and take each derivative once since the eighteenth
session (``symbolic_pinn.autograd_calls``).

Usage::

    python benchmarks/shared_points.py            # grid spacing 0.03: 3234 interior points
    python benchmarks/shared_points.py --quick    # a smoke run, a few seconds
    python benchmarks/shared_points.py --derivatives autograd
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from symbolic_pinn import MLP, PhysicsInformedNN, discretize
from symbolic_pinn.adaptive.kernel import term_ntk_diagonal, terms_ntk_diagonals
from symbolic_pinn.run import Run
from symbolic_pinn.training import GridTraining, StochasticTraining


def kovasznay():
    """The system of ``examples/kovasznay.py`` (Re = 20)."""
    path = Path(__file__).resolve().parents[1] / "examples" / "kovasznay.py"
    spec = importlib.util.spec_from_file_location("kovasznay_example", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    return example.kovasznay_system()


class SeparateGrid(GridTraining):
    """The same grid, generated without the shared evaluations."""

    shares_points = False


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a smoke run (coarse grid, 1 round)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=20, help="evaluations per round and part")
    ap.add_argument("--out", help="write the results as JSON to this file")
    ap.add_argument("--derivatives", default="auto", choices=["auto", "autograd"],
                    help="the derivative path of every problem (auto: taylor for the MLP)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    dx, rounds, repeats = (0.25, 1, 2) if args.quick else (0.03, args.rounds, args.repeats)
    torch.manual_seed(0)
    net = MLP(2, 3, [50, 50, 50])
    problems = {name: discretize(kovasznay(), PhysicsInformedNN(
                    copy.deepcopy(net), strategy(dx), derivatives=args.derivatives))
                for name, strategy in (("shared", GridTraining), ("separate", SeparateGrid))}
    grid = problems["shared"].strategy.sample(problems["shared"].ir, None).points
    for name, groups in (("stochastic_shared", True), ("stochastic_separate", False)):
        drawn = StochasticTraining(len(grid["pde_0"]), len(grid["bc_0"]), share=True)
        drawn.shares_points = groups  # without: the same draws, each term its own call
        problems[name] = discretize(kovasznay(), PhysicsInformedNN(
            copy.deepcopy(net), drawn, derivatives=args.derivatives))
    runs = {name: Run(prob, "adam", lambda ps: torch.optim.Adam(ps, lr=1e-3),
                      np.random.default_rng(0), torch.device("cpu"), torch.float32)
            for name, prob in problems.items()}
    problem, points = problems["shared"], runs["shared"].points
    shared = all(points[t] is points["pde_0"] for t in ("pde_1", "pde_2"))
    module, nets, params = problem.module, problem.nets, problem.params

    def per_term(terms):
        return lambda: [module.RESIDUALS[t](nets, points[t], params) for t in terms]

    equations = ["pde_0", "pde_1", "pde_2"]
    evaluations = {
        "pde_0": per_term(["pde_0"]),
        "equations_separate": per_term(equations),
        "equations_shared": lambda: module.shared_residuals_0(nets, points["pde_0"], params),
        "loss_separate": per_term(problem.term_names),
        "loss_shared": lambda: list(module.all_residuals(nets, points, params).values()),
    }

    def ms(evaluate) -> float:
        start = time.perf_counter()
        for _ in range(repeats):
            sum((r ** 2).mean() for r in evaluate()).backward()
        return (time.perf_counter() - start) / repeats * 1e3

    closures = {name: problems[name].module.make_closure(run) for name, run in runs.items()}

    def step_ms(name) -> float:
        run, step = runs[name], problems[name].module.train_step
        start = time.perf_counter()
        for _ in range(repeats):
            step(run, closures[name])
            run.step += 1  # (as solve does: a resampling strategy draws before each step)
        return (time.perf_counter() - start) / repeats * 1e3

    def ntk_ms(together: bool) -> float:
        start = time.perf_counter()
        for _ in range(max(1, repeats // 4)):
            if together:
                terms_ntk_diagonals(problem, {t: points[t] for t in problem.term_names},
                                    method="taylor")
            else:
                for t in problem.term_names:
                    term_ntk_diagonal(problem, t, points[t], method="taylor")
        return (time.perf_counter() - start) / max(1, repeats // 4) * 1e3

    parts = {**{name: (lambda e=e: ms(e)) for name, e in evaluations.items()},
             **{f"step_{name}": (lambda name=name: step_ms(name)) for name in problems},
             "ntk": lambda: ntk_ms(True), "ntk_separate": lambda: ntk_ms(False)}
    for timer in parts.values():  # warm-up
        timer()
    times: dict[str, list[float]] = {name: [] for name in parts}
    for _ in range(rounds):
        for name, timer in parts.items():
            times[name].append(timer())
    median = {name: statistics.median(v) for name, v in times.items()}
    per_round = {"equations": [s / p for s, p in zip(times["equations_shared"],
                                                     times["equations_separate"])],
                 "loss": [s / p for s, p in zip(times["loss_shared"], times["loss_separate"])],
                 "step": [s / p for s, p in zip(times["step_shared"], times["step_separate"])],
                 "step_stochastic": [s / p for s, p in zip(times["step_stochastic_shared"],
                                                           times["step_stochastic_separate"])]}
    ntk_steps = [n / s for n, s in zip(times["ntk"], times["step_shared"])]
    ntk_separate_steps = [n / s for n, s in zip(times["ntk_separate"], times["step_shared"])]
    ntk_ratio = [n / s for n, s in zip(times["ntk"], times["ntk_separate"])]
    steps = runs["shared"].step_losses, runs["separate"].step_losses
    drawn = runs["stochastic_shared"].points
    shared_drawn = all(drawn[t] is drawn["pde_0"] for t in ("pde_1", "pde_2"))
    out = {"quick": args.quick, "derivatives": args.derivatives,
           "interior_points": len(points["pde_0"]),
           "equations_share_points": shared, "stochastic_equations_share_points": shared_drawn,
           "rounds": rounds, "repeats": repeats,
           **{f"{name}_ms": value for name, value in median.items()},
           **{f"{name}_shared_over_separate": statistics.median(r) for name, r in per_round.items()},
           **{f"{name}_shared_over_separate_range": [min(r), max(r)]
              for name, r in per_round.items()},
           "ntk_over_step": statistics.median(ntk_steps),
           "ntk_over_step_range": [min(ntk_steps), max(ntk_steps)],
           "ntk_separate_over_step": statistics.median(ntk_separate_steps),
           "ntk_separate_over_step_range": [min(ntk_separate_steps), max(ntk_separate_steps)],
           "ntk_shared_over_separate": statistics.median(ntk_ratio),
           "ntk_shared_over_separate_range": [min(ntk_ratio), max(ntk_ratio)],
           # the two runs took the same steps from the same networks: their losses agree
           "last_step_loss_shared_minus_separate": max(
               abs(float(steps[0][t]) - float(steps[1][t])) for t in problem.term_names),
           "last_step_loss_stochastic_shared_minus_separate": max(
               abs(float(runs["stochastic_shared"].step_losses[t])
                   - float(runs["stochastic_separate"].step_losses[t]))
               for t in problem.term_names)}
    print(json.dumps(out, indent=1))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=1)
    return out


if __name__ == "__main__":
    main()
