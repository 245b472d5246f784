"""Windows deseasonalised by their own seasonal profile (lstmkit.data.window_levels), chosen on the
training part (lstmkit.forecast.seasonality)."""

import numpy as np
import pandas as pd
import pytest

from lstmkit.data import WindowedSeries, window_levels
from lstmkit.forecast import Forecaster
from lstmkit.forecast.padding import first_known, padded_contexts
from lstmkit.forecast.seasonality import has_season, profile_context, window_season
from lstmkit.forecast.windows import ContextWindows, context_inputs, relative_inputs
from lstmkit.saving import read_model_file, write_model_file

PATTERN = np.array([3.0, -1.0, 0.5, -2.5])  # a season of 4, centred


def test_a_window_of_level_trend_and_season_is_split_exactly():
    t = np.arange(12)
    window = 10.0 + 0.5 * t + PATTERN[t % 4]  # three whole seasons, the last step at the season's end
    inputs, outputs = window_levels(window[None, :], steps=6, season=4)
    np.testing.assert_allclose(window - inputs[0], 0.5 * (t - 11), atol=1e-12)  # only the trend is left
    # after the window: the last level (10 + 0.5*11) and the season from its first place on, no trend
    np.testing.assert_allclose(outputs[0], 15.5 + PATTERN[np.arange(12, 18) % 4], atol=1e-12)


def test_without_two_seasons_a_window_is_relative_to_its_last_value():
    window = np.array([[1.0, 4.0, 2.0, 7.0, 5.0]])
    for season in (1, 4, 12):  # 5 steps hold one season of 4 at most
        inputs, outputs = window_levels(window, steps=3, season=season)
        np.testing.assert_array_equal(inputs, np.full((1, 5), 5.0))
        np.testing.assert_array_equal(outputs, np.full((1, 3), 5.0))


def test_padded_windows_use_their_real_steps_and_zero_after():
    t = np.arange(12)
    full = 10.0 + PATTERN[t % 4]
    windows = np.stack([full, np.r_[full[4:], np.zeros(4)]])  # the second: 8 real steps, then padding
    inputs, outputs = window_levels(windows, steps=2, season=4, lengths=np.array([12, 8]))
    np.testing.assert_allclose(outputs, [10.0 + PATTERN[:2]] * 2, atol=1e-12)
    np.testing.assert_allclose(inputs[1, :8], full[4:], atol=1e-12)
    np.testing.assert_array_equal(inputs[1, 8:], 0.0)


def test_the_shifts_are_linear_in_the_window():
    rng = np.random.default_rng(0)
    windows = rng.normal(size=(5, 15))
    matrix_in, matrix_out = window_levels(np.eye(15), steps=7, season=4)
    inputs, outputs = window_levels(windows, steps=7, season=4)
    np.testing.assert_allclose(windows @ matrix_in, inputs, atol=1e-12)
    np.testing.assert_allclose(windows @ matrix_out, outputs, atol=1e-12)


def test_windowed_series_takes_the_profile_out_of_inputs_and_targets_alike():
    t = np.arange(40)
    series = 100.0 + 2.0 * t + 10.0 * PATTERN[t % 4]
    windows = WindowedSeries(series, lookback=8, horizon=4, relative=True, season=4)
    x, y = windows.batch(np.arange(len(windows)))
    # a trend and season the profile explains leave only the trend: 2 per step, from the origin's level
    np.testing.assert_allclose(x[:, :, 0], np.broadcast_to(2.0 * (np.arange(8) - 7), (len(x), 8)), atol=1e-4)
    np.testing.assert_allclose(y, np.broadcast_to(2.0 * np.arange(1, 5), (len(y), 4)), atol=1e-4)


def test_the_seasonality_test_sees_a_season_but_not_a_trend():
    rng = np.random.default_rng(1)
    t = np.arange(120)
    noise = rng.normal(0, 1, 120)
    assert has_season(5 * np.sin(2 * np.pi * t / 12) + noise, 12)
    assert not has_season(0.5 * t + noise, 12)  # a trend alone: no season on the differences
    assert not has_season(np.cumsum(noise), 12)  # a random walk
    assert not has_season(5 * np.sin(2 * np.pi * t / 12)[:30], 12)  # under three seasons: not tested
    seasonal, plain = 5 * np.sin(2 * np.pi * t / 12) + noise, np.cumsum(noise)
    assert window_season("auto", [seasonal, seasonal, plain], 12)[0] == 12  # 2 of 3
    assert window_season("auto", [seasonal, plain, plain], 12)[0] == 1
    assert window_season("window", [plain], 12)[0] == 12
    assert window_season("none", [seasonal], 12)[0] == 1
    assert window_season("auto", [seasonal], 1)[0] == 1


def _monthly(n=132, seed=0):
    t = np.arange(n)
    values = 200 + 1.5 * t + 40 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(seed).normal(0, 3, n)
    return pd.Series(values, index=pd.date_range("2000-01", periods=n, freq="MS"))


def test_a_seasonal_series_is_forecast_from_deseasonalised_windows_and_says_so(tmp_path):
    series = _monthly()
    train, test = series.iloc[:-12], series.to_numpy()[-12:]
    fc = Forecaster(36, 12, units=8, epochs=30, seed=0).fit(train)
    assert fc.window_season_ == 12 and fc.context_ == 48 and len(fc.tails_[0]) == 48
    assert "Windows: each deseasonalised by its own season-12 profile (auto: 1 of 1 series" in fc.summary()
    assert "The profile reads up to 48 steps (4 seasons) before the origin" in fc.summary()
    plain = Forecaster(36, 12, units=8, epochs=30, seed=0, seasonal="none").fit(train)
    assert plain.window_season_ == 1 and "seasonal='none'" in plain.summary()
    assert plain.context_ == 36 and "The profile reads" not in plain.summary()
    error = np.abs(fc.predict()["forecast"].to_numpy() - test).mean()
    assert error < np.abs(plain.predict()["forecast"].to_numpy() - test).mean()
    assert error < 8.0  # the season is 40 high: a network that missed it would be far off
    fc.save(tmp_path / "seasonal.lstmkit")
    loaded = Forecaster.load(tmp_path / "seasonal.lstmkit")
    assert loaded.window_season_ == 12 and loaded.context_ == 48
    pd.testing.assert_frame_equal(loaded.predict(), fc.predict())
    config, tensors = read_model_file(tmp_path / "seasonal.lstmkit")
    config["context"] = 10**9  # a file that would have predict() allocate a window of a billion rows
    write_model_file(tmp_path / "tampered.lstmkit", config, tensors)
    with pytest.raises(ValueError, match="config.context"):
        Forecaster.load(tmp_path / "tampered.lstmkit")
    config["context"] = 36  # a file from before the wider profile: its 36-step tails and profile
    config["series"][0]["values"] = config["series"][0]["values"][-36:]
    for key in ("past", "future"):
        config["series"][0][key] = config["series"][0][key][-36:]
    config["series"][0]["index"]["length"] = 36
    write_model_file(tmp_path / "older.lstmkit", config, tensors)
    older = Forecaster.load(tmp_path / "older.lstmkit")
    assert older.context_ == 36 and len(older.tails_[0]) == 36
    assert not np.allclose(older.predict()["forecast"], fc.predict()["forecast"])


def test_a_deseasonalising_forecaster_exports_its_profile_to_onnx(tmp_path):
    import onnxruntime

    series = _monthly() * 0 + np.exp(np.linspace(3, 5, 132)) * (1.3 + np.sin(np.arange(132) * np.pi / 6))
    fc = Forecaster(36, 12, units=4, epochs=3, ensemble=2, seed=0).fit(series)
    assert fc.window_season_ == 12 and fc.scalers_[None].logged
    fc.export_onnx(tmp_path / "seasonal.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "seasonal.onnx"), providers=["CPUExecutionProvider"])
    assert fc.context_ == 48  # the profile's four seasons, the network's last 36 steps
    window = series.to_numpy()[-48:].astype(np.float32)[None, :, None]
    np.testing.assert_allclose(session.run(None, {"x": window})[0][0], fc.predict()["forecast"], rtol=1e-4)


def test_seasonal_must_be_a_known_choice():
    with pytest.raises(ValueError, match="seasonal"):
        Forecaster(12, 4, seasonal="yes")


def test_window_scale_is_the_mean_absolute_step_of_the_real_steps():
    from lstmkit.data import window_scale

    windows = np.array([[0.0, 2.0, 1.0, 1.0], [5.0, 5.0, 5.0, 5.0], [1.0, 4.0, 0.0, 0.0]])
    np.testing.assert_allclose(window_scale(windows), [1.0, 1e-3, 7 / 3])
    np.testing.assert_allclose(window_scale(windows, lengths=np.array([3, 4, 2])), [1.5, 1e-3, 3.0])
    np.testing.assert_allclose(window_scale(windows[:, :1], lengths=np.array([1, 1, 1])), [1.0, 1.0, 1.0])
    x, y = WindowedSeries(np.array([0.0, 2.0, 1.0, 5.0]), lookback=3, relative=True, scaled=True).batch(np.array([0]))
    np.testing.assert_allclose(x[0, :, 0], [-1 / 1.5, 1 / 1.5, 0.0], rtol=1e-6)
    np.testing.assert_allclose(y[0], [4 / 1.5], rtol=1e-6)


def _collection(count=6, n=60):
    rng = np.random.default_rng(3)
    frames = []
    for k in range(count):
        t = np.arange(n - 5 * k)  # of different lengths and volatilities
        values = 50 + (k + 1) * np.cumsum(rng.normal(0.3, 1.0, len(t)))
        frames.append(pd.DataFrame({"id": f"s{k}", "time": np.arange(len(t)), "value": values}))
    return pd.concat(frames, ignore_index=True)


def test_a_global_model_scales_its_windows_and_exports_them(tmp_path):
    import onnxruntime

    data = _collection()
    fc = Forecaster(12, 4, units=4, epochs=3, seed=0).fit(data, id_col="id", time_col="time", value_col="value")
    assert fc.window_scaled_ and "Each divided by its mean absolute step (auto: a global model of 6 series)" \
        in fc.summary()
    off = Forecaster(12, 4, units=4, epochs=3, seed=0, window_scale="off").fit(
        data, id_col="id", time_col="time", value_col="value")
    assert not off.window_scaled_
    assert not np.allclose(off.predict()["forecast"], fc.predict()["forecast"])
    single = Forecaster(12, 4, units=4, epochs=3, seed=0).fit(data[data["id"] == "s0"]["value"].to_numpy())
    assert not single.window_scaled_  # one series: its own scaler's units
    fc.save(tmp_path / "global.lstmkit")
    loaded = Forecaster.load(tmp_path / "global.lstmkit")
    assert loaded.window_scaled_
    pd.testing.assert_frame_equal(loaded.predict(), fc.predict())
    fc.export_onnx(tmp_path / "s2.onnx", series_id="s2")
    session = onnxruntime.InferenceSession(str(tmp_path / "s2.onnx"), providers=["CPUExecutionProvider"])
    window = data[data["id"] == "s2"]["value"].to_numpy()[-12:].astype(np.float32)[None, :, None]
    expected = fc.predict().query("id == 's2'")["forecast"].to_numpy()
    np.testing.assert_allclose(session.run(None, {"x": window})[0][0], expected, rtol=1e-4)


def test_the_context_is_four_seasons_where_the_lookback_holds_fewer():
    assert profile_context(36, 12) == 48 and profile_context(16, 4) == 16 and profile_context(60, 12) == 60
    assert profile_context(36, 1) == 36  # no profile, no wider context


def test_a_context_starts_after_its_last_unknown_row_before_the_steps_read():
    matrix = np.arange(12.0)[:, None]
    matrix[3] = np.nan
    contexts, lengths = padded_contexts(matrix, [10, 11, 6], lookback=8, reads=4)
    np.testing.assert_array_equal(lengths, [6, 7, 6])  # rows 4..9, 4..10; origin 6: rows 0..5, the gap read
    np.testing.assert_array_equal(contexts[0, :6, 0], np.arange(4.0, 10.0))
    np.testing.assert_array_equal(contexts[0, 6:, 0], 0.0)
    assert np.isnan(contexts[2, :, 0]).sum() == 1  # a gap in the steps read is kept, for the caller to refuse
    assert padded_contexts(matrix, [10], lookback=8)[1] is None  # no `reads`: the whole lookback, as before


def _context_pair(series, lookback, context, horizon, season, origins):
    """Training windows (ContextWindows) and forecast-time inputs (context_inputs) at `origins`."""
    matrix = series[:, None]
    pad = context - lookback
    known = first_known(np.r_[np.zeros(pad, dtype=bool), ~np.isnan(series)])
    np.testing.assert_array_equal(first_known(np.array([False, True, True, False, True])), [1, 1, 1, 4, 4])
    padded = np.r_[np.zeros((pad, 1)), np.where(np.isnan(matrix), 0.0, matrix)]
    windows = ContextWindows(padded, context, horizon, np.asarray(origins) - lookback, lookback, known,
                             season, scaled=False)
    trained = windows.batch(np.arange(len(origins)))
    contexts, lengths = padded_contexts(matrix, origins, context, reads=lookback)
    x, base, scale, reads = context_inputs(contexts, True, lengths, season, horizon, False, lookback)
    targets = np.stack([series[o : o + horizon] for o in origins])
    return trained, (x, (targets - base) / scale, reads)


def test_training_windows_and_forecast_inputs_read_the_same_profile():
    rng = np.random.default_rng(2)
    t = np.arange(60)
    series = 50.0 + 0.3 * t + 10.0 * PATTERN[t % 4] + rng.normal(0, 2.0, 60)
    series[30] = np.nan  # a gap: profiles stop at it
    origins = [8, 12, 16, 20, 24, 29 - 3, 40, 44, 50, 56]  # windows and targets clear of row 30
    (x, y), (expected_x, expected_y, reads) = _context_pair(series, 8, 16, 3, 4, origins)
    assert reads is None and x.shape == (10, 8, 1)
    np.testing.assert_allclose(x, expected_x, atol=1e-5)
    np.testing.assert_allclose(y, expected_y, atol=1e-5)
    # the first window has only its own 8 steps (two seasons) of history; the last reads four seasons
    own = relative_inputs(series[None, 0:8, None], True, season=4, steps=3)[0]
    np.testing.assert_allclose(x[0], own[0], atol=1e-5)
    shift_in, _ = window_levels(series[None, 40:56], steps=3, season=4)
    np.testing.assert_allclose(x[-1, :, 0], series[48:56] - shift_in[0, -8:], atol=1e-4)
    assert not np.allclose(x[-1], relative_inputs(series[None, 48:56, None], True, season=4, steps=3)[0][0],
                           atol=1e-3)


def test_short_seasonal_series_in_a_global_model_read_the_profile_they_have():
    rng = np.random.default_rng(4)
    frames = []
    for k, n in enumerate([10, 14, 20, 28, 40, 60]):  # padded windows for the short ones
        t = np.arange(n)
        values = 100 + 5 * k + 0.2 * t + 8 * PATTERN[t % 4] + rng.normal(0, 0.5, n)
        frames.append(pd.DataFrame({"id": f"s{k}", "time": pd.date_range("2000", periods=n, freq="QS"),
                                    "value": values}))
    data = pd.concat(frames, ignore_index=True)
    fc = Forecaster(8, 4, units=4, epochs=3, seed=0, seasonal="window").fit(
        data, id_col="id", time_col="time", value_col="value")
    assert fc.window_season_ == 4 and fc.context_ == 16
    forecast = fc.predict()
    assert forecast["forecast"].notna().all() and len(forecast) == 24
    for key, n in [("s3", 28), ("s5", 60)]:  # the next four quarters carry the season's shape
        ahead = forecast.query(f"id == '{key}'")["forecast"].to_numpy()
        assert np.corrcoef(ahead - ahead.mean(), PATTERN[np.arange(n, n + 4) % 4])[0, 1] > 0.9


def test_the_command_line_report_says_how_windows_are_deseasonalised(tmp_path):
    from lstmkit.cli import main

    csv = tmp_path / "monthly.csv"
    _monthly().rename_axis("month").to_frame("sales").to_csv(csv)
    assert main(["forecast", str(csv), "--lookback", "36", "--horizon", "12", "--epochs", "2", "--units", "4",
                 "--quiet", "--statistical", "off", "--levels", "none", "--relative", "on",
                 "--out", str(tmp_path / "out")]) == 0
    report = (tmp_path / "out" / "report.md").read_text()
    assert "- Windows: each deseasonalised by its own season-12 profile" in report
    assert "The profile reads up to 48 steps (4 seasons) before the origin" in report
