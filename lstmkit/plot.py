"""Figures (matplotlib). Functions take results and an optional Axes and return the Axes;
they never call `show()` and never train. `import lstmkit` does not import this module."""

from __future__ import annotations

import os
from typing import Any

from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.figure import Figure

from lstmkit.atomic import atomic_write


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


def _times(values: Any) -> Any:
    """Times matplotlib can draw (an Index): periods become timestamps."""
    import pandas as pd

    index = pd.Index(values)
    return index.to_timestamp() if isinstance(index, pd.PeriodIndex) else index


def _interval_levels(columns: Any) -> list[int]:
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
    ax = ax or new_axes()
    if "id" in forecast.columns:
        forecast = forecast[forecast["id"] == series_id]
    shown = history if last is None else history.iloc[-last:]
    ax.plot(_times(shown.index), shown.to_numpy(), color="black", linewidth=1.3, label="history")
    times = _times(forecast.index)
    for shade, level in zip((0.18, 0.32, 0.46), _interval_levels(forecast.columns)):
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
    ax.plot(_times(actual["time"]), actual["actual"], color="black", linewidth=1.3, label="actual")
    levels = _interval_levels(frame.columns)
    for k, (origin, rows) in enumerate(frame[frame["model"] == model].groupby("origin", sort=True)):
        times = _times(rows["time"])
        if levels:
            ax.fill_between(times, rows[f"lower_{levels[0]}"], rows[f"upper_{levels[0]}"], color="tab:blue",
                            alpha=0.2, linewidth=0, label=f"{levels[0]}% interval" if k == 0 else None)
        ax.plot(times, rows["forecast"], color="tab:blue", linewidth=1.5, label=model if k == 0 else None)
        snaive = frame[(frame["model"] == "seasonal_naive") & (frame["origin"] == origin)]
        ax.plot(_times(snaive["time"]), snaive["forecast"], color="tab:orange", linewidth=1, linestyle="--",
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


def confusion_matrix_plot(matrix: Any, labels: Any = None, ax: Axes | None = None, normalize: bool = False) -> Axes:
    """A confusion matrix (rows true class, columns predicted) as an annotated heatmap.

    Args:
        matrix: (C, C) counts, e.g. from lstmkit.classification.confusion_matrix.
        labels: C class names; 0..C-1 when None.
        normalize: show each row as fractions of its true class.
    """
    import numpy as np

    counts = np.asarray(matrix)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"`matrix` must be square (classes, classes); got shape {counts.shape}.")
    classes = len(counts)
    labels = [str(label) for label in (range(classes) if labels is None else labels)]
    if len(labels) != classes:
        raise ValueError(f"`labels` has {len(labels)} names for {classes} classes.")
    shown = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalize else counts
    ax = ax or new_axes(width=1.2 + 0.7 * classes + 1.5, height=1.0 + 0.7 * classes)
    image = ax.imshow(shown, cmap="Blues", vmin=0)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    threshold = shown.max() / 2 if shown.size else 0
    for i in range(classes):
        for j in range(classes):
            text = f"{shown[i, j]:.2f}" if normalize else f"{int(counts[i, j])}"
            ax.text(j, i, text, ha="center", va="center", color="white" if shown[i, j] > threshold else "black")
    ax.set_xticks(range(classes), labels)
    ax.set_yticks(range(classes), labels)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    ax.set_title(f"Confusion matrix\naccuracy {accuracy:.1%} of {int(counts.sum())}")  # two lines fit 2 classes
    return ax


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
