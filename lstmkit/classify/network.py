"""The networks inside the SequenceClassifier, and the training of one ensemble member.

"lstm":     Bidirectional(cell(units)) -> Dropout -> Dense(C, softmax)
"lstm-fcn": LSTMFCN(units, filters)   -> Dropout -> Dense(C, softmax), where LSTMFCN runs a
            bidirectional recurrent branch beside a convolutional one (Karim et al., "LSTM Fully
            Convolutional Networks for Time Series Classification", IEEE Access 2018): three blocks
            of Conv1d -> BatchNorm -> ReLU, global average pooling over the real steps, and the
            two branches' vectors concatenated.

The recurrent cell is looked up by name in lstmkit.layers.LAYERS ("lstm" -> LSTM), so any
recurrent layer registered there (and accepted by Bidirectional) can be asked for with `cell=`.
Padded steps of variable-length batches are zero at the convolutions' inputs, left out of the
batch statistics and of the pooling, so each sequence gets the output it gets alone.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Sequence

import torch
from torch import nn

from lstmkit.callbacks import EarlyStopping
from lstmkit.checks import choice, positive_int
from lstmkit.layers import LAYERS, Bidirectional, Dense, Dropout, Layer, Shape
from lstmkit.models import Sequential
from lstmkit.optimizers import Adam
from lstmkit.training import History

if TYPE_CHECKING:
    from lstmkit.classify.classifier import SequenceClassifier

ARCHITECTURES = ("lstm", "lstm-fcn")
KERNEL_SIZES = (8, 5, 3)  # the FCN's three blocks (Wang et al. 2017)


def recurrent_layer(cell: str) -> type[Layer]:
    """The recurrent layer class named `cell` ("lstm", "gru", ...) in lstmkit.layers.LAYERS."""
    names = {name.lower(): layer for name, layer in LAYERS.items()  # the recurrent ones: LSTM, GRU, ...
             if "return_sequences" in inspect.signature(layer.__init__).parameters}
    return names[choice(str(cell).lower(), "cell", names)]


class LSTMFCN(Layer):
    """A bidirectional recurrent branch beside a fully convolutional one; outputs their two
    vectors concatenated: (B, 2·units + filters[-1]).

    Args:
        units: units of each direction of the recurrent branch.
        filters: output channels of the three convolution blocks (kernel sizes 8, 5, 3).
        cell: the recurrent layer's name in lstmkit.layers.LAYERS.
    """

    takes_mask = True

    def __init__(self, units: int, filters: Sequence[int] = (64, 128, 64), cell: str = "lstm",
                 input_shape: Sequence[int | None] | None = None, name: str | None = None) -> None:
        self.units, self.cell = positive_int(units, "units"), cell
        self.filters = [positive_int(f, "filters") for f in filters]
        if len(self.filters) != len(KERNEL_SIZES):
            raise ValueError(f"`filters` must be three positive integers; got {list(filters)!r}.")
        super().__init__(input_shape=input_shape, name=name)

    def build(self, input_shape: Shape) -> None:
        channels = input_shape[-1]
        self.recurrent = Bidirectional(recurrent_layer(self.cell)(self.units))
        self.recurrent.build(input_shape)
        widths = [channels, *self.filters]
        self.convolutions = nn.ModuleList(nn.Conv1d(widths[k], widths[k + 1], size)
                                          for k, size in enumerate(KERNEL_SIZES))
        self.norms = nn.ModuleList(nn.BatchNorm1d(width) for width in self.filters)
        super().build(input_shape)

    def reset_parameters(self) -> None:
        self.recurrent.reset_parameters()
        for module in [*self.convolutions, *self.norms]:
            module.reset_parameters()

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (2 * self.units + self.filters[-1],)

    def compute_mask(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor | None:
        return None  # one vector per sequence

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, T, F); mask: (B, T) bool, True at real steps (padding after them)."""
        self._build_from(x)
        recurrent = self.recurrent(x) if mask is None else self.recurrent(x, mask=mask)
        z = x.transpose(1, 2)  # (B, F, T)
        real = None if mask is None else mask.unsqueeze(1).to(x.dtype)  # (B, 1, T)
        for convolution, norm in zip(self.convolutions, self.norms):
            if real is not None:
                z = z * real  # padding reads as the zeros a sequence alone is padded with
            size = convolution.kernel_size[0]
            z = nn.functional.pad(z, ((size - 1) // 2, size // 2))  # "same" length, zeros beyond the ends
            z = torch.relu(_batch_norm(norm, convolution(z), real))
        pooled = z.mean(dim=2) if real is None else (z * real).sum(dim=2) / real.sum(dim=2)
        return torch.cat([recurrent, pooled], dim=1)

    def get_config(self) -> dict[str, Any]:
        return {"units": self.units, "filters": self.filters, "cell": self.cell, **super().get_config()}


def _batch_norm(norm: nn.BatchNorm1d, z: torch.Tensor, real: torch.Tensor | None) -> torch.Tensor:
    """BatchNorm1d over (B, C, T) whose training statistics count only the real steps."""
    if real is None or not norm.training:
        return norm(z)
    count = real.sum()
    mean = (z * real).sum(dim=(0, 2)) / count
    variance = (((z - mean[:, None]) ** 2) * real).sum(dim=(0, 2)) / count
    with torch.no_grad():
        unbiased = variance * count / torch.clamp(count - 1, min=1)
        norm.running_mean.lerp_(mean.detach(), norm.momentum)
        norm.running_var.lerp_(unbiased.detach(), norm.momentum)
        norm.num_batches_tracked += 1
    scaled = (z - mean[:, None]) / torch.sqrt(variance[:, None] + norm.eps)
    return scaled * norm.weight[:, None] + norm.bias[:, None]


def build_network(spec: "SequenceClassifier", channels: int, classes: int, compile: bool = True) -> Sequential:
    """A fresh network, compiled unless `compile` is False (one built on the meta device to
    check a file's shapes): the spec's `model=` (new weights) or its architecture."""
    if spec.model is not None:
        model = Sequential.from_config(spec.model.get_config())
        if model.built_input_shape is None:
            model.build((None, channels))
        given = model.built_input_shape
        if len(given) != 2 or given[0] is not None or given[-1] != channels:
            raise ValueError(f"`model` takes inputs {given}; the classifier feeds (None, {channels}) (any length, "
                             f"{channels} channel(s)): build it with input_shape=(None, {channels}).")
        if tuple(model.output_shape) != (classes,) or getattr(model.layers[-1], "activation", None) != "softmax":
            raise ValueError(f"`model` must end with Dense({classes}, activation='softmax') for {classes} classes; "
                             f"it outputs {tuple(model.output_shape)}.")
    else:
        if spec.architecture == "lstm":
            body: Layer = Bidirectional(recurrent_layer(spec.cell)(spec.units), input_shape=(None, channels))
        else:
            body = LSTMFCN(spec.units, spec.filters, spec.cell, input_shape=(None, channels))
        model = Sequential([body, Dropout(spec.dropout), Dense(classes, activation="softmax")],
                           name=f"classifier_{spec.architecture}")
    if compile:
        compile_network(model, spec.learning_rate)
    return model


def compile_network(model: Sequential, learning_rate: float) -> None:
    """Cross-entropy on class indices, Adam."""
    model.compile(loss="sparse_categorical_crossentropy", optimizer=Adam(learning_rate=learning_rate))


def train_member(model: Sequential, spec: "SequenceClassifier", train: tuple[Any, Any, Any], validation: tuple | None,
                 class_weight: dict[int, float] | None, seed: int, verbose: int) -> tuple[History, int]:
    """Fit one member, early-stopped on the validation part with its best weights restored.
    Returns its History and the 1-based epoch whose weights it keeps."""
    stopper = None if validation is None else EarlyStopping(patience=spec.patience, restore_best_weights=True)
    x, lengths, y = train
    history = model.fit(x, y, epochs=spec.epochs, batch_size=spec.batch_size, verbose=2 if verbose == 2 else 0,
                        validation_data=validation, callbacks=[] if stopper is None else [stopper],
                        seed=seed, class_weight=class_weight, lengths=lengths)
    best = stopper.best_epoch if stopper is not None else len(history.epoch) - 1
    return history, best + 1
