"""What the SequenceClassifier reads: sequences in three layouts, labels of any hashable type,
and the normalisation fitted on the training sequences.

Sequences come as
    an array (samples, timesteps, channels), or (samples, timesteps) for one channel;
    a list of arrays (T_i, channels) or (T_i,), lengths free;
    a long DataFrame, one row per (id, time): `id_col`, `time_col` and one column per channel.
They leave here as a list of float64 arrays (T_i, C), one per sample.
"""

from __future__ import annotations

import math
from typing import Any, Hashable, Sequence

import numpy as np
import pandas as pd

from lstmkit.sequences import is_sequence_list

NORMALIZATIONS = ("auto", "per-channel", "per-series", "none")


class SequenceData:
    """Sequences as float64 arrays (T_i, C) and, for a DataFrame, the id of each."""

    def __init__(self, series: list[np.ndarray], ids: list[Any] | None = None) -> None:
        self.series, self.ids = series, ids

    def __len__(self) -> int:
        return len(self.series)

    @property
    def channels(self) -> int:
        return self.series[0].shape[1]

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(s) for s in self.series], dtype=np.int64)

    @property
    def equal_lengths(self) -> bool:
        return len(set(self.lengths.tolist())) == 1


def read_sequences(x: Any, id_col: str | None = None, time_col: str | None = None,
                   exclude: Sequence[str] = (), argument: str = "x") -> SequenceData:
    """Any accepted layout -> SequenceData; see the module docstring. `exclude`: DataFrame
    columns that are not channels (the label column)."""
    if isinstance(x, pd.DataFrame):
        return _read_frame(x, id_col, time_col, exclude, argument)
    if is_sequence_list(x):
        series = [_sample(item, index, argument) for index, item in enumerate(x)]
    else:
        try:
            array = np.asarray(x)
        except ValueError:
            raise ValueError(f"`{argument}` is ragged: pass a list of per-sample arrays for sequences of "
                             f"different lengths.") from None
        if array.dtype == object or array.ndim not in (2, 3):
            raise ValueError(
                f"`{argument}` must be an array (samples, timesteps, channels) or (samples, timesteps), a list of "
                f"per-sample arrays, or a long DataFrame with id_col and time_col; got "
                f"{type(x).__name__} of shape {getattr(array, 'shape', '?')}.")
        series = [_sample(item, index, argument) for index, item in enumerate(array)]
    if not series:
        raise ValueError(f"`{argument}` holds no sequences.")
    channels = series[0].shape[1]
    for index, item in enumerate(series):
        if item.shape[1] != channels:
            raise ValueError(f"`{argument}` sample {index} has {item.shape[1]} channels but sample 0 has {channels}; "
                             f"every sequence needs the same channels.")
    return SequenceData(series)


def _sample(item: Any, index: int, argument: str) -> np.ndarray:
    array = np.asarray(item)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"`{argument}` sample {index} must hold numbers; got dtype {array.dtype}.")
    array = array.astype(np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or len(array) == 0:
        raise ValueError(f"`{argument}` sample {index} has shape {array.shape}; each must be (timesteps, channels) "
                         f"or (timesteps,), with at least one step.")
    if not np.isfinite(array).all():
        raise ValueError(f"`{argument}` sample {index} holds NaN or infinite values; fill or drop them first "
                         f"(a sequence shorter than the others is given as a shorter array, not NaN padding).")
    return array


def _read_frame(frame: pd.DataFrame, id_col: str | None, time_col: str | None, exclude: Sequence[str],
                argument: str) -> SequenceData:
    if id_col is None or time_col is None:
        raise ValueError(f"`{argument}` is a DataFrame: name its columns with id_col= (which sequence) and "
                         f"time_col= (the order within one); the other numeric columns are the channels.")
    for name, column in (("id_col", id_col), ("time_col", time_col)):
        if column not in frame.columns:
            raise ValueError(f"{name}={column!r} is not a column of `{argument}`; its columns are {list(frame.columns)}.")
    channels = [c for c in frame.columns if c not in (id_col, time_col, *exclude)]
    wrong = [c for c in channels if not pd.api.types.is_numeric_dtype(frame[c])]
    if not channels or wrong:
        raise ValueError(f"`{argument}` needs numeric channel columns beside {id_col!r} and {time_col!r}; "
                         f"{'found none' if not channels else f'{wrong} are not numeric (drop them or pass exclude)'}.")
    ordered = frame.sort_values([time_col], kind="stable")
    ids, series = [], []
    for key, rows in ordered.groupby(id_col, sort=False):
        ids.append(key)
        series.append(_sample(rows[channels].to_numpy(), len(ids) - 1, argument))
    order = {key: position for position, key in enumerate(pd.unique(frame[id_col]))}
    ranked = sorted(range(len(ids)), key=lambda i: order[ids[i]])  # ids in order of first appearance
    return SequenceData([series[i] for i in ranked], [ids[i] for i in ranked])


def read_labels(y: Any, data: SequenceData, frame: Any = None, id_col: str | None = None) -> list[Hashable]:
    """One label per sequence. With a DataFrame, `y` may name its label column (constant per id)
    or be a mapping/Series from id to label."""
    if isinstance(frame, pd.DataFrame):
        if isinstance(y, str) and y in frame.columns:
            per_id = frame.groupby(id_col, sort=False)[y].nunique()
            if (per_id > 1).any():
                raise ValueError(f"label column {y!r} changes within sequence {per_id[per_id > 1].index[0]!r}; "
                                 f"a sequence has one label.")
            y = frame.groupby(id_col, sort=False)[y].first()
        if isinstance(y, (pd.Series, dict)):
            missing = [i for i in data.ids if i not in y]
            if missing:
                raise ValueError(f"`y` has no label for sequence id {missing[0]!r}.")
            y = [y[i] for i in data.ids]
    if isinstance(y, (pd.Series, pd.Index, np.ndarray)):
        y = list(y.tolist() if not isinstance(y, np.ndarray) or y.dtype != object else y)
    if y is None or isinstance(y, (str, bytes)) or not hasattr(y, "__len__"):
        raise TypeError(f"`y` must hold one label per sequence (a list, array or Series); got {type(y).__name__}.")
    labels = list(y)
    if len(labels) != len(data):
        raise ValueError(f"`y` has {len(labels)} labels for {len(data)} sequences; give one label per sequence.")
    for index, label in enumerate(labels):
        if isinstance(label, np.generic):
            labels[index] = label = label.item()  # numpy scalars -> Python values
        if not isinstance(label, Hashable) or label is None or (isinstance(label, float) and math.isnan(label)):
            raise TypeError(f"`y` sample {index} has label {label!r}; labels must be hashable values (str, int, ...), "
                            f"not missing.")
    return labels


def class_order(labels: Sequence[Hashable]) -> list[Hashable]:
    """The classes, sorted when they can be, else in order of first appearance."""
    unique = list(dict.fromkeys(labels))
    try:
        return sorted(unique)
    except TypeError:
        return unique


# -- normalisation --------------------------------------------------------------------------------
class Normalizer:
    """z-normalisation: "per-channel" (one mean and deviation per channel, from the training
    sequences), "per-series" (each sequence by its own, per channel) or "none"."""

    def __init__(self, kind: str, mean: Sequence[float] | None = None, std: Sequence[float] | None = None) -> None:
        self.kind = kind
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.std = None if std is None else np.asarray(std, dtype=np.float64)

    @classmethod
    def fit(cls, kind: str, series: Sequence[np.ndarray]) -> "Normalizer":
        if kind != "per-channel":
            return cls(kind)
        values = np.concatenate(series)
        return cls(kind, values.mean(axis=0), _safe_std(values.std(axis=0)))

    def transform(self, series: Sequence[np.ndarray]) -> list[np.ndarray]:
        if self.kind == "per-channel":
            return [(s - self.mean) / self.std for s in series]
        if self.kind == "per-series":
            return [(s - s.mean(axis=0)) / _safe_std(s.std(axis=0)) for s in series]
        return [np.asarray(s, dtype=np.float64) for s in series]

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "mean": None if self.mean is None else self.mean.tolist(),
                "std": None if self.std is None else self.std.tolist()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "Normalizer":
        return cls(state["kind"], state["mean"], state["std"])


def _safe_std(std: np.ndarray) -> np.ndarray:
    return np.where(std > 1e-12, std, 1.0)  # a constant channel is shifted, not divided by zero


def choose_normalization(series: Sequence[np.ndarray], labels: np.ndarray, max_cases: int = 500) -> tuple[str, str]:
    """("per-channel" or "per-series", why): the one whose leave-one-out 1-NN Euclidean accuracy
    on the training sequences (resampled to their median length when lengths differ) is higher;
    per-channel on a tie, since it keeps each sequence's level and scale."""
    picked = np.linspace(0, len(series) - 1, min(len(series), max_cases)).round().astype(int)
    length = int(np.median([len(series[i]) for i in picked]))
    cases = [_resample(series[i], length) for i in picked]
    truth = labels[picked]
    scores = {}
    for kind in ("per-channel", "per-series"):
        flat = np.stack([s.reshape(-1) for s in Normalizer.fit(kind, cases).transform(cases)])
        distances = (flat**2).sum(1)[:, None] - 2 * flat @ flat.T + (flat**2).sum(1)[None, :]
        np.fill_diagonal(distances, np.inf)
        scores[kind] = float(np.mean(truth[distances.argmin(axis=1)] == truth))
    kind = "per-series" if scores["per-series"] > scores["per-channel"] else "per-channel"
    return kind, (f"leave-one-out 1-NN accuracy on the training sequences: per-channel {scores['per-channel']:.3f}, "
                  f"per-series {scores['per-series']:.3f}")


# -- long sequences ----------------------------------------------------------------------------------
def averaging_factor(lengths: Sequence[int], max_length: int | None) -> int:
    """k, the steps averaged into one: the smallest k that brings the median training length to
    `max_length` or below, when that k is 3 or more; else 1 (a series up to twice max_length is
    read step by step, as is any when max_length is None).

    Example:
        max_length 256: a median of 2000 steps gives k = 8 (250 steps); 427 steps give 1.
    """
    median = float(np.median(lengths))
    if max_length is None or median <= 2 * max_length:
        return 1
    return int(math.ceil(median / max_length))


def average_steps(series: Sequence[np.ndarray], factor: int) -> list[np.ndarray]:
    """Piecewise aggregate approximation: each run of `factor` steps (T, C) replaced by its mean,
    giving ceil(T / factor) steps; the last run may be shorter. factor 1 returns the series as given.

    Example:
        factor 2 on steps [1, 3, 5, 7, 9] gives [2, 6, 9].
    """
    if factor == 1:
        return list(series)
    out = []
    for s in series:
        whole = len(s) // factor * factor
        parts = [s[:whole].reshape(-1, factor, s.shape[1]).mean(axis=1)]
        if whole < len(s):
            parts.append(s[whole:].mean(axis=0, keepdims=True))
        out.append(np.concatenate(parts))
    return out


def _resample(series: np.ndarray, length: int) -> np.ndarray:
    if len(series) == length:
        return series
    old, new = np.linspace(0, 1, len(series)), np.linspace(0, 1, length)
    return np.stack([np.interp(new, old, series[:, c]) for c in range(series.shape[1])], axis=1)
