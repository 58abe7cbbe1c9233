"""cache/arrays.py: named arrays stored as .npy records one after another."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from ripmap.cache.arrays import MAGIC, load_arrays, save_arrays


def _sample() -> dict[str, np.ndarray]:
    return {
        "version": np.array("7"),
        "ints": np.arange(100_000, dtype=np.int32),
        "floats": np.linspace(0, 1, 17),
        "grid": np.arange(12, dtype=np.int64).reshape(3, 4),
        "empty": np.zeros(0, dtype=np.float32),
        "text": np.frombuffer("a\nb\nnaïve".encode("utf-8"), dtype=np.uint8),
        "flag": np.array(True),
        "wörter": np.array(["x", "yz"]),
    }


def _same(got, want: dict[str, np.ndarray]) -> None:
    assert got.files == list(want)
    for k, v in want.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape and np.array_equal(got[k], v), k


def test_arrays_come_back_from_bytes_and_from_a_file(tmp_path: Path) -> None:
    want = _sample()
    buf = io.BytesIO()
    save_arrays(buf, **want)
    assert buf.getvalue().startswith(MAGIC)
    with load_arrays(buf.getvalue()) as z:
        _same(z, want)
    f = tmp_path / "a.blob"
    with open(f, "wb") as fh:
        fh.write(b"")
        save_arrays(fh, **want)
    with open(f, "rb") as fh:
        z = load_arrays(fh)
        assert fh.read() == b""  # read to the end marker and no further
    _same(z, want)
    assert "ints" in z and "nothing" not in z and len(z) == len(want)


def test_anything_else_is_a_value_error(tmp_path: Path) -> None:
    buf = io.BytesIO()
    save_arrays(buf, a=np.arange(1000, dtype=np.int64), b=np.ones(3))
    good = buf.getvalue()
    npz = io.BytesIO()
    np.savez(npz, a=np.arange(3))
    for bad in (b"", npz.getvalue(), good[:len(MAGIC) + 1], good[: len(good) // 2], good[:-2]):
        with pytest.raises(ValueError):
            load_arrays(bad)
    f = tmp_path / "cut.blob"
    f.write_bytes(good[: len(good) // 2])  # a real file read with numpy.fromfile, cut short
    with open(f, "rb") as fh, pytest.raises(ValueError):
        load_arrays(fh)


def test_object_arrays_are_refused_both_ways() -> None:
    with pytest.raises(ValueError):
        save_arrays(io.BytesIO(), x=np.array([{"a": 1}], dtype=object))
    buf = io.BytesIO()
    buf.write(MAGIC + b"\x01\x00x")
    np.lib.format.write_array(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    buf.write(b"\x00\x00")
    with pytest.raises(ValueError):
        load_arrays(buf.getvalue())
