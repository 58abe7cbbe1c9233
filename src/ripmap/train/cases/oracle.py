"""The git oracle: training cases mined from history, with no leakage.

"Files that changed together belong together": a commit touching files A, B and C says
that someone working on A needed B and C. Each such commit after a *snapshot* yields
cases for the three tasks agents actually pose (:data:`TASKS`):

* ``A``: one changed file is in the chat (the seed); expected: the other files;
* ``A+msg``: the same seed plus the commit message as the focus text;
* ``B``: only the commit message as the focus; expected: every changed file.

The message stands in for the task text an agent passes as its focus (subject and
body, with trailers such as ``Signed-off-by`` removed).

No leakage, by construction:

* every case is ranked on the code as it was at the snapshot, which precedes all case
  commits (a detached worktree whose HEAD is the snapshot commit); its git history is
  the log before the case's own commit (the evaluator's default, ``history="case"``:
  what its author had) or the snapshot's (``history="snapshot"``), never the commit
  itself or a later one;
* expected files that did not exist at the snapshot are dropped (nothing could rank them);
* relevance grades use co-change statistics from history *before the snapshot* only.

``holdout`` keeps the newest fraction of cases (by commit time) for reporting only.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import RipmapError
from ...languages import language_for_path
from ..git import run_git

_MARK = "\x1eC"
_BODY_END = "\x1f"

#: The three tasks every quality figure covers: a file in the chat; that file plus the
#: commit message as focus; the message alone.
TASKS: tuple[str, ...] = ("A", "A+msg", "B")
_TRAILER = re.compile(r"^[A-Za-z][A-Za-z-]*(-by|-authored-by|-Id)?:\s", re.I)
MAX_MESSAGE_CHARS = 2000


@dataclass(frozen=True)
class Expected:
    path: str
    relevance: float


@dataclass(frozen=True)
class Case:
    repo: str
    snapshot: str
    commit: str
    timestamp: int
    message: str
    intent: str
    quality: float
    seed_file: str
    expected: tuple[Expected, ...]
    case_weight: float
    split: str = "train"  # "train" | "holdout"
    task: str = "A"  # one of TASKS

    @property
    def chat_files(self) -> tuple[str, ...]:
        """What the ranker gets as chat files for this case's task."""
        return (self.seed_file,) if self.task in ("A", "A+msg") and self.seed_file else ()

    @property
    def focus(self) -> str | None:
        """What the ranker gets as the focus text for this case's task."""
        return self.message if self.task in ("A+msg", "B") and self.message.strip() else None

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0]

    @property
    def expected_map(self) -> dict[str, float]:
        return {e.path: e.relevance for e in self.expected}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["expected"] = [{"path": e.path, "relevance": e.relevance} for e in self.expected]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Case":
        exp = tuple(Expected(e["path"], float(e["relevance"])) for e in d["expected"])
        return cls(**{**d, "expected": exp})


# -- commit classification ---------------------------------------------------------------

_FIX = re.compile(r"\b(fix(e[sd])?|bug|bugfix|hotfix|crash|error|regression|issue)\b", re.I)
_FEAT = re.compile(r"\b(feat|feature|add(s|ed)?|implement(s|ed)?|introduce|support|new)\b", re.I)
_REFACTOR = re.compile(r"\b(refactor\w*|rename[sd]?|move[sd]?|clean ?up|restructur\w*|reorgani[sz]\w*|simplif\w*)\b", re.I)
_WIP = re.compile(r"\b(wip|work in progress|checkpoint|tmp|temp commit)\b", re.I)
_FORMAT = re.compile(r"^(style|chore\(fmt\)|fmt)\b|\b(reformat\w*|formatting|run (black|ruff format|prettier|gofmt|rustfmt|clang-format)|lint(ing)? fix(es)?|fix lint\w*|whitespace)\b", re.I)
_BUMP = re.compile(r"\b(bump(ed)? (the )?version|release v?\d|version \d+\.\d+|prepare (for )?release|changelog)\b|^v?\d+\.\d+(\.\d+)?\s*$", re.I)


def classify(message: str) -> tuple[str, float, str | None]:
    """(intent, quality weight, skip reason) for a commit message (first line)."""
    m = message.strip()
    if _FORMAT.search(m):
        return "explore", 0.0, "formatting-only"
    if _BUMP.search(m):
        return "explore", 0.0, "version bump"
    if _WIP.search(m):
        if len(m.split()) <= 3:
            return "explore", 0.0, "wip"
        return "explore", 0.2, None
    if _FIX.search(m):
        return "debug", 1.5, None
    if _REFACTOR.search(m):
        return "refactor", 0.7, None
    if _FEAT.search(m):
        return "extend", 1.2, None
    return "explore", 1.0, None


# -- history --------------------------------------------------------------------------

def _log(root: Path, rev_range: str, max_commits: int | None = None,
         body: bool = False) -> list[tuple[str, int, str, list[str]]]:
    """(sha, unix time, message, files) per non-merge commit, newest first.

    The message is the subject line, or with ``body`` the whole message cleaned by
    :func:`clean_message`.
    """
    fmt = f"{_MARK}%H %ct %s" + (f"%n%b{_BODY_END}" if body else "")
    args = ["log", "--no-merges", "--name-only", f"--format={fmt}"]
    if max_commits:
        args.append(f"-n{max_commits}")
    args.append(rev_range)
    out = run_git(root, *args)
    commits = []
    for block in out.split(_MARK)[1:]:
        head, _, rest = block.partition("\n")
        parts = head.split(" ", 2)
        if len(parts) < 2:
            continue
        sha, ts = parts[0], int(parts[1])
        subject = parts[2] if len(parts) > 2 else ""
        if body:
            text, _, rest = rest.partition(_BODY_END)
            subject = clean_message(subject + "\n" + text)
        files = [ln for ln in rest.splitlines() if ln.strip()]
        commits.append((sha, ts, subject, files))
    return commits


def clean_message(text: str) -> str:
    """A commit message as task text: trailers (``Signed-off-by:``, ``Co-authored-by:``,
    ``Change-Id:``), quoted patch noise and blank runs removed, capped in length."""
    lines = []
    for ln in text.replace("\r", "").split("\n"):
        s = ln.rstrip()
        if _TRAILER.match(s.strip()) and len(s) < 200 and lines:
            continue
        lines.append(s)
    out = "\n".join(lines).strip()
    out = re.sub(r"\n{3,}", "\n\n", out)
    return out[:MAX_MESSAGE_CHARS]


def _is_source(path: str) -> bool:
    lang = language_for_path(path)
    return lang is not None and lang != "markdown"


@dataclass
class MinedRepo:
    repo: str
    root: Path
    snapshot: str
    snapshot_time: int
    cases: list[Case]
    skipped: dict[str, int] = field(default_factory=dict)
    files_at_snapshot: int = 0


def mine_cases(root: str | Path, *, snapshot_back: int = 300, max_commits: int = 300, min_files: int = 2,
               max_files: int = 12, history_commits: int = 3000, holdout: float = 0.0,
               name: str | None = None, tasks: Sequence[str] = ("A",)) -> MinedRepo:
    """Mine cases from the ``max_commits`` commits following a snapshot ``snapshot_back``
    non-merge commits before HEAD, for each of ``tasks`` (see :data:`TASKS`)."""
    root = Path(root).resolve()
    name = name or root.name
    bad = [t for t in tasks if t not in TASKS]
    if bad or not tasks:
        raise RipmapError(f"unknown task(s) {', '.join(bad) or '(none given)'}: expected some of {', '.join(TASKS)}")
    recent = _log(root, "HEAD", snapshot_back + 1)
    if len(recent) <= 1:
        raise RipmapError(f"{root}: not enough history to mine cases (need more than one commit)")
    snap_sha, snap_ts = recent[-1][0], recent[-1][1]
    after = _log(root, f"{snap_sha}..HEAD", body=True)
    after.reverse()  # oldest first: the closest to the snapshot first
    after = after[:max_commits]
    snap_files = set(run_git(root, "ls-tree", "-r", "--name-only", "-z", snap_sha).split("\0")) - {""}
    # co-change before the snapshot (relevance grades only)
    before = _log(root, snap_sha, history_commits)
    counts: dict[str, int] = {}
    pair: dict[tuple[str, str], int] = {}
    for _sha, _ts, _s, files in before:
        src = sorted({f for f in files if _is_source(f)})
        if len(src) > 30:
            continue
        for f in src:
            counts[f] = counts.get(f, 0) + 1
        for i, a in enumerate(src):
            for b in src[i + 1:]:
                pair[(a, b)] = pair.get((a, b), 0) + 1

    def jaccard(a: str, b: str) -> float:
        key = (a, b) if a < b else (b, a)
        co = pair.get(key, 0)
        if co == 0:
            return 0.0
        return co / (counts[a] + counts[b] - co)

    cases: list[Case] = []
    skipped: dict[str, int] = {}
    for sha, ts, message, files in after:
        subject = message.split("\n", 1)[0]
        intent, quality, reason = classify(subject)
        if reason:
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        src = sorted({f for f in files if _is_source(f) and f in snap_files})
        if not (min_files <= len(src) <= max_files):
            skipped["file count"] = skipped.get("file count", 0) + 1
            continue
        size_w = 1.2 if len(src) <= 6 else 1.0
        for task in tasks:
            if task == "B":
                # every changed file is expected; one case per commit
                exp = tuple(Expected(f, 1.0) for f in src)
                cases.append(Case(repo=name, snapshot=snap_sha, commit=sha, timestamp=ts, message=message,
                                  intent=intent, quality=quality * size_w, seed_file="", expected=exp,
                                  case_weight=round(quality * size_w, 6), task=task))
                continue
            for seed in src:
                exp = tuple(Expected(f, round(0.5 + min(1.0, jaccard(seed, f)), 6)) for f in src if f != seed)
                mean_rel = float(np.mean([e.relevance for e in exp]))
                cases.append(Case(repo=name, snapshot=snap_sha, commit=sha, timestamp=ts, message=message,
                                  intent=intent, quality=quality * size_w, seed_file=seed, expected=exp,
                                  case_weight=round(quality * size_w * mean_rel, 6), task=task))
    if holdout > 0 and cases:
        times = sorted({c.timestamp for c in cases})
        cut = times[int(len(times) * (1.0 - holdout))] if len(times) > 1 else times[-1] + 1
        cases = [Case(**{**c.__dict__, "split": "holdout" if c.timestamp >= cut else "train"}) for c in cases]
    return MinedRepo(repo=name, root=root, snapshot=snap_sha, snapshot_time=snap_ts, cases=cases,
                     skipped=skipped, files_at_snapshot=len(snap_files))


@dataclass(frozen=True)
class MineSettings:
    """How cases are mined from each repository: the ``ripmap-train mine`` options, whose
    defaults these are (a snapshot 300 commits back, the 300 commits after it, commits
    touching 2 to 12 source files, all three tasks, the newest 30% held out)."""

    snapshot_back: int = 300
    max_commits: int = 300
    min_files: int = 2
    max_files: int = 12
    tasks: tuple[str, ...] = TASKS
    holdout: float = 0.3

    def mine(self, root: str | Path, name: str | None = None) -> MinedRepo:
        return mine_cases(root, snapshot_back=self.snapshot_back, max_commits=self.max_commits,
                          min_files=self.min_files, max_files=self.max_files, holdout=self.holdout, name=name,
                          tasks=self.tasks)
