"""The call graph behind ``--calls``: each resolution strategy, its confidence, the
reverse edges, and the lines printed under a function."""
from __future__ import annotations

import pytest

from ripmap import RepoMap
from ripmap.callgraph import STRATEGIES, CallGraph, call_line

from fixtures_rank import init_repo

FILES = {
    # same_file: run() calls helper() defined beside it (helper also exists in util.py)
    "pkg/a.py": "def helper():\n    return 1\n\n\ndef run():\n    return helper()\n\n\ndef again():\n    return run()\n",
    "pkg/util.py": "def helper():\n    return 2\n\n\ndef shared():\n    return 3\n",
    # import: go() calls helper(), defined in a.py and util.py; b.py imports only util
    "pkg/b.py": "from pkg.util import helper\n\n\ndef go():\n    return helper()\n",
    # receiver: a method of Store calls save(), defined by Store (reopened in another file) and by Other
    "pkg/store_load.py": "class Store:\n    def load(self):\n        return self.save()\n",
    "pkg/store_save.py": "class Store:\n    def save(self):\n        return None\n",
    "pkg/other.py": "class Other:\n    def save(self):\n        return None\n",
    # unique_name: lonely() is defined once, used without an import
    "pkg/lone.py": "def lonely():\n    return 0\n",
    "pkg/c.py": "def use_lonely():\n    return lonely()\n\n\ndef use_dup():\n    return dup()\n",
    # ambiguous: dup() is defined in two files, neither imported by c.py
    "pkg/d1.py": "def dup():\n    return 1\n",
    "pkg/d2.py": "def dup():\n    return 2\n",
    # another language family never resolves a Python call
    "web/lonely.js": "function lonely() { return 1; }\nfunction dup() { return 2; }\n",
}


@pytest.fixture(scope="module")
def graph(tmp_path_factory) -> tuple[CallGraph, RepoMap]:
    root = init_repo(tmp_path_factory.mktemp("calls") / "repo", FILES)
    rm = RepoMap(root, cache_dir=tmp_path_factory.mktemp("cache"), use_git=False, warn=lambda m: None)
    yield rm.calls, rm
    rm.close()


def callees(cg: CallGraph, path: str, name: str) -> dict[tuple[str, str], tuple[float, str]]:
    return {(f, n): v for (sf, sn, _l), edges in cg.calls.items() if (sf, sn) == (path, name)
            for (f, n, _dl), v in edges.items()}


def test_each_strategy_with_its_confidence(graph) -> None:
    cg, _rm = graph
    assert callees(cg, "pkg/a.py", "run") == {("pkg/a.py", "helper"): (STRATEGIES["same_file"], "same_file")}
    assert callees(cg, "pkg/b.py", "go") == {("pkg/util.py", "helper"): (STRATEGIES["import"], "import")}
    assert callees(cg, "pkg/store_load.py", "load") == {
        ("pkg/store_save.py", "save"): (STRATEGIES["receiver"], "receiver")}
    assert callees(cg, "pkg/c.py", "use_lonely") == {("pkg/lone.py", "lonely"): (STRATEGIES["unique_name"],
                                                                               "unique_name")}
    # shared among the namesakes, never one arbitrary pick; the JavaScript dup is no candidate
    assert callees(cg, "pkg/c.py", "use_dup") == {
        ("pkg/d1.py", "dup"): (STRATEGIES["ambiguous"] / 2, "ambiguous"),
        ("pkg/d2.py", "dup"): (STRATEGIES["ambiguous"] / 2, "ambiguous")}
    assert STRATEGIES["same_file"] > STRATEGIES["import"] > STRATEGIES["receiver"] > STRATEGIES["unique_name"] \
        > STRATEGIES["ambiguous"]


def test_callers_mirror_calls(graph) -> None:
    cg, _rm = graph
    mirrored = {(src, dst): v for src, edges in cg.calls.items() for dst, v in edges.items()}
    assert mirrored == {(src, dst): v for dst, edges in cg.callers.items() for src, v in edges.items()}
    assert all(src != dst for src, dst in mirrored)  # no self edges
    assert not any(f.endswith(".js") for pair in mirrored for f, _n, _l in pair)


def test_edges_and_lines_under_a_function(graph) -> None:
    cg, rm = graph
    tags = {t.name: t for t in rm.index.tags["pkg/a.py"] if t.is_def}
    edges = cg.edges_for("pkg/a.py", tags["run"])
    assert {(e.direction, e.file, e.name) for e in edges} == {("calls", "pkg/a.py", "helper"),
                                                               ("called_by", "pkg/a.py", "again")}
    assert cg.lines_for("pkg/a.py", tags["run"]) == ["→ calls: helper", "← called by: again"]
    c_tags = {t.name: t for t in rm.index.tags["pkg/c.py"] if t.is_def}
    # other files are named; a guess shows its confidence; namesakes in one file read once
    assert cg.lines_for("pkg/c.py", c_tags["use_dup"]) == ["→ calls: dup (d1.py) 25%, dup (d2.py) 25%"]
    assert cg.lines_for("pkg/c.py", c_tags["use_dup"], limit=1) == ["→ calls: dup (d1.py) 25% +1"]
    assert call_line("calls", edges[:1], "pkg/a.py", 3).endswith(" +2")
