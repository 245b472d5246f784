"""The compiled gate loops of lstmkit.ops.blocked: one call runs a step's gate routines
(lstmkit.ops.gates) over a part of the batch's rows, releasing the GIL.

They live apart from blocked.py, which holds the backend's PyTorch side, so that they import
without PyTorch: the build compiles them into the wheel before PyTorch is installed
(lstmkit.warmup).
"""

from __future__ import annotations

from lstmkit.ops.gates import gru_backward_row, gru_forward_row, lstm_backward_row, lstm_forward_row
from lstmkit.ops.jit import kernel


@kernel(nogil=True)
def _forward_rows(gates, c_prev, c, tanh_c, next_rows, features):
    """lstm_forward_row for each row of gates (R, 4H) (z_t, replaced by the gates); c_prev, c,
    tanh_c (R, H); h_t goes into next_rows (R, F + H) after its F inputs. Releases the GIL, so
    the parts of a batch run on threads side by side."""
    zero = c.dtype.type(0.0)
    for b in range(gates.shape[0]):
        lstm_forward_row(gates[b], None, None, c_prev[b], c[b], tanh_c[b], next_rows[b, features:], zero)


@kernel(nogil=True)
def _backward_rows(gates, c_prev, tanh_c, dh, dc, grad_bias):
    """lstm_backward_row for each row of gates (R, 4H) (replaced by dz_t), c_prev, tanh_c, dh,
    dc (R, H); adds each row's dz_t to grad_bias (4H,) (float64: db sums all T·B rows)."""
    for b in range(gates.shape[0]):
        dz = gates[b]
        lstm_backward_row(dz, c_prev[b], tanh_c[b], dh[b], dc[b])
        for j in range(dz.size):
            grad_bias[j] += dz[j]


@kernel(nogil=True)
def _gru_forward_rows(gates, bias, states, h_prev, states_h, h):
    """gru_forward_row for each row: gates (R, 3H) = x_t W, replaced by z, r, h̃; states (R, 3H)
    = h_{t-1} U; bias (2, 3H); writes states_h = h_{t-1} U_h + b_hh and h (R, H)."""
    zero = h.dtype.type(0.0)
    for b in range(gates.shape[0]):
        gru_forward_row(gates[b], bias[0], states[b], bias[1], h_prev[b], states_h[b], h[b], zero)


@kernel(nogil=True)
def _gru_backward_rows(gates, states_h, h_prev, dh, dstates, grad_bias):
    """gru_backward_row for each row: gates (R, 3H) become da_t, dstates (R, 3H) ds_t, dh (R, H)
    dh_t ⊙ z_t; adds Σ da_t and Σ ds_t to grad_bias (2, 3H) (float64)."""
    for b in range(gates.shape[0]):
        da, ds = gates[b], dstates[b]
        gru_backward_row(da, states_h[b], h_prev[b], dh[b], ds)
        for j in range(da.size):
            grad_bias[0, j] += da[j]
            grad_bias[1, j] += ds[j]
