"""Stage 2, analysis: validate a system and lower every derivative to a named symbol.

``analyze`` turns a :class:`~symbolic_pinn.problem.PDESystem` into a
:class:`~symbolic_pinn.ir.ProblemIR`. For each term it finds the *sites* (evaluations
of a dependent variable: ``u(x, t)``, ``u(0, t)``), the derivatives taken at each
site, and the derivative DAG that computes each of them once, from the one below it
(``u_xx`` from ``u_x``). ``Subs`` nodes (``u_t(x, 0)``) become derivatives at a site
with a constant argument. A coordinate that every site of a condition fixes to one
value (``t = 0`` in ``u(x, 0)``) is set by the condition in the generated code; a value
within :data:`FACE_TOLERANCE` of a face is that face (``0.1 + 0.2`` on ``[0, 0.3]``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import sympy as sp
from sympy.core.function import AppliedUndef

from .errors import (
    FreeCoordinateWarning,
    InteriorConditionWarning,
    ProblemError,
    lookalike,
    term_context,
)
from .ir import Coordinate, DepvarIR, DerivativeNode, ProblemIR, Site, TermIR
from .naming import Namer
from .problem import PDESystem, Term

__all__ = ["analyze", "FACE_TOLERANCE"]

#: A fixed coordinate within this fraction of its interval's length (``hi - lo``) of a face
#: is on that face, and takes the face's value: rounding (``0.1 + 0.2`` for ``0.3``) can
#: neither put a condition outside its domain nor just inside it.
FACE_TOLERANCE = 1e-12

SiteKey = tuple[str, tuple[sp.Basic, ...]]  # (depvar name, argument per slot)


def analyze(
    system: PDESystem,
    layout: Mapping[str, tuple[int, int]],
    scaling: Sequence[tuple[float, float] | None],
) -> ProblemIR:
    """Validate ``system`` and lower it to a :class:`ProblemIR`.

    Args:
        system: The PDE system.
        layout: ``{depvar name: (net index, output column)}``.
        scaling: ``(mean, std)`` or ``None`` per independent variable.

    Returns:
        The problem's IR.

    Raises:
        ProblemError: With the term and symbol at fault.

    Examples:
        >>> import sympy as sp
        >>> from symbolic_pinn.problem import PDESystem
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([u(x).diff(x, 2) + 1], [u(0)], {x: (0, 1)}, [x], [u(x)])
        >>> ir = analyze(s, {"u": (0, 0)}, [None])
        >>> ir.terms[0].expr, [n.name for n in ir.terms[0].derivatives]
        (u_xx + 1, ['u_x', 'u_xx'])
    """
    namer = Namer()
    indvars = tuple(namer.claim(v.name) for v in system.indvars)
    params = tuple((namer.claim(p.name), p.name) for p in system.params)
    depvars = tuple(
        DepvarIR(
            name=dv.func.__name__,
            ident=namer.claim(dv.func.__name__),
            args=tuple(system.indvars.index(a) for a in dv.args),
            net=layout[dv.func.__name__][0],
            column=layout[dv.func.__name__][1],
        )
        for dv in system.depvars
    )
    lowerer = _Lowerer(system, indvars, dict(zip(system.params, (p for p, _ in params))), depvars)
    taken = set(indvars) | {ident for ident, _ in params}
    terms = tuple(lowerer.term(term, Namer(taken)) for term in system.terms)
    return ProblemIR(
        indvars=indvars,
        indvar_names=tuple(v.name for v in system.indvars),
        bounds=tuple(system.domains[v] for v in system.indvars),
        scaling=tuple(scaling),
        depvars=depvars,
        params=params,
        terms=terms,
    )


class _Lowerer:
    """Lowers one term at a time; holds the system-wide lookups."""

    def __init__(self, system: PDESystem, indvars, param_idents, depvars) -> None:
        self.system = system
        self.columns = {v: i for i, v in enumerate(system.indvars)}
        self.indvar_idents = indvars
        self.param_idents = param_idents
        self.depvars = {dv.name: dv for dv in depvars}
        self.declared = {dv.func.__name__: dv for dv in system.depvars}
        self.single_letters = all(len(v) == 1 for v in indvars)

    # -- walking the expression ------------------------------------------------------
    def term(self, term: Term, namer: Namer) -> TermIR:
        self.where = term_context(term.name, term.source)
        self.uses: dict[sp.Dummy, tuple[SiteKey, tuple[int, ...]]] = {}
        expr = self.lower(term.residual, {})
        self._check_symbols(expr)
        if not self.uses and not expr.free_symbols & set(self.param_idents) and not expr.has(
                sp.nan, sp.zoo, sp.oo, -sp.oo):  # (the printer names a non-finite constant)
            raise ProblemError(
                f"{self.where}: involves none of the dependent variables "
                f"({', '.join(self.declared)}) and no parameter, so its loss is fixed: "
                "training cannot change it")
        if term.kind == "bc":
            self._warn_interior()
            self._warn_free(expr)
        return self._build(term, expr, namer)

    def _warn_free(self, expr: sp.Basic) -> None:
        """Warn when a site of a condition fixes a coordinate that the condition also
        uses freely, outside the dependent variables' arguments (``u(0, t) = sin(x)``;
        :class:`FreeCoordinateWarning`). A point site (every argument a number) is
        flagged only when every site is one (``u(0) = x``): ``u(x, 0) = x u(0, 0)`` is a
        condition on the face ``t = 0``. Coordinates fed to the sites alone are not
        flagged (``u(x, 2) + v(1, y)`` couples two edges point by point)."""
        sites = [key for key, _ in self.uses.values()]
        free = {s for s in expr.free_symbols if s in self.columns}
        points_only = all(a.is_number for _, args in sites for a in args)
        found = []
        for name, args in sites:
            if not points_only and all(a.is_number for a in args):
                continue
            for slot, arg in enumerate(args):
                var = self.declared[name].args[slot]
                if arg.is_number and var in free:
                    lo, hi = self.system.domains[var]
                    text = (f"{name}({', '.join(_fmt(a) for a in args)}) fixes {var} = "
                            f"{_fmt(arg)} but the condition also uses {var} freely, so its "
                            f"points range over all of {var} in [{_fmt(sp.sympify(lo))}, "
                            f"{_fmt(sp.sympify(hi))}]")
                    if text not in found:
                        found.append(text)
        if found:
            warnings.warn(
                f"{self.where}: {'; '.join(found)}; check the condition (a point value "
                "inside a condition on a face, u(x, 0) = x*u(0, 0), is not flagged)",
                FreeCoordinateWarning, stacklevel=2)

    def _warn_interior(self) -> None:
        """Warn when a site of a condition fixes a coordinate strictly inside its interval
        while leaving another free (``u(0.5, t)`` on ``x in [0, 1]``): not on a face, so
        likely a mistake, though legitimate for an interface condition. A point condition
        (every argument a number) is not flagged."""
        found = []
        for (name, args), _ in self.uses.values():
            if all(a.is_number for a in args):
                continue
            for slot, arg in enumerate(args):
                var = self.declared[name].args[slot]
                lo, hi = self.system.domains[var]
                if arg.is_number and lo < float(arg) < hi:
                    text = f"{name}({', '.join(_fmt(a) for a in args)}) fixes {var} = {_fmt(arg)}"
                    if text not in found:
                        found.append(text)
        if found:
            warnings.warn(
                f"{self.where}: {'; '.join(found)}, strictly inside its domain, not on the "
                "boundary; fine for an interface condition, otherwise check the condition "
                "(a point condition fixing every variable is not flagged)",
                InteriorConditionWarning, stacklevel=2)

    def lower(self, e: sp.Basic, subs: dict[sp.Symbol, sp.Basic]) -> sp.Basic:
        if isinstance(e, AppliedUndef):
            return self._use(e, subs, None)
        if isinstance(e, sp.Derivative):
            return self._derivative(e, subs)
        if isinstance(e, sp.Subs):  # by its own variables: SymPy's cache may hand back an
            inner = dict(subs)  # equal Subs that names them differently (they are dummies)
            for var, point in zip(e.variables, e.point):
                inner[var] = self._subs_point(var, point.xreplace(subs))
            return self.lower(e.expr, inner)
        if isinstance(e, sp.Symbol):
            return subs.get(e, e)
        if not e.args:
            return e
        return e.func(*(self.lower(a, subs) for a in e.args))

    def _subs_point(self, var: sp.Basic, point: sp.Basic) -> sp.Basic:
        if point in self.columns or point.is_number:
            return point
        raise ProblemError(
            f"{self.where}: Subs sets {var} to {point}; only numbers or independent "
            "variables are supported"
        )

    def _derivative(self, e: sp.Derivative, subs) -> sp.Basic:
        for var, _ in e.variable_count:
            if var not in self.columns and var not in subs:  # or a variable a Subs binds
                raise ProblemError(
                    f"{self.where}: derivative of {e.expr} with respect to {var}, "
                    f"which is not an independent variable{lookalike(var, self.columns)}"
                )
        if not isinstance(e.expr, AppliedUndef):
            done = e.doit()
            if done == e:
                hint = ""
                if e.expr.has(sp.re, sp.im):  # Abs(u)' = (re(u) re(u)' + im(u) im(u)')/|u|
                    hint = ("; SymPy takes u complex unless told otherwise, so a derivative "
                            "of Abs(u) or sign(u) goes through re(u) and im(u): declare the "
                            "function real, u = sp.Function('u', real=True)")
                raise ProblemError(f"{self.where}: cannot expand the derivative {e}{hint}")
            return self.lower(done, subs)
        orders = [0] * len(e.expr.args)
        for var, count in e.variable_count:
            if not (count.is_Integer and count > 0):
                raise ProblemError(
                    f"{self.where}: derivative of {e.expr} with respect to {var} has order "
                    f"{count}; orders must be positive integers"
                )
            if var not in e.expr.args:
                return sp.S.Zero  # u(x) does not depend on t
            orders[e.expr.args.index(var)] += int(count)
        return self._use(e.expr, subs, tuple(orders))

    def _use(self, app: AppliedUndef, subs, orders: tuple[int, ...] | None) -> sp.Dummy:
        name = app.func.__name__
        if name not in self.declared:
            raise ProblemError(
                f"{self.where}: function {name} is not a dependent variable "
                f"(declared: {', '.join(self.declared) or 'none'})"
            )
        declared = self.declared[name]
        if len(app.args) != len(declared.args):
            raise ProblemError(
                f"{self.where}: {app} has {len(app.args)} argument(s); "
                f"{name} is declared as {declared}"
            )
        args = []
        for slot, arg in enumerate(app.args):
            arg = arg.xreplace(subs)
            if arg in self.columns:
                var = declared.args[slot]
                (lo, hi), (a_lo, a_hi) = self.system.domains[var], self.system.domains[arg]
                if arg != var and not lo <= a_lo <= a_hi <= hi:
                    raise ProblemError(
                        f"{self.where}: {app} feeds {arg} in [{a_lo}, {a_hi}] to the slot "
                        f"of {var}, whose domain is [{lo}, {hi}]: the network would be "
                        "evaluated outside its domain"
                    )
                args.append(arg)
            elif arg.is_number and arg.is_real:
                var = declared.args[slot]
                lo, hi = self.system.domains[var]
                value = _on_face(float(arg), lo, hi)
                if not lo <= value <= hi:
                    raise ProblemError(
                        f"{self.where}: {app} sets {var} = {arg}, outside its domain "
                        f"[{lo}, {hi}]"
                    )
                args.append(sp.Float(value))
            else:
                raise ProblemError(
                    f"{self.where}: argument {arg} of {app} must be an independent "
                    f"variable or a real number{lookalike(arg, self.columns)}"
                )
        symbols = [a for a in args if not a.is_number]
        if len(set(symbols)) != len(symbols):
            raise ProblemError(f"{self.where}: {app} repeats an argument; each argument "
                               "must be a different variable or a number")
        placeholder = sp.Dummy(name)
        key = (name, tuple(args))
        self.uses[placeholder] = (key, orders or (0,) * len(args))
        return placeholder

    def _check_symbols(self, expr: sp.Basic) -> None:
        for sym in sorted(expr.free_symbols - set(self.uses), key=str):
            if sym not in self.columns and sym not in self.param_idents:
                raise ProblemError(
                    f"{self.where}: unknown symbol {sym}; it is neither an independent "
                    "variable nor a parameter (pass parameters as PDESystem(params={...}))"
                    f"{lookalike(sym, [*self.columns, *self.system.params])}"
                )

    # -- building the term's IR -----------------------------------------------------
    def _build(self, term: Term, expr: sp.Basic, namer: Namer) -> TermIR:
        keys = sorted({key for key, _ in self.uses.values()}, key=_key_order)
        fixed = self._faces(keys, expr)
        keys = sorted({self._unfix(k, fixed) for k in keys}, key=_key_order)
        ident = {v: self.indvar_idents[c] for v, c in self.columns.items()}
        used_cols = {self.columns[a] for _, args in keys for a in args if a in self.columns}
        used_cols |= {self.columns[s] for s in expr.free_symbols if s in self.columns}
        used_cols |= set(fixed)
        coords: dict[str, Coordinate] = {}
        for var, col in self.columns.items():
            if col in used_cols:
                coords[ident[var]] = Coordinate(ident[var], col, fixed.get(col), False)
        per_depvar = {}
        for name, _ in keys:
            per_depvar[name] = per_depvar.get(name, 0) + 1
        sites: dict[SiteKey, Site] = {}
        counter: dict[str, int] = {}
        for key in keys:
            sites[key] = self._site(key, per_depvar, counter, ident, coords, namer)
        nodes: dict[tuple[SiteKey, tuple[int, ...]], DerivativeNode] = {}
        replace = {}
        for placeholder, (key, orders) in self.uses.items():
            key = self._unfix(key, fixed)
            replace[placeholder] = sp.Symbol(self._node(key, orders, sites, nodes, namer))
        for node in nodes.values():
            coords[node.wrt] = _with_grad(coords[node.wrt])
        expr = expr.xreplace(replace).xreplace(
            {v: sp.Symbol(ident[v]) for v in self.columns}
        ).xreplace({p: sp.Symbol(i) for p, i in self.param_idents.items()})
        free = tuple(sorted(c for c in used_cols if c not in fixed))
        return TermIR(
            name=term.name,
            kind=term.kind,
            text=str(term.source),
            expr=expr,
            coordinates=tuple(coords.values()),
            sites=tuple(sites.values()),
            derivatives=tuple(sorted(nodes.values(), key=lambda n: _node_order(n, nodes))),
            params=tuple(
                i for p, i in self.param_idents.items() if sp.Symbol(i) in expr.free_symbols
            ),
            free=free,
            fixed=tuple(sorted(fixed.items())),
        )

    def _faces(self, keys: list[SiteKey], expr: sp.Basic) -> dict[int, float]:
        """Columns every site fixes to one and the same value: the condition's face."""
        values: dict[int, set] = {}
        free_cols = {self.columns[s] for s in expr.free_symbols if s in self.columns}
        for name, args in keys:
            for slot, arg in enumerate(args):
                col = self.columns[self.declared[name].args[slot]]
                if arg in self.columns:
                    free_cols.add(self.columns[arg])
                values.setdefault(col, set()).add(arg)
        return {
            col: float(next(iter(vals)))
            for col, vals in values.items()
            if col not in free_cols and len(vals) == 1 and next(iter(vals)).is_number
        }

    def _unfix(self, key: SiteKey, fixed: dict[int, float]) -> SiteKey:
        name, args = key
        decl = self.declared[name].args
        return name, tuple(
            decl[slot] if self.columns[decl[slot]] in fixed and arg.is_number else arg
            for slot, arg in enumerate(args)
        )

    def _site(self, key, per_depvar, counter, ident, coords, namer) -> Site:
        name, args = key
        dv = self.depvars[name]
        decl = self.declared[name].args
        if per_depvar[name] == 1:
            site_name = namer.claim(dv.ident)
        else:
            counter[name] = counter.get(name, 0) + 1
            site_name = namer.claim(f"{dv.ident}_s{counter[name]}")
        arg_idents = []
        for slot, arg in enumerate(args):
            if arg in self.columns:
                arg_idents.append(ident[arg])
            else:  # a constant: one tensor per (column, value), named after the first site
                # using it, so that sites at one point share their network evaluation
                col, value = self.columns[decl[slot]], float(arg)
                leaf = next((c.name for c in coords.values() if c.column == col
                             and c.value == value), None)
                if leaf is None:
                    leaf = namer.claim(f"{ident[decl[slot]]}_{site_name}")
                    coords[leaf] = Coordinate(leaf, col, value, False)
                arg_idents.append(leaf)
        text = f"{name}({', '.join(_fmt(a) for a in args)})"
        columns = tuple(self.columns[v] for v in decl)  # the net's inputs are scaled per slot
        return Site(site_name, namer.claim(f"f_{site_name}"), text, tuple(arg_idents),
                    columns, dv.net, dv.column)

    def _node(self, key, orders, sites, nodes, namer) -> str:
        """Name of the derivative ``orders`` at a site, adding its DAG chain as needed."""
        site = sites[key]
        if not any(orders):
            return site.name
        if (key, orders) in nodes:
            return nodes[(key, orders)].name
        slot = max(i for i, k in enumerate(orders) if k)  # peel the last slot first
        parent_orders = tuple(k - (i == slot) for i, k in enumerate(orders))
        parent = self._node(key, parent_orders, sites, nodes, namer)
        letters = [  # named after the variable differentiated, or the slot's own variable
            self.indvar_idents[self.columns[a] if a in self.columns else site.columns[i]]
            for i, (a, k) in enumerate(zip(key[1], orders)) for _ in range(k)
        ]
        suffix = "".join(letters) if self.single_letters else "_".join(letters)
        node_name = namer.claim(f"{site.name}_{suffix}")
        node = DerivativeNode(node_name, namer.claim(f"f_{node_name}"), parent, site.name,
                              site.args[slot], slot)
        nodes[(key, orders)] = node
        return node.name


def _on_face(value: float, lo: float, hi: float) -> float:
    """``value``, or the face of ``[lo, hi]`` it is within :data:`FACE_TOLERANCE` of."""
    return next((f for f in (lo, hi) if abs(value - f) <= FACE_TOLERANCE * (hi - lo)), value)


def _with_grad(c: Coordinate) -> Coordinate:
    return Coordinate(c.name, c.column, c.value, True)


def _fmt(arg: sp.Basic) -> str:
    if arg.is_number:
        value = float(arg)
        return str(int(value)) if value.is_integer() else repr(value)
    return str(arg)


def _key_order(key: SiteKey):
    return key[0], tuple((0, str(a)) if not a.is_number else (1, float(a)) for a in key[1])


def _node_order(node: DerivativeNode, nodes) -> tuple:
    for (key, orders), n in nodes.items():
        if n is node:
            return _key_order(key), sum(orders), orders
    raise AssertionError(node)
