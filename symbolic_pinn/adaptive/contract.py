"""The checks the trainer applies to what a strategy returns.

The same checks, with the same messages, apply to a standalone strategy (in
:class:`~symbolic_pinn.run.Run`) and to each component of a
:class:`~symbolic_pinn.adaptive.Compose` (there the component's class is named).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping

import torch

from ..errors import NonFiniteWeightError, StrategyError

__all__ = ["check_weights", "check_initial_weights", "check_point_weights", "check_needs_at"]


def _no_text(term: str) -> str:
    del term
    return ""


def check_weights(name: str, new, term_names, step: int,
                  text: Callable[[str], str] | None = None) -> dict[str, float]:
    """Check the term weights ``update`` returned and convert them to plain floats.

    Args:
        name: The strategy's class name, for the messages.
        new: What ``update`` returned: a mapping ``{term: weight}`` or ``None``.
        term_names: The run's terms.
        step: The optimizer step, for the messages.
        text: ``term -> " (term ... (Eq(...)))"``, the term's SymPy text for messages.

    Returns:
        ``{term: float}`` for the terms ``new`` sets (``{}`` for ``None``).

    Raises:
        StrategyError: Not a mapping, an unknown term, a weight that is not a single
            number, or a negative one.
        NonFiniteWeightError: A NaN or infinite weight.

    Examples:
        >>> check_weights("Mine", {"bc_0": torch.tensor(2.0)}, ("pde_0", "bc_0"), 0)
        {'bc_0': 2.0}
        >>> check_weights("Mine", {"bc_9": 1.0}, ("pde_0", "bc_0"), 0)
        Traceback (most recent call last):
        ...
        symbolic_pinn.errors.StrategyError: Mine set a weight for unknown term 'bc_9'; the terms are ['pde_0', 'bc_0']
    """
    text = text or _no_text
    if new is None:
        return {}
    if not isinstance(new, Mapping):
        raise StrategyError(f"{name}.update returned a {type(new).__name__}; it must return "
                            "a mapping {term: weight}, or None for no change")
    out = {}
    for term, value in new.items():
        if term not in term_names:
            raise StrategyError(f"{name} set a weight for unknown term {term!r}; the terms are "
                                f"{list(term_names)}")
        out[term] = _number(name, term, value, step, text)
    return out


def check_initial_weights(name: str, weights, term_names,
                          text: Callable[[str], str] | None = None) -> dict[str, float]:
    """Check what ``initial_weights`` returned: a weight for every term and no other.

    A missing term is refused rather than filled with 1.0 (it is usually a typo in a
    term's name); the values get the checks of :func:`check_weights`.

    Args:
        name: The strategy's class name, for the messages.
        weights: What ``initial_weights`` returned.
        term_names: The run's terms.
        text: ``term -> " (term ... (Eq(...)))"`` for the messages.

    Returns:
        ``{term: float}`` for every term, in the order of ``term_names``.

    Raises:
        StrategyError: As :func:`check_weights`, or a term without a weight.
        NonFiniteWeightError: A NaN or infinite weight.

    Examples:
        >>> check_initial_weights("Mine", {"bc_0": 2, "pde_0": 1}, ("pde_0", "bc_0"))
        {'pde_0': 1.0, 'bc_0': 2.0}
        >>> check_initial_weights("Mine", {"pde_0": 1.0}, ("pde_0", "bc_0"))
        Traceback (most recent call last):
        ...
        symbolic_pinn.errors.StrategyError: Mine.initial_weights gave no weight for the terms ['bc_0']; it must return {term: weight} for every term of ['pde_0', 'bc_0']
    """
    if not isinstance(weights, Mapping):
        raise StrategyError(f"{name}.initial_weights returned a {type(weights).__name__}; it "
                            "must return a mapping {term: weight} for every term")
    checked = check_weights(f"{name}.initial_weights", weights, term_names, 0, text)
    missing = [t for t in term_names if t not in checked]
    if missing:
        raise StrategyError(f"{name}.initial_weights gave no weight for the terms {missing}; it "
                            f"must return {{term: weight}} for every term of {list(term_names)}")
    return {t: checked[t] for t in term_names}


def check_point_weights(name: str, weights, residuals: Mapping[str, torch.Tensor]) -> None:
    """Check what ``point_weights`` returned (types and shapes; values are not read).

    Each weight must be a ``torch.Tensor`` of the residuals' shape ``(N, 1)`` (or a
    0-dimensional tensor or a Python number, applied to every point); NumPy arrays and
    lists are refused, not converted: convert them with ``torch.as_tensor`` on the
    residuals' device.

    Args:
        name: The strategy's class name, for the messages.
        weights: What ``point_weights`` returned.
        residuals: ``{term: (N, 1) tensor}``, the evaluation's residuals.

    Raises:
        StrategyError: Not a mapping, an unknown term, a weight that is not a tensor
            or a number, or a tensor of another shape.

    Examples:
        >>> r = {"pde_0": torch.zeros(3, 1)}
        >>> check_point_weights("Mine", {"pde_0": torch.ones(3, 1)}, r)
        >>> check_point_weights("Mine", {"pde_0": [1.0, 1.0, 1.0]}, r)
        Traceback (most recent call last):
        ...
        symbolic_pinn.errors.StrategyError: Mine gave point weights of type list for term pde_0; expected a torch.Tensor of shape (3, 1), one weight per point as a column (convert NumPy arrays with torch.as_tensor)
    """
    if not isinstance(weights, Mapping):
        raise StrategyError(
            f"{name}.point_weights returned {type(weights).__name__}; it must return a "
            "mapping {term: (N, 1) tensor} of point weights ({} for none: terms left out "
            "get weight 1)")
    for term, w in weights.items():  # shapes only: the values would need a host sync
        if term not in residuals:
            raise StrategyError(f"{name} gave point weights for unknown term {term!r}; the "
                                f"terms are {list(residuals)}")
        shape = tuple(residuals[term].shape)
        if isinstance(w, torch.Tensor):
            if w.dim() and tuple(w.shape) != shape:
                raise StrategyError(
                    f"{name} gave point weights of shape {tuple(w.shape)} for term {term}, "
                    f"whose residuals have shape {shape} (one weight per point, as a column)")
        elif not isinstance(w, numbers.Real):  # a number (NumPy's too) multiplies every point
            raise StrategyError(
                f"{name} gave point weights of type {type(w).__name__} for term {term}; "
                f"expected a torch.Tensor of shape {shape}, one weight per point as a column "
                "(convert NumPy arrays with torch.as_tensor)")


def check_needs_at(name: str, asked, needs, step: int) -> frozenset:
    """Check that ``needs_at(step)`` only narrows the declared ``needs``.

    Args:
        name: The strategy's class name, for the messages.
        asked: What ``needs_at(step)`` returned.
        needs: The strategy's declared ``needs``.
        step: The step, for the messages.

    Returns:
        ``asked`` as a frozenset.

    Raises:
        StrategyError: ``asked`` holds a need that ``needs`` does not.

    Examples:
        >>> from symbolic_pinn.adaptive import Need
        >>> sorted(n.value for n in check_needs_at("Mine", {Need.LOSSES}, {Need.LOSSES}, 0))
        ['losses']
    """
    asked = frozenset(asked)
    extra = sorted(getattr(n, "value", str(n)) for n in asked - frozenset(needs))
    if extra:
        raise StrategyError(
            f"{name}.needs_at({step}) asked for {', '.join(extra)}, beyond its needs "
            f"{sorted(getattr(n, 'value', str(n)) for n in needs)}; needs_at may only narrow "
            "needs (declare everything it may ask for in needs, which discretize checks "
            "against the hook place)")
    return asked


def _number(name: str, term: str, value, step: int, text) -> float:
    try:
        if isinstance(value, str | bytes):  # float("2") would accept it
            raise TypeError("a string")
        value = float(value.detach() if isinstance(value, torch.Tensor) else value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise StrategyError(f"{name} set the weight of term {term} to {value!r}, "
                            "which is not a number") from exc
    if not math.isfinite(value):
        raise NonFiniteWeightError(
            f"{name} set the weight of term {term} to {value} at step {step}{text(term)}",
            step=step, term=term, quantity="weight", value=value)
    if value < 0:
        raise StrategyError(f"{name} set the weight of term {term} to {value} at step "
                            f"{step}{text(term)}")
    return value
