"""The single place that chooses how a recurrent layer's sequence is computed (LSTM, GRU, SimpleRNN).

Backends:
    "reference"  ops/reference.py, a Python loop over time: the ground truth; runs every option.
    "torch"      PyTorch's fused LSTM op (oneDNN on CPU, cuDNN on GPU); tanh/sigmoid only,
                 no recurrent dropout.
    "blocked"    ops/blocked.py: BLAS GEMMs and compiled gate loops, CPU, float32/float64;
                 tanh/sigmoid only, no recurrent dropout, no mask.
    "auto"       "blocked" for CPU training above BLOCKED_MIN_FLOPS (for the GRU, inference
                 too), else "torch" where it applies, else "reference", quietly.

GRU and SimpleRNN layers run on "torch" (torch.gru; torch.rnn_tanh, or torch.rnn_relu for
activation="relu") or "reference" alike: `gru_forward`, `simple_rnn_forward`. "blocked" runs
LSTM and GRU layers (a GRU counts 3/4 of an LSTM's flops against BLOCKED_MIN_FLOPS).

Training a whole tutorial-sized model in one compiled call is a different engine, chosen by
the fit loop (lstmkit.training); it is tested against these same equations.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch

from lstmkit.checks import choice
from lstmkit.ops.activations import ACTIVATIONS
from lstmkit.ops.masking import masked_torch_lstm, run_compacted
from lstmkit.ops.reference import (
    gru_gates,
    hidden_sequence,
    keras_gru_to_torch,
    lstm_sequence,
    simple_rnn_step,
)
from lstmkit.ops.threads import SMALL_WORK_FLOPS, lstm_flops, thread_limit, threads_for

BACKENDS = ("auto", "torch", "reference", "blocked")
# "auto" trains on "blocked" from this many forward FLOPs per call, 2·B·T·4H·(F+H). Measured on
# the 2-core machine, one thread, a layer's forward+backward paired with "torch" (load 2.5-4):
# (B,T,F,H) = (256,100,32,256) 1.3x, (128,50,16,128) 1.4-1.6x, (256,24,1,128) 1.4x,
# (128,50,8,96) 1.5x; below 5e8 the two are level: (64,50,8,128) 0.9-1.1x, W2's (64,24,1,64)
# 0.75-1.03x (W2's whole fit 0.99-1.10x). LSTM inference stays on "torch", whose fused forward was
# faster at every size (blocked 0.5-0.9x; W3 0.91x); the GRU's forward on "blocked" beat torch.gru
# (W3 1.22x, one thread), so it takes "blocked" for inference too. On two threads (ops/threads.py gives them only
# while other processes leave the cores idle) W3's step took 0.33 s on "blocked", 0.40 s on
# "torch" (5.2 s with the other core busy). benchmarks/blocked_micro.py times W2 and W3.
BLOCKED_MIN_FLOPS = 5e8
_default_backend = "auto"


@contextlib.contextmanager
def use_backend(backend: str) -> Iterator[None]:
    """Run recurrent layers on `backend` inside the block, e.g. to compare a fast path to the reference.

    Example:
        with lstmkit.ops.use_backend("reference"):
            slow = model.predict(x)
    """
    global _default_backend
    _check_backend(backend)
    previous, _default_backend = _default_backend, backend
    try:
        yield
    finally:
        _default_backend = previous


def current_backend() -> str:
    """The backend recurrent layers use now ("auto" unless inside `use_backend`)."""
    return _default_backend


def _check_backend(backend: str) -> None:
    choice(backend, "backend", BACKENDS, kind="LSTM backend")


# What PyTorch's fused op of each cell runs: (activations, recurrent activations); "reference" runs the rest.
_FUSED_ACTIVATIONS = {
    "lstm": (("tanh",), ("sigmoid",)),
    "gru": (("tanh",), ("sigmoid",)),
    "simple_rnn": (("tanh", "relu"), ("sigmoid",)),  # torch.rnn_tanh, torch.rnn_relu; no gates
}


def choose_backend(
    activation: str,
    recurrent_activation: str,
    has_recurrent_mask: bool,
    backend: str | None = None,
    blocked_flops: float | None = None,
    cell: str = "lstm",
) -> str:
    """Resolve "auto" to a concrete backend; raise if a forced backend cannot run these options.

    `blocked_flops`: the forward FLOPs of a call "blocked" could run (no mask, CPU; for the LSTM
    training only), else None.
    `cell`: "lstm", "gru" or "simple_rnn" ("blocked" runs the LSTM and the GRU).
    """
    backend = _default_backend if backend is None else backend
    _check_backend(backend)
    activations, recurrent_activations = _FUSED_ACTIVATIONS[cell]
    reasons = []
    if activation not in activations:
        reasons.append(f"activation={activation!r}")
    if recurrent_activation not in recurrent_activations:
        reasons.append(f"recurrent_activation={recurrent_activation!r}")
    if has_recurrent_mask:
        reasons.append("recurrent_dropout")
    if backend == "auto":
        if reasons:
            return "reference"
        return "blocked" if blocked_flops is not None and blocked_flops >= BLOCKED_MIN_FLOPS else "torch"
    if backend == "blocked" and cell == "simple_rnn":
        raise ValueError(
            f"backend 'blocked' runs LSTM and GRU layers only, not a {cell} layer. Use backend 'auto', "
            f"which picks 'torch' (or 'reference'), or 'torch'."
        )
    if backend in ("torch", "blocked") and reasons:
        supported = "/".join(activations) + ("" if cell == "simple_rnn" else "/" + "/".join(recurrent_activations))
        raise ValueError(
            f"backend {backend!r} cannot run {', '.join(reasons)}; it supports {supported} without "
            f"recurrent dropout. Use backend 'auto', which falls back to 'reference'."
        )
    return backend


def lstm_forward(
    x: torch.Tensor,
    h0: torch.Tensor,
    c0: torch.Tensor,
    kernel: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    bias: torch.Tensor,
    activation: str = "tanh",
    recurrent_activation: str = "sigmoid",
    recurrent_mask: torch.Tensor | None = None,
    backend: str | None = None,
    mask: torch.Tensor | None = None,
    cell_state: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Run one LSTM layer over a sequence.

    Args:
        x: inputs (B, T, F); h0, c0: initial state (B, H).
        kernel (F, 4H), recurrent_kernel (H, 4H), bias (4H,): Keras's layout, gates i f g o.
        activation, recurrent_activation: names from lstmkit.ops.activations.
        recurrent_mask: optional (B, H) recurrent-dropout multiplier.
        backend: None for the current default (see `use_backend`).
        mask: optional (B, T) bool, True at real steps, at least one per row; masked steps are
            skipped (state carried, output zero). "torch" runs the real steps moved to the
            front (lstmkit.ops.masking); "reference" masks each step.
        cell_state: return c_T. Without it, a masked batch on "torch" runs as fast as an
            unmasked one and c_T is None.

    Returns:
        outputs (B, T, H), h_T (B, H), c_T (B, H) (with a mask: after each row's last real step).
    """
    tensors = (x, h0, c0, kernel, recurrent_kernel, bias)
    blocked_flops = None
    cpu_float = x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
    training = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
    if mask is None and cpu_float and training:
        blocked_flops = lstm_flops(x.shape[0], x.shape[1], x.shape[2], h0.shape[1])
    chosen = choose_backend(activation, recurrent_activation, recurrent_mask is not None, backend, blocked_flops)
    if chosen == "blocked":
        if mask is not None:
            raise ValueError("backend 'blocked' cannot run a mask; use backend 'auto' (it picks 'torch').")
        from lstmkit.ops.blocked import blocked_lstm  # numba loads on first use, not on import

        return blocked_lstm(*tensors)
    if chosen == "torch":
        # PyTorch's layout is the transpose of Keras's, with two biases that sum to ours. Made
        # contiguous once per call: oneDNN otherwise reorders them inside every step (~15% of W2).
        weights = [kernel.t().contiguous(), recurrent_kernel.t().contiguous(), bias, torch.zeros_like(bias)]
        # cuDNN keeps what backward needs only in "train" mode, so follow autograd's switch.
        train = torch.is_grad_enabled()
        with _small_on_one_thread(x, lstm_flops(x.shape[0], x.shape[1], x.shape[2], h0.shape[1])):
            if mask is not None:
                return masked_torch_lstm(x, mask, h0, c0, weights, train, cell_state)
            outputs, h_n, c_n = torch.lstm(
                x, (h0.unsqueeze(0), c0.unsqueeze(0)), weights, True, 1, 0.0, train, False, True
            )
        return outputs, h_n[0], c_n[0]
    return lstm_sequence(
        x,
        h0,
        c0,
        kernel,
        recurrent_kernel,
        bias,
        ACTIVATIONS[activation],
        ACTIVATIONS[recurrent_activation],
        recurrent_mask,
        mask,
    )


def gru_forward(
    x: torch.Tensor,
    h0: torch.Tensor,
    kernel: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    bias: torch.Tensor | None,
    activation: str = "tanh",
    recurrent_activation: str = "sigmoid",
    recurrent_mask: torch.Tensor | None = None,
    backend: str | None = None,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run one GRU layer over a sequence: torch.gru where it applies, else the reference.

    Args:
        x: inputs (B, T, F); h0: initial state (B, H).
        kernel (F, 3H), recurrent_kernel (H, 3H), bias (2, 3H) or None: Keras's layout, gates z r h.
        activation, recurrent_activation: names from lstmkit.ops.activations.
        recurrent_mask: optional (B, H) recurrent-dropout multiplier.
        backend: None for the current default (see `use_backend`).
        mask: optional (B, T) bool, True at real steps, at least one per row (as in `lstm_forward`).

    Returns:
        outputs (B, T, H) and h_T (B, H) (with a mask: after each row's last real step).
    """
    blocked_flops = None
    if mask is None and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64):
        # training and inference alike: torch.gru is slower than "blocked" at both (PERFORMANCE.md, W3)
        blocked_flops = 0.75 * lstm_flops(x.shape[0], x.shape[1], x.shape[2], h0.shape[1])  # 3 gates, not 4
    chosen = choose_backend(activation, recurrent_activation, recurrent_mask is not None, backend, blocked_flops,
                            cell="gru")
    if chosen == "blocked":
        if mask is not None:
            raise ValueError("backend 'blocked' cannot run a mask; use backend 'auto' (it picks 'torch').")
        from lstmkit.ops.blocked import blocked_gru  # numba loads on first use, not on import

        return blocked_gru(x, h0, kernel, recurrent_kernel, bias)
    if chosen == "torch":
        weights = [keras_gru_to_torch(kernel).t().contiguous(), keras_gru_to_torch(recurrent_kernel).t().contiguous()]
        if bias is not None:
            weights += [keras_gru_to_torch(bias[0]), keras_gru_to_torch(bias[1])]
        train = torch.is_grad_enabled()

        def run(inputs: torch.Tensor) -> torch.Tensor:
            return torch.gru(inputs, h0.unsqueeze(0), weights, bias is not None, 1, 0.0, train, False, True)[0]

        with _small_on_one_thread(x, 0.75 * lstm_flops(x.shape[0], x.shape[1], x.shape[2], h0.shape[1])):
            return _run_fused(run, x, mask)

    def step(x_t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return gru_gates(
            x_t, h, kernel, recurrent_kernel, bias, ACTIVATIONS[activation], ACTIVATIONS[recurrent_activation],
            recurrent_mask,
        ).hidden_state

    return hidden_sequence(step, x, h0, mask)


def simple_rnn_forward(
    x: torch.Tensor,
    h0: torch.Tensor,
    kernel: torch.Tensor,
    recurrent_kernel: torch.Tensor,
    bias: torch.Tensor | None,
    activation: str = "tanh",
    recurrent_mask: torch.Tensor | None = None,
    backend: str | None = None,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run one SimpleRNN layer over a sequence: torch.rnn_tanh / rnn_relu where they apply, else
    the reference. Arguments as `gru_forward`, with kernel (F, H), recurrent_kernel (H, H), bias (H,)."""
    chosen = choose_backend(activation, "sigmoid", recurrent_mask is not None, backend, cell="simple_rnn")
    if chosen == "torch":
        weights = [kernel.t().contiguous(), recurrent_kernel.t().contiguous()]
        if bias is not None:
            weights += [bias, torch.zeros_like(bias)]
        fused = torch.rnn_tanh if activation == "tanh" else torch.rnn_relu
        train = torch.is_grad_enabled()

        def run(inputs: torch.Tensor) -> torch.Tensor:
            return fused(inputs, h0.unsqueeze(0), weights, bias is not None, 1, 0.0, train, False, True)[0]

        with _small_on_one_thread(x, 0.25 * lstm_flops(x.shape[0], x.shape[1], x.shape[2], h0.shape[1])):
            return _run_fused(run, x, mask)

    def step(x_t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return simple_rnn_step(x_t, h, kernel, recurrent_kernel, bias, ACTIVATIONS[activation], recurrent_mask)

    return hidden_sequence(step, x, h0, mask)


def _small_on_one_thread(x: torch.Tensor, flops: float) -> contextlib.AbstractContextManager:
    """One intra-op thread (or the count lstmkit.ops.threads.set_num_threads gave) for a PyTorch
    recurrent op on the CPU whose forward is under SMALL_WORK_FLOPS (lstmkit.ops.threads), whoever
    calls it: fit's validation, text generation, a layer in the user's own torch loop. Bigger work,
    or work on a GPU, keeps the caller's threads. PyTorch's default is every core, and a small op on
    two threads waits for a core another process holds (benchmarks/busy_core.py)."""
    if x.device.type == "cpu" and flops < SMALL_WORK_FLOPS:
        return thread_limit(threads_for(flops))  # 1, or the count set_num_threads gave
    return contextlib.nullcontext()


def _run_fused(
    run: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, mask: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """outputs (B, T, H) and h_T of a fused op whose state is h alone, masked or not."""
    if mask is not None:
        return run_compacted(x, mask, run)
    outputs = run(x)
    return outputs, outputs[:, -1]
