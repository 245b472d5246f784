"""Losses by Keras name (and alias), or any PyTorch loss: `get("mse")` -> callable(y_pred, y_true).

Every loss returns the mean over the batch of the per-sample loss, as Keras does. The
cross-entropies take probabilities (the output of a softmax or sigmoid layer), as Keras's
defaults do, clipped to [1e-7, 1 - 1e-7].
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from lstmkit.ops.activations import unknown_name_message

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
EPSILON = 1e-7


def mean_squared_error(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    return torch.mean((y_pred - y_true) ** 2)


def mean_absolute_error(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    return torch.mean(torch.abs(y_pred - y_true))


def huber(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    """Quadratic for |error| <= 1, linear beyond (Keras's Huber with delta=1)."""
    return F.huber_loss(y_pred, y_true, delta=1.0)


def binary_crossentropy(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    p = y_pred.clamp(EPSILON, 1.0 - EPSILON)
    return -torch.mean(y_true * torch.log(p) + (1.0 - y_true) * torch.log(1.0 - p))


def categorical_crossentropy(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    """y_true one-hot (B, C); y_pred probabilities (B, C)."""
    p = (y_pred / y_pred.sum(dim=-1, keepdim=True)).clamp(EPSILON, 1.0 - EPSILON)
    return -torch.mean(torch.sum(y_true * torch.log(p), dim=-1))


def sparse_categorical_crossentropy(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    """y_true class indices (B,); y_pred probabilities (B, C)."""
    p = (y_pred / y_pred.sum(dim=-1, keepdim=True)).clamp(EPSILON, 1.0 - EPSILON)
    return F.nll_loss(torch.log(p).reshape(-1, p.shape[-1]), y_true.reshape(-1).long())


LOSSES: dict[str, LossFn] = {
    "mean_squared_error": mean_squared_error,
    "mse": mean_squared_error,
    "mean_absolute_error": mean_absolute_error,
    "mae": mean_absolute_error,
    "huber": huber,
    "huber_loss": huber,
    "binary_crossentropy": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
}

CANONICAL: dict[str, str] = {"mse": "mean_squared_error", "mae": "mean_absolute_error", "huber_loss": "huber"}


def get(loss: str | LossFn) -> LossFn:
    """Resolve a Keras loss name (or alias) or accept a PyTorch loss module / callable."""
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(unknown_name_message("loss", loss, LOSSES))
        return LOSSES[loss]
    if callable(loss):
        return loss
    raise TypeError(
        f"`loss` must be a name such as 'mse' or a PyTorch loss such as torch.nn.MSELoss(); "
        f"got {type(loss).__name__}."
    )


def canonical_name(loss: str) -> str:
    """'mse' -> 'mean_squared_error'; other names unchanged."""
    return CANONICAL.get(loss, loss)


def is_sparse(loss: object) -> bool:
    """True when the loss takes integer class labels rather than targets shaped like the output."""
    return loss == "sparse_categorical_crossentropy" or isinstance(loss, torch.nn.CrossEntropyLoss)
