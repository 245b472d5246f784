"""The statistical models a forecaster would otherwise use, scored beside the LSTM: AutoETS,
AutoARIMA and Theta (AutoTheta) from statsforecast, the optional `[stats]` extra
(`pip install "lstmkit[stats]"`).

Each takes the history (T,) in time order (NaN gaps filled linearly) and returns the next
`horizon` values (horizon,). Two adaptations keep them usable on any series:

- with a season over 24 steps (weekly 52, half-hourly 48) seasonal ARIMA takes minutes per fit
  and ETS allows no such season, so AutoARIMA and AutoETS are fitted to the seasonally adjusted
  history (classical additive decomposition) and the seasonal indices are added back, as the M4
  competition's benchmarks do; Theta deseasonalises by itself;
- a series too short for a model (ETS and Theta need a few points more than a season) gets the
  naive forecast in that model's place, and `fallbacks` counts how often that happened.
"""

from __future__ import annotations

import time
import warnings
from typing import Any, Callable

import numpy as np

STATISTICAL_NAMES = ("auto_ets", "auto_arima", "theta")
_LONG_SEASON = 24


def available() -> bool:
    """True when statsforecast (the `[stats]` extra) can be imported."""
    try:
        import statsforecast  # noqa: F401
    except ImportError:
        return False
    return True


def require() -> None:
    """Raise a clear error when the `[stats]` extra is missing."""
    if not available():
        raise ValueError("statistical=True needs statsforecast, which lstmkit's optional [stats] extra installs: "
                         "pip install \"lstmkit[stats]\" (or pass statistical=False).")


def resolve(statistical: Any) -> bool:
    """statistical=None: use the models when installed; True: require them; False: leave them out."""
    if statistical is None:
        return available()
    if not isinstance(statistical, bool):
        raise ValueError(f"`statistical` must be True, False or None (use them when installed); got {statistical!r}.")
    if statistical:
        require()
    return statistical


class StatisticalModels:
    """Forecasts of the three models; `fallbacks` counts the naive forecasts given in their place
    and `seconds` the time spent in each model's fits."""

    def __init__(self, season: int) -> None:
        from statsforecast.models import AutoARIMA, AutoETS, AutoTheta

        self.season = season
        self.fallbacks = dict.fromkeys(STATISTICAL_NAMES, 0)
        self.seconds = dict.fromkeys(STATISTICAL_NAMES, 0.0)
        short = season if season <= _LONG_SEASON else 1  # long seasons: fitted to the adjusted history
        self._models: dict[str, Callable[[], Any]] = {
            "auto_ets": lambda: AutoETS(season_length=short),
            "auto_arima": lambda: AutoARIMA(season_length=short),
            "theta": lambda: AutoTheta(season_length=season),
        }

    def forecasts(self, history: Any, horizon: int) -> dict[str, np.ndarray]:
        """{"auto_ets": ..., "auto_arima": ..., "theta": ...}, each (horizon,)."""
        values = _filled(history)
        adjusted, indices = _deseasonalised(values, self.season)
        results = {}
        for name, make in self._models.items():
            long_season = self.season > _LONG_SEASON and name != "theta"
            series = adjusted if long_season else values
            started = time.perf_counter()
            try:
                with warnings.catch_warnings():  # statsforecast's numerical warnings on tiny or flat series
                    warnings.simplefilter("ignore")
                    forecast = np.asarray(make().forecast(y=series, h=horizon)["mean"], dtype=np.float64)
                if not np.isfinite(forecast).all():
                    raise ValueError("non-finite forecast")
            except (ValueError, NotImplementedError, IndexError, ZeroDivisionError, np.linalg.LinAlgError):
                self.fallbacks[name] += 1
                forecast, long_season = np.full(horizon, values[-1]), False
            self.seconds[name] += time.perf_counter() - started
            if long_season:
                forecast = forecast + np.resize(np.roll(indices, -len(values)), horizon)
            results[name] = forecast
        return results


def _filled(history: Any) -> np.ndarray:
    values = np.asarray(history, dtype=np.float64)
    bad = np.isnan(values)
    if bad.all():
        raise ValueError("a statistical model needs at least one observed value in the history.")
    if bad.any():
        positions = np.arange(len(values))
        values = values.copy()
        values[bad] = np.interp(positions[bad], positions[~bad], values[~bad])
    return values


def _deseasonalised(values: np.ndarray, season: int) -> tuple[np.ndarray, np.ndarray]:
    """The history less its additive seasonal indices (season,), indexed from the first point,
    estimated from a centred moving average (classical decomposition); zeros without two seasons."""
    if season <= _LONG_SEASON or len(values) < 2 * season:
        return values, np.zeros(max(season, 1))
    if season % 2:
        kernel = np.ones(season) / season
    else:  # the 2 x m moving average of an even period
        kernel = np.r_[0.5, np.ones(season - 1), 0.5] / season
    trend = np.convolve(values, kernel, mode="same")
    half = season // 2
    detrended = (values - trend)[half : len(values) - half]
    phases = (np.arange(len(values))[half : len(values) - half]) % season
    indices = np.array([detrended[phases == p].mean() for p in range(season)])
    indices -= indices.mean()
    return values - indices[np.arange(len(values)) % season], indices
