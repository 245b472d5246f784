"""Split-conformal prediction intervals, one width per horizon step.

Given absolute residuals |actual - forecast| of n forecasts the model did not train on (the
validation tail, or a backtest), the interval at level α for step h is forecast ± q_h with q_h
the ⌈(n + 1)·α⌉-th smallest residual of step h. If future errors are exchangeable with these,
the interval covers the actual value with probability at least α.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np


def check_levels(levels: Any) -> tuple[int, ...]:
    """Levels as a sorted tuple of whole percents in 1..99 (empty for None)."""
    if levels is None:
        return ()
    if isinstance(levels, (int, float)):
        levels = (levels,)
    values = []
    for level in levels:
        if isinstance(level, bool) or not isinstance(level, (int, float, np.number)) \
                or not 0 < level < 100 or level != int(level):
            raise ValueError(f"`levels` must be whole percents between 1 and 99, e.g. (80, 95); got {levels!r}.")
        values.append(int(level))
    return tuple(sorted(set(values)))


def conformal_quantiles(residuals: np.ndarray, levels: Sequence[int]) -> dict[int, np.ndarray]:
    """Per-step half-widths from residuals (n, H) (NaN entries skipped): {level: (H,)}.

    With too few residuals for a level (⌈(n + 1)·α⌉ > n) the largest residual is used; the
    interval is then narrower than the guarantee needs, so ask for more (a backtest).
    """
    magnitudes = np.abs(np.asarray(residuals, dtype=np.float64))
    quantiles = {}
    for level in levels:
        widths = []
        for column in magnitudes.T:
            column = np.sort(column[~np.isnan(column)])
            if len(column) == 0:
                widths.append(np.nan)
                continue
            rank = min(math.ceil((len(column) + 1) * level / 100), len(column))
            widths.append(column[rank - 1])
        quantiles[level] = np.asarray(widths)
    return quantiles


def residuals_by_step(residuals: Any, steps: Any, horizon: int) -> np.ndarray:
    """Arrange residuals tagged with their horizon step (1..horizon) as columns (n, horizon),
    NaN-padded where a step has fewer."""
    residuals, steps = np.asarray(residuals, dtype=np.float64), np.asarray(steps)
    table = np.full((int(np.bincount(steps).max()), horizon), np.nan)
    for step in range(1, horizon + 1):
        values = residuals[steps == step]
        table[: len(values), step - 1] = values
    return table
