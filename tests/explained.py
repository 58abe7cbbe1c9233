"""Explanation rows for made-up files, in exactly the evaluator's format.

Tests of the failure analysis (the heuristic agent, failure kinds) describe a few files
by their signal values; the rows are then computed by the real explain code
(:func:`ripmap.rank.explain.explain_row`), ranked by the scores those values give.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ripmap.rank.explain import ADDITIVE, MULTIPLIERS, SignalTable, explain_row


def explanation_rows(params: Mapping[str, float], files: Sequence[tuple[str, bool, Mapping[str, float]]],
                     classes: Mapping[str, tuple[str, ...]] | None = None) -> list[dict]:
    """(path, expected, {signal: value}) per file → one row per file; unnamed additive
    signals are 0 and unnamed multipliers 1. ``classes`` labels files (their ``file_class``
    value is then also their class weight)."""
    n = len(files)
    cols = {k: np.zeros(n) for k in ADDITIVE}
    mults = {k: np.ones(n) for k in MULTIPLIERS}
    for i, (_p, _e, sig) in enumerate(files):
        for k, v in sig.items():
            (cols if k in cols else mults)[k][i] = v
    table = SignalTable(**cols, **mults, pagerank=cols["structure"].copy())
    scores = table.scores(params)
    order = sorted(range(n), key=lambda i: (-scores[i], files[i][0]))
    rank = {i: r + 1 for r, i in enumerate(order)}
    out = []
    for i, (path, expected, _s) in enumerate(files):
        labels = (classes or {}).get(path, ())
        d = explain_row(table, params, i, path, rank[i], labels, float(mults["file_class"][i])).as_dict()
        d["expected"] = expected
        out.append(d)
    return out
