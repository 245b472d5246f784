"""How many CPU threads a computation gets.

Small LSTMs cannot feed two threads: OpenMP's hand-offs cost more than the arithmetic, and
when another process holds the second core, a multi-threaded small GEMM waits on it and slows
down by orders of magnitude. So work under `SMALL_WORK_FLOPS` per call runs on one thread;
bigger work gets every thread PyTorch was started with while no other process is busy, and
one thread while one is. `set_num_threads` overrides the choice.

lstmkit.ops.batched's GEMMs (numba's np.dot, which calls scipy's OpenBLAS) always run on one
thread (lstmkit.ops.blas_threads).
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Iterator

import torch

from lstmkit.checks import positive_int

SMALL_WORK_FLOPS = 1e8  # per forward+backward step; W1 (~0.3 MFLOP) stays on one thread, W2 (~0.15 GFLOP) gets two
_available = torch.get_num_threads()
_override: int | None = None


def set_num_threads(threads: int | None) -> None:
    """Use exactly `threads` threads for lstmkit's work; None returns to choosing by work size."""
    global _override
    _override = positive_int(threads, "threads", optional=True)


def threads_for(flops: float) -> int:
    """The thread count for one call of `flops` floating-point operations.

    Work big enough for several threads gets them only while other processes leave the
    cores idle (as /proc/stat shows since the previous look): a multi-threaded step ends in
    barriers, and each one waits for a core another process holds. Measured on 2 cores, W3's
    training step: 0.33 s on two threads and 0.56 s on one with the other core free; 2.7 s on
    two and 0.57 s on one with it busy.
    """
    if _override is not None:
        return _override
    if flops < SMALL_WORK_FLOPS or _available == 1:
        return 1
    others = _others_cores()
    if others is not None:
        _others_busy[0] = others > 0.25
    return 1 if _others_busy[0] else _available


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_last_sample: list[float] = []  # wall seconds, all CPUs' busy seconds, this process's CPU seconds
_others_busy = [False]


def _others_cores() -> float | None:
    """How many cores other processes kept busy lately (Linux's /proc/stat), or None where
    that cannot be read or too little time has passed to tell.

    "Lately" is since the previous look when that was under a second ago; otherwise a fresh
    look over 30 ms, so that a process that finished long ago does not count.
    """
    previous = _last_sample[:] if _last_sample else None
    sample = _cpu_sample()
    if sample is None:
        return None
    if previous is None or sample[0] - previous[0] > 1.0:
        time.sleep(0.03)
        previous, sample = sample, _cpu_sample()
        if sample is None:
            return None
    elif sample[0] - previous[0] < 0.05:  # too short to tell: keep the baseline
        return None
    _last_sample[:] = sample
    return ((sample[1] - previous[1]) - (sample[2] - previous[2])) / (sample[0] - previous[0])


def _cpu_sample() -> list[float] | None:
    """[wall seconds, busy seconds of all CPUs, this process's CPU seconds], or None off Linux."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    busy = (sum(fields[:8]) - fields[3] - fields[4]) / _CLOCK_TICKS  # all but idle and iowait
    return [time.monotonic(), busy, sum(os.times()[:2])]


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
