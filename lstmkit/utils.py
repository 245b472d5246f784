"""Small helpers with Keras's names (`keras.utils`): `to_categorical`."""

from __future__ import annotations

from typing import Any

import numpy as np

from lstmkit.checks import positive_int

__all__ = ["to_categorical"]


def to_categorical(y: Any, num_classes: int | None = None, dtype: str = "float32") -> np.ndarray:
    """Class ids (any shape of non-negative integers) as one-hot rows, as Keras's to_categorical.

    Args:
        y: class ids, e.g. [0, 2, 1].
        num_classes: how many classes (default: the largest id + 1).
        dtype: of the result.

    Returns:
        An array of y's shape plus a last axis of `num_classes` (a trailing axis of size 1 is
        dropped first, as Keras does).

    Example:
        >>> to_categorical([0, 2, 1])
        array([[1., 0., 0.], [0., 0., 1.], [0., 1., 0.]], dtype=float32)
    """
    values = np.asarray(y)
    if values.size and (values.dtype.kind not in "iub" and not np.all(np.mod(values, 1) == 0)):
        raise ValueError(f"to_categorical takes integer class ids; got values of dtype {values.dtype} "
                         f"such as {values.flat[0]!r}. Map labels to 0..K-1 first (np.unique(y, return_inverse=True)).")
    ids = values.astype(np.int64)
    if ids.size and ids.min() < 0:
        raise ValueError(f"to_categorical takes class ids >= 0; got {int(ids.min())}.")
    if ids.ndim > 1 and ids.shape[-1] == 1:
        ids = ids[..., 0]
    largest = int(ids.max()) + 1 if ids.size else 0
    if num_classes is None:
        num_classes = largest
    else:
        num_classes = positive_int(num_classes, "num_classes", minimum=largest,
                                   hint="It must exceed every class id; or leave it None.")
    return np.eye(num_classes, dtype=dtype)[ids]
