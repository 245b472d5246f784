"""The first run after an install against the next one: `lstmkit demo --no-plot` from an empty user cache.

From a clean copy of this checkout (git's tracked files), it makes a virtualenv, runs the
README's install command, then for each pair makes an empty kernel cache folder and runs the demo
twice with it: the first run, then a warm one. The virtualenv sees the machine's site-packages (so
pip finds the pinned dependencies installed and installs lstmkit itself, from the wheel it builds),
or with `--fresh-venv` nothing of them: pip then installs PyTorch and every other dependency into
it, after building lstmkit in its isolated build environment, without PyTorch, as on a newcomer's
machine. With `--control` it repeats the pairs with the wheel's compiled kernels moved away (the
behaviour before they were built into the wheel). It prints every run's wall time and the demo's
own "Training took" line, the user cache's file count after each run, the load average, and once,
from another empty cache, how many kernel signatures a first demo loads and compiles
(`lstmkit.ops.jit.compile_counts()`).

    python benchmarks/first_run.py --pairs 3 --control --fresh-venv
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str, str]:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return seconds, done.stdout, done.stderr


def pairs(count: int, venv: Path, env: dict[str, str], elsewhere: Path, label: str) -> None:
    demo = [str(venv / "bin" / "lstmkit"), "demo", "--no-plot"]
    for index in range(count):
        cache = Path(tempfile.mkdtemp(prefix="lstmkit-cache-"))
        runs = []
        print(f"{label} pair {index + 1}, load {load()}", flush=True)
        for name in ("first", "second"):
            seconds, out, _ = timed(demo, {**env, "LSTMKIT_CACHE_DIR": str(cache)}, elsewhere)
            training = next((line for line in out.splitlines() if line.startswith("Training took")), "?")
            runs.append(seconds)
            print(f"  {name}: {seconds:.2f} s wall ({training}); user cache files: {cache_files(cache)}", flush=True)
        print(f"  first - second: {runs[0] - runs[1]:+.2f} s", flush=True)
        shutil.rmtree(cache)


def cache_files(cache: Path) -> int:
    return sum(1 for p in cache.rglob("*") if p.is_file())


# `lstmkit demo --no-plot` as the console script runs it, then the kernel signatures it loaded and compiled.
COUNTED_DEMO = ("import json, sys; from lstmkit.cli import main; code = main(['demo', '--no-plot']); "
                "from lstmkit.ops import jit; print(json.dumps(jit.compile_counts())); sys.exit(code)")


def counted_first_run(venv: Path, env: dict[str, str], elsewhere: Path) -> None:
    cache = Path(tempfile.mkdtemp(prefix="lstmkit-cache-"))
    command = [str(venv / "bin" / "python"), "-c", COUNTED_DEMO]
    seconds, out, _ = timed(command, {**env, "LSTMKIT_CACHE_DIR": str(cache)}, elsewhere)
    counts = json.loads(out.strip().splitlines()[-1])
    print(f"counted first run (load {load()}): {seconds:.2f} s wall; kernel signatures loaded "
          f"{counts['loaded']}, compiled {counts['compiled']}", flush=True)
    shutil.rmtree(cache)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--control", action="store_true", help="also pairs without the wheel's kernels")
    parser.add_argument("--fresh-venv", action="store_true",
                        help="a virtualenv without the machine's site-packages (pip installs PyTorch into it)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        source, venv, elsewhere = Path(scratch, "lstmkit"), Path(scratch, "venv"), Path(scratch, "elsewhere")
        elsewhere.mkdir()
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
        for name in filter(None, listed.decode().split("\0")):
            if (ROOT / name).is_file():
                (source / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, source / name)
        shared = [] if args.fresh_venv else ["--system-site-packages"]
        subprocess.run([sys.executable, "-m", "venv", *shared, str(venv)], check=True)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "LSTMKIT_WARMUP")}
        env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}", VIRTUAL_ENV=str(venv),
                   PIP_DISABLE_PIP_VERSION_CHECK="1")
        seen = "a fresh virtualenv" if args.fresh_venv else "the machine's site-packages seen"
        print(f"install: python -m pip install -v -c constraints.txt . ({seen}; load {load()})", flush=True)
        seconds, _, log = timed([str(venv / "bin" / "python"), "-m", "pip", "install", "-v", "-c", "constraints.txt",
                                 "."], env, source)
        for line in log.splitlines():  # the build's warm-up (setup.py, lstmkit.warmup): pip -v's stderr
            if re.match(r"\s*([\w-]+: [\d.]+ s|lstmkit: .*)$", line):
                print(f"  build: {line.strip()}", flush=True)
        purelib = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
        kernels = purelib / "lstmkit" / "_kernels"
        shipped = len(list(kernels.glob("*"))) if kernels.is_dir() else 0
        print(f"  {seconds:.1f} s; {shipped} compiled kernel files in the installed package", flush=True)
        pairs(args.pairs, venv, env, elsewhere, "shipped kernels:")
        counted_first_run(venv, env, elsewhere)
        if args.control:
            kernels.rename(kernels.with_name("_kernels_moved"))
            pairs(max(args.pairs - 1, 1), venv, env, elsewhere, "control, no shipped kernels:")
        print(f"end, load {load()}")


if __name__ == "__main__":
    main()
