"""GRU and SimpleRNN beside the LSTM: the reference equations and the layers against torch.nn.GRU /
torch.nn.RNN (copied weights, float64), gradcheck, Keras's parameter counts, summary and outputs
(tests/data/keras_cells_golden.json, from real Keras), masks, Bidirectional, stateful, go_backwards,
return_state, save/load, trace and gate plots, the engine choice, and Forecaster(cell=...)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from lstmkit import Sequential, load_model, plot
from lstmkit.training import engine_choice
from lstmkit.cli import main
from lstmkit.forecast import Forecaster
from lstmkit.layers import GRU, LSTM, Bidirectional, Dense, Masking, SimpleRNN
from lstmkit.models import format_summary
from lstmkit.ops import use_backend
from lstmkit.ops.reference import gru_gates, gru_step, keras_gru_to_torch, simple_rnn_step

F, H, T, B = 3, 4, 6, 5
GOLDEN = json.loads((Path(__file__).parent / "data" / "keras_cells_golden.json").read_text())


def _torch_to_keras_gru(weight: torch.Tensor) -> torch.Tensor:
    """PyTorch's (3H, ...) rows r, z, n -> Keras's (..., 3H) columns z, r, h (the inverse of keras_gru_to_torch)."""
    r, z, n = weight.chunk(3, dim=0)
    keras_order = torch.cat([z, r, n], dim=0)
    return keras_order.T if keras_order.ndim == 2 else keras_order


def _gru_pair(use_bias: bool = True) -> tuple[torch.nn.GRU, GRU]:
    torch.manual_seed(0)
    theirs = torch.nn.GRU(F, H, batch_first=True, bias=use_bias).double()
    ours = GRU(H, use_bias=use_bias, return_sequences=True, return_state=True, input_shape=(T, F)).double()
    weights = [_torch_to_keras_gru(theirs.weight_ih_l0), _torch_to_keras_gru(theirs.weight_hh_l0)]
    if use_bias:
        weights.append(torch.stack([_torch_to_keras_gru(theirs.bias_ih_l0), _torch_to_keras_gru(theirs.bias_hh_l0)]))
    ours.set_weights([w.detach().numpy() for w in weights])
    return theirs, ours


def _rnn_pair(activation: str = "tanh") -> tuple[torch.nn.RNN, SimpleRNN]:
    torch.manual_seed(0)
    theirs = torch.nn.RNN(F, H, batch_first=True, nonlinearity=activation).double()
    ours = SimpleRNN(H, activation=activation, return_sequences=True, return_state=True, input_shape=(T, F)).double()
    ours.set_weights([theirs.weight_ih_l0.detach().numpy().T, theirs.weight_hh_l0.detach().numpy().T,
                      (theirs.bias_ih_l0 + theirs.bias_hh_l0).detach().numpy()])
    return theirs, ours


def _x(seed: int = 1, shape: tuple[int, ...] = (B, T, F)) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# -- the equations -------------------------------------------------------------------------------
def test_gru_step_matches_torch_gru_cell_and_the_mapping_round_trips():
    torch.manual_seed(0)
    cell = torch.nn.GRUCell(F, H).double()
    x, h = _x(shape=(B, F)), _x(2, (B, H))
    bias = torch.stack([_torch_to_keras_gru(cell.bias_ih), _torch_to_keras_gru(cell.bias_hh)])
    ours = gru_step(x, h, _torch_to_keras_gru(cell.weight_ih), _torch_to_keras_gru(cell.weight_hh), bias)
    torch.testing.assert_close(ours, cell(x, h), rtol=0, atol=1e-12)
    torch.testing.assert_close(keras_gru_to_torch(_torch_to_keras_gru(cell.weight_ih)).T, cell.weight_ih)


def test_gru_step_by_hand_with_literal_weights():
    """One unit, one feature: z = σ(0.5·1 + 0.1 + 0.2·0.5 + 0), r = σ(-1 + 0 + 0.3·0.5 + 0.2),
    h̃ = tanh(2 + 0.1 + r·(0.4·0.5 - 0.3)), h = z·0.5 + (1 - z)·h̃ (Keras's formula, in numpy)."""
    kernel = torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64)
    recurrent_kernel = torch.tensor([[0.2, 0.3, 0.4]], dtype=torch.float64)
    bias = torch.tensor([[0.1, 0.0, 0.1], [0.0, 0.2, -0.3]], dtype=torch.float64)
    gates = gru_gates(torch.ones(1, 1, dtype=torch.float64), torch.full((1, 1), 0.5, dtype=torch.float64),
                      kernel, recurrent_kernel, bias)
    z = 1 / (1 + np.exp(-(0.5 + 0.1 + 0.1)))
    r = 1 / (1 + np.exp(-(-1.0 + 0.15 + 0.2)))
    candidate = np.tanh(2.0 + 0.1 + r * (0.2 - 0.3))
    expected = [z, r, candidate, z * 0.5 + (1 - z) * candidate]
    np.testing.assert_allclose([float(g) for g in gates], expected, rtol=1e-14)


def test_simple_rnn_step_matches_torch_rnn_cell():
    torch.manual_seed(0)
    cell = torch.nn.RNNCell(F, H).double()
    x, h = _x(shape=(B, F)), _x(2, (B, H))
    ours = simple_rnn_step(x, h, cell.weight_ih.T, cell.weight_hh.T, cell.bias_ih + cell.bias_hh)
    torch.testing.assert_close(ours, cell(x, h), rtol=0, atol=1e-12)


def test_gradcheck_of_the_reference_equations():
    x = _x(shape=(2, 3, 2)).requires_grad_()
    h = _x(2, (2, 3)).requires_grad_()
    weights = [_x(3, (2, 9)).requires_grad_(), _x(4, (3, 9)).requires_grad_(), _x(5, (2, 9)).requires_grad_()]
    with use_backend("reference"):
        gru = GRU(3, return_sequences=True).double()
        assert torch.autograd.gradcheck(lambda *a: gru_gates(a[0][:, 0], *a[1:]).hidden_state, (x, h, *weights))
        rnn_weights = [w[:, :3].detach().clone().requires_grad_() for w in weights[:2]]
        assert torch.autograd.gradcheck(lambda *a: simple_rnn_step(a[0][:, 0], *a[1:]), (x, h, *rnn_weights, None))
        assert torch.autograd.gradcheck(lambda v: gru(v), (x,))


# -- the layers against PyTorch ------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["auto", "reference"])
@pytest.mark.parametrize("use_bias", [True, False])
def test_gru_layer_matches_torch_gru_forward_and_gradients(backend, use_bias):
    theirs, ours = _gru_pair(use_bias)
    x = _x()
    h0 = _x(3, (B, H))
    expected, h_n = theirs(x, h0[None])
    expected.sum().backward()
    with use_backend(backend):
        outputs, h_t = ours(x, initial_state=h0)
        outputs.sum().backward()
    torch.testing.assert_close(outputs, expected, rtol=0, atol=1e-10)
    torch.testing.assert_close(h_t, h_n[0], rtol=0, atol=1e-10)
    torch.testing.assert_close(ours.kernel.grad, _torch_to_keras_gru(theirs.weight_ih_l0.grad), rtol=0, atol=1e-6)
    torch.testing.assert_close(ours.recurrent_kernel.grad, _torch_to_keras_gru(theirs.weight_hh_l0.grad),
                               rtol=0, atol=1e-6)
    if use_bias:
        torch.testing.assert_close(ours.bias.grad[1], _torch_to_keras_gru(theirs.bias_hh_l0.grad), rtol=0, atol=1e-6)


@pytest.mark.parametrize("backend", ["auto", "reference"])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_simple_rnn_layer_matches_torch_rnn_forward_and_gradients(backend, activation):
    theirs, ours = _rnn_pair(activation)
    x = _x()
    expected, h_n = theirs(x)
    expected.sum().backward()
    with use_backend(backend):
        outputs, h_t = ours(x)
        outputs.sum().backward()
    torch.testing.assert_close(outputs, expected, rtol=0, atol=1e-10)
    torch.testing.assert_close(h_t, h_n[0], rtol=0, atol=1e-10)
    torch.testing.assert_close(ours.kernel.grad, theirs.weight_ih_l0.grad.T, rtol=0, atol=1e-6)
    torch.testing.assert_close(ours.recurrent_kernel.grad, theirs.weight_hh_l0.grad.T, rtol=0, atol=1e-6)
    torch.testing.assert_close(ours.bias.grad, theirs.bias_hh_l0.grad, rtol=0, atol=1e-6)


def test_forced_backends_that_cannot_run_a_cell_say_so():
    with use_backend("blocked"), pytest.raises(ValueError, match="backend 'blocked' runs LSTM and GRU layers only"):
        SimpleRNN(2)(torch.zeros(1, 3, 1))
    with use_backend("torch"), pytest.raises(ValueError, match=r"cannot run activation='relu'; it supports tanh/sig"):
        GRU(2, activation="relu")(torch.zeros(1, 3, 1))
    with use_backend("torch"), pytest.raises(ValueError, match=r"cannot run activation='elu'; it supports tanh/relu "):
        SimpleRNN(2, activation="elu")(torch.zeros(1, 3, 1))
    with use_backend("torch"):
        assert SimpleRNN(2, activation="relu")(torch.ones(1, 3, 1)).min() >= 0  # torch.rnn_relu


# -- Keras: parameter counts, summary, outputs -----------------------------------------------------
@pytest.mark.parametrize("cell, params", [(GRU, 7_950), (SimpleRNN, 2_600)])
def test_parameter_counts_and_summary_match_keras(cell, params):
    golden = GOLDEN["summaries"][cell.__name__]
    model = Sequential([cell(50, input_shape=(5, 1)), Dense(1)])
    assert [layer.count_params() for layer in model.layers] == golden["layer_params"] == [params, 51]
    text = format_summary(model)
    name = "gru" if cell is GRU else "simple_rnn"
    assert any(line.startswith(f" {name} ({cell.__name__})") and line.endswith(f"{params:,}") and "(None, 50)" in line
               for line in text.splitlines()), text
    lines = [line.strip() for line in text.splitlines()]
    assert all(line.strip() in lines for line in golden["lines"]), (golden["lines"], text)


@pytest.mark.parametrize("case", sorted(GOLDEN["cases"]))
@pytest.mark.parametrize("backend", ["auto", "reference"])
def test_outputs_match_real_keras(case, backend):
    spec = GOLDEN["cases"][case]
    cell = {"GRU": GRU, "SimpleRNN": SimpleRNN}[spec["class_name"]]
    x = np.asarray(spec["x"], dtype=np.float32)
    layer = cell(**spec["arguments"], input_shape=x.shape[1:])
    model = Sequential([Bidirectional(layer, input_shape=x.shape[1:]) if spec["bidirectional"] else layer])
    assert [list(w.shape) for w in model.get_weights()] == spec["weight_shapes"]
    model.set_weights([np.asarray(w, dtype=np.float32) for w in spec["weights"]])
    with use_backend(backend):
        np.testing.assert_allclose(model.predict(x), np.asarray(spec["output"]), rtol=0, atol=2e-6)


def test_keras_initialisers_and_defaults():
    torch.manual_seed(0)
    layer = GRU(8, input_shape=(3, 2))
    kernel, recurrent_kernel, bias = layer.get_weights()
    assert (kernel.shape, recurrent_kernel.shape, bias.shape) == ((2, 24), (8, 24), (2, 24))
    assert np.abs(kernel).max() <= np.sqrt(6 / (2 + 24))  # glorot_uniform
    np.testing.assert_allclose(recurrent_kernel @ recurrent_kernel.T, np.eye(8), atol=1e-5)  # orthogonal
    assert not bias.any()  # zeros
    assert (layer.activation, layer.recurrent_activation, layer.use_bias) == ("tanh", "sigmoid", True)
    assert SimpleRNN(3, use_bias=False, input_shape=(3, 2)).count_params() == 2 * 3 + 3 * 3
    with pytest.raises(ValueError, match=r"`units` must be an integer >= 1; got 0"):
        GRU(0)
    with pytest.raises(ValueError, match=r"unknown activation 'tanhh'; did you mean 'tanh'"):
        SimpleRNN(3, activation="tanhh")
    with pytest.raises(ValueError, match=r"weight 2 must have shape \(2, 24\); got \(24,\)"):
        layer.set_weights([kernel, recurrent_kernel, bias[0]])


# -- masks, directions, state ----------------------------------------------------------------------
@pytest.mark.parametrize("cell", [GRU, SimpleRNN])
@pytest.mark.parametrize("backend", ["auto", "reference"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_padded_batch_gives_each_sequence_its_own_result(cell, backend, go_backwards):
    torch.manual_seed(0)
    layer = cell(H, return_sequences=True, return_state=True, go_backwards=go_backwards, input_shape=(None, F)).double()
    x = _x()
    lengths = [6, 4, 1, 3, 5]
    mask = torch.zeros(B, T, dtype=torch.bool)
    padded = torch.zeros_like(x)
    for row, n in enumerate(lengths):
        start = 0 if row % 2 else T - n  # padding after, or before, the real steps
        mask[row, start : start + n] = True
        padded[row, start : start + n] = x[row, :n]
    with use_backend(backend):
        outputs, h_t = layer(padded, mask=mask)
        for row, n in enumerate(lengths):
            alone, alone_h = layer(x[row : row + 1, :n])
            torch.testing.assert_close(outputs[row][mask[row]], alone[0], rtol=0, atol=1e-12)
            torch.testing.assert_close(h_t[row], alone_h[0], rtol=0, atol=1e-12)
            assert not outputs[row][~mask[row]].any()


def test_lengths_in_predict_and_masking_layer_agree():
    model = Sequential([Masking(input_shape=(None, 1)), GRU(3), Dense(1)])
    sequences = [np.arange(1.0, 6.0)[:, None] / 5, np.array([[0.3], [0.7]])]
    padded = np.zeros((2, 5, 1), dtype=np.float32)
    padded[0], padded[1, 3:] = sequences[0], sequences[1]
    alone = [model.predict(s[None].astype(np.float32))[0] for s in sequences]
    np.testing.assert_allclose(model.predict(padded), alone, atol=1e-6)
    plain = Sequential([GRU(3, input_shape=(None, 1)), Dense(1)])
    plain.set_weights(model.get_weights())
    np.testing.assert_allclose(plain.predict(list(sequences), lengths=[5, 2]), alone, atol=1e-6)


def _variant(layer, **changes):
    """A copy of `layer` with its weights and some arguments changed."""
    variant = type(layer).from_config({**layer.get_config(), **changes}).double()
    variant.set_weights(layer.get_weights())
    return variant


@pytest.mark.parametrize("cell", [GRU, SimpleRNN])
def test_go_backwards_reads_the_flipped_sequence(cell):
    torch.manual_seed(0)
    forward = cell(H, return_sequences=True, input_shape=(T, F)).double()
    backward = _variant(forward, go_backwards=True)
    x = _x()
    torch.testing.assert_close(backward(x), forward(x.flip(1)), rtol=0, atol=0)


@pytest.mark.parametrize("cell", [GRU, SimpleRNN])
def test_bidirectional_concatenates_forward_and_time_ordered_backward(cell):
    torch.manual_seed(0)
    layer = Bidirectional(cell(H, return_sequences=True), input_shape=(T, F)).double()
    assert layer.count_params() == 2 * cell(H, input_shape=(T, F)).count_params()
    assert [type(layer.forward_layer), type(layer.backward_layer)] == [cell, cell]
    x = _x()
    backward = layer.backward_layer(x)
    torch.testing.assert_close(layer(x), torch.cat([layer.forward_layer(x), backward.flip(1)], dim=-1))
    rebuilt = Bidirectional.from_config(layer.get_config())
    assert type(rebuilt.forward_layer) is cell and rebuilt.backward_layer.go_backwards


@pytest.mark.parametrize("cell", [GRU, SimpleRNN])
def test_stateful_layer_continues_where_the_last_batch_stopped(cell):
    torch.manual_seed(0)
    whole = cell(H, return_sequences=True, input_shape=(None, F)).double()
    stateful = _variant(whole, stateful=True)
    x = _x()
    halves = torch.cat([stateful(x[:, :3]), stateful(x[:, 3:])], dim=1)
    torch.testing.assert_close(halves, whole(x), rtol=0, atol=1e-12)
    stateful.reset_states()
    torch.testing.assert_close(stateful(x[:, :3]), whole(x[:, :3]), rtol=0, atol=0)
    with pytest.raises(ValueError, match="carries the state of 5 sequences, but got a batch of 2"):
        stateful(x[:2])


def test_return_state_gives_the_final_state_as_keras_does():
    torch.manual_seed(0)
    x = _x()
    output, h = GRU(H, return_state=True).double()(x)
    torch.testing.assert_close(output, h)
    sequences, h = SimpleRNN(H, return_sequences=True, return_state=True).double()(x)
    torch.testing.assert_close(sequences[:, -1], h)
    _, ours = _gru_pair()
    _, h_from_initial = ours(x[:, 3:], initial_state=ours(x[:, :3])[1])  # a tensor, as Keras takes it
    torch.testing.assert_close(h_from_initial, ours(x)[1], rtol=0, atol=1e-12)


def test_recurrent_dropout_runs_the_reference_and_is_seeded():
    x = np.random.default_rng(0).normal(size=(16, 5, 1)).astype(np.float32)
    y = x.sum(axis=1)
    losses = []
    for _ in range(2):
        model = Sequential([GRU(4, dropout=0.2, recurrent_dropout=0.3, input_shape=(5, 1)), Dense(1)])
        model.compile(loss="mse", optimizer="adam")
        losses.append(model.fit(x, y, epochs=3, batch_size=4, verbose=0, seed=3).history["loss"])
    assert losses[0] == losses[1] and losses[0][-1] < losses[0][0]


# -- models: engines, saving, trace ----------------------------------------------------------------
@pytest.mark.parametrize("cell", [SimpleRNN, lambda units, **kwargs: GRU(units, use_bias=False, **kwargs)])
def test_models_without_fused_kernels_train_on_the_torch_loop(cell, monkeypatch):
    """A SimpleRNN, and a GRU without biases (the GRU's fused kernels: tests/test_fused_gru.py)."""
    def refuse(*args, **kwargs):
        raise AssertionError("a fused engine ran a model its kernels lack")

    monkeypatch.setattr(engine_choice.FusedEngine, "run", refuse)
    monkeypatch.setattr(engine_choice.FusedPredictor, "__call__", refuse)
    x = np.linspace(0, 1, 40, dtype=np.float32).reshape(8, 5, 1)
    y = x[:, -1] * 2
    model = Sequential([cell(8, input_shape=(5, 1)), Dense(1)])
    model.compile(loss="mse", optimizer="adam")
    assert engine_choice.fused_cell(model) is None
    history = model.fit(x, y, epochs=30, batch_size=1, verbose=0, seed=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert model.predict(x).shape == (8, 1)


def test_save_and_load_give_identical_predictions(tmp_path):
    torch.manual_seed(0)
    model = Sequential([GRU(4, return_sequences=True, use_bias=False, input_shape=(None, 2)),
                        Bidirectional(SimpleRNN(3, activation="relu"), merge_mode="sum"), Dense(1)])
    model.compile(loss="mse", optimizer="adam")
    x = np.random.default_rng(0).normal(size=(4, 6, 2)).astype(np.float32)
    model.fit(x, x[:, -1, :1], epochs=2, verbose=0, seed=0)
    model.save(tmp_path / "cells.lstmkit")
    loaded = load_model(tmp_path / "cells.lstmkit")
    assert loaded.get_config() == model.get_config()
    assert [type(layer) for layer in loaded.layers] == [GRU, Bidirectional, Dense]
    assert loaded.layers[0].bias is None and loaded.layers[1].forward_layer.activation == "relu"
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    for layer in (model.layers[0], model.layers[1].forward_layer):
        assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()


def test_trace_of_a_gru_follows_its_equations_and_the_fast_path():
    torch.manual_seed(0)
    model = Sequential([GRU(3, return_sequences=True, input_shape=(None, 2)), SimpleRNN(2, go_backwards=True)])
    x = np.random.default_rng(0).normal(size=(2, 5, 2)).astype(np.float32)
    gru_trace, rnn_trace = model.trace(x)
    assert (gru_trace.cell, rnn_trace.cell) == ("GRU", "SimpleRNN")
    assert list(gru_trace.arrays) == ["update_gate", "reset_gate", "candidate", "hidden_state"]
    assert list(rnn_trace.arrays) == ["hidden_state"]
    kernel, recurrent_kernel, bias = (w.astype(np.float64) for w in model.layers[0].get_weights())
    h = np.zeros((2, 3))
    for t in range(5):
        from_input, from_state = x[:, t] @ kernel + bias[0], h @ recurrent_kernel + bias[1]
        z = 1 / (1 + np.exp(-(from_input[:, :3] + from_state[:, :3])))
        r = 1 / (1 + np.exp(-(from_input[:, 3:6] + from_state[:, 3:6])))
        candidate = np.tanh(from_input[:, 6:] + r * from_state[:, 6:])
        h = z * h + (1 - z) * candidate
        for name, expected in [("update_gate", z), ("reset_gate", r), ("candidate", candidate), ("hidden_state", h)]:
            np.testing.assert_allclose(gru_trace[name][:, t], expected, atol=1e-5, err_msg=f"{name} at {t}")
    np.testing.assert_allclose(gru_trace.hidden_state, model.layers[0](torch.from_numpy(x)).detach(), atol=1e-6)
    np.testing.assert_allclose(rnn_trace.hidden_state[:, 0], model.predict(x), atol=1e-6)  # read x_4..x_0
    with pytest.raises(KeyError, match="a GRU layer trace holds update_gate, reset_gate, candidate, hidden_state"):
        gru_trace["forget_gate"]
    axes = plot.gates(model.trace(x), layer=0)
    assert [ax.get_title(loc="left") for ax in axes[1:]][:2] == ["update gate z_t (share of the old state kept)",
                                                                 "reset gate r_t"]
    assert len(axes) == 5 and len(plot.gates(model.trace(x), layer="simple_rnn")) == 2


def test_inspect_draws_a_gru_model(tmp_path, capsys):
    model = Sequential([GRU(3, input_shape=(4, 1)), Dense(1)])
    model.save(tmp_path / "gru.lstmkit")
    np.save(tmp_path / "x.npy", np.linspace(0, 1, 4)[:, None])
    assert main(["inspect", str(tmp_path / "gru.lstmkit"), "--input", str(tmp_path / "x.npy"),
                 "--out", str(tmp_path / "gates")]) == 0
    assert (tmp_path / "gates" / "gates_gru.png").read_bytes()[:4] == b"\x89PNG"
    assert "Wrote gates_gru.png" in capsys.readouterr().out


# -- Forecaster(cell=...) ---------------------------------------------------------------------------
def _series() -> pd.Series:
    t = np.arange(60)
    return pd.Series(np.sin(t / 3) + 0.05 * t, index=pd.RangeIndex(60))


def test_forecaster_cell_builds_trains_saves_and_loads(tmp_path):
    fc = Forecaster(lookback=8, horizon=3, units=6, cell="gru", epochs=3, seed=0).fit(_series())
    assert type(fc.members_[0].layers[0]) is GRU
    assert "1 x GRU(6)" in fc.summary()
    fc.save(tmp_path / "gru.lstmkit")
    loaded = Forecaster.load(tmp_path / "gru.lstmkit")
    assert loaded.cell == "gru" and loaded.get_config() == fc.get_config()
    pd.testing.assert_frame_equal(loaded.predict(), fc.predict())
    rnn = Forecaster(lookback=8, horizon=3, units=6, cell="simple_rnn", layers=2, epochs=2, seed=0).fit(_series())
    assert [type(layer) for layer in rnn.members_[0].layers] == [SimpleRNN, SimpleRNN, Dense]


def test_forecaster_files_written_before_the_cell_key_load_as_lstm(tmp_path):
    from lstmkit.saving import read_model_file, write_model_file

    fc = Forecaster(lookback=8, horizon=3, units=4, epochs=1, seed=0).fit(_series())
    fc.save(tmp_path / "old.lstmkit")
    config, tensors = read_model_file(tmp_path / "old.lstmkit")
    del config["forecaster"]["cell"]
    write_model_file(tmp_path / "old.lstmkit", config, tensors)
    loaded = Forecaster.load(tmp_path / "old.lstmkit")
    assert loaded.cell == "lstm"
    pd.testing.assert_frame_equal(loaded.predict(), fc.predict())


def test_forecaster_cell_is_checked_with_close_matches():
    with pytest.raises(ValueError, match=r"unknown cell 'gur'; did you mean 'gru'\? expected one of 'gru', 'lstm', 'simple_rnn'\."):
        Forecaster(lookback=8, horizon=3, cell="gur")
    with pytest.raises(TypeError, match="`cell` must be a name, one of 'gru', 'lstm', 'simple_rnn'; got type"):
        Forecaster(lookback=8, horizon=3, cell=GRU)
    assert Forecaster(lookback=8, horizon=3).cell == "lstm"


def test_cli_forecast_with_a_gru_cell(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["forecast", "--dataset", "nile", "--horizon", "3", "--lookback", "6", "--epochs", "2",
                 "--cell", "gru", "--levels", "none", "--quiet", "--out", str(out)]) == 0
    assert type(Forecaster.load(out / "model.lstmkit").members_[0].layers[0]) is GRU
    assert "1 x GRU(32) + Dense" in (out / "report.md").read_text()
    capsys.readouterr()
    assert main(["forecast", "--dataset", "nile", "--cell", "lstn", "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown cell 'lstn'; did you mean 'lstm'?" in err
    assert not (tmp_path / "bad").exists()


def test_the_lstm_is_unchanged_by_the_shared_base():
    layer = LSTM(5, input_shape=(3, 2))
    assert layer.count_params() == 4 * (2 * 5 + 5 * 5 + 5)
    assert layer.bias.detach()[5:10].tolist() == [1.0] * 5
    output, h, c = LSTM(5, return_state=True)(torch.zeros(2, 3, 2))
    assert output.shape == h.shape == c.shape == (2, 5)


def test_fit_warns_when_a_stateful_gru_is_shuffled():
    model = Sequential([GRU(2, stateful=True, input_shape=(3, 1)), Dense(1)])
    model.compile(loss="mse", optimizer="sgd")
    with pytest.warns(UserWarning, match=r"fit\(shuffle=True\) with a stateful GRU:.*Pass shuffle=False") as caught:
        history = model.fit(np.zeros((4, 3, 1)), np.zeros((4, 1)), batch_size=2, epochs=1, verbose=0)
    assert len(caught) == 1  # warned once, naming the GRU (it said "LSTM" before)
    assert len(history.history["loss"]) == 1  # and trained anyway
