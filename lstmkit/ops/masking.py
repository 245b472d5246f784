"""Variable-length batches on PyTorch's fused recurrent ops: move real steps to the front, run, put back.

A mask (B, T) marks each sequence's real steps (True) and its padding (False); the padding may
come before, after or between real steps. A recurrent layer (LSTM, GRU, SimpleRNN) skips a masked step: the state is carried
over and the output is zero (ops.reference.lstm_sequence with `mask`, the ground truth).
Skipping a step is the same as deleting it, so a masked batch can run on the fused op: each
sequence's real steps are moved to the front in order ("compacted"), the batch is run (see
`run_compacted` and `masked_torch_lstm`), and each output goes back to the position its step came from.

Example (one sequence, T=5, mask 0 1 1 0 1):
    x [p a b p c]  -> compact ->  [a b c . .], length 3  -> LSTM ->  [h1 h2 h3 0 0]
                   -> expand  ->  [0 h1 h2 0 h3], final state (h3, c3)
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence


def front_mask(lengths: torch.Tensor, timesteps: int) -> torch.Tensor:
    """(B, T) bool, True at the first `lengths[b]` steps of row b (real steps first, then padding)."""
    return torch.arange(timesteps, device=lengths.device) < lengths[:, None]


def compact(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Move each row's real steps to the front, keeping their order.

    Args:
        x: (B, T, F); mask: (B, T) bool, True at real steps.

    Returns:
        x_compact (B, T, F) with zeros after each row's real steps, lengths (B,) and the
        (B, T) mask of the front positions they now fill.
    """
    lengths = mask.sum(dim=1)
    front = front_mask(lengths, x.shape[1])
    if torch.equal(front, mask):  # already real steps first: nothing moves
        return x * mask.unsqueeze(-1).to(x.dtype), lengths, front
    # Boolean indexing walks rows in order and steps in order within a row, so the k-th real
    # step of row b lands on front position k of row b.
    return x.new_zeros(x.shape).index_put((front,), x[mask]), lengths, front


def expand(y_compact: torch.Tensor, mask: torch.Tensor, front: torch.Tensor) -> torch.Tensor:
    """Undo `compact` on outputs (B, T, H): each goes back to its step; masked steps are zero."""
    if torch.equal(front, mask):
        return y_compact * mask.unsqueeze(-1).to(y_compact.dtype)
    return y_compact.new_zeros(y_compact.shape).index_put((mask,), y_compact[front])


def reverse_real_steps(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Reverse the order of each row's real steps, leaving them at the real positions (padding zero).

    This is how a layer reading backwards (go_backwards) sees a padded sequence: it reads the
    real steps from last to first, and its output at the k-th real position is the state after
    k + 1 of them, wherever the padding is. It is its own inverse.

    Example (mask 0 1 1 0 1): [p a b p c] -> [0 c b 0 a].
    """
    compacted, lengths, front = compact(x, mask)
    steps = torch.arange(x.shape[1], device=x.device)
    source = (lengths[:, None] - 1 - steps).clamp(min=0)  # front position k reads position length-1-k
    reversed_front = compacted.gather(1, source.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
    return expand(reversed_front, mask, front)


def masked_torch_lstm(
    x: torch.Tensor,
    mask: torch.Tensor,
    h0: torch.Tensor,
    c0: torch.Tensor,
    weights: list[torch.Tensor],
    train: bool,
    cell_state: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """torch.lstm over the real steps of a masked batch, two ways.

    Without `cell_state` (what a layer needs unless it is stateful or returns its state): the
    fused op runs on the compacted batch (`run_compacted`), at the cost of an unmasked batch
    of that length. With `cell_state`, packed sequences (sorted by length)
    also give c_T at each row's end; PyTorch has no oneDNN kernel for them on the CPU, so they
    are slower.

    Args:
        x: (B, T, F); mask: (B, T) bool with at least one real step per row; h0, c0: (B, H).
        weights: PyTorch's [weight_ih, weight_hh, bias_ih, bias_hh].
        train: keep what backward needs (cuDNN's "train" mode).

    Returns:
        outputs (B, T, H), zero at masked steps; h_T and c_T (None without `cell_state`) after
        each row's last real step.
    """
    if cell_state:
        return packed_torch_lstm(x, mask, h0, c0, weights, train)
    state = (h0.unsqueeze(0), c0.unsqueeze(0))
    outputs, h_n = run_compacted(
        x, mask, lambda x_compact: torch.lstm(x_compact, state, weights, True, 1, 0.0, train, False, True)[0]
    )
    return outputs, h_n, None


def run_compacted(
    x: torch.Tensor, mask: torch.Tensor, run: Callable[[torch.Tensor], torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run a fused recurrent op on the real steps of a masked batch, at the cost of an unmasked one.

    The batch is compacted and cut to its longest sequence. A row's steps after its end run on
    zeros, but they come after all of its real steps, so nothing kept depends on them: h_T is
    read from the outputs at each row's last real step. This is the whole masked forward of a
    cell whose state is h alone (GRU, SimpleRNN), and of an LSTM that needs no c_T.

    Args:
        x: (B, T, F); mask: (B, T) bool with at least one real step per row.
        run: x_compact (B, T', F) -> outputs (B, T', H), the fused op with its weights and h_0.

    Returns:
        outputs (B, T, H), zero at masked steps, and h_T (B, H) after each row's last real step.
    """
    timesteps = x.shape[1]
    x_compact, lengths, front = compact(x, mask)
    longest = int(lengths.max())
    outputs = run(x_compact[:, :longest])
    h_n = outputs.gather(1, (lengths - 1).view(-1, 1, 1).expand(-1, 1, outputs.shape[-1]))[:, 0]
    if longest < timesteps:
        outputs = torch.nn.functional.pad(outputs, (0, 0, 0, timesteps - longest))
    return expand(outputs, mask, front), h_n


def packed_torch_lstm(
    x: torch.Tensor,
    mask: torch.Tensor,
    h0: torch.Tensor,
    c0: torch.Tensor,
    weights: list[torch.Tensor],
    train: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """torch.lstm over the real steps of a masked batch.

    Args:
        x: (B, T, F); mask: (B, T) bool with at least one real step per row; h0, c0: (B, H).
        weights: PyTorch's [weight_ih, weight_hh, bias_ih, bias_hh].
        train: keep what backward needs (cuDNN's "train" mode).

    Returns:
        outputs (B, T, H), zero at masked steps, and the state after each row's last real step.
    """
    timesteps = x.shape[1]
    x_compact, lengths, front = compact(x, mask)
    packed = pack_padded_sequence(x_compact, lengths.cpu(), batch_first=True, enforce_sorted=False)
    order, unorder = packed.sorted_indices, packed.unsorted_indices  # longest first, and back
    state = (h0[order].unsqueeze(0), c0[order].unsqueeze(0))
    data, h_n, c_n = torch.lstm(packed.data, packed.batch_sizes, state, weights, True, 1, 0.0, train, False)
    outputs, _ = pad_packed_sequence(
        PackedSequence(data, packed.batch_sizes, order, unorder), batch_first=True, total_length=timesteps
    )
    return expand(outputs, mask, front), h_n[0][unorder], c_n[0][unorder]
