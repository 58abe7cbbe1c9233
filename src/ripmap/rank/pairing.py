"""Test ↔ source pairing: a test file and the file it tests, found by name.

Commits edit a module and its test together, so when one of them is in the chat (or is
what the task text points at) the other is very likely needed too, even when no
reference connects them (tests often reach the code through a package's public
surface) and even in a young history with no co-change yet.

A file's *subject* is its basename with the test markers of the common conventions
removed: ``test_foo.py``/``foo_test.py``/``tests.py`` (Python), ``foo_test.go`` (Go),
``FooTest.java``/``FooTests.kt``/``FooSpec.scala`` (JVM), ``foo.test.ts``/``foo.spec.js``
(JS/TS), ``foo_spec.rb``/``test_foo.rb`` (Ruby), ``FooTest.php``, ``FooTests.cs``, and any
file under a ``test``/``tests``/``__tests__``/``spec`` directory. A test pairs with the
non-test files of the same subject; when several share it, the ones whose directories
are closest to the test's get the pairing (split among them).
"""
from __future__ import annotations

import posixpath
import re
from typing import Sequence

import numpy as np
import scipy.sparse as sp

_TEST_DIRS = frozenset({"test", "tests", "__tests__", "spec", "specs", "testing", "t"})
_MARKERS = (
    re.compile(r"^test_(.+)$"), re.compile(r"^(.+)_test$"), re.compile(r"^(.+)_tests$"), re.compile(r"^(.+)_spec$"),
    re.compile(r"^(.+)[.-](?:tests?|specs?)$", re.I), re.compile(r"^(.+?)(?:Tests?|Spec|IT)$"), re.compile(r"^Test(.+)$"),
)


def _stem(base: str) -> str:
    dot = base.find(".")  # foo.test.ts → foo.test ; x.d.ts → x
    stem = base[:base.rfind(".")] if base.rfind(".") > 0 else base
    if stem.endswith(".d"):
        stem = stem[:-2]
    return stem if dot > 0 else base


def subject(rel: str) -> tuple[str, bool]:
    """(subject key, is a test file) for one root-relative path."""
    parts = rel.split("/")
    stem = _stem(parts[-1])
    in_test_dir = any(p in _TEST_DIRS for p in parts[:-1])
    for rx in _MARKERS:
        m = rx.match(stem)
        if m and m.group(1):
            return m.group(1).lower().replace("-", "_"), True
    return stem.lower().replace("-", "_"), in_test_dir


def pairing_matrix(files: Sequence[str]) -> sp.csr_matrix:
    """Symmetric files × files matrix: 1/k between a test and each of the k closest
    non-test files of its subject (k ≥ 1); zero elsewhere."""
    n = len(files)
    tests: dict[str, list[int]] = {}
    sources: dict[str, list[int]] = {}
    for i, rel in enumerate(files):
        key, is_test = subject(rel)
        if key in ("", "__init__", "index", "mod", "lib", "main", "conftest", "helpers", "utils", "util", "common"):
            continue
        (tests if is_test else sources).setdefault(key, []).append(i)
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for key, tl in tests.items():
        src = sources.get(key)
        if not src:
            continue
        for t in tl:
            tdir = posixpath.dirname(files[t]).split("/")
            best: list[int] = []
            best_d = None
            for s in src:
                sdir = posixpath.dirname(files[s]).split("/")
                common = 0
                for a, b in zip(tdir, sdir):
                    if a != b:
                        break
                    common += 1
                d = (len(tdir) - common) + (len(sdir) - common)
                if best_d is None or d < best_d:
                    best, best_d = [s], d
                elif d == best_d:
                    best.append(s)
            w = 1.0 / len(best)
            for s in best:
                rows += [t, s]
                cols += [s, t]
                vals += [w, w]
    m = sp.csr_matrix((np.asarray(vals), (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))),
                      shape=(n, n))
    m.sum_duplicates()
    return m


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
