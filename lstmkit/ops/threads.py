"""How many CPU threads a computation gets.

Small LSTMs cannot feed two threads: OpenMP's hand-offs cost more than the arithmetic, and
when another process holds the second core, a multi-threaded small GEMM waits on it and slows
down by orders of magnitude. So work under `SMALL_WORK_FLOPS` per call runs on one thread;
bigger work gets every thread PyTorch was started with. `set_num_threads` overrides the choice.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

SMALL_WORK_FLOPS = 1e9  # per forward+backward step; W2-sized steps (~0.15 GFLOP) stay on one thread
_available = torch.get_num_threads()
_override: int | None = None


def set_num_threads(threads: int | None) -> None:
    """Use exactly `threads` threads for lstmkit's work; None returns to choosing by work size."""
    global _override
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"`threads` must be a positive integer or None; got {threads!r}.")
    _override = threads


def threads_for(flops: float) -> int:
    """The thread count for one call of `flops` floating-point operations."""
    if _override is not None:
        return _override
    return 1 if flops < SMALL_WORK_FLOPS else _available


@contextlib.contextmanager
def thread_limit(threads: int) -> Iterator[None]:
    """Run the block with `threads` intra-op threads, then restore the previous count."""
    previous = torch.get_num_threads()
    if threads != previous:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if threads != previous:
            torch.set_num_threads(previous)


def lstm_flops(batch: int, timesteps: int, features: int, units: int) -> float:
    """Forward floating-point operations of one LSTM layer: 2·B·T·4H·(F + H)."""
    return 2.0 * batch * timesteps * 4 * units * (features + units)
