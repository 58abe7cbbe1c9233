"""Rendering: a ranking → the text map, the JSON object, the joined files or the HTML page, within a token budget.

:func:`render` is the one entry point (``RepoMap.render`` calls it): every format is
fitted here, by one counter, to the caller's budget minus what the caller keeps for
its own lines (``reserve``), so no front end re-fits a map.
"""
from __future__ import annotations

import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from ..lazy import sparse as sp

from ..errors import UsageError
from ..extract.tags import Tag
from ..rank import Ranking
from .html import map_view, static_data, static_page
from .join import JoinResult, join_files, join_json
from .text import CallSource, MapFitter, RenderedMap, RenderMemo
from .tree import PLAIN, ansi_style
from .tokens import TokenCounter, default_counter

__all__ = ["render", "Rendered", "FORMATS", "render_map", "map_json", "join_files", "join_json", "JoinResult",
           "RenderedMap", "RenderMemo", "ansi_style", "PLAIN", "default_counter"]

#: what :func:`render` prints: the text map, its JSON object, the joined files, their JSON,
#: the self-contained HTML page (list, graph, explanations and the text map)
FORMATS = ("text", "json", "join", "join-json", "html")


@dataclass(frozen=True)
class Rendered:
    """A finished map: the text to print and what it holds.

    ``tokens`` is what the map costs by ``counter`` (for ``json`` the map the object
    describes, as its ``stats.tokens`` says; for the join formats the joined text);
    ``budget`` is what it was fitted to: the caller's tokens less its reserve. The
    counts are what a caller's stats line or footer reports.
    """

    text: str
    format: str
    tokens: int
    budget: int
    counter: str
    files: tuple[str, ...]  # shown (or joined) files, in rank order
    files_total: int
    symbols_shown: int = 0
    symbols_total: int = 0
    call_lines: int = 0
    skipped: int = 0  # join formats: higher-ranked files left out because they did not fit

    def __str__(self) -> str:
        return self.text


def render(ranking: Ranking, tags: Mapping[str, Sequence[Tag]], *, root: Path, counter: TokenCounter, tokens: int,
           format: str = "text", calls: CallSource | None = None, reserve: int = 0, color: bool = False,
           title: str = "", cache_hits: int = 0, spent_s: float = 0.0, graph: sp.spmatrix | None = None,
           memo: RenderMemo | None = None) -> Rendered:
    """``ranking`` printed in ``format`` within ``tokens - reserve`` tokens by ``counter``.

    ``reserve`` is kept free for the caller's own lines (the MCP server's stats line), so
    the whole answer fits ``tokens`` after one fit; with no room left the text is empty.
    The files in ``ranking.chat_files`` are named in the header, never repeated.
    ``spent_s`` is the time already spent on this map, for the JSON ``elapsed_s``.
    ``graph`` is the weighted file graph (files × files, graph order) the ``html`` page
    draws its edges from; without it the page's graph has nodes only. ``memo``: what an
    earlier map of the same caller worked out (see :class:`~ripmap.render.text.RenderMemo`).
    """
    t0 = time.perf_counter()
    if format not in FORMATS:
        raise UsageError(f"unknown format '{format}' (expected one of {', '.join(FORMATS)})")
    if tokens < 1:
        raise UsageError(f"tokens must be at least 1 (got {tokens})")
    if reserve < 0:
        raise UsageError(f"reserve must not be negative (got {reserve})")
    share = tokens - reserve
    if format in ("join", "join-json"):
        if calls is not None:
            raise UsageError("calls have no meaning when joining files, which prints them whole")
        joined = join_files(root, ranking, tokens=max(share, 0), counter=counter)
        text = (join_json(root, ranking, joined, elapsed_s=spent_s + time.perf_counter() - t0)
                if format == "join-json" else joined.text)
        return Rendered(text, format, joined.tokens, max(share, 0), counter.name, tuple(joined.included),
                        len(ranking.files), skipped=len(joined.skipped))
    fitter = MapFitter(ranking, tags, counter, chat_files=ranking.chat_files, title=title, calls=calls, memo=memo)
    if share >= 1:
        fitted = fitter.fit(share)
    else:  # the caller's reserve takes the whole budget: no map
        fitted = RenderedMap(text="", tokens=0, blocks=[], also=[], files_total=len(ranking.files),
                             symbols_total=fitter.symbols_total, budget=0)
    if format == "html":
        shown = tuple(b.path for b in fitted.blocks)
        data = static_data(ranking, graph, title=title, root=str(root),
                           map_=map_view(fitted.text, fitted.tokens, fitted.budget, counter.name, len(shown)))
        return Rendered(static_page(data), format, fitted.tokens, fitted.budget, counter.name, shown,
                        fitted.files_total, fitted.symbols_shown, fitted.symbols_total, fitted.call_lines)
    if format == "json":
        text = map_json(root, ranking, fitted, elapsed_s=spent_s + time.perf_counter() - t0, cache_hits=cache_hits)
    else:
        # colors only for a real map: the too-small-budget line has no blocks to color
        text = fitter.colorize(fitted, ansi_style()) if color and (fitted.blocks or fitted.also) else fitted.text
    return Rendered(text, format, fitted.tokens, fitted.budget, counter.name, tuple(b.path for b in fitted.blocks),
                    fitted.files_total, fitted.symbols_shown, fitted.symbols_total, fitted.call_lines)


def render_map(ranking: Ranking, tags: dict[str, Sequence[Tag]], *, tokens: int, counter: TokenCounter | None = None,
               chat_files: Sequence[str] = (), title: str = "", calls: CallSource | None = None) -> tuple[RenderedMap, MapFitter]:
    fitter = MapFitter(ranking, tags, counter or default_counter(), chat_files=chat_files, title=title, calls=calls)
    return fitter.fit(tokens), fitter


def map_json(root: Path, ranking: Ranking, rendered: RenderedMap, *, elapsed_s: float, cache_hits: int) -> str:
    """The JSON contract of DESIGN.md: root, params, files (all, in rank order), stats."""
    shown = {b.path: b for b in rendered.blocks}
    files = []
    for i, path in enumerate(ranking.files):
        entry: "OrderedDict[str, object]" = OrderedDict()
        entry["path"] = path
        entry["rank"] = i + 1
        entry["score"] = round(ranking.scores[path], 10)
        b = shown.get(path)
        entry["symbols"] = [OrderedDict([("name", s.tag.name), ("kind", s.tag.kind), ("line", s.tag.line),
                                         ("signature", s.tag.signature), ("score", round(s.score, 10))])
                            for s in (b.symbols if b else ())]
        files.append(entry)
    obj = OrderedDict()
    obj["root"] = str(root)
    obj["params"] = ranking.params.to_dict()
    obj["files"] = files
    obj["stats"] = OrderedDict([("files", len(ranking.files)), ("symbols", rendered.symbols_total),
                                ("tokens", rendered.tokens), ("elapsed_s", round(elapsed_s, 4)),
                                ("cache_hits", cache_hits)])
    q = ranking.query_dict()
    if q is not None:
        obj["stats"]["query"] = q  # what the focus text was understood as
    return json.dumps(obj, indent=1, ensure_ascii=False)
