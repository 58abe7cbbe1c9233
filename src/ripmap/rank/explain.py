"""Scores and explanations: how every signal combines, and the per-signal breakdown.

    score(f) = base(f) × multiplier(f)

    base(f)       = weight_structure        · structure(f)     PageRank, normalized to [0, 1]
                  + boost_temporal_coupling · cochange(f)      co-change rules from the seeds (+ Jaccard)
                  + boost_lexical           · lexical(f)       field-aware BM25 vs the focus text, [0, 1]
                  + boost_lexical_chat      · lexical_chat(f)  the same vs the chat files' own terms,
                                                               relative to the chat files' own score, [0, 1]
                  + boost_focus_expansion   · focus(f)         named files / identifiers' definers and
                                                               their graph neighbours, decayed per hop
                  + boost_test_pairing      · pairing(f)       the test of a seed, or what a seed tests

The *seeds* of co-change and pairing are the chat files and the files named by path;
with no chat file, also the definers of the focus's identifiers and (weighed by
``cochange_from_lexical``) its best lexical matches. Co-change is the recency- and
size-weighted confidence of every commit rule from the seeds
(:meth:`ripmap.gitinfo.GitSignals.association_vector`), or, where larger,
``cochange_recent_weight`` × the share of the chat files' two newest commits that touched
the file (:meth:`ripmap.gitinfo.GitSignals.recent_partners`: the work in progress), plus
``cochange_jaccard`` × the file's largest Jaccard overlap of commit sets with a chat file
(:meth:`ripmap.gitinfo.GitSignals.cochange_vector`), where the file's own unrelated commits
count against it as the rules' confidence does not (so the term lies in [0, 1 + cochange_jaccard]).

    multiplier(f) = depth(f) · file_class(f) · chat(f) · mentioned_file(f) · mentioned_ident(f)
                  · recency(f) · churn(f)

The base is additive so independent evidence can stand on its own (a file that always
changes with the chat file ranks high even with no reference to it: "OR" logic that a
pure product cannot express); the multipliers are the seeds' boosts. ``file_class`` is
the product of the weights of the file's classes (vendor, generated, fixture, stub,
docs, test; 1 for ordinary code, and 1 for a file the query points at). The PageRank
itself is personalized by depth weight × class weight × (1 + pagerank_chat_multiplier
× [chat, mentioned or focus-matched]). :func:`explain` reports each additive term times
the multiplier (these sum to the score), each multiplier's factor, and the file's classes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

ADDITIVE = ("structure", "cochange", "lexical", "lexical_chat", "focus", "pairing")
ADDITIVE_WEIGHT = {"structure": "weight_structure", "cochange": "boost_temporal_coupling",
                   "lexical": "boost_lexical", "lexical_chat": "boost_lexical_chat",
                   "focus": "boost_focus_expansion", "pairing": "boost_test_pairing"}
MULTIPLIERS = ("depth", "file_class", "chat", "mentioned_file", "mentioned_ident", "recency", "churn")


@dataclass(frozen=True)
class SignalTable:
    """Every signal for every file, aligned with the graph's file order."""

    structure: np.ndarray
    cochange: np.ndarray
    lexical: np.ndarray
    focus: np.ndarray
    depth: np.ndarray
    chat: np.ndarray
    mentioned_file: np.ndarray
    mentioned_ident: np.ndarray
    recency: np.ndarray
    churn: np.ndarray
    pagerank: np.ndarray  # raw PageRank, for display
    file_class: np.ndarray | None = None  # class weight per file; None: all ordinary code (1)
    lexical_chat: np.ndarray | None = None  # None: no chat-file lexical evidence (0)
    pairing: np.ndarray | None = None  # None: no test pairing evidence (0)

    def value(self, k: str) -> np.ndarray:
        v = getattr(self, k)
        return np.zeros_like(self.structure) if v is None else v

    def base(self, params: Mapping[str, float]) -> np.ndarray:
        return sum(params[ADDITIVE_WEIGHT[k]] * self.value(k) for k in ADDITIVE)

    def factor(self, k: str, i: int) -> float:
        """One multiplier's factor for file ``i``."""
        v = getattr(self, k)
        return 1.0 if v is None else float(v[i])

    def multiplier(self) -> np.ndarray:
        m = np.ones_like(self.structure)
        for k in MULTIPLIERS:
            v = getattr(self, k)
            if v is not None:
                m = m * v
        return m

    def scores(self, params: Mapping[str, float]) -> np.ndarray:
        return self.base(params) * self.multiplier()


@dataclass(frozen=True)
class Contribution:
    signal: str
    value: float  # the signal's raw value for this file
    weight: float | None  # the parameter weighting it (additive terms)
    contribution: float  # additive: share of the score; multiplier: the factor itself
    kind: str  # "additive" | "multiplier"


@dataclass(frozen=True)
class Explanation:
    """Why a file has its score and rank."""

    path: str
    rank: int  # 1-based
    score: float
    base: float
    multiplier: float
    rows: tuple[Contribution, ...]
    classes: tuple[str, ...] = ()  # the file's classes (vendor, generated, ...); () for ordinary code
    class_weight: float = 1.0  # what its classes weigh before the query lifts them
    query: dict | None = None  # what the focus text was understood as (ParsedQuery.as_dict)

    def as_dict(self) -> dict:
        return {"path": self.path, "rank": self.rank, "score": self.score, "base": self.base,
                "multiplier": self.multiplier, "classes": list(self.classes), "class_weight": self.class_weight,
                "signals": [{"signal": r.signal, "kind": r.kind, "value": r.value, "weight": r.weight,
                             "contribution": r.contribution} for r in self.rows],
                **({"query": self.query} if self.query is not None else {})}

    def table(self) -> str:
        """A small plain-text table for terminals and LLM prompts."""
        lines = [f"{self.path}: rank {self.rank}, score {self.score:.6g} = base {self.base:.4g} × multiplier {self.multiplier:.4g}"]
        lines.append(f"  {'signal':<16}{'value':>10}{'weight':>10}{'→ score':>12}")
        for r in self.rows:
            if r.kind == "additive":
                lines.append(f"  {r.signal:<16}{r.value:>10.4f}{r.weight:>10.3g}{r.contribution:>12.5g}")
        for r in self.rows:
            if r.kind == "multiplier":
                note = f"  {self.class_note(r.value)}" if r.signal == "file_class" else ""
                lines.append(f"  {r.signal:<16}{r.value:>10.4g}{'':>10}{'×' + format(r.contribution, '.4g'):>12}{note}")
        if self.query is not None:
            lines.extend(query_lines(self.query))
        return "\n".join(lines)

    def class_note(self, factor: float) -> str:
        """What the file_class row stands for: the classes, and whether the query lifted
        their weight (the file is in the chat, mentioned, named by the focus, or the focus
        asks for docs)."""
        if not self.classes:
            return "(code)"
        label = "+".join(self.classes)
        if factor > self.class_weight:
            return f"({label}: weight {self.class_weight:.4g}, lifted because the query asks for it)"
        return f"({label})"


def query_lines(q: dict) -> list[str]:
    """How the focus text was read, for people (see :meth:`ParsedQuery.as_dict`)."""
    out = [f"focus understood as ({q['kind']}):"]
    if q["files"]:
        out.append("  files: " + ", ".join(f"{f['path']} ({f['strength']:.2g}, from {f['from']!r})"
                                           for f in q["files"][:8]) + (" ..." if len(q["files"]) > 8 else ""))
    if q["identifiers"]:
        out.append("  identifiers: " + ", ".join(f"{i['name']} ({i['strength']:.2g})" for i in q["identifiers"][:12]))
    if q["unresolved_identifiers"]:
        out.append("  identifiers not defined here (searched as words): " + ", ".join(q["unresolved_identifiers"][:12]))
    if q["words"]:
        out.append("  words: " + " ".join(q["words"][:30]) + (" ..." if len(q["words"]) > 30 else ""))
    return out


def explain_row(sig: SignalTable, params: Mapping[str, float], i: int, path: str, rank: int,
                classes: tuple[str, ...] = (), class_weight: float = 1.0, query: dict | None = None) -> Explanation:
    mult = float(sig.multiplier()[i])
    rows: list[Contribution] = []
    base = 0.0
    for k in ADDITIVE:
        w = params[ADDITIVE_WEIGHT[k]]
        v = float(sig.value(k)[i])
        base += w * v
        rows.append(Contribution(k, v, w, w * v * mult, "additive"))
    for k in MULTIPLIERS:
        v = sig.factor(k, i)
        rows.append(Contribution(k, v, None, v, "multiplier"))
    return Explanation(path, rank, base * mult, base, mult, tuple(rows), tuple(classes), class_weight, query)
