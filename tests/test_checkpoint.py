"""lstmkit.training.checkpoint: checkpoints written by ModelCheckpoint, and fit(resume_from=...) ending
as an uninterrupted run would, after a kill mid-epoch or mid-save. (Resuming under two processes:
tests/test_distributed.py.)"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lstmkit.callbacks import EarlyStopping, ModelCheckpoint
from lstmkit.models import load_model
from lstmkit.training.checkpoint import read_checkpoint

WORKER = Path(__file__).parent / "scripts" / "train_worker.py"
_spec = importlib.util.spec_from_file_location("train_worker", WORKER)
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)


# -- checkpoints and resuming in one process --------------------------------------------------
def _fit_with_checkpoints(path, epochs, dropout, metrics, resume=None, stopper=None):
    x, y = worker.make_data()
    model = worker.build(dropout, metrics)
    callbacks = [ModelCheckpoint(str(path), monitor="loss")] + ([stopper] if stopper else [])
    model.fit(x, y, epochs=epochs, batch_size=8, seed=0, verbose=0, callbacks=callbacks, resume_from=resume)
    return model


@pytest.mark.parametrize("dropout, metrics", [(0.3, True), (0.0, False)], ids=["torch-loop", "fused"])
def test_resume_ends_with_the_weights_of_an_uninterrupted_run(tmp_path, dropout, metrics):
    straight = _fit_with_checkpoints(tmp_path / "a.lstmkit", 5, dropout, metrics)
    _fit_with_checkpoints(tmp_path / "b.lstmkit", 2, dropout, metrics)
    state = read_checkpoint(tmp_path / "b.lstmkit", worker.build(dropout, metrics))
    assert state.epoch == 2 and state.world_size == 1
    assert {key.split(".", 1)[1] for key in state.optimizer} == {"step", "exp_avg", "exp_avg_sq"}
    resumed = _fit_with_checkpoints(tmp_path / "c.lstmkit", 5, dropout, metrics, resume=tmp_path / "b.lstmkit")
    np.testing.assert_allclose(worker.flat(resumed), worker.flat(straight), rtol=0, atol=1e-6)
    # A fresh start from the checkpoint's weights alone (no optimizer or generator state) ends elsewhere.
    x, y = worker.make_data()
    cold = worker.build(dropout, metrics)
    cold.set_weights(load_model(tmp_path / "b.lstmkit").get_weights())
    cold.fit(x, y, epochs=3, batch_size=8, seed=0, verbose=0)
    assert np.abs(worker.flat(cold) - worker.flat(straight)).max() > 1e-4


def test_a_checkpoint_is_a_model_file_load_model_reads(tmp_path):
    model = _fit_with_checkpoints(tmp_path / "c.lstmkit", 2, 0.0, True)
    loaded = load_model(tmp_path / "c.lstmkit")
    np.testing.assert_array_equal(worker.flat(loaded), worker.flat(model))


def test_early_stopping_state_is_resumed(tmp_path):
    # min_delta so large that only the first epoch counts as an improvement: with patience 2 the
    # run stops after its third epoch. Resumed after two epochs, the stopper must remember its
    # wait of 1 (and its best) to stop after one more, as the uninterrupted run did.
    def stopper():
        return EarlyStopping(monitor="loss", patience=2, min_delta=10.0)

    x, y = worker.make_data()
    straight = worker.build()
    history = straight.fit(x, y, epochs=6, batch_size=8, seed=0, verbose=0, callbacks=[stopper()])
    assert len(history.epoch) == 3
    _fit_with_checkpoints(tmp_path / "b.lstmkit", 2, 0.0, True, stopper=stopper())
    resumed = worker.build()
    again = resumed.fit(x, y, epochs=6, batch_size=8, seed=0, verbose=0, resume_from=tmp_path / "b.lstmkit",
                        callbacks=[ModelCheckpoint(str(tmp_path / "c.lstmkit"), monitor="loss"), stopper()])
    assert again.epoch == [2]  # waited one epoch already: stops after one more
    np.testing.assert_allclose(worker.flat(resumed), worker.flat(straight), rtol=0, atol=1e-6)


def test_sigkill_mid_epoch_resumes_from_the_last_checkpoint(tmp_path):
    ckpt = tmp_path / "ckpt.lstmkit"
    # 96 samples, validation 0.25: 5 training and 2 validation batches of 16 an epoch, each a loss
    # call; call 17 is the third training batch of epoch 3.
    killed = worker.run(tmp_path, "--epochs", "4", "--checkpoint", str(ckpt), "--kill-at-loss-call", "17", nproc=1)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert not (tmp_path / "weights-0.npy").exists()
    assert read_checkpoint(ckpt, worker.build()).epoch == 2
    worker.checked(worker.run(tmp_path, "--epochs", "4", "--resume", str(ckpt), nproc=1))
    straight = tmp_path / "straight"
    straight.mkdir()
    worker.checked(worker.run(straight, "--epochs", "4", nproc=1))
    np.testing.assert_allclose(worker.weights(tmp_path), worker.weights(straight), rtol=0, atol=1e-6)


KILL_DURING_SAVE = """
import os, signal, sys
sys.path.insert(0, {scripts!r})
import pathlib
import train_worker

real_write = pathlib.Path.write_bytes
calls = []

def write_then_die(self, data):
    calls.append(self)
    if len(calls) == 3:  # the third checkpoint: leave it half-written and die
        real_write(self, data[: len(data) // 2])
        os.kill(os.getpid(), signal.SIGKILL)
    return real_write(self, data)

pathlib.Path.write_bytes = write_then_die
train_worker.main([{out!r}, "--epochs", "4", "--checkpoint", {ckpt!r}])
"""


def test_a_kill_while_saving_leaves_the_previous_checkpoint_whole(tmp_path):
    ckpt = tmp_path / "ckpt.lstmkit"
    script = KILL_DURING_SAVE.format(scripts=str(WORKER.parent), out=str(tmp_path), ckpt=str(ckpt))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == -9, result.stderr[-2000:]
    leftovers = [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    assert len(leftovers) == 1  # the half-written third checkpoint, under its temporary name
    assert read_checkpoint(ckpt, worker.build()).epoch == 2  # the second one, whole
    worker.build().save(ckpt)  # the next save of the same target removes the killed run's temporary file
    assert [p for p in os.listdir(tmp_path) if p.endswith(".tmp")] == []


def test_resume_refuses_files_that_are_not_checkpoints_or_do_not_fit(tmp_path):
    x, y = worker.make_data()
    model = worker.build()
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "plain.lstmkit")
    with pytest.raises(ValueError, match="no training state.*ModelCheckpoint"):
        worker.build().fit(x, y, resume_from=tmp_path / "plain.lstmkit", verbose=0)
    _fit_with_checkpoints(tmp_path / "ckpt.lstmkit", 1, 0.0, True)
    from lstmkit import Sequential
    from lstmkit.layers import LSTM, Dense

    small = Sequential([LSTM(4, input_shape=(6, 2)), Dense(1)])
    small.compile(loss="mse", optimizer="adam")
    with pytest.raises(ValueError, match="different model"):
        small.fit(x, y, resume_from=tmp_path / "ckpt.lstmkit", verbose=0)
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        model.fit(x, y, resume_from=tmp_path / "missing.lstmkit", verbose=0)
