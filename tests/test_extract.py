"""Tag extraction: per-language samples, determinism, parents/signatures, bad input.

Each ``tests/samples/<language>/`` holds a realistic ``sample.<ext>`` and an
``expected.json`` written by hand from the sample: the definitions (name, kind) and
reference names a correct extractor must find there.

Known extractor bugs are kept visible as ``xfail(strict=True)`` tests: when a bug is
fixed the test XPASSes, fails the suite, and its xfail mark (or its entry in
``KNOWN_SAMPLE_BUGS``) must be removed.
"""
from __future__ import annotations

import contextlib
import json
import random
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ripmap import languages
from ripmap.extract import Tag, extract_tags
from ripmap.extract import treesitter

SAMPLES = Path(__file__).parent / "samples"
SAMPLE_LANGS = sorted(p.name for p in SAMPLES.iterdir() if p.is_dir())


def _sample_file(lang: str) -> Path:
    files = [p for p in (SAMPLES / lang).iterdir() if p.name.startswith("sample.")]
    assert len(files) == 1, f"{lang}: expected exactly one sample.<ext>, found {files}"
    return files[0]


def _expected(lang: str) -> dict:
    return json.loads((SAMPLES / lang / "expected.json").read_text(encoding="utf-8"))


def _extract(lang: str) -> tuple[list[Tag], list[str]]:
    return extract_tags(_sample_file(lang).read_bytes(), lang)


def _defs(tags: list[Tag]) -> list[Tag]:
    return [t for t in tags if t.is_def]


def _refs(tags: list[Tag]) -> list[Tag]:
    return [t for t in tags if not t.is_def]


def _one_def(tags: list[Tag], name: str, kind: str | None = None) -> Tag:
    found = [t for t in tags if t.is_def and t.name == name and (kind is None or t.kind == kind)]
    assert len(found) == 1, f"expected one def {name!r} ({kind}), got {found}"
    return found[0]


def _clear_caches() -> None:
    languages.load.cache_clear()
    treesitter._parser.cache_clear()
    treesitter._cursor_query.cache_clear()


# ---------------------------------------------------------------------------
# Samples
# ---------------------------------------------------------------------------

#: Items of an expected.json that the extractor currently gets wrong. They are left
#: out of test_sample_expected and asserted by test_sample_known_bug (strict xfail).
#: Entry shape: "lang": [dict(defs=[(name, kind)], refs=[name], reason="...")].
KNOWN_SAMPLE_BUGS: dict[str, list[dict]] = {}


def test_at_least_twenty_languages_have_samples():
    assert len(SAMPLE_LANGS) >= 20, SAMPLE_LANGS


def test_every_registered_language_has_a_sample():
    assert set(SAMPLE_LANGS) == {s.name for s in languages.SPECS}


@pytest.mark.parametrize("lang", SAMPLE_LANGS)
def test_sample_file_maps_to_its_language(lang):
    sample = _sample_file(lang)
    assert languages.language_for_path(f"src/pkg/{sample.name}") == lang
    exp = _expected(lang)
    assert exp["defs"], f"{lang}: expected.json lists no defs"
    for item in exp["defs"]:
        assert len(item) == 2 and item[1] in languages_def_kinds(), item


def languages_def_kinds() -> tuple[str, ...]:
    from ripmap.extract.tags import DEF_KINDS
    return DEF_KINDS


@pytest.mark.parametrize("lang", SAMPLE_LANGS)
def test_sample_expected(lang):
    tags, notes = _extract(lang)
    exp = _expected(lang)
    skip_defs = {d for bug in KNOWN_SAMPLE_BUGS.get(lang, []) for d in bug["defs"]}
    skip_refs = {r for bug in KNOWN_SAMPLE_BUGS.get(lang, []) for r in bug["refs"]}
    defs = {(t.name, t.kind) for t in _defs(tags)}
    refs = {t.name for t in _refs(tags)}
    missing_defs = [tuple(d) for d in exp["defs"] if tuple(d) not in defs and tuple(d) not in skip_defs]
    missing_refs = [r for r in exp["refs"] if r not in refs and r not in skip_refs]
    assert not missing_defs, f"{lang}: defs not found: {missing_defs}\nfound: {sorted(defs)}"
    assert not missing_refs, f"{lang}: refs not found: {missing_refs}\nfound: {sorted(refs)}"
    assert not any("syntax" in n for n in notes), f"{lang}: sample should parse cleanly: {notes}"


_BUG_PARAMS = [
    pytest.param(lang, i, id=f"{lang}-{i}", marks=pytest.mark.xfail(strict=True, reason=bug["reason"]))
    for lang, bugs in sorted(KNOWN_SAMPLE_BUGS.items()) for i, bug in enumerate(bugs)
]


@pytest.mark.parametrize("lang,i", _BUG_PARAMS)
def test_sample_known_bug(lang, i):
    bug = KNOWN_SAMPLE_BUGS[lang][i]
    exp = _expected(lang)
    # the bug entry must name items that really are in expected.json
    assert set(bug["defs"]) <= {tuple(d) for d in exp["defs"]}
    assert set(bug["refs"]) <= set(exp["refs"])
    tags, _notes = _extract(lang)
    defs = {(t.name, t.kind) for t in _defs(tags)}
    refs = {t.name for t in _refs(tags)}
    assert set(bug["defs"]) <= defs
    assert set(bug["refs"]) <= refs


@pytest.mark.parametrize("lang", SAMPLE_LANGS)
def test_sample_yields_defs_and_refs(lang):
    tags, _notes = _extract(lang)
    assert len(_defs(tags)) >= 1
    if languages.spec(lang).refs:
        assert len(_refs(tags)) >= 1, f"{lang} claims references but yields none"
    else:
        assert _refs(tags) == []


# ---------------------------------------------------------------------------
# Determinism and invariants
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("lang", SAMPLE_LANGS)
def test_sample_invariants_and_determinism(lang):
    data = _sample_file(lang).read_bytes()
    first = extract_tags(data, lang)
    second = extract_tags(data, lang)
    assert first == second
    tags, _notes = first
    assert tags == sorted(tags, key=Tag.sort_key)
    n_lines = data.count(b"\n") + 1
    for t in tags:
        assert isinstance(t, Tag)
        assert 1 <= t.line <= t.end_line <= n_lines, t
        assert t.name and t.name == t.name.strip(), t
        if t.is_def:
            assert t.kind in languages_def_kinds(), t
            assert t.signature and "\n" not in t.signature, t
        else:
            assert t.signature is None and t.end_line == t.line, t
    dup_defs = [k for k, c in Counter((t.line, t.name, t.is_def, t.kind) for t in _defs(tags)).items() if c > 1]
    assert not dup_defs, dup_defs


@pytest.mark.parametrize("lang", ["python", "go", "rust", "typescript"])
def test_determinism_survives_fresh_parser_and_query(lang):
    data = _sample_file(lang).read_bytes()
    before = extract_tags(data, lang)
    _clear_caches()
    try:
        after = extract_tags(data, lang)
    finally:
        _clear_caches()
    assert before == after


@pytest.mark.xfail(strict=True, reason=(
    "two references to one name on the same line are two Tags with the same "
    "(line, name, is_def, kind) -- refs are keyed by byte offset, and Tag has no column"))
def test_no_duplicate_reference_keys():
    src = b"package p\n\nfunc (s *Stack[T]) Push(v T) {\n}\n"
    tags, _ = extract_tags(src, "go")
    keys = Counter((t.line, t.name, t.is_def, t.kind) for t in tags)
    assert all(c == 1 for c in keys.values()), keys


# ---------------------------------------------------------------------------
# Parents, signatures, spans
# ---------------------------------------------------------------------------

PY_SRC = b'''import requests


class Client:
    """HTTP client."""

    retries = 2

    def fetch(url: str, *, timeout: float = 5) -> Response:
        resp = requests.get(url, timeout=timeout)
        return parse(
            resp,
        )

    def post(
        self,
        data: bytes,
    ) -> None:
        pass


def parse(resp):
    return resp.json()
'''


def test_python_parents_and_signatures():
    tags, notes = extract_tags(PY_SRC, "python")
    assert notes == []
    client = _one_def(tags, "Client")
    assert (client.kind, client.line, client.end_line, client.parent, client.signature) == (
        "class", 4, 19, None, "class Client")
    fetch = _one_def(tags, "fetch")
    assert (fetch.kind, fetch.parent) == ("method", "Client")
    assert fetch.signature == "def fetch(url: str, *, timeout: float = 5) -> Response"
    assert (fetch.line, fetch.end_line) == (9, 13)
    post = _one_def(tags, "post")
    assert (post.kind, post.parent, post.line, post.end_line) == ("method", "Client", 15, 19)
    assert post.signature == "def post(self, data: bytes) -> None"
    retries = _one_def(tags, "retries")
    assert (retries.kind, retries.parent, retries.signature) == ("field", "Client", "retries = 2")
    parse = _one_def(tags, "parse")
    assert (parse.kind, parse.parent, parse.signature, parse.line, parse.end_line) == (
        "function", None, "def parse(resp)", 22, 23)
    refs = {(t.name, t.line): t for t in _refs(tags)}
    assert refs[("get", 10)].parent == "fetch"
    assert refs[("parse", 11)].parent == "fetch"
    assert refs[("json", 23)].parent == "parse"
    assert refs[("Response", 9)].parent == "fetch"
    assert refs[("requests", 1)].kind == "import" and refs[("requests", 1)].parent is None


TS_SRC = b'''export class Greeter {
  private name: string;

  greet(person: Person, loud = false): string {
    const text = format(person.name);
    return loud ? text.toUpperCase() : text;
  }
}

function format(name: string): string {
  return `Hello, ${name}`;
}

interface Person {
  name: string;
  rename(to: string): Person;
}
'''


def test_typescript_parents_and_signatures():
    tags, notes = extract_tags(TS_SRC, "typescript")
    assert notes == []
    greeter = _one_def(tags, "Greeter")
    assert (greeter.kind, greeter.line, greeter.end_line, greeter.signature) == ("class", 1, 8, "class Greeter")
    greet = _one_def(tags, "greet")
    assert (greet.kind, greet.parent, greet.line, greet.end_line) == ("method", "Greeter", 4, 7)
    assert greet.signature == "greet(person: Person, loud = false): string"
    fmt = _one_def(tags, "format")
    assert (fmt.kind, fmt.parent, fmt.signature, fmt.end_line) == (
        "function", None, "function format(name: string): string", 12)
    rename = _one_def(tags, "rename")
    assert (rename.kind, rename.parent, rename.signature) == ("method", "Person", "rename(to: string): Person")
    assert _one_def(tags, "Person").kind == "interface"
    refs = {(t.name, t.line): t for t in _refs(tags)}
    assert refs[("format", 5)].parent == "greet"
    assert refs[("toUpperCase", 6)].parent == "greet"
    assert refs[("Person", 4)].kind == "type" and refs[("Person", 4)].parent == "greet"


GO_SRC = b'''package server

import "net"

type Server struct {
	addr string
}

func (s *Server) Serve(l net.Listener) error {
	conn, err := l.Accept()
	if err != nil {
		return err
	}
	return s.handle(conn)
}

func (s Server) Addr() string { return s.addr }

func (s *Stack[T]) Push(v T) {
	s.items = append(s.items, v)
}

func New(addr string) *Server {
	return &Server{addr: addr}
}
'''


def test_go_parents_and_signatures():
    tags, notes = extract_tags(GO_SRC, "go")
    assert notes == []
    server = _one_def(tags, "Server")
    assert (server.kind, server.line, server.end_line, server.signature) == ("struct", 5, 7, "type Server struct")
    serve = _one_def(tags, "Serve")
    assert (serve.kind, serve.parent) == ("method", "Server")
    assert serve.signature == "func (s *Server) Serve(l net.Listener) error"
    assert (serve.line, serve.end_line) == (9, 15)
    addr = _one_def(tags, "Addr")
    assert (addr.kind, addr.parent, addr.signature, addr.line, addr.end_line) == (
        "method", "Server", "func (s Server) Addr() string", 17, 17)
    push = _one_def(tags, "Push")
    assert (push.kind, push.parent, push.signature) == ("method", "Stack", "func (s *Stack[T]) Push(v T)")
    new = _one_def(tags, "New")
    assert (new.kind, new.parent, new.signature) == ("function", None, "func New(addr string) *Server")
    refs = {(t.name, t.line): t for t in _refs(tags)}
    assert refs[("Accept", 10)].parent == "Serve"
    assert refs[("handle", 14)].parent == "Serve"
    assert refs[("append", 20)].parent == "Push"
    assert refs[("Server", 24)].kind == "type" and refs[("Server", 24)].parent == "New"
    assert refs[('"net"', 3)].kind == "import"
    # a type's own name is not a reference to it
    assert ("Server", 5) not in refs


RUST_SRC = b'''struct Foo {
    n: u32,
}

impl Foo {
    pub fn bar(&self) -> u32 {
        helper(self.n)
    }
}

impl<T> Wrapper<T> {
    fn get(&self) -> &T {
        &self.0
    }
}

trait Named {
    fn name(&self) -> String;
    fn shout(&self) -> String {
        self.name().to_uppercase()
    }
}

fn helper(n: u32) -> u32 {
    n + 1
}
'''


def test_rust_parents_and_signatures():
    tags, notes = extract_tags(RUST_SRC, "rust")
    assert notes == []
    foo = _one_def(tags, "Foo", "struct")
    assert (foo.kind, foo.line, foo.end_line, foo.signature) == ("struct", 1, 3, "struct Foo")
    bar = _one_def(tags, "bar")
    assert (bar.kind, bar.parent, bar.signature, bar.line, bar.end_line) == (
        "method", "Foo", "pub fn bar(&self) -> u32", 6, 8)
    get = _one_def(tags, "get")
    assert (get.kind, get.parent, get.signature) == ("method", "Wrapper", "fn get(&self) -> &T")
    named = _one_def(tags, "Named")
    assert (named.kind, named.end_line) == ("trait", 22)
    shout = _one_def(tags, "shout")
    assert (shout.kind, shout.parent, shout.signature, shout.end_line) == (
        "method", "Named", "fn shout(&self) -> String", 21)
    helper = _one_def(tags, "helper")
    assert (helper.kind, helper.parent, helper.signature, helper.line, helper.end_line) == (
        "function", None, "fn helper(n: u32) -> u32", 24, 26)
    refs = {(t.name, t.line): t for t in _refs(tags)}
    assert refs[("helper", 7)].parent == "bar"
    assert refs[("to_uppercase", 20)].parent == "shout"
    assert refs[("name", 20)].parent == "shout"


RUST_IMPLS = b'''pub struct Cache { n: u32 }

pub trait Store {
    fn lookup(&self, key: &str) -> u32;
}

impl Cache {
    pub fn new() -> Self { Cache { n: 0 } }
}

impl Store for Cache {
    type Error = String;
    fn lookup(&self, key: &str) -> u32 { self.n }
}

impl<'a, S: Store> Store for &'a mut S {
    fn lookup(&self, key: &str) -> u32 { (**self).lookup(key) }
}

impl<F> Store for Box<F>
where
    F: Fn(&str) -> u32,
{
    fn lookup(&self, key: &str) -> u32 { self(key) }
}

mod sinks {
    pub struct Lossy;
    impl super::Store for Lossy {
        fn lookup(&self, _key: &str) -> u32 { 0 }
    }
}
'''


def test_rust_impl_blocks_are_containers_named_by_their_type():
    tags, notes = extract_tags(RUST_IMPLS, "rust")
    assert notes == []
    impls = [(t.name, t.line, t.end_line, t.parent, t.signature) for t in _defs(tags) if t.kind == "impl"]
    assert impls == [
        ("Cache", 7, 9, None, "impl Cache"),
        ("Cache", 11, 14, None, "impl Store for Cache"),
        ("S", 16, 18, None, "impl<'a, S: Store> Store for &'a mut S"),
        ("Box", 20, 25, None, "impl<F> Store for Box<F> where F: Fn(&str) -> u32"),
        ("Lossy", 29, 31, "sinks", "impl super::Store for Lossy"),
    ]
    by_line = {t.line: t for t in _defs(tags)}
    # methods and associated types nest under the impl block: parent = the type's
    # name, inside the block's span
    assert (by_line[8].name, by_line[8].kind, by_line[8].parent) == ("new", "method", "Cache")
    assert (by_line[12].name, by_line[12].kind, by_line[12].parent) == ("Error", "type", "Cache")
    assert (by_line[13].name, by_line[13].parent) == ("lookup", "Cache")
    assert (by_line[17].name, by_line[17].parent) == ("lookup", "S")
    assert (by_line[24].name, by_line[24].parent) == ("lookup", "Box")
    assert (by_line[30].name, by_line[30].parent) == ("lookup", "Lossy")
    # the trait's own declaration stays under the trait
    assert (by_line[4].name, by_line[4].parent) == ("lookup", "Store")
    # the block's type (`impl Cache`) and trait (`impl Store for ...`) are still references
    refs = {(t.name, t.line) for t in _refs(tags)}
    assert {("Cache", 7), ("Store", 11)} <= refs


def test_rust_impl_blocks_define_no_name_in_the_graph():
    from ripmap.graph import build_graph

    files = {
        "a.rs": b"pub struct Foo;\n",
        "b.rs": b"impl Clone for Foo {\n    fn clone(&self) -> Foo { Foo }\n}\nimpl Drop for Box<u8> {\n    fn drop(&mut self) {}\n}\n",
        "c.rs": b"fn make() -> Foo { Box(1); Foo::default() }\n",  # uses both names
    }
    tags = {rel: extract_tags(src, "rust")[0] for rel, src in files.items()}
    assert any(t.kind == "impl" and t.name == "Box" for t in tags["b.rs"])
    g = build_graph(sorted(files), tags)
    definers = lambda name: sorted(g.files[i] for n in g.ids_of(name) for i in g.D[n].indices)  # noqa: E731
    assert definers("Foo") == ["a.rs"]
    assert definers("Box") == []  # an `impl ... for Box<u8>` does not make b.rs Box's home


JAVA_SRC = b'''package demo;

public class Greeter {
    private final String name;

    public Greeter(String name) { this.name = name; }

    public String greet(String other,
                        boolean loud) {
        String text = format(other);
        return loud ? text.toUpperCase() : text;
    }

    static String format(String s) {
        return "Hello, " + s;
    }

    interface Listener {
        void onGreet(String text);
    }
}
'''


def test_java_parents_and_signatures():
    tags, notes = extract_tags(JAVA_SRC, "java")
    assert notes == []
    greeter = _one_def(tags, "Greeter")
    assert (greeter.kind, greeter.line, greeter.end_line, greeter.signature) == (
        "class", 3, 21, "public class Greeter")
    greet = _one_def(tags, "greet")
    assert (greet.kind, greet.parent, greet.line, greet.end_line) == ("method", "Greeter", 8, 12)
    assert greet.signature == "public String greet(String other, boolean loud)"
    fmt = _one_def(tags, "format")
    assert (fmt.kind, fmt.parent, fmt.signature) == ("method", "Greeter", "static String format(String s)")
    listener = _one_def(tags, "Listener")
    assert (listener.kind, listener.parent) == ("interface", "Greeter")
    on_greet = _one_def(tags, "onGreet")
    assert (on_greet.kind, on_greet.parent) == ("method", "Listener")
    refs = {(t.name, t.line): t for t in _refs(tags)}
    assert refs[("format", 10)].parent == "greet"
    assert refs[("toUpperCase", 11)].parent == "greet"


def test_markdown_outline():
    tags, notes = _extract("markdown")
    assert notes == []
    # exactly the headings, in order: the '# ...' line inside the fenced block is not one
    assert [(t.line, t.name, t.parent, t.end_line) for t in tags] == [
        (1, "Ripmap", None, 31),
        (5, "Installation", "Ripmap", 17),
        (14, "From source", "Installation", 17),
        (18, "Usage", "Ripmap", 27),
        (23, "Options", "Usage", 27),
        (28, "Configuration", "Ripmap", 31),
        (32, "Troubleshooting", None, 35),
    ]
    assert _one_def(tags, "Configuration").signature == "## Configuration"
    assert _one_def(tags, "Usage").signature == "## Usage"


@pytest.mark.parametrize("lang,src,name,expected", [
    ("java", b"interface L {\n    void onGreet(String text);\n}\n", "onGreet", "void onGreet(String text)"),
    ("typescript", b"declare function log(message: string): void;\n", "log",
     "function log(message: string): void"),
    ("c", b"static int grow(int *buf, int need);\n", "grow", "static int grow(int *buf, int need)"),
    ("rust", b"pub type Index = Vec<u32>;\n", "Index", "pub type Index = Vec<u32>"),
], ids=["java-interface-method", "ts-declare-function", "c-prototype", "rust-type-alias"])
def test_bodyless_signature_has_no_semicolon(lang, src, name, expected):
    tags, _ = extract_tags(src, lang)
    assert _one_def(tags, name).signature == expected


@pytest.mark.parametrize("lang", ["c", "cpp"])
def test_c_function_spans_its_body(lang):
    src = b"int add(int a,\n        int b) {\n    int s = a + b;\n    return s;\n}\n"
    tags, _ = extract_tags(src, lang)
    add = _one_def(tags, "add", "function")
    assert (add.line, add.end_line) == (1, 5)


def test_a_constant_whose_value_goes_on_below_shows_its_bracket_closed():
    """``ALIASES = {`` alone showed as ``ALIASES =``; a one-line value stays as it is."""
    src = b"ALIASES = {\n    'a': 1,\n}\nREG: tuple[int, ...] = (\n    1,\n)\nX = 3\nNAMES = ['a']\n"
    sigs = {t.name: t.signature for t in _defs(extract_tags(src, "python")[0])}
    assert sigs == {"ALIASES": "ALIASES = {…}", "REG": "REG: tuple[int, ...] = (…)", "X": "X = 3",
                    "NAMES": "NAMES = ['a']"}


def test_c_pointer_return_signature():
    tags, _ = extract_tags(b"char *dup(const char *s) {\n    return 0;\n}\n", "c")
    assert _one_def(tags, "dup").signature == "char *dup(const char *s)"


def test_c_enum_return_type_is_not_a_definition():
    src = b"enum Status { OK, FAIL };\n\nenum Status run(void) {\n    return OK;\n}\n"
    tags, _ = extract_tags(src, "c")
    status = [t for t in _defs(tags) if t.name == "Status"]
    assert [(t.line, t.kind) for t in status] == [(1, "enum")]


def test_cpp_out_of_line_method_parent():
    src = b"class Circle {\n    double area() const;\n};\n\ndouble Circle::area() const {\n    return 1.0;\n}\n"
    tags, _ = extract_tags(src, "cpp")
    out_of_line = [t for t in _defs(tags) if t.name == "area" and t.line == 5]
    assert len(out_of_line) == 1
    assert (out_of_line[0].kind, out_of_line[0].parent) == ("method", "Circle")


def test_cpp_nested_class_defined_out_of_line_holds_its_members():
    """``class DFA::Workq { ... }`` (re2's dfa.cc): its members' parent is ``Workq``, not
    the namespace around it, where ``clear()`` and ``size()`` read as free functions."""
    src = (b"namespace re2 {\nclass DFA {\n  class Workq;\n  void Run(Workq* q);\n};\n\n"
           b"class DFA::Workq : public SparseSet {\n public:\n  Workq(int n) : SparseSet(n) {}\n"
           b"  void clear() { n_ = 0; }\n private:\n  int n_;\n};\n}  // namespace re2\n")
    tags, _ = extract_tags(src, "cpp")
    workq = [t for t in _defs(tags) if t.name == "Workq"]
    assert [(t.line, t.kind, t.parent) for t in workq] == [(7, "class", "re2"), (9, "method", "Workq")]
    assert (_one_def(tags, "clear").kind, _one_def(tags, "clear").parent) == ("method", "Workq")
    assert (_one_def(tags, "Run").kind, _one_def(tags, "Run").parent) == ("method", "DFA")


def test_cpp_export_macro_between_class_and_name_keeps_the_class():
    """``class LEVELDB_EXPORT Slice {`` (leveldb, and most libraries' public classes): a
    parser without the preprocessor read a function ``Slice`` returning ``class
    LEVELDB_EXPORT`` and lost the class and its members' parent."""
    from ripmap.extract.macros import blank_class_macros

    src = (b"namespace db {\n\nclass DB_EXPORT Slice {\n public:\n  size_t size() const { return n_; }\n"
           b"  virtual Status Put(const Slice& key) = 0;\n private:\n  size_t n_;\n};\n\n"
           b"struct DB_EXPORT DB_DEPRECATED Options final : public Base {\n  int level() const;\n};\n\n"
           b"class RE2 {\n  int Match() const;\n};\n}  // namespace db\n")
    tags, notes = extract_tags(src, "cpp")
    assert notes == []  # the macro-free text parses cleanly
    got = {(t.name, t.kind, t.parent, t.line) for t in _defs(tags)}
    assert {("Slice", "class", "db", 3), ("size", "method", "Slice", 5), ("Options", "struct", "db", 11),
            ("RE2", "class", "db", 15)} <= got
    put = _one_def(tags, "Put")
    assert (put.parent, put.signature) == ("Slice", "virtual Status Put(const Slice& key) = 0")
    assert _one_def(tags, "Slice").signature == "class Slice"
    # only the macros are blanked, byte for byte: offsets and lines stay put
    blank = blank_class_macros(src)
    assert len(blank) == len(src) and blank.count(b"\n") == src.count(b"\n")
    assert b"DB_EXPORT" not in blank and b"DB_DEPRECATED" not in blank
    assert blank.replace(b" ", b"") == src.replace(b" ", b"").replace(b"DB_EXPORT", b"").replace(b"DB_DEPRECATED", b"")
    # an all-capitals class name, a template parameter and a plain declaration are left alone
    for keep in (b"class RE2 {};\n", b"template <class T> struct Box { T v; };\n", b"struct STAT st;\n",
                 b"enum class Mode { A, B };\n"):
        assert blank_class_macros(keep) == keep


def test_c_macro_lines_do_not_glue_structs_together():
    """libuv's ``uv.h``: field macros alone on their lines (no semicolon) made the parser
    nest each struct in the one before and lose its members."""
    from ripmap.extract.macros import blank_line_macros

    src = (b"struct uv_tty_s {\n  UV_HANDLE_FIELDS\n  UV_STREAM_FIELDS\n  UV_TTY_PRIVATE_FIELDS\n};\n\n"
           b"struct uv_udp_s {\n  UV_HANDLE_FIELDS\n  size_t send_queue_size;\n};\n\n"
           b"int uv_tcp_init(void* loop, struct uv_tcp_s* handle) {\n  FIND_COMMON_VARIABLES\n"
           b"  return call(loop,\n              NULL_HANDLE\n              );\n}\n")
    tags, notes = extract_tags(src, "c")
    assert notes == []
    got = {(t.name, t.kind, t.parent) for t in _defs(tags)}
    assert {("uv_tty_s", "struct", None), ("uv_udp_s", "struct", None), ("uv_tcp_init", "function", None)} <= got
    # the structs' members stay inside them: no definition is parented by the other struct
    assert not [t for t in _defs(tags) if t.parent in ("uv_tty_s", "uv_udp_s")]
    blank = blank_line_macros(src)
    assert b"UV_HANDLE_FIELDS" not in blank and b"FIND_COMMON_VARIABLES" not in blank
    assert b"NULL_HANDLE" in blank  # inside an argument list: the line before ends with ","
    assert len(blank) == len(src)
    # what may be part of a definition is left alone: a return type on its own line, a
    # macro that opens a body on the next line, a continued #define
    for keep in (b"}\nU32\nZSTD_count(const BYTE* p) {\n  return 0;\n}\n",
                 b"}\nTEST(Suite, Name)\n{\n  EXPECT_TRUE(x);\n}\n",
                 b"#define X(a) \\\n  DO_IT(a) \\\n  DONE\n"):
        assert blank_line_macros(keep) == keep, keep


def test_macro_lines_in_a_row_are_judged_without_reading_back_over_each_other(monkeypatch):
    """A generated X-macro list can hold thousands of macro lines in a row; reading back
    from each to the last real line made the scan quadratic (20,000 lines: two minutes).
    Every line is blanked, and the line before the run is looked up once."""
    from ripmap.extract import macros

    calls = []
    real = macros._last_line
    monkeypatch.setattr(macros, "_last_line", lambda buf, pos: calls.append(pos) or real(buf, pos))
    src = b"struct s {\n" + b"ENTRY_FIELDS\n\n" * 3000 + b"};\n"
    out = macros.blank_line_macros(src)
    assert b"ENTRY_FIELDS" not in out and out.count(b"\n") == src.count(b"\n") and len(out) == len(src)
    assert len(calls) == 1


def test_cpp_macro_line_before_a_nested_class_keeps_its_members():
    """glog's ``logging.h``: ``GLOG_MSVC_PUSH_DISABLE_WARNING(4275)`` before ``class
    LogStream`` put ``LogStream``'s methods in the namespace; ``Q_OBJECT`` likewise."""
    src = (b"namespace google {\nclass LogMessage {\n public:\n  WARNING_PUSH(4275)\n"
           b"  class LogStream : public std::ostream {\n   public:\n    int ctr() const { return ctr_; }\n"
           b"  };\n  WARNING_POP()\n  void Flush();\n};\n}\n"
           b"class ExampleQt : public QObject {\n  Q_OBJECT\n public:\n  int value() const;\n};\n")
    tags, notes = extract_tags(src, "cpp")
    assert notes == []
    got = {(t.name, t.parent) for t in _defs(tags)}
    assert {("LogStream", "LogMessage"), ("ctr", "LogStream"), ("Flush", "LogMessage"), ("value", "ExampleQt")} <= got


def test_cpp_signature_keeps_to_its_own_statement_after_error_recovery():
    """Around gtest macros the parser can start a definition statements early (re2's
    ``re2_arg_test.cc``): the signature is the piece that names the definition, not
    ``PARSE_FOR_TYPE(uint32_t, 3); } TEST(RE2ArgTest, Int64Test)``; braces inside
    parentheses (a default argument ``= {}``) are no statement end."""
    src = (b"#define CHECK(type, column) { type r; }\n\nTEST(ArgTest, Int32Test) {\n  CHECK(int32_t, 2);\n}\n\n"
           b"TEST(ArgTest, Uint32Test) {\n  CHECK(uint32_t, 3);\n}\n\n"
           b"TEST(ArgTest, Int64Test) {\n  CHECK(int64_t, 4);\n}\n\n"
           b"void configure(Options opts = {}, int level = 0) {\n  run(opts);\n}\n")
    tags, _ = extract_tags(src, "cpp")
    for t in _defs(tags):
        assert ";" not in t.signature and (t.name == "configure" or "}" not in t.signature), t
        assert t.name in t.signature, t
    # (the garbled tree even reads configure as a declarator inside the last CHECK)
    assert _one_def(tags, "configure").signature.endswith("configure(Options opts = {}, int level = 0)")


def test_lua_method_parent():
    src = b"local Account = {}\n\nfunction Account:deposit(x)\n  self.balance = self.balance + x\nend\n"
    tags, _ = extract_tags(src, "lua")
    deposit = _one_def(tags, "deposit")
    assert (deposit.kind, deposit.parent) == ("method", "Account")


def test_lua_table_field_function():
    src = b"local M = {\n  size = 3,\n  describe = function(a)\n    return a\n  end,\n}\n"
    tags, _ = extract_tags(src, "lua")
    describe = _one_def(tags, "describe")
    assert (describe.line, describe.end_line) == (3, 5)
    assert describe.signature == "describe = function(a)"


def test_swift_class_members():
    src = (b"class Canvas {\n    var count: Int = 0\n\n    func add(_ n: Int) {\n"
           b"        count += n\n    }\n}\n")
    tags, _ = extract_tags(src, "swift")
    add = _one_def(tags, "add")
    assert (add.kind, add.parent, add.line, add.end_line) == ("method", "Canvas", 4, 6)
    count = _one_def(tags, "count")
    assert (count.kind, count.parent, count.line) == ("property", "Canvas", 2)


def test_dart_function_spans_its_body():
    src = b"void main() {\n  print(helper());\n}\n\nint helper() {\n  return 1;\n}\n"
    tags, _ = extract_tags(src, "dart")
    main = _one_def(tags, "main")
    assert (main.line, main.end_line) == (1, 3)
    assert [t.parent for t in _refs(tags) if t.name == "print"] == ["main"]


def test_dart_parameters_are_not_references():
    src = b"int twice(int value) {\n  return value * 2;\n}\n"
    tags, _ = extract_tags(src, "dart")
    assert "value" not in {t.name for t in _refs(tags)}


def test_ruby_parameters_are_not_references():
    src = b"def greet(name)\n  puts name\nend\n"
    tags, _ = extract_tags(src, "ruby")
    refs = {t.name for t in _refs(tags)}
    assert "puts" in refs
    assert "name" not in refs


def test_elixir_keywords_are_not_references():
    src = b"defmodule M do\n  def f(x), do: g(x)\nend\n"
    tags, _ = extract_tags(src, "elixir")
    refs = {t.name for t in _refs(tags)}
    assert "g" in refs
    assert not refs & {"def", "defmodule"}, refs


def test_scala_end_line():
    src = b"object G {\n  def total(xs: Seq[Int]): Int =\n    xs.sum\n\n  def other(): Int = 1\n}\n"
    tags, _ = extract_tags(src, "scala")
    total = _one_def(tags, "total")
    assert (total.line, total.end_line) == (2, 3)


def test_functions_in_modules_stay_functions():
    ts_tags, _ = extract_tags(b"module Geo {\n  export function origin() {\n    return 0;\n  }\n}\n", "typescript")
    origin = _one_def(ts_tags, "origin")
    assert (origin.kind, origin.parent) == ("function", "Geo")
    ex_tags, _ = extract_tags(b"defmodule M do\n  def f(x), do: x\nend\n", "elixir")
    f = _one_def(ex_tags, "f")
    assert (f.kind, f.parent) == ("function", "M")


def test_rust_fn_in_mod_and_impl_in_mod():
    src = (b"mod tests {\n    fn helper() {}\n    impl Foo {\n        fn get(&self) {}\n    }\n}\n"
           b"extern \"C\" {\n    fn abs(x: i32) -> i32;\n}\n")
    tags, _ = extract_tags(src, "rust")
    assert (_one_def(tags, "helper").kind, _one_def(tags, "helper").parent) == ("function", "tests")
    assert (_one_def(tags, "get").kind, _one_def(tags, "get").parent) == ("method", "Foo")
    abs_ = _one_def(tags, "abs")
    assert (abs_.kind, abs_.parent, abs_.signature) == ("function", None, "fn abs(x: i32) -> i32")
    tags, _ = extract_tags(b"trait Named {\n    fn name(&self) -> String;\n}\n", "rust")
    name = _one_def(tags, "name")
    assert (name.kind, name.parent, name.signature) == ("method", "Named", "fn name(&self) -> String")


def test_c_struct_use_is_a_type_reference():
    src = b"struct Buf;\nstruct Buf *make(void);\nenum Status { OK };\nenum Status run(void) { return OK; }\n"
    tags, _ = extract_tags(src, "c")
    assert not [t for t in _defs(tags) if t.name == "Buf"]
    status_refs = [(t.line, t.kind, t.parent) for t in _refs(tags) if t.name == "Status"]
    assert status_refs == [(4, "type", "run")]
    run = _one_def(tags, "run")
    assert (run.signature, run.end_line) == ("enum Status run(void)", 4)


@pytest.mark.parametrize("lang", ["c", "cpp"])
def test_c_typedef_of_a_struct_body_names_the_type_in_its_signature(lang):
    """``typedef struct {`` is where the header ends, but the name comes after the body:
    zstd's map showed twenty lines of ``typedef struct:`` and ``typedef enum:``."""
    src = (b"typedef struct {\n    int lo;  /* lowest */\n    int hi;\n} bounds_t;\n"
           b"typedef enum { MODE_A, MODE_B } mode_e;\n"
           b"typedef struct in_s {\n  const void* src;\n} in_t;\ntypedef struct ctx_s ctx_t;\n")
    tags, _ = extract_tags(src, lang)
    sigs = {t.name: (t.kind, t.signature) for t in _defs(tags)}
    assert sigs["bounds_t"] == ("type", "typedef struct {…} bounds_t")
    assert sigs["mode_e"] == ("type", "typedef enum {…} mode_e")
    assert sigs["in_t"] == ("type", "typedef struct in_s {…} in_t")
    assert sigs["ctx_t"] == ("type", "typedef struct ctx_s ctx_t")


@pytest.mark.parametrize("lang", ["c", "cpp"])
def test_c_return_type_on_a_line_of_its_own_stays_in_the_signature(lang):
    """GNU style puts a declaration's return type on a line of its own; the signature was
    that line alone (zstd.h's map showed ``ZSTDLIB_STATIC_API size_t`` for a function)."""
    src = (b"ZSTDLIB_STATIC_API size_t\nZSTD_generateSequences(ZSTD_CCtx* zc,\n"
           b"                       size_t outSeqsSize);\n"
           b"static int\nparse_args(int argc, char **argv)\n{\n  return argc;\n}\n"
           b"size_t\nsum(int a, int b);\nint after;\n")
    tags, _ = extract_tags(src, lang)
    sigs = {t.name: t.signature for t in _defs(tags)}
    assert sigs["ZSTD_generateSequences"].endswith("size_t ZSTD_generateSequences(ZSTD_CCtx* zc, size_t outSeqsSize)")
    assert sigs["parse_args"] == "static int parse_args(int argc, char **argv)"
    assert sigs["sum"] == "size_t sum(int a, int b)"


def test_c_prototype_span_and_signature():
    tags, _ = extract_tags(b"static char **split(const char *s,\n                    int sep);\n", "c")
    split = _one_def(tags, "split")
    assert (split.line, split.end_line, split.signature) == (
        1, 2, "static char **split(const char *s, int sep)")


def test_csharp_generic_and_qualified_base_references():
    src = b"class Repo : Base<Item>, System.IDisposable, IRepo<Item, int> {\n}\n"
    tags, _ = extract_tags(src, "c_sharp")
    assert {t.name for t in _refs(tags)} >= {"Base", "IDisposable", "IRepo"}
    assert not [t for t in _refs(tags) if "<" in t.name or "." in t.name]


_CSHARP_API = b"""namespace Demo {
public record Person(string Name);
public struct Point { public int X; }
public enum Color { Red, Green }
public delegate void Handler(int code);
public class LoggerConfiguration : Base {
    private readonly int _count = 1;
    public const int Limit = 8;
    public LoggerConfiguration(int level) { Configure(level); var w = new Widget(); }
    public SinkConfiguration WriteTo { get; internal set; }
    public SettingsConfiguration ReadFrom => new(this);
    public event Handler Changed;
    public Logger CreateLogger(Gadget gadget) {
        var options = Helper.Make(gadget);
        Log.Logger.Write(Color.Red, options.Level);
        return Parse<Logger>(options);
    }
}
}
"""


def test_csharp_members_types_and_plain_calls_are_tagged():
    """The shipped C# query defines classes, interfaces, methods and namespaces and
    references only `x.Method()`; a C# API is mostly properties, and most calls are
    plain. Ours adds them (``csharp-extra.scm``)."""
    tags, notes = extract_tags(_CSHARP_API, "c_sharp")
    assert notes == []
    kinds = {(t.name, t.kind) for t in _defs(tags)}
    assert {("Person", "class"), ("Point", "struct"), ("Color", "enum"), ("Handler", "type"),
            ("LoggerConfiguration", "method"), ("WriteTo", "property"), ("ReadFrom", "property"),
            ("Changed", "property"), ("Limit", "field"), ("X", "field"), ("Red", "constant")} <= kinds, kinds
    assert "_count" not in {t.name for t in _defs(tags)}  # private state: not the API a map shows
    assert _one_def(tags, "ReadFrom").parent == "LoggerConfiguration"
    refs = {(t.name, t.kind) for t in _refs(tags)}
    assert {("Configure", "call"), ("Parse", "call"), ("Make", "call"), ("Write", "call")} <= refs, refs
    assert {("Widget", "class"), ("Gadget", "type"), ("SinkConfiguration", "type"), ("Logger", "type")} <= refs, refs
    names = {t.name for t in _refs(tags)}
    assert {"Helper", "Log", "Level"} <= names  # a static type read from, a member read
    assert "options" not in names and "gadget" not in names  # camelCase locals are not references


def test_php_enums_and_class_constants_are_definitions():
    """The shipped PHP query misses PHP 8.1 enums and class constants (``php-extra.scm``)."""
    src = (b"<?php\nnamespace App;\nenum Suit: string { case Hearts = 'H'; case Spades = 'S'; }\n"
           b"final class Handler {\n    public const LIMIT = 3;\n    private const A = 1, B = 2;\n"
           b"    public function handle(): int { return self::LIMIT; }\n}\n")
    tags, notes = extract_tags(src, "php")
    assert notes == []
    defs = {(t.name, t.kind) for t in _defs(tags)}
    assert {("Suit", "enum"), ("Hearts", "constant"), ("Spades", "constant"), ("LIMIT", "constant"),
            ("A", "constant"), ("B", "constant"), ("Handler", "class"), ("handle", "method")} <= defs, defs
    assert _one_def(tags, "Hearts").parent == "Suit" and _one_def(tags, "LIMIT").parent == "Handler"


def test_scala_method_calls_objects_read_from_and_types_are_references():
    """The shipped Scala query references plain calls, `new T` and `extends T` only; most
    Scala calls are on a value (``scala-extra.scm``)."""
    src = (b"object Encoder {\n"
           b"  def instance[A](f: A => Json): Encoder[A] = Json.fromString(x).mapObject(f).noSpaces\n"
           b"  val decoder: Option[Decoder[Int]] = None\n"
           b"  def run(c: Cursor): Result = c.downField(key).as[Int]\n}\n"
           b"case class Person(name: String, age: Age)\n")
    tags, notes = extract_tags(src, "scala")
    assert notes == []
    refs = {(t.name, t.kind) for t in _refs(tags)}
    assert {("fromString", "call"), ("mapObject", "call"), ("downField", "call"),
            ("Json", "member"), ("Encoder", "type"), ("Decoder", "type"), ("Option", "type"), ("Cursor", "type"),
            ("Result", "type"), ("Age", "type")} <= refs, refs
    assert "c" not in {t.name for t in _refs(tags)}  # a value a member is read from is no reference


def test_a_generic_parameter_list_over_several_lines_prints_as_written_on_one():
    """`interface Box<\n  T,\n>` printed as `interface Box< T, >` (zod's schemas): the break
    after `<` and the trailing comma before `>` go, as they do inside parentheses."""
    ts = (b"export interface ZodObject<\n  out Shape extends Base = Loose,\n  out Config = Strip,\n"
          b"> extends ZodType<Shape> {\n  x: number;\n}\n"
          b"export function pick<\n  T extends object,\n>(x: T): Box<\n  T\n> {\n  return x;\n}\n")
    tags, _ = extract_tags(ts, "typescript")
    assert _one_def(tags, "ZodObject").signature == (
        "interface ZodObject<out Shape extends Base = Loose, out Config = Strip> extends ZodType<Shape>")
    assert _one_def(tags, "pick").signature == "function pick<T extends object>(x: T): Box<T>"
    rs = b"impl X {\n    fn write<\n        T: Into<u8>,\n    >(&mut self, t: T) -> Result<\n        (),\n        E,\n    > { Ok(()) }\n}\n"
    tags, _ = extract_tags(rs, "rust")
    assert _one_def(tags, "write").signature == "fn write<T: Into<u8>>(&mut self, t: T) -> Result<(), E>"


def test_a_header_without_a_body_reads_past_an_arrow_type():
    """zustand's `then<V>(\n  onFulfilled: (value: Value) => V | Promise<V>,\n): Thenable<V>`
    printed as `then<V>(onFulfilled: (value: Value) => V | Promise<V>,`: the `>` of `=>` had
    closed the `<` of `then<V>`, so the header seemed to end with the parameter's line."""
    ts = (b"interface Thenable<Value> {\n  then<V>(\n    onFulfilled: (value: Value) => V | Promise<V>,\n"
          b"  ): Thenable<V>\n  arrow(\n    f: (x: number) => void,\n  ): void\n}\n")
    tags, _ = extract_tags(ts, "typescript")
    assert _one_def(tags, "then").signature == "then<V>(onFulfilled: (value: Value) => V | Promise<V>): Thenable<V>"
    assert _one_def(tags, "arrow").signature == "arrow(f: (x: number) => void): void"


def test_a_header_ends_before_every_opener_it_ends_with():
    """axios' `type RawCommonResponseHeaders = {` printed as `type RawCommonResponseHeaders =`:
    only the last opener went. A constant's string running over lines shows closed, as a
    bracket does (flask's `_no_app_msg = \"\"\"\\` printed as written)."""
    ts = b"type Headers = {\n  [Key in List]: string;\n} & {\n  x: string[];\n};\n"
    assert _one_def(extract_tags(ts, "typescript")[0], "Headers").signature == "type Headers"
    py = b'_no_app_msg = """\\\nWorking outside of the application context.\n"""\nONE = """a line"""\n'
    tags, _ = extract_tags(py, "python")
    assert _one_def(tags, "_no_app_msg").signature == '_no_app_msg = """\u2026"""'
    assert _one_def(tags, "ONE").signature == 'ONE = """a line"""'


def test_a_header_error_recovery_ran_across_statements_keeps_its_own_piece():
    """In fmt's macro-heavy `base.h` error recovery starts definitions statements early; the
    header is cut to the piece that names the definition. The first such piece was taken:
    the constructor `named_arg_store(T&... values)` printed as `struct named_arg_store {
    arg_t<Context, N> args[N + 1u]`, and `get` ran into its body (`-> format_arg { auto arg
    = format_arg()`). A function's piece is the one naming it before `(`, cut before a `{`."""
    from ripmap.extract.signature import _own_statement

    raw = ("struct named_arg_store {\n  arg_t<Context, N> args[N + 1u];\n  named_arg_info<C> named_args[M];\n"
           "  template <typename... T>\n  FMT_CONSTEXPR named_arg_store(T&... values)")
    assert _own_statement(raw, "named_arg_store", call=True) == "template <typename... T>\n  FMT_CONSTEXPR named_arg_store(T&... values)"
    assert _own_statement(raw, "named_arg_store").startswith("struct named_arg_store")  # a type: the first piece
    body = "int x; } FMT_CONSTEXPR auto get(int id) const -> format_arg {\n    auto arg = format_arg()"
    assert _own_statement(body, "get", call=True) == "FMT_CONSTEXPR auto get(int id) const -> format_arg"
    # braces inside the parameter list are no body: `f(Opts o = {})` keeps them
    assert _own_statement("x; } void f(Opts o = {}, int n)", "f", call=True) == "void f(Opts o = {}, int n)"


def test_preprocessor_lines_are_no_part_of_a_signature():
    cs = (b"public sealed class Logger : ILogger, IDisposable\n#if FEATURE_ASYNC\n    , IAsyncDisposable\n"
          b"#endif\n{\n    public void Write() { }\n}\n")
    tags, _ = extract_tags(cs, "c_sharp")
    assert _one_def(tags, "Logger").signature == "public sealed class Logger : ILogger, IDisposable, IAsyncDisposable"
    c = b"int sum(int a,\n#ifdef WITH_B\n        int b,\n#endif\n        int c) { return a + c; }\n"
    tags, _ = extract_tags(c, "c")
    assert _one_def(tags, "sum").signature == "int sum(int a, int b, int c)"
    py = b"def f(a,  # why\n      b):\n    pass\n"
    assert _one_def(extract_tags(py, "python")[0], "f").signature == "def f(a, b)"


def test_kind_ids_remembered_for_a_freed_grammar_are_not_used_for_another():
    """A grammar object's id can be reused by another grammar once the first is freed;
    the C# test above then saw ``Base<Item>`` whole now and then (the kind ids of the
    freed grammar said its generic names were not generic)."""
    from ripmap.extract import captures

    lang = languages.load("c_sharp").language
    right = captures.generic_ids(lang)
    assert right  # C# has generic and qualified names
    captures._GENERIC_IDS[id(lang)] = (object(), frozenset({65535}))  # left by a freed grammar
    assert captures.generic_ids(lang) == right
    test_csharp_generic_and_qualified_base_references()


def test_swift_extension_methods_and_protocol_members():
    src = (b"protocol Named {\n    var name: String { get }\n    func greet() -> String\n}\n\n"
           b"extension Canvas: Named {\n    func greet() -> String {\n        return describe(name)\n    }\n}\n")
    tags, _ = extract_tags(src, "swift")
    greets = sorted((t.line, t.kind, t.parent) for t in _defs(tags) if t.name == "greet")
    assert greets == [(3, "method", "Named"), (7, "method", "Canvas")]
    assert (_one_def(tags, "name").kind, _one_def(tags, "name").parent) == ("property", "Named")
    describe = [t for t in _refs(tags) if t.name == "describe"]
    assert [(t.kind, t.parent) for t in describe] == [("call", "greet")]
    assert ("Named", "class") in {(t.name, t.kind) for t in _refs(tags)}


def test_swift_local_variables_are_not_definitions():
    src = b"func run() {\n    let total = compute()\n    print(total)\n}\n"
    tags, _ = extract_tags(src, "swift")
    assert [t.name for t in _defs(tags)] == ["run"]
    assert {(t.name, t.parent) for t in _refs(tags)} >= {("compute", "run"), ("print", "run")}


DART_SRC = b'''import 'src/shapes.dart';

class Canvas<T> extends Base with Paint implements Sink<T> {
  final List<Shape> shapes = [];

  Canvas.empty();

  void add(Shape shape, {int times = 1}) {
    final copy = shape.clone();
    shapes..add(copy)..sort();
    log(copy?.describe());
    var w = new Widget(times);
  }

  int get count => shapes.length;
}

int twice(int value) => helper(value) * 2;
'''


def test_dart_definitions_and_references():
    tags, notes = extract_tags(DART_SRC, "dart")
    assert notes == []
    canvas = _one_def(tags, "Canvas")
    assert (canvas.kind, canvas.line, canvas.end_line) == ("class", 3, 16)
    add = _one_def(tags, "add")
    assert (add.kind, add.parent, add.line, add.end_line, add.signature) == (
        "method", "Canvas", 8, 13, "void add(Shape shape, {int times = 1})")
    assert (_one_def(tags, "empty").kind, _one_def(tags, "empty").parent) == ("method", "Canvas")
    assert (_one_def(tags, "count").kind, _one_def(tags, "count").end_line) == ("method", 15)
    twice = _one_def(tags, "twice")
    assert (twice.kind, twice.parent, twice.signature) == ("function", None, "int twice(int value)")
    refs = {(t.name, t.kind): t for t in _refs(tags)}
    for name in ("clone", "add", "sort", "log", "describe", "helper"):
        assert (name, "call") in refs, name
    assert refs[("clone", "call")].parent == "add"
    assert refs[("Widget", "class")].parent == "add"
    for name in ("Base", "Paint", "Sink", "Shape", "List"):
        assert (name, "type") in refs, name
    names = {t.name for t in _refs(tags)}
    # parameters, locals, fields read and type parameters are no references
    assert not names & {"shape", "copy", "times", "value", "w", "shapes", "length"}, names
    # `class Canvas<T>` declares T; `Sink<T>` uses it
    assert [t.line for t in _refs(tags) if t.name == "T"] == [3]
    assert ("'src/shapes.dart'", "import") in refs


def test_ruby_block_parameters_and_assignments_are_not_references():
    src = (b"def run(items, limit = 3)\n  total = 0\n  items.each { |x| total += x }\n"
           b"  rescue_me rescue nil\n  report(total, limit, missing)\nend\n")
    tags, _ = extract_tags(src, "ruby")
    refs = {t.name for t in _refs(tags)}
    assert {"each", "report", "missing", "rescue_me"} <= refs
    assert not refs & {"items", "limit", "total", "x"}, refs


def test_elixir_module_attributes_are_not_references():
    src = b"defmodule M do\n  @moduledoc false\n  alias Foo.Bar\n  def f(x), do: Bar.g(x) |> h()\nend\n"
    tags, _ = extract_tags(src, "elixir")
    refs = {t.name for t in _refs(tags)}
    assert {"g", "h", "Foo.Bar"} <= refs
    assert not refs & {"moduledoc", "alias", "def", "defmodule"}, refs


def test_signatures_drop_annotations():
    java = b"class A {\n  @Override\n  @SuppressWarnings(\"x\") public String toString() { return \"\"; }\n}\n"
    tags, _ = extract_tags(java, "java")
    to_string = _one_def(tags, "toString")
    assert (to_string.line, to_string.signature) == (2, "public String toString()")
    cs = b"class A {\n  [Obsolete] public void Run() { }\n}\n"
    tags, _ = extract_tags(cs, "c_sharp")
    assert _one_def(tags, "Run").signature == "public void Run()"


#: Signature prefixes that are comments or annotations in some language, never a declaration
_NOISE_PREFIXES = ("@", "//", "/*", "--", "(*", "{-", "#[")


@pytest.mark.parametrize("lang", [lang for lang in SAMPLE_LANGS if lang != "markdown"])
def test_sample_signatures_hold_no_comments_or_annotations(lang):
    """Every sample ends with definitions whose headers carry comments marked
    ``sigcomment`` (inside parameter lists, after the header, between annotations);
    none may reach a signature, and no signature may start with an annotation."""
    tags, _notes = _extract(lang)
    src = _sample_file(lang).read_text(encoding="utf-8")
    assert "sigcomment" in src
    defs = _defs(tags)
    marked = [t for t in defs if t.name.replace("_", "").lower() in ("sigdemo", "hashable", "invoke", "run")]
    assert marked, f"{lang}: the sample's comment-laden definitions were not found"
    for t in defs:
        sig = t.signature or ""
        assert "sigcomment" not in sig, f"{lang}: {t}"
        assert not sig.startswith(_NOISE_PREFIXES), f"{lang}: {t}"
        if lang == "c_sharp":
            assert not sig.startswith("["), t


def test_signatures_drop_comments():
    py = (b"class Hashable(Protocol, metaclass=ABCMeta):  # TODO: explain\n"
          b"    def invoke(  # type: ignore[override]\n        self, cli: t.Any = None,  # the group\n"
          b"    ) -> Result:  # why\n        pass\n"
          b"app_ctx: AppContextProxy = LocalProxy(  # type: ignore[assignment]\n    _cv_app, unbound_message=_msg\n)\n")
    tags, _ = extract_tags(py, "python")
    assert _one_def(tags, "Hashable").signature == "class Hashable(Protocol, metaclass=ABCMeta)"
    assert _one_def(tags, "invoke").signature == "def invoke(self, cli: t.Any = None) -> Result"
    assert _one_def(tags, "app_ctx").signature == "app_ctx: AppContextProxy = LocalProxy(…)"
    java = (b"@SuppressWarnings(\"UnusedVariable\") // legacy class name\n"
            b"public final class ISO8601Utils {\n"
            b"  @SuppressWarnings(\"UngroupedOverloads\") // intentionally ungrouped\n  @Override\n"
            b"  public boolean remove(Object o) { return false; }\n"
            b"  /** Javadoc. */\n  @CanIgnoreReturnValue // only to verify\n"
            b"  public JsonNull getAsJsonNull(int a /* unused */) { return null; }\n}\n")
    tags, _ = extract_tags(java, "java")
    assert _one_def(tags, "ISO8601Utils").signature == "public final class ISO8601Utils"
    assert _one_def(tags, "remove").signature == "public boolean remove(Object o)"
    assert _one_def(tags, "getAsJsonNull").signature == "public JsonNull getAsJsonNull(int a)"
    c = b"void StreamHelper(internal::true_type /*is_pointer*/, T* pointer) {\n}\nint/*c*/g(void);\n"
    tags, _ = extract_tags(c, "cpp")
    assert _one_def(tags, "StreamHelper").signature == "void StreamHelper(internal::true_type, T* pointer)"
    assert _one_def(tags, "g").signature == "int g(void)"
    # a header without a body still ends at its first line break when a comment ends that line
    rust = b"macro_rules! square { // squares\n    ($x:expr) => { $x * $x };\n}\n"
    tags, _ = extract_tags(rust, "rust")
    assert _one_def(tags, "square").signature == "macro_rules! square"


def test_javascript_object_function_signatures():
    src = b"const o = { go: function(a) { return a; }, run(b) { return b; } };\nconst f = (x) => x + 1;\n"
    tags, _ = extract_tags(src, "javascript")
    assert _one_def(tags, "go").signature == "go: function(a)"
    assert _one_def(tags, "run").signature == "run(b)"
    assert _one_def(tags, "f").signature == "f = (x) =>"


# ---------------------------------------------------------------------------
# Malformed input
# ---------------------------------------------------------------------------

def _garbage(n: int = 20000) -> bytes:
    rnd = random.Random(1234)
    return bytes(rnd.randrange(256) for _ in range(n))


@pytest.mark.parametrize("lang", ["python", "javascript", "c", "rust", "ruby", "go", "markdown"])
def test_binary_garbage(lang):
    data = _garbage()
    tags, notes = extract_tags(data, lang)
    assert any("UTF-8" in n for n in notes), notes
    assert tags == sorted(tags, key=Tag.sort_key)
    n_lines = data.count(b"\n") + 1
    for t in tags:
        assert isinstance(t.name, str) and 0 < len(t.name) <= 200
        assert 1 <= t.line <= t.end_line <= n_lines


def test_nul_bytes_in_python():
    src = b"def a():\n    return 1\n\x00\x00\x00\ndef b():\n    return '\x00'\n"
    tags, notes = extract_tags(src, "python")
    assert {(t.name, t.line) for t in _defs(tags)} == {("a", 1), ("b", 4)}
    assert any("syntax" in n for n in notes), notes


def test_invalid_utf8_latin1_identifiers():
    src = "def café():\n    return 1\n\ndef ok():\n    return café()\n".encode("latin-1")
    tags, notes = extract_tags(src, "python")
    assert any("UTF-8" in n for n in notes), notes
    defs = {t.line: t for t in _defs(tags)}
    assert defs[4].name == "ok" and defs[4].kind == "function"
    # the bad name survives, decoded with a replacement character as the note says
    assert 1 in defs and defs[1].name == "caf\ufffd"
    assert [t.name for t in _refs(tags) if t.line == 5] == ["caf\ufffd"]


BROKEN_PY = b'''def before():
    return 1

x = foo(1, 2

def after():
    return 2

class Tail:
    def method(self):
        pass
'''


def test_broken_python_keeps_defs_before_error():
    tags, notes = extract_tags(BROKEN_PY, "python")
    assert any("syntax" in n for n in notes), notes
    before = _one_def(tags, "before")
    assert (before.kind, before.line, before.end_line) == ("function", 1, 2)


def test_broken_python_keeps_defs_after_error():
    tags, notes = extract_tags(BROKEN_PY, "python")
    assert any("syntax" in n for n in notes), notes
    defs = {(t.name, t.kind) for t in _defs(tags)}
    assert {("after", "function"), ("Tail", "class"), ("method", "method")} <= defs
    after = _one_def(tags, "after")
    assert (after.line, after.end_line, after.signature) == (6, 7, "def after()")
    tail = _one_def(tags, "Tail")
    assert (tail.line, tail.end_line) == (9, 11)
    method = _one_def(tags, "method")
    assert (method.parent, method.line, method.end_line) == ("Tail", 10, 11)
    n_lines = BROKEN_PY.count(b"\n") + 1
    assert all(1 <= t.line <= t.end_line <= n_lines for t in tags)
    assert tags == sorted(tags, key=Tag.sort_key)


def test_broken_python_two_swallowing_errors():
    src = (b"import os\n\nx = f(1,\n\ndef a():\n    return os.getcwd()\n\n"
           b"y = [1, 2\n\nclass B:\n    def m(self):\n        return a()\n")
    tags, _ = extract_tags(src, "python")
    got = {(t.name, t.kind, t.line, t.end_line, t.parent) for t in _defs(tags)}
    assert {("a", "function", 5, 6, None), ("B", "class", 10, 12, None), ("m", "method", 11, 12, "B")} <= got
    refs = {(t.name, t.line): t.parent for t in _refs(tags)}
    assert refs[("getcwd", 6)] == "a" and refs[("a", 12)] == "m"


def test_broken_python_line_in_the_middle():
    src = b"def before():\n    return 1\n\nx = = 1\n\ndef after():\n    return before()\n"
    tags, notes = extract_tags(src, "python")
    assert any("syntax" in n for n in notes), notes
    defs = {(t.name, t.line) for t in _defs(tags) if t.kind == "function"}
    assert {("before", 1), ("after", 6)} <= defs
    assert [t.parent for t in _refs(tags) if t.name == "before"] == ["after"]


def test_deeply_nested_brackets():
    src = b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n\ndef f():\n    return x\n"
    tags, _notes = extract_tags(src, "python")
    assert ("x", "constant") in {(t.name, t.kind) for t in _defs(tags)}
    f = _one_def(tags, "f")
    assert (f.line, f.end_line) == (3, 4)


def test_deeply_nested_brackets_javascript():
    src = b"const x = " + b"[" * 5000 + b"]" * 5000 + b";\nfunction f() { return x; }\n"
    tags, _notes = extract_tags(src, "javascript")
    assert _one_def(tags, "f").line == 2


def test_huge_minified_javascript():
    unit = "function f%d(a){return g(a)+%d};"
    parts, size, n = [], 0, 0
    while size < 5 * 1024 * 1024:
        s = unit % (n, n)
        parts.append(s)
        size += len(s)
        n += 1
    data = "".join(parts).encode()
    assert b"\n" not in data and len(data) >= 5 * 1024 * 1024
    tags, notes = extract_tags(data, "javascript")
    assert notes == []
    defs = _defs(tags)
    assert len(defs) == n
    assert all(t.line == 1 and t.end_line == 1 and t.kind == "function" for t in defs)
    assert {t.name for t in defs} >= {"f0", f"f{n - 1}"}
    assert all(len(t.signature) <= 200 for t in defs)
    assert sum(1 for t in _refs(tags) if t.name == "g") == n


@pytest.mark.parametrize("lang", [s.name for s in languages.SPECS])
def test_empty_file(lang):
    assert extract_tags(b"", lang) == ([], [])


@pytest.mark.parametrize("lang", ["python", "go", "markdown"])
def test_whitespace_only_file(lang):
    tags, _notes = extract_tags(b"\n\n   \n\t\n", lang)
    assert tags == []


@pytest.fixture
def broken_query():
    """Make every query source fail to compile; restore the real caches afterwards."""
    _clear_caches()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(languages, "query_source", lambda spec: "(nonexistent_node) @name")
        _clear_caches()
        yield
    _clear_caches()
    assert isinstance(languages.load("python"), languages.Loaded)


def test_query_that_does_not_compile(broken_query):
    tags, notes = extract_tags(b"def f():\n    return g()\n", "python")
    assert tags == []
    assert len(notes) == 1 and "does not compile" in notes[0], notes
    assert isinstance(languages.load("python"), languages.LoadFailure)


def test_caches_restored_after_broken_query():
    # runs after test_query_that_does_not_compile in file order; either way the real
    # query must be back
    tags, notes = extract_tags(b"def f():\n    return g()\n", "python")
    assert notes == []
    assert [(t.name, t.is_def) for t in tags] == [("f", True), ("g", False)]


def test_unknown_language_does_not_raise():
    tags, notes = extract_tags(b"whatever", "klingon")
    assert tags == []
    assert len(notes) == 1 and "klingon" in notes[0]


def test_reference_patterns_are_folded_into_one_capture():
    from ripmap import languages

    for lang in ("python", "go", "dart"):  # dart's query has non-ASCII comments
        q = languages.load(lang).query
        names = {q.capture_name(i) for i in range(q.capture_count)}
        assert "name.reference.call" in names, lang
        assert "reference.call" not in names, lang


def test_folding_keeps_the_original_query_when_the_fold_does_not_compile():
    import tree_sitter_python
    from tree_sitter import Language, Query

    from ripmap.languages import _single_capture_refs

    lang = Language(tree_sitter_python.language())
    src = "; café → calls\n(call function: (identifier) @name) @reference.call\n"
    folded = _single_capture_refs(lang, Query(lang, src), src)
    assert {folded.capture_name(i) for i in range(folded.capture_count)} == {"name.reference.call"}
    # the predicate needs the outer capture: folding would not compile, so nothing changes
    src2 = '((call function: (identifier) @name) @reference.call (#match? @reference.call "^x"))\n'
    original = Query(lang, src2)
    assert _single_capture_refs(lang, original, src2) is original


# ---------------------------------------------------------------------------
# Nesting in the rendered map (methods under their type)
# ---------------------------------------------------------------------------

@contextlib.contextmanager
def _fitted_repo(tmp_path: Path, files: dict[str, bytes], tokens: int = 100_000):
    """The fitted map of a fresh git repository holding ``files`` and its fitter, while
    the repository's index is open (the fitter reads definitions from it)."""
    from ripmap import RepoMap
    from ripmap.render import render_map
    from ripmap.render.tokens import EstimateCounter
    from tests.fixtures_rank import git

    root = tmp_path / "repo"
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    with RepoMap(root, cache_dir=tmp_path / "cache", warn=lambda _m: None) as rm:
        yield render_map(rm.rank(), rm.index.tags, tokens=tokens, counter=EstimateCounter())


def _map_repo(tmp_path: Path, files: dict[str, bytes], tokens: int = 100_000) -> str:
    """The plain text map of a fresh git repository holding ``files``."""
    with _fitted_repo(tmp_path, files, tokens) as (rendered, _fitter):
        return rendered.text


def _block(text: str, path: str) -> list[tuple[int, str]]:
    """A file's lines in a text map as (depth, text); depth 1 is the top level."""
    lines = text.splitlines()
    start = lines.index(path + ":") + 1
    out = []
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        stripped = line.lstrip(" ")
        out.append(((len(line) - len(stripped)) // 2, stripped))
    return out


def _children(block: list[tuple[int, str]], head: str) -> list[str]:
    """The lines directly under the first line ``head`` of a block."""
    i = next(i for i, (_d, s) in enumerate(block) if s == head)
    depth = block[i][0]
    out = []
    for d, s in block[i + 1:]:
        if d <= depth:
            break
        if d == depth + 1:
            out.append(s)
    return out


def test_a_declaration_without_a_body_is_not_drawn_as_a_container(tmp_path):
    """A colon after a container says its members may follow; `mod cmd;`, a unit struct
    and a one-line type alias have none, so they print without one."""
    rust = (b"mod cmd;\npub mod client;\npub struct Marker;\npub type Id = u64;\n"
            b"pub struct Point {\n    x: i32,\n}\nmod inline {\n    pub fn f() {}\n}\n")
    go = b"package p\n\ntype ID int\n\ntype Box struct {\n\tv int\n}\n"
    text = _map_repo(tmp_path, {"src/lib.rs": rust, "p/p.go": go})
    lines = {s for _d, s in _block(text, "src/lib.rs")}
    assert {"mod cmd", "pub mod client", "pub struct Marker", "pub type Id = u64"} <= lines, lines
    assert {"pub struct Point:", "mod inline:"} <= lines, lines
    go_lines = {s for _d, s in _block(text, "p/p.go")}
    assert "type ID int" in go_lines and not any(s.startswith("type ID int:") for s in go_lines), go_lines
    assert any(s.startswith("type Box") and s.endswith(":") for s in go_lines), go_lines
    # a type alias over several lines holds nothing either (axios' `type Method:` read as a
    # container of hidden members); a Go named type keeps its colon when its methods show
    ts = b"export type Method =\n  | 'get'\n  | 'put';\nexport type Opts = {\n  a: number;\n};\n"
    ts_lines = {s for _d, s in _block(_map_repo(tmp_path / "ts", {"api.d.ts": ts}), "api.d.ts")}
    assert {"type Method", "type Opts"} <= ts_lines, ts_lines
    go2 = b"package p\n\ntype Kind int\n\nfunc (k Kind) String() string { return \"k\" }\n"
    kind = _block(_map_repo(tmp_path / "go", {"p/k.go": go2}), "p/k.go")
    assert _children(kind, "type Kind int:") == ["func (k Kind) String() string"], kind


def test_a_one_line_body_that_holds_shown_members_keeps_its_colon(tmp_path):
    cs = b"namespace N {\npublic enum Color { Red, Green }\npublic class P { public Color Paint() { return Color.Red; } }\n}\n"
    block = _block(_map_repo(tmp_path, {"src/a.cs": cs}), "src/a.cs")
    assert sorted(_children(block, "public enum Color:")) == ["Green", "Red"], block
    assert "public enum Color" not in {s for _d, s in block}


def test_rendered_rust_methods_nest_under_their_impl_blocks(tmp_path):
    text = _map_repo(tmp_path, {"src/lib.rs": RUST_IMPLS})
    block = _block(text, "src/lib.rs")
    top = [s for d, s in block if d == 1]
    lookup = "fn lookup(&self, key: &str) -> u32"
    assert _children(block, "impl Cache:") == ["pub fn new() -> Self"]
    assert _children(block, "impl Store for Cache:") == ["type Error = String", lookup]  # an alias: no body, no colon
    assert _children(block, "impl<'a, S: Store> Store for &'a mut S:") == [lookup]
    assert _children(block, "pub trait Store:") == [lookup]
    assert _children(block, "impl super::Store for Lossy:") == ["fn lookup(&self, _key: &str) -> u32"]
    # no method floats loose at the top level, and no container lists one twice
    assert not any(s.startswith(("fn ", "pub fn ")) for s in top), top
    for head in ("impl Store for Cache:", "pub trait Store:"):
        kids = _children(block, head)
        assert len(kids) == len(set(kids)), kids


SWIFT_EXTENSIONS = (b"struct Headers {\n    func sorted() -> Headers { return self }\n}\n\n"
                    b"extension Headers: Collection {\n    func index(after i: Int) -> Int { return i + 1 }\n}\n\n"
                    b"extension String {\n    func indented(by n: Int) -> String { return self }\n}\n\n"
                    b"func use(h: Headers) -> String { return \"\".indented(by: h.index(after: 0)) }\n")


def test_rendered_swift_extension_members_nest_under_their_extension(tmp_path):
    """Alamofire's map showed an extension's methods at the top level of the file, with no
    hint of the type they extend; an extension is a container, like a Rust impl block."""
    text = _map_repo(tmp_path, {"Sources/Headers.swift": SWIFT_EXTENSIONS})
    block = _block(text, "Sources/Headers.swift")
    assert _children(block, "extension Headers: Collection:") == ["func index(after i: Int) -> Int"]
    assert _children(block, "extension String:") == ["func indented(by n: Int) -> String"]
    assert not any(s.startswith("func index") or s.startswith("func indented") for d, s in block if d == 1)
    # the extension is a container of kind impl (which the graph never counts as a definer)
    tags, _ = extract_tags(SWIFT_EXTENSIONS, "swift")
    assert [(t.kind, t.line) for t in _defs(tags) if t.name == "Headers"] == [("struct", 1), ("impl", 5)]


def test_rendered_go_methods_nest_under_their_receiver_type(tmp_path):
    go = (b"package srv\n\ntype Server struct {\n\taddr string\n}\n\nfunc New() *Server { return &Server{} }\n\n"
          b"func (s *Server) Serve() error { return nil }\n\nfunc (s Server) Addr() string { return s.addr }\n")
    block = _block(_map_repo(tmp_path, {"srv/server.go": go}), "srv/server.go")
    assert _children(block, "type Server struct:") == ["func (s *Server) Serve() error", "func (s Server) Addr() string"]
    assert (1, "func New() *Server") in block


def test_rendered_cpp_out_of_line_methods_nest_under_their_class(tmp_path):
    cpp = (b"class Circle {\npublic:\n    explicit Circle(double r);\n    double area() const;\nprivate:\n"
           b"    double r_;\n};\n\nCircle::Circle(double r) : r_(r) {}\n\n"
           b"double Circle::area() const {\n    return 3.14 * r_ * r_;\n}\n\nint main() { return 0; }\n")
    block = _block(_map_repo(tmp_path, {"shape.cpp": cpp}), "shape.cpp")
    kids = _children(block, "class Circle:")
    assert "double Circle::area() const" in kids and "Circle::Circle(double r) : r_(r)" in kids, block
    assert (1, "int main()") in block


def test_rendered_cpp_namespace_opened_twice_is_one_container(tmp_path):
    """re2.h forward-declares two classes in ``namespace re2 {}`` and then opens the
    namespace again for the real ones: the map showed ``namespace re2:`` twice, the first
    one empty. A namespace is one scope however often a file opens it."""
    cpp = (b"namespace re2 {\nclass Prog;\nclass Regexp;\n}  // namespace re2\n\n"
           b"namespace re2 {\nclass RE2 {\n public:\n  bool ok() const;\n};\n"
           b"namespace hooks {\nstruct Reset {\n  int n;\n};\n}  // namespace hooks\n}  // namespace re2\n\n"
           b"namespace re2 {\nnamespace hooks {\nstruct Failure {\n  int n;\n};\n}  // namespace hooks\n"
           b"}  // namespace re2\n")
    block = _block(_map_repo(tmp_path, {"re2.hpp": cpp}), "re2.hpp")
    tops = [s for d, s in block if d == 1]
    assert tops.count("namespace re2:") == 1, block
    kids = _children(block, "namespace re2:")
    assert "class RE2:" in kids and kids.count("namespace hooks:") == 1, block
    assert _children(block, "namespace hooks:") == ["struct Reset:", "struct Failure:"], block
    # two classes of one name are not one scope: only a reopened namespace is merged
    two = _block(_map_repo(tmp_path / "b", {"a.hpp": b"class A {\n  int x;\n};\nclass A {\n  int y;\n};\n"}), "a.hpp")
    assert [s for d, s in two if d == 1].count("class A:") == 2, two


def test_rendered_definition_restating_its_parents_line_is_printed_once(tmp_path):
    """``request.onload = function handleLoad()`` is two definitions of one line (the
    property and the function assigned to it); axios' map printed the function again under
    the property, a line saying nothing new. Its members go to the line that shows it."""
    js = (b"function send(request) {\n"
          b"  request.onload = function handleLoad() {\n"
          b"    function settle(value) { return value; }\n"
          b"    return settle(1);\n"
          b"  };\n"
          b"  const opts = { adapter: function barAdapter(config) { return config; } };\n"
          b"  return opts;\n"
          b"}\n")
    block = _block(_map_repo(tmp_path, {"xhr.js": js}), "xhr.js")
    texts = [s for _d, s in block]
    assert "request.onload = function handleLoad()" in texts, block
    assert "function handleLoad()" not in texts and "function barAdapter(config)" not in texts, block
    assert _children(block, "request.onload = function handleLoad()") == ["function settle(value)"], block
    assert "adapter: function barAdapter(config)" in _children(block, "function send(request)"), block
    # the graph still knows both names: the restated function is found by its own name
    tags, _ = extract_tags(js, "javascript")
    assert {"onload", "handleLoad", "barAdapter"} <= {t.name for t in _defs(tags)}


def test_rendered_sibling_functions_printed_alike_are_one_line(tmp_path):
    """A test file defines ``adapter = () =>`` in three cases and the same helper in two;
    the map printed each line as often, spending the budget on repeats. Siblings printed
    alike are one line now, their members merged under it; two types of one name stay
    apart (their members differ: see the namespace test above)."""
    js = (b"describe('adapters', () => {\n"
          b"  it('a', () => { const adapter = () => 1; return adapter; });\n"
          b"  it('b', () => { const adapter = () => 2; return adapter; });\n"
          b"  it('c', () => { const adapter = () => 3; return adapter; });\n"
          b"  it('d', async () => { async function findMe() { function inner() {} return inner; } return findMe; });\n"
          b"  it('e', async () => { async function findMe() { function other() {} return other; } return findMe; });\n"
          b"});\n")
    block = _block(_map_repo(tmp_path, {"adapters.test.js": js}), "adapters.test.js")
    tops = [s for d, s in block if d == 1]
    assert tops.count("adapter = () =>") == 1, block
    assert tops.count("async function findMe()") == 1, block
    assert sorted(_children(block, "async function findMe()")) == ["function inner()", "function other()"], block


def test_fitter_prices_restated_and_repeated_lines_as_printed(tmp_path):
    """The fitter prices a block's every prefix without rendering it (``_SigCost``); with
    lines restated by their parent or repeated by a sibling it must still price what is
    printed, or a map would leave budget unused or overrun it."""
    from ripmap.render.text import _SigCost
    from ripmap.render.tree import PLAIN

    js = (b"function send(request) {\n  request.onload = function handleLoad() {\n"
          b"    function settle(value) { return value; }\n    return settle(1);\n  };\n}\n"
          b"describe('adapters', () => {\n"
          b"  it('a', () => { const adapter = () => { function one() {} return one; }; return adapter; });\n"
          b"  it('b', () => { const adapter = () => { function one() {} return one; }; return adapter; });\n"
          b"  it('c', () => { const adapter = () => 3; return adapter; });\n});\n")
    with _fitted_repo(tmp_path, {"a.js": js}) as (_rendered, fitter):
        p = fitter.files.index("a.js")
        n_items = len(fitter._per_file[p])
        assert n_items >= 8
        priced = _SigCost(fitter, p)
        for n in range(1, n_items + 1):
            lines = fitter._block_lines(fitter._block(p, True, n, 0), PLAIN)
            assert priced.at(n) == pytest.approx(sum(fitter._line_cost(line) for line in lines)), (n, lines)
        assert len(lines) < n_items + 1  # some chosen definitions were not printed again


def test_renderer_survives_thousands_of_nested_definitions(tmp_path):
    """The renderer walks nesting without recursion: 1,500 nested functions (the
    extractor's depth limit lifted so that they all reach it) render at any budget."""
    deep = "".join(f"function f{i}() {{\n" for i in range(1500)) + "}\n" * 1500
    files = {"deep.js": deep.encode(), "ok.py": b"def hello():\n    return 1\n"}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(treesitter, "_MAX_DEPTH", 10**6, raising=False)
        full = _map_repo(tmp_path / "a", files)
        small = _map_repo(tmp_path / "b", files, tokens=3000)
    block = _block(full, "deep.js")
    assert len(block) == 1500
    assert [d for d, _s in block] == list(range(1, 1501))
    assert block[-1] == (1500, "function f1499()")
    assert "def hello()" in full and "deep.js:" in small


# ---------------------------------------------------------------------------
# Hostile input: bounded time and depth, per file
# ---------------------------------------------------------------------------

def _nested_js(n: int) -> bytes:
    return ("".join(f"function f{i}() {{\n" for i in range(n)) + "}\n" * n).encode()


def test_thousand_nested_functions_are_all_tagged():
    tags, notes = extract_tags(_nested_js(1000), "javascript")
    assert notes == []
    defs = {t.name: t for t in _defs(tags)}
    assert len(defs) == 1000
    assert defs["f999"].parent == "f998" and (defs["f999"].line, defs["f999"].end_line) == (1000, 1001)


def test_deeper_nesting_is_tagged_down_to_the_depth_limit_with_a_note():
    t0 = time.process_time()
    tags, notes = extract_tags(_nested_js(4000), "javascript")
    assert time.process_time() - t0 < 10
    assert any("nested deeper than" in n for n in notes), notes
    defs = _defs(tags)
    names = {t.name for t in defs}
    assert {"f0", "f1", "f100", "f1000"} <= names and len(defs) < 4000
    # what is tagged is right: each function inside the previous one, spans nested
    by_name = {t.name: t for t in defs}
    assert by_name["f1"].parent == "f0" and by_name["f1000"].parent == "f999"
    assert by_name["f0"].end_line == 8000


def test_pathological_parse_is_cut_off_and_the_parser_stays_usable():
    src = b"/*" * 3000 + b"(*" * 3000 + b"{-" * 3000
    good = b"package p\n\nfunc Ok() int { return 1 }\n"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(treesitter, "_PARSE_BASE_S", 0.05, raising=False)
        mp.setattr(treesitter, "_PARSE_S_PER_BYTE", 0.0, raising=False)
        t0 = time.process_time()
        tags, notes = extract_tags(src, "go")
        spent = time.process_time() - t0
    assert spent < 5, spent
    assert tags == [] and len(notes) == 1 and "skipped" in notes[0], notes
    # the cached parser was reset: the next file of that language parses normally
    tags, notes = extract_tags(good, "go")
    assert notes == [] and [t.name for t in _defs(tags)] == ["Ok"]


def test_markdown_long_heading_signature_is_capped():
    # found by the fuzz test: a 300-character heading gave a 303-character signature
    tags, _ = extract_tags(b"## " + b"x" * 300 + b"\n", "markdown")
    assert len(tags[0].name) == 200 and len(tags[0].signature) == 200


def test_markdown_with_many_headings_is_linear():
    # every other heading is top-level: nothing before it is its parent (the worst case
    # for a backwards search)
    n = 30000
    levels = [1 if i % 2 == 0 else 2 + (i // 2) % 5 for i in range(n)]
    src = "".join("#" * lv + f" h{i}\n" for i, lv in enumerate(levels)).encode()
    t0 = time.process_time()
    tags, notes = extract_tags(src, "markdown")
    assert time.process_time() - t0 < 5
    assert len(tags) == n
    # parents and ends by the definition, checked against a direct scan for a sample
    for i in list(range(0, n, 997)) + [n - 2, n - 1]:
        t = tags[i]
        parent = next((f"h{j}" for j in range(i - 1, -1, -1) if levels[j] < levels[i]), None)
        end = next((j for j in range(i + 1, n) if levels[j] <= levels[i]), n)
        assert (t.name, t.parent, t.end_line) == (f"h{i}", parent, end), t


# ---------------------------------------------------------------------------
# Fuzzing: generated nasty files in every language
# ---------------------------------------------------------------------------

# constructs that nest (opened many times, closed fewer times or not at all)
_OPENERS = ["(", "[", "{", "<", "function f() {\n", "def f():\n", "fn f() {\n", "func f() {\n", "class A {\n",
            "class A:\n", "module M\n", "defmodule M do\n", "begin\n", "do\n", "if (x) {\n", "x = [", "f(",
            "/*", "(*", "{-", "#=", "--[[", "<!--", '"', "'", "`", '"""', "${", "#{", "\\", "let x = ", "->"]
_CLOSERS = [")", "]", "}", ">", "end\n", "*/", "*)", "-}", "=#", "]]", "-->", '"', "'", "`", "\n", ";"]
# one-line runs that grow into huge lines
_RUNS = ["a+", "x, ", "1 + ", "f(", "x = 1 + ", ".a", "::", "=>", "<T>", "&&", "'", "\\\\", "@", "# ", " "]
_WORDS = ["def", "class", "fn", "func", "function", "impl", "trait", "struct", "enum", "interface", "module",
          "defmodule", "package", "import", "from", "use", "local", "let", "val", "var", "const", "type", "where",
          "end", "do", "then", "return", "pub", "static", "@Override", "#[derive(Debug)]", "template", "namespace"]


def _sample_slice(lang: str):
    data = _sample_file(lang).read_bytes()
    return st.tuples(st.integers(0, len(data)), st.integers(0, len(data))).map(
        lambda ab: data[min(ab):max(ab)])


@st.composite
def _nasty_file(draw, lang: str) -> bytes:
    """A file of 1-4 hostile parts: deep nesting (balanced or not), Python-style
    indentation nesting, huge lines, very long identifiers, NUL-free garbage (invalid
    UTF-8 included), stray keywords, and slices of the language's own sample."""
    parts: list[bytes] = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["nest", "indent", "run", "ident", "garbage", "words", "sample"]))
        if kind == "nest":
            opener = draw(st.sampled_from(_OPENERS))
            depth = draw(st.integers(1, 1500))
            closer = draw(st.sampled_from(_CLOSERS))
            closed = draw(st.integers(0, depth))
            parts.append((opener * depth + closer * closed).encode())
        elif kind == "indent":
            depth = draw(st.integers(1, 200))
            parts.append("".join(" " * i + f"def f{i}():\n" for i in range(depth)).encode())
        elif kind == "run":
            parts.append(draw(st.sampled_from(_RUNS)).encode() * draw(st.integers(1, 20000)))
        elif kind == "ident":
            name = draw(st.sampled_from(["a", "Z", "_", "é", "\U0001F600"])) * draw(st.integers(1, 20000))
            word = draw(st.sampled_from(_WORDS))
            parts.append(f"{word} {name}() {{}}\n{word} {name}:\n".encode())
        elif kind == "garbage":
            raw = draw(st.binary(max_size=3000))
            parts.append(raw.replace(b"\0", b" ") + draw(st.sampled_from([b"", b"\xff", b"\xc3", b"caf\xe9"])))
        elif kind == "words":
            parts.append(" ".join(draw(st.lists(st.sampled_from(_WORDS + _CLOSERS + _OPENERS), max_size=200))).encode())
        else:
            parts.append(draw(_sample_slice(lang)))
    return b"\n".join(parts)


def _check_well_formed(data: bytes, tags: list[Tag], notes: list[str]) -> None:
    from ripmap.extract.tags import DEF_KINDS

    n_lines = data.count(b"\n") + 1
    assert tags == sorted(tags, key=Tag.sort_key)
    for t in tags:
        assert isinstance(t.name, str) and 0 < len(t.name) <= 200, t
        assert 1 <= t.line <= t.end_line <= n_lines, t
        if t.is_def:
            assert t.kind in DEF_KINDS, t
            assert t.signature is None or (len(t.signature) <= 200 and "\n" not in t.signature), t
    assert all(isinstance(n, str) and "\n" not in n for n in notes), notes


@pytest.mark.parametrize("lang", SAMPLE_LANGS)
def test_fuzz_extraction_never_raises(lang):
    """Hostile files never raise out of extraction, and what comes out is well formed.
    The parse budget is shrunk so that the cut-off path is exercised and the test stays
    quick."""
    @settings(max_examples=10, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(data=_nasty_file(lang))
    def run(data: bytes) -> None:
        tags, notes = extract_tags(data, lang)
        _check_well_formed(data, tags, notes)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(treesitter, "_PARSE_BASE_S", 0.3, raising=False)
        mp.setattr(treesitter, "_PARSE_S_PER_BYTE", 1e-6, raising=False)
        run()


def _hostile_files() -> dict[str, bytes]:
    """One hostile file per language (deep nesting, an unclosed bracket run, a huge line,
    a very long identifier, garbage with invalid UTF-8), the 1,000 nested JavaScript
    functions of the bug report, 3,000 of them, and one ordinary file."""
    rnd = random.Random(7)
    garbage = bytes(rnd.randrange(1, 256) for _ in range(500))
    body = (b"function f() {\n" * 3 + b"x = " + b"(" * 300 + b"\n" + b"[" * 100 + b"\n"
            + b"ab " * 500 + b"\n" + b"def " + b"a" * 3000 + b"():\n" + garbage + b"\n}\n")
    files = {}
    for lang in SAMPLE_LANGS:
        ext = _sample_file(lang).suffix
        files[f"src/hostile_{lang}{ext}"] = body
    files["src/deep.js"] = _nested_js(1000)
    files["src/deeper.js"] = _nested_js(3000)
    files["src/ok.py"] = b"def hello():\n    return 1\n"
    return files


def test_map_of_a_repository_with_hostile_files(tmp_path):
    """`ripmap` on a repository holding hostile files in every language exits 0 with the
    whole map; under -v the files cut short are named."""
    import subprocess
    import sys

    from tests.fixtures_rank import git

    root = tmp_path / "repo"
    for rel, data in _hostile_files().items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    env = {**__import__("os").environ, "RIPMAP_TOKENIZER": "estimate", "RIPMAP_CACHE_DIR": str(tmp_path / "c")}

    def ripmap(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "ripmap.cli", str(root), *args], capture_output=True,
                              text=True, env=env, timeout=300)

    r = ripmap("-t", "100000", "-v")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("# ripmap")
    assert "src/ok.py:" in r.stdout and "def hello()" in r.stdout
    assert "src/deep.js:" in r.stdout and "function f999()" in r.stdout
    assert "src/deeper.js: nested deeper than" in r.stderr
    assert "Traceback" not in r.stderr
    for args in (["-t", "2000"], ["--format", "json"], ["--calls", "-t", "4000"]):
        r = ripmap(*args)
        assert r.returncode == 0, (args, r.stderr)
        assert r.stdout.strip() and "Traceback" not in r.stderr
    paths = {f["path"] for f in json.loads(ripmap("--format", "json").stdout)["files"]}
    assert {"src/ok.py", "src/deep.js", "src/hostile_python.py", "src/hostile_rust.rs"} <= paths
