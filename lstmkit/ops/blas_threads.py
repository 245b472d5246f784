"""numba's BLAS (scipy's OpenBLAS, which numba's np.dot calls) kept on one thread: lstmkit.ops.batched's GEMMs.

Without PyTorch (lstmkit.ops.threads sets PyTorch's threads), so that the kernel modules import
without it: the build compiles them before PyTorch may be installed (lstmkit.warmup).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
from typing import Iterator


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with numba's BLAS (scipy's OpenBLAS) on one thread, then restore its count.

    OpenBLAS starts a thread per core and splits even a 64x64x256 product between them, with a
    barrier each time: W2 on lstmkit.ops.batched took 1.7 s on two threads with the other core
    free, but 30-160 s with it busy (2.3-3.3 s on one thread), so its GEMMs stay on one thread.
    """
    threads = _blas_threads()
    previous = threads[0]() if threads is not None else 1
    if threads is not None and previous != 1:
        threads[1](1)
    try:
        yield
    finally:
        if threads is not None and previous != 1:
            threads[1](previous)


@functools.cache
def _blas_threads() -> "tuple[ctypes._CFuncPtr, ctypes._CFuncPtr] | None":
    """OpenBLAS's (get_num_threads, set_num_threads) as scipy's BLAS module links them, or None
    (another BLAS)."""
    from scipy.linalg import cython_blas  # what numba's np.dot calls

    library = ctypes.CDLL(cython_blas.__file__)  # its symbols and those of the libraries it loads
    for prefix in ("scipy_openblas", "openblas"):
        getter = getattr(library, f"{prefix}_get_num_threads", None)
        setter = getattr(library, f"{prefix}_set_num_threads", None)
        if getter is not None and setter is not None:
            getter.argtypes, getter.restype = [], ctypes.c_int
            setter.argtypes, setter.restype = [ctypes.c_int], None
            return getter, setter
    return None
