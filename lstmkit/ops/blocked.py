"""The "blocked" CPU backend: one LSTM layer as BLAS GEMMs plus compiled gate loops.

For medium and large LSTMs the work is matrix products; what PyTorch's LSTM op loses is in
the backward pass, which multiplies small per-step matrices. Here, as cuDNN does:

    forward   P = X W + b                    one GEMM over all T·B rows          (T, B, 4H)
              z_t = P_t + h_{t-1} U          one GEMM a step, in place in P      (B, 4H)
              gates, c_t, tanh(c_t), h_t     one compiled loop a step, kept for backward
    backward  dz_t, dc_{t-1}                 one compiled loop a step (the chain rule below);
                                             dz_t overwrites the step's gates
              dh_{t-1} = dz_t Uᵀ             one GEMM a step
              dW = Xᵀ dZ, dU = H_{t-1}ᵀ dZ, db = Σ dZ, dX = dZ Wᵀ
                                             one GEMM each, over all steps at once

Backpropagation through one step, where dh_t sums the gradient of the output h_t and
dz_{t+1} Uᵀ from the step after it:

    dc_t  += dh_t ⊙ o_t ⊙ (1 - tanh²(c_t))
    dz_i   = dc_t ⊙ g_t ⊙ i_t (1 - i_t)        dz_f = dc_t ⊙ c_{t-1} ⊙ f_t (1 - f_t)
    dz_g   = dc_t ⊙ i_t ⊙ (1 - g_t²)           dz_o = dh_t ⊙ tanh(c_t) ⊙ o_t (1 - o_t)
    dc_{t-1} = dc_t ⊙ f_t

GEMMs are torch.mm/addmm (MKL sgemm); the gate loops are numba, working on numpy views of the
same buffers. Threads: a step is a few ms of work ending in a barrier, and when another process
holds the second core each barrier waits for it. W3's training step (Sequential, Adam) on
2 cores: with the other core free, 0.56 s on one thread and 0.33-0.36 s on two ("torch" on two:
0.40 s); with it busy, 0.57 s on one and 2.7 s on two ("torch" on two: 5.2 s). So
lstmkit.ops.threads gives big work several threads only while other processes leave the
cores idle (/proc/stat since the previous look); then the same
W3 step took 0.34-0.41 s quiet and 0.61 s busy, against 0.56-0.61 s pinned to one thread.
A count set with lstmkit.ops.threads.set_num_threads is used as it is. Buffers are
time-major (T, B, ·), so each step's slice is contiguous and all steps stack into one
(T·B, ·) matrix for the weight gradients. Layout: Keras's, kernel W (F, 4H), recurrent_kernel
U (H, 4H), bias b (4H,), gates i, f, g, o; tanh and sigmoid only; CPU, float32 or float64.
σ and tanh come from a branch-free e^x in the data's own precision, so that the gate loops
vectorize (libm's exp is a call, which does not; float32 lanes are twice as many).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload
from torch.autograd.function import once_differentiable

from lstmkit.ops.jit import kernel
from lstmkit.ops.threads import lstm_flops, thread_limit, threads_for

_BOUND = 80.0  # |argument| of e^x: σ(±80) and tanh(±40) are 0 or ±1 within 2e-35


@intrinsic
def _bits_as_float(typingctx, bits):  # type: ignore[no-untyped-def]
    """The float32 (float64) whose bits are those of an int32 (int64)."""
    target = types.float32 if bits.bitwidth == 32 else types.float64

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.bitcast(args[0], ir.FloatType() if bits.bitwidth == 32 else ir.DoubleType())

    return target(bits), codegen


def _exp(x: float) -> float:
    """e^x. Interpreted Python gets libm's; compiled code gets `_exp_overload`, which works in
    x's own precision without calls or branches (so loops vectorize), for |x| <= _BOUND."""
    return math.exp(x)


@overload(_exp)
def _exp_overload(x):  # type: ignore[no-untyped-def]
    """e^x = 2^k e^r, k = round(x / ln 2), |r| <= ln2 / 2, e^r from its Taylor series: to degree 7
    in float32 (within 2 ulp), degree 12 in float64 (within 3 ulp). 2^k is built from its bits."""
    single = x == types.float32
    as_x = np.float32 if single else np.float64
    log2e, magic = as_x(1 / math.log(2)), as_x(1.5 * 2.0 ** (23 if single else 52))  # + magic rounds
    ln2_high = as_x(0.693359375 if single else 0.6931471803691238)  # ln 2 = high + low (Cody & Waite)
    ln2_low = as_x(-2.12194440e-4 if single else 1.9082149292705877e-10)
    coefficients = tuple(as_x(1 / math.factorial(n)) for n in range(7 if single else 12, -1, -1))
    bits, exponent_bias, mantissa_bits = (np.int32, 127, 23) if single else (np.int64, 1023, 52)

    def impl(x):  # type: ignore[no-untyped-def]
        k = (x * log2e + magic) - magic
        r = (x - k * ln2_high) - k * ln2_low
        series = coefficients[0]
        for coefficient in coefficients[1:]:
            series = series * r + coefficient
        return series * _bits_as_float(bits((np.int64(k) + exponent_bias) << mantissa_bits))

    return impl


@kernel()
def _sigmoid(z, one, bound):
    """1 / (1 + e^-z); `one` and `bound` (1 and _BOUND) carry z's precision."""
    return one / (one + _exp(-min(max(z, -bound), bound)))


@kernel()
def _tanh(z, one, bound):
    """tanh(z) = 1 - 2 / (e^2z + 1), within 1 ulp of 1 (absolute)."""
    return one - (one + one) / (_exp(min(max(z + z, -bound), bound)) + one)


@kernel()
def _forward_gates(z, c_prev, c, tanh_c, h):
    """Turn pre-activations z (B, 4H) into gates in place; write c_t, tanh(c_t), h_t (B, H)."""
    units = c.shape[1]
    one, bound = c.dtype.type(1.0), c.dtype.type(_BOUND)
    for b in range(z.shape[0]):
        # One-dimensional unit-stride views: the loop below then vectorizes (2-D indexing does not).
        z_i, z_f = z[b, :units], z[b, units : 2 * units]
        z_g, z_o = z[b, 2 * units : 3 * units], z[b, 3 * units :]
        c_prev_b, c_b, tanh_c_b, h_b = c_prev[b], c[b], tanh_c[b], h[b]
        for j in range(units):
            input_gate = _sigmoid(z_i[j], one, bound)
            forget_gate = _sigmoid(z_f[j], one, bound)
            candidate = _tanh(z_g[j], one, bound)
            output_gate = _sigmoid(z_o[j], one, bound)
            cell = forget_gate * c_prev_b[j] + input_gate * candidate
            tanh_cell = _tanh(cell, one, bound)
            z_i[j], z_f[j], z_g[j], z_o[j] = input_gate, forget_gate, candidate, output_gate
            c_b[j] = cell
            tanh_c_b[j] = tanh_cell
            h_b[j] = output_gate * tanh_cell


@kernel()
def _backward_gates(gates, c_prev, tanh_c, dh, dc):
    """One step back: gates (B, 4H) are replaced by dz_t; dh (B, H) = dL/dh_t; dc (B, H) =
    dL/dc_t from step t + 1, replaced by dL/dc_{t-1}."""
    units = dc.shape[1]
    one = dc.dtype.type(1.0)
    for b in range(gates.shape[0]):
        i_b, f_b = gates[b, :units], gates[b, units : 2 * units]
        g_b, o_b = gates[b, 2 * units : 3 * units], gates[b, 3 * units :]
        c_prev_b, tanh_c_b, dh_b, dc_b = c_prev[b], tanh_c[b], dh[b], dc[b]
        for j in range(units):
            input_gate, forget_gate, candidate, output_gate = i_b[j], f_b[j], g_b[j], o_b[j]
            tanh_cell = tanh_c_b[j]
            dcell = dc_b[j] + dh_b[j] * output_gate * (one - tanh_cell * tanh_cell)
            i_b[j] = dcell * candidate * input_gate * (one - input_gate)  # dz_i
            f_b[j] = dcell * c_prev_b[j] * forget_gate * (one - forget_gate)  # dz_f
            g_b[j] = dcell * input_gate * (one - candidate * candidate)  # dz_g
            o_b[j] = dh_b[j] * tanh_cell * output_gate * (one - output_gate)  # dz_o
            dc_b[j] = dcell * forget_gate


_INFERENCE_BLOCK = 16  # steps projected at a time when nothing is kept for backward
# The gate buffer that the last finished backward handed back. A W3-sized buffer is 105 MB;
# glibc maps a fresh one from the OS on every call, and its first touch alone costs ~40 ms
# (a tenth of a W3 training step). A buffer is owned by one graph from forward to the end of
# its backward, so reusing it then is safe; one is kept, so memory stays bounded.
_spare_gates: list[torch.Tensor] = []


def _take_gates(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    try:
        spare = _spare_gates.pop()
    except IndexError:  # none spare (or another thread took it)
        return like.new_empty(shape)
    if spare.shape == shape and spare.dtype == like.dtype:
        return spare
    return like.new_empty(shape)


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
    gates = _take_gates((block, batch, 4 * units), x) if keep else x.new_empty(block, batch, 4 * units)
    tanh_cells = x.new_empty(block if keep else 1, batch, units)
    hidden_np, cells_np, gates_np, tanh_np = hidden.numpy(), cells.numpy(), gates.numpy(), tanh_cells.numpy()
    hidden_steps, gate_steps = hidden.unbind(0), gates.unbind(0)  # per-step views, made once
    for start in range(0, steps, block):
        stop = min(start + block, steps)
        rows = gates[: stop - start].view(-1, 4 * units)
        torch.addmm(bias, x_rows[start * batch : stop * batch], kernel, out=rows)  # x_t W + b
        for t in range(start, stop):
            slot = t - start
            gate_steps[slot].addmm_(hidden_steps[t], recurrent_kernel)  # z_t = x_t W + b + h_{t-1} U
            tanh_slot = tanh_np[slot if keep else 0]
            _forward_gates(gates_np[slot], cells_np[t], cells_np[t + 1], tanh_slot, hidden_np[t + 1])
    return hidden, cells, gates, tanh_cells


def _threads(x: torch.Tensor, units: int) -> int:
    """The thread count for one forward or backward: lstmkit.ops.threads decides."""
    batch, steps, features = x.shape
    return threads_for(3 * lstm_flops(batch, steps, features, units))  # forward + backward


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
    @once_differentiable
    def backward(ctx: Any, grad_outputs, grad_h_n, grad_c_n):  # type: ignore[override]
        x, _, recurrent_kernel = ctx.saved_tensors
        with thread_limit(_threads(x, recurrent_kernel.shape[0])):
            return _backward(ctx, grad_outputs, grad_h_n, grad_c_n)


def _backward(
    ctx: Any, grad_outputs: torch.Tensor | None, grad_h_n: torch.Tensor | None, grad_c_n: torch.Tensor | None
) -> tuple[torch.Tensor | None, ...]:
    """_BlockedLSTM's backward: the gradients of x, h0, c0, kernel, recurrent_kernel and bias."""
    x, kernel, recurrent_kernel = ctx.saved_tensors
    if ctx.buffers is None:
        raise RuntimeError(
            "backend 'blocked' runs backward once per forward (its gate buffer becomes the "
            "gradient); for retain_graph=True use backend 'torch'."
        )
    hidden, cells, gates, tanh_cells = ctx.buffers
    steps, batch, units = tanh_cells.shape
    dz = gates  # each step's gates are replaced by its dz_t, in place
    dh = hidden.new_zeros(batch, units) if grad_h_n is None else grad_h_n.contiguous().clone()
    dc = cells.new_zeros(batch, units) if grad_c_n is None else grad_c_n.contiguous().clone()
    dh_np, dc_np = dh.numpy(), dc.numpy()
    cells_np, dz_np, tanh_np = cells.numpy(), dz.numpy(), tanh_cells.numpy()
    recurrent_t = recurrent_kernel.t()
    dz_steps = dz.unbind(0)
    output_grads = None if grad_outputs is None else grad_outputs.unbind(1)
    for t in range(steps - 1, -1, -1):
        if output_grads is not None:
            dh += output_grads[t]
        _backward_gates(dz_np[t], cells_np[t], tanh_np[t], dh_np, dc_np)
        torch.mm(dz_steps[t], recurrent_t, out=dh)  # dh_{t-1} = dz_t Uᵀ
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
        previous_h = hidden[:-1].reshape(steps * batch, units)  # h_0..h_{T-1}
        grads[4] = torch.mm(previous_h.t(), dz_rows)  # dU = H_{t-1}ᵀ dZ
    if ctx.needs_input_grad[5]:
        grads[5] = dz_rows.sum(0)
    ctx.buffers = None
    _spare_gates[:] = [dz]
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
        found = [str(t.dtype) for t in tensors]
        raise TypeError(f"blocked_lstm needs one dtype for all tensors, float32 or float64; got {found}.")
    if any(t.device.type != "cpu" for t in tensors):
        raise ValueError("blocked_lstm runs on the CPU; use backend 'torch' for other devices.")
    x, h0, c0, kernel, recurrent_kernel, bias = (t.contiguous() for t in tensors)
    with thread_limit(_threads(x, h0.shape[1])):
        if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
            return _BlockedLSTM.apply(x, h0, c0, kernel, recurrent_kernel, bias)
        hidden, cells, _, _ = _forward(x, h0, c0, kernel, recurrent_kernel, bias, keep=False)
    return hidden[1:].transpose(0, 1), hidden[-1], cells[-1]
