"""A user-defined adaptive loss, plugged in without touching the library.

``InverseLossWeights`` sets every term's weight so that the weighted losses are equal
(``λ_k = mean_j L_j / L_k``, smoothed): a crude balancing rule, written here in a
dozen lines to show the hook. Subclass :class:`symbolic_pinn.adaptive.AdaptiveLoss`,
declare what you need (here only the losses) and return new weights from ``update``;
the generated code calls it between the per-term losses and their weighted sum.

Run ``python examples/custom_adaptive_loss.py``.
"""

from __future__ import annotations

import numpy as np

from symbolic_pinn import MLP, PhysicsInformedNN, discretize, gallery
from symbolic_pinn.adaptive import AdaptiveLoss, Need, ReweightContext
from symbolic_pinn.training import GridTraining


class InverseLossWeights(AdaptiveLoss):
    """``λ_k ← α λ_k + (1 - α) mean_j(L_j) / L_k`` every ``reweight_every`` steps.

    Args:
        reweight_every: Steps between updates.
        alpha: Smoothing of the moving average.
        max_weight: Upper bound of any weight.
    """

    needs = frozenset({Need.LOSSES})
    hook = "losses"

    def __init__(self, reweight_every: int = 50, alpha: float = 0.9,
                 max_weight: float = 1e4) -> None:
        super().__init__(reweight_every)
        self.alpha, self.max_weight = alpha, max_weight

    def update(self, ctx: ReweightContext) -> dict[str, float]:
        mean = sum(ctx.losses.values()) / len(ctx.losses)
        new = {}
        for term, loss in ctx.losses.items():
            target = min(mean / max(loss, 1e-12), self.max_weight)
            new[term] = self.alpha * ctx.weights[term] + (1 - self.alpha) * target
        self.weights = dict(new)
        return new


def main(iterations: int = 3000, seed: int = 0) -> dict:
    """Train the 1D Poisson sin(4πx) problem with the custom weights.

    Returns:
        ``{"error": relative L2 error, "weights": final weights, "result": Result}``.
    """
    system, exact, _ = gallery.get("poisson1d_sin4pi")
    pinn = PhysicsInformedNN(
        MLP(1, 1, [100]),
        GridTraining(0.01),
        adaptive_loss=InverseLossWeights(reweight_every=50),
        input_scaling="standardize",
    )
    problem = discretize(system, pinn)
    result = problem.solve(iterations, lr=1e-3, seed=seed)
    xs = np.linspace(0, 1, 1001)
    error = result.relative_error({"x": xs}, exact(xs))
    print(f"relative L2 error: {error:.3e}")
    print("weights:", {k: round(v, 3) for k, v in result.weights.items()})
    return {"error": error, "weights": result.weights, "result": result}


if __name__ == "__main__":
    main()
