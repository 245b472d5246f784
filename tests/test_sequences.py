"""Variable-length batches: a padded batch gives each sequence the outputs, loss and gradients it
has alone (float64, 1e-6), for every layer combination and both ways of saying what is padding
(`lengths=` and `Masking`, padding before or after); the packed fast path equals the reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstmkit import Sequential
from lstmkit.layers import LSTM, Bidirectional, Dense, Masking
from lstmkit.ops.dispatch import lstm_forward
from lstmkit.ops.masking import compact, expand, reverse_real_steps
from lstmkit.optimizers import SGD
from lstmkit.sequences import pad_sequences

LENGTHS = [7, 3, 5, 1]
RNG = np.random.default_rng(0)
SEQUENCES = [RNG.standard_normal((n, 2)) for n in LENGTHS]  # float64, never exactly 0.0
STEP_TARGETS = [RNG.standard_normal((n, 2)) for n in LENGTHS]
LAST_TARGETS = RNG.standard_normal((4, 2))

STACKS = {
    "lstm": lambda: [LSTM(4)],
    "lstm-sequences": lambda: [LSTM(4, return_sequences=True)],
    "go_backwards-sequences": lambda: [LSTM(4, return_sequences=True, go_backwards=True)],
    "stacked": lambda: [LSTM(4, return_sequences=True), LSTM(3)],
    "stacked-sequences": lambda: [LSTM(4, return_sequences=True), LSTM(3, return_sequences=True)],
    "bidirectional": lambda: [Bidirectional(LSTM(3))],
    "bidirectional-sequences": lambda: [Bidirectional(LSTM(3, return_sequences=True), merge_mode="ave")],
    "bidirectional-stacked": lambda: [Bidirectional(LSTM(3, return_sequences=True)), LSTM(2, go_backwards=True)],
}
WAYS = ["list+lengths", "padded+lengths", "masking-post", "masking-pre"]


def _model(stack: str, masking: bool) -> Sequential:
    torch.manual_seed(0)
    layers = STACKS[stack]()
    layers = ([Masking(0.0, input_shape=(None, 2))] if masking else []) + layers + [Dense(2)]
    model = Sequential(layers)
    model.build((None, 2))
    model.double()
    model.compile(loss="mse", optimizer=SGD(learning_rate=1.0))
    return model


def _batch(way: str, per_step: bool) -> tuple[object, object, dict]:
    """(x, y, fit keyword arguments) for one way of giving the four sequences."""
    y = STEP_TARGETS if per_step else LAST_TARGETS
    if way == "list+lengths":
        return SEQUENCES, y, {"lengths": LENGTHS}
    padding = "pre" if way == "masking-pre" else "post"
    x = pad_sequences(SEQUENCES, padding=padding, dtype="float64")
    if per_step:
        y = pad_sequences(y, padding=padding, dtype="float64")
    return x, y, ({"lengths": np.array(LENGTHS)} if way == "padded+lengths" else {})


def _real_steps(output: np.ndarray, k: int, way: str) -> np.ndarray:
    n, longest = LENGTHS[k], max(LENGTHS)
    return output[k, longest - n :] if way == "masking-pre" else output[k, :n]


def _alone_loss_and_gradients(model: Sequential, per_step: bool) -> tuple[float, list[np.ndarray]]:
    """Σ over sequences run one at a time: the batch loss Keras defines (mean over real steps)."""
    model.zero_grad()
    total = 0
    for k, sequence in enumerate(SEQUENCES):
        out = model(torch.from_numpy(sequence[None]))
        target = torch.from_numpy(STEP_TARGETS[k][None] if per_step else LAST_TARGETS[k : k + 1])
        weight = LENGTHS[k] / sum(LENGTHS) if per_step else 1 / len(SEQUENCES)
        loss = model.loss_fn(out, target) * weight
        loss.backward()
        total += loss.item()
    return total, [p.grad.numpy().copy() for p in model.parameters()]


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("stack", list(STACKS))
def test_padded_batch_equals_each_sequence_alone(stack, way):
    masking = way.startswith("masking")
    model = _model(stack, masking)
    per_step = len(model.output_shape) == 2
    x, y, options = _batch(way, per_step)

    # outputs
    predicted = model.predict(x, **options)
    for k, sequence in enumerate(SEQUENCES):
        alone = model.predict(sequence[None])[0]
        if per_step:
            np.testing.assert_allclose(_real_steps(predicted, k, way), alone, rtol=0, atol=1e-6)
        else:
            np.testing.assert_allclose(predicted[k], alone, rtol=0, atol=1e-6)

    # loss (evaluate), then one SGD step on the whole batch (lr 1: weights move by the gradient)
    expected_loss, expected_gradients = _alone_loss_and_gradients(model, per_step)
    assert model.evaluate(x, y, batch_size=4, **options) == pytest.approx(expected_loss, rel=1e-9, abs=1e-12)
    before = model.get_weights()
    history = model.fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0, **options)
    assert history.history["loss"][0] == pytest.approx(expected_loss, rel=1e-9, abs=1e-12)
    for w0, w1, gradient in zip(before, model.get_weights(), expected_gradients):
        np.testing.assert_allclose(w0 - w1, gradient, rtol=0, atol=1e-6)


@pytest.mark.parametrize("way", ["list+lengths", "masking-pre"])
def test_padded_steps_output_zeros(way):
    model = _model("bidirectional-sequences", way.startswith("masking"))
    x, _, options = _batch(way, per_step=True)
    with torch.no_grad():
        model.layers[-1].bias.fill_(0.5)  # a Dense after a zero LSTM output would show its bias
    predicted = model.predict(x, **options)
    for k, n in enumerate(LENGTHS):
        padding = predicted[k, : max(LENGTHS) - n] if way == "masking-pre" else predicted[k, n:]
        assert (padding == 0).all()
        assert (np.abs(_real_steps(predicted, k, way)) > 0).all()


# -- the seam: packed fast path vs the masked reference ------------------------------------------------
@pytest.mark.parametrize("cell_state", [True, False], ids=["packed", "compacted-fused"])
def test_torch_masked_paths_equal_the_masked_reference_with_gradients(cell_state):
    torch.manual_seed(1)
    x = torch.randn(5, 8, 3, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(5, 8) > 0.4  # holes anywhere: before, between and after real steps
    mask[:, 4] = True
    h0, c0 = torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    weights = [torch.randn(s, dtype=torch.float64, requires_grad=True) for s in ((3, 16), (4, 16), (16,))]
    results = []
    for backend in ("reference", "torch"):
        outputs, h, c = lstm_forward(x, h0, c0, *weights, backend=backend, mask=mask, cell_state=cell_state)
        loss = outputs.sin().sum() + h.sum() + (c.cos().sum() if cell_state else 0)
        results.append([outputs, h, *([c] if cell_state else []), *torch.autograd.grad(loss, [x, *weights])])
        assert (c is None) == (backend == "torch" and not cell_state)
    for reference, fast in zip(*results):
        torch.testing.assert_close(fast, reference, rtol=0, atol=1e-12)
    assert (results[0][0][~mask] == 0).all()


def test_compact_moves_real_steps_to_the_front_and_expand_puts_them_back():
    x = torch.arange(1.0, 6.0).reshape(1, 5, 1)
    mask = torch.tensor([[False, True, True, False, True]])
    compacted, lengths, front = compact(x, mask)
    assert compacted[0, :, 0].tolist() == [2.0, 3.0, 5.0, 0.0, 0.0] and lengths.tolist() == [3]
    assert expand(compacted, mask, front)[0, :, 0].tolist() == [0.0, 2.0, 3.0, 0.0, 5.0]
    assert reverse_real_steps(x, mask)[0, :, 0].tolist() == [0.0, 5.0, 3.0, 0.0, 2.0]


def test_masking_skips_a_step_inside_a_sequence_and_warns():
    model = _model("lstm", masking=True)
    hole = SEQUENCES[0].copy()
    hole[3] = 0.0  # a real step equal to the mask value
    with pytest.warns(UserWarning, match=r"`x` sample 0 step 3 has every feature equal to mask_value=0.0 inside"):
        got = model.predict(hole[None])
    np.testing.assert_allclose(got, model.predict(np.delete(SEQUENCES[0], 3, axis=0)[None]), atol=1e-12)


def test_masking_output_and_config():
    layer = Masking(mask_value=-1.0)
    x = torch.tensor([[[1.0, -1.0], [-1.0, -1.0], [2.0, 3.0]]])
    assert layer(x).tolist() == [[[1.0, -1.0], [0.0, 0.0], [2.0, 3.0]]]
    assert layer.compute_mask(x, None).tolist() == [[True, False, True]]
    assert Masking.from_config(layer.get_config()).get_config() == layer.get_config() == {"mask_value": -1.0, "name": None}
    with pytest.raises(ValueError, match=r"`mask_value` must be a number \(not NaN\)"):
        Masking(float("nan"))


def test_per_step_classification_with_lengths_skips_padded_labels():
    torch.manual_seed(0)
    model = Sequential([LSTM(4, return_sequences=True, input_shape=(None, 2)), Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    labels = [np.array([0, 1, 2, 0, 1, 2, 0]), np.array([2, 2, 1]), np.array([1, 0, 1, 0, 1]), np.array([0])]
    padded_labels = np.full((4, 7), -1)  # -1 at padding: never read
    for k, row in enumerate(labels):
        padded_labels[k, : len(row)] = row
    loss, accuracy = model.evaluate(pad_sequences(SEQUENCES), padded_labels, lengths=LENGTHS)
    probabilities = [model.predict(s[None].astype(np.float32))[0] for s in SEQUENCES]
    steps = np.concatenate([p[np.arange(len(row)), row] for p, row in zip(probabilities, labels)])
    assert loss == pytest.approx(-np.log(steps).mean(), rel=1e-5)
    correct = np.concatenate([p.argmax(axis=1) == row for p, row in zip(probabilities, labels)])
    assert accuracy == pytest.approx(correct.mean())


def test_ragged_list_builds_a_model_for_any_length():
    model = Sequential([LSTM(3), Dense(1)])
    model.compile(loss="mse")
    model.fit(SEQUENCES, LAST_TARGETS[:, :1], lengths=LENGTHS, epochs=1, verbose=0)
    assert model.built_input_shape == (None, 2)
    assert model.predict(RNG.standard_normal((2, 11, 2))).shape == (2, 1)


def test_validation_data_takes_lengths_as_a_third_item():
    model = _model("lstm-sequences", masking=False)
    history = model.fit(
        SEQUENCES, STEP_TARGETS, lengths=LENGTHS, epochs=1, verbose=0,
        validation_data=(SEQUENCES[:2], STEP_TARGETS[:2], LENGTHS[:2]),
    )
    expected = model.evaluate(SEQUENCES[:2], STEP_TARGETS[:2], lengths=LENGTHS[:2])
    assert history.history["val_loss"][0] == pytest.approx(expected, rel=1e-9)


def test_pad_sequences_layouts():
    padded = pad_sequences([[1, 2, 3], [4]], padding="pre")
    assert padded.shape == (2, 3, 1) and padded[..., 0].tolist() == [[1, 2, 3], [0, 0, 4]]
    assert pad_sequences([[1, 2, 3], [4]], value=-1.0)[..., 0].tolist() == [[1, 2, 3], [4, -1, -1]]


# -- bad input (issue item 7): each names the sample ----------------------------------------------------
def test_bad_variable_length_input_names_the_sample():
    model = _model("lstm", masking=False)
    with pytest.raises(ValueError, match=r"different lengths: sample 0 has 7 steps, sample 1 has 3\. For variable-length data pass lengths="):
        model.fit(SEQUENCES, LAST_TARGETS, verbose=0)
    with pytest.raises(ValueError, match=r"`lengths` gives sample 1 length 4 but it has only 3 time steps \(the padded axis\)"):
        model.fit(SEQUENCES, LAST_TARGETS, lengths=[7, 4, 5, 1], verbose=0)
    with pytest.raises(ValueError, match=r"`lengths` gives sample 2 length 9 but it has only 7 time steps"):
        model.predict(pad_sequences(SEQUENCES), lengths=[7, 3, 9, 1])
    with pytest.raises(ValueError, match=r"`lengths` gives sample 3 length 0: an empty sequence has no output"):
        model.predict(pad_sequences(SEQUENCES), lengths=[7, 3, 5, 0])
    with pytest.raises(ValueError, match=r"`x` sample 2 is an empty sequence \(0 steps\)"):
        model.predict([SEQUENCES[0], SEQUENCES[1], np.zeros((0, 2))], lengths=[7, 3, 0])
    with pytest.raises(ValueError, match=r"`lengths` must be one integer per sample \(4 of them\)"):
        model.predict(SEQUENCES, lengths=[7, 3, 5])
    with pytest.raises(ValueError, match=r"`x` sample 1 has 3 features but sample 0 has 2"):
        model.predict([SEQUENCES[0], np.zeros((3, 3))], lengths=[7, 3])
    masked = _model("lstm", masking=True)
    empty = pad_sequences(SEQUENCES)
    empty[2] = 0.0
    with pytest.raises(ValueError, match=r"`x` sample 2 has every step equal to mask_value=0.0: after Masking it is an empty sequence"):
        masked.predict(empty)
