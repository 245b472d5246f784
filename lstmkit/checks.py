"""Argument checks the task-level models share: each names the argument and what it got."""

from __future__ import annotations

from typing import Any

import numpy as np


def positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """`value` as an int, refused unless it is an integer >= `minimum` (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}; got {value!r}.")
    return int(value)


def fraction(value: Any, name: str) -> float:
    """`value` as a float, refused unless it is in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"`{name}` must be a fraction in [0, 1); got {value!r}.")
    return float(value)


def positive_number(value: Any, name: str) -> float:
    """`value` as a float, refused unless it is a number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"`{name}` must be a positive number; got {value!r}.")
    return float(value)
