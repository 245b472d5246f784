"""Compile lstmkit's kernels ahead of a first run, without PyTorch: `python -m lstmkit.warmup`.

The build runs `python -m lstmkit.warmup --into build/lib/lstmkit/_kernels` (setup.py), so the
wheel carries the compiled kernels and the first `lstmkit demo` after `pip install .` compiles
nothing (lstmkit.ops.jit reads them from the installed package, read only). Without `--into` it
fills the user's kernel cache, as `pip install -e .` does.

pip builds lstmkit before it installs PyTorch into a new environment, and its build environment
holds numba, numpy and scipy but not PyTorch. So nothing here needs PyTorch: each engine's
kernels (lstmkit.ops.fused, lstmkit.ops.batched, lstmkit.ops.gates, none of which imports it)
are called directly, on tiny numpy arrays of the types the engines pass them at run time:
C-contiguous and writeable (numpy views of a model's parameters), all float32 or all float64,
int64 sample orders, Python ints and bools. tests/test_warmup.py checks that the public API's
models then compile nothing. The workloads, each for LSTM and GRU, in float32 and float64:

- per-sample: the per-sample engine's fit (tutorial sizes: W1, the demo) and the fused predict,
  one recurrent layer; per-sample-stacked: the same with two;
- batched: the batched engine's fit (medium sizes, e.g. W2) on one thread and on two, then predict;
  batched-stacked: the same with two recurrent layers;
- blocked: the gate loops of the blocked backend (large LSTM and GRU layers, e.g. W3), as
  lstmkit.ops.blocked calls them (lstmkit.ops.blocked_rows).

Other signatures (three or more recurrent layers, read-only input arrays) compile on first use,
into the user's cache. `$LSTMKIT_WARMUP` narrows the workloads to those it names (comma
separated, e.g. "per-sample" for the tutorial's kernels only, "per-sample,float32" for those in
float32 only; "none" skips the warm-up).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np

# name: (engine, recurrent layers)
WORKLOADS = {
    "per-sample": ("per-sample", 1),
    "per-sample-stacked": ("per-sample", 2),
    "batched": ("batched", 1),
    "batched-stacked": ("batched", 2),
    "blocked": ("blocked", 1),
}
CELLS = ("lstm", "gru")
DTYPES = (np.float32, np.float64)
DTYPE_NAMES = {"float32": np.float32, "float64": np.float64}
WORKLOADS_ENV = "LSTMKIT_WARMUP"


def _chosen_names() -> list[str]:
    return [name.strip() for name in os.environ.get(WORKLOADS_ENV, "").split(",") if name.strip()]


def chosen_workloads() -> tuple[str, ...]:
    """The names of `WORKLOADS`, or those `$LSTMKIT_WARMUP` names."""
    names = [name for name in _chosen_names() if name not in DTYPE_NAMES]
    if not names:
        return tuple(WORKLOADS)
    unknown = [name for name in names if name not in [*WORKLOADS, "none"]]
    if unknown:
        raise ValueError(f"${WORKLOADS_ENV} names unknown workloads {unknown}; known: {list(WORKLOADS)}, "
                         f"{list(DTYPE_NAMES)} or none.")
    return tuple(name for name in WORKLOADS if name in names)


def chosen_dtypes() -> tuple[type, ...]:
    """`DTYPES`, or those `$LSTMKIT_WARMUP` names ("float32", "float64")."""
    named = [DTYPE_NAMES[name] for name in _chosen_names() if name in DTYPE_NAMES]
    return tuple(dtype for dtype in DTYPES if dtype in named) or DTYPES


def run_workload(name: str, cell: str, dtype: type) -> None:
    """Call the kernels of workload `name` for one cell and dtype once (compiling them or loading
    them from a cache)."""
    from lstmkit.ops import batched, fused, permutations

    engine, depth = WORKLOADS[name]
    rng = np.random.default_rng(0)
    if engine == "blocked":
        _blocked_gate_loops(cell, dtype)
        return
    samples, timesteps, features, units = 4, 3, 2, 3
    weights, inputs = [], features
    for _ in range(depth):  # Keras's layout (lstmkit.ops.fused's docstring)
        gate_units = fused.CELLS[cell] * units
        weights += [rng.standard_normal((inputs, gate_units)), rng.standard_normal((units, gate_units)),
                    rng.standard_normal(fused.bias_shape(cell, units))]
        inputs = units
    weights = [(0.1 * w).astype(dtype) for w in [*weights, rng.standard_normal((units, 1)), np.zeros(1)]]
    x = rng.standard_normal((samples, timesteps, features)).astype(dtype)
    y = x[:, -1, :1].copy()
    orders = permutations.randperms(samples, np.array([0]))  # one epoch's order (lstmkit.training.sampling)
    if engine == "per-sample":
        fused.dense_fit(x, y, weights, fused.AdamState(weights), orders, 1, "mse", cell)
    else:
        for threads in (1, 2):
            batched.dense_fit(x, y, weights, fused.AdamState(weights), orders, samples, "mse", threads, cell)
    fused.dense_predictor(weights, cell)(x[:2], True)  # lstmkit.training.engine_choice.FusedPredictor


def _blocked_gate_loops(cell: str, dtype: type) -> None:
    """One step of lstmkit.ops.blocked's forward and backward for `cell`: its gate loops
    (lstmkit.ops.blocked_rows) on a step's slice (B, ·) of time-major buffers (T, B, ·), as the
    backend passes them."""
    from lstmkit.ops import blocked_rows

    steps, batch, units, features = 2, 2, 3, 2
    dh = np.zeros((batch, units), dtype)
    if cell == "lstm":
        inputs, cells = np.zeros((steps + 1, batch, features + units), dtype), np.zeros((steps + 1, batch, units), dtype)
        gates, tanh_cells = np.zeros((steps, batch, 4 * units), dtype), np.zeros((steps, batch, units), dtype)
        blocked_rows._forward_rows(gates[0, 0:batch], cells[0, 0:batch], cells[1, 0:batch], tanh_cells[0, 0:batch],
                                   inputs[1, 0:batch], features)
        blocked_rows._backward_rows(gates[0, 0:batch], cells[0, 0:batch], tanh_cells[0, 0:batch], dh[0:batch],
                                    np.zeros((batch, units), dtype)[0:batch], np.zeros(4 * units))
        return
    hidden, states_h = np.zeros((steps + 1, batch, units), dtype), np.zeros((steps, batch, units), dtype)
    gates, states = np.zeros((steps, batch, 3 * units), dtype), np.zeros((steps, batch, 3 * units), dtype)
    blocked_rows._gru_forward_rows(gates[0, 0:batch], np.zeros((2, 3 * units), dtype), states[0, 0:batch],
                                   hidden[0, 0:batch], states_h[0, 0:batch], hidden[1, 0:batch])
    blocked_rows._gru_backward_rows(gates[0, 0:batch], states_h[0, 0:batch], hidden[0, 0:batch], dh[0:batch],
                                    states[0, 0:batch], np.zeros((2, 3 * units)))


def warm_up(print_fn: Callable[[str], object] = print) -> dict[str, int]:
    """Run every chosen workload for each cell and dtype; return `lstmkit.ops.jit.compile_counts()`
    (signatures loaded from a cache and compiled)."""
    from lstmkit.ops import jit

    for name in chosen_workloads():
        start = time.perf_counter()
        for cell in CELLS:
            for dtype in chosen_dtypes():
                run_workload(name, cell, dtype)
        print_fn(f"{name}: {time.perf_counter() - start:.1f} s")
    return jit.compile_counts()


def warm_up_into(folder: str, print_fn: Callable[[str], object] = print) -> int:
    """Compile every workload's kernels afresh and write them to `folder` (replaced whole, through a
    temporary folder beside it); return how many files it holds. Runs before any kernel is compiled
    or loaded in this process, with no compiled kernels shipped beside it: the build's fresh copy."""
    from lstmkit.ops import jit

    if jit.compile_counts() != {"loaded": 0, "compiled": 0}:
        raise RuntimeError("warm_up_into must run before any kernel is compiled or loaded in this process.")
    if os.path.isdir(jit.SHIPPED_DIR):
        raise RuntimeError(f"{jit.SHIPPED_DIR} exists: remove it, so that every kernel is compiled.")
    if not chosen_workloads():
        return 0
    with tempfile.TemporaryDirectory() as cache:
        os.environ[jit.CACHE_ENV] = cache
        jit.kernel_cache_dir.cache_clear()
        counts = warm_up(print_fn)
        source = jit.kernel_cache_dir()
        if counts["compiled"] == 0 or source is None:
            raise RuntimeError(f"no kernel was compiled ({counts}).")
        parent = os.path.dirname(os.path.abspath(folder)) or "."
        os.makedirs(parent, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".kernels-", dir=parent)
        for name in os.listdir(source):
            if name.endswith((".nbi", ".nbc")):
                shutil.copyfile(os.path.join(source, name), os.path.join(staging, name))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(staging, folder)
    return len(os.listdir(folder))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lstmkit.warmup", description=__doc__.splitlines()[0])
    parser.add_argument("--into", help="write the compiled kernels to this folder (the build's) "
                                       "instead of the user's cache")
    args = parser.parse_args(argv)
    say = lambda line: print(line, file=sys.stderr)  # noqa: E731 (the build shows stderr)
    if args.into:
        files = warm_up_into(args.into, say)
        say(f"lstmkit: {files} compiled kernel files in {args.into}" if files else "lstmkit: no kernels compiled")
    else:
        counts = warm_up(say)
        say(f"lstmkit: {counts['compiled']} kernel signatures compiled, {counts['loaded']} found cached")
    return 0


if __name__ == "__main__":
    sys.exit(main())
