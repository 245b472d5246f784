"""Generate tests/data/keras_cells_golden.json: GRU and SimpleRNN outputs from real Keras.

Each case builds a small Keras model with one recurrent layer (GRU with Keras's default
reset_after=True, SimpleRNN, or a Bidirectional of one), sets fixed weights drawn from
numpy.random.default_rng(SEED) (uniform in [-0.5, 0.5] for weights, [-1, 1] for inputs,
rounded to 6 decimals, float32; one generator consumed case by case in the order below), and
stores the layer config, the weights in Keras's get_weights() order and shapes, the input and
Keras's float32 output exactly (as the doubles they convert to). It also stores the parameter
counts and summary rows of GRU(50)+Dense(1) and SimpleRNN(50)+Dense(1) on (5, 1) inputs.

How to regenerate (a separate environment; never install Keras into the main one):

    python -m venv /tmp/kenv --system-site-packages
    /tmp/kenv/bin/pip install keras==3.6.0
    KERAS_BACKEND=torch /tmp/kenv/bin/python tests/data/make_keras_cells_golden.py

(run from the repository root). The output is deterministic for a given Keras version.
"""

from __future__ import annotations

import io
import json
import os
from contextlib import redirect_stdout

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402

SEED = 20261206
OUT = os.path.join(os.path.dirname(__file__), "keras_cells_golden.json")

CASES = [  # name, Keras layer class, its arguments, (batch, timesteps, features)
    ("gru", "GRU", {"units": 4, "return_sequences": True}, (2, 6, 3)),
    ("gru_no_bias_backwards", "GRU", {"units": 3, "use_bias": False, "go_backwards": True}, (2, 5, 2)),
    ("gru_bidirectional", "GRU", {"units": 3, "return_sequences": True, "bidirectional": True}, (2, 4, 2)),
    ("simple_rnn", "SimpleRNN", {"units": 4, "return_sequences": True}, (2, 6, 3)),
    ("simple_rnn_relu", "SimpleRNN", {"units": 3, "activation": "relu"}, (2, 5, 2)),
]


def _exact(array: np.ndarray) -> list:
    return np.asarray(array, dtype=np.float32).astype(np.float64).tolist()


def _draw(rng: np.random.Generator, shape: tuple[int, ...], scale: float) -> np.ndarray:
    return np.round(rng.uniform(-scale, scale, size=shape), 6).astype(np.float32)


def make_case(rng: np.random.Generator, class_name: str, arguments: dict, shape: tuple[int, int, int]) -> dict:
    arguments = dict(arguments)
    bidirectional = arguments.pop("bidirectional", False)
    layer = getattr(keras.layers, class_name)(**arguments)
    if bidirectional:
        layer = keras.layers.Bidirectional(layer)
    model = keras.Sequential([keras.Input(shape[1:]), layer])
    weights = [_draw(rng, w.shape, 0.5) for w in model.get_weights()]
    model.set_weights(weights)
    x = _draw(rng, shape, 1.0)
    output = model.predict(x, verbose=0)
    return {
        "class_name": class_name,
        "arguments": arguments,
        "bidirectional": bidirectional,
        "weights": [_exact(w) for w in weights],
        "weight_shapes": [list(w.shape) for w in weights],
        "x": _exact(x),
        "output": _exact(output),
    }


def summary_rows(class_name: str) -> dict:
    model = keras.Sequential([keras.Input((5, 1)), getattr(keras.layers, class_name)(50), keras.layers.Dense(1)])
    text = io.StringIO()
    with redirect_stdout(text):
        model.summary()
    return {
        "layer_params": [layer.count_params() for layer in model.layers],
        "total": model.count_params(),
        "lines": [line for line in text.getvalue().splitlines() if "params" in line],
    }


def main() -> None:
    rng = np.random.default_rng(SEED)
    golden = {
        "generator": "tests/data/make_keras_cells_golden.py",
        "keras_version": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "seed": SEED,
        "cases": {name: make_case(rng, class_name, arguments, shape) for name, class_name, arguments, shape in CASES},
        "summaries": {name: summary_rows(name) for name in ("GRU", "SimpleRNN")},
    }
    with open(OUT + ".tmp", "w") as handle:
        json.dump(golden, handle, indent=1)
    os.replace(OUT + ".tmp", OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
