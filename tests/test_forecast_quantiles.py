"""Forecaster(quantiles=...): a pinball-loss head whose 0.1-0.9 band covers about 80% of new values,
reported by backtest(), saved and loaded with the forecaster."""

import numpy as np
import pandas as pd
import pytest

from lstmkit.forecast import Forecaster
from lstmkit.forecast.quantiles import QuantileHead, check_quantiles


def _noisy_sine(n=300, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return pd.Series(10 + 3 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1, n))


def test_quantiles_are_checked():
    assert check_quantiles([0.9, 0.1, 0.5]) == (0.1, 0.5, 0.9) and check_quantiles(None) == ()
    for bad in ((0.1, 1.0), (0,), ("a",), (True, 0.5)):
        with pytest.raises(ValueError, match="strictly between 0 and 1"):
            Forecaster(12, 3, quantiles=bad)
    with pytest.raises(ValueError, match="strategy='direct'"):
        Forecaster(12, 3, quantiles=(0.1, 0.9), strategy="recursive")


def test_the_head_learns_the_quantiles_of_noise():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 3))
    y = (x @ np.array([1.0, -2.0, 0.5]))[:, None] + rng.normal(0, 1, (2000, 1))  # H = 1
    head = QuantileHead((0.1, 0.5, 0.9), units=3, horizon=1).fit((x[:1500], y[:1500]), (x[1500:], y[1500:]), 0)
    q = head.predict(x[1500:])[:, 0]
    below = (y[1500:] < q).mean(axis=0)
    np.testing.assert_allclose(below, [0.1, 0.5, 0.9], atol=0.05)
    np.testing.assert_allclose(q[:, 2] - q[:, 0], 2 * 1.2816, rtol=0.15)  # the normal's 10-90% width
    head.calibrate(np.arange(-5.0, 5.0)[:, None])  # conformity scores of 10 tail forecasts: the 9th smallest
    np.testing.assert_allclose(head.widen, [3.0])
    np.testing.assert_allclose(head.predict(x[1500:1501])[0, 0, [0, 2]], q[0, [0, 2]] + [-3.0, 3.0])


def test_quantile_band_covers_about_80_percent_in_a_backtest(tmp_path):
    series = _noisy_sine()
    fc = Forecaster(24, 6, units=8, epochs=20, season=12, seed=0, quantiles=(0.1, 0.5, 0.9)).fit(series.iloc[:-100])
    forecast = fc.predict()
    assert list(forecast.columns) == ["forecast", "q_0.1", "q_0.5", "q_0.9"]
    assert (forecast["q_0.1"] < forecast["q_0.5"]).all() and (forecast["q_0.5"] < forecast["q_0.9"]).all()
    assert "Quantiles 0.1, 0.5, 0.9: a pinball-loss head" in fc.summary()
    result = fc.backtest(series, start=-100, stride=1, refit=0)  # fitted once, 95 origins after its data
    coverage = result.metrics.loc["lstm", "coverage_q10-q90"]
    assert 0.72 <= coverage <= 0.88, coverage
    assert np.isnan(result.metrics.loc["seasonal_naive", "coverage_q10-q90"])
    fc.save(tmp_path / "q.lstmkit")
    loaded = Forecaster.load(tmp_path / "q.lstmkit")
    pd.testing.assert_frame_equal(loaded.predict(), forecast)
    assert loaded.summary() == fc.summary()
