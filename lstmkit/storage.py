"""Series stored on disk, read without loading them: .npy files and Parquet.

- `SeriesFile`: a (T,) or (T, F) series in a .npy file, read with positional reads.
- `write_npy`: write such a file chunk by chunk, so the series is never whole in memory.
- `open_parquet_series`: a column of a Parquet file, streamed once into a cached .npy.
- `LongParquet`: many series in one Parquet file in long format (id, time, value): the ids, one
  series by id, or every series one after another in a cached .npy.

`lstmkit.data.WindowedSeries` cuts training windows from a SeriesFile batch by batch.

Why positional reads rather than np.memmap: pages of a file mapping that were read count in the
process's resident memory until they are unmapped, so one pass over a 400 MB memmap leaves
~400 MB resident, and where the page cache holds large folios one touch maps up to 2 MB. Reading
each batch's rows with seek + readinto keeps resident memory at the batch. Measured on a
100M-point float32 file, batches of 256 random windows of 25 rows: 0.6-0.9M windows/s, against
0.3-0.4M/s for a memmap released with madvise(MADV_DONTNEED) every 16 windows (an LSTM(16)
trains at ~70K windows/s on the same machine).

Files are written under a temporary name and renamed into place (lstmkit.atomic.atomic_write),
so a failed or interrupted run leaves no half-written cache.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import mmap
import numbers
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from lstmkit.atomic import atomic_write
from lstmkit.checks import choice, positive_int, unknown_name

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

__all__ = ["SeriesFile", "write_npy", "open_parquet_series", "LongParquet"]

GAP_BYTES = 8192  # windows closer than this share one read: copying the gap is cheaper than a second read
BATCH_ROWS = 1 << 20  # rows of a Parquet file held in memory at a time
CACHE_VERSION = 1


class SeriesFile:
    """A (T,) or (T, F) series in a .npy file, read with positional reads, never mapped.

    Resident memory is the rows asked for, however large the file. `WindowedSeries` takes one
    in place of an array (and reads an `np.memmap` through one itself).

    Args:
        path: a .npy file of a 1-D or 2-D numeric array (as written by np.save or `write_npy`).

    Raises:
        FileNotFoundError: no file at `path`.
        ValueError: not a .npy file, not 1-D or 2-D, or Fortran-ordered.
        TypeError: the array does not hold numbers.

    Example:
        >>> np.save("series.npy", np.arange(10.0))
        >>> series = SeriesFile("series.npy")
        >>> series.shape, series.read_windows(np.array([0, 6]), 3)[:, :, 0].tolist()
        ((10,), [[0.0, 1.0, 2.0], [6.0, 7.0, 8.0]])
    """

    def __init__(self, path: str | os.PathLike) -> None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no series file at {str(path)!r}; check the path.")
        with open(path, "rb") as handle:
            try:
                version = np.lib.format.read_magic(handle)
                read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                               (2, 0): np.lib.format.read_array_header_2_0}[version]
                shape, fortran_order, dtype = read_header(handle)
            except (ValueError, KeyError) as err:
                raise ValueError(
                    f"{str(path)!r} is not a .npy file of version 1 or 2 ({err}). "
                    "Write the series with np.save or lstmkit.data.write_npy."
                ) from None
            position = handle.tell()
        if fortran_order and len(shape) > 1:
            raise ValueError(f"{str(path)!r} holds a Fortran-ordered array; save it C-ordered: "
                             "np.save(path, np.ascontiguousarray(series)).")
        self._describe(path, position, dtype, shape)

    @classmethod
    def from_memmap(cls, array: np.memmap) -> "SeriesFile":
        """The series an `np.memmap` (or a view of one) maps, read from its file instead.

        Raises:
            ValueError: `array` is not C-contiguous, or is copy-on-write (mode "c"), whose
                changes are not in the file.
        """
        if not array.flags.c_contiguous or array.mode == "c":
            raise ValueError(
                f"a memmap can be read from its file only when it is C-contiguous and not copy-on-write; "
                f"got mode {array.mode!r}, C-contiguous {array.flags.c_contiguous}. "
                "Open the file with np.load(path, mmap_mode='r') and take whole rows."
            )
        # np.memmap maps the file from `offset` rounded down to the allocation granularity; a view's
        # place in the file is its distance from the start of that mapping.
        mapped_from = array.offset - array.offset % mmap.ALLOCATIONGRANULARITY
        mapping_address = np.frombuffer(array._mmap, np.uint8).ctypes.data
        return cls._region(Path(array.filename), mapped_from + array.ctypes.data - mapping_address,
                           array.dtype, array.shape)

    @classmethod
    def _region(cls, path: Path, position: int, dtype: np.dtype, shape: tuple[int, ...]) -> "SeriesFile":
        """The C-ordered array of `dtype` and `shape` whose first value is at byte `position` of `path`."""
        series = cls.__new__(cls)
        series._describe(path, position, dtype, shape)
        return series

    def _describe(self, path: Path, position: int, dtype: np.dtype, shape: tuple[int, ...]) -> None:
        dtype = np.dtype(dtype)
        if dtype.kind not in "iuf":
            raise TypeError(f"{str(path)!r} holds {dtype}; a series must hold numbers (int or float).")
        if len(shape) not in (1, 2):
            raise ValueError(f"{str(path)!r} holds shape {tuple(shape)}; a series is 1-D (T,) or 2-D (T, F).")
        self.path, self.position, self.dtype, self.shape = path, int(position), dtype, tuple(shape)
        self.n_features = shape[1] if len(shape) == 2 else 1
        self._row_bytes = dtype.itemsize * self.n_features

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"SeriesFile({str(self.path)!r}, shape={self.shape}, dtype={self.dtype})"

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows start .. stop-1 as a new array: (stop - start,) or (stop - start, F) like the file."""
        rows = self.read_windows(np.array([start]), stop - start)[0]
        return rows[:, 0] if self.ndim == 1 else rows

    def read_windows(self, starts: np.ndarray, length: int) -> np.ndarray:
        """The `length` rows from each of `starts` (B,): a (B, length, F) array, one feature for a 1-D file.

        Windows are read in file order, and windows closer than GAP_BYTES share one read, so a run
        of consecutive windows costs one read and scattered ones one read each.

        Raises:
            IndexError: a window would begin before row 0 or end after the last row.
        """
        starts = np.asarray(starts, dtype=np.int64)
        if len(starts) == 0:
            return np.empty((0, length, self.n_features), self.dtype)
        if starts.min() < 0 or starts.max() > len(self) - length:
            raise IndexError(f"windows of {length} rows must start in 0..{len(self) - length} "
                             f"({len(self)} rows), got {starts.min()}..{starts.max()}.")
        order = np.argsort(starts, kind="stable")
        ordered = starts[order]
        opens_span = np.empty(len(ordered), dtype=bool)  # True where a window starts a new read
        opens_span[0] = True
        np.greater(np.diff(ordered), length + GAP_BYTES // self._row_bytes, out=opens_span[1:])
        firsts = np.flatnonzero(opens_span)
        span_starts = ordered[firsts]
        span_rows = ordered[np.r_[firsts[1:], len(ordered)] - 1] + length - span_starts
        rows = self._read_spans(span_starts, span_rows)  # the spans one after another
        placed_at = np.cumsum(span_rows) - span_rows  # where each span begins in `rows`
        span = np.cumsum(opens_span) - 1  # the span of each ordered window
        where = np.empty_like(starts)
        where[order] = placed_at[span] + ordered - span_starts[span]
        # (N - length + 1, F, length) views of `rows`; indexing copies just the B windows.
        return sliding_window_view(rows, length, axis=0)[where].transpose(0, 2, 1)

    def _read_spans(self, span_starts: np.ndarray, span_rows: np.ndarray) -> np.ndarray:
        """Rows span_starts[s] .. span_starts[s] + span_rows[s] - 1 of every span s, one span after
        another: a read-only (sum of span_rows, F) array."""
        width = self._row_bytes
        parts = []
        with open(self.path, "rb", buffering=0) as handle:
            for begin, count in zip(span_starts.tolist(), span_rows.tolist()):
                handle.seek(self.position + begin * width)
                parts.append(handle.read(count * width))
        data = b"".join(parts)
        if len(data) != int(span_rows.sum()) * width:
            raise ValueError(f"{str(self.path)!r} is shorter than its header says; "
                             "was it truncated after it was opened?")
        return np.frombuffer(data, self.dtype).reshape(-1, self.n_features)


def _write_npy_header(handle: BinaryIO, dtype: np.dtype, shape: tuple[int, ...]) -> int:
    """Write a .npy header for a C-ordered array; returns the offset of its first value."""
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(handle, header)
    return handle.tell()


def write_npy(path: str | os.PathLike, chunks: Iterable[np.ndarray], rows: int) -> SeriesFile:
    """Write a (rows,) or (rows, F) series to a .npy file chunk by chunk; returns it as a SeriesFile.

    Memory is one chunk. The file is written under a temporary name and renamed into place.

    Args:
        path: the .npy file to write.
        chunks: consecutive pieces of the series, all of one dtype and feature count.
        rows: their total length (the header is written first).

    Raises:
        ValueError: the chunks hold another number of rows, or differ in dtype or features.

    Example:
        >>> chunks = (np.arange(s, s + 1000, dtype=np.float32) for s in range(0, 10_000, 1000))
        >>> write_npy("series.npy", chunks, rows=10_000).shape
        (10000,)
    """
    positive_int(rows, "rows", hint="It is the series' length.")
    pieces = iter(chunks)
    first = next(pieces, None)
    if first is None:
        raise ValueError(f"no chunks to write to {str(path)!r}; pass at least one array.")
    first = np.asarray(first)
    if first.dtype.kind not in "iuf" or first.ndim not in (1, 2):
        raise TypeError(f"chunks must be 1-D (n,) or 2-D (n, F) arrays of numbers, got {first.dtype} {first.shape}.")
    dtype, features = first.dtype, first.shape[1:]

    def write(tmp: str) -> None:
        written = 0
        with open(tmp, "wb") as handle:
            _write_npy_header(handle, dtype, (rows, *features))
            for chunk in itertools.chain([first], pieces):
                chunk = np.ascontiguousarray(chunk)
                if chunk.dtype != dtype or chunk.shape[1:] != features:
                    raise ValueError(f"a chunk of {chunk.dtype} {chunk.shape} follows chunks of {dtype} "
                                     f"{first.shape}; give every chunk the same dtype and features.")
                handle.write(chunk.data)
                written += len(chunk)
        if written != rows:
            raise ValueError(f"the chunks hold {written} rows but rows={rows}; pass the total length.")

    atomic_write(path, write)
    return SeriesFile(path)


def _parquet_file(path: str | os.PathLike) -> "pq.ParquetFile":
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no Parquet file at {str(path)!r}; check the path.")
    try:
        # pre_buffer would keep every range read so far cached: memory growing to the file's size.
        return pq.ParquetFile(path, pre_buffer=False)
    except pa.ArrowException as err:
        raise ValueError(f"{str(path)!r} is not a readable Parquet file ({err}).") from None


def _column_type(parquet: "pq.ParquetFile", path: Path, name: str, argument: str, kinds: str
                 ) -> "pa.DataType":
    """The Arrow type of column `name`, which must be of `kinds`: letters of i(nt) f(loat) s(tring) t(ime)."""
    import pyarrow.types as types

    schema = parquet.schema_arrow
    choice(name, argument, schema.names, kind="column", hint=f"Pass one of the columns of {path.name} as `{argument}`.")
    kind_of = {"i": types.is_integer, "f": types.is_floating,
               "s": lambda t: types.is_string(t) or types.is_large_string(t),
               "t": lambda t: types.is_timestamp(t) or types.is_date(t)}
    words = {"i": "integers", "f": "floats", "s": "strings", "t": "dates or timestamps"}
    column_type = schema.field(name).type
    if not any(kind_of[kind](column_type) for kind in kinds):
        raise TypeError(f"column {name!r} of {path.name} holds {column_type}; `{argument}` must name a column of "
                        f"{' or '.join(words[kind] for kind in kinds)}. Convert it first, e.g. with pandas.")
    return column_type


def _cache_dir(path: Path, cache_dir: str | os.PathLike | None) -> Path:
    folder = path.parent if cache_dir is None else Path(cache_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"cache_dir {str(folder)!r} is not a folder; create it or pass another.")
    return folder


def _cache_name(path: Path, columns: tuple[str, ...]) -> str:
    """`<stem>.<digest>`: the digest changes when the file (size, modification time) or the columns do."""
    stat = path.stat()
    key = json.dumps([CACHE_VERSION, str(path.resolve()), stat.st_size, stat.st_mtime_ns, columns])
    return f"{path.stem}.{hashlib.sha1(key.encode()).hexdigest()[:16]}"


def _checked_values(column: "pa.Array", name: str, path: Path, describe: Callable[[int], str]) -> np.ndarray:
    """A column of a batch as numpy, refusing missing values and NaN/inf; `describe(r)` names batch row r."""
    if column.null_count:
        row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise ValueError(f"column {name!r} of {path.name} has missing values (first at {describe(row)}). "
                         "Fill or drop them first.")
    values = column.to_numpy(zero_copy_only=False)
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        row = int(np.flatnonzero(~np.isfinite(values))[0])
        raise ValueError(f"column {name!r} of {path.name} holds NaN or infinite values (first at {describe(row)}). "
                         "Fill or drop them first, e.g. with pandas' interpolate() or dropna().")
    return values


def open_parquet_series(path: str | os.PathLike, column: str = "value",
                        cache_dir: str | os.PathLike | None = None) -> SeriesFile:
    """One numeric column of a Parquet file as a SeriesFile, for training without loading it.

    The column is streamed once, BATCH_ROWS rows at a time, into a .npy file in `cache_dir`
    named after the Parquet file and a digest of its size, modification time and `column`; later
    calls on the unchanged file reuse it. Memory is one batch of rows (and the row group
    being decoded), never the column.

    Args:
        path: the Parquet file; rows in time order.
        column: the column holding the series (integers or floats).
        cache_dir: folder for the .npy cache (default: the Parquet file's folder).

    Returns:
        a (T,) SeriesFile, T the file's rows, of the column's dtype.

    Raises:
        FileNotFoundError: no such file or cache folder.
        ValueError: not Parquet, no such column (the close match is named), no rows, or missing
            or NaN values (the first row is named).
        TypeError: the column does not hold numbers.

    Example:
        >>> series = open_parquet_series("prices.parquet", column="close")
        >>> windows = WindowedSeries(series, lookback=24)   # cut batch by batch from the cache
    """
    path = Path(path)
    parquet = _parquet_file(path)
    _column_type(parquet, path, column, "column", "if")
    folder = _cache_dir(path, cache_dir)
    rows = parquet.metadata.num_rows
    if rows == 0:
        raise ValueError(f"{path.name} has no rows; pass a file holding the series.")
    target = folder / f"{_cache_name(path, (column,))}.npy"
    if not target.exists():
        def chunks() -> Iterator[np.ndarray]:
            done = 0
            for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=[column]):
                yield _checked_values(batch.column(0), column, path, lambda row: f"row {done + row}")
                done += batch.num_rows

        write_npy(target, chunks(), rows)
    return SeriesFile(target)


class LongParquet:
    """Many series in one Parquet file in long format, one row per (id, time, value), read by id.

    Only the columns and row groups needed are read. `lengths()` and `ids()` read the id column,
    a batch of rows at a time; `read(id)` reads only the row groups whose id statistics can hold
    that id; `to_npy()` writes every series one after another, in time order, into a .npy cache
    for `lstmkit.data.WindowedSeries.from_long_parquet`, which trains on it with memory independent
    of the file's size. Rows may come in any order.

    Args:
        path: the Parquet file.
        id_col: column naming the series (integers or strings).
        time_col: column ordering each series' values (integers, dates or timestamps).
        value_col: column of the values (integers or floats).
        cache_dir: folder for `to_npy`'s cache (default: the Parquet file's folder).

    Raises:
        FileNotFoundError: no such file or cache folder.
        ValueError: not Parquet, or a column is missing (the close match is named).
        TypeError: a column holds another type.

    Example:
        >>> sales = LongParquet("sales.parquet", id_col="store", time_col="date", value_col="sales")
        >>> sales.ids()[:3]
        ['north', 'south', 'west']
        >>> sales.read("south")            # a pandas Series indexed by date, in date order
        >>> windows = WindowedSeries.from_long_parquet(sales, lookback=28)
    """

    def __init__(self, path: str | os.PathLike, id_col: str = "id", time_col: str = "time",
                 value_col: str = "value", cache_dir: str | os.PathLike | None = None) -> None:
        self.path = Path(path)
        self._file = _parquet_file(self.path)
        self.id_col, self.time_col, self.value_col = id_col, time_col, value_col
        self._id_type = _column_type(self._file, self.path, id_col, "id_col", "is")
        _column_type(self._file, self.path, time_col, "time_col", "it")
        _column_type(self._file, self.path, value_col, "value_col", "if")
        self.cache_dir = _cache_dir(self.path, cache_dir)
        name = _cache_name(self.path, (id_col, time_col, value_col))
        self._values_path, self._index_path = self.cache_dir / f"{name}.npy", self.cache_dir / f"{name}.json"
        self._lengths: dict[Any, int] | None = None

    def lengths(self) -> dict[Any, int]:
        """Points of each series by id, ids in sorted order; reads only the id column (or the cache's index)."""
        if self._lengths is None:
            if self._index_path.exists():
                entries = json.loads(self._index_path.read_text())
                self._lengths = dict(zip(entries["ids"], entries["lengths"]))
            else:
                self._lengths = self._count_ids()
        return self._lengths

    def ids(self) -> list[Any]:
        """The ids of the series, sorted; reads only the id column (or the cache's index)."""
        return list(self.lengths())

    def read(self, series_id: Any) -> "pd.Series":
        """One series in time order: its values as a pandas Series indexed by time.

        Reads only the row groups whose statistics say they can hold `series_id`.

        Raises:
            TypeError: `series_id` is not of the id column's type.
            ValueError: no series has that id (the close matches are named).
        """
        import pandas as pd
        import pyarrow.compute as pc

        self._check_id(series_id)
        columns = [self.id_col, self.time_col, self.value_col]
        table = self._file.read_row_groups(self._row_groups_with(series_id), columns=columns)
        table = table.filter(pc.equal(table[self.id_col], series_id)).sort_by(self.time_col)
        if table.num_rows == 0:
            raise ValueError(unknown_name(f"series {self.id_col}", series_id, self.ids(),
                                          hint=f"Pick an id of {self.path.name} from ids()."))
        times = pd.Index(table[self.time_col].to_pandas(), name=self.time_col)
        return pd.Series(table[self.value_col].to_numpy(), index=times, name=self.value_col)

    def to_npy(self) -> tuple[SeriesFile, np.ndarray]:
        """Every series one after another, in `ids()` order and each in time order, and their lengths.

        Written once into `cache_dir` (values as .npy, ids and lengths as .json beside it) and
        reused while the file is unchanged. Memory is a batch of rows plus one number per series.

        Returns:
            a (sum of lengths,) SeriesFile of the value column's dtype, and lengths (n_series,)
            in `ids()` order: series k is rows offsets[k] .. offsets[k+1]-1, offsets = [0, *cumsum].

        Raises:
            ValueError: missing ids, times or values, NaN/inf values, or a time repeated within
                one series (each named by id and time).
        """
        lengths = self.lengths()
        counts = np.fromiter(lengths.values(), dtype=np.int64, count=len(lengths))
        if not (self._index_path.exists() and self._values_path.exists()):
            atomic_write(self._values_path, lambda tmp: self._write_values(tmp, counts))
            entries = {"format_version": CACHE_VERSION, "ids": list(lengths), "lengths": counts.tolist()}
            atomic_write(self._index_path, lambda tmp: Path(tmp).write_text(json.dumps(entries)))
        return SeriesFile(self._values_path), counts

    def _check_id(self, series_id: Any) -> None:
        import pyarrow.types as types

        wants_int = types.is_integer(self._id_type)
        is_int = isinstance(series_id, numbers.Integral) and not isinstance(series_id, bool)
        if (wants_int and not is_int) or (not wants_int and not isinstance(series_id, str)):
            raise TypeError(f"{self.id_col}={series_id!r} has type {type(series_id).__name__}, but column "
                            f"{self.id_col!r} holds {self._id_type} ids; pass an id of that type, as ids() lists them.")

    def _row_groups_with(self, series_id: Any) -> list[int]:
        """Row groups whose id statistics can hold `series_id` (all of those without statistics)."""
        column = self._file.schema.names.index(self.id_col)  # the Parquet leaf column
        groups = []
        for group in range(self._file.num_row_groups):
            stats = self._file.metadata.row_group(group).column(column).statistics
            if stats is None or not stats.has_min_max or stats.min <= series_id <= stats.max:
                groups.append(group)
        return groups

    def _count_ids(self) -> dict[Any, int]:
        import pyarrow.compute as pc

        counts: dict[Any, int] = {}
        done = 0
        for batch in self._file.iter_batches(batch_size=BATCH_ROWS, columns=[self.id_col]):
            ids = batch.column(0)
            if ids.null_count:
                raise ValueError(f"column {self.id_col!r} of {self.path.name} has {ids.null_count} missing ids "
                                 f"in rows {done}..{done + len(ids) - 1}; drop or fill those rows first.")
            for entry in pc.value_counts(ids).to_pylist():
                counts[entry["values"]] = counts.get(entry["values"], 0) + entry["counts"]
            done += len(ids)
        if not counts:
            raise ValueError(f"{self.path.name} has no rows; pass a file holding the series.")
        return dict(sorted(counts.items()))

    def _write_values(self, tmp: str, lengths: np.ndarray) -> None:
        """Write every series into `tmp` (.npy): rows placed by id as they come, then each series
        sorted by time. The times go to a scratch file beside it, removed at the end."""
        import pyarrow as pa
        import pyarrow.compute as pc

        offsets = np.cumsum(lengths) - lengths  # first row of each series
        written = np.zeros(len(lengths), dtype=np.int64)
        ids = pa.array(list(self.lengths()), type=self._id_type)
        dtype = np.dtype(self._file.schema_arrow.field(self.value_col).type.to_pandas_dtype())
        scratch = Path(f"{tmp}.times")
        try:
            with open(tmp, "wb+") as values, open(scratch, "wb+") as times:
                start = _write_npy_header(values, dtype, (int(lengths.sum()),))
                done, time_dtype = 0, None
                columns = [self.id_col, self.time_col, self.value_col]
                for batch in self._file.iter_batches(batch_size=BATCH_ROWS, columns=columns):
                    describe = self._row_namer(batch, done)
                    codes = pc.index_in(batch.column(0), value_set=ids).to_numpy(zero_copy_only=False)
                    stamps = _checked_values(batch.column(1), self.time_col, self.path, describe)
                    time_dtype = stamps.dtype
                    rows = _checked_values(batch.column(2), self.value_col, self.path, describe)
                    _place_by_series(codes, [(values, start, rows), (times, 0, stamps.astype(np.int64))],
                                     offsets + written)
                    written += np.bincount(codes, minlength=len(lengths))
                    done += batch.num_rows
                self._sort_series(values, start, dtype, times, time_dtype, offsets, lengths)
        finally:
            scratch.unlink(missing_ok=True)

    def _row_namer(self, batch: "pa.RecordBatch", first_row: int) -> Callable[[int], str]:
        """Names row r of a batch of (id, time, value) rows by its id and time, for error messages."""
        return lambda row: (f"{self.id_col}={batch.column(0)[row].as_py()!r}, "
                            f"{self.time_col}={batch.column(1)[row].as_py()}, row {first_row + row}")

    def _sort_series(self, values: BinaryIO, start: int, dtype: np.dtype, times: BinaryIO,
                     time_dtype: np.dtype, offsets: np.ndarray, lengths: np.ndarray) -> None:
        """Put each series in time order, reading only the series whose times are out of order."""
        times_file, values_file = Path(times.name), Path(values.name)
        times.flush()
        values.flush()
        stamps = SeriesFile._region(times_file, 0, np.dtype(np.int64), (int(lengths.sum()),))
        column = SeriesFile._region(values_file, start, dtype, stamps.shape)
        for k in _series_out_of_order(stamps, offsets):
            begin, end = int(offsets[k]), int(offsets[k] + lengths[k])
            when = stamps.read_rows(begin, end)
            order = np.argsort(when, kind="stable")
            repeated = np.flatnonzero(np.diff(when[order]) == 0)
            if len(repeated):
                moment = when[order][repeated[0]].astype(time_dtype)
                raise ValueError(f"series {self.ids()[k]!r} of {self.path.name} has two values at "
                                 f"{self.time_col}={moment}; keep one row per id and time.")
            values.seek(start + begin * dtype.itemsize)
            values.write(column.read_rows(begin, end)[order].tobytes())
            values.flush()


def _place_by_series(codes: np.ndarray, targets: list[tuple[BinaryIO, int, np.ndarray]],
                     next_row: np.ndarray) -> None:
    """Write the rows of one batch to their series: series k's rows, in batch order, go to rows
    next_row[k], next_row[k] + 1, ... of each (file, offset of row 0, column) target."""
    order = np.argsort(codes, kind="stable") if np.any(np.diff(codes) < 0) else np.arange(len(codes))
    grouped = codes[order]
    firsts = np.flatnonzero(np.diff(grouped, prepend=-1))  # where each series' rows begin in `grouped`
    ends = np.r_[firsts[1:], len(grouped)]
    for handle, offset, column in targets:
        ordered = column[order]
        width = column.dtype.itemsize
        for first, end in zip(firsts.tolist(), ends.tolist()):
            handle.seek(offset + int(next_row[grouped[first]]) * width)
            handle.write(ordered[first:end].tobytes())


def _series_out_of_order(times: SeriesFile, offsets: np.ndarray) -> np.ndarray:
    """Positions of the series whose times do not strictly increase, reading BATCH_ROWS times at a time."""
    found = [np.empty(0, dtype=np.int64)]
    for begin in range(1, len(times), BATCH_ROWS):
        end = min(begin + BATCH_ROWS, len(times))
        rows = begin + np.flatnonzero(np.diff(times.read_rows(begin - 1, end)) <= 0)  # time[r] <= time[r - 1]
        rows = rows[~np.isin(rows, offsets)]  # a series' first row may come before the last of the one before
        found.append(np.searchsorted(offsets, rows, side="right") - 1)
    return np.unique(np.concatenate(found))
