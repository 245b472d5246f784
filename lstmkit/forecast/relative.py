"""`Forecaster(relative="auto")`: relative windows or windows of levels, chosen on the validation tail.

A relative window is shifted so its last value (less its season's share) is 0, and the network
forecasts changes from there: a trend can leave the range the series was trained on, as ARIMA's
differencing allows. A window of levels keeps the scaled values themselves, and the network
forecasts levels: a series that keeps returning to its mean (a lake's level, a river's flow, a
population cycle) is forecast from its whole window rather than from its last, noisiest point, as
a stationary ARMA model is. Which one a series needs is the question ARIMA's order selection asks
about differencing; here it is answered on the data, as the lookback is: both are trained, with
the same seeds, scalers and split, and the one whose forecasts of the validation tail (the latest
windows, never trained on) have the lower mean absolute error is kept; relative on a tie. It costs
a second training.

A global model of several series keeps relative windows without trying levels: its windows come
from series at different levels and with different trends, and relative windows put them on one
footing (as `window_scale` does). So does a fit without a validation tail (validation_split=0),
which has nothing to choose on.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def choose(errors: dict[bool, float]) -> bool:
    """The option with the lower validation error; relative (True) on a tie or when none is finite."""
    finite = {option: value for option, value in errors.items() if np.isfinite(value)}
    if True in finite and False in finite:
        return finite[False] >= finite[True]
    return False not in finite


def choice_text(record: dict[str, Any] | None, series: int) -> str:
    """One line for summary() with relative="auto": what was kept and why. `record`:
    Forecaster.relative_choice_ (None when nothing was tried); `series`: how many were fitted."""
    head = "Relative windows or levels (relative='auto'):"
    if record is None:
        return (f"{head} relative windows, as for every global model of several series." if series > 1 else
                f"{head} relative windows; no validation tail to choose on (validation_split=0).")
    errors = record["errors"]
    scored = ", ".join(f"{name} {value:.4g}" for name, value in errors.items())
    if record.get("skipped"):
        return (f"{head} relative windows; levels were not tried, time_budget={record['time_budget']:g} s was spent "
                f"on the relative ones (validation MAE {scored}).")
    kept = "levels" if choose({name == "relative": value for name, value in errors.items()}) is False else "relative"
    return f"{head} validation MAE {scored}; kept {kept}."
