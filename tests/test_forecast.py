"""Forecaster: fit/predict on every input form, right by default, files, errors, missing values."""

import json

import numpy as np
import pandas as pd
import pytest

from lstmkit import Sequential
from lstmkit.forecast import Forecaster, infer_season
from lstmkit.layers import LSTM, Dense
from lstmkit.saving import read_model_file

FAST = dict(units=8, epochs=25, batch_size=32, patience=5)


def monthly_sine(n=120, start="2000-01-01", amplitude=10.0, level=100.0):
    t = np.arange(n)
    return pd.Series(level + amplitude * np.sin(2 * np.pi * t / 12), index=pd.date_range(start, periods=n, freq="MS"),
                     name="y")


@pytest.fixture(scope="module")
def sine_fit():
    series = monthly_sine()
    return series, Forecaster(24, 6, levels=(80, 95), **FAST).fit(series.iloc[:-6])


def test_predict_continues_the_time_index_in_original_units(sine_fit):
    series, fc = sine_fit
    forecast = fc.predict()
    assert list(forecast.columns) == ["forecast", "lower_80", "upper_80", "lower_95", "upper_95"]
    pd.testing.assert_index_equal(forecast.index, series.index[-6:], check_names=False)
    assert forecast.index.freqstr == "MS"
    # Back in the series' units (about 90..110), not the scaler's 0..1.
    assert 85 < forecast["forecast"].mean() < 115
    assert (forecast["lower_95"] <= forecast["lower_80"]).all() and (forecast["lower_80"] <= forecast["forecast"]).all()
    assert (forecast["upper_80"] <= forecast["upper_95"]).all()


def test_lstm_beats_naive_on_a_noiseless_sine(sine_fit):
    series, fc = sine_fit
    actual = series.to_numpy()[-6:]
    lstm_error = np.abs(fc.predict()["forecast"].to_numpy() - actual).mean()
    naive_error = np.abs(series.to_numpy()[-7] - actual).mean()
    assert lstm_error < 0.5 * naive_error
    assert fc.validation_metrics_.loc["lstm", "MAE"] < fc.validation_metrics_.loc["naive", "MAE"]


def test_summary_puts_the_model_beside_the_baselines(sine_fit):
    _, fc = sine_fit
    text = fc.summary()
    for name in ("lstm", "naive", "seasonal_naive", "drift", "mean"):
        assert f"\n{name} " in text
    assert "season 12 inferred from the monthly index" in text
    assert ("beats every baseline" in text) or ("A baseline wins" in text)
    assert list(fc.validation_metrics_.index) == ["lstm", "naive", "seasonal_naive", "drift", "mean"]


def test_predict_a_shorter_horizon_and_refuse_a_longer_one(sine_fit):
    _, fc = sine_fit
    assert len(fc.predict(horizon=2)) == 2
    np.testing.assert_allclose(fc.predict(horizon=2)["forecast"], fc.predict()["forecast"][:2])
    with pytest.raises(ValueError, match="fit a Forecaster with horizon=7"):
        fc.predict(horizon=7)


@pytest.mark.parametrize("make, expected_index", [
    (lambda v: v, pd.RangeIndex(60, 63)),
    (lambda v: pd.Series(v), pd.RangeIndex(60, 63)),
    (lambda v: pd.Series(v, index=pd.period_range("2001-01", periods=60, freq="M")),
     pd.period_range("2006-01", periods=3, freq="M")),
])
def test_numpy_range_and_period_inputs(make, expected_index):
    values = np.sin(np.arange(60) / 3.0) + 5
    forecast = Forecaster(8, 3, units=4, epochs=2).fit(make(values)).predict()
    pd.testing.assert_index_equal(forecast.index, expected_index, check_names=False)
    assert list(forecast.columns) == ["forecast"]


def test_long_dataframe_trains_one_model_with_per_series_scalers():
    small, large = monthly_sine(60, amplitude=1, level=10), monthly_sine(60, amplitude=100, level=1000)
    frame = pd.concat([pd.DataFrame({"store": name, "month": s.index, "sales": s.to_numpy()})
                       for name, s in [("small", small), ("large", large)]])
    fc = Forecaster(12, 3, units=4, epochs=3, ensemble=1).fit(frame, id_col="store", time_col="month",
                                                               value_col="sales")
    assert len(fc.members_) == 1
    forecast = fc.predict()
    assert list(forecast.columns) == ["id", "forecast"]
    assert forecast["id"].tolist() == ["small"] * 3 + ["large"] * 3
    assert str(forecast.index[0].date()) == "2005-01-01"
    by_id = forecast.groupby("id")["forecast"].mean()
    assert 5 < by_id["small"] < 15 and 500 < by_id["large"] < 1500
    # Each scaler saw its own series' training part only.
    start = fc._validation_start(60)
    assert fc.scalers_["large"].target.data_max[0] == pytest.approx(large.iloc[:start].max())
    assert fc.scalers_["small"].target.data_min[0] == pytest.approx(small.iloc[:start].min())


def test_scaler_is_fitted_on_the_training_part_only():
    values = np.r_[np.linspace(0, 1, 50), np.full(10, 50.0)]  # a jump inside the validation tail
    fc = Forecaster(10, 2, units=4, epochs=2).fit(values)
    start = fc._validation_start(60)
    assert start <= 50
    assert fc.scalers_[None].target.data_max[0] == pytest.approx(values[:start].max())
    assert fc.scalers_[None].target.data_max[0] < 2


def test_no_training_window_reaches_its_forecast_origin(monkeypatch):
    """Values equal their time step, unscaled and not relative: each window shows its times."""
    seen = {}
    original_fit = Sequential.fit

    def spy(self, x, y=None, **kwargs):  # the Forecaster trains on WindowedSeries: look at every window
        seen["x"], seen["y"] = x.batch(np.arange(len(x)))
        validation = kwargs["validation_data"]
        seen["val"] = validation.batch(np.arange(len(validation)))
        return original_fit(self, x, y, **kwargs)

    monkeypatch.setattr(Sequential, "fit", spy)
    Forecaster(6, 3, units=4, epochs=1, scaler="none", relative=False).fit(np.arange(80.0))
    x, y = seen["x"][:, :, 0], seen["y"]
    x_val, y_val = seen["val"][0][:, :, 0], seen["val"][1]
    for inputs, targets in [(x, y), (x_val, y_val)]:
        np.testing.assert_array_equal(np.diff(inputs, axis=1), 1)        # consecutive past steps
        np.testing.assert_array_equal(targets[:, 0], inputs[:, -1] + 1)  # targets start at the origin
        assert (inputs.max(axis=1) < targets.min(axis=1)).all()
    # Training targets end before the validation tail's first target.
    assert y.max() < y_val.min()


def test_constant_series_gives_the_constant_and_zero_width_intervals():
    fc = Forecaster(6, 3, units=4, epochs=3, levels=(80,)).fit(np.full(40, 7.5))
    forecast = fc.predict()
    np.testing.assert_allclose(forecast["forecast"], 7.5, atol=1e-5)
    np.testing.assert_allclose(forecast["upper_80"] - forecast["lower_80"], 0, atol=1e-5)


def test_save_and_load_give_the_same_forecasts(tmp_path, sine_fit):
    _, fc = sine_fit
    path = tmp_path / "sine.lstmkit"
    fc.save(path)
    loaded = Forecaster.load(path)
    pd.testing.assert_frame_equal(loaded.predict(), fc.predict())
    assert loaded.get_config() == fc.get_config()
    config, tensors = read_model_file(path)  # plain safetensors + JSON: nothing to execute
    json.dumps(config)
    assert config["series"][0]["scalers"]["target"]["class_name"] == "MinMaxScaler"
    assert len(fc.members_) == 3 and config["ensemble_members"] == 3  # ensemble="auto" on a short series
    assert {name.split(".")[1] for name in tensors} == {"0", "1", "2"}
    assert [p.name for p in tmp_path.iterdir()] == ["sine.lstmkit"]


def test_loading_a_plain_model_file_says_what_it_is(tmp_path):
    model = Sequential([LSTM(2, input_shape=(3, 1)), Dense(1)])
    model.save(tmp_path / "plain.lstmkit")
    with pytest.raises(ValueError, match="not a Forecaster; load it with lstmkit.load_model"):
        Forecaster.load(tmp_path / "plain.lstmkit")


def test_model_escape_hatch_trains_copies_of_the_given_stack():
    custom = Sequential([LSTM(5, return_sequences=True), LSTM(3), Dense(4)])
    fc = Forecaster(8, 4, epochs=2, model=custom).fit(np.sin(np.arange(60) / 2))
    assert [type(layer).__name__ for layer in fc.members_[0].layers] == ["LSTM", "LSTM", "Dense"]
    assert fc.members_[0] is not custom and fc.members_[0].built_input_shape == (8, 1)
    assert len(fc.predict()) == 4


@pytest.mark.parametrize("model, wording", [
    (Sequential([LSTM(3), Dense(5)]), r"needs \(4,\): end it with Dense\(4\)"),
    (Sequential([LSTM(3, input_shape=(9, 1)), Dense(4)]), r"build it with input_shape=\(8, 1\)"),
])
def test_model_escape_hatch_shape_errors(model, wording):
    with pytest.raises(ValueError, match=wording):
        Forecaster(8, 4, epochs=1, model=model).fit(np.sin(np.arange(60) / 2))


def test_ensemble_is_the_median_of_its_members():
    series = monthly_sine(60)
    fc = Forecaster(12, 3, units=4, epochs=3, ensemble=3).fit(series)
    assert len(fc.members_) == 3 and fc.best_epochs_ and len(fc.histories_) == 3
    members = fc.members_
    singles = []
    for member in members:
        fc.members_ = [member]
        singles.append(fc.predict()["forecast"].to_numpy())
    fc.members_ = members
    np.testing.assert_allclose(fc.predict()["forecast"], np.median(singles, axis=0), rtol=1e-6)
    assert not np.allclose(singles[0], singles[1])  # different seeds


def test_recursive_strategy_feeds_back_one_step_predictions(sine_fit):
    series, _ = sine_fit
    fc = Forecaster(24, 6, strategy="recursive", **FAST).fit(series.iloc[:-6])
    assert fc.members_[0].output_shape == (1,)
    forecast = fc.predict()["forecast"].to_numpy()
    actual = series.to_numpy()[-6:]
    assert np.abs(forecast - actual).mean() < 0.5 * np.abs(series.to_numpy()[-7] - actual).mean()


def test_training_is_repeatable_with_a_seed():
    values = np.sin(np.arange(50) / 2)
    first = Forecaster(6, 2, units=4, epochs=3, seed=3).fit(values).predict()
    second = Forecaster(6, 2, units=4, epochs=3, seed=3).fit(values).predict()
    pd.testing.assert_frame_equal(first, second)


# -- errors --------------------------------------------------------------------------------------
def _long(values_by_id, times=None):
    rows = []
    for series_id, values in values_by_id.items():
        index = times if times is not None else pd.date_range("2020-01-01", periods=len(values), freq="D")
        rows.append(pd.DataFrame({"id": series_id, "t": index[: len(values)], "y": values}))
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize("data, kwargs, error, wording", [
    (np.arange(10.0), {}, ValueError, r"the series has 10 points but lookback=8 and horizon=4 need at least 12\. "
                                      r"Pass a longer series or reduce `lookback`"),
    (_long({"a": np.arange(10.0), "b": np.arange(9.0)}), dict(id_col="id", time_col="t", value_col="y"),
     ValueError, r"series 'a' has 10 points .* reduce `lookback`"),  # short series train only beside a long one
    (pd.Series(np.arange(30.0), index=pd.date_range("2020", periods=30, freq="D")[::-1]), {}, ValueError,
     r"not sorted by time .*sort_index\(\)"),
    (_long({"a": np.arange(30.0)}, times=pd.DatetimeIndex(["2020-01-01"] * 2).append(
        pd.date_range("2020-01-02", periods=28))), dict(id_col="id", time_col="t", value_col="y"),
     ValueError, r"series 'a' has duplicate timestamps \(first: 2020-01-01"),
    (pd.Series(["1"] * 30), {}, TypeError, r"the values must be numbers; got dtype .*pd.to_numeric"),
    (np.zeros((30, 2)), {}, ValueError, r"must be 1-D .* long DataFrame"),
    (pd.DataFrame({"a": np.arange(30.0), "b": np.arange(30.0)}), {}, ValueError, r"pass value_col="),
    ("text", {}, TypeError, r"`data` must be a pandas Series"),
    (pd.Series(np.arange(30.0), index=np.linspace(0, 1, 30)), {}, TypeError, r"index of dtype float64"),
    (np.arange(14.0), {}, ValueError, r"has 14 points .* need at least 17 with a validation tail .*validation_split=0"),
])
def test_bad_data_errors_name_the_series_and_the_fix(data, kwargs, error, wording):
    with pytest.raises(error, match=wording):
        Forecaster(8, 4, epochs=1).fit(data, **kwargs)


@pytest.mark.parametrize("kwargs, wording", [
    (dict(scaler="robust"), r"unknown scaler 'robust'; expected one of 'minmax', 'none', 'standard'\."),
    (dict(strategy="mimo"), r"unknown strategy 'mimo'; expected one of 'direct', 'recursive', 'seq2seq'"),
    (dict(lookback=0), r"`lookback` must be an integer >= 1; got 0"),
    (dict(levels=(80, 120)), r"`levels` must be whole percents between 1 and 99"),
    (dict(missing="zero"), r"unknown missing 'zero'; did you mean 'error' or 'drop'\? expected one of 'drop', 'error'"),
    (dict(validation_split=1.0), r"`validation_split` must be a fraction in \[0, 1\)"),
    (dict(model="lstm"), r"`model` must be an lstmkit Sequential"),
])
def test_bad_arguments_are_refused_before_any_work(kwargs, wording):
    arguments = {"lookback": 8, "horizon": 4, **kwargs}
    with pytest.raises((ValueError, TypeError), match=wording):
        Forecaster(**arguments)


def test_predict_before_fit():
    with pytest.raises(ValueError, match=r"predict\(\) needs a fitted Forecaster: call fit\(data\) first"):
        Forecaster(8, 4).predict()


# -- missing values --------------------------------------------------------------------------------
def gappy_daily(n=60):
    series = pd.Series(np.sin(np.arange(n) / 3) + 3, index=pd.date_range("2021-01-01", periods=n, freq="D"))
    series.iloc[20] = np.nan
    return series.drop(series.index[[30, 31]])  # two absent days


def test_missing_values_are_interpolated_with_a_warning_that_counts_them():
    with pytest.warns(UserWarning, match=r"filled 3 missing point\(s\) by linear interpolation \(the series: 3 "
                                         r"\(2 absent timestamps, 1 NaN\)\)"):
        fc = Forecaster(7, 2, units=4, epochs=2).fit(gappy_daily())
    assert fc.predict().index[0] == pd.Timestamp("2021-03-02")
    assert fc.season_ == 7  # the daily step was found despite the gaps


def test_missing_error_policy_names_the_first_gap():
    with pytest.raises(ValueError, match=r"the series has 3 missing value\(s\) .*first at 2021-01-21.*"
                                         r"missing='interpolate'"):
        Forecaster(7, 2, missing="error").fit(gappy_daily())


def test_missing_drop_skips_windows_that_touch_a_gap(monkeypatch):
    seen = {}
    original_fit = Sequential.fit

    def spy(self, x, y=None, **kwargs):  # the Forecaster trains on WindowedSeries: look at every window
        seen["x"] = x.batch(np.arange(len(x)))[0]
        return original_fit(self, x, y, **kwargs)

    monkeypatch.setattr(Sequential, "fit", spy)
    values = np.arange(60.0)
    values[20] = np.nan
    fc = Forecaster(5, 2, units=4, epochs=1, missing="drop", scaler="none", relative=False,
                    validation_split=0).fit(values)
    x = seen["x"][:, :, 0]
    # Windows over 0..59 with targets: 54; the 5 + 2 = 7 whose input or target holds point 20 are gone.
    assert len(x) == 54 - 7 and not np.isnan(x).any()
    assert not ((x <= 20) & (x + 6 >= 20)).all(axis=1).any()
    assert len(fc.predict()) == 2


@pytest.mark.parametrize("freq, season, words", [
    ("MS", 12, "monthly"), ("D", 7, "daily"), ("QS", 4, "quarterly"), ("h", 24, "hourly"),
    ("W-SUN", 52, "weekly"), ("YS", 1, "yearly data has no seasonal period"), ("B", 5, "business-daily"),
])
def test_season_is_inferred_from_the_frequency(freq, season, words):
    value, note = infer_season(pd.date_range("2020-01-01", periods=5, freq=freq))
    assert value == season and words in note


def test_season_without_time_index_says_so():
    assert infer_season(pd.RangeIndex(5)) == (1, "no time index, so no seasonal period: seasonal naive is the "
                                                 "same as naive (pass season= to set one)")
    assert infer_season(pd.RangeIndex(5), season=4) == (4, "season 4 (given)")


@pytest.mark.parametrize("index", [
    pd.period_range("2001Q1", periods=40, freq="Q"),
    pd.date_range("2020-01-01", periods=40, freq="h", tz="Europe/Paris"),
    pd.RangeIndex(100, 300, 5),
])
def test_save_and_load_keep_every_kind_of_time_index(index, tmp_path):
    series = pd.Series(np.sin(np.arange(40) / 3) + 5, index=index)
    fc = Forecaster(6, 2, units=4, epochs=2).fit(series)
    fc.save(tmp_path / "f.lstmkit")
    pd.testing.assert_frame_equal(Forecaster.load(tmp_path / "f.lstmkit").predict(), fc.predict())


def test_predict_from_new_history_with_the_fitted_model(sine_fit):
    series, fc = sine_fit
    forecast = fc.predict(data=series)  # six more months than fit saw
    assert str(forecast.index[0].date()) == "2010-01-01"
    actual = series.to_numpy()[:6]  # the sine's next cycle
    assert np.abs(forecast["forecast"] - actual).mean() < 0.6 * np.abs(series.iloc[-1] - actual).mean()


def test_validation_scoring_in_chunks_gives_the_same_table(monkeypatch):
    import lstmkit.forecast.forecaster as forecaster_module

    t = np.arange(160)
    series = pd.Series(10 + np.sin(2 * np.pi * t / 12) + 0.01 * t, index=pd.date_range("2000-01", periods=160, freq="MS"))
    whole = Forecaster(24, 6, units=4, epochs=3, levels=(80,)).fit(series)
    monkeypatch.setattr(forecaster_module, "_SCORE_CHUNK", 5)
    chunked = Forecaster(24, 6, units=4, epochs=3, levels=(80,)).fit(series)
    pd.testing.assert_frame_equal(whole.validation_, chunked.validation_)
    np.testing.assert_array_equal(whole.quantiles_[80], chunked.quantiles_[80])
    assert whole.calibration_size_ > 5  # more origins than one chunk


def test_load_model_on_a_forecaster_file_points_to_forecaster_load(tmp_path):
    from lstmkit import load_model

    series = pd.Series(np.sin(np.arange(60) / 4) + 5)
    Forecaster(8, 2, units=2, epochs=1).fit(series).save(tmp_path / "f.lstmkit")
    with pytest.raises(ValueError, match=r"holds a Forecaster.*Forecaster.load"):
        load_model(tmp_path / "f.lstmkit")
