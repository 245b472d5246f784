"""The fused LSTM -> Dense kernels against torch.nn.LSTM + nn.Linear + torch.optim.

lstmkit's LSTM has one bias, so the torch model here trains bias_ih and keeps bias_hh at 0.
"""

import numpy as np
import pytest
import torch

from kernel_helpers import lstm_dense_gradients, lstm_sequence_forward

from lstmkit.ops.fused import AdamState, SGDState, lstm_dense_fit, lstm_dense_predict


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models: a second thread only adds contention (several times slower on 2 cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TOLERANCE = {np.float32: {"rtol": 1e-5, "atol": 1e-6}, np.float64: {"rtol": 1e-10, "atol": 1e-10}}
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}
LOSS_FUNCTIONS = {"mse": torch.nn.functional.mse_loss, "mae": torch.nn.functional.l1_loss}


def make_torch_model(features, units, outputs, dtype=np.float32, seed=0):
    """One nn.LSTM per entry of `units` (an int: one layer), then nn.Linear."""
    torch.manual_seed(seed)
    units = [units] if isinstance(units, int) else units
    sizes = zip([features, *units], units)
    lstms = [torch.nn.LSTM(inputs, size, batch_first=True) for inputs, size in sizes]
    for lstm in lstms:
        lstm.to(TORCH_DTYPE[dtype])
        with torch.no_grad():
            lstm.bias_ih_l0 += lstm.bias_hh_l0  # b = b_ih + b_hh
            lstm.bias_hh_l0.zero_()
        lstm.bias_hh_l0.requires_grad_(False)
    return lstms, torch.nn.Linear(units[-1], outputs).to(TORCH_DTYPE[dtype])


def torch_parameters(lstms, linear):
    """In Keras's get_weights() order; 2-D ones are the transposes of Keras's layout."""
    layers = [[lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0] for lstm in lstms]
    return [*(p for layer in layers for p in layer), linear.weight, linear.bias]


def keras_layout(tensors):
    """Copies of the tensors, transposed back to Keras's layout."""
    return [np.array(t.detach().numpy().T, order="C") for t in tensors]


def torch_predict(lstms, linear, x):
    sequence = torch.from_numpy(x)
    for lstm in lstms:
        sequence = lstm(sequence)[0]
    return linear(sequence[:, -1])


def make_data(samples, timesteps, features, outputs, dtype=np.float32, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((samples, timesteps, features)).astype(dtype)
    y = rng.standard_normal((samples, outputs)).astype(dtype)
    return x, y


def make_orders(epochs, samples):
    return np.stack([np.random.default_rng(epoch).permutation(samples) for epoch in range(epochs)])


def torch_fit(lstms, linear, optimizer, x, y, orders, batch_size, loss="mse"):
    losses = []
    for order in orders:
        for start in range(0, len(x), batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad()
            y_hat = torch_predict(lstms, linear, x[batch])
            batch_loss = LOSS_FUNCTIONS[loss](y_hat, torch.from_numpy(y[batch]))
            batch_loss.backward()
            optimizer.step()
            losses.append(batch_loss.item())
    return np.array(losses).reshape(len(orders), -1)


def assert_weights_close(ours, tensors, **tolerance):
    assert len(ours) == len(tensors)
    for index, (array, tensor) in enumerate(zip(ours, tensors)):
        expected = tensor.detach().numpy().T
        np.testing.assert_allclose(array, expected, err_msg=f"weight {index}", **tolerance)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sequence_forward_matches_torch(dtype):
    lstms, linear = make_torch_model(3, 6, 1, dtype)
    x, _ = make_data(4, 7, 3, 1, dtype)
    rng = np.random.default_rng(2)
    h0, c0 = (rng.standard_normal((4, 6)).astype(dtype) for _ in range(2))
    kernel, recurrent_kernel, bias = keras_layout(torch_parameters(lstms, linear))[:3]
    h_seq, h_last, c_last = lstm_sequence_forward(x, h0, c0, kernel, recurrent_kernel, bias)
    with torch.no_grad():
        expected_seq, (expected_h, expected_c) = lstms[0](
            torch.from_numpy(x), (torch.from_numpy(h0)[None], torch.from_numpy(c0)[None])
        )
    np.testing.assert_allclose(h_seq, expected_seq.numpy(), **TOLERANCE[dtype])
    np.testing.assert_allclose(h_last, expected_h[0].numpy(), **TOLERANCE[dtype])
    np.testing.assert_allclose(c_last, expected_c[0].numpy(), **TOLERANCE[dtype])


# One LSTM layer in both dtypes, and a stack (its compilation costs seconds) in float32.
DTYPES_AND_UNITS = [(np.float32, 8), (np.float64, 8), (np.float32, [6, 4])]


@pytest.mark.parametrize("dtype, units", DTYPES_AND_UNITS)
def test_predict_matches_torch(dtype, units):
    lstms, linear = make_torch_model(2, units, 3, dtype)
    x, _ = make_data(5, 6, 2, 3, dtype)
    weights = keras_layout(torch_parameters(lstms, linear))
    with torch.no_grad():
        expected = torch_predict(lstms, linear, x).numpy()
    np.testing.assert_allclose(lstm_dense_predict(x, weights), expected, **TOLERANCE[dtype])
    out = np.empty((1, 3), dtype)
    assert lstm_dense_predict(x[2:3], weights, out) is out
    np.testing.assert_allclose(out, expected[2:3], **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saturated_gates_and_nan_match_torch(dtype):
    """Pre-activations out to about ±130, past the clamps in σ and tanh, and a NaN input."""
    lstms, linear = make_torch_model(2, 8, 1, dtype)
    with torch.no_grad():
        for parameter in torch_parameters(lstms, linear):
            parameter *= 80
    x, _ = make_data(6, 5, 2, 1, dtype)
    x[5, 2, 1] = np.nan
    weights = keras_layout(torch_parameters(lstms, linear))
    with torch.no_grad():
        expected = torch_predict(lstms, linear, x).numpy()
    assert np.isnan(expected[5]).all() and np.isfinite(expected[:5]).all()
    np.testing.assert_allclose(lstm_dense_predict(x, weights), expected, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype, units", DTYPES_AND_UNITS)
@pytest.mark.parametrize("loss", ["mse", "mae"])
def test_gradients_match_torch(dtype, units, loss):
    lstms, linear = make_torch_model(2, units, 2, dtype)
    x, y = make_data(3, 5, 2, 2, dtype)
    ours, grads = lstm_dense_gradients(x, y, keras_layout(torch_parameters(lstms, linear)), loss)
    expected = LOSS_FUNCTIONS[loss](torch_predict(lstms, linear, x), torch.from_numpy(y))
    expected.backward()
    np.testing.assert_allclose(ours, expected.item(), **TOLERANCE[dtype])
    expected_grads = [p.grad for p in torch_parameters(lstms, linear)]
    assert_weights_close(grads, expected_grads, **TOLERANCE[dtype])


@pytest.mark.parametrize(
    "units, batch_size, learning_rate, beta_1, epochs",
    [
        (16, 1, 0.001, 0.9, 5),  # 50 steps
        (16, 3, 0.01, 0.9, 13),  # 52 steps, in batches of 3, 3, 3 and 1
        (16, 3, 0.01, 0.3, 13),  # beta_1 < 0.5: torch's lerp rounds by another formula
        ([12, 8], 3, 0.01, 0.9, 13),
    ],
)
def test_adam_trajectory_matches_torch(units, batch_size, learning_rate, beta_1, epochs):
    lstms, linear = make_torch_model(2, units, 2)
    x, y = make_data(10, 5, 2, 2)
    orders = make_orders(epochs, 10)
    weights = keras_layout(torch_parameters(lstms, linear))
    ours = AdamState(weights, learning_rate=learning_rate, beta_1=beta_1)
    losses = lstm_dense_fit(x, y, weights, ours, orders, batch_size)

    parameters = torch_parameters(lstms, linear)
    theirs = torch.optim.Adam(parameters, lr=learning_rate, betas=(beta_1, 0.999), eps=1e-7)
    expected_losses = torch_fit(lstms, linear, theirs, x, y, orders, batch_size)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-4, atol=1e-6)
    # float32 runs of 50 steps; two layers on an AVX-512 Xeon, whose torch kernels round otherwise: 2.03e-6
    assert_weights_close(weights, parameters, rtol=0, atol=4e-6)
    states = [theirs.state[p] for p in parameters]
    assert ours.step == losses.size == states[0]["step"].item()
    assert_weights_close(ours.exp_avg, [s["exp_avg"] for s in states], rtol=0, atol=1e-6)
    assert_weights_close(ours.exp_avg_sq, [s["exp_avg_sq"] for s in states], rtol=0, atol=1e-7)


@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_trajectory_matches_torch(momentum, nesterov):
    lstms, linear = make_torch_model(2, 16, 2)
    x, y = make_data(10, 5, 2, 2)
    orders = make_orders(13, 10)
    weights = keras_layout(torch_parameters(lstms, linear))
    ours = SGDState(weights, learning_rate=0.05, momentum=momentum, nesterov=nesterov)
    losses = lstm_dense_fit(x, y, weights, ours, orders, batch_size=3)

    parameters = torch_parameters(lstms, linear)
    theirs = torch.optim.SGD(parameters, lr=0.05, momentum=momentum, nesterov=nesterov)
    expected_losses = torch_fit(lstms, linear, theirs, x, y, orders, batch_size=3)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-4, atol=1e-6)
    assert_weights_close(weights, parameters, rtol=0, atol=2e-6)
    if momentum:
        buffers = [theirs.state[p]["momentum_buffer"] for p in parameters]
        assert_weights_close(ours.momentum_buffer, buffers, rtol=0, atol=2e-6)


def test_mae_float64_trajectory_matches_torch():
    lstms, linear = make_torch_model(2, 16, 2, np.float64)
    x, y = make_data(10, 5, 2, 2, np.float64)
    orders = make_orders(13, 10)
    weights = keras_layout(torch_parameters(lstms, linear))
    losses = lstm_dense_fit(x, y, weights, AdamState(weights, 0.01), orders, 3, loss="mae")

    theirs = torch.optim.Adam(torch_parameters(lstms, linear), lr=0.01, eps=1e-7)
    expected_losses = torch_fit(lstms, linear, theirs, x, y, orders, batch_size=3, loss="mae")
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-9)
    assert_weights_close(weights, torch_parameters(lstms, linear), rtol=0, atol=1e-9)


def test_tutorial_workload_matches_torch():
    """W1: LSTM(50) -> Dense(1) on 8 windows of 5 steps, Adam, batch 1, 100 epochs."""
    lstms, linear = make_torch_model(1, 50, 1)
    x = np.linspace(0, 1, 40, dtype=np.float32).reshape(8, 5, 1)
    y = x[:, -1] + np.float32(0.1)
    orders = make_orders(100, 8)
    weights = keras_layout(torch_parameters(lstms, linear))
    losses = lstm_dense_fit(x, y, weights, AdamState(weights), orders, batch_size=1)

    theirs = torch.optim.Adam(torch_parameters(lstms, linear), lr=0.001, eps=1e-7)
    expected_losses = torch_fit(lstms, linear, theirs, x, y, orders, batch_size=1)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-3, atol=1e-6)
    assert_weights_close(weights, torch_parameters(lstms, linear), rtol=0, atol=2e-6)
    assert losses[-1].mean() < losses[0].mean() / 10  # it learned


def test_fitting_epoch_by_epoch_equals_one_call():
    x, y = make_data(7, 4, 1, 1)
    orders = make_orders(3, 7)
    weights_once = keras_layout(torch_parameters(*make_torch_model(1, 4, 1)))
    weights_split = [w.copy() for w in weights_once]
    optimizer_once, optimizer_split = AdamState(weights_once), AdamState(weights_split)
    losses_once = lstm_dense_fit(x, y, weights_once, optimizer_once, orders, 2)
    losses_split = [
        lstm_dense_fit(x, y, weights_split, optimizer_split, order[None], 2) for order in orders
    ]
    np.testing.assert_array_equal(losses_once, np.concatenate(losses_split))
    for once, split in zip(weights_once, weights_split):
        np.testing.assert_array_equal(once, split)
    assert optimizer_once.step == optimizer_split.step == 12


def test_bad_input_is_named():
    weights = keras_layout(torch_parameters(*make_torch_model(1, 4, 1)))
    x, y = make_data(6, 3, 1, 1)
    orders = np.arange(6)[None]
    with pytest.raises(ValueError, match="unknown loss 'mse2'"):
        lstm_dense_fit(x, y, weights, AdamState(weights), orders, 2, loss="mse2")
    with pytest.raises(ValueError, match=r"orders must hold sample indices in \[0, 6\)"):
        lstm_dense_fit(x, y, weights, AdamState(weights), orders + 1, 2)
    with pytest.raises(ValueError, match=r"y \(samples, 1\)"):
        lstm_dense_fit(x, y[:, [0, 0]], weights, AdamState(weights), orders, 2)
    with pytest.raises(ValueError, match=r"for 2 features, shapes \[\(2, 16\)"):
        lstm_dense_predict(np.zeros((1, 3, 2), np.float32), weights)
    with pytest.raises(ValueError, match="kernel, recurrent_kernel and bias of each LSTM layer"):
        lstm_dense_predict(x, weights[:4])
    with pytest.raises(TypeError, match="AdamState or SGDState; got str"):
        lstm_dense_fit(x, y, weights, "adam", orders, 2)
    transposed = [*weights[:1], np.asfortranarray(weights[1]), *weights[2:]]
    with pytest.raises(ValueError, match="weights must be C-contiguous, writeable numpy arrays"):
        lstm_dense_fit(x, y, transposed, AdamState(weights), orders, 2)
    with pytest.raises(ValueError, match="the optimizer state must be"):
        lstm_dense_fit(x, y, weights, AdamState(weights[:2] + weights[3:]), orders, 2)
