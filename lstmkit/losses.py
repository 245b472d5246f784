"""Losses by Keras name (and alias), or any PyTorch loss: `get("mse")` -> callable(y_pred, y_true).

Every loss returns the mean over the batch of the per-sample loss, as Keras does. The
cross-entropies take probabilities (the output of a softmax or sigmoid layer), as Keras's
defaults do, clipped to [1e-7, 1 - 1e-7].
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from lstmkit.checks import unknown_name

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


def get(loss: str | LossFn) -> LossFn:
    """Resolve a Keras loss name (or alias) or accept a PyTorch loss module / callable."""
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(unknown_name("loss", loss, LOSSES))
        return LOSSES[loss]
    if callable(loss):
        return loss
    raise TypeError(
        f"`loss` must be a name such as 'mse' or a PyTorch loss such as torch.nn.MSELoss(); "
        f"got {type(loss).__name__}."
    )


def weighted_loss(
    loss_fn: LossFn,
    y_pred: torch.Tensor,
    y_true: torch.Tensor,
    sample_weight: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Keras's loss with per-sample weights (class_weight) and a mask of real time steps.

    Each sample's loss (each real step's, with a mask) is `loss_fn` on that item alone; the
    result is sum(weight · loss) / count, where count is the batch size B, or the number of
    real steps with a mask (Keras's "sum_over_batch_size": weights scale, they do not
    renormalise). Without weights and mask it is plain `loss_fn(y_pred, y_true)`.

    Args:
        y_pred: (B, O), or (B, T, O) per step; y_true: the matching targets.
        sample_weight: (B,) or None.
        mask: (B, T) bool, True at real steps, for per-step outputs; or None.
    """
    if sample_weight is None and mask is None:
        return loss_fn(y_pred, y_true)
    per_item = torch.func.vmap(lambda p, t: loss_fn(p.unsqueeze(0), t.unsqueeze(0)))
    if mask is not None:
        per_item = torch.func.vmap(per_item)
    values = per_item(y_pred, y_true)  # (B,) or (B, T)
    if sample_weight is not None:
        values = values * sample_weight.to(values.dtype).reshape(-1, *([1] * (values.ndim - 1)))
    if mask is None:
        return values.sum() / len(values)
    return torch.where(mask, values, torch.zeros_like(values)).sum() / mask.sum()


def is_sparse(loss: object) -> bool:
    """True when the loss takes integer class labels rather than targets shaped like the output."""
    return loss == "sparse_categorical_crossentropy" or isinstance(loss, torch.nn.CrossEntropyLoss)
