"""The fused engines: whole epochs (forward, loss, backpropagation through time, optimizer update)
in one compiled numba call, for the models lstmkit.training.engine_choice sends them.

Tutorial-sized models spend their time in framework overhead, not arithmetic: a batch-1 step
through autograd and torch.optim costs ~800 µs for ~5 µs of work. A fused engine runs a cell's
per-sample kernel (e.g. lstmkit.ops.fused) or its batched one (lstmkit.ops.batched, BLAS GEMMs over
the batch), chosen by engine_choice's table.

The engines are interchangeable with the torch engine: the same seed gives the same sample order
(lstmkit.training.sampling), the weights are updated in place in the model's own parameters, and
the optimizer state is the model's OptimizerState (lstmkit.training.optimizer_state), whose
tensors the kernels update through numpy views, so a later fit on either engine continues where
this one stopped. Clipping runs inside the kernels' optimizer step, and the learning rate is read
before each call (ReduceLROnPlateau may have changed it).
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import numpy as np
import torch

from lstmkit.ops.threads import thread_limit, threads_for
from lstmkit.training.batches import FitData
from lstmkit.training.history import ProgressBar
from lstmkit.training.sampling import epoch_orders
from lstmkit.training.torch_engine import evaluate_batches

FUSED_LOSSES = {"mse": "mse", "mean_squared_error": "mse", "mae": "mae", "mean_absolute_error": "mae"}


def weight_views(model: torch.nn.Module) -> list[np.ndarray]:
    """The parameters as numpy arrays sharing their memory, in Keras's get_weights() order."""
    return [p.detach().numpy() for p in model.parameters()]


class FusedEngine:
    """Runs epochs through one compiled fit kernel (see the module docstring).

    Args:
        model: a Sequential the kernel computes (engine_choice checked it).
        data: the fit's data, as tensors (x, y) without masks or sample weights.
        fit_kernel: (x, y, weights, kernel optimizer state, orders (E, N), batch_size, loss) ->
            the batch losses (E, steps), updating weights and state in place.
        name: "per-sample" or "batched", for reports and tests.
    """

    def __init__(self, model: Any, data: FitData, fit_kernel: Callable[..., np.ndarray], name: str) -> None:
        self.model, self.data, self.fit_kernel, self.name = model, data, fit_kernel, name
        self.weights = weight_views(model)
        self.optimizer_state = model.optimizer_state
        self.kernel_state = self.optimizer_state.kernel_state(self.weights)
        self.x, self.y = data.x.numpy(), data.y.numpy()
        self.loss = FUSED_LOSSES[model.loss]
        samples = len(self.x)
        self.batch_sizes = np.diff(np.r_[0:samples:data.batch_size, samples])

    def epochs_per_call(self, remaining: int, per_epoch_work: bool) -> int:
        """One epoch a call when each needs work between (printing, validation, callbacks), else all."""
        return 1 if per_epoch_work else max(remaining, 1)

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        self.model.train()
        yield

    def run(self, epoch: int, count: int, shuffle_seed: int, progress: ProgressBar | None
            ) -> tuple[list[tuple[dict[str, float], np.ndarray]], bool]:
        """Train epochs epoch .. epoch + count - 1 in one kernel call; returns [(logs, batch losses)]
        per epoch up to the first that is not finite, and whether the weights were wound back to the
        start of that epoch (a divergence inside a call of several epochs: the finite ones are run
        again from the call's start, so the model holds the weights the divergence guard keeps)."""
        state = self.kernel_state
        state.learning_rate = self.optimizer_state.learning_rate
        kept = None
        if count > 1:
            kept = ({name: value.detach().clone() for name, value in self.model.state_dict().items()},
                    [array.copy() for array in self.optimizer_state.kernel_arrays(state)])
        orders = epoch_orders(len(self.x), epoch, count, shuffle_seed, self.data.shuffle)
        losses = self._fit(orders)
        finite = np.isfinite(losses).all(axis=1)
        rewound = kept is not None and not finite.all()
        if rewound:  # back to the start, then only the finite epochs
            self.model.load_state_dict(kept[0])
            for array, saved in zip(self.optimizer_state.kernel_arrays(state), kept[1]):
                np.copyto(array, saved)
            state.step -= losses.size
            self.optimizer_state.record_kernel_step(state)
            if finite.argmin():
                self._fit(orders[: finite.argmin()])
            losses = losses[: finite.argmin() + 1]
        means = np.average(losses, axis=1, weights=self.batch_sizes).tolist()  # each row's, as Keras logs it
        return [({"loss": mean}, row) for mean, row in zip(means, losses)], rewound

    def _fit(self, orders: np.ndarray) -> np.ndarray:
        losses = self.fit_kernel(self.x, self.y, self.weights, self.kernel_state, orders, self.data.batch_size,
                                 self.loss)
        self.optimizer_state.record_kernel_step(self.kernel_state)
        return losses

    def validate(self, validation: Any) -> dict[str, float]:
        """The validation logs, through the model's torch forward on the threads its work merits (a
        small model on one: lstmkit.ops.threads), not on torch's default of every core, where each
        batch waits for a core another process holds (benchmarks/busy_core.py)."""
        with thread_limit(threads_for(self.model.forward_flops(self.data.batch_size))):
            return evaluate_batches(self.model, self.model.loss_fn, *validation, self.data.batch_size, [])

