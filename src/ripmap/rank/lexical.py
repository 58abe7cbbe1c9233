"""Field-aware lexical retrieval: which files a text (or a chat file's identifiers) is about.

One bag of a whole file's identifiers is a weak retriever: a 3,000-line module matches
almost any query somewhere, and a name the file merely *uses* counts as much as the
names it *defines* or the words of its path. So two indexes are kept, both built once
per graph (and cached with it), both sub-word tokenized (``parseHTTPResponse`` → parse,
http, response) and stemmed (Snowball English, via PyStemmer):

* **files, BM25F** over four fields with their own weights and length normalization:
  the path's components, the names the file defines, the signatures of its definitions
  (parameters, types, bases), and the names it references;
* **chunks, BM25** over every definition (function, class, method, section) with its
  name, signature and enclosing definition, plus its file's path. A file's chunk score
  is its best chunk plus a small, saturating credit for further matching chunks
  (``coherence``), so a long file wins only by matching *well*, not by being long.

:meth:`LexicalIndex.scores` blends the two (each normalized to its maximum) into one
relevance per file, with ``CHUNK_SHARE`` of the chunk evidence; measured, the file-level
BM25F ranks files best, so chunks serve to order each file's definitions by how well
they match (the symbols a focused map shows first). Query terms come with weights (identifiers count more than plain
words, see :class:`ripmap.rank.query.ParsedQuery`).

Both indexes are kept as term counts, never as weights: a BM25 weight depends on every
document (average lengths, document frequencies), so a stored weight matrix would change
whole with any edit, while counts change only in the edited files' rows and the document
frequencies by what those rows held (:meth:`LexicalIndex.patch`: 0.9 s instead of 3.3 s
on a 70,000-file tree). A query weighs the postings of its own terms (:class:`_Bm25`),
remembers them per term, and a small index weighs everything once at its second query;
every way gives the same bits, in array work with no Python loop over files or postings.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import chain
from typing import Iterable, Mapping, Sequence

import numpy as np
from ..lazy import sparse as sp

from ..extract.tags import Tag
from ..graph import kept_positions, row_runs
from .signals import path_tokens, split_identifier

#: field weights of the file-level BM25F (path words are few and telling; references many)
FILE_FIELDS: tuple[tuple[str, float, float], ...] = (  # (field, weight, length-normalization b)
    ("path", 3.0, 0.3),
    ("defs", 2.0, 0.75),
    ("sigs", 0.5, 0.75),
    ("refs", 1.0, 0.75),
)
CHUNK_FIELDS: tuple[tuple[str, float, float], ...] = (
    ("name", 3.0, 0.5),
    ("sig", 1.0, 0.75),
    ("path", 0.6, 0.3),
)
K1 = 1.2
#: files tokenized at a time by :meth:`LexicalIndex.build`
_BUILD_BATCH = 4096
#: weighted postings a lexical index keeps per term for later queries (12 bytes each)
TERM_MEMO = 4_000_000
#: counts (over all fields) up to which an index weighs every posting once, at its second
#: query (a 1,500-file repository has ~1M; the 70,000-file scale tree 21M)
EAGER_ENTRIES = 3_000_000
#: blend of chunk evidence into the file relevance. Measured on the fit corpus (11
#: repositories, three tasks), file-level BM25F alone ranks files best (task-balanced
#: NDCG@10 0.603 against 0.595 at 0.5 and 0.575 with chunks alone), so chunks only order
#: a file's symbols (see ``scores_and_chunks``); kept as a knob for other corpora.
CHUNK_SHARE = 0.0
COHERENCE = 0.3  # credit for further matching chunks, relative to the best one
#: what a stored index must match: any change of the build constants invalidates it
INDEX_VERSION = f"5:{FILE_FIELDS!r}:{CHUNK_FIELDS!r}:{K1}"  # 5: counts and frequencies, no weights

_stemmer = None


def stem_all(tokens: Sequence[str]) -> list[str]:
    """Snowball English stems (PyStemmer); lowercase input expected."""
    global _stemmer
    if _stemmer is None:
        import Stemmer

        _stemmer = Stemmer.Stemmer("english")
        _stemmer.maxCacheSize = 200_000
    return _stemmer.stemWords(list(tokens))


class _Vocab:
    #: the most identifiers :meth:`words` remembers before starting over (a big tree's
    #: distinct identifiers would otherwise be kept for the whole build)
    WORDS_KEPT = 200_000

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self._stem_of: dict[str, int] = {}  # raw token → term id
        self._words: dict[str, list[str]] = {}  # identifier → its sub-words
        self._ident_ids: dict[str, list[int]] = {}  # identifier → its sub-words' term ids

    def ident_ids(self, ident: str) -> list[int]:
        """``term_ids(words(ident))``, remembered (definition and parent names repeat:
        ``__init__``, ``visit_*``, a class's name for each of its methods). Shared: not
        to be changed by the caller."""
        got = self._ident_ids.get(ident)
        if got is None:
            if len(self._ident_ids) >= self.WORDS_KEPT:
                self._ident_ids.clear()
            got = self._ident_ids[ident] = self.term_ids(self.words(ident))
        return got

    def words(self, ident: str) -> list[str]:
        """``split_identifier(ident)``, remembered: a tree's signatures repeat the same
        identifiers (types, parameter names) tens of thousands of times."""
        got = self._words.get(ident)
        if got is None:
            if len(self._words) >= self.WORDS_KEPT:
                self._words.clear()
            got = self._words[ident] = split_identifier(ident)
        return got

    def term_ids(self, tokens: Sequence[str]) -> list[int]:
        so = self._stem_of
        try:
            return [so[t] for t in tokens]  # most tokens were seen before
        except KeyError:
            pass
        miss = list(dict.fromkeys(t for t in tokens if t not in so))
        for raw, st in zip(miss, stem_all(miss)):
            so[raw] = self.ids.setdefault(st, len(self.ids))
        return [so[t] for t in tokens]


@dataclass(eq=False)
class _Bm25:
    """One BM25F index kept as its term counts, weighed only where a query looks.

    A document's weight for a term is ``tf/(k1 + tf) × idf`` with ``tf = Σ_field
    weight · count / (1 - b + b·len/avglen)``. Those weights are not stored: each field's
    per-document factor (``weight / normalization``) and each term's idf are, and a query
    weighs the postings of its own terms. The weights depend on every document (average
    lengths, document frequencies), so a stored weight matrix changes whole with any
    edit; kept this way, an edit replaces the changed documents' count rows and patches
    the document frequencies, and nothing else is recomputed.

    The arithmetic is the eager matrix's, in its order (fields summed in field order,
    a query's terms accumulated in their order), so scores are the same to the bit.
    """

    fields: tuple[sp.csr_matrix, ...]  # docs × terms counts, one per field (canonical CSR)
    scale: tuple[np.ndarray, ...]  # per field: weight / length normalization, per document
    df: np.ndarray  # per term: documents having it in any field (int64)
    idf: np.ndarray  # per term
    #: per field: each document's length (its row sum): what a patch carries over for the
    #: rows it keeps instead of summing every row again
    lens: tuple[np.ndarray, ...] = field(default=(), repr=False)
    #: the fields by column, made at the second query: one query scans the postings
    #: (cheaper than converting), many (an evaluation, a server) read columns
    _columns: tuple[sp.csc_matrix, ...] | None = field(default=None, repr=False)
    _queries: int = field(default=0, repr=False)
    #: each term's weighted postings once taken (document, weight), while they stay under
    #: TERM_MEMO entries: an evaluation's thousands of queries share most of their terms
    _terms: dict = field(default_factory=dict, repr=False)
    _term_entries: int = field(default=0, repr=False)
    #: the whole weight matrix (by column), made at the second query of a small index:
    #: where it costs little, column gathers in C beat weighing postings in numpy
    _matrix: sp.csc_matrix | None = field(default=None, repr=False)

    @property
    def n_docs(self) -> int:
        return self.fields[0].shape[0] if self.fields else 0

    @classmethod
    def of(cls, fields: Sequence[sp.csr_matrix], spec: Sequence[tuple[str, float, float]], nterms: int,
           df: np.ndarray | None = None, lens: Sequence[np.ndarray] | None = None) -> "_Bm25":
        """The index of these counts; ``df`` and each field's document lengths when known
        (carried by a patch), else counted."""
        n = fields[0].shape[0]
        mats, scale, lengths = [], [], []
        for i, (m, (_name, w, b)) in enumerate(zip(fields, spec)):
            m = m.tocsr()
            m.resize((n, nterms))
            ln = lens[i] if lens is not None else np.asarray(m.sum(axis=1)).ravel()
            lengths.append(ln)
            avg = ln[ln > 0].mean() if (ln > 0).any() else 1.0
            norm = 1.0 - b + b * ln / avg
            mats.append(m)
            scale.append(w / np.where(norm > 0, norm, 1.0))
        if df is None:
            df = _document_frequency(mats, np.arange(n), nterms)
        dff = df.astype(np.float64)
        idf = np.log1p((n - dff + 0.5) / (dff + 0.5))
        return cls(tuple(mats), tuple(scale), df, idf, lens=tuple(lengths))

    def postings(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(document, position in ``ids``, weight) of every posting of the terms ``ids``,
        ordered by position, then document."""
        if not self.n_docs or not ids.size:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        terms = ids.tolist()
        missing = [t for t in dict.fromkeys(terms) if t not in self._terms]
        if missing:
            sub = np.asarray(missing, dtype=np.int64)
            doc, pos, w = self._weigh(sub)
            bounds = np.searchsorted(pos, np.arange(sub.size + 1))
            for j, t in enumerate(missing):
                a, b = int(bounds[j]), int(bounds[j + 1])
                self._terms[t] = (doc[a:b], w[a:b])
                self._term_entries += b - a
        got = [self._terms[t] for t in terms]
        if self._term_entries > TERM_MEMO:  # answered from what is held; held no longer
            self._terms, self._term_entries = {}, 0
        lens = np.fromiter((d.size for d, _w in got), dtype=np.int64, count=len(got))
        return (np.concatenate([d for d, _w in got]), np.repeat(np.arange(len(got)), lens),
                np.concatenate([w for _d, w in got]))

    def matrix(self) -> sp.csc_matrix | None:
        """The weight matrix of a small index from its second query on (None before, and
        for an index of more than EAGER_ENTRIES counts, whose queries weigh postings)."""
        if self._matrix is None and self._queries >= 1 and self._small:
            acc = sp.csr_matrix(self.fields[0].shape)
            for m, sc in zip(self.fields, self.scale):
                acc = acc + sp.diags(sc) @ m  # field by field, as the postings are summed
            acc = acc.tocsr()
            acc.data = acc.data / (K1 + acc.data) * self.idf[acc.indices]
            self._matrix = acc.tocsc()
        self._queries += 1
        return self._matrix

    def warm(self) -> None:
        """Make now what the second query would make (the weight matrix of a small index,
        the fields by column of a large one), so a long-lived server's next query reads
        columns instead of scanning every posting (0.5 s of a 70,000-file tree's first query
        after an edit). Scores are the same either way; only their cost differs."""
        if self._small:
            self._queries = max(self._queries, 1)
            self.matrix()
        else:
            self._by_column()
            self._queries = max(self._queries, 2)

    @property
    def _small(self) -> bool:
        """Whether the index is small enough for its whole weight matrix (:meth:`matrix`)."""
        return sum(m.nnz for m in self.fields) <= EAGER_ENTRIES

    def _by_column(self) -> None:
        """The fields by column, made once (what queries read instead of scanning postings)."""
        if self._columns is None:
            self._columns = tuple(m.tocsc() for m in self.fields)

    def _weigh(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`postings` worked out from the counts."""
        n = self.n_docs
        if self._queries >= 2:
            self._by_column()
        if self._columns is not None:
            return self._column_postings(ids)
        pos_of = np.full(self.idf.size, -1, dtype=np.int64)
        pos_of[ids] = np.arange(ids.size)
        asked = pos_of >= 0  # a byte per term: the scan over every posting reads a byte each
        keys, vals = [], []
        for m, sc in zip(self.fields, self.scale):
            at = np.flatnonzero(asked[m.indices])
            if not at.size:
                continue
            row = np.searchsorted(m.indptr, at, side="right") - 1
            pos = pos_of[m.indices[at]]
            # each field's postings put in (position, document) order here, by a radix sort
            # of small positions, so that the merge of the fields sorts a few sorted runs
            by_pos = np.argsort(pos.astype(np.uint16) if ids.size <= 0xFFFF else pos, kind="stable")
            row, pos, at = row[by_pos], pos[by_pos], at[by_pos]
            keys.append(pos * n + row)
            vals.append(sc[row] * m.data[at])
        return _saturated(keys, vals, n, self.idf, ids)

    def _column_postings(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`postings` read from the fields by column (each field's entries come out in
        (position, document) order already)."""
        n = self.n_docs
        keys, vals = [], []
        for mc, sc in zip(self._columns or (), self.scale):
            at, pos = row_runs(mc.indptr, ids)
            if not at.size:
                continue
            row = mc.indices[at].astype(np.int64)
            keys.append(pos * n + row)
            vals.append(sc[row] * mc.data[at])
        return _saturated(keys, vals, n, self.idf, ids)

    def rows(self, docs: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """(term, weight): the weights of the documents ``docs``, every term once with its
        largest weight among them, terms ascending."""
        docs = np.asarray(docs, dtype=np.int64)
        nt = self.idf.size
        keys, vals = [], []
        for m, sc in zip(self.fields, self.scale):
            pos, which = row_runs(m.indptr, docs)
            keys.append(m.indices[pos].astype(np.int64) * docs.size + which)
            vals.append(sc[docs[which]] * m.data[pos])
        _d, term, w = _saturated(keys, vals, docs.size, self.idf, np.arange(nt))
        if not term.size:
            return term, w
        starts = np.flatnonzero(np.r_[True, term[1:] != term[:-1]])
        return term[starts], np.maximum.reduceat(w, starts)


def _saturated(keys: list[np.ndarray], vals: list[np.ndarray], n: int, idf: np.ndarray,
               ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-field contributions (``keys``: position·n + document, in field order) summed per
    key in field order, saturated and scaled by the term's idf: (document, position, weight)
    ordered by key."""
    if not keys:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    k = np.concatenate(keys)
    v = np.concatenate(vals)
    order = np.argsort(k, kind="stable")  # equal keys keep the field order
    k, v = k[order], v[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    # summed one field after another, ((x0 + x1) + x2) + x3, as adding the fields'
    # matrices does (np.add.reduceat may pair them otherwise: a different last bit): the
    # r-th entry of every key that has more than r, a pass over the keys per field
    lens = np.diff(starts, append=k.size)
    acc = v[starts]
    for r in range(1, int(lens.max()) if lens.size else 1):
        longer = lens > r
        acc[longer] += v[starts[longer] + r]
    k = k[starts]
    pos = k // n
    return k % n, pos, acc / (K1 + acc) * idf[ids[pos]]


def _document_frequency(fields: Sequence[sp.csr_matrix], docs: np.ndarray, nterms: int) -> np.ndarray:
    """Per term, how many of the documents ``docs`` have it in any field."""
    if not docs.size:
        return np.zeros(nterms, dtype=np.int64)
    every = docs.size == fields[0].shape[0] and bool((docs == np.arange(docs.size)).all())
    pattern = None
    for m in fields:
        sub = m if every else m[docs]
        # presence only (one byte per entry): a cold build of 70,000 files holds this beside the counts
        sub = sp.csr_matrix((np.ones(sub.nnz, dtype=np.int8), sub.indices, sub.indptr), shape=(docs.size, nterms))
        pattern = sub if pattern is None else (pattern + sub).astype(np.int8)
    return np.bincount(pattern.indices, minlength=nterms).astype(np.int64)


def _rows_to_csr(rows: list[list[int]], n: int) -> sp.csr_matrix:
    lens = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lens, out=indptr[1:])
    idx = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=int(indptr[-1]))
    m = sp.csr_matrix((np.ones(idx.size), idx, indptr), shape=(len(rows), max(n, 1)))
    m.sum_duplicates()
    return m


@dataclass(frozen=True, eq=False)
class LexicalCounts:
    """The term counts a :class:`LexicalIndex` is weighted from, kept so that an edit
    replaces the changed files' rows instead of tokenizing every definition again.

    Terms are numbered in the sorted order of their stems, so the numbering, and with it
    every sum the index makes, does not depend on the order files were added in: a
    patched index equals a cold build of the same files.
    """

    stems: tuple[str, ...]  # term id → stem (sorted)
    files: tuple[str, ...]
    fields: tuple[sp.csr_matrix, ...]  # files × terms counts, one per FILE_FIELDS entry
    cfields: tuple[sp.csr_matrix, ...]  # chunks × terms counts, one per CHUNK_FIELDS entry
    chunk_file: np.ndarray


def _file_rows(voc: "_Vocab", rels: Sequence[str], first: int, names: Sequence[str], Dt: sp.csr_matrix,
               R: sp.csr_matrix, defs: Mapping[str, Sequence[Tag]] | None, rows_of: Sequence[int]):
    """The files ``rels`` (graph rows ``rows_of``) per field, and their chunks
    (definitions), numbered from file ``first``: the Python part of a build. The path,
    signature and chunk fields are term-id lists per row; the defined and referenced
    names' fields are count matrices already (see :func:`_name_fields`)."""
    f_rows: tuple[list, ...] = ([], [], [], [])  # path, (defs), sigs, (refs)
    c_rows: tuple[list, ...] = ([], [], [])  # name, sig, path
    c_file: list[int] = []
    for k, rel in enumerate(rels):
        pt = voc.term_ids(path_tokens(rel))
        f_rows[0].append(pt)
        sig_all: list[int] = []
        for d in (defs.get(rel, ()) if defs is not None else ()):
            nt = voc.ident_ids(d.name)
            st = voc.term_ids(_sig_words(d.signature, d.name, voc.words)) if d.signature else []
            pt_parent = voc.ident_ids(d.parent) if d.parent else []
            sig_all.extend(st)
            c_rows[0].append(nt)
            c_rows[1].append(st + pt_parent)
            c_rows[2].append(pt)
            c_file.append(first + k)
        f_rows[2].append(sig_all)
    defined, referenced = _name_fields(voc, names, Dt, R, np.asarray(rows_of, dtype=np.int64))
    return (f_rows[0], defined, f_rows[2], referenced), c_rows, c_file


def _name_fields(voc: "_Vocab", names: Sequence[str], Dt: sp.csr_matrix, R: sp.csr_matrix,
                 rows: np.ndarray) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """The defined-names and referenced-names fields of graph rows ``rows``: each file's
    counts of the sub-words of the names it defines and of those it references (each
    name once per file), as ``pattern @ (names × terms)``: the names are split once,
    not once per file that mentions them."""
    patterns = []
    every = np.array_equal(rows, np.arange(Dt.shape[0]))  # a whole build in one batch: no copy of the rows
    for M in (Dt, R):
        sub = M if every else M[rows]
        patterns.append(sp.csr_matrix((np.ones(sub.nnz), sub.indices, sub.indptr), shape=sub.shape))
    used = np.unique(np.concatenate([P.indices for P in patterns]))
    lists = [voc.ident_ids(names[j]) for j in used.tolist()]
    lens = np.zeros(len(names), dtype=np.int64)
    lens[used] = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    indptr = np.zeros(len(names) + 1, dtype=np.int64)
    np.cumsum(lens, out=indptr[1:])
    idx = np.fromiter(chain.from_iterable(lists), dtype=np.int64, count=int(indptr[-1]))
    NT = sp.csr_matrix((np.ones(idx.size), idx, indptr), shape=(len(names), max(len(voc.ids), 1)))
    NT.sum_duplicates()
    out = []
    for P in patterns:
        m = (P @ NT).tocsr()
        m.sum_duplicates()
        out.append(m)
    return out[0], out[1]


def _field_csr(rows: list[list[int]] | sp.csr_matrix, n: int) -> sp.csr_matrix:
    """A field's rows as a count matrix ``n`` terms wide (term-id lists, or counts
    already, which :func:`_file_rows` made for this call and are widened in place)."""
    if isinstance(rows, list):
        return _rows_to_csr(rows, n)
    rows.resize((rows.shape[0], max(n, 1)))
    return rows


def _renumber(m: sp.csr_matrix, new_id: np.ndarray, nterms: int) -> sp.csr_matrix:
    out = sp.csr_matrix((m.data, new_id[m.indices], m.indptr), shape=(m.shape[0], nterms))
    out.sort_indices()
    return out


def _sorted_vocab(stems: list[str], mats: list[sp.csr_matrix]) -> tuple[tuple[str, ...], list[sp.csr_matrix],
                                                                         np.ndarray]:
    """``stems`` in sorted order, the matrices' term ids renumbered to match, and each
    old term id's new one."""
    order = sorted(range(len(stems)), key=stems.__getitem__)
    new_id = np.empty(len(stems), dtype=np.int64)
    new_id[order] = np.arange(len(stems))
    nt = max(len(stems), 1)
    return tuple(stems[i] for i in order), [_renumber(m, new_id, nt) for m in mats], new_id


@dataclass(eq=False)
class LexicalIndex:
    """The two lexical indexes of one graph (see module docstring), kept as term counts
    (:class:`LexicalCounts`) weighed where a query looks (:class:`_Bm25`)."""

    counts: LexicalCounts
    #: per term, documents having it: of the file index, then of the chunk index (what a
    #: patch carries over instead of counting every document again)
    file_df: np.ndarray | None = field(default=None, repr=False)
    chunk_df: np.ndarray | None = field(default=None, repr=False)
    #: (size, mtime) per file when built, for an incremental update by a later process
    stamps: np.ndarray | None = field(default=None, repr=False)
    #: each field's document lengths, of the files then of the chunks, when a patch carried
    #: them over (else they are summed from the counts)
    file_lens: tuple[np.ndarray, ...] | None = field(default=None, repr=False)
    chunk_lens: tuple[np.ndarray, ...] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        c = self.counts
        nt = max(len(c.stems), 1)
        self.vocab: dict[str, int] = dict(zip(c.stems, range(len(c.stems))))
        self.n_files = len(c.files)
        self.chunk_file = c.chunk_file
        self._files = _Bm25.of(list(c.fields), FILE_FIELDS, nt, self.file_df, self.file_lens)
        self._chunks = (_Bm25.of(list(c.cfields), CHUNK_FIELDS, nt, self.chunk_df, self.chunk_lens)
                        if c.chunk_file.size else None)
        self.file_lens = self.chunk_lens = None  # held by the two indexes from here on
        self.file_df = self._files.df
        self.chunk_df = self._chunks.df if self._chunks is not None else np.zeros(nt, dtype=np.int64)

    def warm(self) -> None:
        """:meth:`_Bm25.warm` for the file and the chunk index."""
        self._files.warm()
        if self._chunks is not None:
            self._chunks.warm()

    @property
    def idf(self) -> np.ndarray:
        """Per term, of the file index (what a perfect match earns)."""
        return self._files.idf

    # -- building ---------------------------------------------------------------------
    @classmethod
    def build(cls, files: Sequence[str], names: Sequence[str], D: sp.csr_matrix, R: sp.csr_matrix,
              defs: Mapping[str, Sequence[Tag]] | None) -> "LexicalIndex":
        """``D``: names × files (defines), ``R``: files × names (references, any kind);
        ``defs``: each file's definitions (for signatures and chunks), may be None."""
        voc = _Vocab()
        files = tuple(files)
        Dt, Rr = D.T.tocsr(), R.tocsr()
        parts: list[list[sp.csr_matrix]] = [[] for _ in range(len(FILE_FIELDS) + len(CHUNK_FIELDS))]
        c_file: list[int] = []
        # a batch of files at a time: their term lists become arrays before the next batch
        # is read (1.4M definitions of Python lists would be most of a big tree's peak)
        for a in range(0, len(files), _BUILD_BATCH):
            b = min(a + _BUILD_BATCH, len(files))
            f_rows, c_rows, c_part = _file_rows(voc, files[a:b], a, names, Dt, Rr, defs, range(a, b))
            for out, rows in zip(parts, (*f_rows, *c_rows)):
                out.append(_field_csr(rows, len(voc.ids)))
            c_file.extend(c_part)
        nt = max(len(voc.ids), 1)
        mats = []
        for pieces in parts:
            for m in pieces:
                m.resize((m.shape[0], nt))
            mats.append(sp.vstack(pieces, format="csr") if pieces else sp.csr_matrix((0, nt)))
        stems, mats, _ = _sorted_vocab(list(voc.ids), mats)
        counts = LexicalCounts(stems, files, tuple(mats[:4]), tuple(mats[4:]), np.asarray(c_file, dtype=np.int64))
        return cls.from_counts(counts)

    @classmethod
    def from_counts(cls, counts: LexicalCounts) -> "LexicalIndex":
        """The index of some term counts (array work only)."""
        return cls(counts)

    @classmethod
    def patch(cls, old: "LexicalIndex", files: Sequence[str], names: Sequence[str], D: sp.csr_matrix,
              R: sp.csr_matrix, defs: Mapping[str, Sequence[Tag]] | None, changed: set[str]) -> "LexicalIndex":
        """``old`` brought to ``files``: the rows of files gone or ``changed`` dropped, the
        changed and new files' rows tokenized, the rest kept, and the document frequencies
        patched with the dropped and added rows alone. Equal to :meth:`build` on the same
        arguments when every file whose definitions or references differ from ``old``'s
        is in ``changed`` (or new)."""
        c = old.counts
        files = tuple(files)
        old_to_new = kept_positions(c.files, files, set(changed))
        kept_old = np.flatnonzero(old_to_new >= 0)
        gone_old = np.flatnonzero(old_to_new < 0)
        have = np.zeros(len(files), dtype=bool)
        have[old_to_new[kept_old]] = True
        fresh_pos = np.flatnonzero(~have)
        voc = _Vocab()
        voc.ids = dict(zip(c.stems, range(len(c.stems))))
        f_rows, c_rows, c_file = _file_rows(voc, [files[i] for i in fresh_pos], 0, names, D.T.tocsr(), R.tocsr(),
                                            defs, fresh_pos.tolist())
        nt = max(len(voc.ids), 1)
        old_nt = max(len(c.stems), 1)
        fresh_f = [_field_csr(rows, nt) for rows in f_rows]
        fresh_c = [_rows_to_csr(rows, nt) for rows in c_rows]
        keep_c = old_to_new[c.chunk_file] >= 0 if c.chunk_file.size else np.zeros(0, dtype=bool)
        # document frequencies: the dropped rows' counted out, the fresh rows' counted in
        file_df = _grown(old.file_df, nt) - _grown(_document_frequency(c.fields, gone_old, old_nt), nt)
        file_df += _document_frequency(fresh_f, np.arange(fresh_pos.size), nt)
        chunk_df = _grown(old.chunk_df, nt) - _grown(
            _document_frequency(c.cfields, np.flatnonzero(~keep_c), old_nt), nt)
        chunk_df += _document_frequency(fresh_c, np.arange(len(c_file)), nt)
        # files: kept rows, then fresh ones, put in file order
        perm = np.empty(len(files), dtype=np.int64)
        perm[old_to_new[kept_old]] = np.arange(kept_old.size)
        perm[fresh_pos] = kept_old.size + np.arange(fresh_pos.size)
        fields = [_stacked(m, kept_old, fresh, nt, perm) for m, fresh in zip(c.fields, fresh_f)]
        # chunks: those of kept files (renumbered), then fresh ones, grouped by file
        chunk_file = np.concatenate([old_to_new[c.chunk_file[keep_c]], fresh_pos[np.asarray(c_file, dtype=np.int64)]
                                     if c_file else np.zeros(0, dtype=np.int64)])
        corder = np.argsort(chunk_file, kind="stable")
        cfields = [_stacked(m, np.flatnonzero(keep_c), fresh, nt, corder) for m, fresh in zip(c.cfields, fresh_c)]
        stems = list(voc.ids)
        if len(stems) > len(c.stems):  # new stems: sorted order again
            stems, mats, new_id = _sorted_vocab(stems, fields + cfields)
            fields, cfields = mats[:4], mats[4:]
            file_df, chunk_df = _renumbered(file_df, new_id), _renumbered(chunk_df, new_id)
        counts = LexicalCounts(tuple(stems), files, tuple(fields), tuple(cfields), chunk_file[corder])
        # document lengths: the kept rows' as they were (the same entries in the same order,
        # so the same sums), the fresh rows' summed from the patched counts as a build would
        file_lens = _carried_lens(old._files, kept_old, fields, perm, fresh_pos)
        chunk_lens = (_carried_lens(old._chunks, np.flatnonzero(keep_c), cfields, corder,
                                    np.flatnonzero(corder >= int(keep_c.sum())))
                      if old._chunks is not None and chunk_file.size else None)
        return cls(counts, file_df=file_df, chunk_df=chunk_df, file_lens=file_lens, chunk_lens=chunk_lens)

    # -- querying ---------------------------------------------------------------------
    def query_vector(self, weighted_tokens: Iterable[tuple[str, float]]) -> tuple[np.ndarray, np.ndarray]:
        """(term ids, weights) for raw lowercase tokens with weights; unknown terms dropped."""
        toks = [(t, w) for t, w in weighted_tokens if t]
        if not toks:
            return np.zeros(0, np.int64), np.zeros(0)
        stems = stem_all([t for t, _ in toks])
        acc: dict[int, float] = {}
        for st, (_t, w) in zip(stems, toks):
            j = self.vocab.get(st)
            if j is not None and acc.get(j, 0.0) < w:
                acc[j] = w
        if not acc:
            return np.zeros(0, np.int64), np.zeros(0)
        ids = np.fromiter(acc.keys(), dtype=np.int64, count=len(acc))
        return ids, np.fromiter(acc.values(), dtype=np.float64, count=len(acc))

    def file_terms(self, idx: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
        """Query terms standing for chat files: every term of their own file document,
        weighted by how strongly it marks them (their saturated BM25F weight)."""
        idx = [int(i) for i in idx]
        if not idx:
            return np.zeros(0, np.int64), np.zeros(0)
        ids, w = self._files.rows(idx)
        return ids, w / w.max() if w.size else w

    def ideal(self, ids: np.ndarray, weights: np.ndarray) -> float:
        """What a file matching every query term perfectly would score (Σ weight · idf):
        the yardstick that tells a strong match from the best of weak ones."""
        if ids.size == 0 or not self.idf.size:
            return 0.0
        return float(np.dot(weights, self.idf[ids]))

    def scores(self, ids: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Lexical relevance per file in [0, 1] (0 where nothing matches)."""
        return self.scores_and_chunks(ids, weights)[0]

    def scores_and_chunks(self, ids: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, float]:
        """(:meth:`scores`, each chunk's own BM25 score or None, match quality).

        The chunk scores let the symbol ranking put a file's best-matching definitions
        first. The quality is the best file's raw score over :meth:`ideal`, in [0, 1]:
        a commit message of common words ("fix lint in rack") matches *something* best,
        but far from well, and the caller can weigh the evidence accordingly."""
        out = np.zeros(self.n_files)
        if ids.size == 0:
            return out, None, 0.0
        ids = np.asarray(ids, dtype=np.int64)
        weights = np.asarray(weights, dtype=np.float64)
        fs = _weighted_sums(self._files, ids, weights, self.n_files)
        mx = fs.max() if fs.size else 0.0
        ideal = self.ideal(ids, weights)
        quality = min(1.0, mx / ideal) if ideal > 0 else 0.0
        if mx > 0:
            out += (1.0 - CHUNK_SHARE) * fs / mx
        cs = None
        if self._chunks is not None:
            cs = _weighted_sums(self._chunks, ids, weights, self._chunks.n_docs)
            if cs.any():
                agg = _file_aggregate(cs, self.chunk_file, self.n_files)
                m2 = agg.max()
                if m2 > 0:
                    out += CHUNK_SHARE * agg / m2
        return out, cs, quality


def _weighted_sums(ix: _Bm25, ids: np.ndarray, weights: np.ndarray, n: int) -> np.ndarray:
    """Σ over the query terms of weight × the document's BM25 weight, per document (terms
    accumulated in their order, as a column-compressed matrix times a vector would)."""
    W = ix.matrix()
    if W is not None:
        return np.asarray(W[:, ids] @ weights).ravel()
    doc, pos, w = ix.postings(ids)
    return np.bincount(doc, weights=w * weights[pos], minlength=n)


def _grown(v: np.ndarray | None, n: int) -> np.ndarray:
    """``v`` (per term) extended with zeros to ``n`` terms."""
    out = np.zeros(n, dtype=np.int64)
    if v is not None:
        out[:min(v.size, n)] = v[:n]
    return out


def _renumbered(v: np.ndarray, new_id: np.ndarray) -> np.ndarray:
    out = np.zeros(max(new_id.size, 1), dtype=np.int64)
    out[new_id] = v[:new_id.size]
    return out


def _carried_lens(old: "_Bm25", keep: np.ndarray, fields: Sequence[sp.csr_matrix], order: np.ndarray,
                  fresh_rows: np.ndarray) -> tuple[np.ndarray, ...] | None:
    """Each field's document lengths after a patch: row ``i`` takes the ``order[i]``-th of
    the kept old rows' lengths followed by the fresh ones, which are summed from their
    rows of the patched ``fields`` (``fresh_rows``: where they landed). None when the old
    index kept no lengths."""
    if len(old.lens) != len(fields):
        return None
    order = np.asarray(order, dtype=np.int64)
    out = []
    for ln, m in zip(old.lens, fields):
        got = np.empty(order.size)
        from_old = order < keep.size
        got[from_old] = ln[keep[order[from_old]]]
        if fresh_rows.size:
            got[fresh_rows] = np.asarray(m[fresh_rows].sum(axis=1)).ravel()
        out.append(got)
    return tuple(out)


def _stacked(old: sp.csr_matrix, keep: np.ndarray, fresh: sp.csr_matrix, nterms: int,
             order: np.ndarray) -> sp.csr_matrix:
    """The kept rows of ``old`` then ``fresh``, widened to ``nterms`` and put in ``order``
    (row ``i`` of the result is row ``order[i]`` of that stack).

    Copied as slices: an edit keeps long runs of consecutive old rows (all but the edited
    file's), so the result is a few ``memcpy``-sized pieces, not a row-by-row gather."""
    old = old.tocsr()
    fresh = fresh.tocsr()
    src = np.asarray(order, dtype=np.int64)
    from_old = src < keep.size
    # the row each output row comes from: old rows as themselves, fresh rows after them
    row = np.where(from_old, keep[np.minimum(src, max(keep.size - 1, 0))] if keep.size else 0,
                   old.shape[0] + src - keep.size)
    ptr = np.concatenate([old.indptr[:-1], old.indptr[-1] + fresh.indptr])
    data = (old.data, fresh.data)
    indices = (old.indices, fresh.indices)
    # runs of output rows that are consecutive rows of one source
    cut = np.flatnonzero(np.r_[True, (row[1:] != row[:-1] + 1) | (from_old[1:] != from_old[:-1]),
                               True]) if row.size else np.zeros(1, dtype=np.int64)
    pieces_d, pieces_i = [], []
    lens = np.zeros(row.size, dtype=np.int64)
    for a, b in zip(cut[:-1].tolist(), cut[1:].tolist()):
        first, last = int(row[a]), int(row[b - 1])
        which = 0 if from_old[a] else 1
        base = 0 if which == 0 else old.indptr[-1]
        lo, hi = int(ptr[first]) - base, int(ptr[last + 1]) - base
        pieces_d.append(data[which][lo:hi])
        pieces_i.append(indices[which][lo:hi])
        lens[a:b] = np.diff(ptr[first:last + 2])
    indptr = np.zeros(row.size + 1, dtype=np.int64)
    np.cumsum(lens, out=indptr[1:])
    out_i = np.concatenate(pieces_i) if pieces_i else np.zeros(0, dtype=np.int32)
    out_d = np.concatenate(pieces_d) if pieces_d else np.zeros(0)
    return sp.csr_matrix((out_d, out_i, indptr), shape=(row.size, nterms))


def _sig_words(sig: str, name: str, words=split_identifier) -> list[str]:
    """Sub-words of a signature other than the definition's own name (``words``: how an
    identifier splits, e.g. a remembering :meth:`_Vocab.words`)."""
    own = set(words(name))
    out: list[str] = []
    for tok in _IDENT_RE.findall(sig):
        for t in words(tok):
            if t not in own and t not in _SIG_NOISE:
                out.append(t)
    return out


_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SIG_NOISE = frozenset({"def", "fn", "func", "function", "class", "pub", "public", "private", "protected", "static",
                        "final", "const", "let", "var", "self", "this", "async", "await", "return", "void", "int",
                        "str", "bool", "none", "null", "new", "extends", "implements", "struct", "impl", "trait",
                        "interface", "enum", "type", "mut", "override", "virtual", "abstract", "export", "default"})


def _file_aggregate(chunk_scores: np.ndarray, chunk_file: np.ndarray, n_files: int) -> np.ndarray:
    """Per file: best chunk + COHERENCE × (sum of the others, capped at the best).

    ``chunk_file`` is sorted (chunks are grouped by file), so reduceat works per group.
    """
    hit = np.flatnonzero(chunk_scores > 0)
    out = np.zeros(n_files)
    if hit.size == 0:
        return out
    s = chunk_scores[hit]
    f = chunk_file[hit]
    starts = np.flatnonzero(np.r_[True, f[1:] != f[:-1]])
    mx = np.maximum.reduceat(s, starts)
    tot = np.add.reduceat(s, starts)
    out[f[starts]] = mx + COHERENCE * np.minimum(tot - mx, mx)
    return out
