"""Calendar features: the time of day, week and year, for cycles longer than the lookback.

A window of `lookback` steps shows the network every cycle shorter than itself (and the
Forecaster deseasonalises each window by the season inside it), but not a longer one: 28 days
of daily temperatures do not say whether spring or winter comes next, and 3 days of
half-hourly electricity demand do not say whether a weekend does. The answer of the field's
global models (DeepAR's and the Temporal Fusion Transformer's time features) is to give the
network the time itself: for each cycle, Fourier terms sin(2πkφ) and cos(2πkφ), k = 1..K, of
the phase φ in [0, 1) of every step within its day, week (from Monday) or calendar year. They
are known for any future time, so they reach the network as future-known covariates
(lstmkit.forecast.windows).

`calendar="auto"` adds a cycle when all of these hold on the training part of the series:

- the index is a calendar (DatetimeIndex or PeriodIndex) whose step is at most a quarter of the
  cycle, and the lookback covers less than one cycle (a shorter cycle the window already shows);
- the training part spans at least two cycles;
- the series shows the cycle: its strength of seasonality (Wang, Smith and Hyndman, 2006),
  1 - Var(R) / Var(S + R) > 0.5, where S + R is the series (daily or hourly means, for steps
  finer than the cycle's phase bins) less its centred moving average over one cycle, S its mean
  per phase bin (hour of day, day of week, month of year) and R the rest. Weather has a yearly
  cycle but no weekly one, and a weekly feature of hourly temperatures is noise that the network
  fits; electricity demand has a weekly one.

For many series, a cycle is added when at least half of them show it (of at most 200, evenly
spaced in the collection, so the test costs the same for ten thousand).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np
import pandas as pd

CALENDAR = ("auto", "none")  # Forecaster(calendar=...), besides a list of CYCLES' names
_MIN_STRENGTH, _MIN_CYCLES, _MIN_STEPS_PER_CYCLE = 0.5, 2, 4
_MAX_SERIES = 200  # series whose strength is measured, in a collection
_DAY = pd.Timedelta(days=1)
_BIN_DAYS = {"h": 1 / 24, "D": 1.0}


class Cycle(NamedTuple):
    days: float  # its length
    harmonics: int  # K: the Fourier terms k = 1..K (2K features)
    bin_unit: str  # the resolution of its phase bins (pandas' floor), for the strength
    phase_bin: str  # the attribute of a DatetimeIndex that names the bin


CYCLES = {
    "day": Cycle(1.0, 3, "h", "hour"),
    "week": Cycle(7.0, 3, "D", "day_of_week"),
    "year": Cycle(365.2425, 2, "D", "month"),
}


def check_calendar(calendar: Any) -> tuple[str, ...] | str:
    """"auto", "none", or a tuple of CYCLES' names; anything else raises with what is allowed."""
    if isinstance(calendar, str) and calendar in CALENDAR:
        return calendar
    if isinstance(calendar, (list, tuple)) and all(isinstance(name, str) for name in calendar):
        unknown = [name for name in calendar if name not in CYCLES]
        if not unknown:
            return tuple(dict.fromkeys(calendar))
        raise ValueError(f"`calendar` names unknown cycle(s) {unknown}; the cycles are {list(CYCLES)}.")
    raise ValueError(f"`calendar` must be 'auto', 'none' or a list of cycles from {list(CYCLES)}; got {calendar!r}.")


def timestamps(index: pd.Index) -> pd.DatetimeIndex | None:
    """The index as wall-clock timestamps (None for an integer index)."""
    if isinstance(index, pd.PeriodIndex):
        return index.to_timestamp()
    if isinstance(index, pd.DatetimeIndex):
        return index.tz_localize(None) if index.tz is not None else index
    return None


def step_days(index: pd.Index) -> float | None:
    """The length of one step in days (None without a calendar)."""
    times = timestamps(index)
    if times is None or len(times) < 2:
        return None
    return float((times[-1] - times[0]) / _DAY) / (len(times) - 1)  # the mean: months differ in length


def phase(times: pd.DatetimeIndex, name: str) -> np.ndarray:
    """Where each time lies in its day, week (from Monday) or calendar year, in [0, 1)."""
    day = (times.hour.to_numpy() + (times.minute.to_numpy() + times.second.to_numpy() / 60) / 60) / 24
    if name == "day":
        return day
    if name == "week":
        return (times.day_of_week.to_numpy() + day) / 7
    return (times.day_of_year.to_numpy() - 1 + day) / (365 + times.is_leap_year.astype(np.float64))


def features(index: pd.Index, cycles: Sequence[str]) -> np.ndarray:
    """(len(index), F) Fourier terms of `cycles` at each time: per cycle, sin and cos of 2πkφ for
    k = 1..K, φ the phase of the time within the cycle (`phase`)."""
    times = timestamps(index)
    columns = []
    for name in cycles:
        angle = 2.0 * np.pi * phase(times, name)
        for k in range(1, CYCLES[name].harmonics + 1):
            columns += [np.sin(k * angle), np.cos(k * angle)]
    return np.stack(columns, axis=1) if columns else np.zeros((len(index), 0))


def feature_names(cycles: Sequence[str]) -> list[str]:
    """The columns of `features`: "year_sin1", "year_cos1", ..."""
    return [f"{name}_{kind}{k}" for name in cycles for k in range(1, CYCLES[name].harmonics + 1)
            for kind in ("sin", "cos")]


def strength(values: np.ndarray, index: pd.Index, name: str) -> float:
    """The strength of cycle `name` in a series (module docstring); 0 when it spans under two cycles."""
    cycle = CYCLES[name]
    step = step_days(index)
    if step is None or step * _MIN_STEPS_PER_CYCLE > cycle.days:
        return 0.0
    series = pd.Series(values, index=timestamps(index))
    if step < _BIN_DAYS[cycle.bin_unit]:  # means per bin, so the network's own steps do not matter
        series = series.groupby(series.index.floor(cycle.bin_unit)).mean()
        step = _BIN_DAYS[cycle.bin_unit]
    if step * (len(series) - 1) < _MIN_CYCLES * cycle.days:
        return 0.0
    width = max(2, int(round(cycle.days / step)))
    trend = series.rolling(width, center=True, min_periods=width).mean()
    if width % 2 == 0:  # a centred 2 x width moving average, as classical decomposition takes
        trend = trend.rolling(2, min_periods=2).mean().shift(-1)
    detrended = (series - trend).dropna()
    total = float(detrended.var()) if len(detrended) > 1 else 0.0
    if total == 0.0:
        return 0.0
    bins = getattr(detrended.index, cycle.phase_bin)
    remainder = detrended - detrended.groupby(bins).transform("mean")
    return max(0.0, 1.0 - float(remainder.var()) / total)


class Choice(NamedTuple):
    cycles: tuple[str, ...]
    note: str


def choose(calendar: tuple[str, ...] | str, parts: Sequence[tuple[np.ndarray, pd.Index]], lookback: int,
           steps: int) -> Choice:
    """The cycles the Forecaster adds, and the summary's sentence on them.

    `parts`: each series' training values and their times (for many series, the strength is
    measured on at most _MAX_SERIES of them, evenly spaced in the list);
    `lookback`, `steps`: the window's length and the steps the network outputs (future-known
    covariates need lookback >= steps; with fewer, "auto" adds none and a list raises)."""
    if calendar == "none":
        return Choice((), "Calendar: none (calendar='none').")
    step = step_days(parts[0][1])
    if not isinstance(calendar, str):  # the user's list
        if step is None:
            raise ValueError(f"calendar={list(calendar)} needs a time index (DatetimeIndex or PeriodIndex); the "
                             f"series has {type(parts[0][1]).__name__}. Pass it with times, or calendar='none'.")
        if lookback < steps:
            raise ValueError(f"calendar features are future-known covariates, which need lookback >= horizon; "
                             f"got lookback={lookback}, horizon={steps}. Use a longer lookback, or calendar='none'.")
        return Choice(tuple(calendar), f"Calendar: {_listed(calendar)} features (calendar={list(calendar)}).")
    if step is None:
        return Choice((), "Calendar: none (auto: the index has no dates).")
    eligible = [name for name, cycle in CYCLES.items()
                if cycle.days >= _MIN_STEPS_PER_CYCLE * step and lookback < round(cycle.days / step)]
    if not eligible:
        return Choice((), f"Calendar: none (auto: the lookback of {lookback} steps covers every cycle the steps "
                          f"can show).")
    judged = parts[:: -(-len(parts) // _MAX_SERIES)]
    shown = {name: [strength(values, index, name) for values, index in judged] for name in eligible}
    kept = tuple(name for name in eligible if 2 * sum(value > _MIN_STRENGTH for value in shown[name]) >= len(judged))
    measured = ", ".join(f"{name} {np.median(values):.2f}" for name, values in shown.items())
    if kept and lookback < steps:
        return Choice((), f"Calendar: none (auto: the {_listed(kept)} cycle would need lookback >= horizon; "
                          f"strength {measured}).")
    if not kept:
        return Choice((), f"Calendar: none (auto: no cycle longer than the lookback is strong in the training "
                          f"part; strength {measured}, {_MIN_STRENGTH} needed).")
    return Choice(kept, f"Calendar: {_listed(kept)} features added (auto: cycles longer than the lookback of "
                        f"{lookback} steps, strong in the training part: strength {measured}).")


def _listed(cycles: Sequence[str]) -> str:
    return " and ".join(f"time-of-{name}" for name in cycles)
