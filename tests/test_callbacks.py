"""lstmkit.training.callbacks (lstmkit.callbacks): EarlyStopping and ModelCheckpoint in fit."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from lstmkit import Sequential, load_model, optimizers
from lstmkit.callbacks import EarlyStopping, ModelCheckpoint
from lstmkit.layers import LSTM, Dense

from test_models import compiled_model, make_data, weights_equal


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
    x, y = make_data()
    model = compiled_model()
    # With an enormous min_delta nothing after the first epoch counts as an improvement.
    stopper = EarlyStopping(monitor="loss", patience=2, min_delta=1e9)
    history = model.fit(x, y, epochs=20, batch_size=8, verbose=0, callbacks=[stopper], seed=0)
    assert history.epoch == [0, 1, 2]
    assert stopper.stopped_epoch == 2


def test_early_stopping_restores_the_best_weights():
    x, y = make_data()
    x_val, y_val = make_data(samples=8, seed=1)
    model = compiled_model(optimizer=optimizers.Adam(learning_rate=0.05))
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
    x, y = make_data()
    x_val, y_val = make_data(samples=8, seed=1)
    model = compiled_model(optimizer=optimizers.Adam(learning_rate=0.05))
    stopper = EarlyStopping(monitor="val_loss", patience=1, min_delta=1e9)
    history = model.fit(
        x, y, epochs=20, batch_size=8, verbose=0, validation_data=(x_val, y_val), callbacks=[stopper], seed=0
    )
    assert model.evaluate(x_val, y_val, batch_size=8) == pytest.approx(history.history["val_loss"][-1], rel=1e-6)


def test_early_stopping_on_val_loss_without_validation_raises_before_training():
    x, y = make_data()
    model = compiled_model()
    before = model.get_weights()
    message = r"EarlyStopping monitors 'val_loss'.*Pass validation_data= or validation_split="
    with pytest.raises(ValueError, match=message):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[EarlyStopping(patience=1)])
    assert weights_equal(model.get_weights(), before)


def test_model_checkpoint_writes_one_file_per_epoch(tmp_path):
    x, y = make_data()
    model = compiled_model()
    pattern = str(tmp_path / "model-{epoch:02d}.lstmkit")
    model.fit(x, y, epochs=3, batch_size=8, verbose=0, callbacks=[ModelCheckpoint(pattern, monitor="loss")], seed=0)
    assert sorted(os.listdir(tmp_path)) == ["model-01.lstmkit", "model-02.lstmkit", "model-03.lstmkit"]
    np.testing.assert_array_equal(load_model(tmp_path / "model-03.lstmkit").predict(x), model.predict(x))
    assert not np.array_equal(load_model(tmp_path / "model-01.lstmkit").predict(x), model.predict(x))


def test_model_checkpoint_save_best_only(tmp_path):
    model = compiled_model()
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
    x, y = make_data()
    model = compiled_model()
    checkpoint = ModelCheckpoint(str(tmp_path / "m-{val_los:.2f}.lstmkit"), monitor="loss")
    with pytest.raises(ValueError, match=r"has a field the logs do not provide \('val_los'\); available: epoch, loss"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[checkpoint])
    assert os.listdir(tmp_path) == []


def test_bad_monitor_is_refused_before_weights_are_drawn():
    model = Sequential([LSTM(4, input_shape=(3, 1)), Dense(1)])
    model.compile(loss="mse", optimizer="adam")
    before = [w.copy() for w in model.get_weights()]
    x, y = np.ones((4, 3, 1), "float32"), np.ones((4, 1), "float32")
    with pytest.raises(ValueError, match="monitors 'val_loss'"):
        model.fit(x, y, epochs=1, seed=3, callbacks=[EarlyStopping()], verbose=0)
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
