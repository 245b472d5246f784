"""The fit loop, History and Keras's progress display.

`run_fit` takes plain pieces (a module, a loss function, a torch optimizer, metric
accumulators, tensors), so it knows nothing of Sequential; models.py hands off to it.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol, Sequence, runtime_checkable

import numpy as np
import torch

from lstmkit.distributed import Cluster, all_sum
from lstmkit.divergence import DivergenceGuard
from lstmkit.losses import weighted_loss
from lstmkit.metrics import Metric
from lstmkit.sampling import epoch_batches, steps_per_epoch

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class History:
    """What `fit` returns: `history["loss"][epoch]`, like Keras's History."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.params: dict[str, Any] = {}

    def record(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


def _format_value(value: float) -> str:
    # Keras prints 4 decimals, switching to scientific notation below 1e-3.
    return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.4e}"


def _format_logs(logs: dict[str, float]) -> str:
    return "".join(f" - {key}: {_format_value(value)}" for key, value in logs.items())


def _format_duration(seconds: float, per: str) -> str:
    if seconds >= 1:
        return f"{seconds:.0f}s/{per}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{per}"
    return f"{seconds * 1e6:.0f}us/{per}"


class ProgressBar:
    """Keras's verbose=1 bar: `8/8 [==============================] - 0s 2ms/step - loss: 0.0078`.

    Redrawn in place (at most ten times a second) on a terminal; elsewhere only the final line
    is written, so logs stay readable.
    """

    width = 30

    def __init__(self, total: int, stream: Any = None) -> None:
        self.total = total
        self.stream = stream or sys.stdout
        self.interactive = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()
        self.last_draw = 0.0

    def wants_update(self) -> bool:
        return self.interactive and time.perf_counter() - self.last_draw > 0.1

    def draw(self, done: int, logs: dict[str, float], final: bool = False) -> None:
        elapsed = time.perf_counter() - self.start
        filled = self.width * done // max(self.total, 1)
        bar = "=" * max(filled - 1, 0) + (">" if filled < self.width else "=") + "." * (self.width - filled)
        line = f"{done}/{self.total} [{bar[: self.width]}]"
        if final:
            line += f" - {elapsed:.0f}s {_format_duration(elapsed / max(done, 1), 'step')}"
        else:
            eta = elapsed / max(done, 1) * (self.total - done)
            line += f" - ETA: {eta:.0f}s"
        line += _format_logs(logs)
        if self.interactive:
            self.stream.write("\r" + line + ("\n" if final else ""))
        elif final:
            self.stream.write(line + "\n")
        self.stream.flush()
        self.last_draw = time.perf_counter()


@runtime_checkable
class BatchSource(Protocol):
    """Samples cut batch by batch instead of held as one tensor (e.g. lstmkit.data.WindowedSeries),
    so training memory stays that of the source, not samples x timesteps. `Sequential.fit`,
    `evaluate` and `predict` take one in place of (x, y)."""

    input_shape: tuple[int, ...]  # one sample's input, e.g. (T, F)
    target_shape: tuple[int, ...]  # one sample's target

    def __len__(self) -> int: ...

    def batch(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Inputs (B, *input_shape) and targets (B, *target_shape) of the samples at `index` (B,)."""
        ...


class SourceBatches:
    """A BatchSource as the fit loop reads it: `len()`, `.device`, and `take(index)`, the batch as
    tensors on `device` (targets shaped like the model's output, `target_shape`)."""

    def __init__(self, source: BatchSource, device: torch.device, dtype: torch.dtype,
                 target_shape: tuple[int, ...]) -> None:
        self.source, self.device, self.dtype, self.target_shape = source, device, dtype, target_shape

    def __len__(self) -> int:
        return len(self.source)

    def take(self, index: torch.Tensor | slice) -> tuple[torch.Tensor, torch.Tensor]:
        positions = np.arange(*index.indices(len(self))) if isinstance(index, slice) else index.cpu().numpy()
        x, y = self.source.batch(positions)
        y = y.reshape(len(y), *self.target_shape)
        return (torch.from_numpy(x).to(self.device, self.dtype), torch.from_numpy(y).to(self.device, self.dtype))


def take_rows(x: torch.Tensor | SourceBatches, y: torch.Tensor | None, index: torch.Tensor | slice
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows `index` of (x, y); a SourceBatches (y None) cuts them from its source."""
    return x.take(index) if y is None else (x[index], y[index])


@dataclass
class FitData:
    """Everything one training run reads: tensors already on the model's device, or a
    SourceBatches as `x` (with `y` None) that cuts each batch from its source."""

    x: torch.Tensor | SourceBatches
    y: torch.Tensor | None
    batch_size: int
    shuffle: bool
    validation: tuple[torch.Tensor | SourceBatches, torch.Tensor | None] | None = None
    metrics: list[Metric] = field(default_factory=list)
    mask: torch.Tensor | None = None  # (N, T) bool, True at real steps (variable-length inputs)
    sample_weight: torch.Tensor | None = None  # (N,), from class_weight
    validation_mask: torch.Tensor | None = None
    steps: int | None = None  # steps_per_epoch: batches an epoch, when fewer than all


def _rows(values: torch.Tensor | None, index: torch.Tensor | slice) -> torch.Tensor | None:
    return None if values is None else values[index]


def forward_loss(
    module: torch.nn.Module,
    loss_fn: LossFn,
    x: torch.Tensor,
    y: torch.Tensor,
    mask: torch.Tensor | None = None,
    sample_weight: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """One batch: (y_pred, loss, output mask). A module with `forward_with_mask` (Sequential)
    passes masks through its layers; padded steps and sample weights enter the loss as Keras's do."""
    forward_with_mask = getattr(module, "forward_with_mask", None)
    if forward_with_mask is None:
        y_pred, output_mask = module(x), None
    else:
        y_pred, output_mask = forward_with_mask(x, mask)
    return y_pred, weighted_loss(loss_fn, y_pred, y, sample_weight, output_mask), output_mask


def evaluate_batches(
    module: torch.nn.Module,
    loss_fn: LossFn,
    x: torch.Tensor | SourceBatches,
    y: torch.Tensor | None,
    batch_size: int,
    metrics: Sequence[Metric],
    mask: torch.Tensor | None = None,
    cluster: Cluster | None = None,
) -> dict[str, float]:
    """Loss (sample-weighted mean of batch losses, as Keras logs it) and metrics over (x, y).
    `mask` (N, T): real steps of variable-length inputs. With a `cluster`, each process scores
    its own contiguous part and the sums are combined, so every process returns the same logs."""
    module.eval()
    for metric in metrics:
        metric.reset()
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    first, last = (0, len(x)) if cluster is None else _part(len(x), cluster)
    with torch.no_grad():
        for start in range(first, last, batch_size):
            rows = slice(start, min(start + batch_size, last))
            xb, yb = take_rows(x, y, rows)
            y_pred, loss, output_mask = forward_loss(module, loss_fn, xb, yb, _rows(mask, rows))
            total += loss.double() * len(xb)
            for metric in metrics:
                metric.update(y_pred, yb, output_mask)
    return _epoch_logs(float(total), last - first, metrics, cluster)


def _part(samples: int, cluster: Cluster) -> tuple[int, int]:
    """This process's contiguous share of `samples` rows."""
    return samples * cluster.rank // cluster.world, samples * (cluster.rank + 1) // cluster.world


def _epoch_logs(total: float, seen: int, metrics: Sequence[Metric], cluster: Cluster | None) -> dict[str, float]:
    """{"loss": total / seen, metric: result}, the sums taken over every process of a cluster."""
    if cluster is not None:
        sums = all_sum([total, seen, *(v for m in metrics for v in (float(m.total), m.count))], cluster)
        total, seen = sums[0], int(sums[1])
        for index, metric in enumerate(metrics):
            metric.total, metric.count = sums[2 + 2 * index], int(sums[3 + 2 * index])
    logs = {"loss": total / seen}
    logs.update((metric.name, metric.result()) for metric in metrics)
    return logs


def train_epoch(
    module: torch.nn.Module,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    data: FitData,
    batches: Iterable[torch.Tensor],
    progress: ProgressBar | None,
    cluster: Cluster | None = None,
    batch_losses: list[torch.Tensor] | None = None,
) -> dict[str, float]:
    """One pass over `batches` (index tensors): zero_grad, forward, loss, backward, step per batch.
    Each batch's loss is appended to `batch_losses` (for the divergence check)."""
    module.train()
    for metric in data.metrics:
        metric.reset()
    total = torch.zeros((), dtype=torch.float64, device=data.x.device)
    seen = 0
    for step, index in enumerate(batches, 1):
        index = index.to(data.x.device)
        xb, yb = take_rows(data.x, data.y, index)
        optimizer.zero_grad(set_to_none=True)
        y_pred, loss, output_mask = forward_loss(
            module, loss_fn, xb, yb, _rows(data.mask, index), _rows(data.sample_weight, index)
        )
        loss.backward()
        optimizer.step()
        total += loss.detach().double() * len(index)
        seen += len(index)
        if batch_losses is not None:
            batch_losses.append(loss.detach())
        for metric in data.metrics:
            metric.update(y_pred, yb, output_mask)
        if progress is not None and progress.wants_update():
            progress.draw(step, {"loss": float(total) / seen, **{m.name: m.result() for m in data.metrics}})
    return _epoch_logs(float(total), seen, data.metrics, cluster)


def begin_callbacks(callbacks: Sequence[Any], data: FitData) -> None:
    """Tell each callback which logs are coming; they refuse a monitor that will never appear.

    Called before any work (weights drawn, epochs run), so a wrong monitor costs nothing.
    """
    log_keys = ["loss", *(metric.name for metric in data.metrics)]
    if data.validation is not None:
        log_keys += [f"val_{key}" for key in log_keys]
    for callback in callbacks:
        callback.on_train_begin(log_keys)


def end_epoch(
    history: History,
    epoch: int,
    logs: dict[str, float],
    elapsed: float,
    steps: int,
    verbose: int,
    progress: ProgressBar | None,
    callbacks: Sequence[Any],
    model: Any = None,
) -> bool:
    """Finish an epoch on any engine: Keras's line, the History entry, the callbacks.
    Returns True when a callback asks to stop, or set `model.stop_training` (Keras's flag)."""
    if progress is not None:
        progress.draw(steps, logs, final=True)
    elif verbose == 2:
        print(
            f"{steps}/{steps} - {elapsed:.0f}s{_format_logs(logs)} - "
            f"{_format_duration(elapsed, 'epoch')} - {_format_duration(elapsed / steps, 'step')}"
        )
    history.record(epoch, logs)
    stopping = any([callback.on_epoch_end(epoch, logs) for callback in callbacks])  # every callback sees it
    stopping = stopping or bool(getattr(model, "stop_training", False))
    for callback in callbacks:
        callback.after_epoch(epoch, stopping)
    return stopping


def run_fit(
    module: torch.nn.Module,
    loss_fn: LossFn,
    optimizer: torch.optim.Optimizer,
    data: FitData,
    epochs: int,
    verbose: int,
    callbacks: Sequence[Any],
    shuffle_seed: int,
    first_epoch: int = 0,
    cluster: Cluster | None = None,
) -> History:
    """Train epochs first_epoch .. epochs - 1, printing Keras's lines and calling the callbacks;
    returns History. Each epoch's order is lstmkit.sampling's for (shuffle_seed, epoch).

    With a `cluster`, `module` is the model in DistributedDataParallel: this process trains on
    its share of each batch and logs the sums over all processes; only rank 0 prints.
    The callbacks must have been through `begin_callbacks`.
    """
    world, rank = (1, 0) if cluster is None else (cluster.world, cluster.rank)
    if cluster is not None and not cluster.is_main:
        verbose = 0
    history = History()
    steps = steps_per_epoch(len(data.x), data.batch_size, world, data.steps)
    history.params = {"epochs": epochs, "steps": steps, "verbose": verbose}
    guard = DivergenceGuard(getattr(module, "module", module), callbacks, verbose)
    for epoch in range(first_epoch, epochs):
        start = time.perf_counter()
        guard.begin_epoch()
        batch_losses: list[torch.Tensor] = []
        batches = epoch_batches(len(data.x), data.batch_size, epoch, shuffle_seed, data.shuffle, world, rank, data.steps)
        if verbose:
            print(f"Epoch {epoch + 1}/{epochs}")
        progress = ProgressBar(steps) if verbose == 1 else None
        logs = train_epoch(module, loss_fn, optimizer, data, batches, progress, cluster, batch_losses)
        losses = torch.stack(batch_losses).double().cpu().numpy() if batch_losses else []
        if guard.check(epoch, losses, logs["loss"], history):
            break
        if data.validation is not None:
            val_logs = evaluate_batches(
                module, loss_fn, *data.validation, data.batch_size, data.metrics, data.validation_mask, cluster
            )
            logs.update((f"val_{key}", value) for key, value in val_logs.items())
        elapsed = time.perf_counter() - start
        if end_epoch(history, epoch, logs, elapsed, steps, verbose, progress, callbacks,
                     getattr(module, "module", module)):
            break
    for callback in callbacks:
        callback.on_train_end()
    return history
