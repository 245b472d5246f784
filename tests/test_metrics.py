"""lstmkit.metrics: RMSE over an epoch, the accuracy kinds."""

from __future__ import annotations

import math

import pytest
import torch

from lstmkit import metrics

from test_models import compiled_model, make_data


# -- metrics --------------------------------------------------------------------------------
def test_rmse_is_the_root_of_the_epochs_mse():
    rmse = metrics.get("rmse")
    rmse.update(torch.tensor([[1.0], [2.0]]), torch.tensor([[1.0], [2.0]]))  # errors 0, 0
    rmse.update(torch.tensor([[3.0]]), torch.tensor([[0.0]]))  # error 3
    assert rmse.result() == pytest.approx(math.sqrt(9.0 / 3.0))  # not (0 + 3) / 2
    rmse.reset()
    assert math.isnan(rmse.result())

    x, y = make_data()
    model = compiled_model(metrics=["mse", "rmse"])
    history = model.fit(x, y, epochs=2, batch_size=5, verbose=0, seed=0)
    for mse, root in zip(history.history["mse"], history.history["rmse"]):
        assert root == pytest.approx(math.sqrt(mse), rel=1e-6)


def test_accuracy_kinds():
    def accuracy(name, y_pred, y_true):
        metric = metrics.get(name)
        metric.update(torch.tensor(y_pred), torch.tensor(y_true))
        return metric.result()

    binary_pred, binary_true = [[0.2], [0.7], [0.6], [0.4]], [[0.0], [1.0], [0.0], [0.0]]
    assert accuracy("binary_accuracy", binary_pred, binary_true) == pytest.approx(0.75)
    assert accuracy("accuracy", binary_pred, binary_true) == pytest.approx(0.75)
    probs = [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3]]
    one_hot = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]]
    assert accuracy("categorical_accuracy", probs, one_hot) == pytest.approx(2 / 3)
    assert accuracy("accuracy", probs, one_hot) == pytest.approx(2 / 3)
    assert accuracy("sparse_categorical_accuracy", probs, [0, 2, 0]) == pytest.approx(2 / 3)
    assert accuracy("acc", probs, [0, 2, 0]) == pytest.approx(2 / 3)
    assert metrics.get("acc").name == "acc"
    assert metrics.get("mae").name == "mae"
