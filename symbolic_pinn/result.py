"""The outcome of ``solve``: trained networks, history, predictions, save and load."""

from __future__ import annotations

import copy
import io
import os
import re
import tempfile
import weakref
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from sympy.core.function import AppliedUndef, UndefinedFunction

from . import __version__
from .loading import source_hash
from .networks import placement

__all__ = ["Result"]

#: Per problem, its results that read the problem's live networks and parameters.
_LIVE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def freeze_results(problem) -> None:
    """Before ``problem``'s networks or parameters change (``solve``, ``Result.load``):
    each result that still reads them keeps a copy of its own state. That includes the
    results of other problems built on the same network (a second system trained on from
    the first one's network) or the same adaptive loss."""
    mine = _state_ids(problem)
    for other in list(_LIVE.keys()):
        if other is problem or not mine.isdisjoint(_state_ids(other)):
            for result in list(_LIVE.get(other, ())):
                result._freeze()
            _LIVE.pop(other, None)  # after every result has its copy


def _state_ids(problem) -> set[int]:
    """The identities of what training changes in place: every parameter and buffer of
    the problem's networks, its estimated parameters and its adaptive loss."""
    ids = {id(t) for net in problem.nets for t in (*net.parameters(), *net.buffers())}
    return ids | {id(t) for t in problem.params.values()} | {id(problem.adaptive_loss)}


class Result:
    """Trained networks and what happened while training them.

    A result reads the problem's networks and parameters (trained in place) until the
    problem (or another problem built on the same network) is solved again or a file is
    loaded into it; it then keeps copies of its own, so a result always describes the run
    that made it.

    Attributes:
        problem: The problem that was solved.
        history: One dict per recorded step: ``"step"``, ``"loss"``, ``"losses"``
            ``{term: float}``, ``"weights"`` ``{term: float}``, and what the adaptive loss
            adds on its reweight steps (``"traces"`` for NTK).

    Examples:
        >>> import tempfile, numpy as np, sympy as sp
        >>> from pathlib import Path
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)}, [x], [u(x)])
        >>> def build():
        ...     return discretize(s, PhysicsInformedNN(MLP(1, 1, [8]), GridTraining(0.1)))
        >>> result = build().solve(3, seed=0, progress=False)
        >>> [row["step"] for row in result.history], sorted(result.history[-1])
        ([0, 1, 2], ['loss', 'losses', 'step', 'weights'])
        >>> result.weights
        {'pde_0': 1.0, 'bc_0': 1.0, 'bc_1': 1.0}

        Saved and loaded into a problem built the same way, it predicts the same values:

        >>> xs = np.linspace(0, 1, 5)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = result.save(Path(folder) / "run.pt")
        ...     loaded = Result.load(path, build())
        >>> bool(np.array_equal(loaded.predict({x: xs})["u"], result.predict({x: xs})["u"]))
        True
        >>> loaded.history == result.history
        True
    """

    def __init__(self, problem, history: list[dict]) -> None:
        self.problem = problem
        self.history = history
        #: The run's training state (optimizer, scheduler, random state, points, step),
        #: saved with the result so that ``solve(..., resume=path)`` can continue it.
        self.training: dict | None = None
        #: Rollbacks taken by ``solve(..., on_nonfinite="rollback")``.
        self.rollbacks: list[dict] = []
        self._frozen: dict | None = None  # this run's state, once the problem moved on
        _LIVE.setdefault(problem, weakref.WeakSet()).add(self)

    def _freeze(self) -> None:
        # tensors only (no module is copied here, so this cannot fail on an odd network)
        self._frozen = {
            "states": [{k: v.detach().clone() for k, v in net.state_dict().items()}
                       for net in self.problem.nets],
            "nets": None,  # copies of the modules, made when first asked for
            "params": {k: v.detach().clone() for k, v in self.problem.params.items()},
            "adaptive_loss": copy.deepcopy(self.problem.adaptive_loss.state_dict()),
        }

    @property
    def nets(self) -> tuple[torch.nn.Module, ...]:
        """The trained networks: the problem's own (trained in place) until they are
        trained again or loaded into; then copies that keep this result's state."""
        if self._frozen is None:
            return self.problem.nets
        if self._frozen["nets"] is None:
            twins = []
            for i, (net, state) in enumerate(zip(self.problem.nets, self._frozen["states"])):
                try:
                    twin = copy.deepcopy(net)  # the module, with this result's tensors
                except Exception as exc:
                    from .errors import TrainingError

                    raise TrainingError(
                        f"{self.problem.ir.network_label(i)} cannot be copied ({exc}), so this "
                        "result of an earlier run cannot rebuild it; its save() still holds "
                        "the run's state (load it into a problem with Result.load)") from exc
                # assign: the twin takes the run's tensors, dtype and device included (the
                # problem's module may since have been cast or moved by a later solve)
                twin.load_state_dict({k: v.clone() for k, v in state.items()}, assign=True)
                twins.append(twin)
            self._frozen["nets"] = tuple(twins)
        return self._frozen["nets"]

    @property
    def _params(self) -> dict[str, torch.Tensor]:
        return self.problem.params if self._frozen is None else self._frozen["params"]

    @property
    def params(self) -> dict[str, float]:
        """``{parameter name: value}``, estimated or given."""
        return {name: float(self._params[ident].detach()) for ident, name in self.problem.ir.params}

    @property
    def weights(self) -> dict[str, float]:
        """The loss weights of the last recorded step: those its loss was weighted with
        (its history row's ``"weights"``). A strategy with ``hook = "step"`` updates its
        weights after each step, so its own ``weights`` may already hold the next
        step's; the built-in strategies update before the step's loss."""
        return dict(self.history[-1]["weights"]) if self.history else {}

    def plot_history(self, path: str | Path | None = None, *, terms=None, total: bool = True,
                     weights: bool = True, figsize: tuple[float, float] | None = None,
                     dpi: int = 120):
        """Plot per-term losses (and weights) against the optimizer step, on log scales.

        Args:
            path: Save the figure there (any format matplotlib knows by its suffix,
                e.g. ``.png``); it is drawn with the Agg backend, without pyplot, so it
                works headless. ``None``: a pyplot figure with the current backend.
            terms: The terms to show, as a list of names (default: all recorded ones,
                ``"additional"`` too); a single name alone (``terms="bc_0"``) is the list
                of that one term.
            total: Also plot the weighted total loss.
            weights: Add a second panel with the weight of each term.
            figsize: Figure size in inches (default: 5 by 4 per panel).
            dpi: Resolution when saving.

        Returns:
            The ``matplotlib.figure.Figure``.

        Raises:
            ValueError: The history is empty, or ``terms`` names a term that it does not
                hold (the message lists the recorded ones).
        """
        if not self.history:
            raise ValueError("the history is empty: nothing to plot")
        recorded = list(dict.fromkeys(t for row in self.history for t in row["losses"]))
        names = recorded if terms is None else [terms] if isinstance(terms, str) else list(terms)
        unknown = [t for t in names if t not in recorded]
        if unknown:
            raise ValueError(f"plot_history(terms=...): unknown terms {unknown}; the "
                             f"recorded terms are {recorded}")
        panels = 2 if weights else 1
        size = figsize or (5.0 * panels, 4.0)
        if path is None:
            import matplotlib.pyplot as plt

            fig = plt.figure(figsize=size)
        else:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure

            fig = Figure(figsize=size)
            FigureCanvasAgg(fig)
        axes = fig.subplots(1, panels, squeeze=False)[0]
        steps = np.array([row["step"] for row in self.history])

        def series(key: str, term: str) -> np.ndarray:
            return np.array([row[key].get(term, np.nan) for row in self.history], dtype=float)

        ax = axes[0]
        for term in names:
            ax.plot(steps, series("losses", term), label=term, linewidth=1)
        if total:
            ax.plot(steps, [row["loss"] for row in self.history], "k", label="total (weighted)",
                    linewidth=1.5)
        ax.set_yscale("log", nonpositive="mask")
        ax.set_xlabel("step")
        ax.set_title("unweighted loss per term")
        ax.legend(fontsize="small")
        if weights:
            ax = axes[1]
            for term in names:
                if any(term in row["weights"] for row in self.history):
                    ax.plot(steps, series("weights", term), label=term, linewidth=1)
            ax.set_yscale("log", nonpositive="mask")
            ax.set_xlabel("step")
            ax.set_title(f"weights ({type(self.problem.adaptive_loss).__name__})")
            ax.legend(fontsize="small")
        fig.tight_layout()
        if path is not None:
            fig.savefig(Path(path), dpi=dpi)
        return fig

    def predict(self, coords: Mapping[object, object]) -> dict[str, np.ndarray]:
        """Evaluate the dependent variables.

        Args:
            coords: ``{variable (symbol or name): array}`` (NumPy arrays, numbers or
                tensors); arrays broadcast together.

        Returns:
            ``{dependent variable name: array}`` shaped like the broadcast inputs, for
            every dependent variable whose arguments are all given.

        Raises:
            TypeError: ``coords`` is not a mapping (an array of points, say).
            KeyError: No dependent variable can be evaluated from ``coords``, or a
                variable is given twice (as its symbol and its name).
            ValueError: The arrays do not broadcast together (the message gives each
                variable's shape).
        """
        ir = self.problem.ir
        if not isinstance(coords, Mapping):
            raise TypeError(
                f"predict takes a mapping {{variable: array}} (e.g. {{x: xs, t: ts}}, keyed "
                f"by symbol or name: {', '.join(ir.indvar_names)}), got "
                f"{type(coords).__name__}; for an (N, {len(ir.indvar_names)}) array of points "
                "give its columns, {" + ", ".join(f"{n!r}: pts[:, {i}]" for i, n in
                                                 enumerate(ir.indvar_names)) + "}")
        by_name = {}
        for k, v in coords.items():
            name = str(getattr(k, "name", k))
            if name in by_name:
                raise KeyError(f"variable {name} is given twice (as a symbol and as a name, "
                               "or as two equal symbols); give it once")
            by_name[name] = v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v
        unknown = set(by_name) - set(ir.indvar_names)
        if unknown:
            raise KeyError(f"unknown variables {sorted(unknown)}; they are {list(ir.indvar_names)}")
        arrays = [np.asarray(v, dtype=np.float64) for v in by_name.values()]
        try:
            arrays = np.broadcast_arrays(*arrays)
        except ValueError as exc:
            shapes = ", ".join(f"{name} {a.shape}" for name, a in zip(by_name, arrays))
            raise ValueError(f"the coordinates do not broadcast together: {shapes}; give "
                             "arrays of one shape (e.g. from np.meshgrid) or shapes that "
                             "broadcast") from exc
        given = dict(zip(by_name, arrays))
        shape = arrays[0].shape if arrays else ()
        out = {}
        # the networks' (a frozen result's copies keep the dtype and device of their run)
        dtype, device = placement(self.nets, ir)
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

    def relative_error(self, coords: Mapping[object, object], reference, *,
                       variable: object = None, norm: str = "l2") -> float:
        """The error of one dependent variable relative to reference values on points.

        Args:
            coords: The points, as for :meth:`predict`.
            reference: The reference values there (an array that broadcasts to the
                points' shape), for example an exact solution evaluated on ``coords``.
            variable: The dependent variable (its name, the SymPy function ``u`` or
                ``u(x, t)``); may be left out when the system has one.
            norm: ``"l2"`` (``‖u - ref‖₂ / ‖ref‖₂``, the papers' relative L2 error) or
                ``"l1"`` (``Σ|u - ref| / Σ|ref|``, NeuralPDE.jl's test metric).

        Returns:
            The relative error over all the points.

        Raises:
            ValueError: An unknown ``norm``, a reference of norm zero, or ``variable``
                left out for a system with several dependent variables.
            KeyError: ``variable`` is not a dependent variable, or cannot be evaluated
                from ``coords``.

        Examples:
            >>> import numpy as np
            >>> from symbolic_pinn import MLP, PhysicsInformedNN, discretize, gallery
            >>> from symbolic_pinn.training import GridTraining
            >>> system, exact, _ = gallery.get("poisson1d_sin4pi")
            >>> problem = discretize(system, PhysicsInformedNN(MLP(1, 1, [8]), GridTraining(0.1)))
            >>> result = problem.solve(5, progress=False)
            >>> xs = np.linspace(0, 1, 101)
            >>> error = result.relative_error({"x": xs}, exact(xs))
            >>> pred = result.predict({"x": xs})["u"]
            >>> bool(np.isclose(error, np.linalg.norm(pred - exact(xs)) / np.linalg.norm(exact(xs))))
            True
        """
        if norm not in ("l2", "l1"):
            raise ValueError(f"norm must be 'l2' or 'l1', got {norm!r}")
        names = [dv.name for dv in self.problem.ir.depvars]
        if isinstance(variable, AppliedUndef):  # u(x, t)
            variable = variable.func.__name__
        elif isinstance(variable, UndefinedFunction):  # u
            variable = variable.__name__
        if variable is not None and variable not in names:
            raise KeyError(f"unknown dependent variable {variable!r}; they are {names}")
        if variable is None:
            if len(names) != 1:
                raise ValueError(f"the system has the dependent variables {names}: "
                                 "say which one with variable=")
            variable = names[0]
        predicted = self.predict(coords)
        if variable not in predicted:
            raise KeyError(f"{variable!r} cannot be evaluated from {sorted(map(str, coords))}; "
                           f"the dependent variables are {names}")
        pred = predicted[variable]
        try:
            ref = np.broadcast_to(np.asarray(reference, dtype=np.float64), pred.shape)
        except ValueError as exc:
            raise ValueError(f"the reference values have shape {np.shape(reference)}, which "
                             f"does not broadcast to the points' shape {pred.shape}") from exc
        order = 2 if norm == "l2" else 1
        scale = np.linalg.norm(ref.ravel(), order)
        if scale == 0.0:
            raise ValueError(f"the reference values of {variable!r} are all zero: "
                             "a relative error is undefined")
        return float(np.linalg.norm((pred - ref).ravel(), order) / scale)

    def save(self, path: str | Path) -> Path:
        """Save networks, parameters, weights, history and, for a result of ``solve``, the
        training state needed to resume it (atomically: temp file, fsync, rename; an
        interrupted save leaves any previous file at ``path`` intact).

        Raises:
            StrategyError: The adaptive loss's ``state_dict()`` holds a value that the
                file could not be loaded back with (a NumPy number, say).
            FileNotFoundError: The folder of ``path`` does not exist.
        """
        path = Path(path)
        _check_writable(path)
        state = {
            "version": __version__,
            "source_hash": source_hash(self.problem.source),
            "nets": ([net.state_dict() for net in self.nets] if self._frozen is None
                     else self._frozen["states"]),
            "params": {k: v.detach().cpu() for k, v in self._params.items()},
            "adaptive_loss": _loadable(self.problem.adaptive_loss.state_dict()
                                       if self._frozen is None else self._frozen["adaptive_loss"],
                                       type(self.problem.adaptive_loss).__name__),
            "history": self.history,
        }
        if self.training is not None:
            state["training"] = self.training
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                torch.save(state, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: str | Path, problem) -> Result:
        """Load a saved result into ``problem`` (built from the same system and options).

        Raises:
            ValueError: The file was saved from a problem with different generated code,
                or from networks of other sizes (the code does not fix the networks), or
                it is not a file that symbolic_pinn saved; nothing is loaded then.
        """
        state = read_saved(path)
        if state["source_hash"] != source_hash(problem.source):
            raise ValueError(
                f"{path} was saved from a different problem (generated code "
                f"{state['source_hash']}, this one {source_hash(problem.source)})"
            )
        for i, (net, sd) in enumerate(zip(problem.nets, state["nets"], strict=True)):
            mine = {k: tuple(v.shape) for k, v in net.state_dict().items()}
            saved = {k: tuple(v.shape) for k, v in sd.items()}
            if mine != saved:
                diff = sorted(k for k in mine.keys() | saved.keys() if mine.get(k) != saved.get(k))
                raise ValueError(
                    f"{path}: network {i} does not match the saved one ("
                    + ", ".join(f"{k}: saved {saved.get(k)}, here {mine.get(k)}" for k in diff[:4])
                    + ("; ..." if len(diff) > 4 else "") + ")")
        freeze_results(problem)  # its earlier results keep their own state
        for net, sd in zip(problem.nets, state["nets"]):
            saved = next((t.dtype for t in sd.values() if t.is_floating_point()), None)
            if saved is not None:
                net.to(dtype=saved)  # the run's dtype: a float64 run predicts in float64
            net.load_state_dict(sd)
        for ident, value in state["params"].items():
            target = problem.params[ident]
            if value.dtype != target.dtype:  # likewise
                moved = value.detach().to(device=target.device)
                problem.params[ident] = (torch.nn.Parameter(moved) if target.requires_grad
                                         else moved)
                continue
            with torch.no_grad():
                target.copy_(value)
        problem.adaptive_loss.load_state_dict(state["adaptive_loss"])
        result = cls(problem, state["history"])
        result.training = state.get("training")
        if result.training is not None:
            result.rollbacks = list(result.training.get("rollbacks", []))
        return result


def _loadable(state, owner: str):
    """``state`` (a strategy's ``state_dict()``), if ``torch.load(weights_only=True)`` can
    read it back, which ``read_saved`` uses; else a StrategyError naming ``owner``, raised
    when saving rather than at a resume much later (NumPy numbers are the usual cause:
    ``numpy.float64`` is a ``float``, yet torch refuses it)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    try:
        torch.load(buffer, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch's UnpicklingError names the refused type
        from .errors import StrategyError

        raise StrategyError(
            f"{owner}.state_dict() holds a value that a saved file could not be loaded back "
            "with (torch.load(weights_only=True)); use tensors, Python numbers, strings, "
            "None, lists, tuples and dicts (convert NumPy values with .item() or "
            f"torch.from_numpy): {_refused(exc)}") from exc
    return state


def _refused(exc: Exception) -> str:
    """What torch's weights-only unpickler refused (``Unsupported global: ...``)."""
    found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
    return f"torch refuses {found.group(1)}" if found else str(exc).splitlines()[0]


def read_saved(path) -> dict:
    """The contents of a file written by :meth:`Result.save` (or a checkpoint); a
    ValueError naming ``path`` for any other file (an OSError, e.g. a missing file, stays
    as it is)."""
    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
    except OSError:  # missing, a directory, no permission: as it is
        raise
    except Exception as exc:  # torch raises whatever its unpickler met
        raise ValueError(f"{path} is not a file saved by symbolic_pinn (Result.save or a "
                         f"checkpoint): torch.load failed with {type(exc).__name__}: {exc}") from exc
    if not isinstance(state, dict) or not {"source_hash", "nets", "params"} <= state.keys():
        raise ValueError(f"{path} is not a file saved by symbolic_pinn (Result.save or a "
                         "checkpoint): it lacks the generated code's hash, networks or parameters")
    return state


def _check_writable(path: Path) -> None:
    """A file can be written at ``path``: its folder exists (checked before a save, and
    by ``solve`` before training, so a wrong ``checkpoint_path`` costs no run)."""
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {path.parent} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {path}: it is a folder")
