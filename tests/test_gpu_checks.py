"""benchmarks/gpu_checks.py without a GPU: it says so, runs its harness on the CPU, exits 0, and its
comparisons catch a wrong result."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "gpu_checks.py"
_spec = importlib.util.spec_from_file_location("gpu_checks", SCRIPT)
gpu_checks = importlib.util.module_from_spec(_spec)
sys.modules["gpu_checks"] = gpu_checks  # its dataclass looks its module up while the file runs
_spec.loader.exec_module(gpu_checks)


def test_without_a_gpu_it_says_so_runs_the_cpu_checks_and_exits_0(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(gpu_checks, "cuda_available", lambda: False)
    assert gpu_checks.main(["--json", str(tmp_path / "out.json")]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("no GPU here:") and printed.rstrip().endswith("all checks passed")
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["gpu"] is False and result["passed"] is True and "ddp" not in result and "timings" not in result
    assert [(row["cell"], row["dtype"]) for row in result["parity"]] == [
        (cell, dtype) for cell in ("lstm", "gru", "simple_rnn") for dtype in ("float32", "float64")]
    for row in result["parity"]:
        assert set(row["worst"]) >= {"outputs", "h_T", "d_x", "d_h0", "d_kernel", "d_recurrent_kernel", "d_bias"}
        assert max(row["worst"].values()) < (1e-6 if row["dtype"] == "float32" else 1e-12)
    assert len(result["masking"]) == 4 and all(row["max_difference"] < 1e-6 for row in result["masking"])


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_parity_reports_a_perturbed_weight(cell):
    assert gpu_checks.check_parity(cell, "cpu", torch.float64, perturb=0.0).passed
    wrong = gpu_checks.check_parity(cell, "cpu", torch.float64, perturb=1e-6)
    assert not wrong.passed and wrong.error is None
    assert wrong.worst["outputs"] > 1e-9 and wrong.worst["d_kernel"] > 1e-9
    assert not gpu_checks.check_parity(cell, "cpu", torch.float32, perturb=1e-2).passed


def test_masking_check_reports_padding_that_leaks(monkeypatch):
    run_cell = gpu_checks.run_cell
    monkeypatch.setattr(gpu_checks, "run_cell", lambda cell, tensors, backend, mask=None: run_cell(cell, tensors, backend))
    result = gpu_checks.check_masking("lstm", "cpu")  # the padded steps are now run as real ones
    assert not result["passed"] and result["max_difference"] > 1e-3
