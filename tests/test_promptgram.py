"""Promptgrams (the editable part of the L1 prompt) and the protocol (the part nothing edits).

A promptgram is Markdown split into named sections; an outer loop edits one section at a
time and a person diffs two promptgrams section by section, so parsing, editing and
rendering must round-trip. The protocol is shipped with the package, always comes last,
and must state exactly the words and step sizes the parser and the step rule use: if one
side changes without the other, the agent is told one thing and judged by another.
"""
from __future__ import annotations

import re

import pytest

from ripmap.errors import UsageError
from ripmap.train.l1.promptgram import (
    DEFAULT_NAME, REQUIRED_SECTIONS, default_promptgram_text, load_promptgram, parse_promptgram,
)
from ripmap.train.l1.protocol import (
    JSON_MARKER, PROTOCOL_SECTIONS, REASONING_MARKER, assemble, protocol_sha256, protocol_text,
)
from ripmap.train.l1.reply import Proposal, parse_reply
from ripmap.train.l1.step import LINEAR_FRACTIONS, LOG_FACTORS
from ripmap.train.vocabulary import DIRECTIONS, MAGNITUDES

MINIMAL = "## Role\nr\n\n## Policy\np\n\n## Heuristics\nh\n\n## Style\ns\n"


def test_sections_preamble_and_round_trip():
    text = "# title\nintro line\n\n## Role\nYou tune.\n\n## Policy\n- a\n- b\n\n## Heuristics\nh\n\n## Style\ns\n"
    pg = parse_promptgram(text, source="t.md")
    assert pg.preamble == "# title\nintro line"
    assert pg.names() == REQUIRED_SECTIONS
    assert pg.section("policy") == "- a\n- b"  # names match whatever their case
    again = parse_promptgram(pg.render(), source="again")
    assert again.sections == pg.sections and again.preamble == pg.preamble and again.sha256 == pg.sha256


def test_editing_one_section_keeps_the_others():
    pg = parse_promptgram(MINIMAL)
    edited = pg.with_section("heuristics", "- new heuristic")
    assert edited.section("Heuristics") == "- new heuristic"
    assert [n for n, _ in edited.sections] == [n for n, _ in pg.sections]
    assert {n: b for n, b in edited.sections if n != "Heuristics"} == {n: b for n, b in pg.sections
                                                                       if n != "Heuristics"}
    assert edited.sha256 != pg.sha256 and pg.section("Heuristics") == "h"  # the original is unchanged
    added = pg.with_section("Examples", "one")
    assert added.names()[-1] == "Examples"
    for name in PROTOCOL_SECTIONS + ("output schema",):  # spelled any way, the protocol is not a promptgram's
        with pytest.raises(UsageError, match="protocol"):
            pg.with_section(name, "x")


def test_headings_in_code_fences_and_duplicates():
    pg = parse_promptgram("## Role\nquote:\n~~~md\n## Style\n~~~\n## Policy\np\n## Heuristics\nh\n## Style\ns\n")
    assert "## Style" in pg.section("Role") and pg.section("Style") == "s"
    with pytest.raises(UsageError, match="appears twice"):
        parse_promptgram(MINIMAL + "\n## policy\nagain\n", source="dup.md")


def test_protocol_sections_are_stripped_in_any_spelling():
    pg = parse_promptgram(MINIMAL + "## output  schema\nmine\n## API_CONTRACT\nmine too\n")
    assert pg.stripped == ("output  schema", "API_CONTRACT")
    assert "mine" not in pg.render()


def test_shipped_default_and_files(tmp_path):
    pg = load_promptgram()
    assert pg.source == f"(default) {DEFAULT_NAME}" and pg.names() == REQUIRED_SECTIONS and not pg.stripped
    assert parse_promptgram(default_promptgram_text()).sha256 == pg.sha256
    f = tmp_path / "mine.md"
    f.write_text(MINIMAL, encoding="utf-8")
    assert load_promptgram(f).source == str(f)
    with pytest.raises(UsageError, match="missing section"):
        parse_promptgram("## Role\nr\n", source="short.md")


def test_assemble_puts_the_protocol_last():
    prompt = assemble("## Role\nr\n\n## Output_schema\nEVIL\n", "## Metrics\nm\n")
    protocol = protocol_text().strip()
    assert prompt.endswith(protocol + "\n")
    assert prompt.index("## Role") < prompt.index("## Metrics") < prompt.rindex(protocol)
    assert assemble("", "state") == "state\n\n" + protocol + "\n"
    assert re.fullmatch(r"[0-9a-f]{64}", protocol_sha256())


def test_protocol_states_what_the_parser_reads():
    text = protocol_text()
    assert [s for s in PROTOCOL_SECTIONS if f"## {s}" in text] == list(PROTOCOL_SECTIONS)
    for key in Proposal.model_fields:  # every field of a reply the parser keeps
        assert f"`{key}`" in text, key
    for word in DIRECTIONS + MAGNITUDES:
        assert f'"{word}"' in text, word
    assert f"`{REASONING_MARKER}`" in text and f"`{JSON_MARKER}`" in text
    # the protocol's own example reply is a valid reply
    example = text[text.index(REASONING_MARKER, text.index("Example")):]
    parsed = parse_reply(example)
    assert parsed.changes and not parsed.errors and not parsed.rejected


def test_protocol_step_table_matches_the_step_rule():
    text = protocol_text()
    rows = {m: next(ln for ln in text.splitlines() if ln.startswith(f"| {m} |")) for m in MAGNITUDES}
    for m, f in LOG_FACTORS.items():
        assert f"× {1 + f:g} (increase) or × {1 - f:g} (decrease)" in rows[m]
    assert "× 2 (increase) or ÷ 2 (decrease)" in rows["large"]
    for m, f in LINEAR_FRACTIONS.items():
        assert f"± {100 * f:g}% of its range" in rows[m]
