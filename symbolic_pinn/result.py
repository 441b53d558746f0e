"""The outcome of ``solve``: trained networks, history, predictions, save and load."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .loading import source_hash

__all__ = ["Result"]


class Result:
    """Trained networks and what happened while training them.

    Attributes:
        problem: The problem that was solved.
        history: One dict per recorded step: ``"step"``, ``"loss"``, ``"losses"``
            ``{term: float}``, ``"weights"`` ``{term: float}``, and what the adaptive loss
            adds on its reweight steps (``"traces"`` for NTK).
    """

    def __init__(self, problem, history: list[dict]) -> None:
        self.problem = problem
        self.history = history

    @property
    def nets(self) -> tuple[torch.nn.Module, ...]:
        """The trained networks (the problem's own, trained in place)."""
        return self.problem.nets

    @property
    def params(self) -> dict[str, float]:
        """``{parameter name: value}``, estimated or given."""
        return {name: float(self.problem.params[ident].detach())
                for ident, name in self.problem.ir.params}

    @property
    def weights(self) -> dict[str, float]:
        """The loss weights after the last recorded step."""
        return dict(self.history[-1]["weights"]) if self.history else {}

    def predict(self, coords: Mapping[object, object]) -> dict[str, np.ndarray]:
        """Evaluate the dependent variables.

        Args:
            coords: ``{variable (symbol or name): array}``; arrays broadcast together.

        Returns:
            ``{dependent variable name: array}`` shaped like the broadcast inputs, for
            every dependent variable whose arguments are all given.

        Raises:
            KeyError: No dependent variable can be evaluated from ``coords``.
        """
        ir = self.problem.ir
        by_name = {str(getattr(k, "name", k)): v for k, v in coords.items()}
        unknown = set(by_name) - set(ir.indvar_names)
        if unknown:
            raise KeyError(f"unknown variables {sorted(unknown)}; they are {list(ir.indvar_names)}")
        arrays = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in by_name.values()))
        given = dict(zip(by_name, arrays))
        shape = arrays[0].shape if arrays else ()
        out = {}
        dtype = self.problem.dtype
        device = self.problem.device
        for dv in ir.depvars:
            names = [ir.indvar_names[c] for c in dv.args]
            if not all(n in given for n in names):
                continue
            inputs = np.stack([given[n].reshape(-1) for n in names], axis=1)
            tensor = torch.as_tensor(inputs, dtype=dtype, device=device)
            with torch.no_grad():
                values = self.problem.module.EVALUATE[dv.ident](self.nets, tensor)
            out[dv.name] = values[:, 0].cpu().numpy().astype(np.float64).reshape(shape)
        if not out:
            raise KeyError(f"no dependent variable can be evaluated from {sorted(by_name)}")
        return out

    def save(self, path: str | Path) -> Path:
        """Save networks, parameters, weights and history (atomically: temp file, rename)."""
        path = Path(path)
        state = {
            "version": __version__,
            "source_hash": source_hash(self.problem.source),
            "nets": [net.state_dict() for net in self.nets],
            "params": {k: v.detach().cpu() for k, v in self.problem.params.items()},
            "adaptive_loss": self.problem.adaptive_loss.state_dict(),
            "history": self.history,
        }
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                torch.save(state, fh)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | Path, problem) -> Result:
        """Load a saved result into ``problem`` (built from the same system and options).

        Raises:
            ValueError: The file was saved from a problem with different generated code.
        """
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
        if state["source_hash"] != source_hash(problem.source):
            raise ValueError(
                f"{path} was saved from a different problem (generated code "
                f"{state['source_hash']}, this one {source_hash(problem.source)})"
            )
        for net, sd in zip(problem.nets, state["nets"]):
            net.load_state_dict(sd)
        for ident, value in state["params"].items():
            target = problem.params[ident]
            with torch.no_grad():
                target.copy_(value.to(target.dtype))
        problem.adaptive_loss.load_state_dict(state["adaptive_loss"])
        return cls(problem, state["history"])
