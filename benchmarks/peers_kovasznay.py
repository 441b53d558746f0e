"""Kovasznay flow (steady Navier–Stokes in u, v, p), our training step beside DeepXDE's
and PINA's.

The problem of ``examples/kovasznay.py``: Re = 20 on [-0.5, 1] × [-0.5, 1.5], u, v and p
from one MLP 2-50-50-50-3 (tanh), Adam lr 1e-3, float32, one thread. Three
implementations train side by side in one process, interleaved in rounds (each round:
``--steps`` steps of each, continuing its own training), and a ratio is the median over
rounds of the per-round ratios of median step times:

* ``ours``: ``GridTraining(dx)`` (3234 interior points at dx = 0.03), the default
  derivatives; the equations share one ``jet`` call, and the conditions on each edge one
  (since the seventeenth session the four edges' groups are one call together);
* ``ours-separate``: the same grid with ``shares_points = False``: one call per equation
  (the conditions, which read values alone, are one stacked call since the sixteenth
  session, before it one call each);
* ``deepxde``: DeepXDE 1.15 (PyTorch backend) with the same network, as its Kovasznay
  example sets the problem up: ``num_domain`` = our interior points, ``num_boundary`` =
  our distinct boundary points, ``train_distribution="pseudo"``, u and v given on the
  whole boundary, p on the outflow edge, derivatives by ``dde.grad`` (the PDE residuals
  cover the boundary points too: DeepXDE's design);
* ``pina``: PINA 0.3 (``PhysicsInformedSingleModelSolver``, full batch: one epoch is one
  step) with the same architecture (PINA's ``FeedForward``, torch's default init), as
  its users write a system: one residual function returns the three equations, from
  ``pina.operator.grad`` of u, v, p and ``laplacian`` of u, v; random points, as many
  as ours (interior, distinct boundary points, outflow edge); u and v given on the
  whole boundary, p on the outflow edge. Each round is a new ``Trainer`` on the same
  solver: the network goes on training, Adam's state starts afresh (the step time is
  what is compared).

The step time is the difference of time stamps taken by each library's per-step callback
(solve's ``callback``, DeepXDE's ``on_batch_end``, Lightning's ``on_train_batch_end`` for
PINA): each library's per-step bookkeeping is in, its set-up is not.

Usage (DeepXDE and PINA installed, e.g. the ``.venv-peers`` of ``benchmarks/peers.py``;
a peer that is not installed is left out)::

    DDE_BACKEND=pytorch .venv-peers/bin/python benchmarks/peers_kovasznay.py --out k.json
    DDE_BACKEND=pytorch .venv-peers/bin/python benchmarks/peers_kovasznay.py --quick
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
RE = 20


def _example():
    sys.path.insert(0, str(ROOT / "examples"))
    import kovasznay

    return kovasznay


def ours(dx: float, net, shares: bool):
    """``advance(steps) -> [step ms]`` for our problem, and its point counts."""
    from symbolic_pinn import PhysicsInformedNN, discretize
    from symbolic_pinn.training import GridTraining

    class Grid(GridTraining):
        shares_points = shares

    problem = discretize(_example().kovasznay_system(RE),
                         PhysicsInformedNN(copy.deepcopy(net), Grid(dx)))
    points = problem.strategy.sample(problem.ir, None).points
    boundary = {tuple(map(tuple, points[t])) for t in problem.term_names if t.startswith("bc")}
    distinct = {row for rows in boundary for row in rows}
    counts = {"interior": len(points["pde_0"]), "boundary": len(distinct),
              "outflow": sum(1 for row in distinct if row[0] == 1.0)}  # where p is given
    state = {"first": True}

    def advance(steps: int) -> list[float]:
        stamps: list[float] = []
        seed = {"seed": 0} if state.pop("first", False) else {}  # then: go on training
        problem.solve(steps, lr=1e-3, progress=False,
                      callback=lambda row: stamps.append(time.perf_counter()) and None, **seed)
        return [(b - a) * 1e3 for a, b in itertools.pairwise(stamps)]

    return advance, counts, problem


def deepxde(counts: dict, net_seed: int):
    import deepxde as dde

    dde.config.set_default_float("float32")
    dde.config.set_random_seed(net_seed)
    exact = _example().exact_solution
    geom = dde.geometry.Rectangle([-0.5, -0.5], [1.0, 1.5])

    def pde(x, out):
        u, v = out[:, 0:1], out[:, 1:2]
        d = {(c, j): dde.grad.jacobian(out, x, i=c, j=j) for c in range(3) for j in range(2)}
        lap = [dde.grad.hessian(out, x, component=c, i=0, j=0)
               + dde.grad.hessian(out, x, component=c, i=1, j=1) for c in range(2)]
        return [u * d[0, 0] + v * d[0, 1] + d[2, 0] - lap[0] / RE,
                u * d[1, 0] + v * d[1, 1] + d[2, 1] - lap[1] / RE,
                d[0, 0] + d[1, 1]]

    def given(name):
        return lambda x: exact(x[:, 0:1], x[:, 1:2], RE)[name]

    def outflow(x, on_boundary):
        return on_boundary and np.isclose(x[0], 1.0)

    bcs = [dde.icbc.DirichletBC(geom, given("u"), lambda _, b: b, component=0),
           dde.icbc.DirichletBC(geom, given("v"), lambda _, b: b, component=1),
           dde.icbc.DirichletBC(geom, given("p"), outflow, component=2)]
    data = dde.data.PDE(geom, pde, bcs, num_domain=counts["interior"],
                        num_boundary=counts["boundary"], train_distribution="pseudo")
    model = dde.Model(data, dde.nn.FNN([2, 50, 50, 50, 3], "tanh", "Glorot normal"))
    model.compile("adam", lr=1e-3)
    stamps: list[float] = []
    timer = dde.callbacks.Callback()
    timer.on_batch_end = lambda: stamps.append(time.perf_counter())

    def advance(steps: int) -> list[float]:
        stamps.clear()
        model.train(iterations=steps, display_every=steps, callbacks=[timer], verbose=0)
        return [(b - a) * 1e3 for a, b in itertools.pairwise(stamps)]

    return advance, {"pde_points": len(data.train_x_all), "network_points": len(data.train_x)}


def pina(counts: dict, seed: int):
    """``advance(steps) -> [step ms]`` for PINA's solver, and its point counts."""
    import math

    import lightning
    from pina import Condition, Trainer
    from pina.domain import CartesianDomain
    from pina.equation import Equation
    from pina.model import FeedForward
    from pina.operator import grad, laplacian
    from pina.optim import TorchOptimizer
    from pina.problem import SpatialProblem
    from pina.solver import PhysicsInformedSingleModelSolver

    lam = RE / 2 - math.sqrt(RE**2 / 4 + 4 * math.pi**2)

    def exact(x, y):
        return {"u": 1 - torch.exp(lam * x) * torch.cos(2 * math.pi * y),
                "v": lam / (2 * math.pi) * torch.exp(lam * x) * torch.sin(2 * math.pi * y),
                "p": (1 - torch.exp(2 * lam * x)) / 2}

    def navier_stokes(input_, output_):
        u, v = output_.extract(["u"]), output_.extract(["v"])
        d = grad(output_, input_, components=["u", "v", "p"], d=["x", "y"])
        lap = laplacian(output_, input_, components=["u", "v"], d=["x", "y"])
        ux, uy, vx, vy, px, py = (d.extract([k]) for k in
                                  ("dudx", "dudy", "dvdx", "dvdy", "dpdx", "dpdy"))
        return torch.cat([u * ux + v * uy + px - lap.extract(["ddu"]) / RE,
                          u * vx + v * vy + py - lap.extract(["ddv"]) / RE,
                          ux + vy], dim=1)

    def wall(input_, output_):
        e = exact(input_.extract(["x"]), input_.extract(["y"]))
        return torch.cat([output_.extract(["u"]) - e["u"],
                          output_.extract(["v"]) - e["v"]], dim=1)

    def outflow(input_, output_):
        return output_.extract(["p"]) - exact(input_.extract(["x"]), input_.extract(["y"]))["p"]

    class Kovasznay(SpatialProblem):  # PINA reads these class attributes
        output_variables = ["u", "v", "p"]  # noqa: RUF012
        spatial_domain = CartesianDomain({"x": [-0.5, 1.0], "y": [-0.5, 1.5]})
        domains = {"interior": spatial_domain, "boundary": spatial_domain.partial(),  # noqa: RUF012
                   "outflow": CartesianDomain({"x": 1.0, "y": [-0.5, 1.5]})}
        conditions = {  # noqa: RUF012
            "interior": Condition(domain="interior", equation=Equation(navier_stokes)),
            "boundary": Condition(domain="boundary", equation=Equation(wall)),
            "outflow": Condition(domain="outflow", equation=Equation(outflow))}

    lightning.seed_everything(seed, verbose=False)
    problem = Kovasznay()
    for domain in ("interior", "boundary", "outflow"):
        problem.discretise_domain(n=counts[domain], mode="random", domains=[domain])
    model = FeedForward(input_dimensions=2, output_dimensions=3, inner_size=50, n_layers=3,
                        func=torch.nn.Tanh)
    solver = PhysicsInformedSingleModelSolver(
        problem=problem, model=model, optimizer=TorchOptimizer(torch.optim.Adam, lr=1e-3))

    def advance(steps: int) -> list[float]:
        stamps: list[float] = []
        timer = lightning.pytorch.Callback()
        timer.on_train_batch_end = lambda *_: stamps.append(time.perf_counter()) and None
        trainer = Trainer(solver=solver, max_epochs=steps, accelerator="cpu", batch_size=None,
                          enable_progress_bar=False, enable_model_summary=False, logger=False,
                          enable_checkpointing=False, callbacks=[timer])
        trainer.train()
        return [(b - a) * 1e3 for a, b in itertools.pairwise(stamps)]

    return advance, {name: counts[name] for name in ("interior", "boundary", "outflow")}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: coarse grid, 1 round")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=60, help="steps per round and implementation")
    ap.add_argument("--dx", type=float, default=0.03)
    ap.add_argument("--out", help="write the results as JSON to this file")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    dx, rounds, steps = (0.25, 1, 6) if args.quick else (args.dx, args.rounds, args.steps)
    from symbolic_pinn import MLP

    torch.manual_seed(0)
    net = MLP(2, 3, [50, 50, 50])
    impls = {}
    impls["ours"], counts, problem = ours(dx, net, True)
    impls["ours-separate"], _, _ = ours(dx, net, False)
    try:
        impls["deepxde"], dde_counts = deepxde(counts, 0)
    except ModuleNotFoundError as error:
        dde_counts = {"status": f"not installed: {error}"}
    try:
        impls["pina"], pina_counts = pina(counts, 0)
    except ModuleNotFoundError as error:
        pina_counts = {"status": f"not installed: {error}"}
    for advance in impls.values():  # warm-up
        advance(max(3, steps // 4))
    times: dict[str, list[float]] = {name: [] for name in impls}
    for _ in range(rounds):
        for name, advance in impls.items():
            times[name].append(statistics.median(advance(steps)))

    def ratio(a: str, b: str) -> dict | None:
        if a not in times or b not in times:
            return None
        r = [x / y for x, y in zip(times[a], times[b])]
        return {"median": statistics.median(r), "min": min(r), "max": max(r)}

    out = {"quick": args.quick, "dx": dx, "rounds": rounds, "steps": steps,
           "points": counts, "deepxde": dde_counts, "pina": pina_counts,
           "groups": [list(g) for g in getattr(problem.module, "SHARED", ())],
           "ms_per_step": {name: statistics.median(v) for name, v in times.items()},
           "ours_over_deepxde": ratio("ours", "deepxde"),
           "ours_separate_over_deepxde": ratio("ours-separate", "deepxde"),
           "ours_over_ours_separate": ratio("ours", "ours-separate"),
           "ours_over_pina": ratio("ours", "pina"),
           "ours_separate_over_pina": ratio("ours-separate", "pina"),
           "deepxde_over_pina": ratio("deepxde", "pina"),
           "torch": torch.__version__}
    print(json.dumps(out, indent=1))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=1)
    return out


if __name__ == "__main__":
    main()
