"""What ``import symbolic_pinn`` loads, and the adaptive package's names loaded on first use."""

import subprocess
import sys

import pytest

from symbolic_pinn import adaptive

DEFERRED = ["jinja2", "symbolic_pinn.adaptive.ntk", "symbolic_pinn.adaptive.self_adaptive",
            "symbolic_pinn.adaptive.kernel", "symbolic_pinn.solver"]

SCRIPT = """
import sys
import sympy as sp
import symbolic_pinn
from symbolic_pinn.training import GridTraining
deferred = DEFERRED
print([m for m in deferred if m in sys.modules])
x = sp.Symbol("x")
u = sp.Function("u")
system = symbolic_pinn.PDESystem([sp.Eq(u(x).diff(x, 2), 0)], [sp.Eq(u(0), 0), sp.Eq(u(1), 1)],
                                 {x: (0, 1)}, [x], [u(x)])
pinn = symbolic_pinn.PhysicsInformedNN(symbolic_pinn.MLP(1, 1, [4]), GridTraining(0.1))
sym = symbolic_pinn.symbolic_discretize(system, pinn)
print("jinja2" in sys.modules, "def " in sym.source)
from symbolic_pinn.adaptive import NeuralTangentKernelAdaptiveLoss
print("symbolic_pinn.adaptive.ntk" in sys.modules)
"""


def test_import_defers_code_generation_and_strategies():
    out = subprocess.run([sys.executable, "-c", SCRIPT.replace("DEFERRED", repr(DEFERRED))],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["[]", "True True", "True"]


def test_every_public_adaptive_name_resolves_to_its_module():
    eager = {name for name in adaptive.__all__ if name not in adaptive._HOMES}
    assert eager == {"AdaptiveLoss", "Need", "NonAdaptiveLoss", "ReweightContext", "RunSetup"}
    for name in adaptive.__all__:
        obj = getattr(adaptive, name)
        home = adaptive._HOMES.get(name, "base")
        assert obj.__module__ == f"symbolic_pinn.adaptive.{home}", name
        assert name in dir(adaptive)
    assert set(adaptive._HOMES) <= set(adaptive.__all__)


def test_unknown_adaptive_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="NoSuchLoss"):
        adaptive.NoSuchLoss  # noqa: B018
    with pytest.raises(ImportError):
        from symbolic_pinn.adaptive import NoSuchLoss  # noqa: F401
