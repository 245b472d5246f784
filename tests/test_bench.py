"""`lstmkit bench --quick` as a smoke test: every workload runs and is recorded (no timing checks)."""

import json


import pytest

from lstmkit.bench import FULL, _keras_samples, format_rates, format_table, w3_flops
from lstmkit.cli import main

KEYS = ["W1 fit (s)", "W1 GRU fit (s)", "W1 predict (us)", "W1 GRU predict (us)", "W1 script (s)", "W2 fit (s)",
        "W2 GRU fit (s)", "W3 step (s)", "W3 forward (s)", "W3 GRU step (s)", "W3 GRU forward (s)",
        "W4 char fit (s)"]


def test_quick_bench_records_every_workload(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--rounds", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["quick"] is True and result["rounds"] == 1
    for framework in ("lstmkit", "pytorch"):
        assert list(result["samples"][framework]) == KEYS
        assert all(len(v) == 1 and v[0] > 0 for v in result["samples"][framework].values())
    lstmkit, pytorch = result["samples"]["lstmkit"], result["samples"]["pytorch"]
    for key in ("W1 GRU fit (s)", "W2 GRU fit (s)"):  # a fit of seconds at most, not a hang or a no-op
        assert 1e-4 < lstmkit[key][0] < 60 and 1e-4 < pytorch[key][0] < 60
    assert 0.5 < lstmkit["W1 GRU predict (us)"][0] < 1e5  # one window: microseconds, not seconds
    peaks = result["sgemm_gflops"]
    assert sorted(peaks) == sorted([f"{result['machine']['torch_threads']} threads", "1 thread"])
    assert all(len(v) == 1 and 0.05 < v[0] < 1e5 for v in peaks.values())  # GFLOP/s of a 256x256 sgemm
    # QUICK's W3 is batch 32, 20 steps, 8 inputs, 32 units: N = 640 rows, G = 128 (LSTM) or 96 (GRU)
    assert result["flops"] == {"W3 step (s)": 2 * 640 * 128 * (2 * 8 + 3 * 32) + 6 * 32 * 32,
                               "W3 forward (s)": 2 * 640 * 128 * 40 + 2 * 32 * 32,
                               "W3 GRU step (s)": 2 * 640 * 96 * (2 * 8 + 3 * 32) + 6 * 32 * 32,
                               "W3 GRU forward (s)": 2 * 640 * 96 * 40 + 2 * 32 * 32}
    captured = capsys.readouterr()
    assert "pytorch/lstmkit" in captured.out and "sgemm peak" in captured.out
    assert "W3 GRU step (s)" in captured.out and "GFLOP/s (" in captured.out
    assert "W1 GRU fit (s)" in captured.out and "W2 GRU fit (s)" in captured.out
    assert "Keras: skipped" in captured.err


def test_keras_results_map_onto_the_table():
    keras = {"workloads": {
        "W1_tutorial_fit": {"fit_s": {"median": 4.0}},
        "W1_predict_one_window": {"predict_us": {"median": 50000.0}},
        "W2_series_fit": {"fit_s": {"median": 8.0}},
        "W3_large_step": {"train_step_s": {"median": 0.7}, "forward_predict_on_batch_s": {"median": 0.2}},
    }}
    samples = _keras_samples(keras)
    assert samples == {"W1 fit (s)": 4.0, "W1 predict (us)": 50000.0, "W2 fit (s)": 8.0,
                       "W3 step (s)": 0.7, "W3 forward (s)": 0.2}
    table = format_table({"samples": {"lstmkit": {"W1 fit (s)": [0.02, 0.04]},
                                      "keras": {"W1 fit (s)": [4.0, 4.0]}}})
    assert "0.03 (0.02-0.04)" in table and "150.00x" in table  # median of the paired ratios 200 and 100


def test_w3_flops_counts_every_matrix_product():
    batch, steps, features, units = FULL.w3
    rows = batch * steps
    projection, recurrent, dense = 2 * rows * features * 4 * units, 2 * rows * units * 4 * units, 2 * batch * units
    assert w3_flops(*FULL.w3, forward_only=True) == projection + recurrent + dense == 15_099_625_472
    # backward: dh through U every step, dW and dU (as big as the forward's products), Dense's two
    assert w3_flops(*FULL.w3) == 2 * (projection + recurrent) + recurrent + 3 * dense == 43_621_154_816
    assert w3_flops(*FULL.w3, cell="gru") == pytest.approx(0.75 * w3_flops(*FULL.w3), rel=1e-5)


def test_rates_divide_flops_by_the_median_time():
    result = {"sgemm_gflops": {"2 threads": [180.0, 200.0, 190.0], "1 thread": [95.0]},
              "flops": {"W3 step (s)": 4.0e10},
              "samples": {"lstmkit": {"W3 step (s)": [0.2, 0.4, 0.25]}, "pytorch": {"W3 step (s)": [0.5]}}}
    text = format_rates(result)
    assert "190.0 GFLOP/s on 2 threads, 95.0 GFLOP/s on 1 thread" in text
    assert "40.00 GFLOP" in text  # median 0.25 s: 160 GFLOP/s, 84% of 190; PyTorch 80, 42%
    assert "lstmkit 160.0 GFLOP/s (84% of peak)" in text and "pytorch 80.0 GFLOP/s (42% of peak)" in text


def test_missing_keras_python_is_one_line(capsys):
    assert main(["bench", "--quick", "--keras-python", "/no/such/python"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not an executable" in err
