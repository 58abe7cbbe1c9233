"""The tag store: one SQLite database per repository, outside the repository.

Parsing is the expensive part of a map; a warm run should only ``stat`` files and
read tags back. The design follows from how ripmap is used:

* **Cheap validity test first.** A row is reused when the file's size and
  ``mtime_ns`` match exactly. When only the mtime moved (checkout, ``touch``), the
  caller hashes the bytes and :meth:`TagCache.lookup_hash` decides; :meth:`touch`
  then records the new mtime so the next run is a plain hit again.
* **Fast decode.** Tags are stored as ``marshal`` of a list of plain tuples:
  measured against pickle protocol 5 it decodes as fast or faster, and unlike pickle
  it cannot execute code if someone tampers with the cache file. Definitions,
  references and reference counts sit in separate columns (see :func:`_split`).
* **A new ripmap never reads an old layout.** The ``meta`` table records the schema
  and extractor versions; on a mismatch every table is dropped and recreated (see
  :mod:`ripmap.cache.sqlite`, which also keeps a damaged file from breaking the map).
  Rows and blobs additionally carry the version key, so an older process still
  running against a freshly rebuilt database cannot mistake new rows for its own.

The same file holds the raw blobs (bytes by key, the newest few per key prefix);
what they mean, and how they are keyed and encoded, is :mod:`ripmap.cache.blobs`.
"""
from __future__ import annotations

import hashlib
import io
import marshal
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import starmap
from pathlib import Path
from typing import BinaryIO

from ..extract import EXTRACTOR_VERSION
from ..extract.tags import Tag, ref_counts
from .paths import repo_cache_dir
from .protocol import DEFAULT_BLOBS_PER_PREFIX, CacheRow, EncodedRow
from .sqlite import SqliteStore, _chunks, _Disabled, _utf8_ok

#: Bump when the table layout or the tag encoding changes. It is part of the file
#: name too, so versions that disagree never even open each other's database.
SCHEMA_VERSION = 4

#: ``marshal`` format; version 4 has been stable since Python 3.4 and covers the
#: int/str/bool/None values a tag holds.
_MARSHAL_VERSION = 4

def cache_path_for(root: Path, cache_dir: Path | None = None) -> Path:
    """Where the tag database of ``root`` lives (see :mod:`ripmap.cache.paths`).

    Precedence: explicit ``cache_dir``, then ``$RIPMAP_CACHE_DIR``, then the
    platform's user cache directory.
    """
    return repo_cache_dir(Path(root), cache_dir) / f"tags-v{SCHEMA_VERSION}.sqlite"


def content_hash(data: bytes) -> bytes:
    """The 16-byte content digest the cache compares (BLAKE2b: fast, no collisions
    in practice). Callers use this so their hashes match the stored ones."""
    return hashlib.blake2b(data, digest_size=16).digest()


# ------------------------------------------------------------------ tag encoding


#: values at least this long are kept as files beside the database: SQLite reads and
#: writes a 120 MB blob (a 70,000-file tree's graph) at a third of the speed of a file
BLOB_FILE_MIN = 1 << 20
#: how a row says its value is in a file: this, then ``name\0size``
_FILE_MARK = b"\0ripmap-blob-file\0"
#: a file no row refers to is removed once it is this old (a writer commits its row
#: within seconds of writing the file)
_ORPHAN_AGE_S = 600.0


def _file_ref(stored: bytes) -> tuple[str, int] | None:
    """(file name, size) when a blob row refers to a file, else None."""
    if not stored.startswith(_FILE_MARK):
        return None
    try:
        name, size = stored[len(_FILE_MARK):].decode("ascii").split("\0")
        if not name.endswith(".blob") or "/" in name or name.startswith("."):
            return None
        return name, int(size)
    except (UnicodeDecodeError, ValueError):
        return None


def _tag_layout() -> str:
    """Fingerprint of the ``Tag`` fields: a changed record invalidates the cache."""
    return ",".join(Tag._fields)


def _encode_tags(tags: Iterable[Tag]) -> bytes:
    return marshal.dumps([tuple(t) for t in tags], _MARSHAL_VERSION)


def encode_tuples(rows: list[tuple]) -> bytes:
    """The stored encoding of a list of tag tuples (what workers send back, too)."""
    return marshal.dumps(rows, _MARSHAL_VERSION)


def decode_raw(blob: bytes) -> list[tuple] | None:
    """Plain tuples from an :func:`encode_tuples` blob (no Tag objects), or ``None``."""
    try:
        out = marshal.loads(blob)
    except (ValueError, EOFError, TypeError):
        return None
    return out if isinstance(out, list) else None


def decode_blob(blob: bytes) -> list[Tag] | None:
    """Tags from an :func:`encode_tuples` blob, or ``None`` if it is not one."""
    return _decode_tags(blob)


def _split(tags: Iterable[Tag]) -> tuple[bytes, bytes, bytes]:
    """Definitions, references and reference counts go to separate columns: a warm
    run needs only the definitions (the reference graph comes from its own cache),
    rebuilding the graph needs only the counts, and decoding the references is most
    of the cost of reading a file's tags back."""
    defs = [tuple(t) for t in tags if t[2]]
    refs = [tuple(t) for t in tags if not t[2]]
    return (marshal.dumps(defs, _MARSHAL_VERSION), marshal.dumps(refs, _MARSHAL_VERSION),
            marshal.dumps(ref_counts(refs), _MARSHAL_VERSION))


def _merge(defs: list[Tag] | None, refs: list[Tag] | None) -> list[Tag] | None:
    if defs is None or refs is None:
        return None
    out = defs + refs
    out.sort(key=Tag.sort_key)
    return out


_TAG_FIELDS = len(Tag._fields)


def _decode_tags(blob: bytes) -> list[Tag] | None:
    """Tags from a stored blob, or ``None`` when the blob is not what we wrote (every
    row is one tag's full tuple). ``starmap(Tag, ...)`` builds them at half the cost of
    ``Tag._make``, which a warm map pays for every definition it shows and the lexical
    index for every definition of the tree; the field count is checked once per blob."""
    try:
        rows = marshal.loads(blob)
        if rows and set(map(len, rows)) != {_TAG_FIELDS}:
            return None
        return list(starmap(Tag, rows))
    except (ValueError, EOFError, TypeError):
        return None


# --------------------------------------------------------------------- TagCache

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS files ("
    " rel TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
    " hash BLOB NOT NULL, parser TEXT NOT NULL, flags INTEGER NOT NULL DEFAULT 0,"
    " defs BLOB NOT NULL, refs BLOB NOT NULL, refcounts BLOB NOT NULL)",
    # few files have content flags: a warm run reads just those rows
    "CREATE INDEX IF NOT EXISTS files_flagged ON files (flags) WHERE flags != 0",
    # every run reads every file's stamps (known_files): from this covering index, not
    # from the table's pages, which hold the tags too (0.11 against 0.26 s for 70k files)
    "CREATE INDEX IF NOT EXISTS files_stamps ON files (rel, parser, size, mtime_ns)",
    "CREATE TABLE IF NOT EXISTS blobs ("
    " key TEXT PRIMARY KEY, prefix TEXT NOT NULL, version TEXT NOT NULL,"
    " stamp INTEGER NOT NULL, value BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS blobs_prefix ON blobs (prefix, stamp)",
)


_TABLES = frozenset({"meta", "files", "blobs"})


def _stamps(joined: tuple | None) -> dict[str, tuple[int, int]]:
    """rel → (size, mtime_ns) from one row of ``group_concat`` lists (rels joined by NUL,
    which no path holds; the numbers by commas), as :meth:`TagCache.known_files` reads them."""
    if not joined or joined[0] is None:
        return {}
    rels, sizes, mtimes = joined[0].split("\0"), joined[1].split(","), joined[2].split(",")
    if not len(rels) == len(sizes) == len(mtimes):
        return {}  # cannot happen (one aggregate pass); never trust a misaligned answer
    return dict(zip(rels, zip(map(int, sizes), map(int, mtimes))))


class TagCache(SqliteStore):
    """Tags per file of one repository, persisted in SQLite. See the module docs.

    Build with :meth:`open`. Every method is safe to call after a failure: the
    cache then answers like :class:`~ripmap.cache.null.NullCache`. Instances may be
    shared between threads (calls are serialised); processes each open their own.
    """

    SCHEMA = _SCHEMA
    TABLES = _TABLES
    FILE_GLOB = "tags-v*.sqlite*"
    LABEL = "tag cache"

    def __init__(self, path: Path | None, *, warn: Callable[[str], None],
                 extractor_version: str, parser_version: str) -> None:
        """Prefer :meth:`open`; this only sets fields and connects nothing."""
        super().__init__(path, warn=warn, meta={
            "schema": str(SCHEMA_VERSION),
            "extractor": f"{extractor_version}|tag:{_tag_layout()}",
        })
        # Stored on every row: a row is only ever read back by the same versions.
        self._version_key = f"{self._meta_expected['extractor']}|parser:{parser_version}"

    @classmethod
    def open(cls, root: Path, cache_dir: Path | None = None, *,
             warn: Callable[[str], None] = lambda m: None,
             extractor_version: str = EXTRACTOR_VERSION,
             parser_version: str = "") -> TagCache:
        """Open (creating or repairing as needed) the cache of ``root``. Never raises
        for cache problems: they produce one ``warn`` call and a no-op cache.

        ``extractor_version`` changes invalidate the whole database;
        ``parser_version`` (e.g. grammar versions) only hides rows written under a
        different value.
        """
        path = cache_path_for(Path(root), cache_dir)
        self = cls(path, warn=warn, extractor_version=extractor_version,
                   parser_version=parser_version)
        self._open_at(path)
        return self

    # ------------------------------------------------------------- public API

    def get_many(self, entries: Iterable[tuple[str, int, int]], *, refs: bool = True) -> dict[str, list[Tag] | None]:
        """Cached tags for each ``(rel, size, mtime_ns)``; ``None`` unless size and
        mtime match the stored row exactly (and it was written by this version).
        With ``refs=False`` only the definitions are decoded (see :meth:`get_refs`)."""
        wanted: dict[str, tuple[int, int]] = {rel: (size, mtime) for rel, size, mtime in entries}
        out: dict[str, list[Tag] | None] = dict.fromkeys(wanted)
        keys = [rel for rel in wanted if _utf8_ok(rel)]
        columns = f"rel, size, mtime_ns, defs, {'refs' if refs else 'NULL'}"
        try:
            with self._using() as conn:
                for rel, size, mtime, dblob, rblob in self._rows_of(conn, columns, keys):
                    if wanted.get(rel) == (size, mtime):
                        d = _decode_tags(dblob)
                        out[rel] = _merge(d, _decode_tags(rblob)) if refs else d
        except _Disabled:
            pass
        hits = sum(1 for v in out.values() if v is not None)
        self.stats.hits += hits
        self.stats.misses += len(out) - hits
        return out

    def get_refs(self, rels: Iterable[str]) -> dict[str, list[Tag]]:
        """The stored references of files already returned by ``get_many(refs=False)``."""
        return self._column(rels, "refs", _decode_tags)

    def get_ref_counts(self, rels: Iterable[str]) -> dict[str, list[tuple[str, str, int]]]:
        """The stored ``(name, kind, count)`` reference summary of each file (see
        :func:`ripmap.extract.tags.ref_counts`): what rebuilding the graph reads."""
        return self._column(rels, "refcounts", decode_raw)

    def _column(self, rels: Iterable[str], column: str, decode: Callable[[bytes], list | None]) -> dict[str, list]:
        """rel → ``decode(blob)`` of one blob column for the given files; rows whose blob
        does not decode are left out."""
        out: dict[str, list] = {}
        keys = [r for r in rels if _utf8_ok(r)]
        try:
            with self._using() as conn:
                for rel, blob in self._rows_of(conn, f"rel, {column}", keys):
                    got = decode(blob)
                    if got is not None:
                        out[rel] = got
        except _Disabled:
            pass
        return out

    def _rows_of(self, conn: sqlite3.Connection, columns: str, rels: Sequence[str]) -> Iterator[tuple]:
        """``SELECT columns`` of the rows of ``rels`` written by this version, a chunk of
        keys per statement (SQLite bounds the parameters of one)."""
        for chunk in _chunks(rels):
            marks = ",".join("?" * len(chunk))
            yield from self._retry(lambda: conn.execute(
                f"SELECT {columns} FROM files WHERE parser = ? AND rel IN ({marks})",
                (self._version_key, *chunk)).fetchall())

    def _one(self, sql: str, args: tuple) -> tuple | None:
        """The first row one read statement gives, or None (also once the cache is off)."""
        try:
            with self._using() as conn:
                return self._retry(lambda: conn.execute(sql, args).fetchone())
        except _Disabled:
            return None

    def get_flags(self, rels: Iterable[str]) -> dict[str, int]:
        """rel → the content flags stored with the file's tags (see :data:`EncodedRow`),
        for those of ``rels`` that have a row. Only non-zero flags are read back."""
        wanted = set(rels)
        try:
            with self._using() as conn:
                rows = self._retry(lambda: conn.execute(
                    "SELECT rel, flags FROM files WHERE parser = ? AND flags != 0",
                    (self._version_key,)).fetchall())
        except _Disabled:
            return {}
        return {rel: int(fl) for rel, fl in rows if rel in wanted}

    def known_files(self, rels: Iterable[str] | None = None) -> dict[str, tuple[int, int]]:
        """rel → (size, mtime_ns) of every stored file (or of those of ``rels`` that are
        stored): what discovery need not sniff again, what the index need not parse."""
        try:
            with self._using() as conn:
                if rels is None:
                    # one row of three lists, not a row per file: every row fetched takes the
                    # GIL back, and with another thread busy (the index, discovery) 70,000
                    # rows took 1.1-1.4 s instead of 0.1-0.2 s; the lists are built in SQLite
                    joined = self._retry(lambda: conn.execute(
                        "SELECT group_concat(rel, char(0)), group_concat(size), group_concat(mtime_ns) "
                        "FROM files WHERE parser = ?", (self._version_key,)).fetchone())
                    return _stamps(joined)
                else:
                    rows = []
                    for part in _chunks([r for r in rels if _utf8_ok(r)]):
                        rows += self._retry(lambda part=part: conn.execute(
                            f"SELECT rel, size, mtime_ns FROM files WHERE parser = ? AND rel IN "
                            f"({','.join('?' * len(part))})", (self._version_key, *part)).fetchall())
        except _Disabled:
            return {}
        return {rel: (size, mtime) for rel, size, mtime in rows}

    def has_size(self, rel: str, size: int) -> bool:
        """Whether a row for ``rel`` with this size exists (a cheap pre-check before hashing)."""
        return _utf8_ok(rel) and self._one("SELECT 1 FROM files WHERE rel = ? AND size = ? AND parser = ?",
                                           (rel, size, self._version_key)) is not None

    def lookup_hash(self, rel: str, size: int, content_hash: bytes) -> list[Tag] | None:
        """Tags stored for ``rel`` if its size and content hash still match.

        For the ambiguous case (same size, new mtime). On a hit, call :meth:`touch`
        with the new mtime so the next run is a plain :meth:`get_many` hit.
        """
        row = self._one("SELECT defs, refs FROM files WHERE rel = ? AND size = ? AND hash = ? AND parser = ?",
                        (rel, size, bytes(content_hash), self._version_key)) if _utf8_ok(rel) else None
        found = _merge(_decode_tags(row[0]), _decode_tags(row[1])) if row is not None else None
        if found is None:
            self.stats.hash_misses += 1
        else:
            self.stats.hash_hits += 1
        return found

    def touch(self, rel: str, size: int, mtime_ns: int) -> None:
        """Record a new mtime for an unchanged file (after a :meth:`lookup_hash` hit)."""
        self.touch_many([(rel, size, mtime_ns)])

    def touch_many(self, rows: Iterable[tuple[str, int, int]]) -> None:
        """:meth:`touch` for many files in one transaction (a checkout touches all)."""
        params = [(mtime, rel, size, self._version_key)
                  for rel, size, mtime in rows if _utf8_ok(rel)]
        if not params:
            return
        try:
            with self._using() as conn:
                self._write_txn(conn, lambda c: c.executemany(
                    "UPDATE files SET mtime_ns = ? WHERE rel = ? AND size = ? AND parser = ?",
                    params))
        except _Disabled:
            pass

    def put_encoded(self, rows: Iterable[EncodedRow]) -> None:
        """Store rows whose tags are already encoded (see :data:`EncodedRow`).

        Parse workers encode their results once; the main process stores the bytes as
        they are instead of rebuilding and re-encoding every reference.
        """
        params = [(rel, int(size), int(mtime), bytes(digest), self._version_key, dblob, rblob, cblob, int(flags))
                  for rel, size, mtime, digest, dblob, rblob, cblob, flags in rows if _utf8_ok(rel)]
        if not params:
            return
        try:
            with self._using() as conn:
                self._write_txn(conn, lambda c: c.executemany(
                    "INSERT OR REPLACE INTO files (rel, size, mtime_ns, hash, parser, defs, refs, refcounts, flags) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", params))
            self.stats.writes += len(params)
        except _Disabled:
            pass

    def put_many(self, rows: Iterable[CacheRow]) -> None:
        """Store ``(rel, size, mtime_ns, content_hash, tags)`` rows in ONE transaction
        (with no content flags).

        Encoding happens before the transaction starts so the write lock is held
        only for the inserts themselves.
        """
        encoded: list[EncodedRow] = []
        for rel, size, mtime, digest, tags in rows:
            try:
                dblob, rblob, cblob = _split(tags)
            except (ValueError, TypeError, AttributeError, IndexError):  # not a Tag list: skip the row
                continue
            encoded.append((rel, size, mtime, digest, dblob, rblob, cblob, 0))
        self.put_encoded(encoded)

    def prune(self, keep_rels: set[str]) -> int:
        """Delete rows of files not in ``keep_rels``; returns how many went."""
        try:
            with self._using() as conn:
                def delete(c: sqlite3.Connection) -> int:
                    gone = [(r,) for (r,) in c.execute("SELECT rel FROM files")
                            if r not in keep_rels]
                    c.executemany("DELETE FROM files WHERE rel = ?", gone)
                    return len(gone)
                return self._write_txn(conn, delete)
        except _Disabled:
            return 0

    def get_blob(self, key: str) -> bytes | None:
        """A value stored with :meth:`put_blob`, or ``None``."""
        fh = self.open_blob(key)
        if fh is None:
            return None
        with fh:
            return fh.read()

    def newest_blob(self, prefix: str) -> tuple[str, bytes] | None:
        """The most recently stored ``(key, value)`` whose key starts with ``prefix:``."""
        got = self.open_newest_blob(prefix)
        if got is None:
            return None
        with got[1] as fh:
            return got[0], fh.read()

    def open_blob(self, key: str) -> BinaryIO | None:
        """A value stored with :meth:`put_blob` as a readable binary file, or ``None``: a
        value kept in a file is read from it by the decoder as it goes, never held whole
        in memory beside what it decodes to (475 MB for a 70,000-file lexical index)."""
        row = self._one("SELECT value FROM blobs WHERE key = ? AND version = ?",
                        (key, self._version_key)) if _utf8_ok(key) else None
        return None if row is None else self._open(bytes(row[0]))

    def open_newest_blob(self, prefix: str, ending: str = "") -> tuple[str, BinaryIO] | None:
        """:meth:`newest_blob` as ``(key, readable binary file)``; with ``ending``, the newest
        whose key ends with it."""
        if not (_utf8_ok(prefix) and _utf8_ok(ending)):
            return None
        row = self._one("SELECT key, value FROM blobs WHERE prefix = ? AND version = ? "
                        "AND substr(key, length(key) - length(?) + 1) = ? ORDER BY stamp DESC LIMIT 1",
                        (prefix, self._version_key, ending, ending))
        if row is None:
            return None
        fh = self._open(bytes(row[1]))
        return None if fh is None else (str(row[0]), fh)

    def _open(self, stored: bytes) -> BinaryIO | None:
        where = _file_ref(stored)
        if where is None:
            return io.BytesIO(stored)
        name, size = where
        if self.path is None:
            return None
        try:
            fh = open(self._blob_dir() / name, "rb")
        except OSError:
            return None
        try:
            whole = os.fstat(fh.fileno()).st_size == size
        except OSError:
            whole = False
        if not whole:
            fh.close()
            return None
        return fh

    def put_blob(self, key: str, value: bytes | Callable[[BinaryIO], None], *,
                 keep: int = DEFAULT_BLOBS_PER_PREFIX) -> None:
        """Store ``value`` under ``key`` and keep only the newest ``keep`` keys that
        share its prefix (text before the first ``:``), e.g. ``graph:<fingerprint>``
        or ``git:<HEAD>``. Fingerprint-keyed values would otherwise pile up forever;
        keeping two lets switching back and forth between branches stay warm.

        A value of :data:`BLOB_FILE_MIN` bytes or more goes to a file of its own beside
        the database (see :meth:`_blob_file`), the row holding where and how long it is.
        ``value`` may be a writer (called with a binary file) for big values: it writes
        straight into that file, never into a copy in memory first.
        """
        if not _utf8_ok(key):
            return
        prefix = key.split(":", 1)[0]  # e.g. "graph" of graph:<fingerprint>
        keep = max(1, keep)
        if callable(value) and self.path is not None:
            stored = self._write_blob_file(key, value)
            if stored is None:
                return
            in_file = True
        else:
            if callable(value):
                buf = io.BytesIO()
                value(buf)
                value = buf.getvalue()
            value = bytes(value)
            stored = value
            in_file = len(value) >= BLOB_FILE_MIN and self.path is not None
            if in_file:
                stored = self._write_blob_file(key, value)
                if stored is None:
                    return
        gone: list[bytes] = []

        def store(c: sqlite3.Connection) -> None:
            (stamp,) = c.execute("SELECT coalesce(max(stamp), 0) + 1 FROM blobs").fetchone()
            c.execute("INSERT OR REPLACE INTO blobs (key, prefix, version, stamp, value) "
                      "VALUES (?, ?, ?, ?, ?)", (key, prefix, self._version_key, stamp, stored))
            old = "(SELECT key FROM blobs WHERE prefix = ? ORDER BY stamp DESC LIMIT ?)"
            # only rows that refer to a file are read (a value held inline may be big)
            gone[:] = [bytes(v) for (v,) in c.execute(
                f"SELECT value FROM blobs WHERE prefix = ? AND length(value) < 512 AND key NOT IN {old}",
                (prefix, prefix, keep))]
            c.execute(f"DELETE FROM blobs WHERE prefix = ? AND key NOT IN {old}", (prefix, prefix, keep))

        try:
            with self._using() as conn:
                self._write_txn(conn, store)
        except _Disabled:
            return
        self._unlink_files_of(gone)  # other keys: other file names
        if in_file:
            self._sweep_blob_files()

    def drop_blobs_except(self, prefixes: Iterable[str]) -> int:
        """Delete every blob whose key prefix is not one of ``prefixes`` (and its file):
        kinds an older ripmap stored (a multiplied-out file graph of 500 MB on a big tree)
        would otherwise stay in the cache for good."""
        keep = sorted(set(prefixes))
        marks = ",".join("?" * len(keep))
        gone: list[bytes] = []

        def drop(c: sqlite3.Connection) -> int:
            where = f"prefix NOT IN ({marks})" if keep else "1"
            gone[:] = [bytes(v) for (v,) in c.execute(
                f"SELECT value FROM blobs WHERE {where} AND length(value) < 512", keep)]
            return c.execute(f"DELETE FROM blobs WHERE {where}", keep).rowcount

        try:
            with self._using() as conn:
                n = self._write_txn(conn, drop)
        except _Disabled:
            return 0
        self._unlink_files_of(gone)
        return int(n or 0)

    # -- blobs kept as files ----------------------------------------------------------
    def _blob_dir(self) -> Path:
        assert self.path is not None
        return self.path.with_name(self.path.name.split(".sqlite")[0] + ".blobs")

    def _blob_file(self, key: str) -> str:
        """The file name of a big value: a digest of its key and version (one file per key,
        overwritten in place by a newer value of the same key)."""
        digest = hashlib.blake2b(f"{self._version_key}\0{key}".encode("utf-8", "surrogatepass"), digest_size=16)
        return digest.hexdigest() + ".blob"

    def _write_blob_file(self, key: str, value: bytes | Callable[[BinaryIO], None]) -> bytes | None:
        """Write ``value`` (bytes, or a writer called with the open file) to its file
        (whole or not at all: a temporary file renamed into place) and give the row's
        reference to it; None when it cannot be written."""
        name = self._blob_file(key)
        d = self._blob_dir()
        tmp = d / f"{name}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            d.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                if callable(value):
                    value(fh)
                else:
                    fh.write(value)
                size = fh.tell()
            os.replace(tmp, d / name)
        except Exception as e:  # a full disk, or a writer that failed: the value is not kept
            try:
                tmp.unlink()
            except OSError:
                pass
            self._warn_once("blobfile", f"{self.LABEL}: cannot write {d}: {e}; not kept")
            return None
        return _FILE_MARK + f"{name}\0{size}".encode()

    def _sweep_blob_files(self) -> None:
        """Remove files no row refers to (a process killed between writing a file and its
        row, a database rebuilt after damage), once they are old enough that no other
        process can be about to commit the row."""
        try:
            with self._using() as conn:
                rows = self._retry(lambda: conn.execute(
                    # length() of a blob reads no content: big values stay unread
                    "SELECT value FROM blobs WHERE length(value) < 512 AND substr(value, 1, ?) = ?",
                    (len(_FILE_MARK), _FILE_MARK)).fetchall())
        except _Disabled:
            return
        named = {ref[0] for (v,) in rows if (ref := _file_ref(bytes(v))) is not None}
        cutoff = time.time() - _ORPHAN_AGE_S
        try:
            entries = list(os.scandir(self._blob_dir()))
        except OSError:
            return
        for e in entries:
            try:
                if e.name not in named and e.stat().st_mtime < cutoff:
                    os.unlink(e.path)
            except OSError:
                pass

    def _unlink_files_of(self, values: Iterable[bytes]) -> None:
        """Remove the files that deleted rows' values referred to."""
        for v in values:
            where = _file_ref(v)
            if where is not None:
                try:
                    (self._blob_dir() / where[0]).unlink()
                except OSError:
                    pass

    def __enter__(self) -> TagCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "open" if self._conn is not None else "disabled"
        return f"TagCache({str(self.path)!r}, {state}, {self.stats})"
