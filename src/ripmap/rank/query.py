"""Query understanding: the focus text → typed evidence, parsed once per query.

Agents pass their task text (an issue, a traceback, a commit message) as the focus.
Read as a bag of words, "fix the crash in `Session.send` when ``requests/adapters.py``
raises" seeds fuzzy matches for *fix*, *the*, *in*, *when*, and the file named in it
weighs no more than any other word. Here the text is read the way a developer reads it,
into separate kinds of evidence, each feeding its own signal:

* **files**: paths and basenames (``src/app.py``, ``Gson.java``), stack-trace frames of
  Python, Java, JavaScript/TypeScript, Go, Rust and C# (``File "x.py", line 3``,
  ``at a.b.C(C.java:12)``, ``x.go:41``, ``in X.cs:line 7``), and dotted module names
  resolved to files (``django.db.models.query`` → ``django/db/models/query.py``);
* **identifiers**: code spans and backticks, CamelCase, snake_case, ``a.b.c``, ``name(``,
  kept when the repository defines them (exactly, or ignoring case);
* **words**: the rest, lowercased, with stop words and near-universal commit verbs
  ("fix", "add", "update", ...) dropped; these only feed lexical relevance;
* **a request for documentation**: any word of the text (or part of an identifier in
  it) such as "docs", "guide", "readme" lifts the down-weighting of documentation files.

Only files and identifiers may seed expansion through the reference graph; plain English
words never do (a focus of "add tests for the parser" must not light up every file that
defines ``add`` or ``for``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from ..graph import INDEX_STEMS
from .signals import split_identifier

#: English function words plus verbs that open most commit messages and task texts
#: and say nothing about *where* the change is.
STOP_WORDS: frozenset[str] = frozenset("""
a about above after again against all also am an and any are as at be because been before being below
between both but by can could did do does doing done down during each else etc even ever every few for
from further get gets got had has have having he her here hers him his how however i if in into is it its
itself just let lets like made many may me might more most much must my no nor not now of off often on
once only or other our ours out over own per please same shall she should since so some such than that
the their theirs them then there these they this those though through thus to too under until up upon
us very via was we were what when where whether which while who whom whose why will with within without
would yet you your yours
fix fixes fixed fixing add adds added adding update updates updated updating remove removes removed
removing change changes changed changing improve improves improved use uses used using make makes
making allow allows allowed support supports supported handle handles handled handling bump bumped
minor small new old instead now still when need needs needed want wants try tries tried ensure ensures
correct correctly properly proper issue issues bug bugs problem problems work works working case cases see also
way ways thing things something anything nothing first second also able unable just really actually
""".split())

#: Focus words that ask for documentation rather than code.
DOCS_WORDS: frozenset[str] = frozenset({
    "doc", "docs", "documentation", "readme", "guide", "guides", "tutorial", "manual", "faq", "changelog",
    "howto", "handbook",
})

_FRAME_PY = re.compile(r'File "([^"\n]+)", line (\d+)(?:, in ([A-Za-z_][\w.]*))?')
_TRACE_HEAD = re.compile(r'Traceback \(most recent call last\):?|Stack trace:|stack backtrace:|Exception in thread "[^"]*"')
_FRAME_JAVA = re.compile(r"\bat\s+([\w$.<>]+)\(([\w$-]+\.\w+):(\d+)\)")
_FRAME_CS = re.compile(r"\bin\s+((?:[A-Za-z]:)?[^\s:]+\.\w+):line\s+(\d+)")
_PATHLIKE = re.compile(r"(?<![\w@])((?:[A-Za-z]:)?(?:\.{0,2}[\\/])?(?:[\w.@+-]+[\\/])*[\w@+-][\w.@+-]*\.[A-Za-z][A-Za-z0-9]{0,5})"
                       r"(?::(\d+))?(?::\d+)?")
_BACKTICK = re.compile(r"``?([^`\n]{1,200}?)``?")
_DOTTED = re.compile(r"(?<![\w./\\])([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)+)(?![\w/\\])")
_CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
_IDENT = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_GEN_SUFFIX = re.compile(r"(_pb2_grpc|_pb2|_pb|\.pb|_grpc|\.g|\.generated|_generated|\.gen|_gen)$")
#: what :data:`_GEN_SUFFIX` can match at the end of a name (a cheap test before the regex)
_GEN_ENDINGS = ("_pb2_grpc", "_pb2", "_pb", ".pb", "_grpc", ".g", ".generated", "_generated", ".gen", "_gen")


def _stem(base: str) -> str:
    """A basename without its extension (``x.d.ts`` → ``x``)."""
    dot = base.rfind(".")
    stem = base[:dot] if dot > 0 else base
    return stem[:-2] if stem.endswith(".d") else stem


def _path_parts(rel: str) -> tuple[str, ...]:
    return tuple(rel.split("/"))


def _module_parts(rel: str) -> tuple[str, ...]:
    """A path's module components: no extension, an index file folded into its folder."""
    parts = rel.split("/")
    parts[-1] = _stem(parts[-1])
    if parts[-1] in INDEX_STEMS and len(parts) > 1:
        parts.pop()
    return tuple(parts)
_CAMEL = re.compile(r"^(?:[a-z]+[A-Z]|[A-Z][a-z0-9]+[A-Z]|[A-Z]{2,}[a-z])")


def looks_like_identifier(tok: str) -> bool:
    """Typography that marks a token as code: ``snake_case``, ``camelCase``, ``CamelCase``
    with an inner capital, ``__dunder__``, ``ALL_CAPS_WITH_UNDERSCORES``, digits inside."""
    if len(tok) < 2 or not _IDENT.fullmatch(tok):
        return False
    if "_" in tok.strip("_") or tok.startswith("__"):
        return True
    if _CAMEL.match(tok):
        return True
    return bool(re.search(r"[A-Za-z]\d|\d[A-Za-z]", tok)) and not tok.isdigit()


@dataclass(frozen=True)
class ParsedQuery:
    """What a focus text was understood as. Indices refer to the graph's files and names."""

    text: str
    kind: str  # "trace" | "entity" | "prose" | "empty": which evidence dominates
    file_hits: tuple[tuple[int, float, str], ...]  # (file index, strength in (0, 1], the text that named it)
    ident_hits: tuple[tuple[str, float], ...]  # (defined name, strength): exact 1.0, case-insensitive 0.8
    unresolved: tuple[str, ...]  # identifier-looking tokens the repository does not define
    words: tuple[str, ...]  # plain words (lowercased, stop words dropped), in order, distinct
    asks_for_docs: bool = False  # the text asks for documentation (see DOCS_WORDS)

    @property
    def lexical_terms(self) -> tuple[tuple[str, float], ...]:
        """(sub-word, weight) pairs for lexical retrieval: words at 1.0, the sub-words of
        identifiers (resolved or not) at 1.5, the sub-words of named files' stems at 1.0."""
        out: dict[str, float] = {}
        for w in self.words:
            for t in split_identifier(w) or [w]:
                out[t] = max(out.get(t, 0.0), 1.0)
        for name, _s in self.ident_hits:
            for t in split_identifier(name):
                out[t] = max(out.get(t, 0.0), 1.5)
        for name in self.unresolved:
            for t in split_identifier(name):
                out[t] = max(out.get(t, 0.0), 1.5)
        return tuple(out.items())

    def as_dict(self, files: Sequence[str] | None = None) -> dict:
        """For ``--explain`` and the JSON output: what the query was understood as."""
        return {"kind": self.kind,
                "files": [{"path": files[i] if files is not None else i, "strength": round(s, 3), "from": why}
                          for i, s, why in self.file_hits],
                "identifiers": [{"name": n, "strength": round(s, 3)} for n, s in self.ident_hits],
                "unresolved_identifiers": list(self.unresolved),
                "words": list(self.words)}


@dataclass
class PathIndex:
    """Every way a text may name a mapped file: full path, any trailing run of
    components, the path without extension (module paths), the basename and its stem.

    Files are indexed by their last component only (the basename, the last module
    component); a trailing run is looked up there and checked against each candidate's
    components. Indexing every trailing run of every path up front cost 1.5 s per query
    on a 70,000-file tree, most of a warm focused map's parse.
    """

    files: tuple[str, ...]
    #: basename → files, in file order
    by_base: dict[str, list[int]] = field(default_factory=dict)
    #: last module component → files (module components: no extension, ``__init__`` folded)
    by_module: dict[str, list[int]] = field(default_factory=dict)
    stem: dict[str, list[int]] = field(default_factory=dict)  # "c" (basename without extension)
    stem_lower: dict[str, list[int]] = field(default_factory=dict)  # the same, lowercased

    @classmethod
    def build(cls, files: Sequence[str]) -> "PathIndex":
        """One pass over the paths keeping file numbers only: a candidate's components
        are split when a lookup reaches it (a few per query), not for every file.

        The per-file pass only groups files by basename; stems, their lowercase forms and
        generated twins are worked out once per distinct basename (a big tree repeats
        names: 70,000 files under 5,000 names in the scale benchmark), and only index
        files (``__init__.py``, ``index.ts``, ...) look at their folder."""
        px = cls(tuple(files))
        by_base, by_module, stems, lows = px.by_base, px.by_module, px.stem, px.stem_lower
        heads: list[str] = []
        for i, rel in enumerate(px.files):
            head, _, base = rel.rpartition("/")
            heads.append(head)
            got = by_base.get(base)
            if got is None:
                by_base[base] = [i]
            else:
                got.append(i)

        merged: list[list[int]] = []  # lists more than one basename fed: sorted at the end

        def put(table: dict[str, list[int]], key: str, ids: list[int]) -> None:
            got = table.get(key)
            if got is None:
                table[key] = list(ids)
            else:
                if got[-1] > ids[0]:
                    merged.append(got)
                got.extend(ids)

        for base, ids in by_base.items():
            stem = _stem(base)
            put(stems, stem, ids)
            low = stem.lower()
            put(lows, low, ids)
            if low.endswith(_GEN_ENDINGS):
                bare = _GEN_SUFFIX.sub("", low)  # shapes_pb2 → shapes: a generated twin answers to its name
                if bare and bare != low:
                    put(lows, bare, ids)
            if stem in INDEX_STEMS:  # an index file answers to its folder's name
                for i in ids:
                    head = heads[i]
                    put(by_module, head.rpartition("/")[2] if head else stem, [i])
            else:
                put(by_module, stem, ids)
        for got in merged:  # another basename shared the key: the union, in file order
            got.sort()
        return px

    def _ending(self, table: dict[str, list[int]], key: str, parts_of) -> list[int]:
        """Files whose components (``parts_of``) end with ``key``'s, in file order."""
        want = tuple(key.split("/"))
        m = len(want)
        out = []
        for i in table.get(want[-1], ()):
            parts = parts_of(self.files[i])
            if len(parts) >= m and parts[-m:] == want:
                out.append(i)
        return out

    def suffix(self, key: str) -> list[int]:
        """Files a trailing run of path components (``"b/c.py"``, ``"c.py"``) names."""
        return self._ending(self.by_base, key, _path_parts)

    def module(self, key: str) -> list[int]:
        """Files a trailing run of module components (``"a/b/c"``, no extension) names."""
        return self._ending(self.by_module, key, _module_parts)

    def resolve_path(self, text: str) -> list[int]:
        """Files named by a path-like string: the longest trailing run of its components
        that names mapped files (absolute paths, ``./`` and drive letters are fine)."""
        p = text.replace("\\", "/").strip().strip("'\"`()[]<>,;")
        parts = [c for c in p.split("/") if c not in ("", ".")]
        while parts and parts[0] == "..":
            parts.pop(0)
        for j in range(len(parts)):
            hit = self.suffix("/".join(parts[j:]))
            if hit:
                return hit
        return []

    def resolve_module(self, dotted: str) -> list[int]:
        """Files for a dotted module or class name (``a.b.c`` → ``a/b/c.py``, ``.../c/__init__.py``,
        ``a/b/C.java``); the longest trailing run wins, never a single bare component."""
        parts = dotted.split(".")
        for j in range(len(parts) - 1):
            hit = self.module("/".join(parts[j:]))
            if hit:
                return hit
        return []


def asks_for_docs(text: str) -> bool:
    """Whether a text asks for documentation ("where is the install guide?"): any of its
    whitespace- or comma-separated tokens holds a :data:`DOCS_WORDS` sub-word, whatever
    else the text is read as (``docs/`` in a path counts too)."""
    return any(w in DOCS_WORDS for t in re.split(r"[\s,;]+", text.strip()) if t for w in split_identifier(t))


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with ``spans`` replaced by spaces (offsets stay valid)."""
    if not spans:
        return text
    out = list(text)
    for a, b in spans:
        out[a:b] = " " * (b - a)
    return "".join(out)


def parse_query(text: str, paths: PathIndex, names: Mapping[str, object],
                lower_names: Mapping[str, Sequence[str]]) -> ParsedQuery:
    """Read ``text`` into typed evidence against one repository's files and names.

    ``names`` is any mapping whose keys are the defined names (e.g. the graph's name
    index); ``lower_names`` maps a lowercased name to the defined spellings.
    """
    text = text or ""
    if not text.strip():
        return ParsedQuery(text, "empty", (), (), (), ())
    files: dict[int, tuple[float, str]] = {}
    consumed: list[tuple[int, int]] = [m.span() for m in _TRACE_HEAD.finditer(text)]  # read as paths or frames
    cands: dict[str, float] = {}  # identifier-looking tokens → strength

    def add_files(idx: list[int], strength: float, why: str) -> None:
        if not idx:
            return
        share = strength / (1.0 if len(idx) == 1 else min(len(idx), 5) ** 0.5)
        for i in idx[:20]:
            if files.get(i, (0.0, ""))[0] < share:
                files[i] = (share, why)

    # 1. stack-trace frames: the innermost frame (where it broke) is strongest
    frames: list[tuple[list[int], str, int]] = []
    py = list(_FRAME_PY.finditer(text))
    for k, m in enumerate(reversed(py)):  # Python prints the innermost frame last
        frames.append((paths.resolve_path(m.group(1)), m.group(1), k))
        consumed.append(m.span())
        if m.group(3) and not m.group(3).startswith("<"):
            cands[m.group(3).rsplit(".", 1)[-1]] = 0.9
    jv = list(_FRAME_JAVA.finditer(text))
    for k, m in enumerate(jv):  # Java/JS print the innermost frame first
        qual, fname = m.group(1), m.group(2)
        owner = qual.rsplit(".", 1)[0]
        hit = paths.resolve_module(owner) or paths.resolve_path(fname)
        frames.append((hit, fname, k))
        consumed.append(m.span())
        meth = qual.rsplit(".", 1)[-1]
        if meth and meth[0] != "<":
            cands[meth] = max(cands.get(meth, 0.0), 0.9)
    for k, m in enumerate(_FRAME_CS.finditer(text)):
        frames.append((paths.resolve_path(m.group(1)), m.group(1), k))
        consumed.append(m.span())
    for idx, why, k in frames:
        add_files(idx, max(0.35, 0.85 ** k), why)

    def free(span: tuple[int, int]) -> bool:
        return all(span[1] <= a or span[0] >= b for a, b in consumed)

    # 2. paths and basenames anywhere (Go/Rust/JS frames are plain path:line)
    for m in _PATHLIKE.finditer(text):
        if not free(m.span()):
            continue
        raw = m.group(1)
        idx = paths.resolve_path(raw)
        if idx:
            depth = raw.replace("\\", "/").count("/")
            add_files(idx, 1.0 if depth else 0.9, raw)
            consumed.append(m.span())

    # 3. identifiers: code spans, call syntax, dotted names, typographic identifiers
    for m in _BACKTICK.finditer(text):
        for tok in _IDENT.findall(m.group(1)):
            if len(tok) >= 2:
                cands[tok] = max(cands.get(tok, 0.0), 1.0)
        dotted = m.group(1).strip().rstrip("()")
        if "." in dotted and _DOTTED.fullmatch(dotted):
            add_files(paths.resolve_module(dotted), 0.9, dotted)
    rest = _blank(text, consumed)
    for m in _DOTTED.finditer(rest):
        dotted = m.group(1)
        hit = paths.resolve_module(dotted)
        if hit:
            add_files(hit, 0.9, dotted)
        parts = dotted.split(".")
        for k, p in enumerate(parts):
            if len(p) >= 2 and (looks_like_identifier(p) or k == len(parts) - 1 or p in names):
                cands[p] = max(cands.get(p, 0.0), 0.9 if k == len(parts) - 1 else 0.6)
    for m in _CALL.finditer(rest):
        tok = m.group(1)
        if len(tok) >= 2 and tok.lower() not in STOP_WORDS:
            cands[tok] = max(cands.get(tok, 0.0), 1.0)
    for tok in _IDENT.findall(rest):
        if looks_like_identifier(tok):
            cands[tok] = max(cands.get(tok, 0.0), 1.0)

    idents: dict[str, float] = {}
    unresolved: list[str] = []
    for tok, s in cands.items():
        if tok in names:
            idents[tok] = max(idents.get(tok, 0.0), s)
            continue
        spellings = lower_names.get(tok.lower())
        if spellings:
            for n in spellings[:5]:
                idents[n] = max(idents.get(n, 0.0), 0.8 * s)
        elif looks_like_identifier(tok):
            unresolved.append(tok)
    # a class-like identifier that names a file (Gson → Gson.java) mentions that file
    for tok, s in list(cands.items()):
        if tok[:1].isupper() and len(tok) >= 4:
            hit = paths.stem.get(tok)
            if hit and len(hit) <= 3:
                add_files(hit, 0.7 * s, tok)

    # 4. words: what is left, minus stop words and identifier tokens already taken
    words: list[str] = []
    seen: set[str] = set()
    for tok in _IDENT.findall(rest):
        if tok in cands:
            continue
        for w in _WORD.findall(tok):
            lw = w.lower()
            if len(lw) < 2 or lw in STOP_WORDS or lw in seen:
                continue
            seen.add(lw)
            words.append(lw)

    # a plain word that is exactly the name of a file or two ("the session module",
    # "README") points at them, weakly
    for w in words:
        hit = paths.stem_lower.get(w) if len(w) >= 4 else None
        if hit and len(hit) <= 3:
            add_files(hit, 0.5, w)

    if frames and files:
        kind = "trace"
    elif files or idents:
        kind = "entity"
    else:
        kind = "prose"
    fh = tuple(sorted(((i, s, why) for i, (s, why) in files.items()), key=lambda x: (-x[1], x[0])))
    ih = tuple(sorted(idents.items(), key=lambda x: (-x[1], x[0])))
    return ParsedQuery(text, kind, fh, ih, tuple(dict.fromkeys(unresolved)), tuple(words), asks_for_docs(text))
