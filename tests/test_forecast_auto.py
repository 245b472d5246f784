"""Forecaster(lookback="auto"): candidates tried on the validation tail, the best (or their median) kept,
said in the summary, saved and exported with each member's own lookback."""

import numpy as np
import pandas as pd
import pytest

from lstmkit.forecast import Forecaster
from lstmkit.forecast.lookbacks import ALL, candidates, choose
from lstmkit.forecast.padding import narrowed


def _seasonal(n=130, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = 50 + 0.2 * t + 8 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1, n)
    return pd.Series(values, index=pd.date_range("2000-01", periods=n, freq="MS"))


def test_candidates_are_one_to_three_units_shortened_for_short_series():
    assert candidates(144, 12, 12) == [12, 24, 36]
    assert candidates(144, 18, 12) == [18, 36, 54]
    assert candidates(40, 6, 1) == [6, 12, 14]  # room (40 - 12) // 2 = 14
    assert candidates(10, 6, 1) == [1]
    assert choose({"12": 0.5, "24": 0.4, ALL: 0.45}) == "24"
    assert choose({"12": 0.5, "24": 0.4, ALL: 0.4}) == ALL  # a tie keeps the ensemble


def test_narrowed_keeps_the_last_real_steps():
    contexts = np.arange(12.0).reshape(2, 6, 1)
    contexts[1, 4:] = 0  # the second window has 4 real steps, padded after them
    out, lengths = narrowed(contexts, np.array([6, 4]), 3)
    assert out[:, :, 0].tolist() == [[3, 4, 5], [7, 8, 9]] and lengths is None
    out, lengths = narrowed(contexts, np.array([6, 2]), 3)
    assert out[1, :, 0].tolist() == [6, 7, 0] and lengths.tolist() == [3, 2]


def test_auto_lookback_scores_every_candidate_and_keeps_what_validates_best(tmp_path):
    series = _seasonal()
    fc = Forecaster("auto", 6, units=4, epochs=12, seed=0, levels=(80,), ensemble=1).fit(series)
    record = fc.lookback_choice_
    assert record["candidates"] == [12, 24, 36]
    assert set(record["errors"]) == {"12", "24", "36", ALL}
    best = min(record["errors"].values())
    assert record["errors"][record["chosen"]] == best
    kept = [12, 24, 36] if record["chosen"] == ALL else [int(record["chosen"])]
    assert fc.member_lookbacks_ == kept and len(fc.members_) == len(kept)
    assert fc.lookback == max(kept)
    summary = fc.summary()
    assert "Lookback auto: candidates 12, 24, 36" in summary and "kept " in summary
    assert fc.get_config()["lookback"] == "auto" and fc.clone().auto_lookback
    forecast = fc.predict()
    assert len(forecast) == 6 and np.isfinite(forecast.to_numpy()).all()
    fc.save(tmp_path / "auto.lstmkit")
    loaded = Forecaster.load(tmp_path / "auto.lstmkit")
    assert loaded.member_lookbacks_ == fc.member_lookbacks_
    pd.testing.assert_frame_equal(loaded.predict(), forecast)
    assert "Lookback auto" in loaded.summary()


def test_auto_lookback_ensemble_of_lookbacks_exports_to_onnx(tmp_path):
    import onnxruntime

    series = _seasonal(110)
    refit = Forecaster("auto", 6, units=4, epochs=3, seed=0, validation_split=0, ensemble=1).fit(series)  # all kept
    assert refit.member_lookbacks_ == [12, 24, 36] and refit.lookback_choice_["chosen"] == ALL
    assert "no validation tail to choose on" in refit.summary()
    refit.export_onnx(tmp_path / "auto.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "auto.onnx"), providers=["CPUExecutionProvider"])
    assert refit.context_ == 48  # every member's profile reads four seasons; the longest lookback, 36 steps
    window = series.to_numpy()[-48:].astype(np.float32)[None, :, None]
    np.testing.assert_allclose(session.run(None, {"x": window})[0][0], refit.predict()["forecast"], rtol=1e-4)


def test_auto_lookback_cannot_be_tuned():
    with pytest.raises(ValueError, match="tune\\(\\) searches the lookback itself"):
        Forecaster("auto", 6).tune(_seasonal(), n_trials=1)


def test_a_lookback_shorter_than_the_horizon_still_forecasts_with_the_network(tmp_path):
    series = _seasonal(60)
    fc = Forecaster(2, 6, units=4, epochs=3, seed=0).fit(series)  # kept tail: 2 + 6 points, not 2
    forecast = fc.predict()["forecast"].to_numpy()
    assert not np.allclose(forecast, series.iloc[-1])  # not the naive forecast given to too-short series
    fc.save(tmp_path / "short_lookback.lstmkit")
    np.testing.assert_allclose(Forecaster.load(tmp_path / "short_lookback.lstmkit").predict()["forecast"], forecast)


def test_a_log_scaled_forecaster_exports_the_log_and_its_inverse(tmp_path):
    import onnxruntime

    series = _seasonal(80)
    fc = Forecaster(12, 3, units=4, epochs=2, seed=0, transform="log").fit(series)
    assert fc.scalers_[None].logged and fc.context_ == 48  # a lookback of one season, a profile of four
    fc.export_onnx(tmp_path / "log.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "log.onnx"), providers=["CPUExecutionProvider"])
    window = series.to_numpy()[-48:].astype(np.float32)[None, :, None]
    np.testing.assert_allclose(session.run(None, {"x": window})[0][0], fc.predict()["forecast"], rtol=1e-5)


def test_a_time_budget_skips_the_candidates_not_begun_once_it_is_spent(tmp_path):
    series = _seasonal()
    fc = Forecaster("auto", 6, units=4, epochs=12, seed=0, time_budget=1e-6, ensemble=1).fit(series)  # spent by the first
    assert fc.member_lookbacks_ == [12] and fc.lookback == 12
    assert fc.lookback_choice_["candidates"] == [12, 24, 36] and fc.lookback_choice_["skipped"] == [24, 36]
    assert "Skipped 24, 36: time_budget=1e-06 s was spent on the shorter ones." in fc.summary()
    forecast = fc.predict()["forecast"]
    assert len(forecast) == 6 and forecast.notna().all()
    fc.save(tmp_path / "budget.lstmkit")
    loaded = Forecaster.load(tmp_path / "budget.lstmkit")
    assert loaded.time_budget == 1e-6 and loaded.lookback_choice_["skipped"] == [24, 36]
    pd.testing.assert_frame_equal(loaded.predict(), fc.predict())
    roomy = Forecaster("auto", 6, units=4, epochs=12, seed=0, time_budget=3600).fit(series)
    assert sorted(set(roomy.member_lookbacks_)) <= [12, 24, 36] and roomy.lookback_choice_["skipped"] == []
    with pytest.raises(ValueError, match="`time_budget` bounds the candidates of lookback='auto'"):
        Forecaster(24, 6, time_budget=10)
    with pytest.raises(ValueError, match="time_budget"):
        Forecaster("auto", 6, time_budget=-1)
