"""AutoETS, AutoARIMA and Theta (statsforecast, the [stats] extra) beside the LSTM."""

import sys

import numpy as np
import pandas as pd
import pytest

from lstmkit.forecast import Forecaster
from lstmkit.forecast.statistical import STATISTICAL_NAMES, StatisticalModels

FAST = dict(units=4, epochs=3, batch_size=32, patience=2)


def _seasonal(n, season, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 50 + 0.05 * t + 5 * np.sin(2 * np.pi * t / season) + rng.normal(0, 0.2, n)


@pytest.mark.parametrize("season", [4, 52])  # 52: ETS and ARIMA on the seasonally adjusted history
def test_statistical_models_follow_a_seasonal_series(season):
    values = _seasonal(6 * season, season)
    history, actual = values[:-season], values[-season:]
    models = StatisticalModels(season)
    forecasts = models.forecasts(history, season)
    naive_error = np.abs(actual - history[-1]).mean()
    for name in STATISTICAL_NAMES:
        assert np.abs(forecasts[name] - actual).mean() < 0.3 * naive_error, name
    assert models.fallbacks == {"auto_ets": 0, "auto_arima": 0, "theta": 0}


def test_a_series_too_short_for_a_model_gets_the_naive_forecast_in_its_place():
    models = StatisticalModels(1)
    forecasts = models.forecasts([4.0, 7.0], 3)
    np.testing.assert_allclose(forecasts["theta"], [7.0, 7.0, 7.0])
    assert models.fallbacks["theta"] == 1 and models.fallbacks["auto_ets"] == 1


def test_summary_and_backtest_score_them_beside_the_lstm(tmp_path):
    series = pd.Series(_seasonal(64, 4), index=pd.date_range("2000-01", periods=64, freq="QS"))
    fc = Forecaster(8, 4, statistical=True, seed=0, **FAST).fit(series)
    table = fc.comparison_metrics_
    assert list(table.index) == ["lstm", "naive", "seasonal_naive", "drift", "mean", *STATISTICAL_NAMES]
    assert table.loc["auto_ets", "MASE"] < table.loc["naive", "MASE"]
    text = fc.summary()
    assert "Beside AutoETS, AutoARIMA and Theta (statsforecast) at 3 origin(s) of the validation tail" in text
    assert "auto_arima" in text
    fc.save(tmp_path / "fc.lstmkit")
    pd.testing.assert_frame_equal(Forecaster.load(tmp_path / "fc.lstmkit").comparison_metrics_, table)
    result = fc.backtest(series, start=60, stride=4)
    assert list(result.metrics.index) == ["lstm", "naive", "seasonal_naive", "drift", "mean", *STATISTICAL_NAMES]
    rows = result.forecasts[result.forecasts["model"] == "theta"]
    assert len(rows) == 4 and np.isfinite(rows["forecast"]).all()


def test_without_the_extra_the_message_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "statsforecast", None)  # import statsforecast now fails
    with pytest.raises(ValueError, match=r'statistical=True needs statsforecast.*pip install "lstmkit\[stats\]"'):
        Forecaster(12, 6, statistical=True)
    series = np.sin(np.arange(60) / 3)
    text = Forecaster(12, 6, seed=0, **FAST).fit(series).summary()
    assert 'Forecaster(statistical=True) scores them beside the model (pip install "lstmkit[stats]")' in text
