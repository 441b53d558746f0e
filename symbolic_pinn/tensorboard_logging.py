"""Optional TensorBoard logging of the training history (``solve(..., logger=...)``).

Tags follow NeuralPDE's: ``adaptive_loss/<term>`` (the weight of each term),
``loss/<term>`` (its unweighted loss) and ``loss/total`` (the weighted total), with the
optimizer step as TensorBoard's step. TensorBoard is an optional dependency
(``pip install 'symbolic-pinn[tensorboard]'``); it is imported only when a log directory
is given.
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
    """
    if logger is None:
        return None
    if hasattr(logger, "add_scalar"):
        return HistoryLogger(logger, owned=False)
    if isinstance(logger, (str, os.PathLike)):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:  # torch raises this when tensorboard is missing
            raise ImportError(
                "logger=<log directory> needs the tensorboard package: "
                "pip install 'symbolic-pinn[tensorboard]' (or pip install tensorboard)"
            ) from exc
        return HistoryLogger(SummaryWriter(log_dir=os.fspath(logger)), owned=True)
    raise TypeError(
        "logger must be None, a log directory, or a torch.utils.tensorboard.SummaryWriter "
        f"(anything with add_scalar), got {type(logger).__name__}"
    )
