"""Fused training for medium-sized models: whole batches through BLAS GEMMs, in one compiled call.

lstmkit.ops.fused trains tutorial-sized models one sample at a time; from a few ·10⁷ forward
flops per batch, the arithmetic outweighs the framework's overhead and batched matrix
products win. Here a whole fit (every batch of every epoch: forward, loss, backpropagation
through time, the optimizer update) is still one numba call, but each step of the recurrence
works on the whole batch, as lstmkit.ops.blocked does, with no autograd or torch.optim between.
On two threads, each batch is cut in halves whose gradients two threads compute at once, then
add up for one optimizer step: one meeting per step, so a thread that another process delays
costs that step's time, never more (W2: 1.2 s on two threads, 2.2 s on one, 2.26 s on two with
the other core busy).

    forward   P = X W                          one GEMM over all T·B rows         (T·B, 4H)
              z_t = P_t + b + h_{t-1} U        one GEMM a step                    (B, 4H)
              gates, c_t, tanh(c_t), h_t       one compiled loop a step, kept for backward
    backward  dz_t, dc_{t-1}                   one compiled loop a step; dz_t overwrites the gates
              dh_{t-1} = dz_t Uᵀ               one GEMM a step
              dW = Xᵀ dZ, dU = H_{t-1}ᵀ dZ, db = Σ dZ, dX = dZ Wᵀ (to the layer below)
                                               one GEMM each, over all steps at once

The GEMMs are numba's np.dot, which calls scipy's OpenBLAS, kept on one thread (see
lstmkit.ops.threads.one_blas_thread); the gate loops compute σ and tanh as lstmkit.ops.blocked
does, in the data's own precision. Buffers are time-major: row t·B + b holds sample b at step t,
so a step's rows are contiguous and all steps stack into one matrix.

The arguments, the results and the models covered are lstmkit.ops.fused.lstm_dense_fit's, and
so are the numbers, up to float32 round-off (tests/test_batched.py checks both against
torch.nn.LSTM + torch.optim). Letters: N samples, B batch, T timesteps, F features, H units,
O outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from lstmkit.ops import fused
from lstmkit.ops.jit import kernel
from lstmkit.ops.blocked import _BOUND, _backward_gates, _sigmoid, _tanh
from lstmkit.ops.threads import one_blas_thread



def lstm_dense_fit(
    x: np.ndarray,
    y: np.ndarray,
    weights: Sequence[np.ndarray],
    optimizer: fused.AdamState | fused.SGDState,
    orders: np.ndarray,
    batch_size: int,
    loss: str = "mse",
    threads: int = 1,
) -> np.ndarray:
    """lstmkit.ops.fused.lstm_dense_fit (same arguments, same results), batch by batch.

    With `threads` 2, each batch is split in two halves whose gradients two threads compute at
    once (then summed for one optimizer step); with 1, the whole fit is one compiled call.

    Returns:
        The loss of every batch (E, ceil(N / batch_size)), float64.

    Raises:
        ValueError, TypeError: as lstmkit.ops.fused.lstm_dense_fit.
    """
    x, y, orders, optimizer_settings, slots = fused.check_fit(
        x, y, weights, optimizer, orders, batch_size, loss
    )
    if threads not in (1, 2):
        raise ValueError(f"threads must be 1 or 2; got {threads!r}.")
    grads = [np.zeros_like(w) for w in weights]
    flat = tuple(fused.flat_views(arrays) for arrays in (weights, grads, *slots))
    losses = np.empty((len(orders), -(-len(x) // batch_size)))
    data = (x, y, orders, batch_size, fused.LOSS_KINDS[loss])
    model = fused.split_weights(weights)
    half = -(-min(batch_size, len(x)) // 2)
    second_grads = [np.zeros_like(g) for g in grads]
    model_grads = (fused.split_weights(grads), fused.split_weights(second_grads))
    flat_second_grads = fused.flat_views(second_grads)
    scratches = tuple(_make_scratch(half, x.shape[1], x.shape[2], weights) for _ in range(2))
    halves = (model_grads, flat_second_grads, scratches)
    with one_blas_thread():
        if threads == 1:
            _fit_kernel(data, model, halves, flat, optimizer_settings, losses)
        else:
            _fit_in_halves(data, model, halves, flat, optimizer_settings, losses)
    optimizer.step += losses.size
    return losses


def _fit_in_halves(data: tuple, model: tuple, halves: tuple, flat: tuple, optimizer_settings: tuple,
                   losses: np.ndarray) -> None:
    """_fit_kernel's work with the second half of every batch on a worker thread: the same
    arithmetic in the same order, so one thread and two give identical numbers."""
    x, y, orders, batch_size, loss_kind = data
    kind, settings, step = optimizer_settings
    model_grads, flat_second_grads, scratches = halves
    with ThreadPoolExecutor(1) as worker:
        for epoch in range(len(orders)):
            for batch in range(losses.shape[1]):
                indices = orders[epoch, batch * batch_size : (batch + 1) * batch_size]
                count = indices.size * y.shape[1]
                middle = -(-indices.size // 2)
                if middle == indices.size:  # one sample: no second half
                    for grad in flat_second_grads:
                        grad.fill(0)
                    second = None
                else:
                    second = worker.submit(_batch_gradients, x, y, indices[middle:], model, model_grads[1],
                                           loss_kind, scratches[1], count)
                first = indices[:middle]
                total = _batch_gradients(x, y, first, model, model_grads[0], loss_kind, scratches[0], count)
                if second is not None:
                    total += second.result()
                losses[epoch, batch] = total / count
                step += 1
                _step_on_sum(kind, settings, step, flat, flat_second_grads)


def _make_scratch(batch: int, timesteps: int, features: int, weights: Sequence[np.ndarray]) -> tuple:
    """Flat buffers for batches of up to `batch` samples: (one tuple per LSTM layer, the inputs
    X (T·B·F), y_hat (B·O)). A layer's tuple: h_0..h_T and c_0..c_T ((T+1)·B·H), the gates, later
    dz (T·B·4H), tanh(c_t) (T·B·H), h_{t-1} U (B·4H), dh and dc (B·H), and the dL/dh_t arriving
    from the layer above (T·B·H)."""
    dtype, rows, per_layer = weights[0].dtype, timesteps * batch, []
    for recurrent_kernel in weights[1:-2:3]:
        units = len(recurrent_kernel)
        sizes = [rows + batch, rows + batch, 4 * rows, rows, 4 * batch, batch, batch, rows]
        per_layer.append(tuple(np.empty(size * units, dtype) for size in sizes))
    return tuple(per_layer), np.empty(rows * features, dtype), np.empty(batch * len(weights[-1]), dtype)


@kernel()
def _fit_kernel(data, model, halves, flat, optimizer_settings, losses):
    """Run len(orders) epochs on one thread. Each batch's gradients are computed in two halves
    and summed, as _fit_in_halves does on two threads, so the thread count (chosen by the
    machine's load) never changes the numbers."""
    x, y, orders, batch_size, loss_kind = data
    model_grads, second_grads, scratches = halves
    kind, settings, step = optimizer_settings
    for epoch in range(orders.shape[0]):
        for batch in range(losses.shape[1]):
            indices = orders[epoch, batch * batch_size : (batch + 1) * batch_size]
            count = indices.size * y.shape[1]
            middle = -(-indices.size // 2)
            total = _batch_gradients(x, y, indices[:middle], model, model_grads[0], loss_kind, scratches[0], count)
            if middle == indices.size:  # one sample: no second half
                for grad in second_grads:
                    grad[:] = 0
            else:
                total += _batch_gradients(x, y, indices[middle:], model, model_grads[1], loss_kind, scratches[1],
                                          count)
            losses[epoch, batch] = total / count
            step += 1
            _step_on_sum(kind, settings, step, flat, second_grads)


@kernel()
def _step_on_sum(kind, settings, step, flat, second_grads):
    """Add the second half's gradients to the first's (flat[1]), then take the optimizer step."""
    flat_weights, flat_grads, flat_first, flat_second = flat
    for grad, more in zip(flat_grads, second_grads):
        for n in range(grad.size):
            grad[n] += more[n]
    fused.optimizer_step(kind, settings, step, flat_weights, flat_grads, flat_first, flat_second)


@kernel(nogil=True)
def _batch_gradients(x, y, indices, model, grads, loss_kind, scratch, count):
    """The sum of the loss terms of the samples `indices` of x, y; the gradients of that sum
    divided by `count` (the batch's B·O, of which these samples may be a part) overwrite grads."""
    layers, (dense_kernel, dense_bias) = model
    layer_grads, (grad_dense_kernel, grad_dense_bias) = grads
    layer_scratch, inputs_flat, output_flat = scratch
    batch, timesteps, features = indices.size, x.shape[1], x.shape[2]
    rows, top = timesteps * batch, len(layers) - 1
    inputs = inputs_flat[: rows * features].reshape((rows, features))
    for b in range(batch):  # time-major: row t·B + b is sample b at step t
        sample = x[indices[b]]
        for t in range(timesteps):
            for f in range(features):
                inputs[t * batch + b, f] = sample[t, f]
    for layer in range(len(layers)):
        _layer_forward(inputs, layers[layer], layer_scratch[layer], batch)
        inputs = _outputs(layer_scratch[layer], len(layers[layer][1]), batch, rows)

    # y_hat = h_T Wd + bd; the loss; then y_hat becomes dL/dy_hat
    h_last = inputs[rows - batch :]
    outputs = dense_bias.size
    y_hat = output_flat[: batch * outputs].reshape((batch, outputs))
    np.dot(h_last, dense_kernel, y_hat)
    # d(mean loss)/d(y_hat) = 2 (y_hat - y) / (B O) for "mse", sign(y_hat - y) / (B O) for "mae"
    scale = x.dtype.type((2.0 if loss_kind == 0 else 1.0) / count)
    total = 0.0
    grad_dense_bias[:] = 0
    for b in range(batch):
        target = y[indices[b]]
        for o in range(outputs):
            diff = (y_hat[b, o] + dense_bias[o]) - target[o]
            total += float(diff) ** 2 if loss_kind == 0 else abs(float(diff))
            y_hat[b, o] = diff * scale if loss_kind == 0 else np.sign(diff) * scale
            grad_dense_bias[o] += y_hat[b, o]
    dy_hat = y_hat
    np.dot(h_last.T, dy_hat, grad_dense_kernel)  # dWd = h_Tᵀ dy_hat
    top_units = len(layers[top][1])
    dh = layer_scratch[top][5][: batch * top_units].reshape((batch, top_units))
    np.dot(dy_hat, dense_kernel.T, dh)  # dh_T = dy_hat Wdᵀ

    for layer in range(top, -1, -1):
        if layer == 0:
            inputs = inputs_flat[: rows * features].reshape((rows, features))
        else:
            inputs = _outputs(layer_scratch[layer - 1], len(layers[layer - 1][1]), batch, rows)
        top_layer = layer == top
        dz = _layer_backward(inputs, layers[layer], layer_scratch[layer], layer_grads[layer], batch, top_layer)
        if layer > 0:  # dX = dZ Wᵀ is the dL/dh_t arriving at the layer below
            units = len(layers[layer - 1][1])
            below = layer_scratch[layer - 1][7][: rows * units].reshape((rows, units))
            np.dot(dz, layers[layer][0].T, below)
    return total


@kernel()
def _outputs(scratch, units, batch, rows):
    """A layer's h_1..h_T (T·B, H): its hidden buffer after h_0."""
    return scratch[0][batch * units : (rows + batch) * units].reshape((rows, units))


@kernel()
def _layer_forward(inputs, layer, scratch, batch):
    """One layer over all steps: inputs (T·B, F) -> h_1..h_T; keeps what backward needs."""
    kernel, recurrent_kernel, bias = layer
    units, rows = len(recurrent_kernel), inputs.shape[0]
    hidden = scratch[0][: (rows + batch) * units].reshape((rows + batch, units))
    cells = scratch[1][: (rows + batch) * units].reshape((rows + batch, units))
    gates = scratch[2][: rows * 4 * units].reshape((rows, 4 * units))
    tanh_cells = scratch[3][: rows * units].reshape((rows, units))
    recurrent = scratch[4][: batch * 4 * units].reshape((batch, 4 * units))
    hidden[:batch] = 0  # h_0 = c_0 = 0
    cells[:batch] = 0
    recurrent[:] = 0  # h_0 U
    np.dot(inputs, kernel, gates)  # x_t W, all steps at once
    for start in range(0, rows, batch):
        stop = start + batch
        if start > 0:
            np.dot(hidden[start:stop], recurrent_kernel, recurrent)  # h_{t-1} U
        _forward_gates(gates[start:stop], recurrent, bias, cells[start:stop], cells[stop : stop + batch],
                       tanh_cells[start:stop], hidden[stop : stop + batch])


@kernel()
def _forward_gates(z, recurrent, bias, c_prev, c, tanh_c, h):
    """z (B, 4H) = x_t W in; the gates i, f, g, o out (in place), from z + b + h_{t-1} U;
    writes c_t, tanh(c_t) and h_t (B, H)."""
    units = c.shape[1]
    one, bound = c.dtype.type(1.0), c.dtype.type(_BOUND)
    bias_i, bias_f = bias[:units], bias[units : 2 * units]
    bias_g, bias_o = bias[2 * units : 3 * units], bias[3 * units :]
    for b in range(z.shape[0]):
        # One-dimensional unit-stride views: the loop below then vectorizes (2-D indexing does not).
        z_i, z_f = z[b, :units], z[b, units : 2 * units]
        z_g, z_o = z[b, 2 * units : 3 * units], z[b, 3 * units :]
        r_i, r_f = recurrent[b, :units], recurrent[b, units : 2 * units]
        r_g, r_o = recurrent[b, 2 * units : 3 * units], recurrent[b, 3 * units :]
        c_prev_b, c_b, tanh_c_b, h_b = c_prev[b], c[b], tanh_c[b], h[b]
        for j in range(units):
            input_gate = _sigmoid(z_i[j] + bias_i[j] + r_i[j], one, bound)
            forget_gate = _sigmoid(z_f[j] + bias_f[j] + r_f[j], one, bound)
            candidate = _tanh(z_g[j] + bias_g[j] + r_g[j], one, bound)
            output_gate = _sigmoid(z_o[j] + bias_o[j] + r_o[j], one, bound)
            cell = forget_gate * c_prev_b[j] + input_gate * candidate  # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
            tanh_cell = _tanh(cell, one, bound)
            z_i[j], z_f[j], z_g[j], z_o[j] = input_gate, forget_gate, candidate, output_gate
            c_b[j] = cell
            tanh_c_b[j] = tanh_cell
            h_b[j] = output_gate * tanh_cell  # h_t = o_t ⊙ tanh(c_t)


@kernel()
def _layer_backward(inputs, layer, scratch, grads, batch, top):
    """Backpropagate through one layer's T steps; overwrite its grads (dW, dU, db); return dZ
    (T·B, 4H). The top layer's dh must hold dL/dh_T; a lower layer's dL/dh_t come from above."""
    kernel, recurrent_kernel, _ = layer
    grad_kernel, grad_recurrent_kernel, grad_bias = grads
    units, rows = len(recurrent_kernel), inputs.shape[0]
    hidden = scratch[0][: (rows + batch) * units].reshape((rows + batch, units))
    cells = scratch[1][: (rows + batch) * units].reshape((rows + batch, units))
    dz = scratch[2][: rows * 4 * units].reshape((rows, 4 * units))  # the gates, replaced by dz_t
    tanh_cells = scratch[3][: rows * units].reshape((rows, units))
    dh = scratch[5][: batch * units].reshape((batch, units))
    dc = scratch[6][: batch * units].reshape((batch, units))
    from_above = scratch[7][: rows * units].reshape((rows, units))
    dc[:] = 0
    if not top:
        dh[:] = 0
    for start in range(rows - batch, -1, -batch):
        stop = start + batch
        if not top:
            _add_into(from_above[start:stop], dh)
        _backward_gates(dz[start:stop], cells[start:stop], tanh_cells[start:stop], dh, dc)
        if start > 0:  # dh_0 is not needed
            np.dot(dz[start:stop], recurrent_kernel.T, dh)  # dh_{t-1} = dz_t Uᵀ
    np.dot(inputs.T, dz, grad_kernel)  # dW = Xᵀ dZ
    if rows > batch:  # dU = Σ_t h_{t-1}ᵀ dz_t, from t = 2 as h_0 = 0
        np.dot(hidden[batch:rows].T, dz[batch:], grad_recurrent_kernel)
    else:
        grad_recurrent_kernel[:] = 0
    _column_sums(dz, grad_bias)  # db = Σ dZ
    return dz


@kernel()
def _add_into(values, target):
    """target += values, both (R, C). Loops here and in _column_sums: numba's array arithmetic
    compiles a shape check whose error message alone takes ~2 s to compile."""
    for r in range(target.shape[0]):
        row, source = target[r], values[r]
        for j in range(target.shape[1]):
            row[j] += source[j]


@kernel()
def _column_sums(values, out):
    """out (C,) = the sum of the rows of values (R, C)."""
    out[:] = 0
    for r in range(values.shape[0]):
        source = values[r]
        for j in range(out.size):
            out[j] += source[j]
