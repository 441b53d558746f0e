"""Stage 1, the problem: a PDE system written with SymPy objects."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import sympy as sp
from sympy.core.function import AppliedUndef

from .errors import ProblemError, lookalike, term_context

__all__ = ["PDESystem", "Term"]


@dataclass(frozen=True)
class Term:
    """One equation or condition of a system, named and reduced to "= 0" form.

    Attributes:
        name: ``pde_<i>`` for equations, ``bc_<i>`` for conditions.
        kind: ``"pde"`` or ``"bc"``.
        source: The object the user gave (an ``Eq`` or an expression).
        residual: ``lhs - rhs`` (SymPy), before any lowering.

    Examples:
        :class:`PDESystem` makes one per equation and condition; an expression is its
        own residual:

        >>> import sympy as sp
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), sp.Eq(u(1), 2)], {x: (0, 1)},
        ...               [x], [u(x)])
        >>> for term in s.terms:
        ...     print(term.name, term.kind, term.residual)
        pde_0 pde Derivative(u(x), (x, 2)) + 1
        bc_0 bc u(0)
        bc_1 bc u(1) - 2
        >>> s.terms[2].source
        Eq(u(1), 2)
    """

    name: str
    kind: str
    source: object
    residual: sp.Expr


def _as_residual(name: str, item: object) -> sp.Expr:
    if isinstance(item, sp.Equality):
        return item.lhs - item.rhs
    if isinstance(item, bool | sp.logic.boolalg.BooleanAtom):
        raise ProblemError(
            f"{term_context(name, item)}: the equation is trivially {bool(item)}; "
            "SymPy evaluated it before symbolic_pinn saw it. A common cause: a derivative "
            "of a function already at a point, u(0, t).diff(x), is 0; write a derivative "
            "at a point as u(x, t).diff(x).subs(x, 0). Otherwise write the equation with "
            "evaluate=False or drop it"
        )
    if isinstance(item, sp.Basic) and not isinstance(item, sp.Expr):
        raise ProblemError(
            f"{term_context(name, item)}: expected sympy.Eq or an expression meaning '= 0', "
            f"got a {type(item).__name__}"
        )
    try:
        expr = sp.sympify(item, strict=True)
    except (sp.SympifyError, TypeError) as exc:
        raise ProblemError(
            f"{term_context(name, item)}: expected sympy.Eq or an expression meaning '= 0', "
            f"got {type(item).__name__}"
        ) from exc
    if not isinstance(expr, sp.Expr):
        raise ProblemError(f"{term_context(name, item)}: not an equation or an expression")
    if getattr(expr, "is_Matrix", False):
        raise ProblemError(
            f"{term_context(name, item)}: a matrix; give one equation per entry"
        )
    if expr == 0:
        raise ProblemError(
            f"{term_context(name, item)}: the residual is identically 0, so the term "
            "constrains nothing; SymPy may have simplified it away (a derivative with "
            "respect to a symbol the function does not depend on is 0)"
        )
    return expr


def _items(what: str, value: object) -> tuple:
    """A list argument; a lone SymPy object (one equation, one symbol) counts as a list of
    one."""
    if isinstance(value, sp.Basic):
        return (value,)
    if value is None or isinstance(value, str):
        raise ProblemError(f"{what} must be a list, got {value!r}")
    try:
        return tuple(value)  # type: ignore[arg-type]
    except TypeError as exc:
        raise ProblemError(f"{what} must be a list, got a {type(value).__name__}") from exc


def _bound(var: sp.Symbol, value: object) -> float:
    try:
        number = float(sp.sympify(value))
    except (TypeError, ValueError, sp.SympifyError) as exc:
        raise ProblemError(f"domain of {var}: bound {value!r} is not a number") from exc
    if not math.isfinite(number):
        raise ProblemError(
            f"domain of {var}: bound {value!r} is not finite; only bounded boxes are supported"
        )
    return number


class PDESystem:
    """A system of PDEs with boundary/initial conditions on a box.

    Args:
        eqs: Equations, each a ``sympy.Eq`` or an expression meaning "= 0".
        bcs: Conditions, in the same forms: on a face (``u(0, t)``), on a derivative
            (through ``Subs``), Robin combinations, periodic (``u(0, t) - u(1, t)``), or
            at a point.
        domains: ``{variable: (lower, upper)}`` for every independent variable.
        indvars: Independent variables, in the column order of point arrays.
        depvars: Dependent variables as applications, e.g. ``[u(x, t), v(x)]``.
        params: Parameters of the equations with their values, ``{a: 1.0}``. With
            ``param_estim=True`` on the PINN the values are initial guesses.

    A list argument may be given as its one item (``PDESystem(eq, bc, {x: (0, 1)}, x,
    u(x))``). Bad input raises :class:`~symbolic_pinn.errors.ProblemError`.

    Examples:
        >>> import sympy as sp
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> system = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [sp.Eq(u(0), 0), sp.Eq(u(1), 0)],
        ...                    domains={x: (0, 1)}, indvars=[x], depvars=[u(x)])
        >>> [term.name for term in system.terms]
        ['pde_0', 'bc_0', 'bc_1']
    """

    def __init__(
        self,
        eqs: Iterable[object],
        bcs: Iterable[object],
        domains: Mapping[sp.Symbol, tuple[float, float]],
        indvars: Iterable[sp.Symbol],
        depvars: Iterable[sp.Expr],
        params: Mapping[sp.Symbol, float] | None = None,
    ) -> None:
        self.indvars: tuple[sp.Symbol, ...] = _items("indvars", indvars)
        self.depvars: tuple[sp.Expr, ...] = _items("depvars", depvars)
        self._check_variables()
        for what, value in (("domains", domains), ("params", params or {})):
            if not isinstance(value, Mapping):
                raise ProblemError(f"{what} must be a mapping {{symbol: ...}}, got a "
                                   f"{type(value).__name__}")
        self.domains: dict[sp.Symbol, tuple[float, float]] = self._check_domains(domains)
        self.params: dict[sp.Symbol, float] = self._check_params(params or {})
        eqs, bcs = list(_items("eqs", eqs)), list(_items("bcs", bcs))
        if not eqs:
            raise ProblemError("the system has no equation")
        self.terms: tuple[Term, ...] = tuple(
            Term(f"{kind}_{i}", kind, item, _as_residual(f"{kind}_{i}", item))
            for kind, items in (("pde", eqs), ("bc", bcs))
            for i, item in enumerate(items)
        )

    @property
    def term_names(self) -> list[str]:
        """Names of all terms: equations first, then conditions."""
        return [term.name for term in self.terms]

    def _check_variables(self) -> None:
        if not self.indvars:
            raise ProblemError("the system has no independent variable")
        for var in self.indvars:
            if not isinstance(var, sp.Symbol):
                raise ProblemError(f"independent variable {var!r} is not a sympy.Symbol")
        if len(set(self.indvars)) != len(self.indvars):
            raise ProblemError(f"independent variables repeat: {list(self.indvars)}")
        if not self.depvars:
            raise ProblemError("the system has no dependent variable")
        seen: set[str] = set()
        for dv in self.depvars:
            if not isinstance(dv, AppliedUndef):
                raise ProblemError(
                    f"dependent variable {dv!r} must be an applied undefined function "
                    "such as u(x, t)"
                )
            name = dv.func.__name__
            if name in seen:
                raise ProblemError(f"dependent variable {name} is declared twice")
            seen.add(name)
            for arg in dv.args:
                if arg not in self.indvars:
                    raise ProblemError(
                        f"dependent variable {dv}: argument {arg} is not an independent variable"
                        f"{lookalike(arg, self.indvars)}"
                    )
            if len(set(dv.args)) != len(dv.args):
                raise ProblemError(f"dependent variable {dv}: an argument repeats")

    def _check_domains(self, domains: Mapping) -> dict[sp.Symbol, tuple[float, float]]:
        out = {}
        for var, bounds in domains.items():
            if var not in self.indvars:
                raise ProblemError(f"domain given for {var}, which is not an independent "
                                   f"variable{lookalike(var, self.indvars)}")
            try:
                lo, hi = bounds
            except (TypeError, ValueError) as exc:
                raise ProblemError(f"domain of {var}: expected (lower, upper)") from exc
            lo, hi = _bound(var, lo), _bound(var, hi)
            if not lo < hi:
                raise ProblemError(f"domain of {var}: empty or inverted interval ({lo}, {hi})")
            out[var] = (lo, hi)
        for var in self.indvars:
            if var not in out:
                raise ProblemError(f"independent variable {var} has no domain")
        return out

    def _check_params(self, params: Mapping) -> dict[sp.Symbol, float]:
        out = {}
        for sym, value in params.items():
            if not isinstance(sym, sp.Symbol):
                raise ProblemError(f"parameter {sym!r} is not a sympy.Symbol")
            if sym in self.indvars:
                raise ProblemError(f"parameter {sym} is also an independent variable")
            try:
                number = float(value)
            except (TypeError, ValueError) as exc:
                raise ProblemError(f"parameter {sym}: value {value!r} is not a number") from exc
            if not math.isfinite(number):
                raise ProblemError(f"parameter {sym}: value {value!r} is not finite")
            out[sym] = number
        return out

    def __repr__(self) -> str:
        return (
            f"PDESystem(terms={self.term_names}, indvars={list(self.indvars)}, "
            f"depvars={list(self.depvars)})"
        )
