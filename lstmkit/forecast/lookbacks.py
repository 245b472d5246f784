"""`Forecaster(lookback="auto")`: a few lookbacks tried, chosen on the validation tail.

The candidates are 1, 2 and 3 times max(season, horizon) (three seasons or horizons at most),
each shortened, as `suggest_lookback` does, so the longest series keeps room for training
windows and a validation tail; equal ones are merged. One model (or `ensemble` models, over
seeds) is trained per candidate. Every candidate shares one split: the validation tail of the
longest candidate (so the scalers, fitted on the training part, are the same for all), and
each is scored on it by the mean absolute error of its forecasts in scaled units over every
origin of the tail. The options are each candidate alone and the median of all of them
(N-BEATS's ensemble over lookbacks); the one with the lowest validation error is kept (the
ensemble on a tie). The test data are never seen: the tail is the latest part of the training
data.

Example (monthly, season 12, horizon 18, 144 points): candidates 18, 36, 54; validation MAE
0.071, 0.065, 0.080 and 0.060 for the median of all three: all three are kept.
"""

from __future__ import annotations

from typing import Any

import numpy as np

AUTO = "auto"
MULTIPLES = (1, 2, 3)
ALL = "median of all"
# ensemble="auto": this many models where the data are small, one above (ensemble_size).
SMALL_ENSEMBLE = 3
SMALL_DATA_STEPS = 100_000  # the series' points times the (longest) lookback


def candidates(longest: int, horizon: int, season: int) -> list[int]:
    """The lookbacks tried for a longest series of `longest` points, shortest first."""
    unit = max(season, horizon)
    room = max((longest - 2 * horizon) // 2, 1)
    return sorted({max(1, min(k * unit, room)) for k in MULTIPLES})


def ensemble_size(setting: int | str, points: int, lookback: int) -> int:
    """The models trained per lookback: `setting` itself, or for "auto" SMALL_ENSEMBLE where the
    series hold at most SMALL_DATA_STEPS / lookback points in all, and one where they hold more.

    Models trained from different seeds disagree most where the data are few, and there a model
    costs seconds: the median of three then pays (over four origins of the development benchmark,
    0.661 against 0.680 in geometric mean MASE relative to seasonal naive; README). On long series
    one model varies less and costs minutes."""
    if setting != AUTO:
        return int(setting)
    return SMALL_ENSEMBLE if points * lookback <= SMALL_DATA_STEPS else 1


def ensemble_text(setting: int | str, members: int, points: int, lookback: int) -> str:
    """summary()'s words for how many models were trained per lookback, and why."""
    if setting != AUTO:
        return f"{members} model(s)"
    steps = points * lookback
    return (f"{members} model(s) (ensemble='auto': {points} points x lookback {lookback} = {steps:,} steps, "
            f"{'at most' if steps <= SMALL_DATA_STEPS else 'over'} {SMALL_DATA_STEPS:,})")


def choose(errors: dict[str, float]) -> str:
    """The option (a lookback as text, or ALL) with the lowest validation error; ALL on a tie."""
    finite = {name: value for name, value in errors.items() if np.isfinite(value)}
    if not finite:
        return ALL
    best = min(finite.values())
    return ALL if finite.get(ALL) == best else min(finite, key=finite.get)


def choice_text(record: dict[str, Any]) -> str:
    """One line for summary(): the candidates, their validation errors and what was kept."""
    errors = record.get("errors") or {}
    scored = ", ".join(f"{name} {value:.4g}" for name, value in errors.items())
    kept = record["chosen"]
    what = "the median of all" if kept == ALL else f"lookback {kept} alone"
    why = (f"validation MAE in scaled units: {scored}" if errors else
           "no validation tail to choose on (validation_split=0)")
    skipped = record.get("skipped") or []
    budget = (f" Skipped {', '.join(map(str, skipped))}: time_budget={record['time_budget']:g} s was spent on the "
              f"shorter ones." if skipped else "")
    return (f"Lookback auto: candidates {', '.join(map(str, record['candidates']))} (1-3 x max(season, horizon)); "
            f"{why}; kept {what}.{budget}")
