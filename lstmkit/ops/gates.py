"""Each cell's gate math, once: one forward and one backward routine per cell, for one sample.

The per-sample engine (lstmkit.ops.fused), the batched engine (lstmkit.ops.batched) and the
blocked backend (lstmkit.ops.blocked) compute a step's matrix products their own way (vector
loops, or BLAS GEMMs over a batch), then call these routines on each sample's row. numba
inlines them into their callers (`inline="always"`: called as functions of their own, the
batched engine's gate loops were 15-70% slower), where the loops over units vectorize: the
arguments are one-dimensional unit-stride views.

`zero` is 0 in the precision σ and tanh are evaluated in (lstmkit.ops.gatemath): the data's
dtype in every engine (0.0, a float64, would evaluate them in float64); results are stored in
the arrays' dtype. Where an engine adds a bias or a recurrent product in the loop, it passes them; else None
(numba compiles the `is None` branches away).

LSTM (Keras's layout, gates i, f, g, o; equations in lstmkit.ops.reference):

    forward   i, f, o = σ(z_i, z_f, z_o), g = tanh(z_g), c_t = f c_{t-1} + i g, h_t = o tanh(c_t)
    backward  dc_t  += dh_t ⊙ o_t ⊙ (1 - tanh²(c_t))
              dz_i   = dc_t ⊙ g_t ⊙ i_t (1 - i_t)       dz_f = dc_t ⊙ c_{t-1} ⊙ f_t (1 - f_t)
              dz_g   = dc_t ⊙ i_t ⊙ (1 - g_t²)          dz_o = dh_t ⊙ tanh(c_t) ⊙ o_t (1 - o_t)
              dc_{t-1} = dc_t ⊙ f_t

GRU (Keras's reset_after=True, gates z, r, h; a = x_t W + b_x, s = h_{t-1} U + b_h, each (3H,)):

    forward   z_t = σ(a_z + s_z), r_t = σ(a_r + s_r), h̃_t = tanh(a_h + r_t ⊙ s_h)
              h_t = z_t ⊙ h_{t-1} + (1 - z_t) ⊙ h̃_t, computed as h̃_t + z_t ⊙ (h_{t-1} - h̃_t) (as torch)
    backward  dn = dh_t ⊙ (1 - z_t) ⊙ (1 - h̃_t²)                 (gradient of a_h)
              da_z = ds_z = dh_t ⊙ (h_{t-1} - h̃_t) ⊙ z_t (1 - z_t)
              da_r = ds_r = dn ⊙ s_h ⊙ r_t (1 - r_t)
              da_h = dn,  ds_h = dn ⊙ r_t
              dh_{t-1} = dh_t ⊙ z_t + ds U ᵀ                      (the product is the caller's)
"""

from __future__ import annotations

from lstmkit.ops.gatemath import sigmoid, tanh
from lstmkit.ops.jit import kernel


@kernel(inline="always")
def lstm_forward_row(z, bias, recurrent, c_prev, c, tanh_c, h, zero):
    """One sample's LSTM step after its products: z (4H,) = x_t W (+ b + h_{t-1} U unless they are
    passed as bias (4H,) and recurrent (4H,)) is replaced by the gates i, f, g, o; writes c_t,
    tanh(c_t) and h_t (H,) from c_{t-1} (H,)."""
    units = c.size
    as_dtype = c.dtype.type
    z_i, z_f, z_g, z_o = z[:units], z[units : 2 * units], z[2 * units : 3 * units], z[3 * units :]
    for j in range(units):
        if bias is not None:  # (x_t W + b) + h_{t-1} U
            pre_i = z_i[j] + bias[j] + recurrent[j]
            pre_f = z_f[j] + bias[units + j] + recurrent[units + j]
            pre_g = z_g[j] + bias[2 * units + j] + recurrent[2 * units + j]
            pre_o = z_o[j] + bias[3 * units + j] + recurrent[3 * units + j]
        else:
            pre_i, pre_f, pre_g, pre_o = z_i[j], z_f[j], z_g[j], z_o[j]
        input_gate = as_dtype(sigmoid(pre_i + zero))
        forget_gate = as_dtype(sigmoid(pre_f + zero))
        candidate = as_dtype(tanh(pre_g + zero))
        output_gate = as_dtype(sigmoid(pre_o + zero))
        cell = forget_gate * c_prev[j] + input_gate * candidate  # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        tanh_cell = as_dtype(tanh(cell + zero))
        z_i[j], z_f[j], z_g[j], z_o[j] = input_gate, forget_gate, candidate, output_gate
        c[j] = cell
        tanh_c[j] = tanh_cell
        h[j] = output_gate * tanh_cell  # h_t = o_t ⊙ tanh(c_t)


@kernel(inline="always")
def lstm_backward_row(gates, c_prev, tanh_c, dh, dc):
    """One sample's step back: gates (4H,) are replaced by dz_t; dh (H,) = dL/dh_t; dc (H,) =
    dL/dc_t from step t + 1, replaced by dL/dc_{t-1}."""
    units = dc.size
    one = dc.dtype.type(1.0)
    i_b, f_b, g_b, o_b = gates[:units], gates[units : 2 * units], gates[2 * units : 3 * units], gates[3 * units :]
    for j in range(units):
        input_gate, forget_gate, candidate, output_gate = i_b[j], f_b[j], g_b[j], o_b[j]
        tanh_cell = tanh_c[j]
        dcell = dc[j] + dh[j] * output_gate * (one - tanh_cell * tanh_cell)
        i_b[j] = dcell * candidate * input_gate * (one - input_gate)  # dz_i
        f_b[j] = dcell * c_prev[j] * forget_gate * (one - forget_gate)  # dz_f
        g_b[j] = dcell * input_gate * (one - candidate * candidate)  # dz_g
        o_b[j] = dh[j] * tanh_cell * output_gate * (one - output_gate)  # dz_o
        dc[j] = dcell * forget_gate


@kernel(inline="always")
def gru_forward_row(a, bias_x, s, bias_h, h_prev, s_h, h, zero):
    """One sample's GRU step after its products: a (3H,) = x_t W (+ b_x when bias_x is passed) is
    replaced by the gates z, r, h̃; s (3H,) = h_{t-1} U (+ b_h when bias_h is passed) is read;
    writes s_h = h_{t-1} U_h + b_hh (H,), which backward needs, and h_t (H,)."""
    units = h.size
    as_dtype = h.dtype.type
    a_z, a_r, a_h = a[:units], a[units : 2 * units], a[2 * units :]
    s_z, s_r, s_hh = s[:units], s[units : 2 * units], s[2 * units :]
    for j in range(units):
        if bias_x is not None:
            input_z, input_r, input_h = a_z[j] + bias_x[j], a_r[j] + bias_x[units + j], a_h[j] + bias_x[2 * units + j]
        else:
            input_z, input_r, input_h = a_z[j], a_r[j], a_h[j]
        if bias_h is not None:
            state_z, state_r, state_h = s_z[j] + bias_h[j], s_r[j] + bias_h[units + j], s_hh[j] + bias_h[2 * units + j]
        else:
            state_z, state_r, state_h = s_z[j], s_r[j], s_hh[j]
        update_gate = as_dtype(sigmoid(input_z + state_z + zero))
        reset_gate = as_dtype(sigmoid(input_r + state_r + zero))
        candidate = as_dtype(tanh(input_h + reset_gate * state_h + zero))
        a_z[j], a_r[j], a_h[j] = update_gate, reset_gate, candidate
        s_h[j] = state_h
        h[j] = candidate + update_gate * (h_prev[j] - candidate)  # h_t = z_t ⊙ h_{t-1} + (1 - z_t) ⊙ h̃_t


@kernel(inline="always")
def gru_backward_row(gates, s_h, h_prev, dh, ds):
    """One sample's step back: gates (3H,) z, r, h̃ are replaced by da_t (the gradient of x_t W + b_x);
    ds (3H,) receives ds_t (of h_{t-1} U + b_h); dh (H,) = dL/dh_t is replaced by dh_t ⊙ z_t, the
    part of dL/dh_{t-1} that skips the product (the caller adds ds_t Uᵀ)."""
    units = dh.size
    one = dh.dtype.type(1.0)
    z_b, r_b, n_b = gates[:units], gates[units : 2 * units], gates[2 * units :]
    ds_z, ds_r, ds_h = ds[:units], ds[units : 2 * units], ds[2 * units :]
    for j in range(units):
        update_gate, reset_gate, candidate, dh_j = z_b[j], r_b[j], n_b[j], dh[j]
        dn = dh_j * (one - update_gate) * (one - candidate * candidate)
        dz = dh_j * (h_prev[j] - candidate) * update_gate * (one - update_gate)
        dr = dn * s_h[j] * reset_gate * (one - reset_gate)
        z_b[j], r_b[j], n_b[j] = dz, dr, dn
        ds_z[j], ds_r[j], ds_h[j] = dz, dr, dn * reset_gate
        dh[j] = dh_j * update_gate


# -- a batch's rows: the batched engine, in the data's precision (the blocked backend has its own, GIL-free) --


@kernel()
def lstm_forward_rows(z, bias, recurrent, c_prev, c, tanh_c, h):
    """lstm_forward_row for each row b of z (B, 4H) (and of recurrent (B, 4H) with bias (4H,),
    when passed); c_prev, c, tanh_c, h (B, H)."""
    zero = c.dtype.type(0.0)
    for b in range(z.shape[0]):
        if bias is None:
            lstm_forward_row(z[b], None, None, c_prev[b], c[b], tanh_c[b], h[b], zero)
        else:
            lstm_forward_row(z[b], bias, recurrent[b], c_prev[b], c[b], tanh_c[b], h[b], zero)


@kernel()
def lstm_backward_rows(gates, c_prev, tanh_c, dh, dc):
    """lstm_backward_row for each row of gates (B, 4H), c_prev, tanh_c, dh, dc (B, H)."""
    for b in range(gates.shape[0]):
        lstm_backward_row(gates[b], c_prev[b], tanh_c[b], dh[b], dc[b])


@kernel()
def gru_forward_rows(a, bias, s, h_prev, s_h, h):
    """gru_forward_row for each row of a, s (B, 3H) with the bias (2, 3H); h_prev, s_h, h (B, H)."""
    zero = h.dtype.type(0.0)
    for b in range(a.shape[0]):
        gru_forward_row(a[b], bias[0], s[b], bias[1], h_prev[b], s_h[b], h[b], zero)


@kernel()
def gru_backward_rows(gates, s_h, h_prev, dh, ds):
    """gru_backward_row for each row of gates, ds (B, 3H), s_h, h_prev, dh (B, H)."""
    for b in range(gates.shape[0]):
        gru_backward_row(gates[b], s_h[b], h_prev[b], dh[b], ds[b])
