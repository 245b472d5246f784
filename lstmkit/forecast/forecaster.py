"""Forecaster: an LSTM forecaster that is right by default.

What "right" means here, each done without being asked:

- time-ordered splits only: the last `validation_split` of the windows (in time) is a
  validation tail for early stopping (best weights restored) and for the prediction intervals;
  training windows end before the tail starts, so no target is seen twice;
- scalers (one per series) fitted on the training part only and undone on the way out;
- windows are cut from the series batch by batch (lstmkit.data.WindowedSeries), so memory
  stays O(series length); no window's input reaches its own forecast origin;
- each window is taken relative to its last value, so trends that leave the training range
  can still be forecast, unless a single series forecasts better on the validation tail from
  windows of levels, as a series that returns to its mean does (`relative="auto"`);
- on small data, where one model's forecasts depend most on its seed and a model costs seconds,
  three models are trained and their median forecast (`ensemble="auto"`);
- the four baselines (naive, seasonal naive, drift, mean) are scored beside the model on the
  validation tail, and `summary()` says plainly when one of them wins (and, with
  `statistical=True`, AutoETS, AutoARIMA and Theta: lstmkit.forecast.statistical);
- a positive series whose spread grows with its level is forecast on the log scale
  (lstmkit.forecast.transforms), chosen on its training part;
- in a global model, series shorter than lookback + horizon train on padded windows and those
  too short for any window get seasonal-naive forecasts (lstmkit.forecast.padding).

Asked for, not by default: `linear=True` trains a linear model of the same windows beside the
LSTM and averages the two forecasts (a combination of two different models, as the M4
competition's best entries were); the README's benchmark section says where that paid and
where it did not.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from typing import Any, Sequence

import numpy as np
import pandas as pd

from lstmkit.checks import choice
from lstmkit.checks import fraction as _fraction
from lstmkit.checks import positive_int as _positive_int
from lstmkit.checks import positive_number
from lstmkit.data import WindowedSeries
from lstmkit.distributed import check_mode, launched_rank
from lstmkit.forecast import intervals
from lstmkit.forecast.backtest import BacktestResult, TidyRows
from lstmkit.forecast.backtest import backtest as run_backtest
from lstmkit.forecast.baselines import seasonal_naive
from lstmkit.forecast import calendar as calendars
from lstmkit.forecast import relative as relative_options
from lstmkit.forecast.files import load_forecaster, save_forecaster
from lstmkit.forecast.lookbacks import ALL, AUTO, candidates, choice_text, choose, ensemble_size, ensemble_text
from lstmkit.forecast.metrics import format_table, score_table, verdict
from lstmkit.forecast.network import (CELLS, Padded, build_linear, build_network, check_cell, forecast_scaled,
                                      linear_text, linear_windows, train_network)
from lstmkit.forecast.quantiles import QuantileHead, band_label, check_quantiles, column_name, features, window_features
from lstmkit.forecast.padding import (MIN_CONTEXT, first_known, padded_contexts, padded_windows, split_short,
                                     too_short, window_origins)
from lstmkit.forecast.series import (MISSING_POLICIES, SeriesData, check_length, future_index, index_spec,
                                     infer_season, read_series, with_future_covariates)
from lstmkit.forecast.seasonality import SEASONAL, WINDOW_SCALES, profile_context, window_season
from lstmkit.forecast.statistical import StatisticalModels
from lstmkit.forecast.statistical import available as statistical_available
from lstmkit.forecast.statistical import resolve as resolve_statistical
from lstmkit.forecast.transforms import TRANSFORMS
from lstmkit.forecast.tuning import tune_forecaster, tuning_text
from lstmkit.forecast.windows import (SCALERS, ContextWindows, Scalers, context_inputs, feature_matrix, fit_scalers,
                                      known_origins, scale_target, scaled_residuals, unscale_target)
from lstmkit.models import Sequential
from lstmkit.training import History

STRATEGIES = ("direct", "recursive", "seq2seq")


_SCORE_CHUNK = 4096  # validation origins forecast at once
_COMPARED_ORIGINS, _COMPARED_SERIES = 3, 50  # where the statistical models are scored at fit


class Forecaster:
    """Forecast one or many series `horizon` steps ahead from the last `lookback` values.

    Args:
        lookback: past steps the LSTM reads (L); about 2-3 seasons works well. "auto": 1, 2 and 3 x
            max(season, horizon) are each trained and scored on the validation tail, and the best of them
            alone or their median is kept (lstmkit.forecast.lookbacks); `summary()` says which and why.
        horizon: steps to forecast (H).
        units, layers, dropout: the recurrent stack: `layers` LSTM(units) layers (or GRU, SimpleRNN:
            see `cell`), each followed by Dropout(dropout) when dropout > 0, then Dense(H)
            ("direct") or Dense(1) ("recursive").
        cell: the recurrent layer of that stack: "lstm" (LSTM), "gru" (GRU) or "simple_rnn" (SimpleRNN).
        epochs, batch_size, learning_rate, patience: training (Adam on MSE); at most `epochs`
            epochs, stopped `patience` epochs after the validation loss last improved.
        scaler: "minmax", "standard" or "none"; one per series, fitted on its training part.
        transform: "auto" (log for a positive series whose spread grows with its level, tested
            on its training part; see lstmkit.forecast.transforms), "log" or "none".
        strategy: "direct" (one model, H outputs), "recursive" (one step, fed back H times) or
            "seq2seq" (an encoder whose summary a decoder of the same `cell` unrolls over the H steps).
        relative: "auto" (a single series is trained both ways, with relative windows and with windows of
            levels, and the one with the lower validation MAE is kept, at the cost of a second training; a
            global model of several series, or a fit without a validation tail, takes relative windows:
            lstmkit.forecast.relative), True (each window relative to its last value: see the module
            docstring) or False (the scaled levels themselves).
        seasonal: "auto" (each window of a seasonal series is deseasonalised by its own profile:
            lstmkit.data.window_levels, over four seasons before the origin where the series has them,
            `context_` steps, even when the lookback holds fewer; chosen on the training parts, see
            lstmkit.forecast.seasonality), "window" (always, when two seasons are known) or "none".
        window_scale: "auto" (a global model of several series divides each window by its mean
            absolute step, lstmkit.data.window_scale, so calm and volatile series reach the network on
            one scale; a single series keeps its own scaler's units), "on" or "off".
        season: observations per season for the baselines and MASE; inferred from the time
            index when None (12 monthly, 4 quarterly, 52 weekly, 7 daily, 24 hourly).
        calendar: "auto" (Fourier terms of the time of day, week or year reach the network as future-known
            covariates for each cycle longer than the lookback that the training part shows: daily
            temperatures get the time of year, half-hourly demand the day of week; lstmkit.forecast.calendar),
            "none", or a list of cycles from "day", "week", "year" (always those).
        levels: prediction-interval levels in percent, e.g. (80, 95); None for none.
        ensemble: train this many models (seeds seed, seed+1, ...) and take their median (with
            lookback="auto": this many per lookback kept); "auto" (the default): 3 where the data are
            small (the series' points times the lookback at most 100,000: a few seconds per model),
            1 above (lstmkit.forecast.lookbacks.ensemble_size); summary() says which and why.
        time_budget: lookback="auto" only: seconds for training the candidates, shortest first; once they are
            spent, the candidates not yet begun are skipped (the first is always trained) and `summary()` names
            them. None (the default): every candidate, and the same result on every machine.
        linear: also train a linear model of the same windows (Flatten + Dense(H): each forecast step a
            weighted sum of the window's normalised values, early-stopped on the same validation tail,
            seed seed+ensemble) and forecast the mean of the LSTMs' median and its forecast; it adds 14-38%
            to the fit time of long series (more on tiny ones, where its many cheap epochs outlast the
            LSTM's few), and `summary()` shows the validation error of each part.
            Off by default: on the development benchmark it won over four origins and lost on the last
            horizon (README). Ignored with `model=` (your network alone is used).
        validation_split: fraction of the windows, the latest, held out as the validation tail.
        missing: "interpolate" (with a warning), "drop" (skip windows touching a gap) or "error".
        seed: makes training repeatable on CPU.
        statistical: score AutoETS, AutoARIMA and Theta (statsforecast, the `[stats]` extra) beside
            the model, in `summary()` (on a few validation origins) and `backtest()`: True (an
            error says how to install it when missing), None when installed, False not (each
            origin costs three model fits: about a second for a seasonal monthly series).
        model: any lstmkit Sequential whose input is (lookback, features) and output (H,) or
            (H, 1) (1 for "recursive"); trained copies of it replace the default stack.
        quantiles: probabilities, e.g. (0.1, 0.5, 0.9): a head on the first model's LSTM state, trained
            on the pinball loss, forecasts these quantiles directly (lstmkit.forecast.quantiles); `predict()`
            adds columns q_0.1, q_0.5, q_0.9 and `backtest()` the coverage of the outer band. Direct
            strategy, default stack only; None for none.

    Example:
        >>> fc = Forecaster(lookback=36, horizon=12, levels=(80, 95)).fit(load_airline_passengers())
        >>> fc.predict()          # DataFrame: forecast, lower_80, upper_80, lower_95, upper_95
        >>> print(fc.summary())   # validation scores beside the baselines
    """

    def __init__(
        self,
        lookback: int | str,
        horizon: int,
        units: int = 32,
        layers: int = 1,
        dropout: float = 0.0,
        cell: str = "lstm",
        epochs: int = 200,
        batch_size: int = 16,
        learning_rate: float = 3e-3,
        scaler: str = "minmax",
        transform: str = "auto",
        strategy: str = "direct",
        relative: bool | str = "auto",
        seasonal: str = "auto",
        window_scale: str = "auto",
        season: int | None = None,
        calendar: str | Sequence[str] = "auto",
        levels: Sequence[int] | None = None,
        ensemble: int | str = "auto",
        time_budget: float | None = None,
        linear: bool = False,
        validation_split: float = 0.3,
        patience: int = 30,
        missing: str = "interpolate",
        seed: int = 0,
        model: Sequential | None = None,
        statistical: bool | None = False,
        quantiles: Sequence[float] | None = None,
    ) -> None:
        self.auto_lookback = lookback == AUTO
        if isinstance(lookback, str) and not self.auto_lookback:
            raise ValueError(f"`lookback` must be a whole number of steps or 'auto'; got {lookback!r}.")
        # With "auto" the lookback is chosen at fit; until then the shortest a series can take.
        self.lookback = 1 if self.auto_lookback else _positive_int(lookback, "lookback")
        self.horizon = _positive_int(horizon, "horizon")
        self.units = _positive_int(units, "units")
        self.layers = _positive_int(layers, "layers")
        self.dropout = _fraction(dropout, "dropout")
        self.cell = check_cell(cell)
        self.epochs = _positive_int(epochs, "epochs")
        self.batch_size = _positive_int(batch_size, "batch_size")
        self.learning_rate = positive_number(learning_rate, "learning_rate")
        self.scaler = choice(scaler, "scaler", SCALERS)
        self.transform = choice(transform, "transform", TRANSFORMS)
        self.strategy = choice(strategy, "strategy", STRATEGIES)
        if isinstance(relative, str) and relative != AUTO:
            raise ValueError(f"`relative` must be True, False or 'auto'; got {relative!r}.")
        self.relative: bool | str = relative if relative == AUTO else bool(relative)
        self.relative_ = self.relative is not False  # what the windows are; "auto" settles it at fit
        self.relative_choice_: dict[str, Any] | None = None  # relative="auto": the options' validation MAE
        self.seasonal = choice(seasonal, "seasonal", SEASONAL)
        self.window_scale = choice(window_scale, "window_scale", WINDOW_SCALES)
        self.window_season_ = 1  # the season each window is deseasonalised by (1: none); set by fit
        self.window_scaled_ = False  # windows divided by their mean absolute step; set by fit
        self.context_: int | None = None  # rows of history each window carries (profile_context); set by fit
        self.season = None if season is None else _positive_int(season, "season")
        self.calendar = calendars.check_calendar(calendar)
        self.calendar_: tuple[str, ...] = ()  # the cycles whose calendar features the network reads; set by fit
        self.calendar_note_ = "Calendar: none."
        self.levels = intervals.check_levels(levels)
        if isinstance(ensemble, str) and ensemble != AUTO:
            raise ValueError(f"`ensemble` must be a whole number of models or 'auto'; got {ensemble!r}.")
        self.ensemble: int | str = ensemble if ensemble == AUTO else _positive_int(ensemble, "ensemble")
        self.ensemble_ = 1 if ensemble == AUTO else self.ensemble  # models per lookback; "auto" settles it at fit
        self.ensemble_note_ = f"{self.ensemble_} model(s)"
        self.time_budget = positive_number(time_budget, "time_budget", optional=True, hint="It is in seconds.")
        if self.time_budget is not None and not self.auto_lookback:
            raise ValueError(f"`time_budget` bounds the candidates of lookback='auto'; with lookback={lookback!r} one "
                             f"model is trained. Pass lookback='auto', or leave time_budget out.")
        if not isinstance(linear, (bool, np.bool_)):
            raise TypeError(f"`linear` must be True or False; got {linear!r}.")
        self.linear = bool(linear)
        self.validation_split = _fraction(validation_split, "validation_split")
        self.patience = _positive_int(patience, "patience", minimum=0)
        self.missing = choice(missing, "missing", MISSING_POLICIES)
        self.seed = _positive_int(seed, "seed", minimum=0)
        if model is not None and not isinstance(model, Sequential):
            raise TypeError(f"`model` must be an lstmkit Sequential; got {type(model).__name__}.")
        self.model = model
        resolve_statistical(statistical)  # checks the value, and that statsforecast is there for True
        self.statistical = statistical
        self.quantiles = check_quantiles(quantiles)
        if self.quantiles and (strategy != "direct" or model is not None):
            raise ValueError(f"`quantiles` train a head of the default stack with strategy='direct'; got "
                             f"strategy={strategy!r}{' and a model=' if model is not None else ''}. Use "
                             f"strategy='direct' without `model`, or leave `quantiles` out.")
        self.quantile_head_: QuantileHead | None = None
        self.members_: list[Sequential] = []
        self.linear_: Sequential | None = None  # linear=True: the linear model, set by fit
        self.linear_best_epoch_: int | None = None
        self.linear_errors_: dict[str, float] | None = None  # validation MAE of the LSTMs, the linear model, the mean
        self.histories_: list[History] = []
        self.tuning_: dict[str, Any] | None = None  # what Forecaster.tune found
        self.lookback_choice_: dict[str, Any] | None = None  # lookback="auto": candidates, scores, choice
        self.member_lookbacks_: list[int] = []  # the steps each member reads
        self._extra_callbacks: list[Any] = []  # given to every member's fit (tune's pruning)

    # -- configuration -----------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (without `model`) as plain values."""
        return {
            "lookback": AUTO if self.auto_lookback else self.lookback, "horizon": self.horizon, "units": self.units,
            "layers": self.layers,
            "dropout": self.dropout, "cell": self.cell, "epochs": self.epochs, "batch_size": self.batch_size,
            "learning_rate": self.learning_rate, "scaler": self.scaler, "transform": self.transform,
            "strategy": self.strategy, "relative": self.relative, "seasonal": self.seasonal,
            "window_scale": self.window_scale,
            "season": self.season,
            "calendar": self.calendar if isinstance(self.calendar, str) else list(self.calendar),
            "levels": None if not self.levels else list(self.levels), "ensemble": self.ensemble,
            "time_budget": self.time_budget, "linear": self.linear,
            "validation_split": self.validation_split, "patience": self.patience, "missing": self.missing,
            "seed": self.seed, "statistical": self.statistical,
            "quantiles": list(self.quantiles) if self.quantiles else None,
        }

    def clone(self) -> "Forecaster":
        """An unfitted Forecaster with the same arguments."""
        return Forecaster(**self.get_config(), model=self.model)

    @property
    def steps(self) -> int:
        """Steps the network outputs: H for "direct" and "seq2seq", 1 for "recursive"."""
        return 1 if self.strategy == "recursive" else self.horizon

    def min_length(self) -> int:
        """The fewest points a series needs for fit (with a validation tail when one is asked for)."""
        if self.auto_lookback and self.members_:  # fitted: as before the lookback was chosen
            return self.clone().min_length()
        length = self.lookback + self.horizon
        while self.validation_split > 0 and self._validation_start(length) is None:
            length += 1
        return length

    def _validation_start(self, length: int) -> int | None:
        """First origin of the validation tail of a series of `length` points (None: no tail)."""
        if self.validation_split == 0:
            return None
        reach = self.lookback if length >= self.lookback + self.horizon else MIN_CONTEXT  # short: padded windows
        windows_total = length - reach - self.horizon + 1
        tail = max(1, round(self.validation_split * windows_total))
        start = length - self.horizon - tail + 1
        return start if windows_total >= 1 and start - self.steps - reach + 1 >= 1 else None

    # -- fit ---------------------------------------------------------------------------------
    def fit(
        self,
        data: Any,
        id_col: str | None = None,
        time_col: str | None = None,
        value_col: str | None = None,
        past_covariates: Any = None,
        future_covariates: Any = None,
        verbose: int = 0,
        distributed: str = "auto",
    ) -> "Forecaster":
        """Train on `data`; returns self.

        Args:
            data: a pandas Series (DatetimeIndex, PeriodIndex or integer index), a 1-D numpy
                array, or a DataFrame; a long DataFrame of many series with `id_col` trains one
                global model (scalers stay per series).
            id_col, time_col, value_col: column names in a DataFrame (time_col None: its index).
            past_covariates: values known only up to each origin (a DataFrame/array aligned with
                a Series, or column names of a DataFrame).
            future_covariates: values known ahead (calendar, planned prices), same forms; they may
                run past the data to cover the horizon, or be given to `predict`.
            verbose: 0 silent, 1 one progress line per model and the summary, 2 Keras's epoch lines.
            distributed: "auto" trains data-parallel when started by torchrun with several
                processes (only rank 0 prints); "off" trains each process alone. See Sequential.fit.
        """
        if check_mode(distributed) == "auto" and launched_rank() != 0:
            verbose = 0
        series, past_names, future_names = read_series(
            data, id_col, time_col, value_col, past_covariates, future_covariates, self.missing)
        self.columns_ = {"id_col": id_col, "time_col": time_col, "value_col": value_col}
        self._fit_series(series, past_names, future_names, verbose, distributed)
        if verbose:
            print(self.summary())
        return self

    def tune(self, data: Any, n_trials: int = 20, timeout: float | None = None, cells: Sequence[str] | None = None,
             id_col: str | None = None, time_col: str | None = None, value_col: str | None = None,
             past_covariates: Any = None, future_covariates: Any = None, verbose: int = 0) -> "Forecaster":
        """Search lookback, units, layers, dropout and learning rate (and relative windows or levels, with
        relative="auto" on one series) with Optuna, then fit the best; returns self.

        Every trial (the settings given, first) is scored the same way: trained without the latest points of
        the series, then scored by the MAE of its forecasts from origins inside them (lstmkit.forecast.tuning).
        Bad trials are pruned early on their validation loss. Seeded by `seed`: the same call gives the same
        settings on CPU, unless `timeout` cuts the search short. `tuning_` holds the best settings and score
        beside the defaults'; `save` keeps it and `summary` shows it. Needs `pip install "lstmkit[tune]"`.

        Args:
            data, id_col, time_col, value_col, past_covariates, future_covariates: as in `fit`.
            n_trials: settings to try, the given ones included.
            timeout: stop starting trials after this many seconds (None: run all n_trials).
            cells: recurrent cells to choose among (this lstmkit has "lstm").
            verbose: as in `fit`, for the final fit.
        """
        if self.model is not None:
            raise ValueError("tune() searches the layers of the default LSTM stack, but this Forecaster was given "
                             "model=...; create it without `model` to tune it.")
        if self.auto_lookback:
            raise ValueError("tune() searches the lookback itself; create the Forecaster with a whole-number lookback "
                             "(e.g. suggest_lookback(len(series), horizon, season)) to tune it.")
        n_trials = _positive_int(n_trials, "n_trials")
        positive_number(timeout, "timeout", optional=True, hint="It is in seconds.")
        series, past_names, future_names = read_series(
            data, id_col, time_col, value_col, past_covariates, future_covariates, self.missing)
        self._check_series(series, past_names, future_names)
        tuning = tune_forecaster(self, series, (past_names, future_names), n_trials, timeout, cells)
        config = self.get_config()
        for name, value in tuning["best_params"].items():
            if name in config:  # "cell" only where the Forecaster takes one
                setattr(self, name, value)
        self.columns_ = {"id_col": id_col, "time_col": time_col, "value_col": value_col}
        self._fit_series(series, past_names, future_names, verbose)
        self.tuning_ = tuning
        if verbose:
            print(self.summary())
        return self

    def _fit_series(self, series: list[SeriesData], past_names: list[str], future_names: list[str],
                    verbose: int = 0, distributed: str = "auto") -> None:
        """Train on `series`. With relative="auto" and a single series: once with relative windows, once with
        windows of levels (a clone each, same seeds and split), keeping the fitted state of the one whose
        validation MAE is lower (lstmkit.forecast.relative)."""
        self.relative_choice_ = None
        if self.relative != AUTO or len(series) > 1 or self.validation_split == 0:
            self.relative_ = self.relative is not False
            self._fit_windows(series, past_names, future_names, verbose, distributed)
            return
        started, trials, skipped = time.perf_counter(), {}, False
        for option in (True, False):
            budget = None if self.time_budget is None else self.time_budget - (time.perf_counter() - started)
            if trials and budget is not None and budget <= 0:
                skipped = True
                break
            trial = self.clone()
            trial.relative, trial.relative_, trial._extra_callbacks = option, option, self._extra_callbacks
            trial.time_budget = budget if budget is None else max(budget, 1e-9)
            trial.statistical = False  # scored once, beside the option kept
            trials[option] = trial, trial._fit_windows(series, past_names, future_names, verbose, distributed)
        errors = {option: (float(trial.validation_metrics_.loc["lstm", "MAE"])
                           if trial.validation_metrics_ is not None else float("nan"))
                  for option, (trial, _) in trials.items()}
        kept, val_origins = trials[relative_options.choose(errors)]
        self.__dict__.update({name: value for name, value in vars(kept).items()
                              if name not in ("relative", "time_budget", "statistical", "tuning_", "_extra_callbacks")})
        if resolve_statistical(self.statistical):
            self._score_validation(val_origins)
        if self.lookback_choice_:  # the trials were given what was left of the budget; the record shows it whole
            self.lookback_choice_["time_budget"] = self.time_budget
        self.relative_choice_ = {"errors": {"relative" if option else "levels": value
                                            for option, value in errors.items()},
                                 "skipped": skipped, "time_budget": self.time_budget}

    def _fit_windows(self, series: list[SeriesData], past_names: list[str], future_names: list[str],
                     verbose: int = 0, distributed: str = "auto") -> list[tuple[SeriesData, range]]:
        """Train on `series` with the windows `relative_` says; returns the validation origins of each series."""
        self.season_, self.season_note_ = infer_season(series[0].index, self.season)
        tried = [self.lookback]
        if self.auto_lookback:  # every candidate shares the split of the longest (lstmkit.forecast.lookbacks)
            tried = candidates(max(len(item) for item in series), self.horizon, self.season_)
            self.lookback = tried[-1]
        self._check_series(series, past_names, future_names)
        points = sum(len(item) for item in series)
        self.ensemble_ = ensemble_size(self.ensemble, points, max(tried))
        self.ensemble_note_ = ensemble_text(self.ensemble, self.ensemble_, points, max(tried))
        self.past_names_, self.future_names_ = past_names, future_names
        plain = series  # the series as given: kept for predict(), which adds the calendar again
        self.calendar_, self.calendar_note_ = calendars.choose(
            self.calendar, [(item.values[:end], item.index[:end]) for item in series
                            for end in [self._validation_start(len(item)) or len(item)]], min(tried), self.steps)
        series = [self._with_calendar(item) for item in series]
        self.scalers_ = {item.id: fit_scalers(self.scaler, item, self._validation_start(len(item)) or len(item),
                                              self.transform, self.season_)
                         for item in series}  # too-short series too: predict() reads them
        self.index_specs_ = {item.id: index_spec(item.index) for item in series}
        self.window_season_, self.window_note_ = window_season(
            self.seasonal, [scale_target(self.scalers_[item.id], item.values[: self._validation_start(len(item))
                                                                              or len(item)])
                            for item in series], self.season_)
        if not self.relative_:  # a profile is taken out of relative windows only
            self.window_season_ = 1
            self.window_note_ = "Windows: levels, as scaled (no seasonal profile is taken out of them)."
        self.window_scaled_ = self.relative_ and (self.window_scale == "on" or (self.window_scale == "auto"
                                                                               and len(series) > 1))
        if self.window_scaled_:
            self.window_note_ += (" Each divided by its mean absolute step" + (
                f" (auto: a global model of {len(series)} series)." if self.window_scale == "auto" else "."))
        self.context_ = profile_context(self.lookback, self.window_season_)
        if self.context_ > self.lookback:
            seasons = self.context_ // self.window_season_
            self.window_note_ += (f" The profile reads up to {self.context_} steps ({seasons} seasons) before the "
                                  f"origin where the series has them; the network reads the last {self.lookback}.")
        series = split_short(series, self.steps, self.season_)
        starts = [self._validation_start(len(item)) for item in series]
        self.members_, self.histories_, self.best_epochs_, self.member_lookbacks_ = [], [], [], []
        windows = {}  # lookback -> (training, validation) windows, kept only for the linear model
        started, skipped = time.perf_counter(), []
        for lookback in tried:
            if self.time_budget is not None and self.members_ and time.perf_counter() - started > self.time_budget:
                skipped.append(lookback)
                continue
            if any(len(item) < lookback + self.horizon for item in series):
                train, validation = self._padded_windows(series, starts, lookback)
            else:
                train, validation = self._windows(series, starts, lookback)
            if self.linear and self.model is None:
                windows[lookback] = train, validation
            features = train[0].shape[-1] if isinstance(train, tuple) else train.input_shape[-1]
            for member in range(self.ensemble_):
                model = build_network(self, features, lookback)
                history, best_epoch = train_network(model, self, train, validation, member, verbose, distributed)
                self.members_.append(model)
                self.histories_.append(history)
                self.best_epochs_.append(best_epoch)
                self.member_lookbacks_.append(lookback)
        val_origins = [(item, range(start, len(item) - self.horizon + 1))
                       for item, start in zip(series, starts) if start is not None]
        self.lookback_choice_ = None
        if self.auto_lookback:
            self.lookback_choice_ = self._choose_lookbacks([l for l in tried if l not in skipped], val_origins)
            self.lookback_choice_.update(candidates=tried, skipped=skipped, time_budget=self.time_budget)
        self.linear_, self.linear_best_epoch_, self.linear_errors_ = None, None, None
        if self.linear and self.model is None:
            self._fit_linear(*windows[self.lookback], features, val_origins, verbose, distributed)
        self.tails_ = [self._tail(item) for item in plain]
        self.quantile_head_ = self._fit_quantiles(series, starts) if self.quantiles else None
        self._score_validation(val_origins)
        return val_origins

    def _fit_linear(self, train: "WindowedSeries | Padded", validation: "WindowedSeries | Padded | None",
                    features: int, val_origins: list[tuple[SeriesData, range]], verbose: int,
                    distributed: str) -> None:
        """linear=True: train the linear model on the windows of the (kept) lookback, early-stopped on the
        same validation tail, and score the LSTMs, it and their mean there (lstmkit.forecast.network)."""
        model = build_linear(self, features, self.lookback)
        _, self.linear_best_epoch_ = train_network(model, self, linear_windows(train), linear_windows(validation),
                                                   self.ensemble_, verbose, distributed, label="linear model")
        self.linear_ = model
        lstms = (self.members_, self.member_lookbacks_)
        errors = self._validation_errors(val_origins, {"LSTM": (*lstms, None), "linear": ([], [], model),
                                                       "mean of both": (*lstms, model)})
        self.linear_errors_ = errors if any(np.isfinite(list(errors.values()))) else None

    def _fit_quantiles(self, series: list[SeriesData], starts: list[int | None]) -> QuantileHead:
        """The pinball-loss head on the first member's features (lstmkit.forecast.quantiles)."""
        lookback = self.member_lookbacks_[0]
        if any(len(item) < lookback + self.horizon for item in series):
            train, validation = self._padded_windows(series, starts, lookback)
        else:
            train, validation = self._windows(series, starts, lookback)
        member = self.members_[0]
        head = QuantileHead(self.quantiles, self.units, self.horizon)
        return head.fit(features(member, train), None if validation is None else features(member, validation),
                        self.seed)

    def _choose_lookbacks(self, tried: list[int], val_origins: list[tuple[SeriesData, range]]) -> dict[str, Any]:
        """lookback="auto": score each candidate, and the median of all, on the validation tail; keep the
        best's members (lstmkit.forecast.lookbacks). Returns the record summary() shows."""
        groups = {str(lookback): [j for j, l in enumerate(self.member_lookbacks_) if l == lookback]
                  for lookback in tried}
        if len(tried) > 1:
            groups[ALL] = list(range(len(self.members_)))
        scores = self._validation_errors(val_origins, {
            name: ([self.members_[j] for j in members], [self.member_lookbacks_[j] for j in members], None)
            for name, members in groups.items()})
        chosen = choose(scores) if len(tried) > 1 else str(tried[0])
        kept = groups[chosen]
        for name in ("members_", "histories_", "best_epochs_", "member_lookbacks_"):
            setattr(self, name, [getattr(self, name)[j] for j in kept])
        self.lookback = max(self.member_lookbacks_)
        return {"candidates": tried, "errors": scores if any(np.isfinite(list(scores.values()))) else {},
                "chosen": chosen}

    def _validation_errors(self, val_origins: list[tuple[SeriesData, range]],
                           options: dict[str, tuple[list[Sequential], list[int], Sequential | None]]
                           ) -> dict[str, float]:
        """The mean absolute error, in scaled units over every origin of the validation tail, of each
        option: (LSTM members, the steps each reads, a linear model or None: see forecast_scaled); NaN with
        no origins."""
        errors: dict[str, list[np.ndarray]] = {name: [] for name in options}
        for item, origins in val_origins:
            for first in range(0, len(origins), _SCORE_CHUNK):
                chunk = origins[first : first + _SCORE_CHUNK]
                scalers = self.scalers_[item.id]
                contexts, ahead, lengths = self._contexts(item, scalers, chunk, self.horizon)
                known = ~np.isnan(contexts[:, :, : 1 + item.past.shape[1]]).any(axis=(1, 2))
                if not known.any():
                    continue
                actual = scale_target(scalers, np.stack([item.values[o : o + self.horizon] for o in chunk]))[known]
                for name, (members, lookbacks, linear) in options.items():
                    scaled = forecast_scaled(members, contexts[known], ahead[known], self.horizon, self.strategy,
                                             self.relative_, None if lengths is None else lengths[known], lookbacks,
                                             self.window_season_, self.window_scaled_, linear)
                    errors[name].append(np.abs(actual - scaled).ravel())
        return {name: float(np.nanmean(np.concatenate(parts))) if parts else float("nan")
                for name, parts in errors.items()}

    def _check_series(self, series: list[SeriesData], past_names: list[str], future_names: list[str]) -> None:
        # Series shorter than lookback + horizon train on padded windows; only when none is that long
        # is the lookback itself at fault.
        check_length([max(series, key=len)], self.lookback + self.horizon, self.lookback, self.horizon)
        if self.validation_split > 0 and all(self._validation_start(len(item)) is None for item in series):
            check_length([max(series, key=len)], self.min_length(), self.lookback, self.horizon,
                                " with a validation tail (early stopping, intervals; validation_split=0 "
                                "trains without one)")
        if future_names and self.lookback < self.steps:
            raise ValueError(f"future-known covariates need lookback >= horizon (the window carries them "
                             f"for the horizon); got lookback={self.lookback}, horizon={self.horizon}.")
        if past_names and self.strategy == "recursive":
            raise ValueError("strategy='recursive' cannot use past-observed covariates: their values after the "
                             "origin are unknown. Use strategy='direct', or pass them as future_covariates if "
                             "they are known ahead.")

    def _windows(self, series: list[SeriesData], starts: list[int | None], lookback: int
                 ) -> tuple[WindowedSeries, WindowedSeries | None]:
        """Training windows (targets end before the validation tail) and validation windows
        (origins in the tail) of all series, ready for the network: the feature matrices of the
        series one after another, and the start of every window that stays inside one series.
        With a context wider than `lookback` (profile_context), each matrix is preceded by that many
        unknown rows, so every window is cut context-wide; its profile reads only the known ones."""
        pad = self.context_ - lookback
        matrices, known, train, validation, offset = [], [], [], [], 0
        for item, start in zip(series, starts):
            matrix = feature_matrix(item, self.scalers_[item.id], self.steps, len(item))
            origins = known_origins(matrix, lookback, self.steps)
            end = len(origins) if start is None else np.searchsorted(origins, start - self.steps, side="right")
            first = offset + pad  # the series' first row; a window starts `context_` rows before its origin
            train.append(first + origins[:end] - self.context_)
            if start is not None:
                validation.append(first + origins[origins >= start] - self.context_)
            known += [np.zeros(pad, dtype=bool), ~np.isnan(matrix).any(axis=1)]
            # unknown values lie outside the rows the network reads; a profile stops at them (`known`)
            matrices += [np.zeros((pad, matrix.shape[1])), np.where(np.isnan(matrix), 0.0, matrix)]
            offset = first + len(matrix)
        train_starts = np.concatenate(train)
        validation_starts = np.concatenate(validation) if validation else train_starts[:0]
        if len(train_starts) == 0:
            raise ValueError("no training window is free of missing values; use missing='interpolate'.")
        every = np.concatenate([train_starts, validation_starts])
        if pad:
            windows = ContextWindows(np.concatenate(matrices), self.context_, self.steps, every, lookback,
                                     first_known(np.concatenate(known)), self.window_season_, self.window_scaled_)
        else:
            windows = WindowedSeries(np.concatenate(matrices), lookback, self.steps, target_columns=[0],
                                     relative=self.relative_, starts=every, season=self.window_season_,
                                     scaled=self.window_scaled_)
        validation_windows = windows.subset(slice(len(train_starts), None)) if len(validation_starts) else None
        return windows.subset(slice(0, len(train_starts))), validation_windows

    def _padded_windows(self, series: list[SeriesData], starts: list[int | None], lookback: int
                        ) -> tuple[Padded, Padded | None]:
        """As `_windows`, when some series are shorter than lookback + horizon: every window with
        MIN_CONTEXT to lookback real steps, as arrays (inputs, targets, lengths) in memory."""
        train, validation = [], []
        for item, start in zip(series, starts):
            matrix = feature_matrix(item, self.scalers_[item.id], self.steps, len(item))
            origins = window_origins(matrix, lookback, self.steps)
            end = len(origins) if start is None else np.searchsorted(origins, start - self.steps, side="right")
            train.append(padded_windows(matrix, origins[:end], self.context_, self.steps, lookback))
            if start is not None:
                validation.append(padded_windows(matrix, origins[origins >= start], self.context_, self.steps,
                                                 lookback))

        def stacked(parts: list[Padded]) -> Padded:
            inputs, targets, lengths = (np.concatenate(column) for column in zip(*parts))
            inputs = np.where(np.isnan(inputs), 0.0, inputs)  # unknown future covariates past the data
            inputs, base, scale, reads = context_inputs(inputs, self.relative_, lengths, self.window_season_,
                                                        self.steps, self.window_scaled_, lookback)
            targets = (targets - base) / scale
            return (inputs.astype(np.float32), targets.astype(np.float32),
                    np.full(len(inputs), lookback) if reads is None else reads)

        train_set = stacked(train)
        if len(train_set[0]) == 0:
            raise ValueError("no training window is free of missing values; use missing='interpolate'.")
        return train_set, stacked(validation) if validation and sum(len(v[0]) for v in validation) else None

    def _forecast_scaled(self, contexts: np.ndarray, ahead: np.ndarray, horizon: int,
                         lengths: np.ndarray | None = None) -> np.ndarray:
        return forecast_scaled(self.members_, contexts, ahead, horizon, self.strategy, self.relative_, lengths,
                               self.member_lookbacks_, self.window_season_, self.window_scaled_, self.linear_)

    def _quantiles_scaled(self, contexts: np.ndarray, lengths: np.ndarray | None, horizon: int) -> np.ndarray:
        """The quantile network's forecasts (N, horizon, Q) in scaled units, sorted along Q."""
        x, base, scale, own_lengths = context_inputs(contexts, self.relative_, lengths, self.window_season_,
                                                     self.steps, self.window_scaled_, self.member_lookbacks_[0])
        outputs = self.quantile_head_.predict(window_features(self.members_[0], x, own_lengths))
        return outputs[:, :horizon] * scale[:, :, None] + base[:, :horizon, None]

    def _contexts(self, item: SeriesData, scalers: Scalers, origins: Sequence[int], horizon: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Inputs at each origin (N, C, F) (C: the context, profile_context), the covariates recursive steps
        append (N, horizon, K), and the real steps of each input (N,) when some origins have fewer than C
        before them."""
        rows = max(max(origins) + horizon, len(item))  # the whole series, plus steps past its end
        matrix = feature_matrix(item, scalers, self.steps, rows)
        contexts, lengths = padded_contexts(matrix, origins, self.context_, self.lookback)
        future_start = 1 + item.past.shape[1]
        ahead = np.stack([matrix[o : o + horizon, future_start:] for o in origins])
        return contexts, ahead, lengths

    def _score_validation(self, val_origins: list[tuple[SeriesData, range]]) -> None:
        """Forecast every validation origin: conformal residuals and the table beside the baselines."""
        self.quantiles_: dict[int, np.ndarray] = {}
        self.calibration_: str | None = None
        self.validation_ = None
        self.quantile_coverage_: float | None = None
        self.validation_metrics_ = None
        self.comparison_metrics_ = None
        if not val_origins:
            return
        residuals, outside, rows = [], [], TidyRows(self.horizon, self.season_)
        if self.quantile_head_ is not None:
            self.quantile_head_.widen[:] = 0.0  # the head's own band, before calibration
        compared = self._comparison_origins(val_origins)
        comparison = TidyRows(self.horizon, self.season_, StatisticalModels(self.season_)) if compared else None
        # Origins in chunks, so the stacked contexts stay O(chunk · lookback), never O(N · lookback).
        chunks = [(item, origins[start : start + _SCORE_CHUNK])
                  for item, origins in val_origins for start in range(0, len(origins), _SCORE_CHUNK)]
        for item, origins in chunks:
            scalers = self.scalers_[item.id]
            contexts, ahead, lengths = self._contexts(item, scalers, origins, self.horizon)
            known = ~np.isnan(contexts[:, :, : 1 + item.past.shape[1]]).any(axis=(1, 2))
            origins, contexts, ahead = [o for o, k in zip(origins, known) if k], contexts[known], ahead[known]
            if not origins:
                continue
            lengths = None if lengths is None else lengths[known]
            scaled = self._forecast_scaled(contexts, ahead, self.horizon, lengths)
            actual = np.stack([item.values[o : o + self.horizon] for o in origins])
            residuals.append(scale_target(scalers, actual) - scaled)
            if self.quantile_head_ is not None:
                bounds = self._quantiles_scaled(contexts, lengths, self.horizon)[..., [0, -1]]
                truth = residuals[-1] + scaled
                outside.append(np.maximum(bounds[..., 0] - truth, truth - bounds[..., 1]))  # CQR's scores
            forecasts = unscale_target(scalers, scaled)
            for k, origin in enumerate(origins):
                rows.add(item, origin, {"lstm": (forecasts[k], {})})
                if (item.id, origin) in compared:
                    comparison.add(item, origin, {"lstm": (forecasts[k], {})})
        if not residuals:
            return
        residuals = np.concatenate(residuals)
        if outside:
            scores = np.concatenate(outside)
            self.quantile_coverage_ = float(np.mean(scores[~np.isnan(scores)] <= 0))
            self.quantile_head_.calibrate(scores)
        self.quantiles_ = intervals.conformal_quantiles(residuals, self.levels)
        self.calibration_ = f"validation tail ({len(residuals)} residuals per horizon step)"
        self.calibration_size_ = len(residuals)
        self.validation_ = rows.frame()
        self.validation_metrics_ = score_table(self.validation_)
        if comparison is not None and comparison.bands:
            table = comparison.frame()
            self.comparison_metrics_ = score_table(table)
            count = int(((table["model"] == "lstm") & (table["step"] == 1)).sum())
            self.comparison_note_ = (f"{count} origin(s) of the validation tail ({_COMPARED_ORIGINS} at most per "
                                     f"series, a horizon apart, from its end; the first {_COMPARED_SERIES} series)")

    def _comparison_origins(self, val_origins: list[tuple[SeriesData, range]]) -> set[tuple[Any, int]]:
        """(series id, origin) pairs where the statistical models are fitted and scored beside the
        LSTM: each one a fit of three models, so a few per series, for a bounded number of series."""
        if not resolve_statistical(self.statistical):
            return set()
        return {(item.id, origin) for item, origins in val_origins[:_COMPARED_SERIES]
                for origin in list(origins)[::-1][:: self.horizon][:_COMPARED_ORIGINS]}

    # -- predict -----------------------------------------------------------------------------
    def predict(self, horizon: int | None = None, data: Any = None, future_covariates: Any = None) -> pd.DataFrame:
        """Forecast the `horizon` (default H) steps after the data.

        Args:
            horizon: 1..H steps.
            data: new history to forecast from with the fitted model and scalers (same form and
                column names as in `fit`); None: the data given to `fit`.
            future_covariates: the future-known covariates over the horizon, when `fit` did not
                get them: a DataFrame indexed by time (or, for many series, with the id and time
                columns) or an array (horizon, K).

        Returns:
            DataFrame indexed by time: "id" (many series), "forecast", "lower_XX"/"upper_XX"
            for each interval level, and "q_0.1", ... for each of `quantiles`.
        """
        self._require_fitted("predict()")
        horizon = self.horizon if horizon is None else _positive_int(horizon, "horizon")
        if horizon > self.horizon:
            raise ValueError(f"horizon={horizon} is beyond the horizon={self.horizon} this forecaster was fitted "
                             f"for; fit a Forecaster with horizon={horizon}.")
        if data is None:
            series = list(self.tails_)
        else:
            series, _, _ = read_series(data, **self.columns_, past_covariates=self._names(data, "past"),
                                       future_covariates=self._names(data, "future"), missing=self.missing)
        if future_covariates is not None and not self.future_names_:
            raise ValueError("`future_covariates` were given but the forecaster was fitted without any.")
        if future_covariates is not None:
            series = [with_future_covariates(item, future_covariates, self.future_names_, self.columns_, horizon)
                      for item in series]
        results = self._predict_series(series, horizon)
        frames = []
        many = len(series) > 1 or series[0].id is not None
        for item, (times, forecast, bands) in zip(series, results):
            frame = pd.DataFrame({"forecast": forecast}, index=times)
            for level, (lower, upper) in bands.items():
                if isinstance(level, int):
                    frame[f"lower_{level}"], frame[f"upper_{level}"] = lower, upper
            for tau in self.quantiles if self.quantile_head_ is not None else ():
                frame[column_name(tau)] = bands[column_name(tau)][0]
            if many:
                frame.insert(0, "id", item.id)
            frames.append(frame)
        return pd.concat(frames)

    def _names(self, data: Any, kind: str) -> Any:
        names = self.past_names_ if kind == "past" else self.future_names_
        if not names:
            return None
        if isinstance(data, pd.DataFrame):
            return names
        raise ValueError(f"this forecaster was fitted with {kind} covariates {names}; predict(data=...) needs "
                         f"them too: pass a DataFrame holding those columns.")

    def _predict_series(self, series: list[SeriesData], horizon: int
                        ) -> list[tuple[pd.Index, np.ndarray, dict[int, tuple[np.ndarray, np.ndarray]]]]:
        """(times, forecast (h,), bands) for each series, in original units. bands: {level: (lower, upper)}
        of the conformal intervals and, with `quantiles`, {"q10-q90": (lowest, highest quantile)} and
        {"q_0.1": (values, values), ...}, each (h,)."""
        results = []
        for item in series:
            if item.id not in self.scalers_:
                raise ValueError(f"{item.label} was not in the data given to fit; fit again with it included.")
            times = future_index(item.index, horizon)
            if too_short(item, self.steps):
                forecast = seasonal_naive(item.values, horizon, self.season_)
                labels = [*self.quantiles_, *([band_label(self.quantiles)] if self.quantile_head_ else []),
                          *[column_name(tau) for tau in (self.quantiles if self.quantile_head_ else ())]]
                results.append((times, forecast, {label: (np.full(horizon, np.nan),) * 2 for label in labels}))
                continue
            scalers = self.scalers_[item.id]
            contexts, ahead, lengths = self._contexts(self._with_calendar(item), scalers, [len(item)], horizon)
            self._check_known(item, contexts, ahead, horizon)
            scaled = self._forecast_scaled(contexts, ahead, horizon, lengths)[0]
            bands: dict[Any, tuple[np.ndarray, np.ndarray]] = {
                level: (unscale_target(scalers, scaled - q[:horizon]), unscale_target(scalers, scaled + q[:horizon]))
                for level, q in self.quantiles_.items()}
            if self.quantile_head_ is not None:  # the outer quantiles, under their band's label
                quantiles = unscale_target(scalers, self._quantiles_scaled(contexts, lengths, horizon)[0].T)
                bands[band_label(self.quantiles)] = (quantiles[0], quantiles[-1])
                bands.update((column_name(tau), (values, values)) for tau, values in zip(self.quantiles, quantiles))
            results.append((times, unscale_target(scalers, scaled), bands))
        return results

    def network_input(self, series_id: Any = None) -> tuple[np.ndarray, pd.Index]:
        """What the network reads at the forecast origin of one series, as `predict()` feeds it.

        Args:
            series_id: which series (None: the only one).

        Returns:
            The input (1, lookback, features), scaled (and relative to the last value when the
            windows are relative), and the times of its steps; `members_[0].trace(x)` shows the
            network's gates over it.
        """
        self._require_fitted("network_input()")
        tails = {tail.id: tail for tail in self.tails_}
        if series_id is None and len(tails) > 1:
            raise ValueError(f"this forecaster holds {len(tails)} series; pass series_id= one of "
                             f"{list(tails)[:5]}.")
        item = self.tails_[0] if series_id is None else tails.get(series_id)
        if item is None:
            raise ValueError(f"series_id={series_id!r} is not one of the fitted series {list(tails)[:5]}.")
        contexts, _, lengths = self._contexts(self._with_calendar(item), self.scalers_[item.id], [len(item)], 1)
        x = context_inputs(contexts, self.relative_, lengths, self.window_season_, self.steps, self.window_scaled_,
                           self.member_lookbacks_[0])[0]  # what member 0 reads
        return x, item.index[-self.member_lookbacks_[0]:]

    def _with_calendar(self, item: SeriesData) -> SeriesData:
        """`item` with the calendar features of `calendar_` after its future-known covariates, over its
        times and the horizon after them (the user's covariates NaN where they stop earlier)."""
        if not self.calendar_:
            return item
        rows = max(len(item.future), len(item) + self.horizon)
        times = item.index.append(future_index(item.index, rows - len(item)))
        given = np.full((rows, item.future.shape[1]), np.nan)
        given[: len(item.future)] = item.future
        return replace(item, future=np.hstack([given, calendars.features(times, self.calendar_)]))

    def _check_known(self, item: SeriesData, contexts: np.ndarray, ahead: np.ndarray, horizon: int) -> None:
        future_start = 1 + item.past.shape[1]
        if np.isnan(contexts[0, :, :future_start]).any():
            raise ValueError(f"the last lookback={self.lookback} points of {item.label} hold missing values; "
                             f"fill them, or fit with missing='interpolate'.")
        needed_ahead = ahead[0, : horizon - 1] if self.strategy == "recursive" else ahead[0, :0]
        if np.isnan(contexts[0, :, future_start:]).any() or np.isnan(needed_ahead).any():
            times = future_index(item.index, horizon)
            have = len(item.future) - len(item)
            raise ValueError(
                f"future-known covariates {self.future_names_} of {item.label} are missing over the horizon: "
                f"forecasting {times[0]} to {times[-1]} needs them there, and "
                f"{'none are' if have <= 0 else f'only {have} step(s) are'} given after the data. Pass them with "
                f"predict(future_covariates=...), or in fit's future_covariates covering the horizon.")

    def _tail(self, item: SeriesData) -> SeriesData:
        """The last `context_` points (the lookback, or more for a seasonal profile: profile_context) and the
        future-known covariates after them, kept for predict(); at least MIN_CONTEXT + steps, so a lookback
        shorter than that is not taken for a series too short."""
        start = max(0, len(item) - max(self.context_, MIN_CONTEXT + self.steps))
        return SeriesData(item.id, item.index[start:], item.values[start:], item.past[start:],
                          item.future[start:])

    # -- intervals from a backtest ---------------------------------------------------------------
    def calibrate(self, result: BacktestResult, model: str = "lstm") -> "Forecaster":
        """Set the prediction intervals from a backtest's residuals (more of them than the
        validation tail has); returns self. `result` is what `backtest` returned."""
        self._require_fitted("calibrate()")
        if not self.levels:
            raise ValueError("calibrate() sets prediction intervals: create the Forecaster with levels=(80, 95).")
        rows = result.forecasts[result.forecasts["model"] == model]
        if rows.empty:
            names = sorted(result.forecasts["model"].unique())
            raise ValueError(f"the backtest has no rows for model {model!r}; it has {names}.")
        scaled = scaled_residuals(self.scalers_, rows["id"].tolist(), rows["actual"].to_numpy(),
                                  rows["forecast"].to_numpy())
        residuals = intervals.residuals_by_step(scaled, rows["step"], self.horizon)
        self.quantiles_ = intervals.conformal_quantiles(residuals, self.levels)
        self.calibration_size_ = int((rows["step"] == 1).sum())
        self.calibration_ = f"backtest ({self.calibration_size_} residuals per horizon step)"
        return self

    # -- backtest ------------------------------------------------------------------------------
    def backtest(self, data: Any, start: Any = None, stride: int | None = None, refit: int = 1,
                 id_col: str | None = None, time_col: str | None = None, value_col: str | None = None,
                 past_covariates: Any = None, future_covariates: Any = None) -> BacktestResult:
        """Rolling-origin backtest of this forecaster beside the baselines (model name "lstm") and,
        as `statistical` says, AutoETS, AutoARIMA and Theta; see `lstmkit.forecast.backtest`.
        This forecaster itself stays as it is."""
        return run_backtest(data, {"lstm": self}, start=start, stride=stride, refit=refit, id_col=id_col,
                        time_col=time_col, value_col=value_col, past_covariates=past_covariates,
                        future_covariates=future_covariates, statistical=self.statistical)

    # -- report ------------------------------------------------------------------------------
    def summary(self) -> str:
        """What was fitted and how it scored on the validation tail beside the baselines."""
        self._require_fitted("summary()")
        lines = [
            f"Forecaster: lookback {self.lookback}, horizon {self.horizon}, strategy {self.strategy}, "
            f"{self.layers} x {CELLS[self.cell].__name__}({self.units}) on {self.members_[0].built_input_shape[-1]} feature(s), "
            f"scaler {self.scaler}{', relative windows' if self.relative_ else ', windows of levels'}",
            f"Series: {len(self.tails_)}; {self.season_note_}.",
            self._transform_note(),
            self.window_note_,
            self.calendar_note_,
            f"Trained {self.ensemble_note_}; best epochs {self.best_epochs_} of at most {self.epochs}.",
        ]
        if self.relative == AUTO:
            lines.insert(3, relative_options.choice_text(self.relative_choice_, len(self.tails_)))
        if self.lookback_choice_:
            lines[-1] = (f"Kept {len(self.members_)} model(s) (lookbacks {self.member_lookbacks_}); best epochs "
                         f"{self.best_epochs_} of at most {self.epochs}.")
            lines.insert(-1, choice_text(self.lookback_choice_))
        if self.linear_ is not None:
            lines.append(linear_text(self.steps, self.linear_best_epoch_, self.linear_errors_))
        if self.validation_metrics_ is not None:
            lines += ["Validation tail (the latest windows, never trained on):",
                      format_table(self.validation_metrics_), verdict(self.validation_metrics_)]
        else:
            lines.append("No validation tail (validation_split=0): no early stopping, no scores.")
        if self.tuning_:
            lines.append(tuning_text(self.tuning_))
        if self.comparison_metrics_ is not None:
            lines += [f"Beside AutoETS, AutoARIMA and Theta (statsforecast) at {self.comparison_note_}:",
                      format_table(self.comparison_metrics_), verdict(self.comparison_metrics_)]
        elif self.statistical is not True:
            how = "" if statistical_available() else ' (pip install "lstmkit[stats]")'
            lines.append(f"AutoETS, AutoARIMA and Theta: Forecaster(statistical=True) scores them beside the model"
                         f"{how}.")
        if self.quantiles_:
            lines.append(f"Intervals {', '.join(f'{l}%' for l in self.quantiles_)}: split conformal from the "
                         f"{self.calibration_}.")
        if self.quantile_head_ is not None:
            coverage = ("" if self.quantile_coverage_ is None else
                        f"; the {band_label(self.quantiles)} band held {100 * self.quantile_coverage_:.0f}% of the "
                        f"validation tail's values (nominal {100 * (self.quantiles[-1] - self.quantiles[0]):.0f}%) and "
                        f"was calibrated on them (conformalized quantile regression)")
            lines.append(f"Quantiles {', '.join(f'{q:g}' for q in self.quantiles)}: a pinball-loss head on the first "
                         f"model's LSTM state (best epoch {self.quantile_head_.best_epoch}){coverage}.")
        return "\n".join(lines)

    def _transform_note(self) -> str:
        logged = sum(scalers.logged for scalers in self.scalers_.values())
        if self.transform == "auto":
            return (f"Transform (auto, on each training part): log on {logged} of {len(self.scalers_)} series, whose "
                    f"spread grows with their level; none on the others." if logged else
                    "Transform (auto, on each training part): none; no series' spread grows with its level.")
        return f"Transform: {self.transform}."

    def plot(self, history: Any, ax: Any = None, series_id: Any = None, last: int | None = None) -> Any:
        """Draw `history` (the series that was fitted), the forecast after it and its interval
        bands; returns the Axes. Shorthand for lstmkit.forecast.figures.forecast_plot(history,
        self.predict()); matplotlib is loaded here, on first use, never by `import lstmkit`.

        Args:
            history: a pandas Series, or the long DataFrame given to fit (then pass `series_id`).
            ax: where to draw; a new figure when None.
            series_id: which series of a many-series fit to draw.
            last: draw only the last `last` points of the history.
        """
        from lstmkit.forecast.figures import forecast_plot

        self._require_fitted("plot()")
        if isinstance(history, pd.DataFrame):
            columns = self.columns_
            if columns["id_col"] is None or columns["time_col"] is None or columns["value_col"] is None:
                raise ValueError("plot() takes the fitted series as a pandas Series, or the long DataFrame "
                                 "given to fit(df, id_col=..., time_col=..., value_col=...).")
            if series_id is None:
                raise ValueError(f"plot() of many series needs `series_id`: one of the "
                                 f"{columns['id_col']!r} values.")
            rows = history[history[columns["id_col"]] == series_id]
            history = pd.Series(rows[columns["value_col"]].to_numpy(), index=pd.Index(rows[columns["time_col"]]),
                                name=columns["value_col"])
        return forecast_plot(history, self.predict(), ax=ax, series_id=series_id, last=last)

    def _require_fitted(self, what: str) -> None:
        if not self.members_:
            raise ValueError(f"{what} needs a fitted Forecaster: call fit(data) first.")

    # -- files -------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted forecaster (weights, scalers, the last `context_` values) to one file."""
        self._require_fitted("save()")
        save_forecaster(self, path)

    def export_onnx(self, path: str | os.PathLike, series_id: Any = None) -> None:
        """Write the fitted forecaster as one ONNX graph (lstmkit.forecast.export): input "x" float32
        (batch, context_, features) of raw values, as the last `context_` rows of the series (the lookback,
        or four seasons where the seasonal profile reads more than the lookback holds; and its
        covariates, then the calendar features of `calendar_` at the times the covariates are for:
        lstmkit.forecast.calendar.features); output "y" (batch, horizon) in the series' units, as `predict()`.
        Direct or seq2seq strategy;
        for many series, `series_id` picks whose scalers the graph holds."""
        from lstmkit.forecast.export import export_forecaster

        export_forecaster(self, path, series_id)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Forecaster":
        """Read a forecaster written by `save`. Never runs code from the file."""
        return load_forecaster(cls, path)


def suggest_lookback(length: int, horizon: int, season: int = 1) -> int:
    """A lookback that works well by default: three seasons or two horizons, whichever is
    longer, shortened so a series of `length` points keeps room for training windows and a
    validation tail (at most (length - 2·horizon) / 2)."""
    wanted = max(3 * season, 2 * horizon)
    room = max((length - 2 * horizon) // 2, 1)
    return max(1, min(wanted, room))
