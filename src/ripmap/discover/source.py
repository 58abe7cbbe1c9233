"""What discovery hands on: one :class:`SourceFile` per mapped file, and the
:class:`Discovery` of a root (its files plus why anything was left out)."""
from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from itertools import repeat
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One file to map. ``size``/``mtime_ns`` let caches notice edits cheaply.

    ``flags`` are its :class:`~ripmap.fileclass.FileClass` bits. ``fixed`` marks the
    bits a ``.gitattributes`` entry decided (``linguist-generated=false`` included):
    the user's word, which detection from the file's content must not overturn.

    The absolute :attr:`path` is derived on demand from ``root`` and ``rel`` rather
    than stored: a warm map of a 70,000-file tree builds every record but opens only
    the few files it parses, and a ``pathlib.Path`` per file cost more than all the
    other fields together.
    """

    rel: str  # relative to the root, '/'-separated
    root: str  # the resolved root the file was discovered under, absolute
    size: int
    mtime_ns: int
    language: str | None
    flags: int = 0
    fixed: int = 0

    @property
    def path(self) -> Path:
        """The file's absolute path (``root`` joined with ``rel``)."""
        return Path(self.root, self.rel)

    @classmethod
    def many(cls, **columns: Iterable[Any]) -> tuple[SourceFile, ...]:
        """One record per row of ``columns`` (one iterable per field, by name, all of
        them given), equal to what the constructor builds row by row.

        Why not the constructor: a frozen dataclass sets each field through
        ``object.__setattr__`` in Python, some 3 µs a record, which was a fifth of
        discovering a 70,000-file tree. Here each field's slot is filled for all
        records in one C-level pass through its descriptor.
        """
        names = [f.name for f in fields(cls)]
        if set(columns) != set(names):
            raise TypeError(f"SourceFile.many needs exactly the columns {names}, got {sorted(columns)}")
        lists = [list(columns[name]) for name in names]
        n = len(lists[0])
        if any(len(col) != n for col in lists):
            raise ValueError("SourceFile.many: columns of different lengths")
        out = list(map(object.__new__, repeat(cls, n)))
        for name, col in zip(names, lists):
            deque(map(cls.__dict__[name].__set__, out, col), maxlen=0)
        return tuple(out)

    def with_content_flags(self, found: int) -> SourceFile:
        """This file with the classes :func:`content_flags` found added (except where
        ``.gitattributes`` already decided)."""
        flags = self.flags | (found & ~self.fixed)
        return self if flags == self.flags else SourceFile(self.rel, self.root, self.size, self.mtime_ns,
                                                           self.language, flags, self.fixed)


@dataclass(frozen=True)
class Discovery:
    """The files to map plus why anything noteworthy was left out."""

    files: tuple[SourceFile, ...]  # sorted by rel
    notes: tuple[str, ...]  # one line each, in path order
    in_git: bool  # candidates came from ``git ls-files``
    #: :func:`listing_fingerprint` of ``files`` when the listing took it already (None: not taken)
    fingerprint: str | None = field(default=None, compare=False)


def listing_fingerprint(rels: Sequence[str], sizes: Sequence[int], mtimes: Sequence[int]) -> str:
    """Identity of a file list by each file's path, size and mtime: cheap to take (no
    file is read) and different whenever a file is added, removed or edited.

    One hash update over the joined lines (the same digest as line by line, at a
    fraction of the calls on a big tree); names that are not valid UTF-8 reach here
    with their raw bytes escaped (as ``os.fsdecode`` gives them) and hash as those bytes.
    """
    h = hashlib.blake2b(digest_size=16)
    h.update("".join([f"{r}\0{s}\0{m}\n" for r, s, m in zip(rels, sizes, mtimes)])
             .encode("utf-8", "surrogateescape"))
    return h.hexdigest()
