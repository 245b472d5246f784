"""Time W2 through lstmkit's batched fused engine, lstmkit's torch loop and idiomatic PyTorch.

W2: 20,000-point noisy sine, windows 24x1, LSTM(64)+Dense(1), Adam, MSE, batch 64, 3 epochs,
through `Sequential.fit` (seconds per fit). Contenders:
    batched          Sequential.fit as it runs by default (lstmkit.ops.batched), threads chosen by lstmkit
    batched 1 thread the same, pinned to one thread (lstmkit.ops.threads.set_num_threads(1))
    torch loop       Sequential.fit on the general loop (lstmkit.ops.use_backend("torch"))
    PyTorch          idiomatic PyTorch (lstmkit.bench.torch_fit), on PyTorch's default threads
    PyTorch 1 thread the same under torch.set_num_threads(1)

Runs are interleaved (A B C, B C A, ...) after a warm-up, so drift in a shared machine's speed
falls on every contender; ratios are paired within a round, then the median is taken. Prints
the load average before and after: numbers taken on a busy machine say so.
Run: `python benchmarks/batched_micro.py [--rounds 5]`.
"""

import argparse
import os
import statistics
import time
from typing import Callable

import torch

from lstmkit import Sequential
from lstmkit.bench import sine_windows, torch_fit
from lstmkit.layers import LSTM, Dense
from lstmkit.ops.dispatch import use_backend
from lstmkit.ops.threads import set_num_threads, thread_limit

from blocked_micro import interleaved  # this folder is on the path when run as a script

X, Y = sine_windows(20_000)


def lstmkit_w2(backend: str = "auto", threads: int | None = None) -> Callable[[], float]:
    def run() -> float:
        model = Sequential([LSTM(64, input_shape=(24, 1)), Dense(1)])
        model.compile(loss="mse", optimizer="adam", device="cpu")
        set_num_threads(threads)
        try:
            with use_backend(backend):
                start = time.perf_counter()
                model.fit(X, Y, epochs=3, batch_size=64, verbose=0, seed=0)
                return time.perf_counter() - start
        finally:
            set_num_threads(None)

    return run


def pytorch_w2(threads: int | None = None) -> Callable[[], float]:
    def run() -> float:
        with thread_limit(threads or torch.get_num_threads()):
            return torch_fit(X, Y, 64, 3, 64)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}, cpus: {os.cpu_count()}")
    contenders = {
        "batched": lstmkit_w2(),
        "batched 1 thread": lstmkit_w2(threads=1),
        "torch loop": lstmkit_w2("torch"),
        "PyTorch": pytorch_w2(),
        "PyTorch 1 thread": pytorch_w2(threads=1),
    }
    samples = interleaved(contenders, args.rounds)
    base = samples["batched"]
    print("W2 fit, s (lower is better); ratio: contender's time / batched's, paired by round")
    for name, values in samples.items():
        ratios = [value / own for own, value in zip(base, values)]
        print(
            f"  {name:<18} {statistics.median(values):>7.3f} s ({min(values):.3f}-{max(values):.3f})"
            f"   {statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
        )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
