"""The bench scripts given a path that is no repository: one line, a non-zero exit, no traceback."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench_scripts import BENCH


@pytest.mark.parametrize("argv", [
    ["rank.py", "{missing}"],
    ["extract.py", "{missing}"],
    ["compare_aider.py", "{missing}", "--aider-python", sys.executable],
    ["scale.py", "run", "{plain}"],
    ["scale.py", "server", "{missing}"],
    ["symbols.py", "--corpus", "{missing}/corpus.toml"],
    ["quality.py", "--corpus", "{missing}/corpus.toml"],
])
def test_a_path_that_is_no_repository_is_one_line(argv: list[str], tmp_path: Path) -> None:
    plain = tmp_path / "plain"  # a directory outside any git work tree
    plain.mkdir()
    args = [a.format(missing=tmp_path / "missing", plain=plain) for a in argv]
    out = subprocess.run([sys.executable, str(BENCH / args[0]), *args[1:]], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(args[0].replace(".py", "") + ".py: "), out.stderr
