import numpy as np
import pandas as pd
import pytest

from lstmkit import datasets

# name: (loader, length, first time, last time, freq, series name, first value, last value, mean)
KNOWN = {
    "temperatures": (datasets.load_temperatures, 20, "2024-04-01", "2024-04-20", "D", "temperature", 14.2, 15.5, 16.01),
    "airline_passengers": (datasets.load_airline_passengers, 144, "1949-01-01", "1960-12-01", "MS", "passengers",
                           112.0, 432.0, 280.298611),
    "nile": (datasets.load_nile, 100, "1871-01-01", "1970-01-01", "YS-JAN", "flow", 1120.0, 740.0, 919.35),
    "lake_huron": (datasets.load_lake_huron, 98, "1875-01-01", "1972-01-01", "YS-JAN", "level",
                   580.38, 579.96, 579.004082),
}


def test_list_datasets_names_every_loader():
    assert datasets.list_datasets() == ["temperatures", "airline_passengers", "nile", "lake_huron"]


@pytest.mark.parametrize("name", list(KNOWN))
def test_dataset_shape_index_and_known_values(name):
    loader, length, first_time, last_time, freq, series_name, first, last, mean = KNOWN[name]
    series = loader()
    assert isinstance(series, pd.Series) and series.shape == (length,)
    assert series.name == series_name and series.dtype == np.float64
    assert isinstance(series.index, pd.DatetimeIndex)
    assert series.index.freqstr == freq
    assert series.index[0] == pd.Timestamp(first_time) and series.index[-1] == pd.Timestamp(last_time)
    assert series.index.is_monotonic_increasing and series.index.is_unique
    assert not series.isna().any()
    assert series.iloc[0] == first and series.iloc[-1] == last
    assert series.mean() == pytest.approx(mean, abs=1e-6)
    pd.testing.assert_series_equal(datasets.load_dataset(name), series)


def test_temperatures_are_exactly_the_tutorial_stand_in_values():
    expected = [14.2, 15.1, 16.3, 15.8, 14.9, 13.7, 14.4, 15.9, 17.2, 17.8,
                16.9, 15.6, 14.8, 15.3, 16.7, 17.9, 18.4, 17.6, 16.2, 15.5]
    series = datasets.load_temperatures()
    assert series.tolist() == expected
    assert series.index.name == "date"
    pd.testing.assert_index_equal(
        series.index, pd.date_range("2024-04-01", periods=20, freq="D", name="date", unit=series.index.unit)
    )


def test_airline_passengers_known_months():
    series = datasets.load_airline_passengers()
    assert series["1949-01-01":"1949-06-01"].tolist() == [112, 118, 132, 129, 121, 135]
    assert series["1960-07-01"] == 622.0  # the series maximum
    assert series.max() == 622.0 and series.min() == 104.0
    assert series.sum() == 40363.0


def test_nile_known_years():
    series = datasets.load_nile()
    assert series.iloc[:5].tolist() == [1120, 1160, 963, 1210, 1160]
    assert series["1913-01-01"] == 456.0  # the driest year, the series minimum
    assert series.min() == 456.0 and series.max() == 1370.0
    assert series.index.year.tolist() == list(range(1871, 1971))


def test_lake_huron_known_years():
    series = datasets.load_lake_huron()
    assert series.iloc[:3].tolist() == [580.38, 581.86, 580.97]
    assert series["1964-01-01"] == 575.96  # the lowest level, the series minimum
    assert series.min() == 575.96 and series.max() == 581.86
    assert series.index.year.tolist() == list(range(1875, 1973))


def test_unknown_dataset_suggests_close_names():
    with pytest.raises(ValueError, match="unknown dataset 'airline'; did you mean 'airline_passengers'"):
        datasets.load_dataset("airline")
    with pytest.raises(ValueError, match="unknown dataset 'sunspots'; expected one of 'airline_passengers', "):
        datasets.load_dataset("sunspots")


def test_importing_datasets_does_not_import_pandas():
    import subprocess
    import sys

    code = "import sys, lstmkit.datasets; print('pandas' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False"]


def test_tutorial_pipeline_on_the_temperatures():
    from lstmkit.data import MinMaxScaler, make_windows, time_split

    series = datasets.load_temperatures()
    split = time_split(len(series), 0.67)
    scaler = MinMaxScaler().fit(series.iloc[:split])  # train: 14.2 .. 17.8 (first 13 days)
    assert (split, scaler.data_min.tolist(), scaler.data_max.tolist()) == (13, [13.7], [17.8])
    scaled = scaler.transform(series)
    inputs, targets = make_windows(scaled[:split], lookback=3)
    assert inputs.shape == (10, 3, 1) and targets.shape == (10, 1, 1)
    np.testing.assert_allclose(inputs[0, :, 0], (np.array([14.2, 15.1, 16.3]) - 13.7) / 4.1)
    np.testing.assert_allclose(scaler.inverse_transform(targets[:, 0, 0]), series.iloc[3:13].to_numpy())
    assert scaled[split:].max() > 1.0  # 18.4 on day 17 is above anything the scaler saw
