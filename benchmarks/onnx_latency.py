"""Predict latency of the tutorial model in lstmkit and in ONNX Runtime (docs/INTEROP.md).

The tutorial model LSTM(50) + Dense(1) on windows of 5 steps of 1 feature, predicted for one
window and for a batch of 1,000 windows, through:
    lstmkit        model.predict(x) (numpy in, numpy out)
    ONNX Runtime   session.run on the graph from model.export_onnx, one intra-op thread and
                   the default (all cores)
Each timing is the median of many calls after a warm-up; contenders are interleaved round by
round so drift in a shared machine's speed falls on all of them. Prints the load average.
Run: `python benchmarks/onnx_latency.py [--rounds 5]`.
"""

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
import onnxruntime as ort
import torch

from lstmkit import Sequential
from lstmkit.layers import LSTM, Dense


def per_call(function, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        function()
    return (time.perf_counter() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = Sequential([LSTM(50, input_shape=(5, 1)), Dense(1)])
    path = os.path.join(tempfile.mkdtemp(), "tutorial.onnx")
    model.export_onnx(path)
    sessions = {}
    for name, threads in (("ONNX Runtime, 1 thread", 1), ("ONNX Runtime, default threads", 0)):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        sessions[name] = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    for batch, calls in ((1, 2000), (1000, 100)):
        x = rng.random((batch, 5, 1), dtype=np.float32)
        contenders = {"lstmkit predict": lambda: model.predict(x, batch_size=batch)}
        for name, session in sessions.items():
            contenders[name] = lambda session=session: session.run(None, {"x": x})
        for function in contenders.values():
            per_call(function, calls // 10)  # warm-up (kernels compiled, caches filled)
        times = {name: [] for name in contenders}
        for _ in range(args.rounds):
            for name, function in contenders.items():
                times[name].append(per_call(function, calls))
        for name, samples in times.items():
            print(f"batch {batch:>5}: {name:<30} {statistics.median(samples) * 1e6:9.1f} us/call "
                  f"(min {min(samples) * 1e6:.1f})")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
