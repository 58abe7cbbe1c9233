"""Tests for the SQLite tag cache (ripmap.cache).

Every test passes ``cache_dir`` (or sets ``RIPMAP_CACHE_DIR``) so nothing touches
the real user cache.
"""
from __future__ import annotations

import inspect
import multiprocessing
import os
import sqlite3
import time
from pathlib import Path

import pytest

from ripmap import cache as cache_mod
from ripmap.cache import Cache
from ripmap.cache import sqlite as sqlite_layer
from ripmap.cache import (
    CACHE_DIR_ENV,
    NullCache,
    TagCache,
    cache_path_for,
    content_hash,
)
from ripmap.cache.tags import _split
from ripmap.extract.tags import Tag


# ----------------------------------------------------------------- helpers


def make_tags(seed: int, n: int = 5) -> list[Tag]:
    """Distinct tags per seed, covering None and non-ASCII values."""
    out = [Tag(1, f"Class{seed}", True, "class", 40, None, f"class Class{seed}(Base):")]
    for i in range(1, n):
        out.append(Tag(i * 3, f"meth_{seed}_{i}", i % 2 == 0, "method" if i % 2 == 0 else "call",
                       i * 3 + 2, f"Class{seed}", f"def meth_{seed}_{i}(self) -> 'ß'" if i % 2 == 0 else None))
    return out


def row(rel: str, seed: int, size: int = 100, mtime: int = 1_000) -> tuple:
    return (rel, size, mtime, content_hash(f"{rel}:{seed}".encode()), make_tags(seed))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "repo"
    r.mkdir()
    return r


@pytest.fixture
def cdir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def open_cache(root: Path, cdir: Path, warnings: list[str] | None = None, **kw) -> TagCache:
    sink = warnings if warnings is not None else []
    return TagCache.open(root, cdir, warn=sink.append, **kw)


# --------------------------------------------------------------- round trip


def test_round_trip_returns_equal_tag_objects(root: Path, cdir: Path) -> None:
    rows = [row("a.py", 1), row("pkg/b.py", 2), row("empty.py", 3)]
    rows[2] = ("empty.py", 0, 5, content_hash(b""), [])
    with open_cache(root, cdir) as c:
        c.put_many(rows)
    # A fresh connection proves the data was committed to disk.
    with open_cache(root, cdir) as c:
        got = c.get_many((r[0], r[1], r[2]) for r in rows)
    assert got == {"a.py": make_tags(1), "pkg/b.py": make_tags(2), "empty.py": []}
    t = got["a.py"][1]
    assert type(t) is Tag
    assert hash(t) == hash(make_tags(1)[1])
    assert sorted(got["a.py"]) == sorted(make_tags(1))


def test_reference_counts_are_stored_beside_the_tags(root: Path, cdir: Path) -> None:
    refs = [Tag(3, "run", False, "call", 3, "f", None), Tag(5, "run", False, "call", 5, "g", None),
            Tag(6, "Cfg", False, "type", 6, None, None), Tag(9, "run", False, "type", 9, None, None)]
    tags = [Tag(1, "f", True, "function", 4, None, "def f()")] + refs
    with open_cache(root, cdir) as c:
        c.put_many([("a.py", 10, 1, content_hash(b"a"), tags), ("b.py", 0, 1, content_hash(b""), [])])
    with open_cache(root, cdir) as c:
        got = c.get_ref_counts(["a.py", "b.py", "absent.py"])
    assert sorted(got["a.py"]) == [("Cfg", "type", 1), ("run", "call", 2), ("run", "type", 1)]
    assert got["b.py"] == [] and "absent.py" not in got
    assert NullCache().get_ref_counts(["a.py"]) == {}


def test_a_cache_made_before_the_stamps_index_gets_it_and_keeps_its_rows(root: Path, cdir: Path) -> None:
    # every run reads every file's stamps: they come from a covering index, which an
    # older database lacks; opening it adds the index instead of dropping its rows
    with open_cache(root, cdir) as c:
        c.put_many([row("a.py", 1, size=10, mtime=7), row("pkg/b.py", 2, size=20, mtime=8)])
        path = c.path
    db = sqlite3.connect(path)
    db.execute("DROP INDEX files_stamps")
    db.commit()
    db.close()
    warnings: list[str] = []
    with open_cache(root, cdir, warnings) as c:
        assert c.known_files() == {"a.py": (10, 7), "pkg/b.py": (20, 8)}
        assert c.get_many([("a.py", 10, 7)]) == {"a.py": make_tags(1)}
        query = "SELECT rel, size, mtime_ns FROM files WHERE parser = ?"
        plan = " ".join(str(r) for r in c._conn.execute("EXPLAIN QUERY PLAN " + query, ("x",)))
    assert "COVERING INDEX files_stamps" in plan
    assert warnings == []


def test_every_stamp_comes_back_in_one_row_whatever_the_names_hold(root: Path, cdir: Path) -> None:
    # known_files() reads all stamps as one row of joined lists (a row per file took the
    # GIL back 70,000 times); names with the lists' separators' neighbours must survive
    names = ["a.py", "dir,with,commas/b.py", "new\nline.py", "tab\tand space.py", "ünï/cödé.py", "x" * 300 + ".py"]
    with open_cache(root, cdir) as c:
        assert c.known_files() == {}
        c.put_many([row(n, i, size=10 + i, mtime=2**62 + i) for i, n in enumerate(names)])
    with open_cache(root, cdir) as c:
        every = c.known_files()
        some = c.known_files(names[1:3] + ["absent.py"])
        query = ("SELECT group_concat(rel, char(0)), group_concat(size), group_concat(mtime_ns) "
                 "FROM files WHERE parser = ?")
        plan = " ".join(str(r) for r in c._conn.execute("EXPLAIN QUERY PLAN " + query, ("x",)))
    assert every == {n: (10 + i, 2**62 + i) for i, n in enumerate(names)}
    assert some == {n: every[n] for n in names[1:3]}
    assert "COVERING INDEX files_stamps" in plan


def test_undecodable_blob_is_a_miss_not_a_crash(root: Path, cdir: Path) -> None:
    with open_cache(root, cdir) as c:
        c.put_many([row("a.py", 1), row("b.py", 2)])
    db = sqlite3.connect(cache_path_for(root, cdir))
    db.execute("UPDATE files SET defs = x'00ff13' WHERE rel = 'a.py'")
    db.commit()
    db.close()
    warnings: list[str] = []
    with open_cache(root, cdir, warnings) as c:
        got = c.get_many([("a.py", 100, 1_000), ("b.py", 100, 1_000)])
    assert got["a.py"] is None
    assert got["b.py"] == make_tags(2)
    assert warnings == []


# ----------------------------------------------------------- hit semantics


def test_hit_only_when_size_and_mtime_match_exactly(root: Path, cdir: Path) -> None:
    with open_cache(root, cdir) as c:
        c.put_many([row("a.py", 1, size=100, mtime=1_000)])
        got = c.get_many([
            ("a.py", 100, 1_000),
        ])
        assert got["a.py"] == make_tags(1)
        assert c.get_many([("a.py", 100, 1_001)])["a.py"] is None
        assert c.get_many([("a.py", 101, 1_000)])["a.py"] is None
        assert c.get_many([("nope.py", 100, 1_000)]) == {"nope.py": None}
        assert (c.stats.hits, c.stats.misses) == (1, 3)
        assert c.stats.hit_rate == pytest.approx(0.25)


def test_put_many_replaces_existing_row(root: Path, cdir: Path) -> None:
    with open_cache(root, cdir) as c:
        c.put_many([row("a.py", 1, mtime=1)])
        c.put_many([row("a.py", 2, mtime=2)])
        assert c.get_many([("a.py", 100, 1)])["a.py"] is None
        assert c.get_many([("a.py", 100, 2)])["a.py"] == make_tags(2)


def test_put_many_is_one_transaction(root: Path, cdir: Path) -> None:
    with open_cache(root, cdir) as c:
        statements: list[str] = []
        c._conn.set_trace_callback(statements.append)  # type: ignore[union-attr]
        c.put_many(row(f"f{i}.py", i) for i in range(250))
        c._conn.set_trace_callback(None)  # type: ignore[union-attr]
        assert sum(s.startswith("BEGIN") for s in statements) == 1
        assert sum(s == "COMMIT" for s in statements) == 1
        assert all(v is not None for v in c.get_many((f"f{i}.py", 100, 1_000) for i in range(250)).values())


def test_many_entries_are_looked_up_in_chunks(root: Path, cdir: Path) -> None:
    n = 1_234  # more than one IN (...) chunk
    with open_cache(root, cdir) as c:
        c.put_many((f"d/f{i}.py", i, i, b"h" * 16, make_tags(i, 2)) for i in range(n))
        got = c.get_many((f"d/f{i}.py", i, i) for i in range(n))
    assert len(got) == n
    assert all(got[f"d/f{i}.py"] == make_tags(i, 2) for i in range(n))


def test_hash_lookup_then_touch_makes_plain_hit(root: Path, cdir: Path) -> None:
    r = row("a.py", 1, size=100, mtime=1_000)
    digest = r[3]
    with open_cache(root, cdir) as c:
        c.put_many([r])
        # Same size, new mtime (checkout): a plain lookup misses ...
        assert c.get_many([("a.py", 100, 2_000)])["a.py"] is None
        # ... the hash decides.
        assert c.lookup_hash("a.py", 100, digest) == make_tags(1)
        assert c.lookup_hash("a.py", 100, content_hash(b"other bytes")) is None
        assert c.lookup_hash("a.py", 99, digest) is None
        assert c.lookup_hash("b.py", 100, digest) is None
        assert (c.stats.hash_hits, c.stats.hash_misses) == (1, 3)
        c.touch("a.py", 100, 2_000)
    with open_cache(root, cdir) as c:
        assert c.get_many([("a.py", 100, 2_000)])["a.py"] == make_tags(1)
        assert c.get_many([("a.py", 100, 1_000)])["a.py"] is None


def test_touch_ignores_size_mismatch(root: Path, cdir: Path) -> None:
    with open_cache(root, cdir) as c:
        c.put_many([row("a.py", 1, size=100, mtime=1)])
        c.touch("a.py", 555, 2)  # a different file now: must not revive old tags
        assert c.get_many([("a.py", 555, 2)])["a.py"] is None
        assert c.get_many([("a.py", 100, 1)])["a.py"] == make_tags(1)


def test_content_hash_is_16_byte_blake2b() -> None:
    import hashlib

    assert content_hash(b"abc") == hashlib.blake2b(b"abc", digest_size=16).digest()
    assert len(content_hash(b"")) == 16
    assert content_hash(b"a") != content_hash(b"b")


def test_unencodable_rel_is_skipped_not_fatal(root: Path, cdir: Path) -> None:
    bad = "caf\udce9.py"  # undecodable filename byte, as os.listdir returns it
    warnings: list[str] = []
    with open_cache(root, cdir, warnings) as c:
        c.put_many([(bad, 1, 1, b"h" * 16, make_tags(1)), row("ok.py", 2)])
        got = c.get_many([(bad, 1, 1), ("ok.py", 100, 1_000)])
        assert got[bad] is None and got["ok.py"] == make_tags(2)
        assert c.lookup_hash(bad, 1, b"h" * 16) is None
        assert c.enabled
    assert warnings == []


# -------------------------------------------------------------- versioning


def test_extractor_version_change_rebuilds(root: Path, cdir: Path) -> None:
    with open_cache(root, cdir, extractor_version="A") as c:
        c.put_many([row("a.py", 1)])
        c.put_blob("graph:x", b"old")
    warnings: list[str] = []
    with open_cache(root, cdir, warnings, extractor_version="B") as c:
        assert c.get_many([("a.py", 100, 1_000)])["a.py"] is None
        assert c.get_blob("graph:x") is None
        c.put_many([row("a.py", 2)])
    assert warnings == []  # a version change is routine, not worth a warning
    db = sqlite3.connect(cache_path_for(root, cdir))
    meta = dict(db.execute("SELECT key, value FROM meta"))
    n = db.execute("SELECT count(*) FROM files").fetchone()[0]
    db.close()
    assert meta["extractor"].startswith("B|")
    assert n == 1
    # And going back to A sees nothing of B's.
    with open_cache(root, cdir, extractor_version="A") as c:
        assert c.get_many([("a.py", 100, 1_000)])["a.py"] is None


def test_schema_version_mismatch_rebuilds(root: Path, cdir: Path) -> None:
    with open_cache(root, cdir) as c:
        c.put_many([row("a.py", 1)])
    db = sqlite3.connect(cache_path_for(root, cdir))
    db.execute("UPDATE meta SET value = '0' WHERE key = 'schema'")
    db.commit()
    db.close()
    with open_cache(root, cdir) as c:
        assert c.get_many([("a.py", 100, 1_000)])["a.py"] is None
    db = sqlite3.connect(cache_path_for(root, cdir))
    assert dict(db.execute("SELECT key, value FROM meta"))["schema"] == str(cache_mod.SCHEMA_VERSION)
    db.close()


def test_foreign_old_layout_is_dropped(root: Path, cdir: Path) -> None:
    path = cache_path_for(root, cdir)
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE files (rel TEXT, whatever INTEGER)")  # no meta table at all
    db.execute("INSERT INTO files VALUES ('a.py', 1)")
    db.execute("CREATE TABLE legacy (x)")
    db.commit()
    db.close()
    warnings: list[str] = []
    with open_cache(root, cdir, warnings) as c:
        assert c.get_many([("a.py", 100, 1_000)])["a.py"] is None
        c.put_many([row("a.py", 1)])
        assert c.get_many([("a.py", 100, 1_000)])["a.py"] == make_tags(1)
    assert warnings == []
    db = sqlite3.connect(path)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    db.close()
    assert "legacy" not in tables and {"meta", "files", "blobs"} <= tables


def test_files_of_other_schema_versions_are_removed(root: Path, cdir: Path) -> None:
    path = cache_path_for(root, cdir)
    path.parent.mkdir(parents=True)
    stale = [path.with_name("tags-v0.sqlite"), path.with_name("tags-v0.sqlite-wal")]
    for p in stale:
        p.write_bytes(b"old layout")
    keep = path.with_name(f"{path.name}.corrupt-20200101-000000")
    keep.write_bytes(b"post-mortem copy")
    unrelated = path.with_name("notes.txt")
    unrelated.write_text("not ours to delete")
    with open_cache(root, cdir) as c:
        assert c.enabled
    assert not any(p.exists() for p in stale)
    assert keep.exists() and unrelated.exists() and path.exists()


def test_parser_version_hides_rows_of_other_parsers(root: Path, cdir: Path) -> None:
    with open_cache(root, cdir, parser_version="ts-0.25") as c:
        c.put_many([row("a.py", 1)])
    with open_cache(root, cdir, parser_version="ts-0.26") as c:
        assert c.get_many([("a.py", 100, 1_000)])["a.py"] is None
    with open_cache(root, cdir, parser_version="ts-0.25") as c:
        assert c.get_many([("a.py", 100, 1_000)])["a.py"] == make_tags(1)


# --------------------------------------------------------------- corruption


def _filled_db(root: Path, cdir: Path, n: int = 200) -> Path:
    with open_cache(root, cdir) as c:
        c.put_many(row(f"src/f{i}.py", i) for i in range(n))
    path = cache_path_for(root, cdir)
    assert not Path(f"{path}-wal").exists()  # checkpointed on close: the file is complete
    assert path.stat().st_size > 64 * 1024
    return path


def _truncate_half(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)


def _garbage_header(path: Path) -> None:
    with open(path, "r+b") as f:
        f.write(bytes(range(7, 107)))  # 100 bytes over the SQLite header


@pytest.mark.parametrize("damage", [_truncate_half, _garbage_header], ids=["truncated", "header"])
def test_damaged_db_is_moved_aside_and_rebuilt(root: Path, cdir: Path, damage) -> None:
    path = _filled_db(root, cdir)
    damage(path)
    damaged = path.read_bytes()
    warnings: list[str] = []
    with open_cache(root, cdir, warnings) as c:
        assert c.enabled
        assert c.get_many([("src/f1.py", 100, 1_000)])["src/f1.py"] is None
        c.put_many([row("new.py", 9)])
        assert c.get_many([("new.py", 100, 1_000)])["new.py"] == make_tags(9)
    assert len(warnings) == 1
    assert warnings[0].startswith("tag cache was corrupt; rebuilt (moved to ")
    aside = [p for p in path.parent.iterdir() if ".corrupt-" in p.name and not p.name.endswith("-wal")]
    assert len(aside) == 1
    assert str(aside[0]) in warnings[0]
    assert aside[0].read_bytes() == damaged  # kept for a post-mortem, untouched
    # The rebuilt database is healthy: reopening is silent and keeps the new row.
    again: list[str] = []
    with open_cache(root, cdir, again) as c:
        assert c.get_many([("new.py", 100, 1_000)])["new.py"] == make_tags(9)
    assert again == []


@pytest.mark.parametrize("content", [b"this is not a database\n" * 50, b"xyz", os.urandom(8192)],
                         ids=["text", "tiny", "random"])
def test_non_sqlite_file_at_path_is_replaced(root: Path, cdir: Path, content: bytes) -> None:
    path = cache_path_for(root, cdir)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    warnings: list[str] = []
    with open_cache(root, cdir, warnings) as c:
        c.put_many([row("a.py", 1)])
        assert c.get_many([("a.py", 100, 1_000)])["a.py"] == make_tags(1)
    assert len(warnings) == 1 and "corrupt" in warnings[0]
    assert [p.read_bytes() for p in path.parent.glob("*.corrupt-*")] == [content]


def test_only_the_newest_corrupt_copy_is_kept(root: Path, cdir: Path) -> None:
    """Each corruption moves the damaged database aside; earlier copies (each the size of
    the whole cache) must not pile up in the cache folder."""
    path = cache_path_for(root, cdir)
    path.parent.mkdir(parents=True)
    for stamp in ("20200101-000000", "20210101-000000", "20220101-000000-77"):
        old = path.with_name(f"{path.name}.corrupt-{stamp}")
        old.write_bytes(b"an earlier post-mortem copy")
        Path(f"{old}-wal").write_bytes(b"its wal")
    for round_ in range(3):
        content = f"damaged, round {round_}\n".encode() * 100
        path.write_bytes(content)
        warnings: list[str] = []
        with open_cache(root, cdir, warnings) as c:
            c.put_many([row("a.py", 1)])
        assert len(warnings) == 1 and "corrupt" in warnings[0]
        left = sorted(p.name for p in path.parent.glob("*.corrupt-*"))
        assert len(left) == 1, left
        assert (path.parent / left[0]).read_bytes() == content  # the newest damage survives
        assert left[0] in warnings[0]


def test_empty_file_is_a_fine_new_database(root: Path, cdir: Path) -> None:
    path = cache_path_for(root, cdir)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")
    warnings: list[str] = []
    with open_cache(root, cdir, warnings) as c:
        c.put_many([row("a.py", 1)])
        assert c.get_many([("a.py", 100, 1_000)])["a.py"] == make_tags(1)
    assert warnings == []
    assert list(path.parent.glob("*.corrupt-*")) == []


def test_damage_found_after_open_degrades_then_heals(root: Path, cdir: Path) -> None:
    path = _filled_db(root, cdir, n=300)
    size = path.stat().st_size
    with open(path, "r+b") as f:  # smash the middle of the tag B-tree
        f.seek(size // 3)
        f.write(b"\xff" * (size // 3))
    warnings: list[str] = []
    c = open_cache(root, cdir, warnings)
    # Never raises, whatever the damage; all answers are misses or genuine tags.
    got = c.get_many((f"src/f{i}.py", 100, 1_000) for i in range(300))
    assert all(v is None or v == make_tags(int(k[5:-3])) for k, v in got.items())
    c.put_many([row("x.py", 1)])
    c.get_blob("graph:x")
    c.put_blob("graph:x", b"v")
    c.prune(set())
    c.touch("x.py", 100, 5)
    c.lookup_hash("x.py", 100, b"h" * 16)
    c.close()
    assert len(warnings) == 1 and "corrupt" in warnings[0]
    assert not c.enabled
    # The damaged file was moved out of the way, so the next run starts clean.
    again: list[str] = []
    with open_cache(root, cdir, again) as c2:
        c2.put_many([row("y.py", 2)])
        assert c2.get_many([("y.py", 100, 1_000)])["y.py"] == make_tags(2)
    assert again == []


def test_sqlite_error_during_use_degrades_to_noop_with_one_warning(root: Path, cdir: Path) -> None:
    warnings: list[str] = []
    c = open_cache(root, cdir, warnings)
    c.put_many([row("a.py", 1)])
    other = sqlite3.connect(cache_path_for(root, cdir))
    other.execute("DROP TABLE files")
    other.commit()
    other.close()
    assert c.get_many([("a.py", 100, 1_000)]) == {"a.py": None}
    assert not c.enabled
    c.put_many([row("b.py", 2)])  # no-op, no raise
    assert c.get_many([("b.py", 100, 1_000)]) == {"b.py": None}
    assert c.prune({"a.py"}) == 0
    assert c.get_blob("k") is None
    c.close()
    c.close()  # idempotent
    assert len(warnings) == 1 and "disabled" in warnings[0]


# -------------------------------------------------------------- concurrency


def _worker(root: str, cache_dir: str, wid: int, n: int, barrier, results) -> None:
    """One ripmap-like process: interleaved small writes and reads of its own rows
    plus reads of the other worker's rows, all while the other does the same."""
    warnings: list[str] = []
    try:
        barrier.wait(timeout=60)
        with TagCache.open(Path(root), Path(cache_dir), warn=warnings.append) as c:
            missing = 0
            for start in range(0, n, 10):
                c.put_many(row(f"w{wid}/f{i}.py", i, size=i, mtime=i) for i in range(start, start + 10))
                mine = c.get_many((f"w{wid}/f{i}.py", i, i) for i in range(start + 10))
                missing += sum(1 for v in mine.values() if v is None)
                c.get_many((f"w{1 - wid}/f{i}.py", i, i) for i in range(n))
                c.put_blob(f"w{wid}:{start}", b"x" * 100)
                c.get_blob(f"w{1 - wid}:{start}")
            results.put((wid, None, warnings, missing, c.enabled))
    except BaseException as e:  # report, never hang the parent
        results.put((wid, repr(e), warnings, -1, False))


def test_two_processes_write_and_read_concurrently(root: Path, cdir: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    n = 200
    procs = [ctx.Process(target=_worker, args=(str(root), str(cdir), wid, n, barrier, results))
             for wid in (0, 1)]
    for p in procs:
        p.start()
    try:
        outcome = sorted(results.get(timeout=180) for _ in procs)
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
    for wid, err, warnings, missing, enabled in outcome:
        assert err is None, f"worker {wid} raised {err}"
        assert warnings == [], f"worker {wid} warned {warnings}"  # no silent degrade either
        assert missing == 0 and enabled
    assert all(p.exitcode == 0 for p in procs)
    with open_cache(root, cdir) as c:
        got = c.get_many((f"w{w}/f{i}.py", i, i) for w in (0, 1) for i in range(n))
    assert len(got) == 2 * n
    assert all(v == make_tags(int(k.split("/f")[1][:-3])) for k, v in got.items())


def _hold_write_lock(path: Path) -> sqlite3.Connection:
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO meta (key, value) VALUES ('uncommitted', 'x')")
    return other


def test_writer_retries_past_sqlite_busy_timeout(root: Path, cdir: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    monkeypatch.setattr(sqlite_layer, "BUSY_TIMEOUT_S", 0.05)  # SQLite gives up fast ...
    warnings: list[str] = []
    with open_cache(root, cdir, warnings) as c:
        c.put_many([row("a.py", 1)])
        other = _hold_write_lock(cache_path_for(root, cdir))
        release = threading.Timer(0.6, lambda: other.execute("ROLLBACK"))
        release.start()
        try:
            # WAL: reading while another process holds the write lock does not wait.
            start = time.perf_counter()
            assert c.get_many([("a.py", 100, 1_000)])["a.py"] == make_tags(1)
            assert time.perf_counter() - start < 0.5
            # ... so the write only succeeds thanks to our own retry loop.
            c.put_many([row("b.py", 2)])
            assert time.perf_counter() - start >= 0.5
        finally:
            release.join()
            other.close()
        assert c.get_many([("b.py", 100, 1_000)])["b.py"] == make_tags(2)
        assert c.enabled
    assert warnings == []


def test_lock_held_past_deadline_degrades_instead_of_raising(root: Path, cdir: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_layer, "BUSY_TIMEOUT_S", 0.05)
    monkeypatch.setattr(sqlite_layer, "RETRY_DEADLINE_S", 0.3)
    warnings: list[str] = []
    c = open_cache(root, cdir, warnings)
    other = _hold_write_lock(cache_path_for(root, cdir))
    try:
        c.put_many([row("a.py", 1)])  # must not raise "database is locked"
    finally:
        other.close()
    assert not c.enabled
    assert len(warnings) == 1 and "locked" in warnings[0]
    c.close()


def test_one_cache_object_shared_by_threads(root: Path, cdir: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    warnings: list[str] = []
    with open_cache(root, cdir, warnings) as c:
        def job(k: int) -> bool:
            c.put_many([row(f"t{k}.py", k)])
            return c.get_many([(f"t{k}.py", 100, 1_000)])[f"t{k}.py"] == make_tags(k)

        with ThreadPoolExecutor(8) as pool:
            assert all(pool.map(job, range(64)))
    assert warnings == []


# --------------------------------------------------------------- locations


def test_env_var_overrides_default_and_explicit_dir_wins(root: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    env_dir = tmp_path / "from-env"
    monkeypatch.setenv(CACHE_DIR_ENV, str(env_dir))
    p = cache_path_for(root)
    assert p.parent.parent == env_dir
    assert p.name == f"tags-v{cache_mod.SCHEMA_VERSION}.sqlite"
    with TagCache.open(root) as c:
        c.put_many([row("a.py", 1)])
        assert c.path == p
    assert p.is_file()
    explicit = tmp_path / "explicit"
    assert cache_path_for(root, explicit).parent.parent == explicit


def test_default_location_is_user_cache_dir_not_inside_root(root: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs

    monkeypatch.delenv(CACHE_DIR_ENV, raising=False)
    p = cache_path_for(root)
    assert p.parent.parent == Path(platformdirs.user_cache_dir("ripmap"))
    assert not p.resolve().is_relative_to(root.resolve())


def test_cache_path_is_outside_root_and_keyed_by_real_path(root: Path, cdir: Path, tmp_path: Path) -> None:
    with open_cache(root, cdir) as c:
        c.put_many([row("a.py", 1)])
        assert c.path is not None and c.path.is_file()
        assert not c.path.resolve().is_relative_to(root.resolve())
    assert list(root.iterdir()) == []  # nothing written into the user's tree
    other = tmp_path / "other-repo"
    other.mkdir()
    assert cache_path_for(other, cdir) != cache_path_for(root, cdir)
    link = tmp_path / "link-to-repo"
    link.symlink_to(root, target_is_directory=True)
    assert cache_path_for(link, cdir) == cache_path_for(root, cdir)
    assert len(cache_path_for(root, cdir).parent.name) == 16


# ------------------------------------------------------------ prune & blobs


def test_prune_deletes_only_vanished_files(root: Path, cdir: Path) -> None:
    with open_cache(root, cdir) as c:
        c.put_many([row("a.py", 1), row("b.py", 2), row("c.py", 3)])
        assert c.prune({"a.py", "c.py", "never-cached.py"}) == 1
        got = c.get_many([("a.py", 100, 1_000), ("b.py", 100, 1_000), ("c.py", 100, 1_000)])
        assert got == {"a.py": make_tags(1), "b.py": None, "c.py": make_tags(3)}
        assert c.prune(set()) == 2
        assert c.get_many([("a.py", 100, 1_000)])["a.py"] is None


def test_blob_round_trip_and_overwrite(root: Path, cdir: Path) -> None:
    with open_cache(root, cdir) as c:
        assert c.get_blob("graph:abc") is None
        c.put_blob("graph:abc", b"\x00\x01payload")
        assert c.get_blob("graph:abc") == b"\x00\x01payload"
        c.put_blob("graph:abc", b"second")
        assert c.get_blob("graph:abc") == b"second"
    with open_cache(root, cdir) as c:
        assert c.get_blob("graph:abc") == b"second"


def test_blobs_keep_only_newest_few_per_prefix(root: Path, cdir: Path) -> None:
    with open_cache(root, cdir) as c:
        c.put_blob("git:head1", b"g1")
        for i in range(5):
            c.put_blob(f"graph:fp{i}", f"v{i}".encode())
        c.put_blob("git:head2", b"g2")
        # Default keeps two per prefix: the newest ones.
        assert [c.get_blob(f"graph:fp{i}") for i in range(5)] == [None, None, None, b"v3", b"v4"]
        # Other prefixes are untouched by graph churn.
        assert c.get_blob("git:head1") == b"g1" and c.get_blob("git:head2") == b"g2"
        # Re-putting an old key makes it the newest.
        c.put_blob("graph:fp3", b"again")
        c.put_blob("graph:fp5", b"v5")
        assert c.get_blob("graph:fp4") is None
        assert c.get_blob("graph:fp3") == b"again" and c.get_blob("graph:fp5") == b"v5"
        c.put_blob("sig:x", b"1", keep=1)
        c.put_blob("sig:y", b"2", keep=1)
        assert c.get_blob("sig:x") is None and c.get_blob("sig:y") == b"2"


def test_the_newest_blob_with_a_given_ending_is_found_among_its_prefix(root: Path, cdir: Path) -> None:
    """What an edit's PageRank starts from: the newest vector of the same question,
    whatever index it was computed for, though other questions were asked since."""
    with open_cache(root, cdir) as c:
        c.put_blob("pagerank:fp1:q_plain", b"a", keep=6)
        c.put_blob("pagerank:fp2:q_plain", b"b", keep=6)
        c.put_blob("pagerank:fp2:q_focus", b"c", keep=6)
        key, fh = c.open_newest_blob("pagerank", ":q_plain")
        with fh:
            assert (key, fh.read()) == ("pagerank:fp2:q_plain", b"b")
        key, fh = c.open_newest_blob("pagerank")  # no ending: the newest of all
        with fh:
            assert (key, fh.read()) == ("pagerank:fp2:q_focus", b"c")
        assert c.open_newest_blob("pagerank", ":q_other") is None
        assert c.open_newest_blob("pagerank", "%") is None  # matched as text, not a pattern
    assert NullCache().open_newest_blob("pagerank", ":q_plain") is None


@pytest.fixture
def small_files(monkeypatch) -> None:
    """Values of 64 bytes and more go to files (the real threshold is a megabyte)."""
    from ripmap.cache import tags as tags_mod

    monkeypatch.setattr(tags_mod, "BLOB_FILE_MIN", 64)


def _blob_files(c: TagCache) -> list[str]:
    d = c._blob_dir()
    return sorted(p.name for p in d.iterdir()) if d.exists() else []


def test_a_big_blob_lives_in_a_file_and_reads_back_whole(root: Path, cdir: Path, small_files) -> None:
    big = bytes(range(256)) * 4
    with open_cache(root, cdir) as c:
        c.put_blob("graph:a", big)
        c.put_blob("graph:small", b"tiny")  # under the threshold: in the row
        assert c.get_blob("graph:a") == big and c.get_blob("graph:small") == b"tiny"
        assert len(_blob_files(c)) == 1
        db = sqlite3.connect(c.path)
        (stored,) = db.execute("SELECT value FROM blobs WHERE key = 'graph:a'").fetchone()
        db.close()
        assert len(stored) < 100  # the row only says where
        c.put_blob("graph:a", big[::-1])  # a newer value of the same key replaces the file
        assert c.get_blob("graph:a") == big[::-1] and len(_blob_files(c)) == 1
        assert c.newest_blob("graph") == ("graph:a", big[::-1])


def test_a_big_blob_opens_as_its_own_file_for_the_decoder_to_read(root: Path, cdir: Path, small_files) -> None:
    """A decoder reads a big value from its file as it goes, never from a copy in memory."""
    big = b"z" * 500
    with open_cache(root, cdir) as c:
        c.put_blob("lexical2:a", big)
        c.put_blob("lexical2:s", b"tiny")
        with c.open_blob("lexical2:a") as fh:
            assert os.path.dirname(fh.name) == str(c._blob_dir()) and fh.read() == big
        with c.open_blob("lexical2:s") as fh:
            assert fh.read() == b"tiny"
        key, fh = c.open_newest_blob("lexical2")
        with fh:
            assert (key, fh.read()) == ("lexical2:s", b"tiny")
        (c._blob_dir() / os.listdir(c._blob_dir())[0]).write_bytes(b"z" * 499)  # cut short
        assert c.open_blob("lexical2:a") is None and c.open_blob("lexical2:none") is None
    assert NullCache().open_blob("x") is None and NullCache().open_newest_blob("x") is None


def test_a_writer_value_goes_straight_to_its_file(root: Path, cdir: Path) -> None:
    """A big value can be written by a callback into the cache's file (no copy of it in
    memory first); a writer that fails keeps nothing and warns once."""
    warnings: list[str] = []
    with open_cache(root, cdir, warnings) as c:
        c.put_blob("graph:w", lambda fh: fh.write(b"abc" * 10))
        assert c.get_blob("graph:w") == b"abc" * 10 and len(_blob_files(c)) == 1

        def broken(fh):
            fh.write(b"half")
            raise ValueError("encoder failed")

        c.put_blob("graph:x", broken)
        assert c.get_blob("graph:x") is None and len(_blob_files(c)) == 1
        assert len(warnings) == 1 and "not kept" in warnings[0]
    NullCache().put_blob("graph:w", lambda fh: fh.write(b"x"))


def test_pruned_blobs_take_their_files_with_them(root: Path, cdir: Path, small_files) -> None:
    with open_cache(root, cdir) as c:
        for i in range(4):
            c.put_blob(f"graph:fp{i}", bytes([i]) * 200)
        assert [c.get_blob(f"graph:fp{i}") is not None for i in range(4)] == [False, False, True, True]
        assert len(_blob_files(c)) == 2


def test_a_missing_or_short_blob_file_is_a_miss(root: Path, cdir: Path, small_files) -> None:
    with open_cache(root, cdir) as c:
        c.put_blob("graph:a", b"a" * 300)
        c.put_blob("lexical2:b", b"b" * 300)
        files = {p.read_bytes()[:1]: p for p in c._blob_dir().iterdir()}
        files[b"a"].write_bytes(b"a" * 100)  # cut short
        files[b"b"].unlink()
        assert c.get_blob("graph:a") is None and c.get_blob("lexical2:b") is None
        assert c.newest_blob("graph") is None


def test_orphaned_blob_files_are_swept_once_old(root: Path, cdir: Path, small_files) -> None:
    with open_cache(root, cdir) as c:
        c.put_blob("graph:a", b"a" * 300)
        d = c._blob_dir()
        old, fresh = d / ("0" * 32 + ".blob"), d / ("1" * 32 + ".blob")
        old.write_bytes(b"left by a killed process")
        fresh.write_bytes(b"another process is about to commit its row")
        os.utime(old, (time.time() - 3600, time.time() - 3600))
        c.put_blob("graph:b", b"b" * 300)
        assert not old.exists() and fresh.exists()
        assert c.get_blob("graph:a") == b"a" * 300 and c.get_blob("graph:b") == b"b" * 300


def test_kinds_of_blob_this_version_does_not_keep_are_dropped(root: Path, cdir: Path, small_files) -> None:
    with open_cache(root, cdir) as c:
        c.put_blob("filegraph:old", b"f" * 500)  # what an older ripmap kept, in a file
        c.put_blob("oldkind:x", b"small")
        c.put_blob("graph:a", b"g" * 500)
        c.put_blob("git:h", b"h")
        assert len(_blob_files(c)) == 2
        assert c.drop_blobs_except(("graph", "git", "lexical2")) == 2
        assert c.get_blob("filegraph:old") is None and c.get_blob("oldkind:x") is None
        assert c.get_blob("graph:a") == b"g" * 500 and c.get_blob("git:h") == b"h"
        assert len(_blob_files(c)) == 1
    assert NullCache().drop_blobs_except(()) == 0


# ---------------------------------------------------------------- no-op paths


def test_null_cache_never_hits() -> None:
    n = NullCache()
    n.put_many([row("a.py", 1)])
    assert n.get_many([("a.py", 100, 1_000), ("b.py", 1, 1)]) == {"a.py": None, "b.py": None}
    assert n.lookup_hash("a.py", 100, content_hash(b"a.py:1")) is None
    n.touch("a.py", 100, 1_000)
    n.put_blob("graph:x", b"1")
    assert n.get_blob("graph:x") is None
    assert n.prune(set()) == 0
    assert (n.stats.hits, n.stats.misses) == (0, 2)
    assert not n.enabled
    assert n.get_refs(["a.py"]) == {} and n.get_ref_counts(["a.py"]) == {}
    assert not n.has_size("a.py", 100) and n.known_files() == {}
    n.put_encoded([("a.py", 1, 1, b"h" * 16, b"", b"", b"")])
    n.touch_many([("a.py", 1, 2)])
    with n as same:
        assert same is n


# ------------------------------------------------------- one protocol, every cache
#
# The index and the facade hold "a cache" and never ask which: the SQLite tag store,
# the null cache of --no-cache, or a tag store that could not open its database. Each
# contract test below runs against all three.


@pytest.fixture(params=["tag", "null", "degraded"])
def any_cache(request, root: Path, tmp_path: Path):
    if request.param == "tag":
        c = TagCache.open(root, tmp_path / "cache")
        assert c.enabled
    elif request.param == "null":
        c = NullCache()
    else:
        blocker = tmp_path / "not-a-dir"
        blocker.write_text("a file where the cache directory should go")
        c = TagCache.open(root, blocker / "cache")
        assert not c.enabled
    yield c
    c.close()


def _protocol_members() -> list[str]:
    """The protocol's methods and properties (its plain attributes, ``path`` and ``stats``,
    are what ``isinstance`` checks)."""
    return sorted(m for m in dir(Cache) if not m.startswith("_") or m in ("__enter__", "__exit__"))


def test_every_cache_implements_the_protocol_with_its_signatures(any_cache) -> None:
    assert isinstance(any_cache, Cache)
    for name in _protocol_members():
        want = getattr(Cache, name)
        got = getattr(type(any_cache), name)
        if isinstance(want, property):
            assert isinstance(got, property), name
            continue
        assert list(inspect.signature(got).parameters.items()) == list(inspect.signature(want).parameters.items()), name


def test_every_cache_answers_every_key_and_keeps_tags_only_when_enabled(any_cache) -> None:
    c = any_cache
    tags = make_tags(1)
    c.put_many([("a.py", 100, 1_000, content_hash(b"a"), tags)])
    got = c.get_many([("a.py", 100, 1_000), ("b.py", 1, 1)])
    assert list(got) == ["a.py", "b.py"] and got["b.py"] is None
    assert got["a.py"] == (tags if c.enabled else None)
    assert c.get_many([("a.py", 100, 1_000)], refs=False)["a.py"] == ([t for t in tags if t.is_def]
                                                                      if c.enabled else None)
    assert c.get_refs(["a.py"]) == ({"a.py": [t for t in tags if not t.is_def]} if c.enabled else {})
    assert isinstance(c.get_ref_counts(["a.py"]), dict) and set(c.get_ref_counts(["a.py"])) <= {"a.py"}
    assert c.has_size("a.py", 100) is c.enabled
    assert c.known_files() == ({"a.py": (100, 1_000)} if c.enabled else {})
    assert (c.stats.hits, c.stats.misses) == ((2, 1) if c.enabled else (0, 3))


def test_every_cache_hash_lookup_touch_and_flags(any_cache) -> None:
    c = any_cache
    tags = make_tags(2)
    c.put_encoded([("a.py", 100, 1_000, content_hash(b"a"), *_split(tags), 4)])
    assert c.lookup_hash("a.py", 100, content_hash(b"a")) == (tags if c.enabled else None)
    assert c.lookup_hash("a.py", 100, content_hash(b"other")) is None
    assert (c.stats.hash_hits, c.stats.hash_misses) == ((1, 1) if c.enabled else (0, 2))
    c.touch_many([("a.py", 100, 2_000)])
    assert c.get_many([("a.py", 100, 2_000)])["a.py"] == (tags if c.enabled else None)
    assert c.get_flags(["a.py", "b.py"]) == ({"a.py": 4} if c.enabled else {})
    assert c.prune({"b.py"}) == (1 if c.enabled else 0)
    assert c.get_many([("a.py", 100, 2_000)])["a.py"] is None


def test_every_cache_blobs_only_when_enabled(any_cache) -> None:
    c = any_cache
    assert c.get_blob("graph:x") is None
    c.put_blob("graph:x", b"\x00one")
    c.put_blob("graph:y", b"two", keep=1)
    assert c.get_blob("graph:y") == (b"two" if c.enabled else None)
    assert c.get_blob("graph:x") is None  # keep=1 left only the newest of the prefix


def test_every_cache_closes_idempotently_into_a_noop(any_cache) -> None:
    c = any_cache
    with c as same:
        assert same is c
    c.close()
    assert not c.enabled
    c.put_many([row("a.py", 1)])
    c.put_blob("graph:x", b"1")
    assert c.get_many([("a.py", 100, 1_000)]) == {"a.py": None}
    assert c.get_blob("graph:x") is None and c.known_files() == {} and c.prune(set()) == 0


def _assert_noop(c: TagCache) -> None:
    assert not c.enabled
    c.put_many([row("a.py", 1)])
    assert c.get_many([("a.py", 100, 1_000)]) == {"a.py": None}
    assert c.lookup_hash("a.py", 100, b"h" * 16) is None
    c.put_blob("graph:x", b"1")
    assert c.get_blob("graph:x") is None
    c.close()


def test_uncreatable_cache_dir_gives_noop_cache_and_one_warning(root: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should go")
    warnings: list[str] = []
    c = TagCache.open(root, blocker / "cache", warn=warnings.append)
    _assert_noop(c)
    assert len(warnings) == 1 and "disabled" in warnings[0]


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root ignores directory permissions")
def test_read_only_cache_dir_gives_noop_cache_and_one_warning(root: Path, tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        warnings: list[str] = []
        c = TagCache.open(root, ro, warn=warnings.append)
        _assert_noop(c)
        assert len(warnings) == 1 and "disabled" in warnings[0]
    finally:
        ro.chmod(0o755)


def test_failing_warn_callback_does_not_escape(root: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")

    def explode(msg: str) -> None:
        raise RuntimeError(msg)

    c = TagCache.open(root, blocker / "c", warn=explode)
    assert not c.enabled




# ------------------------------------------------------------------ the blob store


def _small_graph():
    from ripmap.graph import build_graph

    tags = {"a.py": [Tag(1, "f", True, "function", 2, None, "def f()"), Tag(5, "g", False, "call", 5, None, None)],
            "b.py": [Tag(1, "g", True, "function", 2, None, "def g()")]}
    return build_graph(("a.py", "b.py"), tags)


@pytest.mark.parametrize("kind", ["tag", "null"])
def test_blob_store_keeps_each_kind_under_its_key_and_misses_what_it_cannot_trust(kind, root, cdir) -> None:
    import numpy as np
    import scipy.sparse as sp

    from ripmap.cache.blobs import BlobStore, StoredGraph
    from ripmap.gitinfo import GitSignals
    from ripmap.rank.lexical import LexicalIndex

    cache = open_cache(root, cdir) if kind == "tag" else NullCache()
    with cache:
        store = BlobStore(cache, "fp1")
        g = _small_graph()
        store.save_graph(StoredGraph(g))
        sig = GitSignals(files=("a.py",), age_days=np.array([3.0]), churn=np.array([4]),
                         commit_files=sp.csr_matrix(np.ones((1, 1))), head="abc", now=9)
        store.save_git("abc", None, sig)
        lx = LexicalIndex.build(g.files, g.names, g.D, (g.R[0] + g.R[1] + g.R[2]).tocsr(), None)
        store.save_lexical(lx)
        if not cache.enabled:
            assert store.load_graph(g.files) is None and store.load_git("abc", None) is None
            assert store.load_lexical(2) is None
            return
        got = store.load_graph(g.files)
        assert got is not None and got.graph.names == g.names
        assert got.graph.referrers.tolist() == g.referrer_counts().tolist()
        assert store.load_graph(("a.py",)) is None  # stored for other files: never trusted
        assert BlobStore(cache, "fp2").load_graph(g.files) is None  # another index
        assert store.load_git("abc", None).churn.tolist() == [4]
        assert store.load_git("abc", "v1.0") is None  # git blobs are keyed by HEAD and until
        assert store.load_lexical(2).vocab == lx.vocab and store.load_lexical(3) is None
        assert {cache.get_blob(k) is not None for k in ("graph:fp1", "git:abc:", "lexical3:fp1")} == {True}
        cache.put_blob("graph:fp1", b"not a graph")
        cache.put_blob("git:abc:", b"not git")
        assert store.load_graph(g.files) is None and store.load_git("abc", None) is None


def test_a_tag_blob_decodes_only_when_every_row_is_a_whole_tag() -> None:
    """Rows are built straight into Tags: a row with fields missing (which Tag's defaults
    would otherwise fill in) or extra, or a blob that is not a list of rows, is refused."""
    import marshal

    from ripmap.cache.tags import _decode_tags
    from ripmap.extract.tags import Tag

    whole = (3, "run", True, "function", 9, "App", "def run(self)")
    assert _decode_tags(marshal.dumps([whole])) == [Tag(*whole)]
    assert _decode_tags(marshal.dumps([])) == []
    for bad in ([whole, whole[:5]], [whole + ("x",)], 5, [7], b"junk"):
        blob = bad if isinstance(bad, bytes) else marshal.dumps(bad)
        assert _decode_tags(blob) is None, bad


def test_tags_from_other_grammars_are_parsed_again(tmp_path: Path, monkeypatch) -> None:
    """The tag cache names the installed grammars its rows came from: a grammar upgraded in
    place (another file size or mtime of its module) hides every row, so each file is
    parsed again; the same grammars find them all."""
    import dataclasses
    import sys

    from ripmap import languages
    from ripmap.api import RepoMap

    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg/a.py").write_text("def alpha():\n    return 1\n")
    (root / "pkg/b.py").write_text("from pkg.a import alpha\n\ndef beta():\n    return alpha()\n")
    # a stand-in grammar module whose file can be "upgraded"
    (tmp_path / "site" / "fake_grammar_pkg").mkdir(parents=True)
    init = tmp_path / "site" / "fake_grammar_pkg" / "__init__.py"
    init.write_text("# version 1\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    fake = dataclasses.replace(languages.SPECS[0], name="fake-lang", module="fake_grammar_pkg")
    monkeypatch.setattr(languages, "SPECS", (*languages.SPECS, fake))

    def parsed() -> int:
        languages.grammars_identity.cache_clear()
        with RepoMap(root, cache_dir=tmp_path / "cache", use_git=False, warn=lambda m: None) as rm:
            return rm.index.parsed

    assert parsed() == 2
    assert parsed() == 0  # the same grammars: every row found
    before = languages.grammars_identity()
    init.write_text("# version 2, a longer file\n")
    assert parsed() == 2  # upgraded in place: parsed again
    assert languages.grammars_identity() != before
    assert parsed() == 0
    languages.grammars_identity.cache_clear()
    sys.modules.pop("fake_grammar_pkg", None)
