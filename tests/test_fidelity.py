"""Smoke test of ``benchmarks/fidelity.py --budget smoke`` on two rows.

The smoke profile runs a handful of iterations, so the errors mean nothing; this checks
that the rows run, that the table has its columns, that rows not run are marked, and that
the raw JSON and the NTK weights at initialization are recorded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

COLUMNS = ["Problem", "Method", "Configuration", "Ours: mean [min–max]", "Per seed",
           "Published (source)", "Ours / published", "Target", "Wall time", "Profile"]


def test_fidelity_smoke_two_rows(tmp_path):
    out, raw = tmp_path / "fidelity.md", tmp_path / "fidelity.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "fidelity.py"), "--budget", "smoke",
         "--rows", "poisson_sin4pi,poisson_sin4pi_gd,klein_gordon", "--out", str(out),
         "--json", str(raw)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = out.read_text(encoding="utf-8")
    assert table.strip() in proc.stdout
    lines = [line for line in table.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == COLUMNS
    body = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    main_rows = [r for r in body if len(r) == len(COLUMNS)]
    run = [r for r in main_rows if r[-1] == "smoke"]
    assert {(r[0], r[1]) for r in run} == {
        ("1D Poisson u = sin(4πx)", "plain"), ("1D Poisson u = sin(4πx)", "NTK"),
        ("1D Poisson u = sin(4πx), gradient descent", "plain"),
        ("1D Poisson u = sin(4πx), gradient descent", "NTK"),
        ("Klein–Gordon (cubic)", "plain"), ("Klein–Gordon (cubic)", "GradientScale (LRA)")}
    for r in run:
        assert r[4].startswith("s0: ")  # every seed's value
        assert r[6].endswith("×")  # ratio to the published number
    not_run = [r for r in main_rows if r[3] == "**not run**"]
    assert {r[0] for r in not_run} >= {"2D Helmholtz a1=1, a2=4, k=1", "Burgers ν = 0.01/π"}
    assert "NTK weights at initialization" in table
    records = json.loads(raw.read_text(encoding="utf-8"))
    assert records["meta"]["budget"] == "smoke"
    poisson = next(r for r in records["rows"] if r["name"] == "poisson_sin4pi")
    weights = poisson["extra"]["ntk_weights_init"][0]
    assert set(weights) == {"pde_0", "bc_0", "bc_1"}


def test_fidelity_unknown_row_is_an_error():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "fidelity.py"), "--budget", "smoke",
         "--rows", "nope"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode != 0
    assert "unknown rows" in proc.stderr
