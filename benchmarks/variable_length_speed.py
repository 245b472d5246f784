"""Speed of variable-length batches: masked (packed fast path, and the masked reference) vs unmasked.

One LSTM layer, batch 64, up to 100 steps of 8 features, 64 units, float32 on the CPU; lengths
drawn uniformly from 50..100 (post-padded). Times a forward pass (inference) and a forward +
backward pass, the fastest of 30 runs. A layer uses the compacted path unless it is stateful or
returns its state (which need c_T, given by the packed path). Run: python benchmarks/variable_length_speed.py
"""

from __future__ import annotations

import time

import torch

from lstmkit.ops.dispatch import lstm_forward
from lstmkit.ops.masking import front_mask

BATCH, STEPS, FEATURES, UNITS = 64, 100, 8, 64


def _best_ms(run, repeats: int = 30) -> float:
    """Fastest of `repeats` runs: on a shared machine the minimum is the least disturbed."""
    run()  # warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def main() -> None:
    torch.manual_seed(0)
    x = torch.randn(BATCH, STEPS, FEATURES)
    weights = [torch.randn(FEATURES, 4 * UNITS) * 0.1, torch.randn(UNITS, 4 * UNITS) * 0.1, torch.zeros(4 * UNITS)]
    for w in weights:
        w.requires_grad_(True)
    zeros = torch.zeros(BATCH, UNITS)
    lengths = torch.randint(STEPS // 2, STEPS + 1, (BATCH,))
    mask = front_mask(lengths, STEPS)
    cases = {
        "unmasked, torch (fused op)": dict(backend="torch", mask=None),
        "masked, torch (compacted, fused)": dict(backend="torch", mask=mask, cell_state=False),
        "masked, torch (sort + pack), c_T": dict(backend="torch", mask=mask),
        "masked, reference (masked loop)": dict(backend="reference", mask=mask),
    }
    print(f"LSTM batch {BATCH}, {STEPS} steps (real: {int(lengths.sum())} of {BATCH * STEPS}), "
          f"{FEATURES} features, {UNITS} units, {torch.get_num_threads()} threads")
    print(f"{'case':<36}{'forward ms':>12}{'fwd+bwd ms':>12}")
    for name, options in cases.items():
        def forward():
            with torch.no_grad():
                lstm_forward(x, zeros, zeros, *weights, **options)

        def forward_backward():
            outputs, h, _ = lstm_forward(x, zeros, zeros, *weights, **options)
            (outputs.sum() + h.sum()).backward()

        print(f"{name:<36}{_best_ms(forward):>12.2f}{_best_ms(forward_backward):>12.2f}")


if __name__ == "__main__":
    main()
