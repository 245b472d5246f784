"""Forecast accuracy of the default Forecaster on real published data, beside seasonal naive,
AutoETS, AutoARIMA and Theta (statsforecast, lstmkit's `[stats]` extra).

One protocol for every data set (benchmarks/forecast_data.py lists them, with their sources):
the last `horizon` points of each series are held out (the M4 competition's horizons: yearly 6,
quarterly 8, monthly 18, weekly 13, daily 14, hourly and half-hourly 48); every model is fitted
on the rest and forecasts the held-out part once. MASE (scaled by the seasonal naive's in-sample
error on the training part) and sMAPE; for a collection of many series, the mean over its series.
The LSTM is the default Forecaster with a lookback from `suggest_lookback` (three seasons or two
horizons, shortened for short series; for a collection, from its longest series: shorter ones
train on padded windows), fitted with seeds 0, 1, 2: the table shows the median over the seeds.
The held-out part is never used for any choice.

Run from the repository root:

    python benchmarks/forecast_accuracy.py            # every data set (tens of minutes on 2 cores)
    python benchmarks/forecast_accuracy.py --quick    # three small data sets, tiny LSTM, one seed
    python benchmarks/forecast_accuracy.py --datasets lynx wineind
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from forecast_data import DATASETS, QUICK, Spec  # noqa: E402

from lstmkit.forecast import Forecaster, mase, seasonal_naive, smape, suggest_lookback  # noqa: E402
from lstmkit.forecast.padding import ShortSeriesWarning  # noqa: E402
from lstmkit.forecast.statistical import STATISTICAL_NAMES, StatisticalModels, require  # noqa: E402

MODELS = ("lstm", "seasonal_naive", *STATISTICAL_NAMES)
QUICK_SETTINGS = dict(units=4, epochs=5, patience=2)


class Score(NamedTuple):
    mase: float
    smape: float
    seconds: float  # fitting and forecasting every series of the data set (the LSTM: per seed)


def _split(data: "pd.Series | pd.DataFrame", horizon: int) -> list[tuple[Any, pd.Series, np.ndarray]]:
    """(id, training part, held-out values) of each series."""
    if isinstance(data, pd.Series):
        return [(None, data.iloc[:-horizon], data.to_numpy()[-horizon:])]
    parts = []
    for key, rows in data.groupby("id", sort=False):
        series = pd.Series(rows["value"].to_numpy(), index=pd.DatetimeIndex(rows["time"], freq="infer"))
        parts.append((key, series.iloc[:-horizon], series.to_numpy()[-horizon:]))
    return parts


def _scores(parts: list[tuple[Any, pd.Series, np.ndarray]], forecasts: dict[Any, np.ndarray],
            season: int) -> tuple[float, float]:
    """Mean MASE and sMAPE over the series."""
    values = [(mase(actual, forecasts[key], train.to_numpy(), season), smape(actual, forecasts[key]))
              for key, train, actual in parts]
    return tuple(np.mean(np.array(values), axis=0))


def _lstm(parts: list[tuple[Any, pd.Series, np.ndarray]], spec: Spec, seed: int,
          settings: dict[str, Any]) -> tuple[dict[Any, np.ndarray], int, float]:
    """The default Forecaster's forecasts of every series, its lookback, and seconds."""
    longest = max(len(train) for _, train, _ in parts)
    lookback = suggest_lookback(longest, spec.horizon, spec.season)
    forecaster = Forecaster(lookback, spec.horizon, season=spec.season, seed=seed, **settings)
    started = time.perf_counter()
    if parts[0][0] is None:
        forecaster.fit(parts[0][1])
    else:
        long = pd.concat([pd.DataFrame({"id": key, "time": train.index, "value": train.to_numpy()})
                          for key, train, _ in parts], ignore_index=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ShortSeriesWarning)  # M1 has none; a subset may
            forecaster.fit(long, id_col="id", time_col="time", value_col="value")
    predicted = forecaster.predict()
    seconds = time.perf_counter() - started
    if parts[0][0] is None:
        return {None: predicted["forecast"].to_numpy()}, lookback, seconds
    return {key: rows["forecast"].to_numpy() for key, rows in predicted.groupby("id")}, lookback, seconds


def evaluate(spec: Spec, seeds: list[int], settings: dict[str, Any]) -> tuple[dict[str, Score], int, int]:
    """{model: Score} on one data set, the LSTM's lookback, and the number of series."""
    parts = _split(spec.load(), spec.horizon)
    runs = [_lstm(parts, spec, seed, settings) for seed in seeds]
    lstm = np.median([_scores(parts, forecasts, spec.season) for forecasts, _, _ in runs], axis=0)
    table = {"lstm": Score(lstm[0], lstm[1], float(np.mean([seconds for _, _, seconds in runs])))}
    started = time.perf_counter()
    naive = {key: seasonal_naive(train.to_numpy(), spec.horizon, spec.season) for key, train, _ in parts}
    table["seasonal_naive"] = Score(*_scores(parts, naive, spec.season), time.perf_counter() - started)
    statistical = StatisticalModels(spec.season)
    forecasts = {key: statistical.forecasts(train.to_numpy(), spec.horizon) for key, train, _ in parts}
    for name in STATISTICAL_NAMES:
        scores = _scores(parts, {key: f[name] for key, f in forecasts.items()}, spec.season)
        table[name] = Score(*scores, statistical.seconds[name])
    return table, runs[0][1], len(parts)


def ranks(results: dict[str, dict[str, Score]]) -> pd.DataFrame:
    """MASE rank (1 best) of each model on each data set, ties averaged."""
    mases = pd.DataFrame({name: {model: score.mase for model, score in table.items()}
                          for name, table in results.items()}).T[list(MODELS)]
    return mases.rank(axis=1, method="average")


def report(results: dict[str, dict[str, Score]], details: dict[str, str]) -> str:
    """The table, the ranks and the verdicts, as printed."""
    short = {"lstm": "lstm", "seasonal_naive": "snaive", "auto_ets": "ets", "auto_arima": "arima", "theta": "theta"}
    head = " ".join(f"{short[m]:>7}" for m in MODELS)
    width = len(head)
    seconds = "fit seconds (all series; lstm: per seed)"
    lines = [f"{'':<54}| {'MASE':<{width}} | {'sMAPE %':<{width}} | {seconds:<{width}}",
             f"{'data set':<20}{'settings':<34}| {head} | {head} | {head}"]
    for name, table in results.items():
        cells = [" ".join(f"{table[m].mase:>7.3f}" for m in MODELS),
                 " ".join(f"{table[m].smape:>7.2f}" for m in MODELS),
                 " ".join(f"{table[m].seconds:>7.2f}" for m in MODELS)]
        lines.append(f"{name:<20}{details[name]:<34}| " + " | ".join(cells))
    table = ranks(results)
    lines += ["", "Median MASE rank over the data sets (1 best of 5): "
              + ", ".join(f"{m} {table[m].median():.1f}" for m in MODELS)]
    beaten = [name for name, t in results.items() if t["lstm"].mase < t["seasonal_naive"].mase]
    lines.append(f"lstm beats seasonal naive on {len(beaten)} of {len(results)} data sets"
                 + ("" if len(beaten) == len(results) else
                    f" (not on: {', '.join(n for n in results if n not in beaten)})"))
    for model in STATISTICAL_NAMES:
        wins = int((table["lstm"] < table[model]).sum())
        better = "better" if table["lstm"].median() < table[model].median() else "NOT better"
        lines.append(f"lstm vs {model}: lower MASE on {wins} of {len(results)}; median rank {better}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three small data sets, a tiny LSTM, one seed")
    parser.add_argument("--seeds", type=int, default=3, help="LSTM seeds per data set (default 3)")
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), help="only these data sets")
    args = parser.parse_args(argv)
    require()
    chosen = QUICK if args.quick else {name: DATASETS[name] for name in (args.datasets or DATASETS)}
    seeds = [0] if args.quick else list(range(args.seeds))
    settings = QUICK_SETTINGS if args.quick else {}
    results, details = {}, {}
    for name, spec in chosen.items():
        results[name], lookback, count = evaluate(spec, seeds, settings)
        details[name] = f"{spec.frequency} h={spec.horizon} m={spec.season} L={lookback}" + (
            f" n={count}" if count > 1 else "")
        mases = ", ".join(f"{model} {score.mase:.3f}" for model, score in results[name].items())
        print(f"{name}: MASE {mases}", file=sys.stderr, flush=True)  # progress, as each data set ends
    print(report(results, details))
    return 0


if __name__ == "__main__":
    sys.exit(main())
