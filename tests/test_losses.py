"""lstmkit.losses: Keras's losses by name, against hand and torch values, and training on them."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lstmkit import Sequential, losses
from lstmkit.layers import LSTM, Dense

from test_models import make_data, make_model


# -- losses ------------------------------------------------------------------------------------
def test_regression_losses_against_hand_values():
    y_pred = torch.tensor([[0.5], [2.0], [-1.0], [0.0]])
    y_true = torch.tensor([[0.0], [0.0], [0.0], [0.25]])
    errors = [0.5, 2.0, -1.0, -0.25]
    assert losses.get("mse")(y_pred, y_true).item() == pytest.approx(sum(e * e for e in errors) / 4)
    assert losses.get("mean_squared_error") is losses.get("mse")
    assert losses.get("mae")(y_pred, y_true).item() == pytest.approx(sum(abs(e) for e in errors) / 4)
    assert losses.get("mean_absolute_error") is losses.get("mae")
    # Huber, delta 1: e²/2 inside [-1, 1], |e| - 1/2 outside.
    huber = [0.125, 1.5, 0.5, 0.03125]
    assert losses.get("huber")(y_pred, y_true).item() == pytest.approx(sum(huber) / 4)
    assert losses.get("huber_loss") is losses.get("huber")


def test_crossentropies_against_hand_and_torch_values():
    p = torch.tensor([[0.9], [0.2], [0.6]])
    t = torch.tensor([[1.0], [0.0], [1.0]])
    expected = -(math.log(0.9) + math.log(0.8) + math.log(0.6)) / 3
    assert losses.get("binary_crossentropy")(p, t).item() == pytest.approx(expected, rel=1e-6)
    assert losses.get("binary_crossentropy")(p, t).item() == pytest.approx(
        torch.nn.functional.binary_cross_entropy(p, t).item(), rel=1e-6
    )
    # Probabilities are clipped to [1e-7, 1 - 1e-7], as in Keras: finite even when certain and wrong.
    certain = torch.tensor([[1.0]], dtype=torch.float64)
    wrong = torch.tensor([[0.0]], dtype=torch.float64)
    assert losses.get("binary_crossentropy")(certain, wrong).item() == pytest.approx(-math.log(1e-7), rel=1e-6)

    probs = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    one_hot = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    expected = -(math.log(0.7) + math.log(0.3)) / 2
    categorical = losses.get("categorical_crossentropy")
    assert categorical(probs, one_hot).item() == pytest.approx(expected, rel=1e-6)
    assert categorical(probs * 3.0, one_hot).item() == pytest.approx(expected, rel=1e-6)  # rows are normalised
    sparse = losses.get("sparse_categorical_crossentropy")
    assert sparse(probs, torch.tensor([0, 1])).item() == pytest.approx(expected, rel=1e-6)
    assert sparse(probs, torch.tensor([[0], [1]])).item() == pytest.approx(expected, rel=1e-6)
    assert sparse(probs, torch.tensor([0, 1])).item() == pytest.approx(
        torch.nn.functional.nll_loss(probs.log(), torch.tensor([0, 1])).item(), rel=1e-6
    )


def test_losses_accept_pytorch_losses_and_train_with_them():
    x, y = make_data()
    model = make_model()
    model.compile(loss=torch.nn.L1Loss(), optimizer="adam")
    model.fit(x, y, epochs=1, verbose=0, seed=0)
    prediction = model.predict(x)
    assert model.evaluate(x, y, batch_size=32) == pytest.approx(np.mean(np.abs(prediction - y)), rel=1e-5)
    assert model.training_config() is None  # not a name: nothing to save


def test_classification_models_train_on_each_crossentropy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 4, 2)).astype(np.float32)
    labels = (x[:, :, 0].sum(axis=1) > 0).astype(np.int64) + (x[:, :, 1].sum(axis=1) > 1)
    for loss, last, target in [
        ("sparse_categorical_crossentropy", Dense(3, activation="softmax"), labels),
        ("categorical_crossentropy", Dense(3, activation="softmax"), np.eye(3, dtype=np.float32)[labels]),
        ("binary_crossentropy", Dense(1, activation="sigmoid"), (labels > 0).astype(np.float32)),
    ]:
        model = Sequential([LSTM(4, input_shape=(4, 2)), last])
        model.compile(loss=loss, optimizer="adam", metrics=["accuracy"])
        history = model.fit(x, target, epochs=2, batch_size=8, verbose=0, seed=0)
        assert list(history.history) == ["loss", "accuracy"], loss
        assert 0.0 <= history.history["accuracy"][-1] <= 1.0
        loss_value, accuracy = model.evaluate(x, target)
        prediction = model.predict(x)
        if prediction.shape[1] == 1:
            expected = np.mean((prediction[:, 0] > 0.5) == (target > 0.5))
        else:
            expected = np.mean(prediction.argmax(axis=1) == labels)
        assert accuracy == pytest.approx(expected), loss
