"""Time the tutorial workload W1 in idiomatic PyTorch and in lstmkit's fused kernel.

W1: 8 windows of 5 steps of one feature, LSTM(50) -> Dense(1), MSE, Adam(lr=0.001,
eps=1e-7), batch size 1, shuffled each epoch, 100 epochs (800 optimizer steps); then one
window predicted at a time. Run: `python benchmarks/fused_micro.py`.
"""

import statistics
import time

import numpy as np
import torch

from lstmkit.ops.fused import AdamState, lstm_dense_fit, lstm_dense_predict

EPOCHS, RUNS, PREDICT_CALLS = 100, 5, 2000


def make_data() -> tuple[np.ndarray, np.ndarray]:
    series = np.sin(np.arange(14, dtype=np.float32) / 2)
    x = np.stack([series[i : i + 5] for i in range(8)])[:, :, None]  # (8, 5, 1)
    y = series[5:13, None]  # (8, 1): the value after each window
    return x, y


def make_torch_model() -> tuple[torch.nn.LSTM, torch.nn.Linear]:
    return torch.nn.LSTM(1, 50, batch_first=True), torch.nn.Linear(50, 1)


def keras_weights(lstm: torch.nn.LSTM, linear: torch.nn.Linear) -> list[np.ndarray]:
    """kernel, recurrent_kernel, bias, dense kernel, dense bias, as Keras lays them out."""
    bias = lstm.bias_ih_l0 + lstm.bias_hh_l0
    tensors = [lstm.weight_ih_l0, lstm.weight_hh_l0, bias, linear.weight, linear.bias]
    return [np.array(t.detach().numpy().T, order="C") for t in tensors]


def fit_torch(x: torch.Tensor, y: torch.Tensor) -> float:
    lstm, linear = make_torch_model()
    optimizer = torch.optim.Adam([*lstm.parameters(), *linear.parameters()], lr=0.001, eps=1e-7)
    start = time.perf_counter()
    for _ in range(EPOCHS):
        order = torch.randperm(len(x))
        for i in range(len(x)):
            batch = order[i : i + 1]
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(linear(lstm(x[batch])[0][:, -1]), y[batch])
            loss.backward()
            optimizer.step()
    return time.perf_counter() - start


def fit_fused(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> float:
    weights = keras_weights(*make_torch_model())
    start = time.perf_counter()
    orders = np.stack([rng.permutation(len(x)) for _ in range(EPOCHS)])
    lstm_dense_fit(x, y, weights, AdamState(weights), orders, batch_size=1)
    return time.perf_counter() - start


def microseconds_per_call(function) -> float:
    function()
    best = float("inf")
    for _ in range(RUNS):
        start = time.perf_counter()
        for _ in range(PREDICT_CALLS):
            function()
        best = min(best, (time.perf_counter() - start) / PREDICT_CALLS)
    return best * 1e6


def main() -> None:
    torch.set_num_threads(1)  # the fastest setting for a model this small
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x, y = make_data()

    start = time.perf_counter()
    fit_fused(x, y, rng)
    first_call = time.perf_counter() - start
    fused = statistics.median(fit_fused(x, y, rng) for _ in range(RUNS))
    x_tensor, y_tensor = torch.from_numpy(x), torch.from_numpy(y)
    idiomatic = statistics.median(fit_torch(x_tensor, y_tensor) for _ in range(RUNS))
    print(f"W1 fit, 100 epochs (median of {RUNS}, torch threads: {torch.get_num_threads()})")
    print(f"  PyTorch nn.LSTM + Adam   {idiomatic * 1e3:9.1f} ms")
    print(f"  fused kernel             {fused * 1e3:9.1f} ms   ({idiomatic / fused:.0f}x faster)")
    print(f"  fused first call         {first_call * 1e3:9.1f} ms   (compile, or load the cache)")

    lstm, linear = make_torch_model()
    weights = keras_weights(lstm, linear)
    window, out = x[:1].copy(), np.empty((1, 1), np.float32)
    window_tensor = torch.from_numpy(window)

    def predict_torch():
        with torch.no_grad():
            return linear(lstm(window_tensor)[0][:, -1])

    torch_us = microseconds_per_call(predict_torch)
    fused_us = microseconds_per_call(lambda: lstm_dense_predict(window, weights, out))
    print(f"predict one window (1, 5, 1) (best of {RUNS} x {PREDICT_CALLS} calls)")
    print(f"  PyTorch                  {torch_us:9.1f} µs")
    print(f"  fused kernel             {fused_us:9.1f} µs   ({torch_us / fused_us:.0f}x faster)")


if __name__ == "__main__":
    main()
