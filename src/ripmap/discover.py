"""Find the source files under a root: the first stage of every map.

Candidates come from git when the root is inside a work tree, because git
already knows the ignore rules exactly (including ``.git/info/exclude`` and the
user's global excludes). Without git we walk the tree ourselves and apply every
``.gitignore`` we find, so a plain checkout or tarball maps the same way.

Both sources feed one per-file pipeline that applies the excludes, the size
limit and the binary check, and turns every surprise (unreadable file, symlink
loop, link escaping the root) into a one-line note instead of an exception: a
map with a few files missing is far more useful than no map at all.

Only what nobody ever wants is left out (installed packages, virtualenvs, build
outputs, lock files). Vendored, generated, fixture, stub, docs and test files are
kept but *classified* (:class:`~ripmap.fileclass.FileClass` flags on each
:class:`SourceFile`), so ranking can weigh them down while a user who asks for
one still finds it. The path and ``.gitattributes`` decide here; the first lines
of a file decide in the parse workers, which read every file anyway
(:func:`content_flags`).
"""
from __future__ import annotations

import errno
import os
import re
import stat
import subprocess
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pathspec

from ripmap.config import Config
from ripmap.errors import ConfigError, RipmapError
from ripmap.fileclass import FileClass

#: Directories left out of the map entirely: installed packages, environments, caches
#: and build outputs, which nobody reads to understand a project (and which can be
#: far bigger than it). Matched against whole path components so ``targeting.rs`` or
#: ``vendored_utils.py`` survive. Everything else noisy is mapped and classified.
VENDOR_DIRS: frozenset[str] = frozenset({
    "node_modules", "vendor", "third_party", "dist", "build", ".venv", "venv",
    "target", "__pycache__", ".git", ".tox", ".mypy_cache", ".pytest_cache",
    ".ruff_cache", ".next", ".nuxt", "site-packages", "bower_components",
})

#: Version of the classification rules in :func:`content_flags`, whose results the tag
#: cache keeps: bump it when they change, so cached files are read again.
CLASSIFY_VERSION = 1

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
    """One file to map. ``size``/``mtime_ns`` let caches notice edits cheaply.

    ``flags`` are its :class:`~ripmap.fileclass.FileClass` bits. ``fixed`` marks the
    bits a ``.gitattributes`` entry decided (``linguist-generated=false`` included):
    the user's word, which detection from the file's content must not overturn.
    """

    rel: str  # relative to the root, '/'-separated
    path: Path  # absolute
    size: int
    mtime_ns: int
    language: str | None
    flags: int = 0
    fixed: int = 0

    def with_content_flags(self, found: int) -> SourceFile:
        """This file with the classes :func:`content_flags` found added (except where
        ``.gitattributes`` already decided)."""
        flags = self.flags | (found & ~self.fixed)
        return self if flags == self.flags else SourceFile(self.rel, self.path, self.size, self.mtime_ns,
                                                           self.language, flags, self.fixed)


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
    return Discovery(tuple(classify(root, files, listed, notes=notes)), tuple(notes), in_git)


# -- classification ----------------------------------------------------------

# The class bits as plain ints: IntFlag arithmetic costs microseconds per operation,
# and classification runs on every file of every map.
_VENDOR, _GENERATED, _FIXTURE = int(FileClass.VENDOR), int(FileClass.GENERATED), int(FileClass.FIXTURE)
_STUB, _DOCS, _TEST = int(FileClass.STUB), int(FileClass.DOCS), int(FileClass.TEST)

#: Directories of third-party code that is still mapped (down-weighted), unlike
#: :data:`VENDOR_DIRS`. ``typeshed`` is the stub tree type checkers vendor.
VENDOR_COMPONENTS: frozenset[str] = frozenset({
    "vendor", "vendored", "third_party", "third-party", "thirdparty", "3rdparty", "external",
    "externals", "extern", "typeshed", "node_modules", "bower_components", "site-packages",
})
#: Directories of test data: inputs and expected outputs, samples, snapshots.
FIXTURE_COMPONENTS: frozenset[str] = frozenset({
    "fixtures", "fixture", "__fixtures__", "test-fixtures", "test_fixtures", "testdata", "test-data",
    "test_data", "samples", "__snapshots__",
})
#: Directories of type stubs (``foo-stubs`` packages are matched by suffix).
STUB_COMPONENTS: frozenset[str] = frozenset({"typeshed", "stubs", "typings", "@types"})
#: Directories of tests.
TEST_COMPONENTS: frozenset[str] = frozenset({"test", "tests", "__tests__", "spec", "specs"})
#: Documentation: by extension anywhere, a top-level ``docs``/``doc`` directory, or a
#: ``documentation`` directory at any depth. A ``doc/`` deeper down is often code (a
#: module that writes man pages, say), so only the top-level one counts.
DOCS_EXTENSIONS: frozenset[str] = frozenset({"md", "markdown", "mdx", "rst", "adoc", "asciidoc", "org"})
DOCS_TOP_DIRS: frozenset[str] = frozenset({"docs", "doc"})

#: Type stubs → the extensions of the implementations they would stand beside. A stub
#: in a directory with no implementation file is a stub *tree* (stubs for code that
#: lives elsewhere), not the typed face of the package it sits in.
_STUB_IMPLS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (".pyi", (".py",)),
    (".d.ts", (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs")),
)

#: File names that code generators give their output.
_GENERATED_NAME = re.compile(
    r"""(\.pb\.[a-z0-9]+$              # protobuf: x.pb.go, x.pb.cc, x.pb.h, x.pb.swift
       | _pb2(_grpc)?\.pyi?$          # protobuf / grpc for Python
       | _(grpc_)?pb\.(js|ts|d\.ts)$  # protobuf for JavaScript / TypeScript
       | \.(g|freezed|gr)\.dart$      # Dart build_runner outputs
       | \.g\.(cs|i\.cs)$ | \.designer\.(cs|vb)$
       | \.generated\.[a-z0-9]+$
       | ^zz_generated[._]
       | \.min\.(js|css)$)""",
    re.X | re.I,
)
#: File names of tests, in the conventions of the common test runners.
_TEST_NAME = re.compile(
    r"""^(test_.+\.py|conftest\.py
       |.+_test\.(py|go|rb|exs?|dart|c|cc|cpp|rs|kt|swift)
       |.+(Test|Tests|Spec|IT)\.(java|kt|scala|cs|swift|groovy)
       |.+\.(test|spec)\.[cm]?[jt]sx?
       |.+_spec\.rb)$""",
    re.X,
)

#: ``.gitattributes`` attributes GitHub's linguist defines, and the class each sets.
LINGUIST_ATTRIBUTES: dict[str, FileClass] = {
    "linguist-vendored": FileClass.VENDOR,
    "linguist-generated": FileClass.GENERATED,
    "linguist-documentation": FileClass.DOCS,
}


def classify_path(rel: str) -> int:
    """The :class:`~ripmap.fileclass.FileClass` bits a path alone implies.

    Directory names are compared whole and case-insensitively, so ``src/samples.py``
    or ``vendored_utils.py`` stay ordinary code; file-name conventions (``*Test.java``)
    keep their case. Stub trees need the neighbouring files as well: see :func:`classify`.
    """
    directory, _sep, name = rel.rpartition("/")
    return _dir_flags(directory) | _name_flags(name)


def _dir_flags(directory: str) -> int:
    """Classes implied by the directories a file sits in (``""`` for the root)."""
    dirs = directory.lower().split("/") if directory else []
    dirset = set(dirs)
    flags = 0
    if dirset & VENDOR_COMPONENTS:
        flags |= _VENDOR
    if dirset & STUB_COMPONENTS or any(d.endswith("-stubs") for d in dirs):
        flags |= _STUB
    if dirset & FIXTURE_COMPONENTS or _test_resources(dirs):
        flags |= _FIXTURE
    if (dirs and dirs[0] in DOCS_TOP_DIRS) or "documentation" in dirset:
        flags |= _DOCS
    if dirset & TEST_COMPONENTS:
        flags |= _TEST
    return flags


def _name_flags(name: str) -> int:
    """Classes implied by a file's own name."""
    flags = 0
    if "." in name[1:] and name.rpartition(".")[2].lower() in DOCS_EXTENSIONS:
        flags |= _DOCS
    if _TEST_NAME.match(name):
        flags |= _TEST
    if _GENERATED_NAME.search(name):
        flags |= _GENERATED
    return flags


def _test_resources(dirs: list[str]) -> bool:
    """``src/test/resources``: the JVM layout's place for test data."""
    return any(a == "test" and b == "resources" for a, b in zip(dirs, dirs[1:]))


def classify(root: Path, files: Iterable[SourceFile], listed: Iterable[str] = (), *,
             notes: list[str] | None = None) -> list[SourceFile]:
    """``files`` with their classes from path, neighbours, submodules and ``.gitattributes``.

    ``listed`` is every candidate path discovery saw (before filtering), where the
    ``.gitattributes`` files are found. A linguist attribute set to false clears a
    class the path would imply: the user's word wins.
    """
    files = list(files)
    notes = notes if notes is not None else []
    rels = [f.rel for f in files]
    by_dir: dict[str, int] = {}  # a thousand files sit in a few dozen directories
    flags = []
    for r in rels:
        directory, _sep, name = r.rpartition("/")
        df = by_dir.get(directory)
        if df is None:
            df = by_dir[directory] = _dir_flags(directory)
        flags.append(df | _name_flags(name))
    for i in _stub_trees(rels):
        flags[i] |= _STUB
    under = tuple(p + "/" for p in _submodule_paths(root))
    if under:
        for i, r in enumerate(rels):
            if r.startswith(under):
                flags[i] |= _VENDOR
    attr_files = [r for r in listed if r == ".gitattributes" or r.endswith("/.gitattributes")]
    decided = _attributes(root, attr_files, rels, notes) if attr_files and rels else {}
    out: list[SourceFile] = []
    for f, fl in zip(files, flags):
        fixed = 0
        says = decided.get(f.rel)
        if says is not None:
            for bit, on in says.items():
                fixed |= bit
                fl = fl | bit if on else fl & ~bit
        out.append(f if (fl, fixed) == (f.flags, f.fixed)
                   else SourceFile(f.rel, f.path, f.size, f.mtime_ns, f.language, fl, fixed))
    return out


def _stub_trees(rels: list[str]) -> Iterable[int]:
    """Indexes of the stub files that sit in a directory holding no implementation."""
    impl_dirs = {stub: {r.rpartition("/")[0] for r in rels if r.endswith(impls) and not r.endswith(stub)}
                 for stub, impls in _STUB_IMPLS}
    for i, r in enumerate(rels):
        for stub, _impls in _STUB_IMPLS:
            if r.endswith(stub) and r.rpartition("/")[0] not in impl_dirs[stub]:
                yield i


_SUBMODULE_PATH = re.compile(r"^\s*path\s*=\s*(.+?)\s*$", re.M)


def _submodule_paths(root: Path) -> list[str]:
    """Paths of the git submodules ``.gitmodules`` declares (third-party checkouts).

    Git lists a submodule as one entry that discovery skips, so this matters when the
    tree was walked (no git, or a copy of a checkout with its submodules filled in).
    """
    try:
        text = (root / ".gitmodules").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    paths = (m.strip('"').strip("/") for m in _SUBMODULE_PATH.findall(text))
    return [p for p in paths if p]


def _attributes(root: Path, attr_files: list[str], rels: list[str],
                notes: list[str]) -> dict[str, dict[int, bool]]:
    """rel → {class bit: on} for the linguist attributes the ``.gitattributes`` files give.

    Read directly rather than through ``git check-attr``: the same in a walked tree as
    in a repository, and no subprocess on every run. Git's rules are followed: a deeper
    file overrides a shallower one and a later line an earlier one; ``-attr`` and
    ``attr=false`` unset; ``!attr`` has no say; a pattern matches the path itself, never
    a file merely because it matches a directory above it (so ``vendor/`` or ``vendor``
    name no file, ``vendor/**`` does). Macros and ``.git/info/attributes`` are not read.
    """
    rules: list[tuple[str, re.Pattern[str], dict[int, bool]]] = []
    for where in sorted(attr_files, key=lambda r: (r.count("/"), r)):
        base = where.rpartition("/")[0]
        try:
            text = (root / where).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            notes.append(f"ignored {where}: unreadable ({_why(exc)})")
            continue
        if "linguist-" not in text:
            continue
        for line in text.splitlines():
            words = line.split()
            if not words or words[0].startswith(("#", "[attr]", "!")):
                continue
            says: dict[int, bool] = {}
            for w in words[1:]:
                if w.startswith("!"):  # back to unspecified: no say
                    continue
                name, _eq, value = w.lstrip("-").partition("=")
                bit = LINGUIST_ATTRIBUTES.get(name)
                if bit is not None:
                    says[int(bit)] = not w.startswith("-") and value.lower() != "false"
            regex = _attribute_pattern(words[0]) if says else None
            if regex is not None:
                rules.append((base, regex, says))
    out: dict[str, dict[int, bool]] = {}
    for rel in rels if rules else ():
        for base, regex, says in rules:
            if base and not rel.startswith(base + "/"):
                continue
            m = regex.match(rel[len(base) + 1:] if base else rel)
            if m is not None and not m.groupdict().get(_DIR_MARK):
                out.setdefault(rel, {}).update(says)
    return out


#: The group ``pathspec`` sets when a pattern matched a directory above the path.
_DIR_MARK = "ps_d"


def _attribute_pattern(pattern: str) -> re.Pattern[str] | None:
    """A ``.gitattributes`` pattern as a regex (``.gitignore`` syntax, via ``pathspec``)."""
    try:
        from pathspec.patterns.gitignore.spec import GitIgnoreSpecPattern as _Pattern
    except ImportError:  # pathspec < 1.0
        from pathspec.patterns import GitWildMatchPattern as _Pattern
    try:
        compiled = _Pattern(pattern)
    except Exception:  # a malformed pattern: git skips the line, so do we
        return None
    regex = compiled.regex
    return regex if compiled.include and regex is not None else None


def content_flags(data: bytes) -> int:
    """Classes a file's bytes reveal: a generator's header, or minified text.

    Run by the parse workers on bytes they already read (so no file is read twice).
    A header counts only in a comment line among the first lines: the conventions
    (Go's "Code generated ... DO NOT EDIT.", Meta's at-generated tag, "This file is
    automatically generated") are all written as comments, while prose *about*
    generated code in a docstring or a string literal stays ordinary code.
    """
    for raw in data[:_HEAD_BYTES].split(b"\n", _HEAD_LINES)[:_HEAD_LINES]:
        line = raw.strip()
        if line.startswith(_COMMENT_LEADERS) and _GENERATED_MARK.search(line):
            return _GENERATED
    window = data[:_MINIFIED_WINDOW]
    if len(window) >= _MINIFIED_MIN_BYTES and len(window) / (window.count(b"\n") + 1) > _MINIFIED_MEAN_LINE:
        return _GENERATED
    return 0


#: How far into a file a generator's header is looked for.
_HEAD_BYTES = 4096
_HEAD_LINES = 40
#: What a comment line starts with, across the supported languages (docstring quotes
#: included: some generators write their notice as the module docstring).
_COMMENT_LEADERS = (b"#", b"//", b"/*", b"*", b"--", b";", b"%", b"<!--", b"(*", b"{-", b'"""', b"'''")
_GENERATED_MARK = re.compile(
    rb"""code\ generated\b.*\bdo\ not\ edit        # Go's convention
       | \bgenerated\b.*\bdo\ not\ (edit|modify)    # protobuf, thrift and many others
       | \bdo\ not\ (edit|modify)\b.*\bgenerated\b
       | (^|[\s*/#])@generated\b                  # Meta's convention
       | \b(auto[-\ ]?generated|automatically\ generated|machine[-\ ]generated)\b
       | ^[\W]*generated\ (by|from|with|using)\b    # "// Generated by the Thrift compiler"
       | \b(file|code)\ (is|was|has\ been)\ generated\b""",
    re.X | re.I,
)
#: Minified text: at least this much, with lines far longer than anyone writes them.
_MINIFIED_WINDOW = 65536
_MINIFIED_MIN_BYTES = 4096
_MINIFIED_MEAN_LINE = 300


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

