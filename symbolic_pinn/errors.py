"""The error hierarchy of symbolic_pinn.

Every error the library raises on purpose derives from :class:`SymbolicPinnError`,
so ``except SymbolicPinnError`` catches them all. Messages name the offending term
(``pde_0``, ``bc_2``) with its SymPy text, and the offending symbol.

Examples:
    >>> from symbolic_pinn.errors import ProblemError, SymbolicPinnError
    >>> issubclass(ProblemError, SymbolicPinnError) and issubclass(ProblemError, ValueError)
    True
"""

from __future__ import annotations

__all__ = [
    "SymbolicPinnError",
    "ProblemError",
    "CodegenError",
    "TrainingError",
    "StrategyError",
    "NonFiniteError",
    "NonFiniteWeightError",
    "SymbolicPinnWarning",
    "InteriorConditionWarning",
    "term_context",
    "lookalike",
]


class SymbolicPinnError(Exception):
    """Base class of every error raised by symbolic_pinn."""


class ProblemError(SymbolicPinnError, ValueError):
    """The PDE system is malformed: unknown symbols, bad domains, wrong arities.

    Raised by :class:`~symbolic_pinn.PDESystem` and by the analysis stage.
    """


class CodegenError(SymbolicPinnError, ValueError):
    """An expression cannot be printed as PyTorch code (an unsupported function)."""


class TrainingError(SymbolicPinnError, RuntimeError):
    """Training cannot start or go on: a bad network shape, a non-finite loss."""


class StrategyError(SymbolicPinnError, ValueError):
    """A training strategy or an adaptive-loss strategy is misconfigured or misbehaves."""


class NonFiniteError(TrainingError):
    """A loss, residual, gradient, adaptive weight or parameter became NaN or infinite.

    Attributes:
        step: The optimizer step it appeared in.
        term: The term it belongs to (``None`` when no single term is to blame).
        quantity: ``"loss"``, ``"gradient"``, ``"weight"`` or ``"parameters"``.
        value: The offending value (a float), when there is one.
        result: The partial :class:`~symbolic_pinn.result.Result` (set by ``solve``).
    """

    def __init__(self, message: str, *, step: int | None = None, term: str | None = None,
                 quantity: str | None = None, value: float | None = None) -> None:
        super().__init__(message)
        self.step, self.term, self.quantity, self.value = step, term, quantity, value
        self.losses: dict | None = None
        self.result = None


class NonFiniteWeightError(NonFiniteError, StrategyError):
    """An adaptive-loss strategy produced a non-finite weight (also a StrategyError)."""


class SymbolicPinnWarning(UserWarning):
    """Base class of the warnings symbolic_pinn issues about a likely mistake."""


class InteriorConditionWarning(SymbolicPinnWarning):
    """A condition fixes a coordinate strictly inside its interval (not on a face).

    Legitimate for an interface condition, so it is a warning, not an error; a point
    condition (every coordinate fixed, e.g. ``u(0.5, 0.5)``) is not flagged.
    """


def term_context(name: str, expr: object) -> str:
    """Return the ``term pde_0 (Eq(...))`` prefix used in error messages.

    Args:
        name: The term's name, e.g. ``"bc_2"``.
        expr: The term as the user wrote it (any object with a ``str``).

    Returns:
        A one-line description; newlines in user text are escaped.

    Examples:
        >>> term_context("pde_0", "Eq(u(x), 0)")
        'term pde_0 (Eq(u(x), 0))'
    """
    text = str(expr).encode("unicode_escape").decode("ascii")
    if len(text) > 200:
        text = text[:197] + "..."
    return f"term {name} ({text})"


def lookalike(obj: object, known) -> str:
    """A hint for an unknown variable that looks like a known one, else ``""``.

    SymPy tells symbols apart by name *and* assumptions, so ``Symbol("x", real=True)``
    is not ``Symbol("x")``; and a string is not a symbol.

    Examples:
        >>> import sympy as sp
        >>> x = sp.Symbol("x")
        >>> lookalike(sp.Symbol("x", real=True), [x])
        ' (x has the name of the variable x but other assumptions: use one Symbol object)'
        >>> lookalike("x", [x]), lookalike(sp.Symbol("y"), [x])
        (" (the string 'x': use the symbol x itself)", '')
    """
    name = obj if isinstance(obj, str) else getattr(obj, "name", None)
    for k in known:
        if name is not None and getattr(k, "name", None) == name and k != obj:
            if isinstance(obj, str):
                return f" (the string {obj!r}: use the symbol {k} itself)"
            return (f" ({obj} has the name of the variable {k} but other assumptions: "
                    "use one Symbol object)")
    return ""
