"""ONNX export: graphs run in ONNX Runtime give what lstmkit's predict gives (float32, 1e-5)."""

import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from lstmkit import Sequential
from lstmkit.cli import main
from lstmkit.forecast import Forecaster
from lstmkit.layers import (GRU, LSTM, Bidirectional, Dense, Dropout, Embedding, Layer, Masking, RepeatVector, SimpleRNN,
                            TimeDistributed)
from lstmkit.onnx_export import OPSET


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _check(model, path, features=2, lengths=False, pad=False, sizes=((1, 6), (3, 6), (4, 9))):
    model.export_onnx(path, lengths=lengths)
    session = _session(path)
    rng = np.random.default_rng(0)
    for batch, steps in sizes:
        x = rng.normal(size=(batch, steps, features)).astype(np.float32)
        feeds, kwargs = {"x": x}, {}
        if lengths:
            real = rng.integers(1, steps + 1, size=batch)
            real[0] = steps
            for row, count in enumerate(real):
                x[row, count:] = 0.0
            feeds["lengths"], kwargs["lengths"] = real.astype(np.int64), real
        if pad:  # padding before, after and between real steps
            x[0, :2] = 0.0
            x[-1, -2:] = 0.0
        want = model.predict(x, **kwargs)
        got = session.run(None, feeds)[0]
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave"])
def test_bidirectional_stack_matches_predict(tmp_path, merge_mode):
    torch.manual_seed(0)
    model = Sequential([Bidirectional(LSTM(4, return_sequences=True), merge_mode=merge_mode, input_shape=(None, 2)),
                        Dropout(0.3), Bidirectional(LSTM(3), merge_mode=merge_mode), Dense(2, activation="tanh")])
    _check(model, tmp_path / "m.onnx")


def test_lstm_options_match_predict(tmp_path):
    torch.manual_seed(1)
    model = Sequential([
        LSTM(5, return_sequences=True, activation="relu", recurrent_activation="hard_sigmoid", input_shape=(None, 2)),
        LSTM(4, return_sequences=True, go_backwards=True), Dense(3, activation="softmax")])
    _check(model, tmp_path / "m.onnx")


def test_lengths_input_matches_predict_with_lengths(tmp_path):
    torch.manual_seed(2)
    model = Sequential([LSTM(4, return_sequences=True, go_backwards=True, input_shape=(None, 2)),
                        Bidirectional(LSTM(3, return_sequences=True)), Dense(1)])
    _check(model, tmp_path / "m.onnx", lengths=True)
    proto = onnx.load(str(tmp_path / "m.onnx"))
    assert [i.name for i in proto.graph.input] == ["x", "lengths"]
    assert proto.opset_import[0].version == OPSET


@pytest.mark.filterwarnings("ignore:`x` sample")
def test_masking_layer_matches_predict(tmp_path):
    torch.manual_seed(3)
    model = Sequential([Masking(input_shape=(None, 2)), LSTM(4, return_sequences=True, go_backwards=True),
                        Bidirectional(LSTM(3, return_sequences=True)), LSTM(2)])
    _check(model, tmp_path / "m.onnx", pad=True)
    sequences = Sequential([Masking(input_shape=(None, 2)), Bidirectional(LSTM(3, return_sequences=True)), Dense(2)])
    _check(sequences, tmp_path / "s.onnx", pad=True)


def test_tutorial_model_fixed_length_and_cli(tmp_path):
    torch.manual_seed(4)
    model = Sequential([LSTM(50, input_shape=(5, 1)), Dense(1)])
    model.export_onnx(tmp_path / "fixed.onnx", dynamic_length=False)
    dims = onnx.load(str(tmp_path / "fixed.onnx")).graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 5, 1]
    model.save(tmp_path / "m.lstmkit")
    assert main(["export", str(tmp_path / "m.lstmkit"), "--onnx", str(tmp_path / "m.onnx")]) == 0
    x = np.random.default_rng(0).random((7, 5, 1), dtype=np.float32)
    np.testing.assert_allclose(_session(tmp_path / "m.onnx").run(None, {"x": x})[0], model.predict(x), atol=1e-5)
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


def test_forecaster_graph_gives_predict(tmp_path):
    t = np.arange(80)
    series = 10 + 3 * np.sin(t / 4) + 0.05 * t
    forecaster = Forecaster(lookback=12, horizon=4, units=6, epochs=2, ensemble=2, scaler="standard").fit(series)
    forecaster.save(tmp_path / "fc.lstmkit")
    assert main(["export", str(tmp_path / "fc.lstmkit"), "--onnx", str(tmp_path / "fc.onnx")]) == 0
    window = series[-12:].reshape(1, 12, 1).astype(np.float32)
    got = _session(tmp_path / "fc.onnx").run(None, {"x": np.repeat(window, 3, axis=0)})[0]
    assert got.shape == (3, 4)
    np.testing.assert_allclose(got[2], forecaster.predict()["forecast"].to_numpy(), rtol=1e-6, atol=1e-5)


def test_gru_and_simple_rnn_converters_match_predict(tmp_path):
    torch.manual_seed(5)
    model = Sequential([GRU(4, return_sequences=True, input_shape=(None, 2)), GRU(3, return_sequences=True,
                                                                                   go_backwards=True),
                        SimpleRNN(3, return_sequences=True), SimpleRNN(2, go_backwards=True), Dense(1)])
    _check(model, tmp_path / "rnn.onnx")


def test_embedding_repeat_vector_time_distributed_converters(tmp_path):
    torch.manual_seed(6)
    ids = np.random.default_rng(0).integers(1, 20, size=(4, 7))
    ids[0, :3], ids[2, -2:] = 0, 0  # padding (id 0) before and after
    masked = Sequential([Embedding(20, 4, mask_zero=True, input_shape=(None,)), LSTM(5, return_sequences=True),
                         TimeDistributed(Dense(3, activation="tanh"))])
    encoder_decoder = Sequential([Embedding(20, 4, input_shape=(None,)), Bidirectional(LSTM(6)), RepeatVector(4),
                                  LSTM(5, return_sequences=True), TimeDistributed(Dense(2, activation="softmax"))])
    for model in (masked, encoder_decoder):
        model.export_onnx(tmp_path / "ids.onnx")
        proto_input = onnx.load(str(tmp_path / "ids.onnx")).graph.input[0].type.tensor_type
        assert proto_input.elem_type == onnx.TensorProto.INT64
        model.eval()
        with torch.no_grad():
            output, mask = model.forward_with_mask(torch.as_tensor(ids))
            want = output if mask is None else output * mask.unsqueeze(-1)  # predict's zeros at padding
        got = _session(tmp_path / "ids.onnx").run(None, {"x": ids.astype(np.int64)})[0]
        np.testing.assert_allclose(got, want.numpy(), atol=1e-5, rtol=0)


def test_export_refuses_clearly(tmp_path, capsys):
    stateful = Sequential([LSTM(3, stateful=True, input_shape=(4, 1))])
    with pytest.raises(ValueError, match="stateful"):
        stateful.export_onnx(tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="activation='gelu' has no form in ONNX's LSTM op"):
        Sequential([LSTM(3, activation="gelu", input_shape=(4, 1))]).export_onnx(tmp_path / "m.onnx")
    with pytest.raises(ValueError, match=r"\.onnx extension"):
        Sequential([LSTM(3, input_shape=(4, 1))]).export_onnx(tmp_path / "m.lstmkit")

    class Doubler(Layer):
        def forward(self, x):
            return 2 * x

    with pytest.raises(ValueError, match=r"layer 'doubler' \(Doubler\) has no ONNX converter yet"):
        Sequential([LSTM(3, input_shape=(4, 1)), Doubler()]).export_onnx(tmp_path / "m.onnx")
    assert not os.path.exists(tmp_path / "m.onnx")
    assert main(["export", str(tmp_path / "missing.lstmkit"), "--onnx", str(tmp_path / "m.onnx")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
