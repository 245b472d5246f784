"""Fused CPU kernels for tutorial-sized models: stacked recurrent layers (LSTM or GRU), then a linear Dense.

Training such a model in PyTorch costs about 800 µs a step in framework overhead (autograd,
the optimizer's per-tensor loop), while the arithmetic takes a few µs. Here a whole fit
(forward, loss, backpropagation through time and the optimizer update for every batch of
every epoch) is one compiled numba call, and one window is predicted in about 10 µs.

The numbers are those of `torch.nn.LSTM` (`torch.nn.GRU`) + `torch.nn.Linear` + `torch.optim`,
up to float32 round-off: the same equations (lstmkit.ops.reference) and the optimizers'
operations in torch's order (lstmkit.ops.fused_optimizers). Two things differ only in rounding:
sums over units are reassociated so they vectorize, as a BLAS matrix product does (`_matrix_vector`), and
σ and tanh are lstmkit.ops.gatemath's, evaluated in the data's dtype (as the batched engine does;
in float64 they took ~1 ms more of W1's ~12 ms fit, for results within float32 round-off). The
models covered: recurrent layers of one cell without dropout, from a zero initial state, then
one linear Dense; losses "mse" and "mae"; Adam and SGD.

Weights are a list in Keras's `model.get_weights()` order: for each recurrent layer l, its
kernel W (F_l, G·H_l), recurrent_kernel U (H_l, G·H_l) and bias, with G gates (CELLS); then the
Dense kernel (H_L, O) and bias (O,); F_1 = F and F_l = H_{l-1}. The LSTM's bias is b (4H_l,),
gates i, f, g, o; the GRU's (2, 3H_l), gates z, r, h (Keras's reset_after=True). Every recurrent
layer but the last passes its whole sequence h_1..h_T on; the last passes h_T to the Dense.
Arrays are all float32 or all float64, C-contiguous. Letters: N samples, B batch,
T timesteps, F features, H units, O outputs, L recurrent layers.

Each cell's step is its gate routines (lstmkit.ops.gates) after the vector-matrix products;
backpropagation through a layer (dh_t sums what flows back from step t + 1 and from the layer
above, the Dense at t = T for the last layer) adds dW += x_tᵀ da_t, db += da_t, dx_t = da_t Wᵀ,
and dU += h_{t-1}ᵀ ds_t, dh_{t-1} += ds_t Uᵀ, where da_t and ds_t are the gradients of the input
and recurrent pre-activations (the same for the LSTM, whose one bias goes with the input).

A cell's kernels here: `_<cell>_layer_forward`, `_<cell>_layer_backward`, `_<cell>_layer_predict`
and its cache, registered in `_CELL_KERNELS`; compiled code finds them by the layer's weights
(the bias's dimensions: 1 for the LSTM, 2 for the GRU).
"""

import functools
from collections.abc import Callable, Sequence

import numpy as np
from numba.extending import overload

from lstmkit.ops.fused_optimizers import (  # noqa: F401  (AdamState, SGDState: the engines' optimizer states)
    AdamState,
    SGDState,
    flat_views,
    optimizer_step,
    settings,
)
from lstmkit.ops.gates import gru_forward_row, gru_backward_row, lstm_backward_row, lstm_forward_row
from lstmkit.ops.jit import kernel

LOSS_KINDS = {"mse": 0, "mae": 1}
CELLS = {"lstm": 4, "gru": 3}  # gates per unit: z_t's width is CELLS[cell]·H
# error_model="numpy": x / 0 gives inf as in torch, and no zero check blocks vectorization.
# Kernels called from one place are inlined there as numba compiles: compiled on their own,
# each is optimized again inside every caller, which made a first-ever W1 script (empty numba
# cache) take 8.6-9.4 s instead of 7.9 s. (_lstm_step, also inlined, ran W1's fit 40% slower.)
_INLINED = {"inline": "always"}


def bias_shape(cell: str, units: int) -> tuple[int, ...]:
    """The shape of a layer's bias: (4H,) for the LSTM, (2, 3H) for the GRU."""
    return (4 * units,) if cell == "lstm" else (2, 3 * units)


def dense_predict(
    x: np.ndarray, weights: Sequence[np.ndarray], out: np.ndarray | None = None, cell: str = "lstm"
) -> np.ndarray:
    """Predict y_hat = h_T Wd + bd for every window, each starting from a zero state.

    Args:
        x: windows (B, T, F); copied if it is not C-contiguous of the weights' dtype.
        weights: the model's weights (see the module docstring).
        out: optional (B, O) array of the weights' dtype to write into.
        cell: "lstm" or "gru".

    Returns:
        `out`, the predictions (B, O).

    Raises:
        ValueError: shapes that do not fit together.
    """
    dtype = weights[0].dtype
    x = np.ascontiguousarray(x, dtype=dtype)
    outputs = len(weights[-1])
    if out is None:
        out = np.empty((len(x), outputs), dtype)
    if x.ndim != 3 or x.shape[1] == 0 or out.shape != (len(x), outputs) or out.dtype != dtype:
        raise ValueError(
            f"expected x (batch, timesteps > 0, features) and out (batch, {outputs}) of "
            f"{dtype}; got x {x.shape} and out {out.shape} of {out.dtype}."
        )
    _check_shapes(weights, x.shape[2], cell)
    _predict_kernel(x, *split_weights(weights), out)
    return out


def dense_fit(
    x: np.ndarray,
    y: np.ndarray,
    weights: Sequence[np.ndarray],
    optimizer: AdamState | SGDState,
    orders: np.ndarray,
    batch_size: int,
    loss: str = "mse",
    cell: str = "lstm",
) -> np.ndarray:
    """Train for len(orders) epochs in one compiled call, step for step as torch would.

    Epoch e visits the samples in the order orders[e], in batches of `batch_size` (the last
    one smaller when N is not a multiple of it), each followed by one optimizer step on the
    batch's mean loss ("mse": the mean over batch and outputs of (y_hat - y)², "mae": of
    |y_hat - y|). `weights` and the optimizer's state are updated in place and `optimizer.step`
    advanced, so fitting epoch by epoch gives the same numbers as fitting all epochs in one call.

    Args:
        x: inputs (N, T, F); y: targets (N, O). Converted to the weights' dtype.
        weights: the model's weights (see the module docstring), updated in place.
        optimizer: AdamState or SGDState made for `weights`.
        orders: sample indices (E, N), one row per epoch (a permutation, usually).
        batch_size: samples per optimizer step.
        loss: "mse" or "mae".
        cell: "lstm" or "gru".

    Returns:
        The loss of every batch (E, ceil(N / batch_size)), float64. Keras logs, per epoch,
        their mean weighted by batch size:
        `np.average(losses, axis=1, weights=np.diff(np.r_[0:N:batch_size, N]))`.

    Raises:
        ValueError: an unknown loss or cell, shapes that do not fit together, indices out of range.
        TypeError: an optimizer that is neither AdamState nor SGDState.

    Example:
        orders = np.stack([rng.permutation(len(x)) for _ in range(100)])
        losses = dense_fit(x, y, weights, AdamState(weights), orders, batch_size=1, cell="gru")
    """
    x, y, orders, optimizer_settings, (first_slot, second_slot) = check_fit(
        x, y, weights, optimizer, orders, batch_size, loss, cell
    )
    grads = [np.zeros_like(w) for w in weights]
    model, model_grads = split_weights(weights), split_weights(grads)
    flat = (flat_views(weights), flat_views(grads), flat_views(first_slot), flat_views(second_slot))
    cache = make_cache(x.shape[1], weights, len(y[0]), cell)
    losses = np.empty((len(orders), -(-len(x) // batch_size)))
    data = (x, y, orders, batch_size, LOSS_KINDS[loss])
    _fit_kernel(data, model, model_grads, flat, optimizer_settings, cache, losses)
    optimizer.step += losses.size
    return losses


# Each cell's entry points (the names lstmkit.training.engine_choice's table gives).
lstm_dense_fit = functools.partial(dense_fit, cell="lstm")
gru_dense_fit = functools.partial(dense_fit, cell="gru")


def dense_predictor(weights: Sequence[np.ndarray], cell: str = "lstm") -> Callable[..., np.ndarray | None]:
    """`dense_predict` for one model's weights, window after window: the weights' shapes checked
    and split once, where `dense_predict` does both on every call (~3 µs of W1's ~8).

    Returns:
        predict(x, check=True): the predictions (B, O) for windows x (B, T > 0, F), C-contiguous
        of the weights' dtype with F their input width (the caller's checks); None when `check`
        and a value of x is NaN or ±inf, scanned in the same compiled call as the kernel. The
        weights may change in place between calls (numpy views of a model's parameters).
    """
    _check_shapes(weights, len(weights[0]), cell)
    layers, dense = split_weights(weights)
    dtype, outputs = weights[0].dtype, len(weights[-1])

    def predict(x: np.ndarray, check: bool = True) -> np.ndarray | None:
        out = np.empty((len(x), outputs), dtype)
        return out if _predict_if_finite(x, layers, dense, out, check) else None

    return predict


class CellPredict:
    """A cell's predict entry point: called as `dense_predict(x, weights, out)`; `for_weights(weights)`
    is `dense_predictor` for one model (lstmkit.training.engine_choice.FusedPredictor calls it once)."""

    def __init__(self, cell: str) -> None:
        self.cell = cell

    def __call__(self, x: np.ndarray, weights: Sequence[np.ndarray], out: np.ndarray | None = None) -> np.ndarray:
        return dense_predict(x, weights, out, self.cell)

    def for_weights(self, weights: Sequence[np.ndarray]) -> Callable[..., np.ndarray | None]:
        return dense_predictor(weights, self.cell)


lstm_dense_predict = CellPredict("lstm")
gru_dense_predict = CellPredict("gru")


def check_fit(
    x: np.ndarray,
    y: np.ndarray,
    weights: Sequence[np.ndarray],
    optimizer: AdamState | SGDState,
    orders: np.ndarray,
    batch_size: int,
    loss: str,
    cell: str = "lstm",
) -> tuple:
    """Check dense_fit's arguments (the same for lstmkit.ops.batched's).

    Returns:
        x, y and orders as C-contiguous arrays; the optimizer's (kind, settings, steps taken)
        and its one or two state slots (lstmkit.ops.fused_optimizers.settings).
    """
    x, y = check_data(x, y, weights, loss, cell)
    orders = np.ascontiguousarray(orders, dtype=np.int64)
    if orders.ndim != 2 or orders.shape[1] != len(x) or orders.size == 0:
        raise ValueError(f"orders must have shape (epochs, {len(x)}); got {orders.shape}.")
    if orders.min() < 0 or orders.max() >= len(x):
        raise ValueError(f"orders must hold sample indices in [0, {len(x)}).")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer of at least 1; got {batch_size!r}.")
    optimizer_settings, slots = settings(optimizer)
    for slot in slots:
        _check_arrays_like(slot, weights, "the optimizer state")
    return x, y, orders, optimizer_settings, slots


def split_weights(weights: Sequence[np.ndarray]) -> tuple:
    """Keras's flat order -> (((W_1, U_1, b_1), ..., (W_L, U_L, b_L)), (Wd, bd)), for numba."""
    layers = tuple(tuple(weights[i : i + 3]) for i in range(0, len(weights) - 2, 3))
    return layers, tuple(weights[-2:])


def make_cache(timesteps: int, weights: Sequence[np.ndarray], outputs: int, cell: str = "lstm") -> tuple:
    """Scratch for _add_sample_gradients: (one tuple per recurrent layer, y_hat (O,)).

    A layer's tuple holds what its backward pass needs from its forward pass. Every cell's
    starts with h_t (T+1, H) with h_0 = 0 in row 0, the dL/dh_t arriving from above (T, H), and
    the gates (T, G·H), which backward replaces by da_t. Then the LSTM's: c_t (T+1, H) with
    c_0 = 0, tanh(c_t) (T, H), dh and dc (H); the GRU's: h_{t-1} U + b_h (T, 3H), replaced by ds_t,
    its candidate part s_h (T, H), and dh (H).
    """
    dtype, gates, per_layer = weights[0].dtype, CELLS[cell], []
    for recurrent_kernel in weights[1:-2:3]:
        units = len(recurrent_kernel)
        common = (
            np.zeros((timesteps + 1, units), dtype), np.zeros((timesteps, units), dtype),
            np.empty((timesteps, gates * units), dtype),
        )  # fmt: skip
        if cell == "lstm":
            own = (np.zeros((timesteps + 1, units), dtype), np.empty((timesteps, units), dtype),
                   np.empty(units, dtype), np.empty(units, dtype))
        else:
            own = (np.empty((timesteps, 3 * units), dtype), np.empty((timesteps, units), dtype), np.empty(units, dtype))
        per_layer.append(common + own)
    return tuple(per_layer), np.empty(outputs, dtype)


def check_data(x, y, weights: Sequence[np.ndarray], loss: str, cell: str = "lstm") -> tuple[np.ndarray, np.ndarray]:
    """Check a training set and return x, y as C-contiguous arrays of the weights' dtype."""
    if loss not in LOSS_KINDS:
        raise ValueError(f"unknown loss {loss!r}; the fused kernels know 'mse' and 'mae'.")
    dtype, outputs = weights[0].dtype, len(weights[-1])
    x, y = np.ascontiguousarray(x, dtype=dtype), np.ascontiguousarray(y, dtype=dtype)
    if x.ndim != 3 or 0 in x.shape[:2] or y.shape != (len(x), outputs):
        raise ValueError(
            f"expected x (samples > 0, timesteps > 0, features) and y (samples, {outputs}); "
            f"got {x.shape} and {y.shape}."
        )
    _check_arrays_like(weights, weights, "weights")
    _check_shapes(weights, x.shape[2], cell)
    return x, y


def _check_shapes(weights: Sequence[np.ndarray], features: int, cell: str) -> None:
    """Shapes that chain as the module docstring says.

    They guard memory: the kernels do not check bounds. (A dtype or layout the kernels were
    not compiled for costs a compilation, not a wrong answer.) Plain loops, as this runs
    before every prediction, which takes about 10 µs.
    """
    if cell not in CELLS:
        raise ValueError(f"unknown cell {cell!r}; the fused kernels know {sorted(CELLS)}.")
    inputs, count, gates = features, len(weights), CELLS[cell]
    name = cell.upper()
    if count < 5 or count % 3 != 2:
        raise ValueError(
            f"weights must be kernel, recurrent_kernel and bias of each {name} layer, then the "
            f"Dense kernel and bias: 3 L + 2 arrays; got {count}."
        )
    chained = True
    for i in range(0, count - 2, 3):
        units = len(weights[i + 1])
        chained = chained and weights[i].shape == (inputs, gates * units)
        chained = chained and weights[i + 1].shape == (units, gates * units)
        chained = chained and weights[i + 2].shape == bias_shape(cell, units)
        inputs = units
    if not (chained and weights[-2].shape == (inputs, len(weights[-1])) and weights[-1].ndim == 1):
        expected, inputs = [], features
        for i in range(0, count - 2, 3):
            units = len(weights[i + 1])
            expected += [(inputs, gates * units), (units, gates * units), bias_shape(cell, units)]
            inputs = units
        expected += [(inputs, len(weights[-1])), (len(weights[-1]),)]
        raise ValueError(
            f"weights must be kernel, recurrent_kernel and bias of each {name} layer, then the "
            f"Dense kernel and bias: for {features} features, shapes {expected}; "
            f"got {[w.shape for w in weights]}."
        )
def _check_arrays_like(arrays, weights: Sequence[np.ndarray], name: str) -> None:
    """Numpy arrays shaped like the weights, all float32 or all float64, C-contiguous and
    writeable, as the kernels that update them in place need."""
    dtype = getattr(weights[0], "dtype", None)
    fine = len(arrays) == len(weights) and (dtype == np.float32 or dtype == np.float64)
    for array, weight in zip(arrays, weights):
        fine = (
            fine
            and type(array) is np.ndarray
            and array.dtype == dtype
            and array.shape == weight.shape
            and array.flags.c_contiguous
            and array.flags.writeable
        )
    if not fine:
        found = [(getattr(a, "shape", None), getattr(a, "dtype", type(a))) for a in arrays]
        raise ValueError(
            f"{name} must be C-contiguous, writeable numpy arrays, all float32 or all "
            f"float64, shaped like the weights; got (shape, dtype) {found}."
        )


# ---------------------------------------------------------------------------------------
# Compiled kernels. Plain loops: up to H = 128, numba's np.dot (BLAS, through scipy) was
# measured no faster, and at H = 256 faster only for dz Uᵀ, by a sixth.


@kernel()
def _add_vector_matrix(vector, matrix, out):
    """out += vector @ matrix for vector (K,), matrix (K, J), out (J,), adding row k = 0, 1, ...

    Four rows per pass over `out`, so that out[j] is loaded and stored K / 4 times, not K.
    """
    rows, columns = matrix.shape
    k = 0
    while k + 4 <= rows:
        a0, a1, a2, a3 = vector[k], vector[k + 1], vector[k + 2], vector[k + 3]
        m0, m1, m2, m3 = matrix[k], matrix[k + 1], matrix[k + 2], matrix[k + 3]
        for j in range(columns):
            out[j] = out[j] + a0 * m0[j] + a1 * m1[j] + a2 * m2[j] + a3 * m3[j]
        k += 4
    for k in range(k, rows):
        a, m = vector[k], matrix[k]
        for j in range(columns):
            out[j] = out[j] + a * m[j]


@kernel(**_INLINED)
def _copy(source, target):
    """target[:] = source for vectors of one length. A loop: numba's slice assignment compiles a
    shape check whose error message alone takes ~2 s to compile. Inlined (as _add), as a call
    costs a pair of atomic reference-count updates for each row view passed (W1's fit: ~0.8 ms)."""
    for j in range(target.size):
        target[j] = source[j]


@kernel(**_INLINED)
def _add(values, target):
    """target += values for vectors of one length (a loop, as in _copy)."""
    for j in range(target.size):
        target[j] += values[j]


@kernel(fastmath={"reassoc"})
def _matrix_vector(matrix, vector, out, add):
    """out[k] = Σ_j matrix[k, j] vector[j] for each row k of matrix (K, J), vector (J,), out (K,), or
    out[k] += it when `add`; each sum reassociated so that it vectorizes. Rows are indexed, not
    passed as views to a call per row: each view passed to a call costs a pair of atomic
    reference-count updates, which took ~10% of W1's fit."""
    for k in range(matrix.shape[0]):
        total = matrix.dtype.type(0)
        for n in range(vector.size):
            total += matrix[k, n] * vector[n]
        out[k] = out[k] + total if add else total


@kernel()
def _add_outer_products(vectors, matrix, out):
    """out += vectorsᵀ matrix for vectors (R, K), matrix (R, J), out (K, J): row k of out takes
    _add_vector_matrix(vectors[:, k], matrix, out[k]), in the same order, without the views."""
    rows, columns = matrix.shape
    for k in range(out.shape[0]):
        r = 0
        while r + 4 <= rows:
            a0, a1, a2, a3 = vectors[r, k], vectors[r + 1, k], vectors[r + 2, k], vectors[r + 3, k]
            for j in range(columns):
                out[k, j] = (out[k, j] + a0 * matrix[r, j] + a1 * matrix[r + 1, j] + a2 * matrix[r + 2, j]
                             + a3 * matrix[r + 3, j])
            r += 4
        for r in range(r, rows):
            a = vectors[r, k]
            for j in range(columns):
                out[k, j] = out[k, j] + a * matrix[r, j]


# -- the LSTM ------------------------------------------------------------------------------


@kernel()
def lstm_step(x_t, h_prev, c_prev, kernel, recurrent_kernel, bias, gates, h, c, tanh_c):
    """One LSTM step for one sample.

    x_t (F,), h_prev, c_prev (H,). Writes the activations i, f, g, o into gates (4H,),
    and h_t, c_t, tanh(c_t) into h, c, tanh_c (H,), which must not be h_prev or c_prev.
    """
    _copy(bias, gates)  # z_t = x_t W + h_{t-1} U + b   (4H)
    _add_vector_matrix(x_t, kernel, gates)
    _add_vector_matrix(h_prev, recurrent_kernel, gates)
    lstm_forward_row(gates, None, None, c_prev, c, tanh_c, h, c.dtype.type(0.0))


@kernel(**_INLINED)
def _lstm_layer_forward(inputs, layer, layer_cache):
    """One layer over one sample's T steps, keeping what backward needs (see make_cache)."""
    kernel, recurrent_kernel, bias = layer
    hs, _, gates, cs, tanh_cs = layer_cache[:5]
    for t in range(inputs.shape[0]):
        lstm_step(inputs[t], hs[t], cs[t], kernel, recurrent_kernel, bias, gates[t], hs[t + 1], cs[t + 1], tanh_cs[t])


@kernel(**_INLINED)
def _lstm_layer_backward(inputs, layer, layer_cache, layer_grads):
    """Backpropagate one sample through the T steps of one layer (lstmkit.ops.gates).

    inputs (T, F): the layer's x_t. layer_cache: see make_cache; its dL/dh_t from above
    must be filled in. layer_grads: (dW, dU, db), added to.
    """
    _, recurrent_kernel, _ = layer
    hs, dh_from_above, dzs, cs, tanh_cs, dh, dc = layer_cache
    grad_kernel, grad_recurrent_kernel, grad_bias = layer_grads
    timesteps = inputs.shape[0]
    dh[:] = 0
    dc[:] = 0
    for t in range(timesteps - 1, -1, -1):
        _add(dh_from_above[t], dh)
        lstm_backward_row(dzs[t], cs[t], tanh_cs[t], dh, dc)  # the gates become dz_t
        if t > 0:  # dh_0 is not needed
            _matrix_vector(recurrent_kernel, dzs[t], dh, False)  # dh_{t-1} = dz_t Uᵀ
    # db += Σ_t dz_t, dW += Σ_t x_tᵀ dz_t, dU += Σ_t h_{t-1}ᵀ dz_t (from t = 2, as h_0 = 0)
    for t in range(timesteps):
        _add(dzs[t], grad_bias)
    for f in range(inputs.shape[1]):
        _add_vector_matrix(inputs[:, f], dzs, grad_kernel[f])
    _add_outer_products(hs[1:timesteps], dzs[1:], grad_recurrent_kernel)


@kernel(**_INLINED)
def _lstm_layer_predict(inputs, layer):
    """h_0..h_T (T+1, H) of one layer over one sample's inputs (T, F), from a zero state."""
    kernel, recurrent_kernel, bias = layer
    timesteps, units, dtype = inputs.shape[0], len(recurrent_kernel), inputs.dtype
    # h_t, c_t in row t; separate rows vectorize, updating h and c in place does not
    hs, cs = np.zeros((timesteps + 1, units), dtype), np.zeros((timesteps + 1, units), dtype)
    gates, tanh_c = np.empty(4 * units, dtype), np.empty(units, dtype)
    for t in range(timesteps):
        lstm_step(inputs[t], hs[t], cs[t], kernel, recurrent_kernel, bias, gates, hs[t + 1], cs[t + 1], tanh_c)
    return hs


# -- the GRU -------------------------------------------------------------------------------


@kernel()
def gru_step(x_t, h_prev, kernel, recurrent_kernel, bias, a, s, s_h, h):
    """One GRU step for one sample.

    x_t (F,), h_prev (H,). Writes the gates z, r, h̃ into a (3H,), h_{t-1} U + b_h into s (3H,),
    its candidate part into s_h (H,) and h_t into h (H,), which must not be h_prev.
    """
    _copy(bias[0], a)  # a_t = x_t W + b_x   (3H)
    _add_vector_matrix(x_t, kernel, a)
    _copy(bias[1], s)  # s_t = h_{t-1} U + b_h   (3H)
    _add_vector_matrix(h_prev, recurrent_kernel, s)
    gru_forward_row(a, None, s, None, h_prev, s_h, h, h.dtype.type(0.0))


@kernel(**_INLINED)
def _gru_layer_forward(inputs, layer, layer_cache):
    """One layer over one sample's T steps, keeping what backward needs (see make_cache)."""
    kernel, recurrent_kernel, bias = layer
    hs, _, gates, states, candidate_states = layer_cache[:5]
    for t in range(inputs.shape[0]):
        gru_step(inputs[t], hs[t], kernel, recurrent_kernel, bias, gates[t], states[t], candidate_states[t], hs[t + 1])


@kernel(**_INLINED)
def _gru_layer_backward(inputs, layer, layer_cache, layer_grads):
    """Backpropagate one sample through the T steps of one GRU layer (lstmkit.ops.gates).

    layer_grads: (dW, dU, db), added to; db's row 0 takes Σ da_t, row 1 Σ ds_t.
    """
    _, recurrent_kernel, _ = layer
    hs, dh_from_above, das, dss, candidate_states, dh = layer_cache
    grad_kernel, grad_recurrent_kernel, grad_bias = layer_grads
    timesteps = inputs.shape[0]
    dh[:] = 0
    for t in range(timesteps - 1, -1, -1):
        _add(dh_from_above[t], dh)
        gru_backward_row(das[t], candidate_states[t], hs[t], dh, dss[t])  # dh becomes dh_t ⊙ z_t
        if t > 0:  # dh_{t-1} = dh_t ⊙ z_t + ds_t Uᵀ; dh_0 is not needed
            _matrix_vector(recurrent_kernel, dss[t], dh, True)
    for t in range(timesteps):
        _add(das[t], grad_bias[0])
        _add(dss[t], grad_bias[1])
    for f in range(inputs.shape[1]):
        _add_vector_matrix(inputs[:, f], das, grad_kernel[f])
    _add_outer_products(hs[1:timesteps], dss[1:], grad_recurrent_kernel)  # from t = 2, as h_0 = 0


@kernel(**_INLINED)
def _gru_layer_predict(inputs, layer):
    """h_0..h_T (T+1, H) of one GRU layer over one sample's inputs (T, F), from a zero state."""
    kernel, recurrent_kernel, bias = layer
    timesteps, units, dtype = inputs.shape[0], len(recurrent_kernel), inputs.dtype
    hs = np.zeros((timesteps + 1, units), dtype)
    a, s, s_h = np.empty(3 * units, dtype), np.empty(3 * units, dtype), np.empty(units, dtype)
    for t in range(timesteps):
        gru_step(inputs[t], hs[t], kernel, recurrent_kernel, bias, a, s, s_h, hs[t + 1])
    return hs


# -- the cells' registry: compiled code picks a cell's kernels by the types of its weights ----

_CELL_KERNELS = {
    "lstm": (_lstm_layer_forward, _lstm_layer_backward, _lstm_layer_predict),
    "gru": (_gru_layer_forward, _gru_layer_backward, _gru_layer_predict),
}


def cell_of(layer_type) -> str:  # type: ignore[no-untyped-def]
    """The cell of a layer's weights (W, U, b) as numba types them: a 1-D bias is the LSTM's,
    a 2-D one the GRU's."""
    return {1: "lstm", 2: "gru"}[layer_type.types[2].ndim]


def _layer_forward(inputs, layer, layer_cache):  # type: ignore[no-untyped-def]
    """Compiled code only: the layer's cell's _<cell>_layer_forward."""
    raise NotImplementedError


def _layer_backward(inputs, layer, layer_cache, layer_grads):  # type: ignore[no-untyped-def]
    """Compiled code only: the layer's cell's _<cell>_layer_backward."""
    raise NotImplementedError


def _layer_predict(inputs, layer):  # type: ignore[no-untyped-def]
    """Compiled code only: the layer's cell's _<cell>_layer_predict."""
    raise NotImplementedError


@overload(_layer_forward)
def _layer_forward_overload(inputs, layer, layer_cache):  # type: ignore[no-untyped-def]
    forward = _CELL_KERNELS[cell_of(layer)][0]

    def impl(inputs, layer, layer_cache):  # type: ignore[no-untyped-def]
        forward(inputs, layer, layer_cache)

    return impl


@overload(_layer_backward)
def _layer_backward_overload(inputs, layer, layer_cache, layer_grads):  # type: ignore[no-untyped-def]
    backward = _CELL_KERNELS[cell_of(layer)][1]

    def impl(inputs, layer, layer_cache, layer_grads):  # type: ignore[no-untyped-def]
        backward(inputs, layer, layer_cache, layer_grads)

    return impl


@overload(_layer_predict)
def _layer_predict_overload(inputs, layer):  # type: ignore[no-untyped-def]
    predict = _CELL_KERNELS[cell_of(layer)][2]

    def impl(inputs, layer):  # type: ignore[no-untyped-def]
        return predict(inputs, layer)

    return impl


# -- any cell: predict, the loss and the Dense, the epochs ----------------------------------


@kernel()
def _predict_kernel(x, layers, dense, out):
    """x (B, T, F) -> out (B, O); layers, dense as made by split_weights."""
    timesteps = x.shape[1]
    for n in range(x.shape[0]):
        inputs = x[n]
        for layer in layers:
            inputs = _layer_predict(inputs, layer)[1:]  # this layer's h_1..h_T feed the next
        dense_kernel, dense_bias = dense
        _copy(dense_bias, out[n])  # y_hat = h_T Wd + bd
        _add_vector_matrix(inputs[timesteps - 1], dense_kernel, out[n])


@kernel()
def _predict_if_finite(x, layers, dense, out, check):
    """_predict_kernel when `check` is False or no value of x is NaN/±inf (True), else False: one
    compiled call, where np.isfinite(x).all() alone takes ~1.4 µs of W1's window."""
    if check:
        for value in x.flat:
            if not np.isfinite(value):
                return False
    _predict_kernel(x, layers, dense, out)
    return True


@kernel()
def _fit_kernel(data, model, grads, flat, optimizer_settings, cache, losses):
    """Run len(orders) epochs; see dense_fit.

    data: (x, y, orders, batch_size, loss kind); model, grads: (layers, dense) as made by
    split_weights; flat: 1-D views of the weights, the gradients and the optimizer's one or two
    slots; optimizer_settings: (kind, its settings as float64, the steps taken before);
    losses (E, batches) receives the batch losses.
    """
    x, y, orders, batch_size, loss_kind = data
    flat_weights, flat_grads, flat_first, flat_second = flat
    kind, settings, step = optimizer_settings
    for epoch in range(orders.shape[0]):
        for batch in range(losses.shape[1]):
            indices = orders[epoch, batch * batch_size : (batch + 1) * batch_size]
            loss = batch_gradients(x, y, indices, model, grads, flat_grads, loss_kind, cache)
            losses[epoch, batch] = loss
            step += 1
            optimizer_step(kind, settings, step, flat_weights, flat_grads, flat_first, flat_second)


@kernel(**_INLINED)
def batch_gradients(x, y, indices, model, grads, flat_grads, loss_kind, cache):
    """Mean loss of the samples `indices` of x, y; its gradients go into grads (whose 1-D
    views are flat_grads)."""
    for grad in flat_grads:
        grad[:] = 0
    count = indices.size * y.shape[1]
    # d(mean loss)/d(y_hat) = 2 (y_hat - y) / (B O) for "mse", sign(y_hat - y) / (B O) for "mae"
    scale = x.dtype.type((2.0 if loss_kind == 0 else 1.0) / count)
    total = 0.0
    for n in indices:
        total += _add_sample_gradients(x[n], y[n], model, grads, loss_kind, scale, cache)
    return total / count


@kernel(**_INLINED)
def _add_sample_gradients(x, y, model, grads, loss_kind, scale, cache):
    """Forward and backward for one sample x (T, F), y (O,); adds its gradients to grads.

    Returns the sum of its loss terms, (y_hat - y)² or |y_hat - y| over the O outputs.
    """
    layers, (dense_kernel, dense_bias) = model
    layer_grads, (grad_dense_kernel, grad_dense_bias) = grads
    layer_caches, y_hat = cache
    timesteps, top = x.shape[0], len(layers) - 1
    inputs = x
    for layer in range(len(layers)):
        _layer_forward(inputs, layers[layer], layer_caches[layer])
        inputs = layer_caches[layer][0][1:]

    h_last = inputs[timesteps - 1]
    _copy(dense_bias, y_hat)  # y_hat = h_T Wd + bd
    _add_vector_matrix(h_last, dense_kernel, y_hat)
    total = 0.0
    for o in range(y_hat.size):
        diff = y_hat[o] - y[o]
        total += float(diff) ** 2 if loss_kind == 0 else abs(float(diff))
        y_hat[o] = diff * scale if loss_kind == 0 else np.sign(diff) * scale  # now dL/dy_hat
    dy_hat = y_hat
    # Dense: dWd += h_Tᵀ dy_hat, dbd += dy_hat; dh_T = dy_hat Wdᵀ reaches the last recurrent layer
    _add(dy_hat, grad_dense_bias)
    dh_from_above = layer_caches[top][1]
    for k in range(h_last.size):
        for o in range(dy_hat.size):
            grad_dense_kernel[k, o] += h_last[k] * dy_hat[o]
    _matrix_vector(dense_kernel, dy_hat, dh_from_above[timesteps - 1], False)

    for layer in range(top, -1, -1):
        inputs = x if layer == 0 else layer_caches[layer - 1][0][1:]
        _layer_backward(inputs, layers[layer], layer_caches[layer], layer_grads[layer])
        if layer > 0:  # dx_t = da_t Wᵀ is the dL/dh_t arriving at the layer below
            kernel, das = layers[layer][0], layer_caches[layer][2]
            below = layer_caches[layer - 1][1]
            for t in range(timesteps):
                _matrix_vector(kernel, das[t], below[t], False)
    return total
