"""Every global adaptive-loss strategy on NeuralPDE's adaptive-loss test, over seeds.

The problem and metric are those of ``ntk_poisson_seeds.py`` (2D Poisson, MLP(2, 1,
[40, 40]) tanh, StochasticTraining(256), Adam lr 0.03, 2000 iterations, relative L1 on
the 101 x 101 grid, NeuralPDE's pass mark < 0.4). Each strategy uses NeuralPDE's test
settings where NeuralPDE has the strategy, else ``reweight_every=100``.

Usage::

    python benchmarks/strategies_poisson.py                # seeds 0 1 2, all strategies
    python benchmarks/strategies_poisson.py --seeds 0 --only ntk plain
    python benchmarks/strategies_poisson.py --derivatives autograd   # nested autograd.grad

Prints one row per run and a markdown table (strategy x seed).
"""

from __future__ import annotations

import argparse
import time

import torch
from ntk_poisson_seeds import poisson_system, relative_l1

from symbolic_pinn import MLP, PhysicsInformedNN, TrainingError, discretize
from symbolic_pinn.adaptive import (
    GradientScaleAdaptiveLoss,
    GradNormAdaptiveLoss,
    MiniMaxAdaptiveLoss,
    NeuralTangentKernelAdaptiveLoss,
    NonAdaptiveLoss,
    ReLoBRaLoAdaptiveLoss,
    SoftAdaptAdaptiveLoss,
)
from symbolic_pinn.training import StochasticTraining

STRATEGIES = {
    "plain": ("NonAdaptiveLoss()", NonAdaptiveLoss),
    "ntk": ("NeuralTangentKernelAdaptiveLoss(100)",
            lambda: NeuralTangentKernelAdaptiveLoss(100)),
    "ntk_vmap": ("NeuralTangentKernelAdaptiveLoss(100, method='exact-vmap')",
                 lambda: NeuralTangentKernelAdaptiveLoss(100, method="exact-vmap")),
    "gradient_scale": ("GradientScaleAdaptiveLoss(100, pde_loss_weights=1e3)",
                       lambda: GradientScaleAdaptiveLoss(100, pde_loss_weights=1e3)),
    "grad_norm": ("GradNormAdaptiveLoss(100)", lambda: GradNormAdaptiveLoss(100)),
    "minimax": ("MiniMaxAdaptiveLoss(100)", lambda: MiniMaxAdaptiveLoss(100)),
    "softadapt": ("SoftAdaptAdaptiveLoss()", SoftAdaptAdaptiveLoss),
    "relobralo": ("ReLoBRaLoAdaptiveLoss()", ReLoBRaLoAdaptiveLoss),
}


def run(name: str, seed: int, iterations: int, lr: float,
        derivatives: str = "auto") -> tuple[float, float]:
    """Relative L1 error and seconds of one run (nan if training stopped)."""
    problem = discretize(poisson_system(),
                         PhysicsInformedNN(MLP(2, 1, [40, 40]), StochasticTraining(256),
                                           adaptive_loss=STRATEGIES[name][1](),
                                           derivatives=derivatives))
    start = time.perf_counter()
    try:
        error = relative_l1(problem.solve(iterations, lr=lr, seed=seed, progress=False))
    except TrainingError:
        error = float("nan")
    return error, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", nargs="+", choices=sorted(STRATEGIES), default=list(STRATEGIES))
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--lr", type=float, default=0.03)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--derivatives", choices=["auto", "autograd"], default="auto",
                        help="the networks' derivative path (default: auto, taylor here)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    table = {}
    for name in args.only:
        for seed in args.seeds:
            error, seconds = run(name, seed, args.iterations, args.lr, args.derivatives)
            table[name, seed] = error
            print(f"{name:<16} seed {seed}: rel L1 {error:.3f}  ({seconds:.1f} s)", flush=True)
    print()
    print("| strategy | " + " | ".join(f"seed {s}" for s in args.seeds) + " |")
    print("|---|" + "---|" * len(args.seeds))
    for name in args.only:
        cells = " | ".join(f"{table[name, s]:.3f}" for s in args.seeds)
        print(f"| `{STRATEGIES[name][0]}` | {cells} |")


if __name__ == "__main__":
    main()
