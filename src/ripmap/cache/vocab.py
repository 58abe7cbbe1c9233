"""The tokenizer's vocabulary, kept parsed in the cache folder.

Reading the exact tokenizer's vocabulary (100k base64 lines, hash-checked) is most of a
warm map's tokenizer cost, so its parsed form is kept as one file per encoding under
``vocab/`` in the cache folder (:func:`ripmap.cache.paths.cache_base`), shared by every
repository. The file is ``marshal`` of ``(key, digest, payload)``: a file whose key (the
installed packages) or digest does not match is ignored and rewritten, never used.
"""
from __future__ import annotations

import hashlib
import marshal
import os
from collections.abc import Callable
from pathlib import Path

from .paths import cache_base


def vocab_cache_file(encoding: str, cache_dir: Path | None = None) -> Path:
    """Where the parsed vocabulary of ``encoding`` is kept: ``vocab/`` in the cache folder."""
    return cache_base(cache_dir) / "vocab" / f"{encoding}.marshal"


def cached_encoding_kwargs(constructor: Callable[[], dict], key: str, path: Path | None) -> dict:
    """``constructor()`` (an encoding's keyword arguments), kept in ``path`` as
    marshal with a key and a digest: a file whose key or digest does not match (an
    upgraded package, a torn write, tampering) is ignored and rewritten, never used.
    Any trouble with the file only costs the slow path."""
    if path is not None:
        try:
            got_key, digest, payload = marshal.loads(path.read_bytes())
            if got_key == key and hashlib.blake2b(payload, digest_size=16).digest() == digest:
                name, pat_str, ranks, special = marshal.loads(payload)
                return {"name": name, "pat_str": pat_str, "mergeable_ranks": ranks, "special_tokens": special}
        except Exception:
            pass
    kwargs = constructor()
    if path is not None:
        try:
            payload = marshal.dumps((kwargs["name"], kwargs["pat_str"], dict(kwargs["mergeable_ranks"]),
                                     dict(kwargs["special_tokens"])))
            blob = marshal.dumps((key, hashlib.blake2b(payload, digest_size=16).digest(), payload))
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(blob)
            os.replace(tmp, path)
        except Exception:
            pass
    return kwargs
