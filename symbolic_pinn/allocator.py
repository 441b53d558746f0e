"""Training on the CPU in a fresh process: glibc's dynamic mmap threshold.

glibc's ``malloc`` serves every block of at least its *mmap threshold* (128 KiB when a
process starts) with a fresh ``mmap`` and unmaps it on ``free``, so its pages fault in
anew on the next allocation; the heap itself is trimmed back to the system whenever its
free top exceeds the *trim threshold*. Both thresholds are dynamic: freeing a mapped
block raises the mmap threshold to that block's size (at most 32 MiB on 64-bit systems)
and the trim threshold to twice that. A training step on 2,000 points of a 64-wide MLP
allocates and frees dozens of 500 KiB tensors (``2000 × 64`` float32), and a fresh
process whose largest freed block is that size keeps mapping, trimming and faulting them
in: measured with ``benchmarks/peers.py``'s Poisson step (fresh processes, 300 steps),
8.8–9.2 ms a step against 5.6–6.4 ms once the thresholds had risen (a hand-written
PyTorch step: 10.2–10.6 against 8.7–9.0 ms).

:func:`warm_up` frees one 16 MiB block, once per process, before the first training step:
glibc then raises both thresholds exactly as it would after any 16 MiB tensor had been
freed. It sets no allocator option (``mallopt`` would switch the dynamic thresholds off
for good), touches no page of the block (it is never written, so it costs no memory),
and does nothing where the allocator is not glibc's. :func:`symbolic_pinn.solve`
calls it.
"""

from __future__ import annotations

import torch

__all__ = ["warm_up"]

# 16 MiB of float32: with torch's alignment padding and glibc's chunk header, the freed
# mapping stays under glibc's 32 MiB cap on the dynamic threshold (a 32 MiB block would not).
_BLOCK_ELEMENTS = 4 << 20
_done = False


def warm_up() -> bool:
    """Free one 16 MiB block through torch's CPU allocator, the first time only.

    Returns:
        ``True`` the first time in a process (the block was allocated and freed),
        ``False`` afterwards.

    Examples:
        >>> from symbolic_pinn import allocator
        >>> _ = allocator.warm_up()  # the first call in a process frees the block
        >>> allocator.warm_up()      # later calls do nothing
        False
    """
    global _done
    if _done:
        return False
    _done = True
    # device="cpu": under torch.set_default_device("cuda") the block must still be the host's
    block = torch.empty(_BLOCK_ELEMENTS, dtype=torch.float32, device="cpu")
    del block
    return True
