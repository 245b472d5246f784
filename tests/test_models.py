"""Sequential: summary, compile/fit/predict/evaluate, saving. (Callbacks, losses, optimizers, metrics, the
epoch loop and the progress lines have their own files, as their modules do.)"""

from __future__ import annotations

import json
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
from lstmkit.layers import LSTM, Dense, Dropout
from lstmkit.models import format_summary


def make_data(samples: int = 32, steps: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Windows of uniform noise; the target is the window's mean (learnable, loss ~0.1 at start)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, (samples, steps, 1)).astype(np.float32)
    return x, x.mean(axis=1)


def make_model(units: int = 4, steps: int = 5) -> Sequential:
    return Sequential([LSTM(units, input_shape=(steps, 1)), Dense(1)])


def compiled_model(units: int = 4, **compile_args) -> Sequential:
    model = make_model(units)
    model.compile(**{"loss": "mse", "optimizer": "adam", **compile_args})
    return model


def weights_equal(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return len(a) == len(b) and all(np.array_equal(u, v) for u, v in zip(a, b))


# -- summary -----------------------------------------------------------------------------------
def test_summary_has_keras_rows_shapes_and_counts():
    text = format_summary(make_model(units=50))
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
    model = make_model(units=50)
    model.summary()
    assert capsys.readouterr().out == format_summary(model) + "\n"
    lines = []
    model.summary(print_fn=lines.append)
    assert lines == [format_summary(model)]


def test_summary_before_the_input_shape_is_known_explains():
    with pytest.raises(ValueError, match=r"summary\(\) needs the input shape: give the first layer input_shape="):
        format_summary(Sequential([LSTM(4), Dense(1)]))


def test_count_params():
    assert make_model(units=50).count_params() == 10_451
    assert Sequential([LSTM(128, input_shape=(3, 1)), Dense(1)]).count_params() == 66_689


def test_model_built_on_first_fit_when_no_input_shape():
    model = Sequential()
    model.add(LSTM(4))
    model.add(Dense(1))
    model.compile(loss="mse", optimizer="adam")
    x, y = make_data()
    model.fit(x, y, epochs=1, verbose=0, seed=0)
    assert model.built_input_shape == (5, 1)
    assert model.count_params() == 4 * (4 + 16 + 4) + 5


# -- fit ---------------------------------------------------------------------------------------
def test_fit_before_compile_raises():
    x, y = make_data()
    with pytest.raises(ValueError, match=r"call model.compile\(loss=..., optimizer=...\) before fit\(\)"):
        make_model().fit(x, y, verbose=0)


def test_same_seed_gives_identical_weights_and_predictions():
    x, y = make_data()
    trained = []
    for construction_seed in (1, 2):
        torch.manual_seed(construction_seed)  # the two models start from different draws
        model = compiled_model()
        model.fit(x, y, epochs=2, batch_size=8, verbose=0, seed=0)
        trained.append(model)
    a, b = trained
    assert weights_equal(a.get_weights(), b.get_weights())
    np.testing.assert_array_equal(a.predict(x), b.predict(x))

    c = compiled_model()
    c.fit(x, y, epochs=2, batch_size=8, verbose=0, seed=1)
    assert not weights_equal(a.get_weights(), c.get_weights())
    assert np.abs(a.predict(x) - c.predict(x)).max() > 1e-4


def test_fit_with_seed_leaves_the_global_rng_alone():
    x, y = make_data()
    model = compiled_model()
    state = torch.get_rng_state()
    model.fit(x, y, epochs=1, batch_size=8, verbose=0, seed=3)
    assert torch.equal(torch.get_rng_state(), state)


def test_seed_does_not_redraw_weights_that_were_set():
    x, y = make_data()
    model = compiled_model()
    given = [np.full_like(w, 0.1) for w in model.get_weights()]
    model.set_weights(given)
    model.fit(x, y, epochs=1, batch_size=32, verbose=0, seed=0, shuffle=False)
    # One Adam step moves every weight by about the learning rate, not to a fresh draw.
    for before, after in zip(given, model.get_weights()):
        assert np.abs(after - before).max() < 2e-3


def test_fit_reduces_the_loss():
    x, y = make_data(samples=48)
    model = compiled_model(units=8, optimizer=optimizers.Adam(learning_rate=0.01))
    before = model.evaluate(x, y)
    history = model.fit(x, y, epochs=20, batch_size=8, verbose=0, seed=0)
    assert history.history["loss"][-1] < 0.1 * history.history["loss"][0]
    assert model.evaluate(x, y) < 0.1 * before


def test_validation_split_takes_the_last_fraction():
    x, y = make_data(samples=10)
    model = compiled_model(metrics=["mae"])
    # 10 · (1 - 0.3) is 7.000000000000001 in floating point: Keras floors it to 7 training samples.
    history = model.fit(x, y, epochs=1, batch_size=1, verbose=0, validation_split=0.3, shuffle=False, seed=0)
    assert history.params["steps"] == 7
    val_loss, val_mae = model.evaluate(x[7:], y[7:], batch_size=1)
    assert history.history["val_loss"][0] == pytest.approx(val_loss, rel=1e-6)
    assert history.history["val_mae"][0] == pytest.approx(val_mae, rel=1e-6)
    first_loss, _ = model.evaluate(x[:3], y[:3], batch_size=1)
    assert history.history["val_loss"][0] != pytest.approx(first_loss, rel=1e-3)


def test_validation_data_is_scored_each_epoch():
    x, y = make_data()
    x_val, y_val = make_data(samples=8, seed=1)
    model = compiled_model(metrics=["mae"])
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0, validation_data=(x_val, y_val), seed=0)
    assert history.history["val_loss"][-1] == pytest.approx(model.evaluate(x_val, y_val, batch_size=8)[0], rel=1e-6)


# -- saving ---------------------------------------------------------------------------------
def test_save_then_load_gives_identical_predictions_and_compile_settings(tmp_path):
    x, y = make_data()
    model = compiled_model(optimizer=optimizers.Adam(learning_rate=0.005), metrics=["mae"])
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, seed=0)
    path = tmp_path / "model.lstmkit"
    model.save(path)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.get_config() == model.get_config()
    assert loaded.loss == "mse" and loaded.metric_names == ["mae"]
    assert isinstance(loaded.optimizer_state.spec, optimizers.Adam)
    assert loaded.optimizer_state.spec.get_config() == model.optimizer_state.spec.get_config()
    assert loaded.optimizer_state.spec.learning_rate == 0.005
    assert loaded.evaluate(x, y) == pytest.approx(model.evaluate(x, y), rel=1e-6)
    history = loaded.fit(x, y, epochs=1, batch_size=8, verbose=0)  # ready to train on
    assert list(history.history) == ["loss", "mae"]


def test_save_and_load_an_uncompiled_model_built_by_fit(tmp_path):
    x, _ = make_data()
    model = Sequential([LSTM(3, return_sequences=True), Dropout(0.1), LSTM(2), Dense(1)])
    model.predict(x)  # builds it from the data
    model.save(tmp_path / "m.lstmkit")
    loaded = load_model(tmp_path / "m.lstmkit")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    with pytest.raises(ValueError, match=r"call model.compile"):
        loaded.evaluate(x, x.mean(axis=1))


def test_failed_save_leaves_the_old_file_and_no_temporary_files(tmp_path, monkeypatch):
    path = tmp_path / "model.lstmkit"
    compiled_model().save(path)
    original = path.read_bytes()

    def broken_write_bytes(self, data):
        with open(self, "wb") as handle:
            handle.write(data[: len(data) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(pathlib.Path, "write_bytes", broken_write_bytes)
    with pytest.raises(OSError, match="disk full"):
        compiled_model().save(path)
    assert path.read_bytes() == original
    assert os.listdir(tmp_path) == ["model.lstmkit"]


def test_save_into_a_missing_folder_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"folder .*missing.* does not exist"):
        compiled_model().save(tmp_path / "missing" / "m.lstmkit")


@pytest.fixture
def saved_model(tmp_path):
    model = compiled_model(metrics=["mae"])
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


# -- predict / evaluate -----------------------------------------------------------------------
def test_predict_accepts_numpy_and_torch_and_returns_numpy():
    x, _ = make_data(samples=40)
    model = make_model()
    out = model.predict(x)
    assert isinstance(out, np.ndarray) and out.shape == (40, 1) and out.dtype == np.float32
    from_tensor = model.predict(torch.from_numpy(x).double())
    assert isinstance(from_tensor, np.ndarray)
    np.testing.assert_allclose(from_tensor, out, rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.predict(x, batch_size=3), out, rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.predict(x.tolist()), out, rtol=0, atol=1e-6)


def test_two_dimensional_x_is_one_feature():
    x, y = make_data()
    model = compiled_model()
    flat = x[:, :, 0]
    np.testing.assert_array_equal(model.predict(flat), model.predict(x))
    history = model.fit(flat, y[:, 0], epochs=1, verbose=0, seed=0)
    assert len(history.history["loss"]) == 1


def test_evaluate_matches_a_manual_computation():
    x, y = make_data(samples=45)
    model = compiled_model(metrics=["mae"])
    prediction = model.predict(x).astype(np.float64)
    loss, mae = model.evaluate(x, y, batch_size=8)  # uneven last batch: weighted by its size
    assert loss == pytest.approx(np.mean((prediction - y) ** 2), rel=1e-5)
    assert mae == pytest.approx(np.mean(np.abs(prediction - y)), rel=1e-5)
    assert model.evaluate(x, y, return_dict=True) == pytest.approx({"loss": loss, "mae": mae}, rel=1e-5)
    plain = compiled_model()
    assert isinstance(plain.evaluate(x, y), float)


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
