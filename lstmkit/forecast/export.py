"""A fitted Forecaster as one ONNX graph: raw window in, forecast in original units out.

The graph does what `Forecaster.predict` does to one window: scale each column with the
series' fitted scaler (an affine map, x·a + b), take the target relative to the window's last
value (and, where the forecaster deseasonalises its windows, the window's seasonal profile:
lstmkit.data.window_levels, a linear map of the window, so two constant matrices here), run every
ensemble member (lstmkit.onnx_export), add the level back, take their median and undo the
target's scaling.

Input "x" float32 (batch, context, features): the last `forecaster.context_` rows of the feature
matrix in original units (the lookback, or more where the windows' seasonal profile reads more
seasons than the lookback holds: lstmkit.forecast.seasonality.profile_context),
[target, past covariates, future-known covariates `horizon` steps ahead, then the calendar
features of those same times when the forecaster chose some: `calendar_` names the cycles and
lstmkit.forecast.calendar.features(times, cycles) computes them] (see lstmkit.forecast.windows).
Output "y" float32 (batch, horizon).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from lstmkit.data import window_levels
from lstmkit.forecast.calendar import feature_names
from lstmkit.onnx_export import OnnxGraph, model_proto, save_onnx, sequential_graph

if TYPE_CHECKING:
    from lstmkit.forecast.forecaster import Forecaster


def _affine(scaler: Any, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) with scaler.transform(x) = x·a + b per column (a = 1, b = 0 without a scaler)."""
    if scaler is None or width == 0:
        return np.ones(width), np.zeros(width)
    zero = scaler.transform(np.zeros((1, width)))[0]
    return scaler.transform(np.ones((1, width)))[0] - zero, zero


def forecaster_to_onnx(forecaster: "Forecaster", series_id: Any = None) -> Any:
    """The ONNX ModelProto of a fitted direct- or seq2seq-strategy forecaster for one series' scalers."""
    forecaster._require_fitted("export_onnx()")
    if forecaster.strategy == "recursive":
        raise ValueError("export_onnx() exports strategy='direct' or 'seq2seq' forecasters (one network call per "
                         "forecast); this one is 'recursive', which feeds each step back. Fit with strategy='direct' "
                         "to export.")
    ids = [tail.id for tail in forecaster.tails_]
    if series_id is None and len(ids) > 1:
        raise ValueError(f"this forecaster holds {len(ids)} series, each with its own scaler; pass series_id= one of "
                         f"{ids[:5]} to export the graph for that series.")
    if series_id is not None and series_id not in ids:
        raise ValueError(f"series_id={series_id!r} is not one of the fitted series {ids[:5]}.")
    scalers = forecaster.scalers_[ids[0] if series_id is None else series_id]
    widths = (1, len(forecaster.past_names_), len(forecaster.future_names_) + len(feature_names(forecaster.calendar_)))
    logged = scalers.logged  # transform="log" or chosen by "auto": log first, then the inner scaler
    target = scalers.target.inner if logged else scalers.target
    pieces = [_affine(scaler, width) for scaler, width in zip((target, *scalers[1:]), widths)]
    scale, shift = (np.concatenate([piece[k] for piece in pieces]) for k in (0, 1))
    features = len(scale)

    graph = OnnxGraph()
    onnx = graph.onnx
    x = "x"
    if logged:  # the target column on the log scale, the covariates as they are
        ends = graph.constant([1], dtype=np.int64), graph.constant([2**62], dtype=np.int64)
        axis = graph.constant([2], dtype=np.int64)
        first = graph.op("Slice", [x, graph.constant([0], dtype=np.int64), ends[0], axis])
        first = graph.op("Log", [graph.op("Max", [first, graph.constant(np.float32(np.finfo(np.float32).tiny))])])
        x = graph.op("Concat", [first, graph.op("Slice", [x, ends[0], ends[1], axis])], axis=2)
    x = graph.op("Add", [graph.op("Mul", [x, graph.constant(scale)]), graph.constant(shift)])
    target_only = np.eye(features, dtype=np.float32)[0]
    context = forecaster.context_  # the rows x holds: the lookback, or more for a seasonal profile

    def target_of(window: str, width: int) -> str:
        """The target column (B, width) of `window` (B, width, F)."""
        target = graph.op("Slice", [window, *(graph.constant(v, dtype=np.int64) for v in ([0], [1], [2]))])
        return graph.op("Reshape", [target, graph.constant([-1, width], dtype=np.int64)])

    def member_output(member: Any, lookback: int) -> str:
        """The member's forecast (B, S) in scaled units from its last `lookback` steps of x, shifted by the
        level and profile of all `context` steps."""
        own = x if lookback == context else graph.op(  # the steps the member reads: the last of the context
            "Slice", [x, *(graph.constant([v], dtype=np.int64) for v in (context - lookback, 2**62, 1))])
        base = None
        if forecaster.relative_:  # the target column less its level (and profile), which the output gets back
            shift_in, shift_out = (np.asarray(m, dtype=np.float32) for m in window_levels(
                np.eye(context), forecaster.steps, forecaster.window_season_))  # linear in the window: matrices
            history, target = target_of(x, context), target_of(own, lookback)  # (B, C), (B, L)
            shifts = graph.op("Unsqueeze", [graph.op("MatMul", [history, graph.constant(shift_in[:, -lookback:])]),
                                            graph.constant([2], dtype=np.int64)])  # (B, L, 1)
            own = graph.op("Sub", [own, graph.op("Mul", [shifts, graph.constant(target_only)])])
            base = graph.op("MatMul", [history, graph.constant(shift_out)])  # (B, S)
            if forecaster.window_scaled_:  # the target column over the window's mean absolute step
                steps = graph.op("Abs", [graph.op("Sub", [
                    graph.op("Slice", [target, *(graph.constant(v, dtype=np.int64) for v in ([1], [2**62], [1]))]),
                    graph.op("Slice", [target, *(graph.constant(v, dtype=np.int64) for v in ([0], [-1], [1]))])])])
                unit = graph.op("Max", [graph.op("ReduceMean", [steps], axes=[1], keepdims=1),
                                         graph.constant(np.float32(1e-3))])  # (B, 1)
                divisor = graph.op("Add", [graph.op("Mul", [graph.op("Unsqueeze", [
                    unit, graph.constant([2], dtype=np.int64)]), graph.constant(target_only)]),
                    graph.constant(1.0 - target_only)])  # (B, 1, F): the scale on the target column, 1 elsewhere
                own = graph.op("Div", [own, divisor])
        y, _ = sequential_graph(member, graph, own, None)
        y = graph.op("Reshape", [y, graph.constant([-1, forecaster.steps], dtype=np.int64)])
        if base is not None:
            y = graph.op("Add", [graph.op("Mul", [y, unit]) if forecaster.window_scaled_ else y, base])
        return y

    lookbacks = forecaster.member_lookbacks_ or [forecaster.lookback] * len(forecaster.members_)
    y = _median(graph, [graph.op("Unsqueeze", [member_output(member, lookback), graph.constant([0], dtype=np.int64)])
                        for member, lookback in zip(forecaster.members_, lookbacks)])
    if forecaster.linear_ is not None:  # linear=True: the mean of the LSTMs' median and the linear model's forecast
        y = graph.op("Mul", [graph.op("Add", [y, member_output(forecaster.linear_, forecaster.lookback)]),
                             graph.constant(np.float32(0.5))])
    y = graph.op("Div", [graph.op("Sub", [y, graph.constant(shift[0])]), graph.constant(scale[0])])
    if logged:
        y = graph.op("Exp", [graph.op("Min", [y, graph.constant(np.float32(80.0))])])  # float32 exp: inf past ~88
    inputs = [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", context, features])]
    return model_proto(graph, inputs, y, ["batch", forecaster.horizon],
                       f"lstmkit Forecaster (lookback {forecaster.lookback}, context {context}, "
                       f"horizon {forecaster.horizon})")


def _median(graph: OnnxGraph, outputs: list[str]) -> str:
    """Median over members of outputs, each (1, B, S): np.median's (the mean of the middle two
    for an even count)."""
    if len(outputs) == 1:
        return graph.op("Squeeze", [outputs[0], graph.constant([0], dtype=np.int64)])
    count = len(outputs)
    ordered, _ = graph.op("TopK", [graph.op("Concat", outputs, axis=0), graph.constant([count], dtype=np.int64)],
                          outputs=2, axis=0, largest=0, sorted=1)
    middle = sorted({(count - 1) // 2, count // 2})
    picked = graph.op("ReduceMean", [graph.op("Gather", [ordered, graph.constant(middle, dtype=np.int64)], axis=0)],
                      axes=[0], keepdims=0)
    return picked


def export_forecaster(forecaster: "Forecaster", path: str | os.PathLike, series_id: Any = None) -> None:
    """Write `forecaster_to_onnx(forecaster, series_id)` to `path` atomically."""
    save_onnx(forecaster_to_onnx(forecaster, series_id), path)
