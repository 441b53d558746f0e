"""The scripts in ``examples/`` run (a handful of steps each)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quickstart_wave():
    out = _load("quickstart_wave").main(iterations=3)
    assert math.isfinite(out["error"])
    weights = out["result"].weights
    assert set(weights) == {"pde_0", "bc_0", "bc_1", "bc_2", "bc_3"}
    assert "traces" in out["result"].history[0]  # NTK reweighted at step 0


def test_poisson2d(tmp_path):
    code = tmp_path / "poisson2d_generated.py"
    out = _load("poisson2d").main(iterations=2, write_code=str(code))
    assert math.isfinite(out["error"])
    assert "def residual_pde_0" in code.read_text()


def test_custom_adaptive_loss():
    module = _load("custom_adaptive_loss")
    out = module.main(iterations=60)
    assert math.isfinite(out["error"])
    assert isinstance(out["result"].problem.adaptive_loss, module.InverseLossWeights)
    assert out["weights"]["bc_0"] != pytest.approx(1.0)  # reweighted at steps 0 and 50
