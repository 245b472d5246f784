"""Forecast accuracy of the default Forecaster on lstmkit's bundled real series.

For each series the last `horizon` points are held out (12 for the monthly airline
passengers, 10 for the yearly Nile and Lake Huron series); the default Forecaster (lookback from
`suggest_lookback`, everything else at its defaults) is fitted on the rest with seeds 0, 1, 2
and scored with MASE (seasonal scale from the training part) and sMAPE; the table shows the
median over the seeds beside the four baselines, which need no seed.

Run from the repository root:

    python benchmarks/forecast_accuracy.py            # about 10-20 s on 2 CPU cores
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from lstmkit.datasets import load_dataset
from lstmkit.forecast import Forecaster, all_baselines, infer_season, mase, smape, suggest_lookback

SERIES = {"airline_passengers": 12, "nile": 10, "lake_huron": 10}


def evaluate(name: str, horizon: int, seeds: list[int]) -> tuple[dict[str, tuple[float, float]], str, float]:
    """{model: (MASE, sMAPE)} on the held-out tail, the settings used, and seconds per fit."""
    series = load_dataset(name)
    train, test = series.iloc[:-horizon], series.to_numpy()[-horizon:]
    season, _ = infer_season(series.index)
    lookback = suggest_lookback(len(train), horizon, season)
    scores, started = [], time.perf_counter()
    for seed in seeds:
        forecast = Forecaster(lookback, horizon, seed=seed).fit(train).predict()["forecast"].to_numpy()
        scores.append((mase(test, forecast, train.to_numpy(), season), smape(test, forecast)))
    seconds = (time.perf_counter() - started) / len(seeds)
    table = {"lstm (median)": tuple(np.median(np.array(scores), axis=0))}
    for baseline, forecast in all_baselines(train.to_numpy(), horizon, season).items():
        table[baseline] = (mase(test, forecast, train.to_numpy(), season), smape(test, forecast))
    return table, f"lookback {lookback}, season {season}", seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per series (default 3)")
    args = parser.parse_args()
    print(f"{'series':<20}{'model':<17}{'MASE':>8}{'sMAPE %':>9}")
    for name, horizon in SERIES.items():
        table, settings, seconds = evaluate(name, horizon, list(range(args.seeds)))
        for model, (mase_value, smape_value) in table.items():
            print(f"{name:<20}{model:<17}{mase_value:>8.3f}{smape_value:>9.2f}")
        lstm, snaive = table["lstm (median)"][0], table["seasonal_naive"][0]
        outcome = "beats" if lstm < snaive else "does NOT beat"
        print(f"{'':<20}-> LSTM {outcome} seasonal naive ({settings}, horizon {horizon}, "
              f"{seconds:.1f} s per fit)\n")


if __name__ == "__main__":
    main()
