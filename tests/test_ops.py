"""The LSTM equations (ops/reference.py) and the dispatch seam (ops/dispatch.py).

The reference is checked against PyTorch's own LSTM (transposed weights, summed biases), by
hand on a constant-weight case, and by gradcheck; the "torch" backend is checked against it.
"""

from __future__ import annotations

import math

import pytest
import torch

from lstmkit.ops import dispatch
from lstmkit.ops.dispatch import choose_backend, current_backend, lstm_forward, use_backend
from lstmkit.ops.reference import lstm_gates, lstm_sequence, lstm_step, lstm_trace


def _keras_weights(module: torch.nn.Module, suffix: str = "") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PyTorch's weight_ih/weight_hh/bias_ih/bias_hh as Keras's kernel, recurrent_kernel, bias."""
    w_ih = getattr(module, f"weight_ih{suffix}")
    w_hh = getattr(module, f"weight_hh{suffix}")
    bias = getattr(module, f"bias_ih{suffix}") + getattr(module, f"bias_hh{suffix}")
    return w_ih.T, w_hh.T, bias


def _random_inputs(dtype: torch.dtype, batch: int = 3, steps: int = 4, features: int = 3, units: int = 5):
    generator = torch.Generator().manual_seed(1)

    def draw(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator, dtype=dtype)

    return (
        draw(batch, steps, features),
        draw(batch, units),
        draw(batch, units),
        draw(features, 4 * units) * 0.5,
        draw(units, 4 * units) * 0.5,
        draw(4 * units) * 0.5,
    )


# -- the reference against PyTorch --------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_reference_step_matches_torch_lstm_cell(dtype):
    torch.manual_seed(0)
    cell = torch.nn.LSTMCell(3, 5).to(dtype)
    x, h, c = torch.randn(2, 3, dtype=dtype), torch.randn(2, 5, dtype=dtype), torch.randn(2, 5, dtype=dtype)
    got = lstm_step(x, h, c, *_keras_weights(cell))
    expected = cell(x, (h, c))
    for ours, theirs in zip(got, expected):
        torch.testing.assert_close(ours, theirs)


def test_reference_sequence_matches_torch_lstm_forward_and_gradients():
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 5, batch_first=True).double()
    x = torch.randn(2, 6, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 5, dtype=torch.float64)
    c0 = torch.randn(2, 5, dtype=torch.float64)
    kernel = lstm.weight_ih_l0.detach().T.clone().requires_grad_()
    recurrent_kernel = lstm.weight_hh_l0.detach().T.clone().requires_grad_()
    bias = (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach().clone().requires_grad_()

    outputs, h_n, c_n = lstm_sequence(x, h0, c0, kernel, recurrent_kernel, bias)
    x_torch = x.detach().clone().requires_grad_()
    expected, (h_torch, c_torch) = lstm(x_torch, (h0.unsqueeze(0), c0.unsqueeze(0)))
    torch.testing.assert_close(outputs, expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(h_n, h_torch[0], rtol=0, atol=1e-6)
    torch.testing.assert_close(c_n, c_torch[0], rtol=0, atol=1e-6)

    # A loss that reaches every output, the final h and the final c.
    weights = torch.linspace(-1, 1, 5, dtype=torch.float64)
    ((outputs**2).sum() + (h_n * weights).sum() + c_n.sin().sum()).backward()
    ((expected**2).sum() + (h_torch[0] * weights).sum() + c_torch[0].sin().sum()).backward()
    torch.testing.assert_close(x.grad, x_torch.grad, rtol=0, atol=1e-6)
    torch.testing.assert_close(kernel.grad, lstm.weight_ih_l0.grad.T, rtol=0, atol=1e-6)
    torch.testing.assert_close(recurrent_kernel.grad, lstm.weight_hh_l0.grad.T, rtol=0, atol=1e-6)
    # One bias in our layout: its gradient is that of either of PyTorch's two biases.
    torch.testing.assert_close(bias.grad, lstm.bias_ih_l0.grad, rtol=0, atol=1e-6)
    torch.testing.assert_close(bias.grad, lstm.bias_hh_l0.grad, rtol=0, atol=1e-6)


def test_constant_weight_case_checked_by_hand():
    # One unit, one feature. Only the candidate sees the input (kernel [0, 0, 1, 0]); the
    # recurrent kernel is zero, so the gates are fixed by the bias:
    #   i = σ(ln 3) = 3/4,  f = σ(0) = 1/2,  o = σ(ln 4) = 4/5,  g_t = tanh(x_t)
    #   c_t = c_{t-1}/2 + 3/4·tanh(x_t),  h_t = 4/5·tanh(c_t)
    kernel = torch.tensor([[0.0, 0.0, 1.0, 0.0]], dtype=torch.float64)
    recurrent_kernel = torch.zeros(1, 4, dtype=torch.float64)
    bias = torch.tensor([math.log(3.0), 0.0, 0.0, math.log(4.0)], dtype=torch.float64)
    inputs = [1.0, -2.0, 0.5]
    x = torch.tensor(inputs, dtype=torch.float64).reshape(1, 3, 1)
    zeros = torch.zeros(1, 1, dtype=torch.float64)

    outputs, h_n, c_n = lstm_sequence(x, zeros, zeros, kernel, recurrent_kernel, bias)

    c1 = 0.75 * math.tanh(1.0)  # 0.5711...
    c2 = 0.5 * c1 + 0.75 * math.tanh(-2.0)  # -0.4374...
    c3 = 0.5 * c2 + 0.75 * math.tanh(0.5)  # 0.1280...
    expected_h = [0.8 * math.tanh(c) for c in (c1, c2, c3)]
    assert outputs.flatten().tolist() == pytest.approx(expected_h, abs=1e-12)
    assert h_n.item() == pytest.approx(expected_h[-1], abs=1e-12)
    assert c_n.item() == pytest.approx(c3, abs=1e-12)

    trace = lstm_trace(x, zeros, zeros, kernel, recurrent_kernel, bias)
    assert trace.input_gate.flatten().tolist() == pytest.approx([0.75] * 3, abs=1e-12)
    assert trace.forget_gate.flatten().tolist() == pytest.approx([0.5] * 3, abs=1e-12)
    assert trace.output_gate.flatten().tolist() == pytest.approx([0.8] * 3, abs=1e-12)
    assert trace.candidate.flatten().tolist() == pytest.approx([math.tanh(v) for v in inputs], abs=1e-12)


def test_recurrent_kernel_carries_h_to_the_next_step_by_hand():
    # Zero input; z_g = 2·h_{t-1} + 1 and every other gate at σ(0) = 1/2, from h_0 = 0.5, c_0 = 0.
    kernel = torch.zeros(1, 4, dtype=torch.float64)
    recurrent_kernel = torch.tensor([[0.0, 0.0, 2.0, 0.0]], dtype=torch.float64)
    bias = torch.tensor([0.0, 0.0, 1.0, 0.0], dtype=torch.float64)
    x = torch.zeros(1, 2, 1, dtype=torch.float64)
    h0 = torch.full((1, 1), 0.5, dtype=torch.float64)
    c0 = torch.zeros(1, 1, dtype=torch.float64)

    outputs, _, c_n = lstm_sequence(x, h0, c0, kernel, recurrent_kernel, bias)

    c1 = 0.5 * math.tanh(2.0 * 0.5 + 1.0)
    h1 = 0.5 * math.tanh(c1)
    c2 = 0.5 * c1 + 0.5 * math.tanh(2.0 * h1 + 1.0)
    h2 = 0.5 * math.tanh(c2)
    assert outputs.flatten().tolist() == pytest.approx([h1, h2], abs=1e-12)
    assert c_n.item() == pytest.approx(c2, abs=1e-12)


def test_gradcheck_lstm_sequence_float64():
    inputs = tuple(t.requires_grad_() for t in _random_inputs(torch.float64, batch=2, steps=3, features=2, units=2))
    assert torch.autograd.gradcheck(lambda *args: lstm_sequence(*args), inputs)


def test_recurrent_mask_multiplies_the_previous_hidden_state():
    x, h0, c0, kernel, recurrent_kernel, bias = _random_inputs(torch.float64)
    mask = torch.tensor([[2.0, 0.0, 2.0, 0.0, 2.0]], dtype=torch.float64).expand(3, 5)
    got, _, _ = lstm_sequence(x, h0, c0, kernel, recurrent_kernel, bias, recurrent_mask=mask)
    h, c = h0, c0
    for t in range(x.shape[1]):
        h, c = lstm_step(x[:, t], h * mask, c, kernel, recurrent_kernel, bias)
        torch.testing.assert_close(got[:, t], h, rtol=0, atol=1e-12)
    plain, _, _ = lstm_sequence(x, h0, c0, kernel, recurrent_kernel, bias)
    assert (got - plain).abs().max() > 1e-3


def test_lstm_trace_equals_a_manual_step_loop():
    x, h0, c0, kernel, recurrent_kernel, bias = _random_inputs(torch.float64)
    trace = lstm_trace(x, h0, c0, kernel, recurrent_kernel, bias)
    h, c = h0, c0
    units = h0.shape[1]
    for t in range(x.shape[1]):
        z = x[:, t] @ kernel + h @ recurrent_kernel + bias
        i = torch.sigmoid(z[:, :units])
        f = torch.sigmoid(z[:, units : 2 * units])
        g = torch.tanh(z[:, 2 * units : 3 * units])
        o = torch.sigmoid(z[:, 3 * units :])
        c = f * c + i * g
        h = o * torch.tanh(c)
        for field, value in zip(trace, (i, f, g, o, c, h)):
            torch.testing.assert_close(field[:, t], value, rtol=0, atol=1e-12)
    assert trace.hidden_state.shape == (3, 4, 5)
    outputs, _, _ = lstm_sequence(x, h0, c0, kernel, recurrent_kernel, bias)
    torch.testing.assert_close(trace.hidden_state, outputs, rtol=0, atol=0)


def test_lstm_gates_uses_the_given_activations():
    sequence, h0, c0, kernel, recurrent_kernel, bias = _random_inputs(torch.float64)
    x = sequence[:, 0]
    gates = lstm_gates(x, h0, c0, kernel, recurrent_kernel, bias, torch.relu, torch.sigmoid)
    z_g = (x @ kernel + h0 @ recurrent_kernel + bias).chunk(4, dim=-1)[2]
    torch.testing.assert_close(gates.candidate, torch.relu(z_g))
    torch.testing.assert_close(gates.hidden_state, gates.output_gate * torch.relu(gates.cell_state))


# -- dispatch --------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_torch_backend_equals_reference_forward_and_gradients(dtype, tolerance):
    results = []
    for backend in ("torch", "reference"):
        inputs = tuple(t.requires_grad_() for t in _random_inputs(dtype))
        outputs, h_n, c_n = lstm_forward(*inputs, backend=backend)
        loss = (outputs.sin()).sum() + (h_n**2).sum() + c_n.cos().sum()
        grads = torch.autograd.grad(loss, inputs)
        results.append((outputs, h_n, c_n, *grads))
    for ours, reference in zip(*results):
        torch.testing.assert_close(ours, reference, rtol=tolerance, atol=tolerance)


def test_auto_backend_choice():
    assert choose_backend("tanh", "sigmoid", False, "auto") == "torch"
    assert choose_backend("relu", "sigmoid", False, "auto") == "reference"
    assert choose_backend("tanh", "hard_sigmoid", False, "auto") == "reference"
    assert choose_backend("tanh", "sigmoid", True, "auto") == "reference"
    assert choose_backend("relu", "sigmoid", True, "reference") == "reference"


def test_auto_runs_relu_on_the_reference_and_tanh_on_torch(monkeypatch):
    calls = []
    real_lstm = torch.lstm

    def counting_lstm(*args):
        calls.append(1)
        return real_lstm(*args)

    monkeypatch.setattr(torch, "lstm", counting_lstm)
    x, h0, c0, kernel, recurrent_kernel, bias = _random_inputs(torch.float64)
    relu_out, _, _ = lstm_forward(x, h0, c0, kernel, recurrent_kernel, bias, activation="relu", backend="auto")
    assert calls == []
    expected, _, _ = lstm_sequence(x, h0, c0, kernel, recurrent_kernel, bias, activation=torch.relu)
    torch.testing.assert_close(relu_out, expected, rtol=0, atol=0)

    mask = torch.ones_like(h0)
    lstm_forward(x, h0, c0, kernel, recurrent_kernel, bias, recurrent_mask=mask, backend="auto")
    assert calls == []
    lstm_forward(x, h0, c0, kernel, recurrent_kernel, bias, backend="auto")
    assert calls == [1]


def test_forcing_torch_with_unsupported_options_names_the_fallback():
    x, h0, c0, kernel, recurrent_kernel, bias = _random_inputs(torch.float64)
    with pytest.raises(ValueError, match=r"backend 'torch' cannot run activation='relu'.*falls back to 'reference'"):
        lstm_forward(x, h0, c0, kernel, recurrent_kernel, bias, activation="relu", backend="torch")
    with pytest.raises(ValueError, match=r"cannot run recurrent_dropout.*'reference'"):
        choose_backend("tanh", "sigmoid", True, "torch")


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match=r"unknown LSTM backend 'cudnn'; expected one of 'auto', 'blocked', 'reference', 'torch'\."):
        choose_backend("tanh", "sigmoid", False, "cudnn")
    with pytest.raises(ValueError, match="unknown LSTM backend 'fast'"):
        with use_backend("fast"):
            raise AssertionError("the block must not run with an unknown backend")
    assert current_backend() == "auto"


def test_use_backend_sets_and_restores_even_after_an_exception():
    assert current_backend() == "auto"
    with use_backend("reference"):
        assert current_backend() == "reference"
        assert choose_backend("tanh", "sigmoid", False) == "reference"
        with use_backend("torch"):
            assert current_backend() == "torch"
            with pytest.raises(ValueError, match="'reference'"):
                choose_backend("relu", "sigmoid", False)
        assert current_backend() == "reference"
    assert current_backend() == "auto"

    with pytest.raises(RuntimeError, match="boom"):
        with use_backend("reference"):
            raise RuntimeError("boom")
    assert current_backend() == "auto"
    assert dispatch._default_backend == "auto"


def test_forward_under_use_backend_runs_that_backend(monkeypatch):
    def no_torch_lstm(*args):
        raise AssertionError("torch.lstm must not run under use_backend('reference')")

    monkeypatch.setattr(torch, "lstm", no_torch_lstm)
    x, h0, c0, kernel, recurrent_kernel, bias = _random_inputs(torch.float64)
    with use_backend("reference"):
        outputs, _, _ = lstm_forward(x, h0, c0, kernel, recurrent_kernel, bias)
    expected, _, _ = lstm_sequence(x, h0, c0, kernel, recurrent_kernel, bias)
    torch.testing.assert_close(outputs, expected, rtol=0, atol=0)
