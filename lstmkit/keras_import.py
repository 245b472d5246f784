"""Read Keras model files into lstmkit, without TensorFlow or Keras: `load_keras(path)`.

Two formats hold a Sequential model's architecture (JSON) and weights (HDF5, read with h5py):

    .keras   Keras 3: a zip of config.json and model.weights.h5, whose groups
             layers/<layer>/[cell/|forward_layer/cell/|backward_layer/cell/]vars/<i> hold each
             layer's weights in `get_weights()` order
    .h5      Keras 2 (and Keras 3's legacy saver): the attribute model_config (JSON) and the
             group model_weights/<layer name>, whose attribute weight_names lists the weights
             in `get_weights()` order

Keras's LSTM weights have lstmkit's layout already (DESIGN.md), so they are copied as they are.
Each Keras layer class has one converter (KERAS_CONVERTERS) from its config to an lstmkit layer;
an option lstmkit has no equivalent for is an error naming the layer and the option. Options
that only shape training (initializers, regularizers, constraints, seeds) are not needed to
predict and are passed over.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from typing import Any, Callable

import numpy as np

from lstmkit.layers import LAYERS, LSTM, Bidirectional, Dense, Dropout, Layer, Masking, _snake_case
from lstmkit.models import Sequential
from lstmkit.ops.activations import ACTIVATIONS

INSTALL_HINT = 'reading Keras files needs h5py: pip install "lstmkit[keras]".'

# Options that shape only training or storage, not what a trained layer computes.
_TRAINING_ONLY = {
    "name", "trainable", "dtype", "seed", "unroll", "implementation", "zero_output_for_mask",
    "kernel_initializer", "recurrent_initializer", "bias_initializer", "kernel_regularizer",
    "recurrent_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint",
    "recurrent_constraint", "bias_constraint", "batch_input_shape", "batch_shape", "input_shape",
    "input_dim", "input_length", "embeddings_initializer", "embeddings_regularizer", "embeddings_constraint",
}
# Options lstmkit has only at one value: option -> the values it accepts.
_FIXED = {"use_bias": (True,), "time_major": (False,), "return_state": (False,), "noise_shape": (None,),
          "lora_rank": (None, 0), "lora_alpha": (None,), "quantization_config": (None,)}


class _Context:
    """What converters need beyond a layer's config: the file (for messages) and its Keras version."""

    def __init__(self, path: str, keras_version: str) -> None:
        self.path, self.keras_version = path, keras_version

    def error(self, layer: dict[str, Any], message: str) -> ValueError:
        name = layer["config"].get("name", "?")
        return ValueError(f"{self.path!r}: layer {name!r} ({layer['class_name']}): {message}")

    def options(self, layer: dict[str, Any], mapped: set[str]) -> dict[str, Any]:
        """The layer's config, checked: every option is mapped, training-only, or at lstmkit's value."""
        config = layer["config"]
        for option, value in config.items():
            if option in mapped or option in _TRAINING_ONLY:
                continue
            if option in _FIXED and value in _FIXED[option]:
                continue
            if option in _FIXED:
                raise self.error(layer, f"option {option}={value!r} is not supported by lstmkit "
                                        f"(it has only {option}={_FIXED[option][0]!r}).")
            raise self.error(layer, f"option {option}={value!r} has no lstmkit equivalent.")
        return config

    def activation(self, layer: dict[str, Any], value: Any) -> str:
        name = value.get("config", {}).get("name", value.get("class_name")) if isinstance(value, dict) else value
        name = "linear" if name is None else str(name)
        if name == "hard_sigmoid" and self.keras_version.startswith(("1.", "2.")):
            raise self.error(layer, "Keras 2's hard_sigmoid is clip(0.2x + 0.5, 0, 1), but lstmkit's is Keras 3's "
                                    "relu6(x + 3) / 6; the numbers would differ. Retrain with 'sigmoid'.")
        if name not in ACTIVATIONS:
            raise self.error(layer, f"activation {name!r} is not one lstmkit has ({', '.join(sorted(ACTIVATIONS))}).")
        return name


# -- converters: one per Keras layer class; (layer entry, context) -> lstmkit layer -------------------
KerasConverter = Callable[[dict[str, Any], _Context], Layer]
KERAS_CONVERTERS: dict[str, KerasConverter] = {}


def keras_converter(class_name: str) -> Callable[[KerasConverter], KerasConverter]:
    """Register the converter of Keras layer class `class_name`."""
    def register(function: KerasConverter) -> KerasConverter:
        KERAS_CONVERTERS[class_name] = function
        return function
    return register


_LSTM_OPTIONS = {"units", "activation", "recurrent_activation", "return_sequences", "go_backwards", "stateful",
                 "dropout", "recurrent_dropout", "unit_forget_bias"}


@keras_converter("LSTM")
def _lstm(layer: dict[str, Any], context: _Context) -> LSTM:
    config = context.options(layer, _LSTM_OPTIONS)
    return LSTM(
        config["units"],
        activation=context.activation(layer, config.get("activation", "tanh")),
        recurrent_activation=context.activation(layer, config.get("recurrent_activation", "sigmoid")),
        return_sequences=config.get("return_sequences", False),
        dropout=config.get("dropout", 0.0),
        recurrent_dropout=config.get("recurrent_dropout", 0.0),
        unit_forget_bias=config.get("unit_forget_bias", True),
        go_backwards=config.get("go_backwards", False),
        stateful=config.get("stateful", False),
        name=config.get("name"),
    )


def _gru(layer: dict[str, Any], context: _Context) -> Layer:
    config = context.options(layer, {*_LSTM_OPTIONS - {"unit_forget_bias"}, "use_bias", "reset_after"})
    if not config.get("reset_after", True):
        raise context.error(layer, "option reset_after=False is not supported by lstmkit (its GRU applies the reset "
                                   "gate after the recurrent product, Keras's reset_after=True).")
    return LAYERS["GRU"](
        config["units"], activation=context.activation(layer, config.get("activation", "tanh")),
        recurrent_activation=context.activation(layer, config.get("recurrent_activation", "sigmoid")),
        use_bias=config.get("use_bias", True), return_sequences=config.get("return_sequences", False),
        dropout=config.get("dropout", 0.0), recurrent_dropout=config.get("recurrent_dropout", 0.0),
        go_backwards=config.get("go_backwards", False), stateful=config.get("stateful", False), name=config.get("name"))


def _simple_rnn(layer: dict[str, Any], context: _Context) -> Layer:
    config = context.options(layer, {*_LSTM_OPTIONS - {"unit_forget_bias", "recurrent_activation"}, "use_bias"})
    return LAYERS["SimpleRNN"](
        config["units"], activation=context.activation(layer, config.get("activation", "tanh")),
        use_bias=config.get("use_bias", True), return_sequences=config.get("return_sequences", False),
        dropout=config.get("dropout", 0.0), recurrent_dropout=config.get("recurrent_dropout", 0.0),
        go_backwards=config.get("go_backwards", False), stateful=config.get("stateful", False), name=config.get("name"))


def _embedding(layer: dict[str, Any], context: _Context) -> Layer:
    config = context.options(layer, {"input_dim", "output_dim", "mask_zero"})
    return LAYERS["Embedding"](config["input_dim"], config["output_dim"], mask_zero=config.get("mask_zero", False),
                               name=config.get("name"))


def _repeat_vector(layer: dict[str, Any], context: _Context) -> Layer:
    config = context.options(layer, {"n"})
    return LAYERS["RepeatVector"](config["n"], name=config.get("name"))


def _time_distributed(layer: dict[str, Any], context: _Context) -> Layer:
    config = context.options(layer, {"layer"})
    inner = config["layer"]
    if inner.get("class_name") not in KERAS_CONVERTERS:
        raise context.error(layer, f"it wraps a Keras {inner.get('class_name')}, which lstmkit does not have yet.")
    return LAYERS["TimeDistributed"](KERAS_CONVERTERS[inner["class_name"]](inner, context), name=config.get("name"))


for _class_name, _converter in (("GRU", _gru), ("SimpleRNN", _simple_rnn), ("Embedding", _embedding),
                                ("RepeatVector", _repeat_vector), ("TimeDistributed", _time_distributed)):
    if _class_name in LAYERS:  # the layers this lstmkit has
        keras_converter(_class_name)(_converter)


@keras_converter("Dense")
def _dense(layer: dict[str, Any], context: _Context) -> Dense:
    config = context.options(layer, {"units", "activation", "use_bias"})
    return Dense(config["units"], activation=context.activation(layer, config.get("activation")),
                 use_bias=config.get("use_bias", True), name=config.get("name"))


@keras_converter("Dropout")
def _dropout(layer: dict[str, Any], context: _Context) -> Dropout:
    config = context.options(layer, {"rate"})
    return Dropout(config["rate"], name=config.get("name"))


@keras_converter("Masking")
def _masking(layer: dict[str, Any], context: _Context) -> Masking:
    config = context.options(layer, {"mask_value"})
    return Masking(config.get("mask_value", 0.0), name=config.get("name"))


@keras_converter("Bidirectional")
def _bidirectional(layer: dict[str, Any], context: _Context) -> Bidirectional:
    config = context.options(layer, {"layer", "merge_mode", "backward_layer"})
    inner = config["layer"]
    wrapped = [name for name in ("LSTM", "GRU", "SimpleRNN") if name in KERAS_CONVERTERS]
    if inner.get("class_name") not in wrapped:
        raise context.error(layer, f"lstmkit's Bidirectional wraps {' or '.join(wrapped)}; this one wraps a "
                                   f"{inner.get('class_name')}.")
    if config.get("merge_mode", "concat") not in Bidirectional.MERGE_MODES:
        raise context.error(layer, f"merge_mode={config.get('merge_mode')!r} is not supported by lstmkit "
                                   f"(it has {', '.join(Bidirectional.MERGE_MODES)}).")
    forward = KERAS_CONVERTERS[inner["class_name"]](inner, context)
    backward = config.get("backward_layer")
    if backward is not None:  # lstmkit's backward layer is the forward one's config, read the other way
        reversed_copy = {**inner["config"], "go_backwards": not inner["config"].get("go_backwards", False)}
        different = [key for key in reversed_copy if key != "name" and backward["config"].get(key) != reversed_copy[key]
                     and key not in _TRAINING_ONLY]
        if backward.get("class_name") != inner["class_name"] or different:
            raise context.error(layer, f"its backward_layer differs from the forward layer in {different or 'class'}; "
                                       f"lstmkit's backward layer is a copy of the forward one.")
    return Bidirectional(forward, merge_mode=config.get("merge_mode", "concat"), name=config.get("name"))


# -- files -----------------------------------------------------------------------------------------
def load_keras(path: str | os.PathLike) -> Sequential:
    """Read a Keras Sequential model from a `.keras` (Keras 3) or `.h5` (Keras 2) file.

    Args:
        path: the Keras file. Layers lstmkit reads: see KERAS_CONVERTERS (LSTM, Bidirectional of
            an LSTM, Dense, Dropout, Masking).

    Returns:
        an uncompiled lstmkit Sequential, in eval mode, whose `predict` gives Keras's numbers
        (float32 round-off). Call `compile` before training it further.

    Raises:
        ValueError: the file is not a Keras Sequential model, or holds a layer or option lstmkit
            lacks (the message names it).

    Example:
        >>> model = lstmkit.load_keras("temps.keras")
        >>> model.predict(X_test)
    """
    path = str(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no Keras file at {path!r}.")
    try:
        import h5py
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if not {"config.json", "model.weights.h5"} <= names:
                raise ValueError(f"{path!r} is a zip but not a Keras 3 archive (no config.json and model.weights.h5).")
            config = json.loads(archive.read("config.json"))
            metadata = json.loads(archive.read("metadata.json")) if "metadata.json" in names else {}
            with h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as weights_file:
                return _build(path, config, metadata.get("keras_version", "3"),
                              lambda entries: _archive_weights(weights_file, entries))
    if not h5py.is_hdf5(path):
        raise ValueError(f"{path!r} is neither a Keras 3 archive (.keras) nor an HDF5 file (.h5).")
    with h5py.File(path, "r") as handle:
        if "model_config" not in handle.attrs:
            raise ValueError(f"{path!r} is an HDF5 file without a model_config: it holds only weights (save_weights). "
                             f"lstmkit reads whole models saved with model.save().")
        raw = handle.attrs["model_config"]
        config = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        version = handle.attrs.get("keras_version", "2")
        version = version.decode() if isinstance(version, bytes) else str(version)
        group = handle["model_weights"] if "model_weights" in handle else handle
        return _build(path, config, version, lambda entries: _legacy_weights(group, entries))


def _build(path: str, config: dict[str, Any], keras_version: str,
           read_weights: Callable[[list[dict[str, Any]]], list[list[np.ndarray]]]) -> Sequential:
    context = _Context(path, keras_version)
    if config.get("class_name") != "Sequential":
        raise ValueError(f"{path!r} holds a Keras {config.get('class_name')} model; lstmkit reads Sequential models "
                         f"(a stack of layers).")
    entries = config["config"]
    entries = entries if isinstance(entries, list) else entries["layers"]  # Keras 2.0-2.2: a bare list
    input_shape = None
    layers_config = []
    for entry in entries:
        shape = entry["config"].get("batch_shape") or entry["config"].get("batch_input_shape")
        if shape is not None and input_shape is None:
            input_shape = tuple(shape[1:])
        if entry["class_name"] != "InputLayer":
            layers_config.append(entry)
    layers = []
    for entry in layers_config:
        class_name = entry["class_name"]
        if class_name not in KERAS_CONVERTERS:
            raise ValueError(f"{path!r}: layer {entry['config'].get('name')!r} is a Keras {class_name}, which lstmkit "
                             f"does not have yet; lstmkit reads {', '.join(sorted(KERAS_CONVERTERS))}.")
        layers.append(KERAS_CONVERTERS[class_name](entry, context))
    if input_shape is None:
        input_shape = tuple(config.get("build_config", {}).get("input_shape") or [None])[1:] or None
    if not input_shape:
        raise ValueError(f"{path!r} does not record the model's input shape (an unbuilt model); build it in Keras "
                         f"(call it on data or give it an Input) and save it again.")
    model = Sequential(layers, name=config["config"].get("name") if isinstance(config["config"], dict) else None)
    model.build(input_shape)
    for layer, entry, weights in zip(model.layers, layers_config, read_weights(layers_config)):
        try:
            layer.set_weights([np.asarray(w, dtype=np.float32) for w in weights])
        except ValueError as err:
            raise context.error(entry, f"its weights do not fit: {err}") from None
    model.eval()
    return model


def _archive_weights(handle: Any, entries: list[dict[str, Any]]) -> list[list[np.ndarray]]:
    """Each layer's weights from a Keras 3 model.weights.h5, in get_weights() order."""
    groups = handle["layers"] if "layers" in handle else {}
    by_name = {}
    for key in groups:
        vars_group = groups[key].get("vars")
        label = vars_group.attrs.get("name") if vars_group is not None else None
        by_name[label.decode() if isinstance(label, bytes) else label] = groups[key]
    found, counts = [], {}
    for entry in entries:  # Keras names each group by its class (lstm, lstm_1, ...) and records the layer's name
        base = _snake_case(entry["class_name"])
        path = base if counts.get(base, 0) == 0 else f"{base}_{counts[base]}"
        counts[base] = counts.get(base, 0) + 1
        group = by_name.get(entry["config"].get("name"), groups.get(path) if path in groups else None)
        found.append([] if group is None else _variables(group))
    return found


def _variables(group: Any) -> list[np.ndarray]:
    """A layer group's arrays in get_weights() order: its own vars/0, vars/1, ..., then its
    sublayers' (cell; forward_layer before backward_layer)."""
    arrays = []
    if "vars" in group:
        arrays += [group["vars"][key][()] for key in sorted(group["vars"], key=int)]
    order = {"cell": 0, "forward_layer": 1, "backward_layer": 2}
    for key in sorted((k for k in group if k != "vars"), key=lambda k: (order.get(k, 3), k)):
        arrays += _variables(group[key])
    return arrays


def _legacy_weights(group: Any, entries: list[dict[str, Any]]) -> list[list[np.ndarray]]:
    """Each layer's weights from an HDF5 model_weights group, in its weight_names order."""
    found = []
    for entry in entries:
        name = entry["config"]["name"]
        if name not in group:
            found.append([])
            continue
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in group[name].attrs.get("weight_names", [])]
        found.append([group[name][weight][()] for weight in names])
    return found
