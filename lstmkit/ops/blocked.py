"""The "blocked" CPU backend: one LSTM layer as BLAS GEMMs plus compiled gate loops.

For medium and large LSTMs the work is matrix products; what PyTorch's LSTM op loses is in
the backward pass, which multiplies small per-step matrices. Here, as cuDNN does:

    forward   P = X W + b                    one GEMM over all B·T rows          (B, T, 4H)
              z_t = P_t + h_{t-1} U          one GEMM a step                     (B, 4H)
              gates, c_t, tanh(c_t), h_t     one compiled loop a step, kept for backward
    backward  dz_t, dc_{t-1}                 one compiled loop a step (the chain rule below)
              dh_{t-1} = dz_t Uᵀ             one GEMM a step
              dW = Xᵀ dZ, dU = H_{t-1}ᵀ dZ, db = Σ dZ, dX = dZ Wᵀ
                                             one GEMM each, over all steps at once

Backpropagation through one step, where dh_t sums the gradient of the output h_t and
dz_{t+1} Uᵀ from the step after it:

    dc_t  += dh_t ⊙ o_t ⊙ (1 - tanh²(c_t))
    dz_i   = dc_t ⊙ g_t ⊙ i_t (1 - i_t)        dz_f = dc_t ⊙ c_{t-1} ⊙ f_t (1 - f_t)
    dz_g   = dc_t ⊙ i_t ⊙ (1 - g_t²)           dz_o = dh_t ⊙ tanh(c_t) ⊙ o_t (1 - o_t)
    dc_{t-1} = dc_t ⊙ f_t

GEMMs are torch.mm/addmm (MKL sgemm, on the threads lstmkit.ops.threads chose); the gate
loops are numba, on one thread, working on numpy views of the same buffers. Buffers are
time-major (T, B, ·), so each step's slice is contiguous and all steps stack into one
(T·B, ·) matrix for the weight gradients. Layout: Keras's, kernel W (F, 4H), recurrent_kernel
U (H, 4H), bias b (4H,), gates i, f, g, o; tanh and sigmoid only; CPU, float32 or float64.
σ and tanh are computed in float64 from lstmkit.ops.fused's series for e^x, without branches,
so that the gate loops vectorize (libm's calls and a branch each make them ~10x slower).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from numba import njit

from lstmkit.ops.fused import _exp

_JIT_OPTIONS = {"cache": True, "error_model": "numpy"}


@njit(**_JIT_OPTIONS)
def _sigmoid(z):
    """1 / (1 + e^-z) in float64; beyond ±40 the result is 0 or 1 within 5e-18."""
    return 1.0 / (1.0 + _exp(-min(max(float(z), -40.0), 40.0)))


@njit(**_JIT_OPTIONS)
def _tanh(z):
    """tanh(z) = 1 - 2 / (e^2z + 1) in float64, within 3e-16 of it (absolute)."""
    return 1.0 - 2.0 / (_exp(2.0 * min(max(float(z), -20.0), 20.0)) + 1.0)


@njit(**_JIT_OPTIONS)
def _forward_gates(z, c_prev, c, tanh_c, h):
    """Turn pre-activations z (B, 4H) into gates in place; write c_t, tanh(c_t), h_t (B, H)."""
    units = c.shape[1]
    for b in range(z.shape[0]):
        # One-dimensional unit-stride views: the loop below then vectorizes (2-D indexing does not).
        z_i, z_f = z[b, :units], z[b, units : 2 * units]
        z_g, z_o = z[b, 2 * units : 3 * units], z[b, 3 * units :]
        c_prev_b, c_b, tanh_c_b, h_b = c_prev[b], c[b], tanh_c[b], h[b]
        for j in range(units):
            input_gate = _sigmoid(z_i[j])
            forget_gate = _sigmoid(z_f[j])
            candidate = _tanh(z_g[j])
            output_gate = _sigmoid(z_o[j])
            cell = forget_gate * c_prev_b[j] + input_gate * candidate
            tanh_cell = _tanh(cell)
            z_i[j], z_f[j], z_g[j], z_o[j] = input_gate, forget_gate, candidate, output_gate
            c_b[j] = cell
            tanh_c_b[j] = tanh_cell
            h_b[j] = output_gate * tanh_cell


@njit(**_JIT_OPTIONS)
def _backward_gates(gates, c_prev, tanh_c, dh, dc):
    """One step back: gates (B, 4H) are replaced by dz_t; dh (B, H) = dL/dh_t; dc (B, H) =
    dL/dc_t from step t + 1, replaced by dL/dc_{t-1}."""
    units = dc.shape[1]
    for b in range(gates.shape[0]):
        i_b, f_b = gates[b, :units], gates[b, units : 2 * units]
        g_b, o_b = gates[b, 2 * units : 3 * units], gates[b, 3 * units :]
        c_prev_b, tanh_c_b, dh_b, dc_b = c_prev[b], tanh_c[b], dh[b], dc[b]
        for j in range(units):
            input_gate, forget_gate, candidate, output_gate = i_b[j], f_b[j], g_b[j], o_b[j]
            tanh_cell = tanh_c_b[j]
            dcell = dc_b[j] + dh_b[j] * output_gate * (1 - tanh_cell * tanh_cell)
            i_b[j] = dcell * candidate * input_gate * (1 - input_gate)  # dz_i
            f_b[j] = dcell * c_prev_b[j] * forget_gate * (1 - forget_gate)  # dz_f
            g_b[j] = dcell * input_gate * (1 - candidate * candidate)  # dz_g
            o_b[j] = dh_b[j] * tanh_cell * output_gate * (1 - output_gate)  # dz_o
            dc_b[j] = dcell * forget_gate


_INFERENCE_BLOCK = 16  # steps projected at a time when nothing is kept for backward


def _forward(
    x: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor, kernel: torch.Tensor,
    recurrent_kernel: torch.Tensor, bias: torch.Tensor, keep: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Returns hidden (T+1, B, H) = h_0..h_T, cells (T+1, B, H) = c_0..c_T, gates and tanh(c_t):
    with `keep`, (T, B, 4H) and (T, B, H) for backward; else scratch for a block of steps."""
    batch, steps, features = x.shape
    units = h0.shape[1]
    block = steps if keep else min(steps, _INFERENCE_BLOCK)
    x_rows = x.transpose(0, 1).reshape(steps * batch, features)  # time-major rows (T·B, F)
    hidden = x.new_empty(steps + 1, batch, units)
    cells = x.new_empty(steps + 1, batch, units)
    hidden[0], cells[0] = h0, c0
    gates = x.new_empty(block, batch, 4 * units)
    tanh_cells = x.new_empty(block if keep else 1, batch, units)
    hidden_np, cells_np, gates_np, tanh_np = hidden.numpy(), cells.numpy(), gates.numpy(), tanh_cells.numpy()
    for start in range(0, steps, block):
        stop = min(start + block, steps)
        rows = gates[: stop - start].view(-1, 4 * units)
        torch.addmm(bias, x_rows[start * batch : stop * batch], kernel, out=rows)  # x_t W + b
        for t in range(start, stop):
            slot = t - start
            gates[slot].addmm_(hidden[t], recurrent_kernel)  # z_t = x_t W + b + h_{t-1} U  (B, 4H)
            tanh_slot = tanh_np[slot if keep else 0]
            _forward_gates(gates_np[slot], cells_np[t], cells_np[t + 1], tanh_slot, hidden_np[t + 1])
    return hidden, cells, gates, tanh_cells


class _BlockedLSTM(torch.autograd.Function):
    """Autograd wrapper: forward keeps gates, c_t and tanh(c_t); backward as in the module docstring."""

    @staticmethod
    def forward(ctx: Any, x, h0, c0, kernel, recurrent_kernel, bias):  # type: ignore[override]
        hidden, cells, gates, tanh_cells = _forward(x, h0, c0, kernel, recurrent_kernel, bias, keep=True)
        ctx.save_for_backward(x, kernel, recurrent_kernel)
        ctx.buffers = (hidden, cells, gates, tanh_cells)
        ctx.set_materialize_grads(False)
        return hidden[1:].transpose(0, 1), hidden[-1].clone(), cells[-1].clone()

    @staticmethod
    def backward(ctx: Any, grad_outputs, grad_h_n, grad_c_n):  # type: ignore[override]
        x, kernel, recurrent_kernel = ctx.saved_tensors
        hidden, cells, gates, tanh_cells = ctx.buffers
        steps, batch, units = tanh_cells.shape
        dz = gates  # each step's gates are replaced by its dz_t, in place
        dh = hidden.new_zeros(batch, units) if grad_h_n is None else grad_h_n.clone()
        dc = cells.new_zeros(batch, units) if grad_c_n is None else grad_c_n.clone()
        dh_np, dc_np = dh.numpy(), dc.numpy()
        cells_np, dz_np, tanh_np = cells.numpy(), dz.numpy(), tanh_cells.numpy()
        recurrent_t = recurrent_kernel.t()
        for t in range(steps - 1, -1, -1):
            if grad_outputs is not None:
                dh += grad_outputs[:, t]
            _backward_gates(dz_np[t], cells_np[t], tanh_np[t], dh_np, dc_np)
            torch.mm(dz[t], recurrent_t, out=dh)  # dh_{t-1} = dz_t Uᵀ
        dz_rows = dz.view(steps * batch, 4 * units)
        grads: list[torch.Tensor | None] = [None] * 6
        if ctx.needs_input_grad[0]:
            features = x.shape[2]
            grads[0] = torch.mm(dz_rows, kernel.t()).view(steps, batch, features).transpose(0, 1)
        grads[1], grads[2] = dh, dc
        if ctx.needs_input_grad[3]:
            x_rows = x.transpose(0, 1).reshape(steps * batch, x.shape[2])
            grads[3] = torch.mm(x_rows.t(), dz_rows)  # dW = Xᵀ dZ
        if ctx.needs_input_grad[4]:
            grads[4] = torch.mm(hidden[:-1].reshape(steps * batch, units).t(), dz_rows)  # dU = H_{t-1}ᵀ dZ
        if ctx.needs_input_grad[5]:
            grads[5] = dz_rows.sum(0)
        ctx.buffers = None
        return tuple(grads)


def blocked_lstm(
    x: torch.Tensor,
    h0: torch.Tensor,
    c0: torch.Tensor,
    kernel: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    bias: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run one tanh/sigmoid LSTM layer over a sequence on the CPU.

    Args:
        x: inputs (B, T, F); h0, c0: initial state (B, H).
        kernel (F, 4H), recurrent_kernel (H, 4H), bias (4H,): Keras's layout, gates i f g o.
            All tensors on the CPU and of one dtype, float32 or float64.

    Returns:
        outputs (B, T, H) = h_1..h_T, and h_T, c_T (B, H): lstmkit.ops.reference.lstm_sequence's
        numbers up to round-off. Gradients flow to every argument.
    """
    tensors = (x, h0, c0, kernel, recurrent_kernel, bias)
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) != 1 or dtypes.pop() not in (torch.float32, torch.float64):
        raise TypeError(f"blocked_lstm needs one dtype, float32 or float64; got {[t.dtype for t in tensors]}.")
    if any(t.device.type != "cpu" for t in tensors):
        raise ValueError("blocked_lstm runs on the CPU; use backend 'torch' for other devices.")
    x, h0, c0, kernel, recurrent_kernel, bias = (t.contiguous() for t in tensors)
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return _BlockedLSTM.apply(x, h0, c0, kernel, recurrent_kernel, bias)
    hidden, cells, _, _ = _forward(x, h0, c0, kernel, recurrent_kernel, bias, keep=False)
    return hidden[1:].transpose(0, 1), hidden[-1], cells[-1]
