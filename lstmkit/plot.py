"""Figures (matplotlib). Functions take results and an optional Axes and return the Axes;
they never call `show()` and never train. `import lstmkit` does not import this module.

The figure a task model draws of itself lives in its own row, so that its `plot()` method
imports nothing above it: `forecast_plot` in lstmkit.forecast.figures (Forecaster.plot) and
`confusion_matrix_plot` in lstmkit.classify.figures (SequenceClassifier.plot). Both are
importable from here too, beside the figures that combine them."""

from __future__ import annotations

import os
from typing import Any

from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure

from lstmkit.atomic import atomic_write
from lstmkit.classify.figures import confusion_matrix_plot
from lstmkit.forecast.figures import forecast_plot, interval_levels, plot_times

__all__ = [  # forecast_plot and confusion_matrix_plot are their rows' figures, importable from here too
    "new_axes", "save_figure", "demo_forecast", "forecast_plot", "backtest_plot", "training_curves", "forecast_grid",
    "gates", "confusion_matrix_plot", "attention_heatmap",
]


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


def backtest_plot(result: Any, ax: Axes | None = None, series_id: Any = None, model: str | None = None,
                  value_name: str = "value") -> Axes:
    """Actual values and the forecasts made at each backtest origin (origins dotted), with the
    model's widest interval and the seasonal naive forecast for comparison.

    Args:
        result: a lstmkit.forecast.BacktestResult.
        ax: where to draw; a new figure when None.
        series_id: which series (default: the first).
        model: which forecaster's rows (default: the first one in the metrics table).
        value_name: what the series measures, for the y axis (e.g. the forecast column's name).
    """
    ax = ax or new_axes()
    frame = result.forecasts
    series_id = frame["id"].iloc[0] if series_id is None else series_id
    frame = frame[frame["id"].isna()] if series_id is None else frame[frame["id"] == series_id]
    model = model or result.metrics.index[0]
    actual = frame[frame["model"] == model].drop_duplicates("time").sort_values("time")
    ax.plot(plot_times(actual["time"]), actual["actual"], color="black", linewidth=1.3, label="actual")
    levels = interval_levels(frame.columns)
    for k, (origin, rows) in enumerate(frame[frame["model"] == model].groupby("origin", sort=True)):
        times = plot_times(rows["time"])
        if levels:
            ax.fill_between(times, rows[f"lower_{levels[0]}"], rows[f"upper_{levels[0]}"], color="tab:blue",
                            alpha=0.2, linewidth=0, label=f"{levels[0]}% interval" if k == 0 else None)
        ax.plot(times, rows["forecast"], color="tab:blue", linewidth=1.5, label=model if k == 0 else None)
        snaive = frame[(frame["model"] == "seasonal_naive") & (frame["origin"] == origin)]
        ax.plot(plot_times(snaive["time"]), snaive["forecast"], color="tab:orange", linewidth=1, linestyle="--",
                label="seasonal naive" if k == 0 else None)
        ax.axvline(times[0], color="gray", linewidth=0.6, linestyle=":")
    metrics = result.metrics
    ax.set_title(f"Backtest, {len(result.origins)} origins: {model} MASE {metrics.loc[model, 'MASE']:.2f}, "
                 f"seasonal naive {metrics.loc['seasonal_naive', 'MASE']:.2f}")
    ax.set_ylabel(str(value_name))
    ax.set_xlabel("time")
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(alpha=0.3)
    return ax


def training_curves(histories: Any, ax: Axes | None = None) -> Axes:
    """Training and validation loss per epoch (log scale), one pair of lines per model.

    Args:
        histories: a History, a list of them, or a fitted Forecaster (its `histories_`, with
            the epoch whose weights it kept dotted).
        ax: where to draw; a new figure when None.
    """
    ax = ax or new_axes()
    best_epochs = getattr(histories, "best_epochs_", [])  # a Forecaster keeps these weights
    histories = getattr(histories, "histories_", histories)
    if not isinstance(histories, (list, tuple)):
        histories = [histories]
    for k, history in enumerate(histories):
        color = f"C{k % 10}"
        suffix = f" (model {k + 1})" if len(histories) > 1 else ""
        epochs = [e + 1 for e in history.epoch]
        ax.plot(epochs, history.history["loss"], color=color, label=f"loss{suffix}")
        if "val_loss" in history.history:
            ax.plot(epochs, history.history["val_loss"], color=color, linestyle="--", label=f"val_loss{suffix}")
        if k < len(best_epochs):
            ax.axvline(best_epochs[k], color=color, linewidth=0.8, linestyle=":")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (MSE, scaled units)")
    ax.set_title("Training curves")
    ax.legend(loc="upper right", fontsize="small")
    ax.grid(alpha=0.3)
    return ax


def forecast_grid(histories: dict[Any, Any], forecast: Any, last: int | None = None,
                  max_series: int = 4) -> list[Axes]:
    """`forecast_plot` for the first `max_series` series, one row each, in one figure.

    Args:
        histories: {series id: pandas Series}; id None for a single series.
        forecast: DataFrame from `Forecaster.predict()`.
        last: draw only the last `last` points of each history.
    """
    shown = list(histories.items())[:max_series]
    figure = Figure(figsize=(9.0, 3.6 * len(shown) + 0.9), layout="constrained")
    axes = figure.subplots(len(shown), 1, squeeze=False)[:, 0]
    for ax, (series_id, history) in zip(axes, shown):
        forecast_plot(history, forecast, ax=ax, series_id=series_id, last=last)
    return list(axes)


_GATE_PANELS = {  # per cell: field, title, colour map, value range (None: symmetric about 0, from the data)
    "LSTM": (
        ("input_gate", "input gate i_t", "viridis", (0.0, 1.0)),
        ("forget_gate", "forget gate f_t", "viridis", (0.0, 1.0)),
        ("candidate", "candidate g_t", "RdBu_r", (-1.0, 1.0)),
        ("output_gate", "output gate o_t", "viridis", (0.0, 1.0)),
        ("cell_state", "cell state c_t", "RdBu_r", None),
        ("hidden_state", "hidden state h_t", "RdBu_r", None),
    ),
    "GRU": (
        ("update_gate", "update gate z_t (share of the old state kept)", "viridis", (0.0, 1.0)),
        ("reset_gate", "reset gate r_t", "viridis", (0.0, 1.0)),
        ("candidate", "candidate h̃_t", "RdBu_r", (-1.0, 1.0)),
        ("hidden_state", "hidden state h_t", "RdBu_r", None),
    ),
    "SimpleRNN": (("hidden_state", "hidden state h_t", "RdBu_r", None),),
}


def gates(trace: Any, layer: int | str = 0, sample: int = 0, times: Any = None) -> list[Axes]:
    """One recurrent layer's gates and memory over time, as heatmaps (units x time) under the input.

    Args:
        trace: what `model.trace(x)` returns (a list of LayerTrace), or one LayerTrace.
        layer: which entry: its index, or its name ("lstm", "bidirectional/backward", ...).
        sample: which sample of x.
        times: labels for the time axis (e.g. dates), one per step; step numbers when None.

    Returns:
        the Axes: the model's input, then for an LSTM input gate, forget gate, candidate,
        output gate, cell state and hidden state (seven in all); for a GRU update gate, reset
        gate, candidate and hidden state (five); for a SimpleRNN the hidden state (two).
        Padded steps (NaN) are left blank.
    """
    import numpy as np

    entries = list(trace) if isinstance(trace, (list, tuple)) else [trace]
    names = [entry.name for entry in entries]
    if isinstance(layer, str):
        if layer not in names:
            raise ValueError(f"no traced layer named {layer!r}; the trace holds {names}.")
        layer = names.index(layer)
    if not -len(entries) <= layer < len(entries):
        raise ValueError(f"`layer` {layer} is out of range: the trace holds {len(entries)} layers {names}.")
    entry = entries[layer]
    samples = len(entry.hidden_state)
    if not -samples <= sample < samples:
        raise ValueError(f"`sample` {sample} is out of range: the trace holds {samples} samples.")
    series = entries[0].inputs[sample].astype(float)  # the model's input (the first recurrent layer reads it)
    if entries[0].mask is not None:
        series[~entries[0].mask[sample]] = np.nan  # padding: left blank, like the heatmaps
    steps = np.arange(series.shape[0])
    units = entry.hidden_state.shape[-1]
    panels = _GATE_PANELS[entry.cell]
    figure = Figure(figsize=(9.0, 2.0 + 1.5 * len(panels)), layout="constrained")
    heights = [1.2] + [1.0] * len(panels)
    axes = figure.subplots(len(heights), 1, sharex=True, gridspec_kw={"height_ratios": heights})
    axes[0].plot(steps, series, marker="o", markersize=3, linewidth=1.2)
    axes[0].set_ylabel("input")
    direction = "read last step first" if entry.go_backwards else "read first step first"
    what = "state" if entry.cell == "SimpleRNN" else "gates and memory"
    axes[0].set_title(f"{entry.name}: {what} of {units} units over time (sample {sample}, {direction})")
    axes[0].grid(alpha=0.3)
    figure.colorbar(ScalarMappable(), ax=axes[0], pad=0.01, fraction=0.03).ax.set_visible(False)  # align x
    for ax, (field, title, colours, limits) in zip(axes[1:], panels):
        values = entry[field][sample].T  # (units, T)
        if limits is None:
            bound = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
            limits = (-bound, bound)
        image = ax.imshow(values, aspect="auto", interpolation="nearest", cmap=colours, vmin=limits[0],
                          vmax=limits[1], extent=(-0.5, len(steps) - 0.5, units - 0.5, -0.5))
        ax.set_ylabel("unit")
        ax.set_title(title, fontsize="small", loc="left")
        figure.colorbar(image, ax=ax, pad=0.01, fraction=0.03)
    if times is not None:
        labels = [str(t) for t in times]
        if len(labels) != len(steps):
            raise ValueError(f"`times` has {len(labels)} labels for {len(steps)} steps.")
        shown = steps[:: max(1, len(steps) // 10)]
        axes[-1].set_xticks(shown, [labels[i] for i in shown], rotation=30, ha="right")
    axes[-1].set_xlabel("time step" if times is None else "time")
    return list(axes)


def attention_heatmap(trace: Any, ax: Axes | None = None) -> Axes:
    """Where each output token of a Seq2Seq looked: its attention weights over the source tokens.

    Args:
        trace: a lstmkit.seq2seq.AttentionTrace (from `Seq2Seq.trace(source)`).
        ax: where to draw; a new figure when None.
    """
    weights = trace.weights
    ax = ax or new_axes(width=max(4.0, 0.35 * weights.shape[1] + 2), height=max(3.0, 0.3 * weights.shape[0] + 1.5))
    image = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(trace.source_tokens)), [repr(t)[1:-1] or " " for t in trace.source_tokens])
    ax.set_yticks(range(len(trace.output_tokens)), trace.output_tokens)
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    ax.set_title("attention weights")
    ax.figure.colorbar(image, ax=ax, label="weight")
    return ax
