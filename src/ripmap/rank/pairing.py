"""Test ↔ source pairing: a test file and the file it tests, found by name.

Commits edit a module and its test together, so when one of them is in the chat (or is
what the task text points at) the other is very likely needed too, even when no
reference connects them (tests often reach the code through a package's public
surface) and even in a young history with no co-change yet.

A file's *subject* is its basename with the test markers of the common conventions
removed: ``test_foo.py``/``foo_test.py``/``tests.py`` (Python), ``foo_test.go`` (Go),
``FooTest.java``/``FooTests.kt``/``FooSpec.scala`` (JVM), ``foo.test.ts``/``foo.spec.js``
(JS/TS), ``foo_spec.rb``/``test_foo.rb``/``spec_foo.rb`` (Ruby), ``FooTest.php``,
``FooTests.cs``, ``foo_unittest.cc`` (googletest), and any file under a
``test``/``tests``/``__tests__``/``spec`` directory. A private module's leading underscore
is dropped (``_client.py`` is what ``test_client.py`` tests). A test pairs with the
non-test files of the same subject; when several share it, the ones whose directories
are closest to the test's get the pairing (split among them).
"""
from __future__ import annotations

import re
from itertools import chain
from typing import Sequence

import numpy as np
from ..lazy import sparse as sp

from ..discover.paths import PathTable

_TEST_DIRS = frozenset({"test", "tests", "__tests__", "spec", "specs", "testing", "t"})
_MARKERS = (
    re.compile(r"^test_(.+)$"), re.compile(r"^spec_(.+)$"), re.compile(r"^(.+)_test$"), re.compile(r"^(.+)_tests$"),
    re.compile(r"^(.+)_spec$"), re.compile(r"^(.+)_unittests?$"),
    re.compile(r"^(.+)[.-](?:tests?|specs?)$", re.I), re.compile(r"^(.+?)(?:Tests?|Spec|IT)$"), re.compile(r"^Test(.+)$"),
)


def _stem(base: str) -> str:
    dot = base.find(".")  # foo.test.ts → foo.test ; x.d.ts → x
    stem = base[:base.rfind(".")] if base.rfind(".") > 0 else base
    if stem.endswith(".d"):
        stem = stem[:-2]
    return stem if dot > 0 else base


#: subjects too generic to pair by (every package has one)
_GENERIC = frozenset({"", "__init__", "index", "mod", "lib", "main", "conftest", "helpers", "utils", "util",
                      "common"})


def _name_subject(name: str) -> tuple[str, bool]:
    """(subject key, a test marker is in the name) for one file name."""
    stem = _stem(name)
    for rx in _MARKERS:
        m = rx.match(stem)
        if m and m.group(1):
            return m.group(1).lower().replace("-", "_"), True
    if stem.startswith("_") and not stem.startswith("__"):  # a private module: _client.py is what test_client.py tests
        stem = stem[1:]
    return stem.lower().replace("-", "_"), False


def subject(rel: str) -> tuple[str, bool]:
    """(subject key, is a test file) for one root-relative path."""
    parts = rel.split("/")
    key, marked = _name_subject(parts[-1])
    return key, marked or any(p in _TEST_DIRS for p in parts[:-1])


def pairing_matrix(files: Sequence[str]) -> sp.csr_matrix:
    """Symmetric files × files matrix: 1/k between a test and each of the k closest
    non-test files of its subject (k ≥ 1); zero elsewhere.

    Closeness is the number of directory steps between the two files' directories
    (up from one to their deepest common ancestor, down to the other). A big tree
    repeats file names and directories, so subjects are read once per distinct name
    and test directories once per directory; every (test, candidate source) pair is
    then scored at once with numpy, on each directory's chain of ancestor ids.
    """
    n = len(files)
    table = PathTable.of(files)
    dir_arr, dirs, name_arr, names = table.dir_of, table.dirs, table.name_of, table.names
    key_ids: dict[str, int] = {}
    name_key = np.full(len(names), -1, dtype=np.int64)
    name_marked = np.zeros(len(names), dtype=bool)
    for k, name in enumerate(names):
        key, marked = _name_subject(name)
        if key not in _GENERIC:
            name_key[k] = key_ids.setdefault(key, len(key_ids))
            name_marked[k] = marked
    dir_test = np.fromiter((bool(d) and not _TEST_DIRS.isdisjoint(d.split("/")) for d in dirs),
                           dtype=bool, count=len(dirs))
    file_key = name_key[name_arr]
    file_test = name_marked[name_arr] | dir_test[dir_arr]
    rows, cols, vals = _closest_pairs(file_key, file_test, dir_arr, dirs)
    m = sp.csr_matrix((np.concatenate([vals, vals]),
                       (np.concatenate([rows, cols]), np.concatenate([cols, rows]))), shape=(n, n))
    m.sum_duplicates()
    return m


def _closest_pairs(file_key: np.ndarray, file_test: np.ndarray, file_dir: np.ndarray,
                   dirs: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(test, source, weight) for every test and each of its closest sources of the same key.

    Candidate pairs are every test × every source of its key, laid out test by test;
    the distance of two directories is ``depth(a) + depth(b) - 2·common``, where
    ``common`` counts the leading path components they share (the root directory is
    one component, ``""``, as ``"".split("/")`` has it).
    """
    empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0))
    keyed = np.flatnonzero(file_key >= 0)
    src = keyed[~file_test[keyed]]
    tst = keyed[file_test[keyed]]
    if not src.size or not tst.size:
        return empty
    # sources grouped by key (ascending file index within a key, as the tie order)
    src = src[np.argsort(file_key[src], kind="stable")]
    n_keys = int(file_key.max()) + 1
    src_start = np.searchsorted(file_key[src], np.arange(n_keys))
    src_count = np.bincount(file_key[src], minlength=n_keys)
    tst = tst[src_count[file_key[tst]] > 0]
    if not tst.size:
        return empty
    per_test = src_count[file_key[tst]]
    chains, depth = _ancestor_chains(dirs)
    # blocks of tests with about _BLOCK_PAIRS candidate pairs each: memory stays bounded
    # even where thousands of tests share a subject with thousands of sources
    ends = np.cumsum(per_test)
    cuts = np.unique(np.searchsorted(ends, np.arange(_BLOCK_PAIRS, int(ends[-1]), _BLOCK_PAIRS), side="right"))
    out = [_closest_in_block(t, src[np.repeat(src_start[file_key[t]], k) + _ramps(k)], k, file_dir, chains, depth)
           for t, k in zip(np.split(tst, cuts), np.split(per_test, cuts)) if t.size]
    return tuple(np.concatenate(part) for part in zip(*out))  # type: ignore[return-value]


#: candidate (test, source) pairs scored at once by :func:`_closest_pairs`
_BLOCK_PAIRS = 1 << 20


def _ramps(lengths: np.ndarray) -> np.ndarray:
    """0, 1, …, n-1 for each n of ``lengths``, concatenated."""
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(int(lengths.sum())) - starts


def _closest_in_block(tst: np.ndarray, pair_src: np.ndarray, per_test: np.ndarray, file_dir: np.ndarray,
                      chains: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_closest_pairs` for tests ``tst`` whose candidates are ``pair_src``
    (``per_test`` of them for each test, in order)."""
    pair_test = np.repeat(np.arange(tst.size), per_test)
    da, db = file_dir[tst][pair_test], file_dir[pair_src]
    common = np.zeros(pair_test.size, dtype=np.int64)
    alive = np.arange(pair_test.size)  # pairs whose directories agree on every level so far
    for level in chains:
        ids = level[da[alive]]
        alive = alive[(ids == level[db[alive]]) & (ids >= 0)]
        if not alive.size:
            break
        common[alive] += 1
    dist = depth[da] + depth[db] - 2 * common
    best = dist == np.minimum.reduceat(dist, np.cumsum(per_test) - per_test)[pair_test]
    ties = np.bincount(pair_test[best], minlength=tst.size)
    return tst[pair_test[best]], pair_src[best], 1.0 / ties[pair_test[best]]


def _ancestor_chains(dirs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(depth levels × dirs matrix of path-prefix ids, -1 below a directory's depth;
    each directory's depth): two directories share their first ``c`` components exactly
    when their ids at level ``c - 1`` are equal.

    A directory's chain is its parent's plus its own id, so each distinct prefix is
    visited once (a tree's directories share most of their ancestors).
    """
    chain_of: dict[str, tuple[int, ...]] = {}
    for d in dirs:
        pending: list[str] = []
        here = d
        while here not in chain_of:
            pending.append(here)
            parent, sep, _comp = here.rpartition("/")
            if not sep:
                break
            here = parent
        for prefix in reversed(pending):
            parent, sep, _comp = prefix.rpartition("/")
            chain_of[prefix] = (*chain_of[parent], len(chain_of)) if sep else (len(chain_of),)
    rows = [chain_of[d] for d in dirs]
    depth = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    width = int(depth.max()) if rows else 0
    chains = np.full((width, len(rows)), -1, dtype=np.int64)
    flat = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=int(depth.sum()))
    level = np.arange(flat.size) - np.repeat(np.cumsum(depth) - depth, depth)
    chains[level, np.repeat(np.arange(len(rows)), depth)] = flat
    return chains, depth


def paired_with(P: sp.spmatrix, seed_weights: np.ndarray) -> np.ndarray:
    """Per file, the strongest pairing to any seed (weighted by the seed's strength).

    Reads only the seeds' columns (fastest when ``P`` is column-compressed): a query
    has a few seeds, and the trainer asks for every query at every parameter point.
    """
    n = P.shape[0]
    seeds = np.flatnonzero(seed_weights > 0)
    if P.nnz == 0 or not seeds.size:
        return np.zeros(n)
    cols = P[:, seeds].tocsc()  # one column per seed
    out = np.zeros(n)
    lens = np.diff(cols.indptr)
    np.maximum.at(out, cols.indices, cols.data * np.repeat(seed_weights[seeds], lens))
    return out
