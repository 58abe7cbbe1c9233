"""The vocabulary of file classes: what kind of file, besides "code someone wrote here".

Discovery decides which class a file is in (from its path, ``.gitattributes`` and its
first lines); ranking decides what a class is worth (one weight per class in the
parameter registry). Both sides need the same names for the bits and nothing else of
each other, so the vocabulary lives here on its own, like :class:`~ripmap.extract.tags.Tag`
between extraction and the graph.

A file may be in several classes at once (a ``.pyi`` stub under ``test-data/`` is a
fixture *and* a stub); ``0`` means ordinary code.
"""
from __future__ import annotations

import enum


class FileClass(enum.IntFlag):
    """One bit per class; a file's flags are the OR of its classes."""

    VENDOR = 1  # third-party code copied in (vendor/, external/, typeshed, linguist-vendored)
    GENERATED = 2  # written by a tool (protobuf outputs, "DO NOT EDIT" headers, minified)
    FIXTURE = 4  # test data and samples (fixtures/, testdata/, test-data/, samples/)
    STUB = 8  # type stubs with no implementation beside them (.pyi, .d.ts trees)
    DOCS = 16  # documentation (markdown, docs/, linguist-documentation)
    TEST = 32  # tests (tests/, test_*.py, *Test.java, *.spec.ts, ...)


#: Every class in display order (the order of the bits).
ALL: tuple[FileClass, ...] = tuple(FileClass)


def class_labels(flags: int) -> tuple[str, ...]:
    """The lower-case names of the classes set in ``flags`` (empty for ordinary code)."""
    return tuple(c.name.lower() for c in ALL if flags & c)  # type: ignore[union-attr]
