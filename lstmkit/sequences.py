"""Variable-length sequences in: ragged lists, padded arrays with `lengths`, and their checks.

lstmkit marks the real steps of each sample with a mask (N, T), True at real steps. Users give
variable-length data in one of two ways:

- a list of arrays, one per sample, each (T_i, F) or (T_i,), with `lengths=` (each sample's
  number of real steps, normally `[len(s) for s in x]`): lstmkit pads them after the real steps;
- a padded array (N, T, F) with `lengths=`: the first lengths[i] steps of sample i are real
  (padding after them, "post"). Padding before the real steps ("pre") is read with a
  `Masking` layer instead; `pad_sequences` makes either layout.

Asking for `lengths` explicitly is deliberate: windows of unequal length are often a bug (a
short last window), so a ragged list without `lengths=` is an error, not silently padded.
Every check names the sample it failed on.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np

from lstmkit.checks import choice


def is_sequence_list(x: Any) -> bool:
    """True for a list/tuple of per-sample arrays (rather than one array)."""
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(
        isinstance(item, (np.ndarray, list, tuple)) or hasattr(item, "__array__") for item in x
    )


def _sample_arrays(x: Sequence[Any], argument: str) -> list[np.ndarray]:
    arrays = []
    for index, item in enumerate(x):
        try:
            array = np.asarray(item.detach().cpu() if hasattr(item, "detach") else item)
        except ValueError:
            raise ValueError(f"`{argument}` sample {index} is not a rectangular array of numbers.") from None
        if array.dtype.kind not in "biuf":
            raise TypeError(f"`{argument}` sample {index} must hold numbers; got dtype {array.dtype}.")
        if array.ndim == 1:
            array = array[:, None]  # (T_i,) -> one feature
        if array.ndim != 2:
            raise ValueError(
                f"`{argument}` sample {index} has shape {array.shape}; each sample must be "
                f"(timesteps, features) or (timesteps,)."
            )
        if len(array) == 0:
            raise ValueError(f"`{argument}` sample {index} is an empty sequence (0 steps); drop it.")
        if arrays and array.shape[1] != arrays[0].shape[1]:
            raise ValueError(
                f"`{argument}` sample {index} has {array.shape[1]} features but sample 0 has "
                f"{arrays[0].shape[1]}; every sample needs the same features."
            )
        arrays.append(array)
    return arrays


def check_lengths(lengths: Any, samples: int, timesteps: Sequence[int] | int, argument: str = "lengths") -> np.ndarray:
    """`lengths` as an int64 array (N,), each in 1..the sample's padded length.

    Args:
        timesteps: the padded length, one for all samples or one per sample.
    """
    array = np.asarray(lengths)
    if array.ndim != 1 or array.dtype.kind not in "iuf" or len(array) != samples:
        raise ValueError(
            f"`{argument}` must be one integer per sample ({samples} of them); got "
            f"{array.dtype} of shape {array.shape}."
        )
    if array.dtype.kind == "f" and not np.all(array == np.round(array)):
        raise ValueError(f"`{argument}` must hold whole numbers of steps; got {array[array != np.round(array)][0]}.")
    array = array.astype(np.int64)
    limits = np.broadcast_to(np.asarray(timesteps, dtype=np.int64), (samples,))
    empty = np.flatnonzero(array < 1)
    if len(empty):
        raise ValueError(
            f"`{argument}` gives sample {empty[0]} length {array[empty[0]]}: an empty sequence has no "
            f"output. Drop that sample, or give it at least one step."
        )
    over = np.flatnonzero(array > limits)
    if len(over):
        i = over[0]
        raise ValueError(
            f"`{argument}` gives sample {i} length {array[i]} but it has only {limits[i]} time steps "
            f"(the padded axis). Lengths count real steps and cannot exceed it."
        )
    return array


def padded_inputs(x: Any, lengths: Any, argument: str = "x") -> tuple[np.ndarray, np.ndarray | None]:
    """(padded (N, T, F), lengths (N,) or None) from a list of arrays or a padded array.

    Raises:
        ValueError: a ragged list without `lengths`, an empty sequence, lengths longer than the
            padded axis; each names the sample.
    """
    if not is_sequence_list(x):
        if lengths is None:
            return x, None
        array = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x)
        if array.ndim < 2:
            raise ValueError(f"`{argument}` with `lengths` must be (samples, timesteps[, features]); got {array.shape}.")
        return array if array.ndim == 3 else array[..., None], check_lengths(lengths, len(array), array.shape[1])
    steps = [len(item) for item in x]
    if lengths is None and len(set(steps)) == 1:
        return x, None  # equal lengths: an ordinary array, read as before
    arrays = _sample_arrays(x, argument)
    if lengths is None:
        other = next(i for i, n in enumerate(steps) if n != steps[0])
        raise ValueError(
            f"`{argument}` must be an array with the same shape for every sample; got sequences of "
            f"different lengths: sample 0 has {steps[0]} steps, sample {other} has {steps[other]}. For "
            f"variable-length data pass lengths=[len(s) for s in {argument}] (lstmkit pads and masks "
            f"them); otherwise cut them to one length."
        )
    lengths = check_lengths(lengths, len(arrays), steps)
    padded = np.zeros((len(arrays), max(steps), arrays[0].shape[1]), dtype=np.result_type(*arrays, np.float32))
    for i, (array, length) in enumerate(zip(arrays, lengths)):
        padded[i, :length] = array[:length]
    return padded, lengths


def padded_targets(y: Any, timesteps: int, argument: str = "y") -> Any:
    """Per-step targets given as a list of arrays (T_i, ...) -> zero-padded array (N, T, ...)."""
    if not is_sequence_list(y):
        return y
    arrays = [np.asarray(item) for item in y]
    if len({a.shape[1:] for a in arrays}) > 1:
        raise ValueError(f"`{argument}` samples have different shapes after the time axis.")
    longest = next((i for i, a in enumerate(arrays) if len(a) > timesteps), None)
    if longest is not None:
        raise ValueError(f"`{argument}` sample {longest} has {len(arrays[longest])} steps; x has at most {timesteps}.")
    padded = np.zeros((len(arrays), timesteps, *arrays[0].shape[1:]), dtype=np.result_type(*arrays))
    for i, array in enumerate(arrays):
        padded[i, : len(array)] = array
    return padded


def check_mask_value(x: np.ndarray, mask_value: float, lengths: np.ndarray | None, argument: str = "x") -> None:
    """Masking's padding value in the data: an error for a sample with no real step left, a
    warning where a real step equals it (Masking would skip that step)."""
    padding = np.all(x == mask_value, axis=-1)  # (N, T)
    if lengths is not None:
        real = np.arange(x.shape[1]) < lengths[:, None]
        inside = padding & real
    else:
        real = ~padding
        empty = np.flatnonzero(~real.any(axis=1))
        if len(empty):
            raise ValueError(
                f"`{argument}` sample {empty[0]} has every step equal to mask_value={mask_value}: after "
                f"Masking it is an empty sequence. Drop it, or pad with another value."
            )
        # A masked step with real steps on both sides is a real value, not padding.
        seen_before = np.maximum.accumulate(real, axis=1)
        seen_after = np.maximum.accumulate(real[:, ::-1], axis=1)[:, ::-1]
        inside = padding & seen_before & seen_after
    if inside.any():
        sample, step = np.argwhere(inside)[0]
        count = int(inside.any(axis=1).sum())
        warnings.warn(
            f"`{argument}` sample {sample} step {step} has every feature equal to mask_value={mask_value} "
            f"inside the sequence ({count} sample(s) like it): Masking skips such steps as padding. "
            f"Pad with a value the data never takes, or pass lengths= instead.",
            UserWarning,
            stacklevel=4,
        )


def pad_sequences(
    sequences: Sequence[Any], padding: str = "post", value: float = 0.0, dtype: str = "float32"
) -> np.ndarray:
    """Pad per-sample arrays (T_i, F) or (T_i,) to one array (N, max T_i, F).

    Args:
        padding: "post" puts the padding after the real steps, "pre" before them.
        value: the padding value (use it as `Masking(mask_value=...)`).

    Example:
        pad_sequences([[1, 2, 3], [4]], padding="pre")[..., 0] -> [[1 2 3], [0 0 4]]
    """
    choice(padding, "padding", ("pre", "post"))
    arrays = _sample_arrays(sequences, "sequences")
    longest = max(len(a) for a in arrays)
    padded = np.full((len(arrays), longest, arrays[0].shape[1]), value, dtype=dtype)
    for i, array in enumerate(arrays):
        if padding == "post":
            padded[i, : len(array)] = array
        else:
            padded[i, longest - len(array) :] = array
    return padded


def read_sequence_file(path: str) -> tuple[np.ndarray, list[str] | None]:
    """Sequences from a .npy or .csv file, and the CSV's time labels.

    A .npy file holds (timesteps,), (timesteps, features) or (samples, timesteps, features);
    it is never unpickled. A .csv file is one sequence: a row per time step, a column per
    feature; a first column that is not numeric (dates) becomes the time labels.

    Returns:
        (samples, timesteps, features) float32, and the time labels or None.
    """
    import os

    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".npy", ".csv"):
        raise ValueError(f"{path!r}: unsupported file type {suffix!r}; pass a .npy or .csv file.")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no input file at {path!r}.")
    times = None
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as err:
            raise ValueError(f"{path!r} is not a readable .npy array of numbers: {err}.") from None
    else:
        import pandas as pd

        table = pd.read_csv(path)
        if len(table.columns) and not pd.api.types.is_numeric_dtype(table[table.columns[0]]):
            times = table[table.columns[0]].astype(str).tolist()
            table = table.drop(columns=table.columns[0])
        bad = [column for column in table.columns if not pd.api.types.is_numeric_dtype(table[column])]
        if bad or table.empty:
            raise ValueError(f"{path!r} needs numeric feature columns (a row per time step); column(s) {bad} are not.")
        array = table.to_numpy()
    if array.dtype.kind not in "biuf" or array.ndim not in (1, 2, 3) or array.size == 0:
        raise ValueError(
            f"{path!r} holds an array of dtype {array.dtype} and shape {array.shape}; expected numbers shaped "
            f"(timesteps,), (timesteps, features) or (samples, timesteps, features)."
        )
    if not np.isfinite(array).all():
        raise ValueError(f"{path!r} holds NaN or inf values; fill or drop them first.")
    array = array.reshape(1, -1, 1) if array.ndim == 1 else array[None] if array.ndim == 2 else array
    return array.astype(np.float32), times
