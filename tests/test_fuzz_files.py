"""The fuzz test of issue #11: a few hundred seeded corruptions of a saved model and of a saved
Forecaster, each loaded in a subprocess whose address space is capped (resource.RLIMIT_AS), must
end in the clean error or a model that is what the file says (identical to the original for
damage); none may raise anything else, go over the cap, change the model silently or take long.
tests/scripts/fuzz_files.py makes and judges the cases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from lstmkit import Sequential
from lstmkit.forecast import Forecaster
from lstmkit.layers import LSTM, Dense

SCRIPT = Path(__file__).parent / "scripts" / "fuzz_files.py"
CAP_BYTES = 1 << 30  # address space the loads may add to what the warmed-up process maps


def test_corrupted_and_crafted_files_give_the_clean_error_or_the_model_they_hold(tmp_path):
    model = Sequential([LSTM(4, input_shape=(3, 1)), Dense(1)])
    model.compile(loss="mse", optimizer="adam", metrics=["mae"])
    model.save(tmp_path / "model.lstmkit")
    series = pd.Series(np.sin(np.arange(40) / 3.0), index=pd.date_range("2021-01-01", periods=40, freq="D"))
    Forecaster(lookback=5, horizon=2, units=3, epochs=1, levels=(80,), seed=0).fit(series).save(tmp_path / "f.lstmkit")
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "model.lstmkit"), str(tmp_path / "f.lstmkit"),
                          str(work), "11", str(CAP_BYTES)], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    print(json.dumps(report["counts"], indent=1))
    assert report["failures"] == []
    counts = report["counts"]
    outcomes = {outcome for kind in counts.values() for outcome in kind}
    assert outcomes <= {"error", "identical", "consistent"}
    assert sum(sum(kind.values()) for kind in counts.values()) == 520
    assert counts["model bit flip"]["error"] >= 140 and counts["model crafted config"]["error"] >= 75
    assert counts["lstmkit inspect"].get("error", 0) >= 35
