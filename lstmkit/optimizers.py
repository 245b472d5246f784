"""Optimizers with Keras's names and defaults, built on torch.optim.

`compile(optimizer=...)` takes a name ("adam"), one of these classes (`Adam(learning_rate=0.01)`),
a `torch.optim.Optimizer` already built on the model's parameters, or a factory
`params -> torch.optim.Optimizer` (e.g. `functools.partial(torch.optim.Adam, lr=0.01)`).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Callable, Iterable

import torch

from lstmkit.ops.activations import unknown_name_message


class Optimizer:
    """Keras-style configuration; `build(params)` makes the torch optimizer."""

    def __init__(self, learning_rate: float) -> None:
        if isinstance(learning_rate, bool) or not isinstance(learning_rate, (int, float)) or learning_rate <= 0:
            raise ValueError(f"`learning_rate` must be a positive number; got {learning_rate!r}.")
        self.learning_rate = float(learning_rate)

    @abstractmethod
    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        """The torch optimizer over `params` with this configuration."""

    def get_config(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Optimizer":
        return cls(**config)


class Adam(Optimizer):
    """Adam (Keras's defaults: learning_rate 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7)."""

    def __init__(
        self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7
    ) -> None:
        super().__init__(learning_rate)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.Adam(
            params, lr=self.learning_rate, betas=(self.beta_1, self.beta_2), eps=self.epsilon
        )


class AdamW(Adam):
    """Adam with decoupled weight decay (Keras's default weight_decay 0.004)."""

    def __init__(
        self,
        learning_rate: float = 0.001,
        weight_decay: float = 0.004,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
    ) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon)
        self.weight_decay = weight_decay

    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.AdamW(
            params,
            lr=self.learning_rate,
            betas=(self.beta_1, self.beta_2),
            eps=self.epsilon,
            weight_decay=self.weight_decay,
        )


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum; Keras's learning_rate 0.01."""

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False) -> None:
        super().__init__(learning_rate)
        self.momentum, self.nesterov = momentum, nesterov

    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.SGD(
            params, lr=self.learning_rate, momentum=self.momentum, nesterov=self.nesterov
        )


class RMSprop(Optimizer):
    """RMSprop (Keras's defaults: learning_rate 0.001, rho 0.9, epsilon 1e-7)."""

    def __init__(
        self, learning_rate: float = 0.001, rho: float = 0.9, momentum: float = 0.0, epsilon: float = 1e-7
    ) -> None:
        super().__init__(learning_rate)
        self.rho, self.momentum, self.epsilon = rho, momentum, epsilon

    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.RMSprop(
            params, lr=self.learning_rate, alpha=self.rho, eps=self.epsilon, momentum=self.momentum
        )


OPTIMIZERS: dict[str, type[Optimizer]] = {"adam": Adam, "adamw": AdamW, "sgd": SGD, "rmsprop": RMSprop}

OptimizerSpec = str | Optimizer | torch.optim.Optimizer | Callable[..., torch.optim.Optimizer]


def get(optimizer: OptimizerSpec) -> Optimizer | torch.optim.Optimizer | Callable[..., torch.optim.Optimizer]:
    """Resolve a name to a configured `Optimizer`; pass other accepted forms through, checked."""
    if isinstance(optimizer, str):
        key = optimizer.lower()
        if key not in OPTIMIZERS:
            raise ValueError(unknown_name_message("optimizer", optimizer, OPTIMIZERS))
        return OPTIMIZERS[key]()
    if isinstance(optimizer, type) and issubclass(optimizer, Optimizer):
        return optimizer()  # `optimizer=Adam` as well as `optimizer=Adam()`
    if isinstance(optimizer, (Optimizer, torch.optim.Optimizer)) or callable(optimizer):
        return optimizer
    raise TypeError(
        f"`optimizer` must be a name such as 'adam', an lstmkit.optimizers.Adam(...), a "
        f"torch.optim.Optimizer or a factory taking the parameters; got {type(optimizer).__name__}."
    )


def build(spec: Optimizer | torch.optim.Optimizer | Callable[..., torch.optim.Optimizer], params: list) -> torch.optim.Optimizer:
    """The torch optimizer for `params` from a resolved spec."""
    if isinstance(spec, Optimizer):
        return spec.build(params)
    if isinstance(spec, torch.optim.Optimizer):
        return spec
    built = spec(params)
    if not isinstance(built, torch.optim.Optimizer):
        raise TypeError(f"the optimizer factory returned {type(built).__name__}, not a torch.optim.Optimizer.")
    return built
