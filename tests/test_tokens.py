"""The exact tokenizer's vocabulary cache: used when sound, rebuilt when not."""
from __future__ import annotations

import marshal
from pathlib import Path

from ripmap.cache.vocab import cached_encoding_kwargs, vocab_cache_file
from ripmap.render.tokens import default_counter


def _constructor(calls: list[int]):
    def make() -> dict:
        calls.append(1)
        return {"name": "toy", "pat_str": r"\w+|\s+", "mergeable_ranks": {b"a": 0, b"b": 1, b"ab": 2},
                "special_tokens": {"<|end|>": 3}}
    return make


def test_second_load_comes_from_the_file(tmp_path: Path) -> None:
    calls: list[int] = []
    path = tmp_path / "vocab" / "toy.marshal"
    first = cached_encoding_kwargs(_constructor(calls), "k1", path)
    assert path.is_file() and calls == [1]
    second = cached_encoding_kwargs(_constructor(calls), "k1", path)
    assert calls == [1]  # not rebuilt
    assert second == first
    assert second["mergeable_ranks"][b"ab"] == 2 and second["special_tokens"] == {"<|end|>": 3}


def test_other_key_rebuilds_and_rewrites(tmp_path: Path) -> None:
    calls: list[int] = []
    path = tmp_path / "toy.marshal"
    cached_encoding_kwargs(_constructor(calls), "old-version", path)
    cached_encoding_kwargs(_constructor(calls), "new-version", path)
    assert calls == [1, 1]
    assert marshal.loads(path.read_bytes())[0] == "new-version"
    cached_encoding_kwargs(_constructor(calls), "new-version", path)
    assert calls == [1, 1]


def test_corrupt_or_tampered_file_is_never_trusted(tmp_path: Path) -> None:
    calls: list[int] = []
    path = tmp_path / "toy.marshal"
    path.write_bytes(b"\x00garbage")
    got = cached_encoding_kwargs(_constructor(calls), "k", path)
    assert calls == [1] and got["name"] == "toy"
    # a payload edited without its digest: ignored, rebuilt from the constructor
    key, digest, payload = marshal.loads(path.read_bytes())
    forged = marshal.dumps(("toy", r"\w+", {b"zz": 0}, {}))
    path.write_bytes(marshal.dumps((key, digest, forged)))
    got = cached_encoding_kwargs(_constructor(calls), "k", path)
    assert calls == [1, 1] and got["mergeable_ranks"] == {b"a": 0, b"b": 1, b"ab": 2}


def test_unwritable_cache_only_costs_the_slow_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    calls: list[int] = []
    got = cached_encoding_kwargs(_constructor(calls), "k", blocker / "sub" / "toy.marshal")
    assert got["name"] == "toy" and calls == [1]


def test_vocab_file_lives_in_the_cache_folder(tmp_path: Path) -> None:
    assert vocab_cache_file("toy", tmp_path) == tmp_path / "vocab" / "toy.marshal"


def test_forced_estimate_is_the_estimator() -> None:
    assert default_counter("estimate").name == "estimate"
