"""Rolling-origin backtests: forecast from many past origins, as the model would have then.

At each origin the data are cut at that time (past-observed covariates too; future-known ones
keep their values over the horizon), a fresh forecaster is fitted on what came before (scalers
included) every `refit` origins, and its forecasts are scored beside the baselines made from
the same history.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from lstmkit.checks import positive_int
from lstmkit.forecast.baselines import all_baselines
from lstmkit.forecast.metrics import BASELINE_NAMES, REFERENCE_NAMES, format_table, mase_scale, score_table, verdict
from lstmkit.forecast.padding import ShortSeriesWarning
from lstmkit.forecast.quantiles import band_label
from lstmkit.forecast.statistical import STATISTICAL_NAMES, StatisticalModels, resolve
from lstmkit.forecast.series import SeriesData, common_timeline, position, read_series, time_text

if TYPE_CHECKING:
    from lstmkit.forecast.forecaster import Forecaster


@runtime_checkable
class Backtestable(Protocol):
    """What a backtest asks of a forecaster; lstmkit.forecast.Forecaster has it. A Protocol, so
    that this module (which Forecaster.backtest calls) does not import the Forecaster class."""

    horizon: int
    lookback: int
    levels: tuple[int, ...]
    missing: str

    def clone(self) -> Any: ...

    def min_length(self) -> int: ...

    def _fit_series(self, series: list[SeriesData], past_names: list[str], future_names: list[str]) -> Any: ...

    def _predict_series(self, series: list[SeriesData], horizon: int) -> Any: ...


@dataclass
class BacktestResult:
    """What `backtest` returns.

    Attributes:
        forecasts: tidy rows (id, origin, time, step, model, actual, forecast, lower_XX,
            upper_XX, mase_scale), one per model (the forecasters and the four baselines),
            origin and step. mase_scale is MASE's denominator on that origin's history.
        metrics: MAE, RMSE, MAPE, sMAPE, MASE (and coverage_XX, width_XX) per model.
        horizon, season, season_note, origins: the settings it ran with.
    """

    forecasts: pd.DataFrame
    metrics: pd.DataFrame
    horizon: int
    season: int
    season_note: str
    origins: list[Any]

    @property
    def verdict(self) -> str:
        """One plain sentence: does the best model beat the best baseline?"""
        return verdict(self.metrics)

    def summary(self) -> str:
        return "\n".join([
            f"Backtest: {len(self.origins)} origin(s) from {time_text(self.origins[0])} to "
            f"{time_text(self.origins[-1])}, "
            f"horizon {self.horizon}; {self.season_note}.",
            format_table(self.metrics), self.verdict])

    def __repr__(self) -> str:
        return self.summary()


class TidyRows:
    """Collects forecasts made at origins as columns; `frame()` builds the tidy DataFrame once."""

    _COLUMNS = ("id", "origin", "time", "step", "model", "actual", "forecast", "mase_scale")

    def __init__(self, horizon: int, season: int, statistical: StatisticalModels | None = None) -> None:
        self.horizon, self.season, self.statistical = horizon, season, statistical
        self.columns: dict[str, list[Any]] = {name: [] for name in self._COLUMNS}
        self.bands: list[dict[str, np.ndarray]] = []  # one {"lower_80": ..., ...} per block of rows

    def add(self, item: SeriesData, origin: int,
            forecasts: dict[str, tuple[np.ndarray, dict[int, tuple[np.ndarray, np.ndarray]]]],
            with_baselines: bool = True) -> None:
        """Rows for forecasts made at position `origin` of `item` (and the baselines' rows, with
        the statistical models' when the rows were made with them)."""
        history, horizon = item.values[:origin], self.horizon
        models = dict(forecasts)
        if with_baselines:
            references = all_baselines(history, horizon, self.season)
            if self.statistical is not None:
                references.update(self.statistical.forecasts(history, horizon))
            models.update((name, (forecast, {})) for name, forecast in references.items())
        scale = mase_scale(history, self.season)
        for name, (forecast, bands) in models.items():
            block = {"id": [item.id] * horizon, "origin": item.index[[origin] * horizon],
                     "time": item.index[origin : origin + horizon], "step": np.arange(1, horizon + 1),
                     "model": [name] * horizon, "actual": item.values[origin : origin + horizon],
                     "forecast": np.asarray(forecast, dtype=np.float64), "mase_scale": np.full(horizon, scale)}
            for column, values in block.items():
                self.columns[column].append(values)
            self.bands.append({f"{side}_{level}": np.asarray(values, dtype=np.float64)
                               for level, pair in bands.items() for side, values in zip(("lower", "upper"), pair)})

    def frame(self, levels: Any = ()) -> pd.DataFrame:
        """(id, origin, time, step, model, actual, forecast, lower_XX, upper_XX, mase_scale)."""
        data: dict[str, Any] = {}
        for name, parts in self.columns.items():
            if name in ("origin", "time"):
                data[name] = parts[0].append(parts[1:])
            else:
                data[name] = np.concatenate(parts)
        missing = np.full(self.horizon, np.nan)
        bands = {f"{side}_{level}": np.concatenate([block.get(f"{side}_{level}", missing) for block in self.bands])
                 for level in levels for side in ("lower", "upper")}
        return pd.DataFrame({**{name: data[name] for name in self._COLUMNS[:-1]}, **bands,
                             "mase_scale": data["mase_scale"]})


def backtest(
    data: Any,
    forecasters: "Forecaster | dict[str, Forecaster]",
    start: Any = None,
    stride: int | None = None,
    refit: int = 1,
    id_col: str | None = None,
    time_col: str | None = None,
    value_col: str | None = None,
    past_covariates: Any = None,
    future_covariates: Any = None,
    statistical: bool | None = False,
) -> BacktestResult:
    """Rolling-origin forecasts of one or more forecasters, beside the baselines, in one table.

    Args:
        data, id_col, time_col, value_col, past_covariates, future_covariates: as for `fit`.
        forecasters: a Forecaster, or {name: Forecaster} to compare (e.g. "direct" and
            "recursive"); all with the same horizon. They are not changed: each fold fits a clone.
        start: the first origin: a position (int, negative counts from the end), a fraction of
            the time line (0.75), or a time; by default the origin 4 strides before the last.
        stride: steps between origins (default: the horizon, so forecasts do not overlap).
        refit: fit again every `refit` origins; 0 fits once, at the first origin.
        statistical: score AutoETS, AutoARIMA and Theta (statsforecast) beside the baselines:
            True (an error says how to install the `[stats]` extra when missing), None when
            installed, False not. Forecaster.backtest passes the forecaster's own setting.

    Returns:
        BacktestResult: tidy forecasts and per-model metrics; `.summary()` says who wins.

    Example:
        T=144 monthly points, horizon 12, stride 12: origins at positions 84, 96, 108, 120, 132;
        the fold at 96 fits on points 0..95 only and forecasts 96..107.
    """
    if isinstance(forecasters, Backtestable):
        forecasters = {"lstm": forecasters}
    if not isinstance(forecasters, dict) or not forecasters or not all(
            isinstance(f, Backtestable) for f in forecasters.values()):
        raise TypeError("`forecasters` must be a Forecaster or a dict {name: Forecaster}.")
    statistical = resolve(statistical)
    clash = set(forecasters) & set(REFERENCE_NAMES)
    if clash:
        raise ValueError(f"forecaster name(s) {sorted(clash)} are taken by the baselines; choose other names.")
    first = next(iter(forecasters.values()))
    horizon = first.horizon
    if any(f.horizon != horizon for f in forecasters.values()):
        raise ValueError("all forecasters in one backtest need the same horizon.")
    refit = positive_int(refit, "refit", minimum=0, hint="0 fits once, at the first origin.")
    stride = horizon if stride is None else positive_int(stride, "stride")
    series, past_names, future_names = read_series(
        data, id_col, time_col, value_col, past_covariates, future_covariates, first.missing)
    timeline = common_timeline(series)
    needed = max(f.min_length() for f in forecasters.values())
    last = len(timeline) - horizon
    start = _start_position(start, timeline, needed, last, stride)
    if start > last:
        raise ValueError(f"start leaves no origin with horizon={horizon} points after it (the data has "
                         f"{len(timeline)} times); choose an earlier start.")
    origins = list(range(start, last + 1, stride))
    columns = {"id_col": id_col, "time_col": time_col, "value_col": value_col}
    fitted: dict[str, Forecaster] = {}
    rows, used = None, []
    for k, origin in enumerate(origins):
        cut = timeline[origin]
        histories = []  # (history before the origin, the whole series, the origin's position in it)
        for item in series:
            n = position(item.index, cut)
            if n >= 1 and n + horizon <= len(item):
                histories.append((item.head(n, future_rows=horizon), item, n))
        for name, template in forecasters.items():
            if name in fitted and not (refit and k % refit == 0):
                continue
            if any(len(h) >= template.min_length() for h, _, _ in histories):
                fitted[name] = template.clone()
                fitted[name].columns_ = columns
                with warnings.catch_warnings():  # a series too short at early origins is expected
                    warnings.simplefilter("ignore", ShortSeriesWarning)
                    fitted[name]._fit_series([h for h, _, _ in histories], past_names, future_names)
            elif name not in fitted:
                raise ValueError(f"at origin {cut} no series has the {template.min_length()} points fit needs "
                                 f"(lookback + horizon + a validation tail); choose a later start.")
        # Forecast only where the last `lookback` values are known (gaps kept by missing="drop").
        ready = [(h, full, n) for h, full, n in histories
                 if n >= 1 and not np.isnan(full.values[max(0, n - first.lookback) : n]).any()]
        if not ready:
            continue
        used.append(cut)
        if rows is None:
            season = fitted[next(iter(forecasters))].season_
            rows = TidyRows(horizon, season, StatisticalModels(season) if statistical else None)
        for name, model in fitted.items():
            usable = [(h, full, n) for h, full, n in ready if h.id in model.scalers_]
            results = model._predict_series([h for h, _, _ in usable], horizon)
            for (_, full, n), (_, forecast, bands) in zip(usable, results):
                rows.add(full, n, {name: (forecast, bands)}, with_baselines=False)
        for _, full, n in ready:
            rows.add(full, n, {})
    if rows is None:
        raise ValueError("no origin could be forecast: every one has missing values among its last "
                         f"lookback={first.lookback} points; fit with missing='interpolate'.")
    levels = [*sorted({level for f in forecasters.values() for level in f.levels}),  # and the quantile bands
              *dict.fromkeys(band_label(f.quantiles) for f in forecasters.values() if f.quantiles)]
    table = rows.frame(levels)
    names = [*forecasters, *BASELINE_NAMES, *(STATISTICAL_NAMES if statistical else ())]
    metrics = score_table(table, levels).reindex(names)
    reference = fitted[next(iter(forecasters))]
    return BacktestResult(table, metrics, horizon, reference.season_, reference.season_note_, used)


def _start_position(start: Any, timeline: pd.Index, needed: int, last: int, stride: int) -> int:
    if start is None:
        return max(needed, last - 4 * stride)
    if isinstance(start, bool):
        raise TypeError(f"`start` must be a position, a fraction or a time; got {start!r}.")
    if isinstance(start, (int, np.integer)):
        if start < 0:
            return len(timeline) + int(start)
        return int(start) if not pd.api.types.is_integer_dtype(timeline.dtype) else position(timeline, start)
    if isinstance(start, float) and 0 < start < 1:
        return round(start * len(timeline))
    try:
        return position(timeline, start)
    except (TypeError, ValueError):
        raise TypeError(f"`start` must be a position, a fraction in (0, 1) or a time like the index's; "
                        f"got {start!r}.") from None
