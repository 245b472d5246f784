"""Forecaster(relative="auto"): a single series trained with relative windows and with windows of levels,
the one with the lower validation MAE kept, said in the summary and the report, saved and exported."""

import numpy as np
import pandas as pd
import pytest

from lstmkit.cli import main
from lstmkit.forecast import Forecaster
from lstmkit.forecast.relative import choose
from lstmkit.saving import read_model_file, write_model_file

FAST = dict(units=8, epochs=40, seed=0)


def _around_a_mean(n=160, seed=0):
    """Noise around a fixed level: the best forecast is the level, not the last (noisy) value."""
    values = 20 + np.random.default_rng(seed).normal(0, 2, n)
    return pd.Series(values, index=pd.date_range("1900", periods=n, freq="YS"))


def _trend(n=160, seed=0):
    """A steady climb: the validation tail lies above every training value."""
    t = np.arange(n)
    values = 5 + 0.5 * t + np.random.default_rng(seed).normal(0, 0.5, n)
    return pd.Series(values, index=pd.date_range("1900", periods=n, freq="YS"))


def test_choose_keeps_the_lower_error_and_relative_windows_on_a_tie():
    assert choose({True: 2.0, False: 1.0}) is False
    assert choose({True: 1.0, False: 2.0}) is True
    assert choose({True: 1.0, False: 1.0}) is True
    assert choose({True: 1.0, False: float("nan")}) is True
    assert choose({True: float("nan"), False: 1.0}) is False
    assert choose({True: 1.0}) is True  # levels not tried


@pytest.mark.parametrize("series, kept", [(_around_a_mean(), False), (_trend(), True)])
def test_auto_keeps_what_validates_best_and_equals_that_option_fitted_alone(series, kept):
    fc = Forecaster(6, 3, **FAST).fit(series)
    errors = fc.relative_choice_["errors"]
    assert set(errors) == {"relative", "levels"} and all(np.isfinite(list(errors.values())))
    assert fc.relative_ is kept
    assert (errors["levels"] < errors["relative"]) is (not kept)
    assert fc.relative == "auto" and fc.get_config()["relative"] == "auto"
    alone = Forecaster(6, 3, relative=kept, **FAST).fit(series)
    pd.testing.assert_frame_equal(fc.predict(), alone.predict())  # the kept state is that fit's, whole
    assert fc.validation_metrics_.loc["lstm", "MAE"] == pytest.approx(errors["levels" if not kept else "relative"])
    summary = fc.summary()
    assert (f"Relative windows or levels (relative='auto'): validation MAE relative {errors['relative']:.4g}, levels "
            f"{errors['levels']:.4g}; kept {'relative' if kept else 'levels'}.") in summary
    assert summary.splitlines()[0].endswith("relative windows" if kept else "windows of levels")


def test_levels_on_noise_around_a_mean_beat_relative_windows_on_new_data():
    series = _around_a_mean(200)
    train, test = series.iloc[:-3], series.to_numpy()[-3:]
    levels = Forecaster(6, 3, relative=False, **FAST).fit(train).predict()["forecast"].to_numpy()
    relative = Forecaster(6, 3, relative=True, **FAST).fit(train).predict()["forecast"].to_numpy()
    assert np.abs(levels - 20).max() < np.abs(relative - 20).max()  # the level, not the last value, is forecast
    assert np.abs(levels - 20).max() < 1.5


def test_a_global_model_and_a_fit_without_validation_take_relative_windows():
    rng = np.random.default_rng(1)
    data = pd.concat([pd.DataFrame({"id": f"s{k}", "time": np.arange(60), "value": 20 + rng.normal(0, 2, 60)})
                      for k in range(3)], ignore_index=True)
    fc = Forecaster(6, 3, units=4, epochs=2, seed=0).fit(data, id_col="id", time_col="time", value_col="value")
    assert fc.relative_ and fc.relative_choice_ is None
    assert "relative windows, as for every global model of several series" in fc.summary()
    plain = Forecaster(6, 3, units=4, epochs=2, seed=0, validation_split=0).fit(_around_a_mean(60))
    assert plain.relative_ and plain.relative_choice_ is None
    assert "no validation tail to choose on (validation_split=0)" in plain.summary()
    assert not Forecaster(6, 3, relative=False, units=4, epochs=2).fit(data, id_col="id", time_col="time",
                                                                          value_col="value").relative_


def test_a_spent_time_budget_skips_levels():
    fc = Forecaster("auto", 3, units=4, epochs=3, seed=0, time_budget=1e-6).fit(_around_a_mean(80))
    assert fc.relative_ and fc.relative_choice_["skipped"] and set(fc.relative_choice_["errors"]) == {"relative"}
    assert fc.lookback_choice_["time_budget"] == 1e-6
    assert "levels were not tried, time_budget=1e-06 s was spent on the relative ones" in fc.summary()


def test_relative_must_be_true_false_or_auto():
    with pytest.raises(ValueError, match="`relative` must be True, False or 'auto'; got 'yes'"):
        Forecaster(6, 3, relative="yes")


def test_saved_exported_and_older_files_keep_their_windows(tmp_path):
    import onnxruntime

    series = _around_a_mean()
    fc = Forecaster(6, 3, **FAST).fit(series)
    assert not fc.relative_
    path = tmp_path / "levels.lstmkit"
    fc.save(path)
    loaded = Forecaster.load(path)
    assert loaded.relative == "auto" and loaded.relative_ is False
    assert loaded.relative_choice_ == fc.relative_choice_ and loaded.summary() == fc.summary()
    pd.testing.assert_frame_equal(loaded.predict(), fc.predict())

    fc.export_onnx(tmp_path / "levels.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "levels.onnx"), providers=["CPUExecutionProvider"])
    window = series.to_numpy()[-6:].astype(np.float32)[None, :, None]
    np.testing.assert_allclose(session.run(None, {"x": window})[0][0], fc.predict()["forecast"], rtol=1e-4)

    config, tensors = read_model_file(path)
    config["forecaster"]["relative"] = True  # a file whose setting and windows disagree
    write_model_file(tmp_path / "tampered.lstmkit", config, tensors)
    with pytest.raises(ValueError, match="config.relative_windows"):
        Forecaster.load(tmp_path / "tampered.lstmkit")

    older = Forecaster(6, 3, relative=False, units=4, epochs=2, seed=0).fit(series)
    older.save(tmp_path / "plain.lstmkit")
    config, tensors = read_model_file(tmp_path / "plain.lstmkit")
    del config["relative_windows"], config["relative_choice"]  # a file from before relative="auto"
    write_model_file(tmp_path / "older.lstmkit", config, tensors)
    loaded = Forecaster.load(tmp_path / "older.lstmkit")
    assert loaded.relative is False and loaded.relative_ is False
    pd.testing.assert_frame_equal(loaded.predict(), older.predict())


def test_the_command_line_chooses_or_is_told_and_reports_it(tmp_path):
    csv = tmp_path / "level.csv"
    series = _around_a_mean(120)
    pd.DataFrame({"year": series.index, "level": series.to_numpy()}).to_csv(csv, index=False)
    quick = ["--lookback", "6", "--horizon", "3", "--epochs", "20", "--units", "4", "--quiet", "--statistical", "off",
             "--levels", "none"]
    assert main(["forecast", str(csv), "--out", str(tmp_path / "auto"), *quick]) == 0
    model = Forecaster.load(tmp_path / "auto" / "model.lstmkit")
    report = (tmp_path / "auto" / "report.md").read_text()
    kept = "relative" if model.relative_ else "levels"
    assert model.relative == "auto" and f"; kept {kept}." in report
    assert ("windows relative to their last value" if model.relative_ else "windows of levels") in report
    for flag, windows in [("on", True), ("off", False)]:
        assert main(["forecast", str(csv), "--out", str(tmp_path / flag), "--relative", flag, *quick]) == 0
        model = Forecaster.load(tmp_path / flag / "model.lstmkit")
        assert model.relative is windows and model.relative_ is windows and model.relative_choice_ is None


def test_tune_searches_relative_windows_or_levels_only_when_auto():
    pytest.importorskip("optuna")
    series = _around_a_mean(90)
    tuned = Forecaster(6, 3, units=4, epochs=3, seed=0).tune(series, n_trials=3)
    assert "relative" in tuned.tuning_["best_params"] and tuned.tuning_["default_params"]["relative"] is True
    assert tuned.relative is tuned.tuning_["best_params"]["relative"] and tuned.relative_choice_ is None
    fixed = Forecaster(6, 3, units=4, epochs=3, seed=0, relative=True).tune(series, n_trials=2)
    assert "relative" not in fixed.tuning_["best_params"] and fixed.relative is True


def test_the_statistical_models_are_fitted_once_beside_the_option_kept(monkeypatch):
    pytest.importorskip("statsforecast")
    from lstmkit.forecast.statistical import StatisticalModels

    calls = []
    original = StatisticalModels.forecasts
    monkeypatch.setattr(StatisticalModels, "forecasts",
                        lambda self, history, horizon: calls.append(len(history)) or original(self, history, horizon))
    series = _around_a_mean(120)
    fc = Forecaster(6, 3, statistical=True, **FAST).fit(series)
    assert len(calls) == 3  # three validation origins, for the kept option only
    alone = Forecaster(6, 3, statistical=True, relative=fc.relative_, **FAST).fit(series)
    pd.testing.assert_frame_equal(fc.comparison_metrics_, alone.comparison_metrics_)
    assert fc.statistical is True and "Beside AutoETS, AutoARIMA and Theta" in fc.summary()
