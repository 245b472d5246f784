"""A look inside the recurrent layers: every gate and state of every LSTM, GRU and SimpleRNN layer,
from the equations.

`Sequential.trace(x)` runs the model as usual (the fast path) to find each recurrent layer's
actual input, and recomputes that layer with the reference equations (lstmkit.ops.reference),
keeping what one step computes. For an LSTM (DESIGN.md, "The LSTM, as lstmkit computes it"):

    input_gate   i_t = σ(x_t W_i + h_{t-1} U_i + b_i)   how much of the candidate to write
    forget_gate  f_t = σ(...)                            how much of the old memory to keep
    candidate    g_t = tanh(...)                         the candidate memory
    output_gate  o_t = σ(...)                            how much of the memory to show
    cell_state   c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    hidden_state h_t = o_t ⊙ tanh(c_t)                   the layer's output at step t

for a GRU:

    update_gate  z_t                                     how much of the old state to keep
    reset_gate   r_t                                     how much of the old state the candidate sees
    candidate    h̃_t = tanh(x_t W_h + b_xh + r_t ⊙ (h_{t-1} U_h + b_hh))
    hidden_state h_t = z_t ⊙ h_{t-1} + (1 - z_t) ⊙ h̃_t

and for a SimpleRNN its state alone, hidden_state h_t = tanh(x_t W + h_{t-1} U + b).

Every array is (samples, timesteps, units) in input time order: step t lines up with x[:, t],
also for a layer reading backwards (go_backwards, and the backward half of a Bidirectional),
whose step t is the state after reading x_T..x_t. Padded steps (with `lengths=` or `Masking`)
are NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lstmkit.layers import Bidirectional, Layer, Recurrent, apply_layer
from lstmkit.ops.masking import compact
from lstmkit.ops.reference import Gates, GRUGates, SimpleRNNGates

GATE_NAMES = Gates._fields  # the LSTM's: input_gate, forget_gate, candidate, output_gate, cell_state, hidden_state
CELL_GATES = {"LSTM": Gates._fields, "GRU": GRUGates._fields, "SimpleRNN": SimpleRNNGates._fields}


@dataclass
class LayerTrace:
    """One recurrent layer's gates and states; arrays (samples, timesteps, units) in time order.

    Each array is an attribute too: `trace.forget_gate` (LSTM), `trace.update_gate` (GRU),
    `trace.hidden_state` (every cell).

    Attributes:
        name: the layer's name; "<name>/forward" and "<name>/backward" for a Bidirectional.
        go_backwards: the layer read the sequence from the last step to the first.
        inputs: the layer's input (samples, timesteps, features).
        mask: (samples, timesteps) bool, True at real steps; None for unpadded input.
        cell: "LSTM", "GRU" or "SimpleRNN".
        arrays: the gates and states by name, in the order of CELL_GATES[cell].
    """

    name: str
    go_backwards: bool
    inputs: np.ndarray
    mask: np.ndarray | None
    cell: str
    arrays: dict[str, np.ndarray]

    def __getattr__(self, gate: str) -> np.ndarray:
        arrays = self.__dict__.get("arrays", {})
        if gate in arrays:
            return arrays[gate]
        raise AttributeError(f"{type(self).__name__} of a {self.__dict__.get('cell')} layer has no {gate!r}")

    def __getitem__(self, gate: str) -> np.ndarray:
        """`trace["forget_gate"]`, the same as `trace.forget_gate`."""
        if gate not in self.arrays:
            raise KeyError(f"{gate!r}; a {self.cell} layer trace holds {', '.join(self.arrays)}.")
        return self.arrays[gate]


def trace_recurrent(layer: Recurrent, x: torch.Tensor, mask: torch.Tensor | None, name: str) -> LayerTrace:
    """The reference equations of `layer` on its input x (B, T, F), its mask (B, T) or None."""
    if layer.stateful and layer.states is not None:
        state = layer._carried_state(len(x))
    else:
        state = tuple(x.new_zeros(len(x), layer.units) for _ in range(layer.state_size))
    reading, reading_mask = (x.flip(1), None if mask is None else mask.flip(1)) if layer.go_backwards else (x, mask)
    if reading_mask is not None:
        # Skipped steps change nothing, so trace the real steps moved to the front (ops.masking).
        reading, _, front = compact(reading, reading_mask)
    gates = layer.trace_sequence(reading, state)
    arrays = {}
    for field, values in zip(gates._fields, gates):
        if reading_mask is not None:  # back to each step's place; NaN at padding
            values = values.new_full(values.shape, float("nan")).index_put((reading_mask,), values[front])
        arrays[field] = (values.flip(1) if layer.go_backwards else values).cpu().numpy()
    return LayerTrace(
        name, layer.go_backwards, x.cpu().numpy(), None if mask is None else mask.cpu().numpy(),
        type(layer).__name__, arrays,
    )


def trace_layers(layers: list[Layer], x: torch.Tensor, mask: torch.Tensor | None = None) -> list[LayerTrace]:
    """Run `layers` on x (B, T, F) and trace each recurrent layer on its actual input (see the module doc)."""
    traces = []
    for layer in layers:
        if isinstance(layer, Recurrent):
            traces.append(trace_recurrent(layer, x, mask, layer.name or layer.default_name()))
        elif isinstance(layer, Bidirectional):
            traces.append(trace_recurrent(layer.forward_layer, x, mask, f"{layer.name}/forward"))
            traces.append(trace_recurrent(layer.backward_layer, x, mask, f"{layer.name}/backward"))
        carried = [(recurrent, recurrent.states) for recurrent in _stateful(layer)]
        x, mask = apply_layer(layer, x, mask)
        for recurrent, states in carried:  # tracing must not move a stateful layer on
            recurrent.states = states
    return traces


def _stateful(layer: Layer) -> list[Recurrent]:
    inner = [layer.forward_layer, layer.backward_layer] if isinstance(layer, Bidirectional) else [layer]
    return [recurrent for recurrent in inner if isinstance(recurrent, Recurrent) and recurrent.stateful]
