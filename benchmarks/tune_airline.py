"""The tuning run quoted in docs/INTEROP.md: Forecaster.tune on the airline passengers, 8 trials.

Run: `python benchmarks/tune_airline.py` (about a minute on 2 cores).
"""

import time

from lstmkit.datasets import load_airline_passengers
from lstmkit.forecast import Forecaster

start = time.perf_counter()
forecaster = Forecaster(lookback=24, horizon=12, epochs=60, seed=0).tune(load_airline_passengers(), n_trials=8)
print(f"{time.perf_counter() - start:.0f} s")
print(forecaster.summary())
