"""Callbacks for `fit`: EarlyStopping, ModelCheckpoint, ReduceLROnPlateau and TerminateOnNaN,
with Keras's arguments.

A callback sees the model (`set_model`), the names the epoch logs will hold before training
starts (`on_train_begin`), and each epoch's logs (`on_epoch_end`, which returns True to stop).
"""

from __future__ import annotations

import math
from typing import Any, Sequence


class Callback:
    """Base class: every hook does nothing."""

    def __init__(self) -> None:
        self.model: Any = None

    def set_model(self, model: Any) -> None:
        self.model = model

    def on_train_begin(self, log_keys: Sequence[str] = ()) -> None:
        """Called before the first epoch with the names the epoch logs will hold."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        """Called after each epoch (0-based); return True to stop training."""
        return False

    def after_epoch(self, epoch: int, stopping: bool) -> None:
        """Called after every callback has seen the epoch's logs (`stopping`: one asked to stop)."""

    def on_train_end(self) -> None:
        """Called once training stops."""

    def get_state(self) -> dict[str, Any]:
        """What a checkpoint keeps of this callback (JSON), for `fit(resume_from=...)`."""
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        """Take back what `get_state` returned."""


def _check_verbose(verbose: object) -> int:
    if verbose not in (0, 1, 2) or isinstance(verbose, float):
        raise ValueError(f"`verbose` must be 0 (silent) or 1 (a line at each event); got {verbose!r}.")
    return int(verbose)


def _say(model: Any, line: str) -> None:
    """Print a callback's line, once in a data-parallel run (rank 0)."""
    context = getattr(model, "fit_context", None)
    cluster = getattr(context, "cluster", None)
    if cluster is None or cluster.is_main:
        print(line)


class _Monitor:
    """Tracks the best value of one logged quantity ('min' or 'max', or 'auto' from its name)."""

    def __init__(self, monitor: str, mode: str, min_delta: float = 0.0) -> None:
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"`mode` must be 'auto', 'min' or 'max'; got {mode!r}.")
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self.monitor, self.mode, self.min_delta = monitor, mode, abs(min_delta)
        self.best = math.inf if mode == "min" else -math.inf

    def check(self, log_keys: Sequence[str], owner: str) -> None:
        if self.monitor not in log_keys:
            hint = (
                " Pass validation_data= or validation_split= to fit, or monitor 'loss'."
                if self.monitor.startswith("val_")
                else ""
            )
            raise ValueError(
                f"{owner} monitors {self.monitor!r}, but the training logs will hold only "
                f"{', '.join(log_keys)}.{hint}"
            )

    def improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved by `min_delta` for `patience` epochs.

    Args:
        monitor: a log name, "val_loss" by default.
        min_delta: smallest change that counts as an improvement.
        patience: epochs without improvement before stopping.
        mode: "min", "max", or "auto" (max for accuracies, min otherwise).
        restore_best_weights: put back the weights of the best epoch when stopping.
        verbose: 1 prints Keras's lines when it stops ("Epoch 23: early stopping") and when it
            restores the best weights.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        mode: str = "auto",
        restore_best_weights: bool = False,
        verbose: int = 0,
    ) -> None:
        super().__init__()
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"`patience` must be a non-negative integer; got {patience!r}.")
        self.verbose = _check_verbose(verbose)
        self.tracker = _Monitor(monitor, mode, min_delta)
        self.patience = patience
        self.restore_best_weights = restore_best_weights
        self.wait = 0
        self.best_weights: dict[str, Any] | None = None
        self.best_epoch = 0
        self.stopped_epoch: int | None = None

    @property
    def monitor(self) -> str:
        return self.tracker.monitor

    def on_train_begin(self, log_keys: Sequence[str] = ()) -> None:
        self.tracker.check(log_keys, "EarlyStopping")
        self.tracker.best = math.inf if self.tracker.mode == "min" else -math.inf
        self.wait, self.best_weights, self.stopped_epoch = 0, None, None

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        value = logs[self.monitor]
        if self.tracker.improved(value):
            self.tracker.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            return False
        self.wait += 1
        if self.wait >= self.patience:  # Keras: stop after `patience` epochs without improvement
            self.stopped_epoch = epoch
            if self.verbose:
                _say(self.model, f"Epoch {epoch + 1}: early stopping")
            return True
        return False

    def get_state(self) -> dict[str, Any]:
        return {"best": self.tracker.best, "wait": self.wait, "best_epoch": self.best_epoch}

    def set_state(self, state: dict[str, Any]) -> None:
        self.tracker.best, self.wait, self.best_epoch = float(state["best"]), int(state["wait"]), int(state["best_epoch"])

    def on_train_end(self) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                _say(self.model, f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.load_state_dict(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model after each epoch (or only when `monitor` improves).

    The file is a model file `load_model` reads, which also holds the training state (optimizer,
    epochs done, random-number generator states) that `fit(..., resume_from=path)` continues
    from. It is written under a temporary name and renamed into place once complete, so a run
    killed mid-save leaves the previous checkpoint whole. Under torchrun only rank 0 writes.

    Args:
        filepath: where to save; may hold fields like "model-{epoch:02d}-{val_loss:.3f}.lstmkit".
        monitor: the log name that decides "best".
        save_best_only: save only when `monitor` improves (one file unless `filepath` has fields).
        mode: "min", "max" or "auto".
        verbose: 1 prints a line at each save.
    """

    def __init__(
        self,
        filepath: str,
        monitor: str = "val_loss",
        save_best_only: bool = False,
        mode: str = "auto",
        verbose: int = 0,
    ) -> None:
        super().__init__()
        self.filepath = str(filepath)
        self.tracker = _Monitor(monitor, mode)
        self.save_best_only = save_best_only
        self.verbose = _check_verbose(verbose)
        self.pending: str | None = None

    def on_train_begin(self, log_keys: Sequence[str] = ()) -> None:
        if self.save_best_only:
            self.tracker.check(log_keys, "ModelCheckpoint")
        try:
            self.filepath.format(epoch=1, **{key: 0.0 for key in log_keys})
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(
                f"ModelCheckpoint filepath {self.filepath!r} has a field the logs do not provide "
                f"({err}); available: epoch, {', '.join(log_keys)}."
            ) from None

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        if self.save_best_only:
            value = logs[self.tracker.monitor]
            if not self.tracker.improved(value):
                return False
            self.tracker.best = value
        path = self.filepath.format(epoch=epoch + 1, **logs)
        if getattr(self.model, "fit_context", None) is None:  # called outside fit: the model alone
            self.model.save(path)
            if self.verbose:
                print(f"Epoch {epoch + 1}: saved model to {path}")
        else:
            self.pending = path
        return False

    def after_epoch(self, epoch: int, stopping: bool) -> None:
        # Written once every callback has seen the epoch, so their saved states are this epoch's.
        path, self.pending = self.pending, None
        context = getattr(self.model, "fit_context", None)
        if path is None or context is None:
            return
        from lstmkit.training.checkpoint import save_checkpoint

        save_checkpoint(self.model, path, epoch + 1, stopping, context)
        if self.verbose and (context.cluster is None or context.cluster.is_main):
            print(f"Epoch {epoch + 1}: saved model to {path}")

    def get_state(self) -> dict[str, Any]:
        return {"best": self.tracker.best}

    def set_state(self, state: dict[str, Any]) -> None:
        self.tracker.best = float(state["best"])


class TerminateOnNaN(Callback):
    """End training quietly when the loss becomes NaN or inf (Keras's name).

    Without it, `fit` raises lstmkit.training.divergence.TrainingDivergedError at the first NaN or inf
    loss; with it, `fit` prints "Batch 3: Invalid loss, terminating training" (with verbose) and
    returns the History so far. Either way, on every engine, the weights of the last epoch whose
    loss was finite are put back and the optimizer state is reset.
    """

    terminates_on_nan = True  # read by lstmkit.training.divergence.DivergenceGuard


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by `factor` when `monitor` has not improved for `patience` epochs.

    Keras's arguments and rule; works on every engine, and its state (the current rate included)
    is kept in checkpoints, so a resumed fit goes on with the reduced rate.

    Args:
        monitor: a log name, "val_loss" by default.
        factor: the multiplier, in (0, 1).
        patience: epochs without improvement before a reduction.
        verbose: 1 prints Keras's line at each reduction.
        mode: "min", "max" or "auto".
        min_delta: smallest change that counts as an improvement.
        cooldown: epochs to wait after a reduction before counting again.
        min_lr: the rate is never reduced below this.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__()
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 0 < factor < 1:
            raise ValueError(f"`factor` must be a number in (0, 1): the learning rate is multiplied by it; "
                             f"got {factor!r}.")
        for name, value in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"`{name}` must be a non-negative integer; got {value!r}.")
        if isinstance(min_lr, bool) or not isinstance(min_lr, (int, float)) or not 0 <= min_lr < math.inf:
            raise ValueError(f"`min_lr` must be a finite number >= 0; got {min_lr!r}.")
        self.tracker = _Monitor(monitor, mode, min_delta)
        self.factor, self.patience, self.cooldown, self.min_lr = float(factor), patience, cooldown, float(min_lr)
        self.verbose = _check_verbose(verbose)
        self.wait, self.cooldown_counter = 0, 0

    def on_train_begin(self, log_keys: Sequence[str] = ()) -> None:
        self.tracker.check(log_keys, "ReduceLROnPlateau")
        self.tracker.best = math.inf if self.tracker.mode == "min" else -math.inf
        self.wait, self.cooldown_counter = 0, 0

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        value = logs[self.tracker.monitor]
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.tracker.improved(value):
            self.tracker.best, self.wait = value, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            current = self.model.optimizer_state.learning_rate
            if self.wait >= self.patience and current > self.min_lr:
                reduced = max(current * self.factor, self.min_lr)
                self.model.optimizer_state.learning_rate = reduced
                if self.verbose:
                    _say(self.model, f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {reduced}.")
                self.cooldown_counter, self.wait = self.cooldown, 0
        return False

    def get_state(self) -> dict[str, Any]:
        return {"best": self.tracker.best, "wait": self.wait, "cooldown_counter": self.cooldown_counter,
                "learning_rate": self.model.optimizer_state.learning_rate}

    def set_state(self, state: dict[str, Any]) -> None:
        self.tracker.best, self.wait = float(state["best"]), int(state["wait"])
        self.cooldown_counter = int(state["cooldown_counter"])
        self.model.optimizer_state.learning_rate = float(state["learning_rate"])
