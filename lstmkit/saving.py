"""The lstmkit model file: one safetensors file whose header carries JSON.

Layout (format_version 2; docs/FORMAT.md):
    safetensors tensors   the weights, named by the model's state_dict keys ("layers.0.kernel", ...)
    __metadata__          {"format": "lstmkit", "format_version": "2", "lstmkit_version": "...",
                           "config": "<JSON>", "checksums": "<JSON>"}

`checksums` holds the CRC-32 of the config text and of every tensor's bytes, so a damaged file
is refused ("the file is damaged"), never read as a different model. Files of format_version 1
(no checksums) are still read.

Reading checks before it builds: `open_model_file` reads the file once (never more bytes than it
holds), checks the safetensors header (names, dtypes, shapes, offsets), the metadata and the
config's size and depth, and the config's checksum; the callers (load_model, Forecaster.load)
then check the config against their schemas and the tensors' shapes against the ones the config
implies, before anything is built. Every failure is a `ModelFileError` (a ValueError). safetensors
stores raw arrays and JSON, so loading never runs code from the file.

Writing goes through `lstmkit.atomic.atomic_write`: one temporary file beside the target, named
after it, which is renamed over the target once complete: a crash mid-save leaves any old file
whole, and the next save of the same target removes temporary files that killed runs left behind.
"""

from __future__ import annotations

import json
import math
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save as safetensors_bytes

from lstmkit._version import __version__
from lstmkit.atomic import atomic_write, is_main_process
from lstmkit.schema import ConfigError, MapOf, Str, parse_json

FORMAT = "lstmkit"
FORMAT_VERSION = 2
READABLE_VERSIONS = ("1", "2")
MAX_HEADER_BYTES = 256 * 2**20  # the safetensors header, config included
MAX_TENSORS = 100_000
DTYPES = {"F32": (torch.float32, np.float32), "F64": (torch.float64, np.float64), "U8": (torch.uint8, np.uint8)}
WEIGHT_DTYPES = ("F32", "F64")  # a model's weights; U8 is for generator states in checkpoints
_METADATA_KEYS = {"format", "format_version", "lstmkit_version", "config", "checksums"}


class ModelFileError(ValueError):
    """A file that is not a readable lstmkit model: damaged, crafted, or of another kind."""


@dataclass(frozen=True)
class TensorEntry:
    """One tensor as the safetensors header describes it."""

    dtype: str
    shape: tuple[int, ...]
    start: int  # byte offsets into the data section
    end: int


@dataclass
class ModelFile:
    """A model file read and checked, its tensors not yet made (see `tensors`)."""

    path: str
    version: int
    config: dict[str, Any]
    entries: dict[str, TensorEntry]
    data: bytearray  # the whole file
    data_start: int  # where the tensors' bytes begin
    checksums: dict[str, str] | None

    def error(self, problem: str) -> ModelFileError:
        return ModelFileError(f"{self.path!r} holds a damaged lstmkit model: {problem.rstrip('.')}.")

    def check_weights(self, expected: dict[str, tuple[int, ...]], prefix: str = "", ignore: str | None = None) -> None:
        """Refuse tensors (named `prefix` + key) that differ from `expected` {key: shape} in names,
        shapes or dtype (F32 or F64, one for all); tensors starting with `ignore` are not weights."""
        found = {name[len(prefix):]: entry for name, entry in self.entries.items()
                 if name.startswith(prefix) and not (ignore and name.startswith(ignore))}
        missing, extra = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
        if missing or extra:
            raise self.error(f"its weights do not match its architecture (missing {missing[:3]}, unexpected "
                             f"{extra[:3]})")
        for key, shape in expected.items():
            entry = found[key]
            if entry.shape != tuple(shape):
                raise self.error(f"its weights do not match its architecture: tensor {prefix + key!r} has shape "
                                 f"{list(entry.shape)} where the config gives {list(shape)}")
            if entry.dtype not in WEIGHT_DTYPES:
                raise self.error(f"tensor {prefix + key!r} has dtype {entry.dtype}; lstmkit weights are F32 or F64")
        if len({found[key].dtype for key in expected}) > 1:
            raise self.error(f"its weights mix dtypes {sorted({found[key].dtype for key in expected})}; "
                             f"lstmkit writes one")

    def tensors(self) -> dict[str, torch.Tensor]:
        """Every tensor, its checksum verified (format_version 2); they share the file's bytes."""
        view, tensors = memoryview(self.data), {}
        for name, entry in self.entries.items():
            chunk = view[self.data_start + entry.start : self.data_start + entry.end]
            if self.checksums is not None and f"{zlib.crc32(chunk):08x}" != self.checksums.get(name):
                raise ModelFileError(f"{self.path!r} is damaged: the bytes of tensor {name!r} do not match their "
                                     f"checksum. Save the model again, or use an intact copy.")
            array = np.frombuffer(chunk, dtype=DTYPES[entry.dtype][1]).reshape(entry.shape)
            if array.ctypes.data % array.itemsize:
                array = array.copy()  # torch needs aligned data; else the tensor shares the file's bytes
            tensors[name] = torch.from_numpy(array)
        return tensors


def _crc(tensor: torch.Tensor) -> str:
    return f"{zlib.crc32(tensor.reshape(-1).view(torch.uint8).numpy()):08x}"


def write_model_file(path: str | os.PathLike, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    """Write `tensors` and the JSON `config` to `path` atomically. In a data-parallel run
    (torchrun) only rank 0 writes: every process holds the same weights."""
    if not is_main_process():
        return
    cpu = {name: t.detach().cpu().contiguous() for name, t in tensors.items()}
    config_text = json.dumps(config)
    checksums = {name: _crc(t) for name, t in cpu.items()}
    checksums["__config__"] = f"{zlib.crc32(config_text.encode()):08x}"
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "lstmkit_version": __version__,
        "config": config_text,
        "checksums": json.dumps(checksums),
    }
    data = safetensors_bytes(cpu, metadata=metadata)
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def read_model_file(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read (config, tensors) from an lstmkit model file, refusing anything else clearly."""
    file = open_model_file(path)
    return file.config, file.tensors()


def open_model_file(path: str | os.PathLike) -> ModelFile:
    """Read and check an lstmkit model file's header, metadata and config (see the module docstring)."""
    path = str(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no model file at {path!r}.")
    with open(path, "rb") as handle:
        data = bytearray(os.fstat(handle.fileno()).st_size)
        handle.readinto(data)
    unreadable = (f"{path!r} is not a readable lstmkit model file (it may be truncated or corrupt): {{}}. "
                  f"Save the model again with model.save().")
    if len(data) < 8:
        raise ModelFileError(unreadable.format(f"it holds {len(data)} bytes"))
    (header_size,) = struct.unpack("<Q", data[:8])
    if header_size > min(MAX_HEADER_BYTES, len(data) - 8):
        raise ModelFileError(unreadable.format(f"its header claims {header_size} bytes, the file holds {len(data)}"))
    try:
        header = parse_json(bytes(data[8 : 8 + header_size]).decode("utf-8"), "header", MAX_HEADER_BYTES)
    except (ConfigError, UnicodeDecodeError) as err:
        raise ModelFileError(unreadable.format(err)) from None
    if not isinstance(header, dict):
        raise ModelFileError(unreadable.format("its header is not a JSON object"))
    metadata = header.pop("__metadata__", None)
    entries = _tensor_entries(header, len(data) - 8 - header_size, unreadable)
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise ModelFileError(
            f"{path!r} is a safetensors file but not an lstmkit model (its header has no "
            f"'format': 'lstmkit'). Load it with safetensors directly, or save with model.save()."
        )
    version = metadata.get("format_version", "?")
    if version not in READABLE_VERSIONS:
        raise ModelFileError(
            f"{path!r} has lstmkit format_version {_text(version)}; this lstmkit reads versions "
            f"{', '.join(READABLE_VERSIONS)}. Upgrade lstmkit or save the model again."
        )
    file = ModelFile(path, int(version), {}, entries, data, 8 + header_size, None)
    unknown = sorted(set(metadata) - _METADATA_KEYS)
    if unknown or not all(isinstance(value, str) for value in metadata.values()):
        raise file.error(f"its header metadata holds {unknown or 'values that are not strings'}; expected the "
                         f"string entries {sorted(_METADATA_KEYS)}")
    try:
        if version != "1":
            file.checksums = MapOf(Str(max_length=8), max_items=MAX_TENSORS + 1).check(
                parse_json(metadata.get("checksums"), "checksums", MAX_HEADER_BYTES), "checksums")
            if set(file.checksums) != set(entries) | {"__config__"}:
                raise ConfigError("checksums", sorted(file.checksums)[:4], "one checksum per tensor and the config")
            if f"{zlib.crc32(metadata.get('config', '').encode()):08x}" != file.checksums["__config__"]:
                raise ModelFileError(f"{path!r} is damaged: its configuration does not match its checksum. Save "
                                     f"the model again, or use an intact copy.")
        file.config = parse_json(metadata.get("config"), "config", MAX_HEADER_BYTES)
    except ConfigError as err:
        raise ModelFileError(f"{path!r} has a damaged configuration header: {err}.") from None
    if not isinstance(file.config, dict):
        raise ModelFileError(f"{path!r} has a damaged configuration header: a JSON object was expected.")
    return file


def _tensor_entries(header: dict[str, Any], data_size: int, unreadable: str) -> dict[str, TensorEntry]:
    """The header's tensors, checked: known dtypes, shapes that match their byte ranges, and
    ranges that tile the data section exactly (as safetensors requires)."""
    if len(header) > MAX_TENSORS:
        raise ModelFileError(unreadable.format(f"it lists {len(header)} tensors (at most {MAX_TENSORS})"))
    entries = {}
    for name, info in header.items():
        where = f"tensor {name[:80]!r}"
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise ModelFileError(unreadable.format(f"{where} has the header entry {str(info)[:80]}"))
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in DTYPES:
            raise ModelFileError(unreadable.format(
                f"{where} has dtype {_text(dtype)}; lstmkit files hold {', '.join(DTYPES)} (F32/F64 weights)"))
        if not (isinstance(shape, list) and len(shape) <= 8 and all(_count(d) for d in shape)
                and isinstance(offsets, list) and len(offsets) == 2 and all(_count(o) for o in offsets)):
            raise ModelFileError(unreadable.format(
                f"{where} has shape {str(shape)[:40]} and offsets {str(offsets)[:40]}"))
        start, end = offsets
        if end < start or end - start != math.prod(shape) * DTYPES[dtype][1]().itemsize:
            raise ModelFileError(unreadable.format(
                f"{where}: shape {shape} of {dtype} does not fit bytes {start}..{end}"))
        entries[name] = TensorEntry(dtype, tuple(shape), start, end)
    position = 0
    for entry in sorted(entries.values(), key=lambda e: (e.start, e.end)):
        if entry.start != position:
            break
        position = entry.end
    if position != data_size or any(e.end > data_size for e in entries.values()):
        raise ModelFileError(unreadable.format(f"its tensors' byte ranges do not tile its {data_size} data bytes"))
    return entries


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53


def _text(value: Any) -> str:
    return str(value)[:40]
