"""The tag cache: one SQLite database per repository, outside the repository.

Parsing is the expensive part of a map; a warm run should only ``stat`` files and
read tags back. The design follows from how ripmap is used:

* **Outside the user's tree.** The database lives under the user cache directory
  (``platformdirs.user_cache_dir("ripmap")``), in a folder named after a hash of the
  repository's real path, so a map never dirties ``git status`` and two checkouts of
  the same project never share (or fight over) a cache.
* **Cheap validity test first.** A row is reused when the file's size and
  ``mtime_ns`` match exactly. When only the mtime moved (checkout, ``touch``), the
  caller hashes the bytes and :meth:`TagCache.lookup_hash` decides; :meth:`touch`
  then records the new mtime so the next run is a plain hit again.
* **Fast decode.** Tags are stored as ``marshal`` of a list of plain tuples:
  measured against pickle protocol 5 it decodes as fast or faster, and unlike pickle
  it cannot execute code if someone tampers with the cache file.
* **Concurrent use is normal** (an editor plugin, an MCP server and a CLI on the same
  repository). WAL mode lets readers proceed while one writer commits; writes use
  short ``BEGIN IMMEDIATE`` transactions with a busy timeout *and* a retry loop,
  because SQLite reports some lock conflicts without consulting the busy handler.
* **A cache must never break the map.** A corrupt or foreign file is moved aside and
  rebuilt with one warning; any SQLite failure after that turns the cache into a
  no-op for the rest of the run (one warning), and a directory that cannot be created
  gives a no-op cache too.
* **A new ripmap never reads an old layout.** The ``meta`` table records the schema
  and extractor versions; on a mismatch every table is dropped and recreated. Rows
  and blobs additionally carry the version key, so an older process still running
  against a freshly rebuilt database cannot mistake new rows for its own.
"""
from __future__ import annotations

import hashlib
import marshal
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import platformdirs

from .extract import EXTRACTOR_VERSION
from .extract.tags import Tag, ref_counts

__all__ = [
    "SCHEMA_VERSION",
    "CACHE_DIR_ENV",
    "CacheStats",
    "NullCache",
    "TagCache",
    "cache_path_for",
    "content_hash",
]

#: Bump when the table layout or the tag encoding changes. It is part of the file
#: name too, so versions that disagree never even open each other's database.
SCHEMA_VERSION = 4

#: Environment variable that relocates every cache (tests, CI, read-only homes).
CACHE_DIR_ENV = "RIPMAP_CACHE_DIR"

#: How long SQLite itself waits on a lock before reporting "busy".
BUSY_TIMEOUT_S = 10.0
#: Upper bound on our own retrying after SQLite gave up; beyond this the cache
#: degrades to a no-op rather than stall the map.
RETRY_DEADLINE_S = 30.0

#: ``marshal`` format; version 4 has been stable since Python 3.4 and covers the
#: int/str/bool/None values a tag holds.
_MARSHAL_VERSION = 4
#: Bound parameters per statement; well under SQLite's historical limit of 999.
_CHUNK = 500
#: How many blobs survive per key prefix (see :meth:`TagCache.put_blob`).
DEFAULT_BLOBS_PER_PREFIX = 2
#: How many moved-aside corrupt databases to keep for a post-mortem: the newest only.
#: Each is as big as the cache itself, and a second copy rarely tells more than the first.
_KEEP_CORRUPT = 1

# SQLite primary result codes that mean "the bytes on disk are not a sound database".
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26

_TAG_FIELDS = ("line", "name", "is_def", "kind", "end_line", "parent", "signature")

_T = TypeVar("_T")

#: A cached row as given to :meth:`TagCache.put_many`:
#: ``(rel, size, mtime_ns, content_hash, tags)``.
CacheRow = tuple[str, int, int, bytes, Sequence[Tag]]
#: A row as given to :meth:`TagCache.put_encoded`, tags already encoded:
#: ``(rel, size, mtime_ns, content_hash, defs, refs, refcounts, flags)``; ``flags`` are
#: the file classes its content revealed (:func:`ripmap.discover.content_flags`), kept
#: so a warm run knows them without reading the file.
EncodedRow = tuple[str, int, int, bytes, bytes, bytes, bytes, int]


# --------------------------------------------------------------------------- paths


def _root_key(root: Path) -> str:
    """Stable short id of a repository: its real path, so symlinks share a cache."""
    real = os.path.realpath(os.fspath(root))
    return hashlib.sha1(os.fsencode(real)).hexdigest()[:16]


def cache_path_for(root: Path, cache_dir: Path | None = None) -> Path:
    """Where the tag database of ``root`` lives.

    Precedence: explicit ``cache_dir``, then ``$RIPMAP_CACHE_DIR``, then the
    platform's user cache directory. The repository gets its own sub-folder named
    after ``sha1(realpath(root))[:16]``, so the path is never inside ``root`` unless
    the user explicitly points the cache there.
    """
    return cache_base(cache_dir) / _root_key(Path(root)) / f"tags-v{SCHEMA_VERSION}.sqlite"


def cache_base(cache_dir: Path | None = None) -> Path:
    """The cache folder: ``cache_dir``, else ``$RIPMAP_CACHE_DIR``, else the user cache dir."""
    if cache_dir is not None:
        base = Path(cache_dir)
    elif os.environ.get(CACHE_DIR_ENV):
        base = Path(os.environ[CACHE_DIR_ENV])
    else:
        base = Path(platformdirs.user_cache_dir("ripmap"))
    return base.expanduser()


def content_hash(data: bytes) -> bytes:
    """The 16-byte content digest the cache compares (BLAKE2b: fast, no collisions
    in practice). Callers use this so their hashes match the stored ones."""
    return hashlib.blake2b(data, digest_size=16).digest()


# ------------------------------------------------------------------ tag encoding


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


def _decode_tags(blob: bytes) -> list[Tag] | None:
    """Tags from a stored blob, or ``None`` when the blob is not what we wrote."""
    try:
        return list(map(Tag._make, marshal.loads(blob)))
    except (ValueError, EOFError, TypeError):
        return None


# ---------------------------------------------------------------- error helpers


def _error_code(e: sqlite3.Error) -> int | None:
    code = getattr(e, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _is_corruption(e: BaseException) -> bool:
    """True when SQLite says the file is damaged or not a database at all."""
    if not isinstance(e, sqlite3.DatabaseError):
        return False
    code = _error_code(e)
    if code is not None:
        return code in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    msg = str(e).lower()
    return "malformed" in msg or "not a database" in msg or "corrupt" in msg


def _is_busy(e: BaseException) -> bool:
    """True for lock conflicts that go away if we wait (never for corruption)."""
    if not isinstance(e, sqlite3.OperationalError):
        return False
    msg = str(e).lower()
    return "locked" in msg or "busy" in msg


def _utf8_ok(s: str) -> bool:
    """SQLite text must be valid UTF-8; paths with lone surrogates are not cached."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _chunks(items: Sequence[_T], n: int = _CHUNK) -> Iterator[Sequence[_T]]:
    for i in range(0, len(items), n):
        yield items[i:i + n]


def _blob_prefix(key: str) -> str:
    """The family a blob key belongs to: text before the first ``:`` (or the key)."""
    return key.split(":", 1)[0]


def _move_aside(path: Path) -> Path | None:
    """Move a damaged database (and its WAL/SHM side files) out of the way.

    Returns the new name, or ``None`` when it had to be deleted instead. The side
    files must go too: a fresh database next to a stale ``-wal`` would replay the
    old pages into it. Raises ``OSError`` only if the file can be neither moved
    nor deleted.
    """
    now = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now)) + f".{int(now % 1 * 1e6):06d}"
    aside: Path | None = path.with_name(f"{path.name}.corrupt-{stamp}")
    if aside.exists():
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{os.getpid()}")
    try:
        os.replace(path, aside)
    except FileNotFoundError:
        aside = None
    except OSError:
        aside = None
        path.unlink(missing_ok=True)
    for suffix in ("-wal", "-shm", "-journal"):
        side = Path(f"{path}{suffix}")
        try:
            if aside is not None and suffix == "-wal":
                os.replace(side, Path(f"{aside}{suffix}"))
            else:
                side.unlink(missing_ok=True)
        except OSError:
            try:
                side.unlink(missing_ok=True)
            except OSError:
                pass
    _prune_corrupt_copies(path, aside)
    return aside


def _prune_corrupt_copies(path: Path, newest: Path | None, keep: int = _KEEP_CORRUPT) -> None:
    """Delete all but the ``keep`` newest moved-aside copies of ``path`` (best effort).

    ``newest``, the copy just made, always stays; the others are ordered by the time
    stamp in their names, not by mtime: ``os.replace`` keeps the damaged file's own
    mtime, so a fresh copy can look older than earlier ones. A copy's ``-wal`` side
    file goes with it.
    """
    try:
        files = list(path.parent.glob(f"{path.name}.corrupt-*"))
        kept = [newest.name] if newest is not None else []
        others = sorted({f.name.removesuffix("-wal") for f in files} - set(kept), reverse=True)
        doomed = set(others[max(0, keep - len(kept)):])
        for f in files:
            if f.name.removesuffix("-wal") in doomed:
                f.unlink(missing_ok=True)
    except OSError:
        pass


def _remove_other_schema_files(path: Path) -> None:
    """Delete databases of other schema versions next to ``path`` (best effort).

    The schema version is in the file name, so after an upgrade the old file would
    otherwise sit in the cache directory forever. An old ripmap still running on it
    keeps its open file handle; it simply starts from scratch next time.
    """
    try:
        for p in path.parent.glob("tags-v*.sqlite*"):
            if not p.name.startswith(path.name):
                p.unlink(missing_ok=True)
    except OSError:
        pass


# ------------------------------------------------------------------------ stats


@dataclass
class CacheStats:
    """Counters for one cache object (not persisted): what ``--stats`` reports."""

    hits: int = 0
    misses: int = 0
    hash_hits: int = 0
    hash_misses: int = 0
    writes: int = 0

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


# -------------------------------------------------------------------- NullCache


class NullCache:
    """A cache that remembers nothing (``--no-cache``); same interface as TagCache."""

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

    def known_files(self) -> dict[str, tuple[int, int]]:
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

    def put_blob(self, key: str, value: bytes, *, keep: int = DEFAULT_BLOBS_PER_PREFIX) -> None:
        return None

    def close(self) -> None:
        return None

    def __enter__(self) -> NullCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------- TagCache

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS files ("
    " rel TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,"
    " hash BLOB NOT NULL, parser TEXT NOT NULL, flags INTEGER NOT NULL DEFAULT 0,"
    " defs BLOB NOT NULL, refs BLOB NOT NULL, refcounts BLOB NOT NULL)",
    # few files have content flags: a warm run reads just those rows
    "CREATE INDEX IF NOT EXISTS files_flagged ON files (flags) WHERE flags != 0",
    "CREATE TABLE IF NOT EXISTS blobs ("
    " key TEXT PRIMARY KEY, prefix TEXT NOT NULL, version TEXT NOT NULL,"
    " stamp INTEGER NOT NULL, value BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS blobs_prefix ON blobs (prefix, stamp)",
)


_TABLES = frozenset({"meta", "files", "blobs"})


class _Disabled(Exception):
    """Internal: the cache has been switched off; callers get the no-op answer."""


class TagCache:
    """Tags per file of one repository, persisted in SQLite. See the module docs.

    Build with :meth:`open`. Every method is safe to call after a failure: the
    cache then answers like :class:`NullCache`. Instances may be shared between
    threads (calls are serialised); processes each open their own.
    """

    def __init__(self, path: Path | None, *, warn: Callable[[str], None],
                 extractor_version: str, parser_version: str) -> None:
        """Prefer :meth:`open`; this only sets fields and connects nothing."""
        self.path = path
        self.stats = CacheStats()
        self._warn_fn = warn
        self._warned: set[str] = set()
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self._meta_expected = {
            "schema": str(SCHEMA_VERSION),
            "extractor": f"{extractor_version}|tag:{_tag_layout()}",
        }
        # Stored on every row: a row is only ever read back by the same versions.
        self._version_key = f"{self._meta_expected['extractor']}|parser:{parser_version}"

    # ----------------------------------------------------------------- opening

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
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            self._warn_once("disabled", f"tag cache disabled: cannot create {path.parent}: {e}")
            return self
        try:
            self._conn = self._connect(path)
        except (sqlite3.Error, OSError) as e:
            if not _is_corruption(e):
                self._warn_once("disabled", f"tag cache disabled: {path}: {e}")
                return self
            try:
                aside = _move_aside(path)
            except OSError as e2:
                self._warn_once("disabled", f"tag cache was corrupt and could not be removed; "
                                            f"disabled ({path}: {e2})")
                return self
            where = f"moved to {aside}" if aside is not None else f"deleted {path}"
            try:
                self._conn = self._connect(path)
            except (sqlite3.Error, OSError) as e3:
                self._warn_once("disabled", f"tag cache was corrupt ({where}) and could not be "
                                            f"rebuilt; disabled: {e3}")
                return self
            self._warn_once("corrupt", f"tag cache was corrupt; rebuilt ({where})")
        _remove_other_schema_files(path)
        return self

    def _connect(self, path: Path) -> sqlite3.Connection:
        """Connect, configure, and make sure the schema is current. Raises on failure."""
        conn = sqlite3.connect(os.fspath(path), timeout=BUSY_TIMEOUT_S, isolation_level=None,
                               check_same_thread=False)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            # Switching to WAL needs a brief exclusive lock; it is persistent, so
            # only the first process ever pays for it.
            self._retry(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA journal_size_limit = 16777216")
            self._ensure_schema(conn)
            # Cheap structural probe: the right-most path of each B-tree. SQLite has
            # already compared the header's page count with the file size while
            # reading the schema, so truncation and foreign files fail above.
            self._retry(lambda: (conn.execute("SELECT max(rowid) FROM files").fetchone(),
                                 conn.execute("SELECT max(rowid) FROM blobs").fetchone()))
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _read_meta(conn: sqlite3.Connection) -> dict[str, str] | None:
        try:
            return dict(conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.OperationalError as e:
            if "no such table" in str(e).lower():
                return None
            raise

    def _is_current(self, conn: sqlite3.Connection) -> bool:
        """Whether the database holds exactly our tables, written by our versions."""
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return _TABLES <= names and self._read_meta(conn) == self._meta_expected

    def _ensure_schema(self, conn: sqlite3.Connection) -> None:
        """Create the tables, or drop and recreate them if another version made them."""
        if self._retry(lambda: self._is_current(conn)):
            return

        def rebuild(c: sqlite3.Connection) -> None:
            # Re-check under the write lock: another process may have just done it.
            if self._is_current(c):
                return
            tables = [r[0] for r in c.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
            for name in tables:
                c.execute(f'DROP TABLE IF EXISTS "{name}"')
            for stmt in _SCHEMA:
                c.execute(stmt)
            c.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                          sorted(self._meta_expected.items()))

        self._write_txn(conn, rebuild)

    # ----------------------------------------------------------- transactions

    def _retry(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn``, retrying lock conflicts with jittered back-off until the deadline."""
        deadline = time.monotonic() + RETRY_DEADLINE_S
        delay = 0.005
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as e:
                if not _is_busy(e) or time.monotonic() >= deadline:
                    raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.25)

    def _write_txn(self, conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``fn`` in one ``BEGIN IMMEDIATE`` transaction, retried as a whole.

        IMMEDIATE takes the write lock up front, so a conflict shows up at BEGIN
        (where waiting is safe) instead of as an unretryable upgrade failure later.
        """
        def attempt() -> _T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                raise
            return result

        return self._retry(attempt)

    @contextmanager
    def _using(self) -> Iterator[sqlite3.Connection]:
        """Hand out the live connection, or turn any SQLite failure into a no-op.

        Raises :class:`_Disabled` (caught by each public method) when there is no
        connection or the body failed; the failure is reported once and the
        connection dropped, so the rest of the run runs without a cache.
        """
        with self._lock:
            conn = self._conn
            if conn is None:
                raise _Disabled
            try:
                yield conn
            except (sqlite3.Error, OSError) as e:
                self._fail(e)
                raise _Disabled from e

    def _fail(self, e: BaseException) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:
                pass
        if _is_corruption(e) and self.path is not None:
            # Move it aside now so the next run starts from a clean database
            # instead of tripping over the same damage again.
            try:
                aside = _move_aside(self.path)
                where = f"moved to {aside}" if aside else f"deleted {self.path}"
            except OSError:
                where = "could not be removed"
            self._warn_once("disabled", f"tag cache was corrupt ({where}); caching disabled "
                                        f"for this run, rebuilt next run: {e}")
        else:
            self._warn_once("disabled", f"tag cache disabled after an SQLite error: {e}")

    def _warn_once(self, key: str, message: str) -> None:
        if key in self._warned:
            return
        self._warned.add(key)
        try:
            self._warn_fn(message)
        except Exception:  # a broken reporter must not break the map either
            pass

    # ------------------------------------------------------------- public API

    @property
    def enabled(self) -> bool:
        """Whether the cache is actually persisting (False after degrading)."""
        return self._conn is not None

    def get_many(self, entries: Iterable[tuple[str, int, int]], *, refs: bool = True) -> dict[str, list[Tag] | None]:
        """Cached tags for each ``(rel, size, mtime_ns)``; ``None`` unless size and
        mtime match the stored row exactly (and it was written by this version).
        With ``refs=False`` only the definitions are decoded (see :meth:`get_refs`)."""
        wanted: dict[str, tuple[int, int]] = {rel: (size, mtime) for rel, size, mtime in entries}
        out: dict[str, list[Tag] | None] = dict.fromkeys(wanted)
        keys = [rel for rel in wanted if _utf8_ok(rel)]
        try:
            with self._using() as conn:
                for chunk in _chunks(keys):
                    marks = ",".join("?" * len(chunk))
                    rows = self._retry(lambda: conn.execute(
                        f"SELECT rel, size, mtime_ns, defs, {'refs' if refs else 'NULL'} FROM files "
                        f"WHERE parser = ? AND rel IN ({marks})",
                        (self._version_key, *chunk)).fetchall())
                    for rel, size, mtime, dblob, rblob in rows:
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
                for chunk in _chunks(keys):
                    marks = ",".join("?" * len(chunk))
                    rows = self._retry(lambda: conn.execute(
                        f"SELECT rel, {column} FROM files WHERE parser = ? AND rel IN ({marks})",
                        (self._version_key, *chunk)).fetchall())
                    for rel, blob in rows:
                        got = decode(blob)
                        if got is not None:
                            out[rel] = got
        except _Disabled:
            pass
        return out

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

    def known_files(self) -> dict[str, tuple[int, int]]:
        """rel → (size, mtime_ns) of every stored file: what discovery need not sniff again."""
        try:
            with self._using() as conn:
                rows = self._retry(lambda: conn.execute(
                    "SELECT rel, size, mtime_ns FROM files WHERE parser = ?", (self._version_key,)).fetchall())
        except _Disabled:
            return {}
        return {rel: (size, mtime) for rel, size, mtime in rows}

    def has_size(self, rel: str, size: int) -> bool:
        """Whether a row for ``rel`` with this size exists (a cheap pre-check before hashing)."""
        if not _utf8_ok(rel):
            return False
        try:
            with self._using() as conn:
                row = self._retry(lambda: conn.execute(
                    "SELECT 1 FROM files WHERE rel = ? AND size = ? AND parser = ?",
                    (rel, size, self._version_key)).fetchone())
                return row is not None
        except _Disabled:
            return False

    def lookup_hash(self, rel: str, size: int, content_hash: bytes) -> list[Tag] | None:
        """Tags stored for ``rel`` if its size and content hash still match.

        For the ambiguous case (same size, new mtime). On a hit, call :meth:`touch`
        with the new mtime so the next run is a plain :meth:`get_many` hit.
        """
        found: list[Tag] | None = None
        if _utf8_ok(rel):
            try:
                with self._using() as conn:
                    row = self._retry(lambda: conn.execute(
                        "SELECT defs, refs FROM files WHERE rel = ? AND size = ? AND hash = ? "
                        "AND parser = ?", (rel, size, bytes(content_hash), self._version_key),
                    ).fetchone())
                    if row is not None:
                        found = _merge(_decode_tags(row[0]), _decode_tags(row[1]))
            except _Disabled:
                pass
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
        if not _utf8_ok(key):
            return None
        try:
            with self._using() as conn:
                row = self._retry(lambda: conn.execute(
                    "SELECT value FROM blobs WHERE key = ? AND version = ?",
                    (key, self._version_key)).fetchone())
                return None if row is None else bytes(row[0])
        except _Disabled:
            return None

    def put_blob(self, key: str, value: bytes, *, keep: int = DEFAULT_BLOBS_PER_PREFIX) -> None:
        """Store ``value`` under ``key`` and keep only the newest ``keep`` keys that
        share its prefix (text before the first ``:``), e.g. ``graph:<fingerprint>``
        or ``git:<HEAD>``. Fingerprint-keyed values would otherwise pile up forever;
        keeping two lets switching back and forth between branches stay warm.
        """
        if not _utf8_ok(key):
            return
        prefix = _blob_prefix(key)
        keep = max(1, keep)

        def store(c: sqlite3.Connection) -> None:
            (stamp,) = c.execute("SELECT coalesce(max(stamp), 0) + 1 FROM blobs").fetchone()
            c.execute("INSERT OR REPLACE INTO blobs (key, prefix, version, stamp, value) "
                      "VALUES (?, ?, ?, ?, ?)", (key, prefix, self._version_key, stamp,
                                                 bytes(value)))
            c.execute("DELETE FROM blobs WHERE prefix = ? AND key NOT IN "
                      "(SELECT key FROM blobs WHERE prefix = ? ORDER BY stamp DESC LIMIT ?)",
                      (prefix, prefix, keep))

        try:
            with self._using() as conn:
                self._write_txn(conn, store)
        except _Disabled:
            pass

    def close(self) -> None:
        """Close the database (idempotent). The cache is a no-op afterwards."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:
                pass

    def __enter__(self) -> TagCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "open" if self._conn is not None else "disabled"
        return f"TagCache({str(self.path)!r}, {state}, {self.stats})"
