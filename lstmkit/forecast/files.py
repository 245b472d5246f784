"""Forecaster files: one lstmkit model file (lstmkit.saving) holding every member's weights as
safetensors and, as JSON, the settings, the per-series scalers, the last `lookback` values of
each series (so `predict()` works after loading) and the interval widths. Nothing is pickled;
loading never runs code from the file.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lstmkit.forecast.series import SeriesData, index_from_spec
from lstmkit.forecast.windows import Scalers
from lstmkit.models import Sequential
from lstmkit.optimizers import Adam
from lstmkit.saving import read_model_file, write_model_file

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
        "quantiles": {str(level): q.tolist() for level, q in forecaster.quantiles_.items()},
        "calibration": forecaster.calibration_, "series": series,
        "validation_metrics": None if metrics is None else metrics.reset_index().to_dict(orient="list"),
        "comparison": None if forecaster.comparison_metrics_ is None else {
            "note": forecaster.comparison_note_,
            "metrics": forecaster.comparison_metrics_.reset_index().to_dict(orient="list")},
    }
    tensors = {f"members.{j}.{key}": value for j, member in enumerate(forecaster.members_)
               for key, value in member.state_dict().items()}
    write_model_file(path, config, tensors)


def load_forecaster(cls: type["Forecaster"], path: str | os.PathLike) -> "Forecaster":
    """Rebuild a Forecaster from `path` (weights, scalers, series tails)."""
    config, tensors = read_model_file(path)
    if config.get("kind") != "Forecaster":
        raise ValueError(f"{str(path)!r} holds an lstmkit model, not a Forecaster; load it with lstmkit.load_model.")
    try:
        template = Sequential.from_config(config["model"])
        settings = dict(config["forecaster"])
        statistical = settings.pop("statistical", False)  # True needs statsforecast only to fit again
        forecaster = cls(**settings, model=template if config["custom_model"] else None)
        forecaster.statistical = statistical
        for j in range(forecaster.ensemble):
            member = Sequential.from_config(config["model"])
            prefix = f"members.{j}."
            member.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
            member.compile(loss="mean_squared_error", optimizer=Adam(learning_rate=forecaster.learning_rate))
            member.eval()
            forecaster.members_.append(member)
        _restore(forecaster, config)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{str(path)!r} holds a damaged Forecaster: {err}.") from None
    return forecaster


def _restore(forecaster: "Forecaster", config: dict[str, Any]) -> None:
    forecaster.columns_ = config["columns"]
    forecaster.past_names_, forecaster.future_names_ = config["past_names"], config["future_names"]
    forecaster.season_, forecaster.season_note_ = config["season"], config["season_note"]
    forecaster.best_epochs_ = config["best_epochs"]
    forecaster.quantiles_ = {int(level): np.asarray(q, dtype=np.float64) for level, q in config["quantiles"].items()}
    forecaster.calibration_ = config["calibration"]
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
