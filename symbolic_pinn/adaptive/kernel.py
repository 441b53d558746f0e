"""Exact diagonals of the neural tangent kernel, from the generated per-point residuals.

For a term with residuals ``r_i = r(x_i; θ)`` the kernel block is ``K = J Jᵀ`` with
``J_ij = ∂r_i/∂θ_j``, so ``K_ii = ‖∂r_i/∂θ‖²`` and ``Tr K = Σ_i ‖∂r_i/∂θ‖²``. This is
*not* ``‖∇θ L‖²`` (the squared gradient of the mean-squared loss), which has cross terms
between points and vanishes as the residuals do.

``θ`` is every trainable tensor: the networks' parameters and the estimated PDE
parameters. The diagonal is computed with ``torch.func.vmap(grad(...))`` over the
generated per-point residual, in chunks, and reduced to squared norms inside the
vmapped function, so memory grows with ``chunk_size × n_parameters``, not with
``N × n_parameters``. ``chunk_size="auto"`` (the default) takes :func:`auto_chunk_size`
points per chunk: larger chunks for small networks, whose time goes to each chunk's
fixed cost, and never fewer than 64.

For the networks the library builds (:class:`~symbolic_pinn.networks.MLP`) the same
diagonal is computed far faster by forward (Taylor-mode) propagation and one backward
pass (:mod:`symbolic_pinn.fast_ntk`); :func:`term_ntk_diagonal` picks the path.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Mapping, Sequence

import torch
from torch.func import functional_call, grad, vmap

from ..errors import StrategyError, TrainingError

__all__ = ["NTK_METHODS", "auto_chunk_size", "ntk_diagonal", "term_ntk_diagonal",
           "terms_ntk_diagonals"]

#: Ways to compute NTK diagonals: ``"auto"`` (forward propagation where every network
#: of the term is a supported MLP, else ``vmap``), ``"exact-vmap"`` (always the generic
#: ``torch.func`` path), ``"taylor"`` (always forward propagation; an error otherwise).
NTK_METHODS = ("auto", "exact-vmap", "taylor")


#: every dropout layer (Dropout, Dropout1d/2d/3d, AlphaDropout, FeatureAlphaDropout)
_DROPOUTS = torch.nn.modules.dropout._DropoutNd


def check_no_random_layers(nets: Sequence[torch.nn.Module], ir, indices, why: str) -> None:
    """Raise :class:`~symbolic_pinn.errors.TrainingError` for the first network among
    ``indices`` with a dropout layer that is active (training mode, ``p > 0``): the
    per-point residuals (``torch.func.vmap``) cannot draw random numbers. ``why`` names
    what needs them ("the NTK diagonal of term pde_0")."""
    for i in indices:
        for name, module in nets[i].named_modules():
            if isinstance(module, _DROPOUTS) and module.training and module.p > 0:
                raise TrainingError(
                    f"{ir.network_label(i)}: layer {name or '(the network)'!r} "
                    f"({type(module).__name__}, p={module.p}) draws random numbers in "
                    f"training mode, and {why} runs torch.func.vmap over the per-point "
                    "residuals, which refuses random operations; put the network in "
                    "evaluation mode (net.eval()) or leave the layer out")


def check_untied(problem, terms, method: str) -> None:
    """Raise :class:`~symbolic_pinn.errors.StrategyError` where the exact NTK diagonals
    of ``terms`` would be wrong: a trainable parameter shared by two networks, or a layer
    used twice in one (either method counts each use apart), or, for ``method="taylor"``
    only, a weight tied between two layers (the vmap path handles that one)."""
    from ..networks import reused_parameters

    used = sorted({s.net for t in problem.ir.terms if t.name in terms for s in t.sites})
    label = problem.ir.network_label
    for kind, i, name, *other in reused_parameters(problem.nets, used):
        if kind == "shared":
            raise StrategyError(
                f"{label(i)} shares its parameter {name!r} with {label(other[0])} (its "
                f"{other[1]!r}); the exact NTK diagonals count each network's parameters "
                "apart and would be wrong: use one network with several outputs, or "
                "train with an adaptive loss that needs no NTK")
        layers = [n.rpartition(".")[0] for n in (name, other[0])]
        if kind == "layer":
            raise StrategyError(
                f"{label(i)} uses one layer twice (as {layers[0]!r} and {layers[1]!r}); "
                "the exact NTK diagonals count each use apart and would be wrong: give "
                "each position its own layer, or train with an adaptive loss that "
                "needs no NTK")
        if method == "taylor":
            raise StrategyError(
                f"{label(i)} ties {name!r} to {other[0]!r}; method='taylor' counts each "
                "layer's gradient apart: use method='auto' or 'exact-vmap', which take "
                "a tied weight into account")


def auto_chunk_size(n_parameters: int) -> int:
    """Points per ``vmap`` chunk for ``chunk_size="auto"``: the largest power of two not
    above ``2**21 // n_parameters`` (about two million per-point gradient entries a
    chunk), kept between 64 and 256.

    Each chunk has a fixed cost, which decides for small networks; a large chunk's
    per-point gradients outgrow the caches of a large one. On the CPU
    (``benchmarks/ntk_chunks.py``, ``docs/performance.md``) chunks of 256 took about
    half the time of chunks of 64 for a 2-64-64-1 network, and about twice as long
    with widths 128 and 256. Never fewer than the 64 that were the default before.
    The values agree to rounding whatever the chunks (to the bit in the benchmark's
    cases).

    Args:
        n_parameters: The number of trainable entries ``θ`` (networks and estimated
            PDE parameters).

    Returns:
        The chunk size.

    Examples:
        >>> auto_chunk_size(4417), auto_chunk_size(17_217), auto_chunk_size(66_817)
        (256, 64, 64)
        >>> auto_chunk_size(100), auto_chunk_size(10**7)
        (256, 64)
    """
    most = 2**21 // max(1, int(n_parameters))
    return min(256, max(64, 1 << (most.bit_length() - 1) if most else 0))


def check_chunk_size(chunk_size) -> None:
    """Raise :class:`~symbolic_pinn.errors.StrategyError` unless ``chunk_size`` is a
    positive integer, ``None`` (one chunk) or ``"auto"``."""
    if chunk_size is None or (isinstance(chunk_size, str) and chunk_size == "auto"):
        return
    if not (isinstance(chunk_size, numbers.Integral) and not isinstance(chunk_size, bool)
            and chunk_size >= 1):
        raise StrategyError(f"chunk_size must be a positive integer, None or 'auto', "
                            f"got {chunk_size!r}")


def ntk_diagonal(
    point_residual: Callable,
    nets: Sequence[torch.nn.Module],
    params: Mapping[str, torch.Tensor],
    points: torch.Tensor,
    chunk_size: int | str | None = "auto",
) -> torch.Tensor:
    """Per-point squared gradient norms ``‖∂r(x_i)/∂θ‖²``: the diagonal of K.

    Args:
        point_residual: A generated ``point_residual_<term>(call, point, params)``.
        nets: The networks (their current parameters are used).
        params: PDE parameters; those with ``requires_grad`` count as ``θ``.
        points: ``(N, n_indvars)`` points.
        chunk_size: Points per vectorised chunk (``None``: all at once; ``"auto"``:
            :func:`auto_chunk_size` of the number of trainable entries).

    Returns:
        A detached ``(N,)`` tensor.

    Examples:
        The diagonal for ``u_xx + 1`` on a small network, checked against the squared
        norm of each point's gradient, taken with autograd one point at a time:

        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)}, [x], [u(x)])
        >>> problem = discretize(s, PhysicsInformedNN(MLP(1, 1, [8]), GridTraining(0.25)))
        >>> points = torch.linspace(0, 1, 5).reshape(-1, 1)
        >>> diag = ntk_diagonal(problem.module.POINT_RESIDUALS["pde_0"], problem.nets,
        ...                     problem.params, points)
        >>> diag.shape, diag.requires_grad
        (torch.Size([5]), False)
        >>> theta = list(problem.nets[0].parameters())
        >>> def squared_norm(point):  # the output bias does not enter u_xx: its gradient is 0
        ...     r = problem.residuals["pde_0"](point.reshape(1, 1)).sum()
        ...     grads = torch.autograd.grad(r, theta, materialize_grads=True)
        ...     return sum(g.square().sum() for g in grads)
        >>> explicit = torch.stack([squared_norm(point) for point in points])
        >>> bool(torch.allclose(diag, explicit, rtol=1e-5))
        True
    """
    check_chunk_size(chunk_size)
    theta: dict[str, torch.Tensor] = {}
    frozen: list[dict[str, torch.Tensor]] = []
    for i, net in enumerate(nets):
        fixed = {name: b.detach() for name, b in net.named_buffers()}
        for name, p in net.named_parameters():
            if p.requires_grad:
                theta[f"{i}.{name}"] = p.detach()
            else:
                fixed[name] = p.detach()
        frozen.append(fixed)
    for name, p in params.items():
        if p.requires_grad:
            theta[f"p.{name}"] = p.detach()
    if not theta or points.shape[0] == 0:  # (vmap refuses zero points)
        return torch.zeros(points.shape[0], dtype=points.dtype, device=points.device)
    known = {k: v.detach() for k, v in params.items() if not v.requires_grad}
    net_keys = [[(k, k[len(f"{i}.") :]) for k in theta if k.startswith(f"{i}.")]
                for i in range(len(nets))]
    param_keys = [(k, k[2:]) for k in theta if k.startswith("p.")]

    def residual(th: dict[str, torch.Tensor], point: torch.Tensor) -> torch.Tensor:
        def call(i: int, inputs: torch.Tensor) -> torch.Tensor:
            state = {**frozen[i], **{short: th[k] for k, short in net_keys[i]}}
            return functional_call(nets[i], state, (inputs.unsqueeze(0),)).squeeze(0)

        return point_residual(call, point, {**known, **{s: th[k] for k, s in param_keys}})

    def squared_norm(point: torch.Tensor) -> torch.Tensor:
        g = grad(residual)(theta, point)
        return sum(v.square().sum() for v in g.values())

    if chunk_size == "auto":
        chunk_size = auto_chunk_size(sum(v.numel() for v in theta.values()))
    with torch.no_grad():  # torch.func.grad still differentiates inside
        return vmap(squared_norm, chunk_size=chunk_size)(points).detach()


def term_ntk_diagonal(
    problem,
    term: str,
    points,
    method: str = "auto",
    chunk_size: int | str | None = "auto",
) -> torch.Tensor:
    """The diagonal of term ``term``'s kernel block at ``points``, by ``method``.

    Args:
        problem: A problem from :func:`symbolic_pinn.discretize`.
        term: A term name.
        points: ``(N, n_indvars)`` tensor or array.
        method: One of :data:`NTK_METHODS`.
        chunk_size: Points per vectorised chunk of the ``vmap`` path (see
            :func:`ntk_diagonal`).

    Returns:
        A detached ``(N,)`` tensor; every method gives the same values up to rounding.

    Examples:
        For an :class:`~symbolic_pinn.networks.MLP`, ``"auto"`` propagates forward; the
        generic ``vmap`` path gives the same diagonal:

        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)}, [x], [u(x)])
        >>> problem = discretize(s, PhysicsInformedNN(MLP(1, 1, [8]), GridTraining(0.25)))
        >>> points = [[0.0], [0.25], [0.5], [0.75], [1.0]]
        >>> auto = term_ntk_diagonal(problem, "pde_0", points)
        >>> exact = term_ntk_diagonal(problem, "pde_0", points, method="exact-vmap")
        >>> auto.shape, bool(torch.allclose(auto, exact, rtol=1e-5))
        (torch.Size([5]), True)

        A condition's points have a column for every independent variable too; ``bc_1``
        sets ``x`` to 1, so its diagonal is the same at every point:

        >>> bc = term_ntk_diagonal(problem, "bc_1", [[0.0], [0.5]])
        >>> bool(torch.allclose(bc, bc[0])), bool(bc[0] > 0)
        (True, True)
    """
    if method not in NTK_METHODS:
        raise StrategyError(f"method must be one of {NTK_METHODS}, got {method!r}")
    check_chunk_size(chunk_size)  # (also where the forward propagation needs none)
    points = problem.as_points(term, points)
    check_untied(problem, [term], method)
    if method != "exact-vmap":
        from ..fast_ntk import fast_ntk_diagonal  # imports the networks and the printer

        diag = fast_ntk_diagonal(problem, term, points)
        if diag is not None:
            return diag
        if method == "taylor":
            raise StrategyError(
                f"method='taylor' needs every network of term {term} to be a plain "
                "symbolic_pinn.MLP with a supported activation (no hooks); use "
                "method='auto' or 'exact-vmap'")
    nets = sorted({s.net for t in problem.ir.terms if t.name == term for s in t.sites})
    why = f"the NTK diagonal of term {term}"
    check_no_random_layers(problem.nets, problem.ir, nets, why)
    try:
        return ntk_diagonal(problem.module.POINT_RESIDUALS[term], problem.nets,
                            problem.params, points, chunk_size=chunk_size)
    except RuntimeError as exc:  # a random draw the layer check cannot see (torch.rand...)
        if "randomness" not in str(exc):
            raise
        labels = " or ".join(problem.ir.network_label(i) for i in nets)
        raise TrainingError(
            f"{labels} draws random numbers, and {why} runs torch.func.vmap over the "
            "per-point residuals, which refuses random operations; put the network in "
            f"evaluation mode (net.eval()) or leave the random layer out ({exc})") from exc


def terms_ntk_diagonals(problem, points: Mapping[str, torch.Tensor], method: str = "auto",
                        chunk_size: int | str | None = "auto") -> dict[str, torch.Tensor]:
    """:func:`term_ntk_diagonal` of every term in ``points``. Unless ``method`` is
    ``"exact-vmap"``, and when every network is an :class:`~symbolic_pinn.networks.MLP`
    that the forward propagation supports, all terms are evaluated together
    (:func:`symbolic_pinn.fast_ntk.fast_ntk_diagonals`): one propagation per network,
    and one backward pass per term among terms whose points are one tensor (the run makes
    them so for the groups of the generated module, README "What is generated"), shared
    by terms at different points. Otherwise each term is evaluated on its own.

    Args:
        problem: A problem from :func:`symbolic_pinn.discretize`.
        points: ``{term: (N, n_indvars) tensor}``.
        method: One of :data:`NTK_METHODS`.
        chunk_size: Points per vectorised chunk of the ``vmap`` path (see
            :func:`ntk_diagonal`).

    Returns:
        ``{term: (N,)}``, the values of :func:`term_ntk_diagonal` up to rounding.

    Examples:
        Two conditions at the same points:

        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> x, t = sp.symbols("x t"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x, t).diff(t), u(x, t).diff(x, 2))],
        ...               [sp.Eq(u(x, 0), sp.sin(x)), sp.Eq(u(x, t).diff(t).subs(t, 0), 0)],
        ...               {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t)])
        >>> problem = discretize(s, PhysicsInformedNN(MLP(2, 1, [8]), GridTraining(0.25)))
        >>> face = torch.tensor([[0.0, 0.0], [0.5, 0.0], [1.0, 0.0]])
        >>> diags = terms_ntk_diagonals(problem, {"bc_0": face, "bc_1": face})
        >>> all(torch.allclose(diags[k], term_ntk_diagonal(problem, k, face), rtol=1e-5)
        ...     for k in ("bc_0", "bc_1"))
        True
    """
    if method not in NTK_METHODS:
        raise StrategyError(f"method must be one of {NTK_METHODS}, got {method!r}")
    check_chunk_size(chunk_size)
    check_untied(problem, list(points), method)
    if method != "exact-vmap" and points:
        from ..fast_ntk import fast_ntk_diagonals

        together = fast_ntk_diagonals(problem, points)
        if together is not None:
            return together
    return {term: term_ntk_diagonal(problem, term, pts, method=method, chunk_size=chunk_size)
            for term, pts in points.items()}
