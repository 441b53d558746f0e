"""Safe Python identifiers for user-chosen symbol and function names.

A SymPy symbol may be called ``lambda``, ``x.y`` or even ``"); import os; ("``. Every
name that reaches generated code goes through :class:`Namer`, which keeps only ASCII
letters, digits and underscores, avoids keywords, builtins and the generated module's
own names, and never hands out the same identifier twice.
"""

from __future__ import annotations

import builtins
import keyword
import re

__all__ = ["Namer", "sanitize", "RESERVED", "GENERATED_PREFIXES"]

#: Names the generated module (``templates/module.py.j2``) binds or reads itself: a user
#: name equal to one of them gets a trailing ``_``, so it can never shadow it. The template
#: also defines ``residual_<term>``, ``point_residual_<term>``, ``evaluate_<variable>``,
#: ``shared_residuals_<k>`` and ``stacked_residuals_<k>`` (:data:`GENERATED_PREFIXES`); those
#: are read only where no user name is bound. The tests check this set against every name
#: the generated code defines, imports or reads.
RESERVED = frozenset(
    {
        # imports and module-level helpers and tables
        "math", "torch", "grad", "grad_and_value", "jacrev", "jet", "d", "coordinate", "TERMS", "KINDS",
        "RESIDUALS", "POINT_RESIDUALS", "EVALUATE", "SHARED", "all_residuals",
        "make_closure", "train_step",
        # function arguments, and the names the training closure binds
        "nets", "points", "params", "call", "point", "inputs", "run", "closure", "weights",
        "quadrature", "residuals", "point_weights", "losses", "loss",
        # kept so that earlier generated names stay the same
        "residual", "batch", "out", "DEPVARS", "INDVARS", "PARAMS",
    }
)  # fmt: skip

#: Prefixes of the per-term and per-variable functions of the generated module.
GENERATED_PREFIXES = ("residual_", "point_residual_", "evaluate_", "shared_residuals_",
                      "stacked_residuals_")

_NON_WORD = re.compile(r"\W", re.ASCII)
# Fixed at import; "_" is left out because interactive sessions add it to builtins.
_BUILTINS = frozenset(name for name in dir(builtins) if not name.startswith("_"))


def sanitize(name: str) -> str:
    """Turn any string into a plain identifier (not yet checked for clashes).

    Args:
        name: A user-chosen name.

    Returns:
        ``name`` with every character outside ``[A-Za-z0-9_]`` replaced by ``_``,
        a leading ``_`` before a digit, and a trailing ``_`` after a keyword,
        builtin or reserved name.

    Examples:
        >>> sanitize("x.y"), sanitize("lambda"), sanitize("2k"), sanitize("print")
        ('x_y', 'lambda_', '_2k', 'print_')
    """
    ident = _NON_WORD.sub("_", name) or "_"
    if ident[0].isdigit():
        ident = "_" + ident
    if (keyword.iskeyword(ident) or keyword.issoftkeyword(ident) or ident in RESERVED
            or ident in _BUILTINS):
        ident += "_"
    return ident


class Namer:
    """Hands out unique identifiers, deterministically, in request order.

    Examples:
        >>> namer = Namer()
        >>> namer.claim("u"), namer.claim("u"), namer.claim("lambda")
        ('u', 'u_2', 'lambda_')
    """

    def __init__(self, taken: set[str] | None = None) -> None:
        self._taken: set[str] = set(taken or ())

    def claim(self, name: str) -> str:
        """Return a fresh identifier based on ``name`` and mark it taken."""
        base = sanitize(name)
        ident, k = base, 2
        while ident in self._taken:
            ident = f"{base}_{k}"
            k += 1
        self._taken.add(ident)
        return ident

    def child(self) -> Namer:
        """A namer that starts with everything this one has taken."""
        return Namer(self._taken)
