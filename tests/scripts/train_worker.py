"""Trains a small model the way the distributed and resume tests need; run directly or by torchrun.

    python -m torch.distributed.run --standalone --nproc_per_node=2 train_worker.py OUT [options]

Writes OUT/weights-{rank}.npy (every weight, flattened) and OUT/history.json (rank 0).
The tests import `make_data` and `build` to train the same model in one process.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from lstmkit import Sequential
from lstmkit.callbacks import ModelCheckpoint
from lstmkit.layers import LSTM, Dense, Dropout


def make_data(samples: int = 96) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.standard_normal((samples, 6, 2)).astype(np.float32)
    y = (x[:, -3:, 0].sum(axis=1, keepdims=True) * 0.3).astype(np.float32)
    return x, y


class KillAt:
    """An MSE loss that SIGKILLs its own process at the `at`-th call (a crash mid-epoch)."""

    def __init__(self, at: int) -> None:
        self.at, self.calls = at, 0

    def __call__(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.at:
            os.kill(os.getpid(), signal.SIGKILL)
        return torch.nn.functional.mse_loss(y_pred, y_true)


def build(dropout: float = 0.0, metrics: bool = True, loss: object = "mse") -> Sequential:
    layers = [LSTM(8, input_shape=(6, 2))]
    if dropout:
        layers.append(Dropout(dropout))
    model = Sequential([*layers, Dense(1)])
    model.compile(loss=loss, optimizer="adam", metrics=["mae"] if metrics else None)
    return model


# -- for the tests: run this script, read what it wrote --------------------------------------
def run(out: Path, *args: str, nproc: int = 2) -> subprocess.CompletedProcess:
    """The worker under torchrun (nproc > 1) or as a plain process."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    command = [*(launcher if nproc > 1 else [sys.executable]), __file__, str(out), *args]
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


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--no-metrics", action="store_true")
    parser.add_argument("--validation-split", type=float, default=0.25)
    parser.add_argument("--checkpoint")
    parser.add_argument("--resume")
    parser.add_argument("--kill-at-loss-call", type=int)
    args = parser.parse_args(argv)
    x, y = make_data()
    loss = KillAt(args.kill_at_loss_call) if args.kill_at_loss_call else "mse"
    model = build(args.dropout, not args.no_metrics, loss)
    callbacks = [ModelCheckpoint(args.checkpoint, monitor="loss")] if args.checkpoint else []
    history = model.fit(x, y, epochs=args.epochs, batch_size=args.batch_size, seed=0, verbose=2,
                        validation_split=args.validation_split, callbacks=callbacks, resume_from=args.resume)
    rank = int(os.environ.get("RANK", "0"))
    np.save(os.path.join(args.out, f"weights-{rank}.npy"), flat(model))
    if rank == 0:
        with open(os.path.join(args.out, "history.json"), "w") as handle:
            json.dump({"epoch": history.epoch, "history": history.history}, handle)


if __name__ == "__main__":
    main(sys.argv[1:])
