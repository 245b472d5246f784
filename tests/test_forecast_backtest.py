"""Backtests, baselines, metrics and conformal intervals."""

import numpy as np
import pandas as pd
import pytest

from lstmkit.forecast import (Forecaster, backtest, conformal_quantiles, coverage, drift, interval_width, mae,
                              mape, mase, mean, naive, rmse, seasonal_naive, smape)
from lstmkit.forecast.metrics import score_table, verdict

FAST = dict(units=4, epochs=4, batch_size=32, patience=2)


def noisy_sine(n=96, seed=0, noise=0.1):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return pd.Series(10 + np.sin(2 * np.pi * t / 12) + rng.normal(0, noise, n),
                     index=pd.date_range("2010-01-01", periods=n, freq="MS"), name="y")


# -- baselines and metrics, by hand ----------------------------------------------------------------
def test_baselines_by_hand():
    history = [1.0, 2.0, 3.0, 4.0]
    np.testing.assert_array_equal(naive(history, 3), [4, 4, 4])
    np.testing.assert_array_equal(seasonal_naive(history, 3, season=2), [3, 4, 3])
    np.testing.assert_array_equal(seasonal_naive(history, 2, season=1), [4, 4])
    np.testing.assert_array_equal(drift(history, 2), [5, 6])  # slope (4 - 1) / 3 = 1
    np.testing.assert_array_equal(mean(history, 2), [2.5, 2.5])
    np.testing.assert_array_equal(naive([1.0, np.nan, 5.0], 1), [5.0])


def test_metrics_by_hand():
    actual, forecast = np.array([2.0, 4.0]), np.array([1.0, 6.0])
    assert mae(actual, forecast) == 1.5
    assert rmse(actual, forecast) == pytest.approx(np.sqrt(2.5))
    assert mape(actual, forecast) == pytest.approx(50.0)  # (1/2 + 2/4) / 2
    assert smape(actual, forecast) == pytest.approx(100 * (1 / 3 + 2 / 10))
    assert smape([0.0], [0.0]) == 0.0 and np.isnan(mape([0.0, 1.0], [1.0, 1.0]))
    # Scale: mean |y_t - y_{t-2}| over [1, 2, 4, 8] = (3 + 6) / 2 = 4.5.
    assert mase(actual, forecast, [1.0, 2.0, 4.0, 8.0], season=2) == pytest.approx(1.5 / 4.5)
    assert np.isnan(mase(actual, forecast, [3.0, 3.0, 3.0]))  # constant history: no scale
    assert coverage([1.0, 2.0, 3.0, 4.0], [0, 0, 0, 0], [1.5, 1.5, 3.0, 3.0]) == 0.5
    assert interval_width([0.0, 1.0], [2.0, 5.0]) == 3.0


def test_verdict_says_plainly_when_a_baseline_wins():
    rows = pd.DataFrame({"model": ["lstm", "lstm", "naive", "naive"], "actual": [1.0, 2.0, 1.0, 2.0],
                         "forecast": [3.0, 3.0, 1.0, 1.0], "mase_scale": [1.0] * 4})
    table = score_table(rows)
    assert table.loc["lstm", "MAE"] == 1.5 and table.loc["naive", "MAE"] == 0.5
    assert verdict(table).startswith("A baseline wins: naive has MASE 0.500, lstm 1.500.")
    rows["forecast"] = [1.0, 2.0, 0.0, 0.0]
    assert verdict(score_table(rows)).startswith("lstm beats every baseline: MASE 0.000 vs 1.500 for naive")


def test_conformal_quantile_is_the_finite_sample_rank():
    residuals = np.arange(1.0, 20.0)[:, None]  # 19 residuals: 1..19
    # ceil((19 + 1) * 0.8) = 16th smallest; ceil(20 * 0.95) = 19th.
    assert conformal_quantiles(residuals, [80, 95]) == {80: pytest.approx([16.0]), 95: pytest.approx([19.0])}


# -- backtests -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sine_backtest():
    series = noisy_sine()
    return series, Forecaster(12, 6, levels=(80,), **FAST).backtest(series, start=72, stride=6)


def test_backtest_is_tidy_and_scores_every_model(sine_backtest):
    series, result = sine_backtest
    frame = result.forecasts
    assert list(frame.columns) == ["id", "origin", "time", "step", "model", "actual", "forecast", "lower_80",
                                   "upper_80", "mase_scale"]
    assert [str(o.date()) for o in result.origins] == ["2016-01-01", "2016-07-01", "2017-01-01", "2017-07-01"]
    assert len(frame) == 4 * 6 * 5  # origins x steps x (lstm + 4 baselines)
    assert list(result.metrics.index) == ["lstm", "naive", "seasonal_naive", "drift", "mean"]
    first = frame[(frame["origin"] == result.origins[0])]
    naive_rows = first[first["model"] == "naive"]
    np.testing.assert_allclose(naive_rows["forecast"], series.iloc[71])  # the last value before the origin
    np.testing.assert_allclose(naive_rows["actual"], series.iloc[72:78])
    snaive = first[first["model"] == "seasonal_naive"]["forecast"]
    np.testing.assert_allclose(snaive, series.iloc[60:66])
    assert np.isnan(frame.loc[frame["model"] != "lstm", "lower_80"]).all()
    lstm = frame[frame["model"] == "lstm"]
    assert (lstm["lower_80"] <= lstm["forecast"]).all() and (lstm["forecast"] <= lstm["upper_80"]).all()
    assert 0 <= result.metrics.loc["lstm", "coverage_80"] <= 1
    assert "Backtest: 4 origin(s)" in result.summary() and result.verdict in result.summary()
    # MASE is the mean absolute error scaled by each origin's own history.
    expected = np.mean(np.abs(lstm["actual"] - lstm["forecast"]) / lstm["mase_scale"])
    assert result.metrics.loc["lstm", "MASE"] == pytest.approx(expected)


def test_no_backtest_window_sees_a_value_at_or_after_its_origin(sine_backtest):
    """Poison everything from each origin on: the forecasts made at that origin do not change."""
    series, result = sine_backtest
    for origin in result.origins[:2]:
        poisoned = series.copy()
        poisoned[poisoned.index >= origin] = 1e6
        alone = Forecaster(12, 6, levels=(80,), **FAST).backtest(poisoned, start=origin, stride=100)
        assert alone.origins == [origin]
        ours = result.forecasts[(result.forecasts["origin"] == origin)]
        theirs = alone.forecasts
        for column in ("forecast", "lower_80", "upper_80"):
            np.testing.assert_allclose(theirs[column].to_numpy(), ours[column].to_numpy(), rtol=1e-6)
        assert (theirs["actual"] == 1e6).all()  # the poison really was there, only as the actuals


def test_refit_never_fits_once_and_still_never_looks_ahead(monkeypatch):
    series = noisy_sine()
    calls = []
    original = Forecaster._fit_series

    def counting(self, items, *args, **kwargs):
        calls.append(max(len(item) for item in items))
        return original(self, items, *args, **kwargs)

    monkeypatch.setattr(Forecaster, "_fit_series", counting)
    result = Forecaster(12, 6, **FAST).backtest(series, start=72, stride=6, refit=0)
    assert calls == [72]  # one fit, on the points before the first origin
    poisoned = series.copy()
    poisoned[poisoned.index >= result.origins[-1]] = 1e6
    again = Forecaster(12, 6, **FAST).backtest(poisoned, start=72, stride=6, refit=0)
    np.testing.assert_allclose(again.forecasts["forecast"], result.forecasts["forecast"], rtol=1e-6)
    calls.clear()
    Forecaster(12, 6, **FAST).backtest(series, start=72, stride=6, refit=2)
    assert calls == [72, 84]  # every second origin


def test_direct_and_recursive_in_one_backtest():
    series = noisy_sine()
    result = backtest(series, {"direct": Forecaster(12, 3, **FAST),
                               "recursive": Forecaster(12, 3, strategy="recursive", **FAST)},
                      start=-9, stride=3)
    assert list(result.metrics.index) == ["direct", "recursive", "naive", "seasonal_naive", "drift", "mean"]
    assert len(result.origins) == 3
    counts = result.forecasts.groupby("model").size()
    assert counts["direct"] == counts["recursive"] == counts["naive"] == 3 * 3


def test_backtest_errors():
    series = noisy_sine()
    with pytest.raises(ValueError, match="start leaves no origin with horizon=6"):
        Forecaster(12, 6).backtest(series, start=95)
    with pytest.raises(ValueError, match=r"no series has the \d+ points fit needs .*choose a later start"):
        Forecaster(12, 6).backtest(series, start=20)
    with pytest.raises(ValueError, match="same horizon"):
        backtest(series, {"a": Forecaster(12, 6), "b": Forecaster(12, 3)})
    with pytest.raises(ValueError, match="taken by the baselines"):
        backtest(series, {"naive": Forecaster(12, 6)})
    with pytest.raises(ValueError, match=r"`refit` must be an integer >= 0"):
        Forecaster(12, 6).backtest(series, refit=-1)


def test_many_series_backtest_names_each_series():
    frame = pd.concat([pd.DataFrame({"id": name, "t": s.index, "y": s.to_numpy() * k})
                       for name, s, k in [("a", noisy_sine(seed=1), 1), ("b", noisy_sine(seed=2), 50)]])
    result = Forecaster(12, 3, **FAST).backtest(frame, start=-6, stride=3, id_col="id", time_col="t", value_col="y")
    lstm = result.forecasts[result.forecasts["model"] == "lstm"]
    assert sorted(lstm["id"].unique()) == ["a", "b"]
    assert lstm.groupby("id")["forecast"].mean()["b"] > 100 > lstm.groupby("id")["forecast"].mean()["a"]


# -- intervals ----------------------------------------------------------------------------------
def test_conformal_intervals_cover_gaussian_noise_at_the_nominal_rate():
    """y = sine + N(0, 0.3²): fitted once on 1400 points (700 calibration residuals per step),
    then scored at the 598 later origins without refitting."""
    rng = np.random.default_rng(7)
    t = np.arange(2000)
    values = np.sin(2 * np.pi * t / 12) + rng.normal(0, 0.3, len(t))
    fc = Forecaster(24, 3, units=16, epochs=30, batch_size=128, patience=5, levels=(80, 95), validation_split=0.5)
    result = fc.backtest(values, start=1400, stride=1, refit=0)
    lstm = result.metrics.loc["lstm"]
    assert len(result.origins) == 598
    assert abs(lstm["coverage_80"] - 0.80) < 0.04
    assert abs(lstm["coverage_95"] - 0.95) < 0.03
    # No narrower than the noise alone allows: 2 · 1.2816 · 0.3 = 0.77 at 80%.
    assert 0.77 < lstm["width_80"] < 1.2


def test_calibrate_from_a_backtest(sine_backtest):
    series, result = sine_backtest
    fc = Forecaster(12, 6, levels=(80,), **FAST).fit(series)
    before = fc.predict()
    fc.calibrate(result)
    after = fc.predict()
    assert fc.calibration_ == "backtest (4 residuals per horizon step)"
    np.testing.assert_allclose(after["forecast"], before["forecast"])
    lstm = result.forecasts[result.forecasts["model"] == "lstm"]
    step1 = np.sort(np.abs(lstm[lstm["step"] == 1]["actual"] - lstm[lstm["step"] == 1]["forecast"]))
    assert after["upper_80"].iloc[0] - after["forecast"].iloc[0] == pytest.approx(step1[-1], rel=1e-6)
    with pytest.raises(ValueError, match=r"levels=\(80, 95\)"):
        Forecaster(12, 6, **FAST).fit(series).calibrate(result)


def test_missing_drop_backtest_skips_origins_right_after_a_gap():
    values = np.sin(np.arange(90) / 3) + 5
    values[70] = np.nan
    result = Forecaster(8, 3, missing="drop", **FAST).backtest(values, start=60, stride=3)
    # Origins 72, 75 and 78 have point 70 among their last 8 values: no forecast can be made there.
    assert result.origins == [60, 63, 66, 69, 81, 84, 87]
    assert not result.forecasts["forecast"].isna().any()
