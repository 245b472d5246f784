"""lstmkit.ops.permutations: torch.randperm's permutations, many in one compiled call."""

import numpy as np
import pytest
import torch

from lstmkit.ops import permutations


@pytest.mark.parametrize("samples", [0, 1, 2, 3, 228, 229, 624, 625, 1300, 5000])
def test_randperms_are_torchs(samples):
    """Sizes around MT19937's block of 624 draws and the partial first block (227 words)."""
    seeds = np.array([0, 1, 77, 2**32 - 1, 2**32 + 9, 2**62 + 5])
    ours = permutations.randperms(samples, seeds)
    assert ours.shape == (len(seeds), samples) and ours.dtype == np.int64
    for row, seed in zip(ours, seeds):
        expected = torch.randperm(samples, generator=torch.Generator().manual_seed(int(seed)))
        assert row.tolist() == expected.tolist()


def test_the_check_against_torch_can_fail(monkeypatch):
    assert permutations.matches_torch()
    permutations.matches_torch.cache_clear()
    monkeypatch.setattr(permutations, "randperms", lambda samples, seeds: np.zeros((len(seeds), samples), np.int64))
    try:
        assert not permutations.matches_torch()
    finally:
        permutations.matches_torch.cache_clear()
