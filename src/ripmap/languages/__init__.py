"""The language registry: extension → grammar package → tags query.

Grammars come from the official per-language wheels (``tree-sitter-python`` …), which
ship compiled parsers and, for most languages, their own ``queries/tags.scm``. We read
that file from the installed package at run time. Where a wheel ships none (Kotlin,
Bash, Julia, Zig, Haskell) or its query misses things the ranker needs (Python's never
references base classes, TypeScript's only covers TS-only syntax, Swift's and C/C++'s
have no call references, Ruby's needs a locals pass), a query of ours from
``languages/queries/`` is used instead or appended. Dart's shipped query tags every
identifier as a call, so ours replaces it (see ``dart-tags.scm``).

A grammar that fails to import, or a query that does not compile against its grammar,
disables that language with one warning; it never raises into the pipeline.
"""
from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

QUERY_DIR = Path(__file__).parent / "queries"


@dataclass(frozen=True)
class LanguageSpec:
    """Static description of one language: where its grammar and queries live."""

    name: str
    extensions: tuple[str, ...]
    module: str | None  # grammar package module (None: not tree-sitter based)
    factory: str = "language"  # function in ``module`` returning the grammar pointer
    #: query sources, concatenated in order: ("pkg", "<module>") → the package's
    #: queries/tags.scm, ("own", "<file>") → languages/queries/<file>
    queries: tuple[tuple[str, str], ...] = ()
    refs: bool = True  # whether the queries produce references

    @property
    def parser_kind(self) -> str:
        return "tree-sitter" if self.module else "builtin"


def _pkg(module: str) -> tuple[str, str]:
    return ("pkg", module)


def _own(name: str) -> tuple[str, str]:
    return ("own", name)


SPECS: tuple[LanguageSpec, ...] = (
    LanguageSpec("python", ("py", "pyi", "pyw"), "tree_sitter_python",
                 queries=(_pkg("tree_sitter_python"), _own("python-extra.scm"))),
    LanguageSpec("javascript", ("js", "mjs", "cjs", "jsx"), "tree_sitter_javascript",
                 queries=(_pkg("tree_sitter_javascript"), _own("js-imports.scm"))),
    LanguageSpec("typescript", ("ts", "mts", "cts"), "tree_sitter_typescript", "language_typescript",
                 queries=(_pkg("tree_sitter_javascript"), _pkg("tree_sitter_typescript"), _own("js-imports.scm"),
                         _own("ts-extra.scm"))),
    LanguageSpec("tsx", ("tsx",), "tree_sitter_typescript", "language_tsx",
                 queries=(_pkg("tree_sitter_javascript"), _pkg("tree_sitter_typescript"), _own("js-imports.scm"),
                         _own("ts-extra.scm"))),
    LanguageSpec("go", ("go",), "tree_sitter_go", queries=(_pkg("tree_sitter_go"), _own("go-imports.scm"))),
    LanguageSpec("rust", ("rs",), "tree_sitter_rust",
                 queries=(_pkg("tree_sitter_rust"), _own("rust-extra.scm"), _own("rust-imports.scm"))),
    LanguageSpec("java", ("java",), "tree_sitter_java", queries=(_pkg("tree_sitter_java"), _own("java-imports.scm"))),
    LanguageSpec("c", ("c", "h"), "tree_sitter_c",
                 queries=(_pkg("tree_sitter_c"), _own("c-imports.scm"), _own("c-extra.scm"))),
    LanguageSpec("cpp", ("cpp", "cc", "cxx", "c++", "hpp", "hxx", "hh", "h++", "ipp", "tpp"),
                 "tree_sitter_cpp",
                 queries=(_pkg("tree_sitter_cpp"), _own("c-imports.scm"), _own("c-extra.scm"), _own("cpp-extra.scm"))),
    LanguageSpec("c_sharp", ("cs",), "tree_sitter_c_sharp",
                 queries=(_pkg("tree_sitter_c_sharp"), _own("csharp-extra.scm"))),
    LanguageSpec("ruby", ("rb", "rake", "gemspec"), "tree_sitter_ruby",
                 queries=(_pkg("tree_sitter_ruby"), _own("ruby-extra.scm"))),
    LanguageSpec("php", ("php", "phtml"), "tree_sitter_php", "language_php",
                 queries=(_pkg("tree_sitter_php"), _own("php-extra.scm"))),
    LanguageSpec("kotlin", ("kt", "kts"), "tree_sitter_kotlin", queries=(_own("kotlin-tags.scm"),)),
    LanguageSpec("swift", ("swift",), "tree_sitter_swift",
                 queries=(_pkg("tree_sitter_swift"), _own("swift-extra.scm"))),
    LanguageSpec("scala", ("scala", "sc"), "tree_sitter_scala",
                 queries=(_pkg("tree_sitter_scala"), _own("scala-extra.scm"))),
    LanguageSpec("lua", ("lua",), "tree_sitter_lua", queries=(_pkg("tree_sitter_lua"),)),
    LanguageSpec("elixir", ("ex", "exs"), "tree_sitter_elixir", queries=(_pkg("tree_sitter_elixir"),)),
    LanguageSpec("bash", ("sh", "bash"), "tree_sitter_bash", queries=(_own("bash-tags.scm"),)),
    LanguageSpec("julia", ("jl",), "tree_sitter_julia", queries=(_own("julia-tags.scm"),)),
    LanguageSpec("zig", ("zig",), "tree_sitter_zig", queries=(_own("zig-tags.scm"),)),
    LanguageSpec("haskell", ("hs",), "tree_sitter_haskell", queries=(_own("haskell-tags.scm"),)),
    LanguageSpec("ocaml", ("ml",), "tree_sitter_ocaml", "language_ocaml", queries=(_pkg("tree_sitter_ocaml"),)),
    LanguageSpec("ocaml_interface", ("mli",), "tree_sitter_ocaml", "language_ocaml_interface",
                 queries=(_pkg("tree_sitter_ocaml"),)),
    # Dart: the shipped query's reference pattern matches every identifier (see the
    # header of dart-tags.scm), so ours replaces it
    LanguageSpec("dart", ("dart",), "tree_sitter_dart", queries=(_own("dart-tags.scm"),)),
    LanguageSpec("markdown", ("md", "markdown"), None, refs=False),
)

_BY_NAME = {s.name: s for s in SPECS}
_BY_EXT = {ext: s for s in SPECS for ext in s.extensions}


def spec(name: str) -> LanguageSpec | None:
    return _BY_NAME.get(name)


def language_for_path(path: str) -> str | None:
    """Language name for a file path by its extension (case-insensitive), or None."""
    base = path.rsplit("/", 1)[-1]
    dot = base.rfind(".")
    if dot <= 0:
        return None
    s = _BY_EXT.get(base[dot + 1:].lower())
    return s.name if s else None


#: a line only C++ writes: C has no classes, namespaces, templates, access labels or
#: ``using``, and every C standard header's name ends in ``.h`` (``<cstdio>``, ``<vector>``
#: are C++). Line starts only: a C header's comments may well say ``std::string``.
_CPP_HEADER_LINE = re.compile(rb"""^[ \t]*(?:
    class[ \t]+[A-Za-z_]
  | namespace(?:[ \t]+[A-Za-z_][\w:]*)?[ \t]*(?:\{|$)
  | template[ \t]*<
  | (?:public|private|protected)[ \t]*:(?!:)
  | using[ \t]+(?:namespace[ \t]|[A-Za-z_][\w:]*[ \t]*=)
  | \#[ \t]*include[ \t]*<[a-z_]+>
)""", re.M | re.X)


def content_language(language: str, path: str, data: bytes) -> str:
    """The grammar a file's bytes are written in, where its extension does not say.

    A ``.h`` header is C by its name, but most C++ projects name their headers ``.h``
    too (LevelDB, RE2, fmt, spdlog, LLVM): parsed as C, their classes, namespaces and
    templates are syntax errors, and the map loses the classes and misreads the
    methods. Such a header is C++ when a line of it could only be C++
    (:data:`_CPP_HEADER_LINE`); otherwise it stays C, as C++'s grammar would trip on C
    that uses ``new``, ``class`` or ``this`` as names. Both are one family, so the
    graph links them either way. Any other file keeps ``language``.
    """
    if language == "c" and path[-2:].lower() == ".h" and _CPP_HEADER_LINE.search(data):
        return "cpp"
    return language


@lru_cache(maxsize=1)
def grammars_identity() -> str:
    """The installed grammars as tags depend on them: each grammar module's (and
    tree-sitter's own) file size and mtime, hashed. Told without importing anything, so
    a cache can name the grammars its tags came from (an upgrade in place parses again)."""
    import hashlib
    import importlib.util

    h = hashlib.blake2b(digest_size=8)
    for module in sorted({"tree_sitter", *(s.module for s in SPECS if s.module)}):
        try:
            found = importlib.util.find_spec(module)
            origin = found.origin if found is not None else None
            st = os.stat(origin) if origin else None
        except (ImportError, ValueError, OSError):
            st = None
        h.update(f"{module}:{st.st_size}:{st.st_mtime_ns};".encode() if st else f"{module}:-;".encode())
    return h.hexdigest()


def _package_tags_file(module: str) -> Path | None:
    """Locate ``queries/tags.scm`` shipped by a grammar wheel.

    Most wheels put ``queries/`` inside the module; some (tree-sitter-c-sharp) put it
    beside the module under the distribution's name, so fall back to the dist's files.
    """
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    here = Path(os.path.dirname(mod.__file__)) / "queries" / "tags.scm"
    if here.is_file():
        return here
    from importlib import metadata  # only for the odd wheel; slow to import

    dist_name = module.replace("_", "-")
    try:
        files = metadata.distribution(dist_name).files or ()
    except metadata.PackageNotFoundError:
        return None
    for f in files:
        if str(f).replace("\\", "/").endswith("queries/tags.scm"):
            p = Path(f.locate())
            if p.is_file():
                return p
    return None


def query_source(s: LanguageSpec) -> str:
    """The full tags query text for a language (may raise OSError)."""
    parts = []
    for kind, ref in s.queries:
        if kind == "pkg":
            p = _package_tags_file(ref)
            if p is None:
                raise OSError(f"grammar package {ref} ships no queries/tags.scm")
        else:
            p = QUERY_DIR / ref
        parts.append(p.read_text(encoding="utf-8"))
    return "\n".join(parts)


@dataclass(frozen=True)
class Loaded:
    """A ready-to-use grammar with its compiled tags query."""

    spec: LanguageSpec
    language: object  # tree_sitter.Language
    query: object  # tree_sitter.Query


@dataclass(frozen=True)
class LoadFailure:
    name: str
    reason: str


@lru_cache(maxsize=None)
def load(name: str) -> Loaded | LoadFailure:
    """Import a grammar and compile its query once per process.

    Returns a :class:`LoadFailure` (never raises) when the grammar package is missing
    or its query does not compile, so the caller can skip that language with a note.
    """
    s = _BY_NAME.get(name)
    if s is None or s.module is None:
        return LoadFailure(name, "no tree-sitter grammar")
    try:
        from tree_sitter import Language, Query

        mod = importlib.import_module(s.module)
        lang = Language(getattr(mod, s.factory)())
    except Exception as e:  # ImportError, AttributeError, ABI mismatch (ValueError)
        return LoadFailure(name, f"grammar {s.module} failed to load: {e}")
    try:
        src = query_source(s)
        query = Query(lang, src)
    except Exception as e:  # QueryError on grammar/query drift, OSError on missing file
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        return LoadFailure(name, f"tags query does not compile against its grammar: {msg}")
    return Loaded(s, lang, _single_capture_refs(lang, query, src))


_REF_ROLE = re.compile(r"@reference\.([A-Za-z_][\w-]*)")
_NAME_CAPTURE = re.compile(r"@name(?![\w.-])")


def _single_capture_refs(lang, query, src: str):
    """The same query with each reference pattern's two captures (``@name`` on the
    name, ``@reference.call`` on the call around it) folded into one,
    ``@name.reference.call`` on the name, a form the tags convention also allows.

    Extraction never looks at the outer node of a reference, and every capture costs
    a node object per match; on a large Python repository this is about a tenth of
    the query's time. Patterns are rewritten one by one from their own source span;
    if the result does not compile to the same number of patterns, the original
    query is kept.
    """
    pieces = []
    changed = False
    raw = src.encode("utf-8")  # pattern spans are byte offsets
    for pi in range(query.pattern_count):
        text = raw[query.start_byte_for_pattern(pi):query.end_byte_for_pattern(pi)].decode("utf-8", "replace")
        roles = set(_REF_ROLE.findall(text))
        if (len(roles) == 1 and "@definition." not in text and "@name." not in text
                and _NAME_CAPTURE.search(text) and "import" not in roles and "@ignore" not in text
                and "@local" not in text):
            kind = roles.pop()
            text = _REF_ROLE.sub("", text)
            text = _NAME_CAPTURE.sub(f"@name.reference.{kind}", text)
            changed = True
        pieces.append(text)
    if not changed:
        return query
    try:
        from tree_sitter import Query

        folded = Query(lang, "\n".join(pieces))
    except Exception:
        return query
    return folded if folded.pattern_count == query.pattern_count else query


def supported() -> list[dict]:
    """Rows for ``ripmap --languages``: name, extensions, references?, status."""
    rows = []
    for s in SPECS:
        if s.module is None:
            status = "builtin"
        else:
            r = load(s.name)
            status = "ok" if isinstance(r, Loaded) else f"disabled: {r.reason}"
        rows.append({"language": s.name, "extensions": list(s.extensions),
                     "references": s.refs, "status": status})
    return rows
