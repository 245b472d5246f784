"""Seeded corruptions of a saved model and a saved Forecaster, loaded under a memory cap.

Usage: python fuzz_files.py MODEL_FILE FORECASTER_FILE WORK_FOLDER SEED CAP_BYTES

Every case must end in one of: the clean error (lstmkit.saving.ModelFileError), a model identical
to the original (damage that changes nothing, e.g. in the version string), or, for crafted
configs (checksums recomputed, as an attacker would), a model that is what the file says. Anything
else is an escape (another exception, MemoryError past the cap included), a silent change, or slow.
Prints one JSON object: counts per kind of case and outcome, and the failures.
"""

from __future__ import annotations

import io
import json
import math
import random
import re
import resource
import struct
import sys
import time
import zlib
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from safetensors.torch import save as safetensors_bytes

from lstmkit import load_model
from lstmkit.cli import main
from lstmkit.forecast import Forecaster
from lstmkit.saving import ModelFileError, open_model_file

SLOW_SECONDS = 3.0
VALUES = [  # what a crafted config puts somewhere
    "false", "x", None, True, False, [], {}, 2**63, -(2**63), -1, 0, 1, 2**31, 1e308, -1e308, 1e-320,
    math.nan, math.inf, -math.inf, 0.5, "__DEEP__", "__HUGE_LIST__", "__LONG_STRING__", {"units": 3}, [[[1]]],
]


def write_crafted(path: Path, config_text: str, tensors: dict[str, torch.Tensor], version: str = "2") -> None:
    """A well-formed file whose checksums match its (crafted) content."""
    checksums = {name: f"{zlib.crc32(t.contiguous().reshape(-1).view(torch.uint8).numpy()):08x}"
                 for name, t in tensors.items()}
    checksums["__config__"] = f"{zlib.crc32(config_text.encode()):08x}"
    metadata = {"format": "lstmkit", "format_version": version, "lstmkit_version": "fuzz",
                "config": config_text, "checksums": json.dumps(checksums)}
    path.write_bytes(safetensors_bytes(tensors, metadata=metadata))


def crafted_text(config: Any) -> str:
    text = json.dumps(config)
    text = text.replace('"__DEEP__"', "[" * 1000 + "]" * 1000)
    text = text.replace('"__HUGE_LIST__"', "[" + ",".join(["1"] * 200_000) + "]")
    return text.replace('"__LONG_STRING__"', '"' + "a" * 2_000_000 + '"')


def places(value: Any, path: tuple = ()) -> list[tuple]:
    """Every path into a JSON value."""
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += places(item, path + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value[:50]):
            found += places(item, path + (index,))
    return found


def mutate(config: Any, rng: random.Random) -> tuple[Any, str]:
    """A copy of `config` with one value changed, deleted, added or repeated; and what was done."""
    config = json.loads(json.dumps(config))
    where = rng.choice(places(config)[1:])
    parent = config
    for step in where[:-1]:
        parent = parent[step]
    last = where[-1]
    action = rng.random()
    if action < 0.1 and isinstance(parent, dict):
        del parent[last]
    elif action < 0.2 and isinstance(parent, dict):
        parent[rng.choice(["unit", "extra", "__class__", "units"])] = rng.choice(VALUES)
    elif action < 0.3 and isinstance(parent[last], list) and parent[last]:
        parent[last] = parent[last] * rng.choice([2, 1000, 100_000])  # e.g. many layers
    elif action < 0.4 and isinstance(parent[last], (int, float)) and not isinstance(parent[last], bool):
        parent[last] = parent[last] * rng.choice([-1, 10, 1000, 10**9]) + rng.choice([0, 1])
    else:
        parent[last] = rng.choice(VALUES)
    now = parent.get(last, "<deleted>") if isinstance(parent, dict) else parent[last]
    return config, f"{'.'.join(map(str, where))} -> {str(now)[:60]}"


def subset_equal(expected: Any, got: Any) -> bool:
    """Every key the file gives holds the value the loaded object reports (lists and tuples alike)."""
    if isinstance(expected, dict):
        return isinstance(got, dict) and all(k in got and subset_equal(v, got[k]) for k, v in expected.items())
    if isinstance(expected, (list, tuple)):
        return isinstance(got, (list, tuple)) and len(got) == len(expected) and all(
            subset_equal(a, b) for a, b in zip(expected, got))
    if isinstance(expected, bool) or isinstance(got, bool):
        return type(expected) is type(got) and expected == got
    if isinstance(expected, float) and math.isnan(expected):
        return isinstance(got, float) and math.isnan(got)
    return expected == got


def same_tensors(ours: dict[str, torch.Tensor], theirs: dict[str, torch.Tensor]) -> bool:
    return set(ours) == set(theirs) and all(
        ours[k].dtype == theirs[k].dtype and torch.equal(ours[k], theirs[k]) for k in ours)


class Fuzzer:
    def __init__(self, work: Path, seed: int) -> None:
        self.work, self.rng = work, random.Random(seed)
        self.counts: dict[str, dict[str, int]] = {}
        self.failures: list[str] = []

    def run(self, kind: str, data: bytes | Callable[[Path], None], load: Callable[[Path], Any],
            judge: Callable[[Any], str]) -> None:
        path = self.work / f"case-{sum(sum(c.values()) for c in self.counts.values())}.lstmkit"
        if callable(data):
            data(path)
        else:
            path.write_bytes(data)
        start = time.perf_counter()
        try:
            outcome = judge(load(path))
        except ModelFileError:
            outcome = "error"
        except BaseException as err:  # noqa: BLE001 - anything else is what the fuzz test looks for
            outcome = "escape"
            self.failures.append(f"{kind}: {type(err).__name__}: {str(err)[:300]}")
        if time.perf_counter() - start > SLOW_SECONDS:
            self.failures.append(f"{kind}: slow ({time.perf_counter() - start:.1f} s), outcome {outcome}")
            outcome = "slow"
        if outcome == "silent":
            self.failures.append(f"{kind}: loaded a different model silently")
        self.counts.setdefault(kind, {}).setdefault(outcome, 0)
        self.counts[kind][outcome] += 1
        path.unlink()

    def silent(self, change: str) -> str:
        self.failures.append(f"crafted config, {change}: the loaded model differs from what the file says")
        return "silent"

    def damage(self, name: str, original: bytes, load: Callable[[Path], Any], identical: Callable[[Any], bool],
               flips: int, cuts: int) -> None:
        for _ in range(flips):
            data = bytearray(original)
            data[self.rng.randrange(len(data))] ^= 1 << self.rng.randrange(8)
            self.run(f"{name} bit flip", bytes(data), load, lambda got: "identical" if identical(got) else "silent")
        for _ in range(cuts):
            self.run(f"{name} truncation", original[: self.rng.randrange(len(original))], load,
                     lambda got: "identical" if identical(got) else "silent")

    def crafted(self, name: str, config: dict, tensors: dict, load: Callable[[Path], Any],
                consistent: Callable[[Any, Any], bool], count: int) -> None:
        for _ in range(count):
            mutated, change = mutate(config, self.rng)
            text = crafted_text(mutated)
            self.run(f"{name} crafted config",
                     lambda path: write_crafted(path, text, tensors), load,
                     lambda got: "consistent" if consistent(got, mutated) else self.silent(change))

    def tensor_headers(self, original: bytes, load: Callable[[Path], Any], count: int) -> None:
        """The safetensors header itself crafted: dtypes, shapes, offsets, its length field."""
        (size,) = struct.unpack("<Q", original[:8])
        header = json.loads(original[8 : 8 + size])
        names = [n for n in header if n != "__metadata__"]
        for _ in range(count):
            edited = json.loads(json.dumps(header))
            entry = edited[self.rng.choice(names)]
            choice = self.rng.randrange(6)
            if choice == 0:
                entry["dtype"] = self.rng.choice(["BF16", "F8_E4M3", "F8_E5M2", "F16", "I64", "BOOL", "XX", 3])
            elif choice == 1:
                entry["shape"] = self.rng.choice([[2**40, 2**40], [-1], [], [0], ["1"], [1] * 100, None])
            elif choice == 2:
                entry["data_offsets"] = self.rng.choice([[0, 2**62], [-8, 0], [5, 3], [0], "x"])
            elif choice == 3:
                edited["__metadata__"]["config"] = "[" * 5000 + "]" * 5000
            elif choice == 4:
                extra = {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}
                edited[self.rng.choice(["x", "layers.0.kernel"])] = extra
            body = json.dumps(edited).encode()
            length = len(body) if choice != 5 else self.rng.choice([2**63, len(original), 0, 7])
            data = struct.pack("<Q", length) + body + original[8 + size :]
            self.run("model tensor header", data, load, lambda got: "consistent")


def main_fuzz(model_path: Path, forecaster_path: Path, work: Path, seed: int, cap: int) -> dict:
    model_bytes, forecaster_bytes = model_path.read_bytes(), forecaster_path.read_bytes()
    model_file, forecaster_file = open_model_file(model_path), open_model_file(forecaster_path)
    model_tensors, forecaster_tensors = model_file.tensors(), forecaster_file.tensors()
    reference = load_model(model_path)
    x = np.zeros((1, 3, 1), np.float32)
    np.save(work / "x.npy", x[0])
    Forecaster.load(forecaster_path).predict()  # warm up pandas and the loaders before the cap
    status = Path("/proc/self/status").read_text()
    virtual = int(re.search(r"VmSize:\s+(\d+) kB", status).group(1)) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (virtual + cap, virtual + cap))

    def model_identical(got) -> bool:
        return got.get_config() == reference.get_config() and same_tensors(got.state_dict(), reference.state_dict())

    def model_consistent(got, config) -> bool:
        return subset_equal(config["model"], got.get_config()) and same_tensors(got.state_dict(), {
            k: v for k, v in model_tensors.items() if not k.startswith("training.")})

    def forecaster_weights(got) -> dict:
        return {f"members.{j}.{k}": v for j, m in enumerate(got.members_) for k, v in m.state_dict().items()}

    def forecaster_identical(got) -> bool:
        return (got.get_config() == Forecaster.load(forecaster_path).get_config()
                and same_tensors(forecaster_weights(got), forecaster_tensors))

    def forecaster_consistent(got, config) -> bool:
        return subset_equal(config["forecaster"], got.get_config()) and same_tensors(forecaster_weights(got),
                                                                                     forecaster_tensors)

    fuzzer = Fuzzer(work, seed)
    fuzzer.damage("model", model_bytes, load_model, model_identical, flips=150, cuts=30)
    fuzzer.crafted("model", model_file.config, model_tensors, load_model, model_consistent, count=150)
    fuzzer.tensor_headers(model_bytes, load_model, count=40)
    fuzzer.damage("forecaster", forecaster_bytes, Forecaster.load, forecaster_identical, flips=50, cuts=10)
    fuzzer.crafted("forecaster", forecaster_file.config, forecaster_tensors, Forecaster.load,
                   forecaster_consistent, count=50)

    def inspect(path: Path) -> int:
        return refused_in_one_line(["inspect", str(path), "--input", str(work / "x.npy"), "--out", str(work / "gates")])

    for _ in range(40):
        data = bytearray(model_bytes)
        data[fuzzer.rng.randrange(len(data))] ^= 1 << fuzzer.rng.randrange(8)
        fuzzer.run("lstmkit inspect", bytes(data), _refused_first(load_model, inspect),
                   lambda got: "identical" if model_identical(got) else "silent")
    return {"counts": fuzzer.counts, "failures": fuzzer.failures[:20],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}


def refused_in_one_line(argv: list[str]) -> int:
    """The CLI on a bad file: one line on stderr, exit 2, no traceback; counted as the clean error."""
    err = io.StringIO()
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        code = main(argv)
    if code != 2 or err.getvalue().count("\n") != 1 or "Traceback" in err.getvalue():
        raise RuntimeError(f"{argv[0]} exited {code} with {err.getvalue()[:300]!r}")
    raise ModelFileError("refused")


def _refused_first(load: Callable[[Path], Any], inspect: Callable[[Path], int]) -> Callable[[Path], Any]:
    """Run `inspect` on files `load` refuses (a file that loads would be drawn, which takes long)."""
    def run(path: Path) -> Any:
        try:
            return load(path)
        except ModelFileError:
            return inspect(path)
    return run


if __name__ == "__main__":
    model, forecaster, work, seed, cap = sys.argv[1:6]
    torch.set_num_threads(1)
    print(json.dumps(main_fuzz(Path(model), Path(forecaster), Path(work), int(seed), int(cap))))
