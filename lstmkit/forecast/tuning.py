"""Search a Forecaster's settings with Optuna: `Forecaster.tune(series, n_trials=..., timeout=...)`.

How a setting is scored, the same way for every trial (the defaults' included, as trial 0):

- the latest `holdout` points of each series are held out: no trial trains on them or stops
  early on them (each trial's own early stopping uses the validation tail of the points before);
- from origins in the held-out part, one horizon apart, the trial forecasts `horizon` steps
  from the history up to the origin; the score is the mean absolute error of those forecasts
  (the series' units), which only times after the training data decide;
- trials report their validation loss each epoch, and Optuna's median pruner stops those worse
  than the median of earlier trials at the same epoch.

With relative="auto" on a single series, relative windows or levels is searched too (each trial
trains one of them; the given settings' trial, relative windows).

The sampler (TPE) and every trial's training are seeded from the forecaster's `seed`, so the
same call gives the same result on CPU (unless `timeout` cuts it short at a different trial).
The best settings are then fitted on the whole series; `tuning_` records them beside the
defaults' score, and the model file and the report keep them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from lstmkit.callbacks import Callback
from lstmkit.checks import choice
from lstmkit.forecast import network
from lstmkit.forecast.series import SeriesData

if TYPE_CHECKING:
    from lstmkit.forecast.forecaster import Forecaster

SEARCHED = ("lookback", "units", "layers", "dropout", "learning_rate")


class _PruningCallback(Callback):
    """Reports each epoch's validation loss to the trial; stops training when Optuna prunes it."""

    def __init__(self, trial: Any) -> None:
        super().__init__()
        self.trial, self.pruned = trial, False

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> bool:
        if "val_loss" not in logs:
            return False
        self.trial.report(float(logs["val_loss"]), epoch)
        self.pruned = self.trial.should_prune()
        return self.pruned


def _check_cells(cells: Sequence[str] | None, given: str) -> list[str]:
    """`cells` checked against the recurrent cells the Forecaster can build (None: the given one)."""
    known = tuple(getattr(network, "CELLS", ("lstm",)))  # network.CELLS once the Forecaster takes `cell=`
    cells = [given] if cells is None else list(cells)
    if not cells:
        raise ValueError(f"`cells` must list recurrent cells this lstmkit has ({', '.join(known)}); got {cells!r}.")
    return [choice(cell, "cells", known, kind="cell") for cell in cells]


def holdout_score(spec: "Forecaster", series: list[SeriesData], names: tuple[list[str], list[str]],
                  holdout: int, callbacks: Sequence[Callback] = ()) -> float:
    """Fit `spec` on each series less its last `holdout` points, forecast from origins one
    horizon apart in the held-out part, return the mean absolute error over all of them."""
    spec._extra_callbacks = list(callbacks)
    try:
        spec._fit_series([item.head(len(item) - holdout, spec.horizon) for item in series], *names)
    finally:
        spec._extra_callbacks = []
    if any(getattr(callback, "pruned", False) for callback in callbacks):
        return float("nan")
    errors = []
    for item in series:
        origins = range(len(item) - holdout, len(item) - spec.horizon + 1, spec.horizon)
        histories = [item.head(origin, spec.horizon) for origin in origins]
        for origin, (_, forecast, _) in zip(origins, spec._predict_series(histories, spec.horizon)):
            errors.append(np.abs(forecast - item.values[origin : origin + spec.horizon]))
    return float(np.nanmean(np.concatenate(errors)))


def tune_forecaster(forecaster: "Forecaster", series: list[SeriesData], names: tuple[list[str], list[str]],
                    n_trials: int, timeout: float | None, cells: Sequence[str] | None) -> dict[str, Any]:
    """Run the search (see the module docstring); returns the `tuning_` record. The forecaster's
    own settings become the best ones; fitting it is the caller's."""
    try:
        import optuna
    except ImportError:
        raise ImportError('Forecaster.tune needs Optuna: pip install "lstmkit[tune]".') from None
    config = forecaster.get_config()
    cells = _check_cells(cells, config.get("cell", "lstm"))
    shortest = min(len(item) for item in series)
    holdout = max(forecaster.horizon, round(forecaster.validation_split * shortest))
    lookbacks = _lookback_range(forecaster, shortest - holdout)
    defaults: dict[str, Any] = {name: getattr(forecaster, name) for name in SEARCHED}
    defaults["lookback"] = min(max(defaults["lookback"], lookbacks[0]), lookbacks[1])
    search_relative = forecaster.relative == "auto" and len(series) == 1  # lstmkit.forecast.relative's rule
    if search_relative:
        defaults["relative"] = True

    def objective(trial: Any) -> float:
        settings = {
            "lookback": trial.suggest_int("lookback", *lookbacks),
            "units": trial.suggest_int("units", min(8, defaults["units"]), max(128, defaults["units"]), log=True),
            "layers": trial.suggest_int("layers", 1, max(3, defaults["layers"])),
            "dropout": trial.suggest_float("dropout", 0.0, max(0.5, defaults["dropout"])),
            "learning_rate": trial.suggest_float("learning_rate", min(1e-4, defaults["learning_rate"]),
                                                 max(3e-2, defaults["learning_rate"]), log=True),
        }
        if search_relative:  # relative="auto" is settled here, by the same score as the rest
            settings["relative"] = trial.suggest_categorical("relative", [True, False])
        cell = trial.suggest_categorical("cell", cells)
        if "cell" in config:  # a Forecaster that builds other cells than LSTM
            settings["cell"] = cell
        spec = type(forecaster)(**{**config, **settings, "levels": None, "ensemble": 1})
        pruning = _PruningCallback(trial)
        score = holdout_score(spec, series, names, holdout, [pruning])
        if pruning.pruned:
            raise optuna.TrialPruned()
        return score

    logging.getLogger("optuna").setLevel(logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=forecaster.seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=5))
    given = config.get("cell", "lstm")
    defaults["cell"] = given if given in cells else cells[0]
    study.enqueue_trial(defaults)  # trial 0: the settings as given
    study.optimize(objective, n_trials=n_trials, timeout=timeout)
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = study.best_trial
    return {
        "best_params": dict(best.params), "best_score": best.value,
        "default_params": defaults, "default_score": study.trials[0].value,
        "metric": f"MAE over the last {holdout} points (held out of every trial's training), origins one "
                  f"horizon apart",
        "trials": len(study.trials), "completed": len(complete),
        "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
    }


def _lookback_range(forecaster: "Forecaster", length: int) -> tuple[int, int]:
    """(lowest, highest) lookback leaving a series of `length` points room for training windows
    and a validation tail."""
    highest = max(2 * forecaster.lookback, 2)
    while highest > 1 and type(forecaster)(**{**forecaster.get_config(), "lookback": highest}).min_length() > length:
        highest -= 1
    if type(forecaster)(**{**forecaster.get_config(), "lookback": highest}).min_length() > length:
        raise ValueError(f"the series is too short to tune: holding out its last points leaves {length}, fewer than "
                         f"lookback 1 and horizon={forecaster.horizon} need. Pass a longer series or a shorter horizon.")
    return max(1, min(forecaster.lookback // 2, highest)), highest


def tuning_text(tuning: dict[str, Any]) -> str:
    """One line for summaries and reports: the best settings and score beside the defaults'."""
    def settings(params: dict[str, Any]) -> str:
        return ", ".join(f"{name} {value:.3g}" if isinstance(value, float) else f"{name} {value}"
                         for name, value in params.items())

    return (f"Tuned ({tuning['trials']} trials, {tuning['pruned']} pruned; {tuning['metric']}): "
            f"best {tuning['best_score']:.4g} with {settings(tuning['best_params'])}; "
            f"the given settings scored {tuning['default_score']:.4g} ({settings(tuning['default_params'])}).")
