"""Per-file checks: what makes a listed path a mappable file.

A readable regular file within the size limit whose first bytes hold no NUL (git's own
binary test). Symlinks are followed only to files inside the root; loops, dangling
links, directories (submodules) and special files are skipped with a one-line note,
never an exception.
"""
from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping

#: How much of each file the binary check reads; git uses the same window.
BINARY_SNIFF_BYTES = 8192
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0)


def is_binary(head: bytes) -> bool:
    """Whether a file whose first bytes are ``head`` is binary (a NUL within them)."""
    return b"\0" in head[:BINARY_SNIFF_BYTES]


def inspect_file(root: str, path: str, rel: str, max_size: int, notes: list[str],
                 known: Mapping[str, tuple[int, int]] | None = None, sniff: bool = True) -> tuple[int, int] | None:
    """(size, mtime_ns) if ``rel`` is a readable, text, in-limit regular file."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None  # tracked but deleted from the work tree: nothing to map
    except OSError as exc:
        notes.append(f"skipped {rel}: unreadable ({os_reason(exc)})")
        return None
    if stat.S_ISLNK(st.st_mode):
        st = _follow_link(root, rel, path, notes)
        if st is None:
            return None
    if stat.S_ISDIR(st.st_mode):
        # git lists submodules (and symlinks to directories) as single entries
        notes.append(f"skipped {rel}: a directory (submodule or directory link), not descended")
        return None
    if not stat.S_ISREG(st.st_mode):
        # FIFOs and devices: opening one could block forever
        notes.append(f"skipped {rel}: not a regular file")
        return None
    if st.st_size > max_size:
        notes.append(f"skipped {rel}: over the {max_size}-byte size limit")
        return None
    if sniff and st.st_size and (known is None or known.get(rel) != (st.st_size, st.st_mtime_ns)):
        try:
            fd = os.open(path, _OPEN_FLAGS)
            try:
                head = os.read(fd, BINARY_SNIFF_BYTES)
            finally:
                os.close(fd)
        except OSError as exc:
            notes.append(f"skipped {rel}: unreadable ({os_reason(exc)})")
            return None
        if is_binary(head):
            notes.append(f"skipped {rel}: binary")
            return None
    return st.st_size, st.st_mtime_ns


def _follow_link(root: str, rel: str, path: str, notes: list[str]) -> os.stat_result | None:
    """Stat a symlink's target, refusing loops, dangling links and escapes."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            notes.append(f"skipped {rel}: symlink loop")
        elif isinstance(exc, FileNotFoundError):
            notes.append(f"skipped {rel}: broken symlink")
        else:
            notes.append(f"skipped {rel}: unreadable symlink ({os_reason(exc)})")
        return None
    target = os.path.realpath(path)
    if target != root and not target.startswith(root.rstrip(os.sep) + os.sep):
        notes.append(f"skipped {rel}: symlink points outside the root")
        return None
    return st


def os_reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
