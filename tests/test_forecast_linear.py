"""Forecaster(linear=True): a linear model of the same windows beside the LSTM, the two forecasts averaged;
and the Flatten layer it is built from."""

import numpy as np
import pandas as pd
import pytest
import torch

from lstmkit import Sequential
from lstmkit.forecast import Forecaster
from lstmkit.forecast.network import right_aligned
from lstmkit.layers import LSTM, Dense, Flatten
from lstmkit.saving import read_model_file, write_model_file


def _sine(n=120):
    t = np.arange(n)
    return pd.Series(50 + 10 * np.sin(2 * np.pi * t / 12) + 0.2 * t, index=pd.date_range("2000-01", periods=n,
                                                                                          freq="MS"))


@pytest.fixture(scope="module")
def linear_fit():
    fc = Forecaster(24, 6, units=8, epochs=30, transform="none", seasonal="none", linear=True, seed=0)
    return fc.fit(_sine())


def test_the_forecast_is_the_mean_of_the_lstm_and_the_linear_model(linear_fit):
    fc = linear_fit
    combined = fc.predict()["forecast"].to_numpy()
    linear, fc.linear_ = fc.linear_, None
    try:
        lstm = fc.predict()["forecast"].to_numpy()
    finally:
        fc.linear_ = linear
    x, _ = fc.network_input()  # the last 24 steps less the last value, in scaled units: what both read
    scaler = fc.scalers_[None].target
    last = scaler.transform(_sine().to_numpy()[-1:, None])[0, 0]
    alone = scaler.inverse_transform((linear.predict(x)[0] + last)[:, None])[:, 0]
    assert np.abs(alone - lstm).max() > 0.05  # two different forecasts ...
    np.testing.assert_allclose(combined, (lstm + alone) / 2, rtol=1e-6)  # ... averaged
    assert fc.linear_best_epoch_ >= 1
    errors = fc.linear_errors_
    assert set(errors) == {"LSTM", "linear", "mean of both"} and all(np.isfinite(list(errors.values())))
    assert "Linear model (linear=True): Flatten + Dense(6) on the same windows" in fc.summary()
    assert "mean of both" in fc.summary()


def test_the_linear_model_alone_learns_an_autoregression():
    t = np.arange(150)
    series = 20 + 5 * np.sin(2 * np.pi * t / 9)  # x_t = 2cos(w) x_(t-1) - x_(t-2): exactly linear
    fc = Forecaster(18, 4, units=4, epochs=150, seasonal="none", linear=True, seed=0).fit(series)
    assert fc.linear_errors_["linear"] < 0.02  # scaled units: the series spans [0, 1]
    assert Forecaster(18, 4, units=4, epochs=2).fit(series).linear_ is None  # off by default


def test_saved_and_exported_forecasts_keep_the_linear_model(tmp_path, linear_fit):
    import onnxruntime

    fc = linear_fit
    path = tmp_path / "linear.lstmkit"
    fc.save(path)
    loaded = Forecaster.load(path)
    pd.testing.assert_frame_equal(loaded.predict(), fc.predict())
    assert loaded.linear and loaded.linear_errors_ == fc.linear_errors_
    config, tensors = read_model_file(path)
    assert {"linear.layers.1.kernel", "linear.layers.1.bias"} <= set(tensors)
    fc.export_onnx(tmp_path / "linear.onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "linear.onnx"), providers=["CPUExecutionProvider"])
    window = _sine().to_numpy()[-24:].astype(np.float32)[None, :, None]
    np.testing.assert_allclose(session.run(None, {"x": window})[0][0], fc.predict()["forecast"], rtol=1e-5)

    del config["linear_model"]  # linear=True without its model: the file is refused, naming the key
    write_model_file(tmp_path / "broken.lstmkit", config, {k: v for k, v in tensors.items()
                                                            if not k.startswith("linear.")})
    with pytest.raises(ValueError, match="config.linear_model"):
        Forecaster.load(tmp_path / "broken.lstmkit")
    del config["forecaster"]["linear"]  # a file from before the option: the LSTM alone, as it was fitted
    write_model_file(tmp_path / "older.lstmkit", config, {k: v for k, v in tensors.items()
                                                           if not k.startswith("linear.")})
    older = Forecaster.load(tmp_path / "older.lstmkit")
    assert not older.linear and older.linear_ is None


def test_short_series_in_a_collection_reach_the_linear_model_right_aligned():
    padded = np.array([[[1.0], [2.0], [0.0], [0.0]], [[1.0], [2.0], [3.0], [4.0]]])
    np.testing.assert_array_equal(right_aligned(padded, np.array([2, 4]))[:, :, 0], [[0, 0, 1, 2], [1, 2, 3, 4]])
    assert right_aligned(padded, None) is padded
    rng = np.random.default_rng(0)
    frames = [pd.DataFrame({"id": f"s{k}", "time": np.arange(n), "value": 10 + np.cumsum(rng.normal(0.2, 1, n))})
              for k, n in enumerate((60, 50, 14, 11))]  # two shorter than lookback + horizon = 20
    data = pd.concat(frames, ignore_index=True)
    fc = Forecaster(16, 4, units=4, epochs=3, linear=True, seed=0)
    fc.fit(data, id_col="id", time_col="time", value_col="value")  # padded windows for s2, s3
    forecasts = fc.predict()
    assert forecasts.groupby("id").size().to_dict() == {"s0": 4, "s1": 4, "s2": 4, "s3": 4}
    assert np.isfinite(forecasts["forecast"]).all()
    fc.linear_ = None  # the short series' forecasts change with the linear model: it read their windows
    alone = fc.predict()
    assert (np.abs(alone["forecast"] - forecasts["forecast"]).groupby(alone["id"]).max() > 1e-6).all()


def test_flatten_is_keras_s_flatten():
    model = Sequential([Flatten(input_shape=(5, 3)), Dense(2)])
    assert model.output_shape == (2,) and model.count_params() == 5 * 3 * 2 + 2  # Keras: 32
    x = np.arange(30, dtype=np.float32).reshape(2, 5, 3)
    kernel, bias = model.layers[1].get_weights()
    np.testing.assert_allclose(model.predict(x), x.reshape(2, 15) @ kernel + bias, rtol=1e-5)
    assert Sequential.from_config(model.get_config()).output_shape == (2,)
    with pytest.raises(ValueError, match="Flatten cannot take padded"):  # padding would be read as values
        model.predict(x, lengths=[5, 3])
    recurrent = Sequential([LSTM(4, return_sequences=True, input_shape=(5, 3)), Flatten(), Dense(1)])
    assert recurrent.output_shape == (1,) and recurrent(torch.zeros(2, 5, 3)).shape == (2, 1)
    with pytest.raises(ValueError, match="every input dimension known"):
        Sequential([LSTM(4, return_sequences=True, input_shape=(None, 3)), Flatten(), Dense(1)])


@pytest.mark.parametrize("settings", [{"strategy": "recursive"}, {"strategy": "seq2seq"}, {"lookback": "auto"},
                                      {"validation_split": 0.0}])
def test_every_strategy_and_lookback_choice_takes_the_linear_model(tmp_path, settings):
    args = {"lookback": 24, "horizon": 6, "units": 4, "epochs": 3, "linear": True, "seed": 0, **settings}
    fc = Forecaster(**args).fit(_sine(100))
    assert fc.linear_.output_shape == ((1,) if settings.get("strategy") == "recursive" else (6,))
    assert fc.linear_.built_input_shape == (fc.lookback, 1)  # the kept lookback ("auto": the longest kept)
    assert (fc.linear_errors_ is None) == (settings.get("validation_split") == 0.0)  # no tail, no scores
    forecast = fc.predict()["forecast"]
    fc.save(tmp_path / "f.lstmkit")
    np.testing.assert_allclose(Forecaster.load(tmp_path / "f.lstmkit").predict()["forecast"], forecast, rtol=1e-6)
    fc.linear_ = None
    assert np.abs(fc.predict()["forecast"] - forecast).max() > 1e-6
