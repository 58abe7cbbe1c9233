"""The SQLite robustness layer: one database file that never breaks the map.

What any SQLite-backed cache of ripmap needs, whatever it stores (today: the tag store,
:mod:`ripmap.cache.tags`, whose file also holds the raw blobs):

* **Concurrent use is normal** (an editor plugin, an MCP server and a CLI on the same
  repository). WAL mode lets readers proceed while one writer commits; writes use
  short ``BEGIN IMMEDIATE`` transactions with a busy timeout *and* a retry loop,
  because SQLite reports some lock conflicts without consulting the busy handler.
* **A cache must never break the map.** A corrupt or foreign file is moved aside
  (the newest damaged copy is kept for a post-mortem, older ones deleted) and rebuilt
  with one warning; any SQLite failure after that turns the cache into a no-op for the
  rest of the run (one warning), and a directory that cannot be created gives a no-op
  cache too.
* **A new ripmap never reads an old layout.** The ``meta`` table records the versions
  the subclass expects; on a mismatch every table is dropped and recreated. Files of
  other schema versions beside this one (the version is in the file name) are removed.

Subclasses give the schema (:attr:`SqliteStore.SCHEMA`, :attr:`SqliteStore.TABLES`,
the ``meta`` rows) and run every statement through :meth:`SqliteStore._using`, so each
public method answers like a no-op cache once the database is gone.
"""
from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar, TypeVar

from .protocol import CacheStats

#: How long SQLite itself waits on a lock before reporting "busy".
BUSY_TIMEOUT_S = 10.0
#: Upper bound on our own retrying after SQLite gave up; beyond this the cache
#: degrades to a no-op rather than stall the map.
RETRY_DEADLINE_S = 30.0

#: Bound parameters per statement; well under SQLite's historical limit of 999.
_CHUNK = 500
#: How many moved-aside corrupt databases to keep for a post-mortem: the newest only.
#: Each is as big as the cache itself, and a second copy rarely tells more than the first.
_KEEP_CORRUPT = 1

# SQLite primary result codes that mean "the bytes on disk are not a sound database".
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26

_T = TypeVar("_T")


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


def _remove_other_schema_files(path: Path, glob: str) -> None:
    """Delete databases of other schema versions next to ``path`` (best effort).

    The schema version is in the file name, so after an upgrade the old file would
    otherwise sit in the cache directory forever. An old ripmap still running on it
    keeps its open file handle; it simply starts from scratch next time.
    """
    try:
        for p in path.parent.glob(glob):
            if not p.name.startswith(path.name):
                p.unlink(missing_ok=True)
    except OSError:
        pass


# ------------------------------------------------------------------ the database


class _Disabled(Exception):
    """Internal: the cache has been switched off; callers get the no-op answer."""


class SqliteStore:
    """One SQLite database, opened (or repaired) by :meth:`_open_at`; see the module docs.

    Every failure after opening goes through :meth:`_fail`: one warning, the connection
    dropped, and :class:`_Disabled` raised to the public method, which then answers as
    a no-op cache would. Instances may be shared between threads (calls are
    serialised); processes each open their own.
    """

    #: ``CREATE ... IF NOT EXISTS`` statements of the layout (the ``meta`` table included)
    SCHEMA: ClassVar[Sequence[str]] = ()
    #: tables that must exist for a database to count as current
    TABLES: ClassVar[frozenset[str]] = frozenset({"meta"})
    #: glob of this store's database files of every schema version (stale ones are removed)
    FILE_GLOB: ClassVar[str] = "*.sqlite*"
    #: what the warnings call this store
    LABEL: ClassVar[str] = "cache"

    def __init__(self, path: Path | None, *, warn: Callable[[str], None], meta: dict[str, str]) -> None:
        """Sets fields and connects nothing (see :meth:`_open_at`)."""
        self.path = path
        self.stats = CacheStats()
        self._warn_fn = warn
        self._warned: set[str] = set()
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self._meta_expected = meta

    # ----------------------------------------------------------------- opening

    def _open_at(self, path: Path) -> None:
        """Connect to ``path``, creating, repairing or giving up as needed. Never raises
        for cache problems: they produce one warning and a no-op store."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            self._warn_once("disabled", f"{self.LABEL} disabled: cannot create {path.parent}: {e}")
            return
        try:
            self._conn = self._connect(path)
        except (sqlite3.Error, OSError) as e:
            if not _is_corruption(e):
                self._warn_once("disabled", f"{self.LABEL} disabled: {path}: {e}")
                return
            try:
                aside = _move_aside(path)
            except OSError as e2:
                self._warn_once("disabled", f"{self.LABEL} was corrupt and could not be removed; "
                                            f"disabled ({path}: {e2})")
                return
            where = f"moved to {aside}" if aside is not None else f"deleted {path}"
            try:
                self._conn = self._connect(path)
            except (sqlite3.Error, OSError) as e3:
                self._warn_once("disabled", f"{self.LABEL} was corrupt ({where}) and could not be "
                                            f"rebuilt; disabled: {e3}")
                return
            self._warn_once("corrupt", f"{self.LABEL} was corrupt; rebuilt ({where})")
        _remove_other_schema_files(path, self.FILE_GLOB)

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
            self._retry(lambda: [conn.execute(f'SELECT max(rowid) FROM "{t}"').fetchone()
                                 for t in sorted(self.TABLES - {"meta"})])
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
        return self.TABLES <= names and self._read_meta(conn) == self._meta_expected

    def _ensure_schema(self, conn: sqlite3.Connection) -> None:
        """Create the tables, or drop and recreate them if another version made them."""
        if self._retry(lambda: self._is_current(conn)):
            self._add_missing_indexes(conn)
            return

        def rebuild(c: sqlite3.Connection) -> None:
            # Re-check under the write lock: another process may have just done it.
            if self._is_current(c):
                return
            tables = [r[0] for r in c.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
            for name in tables:
                c.execute(f'DROP TABLE IF EXISTS "{name}"')
            for stmt in self.SCHEMA:
                c.execute(stmt)
            c.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                          sorted(self._meta_expected.items()))

        self._write_txn(conn, rebuild)

    def _add_missing_indexes(self, conn: sqlite3.Connection) -> None:
        """Create the schema's indexes that a current database lacks: an index added to
        the layout later only speeds reads up, so it is built once (a scan of the
        table) instead of dropping every row the way a new schema version does."""
        wanted = {stmt.split()[5]: stmt for stmt in self.SCHEMA
                  if stmt.upper().startswith("CREATE INDEX IF NOT EXISTS ")}
        if not wanted:
            return
        have = {r[0] for r in self._retry(lambda: conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index'").fetchall())}
        missing = [stmt for name, stmt in wanted.items() if name not in have]
        if missing:
            def create(c: sqlite3.Connection) -> None:
                for stmt in missing:
                    c.execute(stmt)

            try:
                self._write_txn(conn, create)
            except sqlite3.Error:
                pass  # read-only, say: the reads it would speed up work without it

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
        self._disconnect()
        if _is_corruption(e) and self.path is not None:
            # Move it aside now so the next run starts from a clean database
            # instead of tripping over the same damage again.
            try:
                aside = _move_aside(self.path)
                where = f"moved to {aside}" if aside else f"deleted {self.path}"
            except OSError:
                where = "could not be removed"
            self._warn_once("disabled", f"{self.LABEL} was corrupt ({where}); caching disabled "
                                        f"for this run, rebuilt next run: {e}")
        else:
            self._warn_once("disabled", f"{self.LABEL} disabled after an SQLite error: {e}")

    def _warn_once(self, key: str, message: str) -> None:
        if key in self._warned:
            return
        self._warned.add(key)
        try:
            self._warn_fn(message)
        except Exception:  # a broken reporter must not break the map either
            pass

    @property
    def enabled(self) -> bool:
        """Whether the cache is actually persisting (False after degrading)."""
        return self._conn is not None

    def close(self) -> None:
        """Close the database (idempotent). The cache is a no-op afterwards."""
        with self._lock:
            self._disconnect()

    def _disconnect(self) -> None:
        """Drop the connection; closing it may fail, which changes nothing."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:
                pass

