"""Smoke test of ``benchmarks/speed.py --quick``: it runs and writes the expected JSON.

No timing assertions (timings on shared machines are noise; the measured ratios are
in ``docs/performance.md``).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_json(script: str, tmp_path, *args: str) -> dict:
    """Run ``benchmarks/<script> [args] --out FILE``; its JSON."""
    out = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args, "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text(encoding="utf-8"))


def quick_json(script: str, tmp_path, *args: str) -> dict:
    """Run ``benchmarks/<script> --quick --out FILE [args]``; its JSON."""
    return run_json(script, tmp_path, "--quick", *args)


def test_speed_quick_writes_json(tmp_path):
    results = quick_json("speed.py", tmp_path)
    assert set(results) >= {"meta", "step", "ntk", "adaptive", "memory", "import", "scaling"}
    assert results["meta"]["quick"] is True
    assert [r["problem"] for r in results["step"]] == ["poisson", "wave", "burgers"]
    for r in results["step"]:
        assert r["ours_ms"] > 0 and r["hand_ms"] > 0 and r["ratio"]["median"] > 0
        assert max(r["loss_check"].values()) < 1e-4  # the hand-written loss is the same loss
    for r in results["ntk"]:
        assert r["vmap64_over_step"]["median"] > 0 and r["naive_over_step"]["median"] > 0
        # every exact method agrees with the naive per-point loop
        assert max(r["max_rel_diff"].values()) < 1e-3
    assert results["adaptive"][0]["ratio"]["median"] > 0
    assert results["memory"][0]["ours_peak_rss_mb"] > 0
    assert results["import"]["torch_s"] > 0 and results["import"]["symbolic_pinn_s"] > 0
    assert results["scaling"]["points"] and results["scaling"]["width"]


def test_speed_points_option(tmp_path):
    """``speed.py --points N``: the step section on N interior points, boundary sets of
    N / 20 (at least 5), recorded in the JSON; a non-positive N is a usage error."""
    out = tmp_path / "speed.json"
    args = [sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--quick", "--skip", "ntk",
            "adaptive", "memory", "import", "scaling", "--out", str(out)]
    proc = subprocess.run([*args, "--points", "60"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text(encoding="utf-8"))
    assert results["meta"]["points"] == [60, 5]
    assert all(r["n_interior"] == 60 and r["n_boundary_per_term"] == 5 for r in results["step"])
    proc = subprocess.run([*args, "--points", "0"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 2 and "--points must be a positive" in proc.stderr


def test_peers_quick_reports_missing_libraries(tmp_path):
    """``benchmarks/peers.py --quick`` with this interpreter: hand and ours run; DeepXDE
    and PINA are reported as not installed where they are absent (as in CI), not failed."""
    out = tmp_path / "peers.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "peers.py"), "--quick", "--steps", "12",
         "--peers-python", sys.executable, "--out", str(out),
         "--impls", "hand", "hand-warm", "ours", "ours-taylor", "deepxde", "pina"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text(encoding="utf-8"))
    rows = results["implementations"]
    assert results["meta"]["quick"] is True and list(rows) == [
        "hand", "hand-warm", "ours", "ours-taylor", "deepxde", "pina"]
    for name in ("hand", "hand-warm", "ours", "ours-taylor"):
        assert rows[name]["status"] == "ok", rows[name]
        assert rows[name]["ms_per_step"] > 0 and rows[name]["peak_rss_mb"] > 0
        assert rows[name]["rel_l2"] > 0
    assert rows["ours-taylor"]["derivatives"] == "taylor"
    # the same network, initialisation, points and loss: the same trained solution
    assert abs(rows["ours"]["rel_l2"] - rows["hand"]["rel_l2"]) < 1e-3 * rows["hand"]["rel_l2"]
    assert rows["hand-warm"]["rel_l2"] == rows["hand"]["rel_l2"]  # the allocator only
    assert results["time_ratios"]["ours/hand"]["median"] > 0
    assert results["time_ratios"]["ours/hand-warm"]["median"] > 0
    for name in ("deepxde", "pina"):
        assert rows[name]["status"] in ("ok", "not installed"), rows[name]
        if rows[name]["status"] == "ok":
            assert results["time_ratios"][f"ours/{name}"]["median"] > 0
        else:
            assert results["time_ratios"][f"ours/{name}"] is None


def test_combined_channels_runs():
    """``benchmarks/combined_channels.py``: both variants build (the assertion inside checks
    that only the combined one has a ``u_comb`` jet) and are timed; no timing assertion."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "combined_channels.py"), "--no-compile",
         "--rounds", "1", "--steps", "12", "--problems", "poisson", "burgers"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert [ln.split()[:2] for ln in lines] == [["poisson", "eager"], ["burgers", "eager"]]
    assert all("combined / separate" in ln for ln in lines)


def test_stacked_calls_runs(tmp_path):
    """``benchmarks/stacked_calls.py``: both variants build and give the same loss (the
    assertions inside), and are timed (no timing assertion); the stacked step runs fewer
    kernel-like ops (a count, not a time: the same on any machine with this torch)."""
    (row,) = run_json("stacked_calls.py", tmp_path, "--rounds", "1", "--steps", "12",
                      "--problems", "burgers", "--sizes", "small")["results"]
    assert (row["problem"], row["size"], row["compiled"]) == ("burgers", "small", False)
    assert row["ops_stacked"] < row["ops_separate"] - 20  # two network calls fewer
    (row,) = run_json("stacked_calls.py", tmp_path, "--ops-only", "--problems", "burgers")["ops"]
    # 238.1, 208.1 and 191.0 with torch 2.13: the hand-written step evaluates the three
    # conditions in one network call too
    assert row["ops_hand"] < row["ops_stacked"] < row["ops_separate"] - 20
    # the autograd path stacks the three value conditions too
    (row,) = run_json("stacked_calls.py", tmp_path, "--ops-only", "--problems", "burgers",
                      "--derivatives", "autograd")["ops"]
    assert row["ops_stacked"] < row["ops_separate"] - 20


def test_derivative_calls_runs(tmp_path):
    """``benchmarks/derivative_calls.py``: both variants build, the merged one with
    ``u_t, u_x = d(u, t, x)``, and give the same loss to the bit (the assertions inside);
    the merged step runs fewer kernel-like ops (one backward pass through the network
    fewer, and its double backward)."""
    (row,) = run_json("derivative_calls.py", tmp_path, "--rounds", "1", "--steps", "6",
                      "--problems", "burgers", "--sizes", "small")["results"]
    assert (row["problem"], row["size"]) == ("burgers", "small")
    assert row["loss_merged"] == row["loss_separate"]
    assert row["ops_merged"] < row["ops_separate"] - 10


def test_point_calls_runs(tmp_path):
    """``benchmarks/point_calls.py``: Burgers' per-point residual differs in each of the
    three layouts, the wave's only in the nested one (it reads no two values of one call
    otherwise), and the NTK diagonals agree to float32 rounding (no timing assertion)."""
    rows = run_json("point_calls.py", tmp_path, "--rounds", "1", "--problems", "burgers",
                    "wave")["results"]
    assert [(r["problem"], r["same_code"]) for r in rows] == [
        ("burgers", []), ("wave", [["apart", "shared"]])]
    assert all(0 < r["max_rel_diff"] < 1e-5 for r in rows)
    assert set(rows[0]) >= {"nested_over_shared", "nested_over_apart", "shared_over_apart"}


def test_ntk_chunks_runs(tmp_path):
    """``benchmarks/ntk_chunks.py``: every chunk size gives the same diagonals to the bit
    (the assertion inside), and ``auto`` is 256 points for the small network (no timing
    assertion)."""
    (row,) = run_json("ntk_chunks.py", tmp_path, "--rounds", "1", "--widths", "16",
                      "--problems", "burgers", "--chunks", "64", "512")["results"]
    assert (row["problem"], row["width"], row["auto_chunk"]) == ("burgers", 16, 256)
    assert set(row) >= {"auto_over_64", "512_over_64", "auto_over_taylor", "taylor_ms"}


def test_ntk_scaling_quick_writes_json(tmp_path):
    """``benchmarks/ntk_scaling.py --quick``: one size by points, one by width, each with
    the forward-propagated and the vmap diagonals checked against each other (no timing
    assertion)."""
    rows = quick_json("ntk_scaling.py", tmp_path)["results"]
    assert [(r["problem"], r["n_points"], r["width"]) for r in rows] == [
        ("poisson", 240, 64), ("poisson", 240, 16)]
    for r in rows:
        assert 0 < r["max_rel_diff"]["taylor_vs_vmap_auto"] < 1e-5
        assert r["taylor_over_step"]["median"] > 0 and r["vmap_auto_over_taylor"]["median"] > 0


def test_gpu_check_script_runs_on_the_cpu(tmp_path):
    """``benchmarks/gpu_check.sh``, the prepared command for a session lent a GPU, with
    DEVICE=cpu: its stages run, the CUDA tests skip, speed.py's JSON names the device."""
    import os
    import shutil

    bash = shutil.which("bash")
    if bash is None or shutil.which("timeout") is None:
        pytest.skip("needs bash and coreutils' timeout")
    env = {**os.environ, "OUT": str(tmp_path), "DEVICE": "cpu", "PROFILES": "hand",
           "STACKED": "0",  # stacked_calls.py has its own smoke test (a minute here)
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(
        [bash, str(ROOT / "benchmarks" / "gpu_check.sh"), "--quick", "--skip", "ntk",
         "adaptive", "memory", "scaling"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False, env=env,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "skipped" in (tmp_path / "test_cuda.log").read_text(encoding="utf-8")
    results = json.loads((tmp_path / "speed-cpu.json").read_text(encoding="utf-8"))
    assert results["meta"]["device"] == "cpu" and len(results["step"]) == 3
    profiled = (tmp_path / "profile-hand-cpu.log").read_text(encoding="utf-8")
    assert "Self CPU" in profiled and "function calls" in profiled  # torch's and cProfile's
    import re

    ops = float(re.search(r"hand: per step ([\d.]+) kernel-like aten ops", profiled).group(1))
    assert 100 < ops < 1000  # 228 with torch 2.13: leaves of the op tree, views left out


def test_tanh_form_runs():
    """``benchmarks/tanh_form.py``: two tanh forms alternate in one run (the default pair,
    and the two value forms that were tried); no timing assertion. Each form's steps are
    timed, so both ran."""
    for forms, label in ((), "factored / plain"), (("--forms", "sigmoid", "expm1"),
                                                  "expm1 / sigmoid"):
        proc = subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "tanh_form.py"), "--steps", "60",
             "--problems", "burgers", *forms],
            cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        line, = proc.stdout.splitlines()
        assert line.startswith("burgers") and label in line


def test_tanh_value_forms_accuracy():
    """The value forms' errors against float64 tanh, as docs/performance.md states them:
    torch.tanh and the expm1 form keep a few ulp of relative accuracy everywhere; 2σ(2z) - 1
    loses all of it near 0 (it returns 0 for tiny z)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import tanh_form
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    errors = tanh_form.accuracy()
    assert errors["torch.tanh"]["max_rel"] < 2e-7
    assert errors["expm1"]["max_rel"] < 4e-7 and errors["expm1"]["max_abs"] < 2e-7
    assert errors["sigmoid"]["max_abs"] < 4e-7
    assert errors["sigmoid"]["max_rel_small"] > 0.5


@pytest.mark.parametrize("flag, label", [
    ("", "ntk (paper)"), ("--plain", "plain"), ("--per-condition", "ntk (per-condition)")])
def test_wave_ntk_size_runs(tmp_path, flag, label):
    """``benchmarks/wave_ntk_size.py`` at a toy size: it trains and writes its records."""
    out = tmp_path / "wave.json"
    field = tmp_path / "field.png"
    extra = [flag] if flag else ["--field", str(field)]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "wave_ntk_size.py"), "--width", "8",
         "--iterations", "20", "--every", "10", "--out", str(out), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text(encoding="utf-8"))
    records = data["records"]
    assert data["meta"]["method"] == ("plain" if flag == "--plain" else "ntk")
    assert [r["step"] for r in records] == [10, 20]
    assert all(r["rel_l2"] > 0 and r["weights"]["pde_0"] > 0 for r in records)
    weights = records[-1]["weights"]
    if flag == "--plain":
        assert all(set(r["weights"].values()) == {1.0} for r in records)
    elif flag == "--per-condition":
        assert len(set(weights.values())) == 5
    else:
        assert weights["bc_0"] == weights["bc_2"] == weights["bc_3"] != 1.0  # one λ_u
        assert field.stat().st_size > 0
    history = tmp_path / "history.png"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "wave_ntk_size.py"), "--history",
         str(history), "--records", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert history.stat().st_size > 0
    assert f"| {label}, 3×8, seed 0 | " in proc.stdout  # the markdown table row


@pytest.mark.parametrize("derivatives", ["auto", "autograd"])
def test_shared_points_quick_writes_json(tmp_path, derivatives):
    """``benchmarks/shared_points.py --quick``: it runs, GridTraining does give the three
    Kovasznay equations one points tensor (what the measurement is about), and the runs
    with and without the shared evaluations took the same steps (on either path)."""
    results = quick_json("shared_points.py", tmp_path, "--derivatives", derivatives)
    assert results["derivatives"] == derivatives
    assert results["quick"] is True and results["equations_share_points"] is True
    parts = ("pde_0", "equations_separate", "equations_shared", "loss_separate",
             "loss_shared", "step_shared", "step_separate", "step_stochastic_shared",
             "step_stochastic_separate", "ntk", "ntk_separate")
    assert min(results[f"{part}_ms"] for part in parts) > 0
    assert results["ntk_over_step"] > 0 and results["ntk_shared_over_separate"] > 0
    assert results["stochastic_equations_share_points"] is True
    assert results["last_step_loss_shared_minus_separate"] < 1e-5
    assert results["last_step_loss_stochastic_shared_minus_separate"] < 1e-5


def test_peers_kovasznay_quick_writes_json(tmp_path):
    """``benchmarks/peers_kovasznay.py --quick``: it runs (DeepXDE and PINA or not: without
    them only our two variants are timed), and our problem has its five groups; the
    point counts a peer is given include the outflow edge's."""
    results = quick_json("peers_kovasznay.py", tmp_path)
    assert results["quick"] is True and len(results["groups"]) == 5
    assert results["ours_over_ours_separate"]["median"] > 0
    assert 0 < results["points"]["outflow"] < results["points"]["boundary"]
    for peer in ("deepxde", "pina"):
        timed = results[f"ours_over_{peer}"] is not None
        assert timed != ("status" in results[peer])  # timed, or says why not


def test_call_setup_quick_writes_json(tmp_path):
    """``benchmarks/call_setup.py --quick``: it runs on the three problems, and the cached
    and uncached set-up of the jet calls give the same residuals, to the bit."""
    results = quick_json("call_setup.py", tmp_path)
    assert [r["problem"] for r in results["results"]] == ["poisson", "wave", "burgers"]
    for r in results["results"]:
        assert r["same_residuals"] is True
        assert r["cached_ms"] > 0 and r["uncached_ms"] > 0 and math.isfinite(r["last_loss"])
