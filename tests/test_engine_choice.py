"""lstmkit.training.engine_choice: which engine trains and which predicts, from the one table."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lstmkit.ops.fused
from lstmkit import Sequential, metrics
from lstmkit.layers import GRU, LSTM, Dense, Dropout, SimpleRNN
from lstmkit.ops import use_backend
from lstmkit.optimizers import SGD, AdamW, Adam
from lstmkit.training import engine_choice
from lstmkit.training.batches import FitData
from lstmkit.training.engine_choice import FUSED_CELLS, FusedCell, fused_fit_engine, predict_engine
from lstmkit.training.fused_engine import FusedEngine
from lstmkit.training.torch_engine import TorchEngine


def _model(units=8, shape=(5, 1), cell=LSTM, loss="mse", optimizer="adam", metrics=None, extra=()):
    model = Sequential([cell(units, input_shape=shape), *extra, Dense(1)])
    model.compile(loss=loss, optimizer=optimizer, metrics=metrics)
    return model


def _data(model, samples=32, batch_size=1, **fields):
    shape = model.built_input_shape
    return FitData(torch.zeros(samples, *shape), torch.zeros(samples, 1), batch_size, True, **fields)


@pytest.mark.parametrize("make, batch_size, expected", [
    (lambda: _model(), 1, "per-sample"),                                   # the tutorial model
    (lambda: _model(optimizer=SGD(momentum=0.9, nesterov=True)), 4, "per-sample"),
    (lambda: _model(loss="mae", optimizer=Adam(clipnorm=1.0)), 8, "per-sample"),
    (lambda: _model(64, (24, 1)), 64, "batched"),                        # W2: above per_sample_max_flops
    (lambda: _model(256, (100, 32)), 256, None),                          # W3: above train_max_flops
    (lambda: _model(loss="huber"), 1, None),                              # a loss the kernels lack
    (lambda: _model(optimizer="rmsprop"), 1, None),                       # an optimizer they lack
    (lambda: _model(optimizer=AdamW()), 1, None),                         # weight decay
    (lambda: _model(metrics=["mae"]), 1, None),                           # training metrics
    (lambda: _model(extra=[Dropout(0.1)]), 1, None),                      # a layer they lack
    (lambda: _model(cell=GRU), 1, "per-sample"),                          # the GRU's row
    (lambda: _model(64, (24, 1), cell=GRU), 64, "batched"),
    (lambda: _model(cell=lambda units, **kw: GRU(units, use_bias=False, **kw)), 1, None),  # the row's condition
    (lambda: _model(cell=SimpleRNN), 1, None),
])
def test_the_table_chooses_the_fit_engine(make, batch_size, expected):
    model = make()
    data = _data(model, batch_size=batch_size, metrics=[metrics.get(name) for name in model.metric_names])
    assert fused_fit_engine(model, data) == expected


def test_fit_engine_builds_the_chosen_engine():
    model = _model()
    data = _data(model)
    engine = engine_choice.fit_engine(model, data, None)
    assert isinstance(engine, FusedEngine) and engine.name == "per-sample"
    assert model.optimizer_state.built is None  # the fused engines never build a torch optimizer
    with use_backend("torch"):
        engine = engine_choice.fit_engine(model, data, None)
    assert isinstance(engine, TorchEngine) and engine.optimizer is model.optimizer


def test_data_the_kernels_cannot_read_takes_the_torch_engine():
    model = _model()
    assert fused_fit_engine(model, _data(model, steps=2)) is None  # steps_per_epoch
    assert fused_fit_engine(model, _data(model, sample_weight=torch.ones(32))) is None  # class_weight
    assert fused_fit_engine(model, _data(model, mask=torch.ones(32, 5, dtype=torch.bool))) is None  # lengths
    with use_backend("reference"):
        assert fused_fit_engine(model, _data(model)) is None


def test_thresholds_are_the_rows_own(monkeypatch):
    model = _model(64, (24, 1))
    data = _data(model, batch_size=64)
    flops = model.forward_flops(64)
    monkeypatch.setattr(FUSED_CELLS[LSTM], "per_sample_max_flops", flops)
    assert fused_fit_engine(model, data) == "per-sample"
    monkeypatch.setattr(FUSED_CELLS[LSTM], "per_sample_max_flops", 0)
    monkeypatch.setattr(FUSED_CELLS[LSTM], "train_max_flops", flops - 1)
    assert fused_fit_engine(model, data) is None


def test_predict_engine_by_size_and_backend():
    model = _model()
    predictor = predict_engine(model, 1)
    assert predictor is not None and predictor.function == FUSED_CELLS[LSTM].predict
    assert predictor.max_rows == int(FUSED_CELLS[LSTM].predict_max_flops // model.forward_flops(1))
    assert predict_engine(model, predictor.max_rows) is predictor  # decided once, cached on the model
    assert predict_engine(model, predictor.max_rows + 1) is None  # too many windows for one call
    with use_backend("torch"):
        assert predict_engine(model, 1) is None
    assert predict_engine(_model(cell=GRU), 1).function == "lstmkit.ops.fused:gru_dense_predict"
    assert predict_engine(_model(extra=[Dropout(0.1)]), 1) is None


def test_a_new_cell_is_one_registration(monkeypatch):
    """A GRU row sends GRU models to the kernels it names, for fit and for predict."""
    calls = []

    def gru_predict(x, weights):
        calls.append(x.shape)
        return np.full((len(x), 1), 7.0, dtype=x.dtype)

    monkeypatch.setattr(lstmkit.ops.fused, "gru_dense_predict", gru_predict, raising=False)
    monkeypatch.setitem(FUSED_CELLS, GRU, FusedCell("lstmkit.ops.fused:lstm_dense_fit",
                                                    "lstmkit.ops.batched:lstm_dense_fit",
                                                    "lstmkit.ops.fused:gru_dense_predict",
                                                    fits=lambda layer: layer.units == 8))
    model = _model(cell=GRU)
    assert fused_fit_engine(model, _data(model)) == "per-sample"
    assert fused_fit_engine(_model(4, cell=GRU), _data(model)) is None  # the row's own condition
    np.testing.assert_array_equal(model.predict(np.zeros((3, 5, 1), np.float32)), np.full((3, 1), 7.0))
    assert calls == [(3, 5, 1)]
    mixed = Sequential([GRU(4, return_sequences=True, input_shape=(5, 1)), LSTM(4), Dense(1)])
    mixed.compile(loss="mse", optimizer="adam")
    assert engine_choice.fused_cell(mixed) is None  # one cell per stack
