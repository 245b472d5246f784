"""Optimizers with Keras's names and defaults, built on torch.optim.

`compile(optimizer=...)` takes a name ("adam"), one of these classes (`Adam(learning_rate=0.01)`),
a `torch.optim.Optimizer` already built on the model's parameters, or a factory
`params -> torch.optim.Optimizer` (e.g. `functools.partial(torch.optim.Adam, lr=0.01)`).

Every class takes Keras's gradient clipping: `clipnorm` (each weight's gradient scaled down to
that norm when longer: g · clipnorm / max(‖g‖, clipnorm)) or `clipvalue` (each element clipped
to [-clipvalue, clipvalue]), applied before every step on every engine.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Callable, Iterable

import torch

from lstmkit.checks import number, positive_number, unknown_name
from lstmkit.schema import Fields, schema_from_signature



class Optimizer:
    """Keras-style configuration; `build(params)` makes the torch optimizer.

    Args:
        learning_rate: the step size (a finite positive number).
        clipnorm: clip each weight's gradient to this norm (None: no clipping).
        clipvalue: clip each gradient element to [-clipvalue, clipvalue] (None: no clipping).
    """

    def __init__(self, learning_rate: float, clipnorm: float | None = None, clipvalue: float | None = None) -> None:
        self.learning_rate = positive_number(learning_rate, "learning_rate")
        if clipnorm is not None and clipvalue is not None:
            raise ValueError("pass clipnorm or clipvalue, not both (as Keras).")
        self.clipnorm = positive_number(clipnorm, "clipnorm", optional=True)
        self.clipvalue = positive_number(clipvalue, "clipvalue", optional=True)

    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        """The torch optimizer over `params` with this configuration (clipping before each step)."""
        optimizer = self._make(params)
        if self.clipnorm is not None or self.clipvalue is not None:
            optimizer.register_step_pre_hook(lambda built, args, kwargs: clip_gradients(built, self))
        return optimizer

    @abstractmethod
    def _make(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        """The torch optimizer itself."""

    def get_config(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Optimizer":
        return cls(**config)

    @classmethod
    def config_schema(cls) -> Fields:
        """What a file's optimizer config must hold: the constructor's arguments, typed."""
        return schema_from_signature(cls)


def clip_gradients(optimizer: torch.optim.Optimizer, spec: Optimizer) -> None:
    """Keras's clipping of every gradient in `optimizer`, per weight, in place."""
    with torch.no_grad():
        for group in optimizer.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if spec.clipnorm is not None:
                    norm = torch.linalg.vector_norm(param.grad)
                    param.grad.mul_(spec.clipnorm / torch.clamp(norm, min=spec.clipnorm))
                else:
                    param.grad.clamp_(-spec.clipvalue, spec.clipvalue)


class Adam(Optimizer):
    """Adam (Keras's defaults: learning_rate 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7)."""

    def __init__(
        self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
        clipnorm: float | None = None, clipvalue: float | None = None,
    ) -> None:
        super().__init__(learning_rate, clipnorm, clipvalue)
        self.beta_1, self.beta_2 = number(beta_1, "beta_1", maximum=1.0), number(beta_2, "beta_2", maximum=1.0)
        self.epsilon = number(epsilon, "epsilon")

    def _make(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
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
        clipnorm: float | None = None,
        clipvalue: float | None = None,
    ) -> None:
        super().__init__(learning_rate, beta_1, beta_2, epsilon, clipnorm, clipvalue)
        self.weight_decay = number(weight_decay, "weight_decay")

    def _make(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.AdamW(
            params,
            lr=self.learning_rate,
            betas=(self.beta_1, self.beta_2),
            eps=self.epsilon,
            weight_decay=self.weight_decay,
        )


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum; Keras's learning_rate 0.01."""

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 clipnorm: float | None = None, clipvalue: float | None = None) -> None:
        super().__init__(learning_rate, clipnorm, clipvalue)
        if not isinstance(nesterov, bool):
            raise ValueError(f"`nesterov` must be True or False; got {nesterov!r}.")
        self.momentum, self.nesterov = number(momentum, "momentum", maximum=1.0), nesterov

    def _make(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.SGD(
            params, lr=self.learning_rate, momentum=self.momentum, nesterov=self.nesterov
        )


class RMSprop(Optimizer):
    """RMSprop (Keras's defaults: learning_rate 0.001, rho 0.9, epsilon 1e-7)."""

    def __init__(
        self, learning_rate: float = 0.001, rho: float = 0.9, momentum: float = 0.0, epsilon: float = 1e-7,
        clipnorm: float | None = None, clipvalue: float | None = None,
    ) -> None:
        super().__init__(learning_rate, clipnorm, clipvalue)
        self.rho, self.momentum = number(rho, "rho", maximum=1.0), number(momentum, "momentum", maximum=1.0)
        self.epsilon = number(epsilon, "epsilon")

    def _make(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
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
            raise ValueError(unknown_name("optimizer", optimizer, OPTIMIZERS))
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
