"""Which failing cases to look at, and why each one failed.

*Why*: :func:`diagnose` reads a failure's explanation rows (:meth:`ripmap.rank.explain`
as dicts) and names the signal in which the best-ranked expected file is furthest behind
the top-ranked wrong file. A score is ``base × multipliers`` with an additive base, so
the log-score gap between the two files splits exactly into one term per signal::

    ln(score_top / score_exp) = Σ_additive w_s · (v_top,s − v_exp,s) · L  +  Σ_multiplier ln(f_top / f_exp)

where ``L = ln(base_top / base_exp) / (base_top − base_exp)`` (the logarithmic mean's
inverse) turns a difference of bases into a difference of log scores. The largest term,
summed per failure kind (:data:`~ripmap.train.vocabulary.SIGNAL_KIND`), is the kind.

*Which*: :func:`spread` picks ``k`` of many failing cases so that repositories, tasks and
kinds are all represented, failures shown less often (and longer ago) come first, and the
worst NDCG comes first only within that. Its last tie-break is a stable hash of the case,
not the case order: ties at NDCG 0 are common, and breaking them by order showed only the
oldest commits of the repository whose name sorts first.
"""
from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Protocol, Sequence

from ..numbers import finite
from ..vocabulary import FAILURE_KINDS, SIGNAL_KIND

FailureKey = tuple[str, str, str, str]
"""(repository, commit, task, seed file): one case, whatever parameters ranked it."""


class HasCase(Protocol):
    """A case or a failure: what identifies the case it comes from."""

    repo: str
    commit: str
    task: str
    seed_file: str


def failure_key(x: HasCase) -> FailureKey:
    return (str(x.repo), str(x.commit), str(x.task), str(x.seed_file))


@dataclass(frozen=True)
class Diagnosis:
    """Why one failure's expected file ranked low.

    ``signal_terms`` holds, per signal, its share of the log-score gap between ``top``
    (the best-ranked file that was not expected) and ``expected`` (the best-ranked
    expected file below it); positive terms hold the expected file back. ``terms`` sums
    them per failure kind.
    """

    kind: str
    expected: str | None = None
    expected_rank: int | None = None
    top: str | None = None
    top_rank: int | None = None
    signal_terms: Mapping[str, float] = field(default_factory=dict)

    @property
    def terms(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name, t in self.signal_terms.items():
            k = SIGNAL_KIND.get(name, "other")
            out[k] = out.get(k, 0.0) + t
        return out

    @property
    def gap(self) -> float:
        """ln(score_top / score_expected): the sum of the terms."""
        return float(sum(self.signal_terms.values()))

    @property
    def signal(self) -> str | None:
        """The signal of the kind with the largest term (lexical or lexical_chat, ...)."""
        inside = [(t, n) for n, t in self.signal_terms.items() if SIGNAL_KIND.get(n) == self.kind and t > 0]
        return max(inside)[1] if inside else None


def _rank(row: Mapping[str, Any]) -> int:
    r = finite(row.get("rank"))
    return int(r) if r is not None else 1 << 30


def _signals(row: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(s.get("signal")): s for s in row.get("signals") or () if isinstance(s, Mapping)}


def diagnose(explanations: Sequence[Mapping[str, Any]] | None) -> Diagnosis:
    """The kind of one failure from its explanation rows (see the module docstring).

    ``unmapped``: no expected file has a row (it is not in the map, or nothing was
    explained); ``unreachable``: the expected file scores zero, so no weight can lift it;
    ``other``: no expected row ranks below a wrong one, or no term is positive.
    """
    rows = [r for r in explanations or () if isinstance(r, Mapping)]
    exp = sorted((r for r in rows if r.get("expected")), key=_rank)
    wrong = sorted((r for r in rows if not r.get("expected")), key=_rank)
    if not exp:
        return Diagnosis("unmapped")
    if not wrong:
        return Diagnosis("other", str(exp[0].get("path")), _rank(exp[0]))
    top = wrong[0]
    behind = [r for r in exp if _rank(r) > _rank(top)]
    if not behind:
        return Diagnosis("other", str(exp[0].get("path")), _rank(exp[0]), str(top.get("path")), _rank(top))
    e = behind[0]
    who = dict(expected=str(e.get("path")), expected_rank=_rank(e), top=str(top.get("path")), top_rank=_rank(top))
    if finite(e.get("score"), 0.0) <= 0.0:
        return Diagnosis("unreachable", **who)
    se, st = _signals(e), _signals(top)
    base_e, base_t = finite(e.get("base"), 0.0), finite(top.get("base"), 0.0)
    if base_e > 0 and base_t > 0 and abs(base_t - base_e) > 1e-12 * max(base_t, base_e):
        scale = (math.log(base_t) - math.log(base_e)) / (base_t - base_e)
    else:
        scale = 1.0 / base_e if base_e > 0 else 0.0
    sig: dict[str, float] = {}
    for name in sorted(set(se) | set(st)):
        a, b = se.get(name, {}), st.get(name, {})
        if (a.get("kind") or b.get("kind")) == "additive":
            w = finite(b.get("weight"), finite(a.get("weight"), 0.0))
            t = w * (finite(b.get("value"), 0.0) - finite(a.get("value"), 0.0)) * scale
        else:
            fa, fb = finite(a.get("contribution"), 1.0), finite(b.get("contribution"), 1.0)
            t = math.log(fb) - math.log(fa) if fa > 0 and fb > 0 else 0.0
        sig[name] = t
    terms = Diagnosis("", signal_terms=sig).terms
    order = {k: i for i, k in enumerate(FAILURE_KINDS)}
    best = min(terms, key=lambda k: (-terms[k], order.get(k, len(order))), default=None)
    if best is None or terms[best] <= 1e-12:
        return Diagnosis("other", signal_terms=sig, **who)
    return Diagnosis(best, signal_terms=sig, **who)


def classify(explanations: Sequence[Mapping[str, Any]] | None) -> str:
    """The failure kind alone (:func:`diagnose`)."""
    return diagnose(explanations).kind


def tally(kinds: Iterable[str] | Mapping[str, int]) -> str:
    """``lexical 2, cochange 1``: kinds (one per failure, or counted) by how many failures
    have them, ties in kind order."""
    order = {k: i for i, k in enumerate(FAILURE_KINDS)}
    counts = Counter(kinds)
    return ", ".join(f"{k} {n}" for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], order.get(kv[0], 99))))


@dataclass(frozen=True)
class Shown:
    """How often a case was shown to the agent, and the last episode it was shown in."""

    times: int
    last: int


@dataclass(frozen=True)
class Candidate:
    """A failing case as :func:`spread` weighs it."""

    repo: str
    commit: str
    task: str
    seed_file: str
    ndcg: float
    kind: str = ""

    @property
    def key(self) -> FailureKey:
        return failure_key(self)

    @classmethod
    def of(cls, x: HasCase, ndcg: float | None = None) -> "Candidate":
        """From a case (with its NDCG) or a failure (which carries its NDCG and kind)."""
        score = ndcg if ndcg is not None else float(getattr(x, "ndcg", 0.0))
        return cls(x.repo, x.commit, x.task, x.seed_file, score, str(getattr(x, "kind", "") or ""))


def _stable_hash(key: FailureKey) -> int:
    return int.from_bytes(hashlib.blake2b("\0".join(key).encode("utf-8"), digest_size=8).digest(), "big")


def spread(cands: Sequence[Candidate], k: int, shown: Mapping[FailureKey, Shown] | None = None) -> list[int]:
    """Indices of ``k`` candidates, in the order they were picked.

    Each pick takes the candidate that was shown fewest times before (then longest ago);
    among those, the one whose repository, then task, then kind, then commit has been
    picked least in this call; then the lowest NDCG; then a stable hash of the case. So
    a repository with all the worst cases still shares the picks, every task present is
    picked before any is picked twice (as far as the repositories allow), and nothing is
    shown again while some failure has not been shown.
    """
    shown = shown or {}
    n = len(cands)
    static = []
    for c in cands:
        s = shown.get(c.key)
        static.append((s.times if s else 0, s.last if s else 0, c.ndcg, _stable_hash(c.key)))
    n_repo: Counter[str] = Counter()
    n_task: Counter[str] = Counter()
    n_kind: Counter[str] = Counter()
    n_commit: Counter[tuple[str, str]] = Counter()
    left = set(range(n))
    out: list[int] = []

    def priority(i: int) -> tuple:
        c, (times, last, ndcg, h) = cands[i], static[i]
        return (times, last, n_repo[c.repo], n_task[c.task], n_kind[c.kind], n_commit[(c.repo, c.commit)],
                ndcg, h, i)

    for _ in range(min(k, n)):
        i = min(left, key=priority)
        left.discard(i)
        out.append(i)
        c = cands[i]
        n_repo[c.repo] += 1
        n_task[c.task] += 1
        n_kind[c.kind] += 1
        n_commit[(c.repo, c.commit)] += 1
    return out


__all__ = ["Candidate", "Diagnosis", "FailureKey", "Shown", "classify", "diagnose", "failure_key", "spread", "tally"]
