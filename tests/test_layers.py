"""Layers: Keras's parameter counts, initialisers, weights, config, options, and PyTorch parity."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import lstmkit.layers as layers_module
from lstmkit import Sequential
from lstmkit.layers import LSTM, Dense, Dropout
from lstmkit.ops.dispatch import use_backend
from lstmkit.ops.reference import lstm_sequence


def _inputs(batch: int = 4, steps: int = 6, features: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(batch, steps, features, generator=torch.Generator().manual_seed(seed))


def _same_weights(source: LSTM, target: LSTM) -> None:
    target.set_weights(source.get_weights())


# -- parameter counts (Keras's) ---------------------------------------------------------------
@pytest.mark.parametrize(
    "units, input_shape, expected",
    [(50, (5, 1), 10_400), (128, (3, 1), 66_560), (4, (5, 2), 112), (3, (None, 4), 96)],
)
def test_lstm_parameter_count_matches_keras(units, input_shape, expected):
    # 4·(F·H + H·H + H)
    assert LSTM(units, input_shape=input_shape).count_params() == expected


def test_dense_after_lstm50_has_51_parameters():
    model = Sequential([LSTM(50, input_shape=(5, 1)), Dense(1)])
    assert [layer.count_params() for layer in model.layers] == [10_400, 51]
    assert Dense(3, use_bias=False, input_shape=(4,)).count_params() == 12


# -- initialisers ------------------------------------------------------------------------------
def test_lstm_initialisers_follow_keras():
    torch.manual_seed(0)
    units, features = 16, 3
    layer = LSTM(units, input_shape=(5, features))
    kernel, recurrent_kernel, bias = layer.get_weights()

    expected_bias = np.zeros(4 * units, dtype=np.float32)
    expected_bias[units : 2 * units] = 1.0  # unit_forget_bias: the f slice starts at 1
    np.testing.assert_array_equal(bias, expected_bias)

    # Orthogonal (H, 4H): its rows are orthonormal.
    np.testing.assert_allclose(recurrent_kernel @ recurrent_kernel.T, np.eye(units), atol=1e-5)

    limit = math.sqrt(6.0 / (features + 4 * units))  # glorot_uniform
    assert np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.8 * limit  # drawn over the whole range, not a narrower one
    assert abs(kernel.mean()) < 0.2 * limit


def test_unit_forget_bias_false_gives_zero_bias():
    _, _, bias = LSTM(4, unit_forget_bias=False, input_shape=(3, 1)).get_weights()
    np.testing.assert_array_equal(bias, np.zeros(16, dtype=np.float32))


def test_dense_initialisers_follow_keras():
    torch.manual_seed(0)
    kernel, bias = Dense(30, input_shape=(20,)).get_weights()
    limit = math.sqrt(6.0 / (20 + 30))
    assert np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.8 * limit
    np.testing.assert_array_equal(bias, np.zeros(30, dtype=np.float32))


# -- config --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "layer, x",
    [
        (
            LSTM(
                7,
                activation="relu",
                recurrent_activation="hard_sigmoid",
                return_sequences=True,
                dropout=0.25,
                recurrent_dropout=0.125,
                unit_forget_bias=False,
                go_backwards=True,
                input_shape=(6, 2),
                name="encoder",
            ),
            torch.zeros(2, 6, 2),
        ),
        (LSTM(3), torch.zeros(2, 4, 5)),
        (Dense(5, activation="tanh", use_bias=False, input_shape=(4,)), torch.zeros(2, 4)),
        (Dense(2), torch.zeros(3, 6, 9)),
        (Dropout(0.3, name="drop"), torch.zeros(2, 3)),
    ],
    ids=["lstm-every-option", "lstm-defaults", "dense-options", "dense-defaults", "dropout"],
)
def test_config_round_trip(layer, x):
    config = layer.get_config()
    rebuilt = type(layer).from_config(config)
    assert rebuilt.get_config() == config
    assert type(rebuilt) is type(layer)
    for key, value in config.items():
        if key != "input_shape":
            assert getattr(rebuilt, key) == value
    layer.eval()
    rebuilt.eval()
    assert rebuilt(x).shape == layer(x).shape
    assert rebuilt.count_params() == layer.count_params()


def test_config_is_plain_json_values():
    config = LSTM(4, input_shape=(3, 2)).get_config()
    assert json.loads(json.dumps(config)) == config
    assert config["input_shape"] == [3, 2]
    assert config["units"] == 4 and config["activation"] == "tanh"


# -- weights -------------------------------------------------------------------------------------
def test_get_weights_has_keras_shapes_and_order():
    lstm = LSTM(5, input_shape=(4, 3))
    shapes = [w.shape for w in lstm.get_weights()]
    assert shapes == [(3, 20), (5, 20), (20,)]
    assert all(isinstance(w, np.ndarray) for w in lstm.get_weights())
    dense = Dense(2, input_shape=(5,))
    assert [w.shape for w in dense.get_weights()] == [(5, 2), (2,)]


def test_set_weights_round_trips_and_drives_the_output():
    rng = np.random.default_rng(0)
    lstm = LSTM(3, input_shape=(4, 2))
    new = [rng.standard_normal(w.shape).astype(np.float32) for w in lstm.get_weights()]
    lstm.set_weights(new)
    for got, expected in zip(lstm.get_weights(), new):
        np.testing.assert_array_equal(got, expected)
    # The copy is independent of the caller's arrays.
    new[0][...] = 0.0
    assert np.abs(lstm.get_weights()[0]).max() > 0
    np.testing.assert_array_equal(lstm.kernel.detach().numpy(), lstm.get_weights()[0])
    # set_weights marks the layer so fit(seed=...) does not re-draw it.
    assert lstm.weights_set


def test_set_weights_with_wrong_shape_names_the_expected_shape():
    lstm = LSTM(3, input_shape=(4, 2))
    kernel, recurrent_kernel, bias = lstm.get_weights()
    with pytest.raises(ValueError, match=r"layer 'LSTM' weight 1 must have shape \(3, 12\); got \(12, 3\)"):
        lstm.set_weights([kernel, recurrent_kernel.T, bias])
    with pytest.raises(ValueError, match=r"expects 3 weight arrays \[\(2, 12\), \(3, 12\), \(12,\)\]; got 2"):
        lstm.set_weights([kernel, recurrent_kernel])
    model = Sequential([LSTM(3, input_shape=(4, 2)), Dense(1)])
    with pytest.raises(ValueError, match=r"layer 'dense' weight 0 must have shape \(3, 1\); got \(1, 3\)"):
        model.layers[1].set_weights([np.zeros((1, 3)), np.zeros(1)])


def test_set_weights_before_build_explains():
    with pytest.raises(ValueError, match=r"layer 'LSTM' has no weights yet: give it `input_shape=`"):
        LSTM(3).set_weights([np.zeros((1, 12)), np.zeros((3, 12)), np.zeros(12)])


def test_layer_builds_from_the_first_input():
    layer = LSTM(3)
    assert not layer.built
    out = layer(_inputs(features=5))
    assert out.shape == (4, 3)
    assert [w.shape for w in layer.get_weights()] == [(5, 12), (3, 12), (12,)]
    double = LSTM(2)(_inputs().double())
    assert double.dtype == torch.float64


# -- options --------------------------------------------------------------------------------
def test_return_sequences_and_return_state():
    x = _inputs()
    last = LSTM(5, input_shape=(6, 2))
    sequences = LSTM(5, return_sequences=True, input_shape=(6, 2))
    stateful = LSTM(5, return_sequences=True, return_state=True, input_shape=(6, 2))
    _same_weights(last, sequences)
    _same_weights(last, stateful)

    h = last(x)
    outputs = sequences(x)
    assert h.shape == (4, 5)
    assert outputs.shape == (4, 6, 5)
    torch.testing.assert_close(outputs[:, -1], h)

    outputs_2, h_n, c_n = stateful(x)
    torch.testing.assert_close(outputs_2, outputs)
    torch.testing.assert_close(h_n, h)
    kernel, recurrent_kernel, bias = (torch.from_numpy(w) for w in last.get_weights())
    zeros = torch.zeros(4, 5)
    _, _, expected_c = lstm_sequence(x, zeros, zeros, kernel, recurrent_kernel, bias)
    torch.testing.assert_close(c_n, expected_c)
    assert sequences.compute_output_shape((6, 2)) == (6, 5)
    assert last.compute_output_shape((6, 2)) == (5,)


def test_initial_state_is_used():
    x = _inputs()
    layer = LSTM(3, return_state=True, input_shape=(6, 2))
    h0, c0 = torch.full((4, 3), 0.5), torch.full((4, 3), -1.0)
    _, h_n, c_n = layer(x, initial_state=(h0, c0))
    kernel, recurrent_kernel, bias = (torch.from_numpy(w) for w in layer.get_weights())
    _, expected_h, expected_c = lstm_sequence(x, h0, c0, kernel, recurrent_kernel, bias)
    torch.testing.assert_close(h_n, expected_h)
    torch.testing.assert_close(c_n, expected_c)
    _, h_zero, _ = layer(x)
    assert (h_zero - h_n).abs().max() > 1e-3


def test_go_backwards_equals_running_on_the_flipped_input():
    x = _inputs()
    forwards = LSTM(4, return_sequences=True, input_shape=(6, 2))
    backwards = LSTM(4, return_sequences=True, go_backwards=True, input_shape=(6, 2))
    _same_weights(forwards, backwards)
    # Keras's semantics: outputs in the order processed (not flipped back).
    torch.testing.assert_close(backwards(x), forwards(x.flip(1)))
    assert (backwards(x) - forwards(x)).abs().max() > 1e-3
    last_backwards = LSTM(4, go_backwards=True, input_shape=(6, 2))
    _same_weights(forwards, last_backwards)
    torch.testing.assert_close(last_backwards(x), forwards(x.flip(1))[:, -1])


def test_dropout_is_identity_in_eval_and_random_in_train():
    x = _inputs(batch=8)
    plain = LSTM(6, return_sequences=True, input_shape=(6, 2))
    for options in ({"dropout": 0.5}, {"recurrent_dropout": 0.5}):
        dropped = LSTM(6, return_sequences=True, input_shape=(6, 2), **options)
        _same_weights(plain, dropped)
        dropped.eval()
        torch.testing.assert_close(dropped(x), plain(x), rtol=0, atol=0)
        dropped.train()
        torch.manual_seed(0)
        first = dropped(x)
        torch.manual_seed(1)
        second = dropped(x)
        assert (first - plain(x)).abs().max() > 1e-3, options
        assert (first - second).abs().max() > 1e-3, options

    layer = Dropout(0.5)
    values = torch.ones(1000)
    layer.eval()
    torch.testing.assert_close(layer(values), values)
    layer.train()
    torch.manual_seed(0)
    out = layer(values)
    assert set(out.unique().tolist()) == {0.0, 2.0}  # inverted dropout: kept values scaled by 1/(1-rate)
    assert 0.4 < (out == 0).float().mean() < 0.6


def test_input_dropout_uses_one_mask_per_sequence(monkeypatch):
    # Keras: the same features are dropped at every time step of a sequence.
    seen = []
    real_forward = layers_module.lstm_forward

    def recording_forward(x, *args, **kwargs):
        seen.append(x)
        return real_forward(x, *args, **kwargs)

    monkeypatch.setattr(layers_module, "lstm_forward", recording_forward)
    layer = LSTM(3, dropout=0.5, return_sequences=True, input_shape=(6, 4))
    layer.train()
    torch.manual_seed(0)
    layer(torch.ones(16, 6, 4))
    masked = seen[0]
    assert set(masked.unique().tolist()) == {0.0, 2.0}
    torch.testing.assert_close(masked, masked[:, :1].expand_as(masked))


def test_non_tanh_activation_runs_the_reference_equations(monkeypatch):
    def no_fused_lstm(*args):
        raise AssertionError("relu must not run on torch.lstm")

    monkeypatch.setattr(torch, "lstm", no_fused_lstm)
    x = _inputs().double()
    layer = LSTM(4, activation="relu", recurrent_activation="hard_sigmoid", return_sequences=True).double()
    out = layer(x)
    kernel, recurrent_kernel, bias = (torch.from_numpy(w) for w in layer.get_weights())
    zeros = torch.zeros(4, 4, dtype=torch.float64)
    expected, _, _ = lstm_sequence(
        x,
        zeros,
        zeros,
        kernel,
        recurrent_kernel,
        bias,
        activation=torch.relu,
        recurrent_activation=lambda z: torch.clamp(z / 6 + 0.5, 0, 1),  # Keras 3's hard_sigmoid
    )
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


def test_forcing_torch_backend_on_a_relu_layer_raises():
    layer = LSTM(4, activation="relu", input_shape=(6, 2))
    with use_backend("torch"), pytest.raises(ValueError, match="falls back to 'reference'"):
        layer(_inputs())


def test_dense_on_sequences_applies_per_step():
    dense = Dense(3, activation="sigmoid", input_shape=(6, 2))
    x = _inputs()
    out = dense(x)
    assert out.shape == (4, 6, 3)
    kernel, bias = (torch.from_numpy(w) for w in dense.get_weights())
    torch.testing.assert_close(out[:, 2], torch.sigmoid(x[:, 2] @ kernel + bias))
    assert dense.compute_output_shape((6, 2)) == (6, 3)


# -- parity with torch.nn.LSTM + nn.Linear -----------------------------------------------------
@pytest.mark.parametrize("backend", ["auto", "reference"])
def test_weights_from_torch_lstm_give_pytorchs_outputs_and_gradients(backend):
    torch.manual_seed(0)
    features, units, steps = 3, 5, 7
    torch_lstm = torch.nn.LSTM(features, units, batch_first=True).double()
    torch_dense = torch.nn.Linear(units, 1).double()
    model = Sequential([LSTM(units, input_shape=(steps, features)), Dense(1)]).double()
    model.layers[0].set_weights(
        [
            torch_lstm.weight_ih_l0.detach().numpy().T,
            torch_lstm.weight_hh_l0.detach().numpy().T,
            (torch_lstm.bias_ih_l0 + torch_lstm.bias_hh_l0).detach().numpy(),
        ]
    )
    model.layers[1].set_weights([torch_dense.weight.detach().numpy().T, torch_dense.bias.detach().numpy()])
    assert all(p.dtype == torch.float64 for p in model.parameters())

    x = torch.randn(4, steps, features, dtype=torch.float64)
    target = torch.randn(4, 1, dtype=torch.float64)
    with use_backend(backend):
        ours = model(x)
    sequence, _ = torch_lstm(x)
    theirs = torch_dense(sequence[:, -1])
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)

    ((ours - target) ** 2).mean().backward()
    ((theirs - target) ** 2).mean().backward()
    lstm, dense = model.layers
    torch.testing.assert_close(lstm.kernel.grad, torch_lstm.weight_ih_l0.grad.T, rtol=0, atol=1e-6)
    torch.testing.assert_close(lstm.recurrent_kernel.grad, torch_lstm.weight_hh_l0.grad.T, rtol=0, atol=1e-6)
    torch.testing.assert_close(lstm.bias.grad, torch_lstm.bias_ih_l0.grad, rtol=0, atol=1e-6)
    torch.testing.assert_close(dense.kernel.grad, torch_dense.weight.grad.T, rtol=0, atol=1e-6)
    torch.testing.assert_close(dense.bias.grad, torch_dense.bias.grad, rtol=0, atol=1e-6)
