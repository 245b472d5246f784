"""Forecast accuracy: MAE, RMSE, MAPE, sMAPE, MASE, interval coverage and width, and the
score table that puts a model beside its baselines.

Every function takes actual and forecast values in the series' own units. MASE divides by the
in-sample MAE of the seasonal naive forecast on the history the forecast was made from, so
MASE < 1 means "better than last season's value, as measured on the training part".
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

from lstmkit.forecast.statistical import STATISTICAL_NAMES

BASELINE_NAMES = ("naive", "seasonal_naive", "drift", "mean")
REFERENCE_NAMES = (*BASELINE_NAMES, *STATISTICAL_NAMES)  # what a model is judged against


def _pair(actual: Any, forecast: Any) -> tuple[np.ndarray, np.ndarray]:
    actual = np.asarray(actual, dtype=np.float64)
    forecast = np.asarray(forecast, dtype=np.float64)
    if actual.shape != forecast.shape:
        raise ValueError(f"`actual` has shape {actual.shape} but `forecast` has {forecast.shape}; they must match.")
    keep = ~np.isnan(actual)
    return actual[keep], forecast[keep]


def mae(actual: Any, forecast: Any) -> float:
    """Mean absolute error."""
    actual, forecast = _pair(actual, forecast)
    return float(np.mean(np.abs(actual - forecast)))


def rmse(actual: Any, forecast: Any) -> float:
    """Root mean squared error."""
    actual, forecast = _pair(actual, forecast)
    return float(np.sqrt(np.mean((actual - forecast) ** 2)))


def mape(actual: Any, forecast: Any) -> float:
    """Mean absolute percentage error, in percent; NaN when an actual value is 0."""
    actual, forecast = _pair(actual, forecast)
    if np.any(actual == 0):
        return float("nan")
    return float(100 * np.mean(np.abs((actual - forecast) / actual)))


def smape(actual: Any, forecast: Any) -> float:
    """Symmetric MAPE in percent (0..200): 200·|a - f| / (|a| + |f|), 0 where both are 0."""
    actual, forecast = _pair(actual, forecast)
    denominator = np.abs(actual) + np.abs(forecast)
    ratio = np.divide(np.abs(actual - forecast), denominator, out=np.zeros_like(denominator),
                      where=denominator > 0)
    return float(200 * np.mean(ratio))


def mase_scale(history: Any, season: int = 1) -> float:
    """MASE's denominator: mean |y_t - y_{t-season}| over `history` (season 1 when too short)."""
    history = np.asarray(history, dtype=np.float64)
    if len(history) <= season:
        season = 1
    if len(history) < 2:
        return float("nan")
    differences = np.abs(history[season:] - history[:-season])
    differences = differences[~np.isnan(differences)]
    scale = float(np.mean(differences)) if len(differences) else float("nan")
    return scale if scale > 0 else float("nan")


def mase(actual: Any, forecast: Any, history: Any, season: int = 1) -> float:
    """Mean absolute scaled error; NaN when the history is constant (scale 0)."""
    return mae(actual, forecast) / mase_scale(history, season)


def coverage(actual: Any, lower: Any, upper: Any) -> float:
    """Fraction of actual values inside [lower, upper] (NaN actuals skipped)."""
    actual, lower, upper = (np.asarray(v, dtype=np.float64) for v in (actual, lower, upper))
    keep = ~np.isnan(actual)
    return float(np.mean((actual[keep] >= lower[keep]) & (actual[keep] <= upper[keep])))


def interval_width(lower: Any, upper: Any) -> float:
    """Mean width of the intervals [lower, upper]."""
    return float(np.mean(np.asarray(upper, dtype=np.float64) - np.asarray(lower, dtype=np.float64)))


def score_table(forecasts: pd.DataFrame, levels: Sequence[int] = ()) -> pd.DataFrame:
    """Metrics per model from tidy forecasts.

    Args:
        forecasts: rows of (model, actual, forecast, mase_scale[, lower_XX, upper_XX]).
        levels: interval levels whose coverage and mean width to add (for rows that have them).

    Returns:
        DataFrame indexed by model: MAE, RMSE, MAPE, sMAPE, MASE, coverage_XX, width_XX.
    """
    rows = {}
    for model, group in forecasts.groupby("model", sort=False):
        group = group[group["actual"].notna()]
        actual, forecast = group["actual"].to_numpy(), group["forecast"].to_numpy()
        error = np.abs(actual - forecast)
        row = {"MAE": mae(actual, forecast), "RMSE": rmse(actual, forecast), "MAPE": mape(actual, forecast),
               "sMAPE": smape(actual, forecast),
               "MASE": float(np.mean(error / group["mase_scale"].to_numpy()))}
        for level in levels:
            lower, upper = group[f"lower_{level}"].to_numpy(), group[f"upper_{level}"].to_numpy()
            has = ~np.isnan(lower)
            row[f"coverage_{level}"] = coverage(actual[has], lower[has], upper[has]) if has.any() else float("nan")
            row[f"width_{level}"] = interval_width(lower[has], upper[has]) if has.any() else float("nan")
        rows[model] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    return table


def verdict(table: pd.DataFrame) -> str:
    """One plain sentence: does the best model beat the best baseline (the four, and AutoETS,
    AutoARIMA and Theta when scored) on MASE, else MAE?"""
    metric = "MASE" if np.isfinite(table["MASE"]).all() else "MAE"
    baselines = table[table.index.isin(REFERENCE_NAMES)][metric]
    models = table[~table.index.isin(REFERENCE_NAMES)][metric]
    if models.empty or baselines.empty:
        return ""
    best_model, best_baseline = models.idxmin(), baselines.idxmin()
    ours, theirs = models[best_model], baselines[best_baseline]
    if ours < theirs:
        return (f"{best_model} beats every baseline: {metric} {ours:.3f} vs {theirs:.3f} for "
                f"{best_baseline}, the best baseline.")
    return (f"A baseline wins: {best_baseline} has {metric} {theirs:.3f}, {best_model} {ours:.3f}. "
            f"Use the baseline, or give the LSTM more data, a longer lookback or more epochs.")


def format_table(table: pd.DataFrame) -> str:
    """The score table as aligned text (3 decimals, '-' for NaN)."""
    columns = list(table.columns)
    width = max(len(str(name)) for name in table.index) + 2
    lines = [" " * width + "".join(f"{c:>13}" for c in columns)]
    for name, row in table.iterrows():
        cells = "".join(f"{'-':>13}" if not np.isfinite(row[c]) else f"{row[c]:>13.3f}" for c in columns)
        lines.append(f"{str(name):<{width}}{cells}")
    return "\n".join(lines)
