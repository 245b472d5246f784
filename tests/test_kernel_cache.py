"""Compiled kernels are cached in the user's cache folder, never inside the package."""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import lstmkit
from lstmkit import warmup
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
    monkeypatch.setattr(jit, "SHIPPED_DIR", str(tmp_path / "no_shipped_kernels"))
    jit.kernel_cache_dir.cache_clear()
    try:
        assert jit.kernel_cache_dir() is None

        @jit.kernel()
        def twice(value):
            return 2.0 * value

        assert twice(1.5) == 3.0  # compiled, not cached
        assert type(twice._cache.chosen()).__name__ == "NullCache"
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


KERNEL_MODULE = """
from lstmkit.ops.jit import kernel


@kernel()
def scaled(x, factor):
    return x * factor
"""


def _load_kernel(folder, source=KERNEL_MODULE):
    """`scaled` from a fresh module kern.py in `folder`: a new dispatcher, nothing compiled yet."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kern.py").write_text(source)
    spec = importlib.util.spec_from_file_location(f"kern_{abs(hash(str(folder)))}", folder / "kern.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.scaled


def _use_folders(monkeypatch, user, shipped):
    monkeypatch.setenv(jit.CACHE_ENV, str(user))
    monkeypatch.setattr(jit, "SHIPPED_DIR", str(shipped))
    jit.kernel_cache_dir.cache_clear()


def _counts(dispatcher):
    return sum(dispatcher.stats.cache_hits.values()), sum(dispatcher.stats.cache_misses.values())


def _files(folder):
    return {p.name: p.read_bytes() for p in Path(folder).rglob("*") if p.is_file()}


def test_kernels_compiled_elsewhere_are_used_read_only_and_refused_from_other_sources(tmp_path, monkeypatch):
    """The build compiles kernels in its own folder and the wheel ships them: a kernel defined in
    another folder with the same sources loads them; other sources (its file, or any kernel
    module) compile afresh into the user's folder; the shipped folder is never written."""
    try:
        # The build: compiled into its own cache, then copied as the wheel's lstmkit/_kernels.
        _use_folders(monkeypatch, tmp_path / "build_cache", tmp_path / "absent")
        built = _load_kernel(tmp_path / "build")
        assert built(2.0, 3.0) == 6.0 and _counts(built) == (0, 1)
        shutil.copytree(jit.kernel_cache_dir(), tmp_path / "shipped")
        shipped = _files(tmp_path / "shipped")
        assert any(name.endswith(".nbi") for name in shipped)

        # The install: the same sources in another folder, an empty user cache.
        _use_folders(monkeypatch, tmp_path / "user", tmp_path / "shipped")
        installed = _load_kernel(tmp_path / "site-packages")
        assert installed(2.0, 4.0) == 8.0 and _counts(installed) == (1, 0)
        assert _files(tmp_path / "user") == {}

        # Another source file (one more line after the kernel: same bytecode, same line number).
        edited = _load_kernel(tmp_path / "edited", KERNEL_MODULE + "\n# edited\n")
        assert edited(2.0, 4.0) == 8.0 and _counts(edited) == (0, 1)
        assert any(name.endswith(".nbi") for name in _files(tmp_path / "user"))

        # An unwritable user folder: the shipped kernels still load; others compile, unsaved.
        (tmp_path / "blocker").write_text("not a folder")
        _use_folders(monkeypatch, tmp_path / "blocker" / "cache", tmp_path / "shipped")
        read_only = _load_kernel(tmp_path / "site-packages-3")
        assert read_only(1.0, 3.0) == 3.0 and _counts(read_only) == (1, 0)
        unsaved = _load_kernel(tmp_path / "edited-2", KERNEL_MODULE + "\n# edited again\n")
        assert unsaved(1.0, 3.0) == 3.0 and _counts(unsaved) == (0, 1)
        _use_folders(monkeypatch, tmp_path / "user", tmp_path / "shipped")

        # The same file, but another version of the kernel modules (lstmkit/ops/*.py, numba, numpy).
        monkeypatch.setattr(jit, "sources_digest", lambda: "another-version")
        other = _load_kernel(tmp_path / "site-packages-2")
        assert other(2.0, 5.0) == 10.0 and _counts(other) == (0, 1)
        assert _files(tmp_path / "shipped") == shipped
    finally:
        jit.kernel_cache_dir.cache_clear()


def test_kernels_choose_their_folders_when_first_compiled_not_when_defined(tmp_path, monkeypatch):
    """The build's warm-up imports lstmkit (which defines kernels), then points the user's folder
    at its own; a process that compiled or loaded kernels already is refused."""
    try:
        _use_folders(monkeypatch, tmp_path / "first", tmp_path / "absent")
        scaled = _load_kernel(tmp_path / "module")
        assert jit.compile_counts()["loaded"] >= 0 and scaled.stats.cache_path is None  # reading stats chooses nothing
        assert not (tmp_path / "first").exists()  # defining touched no folder
        _use_folders(monkeypatch, tmp_path / "second", tmp_path / "absent")
        assert scaled(1.0, 2.0) == 2.0 and _counts(scaled) == (0, 1)
        assert not (tmp_path / "first").exists() and _files(tmp_path / "second")
        with pytest.raises(RuntimeError, match="before any kernel"):
            warmup.warm_up_into(str(tmp_path / "kernels"))
        assert not (tmp_path / "kernels").exists()
    finally:
        jit.kernel_cache_dir.cache_clear()


def test_import_lstmkit_loads_no_numba():
    """numba takes ~0.5 s to import: only a model that runs compiled kernels pays it."""
    code = "import sys, lstmkit; from lstmkit import Sequential; print('numba' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
