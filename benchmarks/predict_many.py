"""Predicting very many windows: lstmkit's `predict` against idiomatic PyTorch, speed and peak memory.

The workload (issue 15, item 4): 1,000,000 windows of 24 steps of a noisy sine (one feature),
Sequential([LSTM(64), Dense(1)]). Each framework runs in a fresh process, which

1. builds the windows (float32, 96 MB) and the model, and predicts 2,000 windows once (warm-up);
2. reads its resident memory (VmRSS);
3. predicts every window: lstmkit with `model.predict(x)` (its default chunk), PyTorch with
   torch.nn.LSTM + nn.Linear under `torch.no_grad()`, in slices of `--torch-batch` windows whose
   outputs are gathered with torch.cat, the way a PyTorch user writes it;
4. reports windows/s and its peak resident memory from the start (VmHWM) less the VmRSS of step 2.

Both models hold the same weights (PyTorch's are copied from lstmkit's), and the parent checks that
their predictions agree. Rounds rotate the order (A B C, B C A, ...). "pytorch-1thread" is the same PyTorch code after
torch.set_num_threads(1) (PyTorch's OpenMP threads collapse when another process keeps a core busy).

    python benchmarks/predict_many.py                      # 1,000,000 windows, 3 rounds
    python benchmarks/predict_many.py --windows 20000 --rounds 1 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

LOOKBACK, UNITS = 24, 64


def memory_kib(field: str) -> int:
    """VmRSS or VmHWM of this process, in KiB (Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def child(framework: str, windows: int, torch_batch: int, out_path: str) -> dict:
    import torch

    from lstmkit import Sequential
    from lstmkit.bench import TorchLSTMRegressor, sine_windows
    from lstmkit.layers import LSTM, Dense

    x, _ = sine_windows(windows + LOOKBACK + 1, LOOKBACK)
    x = x[:windows]
    model = Sequential([LSTM(UNITS, input_shape=(LOOKBACK, 1)), Dense(1)])
    model.compile(loss="mse", optimizer="adam")
    rng = np.random.default_rng(0)  # the same weights in every process
    model.set_weights([(rng.standard_normal(w.shape) * 0.2).astype(np.float32) for w in model.get_weights()])
    if framework == "pytorch-1thread":
        torch.set_num_threads(1)
    if framework == "lstmkit":
        def predict(windows_x: np.ndarray) -> np.ndarray:
            return model.predict(windows_x)
    else:
        kernel, recurrent_kernel, bias, dense_kernel, dense_bias = model.get_weights()
        reference = TorchLSTMRegressor(1, UNITS).eval()
        with torch.no_grad():  # Keras's layout -> PyTorch's: transposes, and one bias in bias_ih
            reference.lstm.weight_ih_l0.copy_(torch.from_numpy(kernel.T))
            reference.lstm.weight_hh_l0.copy_(torch.from_numpy(recurrent_kernel.T))
            reference.lstm.bias_ih_l0.copy_(torch.from_numpy(bias))
            reference.lstm.bias_hh_l0.zero_()
            reference.head.weight.copy_(torch.from_numpy(dense_kernel.T))
            reference.head.bias.copy_(torch.from_numpy(dense_bias))

        def predict(windows_x: np.ndarray) -> np.ndarray:
            inputs = torch.from_numpy(windows_x)
            with torch.no_grad():
                outputs = [reference(inputs[start : start + torch_batch]) for start in range(0, len(inputs), torch_batch)]
                return torch.cat(outputs).numpy()

    predict(x[:2000])  # warm-up
    before = memory_kib("VmRSS")
    start = time.perf_counter()
    y_hat = predict(x)
    seconds = time.perf_counter() - start
    peak = memory_kib("VmHWM")
    np.save(out_path, y_hat[:: max(1, windows // 1000)])  # a sample of the predictions, for the check
    return {"framework": framework, "windows": windows, "seconds": seconds, "windows_per_s": windows / seconds,
            "rss_before_mib": before / 1024, "peak_rss_mib": peak / 1024,
            "peak_above_before_mib": (peak - before) / 1024, "torch_threads": torch.get_num_threads()}


def run_child(framework: str, windows: int, torch_batch: int, sample_path: str) -> dict:
    command = [sys.executable, __file__, "--child", framework, "--windows", str(windows),
               "--torch-batch", str(torch_batch), "--sample", sample_path]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--torch-batch", type=int, default=1024, help="PyTorch's slice of windows per call")
    parser.add_argument("--json", help="write every sample here")
    parser.add_argument("--child", choices=["lstmkit", "pytorch", "pytorch-1thread"], help=argparse.SUPPRESS)
    parser.add_argument("--sample", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.windows, args.torch_batch, args.sample)))
        return
    import tempfile

    frameworks = ["lstmkit", "pytorch", "pytorch-1thread"]
    samples: dict[str, list[dict]] = {name: [] for name in frameworks}
    with tempfile.TemporaryDirectory() as folder:
        for round_index in range(args.rounds):
            order = frameworks[round_index % 3 :] + frameworks[: round_index % 3]
            for framework in order:
                print(f"round {round_index + 1}/{args.rounds}: {framework}", file=sys.stderr)
                path = os.path.join(folder, f"{framework}.npy")
                samples[framework].append(run_child(framework, args.windows, args.torch_batch, path))
        ours = np.load(os.path.join(folder, "lstmkit.npy"))
        difference = max(float(np.abs(ours - np.load(os.path.join(folder, f"{name}.npy"))).max()) for name in frameworks[1:])
    print(f"{args.windows:,} windows of {LOOKBACK} steps, LSTM({UNITS})+Dense(1); load average before: "
          f"{os.getloadavg()[0]:.1f}; largest difference between the two frameworks' predictions: {difference:.2e}")
    print(f"{'framework':<10}{'windows/s median (min-max)':>32}{'peak RSS above start, MiB':>28}")
    for name, runs in samples.items():
        rates = [run["windows_per_s"] for run in runs]
        peaks = [run["peak_above_before_mib"] for run in runs]
        print(f"{name:<10}{statistics.median(rates):>16,.0f} ({min(rates):,.0f}-{max(rates):,.0f})"
              f"{statistics.median(peaks):>22.1f} ({min(peaks):.0f}-{max(peaks):.0f})")
    for name in frameworks[1:]:
        ratios = [ours["windows_per_s"] / theirs["windows_per_s"] for ours, theirs in zip(samples["lstmkit"], samples[name])]
        print(f"lstmkit/{name} windows/s, median of the rounds' ratios: {statistics.median(ratios):.2f}x")
    if difference > 1e-4:
        raise SystemExit(f"the predictions differ by {difference:.2e}: the two models do not compute the same thing")
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as handle:
            json.dump({"samples": samples, "max_difference": difference, "load_average": os.getloadavg()}, handle,
                      indent=2)
        os.replace(tmp, args.json)


if __name__ == "__main__":
    main()
