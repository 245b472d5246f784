"""Missing values at the start or end of a series follow `missing=` as inner gaps do, and the
forecast never starts inside the data without saying so; empty series are clean errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lstmkit.forecast import Forecaster


def _series(length=60) -> pd.Series:
    return pd.Series(np.sin(np.arange(length) / 3.0) + 2, index=pd.date_range("2022-01-01", periods=length, freq="D"))


def _forecaster(**kwargs) -> Forecaster:
    return Forecaster(lookback=6, horizon=3, units=4, epochs=2, validation_split=0.0, seed=0, **kwargs)


def test_trailing_nans_are_refused_with_missing_error():
    series = _series()
    series.iloc[-3:] = np.nan
    with pytest.raises(ValueError, match=r"the series has 3 missing point\(s\) at its end \(2022-02-27 to 2022-03-01\):"
                                         r" a forecast from it would start inside the data"):
        _forecaster(missing="error").fit(series)


def test_leading_nans_are_refused_with_missing_error():
    series = _series()
    series.iloc[:2] = np.nan
    with pytest.raises(ValueError, match=r"2 missing point\(s\) at its start \(2022-01-01 to 2022-01-02\)"):
        _forecaster(missing="error").fit(series)


@pytest.mark.parametrize("missing", ["drop", "interpolate"])
def test_trailing_nans_dropped_with_a_warning_that_the_origin_moved(missing):
    series = _series()
    series.iloc[-3:] = np.nan
    with pytest.warns(UserWarning, match=r"dropped 3 missing point\(s\) at its end.*The forecast origin moved to "
                                         r"2022-02-26 \(the last value\): forecasts start at 2022-02-27, inside"):
        forecaster = _forecaster(missing=missing).fit(series)
    times = forecaster.predict().index
    assert times[0] == pd.Timestamp("2022-02-27") > series.dropna().index[-1]  # after the last value, as warned
    assert list(times) == list(pd.date_range("2022-02-27", periods=3, freq="D"))


def test_a_series_without_missing_ends_forecasts_right_after_its_end():
    forecaster = _forecaster(missing="error").fit(_series())
    assert forecaster.predict().index[0] == pd.Timestamp("2022-03-02")


def test_predict_on_new_data_with_trailing_nans_follows_missing_too():
    forecaster = _forecaster(missing="error").fit(_series())
    history = _series(40)
    history.iloc[-1] = np.nan
    with pytest.raises(ValueError, match=r"1 missing point\(s\) at its end"):
        forecaster.predict(data=history)


@pytest.mark.parametrize("data", [pd.Series([], dtype=float), np.array([], dtype=float),
                                  pd.Series([], dtype=float, index=pd.DatetimeIndex([]))])
def test_empty_series_is_a_clean_error(data):
    with pytest.raises(ValueError, match=r"the series is empty: it has no points"):
        _forecaster().fit(data)


def test_empty_long_dataframe_is_a_clean_error():
    frame = pd.DataFrame({"id": [], "time": pd.to_datetime([]), "y": []})
    with pytest.raises(ValueError, match=r"`data` holds no rows"):
        _forecaster().fit(frame, id_col="id", time_col="time", value_col="y")
