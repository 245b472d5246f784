"""predict in chunks: the same numbers as one pass, and memory that stays flat as the sample count grows."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from lstmkit import Sequential
from lstmkit.inference import chunk_rows
from lstmkit.layers import GRU, LSTM, Dense
from lstmkit.ops import use_backend


def sequence_model(stateful: bool = False) -> Sequential:
    model = Sequential([LSTM(16, input_shape=(10, 2), return_sequences=True, stateful=stateful)])
    model.compile(loss="mse", optimizer="adam")
    return model


def windows(samples: int) -> np.ndarray:
    return np.random.default_rng(samples).standard_normal((samples, 10, 2)).astype(np.float32)


def peak_torch_bytes(call) -> int:
    """The highest running total of PyTorch's CPU allocations during `call` (profiler events in time
    order, each counted by its own allocations less its frees)."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        call()
    running = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        running += event.self_cpu_memory_usage
        peak = max(peak, running)
    return peak


def test_chunked_predict_equals_one_pass():
    model = sequence_model()
    x = windows(1000)
    whole = model.predict(x, batch_size=len(x))
    assert whole.shape == (1000, 10, 16) and whole.dtype == np.float32
    for rows in (1, 7, 128, 999):
        np.testing.assert_allclose(model.predict(x, batch_size=rows), whole, rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.predict(x), whole, rtol=0, atol=1e-6)  # the default chunk
    head = Sequential([LSTM(8, input_shape=(10, 2)), Dense(3)])
    head.compile(loss="mse", optimizer="adam")
    lengths = np.random.default_rng(1).integers(1, 11, size=300)
    np.testing.assert_allclose(head.predict(x[:300], batch_size=13, lengths=lengths),
                               head.predict(x[:300], batch_size=300, lengths=lengths), rtol=0, atol=1e-6)


def test_predict_memory_stays_flat_as_samples_grow():
    model = sequence_model()
    rows = 100
    small, large = (peak_torch_bytes(lambda n=n: model.predict(windows(n), batch_size=rows)) for n in (500, 2000))
    chunk_output = rows * 10 * 16 * 4  # one chunk's (rows, T, H) float32 output
    assert 0 < small <= 4 * chunk_output + 40 * 2000  # activations of one chunk, plus the input's NaN check
    assert large <= small + 40 * 2000, (small, large)  # not 4x: the outputs of 2,000 windows are 1.28 MB
    assert large < 2000 * 10 * 16 * 4 / 2


def test_default_chunk_is_sized_by_the_widest_activation():
    model = Sequential([LSTM(64, input_shape=(24, 1)), Dense(1)])
    assert chunk_rows(model, None) == 2**21 // (24 * 4 * 64)  # 341 windows a chunk
    assert chunk_rows(model, 5) == 5
    assert chunk_rows(sequence_model(stateful=True), None) == 32  # the carried state depends on the batches


def test_stateful_predict_keeps_kerass_batches_of_32():
    model = sequence_model(stateful=True)
    x = windows(64)
    outputs = {}
    for rows in (None, 32, 64):
        model.reset_states()
        outputs[rows] = model.predict(x, batch_size=rows)
    np.testing.assert_array_equal(outputs[None], outputs[32])
    assert np.abs(outputs[None][32:] - outputs[64][32:]).max() > 1e-3  # the second batch carried the first's state


def tutorial_model() -> Sequential:
    model = Sequential([LSTM(12, input_shape=(5, 1)), Dense(1)])
    model.compile(loss="mse", optimizer="adam")
    return model


def test_compiled_predict_equals_predict_and_skips_the_checks_after_its_first_call(monkeypatch):
    model = tutorial_model()
    serve = model.compile_predict()
    x = np.random.default_rng(0).standard_normal((3, 5, 1)).astype(np.float32)
    np.testing.assert_array_equal(serve(x[:1]), model.predict(x[:1]))
    expected = model.predict(x)
    checked = model.predict
    monkeypatch.setattr(model, "predict", lambda *args, **kwargs: pytest.fail("predict ran its checks again"))
    np.testing.assert_array_equal(serve(x), expected)  # any number of windows of the same shape
    nan = x.copy()
    nan[0, 2, 0] = np.nan
    assert np.isnan(serve(nan)[0]).all()  # documented: no NaN scan after the first call
    monkeypatch.setattr(model, "predict", checked)
    model.fit(x, np.ones((3, 1), np.float32), epochs=2, batch_size=1, verbose=0)  # weights change in place
    np.testing.assert_array_equal(serve(x), model.predict(x))
    model.set_weights([w * 0.5 for w in model.get_weights()])
    np.testing.assert_array_equal(serve(x), model.predict(x))


@pytest.mark.parametrize("cell", [LSTM, GRU])
def test_fused_predictor_is_decided_on_the_first_plain_predict_and_checks_every_call(cell):
    model = Sequential([cell(12, input_shape=(5, 1)), Dense(1)])
    x = np.random.default_rng(2).standard_normal((3, 5, 1)).astype(np.float32)
    with use_backend("reference"):
        reference = model.predict(x)
    assert model._predictor is None  # not decided while a backend is forced
    np.testing.assert_allclose(model.predict(x), reference, rtol=0, atol=1e-6)
    predictor = model._predictor[0]
    assert predictor is not None and predictor.max_rows >= 3
    assert predictor.function == f"lstmkit.ops.fused:{cell.__name__.lower()}_dense_predict"
    np.testing.assert_array_equal(predictor(x[:, :, 0]), predictor(x))  # (samples, timesteps)
    assert predictor(x[:, :4]) is None and predictor(x[:, :0]) is None  # shapes that do not fit
    assert predictor(x.astype(np.int32)) is None and predictor(np.zeros((3, 5, 2), np.float32)) is None
    broken = x.copy()
    broken[1, 4, 0] = -np.inf
    assert predictor(broken) is None  # the scan, in the kernel's call
    with pytest.raises(ValueError, match="first in sample 1"):
        model.predict(broken)
    many = np.tile(x, (predictor.max_rows, 1, 1))  # more windows than the kernels take: torch's op
    assert predictor(many) is None
    np.testing.assert_allclose(model.predict(many)[:3], reference, rtol=0, atol=1e-6)
    model.set_weights([w * 0.5 for w in model.get_weights()])  # in place: the same predictor sees them
    assert model.fused_predictor() is predictor
    with use_backend("reference"):
        assert predictor(x) is None  # a forced backend bypasses the kernels
        halved = model.predict(x)
    np.testing.assert_allclose(model.predict(x), halved, rtol=0, atol=1e-6)
    model.double()  # new parameter storage: decided again, in float64
    assert model._predictor is None and model.predict(x).dtype == np.float64
    assert model.fused_predictor() is not predictor and model.fused_predictor().dtype == np.float64


def test_compiled_predict_takes_predict_for_anything_else():
    model = tutorial_model()
    serve = model.compile_predict()
    x = np.random.default_rng(1).standard_normal((400, 5, 1))  # float64, beyond the kernels' size
    np.testing.assert_array_equal(serve(x), model.predict(x))
    np.testing.assert_array_equal(serve(x[:, :, 0]), model.predict(x[:, :, 0]))  # (samples, timesteps)
    np.testing.assert_array_equal(serve(torch.from_numpy(x[:2])), model.predict(torch.from_numpy(x[:2])))
    with use_backend("reference"):
        np.testing.assert_allclose(serve(x[:2]), model.predict(x[:2]), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="NaN"):
        model.compile_predict()(np.full((1, 5, 1), np.nan))  # the first call checks its input


def test_nan_check_runs_in_blocks_and_names_the_first_bad_sample(monkeypatch):
    from lstmkit import model_inputs

    monkeypatch.setattr(model_inputs, "FINITE_CHECK_VALUES", 40)  # 2 windows of 10 x 2 a block
    model = sequence_model()
    x = windows(9)
    np.testing.assert_array_equal(model.predict(x), model.predict(x, batch_size=9))
    for bad in (0, 4, 5, 8):
        broken = x.copy()
        broken[bad, 3, 1] = np.inf
        with pytest.raises(ValueError, match=f"first in sample {bad}\\)"):
            model.predict(broken)
