"""Named numpy arrays in one file: each in numpy's own ``.npy`` format, one after another.

What ``np.savez`` / ``np.load`` give, without the zip archive around the arrays. Python's
``zipfile`` reads a member a chunk at a time and checksums every chunk, and each chunk lets
the GIL go and takes it back. The cache's large blobs are read on a thread beside the main
thread's Python work (a 70,000-file tree's graph is 140 MB, read while the tree is listed
after an edit); beside a busy thread every take-back waits out the other thread's switch
interval, and the graph's read took 12 s instead of 0.1 s alone. Here an array stored in a
real file is one ``numpy.fromfile`` (a single read with the GIL let go), and a whole blob lets
the GIL go a few dozen times: the same read beside a busy thread takes 0.4 s
(``bench/blobs.py``).

The layout: :data:`MAGIC`, then per array its name (a little-endian ``uint16`` length and
UTF-8 bytes) and its ``.npy`` record, then a zero length. Object arrays are refused both
ways (``allow_pickle=False``), as ``np.load`` is told to do.
"""
from __future__ import annotations

import io
import struct
from collections.abc import Iterator, Mapping
from typing import BinaryIO

import numpy as np
from numpy.lib import format as npy

#: the first bytes of such a file (``.npz`` files start with ``PK``: an older blob is not read)
MAGIC = b"\x93RIPMAP-ARRAYS\x01\n"
_LEN = struct.Struct("<H")


def save_arrays(fh: BinaryIO, **arrays: np.ndarray) -> None:
    """Write ``arrays`` (name → array) to ``fh``, an open binary file or buffer."""
    fh.write(MAGIC)
    for name, a in arrays.items():
        key = name.encode("utf-8")
        if not 0 < len(key) < 1 << 16:
            raise ValueError(f"array name of {len(key)} bytes")
        fh.write(_LEN.pack(len(key)) + key)
        npy.write_array(fh, np.asanyarray(a), allow_pickle=False)
    fh.write(_LEN.pack(0))


class Arrays(Mapping):
    """What :func:`load_arrays` read: a mapping of name → array, with ``files`` (the
    names in order) and a ``with`` block, as ``np.load``'s ``NpzFile`` has."""

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self._arrays = arrays
        self.files = list(arrays)

    def __getitem__(self, name: str) -> np.ndarray:
        return self._arrays[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __len__(self) -> int:
        return len(self._arrays)

    def __enter__(self) -> "Arrays":
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def load_arrays(src: bytes | bytearray | memoryview | BinaryIO) -> Arrays:
    """Every array :func:`save_arrays` wrote to ``src`` (bytes or a binary file read from
    where it stands). ``ValueError`` for anything else: another format, a truncated or
    damaged file (the cache then rebuilds what it held)."""
    fh = io.BytesIO(src) if isinstance(src, (bytes, bytearray, memoryview)) else src
    if fh.read(len(MAGIC)) != MAGIC:
        raise ValueError("not a ripmap arrays file")
    out: dict[str, np.ndarray] = {}
    while True:
        head = fh.read(_LEN.size)
        if len(head) != _LEN.size:
            raise ValueError("arrays file cut short")
        n = _LEN.unpack(head)[0]
        if n == 0:
            return Arrays(out)
        key = fh.read(n)
        if len(key) != n:
            raise ValueError("arrays file cut short")
        try:
            out[key.decode("utf-8")] = npy.read_array(fh, allow_pickle=False)
        except (EOFError, OSError, UnicodeDecodeError) as e:
            raise ValueError(f"damaged arrays file: {e}") from e
