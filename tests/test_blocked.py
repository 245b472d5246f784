"""The "blocked" backend (ops/blocked.py) against the reference equations (ops/reference.py).

Forward values and every gradient (input, initial state, kernel, recurrent kernel, bias) in
float64 to 1e-10 and in float32 to float32 round-off; the outputs h_1..h_T and the final state.
"""

from __future__ import annotations

import threading

import pytest
import torch

from lstmkit.ops import blocked, dispatch, threads
from lstmkit.ops.blocked import blocked_gru, blocked_lstm
from lstmkit.ops.dispatch import choose_backend, gru_forward, lstm_forward, use_backend
from lstmkit.ops.reference import lstm_sequence

TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}


def _inputs(dtype: torch.dtype, batch: int = 3, steps: int = 5, features: int = 4, units: int = 6):
    generator = torch.Generator().manual_seed(0)

    def draw(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return (torch.randn(*shape, generator=generator, dtype=dtype) * scale).requires_grad_()

    return [
        draw(batch, steps, features),
        draw(batch, units, scale=0.5),
        draw(batch, units, scale=0.5),
        draw(features, 4 * units, scale=0.5),
        draw(units, 4 * units, scale=0.5),
        draw(4 * units, scale=0.5),
    ]


def _forward_and_gradients(function, tensors, seed: int = 1):
    """Outputs of `function`, and the gradients of a random weighting of all three outputs."""
    tensors = [t.detach().clone().requires_grad_() for t in tensors]
    outputs = function(*tensors)
    generator = torch.Generator().manual_seed(seed)
    weights = [torch.randn(o.shape, generator=generator, dtype=o.dtype) for o in outputs]
    sum((o * w).sum() for o, w in zip(outputs, weights)).backward()
    return [o.detach() for o in outputs], [t.grad for t in tensors]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("shape", [(3, 5, 4, 6), (2, 1, 1, 3), (4, 20, 2, 8)])
def test_blocked_matches_reference_values_and_gradients(dtype, shape):
    tensors = _inputs(dtype, *shape)
    ours, our_grads = _forward_and_gradients(blocked_lstm, tensors)
    theirs, their_grads = _forward_and_gradients(lstm_sequence, tensors)
    tolerance = TOLERANCE[dtype]
    assert ours[0].shape == (shape[0], shape[1], shape[3])
    for name, got, expected in zip(["outputs", "h_T", "c_T"], ours, theirs):
        torch.testing.assert_close(got, expected, rtol=0, atol=tolerance, msg=name)
    names = ["x", "h0", "c0", "kernel", "recurrent_kernel", "bias"]
    for name, got, expected in zip(names, our_grads, their_grads):
        assert got is not None, name
        torch.testing.assert_close(got, expected, rtol=tolerance, atol=tolerance, msg=name)


def test_blocked_gradient_of_one_output_only_and_repeated_calls():
    """Only h_T used (the layer without return_sequences); the gate buffer handed back by one
    backward is reused by the next call, which must not change the numbers."""
    tensors = _inputs(torch.float64)
    only_h = lambda *args: (blocked_lstm(*args)[1],)  # noqa: E731
    only_h_reference = lambda *args: (lstm_sequence(*args)[1],)  # noqa: E731
    first = _forward_and_gradients(only_h, tensors)
    second = _forward_and_gradients(only_h, tensors)
    expected = _forward_and_gradients(only_h_reference, tensors)
    for got in (first, second):
        torch.testing.assert_close(got[0][0], expected[0][0], rtol=0, atol=1e-10)
        for ours, theirs in zip(got[1], expected[1]):
            torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)


def test_blocked_without_gradients_matches_reference_over_many_steps():
    """Under no_grad nothing is kept: one step's gates at a time."""
    tensors = [t.detach() for t in _inputs(torch.float64, batch=2, steps=35)]
    with torch.no_grad():
        ours = blocked_lstm(*tensors)
        theirs = lstm_sequence(*tensors)
    for got, expected in zip(ours, theirs):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-10)


def test_blocked_activations_saturate_without_overflow():
    x, h0, c0, kernel, recurrent_kernel, bias = (t.detach() for t in _inputs(torch.float32))
    big = [x * 1000, h0, c0, kernel, recurrent_kernel, bias]
    ours = blocked_lstm(*big)
    theirs = lstm_sequence(*big)
    for got, expected in zip(ours, theirs):
        assert torch.isfinite(got).all()
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def test_blocked_rejects_mixed_dtypes():
    tensors = [t.detach() for t in _inputs(torch.float32)]
    tensors[3] = tensors[3].double()
    with pytest.raises(TypeError, match="one dtype"):
        blocked_lstm(*tensors)


def test_dispatch_runs_blocked_when_forced_and_auto_picks_it_by_size():
    tensors = [t.detach() for t in _inputs(torch.float64)]
    with use_backend("blocked"):
        ours = lstm_forward(*tensors)
    theirs = lstm_sequence(*tensors)
    for got, expected in zip(ours, theirs):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-10)
    assert choose_backend("tanh", "sigmoid", False, "auto", dispatch.BLOCKED_MIN_FLOPS) == "blocked"
    assert choose_backend("tanh", "sigmoid", False, "auto", dispatch.BLOCKED_MIN_FLOPS / 2) == "torch"
    assert choose_backend("tanh", "sigmoid", False, "auto", None) == "torch"  # inference, or a mask
    assert choose_backend("tanh", "sigmoid", True, "auto", dispatch.BLOCKED_MIN_FLOPS) == "reference"
    with pytest.raises(ValueError, match="backend 'blocked' cannot run"):
        choose_backend("relu", "sigmoid", False, "blocked")


def test_fifty_adam_steps_of_a_model_match_the_reference():
    """A Sequential trained 50 steps on "blocked" follows the reference's trajectory."""
    from lstmkit import Sequential
    from lstmkit.layers import LSTM, Dense

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(10, 6, 2, generator=generator).numpy()
    y = torch.randn(10, 1, generator=generator).numpy()
    weights = {}
    for backend in ("reference", "blocked"):
        torch.manual_seed(0)
        model = Sequential([LSTM(5, input_shape=(6, 2), return_sequences=True), LSTM(4), Dense(1)])
        model.compile(loss="mse", optimizer="adam", device="cpu")
        with use_backend(backend):
            model.fit(x, y, epochs=10, batch_size=2, verbose=0, seed=0)  # 5 batches x 10 epochs
        weights[backend] = [w for layer in model.layers for w in layer.get_weights()]
    for ours, theirs in zip(weights["blocked"], weights["reference"]):
        torch.testing.assert_close(torch.from_numpy(ours), torch.from_numpy(theirs), rtol=1e-4, atol=1e-5)


def test_blocked_refuses_a_second_backward_through_one_forward():
    tensors = _inputs(torch.float64)
    outputs, h_n, c_n = blocked_lstm(*tensors)
    h_n.sum().backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="backward once per forward"):
        h_n.sum().backward()


def test_dispatch_refuses_a_mask_on_forced_blocked():
    tensors = _inputs(torch.float64)
    mask = torch.ones(3, 5, dtype=torch.bool)
    with pytest.raises(ValueError, match="backend 'blocked' cannot run a mask"):
        lstm_forward(*tensors, backend="blocked", mask=mask)


def test_blocked_restores_the_thread_count_and_follows_the_users_count(monkeypatch):
    from lstmkit.ops.threads import set_num_threads, thread_limit

    monkeypatch.setattr(threads, "_available", 2)
    monkeypatch.setattr(threads, "_others_busy", [False])
    counts = []  # every count set, by lstmkit's thread_limit or ours
    set_threads = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (counts.append(n), set_threads(n)))
    tensors = _inputs(torch.float32)
    with thread_limit(2):
        counts.clear()
        blocked_lstm(*tensors)[1].sum().backward()
        assert torch.get_num_threads() == 2
    assert counts == [1, 2, 1, 2]  # small work: forward and backward each on one thread, then 2 again
    x = torch.zeros(256, 100, 32)
    assert blocked._threads(torch.zeros(2, 3, 4), units=5) == 1  # small work: one thread
    monkeypatch.setattr(threads, "_others_cores", lambda: 0.02)  # the other core idle
    assert blocked._threads(x, units=256) == 2
    monkeypatch.setattr(threads, "_others_cores", lambda: 0.9)  # another process busy
    assert blocked._threads(x, units=256) == 1
    set_num_threads(3)
    try:
        assert blocked._threads(x, units=256) == 3
    finally:
        set_num_threads(None)


@pytest.mark.parametrize("count", [2, 3])
def test_blocked_on_threads_runs_parts_of_the_batch_and_matches_reference(count, monkeypatch):
    """With several threads each runs its own rows through every step (forward and backward),
    the output gradients included: the numbers stay the reference's."""
    from lstmkit.ops.threads import set_num_threads

    assert blocked._parts(256, 2) == [(0, 128), (128, 256)] and blocked._parts(1, 2) == [(0, 1)]
    assert blocked._parts(5, 3) == [(0, 2), (2, 3), (3, 5)]
    seen = set()
    for name in ("_forward_rows", "_backward_rows"):
        compiled = getattr(blocked, name)
        monkeypatch.setattr(blocked, name, lambda *args, compiled=compiled: (seen.add(
            (compiled.__name__, threading.get_ident(), args[0].shape[0])), compiled(*args))[1])
    tensors = _inputs(torch.float64, batch=5, steps=7)
    set_num_threads(count)
    try:
        ours, our_grads = _forward_and_gradients(blocked_lstm, tensors)
        trained = set(seen)
        with torch.no_grad():
            inference = blocked_lstm(*[t.detach() for t in tensors])
    finally:
        set_num_threads(None)
    theirs, their_grads = _forward_and_gradients(lstm_sequence, tensors)
    for got, expected in [*zip(ours, theirs), *zip(inference, theirs)]:
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-10)
    for got, expected in zip(our_grads, their_grads):
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)
    for name in ("_forward_rows", "_backward_rows"):  # training: each part of the rows, the caller's and others'
        calls = {(ident, rows) for kernel_name, ident, rows in trained if kernel_name == name}
        assert sorted(rows for _, rows in calls) == ([1, 2, 2] if count == 3 else [2, 3])
        assert len({ident for ident, _ in calls}) >= 2  # an idle worker may take a third part


def _gru_inputs(dtype: torch.dtype, batch: int, steps: int, features: int, units: int):
    generator = torch.Generator().manual_seed(0)
    shapes = [(batch, steps, features), (batch, units), (features, 3 * units), (units, 3 * units), (2, 3 * units)]
    return [(torch.randn(*shape, generator=generator, dtype=dtype) * 0.5).requires_grad_() for shape in shapes]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("count", [1, 2])
@pytest.mark.parametrize("with_bias", [True, False])
def test_blocked_gru_matches_reference_values_and_gradients(dtype, count, with_bias):
    """The GRU on "blocked" against the reference equations: outputs, h_T and every gradient, with
    the output gradients of every step, on one thread and on two (parts of the batch)."""
    from lstmkit.ops.threads import set_num_threads

    tensors = _gru_inputs(dtype, 5, 7, 3, 4)
    if not with_bias:
        tensors = tensors[:4]
    reference = lambda *args: gru_forward(*args, *([] if with_bias else [None]), backend="reference")  # noqa: E731
    ours_call = lambda *args: blocked_gru(*args, *([] if with_bias else [None]))  # noqa: E731
    set_num_threads(count)
    try:
        ours, our_grads = _forward_and_gradients(ours_call, tensors)
        second = _forward_and_gradients(ours_call, tensors)  # the spare buffers reused
        with torch.no_grad():
            inference = ours_call(*[t.detach() for t in tensors])
    finally:
        set_num_threads(None)
    theirs, their_grads = _forward_and_gradients(reference, tensors)
    tolerance = TOLERANCE[dtype]
    for got, expected in [*zip(ours, theirs), *zip(second[0], theirs), *zip(inference, theirs)]:
        torch.testing.assert_close(got, expected, rtol=0, atol=tolerance)
    for got, again, expected in zip(our_grads, second[1], their_grads):
        torch.testing.assert_close(got, expected, rtol=tolerance, atol=tolerance)
        torch.testing.assert_close(again, got, rtol=0, atol=0)


def test_dispatch_runs_the_gru_on_blocked_when_forced_and_auto_picks_it_by_size(monkeypatch):
    from lstmkit.layers import GRU

    assert choose_backend("tanh", "sigmoid", False, "auto", dispatch.BLOCKED_MIN_FLOPS, cell="gru") == "blocked"
    assert choose_backend("tanh", "sigmoid", False, "auto", None, cell="gru") == "torch"  # a mask, or not the CPU
    big = torch.zeros(256, 100, 32), torch.zeros(256, 256), torch.zeros(32, 768), torch.zeros(256, 768)
    calls = []
    monkeypatch.setattr(blocked, "blocked_gru", lambda *args: calls.append(args) or (None, None))
    with torch.no_grad():
        gru_forward(*big, None)  # W3's GRU predicts on "blocked" too (auto)
        gru_forward(big[0][:2, :5], big[1][:2], *big[2:], None)  # small: "torch"
    assert len(calls) == 1 and calls[0][0].shape == (256, 100, 32)
    monkeypatch.undo()
    tensors = [t.detach() for t in _gru_inputs(torch.float64, 3, 5, 2, 4)]
    with pytest.raises(ValueError, match="backend 'blocked' cannot run a mask"):
        gru_forward(*tensors, backend="blocked", mask=torch.ones(3, 5, dtype=torch.bool))
    torch.manual_seed(0)
    layer = GRU(4, return_sequences=True).double()
    x = torch.randn(3, 5, 2, dtype=torch.float64)
    results = []
    for backend in ("blocked", "reference"):
        layer.zero_grad()
        with use_backend(backend):
            outputs = layer(x)
        outputs.square().sum().backward()
        results.append([outputs.detach()] + [p.grad.clone() for p in layer.parameters()])
    for ours, theirs in zip(*results):
        torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)


def test_blocked_on_two_threads_under_inference_mode():
    """predict runs under torch.inference_mode, which each worker thread must share (its tensors
    are inference tensors): the GRU predicts on "blocked", the LSTM when forced."""
    from lstmkit.ops.threads import set_num_threads

    lstm_tensors = [t.detach() for t in _inputs(torch.float32, batch=4, steps=3)]
    gru_tensors = [t.detach() for t in _gru_inputs(torch.float32, 4, 3, 2, 5)]
    set_num_threads(2)
    try:
        with torch.inference_mode():
            ours = [*blocked_lstm(*lstm_tensors), *blocked_gru(*gru_tensors)]
    finally:
        set_num_threads(None)
    theirs = [*lstm_sequence(*lstm_tensors), *gru_forward(*gru_tensors, backend="reference")]
    for got, expected in zip(ours, theirs):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
