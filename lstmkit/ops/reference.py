"""The equations of the recurrent cells (LSTM, GRU, SimpleRNN), written once: the ground truth
every fast path is tested against. The LSTM first; the GRU and SimpleRNN below it.

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

The GRU (Keras's default, reset_after=True): kernel W (F, 3H), recurrent_kernel U (H, 3H), bias
(2, 3H) whose row 0 b_x goes with the input and row 1 b_h with the state; gates z, r, h:

    z_t = σ(x_t W_z + b_xz + h_{t-1} U_z + b_hz)             update gate: how much of the old state to keep
    r_t = σ(x_t W_r + b_xr + h_{t-1} U_r + b_hr)             reset gate: how much of the old state the candidate sees
    h̃_t = tanh(x_t W_h + b_xh + r_t ⊙ (h_{t-1} U_h + b_hh))  candidate state
    h_t = z_t ⊙ h_{t-1} + (1 - z_t) ⊙ h̃_t

PyTorch's torch.nn.GRU computes the same numbers with its gates in the order r, z, n (n is h̃):
weight_ih = [W_r W_z W_h]ᵀ, weight_hh = [U_r U_z U_h]ᵀ, bias_ih = [b_xr b_xz b_xh], bias_hh =
[b_hr b_hz b_hh] (`keras_gru_to_torch` reorders). Its reset gate multiplies (h_{t-1} U_h + b_hh)
too, so reset_after=True is the layout PyTorch and cuDNN share. (Keras's reset_after=False
variant, r_t ⊙ h_{t-1} before the product and one bias, is not implemented.)

The SimpleRNN: kernel W (F, H), recurrent_kernel U (H, H), bias b (H,):

    h_t = tanh(x_t W + h_{t-1} U + b)                        (torch.nn.RNN: weight_ih = Wᵀ, weight_hh = Uᵀ)
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


class GRUGates(NamedTuple):
    """Everything one GRU step computes, each (B, H)."""

    update_gate: torch.Tensor
    reset_gate: torch.Tensor
    candidate: torch.Tensor
    hidden_state: torch.Tensor


def gru_gates(
    x: torch.Tensor,
    h_prev: torch.Tensor,
    kernel: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    bias: torch.Tensor | None,
    activation: Activation = torch.tanh,
    recurrent_activation: Activation = torch.sigmoid,
    recurrent_mask: torch.Tensor | None = None,
) -> GRUGates:
    """Advance one GRU step and return every gate. x: (B, F); h_prev: (B, H); bias (2, 3H) or None.

    `recurrent_mask` (B, H), Keras's recurrent dropout, multiplies h_{t-1} in the products
    h_{t-1} U only; the blend z_t ⊙ h_{t-1} keeps the whole state (as Keras does).
    """
    h_in = h_prev if recurrent_mask is None else h_prev * recurrent_mask
    from_input = x @ kernel  # x_t W   (B, 3H)
    from_state = h_in @ recurrent_kernel  # h_{t-1} U   (B, 3H)
    if bias is not None:
        from_input = from_input + bias[0]
        from_state = from_state + bias[1]
    x_z, x_r, x_h = from_input.chunk(3, dim=-1)
    h_z, h_r, h_h = from_state.chunk(3, dim=-1)
    update_gate = recurrent_activation(x_z + h_z)  # z_t: how much of the old state to keep
    reset_gate = recurrent_activation(x_r + h_r)  # r_t: how much of the old state the candidate sees
    candidate = activation(x_h + reset_gate * h_h)  # h̃_t = tanh(x_t W_h + b_xh + r_t ⊙ (h_{t-1} U_h + b_hh))
    h = update_gate * h_prev + (1 - update_gate) * candidate  # h_t = z_t ⊙ h_{t-1} + (1 - z_t) ⊙ h̃_t
    return GRUGates(update_gate, reset_gate, candidate, h)


def gru_step(
    x: torch.Tensor,
    h_prev: torch.Tensor,
    kernel: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    bias: torch.Tensor | None,
    activation: Activation = torch.tanh,
    recurrent_activation: Activation = torch.sigmoid,
) -> torch.Tensor:
    """Advance one GRU step. x: (B, F); h_prev: (B, H). Returns h_t (B, H)."""
    return gru_gates(x, h_prev, kernel, recurrent_kernel, bias, activation, recurrent_activation).hidden_state


def keras_gru_to_torch(weight: torch.Tensor) -> torch.Tensor:
    """Reorder the last axis (3H) of a GRU weight from Keras's gates z, r, h to PyTorch's r, z, n."""
    z, r, h = weight.chunk(3, dim=-1)
    return torch.cat([r, z, h], dim=-1)


class SimpleRNNGates(NamedTuple):
    """What one SimpleRNN step computes: its state (B, H)."""

    hidden_state: torch.Tensor


def simple_rnn_step(
    x: torch.Tensor,
    h_prev: torch.Tensor,
    kernel: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    bias: torch.Tensor | None,
    activation: Activation = torch.tanh,
    recurrent_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Advance one SimpleRNN step. x: (B, F); h_prev: (B, H); bias (H,) or None. Returns h_t (B, H)."""
    h_in = h_prev if recurrent_mask is None else h_prev * recurrent_mask
    z = x @ kernel + h_in @ recurrent_kernel  # x_t W + h_{t-1} U   (B, H)
    return activation(z if bias is None else z + bias)  # h_t = tanh(x_t W + h_{t-1} U + b)


def hidden_sequence(
    step: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    h0: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scan a cell whose whole state is h (GRU, SimpleRNN) over time.

    Args:
        step: (x_t (B, F), h_{t-1} (B, H)) -> h_t (B, H), e.g. `gru_step` with the weights bound.
        x: inputs (B, T, F); h0: initial state (B, H).
        mask: optional (B, T) bool, True at real steps; a masked step keeps h and outputs zeros
            (as in `lstm_sequence`).

    Returns:
        outputs (B, T, H) = h_1..h_T, and h_T (with a mask: after each sequence's last real step).
    """
    h = h0
    outputs = []
    for t in range(x.shape[1]):
        h_next = step(x[:, t], h)
        if mask is None:
            h = h_next
            outputs.append(h)
        else:
            real = mask[:, t, None]  # (B, 1)
            h = torch.where(real, h_next, h)
            outputs.append(torch.where(real, h, torch.zeros_like(h)))
    return torch.stack(outputs, dim=1), h


def hidden_trace(
    step: Callable[[torch.Tensor, torch.Tensor], NamedTuple], x: torch.Tensor, h0: torch.Tensor
) -> NamedTuple:
    """Scan a cell whose whole state is h, keeping every gate: `step` returns a NamedTuple of (B, H)
    fields with `hidden_state` last (`gru_gates`); each field of the result is (B, T, H)."""
    h, steps = h0, []
    for t in range(x.shape[1]):
        gates = step(x[:, t], h)
        h = gates.hidden_state
        steps.append(gates)
    return type(steps[0])(*(torch.stack(field, dim=1) for field in zip(*steps)))
