"""lstmkit computes Keras's numbers.

Two references: a numpy implementation of Keras's LSTM written out below (with fixed weights
written literally), and tests/data/keras_golden.json, outputs of real Keras 3 for fixed weights
(made by tests/data/make_keras_golden.py in a separate Keras environment).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from lstmkit import Sequential
from lstmkit.layers import LAYERS, LSTM, Dense
from lstmkit.models import format_summary
from lstmkit.ops.activations import ACTIVATIONS

# -- Keras's LSTM in numpy -------------------------------------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _hard_sigmoid(z: np.ndarray) -> np.ndarray:
    return np.clip(z / 6.0 + 0.5, 0.0, 1.0)  # Keras 3: relu6(x + 3) / 6


NUMPY_ACTIVATIONS = {
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "relu": lambda z: np.maximum(z, 0.0),
    "hard_sigmoid": _hard_sigmoid,
}


def keras_lstm(
    x: np.ndarray,
    kernel: np.ndarray,
    recurrent_kernel: np.ndarray,
    bias: np.ndarray,
    activation: str = "tanh",
    recurrent_activation: str = "sigmoid",
    return_sequences: bool = False,
    go_backwards: bool = False,
) -> np.ndarray:
    """keras.layers.LSTM's forward pass in float64: z = x W + h U + b, gates i, f, c, o.

    With go_backwards, Keras reads the input from the last step to the first and returns the
    outputs in the order it processed them (not flipped back).
    """
    x, kernel, recurrent_kernel, bias = (np.asarray(a, dtype=np.float64) for a in (x, kernel, recurrent_kernel, bias))
    act, recurrent_act = NUMPY_ACTIVATIONS[activation], NUMPY_ACTIVATIONS[recurrent_activation]
    batch, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    h = np.zeros((batch, units))
    c = np.zeros((batch, units))
    outputs = []
    for t in reversed(range(steps)) if go_backwards else range(steps):
        z = x[:, t] @ kernel + h @ recurrent_kernel + bias
        z0, z1, z2, z3 = np.split(z, 4, axis=-1)
        i = recurrent_act(z0)
        f = recurrent_act(z1)
        c = f * c + i * act(z2)
        o = recurrent_act(z3)
        h = o * act(c)
        outputs.append(h)
    return np.stack(outputs, axis=1) if return_sequences else h


def keras_dense(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, activation: str = "linear") -> np.ndarray:
    y = np.asarray(x, dtype=np.float64) @ kernel + bias
    if activation == "softmax":
        e = np.exp(y - y.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    return y if activation == "linear" else NUMPY_ACTIVATIONS[activation](y)


# Fixed weights: F = 2 features, H = 3 units, and inputs of B = 3 sequences of T = 4 steps.
# fmt: off
KERNEL = np.array([
    [0.15, 0.48, 0.33, -0.33, -0.24, 0.45, -0.59, 0.39, 0.36, -0.04, -0.24, -0.27],
    [-0.29, -0.07, 0.01, 0.06, 0.59, 0.35, 0.15, 0.59, -0.34, -0.41, 0.14, -0.55],
], dtype=np.float32)
RECURRENT_KERNEL = np.array([
    [-0.56, 0.02, -0.04, 0.50, 0.16, 0.02, -0.00, -0.30, -0.59, -0.37, 0.23, -0.36],
    [-0.16, -0.60, 0.40, -0.41, -0.28, 0.46, 0.01, 0.42, 0.17, 0.29, -0.49, 0.05],
    [0.01, 0.45, -0.17, 0.12, -0.53, -0.13, -0.21, -0.42, 0.38, -0.14, 0.57, 0.11],
], dtype=np.float32)
BIAS = np.array([0.06, 0.08, 0.11, -0.21, -0.04, -0.16, -0.06, -0.24, 0.28, -0.17, 0.10, -0.12], dtype=np.float32)
DENSE_KERNEL = np.array([[0.75], [0.32], [-0.74]], dtype=np.float32)
DENSE_BIAS = np.array([0.14], dtype=np.float32)
X = np.array([
    [[0.89, 0.81], [0.14, -0.71], [-0.62, 0.86], [0.10, -0.64]],
    [[0.77, 0.28], [0.14, -0.25], [-0.18, -0.52], [-0.92, 0.75]],
    [[-0.06, 0.10], [-0.36, 0.50], [-0.95, -0.26], [-0.94, -0.75]],
], dtype=np.float32)
# fmt: on
LSTM_WEIGHTS = [KERNEL, RECURRENT_KERNEL, BIAS]


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"return_sequences": True},
        {"go_backwards": True},
        {"go_backwards": True, "return_sequences": True},
        {"activation": "relu"},
        {"recurrent_activation": "hard_sigmoid"},
        {"activation": "relu", "recurrent_activation": "hard_sigmoid", "return_sequences": True},
    ],
    ids=lambda options: "-".join(f"{k}={v}" for k, v in options.items()) or "defaults",
)
def test_lstm_layer_matches_keras_formula(options):
    model = Sequential([LSTM(3, input_shape=(4, 2), **options)])
    model.layers[0].set_weights(LSTM_WEIGHTS)
    expected = keras_lstm(X, *LSTM_WEIGHTS, **options)
    got = model.predict(X)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_go_backwards_is_not_the_forward_result():
    # Guards the reference above: the three readings of go_backwards give different numbers.
    backwards = keras_lstm(X, *LSTM_WEIGHTS, return_sequences=True, go_backwards=True)
    forwards = keras_lstm(X, *LSTM_WEIGHTS, return_sequences=True)
    assert np.abs(backwards - forwards).max() > 1e-2
    assert np.abs(backwards - backwards[:, ::-1]).max() > 1e-2
    np.testing.assert_allclose(backwards, keras_lstm(X[:, ::-1], *LSTM_WEIGHTS, return_sequences=True))


def test_lstm_dense_model_matches_keras_formula():
    model = Sequential([LSTM(3, input_shape=(4, 2)), Dense(1)])
    model.set_weights([*LSTM_WEIGHTS, DENSE_KERNEL, DENSE_BIAS])
    expected = keras_dense(keras_lstm(X, *LSTM_WEIGHTS), DENSE_KERNEL, DENSE_BIAS)
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-5, atol=1e-5)
    assert model.count_params() == 4 * (2 * 3 + 3 * 3 + 3) + 3 + 1


def test_stacked_lstms_with_softmax_match_keras_formula():
    second = [-RECURRENT_KERNEL, RECURRENT_KERNEL[::-1].copy(), BIAS[::-1].copy()]  # (3, 12), (3, 12), (12,)
    head = [
        np.array([[0.5, -0.2], [0.1, 0.3], [-0.4, 0.6]], dtype=np.float32),
        np.array([0.05, -0.05], dtype=np.float32),
    ]
    model = Sequential(
        [LSTM(3, return_sequences=True, input_shape=(4, 2)), LSTM(3, go_backwards=True), Dense(2, activation="softmax")]
    )
    model.set_weights([*LSTM_WEIGHTS, *second, *head])
    hidden = keras_lstm(X, *LSTM_WEIGHTS, return_sequences=True)
    expected = keras_dense(keras_lstm(hidden, *second, go_backwards=True), *head, activation="softmax")
    got = model.predict(X)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, rtol=1e-6)


def test_float64_model_matches_keras_formula_closely():
    model = Sequential([LSTM(3, input_shape=(4, 2), return_sequences=True)]).double()
    model.layers[0].set_weights(LSTM_WEIGHTS)
    got = model(torch.from_numpy(X).double()).detach().numpy()
    np.testing.assert_allclose(got, keras_lstm(X, *LSTM_WEIGHTS, return_sequences=True), rtol=0, atol=1e-12)


# -- real Keras: tests/data/keras_golden.json ---------------------------------------------------------
GOLDEN_PATH = Path(__file__).parent / "data" / "keras_golden.json"
GOLDEN = json.loads(GOLDEN_PATH.read_text()) if GOLDEN_PATH.exists() else {}


def test_golden_file_is_present():
    assert GOLDEN_PATH.exists(), f"{GOLDEN_PATH} is missing: generate it with tests/data/make_keras_golden.py"
    assert GOLDEN["format"] == "lstmkit-keras-golden" and GOLDEN["version"] == 1
    assert len(GOLDEN["cases"]) >= 1


def _golden_model(case: dict) -> Sequential:
    model = Sequential([LAYERS[spec["class_name"]](**spec["config"]) for spec in case["layers"]])
    for layer, spec in zip(model.layers, case["layers"]):
        layer.set_weights([np.asarray(w, dtype=np.float32) for w in spec["weights"]])
    return model


@pytest.mark.parametrize("case", GOLDEN.get("cases", []), ids=lambda case: case["name"])
def test_predictions_match_real_keras(case):
    model = _golden_model(case)
    x = np.asarray(case["x"], dtype=np.float32)
    expected = np.asarray(case["y"], dtype=np.float32)
    assert x.shape == tuple(case["x_shape"]) and expected.shape == tuple(case["y_shape"])
    got = model.predict(x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert model.count_params() == case["count_params"]
    shape = model.built_input_shape
    for layer, spec in zip(model.layers, case["layers"]):
        assert layer.count_params() == spec["count_params"], spec["class_name"]
        assert [list(w.shape) for w in layer.get_weights()] == spec["weight_shapes"]
        shape = layer.compute_output_shape(shape)
        assert [None, *shape] == spec["output_shape"]


@pytest.mark.parametrize("record", GOLDEN.get("tutorial_models", []), ids=lambda record: record["code"])
def test_tutorial_models_have_keras_counts_shapes_and_summary_totals(record):
    model = Sequential([LAYERS[spec["class_name"]](units=spec["output_shape"][-1]) for spec in record["layers"]])
    model.build(tuple(record["input_shape"]))
    assert model.count_params() == record["count_params"]
    text = format_summary(model)
    for layer, spec in zip(model.layers, record["layers"]):
        assert layer.name == spec["name"]
        assert layer.count_params() == spec["count_params"]
        assert [list(w.shape) for w in layer.get_weights()] == spec["weight_shapes"]
        shape_text = "(" + ", ".join("None" if d is None else str(d) for d in spec["output_shape"]) + ")"
        row = rf" {spec['name']} \({spec['class_name']}\)\s+{re.escape(shape_text)}\s+{spec['count_params']:,}\n"
        assert re.search(row, text), text
    if "summary" in record:
        for line in record["summary"].splitlines():
            if "params:" in line:
                assert line.strip() in text.splitlines(), line


def test_hard_sigmoid_matches_keras():
    record = GOLDEN["hard_sigmoid"]
    got = ACTIVATIONS["hard_sigmoid"](torch.tensor(record["x"], dtype=torch.float32))
    np.testing.assert_allclose(got.numpy(), record["keras_hard_sigmoid"], rtol=0, atol=1e-7)
