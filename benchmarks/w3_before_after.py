"""W3's LSTM layer on the blocked backend of another checkout ("before") against this one, paired.

One process loads `--before`'s lstmkit/ops/blocked.py beside this checkout's (the rest of lstmkit is
this checkout's) and times W3's layer (batch 256, 100 steps, 32 inputs, 256 units, float32):
a training pass (forward, then backward from h_T) and a forward pass without gradients, plus
torch.nn.LSTM doing the same, in rotating order each round. With `--threads 1` it reports CPU
time (time.process_time), which a loaded machine inflates least; otherwise wall time. `--cell gru`
times GRU(256) on this checkout's blocked backend against torch.nn.GRU (no "before").

    git archive 9f368d9 | tar -x -C /tmp/before
    python benchmarks/w3_before_after.py --before /tmp/before --threads 1 --rounds 7
"""

import argparse
import importlib.util
import os
import statistics
import time

import torch

from lstmkit.ops import blocked
from lstmkit.ops.threads import set_num_threads


def load_blocked(checkout: str):
    path = os.path.join(checkout, "lstmkit", "ops", "blocked.py")
    spec = importlib.util.spec_from_file_location("blocked_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="a checkout (or `git archive` copy) of the earlier commit (LSTM only)")
    parser.add_argument("--cell", choices=("lstm", "gru"), default="lstm")
    parser.add_argument("--threads", type=int, default=None, help="threads for all contenders (default: lstmkit's choice)")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    if args.threads:
        set_num_threads(args.threads)
        torch.set_num_threads(args.threads)
    clock = time.process_time if args.threads == 1 else time.perf_counter
    batch, steps, features, units = 256, 100, 32, 256
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(batch, steps, features, generator=generator)
    h0 = c0 = torch.zeros(batch, units)
    gates = 4 if args.cell == "lstm" else 3
    bias_shape = (4 * units,) if args.cell == "lstm" else (2, 3 * units)
    weights = [(torch.randn(features, gates * units, generator=generator) * 0.1).requires_grad_(),
               (torch.randn(units, gates * units, generator=generator) * 0.06).requires_grad_(),
               torch.zeros(bias_shape).requires_grad_()]
    reference = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[args.cell](features, units, batch_first=True)

    def train(layer):
        return lambda: layer(x, h0, c0, *weights)[1].sum().backward()

    def forward(layer):
        def run() -> None:
            with torch.no_grad():
                layer(x, h0, c0, *weights)
        return run

    def torch_layer(x, h0, c0, *weights):
        outputs, state = reference(x)
        return outputs, (state[0] if args.cell == "lstm" else state)[0]

    if args.cell == "gru":
        layers = {"after": lambda x, h0, c0, *weights: blocked.blocked_gru(x, h0, *weights), "torch.nn.GRU": torch_layer}
    else:
        layers = {"before": load_blocked(args.before).blocked_lstm, "after": blocked.blocked_lstm,
                  "torch.nn.LSTM": torch_layer}
    for kind, make in (("training pass", train), ("forward", forward)):
        jobs = {name: make(layer) for name, layer in layers.items()}
        seconds: dict[str, list[float]] = {name: [] for name in jobs}
        for job in jobs.values():
            job()
        for index in range(args.rounds):
            names = list(jobs)[index % len(jobs):] + list(jobs)[: index % len(jobs)]
            for name in names:
                start = clock()
                jobs[name]()
                seconds[name].append(clock() - start)
        for name, values in seconds.items():
            ratios = [b / a for a, b in zip(seconds["after"], values)]
            print(f"{kind:<14} {name:<14} {statistics.median(values):.4f} ({min(values):.4f}-{max(values):.4f}) s"
                  f"  {name}/after {statistics.median(ratios):.2f}x")
    print(f"threads {args.threads or 'lstmkit choice'}, {'CPU' if clock is time.process_time else 'wall'} time,"
          f" load {os.getloadavg()}")


if __name__ == "__main__":
    main()
