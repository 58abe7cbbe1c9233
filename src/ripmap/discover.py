"""Find the source files under a root: the first stage of every map.

Candidates come from git when the root is inside a work tree, because git
already knows the ignore rules exactly (including ``.git/info/exclude`` and the
user's global excludes). Without git we walk the tree ourselves and apply every
``.gitignore`` we find, so a plain checkout or tarball maps the same way.

Both sources feed one per-file pipeline that applies the excludes, the size
limit and the binary check, and turns every surprise (unreadable file, symlink
loop, link escaping the root) into a one-line note instead of an exception: a
map with a few files missing is far more useful than no map at all.
"""
from __future__ import annotations

import errno
import os
import stat
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pathspec

from ripmap.config import Config
from ripmap.errors import ConfigError, RipmapError

#: Directories that hold generated, cached or third-party code. Matched against
#: whole path components so ``targeting.rs`` or ``vendored_utils.py`` survive.
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

#: How much of each file the binary check reads; git uses the same window.
BINARY_SNIFF_BYTES = 8192
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)

#: Variables that would make ``git -C root`` look at some other repository
#: (they are set, for instance, while a git hook runs).
_GIT_ENV_OVERRIDES = (
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
    "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_PREFIX",
)


@dataclass(frozen=True, slots=True)
class SourceFile:
    """One file to map. ``size``/``mtime_ns`` let caches notice edits cheaply."""

    rel: str  # relative to the root, '/'-separated
    path: Path  # absolute
    size: int
    mtime_ns: int
    language: str | None


@dataclass(frozen=True)
class Discovery:
    """The files to map plus why anything noteworthy was left out."""

    files: tuple[SourceFile, ...]  # sorted by rel
    notes: tuple[str, ...]  # one line each, in path order
    in_git: bool  # candidates came from ``git ls-files``


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


def discover(
    root: Path,
    config: Config | None = None,
    *,
    language_of: Callable[[str], str | None] | None = None,
    keep_unknown: bool = False,
    known: Mapping[str, tuple[int, int]] | None = None,
    sniff: bool = True,
) -> Discovery:
    """List the mappable files under ``root``, deterministically sorted.

    ``language_of`` maps a root-relative path to a language name. When it is
    given and ``keep_unknown`` is false, files it does not recognise are
    dropped silently and *before* any I/O: they are not source code, and not
    touching them is what keeps discovery fast on asset-heavy repos.

    ``known`` maps paths to the (size, mtime_ns) at which they were last parsed as
    text (the tag cache): an unchanged file needs no binary sniff. ``sniff=False``
    leaves the binary check to the caller altogether (the index does it in its parse
    workers, which read every file anyway; see :func:`is_binary`).
    """
    if config is None:
        config = Config()
    root = Path(root)
    if not root.is_dir():
        raise RipmapError(f"{root}: no such directory")
    root = root.resolve()
    filters = _Filters.from_config(config)

    notes: list[str] = []
    listed = _git_list(root, notes)
    in_git = listed is not None
    if listed is None:
        listed = _walk(root, filters, notes)
    elif not listed:
        # The root may sit inside a git-ignored directory of an enclosing repo
        # (a build dir, a vendored checkout); git then lists nothing at all.
        walk_notes: list[str] = []
        walked = _walk(root, filters, walk_notes)
        if walked:
            in_git = False
            notes.append("git lists no files here (ignored directory?); walked the tree instead")
            notes.extend(walk_notes)
            listed = walked

    files: list[SourceFile] = []
    root_str = str(root)
    prefix = os.path.join(root_str, "")  # with exactly one trailing separator
    for rel in sorted(set(listed)):
        if not filters.wanted(rel):
            continue
        language = language_of(rel) if language_of is not None else None
        if language is None and language_of is not None and not keep_unknown:
            continue
        found = _inspect(root_str, prefix + rel, rel, config.max_file_size, notes, known, sniff)
        if found is not None:
            size, mtime_ns = found
            files.append(SourceFile(rel, root / rel, size, mtime_ns, language))
    return Discovery(tuple(files), tuple(notes), in_git)


# -- filtering ---------------------------------------------------------------


@dataclass(frozen=True)
class _Filters:
    """Config globs compiled once; decides purely from the relative path."""

    defaults: bool
    include: pathspec.PathSpec | None
    exclude: pathspec.PathSpec | None
    prunable: bool  # excluded dirs can be skipped whole (no '!' re-includes)

    @classmethod
    def from_config(cls, config: Config) -> _Filters:
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


# -- per-file checks ---------------------------------------------------------


def is_binary(head: bytes) -> bool:
    """Whether a file whose first bytes are ``head`` is binary (a NUL within them)."""
    return b"\0" in head[:BINARY_SNIFF_BYTES]


def _inspect(root: str, path: str, rel: str, max_size: int, notes: list[str],
             known: Mapping[str, tuple[int, int]] | None = None, sniff: bool = True) -> tuple[int, int] | None:
    """(size, mtime_ns) if ``rel`` is a readable, text, in-limit regular file."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None  # tracked but deleted from the work tree: nothing to map
    except OSError as exc:
        notes.append(f"skipped {rel}: unreadable ({_why(exc)})")
        return None
    if stat.S_ISLNK(st.st_mode):
        st = _follow_link(root, rel, path, notes)
        if st is None:
            return None
    if stat.S_ISDIR(st.st_mode):
        # git lists submodules (and symlinks to directories) as single entries
        notes.append(f"skipped {rel}: a directory (submodule or directory link), not descended")
        return None
    if not stat.S_ISREG(st.st_mode):
        # FIFOs and devices: opening one could block forever
        notes.append(f"skipped {rel}: not a regular file")
        return None
    if st.st_size > max_size:
        notes.append(f"skipped {rel}: over the {max_size}-byte size limit")
        return None
    if sniff and st.st_size and (known is None or known.get(rel) != (st.st_size, st.st_mtime_ns)):
        try:
            fd = os.open(path, _OPEN_FLAGS)
            try:
                head = os.read(fd, BINARY_SNIFF_BYTES)
            finally:
                os.close(fd)
        except OSError as exc:
            notes.append(f"skipped {rel}: unreadable ({_why(exc)})")
            return None
        if is_binary(head):
            notes.append(f"skipped {rel}: binary")
            return None
    return st.st_size, st.st_mtime_ns


def _follow_link(root: str, rel: str, path: str, notes: list[str]) -> os.stat_result | None:
    """Stat a symlink's target, refusing loops, dangling links and escapes."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            notes.append(f"skipped {rel}: symlink loop")
        elif isinstance(exc, FileNotFoundError):
            notes.append(f"skipped {rel}: broken symlink")
        else:
            notes.append(f"skipped {rel}: unreadable symlink ({_why(exc)})")
        return None
    target = os.path.realpath(path)
    if target != root and not target.startswith(root.rstrip(os.sep) + os.sep):
        notes.append(f"skipped {rel}: symlink points outside the root")
        return None
    return st


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


# -- candidates from git -----------------------------------------------------


def _git_list(root: Path, notes: list[str]) -> list[str] | None:
    """Root-relative paths git would show, or None if git cannot answer."""
    env = {k: v for k, v in os.environ.items() if k not in _GIT_ENV_OVERRIDES}
    base = ["git", "-c", "core.quotepath=off", "-C", str(root)]
    try:
        probe = subprocess.run(
            [*base, "rev-parse", "--show-toplevel"],
            capture_output=True, stdin=subprocess.DEVNULL, env=env, check=False,
        )
    except OSError:
        return None  # git not installed
    if probe.returncode != 0:
        if b"dubious ownership" in probe.stderr:
            notes.append("git refused this repository (dubious ownership); walked the tree instead")
        return None
    # Run from the root, ls-files lists only paths under it, relative to it.
    listing = subprocess.run(
        [*base, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True, stdin=subprocess.DEVNULL, env=env, check=False,
    )
    if listing.returncode != 0:
        first = listing.stderr.decode(errors="replace").strip().splitlines()[:1]
        notes.append(f"git ls-files failed ({first[0] if first else listing.returncode}); walked the tree instead")
        return None
    return [os.fsdecode(p) for p in listing.stdout.split(b"\0") if p]


# -- candidates from a directory walk ----------------------------------------


def _walk(root: Path, filters: _Filters, notes: list[str]) -> list[str]:
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
            notes.append(f"skipped {rel_dir or '.'}/: unreadable directory ({_why(exc)})")
            continue
        own = _read_gitignore(abs_dir, rel_dir, entries, notes)
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
            if _ignored(rel, is_dir, rules):
                continue
            if is_dir:
                if not filters.skip_dir(rel):
                    stack.append((rel, rules))
            else:
                out.append(rel)
    return out


def _read_gitignore(abs_dir: str, rel_dir: str, entries: list[os.DirEntry[str]],
                    notes: list[str]) -> pathspec.PathSpec | None:
    if not any(e.name == ".gitignore" for e in entries):
        return None
    where = f"{rel_dir}/.gitignore" if rel_dir else ".gitignore"
    try:
        with open(os.path.join(abs_dir, ".gitignore"), encoding="utf-8", errors="replace") as fh:
            return pathspec.GitIgnoreSpec.from_lines(fh.read().splitlines())
    except OSError as exc:
        notes.append(f"ignored {where}: unreadable ({_why(exc)})")
    except Exception as exc:  # a malformed pattern: git skips it, we skip the file
        notes.append(f"ignored {where}: bad pattern ({exc})")
    return None


def _ignored(rel: str, is_dir: bool, rules: Iterable[tuple[str, pathspec.PathSpec]]) -> bool:
    """Apply nested .gitignore files: the deepest one with an opinion wins."""
    verdict = False
    for base, spec in rules:
        sub = rel[len(base) + 1:] if base else rel
        result = spec.check_file(sub + "/" if is_dir else sub)
        if result.include is not None:
            verdict = result.include
    return verdict

