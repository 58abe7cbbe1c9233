"""The study's storage: an Optuna RDB store that several workers can share.

SQLite in the run folder by default (``study.db``); any RDB URL (PostgreSQL, MySQL) lets
workers on several machines share one study.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ...errors import UsageError

if TYPE_CHECKING:
    from optuna.storages import RDBStorage


def open_storage(url: str) -> "RDBStorage":
    """An RDB storage that tolerates several processes writing at once, and is fast on SQLite.

    Optuna commits every parameter and attribute separately (some 35 commits a trial).
    SQLite's default rollback journal fsyncs each commit, which made the storage, not the
    evaluation, the cost of a trial (~25 ms a commit here). Write-ahead logging with
    ``synchronous=NORMAL`` fsyncs only at checkpoints: a power cut may lose the last few
    trials but never corrupts the study, which a resumable search tolerates by design.
    WAL needs a local filesystem; workers on several machines should share a server
    database instead. The generous busy timeout makes a worker wait for the write lock
    rather than fail with "database is locked"; opening is retried because two workers
    starting together on a fresh file may race to create the tables.

    Every SQLite transaction begins ``IMMEDIATE``, taking the write lock up front. The
    driver's own deferred ``BEGIN`` lets a transaction that has read start writing later;
    when another worker committed in between, SQLite refuses that upgrade at once, without
    waiting (the busy timeout does not apply), and Optuna reports it as a
    ``StorageInternalError`` (seen once in CI with two workers on one study). Its sessions
    are a few statements each, so serializing them costs nothing measurable.
    """
    import sqlalchemy.exc
    from optuna.exceptions import StorageInternalError
    from optuna.storages import RDBStorage
    from sqlalchemy import event

    sqlite = url.startswith("sqlite")
    kw: dict[str, Any] = {"connect_args": {"timeout": 120}} if sqlite else {"pool_pre_ping": True}
    last: Exception | None = None
    for attempt in range(8):
        try:
            storage = RDBStorage(url, engine_kwargs=kw)
            break
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.IntegrityError, StorageInternalError) as e:
            # locked, or the other worker won the race to create the schema or to record its
            # version (Optuna wraps errors of its own sessions as StorageInternalError): try again
            last = e
            time.sleep(0.25 * (attempt + 1))
        except (sqlalchemy.exc.ArgumentError, ImportError, ValueError) as e:
            raise UsageError(f"--storage {redact(url)}: {e}") from None
    else:
        raise UsageError(f"--storage {redact(url)}: cannot open ({last})")
    if sqlite and ":memory:" not in url and url.rstrip("/") != "sqlite:":
        event.listen(storage.engine, "connect", _sqlite_pragmas)
        event.listen(storage.engine, "begin", _begin_immediate)
        storage.engine.dispose()  # pooled connections opened before the listener reconnect with it
    return storage


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None  # no implicit deferred BEGIN: _begin_immediate opens every transaction
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
    finally:
        cur.close()


def _begin_immediate(conn) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def redact(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for messages
        return url


__all__ = ["open_storage", "redact"]
