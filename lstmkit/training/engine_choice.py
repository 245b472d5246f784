"""Which engine trains a model and which predicts with it: the one place that decides, from one table.

Engines (the per-layer kernel choice inside the torch engine stays in lstmkit.ops.dispatch):

    torch        zero_grad/forward/loss/backward/clip/step a batch (lstmkit.training.torch_engine);
                 in DistributedDataParallel under torchrun. Trains every model.
    per-sample   a cell's fused kernel, whole epochs in one compiled call, sample by sample
    batched      the same over the whole batch with BLAS GEMMs (needs scipy for numba's np.dot)
    fused predict  a cell's compiled forward pass for a few windows

`FUSED_CELLS` is the table: one row per recurrent cell class that has fused kernels, naming its
kernels (as "module:function", imported on first use, since numba modules are slow to load) and
the forward-flop limits of each engine. A fit goes to the fused engines when the model is a stack
of one registered cell (tanh/sigmoid, no dropout, not go_backwards, not stateful, the last layer
without return_sequences) then one linear Dense; loss mse or mae; no training metrics; lstmkit's
Adam or SGD (or torch's, without weight decay); a CPU model in float32 or float64; no `lengths`,
`class_weight` or `steps_per_epoch`; no backend forced with lstmkit.ops.use_backend. Then, by
forward flops of one batch: per-sample up to `per_sample_max_flops`, batched up to
`train_max_flops`, the torch engine above (with lstmkit.ops.blocked's GEMMs over whole sequences).
Predict takes the fused kernel up to `predict_max_flops` per call.

Adding a cell's fused kernels is one registration:

    register_fused_cell(GRU, FusedCell(per_sample_fit="lstmkit.ops.fused:gru_dense_fit", ...))
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from lstmkit.layers import GRU, LSTM, Dense, Layer
from lstmkit.ops.dispatch import current_backend
from lstmkit.ops.threads import threads_for
from lstmkit.training.batches import FitData
from lstmkit.training.distributed import Cluster, wrap
from lstmkit.training.fused_engine import FUSED_LOSSES, FusedEngine, weight_views
from lstmkit.training.torch_engine import TorchEngine


@dataclass
class FusedCell:
    """One row of the table: a cell's fused kernels and the forward-flop limits of its engines.

    Kernels are "module:function" names; each takes the weights as a list in Keras's
    get_weights() order (see lstmkit.ops.fused). fit kernels: (x, y, weights, kernel optimizer
    state, orders, batch_size, loss) -> batch losses (E, steps); the batched one also `threads`.
    predict: (x (N, T, F), weights) -> (N, O); where it has a method `for_weights(weights)` (as
    lstmkit.ops.fused's do), FusedPredictor calls that once per model instead, for run(x, check=True):
    the predictions, or None when `check` and x holds a NaN/inf (scanned in the kernel's call).
    `fits`: what else a layer of the cell must be for the kernels (beyond what every row needs:
    tanh/sigmoid, no dropout, ...), e.g. a GRU's layout.
    """

    per_sample_fit: str
    batched_fit: str
    predict: str
    fits: Callable[[Layer], bool] = lambda layer: True
    per_sample_max_flops: float = 2e7  # forward flops of one batch; the per-sample kernel up to here
    train_max_flops: float = 5e8  # the batched kernel up to here; the torch engine above
    predict_max_flops: float = 4e6  # forward flops of one predict call (a few tutorial windows)


FUSED_CELLS: dict[type[Layer], FusedCell] = {}


def register_fused_cell(cell: type[Layer], row: FusedCell) -> None:
    """Let models made of `cell` layers (then one Dense) train and predict on its fused kernels."""
    FUSED_CELLS[cell] = row


register_fused_cell(LSTM, FusedCell(
    per_sample_fit="lstmkit.ops.fused:lstm_dense_fit",
    batched_fit="lstmkit.ops.batched:lstm_dense_fit",
    predict="lstmkit.ops.fused:lstm_dense_predict",
))
register_fused_cell(GRU, FusedCell(
    per_sample_fit="lstmkit.ops.fused:gru_dense_fit",
    batched_fit="lstmkit.ops.batched:gru_dense_fit",
    predict="lstmkit.ops.fused:gru_dense_predict",
    fits=lambda layer: layer.use_bias,  # the kernels take Keras's (2, 3H) bias
))


def kernel(name: str) -> Callable[..., Any]:
    """The function a "module:function" name gives, looked up by each engine or predictor as it is
    made (tests may replace it)."""
    module, function = name.split(":")
    return getattr(sys.modules.get(module) or importlib.import_module(module), function)


def fused_cell(model: Any) -> FusedCell | None:
    """The table's row for the model when the fused kernels compute it exactly (see the module
    docstring), else None. (Whether a backend is forced is the caller's question.)"""
    layers = list(model.layers)
    if len(layers) < 2 or not isinstance(layers[-1], Dense):
        return None
    dense, cells = layers[-1], layers[:-1]
    if dense.activation != "linear" or not dense.use_bias:
        return None
    cell = type(cells[0])
    row = FUSED_CELLS.get(cell)
    if row is None:
        return None
    for index, layer in enumerate(cells):
        plain = (
            type(layer) is cell
            and layer.built
            and layer.activation == "tanh"
            and getattr(layer, "recurrent_activation", "sigmoid") == "sigmoid"
            and layer.dropout == 0
            and layer.recurrent_dropout == 0
            and not layer.go_backwards
            and not layer.return_state
            and not layer.stateful
            and row.fits(layer)
        )
        if not plain or layer.return_sequences != (index < len(cells) - 1):
            return None
    params = list(model.parameters())
    fine = all(p.device.type == "cpu" and p.dtype in (torch.float32, torch.float64) for p in params)
    return row if fine and len({p.dtype for p in params}) == 1 else None


def has_blas() -> bool:
    """True when numba can call BLAS (its np.dot needs scipy), as the batched kernels do."""
    return importlib.util.find_spec("scipy") is not None


def fused_fit_engine(model: Any, data: FitData) -> str | None:
    """"per-sample" or "batched" when `fit` can run on a fused engine with the torch engine's
    results, else None."""
    row = None if current_backend() != "auto" else fused_cell(model)
    if row is None or data.metrics or FUSED_LOSSES.get(model.loss) is None:
        return None
    if data.mask is not None or data.sample_weight is not None or data.validation_mask is not None:
        return None  # variable-length inputs and class weights take the torch engine
    if data.steps is not None or data.y is None:
        return None  # steps_per_epoch (the kernels run whole epochs), or a source too large to gather
    if model.optimizer_state.fused_kind() is None or data.y.ndim != 2:
        return None
    flops = model.forward_flops(data.batch_size)
    if flops <= row.per_sample_max_flops:
        return "per-sample"
    if flops <= row.train_max_flops and has_blas():
        return "batched"
    return None


def fit_engine(model: Any, data: FitData, cluster: Cluster | None) -> TorchEngine | FusedEngine:
    """The engine that trains `model` on `data`: data-parallel torch under torchrun, else a fused
    engine where one applies, else the torch engine."""
    threads = threads_for(3 * model.forward_flops(data.batch_size))  # forward + backward
    if cluster is not None:
        threads = min(threads, max(1, (os.cpu_count() or 1) // cluster.local_world))
        module = wrap(model, cluster)  # starts every process from rank 0's weights
        return TorchEngine(module, model.loss_fn, model.optimizer, data, cluster, threads)
    name = fused_fit_engine(model, data)
    if name is None:
        return TorchEngine(model, model.loss_fn, model.optimizer, data, None, threads)
    row = fused_cell(model)
    if name == "per-sample":
        return FusedEngine(model, data, kernel(row.per_sample_fit), name)
    # Two threads, each on half of every batch, while other processes leave the cores idle.
    flops = model.forward_flops(data.batch_size)
    fit = functools.partial(kernel(row.batched_fit), threads=min(2, threads_for(3 * flops)))
    return FusedEngine(model, data, fit, name)


class FusedPredictor:
    """A model's fused forward pass, decided once for its layers and its parameters' storage: the
    row's kernel looked up and given the weights (numpy views of the parameters, so updates in place
    are seen), `max_flops`, the forward flops one call may take, and `max_rows`, the windows that
    makes. `predictor(x)` then checks a call in ~1 µs; None sends it to the general path."""

    def __init__(self, row: FusedCell, weights: list[np.ndarray], input_shape: tuple, max_rows: int) -> None:
        self.function = row.predict
        self.weights = weights
        self.max_flops = row.predict_max_flops
        self.max_rows = max_rows
        self.timesteps = input_shape[0]  # None: any number of steps
        self.features = len(weights[0])  # the first kernel's input width (F, gates x units)
        self.dtype = weights[0].dtype
        predict = kernel(row.predict)
        if hasattr(predict, "for_weights"):
            self.run = predict.for_weights(weights)  # the weights checked and split once
        else:
            self.run = lambda x, check=True: None if check and not np.isfinite(x).all() else predict(x, weights)

    def __call__(self, x: np.ndarray) -> np.ndarray | None:
        """Predictions for a numpy array of windows (N, T, F) or (N, T): None (the general path,
        which explains or names what is wrong) unless it is a float array of the model's input
        shape, with 1 to `max_rows` windows, no NaN/inf, and no backend forced."""
        if x.dtype.kind != "f" or current_backend() != "auto":
            return None
        if x.ndim == 2:
            x = x[..., None]  # (samples, timesteps) -> one feature
        if x.ndim != 3 or not 0 < len(x) <= self.max_rows or x.shape[2] != self.features:
            return None
        if x.shape[1] != self.timesteps and (self.timesteps is not None or x.shape[1] == 0):
            return None
        return self.run(np.ascontiguousarray(x, dtype=self.dtype))

    def unchecked(self, x: np.ndarray) -> np.ndarray:
        """Predictions for windows (N, T, F) of a shape found to fit, without the NaN/inf scan."""
        return self.run(np.ascontiguousarray(x, dtype=self.dtype), False)


def fused_predictor(model: Any) -> FusedPredictor | None:
    """The fused forward pass for `model` when a fused kernel computes it, else None. The weights
    are views of the parameters: decide again when the layers or the parameters' storage change."""
    shape = model.built_input_shape
    row = None if shape is None or len(shape) != 2 else fused_cell(model)
    if row is None:
        return None
    max_rows = int(row.predict_max_flops // max(model.forward_flops(1), 1.0))  # flops grow with rows
    return FusedPredictor(row, weight_views(model), shape, max_rows)


def predict_engine(model: Any, rows: int) -> FusedPredictor | None:
    """The fused predictor when it may take a call on `rows` windows, or None: the torch forward pass."""
    if current_backend() != "auto":
        return None
    predictor = model.fused_predictor()
    if predictor is None or model.forward_flops(rows) > predictor.max_flops:
        return None
    return predictor
