"""`lstmkit bench --quick` as a smoke test: every workload runs and is recorded (no timing checks)."""

import json


from lstmkit.bench import _keras_samples, format_table
from lstmkit.cli import main

KEYS = ["W1 fit (s)", "W1 GRU fit (s)", "W1 predict (us)", "W1 GRU predict (us)", "W1 script (s)", "W2 fit (s)",
        "W2 GRU fit (s)", "W3 step (s)", "W3 forward (s)", "W4 char fit (s)"]


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
    captured = capsys.readouterr()
    assert "pytorch/lstmkit" in captured.out
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


def test_missing_keras_python_is_one_line(capsys):
    assert main(["bench", "--quick", "--keras-python", "/no/such/python"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not an executable" in err
