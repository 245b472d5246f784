"""Classification helpers: class labels from any target layout, class weights, confusion matrix.

Targets and predictions come in three layouts, as with Keras's losses:
    class indices (N,) or (N, 1)                     sparse_categorical_crossentropy
    one-hot rows / probabilities (N, C), C > 1       categorical_crossentropy, softmax output
    0/1 labels / probabilities (N,) or (N, 1)        binary_crossentropy, sigmoid output
`class_labels` turns each into class indices (N,).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from lstmkit.checks import number


def class_labels(values: Any, binary: bool | None = None) -> np.ndarray:
    """Class indices (N,) from indices, one-hot rows, probabilities or 0/1 labels.

    Args:
        values: (N,), (N, 1) or (N, C).
        binary: read one column as probabilities of class 1 (threshold 0.5). None: when
            the values are not all whole numbers.
    """
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] > 1:
        return array.argmax(axis=1)
    array = array.reshape(len(array))
    if binary is None:
        binary = array.dtype.kind == "f" and not np.all(array == np.round(array))
    return (array > 0.5).astype(np.int64) if binary else np.round(array).astype(np.int64)


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int | None = None) -> np.ndarray:
    """Counts (C, C): row = true class, column = predicted class.

    Args:
        y_true: class indices (N,), one-hot rows (N, C) or 0/1 labels.
        y_pred: class indices, or the model's output: softmax rows (N, C) or sigmoid (N, 1).
        num_classes: C; by default the widest of the two inputs' classes.

    Example:
        confusion_matrix([0, 1, 1, 2], [0, 2, 1, 2]) -> [[1 0 0], [0 1 1], [0 0 1]]
    """
    truth = class_labels(y_true)
    predicted = class_labels(y_pred, binary=_is_probability_column(y_pred))
    if len(truth) != len(predicted):
        raise ValueError(f"y_true has {len(truth)} samples but y_pred has {len(predicted)}.")
    widths = [np.asarray(v).shape[1] for v in (y_true, y_pred) if np.ndim(v) == 2 and np.shape(v)[1] > 1]
    classes = max([*widths, int(truth.max()) + 1, int(predicted.max()) + 1, 2])  # at least binary
    classes = classes if num_classes is None else int(num_classes)
    for name, labels in (("y_true", truth), ("y_pred", predicted)):
        outside = np.flatnonzero((labels < 0) | (labels >= classes))
        if len(outside):
            raise ValueError(
                f"{name} sample {outside[0]} has class {labels[outside[0]]}, outside 0..{classes - 1}."
            )
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    return matrix


def _is_probability_column(values: Any) -> bool:
    array = np.asarray(values)
    return (array.ndim == 1 or array.shape[1] == 1) and array.dtype.kind == "f" and bool(
        np.all((array >= 0) & (array <= 1)) and not np.all(array == np.round(array))
    )


def balanced_class_weight(y: Any) -> dict[int, float]:
    """class -> N / (C · count): rare classes weigh more (scikit-learn's "balanced").

    Example:
        balanced_class_weight([0, 0, 0, 1]) -> {0: 0.667, 1: 2.0}
    """
    labels = class_labels(y)
    classes, counts = np.unique(labels, return_counts=True)
    return {int(c): float(len(labels) / (len(classes) * n)) for c, n in zip(classes, counts)}


def sample_weights(class_weight: Mapping[Any, Any], labels: np.ndarray, classes: int) -> np.ndarray:
    """Keras's class_weight: each sample weighs class_weight[its class] (1.0 when absent).

    Args:
        labels: class indices (N,); classes: how many the model outputs (2 for one sigmoid).
    """
    if not isinstance(class_weight, Mapping):
        raise TypeError(f"`class_weight` must be a dict class -> weight, e.g. {{0: 1.0, 1: 5.0}}; got {type(class_weight).__name__}.")
    weights = np.ones(len(labels))
    for key, weight in class_weight.items():
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or not 0 <= key < classes:
            raise ValueError(
                f"`class_weight` has key {key!r}; classes are the integers 0..{classes - 1} for this model."
            )
        weights[labels == key] = number(weight, f"class_weight[{key}]")
    return weights
