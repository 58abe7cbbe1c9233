"""Modules imported on first use (ripmap/lazy.py), and the runs that therefore never
import scipy: ``import ripmap.cli`` and a small tree's kept map."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from ripmap.lazy import LazyModule

from fixtures_rank import init_repo, isolate_git
from test_kept_map import FILES, _settle


@pytest.fixture
def target(tmp_path: Path, monkeypatch) -> str:
    """A module that counts its own imports in a file beside it (it sleeps a little, so
    two threads asking for it at once really overlap)."""
    name = f"lazy_target_{os.getpid()}_{tmp_path.name}".replace("-", "_")
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(f"""
        import pathlib, time
        _log = pathlib.Path({str(tmp_path / "imports.log")!r})
        _log.write_text(_log.read_text() + "x" if _log.exists() else "x")
        time.sleep(0.05)
        VALUE = 42

        def double(x):
            return 2 * x
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def _imports(tmp_path: Path) -> int:
    log = tmp_path / "imports.log"
    return len(log.read_text()) if log.exists() else 0


def test_the_module_is_imported_on_first_read_and_then_read_directly(target: str, tmp_path: Path) -> None:
    lazy = LazyModule(target)
    assert _imports(tmp_path) == 0 and target not in sys.modules
    assert lazy.VALUE == 42
    assert _imports(tmp_path) == 1 and target in sys.modules
    assert lazy.double is sys.modules[target].double and lazy.double(4) == 8
    assert "double" in vars(lazy)  # copied in: later reads never reach __getattr__
    with pytest.raises(AttributeError):
        lazy.no_such_name  # noqa: B018
    assert _imports(tmp_path) == 1


def test_first_reads_from_two_threads_import_once(target: str, tmp_path: Path) -> None:
    lazy = LazyModule(target)
    got: list[int] = []
    start = threading.Barrier(2)

    def read() -> None:
        start.wait()
        got.append(lazy.VALUE)

    threads = [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [42, 42]
    assert _imports(tmp_path) == 1


def _python(code: str, cwd: Path) -> str:
    env = {**os.environ, "RIPMAP_TOKENIZER": "estimate"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().splitlines()[-1]  # what the code printed last (after any map)


def test_importing_the_cli_does_not_import_scipy(tmp_path: Path) -> None:
    assert _python("import sys, ripmap.cli; print('scipy.sparse' in sys.modules)", tmp_path) == "False"


def test_a_small_trees_kept_map_never_imports_scipy(tmp_path: Path, monkeypatch) -> None:
    isolate_git(monkeypatch, tmp_path)
    root = init_repo(tmp_path / "repo", FILES)
    _settle(root)
    cache = tmp_path / "cache"
    run = ("import sys; from ripmap.cli import run; "
           f"code = run([{str(root)!r}, '--cache-dir', {str(cache)!r}, '-t', '512', '--stats']); "
           "print(code, 'scipy.sparse' in sys.modules)")
    assert _python(run, tmp_path) == "0 True"  # drawn: the ranking builds matrices
    assert _python(run, tmp_path) == "0 False"  # kept: printed again, nothing built or decoded
    (root / "pkg" / "extra.py").write_text("def extra():\n    return 1\n")
    _settle(root)
    assert _python(run, tmp_path) == "0 True"  # changed: drawn again


@pytest.mark.parametrize("threshold, big", [(5000, False), (1, True)])
def test_a_kept_map_reads_the_stored_graph_only_on_a_big_trees_miss(tmp_path: Path, monkeypatch, threshold: int,
                                                                    big: bool) -> None:
    """A hit never starts reading what a miss would rank with (decoding the stored graph
    imports scipy and holds the GIL against the listing); a big tree reads the cache's
    stamps beside its listing, and on a miss starts reading the graph at once."""
    import ripmap.api as api
    from ripmap.api import RepoMap

    isolate_git(monkeypatch, tmp_path)
    monkeypatch.setenv("RIPMAP_TOKENIZER", "estimate")
    root = init_repo(tmp_path / "repo", FILES)
    _settle(root)
    cache = tmp_path / "cache"
    with RepoMap(root, cache_dir=cache) as rm:
        key = rm.map_key(tokens=512)
        rm.keep_map(key, rm.render(rm.rank(), tokens=512))
    monkeypatch.setattr(api, "READ_AHEAD_MIN_FILES", threshold)
    with RepoMap(root, cache_dir=cache) as rm:
        key = rm.map_key(tokens=512)
        assert rm.kept_map(key) is not None
        assert rm._graph_ahead is None
        assert (rm._known_ahead is not None) is big
    (root / "pkg" / "extra.py").write_text("def extra():\n    return 1\n")
    _settle(root)
    with RepoMap(root, cache_dir=cache) as rm:
        assert rm.kept_map(rm.map_key(tokens=512)) is None
        assert (rm._graph_ahead is not None) is big
        assert (rm._known_ahead is not None) is big
