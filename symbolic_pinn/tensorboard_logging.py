"""Optional TensorBoard logging of the training history (``solve(..., logger=...)``).

Tags follow NeuralPDE's: ``adaptive_loss/<term>`` (the weight of each term),
``loss/<term>`` (its unweighted loss) and ``loss/total`` (the weighted total), with the
optimizer step as TensorBoard's step. TensorBoard is an optional dependency
(``pip install tensorboard``, or ``pip install -e '.[tensorboard]'`` in a checkout); it is
imported only when a log directory is given.
"""

from __future__ import annotations

import math
import os

__all__ = ["HistoryLogger", "open_logger"]


class HistoryLogger:
    """Writes history rows to a ``SummaryWriter``-like object (anything with ``add_scalar``).

    Args:
        writer: The writer.
        owned: Whether :meth:`close` closes the writer (it does when this module opened
            it from a log directory; a writer passed in is only flushed).

    Examples:
        A stand-in for ``SummaryWriter`` that keeps what it is given:

        >>> class Writer:
        ...     def __init__(self):
        ...         self.scalars, self.flushed, self.closed = [], False, False
        ...     def add_scalar(self, tag, value, step):
        ...         self.scalars.append((tag, value, step))
        ...     def flush(self):
        ...         self.flushed = True
        ...     def close(self):
        ...         self.closed = True
        >>> logger = HistoryLogger(Writer())
        >>> logger.log({"step": 3, "loss": 0.5, "losses": {"pde_0": 0.25, "bc_0": 0.125},
        ...             "weights": {"pde_0": 1.0, "bc_0": 2.0}})
        >>> for tag, value, step in logger.writer.scalars:
        ...     print(tag, value, step)
        adaptive_loss/pde_0 1.0 3
        adaptive_loss/bc_0 2.0 3
        loss/pde_0 0.25 3
        loss/bc_0 0.125 3
        loss/total 0.5 3

        Non-finite losses are left out; a writer it does not own is flushed, not closed:

        >>> logger.log({"step": 4, "loss": float("nan"), "losses": {"pde_0": float("inf")}})
        >>> len(logger.writer.scalars)
        5
        >>> logger.close()
        >>> logger.writer.flushed, logger.writer.closed
        (True, False)
    """

    def __init__(self, writer, owned: bool = False) -> None:
        self.writer, self.owned = writer, owned

    def log(self, row: dict) -> None:
        """Write one history row: weights, per-term losses and the total loss."""
        step = int(row["step"])
        for term, weight in row.get("weights", {}).items():
            self.writer.add_scalar(f"adaptive_loss/{term}", float(weight), step)
        for term, value in row.get("losses", {}).items():
            if math.isfinite(value):
                self.writer.add_scalar(f"loss/{term}", float(value), step)
        if math.isfinite(row["loss"]):
            self.writer.add_scalar("loss/total", float(row["loss"]), step)

    def close(self) -> None:
        """Flush, and close the writer if this module opened it."""
        if hasattr(self.writer, "flush"):
            self.writer.flush()
        if self.owned and hasattr(self.writer, "close"):
            self.writer.close()


def open_logger(logger) -> HistoryLogger | None:
    """``None`` for ``None``; a :class:`HistoryLogger` around a writer or a new
    ``torch.utils.tensorboard.SummaryWriter`` for a log directory (``str`` or path).

    Raises:
        ImportError: A log directory was given and ``tensorboard`` is not installed.
        TypeError: ``logger`` is neither a writer nor a path.
        ValueError: The log directory is an existing file.

    Examples:
        ``solve(..., logger=writer)`` opens it; any object with ``add_scalar`` is taken
        as a writer (here a stand-in that records tags and steps):

        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> class Writer:
        ...     def __init__(self):
        ...         self.scalars = []
        ...     def add_scalar(self, tag, value, step):
        ...         self.scalars.append((tag, step))
        >>> open_logger(None) is None, open_logger(Writer()).owned
        (True, False)
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)}, [x], [u(x)])
        >>> problem = discretize(s, PhysicsInformedNN(MLP(1, 1, [8]), GridTraining(0.1)))
        >>> writer = Writer()
        >>> _ = problem.solve(2, seed=0, progress=False, logger=writer)
        >>> for tag in sorted({tag for tag, _ in writer.scalars}):
        ...     print(tag, [step for t, step in writer.scalars if t == tag])
        adaptive_loss/bc_0 [0, 1]
        adaptive_loss/bc_1 [0, 1]
        adaptive_loss/pde_0 [0, 1]
        loss/bc_0 [0, 1]
        loss/bc_1 [0, 1]
        loss/pde_0 [0, 1]
        loss/total [0, 1]
        >>> try:
        ...     open_logger(3)
        ... except TypeError as exc:
        ...     print(str(exc).split(" (")[0])
        logger must be None, a log directory, or a torch.utils.tensorboard.SummaryWriter
    """
    check_logger(logger)
    if logger is None:
        return None
    if hasattr(logger, "add_scalar"):
        return HistoryLogger(logger, owned=False)
    from torch.utils.tensorboard import SummaryWriter

    return HistoryLogger(SummaryWriter(log_dir=os.fspath(logger)), owned=True)


def check_logger(logger) -> None:
    """What :func:`open_logger` checks, without creating anything (``solve`` calls it
    before it touches the networks; the log directory is made when training starts).

    Raises:
        ImportError: A log directory was given and ``tensorboard`` is not installed.
        TypeError: ``logger`` is neither a writer nor a path.
        ValueError: The log directory is an existing file.

    Examples:
        >>> check_logger(None)
        >>> try:
        ...     check_logger(123)
        ... except TypeError as exc:
        ...     print(str(exc).split(" (")[0])
        logger must be None, a log directory, or a torch.utils.tensorboard.SummaryWriter
    """
    if logger is None or hasattr(logger, "add_scalar"):
        return
    if not isinstance(logger, (str, os.PathLike)):
        raise TypeError(
            "logger must be None, a log directory, or a torch.utils.tensorboard.SummaryWriter "
            f"(anything with add_scalar), got {type(logger).__name__}"
        )
    if os.path.exists(logger) and not os.path.isdir(logger):
        raise ValueError(f"logger={os.fspath(logger)!r} is a file, not a log directory")
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError as exc:  # torch raises this when tensorboard is missing
        raise ImportError(
            "logger=<log directory> needs the tensorboard package: "
            "pip install tensorboard (or, in a checkout, pip install -e '.[tensorboard]')"
        ) from exc
