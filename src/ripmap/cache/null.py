"""The null cache: remembers nothing, answers like a cache that never hits.

What ``--no-cache`` runs with (a damaged or unreachable database degrades a
:class:`~ripmap.cache.tags.TagCache` to the same answers). It implements :class:`~ripmap.cache.protocol.Cache` in full, so callers never
branch on which cache they hold.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from ..extract.tags import Tag
from .protocol import DEFAULT_BLOBS_PER_PREFIX, CacheRow, CacheStats, EncodedRow


class NullCache:
    """A cache that remembers nothing (``--no-cache``); same protocol as :class:`~ripmap.cache.tags.TagCache`."""

    path: Path | None = None

    def __init__(self) -> None:
        self.stats = CacheStats()

    @property
    def enabled(self) -> bool:
        return False

    def get_many(self, entries: Iterable[tuple[str, int, int]], *, refs: bool = True) -> dict[str, list[Tag] | None]:
        out: dict[str, list[Tag] | None] = {rel: None for rel, _size, _mtime in entries}
        self.stats.misses += len(out)
        return out

    def get_refs(self, rels: Iterable[str]) -> dict[str, list[Tag]]:
        return {}

    def get_ref_counts(self, rels: Iterable[str]) -> dict[str, list[tuple[str, str, int]]]:
        return {}

    def get_flags(self, rels: Iterable[str]) -> dict[str, int]:
        return {}

    def has_size(self, rel: str, size: int) -> bool:
        return False

    def known_files(self, rels: Iterable[str] | None = None) -> dict[str, tuple[int, int]]:
        return {}

    def lookup_hash(self, rel: str, size: int, content_hash: bytes) -> list[Tag] | None:
        self.stats.hash_misses += 1
        return None

    def touch(self, rel: str, size: int, mtime_ns: int) -> None:
        return None

    def touch_many(self, rows: Iterable[tuple[str, int, int]]) -> None:
        return None

    def put_many(self, rows: Iterable[CacheRow]) -> None:
        return None

    def put_encoded(self, rows: Iterable[EncodedRow]) -> None:
        return None

    def prune(self, keep_rels: set[str]) -> int:
        return 0

    def get_blob(self, key: str) -> bytes | None:
        return None

    def newest_blob(self, prefix: str) -> tuple[str, bytes] | None:
        return None

    def open_blob(self, key: str) -> BinaryIO | None:
        return None

    def open_newest_blob(self, prefix: str, ending: str = "") -> tuple[str, BinaryIO] | None:
        return None

    def put_blob(self, key: str, value: bytes | Callable[[BinaryIO], None], *,
                 keep: int = DEFAULT_BLOBS_PER_PREFIX) -> None:
        return None

    def drop_blobs_except(self, prefixes: Iterable[str]) -> int:
        return 0

    def close(self) -> None:
        return None

    def __enter__(self) -> NullCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
