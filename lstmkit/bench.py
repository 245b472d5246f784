"""`lstmkit bench`: the speed workloads, run through lstmkit, idiomatic PyTorch and (when a
Python with TensorFlow is given) Keras, interleaved, with medians and paired ratios.

Workloads (DESIGN.md's tutorial sizes; `quick` shrinks them to a smoke test):
    W1   tutorial fit: X (8, 5, 1), LSTM(50)+Dense(1), Adam, MSE, batch 1, 100 epochs
    W1p  predict one window (1, 5, 1), steady state, µs per call
    W2   20,000-point noisy sine, windows 24x1, LSTM(64)+Dense(1), batch 64, 3 epochs
    W3   batch 256, seq 100, input 32, LSTM(256)+Dense(1): one training step; forward only;
         again with GRU(256) (lstmkit trains and predicts it on the blocked backend)
    GRU  W1, W1p and W2 again with GRU(50) / GRU(64) in place of the LSTM (PyTorch: nn.GRU)
    W4   character model on the bundled text: Embedding(64)+LSTM(256)+softmax, windows of 100
         characters, batch 64, one epoch of 10 batches (sparse cross-entropy, Adam)

Each round runs every framework once, rotating the order (A B C, B C A, C A B) so drift in
the machine's speed falls evenly; ratios are taken within a round, then summarised. Each round
also measures the machine's sgemm peak (`sgemm_gflops`) on all threads and on one, and the W3
rows are reported as GFLOP/s of their matrix products (`w3_flops`) beside it.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch


@dataclass(frozen=True)
class Sizes:
    w1_epochs: int
    w2_points: int
    w2_epochs: int
    w3: tuple[int, int, int, int]  # batch, timesteps, features, units
    predict_calls: int
    w4: tuple[int, int, int, int, int] = (640, 100, 64, 256, 64)  # windows, timesteps, embedding, units, batch
    sgemm: int = 2048  # the sgemm peak's square matrices


FULL = Sizes(w1_epochs=100, w2_points=20_000, w2_epochs=3, w3=(256, 100, 32, 256), predict_calls=2000)
QUICK = Sizes(w1_epochs=10, w2_points=2_000, w2_epochs=1, w3=(32, 20, 8, 32), predict_calls=200,
              w4=(64, 20, 8, 16, 32), sgemm=256)


def tutorial_data() -> tuple[np.ndarray, np.ndarray]:
    """W1's data: the 13 training points of a 20-point series cut into windows of 5."""
    rng = np.random.default_rng(0)
    series = (15 + 2 * np.sin(np.arange(20) / 3) + rng.normal(0, 0.3, 20)).astype(np.float32)
    train = (series[:13] - series[:13].min()) / (series[:13].max() - series[:13].min())
    x = np.stack([train[i : i + 5] for i in range(8)])[..., None]  # (8, 5, 1)
    return x, train[5:13, None].copy()  # y (8, 1)


def sine_windows(points: int, lookback: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """W2's data: a noisy sine of `points` values cut into (points - lookback) windows."""
    rng = np.random.default_rng(0)
    series = (np.sin(np.arange(points) * 2 * np.pi / 50) + rng.normal(0, 0.1, points)).astype(np.float32)
    x = np.lib.stride_tricks.sliding_window_view(series[:-1], lookback)[..., None].copy()
    return x, series[lookback:, None].copy()


def char_windows(windows: int, timesteps: int) -> tuple[np.ndarray, np.ndarray, int]:
    """W4's data: character ids of the bundled text cut into windows, the next characters, vocabulary size."""
    from lstmkit.text import CharTokenizer, load_shakespeare

    text = load_shakespeare()[: windows * timesteps + 1]
    ids = CharTokenizer().fit(text).encode(text)
    vocabulary = int(ids.max()) + 1
    return ids[:-1].reshape(windows, timesteps), ids[1:].reshape(windows, timesteps), vocabulary


# -- lstmkit ---------------------------------------------------------------------------------
def _lstmkit_model(timesteps: int, features: int, units: int, cell: str = "lstm") -> Any:
    from lstmkit import Sequential
    from lstmkit.layers import GRU, LSTM, Dense

    layer = {"lstm": LSTM, "gru": GRU}[cell]
    model = Sequential([layer(units, input_shape=(timesteps, features)), Dense(1)])
    model.compile(loss="mean_squared_error", optimizer="adam", device="cpu")
    return model


def lstmkit_fit(x: np.ndarray, y: np.ndarray, units: int, epochs: int, batch_size: int, cell: str = "lstm") -> float:
    model = _lstmkit_model(x.shape[1], x.shape[2], units, cell)
    start = time.perf_counter()
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, seed=0)
    return time.perf_counter() - start


def lstmkit_predict_us(calls: int, cell: str = "lstm") -> float:
    x, y = tutorial_data()
    model = _lstmkit_model(5, 1, 50, cell)
    window = x[:1]
    return _per_call_us(lambda: model.predict(window), calls)


def lstmkit_w3(batch: int, timesteps: int, features: int, units: int, forward_only: bool,
               cell: str = "lstm") -> Callable[[], None]:
    """W3 through the public API: one fit step on one batch, or predict of that batch."""
    model = _lstmkit_model(timesteps, features, units, cell)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch, timesteps, features, generator=generator).numpy()
    y = torch.randn(batch, 1, generator=generator).numpy()
    if forward_only:
        return lambda: model.predict(x, batch_size=batch)
    return lambda: model.fit(x, y, epochs=1, batch_size=batch, verbose=0, shuffle=False)


def lstmkit_char_fit(x: np.ndarray, y: np.ndarray, vocabulary: int, embedding: int, units: int,
                     batch_size: int) -> float:
    """W4 through the public API: one epoch of fit on character windows."""
    from lstmkit import Sequential
    from lstmkit.layers import LSTM, Dense, Embedding, TimeDistributed

    model = Sequential([Embedding(vocabulary, embedding, input_shape=(x.shape[1],)),
                        LSTM(units, return_sequences=True), TimeDistributed(Dense(vocabulary, activation="softmax"))])
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", device="cpu")
    start = time.perf_counter()
    model.fit(x, y, epochs=1, batch_size=batch_size, verbose=0, seed=0)
    return time.perf_counter() - start


def _one_thread(job: Callable[[], float]) -> Callable[[], float]:
    """`job` with lstmkit pinned to one thread (the reference for the threading goal)."""
    from lstmkit.ops.threads import set_num_threads

    def pinned() -> float:
        set_num_threads(1)
        try:
            return job()
        finally:
            set_num_threads(None)

    return pinned


# -- idiomatic PyTorch -----------------------------------------------------------------------
class TorchLSTMRegressor(torch.nn.Module):
    """The model a PyTorch user writes: nn.LSTM (or nn.GRU, cell="gru"), last step, nn.Linear."""

    def __init__(self, features: int, units: int, cell: str = "lstm") -> None:
        super().__init__()
        self.lstm = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](features, units, batch_first=True)  # either cell
        self.head = torch.nn.Linear(units, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.lstm(x)
        return self.head(outputs[:, -1])


def torch_fit(x: np.ndarray, y: np.ndarray, units: int, epochs: int, batch_size: int, cell: str = "lstm") -> float:
    torch.manual_seed(0)
    model = TorchLSTMRegressor(x.shape[2], units, cell)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.MSELoss()
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True)
    start = time.perf_counter()
    for _ in range(epochs):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
    return time.perf_counter() - start


class TorchCharModel(torch.nn.Module):
    """The character model a PyTorch user writes: nn.Embedding, nn.LSTM, nn.Linear to logits."""

    def __init__(self, vocabulary: int, embedding: int, units: int) -> None:
        super().__init__()
        self.embedding = torch.nn.Embedding(vocabulary, embedding)
        self.lstm = torch.nn.LSTM(embedding, units, batch_first=True)
        self.head = torch.nn.Linear(units, vocabulary)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.lstm(self.embedding(ids))
        return self.head(outputs)


def torch_char_fit(x: np.ndarray, y: np.ndarray, vocabulary: int, embedding: int, units: int,
                   batch_size: int) -> float:
    torch.manual_seed(0)
    model = TorchCharModel(vocabulary, embedding, units)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    dataset = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True)
    start = time.perf_counter()
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(xb).reshape(-1, vocabulary), yb.reshape(-1))
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def torch_predict_us(calls: int, cell: str = "lstm") -> float:
    model = TorchLSTMRegressor(1, 50, cell).eval()
    window = torch.from_numpy(tutorial_data()[0][:1])

    def call() -> None:
        with torch.no_grad():
            model(window)

    return _per_call_us(call, calls)


def torch_w3(batch: int, timesteps: int, features: int, units: int, forward_only: bool,
             cell: str = "lstm") -> Callable[[], None]:
    model = TorchLSTMRegressor(features, units, cell)
    x, y = torch.randn(batch, timesteps, features), torch.randn(batch, 1)
    if forward_only:
        def forward() -> None:
            with torch.no_grad():
                model(x)

        return forward
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.MSELoss()

    def step() -> None:
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()

    return step


# -- arithmetic rates ------------------------------------------------------------------------
def w3_flops(batch: int, timesteps: int, features: int, units: int, cell: str = "lstm",
             forward_only: bool = False) -> float:
    """The matrix-product flops of one W3 call: a recurrent layer and Dense(1), counted exactly.

    With N = B·T rows and G = 4H gate columns (LSTM; 3H for the GRU, whose recurrent product
    s = h_{t-1} U + b_h is taken whole before r_t scales it):

        forward    input projection X W        2·N·F·G
                   recurrent products h U      2·N·H·G   (every step, h_0 included)
                   Dense                        2·B·H
        backward   dh_{t-1} = dz_t Uᵀ          2·N·G·H   (every step, down to h_0)
                   dW = Xᵀ dZ, dU = H_{t-1}ᵀ dZ 2·N·(F + H)·G
                   Dense's weight and input     4·B·H

    Not counted: the gate math (σ, tanh and products, O(N·G)), bias sums, the optimizer, and dX
    (W3's input needs no gradient; PyTorch's op computes it anyway, 2·N·G·F more).

    Example:
        W3, LSTM: 2·25600·1024·288 + 2·256·256 = 15.10 GFLOP forward, 43.62 GFLOP a training step.
    """
    rows, gates = batch * timesteps, {"lstm": 4, "gru": 3}[cell] * units
    forward = 2 * rows * gates * (features + units) + 2 * batch * units
    if forward_only:
        return float(forward)
    return float(forward + 2 * rows * gates * units + 2 * rows * (features + units) * gates + 4 * batch * units)


def sgemm_gflops(size: int, threads: int | None = None, repeats: int = 3) -> float:
    """The machine's sgemm rate: the fastest of `repeats` torch.mm calls on (size, size) float32
    matrices, after one warm-up, in GFLOP/s; on `threads` threads (None: PyTorch's count)."""
    from lstmkit.ops.threads import thread_limit

    generator = torch.Generator().manual_seed(0)
    left, right = (torch.randn(size, size, generator=generator) for _ in range(2))
    out = torch.empty(size, size)
    with thread_limit(threads or torch.get_num_threads()):
        seconds = [_seconds(lambda: torch.mm(left, right, out=out)) for _ in range(repeats + 1)][1:]
    return 2 * size**3 / min(seconds) / 1e9


def _seconds(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def format_rates(result: dict[str, Any]) -> str:
    """The W3 rows as GFLOP/s (w3_flops / median seconds) beside the median sgemm peak."""
    peaks = {name: statistics.median(values) for name, values in result["sgemm_gflops"].items()}
    best = max(peaks.values())
    lines = ["sgemm peak (torch.mm, float32, best of 3): "
             + ", ".join(f"{value:.1f} GFLOP/s on {name}" for name, value in peaks.items())]
    for key, flops in result["flops"].items():
        row = f"{key:<22} {flops / 1e9:7.2f} GFLOP"
        for name, samples in result["samples"].items():
            if samples.get(key):
                rate = flops / statistics.median(samples[key]) / 1e9
                row += f"   {name} {rate:.1f} GFLOP/s ({rate / best:.0%} of peak)"
        lines.append(row)
    return "\n".join(lines)


# -- whole scripts (start, imports, fit, predict, exit) --------------------------------------
_DATA = "import numpy as np\nfrom lstmkit.bench import tutorial_data\nx, y = tutorial_data()\n"
LSTMKIT_SCRIPT = _DATA + """
from lstmkit import Sequential
from lstmkit.layers import LSTM, Dense
model = Sequential([LSTM(50, input_shape=(5, 1)), Dense(1)])
model.compile(loss="mean_squared_error", optimizer="adam")
model.fit(x, y, epochs=100, batch_size=1, verbose=0)
print(model.predict(x[-1:])[0, 0])
"""
TORCH_SCRIPT = _DATA + """
import torch
from lstmkit.bench import TorchLSTMRegressor
model = TorchLSTMRegressor(1, 50)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
loader = torch.utils.data.DataLoader(
    torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), batch_size=1, shuffle=True)
for epoch in range(100):
    for xb, yb in loader:
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(xb), yb).backward()
        optimizer.step()
with torch.no_grad():
    print(model(torch.from_numpy(x[-1:]))[0, 0].item())
"""


def script_seconds(script: str) -> float:
    """Wall time of `python -c script` in a fresh interpreter."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    return time.perf_counter() - start


# -- timing ----------------------------------------------------------------------------------
def _per_call_us(call: Callable[[], Any], calls: int) -> float:
    for _ in range(max(calls // 10, 5)):  # warm-up
        call()
    start = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - start) / calls * 1e6


def _time_once(call: Callable[[], Any], warmup: int = 2) -> float:
    for _ in range(warmup):
        call()
    return _seconds(call)


def summarize(samples: list[float]) -> dict[str, float]:
    return {"median": statistics.median(samples), "min": min(samples), "max": max(samples)}


def _keras_round(keras_python: str, quick: bool) -> dict[str, Any] | None:
    """One repeat of every workload in a Keras interpreter (benchmarks/keras_workloads.py)."""
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks", "keras_workloads.py")
    if not os.path.isfile(script):
        raise FileNotFoundError(f"--keras-python runs {script!r}, which a source checkout of lstmkit has and an "
                                f"installed package does not; run lstmkit bench from a checkout (pip install -e .).")
    command = [keras_python, script, "--repeats", "1"] + (["--quick"] if quick else [])
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"the Keras benchmark failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout)


def run(
    quick: bool = False,
    rounds: int = 3,
    keras_python: str | None = None,
    contended: bool = False,
    log: Callable[[str], Any] = print,
) -> dict[str, Any]:
    """Run every workload `rounds` times per framework, interleaved; return all samples.

    `contended` keeps one other core busy with a spinning process throughout, and adds
    "lstmkit-1thread" (lstmkit pinned to one thread) to compare against.
    """
    sizes = QUICK if quick else FULL
    x1, y1 = tutorial_data()
    x2, y2 = sine_windows(sizes.w2_points)
    batch, timesteps, features, units = sizes.w3
    windows, char_steps, embedding, char_units, char_batch = sizes.w4
    x4, y4, vocabulary = char_windows(windows, char_steps)
    jobs: dict[str, dict[str, Callable[[], float]]] = {
        "lstmkit": {
            "W1 fit (s)": lambda: lstmkit_fit(x1, y1, 50, sizes.w1_epochs, 1),
            "W1 GRU fit (s)": lambda: lstmkit_fit(x1, y1, 50, sizes.w1_epochs, 1, "gru"),
            "W1 predict (us)": lambda: lstmkit_predict_us(sizes.predict_calls),
            "W1 GRU predict (us)": lambda: lstmkit_predict_us(sizes.predict_calls, "gru"),
            "W1 script (s)": lambda: script_seconds(LSTMKIT_SCRIPT),
            "W2 fit (s)": lambda: lstmkit_fit(x2, y2, 64, sizes.w2_epochs, 64),
            "W2 GRU fit (s)": lambda: lstmkit_fit(x2, y2, 64, sizes.w2_epochs, 64, "gru"),
            "W3 step (s)": lambda: _time_once(lstmkit_w3(*sizes.w3, forward_only=False)),
            "W3 forward (s)": lambda: _time_once(lstmkit_w3(*sizes.w3, forward_only=True)),
            "W3 GRU step (s)": lambda: _time_once(lstmkit_w3(*sizes.w3, forward_only=False, cell="gru")),
            "W3 GRU forward (s)": lambda: _time_once(lstmkit_w3(*sizes.w3, forward_only=True, cell="gru")),
            "W4 char fit (s)": lambda: lstmkit_char_fit(x4, y4, vocabulary, embedding, char_units, char_batch),
        },
        "pytorch": {
            "W1 fit (s)": lambda: torch_fit(x1, y1, 50, sizes.w1_epochs, 1),
            "W1 GRU fit (s)": lambda: torch_fit(x1, y1, 50, sizes.w1_epochs, 1, "gru"),
            "W1 predict (us)": lambda: torch_predict_us(sizes.predict_calls),
            "W1 GRU predict (us)": lambda: torch_predict_us(sizes.predict_calls, "gru"),
            "W1 script (s)": lambda: script_seconds(TORCH_SCRIPT),
            "W2 fit (s)": lambda: torch_fit(x2, y2, 64, sizes.w2_epochs, 64),
            "W2 GRU fit (s)": lambda: torch_fit(x2, y2, 64, sizes.w2_epochs, 64, "gru"),
            "W3 step (s)": lambda: _time_once(torch_w3(*sizes.w3, forward_only=False)),
            "W3 forward (s)": lambda: _time_once(torch_w3(*sizes.w3, forward_only=True)),
            "W3 GRU step (s)": lambda: _time_once(torch_w3(*sizes.w3, forward_only=False, cell="gru")),
            "W3 GRU forward (s)": lambda: _time_once(torch_w3(*sizes.w3, forward_only=True, cell="gru")),
            "W4 char fit (s)": lambda: torch_char_fit(x4, y4, vocabulary, embedding, char_units, char_batch),
        },
    }
    if contended:
        jobs["lstmkit-1thread"] = {key: _one_thread(job) for key, job in jobs["lstmkit"].items() if "script" not in key}
    frameworks = list(jobs) + (["keras"] if keras_python else [])
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in frameworks}
    for cell in ("lstm", "gru"):  # warm-up: compile or load the fused kernels once
        lstmkit_fit(x1[:2], y1[:2], 50, 1, 1, cell)
    peaks: dict[str, list[float]] = {}

    def measure_peaks() -> None:  # each round, so that the peak sees the rounds' load
        for name, threads in ((f"{torch.get_num_threads()} threads", None), ("1 thread", 1)):
            peaks.setdefault(name, []).append(sgemm_gflops(sizes.sgemm, threads))

    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if contended else None
    try:
        keras_round = (lambda: _keras_round(keras_python, quick)) if keras_python else None
        _run_rounds(jobs, frameworks, samples, rounds, keras_round, measure_peaks, log)
    finally:
        if spinner is not None:
            spinner.kill()
    flops = {f"W3{name} {kind} (s)": w3_flops(*sizes.w3, cell, kind == "forward")
             for name, cell in (("", "lstm"), (" GRU", "gru")) for kind in ("step", "forward")}
    return {"quick": quick, "rounds": rounds, "contended": contended, "sizes": sizes.__dict__, "samples": samples,
            "sgemm_gflops": peaks, "flops": flops,
            "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                        "load_average": os.getloadavg(), "torch": torch.__version__}}


def _run_rounds(jobs: dict, frameworks: list[str], samples: dict, rounds: int,
                keras_round: Callable[[], Any] | None, measure_peaks: Callable[[], None],
                log: Callable[[str], Any]) -> None:
    """Rotate the frameworks' order each round (A B C, B C A, ...) so drift falls evenly."""
    for round_index in range(rounds):
        order = frameworks[round_index % len(frameworks) :] + frameworks[: round_index % len(frameworks)]
        log(f"round {round_index + 1}/{rounds}: sgemm peak")
        measure_peaks()
        for name in order:
            log(f"round {round_index + 1}/{rounds}: {name}")
            if name == "keras":
                for key, value in _keras_samples(keras_round()).items():
                    samples[name].setdefault(key, []).append(value)
                continue
            for key, job in jobs[name].items():
                samples[name].setdefault(key, []).append(job())


def _keras_samples(result: dict[str, Any]) -> dict[str, float]:
    """Map keras_workloads.py's JSON onto this benchmark's keys (Keras's compiled paths)."""
    workloads = result["workloads"]
    mapping = {
        "W1 fit (s)": ("W1_tutorial_fit", "fit_s"),
        "W1 predict (us)": ("W1_predict_one_window", "predict_us"),
        "W2 fit (s)": ("W2_series_fit", "fit_s"),
        "W3 step (s)": ("W3_large_step", "train_step_s"),
        "W3 forward (s)": ("W3_large_step", "forward_predict_on_batch_s"),
    }
    samples = {}
    for key, (workload, field) in mapping.items():
        value = workloads.get(workload, {}).get(field)
        if value is not None:
            samples[key] = float(value["median"] if isinstance(value, dict) else value)
    return samples


def format_table(result: dict[str, Any]) -> str:
    """Median (min–max) per framework and the paired ratios other/lstmkit (>1: lstmkit faster)."""
    samples = result["samples"]
    frameworks = list(samples)
    keys = list(samples["lstmkit"])
    header = f"{'workload':<18}" + "".join(f"{name:>26}" for name in frameworks)
    header += "".join(f"  {name + '/lstmkit':>24}" for name in frameworks[1:])
    lines = [header]
    for key in keys:
        row = f"{key:<18}"
        for name in frameworks:
            values = samples[name].get(key)
            if values:
                s = summarize(values)
                row += f"{s['median']:>12.4g} ({s['min']:.3g}-{s['max']:.3g})".rjust(26)
            else:
                row += f"{'-':>26}"
        for name in frameworks[1:]:
            ours, theirs = samples["lstmkit"].get(key), samples[name].get(key)
            if ours and theirs:
                ratios = [t / o for o, t in zip(ours, theirs)]
                row += f"  {statistics.median(ratios):>23.2f}x"
            else:
                row += f"  {'-':>24}"
        lines.append(row)
    return "\n".join(lines)


def main_bench(
    quick: bool, rounds: int, json_path: str | None, keras_python: str | None, contended: bool = False
) -> dict[str, Any]:
    """What `lstmkit bench` does: run, print the table, write JSON if asked."""
    if keras_python is None:
        print("Keras: skipped (lstmkit never depends on TensorFlow; pass --keras-python PATH to "
              "a Python that has it to include Keras).", file=sys.stderr)
    result = run(quick, rounds, keras_python, contended, log=lambda m: print(m, file=sys.stderr))
    print(format_table(result))
    print(format_rates(result))
    if json_path:
        from lstmkit.atomic import atomic_write

        def write(tmp: str) -> None:
            with open(tmp, "w") as handle:
                json.dump(result, handle, indent=2)

        atomic_write(json_path, write)
    return result
