"""Sequential: summary, compile/fit/predict/evaluate, callbacks, saving, losses, optimizers, metrics."""

from __future__ import annotations

import functools
import json
import math
import os
import pathlib
import re

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import lstmkit.saving
from lstmkit import Sequential, load_model
from lstmkit import losses, metrics, optimizers
from lstmkit.callbacks import EarlyStopping, ModelCheckpoint
from lstmkit.layers import LSTM, Dense, Dropout
from lstmkit.models import format_summary


def _data(samples: int = 32, steps: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Windows of uniform noise; the target is the window's mean (learnable, loss ~0.1 at start)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, (samples, steps, 1)).astype(np.float32)
    return x, x.mean(axis=1)


def _model(units: int = 4, steps: int = 5) -> Sequential:
    return Sequential([LSTM(units, input_shape=(steps, 1)), Dense(1)])


def _compiled(units: int = 4, **compile_args) -> Sequential:
    model = _model(units)
    model.compile(**{"loss": "mse", "optimizer": "adam", **compile_args})
    return model


def _weights_equal(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b))


# -- summary -----------------------------------------------------------------------------------
def test_summary_has_keras_rows_shapes_and_counts():
    text = format_summary(_model(units=50))
    lines = text.splitlines()
    assert lines[0] == 'Model: "sequential"'
    assert any(re.fullmatch(r" lstm \(LSTM\)\s+\(None, 50\)\s+10,400", line) for line in lines), text
    assert any(re.fullmatch(r" dense \(Dense\)\s+\(None, 1\)\s+51", line) for line in lines), text
    assert "Total params: 10,451 (40.82 KB)" in lines
    assert "Trainable params: 10,451 (40.82 KB)" in lines
    assert "Non-trainable params: 0 (0.00 B)" in lines  # Keras 3 writes bytes with two decimals
    assert text.index(" lstm (LSTM)") < text.index(" dense (Dense)")


def test_summary_of_lstm128_and_stacked_layers():
    text = format_summary(Sequential([LSTM(128, input_shape=(3, 1)), Dense(1)]))
    assert re.search(r" lstm \(LSTM\)\s+\(None, 128\)\s+66,560\n", text)
    assert "Total params: 66,689 " in text

    stacked = Sequential(
        [LSTM(8, return_sequences=True, input_shape=(10, 2)), Dropout(0.2), LSTM(4), Dense(3)]
    )
    text = format_summary(stacked)
    assert re.search(r" lstm \(LSTM\)\s+\(None, 10, 8\)\s+352\n", text)
    assert re.search(r" dropout \(Dropout\)\s+\(None, 10, 8\)\s+0\n", text)
    assert re.search(r" lstm_1 \(LSTM\)\s+\(None, 4\)\s+208\n", text)
    assert re.search(r" dense \(Dense\)\s+\(None, 3\)\s+15\n", text)
    assert "Total params: 575 (2.25 KB)" in text


def test_summary_prints_the_same_string(capsys):
    model = _model(units=50)
    model.summary()
    assert capsys.readouterr().out == format_summary(model) + "\n"
    lines = []
    model.summary(print_fn=lines.append)
    assert lines == [format_summary(model)]


def test_summary_before_the_input_shape_is_known_explains():
    with pytest.raises(ValueError, match=r"summary\(\) needs the input shape: give the first layer input_shape="):
        format_summary(Sequential([LSTM(4), Dense(1)]))


def test_count_params():
    assert _model(units=50).count_params() == 10_451
    assert Sequential([LSTM(128, input_shape=(3, 1)), Dense(1)]).count_params() == 66_689


def test_model_built_on_first_fit_when_no_input_shape():
    model = Sequential()
    model.add(LSTM(4))
    model.add(Dense(1))
    model.compile(loss="mse", optimizer="adam")
    x, y = _data()
    model.fit(x, y, epochs=1, verbose=0, seed=0)
    assert model.built_input_shape == (5, 1)
    assert model.count_params() == 4 * (4 + 16 + 4) + 5


# -- fit ---------------------------------------------------------------------------------------
def test_fit_before_compile_raises():
    x, y = _data()
    with pytest.raises(ValueError, match=r"call model.compile\(loss=..., optimizer=...\) before fit\(\)"):
        _model().fit(x, y, verbose=0)


def test_same_seed_gives_identical_weights_and_predictions():
    x, y = _data()
    trained = []
    for construction_seed in (1, 2):
        torch.manual_seed(construction_seed)  # the two models start from different draws
        model = _compiled()
        model.fit(x, y, epochs=2, batch_size=8, verbose=0, seed=0)
        trained.append(model)
    a, b = trained
    assert _weights_equal(a.get_weights(), b.get_weights())
    np.testing.assert_array_equal(a.predict(x), b.predict(x))

    c = _compiled()
    c.fit(x, y, epochs=2, batch_size=8, verbose=0, seed=1)
    assert not _weights_equal(a.get_weights(), c.get_weights())
    assert np.abs(a.predict(x) - c.predict(x)).max() > 1e-4


def test_fit_with_seed_leaves_the_global_rng_alone():
    x, y = _data()
    model = _compiled()
    state = torch.get_rng_state()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, seed=3)
    assert torch.equal(torch.get_rng_state(), state)


def test_seed_does_not_redraw_weights_that_were_set():
    x, y = _data()
    model = _compiled()
    given = [np.full_like(w, 0.1) for w in model.get_weights()]
    model.set_weights(given)
    model.fit(x, y, epochs=1, batch_size=32, verbose=0, seed=0, shuffle=False)
    # One Adam step moves every weight by about the learning rate, not to a fresh draw.
    for before, after in zip(given, model.get_weights()):
        assert np.abs(after - before).max() < 2e-3


def test_fit_reduces_the_loss():
    x, y = _data(samples=48)
    model = _compiled(units=8, optimizer=optimizers.Adam(learning_rate=0.01))
    before = model.evaluate(x, y)
    history = model.fit(x, y, epochs=20, batch_size=8, verbose=0, seed=0)
    assert history.history["loss"][-1] < 0.1 * history.history["loss"][0]
    assert model.evaluate(x, y) < 0.1 * before


def test_history_keys_and_lengths():
    x, y = _data()
    model = _compiled(metrics=["mae"])
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0, validation_split=0.25, seed=0)
    assert list(history.history) == ["loss", "mae", "val_loss", "val_mae"]
    assert all(len(values) == 3 for values in history.history.values())
    assert history.epoch == [0, 1, 2]
    assert history.params == {"epochs": 3, "steps": 3, "verbose": 0}  # 24 training samples / 8
    assert all(isinstance(v, float) and v > 0 for values in history.history.values() for v in values)


def test_validation_split_takes_the_last_fraction():
    x, y = _data(samples=10)
    model = _compiled(metrics=["mae"])
    # 10 · (1 - 0.3) is 7.000000000000001 in floating point: Keras floors it to 7 training samples.
    history = model.fit(x, y, epochs=1, batch_size=1, verbose=0, validation_split=0.3, shuffle=False, seed=0)
    assert history.params["steps"] == 7
    val_loss, val_mae = model.evaluate(x[7:], y[7:], batch_size=1)
    assert history.history["val_loss"][0] == pytest.approx(val_loss, rel=1e-6)
    assert history.history["val_mae"][0] == pytest.approx(val_mae, rel=1e-6)
    first_loss, _ = model.evaluate(x[:3], y[:3], batch_size=1)
    assert history.history["val_loss"][0] != pytest.approx(first_loss, rel=1e-3)


def test_validation_data_is_scored_each_epoch():
    x, y = _data()
    x_val, y_val = _data(samples=8, seed=1)
    model = _compiled(metrics=["mae"])
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0, validation_data=(x_val, y_val), seed=0)
    assert history.history["val_loss"][-1] == pytest.approx(model.evaluate(x_val, y_val, batch_size=8)[0], rel=1e-6)


# -- callbacks -----------------------------------------------------------------------------------
def test_early_stopping_counts_patience_like_keras():
    stopper = EarlyStopping(monitor="val_loss", patience=2)
    stopper.on_train_begin(["loss", "val_loss"])
    values = [1.0, 0.8, 0.9, 0.85, 0.7]
    stops = [stopper.on_epoch_end(epoch, {"loss": 0.0, "val_loss": v}) for epoch, v in enumerate(values[:4])]
    # Best at epoch 1; epochs 2 and 3 do not improve: with patience=2, stop after epoch 3.
    assert stops == [False, False, False, True]
    assert stopper.stopped_epoch == 3 and stopper.best_epoch == 1

    stopper = EarlyStopping(monitor="val_accuracy", patience=0, min_delta=0.05)
    stopper.on_train_begin(["val_accuracy"])
    assert stopper.tracker.mode == "max"
    assert not stopper.on_epoch_end(0, {"val_accuracy": 0.5})
    assert not stopper.on_epoch_end(1, {"val_accuracy": 0.6})
    assert stopper.on_epoch_end(2, {"val_accuracy": 0.62})  # +0.02 is below min_delta


def test_early_stopping_stops_training():
    x, y = _data()
    model = _compiled()
    # With an enormous min_delta nothing after the first epoch counts as an improvement.
    stopper = EarlyStopping(monitor="loss", patience=2, min_delta=1e9)
    history = model.fit(x, y, epochs=20, batch_size=8, verbose=0, callbacks=[stopper], seed=0)
    assert history.epoch == [0, 1, 2]
    assert stopper.stopped_epoch == 2


def test_early_stopping_restores_the_best_weights():
    x, y = _data()
    x_val, y_val = _data(samples=8, seed=1)
    model = _compiled(optimizer=optimizers.Adam(learning_rate=0.05))
    stopper = EarlyStopping(monitor="val_loss", patience=3, min_delta=1e9, restore_best_weights=True)
    history = model.fit(
        x, y, epochs=20, batch_size=8, verbose=0, validation_data=(x_val, y_val), callbacks=[stopper], seed=0
    )
    val_losses = history.history["val_loss"]
    assert len(val_losses) == 4 and stopper.best_epoch == 0
    assert val_losses[-1] != pytest.approx(val_losses[0], rel=1e-3)  # training moved the weights
    assert model.evaluate(x_val, y_val, batch_size=8) == pytest.approx(stopper.tracker.best, rel=1e-6)
    assert stopper.tracker.best == val_losses[0]


def test_early_stopping_without_restore_keeps_the_last_weights():
    x, y = _data()
    x_val, y_val = _data(samples=8, seed=1)
    model = _compiled(optimizer=optimizers.Adam(learning_rate=0.05))
    stopper = EarlyStopping(monitor="val_loss", patience=1, min_delta=1e9)
    history = model.fit(
        x, y, epochs=20, batch_size=8, verbose=0, validation_data=(x_val, y_val), callbacks=[stopper], seed=0
    )
    assert model.evaluate(x_val, y_val, batch_size=8) == pytest.approx(history.history["val_loss"][-1], rel=1e-6)


def test_early_stopping_on_val_loss_without_validation_raises_before_training():
    x, y = _data()
    model = _compiled()
    before = model.get_weights()
    message = r"EarlyStopping monitors 'val_loss'.*Pass validation_data= or validation_split="
    with pytest.raises(ValueError, match=message):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[EarlyStopping(patience=1)])
    assert _weights_equal(model.get_weights(), before)


def test_model_checkpoint_writes_one_file_per_epoch(tmp_path):
    x, y = _data()
    model = _compiled()
    pattern = str(tmp_path / "model-{epoch:02d}.lstmkit")
    model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[ModelCheckpoint(pattern, monitor="loss")], seed=0)
    assert sorted(os.listdir(tmp_path)) == ["model-01.lstmkit", "model-02.lstmkit", "model-03.lstmkit"]
    np.testing.assert_array_equal(load_model(tmp_path / "model-03.lstmkit").predict(x), model.predict(x))
    assert not np.array_equal(load_model(tmp_path / "model-01.lstmkit").predict(x), model.predict(x))


def test_model_checkpoint_save_best_only(tmp_path):
    model = _compiled()
    checkpoint = ModelCheckpoint(str(tmp_path / "best-{epoch:02d}-{val_loss:.2f}.lstmkit"), save_best_only=True)
    single = ModelCheckpoint(str(tmp_path / "best.lstmkit"), save_best_only=True)
    for callback in (checkpoint, single):
        callback.set_model(model)
        callback.on_train_begin(["loss", "val_loss"])
    for epoch, val_loss in enumerate([0.5, 0.7, 0.4, 0.6]):
        with torch.no_grad():
            model.layers[1].bias.fill_(float(epoch))  # marks which epoch a file holds
        for callback in (checkpoint, single):
            callback.on_epoch_end(epoch, {"loss": 1.0, "val_loss": val_loss})
    assert sorted(os.listdir(tmp_path)) == ["best-01-0.50.lstmkit", "best-03-0.40.lstmkit", "best.lstmkit"]
    assert load_model(tmp_path / "best.lstmkit").layers[1].get_weights()[1].tolist() == [2.0]
    assert load_model(tmp_path / "best-01-0.50.lstmkit").layers[1].get_weights()[1].tolist() == [0.0]


def test_model_checkpoint_with_an_unknown_field_raises(tmp_path):
    x, y = _data()
    model = _compiled()
    checkpoint = ModelCheckpoint(str(tmp_path / "m-{val_los:.2f}.lstmkit"), monitor="loss")
    with pytest.raises(ValueError, match=r"has a field the logs do not provide \('val_los'\); available: epoch, loss"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[checkpoint])
    assert os.listdir(tmp_path) == []


# -- saving ---------------------------------------------------------------------------------
def test_save_then_load_gives_identical_predictions_and_compile_settings(tmp_path):
    x, y = _data()
    model = _compiled(optimizer=optimizers.Adam(learning_rate=0.005), metrics=["mae"])
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, seed=0)
    path = tmp_path / "model.lstmkit"
    model.save(path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.get_config() == model.get_config()
    assert loaded.loss == "mse" and loaded.metric_names == ["mae"]
    assert isinstance(loaded._optimizer_spec, optimizers.Adam)
    assert loaded._optimizer_spec.get_config() == model._optimizer_spec.get_config()
    assert loaded._optimizer_spec.learning_rate == 0.005
    assert loaded.evaluate(x, y) == pytest.approx(model.evaluate(x, y), rel=1e-6)
    history = loaded.fit(x, y, epochs=1, batch_size=8, verbose=0)  # ready to train on
    assert list(history.history) == ["loss", "mae"]


def test_save_and_load_an_uncompiled_model_built_by_fit(tmp_path):
    x, _ = _data()
    model = Sequential([LSTM(3, return_sequences=True), Dropout(0.1), LSTM(2), Dense(1)])
    model.predict(x)  # builds it from the data
    model.save(tmp_path / "m.lstmkit")
    loaded = load_model(tmp_path / "m.lstmkit")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    with pytest.raises(ValueError, match=r"call model.compile"):
        loaded.evaluate(x, x.mean(axis=1))


def test_failed_save_leaves_the_old_file_and_no_temporary_files(tmp_path, monkeypatch):
    path = tmp_path / "model.lstmkit"
    _compiled().save(path)
    original = path.read_bytes()

    def broken_write_bytes(self, data):
        with open(self, "wb") as handle:
            handle.write(data[: len(data) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(pathlib.Path, "write_bytes", broken_write_bytes)
    with pytest.raises(OSError, match="disk full"):
        _compiled().save(path)
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == ["model.lstmkit"]


def test_save_into_a_missing_folder_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"folder .*missing.* does not exist"):
        _compiled().save(tmp_path / "missing" / "m.lstmkit")


@pytest.fixture
def saved_model(tmp_path):
    model = _compiled(metrics=["mae"])
    path = tmp_path / "model.lstmkit"
    model.save(path)
    return model, path


def _rewrite(model: Sequential, path, config_text: str | None, **metadata_overrides: str) -> None:
    """Write `model`'s weights to `path` under a hand-made header."""
    metadata = {"format": "lstmkit", "format_version": "1", "lstmkit_version": "0.1.0"}
    if config_text is not None:
        metadata["config"] = config_text
    metadata.update(metadata_overrides)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path), metadata=metadata)


def _saved_config(model: Sequential) -> dict:
    return {"model": model.get_config(), "training": model.training_config()}


def test_load_truncated_file_raises(saved_model):
    _, path = saved_model
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"is not a readable lstmkit model file \(it may be truncated or corrupt\)"):
        load_model(path)


def test_load_random_bytes_raises(tmp_path):
    path = tmp_path / "noise.lstmkit"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match=r"is not a readable lstmkit model file"):
        load_model(path)
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"is not a readable lstmkit model file"):
        load_model(path)


def test_load_safetensors_without_lstmkit_metadata_raises(tmp_path):
    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(ValueError, match=r"is a safetensors file but not an lstmkit model"):
        load_model(path)


def test_load_damaged_config_json_raises(saved_model):
    model, path = saved_model
    load_model(path)  # the header _rewrite writes is what save() writes
    _rewrite(model, path, json.dumps(_saved_config(model)))
    np.testing.assert_array_equal(load_model(path).layers[0].get_weights()[0], model.layers[0].get_weights()[0])

    _rewrite(model, path, '{"model": {"name": "sequential", "layers": [')
    with pytest.raises(ValueError, match=r"has a damaged configuration header"):
        load_model(path)
    _rewrite(model, path, None)
    with pytest.raises(ValueError, match=r"has a damaged configuration header"):
        load_model(path)
    # Valid JSON that is not a model configuration.
    _rewrite(model, path, json.dumps({"model": {"layers": [{"class_name": "Conv1D", "config": {}}]}}))
    with pytest.raises(ValueError, match=r"holds a damaged lstmkit model: model.layers\[0\].class_name = 'Conv1D': "
                                         r"expected one of \['LSTM', 'GRU'"):
        load_model(path)
    _rewrite(model, path, "[1, 2]")
    with pytest.raises(ValueError, match=r"damaged configuration header: a JSON object was expected"):
        load_model(path)
    # The training section damaged: an unknown optimizer class.
    config = _saved_config(model)
    config["training"]["optimizer"]["class_name"] = "Adamax"
    _rewrite(model, path, json.dumps(config))
    with pytest.raises(ValueError, match=r"holds a damaged lstmkit model: training.optimizer.class_name = 'Adamax'"):
        load_model(path)


def test_load_other_format_version_or_mismatched_weights_raises(saved_model):
    model, path = saved_model
    config = _saved_config(model)
    _rewrite(model, path, json.dumps(config), format_version="9")
    with pytest.raises(ValueError, match=r"has lstmkit format_version 9; this lstmkit reads versions 1, 2"):
        load_model(path)
    config["model"]["layers"][0]["config"]["units"] = 5
    _rewrite(model, path, json.dumps(config))
    with pytest.raises(ValueError, match=r"its weights do not match its architecture"):
        load_model(path)


def test_load_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no model file at"):
        load_model(tmp_path / "nothing.lstmkit")


# -- progress display -------------------------------------------------------------------------
VERBOSE_2_LINE = re.compile(r"^\d+/\d+ - \d+s - loss: \d\.\d{4} .* - \d+(ms|us|s)/epoch - \d+(ms|us|s)/step$")


def test_verbose_2_prints_one_keras_line_per_epoch(capsys):
    x, y = _data()
    model = _compiled(metrics=["mae"])
    model.fit(x, y, epochs=3, batch_size=8, verbose=2, seed=0)
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if line.startswith("Epoch")] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    progress = [line for line in lines if not line.startswith("Epoch")]
    assert len(progress) == 3
    for line in progress:
        assert VERBOSE_2_LINE.match(line), line
        assert line.startswith("4/4 - ")
        assert " - mae: " in line


def test_verbose_1_draws_a_bar(capsys):
    x, y = _data()
    model = _compiled()
    model.fit(x, y, epochs=2, batch_size=8, verbose=1, seed=0)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2"
    bars = [line for line in lines if "[=====" in line]
    assert len(bars) == 2
    for line in bars:
        assert re.match(r"^4/4 \[={30}\] - \d+s \d+(ms|us|s)/step - loss: \d\.\d{4}", line), line


def test_verbose_0_prints_nothing(capsys):
    x, y = _data()
    model = _compiled(metrics=["mae"])
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, validation_split=0.25, seed=0)
    model.predict(x)
    model.evaluate(x, y)
    assert capsys.readouterr().out == ""


# -- predict / evaluate -----------------------------------------------------------------------
def test_predict_accepts_numpy_and_torch_and_returns_numpy():
    x, _ = _data(samples=40)
    model = _model()
    out = model.predict(x)
    assert isinstance(out, np.ndarray) and out.shape == (40, 1) and out.dtype == np.float32
    from_tensor = model.predict(torch.from_numpy(x).double())
    assert isinstance(from_tensor, np.ndarray)
    np.testing.assert_allclose(from_tensor, out, rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.predict(x, batch_size=3), out, rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.predict(x.tolist()), out, rtol=0, atol=1e-6)


def test_two_dimensional_x_is_one_feature():
    x, y = _data()
    model = _compiled()
    flat = x[:, :, 0]
    np.testing.assert_array_equal(model.predict(flat), model.predict(x))
    history = model.fit(flat, y[:, 0], epochs=1, verbose=0, seed=0)
    assert len(history.history["loss"]) == 1


def test_evaluate_matches_a_manual_computation():
    x, y = _data(samples=45)
    model = _compiled(metrics=["mae"])
    prediction = model.predict(x).astype(np.float64)
    loss, mae = model.evaluate(x, y, batch_size=8)  # uneven last batch: weighted by its size
    assert loss == pytest.approx(np.mean((prediction - y) ** 2), rel=1e-5)
    assert mae == pytest.approx(np.mean(np.abs(prediction - y)), rel=1e-5)
    assert model.evaluate(x, y, return_dict=True) == pytest.approx({"loss": loss, "mae": mae}, rel=1e-5)
    plain = _compiled()
    assert isinstance(plain.evaluate(x, y), float)


# -- losses ------------------------------------------------------------------------------------
def test_regression_losses_against_hand_values():
    y_pred = torch.tensor([[0.5], [2.0], [-1.0], [0.0]])
    y_true = torch.tensor([[0.0], [0.0], [0.0], [0.25]])
    errors = [0.5, 2.0, -1.0, -0.25]
    assert losses.get("mse")(y_pred, y_true).item() == pytest.approx(sum(e * e for e in errors) / 4)
    assert losses.get("mean_squared_error") is losses.get("mse")
    assert losses.get("mae")(y_pred, y_true).item() == pytest.approx(sum(abs(e) for e in errors) / 4)
    assert losses.get("mean_absolute_error") is losses.get("mae")
    # Huber, delta 1: e²/2 inside [-1, 1], |e| - 1/2 outside.
    huber = [0.125, 1.5, 0.5, 0.03125]
    assert losses.get("huber")(y_pred, y_true).item() == pytest.approx(sum(huber) / 4)
    assert losses.get("huber_loss") is losses.get("huber")


def test_crossentropies_against_hand_and_torch_values():
    p = torch.tensor([[0.9], [0.2], [0.6]])
    t = torch.tensor([[1.0], [0.0], [1.0]])
    expected = -(math.log(0.9) + math.log(0.8) + math.log(0.6)) / 3
    assert losses.get("binary_crossentropy")(p, t).item() == pytest.approx(expected, rel=1e-6)
    assert losses.get("binary_crossentropy")(p, t).item() == pytest.approx(
        torch.nn.functional.binary_cross_entropy(p, t).item(), rel=1e-6
    )
    # Probabilities are clipped to [1e-7, 1 - 1e-7], as in Keras: finite even when certain and wrong.
    certain = torch.tensor([[1.0]], dtype=torch.float64)
    wrong = torch.tensor([[0.0]], dtype=torch.float64)
    assert losses.get("binary_crossentropy")(certain, wrong).item() == pytest.approx(-math.log(1e-7), rel=1e-6)

    probs = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    one_hot = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    expected = -(math.log(0.7) + math.log(0.3)) / 2
    categorical = losses.get("categorical_crossentropy")
    assert categorical(probs, one_hot).item() == pytest.approx(expected, rel=1e-6)
    assert categorical(probs * 3.0, one_hot).item() == pytest.approx(expected, rel=1e-6)  # rows are normalised
    sparse = losses.get("sparse_categorical_crossentropy")
    assert sparse(probs, torch.tensor([0, 1])).item() == pytest.approx(expected, rel=1e-6)
    assert sparse(probs, torch.tensor([[0], [1]])).item() == pytest.approx(expected, rel=1e-6)
    assert sparse(probs, torch.tensor([0, 1])).item() == pytest.approx(
        torch.nn.functional.nll_loss(probs.log(), torch.tensor([0, 1])).item(), rel=1e-6
    )


def test_losses_accept_pytorch_losses_and_train_with_them():
    x, y = _data()
    model = _model()
    model.compile(loss=torch.nn.L1Loss(), optimizer="adam")
    model.fit(x, y, epochs=1, verbose=0, seed=0)
    prediction = model.predict(x)
    assert model.evaluate(x, y, batch_size=32) == pytest.approx(np.mean(np.abs(prediction - y)), rel=1e-5)
    assert model.training_config() is None  # not a name: nothing to save


def test_classification_models_train_on_each_crossentropy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 4, 2)).astype(np.float32)
    labels = (x[:, :, 0].sum(axis=1) > 0).astype(np.int64) + (x[:, :, 1].sum(axis=1) > 1)
    for loss, last, target in [
        ("sparse_categorical_crossentropy", Dense(3, activation="softmax"), labels),
        ("categorical_crossentropy", Dense(3, activation="softmax"), np.eye(3, dtype=np.float32)[labels]),
        ("binary_crossentropy", Dense(1, activation="sigmoid"), (labels > 0).astype(np.float32)),
    ]:
        model = Sequential([LSTM(4, input_shape=(4, 2)), last])
        model.compile(loss=loss, optimizer="adam", metrics=["accuracy"])
        history = model.fit(x, target, epochs=2, batch_size=8, verbose=0, seed=0)
        assert list(history.history) == ["loss", "accuracy"], loss
        assert 0.0 <= history.history["accuracy"][-1] <= 1.0
        loss_value, accuracy = model.evaluate(x, target)
        prediction = model.predict(x)
        if prediction.shape[1] == 1:
            expected = np.mean((prediction[:, 0] > 0.5) == (target > 0.5))
        else:
            expected = np.mean(prediction.argmax(axis=1) == labels)
        assert accuracy == pytest.approx(expected), loss


# -- optimizers -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, torch_class, learning_rate",
    [
        ("adam", torch.optim.Adam, 0.001),
        ("Adam", torch.optim.Adam, 0.001),
        ("adamw", torch.optim.AdamW, 0.001),
        ("sgd", torch.optim.SGD, 0.01),
        ("rmsprop", torch.optim.RMSprop, 0.001),
    ],
)
def test_optimizers_by_name_with_keras_defaults(name, torch_class, learning_rate):
    x, y = _data(samples=8)
    model = _compiled(optimizer=name)
    model.fit(x, y, epochs=1, verbose=0, seed=0)
    assert type(model.optimizer) is torch_class
    assert model.optimizer.param_groups[0]["lr"] == learning_rate
    assert model.optimizer.param_groups[0]["params"] == list(model.parameters())


def test_optimizer_objects_and_torch_factories():
    x, y = _data(samples=8)
    model = _compiled(optimizer=optimizers.Adam(learning_rate=0.05))
    model.fit(x, y, epochs=1, verbose=0, seed=0)
    group = model.optimizer.param_groups[0]
    assert type(model.optimizer) is torch.optim.Adam
    assert group["lr"] == 0.05 and group["eps"] == 1e-7 and group["betas"] == (0.9, 0.999)

    model = _compiled(optimizer=optimizers.RMSprop(learning_rate=0.01, rho=0.8))
    model.fit(x, y, epochs=1, verbose=0, seed=0)
    assert model.optimizer.param_groups[0]["alpha"] == 0.8

    model = _compiled(optimizer=functools.partial(torch.optim.SGD, lr=0.1, momentum=0.5))
    model.fit(x, y, epochs=1, verbose=0, seed=0)
    assert type(model.optimizer) is torch.optim.SGD and model.optimizer.param_groups[0]["momentum"] == 0.5

    model = _model()
    built = torch.optim.SGD(model.parameters(), lr=0.2)
    model.compile(loss="mse", optimizer=built)
    model.fit(x, y, epochs=1, verbose=0, seed=0)
    assert model.optimizer is built


def test_sgd_takes_exactly_one_gradient_step():
    x, y = _data(samples=6)
    model = _compiled(optimizer=optimizers.SGD(learning_rate=0.1))
    before = [p.detach().clone() for p in model.parameters()]
    loss = ((model(torch.from_numpy(x)) - torch.from_numpy(y)) ** 2).mean()
    grads = torch.autograd.grad(loss, list(model.parameters()))
    model.fit(x, y, epochs=1, batch_size=6, verbose=0, shuffle=False)
    for old, grad, new in zip(before, grads, model.parameters()):
        torch.testing.assert_close(new.detach(), old - 0.1 * grad, rtol=0, atol=1e-6)


def test_optimizer_factory_must_return_a_torch_optimizer():
    x, y = _data(samples=8)
    model = _compiled(optimizer=lambda params: "not an optimizer")
    with pytest.raises(TypeError, match=r"the optimizer factory returned str, not a torch.optim.Optimizer"):
        model.fit(x, y, epochs=1, verbose=0)


# -- metrics --------------------------------------------------------------------------------
def test_rmse_is_the_root_of_the_epochs_mse():
    rmse = metrics.get("rmse")
    rmse.update(torch.tensor([[1.0], [2.0]]), torch.tensor([[1.0], [2.0]]))  # errors 0, 0
    rmse.update(torch.tensor([[3.0]]), torch.tensor([[0.0]]))  # error 3
    assert rmse.result() == pytest.approx(math.sqrt(9.0 / 3.0))  # not (0 + 3) / 2
    rmse.reset()
    assert math.isnan(rmse.result())

    x, y = _data()
    model = _compiled(metrics=["mse", "rmse"])
    history = model.fit(x, y, epochs=2, batch_size=5, verbose=0, seed=0)
    for mse, root in zip(history.history["mse"], history.history["rmse"]):
        assert root == pytest.approx(math.sqrt(mse), rel=1e-6)


def test_accuracy_kinds():
    def accuracy(name, y_pred, y_true):
        metric = metrics.get(name)
        metric.update(torch.tensor(y_pred), torch.tensor(y_true))
        return metric.result()

    binary_pred, binary_true = [[0.2], [0.7], [0.6], [0.4]], [[0.0], [1.0], [0.0], [0.0]]
    assert accuracy("binary_accuracy", binary_pred, binary_true) == pytest.approx(0.75)
    assert accuracy("accuracy", binary_pred, binary_true) == pytest.approx(0.75)
    probs = [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3]]
    one_hot = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]]
    assert accuracy("categorical_accuracy", probs, one_hot) == pytest.approx(2 / 3)
    assert accuracy("accuracy", probs, one_hot) == pytest.approx(2 / 3)
    assert accuracy("sparse_categorical_accuracy", probs, [0, 2, 0]) == pytest.approx(2 / 3)
    assert accuracy("acc", probs, [0, 2, 0]) == pytest.approx(2 / 3)
    assert metrics.get("acc").name == "acc"
    assert metrics.get("mae").name == "mae"


def test_bad_monitor_is_refused_before_weights_are_drawn():
    model = Sequential([LSTM(4, input_shape=(3, 1)), Dense(1)])
    model.compile(loss="mse", optimizer="adam")
    before = [w.copy() for w in model.get_weights()]
    x, y = np.ones((4, 3, 1), "float32"), np.ones((4, 1), "float32")
    with pytest.raises(ValueError, match="monitors 'val_loss'"):
        model.fit(x, y, epochs=1, seed=3, callbacks=[EarlyStopping()], verbose=0)
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)


def test_optimizer_class_is_accepted_like_an_instance():
    model = Sequential([LSTM(4, input_shape=(3, 1)), Dense(1)])
    model.compile(loss="mse", optimizer=lstmkit.optimizers.Adam)
    model.fit(np.ones((4, 3, 1), "float32"), np.ones((4, 1), "float32"), epochs=1, verbose=0)
    assert isinstance(model.optimizer, torch.optim.Adam)
    assert model.optimizer.param_groups[0]["lr"] == pytest.approx(0.001)


def test_model_without_parameters_predicts():
    model = Sequential([Dropout(0.5, input_shape=(3,))])
    np.testing.assert_array_equal(model.predict(np.ones((2, 3), "float32")), np.ones((2, 3), "float32"))


def test_float64_model_loads_as_float64(tmp_path):
    model = Sequential([LSTM(4, input_shape=(3, 1)), Dense(1)]).double()
    x = np.random.default_rng(0).normal(size=(2, 3, 1))
    model.save(tmp_path / "m.lstmkit")
    loaded = load_model(tmp_path / "m.lstmkit")
    assert next(loaded.parameters()).dtype == torch.float64
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_saved_files_get_the_usual_permissions(tmp_path):
    model = Sequential([LSTM(2, input_shape=(3, 1)), Dense(1)])
    umask = os.umask(0o022)
    try:
        model.save(tmp_path / "m.lstmkit")
    finally:
        os.umask(umask)
    assert (tmp_path / "m.lstmkit").stat().st_mode & 0o777 == 0o644
