"""The four baselines every forecast is scored beside.

Each takes the history (T,) in time order and returns the next `horizon` values (horizon,).
NaN values in the history (gaps kept by missing="drop") are skipped.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _history(history: Any) -> np.ndarray:
    values = np.asarray(history, dtype=np.float64)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        raise ValueError("a baseline needs at least one observed value in the history.")
    return values


def naive(history: Any, horizon: int) -> np.ndarray:
    """Every future value equals the last observed one."""
    return np.full(horizon, _history(history)[-1])


def seasonal_naive(history: Any, horizon: int, season: int = 1) -> np.ndarray:
    """Each future value equals the value one season earlier (the last season, repeated).

    Example:
        history [1, 2, 3, 4], season 2, horizon 3 -> [3, 4, 3].
    """
    values = np.asarray(history, dtype=np.float64)
    if season <= 1 or len(values) < season:
        return naive(history, horizon)
    last_season = values[-season:]
    forecast = np.resize(last_season, horizon)
    missing = np.isnan(forecast)
    forecast[missing] = naive(history, horizon)[missing]
    return forecast


def drift(history: Any, horizon: int) -> np.ndarray:
    """The line through the first and last values, extended: y_T + h·(y_T - y_1)/(T - 1)."""
    values = _history(history)
    slope = (values[-1] - values[0]) / (len(values) - 1) if len(values) > 1 else 0.0
    return values[-1] + slope * np.arange(1, horizon + 1)


def mean(history: Any, horizon: int) -> np.ndarray:
    """Every future value equals the mean of the history."""
    return np.full(horizon, _history(history).mean())


def all_baselines(history: Any, horizon: int, season: int = 1) -> dict[str, np.ndarray]:
    """{"naive": ..., "seasonal_naive": ..., "drift": ..., "mean": ...}, each (horizon,)."""
    return {
        "naive": naive(history, horizon),
        "seasonal_naive": seasonal_naive(history, horizon, season),
        "drift": drift(history, horizon),
        "mean": mean(history, horizon),
    }
