"""SequenceClassifier files are checked against a declared schema before anything is built:
each field's type and range, the fields against each other, the tensors against the network the
settings give; and a fuzz test of a few hundred seeded corruptions (tests/scripts/
fuzz_classifier_files.py), each loaded under a memory cap, that must end in the clean error or
a classifier that is what the file says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lstmkit.classify import SequenceClassifier
from lstmkit.cli import main
from lstmkit.saving import ModelFileError, open_model_file

SCRIPT = Path(__file__).parent / "scripts" / "fuzz_classifier_files.py"
sys.path.insert(0, str(SCRIPT.parent))
from fuzz_files import write_crafted  # noqa: E402

CAP_BYTES = 1 << 30  # address space the loads may add to what the warmed-up process maps
SMALL = {"epochs": 2, "units": 3, "filters": (4, 5, 3), "batch_size": 8}


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    x = [np.cumsum(rng.standard_normal(16)) + (i % 3) for i in range(18)]
    path = tmp_path_factory.mktemp("clf") / "clf.lstmkit"
    SequenceClassifier(seed=0, ensemble=2, class_weight={"a": 1.0, "b": 2.0, "c": 1.0}, **SMALL).fit(
        x, ["a", "b", "c"] * 6).save(path)
    return path


def _crafted(tmp_path: Path, saved: Path, change) -> Path:
    file = open_model_file(saved)
    config = json.loads(json.dumps(file.config))
    change(config)
    path = tmp_path / "crafted.lstmkit"
    write_crafted(path, json.dumps(config), file.tensors())
    return path


@pytest.mark.parametrize("change, wording", [
    (lambda c: c["classifier"].update(units=2**40), r"config.classifier.units = 1099511627776: expected an integer"),
    (lambda c: c["classifier"].update(units=5), "do not match its architecture|has shape"),
    (lambda c: c["classifier"].update(ensemble=3), r"config.best_epochs .*2 epochs|config.best_epochs"),
    (lambda c: c.update(best_epochs=[1, 2, 3]), r"config.best_epochs = \[1, 2, 3\]: expected 2 epochs"),
    (lambda c: c["classes"].append({"type": "str", "value": "a"}), "distinct labels"),
    (lambda c: c["classes"].__setitem__(0, {"type": "int", "value": "a"}), r"config.classes\[0\].value"),
    (lambda c: c["classes"].__setitem__(0, {"type": "tuple", "value": [1]}), r"config.classes\[0\].type"),
    (lambda c: c["normalizer"].update(kind="per-channel", mean=[0.0, 1.0], std=[1.0, 1.0]), "one per channel"),
    (lambda c: c["normalizer"].update(kind="per-channel", mean=[0.0], std=[-1.0]), r"normalizer.std\[0\]"),
    (lambda c: c.update(channels=2), "do not match its architecture|has shape"),
    (lambda c: c.update(validation=[0, 0]), "increasing positions"),
    (lambda c: c.update(validation=None), "config.validation_table"),
    (lambda c: c["classifier"].update(class_weight=[[{"type": "str", "value": "z"}, 1.0]]), "among config.classes"),
    (lambda c: c["classifier"].update(go_fast=True), r"config.classifier.go_fast.*no such key"),
    (lambda c: c["classifier"].update(max_length=None) or c.update(averaging=4), "1 when max_length is null"),
    (lambda c: c.pop("normalizer"), r"config.normalizer = None: expected a value"),
], ids=["huge units", "units", "ensemble", "best epochs", "repeated class", "label type", "label kind",
        "normaliser channels", "negative deviation", "channels", "validation", "table without part",
        "class weight label", "unknown key", "averaging", "missing field"])
def test_a_crafted_config_is_refused_naming_the_field(tmp_path, saved, change, wording):
    with pytest.raises(ModelFileError, match=wording):
        SequenceClassifier.load(_crafted(tmp_path, saved, change))


@pytest.mark.parametrize("change, wording", [
    (lambda t: t.update({"train.targets": t["train.targets"] + 3}), r"train.targets: expected class indices 0..2"),
    (lambda t: t.update({"train.lengths": t["train.lengths"] + 1}), "train.lengths: expected whole numbers"),
    (lambda t: t["train.values"].__setitem__((0, 0), float("nan")), "train.values holds NaN"),
    (lambda t: t.update({"train.values": t["train.values"][:, None]}), "training sequences of shapes"),
    (lambda t: t.update({"extra": torch.zeros(2)}), r"unexpected \['extra'\]"),
    (lambda t: t.pop("members.1.layers.2.bias"), r"missing \['layers.2.bias'\]"),
    (lambda t: t.update({"members.0.layers.2.bias": torch.zeros(4)}), r"'members.0.layers.2.bias' has shape \[4\]"),
], ids=["targets", "lengths", "nan", "shape", "extra tensor", "missing weight", "weight shape"])
def test_crafted_tensors_are_refused_before_the_members_are_built(tmp_path, saved, change, wording):
    file = open_model_file(saved)
    tensors = {name: tensor.clone() for name, tensor in file.tensors().items()}
    change(tensors)
    write_crafted(tmp_path / "crafted.lstmkit", json.dumps(file.config), tensors)
    with pytest.raises(ModelFileError, match=wording):
        SequenceClassifier.load(tmp_path / "crafted.lstmkit")


def test_a_file_written_before_averaging_existed_loads(tmp_path, saved):
    path = _crafted(tmp_path, saved, lambda c: (c.pop("averaging"), c["classifier"].pop("max_length")))
    loaded = SequenceClassifier.load(path)
    assert loaded.averaging_ == 1 and loaded.max_length == 256
    x = np.zeros((2, 16, 1))
    np.testing.assert_array_equal(loaded.predict_proba(x), SequenceClassifier.load(saved).predict_proba(x))


def test_inspect_draws_a_classifiers_recurrent_branch_and_refuses_a_damaged_file_in_one_line(tmp_path, saved,
                                                                                            capsys):
    classifier = SequenceClassifier.load(saved)
    x = np.linspace(-1, 1, 16)[:, None]
    trace = classifier.trace(x[None])
    assert [entry.name.split("/")[-1] for entry in trace] == ["forward", "backward"]
    assert trace[0].hidden_state.shape == (1, 16, 3)
    branch = classifier.members_[0].layers[0].recurrent  # its last outputs are what the softmax reads
    inputs = torch.tensor(classifier.normalizer_.transform([x])[0][None], dtype=torch.float32)
    np.testing.assert_allclose(trace[0].hidden_state[0, -1], branch(inputs)[0, :3].detach().numpy(), atol=1e-5)
    np.save(tmp_path / "x.npy", x)
    assert main(["inspect", str(saved), "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "gates")]) == 0
    assert len(list((tmp_path / "gates").glob("gates_*.png"))) == 2
    damaged = bytearray(saved.read_bytes())
    damaged[-5] ^= 1
    (tmp_path / "damaged.lstmkit").write_bytes(bytes(damaged))
    capsys.readouterr()
    assert main(["inspect", str(tmp_path / "damaged.lstmkit"), "--input", str(tmp_path / "x.npy")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "damaged" in err and "Traceback" not in err


def test_corrupted_and_crafted_files_give_the_clean_error_or_the_classifier_they_hold(tmp_path, saved):
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, str(SCRIPT), str(saved), str(work), "13", str(CAP_BYTES)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    print(json.dumps(report["counts"], indent=1))
    assert report["failures"] == []
    counts = report["counts"]
    assert {outcome for kind in counts.values() for outcome in kind} <= {"error", "identical", "consistent"}
    assert sum(sum(kind.values()) for kind in counts.values()) == 180
    assert counts["classifier bit flip"]["error"] >= 45 and counts["classifier crafted config"]["error"] >= 40
    assert counts["classifier crafted config"].get("consistent", 0) >= 5
    assert counts["lstmkit inspect"].get("error", 0) >= 15
