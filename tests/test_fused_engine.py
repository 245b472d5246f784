"""lstmkit.training.fused_engine: the fused engines behind Sequential.fit/predict give the torch engine's numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lstmkit.ops.batched
import lstmkit.ops.fused
from lstmkit import Sequential
from lstmkit.callbacks import EarlyStopping
from lstmkit.layers import LSTM, Dense, Dropout
from lstmkit.ops import use_backend
from lstmkit.optimizers import SGD, Adam
from lstmkit.training import engine_choice
from lstmkit.training.batches import FitData

LSTM_ROW = engine_choice.FUSED_CELLS[LSTM]


def _data(samples=10, steps=5, features=1, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (samples, steps, features)).astype(np.float32)
    return x, x.mean(axis=1)[:, :1] * 0.8 + 0.1


def _model(units=8, optimizer="adam", stacked=False, dtype=torch.float32, loss="mse"):
    layers = [LSTM(units, return_sequences=True, input_shape=(5, 1)), LSTM(6)] if stacked else [LSTM(units, input_shape=(5, 1))]
    model = Sequential([*layers, Dense(1)])
    model.compile(loss=loss, optimizer=optimizer)
    return model.to(dtype)


def _fit_both(make, x, y, **fit_args):
    fused, general = make(), make()
    fused_history = fused.fit(x, y, verbose=0, seed=0, **fit_args)
    with use_backend("torch"):
        general_history = general.fit(x, y, verbose=0, seed=0, **fit_args)
    return fused, general, fused_history, general_history


@pytest.fixture(params=["per-sample", "batched"])
def count_fused_fits(request, monkeypatch):
    """Counts the fused engine's kernel calls; with "batched", every model it runs trains batch
    by batch (lstmkit.ops.batched), as models above the LSTM row's per_sample_max_flops do."""
    kernels = lstmkit.ops.fused
    if request.param == "batched":
        monkeypatch.setattr(LSTM_ROW, "per_sample_max_flops", 0)
        kernels = lstmkit.ops.batched
    calls = []
    original = kernels.lstm_dense_fit
    monkeypatch.setattr(kernels, "lstm_dense_fit", lambda *a, **k: calls.append(1) or original(*a, **k))
    return calls


@pytest.mark.parametrize(
    "make, batch_size",
    [
        (lambda: _model(), 1),
        (lambda: _model(), 3),  # ragged last batch
        (lambda: _model(optimizer=SGD(learning_rate=0.1, momentum=0.9)), 4),
        (lambda: _model(optimizer=Adam(learning_rate=0.01), loss="mae"), 2),
        (lambda: _model(stacked=True), 2),
    ],
)
def test_fused_fit_equals_general_loop(make, batch_size, count_fused_fits):
    x, y = _data()
    fused, general, fused_history, general_history = _fit_both(make, x, y, epochs=15, batch_size=batch_size)
    assert count_fused_fits, "the fused engine did not run"
    for ours, theirs in zip(fused.get_weights(), general.get_weights()):
        np.testing.assert_allclose(ours, theirs, atol=2e-5)
    np.testing.assert_allclose(fused_history.history["loss"], general_history.history["loss"], rtol=1e-4)
    assert fused.optimizer_state.built is None  # the fused engine never builds (or imports) torch.optim
    entries = fused.optimizer_state.weight_entries()
    for index, param in enumerate(general.parameters()):
        torch_state, entry = general.optimizer.state[param], entries[index]
        if "exp_avg" in torch_state:
            assert int(entry["step"]) == int(torch_state["step"])
            np.testing.assert_allclose(entry["exp_avg"], torch_state["exp_avg"], atol=2e-5, rtol=1e-4)
            np.testing.assert_allclose(entry["exp_avg_sq"], torch_state["exp_avg_sq"], atol=1e-7, rtol=1e-3)
        else:
            np.testing.assert_allclose(entry["momentum_buffer"], torch_state["momentum_buffer"], atol=2e-5)


@pytest.mark.parametrize("per_sample_max_flops", [LSTM_ROW.per_sample_max_flops, 0])
def test_fused_fit_equals_general_loop_float64(per_sample_max_flops, monkeypatch):
    monkeypatch.setattr(LSTM_ROW, "per_sample_max_flops", per_sample_max_flops)
    x, y = _data()
    fused, general, _, _ = _fit_both(lambda: _model(dtype=torch.float64), x.astype(np.float64), y, epochs=10, batch_size=3)
    for ours, theirs in zip(fused.get_weights(), general.get_weights()):
        np.testing.assert_allclose(ours, theirs, atol=1e-10)


def test_a_medium_model_trains_batch_by_batch_with_the_general_loops_numbers(monkeypatch):
    """LSTM(64) on windows of 24, batch 64 (W2's model): over PER_SAMPLE_MAX_FLOPS, under TRAIN_MAX_FLOPS."""
    calls = []
    original = lstmkit.ops.batched.lstm_dense_fit
    monkeypatch.setattr(lstmkit.ops.batched, "lstm_dense_fit", lambda *a, **k: calls.append(1) or original(*a, **k))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((150, 24, 1)).astype(np.float32)
    y = x[:, -3:, 0].mean(axis=1, keepdims=True)

    def make():
        model = Sequential([LSTM(64, input_shape=(24, 1)), Dense(1)])
        model.compile(loss="mse", optimizer="adam")
        return model

    assert LSTM_ROW.per_sample_max_flops < make().forward_flops(64) < LSTM_ROW.train_max_flops
    fused, general, fused_history, general_history = _fit_both(make, x, y, epochs=3, batch_size=64)
    assert calls
    for ours, theirs in zip(fused.get_weights(), general.get_weights()):
        np.testing.assert_allclose(ours, theirs, atol=2e-6)
    np.testing.assert_allclose(fused_history.history["loss"], general_history.history["loss"], rtol=1e-5)


def test_medium_models_without_scipy_and_large_models_take_the_torch_loop(monkeypatch):
    medium = Sequential([LSTM(64, input_shape=(24, 1)), Dense(1)])
    medium.compile(loss="mse", optimizer="adam")
    data = FitData(torch.zeros(256, 24, 1), torch.zeros(256, 1), 64, True)
    assert engine_choice.fused_fit_engine(medium, data) == "batched"
    monkeypatch.setattr(engine_choice, "has_blas", lambda: False)  # numba's np.dot needs scipy
    assert engine_choice.fused_fit_engine(medium, data) is None
    large = Sequential([LSTM(256, input_shape=(100, 32)), Dense(1)])  # W3: the blocked backend's
    large.compile(loss="mse", optimizer="adam")
    assert engine_choice.fused_fit_engine(large, FitData(torch.zeros(256, 100, 32), torch.zeros(256, 1), 256, True)) is None


def test_validation_and_early_stopping_on_the_fused_engine(count_fused_fits):
    x, y = _data(samples=16)
    args = dict(epochs=40, batch_size=4, validation_split=0.25,
                callbacks=[EarlyStopping(monitor="val_loss", patience=2, min_delta=1e-3, restore_best_weights=True)])
    fused, general, fused_history, general_history = _fit_both(lambda: _model(), x, y, **args)
    assert count_fused_fits
    assert len(fused_history.epoch) == len(general_history.epoch) < 40
    np.testing.assert_allclose(fused_history.history["val_loss"], general_history.history["val_loss"], rtol=1e-4)


@pytest.mark.parametrize("optimizer", ["adam", SGD(learning_rate=0.1, momentum=0.9)])
def test_optimizer_state_carries_between_engines(optimizer):
    x, y = _data()
    mixed, general = _model(optimizer=optimizer), _model(optimizer=optimizer)
    mixed.fit(x, y, epochs=4, batch_size=2, verbose=0, seed=1)  # fused
    with use_backend("torch"):
        mixed.fit(x, y, epochs=3, batch_size=2, verbose=0, seed=2)
        general.fit(x, y, epochs=4, batch_size=2, verbose=0, seed=1)
        general.fit(x, y, epochs=3, batch_size=2, verbose=0, seed=2)
    mixed.fit(x, y, epochs=2, batch_size=2, verbose=0, seed=3)  # fused again, on torch's state
    with use_backend("torch"):
        general.fit(x, y, epochs=2, batch_size=2, verbose=0, seed=3)
    for ours, theirs in zip(mixed.get_weights(), general.get_weights()):
        np.testing.assert_allclose(ours, theirs, atol=2e-5)


def test_models_the_kernels_cannot_run_take_the_general_loop(count_fused_fits):
    x, y = _data()
    dropout = Sequential([LSTM(4, input_shape=(5, 1)), Dropout(0.2), Dense(1)])
    dropout.compile(loss="mse", optimizer="adam")
    dropout.fit(x, y, epochs=1, verbose=0)
    with_metrics = _model()
    with_metrics.compile(loss="mse", optimizer="adam", metrics=["mae"])
    history = with_metrics.fit(x, y, epochs=1, verbose=0)
    relu = Sequential([LSTM(4, activation="relu", input_shape=(5, 1)), Dense(1)])
    relu.compile(loss="mse", optimizer="rmsprop")
    relu.fit(x, y, epochs=1, verbose=0)
    assert not count_fused_fits
    assert "mae" in history.history


def test_verbose_lines_from_the_fused_engine(capsys, count_fused_fits):
    x, y = _data()
    _model().fit(x, y, epochs=2, batch_size=5, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert count_fused_fits
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert lines[1].startswith("2/2 - 0s - loss: ") and lines[1].endswith("/step")


def test_fused_predict_equals_torch_forward():
    x, _ = _data(samples=7)
    model = _model(stacked=True)
    fast = model.predict(x)
    with use_backend("torch"):
        general = model.predict(x)
    with torch.no_grad():
        direct = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(fast, general, atol=1e-6)
    np.testing.assert_allclose(fast, direct, atol=1e-6)
    assert fast.shape == (7, 1) and fast.dtype == np.float32


def test_fused_predict_follows_new_weights_and_dtype():
    x, _ = _data(samples=3)
    model = _model()
    before = model.predict(x)
    model.set_weights([w * 0.5 for w in model.get_weights()])
    after = model.predict(x)
    assert not np.allclose(before, after)
    with torch.no_grad():
        np.testing.assert_allclose(after, model(torch.from_numpy(x)).numpy(), atol=1e-6)
    model.double()
    as_double = model.predict(x.astype(np.float64))
    assert as_double.dtype == np.float64
    np.testing.assert_allclose(as_double, after, atol=1e-6)


def test_fused_predict_still_checks_inputs():
    model = _model()
    bad = np.ones((2, 5, 1), np.float32)
    bad[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match="first in sample 1"):
        model.predict(bad)
    with pytest.raises(ValueError, match="expects"):
        model.predict(np.ones((2, 6, 1), np.float32))
