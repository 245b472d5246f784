"""Forecaster(ensemble="auto"): three models and their median where the data are small, one where
they are large; said in the summary and the report, kept in the file, and chosen on the command line."""

import numpy as np
import pandas as pd
import pytest

from lstmkit.cli import main
from lstmkit.forecast import Forecaster
from lstmkit.forecast.lookbacks import SMALL_DATA_STEPS, ensemble_size
from lstmkit.saving import read_model_file, write_model_file

QUICK = dict(units=4, epochs=4, seed=0, relative=True, levels=None)


def _series(n, seed=0):
    t = np.arange(n)
    values = 10 + np.sin(2 * np.pi * t / 12) + np.random.default_rng(seed).normal(0, 0.2, n)
    return pd.Series(values, index=pd.date_range("2000-01", periods=n, freq="MS"))


def test_the_size_rule_counts_points_times_the_lookback():
    assert ensemble_size("auto", 1000, 100) == 3  # exactly SMALL_DATA_STEPS
    assert ensemble_size("auto", 1001, 100) == 1
    assert ensemble_size("auto", 1, SMALL_DATA_STEPS + 1) == 1
    assert ensemble_size(2, 10**9, 100) == 2 and ensemble_size(1, 10, 10) == 1  # a number is kept as given


def test_small_data_train_three_models_and_forecast_as_ensemble_3_does():
    series = _series(96)
    auto = Forecaster(12, 6, **QUICK).fit(series)
    three = Forecaster(12, 6, ensemble=3, **QUICK).fit(series)
    assert auto.ensemble == "auto" and auto.ensemble_ == 3 and len(auto.members_) == 3
    pd.testing.assert_frame_equal(auto.predict(), three.predict())
    members = np.stack([member.predict(np.zeros((1, 12, 1), np.float32))[0] for member in auto.members_])
    assert np.abs(members[0] - members[1]).max() > 1e-4  # seeds 0, 1, 2: three different models
    assert "Trained 3 model(s) (ensemble='auto': 96 points x lookback 12 = 1,152 steps, at most 100,000)" \
        in auto.summary()
    assert "Trained 3 model(s);" in three.summary()


def test_large_data_train_one_model_as_ensemble_1_does():
    series = _series(2100)  # 2,100 points x lookback 48 = 100,800 steps
    auto = Forecaster(48, 6, **{**QUICK, "epochs": 1, "units": 2}).fit(series)
    one = Forecaster(48, 6, ensemble=1, **{**QUICK, "epochs": 1, "units": 2}).fit(series)
    assert auto.ensemble_ == 1 and len(auto.members_) == 1
    pd.testing.assert_frame_equal(auto.predict(), one.predict())
    assert "Trained 1 model(s) (ensemble='auto': 2100 points x lookback 48 = 100,800 steps, over 100,000)" \
        in auto.summary()


def test_ensemble_must_be_a_positive_number_or_auto():
    with pytest.raises(ValueError, match="`ensemble` must be a whole number of models or 'auto'; got 'many'"):
        Forecaster(12, 6, ensemble="many")
    with pytest.raises(ValueError, match="ensemble"):
        Forecaster(12, 6, ensemble=0)


def test_files_keep_the_models_trained_and_refuse_a_count_that_disagrees(tmp_path):
    series = _series(60)
    fc = Forecaster(12, 6, **QUICK).fit(series)
    fc.save(tmp_path / "auto.lstmkit")
    loaded = Forecaster.load(tmp_path / "auto.lstmkit")
    assert loaded.ensemble == "auto" and loaded.ensemble_ == 3 and loaded.summary() == fc.summary()
    pd.testing.assert_frame_equal(loaded.predict(), fc.predict())

    config, tensors = read_model_file(tmp_path / "auto.lstmkit")
    config["ensemble_members"] = 2  # three lookbacks saved: not a multiple of 2
    write_model_file(tmp_path / "two.lstmkit", config, tensors)
    with pytest.raises(ValueError, match="config.lookbacks"):
        Forecaster.load(tmp_path / "two.lstmkit")
    config["ensemble_members"], config["forecaster"]["ensemble"] = 3, 1  # a setting the count disagrees with
    write_model_file(tmp_path / "one.lstmkit", config, tensors)
    with pytest.raises(ValueError, match="config.ensemble_members"):
        Forecaster.load(tmp_path / "one.lstmkit")
    config["forecaster"]["ensemble"] = "auto"
    del config["ensemble_members"]  # "auto" without the count it settled on
    write_model_file(tmp_path / "bare.lstmkit", config, tensors)
    with pytest.raises(ValueError, match="config.ensemble_members"):
        Forecaster.load(tmp_path / "bare.lstmkit")

    older = Forecaster(12, 6, ensemble=2, **QUICK).fit(series)
    older.save(tmp_path / "plain.lstmkit")
    config, tensors = read_model_file(tmp_path / "plain.lstmkit")
    del config["ensemble_members"], config["ensemble_note"]  # a file from before ensemble="auto"
    write_model_file(tmp_path / "older.lstmkit", config, tensors)
    loaded = Forecaster.load(tmp_path / "older.lstmkit")
    assert loaded.ensemble == 2 and loaded.ensemble_ == 2 and "Trained 2 model(s);" in loaded.summary()
    pd.testing.assert_frame_equal(loaded.predict(), older.predict())


def test_the_command_line_defaults_to_auto_and_takes_a_number(tmp_path, capsys):
    csv = tmp_path / "monthly.csv"
    series = _series(60)
    pd.DataFrame({"month": series.index, "value": series.to_numpy()}).to_csv(csv, index=False)
    quick = ["--lookback", "12", "--horizon", "6", "--epochs", "3", "--units", "4", "--relative", "on", "--quiet",
             "--statistical", "off", "--levels", "none"]
    assert main(["forecast", str(csv), "--out", str(tmp_path / "auto"), *quick]) == 0
    assert len(Forecaster.load(tmp_path / "auto" / "model.lstmkit").members_) == 3
    assert "ensemble of 3 model(s) (ensemble='auto': 60 points" in (tmp_path / "auto" / "report.md").read_text()
    assert main(["forecast", str(csv), "--out", str(tmp_path / "one"), "--ensemble", "1", *quick]) == 0
    assert len(Forecaster.load(tmp_path / "one" / "model.lstmkit").members_) == 1
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(["forecast", str(csv), "--out", str(tmp_path / "bad"), "--ensemble", "many", *quick])
    assert done.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--ensemble" in err[0] and "'many'" in err[0] and not (tmp_path / "bad").exists()
