"""Which repositories the trainer mines (corpus files, clones), the one case-file format,
and the one way the trainer runs git.

Bad input is the point here: a corpus file with a mistake, a path that is no repository,
a URL that cannot be cloned, a file that is not a case file. Each must end as one line
that says what to fix, never as a traceback or a silently empty training set.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fixtures_rank import commit, init_repo
from ripmap.errors import RipmapError, UsageError
from ripmap.train.cases.casefile import FORMAT_VERSION, read_cases, write_cases
from ripmap.train.cases.corpus import CURATED, RepoSpec, ensure_local, load_corpus
from ripmap.train.cases.oracle import mine_cases
from ripmap.train.git import GitError, run_git


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A small history whose later commits touch two source files together."""
    root = init_repo(tmp_path_factory.mktemp("corpus") / "small", {"a.py": "def a():\n    pass\n",
                                                                  "b.py": "def b():\n    pass\n",
                                                                  "c.py": "def c():\n    pass\n"})
    for day in range(1, 7):
        commit(root, day, ["a.py", "b.py"] if day % 2 else ["b.py", "c.py"], msg=f"fix pair {day}")
    return root


def test_corpus_file_paths_urls_and_names(tmp_path, monkeypatch):
    monkeypatch.setenv("RIPMAP_CORPUS", str(tmp_path / "checkouts"))
    corpus = tmp_path / "fit.toml"
    corpus.write_text('[[repo]]\npath = "rel/one"\nlanguage = "python"\nnotes = "n"\n\n'
                      '[[repo]]\npath = "$RIPMAP_CORPUS/two"\ncommit = "abc123"\n\n'
                      '[[repo]]\nurl = "https://example.org/team/three.git"\n\n'
                      '[[repo]]\nname = "four"\nurl = "https://example.org/x/y"\n', encoding="utf-8")
    specs = load_corpus(corpus)
    assert [s.name for s in specs] == ["one", "two", "three", "four"]
    assert specs[0] == RepoSpec("one", (tmp_path / "rel" / "one").resolve(), None, "python", "n", "")
    assert specs[1].path == tmp_path / "checkouts" / "two" and specs[1].commit == "abc123"
    assert specs[2].path is None and specs[2].url == "https://example.org/team/three.git"


@pytest.mark.parametrize("text,message", [
    ("", "expected one or more [[repo]] tables"),
    ("[[repo]]\nlanguage = 'go'\n", "repo #1 needs a 'path' or a 'url'"),
    ("[[repo]]\npath = 'x'\n[[repo]\n", "cannot read corpus"),
    ("[[repo]]\npath = '$RIPMAP_CORPUS/x'\n", "needs $RIPMAP_CORPUS set"),
])
def test_bad_corpus_files_are_one_line(tmp_path, monkeypatch, text, message):
    monkeypatch.delenv("RIPMAP_CORPUS", raising=False)
    f = tmp_path / "c.toml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError) as info:
        load_corpus(f)
    assert message in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(UsageError, match="cannot read corpus"):
        load_corpus(tmp_path / "missing.toml")


def test_curated_list_names_every_repository_once():
    assert len({s.name for s in CURATED}) == len(CURATED)
    assert all(s.url and s.url.startswith("https://") and s.language and s.path is None for s in CURATED)


def test_ensure_local_uses_paths_and_clones_urls(repo, tmp_path):
    assert ensure_local(RepoSpec("small", path=repo), tmp_path) == repo
    with pytest.raises(UsageError, match="not a git repository"):
        ensure_local(RepoSpec("nothing", path=tmp_path), tmp_path)
    # a URL git can reach offline: the local repository itself
    spec = RepoSpec("copy", url=repo.as_uri())
    dest = ensure_local(spec, tmp_path / "clones")
    assert dest == tmp_path / "clones" / "copy" and (dest / "a.py").is_file()
    assert ensure_local(spec, tmp_path / "clones") == dest  # a second call reuses the clone
    with pytest.raises(RipmapError) as info:
        ensure_local(RepoSpec("gone", url=(tmp_path / "no-such-repo").as_uri()), tmp_path / "clones")
    msg = str(info.value)
    assert msg.startswith("cannot clone ") and "--repo PATH" in msg and "\n" not in msg


def test_case_file_round_trip(repo, tmp_path):
    mined = mine_cases(repo, snapshot_back=4, max_commits=10, holdout=0.3, name="small",
                       tasks=("A", "A+msg", "B"))
    assert mined.cases
    f = tmp_path / "cases.json"
    write_cases([mined], f)
    data = json.loads(f.read_text(encoding="utf-8"))
    assert data["format"] == FORMAT_VERSION and data["repos"][0]["name"] == "small"
    [back] = read_cases(f)
    assert back.cases == mined.cases
    assert (back.repo, back.root, back.snapshot, back.snapshot_time, back.files_at_snapshot) == (
        mined.repo, mined.root, mined.snapshot, mined.snapshot_time, mined.files_at_snapshot)
    # a file written before the format key existed reads the same
    del data["format"]
    f.write_text(json.dumps(data), encoding="utf-8")
    assert read_cases(f)[0].cases == mined.cases


@pytest.mark.parametrize("content,message", [
    (None, "no such file"),
    ("{", "not a cases file"),
    ("[]", "names no repository roots"),
    ('{"cases": []}', "not a cases file"),
    ('{"format": 99, "repos": [], "cases": []}', "format 99 is not supported"),
    ('{"repos": [{"name": "r"}], "cases": []}', "missing field 'root'"),
    ('{"repos": [], "cases": [{"repo": "r"}]}', "not a cases file"),
])
def test_bad_case_files_are_one_line(tmp_path, content, message):
    f = tmp_path / "cases.json"
    if content is not None:
        f.write_text(content, encoding="utf-8")
    with pytest.raises(UsageError) as info:
        read_cases(f)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_git_runner_ignores_the_callers_git_environment(repo, tmp_path, monkeypatch):
    # a trainer started from a git hook inherits GIT_DIR: it must not redirect the commands
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("GIT_WORK_TREE", str(tmp_path))
    assert run_git(repo, "rev-parse", "--show-toplevel").strip() == str(repo)
    assert "a.py" in run_git(repo, "ls-files").split()
    with pytest.raises(GitError) as info:
        run_git(repo, "rev-parse", "no-such-revision")
    assert str(info.value).startswith(f"{repo}: git rev-parse:") and info.value.detail
    assert os.environ["GIT_DIR"]  # the caller's environment itself is left alone


def test_the_shipped_corpus_lists_share_no_repository(monkeypatch):
    # fitting on a repository the figures are judged on would make them worthless
    monkeypatch.setenv("RIPMAP_CORPUS", "/nonexistent")
    here = Path(__file__).resolve().parents[1] / "bench" / "corpus"
    seen: dict[str, str] = {}
    for name in ("fit.toml", "eval.toml", "fresh.toml", "languages.toml"):
        for spec in load_corpus(here / name):
            key = (spec.url or spec.name).lower().rstrip("/")
            assert key not in seen, f"{key} is in both {seen[key]} and {name}"
            seen[key] = name
    assert len(seen) == 11 + 17 + 6 + 10
