"""Time W2 and W3 on the "torch" backend, the "blocked" backend and idiomatic PyTorch.

W2: 20,000-point noisy sine, windows 24x1, LSTM(64)+Dense(1), Adam, batch 64, 3 epochs,
    through `Sequential.fit` (windows/s).
W3: batch 256, seq 100, input 32, LSTM(256)+Dense(1): one Adam training step, and a forward
    pass without gradients (s).

Runs are interleaved (A B C, B C A, C A B, ...) after a warm-up, so drift in a shared
machine's speed falls on every contender; ratios are paired within a round, then the median
is taken. Prints the load average before and after: numbers taken on a busy machine say so.
Run: `python benchmarks/blocked_micro.py [--rounds 5] [--threads 1|2|auto] [--only W2|W3]`.
"""

import argparse
import os
import statistics
import time
from typing import Callable

import torch

from lstmkit import Sequential
from lstmkit.bench import TorchLSTMRegressor, sine_windows, torch_fit
from lstmkit.layers import LSTM, Dense
from lstmkit.ops.dispatch import use_backend
from lstmkit.ops.threads import set_num_threads, thread_limit


def lstmkit_w2(backend: str) -> Callable[[], float]:
    x, y = sine_windows(20_000)

    def run() -> float:
        model = Sequential([LSTM(64, input_shape=(24, 1)), Dense(1)])
        model.compile(loss="mse", optimizer="adam", device="cpu")
        with use_backend(backend):
            start = time.perf_counter()
            model.fit(x, y, epochs=3, batch_size=64, verbose=0, seed=0)
            return len(x) * 3 / (time.perf_counter() - start)

    return run


def pytorch_w2() -> Callable[[], float]:
    x, y = sine_windows(20_000)
    return lambda: len(x) * 3 / torch_fit(x, y, 64, 3, 64)


def _w3_inputs() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(256, 100, 32, generator=generator), torch.randn(256, 1, generator=generator)


def lstmkit_w3(backend: str, forward_only: bool, threads: int | None) -> Callable[[], float]:
    torch.manual_seed(0)
    model = Sequential([LSTM(256, input_shape=(100, 32)), Dense(1)])
    model.compile(loss="mse", optimizer="adam", device="cpu")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = _w3_inputs()

    def run() -> float:
        set_num_threads(threads)  # None: lstmkit chooses, as Sequential.fit does
        try:
            with use_backend(backend), thread_limit(threads or torch.get_num_threads()):
                start = time.perf_counter()
                if forward_only:
                    with torch.no_grad():
                        model(x)
                else:
                    optimizer.zero_grad()
                    torch.nn.functional.mse_loss(model(x), y).backward()
                    optimizer.step()
                return time.perf_counter() - start
        finally:
            set_num_threads(None)

    return run


def pytorch_w3(forward_only: bool, threads: int | None) -> Callable[[], float]:
    torch.manual_seed(0)
    model = TorchLSTMRegressor(32, 256)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = _w3_inputs()

    def run() -> float:
        with thread_limit(threads or torch.get_num_threads()):
            start = time.perf_counter()
            if forward_only:
                with torch.no_grad():
                    model(x)
            else:
                optimizer.zero_grad()
                torch.nn.functional.mse_loss(model(x), y).backward()
                optimizer.step()
            return time.perf_counter() - start

    return run


def interleaved(contenders: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Each contender once a round, the order rotated every round, after one warm-up each."""
    for run in contenders.values():
        run()
    names = list(contenders)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(contenders[name]())
    return samples


def report(title: str, samples: dict[str, list[float]], unit: str, higher_is_better: bool) -> None:
    base = samples["blocked"]
    print(title)
    for name, values in samples.items():
        ratios = [(b / v if higher_is_better else v / b) for b, v in zip(base, values)]
        print(
            f"  {name:<18} {statistics.median(values):>10.4g} {unit} "
            f"({min(values):.4g}-{max(values):.4g})   blocked is {statistics.median(ratios):.2f}x faster"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--threads", default="1", help="W3's threads: a count, or 'auto' (lstmkit chooses; PyTorch its default)"
    )
    parser.add_argument("--only", choices=["W2", "W3"], default=None)
    args = parser.parse_args()
    threads = None if args.threads == "auto" else int(args.threads)
    print(f"load average before: {os.getloadavg()}, cpus: {os.cpu_count()}, W3 threads: {args.threads}")
    if args.only in (None, "W2"):
        set_num_threads(1)  # both lstmkit paths and idiomatic PyTorch on one thread
        with thread_limit(1):
            w2 = {
                "blocked": lstmkit_w2("blocked"),
                "torch backend": lstmkit_w2("torch"),
                "idiomatic PyTorch": pytorch_w2(),
            }
            report("W2 fit, windows/s (higher is better)", interleaved(w2, args.rounds), "win/s", True)
        set_num_threads(None)
    if args.only in (None, "W3"):
        for forward_only, title in ((False, "W3 training step, s"), (True, "W3 forward, s")):
            w3 = {
                "blocked": lstmkit_w3("blocked", forward_only, threads),
                "torch backend": lstmkit_w3("torch", forward_only, threads),
                "idiomatic PyTorch": pytorch_w3(forward_only, threads),
            }
            report(title, interleaved(w3, args.rounds), "s", False)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
