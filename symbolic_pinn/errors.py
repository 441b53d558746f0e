"""The error hierarchy of symbolic_pinn.

Every error the library raises about a problem, its generated code, its training or a
strategy derives from :class:`SymbolicPinnError`, so ``except SymbolicPinnError``
catches them all (plain argument checks raise built-in errors). Messages name the
offending term (``pde_0``, ``bc_2``) with its SymPy text, and the offending symbol.

Examples:
    >>> from symbolic_pinn.errors import ProblemError, SymbolicPinnError
    >>> issubclass(ProblemError, SymbolicPinnError) and issubclass(ProblemError, ValueError)
    True
"""

from __future__ import annotations

import numpy as np
import torch

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
    "FreeCoordinateWarning",
    "PointsOutsideDomainWarning",
    "term_context",
    "lookalike",
    "integer_at_least",
]


class SymbolicPinnError(Exception):
    """Base class of the errors symbolic_pinn raises about a problem and its training.

    One ``except SymbolicPinnError`` catches a malformed system (:class:`ProblemError`),
    an expression with no PyTorch translation (:class:`CodegenError`), a run that cannot
    start or go on (:class:`TrainingError`) and a misconfigured strategy
    (:class:`StrategyError`). Plain argument checks, such as an unknown optimizer name
    for ``solve``, raise the built-in ``ValueError`` or ``TypeError`` instead.

    Examples:
        >>> import sympy as sp
        >>> from symbolic_pinn import PDESystem
        >>> from symbolic_pinn.adaptive import NeuralTangentKernelAdaptiveLoss
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> mistakes = [
        ...     lambda: PDESystem([], [u(0)], {x: (0, 1)}, [x], [u(x)]),  # no equation
        ...     lambda: NeuralTangentKernelAdaptiveLoss(trace="max"),  # no such option
        ... ]
        >>> for mistake in mistakes:
        ...     try:
        ...         mistake()
        ...     except SymbolicPinnError as error:
        ...         print(f"{type(error).__name__}: {error}")
        ProblemError: the system has no equation
        StrategyError: trace must be one of ('sum', 'mean'), got 'max'
        >>> all(issubclass(cls, SymbolicPinnError) for cls in (
        ...     ProblemError, CodegenError, TrainingError, StrategyError, NonFiniteError,
        ...     NonFiniteWeightError))
        True
    """


class ProblemError(SymbolicPinnError, ValueError):
    """The PDE system is malformed: unknown symbols, bad domains, wrong arities.

    Raised by :class:`~symbolic_pinn.PDESystem` and by the analysis stage.

    Examples:
        A domain keyed by a look-alike of ``x`` (same name, other assumptions) is
        refused when the system is built, with a hint:

        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, symbolic_discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> x = sp.Symbol("x"); u = sp.Function("u"); v = sp.Function("v")
        >>> eq = sp.Eq(u(x).diff(x, 2), -1)
        >>> try:
        ...     PDESystem([eq], [u(0), u(1)], {sp.Symbol("x", real=True): (0, 1)}, [x], [u(x)])
        ... except ProblemError as error:
        ...     print(str(error).split(" (")[0])
        ...     print("use one Symbol object" in str(error))
        domain given for x, which is not an independent variable
        True

        A condition on an undeclared function is found by the analysis stage, which
        names the term; a ``ProblemError`` is also a ``ValueError``:

        >>> system = PDESystem([eq], [u(0), v(1)], {x: (0, 1)}, [x], [u(x)])
        >>> try:
        ...     symbolic_discretize(system, PhysicsInformedNN(MLP(1, 1, [8]), GridTraining(0.1)))
        ... except ValueError as error:
        ...     print(type(error).__name__, "|", error)
        ProblemError | term bc_1 (v(1)): function v is not a dependent variable (declared: u)
    """


class CodegenError(SymbolicPinnError, ValueError):
    """An expression cannot be printed as PyTorch code (an unsupported function).

    Examples:
        ``Heaviside`` has no PyTorch translation; the message names the term and lists
        the functions that have one. The same step written as a ``Piecewise`` is
        supported:

        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, symbolic_discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> pinn = PhysicsInformedNN(MLP(1, 1, [8]), GridTraining(0.1))
        >>> def with_source(f):
        ...     return PDESystem([sp.Eq(u(x).diff(x, 2), f)], [u(0), u(1)], {x: (0, 1)},
        ...                      [x], [u(x)])
        >>> try:
        ...     symbolic_discretize(with_source(sp.Heaviside(x - 0.5)), pinn)
        ... except CodegenError as error:
        ...     where, what = str(error).split(": ", 1)
        >>> where
        'term pde_0 (Eq(Derivative(u(x), (x, 2)), Heaviside(x - 0.5)))'
        >>> what.split(";")[0]
        'function Heaviside in Heaviside(x - 0.5) has no PyTorch translation'
        >>> "supported: Abs, acos" in what
        True
        >>> step = sp.Piecewise((1, x > 0.5), (0, True))
        >>> symbolic_discretize(with_source(step), pinn).term_names
        ('pde_0', 'bc_0', 'bc_1')
    """


class TrainingError(SymbolicPinnError, RuntimeError):
    """Training cannot start or go on: a bad network shape, a non-finite loss.

    Examples:
        A network with two outputs for the one dependent variable ``u(x)`` is refused
        by :func:`~symbolic_pinn.discretize`, before any training; a ``TrainingError``
        is also a ``RuntimeError``:

        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> system = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)},
        ...                    [x], [u(x)])
        >>> try:
        ...     discretize(system, PhysicsInformedNN(MLP(1, 2, [8]), GridTraining(0.1)))
        ... except RuntimeError as error:
        ...     for part in [type(error).__name__, *str(error).split("; ")]:
        ...         print(part)
        TrainingError
        network 0 (for u) must map (N, 1) inputs to (N, 1)
        it returned (2, 2) for N = 2
    """


class StrategyError(SymbolicPinnError, ValueError):
    """A training strategy or an adaptive-loss strategy is misconfigured or misbehaves.

    Examples:
        An invalid option is refused when the strategy is made; a group of NTK weights
        copied from the wave (five terms) onto a problem with three is refused when
        the run starts:

        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.adaptive import NeuralTangentKernelAdaptiveLoss
        >>> from symbolic_pinn.training import GridTraining
        >>> try:
        ...     NeuralTangentKernelAdaptiveLoss(smoothing=1.5)
        ... except StrategyError as error:
        ...     print(error)
        smoothing must be in [0, 1), got 1.5
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> system = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)},
        ...                    [x], [u(x)])
        >>> ntk = NeuralTangentKernelAdaptiveLoss(groups={"u": ["bc_0", "bc_2", "bc_3"]})
        >>> problem = discretize(system, PhysicsInformedNN(MLP(1, 1, [8]), GridTraining(0.1),
        ...                                                adaptive_loss=ntk))
        >>> try:
        ...     problem.solve(1, seed=0, progress=False)
        ... except StrategyError as error:
        ...     print(str(error).split("; ")[0])
        NTK group 'u' names unknown term(s) ['bc_2', 'bc_3']
    """


class NonFiniteError(TrainingError):
    """A loss, residual, gradient, adaptive weight or parameter became NaN or infinite.

    Attributes:
        step: The optimizer step it appeared in.
        term: The term it belongs to (``None`` when no single term is to blame).
        quantity: ``"loss"``, ``"gradient"``, ``"weight"`` or ``"parameters"``.
        value: The offending value (a float), when there is one.
        result: The partial :class:`~symbolic_pinn.result.Result` (set by ``solve``).

    Examples:
        A source term ``log(x - 1)``, a typo for ``log(x + 1)``, is not finite anywhere
        on ``[0, 1]`` (NaN inside, ``-inf`` at ``x = 1``); training stops in the step
        where the loss turns NaN, before the optimizer applies anything:

        >>> import math
        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> system = PDESystem([sp.Eq(u(x).diff(x, 2), sp.log(x - 1))], [u(0), u(1)],
        ...                    {x: (0, 1)}, [x], [u(x)])
        >>> problem = discretize(system, PhysicsInformedNN(MLP(1, 1, [8]), GridTraining(0.1)))
        >>> try:
        ...     problem.solve(5, seed=0, progress=False)
        ... except TrainingError as error:
        ...     caught = error
        >>> type(caught).__name__, caught.step, caught.term, caught.quantity
        ('NonFiniteError', 0, 'pde_0', 'loss')
        >>> str(caught).split(" (")[0]
        'step 0: the loss of term pde_0 is nan'
        >>> losses = caught.result.history[-1]["losses"]  # the failed step's losses
        >>> sorted(term for term, value in losses.items() if not math.isfinite(value))
        ['pde_0']
    """

    def __init__(self, message: str, *, step: int | None = None, term: str | None = None,
                 quantity: str | None = None, value: float | None = None) -> None:
        super().__init__(message)
        self.step, self.term, self.quantity, self.value = step, term, quantity, value
        self.losses: dict | None = None
        self.result = None


class NonFiniteWeightError(NonFiniteError, StrategyError):
    """An adaptive-loss strategy produced a non-finite weight (also a StrategyError).

    Examples:
        A custom strategy whose formula gives NaN (here on purpose):

        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.adaptive import AdaptiveLoss
        >>> from symbolic_pinn.training import GridTraining
        >>> class Broken(AdaptiveLoss):
        ...     def update(self, ctx):
        ...         return {"bc_0": float("nan")}
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> system = PDESystem([sp.Eq(u(x).diff(x, 2), -1)], [u(0), u(1)], {x: (0, 1)},
        ...                    [x], [u(x)])
        >>> problem = discretize(system, PhysicsInformedNN(MLP(1, 1, [8]), GridTraining(0.1),
        ...                                                adaptive_loss=Broken()))
        >>> try:
        ...     problem.solve(3, seed=0, progress=False)
        ... except StrategyError as error:
        ...     caught = error
        >>> type(caught).__name__, isinstance(caught, NonFiniteError)
        ('NonFiniteWeightError', True)
        >>> caught.step, caught.term, caught.quantity
        (0, 'bc_0', 'weight')
        >>> str(caught).split(" (")[0]
        'Broken set the weight of term bc_0 to nan at step 0'
    """


class SymbolicPinnWarning(UserWarning):
    """Base class of the warnings symbolic_pinn issues about a likely mistake.

    Examples:
        Make every such warning an error, say in a test suite; here a condition at
        ``x = 0.5``, inside ``[0, 1]``, raises an :class:`InteriorConditionWarning`:

        >>> import warnings
        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, symbolic_discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> x, t = sp.symbols("x t"); u = sp.Function("u")
        >>> system = PDESystem([sp.Eq(u(x, t).diff(t), u(x, t).diff(x, 2))],
        ...                    [sp.Eq(u(x, 0), 0), sp.Eq(u(0.5, t), 1)],
        ...                    {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t)])
        >>> pinn = PhysicsInformedNN(MLP(2, 1, [8]), GridTraining(0.25))
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("error", SymbolicPinnWarning)
        ...     try:
        ...         symbolic_discretize(system, pinn)
        ...     except SymbolicPinnWarning as warning:
        ...         print(type(warning).__name__)
        InteriorConditionWarning
        >>> issubclass(SymbolicPinnWarning, UserWarning)
        True
    """


class InteriorConditionWarning(SymbolicPinnWarning):
    """A condition fixes a coordinate strictly inside its interval (not on a face).

    Legitimate for an interface condition, so it is a warning, not an error; a point
    condition (every coordinate fixed, e.g. ``u(0.5, 0.5)``) is not flagged.

    Examples:
        >>> import warnings
        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, symbolic_discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> x, t = sp.symbols("x t"); u = sp.Function("u")
        >>> pinn = PhysicsInformedNN(MLP(2, 1, [8]), GridTraining(0.25))
        >>> def heat(condition):
        ...     return PDESystem([sp.Eq(u(x, t).diff(t), u(x, t).diff(x, 2))],
        ...                      [sp.Eq(u(x, 0), 0), condition], {x: (0, 1), t: (0, 1)},
        ...                      [x, t], [u(x, t)])
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     sym = symbolic_discretize(heat(sp.Eq(u(0.5, t), 1)), pinn)
        >>> [str(w.message).split(", strictly")[0] for w in caught
        ...  if issubclass(w.category, InteriorConditionWarning)]
        ['term bc_1 (Eq(u(0.5, t), 1)): u(0.5, t) fixes x = 0.5']
        >>> sym.term_names  # only a warning: the condition is kept
        ('pde_0', 'bc_0', 'bc_1')
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("error", InteriorConditionWarning)
        ...     symbolic_discretize(heat(sp.Eq(u(0.5, 0.5), 1)), pinn).term_names
        ('pde_0', 'bc_0', 'bc_1')
    """


class FreeCoordinateWarning(SymbolicPinnWarning):
    """A condition fixes a coordinate where it evaluates a dependent variable and uses
    the same coordinate freely elsewhere (``u(0, t) = sin(x)``).

    Its points then range over that coordinate's whole interval, not the face
    ``x = 0``, and the free ``x`` is rarely what was meant. Not flagged: a point value
    inside a condition on a face (``u(x, 0) = x u(0, 0)``), and coordinates used only as
    arguments of the dependent variables (``u(x, 1) = v(1, x)`` couples two edges).

    Examples:
        >>> import warnings
        >>> import sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, symbolic_discretize
        >>> from symbolic_pinn.training import GridTraining
        >>> x, t = sp.symbols("x t"); u = sp.Function("u")
        >>> pinn = PhysicsInformedNN(MLP(2, 1, [8]), GridTraining(0.25))
        >>> def heat(condition):
        ...     return PDESystem([sp.Eq(u(x, t).diff(t), u(x, t).diff(x, 2))],
        ...                      [condition], {x: (0, 1), t: (0, 1)}, [x, t], [u(x, t)])
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     sym = symbolic_discretize(heat(sp.Eq(u(0, t), sp.sin(x))), pinn)
        >>> [str(w.message).split(";")[0] for w in caught
        ...  if issubclass(w.category, FreeCoordinateWarning)]
        ['term bc_0 (Eq(u(0, t), sin(x))): u(0, t) fixes x = 0 but the condition also uses x freely, so its points range over all of x in [0, 1]']
        >>> with warnings.catch_warnings():
        ...     warnings.simplefilter("error", FreeCoordinateWarning)
        ...     symbolic_discretize(heat(sp.Eq(u(x, 0), x * u(0, 0))), pinn).term_names
        ('pde_0', 'bc_0')
    """


class PointsOutsideDomainWarning(SymbolicPinnWarning):
    """A training strategy gave a term points outside the domain, in a column the term
    samples. The run trains on them anyway; the warning is given once per term and run.

    Examples:
        A strategy of one's own that puts every point at ``x = 3``, outside
        ``x ∈ [0, 2]`` (the condition ``u(0)`` fixes ``x`` and samples nothing):

        >>> import warnings
        >>> import numpy as np, sympy as sp
        >>> from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
        >>> from symbolic_pinn.training import PointSet, TrainingStrategy
        >>> class Doubled(TrainingStrategy):
        ...     def sample(self, ir, rng):
        ...         return PointSet({t.name: self.place(ir, t, np.full((4, len(t.free)), 3.0))
        ...                          for t in ir.terms})
        >>> x = sp.Symbol("x"); u = sp.Function("u")
        >>> s = PDESystem([u(x).diff(x, 2) + 1], [u(0)], {x: (0, 2)}, [x], [u(x)])
        >>> problem = discretize(s, PhysicsInformedNN(MLP(1, 1, [8]), Doubled()))
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     _ = problem.solve(2, seed=0, progress=False)
        >>> [str(w.message).split(";")[0] for w in caught
        ...  if issubclass(w.category, PointsOutsideDomainWarning)]
        ['Doubled gave points outside the domain for term pde_0 (Derivative(u(x), (x, 2)) + 1): x from 3 to 3, but x is in [0, 2]']
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


def integer_at_least(value: object, least: int) -> bool:
    """Whether ``value`` is an integer (of any integer-valued type, not a bool) ``>= least``.

    Examples:
        >>> integer_at_least(3, 1), integer_at_least(3.0, 1), integer_at_least(0, 1)
        (True, True, False)
        >>> integer_at_least(True, 1), integer_at_least(None, 1), integer_at_least("2", 1)
        (False, False, False)
        >>> integer_at_least(np.True_, 1), integer_at_least(torch.tensor(True), 1)
        (False, False)
    """
    if isinstance(value, bool) or getattr(value, "dtype", None) in (np.bool_, torch.bool):
        return False  # True == 1, but reweight_every=True is a slip
    try:
        return bool(int(value) == value and value >= least)  # type: ignore[operator, arg-type]
    except (TypeError, ValueError, OverflowError):  # None, a string, nan, inf
        return False
