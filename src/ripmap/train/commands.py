"""What each ``ripmap-train`` command does, given its parsed options.

This is the one place that reads the argparse namespace: it turns the options into the
typed settings records the rest of the trainer takes (:class:`MineSettings`,
:class:`LoopSettings`, :class:`L1Settings`, :class:`AgentSettings`,
:class:`DistillSettings`). A :class:`Session` mines and indexes at most once, so an old
command line that asks for two actions (``--strategy tpe --sensitivity``) shares them.
Bad usage is checked before the slow part (mining a repository), never after it.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..errors import RipmapError, UsageError
from ..rank.params import Params
from .agents import AgentSettings
from .cases.oracle import TASKS, MineSettings, MinedRepo
from .console import say

if TYPE_CHECKING:
    from .evaluation.evaluator import Evaluator
    from .search.loop import LoopSettings


def _get(a: argparse.Namespace, name: str, default: Any = None) -> Any:
    """An option the command's parser may not define (the flat parser defines them all)."""
    v = getattr(a, name, default)
    return default if v is None else v


def default_cache_dir() -> Path:
    """Where snapshot worktrees and their tag caches live: ``$RIPMAP_CACHE_DIR/train``, else
    the user cache dir; never inside a repository, so mining leaves no trace in it."""
    env = os.environ.get("RIPMAP_CACHE_DIR")
    if env:
        return Path(env) / "train"
    import platformdirs

    return Path(platformdirs.user_cache_dir("ripmap")) / "train"


def mine_settings(a: argparse.Namespace) -> MineSettings:
    return MineSettings(snapshot_back=a.snapshot_back, max_commits=a.max_commits, min_files=a.min_files,
                        max_files=a.max_files, tasks=tuple(a.tasks or TASKS), holdout=a.holdout)


def agent_settings(a: argparse.Namespace) -> AgentSettings:
    return AgentSettings(spec=str(_get(a, "agent", "heuristic")), model=_get(a, "model"),
                         base_url=_get(a, "base_url"), timeout=float(_get(a, "timeout", 300.0)),
                         agentic=bool(_get(a, "agentic", False)),
                         allow_dangerous=bool(_get(a, "dangerously_skip_permissions", False)))


def loop_settings(a: argparse.Namespace, *, budget: int, start: Params) -> "LoopSettings":
    from .search.loop import LoopSettings

    only = _get(a, "search_params")
    return LoopSettings(out_dir=Path(_get(a, "out", "training/runs")), budget=budget, start=start,
                        run_name=_get(a, "run_name"), resume=bool(_get(a, "resume", False)),
                        seed=int(_get(a, "seed", 0)), storage=_get(a, "storage"),
                        search_params=tuple(x.strip() for x in only.split(",") if x.strip()) if only else None,
                        verbose=bool(_get(a, "verbose", False)))


class Session:
    """One invocation: its options, and the cases and evaluator, built when first needed."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.a = args
        self._params: Params | None = None
        self._mined: list[MinedRepo] | None = None
        self._ev: "Evaluator | None" = None

    def run(self, command: str) -> None:
        RUNNERS[command](self)

    # -- shared pieces -----------------------------------------------------------------
    @property
    def out_dir(self) -> Path:
        return Path(_get(self.a, "out", "training/runs"))

    @property
    def cache_dir(self) -> Path:
        d = _get(self.a, "cache_dir")
        return Path(d) if d else default_cache_dir()

    def has_repos(self) -> bool:
        a = self.a
        return bool(_get(a, "repo") or _get(a, "corpus") or _get(a, "curated", False) or _get(a, "cases"))

    def check_mining(self) -> None:
        if not 0.0 <= self.a.holdout < 1.0:
            raise UsageError("--holdout must be in [0, 1)")

    def params(self) -> Params:
        """The start point, by the front ends' one rule: --preset NAME (default: the defaults) with
        the values of --params FILE over it (a bad name or file is a one-line error)."""
        if self._params is None:
            from ..presets import resolve_params

            a = self.a
            self._params = resolve_params(_get(a, "preset") or None, _get(a, "params") or None)
        return self._params

    def specs(self) -> list:
        from .cases.corpus import CURATED, RepoSpec, load_corpus

        a = self.a
        specs = [RepoSpec(Path(r).resolve().name, path=Path(r).expanduser().resolve()) for r in a.repo]
        if a.corpus:
            specs += load_corpus(a.corpus)
        if a.curated:
            specs += list(CURATED)
        return specs

    def mined(self) -> list[MinedRepo]:
        """Mine (or load) cases for every repository."""
        if self._mined is not None:
            return self._mined
        from .cases.casefile import read_cases
        from .cases.corpus import ensure_local

        if _get(self.a, "cases"):
            self._mined = read_cases(self.a.cases)
            return self._mined
        specs = self.specs()
        if not specs:
            raise UsageError("no repositories: give --repo PATH, --corpus FILE, --curated or --cases FILE")
        settings = mine_settings(self.a)
        out = []
        for s in specs:
            m = settings.mine(ensure_local(s, self.a.clone_dir), name=s.name)
            say(f"{s.name}: {len(m.cases)} cases from commits after {m.snapshot[:10]} "
                f"({', '.join(f'{k}: {v}' for k, v in sorted(m.skipped.items())) or 'none skipped'})")
            out.append(m)
        if not any(m.cases for m in out):
            raise RipmapError("no training cases: the repositories have no qualifying commits after their snapshots "
                              "(try a larger --snapshot-back / --max-commits or --max-files)")
        self._mined = out
        return out

    def evaluator(self) -> "Evaluator":
        if self._ev is None:
            from .evaluation.evaluator import FAILURE_POOL, Evaluator

            self._ev = Evaluator(self.mined(), cache_dir=self.cache_dir, failure_threshold=self.a.failure_threshold,
                                 failure_pool=int(_get(self.a, "failure_pool", FAILURE_POOL)), progress=say)
        return self._ev


# -- the commands ---------------------------------------------------------------------------

def cmd_mine(s: Session) -> None:
    a = s.a
    if a.cleanup_snapshots:
        from .cases.corpus import ensure_local
        from .cases.snapshots import cleanup_snapshots

        n = sum(cleanup_snapshots(ensure_local(spec, a.clone_dir), s.cache_dir) for spec in s.specs())
        say(f"removed {n} snapshot worktree(s)")
        return
    s.check_mining()
    if not a.output:  # before mining, which takes a while
        raise UsageError("mine (--extract-only) needs --output FILE")
    from .cases.casefile import write_cases

    mined = s.mined()
    write_cases(mined, a.output)
    say(f"wrote {sum(len(m.cases) for m in mined)} cases to {a.output}")


def cmd_eval(s: Session) -> None:
    s.check_mining()
    params = s.params()
    res = s.evaluator().evaluate(params)
    print(res.table())
    target = _get(s.a, "collect_failures")
    if target:
        from .files import atomic_write_text

        atomic_write_text(target, json.dumps([f.to_dict() for f in res.failures], indent=1))
        say(f"wrote {len(res.failures)} failures to {target}")


def cmd_search(s: Session) -> None:
    from .search.loop import optimize
    from .search.strategies import make_strategy

    a = s.a
    s.check_mining()
    if a.budget < 1:
        raise UsageError("--budget must be at least 1")
    strategy = make_strategy(a.strategy)
    params = s.params()
    optimize(strategy, s.evaluator(), loop_settings(a, budget=a.budget, start=params))


def cmd_sensitivity(s: Session) -> None:
    from .search.sensitivity import run_sensitivity

    s.check_mining()
    params = s.params()
    run_sensitivity(s.evaluator(), params, s.out_dir, _get(s.a, "run_name"))


def cmd_reason(s: Session) -> None:
    from .l1.rotation import FAILURES_SHOWN
    from .l1.strategy import L1Settings, L1Strategy
    from .search.loop import optimize

    a = s.a
    s.check_mining()
    if a.episodes < 1:
        raise UsageError("--episodes must be at least 1")
    if _get(a, "failures_shown", 1) < 1 or _get(a, "failure_pool", 1) < 1:
        raise UsageError("--failures-shown and --failure-pool must be at least 1")
    strategy = L1Strategy(L1Settings(agent=agent_settings(a), prompt=_get(a, "prompt"),
                                     min_confidence=float(a.min_confidence), replay=_get(a, "replay"),
                                     failures_shown=int(_get(a, "failures_shown", FAILURES_SHOWN))))
    params = s.params()
    optimize(strategy, s.evaluator(), loop_settings(a, budget=a.episodes + 1, start=params))


def cmd_distill(s: Session) -> None:
    from .report.distill import DistillSettings, distill_run

    settings = DistillSettings(agent=agent_settings(s.a), output=_get(s.a, "output"))
    ev = None
    if s.has_repos():
        s.check_mining()
        ev = s.evaluator()
    print(distill_run(s.out_dir, s.a.run, settings, evaluator=ev))


def cmd_runs(s: Session) -> None:
    from .report import views

    action, run = s.a.action, _get(s.a, "run")
    if action == "list":
        print(views.list_runs(s.out_dir))
    elif action == "show":
        if not run:
            raise UsageError("runs show needs a RUN (ripmap-train runs list shows the runs)")
        print(views.show_run(s.out_dir, run))
    else:
        print(views.show_insights(s.out_dir, run or None))


RUNNERS: dict[str, Callable[[Session], None]] = {
    "mine": cmd_mine, "eval": cmd_eval, "search": cmd_search, "sensitivity": cmd_sensitivity,
    "reason": cmd_reason, "distill": cmd_distill, "runs": cmd_runs,
}

__all__ = ["RUNNERS", "Session", "agent_settings", "default_cache_dir", "loop_settings", "mine_settings"]
