"""Activation functions by Keras name. Imports nothing from lstmkit but the argument checks."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from lstmkit.checks import choice


def _linear(x: torch.Tensor) -> torch.Tensor:
    return x


def _softmax(x: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x, dim=-1)


ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "linear": _linear,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "hard_sigmoid": F.hardsigmoid,  # Keras 3: relu6(x + 3) / 6
    "relu": torch.relu,
    "elu": F.elu,
    "selu": F.selu,
    "gelu": F.gelu,
    "silu": F.silu,
    "swish": F.silu,
    "softplus": F.softplus,
    "softsign": F.softsign,
    "softmax": _softmax,
    "exponential": torch.exp,
}


def check_activation(name: object, argument: str) -> str:
    """Return `name` if it is a known activation (None means "linear"), else raise naming
    `argument` and the close matches."""
    return "linear" if name is None else choice(name, argument, ACTIVATIONS)
