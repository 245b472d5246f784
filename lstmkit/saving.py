"""The lstmkit model file: one safetensors file whose header carries JSON.

Layout (format_version 1):
    safetensors tensors   the weights, named by the model's state_dict keys ("layers.0.kernel", ...)
    __metadata__          {"format": "lstmkit", "format_version": "1",
                           "lstmkit_version": "...", "config": "<JSON>"}

`config` holds the architecture, the training configuration and, for a Forecaster, its
preprocessing; docs/FORMAT.md describes it. safetensors stores raw arrays and a JSON header,
so loading never runs code from the file. Writing goes to a temporary file in the same folder
which is then renamed over the target, so a crash mid-save leaves any old file whole.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from lstmkit import __version__
from lstmkit.distributed import is_main_process

FORMAT = "lstmkit"
FORMAT_VERSION = 1


def atomic_write(path: str | os.PathLike, write: Any) -> None:
    """Call `write(tmp_path)` on a temporary file beside `path`, then rename it into place."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise FileNotFoundError(f"cannot save to {str(path)!r}: folder {str(path.parent)!r} does not exist.")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_model_file(path: str | os.PathLike, config: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    """Write `tensors` and the JSON `config` to `path` atomically. In a data-parallel run
    (torchrun) only rank 0 writes: every process holds the same weights."""
    if not is_main_process():
        return
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "lstmkit_version": __version__,
        "config": json.dumps(config),
    }
    cpu = {name: t.detach().cpu().contiguous() for name, t in tensors.items()}
    atomic_write(path, lambda tmp: save_file(cpu, tmp, metadata=metadata))


def read_model_file(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Read (config, tensors) from an lstmkit model file, refusing anything else clearly."""
    path = str(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no model file at {path!r}.")
    try:
        with safe_open(path, framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(
            f"{path!r} is not a readable lstmkit model file (it may be truncated or corrupt): {err}. "
            f"Save the model again with model.save()."
        ) from None
    if metadata.get("format") != FORMAT:
        raise ValueError(
            f"{path!r} is a safetensors file but not an lstmkit model (its header has no "
            f"'format': 'lstmkit'). Load it with safetensors directly, or save with model.save()."
        )
    version = metadata.get("format_version", "?")
    if version != str(FORMAT_VERSION):
        raise ValueError(
            f"{path!r} has lstmkit format_version {version}; this lstmkit reads version "
            f"{FORMAT_VERSION}. Upgrade lstmkit or save the model again."
        )
    try:
        config = json.loads(metadata["config"])
    except (KeyError, json.JSONDecodeError) as err:
        raise ValueError(f"{path!r} has a damaged configuration header: {err}.") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path!r} has a damaged configuration header: a JSON object was expected.")
    return config, tensors
