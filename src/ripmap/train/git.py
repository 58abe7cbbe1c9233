"""The one way the trainer runs git (mining history, snapshot worktrees, cloning a corpus).

The environment's ``GIT_*`` variables are dropped: a trainer started from a git hook or
an IDE inherits ``GIT_DIR`` / ``GIT_INDEX_FILE``, which would silently point every
command at the wrong repository. Paths are printed unquoted (``core.quotepath=off``) so
non-ASCII file names come back as they are on disk. Every failure is one
:class:`GitError` line naming the repository and the git subcommand.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ..errors import RipmapError

DEFAULT_TIMEOUT_S = 120.0


class GitError(RipmapError):
    """A git command failed; ``detail`` is git's last line of stderr (or "timed out")."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


def run_git(root: str | Path | None, *args: str, timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """stdout of ``git -C root ARGS`` (no ``-C`` when ``root`` is None, e.g. for a clone)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    where = ["-C", str(root)] if root is not None else []
    who = f"{root}: " if root is not None else ""
    try:
        out = subprocess.run(["git", "-c", "core.quotepath=off", *where, *args], capture_output=True, text=True,
                             timeout=timeout, env=env, errors="replace")
    except FileNotFoundError:
        raise RipmapError("git is not installed") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"{who}git {args[0]} timed out", "timed out") from None
    if out.returncode != 0:
        msg = (out.stderr.strip().splitlines() or ["failed"])[-1]
        raise GitError(f"{who}git {args[0]}: {msg}", msg)
    return out.stdout


__all__ = ["GitError", "run_git"]
