"""``--join``: the top-ranked files' full contents, concatenated within the budget.

Files are taken in rank order and skipped, never cut, when they do not fit, so the
reader never sees half a file. A file passed over for a lower-ranked one is not
dropped silently: the text ends with a note naming it (counted in the budget), and the
JSON form lists it with its reason.
"""
from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from ..rank import Ranking
from .tokens import TokenCounter, default_counter

#: skipped files named in the note, at most
_NOTE_MAX = 5
#: stop looking for files to add when fewer tokens than this are left
_ENOUGH = 20


@dataclass(frozen=True)
class JoinedFile:
    path: str
    rank: int
    tokens: int  # of its block: the ``──── path ────`` line and the content
    content: str


@dataclass(frozen=True)
class SkippedFile:
    path: str
    rank: int
    reason: str
    tokens: int | None = None  # of its block, when it could be read


@dataclass(frozen=True)
class JoinResult:
    text: str
    tokens: int
    files: tuple[JoinedFile, ...]
    skipped: tuple[SkippedFile, ...]  # ranked above the last joined file, in rank order
    budget: int

    @property
    def included(self) -> list[str]:
        return [f.path for f in self.files]


def _block(path: str, body: str) -> str:
    return f"──── {path} ────\n{body}" + ("" if body.endswith("\n") else "\n")


def _note(skipped: list[SkippedFile]) -> str:
    """One trailing line naming the files passed over, so the reader knows they exist."""
    if not skipped:
        return ""
    parts = [f"{s.path} (rank {s.rank}, {s.reason})" for s in skipped[:_NOTE_MAX]]
    more = len(skipped) - _NOTE_MAX
    return "──── not included: " + "; ".join(parts) + (f"; +{more} more" if more > 0 else "") + " ────\n"


def join_files(root: Path, ranking: Ranking, *, tokens: int, counter: TokenCounter | None = None,
               limit_to: set[str] | None = None) -> JoinResult:
    """Full contents of the top-ranked files, concatenated, within the budget."""
    counter = counter or default_counter()
    margin = float(getattr(counter, "margin", 0.0) or 0.0)
    target = max(1, int(tokens / (1.0 + margin))) if margin > 0 else tokens
    joined: list[JoinedFile] = []
    passed: list[SkippedFile] = []  # every file passed over so far
    used = 0
    for i, path in enumerate(ranking.files):
        if limit_to is not None and path not in limit_to:
            continue
        try:
            body = (root / path).read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            passed.append(SkippedFile(path, i + 1, f"unreadable: {e.strerror or e}"))
            continue
        block = _block(path, body)
        cost = counter.count(block)
        if used + cost > target:
            passed.append(SkippedFile(path, i + 1, f"{cost} tokens, {target - used} left", cost))
            continue
        joined.append(JoinedFile(path, i + 1, cost, body))
        used += cost
        if target - used < _ENOUGH:
            break

    def assemble(files: list[JoinedFile]) -> tuple[str, list[SkippedFile]]:
        last = files[-1].rank if files else 0
        skipped = [s for s in passed if s.rank < last]
        return "".join(_block(f.path, f.content) for f in files) + _note(skipped), skipped

    # per-block counts add up to within a few tokens of the whole, and the note costs
    # its own share: drop the lowest joined files until the whole text fits
    text, skipped = assemble(joined)
    while joined and counter.count(text) > target:
        joined.pop()
        text, skipped = assemble(joined)
    if not joined:
        text, skipped = "", []
    return JoinResult(text=text, tokens=counter.count(text), files=tuple(joined), skipped=tuple(skipped),
                      budget=tokens)


def join_json(root: Path, ranking: Ranking, result: JoinResult, *, elapsed_s: float) -> str:
    """``--join --format json``: the joined files with their contents, the files passed
    over with their reasons, and the totals (``tokens`` is the cost of the joined text
    as ``--join`` prints it, note included)."""
    obj: "OrderedDict[str, object]" = OrderedDict()
    obj["root"] = str(root)
    obj["files"] = [OrderedDict([("path", f.path), ("rank", f.rank), ("tokens", f.tokens), ("content", f.content)])
                    for f in result.files]
    obj["skipped"] = [OrderedDict([("path", s.path), ("rank", s.rank), ("reason", s.reason), ("tokens", s.tokens)])
                      for s in result.skipped]
    obj["stats"] = OrderedDict([("files", len(ranking.files)), ("joined", len(result.files)),
                                ("skipped", len(result.skipped)), ("tokens", result.tokens),
                                ("budget", result.budget), ("elapsed_s", round(elapsed_s, 4))])
    return json.dumps(obj, indent=1, ensure_ascii=False)
