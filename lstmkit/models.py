"""Sequential: a stack of lstmkit layers with Keras's compile / fit / predict / evaluate / summary.

The model owns layer order and shape inference; its input checks live in lstmkit.model_inputs,
training in lstmkit.training (the engine choice, the epoch loop, the optimizer state, checkpoints,
data-parallel training) and the file format in lstmkit.saving.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from lstmkit import inference, losses, metrics as metrics_module, optimizers
from lstmkit.layers import LAYERS, LSTM, Bidirectional, Layer, Recurrent, Shape, apply_layer, check_layer_entry
from lstmkit.model_inputs import InputPreparation, shape_fits, shape_text
from lstmkit.ops.threads import lstm_flops, thread_limit, threads_for
from lstmkit.checks import fraction, positive_int
from lstmkit.saving import ModelFileError, open_model_file, read_model_file, write_model_file
from lstmkit.schema import ConfigError, Custom, Fields, Int, ListOf, Nullable, Str, check_round_trip
from lstmkit.trace import LayerTrace, trace_layers
from lstmkit.training import (BatchSource, FitData, FitPlan, History, ProgressBar, begin_callbacks,
                              evaluate_batches, run_plan, take_rows)
from lstmkit.training import checkpoint, engine_choice
from lstmkit.training.callbacks import Callback
from lstmkit.training.distributed import broadcast_int, check_mode, join, local_device, world_size_from_env
from lstmkit.training.optimizer_state import OptimizerState

DEFAULT_BATCH_SIZE = 32
MAX_LAYERS = 1000  # layers a configuration read from a file may list


# Keras methods lstmkit has no copy of, and what to use instead.
KERAS_ONLY = {
    "fit_generator": "use fit(), which takes arrays or a batch source such as lstmkit.data.WindowedSeries",
    "evaluate_generator": "use evaluate(), which takes arrays or a batch source",
    "predict_generator": "use predict(), which takes arrays or a batch source",
    "predict_classes": "use predict(x).argmax(axis=-1) (softmax) or (predict(x) > 0.5) (sigmoid)",
    "predict_proba": "use predict(x): a softmax or sigmoid model outputs probabilities",
    "train_on_batch": "use fit(x, y, epochs=1, batch_size=len(x))",
    "test_on_batch": "use evaluate(x, y, batch_size=len(x))",
    "predict_on_batch": "use predict(x, batch_size=len(x))",
    "to_json": "use get_config() (JSON-ready) and Sequential.from_config(), or save() and load_model()",
    "to_yaml": "use get_config() (JSON-ready) and Sequential.from_config(), or save() and load_model()",
    "reset_metrics": "metrics are reset at the start of every fit/evaluate",
}
KERAS_EXTENSIONS = (".keras", ".h5", ".hdf5")


def _refuse_keras_extension(path: str | os.PathLike, what: str) -> None:
    if str(path).lower().endswith(KERAS_EXTENSIONS):
        suffix = os.path.splitext(str(path))[1]
        raise ValueError(
            f"{what}({str(path)!r}): {suffix!r} is a Keras format, but lstmkit writes its own (safetensors with a "
            f"JSON header) that Keras cannot open; a Keras name on it would mislead. Use an .lstmkit name, e.g. "
            f"{os.path.splitext(str(path))[0] + ('.weights' if what == 'save_weights' else '') + '.lstmkit'!r}."
        )


def resolve_device(device: str | torch.device) -> torch.device:
    """'auto' -> cuda when a GPU is visible, else cpu; 'cuda' without a GPU is an error."""
    if str(device) == "auto":
        return local_device(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"`device` must be 'auto', 'cpu' or 'cuda'; got {device!r}.") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was asked for but no CUDA GPU is visible; use device='auto' or 'cpu'.")
    return local_device(resolved)


class Sequential(InputPreparation, nn.Module):
    """A linear stack of layers, Keras-style.

    Example:
        >>> model = Sequential([LSTM(50, input_shape=(5, 1)), Dense(1)])
        >>> model.compile(loss="mean_squared_error", optimizer="adam")
        >>> history = model.fit(X, y, epochs=100, batch_size=1, verbose=2, seed=0)
        >>> y_hat = model.predict(X_test)
    """

    def __init__(self, layers: Sequence[Layer] | None = None, name: str | None = None) -> None:
        super().__init__()
        self.name = name or "sequential"
        self.layers = nn.ModuleList()
        self.built_input_shape: Shape | None = None
        self.loss: Any = None
        self.loss_fn: Callable | None = None
        self.metric_names: list[str] = []
        self.device = torch.device("cpu")
        self.optimizer_state: OptimizerState | None = None  # set by compile: the optimizer and its state
        self._compiled = False
        self._trained = False
        self._predictor: tuple[engine_choice.FusedPredictor | None] | None = None  # decided once, until changes
        self.fit_context: checkpoint.FitContext | None = None  # while fit runs, for ModelCheckpoint
        self.stop_training = False  # Keras's flag: a callback sets it to end fit after the epoch
        for layer in layers or []:
            self.add(layer)

    # -- building ------------------------------------------------------------------------
    def add(self, layer: Layer) -> None:
        """Append a layer; it is built at once when the shapes before it are known."""
        self._predictor = None
        if not isinstance(layer, Layer):
            raise TypeError(
                f"Sequential takes lstmkit layers (LSTM, Dense, Dropout, ...); got {type(layer).__name__}."
            )
        if self.layers and getattr(self.layers[-1], "return_state", False):
            raise ValueError(
                f"layer {self.layers[-1].name!r} has return_state=True, which returns a tuple "
                f"that a Sequential cannot pass on; call that layer directly instead."
            )
        if not self.layers and layer.input_shape is not None:
            self.built_input_shape = layer.input_shape
        elif self.layers and layer.input_shape is not None:
            raise ValueError(f"only the first layer takes `input_shape`; layer {len(self.layers)} has one.")
        taken = {existing.name for existing in self.layers}
        if layer.name is None or layer.name in taken:
            base = layer.name or layer.default_name()
            layer.name = base
            suffix = 0
            while layer.name in taken:
                suffix += 1
                layer.name = f"{base}_{suffix}"
        shape = self._output_shape(list(self.layers))
        if shape is not None and not layer.built:
            self._build_layer(layer, shape)
        self.layers.append(layer)

    def _build_layer(self, layer: Layer, shape: Shape) -> None:
        try:
            layer.build(shape)
        except ValueError as err:
            hint = ""
            if isinstance(layer, (Recurrent, Bidirectional)) and len(shape) == 1:
                hint = " The layer before it returns one vector per sequence: give it return_sequences=True."
            raise ValueError(f"cannot add layer {layer.name!r}: {err}{hint}") from None
        if not any(p.is_meta for p in layer.parameters()):  # shapes only (check_config): nothing to move
            layer.to(self.device)

    def _output_shape(self, layers: Sequence[Layer]) -> Shape | None:
        shape = self.built_input_shape
        if shape is None:
            return None
        for layer in layers:
            shape = layer.compute_output_shape(shape)
        return shape

    def _apply(self, fn: Callable, *args: Any, **kwargs: Any) -> "Sequential":
        self._predictor = None  # .to() / .double() may give the parameters new storage
        return super()._apply(fn, *args, **kwargs)

    def build(self, input_shape: Sequence[int | None]) -> None:
        """Build every layer for inputs of `input_shape` (without the batch axis)."""
        self.built_input_shape = tuple(input_shape)
        self._predictor = None
        shape = self.built_input_shape
        for layer in self.layers:
            if not layer.built:
                self._build_layer(layer, shape)
            shape = layer.compute_output_shape(shape)

    @property
    def output_shape(self) -> Shape | None:
        return self._output_shape(list(self.layers))

    @property
    def input_shape(self) -> tuple[int | None, ...] | None:
        """Keras's input shape: (None, timesteps, features), the batch axis first (None until built)."""
        return None if self.built_input_shape is None else (None, *self.built_input_shape)

    @property
    def weights(self) -> list[nn.Parameter]:
        """Every layer's weights (torch Parameters) in Keras's order, as `get_weights()` lists them."""
        return [weight for layer in self.layers for weight in layer.weights]

    @property
    def trainable_weights(self) -> list[nn.Parameter]:
        return [weight for weight in self.weights if weight.requires_grad]

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            hint = KERAS_ONLY.get(name)
            if hint is None:
                raise
            raise AttributeError(f"Sequential has no {name!r}: lstmkit does not implement Keras's {name}; "
                                 f"{hint}.") from None

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, T, F); mask: optional (B, T) bool, True at real steps (see `forward_with_mask`)."""
        return self.forward_with_mask(x, mask)[0]

    def forward_with_mask(
        self, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Run the layers, passing Keras's mask of real steps from layer to layer (a `Masking`
        layer starts one). Returns the output and its mask: (B, T) for per-step outputs of
        masked input, else None."""
        for layer in self.layers:
            x, mask = apply_layer(layer, x, mask)
        return x, mask

    def reset_states(self) -> None:
        """Zero the carried state of every stateful recurrent layer (Keras's `reset_states`)."""
        for layer in self.layers:
            if isinstance(layer, (Recurrent, Bidirectional)):
                layer.reset_states()

    def trace(self, x: Any, lengths: Any = None) -> list[LayerTrace]:
        """Every gate and state of every recurrent layer (LSTM, GRU, SimpleRNN) on `x`, from the
        reference equations.

        Args:
            x: inputs (samples, timesteps, features); any number of timesteps. A list of
                arrays with `lengths=`, as in `fit`.
            lengths: real steps per sample, as in `fit`.

        Returns:
            one lstmkit.trace.LayerTrace per recurrent layer in model order (a Bidirectional
            gives two: "<name>/forward", then "<name>/backward"), each holding numpy arrays
            (samples, timesteps, units) in input time order (NaN at padding): an LSTM's
            `input_gate`, `forget_gate`, `candidate`, `output_gate`, `cell_state`,
            `hidden_state`; a GRU's `update_gate`, `reset_gate`, `candidate`, `hidden_state`;
            a SimpleRNN's `hidden_state`; and the layer's input. Stateful layers start from
            their carried state, which tracing leaves unchanged.
        """
        x_t, mask = self._prepare_inputs(x, lengths, any_length=True)
        self.eval()
        with torch.no_grad():
            return trace_layers(list(self.layers), x_t, mask)

    def count_params(self) -> int:
        self._require_built("count_params()")
        return sum(p.numel() for p in self.parameters())

    def _require_built(self, what: str) -> None:
        if not self.layers:
            raise ValueError(f"{what} needs layers: add some with model.add(...).")
        if self.built_input_shape is None:
            raise ValueError(
                f"{what} needs the input shape: give the first layer input_shape=(timesteps, "
                f"features), or call fit/predict first."
            )

    def summary(self, print_fn: Callable[[str], Any] = print) -> None:
        """Print Keras's table of layers, output shapes and parameter counts."""
        print_fn(format_summary(self))

    # -- compile / fit -------------------------------------------------------------------
    def compile(
        self,
        loss: str | Callable = "mean_squared_error",
        optimizer: Any = "rmsprop",
        metrics: Sequence[str] | None = None,
        device: str = "auto",
    ) -> None:
        """Choose the loss, optimizer and metrics (Keras names, or PyTorch objects) and the device."""
        self.loss_fn = losses.get(loss)
        spec = optimizers.get(optimizer)
        if isinstance(metrics, str):
            metrics = [metrics]
        self.metric_names = list(metrics or [])
        for name in self.metric_names:
            metrics_module.get(name)
        self.loss = loss
        self.device = resolve_device(device)
        self.to(self.device)
        self.optimizer_state = OptimizerState(spec, self)
        self._compiled = True

    @property
    def optimizer(self) -> torch.optim.Optimizer | None:
        """The torch optimizer, built on first use (None before compile).

        The fused engines never build one, since building a torch.optim optimizer imports
        torch._dynamo (~1.5 s); the state they kept becomes its state (lstmkit.training.optimizer_state).
        """
        if not self._compiled or self.built_input_shape is None:
            return None
        return self.optimizer_state.torch_optimizer()

    def _is_fresh(self) -> bool:
        return not self._trained and not any(layer.weights_set for layer in self.layers)

    def fit(
        self,
        x: Any,
        y: Any = None,
        epochs: int = 1,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        callbacks: Sequence[Callback] | None = None,
        validation_split: float = 0.0,
        validation_data: tuple[Any, Any] | None = None,
        shuffle: bool = True,
        seed: int | None = None,
        class_weight: Mapping[int, float] | None = None,
        lengths: Any = None,
        steps_per_epoch: int | None = None,
        distributed: str = "auto",
        resume_from: str | os.PathLike | None = None,
        initial_epoch: int = 0,
    ) -> History:
        """Train the model; returns a History of the per-epoch logs.

        Args:
            x: inputs (samples, timesteps, features); (samples, timesteps) is one feature.
                Or a batch source (lstmkit.data.WindowedSeries) that cuts each batch's inputs
                and targets itself, so memory stays that of the series (y None then).
            y: targets, one per sample, shaped like the model's output.
            epochs: passes over the data.
            batch_size: samples per gradient step (32 when None).
            verbose: 0 silent, 1 a progress bar, 2 one line per epoch ("auto" = 1).
            callbacks: e.g. [EarlyStopping(patience=10)].
            validation_split: fraction of the samples, taken from the end, held out for validation.
            validation_data: (x_val, y_val) to score after each epoch (overrides the split),
                or a batch source.
            shuffle: reshuffle the training samples every epoch.
            seed: makes the run repeatable on CPU: the order of samples, dropout, and the
                initial weights of a model that has not been trained or given weights yet.
            class_weight: {class: weight}; each sample's loss is scaled by its class's weight
                (1 for classes not named), as in Keras. E.g. {0: 1.0, 1: 5.0}.
            lengths: real steps per sample, for variable-length data: x a list of arrays
                (T_i, F), or a padded array whose first lengths[i] steps are real. Padded steps
                are skipped by the LSTMs and by the loss; validation_data may then carry a
                third item, the validation lengths.
            steps_per_epoch: batches per epoch, when fewer than all (None: every sample once).
                Each epoch takes the first batches of its own shuffled order, so successive
                epochs see different samples: for sources too large to pass over often.
            distributed: "auto" trains data-parallel when the script was started by torchrun
                with more than one process (DistributedDataParallel; `batch_size` is then the
                global batch, split evenly across the processes; only rank 0 prints and writes
                files); "off" trains each process on its own. See docs/SCALING.md.
            resume_from: a file written by ModelCheckpoint: its weights, optimizer state,
                epochs done and random-number generator states are put back, and training
                continues with the next epoch up to `epochs`, ending as an uninterrupted run would.
            initial_epoch: the epoch to start counting at (Keras's): epochs initial_epoch + 1 ..
                `epochs` are trained, numbered as in the run being continued.

        A callback may set `model.stop_training = True` to end training after the epoch. A NaN or
        inf loss stops training on every engine with lstmkit.training.divergence.TrainingDivergedError (the
        weights of the last epoch with a finite loss kept), or quietly with callbacks=[TerminateOnNaN()].
        """
        if not self._compiled:
            raise ValueError("call model.compile(loss=..., optimizer=...) before fit().")
        epochs = positive_int(epochs, "epochs", minimum=0)
        batch_size = DEFAULT_BATCH_SIZE if batch_size is None else positive_int(batch_size, "batch_size")
        if verbose == "auto":
            verbose = 1
        if verbose not in (0, 1, 2):
            raise ValueError(f"`verbose` must be 0, 1, 2 or 'auto'; got {verbose!r}.")
        if seed is not None:
            seed = positive_int(seed, "seed", minimum=0)
        if steps_per_epoch is not None:
            steps_per_epoch = positive_int(steps_per_epoch, "steps_per_epoch")
        initial_epoch = positive_int(initial_epoch, "initial_epoch", minimum=0)
        if initial_epoch > epochs:
            raise ValueError(f"initial_epoch={initial_epoch} is past epochs={epochs}: `epochs` is the number to end "
                             f"at (Keras's meaning), so pass epochs > initial_epoch.")
        if initial_epoch and resume_from is not None:
            raise ValueError("pass initial_epoch or resume_from, not both: a checkpoint knows its epochs done.")
        world = world_size_from_env() if check_mode(distributed) == "auto" else 1
        if batch_size % world:
            raise ValueError(
                f"batch_size={batch_size} does not split evenly over the {world} processes torchrun started; "
                f"batch_size is the global batch: pass a multiple of {world}, e.g. {batch_size - batch_size % world or world}."
            )
        if resume_from is not None and not os.path.isfile(resume_from):
            raise FileNotFoundError(f"resume_from={str(resume_from)!r}: no such checkpoint file.")
        validation_split = fraction(validation_split, "validation_split")
        if isinstance(x, BatchSource):
            if lengths is not None or class_weight is not None or validation_split:
                raise ValueError(
                    f"fit on a {type(x).__name__} takes no `lengths`, `class_weight` or `validation_split`; "
                    f"pass validation_data=x.subset(positions) for a validation part."
                )
            (x_t, y_t), mask, weights = self._prepare_source(x, y, "x"), None, None
        else:
            x_t, mask = self._prepare_inputs(x, lengths)
            y_t = self._prepare_targets(y, len(x_t), mask)
            weights = None if class_weight is None else self._class_sample_weights(class_weight, y_t)
        validation, validation_mask = None, None
        if isinstance(validation_data, BatchSource):
            validation = self._prepare_source(validation_data, None, "validation_data")
        elif validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError(
                    "`validation_data` must be a pair (x_val, y_val), or (x_val, y_val, lengths_val) "
                    "for variable-length data."
                )
            val_lengths = validation_data[2] if len(validation_data) == 3 else None
            x_val, validation_mask = self._prepare_inputs(validation_data[0], val_lengths, "validation_data[0]")
            y_val = self._prepare_targets(validation_data[1], len(x_val), validation_mask, "validation_data[1]")
            validation = (x_val, y_val)
        elif validation_split > 0:
            split_at = math.floor(len(x_t) * (1.0 - validation_split))  # Keras's split point
            if split_at >= len(x_t) or split_at == 0:
                raise ValueError(
                    f"validation_split={validation_split} of {len(x_t)} samples leaves an empty "
                    f"training or validation part; use more samples or another fraction."
                )
            validation = (x_t[split_at:], y_t[split_at:])
            x_t, y_t = x_t[:split_at], y_t[:split_at]
            if mask is not None:
                validation_mask, mask = mask[split_at:], mask[:split_at]
            if weights is not None:
                weights = weights[:split_at]  # Keras weighs the training loss only
        callbacks = list(callbacks or [])
        for callback in callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(f"callbacks must be lstmkit.callbacks objects; got {type(callback).__name__}.")
            callback.set_model(self)
        stateful = [layer for layer in self.recurrent_layers() if getattr(layer, "stateful", False)]
        if shuffle and stateful:
            warnings.warn(
                f"fit(shuffle=True) with a stateful {type(stateful[0]).__name__}: each batch continues the state "
                "of the batch before it, which needs the samples in order. Pass shuffle=False.",
                UserWarning,
                stacklevel=2,
            )
        data = FitData(x_t, y_t, batch_size, bool(shuffle), validation, self._new_metrics(), mask, weights,
                       validation_mask, steps_per_epoch)
        resume = None if resume_from is None else checkpoint.read_checkpoint(resume_from, self)
        begin_callbacks(callbacks, data)
        cluster = join(distributed, self.device)
        if cluster is not None and any(getattr(layer, "stateful", False) for layer in self.recurrent_layers()):
            raise ValueError(
                "a stateful LSTM cannot train data-parallel: each process sees other batches, so no state "
                "carries from one batch to the next. Pass distributed='off' or make the LSTM stateless."
            )
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices, enabled=seed is not None):
            if seed is not None:  # only the generators fork_rng puts back (torch.manual_seed seeds every device's)
                torch.manual_seed(seed) if devices else torch.default_generator.manual_seed(seed)
                if self._is_fresh():
                    for layer in self.layers:
                        layer.reset_parameters()
            shuffle_seed, first_epoch = int(torch.randint(2**62, ())), initial_epoch
            if resume is not None:
                checkpoint.restore(self, resume, callbacks, cluster)
                shuffle_seed, first_epoch = resume.shuffle_seed, epochs if resume.stopped else resume.epoch
            if cluster is not None:
                shuffle_seed = broadcast_int(shuffle_seed, cluster)  # one order for all processes
            plan = FitPlan(self, engine_choice.fit_engine(self, data, cluster), data, epochs, verbose, callbacks,
                           shuffle_seed, first_epoch, cluster)
            self.fit_context = checkpoint.FitContext(shuffle_seed, cluster, callbacks)
            self.stop_training = False
            try:
                history = run_plan(plan)
            finally:
                self.fit_context = None
        self._trained = True
        self.eval()
        return history

    def _dtype(self) -> torch.dtype:
        """The parameters' dtype (float32 for a model without parameters, e.g. only Dropout)."""
        return next((p.dtype for p in self.parameters()), torch.float32)

    def forward_flops(self, batch_size: int) -> float:
        """Rough forward cost of one batch: the recurrent layers' products dominate, 2·B·T·(G·H)·(F + H)
        for a cell of G gates (the LSTM's 4, the GRU's 3)."""
        shape, flops = self.built_input_shape, 0.0
        for layer in self.layers:
            if isinstance(layer, Recurrent):
                timesteps = shape[0] or 1
                flops += lstm_flops(batch_size, timesteps, shape[-1], layer.units) * layer.gates / 4
            if isinstance(layer, Bidirectional):
                cell = layer.forward_layer
                flops += 2 * lstm_flops(batch_size, shape[0] or 1, shape[-1], cell.units) * cell.gates / 4
            shape = layer.compute_output_shape(shape)
        return flops

    def recurrent_layers(self) -> list[Recurrent]:
        """Every recurrent layer (LSTM, GRU, SimpleRNN), including both directions of a Bidirectional."""
        found: list[Recurrent] = []
        for layer in self.layers:
            if isinstance(layer, Bidirectional):
                found += [layer.forward_layer, layer.backward_layer]
            elif isinstance(layer, Recurrent):
                found.append(layer)
        return found

    def _new_metrics(self) -> list[metrics_module.Metric]:
        return [metrics_module.get(name) for name in self.metric_names]

    # -- inference -----------------------------------------------------------------------
    def predict(self, x: Any, batch_size: int | None = None, verbose: int = 0, lengths: Any = None) -> np.ndarray:
        """Outputs for `x` as a numpy array (samples first). Accepts numpy arrays or tensors.

        With `lengths` (as in `fit`) or a `Masking` layer, per-step outputs are zero at padded
        steps.
        """
        asked = None if batch_size is None else positive_int(batch_size, "batch_size")
        batch_size = DEFAULT_BATCH_SIZE if asked is None else asked
        if verbose == "auto":
            verbose = 1
        if verbose not in (0, 1, 2):
            raise ValueError(f"`verbose` must be 0, 1, 2 or 'auto'; got {verbose!r}.")
        if verbose:  # Keras's line: steps, time, time per step
            progress = ProgressBar(-(-len(x) // batch_size)) if hasattr(x, "__len__") else None
            y_hat = self.predict(x, asked, 0, lengths)
            if progress is not None:
                progress.draw(progress.total, {}, final=True)
            return y_hat
        if lengths is None and isinstance(x, np.ndarray):
            fast = self._fused_predict(x)
            if fast is not None:
                return fast
        if isinstance(x, BatchSource):
            return self._predict_source(x, batch_size)
        self._require_built_layers()
        x_t, mask = self._prepare_inputs(x, lengths)
        self.eval()
        rows = inference.chunk_rows(self, asked)  # bounded memory: one chunk's activations at a time
        with torch.inference_mode(), thread_limit(threads_for(self.forward_flops(rows))):
            return inference.predict_in_chunks(lambda xb, mb: _zero_padding(*self.forward_with_mask(xb, mb)),
                                               x_t, mask, rows)

    def compile_predict(self) -> inference.CompiledPredict:
        """A callable equal to `predict(x)` with less overhead per call, for serving loops: after its
        first call it skips the input checks for arrays like the first (lstmkit.inference.CompiledPredict)."""
        return inference.CompiledPredict(self)

    def _predict_source(self, source: BatchSource, batch_size: int) -> np.ndarray:
        """`predict` on a batch source, one batch at a time (its targets are not used)."""
        x_t, y_t = self._prepare_source(source, None, "x")
        self.eval()
        with torch.inference_mode(), thread_limit(threads_for(self.forward_flops(batch_size))):
            outputs = [self(take_rows(x_t, y_t, slice(start, start + batch_size))[0])
                       for start in range(0, len(x_t), batch_size)]
        return torch.cat(outputs).cpu().numpy()

    def fused_predictor(self) -> engine_choice.FusedPredictor | None:
        """The fused kernels' forward pass for this model, or None when they do not compute it:
        decided once, again after the layers or the parameters change."""
        if self._predictor is None:
            self._predictor = (engine_choice.fused_predictor(self),)
        return self._predictor[0]

    def _fused_predict(self, x: np.ndarray) -> np.ndarray | None:
        """Predictions from the fused kernels, or None to send `x` to the general path (see
        engine_choice.FusedPredictor: decided once per model, a call checked in ~1 µs)."""
        if self.built_input_shape is None or engine_choice.current_backend() != "auto":
            return None  # a forced backend: not decided (the kernels' module loads numba)
        predictor = self.fused_predictor()
        return None if predictor is None else predictor(x)

    def evaluate(
        self,
        x: Any,
        y: Any = None,
        batch_size: int | None = None,
        verbose: int = 0,
        return_dict: bool = False,
        lengths: Any = None,
    ) -> float | list[float] | dict[str, float]:
        """Loss (and metrics) on (x, y): a float, [loss, *metrics], or a dict with return_dict.
        `lengths`: real steps per sample, as in `fit`. `x` may be a batch source (y None), as in `fit`."""
        if not self._compiled:
            raise ValueError("call model.compile(loss=..., optimizer=...) before evaluate().")
        batch_size = DEFAULT_BATCH_SIZE if batch_size is None else positive_int(batch_size, "batch_size")
        if isinstance(x, BatchSource):
            (x_t, y_t), mask = self._prepare_source(x, y, "x"), None
        else:
            x_t, mask = self._prepare_inputs(x, lengths)
            y_t = self._prepare_targets(y, len(x_t), mask)
        with thread_limit(threads_for(self.forward_flops(batch_size))):
            logs = evaluate_batches(self, self.loss_fn, x_t, y_t, batch_size, self._new_metrics(), mask)
        if verbose:
            print(" - ".join(f"{key}: {value:.4f}" for key, value in logs.items()))
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    # -- weights, config, files ------------------------------------------------------------
    def get_weights(self) -> list[np.ndarray]:
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        weights = list(weights)
        for layer in self.layers:
            count = len(list(layer.parameters()))
            layer.set_weights(weights[:count])
            weights = weights[count:]
        if weights:
            raise ValueError(f"set_weights got {len(weights)} more arrays than the model has weights.")

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "build_input_shape": None if self.built_input_shape is None else list(self.built_input_shape),
            "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()} for layer in self.layers],
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Sequential":
        layers = []
        for entry in config["layers"]:
            if entry["class_name"] not in LAYERS:
                raise ValueError(f"unknown layer class {entry['class_name']!r} in the model configuration.")
            layers.append(LAYERS[entry["class_name"]].from_config(entry["config"]))
        model = cls(layers, name=config.get("name"))
        if config.get("build_input_shape") is not None and model.built_input_shape is None:
            model.build(tuple(config["build_input_shape"]))
        return model

    @classmethod
    def check_config(cls, config: Any, key: str = "model") -> "Sequential":
        """Check a configuration read from a file (as `get_config()` writes it) against every
        layer's schema and return the model built on the meta device: its state_dict gives every
        weight's shape, with no memory taken. Raises ConfigError naming the key at fault."""
        schema = Fields({"name": Str(), "build_input_shape": Nullable(ListOf(Nullable(Int(1)), 8)),
                         "layers": ListOf(Custom(check_layer_entry), MAX_LAYERS)}, required={"layers"})
        config = schema.check(config, key)
        try:
            with torch.device("meta"):
                model = cls.from_config(config)
        except Exception as err:  # a layer's own checks, or whatever a layer class raises on such a config
            raise ConfigError(f"{key}.layers", f"<{len(config['layers'])} layers>",
                              f"layers that fit together ({err})") from None
        check_round_trip(config, model.get_config(), key)
        return model

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        """{state_dict key: shape}, e.g. of a model built on the meta device by check_config."""
        return {name: tuple(value.shape) for name, value in self.state_dict().items()}

    def training_config(self) -> dict[str, Any] | None:
        """The compile() arguments as JSON, when they are names or lstmkit optimizers."""
        if not self._compiled or not isinstance(self.loss, str):
            return None
        spec = self.optimizer_state.spec
        if not isinstance(spec, optimizers.Optimizer):
            return None
        return {
            "loss": self.loss,
            "optimizer": {"class_name": type(spec).__name__, "config": spec.get_config()},
            "metrics": self.metric_names,
        }

    def save(self, path: str | os.PathLike) -> None:
        """Write the model (architecture, weights, compile settings) to one lstmkit file."""
        self._require_built("save()")
        _refuse_keras_extension(path, "save")
        config = {"model": self.get_config(), "training": self.training_config()}
        write_model_file(path, config, self.state_dict())

    def export_onnx(self, path: str | os.PathLike, dynamic_length: bool = True, lengths: bool = False) -> None:
        """Write the model as an ONNX graph (opset lstmkit.onnx_export.OPSET) for ONNX Runtime.

        Args:
            path: the .onnx file to write (atomically).
            dynamic_length: accept any number of timesteps (else only the model's own).
            lengths: add a second input "lengths" (batch,) int64, real steps first, as
                `predict(lengths=...)`.

        Input "x" float32 (batch, timesteps, features); output "y" float32, equal to `predict`
        within float32 round-off. Needs `pip install "lstmkit[onnx]"`.
        """
        from lstmkit.onnx_export import save_onnx, sequential_to_onnx

        save_onnx(sequential_to_onnx(self, dynamic_length, lengths), path)

    def save_weights(self, path: str | os.PathLike) -> None:
        """Write only the weights (no architecture) to one lstmkit file; `load_weights` reads them
        into a model of the same architecture."""
        self._require_built("save_weights()")
        _refuse_keras_extension(path, "save_weights")
        layers = [{"class_name": type(layer).__name__, "name": layer.name} for layer in self.layers]
        write_model_file(path, {"kind": "weights", "layers": layers}, self.state_dict())

    def load_weights(self, path: str | os.PathLike) -> None:
        """Read weights written by `save_weights` (or a whole model file by `save`) into this model,
        which must have the same layers and shapes."""
        self._require_built("load_weights()")
        _, tensors = read_model_file(path)
        tensors = {name: t for name, t in tensors.items() if not name.startswith(checkpoint.PREFIX)}
        state = self.state_dict()
        missing, extra = sorted(set(state) - set(tensors)), sorted(set(tensors) - set(state))
        if missing or extra:
            raise ValueError(f"{str(path)!r} holds the weights of another architecture: "
                             f"{'missing ' + ', '.join(missing[:3]) if missing else ''}"
                             f"{'; ' if missing and extra else ''}{'unexpected ' + ', '.join(extra[:3]) if extra else ''}.")
        wrong = [(k, tuple(tensors[k].shape), tuple(state[k].shape)) for k in state if tensors[k].shape != state[k].shape]
        if wrong:
            name, got, want = wrong[0]
            raise ValueError(f"{str(path)!r}: weight {name!r} has shape {got}, this model's has {want}; "
                             f"build the model as the one whose weights were saved.")
        odd = next((k for k in state if tensors[k].dtype not in (torch.float32, torch.float64)), None)
        if odd is not None:
            raise ModelFileError(f"{str(path)!r}: weight {odd!r} is {tensors[odd].dtype}; lstmkit weights are "
                                 f"float32 or float64.")
        with torch.no_grad():
            for name, value in tensors.items():
                state[name].copy_(value)
        self._predictor = None
        for layer in self.layers:
            layer.weights_set = True


def load_model(path: str | os.PathLike, device: str = "cpu") -> Sequential:
    """Read a model saved with `model.save(path)`. Never runs code from the file.

    The whole file is checked before anything is built (lstmkit.saving): its config against the
    layers' schemas, every tensor's shape against the ones the config implies, every checksum.
    Raises ModelFileError (a ValueError) naming what is wrong.
    """
    target_device = resolve_device(device)  # a bad `device` is the caller's error, not the file's
    file = open_model_file(path)
    config = file.config
    if config.get("kind") == "weights":
        raise ModelFileError(f"{str(path)!r} holds only weights (written by save_weights); build the model as "
                             f"before and call model.load_weights(path).")
    loaders = {"Forecaster": "lstmkit.forecast.Forecaster", "SequenceClassifier": "lstmkit.classify.SequenceClassifier",
               "Seq2Seq": "lstmkit.seq2seq.Seq2Seq", "TextGenerator": "lstmkit.text.TextGenerator"}
    if config.get("kind") in loaders:
        raise ModelFileError(
            f"{str(path)!r} holds a {config['kind']}, not a Sequential model; load it with "
            f"{loaders[config['kind']]}.load(path)."
        )
    try:
        model = Sequential.check_config(config.get("model"))
        training = check_training_config(config.get("training"))
    except ConfigError as err:
        raise file.error(str(err)) from None
    file.check_weights(model.weight_shapes(), ignore=checkpoint.PREFIX)
    tensors = {name: t for name, t in file.tensors().items() if not name.startswith(checkpoint.PREFIX)}
    try:
        materialize(model, tensors)
        if training:
            optimizer_class = optimizers.OPTIMIZERS[training["optimizer"]["class_name"].lower()]
            model.compile(loss=training["loss"], optimizer=optimizer_class.from_config(training["optimizer"]["config"]),
                          metrics=training["metrics"], device=target_device)
        else:
            model.to(target_device)
    except Exception as err:  # the checks above should leave none: whatever it is, the file is at fault
        raise file.error(f"{type(err).__name__}: {err}") from None
    model.eval()
    return model


def check_training_config(training: Any, key: str = "training") -> dict[str, Any] | None:
    """Check a file's compile settings (loss, optimizer, metrics) without building anything."""
    if training is None:
        return None
    optimizer = Fields({"class_name": Str(choices=[c.__name__ for c in optimizers.OPTIMIZERS.values()]),
                        "config": Custom(lambda value, where: value)}, required={"class_name", "config"})
    training = Fields({"loss": Str(), "optimizer": optimizer, "metrics": ListOf(Str())},
                      required={"loss", "optimizer", "metrics"}).check(training, key)
    optimizer_class = optimizers.OPTIMIZERS[training["optimizer"]["class_name"].lower()]
    settings = optimizer_class.config_schema().check(training["optimizer"]["config"], f"{key}.optimizer.config")
    named = [(f"{key}.loss", training["loss"], losses.get)]
    named += [(f"{key}.metrics[{i}]", name, metrics_module.get) for i, name in enumerate(training["metrics"])]
    for where, value, lookup in named:
        try:
            lookup(value)
        except ValueError as err:
            raise ConfigError(where, value, f"a known name ({err})") from None
    try:
        optimizer_class.from_config(settings)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{key}.optimizer.config", settings,
                          f"valid {optimizer_class.__name__} settings ({err})") from None
    return training


def materialize(model: Sequential, weights: dict[str, torch.Tensor]) -> Sequential:
    """Give a model built on the meta device (`check_config`) the weights read from a checked
    file: no initialisation is drawn and no memory is taken beyond the weights."""
    if weights:  # a float64 model comes back as float64
        model.to(dtype=next(iter(weights.values())).dtype)
    model.to_empty(device="cpu")
    model.load_state_dict(weights)
    for layer in model.layers:
        layer.weights_set = True
    return model


def _zero_padding(output: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Per-step outputs with zeros at padded steps (a Dense after them would show its bias)."""
    return output if mask is None else output * mask.unsqueeze(-1).to(output.dtype)


def format_summary(model: Sequential) -> str:
    """Keras's summary table as a string (what `summary()` prints)."""
    model._require_built("summary()")
    width = 65
    columns = (29, 26, 10)

    def row(*cells: str) -> str:
        return "".join(cell.ljust(w - 1) + " " for cell, w in zip(cells, columns)).rstrip()  # long names keep a gap

    lines = [f'Model: "{model.name}"', "_" * width, row(" Layer (type)", "Output Shape", "Param #"), "=" * width]
    shape = model.built_input_shape
    for layer in model.layers:
        shape = layer.compute_output_shape(shape)
        name = f" {layer.name} ({type(layer).__name__})"
        lines += [row(name, shape_text((None, *shape)), f"{layer.count_params():,}"), ""]
    total = model.count_params()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    size = next(model.parameters()).element_size() if total else 4
    lines += [
        "=" * width,
        f"Total params: {total:,} ({_bytes_text(total * size)})",
        f"Trainable params: {trainable:,} ({_bytes_text(trainable * size)})",
        f"Non-trainable params: {total - trainable:,} ({_bytes_text((total - trainable) * size)})",
        "_" * width,
    ]
    return "\n".join(lines)


def _bytes_text(count: int) -> str:
    if count >= 1024**2:
        return f"{count / 1024**2:.2f} MB"
    if count >= 1024:
        return f"{count / 1024:.2f} KB"
    return f"{count:.2f} B"
