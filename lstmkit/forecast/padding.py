"""Series shorter than lookback + horizon in a global model: windows with fewer real steps.

A window at forecast origin o of a series reads rows max(0, o - L) .. o - 1 of its feature
matrix (L lookback). Near the start of a short series it has fewer than L real steps: they are
put first and the rest of the window is zeros, with `lengths` saying where the real steps end.
The LSTM skips the padded steps (lstmkit's masking path), so the window is read exactly as a
shorter sequence. A series needs MIN_CONTEXT values before a full target to give a window; one
with fewer points is not trained on and is forecast by seasonal naive (naive when it is shorter
than a season).

Example:
    matrix rows [0 1 2 3 4], L = 4, steps 1, origins [2, 4]:
    inputs [[0 1 _ _], [0 1 2 3]], lengths [2, 4], targets [[2], [4]].
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np

from lstmkit.forecast.series import SeriesData

MIN_CONTEXT = 2  # real steps a window needs


class ShortSeriesWarning(UserWarning):
    """Some series are too short for any window: they get a baseline forecast."""


def padded_contexts(matrix: np.ndarray, origins: Sequence[int], lookback: int, reads: int | None = None
                    ) -> tuple[np.ndarray, np.ndarray | None]:
    """Inputs at each origin (N, L, F), real steps first, and their lengths (N,) (None when every
    window has all L steps). With `reads` < L (a context wider than what the network reads: the
    steps before the last `reads` only inform the seasonal profile), a window's steps start after
    the last row with an unknown value before its last `reads`, so a profile reads known rows only."""
    origins = np.asarray(origins, dtype=np.int64)
    lengths = np.minimum(origins, lookback)
    if reads is not None and reads < lookback and len(origins):
        after_unknown = first_known(~np.isnan(matrix).any(axis=1))
        edges = np.clip(origins - reads - 1, 0, len(matrix) - 1)  # the last row before the `reads` steps
        earliest = np.where(origins - reads >= 1, after_unknown[edges], 0)
        lengths = np.maximum(np.minimum(lengths, origins - earliest), np.minimum(origins, reads))
    contexts = np.zeros((len(origins), lookback, matrix.shape[1]))
    for k, (origin, length) in enumerate(zip(origins, lengths)):
        contexts[k, :length] = matrix[origin - length : origin]
    return contexts, None if (lengths == lookback).all() else lengths


def first_known(known: np.ndarray) -> np.ndarray:
    """For each row of a (T,) mask of rows without unknown values, the first row of the known run
    that ends there (the row after it when the row itself is unknown)."""
    return np.maximum.accumulate(np.where(known, 0, np.arange(len(known)) + 1))


def window_origins(matrix: np.ndarray, lookback: int, steps: int) -> np.ndarray:
    """Origins (N,) whose inputs (up to L real steps, at least MIN_CONTEXT) and `steps` targets
    are all known (no NaN in the matrix rows they read)."""
    unknown_rows = np.isnan(matrix).any(axis=1)
    unknown_target = np.isnan(matrix[:, 0])
    origins = [o for o in range(MIN_CONTEXT, len(matrix) - steps + 1)
               if not unknown_rows[max(0, o - lookback) : o].any() and not unknown_target[o : o + steps].any()]
    return np.asarray(origins, dtype=np.int64)


def padded_windows(matrix: np.ndarray, origins: np.ndarray, lookback: int, steps: int, reads: int | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inputs (N, L, F), targets (N, steps) from column 0, lengths (N,)) at `origins` (`reads`: as
    for padded_contexts)."""
    contexts, lengths = padded_contexts(matrix, origins, lookback, reads)
    targets = np.stack([matrix[o : o + steps, 0] for o in origins]) if len(origins) else np.zeros((0, steps))
    return contexts, targets, np.full(len(origins), lookback) if lengths is None else lengths


def narrowed(contexts: np.ndarray, lengths: np.ndarray | None, lookback: int
             ) -> tuple[np.ndarray, np.ndarray | None]:
    """The last `lookback` real steps of each window (N, L, F) (real steps first, as
    padded_contexts lays them out) and their lengths (None when all are full)."""
    if lookback == contexts.shape[1] and lengths is None:
        return contexts, None
    if lengths is None:
        return contexts[:, contexts.shape[1] - lookback :], None
    kept = np.minimum(lengths, lookback)
    out = np.zeros((len(contexts), lookback, contexts.shape[2]), dtype=contexts.dtype)
    for k, (length, keep) in enumerate(zip(lengths, kept)):
        out[k, :keep] = contexts[k, length - keep : length]
    return out, None if (kept == lookback).all() else kept


def split_short(series: list[SeriesData], steps: int, season: int) -> list[SeriesData]:
    """The series long enough for a window; warns, listing the others (forecast by seasonal naive)."""
    needed = MIN_CONTEXT + steps
    short = [item for item in series if len(item) < needed]
    if short:
        names = ", ".join(repr(item.id) if item.id is not None else "the series" for item in short[:10])
        more = f" and {len(short) - 10} more" if len(short) > 10 else ""
        warnings.warn(
            f"{len(short)} of {len(series)} series have fewer than {needed} points ({MIN_CONTEXT} values before "
            f"a target of {steps}), too few for any training window: {names}{more}. They are not trained on; "
            f"their forecasts are seasonal naive (season {season}; naive when shorter than a season).",
            ShortSeriesWarning, stacklevel=4)
    return [item for item in series if len(item) >= needed]


def too_short(item: Any, steps: int) -> bool:
    """True when `item` (a series) is forecast by the baseline rather than the network."""
    return len(item) < MIN_CONTEXT + steps
