"""Seq2Seq: encoder-decoder training, greedy and beam decoding, attention, files, errors."""

import numpy as np
import pytest
import torch

from lstmkit.optimizers import Adam
from lstmkit.seq2seq import Seq2Seq


def reversal_data(samples, seed):
    rng = np.random.default_rng(seed)
    sources = ["".join(rng.choice(list("abcde"), rng.integers(1, 6))) for _ in range(samples)]
    return sources, [text[::-1] for text in sources]


@pytest.fixture(scope="module")
def reverser():
    """Luong attention learns to reverse strings of 1-5 letters (variable lengths in and out)."""
    sources, targets = reversal_data(200, 0)
    model = Seq2Seq(units=32, attention="luong", embedding_dim=16)
    history = model.fit(sources, targets, epochs=20, batch_size=32, optimizer=Adam(0.01), verbose=0, seed=0)
    return model, history


def test_learns_variable_length_reversal_greedy_and_beam(reverser):
    model, history = reverser
    assert history.history["loss"][-1] < 0.05 < history.history["loss"][0]
    sources, targets = reversal_data(60, 1)
    greedy = model.predict(sources)
    beam = model.predict(sources, beam_width=3)
    assert np.mean([p == t for p, t in zip(greedy, targets)]) >= 0.9
    assert np.mean([p == t for p, t in zip(beam, targets)]) >= 0.9
    assert {len(p) for p in greedy} == {1, 2, 3, 4, 5}


def test_trace_attention_reads_the_source_backwards(reverser):
    model, _ = reverser
    trace = model.trace("abcde")
    assert trace.source_tokens == list("abcde")
    assert trace.output_tokens == ["e", "d", "c", "b", "a", "<end>"]
    np.testing.assert_allclose(trace.weights.sum(axis=1), 1.0, atol=1e-5)
    assert list(trace.weights[:5].argmax(axis=1)) == [4, 3, 2, 1, 0]  # output i looks at source 4 - i


def test_save_load_round_trip(reverser, tmp_path):
    model, _ = reverser
    model.save(tmp_path / "rev.lstmkit")
    loaded = Seq2Seq.load(tmp_path / "rev.lstmkit")
    sources, _ = reversal_data(20, 2)
    assert loaded.predict(sources) == model.predict(sources)
    assert loaded.source_tokenizer.tokens == model.source_tokenizer.tokens
    header = (tmp_path / "rev.lstmkit").read_bytes()[:4000]
    assert b"pickle" not in header and b"CharTokenizer" in header


def test_bidirectional_stacked_bahdanau_with_scheduled_sampling_is_seeded(tmp_path):
    sources, targets = reversal_data(64, 3)

    def train():
        model = Seq2Seq(units=8, layers=2, bidirectional=True, attention="bahdanau", embedding_dim=4)
        history = model.fit(sources, targets, epochs=4, batch_size=16, verbose=0, seed=5, scheduled_sampling=0.5)
        return model, history

    first, history = train()
    second, again = train()
    assert history.history["loss"] == again.history["loss"]
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert first.decoder[0].units == 16  # both directions' states side by side
    assert first.predict(sources[:5]) == second.predict(sources[:5])
    first.save(tmp_path / "b.lstmkit")
    assert Seq2Seq.load(tmp_path / "b.lstmkit").predict(sources[:5]) == first.predict(sources[:5])


def test_numeric_sequences_to_a_horizon():
    t = np.arange(200, dtype=np.float32)
    windows = np.stack([np.sin(0.3 * t[i : i + 15]) for i in range(150)])
    sources, targets = windows[:, :10, None], windows[:, 10:, None]  # 10 steps in, 5 out
    model = Seq2Seq(units=16)
    history = model.fit(sources, targets, epochs=30, batch_size=32, optimizer=Adam(0.01), verbose=0, seed=0)
    predicted = model.predict(sources[:20])
    assert predicted.shape == (20, 5, 1)
    assert np.abs(predicted - targets[:20]).mean() < 0.5 * np.abs(targets[:20]).mean()
    assert history.history["loss"][-1] < 0.1 * history.history["loss"][0]


def test_errors_say_what_to_do(reverser):
    model, _ = reverser
    with pytest.raises(ValueError, match="unknown cell 'transformer'; expected one of 'gru', 'lstm', 'simple_rnn'"):
        Seq2Seq(cell="transformer")
    with pytest.raises(ValueError, match="unknown attention 'dot'; expected one of 'bahdanau', 'luong'. None"):
        Seq2Seq(attention="dot")
    with pytest.raises(ValueError, match="call fit"):
        Seq2Seq().predict(["ab"])
    with pytest.raises(ValueError, match="match one to one"):
        Seq2Seq().fit(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="empty"):
        model.predict([""])
    with pytest.raises(ValueError, match="trace"):
        Seq2Seq(units=4).trace("ab")
    with pytest.raises(TypeError, match="list of samples"):
        model.predict("abc")


@pytest.mark.parametrize("cell, attention", [("gru", "luong"), ("simple_rnn", "bahdanau")])
def test_gru_and_simple_rnn_cells_learn_and_carry_one_state(cell, attention, tmp_path):
    """GRU and SimpleRNN return (output, h) and start from h alone; stacked, bidirectional, with attention."""
    from lstmkit.layers import GRU, SimpleRNN

    sources, targets = reversal_data(200, 0)
    model = Seq2Seq(units=16, cell=cell, layers=2, bidirectional=True, attention=attention, embedding_dim=8)
    history = model.fit(sources, targets, epochs=10, batch_size=32, optimizer=Adam(0.01), verbose=0, seed=0)
    assert all(type(layer) is {"gru": GRU, "simple_rnn": SimpleRNN}[cell] for layer in [*model.encoder, *model.decoder])
    ids, mask = model._sources(sources[:3])
    _, states = model.encode(ids, mask)
    assert [[tuple(s.shape) for s in layer] for layer in states] == [[(3, 32)], [(3, 32)]]  # h only, both directions
    assert history.history["loss"][-1] < 0.1 * history.history["loss"][0]
    predicted = model.predict(sources[:20])
    assert np.mean([p == t for p, t in zip(predicted, targets[:20])]) >= 0.9
    model.save(tmp_path / "cell.lstmkit")
    assert Seq2Seq.load(tmp_path / "cell.lstmkit").predict(sources[:20]) == predicted


def test_damaged_or_crafted_files_are_refused_before_building(reverser, tmp_path):
    from lstmkit.saving import ModelFileError, read_model_file, write_model_file

    model, _ = reverser
    path = tmp_path / "rev.lstmkit"
    model.save(path)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x10  # a bit of the last tensor
    (tmp_path / "flipped.lstmkit").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="checksum"):
        Seq2Seq.load(tmp_path / "flipped.lstmkit")
    config, tensors = read_model_file(path)
    for key, value, message in (("units", 2**40, r"config\.settings\.units"),
                                ("units", 2**19, "do not match its architecture"),  # 4 TB of weights if allocated
                                ("cell", "transformer", r"unknown cell 'transformer'; expected one of 'gru', 'lstm', 'simple_rnn'\.$")):
        write_model_file(tmp_path / "crafted.lstmkit", {**config, "settings": {**config["settings"], key: value}},
                         tensors)
        with pytest.raises(ModelFileError, match=message):
            Seq2Seq.load(tmp_path / "crafted.lstmkit")
    write_model_file(tmp_path / "crafted.lstmkit", {**config, "shapes": {**config["shapes"], "source": 10**6}}, tensors)
    with pytest.raises(ModelFileError, match=r"config\.shapes\.source"):
        Seq2Seq.load(tmp_path / "crafted.lstmkit")
