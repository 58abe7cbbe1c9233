"""What is left out of the map: the built-in excludes, the user's globs, and (for a
walked tree) the ``.gitignore`` files.

Only what nobody ever wants is left out by default (installed packages, virtualenvs,
build outputs, lock files, minified bundles); vendored, generated, fixture, stub, docs
and test files are kept and classified (:mod:`ripmap.discover.classes`). The user's
``include``/``exclude``/``extend-exclude`` globs (``ripmap.toml`` or ``[tool.ripmap]``)
are gitignore-style patterns, compiled once.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pathspec

from ..config import Config
from ..errors import ConfigError
from .checks import os_reason
from .paths import PathTable

#: Directories left out of the map entirely: installed packages, environments, caches
#: and build outputs, which nobody reads to understand a project (and which can be
#: far bigger than it). Matched against whole path components so ``targeting.rs`` or
#: ``vendored_utils.py`` survive. Everything else noisy is mapped and classified.
VENDOR_DIRS: frozenset[str] = frozenset({
    "node_modules", "vendor", "third_party", "dist", "build", ".venv", "venv",
    "target", "__pycache__", ".git", ".tox", ".mypy_cache", ".pytest_cache",
    ".ruff_cache", ".next", ".nuxt", "site-packages", "bower_components",
})

#: Lock files: machine-written, huge, and never what a reader is looking for.
LOCK_FILES: frozenset[str] = frozenset({
    "package-lock.json", "yarn.lock", "pnpm-lock.yaml", "Cargo.lock",
    "poetry.lock", "uv.lock", "Gemfile.lock", "composer.lock", "go.sum",
    "Pipfile.lock",
})

#: Minified bundles and source maps: generated, and a single line long.
GENERATED_SUFFIXES: tuple[str, ...] = (".min.js", ".min.css", ".map")


def is_vendor_path(rel: str) -> bool:
    """True if any *directory* component of ``rel`` is a vendor/generated dir.

    Only directory components count: a file that happens to be called
    ``build`` is still a file the user wrote. A trailing ``/`` marks ``rel``
    itself as a directory, so ``is_vendor_path("vendor/")`` is true.
    """
    parts = rel.replace(os.sep, "/").split("/")
    return any(part in VENDOR_DIRS for part in parts[:-1])


def is_default_excluded(rel: str) -> bool:
    """True if the built-in excludes drop ``rel`` (vendor dirs, lock files, bundles)."""
    name = rel.rpartition("/")[2]
    return name in LOCK_FILES or name.endswith(GENERATED_SUFFIXES) or is_vendor_path(rel)


@dataclass(frozen=True)
class Filters:
    """Config globs compiled once; decides purely from the relative path."""

    defaults: bool
    include: pathspec.PathSpec | None
    exclude: pathspec.PathSpec | None
    prunable: bool  # excluded dirs can be skipped whole (no '!' re-includes)

    @classmethod
    def from_config(cls, config: Config) -> Filters:
        label = config.source or "config"
        user_excludes = (config.exclude or ()) + config.extend_exclude
        # compiled apart first only so an error names the key it came from
        _compile(config.exclude or (), "exclude", label)
        _compile(config.extend_exclude, "extend-exclude", label)
        return cls(
            defaults=config.exclude is None,
            include=_compile(config.include, "include", label),
            exclude=_compile(user_excludes, "exclude", label),
            prunable=not any(p.lstrip().startswith("!") for p in user_excludes),
        )

    def wanted(self, rel: str) -> bool:
        if self.defaults and is_default_excluded(rel):
            return False
        if self.include is not None and not self.include.match_file(rel):
            return False
        return self.exclude is None or not self.exclude.match_file(rel)

    def select(self, rels: Iterable[str]) -> list[str]:
        """The paths of ``rels`` that :meth:`wanted` keeps, in their order."""
        rels = list(rels)
        return [rels[i] for i in np.flatnonzero(self.keep(PathTable.of(rels))).tolist()]

    def keep(self, table: PathTable) -> np.ndarray:
        """Per path of ``table``, whether :meth:`wanted` keeps it (a bool array).

        The same verdicts as asking :meth:`wanted` path by path, for a fraction of the
        cost on a big tree: the built-in excludes depend only on a path's directory
        (vendor components) and on its name (lock files, bundles), so each directory
        and each name is judged once. Only the user's globs, which can name single
        files, are matched per path.
        """
        n = len(table.rels)
        keep = np.ones(n, dtype=bool)
        if self.defaults:
            if os.sep == "/":
                vendor = np.fromiter((bool(d) and not VENDOR_DIRS.isdisjoint(d.split("/")) for d in table.dirs),
                                     dtype=bool, count=len(table.dirs))
                keep &= ~vendor[table.dir_of]
            else:  # is_vendor_path splits on os.sep too
                keep &= ~np.fromiter(map(is_vendor_path, table.rels), dtype=bool, count=n)
            dropped = np.fromiter((name in LOCK_FILES or name.endswith(GENERATED_SUFFIXES) for name in table.names),
                                  dtype=bool, count=len(table.names))
            keep &= ~dropped[table.name_of]
        for spec, want in ((self.include, True), (self.exclude, False)):
            if spec is not None:
                at = np.flatnonzero(keep)
                match = spec.match_file
                keep[at] = np.fromiter((match(table.rels[i]) == want for i in at.tolist()), dtype=bool,
                                       count=at.size)
        return keep

    def skip_dir(self, rel_dir: str) -> bool:
        """Whether a walk may skip ``rel_dir`` without changing the result."""
        if self.defaults and rel_dir.rpartition("/")[2] in VENDOR_DIRS:
            return True
        return self.prunable and self.exclude is not None and self.exclude.match_file(rel_dir + "/")


def _compile(patterns: Iterable[str], key: str, label: str) -> pathspec.PathSpec | None:
    patterns = list(patterns)
    if not patterns:
        return None
    try:
        return pathspec.GitIgnoreSpec.from_lines(patterns)
    except Exception as exc:  # pathspec raises several types for bad globs
        raise ConfigError(f"{label}: bad pattern in {key!r}: {exc}") from None


# -- nested .gitignore files (a walked tree) --------------------------------


def read_gitignore(abs_dir: str, rel_dir: str, entries: list[os.DirEntry[str]],
                   notes: list[str]) -> pathspec.PathSpec | None:
    """The rules of the ``.gitignore`` among ``entries`` (a directory's), or None; an
    unreadable or malformed file is skipped with a note, as git skips it."""
    if not any(e.name == ".gitignore" for e in entries):
        return None
    where = f"{rel_dir}/.gitignore" if rel_dir else ".gitignore"
    try:
        with open(os.path.join(abs_dir, ".gitignore"), encoding="utf-8", errors="replace") as fh:
            return pathspec.GitIgnoreSpec.from_lines(fh.read().splitlines())
    except OSError as exc:
        notes.append(f"ignored {where}: unreadable ({os_reason(exc)})")
    except Exception as exc:  # a malformed pattern: git skips it, we skip the file
        notes.append(f"ignored {where}: bad pattern ({exc})")
    return None


def is_ignored(rel: str, is_dir: bool, rules: Iterable[tuple[str, pathspec.PathSpec]]) -> bool:
    """Apply nested .gitignore files: the deepest one with an opinion wins."""
    verdict = False
    for base, spec in rules:
        sub = rel[len(base) + 1:] if base else rel
        result = spec.check_file(sub + "/" if is_dir else sub)
        if result.include is not None:
            verdict = result.include
    return verdict
