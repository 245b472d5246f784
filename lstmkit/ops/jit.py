"""The one numba decorator of lstmkit's kernels, and where their compiled code is found and cached.

A kernel's compiled code is looked up in two folders, in order:

1. `lstmkit/_kernels/`, read only: the kernels the build compiled into the wheel (`setup.py` runs
   `python -m lstmkit.warmup --into build/lib/lstmkit/_kernels` while pip builds lstmkit, so the
   first run after `pip install .` compiles nothing). lstmkit never writes there.
2. The user's cache folder, by the platform's convention (`platformdirs`: ~/.cache/lstmkit on
   Linux, ~/Library/Caches/lstmkit on macOS, %LOCALAPPDATA%\\lstmkit\\Cache on Windows), or
   `$LSTMKIT_CACHE_DIR` when that is set: `numba/<digest of the kernel sources>/`. Whatever the
   first folder lacks is compiled and saved here. A folder that cannot be created or written is
   no error: the kernels are then compiled in each process and not saved.

An entry is used only when numba's own key matches (the signature, the CPU name and features,
the numba version, the Python version, a hash of the kernel's bytecode) and its source stamp
matches this install's: a digest of every kernel module's source, of the numba and numpy
versions, and of the kernel's own file, not the files' paths or times, so a cache built in
another folder (the build's) is valid for the same sources, and one built from other sources
is refused. A wheel copied to another CPU
therefore recompiles, into the user's folder.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from collections.abc import Callable
from typing import Any

import numba
import numba.core.caching as numba_caching
import numba.core.dispatcher
import numpy

CACHE_ENV = "LSTMKIT_CACHE_DIR"
BASE_OPTIONS = {"error_model": "numpy"}
SHIPPED_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_kernels")

_kernels: list[Any] = []  # every dispatcher `kernel` made, for `compile_counts`


def cache_dir() -> str:
    """The folder for lstmkit's caches: `$LSTMKIT_CACHE_DIR`, else the user's cache directory."""
    folder = os.environ.get(CACHE_ENV)
    if folder:
        return os.path.abspath(os.path.expanduser(folder))
    import platformdirs

    return platformdirs.user_cache_dir("lstmkit", appauthor=False)


def _sources_digest() -> str:
    """A digest of every kernel module's source. numba checks only the compiled function's own
    file, but kernels inline helpers from other files (the gate routines of gates.py and
    fused_optimizers.optimizer_step inside every engine): a folder per digest means any edit or
    upgrade of any kernel file, of numba or of numpy (whose version numba's typing consults)
    starts a fresh cache."""
    digest = hashlib.sha256(f"numba {numba.__version__} numpy {numpy.__version__}".encode())
    folder = os.path.dirname(os.path.abspath(__file__))
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py"):
            with open(os.path.join(folder, name), "rb") as source:
                digest.update(name.encode() + b"\0" + source.read())
    return digest.hexdigest()[:16]


@functools.cache
def sources_digest() -> str:
    """`_sources_digest()`, read once a process."""
    return _sources_digest()


@functools.cache
def kernel_cache_dir() -> str | None:
    """Where compiled kernels are saved (`numba/<digest of the kernel sources>` in `cache_dir()`),
    or None when it is not writable."""
    folder = os.path.join(cache_dir(), "numba", sources_digest())
    try:
        os.makedirs(folder, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return None
    return folder


def _file_digest(path: str) -> str:
    with open(path, "rb") as source:
        return hashlib.sha256(source.read()).hexdigest()


class _Locator(numba_caching._CacheLocator):
    """numba's view of where a kernel is saved (the user's folder) and how fresh its source is."""

    def __init__(self, py_func: Callable, py_file: str) -> None:
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno

    def get_cache_path(self) -> str | None:
        return kernel_cache_dir()

    def ensure_cache_path(self) -> None:
        if kernel_cache_dir() is None:
            raise OSError("the kernel cache folder is not writable")

    def get_source_stamp(self) -> tuple[str, str]:
        return sources_digest(), _file_digest(self._py_file)

    def get_disambiguator(self) -> str:
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func: Callable, py_file: str) -> _Locator | None:
        return cls(py_func, py_file) if os.path.isfile(py_file) else None


class _Impl(numba_caching.CompileResultCacheImpl):
    _locator_classes = [_Locator]


class KernelCache(numba_caching.FunctionCache):
    """numba's function cache, read from `read_only` folders first, then from and into the user's
    folder (when it is writable)."""

    _impl_class = _Impl

    def __init__(self, py_func: Callable, read_only: tuple[str, ...] = ()) -> None:
        # numba's Cache.__init__, with several folders instead of one
        self._name = repr(py_func)
        self._py_func = py_func
        self._impl = self._impl_class(py_func)
        self._cache_path = self._impl.locator.get_cache_path()  # the user's folder, None if unwritable
        stamp, base = self._impl.locator.get_source_stamp(), self._impl.filename_base
        self._cache_file = None if self._cache_path is None else numba_caching.IndexDataCacheFile(
            self._cache_path, base, stamp)
        self._read_only = [numba_caching.IndexDataCacheFile(folder, base, stamp) for folder in read_only]
        self.enable()

    def _load_overload(self, sig: Any, target_context: Any) -> Any:
        if not self._enabled:
            return None
        key = self._index_key(sig, target_context.codegen())
        for files in self._read_only + ([self._cache_file] if self._cache_file is not None else []):
            data = files.load(key)
            if data is not None:
                return self._impl.rebuild(target_context, data)
        return None

    def _save_overload(self, sig: Any, data: Any) -> None:
        if self._cache_file is not None:
            super()._save_overload(sig, data)

    def flush(self) -> None:
        if self._cache_file is not None:
            self._cache_file.flush()


class FirstUseCache(numba_caching._Cache):
    """A kernel's cache, its folders chosen when the kernel is first compiled or loaded, not when
    it is defined: importing lstmkit touches no folder, and the build's warm-up can point the
    user's folder elsewhere after importing lstmkit."""

    def __init__(self, py_func: Callable) -> None:
        self._py_func = py_func
        self._chosen: numba_caching._Cache | None = None
        self._enabled = True

    def chosen(self) -> numba_caching._Cache:
        if self._chosen is None:
            read_only = (SHIPPED_DIR,) if os.path.isdir(SHIPPED_DIR) else ()
            usable = os.path.isfile(self._py_func.__code__.co_filename)  # not for code without a file
            if usable and (read_only or kernel_cache_dir() is not None):
                self._chosen = KernelCache(self._py_func, read_only)
            else:
                self._chosen = numba_caching.NullCache()
            if not self._enabled:
                self._chosen.disable()
        return self._chosen

    @property
    def cache_path(self) -> str | None:
        """The user's folder once chosen, else None (numba's `stats` reads it: no choosing here)."""
        return None if self._chosen is None else self._chosen.cache_path

    def load_overload(self, sig: Any, target_context: Any) -> Any:
        return self.chosen().load_overload(sig, target_context)

    def save_overload(self, sig: Any, data: Any) -> None:
        self.chosen().save_overload(sig, data)

    def enable(self) -> None:
        self._enabled = True
        if self._chosen is not None:
            self._chosen.enable()

    def disable(self) -> None:
        self._enabled = False
        if self._chosen is not None:
            self._chosen.disable()

    def flush(self) -> None:
        self.chosen().flush()


def kernel(**options: Any) -> Callable[[Callable], Any]:
    """`numba.njit` with lstmkit's options, its compiled code found and saved as the module says.

    numba's `cache=True` would pick a folder from numba's settings and validate by the source
    file's path; the kernel's cache is set here instead, so the user's own numba functions keep
    their own cache settings.
    """

    def decorate(function: Callable) -> Any:
        dispatcher = numba.njit(**BASE_OPTIONS, **options)(function)
        if isinstance(dispatcher, numba.core.dispatcher.Dispatcher):  # not the plain function of NUMBA_DISABLE_JIT
            dispatcher._cache = FirstUseCache(dispatcher.py_func)  # as Dispatcher.enable_caching sets it
            _kernels.append(dispatcher)
        return dispatcher

    return decorate


def compile_counts() -> dict[str, int]:
    """How many kernel signatures this process loaded from a cache ("loaded") and compiled
    ("compiled") so far, e.g. to check that a run after install compiled nothing."""
    return {
        "loaded": sum(sum(d.stats.cache_hits.values()) for d in _kernels),
        "compiled": sum(sum(d.stats.cache_misses.values()) for d in _kernels),
    }
