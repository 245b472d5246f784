"""Writing files safely: under a temporary name renamed into place, and from one process only.

Every file lstmkit writes (model files, checkpoints, series, figures, reports, ONNX) goes through
`atomic_write`, so a crash mid-write leaves any old file whole. A leaf module: it imports nothing
of lstmkit.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from torch import distributed as dist


def is_main_process() -> bool:
    """False only on ranks other than 0 of a joined process group: those neither print nor write."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def atomic_write(path: str | os.PathLike, write: Any) -> None:
    """Call `write(tmp_path)` on a temporary file beside `path`, then rename it into place.

    The temporary file is `.<name>.<pid>.<random>.tmp`; those of the same target left by
    processes that no longer run (killed mid-save) are removed first.
    """
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise FileNotFoundError(f"cannot save to {str(path)!r}: folder {str(path.parent)!r} does not exist.")
    remove_stale_temporaries(path)
    tmp = path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # the usual permissions, after umask
    try:
        write(str(tmp))
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete `.<name>.<pid>.<random>.tmp` files beside `path` whose process is gone; return them."""
    removed = []
    prefix = f".{path.name}."
    for candidate in (path.parent if str(path.parent) else Path(".")).glob(f".{_glob_escape(path.name)}.*.tmp"):
        middle = candidate.name[len(prefix) : -len(".tmp")].split(".")
        if len(middle) != 2 or not middle[0].isdigit() or _process_alive(int(middle[0])):
            continue
        try:
            candidate.unlink()
            removed.append(candidate)
        except FileNotFoundError:
            pass
    return removed


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # this process's own save in another thread
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's process, or a pid we cannot ask about: leave it
    return True
