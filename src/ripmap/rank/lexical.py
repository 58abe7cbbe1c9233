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
words, see :class:`ripmap.rank.query.ParsedQuery`). Scoring is a sparse column gather
and one mat-vec per index: no Python loop over files or postings.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from ..extract.tags import Tag
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
#: blend of chunk evidence into the file relevance. Measured on the fit corpus (11
#: repositories, three tasks), file-level BM25F alone ranks files best (task-balanced
#: NDCG@10 0.603 against 0.595 at 0.5 and 0.575 with chunks alone), so chunks only order
#: a file's symbols (see ``scores_and_chunks``); kept as a knob for other corpora.
CHUNK_SHARE = 0.0
COHERENCE = 0.3  # credit for further matching chunks, relative to the best one
#: what a stored index must match: any change of the build constants invalidates it
INDEX_VERSION = f"4:{FILE_FIELDS!r}:{CHUNK_FIELDS!r}:{K1}"  # 4: terms in stem order

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
    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self._stem_of: dict[str, int] = {}  # raw token → term id

    def term_ids(self, tokens: Sequence[str]) -> list[int]:
        out = []
        miss = [t for t in tokens if t not in self._stem_of]
        if miss:
            miss = list(dict.fromkeys(miss))
            for raw, st in zip(miss, stem_all(miss)):
                self._stem_of[raw] = self.ids.setdefault(st, len(self.ids))
        so = self._stem_of
        for t in tokens:
            out.append(so[t])
        return out


def _bm25_matrix(fields: list[sp.csr_matrix], spec: Sequence[tuple[str, float, float]], nterms: int,
                 k1: float = K1) -> tuple[sp.csc_matrix, np.ndarray]:
    """BM25F: Σ_field weight · tf / (1 - b + b·len/avglen), saturated as tf/(k1 + tf) × idf.
    Returns the saturated docs × terms matrix (CSC, for column gathers) and the idf."""
    n = fields[0].shape[0]
    acc = sp.csr_matrix((n, nterms))
    for m, (_name, w, b) in zip(fields, spec):
        m = m.tocsr()
        m.resize((n, nterms))
        ln = np.asarray(m.sum(axis=1)).ravel()
        avg = ln[ln > 0].mean() if (ln > 0).any() else 1.0
        norm = 1.0 - b + b * ln / avg
        acc = acc + sp.diags(w / np.where(norm > 0, norm, 1.0)) @ m
    acc = acc.tocsr()
    df = np.bincount(acc.indices, minlength=nterms).astype(np.float64)
    idf = np.log1p((n - df + 0.5) / (df + 0.5))
    acc.data = acc.data / (k1 + acc.data) * idf[acc.indices]
    return acc.tocsc(), idf


def _rows_to_csr(rows: list[list[int]], n: int) -> sp.csr_matrix:
    lens = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lens, out=indptr[1:])
    idx = np.fromiter((t for r in rows for t in r), dtype=np.int64, count=int(indptr[-1]))
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
    """Term-id lists per field for the files ``rels`` (graph rows ``rows_of``), and their
    chunks (definitions), numbered from file ``first``: the Python part of a build."""
    name_terms: dict[int, list[int]] = {}

    def nterms(j: int) -> list[int]:
        t = name_terms.get(j)
        if t is None:
            t = name_terms[j] = voc.term_ids(split_identifier(names[j]))
        return t

    f_rows: tuple[list, ...] = ([], [], [], [])  # path, defs, sigs, refs
    c_rows: tuple[list, ...] = ([], [], [])  # name, sig, path
    c_file: list[int] = []
    for k, (rel, i) in enumerate(zip(rels, rows_of)):
        pt = voc.term_ids(path_tokens(rel))
        f_rows[0].append(pt)
        f_rows[1].append([t for j in Dt.indices[Dt.indptr[i]:Dt.indptr[i + 1]] for t in nterms(int(j))])
        f_rows[3].append([t for j in R.indices[R.indptr[i]:R.indptr[i + 1]] for t in nterms(int(j))])
        sig_all: list[int] = []
        for d in (defs.get(rel, ()) if defs is not None else ()):
            nt = voc.term_ids(split_identifier(d.name))
            st = voc.term_ids(_sig_words(d.signature, d.name)) if d.signature else []
            pt_parent = voc.term_ids(split_identifier(d.parent)) if d.parent else []
            sig_all.extend(st)
            c_rows[0].append(nt)
            c_rows[1].append(st + pt_parent)
            c_rows[2].append(pt)
            c_file.append(first + k)
        f_rows[2].append(sig_all)
    return f_rows, c_rows, c_file


def _renumber(m: sp.csr_matrix, new_id: np.ndarray, nterms: int) -> sp.csr_matrix:
    out = sp.csr_matrix((m.data, new_id[m.indices], m.indptr), shape=(m.shape[0], nterms))
    out.sort_indices()
    return out


def _sorted_vocab(stems: list[str], mats: list[sp.csr_matrix]) -> tuple[tuple[str, ...], list[sp.csr_matrix]]:
    """``stems`` in sorted order and the matrices' term ids renumbered to match."""
    order = sorted(range(len(stems)), key=stems.__getitem__)
    new_id = np.empty(len(stems), dtype=np.int64)
    new_id[order] = np.arange(len(stems))
    nt = max(len(stems), 1)
    return tuple(stems[i] for i in order), [_renumber(m, new_id, nt) for m in mats]


@dataclass
class LexicalIndex:
    """The two lexical indexes of one graph (see module docstring)."""

    vocab: dict[str, int]  # stem → term id
    files: sp.csc_matrix  # files × terms, saturated BM25F weights
    chunks: sp.csc_matrix  # chunks × terms, saturated BM25 weights
    chunk_file: np.ndarray  # file index of each chunk (sorted by file)
    n_files: int
    idf: np.ndarray | None = None  # per term, of the file index (what a perfect match earns)
    _files_csr: sp.csr_matrix | None = field(default=None, repr=False)
    #: what the weights were computed from (None: not kept, e.g. read from an old cache)
    counts: LexicalCounts | None = field(default=None, repr=False)
    #: (size, mtime) per file when built, for an incremental update by a later process
    stamps: np.ndarray | None = field(default=None, repr=False)

    # -- building ---------------------------------------------------------------------
    @classmethod
    def build(cls, files: Sequence[str], names: Sequence[str], D: sp.csr_matrix, R: sp.csr_matrix,
              defs: Mapping[str, Sequence[Tag]] | None) -> "LexicalIndex":
        """``D``: names × files (defines), ``R``: files × names (references, any kind);
        ``defs``: each file's definitions (for signatures and chunks), may be None."""
        voc = _Vocab()
        files = tuple(files)
        f_rows, c_rows, c_file = _file_rows(voc, files, 0, names, D.T.tocsr(), R.tocsr(), defs, range(len(files)))
        nt = len(voc.ids)
        mats = [_rows_to_csr(r, nt) for r in (*f_rows, *c_rows)]
        stems, mats = _sorted_vocab(list(voc.ids), mats)
        counts = LexicalCounts(stems, files, tuple(mats[:4]), tuple(mats[4:]), np.asarray(c_file, dtype=np.int64))
        return cls.from_counts(counts)

    @classmethod
    def from_counts(cls, counts: LexicalCounts) -> "LexicalIndex":
        """The weighted index of some term counts (array work only)."""
        nt = len(counts.stems)
        fmat, idf = _bm25_matrix(list(counts.fields), FILE_FIELDS, max(nt, 1))
        if counts.chunk_file.size:
            cmat, _ = _bm25_matrix(list(counts.cfields), CHUNK_FIELDS, max(nt, 1))
        else:
            cmat = sp.csc_matrix((0, max(nt, 1)))
        vocab = dict(zip(counts.stems, range(nt)))
        return cls(vocab, fmat, cmat, counts.chunk_file, len(counts.files), idf, counts=counts)

    @classmethod
    def patch(cls, old: "LexicalIndex", files: Sequence[str], names: Sequence[str], D: sp.csr_matrix,
              R: sp.csr_matrix, defs: Mapping[str, Sequence[Tag]] | None, changed: set[str]) -> "LexicalIndex":
        """``old`` brought to ``files``: the rows of files gone or ``changed`` dropped, the
        changed and new files' rows tokenized, the rest kept; then weighted again. Equal
        to :meth:`build` on the same arguments when every file whose definitions or
        references differ from ``old``'s is in ``changed`` (or new)."""
        c = old.counts
        if c is None:
            return cls.build(files, names, D, R, defs)
        files = tuple(files)
        new_index = {f: i for i, f in enumerate(files)}
        old_to_new = np.fromiter((-1 if f in changed else new_index.get(f, -1) for f in c.files),
                                 dtype=np.int64, count=len(c.files))
        kept_old = np.flatnonzero(old_to_new >= 0)
        have = np.zeros(len(files), dtype=bool)
        have[old_to_new[kept_old]] = True
        fresh_pos = np.flatnonzero(~have)
        voc = _Vocab()
        voc.ids = dict(zip(c.stems, range(len(c.stems))))
        f_rows, c_rows, c_file = _file_rows(voc, [files[i] for i in fresh_pos], 0, names, D.T.tocsr(), R.tocsr(),
                                            defs, fresh_pos.tolist())
        nt = max(len(voc.ids), 1)
        # files: kept rows, then fresh ones, put in file order
        perm = np.empty(len(files), dtype=np.int64)
        perm[old_to_new[kept_old]] = np.arange(kept_old.size)
        perm[fresh_pos] = kept_old.size + np.arange(fresh_pos.size)
        fields = []
        for m, rows in zip(c.fields, f_rows):
            kept = m[kept_old]
            kept.resize((kept.shape[0], nt))
            fields.append(sp.vstack([kept, _rows_to_csr(rows, nt)], format="csr")[perm])
        # chunks: those of kept files (renumbered), then fresh ones, grouped by file
        keep_c = old_to_new[c.chunk_file] >= 0 if c.chunk_file.size else np.zeros(0, dtype=bool)
        chunk_file = np.concatenate([old_to_new[c.chunk_file[keep_c]], fresh_pos[np.asarray(c_file, dtype=np.int64)]
                                     if c_file else np.zeros(0, dtype=np.int64)])
        corder = np.argsort(chunk_file, kind="stable")
        cfields = []
        for m, rows in zip(c.cfields, c_rows):
            kept = m[np.flatnonzero(keep_c)]
            kept.resize((kept.shape[0], nt))
            cfields.append(sp.vstack([kept, _rows_to_csr(rows, nt)], format="csr")[corder])
        stems = list(voc.ids)
        if len(stems) > len(c.stems):  # new stems: sorted order again
            stems, mats = _sorted_vocab(stems, fields + cfields)
            fields, cfields = mats[:4], mats[4:]
        counts = LexicalCounts(tuple(stems), files, tuple(fields), tuple(cfields), chunk_file[corder])
        return cls.from_counts(counts)

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
        if self._files_csr is None:
            self._files_csr = self.files.tocsr()
        sub = self._files_csr[idx]
        row = np.asarray(sub.max(axis=0).todense()).ravel()
        ids = np.flatnonzero(row)
        w = row[ids]
        return ids, w / w.max() if w.size else w

    def ideal(self, ids: np.ndarray, weights: np.ndarray) -> float:
        """What a file matching every query term perfectly would score (Σ weight · idf):
        the yardstick that tells a strong match from the best of weak ones."""
        if ids.size == 0 or self.idf is None or not self.idf.size:
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
        fs = np.asarray(self.files[:, ids] @ weights).ravel()
        mx = fs.max() if fs.size else 0.0
        ideal = self.ideal(ids, weights)
        quality = min(1.0, mx / ideal) if ideal > 0 else 0.0
        if mx > 0:
            out += (1.0 - CHUNK_SHARE) * fs / mx
        cs = None
        if self.chunks.shape[0]:
            cs = np.asarray(self.chunks[:, ids] @ weights).ravel()
            if cs.any():
                agg = _file_aggregate(cs, self.chunk_file, self.n_files)
                m2 = agg.max()
                if m2 > 0:
                    out += CHUNK_SHARE * agg / m2
        return out, cs, quality


def _sig_words(sig: str, name: str) -> list[str]:
    """Sub-words of a signature other than the definition's own name."""
    own = set(split_identifier(name))
    out: list[str] = []
    for tok in _IDENT_RE.findall(sig):
        for t in split_identifier(tok):
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
