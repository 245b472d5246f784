"""Which samples each training step reads: an epoch's order and, under torchrun, each process's share.

The order is torch.utils.data.DistributedSampler's, computed without its Python lists: a
permutation drawn from a generator seeded with `seed + epoch`, padded by repeating its first
indices to a multiple of the number of processes, and every `world`-th index from `rank`.
A single process is world 1. Each process cuts its share into batches of
`batch_size // world`, so global batch k is the k-th run of `batch_size` indices of the
permutation on every number of processes: 2 processes with batch_size 2b take the same
gradient steps as 1 process with batch_size 2b (when the sample count is a multiple of 2).

Above BLOCK_SHUFFLE_MIN samples a permutation would itself be a large array (100M windows:
800 MB), so the order is shuffled by blocks instead: blocks of BLOCK consecutive samples are
taken in a random order, BUFFER_BLOCKS of them at a time, and each group is permuted as a
whole. Memory is that of one group (~8 MB); every sample is still seen once an epoch.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

BLOCK = 1 << 16
BUFFER_BLOCKS = 16
BLOCK_SHUFFLE_MIN = 1 << 22


def _generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed + epoch)


def _stream(samples: int, epoch: int, seed: int, shuffle: bool) -> Iterator[torch.Tensor]:
    """The epoch's global order, in pieces (one piece below BLOCK_SHUFFLE_MIN samples)."""
    if not shuffle:
        for start in range(0, samples, BLOCK_SHUFFLE_MIN):
            yield torch.arange(start, min(start + BLOCK_SHUFFLE_MIN, samples))
        return
    generator = _generator(seed, epoch)
    if samples < BLOCK_SHUFFLE_MIN:
        yield torch.randperm(samples, generator=generator)
        return
    blocks = torch.randperm(-(-samples // BLOCK), generator=generator)
    for group in blocks.split(BUFFER_BLOCKS):
        starts = (group * BLOCK).tolist()
        pieces = torch.cat([torch.arange(s, min(s + BLOCK, samples)) for s in starts])
        yield pieces[torch.randperm(len(pieces), generator=generator)]


def shard_size(samples: int, world: int) -> int:
    """Samples each process reads an epoch (DistributedSampler's num_samples, padding included)."""
    return -(-samples // world)


def epoch_order(samples: int, epoch: int, seed: int, shuffle: bool, world: int = 1, rank: int = 0
                ) -> Iterator[torch.Tensor]:
    """This process's share of the epoch's order, in pieces: exactly the indices
    DistributedSampler(range(samples), world, rank, shuffle, seed) yields after set_epoch(epoch)."""
    padding = shard_size(samples, world) * world - samples
    head: list[torch.Tensor] = []  # the first indices, repeated at the end as padding
    offset = 0  # global position of the piece's first index
    for piece in _stream(samples, epoch, seed, shuffle):
        if padding and sum(len(h) for h in head) < padding:
            head.append(piece[:padding])
        yield piece[(rank - offset) % world :: world]
        offset += len(piece)
    if padding:
        tail = torch.cat(head)
        while len(tail) < padding:  # fewer samples than processes: DistributedSampler repeats them all
            tail = torch.cat([tail, tail])
        yield tail[:padding][(rank - offset) % world :: world]


def epoch_orders(samples: int, first: int, epochs: int, seed: int, shuffle: bool) -> np.ndarray:
    """The orders (epochs, samples) of epochs first .. first + epochs - 1 on one process: each row
    is `epoch_order`'s, drawn into one array, for the engines that run several epochs a call (which
    load numba anyway): torch.randperm's permutations in one compiled call
    (lstmkit.ops.permutations) where they are _stream's one permutation, else through torch."""
    orders = np.empty((epochs, samples), np.int64)
    if not shuffle:
        orders[:] = np.arange(samples)
    elif samples < BLOCK_SHUFFLE_MIN and _compiled_randperm():
        from lstmkit.ops.permutations import randperms

        orders = randperms(samples, np.arange(seed + first, seed + first + epochs, dtype=np.int64))
    elif samples < BLOCK_SHUFFLE_MIN:  # the same, a generator reseeded for each epoch
        rows, generator = torch.from_numpy(orders), torch.Generator()
        for row, epoch in enumerate(range(first, first + epochs)):
            torch.randperm(samples, generator=generator.manual_seed(seed + epoch), out=rows[row])
    else:
        for row, epoch in enumerate(range(first, first + epochs)):
            orders[row] = torch.cat(list(_stream(samples, epoch, seed, True))).numpy()
    return orders


def _compiled_randperm() -> bool:
    """Whether lstmkit.ops.permutations draws torch.randperm's permutations (checked once a process)."""
    from lstmkit.ops.permutations import matches_torch

    return matches_torch()


def epoch_batches(samples: int, batch_size: int, epoch: int, seed: int, shuffle: bool,
                  world: int = 1, rank: int = 0, steps: int | None = None) -> Iterator[torch.Tensor]:
    """This process's batches of the epoch: runs of `batch_size // world` indices of its share,
    at most `steps` of them."""
    per_rank = batch_size // world
    pending: list[torch.Tensor] = []
    held = 0
    taken = 0
    for piece in epoch_order(samples, epoch, seed, shuffle, world, rank):
        pending.append(piece)
        held += len(piece)
        if held < per_rank:
            continue
        joined = torch.cat(pending) if len(pending) > 1 else pending[0]
        cut = held - held % per_rank
        for batch in joined[:cut].split(per_rank):
            if steps is not None and taken >= steps:
                return
            yield batch
            taken += 1
        pending, held = [joined[cut:]], held - cut
    if held and (steps is None or taken < steps):
        yield torch.cat(pending)


def steps_per_epoch(samples: int, batch_size: int, world: int = 1, steps: int | None = None) -> int:
    """Batches each process takes an epoch."""
    full = -(-shard_size(samples, world) // (batch_size // world))
    return full if steps is None else min(steps, full)
