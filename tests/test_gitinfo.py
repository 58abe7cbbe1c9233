"""Tests for ripmap.gitinfo against real git repositories with controlled dates.

Every expected number below is worked out by hand from the planted history, so a
wrong age, churn or Jaccard value in the code makes a test fail.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from ripmap import gitinfo
from ripmap.cache.blobs import decode_git, encode_git
from ripmap.gitinfo import (
    SHALLOW_NOTE,
    GitSignals,
    git_head,
    git_toplevel,
    load_git_signals,
)

from fixtures_rank import isolate_git

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")

T0 = 1_700_000_000  # 2023-11-14, an arbitrary fixed epoch for planted commits
DAY = 86_400


@pytest.fixture(autouse=True)
def _isolate_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep the user's git config and any enclosing repository out of the tests."""
    isolate_git(monkeypatch, tmp_path)


def git(cwd: Path, *args: str, when: float | None = None) -> str:
    env = dict(os.environ)
    if when is not None:
        stamp = f"@{int(when)} +0000"
        env.update(GIT_AUTHOR_DATE=stamp, GIT_COMMITTER_DATE=stamp)
    r = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main",
         "-c", "commit.gpgsign=false", *args],
        cwd=cwd, env=env, capture_output=True, text=True, check=True,
    )
    return r.stdout.strip()


def init_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    return path


def commit(repo: Path, when: float, *paths: str) -> str:
    """Append a line to each path (creating it), commit at ``when``, return the sha."""
    for p in paths:
        f = repo / p
        f.parent.mkdir(parents=True, exist_ok=True)
        with f.open("a", encoding="utf-8") as fh:
            fh.write(f"{when}\n")
    git(repo, "add", "--", *paths)
    git(repo, "commit", "-q", "-m", f"c{when}", when=when)
    return git(repo, "rev-parse", "HEAD")


def planted(repo: Path) -> list[str]:
    """a and b change together in 3 of a's 4 commits; c in the first and last.

    C_a = {1,2,3,4}, C_b = {1,2,3}, C_c = {1,5}
    J(a,b) = 3/4, J(a,c) = 1/5, J(b,c) = 1/4.
    now = T0 + 10 d  ->  age a = 5.5 d, b = 7 d, c = 0 d; churn 4, 3, 2.
    """
    init_repo(repo)
    return [
        commit(repo, T0, "a.py", "b.py", "c.py"),
        commit(repo, T0 + 1 * DAY, "a.py", "b.py"),
        commit(repo, T0 + 3 * DAY, "a.py", "b.py"),
        commit(repo, T0 + 4.5 * DAY, "a.py"),
        commit(repo, T0 + 10 * DAY, "c.py"),
    ]


def by_name(sig: GitSignals, arr: np.ndarray) -> dict[str, float]:
    return {f: float(arr[i]) for i, f in enumerate(sig.files)}


# ---------------------------------------------------------------------------- basics


def test_known_history_age_churn_and_head(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    shas = planted(repo)
    sig = load_git_signals(repo)
    assert sig.files == ("a.py", "b.py", "c.py")
    assert sig.index == {"a.py": 0, "b.py": 1, "c.py": 2}
    assert by_name(sig, sig.age_days) == pytest.approx({"a.py": 5.5, "b.py": 7.0, "c.py": 0.0})
    assert by_name(sig, sig.churn) == {"a.py": 4, "b.py": 3, "c.py": 2}
    assert sig.churn.dtype.kind == "i"
    assert sig.now == T0 + 10 * DAY
    assert sig.head == shas[-1] == git_head(repo)
    assert sig.notes == ()
    assert not sig.is_empty
    assert sig.commit_files.shape == (5, 3)


def test_ages_do_not_depend_on_wall_clock(tmp_path: Path) -> None:
    """The reference time is the newest commit, so a years-old history reads as fresh."""
    repo = tmp_path / "r"
    planted(repo)
    assert float(load_git_signals(repo).age_days.min()) == 0.0


def test_cochange_jaccard_hand_computed(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    planted(repo)
    sig = load_git_signals(repo)
    a, b, c = (sig.index[p] for p in ("a.py", "b.py", "c.py"))

    v = sig.cochange_vector(np.array([a]))
    # A seed is not compared with itself.
    assert v.tolist() == pytest.approx([0.0, 3 / 4, 1 / 5])

    v = sig.cochange_vector(np.array([b, c]))  # max over seeds
    assert v[a] == pytest.approx(max(3 / 4, 1 / 5))
    assert v[b] == pytest.approx(1 / 4)  # b vs the other seed c
    assert v[c] == pytest.approx(1 / 4)

    m = sig.cochange_vector([b, c], reduce="mean")
    assert m[a] == pytest.approx((3 / 4 + 1 / 5) / 2)
    assert m[b] == pytest.approx(1 / 4)
    assert m[c] == pytest.approx(1 / 4)

    assert sig.cochange(["a.py", "not-there.py"]) == pytest.approx({"b.py": 0.75, "c.py": 0.2})
    assert sig.cochange([]) == {}
    assert sig.cochange_vector(np.array([], dtype=int)).tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(IndexError):
        sig.cochange_vector([3])
    with pytest.raises(ValueError):
        sig.cochange_vector([a], reduce="median")  # type: ignore[arg-type]


def test_large_commit_counts_for_churn_not_cochange(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    commit(repo, T0, "a.py", "b.py")
    commit(repo, T0 + DAY, "a.py")
    commit(repo, T0 + 2 * DAY, "a.py", "b.py", "x.py", "y.py")  # 4 files > 3

    sig = load_git_signals(repo, max_commit_files=3)
    assert by_name(sig, sig.churn) == {"a.py": 3, "b.py": 2, "x.py": 1, "y.py": 1}
    assert by_name(sig, sig.age_days) == pytest.approx({"a.py": 0, "b.py": 0, "x.py": 0, "y.py": 0})
    assert sig.commit_files.shape[0] == 2
    # Small commits only: C_a = {1,2}, C_b = {1}; x never co-changes.
    assert sig.cochange(["a.py"]) == pytest.approx({"b.py": 1 / 2})

    # With the big commit allowed: C_a = {1,2,3}, C_b = {1,3}, C_x = C_y = {3}.
    full = load_git_signals(repo, max_commit_files=4)
    assert full.cochange(["a.py"]) == pytest.approx({"b.py": 2 / 3, "x.py": 1 / 3, "y.py": 1 / 3})


def test_until_cuts_history(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    shas = planted(repo)
    git(repo, "tag", "snap")
    commit(repo, T0 + 20 * DAY, "c.py", "d.py")  # after the snapshot

    now_sig = load_git_signals(repo)
    assert now_sig.cochange(["d.py"]) == pytest.approx({"c.py": 1 / 3})

    for until in ("snap", shas[-1], "HEAD~1"):
        sig = load_git_signals(repo, until=until)
        assert sig.files == ("a.py", "b.py", "c.py")
        assert sig.head == shas[-1]
        assert sig.now == T0 + 10 * DAY
        assert by_name(sig, sig.age_days) == pytest.approx({"a.py": 5.5, "b.py": 7.0, "c.py": 0.0})
        assert by_name(sig, sig.churn) == {"a.py": 4, "b.py": 3, "c.py": 2}
        assert sig.cochange(["c.py"]) == pytest.approx({"a.py": 1 / 5, "b.py": 1 / 4})

    earlier = load_git_signals(repo, until=shas[1])
    assert by_name(earlier, earlier.churn) == {"a.py": 2, "b.py": 2, "c.py": 1}
    assert by_name(earlier, earlier.age_days) == pytest.approx({"a.py": 0, "b.py": 0, "c.py": 1})


def test_bad_until_gives_empty_with_note(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    planted(repo)
    for until in ("no-such-branch", "--all"):
        sig = load_git_signals(repo, until=until)
        assert sig.is_empty and len(sig.notes) == 1 and until in sig.notes[0]


def test_max_commits_limits_history(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    planted(repo)
    sig = load_git_signals(repo, max_commits=2)  # commits 4 (a) and 5 (c)
    assert by_name(sig, sig.churn) == {"a.py": 1, "c.py": 1}
    assert by_name(sig, sig.age_days) == pytest.approx({"a.py": 5.5, "c.py": 0.0})


def test_merges_are_skipped(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    commit(repo, T0, "a.py")
    git(repo, "checkout", "-q", "-b", "side")
    commit(repo, T0 + DAY, "b.py")
    git(repo, "checkout", "-q", "main")
    commit(repo, T0 + 2 * DAY, "a.py")
    git(repo, "merge", "-q", "--no-ff", "-m", "merge", "side", when=T0 + 5 * DAY)
    sig = load_git_signals(repo)
    # The merge commit (T0+5d) is not considered, so now = T0+2d.
    assert by_name(sig, sig.churn) == {"a.py": 2, "b.py": 1}
    assert by_name(sig, sig.age_days) == pytest.approx({"a.py": 0.0, "b.py": 1.0})


# ---------------------------------------------------------------------------- file list


def test_current_file_list_filters_without_changing_jaccard(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    planted(repo)
    sig = load_git_signals(repo, files=["./a.py", "c.py", "gone.py"])
    assert sig.files == ("a.py", "c.py")
    assert by_name(sig, sig.churn) == {"a.py": 4, "c.py": 2}
    # |C_a| = 4 still counts the commits shared with the dropped b.py.
    assert sig.cochange(["a.py"]) == pytest.approx({"c.py": 1 / 5})
    cached = load_git_signals(repo).restrict(["a.py", "c.py"])
    assert cached.files == sig.files
    assert (cached.commit_files != sig.commit_files).nnz == 0


# ---------------------------------------------------------------------------- failures


def test_not_a_repo(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.py").write_text("x\n")
    sig = load_git_signals(plain)
    assert sig.is_empty and sig.head is None
    assert len(sig.notes) == 1 and "not a git repository" in sig.notes[0]
    assert git_head(plain) is None
    assert git_toplevel(plain) is None


def test_missing_directory(tmp_path: Path) -> None:
    sig = load_git_signals(tmp_path / "nope")
    assert sig.is_empty and len(sig.notes) == 1 and "\n" not in sig.notes[0]


def test_empty_repo(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    sig = load_git_signals(repo)
    assert sig.is_empty and len(sig.notes) == 1 and "no commits" in sig.notes[0]
    assert git_head(repo) is None


def test_git_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "r"
    planted(repo)
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    sig = load_git_signals(repo)
    assert sig.is_empty and len(sig.notes) == 1 and "git is not installed" in sig.notes[0]
    assert git_head(repo) is None
    assert git_toplevel(repo) is None


def test_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fake = fake_bin / "git"
    fake.write_text("#!/bin/sh\nexec sleep 5\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}/usr/bin{os.pathsep}/bin")
    start = time.monotonic()
    sig = load_git_signals(tmp_path, timeout=0.3)
    assert time.monotonic() - start < 3
    assert sig.is_empty and len(sig.notes) == 1 and "timed out" in sig.notes[0]


def test_bad_arguments_raise(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        load_git_signals(tmp_path, max_commits=0)
    with pytest.raises(ValueError):
        load_git_signals(tmp_path, max_commit_files=0)


# ---------------------------------------------------------------------------- layouts


def test_shallow_clone(tmp_path: Path) -> None:
    src = tmp_path / "src"
    planted(src)
    dst = tmp_path / "dst"
    git(tmp_path, "clone", "-q", "--depth", "3", f"file://{src}", str(dst))
    assert git(dst, "rev-parse", "--is-shallow-repository") == "true"
    sig = load_git_signals(dst)
    assert SHALLOW_NOTE in sig.notes
    # Visible: commit 3 (boundary, dropped: git shows it as adding the whole tree),
    # commit 4 (a) and commit 5 (c).
    assert by_name(sig, sig.churn) == {"a.py": 1, "c.py": 1}
    assert by_name(sig, sig.age_days) == pytest.approx({"a.py": 5.5, "c.py": 0.0})

    full = load_git_signals(src)
    assert SHALLOW_NOTE not in full.notes


def test_subdirectory_root(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    commit(repo, T0, "src/pkg/m.py", "src/pkg/n.py", "top.py", "docs/x.md")
    commit(repo, T0 + DAY, "src/pkg/m.py")
    commit(repo, T0 + 2 * DAY, "top.py")  # outside root: not considered at all

    sub = repo / "src"
    sig = load_git_signals(sub, max_commit_files=2)
    assert sig.files == ("pkg/m.py", "pkg/n.py")
    assert sig.now == T0 + DAY
    assert by_name(sig, sig.age_days) == pytest.approx({"pkg/m.py": 0.0, "pkg/n.py": 1.0})
    assert by_name(sig, sig.churn) == {"pkg/m.py": 2, "pkg/n.py": 1}
    # The first commit touches 4 files but only 2 under root, so it is "small" here.
    assert sig.cochange(["pkg/m.py"]) == pytest.approx({"pkg/n.py": 1 / 2})
    assert git_toplevel(sub).resolve() == repo.resolve()
    assert git_head(sub) == git_head(repo)

    # From the top, the same first commit has 4 files and is too large.
    top = load_git_signals(repo, max_commit_files=2)
    assert top.cochange(["src/pkg/m.py"]) == {}


def test_odd_file_names(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    names = ["dir with space/ä ö.py", "naïve 名前.py", 'tab\there "q".py', "new\nline.py"]
    commit(repo, T0, *names)
    commit(repo, T0 + 2 * DAY, names[0], names[1])
    sig = load_git_signals(repo)
    assert set(sig.files) == set(names)
    assert by_name(sig, sig.churn) == {names[0]: 2, names[1]: 2, names[2]: 1, names[3]: 1}
    assert sig.age_days[sig.index[names[3]]] == pytest.approx(2.0)
    assert sig.cochange([names[0]])[names[1]] == pytest.approx(1.0)


def test_renames_are_plain_paths(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r")
    commit(repo, T0, "old.py")
    git(repo, "mv", "old.py", "new.py")
    git(repo, "commit", "-q", "-m", "mv", when=T0 + DAY)
    sig = load_git_signals(repo)
    assert by_name(sig, sig.churn) == {"new.py": 1, "old.py": 2}
    assert load_git_signals(repo, files=["new.py"]).files == ("new.py",)


# ---------------------------------------------------------------------------- caching


def test_bytes_round_trip(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    planted(repo)
    sig = load_git_signals(repo)
    back = decode_git(encode_git(sig))
    assert back.files == sig.files and back.index == sig.index
    assert back.head == sig.head and back.notes == sig.notes and back.now == sig.now
    np.testing.assert_array_equal(back.age_days, sig.age_days)
    np.testing.assert_array_equal(back.churn, sig.churn)
    assert back.commit_files.shape == sig.commit_files.shape
    assert (back.commit_files != sig.commit_files).nnz == 0
    assert back.cochange(["a.py"]) == pytest.approx({"b.py": 0.75, "c.py": 0.2})

    empty = decode_git(encode_git(GitSignals.empty("why")))
    assert empty.is_empty and empty.notes == ("why",)

    odd = GitSignals(files=("caf\udce9.py",), age_days=np.array([1.5]), churn=np.array([2]),
                     commit_files=np.ones((1, 1)), notes=("shallow",), head="abc", now=7)
    odd2 = decode_git(encode_git(odd))
    assert odd2.files == ("caf\udce9.py",) and odd2.churn.tolist() == [2]

    with pytest.raises(ValueError):
        decode_git(b"definitely not npz")


def test_signals_are_read_only(tmp_path: Path) -> None:
    repo = tmp_path / "r"
    planted(repo)
    sig = load_git_signals(repo)
    with pytest.raises(ValueError):
        sig.churn[0] = 99
    with pytest.raises(AttributeError):
        sig.head = "x"  # type: ignore[misc]


def test_parse_large_log_counts() -> None:
    """A 2,000-commit log parses into exact churn totals (speed is measured in bench/, not here)."""
    parts = []
    for c in range(2000):
        parts.append(f"\x1e{c:040x} {T0 + c}\0\n")
        parts.append("".join(f"pkg{(c + k) % 50}/mod{(c * 7 + k) % 300}.py\0" for k in range(5)))
    text = "".join(parts)
    parsed = gitinfo._parse_log(text, frozenset())
    sig = gitinfo._build(*parsed, 30, "h", ())
    assert int(sig.churn.sum()) == 10_000
    assert sig.cochange_vector(np.arange(5)).shape == (len(sig.files),)


# ---------------------------------------------------------------------------- timeline


def test_a_timeline_view_is_the_history_a_load_at_the_parent_reads(tmp_path: Path) -> None:
    """``GitTimeline.before(sha)`` slices one log; it must give what ``load_git_signals`` gives
    at ``sha``'s parent, for the same window of commits (ages, churn, co-change, head)."""
    repo = tmp_path / "r"
    shas = planted(repo)
    shas.append(commit(repo, T0 + 12 * DAY, *[f"big/{i}.py" for i in range(5)], "a.py"))  # large
    shas.append(commit(repo, T0 + 13 * DAY, "b.py", "d.py"))
    tl = gitinfo.load_git_timeline(repo, commits=2, max_commits=4, max_commit_files=3)
    assert tl is not None and tl.shas[0] == shas[-1] and len(tl.shas) == 6  # 2 + 4 asked, 7 exist
    tl = gitinfo.load_git_timeline(repo, commits=3, max_commits=4, max_commit_files=3)
    for sha, parent in ((shas[-1], shas[-2]), (shas[-2], shas[-3]), (shas[-3], shas[-4])):
        view = tl.before(sha)
        ref = load_git_signals(repo, until=parent, max_commits=4, max_commit_files=3)
        assert view.head == ref.head == parent and view.now == ref.now
        touched = {f for f in view.files if view.churn[view.index[f]] > 0}
        assert touched == set(ref.files)
        for f in ref.files:
            assert view.churn[view.index[f]] == ref.churn[ref.index[f]]
            assert view.age_days[view.index[f]] == pytest.approx(ref.age_days[ref.index[f]])
        for seed in ref.files:
            q_ref = np.zeros(len(ref.files))
            q_ref[ref.index[seed]] = 1.0
            q_view = np.zeros(len(view.files))
            q_view[view.index[seed]] = 1.0
            got = view.association_vector(q_view)
            want = ref.association_vector(q_ref)
            assert {f: got[view.index[f]] for f in ref.files} == pytest.approx(dict(zip(ref.files, want)))
    # nothing from the commit itself or after it: d.py is only in the last commit
    assert tl.before(shas[-1]).churn[tl.before(shas[-1]).index["d.py"]] == 0
    assert np.isinf(tl.before(shas[-1]).age_days[tl.before(shas[-1]).index["d.py"]])
    # the oldest commit read has no history before it in the log read
    assert tl.before(tl.shas[-1]).is_empty
    with pytest.raises(KeyError):
        tl.before("0" * 40)


def test_each_view_has_its_own_serial(tmp_path: Path) -> None:
    """Memos of derived values are keyed by the serial: two views of one timeline (or two
    loads of one history) must never share one."""
    repo = tmp_path / "r"
    shas = planted(repo)
    tl = gitinfo.load_git_timeline(repo, commits=2)
    assert tl is not None
    serials = {tl.before(shas[-1]).serial, tl.before(shas[-1]).serial, load_git_signals(repo).serial,
               load_git_signals(repo).serial}
    assert len(serials) == 4


def test_a_timeline_that_git_cannot_read_is_none(tmp_path: Path) -> None:
    assert gitinfo.load_git_timeline(tmp_path) is None
    repo = tmp_path / "r"
    planted(repo)
    assert gitinfo.load_git_timeline(repo, tip="no-such-commit") is None
    with pytest.raises(ValueError):
        gitinfo.load_git_timeline(repo, commits=-1)


def test_recent_partners_are_what_the_seeds_newest_commits_touched(tmp_path: Path) -> None:
    """planted(): a's newest commits are c4 (a alone) and c3 (a, b); c's are c5 (c alone)
    and c1 (a, b, c). Shares worked out by hand."""
    repo = tmp_path / "r"
    planted(repo)
    sig = load_git_signals(repo)
    q = {f: np.zeros(len(sig.files)) for f in ("a.py", "c.py")}
    for f, v in q.items():
        v[sig.index[f]] = 1.0
    assert by_name(sig, sig.recent_partners(q["a.py"], 2)) == pytest.approx({"a.py": 0.0, "b.py": 0.5, "c.py": 0.0})
    assert by_name(sig, sig.recent_partners(q["a.py"], 3)) == pytest.approx({"a.py": 0.0, "b.py": 2 / 3, "c.py": 0.0})
    assert by_name(sig, sig.recent_partners(q["c.py"], 2)) == pytest.approx({"a.py": 0.5, "b.py": 0.5, "c.py": 0.0})
    both = sig.recent_partners(q["a.py"] + q["c.py"], 2)  # the largest share over the seeds
    assert by_name(sig, both) == pytest.approx({"a.py": 0.5, "b.py": 0.5, "c.py": 0.0})
    assert not sig.recent_partners(np.zeros(len(sig.files)), 2).any()
