"""The daily-temperature LSTM tutorial, ported to lstmkit and done right.

Tutorial code moves over by changing its imports (keras -> lstmkit). What changes in the
method: the scaler is fitted on the training days only, test windows may look back into the
training days, predictions go back to degrees before scoring, and the naive forecast
("tomorrow = today") is scored beside the model. `lstmkit demo` runs the same steps.
"""

import numpy as np

from lstmkit import Sequential
from lstmkit.data import MinMaxScaler, make_windows, time_split
from lstmkit.datasets import load_temperatures
from lstmkit.layers import LSTM, Dense


def main(epochs: int = 100, seed: int = 0, plot_path: str | None = None) -> dict[str, float]:
    temperatures = load_temperatures().to_numpy(dtype="float32").reshape(-1, 1)  # (20, 1) °C
    split = time_split(len(temperatures), 0.67)  # first 13 days train, last 7 test

    scaler = MinMaxScaler().fit(temperatures[:split])  # fitted on the training days only
    scaled = scaler.transform(temperatures)
    X, y = make_windows(scaled, lookback=5)  # X (15, 5, 1): days t-5..t-1; y (15, 1, 1): day t
    first_test = split - 5  # window k predicts day k + 5
    X_train, y_train = X[:first_test], y[:first_test, 0]
    X_test = X[first_test:]  # looks back into the training days: every test day is predicted

    model = Sequential([LSTM(50, input_shape=(5, 1)), Dense(1)])
    model.compile(loss="mean_squared_error", optimizer="adam")
    model.fit(X_train, y_train, epochs=epochs, batch_size=1, verbose=0, seed=seed)

    predicted = scaler.inverse_transform(model.predict(X_test))[:, 0]  # back to °C
    actual = temperatures[split:, 0]
    naive = temperatures[split - 1 : -1, 0]  # yesterday's temperature
    scores = {
        "lstm_mae": float(np.mean(np.abs(predicted - actual))),
        "naive_mae": float(np.mean(np.abs(naive - actual))),
    }
    print(f"test MAE: LSTM {scores['lstm_mae']:.3f} °C, naive {scores['naive_mae']:.3f} °C")

    if plot_path:
        from lstmkit.plot import new_axes, save_figure

        ax = new_axes()
        ax.plot(range(len(temperatures)), temperatures[:, 0], "o-", color="black", label="actual")
        ax.plot(range(split, len(temperatures)), predicted, "D-", label="LSTM, test days")
        ax.set_xlabel("day")
        ax.set_ylabel("temperature (°C)")
        ax.legend()
        save_figure(ax, plot_path)
    return scores


if __name__ == "__main__":
    main(plot_path="temperature_forecast.png")
