"""lstmkit.sklearn: scikit-learn's estimator checks, clone, Pipeline, GridSearchCV, cross_val_score."""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, TimeSeriesSplit, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from lstmkit.sklearn import LagWindows, LSTMClassifier, LSTMRegressor

# Checks that cannot apply, each with the reason. Everything else scikit-learn checks must pass.
SEQUENCE_ONLY = {
    "check_methods_sample_order_invariance": "LagWindows reads rows as consecutive times: a row's window is "
                                             "the rows before it, so reordering the rows changes it",
    "check_methods_subset_invariance": "LagWindows: a row's window depends on the rows before it in the batch",
}


def _expected_failures(estimator):
    return SEQUENCE_ONLY if isinstance(estimator, LagWindows) else {}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
@parametrize_with_checks([LSTMRegressor(units=2, epochs=1, batch_size=64),
                          LSTMClassifier(units=2, epochs=1, batch_size=64), LagWindows(3)],
                         expected_failed_checks=_expected_failures)
def test_scikit_learn_checks(estimator, check):
    check(estimator)


def _sequences(samples=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, 6, 2)).astype(np.float32)
    return x, x[:, :, 0].sum(axis=1) - x[:, -1, 1]


def test_regressor_learns_and_is_repeatable():
    x, y = _sequences()
    first = LSTMRegressor(units=8, epochs=40, random_state=3).fit(x[:64], y[:64])
    again = LSTMRegressor(units=8, epochs=40, random_state=3).fit(x[:64], y[:64])
    np.testing.assert_array_equal(first.predict(x[64:]), again.predict(x[64:]))
    assert first.score(x[64:], y[64:]) > 0.7  # R² on unseen sequences
    assert first.predict(x[:3]).shape == (3,)


def test_classifier_labels_and_probabilities():
    x, y = _sequences(128)
    labels = np.where(y > 0, "up", "down")
    model = LSTMClassifier(units=8, epochs=12, batch_size=16, bidirectional=True).fit(x[:96], labels[:96])
    assert list(model.classes_) == ["down", "up"]
    probabilities = model.predict_proba(x[96:])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert model.score(x[96:], labels[96:]) > 0.8


def test_clone_params_and_grid_search():
    x, y = _sequences(60)
    model = LSTMRegressor(units=4, layers=2, dropout=0.1, epochs=3)
    assert clone(model).get_params() == model.get_params()
    assert model.set_params(units=6).units == 6
    search = GridSearchCV(LSTMRegressor(epochs=3), {"units": [2, 4]}, cv=TimeSeriesSplit(2)).fit(x, y)
    assert search.best_params_["units"] in (2, 4) and len(search.cv_results_["mean_test_score"]) == 2
    scores = cross_val_score(LSTMRegressor(units=4, epochs=3), x, y, cv=3)
    assert scores.shape == (3,) and np.isfinite(scores).all()


def test_forecasting_pipeline_with_lag_windows():
    t = np.arange(200)
    series = np.sin(t / 5)[:, None]
    windows = LagWindows(4).fit_transform(np.arange(5.0)[:, None])
    np.testing.assert_array_equal(windows[:, :, 0], [[0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 2], [0, 1, 2, 3],
                                                      [1, 2, 3, 4]])
    pipeline = make_pipeline(StandardScaler(), LagWindows(8), LSTMRegressor(units=8, epochs=20))
    pipeline.fit(series[:150], series[1:151, 0])  # each row's window -> the next value
    assert pipeline.score(series[150:-1], series[151:, 0]) > 0.8
    with pytest.raises(ValueError, match="`lookback` must be an integer >= 1; got 0"):
        LagWindows(0).fit(series)
