"""Activation functions by Keras name. A leaf module: imports nothing from lstmkit."""

from __future__ import annotations

import difflib
from typing import Callable

import torch
import torch.nn.functional as F


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
    """Return `name` if it is a known activation, else raise naming `argument` and close matches."""
    if name is None:
        return "linear"
    if not isinstance(name, str):
        raise TypeError(
            f"`{argument}` must be an activation name such as 'tanh' or 'relu'; got {name!r}. "
            f"Known names: {', '.join(sorted(ACTIVATIONS))}."
        )
    if name not in ACTIVATIONS:
        raise ValueError(unknown_name_message(argument, name, ACTIVATIONS))
    return name


def unknown_name_message(kind: str, name: str, known: object) -> str:
    """'unknown loss 'mse2'; did you mean 'mse'?' with the list of known names."""
    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else "."
    return f"unknown {kind} {name!r}{hint} Known names: {', '.join(names)}."
