"""Reading time series for the Forecaster: one series or many, on a regular time step, with
missing values found and handled before any model sees them.

Every input (a pandas Series, a 1-D numpy array, a DataFrame, a long DataFrame of many series)
becomes a list of `SeriesData`: values on a regular index, past-observed covariates known up to
the last value, and future-known covariates that may run past it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from lstmkit.checks import choice

MISSING_POLICIES = ("interpolate", "drop", "error")

# Calendar steps, coarse to fine: the first one every timestamp lies on is the series' step.
_CALENDAR_STEPS = ["YS", "YE", "QS", "QE", "MS", "ME"]

_SEASONS = {  # base of a pandas frequency string -> observations per seasonal cycle
    **dict.fromkeys(["M", "MS", "ME", "BM", "BMS", "BME"], (12, "monthly")),
    **dict.fromkeys(["Q", "QS", "QE", "BQ", "BQS", "BQE"], (4, "quarterly")),
    "W": (52, "weekly"), "D": (7, "daily"), "B": (5, "business-daily"), "H": (24, "hourly"),
}
_YEARLY = {"Y", "YS", "YE", "A", "AS", "BY", "BYS", "BYE", "BA", "BAS"}


@dataclass
class SeriesData:
    """One series on a regular index.

    values (T,) float64 holds NaN only at gaps kept by missing="drop"; past (T, P) are the
    past-observed covariates; future (T + E, K) the future-known covariates, whose E >= 0
    extra rows cover the times after the last value.
    """

    id: Any
    index: pd.Index  # DatetimeIndex with freq, PeriodIndex, or RangeIndex
    values: np.ndarray
    past: np.ndarray
    future: np.ndarray

    @property
    def label(self) -> str:
        return "the series" if self.id is None else f"series {self.id!r}"

    def __len__(self) -> int:
        return len(self.values)

    def head(self, n: int, future_rows: int = 0) -> "SeriesData":
        """The first n points; future-known covariates keep `future_rows` rows past them."""
        return replace(self, index=self.index[:n], values=self.values[:n], past=self.past[:n],
                       future=self.future[: n + future_rows])


def read_series(
    data: Any,
    id_col: str | None = None,
    time_col: str | None = None,
    value_col: str | None = None,
    past_covariates: Any = None,
    future_covariates: Any = None,
    missing: str = "interpolate",
) -> tuple[list[SeriesData], list[str], list[str]]:
    """Turn any accepted input into SeriesData on regular indexes.

    Returns:
        (series, past covariate names, future covariate names).
    """
    choice(missing, "missing", MISSING_POLICIES)
    if isinstance(data, pd.DataFrame):
        frames, past_names, future_names = _frames_from_dataframe(
            data, id_col, time_col, value_col, past_covariates, future_covariates)
    else:
        if id_col is not None or time_col is not None:
            raise ValueError("`id_col` and `time_col` name DataFrame columns; `data` is not a DataFrame.")
        frame, past_names, future_names = _frame_from_single(data, past_covariates, future_covariates)
        frames = [(None, frame)]
    if not frames:
        raise ValueError("`data` holds no rows: pass at least one series with lookback + horizon points.")
    found: list[tuple[str, int, int]] = []  # (series, absent timestamps, NaN values)
    series = []
    for series_id, frame in frames:
        item, gaps, nans = _regularize(series_id, frame, past_names, future_names, missing)
        series.append(item)
        if gaps + nans:
            found.append((item.label, gaps, nans))
    if found and missing == "interpolate":
        total = sum(gaps + nans for _, gaps, nans in found)
        where = "; ".join(f"{label}: {gaps + nans} ({gaps} absent timestamps, {nans} NaN)"
                          for label, gaps, nans in found[:5])
        warnings.warn(
            f"filled {total} missing point(s) by linear interpolation ({where}). Pass "
            f"missing='drop' to skip the windows that touch them, or missing='error' to refuse.",
            UserWarning, stacklevel=3)
    return series, past_names, future_names


def _frame_from_single(data: Any, past_covariates: Any, future_covariates: Any
                       ) -> tuple[pd.DataFrame, list[str], list[str]]:
    if isinstance(data, pd.Series):
        frame = pd.DataFrame({"value": data.to_numpy()}, index=data.index)
    elif isinstance(data, (np.ndarray, list, tuple)):
        array = np.asarray(data)
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim != 1:
            raise ValueError(
                f"`data` must be 1-D (one series); got an array of shape {array.shape}. For many "
                f"series pass a long DataFrame with id_col=, time_col= and value_col=.")
        frame = pd.DataFrame({"value": array}, index=pd.RangeIndex(len(array)))
    else:
        raise TypeError(
            f"`data` must be a pandas Series, a 1-D numpy array or a DataFrame; got {type(data).__name__}.")
    past = _covariate_table(frame.index, past_covariates, "past_covariates", "past")
    future = _covariate_table(frame.index, future_covariates, "future_covariates", "future")
    if past is not None:
        frame = frame.join(past, how="left")
    if future is not None:
        frame = frame.join(future, how="outer")
    names = [list(table.columns) if table is not None else [] for table in (past, future)]
    if len(set(names[0]) | set(names[1])) < len(names[0]) + len(names[1]):
        raise ValueError("past_covariates and future_covariates share a column name; rename one.")
    return frame, names[0], names[1]


def _covariate_table(index: pd.Index, covariates: Any, argument: str, kind: str) -> pd.DataFrame | None:
    """Covariates as a DataFrame on the data's time axis: a DataFrame keeps its own index,
    an array (T[, K]) is read by position (future-known ones may run past the data)."""
    if covariates is None:
        return None
    if isinstance(covariates, pd.Series):
        covariates = covariates.to_frame()
    if isinstance(covariates, pd.DataFrame):
        table = covariates.copy()
    else:
        array = np.asarray(covariates)
        array = array[:, None] if array.ndim == 1 else array
        if array.ndim != 2:
            raise ValueError(f"`{argument}` must be a DataFrame or a 2-D array (T, K); got shape {array.shape}.")
        if len(array) < len(index) or (kind == "past" and len(array) != len(index)):
            more = " (more may follow for the horizon)" if kind == "future" else ""
            raise ValueError(f"`{argument}` has {len(array)} rows but the data has {len(index)} points; "
                             f"give one row per point{more}.")
        extra = len(array) - len(index)
        if extra:
            regular = _regular_index(_time_index(index, "the series"), "the series")
            if len(regular) != len(index):
                raise ValueError(f"`{argument}` runs past data with gaps; pass it as a DataFrame indexed by time.")
            index = index.append(future_index(regular, extra))
        table = pd.DataFrame(array, index=index, columns=[f"{kind}_{i}" for i in range(array.shape[1])])
    table.columns = [str(c) for c in table.columns]
    if "value" in table.columns:
        raise ValueError(f"`{argument}` has a column named 'value'; rename it.")
    return table


def _frames_from_dataframe(data: pd.DataFrame, id_col: str | None, time_col: str | None,
                           value_col: str | None, past_covariates: Any, future_covariates: Any
                           ) -> tuple[list[tuple[Any, pd.DataFrame]], list[str], list[str]]:
    past_names = _column_list(past_covariates, "past_covariates")
    future_names = _column_list(future_covariates, "future_covariates")
    used = {c for c in (id_col, time_col) if c is not None} | set(past_names) | set(future_names)
    if value_col is None:
        rest = [c for c in data.columns if c not in used]
        if len(rest) != 1:
            raise ValueError(f"`data` has columns {list(data.columns)}; pass value_col= to say which "
                             f"one to forecast (and id_col=/time_col= for the series id and time).")
        value_col = rest[0]
    named = [c for c in (id_col, time_col, value_col, *past_names, *future_names) if c is not None]
    if len(set(named)) < len(named):
        repeated = next(c for c in named if named.count(c) > 1)
        raise ValueError(f"column {repeated!r} is named twice among id_col, time_col, value_col and the "
                         f"covariates; each must be a different column.")
    for column, argument in [(id_col, "id_col"), (time_col, "time_col"), (value_col, "value_col"),
                             *((c, "past_covariates") for c in past_names),
                             *((c, "future_covariates") for c in future_names)]:
        if column is not None and column not in data.columns:
            raise ValueError(f"`{argument}`={column!r} is not a column of `data`; its columns are "
                             f"{list(data.columns)}.")
    frame = data[[c for c in (id_col, time_col) if c is not None] + [value_col, *past_names, *future_names]]
    frame = frame.rename(columns={value_col: "value"})
    if time_col is not None:
        times = frame[time_col]
        if not (pd.api.types.is_datetime64_any_dtype(times) or pd.api.types.is_integer_dtype(times)
                or isinstance(times.dtype, pd.PeriodDtype)):
            try:
                times = pd.to_datetime(times)
            except (ValueError, TypeError):
                raise ValueError(f"time column {time_col!r} could not be read as dates or integers "
                                 f"(e.g. {frame[time_col].iloc[0]!r}); convert it with pd.to_datetime.") from None
        frame = frame.drop(columns=[time_col])
        frame.index = pd.Index(times, name=time_col)
    if id_col is None:
        return [(None, frame)], past_names, future_names
    frames = [(_plain(key), group.drop(columns=[id_col])) for key, group in frame.groupby(id_col, sort=False)]
    return frames, past_names, future_names


def _column_list(covariates: Any, argument: str) -> list[str]:
    if covariates is None:
        return []
    if isinstance(covariates, str):
        return [covariates]
    if isinstance(covariates, (list, tuple)) and all(isinstance(c, str) for c in covariates):
        return list(covariates)
    raise TypeError(f"with a DataFrame, `{argument}` is a list of its column names; got {type(covariates).__name__}.")


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _numeric(column: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)


def _regularize(series_id: Any, frame: pd.DataFrame, past_names: list[str], future_names: list[str],
                missing: str) -> tuple[SeriesData, int, int]:
    """Check one series and put it on its regular index (from its first to its last value).

    Returns:
        the series, the number of timestamps absent from its index, and of NaN values.
    """
    label = "the series" if series_id is None else f"series {series_id!r}"
    if len(frame) == 0:
        raise ValueError(f"{label} is empty: it has no points. Pass a series of at least lookback + horizon points.")
    index = _checked_index(frame, label)
    frame = frame.set_axis(index).astype("float64")
    regular = _regular_index(index, label)
    frame = frame.reindex(regular)
    observed = np.flatnonzero(frame["value"].notna().to_numpy())
    if not len(observed):
        raise ValueError(f"{label} has no values (all NaN).")
    first, last = observed[0], observed[-1]
    _check_ends(label, frame, first, last, future_names, missing)
    history = frame.iloc[first : last + 1]
    values = history["value"].to_numpy().copy()
    past = history[past_names].to_numpy().copy()
    # Future-known covariates run on past the last value (rows beyond it are the horizon's).
    future = frame[future_names].iloc[first:].to_numpy().copy()
    absent = ~regular[first : last + 1].isin(index)
    nan_points = int((np.isnan(values) & ~absent).sum())
    gap_points = int(absent.sum())
    past_nans = int(np.isnan(past).sum()) + int(np.isnan(future[: len(values)]).sum())
    if gap_points + nan_points + past_nans and missing == "error":
        where = np.flatnonzero(np.isnan(values) | np.isnan(past).any(axis=1)
                               | np.isnan(future[: len(values)]).any(axis=1))[0]
        raise ValueError(
            f"{label} has {gap_points + nan_points} missing value(s) and {past_nans} missing covariate "
            f"value(s) (first at {history.index[where]}; {gap_points} timestamps absent from the index). "
            f"Fill them, or pass missing='interpolate' (linear) or missing='drop' (skip windows that touch them).")
    if missing == "interpolate":
        values = _interpolate(values)
        past = np.column_stack([_interpolate(c) for c in past.T]) if past.shape[1] else past
        n = len(values)
        if future.shape[1]:
            future[:n] = np.column_stack([_interpolate(c) for c in future[:n].T])
    item = SeriesData(series_id, regular[first : last + 1], values, past, future)
    return item, gap_points, nan_points + past_nans


def _check_ends(label: str, frame: pd.DataFrame, first: int, last: int, future_names: list[str],
                missing: str) -> None:
    """Missing values before the first value or after the last follow `missing` as inner gaps do,
    except that nothing can be interpolated there: "error" refuses them; "drop" and "interpolate"
    drop them with a warning, which for the last ones says that the forecast origin moved into the
    data. Rows after the last value that carry future-known covariates are the horizon's, not gaps."""
    tail = frame.iloc[last + 1 :]
    gap = tail[future_names].isna().all(axis=1).to_numpy() if future_names else np.ones(len(tail), bool)
    after = tail.index[: len(gap) if gap.all() else int(np.argmin(gap))]  # the missing run right after the last value
    before = frame.index[:first]
    if not len(before) and not len(after):
        return
    parts = [f"{len(points)} missing point(s) at its {end} ({time_text(points[0])} to {time_text(points[-1])})"
             for points, end in ((before, "start"), (after, "end")) if len(points)]
    if missing == "error":
        raise ValueError(f"{label} has {' and '.join(parts)}: a forecast from it would start inside the data. Fill "
                         f"or trim them, or pass missing='drop' to drop them (the forecast origin then moves).")
    lines = [f"{label}: dropped {' and '.join(parts)}; values cannot be interpolated beyond the first or last one."]
    if len(after):
        origin = frame.index[last]
        lines.append(f"The forecast origin moved to {time_text(origin)} (the last value): forecasts start at "
                     f"{time_text(after[0])}, inside the data's time range. Fill or trim the end to forecast from "
                     f"there, or pass missing='error' to refuse.")
    warnings.warn(" ".join(lines), UserWarning, stacklevel=4)


def _checked_index(frame: pd.DataFrame, label: str) -> pd.Index:
    """The frame's time index, once its columns are numbers and its times unique and sorted."""
    for column in frame.columns:
        if not _numeric(frame[column]):
            example = frame[column].dropna().iloc[0] if frame[column].notna().any() else None
            name = "the values" if column == "value" else f"covariate {column!r}"
            raise TypeError(f"{label}: {name} must be numbers; got dtype {frame[column].dtype} "
                            f"(e.g. {example!r}). Convert with pd.to_numeric(..., errors='coerce').")
    index = _time_index(frame.index, label)
    if index.has_duplicates:
        first = index[index.duplicated()][0]
        raise ValueError(f"{label} has duplicate timestamps (first: {first}). Keep one value per time, "
                         f"e.g. df.drop_duplicates(subset=[time, id]) or aggregate with groupby().mean().")
    if not index.is_monotonic_increasing:
        position = int(np.argmax(np.diff(index.asi8 if hasattr(index, "asi8") else np.asarray(index)) < 0)) + 1
        raise UnsortedSeriesError(label, index[position - 1], index[position])
    return index


def _interpolate(column: np.ndarray) -> np.ndarray:
    bad = np.isnan(column)
    if not bad.any() or bad.all():
        return column
    positions = np.arange(len(column))
    column[bad] = np.interp(positions[bad], positions[~bad], column[~bad])
    return column


def _time_index(index: pd.Index, label: str) -> pd.Index:
    if isinstance(index, (pd.DatetimeIndex, pd.PeriodIndex)):
        return index
    if pd.api.types.is_integer_dtype(index.dtype):
        return pd.Index(index.to_numpy(dtype=np.int64), name=index.name)
    raise TypeError(
        f"{label} has an index of dtype {index.dtype}; expected a DatetimeIndex, PeriodIndex or integer "
        f"index. Convert it, e.g. series.index = pd.to_datetime(series.index).")


def _regular_index(index: pd.Index, label: str) -> pd.Index:
    """The regular index from the first to the last time, with the series' own step."""
    if isinstance(index, pd.PeriodIndex):
        return pd.period_range(index[0], index[-1], freq=index.freq, name=index.name)
    if isinstance(index, pd.DatetimeIndex):
        step = _datetime_step(index, label)
        return pd.date_range(index[0], index[-1], freq=step, name=index.name)
    values = index.to_numpy()
    step = int(np.gcd.reduce(np.diff(values))) if len(values) > 1 else 1
    step = step or 1
    return pd.RangeIndex(values[0], values[-1] + step, step, name=index.name)


def _datetime_step(index: pd.DatetimeIndex, label: str) -> Any:
    """The index's own frequency, else the coarsest regular step every timestamp lies on."""
    if index.freq is not None:
        return index.freq
    nanoseconds = np.diff(index.as_unit("ns").asi8)
    step = int(np.gcd.reduce(nanoseconds)) if len(nanoseconds) else 0
    day = 86_400 * 10**9
    if len(nanoseconds) and nanoseconds.min() >= 28 * day:  # calendar months, quarters, years
        for candidate in _CALENDAR_STEPS:
            full = pd.date_range(index[0], index[-1], freq=candidate)
            if len(full) and full[0] == index[0] and index.isin(full).all():
                return to_offset(candidate)
        raise ValueError(
            f"cannot infer the time step of {label} (times from {index[0]} to {index[-1]} fit no regular "
            f"frequency). Resample it to one first, e.g. series.resample('MS').mean().")
    if step == 7 * day:
        return to_offset(f"W-{index[0].day_name()[:3].upper()}")
    if step == day and (index.day_of_week < 5).all() and (nanoseconds == 3 * day).any():
        return to_offset("B")
    if step == 0:
        raise ValueError(f"cannot infer the time step of {label} from a single time; pass more points.")
    for unit, size in [("D", day), ("h", 3600 * 10**9), ("min", 60 * 10**9), ("s", 10**9), ("ns", 1)]:
        if step % size == 0:
            count = step // size
            return to_offset(f"{'' if count == 1 else count}{unit}")


def infer_season(index: pd.Index, season: int | None = None) -> tuple[int, str]:
    """Observations per seasonal cycle and a sentence saying where it came from.

    Monthly 12, quarterly 4, weekly 52, daily 7, business-daily 5, hourly 24; yearly data and
    data without a time index have none (1: seasonal naive is then naive).
    """
    if season is not None:
        return season, f"season {season} (given)"
    if isinstance(index, (pd.DatetimeIndex, pd.PeriodIndex)) and index.freq is not None:
        code = index.freqstr.split("-")[0]
        base = code.lstrip("0123456789").upper()
        if code[:1].isdigit() and code.lstrip("0123456789") != code and int(code[: len(code) - len(base)]) != 1:
            return 1, (f"no seasonal period known for steps of {index.freqstr}: seasonal naive is the same "
                       f"as naive (pass season= to set one)")
        if base in _SEASONS:
            value, word = _SEASONS[base]
            return value, f"season {value} inferred from the {word} index"
        if base in _YEARLY:
            return 1, ("yearly data has no seasonal period: seasonal naive is the same as naive "
                       "(pass season= to set one)")
        return 1, f"no seasonal period known for frequency {index.freqstr!r}: seasonal naive is naive (pass season=)"
    return 1, "no time index, so no seasonal period: seasonal naive is the same as naive (pass season= to set one)"


def future_index(index: pd.Index, steps: int) -> pd.Index:
    """The `steps` times that follow the regular `index`."""
    if isinstance(index, pd.DatetimeIndex):
        return pd.date_range(index[-1], periods=steps + 1, freq=index.freq, name=index.name)[1:]
    if isinstance(index, pd.PeriodIndex):
        return pd.period_range(index[-1] + 1, periods=steps, freq=index.freq, name=index.name)
    step = index.step if isinstance(index, pd.RangeIndex) else 1
    return pd.RangeIndex(index[-1] + step, index[-1] + step * (steps + 1), step, name=index.name)


def with_future_covariates(item: SeriesData, covariates: Any, names: list[str], columns: dict[str, Any],
                           horizon: int) -> SeriesData:
    """`item` with future-known covariates over the next `horizon` steps joined on.

    Args:
        covariates: a DataFrame indexed by time (for many series: with the `id_col` and
            `time_col` of `columns`), or an array (horizon, K).
        names: the covariate columns the forecaster was fitted with.
    """
    times = future_index(item.index, horizon)
    if isinstance(covariates, pd.DataFrame):
        table = covariates
        if item.id is not None:
            table = table[table[columns["id_col"]] == item.id]
            table = table.set_index(columns["time_col"]) if columns["time_col"] else table
        absent = [name for name in names if name not in table.columns]
        if absent:
            raise ValueError(f"`future_covariates` lacks column(s) {absent}.")
        values = table[names].reindex(times).to_numpy(dtype=np.float64)
    else:
        values = np.asarray(covariates, dtype=np.float64).reshape(-1, len(names))[:horizon]
        values = np.vstack([values, np.full((horizon - len(values), len(names)), np.nan)])
    return replace(item, future=np.vstack([item.future[: len(item)], values]))


def time_text(value: Any) -> str:
    """A time as people write it: a date for timestamps at midnight."""
    if isinstance(value, pd.Timestamp) and value == value.normalize():
        return str(value.date())
    return str(value)


def index_spec(index: pd.Index) -> dict[str, Any]:
    """JSON description of a regular index: kind, last time, step, name."""
    if isinstance(index, pd.DatetimeIndex):
        return {"kind": "datetime", "last": index[-1].isoformat(), "freq": index.freqstr,
                "tz": None if index.tz is None else str(index.tz), "name": index.name, "length": len(index)}
    if isinstance(index, pd.PeriodIndex):
        return {"kind": "period", "last": str(index[-1]), "freq": index.freqstr, "name": index.name,
                "length": len(index)}
    step = index.step if isinstance(index, pd.RangeIndex) else 1
    return {"kind": "range", "last": int(index[-1]), "step": int(step), "name": index.name, "length": len(index)}


def index_from_spec(spec: dict[str, Any], length: int) -> pd.Index:
    """The last `length` times of the index `index_spec` described."""
    if spec["kind"] == "datetime":
        last = pd.Timestamp(spec["last"])
        if spec["tz"] is not None:
            last = last.tz_convert(spec["tz"])
        return pd.date_range(end=last, periods=length, freq=spec["freq"], name=spec["name"])
    if spec["kind"] == "period":
        return pd.period_range(end=pd.Period(spec["last"], freq=spec["freq"]), periods=length, name=spec["name"])
    step, last = spec["step"], spec["last"]
    return pd.RangeIndex(last - step * (length - 1), last + step, step, name=spec["name"])


class UnsortedSeriesError(ValueError):
    """A series whose times go backwards somewhere: `earlier` is listed before `later`."""

    def __init__(self, label: str, earlier: Any, later: Any) -> None:
        super().__init__(f"{label} is not sorted by time ({earlier} comes before {later}). "
                         f"Sort it first, e.g. series.sort_index() or df.sort_values([id, time]).")
        self.label, self.earlier, self.later = label, earlier, later


def check_length(series: Sequence[SeriesData], needed: int, lookback: int, horizon: int,
                        extra: str = "") -> None:
    """Raise for the first series shorter than `needed` points, naming it and the fix."""
    for item in series:
        if len(item) < needed:
            raise ValueError(
                f"{item.label} has {len(item)} points but lookback={lookback} and horizon={horizon} need at "
                f"least {needed}{extra}. Pass a longer series or reduce `lookback`.")


def common_timeline(series: Sequence[SeriesData]) -> pd.Index:
    """All times of all series, sorted once."""
    timeline = series[0].index
    for item in series[1:]:
        timeline = timeline.union(item.index)
    return timeline


def position(index: pd.Index, time: Any) -> int:
    """How many points of `index` come before `time`."""
    return int(index.searchsorted(time))

