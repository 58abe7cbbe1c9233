"""Rendering: a ranking → the text map, the JSON object or the joined files, within a token budget."""
from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

from ..extract.tags import Tag
from ..rank import Ranking
from .join import JoinResult, join_files, join_json
from .text import PLAIN, CallSource, MapFitter, RenderedMap, ansi_style
from .tokens import TokenCounter, default_counter

__all__ = ["render_map", "map_json", "join_files", "join_json", "JoinResult", "RenderedMap", "ansi_style", "PLAIN",
           "default_counter"]


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
