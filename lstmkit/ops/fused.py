"""Fused CPU kernels for tutorial-sized models: stacked LSTM layers, then a linear Dense.

Training such a model in PyTorch costs about 800 µs a step in framework overhead (autograd,
the optimizer's per-tensor loop), while the arithmetic takes a few µs. Here a whole fit
(forward, loss, backpropagation through time and the optimizer update for every batch of
every epoch) is one compiled numba call, and one window is predicted in about 10 µs.

The numbers are those of `torch.nn.LSTM` + `torch.nn.Linear` + `torch.optim`, up to float32
round-off: the same equations (DESIGN.md, "The LSTM, as lstmkit computes it") and the
optimizers' operations in torch's order. Two things differ only in rounding: sums over
units are reassociated so they vectorize, as a BLAS matrix product does (`_dot`), and σ
and tanh are computed in float64 by series that vectorize (`_exp`), which gives the
correctly rounded float32 value in all but about one case in a million (then one ulp off),
and float64 values within 5e-13. The models covered: LSTM layers without dropout, from a
zero initial state, then one linear Dense; losses "mse" and "mae"; Adam and SGD.

Weights are a list in Keras's `model.get_weights()` order: for each LSTM layer l, its
kernel W (F_l, 4H_l), recurrent_kernel U (H_l, 4H_l) and bias b (4H_l,), gates i, f, g, o,
with F_1 = F and F_l = H_{l-1}; then the Dense kernel (H_L, O) and bias (O,). Every LSTM
layer but the last passes its whole sequence h_1..h_T on; the last passes h_T to the Dense.
Arrays are all float32 or all float64, C-contiguous. Letters: N samples, B batch,
T timesteps, F features, H units, O outputs, L LSTM layers.

Backpropagation through one step, where dh_t sums what flows back from step t + 1 and
from the layer above (the Dense, for the last layer at t = T):

    dc_t  += dh_t ⊙ o_t ⊙ (1 - tanh²(c_t))
    dz_i   = dc_t ⊙ g_t ⊙ i_t (1 - i_t)        dz_f = dc_t ⊙ c_{t-1} ⊙ f_t (1 - f_t)
    dz_g   = dc_t ⊙ i_t ⊙ (1 - g_t²)           dz_o = dh_t ⊙ tanh(c_t) ⊙ o_t (1 - o_t)
    dW += x_tᵀ dz_t    dU += h_{t-1}ᵀ dz_t    db += dz_t    dx_t = dz_t Wᵀ
    dh_{t-1} += dz_t Uᵀ    dc_{t-1} = dc_t ⊙ f_t
"""

import math
from collections.abc import Sequence
from dataclasses import InitVar, dataclass, field

import numpy as np

from lstmkit.ops.jit import kernel

LOSS_KINDS = {"mse": 0, "mae": 1}
_ADAM, _SGD = 0, 1
# error_model="numpy": x / 0 gives inf as in torch, and no zero check blocks vectorization.
# Kernels called from one place are inlined there as numba compiles: compiled on their own,
# each is optimized again inside every caller, which made a first-ever W1 script (empty numba
# cache) take 8.6-9.4 s instead of 7.9 s. (_lstm_step, also inlined, ran W1's fit 40% slower.)
_INLINED = {"inline": "always"}
_TAYLOR_COEFFICIENTS = tuple(1.0 / math.factorial(n) for n in range(11, -1, -1))  # 1/11!..1/0!


@dataclass
class AdamState:
    """torch.optim.Adam (weight_decay=0, amsgrad=False): its settings and its state.

    `exp_avg` and `exp_avg_sq` hold one array per weight, in the weights' order and (Keras)
    layout, and `step` counts the steps taken: torch's state entries of the same names.
    torch's `state[lstm.weight_ih_l0]["exp_avg"]` is `exp_avg[0].T`, and its `step` is a
    float tensor. Defaults are Keras's.

    Example:
        optimizer = AdamState(weights, learning_rate=0.01)   # zero moments, step 0
    """

    weights: InitVar[Sequence[np.ndarray]]
    learning_rate: float = 0.001
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    step: int = 0
    clipnorm: float = 0.0  # Keras's clipping before each step (0: none); see optimizer_step
    clipvalue: float = 0.0
    exp_avg: list[np.ndarray] = field(init=False)
    exp_avg_sq: list[np.ndarray] = field(init=False)

    def __post_init__(self, weights: Sequence[np.ndarray]) -> None:
        self.exp_avg = [np.zeros_like(w) for w in weights]
        self.exp_avg_sq = [np.zeros_like(w) for w in weights]


@dataclass
class SGDState:
    """torch.optim.SGD (dampening=0, weight_decay=0): its settings and its state.

    `momentum_buffer` holds torch's state entry of that name for each weight, in the
    weights' order and layout; where torch has none (before the first step, or with
    momentum 0), it is zero here.
    """

    weights: InitVar[Sequence[np.ndarray]]
    learning_rate: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    step: int = 0
    clipnorm: float = 0.0  # Keras's clipping before each step (0: none); see optimizer_step
    clipvalue: float = 0.0
    momentum_buffer: list[np.ndarray] = field(init=False)

    def __post_init__(self, weights: Sequence[np.ndarray]) -> None:
        self.momentum_buffer = [np.zeros_like(w) for w in weights]


def lstm_sequence_forward(
    x: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray,
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run one LSTM layer over whole sequences from a given initial state.

    Args:
        x: inputs (B, T, F).
        h0, c0: initial hidden and cell states (B, H).
        kernel, recurrent_kernel, bias: W (F, 4H), U (H, 4H), b (4H,), of one float dtype.

    Returns:
        h for every step (B, T, H), and the final h_T and c_T (B, H).

    Raises:
        ValueError: shapes that do not fit together.
    """
    dtype = kernel.dtype
    x, h0, c0 = (np.ascontiguousarray(a, dtype=dtype) for a in (x, h0, c0))
    if x.ndim != 3 or h0.shape != (len(x), len(recurrent_kernel)) or c0.shape != h0.shape:
        raise ValueError(
            f"expected x (batch, timesteps, features), h0 and c0 (batch, units); "
            f"got {x.shape}, {h0.shape} and {c0.shape}."
        )
    units, layer = len(recurrent_kernel), [kernel, recurrent_kernel, bias]
    expected = [(x.shape[2], 4 * units), (units, 4 * units), (4 * units,)]
    if [w.shape for w in layer] != expected:
        raise ValueError(
            f"for {x.shape[2]} features and {units} units, kernel, recurrent_kernel and bias "
            f"must have shapes {expected}; got {[w.shape for w in layer]}."
        )
    h_seq = np.empty(x.shape[:2] + h0.shape[1:], dtype)
    h_last, c_last = h0.copy(), c0.copy()
    _sequence_forward_kernel(x, kernel, recurrent_kernel, bias, h_seq, h_last, c_last)
    return h_seq, h_last, c_last


def lstm_dense_predict(
    x: np.ndarray, weights: Sequence[np.ndarray], out: np.ndarray | None = None
) -> np.ndarray:
    """Predict y_hat = h_T Wd + bd for every window, each starting from h_0 = c_0 = 0.

    Args:
        x: windows (B, T, F); copied if it is not C-contiguous of the weights' dtype.
        weights: the model's weights (see the module docstring).
        out: optional (B, O) array of the weights' dtype to write into.

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
    _check_shapes(weights, x.shape[2])
    _predict_kernel(x, *split_weights(weights), out)
    return out


def lstm_dense_gradients(
    x: np.ndarray, y: np.ndarray, weights: Sequence[np.ndarray], loss: str = "mse"
) -> tuple[float, list[np.ndarray]]:
    """The loss of one batch and its gradients: what `loss.backward()` leaves in `.grad`.

    Args:
        x: inputs (B, T, F); y: targets (B, O).
        weights: the model's weights (see the module docstring).
        loss: "mse", the mean over batch and outputs of (y_hat - y)², or "mae", of |y_hat - y|.

    Returns:
        The loss (float64) and the gradients, one array per weight, shaped like it.

    Raises:
        ValueError: an unknown loss, shapes that do not fit together.
    """
    x, y = _check_data(x, y, weights, loss)
    grads = [np.zeros_like(w) for w in weights]
    model, cache = split_weights(weights), _make_cache(x.shape[1], weights, len(y[0]))
    indices, loss_kind = np.arange(len(x)), LOSS_KINDS[loss]
    value = _batch_gradients(x, y, indices, model, split_weights(grads), flat_views(grads), loss_kind, cache)
    return value, grads


def lstm_dense_fit(
    x: np.ndarray,
    y: np.ndarray,
    weights: Sequence[np.ndarray],
    optimizer: AdamState | SGDState,
    orders: np.ndarray,
    batch_size: int,
    loss: str = "mse",
) -> np.ndarray:
    """Train for len(orders) epochs in one compiled call, step for step as torch would.

    Epoch e visits the samples in the order orders[e], in batches of `batch_size` (the last
    one smaller when N is not a multiple of it), each followed by one optimizer step on the
    batch's mean loss (see lstm_dense_gradients). `weights` and the optimizer's state are
    updated in place and `optimizer.step` advanced, so fitting epoch by epoch gives the
    same numbers as fitting all epochs in one call.

    Args:
        x: inputs (N, T, F); y: targets (N, O). Converted to the weights' dtype.
        weights: the model's weights (see the module docstring), updated in place.
        optimizer: AdamState or SGDState made for `weights`.
        orders: sample indices (E, N), one row per epoch (a permutation, usually).
        batch_size: samples per optimizer step.
        loss: "mse" or "mae".

    Returns:
        The loss of every batch (E, ceil(N / batch_size)), float64. Keras logs, per epoch,
        their mean weighted by batch size:
        `np.average(losses, axis=1, weights=np.diff(np.r_[0:N:batch_size, N]))`.

    Raises:
        ValueError: an unknown loss, shapes that do not fit together, indices out of range.
        TypeError: an optimizer that is neither AdamState nor SGDState.

    Example:
        orders = np.stack([rng.permutation(len(x)) for _ in range(100)])
        losses = lstm_dense_fit(x, y, weights, AdamState(weights), orders, batch_size=1)
    """
    x, y, orders, optimizer_settings, (first_slot, second_slot) = check_fit(
        x, y, weights, optimizer, orders, batch_size, loss
    )
    grads = [np.zeros_like(w) for w in weights]
    model, model_grads = split_weights(weights), split_weights(grads)
    flat = (flat_views(weights), flat_views(grads), flat_views(first_slot), flat_views(second_slot))
    cache = _make_cache(x.shape[1], weights, len(y[0]))
    losses = np.empty((len(orders), -(-len(x) // batch_size)))
    data = (x, y, orders, batch_size, LOSS_KINDS[loss])
    _fit_kernel(data, model, model_grads, flat, optimizer_settings, cache, losses)
    optimizer.step += losses.size
    return losses


def check_fit(
    x: np.ndarray,
    y: np.ndarray,
    weights: Sequence[np.ndarray],
    optimizer: AdamState | SGDState,
    orders: np.ndarray,
    batch_size: int,
    loss: str,
) -> tuple:
    """Check lstm_dense_fit's arguments (the same for lstmkit.ops.batched's).

    Returns:
        x, y and orders as C-contiguous arrays; the optimizer's (kind, settings (6,) float64: four
        of its own, then clipnorm and clipvalue, steps taken); its one or two state slots (SGD's
        buffer twice).
    """
    x, y = _check_data(x, y, weights, loss)
    orders = np.ascontiguousarray(orders, dtype=np.int64)
    if orders.ndim != 2 or orders.shape[1] != len(x) or orders.size == 0:
        raise ValueError(f"orders must have shape (epochs, {len(x)}); got {orders.shape}.")
    if orders.min() < 0 or orders.max() >= len(x):
        raise ValueError(f"orders must hold sample indices in [0, {len(x)}).")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer of at least 1; got {batch_size!r}.")
    if isinstance(optimizer, AdamState):
        kind, first_slot, second_slot = _ADAM, optimizer.exp_avg, optimizer.exp_avg_sq
        settings = (optimizer.learning_rate, optimizer.beta_1, optimizer.beta_2, optimizer.epsilon)
    elif isinstance(optimizer, SGDState):
        kind, first_slot = _SGD, optimizer.momentum_buffer
        second_slot = first_slot  # SGD keeps one buffer
        settings = (optimizer.learning_rate, optimizer.momentum, float(optimizer.nesterov), 0.0)
    else:
        raise TypeError(
            f"optimizer must be an AdamState or SGDState; got {type(optimizer).__name__}."
        )
    for slot in (first_slot, second_slot):
        _check_arrays_like(slot, weights, "the optimizer state")
    settings = (*settings, optimizer.clipnorm, optimizer.clipvalue)
    return x, y, orders, (kind, np.array(settings, dtype=np.float64), optimizer.step), (first_slot, second_slot)


def split_weights(weights: Sequence[np.ndarray]) -> tuple:
    """Keras's flat order -> (((W_1, U_1, b_1), ..., (W_L, U_L, b_L)), (Wd, bd)), for numba."""
    layers = tuple(tuple(weights[i : i + 3]) for i in range(0, len(weights) - 2, 3))
    return layers, tuple(weights[-2:])


def flat_views(arrays: Sequence[np.ndarray]) -> tuple:
    """1-D views of the arrays (C-contiguous), so that one loop updates them all."""
    return tuple(a.reshape(-1) for a in arrays)


def _make_cache(timesteps: int, weights: Sequence[np.ndarray], outputs: int) -> tuple:
    """Scratch for _add_sample_gradients: (one tuple per LSTM layer, y_hat (O,)).

    A layer's tuple holds what its backward pass needs from its forward pass: h_t, c_t
    (T+1, H) with h_0 = c_0 = 0 in row 0, the gate activations (T, 4H) and tanh(c_t) (T, H);
    then dz_t (T, 4H), the dL/dh_t arriving from above (T, H), and dh, dc (H).
    """
    dtype, per_layer = weights[0].dtype, []
    for recurrent_kernel in weights[1:-2:3]:
        units = len(recurrent_kernel)
        per_layer.append(
            (
                np.zeros((timesteps + 1, units), dtype), np.zeros((timesteps + 1, units), dtype),
                np.empty((timesteps, 4 * units), dtype), np.empty((timesteps, units), dtype),
                np.empty((timesteps, 4 * units), dtype), np.zeros((timesteps, units), dtype),
                np.empty(units, dtype), np.empty(units, dtype),
            )
        )  # fmt: skip
    return tuple(per_layer), np.empty(outputs, dtype)


def _check_data(x, y, weights: Sequence[np.ndarray], loss: str) -> tuple[np.ndarray, np.ndarray]:
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
    _check_shapes(weights, x.shape[2])
    return x, y


def _check_shapes(weights: Sequence[np.ndarray], features: int) -> None:
    """Shapes that chain as the module docstring says.

    They guard memory: the kernels do not check bounds. (A dtype or layout the kernels were
    not compiled for costs a compilation, not a wrong answer.) Plain loops, as this runs
    before every prediction, which takes about 10 µs.
    """
    inputs, count = features, len(weights)
    if count < 5 or count % 3 != 2:
        raise ValueError(
            f"weights must be kernel, recurrent_kernel and bias of each LSTM layer, then the "
            f"Dense kernel and bias: 3 L + 2 arrays; got {count}."
        )
    chained = True
    for i in range(0, count - 2, 3):
        units = len(weights[i + 1])
        chained = chained and weights[i].shape == (inputs, 4 * units)
        chained = chained and weights[i + 1].shape == (units, 4 * units)
        chained = chained and weights[i + 2].shape == (4 * units,)
        inputs = units
    if not (chained and weights[-2].shape == (inputs, len(weights[-1])) and weights[-1].ndim == 1):
        expected, inputs = [], features
        for i in range(0, count - 2, 3):
            units = len(weights[i + 1])
            expected += [(inputs, 4 * units), (units, 4 * units), (4 * units,)]
            inputs = units
        expected += [(inputs, len(weights[-1])), (len(weights[-1]),)]
        raise ValueError(
            f"weights must be kernel, recurrent_kernel and bias of each LSTM layer, then the "
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


@kernel()
def _copy(source, target):
    """target[:] = source for vectors of one length. A loop: numba's slice assignment compiles a
    shape check whose error message alone takes ~2 s to compile."""
    for j in range(target.size):
        target[j] = source[j]


@kernel()
def _add(values, target):
    """target += values for vectors of one length (a loop, as in _copy)."""
    for j in range(target.size):
        target[j] += values[j]


@kernel(fastmath={"reassoc"})
def _dot(a, b):
    """Sum of a ⊙ b (vectors of one length); reassociated so that it vectorizes."""
    total = a.dtype.type(0)
    for n in range(a.size):
        total += a[n] * b[n]
    return total


@kernel()
def _exp(x):
    """e^x for a float64 |x| <= 104, to about 1e-13 relative error, without calls or branches.

    e^x = (e^(x/256))^256, with e^(x/256) from its Taylor series to degree 12. Unlike libm's
    exp, this vectorizes, which makes a gate loop about four times faster.
    """
    r = x * 0.00390625  # x / 256, exact
    series = 1.0 / 479001600.0  # 1 / 12!
    for coefficient in _TAYLOR_COEFFICIENTS:
        series = series * r + coefficient
    for _ in range(8):
        series = series * series
    return series


@kernel()
def _sigmoid(z):
    """1 / (1 + e^-z), computed in float64."""
    x = float(z)
    x = 104.0 if x > 104.0 else x  # beyond ±104 the result changes by less than 1e-45;
    x = -104.0 if x < -104.0 else x  # written so that a NaN passes through
    return 1.0 / (1.0 + _exp(-x))


@kernel()
def _tanh(z):
    """tanh(z), computed in float64."""
    x = float(z)
    x = 20.0 if x > 20.0 else x  # tanh(±20) rounds to ±1, even in float64
    x = -20.0 if x < -20.0 else x
    if abs(x) < 0.05:  # the series x - x³/3 + 2x⁵/15 - ... avoids the cancellation in e - 1
        x2 = x * x
        return x * (1.0 + x2 * (-1.0 / 3 + x2 * (2.0 / 15 + x2 * (-17.0 / 315 + x2 * (62.0 / 2835)))))
    e = _exp(2.0 * x)
    return (e - 1.0) / (e + 1.0)


@kernel()
def _lstm_step(x_t, h_prev, c_prev, kernel, recurrent_kernel, bias, gates, h, c, tanh_c):
    """One LSTM step for one sample.

    x_t (F,), h_prev, c_prev (H,). Writes the activations i, f, g, o into gates (4H,),
    and h_t, c_t, tanh(c_t) into h, c, tanh_c (H,), which must not be h_prev or c_prev.
    """
    units = h.size
    as_dtype = gates.dtype.type
    _copy(bias, gates)  # z_t = x_t W + h_{t-1} U + b   (4H)
    _add_vector_matrix(x_t, kernel, gates)
    _add_vector_matrix(h_prev, recurrent_kernel, gates)
    for k in range(units):
        i = as_dtype(_sigmoid(gates[k]))
        f = as_dtype(_sigmoid(gates[units + k]))
        g = as_dtype(_tanh(gates[2 * units + k]))
        o = as_dtype(_sigmoid(gates[3 * units + k]))
        gates[k], gates[units + k], gates[2 * units + k], gates[3 * units + k] = i, f, g, o
        c_k = f * c_prev[k] + i * g  # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        tanh_c_k = as_dtype(_tanh(c_k))
        c[k], tanh_c[k], h[k] = c_k, tanh_c_k, o * tanh_c_k  # h_t = o_t ⊙ tanh(c_t)


@kernel()
def _sequence_forward_kernel(x, kernel, recurrent_kernel, bias, h_seq, h, c):
    """x (B, T, F) -> h_seq (B, T, H); h, c (B, H) hold the initial state, then the final."""
    units = h.shape[1]
    c_seq = np.empty((x.shape[1], units), h.dtype)  # c_t of the current sample
    gates, tanh_c = np.empty(4 * units, h.dtype), np.empty(units, h.dtype)
    for n in range(x.shape[0]):
        h_prev, c_prev = h[n], c[n]
        for t in range(x.shape[1]):
            h_t, c_t = h_seq[n, t], c_seq[t]
            _lstm_step(x[n, t], h_prev, c_prev, kernel, recurrent_kernel, bias, gates, h_t, c_t, tanh_c)
            h_prev, c_prev = h_t, c_t
        _copy(h_prev, h[n])
        _copy(c_prev, c[n])


@kernel()
def _predict_kernel(x, layers, dense, out):
    """x (B, T, F) -> out (B, O); layers, dense as made by split_weights."""
    timesteps, dtype = x.shape[1], x.dtype
    for n in range(x.shape[0]):
        inputs = x[n]
        for kernel, recurrent_kernel, bias in layers:
            units = len(recurrent_kernel)
            # h_t, c_t in row t; separate rows vectorize, updating h and c in place does not
            hs, cs = np.zeros((timesteps + 1, units), dtype), np.zeros((timesteps + 1, units), dtype)
            gates, tanh_c = np.empty(4 * units, dtype), np.empty(units, dtype)
            for t in range(timesteps):
                h_prev, c_prev, h, c = hs[t], cs[t], hs[t + 1], cs[t + 1]
                _lstm_step(inputs[t], h_prev, c_prev, kernel, recurrent_kernel, bias, gates, h, c, tanh_c)
            inputs = hs[1:]  # this layer's h_1..h_T feed the next
        dense_kernel, dense_bias = dense
        _copy(dense_bias, out[n])  # y_hat = h_T Wd + bd
        _add_vector_matrix(inputs[timesteps - 1], dense_kernel, out[n])


@kernel()
def _fit_kernel(data, model, grads, flat, optimizer_settings, cache, losses):
    """Run len(orders) epochs; see lstm_dense_fit.

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
            loss = _batch_gradients(x, y, indices, model, grads, flat_grads, loss_kind, cache)
            losses[epoch, batch] = loss
            step += 1
            optimizer_step(kind, settings, step, flat_weights, flat_grads, flat_first, flat_second)


@kernel(**_INLINED)
def _batch_gradients(x, y, indices, model, grads, flat_grads, loss_kind, cache):
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
        kernel, recurrent_kernel, bias = layers[layer]
        hs, cs, gates, tanh_cs = layer_caches[layer][:4]
        for t in range(timesteps):
            h_prev, c_prev, h, c = hs[t], cs[t], hs[t + 1], cs[t + 1]
            _lstm_step(inputs[t], h_prev, c_prev, kernel, recurrent_kernel, bias, gates[t], h, c, tanh_cs[t])
        inputs = hs[1:]

    h_last = inputs[timesteps - 1]
    _copy(dense_bias, y_hat)  # y_hat = h_T Wd + bd
    _add_vector_matrix(h_last, dense_kernel, y_hat)
    total = 0.0
    for o in range(y_hat.size):
        diff = y_hat[o] - y[o]
        total += float(diff) ** 2 if loss_kind == 0 else abs(float(diff))
        y_hat[o] = diff * scale if loss_kind == 0 else np.sign(diff) * scale  # now dL/dy_hat
    dy_hat = y_hat
    # Dense: dWd += h_Tᵀ dy_hat, dbd += dy_hat; dh_T = dy_hat Wdᵀ reaches the last LSTM layer
    _add(dy_hat, grad_dense_bias)
    dh_from_above = layer_caches[top][5]
    for k in range(h_last.size):
        for o in range(dy_hat.size):
            grad_dense_kernel[k, o] += h_last[k] * dy_hat[o]
        dh_from_above[timesteps - 1, k] = _dot(dense_kernel[k], dy_hat)

    for layer in range(top, -1, -1):
        inputs = x if layer == 0 else layer_caches[layer - 1][0][1:]
        _lstm_backward(inputs, layers[layer], layer_caches[layer], layer_grads[layer])
        if layer > 0:  # dx_t = dz_t Wᵀ is the dL/dh_t arriving at the layer below
            kernel, dzs = layers[layer][0], layer_caches[layer][4]
            below = layer_caches[layer - 1][5]
            for t in range(timesteps):
                for f in range(len(kernel)):
                    below[t, f] = _dot(kernel[f], dzs[t])
    return total


@kernel(**_INLINED)
def _lstm_backward(inputs, layer, layer_cache, layer_grads):
    """Backpropagate one sample through the T steps of one layer (equations above).

    inputs (T, F): the layer's x_t. layer_cache: see _make_cache; its dL/dh_t from above
    must be filled in. layer_grads: (dW, dU, db), added to.
    """
    _, recurrent_kernel, _ = layer
    hs, cs, gates, tanh_cs, dzs, dh_from_above, dh, dc = layer_cache
    grad_kernel, grad_recurrent_kernel, grad_bias = layer_grads
    timesteps, units = inputs.shape[0], dh.size
    one = dh.dtype.type(1)
    dh[:] = 0
    dc[:] = 0
    for t in range(timesteps - 1, -1, -1):
        dz = dzs[t]
        for k in range(units):
            dh_k = dh[k] + dh_from_above[t, k]
            i, f = gates[t, k], gates[t, units + k]
            g, o = gates[t, 2 * units + k], gates[t, 3 * units + k]
            dc_k = dc[k] + dh_k * o * (one - tanh_cs[t, k] * tanh_cs[t, k])
            dz[k] = dc_k * g * i * (one - i)
            dz[units + k] = dc_k * cs[t, k] * f * (one - f)
            dz[2 * units + k] = dc_k * i * (one - g * g)
            dz[3 * units + k] = dh_k * tanh_cs[t, k] * o * (one - o)
            dc[k] = dc_k * f
        if t > 0:  # dh_0 is not needed
            for k in range(units):
                dh[k] = _dot(recurrent_kernel[k], dz)
    # db += Σ_t dz_t, dW += Σ_t x_tᵀ dz_t, dU += Σ_t h_{t-1}ᵀ dz_t (from t = 2, as h_0 = 0)
    for t in range(timesteps):
        _add(dzs[t], grad_bias)
    for f in range(inputs.shape[1]):
        _add_vector_matrix(inputs[:, f], dzs, grad_kernel[f])
    for k in range(units):
        _add_vector_matrix(hs[1:timesteps, k], dzs[1:], grad_recurrent_kernel[k])


@kernel(**_INLINED)
def optimizer_step(kind, settings, step, weights, grads, first_slot, second_slot):
    """One torch.optim step (number `step`, from 1) on tuples of 1-D arrays, after Keras's
    clipping of each gradient when settings[4] (clipnorm) or settings[5] (clipvalue) is set."""
    as_dtype = weights[0].dtype.type
    clipnorm, clipvalue = settings[4], settings[5]
    if clipnorm > 0 or clipvalue > 0:
        for p in range(len(grads)):
            _clip(grads[p], clipnorm, clipvalue)
    if kind == _ADAM:
        learning_rate, beta_1, beta_2, epsilon = settings[0], settings[1], settings[2], settings[3]
        # torch computes these scalars in float64, then rounds them to the weights' dtype.
        step_size = learning_rate / (1 - beta_1**step)
        bias_correction_2_sqrt = (1 - beta_2**step) ** 0.5
        coefficients = (
            as_dtype(1 - beta_1), as_dtype(beta_2), as_dtype(1 - beta_2),
            as_dtype(bias_correction_2_sqrt), as_dtype(epsilon), as_dtype(-step_size),
        )  # fmt: skip
        for p in range(len(weights)):
            _adam_update(weights[p], grads[p], first_slot[p], second_slot[p], coefficients)
    else:
        learning_rate, momentum, nesterov = settings[0], settings[1], settings[2]
        coefficients = (as_dtype(momentum), as_dtype(-learning_rate))
        for p in range(len(weights)):
            _sgd_update(weights[p], grads[p], first_slot[p], nesterov != 0, coefficients)


@kernel(**_INLINED)
def _clip(grad, clipnorm, clipvalue):
    """Keras's clipping of one gradient (1-D): g · clipnorm / max(‖g‖, clipnorm), or each element
    to [-clipvalue, clipvalue]."""
    if clipnorm > 0:
        total = 0.0
        for n in range(grad.size):
            total += float(grad[n]) * float(grad[n])
        scale = grad.dtype.type(clipnorm / max(math.sqrt(total), clipnorm))
        for n in range(grad.size):
            grad[n] = grad[n] * scale
    else:
        low, high = grad.dtype.type(-clipvalue), grad.dtype.type(clipvalue)
        for n in range(grad.size):
            grad[n] = min(max(grad[n], low), high)


@kernel(**_INLINED)
def _adam_update(param, grad, exp_avg, exp_avg_sq, coefficients):
    """torch.optim.Adam's single-tensor update, operation by operation, on 1-D arrays."""
    weight_1, beta_2, weight_2, correction_2_sqrt, epsilon, neg_step_size = coefficients
    for n in range(param.size):
        g = grad[n]
        # exp_avg.lerp_(grad, 1 - beta_1); for beta_1 < 0.5 torch's lerp rounds the other way
        first_moment = exp_avg[n] + weight_1 * (g - exp_avg[n])
        exp_avg[n] = first_moment
        # exp_avg_sq.mul_(beta_2).addcmul_(grad, grad, value=1 - beta_2)
        second_moment = exp_avg_sq[n] * beta_2 + weight_2 * g * g
        exp_avg_sq[n] = second_moment
        # param.addcdiv_(exp_avg, exp_avg_sq.sqrt() / bias_correction2_sqrt + eps, value=-step_size)
        denom = math.sqrt(second_moment) / correction_2_sqrt + epsilon
        param[n] = param[n] + neg_step_size * first_moment / denom


@kernel(**_INLINED)
def _sgd_update(param, grad, buffer, nesterov, coefficients):
    """torch.optim.SGD's single-tensor update (dampening 0) on 1-D arrays.

    torch starts the buffer as a copy of the first gradient; from a zero buffer,
    0 * momentum + grad is that copy.
    """
    momentum, neg_learning_rate = coefficients
    for n in range(param.size):
        g = grad[n]
        buffer[n] = buffer[n] * momentum + g  # buf.mul_(momentum).add_(grad)
        # nesterov: grad.add(buf, alpha=momentum)
        update = g + momentum * buffer[n] if nesterov else buffer[n]
        param[n] = param[n] + neg_learning_rate * update  # param.add_(update, alpha=-lr)
