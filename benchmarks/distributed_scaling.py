"""Data-parallel scaling on this machine: the same fit on 1 process and on N under torchrun.

    python benchmarks/distributed_scaling.py [--nproc 1 2] [--units 64] [--batch-size 64] [--epochs 2]

Each run trains LSTM(units)+Dense(1) on windows of 24 steps cut from a 20,000-point synthetic
series (generated, not downloaded) with Adam and the global `--batch-size`, and prints the
training time and windows per second. The N-process runs are launched with
`python -m torch.distributed.run --standalone --nproc_per_node=N`, each process on
cores/N threads. Numbers are medians of `--rounds` runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def train(units: int, batch_size: int, epochs: int, out: str) -> None:
    """One run (under torchrun: one process of it); rank 0 writes {"seconds", "windows"} to `out`."""
    import numpy as np

    from lstmkit import Sequential
    from lstmkit.data import make_windows
    from lstmkit.layers import LSTM, Dense

    t = np.arange(20_000, dtype=np.float32)
    series = np.sin(t / 12) + 0.1 * np.random.default_rng(0).standard_normal(len(t)).astype(np.float32)
    x, y = make_windows(series, lookback=24)
    x, y = np.ascontiguousarray(x[..., None] if x.ndim == 2 else x), np.ascontiguousarray(y.reshape(len(y), -1))
    model = Sequential([LSTM(units, input_shape=(24, 1)), Dense(1)])
    model.compile(loss="mse", optimizer="adam", metrics=["mae"])  # metrics: the general loop on one process too
    model.fit(x[:256], y[:256], epochs=1, batch_size=batch_size, seed=0, verbose=0)  # warm-up
    start = time.perf_counter()
    model.fit(x, y, epochs=epochs, batch_size=batch_size, seed=0, verbose=0)
    seconds = time.perf_counter() - start
    if int(os.environ.get("RANK", "0")) == 0:
        with open(out, "w") as handle:
            json.dump({"seconds": seconds, "windows": len(x) * epochs}, handle)


def launch(nproc: int, args: argparse.Namespace, out: str) -> dict:
    cores = os.cpu_count() or 1
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, cores // nproc))}
    worker = [__file__, "--worker", "--units", str(args.units), "--batch-size", str(args.batch_size),
              "--epochs", str(args.epochs), "--out", out]
    if nproc == 1:
        command = [sys.executable, *worker]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *worker]
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with open(out) as handle:
        return json.load(handle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nproc", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        train(args.units, args.batch_size, args.epochs, args.out)
        return
    print(f"machine: {os.cpu_count()} cores; load {os.getloadavg()[0]:.2f}; LSTM({args.units})+Dense(1), "
          f"windows 24x1, global batch {args.batch_size}, {args.epochs} epochs")
    samples: dict[int, list[float]] = {n: [] for n in args.nproc}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.rounds):  # interleaved: 1, 2, 1, 2, ...
            for nproc in args.nproc:
                result = launch(nproc, args, os.path.join(folder, f"{nproc}.json"))
                samples[nproc].append(result["windows"] / result["seconds"])
    base = statistics.median(samples[args.nproc[0]])
    print(f"{'processes':>9}  {'windows/s (median)':>18}  {'min-max':>15}  {'vs ' + str(args.nproc[0]):>6}")
    for nproc, rates in samples.items():
        median = statistics.median(rates)
        print(f"{nproc:>9}  {median:>18,.0f}  {min(rates):>7,.0f}-{max(rates):<7,.0f}  {median / base:>5.2f}x")


if __name__ == "__main__":
    main()
