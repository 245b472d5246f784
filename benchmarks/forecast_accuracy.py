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
The held-out part is never used for any choice. `--origins K` repeats the protocol at K origins
a horizon apart (the last horizon, the one before, ...) and averages each score over them: a
backtest for judging changes beyond one split.

The statistical models do not change when lstmkit does, and they are most of the run time
(seasonal AutoARIMA on long series): their forecasts are kept in a JSON file (`--baselines`,
default benchmarks/results/forecast_baselines.json), keyed by the data set, the origin, the
training data's SHA-256 and statsforecast's version, and fitted only where the file lacks them.
Fit seconds shown for them are those measured when they were fitted.

Run from the repository root:

    python benchmarks/forecast_accuracy.py            # every data set; writes benchmarks/results/forecast_accuracy.md
    python benchmarks/forecast_accuracy.py --quick    # three small data sets, tiny LSTM, one seed
    python benchmarks/forecast_accuracy.py --only lynx wineind --models lstm seasonal_naive
    python benchmarks/forecast_accuracy.py --variant log_off:transform=none   # another LSTM column
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import shlex
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from forecast_data import DATASETS, QUICK, Spec  # noqa: E402

from lstmkit.forecast import Forecaster, mase, seasonal_naive, smape, suggest_lookback  # noqa: E402
from lstmkit.forecast.padding import ShortSeriesWarning  # noqa: E402
from lstmkit.forecast.statistical import STATISTICAL_NAMES, StatisticalModels, require  # noqa: E402

BASELINES = ("seasonal_naive", *STATISTICAL_NAMES)
MODELS = ("lstm", *BASELINES)
QUICK_SETTINGS = dict(units=4, epochs=5, patience=2)
RESULTS = Path(__file__).resolve().parent / "results"
SHORT = {"lstm": "lstm", "seasonal_naive": "snaive", "auto_ets": "ets", "auto_arima": "arima", "theta": "theta"}

Part = tuple[Any, pd.Series, np.ndarray]  # (id, training part, held-out values)


class Score(NamedTuple):
    mase: float
    smape: float
    seconds: float  # fitting and forecasting every series of the data set (the LSTM: per seed)


def _split(data: "pd.Series | pd.DataFrame", horizon: int, origin: int = 0) -> list[Part]:
    """(id, training part, held-out values) of each series, holding out the horizon that ends
    `origin` horizons before the end (0: the last horizon)."""
    cut = origin * horizon
    if isinstance(data, pd.Series):
        data = data.iloc[: len(data) - cut]
        return [(None, data.iloc[:-horizon], data.to_numpy()[-horizon:])]
    parts = []
    for key, rows in data.groupby("id", sort=False):
        series = pd.Series(rows["value"].to_numpy(), index=pd.DatetimeIndex(rows["time"], freq="infer"))
        series = series.iloc[: len(series) - cut]
        if len(series) > horizon + 1:  # earlier origins of a collection: series still long enough
            parts.append((key, series.iloc[:-horizon], series.to_numpy()[-horizon:]))
    return parts


def _scores(parts: list[Part], forecasts: dict[Any, np.ndarray], season: int) -> tuple[float, float]:
    """Mean MASE and sMAPE over the series (MASE over the series whose training part is not constant:
    at earlier origins a few of M1's series keep only a handful of equal values)."""
    values = [(mase(actual, forecasts[key], train.to_numpy(), season), smape(actual, forecasts[key]))
              for key, train, actual in parts]
    return tuple(np.nanmean(np.array(values), axis=0))


def _fingerprint(parts: list[Part]) -> str:
    digest = hashlib.sha256()
    for key, train, actual in parts:
        digest.update(repr(key).encode())
        digest.update(np.ascontiguousarray(train.to_numpy(dtype=np.float64)).tobytes())
        digest.update(np.ascontiguousarray(actual, dtype=np.float64).tobytes())
    return digest.hexdigest()[:16]


def _lstm(parts: list[Part], spec: Spec, seed: int, settings: dict[str, Any]
          ) -> tuple[dict[Any, np.ndarray], str, float]:
    """The Forecaster's forecasts of every series, its lookback, and seconds."""
    settings = dict(settings)
    longest = max(len(train) for _, train, _ in parts)
    lookback = settings.pop("lookback", None) or suggest_lookback(longest, spec.horizon, spec.season)
    forecaster = Forecaster(lookback, spec.horizon, season=spec.season, seed=seed, **settings)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ShortSeriesWarning)  # M1 has none; earlier origins may
        if parts[0][0] is None:
            forecaster.fit(parts[0][1])
        else:
            long = pd.concat([pd.DataFrame({"id": key, "time": train.index, "value": train.to_numpy()})
                              for key, train, _ in parts], ignore_index=True)
            forecaster.fit(long, id_col="id", time_col="time", value_col="value")
    predicted = forecaster.predict()
    seconds = time.perf_counter() - started
    chosen = "+".join(map(str, sorted(set(forecaster.member_lookbacks_))))  # lookback="auto": those kept
    if parts[0][0] is None:
        return {None: predicted["forecast"].to_numpy()}, chosen, seconds
    return {key: rows["forecast"].to_numpy() for key, rows in predicted.groupby("id")}, chosen, seconds


def _statistical(parts: list[Part], spec: Spec) -> dict[str, Any]:
    """Forecasts of AutoETS, AutoARIMA and Theta for every series, and their fit seconds."""
    models = StatisticalModels(spec.season)
    forecasts = {name: {} for name in STATISTICAL_NAMES}
    for key, train, _ in parts:
        for name, values in models.forecasts(train.to_numpy(), spec.horizon).items():
            forecasts[name][repr(key)] = values.tolist()
    return {"forecasts": forecasts, "seconds": dict(models.seconds), "fallbacks": dict(models.fallbacks)}


def _statsforecast_version() -> str:
    from importlib.metadata import version

    return version("statsforecast")


class Task(NamedTuple):
    name: str  # a key of DATASETS or QUICK (looked up in the worker: their loaders do not pickle)
    seeds: list[int]
    variants: dict[str, dict[str, Any]]  # LSTM column -> Forecaster settings
    baselines: bool  # score seasonal naive and the statistical models
    cached: dict[str, Any]  # the baselines file's entries for this data set (origin key -> record)
    origins: int
    threads: int


def evaluate(task: Task) -> dict[str, Any]:
    """One data set, in its own process: {"scores": {model: Score}, "lookback": ..., "series": n,
    "new_baselines": {key: record}} (records to add to the baselines file)."""
    import torch

    torch.set_num_threads(task.threads)
    spec = {**DATASETS, **QUICK}[task.name]
    data = spec.load()
    per_origin: dict[str, list[tuple[float, float, float]]] = {}
    lookbacks, new, count = [], {}, 0
    for origin in range(task.origins):
        parts = _split(data, spec.horizon, origin)
        count = max(count, len(parts))
        for column, settings in task.variants.items():
            runs = [_lstm(parts, spec, seed, settings) for seed in task.seeds]
            scores = np.median([_scores(parts, forecasts, spec.season) for forecasts, _, _ in runs], axis=0)
            seconds = float(np.mean([seconds for _, _, seconds in runs]))
            per_origin.setdefault(column, []).append((scores[0], scores[1], seconds))
            if column == next(iter(task.variants)):
                lookbacks.append("/".join(sorted({lookback for _, lookback, _ in runs})))
        if not task.baselines:
            continue
        started = time.perf_counter()
        naive = {key: seasonal_naive(train.to_numpy(), spec.horizon, spec.season) for key, train, _ in parts}
        per_origin.setdefault("seasonal_naive", []).append(
            (*_scores(parts, naive, spec.season), time.perf_counter() - started))
        key = f"{task.name}|origin {origin}|h {spec.horizon}|m {spec.season}|data {_fingerprint(parts)}|" \
              f"statsforecast {_statsforecast_version()}"
        record = task.cached.get(key)
        if record is None:
            record = new[key] = _statistical(parts, spec)
        for name in STATISTICAL_NAMES:
            forecasts = {k: np.asarray(record["forecasts"][name][repr(k)]) for k, _, _ in parts}
            per_origin.setdefault(name, []).append(
                (*_scores(parts, forecasts, spec.season), record["seconds"][name]))
    scores = {model: Score(*np.mean(np.array(rows), axis=0)) for model, rows in per_origin.items()}
    return {"scores": scores, "lookback": lookbacks[0] if lookbacks else "", "series": count, "new_baselines": new}


def ranks(results: dict[str, dict[str, Score]], models: list[str]) -> pd.DataFrame:
    """MASE rank (1 best) of each model on each data set, ties averaged."""
    mases = pd.DataFrame({name: {model: table[model].mase for model in models}
                          for name, table in results.items()}).T[models]
    return mases.rank(axis=1, method="average")


def _verdicts(results: dict[str, dict[str, Score]], lstm: str) -> list[str]:
    """Median ranks of `lstm` (one LSTM column) beside the baselines, and the done-when checks."""
    if not all(model in table for table in results.values() for model in BASELINES):
        return []
    models = [lstm, *BASELINES]
    table = ranks(results, models)
    lines = [f"Median MASE rank over the data sets (1 best of {len(models)}): "
             + ", ".join(f"{m} {table[m].median():.1f}" for m in models)]
    relative = {m: float(np.exp(np.mean([np.log(t[m].mase / t["seasonal_naive"].mase) for t in results.values()])))
                for m in models if m != "seasonal_naive"}
    lines.append("Geometric mean over the data sets of MASE relative to seasonal naive's (under 1 is better): "
                 + ", ".join(f"{m} {value:.3f}" for m, value in relative.items()))
    beaten = [name for name, t in results.items() if t[lstm].mase < t["seasonal_naive"].mase]
    lines.append(f"{lstm} beats seasonal naive on {len(beaten)} of {len(results)} data sets"
                 + ("" if len(beaten) == len(results) else
                    f" (not on: {', '.join(n for n in results if n not in beaten)})"))
    for model in STATISTICAL_NAMES:
        wins = int((table[lstm] < table[model]).sum())
        better = "better" if table[lstm].median() < table[model].median() else "NOT better"
        lines.append(f"{lstm} vs {model}: lower MASE on {wins} of {len(results)}; median rank {better}")
    return lines


def report(results: dict[str, dict[str, Score]], details: dict[str, str]) -> str:
    """The table, the ranks and the verdicts, as printed."""
    models = [m for m in next(iter(results.values()))]
    head = " ".join(f"{SHORT.get(m, m)[:7]:>7}" for m in models)
    width = len(head)
    seconds = "fit seconds (all series; lstm: per seed)"
    lines = [f"{'':<54}| {'MASE':<{width}} | {'sMAPE %':<{width}} | {seconds:<{width}}",
             f"{'data set':<20}{'settings':<34}| {head} | {head} | {head}"]
    for name, table in results.items():
        cells = [" ".join(f"{table[m].mase:>7.3f}" for m in models),
                 " ".join(f"{table[m].smape:>7.2f}" for m in models),
                 " ".join(f"{table[m].seconds:>7.2f}" for m in models)]
        lines.append(f"{name:<20}{details[name]:<34}| " + " | ".join(cells))
    lines.append("")
    for lstm in [m for m in models if m not in BASELINES]:
        lines += _verdicts(results, lstm)
    return "\n".join(lines)


def markdown(results: dict[str, dict[str, Score]], details: dict[str, str], command: str, seeds: int,
             origins: int) -> str:
    """The same as `report`, as markdown tables."""
    models = [m for m in next(iter(results.values()))]
    names = [SHORT.get(m, m) for m in models]
    lines = [f"# Forecast accuracy on real data", "",
             f"Produced by `{command}` (lstm: median of {seeds} seed(s); "
             f"{'the last horizon held out' if origins == 1 else f'mean over {origins} origins a horizon apart'}).",
             ""]
    for title, field, digits in (("MASE (lower is better)", "mase", 3), ("sMAPE %", "smape", 2),
                                 ("Fit seconds (every series of the data set; lstm: per seed; statistical "
                                  "models: as measured when their forecasts were cached)", "seconds", 2)):
        lines += [f"## {title}", "", "| data set | settings | " + " | ".join(names) + " |",
                  "|---|---|" + "---:|" * len(names)]
        for name, table in results.items():
            values = [getattr(table[m], field) for m in models]
            best = min(values) if field != "seconds" else None
            cells = [f"**{v:.{digits}f}**" if v == best else f"{v:.{digits}f}" for v in values]
            lines.append(f"| {name} | {details[name]} | " + " | ".join(cells) + " |")
        lines.append("")
    verdicts = [line for lstm in models if lstm not in BASELINES for line in _verdicts(results, lstm)]
    if verdicts:
        lines += ["## Verdicts", ""] + [f"- {line}" for line in verdicts] + [""]
    return "\n".join(lines)


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _read_baselines(path: Path | None) -> dict[str, Any]:
    if path is None or not path.exists():
        return {}
    return json.loads(path.read_text())


def _variant(text: str) -> tuple[str, dict[str, Any]]:
    """"name:key=value,key=value" -> (name, settings); values read as JSON where they parse."""
    name, _, assignments = text.partition(":")
    settings = {}
    for assignment in filter(None, assignments.split(",")):
        key, sep, value = assignment.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"--variant {text!r}: expected name:key=value,...")
        try:
            settings[key] = json.loads(value)
        except json.JSONDecodeError:
            settings[key] = value
    return name, settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three small data sets, a tiny LSTM, one seed")
    parser.add_argument("--seeds", type=int, default=3, help="LSTM seeds per data set (default 3)")
    parser.add_argument("--only", "--datasets", dest="only", nargs="+", choices=list(DATASETS) + list(QUICK),
                        help="only these data sets")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS),
                        help="only these models (the baselines come together)")
    parser.add_argument("--variant", action="append", type=_variant, default=[],
                        help="another LSTM column: NAME:key=value,... (Forecaster settings)")
    parser.add_argument("--set", dest="settings", type=lambda t: _variant("lstm:" + t)[1], default={},
                        help="settings of the lstm column itself: key=value,...")
    parser.add_argument("--origins", type=int, default=1, help="origins a horizon apart, scores averaged")
    parser.add_argument("--jobs", type=int, default=2, help="data sets run at once, one process each "
                                                            "(--quick: 1)")
    parser.add_argument("--threads", type=int, default=1, help="threads per process")
    parser.add_argument("--baselines", default=None,
                        help="the statistical models' forecasts file ('none': fit them every time; default "
                             "benchmarks/results/forecast_baselines.json, none for --quick)")
    parser.add_argument("--out", default=None, help="markdown table to write (default for a full run: "
                                                    "benchmarks/results/forecast_accuracy.md)")
    args = parser.parse_args(argv)
    require()
    chosen = QUICK if args.quick else {name: {**DATASETS, **QUICK}[name] for name in (args.only or DATASETS)}
    seeds = [0] if args.quick else list(range(args.seeds))
    base = {**(QUICK_SETTINGS if args.quick else {}), **args.settings}
    variants = {"lstm": base} if "lstm" in args.models else {}
    variants.update((name, {**base, **settings}) for name, settings in args.variant)
    with_baselines = any(model in args.models for model in BASELINES)
    if args.baselines is None:
        args.baselines = "none" if args.quick else str(RESULTS / "forecast_baselines.json")
    baselines_path = None if args.baselines == "none" else Path(args.baselines)
    cache = _read_baselines(baselines_path)
    tasks = [Task(name, seeds, variants, with_baselines,
                  {k: v for k, v in cache.items() if k.startswith(f"{name}|")}, args.origins, args.threads)
             for name, spec in chosen.items()]
    results, details = {}, {}
    started = time.perf_counter()

    def record(task: Task, outcome: dict[str, Any]) -> None:
        spec = chosen[task.name]
        results[task.name] = outcome["scores"]
        details[task.name] = f"{spec.frequency} h={spec.horizon} m={spec.season} L={outcome['lookback']}" + (
            f" n={outcome['series']}" if outcome["series"] > 1 else "")
        if outcome["new_baselines"] and baselines_path is not None:  # kept as each data set ends
            write_atomically(baselines_path, json.dumps({**_read_baselines(baselines_path),
                                                         **outcome["new_baselines"]}, sort_keys=True))
        mases = ", ".join(f"{model} {score.mase:.3f}" for model, score in outcome["scores"].items())
        print(f"{task.name}: MASE {mases} ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)

    if args.jobs > 1 and len(tasks) > 1 and not args.quick:
        tasks.sort(key=lambda task: -len(chosen[task.name].load()))  # the longest first, so none is left last
        with ProcessPoolExecutor(max_workers=args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            for task, outcome in zip(tasks, pool.map(evaluate, tasks)):
                record(task, outcome)
    else:
        for task in tasks:
            record(task, evaluate(task))
    results = {name: {m: results[name][m] for m in [*variants, *BASELINES] if m in results[name]}
               for name in chosen}
    print(report(results, details))
    out = args.out or (None if args.quick or args.only or args.variant or args.settings or args.origins != 1
                       else str(RESULTS / "forecast_accuracy.md"))
    if out is not None:
        command = "python " + shlex.join(["benchmarks/forecast_accuracy.py",  # quoted: "m1_yearly (181)"
                                          *(sys.argv[1:] if argv is None else argv)])
        write_atomically(Path(out), markdown(results, details, command, len(seeds), args.origins))
    return 0


if __name__ == "__main__":
    sys.exit(main())
