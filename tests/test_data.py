import json

import numpy as np
import pytest

from lstmkit.data import MinMaxScaler, StandardScaler, make_windows, time_split


# --- make_windows -------------------------------------------------------------------------

def test_windows_over_arange_give_the_documented_indices():
    inputs, targets = make_windows(np.arange(6), lookback=3, horizon=1)
    np.testing.assert_array_equal(inputs[:, :, 0], [[0, 1, 2], [1, 2, 3], [2, 3, 4]])
    np.testing.assert_array_equal(targets[:, :, 0], [[3], [4], [5]])
    assert inputs.shape == (3, 3, 1) and targets.shape == (3, 1, 1)


def test_windows_multi_step_horizon_and_stride():
    inputs, targets = make_windows(np.arange(10), lookback=3, horizon=2, stride=2)
    np.testing.assert_array_equal(inputs[:, :, 0], [[0, 1, 2], [2, 3, 4], [4, 5, 6]])
    np.testing.assert_array_equal(targets[:, :, 0], [[3, 4], [5, 6], [7, 8]])


def test_windows_never_contain_their_own_target():
    inputs, targets = make_windows(np.arange(50), lookback=7, horizon=3, stride=2)
    assert np.all(inputs[:, -1, 0] + 1 == targets[:, 0, 0])  # target starts right after input
    assert np.all(inputs.max(axis=1) < targets.min(axis=1))


def test_windows_of_a_multivariate_series_keep_features_on_the_last_axis():
    series = np.arange(12).reshape(6, 2)  # feature 0 even numbers, feature 1 odd numbers
    inputs, targets = make_windows(series, lookback=2, horizon=1)
    assert inputs.shape == (4, 2, 2) and targets.shape == (4, 1, 2)
    np.testing.assert_array_equal(inputs[0], [[0, 1], [2, 3]])
    np.testing.assert_array_equal(targets[-1], [[10, 11]])


def test_windows_target_columns_select_the_target_feature():
    series = np.arange(12.0).reshape(6, 2)
    inputs, targets = make_windows(series, lookback=2, horizon=2, target_columns=[1])
    assert inputs.shape == (3, 2, 2) and targets.shape == (3, 2, 1)
    np.testing.assert_array_equal(targets[:, :, 0], [[5, 7], [7, 9], [9, 11]])


def test_windows_are_read_only_views_of_the_input():
    series = np.arange(1000.0)
    inputs, targets = make_windows(series, lookback=20, horizon=5)
    assert np.shares_memory(inputs, series) and np.shares_memory(targets, series)
    assert inputs.base is not None and not inputs.flags.writeable
    assert inputs.dtype == series.dtype
    with pytest.raises(ValueError, match="read-only"):
        inputs[0, 0, 0] = -1.0
    assert series[0] == 0.0


@pytest.mark.parametrize(
    "length, lookback, horizon, stride",
    [(6, 3, 1, 1), (20, 5, 1, 1), (20, 5, 3, 1), (20, 5, 3, 2), (21, 5, 3, 4), (8, 7, 1, 1), (100, 12, 12, 5)],
)
def test_number_of_windows_follows_the_formula(length, lookback, horizon, stride):
    inputs, targets = make_windows(np.arange(length), lookback, horizon, stride)
    expected = (length - lookback - horizon) // stride + 1
    assert inputs.shape == (expected, lookback, 1)
    assert targets.shape == (expected, horizon, 1)
    # the last window's target never runs past the end of the series
    assert targets[-1, -1, 0] <= length - 1


def test_windows_accept_lists():
    inputs, targets = make_windows([1.5, 2.5, 3.5], lookback=2)
    np.testing.assert_array_equal(inputs, [[[1.5], [2.5]]])
    np.testing.assert_array_equal(targets, [[[3.5]]])


def test_series_shorter_than_lookback_plus_horizon_says_reduce_lookback():
    with pytest.raises(ValueError, match="reduce `lookback`") as info:
        make_windows(np.arange(5), lookback=5, horizon=1)
    assert "series has 5 points" in str(info.value) and "at least 6" in str(info.value)


@pytest.mark.parametrize("name", ["lookback", "horizon", "stride"])
def test_window_sizes_below_one_are_rejected(name):
    arguments = {"lookback": 3, "horizon": 1, "stride": 1, name: 0}
    with pytest.raises(ValueError, match=f"`{name}` must be an integer >= 1; got 0"):
        make_windows(np.arange(10), **arguments)


def test_non_integer_lookback_is_a_type_error():
    with pytest.raises(TypeError, match=r"`lookback` must be an integer >= 1; got 2.5"):
        make_windows(np.arange(10), lookback=2.5)
    inputs, _ = make_windows(np.arange(10), lookback=np.int64(4))
    assert inputs.shape == (6, 4, 1)


def test_non_numeric_series_is_a_type_error():
    with pytest.raises(TypeError, match="series must hold numbers.*got dtype <U1"):
        make_windows(["a", "b", "c", "d"], lookback=2)
    with pytest.raises(TypeError, match="got dtype object"):
        make_windows([1.0, None, 3.0, 4.0], lookback=2)


def test_nan_and_inf_are_reported_with_their_position():
    series = np.arange(10.0)
    series[4] = np.nan
    series[7] = np.inf
    with pytest.raises(ValueError, match="2 NaN or infinite values \\(first at time step 4\\)"):
        make_windows(series, lookback=2)


def test_wrong_ndim_and_empty_series_are_rejected():
    with pytest.raises(ValueError, match=r"1-D \(T,\) or 2-D \(T, F\), got shape \(2, 5, 1\)"):
        make_windows(np.zeros((2, 5, 1)), lookback=2)
    with pytest.raises(ValueError, match="series is empty"):
        make_windows(np.array([]), lookback=2)


def test_target_columns_out_of_range_are_rejected():
    with pytest.raises(ValueError, match=r"feature indices in 0..1 \(the series has 2 features\), got \[2\]"):
        make_windows(np.zeros((10, 2)), lookback=2, target_columns=[2])


# --- time_split ---------------------------------------------------------------------------

def test_time_split_of_the_demo_trains_on_the_first_13_of_20_points():
    split = time_split(20, 0.67)
    assert split == 13
    series = np.arange(20)
    np.testing.assert_array_equal(series[:split], np.arange(13))
    np.testing.assert_array_equal(series[split:], np.arange(13, 20))


@pytest.mark.parametrize("n, fraction, expected", [(144, 0.67, 96), (100, 0.8, 80), (10, 0.25, 2), (2, 0.5, 1)])
def test_time_split_rounds_to_the_nearest_index(n, fraction, expected):
    assert time_split(n, fraction) == expected


@pytest.mark.parametrize("fraction", [0.0, 1.0, 1.5, -0.2, float("nan"), "0.5"])
def test_time_split_rejects_fractions_outside_zero_one(fraction):
    with pytest.raises(ValueError, match=r"`train_fraction` must be a number in \(0, 1\); got .*Pass e.g. train_fraction=0.67"):
        time_split(20, fraction)


def test_time_split_that_leaves_a_part_empty_is_rejected():
    with pytest.raises(ValueError, match="leaves the test part empty"):
        time_split(10, 0.99)
    with pytest.raises(ValueError, match="leaves the training part empty"):
        time_split(10, 0.01)
    with pytest.raises(ValueError, match="`n` must be an integer >= 2; got 1. Each part needs a point."):
        time_split(1, 0.5)


# --- scalers ------------------------------------------------------------------------------

@pytest.mark.parametrize("scaler", [MinMaxScaler(), MinMaxScaler(feature_range=(-1, 1)), StandardScaler()])
def test_inverse_transform_undoes_transform(scaler):
    data = np.random.default_rng(0).normal(10.0, 3.0, size=(50, 3))
    scaled = scaler.fit_transform(data)
    assert scaled.shape == data.shape
    np.testing.assert_allclose(scaler.inverse_transform(scaled), data, rtol=1e-12)


def test_min_max_scaler_maps_train_range_to_feature_range():
    data = np.array([[1.0, -5.0], [3.0, 5.0], [2.0, 0.0]])
    scaled = MinMaxScaler(feature_range=(-1, 1)).fit_transform(data)
    np.testing.assert_allclose(scaled, [[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0]])


def test_standard_scaler_gives_zero_mean_unit_std():
    data = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 60.0]])
    scaler = StandardScaler().fit(data)
    np.testing.assert_allclose(scaler.mean, [2.0, 30.0])
    np.testing.assert_allclose(scaler.scale, [np.sqrt(2 / 3), np.sqrt(1400 / 3)])  # ddof=0
    scaled = scaler.transform(data)
    np.testing.assert_allclose(scaled.mean(axis=0), [0.0, 0.0], atol=1e-15)
    np.testing.assert_allclose(scaled.std(axis=0), [1.0, 1.0])


def test_scaler_fitted_on_train_part_does_not_see_test_values():
    series = np.arange(20.0)  # a rising series: the test part is above everything in train
    split = time_split(len(series), 0.67)
    scaler = MinMaxScaler().fit(series[:split])
    assert scaler.data_min.tolist() == [0.0] and scaler.data_max.tolist() == [12.0]
    scaled = scaler.transform(series)
    np.testing.assert_allclose(scaled[:split], np.arange(13) / 12)
    assert scaled[split - 1] == 1.0
    assert np.all(scaled[split:] > 1.0)
    np.testing.assert_allclose(scaled[-1], 19 / 12)


def test_one_dimensional_series_is_one_feature_and_keeps_its_shape():
    scaler = MinMaxScaler().fit([10.0, 20.0, 30.0])
    assert scaler.data_min.shape == (1,)
    np.testing.assert_allclose(scaler.transform([15.0, 40.0]), [0.25, 1.5])
    windows = scaler.transform(np.array([[[10.0], [20.0]], [[20.0], [30.0]]]))  # (N, lookback, 1)
    np.testing.assert_allclose(windows[:, :, 0], [[0.0, 0.5], [0.5, 1.0]])


def test_scalers_keep_float32_and_turn_ints_into_float64():
    scaler = MinMaxScaler().fit(np.arange(5))
    assert scaler.transform(np.arange(5)).dtype == np.float64
    out = scaler.transform(np.arange(5, dtype=np.float32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0.0, 0.25, 0.5, 0.75, 1.0])


@pytest.mark.parametrize("value", [0.1, 15.3, 579.96, 0.0])
def test_constant_series_does_not_divide_by_zero(value):
    series = np.full(20, value)
    minmax = MinMaxScaler().fit(series)
    standard = StandardScaler().fit(series)
    np.testing.assert_array_equal(minmax.scale, [1.0])
    np.testing.assert_array_equal(standard.scale, [1.0])
    np.testing.assert_array_equal(minmax.transform(series), np.zeros(20))
    np.testing.assert_array_equal(standard.transform(series), np.zeros(20))
    np.testing.assert_allclose(standard.inverse_transform(np.zeros(3)), [value] * 3)


def test_constant_feature_next_to_a_varying_one():
    data = np.array([[5.0, 0.0], [5.0, 2.0], [5.0, 4.0]])
    np.testing.assert_allclose(MinMaxScaler().fit_transform(data), [[0.0, 0.0], [0.0, 0.5], [0.0, 1.0]])


@pytest.mark.parametrize("cls", [MinMaxScaler, StandardScaler])
def test_transform_before_fit_is_a_clear_error(cls):
    with pytest.raises(ValueError, match=f"{cls.__name__} is not fitted yet. Call fit"):
        cls().transform([1.0, 2.0])
    with pytest.raises(ValueError, match="not fitted yet"):
        cls().inverse_transform([1.0, 2.0])
    with pytest.raises(ValueError, match="not fitted yet"):
        cls().state()


def test_transform_with_other_number_of_features_is_rejected():
    scaler = StandardScaler().fit(np.zeros((4, 2)) + np.arange(4)[:, None])
    with pytest.raises(ValueError, match=r"fitted on 2 feature\(s\) but data has shape \(4, 3\)"):
        scaler.transform(np.zeros((4, 3)))


def test_scaler_input_is_validated():
    with pytest.raises(ValueError, match="data contains 1 NaN or infinite values"):
        MinMaxScaler().fit([1.0, np.nan, 3.0])
    with pytest.raises(TypeError, match="data must hold numbers"):
        StandardScaler().fit(["1", "2"])
    with pytest.raises(ValueError, match="data is empty"):
        MinMaxScaler().fit([])
    with pytest.raises(ValueError, match=r"low < high, got \(1, 0\)"):
        MinMaxScaler(feature_range=(1, 0))


@pytest.mark.parametrize("cls, config", [(MinMaxScaler, {"feature_range": (-1.0, 1.0)}), (StandardScaler, {})])
def test_scaler_config_round_trip(cls, config):
    scaler = cls.from_config(config)
    assert scaler.get_config() == config
    rebuilt = cls.from_config(json.loads(json.dumps(scaler.get_config())))
    assert rebuilt.get_config() == config


@pytest.mark.parametrize("scaler", [MinMaxScaler(feature_range=(-1, 1)), StandardScaler()])
def test_fitted_scaler_survives_a_json_round_trip(scaler):
    data = np.random.default_rng(1).uniform(-3.0, 7.0, size=(30, 2))
    scaler.fit(data[:20])
    text = json.dumps(scaler.state())
    state = json.loads(text)
    assert state["class_name"] == type(scaler).__name__
    assert all(isinstance(value, float) for name in type(scaler)._fitted_names for value in state[name])
    rebuilt = type(scaler).from_state(state)
    assert rebuilt.get_config() == scaler.get_config()
    np.testing.assert_array_equal(rebuilt.transform(data), scaler.transform(data))
    np.testing.assert_array_equal(rebuilt.inverse_transform(data), scaler.inverse_transform(data))


def test_from_state_rejects_another_scalers_state():
    state = MinMaxScaler().fit([1.0, 2.0]).state()
    with pytest.raises(ValueError, match="state is for 'MinMaxScaler', not 'StandardScaler'"):
        StandardScaler.from_state(state)
    state["data_max"] = [2.0, 3.0]
    with pytest.raises(ValueError, match="one number per feature"):
        MinMaxScaler.from_state(state)


def test_importing_data_does_not_import_pandas():
    import subprocess
    import sys

    code = "import sys, lstmkit.data; print('pandas' in sys.modules, 'matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]
