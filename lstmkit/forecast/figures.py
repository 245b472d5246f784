"""The forecast figure (matplotlib): a series' history, the forecast after it and its interval
bands. `Forecaster.plot()` draws it, and lstmkit.plot re-exports it beside the other figures.
This module loads matplotlib; nothing imports it before a figure is asked for (Forecaster.plot
imports it when called), so `import lstmkit` and `import lstmkit.forecast` never load matplotlib.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def plot_times(values: Any) -> Any:
    """Times matplotlib can draw (an Index): periods become timestamps."""
    index = pd.Index(values)
    return index.to_timestamp() if isinstance(index, pd.PeriodIndex) else index


def interval_levels(columns: Any) -> list[int]:
    """The levels of a forecast's "lower_<level>" columns, widest first: [95, 80]."""
    return sorted((int(c[len("lower_"):]) for c in columns if str(c).startswith("lower_")), reverse=True)


def forecast_plot(history: Any, forecast: Any, ax: Axes | None = None, series_id: Any = None,
                  last: int | None = None) -> Axes:
    """A series' history, the forecast after it and its interval bands (widest palest).

    Args:
        history: pandas Series of the observed values (time index).
        forecast: DataFrame from `Forecaster.predict()`; with an "id" column, pass `series_id`.
        ax: where to draw; a new figure when None.
        series_id: which series of a many-series forecast to draw.
        last: draw only the last `last` points of the history.
    """
    ax = ax or Figure(figsize=(9.0, 4.5), layout="constrained").add_subplot()
    if "id" in forecast.columns:
        forecast = forecast[forecast["id"] == series_id]
    shown = history if last is None else history.iloc[-last:]
    ax.plot(plot_times(shown.index), shown.to_numpy(), color="black", linewidth=1.3, label="history")
    times = plot_times(forecast.index)
    for shade, level in zip((0.18, 0.32, 0.46), interval_levels(forecast.columns)):
        ax.fill_between(times, forecast[f"lower_{level}"], forecast[f"upper_{level}"], color="tab:blue",
                        alpha=shade, linewidth=0, label=f"{level}% interval")
    ax.plot(times, forecast["forecast"], "o-", color="tab:blue", markersize=3, linewidth=1.5, label="forecast")
    ax.axvline(times[0], color="gray", linewidth=0.8, linestyle=":")
    name = history.name if getattr(history, "name", None) is not None else "value"
    label = "" if series_id is None else f" — {series_id}"
    ax.set_title(f"{name}{label}: forecast of the next {len(forecast)} steps")
    ax.set_ylabel(str(name))
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(alpha=0.3)
    return ax
