"""The first run after an install against the next one: `lstmkit demo --no-plot` from an empty user cache.

From a clean copy of this checkout (git's tracked files), it makes a virtualenv that sees the
machine's site-packages (so pip finds the pinned dependencies installed and installs lstmkit
itself, from the wheel it builds), runs the README's install command, then for each pair makes an
empty kernel cache folder and runs the demo twice with it: the first run, then a warm one. With
`--control` it repeats the pairs with the wheel's compiled kernels moved away (the behaviour
before they were built into the wheel). It prints every run's wall time and the demo's own
"Training took" line, the user cache's file count after each pair, and the load average.

    python benchmarks/first_run.py --pairs 3 --control
"""

from __future__ import annotations

import argparse
import os
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


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=1800)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def pairs(count: int, venv: Path, env: dict[str, str], elsewhere: Path, label: str) -> None:
    demo = [str(venv / "bin" / "lstmkit"), "demo", "--no-plot"]
    for index in range(count):
        cache = Path(tempfile.mkdtemp(prefix="lstmkit-cache-"))
        runs = []
        print(f"{label} pair {index + 1}, load {load()}", flush=True)
        for name in ("first", "second"):
            seconds, out = timed(demo, {**env, "LSTMKIT_CACHE_DIR": str(cache)}, elsewhere)
            training = next((line for line in out.splitlines() if line.startswith("Training took")), "?")
            runs.append(seconds)
            print(f"  {name}: {seconds:.2f} s wall ({training})", flush=True)
        files = sum(1 for p in cache.rglob("*") if p.is_file())
        print(f"  first - second: {runs[0] - runs[1]:+.2f} s; user cache files after both: {files}", flush=True)
        shutil.rmtree(cache)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--control", action="store_true", help="also pairs without the wheel's kernels")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        source, venv, elsewhere = Path(scratch, "lstmkit"), Path(scratch, "venv"), Path(scratch, "elsewhere")
        elsewhere.mkdir()
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
        for name in filter(None, listed.decode().split("\0")):
            if (ROOT / name).is_file():
                (source / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, source / name)
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "LSTMKIT_WARMUP")}
        env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}", VIRTUAL_ENV=str(venv),
                   PIP_DISABLE_PIP_VERSION_CHECK="1")
        print(f"install: python -m pip install -c constraints.txt . (load {load()})", flush=True)
        seconds, _ = timed([str(venv / "bin" / "python"), "-m", "pip", "install", "-c", "constraints.txt", "."],
                           env, source)
        purelib = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
        kernels = purelib / "lstmkit" / "_kernels"
        shipped = len(list(kernels.glob("*"))) if kernels.is_dir() else 0
        print(f"  {seconds:.1f} s; {shipped} compiled kernel files in the installed package", flush=True)
        pairs(args.pairs, venv, env, elsewhere, "shipped kernels:")
        if args.control:
            kernels.rename(kernels.with_name("_kernels_moved"))
            pairs(max(args.pairs - 1, 1), venv, env, elsewhere, "control, no shipped kernels:")
        print(f"end, load {load()}")


if __name__ == "__main__":
    main()
