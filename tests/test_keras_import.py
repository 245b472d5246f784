"""load_keras: files written by real Keras (tests/data/make_keras_files.py) predict what Keras predicted."""

import json
import shutil
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

import lstmkit
from lstmkit.layers import LSTM, Bidirectional

DATA = Path(__file__).parent / "data" / "keras"
CASES = {case["name"]: case for case in json.loads((DATA / "keras_files.json").read_text())["cases"]}
KERAS2_CASES = {case["name"]: case for case in json.loads((DATA / "keras2_files.json").read_text())["cases"]}
READABLE = ["lstm_dense", "any_length", "stacked_dropout_softmax", "lstm_options", "bidirectional_concat_sum",
            "bidirectional_mul_ave", "masking"]


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".keras2.h5"])
@pytest.mark.parametrize("name", READABLE)
def test_predictions_equal_keras(name, suffix):
    if suffix == ".keras2.h5" and name == "lstm_options":
        with pytest.raises(ValueError, match="Keras 2's hard_sigmoid is clip"):  # not Keras 3's: refused
            lstmkit.load_keras(DATA / f"{name}{suffix}")
        return
    case = (KERAS2_CASES if suffix == ".keras2.h5" else CASES)[name]
    model = lstmkit.load_keras(DATA / f"{name}{suffix}")
    x = np.asarray(case["x"])  # integer ids for an Embedding, else values
    got = model.predict(x.astype(np.float32) if x.dtype.kind == "f" else x)
    assert got.shape == tuple(case["y_shape"])
    np.testing.assert_allclose(got, np.asarray(case["y"], dtype=np.float32), atol=1e-5, rtol=0)


def test_layers_and_options_carried_over():
    model = lstmkit.load_keras(DATA / "lstm_options.keras")
    lstm = model.layers[0]
    assert isinstance(lstm, LSTM) and lstm.units == 4 and lstm.go_backwards and lstm.return_sequences
    assert (lstm.activation, lstm.recurrent_activation, lstm.unit_forget_bias) == ("relu", "hard_sigmoid", False)
    both = lstmkit.load_keras(DATA / "bidirectional_mul_ave.h5")
    assert [layer.merge_mode for layer in both.layers] == ["mul", "ave"]
    assert isinstance(both.layers[0], Bidirectional) and both.built_input_shape == (5, 2)
    assert lstmkit.load_keras(DATA / "any_length.keras").built_input_shape == (None, 2)


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".keras2.h5"])
@pytest.mark.parametrize("name", ["gru", "simple_rnn", "embedding_seq2seq"])
def test_files_of_the_cells_and_sequence_layers(name, suffix):
    """GRU, SimpleRNN and Embedding -> RepeatVector -> TimeDistributed files predict as Keras did."""
    test_predictions_equal_keras(name, suffix)


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".keras2.h5"])
def test_missing_layers_and_options_are_named(suffix):
    with pytest.raises(ValueError, match="is a Keras Conv1D, which lstmkit does not have yet"):
        lstmkit.load_keras(DATA / f"conv1d{suffix}")
    with pytest.raises(ValueError, match=r"layer 'lstm' \(LSTM\): option use_bias=False is not supported"):
        lstmkit.load_keras(DATA / f"lstm_no_bias{suffix}")


def test_keras2_option_without_equivalent(tmp_path):
    """A Keras 2 file (tf-keras) whose LSTM has time_major=True: refused, naming the option."""
    shutil.copy(DATA / "lstm_dense.keras2.h5", tmp_path / "tm.h5")
    with h5py.File(tmp_path / "tm.h5", "r+") as handle:
        config = json.loads(handle.attrs["model_config"])
        config["config"]["layers"][1]["config"]["time_major"] = True
        handle.attrs["model_config"] = json.dumps(config)
    with pytest.raises(ValueError, match=r"layer 'lstm' \(LSTM\): option time_major=True is not supported"):
        lstmkit.load_keras(tmp_path / "tm.h5")


def test_not_keras_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no Keras file"):
        lstmkit.load_keras(tmp_path / "absent.keras")
    with zipfile.ZipFile(tmp_path / "other.keras", "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match="not a Keras 3 archive"):
        lstmkit.load_keras(tmp_path / "other.keras")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(ValueError, match="neither a Keras 3 archive"):
        lstmkit.load_keras(tmp_path / "text.h5")
