"""Smoke test of ``benchmarks/speed.py --quick``: it runs and writes the expected JSON.

No timing assertions (timings on shared machines are noise; the measured ratios are
in ``docs/performance.md``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_speed_quick_writes_json(tmp_path):
    out = tmp_path / "speed.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "speed.py"), "--quick", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text(encoding="utf-8"))
    assert set(results) >= {"meta", "step", "ntk", "adaptive", "memory", "import", "scaling"}
    assert results["meta"]["quick"] is True
    assert [r["problem"] for r in results["step"]] == ["poisson", "wave", "burgers"]
    for r in results["step"]:
        assert r["ours_ms"] > 0 and r["hand_ms"] > 0 and r["ratio"]["median"] > 0
        assert r["loss_check"]["rel_diff"] < 1e-4  # the hand-written loss is the same loss
    for r in results["ntk"]:
        assert r["vmap64_over_step"]["median"] > 0 and r["naive_over_step"]["median"] > 0
        # every exact method agrees with the naive per-point loop
        assert max(r["max_rel_diff"].values()) < 1e-3
    assert results["adaptive"][0]["ratio"]["median"] > 0
    assert results["memory"][0]["ours_peak_rss_mb"] > 0
    assert results["import"]["torch_s"] > 0 and results["import"]["symbolic_pinn_s"] > 0
    assert results["scaling"]["points"] and results["scaling"]["width"]
