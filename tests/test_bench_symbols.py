"""bench/symbols.py: the answer it scores maps against (the definitions a commit changed)
and the paired comparison of two runs, case by case."""
from __future__ import annotations

from pathlib import Path

from bench_scripts import load_bench
from fixtures_rank import git, init_repo

BEFORE = ("class Store:\n"
          "    def get(self, key):\n"
          "        return self.data[key]\n"
          "\n"
          "    def put(self, key, value):\n"
          "        self.data[key] = value\n"
          "\n"
          "def helper():\n"
          "    return 1\n")


def test_changed_definitions_are_the_innermost_ones_holding_a_changed_line(tmp_path: Path) -> None:
    sym = load_bench("symbols")
    repo = init_repo(tmp_path / "r", {"store.py": BEFORE, "other.py": "X = 1\n"})
    # a line changed inside put, and a line inserted at the end of helper
    after = BEFORE.replace("self.data[key] = value", "self.data[key] = value or None")
    after = after.replace("    return 1\n", "    return 1\n    # done\n")
    (repo / "store.py").write_text(after)
    git(repo, "commit", "-qam", "change put and helper")
    head = git(repo, "rev-parse", "HEAD").strip()
    assert sym.changed_definitions(repo, head, "store.py") == {"put", "helper"}
    assert sym.changed_definitions(repo, head, "other.py") == set()  # not in the commit


def test_a_paired_comparison_pairs_the_same_seed_of_a_commit(tmp_path: Path) -> None:
    """A commit poses one case per seed file: rows of two runs are paired by seed too, so
    a run compared with itself differs by nothing."""
    sym = load_bench("symbols")
    rows = [{"repo": "r", "commit": "c1", "task": "A", "seed": s, "weight": 1.0, "file_shown": 1.0,
             "names": 2, "hit": h, "chance": 1.0, "names_all": 2} for s, h in (("a.py", 2), ("b.py", 0))]
    same = sym.paired(rows, list(reversed(rows)), ["A"])
    assert "| A | 2 | 0.5000 | 0.5000 | +0.0000" in same
    better = [dict(r, hit=2) for r in rows]
    assert "| A | 2 | 0.5000 | 1.0000 | +0.5000" in sym.paired(better, rows, ["A"])
