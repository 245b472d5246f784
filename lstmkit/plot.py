"""Figures (matplotlib). Functions take results and an optional Axes and return the Axes;
they never call `show()` and never train. `import lstmkit` does not import this module."""

from __future__ import annotations

import os
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from lstmkit.saving import atomic_write


def new_axes(width: float = 9.0, height: float = 4.5) -> Axes:
    """An Axes on a fresh Figure that needs no GUI backend."""
    return Figure(figsize=(width, height), layout="constrained").add_subplot()


def save_figure(ax: Axes, path: str | os.PathLike, dpi: int = 120) -> None:
    """Write the Axes' figure to `path` (PNG by extension), atomically."""
    atomic_write(path, lambda tmp: ax.figure.savefig(tmp, dpi=dpi, format="png"))


def demo_forecast(result: Any, ax: Axes | None = None) -> Axes:
    """The tutorial's plot, in degrees: actual temperatures, training and test predictions.

    Args:
        result: a lstmkit.demo.DemoResult.
        ax: where to draw; a new figure when None.
    """
    ax = ax or new_axes()
    dates = result.dates
    ax.plot(dates, result.actual, "o-", color="black", label="actual", linewidth=1.5)
    ax.plot(dates[result.train_days], result.train_prediction, "s--", color="tab:blue", label="LSTM, training days")
    ax.plot(dates[result.test_days], result.test_prediction, "D-", color="tab:orange", label="LSTM, test days")
    ax.plot(
        dates[result.test_days], result.naive_prediction, ":", color="gray", label="naive (yesterday)"
    )
    boundary = dates[result.split - 1] + (dates[result.split] - dates[result.split - 1]) / 2
    ax.axvline(boundary, color="gray", linewidth=0.8)
    ax.text(boundary, 1.0, " test →", transform=ax.get_xaxis_transform(), va="top", color="gray")
    lstm, naive = result.scores["LSTM"], result.scores["naive"]
    ax.set_title(
        f"Daily temperature: LSTM test MAE {lstm['MAE']:.2f} °C vs naive {naive['MAE']:.2f} °C"
    )
    ax.set_ylabel("temperature (°C)")
    ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    ax.figure.autofmt_xdate()
    return ax
