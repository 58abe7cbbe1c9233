"""Incremental updates: after an edit, a new file or a deleted file, the map a warm cache
(graph patched from the stored one) or a refreshed RepoMap gives equals the map a cold
build of the changed tree gives; long-lived callers see the change; damage is rebuilt."""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

import ripmap.api
from ripmap.api import RepoMap, RepoMapPool
from ripmap.cache import TagCache
from ripmap.discover import ListingProbe

from fixtures_rank import make_rich_repo, write_tree

QUERIES = [
    {},
    {"chat_files": ["app.py"]},
    {"focus": "report helper config"},
    {"chat_files": ["d1/mod1.py"], "focus": "incremental_probe"},
]

EDITS = {
    "edit": lambda root: (root / "d1/mod1.py").write_text(
        (root / "d1/mod1.py").read_text() + "\n\ndef incremental_probe(report):\n    return helper(report)\n"),
    "add": lambda root: (root / "added_mod.py").write_text(
        "from app import main\n\nclass IncrementalProbe:\n    def run(self):\n        return main()\n"),
    "delete": lambda root: (root / "top.py").unlink(),
}


def _maps(rm: RepoMap) -> list[dict]:
    """Every query's JSON map, without the figures that describe the run (time, cache hits)."""
    out = []
    for q in QUERIES:
        chat = [c for c in q.get("chat_files", []) if c in rm.files]
        got = json.loads(str(rm.render(rm.rank(chat_files=chat, focus=q.get("focus")), tokens=2048,
                                       format="json")))
        got["stats"].pop("elapsed_s", None)
        got["stats"].pop("cache_hits", None)
        out.append(got)
    return out


def _cold(root: Path) -> list[dict]:
    with RepoMap(root, use_cache=False) as rm:
        return _maps(rm)


def _same_bits(a, b, what: str = "") -> None:
    """Two sparse matrices hold the same entries in the same order, values of one type."""
    assert a.shape == b.shape, what
    assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices), what
    assert np.array_equal(a.data, b.data) and a.data.dtype == b.data.dtype, what


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_rich_repo(tmp_path / "repo")


@pytest.mark.parametrize("change", sorted(EDITS))
def test_warm_cache_after_a_change_equals_a_cold_map(repo: Path, tmp_path: Path, change: str, monkeypatch) -> None:
    cache = tmp_path / "cache"
    with RepoMap(repo, cache_dir=cache) as rm:
        _maps(rm)  # graph, file graph, lexical index stored
    EDITS[change](repo)
    calls = _count_calls(monkeypatch, ripmap.api, "build_graph")
    lexical_builds = _count_lexical_builds(monkeypatch)
    with RepoMap(repo, cache_dir=cache) as rm:
        warm = _maps(rm)
        assert rm.index.parsed == (0 if change == "delete" else 1)  # only the changed file parsed
    assert calls == []  # the stored graph was patched, not rebuilt from every file
    assert lexical_builds == []  # so was the lexical index
    monkeypatch.undo()
    assert warm == _cold(repo)


def _count_calls(monkeypatch, module, name: str) -> list[int]:
    """Calls of ``module.name`` from now on (one entry each), the function still called."""
    calls: list[int] = []
    real = getattr(module, name)

    def counted(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(module, name, counted)
    return calls


def _writer_threads(monkeypatch) -> list[str]:
    """The name of the thread of each cache blob write from now on (the write still made)."""
    import threading

    names: list[str] = []
    real = TagCache.put_blob

    def put(self, key, value, **kw):
        names.append(threading.current_thread().name)
        return real(self, key, value, **kw)

    monkeypatch.setattr(TagCache, "put_blob", put)
    return names


def _count_rows_counted(monkeypatch) -> list[int]:
    """How many rows each count of imported definers takes (appended per call)."""
    from ripmap.graph import GraphData

    counted: list[int] = []
    real = GraphData._count_imported

    def spy(self, rows, counts=None):
        counted.append(len(rows))
        return real(self, rows, counts)

    monkeypatch.setattr(GraphData, "_count_imported", spy)
    return counted


def _count_lexical_builds(monkeypatch) -> list[int]:
    from ripmap.rank.lexical import LexicalIndex

    builds: list[int] = []
    real = LexicalIndex.build.__func__

    def counted(cls, *a, **k):
        builds.append(1)
        return real(cls, *a, **k)

    monkeypatch.setattr(LexicalIndex, "build", classmethod(counted))
    return builds


@pytest.mark.parametrize("change", sorted(EDITS))
def test_refresh_in_place_equals_a_cold_map(repo: Path, tmp_path: Path, change: str, monkeypatch) -> None:
    with RepoMap(repo, cache_dir=tmp_path / "cache") as rm:
        before = _maps(rm)
        graph_before = rm.graph
        EDITS[change](repo)
        assert rm.is_stale()
        assert rm.refresh()
        assert not rm.is_stale()
        lexical_builds = _count_lexical_builds(monkeypatch)
        after = _maps(rm)
        assert lexical_builds == []  # the in-memory lexical index was patched
        monkeypatch.undo()
        assert rm.graph is not graph_before
        assert rm.index.parsed == (0 if change == "delete" else 1)
        assert not rm.refresh()  # nothing changed since
    assert after == _cold(repo)
    assert after != before


@pytest.mark.parametrize("change", sorted(EDITS))
def test_refresh_takes_over_what_depends_on_the_paths_only_while_the_files_stay(repo: Path, tmp_path: Path,
                                                                               change: str) -> None:
    # an edit keeps the file list, so the test↔source pairing (and the path index) carry
    # over; an added or deleted file makes them anew; either way they equal a fresh build
    from ripmap.rank.pairing import pairing_matrix

    with RepoMap(repo, cache_dir=tmp_path / "cache") as rm:
        _maps(rm)
        pairing_before, paths_before = rm.context.pairing, rm.context.paths
        EDITS[change](repo)
        assert rm.refresh()
        ctx = rm.context
        assert (ctx.pairing is pairing_before) == (change == "edit")
        assert (ctx.paths is paths_before) == (change == "edit")
        assert (ctx.pairing != pairing_matrix(ctx.graph.files).tocsc()).nnz == 0


def test_refresh_after_a_commit_reads_the_new_history(repo: Path, tmp_path: Path) -> None:
    from fixtures_rank import commit

    with RepoMap(repo, cache_dir=tmp_path / "cache") as rm:
        _maps(rm)
        churn_before = rm.context.git.churn[rm.context.git.index["d1/mod1.py"]]
        EDITS["edit"](repo)
        commit(repo, 200, ["d1/mod1.py"], "probe")
        assert rm.refresh()
        git = rm.context.git
        assert git.churn[git.index["d1/mod1.py"]] == churn_before + 1
        after = _maps(rm)
    assert after == _cold(repo)


def test_pool_answers_with_the_edit_and_keeps_the_map_warm(repo: Path, tmp_path: Path) -> None:
    """What the MCP server and ``ripmap serve`` do: one call after an edit shows the edit."""
    pytest.importorskip("mcp")
    from ripmap.mcp_server import Tools

    pool = RepoMapPool(2, cache_dir=tmp_path / "cache")
    tools = Tools(pool)
    try:
        first = tools.repo_map(str(repo), tokens=2048)
        assert "incremental_probe" not in first
        with pool.session(repo.resolve()) as e:
            held = e.repo
        EDITS["edit"](repo)
        again = tools.repo_map(str(repo), focus="incremental_probe", tokens=2048)
        assert "incremental_probe" in again
        with pool.session(repo.resolve()) as e:
            assert e.repo is held  # refreshed in place, not rebuilt
        found = tools.search_identifiers(str(repo), "incremental_probe")
        assert "incremental_probe" in found.content[0].text
        EDITS["delete"](repo)
        gone = tools.repo_map(str(repo), tokens=2048)
        assert "top.py" not in gone
    finally:
        pool.close()


def test_a_corrupt_stored_graph_is_rebuilt_not_patched(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with RepoMap(repo, cache_dir=cache) as rm:
        _maps(rm)
        fp = rm.index.fingerprint
    with TagCache.open(repo, cache, parser_version=f"classify:{ripmap.api.CLASSIFY_VERSION}") as tc:
        tc.put_blob(f"graph:{fp}", b"not a graph")
        assert tc.newest_blob("graph") == (f"graph:{fp}", b"not a graph")
    EDITS["edit"](repo)
    with RepoMap(repo, cache_dir=cache) as rm:
        warm = _maps(rm)
    assert warm == _cold(repo)


def test_listing_probe_sees_edits_new_and_deleted_files(repo: Path) -> None:
    from ripmap import languages

    probe = ListingProbe(repo, language_of=languages.language_for_path)
    a = probe.fingerprint()
    assert probe.fingerprint() == a
    prints = [a]
    for change in ("edit", "add", "delete"):
        EDITS[change](repo)
        prints.append(probe.fingerprint())
    assert len(set(prints)) == 4
    (repo / "notes.bin").write_bytes(b"\0\1")  # not a source file, but a new entry in a directory:
    assert probe.fingerprint() != prints[-1]  # listed again, which may change nothing


def test_patched_graph_equals_a_cold_build_bit_for_bit(repo: Path) -> None:
    from ripmap.graph import patch_graph

    with RepoMap(repo, use_cache=False, use_git=False) as rm:
        g = rm.graph
        files = rm.files
    EDITS["edit"](repo)
    EDITS["add"](repo)
    EDITS["delete"](repo)
    with RepoMap(repo, use_cache=False, use_git=False) as rm:
        changed = {"d1/mod1.py"}
        patched = patch_graph(g, rm.files, changed, rm.index.tags)
        cold = rm.graph
    assert patched.files == cold.files and patched.names == cold.names and patched.families == cold.families
    for a, b in zip((*patched.R, patched.D, patched.I), (*cold.R, cold.D, cold.I)):
        _same_bits(a, b)
    assert set(files) ^ set(patched.files) == {"added_mod.py", "top.py"}
    assert np.array_equal(patched.imported, cold.imported)
    assert np.array_equal(patched.private, cold.private)
    assert [patched.rows.strs[i] for i in patched.name_str.tolist()] == list(patched.names)


def test_an_edit_in_place_patches_names_privacy_and_imports_as_a_cold_build(repo: Path) -> None:
    """The same files with one edited (the patch takes the other files' import rows over
    and numbers the old names with arrays): new private, dunder and public names, and a
    new import, give the cold graph's names, privacy, string indices and matrices."""
    from ripmap.graph import patch_graph

    with RepoMap(repo, use_cache=False, use_git=False) as rm:
        g = rm.graph
    mod = repo / "d1/mod1.py"
    mod.write_text("import app\n" + mod.read_text() + "\n\ndef _fresh_private(x):\n    return app.main(x)\n\n"
                   "class __Mangled:\n    def __fresh_dunder__(self):\n        return _fresh_private(self)\n")
    with RepoMap(repo, use_cache=False, use_git=False) as rm:
        assert rm.files == g.files
        patched = patch_graph(g, rm.files, {"d1/mod1.py"}, rm.index.tags)
        cold = rm.graph
    assert patched.names == cold.names and {"_fresh_private", "__Mangled", "__fresh_dunder__"} <= set(cold.names)
    assert np.array_equal(patched.private, cold.private)
    assert np.array_equal(patched.def_names, cold.def_names) and patched.def_names.dtype == cold.def_names.dtype
    assert np.array_equal(patched.name_first, cold.name_first)
    at = {n: i for i, n in enumerate(cold.names)}
    assert cold.private[at["_fresh_private"]] and cold.private[at["__Mangled"]]
    assert not cold.private[at["__fresh_dunder__"]]
    for a, b in zip((*patched.R, patched.D, patched.I), (*cold.R, cold.D, cold.I)):
        _same_bits(a, b)
    assert np.array_equal(patched.imported, cold.imported)
    assert np.array_equal(patched.referrer_counts(), cold.referrer_counts())
    assert [patched.rows.strs[i] for i in patched.name_str.tolist()] == list(patched.names)


def test_with_rows_replaces_exactly_the_taken_rows() -> None:
    """Rows taken from the new matrix (first, last, adjacent, empty on either side), every
    other row from the old one, as a row-by-row stack of the two would give."""
    import scipy.sparse as sp

    from ripmap.graph import with_rows

    rng = np.random.default_rng(3)
    for n, take_at in ((9, [0, 1, 4, 8]), (9, []), (9, list(range(9))), (1, [0]), (12, [3, 11])):
        old = sp.random(n, 7, density=0.4, format="csr", random_state=rng)
        dense = sp.random(n, 7, density=0.4, random_state=rng).toarray()
        dense[2:3] = 0.0  # an empty row (when there is a third)
        new = sp.csr_matrix(dense)
        for m in (old, new):
            m.sum_duplicates()
        take = np.zeros(n, dtype=bool)
        take[take_at] = True
        want = sp.vstack([(new if t else old)[r] for r, t in enumerate(take)], format="csr")
        _same_bits(with_rows(old, new, take), want)


@pytest.mark.parametrize("edited", ["d1/mod1.py", "app.py"])
def test_an_edit_recounts_only_the_import_counts_it_can_change(repo: Path, edited: str, monkeypatch) -> None:
    """With the same files, the imported-definer counts of files that neither changed nor
    import a changed file are carried over (to the names' new ids); the result is the
    cold count, value for value."""
    from ripmap.graph import patch_graph

    with RepoMap(repo, use_cache=False, use_git=False) as rm:
        g = rm.graph
    path = repo / edited
    # a new definition and a new reference: names come and go, ids move
    path.write_text(path.read_text() + "\n\ndef brand_new_name_for_ids(x):\n    return helper(x)\n")
    with RepoMap(repo, use_cache=False, use_git=False) as rm:
        counted = _count_rows_counted(monkeypatch)
        patched = patch_graph(g, rm.files, {edited}, rm.index.tags)
        monkeypatch.undo()
        assert counted and counted[0] < len(rm.files)  # only some rows were counted again
        cold = rm.graph
    assert patched.names != g.names  # the name ids did move
    assert patched.imported is not None and cold.imported is not None
    assert np.array_equal(patched.imported, cold.imported)
    A, B = patched.imported_definers(), cold.imported_definers()
    assert np.array_equal(A.toarray(), B.toarray()) and A.nnz > 0


def test_patched_lexical_index_equals_a_cold_build(repo: Path, monkeypatch) -> None:
    from ripmap.rank.lexical import LexicalIndex, _Bm25

    def lexical(rm: RepoMap) -> LexicalIndex:
        g = rm.graph
        return LexicalIndex.build(g.files, g.names, g.D, (g.R[0] + g.R[1] + g.R[2]).tocsr(),
                                  {r: [t for t in rm.index.tags[r] if t.is_def] for r in g.files})

    with RepoMap(repo, use_cache=False, use_git=False) as rm:
        old = lexical(rm)
    for change in ("edit", "add", "delete"):
        EDITS[change](repo)
    with RepoMap(repo, use_cache=False, use_git=False) as rm:
        g = rm.graph
        cold = lexical(rm)
        carried: list[bool] = []
        real_of = _Bm25.of.__func__

        def of(cls, *a, **k):
            carried.append(k.get("lens", a[4] if len(a) > 4 else None) is not None)
            return real_of(cls, *a, **k)

        monkeypatch.setattr(_Bm25, "of", classmethod(of))
        patched = LexicalIndex.patch(old, g.files, g.names, g.D, (g.R[0] + g.R[1] + g.R[2]).tocsr(),
                                     {r: [t for t in rm.index.tags[r] if t.is_def] for r in g.files},
                                     {"d1/mod1.py"})
        monkeypatch.undo()
    # the kept rows' document lengths were carried over, not summed again, and equal a count
    assert carried == [True, True]
    for mine, theirs in ((patched._files, cold._files), (patched._chunks, cold._chunks)):
        assert len(mine.lens) == len(theirs.lens) > 0
        assert all(np.array_equal(x, y) for x, y in zip(mine.lens, theirs.lens))
        assert all(np.array_equal(x, y) for x, y in zip(mine.scale, theirs.scale))
    assert patched.vocab == cold.vocab and patched.n_files == cold.n_files
    for a, b in zip((*patched.counts.fields, *patched.counts.cfields), (*cold.counts.fields, *cold.counts.cfields)):
        assert (a != b).nnz == 0 and np.array_equal(a.tocsr().data, b.tocsr().data)
    # the document frequencies were patched from the changed rows alone, yet equal a count
    assert np.array_equal(patched.file_df, cold.file_df) and np.array_equal(patched.chunk_df, cold.chunk_df)
    assert np.array_equal(patched.chunk_file, cold.chunk_file) and np.array_equal(patched.idf, cold.idf)
    every = np.arange(len(cold.vocab))
    for ix in range(3):  # every weight of every file and chunk, bit for bit
        q = (every, np.linspace(0.5, 1.5, every.size)) if ix == 0 else cold.file_terms([ix])
        a, b = patched.scores_and_chunks(*q), cold.scores_and_chunks(*q)
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


def test_a_repeated_question_is_answered_from_memory_until_the_tree_changes(repo: Path, tmp_path: Path,
                                                                          monkeypatch) -> None:
    ranked = _count_calls(monkeypatch, ripmap.api, "rank")
    with RepoMap(repo, cache_dir=tmp_path / "cache") as rm:
        first = rm.render(rm.rank(chat_files=["app.py"], focus="report"), tokens=1024).text
        again = rm.render(rm.rank(chat_files=["app.py"], focus="report"), tokens=1024).text
        assert again == first and len(ranked) == 1
        rm.rank(chat_files=["app.py"], focus="another question")
        assert len(ranked) == 2
        EDITS["edit"](repo)
        assert rm.refresh()
        after = rm.render(rm.rank(chat_files=["app.py"], focus="report incremental_probe"), tokens=1024).text
        assert len(ranked) == 3 and "incremental_probe" in after


def test_a_watched_map_refreshes_on_a_change_without_a_second_listing(repo: Path, tmp_path: Path,
                                                                      monkeypatch) -> None:
    """``refresh_if_stale``: nothing changed → no refresh; a change → one refresh, found by
    the probe, without the full ``stamp`` listing before the refresh's own."""
    rm = RepoMap(repo, cache_dir=tmp_path / "cache")
    rm.watch()
    before = _maps(rm)

    def no_stamp(self):
        raise AssertionError("a full stamp listing was taken")

    monkeypatch.setattr(RepoMap, "stamp", no_stamp)
    assert rm.refresh_if_stale() is False
    EDITS["edit"](repo)
    assert rm.refresh_if_stale() is True
    after = _maps(rm)
    assert after != before and after == _cold(repo)
    assert rm.refresh_if_stale() is False
    rm.close()


def test_a_map_that_read_its_lexical_index_from_the_cache_is_patched_after_an_edit(
        repo: Path, tmp_path: Path, monkeypatch) -> None:
    """A warm map reads the stored lexical index (its term counts and document
    frequencies: weights are taken where a query looks); a refresh patches it, and equals
    a cold map."""
    cache = tmp_path / "cache"
    with RepoMap(repo, cache_dir=cache) as rm:
        _maps(rm)  # builds and stores the lexical index
    with RepoMap(repo, cache_dir=cache) as rm:
        read = _count_lexical_builds(monkeypatch)
        _maps(rm)
        assert read == [] and rm.context.lexical.stamps is not None  # read from the store
        monkeypatch.undo()
        EDITS["edit"](repo)
        assert rm.refresh()
        lexical_builds = _count_lexical_builds(monkeypatch)
        after = _maps(rm)
        assert lexical_builds == []  # patched from the stored counts, not rebuilt
        monkeypatch.undo()
    assert after == _cold(repo)


@pytest.mark.parametrize("change", ["add", "delete"])
def test_a_file_that_comes_or_goes_recounts_only_the_rows_it_can_change(repo: Path, change: str,
                                                                        monkeypatch) -> None:
    """Files that come or go can change where other files' imports resolve; only those
    files, the fresh ones and their importers are counted again, and the counts equal a
    cold build's."""
    from ripmap.graph import patch_graph

    with RepoMap(repo, use_cache=False, use_git=False) as rm:
        g = rm.graph
    EDITS[change](repo)
    with RepoMap(repo, use_cache=False, use_git=False) as rm:
        counted = _count_rows_counted(monkeypatch)
        patched = patch_graph(g, rm.files, set(), rm.index.tags)
        monkeypatch.undo()
        assert counted and counted[0] < len(rm.files)
        cold = rm.graph
    assert np.array_equal(patched.imported, cold.imported)
    assert np.array_equal(patched.imported_definers().toarray(), cold.imported_definers().toarray())


def test_a_new_file_that_an_old_import_now_names_is_counted_for_that_importer(tmp_path: Path) -> None:
    """``a.py`` imports ``helpers``, which does not exist yet: adding it changes where an
    unchanged file's import resolves, so that file's counts must be taken again."""
    from ripmap.graph import patch_graph

    root = tmp_path / "r"
    root.mkdir()
    (root / "a.py").write_text("from helpers import tool\n\n\ndef run():\n    return tool()\n")
    (root / "b.py").write_text("def tool():\n    return 2\n")
    with RepoMap(root, use_cache=False, use_git=False) as rm:
        g = rm.graph
    (root / "helpers.py").write_text("def tool():\n    return 1\n")
    with RepoMap(root, use_cache=False, use_git=False) as rm:
        patched = patch_graph(g, rm.files, set(), rm.index.tags)
        cold = rm.graph
    assert cold.imported.sum() > 0 and g.imported.sum() == 0  # the import resolves only now
    assert np.array_equal(patched.imported, cold.imported)


def test_an_unchanged_importer_whose_import_lost_a_target_is_counted_again(tmp_path: Path) -> None:
    """``import helpers`` names ``helpers.py`` and ``other/helpers.py``; when the first is
    deleted, the unchanged importer's import resolves to one file only, and its count of
    imported definers of ``tool`` must drop from 2 to 1."""
    from ripmap.graph import patch_graph

    root = tmp_path / "r"
    (root / "other").mkdir(parents=True)
    (root / "a.py").write_text("import helpers\n\n\ndef run():\n    return helpers.tool()\n")
    (root / "helpers.py").write_text("def tool():\n    return 1\n")
    (root / "other" / "helpers.py").write_text("def tool():\n    return 2\n")
    (root / "b.py").write_text("def tool():\n    return 3\n")
    with RepoMap(root, use_cache=False, use_git=False) as rm:
        g = rm.graph
    (root / "helpers.py").unlink()
    with RepoMap(root, use_cache=False, use_git=False) as rm:
        patched = patch_graph(g, rm.files, set(), rm.index.tags)
        cold = rm.graph
    assert sorted(g.imported.tolist()) != sorted(cold.imported.tolist())  # the count did change
    assert np.array_equal(patched.imported, cold.imported)


def test_a_large_graphs_pagerank_is_read_back_for_the_same_question_and_only_then(repo: Path, tmp_path: Path,
                                                                                  monkeypatch) -> None:
    """For a large graph a query's PageRank is stored with what it was computed from; the
    same question on the unchanged tree reads it (no solve) and draws the same map,
    and neither another question nor an edited tree takes it as its answer; the edited
    tree's solve starts from it."""
    import ripmap.cache.blobs as blobs
    import ripmap.rank.score as score

    monkeypatch.setattr(blobs, "FILE_GRAPH_MIN_REFS", 0)
    solved = _count_calls(monkeypatch, score, "pagerank")
    cdir = tmp_path / "cache"

    def one(rm: RepoMap, **q) -> dict:
        got = json.loads(str(rm.render(rm.rank(**q), tokens=2048, format="json")))
        got["stats"].pop("elapsed_s", None)
        got["stats"].pop("cache_hits", None)
        return got

    with RepoMap(repo, cache_dir=cdir) as rm:
        first = one(rm)  # a new graph: nothing derived from it is kept yet
    with RepoMap(repo, cache_dir=cdir) as rm:
        assert one(rm) == first  # the tree is seen unchanged: now its PageRank is kept
    assert len(solved) == 2
    with RepoMap(repo, cache_dir=cdir) as rm:
        assert one(rm) == first
        assert len(solved) == 2  # read back
        one(rm, focus="`ApiClient`")  # an identifier: its definer is in the personalization
        assert len(solved) == 3  # another personalization
    EDITS["edit"](repo)
    starts: list[bool] = []
    counted = score.pagerank
    monkeypatch.setattr(score, "pagerank", lambda *a, **k: (starts.append(k.get("start") is not None),
                                                            counted(*a, **k))[1])
    with RepoMap(repo, cache_dir=cdir) as rm:
        edited = one(rm)
    assert len(solved) == 4  # the edited tree's graph is another
    assert starts == [True]  # solved from the same question's vector before the edit (another came since)
    with RepoMap(repo, use_cache=False) as rm:
        assert one(rm) == edited  # which does not show: the cold map, scores and all
    with RepoMap(repo, cache_dir=cdir) as rm:
        assert one(rm) == edited
    # the cold map above solved (no start: it has no store); this one read the edited
    # tree's vector back: kept after the change too
    assert len(solved) == 5 and starts == [True, False]


def test_the_weighted_file_graph_is_read_back_from_the_cache_and_gives_the_same_maps(repo: Path, tmp_path: Path,
                                                                                      monkeypatch) -> None:
    """A large graph's factors are stored; the next map reads them instead of assembling
    them and draws the same maps; another point of the graph parameters, a damaged blob
    and an edit are assembled again, never trusted. A change to a tree mapped before keeps
    its factors (the next edit in place starts from them); a first map of a tree does not."""
    import ripmap.cache.blobs as blobs
    import ripmap.rank.context as context
    from ripmap.rank.edges import graph_key
    from ripmap.rank.params import DEFAULT

    monkeypatch.setattr(blobs, "FILE_GRAPH_MIN_REFS", 0)  # the fixture is small; the rule is the same
    cold = _cold(repo)
    built = _count_calls(monkeypatch, context, "factored_file_graph")
    cdir = tmp_path / "cache"
    with RepoMap(repo, cache_dir=cdir) as rm:
        first = _maps(rm)  # a new graph: its factors are not kept (an edit is usually followed by another)
        fp = rm.index.fingerprint
    with RepoMap(repo, cache_dir=cdir) as rm:
        assert _maps(rm) == first  # the tree seen unchanged: the factors are kept now
    assert len(built) == 2
    with RepoMap(repo, cache_dir=cdir) as rm:
        again = _maps(rm)
        assert len(built) == 2  # read back, not assembled
        rm.rank(params=DEFAULT.replace(edge_weight_call=2.0))
        assert len(built) == 3  # another point of the graph parameters is assembled
    assert again == first == cold
    with TagCache.open(repo, cdir, parser_version=f"classify:{ripmap.api.CLASSIFY_VERSION}") as tc:
        tc.put_blob(blobs._derived_key(blobs.FILE_GRAPH, fp, blobs._point(graph_key(DEFAULT))), b"not a blob")
        # and the kept PageRank vectors gone, so the ranking needs the factors again
        tc.drop_blobs_except([k for k in blobs.KINDS if k != blobs.PAGERANK])
    with RepoMap(repo, cache_dir=cdir) as rm:
        assert _maps(rm) == first
    assert len(built) == 4  # the damaged blob was assembled again
    EDITS["edit"](repo)  # in place: the same files
    with RepoMap(repo, cache_dir=cdir) as rm:
        edited = _maps(rm)
    assert len(built) == 5  # the edited index has no factors stored (they start from the ones before)
    with RepoMap(repo, cache_dir=cdir) as rm:
        assert _maps(rm) == edited
    assert len(built) == 5  # an edit in place keeps them: where the next edit starts
    assert edited == _cold(repo)  # (a cold map assembles its own: 6)
    EDITS["add"](repo)  # a new file: not in place, assembled whole, and kept as well
    with RepoMap(repo, cache_dir=cdir) as rm:
        added = _maps(rm)
    assert len(built) == 7
    with RepoMap(repo, cache_dir=cdir) as rm:
        assert _maps(rm) == added
    assert len(built) == 7
    assert added == _cold(repo)
    for rel in ("added_mod.py", "top.py"):  # a new tree, never mapped before: nothing is kept
        (repo / rel).rename(repo / f"renamed_{rel}")
    with RepoMap(repo, cache_dir=tmp_path / "other-cache") as rm:
        fresh = _maps(rm)
    with RepoMap(repo, cache_dir=tmp_path / "other-cache") as rm:
        assert _maps(rm) == fresh
    assert len(built) == 10  # (the cold map above: 8) both assembled it


IN_PLACE = {
    # a file others import now defines a name an importer calls: that importer's row changes
    "imported": ("core/consts.py", lambda text: text + "\n\ndef setup():\n    return SETTING\n"),
    # a file gains an import and references through it
    "importer": ("d1/d2/mod2.py", lambda text: "from core.consts import EXTRA\n" + text
                 + "\n\ndef uses_extra():\n    return EXTRA + SETTING\n"),
    # the first file loses every name it introduced: their ids move past others'
    "first": ("app.py", lambda text: "def app_only_now():\n    return 0\n"),
}


@pytest.mark.parametrize("edit", sorted(IN_PLACE))
def test_an_edit_in_place_redoes_only_the_import_resolved_rows_it_can_change(repo: Path, edit: str,
                                                                            monkeypatch) -> None:
    """The weighted file graph of a graph patched in place, built from the one before it
    with only :attr:`GraphData.reweigh`'s rows multiplied out, equals a cold build's bit
    for bit (values and the order of every row's entries)."""
    import ripmap.rank.edges as edges
    from ripmap.graph import patch_graph
    from ripmap.rank.params import DEFAULT

    with RepoMap(repo, use_cache=False, use_git=False) as rm:
        g = rm.graph
    before = edges.factored_file_graph(g, DEFAULT)
    rel, change = IN_PLACE[edit]
    (repo / rel).write_text(change((repo / rel).read_text()))
    with RepoMap(repo, use_cache=False, use_git=False) as rm:
        assert rm.files == g.files
        patched = patch_graph(g, rm.files, {rel}, rm.index.tags)
        cold = rm.graph
    for a, b in zip((*patched.R, patched.D), (*cold.R, cold.D)):  # names renumbered, rows taken over
        _same_bits(a, b)
    assert patched.names == cold.names and np.array_equal(patched.def_names, cold.def_names)
    assert patched.reweigh is not None and rm.files.index(rel) in patched.reweigh.tolist()
    assert patched.reweigh.size < len(rm.files)  # not every row
    rows: list[int] = []
    real = edges._at_imports

    def spy(Rv, D, I):
        rows.append(Rv.shape[0])
        return real(Rv, D, I)

    monkeypatch.setattr(edges, "_at_imports", spy)
    got = edges.factored_file_graph(patched, DEFAULT, before)
    assert rows == [patched.reweigh.size]
    want = edges.factored_file_graph(cold, DEFAULT)
    for name in ("Wi", "Rw", "Dw"):
        _same_bits(getattr(got, name), getattr(want, name), name)
    assert np.array_equal(got.out, want.out) and np.array_equal(got.referrers, want.referrers)
    if edit == "imported":
        assert (got.Wi != before.Wi).nnz  # the edit did change import-resolved rows


def test_an_edit_in_place_reads_the_weighted_graph_stored_before_it_and_draws_the_cold_map(
        repo: Path, tmp_path: Path, monkeypatch) -> None:
    """After an edit in place, a map whose tree was seen unchanged before starts from the
    weighted file graph stored then (only some rows redone) and equals a cold map."""
    import ripmap.cache.blobs as blobs
    import ripmap.rank.context as context

    monkeypatch.setattr(blobs, "FILE_GRAPH_MIN_REFS", 0)
    cdir = tmp_path / "cache"
    for _ in range(2):  # the second run sees the tree unchanged and keeps the weighted graph
        with RepoMap(repo, cache_dir=cdir) as rm:
            _maps(rm)
    bases: list[bool] = []
    real = context.factored_file_graph

    def spy(g, params, base=None):
        bases.append(base is not None)
        return real(g, params, base)

    monkeypatch.setattr(context, "factored_file_graph", spy)
    rel, change = IN_PLACE["imported"]
    (repo / rel).write_text(change((repo / rel).read_text()))
    with RepoMap(repo, cache_dir=cdir) as rm:
        edited = _maps(rm)
    assert bases and bases[0]
    assert edited == _cold(repo)


def test_a_stored_weighted_graph_round_trips_and_refuses_damage(repo: Path) -> None:
    import io

    import scipy.sparse as sp

    from ripmap.cache.blobs import decode_file_graph, write_file_graph
    from ripmap.rank.edges import FileGraph, factored_file_graph
    from ripmap.rank.params import DEFAULT

    with RepoMap(repo, use_cache=False) as rm:
        g = rm.context.graph
    W = factored_file_graph(g, DEFAULT)
    assert W.Wi.nnz and W.Rw.nnz  # the fixture imports and references across files
    buf = io.BytesIO()
    write_file_graph(W, buf)
    got = decode_file_graph(buf.getvalue())
    for name in ("Rw", "Dw", "Wi"):
        assert (getattr(got, name) != getattr(W, name)).nnz == 0
    assert np.array_equal(got.out, W.out) and np.array_equal(got.referrers, W.referrers)
    # an index pointing outside its matrix is refused, not used
    Dw = W.Dw.copy()
    Dw.indices[:] = W.Dw.shape[1] + 5
    buf = io.BytesIO()
    write_file_graph(FileGraph(W.Rw, sp.csr_matrix((Dw.data, Dw.indices, Dw.indptr), shape=W.Dw.shape, copy=False),
                               W.Wi, W.out, W.referrers), buf)
    with pytest.raises(ValueError):
        decode_file_graph(buf.getvalue())


def test_the_lexical_index_reads_definitions_a_window_at_a_time_and_equals_a_whole_read(
        repo: Path, tmp_path: Path, monkeypatch) -> None:
    from ripmap.rank import context as context_mod
    from ripmap.rank.lexical import LexicalIndex

    cache = tmp_path / "cache"
    with RepoMap(repo, cache_dir=cache) as rm:
        rm.graph  # noqa: B018 - the tags and graph are cached; no lexical index yet
    monkeypatch.setattr(context_mod._StreamedDefs, "WINDOW", 2)
    with RepoMap(repo, cache_dir=cache, use_git=False) as rm:
        g = rm.graph
        builds = _count_lexical_builds(monkeypatch)
        streamed = rm.context.lexical
        assert builds == [1]
        # the definitions read for it were not kept by the tag table
        assert sum(rm.index.tags.loaded_defs(r) is not None for r in g.files) < len(g.files)
        whole = LexicalIndex.build(g.files, g.names, g.D, (g.R[0] + g.R[1] + g.R[2]).tocsr(),
                                   {r: rm.index.tags.defs(r) for r in g.files})
    assert streamed.vocab == whole.vocab and np.array_equal(streamed.chunk_file, whole.chunk_file)
    for a, b in zip((*streamed.counts.fields, *streamed.counts.cfields), (*whole.counts.fields, *whole.counts.cfields)):
        assert (a != b).nnz == 0


@pytest.mark.parametrize("change", ["edit", "add", "delete", "attributes"])
def test_a_watched_refresh_lists_the_tree_again_only_when_files_may_have_come_or_gone(
        repo: Path, tmp_path: Path, change: str, monkeypatch) -> None:
    # an edit changes no directory: the probe's stats say which file changed and the
    # refresh starts from the last discovery; anything else lists the tree again
    edits = {**EDITS, "attributes": lambda root: (root / ".gitattributes").write_text("app.py linguist-generated\n")}
    rm = RepoMap(repo, cache_dir=tmp_path / "cache")
    rm.watch()
    _maps(rm)
    import ripmap.index

    import ripmap.discover as discover

    listings = _count_calls(monkeypatch, ripmap.index, "discover")  # the index lists the tree itself
    taken = _count_calls(monkeypatch, ripmap.api, "list_files")  # or takes the probe's listing over
    gits = _count_calls(monkeypatch, discover, "git_list")
    edits[change](repo)
    assert rm.refresh_if_stale() is True
    after = _maps(rm)
    assert listings + taken == ([] if change == "edit" else [1])
    # files came or went: the probe's check listed the tree, and the refresh took that over
    assert gits == ([] if change == "edit" else [1]) and listings == []
    monkeypatch.undo()
    rm.close()
    assert after == _cold(repo)


def test_a_watched_refresh_after_an_edit_checks_only_the_edited_file_against_the_cache(
        repo: Path, tmp_path: Path, monkeypatch) -> None:
    # the probe says which file changed: the index asks the cache about that file (and
    # about any changed too recently to trust its stamp), not about all of them, and
    # still equals a cold map; a file written just before the first map is checked too
    import os
    import time

    from ripmap.cache import TagCache

    hour_ago = time.time() - 3600
    for p in repo.rglob("*"):
        if p.is_file() and ".git" not in p.parts:
            os.utime(p, (hour_ago, hour_ago))
    (repo / "app.py").write_text((repo / "app.py").read_text() + "\n# written just now\n")
    rm = RepoMap(repo, cache_dir=tmp_path / "cache")
    rm.watch()
    _maps(rm)
    asked: list = []
    real = TagCache.known_files

    def spy(self, rels=None):
        asked.append(None if rels is None else sorted(rels))
        return real(self, rels)

    monkeypatch.setattr(TagCache, "known_files", spy)
    EDITS["edit"](repo)
    assert rm.refresh_if_stale() is True
    after = _maps(rm)
    assert rm.index.parsed == 1
    monkeypatch.undo()
    rm.close()
    assert asked == [["app.py", "d1/mod1.py"]]
    assert after == _cold(repo)


def test_rediscovery_gives_up_where_only_a_listing_can_tell(tmp_path: Path) -> None:
    from ripmap.config import Config
    from ripmap.discover import discover, rediscover

    root = make_rich_repo(tmp_path / "r")
    disc = discover(root, Config(), sniff=False)
    target = root / "d1/mod1.py"
    target.write_text(target.read_text() + "\n# more\n")
    again = rediscover(disc, ["d1/mod1.py"], Config())
    assert again is not None and again.files == discover(root, Config(), sniff=False).files
    assert rediscover(disc, ["not/mapped.py"], Config()) is None  # not a file it listed
    assert rediscover(disc, ["d1/mod1.py"], Config(max_file_size=10)) is None  # now too big: skipped
    target.unlink()
    assert rediscover(disc, ["d1/mod1.py"], Config()) is None  # gone


def test_a_watched_map_writes_its_cache_in_the_background_and_all_of_it_by_close(
        repo: Path, tmp_path: Path, monkeypatch) -> None:
    threads = _writer_threads(monkeypatch)
    cache = tmp_path / "cache"
    rm = RepoMap(repo, cache_dir=cache)
    rm.watch()
    _maps(rm)
    EDITS["edit"](repo)
    assert rm.refresh_if_stale() is True
    after = _maps(rm)
    rm.close()  # waits for what was handed over
    assert threads and all(t.startswith("ripmap-cache-write") for t in threads)
    monkeypatch.undo()
    builds = _count_lexical_builds(monkeypatch)
    with RepoMap(repo, cache_dir=cache) as again:  # the next process finds it all stored
        assert _maps(again) == after
    assert builds == []


def test_changed_files_are_the_new_the_restamped_and_the_fresh():
    from ripmap.index import changed_files

    old = ("a.py", "b.py", "c.py", "d.py")
    old_stamps = np.array([[10, 1], [20, 2], [30, 3], [40, 4]])
    # same files in the same order: only the one whose size or mtime moved, plus fresh
    st = old_stamps.copy()
    st[1, 1] = 9
    st[3, 0] = 41
    assert changed_files(old, old_stamps, old, st) == {"b.py", "d.py"}
    assert changed_files(old, old_stamps, old, old_stamps, ["c.py"]) == {"c.py"}
    assert changed_files(old, old_stamps, list(old), old_stamps) == set()
    # another list: a new file, a removed one, a moved one that kept its stamps
    files = ("e.py", "d.py", "a.py", "b.py")
    st = np.array([[50, 5], [40, 4], [10, 1], [20, 7]])
    assert changed_files(old, old_stamps, files, st) == {"e.py", "b.py"}
    assert changed_files(old, old_stamps, (), np.zeros((0, 2), dtype=np.int64), ["x.py"]) == {"x.py"}


def test_a_map_that_writes_behind_leaves_the_cache_written_when_it_closes(repo: Path, tmp_path: Path,
                                                                        monkeypatch) -> None:
    """The command line hands cache writes to a background thread; closing waits for
    them, so the next process reads the graph instead of building it."""
    import ripmap.api as api

    writers = _writer_threads(monkeypatch)
    cdir = tmp_path / "cache"
    with RepoMap(repo, cache_dir=cdir) as rm:
        rm.write_behind()
        first = _maps(rm)
    assert writers and all(w.startswith("ripmap-cache-write") for w in writers)
    built = _count_calls(monkeypatch, api, "updated_graph")
    with RepoMap(repo, cache_dir=cdir) as rm:
        assert _maps(rm) == first
    assert built == []  # the graph written behind was there to read


def test_the_graph_stored_last_is_read_once_while_the_tree_is_listed(repo: Path, tmp_path: Path,
                                                                      monkeypatch) -> None:
    """A map reads the newest stored graph beside the listing: on a warm run it is the
    index's own graph (read once, nothing built), after an edit the one the patch starts
    from (read once); either way the map is a cold map's."""
    import ripmap.api as api
    import ripmap.cache.blobs as blobs

    cdir = tmp_path / "cache"
    with RepoMap(repo, cache_dir=cdir) as rm:
        _maps(rm)
    decoded = _count_calls(monkeypatch, blobs, "decode_graph")
    starts: list = []
    real = api.updated_graph

    def updated(prev, idx, stamps):
        starts.append(prev)
        return real(prev, idx, stamps)

    monkeypatch.setattr(api, "updated_graph", updated)
    with RepoMap(repo, cache_dir=cdir) as rm:
        warm = _maps(rm)
    assert len(decoded) == 1 and starts == []
    EDITS["edit"](repo)
    with RepoMap(repo, cache_dir=cdir) as rm:
        edited = _maps(rm)
    assert len(decoded) == 2 and len(starts) == 1 and starts[0] is not None
    assert edited == _cold(repo)
    assert warm != edited


def test_a_question_with_words_reads_the_lexical_index_once_beside_the_listing(repo: Path, tmp_path: Path,
                                                                                monkeypatch) -> None:
    """A focused map reads the newest stored lexical index while the tree is listed: its
    own on a warm run (read once, nothing built or patched), the one a patch starts from
    after an edit (read once); the maps are cold maps; a map without words reads none."""
    import ripmap.cache.blobs as blobs
    from ripmap.rank.lexical import LexicalIndex

    cdir = tmp_path / "cache"
    q = dict(focus="connect the api client", chat_files=["core/utils.py"])

    def focused(rm: RepoMap) -> dict:
        got = json.loads(str(rm.render(rm.rank(**q), tokens=2048, format="json")))
        got["stats"].pop("elapsed_s", None)
        got["stats"].pop("cache_hits", None)
        return got

    with RepoMap(repo, cache_dir=cdir) as rm:
        first = focused(rm)
    decoded = _count_calls(monkeypatch, blobs, "decode_lexical")
    built = _count_calls(monkeypatch, LexicalIndex, "build")
    patched = _count_calls(monkeypatch, LexicalIndex, "patch")
    with RepoMap(repo, cache_dir=cdir) as rm:
        assert focused(rm) == first
        assert rm.context.store._lexical_ahead is None  # nothing held after the answer
    assert (len(decoded), len(built), len(patched)) == (1, 0, 0)
    with RepoMap(repo, cache_dir=cdir) as rm:
        rm.rank()  # no words: nothing read
    assert len(decoded) == 1
    EDITS["edit"](repo)
    with RepoMap(repo, cache_dir=cdir) as rm:
        edited = focused(rm)
    assert (len(decoded), len(built), len(patched)) == (2, 0, 1)
    with RepoMap(repo, use_cache=False) as rm:
        assert focused(rm) == edited


def test_files_that_come_and_go_re_resolve_exactly_the_imports_that_can_name_them(tmp_path: Path) -> None:
    """Imports of unchanged files that now name a new file or named a deleted one (through
    its stem, its folder, an index file's package, a relative path) are resolved again;
    the patched import matrix and counts equal a cold build's."""
    from ripmap.graph import patch_graph

    root = tmp_path / "r"
    tree = {
        "pkg/mod.py": "from . import helper\nfrom .. import top\n\n\ndef run():\n    return helper.go()\n",
        "pkg/sub/x.py": "from .. import thing\nimport pkg.util\n\n\ndef use():\n    return thing()\n",
        "pkg/util.py": "def thing():\n    return 1\n",
        "web/a.js": "import b from './index';\nimport c from '../lib';\nexport function a() { return b() + c(); }\n",
        "web/c.js": "export function c() { return 1; }\n",
        "svc/main.go": 'package main\n\nimport "example.com/m/util"\n\nfunc main() { util.Do() }\n',
        "util/u.go": "package util\n\nfunc Do() {}\n",
        "other/unrelated.py": "import json\n\n\ndef keep():\n    return json.dumps({})\n",
        "other/uses_pkg.py": "import pkg\n\n\ndef go():\n    return pkg.helper()\n",
    }
    write_tree(root, tree)
    with RepoMap(root, use_cache=False, use_git=False) as rm:
        g = rm.graph
    added = {
        "pkg/__init__.py": "def helper():\n    return 0\n",
        "top.py": "def top():\n    return 2\n",
        "web/index.js": "export default function b() { return 3; }\n",
        "lib/index.js": "export default function c() { return 4; }\n",
        "util/more.go": "package util\n\nfunc More() {}\n",
    }
    write_tree(root, added)
    (root / "pkg/util.py").unlink()
    with RepoMap(root, use_cache=False, use_git=False) as rm:
        patched = patch_graph(g, rm.files, set(), rm.index.tags)
        cold = rm.graph
    for a, b in ((patched.I, cold.I), *zip(patched.R, cold.R), (patched.D, cold.D)):
        _same_bits(a, b)
    assert np.array_equal(patched.imported, cold.imported)
    at = {f: i for i, f in enumerate(cold.files)}
    before = {g.files[i]: {g.files[j] for j in g.I[i].indices} for i in range(g.n_files)}
    after = {f: {cold.files[j] for j in cold.I[at[f]].indices} for f in cold.files}
    assert before["pkg/sub/x.py"] == {"pkg/util.py"} and after["pkg/sub/x.py"] == set()  # its target went
    assert after["pkg/mod.py"] - before["pkg/mod.py"] == {"top.py"}  # "..top"
    assert after["web/a.js"] - before["web/a.js"] == {"web/index.js", "lib/index.js"}  # "./index", "../lib"
    assert after["svc/main.go"] - before["svc/main.go"] == {"util/more.go"}  # a Go package's folder
    assert after["other/uses_pkg.py"] - before["other/uses_pkg.py"] == {"pkg/__init__.py"}  # a package
    assert after["other/unrelated.py"] == before["other/unrelated.py"] == set()


def test_a_long_lived_map_reuses_parent_maps_until_a_file_changes(repo: Path, tmp_path: Path, monkeypatch) -> None:
    """RepoMap's RenderMemo: a second map of the same files works out no parent map
    again, an edited file's is worked out anew, and every map equals one drawn without it."""
    import ripmap.render.text as text

    made: list[int] = []
    real = text.parent_map

    def counting(defs):
        made.append(len(defs))
        return real(defs)

    monkeypatch.setattr(text, "parent_map", counting)
    with RepoMap(repo, cache_dir=tmp_path / "cache") as rm:
        first = rm.render(rm.rank(chat_files=["app.py"]), tokens=2048).text
        assert made
        made.clear()
        second = rm.render(rm.rank(chat_files=["app.py"], focus="report"), tokens=2048).text
        assert made == []  # every file it shows was drawn before
        EDITS["edit"](repo)
        assert rm.refresh()
        third = rm.render(rm.rank(chat_files=["app.py"], focus="report incremental_probe"), tokens=2048).text
        assert "incremental_probe" in third
        assert made  # the edited file's definitions are a new list: its parent map is new
    monkeypatch.undo()
    with RepoMap(repo, use_cache=False) as cold:
        assert third == cold.render(cold.rank(chat_files=["app.py"], focus="report incremental_probe"),
                                    tokens=2048).text
    assert first and second


def _until(ok, what: str, timeout: float = 30.0) -> None:
    import time

    end = time.monotonic() + timeout
    while not ok():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_watching_pool_builds_ahead_and_reads_an_edit_before_the_next_call(repo: Path, tmp_path: Path,
                                                                           monkeypatch) -> None:
    """The MCP server's pool between calls: it builds what the next call needs (lexical
    index and its columns, the focus parser's tables, the pairing, the weighted graph) and
    reads an edit as soon as its check sees it; calls then find the map current, and
    every map equals a cold one."""
    monkeypatch.setattr(ripmap.api, "IDLE_S", 0.0)
    pool = RepoMapPool(2, cache_dir=tmp_path / "cache", watch_every=0.05)
    root = repo.resolve()
    try:
        with pool.session(root) as e:
            rm = e.repo
            rm.render(rm.rank(), tokens=1024)  # a first call without words builds no lexical index
        _until(lambda: not e.cold, "the pool to build ahead")
        memo = rm.context._memo
        assert {"paths", "lower_names", "defined_names", "pairing"} <= set(memo)
        assert rm.context.file_graphs  # the weighted graph of the default parameters
        # ... nor does the pool, from scratch, until a call has needed it (a minute at 70k files)
        assert "lexical" not in memo
        with pool.session(root) as e:
            rm.rank(focus="report helper")  # builds and stores it
        assert memo["lexical"]._files._matrix is None  # one query: postings scanned
        _until(lambda: memo["lexical"]._files._matrix is not None, "the pool to warm the lexical index")

        before = e.changes
        EDITS["edit"](repo)
        _until(lambda: e.changes > before and not e.cold, "the pool to read the edit")
        assert "incremental_probe" in rm.context.lower_names  # read without a call
        lx = rm.context._memo["lexical"]  # patched in the background, and warmed
        assert lx is not memo["lexical"] and lx._files._matrix is not None
        calls = []
        real = RepoMap.refresh
        monkeypatch.setattr(RepoMap, "refresh", lambda self, **kw: calls.append(kw) or real(self, **kw))
        with pool.session(root) as e2:
            assert e2.repo is rm
            got = _maps(rm)
        assert calls == []  # the call found the map current: nothing left to read
    finally:
        pool.close()
    assert got == _cold(repo)
    # a new server on the same cache: a first call without words, and the stored index is
    # read and warmed ahead of the first call with some
    pool = RepoMapPool(2, cache_dir=tmp_path / "cache", watch_every=0.05)
    try:
        with pool.session(root) as e:
            e.repo.render(e.repo.rank(), tokens=1024)
            assert "lexical" not in e.repo.context._memo
        _until(lambda: not e.cold, "the new pool to build ahead")
        assert e.repo.context._memo["lexical"]._files._matrix is not None
    finally:
        pool.close()


def test_a_pools_background_work_yields_to_a_waiting_call(repo: Path, tmp_path: Path, monkeypatch) -> None:
    pool = RepoMapPool(1, cache_dir=tmp_path / "cache")  # no thread: its steps are driven here
    root = repo.resolve()
    ran: list[int] = []
    monkeypatch.setattr(RepoMap, "warm_steps", lambda self, params=None: [lambda: ran.append(1),
                                                                          lambda: ran.append(2)])
    try:
        with pool.session(root) as e:
            pass
        assert e.cold and pool._thread is None
        pool._in_calls = 1  # a call is in progress or waits for a lock
        pool._warm(root)
        assert ran == [] and e.cold
        pool._in_calls = 0
        pool._warm(root)
        assert ran == [1, 2] and not e.cold
        pool._warm(root)  # nothing changed since: nothing to do
        assert ran == [1, 2]
        EDITS["edit"](repo)
        with pool.session(root) as e:  # the call refreshes: the map is cold again
            assert e.cold
        pool._warm(root)
        assert ran == [1, 2, 1, 2]
    finally:
        pool.close()


def test_listing_probe_stats_in_two_halves_as_in_one(repo: Path, monkeypatch) -> None:
    # a large tree's check stats its two halves on two threads: same fingerprint, same
    # per-path record, in path order, as one pass
    import ripmap.discover as discover
    from ripmap import languages

    probe = ListingProbe(repo, language_of=languages.language_for_path)
    (repo / "top.py").unlink()  # a path that cannot be read: None in its place
    one = probe.fingerprint(), probe.snapshot().seen
    monkeypatch.setattr(discover, "SPLIT_MIN", 1)
    halves = []
    real = discover._stat_each
    monkeypatch.setattr(discover, "_stat_each", lambda ps: halves.append(len(ps)) or real(ps))
    two = probe.fingerprint(), probe.snapshot().seen
    assert len(halves) == 4 and sum(halves[2:]) == len(one[1])  # the directories', then the files'
    assert two == one and None in two[1]


def test_a_pools_failing_background_work_is_logged_once_and_calls_still_answer(repo: Path, tmp_path: Path,
                                                                                monkeypatch, caplog) -> None:
    import logging

    monkeypatch.setattr(ripmap.api, "IDLE_S", 0.0)
    pool = RepoMapPool(1, cache_dir=tmp_path / "cache", watch_every=0.02)
    root = repo.resolve()
    tries = []

    def broken(self, params=None):
        tries.append(1)
        raise OSError("disk gone")
    try:
        with caplog.at_level(logging.DEBUG, logger="ripmap"):
            with pool.session(root) as e:
                pass
            monkeypatch.setattr(RepoMap, "warm_steps", broken)
            pool._wake.set()
            _until(lambda: len(tries) >= 3, "the pool to retry")
            warned = [r for r in caplog.records if "background refresh failed" in r.getMessage()
                      and r.levelno == logging.WARNING]
            assert len(warned) == 1 and "disk gone" in warned[0].getMessage()
            with pool.session(root) as e:  # a call is not held up by it
                assert "app.py" in e.repo.files
    finally:
        pool.close()


def test_a_pools_checks_of_all_its_trees_take_at_most_their_share_of_a_core(repo: Path, tmp_path: Path,
                                                                            monkeypatch) -> None:
    import time

    other = make_rich_repo(tmp_path / "other")
    pool = RepoMapPool(2, cache_dir=tmp_path / "cache")  # no thread: checks driven here
    monkeypatch.setattr(ripmap.api, "WATCH_SHARE", 0.1)
    try:
        for root in (repo.resolve(), other.resolve()):
            with pool.session(root):
                pass
        asked: list[int] = []
        monkeypatch.setattr(RepoMap, "moved", lambda self: asked.append(1) or time.sleep(0.02))  # 20 ms a check
        pool.watch_every = 0.001
        root = repo.resolve()
        t = time.monotonic()
        pool._check(root)
        # two trees, 20 ms each, 10% of a core: each is asked again no sooner than 0.4 s on
        assert asked == [1] and pool._next_check[root] - t >= 0.4
        pool._check(root)  # not due: not asked
        assert asked == [1]
    finally:
        pool.close()


def test_a_call_on_a_watching_pool_leaves_the_due_sweep_to_the_background(repo: Path, tmp_path: Path,
                                                                          monkeypatch) -> None:
    trusts: list = []
    real = RepoMap.moved
    monkeypatch.setattr(RepoMap, "moved", lambda self, trust_s=None: trusts.append(trust_s) or real(self, trust_s))
    root = repo.resolve()
    for watch_every, expected in ((0.0, None), (3600.0, ripmap.api.CALL_TRUST_S)):
        pool = RepoMapPool(2, cache_dir=tmp_path / "cache", watch_every=watch_every)
        try:
            for _ in range(2):
                with pool.session(root):
                    pass
        finally:
            pool.close()
        assert trusts[-1] == expected  # without a background thread, calls sweep when due


def test_a_pools_check_share_is_averaged_over_its_last_checks(repo: Path, tmp_path: Path, monkeypatch) -> None:
    # with change events most checks cost nothing and one in several sweeps: the check
    # after a sweep must not wait as long as that sweep alone would set, while checks that
    # all cost as much are spaced as before
    pool = RepoMapPool(2, cache_dir=tmp_path / "cache")  # no thread: checks driven here
    monkeypatch.setattr(ripmap.api, "WATCH_SHARE", 0.1)
    try:
        root = repo.resolve()
        with pool.session(root):
            pass
        costs = iter([0.05] + [0.0] * 3 + [0.05] + [0.0] * 20)
        monkeypatch.setattr(RepoMap, "moved", lambda self: time.sleep(next(costs)))
        pool.watch_every = 0.001
        waits = []
        for _ in range(14):
            pool._next_check[root] = 0.0
            t = time.monotonic()
            pool._check(root)
            waits.append(pool._next_check[root] - t)
        assert waits[0] >= 0.5  # one tree, its only check 50 ms, 10% of a core
        # a sweep among cheap checks: 100 ms over five checks, not the 0.5 s of the sweep alone
        # (about 0.4 of the first wait; the sweep alone would set as long a wait as the first)
        assert waits[4] < 0.75 * waits[0]
        assert waits[-1] < 0.05  # the sweeps out of the window
    finally:
        pool.close()


def test_after_an_edit_a_watching_pool_asks_the_last_question_again_ahead_of_the_call(repo: Path, tmp_path: Path,
                                                                                         monkeypatch) -> None:
    """An agent edits its chat file and asks the same question: the pool has read the edit
    and ranked and drawn that question again, so the call ranks nothing, and its map is
    the one a cold build of the edited tree gives. A question whose chat file went away
    is skipped, and the call asking it is told, as before."""
    pytest.importorskip("mcp")
    from ripmap.mcp_server import Tools

    monkeypatch.setattr(ripmap.api, "IDLE_S", 0.0)
    pool = RepoMapPool(2, cache_dir=tmp_path / "cache", watch_every=0.05)
    tools = Tools(pool)
    root = repo.resolve()
    try:
        tools.repo_map(str(root), chat_files=["d1/mod1.py"], tokens=2048)
        with pool.session(root) as e:
            rm = e.repo
        before = e.changes
        EDITS["edit"](repo)
        _until(lambda: e.changes > before and not e.cold, "the pool to read the edit and ask again")
        ranked = []
        real = ripmap.api.rank
        monkeypatch.setattr(ripmap.api, "rank", lambda *a, **k: ranked.append(1) or real(*a, **k))
        drawn = []
        real_render = ripmap.api.render
        monkeypatch.setattr(ripmap.api, "render", lambda *a, **k: drawn.append(1) or real_render(*a, **k))
        again = tools.repo_map(str(root), chat_files=["d1/mod1.py"], tokens=2048)
        assert ranked == [] and drawn == []  # answered from what the pool made ahead
        assert "in chat (not repeated): d1/mod1.py" in again
        assert rm._asked == []  # asked once: later rounds do not ask it again
        monkeypatch.setattr(ripmap.api, "rank", real)
        monkeypatch.setattr(ripmap.api, "render", real_render)
        with RepoMap(repo, use_cache=False) as cold:
            want = cold.render(cold.rank(chat_files=["d1/mod1.py"]), tokens=2048).text
        with pool.session(root) as e:
            got = rm.render(rm.rank(chat_files=["d1/mod1.py"]), tokens=2048).text
        assert got == want
        # the chat file goes: asking again ahead fails quietly, the call is told
        before = e.changes
        (repo / "d1/mod1.py").unlink()
        _until(lambda: e.changes > before and not e.cold, "the pool to read the deletion")
        from ripmap.mcp_server import ToolError

        with pytest.raises(ToolError, match="d1/mod1.py: no such file"):
            tools.repo_map(str(root), chat_files=["d1/mod1.py"], tokens=2048)
    finally:
        pool.close()


def test_a_watched_map_keeps_superseded_cache_writes_back_until_it_flushes(repo: Path, tmp_path: Path) -> None:
    """Edit after edit, a long-lived map stores only the newest lexical index (and graph,
    weighted graph), when it flushes (or closes), not 220 MB (at 70,000 files) per edit
    beside the calls; the next process then patches from the newest."""
    cache = tmp_path / "cache"
    rm = RepoMap(repo, cache_dir=cache)
    rm.watch()
    try:
        _maps(rm)
        first = rm.index.fingerprint
        rm._writer.submit(lambda: None).result()  # what was handed over is written
        assert rm.writes_pending and rm.cache.get_blob(f"lexical3:{first}") is None  # kept back
        rm.flush_writes()
        rm._writer.submit(lambda: None).result()
        assert not rm.writes_pending
        assert rm.cache.get_blob(f"graph:{first}") is not None and rm.cache.get_blob(f"lexical3:{first}") is not None
        EDITS["edit"](repo)
        assert rm.refresh()
        _maps(rm)
        middle = rm.index.fingerprint
        EDITS["add"](repo)
        assert rm.refresh()
        _maps(rm)
        last = rm.index.fingerprint
        rm._writer.submit(lambda: None).result()
        assert rm.writes_pending
        assert rm.cache.get_blob(f"lexical3:{middle}") is None and rm.cache.get_blob(f"lexical3:{last}") is None
    finally:
        rm.close()  # flushes: the newest of each, only
    with RepoMap(repo, cache_dir=cache) as again:
        assert again.cache.get_blob(f"lexical3:{last}") is not None
        assert again.cache.get_blob(f"lexical3:{middle}") is None  # superseded before it was written
        assert _maps(again) == _cold(repo)


def test_a_watching_pool_stores_what_a_map_kept_back_once_it_has_not_changed_for_a_while(
        repo: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(ripmap.api, "IDLE_S", 0.0)
    monkeypatch.setattr(ripmap.api, "FLUSH_AFTER_S", 0.3)
    pool = RepoMapPool(1, cache_dir=tmp_path / "cache", watch_every=0.05)
    root = repo.resolve()
    try:
        with pool.session(root) as e:
            _maps(e.repo)
        EDITS["edit"](repo)
        with pool.session(root) as e:  # the call reads the edit: its new lexical index is kept back
            _maps(e.repo)
            fp = e.repo.index.fingerprint
            assert e.repo.writes_pending
        _until(lambda: not e.repo.writes_pending, "the pool to store what the map kept back")
        e.repo._writer.submit(lambda: None).result()
        assert e.repo.cache.get_blob(f"lexical3:{fp}") is not None
    finally:
        pool.close()
