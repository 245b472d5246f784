"""The fused optimizers: torch.optim.Adam's and SGD's state and update, as numba kernels.

The fused engines (lstmkit.ops.fused, lstmkit.ops.batched) run whole fits in one compiled call,
so the optimizer step runs there too: `optimizer_step` reproduces torch.optim's single-tensor
arithmetic operation by operation (the scalars in float64, then rounded to the weights' dtype, as
torch does), after Keras's clipping when `clipnorm` or `clipvalue` is set. It works on tuples of
1-D views (`flat_views`), so one loop updates every weight of any cell's model.

`AdamState` and `SGDState` hold the settings and the state (torch's `exp_avg`, `exp_avg_sq`,
`momentum_buffer`, `step`) in the weights' order and Keras's layout; `settings` turns one into
what the kernels take.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import InitVar, dataclass, field

import numpy as np

from lstmkit.ops.jit import kernel

ADAM, SGD = 0, 1
_INLINED = {"inline": "always"}  # called from one place in each engine: compiled there


@dataclass
class AdamState:
    """torch.optim.Adam (weight_decay=0, amsgrad=False): its settings and its state.

    `exp_avg` and `exp_avg_sq` hold one array per weight, in the weights' order and (Keras)
    layout, and `step` counts the steps taken: torch's state entries of the same names.
    torch's `state[lstm.weight_ih_l0]["exp_avg"]` is `exp_avg[0].T`, and its `step` is a
    float tensor. Defaults are Keras's.

    Example:
        optimizer = AdamState(weights, learning_rate=0.01)   # zero moments, step 0
    """

    weights: InitVar[Sequence[np.ndarray]]
    learning_rate: float = 0.001
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    step: int = 0
    clipnorm: float = 0.0  # Keras's clipping before each step (0: none); see optimizer_step
    clipvalue: float = 0.0
    exp_avg: list[np.ndarray] = field(init=False)
    exp_avg_sq: list[np.ndarray] = field(init=False)

    def __post_init__(self, weights: Sequence[np.ndarray]) -> None:
        self.exp_avg = [np.zeros_like(w) for w in weights]
        self.exp_avg_sq = [np.zeros_like(w) for w in weights]


@dataclass
class SGDState:
    """torch.optim.SGD (dampening=0, weight_decay=0): its settings and its state.

    `momentum_buffer` holds torch's state entry of that name for each weight, in the
    weights' order and layout; where torch has none (before the first step, or with
    momentum 0), it is zero here.
    """

    weights: InitVar[Sequence[np.ndarray]]
    learning_rate: float = 0.01
    momentum: float = 0.0
    nesterov: bool = False
    step: int = 0
    clipnorm: float = 0.0  # Keras's clipping before each step (0: none); see optimizer_step
    clipvalue: float = 0.0
    momentum_buffer: list[np.ndarray] = field(init=False)

    def __post_init__(self, weights: Sequence[np.ndarray]) -> None:
        self.momentum_buffer = [np.zeros_like(w) for w in weights]


def settings(optimizer: AdamState | SGDState) -> tuple[tuple, tuple]:
    """(kind, settings (6,) float64: four of the optimizer's own, then clipnorm and clipvalue,
    steps taken) for optimizer_step, and the state's one or two slots (SGD's buffer twice).

    Raises:
        TypeError: an optimizer that is neither AdamState nor SGDState.
    """
    if isinstance(optimizer, AdamState):
        kind, first_slot, second_slot = ADAM, optimizer.exp_avg, optimizer.exp_avg_sq
        own = (optimizer.learning_rate, optimizer.beta_1, optimizer.beta_2, optimizer.epsilon)
    elif isinstance(optimizer, SGDState):
        kind, first_slot = SGD, optimizer.momentum_buffer
        second_slot = first_slot  # SGD keeps one buffer
        own = (optimizer.learning_rate, optimizer.momentum, float(optimizer.nesterov), 0.0)
    else:
        raise TypeError(f"optimizer must be an AdamState or SGDState; got {type(optimizer).__name__}.")
    values = np.array((*own, optimizer.clipnorm, optimizer.clipvalue), dtype=np.float64)
    return (kind, values, optimizer.step), (first_slot, second_slot)


def flat_views(arrays: Sequence[np.ndarray]) -> tuple:
    """1-D views of the arrays (C-contiguous), so that one loop updates them all."""
    return tuple(a.reshape(-1) for a in arrays)


@kernel(**_INLINED)
def optimizer_step(kind, settings, step, weights, grads, first_slot, second_slot):
    """One torch.optim step (number `step`, from 1) on tuples of 1-D arrays, after Keras's
    clipping of each gradient when settings[4] (clipnorm) or settings[5] (clipvalue) is set."""
    as_dtype = weights[0].dtype.type
    clipnorm, clipvalue = settings[4], settings[5]
    if clipnorm > 0 or clipvalue > 0:
        for p in range(len(grads)):
            _clip(grads[p], clipnorm, clipvalue)
    if kind == ADAM:
        learning_rate, beta_1, beta_2, epsilon = settings[0], settings[1], settings[2], settings[3]
        # torch computes these scalars in float64, then rounds them to the weights' dtype.
        step_size = learning_rate / (1 - beta_1**step)
        bias_correction_2_sqrt = (1 - beta_2**step) ** 0.5
        coefficients = (
            as_dtype(1 - beta_1), as_dtype(beta_2), as_dtype(1 - beta_2),
            as_dtype(bias_correction_2_sqrt), as_dtype(epsilon), as_dtype(-step_size),
        )  # fmt: skip
        for p in range(len(weights)):
            _adam_update(weights[p], grads[p], first_slot[p], second_slot[p], coefficients)
    else:
        learning_rate, momentum, nesterov = settings[0], settings[1], settings[2]
        coefficients = (as_dtype(momentum), as_dtype(-learning_rate))
        for p in range(len(weights)):
            _sgd_update(weights[p], grads[p], first_slot[p], nesterov != 0, coefficients)


@kernel(**_INLINED)
def _clip(grad, clipnorm, clipvalue):
    """Keras's clipping of one gradient (1-D): g · clipnorm / max(‖g‖, clipnorm), or each element
    to [-clipvalue, clipvalue]."""
    if clipnorm > 0:
        total = 0.0
        for n in range(grad.size):
            total += float(grad[n]) * float(grad[n])
        scale = grad.dtype.type(clipnorm / max(math.sqrt(total), clipnorm))
        for n in range(grad.size):
            grad[n] = grad[n] * scale
    else:
        low, high = grad.dtype.type(-clipvalue), grad.dtype.type(clipvalue)
        for n in range(grad.size):
            grad[n] = min(max(grad[n], low), high)


@kernel(**_INLINED)
def _adam_update(param, grad, exp_avg, exp_avg_sq, coefficients):
    """torch.optim.Adam's single-tensor update, operation by operation, on 1-D arrays."""
    weight_1, beta_2, weight_2, correction_2_sqrt, epsilon, neg_step_size = coefficients
    for n in range(param.size):
        g = grad[n]
        # exp_avg.lerp_(grad, 1 - beta_1); for beta_1 < 0.5 torch's lerp rounds the other way
        first_moment = exp_avg[n] + weight_1 * (g - exp_avg[n])
        exp_avg[n] = first_moment
        # exp_avg_sq.mul_(beta_2).addcmul_(grad, grad, value=1 - beta_2)
        second_moment = exp_avg_sq[n] * beta_2 + weight_2 * g * g
        exp_avg_sq[n] = second_moment
        # param.addcdiv_(exp_avg, exp_avg_sq.sqrt() / bias_correction2_sqrt + eps, value=-step_size)
        denom = math.sqrt(second_moment) / correction_2_sqrt + epsilon
        param[n] = param[n] + neg_step_size * first_moment / denom


@kernel(**_INLINED)
def _sgd_update(param, grad, buffer, nesterov, coefficients):
    """torch.optim.SGD's single-tensor update (dampening 0) on 1-D arrays.

    torch starts the buffer as a copy of the first gradient; from a zero buffer,
    0 * momentum + grad is that copy.
    """
    momentum, neg_learning_rate = coefficients
    for n in range(param.size):
        g = grad[n]
        buffer[n] = buffer[n] * momentum + g  # buf.mul_(momentum).add_(grad)
        # nesterov: grad.add(buf, alpha=momentum)
        update = g + momentum * buffer[n] if nesterov else buffer[n]
        param[n] = param[n] + neg_learning_rate * update  # param.add_(update, alpha=-lr)
