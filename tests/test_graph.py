"""The reference graph, built from real files through ``RepoMap``.

Expected edge weights are worked out by hand from the graph's documented rules:
a reference's strength is sqrt(Σ kind weight × count), times the name weight
1/(1 + common_name_penalty·(definers-1)) (× private_name_weight for ``_names``);
it is shared equally among the definers, except that a share q = b/(1+b)
(b = import_resolution_bias) goes to definers in files the referrer imports; a
name the referrer defines itself is no edge at all.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import ripmap.api
from ripmap import RepoMap
from ripmap.cache.blobs import StoredGraph, decode_graph, encode_graph
from ripmap.graph import GraphData, build_graph
from ripmap.rank.edges import file_graph, neighbours_within
from ripmap.rank.params import DEFAULT, SPECS, Params

from fixtures_rank import write_tree

FILES = {
    # a: calls helper (defined in b, c and e), a private name, a unique name, uses a type
    "a.py": "class Alpha:\n"
            "    def go(self, x: Gamma):\n"
            "        helper()\n"
            "        _secret()\n"
            "        unique_fn()\n",
    "b.py": "def helper():\n    return 1\n",
    "c.py": "def helper():\n    return 2\n",
    # d imports helper from b and calls it
    "d.py": "from b import helper\n\n\ndef use():\n    return helper()\n",
    # e defines and uses its own helper
    "e.py": "def helper():\n    return 3\n\n\ndef run():\n    return helper()\n",
    "f.py": "def unique_fn():\n    return 4\n",
    "g.py": "def _secret():\n    return 5\n",
    "h.py": "class Gamma:\n    pass\n",
}


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "repo", FILES)


@pytest.fixture()
def rm(repo: Path, tmp_path: Path):
    with RepoMap(repo, cache_dir=tmp_path / "cache", use_git=False) as r:
        yield r


# The values the hand computations below assume, pinned so that retuning the
# registry's defaults does not change what these tests check.
GRAPH_P = Params(edge_weight_call=1.0, edge_weight_type=1.0, edge_weight_other=0.5,
                 import_resolution_bias=4.0, common_name_penalty=0.5, private_name_weight=0.2)


def W_of(rm: RepoMap, params: Params = GRAPH_P):
    g = rm.graph
    fi = g.file_index
    W = file_graph(g, params).toarray()
    return (lambda s, t: W[fi[s], fi[t]]), W, fi


def test_graph_files_and_names(rm):
    g = rm.graph
    assert g.files == tuple(sorted(FILES))
    for n in ("Alpha", "helper", "_secret", "unique_fn", "Gamma", "use", "run"):
        assert n in g.names
    ni = g.family_name_index("python")
    assert g.ndefs[ni["helper"]] == 3  # b, c, e
    assert g.ndefs[ni["unique_fn"]] == 1
    assert g.private[ni["_secret"]]
    assert not g.private[ni["helper"]]
    fi = g.file_index
    # d imports b (from b import helper) and nothing else
    assert g.I[fi["d.py"]].nonzero()[1].tolist() == [fi["b.py"]]


def test_reference_shared_equally_among_definers(rm):
    w, _, _ = W_of(rm)
    # a -> helper: sqrt(1 call) × 1/(1 + 0.5·2) = 0.5, split over b, c, e
    assert w("a.py", "b.py") == pytest.approx(w("a.py", "c.py"), rel=1e-12)
    assert w("a.py", "b.py") == pytest.approx(0.5 / 3, rel=1e-12)
    assert w("a.py", "e.py") == pytest.approx(0.5 / 3, rel=1e-12)


def test_import_prefers_imported_definer(rm):
    w, _, _ = W_of(rm)
    # d -> helper: one call (1.0) + one imported name (other, 0.5): sqrt(1.5) × 0.5
    R = math.sqrt(1.5) * 0.5
    q = 4.0 / 5.0  # import_resolution_bias 4
    assert w("d.py", "b.py") == pytest.approx(R * (q + (1 - q) / 3), rel=1e-12)
    assert w("d.py", "c.py") == pytest.approx(R * (1 - q) / 3, rel=1e-12)
    assert w("d.py", "b.py") > w("d.py", "c.py")
    ratio_default = w("d.py", "b.py") / w("d.py", "c.py")
    assert ratio_default == pytest.approx(13.0, rel=1e-9)  # (3q + 1 - q) / (1 - q)

    b_hi = SPECS["import_resolution_bias"].high
    w_hi, _, _ = W_of(rm, GRAPH_P.replace(import_resolution_bias=b_hi))
    q = b_hi / (1.0 + b_hi)
    ratio_hi = w_hi("d.py", "b.py") / w_hi("d.py", "c.py")
    assert ratio_hi == pytest.approx((2 * q + 1) / (1 - q), rel=1e-9)  # 301 for a bound of 100
    assert ratio_hi > ratio_default
    # the total weight of the reference is unchanged: only the split moves
    assert w_hi("d.py", "b.py") + w_hi("d.py", "c.py") + w_hi("d.py", "e.py") == pytest.approx(R, rel=1e-12)

    lo = GRAPH_P.replace(import_resolution_bias=1.0)
    w_lo, _, _ = W_of(rm, lo)
    assert w_lo("d.py", "b.py") / w_lo("d.py", "c.py") == pytest.approx(4.0, rel=1e-9)  # q = 1/2


def test_own_definition_is_no_edge(rm):
    w, W, fi = W_of(rm)
    # e calls helper, which it defines itself: no edge to b or c (or anywhere)
    assert W[fi["e.py"]].sum() == 0.0
    assert w("e.py", "b.py") == 0.0 and w("e.py", "c.py") == 0.0
    assert np.all(np.diag(W) == 0.0)


def test_common_name_penalty(rm):
    prev = None
    for pen in (0.0, 0.5, 2.0, 5.0):
        w, _, _ = W_of(rm, GRAPH_P.replace(common_name_penalty=pen))
        helper_edge = w("a.py", "b.py")
        assert helper_edge == pytest.approx(1.0 / (1.0 + pen * 2) / 3, rel=1e-12)
        # a uniquely defined name is not penalized
        assert w("a.py", "f.py") == pytest.approx(1.0, rel=1e-12)
        if prev is not None:
            assert helper_edge < prev
        prev = helper_edge


def test_private_name_weight(rm):
    for pw in (0.01, 0.2, 1.0):
        w, _, _ = W_of(rm, GRAPH_P.replace(private_name_weight=pw))
        assert w("a.py", "g.py") == pytest.approx(pw, rel=1e-12)
        assert w("a.py", "f.py") == pytest.approx(1.0, rel=1e-12)


def test_edge_kind_weights(rm):
    p = GRAPH_P.replace(edge_weight_call=4.0, edge_weight_type=0.09, edge_weight_other=9.0)
    w, _, _ = W_of(rm, p)
    assert w("a.py", "f.py") == pytest.approx(2.0, rel=1e-12)  # sqrt(4 · 1 call)
    assert w("a.py", "h.py") == pytest.approx(0.3, rel=1e-12)  # sqrt(0.09 · 1 type ref)
    # d: sqrt(4 call + 9 other) × 0.5, import split q = 0.8
    R = math.sqrt(13.0) * 0.5
    assert w("d.py", "b.py") == pytest.approx(R * (0.8 + 0.2 / 3), rel=1e-12)


def test_repeated_references_enter_with_square_root(tmp_path):
    root = write_tree(tmp_path / "r", {
        "x.py": "def f():\n    " + "\n    ".join(["target()"] * 9) + "\n",
        "y.py": "def target():\n    pass\n",
    })
    with RepoMap(root, cache_dir=tmp_path / "c", use_git=False) as rm:
        w, _, _ = W_of(rm)
        assert w("x.py", "y.py") == pytest.approx(3.0, rel=1e-12)


def test_serialization_round_trip(rm):
    g = rm.graph
    h = decode_graph(encode_graph(StoredGraph(g))).graph
    assert h.files == g.files
    assert h.names == g.names
    for a, b in zip((*g.R, g.D, g.I), (*h.R, h.D, h.I)):
        assert a.shape == b.shape
        assert np.array_equal(a.toarray(), b.toarray())
    assert np.array_equal(h.ndefs, g.ndefs)
    assert np.array_equal(h.private, g.private)
    for params in (DEFAULT, GRAPH_P.replace(import_resolution_bias=50.0, common_name_penalty=3.0)):
        assert np.array_equal(file_graph(h, params).toarray(), file_graph(g, params).toarray())


def test_serialization_round_trip_empty():
    g = build_graph((), {})
    h = decode_graph(encode_graph(StoredGraph(g))).graph
    assert h.files == () and h.names == ()
    assert file_graph(h, DEFAULT).shape == (0, 0)


def test_graph_is_cached_on_disk(repo, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    with RepoMap(repo, cache_dir=cache, use_git=False) as first:
        g1 = first.graph
        W1 = file_graph(g1, DEFAULT).toarray()

    def boom(*a, **k):
        raise AssertionError("build_graph called although the tree did not change")

    monkeypatch.setattr(ripmap.api, "build_graph", boom)
    with RepoMap(repo, cache_dir=cache, use_git=False) as second:
        g2 = second.graph
        assert g2.files == g1.files and g2.names == g1.names
        assert np.array_equal(file_graph(g2, DEFAULT).toarray(), W1)
        r = second.rank()
        assert sorted(r.files) == sorted(FILES)

    # an edit changes the fingerprint: the stored graph is patched (only the edited file's
    # tags read again), never rebuilt from every file, and equals a cold build
    calls = []

    def spy(files, tags):
        calls.append(1)
        return build_graph(files, tags)

    monkeypatch.setattr(ripmap.api, "build_graph", spy)
    (repo / "f.py").write_text("def unique_fn():\n    return helper()\n")
    with RepoMap(repo, cache_dir=cache, use_git=False) as third:
        w, _, _ = W_of(third)
        assert calls == []
        assert w("f.py", "b.py") > 0
        g3 = third.graph
    with RepoMap(repo, use_cache=False, use_git=False) as cold:
        g4 = cold.graph
        assert g3.names == g4.names and g3.files == g4.files
        for a, b in zip((*g3.R, g3.D, g3.I), (*g4.R, g4.D, g4.I)):
            assert np.array_equal(a.toarray(), b.toarray())


def test_neighbours_within(rm):
    _, W, fi = W_of(rm)
    Ws = file_graph(rm.graph, GRAPH_P)
    dist = neighbours_within(Ws, np.array([fi["b.py"]]), 2)
    # b <- a, b <- d (1 hop); a -> c, e, f, g, h and d -> c, e (2 hops)
    assert dist[fi["b.py"]] == 0
    assert dist[fi["a.py"]] == 1 and dist[fi["d.py"]] == 1
    for f in ("c.py", "e.py", "f.py", "g.py", "h.py"):
        assert dist[fi[f]] == 2
    dist1 = neighbours_within(Ws, np.array([fi["b.py"]]), 1)
    assert np.isinf(dist1[fi["c.py"]])


def test_private_name_convention():
    from ripmap.extract.tags import Tag

    names = ["_single", "__mangled", "__dunder__", "public", "_"]
    tags = {"x.py": [Tag(1, n, True, "function", 1) for n in names]}
    g = build_graph(("x.py",), tags)
    ni = g.family_name_index("python")
    assert g.private[ni["_single"]]
    assert g.private[ni["__mangled"]]
    assert not g.private[ni["__dunder__"]]  # dunders are public protocol names
    assert not g.private[ni["public"]]


def test_relative_imports_pick_the_sibling_definer(tmp_path):
    root = write_tree(tmp_path / "rel", {
        "pkg/__init__.py": "",
        "pkg/b.py": "def helper():\n    return 1\n",
        "other/b.py": "def helper():\n    return 2\n",
        "pkg/d.py": "from .b import helper\n\n\ndef f():\n    return helper()\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/e.py": "from ..b import helper\n\n\ndef g():\n    return helper()\n",
    })
    with RepoMap(root, cache_dir=tmp_path / "c", use_git=False) as rm:
        w, _, _ = W_of(rm)
        # helper has 2 definers: name weight 1/(1 + 0.5) = 2/3; call + imported name
        R = math.sqrt(1.5) * 2 / 3
        for src in ("pkg/d.py", "pkg/sub/e.py"):
            assert w(src, "pkg/b.py") == pytest.approx(R * (0.8 + 0.2 / 2), rel=1e-12), src
            assert w(src, "other/b.py") == pytest.approx(R * 0.2 / 2, rel=1e-12), src


def test_python_from_imports_resolve_submodules(tmp_path):
    """`from . import b` and `from pkg import sub` import the submodule files themselves."""
    from ripmap.graph import build_graph
    from ripmap.index import build_index

    root = tmp_path / "r"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "a.py").write_text("from . import b\n\ndef run():\n    return b.helper()\n")
    (root / "pkg" / "b.py").write_text("def helper():\n    return 1\n")
    (root / "pkg" / "sub.py").write_text("def other():\n    return 2\n")
    (root / "main.py").write_text("from pkg import sub\n\nsub.other()\n")
    idx = build_index(root, progress=False)
    g = build_graph(tuple(f.rel for f in idx.files), idx.tags)
    fi = g.file_index
    assert g.I[fi["pkg/a.py"], fi["pkg/b.py"]] == 1
    assert g.I[fi["main.py"], fi["pkg/sub.py"]] == 1
    assert g.I[fi["main.py"], fi["pkg/__init__.py"]] == 1


def test_rust_use_paths_resolve_to_module_files(tmp_path):
    """`use crate::…`, `self::`/`super::`, a workspace crate by name and a binary using its
    own package's library resolve to the file of the longest module named; `std` never."""
    from ripmap.graph import build_graph
    from ripmap.index import build_index

    root = write_tree(tmp_path / "r", {
        "src/lib.rs": "pub mod printer;\npub mod assets;\npub struct Config;\n",
        "src/printer.rs": "use crate::assets::lazy::Lazy;\nuse std::io::Write;\nuse serde::Deserialize;\n"
                          "use clap::assets::Thing;\npub struct Printer;\n",
        "src/assets/mod.rs": "pub mod lazy;\nuse self::lazy::Lazy;\n",
        "src/assets/lazy.rs": "use super::super::Config;\npub struct Lazy;\n",
        "src/bin/tool/main.rs": "mod app;\nuse crate::app::run;\nuse mylib::printer::{Printer, Other};\n"
                                "use regex::Regex;\nfn main() { run(); }\n",
        "src/bin/tool/app.rs": "use super::*;\npub fn run() {}\n",
        "crates/searcher/src/lib.rs": "pub mod sink;\n",
        "crates/searcher/src/sink.rs": "pub struct Sink;\n",
        "src/search.rs": "use grep_searcher::sink::Sink as S;\nuse grep_searcher::*;\n",
    })
    idx = build_index(root, progress=False)
    g = build_graph(tuple(f.rel for f in idx.files), idx.tags)
    fi = g.file_index
    edges = {(g.files[i], g.files[j]) for i, j in zip(*g.I.nonzero())}
    assert edges == {
        ("src/printer.rs", "src/assets/lazy.rs"),  # crate::assets::lazy::Lazy: the module lazy.rs
        ("src/assets/mod.rs", "src/assets/lazy.rs"),  # self:: from a mod.rs is its own directory
        ("src/assets/lazy.rs", "src/lib.rs"),  # super::super::Config: an item of the crate root
        ("src/bin/tool/main.rs", "src/bin/tool/app.rs"),  # a binary's crate root is its main.rs
        ("src/bin/tool/main.rs", "src/printer.rs"),  # its package's library, by the package's name
        ("src/bin/tool/app.rs", "src/bin/tool/main.rs"),  # `use super::*`: the parent module
        ("src/search.rs", "crates/searcher/src/sink.rs"),  # a workspace crate, grep_ prefix dropped
        ("src/search.rs", "crates/searcher/src/lib.rs"),  # a glob import of that crate's root
    }, edges  # serde, clap and regex are other crates: inside the library, or naming no module of it
    assert "src/bin/tool/main.rs" in fi


def _matrices(g: GraphData) -> dict:
    """Graph content independent of name numbering: (file, name) → value per matrix."""
    out = {}
    for label, m in (("R0", g.R[0]), ("R1", g.R[1]), ("R2", g.R[2]), ("Dt", g.D.T)):
        c = m.tocoo()
        out[label] = {(g.files[i], g.names[j]): v for i, j, v in zip(c.row, c.col, c.data) if v}
    out["I"] = {(g.files[i], g.files[j]) for i, j in zip(*g.I.nonzero())}
    return out


def test_graph_is_the_same_from_a_parse_from_cached_counts_and_from_plain_tags(repo, tmp_path):
    """Cold (this run's parse results), warm with the graph blob gone (reference counts
    read back from the tag cache) and a plain tag mapping give the same graph."""
    (repo / "a.py").write_text(FILES["a.py"] + "        helper()\n        helper()\n")
    with RepoMap(repo, cache_dir=tmp_path / "c", use_git=False) as cold:
        files = tuple(f.rel for f in cold.index.files)
        from_parse = build_graph(files, cold.index.tags)
        plain = build_graph(files, {r: list(cold.index.tags[r]) for r in files})
    with RepoMap(repo, cache_dir=tmp_path / "c", use_git=False) as warm:
        assert warm.index.cache_hits == len(files) and warm.index.parsed == 0
        from_cache = build_graph(files, warm.index.tags)
    assert _matrices(from_parse) == _matrices(from_cache) == _matrices(plain)
    # helper is called three times in a.py: the count survives the summary
    assert _matrices(from_cache)["R0"][("a.py", "helper")] == 3.0


@pytest.mark.parametrize("bound", [50, 1 << 40])
def test_unique_first_agrees_with_numpy_unique_in_both_of_its_ways(bound):
    # a small bound takes the presence table, a huge one the sort: both must answer as
    # np.unique does (sorted keys, first positions, inverse), repeated keys included
    from ripmap.graph import _unique_first
    rng = np.random.default_rng(7)
    key = rng.integers(0, 50, size=400).astype(np.int64)
    uniq, first, inv = _unique_first(key, bound)
    u2, f2, i2 = np.unique(key, return_index=True, return_inverse=True)
    assert uniq.tolist() == u2.tolist()
    assert first.tolist() == f2.tolist()
    assert inv.tolist() == i2.reshape(-1).tolist()
    assert (uniq[inv] == key).all() and (key[first] == uniq).all()


def test_import_resolution_tables_are_kept_for_the_same_files_only():
    # a server resolves a few files' imports edit after edit against tables of every
    # file: kept for the same file list, made anew for another, the answers those of a
    # fresh build either way
    import ripmap.graph as graph_mod

    def matrix(files, imports):
        fam_ids: dict[str, int] = {}
        fam = np.array([fam_ids.setdefault(graph_mod.family_for_path(f), len(fam_ids)) for f in files])
        return graph_mod._import_matrix(files, imports, fam).toarray()

    a = ("pkg/a.py", "pkg/b.py", "pkg/sub/c.py", "web/x.js", "web/y.js")
    b = ("pkg/a.py", "pkg/c.py", "pkg/sub/b.py", "web/x.js")
    imports_a = [(0, "pkg.b"), (1, "pkg.sub.c"), (3, "./y")]
    imports_b = [(0, "pkg.sub.b"), (1, "pkg.a")]
    graph_mod._TABLES.update(files=None, fams=None, tables={})
    first = matrix(a, imports_a)
    kept = graph_mod._TABLES["tables"]
    again = matrix(a, imports_a[:1])
    assert graph_mod._TABLES["tables"] is kept  # same files: the tables were reused
    other = matrix(b, imports_b)
    assert graph_mod._TABLES["tables"] is not kept  # other files: made anew
    graph_mod._TABLES.update(files=None, fams=None, tables={})
    assert np.array_equal(first, matrix(a, imports_a))
    graph_mod._TABLES.update(files=None, fams=None, tables={})
    assert np.array_equal(again, matrix(a, imports_a[:1]))
    graph_mod._TABLES.update(files=None, fams=None, tables={})
    assert np.array_equal(other, matrix(b, imports_b))
    assert first[0, 1] == 1 and first[1, 2] == 1 and other[0, 2] == 1 and other[1, 0] == 1


def test_import_lookups_answer_as_the_spelt_out_tables_would():
    # the resolution tables answer a key when asked; each answer must be the list a table
    # spelt out for every key holds: module paths (an index file also under its folder),
    # every trailing part of them, every trailing part of each folder
    import ripmap.graph as graph_mod

    files = ("pkg/__init__.py", "pkg/util.py", "pkg/sub/util.py", "util.py", "index/index.py",
             "a/b/mod.rs", "x/lib.rs", "web/index.ts", "web/types.d.ts", "web/lib/index.js",
             "go/pkg/util/u.go", "go/util/v.go", ".hidden", "deep/a/b/c/d.py", "pkg/sub/__init__.py")
    exact: dict[str, list[int]] = {}
    suffix: dict[str, list[int]] = {}
    dirs: dict[str, list[int]] = {}
    for i, rel in enumerate(files):  # the tables spelt out, key by key
        stem = graph_mod._strip_ext(rel)
        keys = [stem]
        if stem.rsplit("/", 1)[-1] in graph_mod.INDEX_STEMS and "/" in stem:
            keys.append(stem.rsplit("/", 1)[0])
        for k in keys:
            exact.setdefault(k, []).append(i)
            parts = k.split("/")
            for j in range(len(parts)):
                suffix.setdefault("/".join(parts[j:]), []).append(i)
        d = rel.rpartition("/")[0]
        parts = d.split("/") if d else []
        for j in range(len(parts)):
            dirs.setdefault("/".join(parts[j:]), []).append(i)
    graph_mod._TABLES.update(files=None, fams=None, tables={})
    lazy_exact, lazy_suffix, lazy_dirs = graph_mod._resolution_tables(files, [0] * len(files), {0})[0]
    asked = set(exact) | set(suffix) | set(dirs) | {"", "nothing", "til", "b/c", "/util", "util/", "x/y/util"}
    assert len(suffix["util"]) == 3 and len(dirs["util"]) == 2 and suffix["index"] == [4, 4, 7, 9]  # the fixture has the hard cases
    for key in sorted(asked):
        for spelt, lazy in ((exact, lazy_exact), (suffix, lazy_suffix), (dirs, lazy_dirs)):
            assert lazy.get(key, []) == spelt.get(key, []), key
            assert (key in lazy) == (key in spelt), key
            if key in spelt:
                assert lazy[key] == spelt[key]
            else:
                with pytest.raises(KeyError):
                    lazy[key]
    graph_mod._TABLES.update(files=None, fams=None, tables={})


def test_kept_positions_of_the_same_list_and_of_another():
    from ripmap.graph import kept_positions

    def by_dict(old, files, changed):
        at = {f: i for i, f in enumerate(files)}
        return [-1 if f in changed else at.get(f, -1) for f in old]

    files = tuple(f"f{i:02d}.py" for i in range(40))
    for changed in (set(), {"f03.py"}, {"f03.py", "gone.py"}, {f"f{i:02d}.py" for i in range(0, 40, 2)}):
        assert kept_positions(files, list(files), changed).tolist() == by_dict(files, files, changed)
    other = ("f05.py", "new.py") + files[10:]
    for changed in (set(), {"f12.py"}):
        got = kept_positions(files, other, changed).tolist()
        assert got == by_dict(files, other, changed)
        assert got[5] == 0 and got[0] == -1 and got[12] == (-1 if changed else 4)
