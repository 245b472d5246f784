"""Classification end to end: softmax and sigmoid heads, cross-entropies, accuracy, class_weight
(Keras's per-sample weights), the confusion matrix and its plot, and label checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstmkit import Sequential, plot
from lstmkit.classification import balanced_class_weight, class_labels, confusion_matrix
from lstmkit.layers import LSTM, Dense
from lstmkit.optimizers import SGD, Adam

RNG = np.random.default_rng(0)
X = RNG.standard_normal((12, 5, 2)).astype(np.float32)
LABELS = np.array([0, 1, 2, 1, 0, 2, 2, 1, 0, 0, 1, 2])


def _classifier(classes: int, activation: str, loss: str, optimizer=None, metrics=None) -> Sequential:
    torch.manual_seed(0)
    model = Sequential([LSTM(4, input_shape=(5, 2)), Dense(classes, activation=activation)])
    model.compile(loss=loss, optimizer=optimizer or SGD(learning_rate=0.5), metrics=metrics)
    return model


def _per_sample_loss(loss: str, probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    p = np.clip(probabilities.astype(np.float64), 1e-7, 1 - 1e-7)
    if loss == "binary_crossentropy":
        return -(labels * np.log(p[:, 0]) + (1 - labels) * np.log(1 - p[:, 0]))
    return -np.log(p[np.arange(len(labels)), labels])


# -- class_weight: Keras's semantics --------------------------------------------------------------
@pytest.mark.parametrize(
    "loss, classes, activation, targets",
    [
        ("sparse_categorical_crossentropy", 3, "softmax", LABELS),
        ("categorical_crossentropy", 3, "softmax", np.eye(3, dtype=np.float32)[LABELS]),
        ("binary_crossentropy", 1, "sigmoid", (LABELS == 1).astype(np.float32)),
    ],
    ids=["sparse", "categorical", "binary"],
)
def test_class_weight_scales_each_samples_loss_and_gradient(loss, classes, activation, targets):
    class_weight = {0: 0.5, 1: 3.0} if classes == 1 else {0: 0.5, 1: 3.0, 2: 1.5}
    labels = class_labels(targets)
    weights = np.array([class_weight[c] for c in labels])

    model = _classifier(classes, activation, loss)
    before = model.predict(X)
    expected_loss = np.sum(weights * _per_sample_loss(loss, before, labels)) / len(X)  # divided by N, not Σw

    # The same step by hand: the gradient of Σ w_i l_i / N through torch.
    twin = _classifier(classes, activation, loss)
    probabilities = twin(torch.from_numpy(X))
    per_sample = torch.stack([twin.loss_fn(probabilities[i : i + 1], torch.as_tensor(targets[i : i + 1])) for i in range(12)])
    (per_sample * torch.as_tensor(weights, dtype=torch.float32)).sum().div(12).backward()
    expected_weights = [(p - 0.5 * p.grad).detach().numpy() for p in twin.parameters()]

    history = model.fit(X, targets, epochs=1, batch_size=12, shuffle=False, verbose=0, class_weight=class_weight)
    assert history.history["loss"][0] == pytest.approx(expected_loss, rel=1e-5)
    for got, expected in zip(model.get_weights(), expected_weights):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_classes_left_out_of_class_weight_weigh_one_and_validation_is_unweighted():
    model = _classifier(3, "softmax", "sparse_categorical_crossentropy")
    before = model.predict(X)
    per_sample = _per_sample_loss("sparse_categorical_crossentropy", before, LABELS)
    history = model.fit(
        X[:8], LABELS[:8], epochs=1, batch_size=8, shuffle=False, verbose=0, class_weight={2: 4.0},
        validation_data=(X[8:], LABELS[8:]),
    )
    weights = np.where(LABELS[:8] == 2, 4.0, 1.0)
    assert history.history["loss"][0] == pytest.approx(np.sum(weights * per_sample[:8]) / 8, rel=1e-5)
    after = _per_sample_loss("sparse_categorical_crossentropy", model.predict(X[8:]), LABELS[8:])
    assert history.history["val_loss"][0] == pytest.approx(after.mean(), rel=1e-5)


def test_class_weight_helps_the_rare_class():
    rng = np.random.default_rng(3)
    labels = (rng.random(120) < 0.15).astype(np.int64)  # 15% positives
    x = rng.standard_normal((120, 4, 1)).astype(np.float32) * 0.8 + labels[:, None, None] * 0.6
    recalls = []
    for class_weight in (None, balanced_class_weight(labels)):
        model = Sequential([LSTM(4, input_shape=(4, 1)), Dense(2, activation="softmax")])
        model.compile(loss="sparse_categorical_crossentropy", optimizer=Adam(learning_rate=0.02))
        model.fit(x, labels, epochs=15, batch_size=32, verbose=0, seed=1, class_weight=class_weight)
        matrix = confusion_matrix(labels, model.predict(x))
        recalls.append(matrix[1, 1] / matrix[1].sum())
    assert recalls[1] > recalls[0] + 0.15


def test_bad_class_weight_is_explained():
    model = _classifier(3, "softmax", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"`class_weight` has key 3; classes are the integers 0..2"):
        model.fit(X, LABELS, verbose=0, class_weight={0: 1.0, 3: 2.0})
    with pytest.raises(ValueError, match=r"`class_weight\[1\]` must be a number >= 0; got -1"):
        model.fit(X, LABELS, verbose=0, class_weight={1: -1})
    with pytest.raises(TypeError, match=r"`class_weight` must be a dict class -> weight"):
        model.fit(X, LABELS, verbose=0, class_weight=[1.0, 2.0, 3.0])
    per_step = Sequential([LSTM(4, return_sequences=True, input_shape=(5, 2)), Dense(3, activation="softmax")])
    per_step.compile(loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"`class_weight` weighs one label per sample, but the model outputs \(None, 5, 3\)"):
        per_step.fit(X, np.zeros((12, 5)), verbose=0, class_weight={0: 1.0})


# -- heads, losses and accuracy train end to end ----------------------------------------------------
def test_sigmoid_and_softmax_heads_learn_which_half_is_larger():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((96, 6, 1)).astype(np.float32)
    labels = (x[:, :3, 0].sum(axis=1) > x[:, 3:, 0].sum(axis=1)).astype(np.int64)
    setups = [
        ("binary_crossentropy", Dense(1, activation="sigmoid"), labels.astype(np.float32)),
        ("categorical_crossentropy", Dense(2, activation="softmax"), np.eye(2, dtype=np.float32)[labels]),
        ("sparse_categorical_crossentropy", Dense(2, activation="softmax"), labels),
    ]
    for loss, head, targets in setups:
        model = Sequential([LSTM(8, input_shape=(6, 1)), head])
        model.compile(loss=loss, optimizer=Adam(learning_rate=0.02), metrics=["accuracy"])
        history = model.fit(x, targets, epochs=25, batch_size=16, verbose=0, seed=0)
        assert history.history["accuracy"][-1] > 0.9, loss
        _, accuracy = model.evaluate(x, targets)
        predicted = class_labels(model.predict(x))
        assert accuracy == pytest.approx(np.mean(predicted == labels)), loss


# -- confusion matrix -----------------------------------------------------------------------------------
def test_confusion_matrix_hand_values_and_layouts():
    expected = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 1]])
    np.testing.assert_array_equal(confusion_matrix([0, 1, 1, 2], [0, 2, 1, 2]), expected)
    one_hot = np.eye(3)[[0, 1, 1, 2]]
    softmax = np.array([[0.8, 0.1, 0.1], [0.1, 0.2, 0.7], [0.2, 0.5, 0.3], [0.0, 0.1, 0.9]])
    np.testing.assert_array_equal(confusion_matrix(one_hot, softmax), expected)
    sigmoid = np.array([[0.2], [0.7], [0.4], [0.9]])
    np.testing.assert_array_equal(confusion_matrix([0, 1, 1, 0], sigmoid), [[1, 1], [1, 1]])
    np.testing.assert_array_equal(confusion_matrix([0, 0], [0, 0], num_classes=3), [[2, 0, 0], [0, 0, 0], [0, 0, 0]])
    with pytest.raises(ValueError, match=r"y_true sample 1 has class 5, outside 0..2"):
        confusion_matrix([0, 5], [0, 1], num_classes=3)
    with pytest.raises(ValueError, match=r"y_true has 2 samples but y_pred has 3"):
        confusion_matrix([0, 1], [0, 1, 1])


def test_balanced_class_weight():
    assert balanced_class_weight([0, 0, 0, 1]) == pytest.approx({0: 2 / 3, 1: 2.0})
    assert balanced_class_weight(np.eye(3)[[0, 1, 1, 2]]) == pytest.approx({0: 4 / 3, 1: 2 / 3, 2: 4 / 3})


def test_confusion_matrix_plot():
    matrix = np.array([[5, 1], [2, 4]])
    ax = plot.confusion_matrix_plot(matrix, labels=["calm", "storm"])
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["5", "1", "2", "4"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["calm", "storm"]
    assert ax.get_title() == "Confusion matrix\naccuracy 75.0% of 12"
    normalized = plot.confusion_matrix_plot(matrix, normalize=True)
    assert [t.get_text() for t in normalized.texts] == ["0.83", "0.17", "0.33", "0.67"]
    with pytest.raises(ValueError, match=r"`labels` has 3 names for 2 classes"):
        plot.confusion_matrix_plot(matrix, labels=["a", "b", "c"])


# -- labels the loss cannot read (issue item 7) ----------------------------------------------------------
def test_labels_outside_the_class_range_name_the_sample():
    sparse = _classifier(3, "softmax", "sparse_categorical_crossentropy")
    labels = LABELS.copy()
    labels[7] = 3
    with pytest.raises(ValueError, match=r"`y` holds class label 3 in sample 7, outside 0..2"):
        sparse.fit(X, labels, verbose=0)
    binary = _classifier(1, "sigmoid", "binary_crossentropy")
    with pytest.raises(ValueError, match=r"`y` sample 2 holds 2; binary_crossentropy takes labels or probabilities in \[0, 1\]"):
        binary.fit(X, LABELS.astype(np.float32), verbose=0)


def test_one_hot_of_the_wrong_width_or_not_one_hot_is_explained():
    model = _classifier(3, "softmax", "categorical_crossentropy")
    with pytest.raises(ValueError, match=r"`y` has shape \(12, 4\) but the model outputs \(None, 3\): one-hot rows of width 4 for 3 classes"):
        model.fit(X, np.eye(4)[LABELS], verbose=0)
    with pytest.raises(ValueError, match=r"one value per sample .* loss='sparse_categorical_crossentropy', or one-hot them: np.eye\(3\)\[y\]"):
        model.fit(X, LABELS, verbose=0)
    rows = np.eye(3)[LABELS]
    rows[4] = [1, 1, 0]
    with pytest.raises(ValueError, match=r"`y` sample 4 is not a one-hot row \(its values sum to 2\)"):
        model.evaluate(X, rows)
