"""A large tree's PageRank after a file came or went starts from the vector the tree
before it got for the same question, moved onto the new files by path; the answer is the
one a cold map computes."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import ripmap.cache.blobs as blobs
import ripmap.rank.score as score
from fixtures_rank import init_repo, isolate_git
from ripmap import RepoMap

FILES = {
    "app/core.py": "class Engine:\n    def run(self):\n        return helper()\n\ndef helper():\n    return 1\n",
    "app/cli.py": "from app.core import Engine\n\ndef main():\n    return Engine().run()\n",
    "app/util.py": "from app.core import helper\n\ndef twice():\n    return helper() * 2\n",
    "tests/test_core.py": "from app.core import Engine, helper\n\ndef test_run():\n    assert Engine().run() == helper()\n",
}


def _starts(monkeypatch) -> list:
    seen: list = []
    solve = score.pagerank

    def recording(*args, **kwargs):
        seen.append(kwargs.get("start"))
        return solve(*args, **kwargs)

    monkeypatch.setattr(score, "pagerank", recording)
    return seen


def test_after_a_file_is_added_the_solve_starts_from_the_earlier_vector(tmp_path: Path, monkeypatch) -> None:
    isolate_git(monkeypatch, tmp_path)
    monkeypatch.setattr(score, "DIRECT_MAX_FILES", 0)  # solved as a big tree's map is, and kept
    monkeypatch.setattr(blobs, "FILE_GRAPH_MIN_REFS", 0)
    repo = init_repo(tmp_path / "r", FILES)
    cache = tmp_path / "c"
    starts = _starts(monkeypatch)
    for _ in range(2):  # built, then settled: the second keeps its vector
        with RepoMap(repo, cache_dir=cache) as rm:
            before = rm.rank(chat_files=["app/cli.py"])
            before_files = rm.graph.files
    time.sleep(0.01)
    (repo / "app" / "extra.py").write_text("from app.core import helper\n\ndef thrice():\n    return helper() * 3\n")
    del starts[:]
    with RepoMap(repo, cache_dir=cache) as rm:
        after = rm.rank(chat_files=["app/cli.py"])
        files = rm.graph.files
    assert len(files) == len(before_files) + 1
    assert len(starts) == 1 and starts[0] is not None and starts[0].shape == (len(files),)
    start = starts[0]
    # the files of both trees keep the earlier answer's proportions; the new one the mean
    old = before.signals.pagerank
    at = [files.index(f) for f in before_files]
    assert abs(start.sum() - 1.0) < 1e-12
    np.testing.assert_allclose(start[at] / start[at].sum(), old / old.sum(), rtol=1e-9)
    new = files.index("app/extra.py")
    np.testing.assert_allclose(start[new] / start[at].sum(), old.mean() / old.sum(), rtol=1e-9)
    with RepoMap(repo, use_cache=False) as cold:
        want = cold.rank(chat_files=["app/cli.py"])
    assert [after.paths[i] for i in after.order] == [want.paths[i] for i in want.order]
    np.testing.assert_allclose(after.score_values, want.score_values, rtol=0, atol=1e-12)


def test_a_deleted_file_moves_the_earlier_vector_too(tmp_path: Path, monkeypatch) -> None:
    isolate_git(monkeypatch, tmp_path)
    monkeypatch.setattr(score, "DIRECT_MAX_FILES", 0)
    monkeypatch.setattr(blobs, "FILE_GRAPH_MIN_REFS", 0)
    repo = init_repo(tmp_path / "r", FILES)
    cache = tmp_path / "c"
    starts = _starts(monkeypatch)
    for _ in range(2):
        with RepoMap(repo, cache_dir=cache) as rm:
            rm.rank(focus="Engine run helper")
    (repo / "app" / "util.py").unlink()
    del starts[:]
    with RepoMap(repo, cache_dir=cache) as rm:
        after = rm.rank(focus="Engine run helper")
        n = rm.graph.n_files
    assert len(starts) == 1 and starts[0] is not None and starts[0].shape == (n,)
    with RepoMap(repo, use_cache=False) as cold:
        want = cold.rank(focus="Engine run helper")
    np.testing.assert_allclose(after.score_values, want.score_values, rtol=0, atol=1e-12)


def test_a_renamed_file_moves_the_vector_by_path_though_the_count_is_the_same(tmp_path: Path, monkeypatch) -> None:
    isolate_git(monkeypatch, tmp_path)
    monkeypatch.setattr(score, "DIRECT_MAX_FILES", 0)
    monkeypatch.setattr(blobs, "FILE_GRAPH_MIN_REFS", 0)
    repo = init_repo(tmp_path / "r", FILES)
    cache = tmp_path / "c"
    starts = _starts(monkeypatch)
    for _ in range(2):
        with RepoMap(repo, cache_dir=cache) as rm:
            before = rm.rank(chat_files=["app/cli.py"])
            before_files = rm.graph.files
    (repo / "app" / "util.py").rename(repo / "app" / "a_util.py")  # sorts first: positions move
    del starts[:]
    with RepoMap(repo, cache_dir=cache) as rm:
        after = rm.rank(chat_files=["app/cli.py"])
        files = rm.graph.files
    assert len(files) == len(before_files) and files != before_files
    start, old = starts[0], before.signals.pagerank
    kept = [f for f in before_files if f in files]
    got = np.array([start[files.index(f)] for f in kept])
    want = np.array([old[before_files.index(f)] for f in kept])
    np.testing.assert_allclose(got / got.sum(), want / want.sum(), rtol=1e-9)
    with RepoMap(repo, use_cache=False) as cold:
        want_scores = cold.rank(chat_files=["app/cli.py"]).score_values
    np.testing.assert_allclose(after.score_values, want_scores, rtol=0, atol=1e-12)
