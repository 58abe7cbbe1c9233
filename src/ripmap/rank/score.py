"""The fusion: one query's evidence → every file's score (see :mod:`ripmap.rank.explain`
for how the signals combine).

:func:`rank` runs per query and per parameter point, which is what the trainer calls
thousands of times, so it only does vector arithmetic and one PageRank against the
memos of a :class:`~ripmap.rank.context.RankContext`.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np

from ..extract.tags import Tag
from ..fileclass import FileClass
from .context import RankContext
from .explain import SignalTable
from .pagerank import pagerank
from .pairing import paired_with
from .params import DEFAULT, Params
from .ranking import Ranking
from .signals import churn_factor, class_weights, depth_weights, focus_expansion, recency_factor
from .symbols import rank_symbols


def rank(ctx: RankContext, params: Params | None = None, *, chat_files: Iterable[str] = (),
         focus: str | None = None, mentioned_idents: Iterable[str] = (), mentioned_files: Iterable[str] = (),
         tags: Mapping[str, Sequence[Tag]] | None = None) -> Ranking:
    """Rank every file of ``ctx`` for one query. ``tags`` enables symbol ranking.

    The focus text is parsed once (:mod:`ripmap.rank.query`) into files it names,
    identifiers it uses and plain words; each kind feeds its own evidence (see
    :mod:`ripmap.rank.explain` for how the signals combine).
    """
    params = params or DEFAULT
    g = ctx.graph
    n = g.n_files
    fi = g.file_index
    chat_idx = np.array(sorted({fi[f] for f in chat_files if f in fi}), dtype=np.int64)
    ment_idx = np.array(sorted({fi[f] for f in mentioned_files if f in fi}), dtype=np.int64)
    chat = np.zeros(n)
    chat[chat_idx] = 1.0
    q = ctx.parse(focus) if focus and focus.strip() else None

    # files the user named: explicitly, or by path / trace frame / module in the focus
    ment = np.zeros(n)
    ment[ment_idx] = 1.0
    if q is not None:
        for i, st, _why in q.file_hits:
            ment[i] = max(ment[i], st)
    # identifiers the user used (--ident, or code-like pieces of the focus) and their definers
    idents: dict[str, float] = {m: 1.0 for m in mentioned_idents if m}
    if q is not None:
        for name, st in q.ident_hits:
            idents[name] = max(idents.get(name, 0.0), st)
    name_strength = np.zeros(len(g.names))
    for name, st in idents.items():
        ids = g.ids_of(name)
        if ids:
            name_strength[ids] = np.maximum(name_strength[ids], st)
    ident_def = np.zeros(n)
    if idents and name_strength.any():
        hot = np.flatnonzero(name_strength)
        sub = g.D[hot].tocoo()  # names × files
        np.maximum.at(ident_def, sub.col, name_strength[hot][sub.row])

    W, (PT, dangling) = ctx.transition(params)
    depth = depth_weights(ctx.depths(), params)

    # graph expansion is seeded only by what the user pointed at: files and identifiers,
    # never by plain words of the focus text
    pointed = np.maximum(ment, ident_def)
    focus_s = np.zeros(n)
    if pointed.any():
        focus_s = focus_expansion(W, pointed, params["focus_decay"], params["focus_max_hops"], A=ctx.undirected(W))

    # file classes weigh vendored, generated, fixture, stub and docs files down, except
    # where the query asks for them: docs when the focus says so, and any file the user
    # points at (chat, mentioned, or named in the focus) sheds its class weight
    cls = class_weights(ctx.flags, params, int(FileClass.DOCS) if q is not None and q.asks_for_docs else 0)
    named = (chat + ment) > 0
    if named.any():
        cls = np.where(named, 1.0, cls)

    # PageRank personalized by the prior and the user's context
    pers = depth * cls * (1.0 + params["pagerank_chat_multiplier"] * np.minimum(1.0, chat + pointed))
    pr = pagerank(W, pers, alpha=params["pagerank_alpha"], PT=PT, dangling=dangling)
    struct = pr.copy()
    if params["hub_damping"] > 0:
        struct = struct / np.power(1.0 + ctx.indegree(params), params["hub_damping"])
    # normalize against files the user did not point at: a chat, mentioned or focus-
    # matched file holds personalization mass and would otherwise dwarf everyone else
    others = (chat == 0) & (pointed == 0)
    if not others.any():
        others = np.ones(n, dtype=bool)
    struct = _normalized(struct, others)

    # lexical relevance, kept apart by source: the focus text, and the chat files' own terms
    lx = ctx.lexical if n else None
    lex = np.zeros(n)
    chunk_lex = None  # per definition: how well it matches the focus text (for the symbol order)
    if q is not None and lx is not None:
        terms = q.lexical_terms
        if terms:
            lex, chunk_lex, quality = ctx.per_query(("lexq", focus),
                                                    lambda: lx.scores_and_chunks(*lx.query_vector(terms)))
            # relative to the best match, and scaled down when even that is a weak match
            # (its raw score below lexical_floor of what a perfect match would earn)
            lex = _normalized(lex, others) * min(1.0, quality / params["lexical_floor"])
    lex_chat = np.zeros(n)
    strong = sorted(set(chat_idx.tolist()) | set(np.flatnonzero(ment >= 0.9).tolist()))
    if strong and lx is not None:
        lex_chat = ctx.per_query(("lexc", tuple(strong)), lambda: lx.scores(*lx.file_terms(strong)))
        lex_chat = _normalized(lex_chat, others)

    # what co-change and test pairing start from: the user's own files and identifiers.
    # With no file in the chat, also (weighed by cochange_from_lexical) the focus text's
    # best lexical matches: a guess, so it is kept apart and never dilutes the user's own
    # evidence; with chat files it only added noise (fit corpus: A+msg 0.605 → 0.619)
    seeds = np.maximum(chat, pointed)
    cochange = ctx.association(seeds, params)
    pairing = paired_with(ctx.pairing, seeds)
    cfl = params["cochange_from_lexical"] if chat_idx.size == 0 else 0.0
    if lex.any() and cfl > 0:
        top = _top_k(lex * others, 5)
        cochange = np.maximum(cochange, cfl * ctx.association(top, params))
        pairing = np.maximum(pairing, cfl * paired_with(ctx.pairing, top))

    age, churn_n, _col = ctx.git_arrays()
    sig = SignalTable(
        structure=struct,
        cochange=cochange,
        lexical=lex,
        focus=focus_s,
        depth=depth,
        chat=1.0 + (params["boost_chat_file"] - 1.0) * chat,
        mentioned_file=1.0 + (params["boost_mentioned_file"] - 1.0) * ment,
        mentioned_ident=1.0 + (params["boost_mentioned_ident"] - 1.0) * ident_def,
        recency=recency_factor(age, params),
        churn=churn_factor(churn_n, params),
        pagerank=pr,
        file_class=cls,
        lexical_chat=lex_chat,
        pairing=pairing,
    )
    scores = sig.scores(params)
    # deterministic order: score descending, ties by path
    order = np.lexsort((np.arange(n), -scores)) if n else np.zeros(0, dtype=np.int64)
    # np.lexsort's tie-break above is by graph index, and graph files are sorted by path
    files = [g.files[i] for i in order]
    score_map = {g.files[i]: float(scores[i]) for i in order}

    def make_symbols():
        if tags is None:
            return None
        return rank_symbols(ctx, params, scores, tags, name_strength if name_strength.any() else None, chunk_lex)

    return Ranking(files=files, scores=score_map, signals=sig, params=params, order=order,
                   file_index=fi, flags=ctx.flags, query=q, _symbol_maker=make_symbols)


def _normalized(v: np.ndarray, among: np.ndarray) -> np.ndarray:
    """``v`` scaled so its maximum over ``among`` is 1, capped at 1 (zeros stay zeros).

    ``among`` leaves out the files the user pointed at (they would dwarf the rest); when
    only they have any evidence, the scale comes from them instead.
    """
    if not v.size:
        return v
    top = v[among].max() if among.any() else 0.0
    if top <= 0:
        top = v.max()
    return np.minimum(v / top, 1.0) if top > 0 else np.zeros_like(v)


def _top_k(v: np.ndarray, k: int) -> np.ndarray:
    """``v`` with all but its ``k`` largest positive entries zeroed."""
    out = np.zeros_like(v)
    if not v.any():
        return out
    idx = np.argpartition(-v, min(k, v.size - 1))[:k] if v.size > k else np.arange(v.size)
    out[idx] = v[idx]
    out[out < 0] = 0.0
    return out
