"""Stopping a fit whose loss became NaN or inf, on every engine, with the last finite weights kept.

A diverged fit would otherwise run every remaining epoch and leave weights that predict NaN.
Each engine (the torch loop, the fused and the batched kernels) hands every epoch's batch losses
to a `DivergenceGuard`; at the first one that is not finite it puts back the weights the model
had at the start of that epoch (the end of the last epoch whose losses were all finite), resets
the optimizer state (its moments hold the same NaN or inf), and either raises
`TrainingDivergedError` (the default) or, with the `TerminateOnNaN` callback, prints Keras's line
and ends the fit normally.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np


class TrainingDivergedError(ValueError):
    """The training loss became NaN or inf. `history` holds the epochs before; `epoch` and
    `batch` (1-based) say where, `last_finite_loss` the last batch loss that was finite."""

    def __init__(self, message: str, epoch: int, batch: int | None, last_finite_loss: float | None,
                 history: Any) -> None:
        super().__init__(message)
        self.epoch, self.batch, self.last_finite_loss, self.history = epoch, batch, last_finite_loss, history


class DivergenceGuard:
    """Watches the batch losses of one fit (see the module docstring)."""

    def __init__(self, model: Any, callbacks: Sequence[Any], verbose: int = 0) -> None:
        self.model = model
        self.quiet = any(getattr(callback, "terminates_on_nan", False) for callback in callbacks)
        self.verbose = verbose
        self.saved: dict[str, Any] | None = None
        self.last_finite_loss: float | None = None
        self.finite_epochs = 0

    def begin_epoch(self) -> None:
        """Keep the weights as they are now: what a divergence in the coming epoch puts back."""
        self.saved = {name: value.detach().clone() for name, value in self.model.state_dict().items()}

    def check(self, epoch: int, batch_losses: Any, epoch_loss: float, history: Any) -> bool:
        """After epoch `epoch` (0-based): False when its losses are finite; else put the weights
        back and return True (TerminateOnNaN) or raise TrainingDivergedError.

        `epoch_loss` is the epoch's logged loss (summed over every process of a data-parallel
        run, so that all of them decide alike); `batch_losses` are this process's, whose weighted
        sum it is (with others'). So a finite `epoch_loss` means finite batch losses (a NaN or inf
        among them makes the sum NaN or inf), and the batch losses are scanned only when it is not:
        a fused engine's call of 100 short epochs would spend ~0.3 ms on the scans alone."""
        losses = np.asarray(batch_losses, dtype=np.float64).reshape(-1)
        if math.isfinite(epoch_loss):
            if losses.size:
                self.last_finite_loss = float(losses[-1])
            self.finite_epochs += 1
            return False
        bad = np.flatnonzero(~np.isfinite(losses))
        batch = int(bad[0]) + 1 if bad.size else None
        if batch is not None and batch > 1:
            self.last_finite_loss = float(losses[batch - 2])
        value = losses[bad[0]] if bad.size else epoch_loss
        self._restore()
        message = self._message(epoch, batch, len(losses), value)
        if not self.quiet:
            raise TrainingDivergedError(message, epoch + 1, batch, self.last_finite_loss, history)
        if self.verbose:
            print(f"Batch {batch or '?'}: Invalid loss, terminating training. {message}")
        return True

    def _restore(self) -> None:
        if self.saved is not None:
            self.model.load_state_dict(self.saved)
        optimizer_state = getattr(self.model, "optimizer_state", None)
        if optimizer_state is not None:
            optimizer_state.reset()  # its moments hold the same NaN: start afresh

    def _message(self, epoch: int, batch: int | None, batches: int, value: float) -> str:
        where = f"epoch {epoch + 1}, batch {batch} of {batches}" if batch else f"epoch {epoch + 1} (on another process)"
        last = ("no batch had a finite loss before it" if self.last_finite_loss is None
                else f"the last finite batch loss was {self.last_finite_loss:.6g}")
        kept = (f"The weights at the end of epoch {epoch} (the last whose loss was finite) were put back"
                if self.finite_epochs else "The weights the fit started from were put back")
        return (
            f"training diverged: the loss became {value} at {where}; {last}. {kept}, and the optimizer state "
            f"was reset. This usually comes from a learning rate too large for the model (try one 10x smaller, "
            f"or clipnorm=1.0 on the optimizer) or from unscaled data (scale inputs and targets to about [-1, 1], "
            f"e.g. with lstmkit.data.MinMaxScaler). Pass callbacks=[TerminateOnNaN()] to stop without an error."
        )
