"""The Keras names a tutorial reaches for: each works as in Keras, or says what to use instead."""

import io

import numpy as np
import pytest
import torch

import lstmkit
from lstmkit import Sequential, load_model
from lstmkit.callbacks import Callback, EarlyStopping
from lstmkit.keras_names import NotInLstmkit
from lstmkit.layers import LSTM, Dense
from lstmkit.utils import to_categorical


def _data(samples=24, timesteps=5):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, timesteps, 1)).astype(np.float32)
    return x, x.sum(axis=1)


def _model(metrics=()):
    model = Sequential([LSTM(4, input_shape=(5, 1)), Dense(1)])
    model.compile(loss="mse", optimizer="adam", metrics=list(metrics))
    return model


def test_to_categorical_matches_keras():
    np.testing.assert_array_equal(to_categorical([0, 2, 1]), [[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    assert to_categorical([[1], [0]], num_classes=4).shape == (2, 4)  # Keras drops a trailing axis of 1
    assert to_categorical(np.array([1.0, 0.0])).dtype == np.float32
    with pytest.raises(ValueError, match=r"`num_classes` must be an integer >= 3; got 2\. It must exceed every class id"):
        to_categorical([0, 2], num_classes=2)
    with pytest.raises(ValueError, match="takes integer class ids"):
        to_categorical([0.5])


def test_save_weights_and_load_weights_round_trip(tmp_path):
    x, y = _data()
    trained = _model()
    trained.fit(x, y, epochs=2, verbose=0, seed=0)
    trained.save_weights(tmp_path / "w.weights.lstmkit")
    fresh = _model()
    fresh.load_weights(tmp_path / "w.weights.lstmkit")
    np.testing.assert_array_equal(fresh.predict(x), trained.predict(x))
    with pytest.raises(ValueError, match="holds only weights .* call model.load_weights"):
        load_model(tmp_path / "w.weights.lstmkit")
    other = Sequential([LSTM(6, input_shape=(5, 1)), Dense(1)])
    with pytest.raises(ValueError, match="'layers.0.kernel' has shape \\(1, 16\\), this model's has \\(1, 24\\)"):
        other.load_weights(tmp_path / "w.weights.lstmkit")


@pytest.mark.parametrize("name", ["model.keras", "model.h5", "weights.HDF5"])
def test_keras_extensions_are_refused_before_writing(tmp_path, name):
    model = _model()
    with pytest.raises(ValueError, match="is a Keras format, but lstmkit writes its own .* Use an .lstmkit name"):
        model.save(tmp_path / name)
    with pytest.raises(ValueError, match="is a Keras format"):
        model.save_weights(tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_early_stopping_verbose_prints_keras_lines(capsys):
    x, y = _data()
    stop = EarlyStopping(monitor="loss", patience=0, min_delta=1e9, restore_best_weights=True, verbose=1)
    history = _model().fit(x, y, epochs=5, verbose=0, callbacks=[stop], seed=0)
    assert len(history.history["loss"]) == 2
    assert capsys.readouterr().out == ("Epoch 2: early stopping\n"
                                       "Restoring model weights from the end of the best epoch: 1.\n")
    with pytest.raises(ValueError, match="`verbose` must be 0"):
        EarlyStopping(verbose="yes")


class _StopAfter(Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs):
        if epoch == self.epoch:
            self.model.stop_training = True
        return False


@pytest.mark.parametrize("metrics", [(), ("mae",)], ids=["fused engine", "torch loop"])
def test_stop_training_and_initial_epoch(metrics, capsys):
    x, y = _data()
    model = _model(metrics)
    history = model.fit(x, y, epochs=10, verbose=0, callbacks=[_StopAfter(2)], seed=0)
    assert history.epoch == [0, 1, 2]
    capsys.readouterr()
    history = model.fit(x, y, epochs=5, initial_epoch=3, verbose=2)
    assert history.epoch == [3, 4]
    printed = capsys.readouterr().out
    assert "Epoch 4/5" in printed and "Epoch 5/5" in printed and "Epoch 1/5" not in printed
    with pytest.raises(ValueError, match="initial_epoch=6 is past epochs=5"):
        model.fit(x, y, epochs=5, initial_epoch=6)


def test_layer_weights_and_model_input_shape():
    model = _model()
    lstm = model.layers[0]
    assert [tuple(w.shape) for w in lstm.weights] == [(1, 16), (4, 16), (16,)]
    assert all(isinstance(w, torch.nn.Parameter) for w in model.weights) and len(model.weights) == 5
    assert model.input_shape == (None, 5, 1)
    assert Sequential([Dense(1)]).input_shape is None


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_shows_metrics_mid_epoch_and_predict_verbose(monkeypatch):
    x, y = _data(samples=64)
    model = _model(("mae",))
    terminal = _Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    monkeypatch.setattr("lstmkit.training.ProgressBar.wants_update", lambda self: True)
    model.fit(x, y, epochs=1, batch_size=8, verbose=1)
    drawn = terminal.getvalue().split("\r")
    mid = [line for line in drawn if line.startswith("3/8 [")]
    assert mid and " - loss: " in mid[0] and " - mae: " in mid[0]
    terminal.seek(0), terminal.truncate()
    predictions = model.predict(x, batch_size=16, verbose=1)
    assert predictions.shape == (64, 1)
    assert terminal.getvalue().strip("\r\n").startswith("4/4 [==============================]")


def test_keras_names_lstmkit_lacks_say_what_to_use():
    with pytest.raises(ImportError, match="lstmkit does not implement Keras's Conv1D; lstmkit.layers has: .*LSTM"):
        from lstmkit.layers import Conv1D  # noqa: F401
    with pytest.raises(NotInLstmkit, match="CuDNNLSTM; use LSTM: on a GPU it runs cuDNN"):
        from lstmkit.layers import CuDNNLSTM  # noqa: F401
    with pytest.raises(ImportError, match="Sequential models only"):
        from lstmkit import Model  # noqa: F401
    with pytest.raises(AttributeError, match="predict_classes; use predict\\(x\\).argmax"):
        _model().predict_classes
    with pytest.raises(AttributeError, match="'Sequential' object has no attribute 'nonsense'"):
        _model().nonsense
    assert not hasattr(lstmkit.layers, "Nonsense")
