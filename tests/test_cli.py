"""The ``symbolic-pinn`` command: demo (quick), list, show-code."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import pytest

from symbolic_pinn import gallery
from symbolic_pinn.cli import main


def test_quick_demo_writes_files_and_reports_both_errors(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--quick", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "relative L2 error, plain PINN" in text
    assert "relative L2 error, NTK weights" in text
    assert "final NTK weights" in text and "bc_0 =" in text
    assert "NTK traces" in text
    code = out / "poisson1d_ntk_generated.py"
    ast.parse(code.read_text())
    assert "run.adapt(losses)" in code.read_text()  # the NTK problem's module
    assert (out / "poisson1d_ntk_vs_plain.png").stat().st_size > 10_000
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["relative_l2"]) == {"plain", "ntk"}
    assert summary["configuration"]["iterations"] == 300
    assert summary["weight_history"][0]["step"] == 0
    assert set(summary["ntk_weights"]) == {"pde_0", "bc_0", "bc_1"}


def test_iterations_option(tmp_path, capsys):
    assert main(["--iterations", "20", "--seed", "1", "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["configuration"]["iterations"] == 20
    assert summary["configuration"]["seed"] == 1


def test_list(capsys):
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    for name in gallery.names():
        assert name in text


@pytest.mark.parametrize("name", ["poisson1d_sin4pi", "wave1d"])
def test_show_code_prints_valid_python(name, capsys):
    assert main(["show-code", name]) == 0
    source = capsys.readouterr().out
    ast.parse(source)
    assert "def residual_pde_0" in source


def test_show_code_options(capsys):
    assert main(["show-code", "poisson1d_sin4pi", "--ntk", "--standardize"]) == 0
    source = capsys.readouterr().out
    assert "run.adapt(losses)" in source and "0.2886751345948129" in source


def test_show_code_unknown_name_exits_2_and_lists_names(capsys):
    with pytest.raises(SystemExit) as info:
        main(["show-code", "no_such_problem"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "no_such_problem" in err
    for name in gallery.names():
        assert name in err


def test_python_dash_m_runs_the_same_command(capsys, monkeypatch):
    """``python -m symbolic_pinn`` is the ``symbolic-pinn`` console script
    (``symbolic_pinn.cli:main``): the same help text, the same exit status."""
    monkeypatch.setenv("COLUMNS", "100")  # argparse wraps the help to the terminal width
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    expected = capsys.readouterr().out
    done = subprocess.run([sys.executable, "-m", "symbolic_pinn", "--help"], check=False,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "COLUMNS": "100"})
    assert done.returncode == 0, done.stderr
    assert done.stdout == expected and expected.startswith("usage: symbolic-pinn ")


@pytest.mark.parametrize("where", ["file", "below a file"])
def test_out_that_is_a_file_is_a_usage_error_naming_it(tmp_path, capsys, where):
    existing = tmp_path / "results.txt"
    existing.write_text("keep me")
    out = existing if where == "file" else existing / "sub"
    with pytest.raises(SystemExit) as info:
        main(["--quick", "--out", str(out)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("symbolic-pinn: error: argument --out:") and str(out) in last
    assert "Traceback" not in err
    assert existing.read_text() == "keep me"


@pytest.mark.parametrize("seed", ["-1", str(2**64)])
def test_seed_out_of_range_is_a_usage_error(tmp_path, capsys, seed):
    """It was a ValueError traceback from torch (after --out had been created)."""
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as info:
        main(["--quick", "--seed", seed, "--out", str(out)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--seed must be an integer in [0, 2**64)" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize("argv", [["list"], ["show-code", "wave1d"]])
def test_output_into_a_closed_pipe_is_quiet(monkeypatch, argv):
    """`symbolic-pinn show-code NAME | head -1`: once the reader has gone, the command
    ends quietly (exit 0) instead of with a BrokenPipeError traceback."""
    read, write = os.pipe()
    os.close(read)  # the reader has gone: every write raises BrokenPipeError
    stdout = open(write, "w", buffering=1)  # noqa: SIM115 (closed below)
    monkeypatch.setattr(sys, "stdout", stdout)
    try:
        assert main(argv) == 0
    finally:
        monkeypatch.undo()
        stdout.close()
