"""Promptgrams: the L1 prompt as a small program of named Markdown sections.

A promptgram is a Markdown file whose ``## `` headings split it into sections. Four are
required: ``Role`` (who the agent is), ``Policy`` (what to do in which trajectory
state), ``Heuristics`` (domain knowledge) and ``Style`` (how to answer). Keeping them
separate is what lets the L2 loop edit one section (say, append a heuristic) without
rewriting the others, and lets a person diff two promptgrams section by section.

The output protocol is *not* part of a promptgram. A file may still contain
``## API_contract`` / ``## Output_schema`` sections (older files did); they are
stripped on load and reported in :attr:`Promptgram.stripped`, and the shipped protocol
is appended at run time by :mod:`ripmap.train.l1.protocol`.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ...errors import UsageError
from .protocol import PROTOCOL_SECTIONS

REQUIRED_SECTIONS: tuple[str, ...] = ("Role", "Policy", "Heuristics", "Style")

DEFAULT_NAME = "inner_default.md"
_HEADING = re.compile(r"^##[ \t]+(.+?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^[ \t]*(```|~~~)")


def _key(name: str) -> str:
    """Section identity: case, spaces and underscores do not matter (``Output schema`` == ``Output_schema``)."""
    return re.sub(r"[\s_]+", "_", name.strip()).lower()


_PROTOCOL_KEYS = {_key(s) for s in PROTOCOL_SECTIONS}


@dataclass(frozen=True)
class Promptgram:
    """A parsed promptgram: a preamble (text before the first section) and ordered sections."""

    sections: tuple[tuple[str, str], ...]
    preamble: str = ""
    source: str = "<text>"
    stripped: tuple[str, ...] = field(default=())
    """Protocol sections found in the file and dropped (for a warning, never used)."""

    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.sections)

    def section(self, name: str) -> str:
        for n, body in self.sections:
            if _key(n) == _key(name):
                return body
        raise KeyError(name)

    def with_section(self, name: str, body: str) -> "Promptgram":
        """A copy with one section replaced (or appended if absent). Protocol names are refused."""
        if _key(name) in _PROTOCOL_KEYS:
            raise UsageError(f"section '{name}' belongs to the output protocol and cannot be set by a promptgram")
        out, found = [], False
        for n, b in self.sections:
            if _key(n) == _key(name):
                out.append((n, body.strip()))
                found = True
            else:
                out.append((n, b))
        if not found:
            out.append((name.strip(), body.strip()))
        return Promptgram(tuple(out), self.preamble, self.source, self.stripped)

    def render(self) -> str:
        """Markdown text: the preamble, then each section as ``## Name`` and its body."""
        parts = [self.preamble.strip()] if self.preamble.strip() else []
        for n, body in self.sections:
            parts.append(f"## {n}\n\n{body.strip()}" if body.strip() else f"## {n}")
        return "\n\n".join(parts) + "\n"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.render().encode("utf-8")).hexdigest()


def parse_promptgram(text: str, source: str = "<text>") -> Promptgram:
    """Split Markdown into ``## `` sections, drop protocol sections, check the required ones.

    Headings inside fenced code blocks are ignored, so a promptgram may quote Markdown.
    Raises :class:`UsageError` naming the file and the missing sections.
    """
    preamble: list[str] = []
    sections: list[tuple[str, list[str]]] = []
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        m = None if in_fence else _HEADING.match(line)
        if m:
            sections.append((m.group(1).strip(), []))
        elif sections:
            sections[-1][1].append(line)
        else:
            preamble.append(line)
    kept: list[tuple[str, str]] = []
    stripped: list[str] = []
    seen: set[str] = set()
    for name, lines in sections:
        k = _key(name)
        if k in _PROTOCOL_KEYS:
            stripped.append(name)
            continue
        if k in seen:
            raise UsageError(f"promptgram {source}: section '## {name}' appears twice")
        seen.add(k)
        kept.append((name, "\n".join(lines).strip()))
    missing = [s for s in REQUIRED_SECTIONS if _key(s) not in seen]
    if missing:
        raise UsageError(f"promptgram {source}: missing section(s) {', '.join('## ' + s for s in missing)} "
                         f"(a promptgram needs {', '.join('## ' + s for s in REQUIRED_SECTIONS)})")
    return Promptgram(tuple(kept), "\n".join(preamble).strip(), source, tuple(stripped))


def default_promptgram_text() -> str:
    return resources.files("ripmap.train").joinpath(f"prompts/{DEFAULT_NAME}").read_text(encoding="utf-8")


LIBRARY_DIR = Path("training-outer") / "prompts" / "inner"
"""Where the outer loop (L2) writes its promptgram versions (``inner_v001.md``, ...), relative to the working directory."""
INSTALLED_ENV = "RIPMAP_PROMPTGRAM_DIR"
"""Overrides the folder of installed promptgrams (tests use it)."""
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def installed_dir() -> Path:
    """Where ``ripmap-train-outer --install`` puts promptgrams, so ``--prompt NAME`` finds them from anywhere."""
    env = os.environ.get(INSTALLED_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("ripmap")) / "promptgrams"


def resolve_promptgram(ref: str | Path) -> Path:
    """The file a ``--prompt`` value names: a path, else a version or installed name.

    A bare name (``inner_v003``, or a name given to ``--install``) is looked up as
    ``NAME.md`` in :data:`LIBRARY_DIR` (the outer loop's versions, under the working
    directory) and then in :func:`installed_dir`. That is how an evolved promptgram becomes
    the one later L1 runs use."""
    p = Path(ref).expanduser()
    if p.is_file():
        return p
    name = str(ref)
    if _NAME.fullmatch(name):
        stem = name[:-3] if name.endswith(".md") else name
        where = [LIBRARY_DIR, installed_dir()]
        for d in where:
            if (d / f"{stem}.md").is_file():
                return d / f"{stem}.md"
        raise UsageError(f"promptgram {name}: no such file, and no promptgram '{stem}' in "
                         f"{' or '.join(str(d) for d in where)}")
    return p  # a path that does not exist: reading it says so


def load_promptgram(path: str | Path | None = None) -> Promptgram:
    """The promptgram ``--prompt`` names (a file, a version such as ``inner_v003``, an
    installed name), or the shipped default when None."""
    if path is None:
        return parse_promptgram(default_promptgram_text(), source=f"(default) {DEFAULT_NAME}")
    p = resolve_promptgram(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise UsageError(f"promptgram {p}: cannot read ({e.strerror or e})") from None
    return parse_promptgram(text, source=str(p))
