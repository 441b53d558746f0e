"""The NTK adaptive loss: exact traces against explicit Jacobians, and the update rule.

``Tr K_kk = Σ_i ‖∂r_k(x_i)/∂θ‖² = trace(J_k J_kᵀ)`` with ``J_k`` the full Jacobian of
term k's residual vector with respect to every trainable parameter (network weights
and estimated PDE parameters). Checked against ``torch.autograd.functional.jacobian``
of the *batched* generated residual, an independent path from the library's
``vmap(grad(point_residual))``.
"""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
import sympy as sp
import torch
from torch.func import functional_call

from symbolic_pinn import (
    MLP,
    PDESystem,
    PhysicsInformedNN,
    StrategyError,
    TrainingError,
    discretize,
)
from symbolic_pinn.adaptive import (
    NeuralTangentKernelAdaptiveLoss,
    ntk_diagonal,
    traces_at,
)
from symbolic_pinn.training import (
    GridTraining,
    QuasiRandomTraining,
    StochasticTraining,
)

torch.set_num_threads(1)

x, y = sp.symbols("x y")
a = sp.Symbol("a")
u = sp.Function("u")


def poisson_system(with_param: bool = False) -> PDESystem:
    """2D Poisson, zero Dirichlet data; with ``a``: ``u_xx + a u_yy = f`` (a = 1.3)."""
    coeff = a if with_param else 1
    eq = sp.Eq(u(x, y).diff(x, 2) + coeff * u(x, y).diff(y, 2),
               -sp.sin(sp.pi * x) * sp.sin(sp.pi * y))
    bcs = [sp.Eq(u(0, y), 0), sp.Eq(u(1, y), 0), sp.Eq(u(x, 0), 0), sp.Eq(u(x, 1), 0)]
    params = {a: 1.3} if with_param else None
    return PDESystem([eq], bcs, {x: (0, 1), y: (0, 1)}, [x, y], [u(x, y)], params)


def make_problem(strategy=None, adaptive_loss=None, *, with_param=False, param_estim=False,
                 hidden=(8, 8), seed=0):
    torch.manual_seed(seed)
    net = MLP(2, 1, list(hidden)).double()
    # autograd: the explicit-Jacobian tests call RESIDUALS with functional networks
    pinn = PhysicsInformedNN(net, strategy or GridTraining(0.25), adaptive_loss=adaptive_loss,
                             param_estim=param_estim, derivatives="autograd")
    problem = discretize(poisson_system(with_param), pinn)
    for ident, p in list(problem.params.items()):  # PDE parameters in float64 too
        moved = p.detach().double()
        problem.params[ident] = torch.nn.Parameter(moved) if p.requires_grad else moved
    return problem


def random_points(term: str, n: int, seed: int) -> torch.Tensor:
    """Points in the square; for a condition the generated code fixes its face's column."""
    del term
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 2, generator=gen, dtype=torch.float64)


def explicit_jacobian(problem, term: str, points: torch.Tensor) -> torch.Tensor:
    """Full Jacobian ``(N, P)`` of the batched residual vector w.r.t. every trainable tensor."""
    net = problem.nets[0]
    net_names = [n for n, p in net.named_parameters() if p.requires_grad]
    net_values = [p.detach() for n, p in net.named_parameters() if p.requires_grad]
    p_names = [k for k, v in problem.params.items() if v.requires_grad]
    p_values = [problem.params[k].detach() for k in p_names]
    fixed = {k: v.detach() for k, v in problem.params.items() if not v.requires_grad}
    fn = problem.module.RESIDUALS[term]

    def residual_vector(*theta):
        state = dict(zip(net_names, theta[: len(net_names)]))
        params = {**fixed, **dict(zip(p_names, theta[len(net_names):]))}
        nets = (lambda inputs: functional_call(net, state, (inputs,)),)
        return fn(nets, points, params)[:, 0]

    # The functional residual is the problem's own residual at the current parameters.
    torch.testing.assert_close(residual_vector(*net_values, *p_values),
                               problem.residuals[term](points).detach(), rtol=0, atol=1e-14)
    jac = torch.autograd.functional.jacobian(residual_vector, tuple(net_values + p_values))
    return torch.cat([j.reshape(points.shape[0], -1) for j in jac], dim=1)


@pytest.fixture(scope="module")
def poisson():
    return make_problem()


TERMS = ("pde_0", "bc_0", "bc_1", "bc_2", "bc_3")


@pytest.mark.parametrize("term", TERMS)
def test_trace_equals_trace_of_explicit_j_jt(poisson, term):
    pts = random_points(term, 13, seed=1)
    J = explicit_jacobian(poisson, term, pts)
    n_params = sum(p.numel() for p in poisson.nets[0].parameters())
    assert J.shape == (13, n_params)
    expected = torch.trace(J @ J.T).item()
    got = traces_at(poisson, {term: pts})[term]
    assert isinstance(got, float)
    assert got == pytest.approx(expected, rel=1e-10)
    # The diagonal itself: row norms of J.
    diag = ntk_diagonal(poisson.module.POINT_RESIDUALS[term], poisson.nets, poisson.params, pts,
                        chunk_size=5)
    assert diag.shape == (13,) and not diag.requires_grad
    torch.testing.assert_close(diag, J.square().sum(dim=1), rtol=1e-10, atol=0)
    # "mean" is the per-point trace.
    mean = traces_at(poisson, {term: pts}, trace="mean")[term]
    assert mean == pytest.approx(expected / 13, rel=1e-10)


def test_chunking_does_not_change_the_diagonal(poisson):
    pts = random_points("pde_0", 11, seed=2)
    fn = poisson.module.POINT_RESIDUALS["pde_0"]
    ref = ntk_diagonal(fn, poisson.nets, poisson.params, pts, chunk_size=None)
    for chunk in (1, 4, 64, "auto"):
        torch.testing.assert_close(ntk_diagonal(fn, poisson.nets, poisson.params, pts,
                                                chunk_size=chunk), ref, rtol=1e-12, atol=0)


def test_auto_chunks_are_the_rule_and_change_no_value(poisson, monkeypatch):
    """``chunk_size="auto"`` (the default) hands vmap ``auto_chunk_size`` of the number
    of trainable entries, here 256 for a small network: 600 points in three chunks give
    the bit-identical diagonal of chunks of 64 and of one chunk."""
    from symbolic_pinn.adaptive import kernel

    n_theta = sum(p.numel() for p in poisson.nets[0].parameters() if p.requires_grad)
    assert kernel.auto_chunk_size(n_theta) == 256
    seen = []
    real = kernel.vmap

    def spy(fn, chunk_size=None):
        seen.append(chunk_size)
        return real(fn, chunk_size=chunk_size)

    monkeypatch.setattr(kernel, "vmap", spy)
    pts = random_points("pde_0", 600, seed=3)
    fn = poisson.module.POINT_RESIDUALS["pde_0"]
    auto = ntk_diagonal(fn, poisson.nets, poisson.params, pts)
    assert seen == [256]
    for chunk in (64, None):
        assert torch.equal(ntk_diagonal(fn, poisson.nets, poisson.params, pts,
                                        chunk_size=chunk), auto)
    assert NeuralTangentKernelAdaptiveLoss().chunk_size == "auto"


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "big", "AUTO"])
def test_bad_chunk_sizes_are_refused_naming_the_option(poisson, bad):
    fn = poisson.module.POINT_RESIDUALS["pde_0"]
    with pytest.raises(StrategyError, match="chunk_size"):
        ntk_diagonal(fn, poisson.nets, poisson.params, random_points("pde_0", 3, seed=2),
                     chunk_size=bad)
    with pytest.raises(StrategyError, match="chunk_size"):
        NeuralTangentKernelAdaptiveLoss(chunk_size=bad)
    with pytest.raises(StrategyError, match="chunk_size"):  # (before zero points return)
        ntk_diagonal(fn, poisson.nets, poisson.params, random_points("pde_0", 0, seed=2),
                     chunk_size=bad)
    # also where the forward propagation computes the diagonal and needs no chunks
    from symbolic_pinn.adaptive.kernel import term_ntk_diagonal, terms_ntk_diagonals

    pts = random_points("pde_0", 3, seed=2)
    for call in (lambda: term_ntk_diagonal(poisson, "pde_0", pts, chunk_size=bad),
                 lambda: terms_ntk_diagonals(poisson, {"pde_0": pts}, chunk_size=bad),
                 lambda: traces_at(poisson, {"pde_0": pts}, chunk_size=bad)):
        with pytest.raises(StrategyError, match="chunk_size"):
            call()


def test_zero_points_give_an_empty_diagonal_on_every_path(poisson):
    """(vmap refused zero points with an AssertionError from torch; found by an
    exploratory session)"""
    from symbolic_pinn.adaptive.kernel import term_ntk_diagonal

    pts = random_points("pde_0", 0, seed=2)
    fn = poisson.module.POINT_RESIDUALS["pde_0"]
    for chunk in (None, 64, "auto"):
        assert ntk_diagonal(fn, poisson.nets, poisson.params, pts, chunk_size=chunk).shape == (0,)
    for method in ("auto", "exact-vmap"):
        assert term_ntk_diagonal(poisson, "pde_0", pts, method=method).shape == (0,)


def test_traces_at_accepts_numpy_and_checks_shape(poisson):
    pts = random_points("bc_2", 7, seed=3)
    assert traces_at(poisson, {"bc_2": pts.numpy()})["bc_2"] == pytest.approx(
        traces_at(poisson, {"bc_2": pts})["bc_2"], rel=1e-12)
    with pytest.raises(ValueError, match="shape"):
        traces_at(poisson, {"bc_2": np.zeros((3, 3))})
    with pytest.raises(StrategyError, match="trace"):
        traces_at(poisson, {"bc_2": pts}, trace="median")


def test_trace_is_not_the_squared_gradient_of_the_mse_loss(poisson):
    """The wrong formula of NeuralPDE PRs #673/#834: ‖∇θ L_k‖² with L_k = mean(r²)."""
    for term in ("pde_0", "bc_3"):
        pts = random_points(term, 20, seed=4)
        trace = traces_at(poisson, {term: pts})[term]
        params = list(poisson.nets[0].parameters())
        r = poisson.residuals[term](pts)
        grads = torch.autograd.grad(torch.mean(r**2), params, materialize_grads=True)
        wrong = sum(g.square().sum() for g in grads).item()
        # ‖∇θ L‖² = (4/N²) eᵀ K e: an error-weighted quadratic form with cross terms.
        J = explicit_jacobian(poisson, term, pts)
        e = r.detach()
        assert wrong == pytest.approx((4 / 400) * (e @ (J @ J.T) @ e).item(), rel=1e-9)
        assert abs(wrong - trace) > 0.5 * trace  # not even close
        # The wrong formula scales with the residual; the trace does not depend on it.
        assert trace == pytest.approx(torch.trace(J @ J.T).item(), rel=1e-10)


def test_trace_includes_estimated_pde_parameters():
    problem = make_problem(with_param=True, param_estim=True)
    (ident,) = problem.params
    assert problem.params[ident].requires_grad
    pts = random_points("pde_0", 9, seed=5)
    J = explicit_jacobian(problem, "pde_0", pts)
    n_net = sum(p.numel() for p in problem.nets[0].parameters())
    assert J.shape == (9, n_net + 1)
    assert J[:, -1].abs().max() > 0  # ∂r/∂a = u_yy is not zero
    got = traces_at(problem, {"pde_0": pts})["pde_0"]
    assert got == pytest.approx(torch.trace(J @ J.T).item(), rel=1e-10)
    assert got > torch.trace(J[:, :-1] @ J[:, :-1].T).item() * (1 + 1e-8)
    # Boundary terms do not involve a: their Jacobian column is zero.
    pts_b = random_points("bc_0", 6, seed=6)
    J_b = explicit_jacobian(problem, "bc_0", pts_b)
    assert torch.all(J_b[:, -1] == 0)
    assert traces_at(problem, {"bc_0": pts_b})["bc_0"] == pytest.approx(
        torch.trace(J_b @ J_b.T).item(), rel=1e-10)


def test_known_parameter_is_not_in_theta():
    problem = make_problem(with_param=True, param_estim=False)
    assert not any(p.requires_grad for p in problem.params.values())
    pts = random_points("pde_0", 9, seed=5)
    J = explicit_jacobian(problem, "pde_0", pts)
    assert J.shape[1] == sum(p.numel() for p in problem.nets[0].parameters())
    assert traces_at(problem, {"pde_0": pts})["pde_0"] == pytest.approx(
        torch.trace(J @ J.T).item(), rel=1e-10)


def test_dropout_in_evaluation_mode_leaves_the_diagonal_alone(poisson):
    """A dropout layer in evaluation mode is the identity: the vmap diagonal is the
    network's without it. In training mode the per-point path refuses it by name."""
    mlp = copy.deepcopy(poisson.nets[0])
    layers = list(mlp)
    net = torch.nn.Sequential(*layers[:2], torch.nn.Dropout(0.5), *layers[2:]).eval()
    problem = discretize(poisson_system(), PhysicsInformedNN(
        net, GridTraining(0.25), derivatives="autograd",
        adaptive_loss=NeuralTangentKernelAdaptiveLoss(1)))
    pts = random_points("pde_0", 7, seed=4)
    with_dropout = traces_at(problem, {"pde_0": pts}, method="exact-vmap")["pde_0"]
    assert with_dropout == pytest.approx(traces_at(poisson, {"pde_0": pts})["pde_0"], rel=1e-10)
    net.train()
    with pytest.raises(TrainingError, match="network 0 \\(for u\\): layer '2' \\(Dropout"):
        traces_at(problem, {"pde_0": pts})


def test_frozen_network_parameters_are_not_in_theta(poisson):
    problem = make_problem()
    first = problem.nets[0][0]
    first.weight.requires_grad_(False)
    pts = random_points("pde_0", 8, seed=7)
    J = explicit_jacobian(problem, "pde_0", pts)
    assert J.shape[1] == sum(p.numel() for p in problem.nets[0].parameters() if p.requires_grad)
    assert traces_at(problem, {"pde_0": pts})["pde_0"] == pytest.approx(
        torch.trace(J @ J.T).item(), rel=1e-10)


# -- the update rule, inside solve -----------------------------------------------------


def _reweight_rows(result):
    return [row for row in result.history if "traces" in row]


def test_weighted_traces_are_equal_after_each_update():
    ntk = NeuralTangentKernelAdaptiveLoss(reweight_every=1)
    problem = make_problem(StochasticTraining(24, 12), ntk)
    result = problem.solve(6, lr=1e-2, seed=0, dtype=torch.float64, progress=False)
    rows = _reweight_rows(result)
    assert [r["step"] for r in rows] == list(range(6))
    for row in rows:
        traces, weights = row["traces"], row["weights"]
        assert set(traces) == set(TERMS) == set(weights)
        total = sum(traces.values())
        for term in TERMS:
            assert all(type(v) is float for v in (traces[term], weights[term]))
            assert weights[term] * traces[term] == pytest.approx(total, rel=1e-9)
            assert weights[term] == pytest.approx(total / traces[term], rel=1e-9)
        assert min(weights.values()) >= 1.0  # Σ_j Tr_j / Tr_k ≥ 1
    # The strategy's state is the last update.
    assert ntk.traces == rows[-1]["traces"]
    assert ntk.weights == rows[-1]["weights"]
    assert result.weights == rows[-1]["weights"]
    assert ntk.updates == 6
    assert all(type(v) is float for v in ntk.weights.values())


def test_a_non_finite_trace_skips_the_update_and_names_the_term():
    """A trace gone NaN while the losses are finite (e.g. on other kernel points): the
    update keeps the weights and warns; training goes on (it was a StrategyError)."""

    class NaNTraceAt2(NeuralTangentKernelAdaptiveLoss):
        def update(self, ctx):
            if ctx.step == 2:
                ctx.ntk_diagonals = {**ctx.ntk_diagonals,
                                     "bc_0": ctx.ntk_diagonals["bc_0"] * float("nan")}
            return super().update(ctx)

    ntk = NaNTraceAt2(reweight_every=1, smoothing=0.5)
    problem = make_problem(GridTraining(0.25), ntk)
    with pytest.warns(RuntimeWarning, match="NaNTraceAt2: the NTK trace of term bc_0 is nan "
                      "at step 2; no weight changes"):
        result = problem.solve(4, lr=1e-3, seed=0, dtype=torch.float64, progress=False)
    weights = [row["weights"] for row in result.history]
    assert weights[2] == weights[1] != weights[3]
    assert ntk.updates == 3 and all(np.isfinite(list(ntk.traces.values())))
    grouped = NaNTraceAt2(reweight_every=1, groups={"b": ["bc_0", "bc_1"]})
    with pytest.warns(RuntimeWarning, match="NTK trace of group b is nan at step 2"):
        make_problem(GridTraining(0.25), grouped).solve(3, lr=1e-3, seed=0,
                                                        dtype=torch.float64, progress=False)


def test_weights_are_floats_and_the_loss_uses_them():
    ntk = NeuralTangentKernelAdaptiveLoss(reweight_every=2)
    problem = make_problem(GridTraining(0.25), ntk)
    result = problem.solve(5, lr=1e-3, seed=0, dtype=torch.float64, progress=False)
    for row in result.history:
        assert all(type(w) is float for w in row["weights"].values())
        total = sum(row["weights"][t] * row["losses"][t] for t in TERMS)
        assert row["loss"] == pytest.approx(total, rel=1e-12)
    assert [r["step"] for r in _reweight_rows(result)] == [0, 2, 4]
    # Between updates the weights stay.
    by_step = {r["step"]: r["weights"] for r in result.history}
    assert by_step[1] == by_step[0] and by_step[3] == by_step[2]
    assert by_step[2] != by_step[1]


def test_batch_kernel_points_are_the_step_points():
    """With kernel_points="batch" the traces are those of the step's own points."""
    ntk = NeuralTangentKernelAdaptiveLoss(reweight_every=1)
    problem = make_problem(GridTraining(0.25), ntk)
    start = copy.deepcopy(problem.nets[0].state_dict())
    result = problem.solve(1, lr=1e-3, dtype=torch.float64, progress=False)  # seed=None: keep θ
    problem.nets[0].load_state_dict(start)
    grid = GridTraining(0.25).sample(problem.ir, np.random.default_rng(0)).points
    expected = traces_at(problem, grid)
    for term in TERMS:
        assert result.history[0]["traces"][term] == pytest.approx(expected[term], rel=1e-10)


def test_smoothing_is_a_moving_average_after_the_first_update():
    alpha = 0.9
    ntk = NeuralTangentKernelAdaptiveLoss(reweight_every=1, smoothing=alpha)
    problem = make_problem(StochasticTraining(16, 8), ntk)
    result = problem.solve(5, lr=1e-2, seed=1, dtype=torch.float64, progress=False)
    rows = _reweight_rows(result)
    eps = ntk.eps
    first = rows[0]
    total = sum(first["traces"].values())
    for term in TERMS:  # first update: no averaging (starting weights are 1)
        proposal = (total + eps) / (first["traces"][term] + eps)
        assert first["weights"][term] == pytest.approx(proposal, rel=1e-12)
    for prev, row in itertools.pairwise(rows):
        total = sum(row["traces"].values())
        for term in TERMS:
            proposal = (total + eps) / (row["traces"][term] + eps)
            expected = alpha * prev["weights"][term] + (1 - alpha) * proposal
            assert row["weights"][term] == pytest.approx(expected, rel=1e-12)
    # Unsmoothed weights equalise weighted traces; smoothed ones (after step 0) do not exactly.
    last = rows[-1]
    products = [last["weights"][t] * last["traces"][t] for t in TERMS]
    assert max(products) / min(products) > 1 + 1e-6


def test_a_second_solve_starts_the_moving_average_afresh():
    """Same seed, same run: the first update of every solve is unsmoothed (regression)."""
    ntk = NeuralTangentKernelAdaptiveLoss(reweight_every=1, smoothing=0.9)
    problem = make_problem(StochasticTraining(16, 8), ntk)
    first = problem.solve(3, lr=1e-2, seed=1, dtype=torch.float64, progress=False).history
    second = problem.solve(3, lr=1e-2, seed=1, dtype=torch.float64, progress=False).history
    assert second == first
    assert ntk.updates == 3


def test_trace_mean_divides_by_the_number_of_points():
    recorded = {}

    class Spy(NeuralTangentKernelAdaptiveLoss):
        def update(self, ctx):
            recorded.update({t: (ctx.ntk_points[t].clone(), ctx.ntk_diagonals[t].clone())
                             for t in ctx.term_names})
            return super().update(ctx)

    problem = make_problem(StochasticTraining(20, 5), Spy(reweight_every=1, trace="mean"))
    result = problem.solve(1, lr=1e-3, seed=0, dtype=torch.float64, progress=False)
    row = result.history[0]
    for term in TERMS:
        pts, diag = recorded[term]
        assert pts.shape[0] == (20 if term == "pde_0" else 5)
        assert row["traces"][term] == pytest.approx(float(diag.mean()), rel=1e-12)
    total = sum(row["traces"].values())
    for term in TERMS:
        assert row["weights"][term] == pytest.approx(total / row["traces"][term], rel=1e-9)


@pytest.mark.parametrize("groups", [None, {"b": ["bc_0", "bc_1"]}])
def test_numerator_mean_divides_by_the_number_of_weights(groups):
    """jaxpi: λ_k = mean_j t_j / t_k, m times Algorithm 1's Σ_j t_j / t_k (a group is one)."""
    rows = {}
    for numerator in ("sum", "mean"):
        ntk = NeuralTangentKernelAdaptiveLoss(reweight_every=1, trace="mean",
                                              numerator=numerator, groups=groups)
        problem = make_problem(StochasticTraining(20, 5), ntk)
        rows[numerator] = problem.solve(1, lr=1e-3, seed=0, dtype=torch.float64,
                                        progress=False).history[0]
    m = len(rows["mean"]["traces"])
    assert m == (len(TERMS) if groups is None else len(TERMS) - 1)
    assert rows["mean"]["traces"] == rows["sum"]["traces"]
    total = sum(rows["mean"]["traces"].values())
    for term in TERMS:
        unit = "b" if groups and term in groups["b"] else term
        assert rows["mean"]["weights"][term] == pytest.approx(
            total / m / rows["mean"]["traces"][unit], rel=1e-9)
        assert rows["mean"]["weights"][term] == pytest.approx(
            rows["sum"]["weights"][term] / m, rel=1e-9)


class _KernelSpy(NeuralTangentKernelAdaptiveLoss):
    """Records the kernel points and checks the diagonals against traces_at."""

    problem = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = []

    def update(self, ctx):
        pts = {t: ctx.ntk_points[t].clone() for t in ctx.term_names}
        batch = {t: ctx.points[t].clone() for t in ctx.term_names}
        sums = {t: float(ctx.ntk_diagonals[t].sum()) for t in ctx.term_names}
        expected = traces_at(self.problem, pts)
        for t in ctx.term_names:
            assert sums[t] == pytest.approx(expected[t], rel=1e-10)
        self.seen.append((pts, batch))
        return super().update(ctx)


def _check_faces(pts):
    assert torch.all(pts["bc_0"][:, 0] == 0) and torch.all(pts["bc_1"][:, 0] == 1)
    assert torch.all(pts["bc_2"][:, 1] == 0) and torch.all(pts["bc_3"][:, 1] == 1)
    for p in pts.values():
        assert torch.all((p >= 0) & (p <= 1))


@pytest.mark.parametrize("kind", ["stochastic", "quasirandom"])
def test_kernel_points_random_use_kernel_size(kind):
    spy = _KernelSpy(reweight_every=2, kernel_points=kind, kernel_size=17)
    problem = make_problem(StochasticTraining(10, 6), spy)
    spy.problem = problem
    problem.solve(4, lr=1e-3, seed=0, dtype=torch.float64, progress=False)
    assert len(spy.seen) == 2
    for pts, batch in spy.seen:
        for t in TERMS:
            assert pts[t].shape == (17, 2)
            assert batch[t].shape[0] == (10 if t == "pde_0" else 6)
        _check_faces(pts)
    # Fresh points on every update.
    assert not torch.equal(spy.seen[0][0]["pde_0"], spy.seen[1][0]["pde_0"])


def test_kernel_points_from_a_training_strategy_object():
    spy = _KernelSpy(reweight_every=1, kernel_points=GridTraining(0.25))
    problem = make_problem(QuasiRandomTraining(10, 6, resampling=False), spy)
    spy.problem = problem
    problem.solve(2, lr=1e-3, seed=0, dtype=torch.float64, progress=False)
    grid = GridTraining(0.25).sample(problem.ir, np.random.default_rng(0)).points
    for pts, batch in spy.seen:
        assert pts["pde_0"].shape == (9, 2)  # interior of the 5 x 5 grid
        for t in TERMS:
            np.testing.assert_array_equal(pts[t].numpy(), grid[t])
            if t != "pde_0":
                assert pts[t].shape == (5, 2)
        _check_faces(pts)


def test_kernel_points_batch_are_the_current_points():
    spy = _KernelSpy(reweight_every=1)
    problem = make_problem(StochasticTraining(10, 6), spy)
    spy.problem = problem
    problem.solve(2, lr=1e-3, seed=0, dtype=torch.float64, progress=False)
    for pts, batch in spy.seen:
        for t in TERMS:
            assert torch.equal(pts[t], batch[t])


@pytest.mark.parametrize("trace", ["sum", "mean"])
def test_a_group_shares_the_weight_of_the_trace_over_its_union(trace):
    """The walls x = 0, 1 as one group: its trace is Tr(J Jᵀ) of the stacked Jacobian of
    both walls' points (per point with "mean"); both walls get λ_g = Σ Tr / Tr_g."""
    recorded = {}

    class Spy(NeuralTangentKernelAdaptiveLoss):
        def update(self, ctx):
            recorded.update({t: ctx.ntk_points[t].clone() for t in ctx.term_names})
            recorded["state"] = copy.deepcopy(ctx.nets[0].state_dict())
            return super().update(ctx)

    ntk = Spy(reweight_every=1, trace=trace, groups={"x_walls": ["bc_0", "bc_1"]})
    problem = make_problem(StochasticTraining(20, 5), ntk)
    result = problem.solve(1, lr=1e-3, seed=0, dtype=torch.float64, progress=False)
    problem.nets[0].load_state_dict(recorded["state"])  # the network the kernel saw
    row = result.history[0]
    assert list(row["traces"]) == ["pde_0", "x_walls", "bc_2", "bc_3"]
    J = torch.cat([explicit_jacobian(problem, t, recorded[t]) for t in ("bc_0", "bc_1")])
    assert J.shape[0] == 10
    expected = torch.trace(J @ J.T).item() / (10 if trace == "mean" else 1)
    assert row["traces"]["x_walls"] == pytest.approx(expected, rel=1e-10)
    total = sum(row["traces"].values())
    for unit, members in {"pde_0": ["pde_0"], "x_walls": ["bc_0", "bc_1"],
                          "bc_2": ["bc_2"], "bc_3": ["bc_3"]}.items():
        for term in members:
            assert row["weights"][term] == pytest.approx(total / row["traces"][unit], rel=1e-9)
    # The loss weights each member's own loss by the shared weight.
    weighted = sum(row["weights"][t] * row["losses"][t] for t in TERMS)
    assert row["loss"] == pytest.approx(weighted, rel=1e-12)


def test_one_member_groups_are_the_ungrouped_weights():
    runs = []
    for groups in (None, {"only_pde": ["pde_0"]}):
        ntk = NeuralTangentKernelAdaptiveLoss(reweight_every=1, groups=groups)
        problem = make_problem(StochasticTraining(16, 8), ntk)
        runs.append(problem.solve(3, lr=1e-2, seed=2, dtype=torch.float64,
                                  progress=False).history)
    for plain, grouped in zip(*runs, strict=True):
        assert grouped["weights"] == plain["weights"]
        assert grouped["traces"]["only_pde"] == plain["traces"]["pde_0"]


def test_invalid_groups_are_rejected_with_the_term_named():
    with pytest.raises(StrategyError, match="'bc_0' is in NTK groups 'a' and 'b'"):
        NeuralTangentKernelAdaptiveLoss(groups={"a": ["bc_0"], "b": ["bc_1", "bc_0"]})
    with pytest.raises(StrategyError, match="twice in NTK group 'a'"):
        NeuralTangentKernelAdaptiveLoss(groups={"a": ["bc_0", "bc_0"]})
    with pytest.raises(StrategyError, match="non-empty list of term names"):
        NeuralTangentKernelAdaptiveLoss(groups={"a": "bc_0"})
    with pytest.raises(StrategyError, match="non-empty list"):
        NeuralTangentKernelAdaptiveLoss(groups={"a": []})
    with pytest.raises(StrategyError, match="mapping"):
        NeuralTangentKernelAdaptiveLoss(groups=["bc_0", "bc_1"])
    # Unknown terms and clashing names fail when the run starts, before any step.
    for groups, message in (({"walls": ["bc_0", "bc_9"]}, r"unknown term\(s\) \['bc_9'\]"),
                            ({"bc_2": ["bc_0", "bc_1"]}, "has the name of term 'bc_2'")):
        problem = make_problem(GridTraining(0.25),
                               NeuralTangentKernelAdaptiveLoss(groups=groups))
        before = copy.deepcopy(problem.nets[0].state_dict())
        with pytest.raises(StrategyError, match=message):
            problem.solve(2, progress=False)
        for key, value in problem.nets[0].state_dict().items():
            assert torch.equal(value, before[key])


def test_invalid_options_are_rejected():
    with pytest.raises(StrategyError):
        NeuralTangentKernelAdaptiveLoss(trace="max")
    with pytest.raises(StrategyError):
        NeuralTangentKernelAdaptiveLoss(smoothing=1.0)
    with pytest.raises(StrategyError):
        NeuralTangentKernelAdaptiveLoss(kernel_points="grid")
    with pytest.raises(StrategyError):
        NeuralTangentKernelAdaptiveLoss(reweight_every=0)
