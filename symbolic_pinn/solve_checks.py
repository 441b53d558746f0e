"""``solve``'s argument checks, made before anything is touched.

Each check raises an error that names the argument; none of them moves, casts or
re-initialises a network, loads a file or creates a folder, so a bad argument costs
nothing (``tests/test_errors_more.py``). The optimizer and its ``optimizer_options``
are checked by building it, and taking one step, on a throwaway tensor.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch

from .adaptive.base import Need
from .errors import StrategyError, TrainingError, integer_at_least
from .grad_mode import differentiable
from .result import _check_writable
from .tensorboard_logging import check_logger

__all__: list[str] = []  # helpers of symbolic_pinn.solver.solve

#: ``solve``'s optimizer names and their ``torch.optim`` classes.
_CLASSES = {"adam": "Adam", "lbfgs": "LBFGS", "sgd": "SGD"}


def check_arguments(*, iterations, lr, lr_schedule, seed, device, dtype, callback, log_every,
                    checkpoint_every, checkpoint_path, on_nonfinite, max_rollbacks,
                    logger) -> None:
    """``solve``'s plain arguments (a ValueError names one; a logger of the wrong type is a
    TypeError, a log directory without tensorboard an ImportError; a learning rate that
    ``lr_schedule`` makes bad at step 0 the TrainingError of any later step)."""
    if not integer_at_least(iterations, 0):
        raise ValueError(f"iterations must be a non-negative integer, got {iterations!r}")
    if not integer_at_least(log_every, 1):
        raise ValueError(f"log_every must be a positive integer, got {log_every!r}")
    if seed is not None and not (integer_at_least(seed, 0) and seed < 2**64):  # torch's range
        raise ValueError(f"seed must be an integer in [0, 2**64) or None, got {seed!r}")
    if callback is not None and not callable(callback):
        raise ValueError(f"callback must be callable (row -> bool | None), got {callback!r}")
    try:
        torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda', got "
                         f"{device!r} ({exc})") from None
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: this torch build has no usable CUDA device")
    if dtype is not None and dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    if checkpoint_every is not None and (not integer_at_least(checkpoint_every, 1)
                                         or checkpoint_path is None):
        raise ValueError("checkpoint_every must be a positive integer, with a checkpoint_path; "
                         f"got {checkpoint_every!r}, {checkpoint_path!r}")
    if checkpoint_path is not None:
        _check_writable(Path(checkpoint_path))
    try:
        lr_ok = math.isfinite(float(lr)) and float(lr) >= 0
    except (TypeError, ValueError):
        lr_ok = False
    if not lr_ok:
        raise ValueError(f"lr must be a finite non-negative number, got {lr!r}")
    if lr_schedule is not None and not callable(lr_schedule):
        raise ValueError(f"lr_schedule must be callable (step -> factor), got {lr_schedule!r}")
    if lr_schedule is not None:  # its first factor, before the networks are touched; the
        rate = float(lr) * float(lr_schedule(0))  # same TrainingError as at a later step
        if not (math.isfinite(rate) and rate >= 0):
            raise TrainingError(f"the learning rate for step 0 is {rate} (lr times the "
                                "lr_schedule factor); it must be finite and non-negative")
    if on_nonfinite not in ("raise", "rollback"):
        raise ValueError(f"on_nonfinite must be 'raise' or 'rollback', got {on_nonfinite!r}")
    if not integer_at_least(max_rollbacks, 1):
        raise ValueError(f"max_rollbacks must be a positive integer, got {max_rollbacks!r}")
    check_logger(logger)  # creates nothing: the log directory is made when training starts


def uses_cuda_graphs(compiled: bool | str, device) -> bool:
    """Whether the compiled residuals run as CUDA graphs: ``compile="reduce-overhead"`` or
    ``"max-autotune"`` on a GPU (each replay then writes its outputs into the same memory).

    Examples:
        >>> uses_cuda_graphs("reduce-overhead", "cuda"), uses_cuda_graphs("max-autotune", "cuda:1")
        (True, True)
        >>> uses_cuda_graphs("reduce-overhead", "cpu"), uses_cuda_graphs(True, "cuda")
        (False, False)
        >>> uses_cuda_graphs("max-autotune-no-cudagraphs", "cuda")
        False
    """
    return compiled in ("reduce-overhead", "max-autotune") and torch.device(device).type == "cuda"


def check_cuda_graphs(compiled: bool | str, device, adaptive) -> None:
    """Refuse a strategy that keeps outputs of the compiled residuals when they are CUDA
    graphs (``compile="reduce-overhead"`` or ``"max-autotune"`` on a GPU).

    Each replay of a CUDA graph overwrites the outputs of the one before. Per-term
    gradients (one backward replay per term) and residual values outlive a replay; with
    them, a 2026-11-30 run on an H200 failed. The run now copies what such a strategy
    keeps out of the graphs' memory (``Run._kept``), but that has not run on a GPU:
    ``tests/test_cuda.py`` lifts this refusal to check it, and it stays until that passes.
    ``compile=True`` trains such strategies on a GPU (checked there with per-term
    gradients), and every mode does on the CPU, which has no CUDA graphs.

    Examples:
        >>> from symbolic_pinn.adaptive import GradientScaleAdaptiveLoss
        >>> try:
        ...     check_cuda_graphs("reduce-overhead", "cuda", GradientScaleAdaptiveLoss(10))
        ... except StrategyError as exc:
        ...     print(str(exc).split(",")[0])
        GradientScaleAdaptiveLoss needs per-term gradients
        >>> check_cuda_graphs(True, "cuda", GradientScaleAdaptiveLoss(10))  # no CUDA graphs
    """
    if not uses_cuda_graphs(compiled, device):
        return
    kept = [what for need, what in ((Need.GRADIENTS, "per-term gradients"),
                                    (Need.RESIDUALS, "residual values"))
            if need in adaptive.needs]
    if kept:
        name = type(adaptive).__name__
        parts = [s for s in getattr(adaptive, "strategies", ())  # a Compose: who needs them
                 if s.needs & {Need.GRADIENTS, Need.RESIDUALS}]
        if parts:
            name += f" (its {', '.join(type(s).__name__ for s in parts)})"
        raise StrategyError(
            f"{name} needs {' and '.join(kept)}, which compile={compiled!r} does not "
            "support on a GPU yet: its CUDA graphs overwrite the compiled residuals' "
            "outputs at every replay. Use compile=True"
            + (' or compile="max-autotune-no-cudagraphs"' if compiled == "max-autotune"
               else "") + ", or train on the CPU")


def optimizer_factory(name: str, lr: float, given, *, compiled: bool, device: torch.device,
                      dtype: torch.dtype) -> Callable:
    """``parameters -> optimizer`` for ``solve``, its options checked on a throwaway tensor.

    ``given`` is ``solve``'s ``optimizer_options``; a problem discretized with
    ``compile=True`` gets Adam's fused kernel unless they say otherwise. The optimizer is
    built, and takes one step, on a tensor of ``dtype`` on ``device``: options torch
    refuses (an unknown keyword, ``lr`` given twice, a value of the wrong form) give a
    ValueError naming ``optimizer_options`` and torch's message.
    """
    if name not in _CLASSES:
        raise ValueError(f"optimizer must be 'adam', 'lbfgs' or 'sgd', got {name!r}")
    try:
        user = dict(given or {})
    except (TypeError, ValueError) as exc:
        raise ValueError("optimizer_options must be a mapping of keyword arguments for the "
                         f"torch optimizer, got {given!r}") from exc
    options = dict(user)
    if name == "adam" and compiled:
        options.setdefault("fused", True)  # one kernel per step (docs/performance.md)
    if name == "lbfgs":
        options = {"max_iter": 20, "line_search_fn": "strong_wolfe", **options}
    _probe(name, lr, given, options, "fused" in user, device, dtype)

    def factory(params):
        return getattr(torch.optim, _CLASSES[name])(params, lr=lr, **options)

    return factory


def _probe(name: str, lr: float, given, options: dict, fused_given: bool, device,
           dtype) -> None:
    """Build the optimizer on a throwaway tensor and take one step with it."""
    probe = torch.zeros(1, dtype=dtype, device=device, requires_grad=True)
    try:
        optimizer = getattr(torch.optim, _CLASSES[name])([probe], lr=lr, **options)

        def closure():
            optimizer.zero_grad()
            with differentiable():
                loss = (probe - 1.0).square().sum()
                loss.backward()
            return loss

        optimizer.step(closure)
    except Exception as exc:  # torch raises TypeError, ValueError, RuntimeError, ...
        shown = f"optimizer_options={given!r}"
        if options.get("fused") and not fused_given:
            shown += " (with fused=True, the default of a compiled problem)"
        hint = ("; give the learning rate as solve's lr" if "lr" in options else "")
        raise ValueError(f"{shown} refused by torch.optim.{_CLASSES[name]} "
                         f"(optimizer={name!r}): {type(exc).__name__}: {exc}{hint}") from exc
