"""References resolve only within a language family.

A planted repository defines the same names in Python, Dart, JavaScript/TypeScript,
Rust, C/C++, Java/Kotlin and a Markdown section. A reference must reach definitions
its own language can call (TS → JS, C++ → C header and source, Kotlin → Java) and
nothing else: no file edge, no symbol lift, no import, no call-graph target across
families, and a name's definer count is the count within the referrer's family.

Expected weights follow the graph's documented rules (see tests/test_graph.py):
sqrt(Σ kind weight × count) × 1/(1 + common_name_penalty·(definers-1)), shared
equally among the definers, a share q = b/(1+b) going to imported definers.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from ripmap import RepoMap
from ripmap.callgraph import CallGraph
from ripmap.cache.blobs import StoredGraph, decode_graph, encode_graph
from ripmap.rank.edges import file_graph
from ripmap.languages import SPECS
from ripmap.rank.params import Params

from fixtures_rank import write_tree

DART_AREA = "double area(double w, double h) {\n  return w * h;\n}\n"

FILES = {
    # Python: two definers of area, a caller that imports one of them, and a caller of
    # volume (which only C and Dart define)
    "geo/shapes.py": "def area(w, h):\n    return w * h\n",
    "geo/circle.py": "def area(r):\n    return 3.14 * r * r\n",
    "app/main.py": "from geo import shapes\n\n\ndef report():\n    return area(2, 3) + volume(1.0)\n",
    # `import shapes` names a Python module; shapes.js and shapes.c are not modules to it
    "app/tool.py": "import shapes\n\n\ndef measure():\n    return shapes.area(1, 2)\n",
    # Dart: three definers of area and one caller; volume and girth, which no Dart file uses
    "lib/a.dart": DART_AREA,
    "lib/b.dart": DART_AREA,
    "lib/c.dart": DART_AREA,
    "lib/use.dart": "double total() {\n  return area(1.0, 2.0);\n}\n",
    "lib/solid.dart": "double volume(double r) {\n  return r * r * r;\n}\n\n"
                      "double girth(double r) {\n  return 4 * r;\n}\n",
    # JavaScript defines area and perimeter; TypeScript calls perimeter
    "web/shapes.js": "export function area(w, h) {\n  return w * h;\n}\n\n"
                     "export function perimeter(w, h) {\n  return 2 * (w + h);\n}\n",
    "web/app.ts": 'import { perimeter } from "./shapes";\n\n'
                  "export function fence(w: number, h: number): number {\n  return perimeter(w, h);\n}\n",
    "src/geom.rs": "pub fn area(w: f64, h: f64) -> f64 {\n    w * h\n}\n",
    # C header and source define volume; C++ calls it; another C file includes a header by path
    "native/shapes.h": "double volume(double r);\n",
    "native/shapes.c": '#include "shapes.h"\n\ndouble volume(double r) {\n    return r * r * r;\n}\n\n'
                       "double unused_c(double r) {\n    return r;\n}\n",
    "native/main.cpp": '#include "shapes.h"\n\nint run() {\n    return (int) volume(2.0);\n}\n',
    "include/geo/shapes.h": "double side(double s);\n",
    "native/box.c": '#include "geo/shapes.h"\n\ndouble box(double s) {\n    return side(s);\n}\n',
    # Java defines scale; Kotlin calls it
    "jvm/Geometry.java": "package jvm;\n\npublic class Geometry {\n"
                         "    public static double scale(double x) {\n        return x * 2;\n    }\n}\n",
    "jvm/App.kt": "package jvm\n\nfun grow(x: Double): Double {\n    return Geometry.scale(x)\n}\n",
    # a Markdown section titled like the function
    "docs/guide.md": "# Guide\n\n## area\n\nHow the area is computed.\n",
}

# the registry's defaults may be retuned; the hand computations below assume these
P = Params(edge_weight_call=1.0, edge_weight_type=1.0, edge_weight_other=0.5,
           import_resolution_bias=4.0, common_name_penalty=0.5, private_name_weight=0.2)


@pytest.fixture()
def rm(tmp_path: Path):
    root = write_tree(tmp_path / "mixed", FILES)
    with RepoMap(root, cache_dir=tmp_path / "cache", use_git=False) as r:
        yield r


def _w(rm: RepoMap):
    g = rm.graph
    fi = g.file_index
    W = file_graph(g, P).toarray()
    return lambda s, t: W[fi[s], fi[t]]


def test_family_table_groups_languages_that_reach_each_other():
    from ripmap.languages.families import family, family_for_path

    assert family("c") == family("cpp")
    assert family_for_path("x.h") == family_for_path("x.hpp") == family_for_path("x.cc") == family_for_path("x.c")
    assert family("javascript") == family("typescript") == family("tsx")
    assert family("java") == family("kotlin") == family("scala")
    singles = ["python", "dart", "rust", "go", "ruby", "markdown", family("c"), family("javascript"), family("java")]
    assert len(set(map(family, singles))) == len(singles)
    # every registry language has a family, and files the registry does not know share none with them
    assert all(family(s.name) for s in SPECS)
    assert family_for_path("Makefile") not in {family(s.name) for s in SPECS}


LINKS = [
    # cross-family definers of the same name: no edge
    ("app/main.py", "lib/a.dart", False),
    ("app/main.py", "web/shapes.js", False),
    ("app/main.py", "src/geom.rs", False),
    ("app/main.py", "docs/guide.md", False),  # a section is never a code reference's target
    ("app/main.py", "native/shapes.c", False),  # volume: C and Dart define it, Python does not
    ("app/main.py", "lib/solid.dart", False),
    ("lib/use.dart", "geo/shapes.py", False),
    ("lib/use.dart", "web/shapes.js", False),
    # same family: still linked
    ("app/main.py", "geo/shapes.py", True),
    ("app/main.py", "geo/circle.py", True),
    ("lib/use.dart", "lib/a.dart", True),
    ("web/app.ts", "web/shapes.js", True),
    ("native/main.cpp", "native/shapes.h", True),
    ("native/main.cpp", "native/shapes.c", True),
    ("jvm/App.kt", "jvm/Geometry.java", True),
]


def test_references_link_only_within_their_family(rm):
    w = _w(rm)
    wrong = [(src, dst, w(src, dst)) for src, dst, linked in LINKS if (w(src, dst) > 0) != linked]
    assert wrong == []


def test_edge_weights_count_only_same_family_definers(rm):
    w = _w(rm)
    # use.dart -> area: one call, 3 Dart definers: 1/(1 + 0.5·2) shared by 3
    for d in ("lib/a.dart", "lib/b.dart", "lib/c.dart"):
        assert w("lib/use.dart", d) == pytest.approx(0.5 / 3, rel=1e-12)
    # main.py -> area: 2 Python definers (name weight 2/3), geo/shapes.py imported (q = 0.8)
    assert w("app/main.py", "geo/shapes.py") == pytest.approx(2 / 3 * (0.8 + 0.2 / 2), rel=1e-12)
    assert w("app/main.py", "geo/circle.py") == pytest.approx(2 / 3 * 0.2 / 2, rel=1e-12)
    # main.cpp -> volume: 2 C-family definers (the .c and the .h), not Dart's third
    assert w("native/main.cpp", "native/shapes.h") == pytest.approx(2 / 3 * 0.5, rel=1e-12)
    assert w("native/main.cpp", "native/shapes.c") == pytest.approx(2 / 3 * 0.5, rel=1e-12)


def test_ndefs_count_definers_per_family(rm):
    g = rm.graph
    by = {fam: g.family_name_index(fam) for fam in ("python", "dart", "js", "rust", "markdown", "c")}
    assert g.ndefs[by["python"]["area"]] == 2
    assert g.ndefs[by["dart"]["area"]] == 3
    assert g.ndefs[by["js"]["area"]] == 1
    assert g.ndefs[by["rust"]["area"]] == 1
    assert g.ndefs[by["markdown"]["area"]] == 1
    assert g.ndefs[by["c"]["volume"]] == 2 and g.ndefs[by["dart"]["volume"]] == 1
    # a name only referenced in a family exists there with no definer
    assert g.ndefs[by["python"]["volume"]] == 0
    # lookups that start from text see the name in every family
    ids = g.ids_of("area")
    assert len(ids) == 5 and {g.names[i] for i in ids} == {"area"}
    assert sorted(g.families[g.name_family[i]] for i in ids) == ["dart", "js", "markdown", "python", "rust"]
    r = rm.rank(mentioned_idents=["area"])
    fi = g.file_index
    boosted = {f for f in FILES if r.signals.mentioned_ident[fi[f]] > 1}
    assert boosted == {"geo/shapes.py", "geo/circle.py", "lib/a.dart", "lib/b.dart", "lib/c.dart",
                       "web/shapes.js", "src/geom.rs", "docs/guide.md"}


def test_imports_resolve_within_the_family(rm):
    g = rm.graph
    fi = g.file_index

    def imported(f: str) -> set[str]:
        return {g.files[j] for j in g.I[fi[f]].nonzero()[1]}

    assert imported("app/tool.py") == {"geo/shapes.py"}  # not shapes.js, shapes.c, shapes.h
    assert imported("native/box.c") == {"include/geo/shapes.h"}  # not geo/shapes.py
    assert imported("web/app.ts") == {"web/shapes.js"}


def test_symbols_are_lifted_only_by_same_family_references(rm):
    r = rm.rank()
    score = {(s.path, s.tag.name): s.score for s in r.top_symbols(None)}
    # Python calls volume; Dart's volume must not rise above its unreferenced neighbour girth
    assert score["lib/solid.dart", "volume"] == pytest.approx(score["lib/solid.dart", "girth"], rel=1e-12)
    # C++ calls C's volume: it rises above the unreferenced unused_c of the same file
    assert score["native/shapes.c", "volume"] > score["native/shapes.c", "unused_c"]


def test_callgraph_does_not_cross_families(rm):
    cg = CallGraph.build(rm.graph, rm.index.tags)

    def callees(path: str, name: str) -> dict:
        return {(f, n): v for (src_f, src_n, _l), edges in cg.calls.items() if (src_f, src_n) == (path, name)
                for (f, n, _line), v in edges.items()}

    # Dart's area is ambiguous among the three Dart definers only
    assert callees("lib/use.dart", "total") == {(f"lib/{x}.dart", "area"): (pytest.approx(0.5 / 3), "ambiguous")
                                                for x in "abc"}
    # Python: area through the import; volume has no Python definer, so no call at all
    assert callees("app/main.py", "report") == {("geo/shapes.py", "area"): (0.9, "import")}
    # same family still resolves: C++ -> C through the include, Kotlin -> Java as the unique definer
    assert set(callees("native/main.cpp", "run")) == {("native/shapes.h", "volume"), ("native/shapes.c", "volume")}
    assert callees("jvm/App.kt", "grow") == {("jvm/Geometry.java", "scale"): (0.7, "unique_name")}


def test_families_survive_the_graph_cache(rm):
    g = rm.graph
    h = decode_graph(encode_graph(StoredGraph(g))).graph
    assert h.families == g.families
    assert h.file_family.tolist() == g.file_family.tolist()
    assert h.name_family.tolist() == g.name_family.tolist()
    assert (file_graph(h, P) != file_graph(g, P)).nnz == 0
    assert h.family_name_index("dart")["area"] == g.family_name_index("dart")["area"]
