"""The confusion-matrix figure (matplotlib). `SequenceClassifier.plot()` draws it, and
lstmkit.plot re-exports it beside the other figures. This module loads matplotlib; nothing
imports it before a figure is asked for, so `import lstmkit` never loads matplotlib.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure


def confusion_matrix_plot(matrix: Any, labels: Any = None, ax: Axes | None = None, normalize: bool = False) -> Axes:
    """A confusion matrix (rows true class, columns predicted) as an annotated heatmap.

    Args:
        matrix: (C, C) counts, e.g. from lstmkit.classification.confusion_matrix.
        labels: C class names; 0..C-1 when None.
        normalize: show each row as fractions of its true class.
    """
    counts = np.asarray(matrix)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"`matrix` must be square (classes, classes); got shape {counts.shape}.")
    classes = len(counts)
    labels = [str(label) for label in (range(classes) if labels is None else labels)]
    if len(labels) != classes:
        raise ValueError(f"`labels` has {len(labels)} names for {classes} classes.")
    shown = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalize else counts
    ax = ax or Figure(figsize=(2.7 + 0.7 * classes, 1.0 + 0.7 * classes), layout="constrained").add_subplot()
    image = ax.imshow(shown, cmap="Blues", vmin=0)
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    threshold = shown.max() / 2 if shown.size else 0
    for i in range(classes):
        for j in range(classes):
            text = f"{shown[i, j]:.2f}" if normalize else f"{int(counts[i, j])}"
            ax.text(j, i, text, ha="center", va="center", color="white" if shown[i, j] > threshold else "black")
    ax.set_xticks(range(classes), labels)
    ax.set_yticks(range(classes), labels)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    accuracy = np.trace(counts) / max(counts.sum(), 1)
    ax.set_title(f"Confusion matrix\naccuracy {accuracy:.1%} of {int(counts.sum())}")  # two lines fit 2 classes
    return ax
