"""scikit-learn estimators around lstmkit: LSTMRegressor, LSTMClassifier and LagWindows.

They follow scikit-learn's estimator rules (every constructor argument stored as given,
`get_params/set_params`, `clone`, fitted attributes ending in "_"), so they work in
`Pipeline`, `GridSearchCV` and `cross_val_score`.

Inputs are sequences: X (samples, timesteps, features), or (samples, timesteps) for one
feature, which is also how a plain table is read (each row a sequence of its columns).
`LagWindows` turns a table whose rows are consecutive times into such windows, so a
forecasting pipeline can be `make_pipeline(StandardScaler(), LagWindows(12), LSTMRegressor())`.

Example:
    >>> from sklearn.model_selection import GridSearchCV
    >>> search = GridSearchCV(LSTMRegressor(epochs=20), {"units": [16, 32]}, cv=3).fit(X, y)
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
    from sklearn.preprocessing import LabelEncoder
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError:
    raise ImportError('lstmkit.sklearn needs scikit-learn: pip install "lstmkit[sklearn]".') from None

from lstmkit.checks import positive_int
from lstmkit.layers import LSTM, Bidirectional, Dense, Dropout
from lstmkit.models import Sequential
from lstmkit.optimizers import Adam


class _LSTMEstimator(BaseEstimator):
    """What the regressor and the classifier share: the network, its training and the input checks.

    Args:
        units: LSTM units per layer.
        layers: stacked LSTM layers.
        dropout: Dropout after each LSTM layer (0 for none).
        bidirectional: read the sequences both ways (Bidirectional LSTM layers).
        epochs, batch_size, learning_rate: training (Adam).
        random_state: seed for the weights and the sample order (fit is repeatable on CPU).
        verbose: fit's verbosity (0 silent, 2 a line per epoch).
    """

    def __init__(self, units: int = 32, layers: int = 1, dropout: float = 0.0, bidirectional: bool = False,
                 epochs: int = 50, batch_size: int = 32, learning_rate: float = 1e-2, random_state: int = 0,
                 verbose: int = 0) -> None:
        self.units = units
        self.layers = layers
        self.dropout = dropout
        self.bidirectional = bidirectional
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.random_state = random_state
        self.verbose = verbose

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    def _fit_inputs(self, X: Any, y: Any, **check: Any) -> tuple[np.ndarray, np.ndarray]:
        """X as float32 (samples, timesteps, features) and y, checked by scikit-learn's rules."""
        X, y = validate_data(self, X, y, reset=True, allow_nd=True, dtype=np.float32, **check)
        return _as_sequences(X), y

    def _predict_inputs(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        return _as_sequences(validate_data(self, X, reset=False, allow_nd=True, dtype=np.float32))

    def _fit_network(self, X: np.ndarray, y: np.ndarray, outputs: int, activation: str | None, loss: str) -> None:
        if isinstance(self.random_state, np.random.RandomState) or self.random_state is None:
            seed = 0 if self.random_state is None else int(self.random_state.randint(2**31))
        else:
            seed = int(self.random_state)
        stack: list[Any] = []
        for index in range(self.layers):
            lstm = LSTM(self.units, return_sequences=index < self.layers - 1)
            stack.append(Bidirectional(lstm) if self.bidirectional else lstm)
            if self.dropout > 0:
                stack.append(Dropout(self.dropout))
        model = Sequential([*stack, Dense(outputs, activation=activation)])
        model.build(X.shape[1:])
        model.compile(loss=loss, optimizer=Adam(learning_rate=self.learning_rate), device="cpu")
        self.history_ = model.fit(X, y, epochs=self.epochs, batch_size=self.batch_size, verbose=self.verbose,
                                  seed=seed).history
        self.model_ = model

    def _network_output(self, X: Any) -> np.ndarray:
        X = self._predict_inputs(X)
        return self.model_.predict(X, batch_size=max(self.batch_size, 256)).astype(np.float64)


class LSTMRegressor(RegressorMixin, _LSTMEstimator):
    """An LSTM stack and a Dense layer of one output per target, trained on mean squared error.

    `fit(X, y)`: X (samples, timesteps[, features]); y (samples,) or (samples, targets).
    `predict(X)` has y's shape. See _LSTMEstimator for the arguments.
    """

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True  # a few epochs on the checks' random data
        tags.target_tags.multi_output = True
        return tags

    def fit(self, X: Any, y: Any) -> "LSTMRegressor":
        X, y = self._fit_inputs(X, y, multi_output=True, y_numeric=True)
        self._single_output = y.ndim == 1
        targets = y.reshape(len(y), -1).astype(np.float32)
        self._fit_network(X, targets, targets.shape[1], None, "mse")
        return self

    def predict(self, X: Any) -> np.ndarray:
        output = self._network_output(X)
        return output[:, 0] if self._single_output else output


class LSTMClassifier(ClassifierMixin, _LSTMEstimator):
    """An LSTM stack and a softmax Dense layer over the classes, trained on cross-entropy.

    `fit(X, y)`: X (samples, timesteps[, features]); y (samples,) labels of any kind.
    `predict_proba(X)` (samples, classes) in the order of `classes_`. See _LSTMEstimator.
    """

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True
        tags.classifier_tags.multi_class = True
        return tags

    def fit(self, X: Any, y: Any) -> "LSTMClassifier":
        X, y = self._fit_inputs(X, y)
        check_classification_targets(y)
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        self._fit_network(X, encoder.transform(y), len(self.classes_), "softmax", "sparse_categorical_crossentropy")
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return self._network_output(X)

    def predict(self, X: Any) -> np.ndarray:
        probabilities = self.predict_proba(X)
        return self.classes_[np.argmax(probabilities, axis=1)]


def _as_sequences(X: np.ndarray) -> np.ndarray:
    if X.ndim > 3:
        raise ValueError(f"X must be (samples, timesteps[, features]); got {X.ndim} dimensions {X.shape}.")
    return X[..., None] if X.ndim == 2 else X


class LagWindows(TransformerMixin, BaseEstimator):
    """Rows at consecutive times (samples, features) -> each row's window of the last `lookback`
    rows (samples, lookback, features), ending at that row.

    The first lookback - 1 rows have fewer rows before them; their windows repeat the first row
    in front (so the number of samples stays, as a Pipeline needs). Windows never look ahead:
    to forecast the next value, fit the regressor on y = the series shifted one step back.

    Example:
        >>> LagWindows(3).fit_transform(np.arange(4.0)[:, None])[:, :, 0]
        array([[0., 0., 0.], [0., 0., 1.], [0., 1., 2.], [1., 2., 3.]])
    """

    def __init__(self, lookback: int = 12) -> None:
        self.lookback = lookback

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        return tags

    def fit(self, X: Any, y: Any = None) -> "LagWindows":
        positive_int(self.lookback, "lookback")
        validate_data(self, X, reset=True, dtype=np.float64)
        return self

    def transform(self, X: Any) -> np.ndarray:
        X = validate_data(self, X, reset=False, dtype=np.float64)
        padded = np.concatenate([np.repeat(X[:1], self.lookback - 1, axis=0), X])
        windows = np.lib.stride_tricks.sliding_window_view(padded, self.lookback, axis=0)  # (samples, F, lookback)
        return np.ascontiguousarray(windows.transpose(0, 2, 1))
