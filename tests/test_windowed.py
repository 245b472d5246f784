"""WindowedSeries: windows cut batch by batch, so training memory stays O(series length)."""

import tracemalloc

import numpy as np
import pytest
import torch

from lstmkit import Sequential, model_inputs
from lstmkit.data import WindowedSeries, make_windows
from lstmkit.layers import LSTM, Dense


def materialized(series, lookback, horizon, target_columns=None, relative=False):
    """The windows the way make_windows and the Forecaster's relative shift give them."""
    inputs, targets = make_windows(series, lookback, horizon, target_columns=target_columns)
    x = np.array(inputs, dtype=np.float32)
    columns = list(range(x.shape[-1])) if target_columns is None else list(target_columns)
    level = x[:, -1, columns].copy() if relative else np.zeros((len(x), len(columns)), np.float32)
    x[:, :, columns] -= level[:, None, :]
    y = (targets - level[:, None, :]).astype(np.float32)
    return x, y.reshape(len(y), -1)


@pytest.mark.parametrize("relative", [False, True])
@pytest.mark.parametrize("target_columns", [None, [2], [0, 2]])
def test_batches_equal_the_materialized_windows(relative, target_columns):
    series = np.random.default_rng(0).normal(size=(40, 3)).cumsum(axis=0)
    windows = WindowedSeries(series, 6, 3, target_columns=target_columns, relative=relative)
    x, y = materialized(series, 6, 3, target_columns, relative)
    assert len(windows) == len(x) == 40 - 6 - 3 + 1
    assert windows.input_shape == (6, 3) and windows.target_shape == (3 * len(target_columns or [0, 1, 2]),)
    index = np.array([5, 0, 31, 5])
    x_b, y_b = windows.batch(index)
    assert x_b.dtype == y_b.dtype == np.float32 and x_b.flags.c_contiguous
    np.testing.assert_array_equal(x_b, x[index])
    np.testing.assert_array_equal(y_b, y[index])


def test_starts_and_subsets_pick_windows_by_start():
    series = np.arange(30.0)
    windows = WindowedSeries(series, 4, 2, relative=True, starts=[3, 10, 24])
    x, y = materialized(series, 4, 2, relative=True)
    np.testing.assert_array_equal(windows.batch(np.arange(3))[0], x[[3, 10, 24]])
    tail = windows.subset(slice(1, None))
    assert len(tail) == 2 and len(windows) == 3
    x_t, y_t = tail.batch(np.array([1]))
    np.testing.assert_array_equal(x_t[0, :, 0], [-3, -2, -1, 0])  # 24..27, relative to 27
    np.testing.assert_array_equal(y_t, [[1, 2]])


def test_bad_windowed_series_say_what_to_fix():
    with pytest.raises(ValueError, match="reduce `lookback`"):
        WindowedSeries(np.arange(5.0), 4, 2)
    with pytest.raises(ValueError, match="first at time step 3"):
        WindowedSeries(np.r_[0.0, 1, 2, np.nan, 4, 5, 6], 2)
    with pytest.raises(ValueError, match=r"starts must lie in 0\.\.4"):
        WindowedSeries(np.arange(7.0), 2, starts=[0, 5])
    with pytest.raises(ValueError, match="target_columns"):
        WindowedSeries(np.zeros((9, 2)), 2, target_columns=[2])
    model = Sequential([LSTM(2, input_shape=(3, 1)), Dense(2)])
    model.compile()
    with pytest.raises(ValueError, match="cuts its own targets; pass y=None"):
        model.fit(WindowedSeries(np.arange(9.0), 3, 2), np.zeros(5))
    with pytest.raises(ValueError, match=r"samples of shape \(4, 1\) but the model expects \(3, 1\)"):
        model.fit(WindowedSeries(np.arange(9.0), 4, 2))
    with pytest.raises(ValueError, match=r"end it with Dense\(3\)"):
        model.fit(WindowedSeries(np.arange(9.0), 3, 3))


def _fit_weights(fit_args, metrics, **kwargs):
    model = Sequential([LSTM(5, input_shape=(8, 2)), Dense(2)])
    model.compile(loss="mse", optimizer="adam", metrics=metrics)
    history = model.fit(*fit_args, epochs=2, batch_size=16, verbose=0, seed=3, **kwargs)
    return model.get_weights(), history.history


@pytest.mark.parametrize("gathered_at_once", [False, True])
def test_fit_on_windows_equals_fit_on_the_materialized_arrays(monkeypatch, gathered_at_once):
    if not gathered_at_once:  # cut batch by batch on the torch loop, as large series are
        monkeypatch.setattr(model_inputs, "MATERIALIZE_MAX_BYTES", 0)
    series = np.sin(np.arange(300.0)[:, None] / [7, 11])
    windows = WindowedSeries(series, 8, 2, target_columns=[0], relative=True)
    train, validation = windows.subset(slice(0, 200)), windows.subset(slice(200, None))
    x, y = materialized(series, 8, 2, [0], relative=True)
    # metrics keep both runs on the torch loop; without them small data takes the fused engine.
    metrics = [] if gathered_at_once else ["mae"]
    ours, logs = _fit_weights((train,), metrics, validation_data=validation)
    theirs, their_logs = _fit_weights((x[:200], y[:200]), metrics, validation_data=(x[200:], y[200:]))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logs["val_loss"], their_logs["val_loss"], rtol=1e-5)


def test_predict_and_evaluate_take_windows_batch_by_batch(monkeypatch):
    monkeypatch.setattr(model_inputs, "MATERIALIZE_MAX_BYTES", 0)
    series = np.cos(np.arange(100.0) / 5)
    windows = WindowedSeries(series, 6, 1)
    x, y = materialized(series, 6, 1)
    model = Sequential([LSTM(3, input_shape=(6, 1)), Dense(1)])
    model.compile(loss="mse", metrics=["mae"])
    np.testing.assert_allclose(model.predict(windows, batch_size=7), model.predict(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.evaluate(windows, batch_size=7), model.evaluate(x, y, batch_size=7), rtol=1e-5)


def test_fit_on_a_long_series_never_copies_every_window():
    points, lookback = 200_000, 100
    series = np.sin(np.arange(points, dtype=np.float32) / 50)
    windows = WindowedSeries(series, lookback, 1)
    copy_bytes = len(windows) * lookback * 4  # what np.array(inputs, float32) would take: ~80 MB
    assert copy_bytes > model_inputs.MATERIALIZE_MAX_BYTES  # so fit cuts it batch by batch
    model = Sequential([LSTM(2, input_shape=(lookback, 1)), Dense(1)])
    model.compile(loss="mse", optimizer="sgd")
    assert model.optimizer is not None  # built before measuring: the first one imports torch._dynamo
    tracemalloc.start()
    try:
        model.fit(windows, epochs=1, batch_size=4096, verbose=0, seed=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.25 * copy_bytes, f"peak {peak / 2**20:.1f} MiB against a copy of {copy_bytes / 2**20:.1f} MiB"


def test_a_memory_mapped_series_trains(tmp_path):
    path = tmp_path / "series.npy"
    np.save(path, np.sin(np.arange(500, dtype=np.float32) / 9)[:, None])
    series = np.load(path, mmap_mode="r")
    windows = WindowedSeries(series, 10, 2, relative=True)
    x, y = materialized(np.load(path), 10, 2, relative=True)
    x_b, y_b = windows.batch(np.arange(len(windows)))
    np.testing.assert_array_equal(x_b, x)
    np.testing.assert_array_equal(y_b, y)
    model = Sequential([LSTM(3, input_shape=(10, 1)), Dense(2)])
    model.compile(loss="mse", optimizer="adam")
    history = model.fit(windows.subset(slice(0, 400)), validation_data=windows.subset(slice(400, None)),
                        epochs=2, batch_size=32, verbose=0, seed=0)
    assert np.isfinite(history.history["val_loss"]).all()
    assert torch.isfinite(torch.as_tensor(model.predict(windows))).all()


def test_subsets_pick_the_windows_indexing_starts_would():
    starts = np.r_[0:10, 15, 17:25, 3:6]  # runs of consecutive starts, a lone one, a run going back
    windows = WindowedSeries(np.arange(40.0), 4, starts=starts)  # each window's first value is its start
    mask = np.arange(len(starts)) % 3 == 0
    for positions in [slice(2, 20), slice(None, None, 3), slice(-5, None), slice(30, 40), slice(12, 3),
                      np.array([4, -1, 0, 4]), mask]:
        part = windows.subset(positions)
        np.testing.assert_array_equal(part.batch(np.arange(len(part)))[0][:, 0, 0], starts[positions])
    nested = windows.subset(slice(3, None)).subset(np.array([0, 9, 10]))
    np.testing.assert_array_equal(nested.batch(np.arange(3))[0][:, 0, 0], starts[3:][[0, 9, 10]])
    spaced = WindowedSeries(np.arange(40.0), 4, starts=np.arange(0, 36, 3))  # no two starts in a row
    np.testing.assert_array_equal(spaced.batch(np.array([11, 0, 5]))[0][:, 0, 0], [33, 0, 15])
    with pytest.raises(IndexError, match=r"positions must lie in -22\.\.21, got 0\.\.22"):
        windows.subset([0, 22])
    with pytest.raises(IndexError, match=r"boolean mask of windows needs shape \(22,\)"):
        windows.subset(mask[:5])


def test_the_windows_of_a_long_series_take_no_memory_per_window():
    series = np.zeros(10_000_000, dtype=np.float32)
    tracemalloc.start()
    try:
        windows = WindowedSeries(series, 24)
        tail = windows.subset(slice(-1000, None))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(windows) == 10_000_000 - 24 and len(tail) == 1000
    assert peak < 4 * 2**20, f"peak {peak / 2**20:.1f} MiB; one start per window would take 80 MiB"


def test_windows_of_concatenated_series_never_cross_from_one_into_the_next():
    lengths = [7, 5, 9]
    parts = [100.0 * k + np.arange(n) for k, n in enumerate(lengths)]
    windows = WindowedSeries.from_concatenated(np.concatenate(parts), lengths, lookback=3, horizon=2)
    pieces = [materialized(part, 3, 2) for part in parts]
    x, y = windows.batch(np.arange(len(windows)))
    assert len(windows) == sum(n - 3 - 2 + 1 for n in lengths)
    np.testing.assert_array_equal(x, np.concatenate([p[0] for p in pieces]))
    np.testing.assert_array_equal(y, np.concatenate([p[1] for p in pieces]))
    with pytest.raises(ValueError, match="lengths add up to 20 points but the series has 21"):
        WindowedSeries.from_concatenated(np.concatenate(parts), [7, 5, 8], 3, 2)
    with pytest.raises(ValueError, match=r"series 1 has 5 points \(1 of 3 series are that short\).*Reduce `lookback`"):
        WindowedSeries.from_concatenated(np.concatenate(parts), lengths, 4, 2)
    with pytest.raises(TypeError, match="lengths must be a non-empty 1-D array of positive integers"):
        WindowedSeries.from_concatenated(np.concatenate(parts), [7.0, 5.0, 9.0], 3, 2)
