"""From a series to the LSTM's inputs: per-series scalers, the feature matrix, windows.

The feature matrix of a series has one row per time τ (B windows, L lookback, F features,
H horizon, S the steps the model outputs: H for "direct", 1 for "recursive"):

    [ target[τ], past covariates[τ], future-known covariates[τ + S] ]

so a window of rows o-L .. o-1 (forecast origin o) holds the target and the past-observed
covariates strictly before o, and the future-known covariates up to o+S-1: the times the
model forecasts, which is what "known in advance" means. Training windows are cut from this
matrix batch by batch (lstmkit.data.WindowedSeries), never copied all at once.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from lstmkit.data import MinMaxScaler, StandardScaler, WindowedSeries, window_levels, window_scale
from lstmkit.forecast.padding import narrowed
from lstmkit.forecast.series import SeriesData
from lstmkit.forecast.transforms import LogScaler, choose_transform

SCALERS = {"minmax": MinMaxScaler, "standard": StandardScaler, "none": None}


class Scalers(NamedTuple):
    """The scalers of one series, fitted on its training part (None for scaler="none")."""

    target: Any
    past: Any
    future: Any

    def state(self) -> dict[str, Any]:
        return {name: None if s is None else s.state() for name, s in self._asdict().items()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "Scalers":
        kinds = {c.__name__: c for c in (MinMaxScaler, StandardScaler)}

        def rebuilt(entry: Any) -> Any:
            if entry is None:
                return None
            if entry.get("class_name") == "LogScaler":
                return LogScaler(rebuilt(entry["inner"]))
            if entry.get("class_name") not in kinds:
                raise ValueError(f"unknown scaler {entry.get('class_name')!r} in the saved forecaster.")
            return kinds[entry["class_name"]].from_state(entry)

        return cls(*(rebuilt(state[name]) for name in cls._fields))

    @property
    def logged(self) -> bool:
        """True when the target is forecast on the log scale (lstmkit.forecast.transforms)."""
        return isinstance(self.target, LogScaler)



def fit_scalers(kind: str, item: SeriesData, train_end: int, transform: str = "none", season: int = 1) -> Scalers:
    """Fit the target and covariate scalers on the first `train_end` points only; the target's
    is preceded by a log when `transform` asks for one (see lstmkit.forecast.transforms)."""
    scaler_class = SCALERS[kind]
    logged = choose_transform(transform, item.values[:train_end], season) == "log"
    if scaler_class is None:
        return Scalers(LogScaler() if logged else None, None, None)

    def fitted(columns: np.ndarray, scaler: Any) -> Any:
        if columns.shape[-1] == 0:
            return None
        rows = columns[:train_end]
        rows = rows[~np.isnan(rows).any(axis=1)]
        return scaler.fit(rows if len(rows) else np.ones((1, columns.shape[1])))

    target = LogScaler(scaler_class()) if logged else scaler_class()
    return Scalers(fitted(item.values[:, None], target), fitted(item.past, scaler_class()),
                   fitted(item.future, scaler_class()))


def _apply(scaler: Any, columns: np.ndarray, inverse: bool = False) -> np.ndarray:
    if scaler is None or columns.shape[-1] == 0:
        return columns
    known = ~np.isnan(columns).any(axis=-1)
    out = np.full(columns.shape, np.nan)
    if known.any():
        out[known] = (scaler.inverse_transform if inverse else scaler.transform)(columns[known])
    return out


def scale_target(scalers: Scalers, values: np.ndarray) -> np.ndarray:
    return _apply(scalers.target, np.asarray(values, dtype=np.float64)[..., None])[..., 0]


def unscale_target(scalers: Scalers, values: np.ndarray) -> np.ndarray:
    return _apply(scalers.target, np.asarray(values, dtype=np.float64)[..., None], inverse=True)[..., 0]


def scaled_residuals(scalers: dict[Any, Scalers], ids: list[Any], actual: np.ndarray, forecast: np.ndarray
                     ) -> np.ndarray:
    """actual - forecast (N,) in each row's scaled units (its series' target scaler, log included);
    NaN for a series without scalers."""
    residuals = np.full(len(ids), np.nan)
    for key in dict.fromkeys(ids):
        if key in scalers:
            rows = np.array([i == key for i in ids])
            residuals[rows] = scale_target(scalers[key], actual[rows]) - scale_target(scalers[key], forecast[rows])
    return residuals


def feature_matrix(item: SeriesData, scalers: Scalers, shift: int, rows: int) -> np.ndarray:
    """The (rows, F) scaled feature matrix described above; NaN where a value is unknown."""
    length = len(item)
    matrix = np.full((rows, 1 + item.past.shape[1] + item.future.shape[1]), np.nan)
    matrix[:length, 0] = scale_target(scalers, item.values)
    past_end = 1 + item.past.shape[1]
    matrix[:length, 1:past_end] = _apply(scalers.past, item.past)
    future = _apply(scalers.future, item.future[shift : shift + rows])
    matrix[: len(future), past_end:] = future
    return matrix


def known_origins(matrix: np.ndarray, lookback: int, steps: int) -> np.ndarray:
    """Forecast origins (N,) of the windows of a feature matrix whose values are all known:
    window o reads rows o-lookback .. o-1 (every column) and targets rows o .. o+steps-1 (column 0)."""
    unknown = np.isnan(matrix)
    count = len(matrix) - lookback - steps + 1
    bad = (sliding_window_view(unknown.any(axis=1), lookback)[:count].any(axis=1)
           | sliding_window_view(unknown[lookback:, 0], steps)[:count].any(axis=1))
    return np.flatnonzero(~bad) + lookback


def relative_inputs(inputs: np.ndarray, relative: bool, lengths: np.ndarray | None = None, season: int = 1,
                    steps: int = 1, scaled: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs as float32 for the model, what its `steps` outputs are relative to (N, steps), and
    what they are in units of (N, 1): forecast = output · scale + base.

    With `relative`, the target column is shifted so each window's last value is 0: the
    model learns changes from the forecast origin, not levels, so it can forecast values
    outside the range it was trained on (a trend). Targets are shifted by the same level.
    With a `season` > 1, each window's own seasonal profile is taken out too (lstmkit.data.
    window_levels): the model reads and forecasts a deseasonalised window. `scaled` divides the
    shifted target column by each window's mean absolute step (lstmkit.data.window_scale).
    With `lengths` (windows whose first lengths[i] steps are real), the last real value is the
    level and the padded steps stay 0.
    """
    x = np.array(inputs, dtype=np.float32)
    if not relative:
        return x, np.zeros((len(x), steps), dtype=np.float32), np.ones((len(x), 1), dtype=np.float32)
    shift_in, shift_out = window_levels(x[:, :, 0], steps, season, lengths)
    scale = window_scale(x[:, :, 0], lengths)[:, None] if scaled else np.ones((len(x), 1))
    x[:, :, 0] = (x[:, :, 0] - shift_in) / scale
    if lengths is not None:
        x[np.arange(x.shape[1])[None, :] >= np.asarray(lengths)[:, None], 0] = 0.0
    return x, shift_out.astype(np.float32), scale.astype(np.float32)


def context_inputs(contexts: np.ndarray, relative: bool, lengths: np.ndarray | None, season: int, steps: int,
                   scaled: bool, reads: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """relative_inputs for a network that reads the last `reads` real steps of wider contexts (N, C, F)
    (real steps first, `lengths` (N,) of them; None: all C). The level and seasonal profile come from every
    real step of the context, so a profile can average more seasons than the lookback holds; the window
    scale from the steps read. Returns the inputs (N, reads, F), base and scale as relative_inputs does,
    and the real steps of each input (None: all `reads`)."""
    own, own_lengths = narrowed(contexts, lengths, reads)
    if not (relative and season > 1 and contexts.shape[1] > reads):  # the window holds all its profile reads
        return (*relative_inputs(own, relative, own_lengths, season, steps, scaled), own_lengths)
    x = np.array(own, dtype=np.float32)
    shift_in, shift_out = window_levels(contexts[:, :, 0], steps, season, lengths)
    shifts = narrowed(shift_in[:, :, None], lengths, reads)[0][:, :, 0]
    scale = window_scale(own[:, :, 0], own_lengths)[:, None] if scaled else np.ones((len(x), 1))
    x[:, :, 0] = (own[:, :, 0] - shifts) / scale
    if own_lengths is not None:
        x[np.arange(reads)[None, :] >= own_lengths[:, None], 0] = 0.0
    return x, shift_out.astype(np.float32), scale.astype(np.float32), own_lengths


class ContextWindows(WindowedSeries):
    """Training windows whose seasonal profile reads more history than the network does.

    Each window is cut `lookback` (the context C) rows wide; the network reads its last `reads`
    rows, shifted by the level and profile of the whole known part of the context (context_inputs
    does the same at forecast time, so training and forecasting agree). `first_known` (T,): for each
    row, the first row of the run of rows without unknown values that ends there (padding.first_known);
    a window's profile starts there or at its own start, so the rows before a series, padded in, and
    missing values are never read as history.
    """

    def __init__(self, series: np.ndarray, lookback: int, horizon: int, starts: np.ndarray, reads: int,
                 first_known: np.ndarray, season: int, scaled: bool) -> None:
        super().__init__(series, lookback, horizon, target_columns=[0], relative=True, starts=starts,
                         season=season, scaled=scaled)
        self.reads, self.first_known = reads, first_known

    @property
    def input_shape(self) -> tuple[int, int]:
        return (self.reads, self._n_features)

    def batch(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        starts = self._starts.at(np.asarray(index))
        window = self._read(starts)  # (B, C + H, F)
        context, reads = self.lookback, self.reads
        x = np.ascontiguousarray(window[:, context - reads : context], dtype=np.float32)
        targets = np.array(window[:, context:, 0], dtype=np.float64)  # (B, H)
        history = np.asarray(window[:, :context, 0], dtype=np.float64)
        first = np.maximum(starts, self.first_known[starts + context - 1]) - starts
        scale = window_scale(x[:, :, 0])[:, None] if self.scaled else np.ones((len(x), 1))
        for skip in np.unique(first):
            rows = np.flatnonzero(first == skip)
            shift_in, shift_out = window_levels(history[rows, skip:], self.horizon, self.season)
            x[rows, :, 0] = (x[rows, :, 0] - shift_in[:, -reads:]) / scale[rows]
            targets[rows] = (targets[rows] - shift_out) / scale[rows]
        return x, targets.astype(np.float32)
