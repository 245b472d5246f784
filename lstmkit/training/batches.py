"""What a fit reads: the data of one run (FitData) and batch sources that cut batches themselves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from lstmkit.metrics import Metric


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
