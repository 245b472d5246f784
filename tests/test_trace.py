"""model.trace: the reference equations' gates on each LSTM layer's actual input, equal to the
fast path; the gate plot; `lstmkit inspect`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstmkit import Sequential, load_model, plot
from lstmkit.cli import main
from lstmkit.layers import LSTM, Bidirectional, Dense, Dropout, Masking
from lstmkit.ops.dispatch import current_backend
from lstmkit.trace import GATE_NAMES


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _model() -> Sequential:
    torch.manual_seed(0)
    return Sequential(
        [
            LSTM(5, return_sequences=True, input_shape=(None, 2)),
            Dropout(0.5),  # off when tracing: trace reads the model as predict does
            Bidirectional(LSTM(4, return_sequences=True)),
            LSTM(3, go_backwards=True),
            Dense(1),
        ]
    )


def _layer_outputs(model: Sequential, x: np.ndarray) -> dict[str, np.ndarray]:
    """Each layer's output on the fast path ("auto" picks PyTorch's fused op), by layer name."""
    outputs = {}
    hooks = [
        layer.register_forward_hook(lambda module, args, output, name=layer.name: outputs.__setitem__(name, output))
        for layer in model.layers
    ]
    model.predict(x)
    for hook in hooks:
        hook.remove()
    return {name: value.numpy() for name, value in outputs.items()}


X = np.random.default_rng(0).standard_normal((3, 7, 2)).astype(np.float32)


def test_one_entry_per_lstm_in_model_order_with_bidirectional_as_two():
    trace = _model().trace(X)
    assert [entry.name for entry in trace] == ["lstm", "bidirectional/forward", "bidirectional/backward", "lstm_1"]
    assert [entry.go_backwards for entry in trace] == [False, False, True, True]
    units = [5, 4, 4, 3]
    for entry, h in zip(trace, units):
        for gate in GATE_NAMES:
            assert getattr(entry, gate).shape == (3, 7, h)
            assert getattr(entry, gate).dtype == np.float32
            np.testing.assert_array_equal(entry[gate], getattr(entry, gate))
    np.testing.assert_array_equal(trace[0].inputs, X)
    assert trace[3].inputs.shape == (3, 7, 8)  # the Bidirectional's concat output


def test_hidden_states_equal_the_fast_path_outputs():
    model = _model()
    assert current_backend() == "auto"
    trace = model.trace(X)
    out = _layer_outputs(model, X)
    np.testing.assert_allclose(trace[0].hidden_state, out["lstm"], atol=1e-6)
    # Bidirectional output: forward h_t, then backward h_t, both in time order, so is the trace.
    np.testing.assert_allclose(trace[1].hidden_state, out["bidirectional"][..., :4], atol=1e-6)
    np.testing.assert_allclose(trace[2].hidden_state, out["bidirectional"][..., 4:], atol=1e-6)
    # go_backwards without return_sequences: the final state is the one after reading x_0, step 0.
    np.testing.assert_allclose(trace[3].hidden_state[:, 0], out["lstm_1"], atol=1e-6)
    # Each layer's recorded input is what the fast path fed it.
    np.testing.assert_allclose(trace[3].inputs, out["bidirectional"], atol=1e-6)


def test_gates_follow_the_equations():
    model = _model()
    entry = model.trace(X)[0]
    kernel, recurrent_kernel, bias = (w.astype(np.float64) for w in model.layers[0].get_weights())
    h, c = np.zeros((3, 5)), np.zeros((3, 5))
    for t in range(7):
        z = X[:, t] @ kernel + h @ recurrent_kernel + bias
        i, f, g, o = _sigmoid(z[:, :5]), _sigmoid(z[:, 5:10]), np.tanh(z[:, 10:15]), _sigmoid(z[:, 15:])
        c = f * c + i * g
        h = o * np.tanh(c)
        for name, expected in [("input_gate", i), ("forget_gate", f), ("candidate", g), ("output_gate", o),
                               ("cell_state", c), ("hidden_state", h)]:
            np.testing.assert_allclose(entry[name][:, t], expected, atol=1e-5, err_msg=f"{name} at step {t}")
    assert 0 < entry.forget_gate.min() and entry.forget_gate.max() < 1


def test_backward_trace_step_t_is_the_state_after_reading_from_the_end_to_t():
    model = Sequential([LSTM(3, go_backwards=True, input_shape=(7, 2))])
    entry = model.trace(X)[0]
    for t in (0, 3, 6):
        alone = model.layers[0](torch.from_numpy(X[:, t:].copy())).detach().numpy()  # reads x_6 .. x_t
        np.testing.assert_allclose(entry.hidden_state[:, t], alone, atol=1e-6)


def test_trace_of_variable_length_input_is_each_sequence_alone_and_nan_at_padding():
    model = _model()
    sequences = [X[0], X[1, :4], X[2, :2]]
    trace = model.trace(sequences, lengths=[7, 4, 2])
    for k, sequence in enumerate(sequences):
        alone = model.trace(sequence[None])
        n = len(sequence)
        for entry, single in zip(trace, alone):
            for gate in GATE_NAMES:
                np.testing.assert_allclose(entry[gate][k, :n], single[gate][0], atol=1e-5, err_msg=f"{entry.name} {gate}")
                assert np.isnan(entry[gate][k, n:]).all()
    np.testing.assert_array_equal(trace[0].mask.sum(axis=1), [7, 4, 2])


def test_trace_through_masking_marks_padding():
    model = Sequential([Masking(input_shape=(None, 2)), LSTM(3)])
    padded = np.zeros((1, 6, 2), dtype=np.float32)
    padded[0, 2:] = X[0, :4]  # padding first ("pre")
    entry = model.trace(padded)[0]
    assert np.isnan(entry.hidden_state[0, :2]).all()
    np.testing.assert_allclose(entry.hidden_state[0, 2:], model.trace(X[:1, :4])[0].hidden_state[0], atol=1e-6)


def test_trace_reads_any_length_but_checks_features():
    model = Sequential([LSTM(3, input_shape=(5, 2))])
    assert model.trace(np.zeros((1, 12, 2), dtype=np.float32))[0].hidden_state.shape == (1, 12, 3)
    with pytest.raises(ValueError, match=r"`x` has shape \(1, 12, 3\) but the model reads sequences of 2 feature"):
        model.trace(np.zeros((1, 12, 3)))


def test_trace_of_a_stateful_layer_starts_from_its_state_and_keeps_it():
    model = Sequential([LSTM(3, stateful=True, return_sequences=True, input_shape=(None, 2))])
    model.predict(X[:, :3], batch_size=3)
    carried = [s.clone() for s in model.layers[0].states]
    entry = model.trace(X[:, 3:])[0]
    for before, after in zip(carried, model.layers[0].states):
        torch.testing.assert_close(before, after)
    np.testing.assert_allclose(entry.hidden_state, model.predict(X[:, 3:], batch_size=3), atol=1e-6)


# -- the plot -------------------------------------------------------------------------------------
def test_gates_plot_draws_the_input_and_six_heatmaps():
    trace = _model().trace(X)
    axes = plot.gates(trace, layer="bidirectional/backward", sample=2, times=[f"d{t}" for t in range(7)])
    assert len(axes) == 7
    assert "bidirectional/backward" in axes[0].get_title() and "read last step first" in axes[0].get_title()
    assert [ax.get_title(loc="left") for ax in axes[1:]] == [
        "input gate i_t", "forget gate f_t", "candidate g_t", "output gate o_t", "cell state c_t", "hidden state h_t"
    ]
    np.testing.assert_array_equal(axes[0].lines[0].get_ydata(), X[2, :, 0])
    np.testing.assert_array_equal(axes[6].images[0].get_array(), trace[2].hidden_state[2].T)
    assert axes[-1].get_xticklabels()[0].get_text() == "d0"
    with pytest.raises(ValueError, match=r"no traced layer named 'lstm_9'; the trace holds \['lstm', "):
        plot.gates(trace, layer="lstm_9")
    with pytest.raises(ValueError, match=r"`sample` 3 is out of range: the trace holds 3 samples"):
        plot.gates(trace, sample=3)


# -- the command line ----------------------------------------------------------------------------
@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.lstmkit"
    _model().save(path)
    return path


def test_inspect_writes_one_png_per_traced_layer(tmp_path, saved, capsys):
    np.save(tmp_path / "x.npy", X)
    out = tmp_path / "gates"
    assert main(["inspect", str(saved), "--input", str(tmp_path / "x.npy"), "--out", str(out), "--sample", "1"]) == 0
    names = ["gates_lstm.png", "gates_bidirectional_forward.png", "gates_bidirectional_backward.png", "gates_lstm_1.png"]
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    for name in names:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Wrote gates_lstm.png" in capsys.readouterr().out


def test_inspect_reads_a_csv_with_dates(tmp_path, saved):
    csv = tmp_path / "series.csv"
    csv.write_text("date,a,b\n" + "".join(f"2024-04-{d + 1:02d},{X[0, d, 0]},{X[0, d, 1]}\n" for d in range(7)))
    assert main(["inspect", str(saved), "--input", str(csv), "--out", str(tmp_path / "out")]) == 0
    assert len(list((tmp_path / "out").iterdir())) == 4


@pytest.mark.parametrize(
    "content, message",
    [
        ("missing", r"no input file at"),
        ("date,a\n2024-01-01,x\n", r"needs numeric feature columns"),
        ("a\n1\n2\n", r"has shape \(1, 2, 1\) but the model reads sequences of 2 feature"),
        ("a,b\n1,nan\n", r"holds NaN or inf values"),
    ],
)
def test_inspect_bad_input_is_one_line_and_exit_2(tmp_path, saved, capsys, content, message):
    path = tmp_path / "input.csv"
    if content != "missing":
        path.write_text(content)
    out = tmp_path / "out"
    assert main(["inspect", str(saved), "--input", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lstmkit: error: ")
    assert __import__("re").search(message, err), err
    assert not out.exists()  # nothing written on failure


def test_inspect_a_model_without_lstm_and_a_bad_sample(tmp_path, capsys, saved):
    np.save(tmp_path / "x.npy", X)
    assert main(["inspect", str(saved), "--input", str(tmp_path / "x.npy"), "--sample", "5", "--out", str(tmp_path / "o")]) == 2
    assert "--sample 5" in capsys.readouterr().err
    dense = Sequential([Dense(2, input_shape=(2,))])
    dense.save(tmp_path / "dense.lstmkit")
    np.save(tmp_path / "flat.npy", np.zeros((4, 2), dtype=np.float32))
    assert main(["inspect", str(tmp_path / "dense.lstmkit"), "--input", str(tmp_path / "flat.npy"), "--out", str(tmp_path / "o")]) == 2
    assert load_model(saved).layers[0].units == 5


def test_inspect_a_forecaster_file_traces_its_own_last_window(tmp_path, capsys):
    from lstmkit.forecast import Forecaster

    series = np.sin(np.arange(80) / 3.0) + 0.01 * np.arange(80)
    forecaster = Forecaster(lookback=8, horizon=2, units=3, epochs=2, levels=(), seed=0).fit(series, verbose=0)
    forecaster.save(tmp_path / "fc.lstmkit")
    assert main(["inspect", str(tmp_path / "fc.lstmkit"), "--out", str(tmp_path / "gates")]) == 0
    assert [p.name for p in (tmp_path / "gates").iterdir()] == ["gates_lstm.png"]
    # The traced window is what predict() feeds the network: scaled, relative to the last value.
    x, times = Forecaster.load(tmp_path / "fc.lstmkit").network_input()
    scaled = np.asarray(forecaster.scalers_[None].target.transform(series[-8:])).reshape(-1)
    assert x.shape == (1, 8, 1) and x[0, -1, 0] == 0.0 and list(times) == list(range(72, 80))
    np.testing.assert_allclose(x[0, :, 0], scaled - scaled[-1], atol=1e-6)
    capsys.readouterr()
    assert main(["inspect", str(tmp_path / "fc.lstmkit"), "--input", "x.npy", "--out", str(tmp_path / "g2")]) == 2
    assert "is a Forecaster file, traced on its own last window; drop --input" in capsys.readouterr().err
    assert main(["inspect", str(tmp_path / "fc.lstmkit"), "--series", "7", "--out", str(tmp_path / "g2")]) == 2
    assert "series_id='7' is not one of the fitted series" in capsys.readouterr().err


def test_inspect_a_model_file_needs_input(tmp_path, saved, capsys):
    assert main(["inspect", str(saved), "--out", str(tmp_path / "o")]) == 2
    assert "is a model file: pass --input FILE" in capsys.readouterr().err
