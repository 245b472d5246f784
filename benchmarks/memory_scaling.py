"""Resident memory and speed of training from a series on disk, at 10M and 100M points.

For each size, a float32 series (a sine plus noise) is written in chunks, never whole in memory,
to a temporary folder in three forms: a .npy file, one Parquet column, and long-format Parquet
(SERIES series one after another; columns id, time, value). Then, for each form, a fresh process

1. opens it as a WindowedSeries (lookback 24, horizon 1): `np.load(mmap_mode="r")` for the .npy,
   `open_parquet_series` for the column and `WindowedSeries.from_long_parquet` for the long
   format (both stream the file once into a .npy cache, in the same folder);
2. trains Sequential([LSTM(16, input_shape=(24, 1)), Dense(1)]) with fit(epochs=1,
   batch_size=256, steps_per_epoch=STEPS) on STEPS * 256 windows spread evenly over the whole
   series, cut batch by batch as any large source is, so training reads every part of the file;
3. reads every window once, in order, in batches of 65536, as a full epoch would.

A last row per size is the control: the same .npy cut through its memory mapping
(`np.asarray` of the memmap, so WindowedSeries sees a plain array), where every page read
stays resident.

It reports the size of the file; the process's resident memory (VmRSS) before opening it, once
pyarrow and pandas are imported and a first small fit has loaded what torch needs; its peak from there on (VmHWM:
opening and caching, training and the full read); and windows/s of training and of the full
read. The open column includes writing the cache.

Run from the repository root:

    python benchmarks/memory_scaling.py               # 10M and 100M points, about 4 minutes on 2 cores
    python benchmarks/memory_scaling.py --sizes 10M   # one size
    python benchmarks/memory_scaling.py --quick       # 200K points, a few seconds
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

LOOKBACK, BATCH_SIZE, SCAN_BATCH = 24, 256, 1 << 16
SERIES = 1000  # series in the long-format file
CHUNK = 1 << 22  # points generated at a time
ROW_GROUP = 1 << 20
FORMS = ("npy", "parquet", "long parquet", "npy, mapped")


def _chunks(points: int) -> Iterator[np.ndarray]:
    """The series, CHUNK points at a time: sin(t / 50) plus noise, float32."""
    for start in range(0, points, CHUNK):
        steps = np.arange(start, min(start + CHUNK, points))
        noise = np.random.default_rng(start).normal(0.0, 0.1, len(steps))
        yield (np.sin(steps / 50.0) + noise).astype(np.float32)


def write_files(points: int, folder: Path) -> dict[str, Path]:
    """The series as .npy, as a Parquet column and as long-format Parquet, written chunk by chunk."""
    from lstmkit.data import write_npy

    paths = {"npy": folder / "series.npy", "parquet": folder / "series.parquet",
             "long parquet": folder / "long.parquet", "npy, mapped": folder / "series.npy"}
    write_npy(paths["npy"], _chunks(points), points)
    per_series = points // SERIES
    long_schema = pa.schema([("id", pa.int32()), ("time", pa.int64()), ("value", pa.float32())])
    with pq.ParquetWriter(paths["parquet"], pa.schema([("value", pa.float32())])) as column, \
            pq.ParquetWriter(paths["long parquet"], long_schema) as long:
        start = 0
        for values in _chunks(per_series * SERIES):  # the long file's rows: series by series, in time order
            rows = np.arange(start, start + len(values))
            column.write_table(pa.table({"value": values}), row_group_size=ROW_GROUP)
            long.write_table(pa.table({"id": (rows // per_series).astype(np.int32), "time": rows % per_series,
                                       "value": values}, schema=long_schema), row_group_size=ROW_GROUP)
            start += len(values)
    return paths


def _memory_mib() -> dict[str, float]:
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return {name: int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM")}


def _reset_peak() -> None:
    """Start VmHWM afresh from the current resident memory (Linux 4.0+)."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def measure(form: str, path: Path, steps: int) -> dict[str, float]:
    """Run in a fresh process: open the source, train `steps` batches spread over it, read it all."""
    import pandas  # noqa: F401  loaded before measuring, like torch: libraries, not data
    import pyarrow.compute  # noqa: F401

    from lstmkit import Sequential, model_inputs
    from lstmkit.data import LongParquet, WindowedSeries, open_parquet_series
    from lstmkit.layers import LSTM, Dense

    model_inputs.MATERIALIZE_MAX_BYTES = 0  # cut every batch from the source, as for any source above 64 MiB
    model = Sequential([LSTM(16, input_shape=(LOOKBACK, 1)), Dense(1)])
    model.compile(loss="mse", optimizer="adam")
    # A first fit loads what torch needs for training (~150 MiB): not part of the data's cost.
    model.fit(WindowedSeries(np.sin(np.arange(5000.0) / 50), LOOKBACK), batch_size=BATCH_SIZE, verbose=0, seed=0)
    before = _memory_mib()["VmRSS"]
    _reset_peak()

    started = time.perf_counter()
    if form == "npy":
        windows = WindowedSeries(np.load(path, mmap_mode="r"), LOOKBACK)
    elif form == "npy, mapped":  # np.asarray drops the memmap type: windows are cut through the mapping
        windows = WindowedSeries(np.asarray(np.load(path, mmap_mode="r")), LOOKBACK)
    elif form == "parquet":
        windows = WindowedSeries(open_parquet_series(path, "value"), LOOKBACK)
    else:
        windows = WindowedSeries.from_long_parquet(LongParquet(path), LOOKBACK)
    open_seconds = time.perf_counter() - started
    spread = windows.subset(np.linspace(0, len(windows) - 1, steps * BATCH_SIZE).astype(np.int64))
    started = time.perf_counter()
    model.fit(spread, epochs=1, batch_size=BATCH_SIZE, steps_per_epoch=steps, verbose=0)
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for start in range(0, len(windows), SCAN_BATCH):
        windows.batch(np.arange(start, min(start + SCAN_BATCH, len(windows))))
    scan_seconds = time.perf_counter() - started
    memory = _memory_mib()
    return {"open_s": open_seconds, "rss_before_mib": before, "peak_mib": memory["VmHWM"],
            "rss_after_mib": memory["VmRSS"], "train_wps": steps * BATCH_SIZE / train_seconds,
            "scan_wps": len(windows) / scan_seconds}


def _run_child(form: str, path: Path, steps: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", form, str(path), "--steps", str(steps)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"measuring {form} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _points(text: str) -> int:
    scale = {"K": 10**3, "M": 10**6}.get(text[-1].upper(), 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["10M", "100M"], help="points per series, e.g. 10M 100M")
    parser.add_argument("--steps", type=int, default=2000, help="training batches of 256 per size and form")
    parser.add_argument("--quick", action="store_true", help="200K points and 20 steps: a smoke test")
    parser.add_argument("--child", nargs=2, metavar=("FORM", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], Path(args.child[1]), args.steps)))
        return
    sizes, steps = ([200_000], 20) if args.quick else ([_points(size) for size in args.sizes], args.steps)
    header = (f"{'points':>12} {'source':<13} {'file MB':>8} {'open s':>7} {'RSS before MiB':>15} "
              f"{'peak RSS MiB':>13} {'RSS after MiB':>14} {'train win/s':>12} {'full read win/s':>16}")
    print(f"lookback {LOOKBACK}, LSTM(16) + Dense(1), batch {BATCH_SIZE}, {steps} training steps spread over "
          f"the series, then every window read once; long format: {SERIES} series\n")
    print(header)
    print("-" * len(header))
    for points in sizes:
        with tempfile.TemporaryDirectory(prefix="lstmkit-memory-") as folder:
            paths = write_files(points, Path(folder))
            for form in FORMS:
                result = _run_child(form, paths[form], steps)
                print(f"{points:>12,} {form:<13} {os.path.getsize(paths[form]) / 1e6:>8.0f} {result['open_s']:>7.1f} "
                      f"{result['rss_before_mib']:>15.0f} {result['peak_mib']:>13.0f} {result['rss_after_mib']:>14.0f} "
                      f"{result['train_wps']:>12,.0f} "
                      f"{result['scan_wps']:>16,.0f}", flush=True)


if __name__ == "__main__":
    main()
