"""Compile the kernels of lstmkit's common engines ahead of a first run: `python -m lstmkit.warmup`.

The build runs `python -m lstmkit.warmup --into build/lib/lstmkit/_kernels` (setup.py), so the
wheel carries the compiled kernels and the first `lstmkit demo` after `pip install .` compiles
nothing (lstmkit.ops.jit reads them from the installed package, read only). Without `--into` it
fills the user's kernel cache, as `pip install -e .` does.

The kernels are not named here: tiny models are trained and used through the public API, one
for each engine a user meets first, and whatever kernels those calls use are compiled:

- the per-sample engine (tutorial sizes: W1, the demo), one and two recurrent layers;
- the batched engine (medium sizes, e.g. W2), on one thread and on two;
- the blocked backend (large training steps, e.g. W3): one step of a model big enough for it.

Each for LSTM and GRU, in float32. Other signatures (float64, deeper stacks) compile on first
use, into the user's cache. `$LSTMKIT_WARMUP` narrows the workloads to those it names (comma
separated, e.g. "per-sample" for the tutorial's kernels only; "none" skips the warm-up).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

import numpy as np

# (name, recurrent layers, units, timesteps, features, batch size, threads), each trained for one
# epoch of one batch. Forward flops of a batch, 2·B·T·gates·H·(F+H) for an LSTM: the batched rows'
# 5e7 lie between the per-sample engine's limit (2e7) and the blocked backend's (5e8), the large
# row's 2e9 above it, with room for those limits to move.
WORKLOADS = (
    ("per-sample", 1, 4, 5, 1, 1, None),
    ("per-sample-stacked", 2, 4, 5, 1, 1, None),
    ("batched-1-thread", 1, 64, 24, 1, 64, 1),
    ("batched-2-threads", 1, 64, 24, 1, 64, 2),
    ("large", 1, 192, 50, 8, 128, None),
)


WORKLOADS_ENV = "LSTMKIT_WARMUP"


def chosen_workloads() -> tuple[tuple, ...]:
    """`WORKLOADS`, or those `$LSTMKIT_WARMUP` names."""
    names = [name.strip() for name in os.environ.get(WORKLOADS_ENV, "").split(",") if name.strip()]
    if not names:
        return WORKLOADS
    known = [workload[0] for workload in WORKLOADS]
    unknown = [name for name in names if name not in known + ["none"]]
    if unknown:
        raise ValueError(f"${WORKLOADS_ENV} names unknown workloads {unknown}; known: {known}, or none.")
    return tuple(workload for workload in WORKLOADS if workload[0] in names)


def warm_up(print_fn=print) -> dict[str, int]:
    """Train and predict with each workload's model once, for LSTM and GRU; return
    `lstmkit.ops.jit.compile_counts()` (signatures loaded from a cache and compiled)."""
    from lstmkit import Sequential
    from lstmkit.layers import GRU, LSTM, Dense
    from lstmkit.ops import jit, threads

    rng = np.random.default_rng(0)
    workloads = chosen_workloads()
    for cell in (LSTM, GRU):
        for name, depth, units, timesteps, features, batch, thread_count in workloads:
            start = time.perf_counter()
            layers = [cell(units, return_sequences=index < depth - 1) for index in range(depth)]
            model = Sequential([*layers, Dense(1)])
            model.compile(loss="mse", optimizer="adam")
            x = rng.standard_normal((batch, timesteps, features)).astype(np.float32)
            threads.set_num_threads(thread_count)
            try:
                model.fit(x, x[:, -1, :1], epochs=1, batch_size=batch, verbose=0, seed=0)
                model.predict(x[:2])
            finally:
                threads.set_num_threads(None)
            print_fn(f"{cell.__name__} {name}: {time.perf_counter() - start:.1f} s")
    return jit.compile_counts()


def warm_up_into(folder: str, print_fn=print) -> int:
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
