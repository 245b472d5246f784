"""Seeded corruptions of a saved SequenceClassifier, loaded under a memory cap (issue #13).

Usage: python fuzz_classifier_files.py CLASSIFIER_FILE WORK_FOLDER SEED CAP_BYTES

The cases and their judging are those of fuzz_files.py (bit flips, truncations, crafted configs
whose checksums are recomputed, and the command line on damaged files): each must end in the
clean error (lstmkit.saving.ModelFileError), a classifier identical to the original, or, for a
crafted config, a classifier that is what the file says: saved again, it writes the crafted
config and the same tensors. Prints one JSON object: counts per kind of case and outcome, and
the failures.
"""

from __future__ import annotations

import json
import re
import resource
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from fuzz_files import Fuzzer, _refused_first, refused_in_one_line, same_tensors, subset_equal  # noqa: E402

from lstmkit.classify import SequenceClassifier  # noqa: E402
from lstmkit.saving import ModelFileError, open_model_file  # noqa: E402


def main_fuzz(path: Path, work: Path, seed: int, cap: int) -> dict:
    original = path.read_bytes()
    file = open_model_file(path)
    tensors = file.tensors()
    x = np.zeros((1, 16, 1), np.float32)
    np.save(work / "x.npy", x[0])
    SequenceClassifier.load(path).predict_proba(x)  # warm up the loaders and the CLI before the cap
    (work / "short.lstmkit").write_bytes(original[:100])
    try:
        refused_in_one_line(["inspect", str(work / "short.lstmkit"), "--input", str(work / "x.npy")])
    except ModelFileError:
        pass
    status = Path("/proc/self/status").read_text()
    virtual = int(re.search(r"VmSize:\s+(\d+) kB", status).group(1)) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (virtual + cap, virtual + cap))

    def saved_again(got: SequenceClassifier) -> tuple[dict, dict]:
        again = work / "again.lstmkit"
        got.save(again)
        written = open_model_file(again)
        return written.config, written.tensors()

    def identical(got: SequenceClassifier) -> bool:
        config, written = saved_again(got)
        return config == file.config and same_tensors(written, tensors)

    def consistent(got: SequenceClassifier, crafted: dict) -> bool:
        config, written = saved_again(got)
        return subset_equal(crafted, config) and same_tensors(written, tensors)

    fuzzer = Fuzzer(work, seed)
    fuzzer.damage("classifier", original, SequenceClassifier.load, identical, flips=50, cuts=10)
    fuzzer.crafted("classifier", file.config, tensors, SequenceClassifier.load, consistent, count=100)

    def inspect(case: Path) -> Any:  # the CLI: one line, exit 2, for whatever is wrong
        return refused_in_one_line(["inspect", str(case), "--input", str(work / "x.npy"), "--out", str(work / "gates")])

    for _ in range(20):
        data = bytearray(original)
        data[fuzzer.rng.randrange(len(data))] ^= 1 << fuzzer.rng.randrange(8)
        fuzzer.run("lstmkit inspect", bytes(data), _refused_first(SequenceClassifier.load, inspect),
                   lambda got: "identical" if identical(got) else "silent")
    return {"counts": fuzzer.counts, "failures": fuzzer.failures[:20],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}


if __name__ == "__main__":
    classifier, work, seed, cap = sys.argv[1:5]
    torch.set_num_threads(1)
    print(json.dumps(main_fuzz(Path(classifier), Path(work), int(seed), int(cap))))
