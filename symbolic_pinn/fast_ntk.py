"""Exact NTK diagonals by forward (Taylor-mode) propagation through MLPs, one backward.

For a term with residuals ``r_i = r(u, ∂u, ...; x_i)`` the diagonal of its kernel block
is ``K_ii = ‖∂r_i/∂θ‖²``. The generic path (:func:`~symbolic_pinn.adaptive.kernel.
ntk_diagonal`) differentiates the per-point residual with ``vmap(grad)``; for the
networks this library builds (:class:`~symbolic_pinn.networks.MLP`) this module does
the same computation for about 1.4 training steps (docs/performance.md):

* **Forward.** Each network evaluation carries the value and every input derivative the
  term needs as *channels*, through every layer (:mod:`symbolic_pinn.propagation`; the
  channels are those of the generated ``jet`` calls, :mod:`symbolic_pinn.channels`: top-order
  derivatives that the residual holds linearly with constant coefficients travel as one
  combined channel, found by :mod:`symbolic_pinn.top_order`). Inputs are standardised like the generated code,
  ``z = (x - mean)/std``, so the first-order seed of slot ``j`` is ``e_j / std_j``.
* **Backward.** The residual is evaluated from the channel tensors with the term's own
  printed expression, and one ordinary backward pass of ``Σ_i r_i`` gives
  ``δ_α = ∂r_i/∂z_α`` at every layer for every sample (a row of ``z`` only reaches its
  own residual). The per-sample gradient of layer ``W`` is ``Σ_α δ_α a_αᵀ``, so
  ``‖∂r_i/∂W‖² = Σ_{α,β} (a_α·a_β)(δ_α·δ_β)``, a product of two small per-sample Gram
  matrices; the bias gradient is ``Σ_{α=0 channels} δ_α``. Estimated PDE parameters
  enter as per-sample copies, so the same backward pass gives ``∂r_i/∂p``.

Several terms (:func:`fast_ntk_diagonals`) take one propagation per network and share
their backward passes where their points differ (:mod:`symbolic_pinn.ntk_units`).
:func:`fast_ntk_diagonal` returns ``None`` when a network is not a plain MLP of
supported activations (or has hooks), or uses a trainable parameter tensor twice (within
one network or shared with another: each layer's Gram matrices would count it apart), and
callers fall back to the generic path.
"""

from __future__ import annotations

import torch

from .grad_mode import differentiable
from .ntk_units import ntk_diagonals
from .propagation import propagate, supports
from .term_plan import coordinates, network_layers, parameters, pick, residual, seeds, term_plan

__all__ = ["fast_ntk_diagonal", "fast_ntk_diagonals", "fast_ntk_together", "fast_residual",
           "supports"]


def _evaluate(problem, term: str, points: torch.Tensor):
    """The residual ``(N,)`` by forward propagation; None if a network is unsupported."""
    plan = term_plan(problem, term)
    layers = network_layers(problem, [plan])
    if layers is None:
        return None
    coords = coordinates(plan, points)
    env = {**coords, **parameters(problem, plan.params, points.shape[0], False, {})}
    outputs: dict[int, list[list[torch.Tensor | None]]] = {}
    for net, net_layers in layers.items():
        idx = [i for i, g in enumerate(plan.groups) if g.net == net]
        groups = [plan.groups[i] for i in idx]
        inputs = [seeds(g, [coords[a] for a in g.args]) for g in groups]
        for i, ch in zip(idx, propagate(net_layers, groups, inputs, None)):
            outputs[i] = ch
    for name, g, c, column in plan.values:
        env[name] = pick(outputs[g][c], column, points)
    return residual(plan, env, points)


def fast_residual(problem, term: str, points) -> torch.Tensor | None:
    """The residual ``(N,)`` of ``term`` by forward propagation (graph attached).

    Equal to ``problem.residuals[term](points)`` up to rounding; ``None`` if a network
    of the term is not supported.

    Examples:
        ``u'' = -1``, whose residual is ``u_xx + 1``, against a second derivative taken
        with plain autograd:

        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)}, [x], [u(x)])
        >>> _ = torch.manual_seed(0)
        >>> net = MLP(1, 1, [8]).double()
        >>> prob = discretize(s, PhysicsInformedNN(net, GridTraining(0.1)))
        >>> pts = torch.linspace(0, 1, 7, dtype=torch.float64).reshape(-1, 1)
        >>> r = fast_residual(prob, "pde_0", pts)
        >>> r.shape, r.requires_grad  # the graph to the network's parameters is attached
        (torch.Size([7]), True)
        >>> p = pts.clone().requires_grad_()
        >>> u_x, = torch.autograd.grad(net(p).sum(), p, create_graph=True)
        >>> u_xx, = torch.autograd.grad(u_x.sum(), p)
        >>> bool(torch.allclose(r, u_xx[:, 0] + 1, rtol=1e-10))
        True
        >>> bool(torch.allclose(r, prob.residuals["pde_0"](pts), rtol=1e-10))
        True
    """
    points = problem.as_points(term, points)
    with differentiable():
        return _evaluate(problem, term, points)


def fast_ntk_diagonal(problem, term: str, points) -> torch.Tensor | None:
    """Exact ``K_ii = ‖∂r_i/∂θ‖²`` of ``term`` at ``points``, by forward propagation.

    ``θ`` is every trainable tensor (as in :func:`~symbolic_pinn.adaptive.kernel.
    ntk_diagonal`): the networks' parameters with ``requires_grad`` and the estimated
    PDE parameters.

    Args:
        problem: A problem from :func:`symbolic_pinn.discretize`.
        term: A term name.
        points: ``(N, n_indvars)`` tensor or array.

    Returns:
        A detached ``(N,)`` tensor, or ``None`` when a network of the term is not a
        plain :class:`~symbolic_pinn.networks.MLP` with a supported activation, or uses
        a trainable parameter tensor twice (then use the generic path).

    Examples:
        ``u'' = -a`` with ``a`` estimated (residual ``a + u_xx``), against
        ``‖∂r_i/∂θ‖²`` over the network's parameters and ``a`` by plain autograd, one
        point at a time:

        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> x, a = sp.symbols("x a"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -a)], [u(0), u(1)], {x: (0, 1)}, [x],
        ...               [u(x)], {a: 1.0})
        >>> _ = torch.manual_seed(0)
        >>> net = MLP(1, 1, [8]).double()
        >>> prob = discretize(s, PhysicsInformedNN(net, GridTraining(0.1), param_estim=True))
        >>> pts = torch.linspace(0, 1, 5, dtype=torch.float64).reshape(-1, 1)
        >>> diag = fast_ntk_diagonal(prob, "pde_0", pts)
        >>> diag.shape, diag.requires_grad
        (torch.Size([5]), False)
        >>> theta = [*net.parameters(), prob.params["a"]]
        >>> def sq_grad_norm(p):  # ‖∂r/∂θ‖² at one point (the output bias does not reach u_xx)
        ...     p = p.reshape(1, 1).requires_grad_()
        ...     u_x, = torch.autograd.grad(net(p).sum(), p, create_graph=True)
        ...     u_xx, = torch.autograd.grad(u_x.sum(), p, create_graph=True)
        ...     grads = torch.autograd.grad(theta[-1] + u_xx.sum(), theta, allow_unused=True)
        ...     return sum(g.square().sum() for g in grads if g is not None)
        >>> bool(torch.allclose(diag, torch.stack([sq_grad_norm(p) for p in pts]), rtol=1e-10))
        True
    """
    out = ntk_diagonals(problem, [([term], problem.as_points(term, points))])
    return None if out is None else out[term]


def fast_ntk_together(problem, terms, points) -> dict[str, torch.Tensor] | None:
    """:func:`fast_ntk_diagonal` of several terms at the same points, from one forward
    propagation per network (the evaluations the terms share are made once, as in the
    generated ``shared_residuals_<k>``) and one backward pass per term.

    Args:
        problem: A problem from :func:`symbolic_pinn.discretize`.
        terms: Term names.
        points: ``(N, n_indvars)`` tensor or array, the points of every one of them.

    Returns:
        ``{term: (N,)}`` detached, equal to :func:`fast_ntk_diagonal` up to rounding, or
        ``None`` when a network is not supported.

    Examples:
        The two equations of a system, against each term on its own:

        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> x = sp.Symbol("x"); u, v = sp.Function("u"), sp.Function("v")
        >>> U, V = u(x), v(x)
        >>> s = PDESystem([U.diff(x, 2) + V, V.diff(x) - U * V], [u(0), v(0)], {x: (0, 1)},
        ...               [x], [U, V])
        >>> _ = torch.manual_seed(0)
        >>> prob = discretize(s, PhysicsInformedNN(MLP(1, 2, [8]).double(), GridTraining(0.1)))
        >>> pts = torch.linspace(0, 1, 6, dtype=torch.float64).reshape(-1, 1)
        >>> both = fast_ntk_together(prob, ["pde_0", "pde_1"], pts)
        >>> all(torch.allclose(both[t], fast_ntk_diagonal(prob, t, pts), rtol=1e-12)
        ...     for t in ("pde_0", "pde_1"))
        True
    """
    terms = list(terms)
    return ntk_diagonals(problem, [(terms, problem.as_points(terms[0], points))])


def fast_ntk_diagonals(problem, points: dict) -> dict[str, torch.Tensor] | None:
    """:func:`fast_ntk_diagonal` of several terms, all from one forward propagation per
    network (:mod:`symbolic_pinn.ntk_units`).

    Terms given the same points object share their rows and their network evaluations;
    each of them takes a backward pass. Terms at different points share backward passes
    (the problem takes as many as the most terms given one points object), and those that
    evaluate a network once with the same channels are rows of one propagation.

    Args:
        problem: A problem from :func:`symbolic_pinn.discretize`.
        points: ``{term: (N, n_indvars) tensor or array}``.

    Returns:
        ``{term: (N,)}`` detached, equal to :func:`fast_ntk_diagonal` up to rounding, or
        ``None`` when a network of one of the terms is not supported.

    Examples:
        The boundary term ``u(0)`` has ``K_ii = ‖∂u(0)/∂θ‖²`` at every point, checked
        with plain autograd; a network that is not an :class:`~symbolic_pinn.MLP` gives
        ``None``:

        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)}, [x], [u(x)])
        >>> _ = torch.manual_seed(0)
        >>> net = MLP(1, 1, [8]).double()
        >>> prob = discretize(s, PhysicsInformedNN(net, GridTraining(0.1)))
        >>> pts = torch.linspace(0, 1, 4, dtype=torch.float64).reshape(-1, 1)
        >>> diags = fast_ntk_diagonals(prob, {"pde_0": pts, "bc_0": pts[:2]})
        >>> {term: tuple(d.shape) for term, d in diags.items()}
        {'pde_0': (4,), 'bc_0': (2,)}
        >>> bool(torch.allclose(diags["pde_0"], fast_ntk_diagonal(prob, "pde_0", pts),
        ...                     rtol=1e-12))
        True
        >>> grads = torch.autograd.grad(net(torch.zeros(1, 1, dtype=torch.float64)).sum(),
        ...                             list(net.parameters()))
        >>> k_00 = sum(g.square().sum() for g in grads)
        >>> bool(torch.allclose(diags["bc_0"], k_00.expand(2), rtol=1e-10))
        True
        >>> seq = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(),
        ...                           torch.nn.Linear(8, 1))
        >>> other = discretize(s, PhysicsInformedNN(seq, GridTraining(0.1)))
        >>> fast_ntk_diagonals(other, {"pde_0": pts}) is None
        True
    """
    blocks: dict[int, tuple[list[str], torch.Tensor]] = {}
    for term, pts in points.items():
        if id(pts) in blocks:
            blocks[id(pts)][0].append(term)
        else:
            blocks[id(pts)] = ([term], problem.as_points(term, pts))
    out = ntk_diagonals(problem, list(blocks.values()))
    return None if out is None else {term: out[term] for term in points}
