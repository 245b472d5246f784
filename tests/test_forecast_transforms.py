"""The log transform, chosen on the training part when a series' spread grows with its level."""

import numpy as np
import pandas as pd
import pytest

from lstmkit.data import MinMaxScaler
from lstmkit.forecast import Forecaster
from lstmkit.forecast.series import read_series
from lstmkit.forecast.transforms import LogScaler, choose_transform, spread_slope
from lstmkit.forecast.windows import Scalers, fit_scalers, scale_target, unscale_target


def _multiplicative(n=120, season=12):
    t = np.arange(n)
    return 100 * np.exp(0.02 * t) * (1 + 0.3 * np.sin(2 * np.pi * t / season))


def test_the_range_mean_test_tells_multiplicative_from_additive_seasons():
    t = np.arange(120)
    additive = 100 + 2 * t + 30 * np.sin(2 * np.pi * t / 12)
    assert spread_slope(_multiplicative(), 12) == pytest.approx(1.0, abs=0.1)
    assert abs(spread_slope(additive, 12)) < 0.2
    assert choose_transform("auto", _multiplicative(), 12) == "log"
    assert choose_transform("auto", additive, 12) == "none"
    assert choose_transform("auto", additive - 500, 12) == "none"  # not positive: never log
    with pytest.raises(ValueError, match=r"transform='log' needs positive values; .* Use transform='auto'"):
        choose_transform("log", additive - 500, 12)


def test_log_scaler_round_trips_and_saves_its_state():
    values = _multiplicative()
    item = read_series(values)[0][0]
    scalers = fit_scalers("minmax", item, 100, "auto", 12)
    assert scalers.logged
    scaled = scale_target(scalers, values)
    assert scaled[:100].min() == pytest.approx(0.0) and scaled[:100].max() == pytest.approx(1.0)
    np.testing.assert_allclose(unscale_target(scalers, scaled), values)
    again = Scalers.from_state(scalers.state())
    assert isinstance(again.target, LogScaler) and isinstance(again.target.inner, MinMaxScaler)
    np.testing.assert_allclose(scale_target(again, values), scaled)


def test_auto_takes_the_log_of_a_multiplicative_series_and_says_so():
    series = pd.Series(_multiplicative(), index=pd.date_range("2000-01", periods=120, freq="MS"))
    fc = Forecaster(24, 12, units=8, epochs=15, batch_size=32, seed=0).fit(series)
    assert fc.scalers_[None].logged
    assert "Transform (auto, on each training part): log on 1 of 1 series" in fc.summary()
    forecast = fc.predict()["forecast"].to_numpy()
    assert (forecast > 0).all()
    plain = Forecaster(24, 12, units=8, epochs=15, batch_size=32, seed=0, transform="none").fit(series)
    assert not plain.scalers_[None].logged and "Transform: none." in plain.summary()
    assert fc.validation_metrics_.loc["lstm", "MASE"] < plain.validation_metrics_.loc["lstm", "MASE"]
