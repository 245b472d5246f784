"""The optimizer state of a model: one owner and one format, for every engine and for checkpoints.

The format is torch.optim's own per-weight state entry, kept for each weight in
model.parameters() order (Keras's get_weights() order and layout):

    Adam   {"step": float tensor (), "exp_avg": tensor like the weight, "exp_avg_sq": ...}
    SGD    {"momentum_buffer": tensor like the weight}   (none before the first step, or momentum 0)
    other  whatever that torch optimizer keeps (RMSprop, AdamW, ...: the torch engine only)

`OptimizerState` holds these entries and the learning rate. Until a torch optimizer is needed, the
entries live here: the fused engines never build one, since building a torch.optim optimizer
imports torch._dynamo (~1.5 s), which a tutorial script need never pay. Once built (`torch_optimizer()`),
the same entry objects become its `state[param]`, moved, not translated. The fused kernels update
numpy views of the entries' tensors (`kernel_state`), and checkpoints write and read the entries as
tensors named "{index}.{slot}" (`to_tensors`, `load_tensors`). So a fit on one engine continues on
the other, and a resumed fit on either, with the same numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lstmkit import optimizers

_SLOTS = {"adam": ("exp_avg", "exp_avg_sq"), "sgd": ("momentum_buffer",)}


class OptimizerState:
    """The compiled optimizer of one model and its state (see the module docstring).

    Args:
        spec: what `lstmkit.optimizers.get` resolved compile's `optimizer` to.
        model: the module whose parameters are optimized (built later than compile, possibly).
    """

    def __init__(self, spec: Any, model: torch.nn.Module) -> None:
        self.spec = spec
        self.model = model
        self.built: torch.optim.Optimizer | None = None
        self.entries: list[dict[str, Any]] | None = None  # before `built`: the per-weight state
        self.learning_rate_set: float | None = None  # a rate set before `built` (ReduceLROnPlateau)

    # -- the torch optimizer ---------------------------------------------------------------
    def torch_optimizer(self) -> torch.optim.Optimizer:
        """The torch optimizer, built on first use; the state kept so far becomes its state."""
        if self.built is None:
            params = list(self.model.parameters())
            self.built = optimizers.build(self.spec, params)
            for param, entry in zip(params, self.entries or []):
                if entry:
                    self.built.state[param] = entry
            self.entries = None
            if self.learning_rate_set is not None:
                self._set_group_rates(self.learning_rate_set)
        return self.built

    def reset(self) -> None:
        """Forget the state and any rate set since compile: the next step starts afresh."""
        self.built, self.entries, self.learning_rate_set = None, None, None

    def weight_entries(self) -> list[dict[str, Any]]:
        """Each weight's state entry (model.parameters() order): the torch optimizer's own once built."""
        params = list(self.model.parameters())
        if self.built is not None:
            return [self.built.state[param] for param in params]
        if self.entries is None or len(self.entries) != len(params):
            self.entries = [{} for _ in params]
        return self.entries

    # -- the learning rate -------------------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        """The learning rate the next training step uses, on any engine."""
        if self.built is not None:
            return float(self.built.param_groups[0]["lr"])
        if self.learning_rate_set is not None:
            return self.learning_rate_set
        if isinstance(self.spec, torch.optim.Optimizer):
            return float(self.spec.param_groups[0]["lr"])
        return float(self.spec.learning_rate)

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        if self.built is None and not isinstance(self.spec, (optimizers.Optimizer, torch.optim.Optimizer)):
            self.torch_optimizer()  # a factory's rate lives only in what it builds
        if self.built is not None:
            self._set_group_rates(value)
        else:
            self.learning_rate_set = float(value)

    def _set_group_rates(self, value: float) -> None:
        for group in self.built.param_groups:
            group["lr"] = value

    # -- the fused kernels -----------------------------------------------------------------
    def fused_kind(self) -> str | None:
        """"adam" or "sgd" when the fused kernels reproduce this optimizer exactly, else None.

        Before a torch optimizer is built, lstmkit's Adam and SGD settings are read directly (a
        torch optimizer passed to compile counts once the torch engine has used it).
        """
        if self.built is None:
            return {optimizers.Adam: "adam", optimizers.SGD: "sgd"}.get(type(self.spec))
        optimizer = self.built
        if type(optimizer) not in (torch.optim.Adam, torch.optim.SGD) or len(optimizer.param_groups) != 1:
            return None
        group = optimizer.param_groups[0]
        if group["weight_decay"] or group.get("maximize") or group.get("amsgrad"):
            return None
        if type(optimizer) is torch.optim.SGD and group["dampening"]:
            return None
        if len(group["params"]) != len(list(self.model.parameters())):
            return None
        return "adam" if type(optimizer) is torch.optim.Adam else "sgd"

    def _settings(self) -> dict[str, Any]:
        """The optimizer's settings by lstmkit's names, from the torch optimizer once there is one."""
        if self.built is None:
            return self.spec.get_config()
        group = self.built.param_groups[0]
        if type(self.built) is torch.optim.Adam:
            return {"beta_1": group["betas"][0], "beta_2": group["betas"][1], "epsilon": group["eps"]}
        return {"momentum": group["momentum"], "nesterov": group["nesterov"]}

    def kernel_state(self, weights: list[np.ndarray]) -> Any:
        """The fused kernels' optimizer (lstmkit.ops.fused.AdamState or SGDState) over numpy views of
        this state's tensors, created as zeros where there are none yet; `weights` are the parameters'
        numpy views. Call `record_kernel_step` after each kernel call."""
        from lstmkit.ops import fused

        kind = self.fused_kind()
        settings = self._settings()
        clipping = {name: getattr(self.spec, name, None) or 0.0 for name in ("clipnorm", "clipvalue")}  # 0: none
        params = list(self.model.parameters())
        entries = self.weight_entries()
        if kind == "adam":
            state = fused.AdamState(weights, self.learning_rate, settings["beta_1"], settings["beta_2"],
                                    settings["epsilon"], **clipping)
        else:
            state = fused.SGDState(weights, self.learning_rate, settings["momentum"], settings["nesterov"],
                                   **clipping)
        if kind == "sgd" and not state.momentum:
            return state  # torch's SGD keeps no buffer without momentum: the kernel's stays zero
        for index, (param, entry) in enumerate(zip(params, entries)):
            if kind == "adam":
                state.step = int(entry.get("step", 0))
            elif entry.get("momentum_buffer") is not None:
                state.step = 1  # torch's SGD starts its buffer with the first gradient, then accumulates
            for slot in _SLOTS[kind]:
                if entry.get(slot) is None:
                    entry[slot] = torch.zeros_like(param)
                getattr(state, slot)[index] = entry[slot].numpy()
        self.record_kernel_step(state)
        return state

    def record_kernel_step(self, state: Any) -> None:
        """Write the kernels' step count back into the entries (Adam's "step")."""
        if hasattr(state, "exp_avg"):
            for entry in self.weight_entries():
                entry["step"] = torch.tensor(float(state.step))

    @staticmethod
    def kernel_arrays(state: Any) -> list[np.ndarray]:
        """The arrays a kernel optimizer updates (Adam's moments or SGD's buffers)."""
        return [a for slot in ("exp_avg", "exp_avg_sq", "momentum_buffer") for a in getattr(state, slot, [])]

    # -- checkpoints -----------------------------------------------------------------------
    def to_tensors(self) -> dict[str, torch.Tensor]:
        """Every entry's tensors as {"{index}.{slot}": copy}, the checkpoint's names."""
        if self.built is None and self.entries is None:
            return {}
        tensors = {}
        for index, entry in enumerate(self.weight_entries()):
            for slot, value in entry.items():
                if value is not None:
                    tensors[f"{index}.{slot}"] = torch.as_tensor(value).detach().clone()
        return tensors

    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Put back what `to_tensors` gave (read from a checkpoint), onto the weights' devices."""
        params = list(self.model.parameters())
        entries = self.weight_entries()
        for key, value in tensors.items():
            index, slot = key.split(".", 1)
            param = params[int(index)]
            entries[int(index)][slot] = value.to(param.device) if value.ndim else value.clone()
