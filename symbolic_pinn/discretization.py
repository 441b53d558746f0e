"""The pipeline: ``PDESystem`` + ``PhysicsInformedNN`` -> generated module -> problem.

``symbolic_discretize`` runs stages 2-3 (analysis, code generation) and returns the
symbolic residuals and the source; ``discretize`` also runs stage 4 (loading) and
returns a :class:`DiscretizedProblem` whose ``solve`` runs stage 5 (training).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np
import sympy as sp
import torch
from torch import nn

from .adaptive.base import check_per_point_residuals
from .analysis import analyze
from .codegen import GenerationOptions, generate
from .errors import ProblemError
from .grad_mode import differentiable, recordable
from .ir import ProblemIR
from .loading import load
from .networks import assign_networks, check_networks, placement
from .pinn import (
    PhysicsInformedNN,
    coordinate_scaling,
    generation_options,
    parameter_tensors,
    recast_known,
    resolve_derivatives,
)
from .problem import PDESystem

__all__ = ["SymbolicDiscretization", "DiscretizedProblem", "symbolic_discretize", "discretize"]


@dataclass(frozen=True)
class SymbolicDiscretization:
    """What ``symbolic_discretize`` returns: nothing is trained or even loaded.

    Attributes:
        term_names: ``pde_0, ..., bc_0, ...``.
        residuals: ``{term: lowered residual}`` (lhs - rhs, derivatives as symbols).
        derivatives: ``{term: [derivative names in computation order]}``.
        ir: The full intermediate representation.
        source: The generated module's source.
        options: The generation options, with ``derivatives`` resolved to
            ``"autograd"`` or ``"taylor"``.

    Examples:
        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN
        >>> from symbolic_pinn.training import GridTraining
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)}, [x], [u(x)])
        >>> sym = symbolic_discretize(s, PhysicsInformedNN(MLP(1, 1, [8]), GridTraining(0.1)))
        >>> sym.term_names, sym.options.derivatives
        (('pde_0', 'bc_0', 'bc_1'), 'taylor')
        >>> body = sym.source.split("def residual_pde_0")[1].split("def point_residual")[0]
        >>> for line in body.strip().splitlines()[-3:]:  # after the docstring
        ...     print(line)
            x = points[:, 0:1]
            u_xx = jet(nets[0], x, ((2,),), scale=(1.0,), column=0)[0]  # u(x)
            return u_xx + 1
    """

    term_names: tuple[str, ...]
    residuals: dict[str, sp.Expr]
    derivatives: dict[str, list[str]]
    ir: ProblemIR
    source: str
    options: GenerationOptions


def symbolic_discretize(system: PDESystem, pinn: PhysicsInformedNN) -> SymbolicDiscretization:
    """Analyse ``system`` and generate its code, without loading or training.

    Examples:
        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN
        >>> from symbolic_pinn.training import GridTraining
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)}, [x], [u(x)])
        >>> sym = symbolic_discretize(s, PhysicsInformedNN(MLP(1, 1, [8]), GridTraining(0.1)))
        >>> sym.residuals["pde_0"], sym.derivatives["pde_0"]
        (u_xx + 1, ['u_x', 'u_xx'])
    """
    nets, layout = assign_networks(system, pinn.chain)
    ir = analyze(system, layout, coordinate_scaling(system, pinn.input_scaling))
    if not any(t.sites for t in ir.terms) and pinn.additional_loss is None:
        names = ", ".join(str(dv) for dv in system.depvars)
        raise ProblemError(f"no term involves a dependent variable ({names}): the networks "
                           "would fit nothing; check the equations and conditions")
    options = generation_options(pinn, resolve_derivatives(pinn, ir, nets))
    source = generate(ir, options)
    return SymbolicDiscretization(
        term_names=tuple(t.name for t in ir.terms),
        residuals={t.name: t.expr for t in ir.terms},
        derivatives={t.name: [n.name for n in t.derivatives] for t in ir.terms},
        ir=ir,
        source=source,
        options=options,
    )


def discretize(system: PDESystem, pinn: PhysicsInformedNN) -> DiscretizedProblem:
    """Analyse, generate and load: a problem ready to ``solve``.

    Args:
        system: The PDE system.
        pinn: Networks, training strategy and options.

    Returns:
        The problem; its ``source`` is the generated module.

    Examples:
        >>> import numpy as np, sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN
        >>> from symbolic_pinn.training import GridTraining
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)}, [x], [u(x)])
        >>> prob = discretize(s, PhysicsInformedNN(MLP(1, 1, [16]), GridTraining(0.1)))
        >>> prob.term_names
        ['pde_0', 'bc_0', 'bc_1']
        >>> prob.residuals["bc_1"](np.zeros((3, 1))).shape  # x is set to 1 by bc_1
        torch.Size([3])
        >>> res = prob.solve(iterations=5, seed=0)
        >>> res.predict({x: np.linspace(0, 1, 4)})["u"].shape, len(res.history)
        ((4,), 5)
    """
    symbolic = symbolic_discretize(system, pinn)
    nets, _ = assign_networks(system, pinn.chain)
    check_networks(symbolic.ir, nets)
    check_per_point_residuals(nets, symbolic.ir, pinn.adaptive_loss)
    return DiscretizedProblem(system, pinn, symbolic, load(symbolic.source), nets)


class _Residuals(dict):
    """``{term: residual}``: a dict whose missing term is a KeyError listing the terms."""

    def __missing__(self, term):
        raise KeyError(f"unknown term {term!r}; the terms are {list(self)}")


class DiscretizedProblem:
    """A discretized PINN problem: generated module, networks, parameters.

    The networks share one floating dtype and one device, which the residual callables
    convert their points to: ``discretize`` refuses networks that differ with a
    :class:`~symbolic_pinn.errors.TrainingError` naming two of them and their dtypes or
    devices, rather than guess which to follow. ``solve(dtype=..., device=...)`` casts and
    moves every network (and the parameters) to its own. If the networks stop agreeing
    after ``discretize`` (``prob.nets[1].double()``), ``dtype``, ``device`` and the
    residuals raise that error until they agree again or ``solve`` puts them all on one.

    Attributes:
        source: The generated module's source text.
        module: The loaded module.
        term_names: All terms, equations first.
        residuals: ``{term: f(points) -> (N,) tensor}`` with the current networks (a
            dict; an unknown term is a KeyError that lists the terms).
        nets: The networks, in the generated code's ``nets[i]`` order.
        params: ``{identifier: tensor}`` of the system's parameters.

    Examples:
        The residuals are callables on points; here ``u_xx + 1``, checked against a second
        derivative taken with autograd:

        >>> import torch, sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)}, [x], [u(x)])
        >>> prob = discretize(s, PhysicsInformedNN(MLP(1, 1, [8]), GridTraining(0.1)))
        >>> prob
        DiscretizedProblem(terms=['pde_0', 'bc_0', 'bc_1'])
        >>> pts = torch.linspace(0, 1, 7).reshape(-1, 1).requires_grad_()
        >>> u_x, = torch.autograd.grad(prob.nets[0](pts).sum(), pts, create_graph=True)
        >>> u_xx, = torch.autograd.grad(u_x.sum(), pts)
        >>> bool(torch.allclose(prob.residuals["pde_0"](pts), u_xx[:, 0] + 1, atol=1e-5))
        True
        >>> prob.dtype, prob.device.type
        (torch.float32, 'cpu')
    """

    def __init__(self, system, pinn, symbolic: SymbolicDiscretization, module: ModuleType,
                 nets: tuple[nn.Module, ...]) -> None:
        self.system, self.pinn, self.symbolic = system, pinn, symbolic
        self.ir, self.source, self.module, self.nets = symbolic.ir, symbolic.source, module, nets
        self.term_names = list(symbolic.term_names)
        self.kinds = {t.name: t.kind for t in self.ir.terms}
        self.strategy, self.adaptive_loss = pinn.strategy, pinn.adaptive_loss
        self.params = parameter_tensors(system, self.ir, pinn.param_estim, self.dtype)
        self.residuals = _Residuals((name, self._residual(name)) for name in self.term_names)

    def _residual(self, term: str) -> Callable:
        fn = self.module.RESIDUALS[term]

        def residual(points) -> torch.Tensor:
            with differentiable():  # under torch.no_grad() and inference_mode() too
                return fn(self.nets, self.as_points(term, points), self.params)[:, 0]

        residual.__name__ = residual.__qualname__ = f"residual_{term}"
        residual.__doc__ = fn.__doc__
        return residual

    def as_points(self, term: str, points) -> torch.Tensor:
        """Convert points to a ``(N, n_indvars)`` tensor of the networks' dtype and device
        (a tensor is cast with ``.to``, which keeps its autograd graph; one made under
        ``torch.inference_mode()``, which could not join a graph, is copied). The known
        parameters follow the networks too, should these have been cast or moved since
        ``discretize`` (from the system's values: ``prob.nets[0].double()`` keeps them
        exact in float64)."""
        if term not in self.kinds:
            raise KeyError(f"unknown term {term!r}; the terms are {self.term_names}")
        dtype, device = self.dtype, self.device
        self._known_params_follow(dtype, device)
        if isinstance(points, torch.Tensor):
            points = points.to(dtype=dtype, device=device)
        else:
            points = torch.as_tensor(np.asarray(points), dtype=dtype, device=device)
        points = recordable(points)
        n = len(self.ir.indvars)
        if points.ndim != 2 or points.shape[1] != n:
            raise ValueError(
                f"points for {term} must have shape (N, {n}) (columns "
                f"{', '.join(self.ir.indvar_names)}), got {tuple(points.shape)}"
            )
        return points

    def _known_params_follow(self, dtype: torch.dtype, device: torch.device) -> None:
        stale = [k for k, p in self.params.items()
                 if not p.requires_grad and (p.dtype != dtype or p.device != device)]
        if stale:
            given = parameter_tensors(self.system, self.ir, False, dtype)
            for k in stale:
                self.params[k] = recast_known(self.params[k], given[k], dtype, device)

    @property
    def dtype(self) -> torch.dtype:
        """The networks' floating dtype (the default dtype if they have none)."""
        return placement(self.nets, self.ir)[0]

    @property
    def device(self) -> torch.device:
        """The networks' device (the CPU if they have no tensors)."""
        return placement(self.nets, self.ir)[1]

    @property
    def param_names(self) -> dict[str, str]:
        """``{identifier: user name}`` of the system's parameters."""
        return dict(self.ir.params)

    def write(self, path: str | Path) -> Path:
        """Save the generated source to ``path`` and return the path."""
        path = Path(path)
        path.write_text(self.source, encoding="utf-8")
        return path

    def solve(self, iterations: int = 1000, **options):
        """Train; see :func:`symbolic_pinn.solver.solve` for the options."""
        from .solver import solve  # the solver imports this module

        return solve(self, iterations=iterations, **options)

    def __repr__(self) -> str:
        return f"DiscretizedProblem(terms={self.term_names})"
