"""Test accuracy of an LSTM classifier on the bundled UCR problems, beside the archive's
1-nearest-neighbour Euclidean baseline.

For each problem: the values are standardized with the training split's mean and standard
deviation (one for all steps, so a day's level is kept), then `LSTM(16) + Dense(C, softmax)`
is trained with Adam (learning rate 0.01) on sparse categorical cross-entropy for 150 epochs,
batch 10, for seeds 0, 1, 2; the median test accuracy is reported. 1-NN Euclidean uses the
raw values, as the archive does. The "variable length" row cuts every series (train and test)
to a random first 12..24 hours and trains with `lengths=`; 1-NN Euclidean needs equal lengths.

Run: python benchmarks/classification_accuracy.py
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from lstmkit import Sequential
from lstmkit.layers import LSTM, Dense
from lstmkit.optimizers import Adam
from lstmkit.ucr import BUNDLED, UCRData, load_classification, one_nn_euclidean

SEEDS = (0, 1, 2)


def lstm_accuracy(train: UCRData, test: UCRData, seed: int, variable_length: bool) -> float:
    values = np.concatenate(train.series)
    mean, std = values.mean(axis=0), values.std(axis=0)
    x_train = [(s - mean) / std for s in train.series]
    x_test = [(s - mean) / std for s in test.series]
    options: dict[str, dict] = {"fit": {}, "predict": {}}
    if variable_length:
        rng = np.random.default_rng(100 + seed)
        x_train = [s[: rng.integers(12, len(s) + 1)] for s in x_train]
        x_test = [s[: rng.integers(12, len(s) + 1)] for s in x_test]
        options = {"fit": {"lengths": [len(s) for s in x_train]}, "predict": {"lengths": [len(s) for s in x_test]}}
    model = Sequential([LSTM(16, input_shape=(None, train.series[0].shape[1])), Dense(len(train.classes), activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", optimizer=Adam(learning_rate=0.01))
    model.fit(x_train, train.labels, epochs=150, batch_size=10, verbose=0, seed=seed, **options["fit"])
    predicted = model.predict(x_test, **options["predict"]).argmax(axis=1)
    return float(np.mean(predicted == test.labels))


def main() -> None:
    rows = []
    for name in BUNDLED:
        train = load_classification(name, "train")
        test = load_classification(name, "test", train.classes)
        baseline = float(np.mean(one_nn_euclidean(train.series, train.labels, test.series) == test.labels))
        for variable_length in (False, True):
            start = time.perf_counter()
            accuracies = [lstm_accuracy(train, test, seed, variable_length) for seed in SEEDS]
            label = name + (" (variable length)" if variable_length else "")
            rows.append((label, len(train.series), len(test.series), accuracies,
                         None if variable_length else baseline, time.perf_counter() - start))
    print(f"{'problem':<30}{'train':>6}{'test':>6}{'LSTM median':>13}  {'seeds':<22}{'1-NN ED':>8}{'time':>7}")
    for label, n_train, n_test, accuracies, baseline, seconds in rows:
        seeds = " ".join(f"{a:.3f}" for a in accuracies)
        baseline_text = "n/a" if baseline is None else f"{baseline:.3f}"
        print(f"{label:<30}{n_train:>6}{n_test:>6}{statistics.median(accuracies):>13.3f}  {seeds:<22}"
              f"{baseline_text:>8}{seconds:>6.1f}s")


if __name__ == "__main__":
    main()
