"""`predict` on the fused kernels for a few tutorial windows, with its decisions made once per model.

What `Sequential.predict` must decide before the kernels may compute a call (do they compute this
model at all, how many windows may one call hold, the weights split as the kernel takes them) does
not change from call to call, so `FusedPredictor` decides it on the model's first plain predict and
keeps it until the model's layers or parameters' storage change. A call then costs the kernel (~6 µs
for W1's window: LSTM(50), 5 steps) and about 1.5 µs of checks: the input's dtype, shape and size,
and a compiled scan for NaN/inf.

Imported on first use (it loads numba): `import lstmkit` stays without it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lstmkit import fastpath
from lstmkit.model_inputs import shape_fits
from lstmkit.ops import fused
from lstmkit.ops.fused import _predict_kernel
from lstmkit.ops.dispatch import current_backend
from lstmkit.ops.jit import kernel


class FusedPredictor:
    """`predict` on the fused kernels for one model as it is now (its layers, its parameters'
    storage): built on the model's first plain predict, dropped when either changes.

    Falsy when the kernels do not compute this model (`fastpath.model_is_fusable`). Weights updated
    in place (fit, set_weights) are seen, as the kernel reads numpy views of the parameters.
    """

    def __init__(self, model: Any) -> None:
        shape = model.built_input_shape
        fusable = shape is not None and len(shape) == 2 and fastpath.model_is_fusable(model)
        self.weights: list[np.ndarray] = fastpath.weight_views(model) if fusable else []
        self.input_shape = shape
        self.fitting: tuple[int, ...] | None = None  # the last per-sample shape found to fit
        self.max_rows = 0  # most windows a call may hold (fastpath.PREDICT_MAX_FLOPS; flops grow with rows)
        if self.weights:
            self.max_rows = int(fastpath.PREDICT_MAX_FLOPS // max(model.forward_flops(1), 1.0))
            self.dtype = self.weights[0].dtype
            self.outputs = len(self.weights[-1])
            # The kernel itself, with the weights split once: fused.lstm_dense_predict would check
            # their shapes and split them again on every call (~3 µs of W1's window).
            self.layers, self.dense = fused.split_weights(self.weights)
            self.kernel = fused._predict_kernel

    def __bool__(self) -> bool:
        return bool(self.weights)

    def __call__(self, x: np.ndarray) -> np.ndarray | None:
        """Predictions for a float numpy array of windows (N, T, F) or (N, T) of the model's input
        shape, none of them NaN/inf, few enough for the kernels; else None (the general path)."""
        if not self.weights or x.dtype.kind != "f" or current_backend() != "auto":
            return None
        if x.ndim == 2:
            x = x[..., None]  # (samples, timesteps) -> one feature
        if x.ndim != 3 or not 0 < len(x) <= self.max_rows:
            return None
        if x.shape[1:] != self.fitting:
            if x.shape[1] == 0 or not shape_fits(self.input_shape, x.shape[1:]):
                return None  # the general path explains what is wrong
            self.fitting = x.shape[1:]
        x = np.ascontiguousarray(x, dtype=self.dtype)
        out = np.empty((len(x), self.outputs), self.dtype)
        if not _predict_if_finite(x, self.layers, self.dense, out):
            return None  # the general path names the first bad sample
        return out

    def run(self, x: np.ndarray) -> np.ndarray:
        """The kernel on checked windows x (N, T, F), C-contiguous in the weights' dtype."""
        out = np.empty((len(x), self.outputs), self.dtype)
        self.kernel(x, self.layers, self.dense, out)
        return out


@kernel()
def _predict_if_finite(x, layers, dense, out):
    """The kernel's predictions into `out` when no value of x is NaN or ±inf (True), else False:
    one compiled call, where np.isfinite(x).all() alone takes ~1.4 µs of W1's window."""
    for value in x.flat:
        if not np.isfinite(value):
            return False
    _predict_kernel(x, layers, dense, out)
    return True
