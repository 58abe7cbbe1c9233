"""The case file: mined cases on disk, so mining runs once and evaluation runs many times.

One format, written by ``ripmap-train mine --output FILE`` (``--extract-only``) and read
by ``--cases FILE``::

    {"format": 1,
     "repos": [{"name", "root", "snapshot", "snapshot_time", "files"}],
     "cases": [Case.to_dict(), ...]}

``repos`` is what makes the cases usable again: the root and snapshot a case must be
ranked on. Files written before the ``format`` key existed are the same shape and are read
as version 1. A bare list of cases (an early format) names no repository roots, so it
cannot be evaluated; it is refused with a line saying how to re-mine.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from ...errors import UsageError
from ..files import atomic_write_json
from .oracle import Case, MinedRepo

FORMAT_VERSION = 1
_WHAT = "not a cases file written by ripmap-train mine (--extract-only)"


def write_cases(mined: Sequence[MinedRepo], path: str | Path) -> None:
    atomic_write_json(path, {
        "format": FORMAT_VERSION,
        "repos": [{"name": m.repo, "root": str(m.root), "snapshot": m.snapshot, "snapshot_time": m.snapshot_time,
                   "files": m.files_at_snapshot} for m in mined],
        "cases": [c.to_dict() for m in mined for c in m.cases]})


def read_cases(path: str | Path) -> list[MinedRepo]:
    """The mined repositories of a case file; any other file is one :class:`UsageError` line."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot read ({e.strerror or type(e).__name__})") from None
    except ValueError as e:
        raise UsageError(f"{path}: {_WHAT} (not JSON: {e})") from None
    if isinstance(data, list):
        raise UsageError(f"{path}: a bare list of cases names no repository roots to rank them on; "
                         f"mine again with: ripmap-train mine --repo PATH --output FILE")
    if not isinstance(data, dict) or "repos" not in data:
        raise UsageError(f"{path}: {_WHAT}")
    version = data.get("format", FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise UsageError(f"{path}: case file format {version!r} is not supported (this ripmap reads "
                         f"{FORMAT_VERSION})")
    try:
        cases = [Case.from_dict(d) for d in data["cases"]]
        out = []
        for r in data["repos"]:
            mine = [c for c in cases if c.repo == r["name"]]
            out.append(MinedRepo(r["name"], Path(r["root"]), r["snapshot"], int(r.get("snapshot_time", 0)), mine,
                                 files_at_snapshot=int(r.get("files", 0))))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        detail = f"missing field {e}" if isinstance(e, KeyError) else str(e)
        raise UsageError(f"{path}: {_WHAT} ({detail})") from None
    return out


__all__ = ["FORMAT_VERSION", "read_cases", "write_cases"]
