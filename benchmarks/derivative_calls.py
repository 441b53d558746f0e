"""What one ``autograd.grad`` call per differentiated value saves on the autograd path.

On the autograd path (``derivatives="autograd"``, any ``nn.Module``) the generated code
takes the derivatives that differentiate one value in one call, one backward pass:
``u_t, u_x = d(u, t, x)`` (since the nineteenth session; before it, ``u_t = d(u, t)`` and
``u_x = d(u, x)``, two passes through the network, and two graphs for the loss's backward
pass to go through). This script builds each problem twice in one process, with the
calls merged and with one call per derivative (the code generator's ``derivative_calls``
filter swapped for one that merges nothing), checks that both give the same loss, and
times them interleaved: rounds of ``--steps`` solve steps, A, B, A, B, ... The figure
is the median over rounds of the per-round ratio merged / separate, with its min-max,
and the kernel-like aten ops of a step of each. Problems and sizes are those of
``stacked_calls.py`` (``speed.py``'s MLP 2-64-64-1; Kovasznay flow's 2-50-50-50-3 on a
grid), every one on the autograd path.

Usage::

    python benchmarks/derivative_calls.py --out calls.json   # (~5 min)
    python benchmarks/derivative_calls.py --rounds 1 --steps 5 --sizes small  # a smoke run

Measured (torch 2.13.0+cpu, 1 thread, 2-core machine): docs/performance.md, "Where the
time goes (the autograd path)".
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics

import torch
from speed import ours_steps
from stacked_calls import SIZES, build, ops_per_step, step_ms

from symbolic_pinn import codegen


def one_call_per_derivative(nodes: list[dict]) -> list[dict]:
    """The generator's calls before the nineteenth session: one per derivative."""
    return [{"names": n["name"], "parent": n["parent"], "wrt": n["wrt"]} for n in nodes]


def build_variant(problem: str, size: str, merged: bool):
    env = codegen._environment()
    if not merged:
        env.filters["derivative_calls"] = one_call_per_derivative
    try:
        prob, loss = build(problem, size, stacked=True, derivatives="autograd")
    finally:
        env.filters["derivative_calls"] = codegen.derivative_calls
    merged_lines = [line for line in prob.source.splitlines() if ", " in line.split(" = d(")[0]
                    and " = d(" in line]
    assert bool(merged_lines) == merged, merged_lines
    return prob, loss  # (the loss before training)


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--steps", type=int, default=40, help="solve steps per round")
    ap.add_argument("--problems", nargs="+", default=["poisson", "wave", "burgers", "kovasznay"],
                    choices=["poisson", "wave", "burgers", "kovasznay"])
    ap.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    ap.add_argument("--out", help="write the results here as JSON")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    results = []
    for size, problem in itertools.product(args.sizes, args.problems):
        (separate, loss_s), (merged, loss_m) = (build_variant(problem, size, m)
                                                for m in (False, True))
        losses = [loss_s, loss_m]
        assert loss_m == loss_s, losses  # the same values, to the bit
        times: list[list[float]] = [[], []]
        for r in range(args.rounds):
            order = (0, 1) if r % 2 == 0 else (1, 0)
            for i in order:
                times[i].append(step_ms((separate, merged)[i], args.steps))
        ratios = [b / a for a, b in zip(*times)]
        ops = [ops_per_step(lambda k, p=p: ours_steps(p, k)) for p in (separate, merged)]
        row = {"problem": problem, "size": size, "separate_ms": statistics.median(times[0]),
               "merged_ms": statistics.median(times[1]), "ratio": statistics.median(ratios),
               "ratio_min": min(ratios), "ratio_max": max(ratios), "rounds": args.rounds,
               "steps": args.steps, "ops_separate": ops[0], "ops_merged": ops[1],
               "loss_separate": losses[0], "loss_merged": losses[1]}
        results.append(row)
        print(f"{problem:9s} {size:5s} separate {row['separate_ms']:6.2f} ms  merged "
              f"{row['merged_ms']:6.2f} ms  merged / separate {row['ratio']:.3f} "
              f"({min(ratios):.3f}-{max(ratios):.3f})  ops {ops[0]:.1f} -> {ops[1]:.1f}",
              flush=True)
    if args.out:
        write_results(args.out, results)
    return results


def write_results(path: str, results: list[dict]) -> None:
    """The rows as JSON, with the torch version (one thread)."""
    with open(path, "w") as f:
        json.dump({"torch": torch.__version__, "threads": 1, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
