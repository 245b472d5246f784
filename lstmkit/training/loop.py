"""The epoch loop: the one place that runs epochs, on any engine.

An engine (lstmkit.training.torch_engine.TorchEngine, or a fused one from
lstmkit.training.fused_engine) trains one or more epochs a call and hands back each epoch's logs
and batch losses; everything else lives here once: Keras's "Epoch 3/10" lines and progress bar,
the History, the divergence guard (lstmkit.training.divergence), validation and the callbacks
(checkpoints among them). lstmkit.training.engine_choice picks the engine; `Sequential.fit`
checks its arguments, then calls `run_plan`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from lstmkit.training.batches import FitData
from lstmkit.training.distributed import Cluster
from lstmkit.training.divergence import DivergenceGuard
from lstmkit.training.history import History, ProgressBar, epoch_line
from lstmkit.training.sampling import steps_per_epoch
from lstmkit.training.torch_engine import LossFn, TorchEngine


@dataclass
class FitPlan:
    """One fit, decided: what trains (`engine`), on what, for which epochs, reported how.

    `model` is what the callbacks and the divergence guard see (not a DDP wrapper); epochs
    first_epoch .. epochs - 1 are trained, each in lstmkit.training.sampling's order for
    (shuffle_seed, epoch); with a `cluster`, only rank 0 prints.
    """

    model: torch.nn.Module
    engine: Any
    data: FitData
    epochs: int
    verbose: int
    callbacks: Sequence[Any]
    shuffle_seed: int
    first_epoch: int = 0
    cluster: Cluster | None = None


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
    """Finish an epoch: Keras's line, the History entry, the callbacks.
    Returns True when a callback asks to stop, or set `model.stop_training` (Keras's flag)."""
    if progress is not None:
        progress.draw(steps, logs, final=True)
    elif verbose == 2:
        print(epoch_line(steps, elapsed, logs))
    history.record(epoch, logs)
    stopping = any([callback.on_epoch_end(epoch, logs) for callback in callbacks])  # every callback sees it
    stopping = stopping or bool(getattr(model, "stop_training", False))
    for callback in callbacks:
        callback.after_epoch(epoch, stopping)
    return stopping


def run_plan(plan: FitPlan) -> History:
    """Train the plan's epochs and return the History. The callbacks must have been through
    `begin_callbacks`. A NaN or inf loss stops the fit (lstmkit.training.divergence)."""
    data, engine, callbacks, epochs = plan.data, plan.engine, plan.callbacks, plan.epochs
    verbose = plan.verbose if plan.cluster is None or plan.cluster.is_main else 0
    world = 1 if plan.cluster is None else plan.cluster.world
    steps = steps_per_epoch(len(data.x), data.batch_size, world, data.steps)
    history = History()
    history.params = {"epochs": epochs, "steps": steps, "verbose": verbose}
    guard = DivergenceGuard(plan.model, callbacks, verbose)
    per_epoch_work = bool(verbose or callbacks or data.validation is not None)
    epoch, stopping = plan.first_epoch, False
    with engine.running():
        while epoch < epochs and not stopping:
            start = time.perf_counter()
            guard.begin_epoch()
            count = engine.epochs_per_call(epochs - epoch, per_epoch_work)
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}")
            progress = ProgressBar(steps) if verbose == 1 else None
            runs, rewound = engine.run(epoch, count, plan.shuffle_seed, progress)
            if rewound:
                guard.begin_epoch()  # the engine wound back to the start of its last epoch
            for logs, batch_losses in runs:
                if guard.check(epoch, batch_losses, logs["loss"], history):
                    stopping = True
                    break
                if data.validation is not None:
                    logs.update((f"val_{key}", value) for key, value in engine.validate(data.validation).items())
                elapsed = time.perf_counter() - start
                stopping = end_epoch(history, epoch, logs, elapsed, steps, verbose, progress, callbacks, plan.model)
                epoch += 1
                if stopping:
                    break
    for callback in callbacks:
        callback.on_train_end()
    return history


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
    """The loop on the torch engine from plain pieces (a module, a loss function, a torch
    optimizer), for models other than Sequential (lstmkit.seq2seq). With a `cluster`, `module`
    is the model in DistributedDataParallel."""
    engine = TorchEngine(module, loss_fn, optimizer, data, cluster)
    model = getattr(module, "module", module)
    return run_plan(FitPlan(model, engine, data, epochs, verbose, callbacks, shuffle_seed, first_epoch, cluster))
