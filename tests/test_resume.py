"""Checkpoints and exact resume; atomic saves.

A run of N steps, interrupted at step k (a callback returning True, or an exception)
and resumed from its checkpoint to N, must equal the uninterrupted run bit for bit on
CPU: every parameter (``torch.equal``), the history, the adaptive-loss state. The
resumed run starts from a *fresh* problem whose networks are initialised differently,
so nothing but the checkpoint can carry the state over.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import sympy as sp
import torch
from neuralpde_poisson import poisson_system

from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, Result, discretize
from symbolic_pinn.adaptive import MiniMaxAdaptiveLoss, NeuralTangentKernelAdaptiveLoss
from symbolic_pinn.training import GridTraining, QuasiRandomTraining, StochasticTraining

torch.set_num_threads(1)

x, y = sp.symbols("x y")
u = sp.Function("u")
N = 10


def adam_ntk_problem():
    """Adam, NTK reweighting every 3 steps, resampled points every step."""
    pinn = PhysicsInformedNN(MLP(2, 1, [8, 8]), StochasticTraining(16, 4),
                             adaptive_loss=NeuralTangentKernelAdaptiveLoss(reweight_every=3))
    return discretize(poisson_system(), pinn)


def adam_ntk_quasirandom_problem():
    """Sobol points drawn again every step, NTK on fresh Sobol kernel points: scipy's qmc
    engines spawn child generators, which the bit generator's state does not record."""
    ntk = NeuralTangentKernelAdaptiveLoss(reweight_every=2, kernel_points="quasirandom",
                                          kernel_size=8)
    pinn = PhysicsInformedNN(MLP(2, 1, [8, 8]), QuasiRandomTraining(16, 4), adaptive_loss=ntk)
    return discretize(poisson_system(), pinn)


def lbfgs_problem():
    return discretize(poisson_system(),
                      PhysicsInformedNN(MLP(2, 1, [8]), GridTraining(0.25)))


ADAM = {"lr": 1e-2, "lr_schedule": lambda s: 0.95**s}
LBFGS = {"lr": 0.5, "optimizer": "lbfgs", "optimizer_options": {"max_iter": 5},
         "lr_schedule": lambda s: 1.0 / (1 + s)}


def params_of(problem) -> list[torch.Tensor]:
    return [p.detach().clone() for net in problem.nets for p in net.parameters()]


def assert_same_run(reference, ref_result, resumed, res_result):
    ref_params, res_params = params_of(reference), params_of(resumed)
    assert len(ref_params) == len(res_params)
    for a, b in zip(ref_params, res_params):
        assert torch.equal(a, b)  # bit for bit
    assert res_result.history == ref_result.history
    assert [row["step"] for row in res_result.history] == list(range(N))
    assert resumed.adaptive_loss.state_dict() == reference.adaptive_loss.state_dict()


def uninterrupted(build, options):
    problem = build()
    return problem, problem.solve(N, seed=0, progress=False, **options)


def scramble(problem):
    """A fresh problem with other weights, and torch's random state moved on."""
    torch.manual_seed(12345)
    for net in problem.nets:
        net.reset_parameters()
    torch.rand(7)
    return problem


@pytest.mark.parametrize("build,options", [(adam_ntk_problem, ADAM),
                                           (adam_ntk_quasirandom_problem, ADAM),
                                           (lbfgs_problem, LBFGS)],
                         ids=["adam-ntk-stochastic", "adam-ntk-quasirandom", "lbfgs"])
@pytest.mark.parametrize("stop_at", [1, 4, 5])
def test_callback_stop_then_resume_is_bit_exact(tmp_path, build, options, stop_at):
    reference, ref_result = uninterrupted(build, options)
    path = tmp_path / "run.ckpt"

    first = build()
    partial = first.solve(N, seed=0, progress=False, checkpoint_path=path,
                          callback=lambda row: row["step"] == stop_at, **options)
    assert [row["step"] for row in partial.history] == list(range(stop_at + 1))
    assert path.exists() and not list(tmp_path.glob("*.tmp"))

    second = scramble(build())
    resumed = second.solve(N, progress=False, resume=path, **options)
    assert_same_run(reference, ref_result, second, resumed)


@pytest.mark.parametrize("build,options", [(adam_ntk_problem, ADAM),
                                           (adam_ntk_quasirandom_problem, ADAM),
                                           (lbfgs_problem, LBFGS)],
                         ids=["adam-ntk-stochastic", "adam-ntk-quasirandom", "lbfgs"])
def test_exception_then_resume_from_periodic_checkpoint_is_bit_exact(tmp_path, build, options):
    reference, ref_result = uninterrupted(build, options)
    path = tmp_path / "run.ckpt"

    def crash(row):
        if row["step"] == 7:
            raise KeyboardInterrupt  # e.g. Ctrl-C, or a machine going away

    with pytest.raises(KeyboardInterrupt):
        build().solve(N, seed=0, progress=False, checkpoint_every=3, checkpoint_path=path,
                      callback=crash, **options)
    saved = torch.load(path, weights_only=True)
    assert saved["training"]["step"] == 6  # the last multiple of 3 before the crash

    second = scramble(build())
    resumed = second.solve(N, progress=False, resume=path, **options)
    assert_same_run(reference, ref_result, second, resumed)


def test_resume_twice_and_from_a_saved_result(tmp_path):
    """Chained resumes (2 + 3 + 5 steps), the middle one from ``Result.save``."""
    reference, ref_result = uninterrupted(adam_ntk_problem, ADAM)
    a, b = tmp_path / "a.ckpt", tmp_path / "b.pt"
    adam_ntk_problem().solve(2, seed=0, progress=False, checkpoint_path=a, **ADAM)
    middle = scramble(adam_ntk_problem()).solve(5, progress=False, resume=a, **ADAM)
    middle.save(b)  # a result of solve carries its training state
    last = scramble(adam_ntk_problem())
    resumed = last.solve(N, progress=False, resume=b, **ADAM)
    assert_same_run(reference, ref_result, last, resumed)
    loaded = Result.load(b, adam_ntk_problem())
    assert loaded.training["step"] == 5 and len(loaded.history) == 5


def test_loading_into_networks_of_another_size_loads_nothing(tmp_path):
    path = tmp_path / "run.pt"
    adam_ntk_problem().solve(1, seed=0, progress=False, **ADAM).save(path)
    wider = discretize(poisson_system(), PhysicsInformedNN(
        MLP(2, 1, [8, 9]), StochasticTraining(16, 4),
        adaptive_loss=NeuralTangentKernelAdaptiveLoss(reweight_every=3)))
    # the generated code does not depend on the widths: only the shapes tell them apart
    assert wider.source == adam_ntk_problem().source
    before = params_of(wider)
    with pytest.raises(ValueError, match=r"network 0 does not match the saved one \(2.bias: "
                                         r"saved \(8,\), here \(9,\)"):
        Result.load(path, wider)
    assert all(torch.equal(p, q) for p, q in zip(before, params_of(wider)))


def test_minimax_state_survives_a_load_and_save_before_any_run(tmp_path):
    """Result.load into a fresh problem, then save: the ascent optimizers' state is kept
    (it used to be dropped, so a resume from the re-saved file differed)."""

    def build():
        return discretize(poisson_system(), PhysicsInformedNN(
            MLP(2, 1, [8]), GridTraining(0.25), adaptive_loss=MiniMaxAdaptiveLoss(1)))

    first, again = tmp_path / "first.pt", tmp_path / "again.pt"
    build().solve(3, seed=0, progress=False, checkpoint_path=first, **ADAM)
    Result.load(first, build()).save(again)
    runs = []
    for path in (first, again):
        prob = build()
        runs.append((prob, prob.solve(6, progress=False, resume=path, **ADAM)))
    assert runs[0][1].history == runs[1][1].history
    assert all(torch.equal(p, q) for p, q in zip(params_of(runs[0][0]), params_of(runs[1][0])))


def test_checkpoint_holds_the_whole_training_state(tmp_path):
    path = tmp_path / "run.ckpt"
    problem = adam_ntk_problem()
    problem.solve(4, seed=0, progress=False, checkpoint_every=2, checkpoint_path=path, **ADAM)
    state = torch.load(path, weights_only=True)
    training = state["training"]
    assert training["step"] == 4 and training["optimizer"] == "adam"
    assert set(training["optimizer_state"]) == {"state", "param_groups"}
    assert training["scheduler_state"]["last_epoch"] == 4
    assert training["rng"]["bit_generator"] == "PCG64"
    assert set(training["points"]) == set(problem.term_names)
    assert state["adaptive_loss"]["updates"] == 2  # NTK updates at steps 0 and 3
    assert len(state["history"]) == 4


def test_resume_checks_problem_optimizer_and_schedule(tmp_path):
    path = tmp_path / "run.ckpt"
    adam_ntk_problem().solve(2, seed=0, progress=False, checkpoint_path=path, **ADAM)
    with pytest.raises(ValueError, match="different problem"):
        lbfgs_problem().solve(4, progress=False, resume=path, **LBFGS)
    with pytest.raises(ValueError, match="optimizer"):
        adam_ntk_problem().solve(4, progress=False, resume=path, optimizer="lbfgs")
    with pytest.raises(ValueError, match="lr_schedule"):
        adam_ntk_problem().solve(4, progress=False, resume=path, lr=1e-2)
    with pytest.raises(ValueError, match="checkpoint_path"):
        adam_ntk_problem().solve(4, progress=False, checkpoint_every=2)
    plain = tmp_path / "plain.pt"
    result = adam_ntk_problem().solve(1, seed=0, progress=False, **ADAM)
    result.training = None  # as a file saved by an older version
    result.save(plain)
    with pytest.raises(ValueError, match="no training state"):
        adam_ntk_problem().solve(4, progress=False, resume=plain, **ADAM)


def test_resume_or_load_from_a_file_that_is_not_ours(tmp_path):
    """Any other file gives a ValueError naming it, from solve(resume=...) and
    Result.load alike, and leaves the problem untouched; a missing file stays
    FileNotFoundError."""
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.ones(3)}, other)
    problem = adam_ntk_problem()
    before = [p.detach().clone() for p in problem.nets[0].parameters()]
    for path in (text, other):
        with pytest.raises(ValueError, match=f"{path.name} is not a file saved by symbolic_pinn"):
            problem.solve(2, progress=False, resume=path, **ADAM)
        with pytest.raises(ValueError, match="is not a file saved by symbolic_pinn"):
            Result.load(path, problem)
    assert all(torch.equal(a, b) for a, b in zip(before, problem.nets[0].parameters()))
    with pytest.raises(FileNotFoundError):
        problem.solve(2, progress=False, resume=tmp_path / "missing.pt", **ADAM)


def test_resume_with_another_lr_warns_and_keeps_the_runs_own(tmp_path):
    path = tmp_path / "run.ckpt"
    reference, ref_result = uninterrupted(adam_ntk_problem, ADAM)
    adam_ntk_problem().solve(N, seed=0, progress=False, checkpoint_path=path,
                             callback=lambda row: row["step"] == 3, **ADAM)
    resumed = scramble(adam_ntk_problem())
    with pytest.warns(UserWarning, match=r"started at lr=0.01.*lr=0.5 is not used"):
        result = resumed.solve(N, progress=False, resume=path, checkpoint_path=path,
                               **{**ADAM, "lr": 0.5})
    assert_same_run(reference, ref_result, resumed, result)
    assert torch.load(path, weights_only=True)["training"]["lr"] == 1e-2  # still the first


def test_resume_without_an_lr_takes_the_runs_own_silently(tmp_path):
    """No lr given: nothing to warn about (it used to warn that the default 1e-3, which
    the user never gave, was not used)."""
    path = tmp_path / "run.ckpt"
    reference, ref_result = uninterrupted(adam_ntk_problem, ADAM)
    adam_ntk_problem().solve(N, seed=0, progress=False, checkpoint_path=path,
                             callback=lambda row: row["step"] == 3, **ADAM)
    resumed = scramble(adam_ntk_problem())
    without_lr = {k: v for k, v in ADAM.items() if k != "lr"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = resumed.solve(N, progress=False, resume=path, **without_lr)
    assert_same_run(reference, ref_result, resumed, result)


def test_a_checkpoint_path_in_a_missing_folder_fails_before_training(tmp_path):
    problem = adam_ntk_problem()
    before = params_of(problem)
    target = tmp_path / "no" / "run.ckpt"
    with pytest.raises(FileNotFoundError, match=f"folder {tmp_path / 'no'} does not exist"):
        problem.solve(4, progress=False, checkpoint_path=target, **ADAM)
    assert all(torch.equal(a, b) for a, b in zip(before, params_of(problem)))
    result = problem.solve(1, seed=0, progress=False, **ADAM)
    with pytest.raises(FileNotFoundError, match="cannot write .*run.ckpt: the folder"):
        result.save(target)
    with pytest.raises(IsADirectoryError, match="it is a folder"):
        result.save(tmp_path)


def test_resume_at_the_end_runs_nothing(tmp_path):
    path = tmp_path / "run.ckpt"
    problem = adam_ntk_problem()
    done = problem.solve(3, seed=0, progress=False, checkpoint_path=path, **ADAM)
    again = adam_ntk_problem()
    with pytest.warns(UserWarning, match=r"is at step 3, already at or past iterations=3.*"
                                         "nothing is trained"):
        result = again.solve(3, progress=False, resume=path, **ADAM)
    assert result.history == done.history
    for p, q in zip(params_of(problem), params_of(again)):
        assert torch.equal(p, q)


def estimation_problem():
    """f' = a f, f(0) = 1, a estimated (starting at 0.5) from data of exp(-t)."""
    t = sp.Symbol("t")
    f, a = sp.Function("f"), sp.Symbol("a")
    system = PDESystem([sp.Eq(f(t).diff(t), a * f(t))], [sp.Eq(f(0), 1)], {t: (0, 1)}, [t],
                       [f(t)], {a: 0.5})
    t_data = torch.linspace(0, 1, 6).reshape(-1, 1)

    def data_loss(funcs, params):
        return torch.mean((funcs["f"](t_data) - torch.exp(-t_data[:, 0])) ** 2)

    pinn = PhysicsInformedNN(MLP(1, 1, [8]), StochasticTraining(8, 1), param_estim=True,
                             additional_loss=data_loss)
    return discretize(system, pinn)


def test_resume_with_estimated_parameters_is_bit_exact(tmp_path):
    """N steps with a checkpoint, resumed to 2N from a fresh problem whose network and
    estimated parameter are both moved elsewhere, equal 2N steps in one go: the history,
    every network tensor and the estimated parameter bit for bit."""
    reference = estimation_problem()
    ref_result = reference.solve(2 * N, seed=0, progress=False, **ADAM)
    path = tmp_path / "run.ckpt"
    first = estimation_problem()
    first.solve(N, seed=0, progress=False, checkpoint_path=path, **ADAM)
    assert not torch.equal(first.params["a"].detach(), torch.tensor(0.5))  # a is trained

    second = scramble(estimation_problem())
    with torch.no_grad():
        second.params["a"].fill_(-3.0)
    resumed = second.solve(2 * N, progress=False, resume=path, **ADAM)
    assert resumed.history == ref_result.history
    assert [row["step"] for row in resumed.history] == list(range(2 * N))
    assert all(torch.equal(p, q) for p, q in zip(params_of(reference), params_of(second)))
    assert set(second.params) == set(reference.params) == {"a"}
    assert second.params["a"].requires_grad
    assert torch.equal(second.params["a"].detach(), reference.params["a"].detach())
    assert resumed.params == ref_result.params


# -- atomic writes ---------------------------------------------------------------------------


def test_interrupted_checkpoint_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "run.ckpt"
    adam_ntk_problem().solve(2, seed=0, progress=False, checkpoint_path=path, **ADAM)
    before = path.read_bytes()

    real_save = torch.save

    def interrupted_save(obj, fh, *args, **kwargs):
        real_save({"partial": torch.zeros(1000)}, fh)  # some bytes reach the temp file
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        scramble(adam_ntk_problem()).solve(6, progress=False, resume=path, checkpoint_every=1,
                                           checkpoint_path=path, **ADAM)
    monkeypatch.setattr(torch, "save", real_save)

    assert path.read_bytes() == before  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ckpt"]  # no temp file left
    state = torch.load(path, weights_only=True)
    assert state["training"]["step"] == 2

    # and the intact checkpoint still resumes exactly
    reference, ref_result = uninterrupted(adam_ntk_problem, ADAM)
    last = scramble(adam_ntk_problem())
    assert_same_run(reference, ref_result, last,
                    last.solve(N, progress=False, resume=path, **ADAM))


def test_interrupted_result_save_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "result.pt"
    result = adam_ntk_problem().solve(2, seed=0, progress=False, **ADAM)
    result.save(path)
    before = path.read_bytes()

    def boom(obj, fh, *args, **kwargs):
        fh.write(b"garbage")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        result.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["result.pt"]


def test_fixed_random_points_come_from_the_checkpoint(tmp_path):
    """Points drawn once (QuasiRandomTraining without resampling) are restored, not redrawn:
    the resumed call's seed must not matter."""
    from symbolic_pinn.training import QuasiRandomTraining

    def build():
        return discretize(poisson_system(), PhysicsInformedNN(
            MLP(2, 1, [8]), QuasiRandomTraining(16, 4, resampling=False)))

    reference, ref_result = uninterrupted(build, ADAM)
    path = tmp_path / "run.ckpt"
    build().solve(N, seed=0, progress=False, checkpoint_path=path,
                  callback=lambda row: row["step"] == 3, **ADAM)
    second = scramble(build())
    with pytest.warns(UserWarning, match="seed=99 is not used"):
        resumed = second.solve(N, seed=99, progress=False, resume=path, **ADAM)
    assert_same_run(reference, ref_result, second, resumed)


def test_sparse_history_records_the_stop_and_keeps_it_on_resume(tmp_path):
    """With ``log_every=4`` a run stopped by its callback at step 5 records that step (its
    last); the resumed run keeps the rows it continues and adds its own grid and last
    step, and its parameters still equal the uninterrupted run's bit for bit."""
    reference = adam_ntk_problem()
    full = reference.solve(N, seed=0, progress=False, log_every=4, **ADAM)
    assert [row["step"] for row in full.history] == [0, 3, 4, 6, 8, 9]  # grid, reweights (0, 3, 6, 9), last
    path = tmp_path / "run.ckpt"
    # a checkpoint is also due after step 5: the final one must still hold the stop row
    partial = adam_ntk_problem().solve(N, seed=0, progress=False, log_every=4,
                                       checkpoint_path=path, checkpoint_every=3,
                                       callback=lambda row: row["step"] == 5, **ADAM)
    assert [row["step"] for row in partial.history] == [0, 3, 4, 5]
    second = scramble(adam_ntk_problem())
    resumed = second.solve(N, progress=False, log_every=4, resume=path, **ADAM)
    assert [row["step"] for row in resumed.history] == [0, 3, 4, 5, 6, 8, 9]
    assert [r for r in resumed.history if r["step"] != 5] == full.history
    for a, b in zip(params_of(reference), params_of(second)):
        assert torch.equal(a, b)


def test_a_strategy_state_that_could_not_be_loaded_back_fails_at_saving(tmp_path):
    """A NumPy number in a strategy's state_dict (a float subclass, yet refused by
    torch.load(weights_only=True)) fails when the file is written, naming the strategy,
    not at a resume much later; plain Python values and tensors save and resume."""
    import numpy as np

    from symbolic_pinn import StrategyError
    from symbolic_pinn.adaptive import NonAdaptiveLoss

    class Keeps(NonAdaptiveLoss):
        def __init__(self, value):
            super().__init__()
            self.value = value

        def state_dict(self):
            return {**super().state_dict(), "value": self.value}

        def load_state_dict(self, state):
            super().load_state_dict({k: v for k, v in state.items() if k != "value"})
            self.value = state["value"]

    def build(value):
        return discretize(poisson_system(), PhysicsInformedNN(
            MLP(2, 1, [4]), GridTraining(0.5), adaptive_loss=Keeps(value)))

    for value in (np.float64(1.5), np.int64(3), np.ones(2)):
        with pytest.raises(StrategyError, match=r"Keeps\.state_dict\(\) holds a value .* "
                                                r"torch refuses numpy"):
            build(value).solve(2, seed=0, progress=False, checkpoint_path=tmp_path / "a.pt")
    for value in (1.5, (1, 2), None, torch.ones(2)):
        path = tmp_path / "b.pt"
        build(value).solve(2, seed=0, progress=False, checkpoint_path=path)
        resumed = build(0.0)
        resumed.solve(3, progress=False, resume=path)
        assert resumed.adaptive_loss.value == value if not isinstance(value, torch.Tensor) \
            else torch.equal(resumed.adaptive_loss.value, value)


def test_a_float64_run_resumes_and_loads_in_float64(tmp_path):
    """Neither resume nor Result.load took the run's dtype: a float64 run went on, or
    predicted, in float32 without a word. Now both take it; another dtype is refused."""
    path = tmp_path / "run.ckpt"
    f64 = {**ADAM, "dtype": torch.float64}
    reference, ref_result = uninterrupted(adam_ntk_problem, f64)
    adam_ntk_problem().solve(N, seed=0, progress=False, checkpoint_path=path,
                             callback=lambda row: row["step"] == 3, **f64)
    refused = scramble(adam_ntk_problem())
    before = params_of(refused)
    with pytest.raises(ValueError, match=r"trained in torch.float64; resume with "
                                         r"dtype=torch.float64 or leave dtype out"):
        refused.solve(N, progress=False, resume=path, **{**ADAM, "dtype": torch.float32})
    assert all(torch.equal(a, b) for a, b in zip(before, params_of(refused)))  # untouched
    resumed = scramble(adam_ntk_problem())
    result = resumed.solve(N, progress=False, resume=path, **ADAM)  # no dtype given
    assert next(resumed.nets[0].parameters()).dtype == torch.float64
    assert_same_run(reference, ref_result, resumed, result)
    fresh = adam_ntk_problem()  # float32, as built
    loaded = Result.load(ref_result.save(tmp_path / "r.pt"), fresh)
    grid = {x: torch.linspace(0, 1, 9).numpy(), y: 0.5}
    assert np.array_equal(loaded.predict(grid)["u"], ref_result.predict(grid)["u"])


def test_resume_with_another_training_strategy_warns(tmp_path):
    """The checkpoint's points go on being trained on; a problem built with another
    strategy is told so, naming both (it was silently ignored)."""
    path = tmp_path / "run.ckpt"
    lbfgs_problem().solve(4, seed=0, progress=False, checkpoint_path=path,
                          callback=lambda row: row["step"] == 1, **LBFGS)
    assert torch.load(path, weights_only=True)["training"]["strategy"] == "GridTraining(dx=0.25)"
    other = discretize(poisson_system(), PhysicsInformedNN(MLP(2, 1, [8]), GridTraining(0.5)))
    with pytest.warns(UserWarning, match=r"was trained with GridTraining\(dx=0.25\), and this "
                                         r"problem's training strategy is GridTraining\(dx=0.5\); "
                                         r"the run continues on the points the checkpoint holds"):
        other.solve(4, progress=False, resume=path, **LBFGS)
    with warnings.catch_warnings():  # the same strategy: no word
        warnings.simplefilter("error")
        lbfgs_problem().solve(4, progress=False, resume=path, **LBFGS)
