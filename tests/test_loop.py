"""lstmkit.training.loop: the one epoch loop (History, progress lines, callbacks, validation, the
divergence guard), the same on every engine."""

from __future__ import annotations

import contextlib
import re

import numpy as np
import pytest
import torch

from lstmkit.callbacks import Callback, EarlyStopping, TerminateOnNaN
from lstmkit.training import FitData, FitPlan, run_plan
from lstmkit.training.divergence import TrainingDivergedError

from test_divergence import engine  # noqa: F401 (a fixture: the torch loop, per-sample or batched fused)
from test_models import compiled_model, make_data


class Recorder(Callback):
    """Writes down every hook the loop calls, and stops training after `stop_at` epochs."""

    def __init__(self, stop_at: int | None = None) -> None:
        super().__init__()
        self.events: list[tuple] = []
        self.stop_at = stop_at

    def on_train_begin(self, log_keys=()):
        self.events.append(("begin", tuple(log_keys)))

    def on_epoch_end(self, epoch, logs):
        self.events.append(("epoch", epoch, tuple(logs)))
        if self.stop_at is not None and epoch + 1 == self.stop_at:
            self.model.stop_training = True
        return False

    def after_epoch(self, epoch, stopping):
        self.events.append(("after", epoch, stopping))

    def on_train_end(self):
        self.events.append(("end",))


def test_callbacks_and_history_are_the_same_on_every_engine(engine, capsys):
    name, context, calls = engine
    x, y = make_data()
    recorder = Recorder(stop_at=3)
    with context():
        history = compiled_model().fit(x, y, epochs=6, batch_size=8, verbose=2, seed=0,
                                  validation_data=make_data(8, seed=1), callbacks=[recorder])
    keys = ("loss", "val_loss")
    assert recorder.events == [("begin", keys), *[event for epoch in range(3) for event in
                               [("epoch", epoch, keys), ("after", epoch, epoch == 2)]], ("end",)]
    assert history.epoch == [0, 1, 2] and list(history.history) == list(keys)
    assert history.params == {"epochs": 6, "steps": 4, "verbose": 2}
    lines = capsys.readouterr().out.splitlines()
    assert lines[::2] == ["Epoch 1/6", "Epoch 2/6", "Epoch 3/6"]
    assert all(re.match(r"^4/4 - \d+s - loss: \d\.\d{4} - val_loss: \d\.\d{4} - \d+(ms|us|s)/epoch", line)
               for line in lines[1::2]), lines
    assert bool(calls) == (name != "torch loop")


def test_early_stopping_ends_at_the_same_epoch_on_every_engine(engine):
    name, context, calls = engine
    x, y = make_data()
    stopper = EarlyStopping(monitor="val_loss", patience=1, min_delta=1.0)  # no epoch improves by 1.0
    with context():
        history = compiled_model().fit(x, y, epochs=10, batch_size=8, verbose=0, seed=0, validation_split=0.25,
                                  callbacks=[stopper])
    assert history.epoch == [0, 1] and stopper.stopped_epoch == 1
    assert bool(calls) == (name != "torch loop")


class ScriptedEngine:
    """An engine whose epochs have the given batch losses, `per_call` epochs a call."""

    name = "scripted"

    def __init__(self, model: torch.nn.Module, losses: list[list[float]], per_call: int) -> None:
        self.model, self.losses, self.per_call = model, losses, per_call
        self.calls: list[tuple[int, int]] = []

    def epochs_per_call(self, remaining: int, per_epoch_work: bool) -> int:
        return 1 if per_epoch_work else min(self.per_call, remaining)

    @contextlib.contextmanager
    def running(self):
        yield

    def run(self, epoch, count, shuffle_seed, progress):
        self.calls.append((epoch, count))
        with torch.no_grad():
            for _ in range(count):
                self.model.weight.add_(1.0)  # the epoch "trains"
        rows = self.losses[epoch:epoch + count]
        return [({"loss": float(np.mean(row))}, np.array(row)) for row in rows], False

    def validate(self, validation):
        return {"loss": 0.5}


def _scripted(per_call: int) -> tuple[torch.nn.Module, ScriptedEngine, FitData]:
    """A one-weight model from 0, and an engine whose third epoch's second batch loss is NaN."""
    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.zero_()
    losses = [[1.0, 1.0], [0.5, 0.5], [0.25, float("nan")], [0.1, 0.1]]
    return model, ScriptedEngine(model, losses, per_call), FitData(torch.zeros(4, 1), torch.zeros(4, 1), 2, False)


def test_the_loop_runs_several_epochs_a_call_and_stops_at_the_first_nan():
    model, engine, data = _scripted(per_call=4)
    with pytest.raises(TrainingDivergedError) as raised:
        run_plan(FitPlan(model, engine, data, epochs=4, verbose=0, callbacks=[], shuffle_seed=0))
    assert engine.calls == [(0, 4)]  # nothing to do between epochs: one call
    assert (raised.value.epoch, raised.value.batch, raised.value.last_finite_loss) == (3, 2, 0.25)
    assert raised.value.history.epoch == [0, 1] and raised.value.history.history["loss"] == [1.0, 0.5]
    assert model.weight.item() == 0.0  # the weights the call started from (this engine does not wind back)


def test_terminate_on_nan_keeps_the_epochs_before_and_their_weights():
    model, engine, data = _scripted(per_call=1)
    stopper = TerminateOnNaN()
    stopper.set_model(model)
    history = run_plan(FitPlan(model, engine, data, epochs=4, verbose=0, callbacks=[stopper], shuffle_seed=0))
    assert engine.calls == [(0, 1), (1, 1), (2, 1)]
    assert history.epoch == [0, 1] and history.history["loss"] == [1.0, 0.5]
    assert model.weight.item() == 2.0  # the weights after epoch 2, the last finite one


def test_history_keys_and_lengths():
    x, y = make_data()
    model = compiled_model(metrics=["mae"])
    history = model.fit(x, y, epochs=3, batch_size=8, verbose=0, validation_split=0.25, seed=0)
    assert list(history.history) == ["loss", "mae", "val_loss", "val_mae"]
    assert all(len(values) == 3 for values in history.history.values())
    assert history.epoch == [0, 1, 2]
    assert history.params == {"epochs": 3, "steps": 3, "verbose": 0}  # 24 training samples / 8
    assert all(isinstance(v, float) and v > 0 for values in history.history.values() for v in values)


# -- progress display -------------------------------------------------------------------------
VERBOSE_2_LINE = re.compile(r"^\d+/\d+ - \d+s - loss: \d\.\d{4} .* - \d+(ms|us|s)/epoch - \d+(ms|us|s)/step$")



def test_verbose_2_prints_one_keras_line_per_epoch(capsys):
    x, y = make_data()
    model = compiled_model(metrics=["mae"])
    model.fit(x, y, epochs=3, batch_size=8, verbose=2, seed=0)
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if line.startswith("Epoch")] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    progress = [line for line in lines if not line.startswith("Epoch")]
    assert len(progress) == 3
    for line in progress:
        assert VERBOSE_2_LINE.match(line), line
        assert line.startswith("4/4 - ")
        assert " - mae: " in line


def test_verbose_1_draws_a_bar(capsys):
    x, y = make_data()
    model = compiled_model()
    model.fit(x, y, epochs=2, batch_size=8, verbose=1, seed=0)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2"
    bars = [line for line in lines if "[=====" in line]
    assert len(bars) == 2
    for line in bars:
        assert re.match(r"^4/4 \[={30}\] - \d+s \d+(ms|us|s)/step - loss: \d\.\d{4}", line), line


def test_verbose_0_prints_nothing(capsys):
    x, y = make_data()
    model = compiled_model(metrics=["mae"])
    model.fit(x, y, epochs=2, batch_size=8, verbose=0, validation_split=0.25, seed=0)
    model.predict(x)
    model.evaluate(x, y)
    assert capsys.readouterr().out == ""
