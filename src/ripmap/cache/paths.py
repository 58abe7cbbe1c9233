"""Where caches live: outside the repository, one folder per repository.

* **Outside the user's tree.** Everything lives under the user cache directory
  (``platformdirs.user_cache_dir("ripmap")``), or ``$RIPMAP_CACHE_DIR``, or an explicit
  folder, so a map never dirties ``git status``.
* **One folder per checkout.** A repository's files sit in a folder named after a
  hash of its real path, so two checkouts of the same project never share (or fight
  over) a cache, and a symlinked path shares its target's.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import platformdirs

#: Environment variable that relocates every cache (tests, CI, read-only homes).
CACHE_DIR_ENV = "RIPMAP_CACHE_DIR"


def _root_key(root: Path) -> str:
    """Stable short id of a repository: its real path, so symlinks share a cache."""
    real = os.path.realpath(os.fspath(root))
    return hashlib.sha1(os.fsencode(real)).hexdigest()[:16]


def cache_base(cache_dir: Path | None = None) -> Path:
    """The cache folder: ``cache_dir``, else ``$RIPMAP_CACHE_DIR``, else the user cache dir."""
    if cache_dir is not None:
        base = Path(cache_dir)
    elif os.environ.get(CACHE_DIR_ENV):
        base = Path(os.environ[CACHE_DIR_ENV])
    else:
        base = Path(platformdirs.user_cache_dir("ripmap"))
    return base.expanduser()


def repo_cache_dir(root: Path, cache_dir: Path | None = None) -> Path:
    """The folder of one repository's caches: ``sha1(realpath(root))[:16]`` in :func:`cache_base`,
    so it is never inside ``root`` unless the user explicitly points the cache there."""
    return cache_base(cache_dir) / _root_key(Path(root))
