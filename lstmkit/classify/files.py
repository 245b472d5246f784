"""SequenceClassifier files: one lstmkit model file (lstmkit.saving) holding every member's
weights and the (normalised) training sequences as safetensors float tensors (counts as
float64) and, as JSON, the settings, the normalisation, the classes and the fit's notes.
Nothing is pickled; loading never runs code from the file.

Class labels are stored as JSON values with their type ({"type": "int", "value": 3}), so a
loaded classifier returns the same labels: str, int, float and bool labels can be saved;
others (tuples, dates, ...) raise a TypeError naming the label.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Hashable

import numpy as np
import pandas as pd
import torch

from lstmkit.classify.inputs import Normalizer
from lstmkit.classify.network import build_network
from lstmkit.models import Sequential
from lstmkit.saving import read_model_file, write_model_file

if TYPE_CHECKING:
    from lstmkit.classify.classifier import SequenceClassifier

LABEL_TYPES = {"bool": bool, "int": int, "float": float, "str": str}


def _label_entry(label: Hashable) -> dict[str, Any]:
    kind = type(label).__name__
    if kind not in LABEL_TYPES:
        raise TypeError(f"class label {label!r} ({kind}) cannot be saved; save() keeps str, int, float and bool "
                        f"labels. Map the labels to strings before fit to save this classifier.")
    return {"type": kind, "value": label}


def save_classifier(classifier: "SequenceClassifier", path: str | os.PathLike) -> None:
    """Write a fitted classifier to `path` atomically."""
    class_weight = classifier.class_weight
    if isinstance(class_weight, dict):
        class_weight = [[_label_entry(label), float(weight)] for label, weight in class_weight.items()]
    table = classifier.validation_table_
    config = {
        "kind": "SequenceClassifier",
        "classifier": {**classifier.get_config(), "class_weight": class_weight},
        "custom_model": None if classifier.model is None else classifier.members_[0].get_config(),
        "classes": [_label_entry(label) for label in classifier.classes_],
        "channels": classifier.channels_, "columns": classifier.columns_,
        "normalizer": classifier.normalizer_.state(), "normalization_note": classifier.normalization_note_,
        "class_weight_note": classifier.class_weight_note_, "best_epochs": classifier.best_epochs_,
        "fit_seconds": classifier.fit_seconds_,
        "validation": None if classifier.validation_ is None else classifier.validation_.tolist(),
        "validation_table": None if table is None else table.reset_index().to_dict(orient="list"),
        "validation_notes": getattr(classifier, "validation_notes_", []),
    }
    tensors = {f"members.{j}.{key}": value for j, member in enumerate(classifier.members_)
               for key, value in member.state_dict().items()}
    tensors["train.values"] = torch.from_numpy(np.concatenate(classifier.train_series_))
    tensors["train.lengths"] = torch.tensor([len(s) for s in classifier.train_series_])
    tensors["train.targets"] = torch.from_numpy(classifier.train_targets_)
    # Model files hold float tensors only: counts (lengths, class indices, BatchNorm's
    # num_batches_tracked) go as float64, exact for whole numbers below 2**53, and come back as int64.
    write_model_file(path, config, {name: t if t.is_floating_point() else t.to(torch.float64)
                                    for name, t in tensors.items()})


def load_classifier(cls: type["SequenceClassifier"], path: str | os.PathLike) -> "SequenceClassifier":
    """Rebuild a SequenceClassifier from `path`."""
    config, tensors = read_model_file(path)
    if config.get("kind") != "SequenceClassifier":
        raise ValueError(f"{str(path)!r} holds no SequenceClassifier (kind {config.get('kind', 'Sequential')!r}); "
                         f"load it with lstmkit.load_model or its own class's load().")
    try:
        settings = dict(config["classifier"])
        if isinstance(settings["class_weight"], list):
            settings["class_weight"] = {_label(entry): weight for entry, weight in settings["class_weight"]}
        template = None if config["custom_model"] is None else Sequential.from_config(config["custom_model"])
        classifier = cls(**settings, model=template)
        classifier.classes_ = [_label(entry) for entry in config["classes"]]
        classifier.channels_ = config["channels"]
        for j in range(len(config["best_epochs"])):
            member = build_network(classifier, classifier.channels_, len(classifier.classes_))
            prefix = f"members.{j}."
            member.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
            member.eval()
            classifier.members_.append(member)
        _restore(classifier, config, tensors)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{str(path)!r} holds a damaged SequenceClassifier: {err}.") from None
    return classifier


def _label(entry: dict[str, Any]) -> Hashable:
    if entry["type"] not in LABEL_TYPES:
        raise ValueError(f"unknown label type {entry['type']!r}")
    return LABEL_TYPES[entry["type"]](entry["value"])


def _restore(classifier: "SequenceClassifier", config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    classifier.columns_ = config["columns"]
    classifier.normalizer_ = Normalizer.from_state(config["normalizer"])
    classifier.normalization_note_ = config["normalization_note"]
    classifier.class_weight_note_ = config["class_weight_note"]
    classifier.best_epochs_ = config["best_epochs"]
    classifier.fit_seconds_ = config["fit_seconds"]
    classifier.histories_ = []
    validation = config["validation"]
    classifier.validation_ = None if validation is None else np.asarray(validation, dtype=np.int64)
    table = config["validation_table"]
    classifier.validation_table_ = None if table is None else pd.DataFrame(table).set_index("index")
    if classifier.validation_table_ is not None:
        classifier.validation_table_.index.name = None
    classifier.validation_notes_ = config["validation_notes"]
    values = tensors["train.values"].numpy()
    ends = np.cumsum(tensors["train.lengths"].numpy().astype(np.int64))
    classifier.train_series_ = np.split(values, ends[:-1])
    classifier.train_targets_ = tensors["train.targets"].numpy().astype(np.int64)
