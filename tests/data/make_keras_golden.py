"""Generate tests/data/keras_golden.json: reference outputs from real Keras.

lstmkit promises Keras-compatible numbers, parameter counts, shapes and summary
tables.  This script builds small Keras models, sets *fixed* weights on them,
runs ``model.predict`` on fixed inputs and writes everything a test needs to
check lstmkit against Keras without having Keras installed:

* per case: the layer configs (Keras class name + the arguments used), every
  layer's weights in Keras ``get_weights()`` order and shapes (LSTM: kernel
  (F, 4H), recurrent_kernel (H, 4H), bias (4H,); Dense: kernel (F, U), bias
  (U,)), the input ``x``, Keras's output, ``model.count_params()``, per-layer
  ``count_params()`` and output shapes (``null`` = batch dimension);
* the parameter counts / output shapes of the two tutorial models, and the
  text of ``model.summary()`` for the first one;
* the hard_sigmoid definition observed in this Keras version.

Numbers: weights are drawn from ``numpy.random.default_rng(SEED)`` (one
generator, consumed case by case in the order below: each layer's weights in
``get_weights()`` order, then the input), uniform in [-0.5, 0.5] for weights
and [-1, 1] for inputs, rounded to 6 decimals and cast to float32.  The JSON
holds the *exact* float32 values (as the doubles they convert to), so
``np.asarray(v, dtype=np.float32)`` or ``torch.tensor(v, dtype=torch.float32)``
recovers bit-identical weights/inputs.  Keras outputs are float32 and are
stored exactly the same way.  Each case also carries the max |diff| between
Keras's output and an independent float64 numpy implementation of the
equations in DESIGN.md -- a sanity check of this file, and a hint for
the tolerance tests should use (float32 round-off, ~1e-7).

How to regenerate (needs the separate Keras environment, NOT the main one,
which must keep its own numpy/torch):

    python3 -m venv /opt/kerasenv
    /opt/kerasenv/bin/pip install tensorflow-cpu==2.21.0 keras==3.15.1
    /opt/kerasenv/bin/python tests/data/make_keras_golden.py

(run from the repository root; ``--out PATH`` writes elsewhere.)  The output
is deterministic for a given Keras/TF version.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Plain (non-oneDNN-fused) kernels: keeps outputs reproducible across CPUs.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np  # noqa: E402

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

SEED = 20240611
BATCH = 3
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "keras_golden.json")


# ----------------------------------------------------------------- numbers
def draw(rng, shape, low, high):
    """Uniform values rounded to 6 decimals, as exact float32."""
    v = rng.uniform(low, high, size=shape)
    return np.round(v, 6).astype(np.float32)


def to_list(a):
    """Exact JSON for a float32 array (float(np.float32) is exact in double)."""
    a = np.asarray(a)
    if a.dtype.kind == "f":
        return np.asarray(a, dtype=np.float32).astype(np.float64).tolist()
    return a.tolist()


def shape_list(shape):
    return [None if d is None else int(d) for d in shape]


# ---------------------------------------------- float64 numpy reference
def _act(name):
    if name == "tanh":
        return np.tanh
    if name == "sigmoid":
        return lambda z: 1.0 / (1.0 + np.exp(-z))
    if name == "hard_sigmoid":  # Keras 3: relu6(x + 3) / 6
        return lambda z: np.clip(z + 3.0, 0.0, 6.0) / 6.0
    if name == "relu":
        return lambda z: np.maximum(z, 0.0)
    if name == "linear":
        return lambda z: z
    if name == "softmax":
        def softmax(z):
            e = np.exp(z - z.max(axis=-1, keepdims=True))
            return e / e.sum(axis=-1, keepdims=True)
        return softmax
    raise ValueError(name)


def ref_lstm(x, w, cfg):
    kernel, rec, bias = (np.asarray(a, np.float64) for a in w)
    act = _act(cfg.get("activation", "tanh"))
    ract = _act(cfg.get("recurrent_activation", "sigmoid"))
    B, T, _ = x.shape
    H = rec.shape[0]
    h = np.zeros((B, H))
    c = np.zeros((B, H))
    steps = range(T - 1, -1, -1) if cfg.get("go_backwards") else range(T)
    outs = []
    for t in steps:  # outputs kept in *processing* order (see go_backwards note)
        z = x[:, t, :] @ kernel + h @ rec + bias
        i, f, g, o = np.split(z, 4, axis=-1)
        i, f, g, o = ract(i), ract(f), act(g), ract(o)
        c = f * c + i * g
        h = o * act(c)
        outs.append(h)
    return np.stack(outs, axis=1) if cfg.get("return_sequences") else h


def ref_dense(x, w, cfg):
    kernel, bias = (np.asarray(a, np.float64) for a in w)
    return _act(cfg.get("activation", "linear"))(x @ kernel + bias)


def reference(x, layers):
    y = np.asarray(x, np.float64)
    for layer in layers:
        fn = ref_lstm if layer["class_name"] == "LSTM" else ref_dense
        y = fn(y, [np.asarray(a, np.float32) for a in layer["weights"]],
               layer["config"])
    return y


# ------------------------------------------------------------------- cases
CASES = [
    ("lstm_dense", (5, 2), [
        ("LSTM", dict(units=4)),
        ("Dense", dict(units=1)),
    ]),
    ("lstm_return_sequences", (5, 2), [
        ("LSTM", dict(units=4, return_sequences=True)),
    ]),
    ("lstm_return_sequences_go_backwards", (5, 2), [
        ("LSTM", dict(units=4, return_sequences=True, go_backwards=True)),
    ]),
    ("stacked_lstm_softmax", (6, 2), [
        ("LSTM", dict(units=4, return_sequences=True)),
        ("LSTM", dict(units=3)),
        ("Dense", dict(units=3, activation="softmax")),
    ]),
    ("lstm_relu_dense", (5, 1), [
        ("LSTM", dict(units=4, activation="relu")),
        ("Dense", dict(units=1)),
    ]),
    ("lstm_hard_sigmoid", (4, 2), [
        ("LSTM", dict(units=3, recurrent_activation="hard_sigmoid")),
    ]),
    ("dense_tanh_3d", (4, 2), [
        ("Dense", dict(units=3, activation="tanh")),
    ]),
]

# Arguments recorded for every layer (Keras defaults filled in where unused).
LSTM_DEFAULTS = dict(activation="tanh", recurrent_activation="sigmoid",
                     return_sequences=False, go_backwards=False)
DENSE_DEFAULTS = dict(activation="linear")


def make_layer(class_name, kwargs):
    return getattr(keras.layers, class_name)(**kwargs)


def build_case(rng, name, input_shape, spec):
    keras.backend.clear_session()
    layers = [make_layer(c, kw) for c, kw in spec]
    model = keras.Sequential([keras.Input(shape=input_shape)] + layers)

    layer_records = []
    for (class_name, kwargs), layer in zip(spec, model.layers):
        weights = [draw(rng, w.shape, -0.5, 0.5) for w in layer.get_weights()]
        layer.set_weights(weights)
        # check Keras kept them bit-for-bit
        for a, b in zip(weights, layer.get_weights()):
            assert a.dtype == b.dtype and np.array_equal(a, b)
        defaults = LSTM_DEFAULTS if class_name == "LSTM" else DENSE_DEFAULTS
        config = {**defaults, **kwargs}
        if not layer_records:
            config["input_shape"] = list(input_shape)
        kcfg = layer.get_config()
        for k in config:
            if k in kcfg:
                assert kcfg[k] == config[k], (name, k, kcfg[k], config[k])
        layer_records.append({
            "class_name": class_name,
            "config": config,
            "weight_names": [w.name for w in layer.weights],
            "weight_shapes": [list(w.shape) for w in weights],
            "weights": [to_list(w) for w in weights],
            "count_params": int(layer.count_params()),
            "output_shape": shape_list(layer.output.shape),
        })

    x = draw(rng, (BATCH,) + tuple(input_shape), -1.0, 1.0)
    y = model.predict(x, verbose=0, batch_size=BATCH)
    y_direct = np.asarray(model(x, training=False))
    ref = reference(x, layer_records)
    record = {
        "name": name,
        "input_shape": list(input_shape),
        "layers": layer_records,
        "x": to_list(x),
        "x_shape": list(x.shape),
        "y": to_list(y),
        "y_shape": list(y.shape),
        "y_dtype": str(y.dtype),
        "count_params": int(model.count_params()),
        "max_abs_diff_predict_vs_direct_call": float(np.max(np.abs(y - y_direct))),
        "max_abs_diff_vs_float64_numpy_reference": float(np.max(np.abs(y - ref))),
    }
    if any(l["config"].get("go_backwards") for l in layer_records):
        # Evidence for the go_backwards note: flipping the reference back to
        # input time order does NOT match Keras.
        record["max_abs_diff_vs_reference_flipped_to_input_order"] = float(
            np.max(np.abs(y - ref[:, ::-1])))
    return record


# ----------------------------------------------------------- tutorial models
def summary_text(model):
    buf = io.StringIO()
    model.summary(print_fn=lambda s, *a, **k: buf.write(s))
    return buf.getvalue()


def tutorial_model(units, timesteps):
    """Exactly as the tutorials write it (input_shape= on the LSTM)."""
    keras.backend.clear_session()  # fresh names: "sequential", "lstm", "dense"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = keras.Sequential([
            keras.layers.LSTM(units, input_shape=(timesteps, 1)),
            keras.layers.Dense(1),
        ])
    msgs = sorted({str(w.message).split("\n")[0] for w in caught})
    return model, msgs


def tutorial_record(units, timesteps, with_summary):
    model, warn = tutorial_model(units, timesteps)
    model.compile(loss="mean_squared_error", optimizer="adam")
    rec = {
        "code": (f"Sequential([LSTM({units}, input_shape=({timesteps}, 1)), "
                 "Dense(1)])"),
        "input_shape": [timesteps, 1],
        "count_params": int(model.count_params()),
        "layers": [{
            "class_name": type(l).__name__,
            "name": l.name,
            "count_params": int(l.count_params()),
            "output_shape": shape_list(l.output.shape),
            "weight_shapes": [list(w.shape) for w in l.weights],
        } for l in model.layers],
        "output_shape": shape_list(model.outputs[0].shape),
        "warnings_on_input_shape_kwarg": warn,
    }
    if with_summary:
        # Tutorials call summary() after compile(); the optimizer is not built
        # yet, so there is no "Optimizer params" line.
        rec["summary"] = summary_text(model)
        # After one fit the optimizer is built and Keras adds a line for it.
        rng = np.random.default_rng(0)
        xs = rng.random((4, timesteps, 1)).astype("float32")
        model.fit(xs, xs[:, -1], epochs=1, batch_size=2, verbose=0)
        rec["summary_after_fit"] = summary_text(model)
        rec["optimizer_param_count_after_fit"] = int(
            sum(int(np.prod(v.shape)) for v in model.optimizer.variables))
    return rec


def hard_sigmoid_record():
    grid = np.array([-4, -3, -2.5, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2.5, 3, 4],
                    dtype=np.float32)
    got = np.asarray(keras.activations.hard_sigmoid(grid))
    relu6 = np.clip(grid.astype(np.float64) + 3.0, 0, 6) / 6.0
    old = np.clip(0.2 * grid.astype(np.float64) + 0.5, 0, 1)
    d_relu6 = float(np.max(np.abs(got - relu6)))
    d_old = float(np.max(np.abs(got - old)))
    return {
        "observed_definition": ("relu6(x + 3) / 6  ==  clip(x / 6 + 0.5, 0, 1)"
                                if d_relu6 < 1e-6 else
                                "clip(0.2 * x + 0.5, 0, 1)" if d_old < 1e-6
                                else "unknown"),
        "x": to_list(grid),
        "keras_hard_sigmoid": to_list(got),
        "max_abs_diff_vs_relu6_x_plus_3_over_6": d_relu6,
        "max_abs_diff_vs_keras2_0p2x_plus_0p5": d_old,
        "note": ("Keras 2 / tf.keras used clip(0.2x + 0.5, 0, 1); Keras 3 uses "
                 "relu6(x+3)/6. The keras.ops.hard_sigmoid docstring in some "
                 "Keras 3 versions still describes the 0.2x form -- trust the "
                 "observed values."),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args(argv)

    tf.config.set_visible_devices([], "GPU")
    tf.get_logger().setLevel("ERROR")  # no tf.function retracing chatter
    rng = np.random.default_rng(SEED)
    cases = [build_case(rng, name, shp, spec) for name, shp, spec in CASES]
    for c in cases:
        assert c["max_abs_diff_vs_float64_numpy_reference"] < 1e-5, c["name"]

    golden = {
        "format": "lstmkit-keras-golden",
        "version": 1,
        "generator": "tests/data/make_keras_golden.py",
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
        "keras_backend": keras.backend.backend(),
        "numpy_version": np.__version__,
        "seed": SEED,
        "batch": BATCH,
        "value_note": ("weights ~ U[-0.5, 0.5], x ~ U[-1, 1], rounded to 6 "
                       "decimals, cast to float32; lists hold the exact float32 "
                       "values. Weights in Keras get_weights() order."),
        "go_backwards_note": (
            "Keras 3 LSTM(go_backwards=True, return_sequences=True): the input "
            "is read from the last step to the first and the output sequence is "
            "returned in PROCESSING order (y[:, 0] is the state after reading "
            "x[:, T-1]; y[:, -1] is the final state), i.e. it is NOT flipped "
            "back to input time order. Verified against the float64 reference."),
        "hard_sigmoid": hard_sigmoid_record(),
        "cases": cases,
        "tutorial_models": [
            tutorial_record(50, 5, with_summary=True),
            tutorial_record(128, 3, with_summary=False),
        ],
    }
    text = json.dumps(golden, indent=1)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(text + "\n")
    os.replace(tmp, args.out)
    print(f"wrote {args.out} ({len(text) + 1:,} bytes, {len(cases)} cases)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
