"""Fused training for medium-sized models (LSTM or GRU stacks, then a Dense): whole batches through
BLAS GEMMs, in one compiled call.

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

The GRU's layers run the same way: A = X W one GEMM, s_t = h_{t-1} U one GEMM a step, then its
gate loop (the biases are added there); backward dh_{t-1} = dh_t ⊙ z_t + ds_t Uᵀ, dW = Xᵀ dA,
dU = H_{t-1}ᵀ dS, and the bias's rows Σ dA and Σ dS.

The GEMMs are numba's np.dot, which calls scipy's OpenBLAS, kept on one thread (see
lstmkit.ops.blas_threads.one_blas_thread); the gate loops are lstmkit.ops.gates's routines, with σ and
tanh in the data's own precision as in lstmkit.ops.blocked. Buffers are time-major: row t·B + b
holds sample b at step t, so a step's rows are contiguous and all steps stack into one matrix.

The arguments, the results and the models covered are lstmkit.ops.fused.dense_fit's (LSTM or GRU
stacks, then one Dense), and so are the numbers, up to float32 round-off (tests/test_batched.py
and tests/test_fused_gru.py check both against torch.nn.LSTM/GRU + torch.optim). Letters:
N samples, B batch, T timesteps, F features, H units, O outputs.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from numba.extending import overload

from lstmkit.ops import fused
from lstmkit.ops.fused_optimizers import AdamState, SGDState, flat_views, optimizer_step
from lstmkit.ops.gates import gru_backward_rows, gru_forward_rows, lstm_backward_rows, lstm_forward_rows
from lstmkit.ops.jit import kernel
from lstmkit.ops.blas_threads import one_blas_thread

def dense_fit(
    x: np.ndarray,
    y: np.ndarray,
    weights: Sequence[np.ndarray],
    optimizer: AdamState | SGDState,
    orders: np.ndarray,
    batch_size: int,
    loss: str = "mse",
    threads: int = 1,
    cell: str = "lstm",
) -> np.ndarray:
    """lstmkit.ops.fused.dense_fit (same arguments, same results), batch by batch.

    With `threads` 2, each batch is split in two halves whose gradients two threads compute at
    once (then summed for one optimizer step); with 1, the whole fit is one compiled call.

    Returns:
        The loss of every batch (E, ceil(N / batch_size)), float64.

    Raises:
        ValueError, TypeError: as lstmkit.ops.fused.dense_fit.
    """
    x, y, orders, optimizer_settings, slots = fused.check_fit(
        x, y, weights, optimizer, orders, batch_size, loss, cell
    )
    if threads not in (1, 2):
        raise ValueError(f"threads must be 1 or 2; got {threads!r}.")
    grads = [np.zeros_like(w) for w in weights]
    flat = tuple(flat_views(arrays) for arrays in (weights, grads, *slots))
    losses = np.empty((len(orders), -(-len(x) // batch_size)))
    data = (x, y, orders, batch_size, fused.LOSS_KINDS[loss])
    model = fused.split_weights(weights)
    half = -(-min(batch_size, len(x)) // 2)
    second_grads = [np.zeros_like(g) for g in grads]
    model_grads = (fused.split_weights(grads), fused.split_weights(second_grads))
    flat_second_grads = flat_views(second_grads)
    scratches = tuple(_make_scratch(half, x.shape[1], x.shape[2], weights, cell) for _ in range(2))
    halves = (model_grads, flat_second_grads, scratches)
    with one_blas_thread():
        if threads == 1:
            _fit_kernel(data, model, halves, flat, optimizer_settings, losses)
        else:
            _fit_in_halves(data, model, halves, flat, optimizer_settings, losses)
    optimizer.step += losses.size
    return losses


# Each cell's entry points (the names lstmkit.training.engine_choice's table gives).
lstm_dense_fit = functools.partial(dense_fit, cell="lstm")
gru_dense_fit = functools.partial(dense_fit, cell="gru")


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


def _make_scratch(batch: int, timesteps: int, features: int, weights: Sequence[np.ndarray], cell: str) -> tuple:
    """Flat buffers for batches of up to `batch` samples: (one tuple per recurrent layer, the inputs
    X (T·B·F), y_hat (B·O)). A layer's tuple, for the LSTM: h_0..h_T and c_0..c_T ((T+1)·B·H), the
    gates, later dz (T·B·4H), tanh(c_t) (T·B·H), h_{t-1} U (B·4H), dh and dc (B·H), and the dL/dh_t
    arriving from the layer above (T·B·H); for the GRU: h_0..h_T, s_h = h_{t-1} U_h + b_hh (T·B·H),
    the gates, later da (T·B·3H), ds (T·B·3H), h_{t-1} U (B·3H), dh and ds Uᵀ (B·H), and the
    dL/dh_t from above. Each cell's h, dh and dL/dh_t from above sit at 0, 5 and 7."""
    dtype, rows, per_layer = weights[0].dtype, timesteps * batch, []
    for recurrent_kernel in weights[1:-2:3]:
        units = len(recurrent_kernel)
        if cell == "lstm":
            sizes = [rows + batch, rows + batch, 4 * rows, rows, 4 * batch, batch, batch, rows]
        else:
            sizes = [rows + batch, rows, 3 * rows, 3 * rows, 3 * batch, batch, batch, rows]
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
    optimizer_step(kind, settings, step, flat_weights, flat_grads, flat_first, flat_second)


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
def _lstm_layer_forward(inputs, layer, scratch, batch):
    """One LSTM layer over all steps: inputs (T·B, F) -> h_1..h_T; keeps what backward needs."""
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
        lstm_forward_rows(gates[start:stop], bias, recurrent, cells[start:stop], cells[stop : stop + batch],
                          tanh_cells[start:stop], hidden[stop : stop + batch])


@kernel()
def _lstm_layer_backward(inputs, layer, scratch, grads, batch, top):
    """Backpropagate through one LSTM layer's T steps; overwrite its grads (dW, dU, db); return dZ
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
        lstm_backward_rows(dz[start:stop], cells[start:stop], tanh_cells[start:stop], dh, dc)
        if start > 0:  # dh_0 is not needed
            np.dot(dz[start:stop], recurrent_kernel.T, dh)  # dh_{t-1} = dz_t Uᵀ
    np.dot(inputs.T, dz, grad_kernel)  # dW = Xᵀ dZ
    _recurrent_kernel_grad(hidden, dz, grad_recurrent_kernel, batch)
    _column_sums(dz, grad_bias)  # db = Σ dZ
    return dz


@kernel()
def _gru_layer_forward(inputs, layer, scratch, batch):
    """One GRU layer over all steps: inputs (T·B, F) -> h_1..h_T; keeps what backward needs."""
    kernel, recurrent_kernel, bias = layer
    units, rows = len(recurrent_kernel), inputs.shape[0]
    hidden = scratch[0][: (rows + batch) * units].reshape((rows + batch, units))
    candidate_states = scratch[1][: rows * units].reshape((rows, units))
    gates = scratch[2][: rows * 3 * units].reshape((rows, 3 * units))
    recurrent = scratch[4][: batch * 3 * units].reshape((batch, 3 * units))
    hidden[:batch] = 0  # h_0 = 0
    recurrent[:] = 0  # h_0 U
    np.dot(inputs, kernel, gates)  # x_t W, all steps at once
    for start in range(0, rows, batch):
        stop = start + batch
        if start > 0:
            np.dot(hidden[start:stop], recurrent_kernel, recurrent)  # h_{t-1} U
        gru_forward_rows(gates[start:stop], bias, recurrent, hidden[start:stop], candidate_states[start:stop],
                         hidden[stop : stop + batch])


@kernel()
def _gru_layer_backward(inputs, layer, scratch, grads, batch, top):
    """Backpropagate through one GRU layer's T steps; overwrite its grads (dW, dU, db); return dA
    (T·B, 3H), the gradient of X W. dh as in _lstm_layer_backward."""
    kernel, recurrent_kernel, _ = layer
    grad_kernel, grad_recurrent_kernel, grad_bias = grads
    units, rows = len(recurrent_kernel), inputs.shape[0]
    hidden = scratch[0][: (rows + batch) * units].reshape((rows + batch, units))
    candidate_states = scratch[1][: rows * units].reshape((rows, units))
    da = scratch[2][: rows * 3 * units].reshape((rows, 3 * units))  # the gates, replaced by da_t
    ds = scratch[3][: rows * 3 * units].reshape((rows, 3 * units))
    dh = scratch[5][: batch * units].reshape((batch, units))
    through_product = scratch[6][: batch * units].reshape((batch, units))
    from_above = scratch[7][: rows * units].reshape((rows, units))
    if not top:
        dh[:] = 0
    for start in range(rows - batch, -1, -batch):
        stop = start + batch
        if not top:
            _add_into(from_above[start:stop], dh)
        gru_backward_rows(da[start:stop], candidate_states[start:stop], hidden[start:stop], dh, ds[start:stop])
        if start > 0:  # dh_{t-1} = dh_t ⊙ z_t + ds_t Uᵀ; dh_0 is not needed
            np.dot(ds[start:stop], recurrent_kernel.T, through_product)
            _add_into(through_product, dh)
    np.dot(inputs.T, da, grad_kernel)  # dW = Xᵀ dA
    _recurrent_kernel_grad(hidden, ds, grad_recurrent_kernel, batch)
    _column_sums(da, grad_bias[0])  # db_x = Σ dA
    _column_sums(ds, grad_bias[1])  # db_h = Σ dS
    return da


@kernel()
def _recurrent_kernel_grad(hidden, ds, grad_recurrent_kernel, batch):
    """dU = Σ_t h_{t-1}ᵀ ds_t over all steps, from t = 2 as h_0 = 0."""
    rows = ds.shape[0]
    if rows > batch:
        np.dot(hidden[batch:rows].T, ds[batch:], grad_recurrent_kernel)
    else:
        grad_recurrent_kernel[:] = 0


# The cells' registry: compiled code picks a cell's kernels by the types of its weights (fused.cell_of).
_CELL_KERNELS = {"lstm": (_lstm_layer_forward, _lstm_layer_backward), "gru": (_gru_layer_forward, _gru_layer_backward)}


def _layer_forward(inputs, layer, scratch, batch):  # type: ignore[no-untyped-def]
    """Compiled code only: the layer's cell's _<cell>_layer_forward."""
    raise NotImplementedError


def _layer_backward(inputs, layer, scratch, grads, batch, top):  # type: ignore[no-untyped-def]
    """Compiled code only: the layer's cell's _<cell>_layer_backward."""
    raise NotImplementedError


@overload(_layer_forward)
def _layer_forward_overload(inputs, layer, scratch, batch):  # type: ignore[no-untyped-def]
    forward = _CELL_KERNELS[fused.cell_of(layer)][0]

    def impl(inputs, layer, scratch, batch):  # type: ignore[no-untyped-def]
        forward(inputs, layer, scratch, batch)

    return impl


@overload(_layer_backward)
def _layer_backward_overload(inputs, layer, scratch, grads, batch, top):  # type: ignore[no-untyped-def]
    backward = _CELL_KERNELS[fused.cell_of(layer)][1]

    def impl(inputs, layer, scratch, grads, batch, top):  # type: ignore[no-untyped-def]
        return backward(inputs, layer, scratch, grads, batch, top)

    return impl


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
