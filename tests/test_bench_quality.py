"""bench/quality.py: a corpus run goes on past a repository it cannot measure, and says so."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench_scripts import BENCH, load_bench
from ripmap.errors import RipmapError, UsageError


def test_a_repository_that_cannot_be_measured_is_skipped_and_named(tmp_path: Path, capsys) -> None:
    q = load_bench("quality")

    def measure(repo: Path) -> list[dict]:
        if repo.name == "broken":
            raise RipmapError(f"{repo}: git worktree: fatal: Could not reset index file to revision 'HEAD'.")
        return [{"repo": repo.name}]

    rows, skipped = q.measure_each([tmp_path / "a", tmp_path / "broken", tmp_path / "b"], measure)
    assert [r["repo"] for r in rows] == ["a", "b"]
    assert len(skipped) == 1 and skipped[0].startswith("broken (") and "git worktree" in skipped[0]
    assert "broken: skipped:" in capsys.readouterr().err
    note = q.skipped_note(skipped)
    assert "Not measured (1)" in note and "broken" in note
    assert q.skipped_note([]) == ""


def test_a_usage_error_still_ends_the_run(tmp_path: Path) -> None:
    q = load_bench("quality")

    def measure(repo: Path) -> list[dict]:
        raise UsageError("bad option")

    with pytest.raises(UsageError):
        q.measure_each([tmp_path / "a"], measure)


def test_when_no_repository_can_be_measured_it_exits_with_one_line(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.py").write_text("x = 1\n")
    out = subprocess.run([sys.executable, str(BENCH / "quality.py"), str(plain), "--cache-dir", str(tmp_path / "c")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert lines[0].startswith("plain: skipped:") and "not a git repository" in lines[0]
    assert lines[-1] == "quality.py: no repository could be measured (1 skipped)"
