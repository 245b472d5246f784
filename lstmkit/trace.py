"""A look inside the memory cell: every gate and state of every LSTM layer, from the equations.

`Sequential.trace(x)` runs the model as usual (the fast path) to find each LSTM layer's actual
input, and recomputes that layer with `ops.reference.lstm_trace`, which keeps what one step
computes (DESIGN.md, "The LSTM, as lstmkit computes it"):

    input_gate   i_t = σ(x_t W_i + h_{t-1} U_i + b_i)   how much of the candidate to write
    forget_gate  f_t = σ(...)                            how much of the old memory to keep
    candidate    g_t = tanh(...)                         the candidate memory
    output_gate  o_t = σ(...)                            how much of the memory to show
    cell_state   c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    hidden_state h_t = o_t ⊙ tanh(c_t)                   the layer's output at step t

Every array is (samples, timesteps, units) in input time order: step t lines up with x[:, t],
also for a layer reading backwards (go_backwards, and the backward half of a Bidirectional),
whose step t is the state after reading x_T..x_t. Padded steps (with `lengths=` or `Masking`)
are NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lstmkit.layers import LSTM, Bidirectional, Layer, apply_layer
from lstmkit.ops.activations import ACTIVATIONS
from lstmkit.ops.masking import compact
from lstmkit.ops.reference import Gates, lstm_trace

GATE_NAMES = Gates._fields  # input_gate, forget_gate, candidate, output_gate, cell_state, hidden_state


@dataclass
class LayerTrace:
    """One LSTM layer's gates and states; arrays (samples, timesteps, units) in time order.

    Attributes:
        name: the layer's name; "<name>/forward" and "<name>/backward" for a Bidirectional.
        go_backwards: the layer read the sequence from the last step to the first.
        inputs: the layer's input (samples, timesteps, features).
        mask: (samples, timesteps) bool, True at real steps; None for unpadded input.
    """

    name: str
    go_backwards: bool
    inputs: np.ndarray
    mask: np.ndarray | None
    input_gate: np.ndarray
    forget_gate: np.ndarray
    candidate: np.ndarray
    output_gate: np.ndarray
    cell_state: np.ndarray
    hidden_state: np.ndarray

    def __getitem__(self, gate: str) -> np.ndarray:
        """`trace["forget_gate"]`, the same as `trace.forget_gate`."""
        if gate not in GATE_NAMES:
            raise KeyError(f"{gate!r}; a layer trace holds {', '.join(GATE_NAMES)}.")
        return getattr(self, gate)


def trace_lstm(layer: LSTM, x: torch.Tensor, mask: torch.Tensor | None, name: str) -> LayerTrace:
    """`lstm_trace` on `layer`'s input x (B, T, F), its mask (B, T) or None."""
    if layer.stateful and layer.states is not None:
        h0, c0 = layer._carried_state(len(x))
    else:
        h0 = c0 = x.new_zeros(len(x), layer.units)
    reading, reading_mask = (x.flip(1), None if mask is None else mask.flip(1)) if layer.go_backwards else (x, mask)
    if reading_mask is not None:
        # Skipped steps change nothing, so trace the real steps moved to the front (ops.masking).
        reading, _, front = compact(reading, reading_mask)
    gates = lstm_trace(
        reading, h0, c0, layer.kernel, layer.recurrent_kernel, layer.bias,
        ACTIVATIONS[layer.activation], ACTIVATIONS[layer.recurrent_activation],
    )
    fields = []
    for values in gates:
        if reading_mask is not None:  # back to each step's place; NaN at padding
            values = values.new_full(values.shape, float("nan")).index_put((reading_mask,), values[front])
        fields.append((values.flip(1) if layer.go_backwards else values).cpu().numpy())
    return LayerTrace(
        name, layer.go_backwards, x.cpu().numpy(), None if mask is None else mask.cpu().numpy(), *fields
    )


def trace_layers(layers: list[Layer], x: torch.Tensor, mask: torch.Tensor | None = None) -> list[LayerTrace]:
    """Run `layers` on x (B, T, F) and trace each LSTM on its actual input (see the module doc)."""
    traces = []
    for layer in layers:
        if isinstance(layer, LSTM):
            traces.append(trace_lstm(layer, x, mask, layer.name or "lstm"))
        elif isinstance(layer, Bidirectional):
            traces.append(trace_lstm(layer.forward_layer, x, mask, f"{layer.name}/forward"))
            traces.append(trace_lstm(layer.backward_layer, x, mask, f"{layer.name}/backward"))
        carried = [(lstm, lstm.states) for lstm in _stateful(layer)]
        x, mask = apply_layer(layer, x, mask)
        for lstm, states in carried:  # tracing must not move a stateful layer on
            lstm.states = states
    return traces


def _stateful(layer: Layer) -> list[LSTM]:
    inner = [layer.forward_layer, layer.backward_layer] if isinstance(layer, Bidirectional) else [layer]
    return [lstm for lstm in inner if isinstance(lstm, LSTM) and lstm.stateful]
