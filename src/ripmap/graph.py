"""Tags → the reference graph, as sparse matrices.

The graph is kept *factored* so a parameter change never re-reads tags:

* ``R[k]``: files × names, how often each file references each name, one matrix per
  reference class (call / type / other);
* ``D``: names × files, which files define each name;
* ``I``: files × files, which files each file imports (where the language shows it).

A name is keyed by the *language family* of the file that defines or references it
(:mod:`ripmap.languages.families`): the same string in a Python file and a Dart file
is two names, so a reference only ever reaches definitions a file of its language
can call, and ``ndefs`` counts the definers a referrer could mean. Imports resolve
within the family too. ``names`` stays the plain strings (one per family that uses
it); :meth:`GraphData.ids_of` finds every id of a string, and
:meth:`GraphData.family_name_index` one family's ids.

How much each reference counts (kind weights, common and private names, import
resolution) is a ranking parameter: :mod:`ripmap.rank.edges` assembles the weighted
file graph from these matrices, and :mod:`ripmap.cache.blobs` stores them.
"""
from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
from .lazy import sparse as sp

from .extract.tags import Tag, graph_row
from .languages.families import family_for_path

KIND_CLASSES = ("call", "type", "other")
_TYPE_KINDS = frozenset({"class", "type", "interface", "struct", "enum", "trait", "impl"})
#: what the matrices mean (bump when building them changes; the stored graph carries it)
GRAPH_VERSION = "10"  # 3: names keyed by language family; 4: stored with its rows; 5: with referrer counts;
# 6: with every definition's row (the symbol table's columns); 7: compact codec (UTF-8 text, float32 counts);
# 8: with each name's string index (a patch numbers the old names with arrays); 9: and each name's
# first file (a patch knows which import-resolved rows it can change); 10: each definition's last line


def _kind_class(kind: str) -> int:
    if kind == "call":
        return 0
    if kind in _TYPE_KINDS:
        return 1
    return 2


def private_names(names: Sequence[str]) -> np.ndarray:
    """Per name, whether it is private by convention: one leading underscore, or two
    without two trailing ones (``__dunder__`` names are public)."""
    return np.fromiter((n[:1] == "_" and (n[1:2] != "_" or not n.endswith("__")) for n in names),
                       dtype=bool, count=len(names))


@dataclass(eq=False)
class GraphData:
    """The factored reference graph of one index (see module docstring)."""

    files: tuple[str, ...]
    names: tuple[str, ...]  # plain strings; the same string recurs once per family using it
    R: tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]  # files × names per kind class
    D: sp.csr_matrix  # names × files (1 = defines)
    I: sp.csr_matrix  # files × files (1 = imports)
    ndefs: np.ndarray  # definers per name (within its family)
    private: np.ndarray  # bool per name
    families: tuple[str, ...]  # family labels; file_family and name_family index into it
    file_family: np.ndarray  # int32 per file
    name_family: np.ndarray  # int32 per name
    #: what the matrices were assembled from, for :func:`patch_graph` (None: not kept)
    rows: "GraphRows | None" = None
    #: per file, how many other files reference a name it defines (see :meth:`referrer_counts`;
    #: None: not counted yet)
    referrers: np.ndarray | None = None
    #: per entry of :meth:`reference_pattern` (in its order), how many of the files the
    #: referrer imports define the name (see :meth:`imported_definers`; None: not counted yet)
    imported: np.ndarray | None = None
    #: per row of ``rows.defs``, the id of the name that definition defines in its file's
    #: family (-1: none); with ``rows.defs`` the symbol table's columns (None: not kept)
    def_names: np.ndarray | None = None
    #: per name, the index of its string in ``rows.strs`` (None: not kept); lets a patch
    #: number the old graph's names among the new ones with arrays
    name_str: np.ndarray | None = None
    #: per name, the file of its first row: where its id was decided (None: not kept)
    name_first: np.ndarray | None = None
    #: after an edit in place (a patch of the same files): the files whose share of
    #: import-resolved references (:func:`ripmap.rank.edges.factored_file_graph`) can
    #: differ from the graph patched, in value or in the order of its sums (None: unknown)
    reweigh: np.ndarray | None = None
    #: lookups derived from the structure alone (never anything that depends on parameters)
    _memo: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_arrays(cls, files: Sequence[str], names: Sequence[str], R: Sequence[sp.csr_matrix], D: sp.csr_matrix,
                    I: sp.csr_matrix, families: Sequence[str], file_family: np.ndarray,
                    name_family: np.ndarray, rows: "GraphRows | None" = None,
                    referrers: np.ndarray | None = None, imported: np.ndarray | None = None,
                    def_names: np.ndarray | None = None, name_str: np.ndarray | None = None,
                    private: np.ndarray | None = None, name_first: np.ndarray | None = None) -> "GraphData":
        """A graph from its matrices, with the per-name summaries (definers, privacy)
        derived from them: what building and reading a stored graph both end with.
        ``private``: the names' privacy when already known (see :func:`private_names`)."""
        ndefs = np.asarray(D.sum(axis=1)).ravel().astype(np.float64)
        if private is None:
            private = private_names(names)
        return cls(files=tuple(files), names=tuple(names), R=tuple(R), D=D, I=I, ndefs=ndefs, private=private,
                   families=tuple(families), file_family=file_family, name_family=name_family, rows=rows,
                   referrers=referrers, imported=imported, def_names=def_names, name_str=name_str,
                   name_first=name_first)

    @property
    def n_files(self) -> int:
        return len(self.files)

    @property
    def file_index(self) -> dict[str, int]:
        fi = self._memo.get("file_index")
        if fi is None:
            fi = {f: i for i, f in enumerate(self.files)}
            self._memo["file_index"] = fi
        return fi

    def reference_pattern(self) -> sp.csr_matrix:
        """files × names, 1 where a file references a name it does not define itself.

        The structure of every weighted file graph (:mod:`ripmap.rank.edges`): a file's
        own definitions resolve its references before any other file's, and every
        parameter weighs the rest by a positive factor, so file ``i`` has an edge to
        ``j`` exactly when row ``i`` of this pattern meets a name ``j`` defines.
        """
        P = self._memo.get("pattern")
        if P is None:
            P = (self.R[0] + self.R[1] + self.R[2]).tocsr()
            P.data[:] = 1.0
            P = (P - P.multiply(self.D.T.tocsr())).tocsr()
            P.eliminate_zeros()
            P.data[:] = 1.0
            P.sort_indices()  # canonical: :attr:`imported` is stored in this order
            self._memo["pattern"] = P
        return P

    def referrer_counts(self) -> np.ndarray:
        """Per file, the number of other files with an edge to it (its in-degree in the
        file graph's structure, whatever the weights).

        Counted without building the file × file graph, whose size is referrers × definers
        per name (41M entries on a 70,000-file tree of copies): in row blocks of bounded
        output, once per graph, then kept with it (stored in the cache, and updated for the
        changed files only by :func:`patch_graph`).
        """
        if self.referrers is None:
            self.referrers = _column_counts(self.reference_pattern(), self.D)
        return self.referrers

    def imported_definers(self) -> sp.csr_matrix:
        """files × names, on :meth:`reference_pattern`'s entries: how many of the files the
        referrer imports define the name (no entry: none), what import resolution splits a
        reference by.

        Counted in row blocks (``I @ Dᵀ`` whole is every imported file's every definition
        per importer: 13M entries on a 70,000-file tree), once per graph and kept with it.
        """
        A = self._memo.get("imported_definers")
        if A is not None:
            return A
        P = self.reference_pattern()
        if self.imported is None or self.imported.shape != (P.nnz,):
            self.imported = self._count_imported(np.arange(self.n_files))
        A = sp.csr_matrix((self.imported.copy(), P.indices.copy(), P.indptr.copy()), shape=P.shape)
        A.eliminate_zeros()  # in place: on copies, never on the pattern's own arrays
        self._memo["imported_definers"] = A
        return A

    def _count_imported(self, rows: np.ndarray, counts: np.ndarray | None = None) -> np.ndarray:
        """:attr:`imported` counted for ``rows`` (ascending file indices), written into
        ``counts`` (one value per :meth:`reference_pattern` entry; zeros when None)."""
        P = self.reference_pattern()
        counts = np.zeros(P.nnz) if counts is None else counts
        if not self.I.nnz or not P.nnz or not rows.size:
            return counts
        Dt = self.D.T.tocsr()
        whole = rows.size == self.n_files
        I = self.I if whole else self.I[rows]
        est = I @ np.diff(Dt.indptr).astype(np.float64)
        P.sort_indices()
        for a, b in _blocks(est):
            C = (I[a:b] @ Dt).multiply(P[a:b] if whole else P[rows[a:b]]).tocsr()
            C.sort_indices()
            # C's entries are a subset of those rows of P: find each one's place among them
            pos, which = row_runs(P.indptr, rows[a:b])
            keys_p = which.astype(np.int64) * P.shape[1] + P.indices[pos]
            keys_c = np.repeat(np.arange(b - a, dtype=np.int64), np.diff(C.indptr)) * P.shape[1] + C.indices
            counts[pos[np.searchsorted(keys_p, keys_c)]] = C.data
        return counts

    def family_name_indexes(self) -> list[dict[str, int]]:
        """Per family (index into ``families``): name string → name id.

        What a file of family ``f`` means by a string is ``family_name_indexes()[f]``;
        used wherever a file's own tags are matched to graph names (symbol ranking).
        """
        maps = self._memo.get("family_names")
        if maps is None:
            names = self.names
            maps = []
            for f in range(len(self.families)):
                ids = np.flatnonzero(self.name_family == f).tolist()
                maps.append(dict(zip([names[i] for i in ids], ids)))
            self._memo["family_names"] = maps
        return maps

    def family_name_index(self, family: str) -> dict[str, int]:
        """Name string → id within one family, by label (``"python"``, ``"js"``, ``"c"``…)."""
        try:
            return self.family_name_indexes()[self.families.index(family)]
        except ValueError:
            return {}

    def ids_of(self, name: str) -> list[int]:
        """Every id of a name string, across families.

        For lookups that start from text rather than from a file (identifiers the user
        mentions, focus terms): the user's ``area`` means the name in any language.
        """
        return [m[name] for m in self.family_name_indexes() if name in m]


# -- building ---------------------------------------------------------------------------

#: occurrence kinds of :class:`GraphRows` besides the reference classes 0-2 (``KIND_CLASSES``)
_DEF, _IMPORT = 3, 4


@dataclass(frozen=True, eq=False)
class DefRows:
    """Every definition of every file, one row each, files in index order and each file's
    in the order of its definitions (``Impl`` blocks included, unlike the graph's rows).

    What the symbol table is made of (:class:`ripmap.rank.symbols.SymbolTable`): kept and
    patched with the graph so a warm map ranks symbols without decoding any file's tags,
    and decodes only the files it shows.
    """

    file: np.ndarray  # int32: file index (non-decreasing)
    str_id: np.ndarray  # int32: the defined name, an index into ``GraphRows.strs``
    kind: np.ndarray  # int16: index into ``kinds``
    local: np.ndarray  # bool: defined inside a function or method (a closure, a local helper)
    line: np.ndarray  # int32
    end: np.ndarray  # int32: the definition's last line (its span is what the symbol ranking weighs)
    kinds: tuple[str, ...]

    @property
    def size(self) -> int:
        return int(self.file.size)


#: kinds whose definitions make the definitions inside them local
_CALLABLE_KINDS = frozenset({"function", "method"})


@dataclass(frozen=True, eq=False)
class GraphRows:
    """Every file's contribution to the graph, in the order the graph is read from them.

    One row per definition, reference summary (name, kind class, count) or import of a
    file, files in index order and each file's rows in its tags' order. The graph is a
    function of these rows alone (:func:`assemble`), so after an edit only the changed
    files' rows are replaced (:func:`patch_graph`) instead of reading every file's tags
    again, and the result is the graph a cold build gives, bit for bit.
    """

    strs: tuple[str, ...]  # the names and import strings the rows point into
    file: np.ndarray  # int32: file index of each row (non-decreasing)
    str_id: np.ndarray  # int32: index into ``strs``
    kind: np.ndarray  # int8: 0-2 reference class, 3 definition, 4 import
    count: np.ndarray  # float64: references of this name and kind in the file (1 for the others)
    #: every definition's row (None: not kept; the symbol table then reads the tags)
    defs: DefRows | None = None

    @property
    def size(self) -> int:
        return int(self.file.size)


def _collect(files: Sequence[str], rows_of, first: int = 0, strs: list[str] | None = None,
             ids: dict[str, int] | None = None, kinds: list[str] | None = None
             ) -> tuple[list[str], dict[str, int], tuple[np.ndarray, ...], tuple[np.ndarray, ...], list[str]]:
    """The :class:`GraphRows` arrays of ``files`` (numbered from ``first``), their strings
    added to ``strs``/``ids``, and their :class:`DefRows` arrays (kinds added to ``kinds``).
    ``rows_of``: (rel, definitions, reference counts) per file."""
    strs = [] if strs is None else strs
    ids = {} if ids is None else ids
    kinds = [] if kinds is None else kinds
    kind_ids = {k: i for i, k in enumerate(kinds)}
    got = {rel: (d, c) for rel, d, c in rows_of}
    f_: list[int] = []
    s_: list[int] = []
    k_: list[int] = []
    c_: list[float] = []
    df_: list[int] = []
    ds_: list[int] = []
    dk_: list[int] = []
    dl_: list[bool] = []
    dline_: list[int] = []
    dend_: list[int] = []
    kind_class: dict[str, int] = {}

    sid = _interner(strs, ids)
    kid = _interner(kinds, kind_ids)

    for fi, rel in enumerate(files, first):
        defs, counts = got.get(rel, ((), ()))
        if defs:
            kind_of = {t[1]: t[3] for t in defs}.get
        for t in defs:  # tuples: (line, name, is_def, kind, end_line, parent, ...)
            n = sid(t[1])
            df_.append(fi)
            ds_.append(n)
            dk_.append(kid(t[3]))
            dl_.append(kind_of(t[5]) in _CALLABLE_KINDS if len(t) > 5 else False)
            dline_.append(t[0])
            dend_.append(t[4] if len(t) > 4 else t[0])
            if t[3] == "impl":  # Rust `impl Foo` groups Foo's methods; Foo is defined elsewhere
                continue
            f_.append(fi)
            s_.append(n)
            k_.append(_DEF)
            c_.append(1.0)
        for name, kind, n in counts:
            if kind == "import":
                k = _IMPORT
            else:
                k = kind_class.get(kind)
                if k is None:
                    k = kind_class[kind] = _kind_class(kind)
            f_.append(fi)
            s_.append(sid(name))
            k_.append(k)
            c_.append(n)
    arrays = (np.asarray(f_, dtype=np.int32), np.asarray(s_, dtype=np.int32), np.asarray(k_, dtype=np.int8),
              np.asarray(c_, dtype=np.float64))
    def_arrays = (np.asarray(df_, dtype=np.int32), np.asarray(ds_, dtype=np.int32), np.asarray(dk_, dtype=np.int16),
                  np.asarray(dl_, dtype=bool), np.asarray(dline_, dtype=np.int32), np.asarray(dend_, dtype=np.int32))
    return strs, ids, arrays, def_arrays, kinds


def _interner(table: list[str], ids: dict[str, int]) -> Callable[[str], int]:
    """``x`` → its index in ``table``, appended (and recorded in ``ids``) when new."""
    def intern(x: str) -> int:
        i = ids.get(x)
        if i is None:
            i = ids[x] = len(table)
            table.append(x)
        return i
    return intern


def build_graph(files: Sequence[str], tags: Mapping[str, Sequence[Tag]]) -> GraphData:
    """Collect names and references from tags into the factored sparse graph.

    The tags are read once into :class:`GraphRows` (a TagTable hands out each file's
    definitions and reference counts without decoding the references themselves);
    :func:`assemble` turns the rows into matrices with array arithmetic.
    """
    files = tuple(files)
    source = tags.graph_rows() if hasattr(tags, "graph_rows") else _rows_of(files, tags)
    strs, _ids, (f, s, k, c), d, kinds = _collect(files, source)
    g = assemble(files, GraphRows(tuple(strs), f, s, k, c, DefRows(*d, tuple(kinds))))
    g.referrer_counts()  # counted once here, then stored and patched with the graph
    g.imported_definers()
    return g


def patch_graph(old: GraphData, files: Sequence[str], changed: Iterable[str],
                tags: Mapping[str, Sequence[Tag]]) -> GraphData:
    """``old`` brought up to date: the rows of files that are gone or ``changed`` dropped,
    those of changed and new files read from ``tags``, the rest kept.

    Equal to ``build_graph(files, tags)`` whenever every file whose tags differ from
    ``old``'s is in ``changed`` (or new); costs a read of the changed files' tags plus
    array work over the rows, instead of reading every file's tags.
    """
    if old.rows is None:
        return build_graph(files, tags)
    files = tuple(files)
    changed = set(changed)
    rows = old.rows
    at_new = positions(old.files, files)
    old_to_new = kept_positions(old.files, files, changed, at_new)
    kept_files = old_to_new[old_to_new >= 0]
    have = np.zeros(len(files), dtype=bool)
    have[kept_files] = True
    fresh = [files[i] for i in np.flatnonzero(~have)]
    strs = list(rows.strs)
    ids = {x: i for i, x in enumerate(strs)}
    old_defs = rows.defs
    kinds = list(old_defs.kinds) if old_defs is not None else []
    source = tags.graph_rows(fresh) if hasattr(tags, "graph_rows") else _rows_of(fresh, tags)
    # numbered 0.. among the fresh files, then moved to their place in ``files``
    strs, _ids, (f, s, k, c), (df, ds, dk, dl, dline, dend), kinds = _collect(fresh, source, 0, strs, ids, kinds)
    fresh_pos = np.flatnonzero(~have).astype(np.int32)  # where ``fresh`` came from
    same_files = files == old.files
    file, str_id, kind, count = _merged_rows(
        old_to_new, same_files, (rows.file, rows.str_id, rows.kind, rows.count),
        (fresh_pos[f] if f.size else f, s, k, c))
    defs = def_from = None
    if old_defs is not None:
        *merged, def_from = _merged_rows(
            old_to_new, same_files, (old_defs.file, old_defs.str_id, old_defs.kind, old_defs.local, old_defs.line,
                                     old_defs.end, np.arange(old_defs.size, dtype=np.int64)),
            (fresh_pos[df] if df.size else df, ds, dk, dl, dline, dend, np.full(len(df), -1, dtype=np.int64)))
        defs = DefRows(*merged, tuple(kinds))
    seen = np.zeros(len(strs), dtype=bool)
    seen[str_id] = True
    if defs is not None:
        seen[defs.str_id] = True
    used = np.flatnonzero(seen)
    old_str = old.name_str
    if used.size < 0.75 * len(strs):  # strings of removed rows pile up: drop them
        remap = np.full(len(strs), -1, dtype=np.int32)
        remap[used] = np.arange(used.size, dtype=np.int32)
        str_id = remap[str_id]
        if defs is not None:
            defs = DefRows(defs.file, remap[defs.str_id], defs.kind, defs.local, defs.line, defs.end, defs.kinds)
        strs = [strs[i] for i in used.tolist()]
        if old_str is not None:
            old_str = remap[old_str]
    # an unchanged file's imports resolve as before (resolution reads its own path and
    # import strings and the file list) unless files came or went under a name they use:
    # only the fresh files' and those are resolved (see _carried_imports)
    # a file's family depends on its path alone: the kept files' are taken over
    labels = np.empty(len(files), dtype=object)
    known = np.flatnonzero(old_to_new >= 0)
    labels[old_to_new[known]] = np.asarray(old.families, dtype=object)[old.file_family[known]]
    for i in np.flatnonzero(~have).tolist():
        labels[i] = family_for_path(files[i])
    prior = None if old_str is None or len(old_str) != len(old.names) else \
        _Prior(old.families, old.name_family, old_str, old.private)
    imports_of = (old.I, ~have) if same_files else \
        _carried_imports(old, files, at_new, ~have, file, str_id, kind, strs)
    carry = _Carry(old.R, ~have, def_from if same_files and old.def_names is not None else None,
                   old.def_names) if same_files and prior is not None else None
    g, to_new = _assemble(files, GraphRows(tuple(strs), file, str_id, kind, count, defs),
                          imports_of=imports_of, labels=labels.tolist(), prior=prior, carry=carry)
    g.referrers = _patched_referrers(old, g, old_to_new, np.flatnonzero(~have))
    resolved = imports_of[1] if imports_of is not None and not same_files else None
    g.imported = _patched_imported(old, g, ~have, old_to_new, same_files, to_new, resolved)
    if same_files and to_new is not None:
        g.reweigh = _reweigh(old, g, ~have, to_new)
    g.imported_definers()  # counted whole when they could not be carried over
    return g


#: more distinct path components than this among the files that came and went (a
#: branch switch, a big move): every file's imports are resolved again
_MAX_MOVED_COMPONENTS = 64


def _carried_imports(old: GraphData, files: tuple[str, ...], at_new: np.ndarray, fresh: np.ndarray,
                     file: np.ndarray, str_id: np.ndarray, kind: np.ndarray,
                     strs: Sequence[str]) -> tuple[sp.csr_matrix, np.ndarray] | None:
    """After files came or went: ``old``'s import matrix moved to the new file numbers,
    and which files' imports must be resolved again (None: all of them).

    An import resolves by looking up keys (module paths, path and folder suffixes) by
    their last component (see :class:`_Lookup`). A key's last component is a component
    of the import string, or, for a relative import that ends in ``.`` or ``/``, of the
    importer's folder. So an unchanged file's import can resolve differently only when
    its string contains a component under which a file that came or went is looked up
    (its stem, its folder's name, an index file's package), or ends in ``.`` or ``/``;
    those files, the fresh ones and any that lost a target are resolved again, the
    others keep their rows (the same paths, at their new numbers). ``at_new``: each old
    file's position in ``files`` (-1: gone)."""
    came = np.ones(len(files), dtype=bool)
    came[at_new[at_new >= 0]] = False
    moved = [old.files[i] for i in np.flatnonzero(at_new < 0).tolist()] + \
        [files[i] for i in np.flatnonzero(came).tolist()]
    parts: set[str] = set()
    for path in moved:
        stem = _strip_ext(path)
        head, _, last = stem.rpartition("/")
        parts.add(last)
        if last in INDEX_STEMS and head:
            parts.add(head.rpartition("/")[2])
        folder = path.rpartition("/")[0]
        if folder:
            parts.add(folder.rpartition("/")[2])
    parts.discard("")
    if len(parts) > _MAX_MOVED_COMPONENTS:
        return None
    redo = fresh.copy()
    imp = np.flatnonzero(kind == _IMPORT)
    if imp.size:
        hit = np.zeros(len(strs), dtype=bool)
        for sid in np.unique(str_id[imp]).tolist():
            spec = strs[sid].strip().strip("\"'<>`")
            hit[sid] = spec.endswith((".", "/")) or any(c in spec for c in parts)
        redo[file[imp][hit[str_id[imp]]]] = True
    I = old.I.tocoo()
    r, c = at_new[I.row], at_new[I.col]
    lost = (r >= 0) & (c < 0)
    redo[r[lost]] = True
    ok = (r >= 0) & (c >= 0)
    carried = sp.csr_matrix((np.ones(int(ok.sum())), (r[ok], c[ok])), shape=(len(files), len(files)))
    carried.sum_duplicates()
    carried.sort_indices()
    carried.data[:] = 1.0
    return carried, redo


def _merged_rows(old_to_new: np.ndarray, same_files: bool, old: tuple[np.ndarray, ...],
                 fresh: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """Rows sorted by file (the first array) from an earlier graph's rows, moved to the new
    file numbers, without those of files gone or read again, and the fresh rows (in file
    order), each file's rows in their own order. With the same files the fresh files'
    runs are cut in where their old ones were; otherwise a stable sort merges them."""
    old_file, new_file = old[0], fresh[0]
    if same_files:
        redo = np.flatnonzero(old_to_new < 0)
        cut_a = np.searchsorted(old_file, redo, side="left")
        cut_b = np.searchsorted(old_file, redo, side="right")
        put_a = np.searchsorted(new_file, redo, side="left")
        put_b = np.searchsorted(new_file, redo, side="right")
        spans: list[tuple[int, int, int]] = []  # (which, start, stop): 0 old, 1 fresh
        at = 0
        for a, b, c, d in zip(cut_a.tolist(), cut_b.tolist(), put_a.tolist(), put_b.tolist()):
            spans += [(0, at, a), (1, c, d)]
            at = b
        spans.append((0, at, old_file.size))
        return tuple(np.concatenate([(o, n)[w][i:j] for w, i, j in spans]) for o, n in zip(old, fresh))
    keep = old_to_new[old_file] >= 0 if old_file.size else np.zeros(0, dtype=bool)
    file = np.concatenate([old_to_new[old_file[keep]].astype(np.int32), new_file.astype(np.int32)])
    order = np.argsort(file, kind="stable")  # each file's rows keep their own order
    return (file[order],) + tuple(np.concatenate([o[keep], n])[order] for o, n in zip(old[1:], fresh[1:]))


def positions(items: Sequence[str], among: Sequence[str]) -> np.ndarray:
    """Each of ``items``' index in ``among`` (-1: not there). The same sequence, an
    edit's file list against the last one, costs one compare."""
    among = tuple(among)
    if tuple(items) == among:
        return np.arange(len(among), dtype=np.int64)
    at = {f: i for i, f in enumerate(among)}
    return np.fromiter((at.get(f, -1) for f in items), dtype=np.int64, count=len(items))


def kept_positions(old_files: Sequence[str], files: Sequence[str], changed: set[str],
                   at: np.ndarray | None = None) -> np.ndarray:
    """Per file of ``old_files``, its position in ``files``; -1 where it is gone or in
    ``changed`` (its rows are read again). ``at``: :func:`positions` of the two lists,
    when the caller has it already."""
    out = positions(old_files, files) if at is None else at.copy()
    if len(changed) <= 16:  # a few edited files: find them, not every file
        old = tuple(old_files)
        for f in changed:
            try:
                out[old.index(f)] = -1
            except ValueError:
                pass
    else:
        out[np.fromiter((f in changed for f in old_files), dtype=bool, count=len(old_files))] = -1
    return out


def assemble(files: Sequence[str], rows: GraphRows,
             imports_of: tuple[sp.csr_matrix, np.ndarray] | None = None,
             labels: Sequence[str] | None = None) -> GraphData:
    """The factored graph of ``files`` from their rows: see :func:`_assemble`."""
    return _assemble(files, rows, imports_of, labels)[0]


@dataclass(frozen=True)
class _Prior:
    """An earlier graph's names, for numbering them among a patched graph's: each name's
    family label and string (an index into the new rows' strings; -1: not there), and
    its privacy, which depends on the string alone."""

    families: tuple[str, ...]
    name_family: np.ndarray
    name_str: np.ndarray
    private: np.ndarray


def _key_ids(uniq: np.ndarray, ids: np.ndarray, keys: np.ndarray, bound: int) -> np.ndarray:
    """Per key, ``ids[j]`` where ``uniq[j]`` (sorted, distinct, in ``[0, bound)``) is that
    key; -1 for a key ``uniq`` lacks or a negative key."""
    out = np.full(keys.size, -1, dtype=np.int64)
    ok = keys >= 0
    if not uniq.size or not ok.any():
        return out
    if bound <= max(8 * uniq.size, 1 << 20) and bound < 1 << 31:
        table = np.full(bound, -1, dtype=np.int64)
        table[uniq] = ids
        out[ok] = table[np.minimum(keys[ok], bound - 1)]
        out[ok & (keys >= bound)] = -1
        return out
    k = keys[ok]
    pos = np.minimum(np.searchsorted(uniq, k), uniq.size - 1)
    got = np.where(uniq[pos] == k, ids[pos], -1)
    out[ok] = got
    return out


def _assemble(files: Sequence[str], rows: GraphRows,
              imports_of: tuple[sp.csr_matrix, np.ndarray] | None = None,
              labels: Sequence[str] | None = None,
              prior: _Prior | None = None,
              carry: _Carry | None = None) -> tuple[GraphData, np.ndarray | None]:
    """The factored graph of ``files`` from their rows (see :class:`GraphRows`).

    Families are numbered by their first file, and each family's names by their first
    row (definitions before references within a file), with array arithmetic; ids of
    one family are consecutive, families in their order. ``imports_of``: the import
    matrix of an earlier graph of exactly these files and which files' rows changed
    since; only those files' imports are resolved, the other rows are taken over.
    ``labels``: each file's language family when known already (a family depends on
    the path alone), else read from the paths. ``prior``: an earlier graph's names;
    then the second value is each of its names' id here (-1: gone), and their privacy
    is taken over instead of read again. ``carry`` (with ``prior``, for the same files):
    the earlier graph's reference matrices and definitions' name ids, whose rows of
    unchanged files are taken over with the names renumbered.
    """
    files = tuple(files)
    nf = len(files)
    fam_ids: dict[str, int] = {}
    if labels is None:
        labels = [family_for_path(rel) for rel in files]
    file_fam = np.fromiter((fam_ids.setdefault(lab, len(fam_ids)) for lab in labels), dtype=np.int32, count=nf)
    named = rows.kind != _IMPORT
    f = rows.file[named]
    s = rows.str_id[named].astype(np.int64)
    k = rows.kind[named]
    c = rows.count[named]
    S = max(len(rows.strs), 1)
    key = file_fam[f].astype(np.int64) * S + s
    uniq, first, inv = _unique_first(key, max(len(fam_ids), 1) * S)
    fam_u = uniq // S
    order = np.lexsort((first, fam_u))  # by family, then by first appearance
    new_id = np.empty(uniq.size, dtype=np.int64)
    new_id[order] = np.arange(uniq.size)
    nid = new_id[inv.reshape(-1)].astype(np.int32) if key.size else np.zeros(0, dtype=np.int32)
    strs = rows.strs
    name_str = (uniq[order] % S).astype(np.int32)
    names = tuple([strs[i] for i in name_str.tolist()])
    name_fam = fam_u[order].astype(np.int32)
    nn = len(names)
    bound = max(len(fam_ids), 1) * S
    to_new = private = None
    if prior is not None:
        fam_of = np.array([fam_ids.get(lab, -1) for lab in prior.families] or [-1], dtype=np.int64)
        pf = fam_of[prior.name_family]
        to_new = _key_ids(uniq, new_id, np.where((pf >= 0) & (prior.name_str >= 0), pf * S + prior.name_str, -1),
                          bound)
        had = to_new >= 0
        private = np.zeros(nn, dtype=bool)
        private[to_new[had]] = prior.private[had]
        unknown = np.ones(nn, dtype=bool)
        unknown[to_new[had]] = False
        fresh = np.flatnonzero(unknown)
        if fresh.size:
            private[fresh] = private_names([names[i] for i in fresh.tolist()])
    R = []
    for kc in range(3):
        m = k == kc
        got = None
        if carry is not None and to_new is not None:
            mf = m & carry.fresh[f]
            got = _renumbered_rows(carry.R[kc], to_new, nn,
                                   sp.csr_matrix((c[mf], (f[mf], nid[mf])), shape=(nf, nn)), carry.fresh)
        R.append(got if got is not None else sp.csr_matrix((c[m], (f[m], nid[m])), shape=(nf, nn)))
    m = k == _DEF
    df, dn = f[m], nid[m]
    D = sp.csr_matrix((np.ones(len(df)), (dn, df)), shape=(nn, nf))
    D.data[:] = 1.0  # duplicates summed above: keep incidence only
    D.sum_duplicates()
    D.data[:] = 1.0
    imp = ~named
    if imports_of is not None:
        old_I, redo = imports_of
        imp &= redo[rows.file]
    imports = list(zip(rows.file[imp].tolist(), (strs[i] for i in rows.str_id[imp].tolist())))
    I = _import_matrix(files, imports, file_fam)
    if imports_of is not None:
        I = with_rows(old_I, I, redo)
    def_names = None
    if rows.defs is not None:
        # each definition's name id: its (family, string) key among the named keys
        if carry is not None and to_new is not None and carry.def_from is not None:
            # kept definitions: their old name's new id; fresh ones looked up
            src = carry.def_from
            def_names = np.full(src.size, -1, dtype=np.int32)
            kept = np.flatnonzero(src >= 0)
            old_ids = carry.def_names[src[kept]]
            named_kept = old_ids >= 0
            def_names[kept[named_kept]] = to_new[old_ids[named_kept]]
            new_rows = np.flatnonzero(src < 0)
            dkey = file_fam[rows.defs.file[new_rows]].astype(np.int64) * S + \
                rows.defs.str_id[new_rows].astype(np.int64)
            def_names[new_rows] = _key_ids(uniq, new_id, dkey, bound)
        else:
            dkey = file_fam[rows.defs.file].astype(np.int64) * S + rows.defs.str_id.astype(np.int64)
            def_names = _key_ids(uniq, new_id, dkey, bound).astype(np.int32)
    name_first = f[first[order]].astype(np.int32) if key.size else np.zeros(0, dtype=np.int32)
    g = GraphData.from_arrays(files, names, R, D, I, tuple(fam_ids), file_fam, name_fam, rows=rows,
                              def_names=def_names, name_str=name_str, private=private, name_first=name_first)
    return g, to_new


@dataclass(frozen=True)
class _Carry:
    """What a patch of the same files takes over from the earlier graph: its reference
    matrices (rows of files not ``fresh`` are kept), and per definition row of the new
    graph the row it was in the earlier one (-1: fresh) with the earlier name ids."""

    R: tuple[sp.csr_matrix, ...]
    fresh: np.ndarray
    def_from: np.ndarray | None
    def_names: np.ndarray | None


def _renumbered_rows(old: sp.csr_matrix, to_new: np.ndarray, nn: int, fresh_rows: sp.csr_matrix,
                     fresh: np.ndarray) -> sp.csr_matrix:
    """``old``'s rows with their columns (name ids) renumbered by ``to_new``, the rows where
    ``fresh`` is set taken from ``fresh_rows`` (values in their type); each row sorted
    again where renumbering moved a name past another (canonical, like a build). None
    when a kept row names an id that is gone (then the caller builds the matrix whole)."""
    old = old.tocsr()
    if old.shape[0] != fresh.size:
        return None
    cols = to_new[old.indices]
    gone = np.flatnonzero(cols < 0)
    if gone.size and not fresh[np.searchsorted(old.indptr, gone, side="right") - 1].all():
        return None
    moved = sp.csr_matrix((old.data.astype(fresh_rows.dtype, copy=False),
                           np.maximum(cols, 0).astype(fresh_rows.indices.dtype), old.indptr),
                          shape=(old.shape[0], nn))
    out = with_rows(moved, fresh_rows, fresh)
    if out.nnz:
        step = np.diff(out.indices.astype(np.int64))
        starts = out.indptr[1:-1]
        inside = np.ones(out.nnz - 1, dtype=bool)
        inside[starts[(starts > 0) & (starts < out.nnz)] - 1] = False
        if (step[inside] <= 0).any():
            out.has_sorted_indices = False
            out.sort_indices()
    out.has_canonical_format = True
    return out


def with_rows(old: sp.csr_matrix, new: sp.csr_matrix, take: np.ndarray) -> sp.csr_matrix:
    """``old`` with the rows where ``take`` is set replaced by ``new``'s (same shape;
    the entries of each row as they are, sorted or not). The runs of kept rows
    between taken ones are copied whole, so an edit's few rows cost a copy of the
    arrays instead of a sparse sum."""
    lens = np.where(take, np.diff(new.indptr), np.diff(old.indptr))
    indptr = np.zeros(lens.size + 1, dtype=np.int64)
    np.cumsum(lens, out=indptr[1:])
    pieces: list[tuple[sp.csr_matrix, int, int]] = []
    at = 0
    for r in np.flatnonzero(take).tolist():
        pieces += [(old, at, r), (new, r, r + 1)]
        at = r + 1
    pieces.append((old, at, lens.size))
    parts = [(m.indptr[a], m.indptr[b], m) for m, a, b in pieces if b > a]
    indices = np.concatenate([m.indices[i:j] for i, j, m in parts] or [old.indices[:0]])
    data = np.concatenate([m.data[i:j] for i, j, m in parts] or [old.data[:0]])
    out = sp.csr_matrix((data, indices, indptr), shape=old.shape)
    if old.has_canonical_format and new.has_canonical_format:
        out.has_canonical_format = True
    elif old.has_sorted_indices and new.has_sorted_indices:
        out.has_sorted_indices = True
    return out


def _unique_first(key: np.ndarray, bound: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(key, return_index=True, return_inverse=True)`` for keys in
    ``[0, bound)``: the sorted distinct keys, each one's first position and every key's
    index among them. Where the key range is not much larger than the keys themselves
    (a graph's (family, string) keys: 1.3M possible against 3.1M rows on the 70k tree) a
    presence table answers in one pass instead of a sort (0.05 s against 0.54 s there)."""
    if not key.size:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    if bound > max(8 * key.size, 1 << 20) or bound >= 1 << 31:
        uniq, first, inv = np.unique(key, return_index=True, return_inverse=True)
        return uniq, first, inv.reshape(-1)
    present = np.zeros(bound, dtype=bool)
    present[key] = True
    uniq = np.flatnonzero(present)
    inv = (np.cumsum(present, dtype=np.int32) - 1)[key].astype(np.int64)
    first = np.full(uniq.size, key.size, dtype=np.int64)
    np.minimum.at(first, inv, np.arange(key.size, dtype=np.int64))
    return uniq, first, inv


def row_runs(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the stored entries of ``rows`` of a CSR matrix (any row pointer:
    ``indptr[r]..indptr[r + 1]`` are row ``r``'s), in row order, and each one's index
    into ``rows``."""
    starts = indptr[rows]
    lens = indptr[rows + 1] - starts
    which = np.repeat(np.arange(rows.size), lens)
    pos = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(int(lens.sum()))
    return pos, which


#: the most entries of a file × file product held at once while counting referrers
_COUNT_BLOCK = 2_000_000


def _blocks(est: np.ndarray):
    """Row ranges ``[a, b)`` whose summed ``est`` stays near :data:`_COUNT_BLOCK` (a row
    larger than that is a block of its own)."""
    n = est.size
    if n == 0:
        return
    cum = np.cumsum(est)
    a = 0
    while a < n:
        base = cum[a - 1] if a else 0.0
        b = int(np.searchsorted(cum, base + _COUNT_BLOCK, side="right"))
        b = min(max(b, a + 1), n)
        yield a, b
        a = b


def _column_counts(P: sp.csr_matrix, D: sp.csr_matrix) -> np.ndarray:
    """Per column ``j`` of ``P @ D``, how many rows have an entry there (``P`` and ``D``
    non-negative): distinct referrers per definer when ``P`` is a reference pattern."""
    n = D.shape[1]
    out = np.zeros(n, dtype=np.float64)
    if P.nnz == 0 or D.nnz == 0:
        return out
    per_name = np.diff(D.indptr).astype(np.float64)
    for a, b in _blocks(P @ per_name):
        C = P[a:b] @ D  # each stored entry is one distinct (referrer, definer) pair
        out += np.bincount(C.indices, minlength=n)
    return out


def _row_counts(A: sp.csr_matrix, B: sp.csr_matrix) -> np.ndarray:
    """Per row of ``A @ B`` (non-negative), how many columns it reaches."""
    out = np.zeros(A.shape[0], dtype=np.float64)
    if A.nnz == 0 or B.nnz == 0:
        return out
    for a, b in _blocks(A @ np.diff(B.indptr).astype(np.float64)):
        out[a:b] = np.diff((A[a:b] @ B).indptr)
    return out


def _patched_referrers(old: GraphData, new: GraphData, old_to_new: np.ndarray, fresh: np.ndarray) -> np.ndarray:
    """``new``'s referrer counts from ``old``'s, touching only the changed files' edges.

    Whether file ``i`` has an edge to ``j`` depends on the rows of ``i`` and ``j`` alone
    (what ``i`` references and defines, what ``j`` defines), so for a file that kept its
    rows the count changes by the edges from files that left or changed (dropped) and
    from files that are new or changed (added); a new or changed file is counted afresh.
    ``old_to_new``: each old file's index in ``new`` (-1: gone or changed); ``fresh``:
    the indices in ``new`` of the files whose rows were read again.
    """
    out = np.zeros(new.n_files, dtype=np.float64)
    kept = np.flatnonzero(old_to_new >= 0)
    out[old_to_new[kept]] = old.referrer_counts()[kept]
    gone = np.flatnonzero(old_to_new < 0)
    if gone.size:
        lost = _column_counts(old.reference_pattern()[gone], old.D)
        out[old_to_new[kept]] -= lost[kept]
    if fresh.size:
        P = new.reference_pattern()
        gained = _column_counts(P[fresh], new.D)
        gained[fresh] = 0.0
        out += gained
        out[fresh] = _row_counts(new.D.T.tocsr()[fresh], P.T.tocsr())
    return out


def _patched_imported(old: GraphData, new: GraphData, fresh: np.ndarray,
                      old_to_new: np.ndarray, same_files: bool = False,
                      to_new: np.ndarray | None = None, resolved: np.ndarray | None = None) -> np.ndarray | None:
    """``new``'s :attr:`GraphData.imported` from ``old``'s.

    A file's counts depend on its own rows (references, definitions, imports) and on the
    definitions of the files it imports. So they are counted again only for files read
    again (``fresh``: a bool per new file), files that import one of them, and files whose
    imports now resolve to other files (a file came or went); the other files keep their
    counts, moved to their new row and to the names' new ids. ``old_to_new``: each old
    file's index in ``new`` (-1: gone or read again). None when ``old`` has no counts or
    its rows do not line up, or when the patch could not number the old names among the
    new (``to_new``: each old name's id in ``new``, -1: gone); then every row is counted.
    ``resolved``: the files whose imports the patch resolved again (the others' import
    rows were carried over unchanged), when files came or went."""
    if to_new is None:
        return None
    Po = old.reference_pattern()
    if old.imported is None or old.imported.shape != (Po.nnz,):
        return None
    P = new.reference_pattern()
    nf = new.n_files
    redo = fresh.copy()
    fresh_idx = np.flatnonzero(fresh)
    if fresh_idx.size:
        redo |= np.asarray(new.I[:, fresh_idx].sum(axis=1)).ravel() > 0
    kept_old = np.flatnonzero(old_to_new >= 0)
    kept_new = old_to_new[kept_old]
    if resolved is not None:
        redo |= resolved  # only these files' imports can resolve differently now
    elif not same_files:
        # files whose imports resolve differently now (with the same files an unchanged
        # file's imports resolve as before): compare each kept file's import row, the old
        # one moved to new indices by path (a target that is gone moves to -1)
        new_index = new.file_index
        by_path = np.fromiter((new_index.get(f, -1) for f in old.files), dtype=np.int64, count=old.n_files)
        Io = old.I[kept_old].tocsr()
        In = new.I[kept_new].tocsr()
        Io.sort_indices()
        In.sort_indices()
        n_o, n_n = np.diff(Io.indptr), np.diff(In.indptr)
        ro = np.repeat(np.arange(kept_old.size), n_o)
        o = np.lexsort((by_path[Io.indices], ro))  # each row's targets in new-index order
        ro, co = ro[o], by_path[Io.indices][o]
        rn = np.repeat(np.arange(kept_old.size), n_n)
        differs = n_o != n_n
        # rows of equal length line up entry for entry (rows ascending, targets sorted)
        eq_o, eq_n = ~differs[ro], ~differs[rn]
        mism = co[eq_o] != In.indices[eq_n]
        differs[ro[eq_o][mism]] = True
        redo[kept_new[differs]] = True
    new_to_old = np.full(nf, -1, dtype=np.int64)
    new_to_old[kept_new] = kept_old
    keep_rows = np.flatnonzero(~redo)  # every file not kept is fresh, so redone
    counts = np.zeros(P.nnz)
    if keep_rows.size:
        src = new_to_old[keep_rows]
        n_old = np.diff(Po.indptr)[src]
        n_new = np.diff(P.indptr)[keep_rows]
        if not np.array_equal(n_old, n_new):
            return None
        pos_o, _ = row_runs(Po.indptr, src)
        pos_n, which = row_runs(P.indptr, keep_rows)
        row_of = keep_rows[which].astype(np.int64)
        cols = to_new[Po.indices[pos_o]]
        if (cols < 0).any():
            return None
        key_o = row_of * P.shape[1] + cols
        key_n = row_of * P.shape[1] + P.indices[pos_n]  # ascending: rows ascending, columns sorted
        order = np.argsort(key_o, kind="stable")
        if not np.array_equal(key_o[order], key_n):
            return None
        counts[pos_n] = old.imported[pos_o[order]]
    return new._count_imported(np.flatnonzero(redo), counts)


def _reweigh(old: GraphData, new: GraphData, fresh: np.ndarray, to_new: np.ndarray) -> np.ndarray | None:
    """The files of ``new`` (the same files as ``old``, ``fresh`` read again) whose
    import-resolved row ``(Rv[f] @ D) ∘ I[f]`` can differ from ``old``'s, sorted.

    A row reads the file's references, definitions and imports, the definers and weights
    (definer count, privacy) of the names it references, and the definitions of the
    files it imports; and its sums run in name-id order. So it can differ only for the
    fresh files, their importers, and files that reference a name that is new or gone,
    gained or lost a definer (a fresh file defines it, before or now), or whose first
    row is in a fresh file, before or now (its id may have moved past others'). Every
    other row reads the same values in the same order, so its entries are equal bit for
    bit. None when a graph does not keep where its names first appear."""
    if old.name_first is None or new.name_first is None:
        return None
    fresh_idx = np.flatnonzero(fresh)
    nn = len(new.names)
    touched = np.zeros(nn, dtype=bool)
    had = to_new >= 0
    seen = np.zeros(nn, dtype=bool)
    seen[to_new[had]] = True
    touched |= ~seen  # new names
    moved_old = fresh[old.name_first] & had
    touched[to_new[moved_old]] = True
    touched |= fresh[new.name_first]
    ndefs_old = np.full(nn, -1.0)
    ndefs_old[to_new[had]] = old.ndefs[had]
    touched |= ndefs_old != new.ndefs
    rows = fresh.copy()
    if fresh_idx.size:
        rows |= np.asarray(new.I[:, fresh_idx].sum(axis=1)).ravel() > 0
    if touched.any():
        for R in new.R:  # the referrers of a touched name: the rows of its entries
            at = np.flatnonzero(touched[R.indices])
            rows[np.searchsorted(R.indptr, at, side="right") - 1] = True
    return np.flatnonzero(rows)


def _rows_of(files: Sequence[str], tags: Mapping[str, Sequence[Tag]]):
    """graph_rows for a plain mapping of full tag lists."""
    for rel in files:
        yield rel, *graph_row(tags.get(rel, ()))


def _strip_ext(path: str) -> str:
    base = path.rsplit("/", 1)[-1]
    if base.endswith(".d.ts"):
        return path[:-5]
    dot = base.rfind(".")
    return path[: len(path) - len(base) + dot] if dot > 0 else path


#: file stems that stand for their folder as a module (``pkg/__init__.py`` is ``pkg``)
INDEX_STEMS = ("__init__", "index", "mod", "lib")


#: the resolution tables of the last file list (one entry): a server patching edit after
#: edit of one tree resolves a few files' imports against tables of every file each time
_TABLES: dict = {"files": None, "fams": None, "tables": {}}


class _Lookup:
    """One of a family's import-resolution tables (key → the files it names, in file
    order), answered per key when asked instead of spelt out for every key up front.

    ``by_last`` holds each candidate ``(file, path)`` under the path's last component:
    a key names the files whose path is the key (``exact``) or ends with ``/`` + key
    (``suffix``, ``dirs``), and both share the key's last component. Spelling the
    tables out costs 0.3–0.7 s at 70,000 files, which a patch that resolves one edited
    file's imports never earns back; looking a key up costs a pass over the paths with
    its last component, once (answers are kept). Behaves as the dict it replaces for
    ``get``, ``in`` and ``[]``.
    """

    __slots__ = ("_by_last", "_whole", "_memo")

    def __init__(self, by_last: "_ByLast", whole: bool) -> None:
        self._by_last = by_last
        self._whole = whole  # the path must be the key itself, not merely end with it
        self._memo: dict[str, list[int]] = {}

    def _files(self, key: str) -> list[int]:
        got = self._memo.get(key)
        if got is None:
            pairs = self._by_last.get(key.rsplit("/", 1)[-1], ())
            if self._whole:
                got = [i for i, path in pairs if path == key]
            else:
                tail = "/" + key
                got = [i for i, path in pairs if path == key or path.endswith(tail)]
            self._memo[key] = got
        return got

    def get(self, key: str, default=None):
        return self._files(key) or default

    def __contains__(self, key: str) -> bool:
        return bool(self._files(key))

    def __getitem__(self, key: str) -> list[int]:
        got = self._files(key)
        if not got:
            raise KeyError(key)
        return got


class _ByLast:
    """One family's candidates for :class:`_Lookup`, per last path component: the files
    under each component in file order (a file's module path before the folder an index
    file also names), each candidate's path made from the file's own path when a key
    asks for it."""

    __slots__ = ("_files", "_ids", "_span", "_file", "_sub", "_made")

    def __init__(self, files: tuple[str, ...], ids: dict[str, int], keys: np.ndarray, file: np.ndarray,
                 sub: np.ndarray) -> None:
        order = np.lexsort((sub, file, keys))
        keys = keys[order]
        cut = np.flatnonzero(np.diff(keys)) + 1
        starts = np.concatenate([[0], cut]).astype(np.int64) if keys.size else np.zeros(0, dtype=np.int64)
        ends = np.concatenate([cut, [keys.size]]).astype(np.int64) if keys.size else starts
        self._files, self._ids = files, ids
        self._span = dict(zip(keys[starts].tolist(), zip(starts.tolist(), ends.tolist())))
        self._file, self._sub = file[order].tolist(), sub[order].tolist()
        self._made: dict[str, list[tuple[int, str]]] = {}  # many keys share a last component

    def get(self, last: str, default=()):
        got = self._made.get(last)
        if got is None:
            span = self._span.get(self._ids.get(last, -1))
            if span is None:
                return default
            a, b = span
            files = self._files
            # sub 0: the module path (the file's path without its extension); 1: its folder
            got = self._made[last] = [(i, _strip_ext(files[i]) if s == 0 else files[i].rpartition("/")[0])
                                      for i, s in zip(self._file[a:b], self._sub[a:b])]
        return got


def _resolution_tables(files: tuple[str, ...], fams: list[int],
                       wanted: set[int]) -> dict[int, tuple[_Lookup, _Lookup, _Lookup]]:
    """Per family in ``wanted``: full module path (no extension) → files; any trailing
    path of a module → files; directory path suffixes → files in it (Go packages), as
    :class:`_Lookup` tables. A module of an index file (``pkg/__init__.py``, ``a/index.ts``)
    is also named by its directory. Kept for the next call with the same files and
    families.

    A path's parts are worked out once per distinct folder and file name (a big tree
    repeats both: 70,000 files in 11,000 folders under 5,000 names) and spread to the
    files with array gathers; a Python pass per file cost 0.13 s for the 25,000 Python
    files of the scale tree."""
    memo = _TABLES
    if memo["files"] is not files and (memo["files"] != files or memo["fams"] != fams):
        memo.update(files=files, fams=list(fams), tables={})
    memo["files"] = files
    tables: dict[int, tuple[_Lookup, _Lookup, _Lookup]] = memo["tables"]
    todo = wanted - set(tables)
    if not todo:
        return tables
    from .discover.paths import PathTable

    pt = PathTable.of(files)
    ids: dict[str, int] = {}  # last components, numbered
    stems = [_strip_ext(n) for n in pt.names]  # a name's stem is its module's last component
    name_key = np.fromiter((ids.setdefault(x, len(ids)) for x in stems), dtype=np.int64, count=len(stems))
    is_index = np.fromiter((x in INDEX_STEMS for x in stems), dtype=bool, count=len(stems))
    dir_key = np.fromiter((ids.setdefault(d.rpartition("/")[2], len(ids)) if d else -1 for d in pt.dirs),
                          dtype=np.int64, count=len(pt.dirs))
    fam_of = np.asarray(fams, dtype=np.int64)
    for fam in todo:
        sel = np.flatnonzero(fam_of == fam)
        nk, dk = name_key[pt.name_of[sel]], dir_key[pt.dir_of[sel]]
        in_dir = dk >= 0
        index = in_dir & is_index[pt.name_of[sel]]
        modules = _ByLast(files, ids, np.concatenate([nk, dk[index]]), np.concatenate([sel, sel[index]]),
                          np.concatenate([np.zeros(sel.size, dtype=np.int8), np.ones(int(index.sum()), dtype=np.int8)]))
        folders = _ByLast(files, ids, dk[in_dir], sel[in_dir], np.ones(int(in_dir.sum()), dtype=np.int8))
        tables[fam] = (_Lookup(modules, True), _Lookup(modules, False), _Lookup(folders, False))
    return tables


def _import_matrix(files: tuple[str, ...], imports: list[tuple[int, str]], file_fam: np.ndarray) -> sp.csr_matrix:
    """Resolve import strings to files: exact module paths first, then path suffixes.

    Only files of the importer's family are candidates: a Python ``import area`` never
    means ``area.dart``, and a hit in another family must not shadow a later rule
    that finds one in the importer's own.
    """
    nf = len(files)
    if not imports:
        return sp.csr_matrix((nf, nf))
    fams = file_fam.tolist()
    wanted = {fams[fi] for fi, _spec in imports}  # only the importers' families are looked in
    tables = _resolution_tables(files, fams, wanted)
    rows: list[int] = []
    cols: list[int] = []
    for fi, spec in imports:
        targets = _resolve_import(files[fi], spec.strip().strip("\"'<>`"), *tables[fams[fi]])
        for t in targets:
            if t != fi:
                rows.append(fi)
                cols.append(t)
    m = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(nf, nf))
    m.sum_duplicates()
    m.sort_indices()  # canonical, so a patched matrix is the cold one bit for bit
    m.data[:] = 1.0
    return m


#: crates every Rust program may use that are never files of the tree
_RUST_EXTERNAL = frozenset({"std", "core", "alloc", "proc_macro", "test"})


def _resolve_rust(src: str, spec: str, exact) -> list[int]:
    """A Rust ``use`` path to the file of the longest module it names.

    ``crate::`` starts at the importer's crate root (the nearest directory holding a
    ``lib.rs`` or ``main.rs``), ``self::``/``super::`` at the importer's own module and
    its parents (``a/b.rs``'s children live in ``a/b/``; ``mod.rs``, ``lib.rs`` and
    ``main.rs`` are their directory's module). Any other first name is a crate: a
    directory of that name (or with ``-`` for ``_``, or without a ``prefix_``) holding
    ``src/lib.rs``, else, from outside it, the importer's own package's library (a
    binary using its library by the package's name; only a module it names counts).
    ``std``, ``core`` and ``alloc`` are never files here.
    A module is ``m.rs`` or ``m/mod.rs``; ``a::b::C`` is tried as ``a/b/C``, then ``a/b``,
    then ``a``, then the base module itself.
    """
    segs = [s.strip() for s in spec.split("::") if s.strip()]
    if not segs or segs[0] in _RUST_EXTERNAL:
        return []
    src_dir = posixpath.dirname(src)
    stem = posixpath.basename(src).rsplit(".", 1)[0]
    here = src_dir if stem in ("mod", "lib", "main") else posixpath.join(src_dir, stem)
    head = segs[0]
    if head == "crate":
        base, segs = _rust_root(src_dir, exact, ("lib", "main")), segs[1:]
    elif head in ("self", "super"):
        base = here
        while segs and segs[0] in ("self", "super"):
            if segs[0] == "super":
                base = posixpath.dirname(base)
            segs = segs[1:]
    else:
        base = None
        for name in dict.fromkeys((head, head.replace("_", "-"), head.partition("_")[2])):
            key = next((k for k in (f"{name}/src/lib", f"crates/{name}/src/lib") if exact.get(k)), None)
            if name and key:
                base = posixpath.dirname(key)
                break
        segs = segs[1:]
        if base is None:
            # perhaps the package's own library, used by name from its binaries, tests and
            # examples; inside the library a bare crate name is another crate (serde, clap).
            # A guess, so only a module it names counts, never the library root itself
            own = _rust_root(src_dir, exact, ("lib",), package=True)
            if own is None or own == _rust_root(src_dir, exact, ("lib", "main")):
                return []
            return _rust_module(exact, own, segs)
    if base is None:
        return []
    # else an item of the base module itself: `super::Item`, `crate::Item`, `use a_crate::*`
    return _rust_module(exact, base, segs) or exact.get(base) or exact.get(posixpath.join(base, "main")) or []


def _rust_module(exact, base: str, segs: list[str]) -> list[int]:
    """The file of the longest module ``base/segs[0]/…`` names (``a/b/C``, then ``a/b``,
    then ``a``), or none."""
    for k in range(len(segs), 0, -1):
        hit = exact.get(posixpath.join(base, *segs[:k]))
        if hit:
            return hit
    return []


def _rust_root(src_dir: str, exact, stems: tuple[str, ...], package: bool = False) -> str | None:
    """The nearest directory at or above ``src_dir`` holding one of ``stems`` (``lib.rs``,
    ``main.rs``); with ``package``, also a ``src/`` below an ancestor (a package's
    library seen from its ``src/bin/`` or ``tests/``)."""
    d = src_dir
    while True:
        for st in stems:
            if exact.get(posixpath.join(d, st)):
                return d
            if package and exact.get(posixpath.join(d, "src", st)):
                return posixpath.join(d, "src")
        if not d:
            return None
        d = posixpath.dirname(d)


def _resolve_import(src: str, spec: str, exact, suffix, dirs) -> list[int]:
    if not spec:
        return []
    src_dir = posixpath.dirname(src)
    if "::" in spec or src.endswith(".rs"):
        return _resolve_rust(src, spec, exact)
    if spec.startswith("."):
        if "/" in spec or spec in (".", ".."):  # JS/TS relative path
            target = posixpath.normpath(posixpath.join(src_dir, spec))
            return exact.get(_strip_ext(target), []) or exact.get(target, [])
        # Python relative module: leading dots climb packages
        dots = len(spec) - len(spec.lstrip("."))
        base = src_dir
        for _ in range(dots - 1):
            base = posixpath.dirname(base)
        rest = spec[dots:].replace(".", "/")
        target = posixpath.join(base, rest) if rest else base
        return exact.get(target, [])
    if "/" in spec:  # Go package path, C include, JS bare path with subpath
        local = posixpath.normpath(posixpath.join(src_dir, spec))
        hit = exact.get(_strip_ext(local))
        if hit:
            return hit
        parts = spec.split("/")
        for j in range(len(parts)):  # longest matching directory or module suffix
            key = "/".join(parts[j:])
            if key in dirs and j < len(parts) - 0:
                return dirs[key]
            k2 = _strip_ext(key)
            if k2 in suffix:
                return suffix[k2]
        return []
    # dotted module (Python, Java): a.b.c → a/b/c
    key = spec.replace(".", "/")
    hit = suffix.get(key)
    if hit:
        return hit
    if "/" in key:  # Java: import a.b.Class → a/b/Class; a.b.* handled by dir
        return dirs.get(key.rsplit("/", 1)[0], []) if key.endswith("/*") else []
    return []
