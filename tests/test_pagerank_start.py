"""A large tree's PageRank after a change starts from the vector the index it was patched
from got for the same question, moved onto the new files by path; the answer is the one a
cold map computes."""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import ripmap.cache.blobs as blobs
import ripmap.rank.score as score
from fixtures_rank import init_repo, isolate_git
from ripmap import Ranking, RepoMap

FILES = {
    "app/core.py": "class Engine:\n    def run(self):\n        return helper()\n\ndef helper():\n    return 1\n",
    "app/cli.py": "from app.core import Engine\n\ndef main():\n    return Engine().run()\n",
    "app/util.py": "from app.core import helper\n\ndef twice():\n    return helper() * 2\n",
    "tests/test_core.py": "from app.core import Engine, helper\n\ndef test_run():\n    assert Engine().run() == helper()\n",
}
CHAT = {"chat_files": ["app/cli.py"]}


@dataclass
class Settled:
    """A small tree mapped twice with one question (built, then settled: the second run
    keeps its PageRank vector), solved as a big tree's map is; ``starts`` records where
    every later solve starts."""

    repo: Path
    cache: Path
    question: dict
    before: Ranking
    files: tuple[str, ...]
    starts: list

    def rank(self) -> tuple[Ranking, tuple[str, ...]]:
        with RepoMap(self.repo, cache_dir=self.cache) as rm:
            return rm.rank(**self.question), rm.graph.files

    def cold(self) -> Ranking:
        with RepoMap(self.repo, use_cache=False) as rm:
            return rm.rank(**self.question)


def _settled(tmp_path: Path, monkeypatch, question: dict) -> Settled:
    isolate_git(monkeypatch, tmp_path)
    monkeypatch.setattr(score, "DIRECT_MAX_FILES", 0)  # solved as a big tree's map is, and kept
    monkeypatch.setattr(blobs, "FILE_GRAPH_MIN_REFS", 0)
    seen: list = []
    solve = score.pagerank

    def recording(*args, **kwargs):
        seen.append(kwargs.get("start"))
        return solve(*args, **kwargs)

    monkeypatch.setattr(score, "pagerank", recording)
    s = Settled(init_repo(tmp_path / "r", FILES), tmp_path / "c", question, None, (), seen)
    for _ in range(2):
        s.before, s.files = s.rank()
    del seen[:]
    return s


def _moved_proportions(start: np.ndarray, files: tuple[str, ...], s: Settled) -> None:
    """The files of both trees keep the earlier answer's proportions in ``start``."""
    old = s.before.signals.pagerank
    kept = [f for f in s.files if f in files]
    got = np.array([start[files.index(f)] for f in kept])
    want = np.array([old[s.files.index(f)] for f in kept])
    np.testing.assert_allclose(got / got.sum(), want / want.sum(), rtol=1e-9)


def test_after_a_file_is_added_the_solve_starts_from_the_earlier_vector(tmp_path: Path, monkeypatch) -> None:
    s = _settled(tmp_path, monkeypatch, CHAT)
    time.sleep(0.01)
    (s.repo / "app" / "extra.py").write_text("from app.core import helper\n\ndef thrice():\n    return helper() * 3\n")
    after, files = s.rank()
    assert len(files) == len(s.files) + 1
    assert len(s.starts) == 1 and s.starts[0] is not None and s.starts[0].shape == (len(files),)
    start = s.starts[0]
    assert abs(start.sum() - 1.0) < 1e-12
    _moved_proportions(start, files, s)
    old = s.before.signals.pagerank  # the new file starts at the mean
    at = [files.index(f) for f in s.files]
    new = files.index("app/extra.py")
    np.testing.assert_allclose(start[new] / start[at].sum(), old.mean() / old.sum(), rtol=1e-9)
    want = s.cold()
    assert [after.paths[i] for i in after.order] == [want.paths[i] for i in want.order]
    np.testing.assert_allclose(after.score_values, want.score_values, rtol=0, atol=1e-12)


def test_a_deleted_file_moves_the_earlier_vector_too(tmp_path: Path, monkeypatch) -> None:
    s = _settled(tmp_path, monkeypatch, {"focus": "Engine run helper"})
    (s.repo / "app" / "util.py").unlink()
    after, files = s.rank()
    assert len(s.starts) == 1 and s.starts[0] is not None and s.starts[0].shape == (len(files),)
    np.testing.assert_allclose(after.score_values, s.cold().score_values, rtol=0, atol=1e-12)


def test_a_renamed_file_moves_the_vector_by_path_though_the_count_is_the_same(tmp_path: Path, monkeypatch) -> None:
    s = _settled(tmp_path, monkeypatch, CHAT)
    (s.repo / "app" / "util.py").rename(s.repo / "app" / "a_util.py")  # sorts first: positions move
    after, files = s.rank()
    assert len(files) == len(s.files) and files != s.files
    _moved_proportions(s.starts[0], files, s)
    np.testing.assert_allclose(after.score_values, s.cold().score_values, rtol=0, atol=1e-12)


def test_an_edit_starts_from_the_vector_of_the_tree_it_was_patched_from(tmp_path: Path, monkeypatch) -> None:
    """Not from the newest vector kept for the question: that one can be another tree's
    (here one with two files more, mapped in between), of another length."""
    s = _settled(tmp_path, monkeypatch, CHAT)
    extras = [s.repo / "app" / "extra.py", s.repo / "app" / "more.py"]
    for f in extras:  # two trees more: the first tree's graph is no longer kept (two are)
        f.write_text("def thrice():\n    return 3\n")
        s.rank()  # each keeps its vector: the last is the newest for the question
    for f in extras:
        f.unlink()
    del s.starts[:]
    s.rank()  # the first tree again, patched: its own vector is read back, nothing is solved
    assert s.starts == []
    time.sleep(0.01)
    with open(s.repo / "app" / "util.py", "a") as fh:
        fh.write("\n\ndef four():\n    return 4\n")
    after, files = s.rank()
    assert files == s.files
    assert len(s.starts) == 1 and s.starts[0] is not None
    _moved_proportions(s.starts[0], files, s)
    np.testing.assert_allclose(after.score_values, s.cold().score_values, rtol=0, atol=1e-12)
