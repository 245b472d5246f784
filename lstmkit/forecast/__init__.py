"""Forecasting done right by default: the Forecaster, baselines, metrics, backtests, intervals.

    from lstmkit.forecast import Forecaster
    fc = Forecaster(lookback=36, horizon=12, levels=(80, 95)).fit(series)
    fc.predict()                      # forecast, lower_80, upper_80, lower_95, upper_95
    result = fc.backtest(series)      # rolling origins; result.metrics: the model beside the baselines

Importing this package imports pandas; `import lstmkit` does not import it.
"""

from lstmkit.forecast.backtest import BacktestResult, backtest
from lstmkit.forecast.baselines import all_baselines, drift, mean, naive, seasonal_naive
from lstmkit.forecast.forecaster import Forecaster, suggest_lookback
from lstmkit.forecast.intervals import conformal_quantiles
from lstmkit.forecast.metrics import coverage, interval_width, mae, mape, mase, rmse, score_table, smape
from lstmkit.forecast.series import infer_season

__all__ = [
    "Forecaster", "suggest_lookback", "backtest", "BacktestResult",
    "naive", "seasonal_naive", "drift", "mean", "all_baselines",
    "mae", "rmse", "mape", "smape", "mase", "coverage", "interval_width", "score_table",
    "conformal_quantiles", "infer_season",
]
