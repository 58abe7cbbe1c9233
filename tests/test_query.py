"""Query understanding: the focus text read into files, identifiers and words."""
from __future__ import annotations

from ripmap.rank.query import STOP_WORDS, PathIndex, looks_like_identifier, parse_query

FILES = [
    "src/requests/adapters.py",
    "src/requests/sessions.py",
    "src/requests/__init__.py",
    "tests/test_requests.py",
    "gson/src/main/java/com/google/gson/Gson.java",
    "gson/src/main/java/com/google/gson/GsonBuilder.java",
    "lib/server/app.go",
    "src/main.rs",
    "web/src/router.ts",
    "Api/Controllers/UserController.cs",
    "docs/index.md",
]
NAMES = ["Session", "send", "HTTPAdapter", "fromJson", "get_connection", "Gson", "GsonBuilder", "route", "mount"]


def parse(text: str):
    px = PathIndex.build(FILES)
    names = {n: i for i, n in enumerate(NAMES)}
    lower: dict[str, list[str]] = {}
    for n in NAMES:
        lower.setdefault(n.lower(), []).append(n)
    return parse_query(text, px, names, lower)


def paths(q) -> list[str]:
    return [FILES[i] for i, _s, _w in q.file_hits]


def test_python_traceback_names_its_files_innermost_first():
    q = parse('Traceback (most recent call last):\n'
              '  File "/home/u/venv/lib/python3.12/site-packages/requests/sessions.py", line 589, in send\n'
              '  File "/home/u/venv/lib/python3.12/site-packages/requests/adapters.py", line 44, in get_connection\n'
              'ValueError: pool is closed')
    assert q.kind == "trace"
    assert paths(q)[:2] == ["src/requests/adapters.py", "src/requests/sessions.py"]
    assert dict(q.ident_hits)["get_connection"] > 0
    # the boilerplate of the trace header is not read as words
    assert not {"recent", "call", "last", "traceback"} & set(q.words)


def test_java_frame_resolves_class_path_and_method():
    q = parse("Exception in thread \"main\" java.lang.IllegalStateException\n"
              "\tat com.google.gson.GsonBuilder.create(GsonBuilder.java:612)\n"
              "\tat com.google.gson.Gson.fromJson(Gson.java:1200)")
    top = paths(q)
    assert top[0].endswith("GsonBuilder.java") and "gson/src/main/java/com/google/gson/Gson.java" in top
    assert "fromJson" in dict(q.ident_hits)


def test_go_rust_js_and_csharp_locations():
    q = parse("panic: nil map\n\t/build/lib/server/app.go:41 +0x1f\n"
              "thread 'main' panicked at src/main.rs:4:5\n"
              "    at Router.handle (/srv/web/src/router.ts:10:7)\n"
              "   in C:\\work\\Api\\Controllers\\UserController.cs:line 12")
    assert {"lib/server/app.go", "src/main.rs", "web/src/router.ts", "Api/Controllers/UserController.cs"} <= set(paths(q))
    assert "x1f" not in q.unresolved  # a hex offset is not an identifier


def test_dotted_module_resolves_to_file():
    q = parse("requests.adapters keeps the pool open")
    assert paths(q) == ["src/requests/adapters.py"]
    q2 = parse("see com.google.gson.Gson for the entry point")
    assert "gson/src/main/java/com/google/gson/Gson.java" in paths(q2)


def test_identifiers_by_typography_backticks_and_calls():
    q = parse("Make `Session.send` retry; HTTPAdapter and get_connection() leak, route() too")
    idents = dict(q.ident_hits)
    assert {"Session", "send", "HTTPAdapter", "get_connection", "route"} <= set(idents)
    # a case-insensitive spelling still resolves, a little weaker
    q2 = parse("the httpadapter is slow")
    assert "HTTPAdapter" not in dict(q2.ident_hits)  # plain lowercase word: not typographically an identifier
    q3 = parse("`httpadapter` is slow")
    assert 0 < dict(q3.ident_hits)["HTTPAdapter"] < 1.0


def test_plain_words_drop_stop_words_and_commit_verbs():
    q = parse("Fix the bug where we add a retry to the cookie parser and update docs")
    assert q.kind == "prose"
    assert q.ident_hits == () and q.file_hits == ()
    assert "cookie" in q.words and "parser" in q.words and "retry" in q.words and "docs" in q.words
    assert not {"fix", "the", "bug", "where", "we", "add", "update", "and", "to"} & set(q.words)
    assert all(w not in STOP_WORDS for w in q.words)


def test_unresolved_identifiers_feed_lexical_terms_only():
    q = parse("crash in parseHeaderValue when the header is empty")
    assert "parseHeaderValue" in q.unresolved and q.ident_hits == ()
    terms = dict(q.lexical_terms)
    assert terms["parse"] > terms["empty"] > 0 and "header" in terms


def test_class_name_mentions_its_file():
    q = parse("GsonBuilder ignores the date format")
    assert "gson/src/main/java/com/google/gson/GsonBuilder.java" in paths(q)


def test_looks_like_identifier():
    for tok in ("snake_case", "camelCase", "CamelCase", "__init__", "MAX_SIZE", "utf8Decode", "HTTPServer"):
        assert looks_like_identifier(tok), tok
    for tok in ("Fix", "parser", "HTTP", "a", "the", "0x1f", "2024"):
        assert not looks_like_identifier(tok), tok


def test_empty_and_huge_queries():
    assert parse("").kind == "empty" and parse("   \n").file_hits == ()
    big = parse(("the parser crashes on `GsonBuilder` " * 200)[:5000])
    assert "GsonBuilder" in dict(big.ident_hits)


def test_a_request_for_documentation_is_read_with_the_rest_of_the_text():
    """Ranking lifts the docs weight from the parsed query alone (the text is read once)."""
    for text in ("where is the install guide?", "update the README", "see docs/index.md", "readmeLoader, FAQ"):
        assert parse(text).asks_for_docs, text
    for text in ("fix the redirect handling", "`Session.send` fails", "documented behaviour", ""):
        assert not parse(text).asks_for_docs, text
    assert "asks_for_docs" not in parse("the guide").as_dict()  # the JSON's query block is unchanged


def test_path_lookups_name_exactly_the_files_whose_components_end_so():
    """The index keeps only each file's last component; every trailing run of every path
    (and module path) must still find exactly the files that end with it, in file order."""
    files = ["a/b/c.py", "x/b/c.py", "c.py", "pkg/__init__.py", "web/pkg/index.ts", "src/lib.rs",
             "deep/a/b/c.py", "b/c.py.bak", "proto/shapes_pb2.py", "types/x.d.ts"]
    px = PathIndex.build(files)

    def ending(comps: list[list[str]], key: str) -> list[int]:
        want = key.split("/")
        return [i for i, c in enumerate(comps) if c[-len(want):] == want and len(c) >= len(want)]

    paths_ = [f.split("/") for f in files]
    modules = []
    for f in files:
        parts = f.split("/")
        stem = parts[-1][: parts[-1].rfind(".")] if parts[-1].rfind(".") > 0 else parts[-1]
        stem = stem[:-2] if stem.endswith(".d") else stem
        m = parts[:-1] + [stem]
        modules.append(m[:-1] if stem in ("__init__", "index", "mod", "lib") and len(m) > 1 else m)
    keys = {"/".join(c[j:]) for c in paths_ + modules for j in range(len(c))} | {"nothing/c.py", "q"}
    for key in sorted(keys):
        assert px.suffix(key) == ending(paths_, key), key
        assert px.module(key) == ending(modules, key), key
    assert px.suffix("b/c.py") == [0, 1, 6] and px.module("pkg") == [3, 4]
    assert px.resolve_path("/home/u/x/b/c.py") == [1] and px.resolve_module("web.pkg") == [4]


def test_the_path_index_answers_as_an_index_of_every_trailing_run_would():
    # the index keeps file numbers by last component and splits a candidate's path when
    # a lookup reaches it; each answer must be what checking every file's components gives
    from ripmap.rank.query import PathIndex

    files = ("index.ts", "pkg/__init__.py", "pkg/sub/__init__.py", "pkg/sub/util.py", "util.py", "web/types.d.ts",
             "web/lib/index.js", "rs/a/lib.rs", "rs/a/mod.rs", "proto/shapes_pb2.py", "proto/shapes_pb2_grpc.py",
             "ui/view.g.dart", "README", ".hidden", "deep/a/b/c/util.py", "Util.PY")

    def ending(parts_of, key):
        want = tuple(key.split("/"))
        return [i for i, f in enumerate(files) if len(parts_of(f)) >= len(want) and parts_of(f)[-len(want):] == want]

    def stem(base):
        st = base[:base.rfind(".")] if base.rfind(".") > 0 else base
        return st[:-2] if st.endswith(".d") else st

    def module_parts(f):
        parts = tuple(f.split("/")[:-1]) + (stem(f.split("/")[-1]),)
        return parts[:-1] if parts[-1] in ("__init__", "index", "mod", "lib") and len(parts) > 1 else parts

    px = PathIndex.build(files)
    keys = {k for f in files for p in (f.split("/"), list(module_parts(f)))
            for k in ("/".join(p[j:]) for j in range(len(p)))} | {"nothing", "a/b", "sub"}
    for key in sorted(keys):
        assert px.suffix(key) == ending(lambda f: tuple(f.split("/")), key), key
        assert px.module(key) == ending(module_parts, key), key
    assert px.module("pkg") == [1] and px.module("pkg/sub") == [2] and px.module("web/types") == [5]
    assert px.stem["types"] == [5] and px.stem["index"] == [0, 6]
    assert px.stem_lower["shapes"] == [9, 10] and px.stem_lower["view"] == [11] and px.stem_lower["util"] == [3, 4, 14, 15]


def _path_index_file_by_file(files):
    """PathIndex's tables spelled out file by file (each rule applied to each path)."""
    import re

    by_base, by_module, stems, lows = {}, {}, {}, {}
    gen = re.compile(r"(_pb2_grpc|_pb2|_pb|\.pb|_grpc|\.g|\.generated|_generated|\.gen|_gen)$")
    for i, rel in enumerate(files):
        head, _, base = rel.rpartition("/")
        by_base.setdefault(base, []).append(i)
        stem = base[:base.rfind(".")] if base.rfind(".") > 0 else base
        stem = stem[:-2] if stem.endswith(".d") else stem
        stems.setdefault(stem, []).append(i)
        lows.setdefault(stem.lower(), []).append(i)
        bare = gen.sub("", stem.lower())
        if bare and bare != stem.lower():
            lows.setdefault(bare, []).append(i)
        if stem in ("__init__", "index", "mod", "lib") and head:
            stem = head.rpartition("/")[2]
        by_module.setdefault(stem, []).append(i)
    return by_base, by_module, stems, lows


def test_the_path_index_tables_are_the_per_file_rules_in_file_order():
    """Built per distinct basename, the tables must hold what the per-file rules give:
    every file under each of its keys, in file order, also where several basenames share
    a key (x.py and x.pyi; X.py and x.py lowercased; shapes_pb2.py and shapes.py)."""
    from hypothesis import given, settings, strategies as st

    from ripmap.graph import INDEX_STEMS

    comps = st.sampled_from(["a", "b", "pkg", "web", "X", "x", "shapes", "deep"])
    bases = st.sampled_from(["x.py", "x.pyi", "X.py", "shapes_pb2.py", "shapes.py", "__init__.py", "index.ts",
                             "index.d.ts", "mod.rs", "lib.rs", "main.go", "README", ".hidden", "view.g.dart",
                             "View.G.dart", "a.b.c", "x"])

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.tuples(st.lists(comps, max_size=3), bases), max_size=40))
    def check(entries):
        files = sorted({"/".join([*d, b]) for d, b in entries})
        px = PathIndex.build(files)
        by_base, by_module, stems, lows = _path_index_file_by_file(files)
        assert px.by_base == by_base and px.stem == stems and px.stem_lower == lows
        assert px.by_module == by_module

    assert set(INDEX_STEMS) == {"__init__", "index", "mod", "lib"}  # the rule spelled out above

    check()
