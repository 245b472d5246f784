"""The build's kernel warm-up runs without PyTorch and compiles what the public API then runs.

A new environment's `pip install` builds lstmkit before PyTorch is installed, so lstmkit.warmup
calls the kernels directly on numpy arrays. Whatever signature it misses (a layout, a dtype, an
integer width, a tuple's shape) would be compiled by the user's first run. Two checks:

- every kernel call the public API makes from Python, for models on each engine in float32 and
  float64, LSTM and GRU, passes argument types that the warm-up passes too (numba compiles a
  kernel once per such signature; the kernels called from compiled code follow from them);
- the warm-up as setup.py runs it (a child process, PyTorch blocked, the package __init__ files
  left out) into an empty cache, then a model trained and used through the public API: it loads
  those kernels and compiles 0 signatures (`lstmkit.ops.jit.compile_counts()`).
"""

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lstmkit import Sequential, warmup
from lstmkit.layers import GRU, LSTM, Dense
from lstmkit.ops import batched, blocked, blocked_rows, fused, gates, jit, permutations, threads

ROOT = Path(__file__).resolve().parent.parent

# The public API's workloads: (name, cell, recurrent layers, units, timesteps, features, batch,
# threads), each model trained one epoch of one batch and then predicting two windows, sized for
# the engine it names (lstmkit.training.engine_choice's limits on one batch's forward flops).
PUBLIC_WORKLOADS = [
    ("per-sample", cell, layers, 4, 5, 1, 1, None) for cell in (LSTM, GRU) for layers in (1, 2)
] + [
    ("batched", cell, layers, 64, 24, 1, 64, thread_count)
    for cell in (LSTM, GRU) for layers in (1, 2) for thread_count in (1, 2)
] + [("large", LSTM, 1, 128, 32, 8, 128, None),  # 5.7e8 flops: the torch engine on the blocked backend
      ("large", GRU, 1, 152, 32, 8, 128, None)]  # a GRU counts 3/4 of an LSTM: 6e8


def run_public_workload(workload, dtype, rng):
    """Train and predict with one workload's model in `dtype` through the public API."""
    _, cell, layers, units, timesteps, features, batch, thread_count = workload
    stack = [cell(units, return_sequences=index < layers - 1, input_shape=(timesteps, features) if index == 0 else None)
             for index in range(layers)]
    model = Sequential([*stack, Dense(1)]).to(torch.float64 if dtype == np.float64 else torch.float32)
    model.compile(loss="mse", optimizer="adam")
    x = rng.standard_normal((batch, timesteps, features)).astype(dtype)
    threads.set_num_threads(thread_count)
    try:
        model.fit(x, x[:, -1, :1], epochs=1, batch_size=batch, verbose=0, seed=0)
        model.predict(x[:2])
    finally:
        threads.set_num_threads(None)


class _Recorder:
    """Stands in for a kernel: records (its name, its argument types as numba types them), runs
    nothing, fills array arguments with zeros (a kernel's outputs: finite) and returns what the
    callers expect of the kernel's type."""

    RESULTS = {"_predict_if_finite": True, "_batch_gradients": 0.0}

    def __init__(self, dispatcher, phases):
        self.dispatcher, self.phases = dispatcher, phases

    def __call__(self, *args):
        name = self.dispatcher.py_func.__qualname__
        self.phases[-1].add((f"{self.dispatcher.py_func.__module__}.{name}",
                        tuple(str(self.dispatcher.typeof_pyval(a)) for a in args)))
        for argument in args:
            if isinstance(argument, np.ndarray) and argument.flags.writeable:
                argument[...] = 0
        return self.RESULTS.get(name)


def _recording(monkeypatch):
    """Every kernel of the modules that call kernels from Python, replaced by a _Recorder. Returns
    the list of phases: the calls go into the set at its end (append a set to start a phase)."""
    phases = [set()]
    for module in (fused, batched, blocked, blocked_rows, gates, permutations):
        for name, value in list(vars(module).items()):
            if any(value is kernel for kernel in jit._kernels):
                monkeypatch.setattr(module, name, _Recorder(value, phases))
    return phases


def test_every_kernel_call_of_the_public_api_has_a_signature_the_warm_up_compiles(monkeypatch):
    monkeypatch.delenv(warmup.WORKLOADS_ENV, raising=False)
    permutations.matches_torch()  # checked (and cached) before the recorders stand in for its kernel
    before = jit.compile_counts()
    phases = _recording(monkeypatch)
    warmup.warm_up(print_fn=lambda line: None)
    phases.append(set())
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        for workload in PUBLIC_WORKLOADS:
            run_public_workload(workload, dtype, rng)
    assert jit.compile_counts() == before  # every kernel call went through a recorder
    compiled, used = phases

    names = {name.rsplit(".", 1)[1] for name, _ in used}
    assert names == {"_fit_kernel", "_predict_if_finite", "_batch_gradients", "_step_on_sum",
                     "_forward_rows", "_backward_rows", "_gru_forward_rows", "_gru_backward_rows",
                     "_permutations"}  # every engine ran, on two threads too
    assert all(any(f"float{bits}" in str(types) for _, types in used) for bits in (32, 64))
    missing = sorted(used - compiled)
    assert missing == [], f"{len(missing)} signatures the warm-up does not compile, e.g. {missing[0]}"


def _setup_warm_up():
    """setup.py's warm_up(package_root, arguments): lstmkit.warmup in a child process, as the build runs it."""
    return runpy.run_path(str(ROOT / "setup.py"), run_name="lstmkit_setup")["warm_up"]


# A large LSTM's training step on the blocked backend, then how many kernel signatures were
# loaded and compiled.
BLOCKED_STEP = """
import json, numpy as np, torch
from lstmkit import Sequential
from lstmkit.layers import LSTM, Dense
from lstmkit.ops import jit, use_backend
for dtype in (torch.float32, torch.float64):
    model = Sequential([LSTM(3, input_shape=(4, 2)), Dense(1)]).to(dtype)
    model.compile(loss="mse", optimizer="adam")
    x = np.linspace(0, 1, 24).reshape(3, 4, 2)
    with use_backend("blocked"):
        model.fit(x, x[:, -1, :1], epochs=1, batch_size=3, verbose=0)
print(json.dumps(jit.compile_counts()))
"""


def test_the_build_warm_up_runs_without_torch_and_leaves_nothing_to_compile(tmp_path, monkeypatch):
    """setup.py's warm-up (here narrowed to the blocked backend's gate loops, the quickest to
    compile: the other workloads' signatures are checked above) with PyTorch blocked, into an
    empty user cache; then the public API's training step compiles nothing."""
    monkeypatch.setenv(jit.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(warmup.WORKLOADS_ENV, "blocked")
    assert _setup_warm_up()(str(ROOT), [])
    assert list((tmp_path / "cache").rglob("*.nbi"))

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", BLOCKED_STEP], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout)
    assert counts == {"loaded": 4, "compiled": 0}, counts  # forward and backward loops, float32 and float64


def test_the_warm_up_fails_where_a_kernel_module_needs_torch(tmp_path, monkeypatch):
    """The same child process with an ops module that imports PyTorch: it fails, and the build
    goes on (warm_up returns False), so the check above would notice one."""
    package = tmp_path / "lstmkit"
    (package / "ops").mkdir(parents=True)
    (package / "warmup.py").write_text("def main(argv):\n    import lstmkit.ops.needs_torch\n    return 0\n")
    (package / "ops" / "needs_torch.py").write_text("import torch\n")
    monkeypatch.setenv(jit.CACHE_ENV, str(tmp_path / "cache"))
    assert _setup_warm_up()(str(tmp_path), []) is False


def test_workloads_are_narrowed_by_name(monkeypatch):
    monkeypatch.setenv(warmup.WORKLOADS_ENV, "blocked, per-sample")
    assert warmup.chosen_workloads() == ("per-sample", "blocked")
    assert warmup.chosen_dtypes() == (np.float32, np.float64)
    monkeypatch.setenv(warmup.WORKLOADS_ENV, "per-sample, float32")
    assert warmup.chosen_workloads() == ("per-sample",) and warmup.chosen_dtypes() == (np.float32,)
    monkeypatch.setenv(warmup.WORKLOADS_ENV, "none")
    assert warmup.chosen_workloads() == ()
    monkeypatch.setenv(warmup.WORKLOADS_ENV, "per-sampel")
    with pytest.raises(ValueError, match=r"unknown workloads \['per-sampel'\]"):
        warmup.chosen_workloads()
