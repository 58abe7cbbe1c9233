"""The index: cache hits on the second run, invalidation on edit, reuse by content hash,
recovery from a broken cache, concurrent processes, and malformed input end to end."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ripmap.cache import TagCache, cache_path_for
from ripmap.index import build_index

PY = "class Alpha:\n    def run(self, x):\n        return helper(x)\n\n\ndef helper(x):\n    return x\n"


def _old(path: Path) -> None:
    """Backdate a file so it is outside the racy-mtime window."""
    t = time.time() - 3600
    os.utime(path, (t, t))


def _tree(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "a.py").write_text(PY)
    (root / "pkg" / "b.py").write_text("from pkg.a import helper\n\ndef use():\n    return helper(1)\n")
    (root / "notes.md").write_text("# Title\n\n## Part\ntext\n")
    for p in root.rglob("*"):
        if p.is_file():
            _old(p)
    return root


def test_second_run_is_all_cache_hits(tmp_path: Path) -> None:
    root = _tree(tmp_path / "r")
    with TagCache.open(root, tmp_path / "c") as c:
        first = build_index(root, cache=c, progress=False)
    with TagCache.open(root, tmp_path / "c") as c:
        second = build_index(root, cache=c, progress=False)
    assert first.parsed == 3 and first.cache_hits == 0
    assert second.parsed == 0 and second.cache_hits == 3
    assert {r: list(second.tags[r]) for r in second.tags} == {r: list(first.tags[r]) for r in first.tags}


def test_edit_invalidates_only_that_file(tmp_path: Path) -> None:
    root = _tree(tmp_path / "r")
    with TagCache.open(root, tmp_path / "c") as c:
        build_index(root, cache=c, progress=False)
    (root / "pkg" / "a.py").write_text(PY + "\n\ndef added():\n    pass\n")
    _old(root / "pkg" / "a.py")
    os.utime(root / "pkg" / "a.py", (time.time() - 100, time.time() - 100))
    with TagCache.open(root, tmp_path / "c") as c:
        idx = build_index(root, cache=c, progress=False)
    assert idx.parsed == 1 and idx.cache_hits == 2
    assert "added" in {t.name for t in idx.tags.defs("pkg/a.py")}


def test_the_cache_forgets_a_deleted_file_and_an_edit_alone_rewrites_no_other_row(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that parses drops the rows of files that are gone; a run whose parses leave
    every cached file in place skips that pass over every row."""
    root = _tree(tmp_path / "r")
    with TagCache.open(root, tmp_path / "c") as c:
        build_index(root, cache=c, progress=False)
    pruned: list[int] = []
    real = TagCache.prune
    monkeypatch.setattr(TagCache, "prune", lambda self, keep: pruned.append(1) or real(self, keep))
    (root / "pkg" / "a.py").write_text(PY + "\n\ndef added():\n    pass\n")
    os.utime(root / "pkg" / "a.py", (time.time() - 100, time.time() - 100))
    with TagCache.open(root, tmp_path / "c") as c:
        assert build_index(root, cache=c, progress=False).parsed == 1
        assert set(c.known_files()) == {"pkg/a.py", "pkg/b.py", "notes.md"}
    assert pruned == []  # an edit alone: nothing to forget
    (root / "pkg" / "b.py").unlink()
    (root / "pkg" / "a.py").write_text(PY + "\n\ndef added_again():\n    pass\n")
    os.utime(root / "pkg" / "a.py", (time.time() - 90, time.time() - 90))
    with TagCache.open(root, tmp_path / "c") as c:
        assert build_index(root, cache=c, progress=False).parsed == 1
        assert set(c.known_files()) == {"pkg/a.py", "notes.md"}
    assert pruned == [1]


def test_touch_without_change_reuses_tags_by_hash(tmp_path: Path) -> None:
    root = _tree(tmp_path / "r")
    with TagCache.open(root, tmp_path / "c") as c:
        build_index(root, cache=c, progress=False)
    os.utime(root / "pkg" / "a.py", (time.time() - 50, time.time() - 50))  # new mtime, same bytes
    with TagCache.open(root, tmp_path / "c") as c:
        idx = build_index(root, cache=c, progress=False)
        assert idx.parsed == 0 and idx.cache_hits == 3
        assert c.stats.hash_hits >= 1
    with TagCache.open(root, tmp_path / "c") as c:  # the new mtime was recorded: plain hit now
        again = build_index(root, cache=c, progress=False)
        assert again.cache_hits == 3 and c.stats.hash_hits == 0


def test_racy_recent_edit_is_not_trusted(tmp_path: Path) -> None:
    """Same size, same mtime, different bytes: only the content hash can tell."""
    root = _tree(tmp_path / "r")
    target = root / "pkg" / "a.py"
    now = time.time()
    os.utime(target, (now, now))
    with TagCache.open(root, tmp_path / "c") as c:
        build_index(root, cache=c, progress=False)
    st = target.stat()
    target.write_text(PY.replace("helper", "helpor"))  # same length
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert target.stat().st_size == st.st_size
    with TagCache.open(root, tmp_path / "c") as c:
        idx = build_index(root, cache=c, progress=False)
    assert "helpor" in {t.name for t in idx.tags.defs("pkg/a.py")}


def test_truncated_database_is_rebuilt_by_a_real_run(tmp_path: Path) -> None:
    root = _tree(tmp_path / "r")
    cdir = tmp_path / "c"
    env = {**os.environ, "RIPMAP_CACHE_DIR": str(cdir)}
    ok = subprocess.run([sys.executable, "-m", "ripmap.cli", str(root), "-t", "500"], capture_output=True,
                        text=True, env=env)
    assert ok.returncode == 0, ok.stderr
    db = cache_path_for(root, cdir)
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 3] + b"\x00garbage" * 10)
    for f in db.parent.glob(db.name + "-*"):
        f.unlink()  # WAL/SHM leftovers would let SQLite recover; we want real damage
    run = subprocess.run([sys.executable, "-m", "ripmap.cli", str(root), "-t", "500"], capture_output=True,
                         text=True, env=env)
    assert run.returncode == 0
    assert "Traceback" not in run.stderr
    assert "pkg/a.py" in run.stdout
    assert sum("corrupt" in line for line in run.stderr.splitlines()) == 1  # exactly one warning
    # another budget: a map drawn, not the one kept, so the rebuilt tags are what it reads
    again = subprocess.run([sys.executable, "-m", "ripmap.cli", str(root), "-t", "501", "--stats"],
                           capture_output=True, text=True, env=env)
    assert again.returncode == 0 and "corrupt" not in again.stderr
    assert "cache hits 3" in again.stderr


def test_two_processes_on_one_repo_at_once(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "src").mkdir(parents=True)
    for i in range(120):
        (root / "src" / f"m{i}.py").write_text(f"def f{i}(x):\n    return g{(i + 1) % 120}(x)\n\n\ndef g{i}(y):\n    return y\n")
    env = {**os.environ, "RIPMAP_CACHE_DIR": str(tmp_path / "c")}
    procs = [subprocess.Popen([sys.executable, "-m", "ripmap.cli", str(root), "-t", "800", "--format", "json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert "locked" not in err and "Traceback" not in err
        assert '"files"' in out


def test_malformed_inputs_do_not_stop_the_map(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / "good.py").write_text(PY)
    (root / "binary.py").write_bytes(b"\x00\x01\x02" * 1000)
    (root / "nul_inside.py").write_bytes(b"def ok():\n    pass\n\x00\x00\n")
    (root / "latin1.py").write_bytes("def caf\xe9():\n    pass\n\ndef plain():\n    pass\n".encode("latin-1"))
    (root / "broken.py").write_text("def fine():\n    pass\n\nx = foo(1, 2\n\ndef later():\n    pass\n")
    (root / "nested.js").write_text("x = " + "[" * 3000 + "]" * 3000 + ";\nfunction after() {}\n")
    (root / "big.min.js").write_text("var a=1;" * 10)  # minified name: excluded by default
    (root / "huge.js").write_text("var a=function(){return 1};" * 60_000)  # 1.6 MB: over the size limit
    (root / "loop").symlink_to(root / "loop")
    unreadable = root / "secret.py"
    unreadable.write_text("def hidden():\n    pass\n")
    unreadable.chmod(0)
    try:
        run = subprocess.run([sys.executable, "-m", "ripmap.cli", str(root), "-t", "2000", "-v", "--format", "json",
                              "--no-cache"], capture_output=True, text=True)
    finally:
        unreadable.chmod(0o644)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    import json

    data = json.loads(run.stdout)
    paths = {f["path"] for f in data["files"]}
    assert {"good.py", "latin1.py", "broken.py", "nested.js"} <= paths
    assert "huge.js" not in paths and "big.min.js" not in paths and "binary.py" not in paths
    assert "huge.js" in run.stderr  # the skip is reported with -v
    names = {s["name"] for f in data["files"] for s in f["symbols"]}
    assert {"Alpha", "plain", "fine"} <= names


def test_file_deleted_between_discovery_and_parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ripmap.index as index_mod

    root = _tree(tmp_path / "r")
    real = index_mod.parse_files

    def vanish_then_parse(jobs, **kw):
        (root / "pkg" / "b.py").unlink()
        return real(jobs, **kw)

    monkeypatch.setattr(index_mod, "parse_files", vanish_then_parse)
    idx = build_index(root, progress=False)
    assert "pkg/b.py" not in {f.rel for f in idx.files}
    assert "pkg/a.py" in {f.rel for f in idx.files}
    assert any("pkg/b.py" in n and "vanished" in n for n in idx.notes)


def test_the_fingerprint_describes_the_indexed_files_whether_or_not_one_was_dropped(tmp_path: Path) -> None:
    # taken once and, when no file was dropped, shared with the listing's; a binary
    # file found by the parse workers leaves the index and so its fingerprint
    from ripmap.index import files_fingerprint

    root = _tree(tmp_path / "r")
    with TagCache.open(root, tmp_path / "c") as c:
        whole = build_index(root, cache=c, progress=False)
    assert whole.fingerprint == files_fingerprint(whole.files) == whole.listing
    (root / "pkg" / "bin.py").write_bytes(b"\x00\x01\x02" * 100)
    _old(root / "pkg" / "bin.py")
    with TagCache.open(root, tmp_path / "c") as c:
        less = build_index(root, cache=c, progress=False)
    assert "pkg/bin.py" not in {f.rel for f in less.files}
    assert less.fingerprint == files_fingerprint(less.files) == whole.fingerprint
    assert less.listing != less.fingerprint


def test_broken_query_is_one_warning_not_one_per_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ripmap.languages as langs
    from ripmap import RepoMap
    from ripmap.extract import treesitter

    root = tmp_path / "r"
    root.mkdir()
    for i in range(4):
        (root / f"m{i}.py").write_text(f"def f{i}():\n    pass\n")
    (root / "notes.md").write_text("# Heading\n")
    monkeypatch.setattr(langs, "query_source", lambda spec: "(no_such_node) @name")
    langs.load.cache_clear()
    treesitter._parser.cache_clear()
    warnings: list[str] = []
    try:
        with RepoMap(root, cache_dir=tmp_path / "c", use_git=False, warn=warnings.append) as rm:
            ranking = rm.rank()
    finally:
        monkeypatch.undo()
        langs.load.cache_clear()
        treesitter._parser.cache_clear()
    broken = [w for w in warnings if "does not compile" in w]
    assert len(broken) == 1 and broken[0].startswith("4 files")
    assert set(ranking.files) == {"m0.py", "m1.py", "m2.py", "m3.py", "notes.md"}  # the map still comes out


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="needs a file system that takes any bytes in a name")
def test_a_file_name_that_is_not_utf8_does_not_stop_the_map(tmp_path: Path) -> None:
    """git and the walk hand such a name on with its bytes escaped (os.fsdecode); the
    index's fingerprint once tried to encode it strictly and the whole map failed."""
    from ripmap.index import files_fingerprint

    root = _tree(tmp_path / "r")
    bad = os.fsdecode(b"pkg/\xffodd.py")
    (root / bad).write_text("def odd():\n    return 1\n")
    idx = build_index(root, progress=False)
    assert bad in {f.rel for f in idx.files}
    assert "odd" in {t.name for t in idx.tags.defs(bad)}
    assert idx.listing == files_fingerprint(idx.files) != files_fingerprint(idx.files[:-1])


CPP_HEADER = """#pragma once
#include <string>

namespace shapes {

class Widget {
 public:
  explicit Widget(int size);
  int size() const { return size_; }

 private:
  int size_;
};

}  // namespace shapes
"""

C_HEADER = """#ifndef VEC_H
#define VEC_H
/* Like std::vector, but for C: see vec_push(). */
#ifdef __cplusplus
extern "C" {
#endif
struct vec { int len; int *items; };
int vec_push(struct vec *v, int item);
#ifdef __cplusplus
}
#endif
#endif
"""


def test_a_header_only_cpp_could_have_written_is_parsed_as_cpp(tmp_path: Path) -> None:
    """``.h`` is C by its name; a C++ project's headers (classes, namespaces) parsed as C
    lose their classes. The parse follows the content: a C++ header yields the class and
    its method under it, as C++'s grammar reads it; a C header stays C, even one whose
    comment says ``std::vector`` and that guards ``extern "C"`` for C++ callers."""
    from ripmap.extract import extract_tags
    from ripmap.languages import content_language

    root = tmp_path / "r"
    (root / "src").mkdir(parents=True)
    (root / "src" / "widget.h").write_text(CPP_HEADER)
    (root / "src" / "vec.h").write_text(C_HEADER)
    idx = build_index(root, progress=False)

    widget = {(t.name, t.kind, t.parent) for t in idx.tags.defs("src/widget.h")}
    assert ("Widget", "class", "shapes") in widget
    assert ("size", "method", "Widget") in widget
    cpp, _ = extract_tags(CPP_HEADER.encode(), "cpp")
    c_reading, _ = extract_tags(CPP_HEADER.encode(), "c")
    assert [t for t in idx.tags.defs("src/widget.h")] == [t for t in cpp if t.is_def] != [t for t in c_reading if t.is_def]

    c, _ = extract_tags(C_HEADER.encode(), "c")
    assert idx.tags.defs("src/vec.h") == [t for t in c if t.is_def]
    assert {t.name for t in idx.tags.defs("src/vec.h")} >= {"vec", "vec_push"}

    # only a C header's grammar is ever changed, and only for a line C cannot have
    assert content_language("c", "x.H", b"template <typename T> struct box;\n") == "cpp"
    assert content_language("c", "x.c", b"class Widget {};\n") == "c"
    assert content_language("python", "x.h", b"class Widget:\n") == "python"
    assert content_language("c", "x.h", b"#include <stdio.h>\nint classify(int class_id);\n") == "c"
    assert content_language("c", "x.h", b"#include <vector>\n") == "cpp"
