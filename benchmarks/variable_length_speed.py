"""Speed of variable-length batches at the dispatch seam: masked vs unmasked.

One LSTM layer, batch 64, up to 100 steps of 8 features, 64 units, float32 on the CPU; lengths
drawn uniformly from 50..100 (post-padded). Times a forward pass (inference) and a forward +
backward pass: the fastest of 40 interleaved runs. A layer uses the compacted fused path unless
it is stateful or returns its state, which need c_T from the packed path.

Run: python benchmarks/variable_length_speed.py
"""

from __future__ import annotations

import time
from typing import Callable

import torch

from lstmkit.ops.dispatch import lstm_forward
from lstmkit.ops.masking import front_mask

BATCH, STEPS, FEATURES, UNITS = 64, 100, 8, 64


def _best_ms(runs: dict[str, Callable[[], None]], repeats: int = 40) -> dict[str, float]:
    """Fastest of `repeats` runs of each, interleaved: on a shared machine the minimum is the
    least disturbed, and interleaving gives every case the same disturbances."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for name, run in runs.items():
        run()  # warm up
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * min(values) for name, values in times.items()}


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
    forward_runs, backward_runs = {}, {}
    for name, options in cases.items():
        def forward(options=options):
            with torch.no_grad():
                lstm_forward(x, zeros, zeros, *weights, **options)

        def forward_backward(options=options):
            outputs, h, _ = lstm_forward(x, zeros, zeros, *weights, **options)
            (outputs.sum() + h.sum()).backward()

        forward_runs[name], backward_runs[name] = forward, forward_backward
    forward_ms, backward_ms = _best_ms(forward_runs), _best_ms(backward_runs)
    for name in cases:
        print(f"{name:<36}{forward_ms[name]:>12.2f}{backward_ms[name]:>12.2f}")


if __name__ == "__main__":
    main()
