"""`lstmkit demo`: the daily-temperature LSTM tutorial, done right.

The tutorial normalises 20 daily temperatures, cuts windows of 5 days, trains
`Sequential([LSTM(50), Dense(1)])` with Adam for 100 epochs at batch size 1, predicts and plots.
Here the same model is trained the way it should be:

- a time-ordered 67/33 split (the first 13 days train, the last 7 test);
- the min-max scaler is fitted on the training days only, then applied to the test days
  (the tutorial scales the test part with its own min/max), and predictions are turned back
  into degrees before they are scored;
- test windows look back into the training days, so every test day gets a prediction;
- the scores stand beside the naive forecast "tomorrow = today", whichever wins.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from lstmkit.data import MinMaxScaler, make_windows, time_split
from lstmkit.layers import LSTM, Dense
from lstmkit.models import Sequential
from lstmkit.training import History

LOOKBACK = 5


@dataclass
class DemoResult:
    """What the demo computed, in degrees; `*_days` index into `dates` / `actual`."""

    dates: Any  # pandas DatetimeIndex of the 20 days
    actual: np.ndarray  # (20,)
    split: int  # first test day
    train_days: np.ndarray
    train_prediction: np.ndarray
    test_days: np.ndarray
    test_prediction: np.ndarray
    naive_prediction: np.ndarray  # yesterday's temperature for each test day
    scores: dict[str, dict[str, float]]  # {"LSTM": {"MAE": .., "RMSE": ..}, "naive": {...}}
    fit_seconds: float
    history: History


def _scores(prediction: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    error = prediction - actual
    return {"MAE": float(np.mean(np.abs(error))), "RMSE": float(np.sqrt(np.mean(error**2)))}


def run_demo(epochs: int = 100, seed: int = 0, verbose: int = 2, print_fn: Callable[[str], Any] = print) -> DemoResult:
    """Train and score the tutorial model on the bundled temperatures; print as it goes."""
    from lstmkit.datasets import load_temperatures

    series = load_temperatures()
    values = series.to_numpy(dtype=np.float32).reshape(-1, 1)  # (20, 1)
    split = time_split(len(values), 0.67)  # 13: days 0..12 train, 13..19 test

    scaler = MinMaxScaler().fit(values[:split])  # training days only
    scaled = scaler.transform(values)
    inputs, targets = make_windows(scaled, lookback=LOOKBACK, horizon=1)  # (15, 5, 1), (15, 1, 1)
    target_days = np.arange(LOOKBACK, len(values))  # window k predicts day k + 5
    train = target_days < split
    x_train, y_train = inputs[train], targets[train, 0]  # 8 windows: days 5..12
    x_test = inputs[~train]  # 7 windows: days 13..19, looking back into training days

    model = Sequential([LSTM(50, input_shape=(LOOKBACK, 1)), Dense(1)], name="temperature_lstm")
    model.compile(loss="mean_squared_error", optimizer="adam")
    model.summary(print_fn=print_fn)
    start = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=epochs, batch_size=1, verbose=verbose, seed=seed)
    fit_seconds = time.perf_counter() - start

    train_prediction = scaler.inverse_transform(model.predict(x_train))[:, 0]
    test_prediction = scaler.inverse_transform(model.predict(x_test))[:, 0]
    actual = values[:, 0]
    test_days = target_days[~train]
    naive = actual[test_days - 1]
    scores = {"LSTM": _scores(test_prediction, actual[test_days]), "naive": _scores(naive, actual[test_days])}
    return DemoResult(
        dates=series.index,
        actual=actual,
        split=split,
        train_days=target_days[train],
        train_prediction=train_prediction,
        test_days=test_days,
        test_prediction=test_prediction,
        naive_prediction=naive,
        scores=scores,
        fit_seconds=fit_seconds,
        history=history,
    )


def format_scores(result: DemoResult) -> str:
    """The score table and a plain verdict."""
    lstm, naive = result.scores["LSTM"], result.scores["naive"]
    lines = [
        f"Test days {result.dates[result.split].date()} to {result.dates[-1].date()} "
        f"({len(result.test_days)} days), errors in °C:",
        f"  {'model':<30}{'MAE':>8}{'RMSE':>8}",
        f"  {'LSTM(50) + Dense(1)':<30}{lstm['MAE']:>8.3f}{lstm['RMSE']:>8.3f}",
        f"  {'naive (yesterday)':<30}{naive['MAE']:>8.3f}{naive['RMSE']:>8.3f}",
    ]
    if lstm["MAE"] < naive["MAE"]:
        lines.append(f"The LSTM beats the naive forecast by {naive['MAE'] - lstm['MAE']:.3f} °C MAE.")
    else:
        lines.append(
            f"The naive forecast wins by {lstm['MAE'] - naive['MAE']:.3f} °C MAE: on 13 training days "
            f"the LSTM has not learned more than 'tomorrow = today'."
        )
    lines.append(f"Training took {result.fit_seconds:.2f} s.")
    return "\n".join(lines)
