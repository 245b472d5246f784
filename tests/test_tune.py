"""Forecaster.tune: seeded Optuna search scored on held-out latest points, kept in the file and report."""

import numpy as np
import pandas as pd
import pytest

from lstmkit.cli import main
from lstmkit.forecast import Forecaster
from lstmkit.forecast.tuning import holdout_score
from lstmkit.forecast.series import read_series


def _series(length=90):
    t = np.arange(length)
    return pd.Series(10 + 3 * np.sin(2 * np.pi * t / 12) + 0.05 * t,
                     index=pd.period_range("2000-01", periods=length, freq="M"))


def _tuned():
    return Forecaster(lookback=12, horizon=6, epochs=3, seed=1).tune(_series(60), n_trials=3)


def test_tune_is_repeatable_and_never_worse_than_the_defaults(tmp_path):
    first, second = _tuned(), _tuned()
    assert first.tuning_ == second.tuning_
    tuning = first.tuning_
    assert tuning["trials"] == 3 and tuning["default_params"]["lookback"] == 12
    assert set(tuning["best_params"]) == {"lookback", "units", "layers", "dropout", "learning_rate", "cell", "relative"}
    assert tuning["best_score"] <= tuning["default_score"]
    assert first.lookback == tuning["best_params"]["lookback"] and first.units == tuning["best_params"]["units"]
    first.save(tmp_path / "tuned.lstmkit")
    loaded = Forecaster.load(tmp_path / "tuned.lstmkit")
    assert loaded.tuning_ == tuning
    assert f"best {tuning['best_score']:.4g}" in loaded.summary()
    pd.testing.assert_frame_equal(loaded.predict(), first.predict())


def test_holdout_score_uses_only_the_held_out_tail():
    series = _series()
    items, past, future = read_series(series)
    spec = Forecaster(lookback=12, horizon=6, epochs=3, seed=0)
    score = holdout_score(spec, items, (past, future), holdout=18)
    spec.columns_ = {"id_col": None, "time_col": None, "value_col": None}  # what fit(series) records
    assert spec.tails_[0].index[-1] == series.index[-19]  # fitted on 72 points
    assert len(spec.tails_[0].values) == spec.context_ == 48  # the lookback, 12, and the seasonal profile's 4 years
    origins = [72, 78, 84]  # one horizon apart inside the last 18
    errors = [np.abs(spec.predict(data=series.iloc[:o])["forecast"].to_numpy() - series.iloc[o:o + 6].to_numpy())
              for o in origins]
    assert score == pytest.approx(float(np.mean(errors)), rel=1e-9)


def test_tune_arguments_and_cli(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown cell 'gru2'; did you mean 'gru'"):
        Forecaster(lookback=12, horizon=6).tune(_series(), cells=["gru2"])
    from lstmkit import Sequential
    from lstmkit.layers import LSTM, Dense

    with pytest.raises(ValueError, match="create it without `model` to tune it"):
        Forecaster(lookback=12, horizon=6, model=Sequential([LSTM(4), Dense(6)])).tune(_series())
    with pytest.raises(ValueError, match="`n_trials` must be an integer >= 1"):
        Forecaster(lookback=12, horizon=6).tune(_series(), n_trials=0)
    data = tmp_path / "series.csv"
    _series(60).to_frame("y").rename_axis("month").to_csv(data)
    out = tmp_path / "out"
    assert main(["forecast", str(data), "--horizon", "6", "--lookback", "12", "--epochs", "3", "--tune", "2",
                 "--levels", "none", "--quiet", "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "Tuned (2 trials" in report and "the given settings scored" in report
    assert main(["forecast", str(data), "--tune", "2", "--nproc", "2", "--out", str(out)]) == 2
    assert "--tune trains its trials one after another" in capsys.readouterr().err
