"""Caches: what a warm map reads back instead of parsing, building or reading git again.

One protocol (:class:`~ripmap.cache.protocol.Cache`), SQLite underneath, outside the
repository. The package, one concern per module:

* :mod:`.protocol`: the :class:`Cache` protocol every cache answers to, its row types and
  :class:`CacheStats`;
* :mod:`.paths`: where caches live (``$RIPMAP_CACHE_DIR``, the user cache dir, one
  folder per repository);
* :mod:`.sqlite`: the robustness layer (WAL, busy retries, corruption → moved aside and
  rebuilt, one damaged copy kept; any failure degrades to a no-op, never an error);
* :mod:`.tags`: the tag store, :class:`TagCache` (tags per file, plus raw blobs by key);
* :mod:`.null`: :class:`NullCache`, for ``--no-cache``;
* :mod:`.blobs`: the typed blob store (reference graph, git signals, lexical index: each
  kind's key and codec). Import it as ``ripmap.cache.blobs``: it knows the types it
  stores, which themselves sit above the tag store;
* :mod:`.vocab`: the tokenizer's parsed vocabulary file.
"""
from __future__ import annotations

from .null import NullCache
from .paths import CACHE_DIR_ENV, cache_base
from .protocol import DEFAULT_BLOBS_PER_PREFIX, Cache, CacheRow, CacheStats, EncodedRow
from .tags import SCHEMA_VERSION, TagCache, cache_path_for, content_hash, decode_blob, decode_raw, encode_tuples

__all__ = [
    "SCHEMA_VERSION",
    "CACHE_DIR_ENV",
    "DEFAULT_BLOBS_PER_PREFIX",
    "Cache",
    "CacheRow",
    "CacheStats",
    "EncodedRow",
    "NullCache",
    "TagCache",
    "cache_base",
    "cache_path_for",
    "content_hash",
    "decode_blob",
    "decode_raw",
    "encode_tuples",
]
