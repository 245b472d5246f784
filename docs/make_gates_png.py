"""Make docs/gates.png: the demo model's gates and memory over the 20 bundled temperatures.

Trains the `lstmkit demo` model (LSTM(50) + Dense(1) on 5-day windows, scaler fitted on the 13
training days, Adam, batch 1, 100 epochs, seed 0) and traces its LSTM over the whole scaled
series, 20 steps in one pass. Run from the repository root: python docs/make_gates_png.py
"""

from __future__ import annotations

import numpy as np

from lstmkit import plot
from lstmkit.data import MinMaxScaler, make_windows, time_split
from lstmkit.datasets import load_temperatures
from lstmkit.layers import LSTM, Dense
from lstmkit.models import Sequential

LOOKBACK = 5

series = load_temperatures()
values = series.to_numpy(dtype=np.float32).reshape(-1, 1)
split = time_split(len(values), 0.67)
scaled = MinMaxScaler().fit(values[:split]).transform(values)
inputs, targets = make_windows(scaled, lookback=LOOKBACK, horizon=1)
train = np.arange(LOOKBACK, len(values)) < split

model = Sequential([LSTM(50, input_shape=(LOOKBACK, 1)), Dense(1)], name="temperature_lstm")
model.compile(loss="mean_squared_error", optimizer="adam")
model.fit(inputs[train], targets[train, 0], epochs=100, batch_size=1, verbose=0, seed=0)

trace = model.trace(scaled[None])  # (1, 20, 1): the whole series, one step per day
axes = plot.gates(trace, sample=0, times=[day.strftime("%b %d") for day in series.index])
axes[0].set_ylabel("temperature\n(scaled)")
axes[0].axvline(split - 0.5, color="gray", linewidth=0.8)
axes[0].text(split - 0.5, 1.0, " test days →", transform=axes[0].get_xaxis_transform(), va="top", color="gray")
plot.save_figure(axes[0], "docs/gates.png", dpi=60)
print("Wrote docs/gates.png")
