"""SequenceClassifier: inputs in every layout, labels returned as given, the defaults that make it
right (normalisation, stratified validation, class weights, ensembles, unpadded lengths), the
baselines and scores, files, the network's masking, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from lstmkit import Sequential, load_model
from lstmkit.classify import SequenceClassifier
from lstmkit.classify.baselines import majority, nearest_dtw, nearest_euclidean
from lstmkit.classify.inputs import Normalizer, average_steps, averaging_factor, choose_normalization
from lstmkit.classify.metrics import scores
from lstmkit.classify.network import LSTMFCN, _batch_norm
from lstmkit.layers import LSTM, Bidirectional, Dense

FAST = {"epochs": 12, "units": 4, "filters": (4, 8, 4), "learning_rate": 0.02, "patience": 12, "batch_size": 8}


def _shapes(count: int, seed: int = 0, unequal: bool = False) -> tuple[list[np.ndarray], list[str]]:
    """Three classes told apart by shape: a rising ramp, a falling ramp, a bump; noisy."""
    rng = np.random.default_rng(seed)
    series, labels = [], []
    for i in range(count):
        length = int(rng.integers(12, 21)) if unequal else 16
        t = np.linspace(0, 1, length)
        kind = ["up", "down", "bump"][i % 3]
        shape = {"up": t, "down": 1 - t, "bump": np.exp(-((t - 0.5) ** 2) / 0.02)}[kind]
        series.append((shape + 0.1 * rng.standard_normal(length))[:, None])
        labels.append(kind)
    return series, labels


# -- end to end ------------------------------------------------------------------------------------
def test_fit_predict_returns_the_users_labels_and_beats_chance():
    x, y = _shapes(36, unequal=True)
    x_test, y_test = _shapes(30, seed=1, unequal=True)
    clf = SequenceClassifier(seed=0, **FAST).fit(x, y)
    predicted = clf.predict(x_test)
    assert set(predicted) <= {"up", "down", "bump"} and predicted.dtype.kind == "U"
    assert clf.classes_ == ["bump", "down", "up"]
    assert clf.score(x_test, y_test) >= 0.9
    probabilities = clf.predict_proba(x_test)
    assert probabilities.shape == (30, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    summary = clf.summary()
    assert "lstm-fcn" in summary and "1-NN DTW" in summary and "Validation part" in summary


def test_same_seed_same_result_other_seed_other_result():
    x, y = _shapes(18)
    first = SequenceClassifier(seed=3, **FAST).fit(x, y).predict_proba(x)
    again = SequenceClassifier(seed=3, **FAST).fit(x, y).predict_proba(x)
    other = SequenceClassifier(seed=4, **FAST).fit(x, y).predict_proba(x)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_long_dataframe_gives_the_same_predictions_as_arrays_and_answers_by_id():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((12, 6, 2))
    y = [10, 20, 30] * 4  # int labels
    rows = [{"id": f"s{i}", "time": t, "a": x[i, t, 0], "b": x[i, t, 1], "label": y[i]}
            for i in range(12) for t in reversed(range(6))]  # times in any order within a sequence
    frame = pd.DataFrame(rows)
    settings = {**FAST, "epochs": 2, "validation_split": 0.0, "normalize": "per-channel"}
    from_frame = SequenceClassifier(**settings).fit(frame, "label", id_col="id", time_col="time")
    from_array = SequenceClassifier(**settings).fit(x, y)
    by_id = from_frame.predict_proba(frame)
    assert list(by_id.columns) == [10, 20, 30]
    ids = [f"s{i}" for i in range(12)]
    np.testing.assert_allclose(by_id.loc[ids].to_numpy(), from_array.predict_proba(x), rtol=1e-5, atol=1e-6)
    labels = from_frame.predict(frame)
    assert isinstance(labels, pd.Series) and labels.index.name == "id" and labels.dtype.kind == "i"
    assert from_frame.score(frame, "label") == from_array.score(x, y)


def test_an_ensemble_averages_its_members_each_with_its_own_validation_part():
    x, y = _shapes(12)
    assert len(SequenceClassifier(**{**FAST, "epochs": 1}).fit(x, y).members_) == 1  # one model by default
    clf = SequenceClassifier(seed=0, ensemble=3, **{**FAST, "epochs": 2}).fit(x, y)
    assert len(clf.members_) == 3 and "Trained 3 model(s)" in clf.summary()
    inputs = np.stack(clf.normalizer_.transform(x)).astype(np.float32)
    mean = np.mean([m.predict(inputs) for m in clf.members_], axis=0)
    np.testing.assert_allclose(clf.predict_proba(x), mean, rtol=1e-6)
    assert len({tuple(clf._split(np.array([0, 1, 2] * 4), m)[1]) for m in range(3)}) > 1  # own validation parts


# -- right by default ----------------------------------------------------------------------------------
def test_stratified_validation_split_keeps_each_classs_share_and_lone_cases_train():
    clf = SequenceClassifier(validation_split=0.25, seed=0)
    targets = np.array([0] * 8 + [1] * 4 + [2])
    train, held = clf._split(targets, 0)
    assert np.bincount(targets[held], minlength=3).tolist() == [2, 1, 0]
    assert sorted([*train, *held]) == list(range(13))


def test_a_class_of_two_cases_stays_in_training_whole():
    train, held = SequenceClassifier(seed=0)._split(np.array([0, 0, 1, 1, 2, 2, 2, 2, 2]), 0)
    assert held.tolist() and set(held) <= {4, 5, 6, 7, 8} and len(held) == 1  # 20% of class 2 only
    assert SequenceClassifier(seed=0)._split(np.array([0, 0, 1, 1]), 0)[1] is None  # nothing to stop early on


def test_long_sequences_are_averaged_over_runs_of_steps_and_it_is_reported():
    assert average_steps([np.arange(1.0, 10.0, 2.0)[:, None]], 2)[0].ravel().tolist() == [2.0, 6.0, 9.0]
    assert averaging_factor([100, 2000, 2000], 256) == 8 and averaging_factor([512, 600, 100], 256) == 1
    assert averaging_factor([513], 256) == 3 and averaging_factor([5000], None) == 1
    x, y = _shapes(12)  # 16 steps
    settings = {**FAST, "epochs": 2, "normalize": "per-channel"}
    assert SequenceClassifier(max_length=8, **settings).fit(x, y).averaging_ == 1  # up to twice: every step
    averaged = SequenceClassifier(max_length=4, **settings).fit(x, y)
    assert averaged.averaging_ == 4 and "each 4 steps averaged into one" in averaged.summary()
    by_hand = SequenceClassifier(max_length=None, **settings).fit(average_steps(x, 4), y)
    assert by_hand.averaging_ == 1 and "averaged" not in by_hand.summary()
    np.testing.assert_array_equal(averaged.predict_proba(x), by_hand.predict_proba(average_steps(x, 4)))
    with pytest.raises(ValueError, match="`max_length` must be an integer >= 1"):
        SequenceClassifier(max_length=0)


def test_normalisation_is_fitted_on_training_data_only():
    train = [np.array([[0.0], [2.0]]), np.array([[4.0], [6.0]])]
    normalizer = Normalizer.fit("per-channel", train)
    assert normalizer.mean.tolist() == [3.0] and normalizer.std[0] == pytest.approx(np.sqrt(5.0))
    test = normalizer.transform([np.array([[3.0], [100.0]])])[0]
    assert test[0, 0] == 0.0 and test[1, 0] == pytest.approx(97 / np.sqrt(5.0))
    per_series = Normalizer.fit("per-series", train).transform([np.array([[1.0], [3.0]])])[0]
    assert per_series.ravel().tolist() == [-1.0, 1.0]


def test_auto_normalisation_picks_per_series_when_scale_is_noise_and_per_channel_when_level_is_the_class():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 20)
    shapes, labels = [], []
    for i in range(30):  # the class is the shape; each series has a random level and scale
        shape = np.sin(6 * t) if i % 2 else np.cos(6 * t)
        shapes.append((rng.uniform(-50, 50) + rng.uniform(1, 30) * shape)[:, None])
        labels.append(i % 2)
    assert choose_normalization(shapes, np.array(labels))[0] == "per-series"
    levels = [(i % 2 * 3.0 + 0.3 * rng.standard_normal(20))[:, None] for i in range(30)]  # the class is the level
    kind, reason = choose_normalization(levels, np.array(labels))
    assert kind == "per-channel" and "per-series" in reason


def test_balanced_class_weights_only_when_imbalanced_and_reported():
    x, _ = _shapes(16)
    settings = {**FAST, "epochs": 1}
    imbalanced = SequenceClassifier(**settings).fit(x, ["a"] * 12 + ["b"] * 4)
    assert imbalanced.class_weight_note_.startswith("balanced (imbalanced")
    assert imbalanced._class_weights(np.array([0] * 12 + [1] * 4)) == {0: pytest.approx(16 / 24), 1: 2.0}
    balanced = SequenceClassifier(**settings).fit(x, ["a", "b"] * 8)
    assert balanced.class_weight_note_.startswith("none") and "Class weights: none" in balanced.summary()


# -- the network ----------------------------------------------------------------------------------------
def test_lstm_fcn_gives_each_padded_sequence_the_output_it_gets_alone():
    torch.manual_seed(0)
    layer = LSTMFCN(3, filters=(4, 5, 3), input_shape=(None, 2)).double()
    layer.eval()
    sequences = [torch.randn(n, 2, dtype=torch.float64) for n in (7, 4, 9)]
    padded = torch.zeros(3, 9, 2, dtype=torch.float64)
    mask = torch.zeros(3, 9, dtype=torch.bool)
    for i, s in enumerate(sequences):
        padded[i, : len(s)], mask[i, : len(s)] = s, True
    together = layer(padded, mask=mask)
    alone = torch.cat([layer(s[None]) for s in sequences])
    assert together.shape == (3, 2 * 3 + 3)
    torch.testing.assert_close(together, alone)


def test_batch_norm_statistics_count_only_real_steps():
    norm = torch.nn.BatchNorm1d(2).double()
    z = torch.randn(2, 2, 5, dtype=torch.float64)
    real = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.float64)[:, None, :]
    out = _batch_norm(norm, z, real)
    steps = torch.cat([z[0, :, :3], z[1]], dim=1)  # (C, real steps)
    expected = (steps - steps.mean(1, keepdim=True)) / torch.sqrt(steps.var(1, unbiased=False, keepdim=True) + norm.eps)
    torch.testing.assert_close(torch.cat([out[0, :, :3], out[1]], dim=1), expected)
    torch.testing.assert_close(norm.running_mean, 0.1 * steps.mean(1))


def test_model_escape_hatch_and_its_checks():
    x, y = _shapes(12)
    custom = Sequential([Bidirectional(LSTM(3), input_shape=(None, 1)), Dense(3, activation="softmax")])
    clf = SequenceClassifier(model=custom, epochs=2).fit(x, y)
    assert clf.members_[0] is not custom and clf.members_[0].count_params() == custom.count_params()
    assert "model= (custom)" in clf.summary()
    wrong = Sequential([LSTM(3, input_shape=(None, 1)), Dense(2, activation="softmax")])
    with pytest.raises(ValueError, match=r"must end with Dense\(3, activation='softmax'\)"):
        SequenceClassifier(model=wrong, epochs=1).fit(x, y)


# -- baselines and scores ------------------------------------------------------------------------------
def _dtw(a: np.ndarray, b: np.ndarray) -> float:
    cost = np.full((len(a) + 1, len(b) + 1), np.inf)
    cost[0, 0] = 0.0
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            step = np.sum((a[i - 1] - b[j - 1]) ** 2)
            cost[i, j] = step + min(cost[i - 1, j], cost[i, j - 1], cost[i - 1, j - 1])
    return float(np.sqrt(cost[-1, -1]))


@pytest.mark.parametrize("channels", [1, 2])
def test_one_nn_dtw_takes_the_label_of_the_nearest_sequence_under_warping(channels):
    rng = np.random.default_rng(channels)
    train = [rng.standard_normal((int(rng.integers(4, 9)), channels)) for _ in range(6)]
    cases = [rng.standard_normal((int(rng.integers(4, 9)), channels)) for _ in range(5)]
    labels = np.arange(6)
    expected = [int(np.argmin([_dtw(c, t) for t in train])) for c in cases]
    assert nearest_dtw(train, labels, cases).tolist() == expected
    assert nearest_euclidean(train, labels, cases) is None  # lengths differ


def test_scores_by_hand_and_the_evaluation_table():
    truth = np.array([0, 0, 0, 1])
    probabilities = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.3, 0.7]])
    result = scores(truth, probabilities)
    assert result["accuracy"] == 0.75
    assert result["balanced_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    assert result["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)  # F1: 2·1·(2/3)/(5/3), 2·0.5·1/1.5
    assert result["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.6, 0.2, 0.7])))
    assert majority(np.array([1, 1, 0]), 2, 2).tolist() == [[0.0, 1.0], [0.0, 1.0]]

    x, y = _shapes(24)
    clf = SequenceClassifier(seed=0, **FAST).fit(x, y)
    evaluation = clf.evaluate(*_shapes(15, seed=5))
    assert list(evaluation.table.index) == ["classifier", "majority class", "1-NN Euclidean", "1-NN DTW"]
    assert evaluation.table.loc["majority class", "accuracy"] == pytest.approx(1 / 3)
    assert evaluation["accuracy"] == clf.score(*_shapes(15, seed=5))
    assert evaluation["confusion_matrix"].sum() == 15 and evaluation.classes == ["bump", "down", "up"]
    assert "1-NN DTW" in str(evaluation)


# -- files ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("labels", [["a", "b", "c"], [3, 1, 2], [0.5, 1.5, 2.5]], ids=["str", "int", "float"])
def test_save_load_gives_the_same_probabilities_and_labels(tmp_path, labels):
    x, names = _shapes(12, unequal=True)
    y = [labels[["bump", "down", "up"].index(n)] for n in names]
    clf = SequenceClassifier(ensemble=2, seed=0, **{**FAST, "epochs": 2}).fit(x, y)
    clf.save(tmp_path / "clf.lstmkit")
    loaded = SequenceClassifier.load(tmp_path / "clf.lstmkit")
    np.testing.assert_array_equal(loaded.predict_proba(x), clf.predict_proba(x))
    assert loaded.predict(x).tolist() == clf.predict(x).tolist()
    assert type(loaded.predict(x).tolist()[0]) is type(labels[0])
    assert loaded.summary() == clf.summary()
    pd.testing.assert_frame_equal(loaded.evaluate(x, y).table, clf.evaluate(x, y).table)
    with pytest.raises(ValueError, match="SequenceClassifier.load"):
        load_model(tmp_path / "clf.lstmkit")


def test_labels_that_json_cannot_hold_are_refused_by_save(tmp_path):
    x, names = _shapes(6)
    clf = SequenceClassifier(**{**FAST, "epochs": 1}).fit(x, [(n, 1) for n in names])
    assert clf.predict(x)[0] in {("up", 1), ("down", 1), ("bump", 1)}
    with pytest.raises(TypeError, match="cannot be saved.*Map the labels to strings"):
        clf.save(tmp_path / "clf.lstmkit")
    assert not list(tmp_path.iterdir())


# -- bad input ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, match", [
    ({"architecture": "transformer"}, "unknown architecture 'transformer'; expected one of .* Or pass model="),
    ({"cell": "lstn"}, "unknown cell 'lstn'; did you mean 'lstm'"),
    ({"filters": (8, 8)}, "`filters` must be three positive integers"),
    ({"normalize": "minmax"}, "unknown normalize 'minmax'; expected one of"),
    ({"ensemble": 0}, "`ensemble` must be an integer >= 1"),
    ({"validation_split": 1.0}, r"`validation_split` must be a fraction in \[0, 1\)"),
])
def test_bad_settings_are_refused_before_training(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SequenceClassifier(**kwargs)


def test_bad_data_is_refused_with_what_to_do():
    x, y = _shapes(6)
    with pytest.raises(ValueError, match="one class"):
        SequenceClassifier().fit(x, ["a"] * 6)
    with pytest.raises(ValueError, match="`y` has 5 labels for 6 sequences"):
        SequenceClassifier().fit(x, y[:5])
    with pytest.raises(ValueError, match="sample 1 holds NaN"):
        SequenceClassifier().fit([x[0], np.full((16, 1), np.nan), *x[2:]], y)
    with pytest.raises(ValueError, match="name its columns with id_col="):
        SequenceClassifier().fit(pd.DataFrame({"v": [1.0]}), [0])
    with pytest.raises(ValueError, match="needs a fitted SequenceClassifier"):
        SequenceClassifier().predict(x)
    clf = SequenceClassifier(**{**FAST, "epochs": 1}).fit(x, y)
    with pytest.raises(ValueError, match="`x` has 2 channel"):
        clf.predict(np.zeros((2, 16, 2)))
    with pytest.raises(ValueError, match="label 'sideways', which was not among the training classes"):
        clf.score(x, ["sideways"] * 6)
