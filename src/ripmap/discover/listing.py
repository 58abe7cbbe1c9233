"""Where the candidate paths come from: git when the root is in a work tree, else a walk.

Git already knows the ignore rules exactly (including ``.git/info/exclude`` and the
user's global excludes), so inside a work tree the candidates are ``git ls-files
--cached --others --exclude-standard``. Without git the tree is walked, applying every
``.gitignore`` found on the way, so a plain checkout or tarball maps the same way.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pathspec

from .checks import os_reason
from .ignore import Filters, is_ignored, read_gitignore

# -- candidates from git -----------------------------------------------------

#: Variables that would make ``git -C root`` look at some other repository
#: (they are set, for instance, while a git hook runs).
_GIT_ENV_OVERRIDES = (
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
    "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_PREFIX",
)


def git_list(root: Path, notes: list[str]) -> list[str] | None:
    """Root-relative paths git would show, or None if git cannot answer."""
    env = {k: v for k, v in os.environ.items() if k not in _GIT_ENV_OVERRIDES}
    env.update(LC_ALL="C", LANGUAGE="C")  # its messages in English: they are read below
    # Run from the root, ls-files lists only paths under it, relative to it. Outside a
    # work tree it fails, and how it fails tells why (one process: a separate
    # `rev-parse` first cost a spawn per map)
    try:
        listing = subprocess.run(
            ["git", "-c", "core.quotepath=off", "-C", str(root), "ls-files", "-z", "--cached", "--others",
             "--exclude-standard"],
            capture_output=True, stdin=subprocess.DEVNULL, env=env, check=False,
        )
    except OSError:
        return None  # git not installed
    if listing.returncode != 0:
        err = listing.stderr.decode(errors="replace")
        if "dubious ownership" in err:
            notes.append("git refused this repository (dubious ownership); walked the tree instead")
        elif "not a git repository" not in err and "work tree" not in err:  # not in one: walk quietly
            first = err.strip().splitlines()[:1]
            notes.append(f"git ls-files failed ({first[0] if first else listing.returncode}); walked the tree instead")
        return None
    # one decode for the whole listing (what os.fsdecode does per name: NUL never occurs
    # inside an encoded name, so decoding before splitting gives the same names)
    text = listing.stdout.decode(sys.getfilesystemencoding(), sys.getfilesystemencodeerrors())
    return [p for p in text.split("\0") if p]


# -- candidates from a directory walk ----------------------------------------


def walk(root: Path, filters: Filters, notes: list[str]) -> list[str]:
    """All non-ignored, non-directory entries under ``root``, git-style.

    Directory symlinks are never descended (git does not follow them either),
    which also makes symlink loops harmless; they surface as candidates and
    the per-file checks explain why they were skipped.
    """
    out: list[str] = []
    # stack of (relative dir, ignore rules in force as (base dir, spec) pairs)
    stack: list[tuple[str, tuple[tuple[str, pathspec.PathSpec], ...]]] = [("", ())]
    while stack:
        rel_dir, rules = stack.pop()
        abs_dir = os.path.join(str(root), rel_dir) if rel_dir else str(root)
        try:
            entries = sorted(os.scandir(abs_dir), key=lambda e: e.name)
        except OSError as exc:
            notes.append(f"skipped {rel_dir or '.'}/: unreadable directory ({os_reason(exc)})")
            continue
        own = read_gitignore(abs_dir, rel_dir, entries, notes)
        if own is not None:
            rules = (*rules, (rel_dir, own))
        for entry in entries:
            if entry.name == ".git":
                continue
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_ignored(rel, is_dir, rules):
                continue
            if is_dir:
                if not filters.skip_dir(rel):
                    stack.append((rel, rules))
            else:
                out.append(rel)
    return out


