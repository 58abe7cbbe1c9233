"""Continuing a run: its ``config.json`` is the source of truth.

A run is continued by running ``search`` again with the same ``--run-name``, by
``reason --resume``, or by a second worker joining a shared study (``--storage``). Before
anything is mined, the command line is reconciled with what the run was started with:

* an option left out takes the run's value: the repositories (and which are held out,
  or the case file), the mining settings, the failure threshold, the strategy, seed and
  searched parameters, the agent, its model and endpoint, the promptgram's confidence
  threshold, the budget (``--budget`` / ``--episodes``);
* an option given with another value is refused with one line (exit 2): resuming with
  another ``--repo``, another ``--prompt`` or another ``--agent`` would silently mix two
  runs in one record. The budget is the exception: a larger one extends a finished run.

This module reads the argparse namespace (and fills it in); everything after it sees
ordinary options.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from ..errors import UsageError
from .files import read_json

CONFIG = "config.json"
MINING = ("snapshot_back", "max_commits", "min_files", "max_files", "tasks", "holdout")
REPO_OPTIONS = ("repo", "corpus", "curated", "cases", "holdout_repo")
_NO = object()


def given(a: argparse.Namespace, dest: str) -> bool:
    """Whether the command line set ``dest`` (the parser records which options it saw;
    a namespace built by hand counts every value that is set)."""
    seen = getattr(a, "given", None)
    if seen is not None:
        return dest in seen
    v = getattr(a, dest, None)
    return v not in (None, False, [], ())


@dataclass(frozen=True)
class Option:
    """One scalar option a run records: its namespace name, its flag, where config.json keeps
    it, how a command-line value is put in the config's terms, and whether a different
    value may override the recorded one (a budget may grow) instead of being refused."""

    dest: str
    flag: str
    key: tuple[str, ...]
    norm: Callable[[Any], Any] = lambda v: v
    override: bool = False

    def recorded(self, cfg: Mapping[str, Any]) -> Any:
        v: Any = cfg
        for k in self.key:
            if not isinstance(v, Mapping) or k not in v:
                return _NO
            v = v[k]
        return v


def _params_list(v: Any) -> Any:
    if isinstance(v, str):
        return [x.strip() for x in v.split(",") if x.strip()] or None
    return list(v) if v else None


def _tasks(v: Any) -> Any:
    return list(v) if v else None


_COMMON = (
    *(Option(k, "--" + k.replace("_", "-"), ("mining", k), _tasks if k == "tasks" else (lambda v: v))
      for k in MINING),
    Option("failure_threshold", "--failure-threshold", ("failure_threshold",), float),
    Option("history", "--history", ("history",)),
    Option("seed", "--seed", ("seed",), int),
)
SEARCH = (*_COMMON,
          Option("strategy", "--strategy", ("strategy",)),
          Option("search_params", "--search-params", ("search_params",), _params_list),
          Option("budget", "--budget", ("budget",), int, override=True))
REASON = (*_COMMON,
          Option("agent", "--agent", ("agent_spec",)),
          Option("model", "--model", ("model",)),
          Option("min_confidence", "--min-confidence", ("min_confidence",), float),
          Option("timeout", "--timeout", ("timeout",), float, override=True),
          Option("agentic", "--agentic", ("agentic",), bool, override=True),
          Option("episodes", "--episodes", ("episodes",), int, override=True))


def run_to_continue(a: argparse.Namespace, command: str) -> Path | None:
    """The folder of the run this command continues, or None when it starts a new one.

    ``search`` continues a named run that exists; ``reason`` one named with ``--resume``,
    or joined on a shared study (``--storage``). ``reason`` on an existing run without
    either is refused here, before any mining.
    """
    name = getattr(a, "run_name", None)
    if not name or getattr(a, "replay", None):
        return None
    d = Path(getattr(a, "out", None) or "training/runs") / name
    if not (d / CONFIG).is_file():
        return None
    if command == "reason" and not (getattr(a, "resume", False) or getattr(a, "storage", None)):
        from .l1.scratchpad import SCRATCHPAD

        if (d / SCRATCHPAD).is_file():
            raise UsageError(f"run '{name}' already exists in {d.parent}; use --resume to continue it or choose "
                             f"another --run-name")
        return None
    return d


def _repo_ids(rows: Any, held: bool, by_root: bool) -> list[str]:
    return sorted(str(r.get("root") if by_root else r.get("name")) for r in rows or ()
                  if isinstance(r, Mapping) and bool(r.get("held_out")) == held)


def _describe(rows: Any) -> str:
    train = [str(r.get("name")) for r in rows or () if isinstance(r, Mapping) and not r.get("held_out")]
    held = [str(r.get("name")) for r in rows or () if isinstance(r, Mapping) and r.get("held_out")]
    return ", ".join(train) + (f" (held out: {', '.join(held)})" if held else "")


def reconcile(a: argparse.Namespace, run_dir: Path, command: str,
              requested: Callable[[], Mapping[str, Any]]) -> None:
    """Fill ``a`` from the run's config.json, or raise one :class:`UsageError` line naming
    every option given with a value that contradicts it. ``requested`` gives the sources
    (repositories, held-out, mining) the command line asks for; called only when it names
    repositories."""
    cfg = read_json(run_dir / CONFIG)
    if not isinstance(cfg, dict):
        return
    name = run_dir.name
    conflicts: list[str] = []
    rows = cfg.get("repos")
    if any(given(a, o) for o in REPO_OPTIONS):
        mine = requested().get("repos") or []
        by_root = all(isinstance(r, Mapping) and r.get("root") for r in [*(rows or []), *mine])
        if any(_repo_ids(rows, h, by_root) != _repo_ids(mine, h, by_root) for h in (False, True)):
            conflicts.append(f"repositories {_describe(rows)}, not {_describe(mine)}")
    else:
        opts = cfg.get("repo_options")
        if not isinstance(opts, Mapping):
            raise UsageError(f"run '{name}': its config.json does not say where its repositories are (written by an "
                             f"older ripmap); give them again with --repo PATH")
        for k in REPO_OPTIONS:
            if k in opts:
                setattr(a, k, opts[k])
    for opt in SEARCH if command == "search" else REASON:
        rec = opt.recorded(cfg)
        if rec is _NO or rec is None and opt.dest not in ("model", "search_params"):
            continue
        if given(a, opt.dest):
            mine = opt.norm(getattr(a, opt.dest))
            if mine != rec and not opt.override:
                conflicts.append(f"{opt.flag} {_show(rec)}, not {_show(mine)}")
        else:
            setattr(a, opt.dest, ",".join(rec) if opt.dest == "search_params" and rec else rec)
    if command == "reason":
        conflicts += _reason_conflicts(a, cfg, run_dir)
    _storage(a, cfg, run_dir)
    if conflicts:
        raise UsageError(f"run '{name}' was started with {'; '.join(conflicts)}: leave these options out to continue "
                         f"it as it was started, or choose another --run-name")


def _show(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return ",".join(str(x) for x in v) or "(none)"
    return "(none)" if v is None else str(v)


def _reason_conflicts(a: argparse.Namespace, cfg: Mapping[str, Any], run_dir: Path) -> list[str]:
    """The agent's endpoint and the promptgram, which config.json keeps in their own terms."""
    from .l1.promptgram import load_promptgram
    from .l1.strategy import sanitize_url

    out: list[str] = []
    if given(a, "base_url") and "base_url" in cfg and sanitize_url(a.base_url) != cfg.get("base_url"):
        out.append(f"--base-url {_show(cfg.get('base_url'))}, not {_show(sanitize_url(a.base_url))}")
    elif not given(a, "base_url") and cfg.get("base_url"):
        a.base_url = cfg["base_url"]
    if given(a, "prompt") and a.prompt and cfg.get("promptgram_sha256"):
        if load_promptgram(a.prompt).sha256 != cfg["promptgram_sha256"]:
            out.append(f"another promptgram than --prompt {a.prompt} (its copy is {run_dir / 'promptgram.md'})")
    return out


def _storage(a: argparse.Namespace, cfg: Mapping[str, Any], run_dir: Path) -> None:
    """A run whose study lives elsewhere than its folder needs that storage again."""
    rec = cfg.get("storage")
    if given(a, "storage") or not isinstance(rec, str):
        return
    if rec == f"sqlite:///{(run_dir / 'study.db').resolve()}" or rec.endswith(f"/{run_dir.name}/study.db"):
        return
    if "***" in rec:
        raise UsageError(f"run '{run_dir.name}' keeps its study in {rec}: give --storage URL again (its password "
                         f"is not stored)")
    a.storage = rec


__all__ = ["MINING", "REASON", "REPO_OPTIONS", "SEARCH", "given", "reconcile", "run_to_continue"]
