"""Calendar features (lstmkit.forecast.calendar): the time of day, week and year reach the network
for cycles longer than the lookback that the training part shows."""

import numpy as np
import pandas as pd
import pytest

from lstmkit.forecast import Forecaster
from lstmkit.forecast.calendar import check_calendar, choose, feature_names, features, strength
from lstmkit.saving import read_model_file, write_model_file

RNG = np.random.default_rng(0)


def _daily_with_year(days=3 * 365, noise=1.0):
    index = pd.date_range("2012-01-01", periods=days, freq="D")
    phase = 2 * np.pi * index.day_of_year.to_numpy() / 365.25
    return pd.Series(15 - 8 * np.cos(phase) + noise * RNG.standard_normal(days), index=index)


def _weekdays(days=280, noise=0.3):
    """10 on working days, 2 at weekends: a weekly cycle a three-day window cannot place."""
    index = pd.date_range("2021-01-04", periods=days, freq="D")
    level = np.where(index.day_of_week.to_numpy() < 5, 10.0, 2.0)
    return pd.Series(level + noise * RNG.standard_normal(days), index=index)


def test_features_are_fourier_terms_of_the_phase_in_each_cycle():
    times = pd.date_range("2021-03-01", periods=24 * 14, freq="h")
    values = features(times, ("day", "week", "year"))
    assert values.shape == (len(times), 2 * (3 + 3 + 2))
    assert feature_names(("week",)) == ["week_sin1", "week_cos1", "week_sin2", "week_cos2", "week_sin3", "week_cos3"]
    day, week = values[:, :6], values[:, 6:12]
    np.testing.assert_allclose(day[24:], day[:-24], atol=1e-9)  # a day later: the same time of day
    np.testing.assert_allclose(week[168:], week[:-168], atol=1e-9)  # a week later: the same time of week
    np.testing.assert_allclose(day[12, :2], -day[0, :2], atol=1e-9)  # half a day on: first harmonic negated
    np.testing.assert_allclose(values[:, 0] ** 2 + values[:, 1] ** 2, 1.0)
    year = features(pd.DatetimeIndex(["2019-07-01", "2020-07-01", "2020-01-01"]), ("year",))
    np.testing.assert_allclose(year[0], year[1], atol=0.02)  # 1 July: day 182 of 365 or 183 of 366
    assert np.abs(year[1, :2] + year[2, :2]).max() < 0.03  # half a year apart: the first harmonic negated
    np.testing.assert_allclose(features(pd.DatetimeIndex(["2021-01-01 12:00"]), ("day", "year"))[0, [0, 1, 6, 7]],
                               [0.0, -1.0, np.sin(np.pi / 365), np.cos(np.pi / 365)], atol=1e-9)  # noon, day 0.5
    periods = features(pd.period_range("2020-01", periods=3, freq="M"), ("year",))
    np.testing.assert_allclose(periods, features(pd.date_range("2020-01-01", periods=3, freq="MS"), ("year",)))


def test_strength_tells_a_cycle_from_noise_and_from_a_trend():
    daily = _daily_with_year()
    assert strength(daily.to_numpy(), daily.index, "year") > 0.7
    assert strength(daily.to_numpy(), daily.index, "week") < 0.1  # no weekly cycle in it
    walk = pd.Series(np.cumsum(RNG.standard_normal(3 * 365)), index=daily.index)
    assert strength(walk.to_numpy(), walk.index, "year") < 0.5
    weekdays = _weekdays()
    assert strength(weekdays.to_numpy(), weekdays.index, "week") > 0.9
    assert strength(daily.to_numpy()[:500], daily.index[:500], "year") == 0.0  # under two years: not judged
    hourly = pd.date_range("2021-01-04", periods=24 * 28, freq="h")
    shape = np.where(hourly.day_of_week < 5, 5.0, 0.0) + 3 * np.sin(2 * np.pi * hourly.hour.to_numpy() / 24)
    assert strength(shape, hourly, "week") > 0.9  # judged on daily means: the time of day does not hide it
    assert strength(shape, hourly, "day") > 0.5


def test_auto_adds_the_cycles_longer_than_the_lookback_that_the_training_part_shows():
    daily = _daily_with_year()
    part = [(daily.to_numpy(), daily.index)]
    assert choose("auto", part, 28, 14).cycles == ("year",)
    assert "time-of-year features added" in choose("auto", part, 28, 14).note
    assert choose("auto", part, 400, 14).cycles == ()  # the window holds a whole year
    assert choose("auto", part, 7, 14).cycles == ()  # covariates need lookback >= horizon
    assert "would need lookback >= horizon" in choose("auto", part, 7, 14).note
    assert choose("none", part, 28, 14).cycles == ()
    assert choose(("week",), part, 28, 14).cycles == ("week",)  # asked for: added, shown or not
    plain = [(daily.to_numpy(), pd.RangeIndex(len(daily)))]
    assert choose("auto", plain, 28, 14).cycles == ()
    with pytest.raises(ValueError, match="needs a time index"):
        choose(("year",), plain, 28, 14)
    with pytest.raises(ValueError, match="need lookback >= horizon"):
        choose(("year",), part, 7, 14)
    noise = pd.Series(RNG.standard_normal(len(daily)), index=daily.index)
    mixed = [part[0], (noise.to_numpy(), noise.index), (noise.to_numpy()[::-1], noise.index)]
    assert choose("auto", mixed, 28, 14).cycles == ()  # one of three series shows it: not added
    assert choose("auto", mixed[:2], 28, 14).cycles == ("year",)  # one of two: added
    with pytest.raises(ValueError, match="unknown cycle"):
        check_calendar(["month"])
    with pytest.raises(ValueError, match="'auto', 'none' or a list"):
        Forecaster(7, 3, calendar="yes")


FAST = dict(units=16, epochs=60, patience=10, seasonal="none", seed=0)


@pytest.fixture(scope="module")
def weekday_fit():
    series = _weekdays()
    return series, Forecaster(3, 3, **FAST).fit(series.iloc[:-3])


def test_the_time_of_week_tells_a_short_window_when_the_weekend_comes(weekday_fit):
    series, fc = weekday_fit
    assert fc.calendar_ == ("week",) and fc.members_[0].built_input_shape == (3, 7)
    assert "Calendar: time-of-week features added" in fc.summary()
    truth = series.to_numpy()[-3:]  # Friday, Saturday, Sunday: 10, 2, 2
    with_calendar = np.abs(fc.predict()["forecast"].to_numpy() - truth).mean()
    without = Forecaster(3, 3, calendar="none", **FAST).fit(series.iloc[:-3])
    assert without.calendar_ == () and without.members_[0].built_input_shape == (3, 1)
    assert with_calendar < 0.6 < np.abs(without.predict()["forecast"].to_numpy() - truth).mean()
    moved = fc.predict(data=series.iloc[:-4])["forecast"].to_numpy()  # from Thursday: Fri 10, Sat 2, Sun 2
    assert np.abs(moved - series.to_numpy()[-4:-1]).mean() < 0.6


def test_calendar_features_sit_beside_the_user_s_future_covariates():
    series = _weekdays(196)
    promo = pd.DataFrame({"promo": (np.arange(len(series) + 3) % 5 == 0) * 1.0},
                         index=pd.date_range(series.index[0], periods=len(series) + 3, freq="D"))
    fc = Forecaster(7, 3, calendar=["week"], units=4, epochs=3, seed=0)
    fc.fit(series, future_covariates=promo)
    assert fc.members_[0].built_input_shape == (7, 1 + 1 + 6)
    assert fc.future_names_ == ["promo"] and fc.tails_[0].future.shape[1] == 1  # the user's columns, as given
    late = Forecaster(7, 3, calendar=["week"], units=4, epochs=3, seed=0).fit(series, future_covariates=promo.iloc[
        : len(series)])
    np.testing.assert_allclose(late.predict(future_covariates=promo.iloc[len(series):])["forecast"],
                               fc.predict()["forecast"], rtol=1e-6)


def test_saved_exported_and_older_files_keep_their_features(tmp_path, weekday_fit):
    import onnxruntime

    series, fc = weekday_fit
    path = tmp_path / "calendar.lstmkit"
    fc.save(path)
    loaded = Forecaster.load(path)
    assert loaded.calendar_ == ("week",) and loaded.calendar_note_ == fc.calendar_note_
    pd.testing.assert_frame_equal(loaded.predict(), fc.predict())

    fc.export_onnx(tmp_path / "calendar.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "calendar.onnx"), providers=["CPUExecutionProvider"])
    history = series.iloc[:-3]
    ahead = pd.date_range(history.index[-3], periods=6, freq="D")[3:]  # each row: its time + horizon
    window = np.hstack([history.to_numpy()[-3:, None], features(ahead, ("week",))]).astype(np.float32)[None]
    np.testing.assert_allclose(session.run(None, {"x": window})[0][0], fc.predict()["forecast"], rtol=1e-4)

    config, tensors = read_model_file(path)
    for entry in config["series"]:
        entry["index"] = {"kind": "range", "last": 99, "step": 1}
    write_model_file(tmp_path / "dateless.lstmkit", config, tensors)
    with pytest.raises(ValueError, match="config.calendar"):
        Forecaster.load(tmp_path / "dateless.lstmkit")

    none = Forecaster(3, 3, calendar="none", units=4, epochs=2, seed=0).fit(series)
    none.save(tmp_path / "none.lstmkit")
    config, tensors = read_model_file(tmp_path / "none.lstmkit")
    del config["forecaster"]["calendar"], config["calendar"], config["calendar_note"]  # a file from before
    write_model_file(tmp_path / "older.lstmkit", config, tensors)
    older = Forecaster.load(tmp_path / "older.lstmkit")
    assert older.calendar == "none" and older.calendar_ == ()
    pd.testing.assert_frame_equal(older.predict(), none.predict())


def test_backtests_refit_with_the_calendar():
    series = _weekdays(140)
    result = Forecaster(3, 3, **{**FAST, "epochs": 5}).backtest(series, start=120, stride=3)
    rows = result.forecasts[result.forecasts["model"] == "lstm"]
    assert len(rows) == 3 * len(rows["origin"].unique()) and rows["forecast"].notna().all()


def test_a_large_collection_is_judged_on_an_even_sample_of_its_series():
    daily = _daily_with_year()
    noise = pd.Series(RNG.standard_normal(len(daily)), index=daily.index)
    parts = [(daily.to_numpy(), daily.index), (noise.to_numpy(), noise.index), (noise.to_numpy(), noise.index)] * 200
    # 600 series, a third of them yearly: the vote of all would add nothing, but every third is judged
    assert choose("auto", parts, 28, 14).cycles == ("year",)  # the sample: the 200 yearly ones
    assert choose("auto", parts[1:], 28, 14).cycles == ()  # the sample: 200 noisy ones
    assert choose("auto", parts[:200], 28, 14).cycles == ()  # 200 or fewer: every one judged, a third yearly


@pytest.mark.parametrize("strategy", ["recursive", "seq2seq"])
def test_every_strategy_reads_the_calendar(strategy, weekday_fit):
    series, _ = weekday_fit
    fc = Forecaster(3, 3, strategy=strategy, **FAST).fit(series.iloc[:-3])  # recursive: each step's own time
    assert fc.calendar_ == ("week",)
    assert np.abs(fc.predict()["forecast"].to_numpy() - series.to_numpy()[-3:]).mean() < 0.6
