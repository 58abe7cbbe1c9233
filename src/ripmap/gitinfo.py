"""Git history signals for ranking: recency, churn and co-change, from one ``git log``.

Why these three: files that changed recently or often are the ones people are working
on, and files that change *together* with the files a user cares about are usually
the ones they need to see next. All three come out of a single
``git log --name-only`` pass, so reading them costs one subprocess no matter how big
the repository is.

Design notes
------------
* **Reproducible.** Ages are measured from the newest commit considered, not from the
  wall clock, so the same history always gives the same numbers (the trainer relies
  on this when it replays old snapshots).
* **No leaks.** ``until`` is resolved to a commit id first and only history reachable
  from that id is read, so nothing committed after a snapshot can influence it.
* **Never raises on git trouble.** A missing ``git``, a directory that is not a
  repository, an empty repository, a bad ``until`` or a timeout all give
  :meth:`GitSignals.empty` with a one-line note: git signals are a bonus, and the map
  must still be drawn without them.
* **Per-pair work is sparse linear algebra.** Co-change is Jaccard similarity of commit
  sets, computed from a commits x files incidence matrix (``M.T @ M`` restricted to the
  seed columns), never with Python loops over file pairs.
"""
from __future__ import annotations

import functools
import itertools
import os
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from .lazy import sparse as sp

__all__ = [
    "DEFAULT_MAX_COMMITS",
    "DEFAULT_MAX_COMMIT_FILES",
    "DEFAULT_TIMEOUT",
    "SHALLOW_NOTE",
    "GitSignals",
    "GitTimeline",
    "git_head",
    "git_toplevel",
    "load_git_signals",
    "load_git_timeline",
]

#: How many (non-merge) commits to read by default: enough for a stable churn and
#: co-change picture, small enough that ``git log`` stays well under a second.
DEFAULT_MAX_COMMITS = 2000
#: Commits touching more files than this are sweeping changes (reformatting, renames
#: of a package, vendoring) whose file sets say nothing about which files belong
#: together, so they are left out of co-change. They still count for age and churn.
DEFAULT_MAX_COMMIT_FILES = 30
#: Seconds any single git subprocess may take before we give up on git signals.
DEFAULT_TIMEOUT = 30.0
#: The note added when the repository is a shallow clone.
SHALLOW_NOTE = "shallow clone: git history is truncated"

_SECONDS_PER_DAY = 86400.0
_SERIALS = itertools.count(1)
# Record separator: starts every commit header in our ``--format``. With ``-z`` file
# names are NUL-terminated, so splitting the whole output on NUL gives header and
# name tokens; a name would have to begin with this control byte to be mistaken
# for a header.
_MARKER = "\x1e"
# Variables that would make git ignore ``-C root`` and look at some other repository
# (they are set, for example, while a git hook runs).
_REPO_LOCATING_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_INDEX_FILE", "GIT_PREFIX")


def _frozen(a: np.ndarray) -> np.ndarray:
    """Return ``a`` marked read-only, so a frozen GitSignals really cannot change."""
    a.flags.writeable = False
    return a


def _norm_path(p: str | os.PathLike[str]) -> str:
    """Root-relative path spelled as git spells it: '/' separators, no leading './'."""
    s = os.fspath(p).replace(os.sep, "/") if os.sep != "/" else os.fspath(p)
    while s.startswith("./"):
        s = s[2:]
    return s


@dataclass(frozen=True, eq=False)
class GitSignals:
    """Per-file history signals of one repository view (a root directory at a commit).

    ``files[i]`` is described by ``age_days[i]``, ``churn[i]`` and column ``i`` of
    ``commit_files``. Arrays are read-only. Equality is identity (``eq=False``):
    comparing numpy arrays field by field has no single truth value.

    Attributes:
        files: root-relative '/'-separated paths that appear in the history read
            (and in the caller's current file list, when one was given), sorted.
        age_days: days between the reference time ``now`` and the newest commit
            touching the file. ``now`` is the newest commit considered, so ages are
            reproducible and a snapshot's age never depends on when it is replayed.
        churn: number of commits touching the file (large commits included).
        commit_files: commits x files incidence (float32 ones), only for commits that
            touched between 1 and ``max_commit_files`` files; the basis for co-change.
            Rows are not tied to commit ids: only column statistics are meaningful.
        commit_age: per row of ``commit_files``, days between ``now`` and that commit
            (for recency-weighted co-change; zeros when unknown).
        commit_size: per row of ``commit_files``, how many files the commit touched
            under root (before any restriction), for size-normalized co-change.
        head: id of the commit history was read from (``until`` resolved, else HEAD).
        notes: one-line remarks for the user (why signals are empty, shallow clone).
        now: the reference time as a Unix timestamp, ``None`` when nothing was read.
        index: path -> position in ``files`` (derived, not an init argument).
        commit_counts: per-file number of rows of ``commit_files`` it appears in, i.e.
            ``|C_f|`` in the Jaccard formula (derived).
    """

    files: tuple[str, ...]
    age_days: np.ndarray
    churn: np.ndarray
    commit_files: sp.csr_matrix
    head: str | None = None
    notes: tuple[str, ...] = ()
    now: int | None = None
    commit_age: np.ndarray | None = None
    commit_size: np.ndarray | None = None
    index: dict[str, int] = field(init=False, repr=False)
    commit_counts: np.ndarray = field(init=False, repr=False)
    #: a number no other GitSignals of this process has: what memos of values derived
    #: from these signals are keyed by (an ``id`` can be reused once an object is freed)
    serial: int = field(init=False, repr=False)
    #: ``index`` when the caller already has it for these ``files`` (the views of one
    #: :class:`GitTimeline` share the timeline's)
    known_index: InitVar[dict[str, int] | None] = None

    def __post_init__(self, known_index: dict[str, int] | None) -> None:
        object.__setattr__(self, "serial", next(_SERIALS))
        n = len(self.files)
        # Copies, so freezing them cannot make a caller's own arrays read-only.
        age = np.array(self.age_days, dtype=np.float64).reshape(-1)
        churn = np.array(self.churn, dtype=np.int64).reshape(-1)
        m = sp.csr_matrix(self.commit_files, dtype=np.float32)
        if age.shape != (n,) or churn.shape != (n,) or m.shape[1] != n:
            raise ValueError(
                f"inconsistent GitSignals: {n} files, age {age.shape}, churn {churn.shape}, "
                f"commit_files {m.shape}"
            )
        counts = np.bincount(m.indices, minlength=n).astype(np.int64) if m.nnz else np.zeros(n, np.int64)
        rows = m.shape[0]
        cage = np.zeros(rows) if self.commit_age is None else np.array(self.commit_age, dtype=np.float64).reshape(-1)
        csize = np.diff(m.indptr).astype(np.float64) if self.commit_size is None \
            else np.array(self.commit_size, dtype=np.float64).reshape(-1)
        if cage.shape != (rows,) or csize.shape != (rows,):
            raise ValueError(f"inconsistent GitSignals: {rows} co-change commits, ages {cage.shape}, "
                             f"sizes {csize.shape}")
        object.__setattr__(self, "commit_age", _frozen(cage))
        object.__setattr__(self, "commit_size", _frozen(csize))
        object.__setattr__(self, "files", tuple(self.files))
        object.__setattr__(self, "notes", tuple(self.notes))
        object.__setattr__(self, "age_days", _frozen(age))
        object.__setattr__(self, "churn", _frozen(churn))
        object.__setattr__(self, "commit_files", m)
        object.__setattr__(self, "index", {f: i for i, f in enumerate(self.files)} if known_index is None
                           or len(known_index) != len(self.files) else known_index)
        object.__setattr__(self, "commit_counts", _frozen(counts))

    # ------------------------------------------------------------------ construction
    @classmethod
    def empty(cls, note: str | None = None, *, head: str | None = None,
              notes: Sequence[str] = ()) -> GitSignals:
        """Signals with no files; ``note`` tells the user why git could not help."""
        all_notes = tuple(notes) + ((note,) if note else ())
        return cls(
            files=(),
            age_days=np.zeros(0, np.float64),
            churn=np.zeros(0, np.int64),
            commit_files=sp.csr_matrix((0, 0), dtype=np.float32),
            head=head,
            notes=all_notes,
        )

    @property
    def is_empty(self) -> bool:
        """True when there is no file to say anything about."""
        return not self.files

    def restrict(self, paths: Iterable[str]) -> GitSignals:
        """Keep only ``paths`` (e.g. the files that exist now), dropping the rest.

        Lets a caller cache the unfiltered signals per HEAD and cut them down to each
        run's file list cheaply. Which commits count as "large" was decided on the
        full history, so the result equals loading with ``files=paths``.
        """
        wanted = {_norm_path(p) for p in paths}
        keep = np.fromiter((f in wanted for f in self.files), dtype=bool, count=len(self.files))
        cols = np.flatnonzero(keep)
        m = self.commit_files[:, cols]
        nonempty = np.flatnonzero(np.diff(m.indptr) > 0)
        return GitSignals(
            files=tuple(self.files[i] for i in cols),
            age_days=self.age_days[cols].copy(),
            churn=self.churn[cols].copy(),
            commit_files=m[nonempty],
            head=self.head,
            notes=self.notes,
            now=self.now,
            commit_age=self.commit_age[nonempty],
            commit_size=self.commit_size[nonempty],
        )

    # ------------------------------------------------------------------ co-change
    def cochange_vector(self, seed_idx: np.ndarray | Sequence[int], *,
                        reduce: Literal["max", "mean"] = "max") -> np.ndarray:
        """Co-change score of every file with a set of seed files.

        For file ``f`` and seed ``s``: ``J(f, s) = |C_f & C_s| / |C_f | C_s|`` where
        ``C_x`` is the set of (small) commits touching ``x``. Intersections come from
        ``M.T @ M[:, seeds]``; set sizes from the column sums of ``M``.

        ``reduce="max"`` (default) scores a file by its strongest tie to any seed: a
        file that always changes with one seed matters even if it never changes with
        the others, and a mean would dilute it as seeds are added. ``"mean"`` averages
        over the seeds instead. A seed is never compared with itself (that would
        always be 1), so a seed's score is its tie to the *other* seeds.

        Returns float64 scores in [0, 1], shape ``(len(files),)``. Raises
        ``IndexError`` for out-of-range seed indices.
        """
        n = len(self.files)
        out = np.zeros(n, dtype=np.float64)
        seeds = np.unique(np.asarray(seed_idx, dtype=np.intp).reshape(-1))
        if seeds.size == 0 or n == 0:
            return out
        if seeds[0] < 0 or seeds[-1] >= n:
            raise IndexError(f"seed index out of range for {n} files: {seeds[0]}..{seeds[-1]}")
        m = self.commit_files
        if m.nnz == 0:
            return out
        co = (m.T @ m[:, seeds]).tocoo()  # files x seeds, intersections |C_f & C_s|
        f, s, inter = co.row, co.col, co.data.astype(np.float64)
        seed_of = seeds[s]
        keep = (f != seed_of) & (inter > 0)
        f, s, inter, seed_of = f[keep], s[keep], inter[keep], seed_of[keep]
        cnt = self.commit_counts.astype(np.float64)
        jac = inter / (cnt[f] + cnt[seed_of] - inter)
        jm = sp.csr_matrix((jac, (f, s)), shape=(n, seeds.size))
        if reduce == "max":
            return np.asarray(jm.max(axis=1).todense(), dtype=np.float64).reshape(-1)
        if reduce == "mean":
            total = np.asarray(jm.sum(axis=1), dtype=np.float64).reshape(-1)
            # Non-seeds average over every seed; a seed over the others only.
            denom = np.full(n, float(seeds.size))
            denom[seeds] -= 1.0
            np.divide(total, denom, out=out, where=denom > 0)
            return out
        raise ValueError(f"reduce must be 'max' or 'mean', not {reduce!r}")

    def cochange(self, seed_paths: Iterable[str], *,
                 reduce: Literal["max", "mean"] = "max") -> dict[str, float]:
        """Path-keyed :meth:`cochange_vector`: nonzero scores only; unknown seeds ignored."""
        idx = [self.index[p] for p in map(_norm_path, seed_paths) if p in self.index]
        vec = self.cochange_vector(np.asarray(idx, dtype=np.intp), reduce=reduce)
        return {self.files[i]: float(vec[i]) for i in np.flatnonzero(vec)}

    @functools.cached_property
    def _files_by_commit(self) -> sp.csr_matrix:
        """``commit_files`` transposed, built once: every co-change query multiplies by it."""
        return self.commit_files.T.tocsr()

    def _commit_weights(self, half_life_days: float, size_exponent: float) -> np.ndarray:
        """Each commit's recency × size weight (the same for every query at one point:
        kept for the latest pair of parameters)."""
        memo = self.__dict__.get("_weights_memo")
        if memo is not None and memo[0] == (half_life_days, size_exponent):
            return memo[1]
        size = np.maximum(self.commit_size, 1.0)
        with np.errstate(over="ignore"):
            tw = np.exp2(-self.commit_age / max(half_life_days, 1e-9)) * np.power(np.maximum(size - 1.0, 1.0),
                                                                               -size_exponent)
        tw.setflags(write=False)
        self.__dict__["_weights_memo"] = ((half_life_days, size_exponent), tw)
        return tw

    def association_vector(self, seed_weights: np.ndarray, *, half_life_days: float = 365.0,
                           size_exponent: float = 0.5, prior: float = 1.0) -> np.ndarray:
        """Targeted association rules from weighted seed files to every file (TARMAQ/ROSE style).

        Every (small) commit ``T`` that touched a seed is a piece of evidence that the
        *other* files of ``T`` go with the seeds. Each counts with

            weight(T) = 2^(-age(T)/half_life) · (|T| - 1)^(-size_exponent) · Σ_{s ∈ T} q_s / Σ q

        (recent commits count more, large commits less, and commits holding more of the
        seed mass more), and all applicable rules are *combined* (summed) rather than
        the strongest one taken. The result is the aggregated confidence: the weighted
        share of the seeds' commits that also touched the file, shrunk toward 0 by
        ``prior`` pseudo-commits (``evidence / (support + prior)``), so one lone commit
        is weak evidence and many agreeing commits strong; in [0, 1). A seed's own
        commits never count as evidence for that seed. ``seed_weights`` is aligned with
        :attr:`files`; only its positive entries matter.
        """
        n = len(self.files)
        out = np.zeros(n)
        q = np.asarray(seed_weights, dtype=np.float64).reshape(-1)
        if q.shape != (n,):
            raise ValueError(f"seed_weights must have {n} entries, got {q.shape}")
        q = np.where(q > 0, q, 0.0)
        total = q.sum()
        m = self.commit_files
        if total <= 0 or m.nnz == 0:
            return out
        overlap = np.asarray(m @ q).ravel()  # seed mass in each commit
        live = overlap > 0
        if not live.any():
            return out
        tw = np.where(live, self._commit_weights(float(half_life_days), float(size_exponent)), 0.0)
        support = float((tw * overlap).sum()) / total
        if support <= 0:
            return out
        mt = self._files_by_commit
        score = (np.asarray(mt @ (tw * overlap)).ravel() - q * np.asarray(mt @ tw).ravel()) / total
        out = np.clip(score / (support + max(prior, 0.0)), 0.0, 1.0)
        return out

    def recent_partners(self, seed_weights: np.ndarray, commits: int = 2) -> np.ndarray:
        """For every file, the share of each seed's ``commits`` newest (small) commits
        that also touched it, the largest over the seeds with positive weight; in [0, 1].

        What someone is in the middle of: a seed's last commits name the files its
        current work goes with, which a long history's rules dilute. A seed's own entry
        is its share among the *other* seeds' commits. Rows of ``commit_files`` are in
        log order (newest first), which is what "newest" reads.
        """
        n = len(self.files)
        q = np.asarray(seed_weights, dtype=np.float64).reshape(-1)
        if q.shape != (n,):
            raise ValueError(f"seed_weights must have {n} entries, got {q.shape}")
        seeds = np.flatnonzero(q > 0)
        out = np.zeros(n)
        if seeds.size == 0 or self.commit_files.nnz == 0 or commits < 1:
            return out
        by_file = self._files_by_commit  # files x commits, each row's commits in log order
        starts, ends = by_file.indptr[seeds], np.minimum(by_file.indptr[seeds + 1], by_file.indptr[seeds] + commits)
        took = ends - starts
        live = took > 0
        if not live.any():
            return out
        seeds, starts, took = seeds[live], starts[live], took[live]
        pos = np.repeat(starts, took) + (np.arange(took.sum()) - np.repeat(np.cumsum(took) - took, took))
        which = np.repeat(np.arange(seeds.size), took)
        S = sp.csr_matrix((1.0 / took[which], (which, by_file.indices[pos])),
                          shape=(seeds.size, self.commit_files.shape[0]))
        share = (S @ self.commit_files).tocsr()  # seeds x files
        share[np.arange(seeds.size), seeds] = 0.0
        share.eliminate_zeros()
        return np.asarray(share.max(axis=0).todense(), dtype=np.float64).reshape(-1)


# ---------------------------------------------------------------------- subprocess


class _GitFailure(Exception):
    """Internal: git could not answer; the message is the user-facing one-line note."""


def _git_env() -> dict[str, str]:
    """Environment for git: fixed locale (we read its messages), no prompts, no locks."""
    env = {k: v for k, v in os.environ.items() if k not in _REPO_LOCATING_ENV}
    env.update(LC_ALL="C", LANGUAGE="C", GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0")
    return env


def _first_line(stderr: bytes) -> str:
    for line in stderr.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if line:
            return line.removeprefix("fatal: ").removeprefix("error: ")
    return "no message"


def _run_git(root: Path, args: Sequence[str], timeout: float) -> subprocess.CompletedProcess[bytes]:
    """Run ``git -C root <args>``; failures to *start* or finish become _GitFailure."""
    cmd = ["git", "-c", "core.quotepath=off", "-C", str(root), *args]
    try:
        return subprocess.run(cmd, capture_output=True, timeout=timeout, env=_git_env(),
                              stdin=subprocess.DEVNULL, check=False)
    except FileNotFoundError as exc:
        raise _GitFailure("git is not installed (no 'git' on PATH): no git signals") from exc
    except subprocess.TimeoutExpired as exc:
        raise _GitFailure(f"git {args[0]} timed out after {timeout:g}s: no git signals") from exc
    except OSError as exc:
        raise _GitFailure(f"could not run git: {exc}") from exc


def git_head(root: Path, *, timeout: float = 10.0) -> str | None:
    """Commit id of HEAD, or ``None`` (not a repo, no commits, no git). Cheap cache key."""
    try:
        r = _run_git(Path(root), ["rev-parse", "--verify", "-q", "HEAD^{commit}"], timeout)
    except _GitFailure:
        return None
    out = r.stdout.decode("ascii", "replace").strip()
    return out if r.returncode == 0 and out else None


def git_toplevel(root: Path, *, timeout: float = 10.0) -> Path | None:
    """Top directory of the work tree containing ``root``, or ``None``."""
    try:
        r = _run_git(Path(root), ["rev-parse", "--show-toplevel"], timeout)
    except _GitFailure:
        return None
    out = os.fsdecode(r.stdout).rstrip("\n")
    return Path(out) if r.returncode == 0 and out else None


def _resolve(root: Path, until: str | None, timeout: float) -> tuple[str, bool, Path]:
    """Resolve the tip commit and learn whether (and where) the clone is shallow.

    One ``rev-parse`` call: ``--is-shallow-repository`` and ``--git-path`` print even
    when the revision fails to resolve, which tells "no commits yet" apart from "not a
    repository".
    """
    rev = "HEAD" if until is None else until
    r = _run_git(root, ["rev-parse", "--is-shallow-repository", "--git-path", "shallow",
                        f"{rev}^{{commit}}"], timeout)
    lines = os.fsdecode(r.stdout).splitlines()
    if r.returncode != 0 or len(lines) != 3:
        if len(lines) >= 2 and lines[0] in ("true", "false"):
            if until is None:
                raise _GitFailure("git repository has no commits yet: no git signals")
            raise _GitFailure(f"cannot resolve until={until!r} to a commit: no git signals")
        msg = _first_line(r.stderr)
        if "not a git repository" in msg:
            raise _GitFailure(f"not a git repository ({root}): no git signals")
        raise _GitFailure(f"git rev-parse failed: {msg}")
    shallow_file = Path(lines[1])
    if not shallow_file.is_absolute():
        shallow_file = root / shallow_file
    return lines[2].strip(), lines[0] == "true", shallow_file


def _parse_log(text: str, boundary: frozenset[str],
               shas: list[str] | None = None) -> tuple[list[int], list[int], list[str], list[int]]:
    """Split ``git log -z`` output into commit times, per-commit file counts and paths.

    Output shape per commit: ``<MARKER><sha> <ct>\\0`` then, if it touched anything,
    ``\\n<path>\\0<path>\\0...``. Returns ``(times, nfiles, paths, commit_of_path)``
    with commits numbered in log order. Shallow-boundary commits (listed in
    ``boundary``) are dropped: git shows them as adding the whole tree, which is not
    a real change. ``shas``, when given, receives each kept commit's id in log order.
    """
    times: list[int] = []
    nfiles: list[int] = []
    paths: list[str] = []
    owner: list[int] = []
    c = -1
    skipping = False
    for tok in text.split("\0"):
        if not tok:
            continue
        if tok[0] == _MARKER:
            sha, _, ct = tok[1:].partition(" ")
            skipping = sha in boundary
            if not skipping:
                if shas is not None:
                    shas.append(sha)
                times.append(int(ct))
                nfiles.append(0)
                c += 1
            continue
        if skipping or c < 0:
            continue
        if tok[0] == "\n":
            tok = tok[1:]
            if not tok:
                continue
        paths.append(tok)
        owner.append(c)
        nfiles[c] += 1
    return times, nfiles, paths, owner


def _build(times: list[int], nfiles: list[int], paths: list[str], owner: list[int],
           max_commit_files: int, head: str, notes: tuple[str, ...]) -> GitSignals:
    """Turn parsed log records into arrays: age, churn and the sparse incidence."""
    files, full = _incidence(len(times), paths, owner)
    return _signals(full, np.asarray(times, dtype=np.int64), np.asarray(nfiles, dtype=np.int64), files,
                    max_commit_files, head, notes)


def _incidence(n_commits: int, paths: list[str], owner: list[int]) -> tuple[tuple[str, ...], sp.csr_matrix]:
    """The files of parsed log records (sorted) and the commits x files incidence of
    every commit; a path listed twice in one commit counts once."""
    files, cols = np.unique(np.asarray(paths, dtype=object), return_inverse=True) if paths \
        else (np.zeros(0, dtype=object), np.zeros(0, dtype=np.intp))
    m = sp.csr_matrix((np.ones(len(owner), np.float32), (np.asarray(owner, dtype=np.intp), cols.astype(np.intp))),
                      shape=(n_commits, len(files)))
    m.sum_duplicates()
    m.data[:] = 1.0
    return tuple(str(f) for f in files), m


def _signals(full: sp.csr_matrix, ts: np.ndarray, sizes: np.ndarray, files: tuple[str, ...],
             max_commit_files: int, head: str | None, notes: tuple[str, ...],
             known_index: dict[str, int] | None = None) -> GitSignals:
    """:class:`GitSignals` of the commits that are ``full``'s rows (log order; ``ts``
    their times, ``sizes`` how many files each touched under root). A file no row
    touches has no age (inf) and no churn."""
    n_files = len(files)
    now = int(ts.max())
    churn = np.bincount(full.indices, minlength=n_files).astype(np.int64)
    last = np.full(n_files, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last, full.indices, np.repeat(ts, np.diff(full.indptr)))
    age_days = np.full(n_files, np.inf)
    seen = churn > 0
    age_days[seen] = (now - last[seen]) / _SECONDS_PER_DAY
    # Co-change incidence: only small commits, judged by everything they touched
    # under root, and only commits that touched something.
    small = np.flatnonzero((sizes >= 1) & (sizes <= max_commit_files))
    return GitSignals(files=files, age_days=age_days, churn=churn, commit_files=full[small], head=head,
                      notes=notes, now=now, commit_age=(now - ts[small]) / _SECONDS_PER_DAY,
                      commit_size=sizes[small].astype(np.float64), known_index=known_index)


_NO_COMMITS = "no commits touch this directory: no git signals"


def _read_log(root: Path, until: str | None, max_commits: int,
              timeout: float) -> tuple[str, tuple[str, ...], str, frozenset[str]]:
    """``(tip id, notes, git log -z output, shallow-boundary commits)`` for the newest
    ``max_commits`` non-merge commits reachable from ``until`` (HEAD) touching ``root``.
    Raises :class:`_GitFailure` with the user-facing note."""
    if until is not None and until.startswith("-"):
        raise _GitFailure(f"until={until!r} is not a commit: no git signals")
    head, shallow, shallow_file = _resolve(root, until, timeout)
    notes: tuple[str, ...] = ()
    boundary: frozenset[str] = frozenset()
    if shallow:
        notes = (SHALLOW_NOTE,)
        try:
            boundary = frozenset(shallow_file.read_text("ascii").split())
        except OSError:
            pass
    r = _run_git(root, [
        "-c", "log.showSignature=false", "-c", "log.showRoot=true",
        "log", "--no-merges", "--no-renames", "--no-color", "--no-notes",
        "--name-only", "-z", "--relative", f"--format={_MARKER}%H %ct",
        "-n", str(int(max_commits)), head, "--", ".",
    ], timeout)
    if r.returncode != 0:
        raise _GitFailure(f"git log failed: {_first_line(r.stderr)}")
    return head, notes, os.fsdecode(r.stdout), boundary


def load_git_signals(root: Path, *, until: str | None = None,
                     max_commits: int = DEFAULT_MAX_COMMITS,
                     max_commit_files: int = DEFAULT_MAX_COMMIT_FILES,
                     files: Iterable[str] | None = None,
                     timeout: float = DEFAULT_TIMEOUT) -> GitSignals:
    """Read age, churn and co-change for files under ``root`` from one ``git log``.

    Args:
        root: directory to map; may be a subdirectory of the repository, in which
            case only history under it is read and paths are relative to it.
        until: commit-ish cutting the view (a snapshot); only history reachable from
            it is read. ``None`` means HEAD.
        max_commits: newest non-merge commits touching ``root`` to read.
        max_commit_files: commits touching more files (under ``root``) than this are
            left out of co-change but still count for age and churn.
        files: the current file list (root-relative); paths not in it are dropped.
            ``None`` keeps every path seen in history, deleted ones included.
        timeout: seconds allowed per git subprocess.

    Returns:
        :class:`GitSignals`; on any git trouble an empty one with a note. Renames are
        not followed: a file's history starts at the commit that created its path.
    """
    if max_commits < 1 or max_commit_files < 1:
        raise ValueError("max_commits and max_commit_files must be at least 1")
    try:
        head, notes, text, boundary = _read_log(Path(root), until, max_commits, timeout)
    except _GitFailure as exc:
        return GitSignals.empty(str(exc))
    times, nfiles, paths, owner = _parse_log(text, boundary)
    if not times:
        return GitSignals.empty(_NO_COMMITS,
                                head=head, notes=notes)
    sig = _build(times, nfiles, paths, owner, max_commit_files, head, notes)
    return sig if files is None else sig.restrict(files)


@dataclass(frozen=True, eq=False)
class GitTimeline:
    """One ``git log`` read once and viewed as it stood before any commit in it.

    The trainer and ``bench/quality.py`` rank each case with the history its author had:
    every commit older than the case's, not only those older than the snapshot the code
    was indexed at. :meth:`before` gives that view as :class:`GitSignals`, the same
    numbers :func:`load_git_signals` would give at the commit's parent (the same window
    of ``max_commits`` commits), by slicing one incidence matrix instead of running git
    per case. "Older" is git's log order (reverse chronological, merges left out), the
    order cases are mined in.
    """

    shas: tuple[str, ...]  # log order, newest first
    times: np.ndarray
    sizes: np.ndarray  # files each commit touched under root
    incidence: sp.csr_matrix  # commits x files, every commit
    files: tuple[str, ...]
    max_commits: int
    max_commit_files: int
    notes: tuple[str, ...] = ()
    position: dict[str, int] = field(init=False, repr=False)
    file_index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "position", {s: i for i, s in enumerate(self.shas)})
        object.__setattr__(self, "file_index", {f: i for i, f in enumerate(self.files)})

    def __contains__(self, sha: str) -> bool:
        return sha in self.position

    def before(self, sha: str) -> GitSignals:
        """The history a user had just before ``sha`` was committed (``KeyError`` when the
        log read does not hold it). Files the window never touched have no age (inf)."""
        p = self.position[sha] + 1
        rows = slice(p, min(p + self.max_commits, len(self.shas)))
        if rows.start >= rows.stop:
            return GitSignals.empty(_NO_COMMITS, notes=self.notes)
        return _signals(self.incidence[rows], self.times[rows], self.sizes[rows], self.files,
                        self.max_commit_files, self.shas[p], self.notes, known_index=self.file_index)


def load_git_timeline(root: Path, *, tip: str | None = None, commits: int = DEFAULT_MAX_COMMITS,
                      max_commits: int = DEFAULT_MAX_COMMITS,
                      max_commit_files: int = DEFAULT_MAX_COMMIT_FILES,
                      timeout: float = DEFAULT_TIMEOUT) -> GitTimeline | None:
    """The newest ``commits`` + ``max_commits`` non-merge commits reachable from ``tip``
    (HEAD) touching ``root``, as a :class:`GitTimeline` whose views are ``max_commits``
    commits deep: every one of the newest ``commits`` can be viewed with a full window.
    ``None`` when git cannot read it (the caller keeps the history it has)."""
    if max_commits < 1 or max_commit_files < 1 or commits < 0:
        raise ValueError("commits must be at least 0, max_commits and max_commit_files at least 1")
    shas: list[str] = []
    try:
        _head, notes, text, boundary = _read_log(Path(root), tip, commits + max_commits, timeout)
    except _GitFailure:
        return None
    times, nfiles, paths, owner = _parse_log(text, boundary, shas)
    files, m = _incidence(len(times), paths, owner)
    return GitTimeline(shas=tuple(shas), times=np.asarray(times, dtype=np.int64),
                       sizes=np.asarray(nfiles, dtype=np.int64), incidence=m, files=files,
                       max_commits=max_commits, max_commit_files=max_commit_files, notes=notes)
