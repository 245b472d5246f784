"""Tutorial-sized work with the cores idle and with another process spinning on one of them.

A laptop always has something else running. PyTorch gives each op every core by default, and a
small multi-threaded op then waits on the core the other process holds; lstmkit keeps small work on
one thread (lstmkit.ops.threads). Each workload runs in a fresh Python process, `--rounds` times
idle and busy in turn (busy: a `while True: pass` process started before and killed after); the
script prints the median seconds of each and the ratio busy/idle (1.0: unaffected; the 2-core
machines have one core left for the workload, so about 1.0 is the best there is).

    python benchmarks/busy_core.py --rounds 2

Workloads (their timed part; imports and data loading are left out):
    forecast  Forecaster(lookback=36, horizon=12, seed=0, statistical=False).fit(airline passengers),
              then backtest() over its 5 origins: the README's Forecasting snippet without the plot
    text      TextGenerator(units=64) fitted 1 epoch on 8 KB, generate(length=200), perplexity(2 KB)

Run it with PYTHONPATH=<an older checkout> to time that code instead (the subprocesses inherit it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

WORKLOADS = {
    "forecast": """
from lstmkit.datasets import load_airline_passengers
from lstmkit.forecast import Forecaster
series = load_airline_passengers()
started = time.perf_counter()
fc = Forecaster(lookback=36, horizon=12, seed=0, statistical=False).fit(series)
fc.backtest(series)
""",
    "text": """
from lstmkit.text import TextGenerator
text = "to be or not to be that is the question " * 200
started = time.perf_counter()
generator = TextGenerator(units=64, embedding_dim=16)
generator.fit(text, epochs=1, seed=0, verbose=0)
generator.generate("to be", length=200, seed=0)
generator.perplexity(text[:2000])
""",
}


def run_once(workload: str) -> float:
    """Seconds of the workload's timed part, in a fresh process."""
    code = "import time, warnings\nwarnings.simplefilter('ignore')\n" + WORKLOADS[workload] + (
        "print(time.perf_counter() - started)\n")
    # From another folder: `python -c` puts the current one first on sys.path, ahead of PYTHONPATH.
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=tempfile.gettempdir())
    return float(done.stdout.strip().splitlines()[-1])


def busy_round(workload: str) -> float:
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # let it take its core
        return run_once(workload)
    finally:
        spinner.kill()
        spinner.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    args = parser.parse_args()
    where = subprocess.run([sys.executable, "-c", "import lstmkit; print(lstmkit.__file__)"], capture_output=True,
                           text=True, check=True, cwd=tempfile.gettempdir()).stdout.strip()
    print(f"cores {os.cpu_count()}; lstmkit from {where}")
    for workload in args.workloads:
        idle, busy = [], []
        for _ in range(args.rounds):
            idle.append(run_once(workload))
            busy.append(busy_round(workload))
        a, b = statistics.median(idle), statistics.median(busy)
        print(f"{workload:9s} idle {a:7.2f} s ({min(idle):.2f}-{max(idle):.2f})   "
              f"busy {b:7.2f} s ({min(busy):.2f}-{max(busy):.2f})   busy/idle {b / a:5.2f}x", flush=True)


if __name__ == "__main__":
    main()
