"""Generate tests/data/keras/: small Keras model files and Keras's predictions on them.

`lstmkit.load_keras` reads Keras files without TensorFlow or Keras; its tests compare the
loaded models with what real Keras predicts. This script builds small Sequential models in real
Keras, sets fixed weights on them and saves them:

    <case>.keras      Keras 3's archive (config.json + model.weights.h5 in a zip)
    <case>.h5         Keras 3's legacy HDF5 file (model_config attribute + model_weights groups)
    <case>.keras2.h5  with --keras2: the HDF5 file Keras 2 itself writes (tf-keras 2.21 on TensorFlow)

and writes keras_files.json (keras2_files.json with --keras2): per case the input x and Keras's
`model.predict(x)`, as the exact float32 values. Cases with a layer or option lstmkit lacks (GRU, SimpleRNN, Conv1D,
use_bias=False) are saved too, with predictions, so the tests can check the error message
today and the numbers once those layers exist.

Numbers: weights ~ U[-0.5, 0.5] and inputs ~ U[-1, 1] from numpy.random.default_rng(SEED),
consumed case by case in the order below, rounded to 6 decimals, cast to float32.

How to regenerate (separate environments, so the main one keeps its own packages; Keras 3's
torch backend needs no TensorFlow; Keras 2 needs it):

    python -m venv /tmp/kenv --system-site-packages
    /tmp/kenv/bin/pip install -c constraints.txt keras==3.15.1 h5py
    KERAS_BACKEND=torch /tmp/kenv/bin/python tests/data/make_keras_files.py
    python -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install tensorflow-cpu==2.21.0 tf-keras==2.21.0
    /tmp/tfenv/bin/python tests/data/make_keras_files.py --keras2

(run from the repository root).
"""

from __future__ import annotations

import json
import logging
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")

KERAS2 = "--keras2" in sys.argv  # Keras 2 (tf-keras on TensorFlow) instead of Keras 3
if KERAS2:
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402

if KERAS2:
    import tf_keras as keras  # noqa: E402
else:
    import keras  # noqa: E402

SEED = 20261206
BATCH = 3
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "keras")

# (name, input shape, layers (from a Keras `layers` module), padded steps (row, start, stop) set to 0.0 in x,
#  or "ids" for integer inputs)
CASES = [
    ("lstm_dense", (5, 2), lambda L: [L.LSTM(4), L.Dense(1)], []),
    ("any_length", (None, 2), lambda L: [L.LSTM(3, return_sequences=True), L.LSTM(2), L.Dense(1)], []),
    ("stacked_dropout_softmax", (6, 2), lambda L: [
        L.LSTM(4, return_sequences=True), L.Dropout(0.2), L.LSTM(3), L.Dense(3, activation="softmax")], []),
    ("lstm_options", (5, 2), lambda L: [
        L.LSTM(4, activation="relu", recurrent_activation="hard_sigmoid", go_backwards=True,
               return_sequences=True, unit_forget_bias=False),
        L.Dense(2, activation="tanh")], []),
    ("bidirectional_concat_sum", (5, 2), lambda L: [
        L.Bidirectional(L.LSTM(3, return_sequences=True)), L.Bidirectional(L.LSTM(2), merge_mode="sum"),
        L.Dense(1)], []),
    ("bidirectional_mul_ave", (5, 2), lambda L: [
        L.Bidirectional(L.LSTM(3, return_sequences=True), merge_mode="mul"),
        L.Bidirectional(L.LSTM(2), merge_mode="ave")], []),
    ("masking", (6, 2), lambda L: [
        L.Masking(mask_value=0.0), L.LSTM(4, return_sequences=True), L.Bidirectional(L.LSTM(3)), L.Dense(1)],
     [(0, 0, 2), (1, 4, 6)]),
    ("gru", (5, 2), lambda L: [L.GRU(4, return_sequences=True), L.GRU(3), L.Dense(1)], []),
    ("simple_rnn", (5, 2), lambda L: [L.SimpleRNN(4), L.Dense(1)], []),
    ("lstm_no_bias", (5, 2), lambda L: [L.LSTM(3, use_bias=False)], []),
    ("conv1d", (5, 2), lambda L: [L.Conv1D(2, 3), L.LSTM(2)], []),
    ("embedding_seq2seq", (6,), lambda L: [
        L.Embedding(12, 4, mask_zero=True), L.LSTM(5), L.RepeatVector(3), L.LSTM(4, return_sequences=True),
        L.TimeDistributed(L.Dense(2, activation="softmax"))], "ids"),
]


def draw(rng: np.random.Generator, shape: tuple[int, ...], low: float, high: float) -> np.ndarray:
    return np.round(rng.uniform(low, high, size=shape), 6).astype(np.float32)


def exact(array: np.ndarray) -> list:
    return np.asarray(array, dtype=np.float32).astype(np.float64).tolist()


def build_case(rng: np.random.Generator, name: str, input_shape: tuple, make_layers, padding: list) -> dict:
    keras.backend.clear_session()
    model = keras.Sequential([keras.Input(shape=input_shape), *make_layers(keras.layers)], name=name)
    for layer in model.layers:
        layer.set_weights([draw(rng, w.shape, -0.5, 0.5) for w in layer.get_weights()])
    steps = input_shape[0] or 7
    if padding == "ids":  # integer ids for an Embedding, id 0 (padding) before and after real ones
        x = rng.integers(1, 12, size=(BATCH, steps))
        x[0, :2], x[1, -2:] = 0, 0
    else:
        x = draw(rng, (BATCH, steps, input_shape[1]), -1.0, 1.0)
        for row, start, stop in padding:
            x[row, start:stop] = 0.0
    y = np.asarray(model.predict(x, verbose=0, batch_size=BATCH))
    if KERAS2:
        model.save(os.path.join(OUT, f"{name}.keras2.h5"))
    else:
        model.save(os.path.join(OUT, f"{name}.keras"))
        model.save(os.path.join(OUT, f"{name}.h5"))
    return {"name": name, "x": exact(x) if padding != "ids" else x.tolist(), "y": exact(y), "y_shape": list(y.shape),
            "layers": [type(layer).__name__ for layer in model.layers]}


def main() -> None:
    logging.getLogger("absl").setLevel(logging.ERROR)  # the legacy-format notice on every .h5
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(SEED)
    cases = [build_case(rng, *case) for case in CASES]
    record = {"generator": "tests/data/make_keras_files.py" + (" --keras2" if KERAS2 else ""),
              "keras_version": keras.__version__, "keras_backend": keras.backend.backend(), "seed": SEED,
              "cases": cases}
    path = os.path.join(OUT, "keras2_files.json" if KERAS2 else "keras_files.json")
    with open(path + ".tmp", "w") as handle:
        json.dump(record, handle, indent=1)
        handle.write("\n")
    os.replace(path + ".tmp", path)
    print(f"wrote {len(cases)} cases and {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
