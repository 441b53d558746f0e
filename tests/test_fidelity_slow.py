"""Short accuracy checks, one per headline row of the fidelity benchmark (issue #4).

Each test runs an example's ``main`` (the code behind the row in ``benchmarks/fidelity.py``)
at a reduced size, on one CPU thread, and checks the contrast between the plain PINN and
the adaptive one that held, with a margin, on every seed measured. The reduced sizes are
far from the papers' configurations, so the thresholds are far from the published numbers
(those are for ``benchmarks/fidelity.py --budget cpu/full``); what these tests catch is a
change that breaks the adaptive method (it stops beating the plain PINN) or the plain
baseline (it stops failing where the paper says it fails).

Marked ``slow`` (excluded by default); run with::

    python -m pytest tests/test_fidelity_slow.py -m slow -q

The numbers in the comments were measured with torch's CPU build on one thread (process
CPU time; each test is meant to stay under about 3 minutes).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _main(name: str, **kwargs) -> dict:
    spec = importlib.util.spec_from_file_location(f"fidelity_slow_{name}",
                                                  EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(**kwargs)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("seed", [0, 1])
def test_poisson_sin4pi_ntk_beats_plain(seed):
    """NTK row (Poisson sin(4πx)), the paper's loss: at 3k Adam steps (cpu profile 10k) the
    plain PINN still fails and the NTK weights are better by ≥ 10× (measured: ≥ 30×).
    Measured (plain / NTK, ratio): seed 0: 0.237 / 6.48e-3 (37×); 1: 0.298 / 5.88e-3 (51×);
    2: 0.261 / 8.76e-3 (30×); 3: 0.396 / 3.61e-3 (110×). With ``paper_loss=False`` (each
    end its own mean and weight): 0.102 / 9.50e-3, 0.127 / 7.71e-3, 0.167 / 8.64e-3,
    0.182 / 3.20e-3. About 8 s of CPU per seed (both runs)."""
    out = _main("poisson_sin4pi", iterations=3000, seed=seed)
    plain, ntk = out["error_plain"], out["error_ntk"]
    assert plain >= 0.15, (plain, ntk)
    assert ntk <= 2e-2, (plain, ntk)
    assert plain >= 10 * ntk, (plain, ntk)
    weights = out["ntk_weights_init"]  # paper: λ_b ≈ 100 at initialization
    assert all(50 <= weights[bc] <= 250 for bc in ("bc_0", "bc_1")), weights  # 86-136


def test_wave1d_ntk_beats_plain():
    """NTK row (1D wave), the notebook's weights: 3×128, 6k steps (cpu profile 3×128, 20k;
    paper 3×500, 80k). The plain PINN fails as in the paper; NTK weights are better, though
    only ≈ 3× at this size (≥ 10× does not hold). Measured (plain / NTK at 6k steps,
    ratio): seed 0: 0.565 / 0.179 (3.2×); 1: 0.555 / 0.205 (2.7×); 2: 0.551 / 0.154 (3.6×).
    With per-condition weights (``paper_weights=False``): NTK 0.246 / 0.282 / 0.299. About
    100-145 s of CPU (both runs)."""
    out = _main("wave1d", iterations=6000, hidden=(128, 128, 128), seed=0)
    plain, ntk = out["error_plain"], out["error_ntk"]
    assert plain >= 0.45, (plain, ntk)
    assert ntk <= 0.3, (plain, ntk)
    assert plain >= 2 * ntk, (plain, ntk)


def test_helmholtz2d_lra_beats_plain():
    """GradientScale (LRA) row (2D Helmholtz): the paper's network and points, 10k of its
    40k steps. Measured (plain / LRA, ratio): seed 0: 0.570 / 7.07e-2 (8.1×); 1: 0.248 /
    2.91e-2 (8.5×); 2: 0.292 / 4.06e-2 (7.2×); at 5k steps the ratio was 3.2-7×. About
    50-100 s of CPU (both runs)."""
    out = _main("helmholtz2d", iterations=10000, seed=0)
    plain, lra = out["error_plain"], out["error_lra"]
    assert plain >= 0.15, (plain, lra)
    assert lra <= 0.12, (plain, lra)
    assert plain >= 4 * lra, (plain, lra)


def test_burgers1d_sa_resolves_the_shock():
    """SA-PINN row (Burgers): the paper's 10,000 LHS points with 4×20 instead of 8×20, 2k
    Adam steps and 100 L-BFGS steps (≤ 20 evaluations each) instead of 10k + 10k. At
    this size, as at the cpu profile's (seeds 0-3: plain 4.0, 4.5, 7.3, 5.3e-4; SA 4.9,
    4.9, 2.2, 2.7e-4), SA does not beat the plain PINN on every seed, so the check is that
    both resolve the shock (the former grid-based cpu profile stayed at 0.06-0.5) and
    that SA is not worse than plain by more than 3×. Measured (plain / SA): seed 0:
    2.43e-3 / 2.98e-3; 1: 4.90e-3 / 3.73e-3; 2: 4.54e-3 / 1.75e-3. About 140-180 s of
    CPU."""
    out = _main("burgers1d", iterations=2000, lbfgs_iterations=100, hidden=(20,) * 4,
                seed=0)
    plain, sa = out["error_plain"], out["error_sa"]
    assert sa <= 1.5e-2, (plain, sa)
    assert plain <= 2e-2, (plain, sa)
    assert sa <= 3 * plain, (plain, sa)
    weights = out["result_sa"].problem.adaptive_loss
    assert weights.frozen  # L-BFGS kept the Adam run's weights, frozen
    assert weights.point_weights_of("pde_0").mean() > 1.0  # trained up from E[U(0,1)²]
