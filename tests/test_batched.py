"""The batched fused kernels (lstmkit.ops.batched) against torch.nn.LSTM + nn.Linear + torch.optim.

Each test compiles for one dtype and layer count; the three used here: one float32 layer, one
float64 layer, and a float32 stack (each is a numba specialisation of several seconds, cached).
"""

import numpy as np
import pytest
import torch
from test_fused import (
    assert_weights_close,
    keras_layout,
    make_data,
    make_orders,
    make_torch_model,
    torch_fit,
    torch_parameters,
)

from lstmkit.ops import batched, blas_threads
from lstmkit.ops.fused import AdamState, SGDState, lstm_dense_fit


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    threads_before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads_before)


def _fit_both(units, make_optimizers, batch_size, dtype=np.float32, loss="mse", timesteps=5, threads=1):
    """(our weights, losses and optimizer state), (torch's parameters, losses and optimizer)."""
    lstms, linear = make_torch_model(2, units, 2, dtype)
    x, y = make_data(10, timesteps, 2, 2, dtype)
    orders = make_orders(13, 10)
    weights = keras_layout(torch_parameters(lstms, linear))
    parameters = torch_parameters(lstms, linear)
    ours, theirs = make_optimizers(weights, parameters)
    losses = batched.lstm_dense_fit(x, y, weights, ours, orders, batch_size, loss, threads)
    expected_losses = torch_fit(lstms, linear, theirs, x, y, orders, batch_size, loss)
    return (weights, losses, ours), (parameters, expected_losses, theirs)


def _adam(learning_rate=0.01, beta_1=0.9):
    def make(weights, parameters):
        ours = AdamState(weights, learning_rate=learning_rate, beta_1=beta_1)
        return ours, torch.optim.Adam(parameters, lr=learning_rate, betas=(beta_1, 0.999), eps=1e-7)

    return make


def _sgd(momentum, nesterov):
    def make(weights, parameters):
        ours = SGDState(weights, learning_rate=0.05, momentum=momentum, nesterov=nesterov)
        return ours, torch.optim.SGD(parameters, lr=0.05, momentum=momentum, nesterov=nesterov)

    return make


@pytest.mark.parametrize(
    "batch_size, beta_1, timesteps",
    [
        (3, 0.9, 5),  # 52 steps, in batches of 3, 3, 3 and 1
        (10, 0.3, 5),  # the whole set, one batch an epoch; beta_1 < 0.5 (torch's lerp)
        (16, 0.9, 5),  # a batch larger than the set
        (3, 0.9, 1),  # one time step: no h_{t-1} U term anywhere
    ],
)
@pytest.mark.parametrize("threads", [1, 2])  # 2: each batch in two halves, on two threads
def test_adam_trajectory_matches_torch(batch_size, beta_1, timesteps, threads):
    (weights, losses, ours), (parameters, expected_losses, theirs) = _fit_both(
        16, _adam(beta_1=beta_1), batch_size, timesteps=timesteps, threads=threads
    )
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-4, atol=1e-6)
    assert_weights_close(weights, parameters, rtol=0, atol=2e-6)
    states = [theirs.state[p] for p in parameters]
    assert ours.step == losses.size == states[0]["step"].item()
    assert_weights_close(ours.exp_avg, [s["exp_avg"] for s in states], rtol=0, atol=1e-6)
    assert_weights_close(ours.exp_avg_sq, [s["exp_avg_sq"] for s in states], rtol=0, atol=1e-7)


@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, True)])
def test_sgd_trajectory_matches_torch(momentum, nesterov):
    (weights, losses, ours), (parameters, expected_losses, theirs) = _fit_both(16, _sgd(momentum, nesterov), 3)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-4, atol=1e-6)
    assert_weights_close(weights, parameters, rtol=0, atol=2e-6)
    if momentum:
        buffers = [theirs.state[p]["momentum_buffer"] for p in parameters]
        assert_weights_close(ours.momentum_buffer, buffers, rtol=0, atol=2e-6)


@pytest.mark.parametrize("loss, threads", [("mse", 1), ("mae", 2)])
def test_float64_trajectory_matches_torch(loss, threads):
    (weights, losses, _), (parameters, expected_losses, _) = _fit_both(16, _adam(), 3, np.float64, loss, threads=threads)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-10)
    assert_weights_close(weights, parameters, rtol=0, atol=1e-10)


@pytest.mark.parametrize("threads", [1, 2])
def test_stacked_trajectory_matches_torch(threads):
    """Two layers in float32. After 52 steps torch's own float32 run is 1.6e-6 from its float64
    run, and ours 2.3e-6 (the per-sample kernels' 2.4e-6), so the two float32 runs may differ
    by their sum; on an AVX-512 Xeon, whose torch kernels round otherwise, they differed by 5.8e-6."""
    (weights, losses, _), (parameters, expected_losses, _) = _fit_both([12, 8], _adam(), 3, threads=threads)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-4, atol=1e-6)
    assert_weights_close(weights, parameters, rtol=0, atol=1e-5)


def test_same_numbers_as_the_per_sample_kernels():
    x, y = make_data(9, 4, 2, 1)
    orders = make_orders(4, 9)
    weights = keras_layout(torch_parameters(*make_torch_model(2, 16, 1)))
    per_sample = [w.copy() for w in weights]
    losses = batched.lstm_dense_fit(x, y, weights, AdamState(weights, 0.01), orders, 4)
    expected = lstm_dense_fit(x, y, per_sample, AdamState(per_sample, 0.01), orders, 4)
    np.testing.assert_allclose(losses, expected, rtol=1e-5)
    for ours, theirs in zip(weights, per_sample):
        np.testing.assert_allclose(ours, theirs, atol=2e-6)


def test_bad_input_is_named():
    weights = keras_layout(torch_parameters(*make_torch_model(1, 4, 1)))
    x, y = make_data(6, 3, 1, 1)
    with pytest.raises(ValueError, match=r"orders must hold sample indices in \[0, 6\)"):
        batched.lstm_dense_fit(x, y, weights, AdamState(weights), np.arange(1, 7)[None], 2)
    with pytest.raises(TypeError, match="AdamState or SGDState; got str"):
        batched.lstm_dense_fit(x, y, weights, "adam", np.arange(6)[None], 2)
    with pytest.raises(ValueError, match="threads must be 1 or 2; got 3"):
        batched.lstm_dense_fit(x, y, weights, AdamState(weights), np.arange(6)[None], 2, threads=3)


def test_blas_runs_on_one_thread_in_the_block_then_as_before():
    found = blas_threads._blas_threads()
    if found is None:
        pytest.skip("scipy's BLAS is not OpenBLAS")
    get_threads, set_threads = found
    before = get_threads()
    set_threads(2)
    try:
        with blas_threads.one_blas_thread():
            assert get_threads() == 1
        assert get_threads() == 2
    finally:
        set_threads(before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_thread_and_two_give_identical_numbers(dtype):
    # The thread count follows the machine's load, so it must never change a seeded result.
    runs = []
    for count in (1, 2):
        (weights, losses, state), _ = _fit_both(16, _adam(), 3, dtype=dtype, threads=count)
        runs.append((weights, losses, state))
    (w1, l1, s1), (w2, l2, s2) = runs
    np.testing.assert_array_equal(l1, l2)
    for a, b in zip(w1 + s1.exp_avg + s1.exp_avg_sq, w2 + s2.exp_avg + s2.exp_avg_sq):
        np.testing.assert_array_equal(a, b)
