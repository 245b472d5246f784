"""Small time series shipped with lstmkit, loaded as pandas Series with a DatetimeIndex.

``temperatures``
    20 daily temperatures in °C from 2024-04-01. Illustrative values, not measurements:
    they stand in for the 20 daily temperatures of the classic LSTM tutorial.
``airline_passengers``
    Monthly totals of international airline passengers, in thousands, January 1949 to
    December 1960 (144 values). Box, G. E. P., Jenkins, G. M. and Reinsel, G. C. (1976)
    *Time Series Analysis, Forecasting and Control*, 3rd ed., Holden-Day, Series G;
    R's ``datasets::AirPassengers``.
``nile``
    Annual flow of the river Nile at Aswan, in 10^8 m^3, 1871 to 1970 (100 values), with
    a change point near 1898. Cobb, G. W. (1978) "The problem of the Nile: conditional
    solution to a change-point problem", *Biometrika* 65(2), 243-251; Durbin, J. and
    Koopman, S. J. (2001) *Time Series Analysis by State Space Methods*, Oxford;
    R's ``datasets::Nile``.
``lake_huron``
    Annual level of Lake Huron, in feet, 1875 to 1972 (98 values). Brockwell, P. J. and
    Davis, R. A. (1991) *Time Series and Forecasting Methods*, 2nd ed., Springer,
    Series A, p. 555; R's ``datasets::LakeHuron``.

The three real series are public domain; their values were copied verbatim from copies of
the R datasets on GitHub and cross-checked between independent copies (the means are
280.30, 919.35 and 579.00, as R reports). Each CSV file has one header line, a time column
and a value column.

pandas is imported only when a dataset is loaded, so ``import lstmkit`` stays light.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, NamedTuple

from lstmkit.checks import choice

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "list_datasets",
    "load_dataset",
    "load_temperatures",
    "load_airline_passengers",
    "load_nile",
    "load_lake_huron",
]


class _Dataset(NamedTuple):
    filename: str
    time_column: str  # also the index name
    time_format: str
    freq: str  # "D" daily, "MS" month start, "YS" year start
    value_column: str  # also the Series name


_DATASETS = {
    "temperatures": _Dataset("daily_temperatures.csv", "date", "%Y-%m-%d", "D", "temperature"),
    "airline_passengers": _Dataset("airline_passengers.csv", "month", "%Y-%m", "MS", "passengers"),
    "nile": _Dataset("nile.csv", "year", "%Y", "YS", "flow"),
    "lake_huron": _Dataset("lake_huron.csv", "year", "%Y", "YS", "level"),
}


def list_datasets() -> list[str]:
    """Return the names `load_dataset` accepts, e.g. ["temperatures", "airline_passengers", ...]."""
    return list(_DATASETS)


def load_dataset(name: str) -> "pd.Series":
    """Load a shipped dataset by name (see `list_datasets()`).

    Returns:
        float64 pandas Series (T,) with a DatetimeIndex of fixed frequency.

    Raises:
        ValueError: unknown name; the message lists the close matches.
    """
    choice(name, "name", list_datasets(), kind="dataset")
    import pandas as pd

    spec = _DATASETS[name]
    with resources.files(__name__).joinpath(spec.filename).open("r", encoding="utf-8") as file:
        frame = pd.read_csv(file, dtype={spec.time_column: str, spec.value_column: float})
    times = pd.to_datetime(frame[spec.time_column], format=spec.time_format)
    # Passing freq makes pandas check that the dates really are evenly spaced.
    index = pd.DatetimeIndex(times, freq=spec.freq, name=spec.time_column)
    return pd.Series(frame[spec.value_column].to_numpy(), index=index, name=spec.value_column)


def load_temperatures() -> "pd.Series":
    """20 daily temperatures in °C from 2024-04-01 (freq "D"), named "temperature".

    Illustrative values that stand in for the LSTM tutorial's 20 daily temperatures;
    they are not measurements. A 67/33 `time_split` trains on the first 13.
    """
    return load_dataset("temperatures")


def load_airline_passengers() -> "pd.Series":
    """Monthly international airline passengers in thousands, 1949-01 to 1960-12 (144 values,
    freq "MS"), named "passengers". Box & Jenkins Series G; see the module docstring."""
    return load_dataset("airline_passengers")


def load_nile() -> "pd.Series":
    """Annual Nile flow at Aswan in 10^8 m^3, 1871 to 1970 (100 values, freq "YS"),
    named "flow". Cobb (1978); see the module docstring."""
    return load_dataset("nile")


def load_lake_huron() -> "pd.Series":
    """Annual level of Lake Huron in feet, 1875 to 1972 (98 values, freq "YS"),
    named "level". Brockwell & Davis (1991); see the module docstring."""
    return load_dataset("lake_huron")
