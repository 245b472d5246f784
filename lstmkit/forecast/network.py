"""The network inside the Forecaster: build the stack, train one ensemble member, forecast.

Forecasts are made in scaled units: windows (N, L, F) in, (N, horizon) out, each member's
output taken relative to the window's last value when the forecaster asks for it, and the
members combined by their median. With Forecaster(linear=True) a linear model of the same
windows (Flatten + Dense: `build_linear`) is trained beside them, and the forecast is the mean
of the LSTMs' median and the linear model's: two different models whose errors partly cancel.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import numpy as np

from lstmkit.callbacks import Callback, EarlyStopping
from lstmkit.checks import choice
from lstmkit.data import WindowedSeries
from lstmkit.distributed import world_size_from_env
from lstmkit.forecast.windows import context_inputs
from lstmkit.layers import GRU, LSTM, Dense, Dropout, Flatten, Recurrent, RepeatVector, SimpleRNN, TimeDistributed
from lstmkit.models import Sequential
from lstmkit.optimizers import Adam
from lstmkit.training import History

if TYPE_CHECKING:
    from lstmkit.forecast.forecaster import Forecaster

CELLS: dict[str, type[Recurrent]] = {"lstm": LSTM, "gru": GRU, "simple_rnn": SimpleRNN}  # Forecaster(cell=...)


def check_cell(cell: object) -> str:
    """Return `cell` if it names a recurrent layer of CELLS, else raise with the close matches."""
    return choice(cell, "cell", CELLS)


Padded = tuple[np.ndarray, np.ndarray, np.ndarray]  # inputs (N, L, F), targets (N, H), lengths (N,)


def build_network(spec: "Forecaster", features: int, lookback: int | None = None) -> Sequential:
    """A fresh, compiled network for `spec`: its `model=` architecture (new weights) or
    `layers` x cell(units) [+ Dropout] + Dense(steps), checked against (lookback, features)
    (`lookback` None: spec.lookback)."""
    lookback = spec.lookback if lookback is None else lookback
    if spec.model is not None:
        model = Sequential.from_config(spec.model.get_config())
        if model.built_input_shape is None:
            model.build((lookback, features))
    else:
        stack: list[Any] = []
        for layer in range(spec.layers):
            stack.append(CELLS[spec.cell](spec.units, return_sequences=layer < spec.layers - 1,
                                          input_shape=(lookback, features) if layer == 0 else None))
            if spec.dropout > 0:
                stack.append(Dropout(spec.dropout))
        if spec.strategy == "seq2seq":  # the encoder's last state, repeated, is read by a decoder step by step
            stack += [RepeatVector(spec.steps), CELLS[spec.cell](spec.units, return_sequences=True),
                      TimeDistributed(Dense(1))]
        else:
            stack.append(Dense(spec.steps))
        model = Sequential(stack, name="forecaster")
    expected = (lookback, features)
    given = model.built_input_shape
    if len(given) != 2 or any(g is not None and g != e for g, e in zip(given, expected)):
        raise ValueError(
            f"`model` takes inputs {given} but lookback={lookback} with {features} feature(s) gives "
            f"{expected}; build it with input_shape={expected}, or leave input_shape out.")
    if tuple(model.output_shape) not in ((spec.steps,), (spec.steps, 1)):
        raise ValueError(
            f"`model` outputs {tuple(model.output_shape)} per sample but strategy={spec.strategy!r} with "
            f"horizon={spec.horizon} needs ({spec.steps},): end it with Dense({spec.steps}).")
    model.compile(loss="mean_squared_error", optimizer=Adam(learning_rate=spec.learning_rate))
    return model


def build_linear(spec: "Forecaster", features: int, lookback: int) -> Sequential:
    """The linear model of Forecaster(linear=True): Flatten + Dense(steps) over the whole
    (normalised) window, starting from zero weights, so its first forecast is the windows'
    own level (and seasonal profile). Compiled as the LSTM members are."""
    model = Sequential([Flatten(input_shape=(lookback, features)), Dense(spec.steps)], name="linear")
    model.layers[-1].set_weights([np.zeros((lookback * features, spec.steps)), np.zeros(spec.steps)])
    model.compile(loss="mean_squared_error", optimizer=Adam(learning_rate=spec.learning_rate))
    return model


def right_aligned(inputs: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """Windows (N, L, F) whose first lengths[i] steps are real, with those steps moved to the end
    and zeros (a relative window's own level) before them: what the linear model reads, since a
    Dense weight belongs to a place in time (the last step, the one before, ...). None: as given."""
    if lengths is None:
        return inputs
    out = np.zeros_like(inputs)
    width = inputs.shape[1]
    for length in np.unique(lengths):
        rows = np.flatnonzero(lengths == length)
        out[rows, width - length :] = inputs[rows, :length]
    return out


def linear_windows(windows: "WindowedSeries | Padded | None") -> "WindowedSeries | Padded | None":
    """The training or validation windows of the LSTMs, as the linear model reads them."""
    if windows is None or isinstance(windows, WindowedSeries):
        return windows
    inputs, targets, lengths = windows
    return right_aligned(inputs, lengths), targets, None


def linear_text(steps: int, best_epoch: int | None, errors: dict[str, float] | None) -> str:
    """One line for summary() and the report: the linear model beside the LSTMs, and how each part scored on
    the validation tail (`errors`: Forecaster.linear_errors_)."""
    note = (f"Linear model (linear=True): Flatten + Dense({steps}) on the same windows, best epoch {best_epoch}; "
            f"the forecast is the mean of the LSTM's and its.")
    if errors:
        scored = ", ".join(f"{name} {value:.4g}" for name, value in errors.items())
        best = min(errors, key=lambda name: errors[name] if np.isfinite(errors[name]) else np.inf)
        note += f" Validation MAE in scaled units: {scored} (lowest: {best})."
    return note


def train_network(model: Sequential, spec: "Forecaster", train: "WindowedSeries | Padded",
                  validation: "WindowedSeries | Padded | None", member: int, verbose: int,
                  distributed: str = "auto", label: str | None = None) -> tuple[History, int]:
    """Fit one member (seed spec.seed + member), early-stopped on `validation` with the best
    weights restored. Returns its History and the 1-based epoch whose weights it keeps.
    Windows come as a WindowedSeries, or as arrays (inputs, targets, lengths) when some have
    fewer than lookback real steps (lstmkit.forecast.padding).
    Data-parallel, the batch grows to the next multiple of the number of processes.
    `label`: the progress line's name (default "model k/ensemble")."""
    world = world_size_from_env() if distributed == "auto" else 1
    stopper = None if validation is None else EarlyStopping(patience=spec.patience, restore_best_weights=True)
    callbacks: list[Callback] = [] if stopper is None else [stopper]
    if verbose == 1:
        callbacks.append(_ProgressLine(label or f"model {member + 1}/{spec.ensemble_}", spec.epochs))
    callbacks += spec._extra_callbacks  # Forecaster.tune's pruning
    inputs = {"x": train} if isinstance(train, WindowedSeries) else {"x": train[0], "y": train[1], "lengths": train[2]}
    history = model.fit(**inputs, epochs=spec.epochs, batch_size=-(-spec.batch_size // world) * world,
                        verbose=2 if verbose == 2 else 0, validation_data=validation,
                        callbacks=callbacks, seed=spec.seed + member, distributed=distributed)
    best = stopper.best_epoch if stopper is not None else len(history.epoch) - 1
    return history, best + 1


def forecast_scaled(members: list[Sequential], contexts: np.ndarray, ahead: np.ndarray, horizon: int,
                    strategy: str, relative: bool, lengths: np.ndarray | None = None,
                    lookbacks: list[int] | None = None, season: int = 1, scaled: bool = False,
                    linear: Sequential | None = None) -> np.ndarray:
    """Median over `members` of the forecasts from `contexts` (N, L, F); returns (N, horizon).
    With a `linear` model (build_linear; it reads the last steps it was built for), the mean of that median and its
    forecast (no `members`: its forecast alone).

    "direct" and "seq2seq" read all steps from one output; "recursive" appends each one-step forecast to
    the window, with the future-known covariates `ahead` (N, horizon, K) of that step.
    `lengths` (N,): windows whose first lengths[i] steps are real (None: all L are).
    `lookbacks`: the steps each member reads, the last of each window (None: all L); the level and
    seasonal profile come from the whole window (lstmkit.forecast.windows.context_inputs).
    `season`: > 1 when each window is deseasonalised by its own profile (lstmkit.data.window_levels);
    `scaled`: windows divided by their mean absolute step (lstmkit.data.window_scale).
    """
    def output(member: Sequential, window: np.ndarray, lengths: np.ndarray | None, reads: int,
               aligned: bool) -> np.ndarray:
        width = int(np.prod(member.output_shape))  # the steps it forecasts, whatever `horizon` is asked
        x, base, scale, own_lengths = context_inputs(window, relative, lengths, season, width, scaled, reads)
        if aligned:
            x, own_lengths = right_aligned(x, own_lengths), None
        return member.predict(x, batch_size=256, lengths=own_lengths).reshape(len(x), -1) * scale + base

    def predict(window: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
        outputs = [output(member, window, lengths, window.shape[1] if lookbacks is None else lookbacks[j], False)
                   for j, member in enumerate(members)]
        if linear is None:
            return np.median(np.stack(outputs), axis=0)
        alone = output(linear, window, lengths, linear.built_input_shape[0], True)
        return alone if not outputs else (np.median(np.stack(outputs), axis=0) + alone) / 2

    if strategy != "recursive":
        return predict(contexts, lengths)[:, :horizon]
    window, steps = np.array(contexts, dtype=np.float64), []
    for step in range(horizon):
        value = predict(window, lengths)[:, 0]
        steps.append(value)
        row = np.concatenate([value[:, None], ahead[:, step]], axis=1)
        if lengths is None:
            window = np.concatenate([window[:, 1:], row[:, None, :]], axis=1)
            continue
        full = lengths == window.shape[1]  # full windows shift; shorter ones grow by one step
        window[full] = np.concatenate([window[full, 1:], row[full, None, :]], axis=1)
        window[~full, lengths[~full]] = row[~full]
        lengths = np.minimum(lengths + 1, window.shape[1])
    return np.stack(steps, axis=1)


class _ProgressLine(Callback):
    """fit(verbose=1): one line per model, redrawn each epoch on a terminal."""

    def __init__(self, prefix: str, epochs: int) -> None:
        super().__init__()
        self.prefix, self.epochs, self.line = prefix, epochs, ""

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        values = " - ".join(f"{key} {value:.4g}" for key, value in logs.items())
        self.line = f"{self.prefix}: epoch {epoch + 1}/{self.epochs} - {values}"
        if sys.stdout.isatty():
            sys.stdout.write("\r" + self.line)
            sys.stdout.flush()
        return False

    def on_train_end(self) -> None:
        sys.stdout.write(("\r" if sys.stdout.isatty() else "") + self.line + "\n")
