"""Metrics by Keras name. Each is an accumulator: per-batch sums, read once at the epoch's end
(so the fit loop never waits on the device mid-epoch)."""

from __future__ import annotations

from abc import abstractmethod

import torch

from lstmkit.checks import unknown_name


class Metric:
    """Mean of a per-element quantity over everything seen since `reset()`."""

    name = "metric"

    def __init__(self) -> None:
        self.total: torch.Tensor | float = 0.0
        self.count = 0

    def reset(self) -> None:
        self.total, self.count = 0.0, 0

    def update(self, y_pred: torch.Tensor, y_true: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        """Add a batch; `mask` (B, T), True at real steps, leaves padded steps of per-step outputs out."""
        values = self.values(y_pred.detach(), y_true)
        if mask is not None:
            values = values[mask]
        self.total = self.total + values.sum()
        self.count += values.numel()

    @abstractmethod
    def values(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        """The per-element quantity whose mean this metric reports."""

    def result(self) -> float:
        return float(self.total) / self.count if self.count else float("nan")


class MeanAbsoluteError(Metric):
    name = "mae"

    def values(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        return torch.abs(y_pred - y_true)


class MeanSquaredError(Metric):
    name = "mse"

    def values(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        return (y_pred - y_true) ** 2


class RootMeanSquaredError(MeanSquaredError):
    """Square root of the mean squared error over the whole epoch (not a mean of batch roots)."""

    name = "rmse"

    def result(self) -> float:
        return super().result() ** 0.5


class Accuracy(Metric):
    """Share of correct predictions. Which comparison depends on the targets and the output:
    class indices (sparse), one-hot rows (categorical), or 0/1 with a 0.5 threshold (binary)."""

    name = "accuracy"

    def __init__(self, kind: str = "auto") -> None:
        super().__init__()
        self.kind = kind

    def values(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        kind = self.kind
        if kind == "auto":
            if y_pred.shape[-1] == 1:
                kind = "binary"
            elif y_true.shape == y_pred.shape:
                kind = "categorical"
            else:
                kind = "sparse"
        if kind == "binary":
            return ((y_pred > 0.5) == (y_true > 0.5)).float()
        predicted = y_pred.argmax(dim=-1)
        if kind == "categorical":
            return (predicted == y_true.argmax(dim=-1)).float()
        return (predicted == y_true.reshape(predicted.shape).long()).float()


METRICS = {
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "rmse": RootMeanSquaredError,
    "root_mean_squared_error": RootMeanSquaredError,
    "accuracy": Accuracy,
    "acc": Accuracy,
    "binary_accuracy": lambda: Accuracy("binary"),
    "categorical_accuracy": lambda: Accuracy("categorical"),
    "sparse_categorical_accuracy": lambda: Accuracy("sparse"),
}


def get(name: str) -> Metric:
    """A fresh accumulator for a Keras metric name; its `name` is what the logs show."""
    if not isinstance(name, str):
        raise TypeError(f"metrics must be names such as 'mae' or 'accuracy'; got {name!r}.")
    if name not in METRICS:
        raise ValueError(unknown_name("metric", name, METRICS))
    metric = METRICS[name]()
    metric.name = name
    return metric
