"""The fusion: one query's evidence → every file's score (see :mod:`ripmap.rank.explain`
for how the signals combine).

:func:`rank` runs per query and per parameter point, which is what the trainer calls
thousands of times, so it only does vector arithmetic and one PageRank against the
memos of a :class:`~ripmap.rank.context.RankContext`.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..extract.tags import Tag
from ..fileclass import FileClass
from .context import RankContext
from .explain import SignalTable
from .pagerank import pagerank, pagerank_many
from .pairing import paired_with
from .params import DEFAULT, Params
from .query import ParsedQuery
from .ranking import Ranking
from .edges import graph_key
from .signals import (CLASS_WEIGHT, DEPTH_PARAMS, churn_factor, class_weights, depth_weights,
                      focus_expansion, recency_factor)
from .symbols import rank_symbols



#: an identifier of the focus points at its definers only when at most this many files
#: define it (per language family)
MAX_POINTED_DEFINERS = 8

@dataclass(frozen=True)
class Query:
    """One ranking request: what the user has in the chat, names, and asks about."""

    chat_files: tuple[str, ...] = ()
    focus: str | None = None
    mentioned_idents: tuple[str, ...] = ()
    mentioned_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Evidence:
    """What a query says about every file before any parameter weighs it (memoized per
    query in the context: the trainer ranks the same cases at thousands of points)."""

    chat_idx: np.ndarray
    chat: np.ndarray
    ment: np.ndarray
    q: ParsedQuery | None
    hot_names: np.ndarray  # names the query uses (ids; however many files define them: the
    hot_strength: np.ndarray  # symbol choice's), and how strongly: a sparse vector
    ident_def: np.ndarray
    pointed: np.ndarray
    has_pointed: bool
    named: np.ndarray | None  # chat or mentioned: sheds its class weight; None: no such file
    others: np.ndarray  # files the user did not point at (what normalizes)
    seeds: np.ndarray
    pairing: np.ndarray
    lex: np.ndarray | None  # focus-text lexical scores normalized among ``others``; None: no terms
    chunk_lex: np.ndarray | None
    quality: float
    lex_chat: np.ndarray


#: what a query's personalization vector depends on besides the query: the graph, α,
#: the depth and file-class priors and the chat multiplier
def personalization_key(params: Mapping[str, float]) -> tuple:
    """The values that decide every query's PageRank at ``params`` (its memo key)."""
    return (graph_key(params), float(params["pagerank_alpha"]), float(params["pagerank_chat_multiplier"]),
            *(float(params[k]) for k in DEPTH_PARAMS), *(float(params[k]) for k in CLASS_WEIGHT.values()))


def _evidence(ctx: RankContext, query: Query) -> _Evidence:
    g = ctx.graph
    n = g.n_files
    fi = g.file_index
    chat_idx = np.array(sorted({fi[f] for f in query.chat_files if f in fi}), dtype=np.int64)
    ment_idx = np.array(sorted({fi[f] for f in query.mentioned_files if f in fi}), dtype=np.int64)
    chat = np.zeros(n)
    chat[chat_idx] = 1.0
    focus = query.focus
    q = ctx.parse(focus) if focus and focus.strip() else None

    # files the user named: explicitly, or by path / trace frame / module in the focus
    ment = np.zeros(n)
    ment[ment_idx] = 1.0
    if q is not None:
        for i, st, _why in q.file_hits:
            ment[i] = max(ment[i], st)
    # identifiers the user used (--ident, or code-like pieces of the focus) and their definers
    idents: dict[str, float] = {m: 1.0 for m in query.mentioned_idents if m}
    if q is not None:
        for name, st in q.ident_hits:
            idents[name] = max(idents.get(name, 0.0), st)
    name_strength = np.zeros(len(g.names))
    said = np.zeros(len(g.names))  # every name used, however many files define it
    for name, st in idents.items():
        # a name that many files define (Ruby's `module Rack` in every file, a namespace, an
        # overloaded method) points nowhere in particular: as a seed it would make most of
        # the repository "pointed at" and drown the chat file's own co-change and pairing
        all_ids = g.ids_of(name)
        if all_ids:
            said[all_ids] = np.maximum(said[all_ids], st)
        ids = [i for i in all_ids if g.ndefs[i] <= MAX_POINTED_DEFINERS]
        if ids:
            name_strength[ids] = np.maximum(name_strength[ids], st)
    ident_def = np.zeros(n)
    if idents and name_strength.any():
        hot = np.flatnonzero(name_strength)
        sub = g.D[hot].tocoo()  # names × files
        np.maximum.at(ident_def, sub.col, name_strength[hot][sub.row])
    # graph expansion is seeded only by what the user pointed at: files and identifiers,
    # never by plain words of the focus text
    pointed = np.maximum(ment, ident_def)
    named = (chat + ment) > 0
    # normalize against files the user did not point at: a chat, mentioned or focus-
    # matched file holds personalization mass and would otherwise dwarf everyone else
    others = (chat == 0) & (pointed == 0)
    if not others.any():
        others = np.ones(n, dtype=bool)

    # lexical relevance, kept apart by source: the focus text, and the chat files' own terms
    # (the index is read or built only when a query has terms or files to match: a map
    # without focus or chat files never needs it)
    lex = chunk_lex = None
    quality = 0.0
    terms = q.lexical_terms if q is not None and n else None
    if terms:
        lx = ctx.lexical
        raw, chunk_lex, quality = ctx.per_query(("lexq", focus),
                                                lambda: lx.scores_and_chunks(*lx.query_vector(terms)))
        lex = _normalized(raw, others)
    lex_chat = np.zeros(n)
    strong = sorted(set(chat_idx.tolist()) | set(np.flatnonzero(ment >= 0.9).tolist()))
    if strong and n:
        lx = ctx.lexical
        # relative to the chat files' own score against their own terms (a perfect
        # match), not to the best other file: the best of weak matches stays weak instead
        # of earning the full weight (fit corpus: A 0.608 -> 0.617)
        raw = ctx.per_query(("lexc", tuple(strong)), lambda: lx.scores(*lx.file_terms(strong)))
        own = float(raw[strong].max())
        if own > 0:
            lex_chat = np.minimum(1.0, raw / own)
    # what co-change and test pairing start from: the user's own files. With a file in
    # the chat, the focus text's identifiers (and its weak file matches) do not seed
    # them: their definers share the seed mass with the chat file and drown its history
    # (fit corpus A+msg 0.659 -> 0.666); with none, they are all there is to start from
    if chat_idx.size:
        seeds = chat.copy()
        seeds[strong] = np.maximum(seeds[strong], ment[strong])
    else:
        seeds = pointed
    said_ids = np.flatnonzero(said)
    ev = _Evidence(chat_idx, chat, ment, q, said_ids, said[said_ids], ident_def, pointed, bool(pointed.any()),
                   named if named.any() else None, others, seeds, _paired(ctx, seeds),
                   lex if lex is not None and lex.any() else None, chunk_lex, float(quality), lex_chat)
    for v in vars(ev).values():  # memoized and shared by every ranking of this query: read-only
        if isinstance(v, np.ndarray):
            v.setflags(write=False)
    return ev


def _paired(ctx: RankContext, seeds: np.ndarray) -> np.ndarray:
    """:func:`paired_with` the seeds; with none, the pairing matrix (a pass over every
    file name) is not even built: a map with nothing in the chat never needs it."""
    return paired_with(ctx.pairing, seeds) if seeds.any() else np.zeros(ctx.graph.n_files)


def rank(ctx: RankContext, params: Params | None = None, *, chat_files: Iterable[str] = (),
         focus: str | None = None, mentioned_idents: Iterable[str] = (), mentioned_files: Iterable[str] = (),
         tags: Mapping[str, Sequence[Tag]] | None = None) -> Ranking:
    """Rank every file of ``ctx`` for one query. ``tags`` enables symbol ranking.

    The focus text is parsed once (:mod:`ripmap.rank.query`) into files it names,
    identifiers it uses and plain words; each kind feeds its own evidence (see
    :mod:`ripmap.rank.explain` for how the signals combine).
    """
    query = Query(tuple(chat_files), focus, tuple(mentioned_idents), tuple(mentioned_files))
    return rank_many(ctx, params, [query], tags=tags)[0]


#: from this many queries on, :func:`rank_many` solves PageRank exactly through one
#: factorization per (graph, α) instead of iterating per query
DIRECT_MIN_QUERIES = 16
#: graphs larger than this are always iterated (a sparse LU's fill-in grows too fast)
DIRECT_MAX_FILES = 8000


def rank_many(ctx: RankContext, params: Params | None, queries: Sequence[Query], *,
              tags: Mapping[str, Sequence[Tag]] | None = None, direct: bool | None = None) -> list[Ranking]:
    """:func:`rank` for many queries at one parameter point: what an evaluation does.

    What depends on the parameters alone (priors, git factors, the graph and its
    transition matrix) is computed once; what depends on a query alone (its parsed
    focus, lexical scores, seeds, pairing) comes from the context's per-query memo; the
    PageRank of every query is one block solve (:meth:`RankContext.pagerank_solver`) or,
    for a few queries, one batched power iteration. Each ranking is the one
    :func:`rank` would return, within PageRank's tolerance. ``direct`` forces the block
    solve on or off (None: on from :data:`DIRECT_MIN_QUERIES` queries); a caller that
    ranks its queries in several calls passes True so no ranking depends on how they
    were split.
    """
    params = params or DEFAULT
    g = ctx.graph
    n = g.n_files
    if not queries:
        return []
    depth = depth_weights(ctx.depths(), params)
    cls_all = class_weights(ctx.flags, params)
    age, churn_n, _col = ctx.git_arrays()
    recency = recency_factor(age, params)
    churn = churn_factor(churn_n, params)
    hub = np.power(1.0 + ctx.indegree(params), params["hub_damping"]) if params["hub_damping"] > 0 else None

    evs = _evidences(ctx, queries)
    pers, clss = _personalizations(ctx, params, evs, depth, cls_all)
    if direct is None:
        direct = len(evs) >= DIRECT_MIN_QUERIES
    prs = _pageranks(ctx, params, queries, pers, direct)

    decay, hops = params["focus_decay"], params["focus_max_hops"]
    focus_known = ctx.by_query("focus", (graph_key(params), float(decay), float(hops)))
    zeros = np.zeros(n)
    zeros.setflags(write=False)
    out: list[Ranking] = []
    for j, (qr, ev) in enumerate(zip(queries, evs)):
        focus_s = zeros
        if ev.has_pointed:
            # what the user pointed at does not involve the chat: the queries of one
            # commit message (with each of its files in the chat, or none) share it
            fkey = (qr.focus, qr.mentioned_idents, qr.mentioned_files)
            focus_s = focus_known.get(fkey)
            if focus_s is None:
                W = ctx.file_graph(params)
                focus_s = focus_expansion(W, ev.pointed, decay, hops, A=ctx.undirected(W))
                focus_s.setflags(write=False)
                focus_known[fkey] = focus_s
        pr = prs[j]
        struct = pr if hub is None else pr / hub
        struct = _normalized(struct, ev.others)
        lex = np.zeros(n)
        if ev.lex is not None:
            # relative to the best match, and scaled down when even that is a weak match
            # (its raw score below lexical_floor of what a perfect match would earn)
            lex = ev.lex * min(1.0, ev.quality / params["lexical_floor"])
        # co-change and pairing start from the seeds. With no file in the chat, also
        # (weighed by cochange_from_lexical) the focus text's best lexical matches: a
        # guess, so it is kept apart and never dilutes the user's own evidence; with chat
        # files it only added noise (fit corpus: A+msg 0.605 → 0.619)
        cochange = ctx.association(ev.seeds, params)
        recent_w = params["cochange_recent_weight"]
        if recent_w > 0 and ev.chat_idx.size:
            # what the chat files' own last commits touched: the work in progress (the
            # files the user works on only; never files the focus text names or guesses)
            cochange = np.maximum(cochange, recent_w * ctx.recent_cochange(ev.chat))
        jac_w = params["cochange_jaccard"]
        if jac_w > 0 and ev.chat_idx.size:
            # plus the overlap of commit sets with a chat file, where a file's own unrelated
            # commits count against it (held out: A+msg 0.674 -> 0.681, A 0.647 -> 0.650)
            cochange = cochange + jac_w * ctx.jaccard_cochange(ev.chat)
        pairing = ev.pairing
        cfl = params["cochange_from_lexical"] if ev.chat_idx.size == 0 else 0.0
        if cfl > 0 and ev.lex is not None:
            top = _top_k(lex * ev.others, 5)
            cochange = np.maximum(cochange, cfl * ctx.association(top, params))
            # the best matches' pairing depends on the query and the weak-match scale alone
            top_pairing = ctx.per_query(("pairtop", qr, float(params["lexical_floor"])),
                                        lambda top=top: _paired(ctx, top))
            pairing = np.maximum(pairing, cfl * top_pairing)
        sig = SignalTable(
            structure=struct,
            cochange=cochange,
            lexical=lex,
            focus=focus_s,
            depth=depth,
            chat=1.0 + (params["boost_chat_file"] - 1.0) * ev.chat,
            mentioned_file=1.0 + (params["boost_mentioned_file"] - 1.0) * ev.ment,
            mentioned_ident=1.0 + (params["boost_mentioned_ident"] - 1.0) * ev.ident_def,
            recency=recency,
            churn=churn,
            pagerank=pr,
            file_class=clss[j],
            lexical_chat=ev.lex_chat,
            pairing=pairing,
        )
        scores = sig.scores(params)
        # deterministic order: score descending, ties by graph index (graph files are
        # sorted by path, so ties go by path)
        order = np.argsort(-scores, kind="stable")

        def make_symbols(scores=scores, ev=ev):
            if tags is None:
                return None
            name_strength = None
            if ev.hot_names.size:
                name_strength = np.zeros(len(g.names))
                name_strength[ev.hot_names] = ev.hot_strength
            return rank_symbols(ctx, params, scores, tags, name_strength, ev.chunk_lex)

        out.append(Ranking(paths=ctx.paths_array, score_values=scores, signals=sig, params=params, order=order,
                           file_index=g.file_index, flags=ctx.flags, query=ev.q, _symbol_maker=make_symbols))
    return out


def _evidences(ctx: RankContext, queries: Sequence[Query]) -> list[_Evidence]:
    return [ctx.per_query(("evidence", qr), lambda qr=qr: _evidence(ctx, qr)) for qr in queries]


def _personalizations(ctx: RankContext, params: Params, evs: Sequence[_Evidence], depth: np.ndarray,
                      cls_all: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Each query's PageRank personalization (a column) and its file-class weights."""
    mult = params["pagerank_chat_multiplier"]
    cls_docs = None
    clss: list[np.ndarray] = []
    pers = np.empty((ctx.graph.n_files, len(evs)))
    for j, ev in enumerate(evs):
        # file classes weigh vendored, generated, fixture, stub and docs files down, except
        # where the query asks for them: docs when the focus says so, and any file the user
        # points at (chat, mentioned, or named in the focus) sheds its class weight
        if ev.q is not None and ev.q.asks_for_docs:
            if cls_docs is None:
                cls_docs = class_weights(ctx.flags, params, int(FileClass.DOCS))
            cls = cls_docs
        else:
            cls = cls_all
        if ev.named is not None:
            cls = np.where(ev.named, 1.0, cls)
        clss.append(cls)
        # PageRank personalized by the prior and the user's context
        pers[:, j] = depth * cls * (1.0 + mult * np.minimum(1.0, ev.chat + ev.pointed))
    return pers, clss


def _pageranks(ctx: RankContext, params: Params, queries: Sequence[Query], pers: np.ndarray,
               direct: bool) -> list[np.ndarray]:
    """Each query's PageRank (column ``j`` of ``pers`` personalizes query ``j``)."""
    n = ctx.graph.n_files
    alpha = params["pagerank_alpha"]
    direct = bool(direct) and 0 < n <= DIRECT_MAX_FILES
    # a query's PageRank depends on the graph, α and its personalization alone: one met
    # at an earlier point with the same of those (an L1 step that only moved fusion
    # weights) is reused
    known = ctx.by_query("pagerank", (direct, personalization_key(params)))
    # queries with equal personalizations (one file in the chat, in many commits) share
    # one vector, in this call and across calls at this key
    todo: dict[bytes, list[int]] = {}
    for j, qr in enumerate(queries):
        if qr not in known:
            digest = hashlib.blake2b(pers[:, j].tobytes(), digest_size=16).digest()
            v = known.get(digest)
            if v is not None:
                known[qr] = v
            else:
                todo.setdefault(digest, []).append(j)
    if todo:
        block = pers[:, [js[0] for js in todo.values()]]
        if direct:
            got = ctx.pagerank_solver(params).solve(block)
        elif block.shape[1] == 1:
            # one query on a graph too big for the direct solve (a user's map): the store
            # may hold this very vector, computed from the same index for the same question
            # at the same personalization parameters (which, with the index, decide the
            # personalization); or the one an earlier tree got for it, to start from
            skey = pagerank_key(params, question_digest(params, queries[next(iter(todo.values()))[0]]))
            got = ctx.stored_pagerank(skey)
            if got is None:
                W, (PT, dangling) = ctx.transition(params)
                got = pagerank(W, block[:, 0], alpha=alpha, PT=PT, dangling=dangling,
                               start=ctx.earlier_pagerank(skey))
                ctx.keep_pagerank(skey, got)
            got = got[:, None]
        else:
            _W, (PT, dangling) = ctx.transition(params)
            got = pagerank_many(PT, dangling, block, alpha=alpha)
        for c, (digest, js) in enumerate(todo.items()):
            v = got[:, c].copy()
            v.setflags(write=False)
            known[digest] = v
            for j in js:
                known[queries[j]] = v
    return [known[qr] for qr in queries]


def question_digest(params: Params, query: Query) -> bytes:
    """A digest of the question a PageRank vector answers: the query and the parameters
    its personalization depends on (:func:`personalization_key`). With the index it
    decides the personalization; unlike the personalization's own digest it names the same
    question on a tree that gained or lost a file (see :meth:`RankContext.earlier_pagerank`)."""
    return hashlib.blake2b(repr((personalization_key(params), query)).encode("utf-8", "surrogatepass"),
                           digest_size=16).digest()


def pagerank_key(params: Params, digest: bytes) -> str:
    """What a stored PageRank vector is keyed by besides the index: how it was computed
    (``solved``: :func:`~ripmap.rank.pagerank.pagerank`'s solve, whose precision is fixed;
    vectors iterated by earlier versions are never read back), the graph point, α and the
    question's digest (:func:`question_digest`)."""
    return f"solved:{','.join(map(repr, graph_key(params)))}:{float(params['pagerank_alpha'])!r}:{digest.hex()}"


def solve_pageranks(ctx: RankContext, params: Params | None, queries: Sequence[Query], *,
                    direct: bool | None = None) -> None:
    """Solve the PageRank of every query in one block and keep it where :func:`rank_many`
    finds it. PageRank does not read git history, so a caller that ranks a long run of
    queries in short runs of one history each (an evaluation with each case's own
    history: one run per commit) solves them all at once first, at BLAS speed, instead
    of a few columns per call."""
    params = params or DEFAULT
    if not queries or ctx.graph.n_files == 0:
        return
    evs = _evidences(ctx, queries)
    pers, _clss = _personalizations(ctx, params, evs, depth_weights(ctx.depths(), params),
                                    class_weights(ctx.flags, params))
    _pageranks(ctx, params, queries, pers, len(evs) >= DIRECT_MIN_QUERIES if direct is None else direct)


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
