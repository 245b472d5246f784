"""lstmkit.training.optimizer_state: one owner and one format for every engine and for checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstmkit import Sequential
from lstmkit.layers import LSTM, Dense
from lstmkit.ops import use_backend
from lstmkit.optimizers import SGD, Adam
from lstmkit.training.fused_engine import weight_views


def _model(optimizer):
    model = Sequential([LSTM(4, input_shape=(5, 1)), Dense(1)])
    model.compile(loss="mse", optimizer=optimizer)
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (12, 5, 1)).astype(np.float32)
    return x, x.mean(axis=1)


def _assert_tensors_equal(ours, theirs):
    assert sorted(ours) == sorted(theirs)
    for key in ours:
        torch.testing.assert_close(ours[key], theirs[key], rtol=0, atol=0)


@pytest.mark.parametrize("optimizer, slots", [
    (Adam(learning_rate=0.01), {"step", "exp_avg", "exp_avg_sq"}),
    (SGD(learning_rate=0.1, momentum=0.9), {"momentum_buffer"}),
])
def test_torch_to_fused_to_torch_is_exact(optimizer, slots):
    x, y = _data()
    model = _model(optimizer)
    with use_backend("torch"):
        model.fit(x, y, epochs=2, batch_size=4, verbose=0, seed=0)
    state = model.optimizer_state
    before = state.to_tensors()
    assert {key.split(".", 1)[1] for key in before} == slots and len(before) == len(slots) * 5
    kernel = state.kernel_state(weight_views(model))  # the fused kernels' view of the same state
    params = list(model.parameters())
    for index, param in enumerate(params):
        for slot in slots - {"step"}:
            array = getattr(kernel, slot)[index]
            assert np.shares_memory(array, model.optimizer.state[param][slot].numpy())  # a view, not a copy
    if "step" in slots:
        assert kernel.step == 6  # 2 epochs of 3 batches
    _assert_tensors_equal(state.to_tensors(), before)

    other = _model(optimizer)  # a checkpoint's way back: tensors in, torch optimizer out
    other.optimizer_state.load_tensors(before)
    assert other.optimizer_state.built is None
    rebuilt = other.optimizer
    for index, param in enumerate(other.parameters()):
        for slot in slots:
            torch.testing.assert_close(rebuilt.state[param][slot], before[f"{index}.{slot}"], rtol=0, atol=0)


def test_fused_state_becomes_the_torch_optimizers_state_unchanged():
    x, y = _data()
    model = _model(Adam(learning_rate=0.01))
    model.fit(x, y, epochs=3, batch_size=4, verbose=0, seed=0)  # the fused engine
    state = model.optimizer_state
    assert state.built is None
    kept = state.to_tensors()
    entries = state.weight_entries()
    optimizer = model.optimizer  # built now
    assert [optimizer.state[p] for p in model.parameters()] == entries  # the same entries, moved
    assert all(optimizer.state[p] is entry for p, entry in zip(model.parameters(), entries))
    _assert_tensors_equal(state.to_tensors(), kept)
    assert int(kept["0.step"]) == 9


def test_the_learning_rate_has_one_home():
    model = _model(Adam(learning_rate=0.01))
    state = model.optimizer_state
    assert state.learning_rate == 0.01
    state.learning_rate = 0.005  # e.g. ReduceLROnPlateau during a fused fit
    assert state.built is None and state.learning_rate == 0.005
    assert model.optimizer.param_groups[0]["lr"] == 0.005  # carried into the torch optimizer
    state.learning_rate = 0.002
    assert model.optimizer.param_groups[0]["lr"] == 0.002 and state.learning_rate == 0.002
    state.reset()
    assert state.learning_rate == 0.01 and state.built is None and state.to_tensors() == {}


def test_fused_kind_follows_the_optimizer():
    assert _model("adam").optimizer_state.fused_kind() == "adam"
    assert _model(SGD()).optimizer_state.fused_kind() == "sgd"
    assert _model("rmsprop").optimizer_state.fused_kind() is None
    model = _model("adam")
    model.optimizer.param_groups[0]["weight_decay"] = 0.1  # a torch optimizer the kernels do not reproduce
    assert model.optimizer_state.fused_kind() is None
