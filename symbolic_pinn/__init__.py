"""symbolic_pinn: PDE systems in SymPy to readable, generated PyTorch PINN training code.

The pipeline, one stage per module:

1. problem (:mod:`symbolic_pinn.problem`): :class:`PDESystem`, SymPy objects;
2. analysis (:mod:`symbolic_pinn.analysis`): validation, derivatives lowered to named
   symbols, a derivative DAG;
3. code generation (:mod:`symbolic_pinn.printing`, :mod:`symbolic_pinn.codegen`, the
   jinja2 ``templates/``);
4. loading (:mod:`symbolic_pinn.loading`): hash-named modules visible in tracebacks;
5. training (:mod:`symbolic_pinn.training`, :mod:`symbolic_pinn.run`,
   :mod:`symbolic_pinn.solver`, :mod:`symbolic_pinn.adaptive`).
"""

__version__ = "0.1.0"  # before the imports: codegen stamps it into generated code

import importlib as _importlib
import threading as _threading
from typing import TYPE_CHECKING as _TYPE_CHECKING

from .errors import (
    CodegenError,
    FreeCoordinateWarning,
    InteriorConditionWarning,
    NonFiniteError,
    NonFiniteWeightError,
    PointsOutsideDomainWarning,
    ProblemError,
    StrategyError,
    SymbolicPinnError,
    SymbolicPinnWarning,
    TrainingError,
)
from .networks import MLP

if _TYPE_CHECKING:
    from .discretization import (
        DiscretizedProblem,
        SymbolicDiscretization,
        discretize,
        symbolic_discretize,
    )
    from .pinn import PhysicsInformedNN
    from .problem import PDESystem
    from .result import Result

# The names that need SymPy load on first use (PEP 562), so that neither ``import
# symbolic_pinn`` nor a generated module of the taylor path without compile (which imports
# torch and symbolic_pinn.jets) imports it.
_HOMES = {
    "DiscretizedProblem": "discretization",
    "SymbolicDiscretization": "discretization",
    "discretize": "discretization",
    "symbolic_discretize": "discretization",
    "PhysicsInformedNN": "pinn",
    "PDESystem": "problem",
    "Result": "result",
}


# One lazy import at a time: threads that reach different names first would otherwise
# enter SymPy's circular imports from different modules at once (a _DeadlockError).
_LOCK = _threading.RLock()


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _LOCK:
        value = getattr(_importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "PDESystem",
    "PhysicsInformedNN",
    "discretize",
    "symbolic_discretize",
    "DiscretizedProblem",
    "SymbolicDiscretization",
    "MLP",
    "Result",
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
]
