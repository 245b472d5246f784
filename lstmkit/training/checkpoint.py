"""Training checkpoints: a model file that also records where training stood, and resuming from one.

`ModelCheckpoint` writes, after an epoch, an ordinary lstmkit model file (`load_model` reads it)
whose header and tensors also hold the training state (docs/FORMAT.md):

    config["training_state"]  {"epoch": epochs done, "shuffle_seed": ..., "world_size": ...,
                               "stopped": a callback ended training, "callbacks": [their state]}
    "training.optimizer.{i}.{slot}"   the optimizer's state of the i-th weight (model.parameters() order)
    "training.rng.cpu.{rank}"          each process's torch random-number generator state
    "training.rng.cuda.{rank}"         ... and its GPU's, for a CUDA model

`fit(..., resume_from=path)` puts all of it back, so the run continues with the next epoch and
ends with the weights an uninterrupted run would have. Under torchrun every process takes part
in writing a checkpoint (rank 0 gathers the generator states) and only rank 0 writes the file;
the file goes to a temporary name first, so a run killed mid-write leaves the previous one whole.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch

from lstmkit.training.distributed import Cluster, all_gather_tensors
from lstmkit.saving import ModelFileError, open_model_file, write_model_file
from lstmkit.schema import Anything, Bool, ConfigError, Fields, Int, ListOf, MapOf, Str

_TRAINING_STATE = Fields({
    "epoch": Int(0), "shuffle_seed": Int(0, 2**63 - 1), "world_size": Int(1), "stopped": Bool(),
    "callbacks": ListOf(Fields({"class_name": Str(), "state": MapOf(Anything())}, required={"class_name", "state"})),
}, required={"epoch", "shuffle_seed", "world_size"})

PREFIX = "training."


@dataclass
class FitContext:
    """What a checkpoint written during `fit` needs from the running fit."""

    shuffle_seed: int
    cluster: Cluster | None
    callbacks: Sequence[Any] = ()


@dataclass
class Resume:
    """A checkpoint's training state, read and checked before any training starts."""

    path: str
    epoch: int
    shuffle_seed: int
    stopped: bool
    world_size: int
    weights: dict[str, torch.Tensor]
    optimizer: dict[str, torch.Tensor]
    rng: dict[str, torch.Tensor]
    callbacks: list[dict[str, Any]] = field(default_factory=list)


def _rng_tensors(model: Any, cluster: Cluster | None) -> dict[str, torch.Tensor]:
    """Every process's generator states (a collective call under torchrun)."""
    device = next(model.parameters()).device
    states = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    tensors = {}
    for kind, state in states.items():
        per_rank = [state] if cluster is None else all_gather_tensors(state, cluster)
        tensors.update((f"{PREFIX}rng.{kind}.{rank}", value) for rank, value in enumerate(per_rank))
    return tensors


def save_checkpoint(model: Any, path: str, epoch: int, stopped: bool, context: FitContext) -> None:
    """Write the model and its training state after `epoch` epochs. Every process of a cluster
    calls this; rank 0 writes."""
    tensors = _rng_tensors(model, context.cluster)
    if context.cluster is not None and not context.cluster.is_main:
        return
    tensors.update((f"{PREFIX}optimizer.{key}", value) for key, value in model.optimizer_state.to_tensors().items())
    tensors.update(model.state_dict())
    config = {
        "model": model.get_config(),
        "training": model.training_config(),
        "training_state": {
            "epoch": epoch,
            "shuffle_seed": context.shuffle_seed,
            "world_size": 1 if context.cluster is None else context.cluster.world,
            "stopped": stopped,
            "callbacks": [
                {"class_name": type(callback).__name__, "state": callback.get_state()}
                for callback in context.callbacks
            ],
        },
    }
    write_model_file(path, config, tensors)


def read_checkpoint(path: str | os.PathLike, model: Any) -> Resume:
    """Read a checkpoint for `model`, refusing a file that is not one or does not fit it."""
    path = str(path)
    file = open_model_file(path)
    state = file.config.get("training_state")
    if not isinstance(state, dict):
        raise ModelFileError(
            f"resume_from={path!r} holds a model but no training state (it was written by model.save()); "
            f"resume from a file written by lstmkit.callbacks.ModelCheckpoint."
        )
    try:
        state = _TRAINING_STATE.check(state, "training_state")
        file.check_weights({name: tuple(value.shape) for name, value in model.state_dict().items()}, ignore=PREFIX)
    except (ConfigError, ModelFileError) as err:
        raise ModelFileError(
            f"resume_from={path!r} was written by a different model, or is damaged ({err}); build the same "
            f"architecture as the run that wrote it."
        ) from None
    tensors = file.tensors()
    return Resume(
        path=path,
        epoch=state["epoch"],
        shuffle_seed=state["shuffle_seed"],
        stopped=state.get("stopped", False),
        world_size=state["world_size"],
        weights={name: t for name, t in tensors.items() if not name.startswith(PREFIX)},
        optimizer=_stripped(tensors, PREFIX + "optimizer."),
        rng=_stripped(tensors, PREFIX + "rng."),
        callbacks=state.get("callbacks", []),
    )


def _stripped(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {name[len(prefix):]: value for name, value in tensors.items() if name.startswith(prefix)}


def restore(model: Any, resume: Resume, callbacks: Sequence[Any], cluster: Cluster | None) -> None:
    """Put the checkpoint's weights, optimizer state, callback states and this process's
    generator state back. Identical results need the world size of the run that wrote it."""
    with torch.no_grad():
        for name, value in model.state_dict().items():
            value.copy_(resume.weights[name])
    for layer in model.layers:
        layer.weights_set = True
    model.optimizer_state.load_tensors(resume.optimizer)
    saved = [
        (entry.get("class_name"), entry.get("state", {})) for entry in resume.callbacks if isinstance(entry, dict)
    ]
    for callback, (class_name, state) in zip(callbacks, saved):
        if type(callback).__name__ == class_name:
            callback.set_state(state)
    rank = 0 if cluster is None else cluster.rank
    source = rank % max(resume.world_size, 1)
    if f"cpu.{source}" in resume.rng:
        torch.set_rng_state(resume.rng[f"cpu.{source}"])
    device = next(model.parameters()).device
    if device.type == "cuda" and f"cuda.{source}" in resume.rng:
        torch.cuda.set_rng_state(resume.rng[f"cuda.{source}"], device)
