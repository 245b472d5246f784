"""Forecaster(strategy="seq2seq"): an encoder-decoder over the horizon, compared in the same backtest."""

import numpy as np
import pandas as pd

from lstmkit.forecast import Forecaster, backtest
from lstmkit.layers import RepeatVector, TimeDistributed


def noisy_sine(n=96, seed=0, noise=0.1):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return pd.Series(10 + np.sin(2 * np.pi * t / 12) + rng.normal(0, noise, n),
                     index=pd.date_range("2000-01-01", periods=n, freq="MS"))


def test_seq2seq_beside_direct_and_recursive_in_one_backtest(tmp_path):
    series = noisy_sine()
    fast = dict(units=8, epochs=12, batch_size=16, patience=3, seed=0)
    result = backtest(series, {"direct": Forecaster(12, 3, **fast),
                               "seq2seq": Forecaster(12, 3, strategy="seq2seq", **fast)},
                      start=-3, stride=3)
    assert list(result.metrics.index)[:2] == ["direct", "seq2seq"]
    assert result.forecasts.groupby("model").size()["seq2seq"] == 3
    assert result.metrics.loc["seq2seq", "MAE"] < result.metrics.loc["mean", "MAE"]

    fc = Forecaster(12, 3, strategy="seq2seq", units=4, epochs=2).fit(series)
    network = fc.members_[0]
    assert isinstance(network.layers[1], RepeatVector) and isinstance(network.layers[-1], TimeDistributed)
    assert network.output_shape == (3, 1)  # one value per horizon step, written by the decoder
    fc.save(tmp_path / "s.lstmkit")
    again = Forecaster.load(tmp_path / "s.lstmkit")
    pd.testing.assert_frame_equal(again.predict(), fc.predict())


def test_seq2seq_strategy_uses_the_chosen_cell_for_encoder_and_decoder(tmp_path):
    from lstmkit.layers import GRU

    series = noisy_sine()
    fc = Forecaster(12, 3, strategy="seq2seq", cell="gru", units=4, epochs=2, seed=0).fit(series)
    cells = [type(layer) for layer in fc.members_[0].layers if isinstance(layer, GRU)]
    assert cells == [GRU, GRU]
    fc.save(tmp_path / "g.lstmkit")
    again = Forecaster.load(tmp_path / "g.lstmkit")
    assert again.cell == "gru"
    pd.testing.assert_frame_equal(again.predict(), fc.predict())


def test_seq2seq_forecaster_exports_to_onnx(tmp_path):
    import onnxruntime

    series = noisy_sine()
    fc = Forecaster(12, 3, strategy="seq2seq", cell="gru", units=4, epochs=2, seed=0).fit(series)
    fc.export_onnx(tmp_path / "s.onnx")
    window = series.to_numpy()[-fc.context_:].reshape(1, fc.context_, 1).astype(np.float32)  # lookback + profile
    got = onnxruntime.InferenceSession(str(tmp_path / "s.onnx")).run(None, {"x": window})[0]
    np.testing.assert_allclose(got[0], fc.predict()["forecast"].to_numpy(), rtol=1e-6, atol=1e-5)
