"""Sequential's input checks: arrays, padded sequences, targets and batch sources, turned into
tensors on the model's device, or a clear error naming what was given and what was expected.

`InputPreparation` is a mixin of lstmkit.models.Sequential; it reads the model's shapes
(`built_input_shape`, `output_shape`), loss, device and dtype, and builds an unbuilt model from
the first input it sees.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from lstmkit import losses, sequences
from lstmkit.classification import class_labels, sample_weights
from lstmkit.layers import Bidirectional, Masking, Recurrent, Shape
from lstmkit.ops.masking import front_mask
from lstmkit.training import BatchSource, SourceBatches

# A batch source (e.g. lstmkit.data.WindowedSeries) up to this size is gathered into tensors once:
# the fused engine needs whole arrays, and one gather is faster than one per batch.
MATERIALIZE_MAX_BYTES = 64 * 2**20
FINITE_CHECK_VALUES = 2**20  # values checked for NaN/inf at a time: bounds the check's temporaries


def shape_text(shape: Sequence[int | None]) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def shape_fits(expected: Sequence[int | None], got: Sequence[int]) -> bool:
    """True when `got` has `expected`'s rank and size on every axis that is not None."""
    return len(got) == len(expected) and all(e is None or e == g for e, g in zip(expected, got))


def to_tensor(data: Any, argument: str) -> torch.Tensor:
    """numpy / list / tensor -> tensor on the CPU, refusing non-numbers and NaN/inf."""
    if isinstance(data, torch.Tensor):
        tensor = data.detach()
    else:
        try:
            array = np.asarray(data)
        except ValueError:  # ragged nested lists
            raise ValueError(
                f"`{argument}` must be an array with the same shape for every sample; got nested "
                f"sequences of different lengths. Pad or cut them to one length first."
            ) from None
        if array.dtype.kind not in "biuf":
            raise TypeError(
                f"`{argument}` must hold numbers; got an array of dtype {array.dtype}. "
                f"Convert it with np.asarray({argument}, dtype='float32')."
            )
        array = np.ascontiguousarray(array)
        if not array.flags.writeable:  # e.g. windows from make_windows, which are read-only views
            array = array.copy()
        tensor = torch.from_numpy(array)
    if tensor.ndim == 0 or len(tensor) == 0:
        raise ValueError(f"`{argument}` is empty (shape {tuple(tensor.shape)}); pass at least one sample.")
    if tensor.is_floating_point():
        first = _first_non_finite(tensor.reshape(len(tensor), -1))
        if first is not None:
            raise ValueError(
                f"`{argument}` holds NaN or inf values (first in sample {first}). "
                f"Fill or drop missing values before training."
            )
    return tensor


def _token_ids(tensor: torch.Tensor, input_dim: int, argument: str) -> torch.Tensor:
    """Inputs of a model starting with Embedding: whole numbers in 0 .. input_dim - 1, as int64."""
    if tensor.is_floating_point() and not bool((tensor == tensor.round()).all()):
        raise ValueError(f"`{argument}` feeds an Embedding, which takes integer ids; got fractional values.")
    ids = tensor.long()
    outside = (ids < 0) | (ids >= input_dim)
    if bool(outside.any()):
        first = int(outside.reshape(len(ids), -1).any(dim=1).nonzero()[0, 0])
        raise ValueError(
            f"`{argument}` sample {first} holds id {int(ids[first][outside[first]][0])}, outside 0..{input_dim - 1} "
            f"for the Embedding's input_dim={input_dim}; give the Embedding a larger input_dim."
        )
    return ids


def _first_non_finite(rows: torch.Tensor) -> int | None:
    """The first row (N, D) holding NaN or inf, or None; checked a block at a time, since isfinite
    makes temporaries as large as what it reads (|x| and two masks: 1.5x a float32 input)."""
    step = max(1, FINITE_CHECK_VALUES // max(rows.shape[1], 1))
    for start in range(0, len(rows), step):
        finite = torch.isfinite(rows[start : start + step]).all(dim=1)
        if not bool(finite.all()):
            return start + int((~finite).nonzero()[0, 0])
    return None


def check_class_targets(loss: Any, y: Any, output: Shape, argument: str) -> None:
    """Targets a cross-entropy cannot read: an error naming the first bad sample."""
    classes = output[-1]
    if loss not in ("binary_crossentropy", "categorical_crossentropy"):
        return
    try:
        array = np.asarray(y.detach().cpu() if isinstance(y, torch.Tensor) else y, dtype=np.float64)
    except (TypeError, ValueError):
        return  # not an array of numbers: _prepare_y says so
    if array.ndim == 0 or len(array) == 0:
        return
    if loss == "binary_crossentropy":
        outside = np.flatnonzero(((array < 0) | (array > 1)).reshape(len(array), -1).any(axis=1))
        if len(outside):
            row = array[outside[0]].ravel()
            value = row[(row < 0) | (row > 1)][0]
            raise ValueError(
                f"`{argument}` sample {outside[0]} holds {value:g}; binary_crossentropy takes labels "
                f"or probabilities in [0, 1]."
            )
        return
    if array.ndim == 1 or array.shape[-1] != classes:
        if array.ndim == 1 or array.shape[-1] == 1:
            raise ValueError(
                f"`{argument}` holds one value per sample (shape {array.shape}) but categorical_crossentropy "
                f"takes one-hot rows of width {classes}. For class indices use "
                f"loss='sparse_categorical_crossentropy', or one-hot them: np.eye({classes})[{argument}]."
            )
        raise ValueError(
            f"`{argument}` has shape {array.shape} but the model outputs {shape_text((None, *output))}: "
            f"one-hot rows of width {array.shape[-1]} for {classes} classes. One-hot with "
            f"np.eye({classes})[labels], or give the last Dense {array.shape[-1]} units."
        )
    sums = array.sum(axis=-1)
    # All-zero rows are padded steps of per-step targets; the loss skips them.
    bad = ((np.abs(sums - 1) > 1e-3) & (sums != 0)) | (array < 0).any(axis=-1)
    bad = bad.reshape(len(array), -1).any(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"`{argument}` sample {first} is not a one-hot row (its values sum to "
            f"{float(np.ravel(sums[first])[0]):g}); categorical_crossentropy needs rows that sum to 1."
        )


class InputPreparation:
    """Sequential's methods that check and convert what `fit`, `predict` and `evaluate` are given."""

    def _prepare_x(self, x: Any, argument: str = "x") -> torch.Tensor:
        tensor = to_tensor(x, argument)
        expects_sequences = (self.built_input_shape is not None and len(self.built_input_shape) == 2) or (
            self.built_input_shape is None and self.layers
            and isinstance(self.layers[0], (Recurrent, Bidirectional, Masking))
        )
        if expects_sequences and tensor.ndim == 2:
            tensor = tensor.unsqueeze(-1)  # (samples, timesteps) -> one feature
        if self.built_input_shape is None:
            self._require_built_layers()
            self.build(tuple(tensor.shape[1:]))
        expected = self.built_input_shape
        got = tuple(tensor.shape[1:])
        if not shape_fits(expected, got):
            raise ValueError(
                f"`{argument}` has shape {tuple(tensor.shape)} but the model expects "
                f"{shape_text((None, *expected))} (samples first). Cut inputs to that shape, or "
                f"build the model with input_shape={tuple(got)}."
            )
        if self.layers and getattr(self.layers[0], "takes_ids", False):
            return _token_ids(tensor, self.layers[0].input_dim, argument).to(self.device)
        dtype = self._dtype()
        return tensor.to(device=self.device, dtype=dtype)

    def _require_built_layers(self) -> None:
        if not self.layers:
            raise ValueError("the model has no layers: add some with model.add(...).")

    def _prepare_inputs(
        self, x: Any, lengths: Any, argument: str = "x", any_length: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Inputs and their mask of real steps: (x (N, T, F), mask (N, T) bool or None).

        A list of per-sample arrays, or a padded array, with `lengths` is padded after the real
        steps and masked (lstmkit.sequences); anything else goes through `_prepare_x`.
        `any_length` accepts any number of timesteps (for `trace`).
        """
        x, lengths = sequences.padded_inputs(x, lengths, argument)
        if lengths is not None and self.built_input_shape is None:
            self._require_built_layers()
            self.build((None, x.shape[-1]))  # variable-length data: any number of steps
        shape = self.built_input_shape
        if any_length and shape is not None and len(shape) == 2:
            tensor = to_tensor(x, argument)
            tensor = tensor.unsqueeze(-1) if tensor.ndim == 2 else tensor
            if tensor.ndim != 3 or tensor.shape[-1] != shape[-1]:
                raise ValueError(
                    f"`{argument}` has shape {tuple(tensor.shape)} but the model reads sequences of "
                    f"{shape[-1]} feature(s): (samples, timesteps, {shape[-1]})."
                )
            tensor = tensor.to(device=self.device, dtype=self._dtype())
        else:
            if lengths is not None and shape is not None and shape[0] is not None and x.shape[1] < shape[0]:
                x = np.pad(x, ((0, 0), (0, shape[0] - x.shape[1]), (0, 0)))  # up to the model's length
            tensor = self._prepare_x(x, argument)
        if isinstance(self.layers[0], Masking):
            sequences.check_mask_value(tensor.cpu().numpy(), self.layers[0].mask_value, lengths, argument)
        if lengths is None:
            return tensor, None
        return tensor, front_mask(torch.as_tensor(lengths, device=self.device), tensor.shape[1])

    def _prepare_targets(self, y: Any, samples: int, mask: torch.Tensor | None, argument: str = "y") -> torch.Tensor:
        """`_prepare_y`, after padding per-step targets of variable-length inputs (zero at padding)
        and checking classification targets against the loss."""
        if y is None:
            raise ValueError(f"`{argument}` is missing: pass targets, one per sample (only a batch source such as "
                             f"lstmkit.data.WindowedSeries cuts its own).")
        if mask is not None and len(self.output_shape) == 2:  # one target per step
            y = np.array(sequences.padded_targets(y, mask.shape[1], argument))
            if y.ndim >= 2 and y.shape[1] == mask.shape[1]:
                y[~mask.cpu().numpy()] = 0  # padded steps have no target; the loss skips them
        check_class_targets(self.loss, y, self.output_shape, argument)
        return self._prepare_y(y, samples, argument)

    def _class_sample_weights(self, class_weight: Mapping[int, float], y_t: torch.Tensor) -> torch.Tensor:
        """Keras's class_weight as per-sample weights (N,) for the loss."""
        output = self.output_shape
        if len(output) != 1:
            raise ValueError(
                f"`class_weight` weighs one label per sample, but the model outputs "
                f"{shape_text((None, *output))}, one per time step."
            )
        labels = class_labels(y_t.cpu().numpy())
        weights = sample_weights(class_weight, labels, classes=max(output[-1], 2))
        return torch.as_tensor(weights, dtype=self._dtype(), device=self.device)

    def _prepare_y(self, y: Any, samples: int, argument: str = "y") -> torch.Tensor:
        tensor = to_tensor(y, argument)
        if len(tensor) != samples:
            raise ValueError(
                f"`{argument}` has {len(tensor)} samples but x has {samples}; they must match one to one."
            )
        output = self.output_shape
        if losses.is_sparse(self.loss):
            classes, rows = output[-1], output[:-1]
            labels = tensor.reshape(samples, -1)  # one label per output row: (samples, rows)
            if None not in rows and labels.shape[1] != math.prod(rows):
                expected_text = shape_text((None, *rows)) if rows else "(None,) or (None, 1)"
                raise ValueError(
                    f"`{argument}` has shape {tuple(tensor.shape)} but {self.loss} takes one class "
                    f"index per output row, shape {expected_text}, for the model's output "
                    f"{shape_text((None, *output))}."
                )
            if tensor.is_floating_point() and not bool((tensor == tensor.round()).all()):
                raise ValueError(f"`{argument}` must hold integer class labels for {self.loss}.")
            outside = (labels < 0) | (labels >= classes)
            if bool(outside.any()):
                first = int(outside.any(dim=1).nonzero()[0, 0])
                raise ValueError(
                    f"`{argument}` holds class label {int(labels[first][outside[first]][0])} in sample "
                    f"{first}, outside 0..{classes - 1} for the model's {classes} outputs."
                )
            return tensor.to(device=self.device, dtype=torch.long)
        expected = (samples, *output)
        if tensor.ndim == len(expected) - 1 and expected[-1] == 1:
            tensor = tensor.unsqueeze(-1)  # (samples,) targets for a one-output model
        got = tuple(tensor.shape)
        if not shape_fits(expected, got):
            raise ValueError(
                f"`{argument}` has shape {got} but the model outputs {shape_text((None, *output))}. "
                f"Give targets of that shape (one-hot rows for categorical_crossentropy), or change "
                f"the last layer."
            )
        dtype = self._dtype()
        return tensor.to(device=self.device, dtype=dtype)

    def _prepare_source(self, source: BatchSource, y: Any, argument: str
                        ) -> tuple[torch.Tensor | SourceBatches, torch.Tensor | None]:
        """A batch source's samples for the loops: (x, y) tensors when they take at most
        MATERIALIZE_MAX_BYTES, else (SourceBatches, None), which cuts each batch from the source."""
        if y is not None:
            raise ValueError(f"`{argument}` is a {type(source).__name__}, which cuts its own targets; pass y=None.")
        if len(source) == 0:
            raise ValueError(f"`{argument}` holds no samples; pass a source with at least one.")
        got = tuple(source.input_shape)
        if self.built_input_shape is None:
            self._require_built_layers()
            self.build(got)
        expected = self.built_input_shape
        if not shape_fits(expected, got):
            raise ValueError(
                f"`{argument}` has samples of shape {got} but the model expects {shape_text(expected)}; "
                f"build the model with input_shape={got}."
            )
        output = got
        for layer in self.layers:  # the output for the source's shape (the model's may have None steps)
            output = layer.compute_output_shape(output)
        target = output[:-1] if losses.is_sparse(self.loss) else output  # sparse: one class label per output row
        if math.prod(source.target_shape) != math.prod(target):
            raise ValueError(
                f"`{argument}` has targets of shape {tuple(source.target_shape)} but the model outputs "
                f"{shape_text((None, *output))}; end it with Dense({math.prod(source.target_shape)})."
            )
        if len(source) * math.prod(got) * self._dtype().itemsize <= MATERIALIZE_MAX_BYTES:
            x, y = source.batch(np.arange(len(source)))
            return self._prepare_x(x, argument), self._prepare_y(y.reshape(len(y), *target), len(x), argument)
        return SourceBatches(source, self.device, self._dtype(), target), None
