"""W3 (lstmkit.bench's large training step and forward pass) against PyTorch's best thread setting.

lstmkit, lstmkit pinned to one thread, idiomatic PyTorch on its default threads and PyTorch pinned
to one thread each run once per round (after lstmkit.bench's two warm-up calls), `--rounds` rounds
in rotating order; each round also measures the sgemm peak (lstmkit.bench.sgemm_gflops) on all
threads and on one. It prints median (min-max) seconds, GFLOP/s (lstmkit.bench.w3_flops over the
median) and the per-round ratios PyTorch/lstmkit. Under load PyTorch's default threads wait on busy
cores, so its best setting is one thread there. `--cell gru` runs W3 with GRU(256) instead.

    python benchmarks/w3_threads.py --rounds 3
"""

import argparse
import os
import statistics

import torch

from lstmkit.bench import FULL, _time_once, lstmkit_w3, sgemm_gflops, torch_w3, w3_flops
from lstmkit.ops.threads import set_num_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cell", choices=("lstm", "gru"), default="lstm")
    args = parser.parse_args()
    default_threads = torch.get_num_threads()

    def lstmkit_job(one_thread: bool):
        def make(*sizes, forward_only):
            set_num_threads(1 if one_thread else None)
            return lstmkit_w3(*sizes, forward_only=forward_only, cell=args.cell)
        return make

    def torch_job(one_thread: bool):
        def make(*sizes, forward_only):
            torch.set_num_threads(1 if one_thread else default_threads)
            return torch_w3(*sizes, forward_only=forward_only, cell=args.cell)
        return make

    variants = [("lstmkit", lstmkit_job(False)), ("lstmkit-1thread", lstmkit_job(True)),
                ("pytorch", torch_job(False)), ("pytorch-1thread", torch_job(True))]
    rows: dict[tuple[str, str], list[float]] = {}
    peaks: dict[str, list[float]] = {f"{default_threads} threads": [], "1 thread": []}
    for index in range(args.rounds):
        peaks[f"{default_threads} threads"].append(sgemm_gflops(FULL.sgemm))
        peaks["1 thread"].append(sgemm_gflops(FULL.sgemm, threads=1))
        order = variants[index % 4:] + variants[:index % 4]
        for forward_only in (False, True):
            for name, make in order:
                job = make(*FULL.w3, forward_only=forward_only)
                rows.setdefault(("W3 forward" if forward_only else "W3 step", name), []).append(_time_once(job))
                set_num_threads(None)
                torch.set_num_threads(default_threads)
        print(f"round {index + 1}: load {os.getloadavg()[0]:.1f}", flush=True)
    print(f"cell {args.cell}; sgemm peak (GFLOP/s, median (min-max) of the rounds): "
          + ", ".join(f"{name} {statistics.median(v):.1f} ({min(v):.1f}-{max(v):.1f})" for name, v in peaks.items()))
    for workload in ("W3 step", "W3 forward"):
        flops = w3_flops(*FULL.w3, cell=args.cell, forward_only=workload == "W3 forward")
        for name, _ in variants:
            values = rows[(workload, name)]
            median = statistics.median(values)
            print(f"{workload:<11} {name:<16} {median:.4f} ({min(values):.4f}-{max(values):.4f}) s"
                  f"  {flops / median / 1e9:.1f} GFLOP/s")
        for ours in ("lstmkit", "lstmkit-1thread"):
            for theirs in ("pytorch", "pytorch-1thread"):
                ratios = [t / o for o, t in zip(rows[(workload, ours)], rows[(workload, theirs)])]
                print(f"  {theirs}/{ours}: {statistics.median(ratios):.2f}x {[round(r, 2) for r in ratios]}")
    print(f"torch threads {default_threads}, load {os.getloadavg()}")


if __name__ == "__main__":
    main()
