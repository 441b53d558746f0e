"""The package's modules stay small: their median length is at most 250 lines."""

import statistics
from pathlib import Path

import symbolic_pinn

PACKAGE = Path(symbolic_pinn.__file__).parent


def test_median_module_length_at_most_250_lines():
    lengths = {str(p.relative_to(PACKAGE)): len(p.read_text(encoding="utf-8").splitlines())
               for p in sorted(PACKAGE.rglob("*.py"))}
    assert len(lengths) >= 30, lengths  # the walk found the package (38 modules)
    median = statistics.median(lengths.values())
    longest = sorted(lengths.items(), key=lambda kv: -kv[1])[:5]
    assert median <= 250, f"median {median} lines over {len(lengths)} modules; longest {longest}"
