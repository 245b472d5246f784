"""Time-series classification data as users have it: the UCR/UEA archive's files.

`load_ucr(path)` reads one split of a problem into (series, labels, classes):

    series   list of float64 arrays (T_i, D), one per case; lengths may differ
    labels   int64 array (N,) of class indices 0..C-1, ready for sparse_categorical_crossentropy
    classes  the C class labels as written in the file, in index order

Formats (by file suffix):
    .ts    the UEA/sktime format: "%"/"#" comments, "@" header lines, then one case per line,
           dimensions separated by ":", values by ",", the class label last. Unequal lengths
           (@equalLength false), multivariate (@dimensions / @multivariate), missing values "?".
    .tsv   the UCR 2018 format: a case per line, label first, tab-separated values; variable-
           length series are padded with NaN at the end, which is cut off here.
    .txt   the older UCR format: the same, whitespace-separated.
    .arff  Weka ARFF as the archive ships it: univariate (numeric attributes, class last) or
           multivariate (one relational attribute, each case "'d1 values\\nd2 values',label").

Pass the training split's `classes` when reading the test split, so the indices agree.

Bundled problems (`load_classification(name, split)`):
    ``Chinatown``  pedestrian counts in Melbourne's Chinatown for each hour of a day of 2017
    (24 values), class 1 weekend, 2 weekday; 20 training and 343 test days. City of Melbourne
    pedestrian counting system; prepared by H. A. Dau for the UCR archive (Dau et al., "The UCR
    Time Series Archive", IEEE/CAA J. Autom. Sinica 6(6), 2019). The files are the archive's
    .ts files verbatim, as copied in the sktime repository (sktime/datasets/data/Chinatown).
"""

from __future__ import annotations

import gzip
import os
from importlib import resources
from typing import Any, NamedTuple, Sequence

import numpy as np

from lstmkit.checks import choice

BUNDLED = {"Chinatown": "Chinatown"}
SPLITS = ("train", "test")


class UCRData(NamedTuple):
    """One split of a classification problem: `x, y, classes = load_ucr(path)`."""

    series: list[np.ndarray]  # (T_i, D) each
    labels: np.ndarray  # (N,) int64 class indices
    classes: list[str]


def load_ucr(path: str | os.PathLike, classes: Sequence[str] | None = None) -> UCRData:
    """Read a UCR/UEA archive file (.ts, .tsv, .txt or .arff, each also gzipped as .gz); see the
    module docstring.

    Args:
        path: the file.
        classes: the class labels in index order (the training split's `classes`); by
            default the file's own (@classLabel / the ARFF class attribute / sorted).

    Raises:
        ValueError: a malformed line or a label not in `classes`, naming the line.
    """
    path = os.fspath(path)
    compressed = path.lower().endswith(".gz")
    suffix = os.path.splitext(path[:-3] if compressed else path)[1].lower()
    readers = {".ts": _read_ts, ".tsv": _read_delimited, ".txt": _read_delimited, ".arff": _read_arff}
    if suffix not in readers:
        raise ValueError(f"{path!r}: unsupported file type {suffix!r}; pass a .ts, .tsv, .txt or .arff file "
                         f"(or one of those gzipped, ending in .gz).")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no UCR/UEA file at {path!r}.")
    opener = gzip.open if compressed else open
    with opener(path, "rt", encoding="utf-8") as handle:
        series, raw_labels, declared = readers[suffix](handle.read().splitlines(), path)
    if not series:
        raise ValueError(f"{path!r} holds no cases.")
    return UCRData(series, *_encode(raw_labels, classes or declared, path))


def load_classification(name: str, split: str = "train", classes: Sequence[str] | None = None) -> UCRData:
    """A bundled UCR problem: `load_classification("Chinatown", "test")`. See the module docstring."""
    choice(name, "name", BUNDLED, kind="bundled problem")
    choice(split, "split", SPLITS)
    filename = f"{BUNDLED[name]}_{split.upper()}.ts"
    with resources.as_file(resources.files("lstmkit.datasets").joinpath(filename)) as path:
        return load_ucr(path, classes)


def _encode(raw: list[str], classes: Sequence[str] | None, path: str) -> tuple[np.ndarray, list[str]]:
    if classes is None:
        classes = sorted(set(raw), key=_label_order)
    classes = [str(c) for c in classes]
    index = {label: k for k, label in enumerate(classes)}
    unknown = next((i for i, label in enumerate(raw) if label not in index), None)
    if unknown is not None:
        raise ValueError(
            f"{path!r} case {unknown} has class label {raw[unknown]!r}, not one of {classes}."
        )
    return np.array([index[label] for label in raw], dtype=np.int64), classes


def _label_order(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def _values(text: str, path: str, line: int) -> np.ndarray:
    try:
        return np.array([np.nan if v.strip() in ("?", "") else float(v) for v in text.split(",")], dtype=np.float64)
    except ValueError:
        raise ValueError(f"{path!r} line {line}: {text[:60]!r} is not a comma-separated list of numbers.") from None


def _read_ts(lines: list[str], path: str) -> tuple[list[np.ndarray], list[str], list[str] | None]:
    series, labels, declared, in_data = [], [], None, False
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith(("%", "#")):
            continue
        if not in_data:
            words = text.split()
            keyword = words[0].lower()
            if keyword == "@timestamps" and len(words) > 1 and words[1].lower() == "true":
                raise ValueError(f"{path!r}: .ts files with @timeStamps true are not supported.")
            if keyword == "@classlabel" and len(words) > 1 and words[1].lower() == "true":
                declared = words[2:]
            if keyword == "@targetlabel" and len(words) > 1 and words[1].lower() == "true":
                raise ValueError(f"{path!r} is a regression problem (@targetLabel); lstmkit.ucr reads classification.")
            in_data = keyword == "@data"
            continue
        *dimensions, label = text.split(":")
        if not dimensions:
            raise ValueError(f"{path!r} line {number}: expected values then ':label'; got {text[:60]!r}.")
        values = [_values(d, path, number) for d in dimensions]
        lengths = {len(v) for v in values}
        if len(lengths) != 1:
            raise ValueError(
                f"{path!r} line {number} (case {len(series)}): its dimensions have different lengths "
                f"{[len(v) for v in values]}; lstmkit needs one length per case."
            )
        case = np.stack(values, axis=1)  # (T, D)
        series.append(_trim_trailing_nan(case))
        labels.append(label.strip())
    if series and len({s.shape[1] for s in series}) != 1:
        first = next(i for i, s in enumerate(series) if s.shape[1] != series[0].shape[1])
        raise ValueError(f"{path!r} case {first} has {series[first].shape[1]} dimensions; case 0 has {series[0].shape[1]}.")
    return series, labels, declared


def _read_delimited(lines: list[str], path: str) -> tuple[list[np.ndarray], list[str], None]:
    series, labels = [], []
    tab = path.lower().endswith(".tsv")
    for number, line in enumerate(lines, 1):
        fields = line.split("\t") if tab else line.split()
        if not line.strip():
            continue
        try:
            values = np.array([float(v) for v in fields[1:]], dtype=np.float64)
        except ValueError:
            raise ValueError(f"{path!r} line {number}: expected a label then numbers; got {line[:60]!r}.") from None
        label = fields[0].strip()
        labels.append(str(int(float(label))) if _is_whole(label) else label)
        series.append(_trim_trailing_nan(values[:, None]))
    return series, labels, None


def _is_whole(text: str) -> bool:
    try:
        return float(text) == int(float(text))
    except ValueError:
        return False


def _read_arff(lines: list[str], path: str) -> tuple[list[np.ndarray], list[str], list[str] | None]:
    declared, in_data, series, labels = None, False, [], []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("%"):
            continue
        if not in_data:
            lower = text.lower()
            if lower.startswith("@attribute") and "{" in text and "relational" not in lower:
                declared = [c.strip().strip("'\"") for c in text[text.index("{") + 1 : text.rindex("}")].split(",")]
            in_data = lower.startswith("@data")
            continue
        if text.startswith("'") or text.startswith('"'):  # relational: 'dim1\ndim2',label
            quote = text[0]
            end = text.rindex(quote)
            dimensions = text[1:end].replace("\\n", "\n").split("\n")
            values = [_values(d, path, number) for d in dimensions]
            if len({len(v) for v in values}) != 1:
                raise ValueError(f"{path!r} line {number}: dimensions of different lengths.")
            case = np.stack(values, axis=1)
            label = text[end + 1 :].lstrip(",").strip()
        else:
            *numbers, label = text.split(",")
            case = _values(",".join(numbers), path, number)[:, None]
        series.append(_trim_trailing_nan(case))
        labels.append(label.strip().strip("'\""))
    return series, labels, declared


def _trim_trailing_nan(case: np.ndarray) -> np.ndarray:
    """Drop the steps after the last one with any value (the archive pads short series with NaN)."""
    present = ~np.isnan(case).all(axis=1)
    last = len(present) - int(np.argmax(present[::-1])) if present.any() else 0
    return case[:last]


def one_nn_euclidean(train: Sequence[np.ndarray], train_labels: np.ndarray, test: Sequence[np.ndarray]) -> np.ndarray:
    """The archive's baseline: each test case gets the label of its nearest training case
    (Euclidean distance over all steps and dimensions; equal lengths needed).

    Returns:
        predicted class indices (N_test,).
    """
    a = np.stack([np.asarray(s, dtype=np.float64).reshape(-1) for s in train])
    b = np.stack([np.asarray(s, dtype=np.float64).reshape(-1) for s in test])
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"1-NN Euclidean needs equal lengths; train cases have {a.shape[1]} values, test {b.shape[1]}.")
    distances = (b**2).sum(axis=1)[:, None] - 2 * b @ a.T + (a**2).sum(axis=1)[None, :]
    return np.asarray(train_labels)[distances.argmin(axis=1)]


def describe(data: UCRData) -> dict[str, Any]:
    """Cases, dimensions, length range and class counts of a split."""
    lengths = [len(s) for s in data.series]
    counts = np.bincount(data.labels, minlength=len(data.classes))
    return {
        "cases": len(data.series),
        "dimensions": data.series[0].shape[1],
        "min_length": min(lengths),
        "max_length": max(lengths),
        "class_counts": dict(zip(data.classes, counts.tolist())),
    }
