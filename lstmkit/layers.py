"""Layers: LSTM, Dense, Dropout. Each is a `torch.nn.Module` with Keras's arguments and weights.

A layer knows its input shape either from `input_shape=` or from the first tensor it sees;
then it creates its parameters and draws them with Keras's initialisers (glorot_uniform kernel,
orthogonal recurrent kernel, zero bias, forget-gate bias 1). Randomness comes from torch's
generator, so `torch.manual_seed` (or `fit(seed=...)`, which re-draws an untrained model's
weights under its seed) makes weights reproducible.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from lstmkit.ops.activations import ACTIVATIONS, check_activation
from lstmkit.ops.dispatch import lstm_forward

Shape = tuple[int | None, ...]


def _check_units(units: object, layer: str) -> int:
    if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
        raise ValueError(f"{layer}(units=...) must be a positive integer; got {units!r}.")
    return int(units)


def _check_rate(rate: object, argument: str) -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
        raise ValueError(f"`{argument}` must be a fraction in [0, 1); got {rate!r}.")
    return float(rate)


def _check_input_shape(input_shape: object) -> Shape | None:
    if input_shape is None:
        return None
    if isinstance(input_shape, int):
        input_shape = (input_shape,)
    if not isinstance(input_shape, (tuple, list)) or not all(
        d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in input_shape
    ):
        raise ValueError(
            f"`input_shape` must be a tuple of positive integers (None for any length), "
            f"without the batch axis, e.g. (5, 1) for windows of 5 steps of 1 feature; "
            f"got {input_shape!r}."
        )
    return tuple(input_shape)


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", name).lower()


class Layer(nn.Module):
    """What every lstmkit layer shares: build-on-first-shape, weights as numpy, config."""

    def __init__(self, input_shape: Sequence[int | None] | None = None, name: str | None = None):
        super().__init__()
        self.input_shape = _check_input_shape(input_shape)
        self.name = name
        self.built = False
        self.weights_set = False  # set_weights/load: fit(seed=...) must not re-draw these
        if self.input_shape is not None:
            self.build(self.input_shape)

    # -- shapes and parameters ---------------------------------------------------------
    def build(self, input_shape: Shape) -> None:
        """Create the parameters for inputs of `input_shape` (no batch axis) and draw them."""
        self.built = True

    def reset_parameters(self) -> None:
        """Draw the weights again with the layer's initialisers."""

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return input_shape

    def _build_from(self, x: torch.Tensor) -> None:
        if not self.built:
            self.build(tuple(x.shape[1:]))
            self.to(device=x.device, dtype=x.dtype if x.is_floating_point() else None)

    def count_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # -- Keras's weight access ---------------------------------------------------------
    def get_weights(self) -> list[np.ndarray]:
        """The weights as numpy arrays, in Keras's order and shapes."""
        return [p.detach().cpu().numpy().copy() for p in self.parameters()]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        """Copy `weights` (Keras's order and shapes, e.g. from a Keras layer) into the layer."""
        params = list(self.parameters())
        name = self.name or type(self).__name__
        if not self.built:
            raise ValueError(
                f"layer {name!r} has no weights yet: give it "
                f"`input_shape=` or call it on data before set_weights."
            )
        if len(weights) != len(params):
            raise ValueError(
                f"layer {name!r} expects {len(params)} weight arrays "
                f"{[tuple(p.shape) for p in params]}; got {len(weights)}."
            )
        for index, (param, value) in enumerate(zip(params, weights)):
            value = np.asarray(value)
            if value.shape != tuple(param.shape):
                raise ValueError(
                    f"layer {name!r} weight {index} must have shape {tuple(param.shape)}; "
                    f"got {value.shape}."
                )
        with torch.no_grad():
            for param, value in zip(params, weights):
                param.copy_(torch.as_tensor(np.asarray(value), dtype=param.dtype))
        self.weights_set = True

    # -- config --------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"name": self.name}
        if self.input_shape is not None:
            config["input_shape"] = list(self.input_shape)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Layer":
        return cls(**config)

    def default_name(self) -> str:
        return _snake_case(type(self).__name__)


class LSTM(Layer):
    """Long short-term memory layer, Keras's arguments and weight layout.

    For input x_t (B, F), state h_{t-1}, c_{t-1} (B, H), kernel W (F, 4H), recurrent kernel
    U (H, 4H) and one bias b (4H,), gates in the order i, f, g, o:

        z_t = x_t W + h_{t-1} U + b
        i_t = σ(z_i), f_t = σ(z_f), g_t = tanh(z_g), o_t = σ(z_o)
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        h_t = o_t ⊙ tanh(c_t)

    (σ is `recurrent_activation`, tanh is `activation`.) Shape letters: B batch, T timesteps,
    F features, H units. Parameters: 4·(F·H + H·H + H); `LSTM(50)` on 1 feature has 10,400.

    The sequence runs on PyTorch's fused LSTM op where the options allow it and on the
    reference equations otherwise (lstmkit.ops.dispatch).

    Args:
        units: H, the size of the hidden and cell state.
        activation: candidate and cell output function ("tanh").
        recurrent_activation: gate function ("sigmoid").
        return_sequences: output every h_t (B, T, H) instead of the last (B, H).
        return_state: also return the final (h_T, c_T) when called directly.
        dropout: fraction of input features dropped while training (one mask per sequence).
        recurrent_dropout: fraction of h_{t-1} dropped while training (one mask per sequence).
        unit_forget_bias: start the forget-gate bias at 1.
        go_backwards: read the sequence from last step to first (outputs in that order).
        input_shape: (T, F) without the batch axis; T may be None.

    Example:
        >>> layer = LSTM(50, input_shape=(5, 1))
        >>> layer(torch.zeros(8, 5, 1)).shape
        torch.Size([8, 50])
    """

    def __init__(
        self,
        units: int,
        activation: str = "tanh",
        recurrent_activation: str = "sigmoid",
        return_sequences: bool = False,
        return_state: bool = False,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        unit_forget_bias: bool = True,
        go_backwards: bool = False,
        input_shape: Sequence[int | None] | None = None,
        name: str | None = None,
    ):
        self.units = _check_units(units, "LSTM")
        self.activation = check_activation(activation, "activation")
        self.recurrent_activation = check_activation(recurrent_activation, "recurrent_activation")
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.dropout = _check_rate(dropout, "dropout")
        self.recurrent_dropout = _check_rate(recurrent_dropout, "recurrent_dropout")
        self.unit_forget_bias = bool(unit_forget_bias)
        self.go_backwards = bool(go_backwards)
        super().__init__(input_shape=input_shape, name=name)

    def build(self, input_shape: Shape) -> None:
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(
                f"LSTM expects inputs of shape (timesteps, features), e.g. input_shape=(5, 1); "
                f"got {input_shape}."
            )
        features, units = input_shape[-1], self.units
        self.kernel = nn.Parameter(torch.empty(features, 4 * units))  # W (F, 4H)
        self.recurrent_kernel = nn.Parameter(torch.empty(units, 4 * units))  # U (H, 4H)
        self.bias = nn.Parameter(torch.empty(4 * units))  # b (4H,)
        self.reset_parameters()
        super().build(input_shape)

    def reset_parameters(self) -> None:
        with torch.no_grad():
            nn.init.xavier_uniform_(self.kernel)  # glorot_uniform
            nn.init.orthogonal_(self.recurrent_kernel)
            self.bias.zero_()
            if self.unit_forget_bias:
                self.bias[self.units : 2 * self.units] = 1.0

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if self.return_sequences:
            return (input_shape[0], self.units)
        return (self.units,)

    def forward(
        self, x: torch.Tensor, initial_state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: (B, T, F). Returns (B, H) or (B, T, H); with return_state also h_T, c_T (B, H)."""
        self._build_from(x)
        batch = x.shape[0]
        if initial_state is None:
            h0 = x.new_zeros(batch, self.units)
            c0 = x.new_zeros(batch, self.units)
        else:
            h0, c0 = initial_state
        if self.go_backwards:
            x = x.flip(1)
        recurrent_mask = None
        if self.training and self.dropout > 0:
            x = x * _dropout_mask(x.new_empty(batch, 1, x.shape[-1]), self.dropout)
        if self.training and self.recurrent_dropout > 0:
            recurrent_mask = _dropout_mask(x.new_empty(batch, self.units), self.recurrent_dropout)
        outputs, h_n, c_n = lstm_forward(
            x,
            h0,
            c0,
            self.kernel,
            self.recurrent_kernel,
            self.bias,
            self.activation,
            self.recurrent_activation,
            recurrent_mask,
        )
        output = outputs if self.return_sequences else h_n
        if self.return_state:
            return output, h_n, c_n
        return output

    def get_config(self) -> dict[str, Any]:
        return {
            "units": self.units,
            "activation": self.activation,
            "recurrent_activation": self.recurrent_activation,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "unit_forget_bias": self.unit_forget_bias,
            "go_backwards": self.go_backwards,
            **super().get_config(),
        }


def _dropout_mask(like: torch.Tensor, rate: float) -> torch.Tensor:
    """Inverted-dropout multiplier shaped like `like`: 0 with probability `rate`, else 1/(1-rate)."""
    return like.bernoulli_(1.0 - rate) / (1.0 - rate)


class Dense(Layer):
    """Fully connected layer y = activation(x W + b) on the last axis (per time step on 3-D input).

    Args:
        units: output size.
        activation: "linear" (None), "relu", "tanh", "sigmoid", "softmax", ...
        use_bias: add the bias b.
        input_shape: input shape without the batch axis, for a first layer.
    """

    def __init__(
        self,
        units: int,
        activation: str | None = None,
        use_bias: bool = True,
        input_shape: Sequence[int | None] | None = None,
        name: str | None = None,
    ):
        self.units = _check_units(units, "Dense")
        self.activation = check_activation(activation, "activation")
        self.use_bias = bool(use_bias)
        super().__init__(input_shape=input_shape, name=name)

    def build(self, input_shape: Shape) -> None:
        if not input_shape or input_shape[-1] is None:
            raise ValueError(f"Dense needs a known last input dimension; got input shape {input_shape}.")
        self.kernel = nn.Parameter(torch.empty(input_shape[-1], self.units))  # (in, units)
        self.bias = nn.Parameter(torch.empty(self.units)) if self.use_bias else None
        self.reset_parameters()
        super().build(input_shape)

    def reset_parameters(self) -> None:
        with torch.no_grad():
            nn.init.xavier_uniform_(self.kernel)
            if self.bias is not None:
                self.bias.zero_()

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape[:-1], self.units)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._build_from(x)
        y = x @ self.kernel
        if self.bias is not None:
            y = y + self.bias
        return ACTIVATIONS[self.activation](y)

    def get_config(self) -> dict[str, Any]:
        return {
            "units": self.units,
            "activation": self.activation,
            "use_bias": self.use_bias,
            **super().get_config(),
        }


class Dropout(Layer):
    """Drop a fraction `rate` of the inputs while training (scaled by 1/(1-rate)); identity otherwise."""

    def __init__(
        self,
        rate: float,
        input_shape: Sequence[int | None] | None = None,
        name: str | None = None,
    ):
        self.rate = _check_rate(rate, "rate")
        super().__init__(input_shape=input_shape, name=name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.built = True
        return nn.functional.dropout(x, self.rate, self.training)

    def get_config(self) -> dict[str, Any]:
        return {"rate": self.rate, **super().get_config()}


LAYERS: dict[str, type[Layer]] = {"LSTM": LSTM, "Dense": Dense, "Dropout": Dropout}
