"""Whether the Forecaster's windows are deseasonalised, chosen on the training parts.

A window of a seasonal series is deseasonalised by its own profile (lstmkit.data.window_levels):
the network then reads and forecasts what the season does not explain, and a network that has
learnt nothing forecasts the window's level plus its seasonal profile, much as a seasonal
exponential smoothing would. On a series without a season the same profile is noise, so it is
taken out only where the training part shows a season: the test of the M4 competition's
benchmarks (the autocorrelation at lag m beyond its 90% limit, 1.645·sqrt((1 + 2·Σ_{k<m} r_k²) / n)),
on the first differences, so a trend alone does not pass for a season. A global model of many
series deseasonalises when at least half of them pass.

The profile is an average over whole seasons, and one season's noise weighs less the more seasons
it averages: it reads the window's context, at least PROFILE_SEASONS seasons before the forecast
origin where the series has them (the network still reads only the lookback's last steps). With a
monthly series and a lookback of two 18-month horizons, that is 4 seasons rather than the 3 that
36 steps hold; what that gained and cost on the benchmark is in the README ("A profile over four
seasons").
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

SEASONAL = ("auto", "window", "none")
WINDOW_SCALES = ("auto", "on", "off")  # Forecaster(window_scale=...): lstmkit.data.window_scale
_MIN_SEASONS = 3  # a training part shorter than this many seasons is not tested: no season
PROFILE_SEASONS = 4  # seasons of history a window's profile reads, where the series has them


def profile_context(lookback: int, season: int) -> int:
    """The rows of history each window carries: the lookback, widened to PROFILE_SEASONS whole seasons
    when its windows are deseasonalised (`season` > 1)."""
    return max(lookback, PROFILE_SEASONS * season) if season > 1 else lookback


def has_season(values: np.ndarray, season: int) -> bool:
    """The M4 benchmarks' seasonality test on the first differences of `values` (NaN dropped)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if season <= 1 or len(values) < _MIN_SEASONS * season + 1:
        return False
    changes = np.diff(values)
    changes = changes - changes.mean()
    total = float(changes @ changes)
    if total == 0.0:
        return False
    acf = np.array([changes[: len(changes) - k] @ changes[k:] for k in range(1, season + 1)]) / total
    limit = 1.645 * np.sqrt((1.0 + 2.0 * np.sum(acf[:-1] ** 2)) / len(changes))
    return bool(abs(acf[-1]) > limit)


def window_season(mode: str, training_parts: Sequence[np.ndarray], season: int) -> tuple[int, str]:
    """The season windows are deseasonalised by (1: none) and the summary's sentence on it.

    `training_parts`: each series' training values, on the scale the network reads (after the log
    transform where one was chosen)."""
    if season <= 1:
        return 1, "Windows: relative to their last value (no season to take out)."
    if mode == "none":
        return 1, "Windows: relative to their last value (seasonal='none')."
    if mode == "window":
        return season, f"Windows: each deseasonalised by its own season-{season} profile (seasonal='window')."
    passed = sum(has_season(part, season) for part in training_parts)
    if 2 * passed >= len(training_parts) and passed:
        return season, (f"Windows: each deseasonalised by its own season-{season} profile (auto: {passed} of "
                        f"{len(training_parts)} series show a season at lag {season} in their training part).")
    return 1, (f"Windows: relative to their last value (auto: {passed} of {len(training_parts)} series show a "
               f"season at lag {season} in their training part).")
