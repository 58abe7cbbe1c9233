"""Promptgram versions: ``training-outer/prompts/inner/inner_vNNN.md`` and their ``.toml``.

Every promptgram L2 produces is kept as a numbered version next to its metadata: the
parent it was edited from, the edits, L2's rationale, where it came from (run, outer
step, agent) and every inner run made with it and its score. ``inner_v001.md`` is the
shipped default promptgram. A version's text never changes once written; only its
``runs`` grow.

The folder is shared by every outer run (the seeds' layout), so a version number is
claimed by creating its ``.md`` exclusively (two runs can never write the same number),
and the ``.toml`` is rewritten under a lock. Creating a child is idempotent per (run,
outer step): a run killed after writing a version and before recording its step finds
the version again on resume instead of writing a duplicate.
"""
from __future__ import annotations

import contextlib
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from ...errors import RipmapError, UsageError
from ..files import atomic_write_text
from ..l1.promptgram import DEFAULT_NAME, Promptgram, default_promptgram_text, parse_promptgram
from ..numbers import utc_now
from .edits import Edit
from .toml_out import dumps

PREFIX = "inner_v"
VERSION_RE = re.compile(r"inner_v(\d{3,})")
LOCK = ".lock"


def version_name(n: int) -> str:
    return f"{PREFIX}{n:03d}"


def version_number(name: str) -> int:
    m = VERSION_RE.fullmatch(name)
    if not m:
        raise UsageError(f"'{name}' is not a promptgram version name (inner_vNNN)")
    return int(m.group(1))


@dataclass(frozen=True)
class VersionRun:
    """One inner run made with a version: where, and its figures (score: what selection uses)."""

    run: str
    outer_step: int
    inner_run: str
    score: float | None
    train: float | None
    validation: float | None
    start_train: float | None
    episodes: int

    def to_dict(self) -> dict[str, Any]:
        return {"run": self.run, "outer_step": self.outer_step, "inner_run": self.inner_run, "score": self.score,
                "train": self.train, "validation": self.validation, "start_train": self.start_train,
                "episodes": self.episodes}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "VersionRun":
        def num(k: str) -> float | None:
            v = d.get(k)
            return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None

        return cls(str(d.get("run", "")), int(d.get("outer_step") or 0), str(d.get("inner_run", "")), num("score"),
                   num("train"), num("validation"), num("start_train"), int(d.get("episodes") or 0))


@dataclass(frozen=True)
class Version:
    """A promptgram version and its metadata."""

    name: str
    path: Path
    parent: str | None
    sha256: str
    created: str = ""
    origin: Mapping[str, Any] = field(default_factory=dict)
    rationale: str = ""
    edits: tuple[Edit, ...] = ()
    runs: tuple[VersionRun, ...] = ()

    @property
    def meta_path(self) -> Path:
        return self.path.with_suffix(".toml")

    def promptgram(self) -> Promptgram:
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as e:
            raise RipmapError(f"promptgram {self.path}: cannot read ({e.strerror or e})") from None
        return parse_promptgram(text, source=str(self.path))

    def scores(self, run: str | None = None) -> list[float]:
        return [r.score for r in self.runs if r.score is not None and (run is None or r.run == run)]

    def to_toml(self) -> str:
        scores = self.scores()
        return dumps({
            "version": self.name, "parent": self.parent, "created": self.created, "sha256": self.sha256,
            "rationale": self.rationale or None,
            "origin": dict(self.origin) or None,
            "scores": {"runs": len(self.runs), "mean": sum(scores) / len(scores) if scores else None,
                       "best": max(scores) if scores else None},
            "edits": [e.to_dict() for e in self.edits],
            "runs": [{k: v for k, v in r.to_dict().items() if v is not None} for r in self.runs],
        })


class PromptLibrary:
    """The folder of promptgram versions (``training-outer/prompts/inner``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # -- reading ------------------------------------------------------------------------
    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        found = [p.stem for p in self.root.glob(f"{PREFIX}*.md") if VERSION_RE.fullmatch(p.stem)]
        return sorted(found, key=version_number)

    def path(self, name: str) -> Path:
        version_number(name)
        return self.root / f"{name}.md"

    def get(self, name: str) -> Version:
        p = self.path(name)
        if not p.is_file():
            raise UsageError(f"no promptgram version {name} in {self.root}")
        meta: dict[str, Any] = {}
        mp = p.with_suffix(".toml")
        if mp.is_file():
            try:
                meta = tomllib.loads(mp.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError) as e:
                raise RipmapError(f"{mp}: unreadable version metadata ({e})") from None
        sha = str(meta.get("sha256") or "") or parse_promptgram(p.read_text(encoding="utf-8"), source=str(p)).sha256
        return Version(name=name, path=p, parent=meta.get("parent") or None, sha256=sha,
                       created=str(meta.get("created") or ""), origin=dict(meta.get("origin") or {}),
                       rationale=str(meta.get("rationale") or ""),
                       edits=tuple(Edit.from_dict(e) for e in meta.get("edits") or () if isinstance(e, Mapping)),
                       runs=tuple(VersionRun.from_dict(r) for r in meta.get("runs") or () if isinstance(r, Mapping)))

    def versions(self) -> list[Version]:
        return [self.get(n) for n in self.names()]

    # -- writing ------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / LOCK, "a+") as fh:
            try:
                import fcntl

                fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            except ImportError:  # pragma: no cover - Windows: one outer run at a time
                pass
            yield

    def _write_meta(self, v: Version) -> None:
        atomic_write_text(v.meta_path, v.to_toml())

    def _claim(self, text: str) -> tuple[str, Path]:
        """Write ``text`` as the next free version number (exclusive create: never two writers)."""
        n = max([version_number(x) for x in self.names()], default=0) + 1
        while True:
            p = self.path(version_name(n))
            try:
                fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                n += 1
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            return version_name(n), p

    def _new(self, pg: Promptgram, text: str, *, parent: str | None, origin: Mapping[str, Any],
             rationale: str = "", edits: Sequence[Edit] = ()) -> Version:
        with self._locked():
            name, p = self._claim(text)
            v = Version(name=name, path=p, parent=parent, sha256=pg.sha256, created=utc_now(), origin=dict(origin),
                        rationale=rationale, edits=tuple(edits))
            self._write_meta(v)
            return v

    def ensure_default(self) -> Version:
        """The version holding the shipped default promptgram: ``inner_v001`` in a new folder;
        a later version when the shipped default has changed since the folder was made."""
        text = default_promptgram_text()
        pg = parse_promptgram(text, source=f"(default) {DEFAULT_NAME}")
        for v in self.versions():
            if v.parent is None and v.sha256 == pg.sha256:
                return v
        return self._new(pg, text, parent=None, origin={"source": f"shipped default ({DEFAULT_NAME})"})

    def ensure_file(self, path: Path) -> Version:
        """The version holding the promptgram file ``path`` (a new root version if no version has its text)."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise UsageError(f"promptgram {path}: cannot read ({e.strerror or e})") from None
        pg = parse_promptgram(text, source=str(path))
        for v in self.versions():
            if v.sha256 == pg.sha256:
                return v
        return self._new(pg, pg.render(), parent=None, origin={"source": str(Path(path).resolve())})

    def add_child(self, parent: Version, child: Promptgram, *, edits: Sequence[Edit], rationale: str,
                  run: str, outer_step: int, agent: str) -> Version:
        """Write ``child`` as a new version of ``parent``, or return the one this (run, outer
        step) already wrote (a resumed step)."""
        for v in self.versions():
            o = v.origin
            if o.get("run") == run and o.get("outer_step") == outer_step and v.parent == parent.name:
                return v
        return self._new(child, child.render(), parent=parent.name,
                         origin={"run": run, "outer_step": outer_step, "agent": agent}, rationale=rationale,
                         edits=edits)

    def record_run(self, name: str, run: VersionRun) -> Version:
        """Add (or replace: a resumed step) the record of an inner run made with version ``name``."""
        with self._locked():
            v = self.get(name)
            runs = [r for r in v.runs if (r.run, r.outer_step) != (run.run, run.outer_step)] + [run]
            runs.sort(key=lambda r: (r.run, r.outer_step))
            v = Version(v.name, v.path, v.parent, v.sha256, v.created, v.origin, v.rationale, v.edits, tuple(runs))
            self._write_meta(v)
            return v


def lineage(versions: Mapping[str, Version], name: str) -> list[str]:
    """``name`` and its ancestors, root first."""
    out: list[str] = []
    cur: str | None = name
    while cur is not None and cur not in out:
        out.append(cur)
        v = versions.get(cur)
        cur = v.parent if v is not None else None
    return out[::-1]


__all__ = ["PREFIX", "PromptLibrary", "Version", "VersionRun", "lineage", "version_name", "version_number"]
