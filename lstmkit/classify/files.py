"""SequenceClassifier files: one lstmkit model file (lstmkit.saving) holding every member's
weights and the (normalised) training sequences as safetensors float tensors (counts as
float64) and, as JSON, the settings, the normalisation, the classes and the fit's notes.
Nothing is pickled; loading never runs code from the file.

Class labels are stored as JSON values with their type ({"type": "int", "value": 3}), so a
loaded classifier returns the same labels: str, int, float and bool labels can be saved;
others (tuples, dates, ...) raise a TypeError naming the label.

Loading checks the whole file before anything is built, as lstmkit.load_model does: the JSON
against CLASSIFIER_FILE (every field's type and range: settings, labels, normaliser, notes,
validation part and its scores), then the fields against each other (one best epoch per ensemble
member, one mean and deviation per channel, validation positions among the training sequences),
then every tensor's name, shape and dtype against the network those settings give (built on the
meta device: no memory) and the training sequences' tensors against the channels and classes.
Only then are the tensors read (their checksums verified) and the members built. Every failure
is a lstmkit.saving.ModelFileError (a ValueError) naming the field at fault.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any, Hashable

import numpy as np
import pandas as pd
import torch

from lstmkit.classify.inputs import NORMALIZATIONS, Normalizer
from lstmkit.classify.metrics import METRICS
from lstmkit.classify.network import ARCHITECTURES, build_network, compile_network
from lstmkit.layers import MAX_UNITS
from lstmkit.models import Sequential, materialize
from lstmkit.saving import ModelFile, ModelFileError, open_model_file, write_model_file
from lstmkit.schema import (MAX_INT, Anything, Bool, ConfigError, Custom, Fields, Float, Int, ListOf, Nullable,
                            OneOf, Str, check_round_trip, schema_from_signature)

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
        "averaging": classifier.averaging_,
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


_MANY = 10**8  # list lengths: the file's size bounds them
_NOTE = Str(max_length=10**6)
_ROWS = ("classifier", "majority class", "1-NN Euclidean", "1-NN DTW")
_TRAIN_TENSORS = ("train.values", "train.lengths", "train.targets")


def _label_spec(entry: Any, key: str) -> Hashable:
    """A saved label ({"type": "int", "value": 3}) -> the label, its value of the type it names."""
    entry = Fields({"type": Str(choices=LABEL_TYPES), "value": Anything()},
                   required={"type", "value"}).check(entry, key)
    value_spec = {"bool": Bool(), "int": Int(-(2**53), 2**53), "float": Float(), "str": Str(max_length=10**4)}
    return LABEL_TYPES[entry["type"]](value_spec[entry["type"]].check(entry["value"], f"{key}.value"))


def _file_schema(cls: type["SequenceClassifier"]) -> Fields:
    """What a SequenceClassifier file's config holds (save_classifier writes it)."""
    settings = schema_from_signature(cls, skip=("model",))
    settings.fields.update(
        architecture=Str(choices=ARCHITECTURES), units=Int(1, MAX_UNITS), filters=ListOf(Int(1, MAX_UNITS), 3, 3),
        dropout=Float(0.0, 1.0, below=1.0), epochs=Int(1, MAX_INT), batch_size=Int(1, MAX_INT),
        learning_rate=Float(0.0, 1e6), patience=Int(0, MAX_INT), normalize=Str(choices=NORMALIZATIONS),
        max_length=Nullable(Int(1, MAX_INT)), ensemble=Int(1, 10**4), validation_split=Float(0.0, 1.0, below=1.0),
        seed=Int(0, MAX_INT),
        class_weight=Nullable(OneOf(Str(choices=("auto", "balanced")),
                                    ListOf(ListOf(Anything(), 2, 2), _MANY), expected="'auto', 'balanced' or "
                                    "[[label, weight], ...]")))
    table = Fields({"index": ListOf(Str(choices=_ROWS), len(_ROWS), 1),
                    **{metric: ListOf(Float(0.0, 1.0 if metric != "log_loss" else math.inf, allow_nan=True),
                                       len(_ROWS), 1) for metric in METRICS}},
                   required={"index", *METRICS})
    return Fields({
        "kind": Str(choices=("SequenceClassifier",)), "classifier": settings, "custom_model": Anything(),
        "classes": ListOf(Custom(_label_spec), _MANY, min_items=2), "channels": Int(1, MAX_UNITS),
        "columns": Fields({name: Nullable(Str()) for name in ("id_col", "time_col", "label_col")},
                          required={"id_col", "time_col", "label_col"}),
        "normalizer": Fields({"kind": Str(choices=NORMALIZATIONS[1:]), "mean": Nullable(ListOf(Float(), MAX_UNITS)),
                              "std": Nullable(ListOf(Float(0.0), MAX_UNITS))}, required={"kind", "mean", "std"}),
        "normalization_note": _NOTE, "class_weight_note": _NOTE, "best_epochs": ListOf(Int(1, MAX_INT), 10**4, 1),
        "fit_seconds": Float(0.0), "validation": Nullable(ListOf(Int(0, MAX_INT), _MANY, 1)),
        "validation_table": Nullable(table), "validation_notes": ListOf(_NOTE, 8), "averaging": Int(1, MAX_INT),
    }, required={"kind", "classifier", "custom_model", "classes", "channels", "columns", "normalizer",
                 "normalization_note", "class_weight_note", "best_epochs", "fit_seconds", "validation",
                 "validation_table", "validation_notes"})  # "averaging": files written before it read as 1


def load_classifier(cls: type["SequenceClassifier"], path: str | os.PathLike) -> "SequenceClassifier":
    """Rebuild a SequenceClassifier from `path`, checking it all first (see the module docstring)."""
    file = open_model_file(path)
    if file.config.get("kind") != "SequenceClassifier":
        kind = str(file.config.get("kind", "Sequential"))[:40]
        raise ModelFileError(f"{str(path)!r} holds no SequenceClassifier (kind {kind!r}); load it with "
                             f"lstmkit.load_model or its own class's load().")
    try:
        config = _file_schema(cls).check(file.config, "config")
        classifier = _settings(cls, config)
        _check_consistent(classifier, config, file)
        with torch.device("meta"):
            network = build_network(classifier, classifier.channels_, len(classifier.classes_), compile=False)
    except Exception as err:  # ConfigError, the constructor's checks: the file is at fault
        raise file.error(str(err)) from None
    expected = {name: (tuple(value.shape), value.is_floating_point()) for name, value in network.state_dict().items()}
    for j in range(classifier.ensemble):
        _check_member(file, expected, f"members.{j}.")
    tensors = file.tensors()
    try:
        _check_training_sequences(file, tensors, classifier)
    except ValueError as err:
        raise file.error(str(err)) from None
    try:
        for j in range(classifier.ensemble):
            with torch.device("meta"):
                member = build_network(classifier, classifier.channels_, len(classifier.classes_), compile=False)
            prefix = f"members.{j}."
            materialize(member, {key: tensors[prefix + key] for key in expected})
            compile_network(member, classifier.learning_rate)
            member.eval()
            classifier.members_.append(member)
        _restore(classifier, config, tensors)
    except Exception as err:  # the checks above should leave none: whatever it is, the file is at fault
        raise file.error(f"{type(err).__name__}: {err}") from None
    return classifier


def _settings(cls: type["SequenceClassifier"], config: dict[str, Any]) -> "SequenceClassifier":
    """The classifier the settings give (its own checks), with its classes; refuses settings
    that would not load as written."""
    settings = dict(config["classifier"])
    classes = config["classes"]
    if len(set(classes)) != len(classes):
        raise ConfigError("config.classes", f"<{len(classes)} labels>", "distinct labels")
    if isinstance(settings.get("class_weight"), list):
        pairs = [(_label_spec(label, f"config.classifier.class_weight[{k}][0]"),
                  Float(0.0).check(weight, f"config.classifier.class_weight[{k}][1]"))
                 for k, (label, weight) in enumerate(settings["class_weight"])]
        unknown = [label for label, _ in pairs if label not in classes]
        if unknown or len({label for label, _ in pairs}) != len(pairs):
            raise ConfigError("config.classifier.class_weight", unknown[:1] or "<repeated labels>",
                              "distinct labels among config.classes")
        settings["class_weight"] = dict(pairs)
    template = None
    if config["custom_model"] is not None:
        template = Sequential.check_config(config["custom_model"], "config.custom_model")
    classifier = cls(**settings, model=template)
    check_round_trip({k: v for k, v in config["classifier"].items() if k != "class_weight"},
                     classifier.get_config(), "config.classifier")
    classifier.classes_, classifier.channels_ = classes, config["channels"]
    return classifier


def _check_consistent(classifier: "SequenceClassifier", config: dict[str, Any], file: ModelFile) -> None:
    """The fields against each other and against the tensors the file lists; raises ConfigError."""
    if len(config["best_epochs"]) != classifier.ensemble or max(config["best_epochs"]) > classifier.epochs:
        raise ConfigError("config.best_epochs", config["best_epochs"],
                          f"{classifier.ensemble} epochs (ensemble), each at most epochs={classifier.epochs}")
    members = {name.split(".")[1] for name in file.entries if name.startswith("members.")}
    if members != {str(j) for j in range(classifier.ensemble)}:
        raise ConfigError("config.classifier.ensemble", classifier.ensemble,
                          f"the number of members whose weights the file holds ({len(members)})")
    normalizer = config["normalizer"]
    per_channel = normalizer["kind"] == "per-channel"
    for name in ("mean", "std"):
        values = normalizer[name]
        if (values is None) == per_channel or (per_channel and len(values) != classifier.channels_):
            raise ConfigError(f"config.normalizer.{name}", values, f"{classifier.channels_} numbers, one per "
                              f"channel, for per-channel normalisation; null otherwise")
    if per_channel and min(normalizer["std"]) <= 0:
        raise ConfigError("config.normalizer.std", normalizer["std"], "positive deviations")
    if config.get("averaging", 1) > 1 and classifier.max_length is None:
        raise ConfigError("config.averaging", config["averaging"], "1 when max_length is null")
    lengths = file.entries.get("train.lengths")
    count = lengths.shape[0] if lengths is not None and len(lengths.shape) == 1 else 0
    validation = config["validation"]
    if validation is not None and (validation != sorted(set(validation)) or validation[-1] >= count
                                   or len(validation) >= count):
        raise ConfigError("config.validation", validation, f"increasing positions among the {count} training "
                          f"sequences, some left for training")
    table = config["validation_table"]
    if (table is None) != (validation is None) or (table is not None and len({len(v) for v in table.values()}) != 1):
        raise ConfigError("config.validation_table", table, "one score per row and metric, when there is a "
                          "validation part; null otherwise")


def _check_member(file: ModelFile, expected: dict[str, tuple[tuple[int, ...], bool]], prefix: str) -> None:
    """One member's tensors against the network's: names, shapes, and dtypes (the weights F32 or
    F64 alike; counts, BatchNorm's num_batches_tracked, F64)."""
    found = {name[len(prefix):]: entry for name, entry in file.entries.items() if name.startswith(prefix)}
    if set(found) != set(expected):
        missing, unexpected = sorted(set(expected) - set(found))[:3], sorted(set(found) - set(expected))[:3]
        raise file.error(f"its weights do not match its architecture (missing {missing}, unexpected {unexpected})")
    for key, (shape, floating) in expected.items():
        if found[key].shape != shape:
            raise file.error(f"tensor {prefix + key!r} has shape {list(found[key].shape)} where the architecture "
                             f"gives {list(shape)}")
        if not floating and found[key].dtype != "F64":
            raise file.error(f"tensor {prefix + key!r} holds a count as {found[key].dtype}; expected F64")
    if len({found[key].dtype for key, (_, floating) in expected.items() if floating}) != 1 or \
            any(found[key].dtype not in ("F32", "F64") for key in found):
        raise file.error(f"the weights of {prefix[:-1]!r} mix dtypes or are not F32/F64")


def _check_training_sequences(file: ModelFile, tensors: dict[str, torch.Tensor],
                              classifier: "SequenceClassifier") -> None:
    """train.values (steps, channels), train.lengths and train.targets (sequences,): whole numbers
    that add up, classes in range, finite values; and no other tensor."""
    extra = [name for name in file.entries if not name.startswith(("members.", *_TRAIN_TENSORS))]
    missing = [name for name in _TRAIN_TENSORS if name not in file.entries]
    if extra or missing or any(file.entries[name].dtype not in ("F32", "F64") for name in _TRAIN_TENSORS):
        raise ValueError(f"its tensors are not the members' and {list(_TRAIN_TENSORS)} (unexpected {extra[:3]}, "
                         f"missing {missing})")
    values, lengths, targets = (tensors[name].numpy() for name in _TRAIN_TENSORS)
    if values.ndim != 2 or values.shape[1] != classifier.channels_ or lengths.ndim != 1 or \
            targets.shape != lengths.shape or len(lengths) == 0:
        raise ValueError(f"training sequences of shapes {values.shape}, {lengths.shape}, {targets.shape}; expected "
                         f"(steps, {classifier.channels_}), (sequences,), (sequences,)")
    if not (np.all(lengths == np.round(lengths)) and lengths.min() >= 1 and lengths.sum() == len(values)):
        raise ValueError("train.lengths: expected whole numbers >= 1 adding up to the steps of train.values")
    if not (np.all(targets == np.round(targets)) and targets.min() >= 0 and targets.max() < len(classifier.classes_)):
        raise ValueError(f"train.targets: expected class indices 0..{len(classifier.classes_) - 1}")
    if not np.isfinite(values).all():
        raise ValueError("train.values holds NaN or infinite values")


def _restore(classifier: "SequenceClassifier", config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    classifier.columns_ = config["columns"]
    classifier.normalizer_ = Normalizer.from_state(config["normalizer"])
    classifier.normalization_note_ = config["normalization_note"]
    classifier.class_weight_note_ = config["class_weight_note"]
    classifier.best_epochs_ = config["best_epochs"]
    classifier.fit_seconds_ = config["fit_seconds"]
    classifier.averaging_ = config.get("averaging", 1)
    classifier.histories_ = []
    validation = config["validation"]
    classifier.validation_ = None if validation is None else np.asarray(validation, dtype=np.int64)
    table = config["validation_table"]
    classifier.validation_table_ = None if table is None else pd.DataFrame(table).set_index("index")
    if classifier.validation_table_ is not None:
        classifier.validation_table_.index.name = None
    classifier.validation_notes_ = config["validation_notes"]
    values = np.asarray(tensors["train.values"].numpy(), dtype=np.float64)
    ends = np.cumsum(tensors["train.lengths"].numpy().astype(np.int64))
    classifier.train_series_ = np.split(values, ends[:-1])
    classifier.train_targets_ = tensors["train.targets"].numpy().astype(np.int64)
