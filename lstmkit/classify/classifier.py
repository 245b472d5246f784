"""SequenceClassifier: whole-sequence classification that is right by default.

What "right" means here, each done without being asked:

- z-normalisation fitted on the training sequences only: per channel (one mean and deviation
  per channel over all training steps) or per series (each sequence by its own), chosen by a
  leave-one-out 1-NN check on the training sequences and reported;
- long sequences are shortened: when the median training length is over twice `max_length`
  (256), each run of k steps is replaced by its mean (piecewise aggregate approximation, k the
  smallest that brings the median to max_length or below), for training and prediction alike,
  and reported. On the benchmark's 2000-step PigCVP (seed 0, every case trained on), 250 averaged
  steps scored 0.365 test accuracy and 500 scored 0.197; averaging Coffee and Trace (286 and 275
  steps) 2 to 1 left both at 1.000, so series up to twice max_length
  (every other problem there: 427 steps at most) keep every step;
- variable lengths stay unpadded: the recurrent branch stops at each sequence's last real step
  and the convolutional branch pools over its real steps (`lengths=` underneath);
- a stratified validation part (each class in its share) for early stopping, with the best
  weights restored; each ensemble member draws its own part, so together they see all the data.
  A class of one or two cases stays in training whole (holding out one of two would halve what
  the model sees of it: on PigCVP, two cases a class, that scored 0.106 against 0.365, seed 0);
- balanced class weights (N / (C · count)) when the largest class is over 1.5x the smallest;
- one model by default: on the benchmark's three small problems an average of 3 seeds scored no
  better than its first model alone (benchmarks/classification_accuracy.py --ensemble 3);
  `ensemble=k` trains k (seeds seed..seed+k-1, each with its own validation part) and averages them;
- the majority class, 1-NN Euclidean and 1-NN DTW are scored beside the model, on the
  validation part in `summary()` and on any labelled data in `evaluate()`.
"""

from __future__ import annotations

import os
import time
from typing import Any, Hashable, Sequence

import numpy as np
import pandas as pd

from lstmkit.classification import balanced_class_weight, confusion_matrix
from lstmkit.checks import choice
from lstmkit.checks import fraction as _fraction
from lstmkit.checks import positive_int as _positive_int
from lstmkit.checks import positive_number
from lstmkit.classify import baselines as baseline_models
from lstmkit.classify.inputs import (NORMALIZATIONS, Normalizer, SequenceData, average_steps, averaging_factor,
                                     choose_normalization, class_order, read_labels, read_sequences)
from lstmkit.classify.metrics import METRICS, Evaluation, one_hot, scores, verdict
from lstmkit.classify.network import ARCHITECTURES, LSTMFCN, build_network, recurrent_layer, train_member
from lstmkit.layers import Bidirectional
from lstmkit.models import Sequential
from lstmkit.training import History

IMBALANCE = 1.5  # largest / smallest class count above which classes are weighted


class SequenceClassifier:
    """Classify whole sequences (any length, one or many channels) into labels of any hashable type.

    Args:
        architecture: "lstm-fcn" (a bidirectional recurrent branch beside a convolutional one,
            the default; see lstmkit.classify.network) or "lstm" (the bidirectional branch alone).
        cell: the recurrent layer, by its name in lstmkit.layers.LAYERS ("lstm").
        units: units of each direction of the recurrent layer.
        filters: the convolution blocks' channels ("lstm-fcn").
        dropout: dropout before the softmax layer.
        epochs, batch_size, learning_rate, patience: training (Adam on cross-entropy): at most
            `epochs` epochs, stopped `patience` epochs after the validation loss last improved.
        normalize: "auto" (see the module docstring), "per-channel", "per-series" or "none".
        max_length: when the median training length is over twice this, runs of steps are
            averaged into one to bring it to max_length (see the module docstring); None reads
            every step.
        class_weight: "auto" (balanced when imbalanced), "balanced", None, or {label: weight}.
        ensemble: models trained with seeds seed, seed+1, ..., their probabilities averaged.
        validation_split: share of each class held out for early stopping (0: none; all epochs).
        seed: makes training repeatable on CPU.
        model: any lstmkit Sequential taking (None, channels) and ending in Dense(C, softmax);
            trained copies of it replace the default network.

    Example:
        >>> clf = SequenceClassifier(seed=0).fit(x_train, y_train)   # arrays, lists or a long DataFrame
        >>> clf.predict(x_test)                                        # the labels as given to fit
        >>> print(clf.evaluate(x_test, y_test))                        # scores beside the baselines
    """

    def __init__(
        self,
        architecture: str = "lstm-fcn",
        cell: str = "lstm",
        units: int = 32,
        filters: Sequence[int] = (64, 128, 64),
        dropout: float = 0.2,
        epochs: int = 150,
        batch_size: int = 16,
        learning_rate: float = 3e-3,
        patience: int = 30,
        normalize: str = "auto",
        max_length: int | None = 256,
        class_weight: Any = "auto",
        ensemble: int = 1,
        validation_split: float = 0.2,
        seed: int = 0,
        model: Sequential | None = None,
    ) -> None:
        self.architecture = choice(architecture, "architecture", ARCHITECTURES, hint="Or pass model=.")
        recurrent_layer(cell)
        self.cell = cell
        self.units = _positive_int(units, "units")
        if isinstance(filters, (str, bytes)) or len(list(filters)) != 3:
            raise ValueError(f"`filters` must be three positive integers, e.g. (64, 128, 64); got {filters!r}.")
        self.filters = tuple(_positive_int(f, "filters") for f in filters)
        self.dropout = _fraction(dropout, "dropout")
        self.epochs = _positive_int(epochs, "epochs")
        self.batch_size = _positive_int(batch_size, "batch_size")
        self.learning_rate = positive_number(learning_rate, "learning_rate")
        self.patience = _positive_int(patience, "patience", minimum=0)
        self.normalize = choice(normalize, "normalize", NORMALIZATIONS)
        self.max_length = None if max_length is None else _positive_int(max_length, "max_length")
        if not (class_weight in ("auto", "balanced", None) or isinstance(class_weight, dict)):
            raise ValueError(f"`class_weight` must be 'auto', 'balanced', None or a dict label -> weight; "
                             f"got {class_weight!r}.")
        self.class_weight = class_weight
        self.ensemble = _positive_int(ensemble, "ensemble")
        self.validation_split = _fraction(validation_split, "validation_split")
        self.seed = _positive_int(seed, "seed", minimum=0)
        if model is not None and not isinstance(model, Sequential):
            raise TypeError(f"`model` must be an lstmkit Sequential; got {type(model).__name__}.")
        self.model = model
        self.members_: list[Sequential] = []

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (without `model`) as plain values."""
        return {
            "architecture": self.architecture, "cell": self.cell, "units": self.units, "filters": list(self.filters),
            "dropout": self.dropout, "epochs": self.epochs, "batch_size": self.batch_size,
            "learning_rate": self.learning_rate, "patience": self.patience, "normalize": self.normalize,
            "max_length": self.max_length, "class_weight": self.class_weight, "ensemble": self.ensemble,
            "validation_split": self.validation_split, "seed": self.seed,
        }

    # -- fit ---------------------------------------------------------------------------------
    def fit(self, x: Any, y: Any, id_col: str | None = None, time_col: str | None = None,
            verbose: int = 0) -> "SequenceClassifier":
        """Train on sequences `x` with labels `y`; returns self.

        Args:
            x: an array (samples, timesteps, channels) or (samples, timesteps), a list of arrays
                (T_i, channels) of any lengths, or a long DataFrame (one row per id and time).
            y: one label per sequence, of any hashable type (str, int, ...); with a DataFrame, the
                name of its label column, or a Series/dict from id to label.
            id_col, time_col: the DataFrame's sequence-id and time columns.
            verbose: 0 silent, 1 the summary, 2 also Keras's epoch lines.
        """
        label_column = [y] if isinstance(x, pd.DataFrame) and isinstance(y, str) else []
        data = read_sequences(x, id_col, time_col, exclude=label_column)
        labels = read_labels(y, data, x, id_col)
        self.columns_ = {"id_col": id_col, "time_col": time_col, "label_col": label_column[0] if label_column else None}
        self.classes_ = class_order(labels)
        index = {label: k for k, label in enumerate(self.classes_)}
        targets = np.array([index[label] for label in labels], dtype=np.int64)
        if len(self.classes_) < 2:
            raise ValueError(f"`y` holds one class ({self.classes_[0]!r}); a classifier needs at least two.")
        self.channels_ = data.channels
        self.averaging_ = averaging_factor(data.lengths, self.max_length)
        data = SequenceData(average_steps(data.series, self.averaging_))
        self._fit_normalizer(data, targets)
        series = self.normalizer_.transform(data.series)
        weights = self._class_weights(targets)
        self.members_, self.histories_, self.best_epochs_, self.fit_seconds_ = [], [], [], 0.0
        start = time.perf_counter()
        for member in range(self.ensemble):
            train, validation = self._split(targets, member)
            model = build_network(self, data.channels, len(self.classes_))
            history, best = train_member(model, self, (*_network_input(series, train), targets[train]),
                                         _validation_data(series, targets, validation), weights,
                                         self.seed + member, verbose)
            if member == 0:
                self.validation_ = validation
            self.members_.append(model)
            self.histories_.append(history)
            self.best_epochs_.append(best)
        self.fit_seconds_ = time.perf_counter() - start
        self.train_series_, self.train_targets_ = series, targets
        self.validation_table_ = None if self.validation_ is None else self._validation_table(series, targets)
        if verbose:
            print(self.summary())
        return self

    def _fit_normalizer(self, data: SequenceData, targets: np.ndarray) -> None:
        kind, reason = self.normalize, "as asked"
        if kind == "auto":
            kind, reason = choose_normalization(data.series, targets)
        self.normalizer_ = Normalizer.fit(kind, data.series)
        self.normalization_note_ = f"{kind} ({reason})"

    def _class_weights(self, targets: np.ndarray) -> dict[int, float] | None:
        counts = np.bincount(targets, minlength=len(self.classes_))
        imbalanced = counts.max() > IMBALANCE * counts.min()
        if self.class_weight == "balanced" or (self.class_weight == "auto" and imbalanced):
            weights = balanced_class_weight(targets)
            self.class_weight_note_ = (f"balanced ({'imbalanced' if imbalanced else 'as asked'}: counts "
                                       f"{dict(zip(map(str, self.classes_), counts.tolist()))})")
            return weights
        if isinstance(self.class_weight, dict):
            unknown = [label for label in self.class_weight if label not in self.classes_]
            if unknown:
                raise ValueError(f"`class_weight` names {unknown[0]!r}, not one of the classes {self.classes_}.")
            self.class_weight_note_ = f"as given: {self.class_weight}"
            return {self.classes_.index(label): float(w) for label, w in self.class_weight.items()}
        self.class_weight_note_ = "none (classes balanced enough)" if self.class_weight == "auto" else "none"
        return None

    def _split(self, targets: np.ndarray, member: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Stratified (training, validation) positions; a class with one case stays in training."""
        if self.validation_split == 0:
            return np.arange(len(targets)), None
        rng = np.random.default_rng(self.seed + 7919 * member)
        held = []
        for label in np.unique(targets):
            positions = rng.permutation(np.flatnonzero(targets == label))
            take = min(len(positions) - 1, int(round(self.validation_split * len(positions))))
            held.extend(positions[:max(take, 1 if len(positions) > 2 else 0)])
        held = np.sort(np.array(held, dtype=np.int64))
        if len(held) == 0:
            return np.arange(len(targets)), None
        return np.setdiff1d(np.arange(len(targets)), held), held

    def _validation_table(self, series: list[np.ndarray], targets: np.ndarray) -> pd.DataFrame:
        train = np.setdiff1d(np.arange(len(targets)), self.validation_)
        x, lengths = _network_input(series, self.validation_)
        probabilities = self.members_[0].predict(x, lengths=lengths, batch_size=256)
        table, self.validation_notes_ = _score_table(
            targets[self.validation_], probabilities, [series[i] for i in train], targets[train],
            [series[i] for i in self.validation_], len(self.classes_))
        return table

    # -- predict -------------------------------------------------------------------------------
    def predict_proba(self, x: Any, id_col: str | None = None, time_col: str | None = None) -> Any:
        """Class probabilities (samples, classes), columns in `classes_` order; a DataFrame
        indexed by id for DataFrame input. The ensemble's members are averaged."""
        data = self._read(x, id_col, time_col)
        probabilities = self._probabilities(data)
        if data.ids is not None:
            return pd.DataFrame(probabilities, index=pd.Index(data.ids, name=self.columns_["id_col"] or "id"),
                                columns=self.classes_)
        return probabilities

    def predict(self, x: Any, id_col: str | None = None, time_col: str | None = None) -> Any:
        """Predicted labels (the user's labels): a numpy array, or a Series by id for a DataFrame."""
        data = self._read(x, id_col, time_col)
        labels = self._labels(self._probabilities(data).argmax(axis=1))
        if data.ids is not None:
            return pd.Series(labels, index=pd.Index(data.ids, name=self.columns_["id_col"] or "id"), name="label")
        return labels

    def score(self, x: Any, y: Any, id_col: str | None = None, time_col: str | None = None) -> float:
        """Accuracy on (x, y)."""
        data, truth = self._read_labelled(x, y, id_col, time_col)
        return float(np.mean(self._probabilities(data).argmax(axis=1) == truth))

    def evaluate(self, x: Any, y: Any, id_col: str | None = None, time_col: str | None = None,
                 baselines: bool = True) -> Evaluation:
        """Accuracy, balanced accuracy, macro F1 and log loss on (x, y) beside the majority class,
        1-NN Euclidean and 1-NN DTW (on the training sequences, normalised as the model reads
        them), and the confusion matrix. Print it, or read evaluation["accuracy"]."""
        data, truth = self._read_labelled(x, y, id_col, time_col)
        probabilities = self._probabilities(data)
        if baselines:
            series = self._network_series(data)
            table, notes = _score_table(truth, probabilities, self.train_series_, self.train_targets_, series,
                                        len(self.classes_))
        else:
            table, notes = pd.DataFrame([scores(truth, probabilities)], index=["classifier"]), []
        matrix = confusion_matrix(truth, probabilities.argmax(axis=1), num_classes=len(self.classes_))
        return Evaluation(table, matrix, list(self.classes_), notes)

    def _read(self, x: Any, id_col: str | None, time_col: str | None, exclude: Sequence[str] = ()) -> SequenceData:
        self._require_fitted("predict")
        if isinstance(x, pd.DataFrame):
            id_col = id_col or self.columns_["id_col"]
            time_col = time_col or self.columns_["time_col"]
            label = self.columns_["label_col"]
            exclude = [*exclude, *([label] if label in x.columns else [])]
        data = read_sequences(x, id_col, time_col, exclude=exclude)
        if data.channels != self.channels_:
            raise ValueError(f"`x` has {data.channels} channel(s); this classifier was fitted on {self.channels_}.")
        return data

    def _read_labelled(self, x: Any, y: Any, id_col: str | None, time_col: str | None
                       ) -> tuple[SequenceData, np.ndarray]:
        data = self._read(x, id_col, time_col, exclude=[y] if isinstance(x, pd.DataFrame) and isinstance(y, str) else [])
        labels = read_labels(y, data, x, id_col or self.columns_.get("id_col"))
        index = {label: k for k, label in enumerate(self.classes_)}
        unknown = next((label for label in labels if label not in index), None)
        if unknown is not None:
            raise ValueError(f"`y` holds label {unknown!r}, which was not among the training classes {self.classes_}.")
        return data, np.array([index[label] for label in labels], dtype=np.int64)

    def _network_series(self, data: SequenceData) -> list[np.ndarray]:
        """The sequences as the network reads them: averaged as in fit, then normalised."""
        return self.normalizer_.transform(average_steps(data.series, self.averaging_))

    def _probabilities(self, data: SequenceData) -> np.ndarray:
        x, lengths = _predict_input(self._network_series(data))
        return np.mean([member.predict(x, lengths=lengths, batch_size=256) for member in self.members_], axis=0)

    def _labels(self, indices: np.ndarray) -> np.ndarray:
        out = np.empty(len(indices), dtype=object)
        out[:] = [self.classes_[i] for i in indices]
        return out if any(not isinstance(c, (int, float, str)) or isinstance(c, bool) for c in self.classes_) \
            else np.array(out.tolist())

    # -- report ----------------------------------------------------------------------------------
    def summary(self) -> str:
        """What was fitted, how, and how it scored on the validation part beside the baselines."""
        self._require_fitted("summary()")
        network = "model= (custom)" if self.model is not None else (
            f"{self.architecture}: bidirectional {self.cell.upper()}({self.units})"
            + (f" beside conv blocks {list(self.filters)}" if self.architecture == "lstm-fcn" else ""))
        lines = [
            f"SequenceClassifier: {network}, {len(self.classes_)} classes, {self.channels_} channel(s).",
            *([f"Long sequences: each {self.averaging_} steps averaged into one (median training length over "
               f"twice max_length={self.max_length})."] if self.averaging_ > 1 else []),
            f"Normalisation: {self.normalization_note_}.",
            f"Class weights: {self.class_weight_note_}.",
            f"Trained {len(self.members_)} model(s) in {self.fit_seconds_:.1f} s; best epochs {self.best_epochs_} "
            f"of at most {self.epochs}.",
        ]
        if self.validation_table_ is not None:
            lines += [f"Validation part ({len(self.validation_)} sequences, never trained on by model 1):",
                      self.validation_table_.to_string(float_format=lambda v: f"{v:.3f}", na_rep="-"),
                      verdict(self.validation_table_), *self.validation_notes_]
        else:
            lines.append("No validation part (validation_split=0, or no class has 3 cases to hold one out): "
                         "no early stopping.")
        return "\n".join(lines)

    def trace(self, x: Any, id_col: str | None = None, time_col: str | None = None) -> list[Any]:
        """The gates and states of the first model's recurrent layers on `x`, read as `predict`
        reads it (averaged, normalised): Sequential.trace's lstmkit.trace.LayerTrace list, one per
        direction. The convolutional branch ("lstm-fcn") has no gates and is left out."""
        x_net, lengths = _predict_input(self._network_series(self._read(x, id_col, time_col)))
        member, body = self.members_[0], self.members_[0].layers[0]
        if isinstance(body, LSTMFCN):
            branch = Bidirectional(recurrent_layer(self.cell)(self.units), input_shape=(None, self.channels_))
            member = Sequential([branch], name=member.name)
            branch.load_state_dict(body.recurrent.state_dict())
        return member.trace(x_net, lengths=lengths)

    def plot(self, x: Any, y: Any, ax: Any = None, normalize: bool = False, id_col: str | None = None,
             time_col: str | None = None) -> Any:
        """The confusion matrix on (x, y) as a heatmap; returns the Axes. matplotlib is loaded
        here, never by `import lstmkit`."""
        from lstmkit.classify.figures import confusion_matrix_plot

        evaluation = self.evaluate(x, y, id_col, time_col, baselines=False)
        return confusion_matrix_plot(evaluation.confusion_matrix, [str(c) for c in self.classes_], ax=ax,
                                     normalize=normalize)

    def _require_fitted(self, what: str) -> None:
        if not self.members_:
            raise ValueError(f"{what} needs a fitted SequenceClassifier: call fit(x, y) first.")

    # -- files ---------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted classifier (weights, normalisation, classes, the training sequences
        the baselines compare against) to one lstmkit file."""
        from lstmkit.classify.files import save_classifier

        self._require_fitted("save()")
        save_classifier(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SequenceClassifier":
        """Read a classifier written by `save`. Never runs code from the file."""
        from lstmkit.classify.files import load_classifier

        return load_classifier(cls, path)


def _network_input(series: list[np.ndarray], positions: np.ndarray) -> tuple[Any, Any]:
    return _predict_input([series[i] for i in positions])


def _validation_data(series: list[np.ndarray], targets: np.ndarray, positions: np.ndarray | None) -> tuple | None:
    """Sequential.fit's validation_data: (x, y), or (x, y, lengths) when lengths differ."""
    if positions is None:
        return None
    x, lengths = _network_input(series, positions)
    return (x, targets[positions]) if lengths is None else (x, targets[positions], lengths)


def _predict_input(series: list[np.ndarray]) -> tuple[Any, Any]:
    """(x, lengths) for the network: an array when lengths agree, else a list with lengths."""
    if len({len(s) for s in series}) == 1:
        return np.stack(series).astype(np.float32), None
    return [s.astype(np.float32) for s in series], [len(s) for s in series]


def _score_table(truth: np.ndarray, probabilities: np.ndarray, train: list[np.ndarray], train_targets: np.ndarray,
                 cases: list[np.ndarray], classes: int) -> tuple[pd.DataFrame, list[str]]:
    """The model's scores beside the three baselines' (rows), and notes on any left out."""
    rows = {"classifier": scores(truth, probabilities),
            "majority class": scores(truth, baseline_models.majority(train_targets, len(truth), classes))}
    notes = []
    euclidean = baseline_models.nearest_euclidean(train, train_targets, cases)
    if euclidean is None:
        notes.append("1-NN Euclidean: left out, the sequences differ in length.")
    rows["1-NN Euclidean"] = scores(truth, one_hot(euclidean, classes)) if euclidean is not None else \
        dict.fromkeys(METRICS, np.nan)
    if baseline_models.dtw_cells(train, cases) <= baseline_models.DTW_BUDGET:
        rows["1-NN DTW"] = scores(truth, one_hot(baseline_models.nearest_dtw(train, train_targets, cases), classes))
    else:
        rows["1-NN DTW"] = dict.fromkeys(METRICS, np.nan)
        notes.append(f"1-NN DTW: left out, it would fill {baseline_models.dtw_cells(train, cases):.1e} warping-matrix "
                     f"cells (more than {baseline_models.DTW_BUDGET:.0e}).")
    return pd.DataFrame.from_dict(rows, orient="index")[list(METRICS)], notes
