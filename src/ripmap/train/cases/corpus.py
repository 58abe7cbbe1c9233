"""Which repositories to train on: ``--repo PATH``, a ``--corpus`` TOML file, or ``--curated``.

A corpus file lists repositories::

    [[repo]]
    path = "~/src/httpx"            # a local clone, or
    url = "https://github.com/encode/httpx"   # cloned into --clone-dir when missing
    language = "python"
    notes = "HTTP client; clean module boundaries"

``--curated`` is a built-in list of well-known public repositories with long histories
in several languages. They are cloned into ``--clone-dir`` when the network allows; when
it does not, the error says so and how to point ``--repo`` at local clones instead.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ...errors import RipmapError, UsageError
from ..git import GitError, run_git


@dataclass(frozen=True)
class RepoSpec:
    name: str
    path: Path | None = None
    url: str | None = None
    language: str = ""
    notes: str = ""
    commit: str = ""  # the HEAD figures were measured at ("" = whatever is checked out)


CURATED: tuple[RepoSpec, ...] = (
    RepoSpec("httpx", url="https://github.com/encode/httpx", language="python", notes="HTTP client, clean modules"),
    RepoSpec("rich", url="https://github.com/Textualize/rich", language="python", notes="terminal rendering"),
    RepoSpec("flask", url="https://github.com/pallets/flask", language="python", notes="web framework"),
    RepoSpec("ripgrep", url="https://github.com/BurntSushi/ripgrep", language="rust", notes="search tool, workspace crates"),
    RepoSpec("bat", url="https://github.com/sharkdp/bat", language="rust", notes="cat clone"),
    RepoSpec("fzf", url="https://github.com/junegunn/fzf", language="go", notes="fuzzy finder"),
    RepoSpec("bubbletea", url="https://github.com/charmbracelet/bubbletea", language="go", notes="TUI framework"),
    RepoSpec("zod", url="https://github.com/colinhacks/zod", language="typescript", notes="schema validation"),
    RepoSpec("express", url="https://github.com/expressjs/express", language="javascript", notes="web framework"),
)


def load_corpus(path: str | Path) -> list[RepoSpec]:
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise UsageError(f"{p}: cannot read corpus ({e})") from None
    rows = data.get("repo") or data.get("repos")
    if not isinstance(rows, list) or not rows:
        raise UsageError(f"{p}: expected one or more [[repo]] tables")
    out = []
    for i, r in enumerate(rows):
        if not isinstance(r, dict) or not (r.get("path") or r.get("url")):
            raise UsageError(f"{p}: repo #{i + 1} needs a 'path' or a 'url'")
        raw = str(r["path"]) if r.get("path") else None
        if raw is not None and "$" in raw:
            missing = [v for v in ("RIPMAP_CORPUS",) if f"${v}" in raw and v not in os.environ]
            if missing:
                raise UsageError(f"{p}: repo #{i + 1} path {raw!r} needs ${missing[0]} set "
                                 f"(the folder holding the corpus checkouts)")
        path = Path(os.path.expanduser(os.path.expandvars(raw))) if raw is not None else None
        if path is not None and not path.is_absolute():
            path = (p.parent / path).resolve()
        url = str(r["url"]) if r.get("url") else None
        name = str(r.get("name") or (path.name if path else url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")))
        out.append(RepoSpec(name, path, url, str(r.get("language", "")), str(r.get("notes", "")),
                            str(r.get("commit", ""))))
    return out


def ensure_local(spec: RepoSpec, clone_dir: str | Path, *, depth: int = 2000) -> Path:
    """A local clone for ``spec``: its path, or a clone of its URL into ``clone_dir``."""
    if spec.path is not None:
        if not (spec.path / ".git").exists():
            raise UsageError(f"{spec.path}: not a git repository")
        return spec.path
    assert spec.url is not None
    dest = Path(clone_dir) / spec.name
    if (dest / ".git").exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        run_git(None, "clone", "--quiet", f"--depth={depth}", spec.url, str(dest), timeout=600)
    except GitError as e:
        raise RipmapError(f"cannot clone {spec.url} ({e.detail}); without network access, clone the repositories "
                          f"elsewhere and pass them with --repo PATH or a --corpus file") from None
    return dest
