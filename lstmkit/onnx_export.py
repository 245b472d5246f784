"""ONNX export: a Sequential (or a Forecaster's network) as an ONNX graph for ONNX Runtime.

The graph is written with the `onnx` helper API, one converter per layer class (CONVERTERS),
so a new layer plugs in with one function. Recurrent layers become ONNX's own `LSTM` op, which
ONNX Runtime runs as one fused kernel. Two layout differences from lstmkit (DESIGN.md):

    lstmkit / Keras: kernel W (F, 4H), recurrent kernel U (H, 4H), one bias b, gates i, f, g, o
    ONNX LSTM:       W (1, 4H, F), R (1, 4H, H), B (1, 8H) = [Wb, Rb], gates i, o, f, c

so each gate block moves (i f g o -> i o f g), the matrices are transposed, Wb = b and Rb = 0.

Masks (from a `Masking` layer, or a `lengths` input) follow lstmkit's rule that a masked step
is skipped: the graph moves each row's real steps to the front (a sort by "padding, then time"),
runs the LSTM op with `sequence_lens`, and puts the outputs back where their steps came from
(lstmkit.ops.masking does the same in PyTorch). Per-step outputs are zero at padded steps.

Inputs: "x" float32 (batch, timesteps, features), and "lengths" int64 (batch,) when exported
with `lengths=True` (real steps first, as `predict(lengths=...)`). Output: "y" float32.
Batch is always dynamic; timesteps too with `dynamic_length=True`. Opset: OPSET.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from lstmkit.layers import Bidirectional, Dense, Dropout, Layer, Masking
from lstmkit.atomic import atomic_write

if TYPE_CHECKING:
    import onnx

    from lstmkit.models import Sequential

OPSET = 17
INSTALL_HINT = 'ONNX export needs the onnx package: pip install "lstmkit[onnx]" (onnx and onnxruntime).'
_GATES_TO_ONNX = [0, 3, 1, 2]  # lstmkit's i, f, g, o blocks, taken in ONNX's order i, o, f, c

# Activations inside ONNX's recurrent ops: (name, alpha, beta); Keras 3's hard_sigmoid is relu6(x + 3) / 6.
_RECURRENT_ACTIVATIONS = {
    "tanh": ("Tanh", None, None),
    "sigmoid": ("Sigmoid", None, None),
    "relu": ("Relu", None, None),
    "hard_sigmoid": ("HardSigmoid", 1.0 / 6.0, 0.5),
    "linear": ("Affine", 1.0, 0.0),
    "elu": ("Elu", 1.0, None),
    "softsign": ("Softsign", None, None),
    "softplus": ("Softplus", None, None),
}


def _import_onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return onnx


class OnnxGraph:
    """Nodes, weights and unique names of the graph being written; converters add to it."""

    def __init__(self) -> None:
        self.onnx = _import_onnx()
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def constant(self, value: Any, hint: str = "const", dtype: Any = np.float32) -> str:
        """A weight or constant tensor in the graph; returns its name."""
        name = self.name(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, inputs: list[str], outputs: int = 1, **attributes: Any) -> Any:
        """Add one node; returns its output name (or a list of them when `outputs` > 1)."""
        names = [self.name(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, names, **attributes))
        return names[0] if outputs == 1 else names

    def activation(self, name: str, x: str) -> str:
        """Keras's activation `name` applied to tensor `x` with plain ONNX ops."""
        simple = {"tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu", "elu": "Elu", "selu": "Selu",
                  "softplus": "Softplus", "softsign": "Softsign", "exponential": "Exp"}
        if name == "linear":
            return x
        if name in simple:
            return self.op(simple[name], [x])
        if name == "softmax":
            return self.op("Softmax", [x], axis=-1)
        if name == "hard_sigmoid":
            return self.op("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)
        if name in ("silu", "swish"):
            return self.op("Mul", [x, self.op("Sigmoid", [x])])
        if name == "gelu":  # x/2 · (1 + erf(x/√2)), exact GELU (torch's default)
            erf = self.op("Erf", [self.op("Mul", [x, self.constant(1 / np.sqrt(2.0))])])
            return self.op("Mul", [self.op("Mul", [x, self.constant(0.5)]), self.op("Add", [erf, self.constant(1.0)])])
        raise ValueError(f"activation {name!r} has no ONNX form in lstmkit's exporter.")


# -- converters: one per layer class; (layer, graph, x, mask) -> (output, output's mask) ------------
Converter = Callable[[Layer, OnnxGraph, str, "str | None"], "tuple[str, str | None]"]
CONVERTERS: dict[str, Converter] = {}


def converter(class_name: str) -> Callable[[Converter], Converter]:
    """Register the ONNX converter of layer class `class_name` (its masks as float (B, T) 1/0)."""
    def register(function: Converter) -> Converter:
        CONVERTERS[class_name] = function
        return function
    return register


@converter("Embedding")
def _embedding(layer: Any, graph: OnnxGraph, x: str, mask: str | None) -> tuple[str, str | None]:
    y = graph.op("Gather", [graph.constant(_numpy(layer.embeddings), "embeddings"), x], axis=0)  # (B, T, D)
    if layer.mask_zero:  # id 0 is padding
        real = graph.op("Cast", [graph.op("Not", [graph.op("Equal", [x, graph.constant(0, dtype=np.int64)])])], to=1)
        mask = real if mask is None else graph.op("Mul", [real, mask])
    return y, mask


@converter("RepeatVector")
def _repeat_vector(layer: Any, graph: OnnxGraph, x: str, mask: str | None) -> tuple[str, str | None]:
    steps = graph.op("Unsqueeze", [x, graph.constant([1], dtype=np.int64)])  # (B, 1, F)
    return graph.op("Expand", [steps, graph.constant([1, layer.n, 1], dtype=np.int64)]), None


@converter("Flatten")
def _flatten(layer: Any, graph: OnnxGraph, x: str, mask: str | None) -> tuple[str, str | None]:
    if mask is not None:
        raise ValueError(f"layer {layer.name!r}: Flatten cannot take masked sequences (see lstmkit.layers.Flatten).")
    return graph.op("Flatten", [x], axis=1), None


@converter("TimeDistributed")
def _time_distributed(layer: Any, graph: OnnxGraph, x: str, mask: str | None) -> tuple[str, str | None]:
    inner = type(layer.layer).__name__
    if inner not in ("Dense", "Dropout"):  # layers acting on the last axis run on (B, T, F) as they are
        raise ValueError(f"layer {layer.name!r}: TimeDistributed({inner}) has no ONNX converter yet; "
                         f"TimeDistributed(Dense) and TimeDistributed(Dropout) export.")
    output, _ = CONVERTERS[inner](layer.layer, graph, x, None)
    return output, mask


def _numpy(parameter: Any) -> np.ndarray | None:
    return None if parameter is None else parameter.detach().cpu().numpy().astype(np.float64)


@converter("Dense")
def _dense(layer: Dense, graph: OnnxGraph, x: str, mask: str | None) -> tuple[str, str | None]:
    y = graph.op("MatMul", [x, graph.constant(_numpy(layer.kernel), "kernel")])
    if layer.bias is not None:
        y = graph.op("Add", [y, graph.constant(_numpy(layer.bias), "bias")])
    return graph.activation(layer.activation, y), mask


@converter("Dropout")
def _dropout(layer: Dropout, graph: OnnxGraph, x: str, mask: str | None) -> tuple[str, str | None]:
    return x, mask  # identity at inference


@converter("Masking")
def _masking(layer: Masking, graph: OnnxGraph, x: str, mask: str | None) -> tuple[str, str | None]:
    differs = graph.op("Not", [graph.op("Equal", [x, graph.constant(layer.mask_value)])])
    real = graph.op("ReduceMax", [graph.op("Cast", [differs], to=1)], axes=[-1], keepdims=0)  # (B, T) 1/0
    if mask is not None:
        real = graph.op("Mul", [real, mask])
    return graph.op("Mul", [x, graph.op("Unsqueeze", [real, graph.constant([-1], dtype=np.int64)])]), real


def _lstm_op(layer: Any) -> tuple[str, list[np.ndarray], list[str]]:
    """ONNX LSTM: W, R, B with the gate blocks i, f, g, o taken as i, o, f, c; Rb = 0."""
    units = layer.units
    blocks = lambda matrix: np.concatenate([matrix[..., k * units:(k + 1) * units] for k in _GATES_TO_ONNX], axis=-1)
    bias = _numpy(layer.bias)
    bias = np.zeros(4 * units) if bias is None else blocks(bias)
    weights = [blocks(_numpy(layer.kernel)).T, blocks(_numpy(layer.recurrent_kernel)).T,
               np.concatenate([bias, np.zeros(4 * units)])]
    return "LSTM", weights, [layer.recurrent_activation, layer.activation, layer.activation]


def _gru_op(layer: Any) -> tuple[str, list[np.ndarray], list[str]]:
    """ONNX GRU with linear_before_reset (Keras's reset_after=True): the gate order z, r, h and the
    biases [b_x, b_h] are Keras's already."""
    bias = _numpy(layer.bias)
    bias = np.zeros(6 * layer.units) if bias is None else bias.reshape(-1)
    weights = [_numpy(layer.kernel).T, _numpy(layer.recurrent_kernel).T, bias]
    return "GRU", weights, [layer.recurrent_activation, layer.activation]


def _simple_rnn_op(layer: Any) -> tuple[str, list[np.ndarray], list[str]]:
    """ONNX RNN: h_t = f(x_t W + h_{t-1} U + b), b as Wb and Rb = 0."""
    bias = _numpy(layer.bias)
    bias = np.zeros(layer.units) if bias is None else bias
    weights = [_numpy(layer.kernel).T, _numpy(layer.recurrent_kernel).T, np.concatenate([bias, np.zeros(layer.units)])]
    return "RNN", weights, [layer.activation]


# Recurrent layer class -> its ONNX op, weights (W, R, B without the direction axis) and activations.
RECURRENT_OPS: dict[str, Callable[[Any], tuple[str, list[np.ndarray], list[str]]]] = {
    "LSTM": _lstm_op, "GRU": _gru_op, "SimpleRNN": _simple_rnn_op}


def _recurrent(layer: Any, graph: OnnxGraph, x: str, mask: str | None) -> tuple[str, str | None]:
    outputs, last = _recurrent_outputs(layer, graph, x, mask)
    if layer.return_sequences:
        return outputs, mask
    return last, None


for _class_name in RECURRENT_OPS:
    converter(_class_name)(_recurrent)


@converter("Bidirectional")
def _bidirectional(layer: Bidirectional, graph: OnnxGraph, x: str, mask: str | None) -> tuple[str, str | None]:
    forward, forward_last = _recurrent_outputs(layer.forward_layer, graph, x, mask)
    backward, backward_last = _recurrent_outputs(layer.backward_layer, graph, x, mask)
    sequences = layer.forward_layer.return_sequences
    if sequences:  # the backward layer's reading order back into time order
        backward = _reverse_steps(graph, backward, mask)
    else:
        forward, backward = forward_last, backward_last
    merged = {
        "concat": lambda: graph.op("Concat", [forward, backward], axis=-1),
        "sum": lambda: graph.op("Add", [forward, backward]),
        "mul": lambda: graph.op("Mul", [forward, backward]),
        "ave": lambda: graph.op("Mul", [graph.op("Add", [forward, backward]), graph.constant(0.5)]),
    }[layer.merge_mode]()
    return merged, mask if sequences else None


def _recurrent_outputs(layer: Any, graph: OnnxGraph, x: str, mask: str | None) -> tuple[str, str]:
    """One recurrent layer on its ONNX op, with lstmkit's semantics: outputs (B, T, H) in reading
    order (go_backwards: last real step first), zero at masked steps; and h_T (B, H)."""
    name = layer.name or type(layer).__name__
    class_name = type(layer).__name__
    if class_name not in RECURRENT_OPS:
        raise ValueError(f"layer {name!r} ({class_name}) has no ONNX converter yet; recurrent layers that export: "
                         f"{', '.join(RECURRENT_OPS)}.")
    if layer.stateful:
        raise ValueError(f"layer {name!r} is stateful: its state carries over between calls, which an ONNX graph "
                         f"cannot hold. Build the same model with stateful=False, copy the weights, and export that.")
    op_type, weights, activation_names = RECURRENT_OPS[class_name](layer)
    for activation in activation_names:
        if activation not in _RECURRENT_ACTIVATIONS:
            raise ValueError(f"layer {name!r}: activation={activation!r} has no form in ONNX's {op_type} op; "
                             f"exportable: {', '.join(_RECURRENT_ACTIVATIONS)}.")
    chosen = [_RECURRENT_ACTIVATIONS[activation] for activation in activation_names]
    attributes: dict[str, Any] = {"hidden_size": layer.units, "activations": [a[0] for a in chosen],
                                  "direction": "reverse" if layer.go_backwards else "forward"}
    if op_type == "GRU":
        attributes["linear_before_reset"] = 1
    if any(a[1] is not None for a in chosen):
        attributes["activation_alpha"] = [1.0 if a[1] is None else a[1] for a in chosen]
    if any(a[2] is not None for a in chosen):
        attributes["activation_beta"] = [0.0 if a[2] is None else a[2] for a in chosen]
    inverse = lengths = None
    if mask is not None:
        x, inverse, lengths = _compact(graph, x, mask)
    time_major = graph.op("Transpose", [x], perm=[1, 0, 2])  # (T, B, F)
    lens = "" if lengths is None else graph.op("Cast", [lengths], to=6)  # int32
    initializers = [graph.constant(w[None], hint) for w, hint in zip(weights, "WRB")]
    sequence, last = graph.op(op_type, [time_major, *initializers, lens], outputs=2, **attributes)
    squeeze_axis = graph.constant([1], dtype=np.int64)  # (T, 1, B, H) -> (B, T, H)
    outputs = graph.op("Transpose", [graph.op("Squeeze", [sequence, squeeze_axis])], perm=[1, 0, 2])
    if layer.go_backwards:  # ONNX gives time order; lstmkit (Keras) gives reading order
        outputs = _reverse_steps(graph, outputs, lengths=lengths)
    if mask is not None:
        outputs = graph.op("Mul", [_gather_steps(graph, outputs, inverse),
                                   graph.op("Unsqueeze", [mask, graph.constant([-1], dtype=np.int64)])])
    return outputs, graph.op("Squeeze", [last, graph.constant([0], dtype=np.int64)])


def _compact(graph: OnnxGraph, x: str, mask: str) -> tuple[str, str, str]:
    """Each row's real steps moved to the front in order: (x_compact, the inverse order, lengths).

    The sort key (1 - mask)·T + t puts real steps first and keeps time order (keys are distinct)."""
    timesteps = graph.op("Gather", [graph.op("Shape", [x]), graph.constant(1, dtype=np.int64)], axis=0)
    steps = graph.op("Cast", [graph.op("Range", [graph.constant(0, dtype=np.int64), timesteps,
                                                 graph.constant(1, dtype=np.int64)])], to=1)
    padding = graph.op("Sub", [graph.constant(1.0), mask])
    keys = graph.op("Add", [graph.op("Mul", [padding, graph.op("Cast", [timesteps], to=1)]), steps])
    count = graph.op("Reshape", [timesteps, graph.constant([1], dtype=np.int64)])
    _, order = graph.op("TopK", [keys, count], outputs=2, axis=1, largest=0, sorted=1)
    _, inverse = graph.op("TopK", [graph.op("Cast", [order], to=1), count], outputs=2, axis=1, largest=0, sorted=1)
    lengths = graph.op("Cast", [graph.op("ReduceSum", [mask, graph.constant([1], dtype=np.int64)], keepdims=0)], to=7)
    return _gather_steps(graph, x, order), inverse, lengths


def _gather_steps(graph: OnnxGraph, x: str, order: str) -> str:
    """x (B, T, C) with row b's steps taken in the order order[b] (B, T)."""
    indices = graph.op("Expand", [graph.op("Unsqueeze", [order, graph.constant([-1], dtype=np.int64)]),
                                  graph.op("Shape", [x])])
    return graph.op("GatherElements", [x, indices], axis=1)


def _reverse_steps(graph: OnnxGraph, x: str, mask: str | None = None, lengths: str | None = None) -> str:
    """Reverse each row's real steps in time (lstmkit.ops.masking.reverse_real_steps).

    Compacted rows (`lengths` given): reverse the first lengths[b] steps of row b. No mask:
    flip the time axis. A mask in place: compact, reverse, put back."""
    if lengths is not None:
        return graph.op("ReverseSequence", [x, lengths], batch_axis=0, time_axis=1)
    if mask is None:
        return graph.op("Slice", [x, *(graph.constant([v], dtype=np.int64) for v in (-1, -(2**62), 1, -1))])
    compacted, inverse, lengths = _compact(graph, x, mask)
    reversed_front = graph.op("ReverseSequence", [compacted, lengths], batch_axis=0, time_axis=1)
    return graph.op("Mul", [_gather_steps(graph, reversed_front, inverse),
                            graph.op("Unsqueeze", [mask, graph.constant([-1], dtype=np.int64)])])


# -- whole models ------------------------------------------------------------------------------------
def sequential_graph(model: "Sequential", graph: OnnxGraph, x: str, mask: str | None) -> tuple[str, str | None]:
    """Add every layer of `model` to `graph`; returns (output, output's mask)."""
    for layer in model.layers:
        class_name = type(layer).__name__
        if class_name not in CONVERTERS:
            raise ValueError(f"layer {layer.name!r} ({class_name}) has no ONNX converter yet; exportable layers: "
                             f"{', '.join(sorted(CONVERTERS))}.")
        x, mask = CONVERTERS[class_name](layer, graph, x, mask)
    return x, mask


def front_mask(graph: OnnxGraph, x: str, lengths: str) -> str:
    """(B, T) float 1/0 from `lengths` (B,) int64: the first lengths[b] steps of row b are real."""
    timesteps = graph.op("Gather", [graph.op("Shape", [x]), graph.constant(1, dtype=np.int64)], axis=0)
    steps = graph.op("Range", [graph.constant(0, dtype=np.int64), timesteps, graph.constant(1, dtype=np.int64)])
    real = graph.op("Less", [graph.op("Unsqueeze", [steps, graph.constant([0], dtype=np.int64)]),
                             graph.op("Unsqueeze", [lengths, graph.constant([1], dtype=np.int64)])])
    return graph.op("Cast", [real], to=1)


def model_proto(graph: OnnxGraph, inputs: list[Any], output: str, output_shape: list[Any], doc: str) -> Any:
    """The checked ModelProto of `graph` with `inputs` (value infos) and one float output named "y"."""
    onnx = graph.onnx
    graph.nodes.append(onnx.helper.make_node("Identity", [output], ["y"]))
    proto = onnx.helper.make_model(
        onnx.helper.make_graph(graph.nodes, "lstmkit", inputs,
                               [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, output_shape)],
                               graph.initializers),
        opset_imports=[onnx.helper.make_opsetid("", OPSET)], producer_name="lstmkit", doc_string=doc)
    proto.ir_version = 8  # readable by ONNX Runtime 1.14 and later
    onnx.checker.check_model(proto, full_check=True)
    return proto


def sequential_to_onnx(model: "Sequential", dynamic_length: bool = True, lengths: bool = False) -> "onnx.ModelProto":
    """The ONNX ModelProto of `model` (see the module docstring for inputs and outputs)."""
    graph = OnnxGraph()
    onnx = graph.onnx
    model._require_built("export_onnx()")
    timesteps = model.built_input_shape[0]
    if not dynamic_length and timesteps is None:
        raise ValueError("dynamic_length=False needs a model built with a fixed number of timesteps; this one takes "
                         "any (input_shape=(None, features)). Export with dynamic_length=True.")
    length_axis = "timesteps" if dynamic_length else timesteps
    if type(model.layers[0]).__name__ == "Embedding":  # integer ids (batch, timesteps)
        x_type, x_shape = onnx.TensorProto.INT64, ["batch", length_axis]
    else:
        x_type, x_shape = onnx.TensorProto.FLOAT, ["batch", length_axis, *model.built_input_shape[1:]]
    inputs = [onnx.helper.make_tensor_value_info("x", x_type, x_shape)]
    mask = None
    if lengths:
        inputs.append(onnx.helper.make_tensor_value_info("lengths", onnx.TensorProto.INT64, ["batch"]))
        mask = front_mask(graph, "x", "lengths")
    output, mask = sequential_graph(model, graph, "x", mask)
    if mask is not None:  # as predict: per-step outputs are zero at padded steps
        output = graph.op("Mul", [output, graph.op("Unsqueeze", [mask, graph.constant([-1], dtype=np.int64)])])
    steps = ["steps"] if len(model.output_shape) == 2 else []  # per-step outputs (steps, units)
    shape = ["batch", *steps, model.output_shape[-1]]
    return model_proto(graph, inputs, output, shape, f"lstmkit Sequential {model.name!r}")


def save_onnx(proto: Any, path: str | os.PathLike) -> None:
    """Write `proto` to `path` atomically (a temporary file renamed into place)."""
    if not str(path).lower().endswith(".onnx"):
        raise ValueError(f"export_onnx({str(path)!r}): name the file with the .onnx extension, e.g. 'model.onnx'.")
    onnx = _import_onnx()
    atomic_write(path, lambda tmp: onnx.save_model(proto, tmp))
