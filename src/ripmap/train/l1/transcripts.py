"""The exact prompt and reply of every episode, kept in the run folder.

``prompts/episode_NNN.md`` is the prompt as the agent received it, byte for byte (its
SHA-256 is the episode's ``prompt_sha256``), and ``prompts/episode_NNN.reply.md`` the
reply as it came back. A prompt or reply larger than :data:`COMPRESS_OVER` bytes is
written gzipped instead (``.md.gz``), so a long run with big failure tables stays small.
Distillation keeps its prompt and reply the same way (``prompts/distill.md``).

Episodes of a shared study may run on another machine; their prompt travels with the
trial record, gzipped and base64-encoded (:func:`pack`), so every worker's run folder
ends up holding the prompt of every episode.
"""
from __future__ import annotations

import base64
import gzip
from pathlib import Path

from ..files import atomic_write_bytes

PROMPTS_DIR = "prompts"
COMPRESS_OVER = 64 * 1024
"""Bytes above which a transcript file is gzipped."""


def _write(path: Path, text: str) -> None:
    data = text.encode("utf-8")
    if len(data) > COMPRESS_OVER:
        # mtime=0: the same text always gives the same bytes
        atomic_write_bytes(path.with_name(path.name + ".gz"), gzip.compress(data, mtime=0))
        path.unlink(missing_ok=True)
    else:
        atomic_write_bytes(path, data)
        path.with_name(path.name + ".gz").unlink(missing_ok=True)


def _read(path: Path) -> str | None:
    gz = path.with_name(path.name + ".gz")
    if path.is_file():
        return path.read_text(encoding="utf-8")
    if gz.is_file():
        return gzip.decompress(gz.read_bytes()).decode("utf-8")
    return None


def write_transcript(run_dir: str | Path, stem: str, prompt: str, reply: str | None = None) -> None:
    """Keep ``prompt`` (and ``reply``) as ``prompts/<stem>.md`` (``<stem>.reply.md``)."""
    d = Path(run_dir) / PROMPTS_DIR
    _write(d / f"{stem}.md", prompt)
    if reply is not None:
        _write(d / f"{stem}.reply.md", reply)


def read_prompt(run_dir: str | Path, stem: str) -> str | None:
    """The kept prompt ``prompts/<stem>.md`` (plain or gzipped), or None."""
    return _read(Path(run_dir) / PROMPTS_DIR / f"{stem}.md")


def read_reply(run_dir: str | Path, stem: str) -> str | None:
    return _read(Path(run_dir) / PROMPTS_DIR / f"{stem}.reply.md")


def episode_stem(n: int) -> str:
    return f"episode_{n:03d}"


def pack(text: str) -> str:
    """Text as a compact ASCII string for a trial attribute (gzip, then base64)."""
    return base64.b64encode(gzip.compress(text.encode("utf-8"), mtime=0)).decode("ascii")


def unpack(blob: str) -> str:
    return gzip.decompress(base64.b64decode(blob.encode("ascii"))).decode("utf-8")


__all__ = ["COMPRESS_OVER", "PROMPTS_DIR", "episode_stem", "pack", "read_prompt", "read_reply", "unpack",
           "write_transcript"]
