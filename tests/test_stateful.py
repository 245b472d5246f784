"""Stateful LSTMs: the state carries across batches and calls until reset_states(), so feeding a
sequence step by step (or in chunks) gives what feeding it whole gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstmkit import Sequential, load_model
from lstmkit.layers import LSTM, Bidirectional, Dense

X = np.random.default_rng(0).standard_normal((3, 8, 2)).astype(np.float32)


def _pair(return_sequences: bool) -> tuple[Sequential, Sequential]:
    """A stateful model and a plain one with the same weights."""
    torch.manual_seed(0)
    stateful = Sequential([LSTM(4, stateful=True, return_sequences=return_sequences, input_shape=(None, 2)), Dense(1)])
    plain = Sequential([LSTM(4, return_sequences=return_sequences, input_shape=(None, 2)), Dense(1)])
    plain.set_weights(stateful.get_weights())
    return stateful, plain


def test_step_by_step_equals_whole_sequence():
    stateful, plain = _pair(return_sequences=True)
    whole = plain.predict(X)
    steps = np.concatenate([stateful.predict(X[:, t : t + 1], batch_size=3) for t in range(8)], axis=1)
    np.testing.assert_allclose(steps, whole, atol=1e-6)


@pytest.mark.parametrize("chunks", [[3, 5], [1, 6, 1], [8]])
def test_chunks_equal_whole_sequence_without_return_sequences(chunks):
    # LSTM + Dense(1) is a model the fused engine runs; a stateful one must not go there.
    stateful, plain = _pair(return_sequences=False)
    start = 0
    for size in chunks:
        last = stateful.predict(X[:, start : start + size], batch_size=3)
        start += size
    np.testing.assert_allclose(last, plain.predict(X), atol=1e-6)


def test_state_carries_across_batches_of_one_call_and_resets():
    stateful, plain = _pair(return_sequences=False)
    # Samples 3..5 continue samples 0..2: batch 2 starts from batch 1's final state.
    halves = np.concatenate([X[:, :4], X[:, 4:]])
    got = stateful.predict(halves, batch_size=3)
    np.testing.assert_allclose(got[3:], plain.predict(X), atol=1e-6)
    np.testing.assert_allclose(got[:3], plain.predict(X[:, :4]), atol=1e-6)
    assert not stateful.layers[0].states[0].requires_grad
    stateful.reset_states()
    assert stateful.layers[0].states is None
    np.testing.assert_allclose(stateful.predict(X[:, 4:], batch_size=3), plain.predict(X[:, 4:]), atol=1e-6)


def test_fit_carries_the_state_and_later_calls_continue_it():
    stateful, _ = _pair(return_sequences=False)
    stateful.compile(loss="mse", optimizer="sgd")
    y = np.zeros((6, 1), dtype=np.float32)
    stateful.fit(np.concatenate([X[:, :4], X[:, 4:]]), y, batch_size=3, shuffle=False, epochs=1, verbose=0)
    carried = [s.clone() for s in stateful.layers[0].states]
    plain = Sequential([LSTM(4, input_shape=(None, 2), return_state=True)])
    plain.layers[0].set_weights(stateful.layers[0].get_weights())
    # The next call starts from the carried state: the same as passing it as initial_state.
    expected, _, _ = plain.layers[0](torch.from_numpy(X[:, :2]), initial_state=tuple(carried))
    got = stateful.predict(X[:, :2], batch_size=3)
    dense = stateful.layers[1]
    np.testing.assert_allclose(got, dense(expected).detach().numpy(), atol=1e-6)


def test_batch_size_must_stay_fixed():
    stateful, _ = _pair(return_sequences=False)
    stateful.predict(X, batch_size=3)
    with pytest.raises(ValueError, match=r"layer 'lstm' is stateful and carries the state of 3 sequences, but got a batch of 2"):
        stateful.predict(X[:2], batch_size=2)
    with pytest.raises(ValueError, match=r"got a batch of 1\. Keep the batch size fixed"):
        stateful.predict(np.concatenate([X, X[:1]]), batch_size=3)  # the last batch is short
    stateful.reset_states()
    assert stateful.predict(X[:2], batch_size=2).shape == (2, 1)


def test_shuffling_a_stateful_model_warns():
    stateful, _ = _pair(return_sequences=False)
    stateful.compile(loss="mse")
    with pytest.warns(UserWarning, match=r"fit\(shuffle=True\) with a stateful LSTM.*Pass shuffle=False") as caught:
        history = stateful.fit(X, np.zeros((3, 1)), batch_size=3, verbose=0)
    assert len(caught) == 1  # warned once, before training
    assert len(history.history["loss"]) == 1  # and trained anyway: it is a warning, not an error


def test_stateful_config_and_files_keep_the_flag_not_the_state(tmp_path):
    model = Sequential([Bidirectional(LSTM(3, stateful=True), input_shape=(None, 2)), Dense(1)])
    assert model.layers[0].forward_layer.stateful and model.layers[0].backward_layer.stateful
    model.predict(X, batch_size=3)
    model.save(tmp_path / "m.lstmkit")
    loaded = load_model(tmp_path / "m.lstmkit")
    assert loaded.layers[0].forward_layer.stateful and loaded.layers[0].forward_layer.states is None
    model.reset_states()
    np.testing.assert_allclose(loaded.predict(X, batch_size=3), model.predict(X, batch_size=3), atol=1e-6)
    assert LSTM.from_config(LSTM(2, stateful=True).get_config()).stateful
