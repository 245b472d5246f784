"""The vanishing gradient, measured: the adding problem for SimpleRNN, LSTM and GRU.

LSTM tutorials say that "LSTMs were designed to overcome the vanishing gradient problem of
traditional RNNs". This program shows it. Each sample is a sequence of T steps with two
features: a random number in [0, 1] and a marker that is 1 at exactly two steps (one in the
first tenth of the sequence, one in the second half) and 0 elsewhere. The target is the sum of
the two marked numbers (Hochreiter & Schmidhuber, 1997). Predicting the mean, 1.0, scores a
mean squared error of about 1/6 (the variance of a sum of two uniform numbers); beating it
means carrying the first marked number across at least T/2 steps.

The three cells get about the same number of parameters (1,188-1,216 in the recurrent layer,
the default `budget`): SimpleRNN(33), LSTM(16), GRU(18), each followed by Dense(1), trained
with Adam on the same seeded data. `main()` prints the test MSE for each length and cell and
draws them; `python examples/long_memory.py` runs the full version (a few minutes).
"""

from __future__ import annotations

import numpy as np

from lstmkit import Sequential
from lstmkit.layers import GRU, LSTM, Dense, SimpleRNN
from lstmkit.optimizers import Adam

CELLS = {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU}


def adding_problem(samples: int, length: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (samples, length, 2): values and markers; targets (samples, 1): the marked sum."""
    values = rng.uniform(0.0, 1.0, size=(samples, length))
    markers = np.zeros((samples, length))
    rows = np.arange(samples)
    first = rng.integers(0, max(1, length // 10), size=samples)
    second = rng.integers(length // 2, length, size=samples)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=-1).astype(np.float32)
    y = (values[rows, first] + values[rows, second])[:, None].astype(np.float32)
    return x, y


def units_for_budget(cell: str, budget: int, features: int = 2) -> int:
    """The most units whose recurrent layer has at most `budget` parameters (at least 1)."""
    gates = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}[cell]
    biases = 2 if cell == "GRU" else 1  # Keras's GRU keeps an input and a recurrent bias

    def params(units: int) -> int:
        return gates * (features * units + units * units + biases * units)

    units = 1
    while params(units + 1) <= budget:
        units += 1
    return units


def main(lengths: tuple[int, ...] = (10, 50, 100, 200), train_samples: int = 2000, test_samples: int = 500,
         epochs: int = 30, batch_size: int = 32, budget: int = 1216, seed: int = 0,
         plot_path: str | None = "long_memory.png") -> dict[int, dict[str, float]]:
    """Train each cell on the adding problem at each length; print and return the test MSEs.

    Args:
        lengths: sequence lengths T.
        train_samples, test_samples: sequences per length (new ones for the test).
        epochs, batch_size: Adam (learning rate 0.01) epochs over batches of `batch_size`.
        budget: parameters of the recurrent layer (LSTM(16) has 1,216 on 2 features).
        seed: the data and every model's initial weights and sample order.
        plot_path: where to write the PNG of the table (None: no plot).

    Returns:
        {length: {"mean": MSE of predicting the training targets' mean, "SimpleRNN": ...,
        "LSTM": ..., "GRU": ...}}, test MSEs.
    """
    rng = np.random.default_rng(seed)
    results: dict[int, dict[str, float]] = {}
    units = {cell: units_for_budget(cell, budget) for cell in CELLS}
    for length in lengths:
        x, y = adding_problem(train_samples, length, rng)
        x_test, y_test = adding_problem(test_samples, length, rng)
        results[length] = {"mean": float(np.mean((y_test - y.mean()) ** 2))}
        for cell, layer in CELLS.items():
            model = Sequential([layer(units[cell], input_shape=(length, 2)), Dense(1)])
            model.compile(loss="mse", optimizer=Adam(learning_rate=0.01))
            model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0, seed=seed)
            results[length][cell] = float(model.evaluate(x_test, y_test, batch_size=256))
    print(_table(results, units, budget))
    if plot_path is not None:
        _plot(results, plot_path)
    return results


def _table(results: dict[int, dict[str, float]], units: dict[str, int], budget: int) -> str:
    names = [f"{cell}({units[cell]})" for cell in CELLS]
    lines = [f"Adding problem, test MSE (recurrent layers of at most {budget:,} parameters)",
             f"{'length':>6}  {'mean':>7}  " + "  ".join(f"{name:>13}" for name in names)]
    for length, row in results.items():
        lines.append(f"{length:>6}  {row['mean']:7.5f}  " + "  ".join(f"{row[cell]:13.5f}" for cell in CELLS))
    return "\n".join(lines)


def _plot(results: dict[int, dict[str, float]], path: str) -> None:
    from lstmkit import plot  # matplotlib loads here, only when a plot is asked for

    ax = plot.new_axes(6.5, 4.0)
    lengths = list(results)
    for name in ["mean", *CELLS]:
        style = {"linestyle": "--", "color": "grey"} if name == "mean" else {"marker": "o"}
        label = "predict the mean" if name == "mean" else name
        ax.plot(lengths, [results[length][name] for length in lengths], label=label, **style)
    ax.set_xlabel("sequence length T")
    ax.set_ylabel("test MSE")
    ax.set_yscale("log")
    ax.set_title("Adding problem: how far back can each cell remember?")
    ax.grid(alpha=0.3)
    ax.legend()
    plot.save_figure(ax, path)


if __name__ == "__main__":
    main()
