"""Layers: LSTM, GRU, SimpleRNN, Dense, Dropout, Bidirectional, Masking, Embedding, RepeatVector, TimeDistributed, Flatten. Each is a `torch.nn.Module` with Keras's arguments and weights.

A layer knows its input shape either from `input_shape=` or from the first tensor it sees;
then it creates its parameters and draws them with Keras's initialisers (glorot_uniform kernel,
orthogonal recurrent kernel, zero bias, forget-gate bias 1). Randomness comes from torch's
generator, so `torch.manual_seed` (or `fit(seed=...)`, which re-draws an untrained model's
weights under its seed) makes weights reproducible, to the bit whatever the thread count
(`orthogonal_`).

A configuration read from a file is checked against `Layer.config_schema()` (the constructor's
annotated arguments, plus a class's CONFIG_LIMITS) before a layer is built from it (lstmkit.schema).
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from lstmkit import keras_names
from lstmkit.checks import choice, fraction, positive_int
from lstmkit.ops.activations import ACTIVATIONS, check_activation
from lstmkit.ops.dispatch import gru_forward, lstm_forward, simple_rnn_forward
from lstmkit.ops.masking import reverse_real_steps
from lstmkit.ops.reference import (
    Gates,
    GRUGates,
    SimpleRNNGates,
    gru_gates,
    hidden_trace,
    lstm_trace,
    simple_rnn_step,
)
from lstmkit.ops.threads import thread_limit
from lstmkit.schema import Custom, Fields, Int, Spec, Str, schema_from_signature

MAX_UNITS = 2**20  # the largest `units` a configuration read from a file may hold

Shape = tuple[int | None, ...]


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


def orthogonal_(tensor: torch.Tensor) -> torch.Tensor:
    """torch.nn.init.orthogonal_, with the same draws, but its QR in float64 on one thread, so that
    the same seed gives the same bits whatever the thread count (float32 LAPACK's do not)."""
    if tensor.is_meta:
        return tensor
    rows, columns = tensor.shape[0], tensor.numel() // tensor.shape[0]
    flattened = tensor.new_empty((rows, columns)).normal_(0, 1)
    if rows < columns:
        flattened.t_()
    with thread_limit(1):
        q, r = torch.linalg.qr(flattened.double())
    q *= torch.diag(r, 0).sign()
    if rows < columns:
        q.t_()
    with torch.no_grad():
        tensor.view_as(q).copy_(q)
    return tensor


def _snake_case(name: str) -> str:
    """Keras's default layer names: "Dense" -> "dense", "LSTM" -> "lstm", "SimpleRNN" -> "simple_rnn"."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


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

    # -- masks: (B, T) bool, True at a sequence's real steps, False at its padding --------------
    takes_mask = False  # forward() accepts `mask=` (the recurrent layers, Bidirectional)

    def compute_mask(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor | None:
        """The mask of this layer's output given its input `x` and the input's mask.

        Keras's rule: passed on unchanged (Dense and Dropout act per step); a recurrent layer
        that returns one vector per sequence ends it, and `Masking` starts one.
        """
        return mask

    def _build_from(self, x: torch.Tensor) -> None:
        if not self.built:
            self.build(tuple(x.shape[1:]))
            self.to(device=x.device, dtype=x.dtype if x.is_floating_point() else None)

    def count_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # -- Keras's weight access ---------------------------------------------------------
    @property
    def weights(self) -> list[nn.Parameter]:
        """The weights as torch Parameters, in Keras's order (what `get_weights()` copies)."""
        return list(self.parameters())

    @property
    def trainable_weights(self) -> list[nn.Parameter]:
        return [weight for weight in self.weights if weight.requires_grad]

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

    # Tighter rules for some config keys than their annotations give (e.g. an upper bound).
    CONFIG_LIMITS: dict[str, Spec] = {}

    @classmethod
    def config_schema(cls) -> Fields:
        """The rules a configuration read from a file must meet before this layer is built from it:
        the constructor's arguments, typed by their annotations, with CONFIG_LIMITS on top. A new
        layer plugs in by annotating its constructor (and, where useful, declaring CONFIG_LIMITS)."""
        schema = schema_from_signature(cls, nested=_nested_layer_spec)
        schema.fields.update(cls.CONFIG_LIMITS)
        return schema

    def default_name(self) -> str:
        return _snake_case(type(self).__name__)


class Recurrent(Layer):
    """What LSTM, GRU and SimpleRNN share: Keras's sequence options, the carried state, masks.

    A cell says how wide its products are (`gates`: z_t has gates·H columns), how its bias is
    shaped, and runs one sequence (`run_sequence`, on lstmkit.ops.dispatch) and its trace
    (`trace_sequence`, on the reference equations). This class owns everything around that:
    initial and carried state, go_backwards, dropout masks, return_sequences/return_state.
    Its arguments are documented on LSTM.
    """

    takes_mask = True
    CONFIG_LIMITS = {"units": Int(1, MAX_UNITS)}
    gates = 1  # z_t = x_t W + h_{t-1} U + b has gates·H columns
    state_size = 1  # tensors of state: h (LSTM: h and c)
    use_bias = True

    def __init__(
        self,
        units: int,
        activation: str,
        return_sequences: bool,
        return_state: bool,
        dropout: float,
        recurrent_dropout: float,
        go_backwards: bool,
        stateful: bool,
        input_shape: Sequence[int | None] | None,
        name: str | None,
    ):
        self.units = positive_int(units, "units")
        self.activation = check_activation(activation, "activation")
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.dropout = fraction(dropout, "dropout")
        self.recurrent_dropout = fraction(recurrent_dropout, "recurrent_dropout")
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.states: tuple[torch.Tensor, ...] | None = None  # stateful: the state carried to the next batch
        super().__init__(input_shape=input_shape, name=name)

    def bias_shape(self) -> tuple[int, ...]:
        return (self.gates * self.units,)

    def build(self, input_shape: Shape) -> None:
        kind = type(self).__name__
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(
                f"{kind} expects inputs of shape (timesteps, features), e.g. input_shape=(5, 1); "
                f"got {input_shape}."
            )
        features, width = input_shape[-1], self.gates * self.units
        self.kernel = nn.Parameter(torch.empty(features, width))  # W (F, gates·H)
        self.recurrent_kernel = nn.Parameter(torch.empty(self.units, width))  # U (H, gates·H)
        self.bias = nn.Parameter(torch.empty(self.bias_shape())) if self.use_bias else None
        self.reset_parameters()
        super().build(input_shape)

    def reset_parameters(self) -> None:
        with torch.no_grad():
            nn.init.xavier_uniform_(self.kernel)  # glorot_uniform
            orthogonal_(self.recurrent_kernel)
            if self.bias is not None:
                self.bias.zero_()

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if self.return_sequences:
            return (input_shape[0], self.units)
        return (self.units,)

    def run_sequence(
        self, x: torch.Tensor, state: tuple[torch.Tensor, ...], recurrent_mask: torch.Tensor | None,
        mask: torch.Tensor | None, final_state: bool,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """The cell over x (B, T, F) from `state`: outputs (B, T, H) and the final state
        (`final_state`: every tensor of it is needed, else only h_T)."""
        raise NotImplementedError

    def trace_sequence(self, x: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        """The reference equations over x (B, T, F) from `state`, every gate kept (B, T, H)."""
        raise NotImplementedError

    def forward(
        self,
        x: torch.Tensor,
        initial_state: torch.Tensor | Sequence[torch.Tensor] | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, ...]:
        """x: (B, T, F); mask: (B, T) bool or None. Returns (B, H) or (B, T, H); with
        return_state also the final state (LSTM: h_T, c_T; GRU, SimpleRNN: h_T), each (B, H)."""
        self._build_from(x)
        batch = x.shape[0]
        if initial_state is None and self.stateful and self.states is not None:
            initial_state = self._carried_state(batch)
        if initial_state is None:
            state = tuple(x.new_zeros(batch, self.units) for _ in range(self.state_size))
        else:
            state = (initial_state,) if isinstance(initial_state, torch.Tensor) else tuple(initial_state)
        if mask is not None:
            _check_mask(mask, x, self.name or self.default_name())
        if self.go_backwards:  # read the real steps last to first; padding stays where it is
            x = x.flip(1) if mask is None else reverse_real_steps(x, mask)
        recurrent_mask = None
        if self.training and self.dropout > 0:
            x = x * _dropout_mask(x.new_empty(batch, 1, x.shape[-1]), self.dropout)
        if self.training and self.recurrent_dropout > 0:
            recurrent_mask = _dropout_mask(x.new_empty(batch, self.units), self.recurrent_dropout)
        outputs, final = self.run_sequence(x, state, recurrent_mask, mask, self.return_state or self.stateful)
        if self.stateful:  # carried to the next batch as values: gradients stop at the batch edge
            self.states = tuple(tensor.detach() for tensor in final)
        output = outputs if self.return_sequences else final[0]
        if self.return_state:
            return (output, *final)
        return output

    def get_config(self) -> dict[str, Any]:
        return {
            "units": self.units,
            "activation": self.activation,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            **super().get_config(),
        }

    def compute_mask(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor | None:
        return mask if self.return_sequences else None

    def reset_states(self) -> None:
        """Forget the carried state: the next batch starts from zeros (stateful layers)."""
        self.states = None

    def _carried_state(self, batch: int) -> tuple[torch.Tensor, ...]:
        if len(self.states[0]) != batch:
            raise ValueError(
                f"layer {self.name!r} is stateful and carries the state of {len(self.states[0])} sequences, "
                f"but got a batch of {batch}. Keep the batch size fixed (the number of samples "
                f"must be a multiple of it), or call reset_states() first."
            )
        return self.states


class LSTM(Recurrent):
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
        go_backwards: read the sequence from last step to first (outputs in that order; with
            padding, the real steps are read last to first and their outputs fill the real
            positions, so a padded sequence gives what it gives alone).
        stateful: start each batch from the final state of the previous batch (sample i of
            one batch continues sample i of the last), across fit/predict calls, until
            `reset_states()`. The batch size must stay the same.
        input_shape: (T, F) without the batch axis; T may be None.

    With a mask (from `Masking`, or `lengths=` in fit/predict), masked steps are skipped: the
    state is carried over them and their outputs are zero.

    Example:
        >>> layer = LSTM(50, input_shape=(5, 1))
        >>> layer(torch.zeros(8, 5, 1)).shape
        torch.Size([8, 50])
    """

    gates = 4
    state_size = 2

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
        stateful: bool = False,
        input_shape: Sequence[int | None] | None = None,
        name: str | None = None,
    ):
        self.recurrent_activation = check_activation(recurrent_activation, "recurrent_activation")
        self.unit_forget_bias = bool(unit_forget_bias)
        super().__init__(units, activation, return_sequences, return_state, dropout, recurrent_dropout,
                         go_backwards, stateful, input_shape, name)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.unit_forget_bias:
            with torch.no_grad():
                self.bias[self.units : 2 * self.units] = 1.0

    def run_sequence(
        self, x: torch.Tensor, state: tuple[torch.Tensor, ...], recurrent_mask: torch.Tensor | None,
        mask: torch.Tensor | None, final_state: bool,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        h0, c0 = state
        outputs, h_n, c_n = lstm_forward(
            x, h0, c0, self.kernel, self.recurrent_kernel, self.bias, self.activation, self.recurrent_activation,
            recurrent_mask, mask=mask, cell_state=final_state,
        )
        return outputs, (h_n, c_n)

    def trace_sequence(self, x: torch.Tensor, state: tuple[torch.Tensor, ...]) -> Gates:
        return lstm_trace(
            x, *state, self.kernel, self.recurrent_kernel, self.bias,
            ACTIVATIONS[self.activation], ACTIVATIONS[self.recurrent_activation],
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "recurrent_activation": self.recurrent_activation,
            "unit_forget_bias": self.unit_forget_bias,
        }


class GRU(Recurrent):
    """Gated recurrent unit, Keras's default (reset_after=True) arguments and weight layout.

    For input x_t (B, F), state h_{t-1} (B, H), kernel W (F, 3H), recurrent kernel U (H, 3H) and
    bias (2, 3H) (row 0 b_x with the input, row 1 b_h with the state), gates in the order z, r, h:

        z_t = σ(x_t W_z + b_xz + h_{t-1} U_z + b_hz)              update gate
        r_t = σ(x_t W_r + b_xr + h_{t-1} U_r + b_hr)              reset gate
        h̃_t = tanh(x_t W_h + b_xh + r_t ⊙ (h_{t-1} U_h + b_hh))   candidate
        h_t = z_t ⊙ h_{t-1} + (1 - z_t) ⊙ h̃_t

    (σ is `recurrent_activation`, tanh is `activation`.) Parameters: 3·(F·H + H·H + 2H);
    `GRU(50)` on 1 feature has 7,950. PyTorch's torch.nn.GRU computes the same with its gates
    in the order r, z, n (lstmkit.ops.reference explains the mapping). The sequence runs on
    torch.gru where the options allow it and on the reference equations otherwise.

    Args:
        units: H, the size of the state.
        activation: candidate function ("tanh").
        recurrent_activation: update and reset gate function ("sigmoid").
        use_bias: add the two biases.
        return_sequences, dropout, go_backwards, stateful, input_shape: as for LSTM.
        return_state: also return the final h_T when called directly.
        recurrent_dropout: fraction of h_{t-1} dropped in the products h_{t-1} U while training
            (one mask per sequence, shared by the three gates).

    Example:
        >>> GRU(50, input_shape=(5, 1)).count_params()
        7950
    """

    gates = 3

    def __init__(
        self,
        units: int,
        activation: str = "tanh",
        recurrent_activation: str = "sigmoid",
        use_bias: bool = True,
        return_sequences: bool = False,
        return_state: bool = False,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        go_backwards: bool = False,
        stateful: bool = False,
        input_shape: Sequence[int | None] | None = None,
        name: str | None = None,
    ):
        self.recurrent_activation = check_activation(recurrent_activation, "recurrent_activation")
        self.use_bias = bool(use_bias)
        super().__init__(units, activation, return_sequences, return_state, dropout, recurrent_dropout,
                         go_backwards, stateful, input_shape, name)

    def bias_shape(self) -> tuple[int, ...]:
        return (2, 3 * self.units)  # b_x, b_h

    def run_sequence(
        self, x: torch.Tensor, state: tuple[torch.Tensor, ...], recurrent_mask: torch.Tensor | None,
        mask: torch.Tensor | None, final_state: bool,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        outputs, h_n = gru_forward(
            x, state[0], self.kernel, self.recurrent_kernel, self.bias, self.activation, self.recurrent_activation,
            recurrent_mask, mask=mask,
        )
        return outputs, (h_n,)

    def trace_sequence(self, x: torch.Tensor, state: tuple[torch.Tensor, ...]) -> GRUGates:
        activation, recurrent_activation = ACTIVATIONS[self.activation], ACTIVATIONS[self.recurrent_activation]
        return hidden_trace(
            lambda x_t, h: gru_gates(
                x_t, h, self.kernel, self.recurrent_kernel, self.bias, activation, recurrent_activation
            ),
            x, state[0],
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "recurrent_activation": self.recurrent_activation,
            "use_bias": self.use_bias,
        }


class SimpleRNN(Recurrent):
    """Fully connected recurrent layer (Elman's RNN), Keras's arguments and weight layout.

    For input x_t (B, F), state h_{t-1} (B, H), kernel W (F, H), recurrent kernel U (H, H) and
    bias b (H,):

        h_t = tanh(x_t W + h_{t-1} U + b)

    (tanh is `activation`.) Parameters: F·H + H·H + H; `SimpleRNN(50)` on 1 feature has 2,600.
    The gradient through h_{t-1} U is multiplied once per step, so it vanishes (or explodes)
    over long sequences, which LSTM and GRU were designed to avoid (examples/long_memory.py
    measures it). The sequence runs on torch.rnn_tanh (torch.rnn_relu for activation="relu")
    where the options allow it and on the reference equations otherwise.

    Args:
        units: H, the size of the state.
        activation: "tanh" (or "relu", ...).
        use_bias: add the bias b.
        return_sequences, dropout, go_backwards, stateful, input_shape: as for LSTM.
        return_state: also return the final h_T when called directly.
        recurrent_dropout: fraction of h_{t-1} dropped while training (one mask per sequence).

    Example:
        >>> SimpleRNN(50, input_shape=(5, 1)).count_params()
        2600
    """

    def __init__(
        self,
        units: int,
        activation: str = "tanh",
        use_bias: bool = True,
        return_sequences: bool = False,
        return_state: bool = False,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        go_backwards: bool = False,
        stateful: bool = False,
        input_shape: Sequence[int | None] | None = None,
        name: str | None = None,
    ):
        self.use_bias = bool(use_bias)
        super().__init__(units, activation, return_sequences, return_state, dropout, recurrent_dropout,
                         go_backwards, stateful, input_shape, name)

    def run_sequence(
        self, x: torch.Tensor, state: tuple[torch.Tensor, ...], recurrent_mask: torch.Tensor | None,
        mask: torch.Tensor | None, final_state: bool,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        outputs, h_n = simple_rnn_forward(
            x, state[0], self.kernel, self.recurrent_kernel, self.bias, self.activation, recurrent_mask, mask=mask
        )
        return outputs, (h_n,)

    def trace_sequence(self, x: torch.Tensor, state: tuple[torch.Tensor, ...]) -> SimpleRNNGates:
        activation = ACTIVATIONS[self.activation]
        return hidden_trace(
            lambda x_t, h: SimpleRNNGates(
                simple_rnn_step(x_t, h, self.kernel, self.recurrent_kernel, self.bias, activation)
            ),
            x, state[0],
        )

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "use_bias": self.use_bias}


def apply_layer(
    layer: Layer, x: torch.Tensor, mask: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Call `layer` on `x` with the (B, T) mask of real steps; return (output, output's mask)."""
    output_mask = layer.compute_mask(x, mask)
    output = layer(x, mask=mask) if mask is not None and layer.takes_mask else layer(x)
    return output, output_mask


def _check_mask(mask: torch.Tensor, x: torch.Tensor, name: str) -> None:
    if mask.dtype != torch.bool or tuple(mask.shape) != tuple(x.shape[:2]):
        raise ValueError(
            f"layer {name!r}: `mask` must be a bool tensor (batch, timesteps) = {tuple(x.shape[:2])}, "
            f"True at real steps; got {mask.dtype} {tuple(mask.shape)}."
        )
    empty = ~mask.any(dim=1)
    if bool(empty.any()):
        raise ValueError(
            f"sample {int(empty.nonzero()[0, 0])} of the batch has no real time steps (its mask is "
            f"all False): an empty sequence has no output. Drop it, or give it at least one step."
        )


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

    CONFIG_LIMITS = {"units": Int(1, MAX_UNITS)}

    def __init__(
        self,
        units: int,
        activation: str | None = None,
        use_bias: bool = True,
        input_shape: Sequence[int | None] | None = None,
        name: str | None = None,
    ):
        self.units = positive_int(units, "units")
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
        self.rate = fraction(rate, "rate")
        super().__init__(input_shape=input_shape, name=name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.built = True
        return nn.functional.dropout(x, self.rate, self.training)

    def get_config(self) -> dict[str, Any]:
        return {"rate": self.rate, **super().get_config()}


class Bidirectional(Layer):
    """Read the sequence with a recurrent layer forwards and with a copy of it backwards; merge the two.

    The backward copy has the wrapped layer's config with `go_backwards` flipped, and weights of
    its own, so the parameters are twice the layer's (Keras's `get_weights()` order: the forward
    kernel, recurrent_kernel, bias, then the backward ones). With return_sequences, the
    backward outputs are flipped back into time order before merging (Keras's semantics): step
    t of the output holds the forward h after x_1..x_t and the backward h after x_T..x_t.

    Args:
        layer: the LSTM, GRU or SimpleRNN to run both ways; it becomes `forward_layer` (named
            "forward_<name>").
        merge_mode: "concat" (width 2·units), "sum", "mul" or "ave" (width units).
        input_shape: (T, F) without the batch axis, for a first layer (or give it to `layer`).

    Example:
        >>> layer = Bidirectional(LSTM(8, return_sequences=True), input_shape=(5, 2))
        >>> layer.count_params(), layer(torch.zeros(3, 5, 2)).shape
        (704, torch.Size([3, 5, 16]))
    """

    MERGE_MODES = ("concat", "sum", "mul", "ave")
    takes_mask = True

    def __init__(
        self,
        layer: Recurrent,
        merge_mode: str = "concat",
        input_shape: Sequence[int | None] | None = None,
        name: str | None = None,
    ):
        if not isinstance(layer, Recurrent):
            raise TypeError(f"Bidirectional wraps an LSTM, GRU or SimpleRNN layer; got {type(layer).__name__}.")
        choice(merge_mode, "merge_mode", self.MERGE_MODES)
        if layer.return_state:
            raise ValueError(
                f"Bidirectional does not pass on return_state=True; call two {type(layer).__name__} layers directly."
            )
        super().__init__(name=name)
        self.merge_mode = merge_mode
        config = layer.get_config()
        if input_shape is None:
            input_shape = config.get("input_shape")
        config.pop("input_shape", None)
        inner = (layer.name or layer.default_name()).removeprefix("forward_")
        self.forward_layer = layer
        self.forward_layer.name = f"forward_{inner}"
        self.backward_layer = type(layer).from_config(
            {**config, "go_backwards": not layer.go_backwards, "name": f"backward_{inner}"}
        )
        self._layer_config = {**config, "name": inner}
        self.input_shape = _check_input_shape(input_shape)
        if self.input_shape is not None:
            self.build(self.input_shape)

    def build(self, input_shape: Shape) -> None:
        for layer in (self.forward_layer, self.backward_layer):
            if not layer.built:
                layer.build(input_shape)
        super().build(input_shape)

    def reset_parameters(self) -> None:
        self.forward_layer.reset_parameters()
        self.backward_layer.reset_parameters()

    def reset_states(self) -> None:
        self.forward_layer.reset_states()
        self.backward_layer.reset_states()

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        shape = self.forward_layer.compute_output_shape(input_shape)
        return (*shape[:-1], 2 * shape[-1]) if self.merge_mode == "concat" else shape

    def compute_mask(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor | None:
        return mask if self.forward_layer.return_sequences else None  # outputs are in time order

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, T, F); mask: (B, T) bool or None. Returns (B, [T,] 2H) for concat, else (B, [T,] H)."""
        self._build_from(x)
        forward = self.forward_layer(x, mask=mask)
        backward = self.backward_layer(x, mask=mask)
        if self.backward_layer.return_sequences:  # reading order (x_T first) -> time order
            backward = backward.flip(1) if mask is None else reverse_real_steps(backward, mask)
        if self.merge_mode == "concat":
            return torch.cat([forward, backward], dim=-1)
        if self.merge_mode == "sum":
            return forward + backward
        if self.merge_mode == "mul":
            return forward * backward
        return (forward + backward) / 2

    def get_config(self) -> dict[str, Any]:
        return {
            "layer": {"class_name": type(self.forward_layer).__name__, "config": dict(self._layer_config)},
            "merge_mode": self.merge_mode,
            **super().get_config(),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Bidirectional":
        config = dict(config)
        inner = config.pop("layer")
        layer_class = LAYERS.get(inner.get("class_name"))
        if layer_class is None or not issubclass(layer_class, Recurrent):
            raise ValueError(
                f"Bidirectional wraps an LSTM, GRU or SimpleRNN; the configuration names {inner.get('class_name')!r}."
            )
        return cls(layer_class.from_config(inner["config"]), **config)


class Masking(Layer):
    """Mark the time steps whose features all equal `mask_value` as padding (Keras's Masking).

    The recurrent layers after it skip those steps (state carried over, output zero), so a batch padded
    with `mask_value`, before or after the real steps, gives each sequence the result it has alone.
    The output is the input with the masked steps set to zero. Two differences from Keras: a
    standalone Keras LSTM repeats its last output at masked steps where lstmkit outputs zeros (as
    Keras's Bidirectional does; the loss skips those steps either way), and a mask coming in (from
    `lengths=`) is combined with this one rather than replaced.

    Args:
        mask_value: the padding value (0.0, as Keras and `pad_sequences` use). A real step whose
            features all equal it is skipped too: pad with a value the data never takes.
        input_shape: (T, F) without the batch axis, for a first layer.
    """

    def __init__(
        self,
        mask_value: float = 0.0,
        input_shape: Sequence[int | None] | None = None,
        name: str | None = None,
    ):
        if isinstance(mask_value, bool) or not isinstance(mask_value, (int, float)) or mask_value != mask_value:
            raise ValueError(f"`mask_value` must be a number (not NaN); got {mask_value!r}.")
        self.mask_value = float(mask_value)
        super().__init__(input_shape=input_shape, name=name)

    def compute_mask(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor | None:
        real = (x != self.mask_value).any(dim=-1)  # (B, T)
        return real if mask is None else real & mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.built = True
        return x * self.compute_mask(x, None).unsqueeze(-1).to(x.dtype)

    def get_config(self) -> dict[str, Any]:
        return {"mask_value": self.mask_value, **super().get_config()}


class Embedding(Layer):
    """Turn integer ids (B, T) into vectors (B, T, output_dim) by looking them up in a table.

    Keras's weights: one `embeddings` matrix (input_dim, output_dim), drawn uniform(-0.05, 0.05);
    input_dim·output_dim parameters. The same lookup as `torch.nn.Embedding` with that weight.

    Args:
        input_dim: the number of ids (vocabulary size); ids run 0 .. input_dim - 1.
        output_dim: the size of each vector.
        mask_zero: id 0 is padding: the recurrent layers after it skip those steps exactly as
            with `lengths=` (so id 0 must never be a real token, and input_dim counts it).
        input_shape: (T,) without the batch axis, T may be None.

    Example:
        >>> Embedding(1000, 64, input_shape=(10,))(torch.zeros(2, 10, dtype=torch.long)).shape
        torch.Size([2, 10, 64])
    """

    takes_ids = True  # Sequential keeps its inputs integer (model_inputs)
    CONFIG_LIMITS = {"input_dim": Int(1, MAX_UNITS), "output_dim": Int(1, MAX_UNITS)}

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        mask_zero: bool = False,
        input_shape: Sequence[int | None] | None = None,
        name: str | None = None,
    ):
        self.input_dim = positive_int(input_dim, "input_dim")
        self.output_dim = positive_int(output_dim, "output_dim")
        self.mask_zero = bool(mask_zero)
        super().__init__(input_shape=input_shape, name=name)

    def build(self, input_shape: Shape) -> None:
        self.embeddings = nn.Parameter(torch.empty(self.input_dim, self.output_dim))
        self.reset_parameters()
        super().build(input_shape)

    def reset_parameters(self) -> None:
        with torch.no_grad():
            nn.init.uniform_(self.embeddings, -0.05, 0.05)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape, self.output_dim)

    def compute_mask(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor | None:
        if not self.mask_zero:
            return mask
        real = x != 0  # (B, T)
        return real if mask is None else real & mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T) integer ids in 0 .. input_dim - 1. Returns (B, T, output_dim)."""
        self._build_from(x)
        return nn.functional.embedding(x.long(), self.embeddings)

    def get_config(self) -> dict[str, Any]:
        return {"input_dim": self.input_dim, "output_dim": self.output_dim, "mask_zero": self.mask_zero,
                **super().get_config()}


class RepeatVector(Layer):
    """Repeat a vector (B, F) n times: (B, n, F), e.g. an encoder's summary for every decoder step."""

    CONFIG_LIMITS = {"n": Int(1, MAX_UNITS)}

    def __init__(self, n: int, input_shape: Sequence[int | None] | None = None, name: str | None = None):
        self.n = positive_int(n, "n")
        super().__init__(input_shape=input_shape, name=name)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 1:
            raise ValueError(f"RepeatVector repeats one vector per sample, input shape (features,); got {input_shape}.")
        return (self.n, input_shape[0])

    def compute_mask(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor | None:
        return None  # every repeated step is real (Keras's rule)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.built = True
        return x.unsqueeze(1).expand(-1, self.n, -1)

    def get_config(self) -> dict[str, Any]:
        return {"n": self.n, **super().get_config()}


class Flatten(Layer):
    """Flatten each sample into one vector: (B, T, F) -> (B, T·F), as Keras's Flatten; e.g. a
    window of T steps for a Dense layer (Sequential([Flatten(input_shape=(T, F)), Dense(H)]) is a
    linear model of the whole window). A mask cannot pass: padded steps would be read as values,
    so masked input is refused (let a recurrent layer end the mask first)."""

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if any(size is None for size in input_shape):
            raise ValueError(f"Flatten needs every input dimension known; got input shape {input_shape}. "
                             f"Give the first layer input_shape=(timesteps, features).")
        return (int(np.prod(input_shape)),)

    def compute_mask(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor | None:
        if mask is not None:
            raise ValueError(f"layer {self.name or self.default_name()!r}: Flatten cannot take padded (masked) "
                             f"sequences: their padding would be read as values. End the mask with a recurrent "
                             f"layer before Flatten, or give sequences of one length without `lengths`.")
        return None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.built = True
        return x.reshape(len(x), -1)


class TimeDistributed(Layer):
    """Apply `layer` (e.g. Dense) to every time step: (B, T, ...) -> (B, T, layer's output).

    The parameters are the wrapped layer's, shared by all steps (Keras's counts). The mask passes
    through, so a loss after it skips padded steps.
    """

    def __init__(self, layer: Layer, input_shape: Sequence[int | None] | None = None, name: str | None = None):
        if not isinstance(layer, Layer) or isinstance(layer, (Recurrent, Bidirectional)):
            raise TypeError(f"TimeDistributed wraps a per-step layer such as Dense; got {type(layer).__name__}.")
        super().__init__(name=name)
        self.layer = layer
        self.input_shape = _check_input_shape(input_shape)
        if self.input_shape is not None:
            self.build(self.input_shape)

    def build(self, input_shape: Shape) -> None:
        if len(input_shape) < 2:
            raise ValueError(f"TimeDistributed needs inputs with a time axis, (timesteps, features); got {input_shape}.")
        if not self.layer.built:
            self.layer.build(tuple(input_shape[1:]))
        super().build(input_shape)

    def reset_parameters(self) -> None:
        self.layer.reset_parameters()

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], *self.layer.compute_output_shape(tuple(input_shape[1:])))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, T, ...). Returns the layer's output at each step, (B, T, ...)."""
        if not self.built:
            self.build(tuple(x.shape[1:]))
            self.to(device=x.device, dtype=x.dtype)
        steps = self.layer(x.reshape(x.shape[0] * x.shape[1], *x.shape[2:]))
        return steps.reshape(x.shape[0], x.shape[1], *steps.shape[1:])

    def get_config(self) -> dict[str, Any]:
        config = self.layer.get_config()
        config.pop("input_shape", None)
        return {"layer": {"class_name": type(self.layer).__name__, "config": config}, **super().get_config()}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "TimeDistributed":
        config = dict(config)
        inner = config.pop("layer")
        if inner.get("class_name") not in LAYERS:
            raise ValueError(f"TimeDistributed: unknown layer class {inner.get('class_name')!r} in the configuration.")
        return cls(LAYERS[inner["class_name"]].from_config(inner["config"]), **config)


LAYERS: dict[str, type[Layer]] = {
    "LSTM": LSTM,
    "GRU": GRU,
    "SimpleRNN": SimpleRNN,
    "Dense": Dense,
    "Dropout": Dropout,
    "Bidirectional": Bidirectional,
    "Masking": Masking,
    "Embedding": Embedding,
    "RepeatVector": RepeatVector,
    "TimeDistributed": TimeDistributed,
    "Flatten": Flatten,
}


def check_layer_entry(entry: Any, key: str) -> dict[str, Any]:
    """Check a `{"class_name": ..., "config": {...}}` entry read from a file against the schema
    of the LAYERS class it names (nested layers, as Bidirectional's, in turn)."""
    schema = Fields({"class_name": Str(choices=LAYERS), "config": Custom(lambda value, where: value)},
                    required={"class_name", "config"})
    entry = schema.check(entry, key)
    return {"class_name": entry["class_name"],
            "config": LAYERS[entry["class_name"]].config_schema().check(entry["config"], f"{key}.config")}


def _nested_layer_spec(cls: type) -> Spec | None:
    """Arguments annotated with a layer class (Bidirectional's `layer`) hold a nested layer entry."""
    return Custom(check_layer_entry) if issubclass(cls, Layer) else None


def __getattr__(name: str) -> Any:
    raise keras_names.missing(__name__, name, keras_names.LAYER_HINTS, LAYERS)
