"""Data-parallel training with PyTorch's own engine: torch.distributed and DistributedDataParallel.

A script started by `torchrun --nproc_per_node=N script.py` runs N copies of itself; torchrun
sets WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR and MASTER_PORT in each. Under it,
`Sequential.fit(distributed="auto")`:

- joins the process group (gloo for a CPU model, nccl for a CUDA one) unless the script
  already did, and wraps the model in DistributedDataParallel, which starts every process
  from rank 0's weights and averages the gradients of each step across processes;
- gives each process its share of every batch (lstmkit.training.sampling: DistributedSampler's order,
  reshuffled each epoch); `batch_size` is the global batch, split evenly across processes;
- sums the loss and metrics over processes, so every process logs (and its callbacks see)
  the same numbers; only rank 0 prints, draws progress and writes files.

`distributed="off"` trains each process on its own, as if torchrun were not there.
"""

from __future__ import annotations

import atexit
import gc
import os
from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import distributed as dist
from torch.nn.parallel import DistributedDataParallel

_REQUIRED_ENV = ("RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class Cluster:
    """The processes training together: how many, which one this is, and where collectives run."""

    world: int
    rank: int
    local_world: int
    device: torch.device  # where this process's collective tensors live (CPU for gloo)

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that prints and writes files."""
        return self.rank == 0


def world_size_from_env() -> int:
    """WORLD_SIZE as torchrun sets it (1 when absent)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise ValueError(f"WORLD_SIZE must be an integer; the environment has {os.environ['WORLD_SIZE']!r}.") from None


def check_mode(distributed: Any) -> str:
    if distributed not in ("auto", "off"):
        raise ValueError(
            f"`distributed` must be 'auto' (data-parallel when started by torchrun) or 'off'; got {distributed!r}."
        )
    return distributed


def join(distributed: str, device: torch.device) -> Cluster | None:
    """The Cluster this process trains in, joining the process group first if needed; None when
    training alone (distributed='off', or not started by torchrun with more than one process)."""
    if check_mode(distributed) == "off":
        return None
    if dist.is_available() and dist.is_initialized():
        world, rank = dist.get_world_size(), dist.get_rank()
    else:
        world = world_size_from_env()
        if world <= 1:
            return None
        missing = [name for name in _REQUIRED_ENV if name not in os.environ]
        if missing:
            raise ValueError(
                f"WORLD_SIZE={world} is set but {', '.join(missing)} is not: start the script with "
                f"`torchrun --nproc_per_node={world} script.py`, or pass distributed='off'."
            )
        if not dist.is_available():
            raise ValueError("this PyTorch build has no torch.distributed; pass distributed='off'.")
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        # Left to the interpreter's shutdown, gloo's threads can abort the process on exit.
        atexit.register(_leave)
        rank = dist.get_rank()
    if world <= 1:
        return None
    collective_device = device if dist.get_backend() == "nccl" else torch.device("cpu")
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    return Cluster(world, rank, local_world, collective_device)


def is_main_process() -> bool:
    """False only on ranks other than 0 of a joined process group: those neither print nor write."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def launched_rank() -> int:
    """This process's RANK when torchrun started several (0 otherwise), before any group is joined."""
    return int(os.environ.get("RANK", "0")) if world_size_from_env() > 1 else 0


def _leave() -> None:
    if dist.is_initialized():
        gc.collect()  # DistributedDataParallel wrappers still referenced from cycles hold the group
        dist.barrier()  # no process tears its connections down while another still uses them
        dist.destroy_process_group()


def local_device(device: torch.device) -> torch.device:
    """Under torchrun, a bare 'cuda' means this process's GPU, cuda:LOCAL_RANK."""
    if device.type == "cuda" and device.index is None and world_size_from_env() > 1:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


class _MaskedForward(torch.nn.Module):
    """The model's forward_with_mask as a forward, so DDP sees the output mask pass through."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, Any]:
        return self.model.forward_with_mask(x, mask)


class DataParallel(DistributedDataParallel):
    """DistributedDataParallel over a Sequential, with the `forward_with_mask` the fit loop calls."""

    def forward_with_mask(self, x: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, Any]:
        return self(x, mask)


def wrap(model: torch.nn.Module, cluster: Cluster) -> DataParallel:
    """The model in DistributedDataParallel (which broadcasts rank 0's weights to every process)."""
    device_ids = [model_device.index] if (model_device := next(model.parameters()).device).type == "cuda" else None
    return DataParallel(_MaskedForward(model), device_ids=device_ids)


def broadcast_int(value: int, cluster: Cluster) -> int:
    """Rank 0's `value` on every process."""
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return int(box[0])


def all_sum(values: Sequence[float], cluster: Cluster) -> list[float]:
    """Each value summed over the processes (float64)."""
    tensor = torch.tensor(list(values), dtype=torch.float64, device=cluster.device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def all_gather_tensors(tensor: torch.Tensor, cluster: Cluster) -> list[torch.Tensor]:
    """Every process's `tensor` (the same shape and dtype on each), in rank order, as CPU tensors."""
    local = tensor.to(cluster.device)
    gathered = [torch.empty_like(local) for _ in range(cluster.world)]
    dist.all_gather(gathered, local)
    return [t.cpu() for t in gathered]


def barrier(cluster: Cluster | None) -> None:
    if cluster is not None:
        dist.barrier()
