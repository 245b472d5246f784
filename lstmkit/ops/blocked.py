"""The "blocked" CPU backend: one LSTM layer as BLAS GEMMs plus compiled gate loops.

For medium and large LSTMs the work is matrix products; what PyTorch's LSTM op loses is in
the backward pass, which multiplies small per-step matrices. Here, as cuDNN does, with one
buffer whose row t holds [x_t, h_{t-1}] (T+1, B, F+H), h_t written after x_{t+1}:

    forward   z_t = [x_t, h_{t-1}] [W; U] + b   one GEMM a step                  (B, 4H)
              gates, c_t, tanh(c_t), h_t      one compiled loop a step, kept for backward
    backward  dz_t, dc_{t-1}, db += Σ_b dz_t   one compiled loop a step (the chain rule below);
                                              dz_t overwrites the step's gates
              dh_{t-1} = dz_t Uᵀ              one GEMM a step
              [dW; dU] = [X, H_{t-1}]ᵀ dZ     one GEMM over all T·B rows; dX = dZ Wᵀ another

Backpropagation through one step, where dh_t sums the gradient of the output h_t and
dz_{t+1} Uᵀ from the step after it:

    dc_t  += dh_t ⊙ o_t ⊙ (1 - tanh²(c_t))
    dz_i   = dc_t ⊙ g_t ⊙ i_t (1 - i_t)        dz_f = dc_t ⊙ c_{t-1} ⊙ f_t (1 - f_t)
    dz_g   = dc_t ⊙ i_t ⊙ (1 - g_t²)           dz_o = dh_t ⊙ tanh(c_t) ⊙ o_t (1 - o_t)
    dc_{t-1} = dc_t ⊙ f_t

GEMMs are torch.mm/addmm (MKL sgemm); the gate loops are numba, working on numpy views of the
same buffers. Threads: the samples of a batch are independent, so with n threads the batch's
rows are cut into n parts and each thread (one intra-op thread each) runs its part through every
step, forward and then backward, the gate loops releasing the GIL; the threads meet once per
pass. (Splitting each step's GEMM between the threads instead puts a barrier in every step,
200 a training step, and each waits for the slower core.) The weight-gradient GEMM then runs
on all n. lstmkit.ops.threads gives big work several threads only while other processes leave
the cores idle (/proc/stat since the previous look), else one; a count set with
lstmkit.ops.threads.set_num_threads is used as it is. Buffers are time-major (T, B, ·), so each
step's slice of a part is contiguous and all steps stack into one (T·B, ·) matrix for the
weight gradients. Layout: Keras's, kernel W (F, 4H), recurrent_kernel U (H, 4H), bias b (4H,),
gates i, f, g, o; tanh and sigmoid only; CPU, float32 or float64. The gate loops are
lstmkit.ops.gates's routines, with σ and tanh from lstmkit.ops.gatemath's branch-free e^x in the
data's own precision, so that they vectorize (libm's exp is a call, which does not; float32
lanes are twice as many). Timings: docs/PERFORMANCE.md ("W3").
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from lstmkit.ops.blocked_rows import _backward_rows, _forward_rows, _gru_backward_rows, _gru_forward_rows
from lstmkit.ops.threads import lstm_flops, thread_limit, threads_for

# The gate buffers that the last finished backward handed back. A W3-sized buffer is 105 MB;
# glibc maps a fresh one from the OS on every call, and its first touch alone costs ~40 ms
# (a tenth of a W3 training step). A buffer is owned by one graph from forward to the end of
# its backward, so reusing it then is safe; two are kept (the GRU's gates and states), so
# memory stays bounded.
_spare_buffers: list[torch.Tensor] = []
_spare_lock = threading.Lock()


def _take_buffer(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    with _spare_lock:
        for index, spare in enumerate(_spare_buffers):
            if spare.shape == shape and spare.dtype == like.dtype:
                return _spare_buffers.pop(index)
    return like.new_empty(shape)


def _give_back(*buffers: torch.Tensor) -> None:
    with _spare_lock:
        _spare_buffers[:] = buffers


_ONCE = ("backend 'blocked' runs backward once per forward (its gate buffer becomes the gradient); for "
         "retain_graph=True use backend 'torch'.")


def _parts(batch: int, threads: int) -> list[tuple[int, int]]:
    """The batch's rows split into `threads` contiguous ranges (fewer when the batch is smaller)."""
    bounds = np.linspace(0, batch, min(threads, batch) + 1).round().astype(int)
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))


def _in_parts(work: Callable[[int, int], None], parts: list[tuple[int, int]]) -> None:
    """work(start, stop) for each part of the batch, each on its own thread of one intra-op thread.

    The samples of a batch are independent, so each thread runs the whole time loop of its rows
    and the threads meet once, at the end, rather than at a barrier inside every step's GEMM.
    """
    if len(parts) == 1:
        work(*parts[0])
        return

    inference = torch.is_inference_mode_enabled()  # autograd's modes are per thread: the caller's

    def on_one_thread(start: int, stop: int) -> None:
        torch.set_num_threads(1)  # this thread's own OpenMP/MKL count
        with torch.inference_mode(inference), torch.no_grad():  # no_grad: autograd's forward and backward
            work(start, stop)

    with thread_limit(1), ThreadPoolExecutor(len(parts) - 1) as pool:
        others = [pool.submit(on_one_thread, *part) for part in parts[1:]]
        work(*parts[0])
        for other in others:
            other.result()


def _forward(
    x: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor, kernel: torch.Tensor,
    recurrent_kernel: torch.Tensor, bias: torch.Tensor, keep: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Returns inputs (T+1, B, F+H), row t = [x_t, h_{t-1}] (h_T in the last), cells (T+1, B, H)
    = c_0..c_T, gates and tanh(c_t): with `keep`, (T, B, 4H) and (T, B, H) for backward; else
    one step's scratch."""
    batch, steps, features = x.shape
    units = h0.shape[1]
    inputs = x.new_empty(steps + 1, batch, features + units)
    inputs[:steps, :, :features] = x.transpose(0, 1)
    inputs[steps, :, :features] = 0
    inputs[0, :, features:] = h0
    cells = x.new_empty(steps + 1, batch, units)
    cells[0] = c0
    weights = torch.cat([kernel, recurrent_kernel])  # (F+H, 4H): z_t = [x_t, h_{t-1}] [W; U] + b
    gates = _take_buffer((steps, batch, 4 * units), x) if keep else x.new_empty(1, batch, 4 * units)
    tanh_cells = x.new_empty(steps if keep else 1, batch, units)
    inputs_np, cells_np, gates_np, tanh_np = inputs.numpy(), cells.numpy(), gates.numpy(), tanh_cells.numpy()
    input_steps, gate_steps = inputs.unbind(0), gates.unbind(0)  # per-step views, made once

    def steps_of(first: int, last: int) -> None:  # rows first..last-1 through every step
        for t in range(steps):
            slot = t if keep else 0
            torch.addmm(bias, input_steps[t][first:last], weights, out=gate_steps[slot][first:last])
            _forward_rows(gates_np[slot, first:last], cells_np[t, first:last], cells_np[t + 1, first:last],
                          tanh_np[slot, first:last], inputs_np[t + 1, first:last], features)

    _in_parts(steps_of, _parts(batch, torch.get_num_threads()))
    return inputs, cells, gates, tanh_cells


def _threads(x: torch.Tensor, units: int, gates: int = 4) -> int:
    """The thread count for one forward or backward: lstmkit.ops.threads decides."""
    batch, steps, features = x.shape
    return threads_for(3 * lstm_flops(batch, steps, features, units) * gates / 4)  # forward + backward


class _BlockedLSTM(torch.autograd.Function):
    """Autograd wrapper: forward keeps gates, c_t and tanh(c_t); backward as in the module docstring."""

    @staticmethod
    def forward(ctx: Any, x, h0, c0, kernel, recurrent_kernel, bias):  # type: ignore[override]
        inputs, cells, gates, tanh_cells = _forward(x, h0, c0, kernel, recurrent_kernel, bias, keep=True)
        ctx.save_for_backward(x, kernel, recurrent_kernel)
        ctx.buffers = (inputs, cells, gates, tanh_cells)
        ctx.set_materialize_grads(False)
        hidden = inputs[:, :, x.shape[2] :]  # h_0..h_T
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
        raise RuntimeError(_ONCE)
    inputs, cells, gates, tanh_cells = ctx.buffers
    steps, batch, units = tanh_cells.shape
    dz = gates  # each step's gates are replaced by its dz_t, in place
    dh = cells.new_zeros(batch, units) if grad_h_n is None else grad_h_n.contiguous().clone()
    dc = cells.new_zeros(batch, units) if grad_c_n is None else grad_c_n.contiguous().clone()
    dh_np, dc_np = dh.numpy(), dc.numpy()
    cells_np, dz_np, tanh_np = cells.numpy(), dz.numpy(), tanh_cells.numpy()
    recurrent_t = recurrent_kernel.t()
    dz_steps = dz.unbind(0)
    output_grads = None if grad_outputs is None else grad_outputs.unbind(1)
    parts = _parts(batch, torch.get_num_threads())
    bias_sums = np.zeros((len(parts), 4 * units))  # each part's Σ dz_t, in float64

    def steps_back(first: int, last: int) -> None:  # rows first..last-1 through every step, last to first
        rows = slice(first, last)
        bias_sum = bias_sums[parts.index((first, last))]
        for t in range(steps - 1, -1, -1):
            if output_grads is not None:
                dh[rows].add_(output_grads[t][rows])
            _backward_rows(dz_np[t, rows], cells_np[t, rows], tanh_np[t, rows], dh_np[rows], dc_np[rows], bias_sum)
            torch.mm(dz_steps[t][rows], recurrent_t, out=dh[rows])  # dh_{t-1} = dz_t Uᵀ

    _in_parts(steps_back, parts)
    dz_rows = dz.view(steps * batch, 4 * units)
    grads: list[torch.Tensor | None] = [None] * 6
    if ctx.needs_input_grad[0]:
        features = x.shape[2]
        grads[0] = torch.mm(dz_rows, kernel.t()).view(steps, batch, features).transpose(0, 1)
    grads[1], grads[2] = dh, dc
    if ctx.needs_input_grad[3] or ctx.needs_input_grad[4]:
        rows = inputs[:steps].view(steps * batch, x.shape[2] + units)  # [x_t, h_{t-1}] for every step
        weight_grads = torch.mm(rows.t(), dz_rows)  # [dW; dU] = [X, H_{t-1}]ᵀ dZ
        grads[3], grads[4] = weight_grads[: x.shape[2]], weight_grads[x.shape[2] :]
    if ctx.needs_input_grad[5]:
        grads[5] = torch.from_numpy(bias_sums.sum(0)).to(dz.dtype)
    ctx.buffers = None
    _give_back(dz)
    return tuple(grads)


def _checked(tensors: tuple[torch.Tensor, ...], name: str) -> tuple[torch.Tensor, ...]:
    """The tensors made contiguous, once they are known to be CPU tensors of one float dtype."""
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) != 1 or dtypes.pop() not in (torch.float32, torch.float64):
        found = [str(t.dtype) for t in tensors]
        raise TypeError(f"{name} needs one dtype for all tensors, float32 or float64; got {found}.")
    if any(t.device.type != "cpu" for t in tensors):
        raise ValueError(f"{name} runs on the CPU; use backend 'torch' for other devices.")
    return tuple(t.contiguous() for t in tensors)


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
    x, h0, c0, kernel, recurrent_kernel, bias = _checked(tensors, "blocked_lstm")
    with thread_limit(_threads(x, h0.shape[1])):
        if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
            return _BlockedLSTM.apply(x, h0, c0, kernel, recurrent_kernel, bias)
        inputs, cells, _, _ = _forward(x, h0, c0, kernel, recurrent_kernel, bias, keep=False)
    hidden = inputs[:, :, x.shape[2] :]  # h_0..h_T
    return hidden[1:].transpose(0, 1), hidden[-1], cells[-1]


# -- the GRU (Keras's reset_after=True layout: kernel W (F, 3H), recurrent_kernel U (H, 3H),
# bias (2, 3H) = [b_x; b_h], gates z, r, h; equations in lstmkit.ops.gates) --------------------
#   forward   A = X W                          one GEMM over all T·B rows          (T, B, 3H)
#             s_t = h_{t-1} U                  one GEMM a step                      (B, 3H)
#             gates, s_h, h_t (biases added)   one compiled loop a step, kept for backward
#   backward  da_t, ds_t, db                   one compiled loop a step; da_t overwrites the
#                                              gates, ds_t the step's s_t
#             dh_{t-1} = dh_t ⊙ z_t + ds_t Uᵀ  one GEMM a step
#             dW = Xᵀ dA, dU = H_{t-1}ᵀ dS, dX = dA Wᵀ   one GEMM each over all steps


def _gru_forward(
    x: torch.Tensor, h0: torch.Tensor, kernel: torch.Tensor, recurrent_kernel: torch.Tensor,
    bias: torch.Tensor, keep: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Returns hidden (T+1, B, H) = h_0..h_T, gates (T, B, 3H), and s_t (B, 3H), s_h (B, H):
    with `keep`, every step's (T, B, ·) for backward; else one step's scratch."""
    batch, steps, features = x.shape
    units = h0.shape[1]
    hidden = x.new_empty(steps + 1, batch, units)
    hidden[0] = h0
    gates = _take_buffer((steps, batch, 3 * units), x) if keep else x.new_empty(steps, batch, 3 * units)
    torch.mm(x.transpose(0, 1).reshape(steps * batch, features), kernel, out=gates.view(-1, 3 * units))  # x_t W
    states = _take_buffer((steps, batch, 3 * units), x) if keep else x.new_empty(1, batch, 3 * units)
    states_h = x.new_empty(steps if keep else 1, batch, units)
    hidden_np, gates_np, states_np, states_h_np = hidden.numpy(), gates.numpy(), states.numpy(), states_h.numpy()
    bias_np = bias.detach().numpy()
    hidden_steps, state_steps = hidden.unbind(0), states.unbind(0)

    def steps_of(first: int, last: int) -> None:  # rows first..last-1 through every step
        for t in range(steps):
            slot = t if keep else 0
            torch.mm(hidden_steps[t][first:last], recurrent_kernel, out=state_steps[slot][first:last])  # h_{t-1} U
            _gru_forward_rows(gates_np[t, first:last], bias_np, states_np[slot, first:last],
                              hidden_np[t, first:last], states_h_np[slot, first:last], hidden_np[t + 1, first:last])

    _in_parts(steps_of, _parts(batch, torch.get_num_threads()))
    return hidden, gates, states, states_h


class _BlockedGRU(torch.autograd.Function):
    """Autograd wrapper: forward keeps the gates, s_t and s_h; backward as in the comment above."""

    @staticmethod
    def forward(ctx: Any, x, h0, kernel, recurrent_kernel, bias):  # type: ignore[override]
        hidden, gates, states, states_h = _gru_forward(x, h0, kernel, recurrent_kernel, bias, keep=True)
        ctx.save_for_backward(x, kernel, recurrent_kernel)
        ctx.buffers = (hidden, gates, states, states_h)
        ctx.set_materialize_grads(False)
        return hidden[1:].transpose(0, 1), hidden[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_outputs, grad_h_n):  # type: ignore[override]
        x, _, recurrent_kernel = ctx.saved_tensors
        with thread_limit(_threads(x, recurrent_kernel.shape[0])):
            return _gru_backward(ctx, grad_outputs, grad_h_n)


def _gru_backward(
    ctx: Any, grad_outputs: torch.Tensor | None, grad_h_n: torch.Tensor | None
) -> tuple[torch.Tensor | None, ...]:
    """_BlockedGRU's backward: the gradients of x, h0, kernel, recurrent_kernel and bias."""
    x, kernel, recurrent_kernel = ctx.saved_tensors
    if ctx.buffers is None:
        raise RuntimeError(_ONCE)
    hidden, gates, states, states_h = ctx.buffers
    steps, batch, units = states_h.shape
    dh = hidden.new_zeros(batch, units) if grad_h_n is None else grad_h_n.contiguous().clone()
    dh_np, hidden_np, gates_np, states_np, states_h_np = (
        dh.numpy(), hidden.numpy(), gates.numpy(), states.numpy(), states_h.numpy())
    recurrent_t, state_steps = recurrent_kernel.t(), states.unbind(0)
    output_grads = None if grad_outputs is None else grad_outputs.unbind(1)
    parts = _parts(batch, torch.get_num_threads())
    bias_sums = np.zeros((len(parts), 2, 3 * units))  # each part's Σ da_t, Σ ds_t, in float64

    def steps_back(first: int, last: int) -> None:  # rows first..last-1 through every step, last to first
        rows = slice(first, last)
        bias_sum = bias_sums[parts.index((first, last))]
        for t in range(steps - 1, -1, -1):
            if output_grads is not None:
                dh[rows].add_(output_grads[t][rows])
            _gru_backward_rows(gates_np[t, rows], states_h_np[t, rows], hidden_np[t, rows], dh_np[rows],
                               states_np[t, rows], bias_sum)
            dh[rows].addmm_(state_steps[t][rows], recurrent_t)  # dh_{t-1} = dh_t ⊙ z_t + ds_t Uᵀ

    _in_parts(steps_back, parts)
    da_rows, ds_rows = gates.view(steps * batch, 3 * units), states.view(steps * batch, 3 * units)
    grads: list[torch.Tensor | None] = [None] * 5
    if ctx.needs_input_grad[0]:
        grads[0] = torch.mm(da_rows, kernel.t()).view(steps, batch, x.shape[2]).transpose(0, 1)
    grads[1] = dh
    if ctx.needs_input_grad[2]:
        grads[2] = torch.mm(x.transpose(0, 1).reshape(steps * batch, x.shape[2]).t(), da_rows)  # dW = Xᵀ dA
    if ctx.needs_input_grad[3]:
        grads[3] = torch.mm(hidden[:-1].reshape(steps * batch, units).t(), ds_rows)  # dU = H_{t-1}ᵀ dS
    if ctx.needs_input_grad[4]:
        grads[4] = torch.from_numpy(bias_sums.sum(0)).to(gates.dtype)
    ctx.buffers = None
    _give_back(gates, states)
    return tuple(grads)


def blocked_gru(
    x: torch.Tensor, h0: torch.Tensor, kernel: torch.Tensor, recurrent_kernel: torch.Tensor, bias: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run one GRU layer (tanh/sigmoid, Keras's reset_after=True) over a sequence on the CPU.

    Args:
        x: inputs (B, T, F); h0: initial state (B, H).
        kernel (F, 3H), recurrent_kernel (H, 3H), bias (2, 3H) or None: Keras's layout, gates z r h.
            All tensors on the CPU and of one dtype, float32 or float64.

    Returns:
        outputs (B, T, H) = h_1..h_T and h_T (B, H): lstmkit.ops.reference's GRU numbers up to
        round-off. Gradients flow to every argument.
    """
    if bias is None:
        bias = kernel.new_zeros(2, kernel.shape[1])
    x, h0, kernel, recurrent_kernel, bias = _checked((x, h0, kernel, recurrent_kernel, bias), "blocked_gru")
    with thread_limit(_threads(x, h0.shape[1], gates=3)):
        if torch.is_grad_enabled() and any(t.requires_grad for t in (x, h0, kernel, recurrent_kernel, bias)):
            return _BlockedGRU.apply(x, h0, kernel, recurrent_kernel, bias)
        hidden, _, _, _ = _gru_forward(x, h0, kernel, recurrent_kernel, bias, keep=False)
    return hidden[1:].transpose(0, 1), hidden[-1]
