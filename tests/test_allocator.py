"""``symbolic_pinn.allocator``: the warm-up raises glibc's mmap threshold (fresh processes)."""

from __future__ import annotations

import ctypes
import subprocess
import sys

import pytest

from symbolic_pinn import allocator

PROBE = """
import ctypes, sys
import torch
from symbolic_pinn import allocator

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "warm":
    assert allocator.warm_up() is True and allocator.warm_up() is False
before = libc.mallinfo2().hblkhd  # bytes in mmapped blocks
block = torch.empty(1 << 18)  # 1 MiB, as a 4,000 x 64 float32 layer output
print(libc.mallinfo2().hblkhd - before)
"""


def _glibc_mallinfo2() -> bool:
    try:
        return hasattr(ctypes.CDLL(None), "mallinfo2")
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux") or not _glibc_mallinfo2(),
                    reason="glibc's mallinfo2 (Linux, glibc >= 2.33) reports mmapped bytes")
def test_warm_up_serves_mid_sized_tensors_from_the_heap():
    mapped = {}
    for state in ("cold", "warm"):
        out = subprocess.run([sys.executable, "-c", PROBE, state], capture_output=True,
                             text=True, check=True)
        mapped[state] = int(out.stdout.split()[-1])
    assert mapped["cold"] >= 1 << 20, mapped  # a fresh process maps the 1 MiB tensor
    assert mapped["warm"] == 0, mapped  # after the warm-up it comes from the heap


def test_solve_warms_up(monkeypatch):
    import sympy as sp

    from symbolic_pinn import MLP, PDESystem, PhysicsInformedNN, discretize
    from symbolic_pinn.training import GridTraining

    freed = []
    real = allocator.warm_up
    monkeypatch.setattr(allocator, "_done", False)
    monkeypatch.setattr(allocator, "warm_up", lambda: freed.append(real()))
    x, u = sp.Symbol("x"), sp.Function("u")
    system = PDESystem([u(x).diff(x, 2) + 1], [sp.Eq(u(0), 0)], {x: (0, 1)}, [x], [u(x)])
    problem = discretize(system, PhysicsInformedNN(MLP(1, 1, [4]), GridTraining(0.25)))
    problem.solve(2, progress=False)
    problem.solve(2, progress=False)
    assert freed == [True, False]  # every solve asks; the block is freed once
