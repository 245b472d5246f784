"""lstmkit.training.distributed and .sampling: data-parallel training under torchrun (2 processes, gloo,
CPU) and the epoch order. (Checkpoints and resuming: tests/test_checkpoint.py.)"""

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
from lstmkit.training.checkpoint import read_checkpoint

WORKER = Path(__file__).parent / "scripts" / "train_worker.py"
_spec = importlib.util.spec_from_file_location("train_worker", WORKER)
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)


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


@pytest.mark.parametrize("samples", [1, 2, 8, 97, 1000])
@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("compiled", [True, False])
def test_epoch_orders_are_the_epoch_orders_of_each_epoch(samples, shuffle, compiled, monkeypatch):
    """Several epochs drawn at once (the fused engines) are epoch_order's, epoch by epoch, for any
    seed (one above 2**32 too), drawn by the compiled randperm or through torch, and through the
    block shuffle of large sets."""
    assert sampling._compiled_randperm()  # this torch draws as lstmkit.ops.permutations does
    monkeypatch.setattr(sampling, "_compiled_randperm", lambda: compiled)
    for seed in (0, 11, 2**40 + 3):
        orders = sampling.epoch_orders(samples, 3, 4, seed, shuffle)
        assert orders.shape == (4, samples) and orders.dtype == np.int64
        for row, epoch in zip(orders, range(3, 7)):
            assert row.tolist() == torch.cat(list(sampling.epoch_order(samples, epoch, seed, shuffle))).tolist()
    if samples == 1000:
        monkeypatch.setattr(sampling, "BLOCK_SHUFFLE_MIN", 100)
        monkeypatch.setattr(sampling, "BLOCK", 16)
        blocks = sampling.epoch_orders(samples, 0, 2, 5, shuffle)
        assert blocks.tolist() == [torch.cat(list(sampling.epoch_order(samples, e, 5, shuffle))).tolist() for e in (0, 1)]


def test_steps_per_epoch_takes_the_first_batches_of_each_epoch():
    x, y = worker.make_data()
    model = worker.build()
    history = model.fit(x, y, epochs=2, batch_size=8, steps_per_epoch=3, seed=0, verbose=0)
    assert history.params["steps"] == 3
    with pytest.raises(ValueError, match="steps_per_epoch"):
        model.fit(x, y, steps_per_epoch=0)


# -- two processes ------------------------------------------------------------------------
def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path):
    result = worker.checked(worker.run(tmp_path, "--epochs", "2", "--batch-size", "16"))
    assert result.stdout.count("Epoch 1/2") == 1  # only rank 0 prints
    assert result.stdout.count("Epoch 2/2") == 1
    np.testing.assert_array_equal(worker.weights(tmp_path, 0), worker.weights(tmp_path, 1))  # replicas stay in step

    x, y = worker.make_data()
    model = worker.build()
    single = model.fit(x, y, epochs=2, batch_size=16, seed=0, verbose=0, validation_split=0.25)
    start = worker.flat(worker.build())  # the weights are not trivially equal: training moved them
    assert np.abs(worker.flat(model) - start).max() > 1e-3
    np.testing.assert_allclose(worker.weights(tmp_path), worker.flat(model), rtol=0, atol=2e-6)
    logged = json.loads((tmp_path / "history.json").read_text())["history"]
    assert set(logged) == {"loss", "mae", "val_loss", "val_mae"}
    for key, values in single.history.items():  # summed over both processes
        np.testing.assert_allclose(logged[key], values, rtol=1e-5)


def test_resume_under_two_processes_ends_like_an_uninterrupted_run(tmp_path):
    straight, first, resumed = (tmp_path / name for name in ("straight", "first", "resumed"))
    for folder in (straight, first, resumed):
        folder.mkdir()
    common = ["--dropout", "0.3", "--batch-size", "16"]
    worker.checked(worker.run(straight, "--epochs", "4", *common))
    worker.checked(worker.run(first, "--epochs", "2", "--checkpoint", str(first / "ckpt.lstmkit"), *common))
    assert read_checkpoint(first / "ckpt.lstmkit", worker.build(0.3)).world_size == 2
    worker.checked(worker.run(resumed, "--epochs", "4", "--resume", str(first / "ckpt.lstmkit"), *common))
    assert np.abs(worker.weights(first) - worker.weights(straight)).max() > 1e-3  # two more epochs did move them
    np.testing.assert_allclose(worker.weights(resumed), worker.weights(straight), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(worker.weights(resumed, 0), worker.weights(resumed, 1))
    assert json.loads((resumed / "history.json").read_text())["epoch"] == [2, 3]


# -- what bad input gets --------------------------------------------------------------------
def test_distributed_argument_and_environment_are_checked_before_work(monkeypatch):
    x, y = worker.make_data()
    model = worker.build()
    before = worker.flat(model)
    with pytest.raises(ValueError, match="'auto'.*'off'"):
        model.fit(x, y, distributed="yes", verbose=0)
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="batch_size=15 does not split evenly over the 2 processes"):
        model.fit(x, y, batch_size=15, verbose=0)
    for name in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="torchrun --nproc_per_node=2"):
        model.fit(x, y, batch_size=16, verbose=0)
    np.testing.assert_array_equal(worker.flat(model), before)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, distributed="off")  # off: trains alone
    assert np.abs(worker.flat(model) - before).max() > 0


# -- the command line -----------------------------------------------------------------------
def lstmkit_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ}
    env.pop("WORLD_SIZE", None)
    return subprocess.run([sys.executable, "-m", "lstmkit", *args], capture_output=True, text=True, timeout=240,
                          env=env)


def test_forecast_command_runs_on_two_processes(tmp_path):
    out = tmp_path / "results"
    result = lstmkit_cli("forecast", "--dataset", "airline_passengers", "--epochs", "3", "--nproc", "2",
                         "--levels", "none", "--statistical", "off", "--out", str(out), "--quiet")
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
