"""The baselines every classification score is printed beside: the majority class, 1-NN
Euclidean and 1-NN DTW (the time-series classification literature's standard baseline).

DTW is dtaidistance's C implementation (`dtaidistance.dtw.distance_matrix_fast`, and
`dtw_ndim` for several channels: one warping path for all channels, "dependent" DTW), with no
window, as the UCR archive's "DTW (w=100)" column. Lengths may differ. 1-NN Euclidean needs
equal lengths; it is left out (NaN) otherwise.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

DTW_BUDGET = 2e10  # most warping-matrix cells (pairs x T_a x T_b) computed by default


def majority(train_labels: np.ndarray, cases: int, classes: int) -> np.ndarray:
    """Probabilities (cases, classes): all mass on the most frequent training class."""
    probabilities = np.zeros((cases, classes))
    probabilities[:, np.bincount(train_labels, minlength=classes).argmax()] = 1.0
    return probabilities


def nearest_euclidean(train: Sequence[np.ndarray], train_labels: np.ndarray,
                      cases: Sequence[np.ndarray]) -> np.ndarray | None:
    """The label of each case's nearest training sequence (None when lengths differ)."""
    if len({s.shape for s in [*train, *cases]}) != 1:
        return None
    a = np.stack([s.reshape(-1) for s in train])
    b = np.stack([s.reshape(-1) for s in cases])
    distances = (b**2).sum(axis=1)[:, None] - 2 * b @ a.T + (a**2).sum(axis=1)[None, :]
    return train_labels[distances.argmin(axis=1)]


def dtw_cells(train: Sequence[np.ndarray], cases: Sequence[np.ndarray]) -> float:
    """Warping-matrix cells 1-NN DTW computes: the sum over pairs of T_train x T_case."""
    return float(sum(len(s) for s in train)) * float(sum(len(s) for s in cases))


def nearest_dtw(train: Sequence[np.ndarray], train_labels: np.ndarray, cases: Sequence[np.ndarray]) -> np.ndarray:
    """The label of each case's nearest training sequence under DTW (no window)."""
    from dtaidistance import dtw, dtw_ndim

    channels = train[0].shape[1]
    pool = [np.ascontiguousarray(s[:, 0] if channels == 1 else s, dtype=np.double) for s in [*train, *cases]]
    module = dtw if channels == 1 else dtw_ndim
    block = ((0, len(train)), (len(train), len(pool)))  # rows: training sequences, columns: cases
    distances = module.distance_matrix_fast(pool, block=block, compact=False, parallel=True)
    distances = np.asarray(distances)[: len(train), len(train):]
    return train_labels[np.argmin(distances, axis=0)]
