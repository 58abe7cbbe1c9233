"""Paths split once into directory and name, each interned.

Most of what discovery decides about a path depends on its directory (vendor trees,
fixture and test directories, stub trees) or on its name (lock files, languages, test
and generator naming conventions), and a big tree repeats both: the 70,000 files of
the scale benchmark sit in 11,000 directories under 5,000 names. A :class:`PathTable`
lets each rule be asked once per directory or per name and spread to the files with
one numpy gather, instead of a Python call per file.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import count

import numpy as np


@dataclass(frozen=True)
class PathTable:
    """``rels`` with, per path, the index of its directory in ``dirs`` and of its name
    in ``names`` (``"a/b/c.py"`` → ``"a/b"``, ``"c.py"``; a root-level file's directory
    is ``""``). ``dirs`` and ``names`` hold each distinct value once, in order of first
    appearance."""

    rels: Sequence[str]
    dir_of: np.ndarray  # int64, one per path
    name_of: np.ndarray  # int64, one per path
    dirs: list[str]
    names: list[str]

    @classmethod
    def of(cls, rels: Sequence[str]) -> PathTable:
        dir_of, dirs = _interned([r.rpartition("/")[0] for r in rels])
        name_of, names = _interned([r.rpartition("/")[2] for r in rels])
        return cls(rels, dir_of, name_of, dirs, names)

    def take(self, index: np.ndarray) -> PathTable:
        """The paths at ``index`` (same directory and name tables)."""
        return PathTable([self.rels[i] for i in index.tolist()], self.dir_of[index], self.name_of[index],
                         self.dirs, self.names)

    def first_of_name(self) -> np.ndarray:
        """Per name, the index of the first path that has it (-1 if none does any more)."""
        first = np.full(len(self.names), -1, dtype=np.int64)
        present, at = np.unique(self.name_of, return_index=True)
        first[present] = at
        return first


def _interned(values: list[str]) -> tuple[np.ndarray, list[str]]:
    """(per value its index among the distinct values, the distinct values in order of
    first appearance): one dictionary pass in C, no Python code per value."""
    first: dict[str, int] = {}
    at = np.fromiter(map(first.setdefault, values, count()), dtype=np.int64, count=len(values))
    starts = np.fromiter(first.values(), dtype=np.int64, count=len(first))
    dense = np.empty(len(values), dtype=np.int64)
    dense[starts] = np.arange(starts.size)
    return dense[at], list(first)
