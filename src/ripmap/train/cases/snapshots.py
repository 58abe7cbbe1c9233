"""Snapshot worktrees: each repository as it was before the commits its cases come from.

A case is ranked on the code *and* the history of its snapshot; a detached worktree whose
HEAD is the snapshot commit gives both (``git log`` run inside it cannot see the future).
They live in the cache dir, are made once and reused by every evaluation and worker.
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from ...errors import RipmapError
from ..git import run_git


def snapshot_dir(cache_dir: Path, root: Path, sha: str) -> Path:
    key = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:12]
    return cache_dir / "snapshots" / f"{root.name}-{key}-{sha[:12]}"


def materialize(root: str | Path, sha: str, cache_dir: str | Path) -> Path:
    """A detached worktree of ``root`` at ``sha`` in the cache dir (made once, reused).

    Its HEAD is the snapshot, so git history seen from it ends at the snapshot: the
    ranker's recency, churn and co-change cannot see the commits being predicted.
    """
    root = Path(root).resolve()
    dest = snapshot_dir(Path(cache_dir), root, sha)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # several workers sharing a cache dir must not race on `git worktree add`
    with open(dest.parent / ".lock", "a+") as lock:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        except (ImportError, OSError):  # no advisory locks here: best effort
            pass
        return _materialize_locked(root, sha, dest)


def _materialize_locked(root: Path, sha: str, dest: Path) -> Path:
    if dest.is_dir() and (dest / ".git").exists():
        try:
            if run_git(dest, "rev-parse", "HEAD").strip() == sha:
                return dest
        except RipmapError:
            pass
        shutil.rmtree(dest, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    run_git(root, "worktree", "prune")
    run_git(root, "worktree", "add", "--detach", "--force", str(dest), sha, timeout=600)
    return dest


def cleanup_snapshots(root: str | Path, cache_dir: str | Path) -> int:
    """Remove every snapshot worktree of ``root`` from the cache dir; returns how many."""
    root = Path(root).resolve()
    base = Path(cache_dir) / "snapshots"
    n = 0
    if base.is_dir():
        key = hashlib.sha1(str(root).encode()).hexdigest()[:12]
        for d in base.glob(f"{root.name}-{key}-*"):
            try:
                run_git(root, "worktree", "remove", "--force", str(d))
            except RipmapError:
                shutil.rmtree(d, ignore_errors=True)
            n += 1
    try:
        run_git(root, "worktree", "prune")
    except RipmapError:
        pass
    return n


__all__ = ["cleanup_snapshots", "materialize", "snapshot_dir"]
