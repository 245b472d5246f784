"""Series on disk (lstmkit.storage, exported from lstmkit.data): the windows equal the in-memory
ones, long-format windows never cross series, and resident memory stays below the file's size."""

import os
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lstmkit import Sequential
from lstmkit.data import LongParquet, SeriesFile, WindowedSeries, make_windows, open_parquet_series, write_npy
from lstmkit.layers import LSTM, Dense


def in_memory(series, lookback, horizon=1):
    """The windows as make_windows cuts them, as float32 (x, y) with y flattened."""
    inputs, targets = make_windows(series, lookback, horizon)
    return inputs.astype(np.float32), targets.reshape(len(targets), -1).astype(np.float32)


def every_window(windows):
    return windows.batch(np.arange(len(windows)))


def resident_mib():
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return int(fields["VmRSS"].split()[0]) / 1024


# --- .npy files and memmaps -------------------------------------------------------------------

def test_series_file_reads_the_windows_make_windows_cuts(tmp_path):
    series = np.random.default_rng(0).normal(size=(3000, 3)).astype(np.float32)
    np.save(tmp_path / "series.npy", series)
    file = SeriesFile(tmp_path / "series.npy")
    assert (file.shape, file.dtype, len(file)) == ((3000, 3), np.float32, 3000)
    inputs, _ = make_windows(series, 9, 1)
    # adjacent and repeated starts share a read; far-apart ones are read one by one
    starts = np.array([5, 0, 2990, 6, 6, 1500, 1501, 7, 2000])
    np.testing.assert_array_equal(file.read_windows(starts, 9), inputs[starts])
    np.testing.assert_array_equal(file.read_rows(10, 20), series[10:20])
    assert file.read_windows(np.array([], dtype=np.int64), 9).shape == (0, 9, 3)
    with pytest.raises(IndexError, match=r"must start in 0\.\.2991"):
        file.read_windows(np.array([2992]), 9)


@pytest.mark.parametrize("features", [None, 2])
def test_a_memmap_is_read_from_its_place_in_the_file(tmp_path, features):
    shape = (500,) if features is None else (500, features)
    series = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    np.save(tmp_path / "series.npy", series)
    view = np.load(tmp_path / "series.npy", mmap_mode="r")[37:]  # a view: its rows start mid-file
    windows = WindowedSeries(view, 6, 2)
    assert isinstance(windows.series, SeriesFile)
    x, y = in_memory(series[37:], 6, 2)
    x_b, y_b = every_window(windows)
    np.testing.assert_array_equal(x_b, x)
    np.testing.assert_array_equal(y_b, y)


def test_a_copy_on_write_memmap_keeps_its_changes(tmp_path):
    np.save(tmp_path / "series.npy", np.arange(20.0))
    changed = np.load(tmp_path / "series.npy", mmap_mode="c")
    changed[3] = -1.0  # only in memory: the file still holds 3
    windows = WindowedSeries(changed, 4)
    assert not isinstance(windows.series, SeriesFile)
    assert windows.batch(np.array([0]))[0][0, 3, 0] == -1.0


def test_write_npy_writes_chunk_by_chunk_and_refuses_a_wrong_total(tmp_path):
    chunks = [np.arange(s, s + 100, dtype=np.float32).reshape(50, 2) for s in range(0, 1000, 100)]
    file = write_npy(tmp_path / "series.npy", iter(chunks), rows=500)
    np.testing.assert_array_equal(np.load(tmp_path / "series.npy"), np.concatenate(chunks))
    assert file.shape == (500, 2)
    with pytest.raises(ValueError, match="the chunks hold 500 rows but rows=600"):
        write_npy(tmp_path / "short.npy", iter(chunks), rows=600)
    with pytest.raises(ValueError, match="give every chunk the same dtype"):
        write_npy(tmp_path / "mixed.npy", iter([chunks[0], chunks[1].astype(np.float64)]), rows=100)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["series.npy"]  # nothing half-written is left


def test_bad_series_files_say_what_to_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="no series file"):
        SeriesFile(tmp_path / "missing.npy")
    (tmp_path / "text.npy").write_text("not an array")
    with pytest.raises(ValueError, match="is not a .npy file.*np.save"):
        SeriesFile(tmp_path / "text.npy")
    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match=r"shape \(2, 3, 4\); a series is 1-D"):
        SeriesFile(tmp_path / "cube.npy")
    np.save(tmp_path / "flags.npy", np.zeros(5, dtype=bool))
    with pytest.raises(TypeError, match="holds bool"):
        SeriesFile(tmp_path / "flags.npy")
    values = np.arange(10.0)
    values[7] = np.nan
    np.save(tmp_path / "gap.npy", values)
    with pytest.raises(ValueError, match="first at time step 7"):
        WindowedSeries(np.load(tmp_path / "gap.npy", mmap_mode="r"), 3)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_reading_every_window_keeps_resident_memory_below_the_file(tmp_path):
    points, chunk = 10_000_000, 1 << 20  # 40 MB of float32
    path = tmp_path / "long.npy"
    write_npy(path, (np.sin(np.arange(s, min(s + chunk, points), dtype=np.float32) / 50)
                     for s in range(0, points, chunk)), points)
    file_mib = os.path.getsize(path) / 2**20
    batch = 1 << 14
    # One batch of the same size first, so that what any first call allocates once (code loaded
    # lazily, the allocator's arenas in a test worker that ran other tests) is not counted.
    WindowedSeries(np.zeros(2 * batch, np.float32), lookback=24).batch(np.arange(batch))
    before = peak = resident_mib()
    windows = WindowedSeries(np.load(path, mmap_mode="r"), lookback=24)  # reads every value once for NaNs
    for start in range(0, len(windows), batch):
        x, _ = windows.batch(np.arange(start, min(start + batch, len(windows))))
        peak = max(peak, resident_mib())
    assert x[-1, -1, 0] == np.sin(np.float32(points - 2) / np.float32(50))  # the last window was read
    assert peak - before < file_mib / 8, f"resident memory grew {peak - before:.1f} MiB over a {file_mib:.0f} MiB file"


# --- a Parquet column -------------------------------------------------------------------------

def test_parquet_column_windows_equal_the_in_memory_ones_and_the_cache_is_reused(tmp_path):
    series = np.random.default_rng(1).normal(size=2500).astype(np.float32)
    path = tmp_path / "series.parquet"
    pq.write_table(pa.table({"time": np.arange(2500), "value": series}), path, row_group_size=300)
    file = open_parquet_series(path, "value")
    x, y = in_memory(series, 12, 3)
    x_b, y_b = every_window(WindowedSeries(file, 12, 3))
    np.testing.assert_array_equal(x_b, x)
    np.testing.assert_array_equal(y_b, y)
    written = os.stat(file.path).st_mtime_ns
    assert open_parquet_series(path, "value").path == file.path and os.stat(file.path).st_mtime_ns == written
    pq.write_table(pa.table({"value": series[:100]}), path)  # a changed file gets a new cache
    assert len(open_parquet_series(path, "value")) == 100


def test_bad_parquet_columns_say_what_to_fix(tmp_path):
    path = tmp_path / "series.parquet"
    values = np.arange(10.0)
    values[6] = np.nan
    pq.write_table(pa.table({"value": values, "label": list("abcdefghij"),
                             "count": pa.array([1, 2, None, 4, 5, 6, 7, 8, 9, 10])}), path)
    with pytest.raises(ValueError, match=r"unknown column 'valeu'; did you mean 'value'\? expected one of 'count', 'label', 'value'\. Pass one of the columns of series.parquet as `column`"):
        open_parquet_series(path, "valeu")
    with pytest.raises(TypeError, match="column 'label' of series.parquet holds string"):
        open_parquet_series(path, "label")
    with pytest.raises(ValueError, match=r"NaN or infinite values \(first at row 6\)"):
        open_parquet_series(path, "value")
    with pytest.raises(ValueError, match=r"missing values \(first at row 2\)"):
        open_parquet_series(path, "count")
    with pytest.raises(FileNotFoundError, match="cache_dir"):
        open_parquet_series(path, "value", cache_dir=tmp_path / "nowhere")
    assert [p.name for p in tmp_path.iterdir()] == ["series.parquet"]  # no cache was left behind


# --- many series in long format ---------------------------------------------------------------

LENGTHS = {"north": 40, "south": 25, "east": 60, "west": 31}


def long_frame(shuffle=True):
    """Series k of LENGTHS holds 1000 k + step at daily times; rows shuffled across series and time."""
    frames = [pd.DataFrame({"store": name, "date": pd.date_range("2024-01-01", periods=n, freq="D"),
                            "sales": 1000.0 * k + np.arange(n)}) for k, (name, n) in enumerate(LENGTHS.items())]
    frame = pd.concat(frames, ignore_index=True)
    return frame.sample(frac=1.0, random_state=0) if shuffle else frame


def write_long(tmp_path, frame, name="sales.parquet", row_group_size=20):
    path = tmp_path / name
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=row_group_size)
    return LongParquet(path, id_col="store", time_col="date", value_col="sales")


def test_ids_are_listed_from_the_id_column_alone(tmp_path, monkeypatch):
    table = write_long(tmp_path, long_frame())
    asked = []
    original = pq.ParquetFile.iter_batches
    def spy(self, **kwargs):
        asked.append(kwargs["columns"])
        return original(self, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", spy)
    assert table.ids() == sorted(LENGTHS)
    assert table.lengths() == dict(sorted(LENGTHS.items()))
    assert asked == [["store"]]


def test_reading_one_id_gives_its_values_in_time_order_from_its_row_groups_only(tmp_path, monkeypatch):
    frame = long_frame(shuffle=False).sort_values(["store", "date"])  # row groups then hold few stores
    table = write_long(tmp_path, frame)
    groups = []
    original = pq.ParquetFile.read_row_groups
    def spy(self, row_groups, **kwargs):
        groups.extend(row_groups)
        return original(self, row_groups, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_groups", spy)
    south = table.read("south")
    expected = frame[frame.store == "south"]
    np.testing.assert_array_equal(south.to_numpy(), expected.sales.to_numpy())
    assert (south.index == pd.DatetimeIndex(expected.date)).all() and south.index.is_monotonic_increasing
    rows_before_south = (frame.store < "south").sum()  # stores sort east, north, south, west
    assert groups == list(range(rows_before_south // 20, (rows_before_south + 25 - 1) // 20 + 1))
    shuffled = write_long(tmp_path, long_frame(), name="shuffled.parquet").read("west")
    np.testing.assert_array_equal(shuffled.to_numpy(), 3000.0 + np.arange(31))


def test_long_windows_equal_each_series_windows_and_never_cross(tmp_path):
    table = write_long(tmp_path, long_frame())
    windows = WindowedSeries.from_long_parquet(table, lookback=5, horizon=2)
    x_b, y_b = every_window(windows)
    expected = [in_memory(1000.0 * list(LENGTHS).index(name) + np.arange(LENGTHS[name]), 5, 2)
                for name in table.ids()]
    np.testing.assert_array_equal(x_b, np.concatenate([x for x, _ in expected]))
    np.testing.assert_array_equal(y_b, np.concatenate([y for _, y in expected]))
    # every window is consecutive steps of one series: values step by 1 from input to target
    steps = np.concatenate([x_b[:, :, 0], y_b], axis=1)
    assert len(windows) == sum(n - 6 for n in LENGTHS.values()) and (np.diff(steps, axis=1) == 1).all()
    tail = windows.subset(slice(30, 40))  # across the boundary of the first two series
    np.testing.assert_array_equal(tail.batch(np.arange(10))[0], x_b[30:40])


def test_the_long_format_cache_is_written_once(tmp_path):
    path = write_long(tmp_path, long_frame()).path
    values, lengths = LongParquet(path, "store", "date", "sales").to_npy()
    written = os.stat(values.path).st_mtime_ns
    again, lengths_again = LongParquet(path, "store", "date", "sales").to_npy()
    assert again.path == values.path and os.stat(values.path).st_mtime_ns == written
    np.testing.assert_array_equal(lengths, lengths_again)
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json", ".npy", ".parquet"]


def test_fit_trains_from_a_long_parquet_file(tmp_path):
    table = write_long(tmp_path, long_frame())
    windows = WindowedSeries.from_long_parquet(table, lookback=4, relative=True)
    model = Sequential([LSTM(3, input_shape=(4, 1)), Dense(1)])
    model.compile(loss="mse", optimizer="adam")
    history = model.fit(windows, epochs=2, batch_size=16, steps_per_epoch=3, verbose=0, seed=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()


def test_bad_long_format_input_says_what_to_fix(tmp_path):
    frame = long_frame()
    path = write_long(tmp_path, frame).path
    with pytest.raises(ValueError, match=r"unknown column 'day'; did you mean 'date'\? expected one of 'date', 'sales', 'store'\. Pass one of the columns of sales.parquet as `time_col`"):
        LongParquet(path, id_col="store", time_col="day", value_col="sales")
    with pytest.raises(TypeError, match="column 'store' of sales.parquet holds large_string; `value_col` must name"):
        LongParquet(path, id_col="store", time_col="date", value_col="store")
    table = LongParquet(path, "store", "date", "sales")
    with pytest.raises(ValueError, match=r"unknown series store 'nort'; did you mean 'north'\?.*Pick an id of .* from ids\(\)"):
        table.read("nort")
    with pytest.raises(TypeError, match="store=3 has type int, but column 'store' holds large_string ids"):
        table.read(3)
    with pytest.raises(ValueError, match=r"1 of 4 series .* fewer than lookback=28 \+ horizon=3 = 31 points, "
                                         r"e.g. store='south' with 25. Reduce `lookback`"):
        WindowedSeries.from_long_parquet(table, lookback=28, horizon=3)
    for bad, wording in [(np.nan, "has missing values"), (np.inf, "holds NaN or infinite values")]:
        changed = frame.copy()  # pandas writes NaN as a missing value, inf as itself
        changed.loc[(changed.store == "east") & (changed.date == "2024-01-05"), "sales"] = bad
        with pytest.raises(ValueError, match=rf"column 'sales' .* {wording} \(first at store='east', date=2024-01-05"):
            WindowedSeries.from_long_parquet(write_long(tmp_path, changed, f"{wording[:3]}.parquet"), lookback=3)
    repeated = pd.concat([frame, frame[(frame.store == "west") & (frame.date == "2024-01-09")]])
    with pytest.raises(ValueError, match=r"series 'west' .* two values at date=2024-01-09.*one row per id and time"):
        WindowedSeries.from_long_parquet(write_long(tmp_path, repeated, "repeated.parquet"), lookback=3)
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".parquet"] * 4  # failed runs leave no cache
