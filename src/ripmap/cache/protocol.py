"""The one protocol every cache of ripmap answers to, and the records it speaks in.

The index and the facade hold "a cache", never a particular one: the SQLite-backed
:class:`~ripmap.cache.tags.TagCache` or the :class:`~ripmap.cache.null.NullCache` of
``--no-cache`` (and the no-op a damaged database degrades to). Both must give the same
kinds of answers, so a caller never needs to ask which one it holds; the contract test
(``tests/test_cache.py``) runs against both.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from ..extract.tags import Tag

#: How many blobs survive per key prefix (see :meth:`Cache.put_blob`).
DEFAULT_BLOBS_PER_PREFIX = 2

#: A cached row as given to :meth:`Cache.put_many`:
#: ``(rel, size, mtime_ns, content_hash, tags)``.
CacheRow = tuple[str, int, int, bytes, Sequence[Tag]]
#: A row as given to :meth:`Cache.put_encoded`, tags already encoded:
#: ``(rel, size, mtime_ns, content_hash, defs, refs, refcounts, flags)``; ``flags`` are
#: the file classes its content revealed (:func:`ripmap.discover.content_flags`), kept
#: so a warm run knows them without reading the file.
EncodedRow = tuple[str, int, int, bytes, bytes, bytes, bytes, int]


@dataclass
class CacheStats:
    """Counters for one cache object (not persisted): what ``--stats`` reports."""

    #: files whose stored row matched their size and mtime, and files it did not
    hits: int = 0
    misses: int = 0
    #: content-hash lookups (same size, new mtime) that found the row, and that did not
    hash_hits: int = 0
    hash_misses: int = 0
    #: rows stored
    writes: int = 0

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


@runtime_checkable
class Cache(Protocol):
    """Tags per file and blobs by key, for one repository.

    Nothing here raises for cache trouble: a miss is ``None`` (or an empty dict), a
    write that cannot be kept is dropped. Paths are root-relative with ``/``.
    """

    path: Path | None
    stats: CacheStats

    @property
    def enabled(self) -> bool:
        """Whether anything is actually kept (False for the null cache and after degrading)."""
        ...

    # -- tags -------------------------------------------------------------------------
    def get_many(self, entries: Iterable[tuple[str, int, int]], *,
                 refs: bool = True) -> dict[str, list[Tag] | None]:
        """Tags per ``(rel, size, mtime_ns)``: every rel is a key, ``None`` unless size and
        mtime match the stored row exactly; ``refs=False`` gives the definitions only."""
        ...

    def get_refs(self, rels: Iterable[str]) -> dict[str, list[Tag]]:
        """The stored references of files already returned by ``get_many(refs=False)``."""
        ...

    def get_ref_counts(self, rels: Iterable[str]) -> dict[str, list[tuple[str, str, int]]]:
        """The stored ``(name, kind, count)`` reference summary of each file."""
        ...

    def get_flags(self, rels: Iterable[str]) -> dict[str, int]:
        """rel → the non-zero content flags stored with the file's tags."""
        ...

    def has_size(self, rel: str, size: int) -> bool:
        """Whether a row for ``rel`` with this size exists (a cheap check before hashing)."""
        ...

    def known_files(self, rels: Iterable[str] | None = None) -> dict[str, tuple[int, int]]:
        """rel → (size, mtime_ns) of every stored file (of those of ``rels``, if given)."""
        ...

    def lookup_hash(self, rel: str, size: int, content_hash: bytes) -> list[Tag] | None:
        """Tags stored for ``rel`` if its size and content hash still match."""
        ...

    def touch(self, rel: str, size: int, mtime_ns: int) -> None:
        """Record a new mtime for an unchanged file."""
        ...

    def touch_many(self, rows: Iterable[tuple[str, int, int]]) -> None:
        """:meth:`touch` for many files at once."""
        ...

    def put_many(self, rows: Iterable[CacheRow]) -> None:
        """Store rows of plain tags (no content flags)."""
        ...

    def put_encoded(self, rows: Iterable[EncodedRow]) -> None:
        """Store rows whose tags are already encoded."""
        ...

    def prune(self, keep_rels: set[str]) -> int:
        """Delete rows of files not in ``keep_rels``; how many went."""
        ...

    # -- blobs ------------------------------------------------------------------------
    def get_blob(self, key: str) -> bytes | None:
        """The bytes stored under ``key``, or ``None``."""
        ...

    def open_blob(self, key: str) -> BinaryIO | None:
        """The bytes stored under ``key`` as a readable binary file (the caller closes it),
        or ``None``."""
        ...

    def open_newest_blob(self, prefix: str, ending: str = "") -> tuple[str, BinaryIO] | None:
        """The newest ``(key, readable binary file)`` under ``prefix`` (whose key ends with
        ``ending``, when given), or ``None``."""
        ...

    def put_blob(self, key: str, value: bytes | Callable[[BinaryIO], None], *,
                 keep: int = DEFAULT_BLOBS_PER_PREFIX) -> None:
        """Store ``value`` under ``key``, keeping the newest ``keep`` keys of its prefix.
        ``value`` may be a writer called with a binary file (for big values)."""
        ...

    def drop_blobs_except(self, prefixes: Iterable[str]) -> int:
        """Delete every blob whose key prefix is not one of ``prefixes`` (kinds an older
        ripmap kept and this one does not); how many went."""
        ...

    def newest_blob(self, prefix: str) -> tuple[str, bytes] | None:
        """The most recently stored ``(key, value)`` of a key prefix, or ``None``: what an
        incremental update starts from when its own key is not stored yet."""
        ...

    # -- lifetime ---------------------------------------------------------------------
    def close(self) -> None:
        """Release the store (idempotent); a no-op cache afterwards."""
        ...

    def __enter__(self) -> "Cache": ...

    def __exit__(self, *exc: object) -> None: ...
