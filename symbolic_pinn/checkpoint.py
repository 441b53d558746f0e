"""Checkpoints, exact resume and rollback: the whole state of a training run.

A checkpoint is a :meth:`Result.save <symbolic_pinn.result.Result.save>` file (networks,
parameters, adaptive-loss state, history) with a ``"training"`` entry: the step
counter, the optimizer's and the LR scheduler's state, the sampler's random state
(the numpy ``Generator``'s ``bit_generator.state``), torch's global random state, the
points and quadrature weights of the last step, and the term weights in force. A run
resumed from it continues exactly where the interrupted one stopped: on CPU with a
fixed seed, bit for bit.

Rollback (``solve(..., on_nonfinite="rollback")``) keeps the same state in memory,
cloned after every good step, and restores it when a step goes non-finite.

Examples:
    A run after one step, built with the calls :func:`~symbolic_pinn.solve` makes:

    >>> import tempfile
    >>> from pathlib import Path
    >>> import sympy as sp
    >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
    >>> from symbolic_pinn.run import Run
    >>> from symbolic_pinn.training import GridTraining
    >>> x = sp.Symbol("x"); u = sp.Function("u")
    >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)}, [x], [u(x)])
    >>> problem = discretize(s, PhysicsInformedNN(MLP(1, 1, [8]), GridTraining(0.1)))
    >>> run = Run(problem, "adam", lambda params: torch.optim.Adam(params, lr=1e-3),
    ...           np.random.default_rng(0), torch.device("cpu"), torch.float32)
    >>> closure = problem.module.make_closure(run)
    >>> def step():
    ...     problem.module.train_step(run, closure)
    ...     run.step += 1
    >>> def parameters():
    ...     return [p.detach().clone() for p in run.parameters]
    >>> step()

    :func:`capture` takes the training state as it is:

    >>> state = capture(run, None, "adam", clone=True)
    >>> state["step"], state["optimizer"], state["scheduler_state"]
    (1, 'adam', None)
    >>> state["rng"] == run.rng.bit_generator.state, state["weights"] == run.weights
    (True, True)

    A rollback: :func:`snapshot` copies, a step moves the parameters,
    :func:`restore_snapshot` puts them back (Adam's step count too):

    >>> snap, saved = snapshot(run, None, "adam"), parameters()
    >>> step()
    >>> any(not torch.equal(a, b) for a, b in zip(saved, parameters()))
    True
    >>> restore_snapshot(run, None, snap)
    >>> all(torch.equal(a, b) for a, b in zip(saved, parameters()))
    True
    >>> float(run.optimizer.state_dict()["state"][0]["step"])
    1.0

    :func:`restore_training` keeps the step counter for a rollback and restores it, with
    the random state, for a resumed run:

    >>> draws = run.rng.random(3)
    >>> restore_training(run, None, state, resume=False)
    >>> run.step
    2
    >>> restore_training(run, None, state, resume=True)
    >>> run.step, bool((run.rng.random(3) == draws).all())
    (1, True)

    A checkpoint on disk: :func:`write_checkpoint`, then :func:`load_checkpoint` into the
    problem after the networks moved on (another optimizer is refused):

    >>> saved = parameters()
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = write_checkpoint(Path(folder) / "run.pt", Result(problem, []), run, None,
    ...                             "adam")
    ...     step()
    ...     loaded = load_checkpoint(path, problem, "adam")
    ...     try:
    ...         load_checkpoint(path, problem, "lbfgs")
    ...     except ValueError as error:
    ...         print(str(error).split("; ")[1])
    resume with optimizer='adam', not 'lbfgs'
    >>> loaded.training["step"], all(torch.equal(a, b) for a, b in zip(saved, parameters()))
    (1, True)

    :func:`scale_lr` halves the learning rate of a rollback, in the scheduler too:

    >>> scheduler = torch.optim.lr_scheduler.LambdaLR(run.optimizer, lambda k: 1.0)
    >>> scale_lr(run, scheduler, 0.5)
    0.0005
    >>> scheduler.base_lrs, run.optimizer.param_groups[0]["initial_lr"]
    ([0.0005], 0.0005)
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from .errors import integer_at_least
from .result import Result

__all__ = [
    "capture",
    "load_checkpoint",
    "restore_snapshot",
    "restore_training",
    "scale_lr",
    "snapshot",
    "strategy_description",
    "write_checkpoint",
]


def capture(run, scheduler, optimizer: str, *, clone: bool = False) -> dict:
    """The training state of ``run`` beyond what ``Result.save`` already stores.

    Args:
        run: The :class:`~symbolic_pinn.run.Run`.
        scheduler: The LR scheduler, or ``None``.
        optimizer: The optimizer's name (``"adam"``, ``"lbfgs"``).
        clone: Deep-copy the optimizer and scheduler state (for an in-memory snapshot
            that later steps must not change); a file written at once needs no copy.

    Examples:
        The module's example follows one run through every function here.
    """
    copy_ = copy.deepcopy if clone else (lambda value: value)
    return {
        "step": int(run.step),
        "optimizer": optimizer,
        "lr": run.lr,  # the run's first learning rate
        "strategy": strategy_description(run.problem.strategy),  # checked on resume
        "optimizer_state": copy_(run.optimizer.state_dict()),
        "scheduler_state": None if scheduler is None else copy_(scheduler.state_dict()),
        "rng": copy.deepcopy(run.rng.bit_generator.state),
        # scipy.stats.qmc engines spawn child generators from the seed sequence: that
        # counter is not in the bit generator's state, and a resumed run must continue it
        "rng_seed_seq": _seed_seq(run.rng),
        "torch_rng": torch.get_rng_state(),
        # point tensors are replaced, never changed in place: references suffice
        "points": {t: p if clone else p.detach().cpu() for t, p in run.points.items()},
        "quadrature": {t: w if clone else w.detach().cpu() for t, w in run.quadrature.items()},
        "weights": dict(run.weights),
        "gradient_passes": int(run.gradient_passes),
        "rollbacks": copy.deepcopy(getattr(run, "rollbacks", [])),
    }


def strategy_description(strategy) -> str:
    """A training strategy as its class and plain settings, to tell two apart on resume.

    Examples:
        >>> from symbolic_pinn.training import GridTraining, StochasticTraining
        >>> strategy_description(GridTraining(0.1))
        'GridTraining(dx=0.1)'
        >>> strategy_description(StochasticTraining(64))
        'StochasticTraining(points=64, bcs_points=None, share=False, shares_points=False)'
    """
    plain = (int, float, str, bool, type(None), tuple)
    settings = ", ".join(f"{k}={v!r}" for k, v in vars(strategy).items()
                         if not k.startswith("_") and isinstance(v, plain))
    return f"{type(strategy).__name__}({settings})"


def snapshot(run, scheduler, optimizer: str) -> dict:
    """An in-memory copy of everything a rollback restores.

    Examples:
        The module's example follows one run through every function here.
    """
    return {
        "nets": [copy.deepcopy(net.state_dict()) for net in run.nets],
        "params": {k: v.detach().clone() for k, v in run.params.items()},
        "adaptive": copy.deepcopy(run.adaptive.state_dict()),
        "training": capture(run, scheduler, optimizer, clone=True),
    }


def restore_snapshot(run, scheduler, snap: dict) -> None:
    """Put networks, parameters, adaptive state, optimizer, scheduler and points back.

    The random state is not restored: the retried step draws fresh points.

    Examples:
        The module's example follows one run through every function here.
    """
    for net, sd in zip(run.nets, snap["nets"]):
        net.load_state_dict(sd)
    with torch.no_grad():
        for ident, value in snap["params"].items():
            run.params[ident].copy_(value)
    run.adaptive.load_state_dict(copy.deepcopy(snap["adaptive"]))
    restore_training(run, scheduler, snap["training"], resume=False)


def restore_training(run, scheduler, state: dict, *, resume: bool) -> None:
    """Restore :func:`capture` output into ``run`` (after its networks are restored).

    Args:
        resume: Also restore the step counter, the random states and the counters (a
            resumed run); ``False`` for a rollback, which retries the same step.

    Raises:
        ValueError: The state was captured with an LR scheduler and ``scheduler`` is
            ``None``, or the other way round.

    Examples:
        The module's example follows one run through every function here.
    """
    if (scheduler is None) != (state["scheduler_state"] is None):
        raise ValueError(
            "the checkpoint was written by a run "
            f"{'with' if state['scheduler_state'] is not None else 'without'} an "
            "lr_schedule; resume with the same lr_schedule"
        )
    # load_state_dict keeps tensors it need not convert: copy, so the source stays intact
    run.optimizer.load_state_dict(copy.deepcopy(state["optimizer_state"]))
    if scheduler is not None:
        scheduler.load_state_dict(copy.deepcopy(state["scheduler_state"]))
    # in place: the generated closure holds these dicts
    for term, pts in state["points"].items():
        run.points[term] = pts.to(device=run.device, dtype=run.dtype)
    run.share_points()  # a saved checkpoint holds one tensor per term
    for term, w in state["quadrature"].items():
        run.quadrature[term] = w.to(device=run.device, dtype=run.dtype)
    run.weights.update(state["weights"])
    run.adaptive.weights = dict(run.weights)
    if resume:
        run.step = int(state["step"])
        if state.get("rng_seed_seq") is not None:  # (files from before it was kept: not)
            run.rng = _generator(run.rng, state["rng_seed_seq"])
        run.rng.bit_generator.state = copy.deepcopy(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        run.gradient_passes = int(state["gradient_passes"])
        run.rollbacks = list(state.get("rollbacks", []))


def _seed_seq(rng: np.random.Generator) -> dict | None:
    seq = rng.bit_generator.seed_seq
    if not isinstance(seq, np.random.SeedSequence):
        return None
    return {"entropy": seq.entropy, "spawn_key": tuple(seq.spawn_key),
            "pool_size": seq.pool_size, "n_children_spawned": seq.n_children_spawned}


def _generator(rng: np.random.Generator, seq: dict) -> np.random.Generator:
    """A generator like ``rng`` whose seed sequence has spawned ``seq``'s children."""
    return np.random.Generator(type(rng.bit_generator)(np.random.SeedSequence(**seq)))


def write_checkpoint(path, result: Result, run, scheduler, optimizer: str):
    """Save ``result`` with the run's training state, atomically (temp file, rename).

    Returns:
        The path written.

    Examples:
        The module's example follows one run through every function here.
    """
    result.training = capture(run, scheduler, optimizer)
    return result.save(path)


def load_checkpoint(path, problem, optimizer: str) -> Result:
    """Load a checkpoint into ``problem``; its ``training`` entry is checked, not applied.

    Raises:
        ValueError: Another problem's file, a file without training state (saved by an
            older version), or a run with another optimizer.

    Examples:
        The module's example follows one run through every function here.
    """
    loaded = Result.load(path, problem)
    state = loaded.training
    if state is None:
        raise ValueError(f"{path} holds no training state: it cannot be resumed")
    if state["optimizer"] != optimizer:
        raise ValueError(f"{path} was trained with optimizer {state['optimizer']!r}; "
                         f"resume with optimizer={state['optimizer']!r}, not {optimizer!r}")
    return loaded


def scale_lr(run, scheduler, factor: float) -> float:
    """Multiply the learning rate (and the scheduler's base rates) by ``factor``.

    Returns:
        The new learning rate of the first parameter group.

    Examples:
        The module's example follows one run through every function here.
    """
    for group in run.optimizer.param_groups:
        group["lr"] = group["lr"] * factor
        if "initial_lr" in group:
            group["initial_lr"] = group["initial_lr"] * factor
    if scheduler is not None:
        scheduler.base_lrs = [lr * factor for lr in scheduler.base_lrs]
    return float(run.optimizer.param_groups[0]["lr"])


class NonFiniteGuard:
    """What ``solve`` does when a step goes non-finite: raise, or roll back and retry.

    In ``"rollback"`` mode it keeps a :func:`snapshot` of the last good state (taken
    after every good step); on a non-finite step it restores it, halves the learning
    rate and lets the step be retried (with fresh points for resampling strategies),
    up to ``max_rollbacks`` times without progress past the furthest step reached; when it
    gives up, it restores the last good state once more before raising, so the networks
    are left finite.

    A loss that is still non-finite when the step is retried from that state does not
    depend on the step's learning rate: the previous step's update caused it, although
    its own loss, gradients and parameters were finite. The guard then goes one step
    further back (it keeps the snapshot before the last good step too), drops that
    step's history row and retries it at the lowered rate. A ``callback`` has seen that
    step once already (the progress bar counts it once).
    """

    def __init__(self, run, scheduler, optimizer: str, result: Result, mode: str,
                 max_rollbacks: int, lr_factor: float = 0.5) -> None:
        if mode not in ("raise", "rollback"):
            raise ValueError(f"on_nonfinite must be 'raise' or 'rollback', got {mode!r}")
        if not integer_at_least(max_rollbacks, 1):
            raise ValueError(f"max_rollbacks must be a positive integer, got {max_rollbacks!r}")
        self.run, self.scheduler, self.optimizer, self.result = run, scheduler, optimizer, result
        self.mode, self.max_rollbacks, self.lr_factor = mode, int(max_rollbacks), lr_factor
        self.in_row = 0
        self.snap = snapshot(run, scheduler, optimizer) if mode == "rollback" else None
        self.prev: dict | None = None  # the snapshot before self.snap's step, if any
        self.reached = run.step  # the furthest step count reached: progress resets in_row

    def good(self) -> None:
        """A step went through: it is the new state to roll back to."""
        if self.run.step > self.reached:  # (a step redone after going back is no progress)
            self.reached, self.in_row = self.run.step, 0
        if self.mode == "rollback":
            self.prev, self.snap = self.snap, snapshot(self.run, self.scheduler, self.optimizer)

    def failed(self, error) -> None:
        """Handle a :class:`~symbolic_pinn.errors.NonFiniteError` of the current step."""
        import warnings

        run = self.run
        error.step = run.step
        if self.mode == "raise" or self.in_row >= self.max_rollbacks:
            if self.mode == "rollback":
                cause, error = error, type(error)(
                    f"{error} [gave up after {self.in_row} consecutive rollbacks; learning "
                    f"rate {run.optimizer.param_groups[0]['lr']:g}]",
                    step=error.step, term=error.term, quantity=error.quantity,
                    value=error.value)
                error.losses = cause.losses
                error.__cause__ = cause
                restore_snapshot(run, self.scheduler, self.snap)  # leave the last good state
            if error.losses is not None:
                self.result.history.append({
                    "step": run.step, "loss": error.losses["loss"],
                    "losses": dict(error.losses["losses"]), "weights": dict(run.weights),
                })
            error.result = self.result
            raise error
        deeper = error.quantity == "loss" and self.in_row >= 1 and self.prev is not None
        if deeper:  # the state itself has a non-finite loss: undo the step that made it
            self.snap, self.prev = self.prev, None
            run.step = int(self.snap["training"]["step"])
            self.result.history[:] = [r for r in self.result.history if r["step"] < run.step]
        failed_at = run.optimizer.param_groups[0]["lr"]
        restore_snapshot(run, self.scheduler, self.snap)  # with the snapshot's rate ...
        self.in_row += 1
        restored = run.optimizer.param_groups[0]["lr"]  # ... then half the rate that failed
        lr = scale_lr(run, self.scheduler, self.lr_factor * failed_at / restored
                      if restored > 0 else self.lr_factor)
        record = {"step": run.step, "quantity": error.quantity, "term": error.term, "lr": lr}
        run.rollbacks.append(record)
        why = (" (the loss was still not finite at the state before the next step, which "
               "this step's update had made)" if deeper else "")
        warnings.warn(f"{error}; rolled back to the state before step {run.step}{why}, "
                      f"learning rate lowered to {lr:g}", RuntimeWarning,
                          stacklevel=4)  # failed, solve, its grad-mode wrapper
