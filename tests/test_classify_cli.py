"""`lstmkit classify` and the classification benchmark's quick form."""

from __future__ import annotations

import importlib.util
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstmkit.classify import SequenceClassifier
from lstmkit.cli import main

CHINATOWN = resources.files("lstmkit.datasets")


def test_classify_archive_files_writes_every_result(tmp_path, capsys):
    train, test = CHINATOWN / "Chinatown_TRAIN.ts", CHINATOWN / "Chinatown_TEST.ts"
    out = tmp_path / "results"
    assert main(["classify", str(train), "--test", str(test), "--epochs", "2", "--ensemble", "2",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Test (343 sequences" in printed and "1-NN DTW" in printed and "Trained 2 model(s)" in printed
    assert sorted(p.name for p in out.iterdir()) == ["confusion_matrix.png", "metrics.csv", "model.lstmkit",
                                                     "predictions.csv", "report.md"]
    predictions = pd.read_csv(out / "predictions.csv")
    assert list(predictions.columns) == ["id", "label", "predicted", "p_1", "p_2"] and len(predictions) == 343
    metrics = pd.read_csv(out / "metrics.csv", index_col="model")
    assert metrics.loc["classifier", "accuracy"] == pytest.approx(np.mean(predictions.label == predictions.predicted))
    assert metrics.loc["1-NN Euclidean", "accuracy"] == pytest.approx(0.9446, abs=1e-3)  # the archive's 0.945
    report = (out / "report.md").read_text()
    assert "## Test scores beside the baselines" in report and "| 1 | " in report
    loaded = SequenceClassifier.load(out / "model.lstmkit")
    assert loaded.classes_ == ["1", "2"] and (out / "confusion_matrix.png").stat().st_size > 5_000


def test_classify_long_csv(tmp_path, capsys):
    rng = np.random.default_rng(0)
    rows = []
    for split, count in (("train", 12), ("test", 6)):
        for i in range(count):
            label = ["calm", "busy"][i % 2]
            for t in range(5 + i % 3):  # unequal lengths
                rows.append({"split": split, "seq": f"{split}{i}", "t": t, "label": label,
                             "value": rng.normal(3.0 if label == "busy" else 0.0)})
    frame = pd.DataFrame(rows)
    for split in ("train", "test"):
        frame[frame.split == split].drop(columns="split").to_csv(tmp_path / f"{split}.csv", index=False)
    out = tmp_path / "out"
    assert main(["classify", str(tmp_path / "train.csv"), "--test", str(tmp_path / "test.csv"), "--id", "seq",
                 "--time", "t", "--epochs", "2", "--quiet", "--out", str(out)]) == 0
    predictions = pd.read_csv(out / "predictions.csv")
    assert predictions.id.tolist() == [f"test{i}" for i in range(6)]
    assert set(predictions.columns) == {"id", "label", "predicted", "p_busy", "p_calm"}
    assert "left out, the sequences differ in length" in (out / "report.md").read_text()


@pytest.mark.parametrize("argv, wording", [
    (["classify", "missing.ts", "--test", "missing.ts"], "no file at 'missing.ts'"),
    (["classify", "{train}", "--test", "{data}.json"], "unsupported file type '.json'"),
    (["classify", "{train}", "--test", "{train}", "--out", "/no/such/folder/out"], "name a folder whose parent exists"),
    (["classify", "{data}.csv", "--test", "{data}.csv"], "has no column 'id'"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, wording):
    (tmp_path / "data.json").write_text("{}")
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    argv = [a.format(train=CHINATOWN / "Chinatown_TRAIN.ts", data=tmp_path / "data") for a in argv]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and wording in error and "Traceback" not in error


def test_benchmark_quick_runs_every_step():
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "classification_accuracy.py"
    spec = importlib.util.spec_from_file_location("classification_accuracy", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table = module.main(["--quick"])
    assert "| Chinatown | 20 | 343 | 1 | 24 | 2 |" in table
    assert "| JapaneseVowels | 270 | 370 | 12 | 7-29 | 9 |" in table
    assert "| 0.945 | 0.974 | 0.980 | 0.978 |" in table  # 1-NN ED and DTW on the archive's values; FCN, ResNet
    assert len(module.PROBLEMS) >= 10 and all((module.DATA / f).is_file() for f in module.PROBLEMS.values() if f)
