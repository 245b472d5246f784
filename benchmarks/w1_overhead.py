"""W1's predict and fit, per call, split into the compiled kernel and what surrounds it.

W1 is the tutorial model (LSTM(50)+Dense(1), windows (8, 5, 1); lstmkit.bench). It reports:

- `model.predict` and a `model.compile_predict()` callable on one window (1, 5, 1): the minimum
  over `--repeats` of 2,000 calls, as CPU time per call (`time.process_time`, which other
  processes' load inflates least) and wall time;
- `fit` (100 epochs, batch 1): CPU time of the whole call and of the compiled epoch loop inside
  it (`lstmkit.ops.fused.lstm_dense_fit`), over `--repeats` fits.

It imports whichever lstmkit is first on the path, so two checkouts compare with
`PYTHONPATH=/path/to/other python benchmarks/w1_overhead.py`.

    python benchmarks/w1_overhead.py --repeats 7
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def per_call(call, calls: int, repeats: int) -> dict[str, float]:
    call()
    cpu, wall = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(calls):
            call()
        wall.append((time.perf_counter() - start) / calls * 1e6)
        cpu.append((time.process_time() - start_cpu) / calls * 1e6)
    return {"cpu_us": min(cpu), "wall_us": min(wall)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    from lstmkit.bench import _lstmkit_model, tutorial_data
    from lstmkit.ops import fused

    x, y = tutorial_data()
    model = _lstmkit_model(5, 1, 50)
    model.fit(x, y, epochs=1, batch_size=1, verbose=0, seed=0)  # compile or load the kernels
    window, serve = x[:1], model.compile_predict()
    np.testing.assert_array_equal(serve(window), model.predict(window))
    result = {"load_average": os.getloadavg(),
              "predict": per_call(lambda: model.predict(window), 2000, args.repeats),
              "compile_predict": per_call(lambda: serve(window), 2000, args.repeats)}

    kernel_seconds: list[float] = []
    epochs_call = fused.lstm_dense_fit

    def timed_epochs(*arguments, **options):
        start = time.process_time()
        try:
            return epochs_call(*arguments, **options)
        finally:
            kernel_seconds.append(time.process_time() - start)

    fused.lstm_dense_fit = timed_epochs
    fits = []
    try:
        for _ in range(args.repeats):
            model = _lstmkit_model(5, 1, 50)
            kernel_seconds.clear()
            start = time.process_time()
            model.fit(x, y, epochs=100, batch_size=1, verbose=0, seed=0)
            fits.append((time.process_time() - start, sum(kernel_seconds)))
    finally:
        fused.lstm_dense_fit = epochs_call
    total, kernel = min(fits)
    result["fit"] = {"cpu_ms": total * 1e3, "epoch_kernel_cpu_ms": kernel * 1e3,
                     "all_cpu_ms": [round(t * 1e3, 2) for t, _ in fits]}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
