"""The symbol table kept with the graph: a warm map ranks every definition without
decoding any file's tags, and decodes only the files it shows.

The table built from the graph's stored definition rows is compared with the one read
from every file's definitions (the original way), on the sample files of every
language (nested helpers, Rust ``impl`` blocks, overloads), after a patch and after a
round trip through the cache.
"""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from ripmap import RepoMap
from ripmap.cache.blobs import StoredGraph, decode_graph, encode_graph
from ripmap.graph import build_graph, patch_graph
from ripmap.rank import symbols as symbols_mod
from ripmap.rank.symbols import StoredDefinitions, SymbolTable

SAMPLES = Path(__file__).parent / "samples"


@pytest.fixture
def polyglot(tmp_path: Path) -> Path:
    """Every language's sample file, twice (two definers per name), plus a Python file
    with a local helper inside a function."""
    root = tmp_path / "poly"
    for lang in sorted(p for p in SAMPLES.iterdir() if p.is_dir()):
        for src in lang.iterdir():
            if src.name != "expected.json":
                for copy in ("one", "two"):
                    dest = root / copy / lang.name / src.name
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(src, dest)
    (root / "nested.py").write_text("def outer():\n    def inner():\n        return 1\n    return inner()\n\n"
                                    "class Box:\n    def put(self):\n        pass\n")
    return root


def _legacy(g, tags) -> SymbolTable:
    """The table as read from every file's definitions (the graph's rows ignored)."""
    return SymbolTable.build(dataclasses.replace(g, def_names=None), tags)


def _assert_same(a: SymbolTable, b: SymbolTable) -> None:
    assert a.paths == b.paths
    for col in ("file_idx", "name_idx", "prior", "line", "starts", "groups", "span"):
        assert np.array_equal(getattr(a, col), getattr(b, col)), col
    assert list(a.tags) == list(b.tags)


def test_the_stored_rows_give_the_table_the_definitions_give(polyglot: Path) -> None:
    with RepoMap(polyglot, use_cache=False, use_git=False) as rm:
        g, tags = rm.graph, rm.index.tags
        stored = SymbolTable.build(g, tags)
        assert isinstance(stored.tags, StoredDefinitions)
        legacy = _legacy(g, tags)
        assert not isinstance(legacy.tags, StoredDefinitions)
        assert len(legacy.tags) > 100
        # what the rows must carry: kinds with and without a prior, locals, impl blocks
        kinds = {t.kind for t in legacy.tags}
        assert {"impl", "function", "method", "class"} <= kinds
        assert (legacy.prior < 0.2).any()  # the local helper is discounted
        _assert_same(stored, legacy)
        assert stored.tags[5] == legacy.tags[5] and stored.tags[-1] == legacy.tags[-1]


def test_a_patched_graph_keeps_the_table_of_a_cold_build(polyglot: Path) -> None:
    with RepoMap(polyglot, use_cache=False, use_git=False) as rm:
        old = rm.graph
    (polyglot / "nested.py").write_text("def first():\n    pass\n\ndef outer():\n    def inner2():\n"
                                        "        return 2\n    return inner2()\n")
    (polyglot / "one" / "go").joinpath("sample.go").unlink()
    (polyglot / "added.rs").write_text("struct Fresh;\nimpl Fresh {\n    fn make() -> Fresh { Fresh }\n}\n")
    with RepoMap(polyglot, use_cache=False, use_git=False) as rm:
        patched = patch_graph(old, rm.files, {"nested.py"}, rm.index.tags)
        cold = build_graph(rm.files, rm.index.tags)
        _assert_same(SymbolTable.build(patched, rm.index.tags), SymbolTable.build(cold, rm.index.tags))
        _assert_same(SymbolTable.build(patched, rm.index.tags), _legacy(cold, rm.index.tags))


def test_the_rows_survive_the_cache_and_a_damaged_copy_is_refused(polyglot: Path) -> None:
    with RepoMap(polyglot, use_cache=False, use_git=False) as rm:
        g, tags = rm.graph, rm.index.tags
        back = decode_graph(encode_graph(StoredGraph(g))).graph
        _assert_same(SymbolTable.build(back, tags), _legacy(g, tags))
        d = g.rows.defs
        bad_file = d.file.copy()
        bad_file[0] = len(g.files) + 3  # a row pointing past the files
        bad = dataclasses.replace(g, rows=dataclasses.replace(g.rows, defs=dataclasses.replace(d, file=bad_file)))
        with pytest.raises(ValueError):
            decode_graph(encode_graph(StoredGraph(bad)))


def test_a_row_whose_file_changed_underneath_is_found_by_name_or_given_bare(polyglot: Path) -> None:
    with RepoMap(polyglot, use_cache=False, use_git=False) as rm:
        g, tags = rm.graph, rm.index.tags
        table = SymbolTable.build(g, tags)
        row = int(np.flatnonzero(np.asarray([p == "nested.py" for p in g.files])[table.file_idx])[-1])
        want = _legacy(g, tags).tags[row]

        class Shifted(dict):
            """Tags of nested.py as another process might have rewritten them: one more
            definition in front, and the others reordered."""

            def __contains__(self, rel):
                return rel in tags

            def get(self, rel, default=()):
                defs = [t for t in tags[rel] if t.is_def]
                if rel != "nested.py":
                    return defs
                return [defs[0]._replace(name="added_front", line=0)] + list(reversed(defs))

        shifted = StoredDefinitions(table, Shifted(), g.rows.strs, g.rows.defs.str_id, g.rows.defs.kinds,
                                    g.rows.defs.kind)
        assert shifted[row] == want  # found again by (line, name)

        class Gone(Shifted):
            def get(self, rel, default=()):
                return [] if rel == "nested.py" else super().get(rel, default)

        bare = StoredDefinitions(table, Gone(), g.rows.strs, g.rows.defs.str_id, g.rows.defs.kinds,
                                 g.rows.defs.kind)[row]
        assert (bare.name, bare.line, bare.kind, bare.is_def) == (want.name, want.line, want.kind, True)


def test_a_warm_map_decodes_only_the_files_it_shows(tmp_path: Path) -> None:
    root = tmp_path / "many"
    for i in range(300):
        (root / f"pkg{i % 6}").mkdir(parents=True, exist_ok=True)
        (root / f"pkg{i % 6}" / f"m{i}.py").write_text(
            f"from pkg0.m0 import base0\n\n\ndef base{i}():\n    return base0()\n\n\nclass Thing{i}:\n"
            f"    def run(self):\n        return base{i}()\n")
    cache = tmp_path / "cache"
    with RepoMap(root, cache_dir=cache, use_git=False) as rm:
        cold_text = str(rm.render(rm.rank(), tokens=200))
    with RepoMap(root, cache_dir=cache, use_git=False) as rm:
        rendered = rm.render(rm.rank(), tokens=200)
        tags = rm.index.tags
        decoded = [r for r in tags if tags.loaded_defs(r) is not None]
        assert rm.index.cache_hits == 300
        # the fitter reads the candidates it weighs (a budget's worth), never the tree
        assert set(rendered.files) <= set(decoded) and len(decoded) < 300 // 2
        assert str(rendered) == cold_text


def test_the_graph_codec_keeps_every_value_and_odd_file_names(tmp_path: Path) -> None:
    """The compact codec (UTF-8 text, float32 where exact, all-ones flags) gives back
    what it was given: float64 values, non-UTF-8 file names, values float32 cannot hold."""
    import os

    import scipy.sparse as sp

    from ripmap.cache.blobs import _csr_arrays, _csr_from

    root = tmp_path / "odd"
    root.mkdir()
    (root / "plain.py").write_text("def thing2():\n    return thing()\n")
    with open(os.path.join(os.fsencode(root), b"caf\xe9.py"), "w") as fh:
        fh.write("def thing():\n    return 1\n")
    with RepoMap(root, use_cache=False, use_git=False) as rm:
        g = rm.graph
    assert any("\udce9" in f for f in g.files)
    back = decode_graph(encode_graph(StoredGraph(g))).graph
    assert back.files == g.files and back.names == g.names and back.rows.strs == g.rows.strs
    for a, b in zip((*g.R, g.D, g.I), (*back.R, back.D, back.I)):
        assert b.data.dtype == np.float64 and np.array_equal(a.toarray(), b.toarray())
    assert np.array_equal(back.rows.count, g.rows.count) and back.rows.count.dtype == np.float64

    m = sp.csr_matrix(np.array([[0.1, 0.0], [2.0, 1.0]]))

    class Z(dict):
        files = property(lambda self: list(self))

    z = Z(_csr_arrays("m", m))
    assert "m_data" in z  # 0.1 is not a float32: kept as it is
    assert np.array_equal(_csr_from(z, "m").toarray(), m.toarray())
    ones = Z(_csr_arrays("m", sp.csr_matrix(np.eye(3))))
    assert "m_data" not in ones and np.array_equal(_csr_from(ones, "m").toarray(), np.eye(3))


def test_a_damaged_definitions_row_is_parsed_again_on_a_warm_map(tmp_path: Path) -> None:
    """A warm map trusts a row by size and mtime and decodes it only when asked; a row
    that then does not decode is parsed again, and the map equals a cold one."""
    import os
    import sqlite3

    from ripmap.cache.tags import cache_path_for

    root = tmp_path / "r"
    root.mkdir()
    (root / "core.py").write_text("class Engine:\n    def start(self):\n        return 1\n")
    (root / "app.py").write_text("from core import Engine\n\n\ndef main():\n    return Engine().start()\n")
    for p in root.iterdir():  # older than the racy window, so size and mtime are trusted
        os.utime(p, (1_600_000_000, 1_600_000_000))
    cache = tmp_path / "cache"
    with RepoMap(root, use_cache=False, use_git=False) as rm:
        cold = str(rm.render(rm.rank(), tokens=512))
    with RepoMap(root, cache_dir=cache, use_git=False) as rm:
        assert str(rm.render(rm.rank(), tokens=512)) == cold
    db = sqlite3.connect(cache_path_for(root, cache))
    db.execute("UPDATE files SET defs = x'00ff13' WHERE rel = 'core.py'")
    db.commit()
    db.close()
    with RepoMap(root, cache_dir=cache, use_git=False) as rm:
        assert rm.index.cache_hits == 2  # trusted by its stamp, decoded only when shown
        assert str(rm.render(rm.rank(), tokens=512)) == cold
        assert [t.name for t in rm.index.tags.defs("core.py")] == ["Engine", "start"]


def test_a_long_definition_outranks_a_one_liner_its_file_defines_beside_it(tmp_path: Path) -> None:
    """Of a file's definitions, equally referenced, the one with the longer body comes
    first (SYMBOL_SPAN_POWER): where the next change lands (67% of the fit corpus'
    changed definitions are in their file's longer half), not the setter beside it."""
    body = "".join(f"    total = total + {i}\n" for i in range(40))
    (tmp_path / "work.py").write_text("def set_flag(v):\n    return v\n\n"
                                      f"def run_job(v):\n    total = v\n{body}    return total\n")
    (tmp_path / "use.py").write_text("from work import set_flag, run_job\n\nset_flag(1)\nrun_job(2)\n")
    rm = RepoMap(tmp_path, use_cache=False, use_git=False)

    def order() -> list[str]:
        return [s.tag.name for s in rm.rank(chat_files=["use.py"]).symbols if s.path == "work.py"]

    assert order() == ["run_job", "set_flag"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(symbols_mod, "SYMBOL_SPAN_POWER", 0.0)
        rm = RepoMap(tmp_path, use_cache=False, use_git=False)
        assert order() == ["set_flag", "run_job"]  # without it: equal shares, file order


def test_a_definition_the_focus_names_leads_its_file_however_short(tmp_path: Path) -> None:
    """A one-liner the task text names comes before its file's long definitions
    (NAMED_FIRST): the user asked about it, so a map that shows the file but not it
    misses the point (okio's `readUtf8Line() = commonReadUtf8Line()` behind `copyTo`)."""
    body = "".join(f"    total = total + {i}\n" for i in range(40))
    (tmp_path / "work.py").write_text("def set_flag(v):\n    return v\n\n"
                                      f"def run_job(v):\n    total = v\n{body}    return total\n")
    (tmp_path / "use.py").write_text("from work import set_flag, run_job\n\nset_flag(1)\nrun_job(2)\n")

    def order() -> list[str]:
        rm = RepoMap(tmp_path, use_cache=False, use_git=False)
        got = rm.rank(chat_files=["use.py"], focus="set_flag returns the wrong value").symbols
        return [s.tag.name for s in got if s.path == "work.py"]

    assert order() == ["set_flag", "run_job"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(symbols_mod, "NAMED_FIRST", 0)
        assert order() == ["run_job", "set_flag"]  # the mention's boost alone does not lift it
