"""The one numba decorator of lstmkit's kernels, and where their compiled code is cached.

Compiled kernels are cached in the user's cache directory, by the platform's convention
(`platformdirs`: ~/.cache/lstmkit on Linux, ~/Library/Caches/lstmkit on macOS,
%LOCALAPPDATA%\\lstmkit\\Cache on Windows), or in `$LSTMKIT_CACHE_DIR` when that is set;
never next to the source files, so lstmkit never writes into its own install folder. A cache
folder that cannot be created or written is no error: the kernels are then compiled in each
process and not cached.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from collections.abc import Callable
from typing import Any

import numba
import numba.core.config

CACHE_ENV = "LSTMKIT_CACHE_DIR"
BASE_OPTIONS = {"error_model": "numpy"}


def cache_dir() -> str:
    """The folder for lstmkit's caches: `$LSTMKIT_CACHE_DIR`, else the user's cache directory."""
    folder = os.environ.get(CACHE_ENV)
    if folder:
        return os.path.abspath(os.path.expanduser(folder))
    import platformdirs

    return platformdirs.user_cache_dir("lstmkit", appauthor=False)


def _sources_digest() -> str:
    """A digest of every kernel module's source. numba checks only the compiled function's own
    file, but kernels inline helpers from other files (fused.optimizer_step inside the batched
    engine): a folder per digest means any edit or upgrade of any kernel file starts a fresh cache."""
    digest = hashlib.sha256(numba.__version__.encode())
    folder = os.path.dirname(os.path.abspath(__file__))
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name), "rb") as source:
                digest.update(name.encode() + b"\0" + source.read())
    return digest.hexdigest()[:16]


@functools.cache
def kernel_cache_dir() -> str | None:
    """Where compiled kernels go (`numba/<digest of the kernel sources>` in `cache_dir()`), or None
    when it is not writable."""
    folder = os.path.join(cache_dir(), "numba", _sources_digest())
    try:
        os.makedirs(folder, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return None
    return folder


def kernel(**options: Any) -> Callable[[Callable], Any]:
    """`numba.njit` with lstmkit's options, cached in `kernel_cache_dir()` (uncached if that is None).

    numba picks a function's cache folder when it is decorated; `numba.config.CACHE_DIR` is set
    for that moment only, so the user's own numba functions keep their own cache settings.
    """

    def decorate(function: Callable) -> Any:
        folder = kernel_cache_dir()
        if folder is None:
            return numba.njit(**BASE_OPTIONS, **options)(function)
        before = numba.core.config.CACHE_DIR
        numba.core.config.CACHE_DIR = folder
        try:
            return numba.njit(cache=True, **BASE_OPTIONS, **options)(function)
        finally:
            numba.core.config.CACHE_DIR = before

    return decorate
