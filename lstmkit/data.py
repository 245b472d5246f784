"""Windows, time-ordered splits and scalers for sequence data.

The forecasting recipe, done so that nothing looks ahead:

    split = time_split(len(series), 0.67)             # train = series[:split]
    scaler = MinMaxScaler().fit(series[:split])       # fitted on the training part only
    scaled = scaler.transform(series)
    inputs, targets = make_windows(scaled[:split], lookback=3)

Only numpy is imported here (and pyarrow when a Parquet file is read); pandas objects are
accepted wherever an array is.

Series larger than memory stay on disk (lstmkit.storage, exported here): a .npy file or an
np.memmap is read batch by batch with positional reads, a Parquet column through a cached .npy,
and many series in long format by id:

    windows = WindowedSeries(np.load("series.npy", mmap_mode="r"), lookback=24)
    windows = WindowedSeries(open_parquet_series("series.parquet", column="value"), lookback=24)
    windows = WindowedSeries.from_long_parquet(LongParquet("sales.parquet"), lookback=24)
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from lstmkit.checks import number, positive_int
from lstmkit.storage import LongParquet, SeriesFile, open_parquet_series, write_npy

__all__ = ["make_windows", "WindowedSeries", "window_levels", "window_scale", "time_split", "MinMaxScaler", "StandardScaler",
           "SeriesFile", "write_npy", "open_parquet_series", "LongParquet"]


def _as_numeric_array(values: Any, name: str) -> np.ndarray:
    """Return `values` as a non-empty, finite, numeric array (no copy when already one)."""
    array = np.asarray(values)
    if array.dtype.kind not in "iuf":
        raise TypeError(
            f"{name} must hold numbers (int or float), got dtype {array.dtype}. "
            f"Convert it first, e.g. np.asarray({name}, dtype=float), or drop non-numeric columns."
        )
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}); pass at least one value.")
    if array.dtype.kind == "f":
        bad = ~np.isfinite(array)
        if bad.any():
            first_step = int(np.argwhere(bad)[0][0])
            raise ValueError(
                f"{name} contains {int(bad.sum())} NaN or infinite values (first at time step "
                f"{first_step}). Fill or drop them first, e.g. with pandas' interpolate() or dropna()."
            )
    return array


def _target_columns(target_columns: Any, n_features: int) -> list[int]:
    columns = list(target_columns)
    if not columns or any(isinstance(c, bool) or not isinstance(c, numbers.Integral)
                          or not 0 <= c < n_features for c in columns):
        raise ValueError(
            f"target_columns must be a non-empty list of feature indices in 0..{n_features - 1} "
            f"(the series has {n_features} features), got {target_columns!r}."
        )
    return columns


def make_windows(
    series: Any,
    lookback: int,
    horizon: int = 1,
    stride: int = 1,
    target_columns: Sequence[int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut a (T,) or (T, F) series into overlapping (input, target) pairs.

    Each input is `lookback` consecutive steps and its target the `horizon` steps that
    follow, so no input ever sees its own target. Both are read-only views of `series`
    (no copy: memory stays O(T)); copy them before writing or handing them to
    `torch.from_numpy`. The dtype of `series` is kept.

    Args:
        series: values in time order, shape (T,) (one feature) or (T, F).
        lookback: number of past steps in each input window.
        horizon: number of future steps in each target.
        stride: step between the starts of consecutive windows.
        target_columns: feature indices the targets are taken from (default: all F).
            The targets are then views of a (T, len(target_columns)) copy.

    Returns:
        inputs (N, lookback, F) and targets (N, horizon, F or len(target_columns)),
        N = (T - lookback - horizon) // stride + 1.

    Raises:
        TypeError: non-numeric series, or non-integer lookback/horizon/stride.
        ValueError: wrong ndim, NaN/inf values, a series shorter than lookback + horizon,
            lookback/horizon/stride < 1, or target_columns out of range.

    Example:
        T=6, lookback=3, horizon=1 gives [0 1 2]->[3], [1 2 3]->[4], [2 3 4]->[5]:

        >>> inputs, targets = make_windows(np.arange(6), lookback=3)
        >>> inputs[:, :, 0].tolist(), targets[:, :, 0].tolist()
        ([[0, 1, 2], [1, 2, 3], [2, 3, 4]], [[3], [4], [5]])
    """
    values = _as_numeric_array(series, "series")
    if values.ndim not in (1, 2):
        raise ValueError(
            f"series must be 1-D (T,) or 2-D (T, F), got shape {values.shape}. "
            "Pass one series at a time, with features on the last axis."
        )
    lookback = positive_int(lookback, "lookback")
    horizon = positive_int(horizon, "horizon")
    stride = positive_int(stride, "stride")
    if values.ndim == 1:
        values = values[:, np.newaxis]  # (T, 1), still a view
    length, n_features = values.shape
    if length < lookback + horizon:
        raise ValueError(
            f"series has {length} points but lookback={lookback} and horizon={horizon} "
            f"need at least {lookback + horizon}. Pass a longer series or reduce `lookback`."
        )
    target_values = values
    if target_columns is not None:
        target_values = values[:, _target_columns(target_columns, n_features)]

    window = lookback + horizon
    # sliding_window_view puts the window axis last: (T - window + 1, F, window).
    inputs = sliding_window_view(values, window, axis=0)[::stride, :, :lookback]
    targets = sliding_window_view(target_values, window, axis=0)[::stride, :, lookback:]
    return inputs.transpose(0, 2, 1), targets.transpose(0, 2, 1)


def window_levels(target: np.ndarray, steps: int, season: int = 1, lengths: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """What a relative window subtracts from each input step of its target column, and from each
    of the `steps` values after it: (N, L) and (N, steps) for target values (N, L).

    With season 1, the window's last value, everywhere. With a season m, each window is also
    deseasonalised by its own seasonal profile: its last S = L // m whole seasons (S >= 2) are
    cut into blocks of m, each block less its mean, averaged over the blocks, less the ramp a
    linear trend leaves in that average ((last block's mean - first's) / ((S - 1) m) per step)
    and centred. The level is then the last value less its season's share, and step t of the
    window (or k after it) is shifted by level + profile[its place in the season]. A window
    with fewer than two seasons is shifted by its last value alone. Nothing is read past the
    window, so no target leaks into its own inputs.

    Args:
        target: the windows' target values (N, L).
        steps: values after each window to give shifts for.
        season: m; 1 for none.
        lengths: real steps of each window (N,), the first ones (None: all L); shifts of the
            padded steps after them are 0.

    Example:
        >>> window_levels(np.array([[1.0, 2.0, 5.0]]), steps=2)[1].tolist()
        [[5.0, 5.0]]
    """
    target = np.asarray(target, dtype=np.float64)
    count, width = target.shape
    if lengths is None:
        return _window_levels(target, steps, season)
    inputs, outputs = np.zeros((count, width)), np.zeros((count, steps))
    lengths = np.asarray(lengths)
    for length in np.unique(lengths):
        rows = np.flatnonzero(lengths == length)
        inputs[rows, :length], outputs[rows] = _window_levels(target[rows, :length], steps, season)
    return inputs, outputs


def window_scale(target: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
    """Each window's mean absolute step (N,) over its real steps, at least 1e-3: what a scaled
    relative window is divided by, so windows of calm and of volatile series reach a model on one
    scale (as DeepAR scales each window by its mean). The same for every window of a series
    whose values are scaled to about [0, 1]; windows with one real step get 1.

    Example:
        >>> window_scale(np.array([[0.0, 2.0, 1.0]])).tolist()
        [1.5]
    """
    target = np.asarray(target, dtype=np.float64)
    steps = np.abs(np.diff(target, axis=1))
    if lengths is not None:
        steps = np.where(np.arange(steps.shape[1])[None, :] < (np.asarray(lengths) - 1)[:, None], steps, np.nan)
    counts = (~np.isnan(steps)).sum(axis=1)
    totals = np.nansum(steps, axis=1)
    scale = np.divide(totals, counts, out=np.ones(len(target)), where=counts > 0)
    return np.maximum(scale, 1e-3)


def _window_levels(target: np.ndarray, steps: int, season: int) -> tuple[np.ndarray, np.ndarray]:
    count, width = target.shape
    seasons = width // season if season > 1 else 0
    if seasons < 2:
        last = target[:, -1:]
        return np.repeat(last, width, axis=1), np.repeat(last, steps, axis=1)
    blocks = target[:, width - seasons * season :].reshape(count, seasons, season)
    means = blocks.mean(axis=2)
    slope = (means[:, -1] - means[:, 0]) / ((seasons - 1) * season)
    profile = (blocks - means[:, :, None]).mean(axis=1) - slope[:, None] * (np.arange(season) - (season - 1) / 2)
    profile -= profile.mean(axis=1, keepdims=True)
    level = target[:, -1] - profile[:, -1]
    phase_in = (np.arange(width) - width) % season  # the window's last step is the season's last place
    return level[:, None] + profile[:, phase_in], level[:, None] + profile[:, np.arange(steps) % season]


class WindowedSeries:
    """The (input, target) windows of a (T, F) series, cut batch by batch for training.

    `make_windows` hands back views, but a model trains on a contiguous float32 copy of them:
    lookback times the series. A WindowedSeries keeps only the series and where its windows
    start (as runs of consecutive starts, not one number per window), and copies out just the
    windows of one batch. Training memory is that of the series, or of one batch when the series
    stays on disk: a `SeriesFile`, or an `np.memmap`, which is read through a SeriesFile so the
    pages read never pile up in resident memory. `Sequential.fit(windows)`, `evaluate` and
    `predict` take it in place of (x, y).

    Args:
        series: values in time order, shape (T,) (one feature) or (T, F): an array, an
            np.memmap or a SeriesFile, never copied.
        lookback: number of past steps in each input window.
        horizon: number of future steps in each target.
        target_columns: feature indices the targets are taken from (default: all F).
        relative: shift each window so its last input value of every target column is 0, in
            the inputs and in the targets: the model learns changes from the forecast origin.
        season: with `relative`, also take each window's own seasonal profile out of its target
            columns, inputs and targets alike (`window_levels`); 1 for none.
        scaled: with `relative`, also divide each window's target columns, inputs and targets alike,
            by the window's mean absolute step (`window_scale`).
        starts: the time step each window starts at (default: every window, 0..T-lookback-horizon).
            Window k reads rows starts[k] .. starts[k]+lookback-1 and targets the `horizon` after.

    Raises:
        TypeError: non-numeric series, or non-integer lookback/horizon/starts.
        ValueError: wrong ndim, NaN/inf values, a series shorter than lookback + horizon,
            target_columns or starts out of range.

    Example:
        T=6, lookback=3, horizon=1, starts=[0, 2] gives [0 1 2]->[3] and [2 3 4]->[5]:

        >>> windows = WindowedSeries(np.arange(6.0), lookback=3, starts=[0, 2])
        >>> x, y = windows.batch(np.array([0, 1]))
        >>> x[:, :, 0].tolist(), y.tolist()
        ([[0.0, 1.0, 2.0], [2.0, 3.0, 4.0]], [[3.0], [5.0]])

        A series larger than memory, on disk: resident memory stays that of a batch.

        >>> windows = WindowedSeries(np.load("series.npy", mmap_mode="r"), lookback=24)
    """

    def __init__(
        self,
        series: Any,
        lookback: int,
        horizon: int = 1,
        target_columns: Sequence[int] | None = None,
        relative: bool = False,
        starts: Any = None,
        season: int = 1,
        scaled: bool = False,
    ) -> None:
        values = _series_values(series)
        self.lookback = positive_int(lookback, "lookback")
        self.horizon = positive_int(horizon, "horizon")
        length = len(values)
        n_features = values.n_features if isinstance(values, SeriesFile) else values.shape[1]
        if length < self.lookback + self.horizon:
            raise ValueError(
                f"series has {length} points but lookback={self.lookback} and horizon={self.horizon} "
                f"need at least {self.lookback + self.horizon}. Pass a longer series or reduce `lookback`."
            )
        columns = list(range(n_features)) if target_columns is None else _target_columns(target_columns, n_features)
        last_start = length - self.lookback - self.horizon
        if starts is None:
            self._starts = _WindowStarts(np.array([0]), np.array([last_start + 1]))
        else:
            starts = np.asarray(starts)
            if starts.ndim != 1 or (starts.size and starts.dtype.kind not in "iu"):
                raise TypeError(f"starts must be a 1-D array of integer time steps, got {starts.dtype} {starts.shape}.")
            if starts.size and not (0 <= starts.min() and starts.max() <= last_start):
                raise ValueError(
                    f"starts must lie in 0..{last_start} (the last window of {length} points with "
                    f"lookback={self.lookback} and horizon={self.horizon}), got {starts.min()}..{starts.max()}."
                )
            self._starts = _WindowStarts.listed(starts.astype(np.int64, copy=False))
        _check_finite_in_chunks(values)
        self.series, self.target_columns, self.relative = values, columns, bool(relative)
        self.season, self.scaled = positive_int(season, "season"), bool(scaled)
        self._n_features = n_features
        if isinstance(values, np.ndarray):
            # (T - lookback - horizon + 1, F, lookback + horizon): a view, nothing is copied here.
            self._windows = sliding_window_view(values, self.lookback + self.horizon, axis=0)

    @classmethod
    def from_concatenated(
        cls,
        series: Any,
        lengths: Any,
        lookback: int,
        horizon: int = 1,
        target_columns: Sequence[int] | None = None,
        relative: bool = False,
    ) -> "WindowedSeries":
        """The windows of several series stored one after another, none crossing from one into the next.

        Memory is one number per series, however many windows there are.

        Args:
            series: the series one after another, shape (sum of lengths,) or (sum of lengths, F),
                as for WindowedSeries.
            lengths: points of each series, in order: series k is rows offsets[k] .. offsets[k+1]-1,
                offsets = [0, *cumsum(lengths)].
            lookback, horizon, target_columns, relative: as for WindowedSeries.

        Raises:
            TypeError, ValueError: as for WindowedSeries, and lengths that are not positive integers,
                do not add up to the series' length, or leave a series shorter than lookback + horizon.

        Example:
            Series [0 1 2 3] and [10 11 12], lookback=2: [0 1]->[2], [1 2]->[3], [10 11]->[12].

            >>> windows = WindowedSeries.from_concatenated(np.r_[0.0, 1, 2, 3, 10, 11, 12], [4, 3], 2)
            >>> windows.batch(np.arange(3))[1].tolist()
            [[2.0], [3.0], [12.0]]
        """
        lookback, horizon = positive_int(lookback, "lookback"), positive_int(horizon, "horizon")
        counts = np.asarray(lengths)
        if counts.ndim != 1 or counts.size == 0 or counts.dtype.kind not in "iu" or counts.min() < 1:
            raise TypeError(f"lengths must be a non-empty 1-D array of positive integers (points per series), "
                            f"got {counts.dtype} {counts.shape}.")
        if counts.sum() != len(series):
            raise ValueError(f"lengths add up to {counts.sum()} points but the series has {len(series)}; "
                             "pass the length of every series stored in it, in order.")
        short = np.flatnonzero(counts < lookback + horizon)
        if short.size:
            raise ValueError(
                f"series {short[0]} has {counts[short[0]]} points ({short.size} of {counts.size} series are that "
                f"short) but lookback={lookback} and horizon={horizon} need at least {lookback + horizon}. "
                "Reduce `lookback`, or leave the short series out."
            )
        windows = cls(series, lookback, horizon, target_columns, relative)
        windows._starts = _WindowStarts.over_series(counts.astype(np.int64), lookback + horizon)
        return windows

    @classmethod
    def from_long_parquet(cls, table: LongParquet, lookback: int, horizon: int = 1, relative: bool = False
                          ) -> "WindowedSeries":
        """The windows of every series of a long-format Parquet file, none crossing from one into the next.

        The lengths are checked first (reading only the id column); then the series are written
        one after another into the table's .npy cache (`LongParquet.to_npy`, once) and cut batch
        by batch from there: memory is one number per series and one batch, however large the file.
        Windows come series by series in `table.ids()` order.

        Raises:
            TypeError: `table` is not a LongParquet.
            ValueError: a series shorter than lookback + horizon (named by id), or what
                `LongParquet.to_npy` refuses: missing or NaN values, a time repeated within one series.

        Example:
            >>> sales = LongParquet("sales.parquet", id_col="store", time_col="date", value_col="sales")
            >>> windows = WindowedSeries.from_long_parquet(sales, lookback=28, horizon=7)
            >>> model.fit(windows, epochs=1, batch_size=256, steps_per_epoch=1000)
        """
        if not isinstance(table, LongParquet):
            raise TypeError(f"table must be a lstmkit.data.LongParquet, got {type(table).__name__}; "
                            "open the file with LongParquet(path, id_col=..., time_col=..., value_col=...).")
        lookback, horizon = positive_int(lookback, "lookback"), positive_int(horizon, "horizon")
        lengths = table.lengths()
        short = [series_id for series_id, points in lengths.items() if points < lookback + horizon]
        if short:
            raise ValueError(
                f"{len(short)} of {len(lengths)} series in {table.path.name} have fewer than "
                f"lookback={lookback} + horizon={horizon} = {lookback + horizon} points, e.g. "
                f"{table.id_col}={short[0]!r} with {lengths[short[0]]}. Reduce `lookback`, or leave "
                "those series out of the file."
            )
        values, counts = table.to_npy()
        return cls.from_concatenated(values, counts, lookback, horizon, relative=relative)

    def __len__(self) -> int:
        return len(self._starts)

    @property
    def input_shape(self) -> tuple[int, int]:
        """One window's input: (lookback, F)."""
        return (self.lookback, self._n_features)

    @property
    def target_shape(self) -> tuple[int]:
        """One window's target, flattened: (horizon * len(target_columns),), time-major."""
        return (self.horizon * len(self.target_columns),)

    def batch(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The windows at positions `index` (B,): inputs (B, lookback, F) and targets
        (B, horizon * len(target_columns)), both new float32 arrays."""
        window = self._read(self._starts.at(np.asarray(index)))  # (B, lookback + horizon, F)
        x = np.ascontiguousarray(window[:, : self.lookback], dtype=np.float32)
        targets = window[:, self.lookback :, self.target_columns]  # (B, H, K)
        if self.relative and (self.season > 1 or self.scaled):
            targets = np.array(targets, dtype=np.float64)
            for k, column in enumerate(self.target_columns):
                shift_in, shift_out = window_levels(x[:, :, column], self.horizon, self.season)
                scale = window_scale(x[:, :, column])[:, None] if self.scaled else 1.0
                x[:, :, column] = ((x[:, :, column] - shift_in) / scale).astype(np.float32)
                targets[:, :, k] = (targets[:, :, k] - shift_out) / scale
        elif self.relative:
            level = x[:, -1, self.target_columns].copy()  # (B, K): each window's last value
            x[:, :, self.target_columns] -= level[:, np.newaxis, :]
            targets = targets - level[:, np.newaxis, :]
        return x, targets.reshape(len(x), *self.target_shape).astype(np.float32)

    def subset(self, positions: Any) -> "WindowedSeries":
        """The windows at `positions` (a slice, integer positions or a boolean mask), e.g. a
        validation tail, over the same series."""
        part = copy.copy(self)  # shares the series and its window view
        part._starts = self._starts.subset(positions)
        return part

    def _read(self, starts: np.ndarray) -> np.ndarray:
        """The lookback + horizon rows from each of `starts` (B,): (B, lookback + horizon, F)."""
        if isinstance(self.series, SeriesFile):
            return self.series.read_windows(starts, self.lookback + self.horizon)
        return self._windows[starts].transpose(0, 2, 1)  # fancy indexing copies just these windows


def _series_values(series: Any) -> np.ndarray | SeriesFile:
    """`series` as a (T, F) array view, or a SeriesFile when it lives in a file: a C-contiguous
    np.memmap is read positionally from its file, so the pages read do not stay resident."""
    if isinstance(series, np.memmap) and series.flags.c_contiguous and series.mode != "c":
        series = SeriesFile.from_memmap(series)
    if isinstance(series, SeriesFile):
        return series
    values = series if isinstance(series, np.ndarray) else np.asarray(series)
    if values.dtype.kind not in "iuf":
        raise TypeError(f"series must hold numbers (int or float), got dtype {values.dtype}.")
    if values.ndim not in (1, 2):
        raise ValueError(f"series must be 1-D (T,) or 2-D (T, F), got shape {values.shape}.")
    return values[:, np.newaxis] if values.ndim == 1 else values  # (T, 1), a view


class _WindowStarts:
    """Where each window starts, as runs of consecutive time steps: the windows bounds[r] ..
    bounds[r+1]-1 of run r start at first[r], first[r] + 1, ... Every window of a series is
    one run, so memory is per run, not per window."""

    def __init__(self, first: np.ndarray, counts: np.ndarray) -> None:
        self.first = first.astype(np.int64, copy=False)
        self.bounds = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])

    @classmethod
    def listed(cls, starts: np.ndarray) -> "_WindowStarts":
        """`starts` (N,) in their order; each run of consecutive values becomes one run."""
        opens = np.ones(len(starts), dtype=bool)
        opens[1:] = np.diff(starts) != 1
        firsts = np.flatnonzero(opens)
        return cls(starts[firsts], np.diff(np.r_[firsts, len(starts)]))

    @classmethod
    def over_series(cls, lengths: np.ndarray, window: int) -> "_WindowStarts":
        """Every window of series of `lengths` (S,) points stored one after another."""
        return cls(np.cumsum(lengths) - lengths, lengths - window + 1)

    def __len__(self) -> int:
        return int(self.bounds[-1])

    def at(self, index: np.ndarray) -> np.ndarray:
        """The start of each window in `index` (B,), positions in 0..len-1."""
        if len(self.first) == len(self):  # every run is one window: the starts are listed one by one
            return self.first[index]
        run = np.searchsorted(self.bounds, index, side="right") - 1
        return self.first[run] + (index - self.bounds[run])

    def subset(self, positions: Any) -> "_WindowStarts":
        """The starts at `positions`, a slice, integer positions (negative from the end) or a boolean mask."""
        if isinstance(positions, slice):
            begin, end, step = positions.indices(len(self))
            if step == 1:
                return self._between(begin, max(begin, end))
            return _WindowStarts.listed(self.at(np.arange(begin, end, step)))
        index = np.asarray(positions)
        if index.dtype == bool:
            if index.shape != (len(self),):
                raise IndexError(f"a boolean mask of windows needs shape ({len(self)},), got {index.shape}.")
            index = np.flatnonzero(index)
        elif index.dtype.kind not in "iu" or index.ndim != 1:
            raise IndexError(f"positions must be a slice, 1-D integer positions or a boolean mask, "
                             f"got {index.dtype} {index.shape}.")
        if index.size and not (-len(self) <= index.min() and index.max() < len(self)):
            raise IndexError(f"positions must lie in -{len(self)}..{len(self) - 1}, got {index.min()}..{index.max()}.")
        return _WindowStarts.listed(self.at(np.where(index < 0, index + len(self), index)))

    def _between(self, begin: int, end: int) -> "_WindowStarts":
        """Windows begin .. end-1: the runs overlapping them, trimmed at both ends."""
        first_run = np.searchsorted(self.bounds, begin, side="right") - 1
        last_run = np.searchsorted(self.bounds, end, side="left")  # runs first_run .. last_run - 1
        bounds = np.clip(self.bounds[first_run : last_run + 1], begin, end)
        first = self.first[first_run:last_run] + (bounds[:-1] - self.bounds[first_run:last_run])
        return _WindowStarts(first, np.diff(bounds))


def _check_finite_in_chunks(values: np.ndarray | SeriesFile, rows: int = 1 << 20) -> None:
    """Raise on NaN/inf in `values` (T, F), reading it a chunk of rows at a time (a file stays on disk)."""
    if values.dtype.kind != "f":
        return
    for start in range(0, len(values), rows):
        stop = min(start + rows, len(values))
        chunk = values.read_rows(start, stop) if isinstance(values, SeriesFile) else values[start:stop]
        bad = ~np.isfinite(chunk)
        if bad.any():
            first_step = start + int(np.argwhere(bad)[0][0])
            raise ValueError(
                f"series contains NaN or infinite values (first at time step {first_step}). "
                "Fill or drop them first, e.g. with pandas' interpolate() or dropna()."
            )


def time_split(n: int, train_fraction: float = 0.67) -> int:
    """Return the index that splits `n` time-ordered points into train and test parts.

    The training part is the first `round(n * train_fraction)` points (Python's `round`,
    halves go to the even integer); the test part is everything after, never shuffled.

    Args:
        n: number of points in the series (at least 2).
        train_fraction: share of the points for training, strictly between 0 and 1.

    Returns:
        split, with 1 <= split <= n - 1: train = series[:split], test = series[split:].

    Raises:
        TypeError: n is not an integer.
        ValueError: n < 2, train_fraction outside (0, 1), or a part would be empty.

    Example:
        n=20, train_fraction=0.67 gives round(13.4) = 13: points 0..12 train, 13..19 test.
    """
    n = positive_int(n, "n", minimum=2, hint="Each part needs a point.")
    number(train_fraction, "train_fraction", 0, 1, above_minimum=True, hint="Pass e.g. train_fraction=0.67.")
    split = round(n * train_fraction)
    if not 1 <= split <= n - 1:
        part = "training" if split < 1 else "test"
        raise ValueError(
            f"train_fraction={train_fraction} of n={n} points leaves the {part} part empty "
            f"(split at {split}). Pass a train_fraction nearer 0.5 or a longer series."
        )
    return split


class _Scaler:
    """Per-feature scaling, fitted on the training part only. Features are the last axis;
    a 1-D array is one feature. Fitted values are plain floats, so `state()` is JSON."""

    _fitted_names: tuple[str, str]

    def fit(self, data: Any) -> "_Scaler":
        """Learn the per-feature statistics of `data` (..., F); returns self."""
        array = _as_numeric_array(data, "data").astype(np.float64)
        array = array.reshape(-1, 1 if array.ndim == 1 else array.shape[-1])  # (samples, F)
        self._fit(array)
        return self

    def transform(self, data: Any) -> np.ndarray:
        """Scale `data` (..., F) with the fitted statistics; same shape, float dtype."""
        array = self._checked(data)
        return self._cast(self._forward(array), array)

    def fit_transform(self, data: Any) -> np.ndarray:
        """`fit(data)` then `transform(data)`."""
        return self.fit(data).transform(data)

    def inverse_transform(self, data: Any) -> np.ndarray:
        """Undo `transform`: map scaled values (e.g. predictions) back to original units."""
        array = self._checked(data)
        return self._cast(self._backward(array), array)

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "_Scaler":
        return cls(**config)

    def state(self) -> dict[str, Any]:
        """The config and the fitted statistics as plain JSON values (lists of floats)."""
        self._require_fitted()
        state: dict[str, Any] = {"class_name": type(self).__name__, "config": self.get_config()}
        for name in self._fitted_names:
            state[name] = getattr(self, name).tolist()
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "_Scaler":
        """Rebuild a fitted scaler from `state()` (e.g. after a JSON round trip)."""
        if state.get("class_name") != cls.__name__:
            raise ValueError(
                f"state is for {state.get('class_name')!r}, not {cls.__name__!r}. "
                f"Load it with {state.get('class_name')}.from_state(state)."
            )
        scaler = cls.from_config(state["config"])
        first, second = (np.asarray(state[name], dtype=np.float64) for name in cls._fitted_names)
        if first.ndim != 1 or first.shape != second.shape:
            raise ValueError(
                f"state has {cls._fitted_names} of shapes {first.shape} and {second.shape}; "
                "expected two lists of the same length, one number per feature."
            )
        scaler._fit_from(first, second)
        return scaler

    def _require_fitted(self) -> None:
        if not hasattr(self, self._fitted_names[0]):
            raise ValueError(
                f"{type(self).__name__} is not fitted yet. Call fit() on the training part "
                "first (e.g. scaler.fit(series[:split])), then transform()."
            )

    def _checked(self, data: Any) -> np.ndarray:
        self._require_fitted()
        array = _as_numeric_array(data, "data")
        n_features = 1 if array.ndim <= 1 else array.shape[-1]
        expected = getattr(self, self._fitted_names[0]).shape[0]
        if n_features != expected:
            raise ValueError(
                f"{type(self).__name__} was fitted on {expected} feature(s) but data has shape "
                f"{array.shape} ({n_features} on the last axis). Pass data with the same features, "
                "or fit a new scaler."
            )
        return array

    @staticmethod
    def _cast(result: np.ndarray, like: np.ndarray) -> np.ndarray:
        # Keep float32 inputs float32 (what the model trains on); ints become float64.
        return result.astype(like.dtype if like.dtype.kind == "f" else np.float64, copy=False)


class MinMaxScaler(_Scaler):
    """Scale each feature linearly so the training minimum maps to `feature_range[0]`
    and the training maximum to `feature_range[1]`. A constant feature gets scale 1
    (it maps to `feature_range[0]`, no division by zero). Test values outside the
    training range map outside `feature_range`, as they should.

    Example:
        >>> MinMaxScaler().fit([10.0, 20.0]).transform([10.0, 15.0, 30.0]).tolist()
        [0.0, 0.5, 2.0]
    """

    _fitted_names = ("data_min", "data_max")

    def __init__(self, feature_range: Sequence[float] = (0.0, 1.0)) -> None:
        if len(feature_range) != 2 or not feature_range[0] < feature_range[1]:
            raise ValueError(
                f"feature_range must be (low, high) with low < high, got {feature_range!r}. "
                "Pass e.g. feature_range=(0, 1) or (-1, 1)."
            )
        self.feature_range = (float(feature_range[0]), float(feature_range[1]))

    def get_config(self) -> dict[str, Any]:
        return {"feature_range": self.feature_range}

    def _fit(self, array: np.ndarray) -> None:
        self._fit_from(array.min(axis=0), array.max(axis=0))

    def _fit_from(self, data_min: np.ndarray, data_max: np.ndarray) -> None:
        self.data_min, self.data_max = data_min, data_max
        data_range = np.where(data_max > data_min, data_max - data_min, 1.0)
        self.scale = (self.feature_range[1] - self.feature_range[0]) / data_range

    def _forward(self, array: np.ndarray) -> np.ndarray:
        return (array - self.data_min) * self.scale + self.feature_range[0]

    def _backward(self, array: np.ndarray) -> np.ndarray:
        return (array - self.feature_range[0]) / self.scale + self.data_min


class StandardScaler(_Scaler):
    """Scale each feature to zero mean and unit standard deviation (population std,
    ddof=0, as scikit-learn) over the training data. A constant feature gets scale 1.

    Example:
        >>> StandardScaler().fit([1.0, 3.0]).transform([1.0, 2.0, 5.0]).tolist()
        [-1.0, 0.0, 3.0]
    """

    _fitted_names = ("mean", "scale")

    def _fit(self, array: np.ndarray) -> None:
        # Test constancy exactly: the std of a constant float column can come out as 1e-17.
        constant = array.min(axis=0) == array.max(axis=0)
        mean = np.where(constant, array[0], array.mean(axis=0))
        self._fit_from(mean, np.where(constant, 1.0, array.std(axis=0)))

    def _fit_from(self, mean: np.ndarray, scale: np.ndarray) -> None:
        self.mean, self.scale = mean, scale

    def _forward(self, array: np.ndarray) -> np.ndarray:
        return (array - self.mean) / self.scale

    def _backward(self, array: np.ndarray) -> np.ndarray:
        return array * self.scale + self.mean
