"""Model files from strangers: every case of issue #11 as a named regression test.

Crafted files keep valid checksums (an attacker can recompute them), so that the schema, not the
checksum, is what refuses them; damaged files keep the checksums of the original.
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import save as safetensors_bytes
from safetensors.torch import save_file

import lstmkit.layers
from lstmkit import Sequential, load_model
from lstmkit.cli import main
from lstmkit.forecast import Forecaster
from lstmkit.layers import LSTM, Dense, Layer
from lstmkit.atomic import remove_stale_temporaries
from lstmkit.saving import ModelFileError, open_model_file, write_model_file


def _model() -> Sequential:
    model = Sequential([LSTM(4, input_shape=(3, 1)), Dense(1)])
    model.compile(loss="mse", optimizer="adam")
    return model


@pytest.fixture
def saved(tmp_path) -> tuple[Sequential, Path]:
    model = _model()
    path = tmp_path / "model.lstmkit"
    model.save(path)
    return model, path


def _rewrite(path: Path, mutate: Callable[[dict], Any]) -> None:
    """Change the config of the file at `path` (checksums recomputed, as a crafted file would)."""
    file = open_model_file(path)
    config = file.config
    mutate(config)
    write_model_file(path, config, file.tensors())


def _peak_rss_growth(action: Callable[[], Any]) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    try:
        action()
    finally:
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return after - before


def _layer(config: dict, index: int = 0) -> dict:
    return config["model"]["layers"][index]["config"]


def test_units_30000_in_a_small_file_is_refused_before_anything_is_allocated(saved):
    _, path = saved
    _rewrite(path, lambda c: _layer(c).update(units=30000))
    assert path.stat().st_size < 4096

    def load() -> None:
        with pytest.raises(ModelFileError, match=r"weights do not match its architecture: tensor 'layers.0.kernel' "
                                                 r"has shape \[1, 16\] where the config gives \[1, 120000\]"):
            load_model(path)

    start = time.perf_counter()
    growth = _peak_rss_growth(load)
    assert time.perf_counter() - start < 2 and growth < 100 * 2**20  # LSTM(30000) would take 14 GB


def test_100000_dense_layers_are_refused_in_a_moment(saved):
    _, path = saved
    _rewrite(path, lambda c: c["model"]["layers"].extend([{"class_name": "Dense", "config": {"units": 1}}] * 100_000))
    start = time.perf_counter()
    with pytest.raises(ModelFileError, match=r"model.layers = .*expected a list of 0 to 1000 items"):
        load_model(path)
    assert time.perf_counter() - start < 10  # about 1 s on a busy machine; over a minute before #11


def test_json_nested_1000_deep_is_a_clean_error(saved, tmp_path):
    _, path = saved
    deep = "[" * 1000 + "]" * 1000
    file = open_model_file(path)
    text = json.dumps(file.config).replace('"name": "sequential"', f'"name": {deep}', 1)
    metadata = {"format": "lstmkit", "format_version": "1", "lstmkit_version": "0", "config": text}
    save_file(file.tensors(), str(path), metadata=metadata)  # format_version 1: no checksums to pass
    with pytest.raises(ModelFileError, match=r"configuration header: config = .*expected JSON nested at most 32 deep"):
        load_model(path)


@pytest.mark.parametrize("key, value, match", [
    ("units", 2**63, r"units = 9223372036854775808: expected an integer in \[1, 1048576\]"),
    ("go_backwards", "false", r"go_backwards = 'false': expected true or false"),
    ("stateful", "x", r"stateful = 'x': expected true or false"),
    ("activation", None, r"activation = None: expected a string"),
    ("input_shape", [-5, 1], r"input_shape` must be a tuple of positive integers"),
    ("input_shape", ["5", 1], r"input_shape\[0\] = '5': expected an integer"),
    ("dropout", 1.5, r"`dropout` must be a fraction in \[0, 1\)"),
])
def test_wrong_typed_or_out_of_range_layer_values_are_refused(saved, key, value, match):
    _, path = saved
    _rewrite(path, lambda c: _layer(c).update({key: value}))
    with pytest.raises(ModelFileError, match=r"holds a damaged lstmkit model: .*" + match):
        load_model(path)


@pytest.mark.parametrize("key, value, match", [
    ("learning_rate", math.nan, r"learning_rate = nan: expected a finite number"),
    ("learning_rate", math.inf, r"learning_rate = inf: expected a finite number"),
    ("beta_1", 5.0, r"`beta_1` must be a fraction in \[0, 1\); got 5.0"),
    ("epsilon", "1e-7", r"epsilon = '1e-7': expected a finite number"),
])
def test_wrong_optimizer_settings_are_refused(saved, key, value, match):
    _, path = saved
    _rewrite(path, lambda c: c["training"]["optimizer"]["config"].update({key: value}))
    with pytest.raises(ModelFileError, match=r"training.optimizer.config.*" + match):
        load_model(path)


@pytest.mark.parametrize("shape", [[-5, 1], ["a", 1], [0, 1]])
def test_negative_or_string_build_input_shapes_are_refused(saved, shape):
    _, path = saved
    _rewrite(path, lambda c: (c["model"].update(build_input_shape=shape), _layer(c).pop("input_shape")))
    with pytest.raises(ModelFileError, match=r"model.build_input_shape\[0\] = .*expected an integer in \[1, "):
        load_model(path)


def test_unknown_keys_are_refused(saved):
    _, path = saved
    _rewrite(path, lambda c: _layer(c).update(unit=3))
    with pytest.raises(ModelFileError, match=r"model.layers\[0\].config.unit = 3: expected no such key"):
        load_model(path)


def test_a_flipped_bit_in_a_weight_is_damage_not_another_model(saved):
    _, path = saved
    file = open_model_file(path)
    entry = file.entries["layers.0.recurrent_kernel"]
    data = bytearray(path.read_bytes())
    data[file.data_start + entry.start + 5] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"is damaged: the bytes of tensor 'layers.0.recurrent_kernel' do not "
                                             r"match their checksum"):
        load_model(path)


def test_a_flipped_bit_in_the_config_is_damage(saved):
    _, path = saved
    data = bytearray(path.read_bytes())
    data[data.index(b'\\"dropout\\": 0.0') + len(b'\\"dropout\\": 0.') ] ^= 0x01  # 0.0 -> 0.1, still valid JSON
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"is damaged: its configuration does not match its checksum"):
        load_model(path)


@pytest.mark.parametrize("dtype, name", [(torch.bfloat16, "BF16"), (torch.float8_e4m3fn, "F8_E4M3")])
def test_bf16_and_f8_tensors_are_refused(saved, dtype, name):
    model, path = saved
    file = open_model_file(path)
    tensors = {key: value.to(dtype) for key, value in file.tensors().items()}
    metadata = {"format": "lstmkit", "format_version": "1", "lstmkit_version": "0", "config": json.dumps(file.config)}
    path.write_bytes(safetensors_bytes(tensors, metadata=metadata))
    with pytest.raises(ModelFileError, match=rf"has dtype {name}; lstmkit files hold F32, F64, U8"):
        load_model(path)


def test_load_weights_refuses_weights_that_are_not_floats(tmp_path):
    model = _model()
    model.save_weights(tmp_path / "w.lstmkit")
    file = open_model_file(tmp_path / "w.lstmkit")
    tensors = {key: value.to(torch.uint8) for key, value in file.tensors().items()}
    write_model_file(tmp_path / "w.lstmkit", file.config, tensors)
    with pytest.raises(ModelFileError, match=r"weight 'layers.0.kernel' is torch.uint8; lstmkit weights are float32"):
        _model().load_weights(tmp_path / "w.lstmkit")


def test_format_version_1_files_still_load(saved):
    model, path = saved
    file = open_model_file(path)
    metadata = {"format": "lstmkit", "format_version": "1", "lstmkit_version": "0.1.0",
                "config": json.dumps(file.config)}
    save_file(file.tensors(), str(path), metadata=metadata)
    loaded = load_model(path)
    assert loaded.get_config() == model.get_config()
    for ours, theirs in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


def test_a_layer_plugs_into_the_schema_by_annotating_its_constructor(tmp_path, monkeypatch):
    class Scale(Layer):
        def __init__(self, factor: float = 1.0, input_shape=None, name: str | None = None):
            self.factor = factor
            super().__init__(input_shape=input_shape, name=name)

        def build(self, input_shape):
            self.gain = torch.nn.Parameter(torch.full((input_shape[-1],), float(self.factor)))
            super().build(input_shape)

        def forward(self, x):
            self._build_from(x)
            return x * self.gain

        def get_config(self):
            return {"factor": self.factor, **super().get_config()}

    monkeypatch.setitem(lstmkit.layers.LAYERS, "Scale", Scale)
    model = Sequential([LSTM(3, input_shape=(2, 1)), Scale(2.0), Dense(1)])
    model.save(tmp_path / "m.lstmkit")
    assert load_model(tmp_path / "m.lstmkit").layers[1].gain.tolist() == [2.0, 2.0, 2.0]
    _rewrite(tmp_path / "m.lstmkit", lambda c: _layer(c, 1).update(factor="2"))
    with pytest.raises(ModelFileError, match=r"model.layers\[1\].config.factor = '2': expected a finite number"):
        load_model(tmp_path / "m.lstmkit")


@pytest.mark.parametrize("damage", ["nested", "units", "bit"])
def test_cli_inspect_prints_one_line_and_exits_2(saved, tmp_path, capsys, damage):
    _, path = saved
    if damage == "nested":
        _rewrite(path, lambda c: c["model"].update(name=json.loads("[" * 40 + "]" * 40)))
    elif damage == "units":
        _rewrite(path, lambda c: _layer(c).update(units=2**63))
    else:
        data = bytearray(path.read_bytes())
        data[-3] ^= 0x40
        path.write_bytes(bytes(data))
    np.save(tmp_path / "x.npy", np.zeros((3, 1), np.float32))
    assert main(["inspect", str(path), "--input", str(tmp_path / "x.npy"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lstmkit: error: ") and err.count("\n") == 1 and "Traceback" not in err


# -- saves leave nothing behind ----------------------------------------------------------------

def test_one_temporary_file_per_save_named_after_its_target(tmp_path, monkeypatch):
    seen = []
    original = Path.write_bytes

    def spy(self, data):
        seen.append(sorted(os.listdir(tmp_path)))
        return original(self, data)

    monkeypatch.setattr(Path, "write_bytes", spy)
    _model().save(tmp_path / "m.lstmkit")
    assert len(seen) == 1 and len(seen[0]) == 1
    name = seen[0][0]
    assert name.startswith(f".m.lstmkit.{os.getpid()}.") and name.endswith(".tmp")
    assert os.listdir(tmp_path) == ["m.lstmkit"]


def test_stale_temporaries_of_killed_saves_are_removed_on_the_next_save(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".m.lstmkit.{dead_pid}.0123abcd.tmp"
    live = tmp_path / f".m.lstmkit.{os.getppid()}.0123abcd.tmp"  # a save under way in another process
    other = tmp_path / f".other.lstmkit.{dead_pid}.0123abcd.tmp"  # another target's: not ours to judge
    for path in (stale, live, other):
        path.write_bytes(b"x" * 100)
    _model().save(tmp_path / "m.lstmkit")
    assert sorted(os.listdir(tmp_path)) == sorted(["m.lstmkit", live.name, other.name])
    assert remove_stale_temporaries(tmp_path / "other.lstmkit") == [other]


# -- same seed, same bits, whatever the thread count --------------------------------------------

_INIT_SCRIPT = """
import hashlib, sys, torch
torch.set_num_threads(int(sys.argv[1]))
from lstmkit.layers import LSTM
torch.manual_seed(0)
layer = LSTM(96, input_shape=(4, 3))
print(torch.get_num_threads(), hashlib.sha256(b"".join(w.tobytes() for w in layer.get_weights())).hexdigest())
"""


def test_same_seed_gives_the_same_initial_weights_on_one_and_two_threads():
    digests = []
    for threads in (1, 2):
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(Path(__file__).parents[1])}
        out = subprocess.run([sys.executable, "-c", _INIT_SCRIPT, str(threads)], capture_output=True, text=True,
                             env=env, check=True).stdout.split()
        assert out[0] == str(threads)
        digests.append(out[1])
    assert digests[0] == digests[1]


# -- Forecaster files ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def forecaster_file(tmp_path_factory) -> Path:
    series = pd.Series(np.sin(np.arange(60) / 3.0), index=pd.date_range("2020-01-01", periods=60, freq="D"))
    forecaster = Forecaster(lookback=6, horizon=3, units=4, epochs=2, levels=(80,), seed=0).fit(series)
    path = tmp_path_factory.mktemp("forecaster") / "f.lstmkit"
    forecaster.save(path)
    return path


@pytest.fixture
def forecaster_copy(forecaster_file, tmp_path) -> Path:
    copy = tmp_path / "f.lstmkit"
    copy.write_bytes(forecaster_file.read_bytes())
    return copy


@pytest.mark.parametrize("mutate, match", [
    (lambda c: c["forecaster"].update(horizon=1e9), r"config.forecaster.horizon = 1000000000.0: expected an integer"),
    (lambda c: c["forecaster"].update(horizon=10**9), r"config.model = <output \(3,\)>: expected a network whose "
                                                        r"output is \(1000000000,\)"),
    (lambda c: c.update(series=[]), r"config.series = \[\]: expected a list of 1 to"),
    (lambda c: c["quantiles"].update({"80": [0.1]}), r"config.quantiles.80 = \[0.1\]: expected 3 non-negative widths"),
    (lambda c: c["forecaster"].update(levels=[150]), r"`levels` must be whole percents between 1 and 99"),
    (lambda c: c["forecaster"].update(levels=["80"]), r"config.forecaster.levels\[0\] = '80': expected an integer"),
    (lambda c: c["series"][0].update(values=[1.0]), r"config.series\[0\].past = <\d+ rows>: expected 1 rows"),
])
def test_crafted_forecaster_files_are_refused(forecaster_copy, mutate, match):
    _rewrite(forecaster_copy, mutate)
    start = time.perf_counter()
    with pytest.raises(ModelFileError, match=match):
        Forecaster.load(forecaster_copy)
    assert time.perf_counter() - start < 2


def test_forecaster_file_round_trip_still_predicts(forecaster_file):
    loaded = Forecaster.load(forecaster_file)
    frame = loaded.predict()
    assert list(frame.columns) == ["forecast", "lower_80", "upper_80"] and len(frame) == 3
    assert frame.index[0] == pd.Timestamp("2020-03-01")
