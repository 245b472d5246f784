"""`Forecaster(quantiles=(0.1, 0.5, 0.9))`: a head that forecasts chosen quantiles directly.

The head reads what the first ensemble member's recurrent stack makes of a window (its last
hidden state, `units` values: the network without its Dense layer) and maps it linearly to
horizon x Q outputs, trained on the pinball (quantile) loss, whose minimiser is the τ-quantile
of the target:

    loss_τ(y, q) = max(τ·(y - q), (τ - 1)·(y - q)), averaged over the horizon steps and the Q quantiles.

It is fitted after the point forecast's network, whose weights stay as they are (the point
forecast and its split-conformal intervals do not change), on the same training windows
(scaled, relative to their last value), full batch with Adam, early-stopped on the same
validation tail. A head on the trained features costs a fraction of a second; a second
network trained on the pinball loss costs as much as the first, and on lstmkit's torch loop
(the fused kernels train MSE and MAE) many times more. Outputs are sorted along the quantiles
at each step (quantiles cannot cross) and mapped back to the series' units by the target's
scaler, which is monotone (min-max or standard scaling, and the log where the series got it),
so they stay quantiles. The band from the lowest to the highest quantile is then calibrated on
the validation tail as conformalized quantile regression does (Romano et al., 2019): with
scores E = max(lowest - y, y - highest) of the tail's forecasts, each step's band is widened
(or narrowed, E < 0) by the ⌈(n + 1)·(τ_high - τ_low)⌉-th smallest E of that step, so that it
covers new values at its nominal rate when they behave like the tail's; a head fitted on the
training windows alone is too sure of itself. `predict()` gives them as columns q_0.1, q_0.5, q_0.9; `backtest()`
reports the coverage and width of the band from the lowest to the highest (label "q10-q90").

Only strategy="direct" with the default stack takes quantiles: the recursive strategy would
feed quantiles back as if they were values.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

from lstmkit.data import WindowedSeries
from lstmkit.models import Sequential

_CHUNK = 4096  # windows read at once
_EPOCHS, _PATIENCE, _LEARNING_RATE = 2000, 100, 2e-2


def check_quantiles(quantiles: Any) -> tuple[float, ...]:
    """Quantiles as a sorted tuple of distinct floats in (0, 1) (empty for None)."""
    if quantiles is None:
        return ()
    if isinstance(quantiles, (int, float, np.number)) and not isinstance(quantiles, bool):
        quantiles = (quantiles,)
    try:
        values = [float(q) for q in quantiles if not isinstance(q, bool)]
    except (TypeError, ValueError):
        values = []
    if not values or len(values) != len(list(quantiles)) or not all(0 < q < 1 for q in values):
        raise ValueError(f"`quantiles` must be probabilities strictly between 0 and 1, e.g. (0.1, 0.5, 0.9); "
                         f"got {quantiles!r}.")
    return tuple(sorted(set(values)))


def column_name(tau: float) -> str:
    """predict()'s column of quantile τ: "q_0.1"."""
    return f"q_{tau:g}"


def band_label(quantiles: Sequence[float]) -> str:
    """The backtest's label of the band from the lowest to the highest quantile: "q10-q90"."""
    return f"q{100 * quantiles[0]:g}-q{100 * quantiles[-1]:g}"


def pinball_loss(outputs: np.ndarray, targets: np.ndarray, quantiles: np.ndarray) -> float:
    """The mean pinball loss of outputs (N, H, Q) against targets (N, H)."""
    error = targets[:, :, None] - outputs
    return float(np.mean(np.maximum(quantiles * error, (quantiles - 1.0) * error)))


def features(member: Sequential, windows: Any) -> tuple[np.ndarray, np.ndarray]:
    """The member's last hidden state (N, units) on training windows (a WindowedSeries or arrays
    (inputs, targets, lengths), relative as the member read them) and their targets (N, H)."""
    body = Sequential(list(member.layers)[:-1])  # the same layers, without the Dense: shares the weights
    if not isinstance(windows, WindowedSeries):
        inputs, targets, lengths = windows
        return body.predict(inputs, batch_size=256, lengths=lengths), np.asarray(targets, dtype=np.float32)
    states, targets = [], []
    for first in range(0, len(windows), _CHUNK):
        x, y = windows.batch(np.arange(first, min(first + _CHUNK, len(windows))))
        states.append(body.predict(x, batch_size=256))
        targets.append(y)
    return np.concatenate(states), np.concatenate(targets)


def window_features(member: Sequential, inputs: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """The member's last hidden state (N, units) on model-ready inputs (N, L, F)."""
    return Sequential(list(member.layers)[:-1]).predict(inputs, batch_size=256, lengths=lengths)


class QuantileHead:
    """Linear map from the member's features (N, units) to quantiles (N, horizon, Q), in numpy
    (a few small matrix products per epoch: torch's per-call overhead would dominate)."""

    def __init__(self, quantiles: Sequence[float], units: int, horizon: int) -> None:
        self.quantiles, self.units, self.horizon = tuple(quantiles), units, horizon
        self.kernel = np.zeros((units, horizon * len(self.quantiles)))
        self.bias = np.zeros(horizon * len(self.quantiles))
        self.best_epoch = 0
        self.widen = np.zeros(horizon)  # per step, added to the highest quantile, taken from the lowest

    def calibrate(self, scores: np.ndarray) -> None:
        """Set `widen` from conformity scores (n, horizon) of the validation tail (see the module docstring)."""
        level = self.quantiles[-1] - self.quantiles[0]
        self.widen = np.zeros(self.horizon)
        for step, column in enumerate(np.asarray(scores, dtype=np.float64).T):
            column = np.sort(column[~np.isnan(column)])
            if len(column):
                self.widen[step] = column[min(math.ceil((len(column) + 1) * level), len(column)) - 1]

    def fit(self, train: tuple[np.ndarray, np.ndarray], validation: tuple[np.ndarray, np.ndarray] | None,
            seed: int) -> "QuantileHead":
        """Full-batch Adam on the pinball loss; early-stopped on `validation` with the best weights kept."""
        tau = np.asarray(self.quantiles)
        x, y = (np.asarray(a, dtype=np.float64) for a in train)
        limit = np.sqrt(6.0 / (self.units + self.kernel.shape[1]))  # Glorot uniform, as Dense starts
        self.kernel = np.random.default_rng(seed).uniform(-limit, limit, self.kernel.shape)
        self.bias = np.zeros_like(self.bias)
        params, moments = [self.kernel, self.bias], [[np.zeros_like(self.kernel), np.zeros_like(self.bias)]
                                                     for _ in range(2)]
        best, best_params, waited = np.inf, [p.copy() for p in params], 0
        for epoch in range(1, _EPOCHS + 1):
            error = y[:, :, None] - self._outputs(x)
            # d loss / d output: -τ where the target is above the output, 1 - τ where below.
            slope = (np.where(error > 0, -tau, 1.0 - tau) / error.size).reshape(len(x), -1)
            for k, grad in enumerate((x.T @ slope, slope.sum(axis=0))):  # Adam, Keras's defaults
                moments[0][k] = 0.9 * moments[0][k] + 0.1 * grad
                moments[1][k] = 0.999 * moments[1][k] + 0.001 * grad**2
                step = _LEARNING_RATE * np.sqrt(1 - 0.999**epoch) / (1 - 0.9**epoch)
                params[k] -= step * moments[0][k] / (np.sqrt(moments[1][k]) + 1e-7)
            score = pinball_loss(self._outputs(validation[0]), validation[1], tau) if validation is not None \
                else pinball_loss(self._outputs(x), y, tau)
            if score < best - 1e-9:
                best, waited, self.best_epoch, best_params = score, 0, epoch, [p.copy() for p in params]
            else:
                waited += 1
                if waited > _PATIENCE:
                    break
        self.kernel, self.bias = (p.astype(np.float32).astype(np.float64) for p in best_params)  # as saved
        return self

    def _outputs(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) @ self.kernel + self.bias).reshape(len(x), self.horizon, -1)

    def predict(self, states: np.ndarray) -> np.ndarray:
        """Quantiles (N, horizon, Q) relative to the window's last value, sorted along Q, the outer two
        moved apart by `widen`."""
        outputs = np.sort(self._outputs(states), axis=-1)
        outputs[..., 0] -= self.widen
        outputs[..., -1] += self.widen
        return np.sort(outputs, axis=-1)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"kernel": torch.from_numpy(self.kernel.astype(np.float32)),
                "bias": torch.from_numpy(self.bias.astype(np.float32))}

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"kernel": self.kernel.shape, "bias": self.bias.shape}

    def load(self, tensors: dict[str, Any]) -> "QuantileHead":
        self.kernel, self.bias = (np.asarray(tensors[name], dtype=np.float32).astype(np.float64)
                                  for name in ("kernel", "bias"))
        return self
