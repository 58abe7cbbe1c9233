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
from typing import Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from .extract.tags import Tag, graph_row
from .languages.families import family_for_path

KIND_CLASSES = ("call", "type", "other")
_TYPE_KINDS = frozenset({"class", "type", "interface", "struct", "enum", "trait", "impl"})
#: what the matrices mean (bump when building them changes; the stored graph carries it)
GRAPH_VERSION = "3"  # 3: names keyed by language family


def _kind_class(kind: str) -> int:
    if kind == "call":
        return 0
    if kind in _TYPE_KINDS:
        return 1
    return 2


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
    #: lookups derived from the structure alone (never anything that depends on parameters)
    _memo: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_arrays(cls, files: Sequence[str], names: Sequence[str], R: Sequence[sp.csr_matrix], D: sp.csr_matrix,
                    I: sp.csr_matrix, families: Sequence[str], file_family: np.ndarray,
                    name_family: np.ndarray) -> "GraphData":
        """A graph from its matrices, with the per-name summaries (definers, privacy)
        derived from them: what building and reading a stored graph both end with."""
        ndefs = np.asarray(D.sum(axis=1)).ravel().astype(np.float64)
        private = np.fromiter((n.startswith("_") and not n.startswith("__")
                               or n.startswith("__") and not n.endswith("__") for n in names),
                              dtype=bool, count=len(names))
        return cls(files=tuple(files), names=tuple(names), R=tuple(R), D=D, I=I, ndefs=ndefs, private=private,
                   families=tuple(families), file_family=file_family, name_family=name_family)

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

def build_graph(files: Sequence[str], tags: Mapping[str, Sequence[Tag]]) -> GraphData:
    """Collect names and references from tags into the factored sparse graph.

    Each family numbers its names on its own while the tags are read (a file looks
    its names up in its family's dict: no per-tag cost over one shared dict); the
    per-family numbers are shifted into one id space with array arithmetic after.
    """
    files = tuple(files)
    nf = len(files)
    fam_ids: dict[str, int] = {}
    file_fam = np.fromiter((fam_ids.setdefault(family_for_path(rel), len(fam_ids)) for rel in files),
                           dtype=np.int32, count=nf)
    fam_names: list[dict[str, int]] = [{} for _ in fam_ids]  # per family: name → local id
    def_f: list[int] = []
    def_n: list[int] = []
    ref_f: list[int] = []
    ref_n: list[int] = []
    ref_k: list[int] = []
    ref_c: list[int] = []
    imports: list[tuple[int, str]] = []
    kind_class: dict[str, int] = {}
    # per file: definitions and (name, kind, count) reference summaries; a TagTable
    # hands these out without decoding the references themselves
    source = tags.graph_rows() if hasattr(tags, "graph_rows") else _rows_of(files, tags)
    rows = {rel: (d, c) for rel, d, c in source}
    fams = file_fam.tolist()
    for fi, rel in enumerate(files):
        defs, counts = rows.get(rel, ((), ()))
        if not defs and not counts:
            continue
        name_ids = fam_names[fams[fi]]
        get = name_ids.setdefault
        for t in defs:  # tuples: (line, name, is_def, kind, ...)
            if t[3] == "impl":  # Rust `impl Foo` groups Foo's methods; Foo is defined elsewhere
                continue
            def_f.append(fi)
            def_n.append(get(t[1], len(name_ids)))
        for name, kind, n in counts:
            if kind == "import":
                imports.append((fi, name))
                continue
            k = kind_class.get(kind)
            if k is None:
                k = kind_class[kind] = _kind_class(kind)
            ref_f.append(fi)
            ref_n.append(get(name, len(name_ids)))
            ref_k.append(k)
            ref_c.append(n)
    sizes = np.fromiter((len(m) for m in fam_names), dtype=np.int64, count=len(fam_names))
    offset = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64) if len(sizes) else sizes
    nn = int(sizes.sum())
    # local ids follow dict insertion order, so each family's names in id order are its keys
    names = tuple(n for m in fam_names for n in m)
    name_fam = np.repeat(np.arange(len(fam_names), dtype=np.int32), sizes)
    rf = np.asarray(ref_f, dtype=np.int32)
    rn = (np.asarray(ref_n, dtype=np.int64) + offset[file_fam[rf]]).astype(np.int32)
    rk = np.asarray(ref_k, dtype=np.int8)
    rc = np.asarray(ref_c, dtype=np.float64)
    R = []
    for k in range(3):
        m = rk == k
        R.append(sp.csr_matrix((rc[m], (rf[m], rn[m])), shape=(nf, nn)))
    df = np.asarray(def_f, dtype=np.int32)
    dn = (np.asarray(def_n, dtype=np.int64) + offset[file_fam[df]]).astype(np.int32)
    D = sp.csr_matrix((np.ones(len(df)), (dn, df)), shape=(nn, nf))
    D.data[:] = 1.0  # duplicates summed above: keep incidence only
    D.sum_duplicates()
    D.data[:] = 1.0
    I = _import_matrix(files, imports, file_fam)
    return GraphData.from_arrays(files, names, R, D, I, tuple(fam_ids), file_fam, name_fam)


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


_INDEX_STEMS = ("__init__", "index", "mod", "lib")


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
    tables: dict[int, tuple[dict, dict, dict]] = {}
    for i, rel in enumerate(files):
        t = tables.get(fams[i])
        if t is None:
            t = tables[fams[i]] = ({}, {}, {})
        # full module path (no extension) → files; any trailing path of a module → files;
        # directory path suffixes → files in it (Go packages)
        exact, suffix, dirs = t
        stem = _strip_ext(rel)
        keys = [stem]
        last = stem.rsplit("/", 1)[-1]
        if last in _INDEX_STEMS and "/" in stem:
            keys.append(stem.rsplit("/", 1)[0])
        for k in keys:
            exact.setdefault(k, []).append(i)
            parts = k.split("/")
            for j in range(len(parts)):
                suffix.setdefault("/".join(parts[j:]), []).append(i)
        d = posixpath.dirname(rel)
        if d:
            dparts = d.split("/")
            for j in range(len(dparts)):
                dirs.setdefault("/".join(dparts[j:]), []).append(i)
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
    m.data[:] = 1.0
    return m


def _resolve_import(src: str, spec: str, exact, suffix, dirs) -> list[int]:
    if not spec:
        return []
    src_dir = posixpath.dirname(src)
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
