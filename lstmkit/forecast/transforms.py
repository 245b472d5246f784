"""A log transform for series whose spread grows with their level, chosen on the training part.

Multiplicative seasonality (airline passengers: the summer peak grows with the traffic) and
growth in percent (GDP, sales) make a series' spread proportional to its level. On the log
scale that spread is constant, which an LSTM reading windows relative to their last value
learns far more easily, and forecasts then keep their proportions above any level seen.

The choice ("auto") is the classical range-mean test on the training part only: cut it into
chunks (a season long, at least 4 points), fit log(spread) = a + b·log(level) over the chunks;
b near 1 means spread proportional to level (log, Box-Cox λ = 1 - b = 0), b near 0 a constant
spread (no transform). Log is taken when the series is positive, b >= 0.5 and the chunk levels
differ enough (a factor of 1.2 from the lowest to the highest) for the slope to mean anything.
"""

from __future__ import annotations

from typing import Any

import numpy as np

TRANSFORMS = ("auto", "log", "none")
_MIN_CHUNKS, _MIN_LEVEL_RATIO, _MIN_SLOPE = 4, 1.2, 0.5


def spread_slope(values: np.ndarray, season: int) -> float | None:
    """The slope b of log(spread) on log(level) over chunks of the values; None when the values
    are not all positive or there are too few chunks, or levels too alike, to tell."""
    values = values[~np.isnan(values)]
    if len(values) == 0 or values.min() <= 0:
        return None
    size = max(season, 4)
    chunks = values[: len(values) // size * size].reshape(-1, size)
    if len(chunks) < _MIN_CHUNKS:
        return None
    if season > 1:
        level, spread = chunks.mean(axis=1), chunks.std(axis=1)
    else:  # a year-on-year series: the spread of its changes
        level, spread = chunks.mean(axis=1), np.abs(np.diff(chunks, axis=1)).mean(axis=1)
    keep = spread > 0
    if keep.sum() < _MIN_CHUNKS or level[keep].max() < _MIN_LEVEL_RATIO * level[keep].min():
        return None
    return float(np.polyfit(np.log(level[keep]), np.log(spread[keep]), 1)[0])


def choose_transform(transform: str, values: np.ndarray, season: int) -> str:
    """"log" or "none" for one series' training values, as `transform` asks ("auto": the test
    above). "log" on a series with values <= 0 raises."""
    if transform == "auto":
        slope = spread_slope(values, season)
        return "log" if slope is not None and slope >= _MIN_SLOPE else "none"
    if transform == "log" and np.nanmin(values) <= 0:
        raise ValueError(f"transform='log' needs positive values; the series has a minimum of {np.nanmin(values)}. "
                         f"Use transform='auto' or 'none'.")
    return transform


class LogScaler:
    """Log, then the inner scaler (fitted on the logged values; None: none); the inverse undoes both."""

    def __init__(self, inner: Any = None) -> None:
        self.inner = inner

    def fit(self, x: np.ndarray) -> "LogScaler":
        if self.inner is not None:
            self.inner.fit(np.log(x))
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        logged = np.log(np.maximum(x, np.finfo(np.float64).tiny))
        return logged if self.inner is None else self.inner.transform(logged)

    def inverse_transform(self, x: np.ndarray) -> np.ndarray:
        logged = x if self.inner is None else self.inner.inverse_transform(x)
        return np.exp(np.minimum(logged, 700.0))  # exp overflows past ~709

    def state(self) -> dict[str, Any]:
        return {"class_name": "LogScaler", "inner": None if self.inner is None else self.inner.state()}
