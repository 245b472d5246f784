"""torch.randperm's permutations on the CPU, many in one compiled call.

The fused engines run all the epochs of a fit in one kernel call, and need every epoch's order
first: `torch.randperm(n, generator=torch.Generator().manual_seed(seed + epoch))` for each epoch
(lstmkit.training.sampling). Through torch that is ~4 µs an epoch, mostly the calls themselves;
here it is one call for all of them.

torch's CPU generator is the 32-bit Mersenne Twister (MT19937), seeded with the low 32 bits of
the seed (Matsumoto and Nishimura's init_genrand), and its randperm for n below 2³²/20 is a
Fisher-Yates shuffle of 0 .. n-1 that swaps position i with i + (next 32-bit draw mod (n - i)),
for i = 0 .. n - 2. `matches_torch` checks that the installed torch still draws exactly so;
lstmkit.training.sampling uses these permutations only then.
"""

from __future__ import annotations

import functools

import numpy as np

from lstmkit.ops.jit import kernel

STATE_SIZE, SHIFT_SIZE = 624, 397  # MT19937's n and m
MAX_SAMPLES = 2**32 // 20  # torch's randperm draws this way below it


@kernel()
def _seed_state(seed, state):
    """MT19937's state (624 words, as uint64 holding 32 bits) from the low 32 bits of `seed`."""
    state[0] = seed & 0xFFFFFFFF
    for j in range(1, STATE_SIZE):
        previous = state[j - 1]
        state[j] = (1812433253 * (previous ^ (previous >> 30)) + j) & 0xFFFFFFFF


@kernel()
def _twist(state, words):
    """MT19937's next block of 624 words, in place; only the first `words` of it when those are
    all that will be read and they depend on the old block only (words <= 624 - 397)."""
    if words > STATE_SIZE - SHIFT_SIZE:
        words = STATE_SIZE
    for j in range(words):
        following = state[j + 1] if j + 1 < STATE_SIZE else state[0]
        mixed = (state[j] & 0x80000000) | (following & 0x7FFFFFFF)
        value = state[j + SHIFT_SIZE - (STATE_SIZE if j + SHIFT_SIZE >= STATE_SIZE else 0)] ^ (mixed >> 1)
        state[j] = value ^ 0x9908B0DF if mixed & 1 else value


@kernel()
def _tempered(word):
    """MT19937's output for one state word."""
    word ^= word >> 11
    word ^= (word << 7) & 0x9D2C5680
    word ^= (word << 15) & 0xEFC60000
    return word ^ (word >> 18)


@kernel()
def _permutations(seeds, out):
    """out[e] = torch.randperm(n) from a CPU generator seeded with seeds[e], for out (E, n) int64."""
    state = np.empty(STATE_SIZE, np.uint64)
    samples = out.shape[1]
    for row in range(out.shape[0]):
        _seed_state(np.uint64(seeds[row]), state)
        used = STATE_SIZE  # the first draw twists
        order = out[row]
        for i in range(samples):
            order[i] = i
        for i in range(samples - 1):
            if used == STATE_SIZE:
                _twist(state, samples - 1 - i)
                used = 0
            draw = _tempered(state[used])
            used += 1
            z = i + np.int64(draw % np.uint64(samples - i))
            order[i], order[z] = order[z], order[i]


def randperms(samples: int, seeds: np.ndarray) -> np.ndarray:
    """(len(seeds), samples) int64: row e is torch.randperm(samples) from a CPU generator seeded
    with seeds[e] (any int64 seeds >= 0; samples below MAX_SAMPLES), when `matches_torch()`."""
    out = np.empty((len(seeds), samples), np.int64)
    _permutations(np.asarray(seeds, np.int64) & 0xFFFFFFFF, out)
    return out


@functools.cache
def matches_torch() -> bool:
    """Whether `randperms` draws what this torch's randperm draws (checked once a process)."""
    import torch  # here, so the build's warm-up compiles these kernels without PyTorch (lstmkit.warmup)

    seeds = np.array([0, 7, 2**32 + 5, 2**40 + 3])
    for samples in (1, 2, 8, 700):  # 700 draws twist the state a second time
        ours = randperms(samples, seeds)
        for row, seed in zip(ours, seeds):
            theirs = torch.randperm(samples, generator=torch.Generator().manual_seed(int(seed)))
            if not np.array_equal(row, theirs.numpy()):
                return False
    return True
