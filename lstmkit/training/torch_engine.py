"""The torch engine: zero_grad, forward, loss, backward, step for every batch, one epoch a call.

It runs every model lstmkit builds, alone or in DistributedDataParallel (lstmkit.training.distributed),
and knows nothing of Sequential: a module, a loss function, a torch optimizer and the FitData.
The epoch loop around it (History, progress, callbacks, validation, the divergence guard) is
lstmkit.training.loop's.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from lstmkit.losses import weighted_loss
from lstmkit.metrics import Metric
from lstmkit.ops.threads import thread_limit
from lstmkit.training.batches import FitData, SourceBatches, take_rows
from lstmkit.training.distributed import Cluster, all_sum
from lstmkit.training.history import ProgressBar
from lstmkit.training.sampling import epoch_batches

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


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


class TorchEngine:
    """Runs one epoch a call on autograd and a torch optimizer (see the module docstring).

    Args:
        module: the model, or the model in DistributedDataParallel (then `cluster` is set).
        loss_fn: (y_pred, y) -> the batch's mean loss.
        optimizer: the torch optimizer over the module's parameters.
        data: what the fit reads.
        cluster: the processes training together, or None.
        threads: the intra-op threads torch may use while it runs.
    """

    name = "torch"

    def __init__(self, module: torch.nn.Module, loss_fn: LossFn, optimizer: torch.optim.Optimizer, data: FitData,
                 cluster: Cluster | None = None, threads: int | None = None) -> None:
        self.module, self.loss_fn, self.optimizer, self.data = module, loss_fn, optimizer, data
        self.cluster, self.threads = cluster, threads

    def epochs_per_call(self, remaining: int, per_epoch_work: bool) -> int:
        return 1

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """The thread limit (and, data-parallel, the warning filter) while the loop runs."""
        with contextlib.ExitStack() as stack:
            if self.threads is not None:
                stack.enter_context(thread_limit(self.threads))
            if self.cluster is not None:
                stack.enter_context(warnings.catch_warnings())
                # A (1, 4H) kernel (one input feature) gets its gradient with stride 1 on the size-1
                # axis, which DDP's exact stride check reports though the layout is the same.
                warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
            try:
                yield
            finally:
                self.module = None  # a DDP wrapper's reducer hooks leave the parameters with it

    def run(self, epoch: int, count: int, shuffle_seed: int, progress: ProgressBar | None
            ) -> tuple[list[tuple[dict[str, float], np.ndarray]], bool]:
        """Train epoch `epoch`; returns ([(its logs, this process's batch losses)], False)."""
        world, rank = (1, 0) if self.cluster is None else (self.cluster.world, self.cluster.rank)
        data = self.data
        batches = epoch_batches(len(data.x), data.batch_size, epoch, shuffle_seed, data.shuffle, world, rank,
                                data.steps)
        batch_losses: list[torch.Tensor] = []
        logs = train_epoch(self.module, self.loss_fn, self.optimizer, data, batches, progress, self.cluster,
                           batch_losses)
        losses = torch.stack(batch_losses).double().cpu().numpy() if batch_losses else np.zeros(0)
        return [(logs, losses)], False

    def validate(self, validation: Any) -> dict[str, float]:
        """Loss and metrics on the validation part (every process's share, summed)."""
        data = self.data
        return evaluate_batches(self.module, self.loss_fn, *validation, data.batch_size, data.metrics,
                                data.validation_mask, self.cluster)
