"""One script, one process or many: forecast a long series, with checkpoints you can resume from.

    python examples/train_torchrun.py                                   # one process
    torchrun --standalone --nproc_per_node=2 examples/train_torchrun.py # two, data-parallel
    python examples/train_torchrun.py --resume                          # continue from the checkpoint

Nothing in the script changes between the first two: under torchrun, `fit` joins the process
group, wraps the model in DistributedDataParallel and splits each batch of 64 across the
processes; only rank 0 prints and writes files. See docs/SCALING.md.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from lstmkit import Sequential
from lstmkit.callbacks import ModelCheckpoint
from lstmkit.data import MinMaxScaler, WindowedSeries, time_split
from lstmkit.layers import LSTM, Dense

LOOKBACK = 24


def make_series(points: int = 20_000) -> np.ndarray:
    """A daily-like cycle with noise (generated: nothing is downloaded)."""
    t = np.arange(points)
    noise = np.random.default_rng(0).standard_normal(points)
    return (10 + 5 * np.sin(2 * np.pi * t / 24) + 0.5 * noise).astype(np.float32)


def main(epochs: int = 3, checkpoint: str = "train_torchrun.lstmkit", resume: bool = False) -> dict[str, float]:
    series = make_series()
    split = time_split(len(series), 0.8)
    scaler = MinMaxScaler().fit(series[:split])  # fitted on the training part only
    scaled = scaler.transform(series).astype(np.float32)
    train = WindowedSeries(scaled[:split], LOOKBACK)
    test = WindowedSeries(scaled[split - LOOKBACK :], LOOKBACK)  # test windows look back into training data

    model = Sequential([LSTM(32, input_shape=(LOOKBACK, 1)), Dense(1)])
    model.compile(loss="mse", optimizer="adam", metrics=["mae"])
    model.fit(train, epochs=epochs, batch_size=64, seed=0, verbose=2,
              callbacks=[ModelCheckpoint(checkpoint, monitor="loss")],
              resume_from=checkpoint if resume else None)
    x_test, y_test = test.batch(np.arange(len(test)))
    predicted = scaler.inverse_transform(model.predict(x_test).reshape(-1, 1)).ravel()
    actual = scaler.inverse_transform(y_test.reshape(-1, 1)).ravel()
    previous = scaler.inverse_transform(x_test[:, -1, :].reshape(-1, 1)).ravel()
    scores = {"lstm_mae": float(np.mean(np.abs(predicted - actual))),
              "naive_mae": float(np.mean(np.abs(previous - actual)))}
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"test MAE: LSTM {scores['lstm_mae']:.3f}, naive (last value) {scores['naive_mae']:.3f}")
    return scores


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--checkpoint", default="train_torchrun.lstmkit")
    parser.add_argument("--resume", action="store_true", help="continue from --checkpoint")
    args = parser.parse_args()
    main(args.epochs, args.checkpoint, args.resume)
