"""Classification scores, and the table of a model beside its baselines.

    accuracy            share of cases predicted right
    balanced_accuracy   mean over classes of the share of that class predicted right (recall)
    macro_f1            mean over classes of F1 = 2·precision·recall / (precision + recall)
    log_loss            mean of -log p(true class), p clipped to [1e-15, 1]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable

import numpy as np
import pandas as pd

from lstmkit.checks import unknown_name
from lstmkit.classification import confusion_matrix

METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "log_loss")


def scores(truth: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """The four scores of `probabilities` (N, C) against class indices `truth` (N,)."""
    classes = probabilities.shape[1]
    matrix = confusion_matrix(truth, probabilities.argmax(axis=1), num_classes=classes).astype(np.float64)
    present = matrix.sum(axis=1) > 0  # classes with cases: the ones recall is defined for
    recall = np.diag(matrix)[present] / matrix.sum(axis=1)[present]
    predicted = matrix.sum(axis=0)
    precision = np.divide(np.diag(matrix), predicted, out=np.zeros(classes), where=predicted > 0)
    full_recall = np.divide(np.diag(matrix), matrix.sum(axis=1), out=np.zeros(classes), where=matrix.sum(axis=1) > 0)
    both = precision + full_recall
    f1 = np.divide(2 * precision * full_recall, both, out=np.zeros(classes), where=both > 0)
    taken = np.clip(probabilities[np.arange(len(truth)), truth], 1e-15, 1.0)
    return {
        "accuracy": float(np.trace(matrix) / len(truth)),
        "balanced_accuracy": float(recall.mean()),
        "macro_f1": float(f1[present | (predicted > 0)].mean()),
        "log_loss": float(-np.log(taken).mean()) + 0.0,  # + 0.0: no "-0.000"
    }


def one_hot(indices: np.ndarray, classes: int) -> np.ndarray:
    """Hard predictions as probabilities (their log loss is large for every mistake)."""
    out = np.zeros((len(indices), classes))
    out[np.arange(len(indices)), indices] = 1.0
    return out


def verdict(table: pd.DataFrame, model: str = "classifier") -> str:
    """One plain line: does the model's accuracy beat every baseline's?"""
    others = table.drop(index=model)["accuracy"].dropna()
    if others.empty:
        return "No baseline could be scored."
    best, score = others.idxmax(), table.loc[model, "accuracy"]
    if score > others.max():
        return f"The classifier beats every baseline (accuracy {score:.3f}; best baseline {best}, {others.max():.3f})."
    if score == others.max():
        return f"The classifier ties the best baseline, {best} (accuracy {score:.3f})."
    return f"{best} scores higher than the classifier (accuracy {others.max():.3f} vs {score:.3f})."


@dataclass
class Evaluation:
    """What `SequenceClassifier.evaluate` returns.

    Attributes:
        table: DataFrame, one row per model ("classifier", "majority class", "1-NN Euclidean",
            "1-NN DTW"), columns accuracy, balanced_accuracy, macro_f1, log_loss (NaN: not scored).
        confusion_matrix: (C, C) counts of the classifier, rows true class, columns predicted.
        classes: the class labels in the matrix's order.
        notes: why a baseline was left out, when one was.
    """

    table: pd.DataFrame
    confusion_matrix: np.ndarray
    classes: list[Hashable]
    notes: list[str]

    def __getitem__(self, metric: str) -> Any:
        """The classifier's score: evaluation["accuracy"]; evaluation["confusion_matrix"]."""
        if metric == "confusion_matrix":
            return self.confusion_matrix
        if metric not in METRICS:
            raise KeyError(unknown_name("metric", metric, [*METRICS, "confusion_matrix"]))
        return float(self.table.loc["classifier", metric])

    def summary(self) -> str:
        lines = [self.table.to_string(float_format=lambda v: f"{v:.3f}", na_rep="-"), verdict(self.table)]
        return "\n".join(lines + self.notes)

    def __str__(self) -> str:
        return self.summary()
