"""Embedding, RepeatVector and TimeDistributed: Keras's counts, PyTorch parity, masks, config and files."""

import numpy as np
import pytest
import torch

from lstmkit import Sequential, load_model
from lstmkit.layers import GRU, LAYERS, LSTM, Dense, Embedding, RepeatVector, SimpleRNN, TimeDistributed
from lstmkit.optimizers import Adam


def test_embedding_matches_torch_and_counts_like_keras():
    layer = Embedding(1000, 64, input_shape=(10,))
    assert layer.count_params() == 64_000  # Keras: input_dim * output_dim
    (table,) = layer.get_weights()
    assert table.shape == (1000, 64) and np.abs(table).max() <= 0.05 and np.abs(table).max() > 0.04
    reference = torch.nn.Embedding(1000, 64)
    reference.weight.data = torch.as_tensor(table)
    ids = torch.randint(0, 1000, (3, 10))
    torch.testing.assert_close(layer(ids), reference(ids))


def test_summary_shapes_and_counts():
    model = Sequential([Embedding(20, 8, input_shape=(6,)), LSTM(5, return_sequences=True),
                        TimeDistributed(Dense(3)), LSTM(4), RepeatVector(7)])
    lines = []
    model.summary(print_fn=lines.append)
    text = lines[0]
    assert "(None, 6, 8)" in text and "160" in text  # 20 * 8
    assert "time_distributed (TimeDistributed) (None, 6, 3)" in text and " 18\n" in text  # 5 * 3 + 3
    assert "(None, 7, 4)" in text
    assert model.count_params() == 160 + 4 * (8 * 5 + 25 + 5) + 18 + 4 * (3 * 4 + 16 + 4)


def test_mask_zero_masks_the_lstm_exactly_as_lengths_does():
    torch.manual_seed(0)
    model = Sequential([Embedding(12, 3, mask_zero=True, input_shape=(None,)), LSTM(4)])
    ids = np.array([[5, 2, 7, 0, 0], [1, 2, 3, 4, 11], [9, 0, 0, 0, 0]])
    got = model.predict(ids)
    table = model.layers[0].get_weights()[0]
    alone = Sequential([LSTM(4, input_shape=(None, 3))])
    alone.layers[0].set_weights(model.layers[1].get_weights())
    lengths = (ids != 0).sum(axis=1)
    expected = alone.predict(table[ids], lengths=lengths)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert not np.allclose(got[0], Sequential([LSTM(4, input_shape=(None, 3))]).predict(table[ids])[0])


def test_integer_ids_train_and_round_trip_through_files(tmp_path):
    model = Sequential([Embedding(10, 4, mask_zero=True, input_shape=(5,)), LSTM(6, return_sequences=True),
                        TimeDistributed(Dense(10, activation="softmax"))])
    model.compile(loss="sparse_categorical_crossentropy", optimizer=Adam(learning_rate=0.02))
    rng = np.random.default_rng(0)
    x = rng.integers(1, 10, (32, 5))
    history = model.fit(x, x, epochs=30, batch_size=8, verbose=0, seed=0)
    assert history.history["loss"][-1] < history.history["loss"][0] - 0.3  # learns to copy ids
    model.save(tmp_path / "ids.lstmkit")
    loaded = load_model(tmp_path / "ids.lstmkit")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    with pytest.raises(ValueError, match="outside 0..9"):
        model.predict(np.full((1, 5), 10))
    with pytest.raises(ValueError, match="integer ids"):
        model.predict(np.full((1, 5), 1.5))


@pytest.mark.parametrize("layer", [Embedding(7, 3, mask_zero=True, input_shape=(4,)), RepeatVector(3),
                                   TimeDistributed(Dense(2, activation="relu"), input_shape=(4, 5))])
def test_config_round_trip(layer):
    config = layer.get_config()
    copy = LAYERS[type(layer).__name__].from_config(config)
    assert copy.get_config() == config
    assert copy.count_params() == layer.count_params()


def test_repeat_vector_and_time_distributed_compute_per_step():
    dense = Dense(2, input_shape=(3,))
    wrapped = TimeDistributed(dense)
    x = torch.randn(4, 5, 3)
    torch.testing.assert_close(wrapped(x), torch.stack([dense(x[:, t]) for t in range(5)], dim=1))
    repeated = RepeatVector(3)(torch.arange(6.0).reshape(2, 3))
    assert repeated.shape == (2, 3, 3) and torch.equal(repeated[:, 2], repeated[:, 0])
    for recurrent in (LSTM(3), GRU(3), SimpleRNN(3)):
        with pytest.raises(TypeError, match="per-step layer"):
            TimeDistributed(recurrent)


def test_crafted_configs_are_refused_before_building(tmp_path):
    """Sizes are bounded and the wrapped layer checked like Bidirectional's, before any allocation."""
    from lstmkit.saving import ModelFileError, read_model_file, write_model_file

    model = Sequential([Embedding(30, 4, input_shape=(None,)), GRU(5), RepeatVector(3),
                        LSTM(4, return_sequences=True), TimeDistributed(Dense(2))])
    model.save(tmp_path / "m.lstmkit")
    config, tensors = read_model_file(tmp_path / "m.lstmkit")
    bound = r"expected an integer in \[1, 1048576\]"
    changes = [(0, {"output_dim": 2**21}, r"layers\[0\]\.config\.output_dim = 2097152: " + bound),
               (0, {"input_dim": 2**19, "output_dim": 2**19}, "do not match its architecture"),  # 1 TiB if allocated
               (2, {"n": 2**21}, r"layers\[2\]\.config\.n = 2097152: " + bound),
               (4, {"layer": {"class_name": "Dense", "config": {"units": 2**40}}}, r"config\.layer\.config\.units"),
               (4, {"layer": {"class_name": "Dense", "config": {"units": 2, "bias": 1}}}, r"\.bias = 1: expected no"),
               (4, {"layer": {"class_name": "Evil", "config": {}}}, r"config\.layer\.class_name = 'Evil'"),
               (4, {"layer": {"class_name": "GRU", "config": {"units": 2}}}, "per-step layer")]
    for index, change, message in changes:
        layers = [dict(entry, config=dict(entry["config"])) for entry in config["model"]["layers"]]
        layers[index]["config"].update(change)
        write_model_file(tmp_path / "c.lstmkit", {**config, "model": {**config["model"], "layers": layers}}, tensors)
        with pytest.raises(ModelFileError, match=message):
            load_model(tmp_path / "c.lstmkit")


def test_keras_hints_no_longer_name_these_layers():
    from lstmkit import layers

    for name in ("Embedding", "RepeatVector", "TimeDistributed"):
        assert getattr(layers, name) is LAYERS[name]
