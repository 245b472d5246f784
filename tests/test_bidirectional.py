"""Bidirectional, stacked LSTMs and sequence-to-sequence outputs: Keras's numbers, counts and files."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from lstmkit import Sequential, load_model
from lstmkit.layers import LSTM, Bidirectional, Dense
from lstmkit.models import format_summary
from lstmkit.optimizers import Adam
from test_keras_parity import LSTM_WEIGHTS, X, keras_dense, keras_lstm

# A second set of weights for the backward direction (F=2, H=3): different numbers, same shapes.
BACKWARD_WEIGHTS = [-LSTM_WEIGHTS[0][:, ::-1].copy(), LSTM_WEIGHTS[1][::-1].copy(), LSTM_WEIGHTS[2][::-1].copy()]

MERGES = {
    "concat": lambda f, b: np.concatenate([f, b], axis=-1),
    "sum": lambda f, b: f + b,
    "mul": lambda f, b: f * b,
    "ave": lambda f, b: (f + b) / 2,
}


# -- parameter counts and summary (Keras's) ------------------------------------------------------
@pytest.mark.parametrize(
    "units, input_shape, merge_mode, params, output",
    [
        (10, (5, 10), "concat", 1_680, (20,)),  # the Keras docs' example
        (64, (10, 1), "concat", 33_792, (128,)),
        (4, (6, 2), "sum", 224, (4,)),
        (4, (6, 2), "ave", 224, (4,)),
    ],
)
def test_parameter_counts_are_twice_the_lstm(units, input_shape, merge_mode, params, output):
    layer = Bidirectional(LSTM(units), merge_mode=merge_mode, input_shape=input_shape)
    assert layer.count_params() == params == 2 * LSTM(units, input_shape=input_shape).count_params()
    assert layer.compute_output_shape(input_shape) == output
    assert [w.shape for w in layer.get_weights()] == [(input_shape[1], 4 * units), (units, 4 * units), (4 * units,)] * 2


def test_summary_of_a_bidirectional_stack():
    model = Sequential(
        [
            Bidirectional(LSTM(8, return_sequences=True), input_shape=(5, 2)),
            Bidirectional(LSTM(4), merge_mode="sum"),
            Dense(3, activation="softmax"),
        ]
    )
    text = format_summary(model)
    assert re.search(r" bidirectional \(Bidirectional\)\s*\(None, 5, 16\)\s+704\n", text), text
    assert re.search(r" bidirectional_1 \(Bidirectional\)\s*\(None, 4\)\s+672\n", text), text
    assert re.search(r" dense \(Dense\)\s+\(None, 3\)\s+15\n", text), text
    assert "Total params: 1,391" in text
    # 704 = 2·4·(2·8 + 8·8 + 8); 672 = 2·4·(16·4 + 4·4 + 4); 15 = 4·3 + 3
    assert model.count_params() == 704 + 672 + 15
    assert [layer.name for layer in model.layers[0].children()] == ["forward_lstm", "backward_lstm"]


def test_input_shape_may_be_given_to_the_wrapped_layer():
    model = Sequential([Bidirectional(LSTM(3, input_shape=(4, 2))), Dense(1)])
    assert model.built_input_shape == (4, 2)
    assert model.output_shape == (1,)


# -- numbers: Keras's semantics, against the numpy Keras LSTM --------------------------------------
@pytest.mark.parametrize("merge_mode", list(MERGES))
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional_matches_keras_formula(merge_mode, return_sequences):
    layer = Bidirectional(LSTM(3, return_sequences=return_sequences), merge_mode=merge_mode, input_shape=(4, 2))
    layer.set_weights([*LSTM_WEIGHTS, *BACKWARD_WEIGHTS])
    forward = keras_lstm(X, *LSTM_WEIGHTS, return_sequences=return_sequences)
    backward = keras_lstm(X, *BACKWARD_WEIGHTS, return_sequences=return_sequences, go_backwards=True)
    if return_sequences:
        backward = backward[:, ::-1]  # Keras flips the backward outputs back into time order
    expected = MERGES[merge_mode](forward, backward)
    got = Sequential([layer]).predict(X)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_backward_half_at_step_t_has_read_the_sequence_from_the_end_to_t():
    layer = Bidirectional(LSTM(3, return_sequences=True), input_shape=(4, 2))
    layer.set_weights([*LSTM_WEIGHTS, *BACKWARD_WEIGHTS])
    got = Sequential([layer]).predict(X)
    for t in range(4):
        # Step t of the backward half = the last state after reading x_T-1, ..., x_t.
        alone = keras_lstm(X[:, t:][:, ::-1], *BACKWARD_WEIGHTS)
        np.testing.assert_allclose(got[:, t, 3:], alone, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got[:, :, :3], keras_lstm(X, *LSTM_WEIGHTS, return_sequences=True), atol=1e-6)


# -- stacked and sequence-to-sequence -----------------------------------------------------------------
def test_stacked_lstms_then_per_step_dense_is_seq2seq():
    head = [np.array([[0.5, -0.2], [0.1, 0.3], [-0.4, 0.6]], dtype=np.float32), np.array([0.05, -0.05], dtype=np.float32)]
    model = Sequential(
        [
            LSTM(3, return_sequences=True, input_shape=(4, 2)),
            LSTM(3, return_sequences=True),
            Dense(2, activation="softmax"),
        ]
    )
    second = [BACKWARD_WEIGHTS[1].copy(), LSTM_WEIGHTS[1].copy(), BACKWARD_WEIGHTS[2].copy()]  # (3, 12) input
    model.set_weights([*LSTM_WEIGHTS, *second, *head])
    assert model.output_shape == (4, 2)
    assert model.count_params() == 4 * (2 * 3 + 9 + 3) + 4 * (3 * 3 + 9 + 3) + 8
    first = keras_lstm(X, *LSTM_WEIGHTS, return_sequences=True)
    hidden = keras_lstm(first, *second, return_sequences=True)
    expected = keras_dense(hidden, *head, activation="softmax")  # the same Dense at every step
    got = model.predict(X)
    assert got.shape == (3, 4, 2)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_seq2seq_classifier_trains_on_per_step_labels():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 6, 1)).astype(np.float32)
    labels = (np.cumsum(x[..., 0], axis=1) > 0).astype(np.int64)  # sign of the running sum: needs memory
    model = Sequential(
        [Bidirectional(LSTM(8, return_sequences=True), input_shape=(6, 1)), Dense(2, activation="softmax")]
    )
    model.compile(loss="sparse_categorical_crossentropy", optimizer=Adam(learning_rate=0.01), metrics=["accuracy"])
    history = model.fit(x, labels, epochs=20, batch_size=16, verbose=0, seed=0)
    assert history.history["loss"][-1] < 0.3 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.9


# -- config, files ----------------------------------------------------------------------------------
@pytest.mark.parametrize("merge_mode", list(MERGES))
def test_config_round_trip(merge_mode):
    layer = Bidirectional(
        LSTM(5, return_sequences=True, dropout=0.25, unit_forget_bias=False, name="encoder"),
        merge_mode=merge_mode,
        input_shape=(7, 3),
        name="both_ways",
    )
    config = layer.get_config()
    assert config["layer"] == {"class_name": "LSTM", "config": {**LSTM(5, return_sequences=True, dropout=0.25, unit_forget_bias=False, name="encoder").get_config()}}
    rebuilt = Bidirectional.from_config(config)
    assert rebuilt.get_config() == config
    assert rebuilt.forward_layer.name == "forward_encoder" and rebuilt.backward_layer.name == "backward_encoder"
    assert rebuilt.backward_layer.go_backwards and not rebuilt.forward_layer.go_backwards
    assert rebuilt.count_params() == layer.count_params()
    x = torch.zeros(2, 7, 3)
    assert rebuilt.eval()(x).shape == layer.eval()(x).shape


def test_save_and_load_a_bidirectional_model(tmp_path):
    model = Sequential(
        [
            Bidirectional(LSTM(4, return_sequences=True), merge_mode="mul", input_shape=(5, 2)),
            LSTM(3),
            Dense(2, activation="softmax"),
        ]
    )
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    x = np.random.default_rng(1).standard_normal((8, 5, 2)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[np.arange(8) % 2]
    model.fit(x, y, epochs=2, verbose=0, seed=0)
    path = tmp_path / "bi.lstmkit"
    model.save(path)
    loaded = load_model(path)
    assert format_summary(loaded) == format_summary(model)
    assert isinstance(loaded.layers[0], Bidirectional) and loaded.layers[0].merge_mode == "mul"
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    for got, expected in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, expected)


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match=r"unknown merge_mode 'concatenate'; did you mean 'concat'\?"):
        Bidirectional(LSTM(3), merge_mode="concatenate")
    with pytest.raises(TypeError, match=r"Bidirectional wraps an LSTM, GRU or SimpleRNN layer; got Dense"):
        Bidirectional(Dense(3))
    with pytest.raises(ValueError, match=r"does not pass on return_state=True"):
        Bidirectional(LSTM(3, return_state=True))
    with pytest.raises(ValueError, match=r"cannot add layer 'bidirectional'.*give it return_sequences=True"):
        Sequential([LSTM(3, input_shape=(4, 2)), Bidirectional(LSTM(3))])
