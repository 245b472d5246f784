"""Keras side of the lstmkit speed benchmark.

Times the same workloads lstmkit's benchmark runs, on real Keras 3 (TensorFlow
backend, CPU only), and prints ONE JSON object on stdout (all times in
seconds unless the key says ``_us``; every timing is summarised as
median/min/max over its samples).

Workloads
  W1  tutorial fit: a 20-point series, training part = first 13 points ->
      windows X (8, 5, 1), y (8, 1); Sequential([LSTM(50, input_shape=(5, 1)),
      Dense(1)]), compile(loss="mean_squared_error", optimizer="adam"),
      fit(epochs=100, batch_size=1, verbose=0).  Only the fit call is timed; a
      fresh model is built and compiled before each repeat (so each repeat
      pays Keras's tf.function tracing, as a user does).  Steady-state epoch
      time (epochs 2..E, from a callback) is reported beside it.
  W1p predict of one window (1, 5, 1): model.predict(x, verbose=0) and the
      direct call model(x), median of many calls after warm-up, in µs
      (extras: model(tf_tensor, training=False) and model.predict_on_batch).
  W2  20,000-point noisy sine (seed 0), windows of 24 x 1 -> next value,
      LSTM(64) + Dense(1), Adam/MSE, batch 64, 3 epochs: fit time, windows/s.
  W3  batch 256, seq 100, input 32, LSTM(256) + Dense(1): one
      forward+backward+update (train_on_batch) and forward only
      (model(x, training=False), an eager call), medians after warm-up; extra:
      forward via predict_on_batch (compiled).  GFLOP/s count
      an LSTM forward as 2*B*T*4H*(F+H) flops and forward+backward as 3x that.

Run (from the repository root; needs the separate Keras venv, not the main
environment):

    /opt/kerasenv/bin/python benchmarks/keras_workloads.py --quick
    /opt/kerasenv/bin/python benchmarks/keras_workloads.py --repeats 5

Options: --repeats N (samples per fit / train-step timing, default 5),
--calls N (predict calls, default 200), --quick (smaller sizes: a smoke test,
not comparable with the full numbers), --threads N (TF intra-op threads;
default: TF's own choice), --only W1,W2,... (subset), --verbose-tf (show
TensorFlow's import-time C++ log lines, hidden by default).

Imports: only numpy, tensorflow and keras besides the standard library.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["CUDA_VISIBLE_DEVICES"] = ""  # CPU only
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402


def _quiet_import():
    """Import TF + Keras with C++-level stderr chatter (oneDNN/absl notices that
    TF_CPP_MIN_LOG_LEVEL does not cover) sent to /dev/null; --verbose-tf keeps it."""
    if "--verbose-tf" in sys.argv:
        import tensorflow, keras  # noqa: E401
        return tensorflow, keras
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow, keras  # noqa: E401
        tensorflow.constant(0.0) + 1.0  # first op also logs; do it here
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return tensorflow, keras


tf, keras = _quiet_import()
tf.get_logger().setLevel("ERROR")
warnings.filterwarnings("ignore")


def summary(samples, scale=1.0):
    xs = [s * scale for s in samples]
    return {
        "median": statistics.median(xs),
        "min": min(xs),
        "max": max(xs),
        "n": len(xs),
    }


def log(msg):
    print(f"[keras_workloads] {msg}", file=sys.stderr, flush=True)


def fresh_session(seed=0):
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)


def windows(series, lookback):
    n = len(series) - lookback
    idx = np.arange(lookback)[None, :] + np.arange(n)[:, None]
    X = series[idx][..., None].astype(np.float32)
    y = series[lookback:][:, None].astype(np.float32)
    return X, y


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._t = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._t)


# -------------------------------------------------------------------- W1
def tutorial_data():
    t = np.arange(20, dtype=np.float64)
    series = np.sin(t / 3.0) + 0.05 * t
    train = series[:13]
    lo, hi = train.min(), train.max()  # scaler fitted on the training part
    train = (train - lo) / (hi - lo)
    X, y = windows(train, 5)
    assert X.shape == (8, 5, 1) and y.shape == (8, 1)
    return X, y


def tutorial_model():
    model = keras.Sequential([
        keras.layers.LSTM(50, input_shape=(5, 1)),
        keras.layers.Dense(1),
    ])
    model.compile(loss="mean_squared_error", optimizer="adam")
    return model


def bench_w1(repeats, epochs):
    X, y = tutorial_data()
    fits, steady, losses = [], [], []
    model = None
    for r in range(repeats):
        fresh_session(r)
        model = tutorial_model()
        timer = EpochTimer()
        t0 = time.perf_counter()
        hist = model.fit(X, y, epochs=epochs, batch_size=1, verbose=0,
                         callbacks=[timer])
        fits.append(time.perf_counter() - t0)
        steady.extend(timer.times[1:])
        losses.append(float(hist.history["loss"][-1]))
        log(f"W1 fit {r + 1}/{repeats}: {fits[-1]:.3f}s")
    return {
        "description": ("Sequential([LSTM(50, input_shape=(5,1)), Dense(1)]), "
                        "adam/mse, X (8,5,1), batch_size=1"),
        "epochs": epochs,
        "steps_per_epoch": 8,
        "jit_compile": bool(model.jit_compile),
        "fit_s": summary(fits),
        "steady_epoch_s": summary(steady) if steady else None,
        "steady_step_us": (summary(steady, 1e6 / 8) if steady else None),
        "final_loss": summary(losses),
    }, model


def bench_w1_predict(model, calls, warmup=10):
    x = tutorial_data()[0][:1]
    assert x.shape == (1, 5, 1)
    out = {}
    xt = tf.constant(x)
    for name, fn in [
        ("predict_us", lambda: model.predict(x, verbose=0)),
        ("direct_call_us", lambda: model(x)),
        # extras: direct call on a tensor, and the compiled predict path
        # without predict()'s data-adapter setup
        ("direct_call_tensor_us", lambda: np.asarray(model(xt, training=False))),
        ("predict_on_batch_us", lambda: model.predict_on_batch(x)),
    ]:
        for _ in range(warmup):
            fn()
        ts = []
        for _ in range(calls):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        out[name] = summary(ts, 1e6)
        log(f"W1 {name}: median {out[name]['median']:.0f} us")
    out["input_shape"] = list(x.shape)
    out["warmup_calls"] = warmup
    return out


# -------------------------------------------------------------------- W2
def bench_w2(repeats, n_points, epochs, lookback=24, units=64, batch=64):
    rng = np.random.default_rng(0)
    t = np.arange(n_points, dtype=np.float64)
    series = np.sin(2 * np.pi * t / 50.0) + 0.1 * rng.standard_normal(n_points)
    X, y = windows(series, lookback)
    fits = []
    for r in range(repeats):
        fresh_session(r)
        model = keras.Sequential([
            keras.Input(shape=(lookback, 1)),
            keras.layers.LSTM(units),
            keras.layers.Dense(1),
        ])
        model.compile(loss="mean_squared_error", optimizer="adam")
        t0 = time.perf_counter()
        model.fit(X, y, epochs=epochs, batch_size=batch, verbose=0,
                  shuffle=True)
        fits.append(time.perf_counter() - t0)
        log(f"W2 fit {r + 1}/{repeats}: {fits[-1]:.3f}s")
    n_win = int(X.shape[0])
    return {
        "description": (f"noisy sine n={n_points} (seed 0), windows {lookback}x1,"
                        f" LSTM({units})+Dense(1), adam/mse, batch {batch}"),
        "n_points": n_points,
        "n_windows": n_win,
        "epochs": epochs,
        "batch_size": batch,
        "jit_compile": bool(model.jit_compile),
        "fit_s": summary(fits),
        "windows_per_s": summary([n_win * epochs / f for f in fits]),
    }


# -------------------------------------------------------------------- W3
def bench_w3(repeats, B, T, F, H, warmup=2):
    fresh_session(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, F)).astype(np.float32)
    y = rng.standard_normal((B, 1)).astype(np.float32)
    model = keras.Sequential([
        keras.Input(shape=(T, F)),
        keras.layers.LSTM(H),
        keras.layers.Dense(1),
    ])
    model.compile(loss="mean_squared_error", optimizer="adam")
    xt = tf.constant(x)

    def train():
        model.train_on_batch(x, y)

    def forward():
        np.asarray(model(xt, training=False))  # force completion

    fwd_flops = 2.0 * B * T * 4 * H * (F + H)
    out = {
        "description": f"batch {B}, seq {T}, input {F}, LSTM({H})+Dense(1)",
        "batch": B, "seq": T, "input": F, "units": H,
        "jit_compile": bool(model.jit_compile),
        "forward_gflop": fwd_flops / 1e9,
        "train_gflop": 3 * fwd_flops / 1e9,
        "flop_count": "LSTM only: fwd 2*B*T*4H*(F+H), fwd+bwd 3x",
    }
    def forward_compiled():
        model.predict_on_batch(x)  # extra: same forward, inside tf.function

    for name, fn, flops in [("train_step", train, 3 * fwd_flops),
                            ("forward", forward, fwd_flops),
                            ("forward_predict_on_batch", forward_compiled,
                             fwd_flops)]:
        for _ in range(warmup):
            fn()
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        out[f"{name}_s"] = summary(ts)
        out[f"{name}_gflops"] = flops / 1e9 / statistics.median(ts)
        log(f"W3 {name}: median {statistics.median(ts) * 1e3:.1f} ms, "
            f"{out[f'{name}_gflops']:.1f} GFLOP/s")
    return out


# -------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description="Keras side of lstmkit's benchmark")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--calls", type=int, default=None,
                    help="predict calls for W1p (default 200, quick 50)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--only", default="W1,W2,W3")
    ap.add_argument("--verbose-tf", action="store_true",
                    help="do not hide TensorFlow's import-time log lines")
    args = ap.parse_args(argv)
    if args.repeats < 1:
        ap.error("--repeats must be >= 1")
    only = {s.strip().upper() for s in args.only.split(",") if s.strip()}

    tf.config.set_visible_devices([], "GPU")
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    if args.quick:
        sizes = dict(w1_epochs=10, calls=50, w2_points=2000, w2_epochs=1,
                     w3=(64, 50, 32, 128))
    else:
        sizes = dict(w1_epochs=100, calls=200, w2_points=20000, w2_epochs=3,
                     w3=(256, 100, 32, 256))
    calls = args.calls or sizes["calls"]

    load_before = os.getloadavg()
    t_start = time.perf_counter()
    result = {
        "framework": "keras",
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
        "keras_backend": keras.backend.backend(),
        "numpy_version": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "tf_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
        "devices": [d.device_type for d in tf.config.get_visible_devices()],
        "quick": args.quick,
        "repeats": args.repeats,
        "loadavg_before": list(load_before),
        "workloads": {},
    }
    W = result["workloads"]
    if "W1" in only:
        W["W1_tutorial_fit"], model = bench_w1(args.repeats, sizes["w1_epochs"])
        W["W1_predict_one_window"] = bench_w1_predict(model, calls)
    if "W2" in only:
        W["W2_series_fit"] = bench_w2(args.repeats, sizes["w2_points"],
                                      sizes["w2_epochs"])
    if "W3" in only:
        W["W3_large_step"] = bench_w3(args.repeats, *sizes["w3"])
    result["loadavg_after"] = list(os.getloadavg())
    result["total_wall_s"] = time.perf_counter() - t_start
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
