"""The fused engine: when a Sequential trains and predicts through lstmkit.ops.fused or .batched.

Tutorial-sized models spend their time in framework overhead, not arithmetic: a batch-1
step through autograd and torch.optim costs ~800 µs for ~5 µs of work. The fused kernels run
a whole epoch (forward, loss, backpropagation through time, optimizer update) in one
compiled call and predict a window in ~10 µs. Up to PER_SAMPLE_MAX_FLOPS per batch they go
sample by sample (lstmkit.ops.fused); above, the recurrence runs on the whole batch with BLAS
GEMMs (lstmkit.ops.batched: W2's LSTM(64), batch 64, trains twice as fast as on the torch loop).

They run a model of this shape, and everything else takes the general torch loop:
    LSTM layers (tanh/sigmoid, no dropout, not go_backwards, not stateful, the last one without
    return_sequences) then one linear Dense; loss mse or mae; no training metrics;
    torch.optim.Adam or SGD without weight decay (lstmkit's "adam"/"sgd" names and
    classes build those); a CPU model in float32 or float64; no `lengths` or `class_weight`.

The engines are interchangeable: the same seed gives the same sample order, the weights are
updated in place in the model's own parameters, and the optimizer state lives in the torch
optimizer's `state`, so a later fit on either engine continues where this one stopped.
Clipping (`clipnorm`/`clipvalue`) runs inside the kernels' optimizer step, ReduceLROnPlateau's
rate is read before each call, and a NaN or inf loss stops the fit as on the torch loop
(lstmkit.divergence), with the weights of the last finite epoch.
"""

from __future__ import annotations

import functools
import importlib.util
import time
from typing import Any, Sequence

import numpy as np
import torch

from lstmkit import optimizers
from lstmkit.layers import LSTM, Dense
from lstmkit.ops.dispatch import current_backend
from lstmkit.ops.threads import threads_for
from lstmkit.divergence import DivergenceGuard
from lstmkit.sampling import epoch_order
from lstmkit.training import FitData, History, ProgressBar, end_epoch, evaluate_batches

# Forward flops of one batch: up to PER_SAMPLE_MAX_FLOPS the kernels of lstmkit.ops.fused train
# sample by sample; above, batched GEMMs win and lstmkit.ops.batched trains; above
# TRAIN_MAX_FLOPS the torch loop trains, with lstmkit.ops.blocked's GEMMs over whole sequences.
PER_SAMPLE_MAX_FLOPS = 2e7
TRAIN_MAX_FLOPS = 5e8
PREDICT_MAX_FLOPS = 4e6  # forward flops of one predict call (a few tutorial windows)

_FUSED_LOSSES = {"mse": "mse", "mean_squared_error": "mse", "mae": "mae", "mean_absolute_error": "mae"}


def model_is_fusable(model: torch.nn.Module) -> bool:
    """True when every layer is one the fused kernels compute (see the module docstring),
    and no backend is forced with lstmkit.ops.use_backend."""
    if current_backend() != "auto":
        return False
    layers = list(model.layers)
    if len(layers) < 2 or not isinstance(layers[-1], Dense):
        return False
    dense, lstms = layers[-1], layers[:-1]
    if dense.activation != "linear" or not dense.use_bias:
        return False
    for index, layer in enumerate(lstms):
        if not isinstance(layer, LSTM) or not layer.built:
            return False
        plain = (
            layer.activation == "tanh"
            and layer.recurrent_activation == "sigmoid"
            and layer.dropout == 0
            and layer.recurrent_dropout == 0
            and not layer.go_backwards
            and not layer.return_state
            and not layer.stateful
        )
        if not plain or layer.return_sequences != (index < len(lstms) - 1):
            return False
    params = list(model.parameters())
    return all(p.device.type == "cpu" and p.dtype in (torch.float32, torch.float64) for p in params) and (
        len({p.dtype for p in params}) == 1
    )


def training_is_fusable(model: Any, data: FitData) -> bool:
    """True when `fit` can run on the fused engine with the same results as the torch loop."""
    if not model_is_fusable(model) or data.metrics or _FUSED_LOSSES.get(model.loss) is None:
        return False
    flops = model.forward_flops(data.batch_size)
    if flops > TRAIN_MAX_FLOPS or (flops > PER_SAMPLE_MAX_FLOPS and not _has_blas()):
        return False
    if data.mask is not None or data.sample_weight is not None or data.validation_mask is not None:
        return False  # variable-length inputs and class weights take the torch loop
    if data.steps is not None:
        return False  # steps_per_epoch: the kernels run whole epochs
    if data.y is None:
        return False  # a batch source too large to gather into arrays (model_inputs.MATERIALIZE_MAX_BYTES)
    return _optimizer_kind(model) is not None and data.y.ndim == 2


def _has_blas() -> bool:
    """True when numba can call BLAS (its np.dot needs scipy), as lstmkit.ops.batched does."""
    return importlib.util.find_spec("scipy") is not None


def _optimizer_kind(model: Any) -> str | None:
    """"adam" or "sgd" when the kernels reproduce the model's optimizer, else None.

    Before the general loop has built a torch optimizer, lstmkit's Adam and SGD settings are
    read directly: constructing a torch.optim optimizer imports torch._dynamo (~1.5 s), which
    a tutorial script need never pay.
    """
    optimizer = model._torch_optimizer
    if optimizer is None:
        spec = model._optimizer_spec
        return {optimizers.Adam: "adam", optimizers.SGD: "sgd"}.get(type(spec))
    if type(optimizer) not in (torch.optim.Adam, torch.optim.SGD) or len(optimizer.param_groups) != 1:
        return None
    group = optimizer.param_groups[0]
    if group["weight_decay"] or group.get("maximize") or group.get("amsgrad"):
        return None
    if type(optimizer) is torch.optim.SGD and group["dampening"]:
        return None
    if len(group["params"]) != len(list(model.parameters())):
        return None
    return "adam" if type(optimizer) is torch.optim.Adam else "sgd"


def weight_views(model: torch.nn.Module) -> list[np.ndarray]:
    """The parameters as numpy arrays sharing their memory, in Keras's get_weights() order."""
    return [p.detach().numpy() for p in model.parameters()]


def _fused_state(model: Any, params: list[torch.nn.Parameter], weights: list[np.ndarray]) -> Any:
    """The optimizer state the kernels update: the torch optimizer's own tensors when it
    exists, else arrays kept on the model (`hand_over_state` moves them into torch later)."""
    from lstmkit.ops import fused

    optimizer = model._torch_optimizer
    spec = model._optimizer_spec
    clipping = {name: getattr(spec, name, None) or 0.0 for name in ("clipnorm", "clipvalue")}  # 0: none
    if optimizer is None:
        if model._fused_optimizer_state is None:
            if isinstance(spec, optimizers.Adam):
                model._fused_optimizer_state = fused.AdamState(
                    weights, spec.learning_rate, spec.beta_1, spec.beta_2, spec.epsilon, **clipping
                )
            else:
                model._fused_optimizer_state = fused.SGDState(
                    weights, spec.learning_rate, spec.momentum, spec.nesterov, **clipping
                )
        return model._fused_optimizer_state
    group = optimizer.param_groups[0]
    if type(optimizer) is torch.optim.Adam:
        beta_1, beta_2 = group["betas"]
        state = fused.AdamState(weights, group["lr"], beta_1, beta_2, group["eps"], **clipping)
        slots = ("exp_avg", "exp_avg_sq")
    else:
        state = fused.SGDState(weights, group["lr"], group["momentum"], group["nesterov"], **clipping)
        slots = ("momentum_buffer",)
    adam = isinstance(state, fused.AdamState)
    for index, param in enumerate(params):
        entry = optimizer.state[param]
        if adam:
            state.step = int(entry.get("step", 0))
            entry["step"] = torch.tensor(float(state.step))
        elif entry.get("momentum_buffer") is not None:
            state.step = 1  # torch's SGD starts its buffer with the first gradient, then accumulates
        for slot in slots:
            if entry.get(slot) is None:
                entry[slot] = torch.zeros_like(param)
        if adam:
            state.exp_avg[index] = entry["exp_avg"].numpy()
            state.exp_avg_sq[index] = entry["exp_avg_sq"].numpy()
        else:
            state.momentum_buffer[index] = entry["momentum_buffer"].numpy()
    return state


def learning_rate(model: Any) -> float:
    """The learning rate the next training step uses, on either engine."""
    if model._torch_optimizer is not None:
        return float(model._torch_optimizer.param_groups[0]["lr"])
    if model._fused_optimizer_state is not None:
        return float(model._fused_optimizer_state.learning_rate)
    return float(model._optimizer_spec.learning_rate)


def set_learning_rate(model: Any, value: float) -> None:
    """Set the learning rate of the coming steps on either engine (ReduceLROnPlateau)."""
    optimizer = model._torch_optimizer
    if optimizer is None and model._fused_optimizer_state is None:
        optimizer = model.optimizer  # builds it, so the rate has somewhere to live
    if optimizer is not None:
        for group in optimizer.param_groups:
            group["lr"] = value
    if model._fused_optimizer_state is not None:
        model._fused_optimizer_state.learning_rate = value


def hand_over_state(model: Any) -> None:
    """Copy the state of fused fits into the torch optimizer just built for the general loop."""
    from lstmkit.ops import fused

    state, model._fused_optimizer_state = model._fused_optimizer_state, None
    if state is None or state.step == 0:
        return
    for index, param in enumerate(model.parameters()):
        entry = model._torch_optimizer.state[param]
        if isinstance(state, fused.AdamState):
            entry["step"] = torch.tensor(float(state.step))
            entry["exp_avg"] = torch.from_numpy(state.exp_avg[index].copy())
            entry["exp_avg_sq"] = torch.from_numpy(state.exp_avg_sq[index].copy())
        elif state.momentum > 0:
            entry["momentum_buffer"] = torch.from_numpy(state.momentum_buffer[index].copy())


def run_fused_fit(
    model: Any,
    data: FitData,
    epochs: int,
    verbose: int,
    callbacks: Sequence[Any],
    shuffle_seed: int,
    first_epoch: int = 0,
) -> History:
    """The fit loop of lstmkit.training.run_fit: all epochs in one compiled call, or one a call when
    each needs work between (printing, validation, callbacks)."""
    from lstmkit.ops import fused

    fit = fused.lstm_dense_fit
    flops = model.forward_flops(data.batch_size)
    if flops > PER_SAMPLE_MAX_FLOPS:
        from lstmkit.ops import batched  # loads scipy: not for tutorial sizes

        # Two threads, each on half of every batch, while other processes leave the cores idle.
        fit = functools.partial(batched.lstm_dense_fit, threads=min(2, threads_for(3 * flops)))

    params = list(model.parameters())
    weights = weight_views(model)
    state = _fused_state(model, params, weights)
    x = data.x.numpy()
    y = data.y.numpy()
    loss = _FUSED_LOSSES[model.loss]
    samples = len(x)
    steps = -(-samples // data.batch_size)
    batch_sizes = np.diff(np.r_[0:samples:data.batch_size, samples])
    history = History()
    history.params = {"epochs": epochs, "steps": steps, "verbose": verbose}
    guard = DivergenceGuard(model, callbacks, verbose)
    # Per-epoch work (printing, validation, callbacks) needs an epoch per call; else one call runs
    # them all, and a divergence inside it is traced back by running its finite epochs again.
    per_epoch = bool(verbose or callbacks or data.validation is not None)
    chunk = 1 if per_epoch else max(epochs - first_epoch, 1)
    epoch = first_epoch
    model.train()
    while epoch < epochs:
        count = min(chunk, epochs - epoch)
        start = time.perf_counter()
        guard.begin_epoch()
        state.learning_rate = learning_rate(model)  # ReduceLROnPlateau may have changed it
        kept = _optimizer_arrays(state, copy=True) if count > 1 else None
        orders = _draw_orders(samples, epoch, count, data.shuffle, shuffle_seed)
        losses = fit(x, y, weights, state, orders, data.batch_size, loss)
        finite = np.isfinite(losses).all(axis=1)
        if kept is not None and not finite.all():  # back to the start, then only the finite epochs
            model.load_state_dict(guard.saved)
            for array, saved in zip(_optimizer_arrays(state), kept):
                np.copyto(array, saved)
            state.step -= losses.size
            if finite.argmin():
                fit(x, y, weights, state, orders[: finite.argmin()], data.batch_size, loss)
            losses = losses[: finite.argmin() + 1]
            guard.saved = {name: value.detach().clone() for name, value in model.state_dict().items()}
        if type(model._torch_optimizer) is torch.optim.Adam:  # callbacks (checkpoints) read it
            for param in params:
                model._torch_optimizer.state[param]["step"] = torch.tensor(float(state.step))
        for row in losses:
            logs = {"loss": float(np.average(row, weights=batch_sizes))}
            if guard.check(epoch, row, logs["loss"], history):
                epochs = epoch
                break
            if data.validation is not None:
                val_logs = evaluate_batches(model, model.loss_fn, *data.validation, data.batch_size, [])
                logs.update((f"val_{key}", value) for key, value in val_logs.items())
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}")
            progress = ProgressBar(steps) if verbose == 1 else None
            elapsed = time.perf_counter() - start
            if end_epoch(history, epoch, logs, elapsed, steps, verbose, progress, callbacks, model):
                epochs = epoch + 1  # a callback stopped training
            epoch += 1
    for callback in callbacks:
        callback.on_train_end()
    return history


def _optimizer_arrays(state: Any, copy: bool = False) -> list[np.ndarray]:
    """The arrays of a fused optimizer state (Adam's moments or SGD's buffers), or copies of them."""
    arrays = [a for slot in ("exp_avg", "exp_avg_sq", "momentum_buffer") for a in getattr(state, slot, [])]
    return [a.copy() for a in arrays] if copy else arrays


def _draw_orders(samples: int, first: int, epochs: int, shuffle: bool, seed: int) -> np.ndarray:
    """The sample order (epochs, samples) of epochs first, first + 1, ...: the torch loop's."""
    if not shuffle:
        return np.tile(np.arange(samples, dtype=np.int64), (epochs, 1))
    return np.stack([torch.cat(list(epoch_order(samples, epoch, seed, True))).numpy()
                     for epoch in range(first, first + epochs)])


def fused_predict(weights: list[np.ndarray], x: np.ndarray) -> np.ndarray:
    """Predictions (N, O) for windows x (N, T, F) already checked, from `weight_views`."""
    from lstmkit.ops import fused

    return fused.lstm_dense_predict(x, weights)
