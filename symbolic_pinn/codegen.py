"""Stage 3b, code generation: render a ProblemIR as one Python module with jinja2.

The templates in ``templates/`` hold the layout; every mathematical string comes from
:class:`~symbolic_pinn.printing.TorchPrinter`. The environment uses ``StrictUndefined``
so a template that asks for a missing value fails loudly, and the result is gated by
``ast.parse``. The same IR always renders to byte-identical text.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__
from .autograd_calls import (
    autograd_call,
    derivative_calls,
    input_calls,
    merged_term,
    sharing_groups,
)
from .errors import CodegenError
from .ir import ProblemIR, Site, TermIR
from .jet_calls import batched_input, shared_groups, term_jets
from .naming import Namer
from .point_calls import point_evaluations
from .printing import scaled_input, torch_code
from .stacking import stacked_groups

if TYPE_CHECKING:
    import jinja2

__all__ = ["generate", "template_dir", "GenerationOptions", "COMPILE_MODES"]

#: The ``torch.compile`` modes ``compile`` may name besides ``True`` (torch's default
#: mode): ``"reduce-overhead"`` replays the compiled graphs as CUDA graphs on a GPU.
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@dataclass(frozen=True, slots=True)
class GenerationOptions:
    """Options that change the generated text (and therefore its hash).

    Attributes:
        hook: Where the adaptive-loss hook is called: ``"losses"`` (inside the closure,
            between the per-term losses and their weighted sum) or ``"step"`` (after
            the optimizer step).
        hook_owner: Class name of the strategy, for the comments above its calls.
        quadrature: Whether losses are quadrature sums over points rather than means.
        point_weights: Whether the strategy weights single points (its weights are
            fetched at every closure evaluation).
        residuals: Whether the hook receives the per-point residuals.
        after_step: Whether the strategy runs after every optimizer step.
        additional_loss: Whether the closure adds the user's ``additional_loss``.
        derivatives: How the batched residuals get input derivatives: ``"autograd"``
            (the derivative DAG's first-order steps, one ``torch.autograd.grad`` call
            for those that differentiate one value: ``u_t, u_x = d(u, t, x)``) or
            ``"taylor"`` (every network evaluation and its derivatives in one forward
            pass of :func:`symbolic_pinn.jets.jet`; the networks must be
            :class:`~symbolic_pinn.MLP` s, which ``discretize`` checks).
        compile: Whether ``all_residuals`` (every term's batched residual, one loss
            evaluation) is wrapped in ``torch.compile``: ``True`` in torch's default
            mode, or one of :data:`COMPILE_MODES`; needs ``"taylor"``.
        per_term_gradients: Whether the strategy takes one gradient per term, a second
            backward through the residuals (:attr:`~symbolic_pinn.adaptive.Need.GRADIENTS`).
            With ``compile``, ``solve`` then compiles them without AOTAutograd's donated
            buffers, so the generated source says so, and such a problem never shares
            its compiled residuals with one compiled with them.
        shared_points: Whether the training strategy may give several terms equal points
            (:attr:`~symbolic_pinn.training.TrainingStrategy.shares_points`); then terms
            that can share their ``jet`` calls (with ``"taylor"``:
            :func:`symbolic_pinn.jet_calls.shared_groups`), or their network calls and
            derivatives (with ``"autograd"``:
            :func:`symbolic_pinn.autograd_calls.merged_term`), get one function that
            ``all_residuals`` calls when their points are one tensor.
        stack_calls: Whether terms at different points whose one ``jet`` call each
            asks the same network for the same channels (the conditions on the faces of
            a domain, typically; groups of shared points on different faces stack with
            each other likewise) are evaluated by one call on their stacked rows
            (:func:`symbolic_pinn.stacking.stacked_groups`). On the ``"autograd"`` path,
            terms whose one network call reads the same values and derivatives are
            stacked likewise: one call of the network on their rows, then one
            derivative DAG (:mod:`symbolic_pinn.autograd_calls`).

    Examples:
        >>> import sympy as sp
        >>> from symbolic_pinn.analysis import analyze
        >>> from symbolic_pinn.problem import PDESystem
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([u(x).diff(x, 2) + 1], [u(0), u(1)], {x: (0, 1)}, [x], [u(x)])
        >>> ir = analyze(s, {"u": (0, 0)}, [None])
        >>> GenerationOptions().derivatives, GenerationOptions().hook
        ('autograd', 'losses')

        With ``derivatives="taylor"`` the residual gets ``u_xx`` from one ``jet`` call
        instead of two ``autograd.grad`` steps:

        >>> source = generate(ir, GenerationOptions(derivatives="taylor"))
        >>> body = source.split("def residual_pde_0")[1].split("def point_residual")[0]
        >>> for line in body.strip().splitlines()[-3:]:
        ...     print(line)
            x = points[:, 0:1]
            u_xx = jet(nets[0], x, ((2,),), scale=(1.0,), column=0)[0]  # u(x)
            return u_xx + 1

        ``compile=True`` needs the taylor path:

        >>> from symbolic_pinn.errors import CodegenError
        >>> try:
        ...     generate(ir, GenerationOptions(compile=True))
        ... except CodegenError as exc:
        ...     print(str(exc).split(":")[0])
        compile=True needs derivatives='taylor'
    """

    hook: str = "losses"
    hook_owner: str = "NonAdaptiveLoss"
    quadrature: bool = False
    point_weights: bool = False
    residuals: bool = False
    after_step: bool = False
    additional_loss: bool = False
    derivatives: str = "autograd"
    compile: bool | str = False
    per_term_gradients: bool = False
    shared_points: bool = True
    stack_calls: bool = True


def template_dir() -> Path:
    """Where the templates are: inside the installed package, or at the repository top.

    Raises:
        CodegenError: Neither place holds ``module.py.j2``.

    Examples:
        >>> (template_dir() / "module.py.j2").is_file()
        True
    """
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / "module.py.j2").is_file():
            return candidate
    raise CodegenError(f"templates not found next to {here}; the installation is incomplete")


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2  # on first use: a third of the package's import time (docs/performance.md)

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["comment"] = _comment
    env.filters["derivative_calls"] = derivative_calls
    return env


def _comment(text: object) -> str:
    """Make user text safe in a comment or docstring: one line, ASCII, quotes escaped."""
    return str(text).encode("unicode_escape").decode("ascii").replace('"', '\\"')


def generate(ir: ProblemIR, options: GenerationOptions = GenerationOptions()) -> str:
    """Render the generated module's source.

    Args:
        ir: The analysed problem.
        options: Generation options.

    Returns:
        The module's source text.

    Raises:
        CodegenError: An expression cannot be printed (naming the term), or the
            rendered text is not valid Python.

    Examples:
        >>> import sympy as sp
        >>> from symbolic_pinn.analysis import analyze
        >>> from symbolic_pinn.problem import PDESystem
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([u(x).diff(x, 2) + 1], [u(0), u(1)], {x: (0, 1)}, [x], [u(x)])
        >>> ir = analyze(s, {"u": (0, 0)}, [None])
        >>> source = generate(ir)
        >>> source == generate(ir)  # the same IR renders to the same text
        True
        >>> body = source.split("def residual_pde_0")[1].split("def point_residual")[0]
        >>> for line in body.strip().splitlines()[-5:]:  # the derivative DAG, with autograd
        ...     print(line)
            x = coordinate(points[:, 0:1])
            u = nets[0](x)[:, 0:1]  # u(x)
            u_x = d(u, x)
            u_xx = d(u_x, x)
            return u_xx + 1
        >>> [line for line in source.splitlines() if line.startswith("TERMS")]
        ['TERMS = ("pde_0", "bc_0", "bc_1")']
    """
    if options.derivatives not in ("autograd", "taylor"):
        raise CodegenError(f"derivatives must be 'autograd' or 'taylor', got "
                           f"{options.derivatives!r}")
    if not isinstance(options.compile, bool) and options.compile not in COMPILE_MODES:
        raise CodegenError(f"compile must be a bool or one of {COMPILE_MODES}, got "
                           f"{options.compile!r}")
    if options.compile and options.derivatives != "taylor":
        raise CodegenError(f"compile={options.compile!r} needs derivatives='taylor': "
                           "torch.compile cannot differentiate through nested autograd.grad "
                           "calls")
    taylor = options.derivatives == "taylor"
    terms = [_term_context(ir, term, taylor) for term in ir.terms]
    shared = ((shared_groups(ir, terms) if taylor else _shared_autograd(ir, terms))
              if options.shared_points else [])
    stacked = stacked_groups(ir, terms, shared) if options.stack_calls else []
    source = _environment().get_template("module.py.j2").render(
        version=__version__,
        ir=ir,
        terms=terms,
        depvars=[_depvar_context(ir, dv) for dv in ir.depvars],
        options=options,
        shared=shared,
        stacked=stacked,
        uses=_uses(terms, stacked),
    )
    try:
        ast.parse(source)
    except SyntaxError as exc:  # a bug in a template, never the user's fault
        raise CodegenError(f"generated module is not valid Python: {exc}") from exc
    return source


def _uses(terms: list[dict], stacked: list[dict]) -> dict[str, bool]:
    """Which imports and helpers the module needs: it defines no other."""
    def reads_math(code: str) -> bool:
        return any(isinstance(n, ast.Name) and n.id == "math"
                   for n in ast.walk(ast.parse(code, mode="eval")))

    autograd = [t for t in terms if not t["taylor"]]
    point_calls = [call for t in terms for v in t["point_values"]
                   for call in (v["call"], v.get("define", {}).get("call", ""))]
    return {
        "math": any(reads_math(t["code"]) or reads_math(t["batched_code"]) for t in terms),
        # the point residuals' transforms (derivative functions, shared evaluations)
        "func": [name for name in ("grad", "grad_and_value", "jacrev")
                 if any(call.startswith(f"{name}(") for call in point_calls)
                 or name == "grad" and any(t["point_functions"] for t in terms)],
        "jet": any(t["jets"] for t in terms if t["taylor"]),
        "d": any(t["derivatives"] for t in autograd),
        "coordinate": any(c.value is None and c.requires_grad
                          for t in autograd for c in t["coordinates"])
        or any(c["grad"] for g in stacked if g["dag"] for c in g["dag"]["coordinates"]),
    }


def _scaled(ir: ProblemIR, name: str, column: int) -> str:
    scale = ir.scaling[column]
    return name if scale is None else scaled_input(name, *scale)


def _site_context(ir: ProblemIR, site: Site) -> dict:
    inputs = [_scaled(ir, a, c) for a, c in zip(site.args, site.columns)]
    return {
        "name": site.name,
        "fn": site.fn,
        "text": site.text,
        "args": ", ".join(site.args),
        "net": site.net,
        "column": site.column,
        "batched_input": batched_input(ir, site.args, site.columns),
        "point_input": f"torch.stack(({inputs[0]},))" if len(inputs) == 1
        else f"torch.stack(({', '.join(inputs)}))",
    }


def _term_context(ir: ProblemIR, term: TermIR, taylor: bool = False) -> dict:
    jets, expr = term_jets(ir, term) if taylor else ([], term.expr)
    try:
        code = torch_code(term.expr)
        batched_code = code if expr is term.expr else torch_code(expr)
    except CodegenError as exc:
        raise CodegenError(f"term {term.name} ({_comment(term.text)}): {exc}") from None
    used = {s.name for s in term.expr.free_symbols}
    evaluations, functions = point_evaluations(term, used)
    fns = {site.name: site.fn for site in term.sites}
    fns.update({node.name: node.fn for node in term.derivatives})
    return {
        "name": term.name,
        "kind": term.kind,
        "text": term.text,
        "code": code,
        "batched_code": batched_code,  # with taylor, may read combined channels
        "batched_expr": expr,
        # no coordinate, network or derivative in it (a number, or parameters only):
        # broadcast it to one value per point
        "constant": not used & ({c.name for c in term.coordinates} | set(fns)),
        "coordinates": term.coordinates,
        "sites": [_site_context(ir, s) for s in term.sites],
        "evaluations": _evaluations(ir, term),
        # the batched residual's derivative DAG (the autograd path's network_calls)
        "derivatives": [{"name": n.name, "parent": n.parent, "wrt": n.wrt}
                        for n in term.derivatives],
        # the per-point residual: the derivative functions it calls, and its evaluations
        "point_functions": [{"fn": n.fn, "parent_fn": fns[n.parent], "slot": n.slot}
                            for n in term.derivatives if n.name in functions],
        "point_values": evaluations,
        "params": term.params,
        "columns": ", ".join(ir.indvar_names),
        "taylor": taylor and bool(term.sites),
        "jets": jets,
        # on the autograd path, the term's one network call and the derivatives it
        # reads: stacking.stacked_groups may stack it with others
        "autograd_call": None if taylor else autograd_call(ir, term),
    }


def _shared_autograd(ir: ProblemIR, terms: list[dict]) -> list[dict]:
    """On the autograd path, the groups of terms that share their network calls and
    derivatives when they share their points (:func:`~symbolic_pinn.autograd_calls.merged_term`),
    as :func:`~symbolic_pinn.jet_calls.shared_groups` gives them on the taylor path."""
    candidates = [term for term, ctx in zip(ir.terms, terms) if term.sites and not ctx["constant"]]
    groups = []
    for members in sharing_groups(candidates):
        term, exprs = merged_term(f"shared_residuals_{len(groups)}", members)
        read = {s.name for e in exprs for s in e.free_symbols} | {
            a for site in term.sites for a in site.args}
        groups.append({
            "name": term.name,
            "autograd": True,
            "terms": [t.name for t in members],
            "params": term.params,
            "coordinates": [c for c in term.coordinates if c.name in read],
            "jets": [],
            "evaluations": _evaluations(ir, term),
            "derivatives": [{"name": n.name, "parent": n.parent, "wrt": n.wrt}
                            for n in term.derivatives],
            "returns": [{"term": t.name, "code": torch_code(e), "expr": e}
                        for t, e in zip(members, exprs)],
            "autograd_call": autograd_call(ir, term),
            "input_calls": input_calls(ir, term),  # (for a group at several inputs)
        })
    return groups


def _evaluations(ir: ProblemIR, term: TermIR) -> list[dict]:
    """Group the sites that one network call serves (a shared multi-output net)."""
    groups: dict[tuple, list[Site]] = {}
    for site in term.sites:
        groups.setdefault((site.net, site.args), []).append(site)
    taken = {c.name for c in term.coordinates} | set(term.params)
    taken |= {s.name for s in term.sites} | {s.fn for s in term.sites}
    taken |= {n.name for n in term.derivatives} | {n.fn for n in term.derivatives}
    namer = Namer(taken)
    out = []
    for (net, _), sites in groups.items():
        contexts = [_site_context(ir, s) for s in sites]
        name = namer.claim(f"net{net}_out") if len(sites) > 1 else None
        out.append({"name": name, "net": net, "batched_input": contexts[0]["batched_input"],
                    "sites": contexts})
    return out


def _depvar_context(ir: ProblemIR, dv) -> dict:
    names = [ir.indvars[c] for c in dv.args]
    inputs = [_scaled(ir, n, c) for n, c in zip(names, dv.args)]
    return {
        "ident": dv.ident,
        "name": dv.name,
        "args": names,
        "net": dv.net,
        "column": dv.column,
        "batched_input": inputs[0] if len(inputs) == 1
        else f"torch.cat(({', '.join(inputs)}), dim=1)",
    }
