"""The LSTM equations, written once: the ground truth every fast path is tested against.

Layout (Keras's): kernel W (F, 4H), recurrent_kernel U (H, 4H), one bias b (4H,), gates in
the order i, f, g, o. Shape letters: B batch, T timesteps, F features, H units.

    z_t = x_t W + h_{t-1} U + b
    i_t = σ(z_i)        input gate: how much of the candidate to write
    f_t = σ(z_f)        forget gate: how much of the old memory to keep
    g_t = tanh(z_g)     candidate memory
    o_t = σ(z_o)        output gate: how much of the memory to show
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    h_t = o_t ⊙ tanh(c_t)

σ and tanh are the defaults; the layer may pass other functions (Keras's `recurrent_activation`
and `activation`). This module imports nothing from lstmkit.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch

Activation = Callable[[torch.Tensor], torch.Tensor]


class Gates(NamedTuple):
    """Everything one step computes, each (B, H)."""

    input_gate: torch.Tensor
    forget_gate: torch.Tensor
    candidate: torch.Tensor
    output_gate: torch.Tensor
    cell_state: torch.Tensor
    hidden_state: torch.Tensor


def lstm_gates(
    x: torch.Tensor,
    h_prev: torch.Tensor,
    c_prev: torch.Tensor,
    kernel: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    bias: torch.Tensor,
    activation: Activation = torch.tanh,
    recurrent_activation: Activation = torch.sigmoid,
) -> Gates:
    """Advance one time step and return every gate. x: (B, F); h_prev, c_prev: (B, H)."""
    z = x @ kernel + h_prev @ recurrent_kernel + bias  # z_t = x_t W + h_{t-1} U + b   (B, 4H)
    z_i, z_f, z_g, z_o = z.chunk(4, dim=-1)
    input_gate = recurrent_activation(z_i)  # i_t: how much of the candidate to write
    forget_gate = recurrent_activation(z_f)  # f_t: how much of the old memory to keep
    candidate = activation(z_g)  # g_t: candidate memory
    output_gate = recurrent_activation(z_o)  # o_t: how much of the memory to show
    c = forget_gate * c_prev + input_gate * candidate  # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    h = output_gate * activation(c)  # h_t = o_t ⊙ tanh(c_t)
    return Gates(input_gate, forget_gate, candidate, output_gate, c, h)


def lstm_step(
    x: torch.Tensor,
    h_prev: torch.Tensor,
    c_prev: torch.Tensor,
    kernel: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    bias: torch.Tensor,
    activation: Activation = torch.tanh,
    recurrent_activation: Activation = torch.sigmoid,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Advance one time step. x: (B, F); h_prev, c_prev: (B, H). Returns (h_t, c_t)."""
    gates = lstm_gates(
        x, h_prev, c_prev, kernel, recurrent_kernel, bias, activation, recurrent_activation
    )
    return gates.hidden_state, gates.cell_state


def lstm_sequence(
    x: torch.Tensor,
    h0: torch.Tensor,
    c0: torch.Tensor,
    kernel: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    bias: torch.Tensor,
    activation: Activation = torch.tanh,
    recurrent_activation: Activation = torch.sigmoid,
    recurrent_mask: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scan `lstm_step` over time.

    Args:
        x: inputs (B, T, F).
        h0, c0: initial state (B, H).
        kernel, recurrent_kernel, bias: weights in Keras's layout, (F, 4H), (H, 4H), (4H,).
        activation, recurrent_activation: the candidate/cell and the gate functions.
        recurrent_mask: optional (B, H) multiplier applied to h_{t-1} before the recurrent
            product at every step (Keras's `recurrent_dropout`).
        mask: optional (B, T) bool, True at real steps. A masked step (padding) leaves h and c
            as they were and outputs zeros, so a sequence's result ignores its padding.

    Returns:
        outputs (B, T, H) = h_1..h_T, and the final h_T, c_T (B, H) (with a mask: the state
        after each sequence's last real step).
    """
    h, c = h0, c0
    outputs = []
    for t in range(x.shape[1]):
        h_in = h if recurrent_mask is None else h * recurrent_mask
        gates = lstm_gates(
            x[:, t], h_in, c, kernel, recurrent_kernel, bias, activation, recurrent_activation
        )
        if mask is None:
            h, c = gates.hidden_state, gates.cell_state
            outputs.append(h)
        else:
            real = mask[:, t, None]  # (B, 1)
            h = torch.where(real, gates.hidden_state, h)
            c = torch.where(real, gates.cell_state, c)
            outputs.append(torch.where(real, h, torch.zeros_like(h)))
    return torch.stack(outputs, dim=1), h, c


def lstm_trace(
    x: torch.Tensor,
    h0: torch.Tensor,
    c0: torch.Tensor,
    kernel: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    bias: torch.Tensor,
    activation: Activation = torch.tanh,
    recurrent_activation: Activation = torch.sigmoid,
) -> Gates:
    """Scan over time keeping every gate: each field of the result is (B, T, H)."""
    h, c = h0, c0
    steps = []
    for t in range(x.shape[1]):
        gates = lstm_gates(
            x[:, t], h, c, kernel, recurrent_kernel, bias, activation, recurrent_activation
        )
        h, c = gates.hidden_state, gates.cell_state
        steps.append(gates)
    return Gates(*(torch.stack(field, dim=1) for field in zip(*steps)))
