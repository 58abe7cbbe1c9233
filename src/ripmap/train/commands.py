"""What each ``ripmap-train`` command does, given its parsed options.

This is the one place that reads the argparse namespace: it turns the options into the
typed settings records the rest of the trainer takes (:class:`MineSettings`,
:class:`LoopSettings`, :class:`L1Settings`, :class:`AgentSettings`,
:class:`DistillSettings`). A :class:`Session` mines and indexes at most once, so an old
command line that asks for two actions (``--strategy tpe --sensitivity``) shares them.
Bad usage is checked before the slow part (mining a repository), never after it: a run
being continued is reconciled with its config.json (:mod:`.resume`) first.

Repositories named by ``--holdout-repo`` (a path, or the name of another entry) are
mined whole into the ``test`` split (:mod:`.cases.splits`): no strategy and no agent sees
them; the loop evaluates them once at the end, and distillation judges presets on them.
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
from .resume import MINING, given, reconcile, run_to_continue

if TYPE_CHECKING:
    from .cases.corpus import RepoSpec
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


def loop_settings(a: argparse.Namespace, *, budget: int, start: Params,
                  sources: dict[str, Any] | None = None) -> "LoopSettings":
    from .search.loop import LoopSettings

    only = _get(a, "search_params")
    return LoopSettings(out_dir=Path(_get(a, "out", "training/runs")), budget=budget, start=start,
                        run_name=_get(a, "run_name"), resume=bool(_get(a, "resume", False)),
                        seed=int(_get(a, "seed", 0)), storage=_get(a, "storage"),
                        search_params=tuple(x.strip() for x in only.split(",") if x.strip()) if only else None,
                        verbose=bool(_get(a, "verbose", False)), sources=sources)


class Session:
    """One invocation: its options, and the cases and evaluator, built when first needed.

    ``judge_only``: every repository given is held out (distillation judges presets on
    them and trains on none).
    """

    def __init__(self, args: argparse.Namespace, *, judge_only: bool = False) -> None:
        self.a = args
        self.judge_only = judge_only
        self._params: Params | None = None
        self._mined: list[MinedRepo] | None = None
        self._ev: "Evaluator | None" = None
        self._case_file: list[MinedRepo] | None = None

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
        return bool(_get(a, "repo") or _get(a, "corpus") or _get(a, "curated", False) or _get(a, "cases")
                    or _get(a, "holdout_repo"))

    def check_mining(self) -> None:
        if not 0.0 <= self.a.holdout < 1.0:
            raise UsageError("--holdout must be in [0, 1)")

    def continue_run(self, command: str) -> None:
        """A run being continued takes what the command line leaves out from its config.json
        and refuses what contradicts it; before any mining."""
        run_dir = run_to_continue(self.a, command)
        if run_dir is not None:
            reconcile(self.a, run_dir, command, self.sources)

    def case_file(self) -> list[MinedRepo]:
        if self._case_file is None:
            from .cases.casefile import read_cases

            self._case_file = read_cases(self.a.cases) if _get(self.a, "cases") else []
        return self._case_file

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

    def split_specs(self) -> tuple[list["RepoSpec"], list["RepoSpec"], set[str]]:
        """(training repositories, held-out repositories to mine, names of held-out
        repositories of the --cases file), from --repo/--corpus/--curated and --holdout-repo.

        A --holdout-repo value is the name of another entry (which it moves out of
        training), else a path (the same as a --repo: moved; another: added)."""
        from .cases.corpus import RepoSpec

        specs = self.specs()
        held: list[RepoSpec] = []
        names: set[str] = set()
        by_root = {m.root.resolve(): m.repo for m in self.case_file()}
        case_names = set(by_root.values())
        for v in _get(self.a, "holdout_repo") or []:
            hit = [s for s in specs if s.name == v]
            if not hit and v in case_names:
                names.add(v)
                continue
            p = Path(v).expanduser()
            if not hit and p.is_dir():
                p = p.resolve()
                hit = [s for s in specs if s.path is not None and s.path.resolve() == p]
                if not hit and p in by_root:
                    names.add(by_root[p])
                    continue
                if not hit:
                    held.append(RepoSpec(p.name, path=p))
                    continue
            if not hit:
                where = "--repo/--corpus" + ("/--cases" if self.case_file() else "")
                raise UsageError(f"--holdout-repo {v}: no such directory, and no {where} entry of that name")
            for s in hit:
                specs.remove(s)
                held.append(s)
        if self.judge_only:
            held, specs = specs + held, []
            names = names or case_names
        return specs, held, names

    def sources(self) -> dict[str, Any]:
        """Where the cases come from, as config.json records it: each repository's name, root
        and whether it is held out; the options that named them; the mining settings."""
        a = self.a
        train, held, names = self.split_specs()

        def root(s: "RepoSpec") -> str:
            return str(s.path.resolve() if s.path is not None else (Path(a.clone_dir) / s.name).resolve())

        rows = [{"name": m.repo, "root": str(m.root), "held_out": m.repo in names} for m in self.case_file()]
        if not rows:
            rows = [{"name": s.name, "root": root(s), "held_out": False} for s in train]
        rows += [{"name": s.name, "root": root(s), "held_out": True} for s in held]
        spec_names = {s.name for s in [*train, *held]} | {m.repo for m in self.case_file()}

        def held_value(v: str) -> str:
            p = Path(v).expanduser()
            return str(p.resolve()) if v not in spec_names and p.is_dir() else v

        settings = mine_settings(a)
        return {"repos": rows,
                "repo_options": {"repo": [str(Path(r).expanduser().resolve()) for r in a.repo],
                                 "corpus": str(Path(a.corpus).expanduser().resolve()) if a.corpus else None,
                                 "curated": bool(a.curated), "clone_dir": str(Path(a.clone_dir).resolve()),
                                 "cases": str(Path(a.cases).expanduser().resolve()) if _get(a, "cases") else None,
                                 "holdout_repo": [held_value(v) for v in _get(a, "holdout_repo") or []]},
                "mining": {k: (list(getattr(settings, k)) if k == "tasks" else getattr(settings, k)) for k in MINING}}

    def mined(self) -> list[MinedRepo]:
        """Mine (or load) cases for every repository; held-out ones whole into the test split."""
        if self._mined is not None:
            return self._mined
        from dataclasses import replace

        from .cases.corpus import ensure_local
        from .cases.splits import hold_out

        train, held, names = self.split_specs()
        out: list[MinedRepo] = []
        if _get(self.a, "cases"):
            out = [hold_out(m) if m.repo in names else m for m in self.case_file()
                   if not self.judge_only or m.repo in names]
            train = []
        elif not train and not held:
            raise UsageError("no repositories: give --repo PATH, --corpus FILE, --curated or --cases FILE")
        settings = mine_settings(self.a)
        for s, whole in [*((s, False) for s in train), *((s, True) for s in held)]:
            m = (replace(settings, holdout=0.0) if whole else settings).mine(ensure_local(s, self.a.clone_dir),
                                                                             name=s.name)
            if whole:
                m = hold_out(m)
            say(f"{s.name}{' (held out)' if whole else ''}: {len(m.cases)} cases from commits after "
                f"{m.snapshot[:10]} ({', '.join(f'{k}: {v}' for k, v in sorted(m.skipped.items())) or 'none skipped'})")
            out.append(m)
        if not any(m.cases for m in out):
            raise RipmapError("no training cases: the repositories have no qualifying commits after their snapshots "
                              "(try a larger --snapshot-back / --max-commits or --max-files)")
        self._mined = out
        return out

    def training_evaluator(self) -> "Evaluator":
        """The evaluator of a command that trains: it needs cases outside the held-out repositories."""
        from .cases.splits import training_cases

        ev = self.evaluator()
        if not training_cases(ev.cases):
            raise UsageError("every repository is held out (--holdout-repo): keep at least one to train on")
        return ev

    def evaluator(self) -> "Evaluator":
        if self._ev is None:
            from .evaluation.evaluator import FAILURE_POOL, Evaluator

            self._ev = Evaluator(self.mined(), cache_dir=self.cache_dir, failure_threshold=self.a.failure_threshold,
                                 failure_pool=int(_get(self.a, "failure_pool", FAILURE_POOL)), progress=say,
                                 history=str(_get(self.a, "history", "case")))
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
    s.continue_run("search")
    s.check_mining()
    if a.budget < 1:
        raise UsageError("--budget must be at least 1")
    strategy = make_strategy(a.strategy)
    params = s.params()
    sources = s.sources()
    optimize(strategy, s.training_evaluator(), loop_settings(a, budget=a.budget, start=params, sources=sources))


def cmd_sensitivity(s: Session) -> None:
    from .search.sensitivity import run_sensitivity

    s.check_mining()
    params = s.params()
    run_sensitivity(s.training_evaluator(), params, s.out_dir, _get(s.a, "run_name"))


def cmd_reason(s: Session) -> None:
    from .l1.rotation import FAILURES_SHOWN
    from .l1.strategy import L1Settings, L1Strategy
    from .search.loop import optimize

    a = s.a
    s.continue_run("reason")
    s.check_mining()
    if a.episodes < 1:
        raise UsageError("--episodes must be at least 1")
    if _get(a, "failures_shown", 1) < 1 or _get(a, "failure_pool", 1) < 1:
        raise UsageError("--failures-shown and --failure-pool must be at least 1")
    if _get(a, "prompt") and not _get(a, "replay"):
        from .l1.promptgram import load_promptgram

        load_promptgram(a.prompt)  # a missing file or an unknown version name: one line, before mining
    strategy = L1Strategy(L1Settings(agent=agent_settings(a), prompt=_get(a, "prompt"),
                                     min_confidence=float(a.min_confidence), replay=_get(a, "replay"),
                                     failures_shown=int(_get(a, "failures_shown", FAILURES_SHOWN))))
    params = s.params()
    sources = s.sources()
    optimize(strategy, s.training_evaluator(), loop_settings(a, budget=a.episodes + 1, start=params, sources=sources))


def _run_held_out(a: argparse.Namespace, run_dir: Path) -> None:
    """Without repositories on the command line, distillation judges on the run's own
    held-out repositories (config.json), mined with the run's settings."""
    from .files import read_json

    p = run_dir / "config.json"
    cfg = read_json(p) if p.is_file() else {}
    if not isinstance(cfg, dict):
        return
    held = [r for r in cfg.get("repos") or () if isinstance(r, dict) and r.get("held_out")]
    opts = cfg.get("repo_options") if isinstance(cfg.get("repo_options"), dict) else {}
    if not held or not opts:
        return
    if opts.get("cases"):
        a.cases, a.holdout_repo = opts["cases"], [str(r["name"]) for r in held]
    else:
        a.holdout_repo = [str(r["root"]) for r in held if r.get("root")]
    a.clone_dir = opts.get("clone_dir") or a.clone_dir
    for k, v in (cfg.get("mining") or {}).items():
        if k in MINING and not given(a, k):
            setattr(a, k, v)
    if not given(a, "failure_threshold") and isinstance(cfg.get("failure_threshold"), (int, float)):
        a.failure_threshold = float(cfg["failure_threshold"])


def cmd_distill(s: Session) -> None:
    from .report.distill import DistillSettings, check_held_out, distill_run

    a = s.a
    settings = DistillSettings(agent=agent_settings(a), output=_get(a, "output"), seed=int(_get(a, "seed", 0)))
    run_dir = s.out_dir / a.run
    if not s.has_repos() and run_dir.is_dir():
        _run_held_out(a, run_dir)
    ev = None
    if s.has_repos():
        s.check_mining()
        judged = Session(a, judge_only=True)
        _train, held, names = judged.split_specs()
        if run_dir.is_dir():
            check_held_out(run_dir, {h.name for h in held} | names)  # before mining them
        ev = judged.evaluator()
    print(distill_run(s.out_dir, a.run, settings, evaluator=ev))


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
