"""Training that diverges stops clearly, on every engine; gradient clipping and ReduceLROnPlateau
work on every engine and survive a checkpoint and resume."""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import pytest

import lstmkit.ops.batched
import lstmkit.ops.fused
from lstmkit import Sequential
from lstmkit.layers import LSTM as LSTMLayer
from lstmkit.training.engine_choice import FUSED_CELLS
from lstmkit.callbacks import Callback, ModelCheckpoint, ReduceLROnPlateau, TerminateOnNaN
from lstmkit.training.divergence import TrainingDivergedError
from lstmkit.forecast import Forecaster
from lstmkit.layers import LSTM, Dense
from lstmkit.ops import use_backend
from lstmkit.optimizers import SGD, Adam


@pytest.fixture(params=["torch loop", "per-sample", "batched"])
def engine(request, monkeypatch):
    """(name, a context to train in (a function making one), the list the fused kernels' calls are counted in)."""
    calls: list[int] = []
    kernels = lstmkit.ops.batched if request.param == "batched" else lstmkit.ops.fused
    if request.param == "batched":
        monkeypatch.setattr(FUSED_CELLS[LSTMLayer], "per_sample_max_flops", 0)
    original = kernels.lstm_dense_fit
    monkeypatch.setattr(kernels, "lstm_dense_fit", lambda *a, **k: calls.append(1) or original(*a, **k))
    def context():
        return use_backend("torch") if request.param == "torch loop" else contextlib.nullcontext()

    return request.param, context, calls


def _data(samples=16, scale=1.0):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (samples, 5, 1)).astype(np.float32) * scale
    return x, (x.sum(axis=1) * 3.0).astype(np.float32)


def _model(optimizer) -> Sequential:
    model = Sequential([LSTM(6, input_shape=(5, 1)), Dense(1)])
    model.compile(loss="mse", optimizer=optimizer)
    rng = np.random.default_rng(1)  # fixed weights, so fit(seed=...) does not re-draw them
    model.set_weights([rng.uniform(-0.3, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
    return model


class _Recorder(Callback):
    """Keeps the weights at the end of every epoch the callbacks see."""

    def __init__(self) -> None:
        super().__init__()
        self.weights: list[list[np.ndarray]] = []

    def on_epoch_end(self, epoch, logs):
        self.weights.append(self.model.get_weights())
        return False


def _check_engine(name: str, calls: list[int]) -> None:
    assert bool(calls) == (name != "torch loop"), f"{name} did not run"


def test_sgd_with_learning_rate_1e3_stops_with_the_last_finite_epoch_on_every_engine(engine):
    name, context, calls = engine
    x, y = _data()
    model = _model(SGD(learning_rate=3.0))
    recorder = _Recorder()
    with context(), pytest.raises(TrainingDivergedError) as caught:
        model.fit(x, y, epochs=30, batch_size=4, verbose=0, seed=0, callbacks=[recorder])
    _check_engine(name, calls)
    error = caught.value
    assert error.epoch >= 2 and error.batch is not None and np.isfinite(error.last_finite_loss)
    assert f"at epoch {error.epoch}, batch {error.batch} of 4" in str(error)
    assert "learning rate too large" in str(error) and "unscaled data" in str(error)
    assert len(error.history.epoch) == error.epoch - 1 == len(recorder.weights)
    for ours, kept in zip(model.get_weights(), recorder.weights[-1]):  # the last finite epoch's weights
        np.testing.assert_array_equal(ours, kept)
    assert np.isfinite(model.predict(x)).all()


def test_a_fit_without_callbacks_stops_the_same_way(engine):
    """Without per-epoch work the fused engines run all epochs in one call; a divergence inside it
    must give the same epoch, batch and weights as a fit that runs epoch by epoch."""
    name, context, calls = engine
    x, y = _data()
    errors, weights = [], []
    for callbacks in ([_Recorder()], []):
        model = _model(SGD(learning_rate=3.0))
        with context(), pytest.raises(TrainingDivergedError) as caught:
            model.fit(x, y, epochs=30, batch_size=4, verbose=0, seed=0, callbacks=callbacks)
        errors.append((caught.value.epoch, caught.value.batch, caught.value.last_finite_loss))
        weights.append(model.get_weights())
    _check_engine(name, calls)
    assert errors[0] == errors[1]
    for ours, theirs in zip(*weights):
        np.testing.assert_array_equal(ours, theirs)


def test_data_scaled_1e30_stops_in_the_first_epoch_with_the_initial_weights(engine):
    name, context, calls = engine
    x, y = _data(scale=1e30)
    model = _model(Adam())
    before = model.get_weights()
    with context(), pytest.raises(TrainingDivergedError, match=r"became (inf|nan) at epoch 1, batch 1 of 4; no batch "
                                                              r"had a finite loss before it.*weights the fit started"):
        model.fit(x, y, epochs=5, batch_size=4, verbose=0, seed=0)
    _check_engine(name, calls)
    for ours, first in zip(model.get_weights(), before):
        np.testing.assert_array_equal(ours, first)
    assert model.optimizer_state.built is None and model.optimizer_state.to_tensors() == {}  # a fresh start next time


def test_terminate_on_nan_ends_quietly_with_keras_line(engine, capsys):
    name, context, calls = engine
    x, y = _data()
    model = _model(SGD(learning_rate=3.0))
    with context():
        history = model.fit(x, y, epochs=30, batch_size=4, verbose=2, seed=0, callbacks=[TerminateOnNaN()])
    _check_engine(name, calls)
    assert 1 <= len(history.epoch) < 30 and np.isfinite(history.history["loss"]).all()
    assert "Invalid loss, terminating training" in capsys.readouterr().out
    assert np.isfinite(model.predict(x)).all()


def test_forecaster_on_unscaled_huge_values_stops_clearly():
    series = pd.Series(np.sin(np.arange(80) / 3) * 1e30 + 1e30)
    forecaster = Forecaster(lookback=6, horizon=2, units=4, epochs=3, scaler="none", relative=False,
                            validation_split=0.0)
    with pytest.raises(TrainingDivergedError, match=r"training diverged: the loss became inf.*unscaled data"):
        forecaster.fit(series)


@pytest.mark.parametrize("clipping", [{"clipnorm": 0.05}, {"clipvalue": 0.01}])
def test_clipping_gives_the_same_numbers_on_every_engine(engine, clipping):
    name, context, calls = engine
    x, y = _data()
    with use_backend("torch"):  # the torch loop's numbers, clipped by the optimizer's pre-step hook
        reference = _model(Adam(learning_rate=0.01, **clipping))
        reference.fit(x, y, epochs=3, batch_size=4, verbose=0, seed=0)
        unclipped = _model(Adam(learning_rate=0.01))
        unclipped.fit(x, y, epochs=3, batch_size=4, verbose=0, seed=0)
    model = _model(Adam(learning_rate=0.01, **clipping))
    with context():
        model.fit(x, y, epochs=3, batch_size=4, verbose=0, seed=0)
    _check_engine(name, calls)
    for ours, theirs, free in zip(model.get_weights(), reference.get_weights(), unclipped.get_weights()):
        np.testing.assert_allclose(ours, theirs, atol=2e-6)
    assert max(abs(a - b).max() for a, b in zip(model.get_weights(), unclipped.get_weights())) > 1e-3


def test_clipping_arguments_are_checked_and_saved(tmp_path):
    with pytest.raises(ValueError, match="pass clipnorm or clipvalue, not both"):
        Adam(clipnorm=1.0, clipvalue=0.5)
    with pytest.raises(ValueError, match=r"`clipnorm` must be a positive number; got -1"):
        SGD(clipnorm=-1)
    model = _model(SGD(learning_rate=0.1, clipvalue=0.5))
    model.save(tmp_path / "m.lstmkit")
    from lstmkit import load_model

    assert load_model(tmp_path / "m.lstmkit").optimizer_state.spec.clipvalue == 0.5


def test_reduce_lr_on_plateau_on_every_engine(engine, capsys):
    name, context, calls = engine
    x, y = _data()
    model = _model(Adam(learning_rate=0.01))
    # min_delta so large that no epoch after the first counts as an improvement
    reducer = ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=1e9, verbose=1, min_lr=0.002)
    with context():
        model.fit(x, y, epochs=5, batch_size=4, verbose=0, seed=0, callbacks=[reducer])
    _check_engine(name, calls)
    assert model.optimizer_state.learning_rate == pytest.approx(0.002)  # 0.01 -> 0.005 -> 0.0025 -> 0.002 (min_lr)
    assert "Epoch 2: ReduceLROnPlateau reducing learning rate to 0.005." in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"`factor` must be a number in \(0, 1\)"):
        ReduceLROnPlateau(factor=1.5)


def test_reduce_lr_on_plateau_resumes_exactly(engine, tmp_path):
    name, context, calls = engine
    x, y = _data()

    def run(epochs, resume=None):
        model = _model(Adam(learning_rate=0.02))
        callbacks = [ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_delta=1e9),
                     ModelCheckpoint(str(tmp_path / "ckpt.lstmkit"), monitor="loss")]
        with context():
            model.fit(x, y, epochs=epochs, batch_size=4, verbose=0, seed=0, callbacks=callbacks, resume_from=resume)
        return model

    straight = run(4)
    run(2)
    resumed = run(4, resume=tmp_path / "ckpt.lstmkit")
    _check_engine(name, calls)
    assert resumed.optimizer_state.learning_rate == straight.optimizer_state.learning_rate == pytest.approx(0.02 * 0.5**3)
    for ours, theirs in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
