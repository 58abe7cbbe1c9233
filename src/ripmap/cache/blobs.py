"""The blob store: what a map keeps besides tags, each kind with its key and its codec.

A warm map should not rebuild what only depends on the indexed code or on HEAD, so
these values are kept as blobs in the cache (any :class:`~ripmap.cache.protocol.Cache`:
with the null cache every load misses and every save is dropped):

========================  ==============================  =====================================
kind                      key                             rebuilt when
========================  ==============================  =====================================
reference graph           ``graph:<index fingerprint>``   any mapped file changes (patched from
                                                          the newest one: changed files only)
git signals               ``git:<HEAD>:<until>``          HEAD (or ``until``) moves
lexical index             ``lexical3:<fingerprint>``      any mapped file changes (patched from
                                                          the newest one: changed files only)
weighted file graph       ``wgraph:<fingerprint>:<point>``  any mapped file changes, or another
                                                          point of the graph parameters
PageRank of one query     ``pagerank:<fingerprint>:<key>``  any mapped file changes, another graph
                                                          point, α or question
printed map               ``map:<digest>``                anything it is drawn from changes (see
                                                          :meth:`ripmap.api.RepoMap.map_key`)
========================  ==============================  =====================================

The graph carries its rows, its referrer counts and each file's (size, mtime), so the
next index's graph is the newest one with the changed files' rows replaced and their
edges recounted (:func:`ripmap.graph.patch_graph`). The weighted file graph is stored as
its factors (:class:`ripmap.rank.edges.FileGraph`; multiplied out it was 41M entries on a
70,000-file tree), and only for graphs of at least :data:`FILE_GRAPH_MIN_REFS` references:
assembling it costs 1.3 s there and reading it a tenth of that, while on a small graph
assembling is as quick as a read. For such graphs a query's PageRank vector is kept too,
keyed by everything it is computed from (the index, graph point, α and a digest of the
question, which with the index decides the personalization): the same question on an
unchanged tree reads 0.5 MB instead of a solve over the factors, and after a change the
solve starts from the vector the tree before got for it.
(The tokenizer's vocabulary is a file of its own: :mod:`ripmap.cache.vocab`.)

Every codec is numpy arrays without pickles (``.npy`` records one after another, see
:mod:`ripmap.cache.arrays`, whose reads let the GIL go once per array; the small git
signals are a compressed ``.npz``), so loading a tampered cache cannot run code, and each
carries a version: a blob that does not decode, or was written for other
files, is a miss and is rebuilt, never trusted.
"""
from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import BinaryIO, Callable, Sequence

import numpy as np
from ..lazy import sparse as sp

from ..gitinfo import GitSignals
from ..graph import GRAPH_VERSION, DefRows, GraphData, GraphRows
from ..rank.edges import FileGraph
from ..rank.lexical import CHUNK_FIELDS, FILE_FIELDS, INDEX_VERSION, LexicalCounts, LexicalIndex
from .arrays import load_arrays, save_arrays
from .protocol import DEFAULT_BLOBS_PER_PREFIX, Cache

#: the key prefixes (the store keeps the newest two blobs of each)
GRAPH, GIT, LEXICAL, FILE_GRAPH, PAGERANK, MAP = "graph", "git", "lexical3", "wgraph", "pagerank", "map"
#: every kind this version keeps (others are dropped: see :meth:`BlobStore.save_graph`)
KINDS = (GRAPH, GIT, LEXICAL, FILE_GRAPH, PAGERANK, MAP)
#: kinds whose newest blob supersedes the ones before it (per graph-parameter point for
#: the weighted graph): what a later process reads is the newest, to patch from
SUPERSEDED = (GRAPH, LEXICAL, FILE_GRAPH)


def blob_slot(key: str) -> str | None:
    """For a blob of a :data:`SUPERSEDED` kind, what a newer blob replaces it in: the kind,
    and the rest of the key after the index fingerprint; None for any other blob."""
    kind, _, rest = key.partition(":")
    if kind not in SUPERSEDED:
        return None
    return f"{kind}:{rest.partition(':')[2]}"
#: version of the printed-map blob
MAP_FORMAT = 1
#: version of the weighted file graph blob: bumped whenever :mod:`ripmap.rank.edges` weighs
#: an edge differently, so factors assembled by older code are never read
FILE_GRAPH_VERSION = 1
#: reference entries (of the graph's three kinds) from which the weighted file graph is
#: stored: below, assembling it is about as quick as reading it back
FILE_GRAPH_MIN_REFS = 300_000
#: PageRank vectors kept (8 bytes a file each): an edit's map starts from the one of the
#: same question, which a few other questions asked since must not have pushed out
PAGERANK_KEEP = 6
#: version of the git-signals blob layout
GIT_FORMAT = 2


@dataclass(frozen=True)
class StoredGraph:
    """A reference graph as kept in the cache."""

    graph: GraphData
    #: (size, mtime_ns) per file of the graph when it was built: what tells the files an
    #: incremental update must read again (None: unknown, every file counts as changed)
    stamps: np.ndarray | None = None


class BlobStore:
    """The typed blobs of one cache; the index-keyed kinds for one index ``fingerprint``.

    Loads return ``None`` for anything missing, stale or undecodable; saves never
    raise (the cache drops what it cannot keep).
    """

    def __init__(self, cache: Cache, fingerprint: str = "", *,
                 later: Callable[[Callable[[], None], str], None] | None = None) -> None:
        """``later(write, key)``: where writes go instead of happening now (a long-lived
        caller's background writer: the next process reads them, this one holds the values)."""
        self.cache = cache
        self.fingerprint = fingerprint
        self.later = later
        #: the newest lexical index as a read started earlier will give it (see
        #: :meth:`read_lexical_ahead`); taken by the first load that can use it
        self._lexical_ahead: Callable[[], tuple[str, LexicalIndex] | None] | None = None

    def read_lexical_ahead(self, result: Callable[[], tuple[str, LexicalIndex] | None]) -> None:
        """``result()`` (waits, then gives :meth:`load_newest_lexical`'s answer) is where
        the next lexical load looks first: this index's own, or where a patch starts."""
        self._lexical_ahead = result

    def forget_read_ahead(self) -> None:
        """Drop what was read ahead and not used (a big index is not kept for nothing)."""
        self._lexical_ahead = None

    def _take_lexical_ahead(self) -> tuple[str, LexicalIndex] | None:
        take, self._lexical_ahead = self._lexical_ahead, None
        return take() if take is not None else None

    def _put(self, key: str, value, keep: int = DEFAULT_BLOBS_PER_PREFIX) -> None:
        if self.later is not None:
            self.later(lambda: self.cache.put_blob(key, value, keep=keep), key)
        else:
            self.cache.put_blob(key, value, keep=keep)

    # -- the reference graph ----------------------------------------------------------
    def load_graph(self, files: Sequence[str]) -> StoredGraph | None:
        """The stored graph of this index, if it describes exactly ``files``."""
        stored = self._load(f"{GRAPH}:{self.fingerprint}", decode_graph)
        if stored is None:  # nothing stored, or stale or corrupt: rebuild, never trust it
            return None
        if stored.graph.files != tuple(files):
            return None
        return stored

    def save_graph(self, stored: StoredGraph) -> None:
        # written straight into the cache's file: no copy of 100+ MB in memory first
        self._put(f"{GRAPH}:{self.fingerprint}", lambda fh: write_graph(stored, fh))
        # a new graph is rare and costly already: the moment to let go of kinds of blob
        # this version does not keep
        self.cache.drop_blobs_except(KINDS)

    def load_newest_graph(self) -> tuple[str, StoredGraph] | None:
        """The graph stored last, whatever index it was built for, with that index's
        fingerprint: this index's own graph on a warm run, where an incremental update
        starts after an edit; None when nothing usable is stored. Needs no fingerprint,
        so it can be read while the index is still being built."""
        return self._newest_keyed(GRAPH, decode_graph)

    def load_previous_graph(self) -> StoredGraph | None:
        """The graph stored last, whatever index it was built for: where an incremental
        update starts when this index has none yet (None when nothing usable is stored)."""
        return self._newest(GRAPH, decode_graph)

    # -- the lexical index ------------------------------------------------------------
    def load_lexical(self, n_files: int) -> LexicalIndex | None:
        """The stored lexical index of this index, if it covers ``n_files`` files."""
        ahead = self._take_lexical_ahead()
        if ahead is not None:
            if ahead[0] == self.fingerprint and ahead[1].n_files == n_files:
                return ahead[1]
            self._lexical_ahead = lambda: ahead  # another index's: where a patch starts
        lx = self._load(f"{LEXICAL}:{self.fingerprint}", decode_lexical)
        return lx if lx is not None and lx.n_files == n_files else None

    def load_newest_lexical(self) -> tuple[str, LexicalIndex] | None:
        """The lexical index stored last, whatever index it was built for, with that
        index's fingerprint (needs none: it can be read while the index is built)."""
        return self._newest_keyed(LEXICAL, decode_lexical)

    def save_lexical(self, lx: LexicalIndex) -> None:
        if not _storable(lx):
            return  # built again next time
        self._put(f"{LEXICAL}:{self.fingerprint}", lambda fh: write_lexical(lx, fh))

    def has_lexical(self) -> bool:
        """Whether any lexical index is stored (this tree's or an earlier one's, to patch)."""
        got = self.cache.open_newest_blob(LEXICAL)
        if got is None:
            return False
        got[1].close()
        return True

    def load_previous_lexical(self) -> LexicalIndex | None:
        """The lexical index stored last, whatever index it was built for (where an
        incremental update starts), or None."""
        ahead = self._take_lexical_ahead()
        if ahead is not None:
            return ahead[1]
        return self._newest(LEXICAL, decode_lexical)

    def _newest(self, prefix: str, decode):
        """The newest blob under ``prefix`` decoded, or None (nothing stored, or stale or
        corrupt: the caller builds from scratch)."""
        got = self._newest_keyed(prefix, decode)
        return None if got is None else got[1]

    def _newest_keyed(self, prefix: str, decode):
        """``(fingerprint, value)`` of the newest blob under ``prefix`` (the key's text
        after ``prefix:``), or None as :meth:`_newest`."""
        got = self.cache.open_newest_blob(prefix)
        if got is None:
            return None
        key, fh = got
        with fh:
            try:
                return key.split(":", 1)[1], decode(fh)
            except Exception:
                return None

    def _load(self, key: str, decode):
        """The blob under ``key`` decoded as it is read, or None (missing, stale, corrupt)."""
        fh = self.cache.open_blob(key)
        if fh is None:
            return None
        with fh:
            try:
                return decode(fh)
            except Exception:
                return None

    # -- the weighted file graph (per point of the graph parameters) -------------------
    def load_file_graph(self, graph: GraphData, key: Sequence[float]) -> FileGraph | None:
        """The stored factors of ``graph``'s weighted file graph at graph-parameter point
        ``key``, or None (not stored, too small to be, stale or corrupt)."""
        if not _worth_storing(graph):
            return None
        got = self._load(_derived_key(FILE_GRAPH, self.fingerprint, _point(key)), decode_file_graph)
        if got is None or got.Wi.shape != (graph.n_files, graph.n_files) or got.Dw.shape[1] != graph.n_files:
            return None
        return got

    def save_file_graph(self, graph: GraphData, key: Sequence[float], W: FileGraph) -> None:
        if _worth_storing(graph):
            self._put(_derived_key(FILE_GRAPH, self.fingerprint, _point(key)), lambda fh: write_file_graph(W, fh))

    # -- one query's PageRank (a large graph's) ------------------------------------------
    def load_pagerank(self, graph: GraphData, key: str, *, n_files: int | None = None) -> np.ndarray | None:
        """The PageRank stored under ``key`` (what it was computed from, see
        :func:`ripmap.rank.score.pagerank_key`) for this index, or None. ``n_files``: this
        index's file count when ``graph`` is another index's (a later tree's, which asks
        for this one's vector to start from)."""
        if not _worth_storing(graph):
            return None

        v = _fits(self._load(_derived_key(PAGERANK, self.fingerprint, key), _decode_pagerank),
                  graph.n_files if n_files is None else n_files)
        if v is not None:
            v.setflags(write=False)
        return v

    def load_earlier_pagerank(self, graph: GraphData, key: str) -> np.ndarray | None:
        """The PageRank stored last, if it answered the same question (``key``) for an
        index of as many files, whatever index that was: where the solve starts after a
        change when the index before it is not known. Only a starting point, so an older
        index's vector is fine."""
        if not _worth_storing(graph):
            return None
        got = self.cache.open_newest_blob(PAGERANK, f":{GRAPH_VERSION}.{FILE_GRAPH_VERSION}:{key}")
        if got is None:
            return None
        with got[1] as fh:
            try:
                return _fits(_decode_pagerank(fh), graph.n_files)
            except Exception:
                return None

    def save_pagerank(self, graph: GraphData, key: str, r: np.ndarray) -> None:
        if _worth_storing(graph):
            buf = io.BytesIO()
            save_arrays(buf, version=np.array(FILE_GRAPH_VERSION), r=np.asarray(r, dtype=np.float64))
            self._put(_derived_key(PAGERANK, self.fingerprint, key), buf.getvalue(), keep=PAGERANK_KEEP)

    # -- a printed map (keyed by a digest of everything it is drawn from) ---------------
    def load_map(self, key: str) -> dict | None:
        """What was kept under ``key`` with :meth:`save_map` (a JSON object: the map's
        fields, what it was drawn from), or None (not kept, of another version, or corrupt)."""
        blob = self.cache.get_blob(f"{MAP}:{key}")
        if blob is None:
            return None
        try:
            got = json.loads(blob.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None
        if not isinstance(got, dict) or got.get("version") != MAP_FORMAT or not isinstance(got.get("kept"), dict):
            return None
        return got["kept"]

    def save_map(self, key: str, fields: dict, *, keep: int) -> None:
        self._put(f"{MAP}:{key}", json.dumps({"version": MAP_FORMAT, "kept": fields}, ensure_ascii=False)
                  .encode("utf-8"), keep=keep)

    # -- git signals (keyed by HEAD, not by the index) --------------------------------
    def load_git(self, head: str, until: str | None) -> GitSignals | None:
        blob = self.cache.get_blob(_git_key(head, until))
        if blob is None:
            return None
        try:
            return decode_git(blob)
        except Exception:
            return None

    def save_git(self, head: str, until: str | None, sig: GitSignals) -> None:
        self._put(_git_key(head, until), encode_git(sig))


def _git_key(head: str, until: str | None) -> str:
    return f"{GIT}:{head}:{until or ''}"


def _decode_pagerank(fh) -> np.ndarray:
    with load_arrays(fh) as z:
        if int(z["version"]) != FILE_GRAPH_VERSION:
            raise ValueError("PageRank blob of another version")
        return z["r"]


def _fits(v: np.ndarray | None, n_files: int) -> np.ndarray | None:
    """A decoded PageRank vector if it is finite floats, one per file of a graph of
    ``n_files`` files."""
    if v is None or v.shape != (n_files,) or v.dtype != np.float64 or not np.isfinite(v).all():
        return None
    return v


def _derived_key(kind: str, fingerprint: str, rest: str) -> str:
    """The key of a value derived from an index's graph: both versions are in it, so a
    graph built (or weighed) by other code never finds values derived from another's."""
    return f"{kind}:{fingerprint}:{GRAPH_VERSION}.{FILE_GRAPH_VERSION}:{rest}"


def _point(key: Sequence[float]) -> str:
    # repr of each float: the exact value, so two points never share a blob
    return ",".join(map(repr, key))


def _worth_storing(graph: GraphData) -> bool:
    return sum(m.nnz for m in graph.R) >= FILE_GRAPH_MIN_REFS


# -- codecs ---------------------------------------------------------------------------

def encode_graph(stored: StoredGraph) -> bytes:
    """The graph's matrices, rows, referrer counts and stamps as bytes (see :mod:`.arrays`)."""
    buf = io.BytesIO()
    write_graph(stored, buf)
    return buf.getvalue()


def write_graph(stored: StoredGraph, buf: BinaryIO) -> None:
    """:func:`encode_graph` written straight into a binary file."""
    g = stored.graph
    arrays: dict[str, np.ndarray] = {}
    for i, m in enumerate(g.R):
        arrays.update(_csr_arrays(f"R{i}", m))
    arrays.update(_csr_arrays("D", g.D))
    arrays.update(_csr_arrays("I", g.I))
    arrays["families"] = np.array(g.families, dtype=str)
    arrays["file_family"] = g.file_family
    arrays["name_family"] = g.name_family
    if g.referrers is not None:
        arrays["referrers"] = np.asarray(g.referrers, dtype=np.float64)
    if g.imported is not None:
        arrays["imported"] = np.asarray(g.imported, dtype=np.float32)  # small counts: exact
    rows = g.rows
    if rows is not None and not any("\0" in x for x in rows.strs):
        if g.name_str is not None:
            arrays["name_str"] = g.name_str
        if g.name_first is not None:
            arrays["name_first"] = g.name_first
        arrays.update(rows_file=rows.file, rows_str=rows.str_id, rows_kind=rows.kind,
                      rows_strs=_text(rows.strs, "\0"), rows_nstrs=np.array(len(rows.strs)),
                      **_floats("rows_count", rows.count))
        d = rows.defs
        if d is not None and g.def_names is not None and not any("\0" in k for k in d.kinds):
            arrays.update(defs_file=d.file, defs_str=d.str_id, defs_kind=d.kind, defs_local=d.local,
                          defs_line=d.line, defs_end=d.end, defs_kinds=_text(d.kinds, "\0"),
                          defs_nkinds=np.array(len(d.kinds)), def_names=g.def_names)
    if stored.stamps is not None:
        arrays["stamps"] = np.asarray(stored.stamps, dtype=np.int64)
    save_arrays(buf, version=np.array(GRAPH_VERSION), **arrays,
                files=_text(g.files, "\n"), names=_text(g.names, "\n"))


def decode_graph(b: bytes | BinaryIO) -> StoredGraph:
    """Inverse of :func:`encode_graph` (bytes, or a binary file read as it goes);
    ``ValueError`` for another graph version."""
    with load_arrays(b) as z:
        if str(z["version"]) != GRAPH_VERSION:
            raise ValueError("graph cache version mismatch")
        files = _text_from(z["files"], "\n")
        names = _text_from(z["names"], "\n")
        R = tuple(_csr_from(z, f"R{i}") for i in range(3))
        D = _csr_from(z, "D")
        I = _csr_from(z, "I")
        families = tuple(str(x) for x in z["families"])
        file_family = z["file_family"].astype(np.int32)
        name_family = z["name_family"].astype(np.int32)
        referrers = z["referrers"].astype(np.float64) if "referrers" in z.files else None
        imported = z["imported"].astype(np.float64) if "imported" in z.files else None
        if referrers is not None and referrers.shape != (len(files),):
            raise ValueError("referrer counts do not match the files")
        rows = None
        def_names = name_str = name_first = None
        if "rows_file" in z.files:
            n = int(z["rows_nstrs"])
            strs = _text_from(z["rows_strs"], "\0") if n else ()
            if len(strs) != n:
                raise ValueError("graph rows do not match their strings")
            defs, def_names = _def_rows(z, len(strs), len(files), len(names))
            rows_file = z["rows_file"]
            rows = GraphRows(strs, rows_file, z["rows_str"], z["rows_kind"],
                             _floats_from(z, "rows_count", rows_file.size), defs)
            if "name_str" in z.files:
                name_str = z["name_str"].astype(np.int32)
                if name_str.shape != (len(names),) or (name_str.size and not 0 <= name_str.min() <= name_str.max() < n):
                    raise ValueError("graph names do not match their strings")
            if "name_first" in z.files:
                name_first = z["name_first"].astype(np.int32)
                if name_first.shape != (len(names),) or (
                        name_first.size and not 0 <= name_first.min() <= name_first.max() < len(files)):
                    raise ValueError("graph names' first files are outside the graph")
        stamps = z["stamps"] if "stamps" in z.files else None
    g = GraphData.from_arrays(files, names, R, D, I, families, file_family, name_family, rows=rows,
                              referrers=referrers, imported=imported, def_names=def_names, name_str=name_str,
                              name_first=name_first)
    if stamps is not None and stamps.shape != (len(files), 2):
        stamps = None
    return StoredGraph(g, stamps)



def _def_rows(z, n_strs: int, n_files: int, n_names: int) -> tuple[DefRows | None, np.ndarray | None]:
    """The stored definition rows and their name ids, or (None, None) when the blob has
    none; ``ValueError`` when they do not fit the graph they came with."""
    if "defs_file" not in z.files:
        return None, None
    n = int(z["defs_nkinds"])
    kinds = _text_from(z["defs_kinds"], "\0") if n else ()
    d = DefRows(z["defs_file"], z["defs_str"], z["defs_kind"], z["defs_local"], z["defs_line"], z["defs_end"], kinds)
    names = z["def_names"]
    sizes = {a.shape for a in (d.file, d.str_id, d.kind, d.local, d.line, d.end, names)}
    if len(kinds) != n or len(sizes) != 1 or len(next(iter(sizes))) != 1:
        raise ValueError("definition rows do not match each other")
    if d.size and (int(d.file.max()) >= n_files or int(d.str_id.max()) >= n_strs or int(d.kind.max()) >= n
                   or int(d.file.min()) < 0 or int(d.str_id.min()) < 0 or int(d.kind.min()) < 0
                   or int(names.max()) >= n_names or int(names.min()) < -1 or bool((np.diff(d.file) < 0).any())):
        raise ValueError("definition rows point outside their graph")
    return d, names


def write_file_graph(W: FileGraph, buf: BinaryIO) -> None:
    """A weighted file graph's factors, row sums and referrer counts (see :mod:`.arrays`)."""
    arrays: dict[str, np.ndarray] = {}
    for name in ("Rw", "Dw", "Wi"):
        arrays.update(_csr_arrays(name, getattr(W, name)))
    save_arrays(buf, version=np.array(FILE_GRAPH_VERSION), out=np.asarray(W.out, dtype=np.float64),
                referrers=np.asarray(W.referrers), **arrays)


def decode_file_graph(b: bytes | BinaryIO) -> FileGraph:
    """Inverse of :func:`write_file_graph`; ``ValueError`` for another version or
    factors that do not fit together."""
    with load_arrays(b) as z:
        if int(z["version"]) != FILE_GRAPH_VERSION:
            raise ValueError("weighted file graph blob of another version")
        Rw, Dw, Wi = (_csr_from(z, name) for name in ("Rw", "Dw", "Wi"))
        out, referrers = z["out"], z["referrers"]
    n = Wi.shape[0]
    if Wi.shape != (n, n) or Rw.shape != (n, Dw.shape[0]) or Dw.shape[1] != n or out.shape != (n,) \
            or referrers.shape != (n,):
        raise ValueError("weighted file graph factors do not fit together")
    for m in (Rw, Dw, Wi):
        m.check_format(full_check=True)  # indices in range: a damaged blob must not index outside
    return FileGraph(Rw, Dw, Wi, out, referrers)


def encode_git(sig: GitSignals) -> bytes:
    """Git signals as compressed ``.npz``. Strings go through JSON, which round-trips
    the surrogate-escaped characters of non-UTF-8 file names."""
    m = sig.commit_files
    meta = {"format": GIT_FORMAT, "files": list(sig.files), "head": sig.head,
            "notes": list(sig.notes), "now": sig.now}
    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        meta=np.frombuffer(json.dumps(meta, ensure_ascii=True).encode("ascii"), dtype=np.uint8),
        age_days=sig.age_days,
        churn=sig.churn,
        indptr=m.indptr.astype(np.int64),
        indices=m.indices.astype(np.int64),
        shape=np.asarray(m.shape, dtype=np.int64),
        commit_age=sig.commit_age,
        commit_size=sig.commit_size,
    )
    return buf.getvalue()


def decode_git(blob: bytes) -> GitSignals:
    """Inverse of :func:`encode_git`; ``ValueError`` for anything else (stale/corrupt cache)."""
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode("ascii"))
            if meta.get("format") != GIT_FORMAT:
                raise ValueError(f"unsupported format {meta.get('format')!r}")
            indptr, indices = z["indptr"], z["indices"]
            shape = tuple(int(x) for x in z["shape"])
            m = sp.csr_matrix((np.ones(indices.size, np.float32), indices, indptr), shape=shape)
            return GitSignals(files=tuple(meta["files"]), age_days=z["age_days"], churn=z["churn"],
                              commit_files=m, head=meta["head"], notes=tuple(meta["notes"]),
                              now=meta["now"], commit_age=z["commit_age"], commit_size=z["commit_size"])
    except Exception as exc:  # zipfile, json, key and shape errors alike
        raise ValueError(f"not a ripmap git-signals blob: {exc}") from exc


def encode_lexical(lx: LexicalIndex) -> bytes:
    """The lexical index (its term counts, document frequencies and file stamps) as
    bytes (see :mod:`.arrays`)."""
    buf = io.BytesIO()
    write_lexical(lx, buf)
    return buf.getvalue()


def write_lexical(lx: LexicalIndex, buf: BinaryIO) -> None:
    """:func:`encode_lexical` written straight into a binary file. The index is its term
    counts: the weights are taken where a query looks (see :class:`LexicalIndex`), so an
    edit rewrites counts, never a weight matrix."""
    cnt = lx.counts
    if not _storable(lx):
        raise ValueError("a stem or path holds NUL: not storable")
    arrays: dict[str, np.ndarray] = {}
    for i, m in enumerate((*cnt.fields, *cnt.cfields)):
        arrays.update(_csr_arrays(f"n{i}", m))
    if lx.stamps is not None:
        arrays["stamps"] = np.asarray(lx.stamps, dtype=np.int64)
    save_arrays(buf, version=np.array(INDEX_VERSION), n_stems=np.array("\0".join(cnt.stems)),
                n_nstems=np.array(len(cnt.stems)), n_paths=np.array("\0".join(cnt.files)),
                n_npaths=np.array(len(cnt.files)), n_chunk_file=cnt.chunk_file,
                file_df=lx.file_df, chunk_df=lx.chunk_df, **arrays)


def _storable(lx: LexicalIndex) -> bool:
    """Whether the index's strings can be stored (they are joined with NUL)."""
    return not any("\0" in x for x in (*lx.counts.stems, *lx.counts.files))


def decode_lexical(b: bytes | BinaryIO) -> LexicalIndex:
    """Inverse of :func:`encode_lexical` (bytes or a binary file); ``ValueError`` for an
    index built otherwise."""
    with load_arrays(b) as z:
        if str(z["version"]) != INDEX_VERSION:
            raise ValueError("lexical index version mismatch")
        ns, nf = int(z["n_nstems"]), int(z["n_npaths"])
        cstems = tuple(str(z["n_stems"]).split("\0")) if ns else ()
        cfiles = tuple(str(z["n_paths"]).split("\0")) if nf else ()
        if len(cstems) != ns or len(cfiles) != nf:
            raise ValueError("lexical counts do not match their strings")
        mats = [_csr_from(z, f"n{i}") for i in range(len(FILE_FIELDS) + len(CHUNK_FIELDS))]
        counts = LexicalCounts(cstems, cfiles, tuple(mats[:len(FILE_FIELDS)]), tuple(mats[len(FILE_FIELDS):]),
                               z["n_chunk_file"])
        nt = max(ns, 1)
        if any(m.shape[1] != nt for m in mats) or z["file_df"].shape != (nt,) or z["chunk_df"].shape != (nt,):
            raise ValueError("lexical counts do not match their vocabulary")
        stamps = z["stamps"] if "stamps" in z.files else None
        lx = LexicalIndex(counts, file_df=z["file_df"].astype(np.int64), chunk_df=z["chunk_df"].astype(np.int64),
                          stamps=stamps)
    if stamps is not None and stamps.shape != (nf, 2):
        lx.stamps = None
    return lx


def _csr_arrays(prefix: str, m: sp.csr_matrix) -> dict[str, np.ndarray]:
    """A CSR matrix's arrays; its values left out when every one is 1 (incidence
    matrices) and kept as float32 when that is exact (counts): a warm map reads the
    graph blob whole, so its size is read time."""
    m = m.tocsr()
    out = {f"{prefix}_indices": m.indices, f"{prefix}_indptr": m.indptr, f"{prefix}_shape": np.array(m.shape)}
    out.update(_floats(f"{prefix}_data", m.data))
    return out


def _csr_from(z, prefix: str) -> sp.csr_matrix:
    shape = tuple(int(x) for x in z[f"{prefix}_shape"])
    indices = z[f"{prefix}_indices"]
    return sp.csr_matrix((_floats_from(z, f"{prefix}_data", indices.size), indices, z[f"{prefix}_indptr"]),
                         shape=shape)


def _floats(name: str, a: np.ndarray) -> dict[str, np.ndarray]:
    """``a`` stored compactly (see :func:`_floats_from`): float64 values that are all 1,
    or that float32 holds exactly, are stored as a flag or as float32."""
    if a.dtype == np.float64 and a.size:
        if bool((a == 1.0).all()):
            return {f"{name}_ones": np.array(True)}
        small = a.astype(np.float32)
        if np.array_equal(small, a):
            return {f"{name}_f32": small}
    return {name: a}


def _floats_from(z, name: str, n: int) -> np.ndarray:
    """Inverse of :func:`_floats` (``n``: the length, for the all-ones form)."""
    if f"{name}_ones" in z.files:
        return np.ones(n)
    if f"{name}_f32" in z.files:
        return z[f"{name}_f32"].astype(np.float64)
    return z[name]


def _text(strs: Sequence[str], sep: str) -> np.ndarray:
    """Strings joined by ``sep`` as UTF-8 bytes (a quarter of numpy's UTF-32 text; file
    names that are not UTF-8 keep their escaped bytes)."""
    return np.frombuffer(sep.join(strs).encode("utf-8", "surrogatepass"), dtype=np.uint8)


def _text_from(a: np.ndarray, sep: str) -> tuple[str, ...]:
    text = a.tobytes().decode("utf-8", "surrogatepass")
    return tuple(text.split(sep)) if text else ()
