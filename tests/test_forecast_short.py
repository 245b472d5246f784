"""Global models over series of mixed lengths: short ones train on padded windows, too-short
ones get a seasonal-naive forecast and are listed in a warning; nothing refuses the data set."""

import numpy as np
import pandas as pd
import pytest

from lstmkit.forecast import Forecaster
from lstmkit.forecast.padding import ShortSeriesWarning, padded_windows, window_origins
from lstmkit.forecast.windows import relative_inputs


def _collection(lengths, seed=0):
    """Series of the given lengths, all ending in 2030."""
    rng = np.random.default_rng(seed)
    frames = []
    for k, n in enumerate(lengths):
        t = np.arange(n)
        values = 20.0 + k + 0.8 * t + rng.normal(0, 0.2, n)  # rising lines, each its own level
        frames.append(pd.DataFrame({"id": f"s{k:02d}", "t": pd.date_range(end="2030", periods=n, freq="YS"),
                                    "y": values}))
    return pd.concat(frames, ignore_index=True)


def test_padded_windows_have_the_documented_rows_and_lengths():
    matrix = np.arange(5.0)[:, None]
    origins = window_origins(matrix, lookback=4, steps=1)
    assert origins.tolist() == [2, 3, 4]
    inputs, targets, lengths = padded_windows(matrix, origins, lookback=4, steps=1)
    assert inputs[:, :, 0].tolist() == [[0, 1, 0, 0], [0, 1, 2, 0], [0, 1, 2, 3]]
    assert targets.tolist() == [[2], [3], [4]] and lengths.tolist() == [2, 3, 4]
    shifted, level, scale = relative_inputs(inputs, True, lengths)
    assert level.tolist() == [[1], [2], [3]] and scale.tolist() == [[1], [1], [1]]
    assert shifted[:, :, 0].tolist() == [[-1, 0, 0, 0], [-2, -1, 0, 0], [-3, -2, -1, 0]]


def test_many_series_of_mixed_lengths_all_get_forecasts():
    lengths = [3, 4, 6, 8, 10, 13, 17, 25, 40, 60] * 3  # lookback 12 + horizon 4 = 16
    data = _collection(lengths)
    with pytest.warns(ShortSeriesWarning, match=r"6 of 30 series have fewer than 6 points .*'s00', 's01', "
                                                r"'s10', 's11', 's20', 's21'.* seasonal naive"):
        fc = Forecaster(12, 4, epochs=25, seed=0).fit(data, id_col="id", time_col="t", value_col="y")
    forecast = fc.predict()
    assert forecast.groupby("id").size().to_dict() == {f"s{k:02d}": 4 for k in range(30)}
    assert np.isfinite(forecast["forecast"]).all()
    by_id = {key: rows["forecast"].to_numpy() for key, rows in forecast.groupby("id")}
    last = data.groupby("id")["y"].last()
    # Too short for a window: the last value repeated (yearly data, naive).
    np.testing.assert_allclose(by_id["s00"], np.full(4, last["s00"]))
    # Short but trained on: the network continues the rise that every series shares.
    for key in ("s02", "s03", "s04", "s05"):
        steps = by_id[key] - last[key]
        assert steps[-1] > steps[0] > 0, (key, steps)
    assert fc.validation_metrics_.loc["lstm", "MASE"] < fc.validation_metrics_.loc["naive", "MASE"]


def test_a_saved_collection_with_short_series_predicts_the_same(tmp_path):
    data = _collection([5, 9, 30, 30])
    fc = Forecaster(10, 3, epochs=5, seed=0).fit(data, id_col="id", time_col="t", value_col="y")
    fc.save(tmp_path / "short.lstmkit")
    again = Forecaster.load(tmp_path / "short.lstmkit")
    pd.testing.assert_frame_equal(fc.predict(), again.predict())


def test_backtest_over_a_collection_with_short_series_scores_every_series():
    data = _collection([7, 12, 30, 30, 30])  # s00 has 1 and 4 points at the two origins, s01 6 and 9
    result = Forecaster(10, 3, epochs=3, seed=0).backtest(data, id_col="id", time_col="t", value_col="y",
                                                         start=-6, stride=3)
    lstm = result.forecasts[result.forecasts["model"] == "lstm"]
    assert set(lstm["id"]) == {"s00", "s01", "s02", "s03", "s04"}
    assert np.isfinite(lstm["forecast"]).all()
