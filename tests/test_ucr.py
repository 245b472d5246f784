"""UCR/UEA archive files in (.ts incl. unequal-length multivariate, .tsv, .txt, .arff), the bundled
Chinatown problem, and the 1-NN Euclidean baseline."""

from __future__ import annotations

import numpy as np
import pytest

from lstmkit import Sequential
from lstmkit.layers import LSTM, Dense
from lstmkit.ucr import describe, load_classification, load_ucr, one_nn_euclidean

# The first three cases of the archive's ItalyPowerDemand training split, in its .ts file
# (5 significant digits) and its .arff file (8), as the sktime repository ships them.
ITALY_TS = """@problemName ItalyPowerDemand
@timeStamps false
@classLabel true 1 2
@data
-0.71052,-1.1833,-1.3724,-1.5931,-1.467,-1.3724,-1.0888,0.045967,0.92853,1.0861,1.2753,0.96005,0.61333,0.014447,-0.64748,-0.26923,-0.20619,0.61333,1.3698,1.4644,1.0546,0.58181,0.17205,-0.26923:1
-0.99301,-1.4268,-1.5799,-1.6054,-1.6309,-1.3758,-1.0185,-0.3551,0.71658,1.2014,1.1248,1.0483,0.79313,0.46142,0.48694,0.56348,0.61452,0.30832,0.25729,1.0993,1.0483,0.69107,-0.048906,-0.38062:1
1.3191,0.56977,0.19513,-0.085856,-0.17952,-0.27318,-0.085856,-1.3971,-1.1161,-0.74149,0.007805,-0.085856,0.007805,-0.4605,-0.55416,-0.74149,-0.74149,-0.74149,-1.1161,-0.4605,0.47611,2.3493,2.2557,1.6001:2
"""
ITALY_ARFF = (
    "%The data was derived from twelve monthly electrical power demand\n@Relation ItalyPowerDemand\n"
    + "".join(f"@attribute att{i} numeric\n" for i in range(1, 25))
    + "@attribute  target {1,2}\n\n@data\n"
    "-0.71051757,-1.1833204,-1.3724416,-1.5930829,-1.4670021,-1.3724416,-1.0887599,0.045966947,0.92853223,1.0861332,1.2752543,0.96005242,0.61333034,0.014446758,-0.6474772,-0.26923494,-0.20619456,0.61333034,1.3698149,1.4643754,1.054613,0.58181015,0.1720477,-0.26923494,1\n"
    "-0.99300935,-1.4267865,-1.5798843,-1.6054006,-1.6309169,-1.3757539,-1.0185257,-0.35510183,0.71658276,1.2013925,1.1248436,1.0482947,0.79313166,0.46141977,0.48693607,0.56348497,0.61451757,0.30832197,0.25728936,1.0993273,1.0482947,0.69106647,-0.048906237,-0.38061813,1\n"
    "1.3190669,0.56977448,0.19512825,-0.085856424,-0.17951799,-0.27317954,-0.085856424,-1.3971182,-1.1161336,-0.74148733,0.0078051347,-0.085856424,0.0078051347,-0.46050266,-0.55416422,-0.74148733,-0.74148733,-0.74148733,-1.1161336,-0.46050266,0.47611292,2.3493441,2.2556825,1.6000516,2\n"
)

# Unequal-length multivariate, in the UEA layout (e.g. CharacterTrajectories): 2 dimensions.
UNEQUAL_TS = """# a comment
@problemName Toy
@timeStamps false
@missing true
@univariate false
@dimensions 2
@equalLength false
@classLabel true up down
@data
1.0,2.0,3.0:10.0,20.0,30.0:up
4.0,?,6.0,7.0:40.0,50.0,60.0,70.0:down
8.0:80.0:up
"""


def _write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_bundled_chinatown():
    train = load_classification("Chinatown", "train")
    test = load_classification("Chinatown", "test", train.classes)
    assert describe(train) == {"cases": 20, "dimensions": 1, "min_length": 24, "max_length": 24,
                               "class_counts": {"1": 10, "2": 10}}
    assert describe(test)["cases"] == 343 and describe(test)["class_counts"] == {"1": 94, "2": 249}
    assert train.classes == ["1", "2"]
    np.testing.assert_array_equal(train.series[0][:3, 0], [573.0, 375.0, 301.0])
    assert train.labels[0] == 0 and train.labels[-1] == 1
    np.testing.assert_array_equal(test.series[-1][-2:, 0], [690.0, 328.0])
    assert test.labels[-1] == 1
    with pytest.raises(ValueError, match=r"unknown bundled problem 'GunPoint'"):
        load_classification("GunPoint")
    with pytest.raises(ValueError, match=r"unknown split 'valid'; expected one of 'test', 'train'\."):
        load_classification("Chinatown", "valid")


def test_ts_unequal_length_multivariate_with_missing_values(tmp_path):
    data = load_ucr(_write(tmp_path, "Toy_TRAIN.ts", UNEQUAL_TS))
    assert [s.shape for s in data.series] == [(3, 2), (4, 2), (1, 2)]
    np.testing.assert_array_equal(data.series[0], [[1, 10], [2, 20], [3, 30]])
    assert np.isnan(data.series[1][1, 0]) and data.series[1][1, 1] == 50.0
    assert data.classes == ["up", "down"]  # @classLabel order, not sorted
    np.testing.assert_array_equal(data.labels, [0, 1, 0])


def test_ts_and_arff_hold_the_same_italy_power_demand_cases(tmp_path):
    from_ts = load_ucr(_write(tmp_path, "Italy_TRAIN.ts", ITALY_TS))
    from_arff = load_ucr(_write(tmp_path, "Italy_TRAIN.arff", ITALY_ARFF))
    assert from_arff.classes == from_ts.classes == ["1", "2"]
    np.testing.assert_array_equal(from_arff.labels, [0, 0, 1])
    np.testing.assert_array_equal(from_ts.labels, from_arff.labels)
    for a, b in zip(from_ts.series, from_arff.series):
        assert a.shape == b.shape == (24, 1)
        np.testing.assert_allclose(a, b, rtol=5e-5, atol=1e-6)


def test_tsv_and_txt_trim_nan_padding_and_share_the_training_classes(tmp_path):
    tsv = _write(tmp_path, "P_TRAIN.tsv", "2\t1.0\t2.0\t3.0\n1\t4.0\t5.0\tNaN\n2\t6.0\tNaN\tNaN\n")
    train = load_ucr(tsv)
    assert [len(s) for s in train.series] == [3, 2, 1] and train.classes == ["1", "2"]
    np.testing.assert_array_equal(train.labels, [1, 0, 1])
    txt = _write(tmp_path, "P_TEST.txt", "  2.0000000e+00  7.0  8.0  9.0\n  1.0000000e+00  1.0  1.0  1.0\n")
    test = load_ucr(txt, train.classes)
    np.testing.assert_array_equal(test.labels, [1, 0])
    bad = _write(tmp_path, "Q_TEST.tsv", "1\t1.0\n3\t2.0\n")
    with pytest.raises(ValueError, match=r"case 1 has class label '3', not one of \['1', '2'\]"):
        load_ucr(bad, train.classes)


def test_relational_arff_is_multivariate(tmp_path):
    text = ("@relation Toy\n@attribute series relational\n@attribute a numeric\n@end series\n"
            "@attribute class {x,y}\n@data\n'1,2,3\\n4,5,6',y\n'7,8\\n9,10',x\n")
    data = load_ucr(_write(tmp_path, "Toy.arff", text))
    assert [s.shape for s in data.series] == [(3, 2), (2, 2)]
    np.testing.assert_array_equal(data.series[0][:, 1], [4, 5, 6])
    np.testing.assert_array_equal(data.labels, [1, 0])


def test_malformed_files_are_explained(tmp_path):
    with pytest.raises(ValueError, match=r"unsupported file type '.csv'"):
        load_ucr(tmp_path / "x.csv")
    with pytest.raises(FileNotFoundError, match=r"no UCR/UEA file at"):
        load_ucr(tmp_path / "x.ts")
    with pytest.raises(ValueError, match=r"line 2 \(case 0\): its dimensions have different lengths \[2, 1\]"):
        load_ucr(_write(tmp_path, "a.ts", "@data\n1,2:3:c\n"))
    with pytest.raises(ValueError, match=r"@timeStamps true are not supported"):
        load_ucr(_write(tmp_path, "b.ts", "@timeStamps true\n@data\n(0,1):c\n"))
    with pytest.raises(ValueError, match=r"line 2: 'a,b' is not a comma-separated list of numbers"):
        load_ucr(_write(tmp_path, "c.ts", "@data\na,b:c\n"))
    with pytest.raises(ValueError, match=r"holds no cases"):
        load_ucr(_write(tmp_path, "d.ts", "@data\n"))


def test_one_nn_euclidean():
    train = [np.array([[0.0], [0.0]]), np.array([[5.0], [5.0]])]
    test = [np.array([[1.0], [0.0]]), np.array([[4.0], [6.0]]), np.array([[2.4], [2.4]])]
    np.testing.assert_array_equal(one_nn_euclidean(train, np.array([0, 1]), test), [0, 1, 0])
    with pytest.raises(ValueError, match=r"needs equal lengths"):
        one_nn_euclidean(train, np.array([0, 1]), [np.zeros((3, 1))])


def test_unequal_length_problem_trains_with_lengths(tmp_path):
    data = load_ucr(_write(tmp_path, "Toy_TRAIN.ts", UNEQUAL_TS.replace("?", "5.0")))
    model = Sequential([LSTM(3, input_shape=(None, 2)), Dense(len(data.classes), activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    lengths = [len(s) for s in data.series]
    history = model.fit(data.series, data.labels, lengths=lengths, epochs=2, verbose=0, seed=0)
    assert len(history.history["accuracy"]) == 2
    assert model.predict(data.series, lengths=lengths).shape == (3, 2)


def test_gzipped_files_read_as_the_plain_ones(tmp_path):
    import gzip

    text = "2\t1.0\t2.0\t3.0\n1\t4.0\t5.0\tNaN\n"
    plain = load_ucr(_write(tmp_path, "G_TRAIN.tsv", text))
    with gzip.open(tmp_path / "G_TRAIN.tsv.gz", "wt", encoding="utf-8") as handle:
        handle.write(text)
    packed = load_ucr(tmp_path / "G_TRAIN.tsv.gz")
    assert packed.classes == plain.classes == ["1", "2"]
    np.testing.assert_array_equal(packed.labels, plain.labels)
    for a, b in zip(packed.series, plain.series):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"unsupported file type '.csv'.*gzipped"):
        load_ucr(tmp_path / "G_TRAIN.csv.gz")
