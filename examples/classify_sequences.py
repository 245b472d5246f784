"""Classify whole sequences with an LSTM and a softmax head.

A generated task: each sequence of 20 steps is a noisy rising ramp, a falling ramp, or a
sine wave; the model must say which. The Keras original differs only in its imports.
"""

import numpy as np

from lstmkit import Sequential
from lstmkit.layers import LSTM, Dense

CLASSES = ["rising", "falling", "oscillating"]


def make_sequences(samples: int, steps: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(samples, steps, 1) sequences and one-hot labels (samples, 3)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, size=samples)
    t = np.linspace(0, 1, steps)
    level = rng.uniform(-1, 1, size=(samples, 1))
    slope = rng.uniform(0.5, 2.0, size=(samples, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(samples, 1))
    ramps = level + slope * t
    x = np.where(labels[:, None] == 0, ramps, level - slope * t)
    x = np.where(labels[:, None] == 2, level + np.sin(4 * np.pi * t + phase), x)
    x = x + rng.normal(0, 0.1, size=x.shape)
    one_hot = np.eye(3, dtype="float32")[labels]
    return x[..., None].astype("float32"), one_hot


def main(epochs: int = 15, seed: int = 0) -> float:
    X_train, y_train = make_sequences(600, seed=seed)
    X_test, y_test = make_sequences(200, seed=seed + 1)

    model = Sequential([LSTM(32, input_shape=(20, 1)), Dense(len(CLASSES), activation="softmax")])
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(X_train, y_train, epochs=epochs, batch_size=32, verbose=0, seed=seed)

    loss, accuracy = model.evaluate(X_test, y_test)
    predicted = model.predict(X_test).argmax(axis=1)
    print(f"test accuracy {accuracy:.3f} (loss {loss:.3f}); first predictions: "
          f"{[CLASSES[k] for k in predicted[:5]]}")
    return accuracy


if __name__ == "__main__":
    main()
