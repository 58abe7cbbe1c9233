"""File classes: vendored, generated, fixture, stub, docs and test files, told apart.

Such files are mapped but *classified* (:class:`~ripmap.fileclass.FileClass` flags on
each :class:`~ripmap.discover.source.SourceFile`), so ranking can weigh them down while
a user who asks for one still finds it. The path, its neighbours (stub trees), git
submodules and ``.gitattributes`` decide here; the first lines of a file decide in the
parse workers, which read every file anyway (:func:`content_flags`).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ..fileclass import FileClass
from .checks import os_reason
from .paths import PathTable
from .source import SourceFile

#: Version of the classification rules in :func:`content_flags`, whose results the tag
#: cache keeps: bump it when they change, so cached files are read again.
CLASSIFY_VERSION = 1

# The class bits as plain ints: IntFlag arithmetic costs microseconds per operation,
# and classification runs on every file of every map.
_VENDOR, _GENERATED, _FIXTURE = int(FileClass.VENDOR), int(FileClass.GENERATED), int(FileClass.FIXTURE)
_STUB, _DOCS, _TEST = int(FileClass.STUB), int(FileClass.DOCS), int(FileClass.TEST)

#: Directories of third-party code that is still mapped (down-weighted), unlike
#: :data:`VENDOR_DIRS`. ``typeshed`` is the stub tree type checkers vendor.
VENDOR_COMPONENTS: frozenset[str] = frozenset({
    "vendor", "vendored", "_vendor", "bundled", "third_party", "third-party", "thirdparty", "3rdparty", "external",
    "externals", "extern", "typeshed", "node_modules", "bower_components", "site-packages",
})
#: Directories that hold a copy of a C++ test framework (fmt's ``test/gtest/``): vendored
#: below the top level only, where a project keeps what it bundles. A tree that starts
#: with one is the framework's own repository (googletest's ``googletest/include/gtest/``).
BUNDLED_COMPONENTS: frozenset[str] = frozenset({"gtest", "gmock", "googletest", "googlemock"})
#: Single-file copies of test frameworks (Google Test's fused sources, Catch's single
#: header): never a project's own code, and, as every test includes them, a reference hub
#: that would top the map of a project that bundles one.
_BUNDLED_NAME = re.compile(r"^(?:gtest-all\.cc|gmock-all\.cc|gmock-gtest-all\.cc|catch\.hpp|catch_amalgamated\.[ch]pp)$")
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
    return _dir_flags([directory])[0] | _name_flags(name)


def _dir_flags(directories: Sequence[str]) -> list[int]:
    """Classes implied by the directories a file sits in (``""`` for the root), for each
    directory: compared component by component, lowercased, a vendor, stub, fixture or
    test directory name anywhere (a bundled test framework's below another top directory;
    JVM test data in ``test/resources``), docs at the top or ``documentation`` anywhere.
    Each directory is worked out from its parent's (a tree's directories share their
    leading components: 70,000 files sit in 10,500 directories, and each one costs a look
    at its last component instead of all of them)."""
    # per directory: (its flags, its first component, its last component), lowercased
    known: dict[str, tuple[int, str, str]] = {"": (0, "", "")}
    out = []
    for directory in directories:
        chain = []
        d = directory
        while d not in known:
            chain.append(d)
            d = d.rpartition("/")[0]
        for d in reversed(chain):
            parent, _sep, comp = d.rpartition("/")
            flags, first, prev = known[parent]
            c = comp.lower()
            top = "/" not in d  # its first component (an empty parent can be an empty component)
            if top:
                first = c
            if c in VENDOR_COMPONENTS or (not top and c in BUNDLED_COMPONENTS and first not in BUNDLED_COMPONENTS):
                flags |= _VENDOR
            if c in STUB_COMPONENTS or c.endswith("-stubs"):
                flags |= _STUB
            if c in FIXTURE_COMPONENTS or (prev == "test" and c == "resources"):
                flags |= _FIXTURE
            if (top and c in DOCS_TOP_DIRS) or c == "documentation":
                flags |= _DOCS
            if c in TEST_COMPONENTS:
                flags |= _TEST
            known[d] = (flags, first, c)
        out.append(known[directory][0])
    return out


def _name_flags(name: str) -> int:
    """Classes implied by a file's own name."""
    flags = 0
    if "." in name[1:] and name.rpartition(".")[2].lower() in DOCS_EXTENSIONS:
        flags |= _DOCS
    if _TEST_NAME.match(name):
        flags |= _TEST
    if _GENERATED_NAME.search(name):
        flags |= _GENERATED
    if _BUNDLED_NAME.match(name):
        flags |= _VENDOR
    return flags


def classify(root: Path, files: Iterable[SourceFile], listed: Iterable[str] = (), *,
             notes: list[str] | None = None) -> list[SourceFile]:
    """``files`` with their classes from path, neighbours, submodules and ``.gitattributes``.

    ``listed`` is every candidate path discovery saw (before filtering), where the
    ``.gitattributes`` files are found. A linguist attribute set to false clears a
    class the path would imply: the user's word wins.
    """
    files = list(files)
    flags, fixed = class_bits(root, PathTable.of([f.rel for f in files]), listed, notes=notes)
    return [f if (fl, fx) == (f.flags, f.fixed)
            else SourceFile(f.rel, f.root, f.size, f.mtime_ns, f.language, fl, fx)
            for f, fl, fx in zip(files, flags.tolist(), fixed.tolist())]


def class_bits(root: Path, table: PathTable, listed: Iterable[str] = (), *,
               notes: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per path of ``table``: (class bits, bits ``.gitattributes`` decided), as int64
    arrays; what :func:`classify` sets, computed before any record exists so discovery
    builds each :class:`SourceFile` once.

    The path rules are judged once per directory and once per file name (a big tree
    repeats both: 70,000 files sit in 11,000 directories under 5,000 names) and spread
    to the files with numpy; only ``.gitattributes`` rules are matched path by path.
    """
    notes = notes if notes is not None else []
    rels = table.rels
    n = len(rels)
    dir_bits = np.zeros(len(table.dirs), dtype=np.int64)
    used = np.flatnonzero(np.bincount(table.dir_of, minlength=len(table.dirs)))
    dir_bits[used] = _dir_flags([table.dirs[d] for d in used.tolist()])
    name_bits = np.zeros(len(table.names), dtype=np.int64)
    stub_kind = np.full(len(table.names), -1, dtype=np.int64)
    impl_kinds = np.zeros(len(table.names), dtype=np.int64)
    for k in np.unique(table.name_of).tolist():
        name = table.names[k]
        name_bits[k] = _name_flags(name)
        stub_kind[k], impl_kinds[k] = _stub_roles(name)
    flags = dir_bits[table.dir_of] | name_bits[table.name_of]
    # stub trees: a stub whose directory holds no implementation of its kind
    kind_of = stub_kind[table.name_of]
    impl_of = impl_kinds[table.name_of]
    for k in range(len(_STUB_IMPLS)):
        has_impl = np.zeros(len(table.dirs), dtype=bool)
        has_impl[table.dir_of[(impl_of >> k) & 1 == 1]] = True
        flags[(kind_of == k) & ~has_impl[table.dir_of]] |= _STUB
    under = tuple(p + "/" for p in _submodule_paths(root))
    if under:  # rel starts with "p/" exactly when its directory + "/" does (names hold no "/")
        in_sub = np.fromiter(((d + "/").startswith(under) for d in table.dirs), dtype=bool, count=len(table.dirs))
        flags[in_sub[table.dir_of]] |= _VENDOR
    fixed = np.zeros(n, dtype=np.int64)
    attr_files = [r for r in listed if r == ".gitattributes" or r.endswith("/.gitattributes")]
    decided = _attributes(root, attr_files, list(rels), notes) if attr_files and n else {}
    if decided:
        for i, r in enumerate(rels):
            says = decided.get(r)
            if says is not None:
                fl, fx = int(flags[i]), 0
                for bit, on in says.items():
                    fx |= bit
                    fl = fl | bit if on else fl & ~bit
                flags[i], fixed[i] = fl, fx
    return flags, fixed


def _stub_roles(name: str) -> tuple[int, int]:
    """(the :data:`_STUB_IMPLS` kind a file of this name is a stub of, or -1; bit
    mask of the kinds it is an implementation for): a suffix test, so the name decides."""
    kind, impl = -1, 0
    for k, (stub, impls) in enumerate(_STUB_IMPLS):
        if name.endswith(stub):
            kind = k
        elif name.endswith(impls):
            impl |= 1 << k
    return kind, impl


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
            notes.append(f"ignored {where}: unreadable ({os_reason(exc)})")
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
