"""Terms that share their points share their ``jet`` calls (:mod:`symbolic_pinn.jet_calls`).

Under ``GridTraining`` the equations of a system get equal points, and so do the
conditions on one face. The run makes equal points one tensor, and the generated
``all_residuals`` then evaluates each such group with one ``jet`` call per network and input
(``shared_residuals_<k>``). Its residuals and their gradients must equal the per-term
functions' (1e-10 relative in float64, 1e-5 in float32), also where two terms' combined
channels got the same name, and a strategy whose points differ must get the per-term path.
On the autograd path such a group calls each network once per input and takes each
derivative once (:mod:`symbolic_pinn.autograd_calls`), with the same checks.
"""

from __future__ import annotations

import copy
import re

import numpy as np
import pytest
import sympy as sp
import torch
from torch import nn

from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
from symbolic_pinn.errors import StrategyError
from symbolic_pinn.run import Run
from symbolic_pinn.training import GridTraining, QuasiRandomTraining, StochasticTraining

x, y, a = sp.symbols("x y a")
u, v, w = sp.Function("u"), sp.Function("v"), sp.Function("w")


def mlp(n_out, seed):
    torch.manual_seed(seed)
    net = MLP(2, n_out, [12, 10])
    with torch.no_grad():  # nonzero biases
        for layer in net:
            if isinstance(layer, nn.Linear):
                layer.bias.uniform_(-0.5, 0.5)
    return net


def system() -> PDESystem:
    """u, v and w from three networks; a is estimated. pde_0 and pde_1 both fold two
    second derivatives of u into a channel named u_comb, with different signs."""
    U, V, W = u(x, y), v(x, y), w(x, y)
    eqs = [U.diff(x, 2) + U.diff(y, 2) - V * W + a,
           U.diff(x, 2) - U.diff(y, 2) + V.diff(x) * U,
           W.diff(x) + V.diff(y) - a * U]
    bcs = [sp.Eq(u(0, y), 0), sp.Eq(u(x, y).diff(x).subs(x, 0), sp.sin(y)),  # one face
           sp.Eq(w(x, 0) + v(x, 0), x)]
    return PDESystem(eqs, bcs, {x: (0, 1), y: (0, 2)}, [x, y], [U, V, W], {a: 0.7})


def problem(strategy=None, dtype=torch.float64, **kw):
    nets = [mlp(1, seed).to(dtype) for seed in (1, 2, 3)]
    pinn = PhysicsInformedNN(nets, strategy or GridTraining(0.25), param_estim=True,
                             input_scaling="standardize", **kw)
    return discretize(system(), pinn)


def run_of(prob, dtype=torch.float64):
    return Run(prob, "adam", lambda ps: torch.optim.Adam(ps, lr=1e-3),
               np.random.default_rng(0), torch.device("cpu"), dtype)


def thetas(prob):
    return [p for net in prob.nets for p in net.parameters()] + list(prob.params.values())


def assert_same(grouped, separate, prob, rtol):
    """Equal residuals per term, and equal gradients of the sum of the mean squares."""
    assert list(grouped) == list(prob.term_names)
    for term in prob.term_names:
        g, s = grouped[term], separate[term]
        assert g.shape == s.shape
        scale = float(s.detach().abs().max()) + 1.0
        torch.testing.assert_close(g.detach(), s.detach(), rtol=rtol, atol=rtol * scale,
                                   msg=lambda m, term=term: f"{term}: {m}")
    grads = [torch.autograd.grad(sum(r.square().mean() for r in rs.values()), thetas(prob))
             for rs in (grouped, separate)]
    for i, (g, s) in enumerate(zip(*grads)):
        torch.testing.assert_close(g, s, rtol=rtol, atol=rtol * (float(s.abs().max()) + 1.0),
                                   msg=lambda m, i=i: f"gradient {i}: {m}")


def check_grouped(prob, points, rtol=1e-10, evaluate=None):
    """all_residuals (or ``evaluate``, a traced copy) against each term's own function."""
    evaluate = evaluate or prob.module.all_residuals
    separate = {t: prob.module.RESIDUALS[t](prob.nets, points[t], prob.params)
                for t in prob.term_names}
    assert_same(evaluate(prob.nets, points, prob.params), separate, prob, rtol)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_grouped_residuals_equal_the_per_term_ones(dtype):
    prob = problem(dtype=dtype)
    module = prob.module
    assert module.SHARED == (("pde_0", "pde_1", "pde_2"), ("bc_0", "bc_1"))
    body = prob.source.split("def shared_residuals_0")[1].split("def shared_residuals_1")[0]
    assert [body.count(f"jet(nets[{i}]") for i in range(3)] == [1, 1, 1]
    assert "u_comb_2" in body  # pde_1's combination is not pde_0's: renamed, not merged
    run = run_of(prob, dtype)
    for group in module.SHARED:
        assert all(run.points[t] is run.points[group[0]] for t in group)
    check_grouped(prob, run.points, 1e-10 if dtype == torch.float64 else 1e-5)


class Shifted(GridTraining):
    """A grid, but pde_1's points moved a little: they are no longer pde_0's."""

    def sample(self, ir, rng):
        pointset = super().sample(ir, rng)
        pointset.points["pde_1"] = pointset.points["pde_1"] * 0.99 + 0.001
        return pointset


@pytest.mark.parametrize("derivatives", ["auto", "autograd"])
def test_unequal_points_take_the_per_term_path(derivatives):
    prob = problem(Shifted(0.25), derivatives=derivatives)
    run = run_of(prob)
    assert run.points["pde_1"] is not run.points["pde_0"]
    assert run.points["pde_2"] is not run.points["pde_0"]  # all of a group, or none
    assert run.points["bc_1"] is run.points["bc_0"]
    check_grouped(prob, run.points, 1e-10)


class SeparateGrid(GridTraining):
    shares_points = False


@pytest.mark.parametrize("derivatives", ["auto", "autograd"])
def test_training_is_the_same_with_and_without_groups(derivatives):
    """Ten Adam steps, from the same networks, with and without the shared functions."""
    runs = []
    for strategy in (GridTraining(0.25), SeparateGrid(0.25)):
        prob = problem(strategy, dtype=torch.float32, derivatives=derivatives)
        assert ("shared_residuals_0" in prob.source) == strategy.shares_points
        runs.append(prob.solve(iterations=10, seed=0, progress=False))
    for h1, h2 in zip(runs[0].history, runs[1].history, strict=True):
        for term, value in h2["losses"].items():
            assert h1["losses"][term] == pytest.approx(value, rel=1e-5, abs=1e-7), term


def test_strategies_that_draw_terms_apart_get_no_groups():
    assert "SHARED" not in problem(StochasticTraining(16)).source
    assert "SHARED" not in problem(StochasticTraining(16), derivatives="autograd").source
    assert StochasticTraining.shares_points is False


def kovasznay():
    """The system of benchmarks/shared_points.py (examples/kovasznay.py)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "shared_points.py"
    spec = importlib.util.spec_from_file_location("shared_points_bench", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench.kovasznay()


def derivatives_taken(source: str) -> int:
    """How many derivatives the ``names = d(parent, wrt...)`` lines of ``source`` take."""
    return sum(len(line.split(" = d(")[0].split(", "))
               for line in source.splitlines() if " = d(" in line)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_autograd_groups_share_network_calls_and_derivatives(dtype):
    """On the autograd path the same groups as on the taylor path; the equations' group
    calls each network once and takes each of its 7 distinct derivatives once (the terms
    on their own take 11: pde_0 and pde_1 both need u_x, u_xx, u_y and u_yy)."""
    prob = problem(dtype=dtype, derivatives="autograd")
    assert prob.module.SHARED == (("pde_0", "pde_1", "pde_2"), ("bc_0", "bc_1"))
    body = prob.source.split("def shared_residuals_0")[1].split("def shared_residuals_1")[0]
    assert [body.count(f"nets[{i}](") for i in range(3)] == [1, 1, 1]
    assert derivatives_taken(body) == 7 and "jet(" not in body
    per_term = [prob.source.split(f"def residual_{t}(")[1].split("def point_residual")[0]
                for t in ("pde_0", "pde_1", "pde_2")]
    assert sum(derivatives_taken(b) for b in per_term) == 11
    assert "    x = coordinate(points[:, 0:1])\n" in body
    run = run_of(prob, dtype)
    assert all(run.points[t] is run.points["pde_0"] for t in ("pde_1", "pde_2"))
    check_grouped(prob, run.points, 1e-10 if dtype == torch.float64 else 1e-5)


class Features(nn.Module):
    """Not an MLP (the autograd path's kind of network): sin features, then a layer."""

    def __init__(self, n_out: int) -> None:
        super().__init__()
        self.inner, self.outer = nn.Linear(2, 16), nn.Linear(16, n_out)

    def forward(self, z):
        return self.outer(torch.sin(self.inner(z)) + z[:, :1] * z[:, 1:])


def test_kovasznay_on_the_autograd_path_shares_and_stacks():
    """Kovasznay flow with a network that is not an MLP: the three equations are one
    network call and ten derivatives; the nine conditions (four groups of one face each)
    are one call on their stacked rows."""
    torch.manual_seed(0)
    prob = discretize(kovasznay(), PhysicsInformedNN(Features(3).double(), GridTraining(0.25)))
    assert prob.module.SHARED[0] == ("pde_0", "pde_1", "pde_2") and len(prob.module.SHARED) == 5
    body = prob.source.split("def shared_residuals_0")[1].split("def shared_residuals_1")[0]
    assert body.count("nets[0](") == 1 and derivatives_taken(body) == 10
    stacked = prob.source.split("def stacked_residuals_0")[1].split("RESIDUALS = ")[0]
    assert stacked.count("nets[0](") == 1
    run = run_of(prob)
    check_grouped(prob, run.points, 1e-10)


def test_kovasznay_equations_share_one_call():
    """The three Navier–Stokes equations of benchmarks/shared_points.py: one jet call
    carries the channels of the first momentum equation, and all three residuals."""
    torch.manual_seed(0)
    net = MLP(2, 3, [16, 16]).double()
    prob = discretize(kovasznay(), PhysicsInformedNN(copy.deepcopy(net), GridTraining(0.25)))
    assert prob.module.SHARED[0] == ("pde_0", "pde_1", "pde_2")
    body = prob.source.split("def shared_residuals_0")[1].split("def shared_residuals_1")[0]
    assert body.count("jet(") == 1
    run = run_of(prob)
    check_grouped(prob, run.points, 1e-10)


def test_traced_all_residuals_takes_either_path():
    """Under torch.compile (dynamo's tracing, with the eager backend: the branch is what is
    tested, tests/test_compile.py covers the compiler), all_residuals gives the per-term
    values both when the points are one tensor and, called again, when they are not."""
    prob = problem()
    traced = torch.compile(prob.module.all_residuals, backend="eager")
    run = run_of(prob)
    apart = {t: p.clone() for t, p in run.points.items()}
    apart["pde_1"] = apart["pde_1"] * 0.99 + 0.001  # wrong if the shared path were taken
    for points in (run.points, apart, run.points):
        check_grouped(prob, points, evaluate=traced)


def test_points_put_back_from_a_checkpoint_are_one_tensor_again():
    """A checkpoint holds one points tensor per term; restoring it shares them again."""
    from symbolic_pinn import checkpoint

    prob = problem(dtype=torch.float32)
    run = run_of(prob, torch.float32)
    state = checkpoint.capture(run, None, "adam")
    assert state["points"]["pde_1"] is not state["points"]["pde_0"]
    checkpoint.restore_training(run, None, state, resume=False)
    for group in prob.module.SHARED:
        assert all(run.points[t] is run.points[group[0]] for t in group)


class SignedZero(GridTraining):
    """pde_1's grid as pde_0's, but x = 0 written -0.0: equal values, not equal points
    for atan2 (found by an exploratory session)."""

    def sample(self, ir, rng):
        pointset = super().sample(ir, rng)
        p = pointset.points["pde_1"]
        p[p[:, 0] == 0.0, 0] = -0.0
        return pointset


def test_a_signed_zero_is_not_the_same_point():
    T = u(x, y)
    s = PDESystem([T.diff(y) - T.diff(x, 2), T.diff(x) + sp.atan2(sp.sin(x), x)],
                  [sp.Eq(u(x, 0), 0)], {x: (-1, 1), y: (0, 1)}, [x, y], [T])
    torch.manual_seed(0)
    prob = discretize(s, PhysicsInformedNN(MLP(2, 1, [8]).double(), SignedZero(0.25)))
    assert prob.module.SHARED == (("pde_0", "pde_1"),)
    run = run_of(prob)
    assert bool(torch.signbit(run.points["pde_1"]).any() & (run.points["pde_1"] == 0).any())
    assert run.points["pde_1"] is not run.points["pde_0"]
    run.points["pde_1"] = run.points["pde_1"].clone()
    run.share_points()  # the tensors are compared to the bit too
    assert run.points["pde_1"] is not run.points["pde_0"]


def test_a_group_with_nonlocal_terms_defines_only_the_coordinates_it_reads():
    """Equations that also evaluate u and v at fixed x (found by an exploratory session:
    the group defined another term's copies of the constant coordinates, unread)."""
    t = sp.Symbol("t")
    T, S = u(x, t), v(x, t)
    s = PDESystem([T.diff(t) - T.diff(x, 2) + v(0, t) * u(0.5, t),
                   S.diff(x) - u(0.5, t) + v(0, t).diff(t)],
                  [sp.Eq(u(x, 0), 0), sp.Eq(v(x, 0), 0)], {x: (0, 1), t: (0, 1)}, [x, t],
                  [T, S])
    torch.manual_seed(0)
    prob = discretize(s, PhysicsInformedNN([mlp(1, 1).double(), mlp(1, 2).double()],
                                           GridTraining(0.25)))
    assert prob.module.SHARED[0] == ("pde_0", "pde_1")
    for body in prob.source.split("def shared_residuals_")[1:]:
        body = body.split("\n\n\n")[0]
        defined = [line.split(" = ")[0].strip() for line in body.splitlines()
                   if " = points[" in line or " = torch.full_like(" in line]
        for name in defined:
            assert re.search(rf"\b{name}\b", body.split(f"{name} = ", 1)[1]), (name, body)
    run = run_of(prob)
    check_grouped(prob, run.points, 1e-10)


# -- the random strategies with share=True ------------------------------------------------


def test_random_strategies_draw_one_set_per_group_with_share():
    for strategy in (StochasticTraining(40, 12, share=True),
                     QuasiRandomTraining(40, 12, share=True),
                     QuasiRandomTraining(40, 12, sampler="lhs", resampling=False, share=True)):
        prob = problem(strategy)
        assert prob.module.SHARED == (("pde_0", "pde_1", "pde_2"), ("bc_0", "bc_1"))
        run = run_of(prob)
        for step in range(2):  # the first draw, then a fresh one (if it resamples)
            before = run.points["pde_0"]
            run.step = step
            run.resample()
            assert (run.points["pde_0"] is not before) == (step > 0 and strategy.resamples)
            assert run.points["pde_0"].shape == (40, 2) and run.points["bc_0"].shape == (12, 2)
            for group in prob.module.SHARED:
                assert all(run.points[t] is run.points[group[0]] for t in group)
            assert run.points["bc_2"] is not run.points["bc_0"]  # another face
        check_grouped(prob, run.points, 1e-10)


def test_share_false_keeps_each_terms_own_draw():
    """The default draws each term in turn from the run's generator, as before share
    existed: pde_0's points are the generator's first numbers."""
    prob = problem(StochasticTraining(40, 12))
    points = prob.strategy.sample(prob.ir, np.random.default_rng(0)).points
    expected = np.random.default_rng(0).random((40, 2)) * np.array([1.0, 2.0])
    np.testing.assert_array_equal(points["pde_0"], expected)
    assert not np.array_equal(points["pde_1"], points["pde_0"])
    assert "SHARED" not in prob.source


def test_training_with_share_is_the_same_with_and_without_groups():
    """StochasticTraining(share=True), generated with and without the groups: the same
    draws, the same losses (float32 rounding)."""
    runs = []
    for groups in (True, False):
        strategy = StochasticTraining(40, 12, share=True)
        strategy.shares_points = groups
        prob = problem(strategy, dtype=torch.float32)
        assert ("SHARED" in prob.source) == groups
        runs.append(prob.solve(iterations=6, seed=0, progress=False))
    for h1, h2 in zip(runs[0].history, runs[1].history, strict=True):
        for term, value in h2["losses"].items():
            assert h1["losses"][term] == pytest.approx(value, rel=1e-5, abs=1e-7), term


def test_share_must_be_a_bool():
    with pytest.raises(StrategyError, match="share must be True or False, got 1"):
        StochasticTraining(10, share=1)
    with pytest.raises(StrategyError, match="share must be True or False, got 'yes'"):
        QuasiRandomTraining(10, share="yes")


def renamed_constant_problem(derivatives="auto"):
    """u(0, t) in two equations and u(1, t) in the third, whose constant x the analysis
    names x_u_s2 in each."""
    t = sp.Symbol("t")
    T, S = u(x, t), v(x, t)
    s = PDESystem([T.diff(t) - T.diff(x, 2) + u(0, t), S.diff(t) - T.diff(x, 2) + u(1, t),
                   T.diff(x) + S + u(0, t)],
                  [sp.Eq(u(x, 0), 0), sp.Eq(v(x, 0), 0)], {x: (0, 1), t: (0, 1)}, [x, t],
                  [T, S])
    torch.manual_seed(0)
    return discretize(s, PhysicsInformedNN(MLP(2, 2, [8]).double(), GridTraining(0.25),
                                           derivatives=derivatives))


@pytest.mark.parametrize("derivatives", ["auto", "autograd"])
def test_a_constant_coordinate_of_one_name_and_two_values_is_renamed_in_the_group(
        derivatives):
    """u(0, t) in two equations and u(1, t) in the third: the analysis names the constant
    x of each x_u_s2. All three join the group (the third's is renamed; it was left out
    before, found by an exploratory session), and the values are the per-term ones."""
    prob = renamed_constant_problem(derivatives)
    assert prob.module.SHARED[0] == ("pde_0", "pde_1", "pde_2")
    body = prob.source.split("def shared_residuals_0")[1].split("\n\n\n")[0]
    assert "x_u_s2 = torch.full_like(points[:, 0:1], 0.0)" in body
    assert "x_u_s2_2 = torch.full_like(points[:, 0:1], 1.0)" in body
    needle = "nets[0](" if derivatives == "autograd" else "jet("
    assert body.count(needle) == 3  # at (x, t), at (0, t), at (1, t)
    run = run_of(prob)
    check_grouped(prob, run.points, 1e-10)


# -- the exact NTK diagonals of terms at one points tensor, evaluated together ---------


def check_ntk_together(prob, points, rtol, monkeypatch):
    """terms_ntk_diagonals against each term on its own (term_ntk_diagonal); returns the
    blocks it evaluated in its one call (terms at one points tensor: those of the
    generated module's groups, where the run made the points one tensor)."""
    from symbolic_pinn import fast_ntk
    from symbolic_pinn.adaptive.kernel import term_ntk_diagonal, terms_ntk_diagonals

    calls = []
    real = fast_ntk.ntk_diagonals
    with monkeypatch.context() as m:
        m.setattr(fast_ntk, "ntk_diagonals",
                  lambda problem, blocks: calls.append([tuple(t) for t, _ in blocks])
                  or real(problem, blocks))
        together = terms_ntk_diagonals(prob, {t: points[t] for t in prob.term_names})
    assert len(calls) == 1  # every term in one propagation
    assert sorted(t for block in calls[0] for t in block) == sorted(prob.term_names)
    for term in prob.term_names:
        alone = term_ntk_diagonal(prob, term, points[term])
        torch.testing.assert_close(together[term], alone, rtol=rtol,
                                   atol=rtol * float(alone.abs().max()),
                                   msg=lambda m, term=term: f"{term}: {m}")
    return calls[0]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_ntk_diagonals_of_a_group_equal_the_per_term_ones(dtype, monkeypatch):
    """Three networks, an estimated parameter (one per-sample leaf shared by the terms),
    standardised inputs, two combined channels of one name."""
    prob = problem(dtype=dtype)
    run = run_of(prob, dtype)
    blocks = check_ntk_together(prob, run.points, 1e-10 if dtype == torch.float64 else 1e-5,
                                monkeypatch)
    assert [b for b in blocks if len(b) > 1] == list(prob.module.SHARED)


def test_ntk_diagonals_of_kovasznay_and_of_a_renamed_constant(monkeypatch):
    """The Navier–Stokes equations and the conditions on each edge (one network, three
    outputs), and u(0, t) and u(1, t) in equations of one group: the evaluations are
    merged by what they compute (the network, its input columns and fixed values), not by
    the names."""
    torch.manual_seed(0)
    prob = discretize(kovasznay(), PhysicsInformedNN(MLP(2, 3, [16, 16]).double(),
                                                     GridTraining(0.25)))
    blocks = check_ntk_together(prob, run_of(prob).points, 1e-10, monkeypatch)
    assert len(blocks) == 5 and blocks[0] == ("pde_0", "pde_1", "pde_2")
    prob = renamed_constant_problem()
    blocks = check_ntk_together(prob, run_of(prob).points, 1e-10, monkeypatch)
    assert blocks[0] == ("pde_0", "pde_1", "pde_2")


def test_ntk_training_is_the_same_with_and_without_groups():
    """NTK weights from the diagonals evaluated together give the training of the
    per-term diagonals (float64: the sums differ in order only); a network the
    propagation does not support takes the per-term vmap path."""
    from symbolic_pinn.adaptive import NeuralTangentKernelAdaptiveLoss

    histories = []
    for strategy in (GridTraining(0.25), SeparateGrid(0.25)):
        prob = problem(strategy, adaptive_loss=NeuralTangentKernelAdaptiveLoss(2))
        histories.append(prob.solve(6, seed=0, dtype=torch.float64, progress=False).history)
    for a_row, b_row in zip(*histories):
        for term in a_row["weights"]:
            assert a_row["weights"][term] == pytest.approx(b_row["weights"][term], rel=1e-9)
        assert a_row["loss"] == pytest.approx(b_row["loss"], rel=1e-9)
    seq = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    nets = [seq, mlp(1, 2).double(), mlp(1, 3).double()]
    prob = discretize(system(), PhysicsInformedNN(nets, GridTraining(0.25), param_estim=True))
    from symbolic_pinn.adaptive.kernel import term_ntk_diagonal, terms_ntk_diagonals

    points = run_of(prob).points
    together = terms_ntk_diagonals(prob, {t: points[t] for t in prob.term_names})
    for term in prob.term_names:
        torch.testing.assert_close(together[term], term_ntk_diagonal(prob, term, points[term]))
