"""Compiled kernels are cached in the user's cache folder, never inside the package."""

import os
import subprocess
import sys
from pathlib import Path

import lstmkit
from lstmkit.ops import jit

PACKAGE = Path(lstmkit.__file__).parent

PREDICT = """
import numpy as np
from lstmkit import Sequential
from lstmkit.layers import LSTM, Dense
from lstmkit.ops import jit
model = Sequential([LSTM(3, input_shape=(4, 1)), Dense(1)])
x = np.linspace(0, 1, 8, dtype=np.float32).reshape(2, 4, 1)
assert model._fused_predict(x) is not None, "the fused kernels did not run"
print(jit.kernel_cache_dir())
"""


def _run(cache_dir):
    env = {**os.environ, jit.CACHE_ENV: str(cache_dir)}
    process = subprocess.run([sys.executable, "-c", PREDICT], env=env, capture_output=True, text=True, timeout=300)
    assert process.returncode == 0, process.stderr
    return process.stdout.strip()


def _package_caches():
    return [p for p in PACKAGE.rglob("*") if p.suffix in (".nbi", ".nbc")]


def test_kernels_are_cached_in_the_cache_folder_not_the_package(tmp_path):
    before = _package_caches()
    folder = Path(_run(tmp_path / "missing" / "cache"))
    assert folder.parent == tmp_path / "missing" / "cache" / "numba"
    assert list((tmp_path / "missing" / "cache" / "numba").rglob("*.nbi"))  # a missing folder is created
    assert _package_caches() == before == []


def test_an_unwritable_cache_folder_compiles_without_caching(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(jit.CACHE_ENV, str(blocker / "cache"))
    jit.kernel_cache_dir.cache_clear()
    try:
        assert jit.kernel_cache_dir() is None

        @jit.kernel()
        def twice(value):
            return 2.0 * value

        assert twice(1.5) == 3.0  # compiled, not cached
        assert type(twice._cache).__name__ == "NullCache"
    finally:
        jit.kernel_cache_dir.cache_clear()
    assert blocker.read_text() == "not a folder" and _package_caches() == []


def test_cache_folder_follows_the_platform_or_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(jit.CACHE_ENV, str(tmp_path))
    assert jit.cache_dir() == str(tmp_path)
    monkeypatch.delenv(jit.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert jit.cache_dir() == str(tmp_path / "xdg" / "lstmkit")


def test_an_edit_to_any_kernel_file_starts_a_fresh_cache_folder(tmp_path, monkeypatch):
    """numba checks only a kernel's own file, but kernels inline helpers from other files: a
    cache built before an edit or upgrade of any of them must not be reused."""
    ops = tmp_path / "ops"
    ops.mkdir()
    for name in ("fused.py", "batched.py"):
        (ops / name).write_text((PACKAGE / "ops" / name).read_text())
    monkeypatch.setattr(jit, "__file__", str(ops / "jit.py"))
    before = jit._sources_digest()
    assert jit._sources_digest() == before
    (ops / "fused.py").write_text((ops / "fused.py").read_text() + "\n# an edit\n")
    assert jit._sources_digest() != before
