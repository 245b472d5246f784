"""Prediction over many samples, chunk by chunk, and a predictor for serving loops.

`Sequential.predict` runs its forward pass one chunk of rows at a time and writes each chunk's
outputs straight into one preallocated numpy array, so predicting 1,000,000 windows holds the
inputs, the output array and one chunk's activations, never the activations of every window.

Without an explicit `batch_size`, a stateless model's chunk is sized by its widest activation
(`CHUNK_FLOATS` floats of rows x timesteps x gates x units, 8 MiB in float32; 4 gates for an LSTM, 3 for a GRU): large enough that
PyTorch's fused op (oneDNN on CPU, cuDNN on GPU) runs at its batched rate, small enough to bound
memory. A stateful layer carries state from batch to batch, so there the chunk stays Keras's 32.

`model.compile_predict()` returns a `CompiledPredict`, a callable for serving loops: it checks its
first input as `predict` does, then takes later inputs of the same dtype and per-sample shape
with one comparison.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from lstmkit.ops.dispatch import current_backend

CHUNK_FLOATS = 2**21  # one chunk's widest activation, rows x timesteps x gates x units (8 MiB in float32)
MIN_CHUNK = 32  # Keras's default predict batch


def chunk_rows(model: Any, batch_size: int | None, default: int = MIN_CHUNK) -> int:
    """Rows per forward call: `batch_size` when given, else sized by the model's widest activation.

    Example: LSTM(64) on windows of 24 steps: 2**21 // (24 x 4 x 64) = 341 rows a chunk. (Measured on
    one thread, torch.lstm runs as fast from 64 to 1024 rows, and a third slower at 2048, out of cache.)
    """
    if batch_size is not None:
        return batch_size
    if any(getattr(layer, "stateful", False) for layer in model.recurrent_layers()):
        return default  # the carried state depends on how samples are grouped into batches
    shape = model.built_input_shape or (1,)
    ids = bool(model.layers) and getattr(model.layers[0], "takes_ids", False)  # (T,) ids into an Embedding
    timesteps = (shape[0] or 1) if len(shape) == 2 or ids else 1
    widest = max([shape[-1] or 1] + [layer.gates * layer.units for layer in model.recurrent_layers()])
    return max(MIN_CHUNK, CHUNK_FLOATS // (timesteps * widest))


def predict_in_chunks(
    forward: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor],
    x: torch.Tensor,
    mask: torch.Tensor | None,
    rows: int,
) -> np.ndarray:
    """`forward` over x (N, ...) `rows` at a time, each chunk written into one numpy output array.

    Args:
        forward: (x chunk, mask chunk or None) -> outputs (rows, ...), run under inference mode.
        x: inputs (N, ...) on the model's device; mask: optional (N, T) bool of real steps.
        rows: samples per forward call.

    Returns:
        outputs (N, ...) as numpy: the only array whose size grows with N.
    """
    outputs: np.ndarray | None = None
    for start in range(0, len(x), rows):
        stop = min(start + rows, len(x))
        chunk = forward(x[start:stop], None if mask is None else mask[start:stop])
        if outputs is None:
            outputs = np.empty((len(x), *chunk.shape[1:]), dtype=_numpy_dtype(chunk.dtype))
        outputs[start:stop] = chunk.cpu().numpy()
    assert outputs is not None  # x holds at least one sample (checked by the caller)
    return outputs


def _numpy_dtype(dtype: torch.dtype) -> np.dtype:
    return torch.empty(0, dtype=dtype).numpy().dtype


class CompiledPredict:
    """`model.predict` for a serving loop: the first call checks its input as `predict` does; later
    calls with a numpy array of the same dtype and per-sample shape skip those checks (including the
    scan for NaN/inf: a NaN in gives NaN out instead of an error) and go straight to the fused kernels
    when `predict` would. Anything else, or a model whose layers or parameters changed, takes `predict`.

    Example:
        serve = model.compile_predict()
        for window in stream:            # each (1, 5, 1) float32
            y_hat = serve(window)        # the same numbers as model.predict(window)
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.signature: tuple[Any, ...] | None = None  # (dtype, per-sample shape) of a checked input
        self.max_rows = 0  # most samples a call may hold for the fused kernels (their flops limit)
        self.predictor: Any = None  # the model's fused predictor when the first call was checked

    def __call__(self, x: Any) -> np.ndarray:
        model = self.model
        if (self.signature is not None and type(x) is np.ndarray and (x.dtype, x.shape[1:]) == self.signature
                and x.dtype.kind == "f" and 0 < len(x) <= self.max_rows and current_backend() == "auto"):
            predictor = model.fused_predictor()  # a new one after the layers or parameters changed
            if predictor is not None and predictor is self.predictor:
                return predictor.unchecked(x if x.ndim == 3 else x[..., None])
        outputs = model.predict(x)  # checks everything; decides (and caches) whether the kernels apply
        self.signature = (x.dtype, x.shape[1:]) if type(x) is np.ndarray else None
        self.predictor = model.fused_predictor() if self.signature is not None else None
        self.max_rows = 0 if self.predictor is None else self.predictor.max_rows
        return outputs
