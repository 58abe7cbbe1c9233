"""What discovery hands on: one :class:`SourceFile` per mapped file, and the
:class:`Discovery` of a root (its files plus why anything was left out)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One file to map. ``size``/``mtime_ns`` let caches notice edits cheaply.

    ``flags`` are its :class:`~ripmap.fileclass.FileClass` bits. ``fixed`` marks the
    bits a ``.gitattributes`` entry decided (``linguist-generated=false`` included):
    the user's word, which detection from the file's content must not overturn.
    """

    rel: str  # relative to the root, '/'-separated
    path: Path  # absolute
    size: int
    mtime_ns: int
    language: str | None
    flags: int = 0
    fixed: int = 0

    def with_content_flags(self, found: int) -> SourceFile:
        """This file with the classes :func:`content_flags` found added (except where
        ``.gitattributes`` already decided)."""
        flags = self.flags | (found & ~self.fixed)
        return self if flags == self.flags else SourceFile(self.rel, self.path, self.size, self.mtime_ns,
                                                           self.language, flags, self.fixed)


@dataclass(frozen=True)
class Discovery:
    """The files to map plus why anything noteworthy was left out."""

    files: tuple[SourceFile, ...]  # sorted by rel
    notes: tuple[str, ...]  # one line each, in path order
    in_git: bool  # candidates came from ``git ls-files``
