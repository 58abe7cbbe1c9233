"""How the trainer writes files: whole or not at all.

Every file of a run folder (scratchpad, results, config, plots, wisdom, case files) is
written through :func:`atomic_write_bytes`: a temp file in the same folder, fsynced, then
``os.replace``. A run killed at any instant, or two workers writing the same run folder,
leave either the old or the new version of a file, never half of one, so a finished
episode or trial is never lost and a reader never sees a torn JSON document.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..errors import RipmapError

TMP_SUFFIX = ".tmp"
"""Temp files are ``.<name>.<pid>.<random>.tmp``: :func:`remove_orphans` finds what a kill left."""


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` so that ``path`` is always either the old or the new complete file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """One JSON style for every file the trainer writes: indent 1, UTF-8 as is, final newline."""
    atomic_write_text(path, json.dumps(obj, indent=1, ensure_ascii=False) + "\n")


def read_json(path: str | Path) -> Any:
    """The JSON at ``path``; an unreadable or invalid file is one :class:`RipmapError` line."""
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise RipmapError(f"{p}: cannot read ({e.strerror or e})") from None
    except json.JSONDecodeError as e:
        raise RipmapError(f"{p}: not valid JSON ({e.msg} at line {e.lineno})") from None


def remove_orphans(folder: Path) -> None:
    """Delete the temp files a kill mid-write left behind (never a real file: those are whole).

    A temp file names the process writing it (``.<name>.<pid>.<random>.tmp``); one whose
    process is still alive is another worker of the same run folder between writing and
    renaming it, and is left alone."""
    from .search.workers import pid_alive

    me = os.getpid()
    for orphan in Path(folder).glob(f".*{TMP_SUFFIX}"):
        parts = orphan.name.split(".")  # "", name parts..., pid, random, "tmp"
        pid = int(parts[-3]) if len(parts) >= 5 and parts[-3].isdigit() else None
        if pid is not None and pid != me and pid_alive(pid):
            continue
        orphan.unlink(missing_ok=True)


__all__ = ["atomic_write_bytes", "atomic_write_json", "atomic_write_text", "read_json", "remove_orphans"]
