"""Data-parallel training under torchrun (2 processes, gloo, CPU), checkpoints and resuming."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DistributedSampler

from lstmkit.training import sampling
from lstmkit.callbacks import EarlyStopping, ModelCheckpoint
from lstmkit.training.checkpoint import read_checkpoint
from lstmkit.models import load_model

WORKER = Path(__file__).parent / "scripts" / "train_worker.py"
_spec = importlib.util.spec_from_file_location("train_worker", WORKER)
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)


def run_worker(out: Path, *args: str, nproc: int = 2) -> subprocess.CompletedProcess:
    """The worker under torchrun (nproc > 1) or as a plain process."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    command = [*(launcher if nproc > 1 else [sys.executable]), str(WORKER), str(out), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    return subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)


def checked(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result


def weights(out: Path, rank: int = 0) -> np.ndarray:
    return np.load(out / f"weights-{rank}.npy")


def flat(model) -> np.ndarray:
    return np.concatenate([w.ravel() for w in model.get_weights()])


# -- the epoch order ------------------------------------------------------------------------
@pytest.mark.parametrize("samples", [1, 3, 10, 97])
@pytest.mark.parametrize("world", [1, 2, 3])
@pytest.mark.parametrize("shuffle", [True, False])
def test_epoch_order_is_distributed_samplers(samples, world, shuffle):
    for rank in range(world):
        sampler = DistributedSampler(range(samples), num_replicas=world, rank=rank, shuffle=shuffle, seed=11)
        sampler.set_epoch(4)
        ours = torch.cat(list(sampling.epoch_order(samples, 4, 11, shuffle, world, rank)))
        assert ours.tolist() == list(sampler)
        batches = list(sampling.epoch_batches(samples, 2 * world, 4, 11, shuffle, world, rank))
        assert torch.cat(batches).tolist() == list(sampler)
        assert len(batches) == sampling.steps_per_epoch(samples, 2 * world, world)


def test_global_batches_are_the_same_on_one_and_two_processes():
    one = list(sampling.epoch_batches(40, 8, 0, 3, True))
    two = [list(sampling.epoch_batches(40, 8, 0, 3, True, 2, rank)) for rank in range(2)]
    for k, batch in enumerate(one):
        assert sorted(batch.tolist()) == sorted(two[0][k].tolist() + two[1][k].tolist())


def test_block_shuffle_covers_every_sample_once_with_little_memory(monkeypatch):
    monkeypatch.setattr(sampling, "BLOCK_SHUFFLE_MIN", 100)
    monkeypatch.setattr(sampling, "BLOCK", 16)
    monkeypatch.setattr(sampling, "BUFFER_BLOCKS", 4)
    pieces = list(sampling.epoch_order(1000, 0, 5, True))
    order = torch.cat(pieces)
    assert sorted(order.tolist()) == list(range(1000))
    assert order.tolist() != list(range(1000))
    assert max(len(p) for p in pieces) <= 64  # one buffer of blocks at a time
    other_epoch = torch.cat(list(sampling.epoch_order(1000, 1, 5, True)))
    assert other_epoch.tolist() != order.tolist()


def test_steps_per_epoch_takes_the_first_batches_of_each_epoch():
    x, y = worker.make_data()
    model = worker.build()
    history = model.fit(x, y, epochs=2, batch_size=8, steps_per_epoch=3, seed=0, verbose=0)
    assert history.params["steps"] == 3
    with pytest.raises(ValueError, match="steps_per_epoch"):
        model.fit(x, y, steps_per_epoch=0)


# -- two processes ------------------------------------------------------------------------
def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path):
    result = checked(run_worker(tmp_path, "--epochs", "2", "--batch-size", "16"))
    assert result.stdout.count("Epoch 1/2") == 1  # only rank 0 prints
    assert result.stdout.count("Epoch 2/2") == 1
    np.testing.assert_array_equal(weights(tmp_path, 0), weights(tmp_path, 1))  # replicas stay in step

    x, y = worker.make_data()
    model = worker.build()
    single = model.fit(x, y, epochs=2, batch_size=16, seed=0, verbose=0, validation_split=0.25)
    start = flat(worker.build())  # the weights are not trivially equal: training moved them
    assert np.abs(flat(model) - start).max() > 1e-3
    np.testing.assert_allclose(weights(tmp_path), flat(model), rtol=0, atol=2e-6)
    logged = json.loads((tmp_path / "history.json").read_text())["history"]
    assert set(logged) == {"loss", "mae", "val_loss", "val_mae"}
    for key, values in single.history.items():  # summed over both processes
        np.testing.assert_allclose(logged[key], values, rtol=1e-5)


def test_resume_under_two_processes_ends_like_an_uninterrupted_run(tmp_path):
    straight, first, resumed = (tmp_path / name for name in ("straight", "first", "resumed"))
    for folder in (straight, first, resumed):
        folder.mkdir()
    common = ["--dropout", "0.3", "--batch-size", "16"]
    checked(run_worker(straight, "--epochs", "4", *common))
    checked(run_worker(first, "--epochs", "2", "--checkpoint", str(first / "ckpt.lstmkit"), *common))
    assert read_checkpoint(first / "ckpt.lstmkit", worker.build(0.3)).world_size == 2
    checked(run_worker(resumed, "--epochs", "4", "--resume", str(first / "ckpt.lstmkit"), *common))
    assert np.abs(weights(first) - weights(straight)).max() > 1e-3  # two more epochs did move them
    np.testing.assert_allclose(weights(resumed), weights(straight), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(weights(resumed, 0), weights(resumed, 1))
    assert json.loads((resumed / "history.json").read_text())["epoch"] == [2, 3]


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
    np.testing.assert_allclose(flat(resumed), flat(straight), rtol=0, atol=1e-6)
    # A fresh start from the checkpoint's weights alone (no optimizer or generator state) ends elsewhere.
    x, y = worker.make_data()
    cold = worker.build(dropout, metrics)
    cold.set_weights(load_model(tmp_path / "b.lstmkit").get_weights())
    cold.fit(x, y, epochs=3, batch_size=8, seed=0, verbose=0)
    assert np.abs(flat(cold) - flat(straight)).max() > 1e-4


def test_a_checkpoint_is_a_model_file_load_model_reads(tmp_path):
    model = _fit_with_checkpoints(tmp_path / "c.lstmkit", 2, 0.0, True)
    loaded = load_model(tmp_path / "c.lstmkit")
    np.testing.assert_array_equal(flat(loaded), flat(model))


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
    np.testing.assert_allclose(flat(resumed), flat(straight), rtol=0, atol=1e-6)


def test_sigkill_mid_epoch_resumes_from_the_last_checkpoint(tmp_path):
    ckpt = tmp_path / "ckpt.lstmkit"
    # 96 samples, validation 0.25: 5 training and 2 validation batches of 16 an epoch, each a loss
    # call; call 17 is the third training batch of epoch 3.
    killed = run_worker(tmp_path, "--epochs", "4", "--checkpoint", str(ckpt), "--kill-at-loss-call", "17", nproc=1)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert not (tmp_path / "weights-0.npy").exists()
    assert read_checkpoint(ckpt, worker.build()).epoch == 2
    checked(run_worker(tmp_path, "--epochs", "4", "--resume", str(ckpt), nproc=1))
    straight = tmp_path / "straight"
    straight.mkdir()
    checked(run_worker(straight, "--epochs", "4", nproc=1))
    np.testing.assert_allclose(weights(tmp_path), weights(straight), rtol=0, atol=1e-6)


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


# -- what bad input gets --------------------------------------------------------------------
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


def test_distributed_argument_and_environment_are_checked_before_work(monkeypatch):
    x, y = worker.make_data()
    model = worker.build()
    before = flat(model)
    with pytest.raises(ValueError, match="'auto'.*'off'"):
        model.fit(x, y, distributed="yes", verbose=0)
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="batch_size=15 does not split evenly over the 2 processes"):
        model.fit(x, y, batch_size=15, verbose=0)
    for name in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="torchrun --nproc_per_node=2"):
        model.fit(x, y, batch_size=16, verbose=0)
    np.testing.assert_array_equal(flat(model), before)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, distributed="off")  # off: trains alone
    assert np.abs(flat(model) - before).max() > 0


# -- the command line -----------------------------------------------------------------------
def lstmkit_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ}
    env.pop("WORLD_SIZE", None)
    return subprocess.run([sys.executable, "-m", "lstmkit", *args], capture_output=True, text=True, timeout=240,
                          env=env)


def test_forecast_command_runs_on_two_processes(tmp_path):
    out = tmp_path / "results"
    result = lstmkit_cli("forecast", "--dataset", "airline_passengers", "--epochs", "3", "--nproc", "2",
                         "--levels", "none", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("Wrote ") == 1  # rank 0 alone prints and writes
    assert result.stderr == ""
    assert sorted(os.listdir(out)) == ["forecast.csv", "forecast.png", "metrics.csv", "model.lstmkit", "report.md"]
    import pandas as pd

    forecast = pd.read_csv(out / "forecast.csv")
    assert len(forecast) == 12 and forecast["forecast"].between(100, 1000).all()


def test_forecast_command_on_two_processes_reports_a_mistake_once(tmp_path):
    result = lstmkit_cli("forecast", str(tmp_path / "missing.csv"), "--nproc", "2", "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstmkit: error:") and "missing.csv" in lines[0]
    assert not (tmp_path / "o").exists()
