"""Stage 5, training: the loop around the generated ``train_step`` and closure.

The generated module owns the step's layout (residuals, losses, hook, weighted sum);
:class:`~symbolic_pinn.run.Run` owns the state it runs on; this module owns the loop:
arguments, optimizer and schedule, resuming and checkpoints, non-finite handling,
history, progress and logging.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import torch

from . import allocator
from .adaptive.base import check_per_point_residuals
from .checkpoint import (
    NonFiniteGuard,
    capture,
    load_checkpoint,
    restore_training,
    strategy_description,
    write_checkpoint,
)
from .errors import NonFiniteError, TrainingError
from .grad_mode import differentiable
from .networks import check_not_batch_coupled
from .pinn import parameter_tensors, recast_known
from .result import Result, freeze_results, read_saved
from .run import Run
from .solve_checks import check_arguments, check_cuda_graphs, optimizer_factory
from .tensorboard_logging import open_logger

__all__ = ["solve", "Run"]  # Run: re-exported from its module, symbolic_pinn.run


@differentiable()  # training records graphs, even when called under inference_mode()
def solve(
    problem,
    iterations: int = 1000,
    *,
    lr: float | None = None,
    optimizer: str = "adam",
    optimizer_options: Mapping | None = None,
    lr_schedule: Callable[[int], float] | None = None,
    seed: int | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    progress: bool | None = None,
    callback: Callable[[dict], bool | None] | None = None,
    log_every: int = 1,
    logger=None,
    checkpoint_every: int | None = None,
    checkpoint_path: str | Path | None = None,
    resume: str | Path | None = None,
    on_nonfinite: str = "raise",
    max_rollbacks: int = 3,
) -> Result:
    """Train the problem's networks in place.

    Args:
        problem: From :func:`symbolic_pinn.discretize`.
        iterations: Optimizer steps (an L-BFGS step runs up to ``max_iter`` evaluations
            and counts as one).
        lr: Learning rate (default 1e-3).
        optimizer: ``"adam"`` (default), ``"lbfgs"`` or ``"sgd"`` (``torch.optim.SGD``:
            plain gradient descent, full-batch with fixed points; momentum and the like
            through ``optimizer_options``).
        optimizer_options: Extra keyword arguments for the torch optimizer. A problem
            discretized with ``compile=True`` gets Adam's fused kernel
            (``{"fused": True}``) unless these say otherwise. They are tried on a
            throwaway tensor first: options torch refuses give a ``ValueError``.
        lr_schedule: ``step -> factor`` multiplying ``lr`` (``torch.optim.lr_scheduler.
            LambdaLR``), e.g. ``lambda s: 0.9 ** (s / 1000)``.
        seed: Seeds sampling, re-initialises every network that has a
            ``reset_parameters()`` method (all :class:`~symbolic_pinn.MLP`) and sets the
            estimated PDE parameters back to the values the system gives, so runs with
            the same seed are identical. ``None`` keeps the current parameters.
        device: ``"cpu"`` or ``"cuda"``.
        dtype: ``torch.float32`` (default) or ``torch.float64``; when resuming, the
            run's own (another is refused).
        progress: Show a tqdm bar: ``True`` always, ``False`` never, ``None`` (default)
            from 500 iterations on, on a terminal only (not in logs or CI).
        callback: Called after every step with a copy of its history row (changing it
            leaves the history as it was); returning ``True`` stops training. A step
            that ``on_nonfinite="rollback"`` goes back to redo (the state it made had a
            non-finite loss) is seen again when it is redone.
        log_every: Record a history row every this many steps (reweight steps and the
            last step, also one where ``callback`` stopped training, are always
            recorded; a resumed run keeps the rows of the run it continues, so with
            ``log_every > 1`` its history also holds that run's last step). An adaptive
            loss that is due every step is thus recorded every step, whatever
            ``log_every``: ``CausalAdaptiveLoss`` and ``SelfAdaptiveLoss`` record their
            statistics every step by default (their ``stats_every=k`` thins them and
            changes nothing else), ``SoftAdaptAdaptiveLoss`` and
            ``ReLoBRaLoAdaptiveLoss`` reweight every step by default (their
            ``reweight_every=k`` also changes the method), and ``Compose`` is due
            whenever one of its components is.
        logger: TensorBoard logging of every recorded row: a log directory (a new
            ``SummaryWriter``, closed at the end; needs the optional ``tensorboard``
            package) or a ``torch.utils.tensorboard.SummaryWriter`` (flushed, not
            closed). Tags: ``adaptive_loss/<term>`` (weights), ``loss/<term>``
            (unweighted losses) and ``loss/total``.
        checkpoint_every: Write a checkpoint to ``checkpoint_path`` every this many
            steps (``None``: only when training ends or is stopped by ``callback``).
        checkpoint_path: Where checkpoints go; each write is atomic (temp file, fsync,
            rename), so an interrupted write leaves the previous checkpoint intact.
        resume: A checkpoint (or a ``Result.save`` file of a run) to continue from:
            networks, parameters, optimizer, LR scheduler, adaptive-loss state, random
            states, points, step counter and history are restored (``seed`` does not
            re-initialise anything), and training runs until ``iterations`` steps in
            all (a checkpoint already at or past ``iterations`` trains nothing, and a
            warning says so). Pass the same ``optimizer`` and ``lr_schedule``; the
            learning rate comes from the checkpoint (an ``lr`` given other than the run's
            first one is not used, and a warning says so). On CPU the continued run
            equals the uninterrupted one bit for bit.
        on_nonfinite: What a NaN or infinity in a loss, residual, gradient, adaptive
            weight or parameter does; it is detected within the step it appears in.
            ``"raise"``: stop with :class:`~symbolic_pinn.errors.NonFiniteError`.
            ``"rollback"``: restore the last good state (networks, parameters,
            optimizer, scheduler, adaptive state, points), halve the learning rate and
            retry the step (``result.rollbacks`` lists them).
        max_rollbacks: Consecutive rollbacks before giving up with ``NonFiniteError``
            (the networks are then left in the last good state).

    Returns:
        A :class:`~symbolic_pinn.result.Result`; ``result.save(path)`` also stores the
        training state, so the file can be resumed.

    The first call in a process frees one 16 MiB block (:func:`symbolic_pinn.allocator.
    warm_up`), which raises glibc's dynamic mmap threshold: a fresh process's CPU steps
    on mid-sized tensors otherwise fault their pages in anew every step.

    Raises:
        NonFiniteError: (a :class:`TrainingError`) a loss, gradient, weight or parameter
            became non-finite; the message names the term (where one is to blame) and
            the step; the partial result is in ``error.result``.
        TrainingError: The learning rate for a step (``lr`` times the ``lr_schedule``
            factor) is NaN, infinite or negative; raised before that step.
        StrategyError: The training strategy gave a term no points (e.g. a
            ``GridTraining`` spacing as wide as the domain), points that are not an
            ``(N, n_indvars)`` array (a strategy of your own that skipped
            ``TrainingStrategy.place``), or non-finite points; checked at each sample.
        ValueError: Bad arguments (``optimizer_options`` that the torch optimizer
            refuses: the message names them and gives torch's), or a ``resume`` file
            from another problem or optimizer.
        TypeError: ``logger`` is neither a log directory nor a writer.
        ImportError: ``logger`` is a log directory and tensorboard is not installed.
        FileNotFoundError: The folder of ``checkpoint_path`` does not exist.

    Each argument is checked before the networks are moved, cast or re-initialised.

    Examples:
        >>> import tempfile, torch, sympy as sp
        >>> from pathlib import Path
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)}, [x], [u(x)])
        >>> problem = discretize(s, PhysicsInformedNN(MLP(1, 1, [8]), GridTraining(0.1)))

        A history row every 4 steps; the last step is always recorded:

        >>> result = problem.solve(10, seed=0, log_every=4, progress=False)
        >>> [row["step"] for row in result.history]
        [0, 4, 8, 9]

        A callback that returns ``True`` stops training after that step:

        >>> result = problem.solve(10, seed=0, callback=lambda row: row["step"] == 2)
        >>> result.history[-1]["step"]
        2

        Six steps, then four more resumed from the checkpoint, equal ten steps in one go:

        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = Path(folder) / "run.pt"
        ...     _ = problem.solve(6, seed=0, checkpoint_path=path, progress=False)
        ...     resumed = problem.solve(10, resume=path, progress=False)
        >>> at_once = problem.solve(10, seed=0, progress=False)
        >>> resumed.history == at_once.history
        True
    """
    given_lr, lr = lr is not None, 1e-3 if lr is None else lr
    # every argument is checked before the networks are moved, re-initialised or loaded
    check_arguments(iterations=iterations, lr=lr, lr_schedule=lr_schedule, seed=seed,
                    device=device, dtype=dtype, callback=callback, log_every=log_every,
                    checkpoint_every=checkpoint_every, checkpoint_path=checkpoint_path,
                    on_nonfinite=on_nonfinite, max_rollbacks=max_rollbacks, logger=logger)
    device = torch.device(device)
    compiled = getattr(problem.symbolic.options, "compile", False)
    check_cuda_graphs(compiled, device, problem.adaptive_loss)
    if resume is not None:
        saved = _check_resume(resume, problem, optimizer, lr_schedule,
                              float(lr) if given_lr else None, iterations, seed)
        if dtype is not None and saved is not None and dtype != saved:
            raise ValueError(f"{resume} was trained in {saved}; resume with dtype={saved} "
                             "or leave dtype out")
        dtype = dtype or saved
    dtype = dtype or torch.float32
    make_optimizer = optimizer_factory(  # built and stepped once on a throwaway tensor
        optimizer, float(lr), optimizer_options, device=device, dtype=dtype, compiled=compiled)
    rng = np.random.default_rng(seed)
    freeze_results(problem)  # earlier results of this problem keep their own state
    _place_networks(problem, device, dtype, seed if resume is None else None)
    allocator.warm_up()  # once per process: glibc's mmap threshold (see symbolic_pinn.allocator)
    run = Run(problem, optimizer, make_optimizer, rng, device, dtype)
    run.lr = float(lr)  # the first learning rate, kept in checkpoints
    scheduler = (torch.optim.lr_scheduler.LambdaLR(run.optimizer, lr_schedule)
                 if lr_schedule is not None else None)
    closure = problem.module.make_closure(run)
    history: list[dict] = []
    run.rollbacks = []
    if resume is not None:
        loaded = load_checkpoint(resume, problem, optimizer)
        restore_training(run, scheduler, loaded.training, resume=True)
        run.lr = loaded.training.get("lr", run.lr)
        history = list(loaded.history)
    result = Result(problem, history)
    result.rollbacks = run.rollbacks
    guard = NonFiniteGuard(run, scheduler, optimizer, result, on_nonfinite, max_rollbacks)
    saved_at = run.step if resume is not None else None
    writer = open_logger(logger)
    bar = _progress(iterations, progress)
    scope = contextlib.ExitStack()
    if (getattr(problem.symbolic.options, "per_term_gradients", False) and compiled
            and hasattr(torch._functorch.config, "donated_buffer")):
        # Per-term gradients take the compiled residuals' backward with retain_graph=True,
        # which torch 2.11 refuses for a backward compiled with donated buffers (seen on a
        # GPU with compile="reduce-overhead"; torch 2.13 then compiles the backward without
        # them). They only save memory, so they are off for this run. Such a problem has
        # its own generated module (GenerationOptions.per_term_gradients): no graph
        # compiled with them for a problem without per-term gradients is reused here.
        scope.enter_context(torch._functorch.config.patch(donated_buffer=False))
    try:
        while run.step < iterations:
            _check_lr(run.optimizer, run.step)
            try:
                problem.module.train_step(run, closure)
                row = _row(run)
            except NonFiniteError as error:
                guard.failed(error)  # raises, or rolls back for a retry
                continue
            if scheduler is not None:
                scheduler.step()
            last = run.step == iterations - 1
            recorded = run.reweighted is not None or run.step % log_every == 0 or last
            if recorded:
                _record(history, writer, row)
            run.step += 1
            guard.good()
            if checkpoint_every is not None and run.step % checkpoint_every == 0:
                write_checkpoint(checkpoint_path, result, run, scheduler, optimizer)
                saved_at = run.step
            if bar is not None:  # (a step redone after a rollback went back is not counted)
                bar.update(max(0, run.step - bar.n))
                bar.set_postfix(loss=f"{row['loss']:.3e}", refresh=False)
            if callback is not None and callback(_copy(row)):
                if not recorded:  # the last step of the run: always in the history
                    _record(history, writer, row)
                    saved_at = None  # the final checkpoint must hold it too
                break
    finally:
        scope.close()
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.close()
    result.training = capture(run, scheduler, optimizer)
    if checkpoint_path is not None and saved_at != run.step:
        write_checkpoint(checkpoint_path, result, run, scheduler, optimizer)
    return result


def _place_networks(problem, device: torch.device, dtype: torch.dtype, seed: int | None) -> None:
    """The networks and parameters on ``device`` in ``dtype``; with a ``seed`` (not when
    resuming: a resumed run keeps its networks), the networks re-initialised from it and
    the estimated parameters set back to the values the system gives."""
    check_not_batch_coupled(problem.nets, problem.ir)  # a mode may have changed since
    check_per_point_residuals(problem.nets, problem.ir, problem.adaptive_loss)  # likewise
    for net in problem.nets:  # before re-initialising: torch draws differ per dtype
        net.to(device=device, dtype=dtype)
    if seed is not None:
        torch.manual_seed(seed)
        for net in problem.nets:
            if hasattr(net, "reset_parameters"):
                net.reset_parameters()
    given = parameter_tensors(problem.system, problem.ir, False, dtype)  # the system's values
    for ident, p in list(problem.params.items()):
        estimated = p.requires_grad
        if not estimated:
            problem.params[ident] = recast_known(p, given[ident], dtype, device)
            continue
        if seed is not None:  # an estimated parameter starts again
            p = given[ident]
        problem.params[ident] = torch.nn.Parameter(p.detach().to(device=device, dtype=dtype))


def _copy(value):
    """A copy of a history row, its nested dicts too (for the callback)."""
    return {k: _copy(v) for k, v in value.items()} if isinstance(value, dict) else value


def _record(history: list[dict], writer, row: dict) -> None:
    """A history row, and its TensorBoard scalars when a logger is open."""
    history.append(row)
    if writer is not None:
        writer.log(row)


def _check_lr(optimizer: torch.optim.Optimizer, step: int) -> None:
    """A learning rate that ``lr_schedule`` made NaN, infinite or negative stops the run
    before any step uses it (the networks keep their last, finite values)."""
    for group in optimizer.param_groups:
        lr = float(group["lr"])
        if not math.isfinite(lr) or lr < 0:
            raise TrainingError(f"the learning rate for step {step} is {lr} (lr times the "
                                "lr_schedule factor); it must be finite and non-negative")


def _check_resume(path, problem, optimizer: str, lr_schedule, lr: float | None,
                  iterations: int, seed: int | None = None) -> torch.dtype | None:
    """The checks of :func:`load_checkpoint` and :func:`restore_training`, made before
    anything is loaded, so a wrong file leaves the problem untouched (``lr``: the one
    given to ``solve``, ``None`` if none was; a ``seed`` is not used, with a warning).
    Returns the dtype the run trained in."""
    from .loading import source_hash

    state = read_saved(path)
    if state.get("source_hash") != source_hash(problem.source):
        raise ValueError(f"{path} was saved from a different problem (generated code "
                         f"{state.get('source_hash')}, this one {source_hash(problem.source)})")
    training = state.get("training")
    if training is None:
        raise ValueError(f"{path} holds no training state: it cannot be resumed")
    if training["optimizer"] != optimizer:
        raise ValueError(f"{path} was trained with optimizer {training['optimizer']!r}; "
                         f"resume with optimizer={training['optimizer']!r}, not {optimizer!r}")
    if (lr_schedule is None) != (training["scheduler_state"] is None):
        raise ValueError(
            "the checkpoint was written by a run "
            f"{'with' if training['scheduler_state'] is not None else 'without'} an "
            "lr_schedule; resume with the same lr_schedule")
    first = training.get("lr")  # (files from before it was stored: not checked)
    if lr is not None and first is not None and first != lr:
        warnings.warn(f"resume: the run continues with its own learning rate (started at "
                      f"lr={first:g}, in the checkpoint's optimizer state); lr={lr:g} is not "
                      "used", UserWarning, stacklevel=4)
    if seed is not None:
        warnings.warn(f"resume: the run continues with the checkpoint's networks and random "
                      f"state; seed={seed} is not used", UserWarning, stacklevel=4)
    saved, now = training.get("strategy"), strategy_description(problem.strategy)
    if saved is not None and saved != now:  # (files from before it was stored: not checked)
        warnings.warn(f"resume: {path} was trained with {saved}, and this problem's training "
                      f"strategy is {now}; the run continues on the points the checkpoint "
                      "holds, and draws any new points with this problem's strategy",
                      UserWarning, stacklevel=4)
    if training["step"] >= iterations:
        warnings.warn(f"resume: {path} is at step {training['step']}, already at or past "
                      f"iterations={iterations} (the steps in all, the checkpoint's "
                      "included): nothing is trained", UserWarning, stacklevel=4)
    return next((t.dtype for sd in state["nets"] for t in sd.values()
                 if t.is_floating_point()), None)


def _row(run: Run) -> dict:
    names = list(run.step_losses)
    # each parameter's sum joins the same host sync: non-finite parameters after the
    # optimizer step (a finite but too large update) are caught in the step they appear
    with torch.no_grad():
        sums = [p.sum() for p in run.parameters]
        values = torch.stack([*(run.step_losses[n] for n in names), run.step_loss, *sums])
    values = values.tolist()
    if not all(math.isfinite(s) for s in values[len(names) + 1:]):
        raise NonFiniteError(
            f"step {run.step}: the parameters are not finite after the optimizer step "
            "(the losses and gradients were finite); training stopped (lower the learning "
            "rate)", step=run.step, quantity="parameters")
    row = {
        "step": run.step,
        "loss": values[len(names)],
        "losses": dict(zip(names, values)),
        "weights": dict(run.step_weights),
    }
    if run.reweighted is not None:
        row.update(run.reweighted)
    if run.gradient_passes:  # cumulative per-term backward passes for Need.GRADIENTS
        row["gradient_passes"] = run.gradient_passes
    return row


def _progress(iterations: int, progress: bool | None):
    asked = progress is not None
    if not asked:
        progress = iterations >= 500
    if not progress:
        return None
    from tqdm.auto import tqdm

    # by default (disable=None) no bar when stderr is not a terminal (logs, CI)
    return tqdm(total=iterations, desc="training", unit="step", leave=False,
                disable=False if asked else None)
