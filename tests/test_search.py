"""Identifier search (``ripmap.search``): which names match and in what order."""
from __future__ import annotations

from ripmap.extract.tags import Tag
from ripmap.search import EXACT, EXACT_NOCASE, PREFIX, SUBSTRING, WORDS, match_quality, search


def d(line: int, name: str, kind: str = "function", parent: str | None = None) -> Tag:
    return Tag(line, name, True, kind, line + 1, parent, f"def {name}()")


def r(line: int, name: str, parent: str | None = "caller") -> Tag:
    return Tag(line, name, False, "call", line, parent, None)


TAGS = {
    "b.py": [d(1, "parse_config"), d(5, "ParseConfig", "class"), r(9, "parse_config"), d(12, "parse_config_file")],
    "a.py": [r(3, "parse_config"), d(7, "reparse_configuration"), d(9, "config_parse", parent="Loader")],
    "c.py": [d(2, "unrelated"), r(4, "PARSE_CONFIG")],
}


def test_each_quality_in_turn() -> None:
    words = frozenset({"parse", "config"})
    assert match_quality("parse_config", "parse_config", words) == EXACT
    assert match_quality("ParseConfig", "parseconfig", frozenset({"parseconfig"})) == EXACT_NOCASE
    assert match_quality("parse_config_file", "parse_config", words) == PREFIX
    assert match_quality("reparse_configuration", "parse_config", words) == SUBSTRING
    assert match_quality("config_parse", "parse_config", words) == WORDS
    assert match_quality("configuration", "parse_config", words) is None  # "configuration" is not the word "config"
    assert match_quality("unrelated", "parse_config", words) is None


def test_definitions_first_then_quality_then_file_and_line() -> None:
    found = search(TAGS, "parse_config")
    assert [(h.role, h.name, h.file, h.line) for h in found.hits] == [
        ("definition", "parse_config", "b.py", 1),           # exact
        ("definition", "parse_config_file", "b.py", 12),     # prefix
        ("definition", "reparse_configuration", "a.py", 7),  # substring
        ("definition", "config_parse", "a.py", 9),           # the query's words, a.py before b.py
        ("definition", "ParseConfig", "b.py", 5),
        ("reference", "parse_config", "a.py", 3),            # exact, by file
        ("reference", "parse_config", "b.py", 9),
        ("reference", "PARSE_CONFIG", "c.py", 4),            # the same name in another case
    ]
    assert (found.total, found.definitions, found.references) == (8, 5, 3)
    h = found.hits[3]
    assert h.parent == "Loader" and h.as_dict() == {"file": "a.py", "line": 9, "name": "config_parse",
                                                    "kind": "function", "role": "definition",
                                                    "signature": "def config_parse()", "parent": "Loader"}
    assert h.as_text() == "a.py:9 definition function config_parse in Loader: def config_parse()"
    assert found.hits[-1].as_text() == "c.py:4 reference call PARSE_CONFIG in caller"


def test_limit_keeps_the_best_and_counts_all() -> None:
    full = search(TAGS, "parse_config")
    two = search(TAGS, "parse_config", limit=2)
    assert two.hits == full.hits[:2] and two.total == full.total and two.definitions == full.definitions
    assert search(TAGS, "parse_config", limit=0).hits == ()
    none = search(TAGS, "zzz")
    assert none.hits == () and none.total == 0


def test_exact_spelling_before_another_case() -> None:
    tags = {"a.py": [d(1, "Config", "class"), d(2, "config")]}
    assert [h.name for h in search(tags, "config").hits] == ["config", "Config"]
    assert [h.name for h in search(tags, "Config").hits] == ["Config", "config"]
