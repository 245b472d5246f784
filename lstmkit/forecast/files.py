"""Forecaster files: one lstmkit model file (lstmkit.saving) holding every member's weights as
safetensors and, as JSON, the settings, the per-series scalers, the last `context` values of
each series (the lookback, or the more a seasonal profile reads: so `predict()` works after
loading) and the interval widths. Nothing is pickled;
loading never runs code from the file.

Loading checks the whole config (FORECASTER_FILE, then the settings against each other: the
network's input and output against lookback and horizon, at most one context of values per series, one
interval width per horizon step) and every member's tensors against the network's shapes before
anything is built; every failure is a lstmkit.saving.ModelFileError.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lstmkit.forecast.calendar import CYCLES, feature_names
from lstmkit.forecast.lookbacks import AUTO
from lstmkit.forecast.padding import MIN_CONTEXT
from lstmkit.forecast.quantiles import QuantileHead
from lstmkit.forecast.seasonality import profile_context
from lstmkit.forecast.series import SeriesData, index_from_spec
from lstmkit.forecast.windows import Scalers
from lstmkit.models import Sequential, materialize
from lstmkit.optimizers import Adam
from lstmkit.saving import ModelFile, ModelFileError, open_model_file, write_model_file
from lstmkit.schema import (Anything, Bool, ConfigError, Custom, Fields, Float, Int, ListOf, MapOf, Nullable, OneOf,
                            Str, check_round_trip, schema_from_signature)

if TYPE_CHECKING:
    from lstmkit.forecast.forecaster import Forecaster


def save_forecaster(forecaster: "Forecaster", path: str | os.PathLike) -> None:
    """Write a fitted forecaster to `path` atomically."""
    series = []
    for tail in forecaster.tails_:
        if tail.id is not None and not isinstance(tail.id, (str, int)):
            raise TypeError(f"series id {tail.id!r} ({type(tail.id).__name__}) cannot be saved; use str or int ids.")
        series.append({
            "id": tail.id, "index": forecaster.index_specs_[tail.id], "values": tail.values.tolist(),
            "past": tail.past.tolist(), "future": np.where(np.isnan(tail.future), None, tail.future).tolist(),
            "scalers": forecaster.scalers_[tail.id].state(),
        })
    metrics = forecaster.validation_metrics_
    config = {
        "kind": "Forecaster", "forecaster": forecaster.get_config(), "custom_model": forecaster.model is not None,
        "model": forecaster.members_[0].get_config(), "columns": forecaster.columns_,
        "past_names": forecaster.past_names_, "future_names": forecaster.future_names_,
        "season": forecaster.season_, "season_note": forecaster.season_note_, "best_epochs": forecaster.best_epochs_,
        "window_season": forecaster.window_season_, "window_note": forecaster.window_note_,
        "window_scaled": forecaster.window_scaled_, "context": forecaster.context_,
        "relative_windows": forecaster.relative_, "relative_choice": forecaster.relative_choice_,
        "ensemble_members": forecaster.ensemble_, "ensemble_note": forecaster.ensemble_note_,
        "calendar": list(forecaster.calendar_), "calendar_note": forecaster.calendar_note_,
        "quantiles": {str(level): q.tolist() for level, q in forecaster.quantiles_.items()},
        "calibration": forecaster.calibration_, "series": series,
        "validation_metrics": None if metrics is None else metrics.reset_index().to_dict(orient="list"),
        "tuning": forecaster.tuning_,
        "lookbacks": forecaster.member_lookbacks_, "lookback_choice": forecaster.lookback_choice_,
        "comparison": None if forecaster.comparison_metrics_ is None else {
            "note": forecaster.comparison_note_,
            "metrics": forecaster.comparison_metrics_.reset_index().to_dict(orient="list")},
    }
    tensors = {f"members.{j}.{key}": value for j, member in enumerate(forecaster.members_)
               for key, value in member.state_dict().items()}
    if forecaster.quantile_head_ is not None:  # lstmkit.forecast.quantiles
        config["quantile_head"] = {"best_epoch": forecaster.quantile_head_.best_epoch,
                                   "coverage": forecaster.quantile_coverage_,
                                   "widen": forecaster.quantile_head_.widen.tolist()}
        tensors.update((f"quantile.{key}", value) for key, value in forecaster.quantile_head_.state_dict().items())
    if len(set(forecaster.member_lookbacks_)) > 1:  # lookback="auto" kept several: one network config each
        config["models"] = [member.get_config() for member in forecaster.members_]
    if forecaster.linear_ is not None:  # Forecaster(linear=True)
        config["linear_model"] = {"model": forecaster.linear_.get_config(), "best_epoch": forecaster.linear_best_epoch_,
                                  "errors": forecaster.linear_errors_}
        tensors.update((f"linear.{key}", value) for key, value in forecaster.linear_.state_dict().items())
    write_model_file(path, config, tensors)


_MANY = 10**8  # list lengths: the file's size bounds them
_NUMBERS = ListOf(Float(allow_nan=True), _MANY)
_INDEX = Fields({"kind": Str(choices=("datetime", "period", "range")), "last": OneOf(Str(), Int(), expected="a time"),
                 "freq": Str(), "step": Int(), "tz": Nullable(Str()),
                 "name": Nullable(OneOf(Str(), Int(), expected="a name")),
                 "length": Int(0)}, required={"kind", "last"})
_SERIES = Fields({"id": Nullable(OneOf(Str(), Int(), expected="a str or int id")), "index": _INDEX, "values": _NUMBERS,
                  "past": ListOf(_NUMBERS, _MANY), "future": ListOf(ListOf(Nullable(Float()), _MANY), _MANY),
                  "scalers": MapOf(Anything(), 3)}, required={"id", "index", "values", "past", "future", "scalers"})


def _file_schema(cls: type["Forecaster"]) -> Fields:
    """What a Forecaster file's config holds (save_forecaster writes it)."""
    return Fields({
        "kind": Str(choices=("Forecaster",)), "forecaster": schema_from_signature(cls, skip=("model",)),
        "custom_model": Bool(), "model": Anything(), "columns": MapOf(Nullable(Str()), 3),
        "past_names": ListOf(Str(), _MANY), "future_names": ListOf(Str(), _MANY), "season": Int(1),
        "season_note": Str(), "best_epochs": ListOf(Int(0), _MANY), "quantiles": MapOf(_NUMBERS, 99),
        "window_season": Int(1), "window_note": Str(), "window_scaled": Bool(),  # lstmkit.forecast.seasonality; older files: none
        "context": Int(1),  # rows of history each window carries (profile_context); older files: the lookback
        "relative_windows": Bool(),  # what relative="auto" kept (lstmkit.forecast.relative); older files: the setting
        "relative_choice": Nullable(Fields({"errors": MapOf(Float(allow_nan=True), 2), "skipped": Bool(),
                                            "time_budget": Nullable(Float())}, required={"errors", "skipped"})),
        "ensemble_members": Int(1), "ensemble_note": Str(),  # what ensemble="auto" trained; older files: the setting
        "calendar": ListOf(Str(choices=tuple(CYCLES)), len(CYCLES)), "calendar_note": Str(),  # lstmkit.forecast.calendar
        "calibration": Nullable(Str()), "series": ListOf(_SERIES, _MANY, min_items=1),
        "validation_metrics": Nullable(MapOf(ListOf(Anything(), _MANY))),
        "tuning": Nullable(Anything()),  # Forecaster.tune's record: shown, never built from
        "lookbacks": ListOf(Int(1), _MANY), "models": ListOf(Anything(), _MANY),  # each member's, when they differ
        "lookback_choice": Nullable(Anything()),  # lookback="auto": what was tried and kept; shown only
        "quantile_head": Fields({"best_epoch": Int(0), "coverage": Nullable(Float()),  # Forecaster(quantiles=...)
                                 "widen": _NUMBERS}, required={"best_epoch", "coverage", "widen"}),
        "linear_model": Fields({"model": Anything(), "best_epoch": Int(0),  # Forecaster(linear=True)
                                "errors": Nullable(MapOf(Float(allow_nan=True), 3))}, required={"model", "best_epoch"}),
        "comparison": Nullable(Fields({"note": Str(), "metrics": MapOf(ListOf(Anything(), _MANY))},
                                      required={"note", "metrics"})),  # the statistical models' scores
    }, required={"kind", "forecaster", "custom_model", "model", "columns", "past_names", "future_names", "season",
                 "season_note", "best_epochs", "quantiles", "calibration", "series", "validation_metrics"})


def load_forecaster(cls: type["Forecaster"], path: str | os.PathLike) -> "Forecaster":
    """Rebuild a Forecaster from `path` (weights, scalers, series tails), checking it all first."""
    file = open_model_file(path)
    if file.config.get("kind") != "Forecaster":
        raise ModelFileError(f"{str(path)!r} holds an lstmkit model, not a Forecaster; load it with "
                             f"lstmkit.load_model.")
    try:
        config = _file_schema(cls).check(file.config, "config")
        settings = dict(config["forecaster"])
        statistical = settings.pop("statistical", False)  # True needs statsforecast only to fit again
        settings.setdefault("linear", False)  # files written before the linear model: the LSTMs alone
        settings.setdefault("calendar", "none")  # files written before calendar features: none
        forecaster = cls(**settings)  # its own range checks
        forecaster.statistical = statistical
        check_round_trip(config["forecaster"], forecaster.get_config(), "config.forecaster")
        members = config.get("ensemble_members", forecaster.ensemble)  # older files: the setting, a number
        if forecaster.ensemble != AUTO and members != forecaster.ensemble:
            raise ConfigError("config.ensemble_members", members, f"{forecaster.ensemble} (the file's ensemble setting)")
        if members == AUTO:
            raise ConfigError("config.ensemble_members", members, "the number of models trained per lookback")
        forecaster.ensemble_ = members
        forecaster.ensemble_note_ = config.get("ensemble_note", f"{members} model(s)")
        lookbacks = config.get("lookbacks", [forecaster.lookback] * members)  # older files: one
        if not forecaster.auto_lookback and set(lookbacks) != {forecaster.lookback}:
            raise ConfigError("config.lookbacks", lookbacks, f"lookback={forecaster.lookback} for every member")
        if not lookbacks or len(lookbacks) % members or (not forecaster.auto_lookback and len(lookbacks) != members):
            raise ConfigError("config.lookbacks", lookbacks, f"a multiple of {members} entries (models per lookback)")
        forecaster.lookback, forecaster.member_lookbacks_ = max(lookbacks), list(lookbacks)
        if len(config["best_epochs"]) != len(lookbacks):  # before building a member per entry
            raise ConfigError("config.best_epochs", config["best_epochs"], f"{len(lookbacks)} entries (one per member)")
        models = config.get("models", [config["model"]] * len(lookbacks))
        if len(models) != len(lookbacks):
            raise ConfigError("config.models", f"<{len(models)} configs>", f"{len(lookbacks)} (one per member)")
        members = [Sequential.check_config(model, f"config.models[{j}]") for j, model in enumerate(models)]
        for member, lookback in zip(members, lookbacks):
            _check_consistent(forecaster, config, member, lookback)
        if bool(forecaster.quantiles) != ("quantile_head" in config):
            raise ConfigError("config.quantile_head", config.get("quantile_head"),
                              f"a head exactly when `quantiles` are set (quantiles={list(forecaster.quantiles)})")
        quantile_head = QuantileHead(forecaster.quantiles, forecaster.units, forecaster.horizon) \
            if forecaster.quantiles else None
        if quantile_head is not None and len(config["quantile_head"]["widen"]) != forecaster.horizon:
            raise ConfigError("config.quantile_head.widen", config["quantile_head"]["widen"],
                              f"{forecaster.horizon} numbers, one per horizon step")
        with_linear = forecaster.linear and not config["custom_model"]
        if with_linear != ("linear_model" in config):
            raise ConfigError("config.linear_model", "<present>" if "linear_model" in config else None,
                              "a linear model exactly when `linear` is set without a custom model")
        linear = None
        if with_linear:
            linear = Sequential.check_config(config["linear_model"]["model"], "config.linear_model.model")
            _check_consistent(forecaster, config, linear, forecaster.lookback)
    except Exception as err:  # ConfigError, the constructor's ValueError/TypeError: the file is at fault
        raise file.error(str(err)) from None
    for j, member in enumerate(members):
        file.check_weights(member.weight_shapes(), prefix=f"members.{j}.")
    prefixes = tuple(f"members.{j}." for j in range(len(members)))
    if quantile_head is not None:
        file.check_weights(quantile_head.weight_shapes(), prefix="quantile.")
        prefixes += ("quantile.",)
    if linear is not None:
        file.check_weights(linear.weight_shapes(), prefix="linear.")
        prefixes += ("linear.",)
    extra = [name for name in file.entries if not name.startswith(prefixes)]
    if extra:
        raise file.error(f"it holds tensors of no member: {extra[:3]}")
    tensors = file.tensors()
    try:
        if config["custom_model"]:
            forecaster.model = Sequential.from_config(config["model"])
        for j, member in enumerate(members):
            prefix = f"members.{j}."
            materialize(member, {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
            member.compile(loss="mean_squared_error", optimizer=Adam(learning_rate=forecaster.learning_rate))
            member.eval()
            forecaster.members_.append(member)
        if linear is not None:
            materialize(linear, {k[len("linear."):]: v for k, v in tensors.items() if k.startswith("linear.")})
            linear.compile(loss="mean_squared_error", optimizer=Adam(learning_rate=forecaster.learning_rate))
            linear.eval()
            forecaster.linear_ = linear
            forecaster.linear_best_epoch_ = config["linear_model"]["best_epoch"]
            forecaster.linear_errors_ = config["linear_model"].get("errors")
        if quantile_head is not None:
            quantile_head.load({k[len("quantile."):]: v for k, v in tensors.items() if k.startswith("quantile.")})
            quantile_head.best_epoch = config["quantile_head"]["best_epoch"]
            quantile_head.widen = np.asarray(config["quantile_head"]["widen"], dtype=np.float64)
            forecaster.quantile_head_ = quantile_head
        _restore(forecaster, config)
    except Exception as err:  # the checks above should leave none: whatever it is, the file is at fault
        raise file.error(f"{type(err).__name__}: {err}") from None
    return forecaster


def _check_consistent(forecaster: "Forecaster", config: dict[str, Any], network: Sequential, lookback: int) -> None:
    """The settings against each other (`network` is a member reading `lookback` steps); raises
    ConfigError naming the key."""
    features = 1 + len(config["past_names"]) + len(config["future_names"]) + len(feature_names(config.get("calendar", [])))
    expected = (lookback, features)
    if network.built_input_shape is None or tuple(network.built_input_shape) != expected:
        raise ConfigError("config.model.build_input_shape", network.built_input_shape,
                          f"{list(expected)} (lookback, features)")
    if tuple(network.output_shape) not in ((forecaster.steps,), (forecaster.steps, 1)):
        raise ConfigError("config.model", f"<output {tuple(network.output_shape)}>",
                          f"a network whose output is ({forecaster.steps},) for horizon={forecaster.horizon}")
    for level, widths in config["quantiles"].items():
        if level not in {str(level) for level in forecaster.levels}:
            raise ConfigError(f"config.quantiles.{level}", widths, f"a key among the levels {list(forecaster.levels)}")
        if len(widths) != forecaster.horizon or any(w < 0 for w in widths):
            raise ConfigError(f"config.quantiles.{level}", widths,
                              f"{forecaster.horizon} non-negative widths, one per horizon step")
    windows = config.get("relative_windows", forecaster.relative is not False)
    if forecaster.relative != AUTO and windows != forecaster.relative:
        raise ConfigError("config.relative_windows", windows, f"{forecaster.relative} (the file's relative setting)")
    if config.get("window_scaled") and not windows:
        raise ConfigError("config.window_scaled", True, "false: only relative windows are scaled")
    if config.get("calendar") and any(entry["index"]["kind"] == "range" for entry in config["series"]):
        raise ConfigError("config.calendar", config["calendar"], "no calendar features for series without dates")
    context = config.get("context", forecaster.lookback)
    allowed = sorted({forecaster.lookback, profile_context(forecaster.lookback, config.get("window_season", 1))})
    if context not in allowed:
        raise ConfigError("config.context", context, f"one of {allowed} (the lookback, or the seasonal profile's "
                                                      "history: lstmkit.forecast.seasonality.profile_context)")
    ids = [entry["id"] for entry in config["series"]]
    if len(set(map(repr, ids))) != len(ids):
        raise ConfigError("config.series", ids[:5], "series of distinct ids")
    for index, entry in enumerate(config["series"]):
        key, past, future = f"config.series[{index}]", len(config["past_names"]), len(config["future_names"])
        kept = len(entry["values"])  # the last `context` points; a short series keeps all it has
        most = max(context, MIN_CONTEXT + forecaster.steps)  # Forecaster._tail
        if not 1 <= kept <= most:
            raise ConfigError(f"{key}.values", f"<{kept} values>",
                              f"1 to {most} values (lookback={forecaster.lookback}, context={context})")
        if len(entry["past"]) != kept or any(len(row) != past for row in entry["past"]):
            raise ConfigError(f"{key}.past", f"<{len(entry['past'])} rows>", f"{kept} rows of {past}")
        if len(entry["future"]) < kept or any(len(row) != future for row in entry["future"]):
            raise ConfigError(f"{key}.future", f"<{len(entry['future'])} rows>", f"at least {kept} rows of {future}")


def _restore(forecaster: "Forecaster", config: dict[str, Any]) -> None:
    forecaster.columns_ = config["columns"]
    forecaster.past_names_, forecaster.future_names_ = config["past_names"], config["future_names"]
    forecaster.season_, forecaster.season_note_ = config["season"], config["season_note"]
    forecaster.best_epochs_ = config["best_epochs"]
    forecaster.window_season_ = config.get("window_season", 1)
    forecaster.window_scaled_ = config.get("window_scaled", False)
    forecaster.context_ = config.get("context", forecaster.lookback)
    forecaster.relative_ = config.get("relative_windows", forecaster.relative is not False)
    forecaster.relative_choice_ = config.get("relative_choice")
    forecaster.window_note_ = config.get("window_note", "Windows: relative to their last value.")
    forecaster.calendar_ = tuple(config.get("calendar", ()))
    forecaster.calendar_note_ = config.get("calendar_note", "Calendar: none.")
    forecaster.quantiles_ = {int(level): np.asarray(q, dtype=np.float64) for level, q in config["quantiles"].items()}
    forecaster.calibration_ = config["calibration"]
    forecaster.tuning_ = config.get("tuning")  # files written before tuning existed have none
    forecaster.lookback_choice_ = config.get("lookback_choice")
    forecaster.quantile_coverage_ = (config.get("quantile_head") or {}).get("coverage")
    metrics = config["validation_metrics"]
    forecaster.validation_metrics_ = None if metrics is None else pd.DataFrame(metrics).set_index("model")
    comparison = config.get("comparison")  # files written before the statistical models have none
    forecaster.comparison_metrics_, forecaster.comparison_note_ = None, None
    if comparison is not None:
        forecaster.comparison_metrics_ = pd.DataFrame(comparison["metrics"]).set_index("model")
        forecaster.comparison_note_ = comparison["note"]
    forecaster.validation_ = None
    forecaster.tails_, forecaster.scalers_, forecaster.index_specs_ = [], {}, {}
    for entry in config["series"]:
        values = np.asarray(entry["values"], dtype=np.float64)
        index = index_from_spec(entry["index"], len(values))
        width = len(forecaster.future_names_)
        future = np.array(entry["future"], dtype=np.float64).reshape(len(entry["future"]), width)
        past = np.array(entry["past"], dtype=np.float64).reshape(len(values), len(forecaster.past_names_))
        forecaster.tails_.append(SeriesData(entry["id"], index, values, past, future))
        forecaster.scalers_[entry["id"]] = Scalers.from_state(entry["scalers"])
        forecaster.index_specs_[entry["id"]] = entry["index"]
