"""What ``import symbolic_pinn`` loads, and the names of the package and of its adaptive
subpackage that load on first use."""

import subprocess
import sys

import pytest
import sympy as sp
import torch

import symbolic_pinn
from symbolic_pinn import adaptive
from symbolic_pinn.training import GridTraining

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


NO_SYMPY = """
import sys
import symbolic_pinn
print(sorted(name for name in sys.modules if name.split(".")[0] in ("sympy", "jinja2")))
"""


def test_import_loads_neither_sympy_nor_jinja2():
    out = subprocess.run([sys.executable, "-c", NO_SYMPY], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == ["[]"]


def test_every_public_name_of_the_package_resolves():
    for name in symbolic_pinn.__all__:
        obj = getattr(symbolic_pinn, name)
        home = symbolic_pinn._HOMES.get(name)
        if home is not None:
            assert obj.__module__ == f"symbolic_pinn.{home}", name
        assert name in dir(symbolic_pinn)
    assert set(symbolic_pinn._HOMES) <= set(symbolic_pinn.__all__)
    assert callable(symbolic_pinn.discretize)  # the function, not a module of that name
    namespace = {}
    exec("from symbolic_pinn import *", namespace)  # noqa: S102 (a star import, to check __all__)
    assert set(symbolic_pinn.__all__) <= set(namespace)
    with pytest.raises(AttributeError, match="NoSuchName"):
        symbolic_pinn.NoSuchName  # noqa: B018


EVALUATE_SAVED = """
import sys
sys.modules["sympy"] = None
import torch
from symbolic_pinn import MLP
from symbolic_pinn.loading import load
folder = sys.argv[1]
with open(folder + "/generated.py") as f:
    module = load(f.read())
net = MLP(2, 1, [8]).double()
net.load_state_dict(torch.load(folder + "/net.pt"))
points = torch.load(folder + "/points.pt")
with torch.no_grad():
    residuals = module.all_residuals([net], points, {})
torch.save({term: r[:, 0] for term, r in residuals.items()}, folder + "/residuals.pt")
"""


def test_saved_generated_code_runs_without_sympy(tmp_path):
    """A saved generated module (the taylor path, the default for an MLP; no compile)
    and a trained network's weights evaluate the residuals in a process that cannot
    import SymPy, and agree with the residuals in this one."""
    x, y = sp.symbols("x y")
    u = sp.Function("u")
    system = symbolic_pinn.PDESystem(
        [sp.Eq(u(x, y).diff(x, 2) + u(x, y).diff(y, 2), -sp.sin(sp.pi * x) * sp.sin(sp.pi * y))],
        [sp.Eq(u(0, y), 0), sp.Eq(u(1, y), 0), sp.Eq(u(x, 0), 0), sp.Eq(u(x, y).diff(y).subs(y, 1), 0)],
        {x: (0, 1), y: (0, 1)}, [x, y], [u(x, y)])
    torch.manual_seed(0)
    net = symbolic_pinn.MLP(2, 1, [8]).double()
    pinn = symbolic_pinn.PhysicsInformedNN(net, GridTraining(0.25))
    problem = symbolic_pinn.discretize(system, pinn)
    generator = torch.Generator().manual_seed(1)
    points = {term: torch.rand(5 + i, 2, generator=generator, dtype=torch.float64)
              for i, term in enumerate(problem.term_names)}
    problem.write(tmp_path / "generated.py")
    torch.save(net.state_dict(), tmp_path / "net.pt")
    torch.save(points, tmp_path / "points.pt")
    subprocess.run([sys.executable, "-c", EVALUATE_SAVED, str(tmp_path)], check=True)
    saved = torch.load(tmp_path / "residuals.pt")
    assert list(saved) == problem.term_names
    for term in problem.term_names:
        expected = problem.residuals[term](points[term]).detach()
        torch.testing.assert_close(saved[term], expected, rtol=1e-12, atol=1e-12)


THREADS = """
import threading
import symbolic_pinn
from symbolic_pinn import adaptive
names = [(symbolic_pinn, "Result"), (symbolic_pinn, "PDESystem"), (symbolic_pinn, "discretize"),
         (symbolic_pinn, "PhysicsInformedNN"), (adaptive, "NeuralTangentKernelAdaptiveLoss"),
         (adaptive, "SelfAdaptiveLoss"), (symbolic_pinn, "DiscretizedProblem"),
         (adaptive, "CausalAdaptiveLoss")]
barrier, failures = threading.Barrier(len(names)), []

def first_use(module, name):
    barrier.wait()
    try:
        getattr(module, name)
    except Exception as exc:
        failures.append(f"{name}: {type(exc).__name__}: {exc}")

threads = [threading.Thread(target=first_use, args=pair) for pair in names]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(failures)
"""


def test_threads_that_first_use_different_names_at_once():
    """Eight threads take eight lazy names at the same moment. Without one lock around
    the lazy imports, two of them enter SymPy's circular imports from different modules
    and one gets a _DeadlockError (3 of 16 such processes did); three processes run."""
    runs = [subprocess.Popen([sys.executable, "-c", THREADS], stdout=subprocess.PIPE,
                             text=True) for _ in range(3)]
    assert [run.communicate()[0].strip() for run in runs] == ["[]"] * 3
