"""The NTK paper's 1D Poisson problem: plain PINN against NTK adaptive weights.

``u_xx = -16π² sin(4πx)`` on [0, 1], ``u(0) = u(1) = 0``, exact ``u = sin(4πx)``
(Wang, Yu & Perdikaris, *When and why PINNs fail to train: an NTK perspective*,
J. Comput. Phys. 2022, §7.2). The paper trains one hidden layer of width 100 by full-batch
gradient descent (lr 1e-5, 40,000 steps) on 100 residual and 100 boundary points and
reports a relative L2 error of 2.40e-1 for the plain PINN and 1.63e-3 with the NTK weight
``λ_b ≈ 100`` (computed at initialization, then fixed).

Here, as in the authors' notebook, the input is standardized (without it ``λ_b`` comes out
≈ 1-2 and the method does nothing; see ``input_scaling``). Both runs share the seed, the
network (``MLP(1, 1, [100])``, tanh), the points (``GridTraining(0.01)``: 99 interior
points, one per boundary) and the optimizer: Adam, ``lr = 1e-3·0.7^(step/1000)`` by
default, or with ``optimizer="gd"`` the paper's full-batch gradient descent (constant lr
1e-5, on the notebook's 1/N loss; 40,000 steps, 10 seeds: plain 0.107-0.238, NTK
0.84-4.0e-3, ``docs/fidelity.md``). The NTK run updates its weights every 100 steps
(``reweight_every``; computing them once at step 0, as the paper's text, gives errors
within 10 % of these) with ``trace="mean"`` (per-point traces, because the two boundary
points are one each and the equation has 99; the paper's 50 repeated points per side
make its sums equal to per-point means times 50 on both sides).

The loss is the paper's (``paper_loss=True``, the default): one boundary term, the mean
over the boundary points of both ends, with one NTK weight ``λ_b`` taken over both. Here
the two ends are two conditions (``bc_0``, ``bc_1``), so both get the fixed weight ½
(the paper's 50 points per side make its boundary mean ``½(L_bc_0 + L_bc_1)``) and the
NTK weights are grouped (``groups={"b": ["bc_0", "bc_1"]}``); the run's loss weights are
``½ λ_b`` on each end. ``paper_loss=False`` keeps the library's convention instead: each
condition its own mean and its own NTK weight, which doubles the boundary's share of the
plain loss (and lets the plain PINN fail less often than the paper's).

``init="notebook"`` re-initialises the network as the authors' Poisson notebook does
(``W ~ N(0, 1/fan_in)``, ``b ~ N(0, 1)``), the initialisation behind ``λ_b ≈ 100``;
``init="xavier"`` keeps the library's Xavier-normal weights and zero biases.

Run ``python examples/poisson_sin4pi.py``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from symbolic_pinn import MLP, PhysicsInformedNN, discretize, gallery
from symbolic_pinn.adaptive import Compose, NeuralTangentKernelAdaptiveLoss, NonAdaptiveLoss
from symbolic_pinn.training import GridTraining


class NotebookMLP(MLP):
    """:class:`~symbolic_pinn.MLP` initialised as the NTK paper's Poisson notebook:
    weights ``N(0, 1/fan_in)``, biases ``N(0, 1)``."""

    def reset_parameters(self) -> None:
        for layer in self.modules():
            if isinstance(layer, torch.nn.Linear):
                torch.nn.init.normal_(layer.weight, 0.0, 1.0 / math.sqrt(layer.in_features))
                torch.nn.init.normal_(layer.bias, 0.0, 1.0)


def _train(adaptive, iterations, seed, width, init, optimizer, lr):
    system, exact, _ = gallery.get("poisson1d_sin4pi")
    net = (NotebookMLP if init == "notebook" else MLP)(1, 1, [width])
    pinn = PhysicsInformedNN(net, GridTraining(0.01), adaptive_loss=adaptive,
                             input_scaling="standardize")
    problem = discretize(system, pinn)
    if optimizer == "gd":  # the paper's full-batch gradient descent, constant lr
        result = problem.solve(iterations, lr=lr, seed=seed, optimizer="sgd")
    else:
        result = problem.solve(iterations, lr=lr, seed=seed,
                               lr_schedule=lambda step: 0.7 ** (step / 1000))
    xs = np.linspace(0, 1, 1001)
    return result.relative_error({"x": xs}, exact(xs)), result


def main(iterations: int = 10000, seed: int = 0, width: int = 100,
         init: str = "notebook", optimizer: str = "adam", lr: float | None = None,
         reweight_every: int = 100, paper_loss: bool = True) -> dict:
    """Train plain and NTK-weighted PINNs with the same seed and configuration.

    Args:
        iterations: Optimizer steps of each run (paper, with ``optimizer="gd"``: 40,000).
        seed: Seed of the initialisation (both runs).
        width: Width of the single hidden layer (paper: 100; notebook: 512).
        init: ``"notebook"`` (the authors' notebook, default: it gives the paper's
            ``λ_b ≈ 100``) or ``"xavier"`` (the library's MLP: ``λ_b`` near 1-3 at init).
        optimizer: ``"adam"`` (default: ``lr·0.7^(step/1000)``, lr 1e-3) or ``"gd"``
            (the paper's full-batch gradient descent at a constant lr, default 1e-5).
        lr: Learning rate (default: 1e-3 for Adam, 1e-5 for gradient descent).
        reweight_every: Steps between NTK weight updates (Algorithm 1; default 100). A
            value of at least ``iterations`` computes the weights once, at step 0, and
            keeps them, as the paper's §7.2 did (``λ_b ≈ 100`` fixed).
        paper_loss: The paper's loss (default): the boundary term is the mean over both
            ends (weight ½ on each condition) with one NTK weight ``λ_b`` for both.
            ``False``: each end is its own term with its own NTK weight.

    Returns:
        ``{"error_plain", "error_ntk"`` (relative L2 errors on 1001 points),
        ``"error"`` (= ``error_ntk``), ``"ntk_weights_init"`` (the NTK weights ``λ``
        computed at step 0, before any training; with ``paper_loss`` the loss weights
        are ``½ λ_b`` on each end), ``"ntk_weights"`` (the last ones),
        ``"result_plain", "result_ntk"`` (the :class:`~symbolic_pinn.Result` objects)``}``.
    """
    if init not in ("xavier", "notebook"):
        raise ValueError(f"init must be 'xavier' or 'notebook', got {init!r}")
    if optimizer not in ("adam", "gd"):
        raise ValueError(f"optimizer must be 'adam' or 'gd', got {optimizer!r}")
    lr = lr if lr is not None else (1e-5 if optimizer == "gd" else 1e-3)
    config = (seed, width, init, optimizer, lr)
    # the paper's boundary mean over both ends: ½ (L_bc_0 + L_bc_1)
    half = NonAdaptiveLoss(bc_loss_weights=0.5) if paper_loss else None
    error_plain, result_plain = _train(half, iterations, *config)
    ntk = NeuralTangentKernelAdaptiveLoss(reweight_every=reweight_every, trace="mean",
                                          groups={"b": ["bc_0", "bc_1"]} if paper_loss
                                          else None)
    error_ntk, result_ntk = _train(Compose(half, ntk) if paper_loss else ntk, iterations,
                                   *config)
    first = result_ntk.history[0] if result_ntk.history else {}
    weights_init = dict(first.get("components", {}).get(type(ntk).__name__,
                                                        first.get("weights", {})))
    print(f"relative L2 error, plain PINN:  {error_plain:.3e}")
    print(f"relative L2 error, NTK weights: {error_ntk:.3e}")
    print("NTK weights at initialization:", {k: round(v, 2) for k, v in weights_init.items()})
    print("NTK weights at the end:       ", {k: round(v, 2) for k, v in ntk.weights.items()})
    return {"error_plain": error_plain, "error_ntk": error_ntk, "error": error_ntk,
            "ntk_weights_init": weights_init, "ntk_weights": dict(ntk.weights),
            "result_plain": result_plain, "result_ntk": result_ntk}


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
