"""Covariates: future-known ones are used over the horizon (and demanded there); past-observed
ones are never read at or after the forecast origin."""

import numpy as np
import pandas as pd
import pytest

from lstmkit.forecast import Forecaster

N, H = 160, 3
FAST = dict(units=16, epochs=100, batch_size=32, patience=10)


@pytest.fixture(scope="module")
def promo_data():
    """Sales jump by 5 on promotion days, which are planned (known ahead)."""
    rng = np.random.default_rng(0)
    index = pd.date_range("2020-01-01", periods=N + H, freq="D")
    promo = pd.DataFrame({"promo": rng.integers(0, 2, N + H).astype(float)}, index=index)
    sales = pd.Series(10 + 5 * promo["promo"].to_numpy()[:N] + rng.normal(0, 0.1, N), index=index[:N])
    return sales, promo


@pytest.fixture(scope="module")
def promo_fit(promo_data):
    sales, promo = promo_data
    return Forecaster(8, H, **FAST).fit(sales, future_covariates=promo)


def test_a_future_known_covariate_is_used_over_the_horizon(promo_data, promo_fit):
    sales, promo = promo_data
    without = Forecaster(8, H, **FAST).fit(sales)
    with_mae = promo_fit.validation_metrics_.loc["lstm", "MAE"]
    assert with_mae < 0.5 * without.validation_metrics_.loc["lstm", "MAE"]
    assert promo_fit.members_[0].built_input_shape == (8, 2)
    # Flipping the planned promotions over the horizon moves the forecast the same way.
    flipped = promo.copy()
    flipped.iloc[N:, 0] = 1 - flipped.iloc[N:, 0]
    base = promo_fit.predict()["forecast"].to_numpy()
    moved = Forecaster(8, H, **FAST).fit(sales, future_covariates=promo.iloc[:N]).predict(
        future_covariates=flipped.iloc[N:])["forecast"].to_numpy()
    direction = np.sign(flipped.iloc[N:, 0].to_numpy() - promo.iloc[N:, 0].to_numpy())
    assert (np.sign(moved - base) == direction).all()


def test_future_covariates_may_come_at_predict_time(promo_data, promo_fit):
    sales, promo = promo_data
    late = Forecaster(8, H, **FAST).fit(sales, future_covariates=promo.iloc[:N])
    np.testing.assert_allclose(late.predict(future_covariates=promo.iloc[N:])["forecast"],
                               promo_fit.predict()["forecast"], rtol=1e-6)
    np.testing.assert_allclose(late.predict(future_covariates=promo.iloc[N:].to_numpy())["forecast"],
                               promo_fit.predict()["forecast"], rtol=1e-6)


def test_a_future_covariate_missing_over_the_horizon_is_an_error(promo_data):
    sales, promo = promo_data
    fc = Forecaster(8, H, units=4, epochs=1).fit(sales, future_covariates=promo.iloc[: N + 1])
    with pytest.raises(ValueError, match=r"future-known covariates \['promo'\] of the series are missing over the "
                                         r"horizon: forecasting 2020-06-09 00:00:00 to 2020-06-11 00:00:00 needs "
                                         r"them there, and only 1 step\(s\) are given.*predict\(future_covariates"):
        fc.predict()


def test_saved_forecaster_keeps_the_covariates_it_was_given(tmp_path, promo_fit):
    promo_fit.save(tmp_path / "promo.lstmkit")
    loaded = Forecaster.load(tmp_path / "promo.lstmkit")
    pd.testing.assert_frame_equal(loaded.predict(), promo_fit.predict())


def test_a_past_covariate_is_never_read_at_or_after_the_origin():
    """y_t = 2·p_{t-1}: p helps, but poisoning p from the origin on changes nothing."""
    rng = np.random.default_rng(1)
    lead = rng.normal(0, 1, N)
    frame = pd.DataFrame({"t": np.arange(N), "y": np.r_[0.0, 2 * lead[:-1]], "lead": lead})
    kwargs = dict(time_col="t", value_col="y", past_covariates=["lead"])
    fc = Forecaster(8, 1, **FAST)
    result = fc.backtest(frame, start=N - 3, stride=1, **kwargs)
    assert result.metrics.loc["lstm", "MAE"] < 0.5 * result.metrics.loc["naive", "MAE"]
    for origin in result.origins:
        poisoned = frame.copy()
        poisoned.loc[poisoned["t"] >= origin, "lead"] = 1e6
        alone = fc.backtest(poisoned, start=origin, stride=100, **kwargs)
        ours = result.forecasts[(result.forecasts["origin"] == origin) & (result.forecasts["model"] == "lstm")]
        theirs = alone.forecasts[alone.forecasts["model"] == "lstm"]
        np.testing.assert_allclose(theirs["forecast"].to_numpy(), ours["forecast"].to_numpy(), rtol=1e-6)


def test_past_covariates_must_not_run_past_the_data_and_recursive_refuses_them():
    index = pd.RangeIndex(40)
    values = pd.Series(np.sin(np.arange(40.0)), index=index)
    with pytest.raises(ValueError, match=r"`past_covariates` has 41 rows but the data has 40 points"):
        Forecaster(5, 2).fit(values, past_covariates=np.zeros(41))
    with pytest.raises(ValueError, match=r"strategy='recursive' cannot use past-observed covariates.*"
                                         r"strategy='direct'"):
        Forecaster(5, 2, strategy="recursive").fit(values, past_covariates=np.zeros(40))
    with pytest.raises(ValueError, match=r"future-known covariates need lookback >= horizon"):
        Forecaster(2, 5).fit(values, future_covariates=np.zeros(45))


def test_long_format_with_covariate_columns_per_series():
    rng = np.random.default_rng(2)
    rows = []
    for name, level in [("a", 10.0), ("b", 100.0)]:
        promo = rng.integers(0, 2, 60).astype(float)
        rows.append(pd.DataFrame({"shop": name, "day": pd.date_range("2021-01-01", periods=60, freq="D"),
                                  "sales": level + 5 * promo, "promo": promo}))
    frame = pd.concat(rows, ignore_index=True)
    history = frame[frame["day"] < "2021-02-27"]  # the last 2 days are the horizon
    fc = Forecaster(7, 2, units=4, epochs=3).fit(history, id_col="shop", time_col="day", value_col="sales",
                                                 future_covariates=["promo"])
    with pytest.raises(ValueError, match=r"of series 'a' are missing over the horizon"):
        fc.predict()
    future = frame[frame["day"] >= "2021-02-27"][["shop", "day", "promo"]]
    forecast = fc.predict(future_covariates=future)
    assert forecast["id"].tolist() == ["a", "a", "b", "b"]
    assert str(forecast.index[0].date()) == "2021-02-27"
