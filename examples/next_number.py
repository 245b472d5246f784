"""Predict the next number of 1..10 from windows of 3: the classic first LSTM tutorial.

The Keras original differs only in its imports:
    from keras.models import Sequential
    from keras.layers import LSTM, Dense
    from keras.optimizers import Adam
"""

import numpy as np

from lstmkit import Sequential
from lstmkit.layers import LSTM, Dense
from lstmkit.optimizers import Adam


def main(epochs: int = 200, seed: int = 0, units: int = 50, activation: str = "relu",
         learning_rate: float = 0.01) -> float:
    """Train on 1..10 and predict what follows [8, 9, 10].

    The defaults reach 11: relu lets the output grow past the training targets. The tutorial's
    own settings, main(epochs=100, units=128, activation="tanh", learning_rate=0.001), stay
    below it (9.54 with seed 0): tanh saturates, so an LSTM on unscaled values extrapolates poorly.
    """
    sequence = np.arange(1, 11, dtype="float32")  # 1, 2, ..., 10
    steps = 3
    X = np.array([sequence[i : i + steps] for i in range(len(sequence) - steps)])  # [1 2 3] ... [7 8 9]
    y = sequence[steps:]  # 4 ... 10
    X = X.reshape(len(X), steps, 1)  # (samples, timesteps, features)

    model = Sequential([LSTM(units, activation=activation, input_shape=(steps, 1)), Dense(1)])
    model.compile(optimizer=Adam(learning_rate=learning_rate), loss="mse")
    model.fit(X, y, epochs=epochs, verbose=0, seed=seed)

    prediction = float(model.predict(np.array([8, 9, 10], dtype="float32").reshape(1, steps, 1))[0, 0])
    print(f"[8, 9, 10] -> {prediction:.3f} (expected 11)")
    return prediction


if __name__ == "__main__":
    main()
