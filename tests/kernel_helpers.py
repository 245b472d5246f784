"""Kernels the tests use and the library does not: one layer's forward from a given state, and one
batch's loss and gradients (what `loss.backward()` leaves in `.grad`), built from lstmkit.ops.fused."""

from collections.abc import Sequence

import numpy as np

from lstmkit.ops import fused
from lstmkit.ops.jit import kernel


def lstm_sequence_forward(x, h0, c0, kernel_, recurrent_kernel, bias):
    """One LSTM layer over whole sequences x (B, T, F) from h0, c0 (B, H): h for every step
    (B, T, H), and the final h_T and c_T (B, H)."""
    dtype = kernel_.dtype
    x, h0, c0 = (np.ascontiguousarray(a, dtype=dtype) for a in (x, h0, c0))
    units = len(recurrent_kernel)
    assert x.ndim == 3 and h0.shape == c0.shape == (len(x), units)
    assert [w.shape for w in (kernel_, recurrent_kernel, bias)] == [(x.shape[2], 4 * units), (units, 4 * units),
                                                                     (4 * units,)]
    h_seq = np.empty(x.shape[:2] + h0.shape[1:], dtype)
    h_last, c_last = h0.copy(), c0.copy()
    _sequence_forward_kernel(x, kernel_, recurrent_kernel, bias, h_seq, h_last, c_last)
    return h_seq, h_last, c_last


@kernel()
def _sequence_forward_kernel(x, kernel_, recurrent_kernel, bias, h_seq, h, c):
    units = h.shape[1]
    c_seq = np.empty((x.shape[1], units), h.dtype)  # c_t of the current sample
    gates, tanh_c = np.empty(4 * units, h.dtype), np.empty(units, h.dtype)
    for n in range(x.shape[0]):
        h_prev, c_prev = h[n], c[n]
        for t in range(x.shape[1]):
            h_t, c_t = h_seq[n, t], c_seq[t]
            fused.lstm_step(x[n, t], h_prev, c_prev, kernel_, recurrent_kernel, bias, gates, h_t, c_t, tanh_c)
            h_prev, c_prev = h_t, c_t
        for k in range(units):
            h[n, k], c[n, k] = h_prev[k], c_prev[k]


def dense_gradients(x, y, weights: Sequence[np.ndarray], loss: str = "mse", cell: str = "lstm"):
    """The mean loss of the batch (x, y) (float64) and its gradients, one array per weight."""
    x, y = fused.check_data(x, y, weights, loss, cell)
    grads = [np.zeros_like(w) for w in weights]
    cache = fused.make_cache(x.shape[1], weights, len(y[0]), cell)
    indices, loss_kind = np.arange(len(x)), fused.LOSS_KINDS[loss]
    value = _gradients_kernel(x, y, indices, fused.split_weights(weights), fused.split_weights(grads),
                              fused.flat_views(grads), loss_kind, cache)
    return value, grads


@kernel()
def _gradients_kernel(x, y, indices, model, grads, flat_grads, loss_kind, cache):
    return fused.batch_gradients(x, y, indices, model, grads, flat_grads, loss_kind, cache)


def lstm_dense_gradients(x, y, weights, loss="mse"):
    return dense_gradients(x, y, weights, loss, "lstm")
