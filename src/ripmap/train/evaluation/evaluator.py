"""The evaluator: run ripmap's real ranking on every case and score it.

Each (repository, snapshot) is indexed once (a detached worktree at the snapshot, so the
code is as it was before the predicted commits); its graph, BM25 index and git arrays
live in a :class:`~ripmap.rank.RankContext` that every evaluation reuses. Git history is
each case's own by default (``history="case"``): every commit before the case's, as a
user working on it would have, the commits between the snapshot and the case included
(one ``git log`` per snapshot, viewed per case: :class:`~ripmap.gitinfo.GitTimeline`).
``history="snapshot"`` cuts every case's history at the snapshot instead. A parameter change only re-assembles what it touches (the graph matrix is
memoized per graph-parameter tuple). Same parameters → identical numbers.
"""
from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from ...api import RepoMap
from ...errors import RipmapError
from ...gitinfo import GitTimeline, load_git_timeline
from ...rank import RankContext, Ranking
from ...rank.score import Query, rank_many, solve_pageranks
from ...rank.params import DEFAULT, Params
from ..cases.oracle import TASKS, Case, MinedRepo
from ..cases.snapshots import materialize
from ..git import run_git
from .failures import Candidate, classify, spread
from .metrics import CaseMetrics, aggregate, case_metrics

FAILURE_POOL = 50
"""Failing cases explained per evaluation by default: the pool an agent's failures are drawn from."""


#: cases ranked per :func:`~ripmap.rank.score.rank_many` call: enough columns for the
#: block solve to run at BLAS speed, few enough that their signals stay small in memory
RANK_BLOCK = 128


#: per-case histories kept per snapshot: one per case commit, so that the next evaluation
#: finds each commit's memos (its co-change vectors) again; each is a few small arrays
#: (its file index is the timeline's)
MAX_HISTORY_VIEWS = 1024

HISTORIES = ("case", "snapshot")


@dataclass
class Snapshot:
    repo: str
    snapshot: str
    root: Path
    ctx: RankContext
    file_count: int
    #: the log the cases' own histories are viewed from (None: every case gets ``ctx.git``)
    timeline: GitTimeline | None = None
    _views: "OrderedDict[str, RankContext]" = field(default_factory=OrderedDict, repr=False)

    def context_for(self, commit: str) -> RankContext:
        """The context to rank a case of ``commit`` in: the snapshot's, with the history
        just before ``commit`` when the timeline holds it."""
        if self.timeline is None or commit not in self.timeline:
            return self.ctx
        ctx = self._views.get(commit)
        if ctx is None:
            ctx = self._views[commit] = self.ctx.with_history(self.timeline.before(commit))
            while len(self._views) > MAX_HISTORY_VIEWS:
                self._views.popitem(last=False)
        else:
            self._views.move_to_end(commit)
        return ctx


@dataclass(frozen=True)
class Failure:
    """A case ranked below the failure threshold, with what an analyst needs to say why.

    ``explanations`` are :meth:`ripmap.rank.explain` rows (as dicts: that is their wire
    format, shown to agents as is) for the best expected files and for the files that
    outranked them; ``kind`` says which signal held the expected file back most
    (:func:`~.failures.classify`; empty when nothing was explained).
    """

    repo: str
    file_count: int
    commit: str
    message: str
    intent: str
    seed_file: str
    expected_top: tuple[str, ...]
    actual_top: tuple[str, ...]
    ndcg: float
    explanations: tuple[Mapping[str, Any], ...]
    task: str = "A"  # which of the three tasks (A, A+msg, B) the case poses
    kind: str = ""  # why it failed (FAILURE_KINDS); "" when not explained

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("expected_top", "actual_top", "explanations"):
            d[k] = list(d[k])
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Failure":
        """Lenient: a record from an older run may lack a field; it takes a neutral value."""
        known = {f.name for f in fields(cls)}
        v = {k: d[k] for k in known if k in d}
        return cls(repo=str(v.get("repo", "")), file_count=int(v.get("file_count") or 0),
                   commit=str(v.get("commit", "")), message=str(v.get("message", "")),
                   intent=str(v.get("intent", "?")), seed_file=str(v.get("seed_file", "")),
                   expected_top=tuple(v.get("expected_top") or ()), actual_top=tuple(v.get("actual_top") or ()),
                   ndcg=float(v.get("ndcg") or 0.0), explanations=tuple(v.get("explanations") or ()),
                   task=str(v.get("task", "A")), kind=str(v.get("kind") or ""))


@dataclass
class EvalResult:
    params: Params
    overall: dict[str, float]
    by_split: dict[str, dict[str, float]]
    by_repo: dict[str, dict[str, float]]
    per_case: list[tuple[Case, CaseMetrics]]
    failures: list[Failure] = field(default_factory=list)
    elapsed_s: float = 0.0
    by_task: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def ndcg(self) -> float:
        """The objective: NDCG@10, averaged over the tasks present (each task weighs the
        same, however many cases it has: a message-only case stands for a whole commit,
        a seed case for one of its files)."""
        if len(self.by_task) > 1:
            return float(sum(m.get("ndcg@10", 0.0) for m in self.by_task.values()) / len(self.by_task))
        return self.overall.get("ndcg@10", 0.0)

    def failing(self, threshold: float) -> list[tuple[Case, float]]:
        """Every case below ``threshold`` NDCG@10, with its NDCG@10, in case order."""
        return [(c, m.ndcg_10) for c, m in self.per_case if m.ndcg_10 < threshold]

    def table(self) -> str:
        cols = ("ndcg@10", "ndcg@5", "mrr", "map", "r@10", "hit@10")
        lines = [f"{'':<24}{'n':>6}" + "".join(f"{c:>9}" for c in cols)]

        def row(label: str, m: dict) -> str:
            return f"{label:<24}{int(m.get('n', 0)):>6}" + "".join(f"{m.get(c, 0.0):>9.4f}" for c in cols)

        for k in TASKS:  # one row per task, first column named by the task
            if k in self.by_task:
                lines.append(row(k, self.by_task[k]))
        lines.append(row("overall", self.overall))
        for k, m in sorted(self.by_split.items()):
            lines.append(row(f"  {k}", m))
        for k, m in sorted(self.by_repo.items()):
            lines.append(row(f"  repo {k}", m))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"params": self.params.to_dict(), "overall": self.overall, "by_split": self.by_split,
                "by_repo": self.by_repo, "by_task": self.by_task, "elapsed_s": self.elapsed_s,
                "failures": [f.to_dict() for f in self.failures]}


class Evaluator:
    """Holds the indexed snapshots of a set of mined repositories.

    ``failure_pool`` is how many failing cases an evaluation explains (each one ranked
    again and explained): a sample spread over repositories and tasks, not the first ones.
    """

    def __init__(self, mined: Sequence[MinedRepo], *, cache_dir: str | Path, failure_threshold: float = 0.5,
                 failure_pool: int = FAILURE_POOL, progress: Callable[[str], None] | None = None,
                 history: str = "case") -> None:
        if history not in HISTORIES:
            raise ValueError(f"history must be one of {', '.join(HISTORIES)}, not {history!r}")
        self.history = history
        self.cache_dir = Path(cache_dir)
        self.failure_threshold = failure_threshold
        self.failure_pool = failure_pool
        self.snapshots: dict[tuple[str, str], Snapshot] = {}
        self.cases: list[Case] = []
        for m in mined:
            key = (m.repo, m.snapshot)
            if key not in self.snapshots:
                if progress:
                    progress(f"indexing {m.repo} at {m.snapshot[:10]}")
                wt = materialize(m.root, m.snapshot, self.cache_dir)
                rm = RepoMap(wt, cache_dir=self.cache_dir / "tags", progress=False, warn=lambda _m: None)
                ctx = rm.context
                _ = ctx.lexical  # build once, up front (and before any fork)
                _ = ctx.pairing
                _ = ctx.git_arrays()
                timeline = _timeline(wt, m.snapshot, [c for n in mined if (n.repo, n.snapshot) == key
                                                      for c in n.cases]) if history == "case" else None
                self.snapshots[key] = Snapshot(m.repo, m.snapshot, wt, ctx, ctx.graph.n_files, timeline)
                rm.close()
            self.cases.extend(m.cases)

    @property
    def train_cases(self) -> list[Case]:
        return [c for c in self.cases if c.split == "train"]

    @property
    def holdout_cases(self) -> list[Case]:
        return [c for c in self.cases if c.split == "holdout"]

    def ranking_for(self, params: Params, case: Case) -> list[str]:
        """The files ranked for one case, best first, chat files left out (what is scored)."""
        return self._rank(params, case)[1]

    def _rank(self, params: Params, case: Case):
        """The real ranking for one case's task: chat file and/or focus text as the
        task says; files already in the chat are not part of the answer."""
        return next(self._ranked(params, [case]))

    def _ranked(self, params: Params, cases: Sequence[Case]) -> Iterator[tuple[Ranking, list[str]]]:
        """:meth:`_rank` for each case, in order, ranked in blocks of consecutive cases of
        one snapshot (and, with each case's own history, one commit) through
        :func:`~ripmap.rank.score.rank_many`, a block at a time, so an evaluation never
        holds every case's signals at once."""
        if self.history == "case":
            # PageRank reads no history: solve every query of a snapshot's run of cases in
            # blocks of RANK_BLOCK first, at BLAS speed, instead of one commit's few at a time
            for block in _runs(cases, lambda c: (c.repo, c.snapshot)):
                solve_pageranks(self.snapshots[(block[0].repo, block[0].snapshot)].ctx, params,
                                [_query(c) for c in block], direct=True)
        for block in _runs(cases, self._block_key):
            for c, r in zip(block, rank_many(self.context_for(block[0]), params, [_query(c) for c in block],
                                             direct=True)):
                files = list(r.files)
                for f in c.chat_files:
                    if f in r.file_index and f in files:
                        files.remove(f)
                yield r, files

    def context_for(self, case: Case) -> RankContext:
        """What ``case`` is ranked in: its snapshot's code, with its own history (by
        :attr:`history`). Baselines read history from here too."""
        return self.snapshots[(case.repo, case.snapshot)].context_for(case.commit)

    def _block_key(self, case: Case) -> tuple[str, ...]:
        """Cases ranked together share a snapshot and, with per-case history, a commit."""
        if self.history == "case":
            return (case.repo, case.snapshot, case.commit)
        return (case.repo, case.snapshot)

    def evaluate(self, params: Params | None = None, cases: Iterable[Case] | None = None, *,
                 explain_failures: bool = True) -> EvalResult:
        """Every case's metrics; with ``explain_failures``, ``failures`` holds a pool of
        :attr:`failure_pool` failing cases spread over repositories and tasks, explained
        (without, it is empty: the failing cases are in ``per_case``)."""
        params = params or DEFAULT
        cases = list(self.cases if cases is None else cases)
        t0 = time.perf_counter()
        per_case: list[tuple[Case, CaseMetrics]] = []
        for c, (_r, files) in zip(cases, self._ranked(params, cases)):
            per_case.append((c, case_metrics(files, c.expected_map)))
        failures: list[Failure] = []
        if explain_failures:
            failing = [(c, m.ndcg_10) for c, m in per_case if m.ndcg_10 < self.failure_threshold]
            pool = spread([Candidate.of(c, nd) for c, nd in failing], self.failure_pool)
            failures = self.explain_cases(params, [failing[i] for i in pool])
        weights = [c.case_weight for c, _ in per_case]
        overall = aggregate([m for _, m in per_case], weights) if per_case else aggregate([], None)
        by_split: dict[str, dict[str, float]] = {}
        by_repo: dict[str, dict[str, float]] = {}
        by_task: dict[str, dict[str, float]] = {}
        for key, table in (("split", by_split), ("repo", by_repo), ("task", by_task)):
            groups: dict[str, list[tuple[Case, CaseMetrics]]] = {}
            for c, m in per_case:
                groups.setdefault(getattr(c, key), []).append((c, m))
            for g, items in groups.items():
                table[g] = aggregate([m for _, m in items], [c.case_weight for c, _ in items])
        return EvalResult(params, overall, by_split, by_repo, per_case, failures, time.perf_counter() - t0,
                          by_task=by_task)

    def explain_cases(self, params: Params, failing: Sequence[tuple[Case, float]]) -> list[Failure]:
        """Each (case, NDCG@10) ranked again with ``params`` and explained, with its kind."""
        ranked = self._ranked(params, [c for c, _ in failing])  # in blocks, like evaluate()
        return [self._failure(c, self.snapshots[(c.repo, c.snapshot)], r, files, ndcg)
                for (c, ndcg), (r, files) in zip(failing, ranked)]

    def _failure(self, c: Case, snap: Snapshot, r, files: list[str], ndcg: float) -> Failure:
        exp_sorted = [e.path for e in sorted(c.expected, key=lambda e: (-e.relevance, e.path))]
        rows: list[dict] = []
        pos = {f: i + 1 for i, f in enumerate(files)}
        outranking = [f for f in files[:5] if f not in c.expected_map]
        for f in exp_sorted[:3] + outranking[:3]:
            if f in r.file_index:
                e = r.explain(f).as_dict()
                e["rank"] = pos.get(f, e["rank"])
                e["expected"] = f in c.expected_map
                rows.append(e)
        return Failure(repo=c.repo, file_count=snap.file_count, commit=c.commit, message=c.message,
                       intent=c.intent, seed_file=c.seed_file, expected_top=tuple(exp_sorted[:5]),
                       actual_top=tuple(files[:5]), ndcg=ndcg, explanations=tuple(rows), task=c.task,
                       kind=classify(rows))


def _query(case: Case) -> Query:
    """What a case asks ripmap: its chat files and its focus text."""
    return Query(chat_files=tuple(case.chat_files), focus=case.focus)


def _runs(cases: Sequence[Case], key: Callable[[Case], tuple]) -> Iterator[Sequence[Case]]:
    """``cases`` in order, in runs of consecutive cases with one ``key``, at most
    :data:`RANK_BLOCK` long."""
    i = 0
    while i < len(cases):
        k = key(cases[i])
        j = i + 1
        while j < len(cases) and j - i < RANK_BLOCK and key(cases[j]) == k:
            j += 1
        yield cases[i:j]
        i = j


def _timeline(root: Path, snapshot: str, cases: Sequence[Case]) -> GitTimeline | None:
    """The log from the newest of ``cases`` back to a full window before ``snapshot``."""
    if not cases:
        return None
    tip = max(cases, key=lambda c: c.timestamp).commit
    try:
        after = int(run_git(root, "rev-list", "--no-merges", "--count", f"{snapshot}..{tip}", "--", ".").strip())
    except (RipmapError, ValueError):
        return None
    return load_git_timeline(root, tip=tip, commits=after)


__all__ = ["Evaluator", "EvalResult", "FAILURE_POOL", "Failure", "Snapshot"]
