"""The fused GRU -> Dense kernels (lstmkit.ops.fused per sample, lstmkit.ops.batched over the batch)
against torch.nn.GRU + nn.Linear + torch.optim, and the reference equations (lstmkit.ops.reference).

Keras's GRU (reset_after=True) is torch's with the gates z, r, h in place of r, z, n along the 3H
axis and the two biases as the rows of one (2, 3H) bias; `keras_weights` converts.
"""

import numpy as np
import pytest
import torch
from kernel_helpers import dense_gradients
from test_fused import (  # noqa: F401  (one_torch_thread: the module's autouse fixture)
    LOSS_FUNCTIONS, TOLERANCE, TORCH_DTYPE, make_data, make_orders, one_torch_thread, torch_fit, torch_predict,
)

from lstmkit.ops import batched, fused, reference
from lstmkit.ops.fused import AdamState, SGDState


def make_torch_model(features, units, outputs, dtype=np.float32, seed=0):
    """One nn.GRU per entry of `units` (an int: one layer), then nn.Linear."""
    torch.manual_seed(seed)
    units = [units] if isinstance(units, int) else units
    grus = [torch.nn.GRU(inputs, size, batch_first=True).to(TORCH_DTYPE[dtype])
            for inputs, size in zip([features, *units], units)]
    return grus, torch.nn.Linear(units[-1], outputs).to(TORCH_DTYPE[dtype])


def torch_parameters(grus, linear):
    return [p for gru in grus for p in (gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)] + [
        linear.weight, linear.bias]


def _swap_zr(array):
    """torch's r, z, n <-> Keras's z, r, h along the last axis (the same swap both ways)."""
    r, z, n = np.split(array, 3, axis=-1)
    return np.concatenate([z, r, n], axis=-1)


def keras_weights(grus, linear):
    """Copies in Keras's get_weights() order and layout: W, U, b (2, 3H) per layer, then the Dense."""
    weights = []
    for gru in grus:
        w_ih, w_hh, b_ih, b_hh = (p.detach().numpy() for p in (gru.weight_ih_l0, gru.weight_hh_l0,
                                                                  gru.bias_ih_l0, gru.bias_hh_l0))
        weights += [_swap_zr(w_ih.T), _swap_zr(w_hh.T), _swap_zr(np.stack([b_ih, b_hh]))]
    weights += [linear.weight.detach().numpy().T, linear.bias.detach().numpy()]
    return [np.array(w, order="C") for w in weights]


def keras_gradients(grus, linear):
    """The torch parameters' .grad in Keras's layout (as keras_weights)."""
    grads = []
    for gru in grus:
        g = [p.grad.numpy() for p in (gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)]
        grads += [_swap_zr(g[0].T), _swap_zr(g[1].T), _swap_zr(np.stack([g[2], g[3]]))]
    return grads + [linear.weight.grad.numpy().T, linear.bias.grad.numpy()]


def assert_all_close(ours, expected, **tolerance):
    assert len(ours) == len(expected)
    for index, (a, b) in enumerate(zip(ours, expected)):
        np.testing.assert_allclose(a, b, err_msg=f"weight {index}", **tolerance)


def test_predict_matches_reference_equations_float64():
    """One layer in float64 against lstmkit.ops.reference.gru_step, step by step."""
    grus, linear = make_torch_model(3, 6, 2, np.float64)
    x, _ = make_data(4, 7, 3, 2, np.float64)
    weights = keras_weights(grus, linear)
    kernel, recurrent_kernel, bias, dense_kernel, dense_bias = (torch.from_numpy(w) for w in weights)
    h = torch.zeros(4, 6, dtype=torch.float64)
    for t in range(7):
        h = reference.gru_step(torch.from_numpy(x[:, t]), h, kernel, recurrent_kernel, bias)
    expected = (h @ dense_kernel + dense_bias).numpy()
    np.testing.assert_allclose(fused.gru_dense_predict(x, weights), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype, units", [(np.float32, 8), (np.float32, [6, 4])])  # float64: above
def test_predict_matches_torch(dtype, units):
    grus, linear = make_torch_model(2, units, 3, dtype)
    x, _ = make_data(5, 6, 2, 3, dtype)
    with torch.no_grad():
        expected = torch_predict(grus, linear, x).numpy()
    np.testing.assert_allclose(fused.gru_dense_predict(x, keras_weights(grus, linear)), expected, **TOLERANCE[dtype])


@pytest.mark.parametrize("loss", ["mse", "mae"])
def test_gradients_match_torch_float64(loss, dtype=np.float64, units=[6, 4]):
    grus, linear = make_torch_model(2, units, 2, dtype)
    x, y = make_data(3, 5, 2, 2, dtype)
    ours, grads = dense_gradients(x, y, keras_weights(grus, linear), loss, "gru")
    expected = LOSS_FUNCTIONS[loss](torch_predict(grus, linear, x), torch.from_numpy(y))
    expected.backward()
    np.testing.assert_allclose(ours, expected.item(), **TOLERANCE[dtype])
    assert_all_close(grads, keras_gradients(grus, linear), **TOLERANCE[dtype])


def _fit_both(engine, units, make_optimizers, dtype=np.float32, loss="mse", batch_size=3, epochs=13):
    grus, linear = make_torch_model(2, units, 2, dtype)
    x, y = make_data(10, 5, 2, 2, dtype)
    orders = make_orders(epochs, 10)
    weights = keras_weights(grus, linear)
    ours, theirs = make_optimizers(weights, torch_parameters(grus, linear))
    losses = engine(x, y, weights, ours, orders, batch_size, loss)
    expected_losses = torch_fit(grus, linear, theirs, x, y, orders, batch_size, loss)
    return (weights, losses, ours), (keras_weights(grus, linear), expected_losses, theirs)


def _adam(weights, parameters):
    return AdamState(weights, learning_rate=0.01), torch.optim.Adam(parameters, lr=0.01, eps=1e-7)


def _sgd_nesterov(weights, parameters):
    ours = SGDState(weights, learning_rate=0.05, momentum=0.9, nesterov=True)
    return ours, torch.optim.SGD(parameters, lr=0.05, momentum=0.9, nesterov=True)


ENGINES = {"per-sample": fused.gru_dense_fit, "batched": batched.gru_dense_fit}


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("make_optimizers", [_adam, _sgd_nesterov])
def test_trajectory_matches_torch_float32(engine, make_optimizers):
    """52 steps in batches of 3, 3, 3 and 1."""
    (weights, losses, ours), (expected, expected_losses, _) = _fit_both(ENGINES[engine], 16, make_optimizers)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-4, atol=1e-6)
    assert_all_close(weights, expected, rtol=0, atol=2e-6)
    assert ours.step == 52


@pytest.mark.parametrize("engine", list(ENGINES))
def test_mae_float64_trajectory_matches_torch(engine):
    (weights, losses, ours), (expected, expected_losses, theirs) = _fit_both(ENGINES[engine], 8, _adam, np.float64,
                                                                            loss="mae")
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-9)
    assert_all_close(weights, expected, rtol=0, atol=1e-9)
    grus_state = [theirs.state[p]["exp_avg"].numpy() for p in theirs.param_groups[0]["params"]]
    assert np.abs(ours.exp_avg[-1] - grus_state[-1]).max() < 1e-12  # the Dense bias's first moment


def test_stack_per_sample_matches_torch():
    (weights, losses, _), (expected, expected_losses, _) = _fit_both(fused.gru_dense_fit, [6, 4], _adam)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-4, atol=1e-6)
    assert_all_close(weights, expected, rtol=0, atol=2e-6)


def test_batched_on_two_threads_equals_one_and_learns():
    grus, linear = make_torch_model(2, 16, 2)
    x, _ = make_data(40, 5, 2, 2)
    y = np.ascontiguousarray(x[:, -1] * 0.5)  # learnable: half the last step
    orders = make_orders(20, 40)
    results = []
    for threads in (1, 2):
        weights = keras_weights(grus, linear)
        losses = batched.gru_dense_fit(x, y, weights, AdamState(weights, 0.01), orders, 8, "mse", threads)
        results.append((losses, weights))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert_all_close(results[0][1], results[1][1], rtol=0, atol=0)
    assert results[0][0][-1].mean() < results[0][0][0].mean() / 2  # it learned


def test_bad_gru_weights_are_named():
    grus, linear = make_torch_model(1, 4, 1)
    weights = keras_weights(grus, linear)
    x, y = make_data(6, 3, 1, 1)
    with pytest.raises(ValueError, match=r"each GRU layer.*shapes \[\(2, 12\), \(4, 12\), \(2, 12\)"):
        fused.gru_dense_predict(np.zeros((1, 3, 2), np.float32), weights)
    with pytest.raises(ValueError, match="each GRU layer"):  # an LSTM's weights given as a GRU's
        fused.gru_dense_fit(x, y, weights[:2] + [weights[2][0]] + weights[3:], AdamState(weights), np.arange(6)[None], 2)
    with pytest.raises(ValueError, match="unknown cell 'rnn'"):
        fused.dense_predict(x, weights, cell="rnn")


# -- through Sequential: GRU stacks + Dense train and predict on the fused engines ----------------


def _gru_model(units=8, stacked=False, optimizer="adam", loss="mse", dtype=torch.float32, timesteps=5):
    from lstmkit import Sequential
    from lstmkit.layers import GRU, Dense

    layers = ([GRU(units, return_sequences=True, input_shape=(timesteps, 1)), GRU(6)] if stacked
              else [GRU(units, input_shape=(timesteps, 1))])
    model = Sequential([*layers, Dense(1)])
    model.compile(loss=loss, optimizer=optimizer)
    return model.to(dtype)


@pytest.fixture
def gru_fits(monkeypatch):
    """Records which GRU fit kernel each fit ran: "per-sample" or "batched"."""
    calls = []
    for module, name in ((fused, "per-sample"), (batched, "batched")):
        original = module.gru_dense_fit
        monkeypatch.setattr(module, "gru_dense_fit",
                            lambda *a, _original=original, _name=name, **k: calls.append(_name) or _original(*a, **k))
    return calls


@pytest.mark.parametrize("make, batch_size, engine", [
    (lambda: _gru_model(), 1, "per-sample"),  # the tutorial's size
    (lambda: _gru_model(stacked=True, optimizer="sgd", loss="mae"), 3, "per-sample"),
    (lambda: _gru_model(64, timesteps=24), 64, "batched"),  # W2's size: above the per-sample limit
])
def test_sequential_fit_on_the_fused_engines_equals_the_torch_loop(make, batch_size, engine, gru_fits):
    from lstmkit.ops import use_backend

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (70 if engine == "batched" else 10, make().built_input_shape[0], 1)).astype(np.float32)
    y = x.mean(axis=1) * 0.8 + 0.1
    ours, theirs = make(), make()  # fit(seed=0) gives both the same initial weights
    history = ours.fit(x, y, epochs=6, batch_size=batch_size, verbose=0, seed=0)
    with use_backend("torch"):
        expected = theirs.fit(x, y, epochs=6, batch_size=batch_size, verbose=0, seed=0)
    assert gru_fits and set(gru_fits) == {engine}
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, atol=2e-5)
    np.testing.assert_allclose(history.history["loss"], expected.history["loss"], rtol=1e-4)
    assert ours.optimizer_state.built is None  # the fused engine never builds a torch optimizer


def test_sequential_predict_on_the_fused_kernel_equals_torch_forward(monkeypatch):
    calls = []
    original = fused.gru_dense_predict
    monkeypatch.setattr(fused, "gru_dense_predict", lambda *a: calls.append(1) or original(*a))
    model = _gru_model(stacked=True)
    x = np.random.default_rng(1).uniform(0, 1, (4, 5, 1)).astype(np.float32)
    with torch.no_grad():
        direct = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.predict(x), direct, atol=1e-6)
    assert calls == [1]
