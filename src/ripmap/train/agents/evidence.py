"""Signal statistics over ranking failures: what lifts the wrong files, what the right ones lack.

Every failure carries explanation rows for its expected files (``expected: true``) and
for the files that wrongly outranked them. A file's score is

    score = multiplier × Σ_s weight_s · value_s

so for an additive signal *s* the derivative of ``log score`` with respect to
``log weight_s`` is the signal's *share* of the score. Raising ``weight_s`` therefore
moves ``log(score_expected / score_wrong)`` by ``share_expected(s) − share_wrong(s)``:
that difference (the *gap*) is both the direction to move the weight and how strongly
the move reorders the pair. For a multiplier the comparable quantity is the difference
of the mean log factors. Gaps are computed per failure and then aggregated, so a
proposal can say in how many failures the evidence agrees.

Each failure also has a *kind* (:func:`~ripmap.train.evaluation.failures.diagnose`: the
signal in which its best expected file is furthest behind the top-ranked file). The kinds
are counted, and each is turned into the move that would take the top file's lead in that
signal away (:func:`kind_move`): what the agent tries when the gaps agree on nothing, and
the only evidence about file-class weights, which the gaps do not cover.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from statistics import median
from typing import Any, Iterable, Mapping, Sequence

from ...rank.explain import ADDITIVE_WEIGHT
from ..evaluation.failures import Diagnosis, diagnose
from ..numbers import finite
from ..vocabulary import ADDITIVE_SIGNALS as ADDITIVE
from ..vocabulary import CLASS_PARAM, DEPTH_PARAM, SIGNAL_PARAM
from ..vocabulary import MULTIPLIER_SIGNALS as MULTIPLIERS


EPS_SHARE = 0.02  # share gaps smaller than this count as "no difference" in a failure
EPS_LOG = 0.02  # likewise for log factors (~2 %)


def depth_band(path: str) -> str:
    """Which depth-prior anchor dominates a file (rank/signals.depth_weights interpolates
    root at depth ≤ 1, moderate at 3–4, deep at ≥ 6; in-between depths go to the nearer side)."""
    d = path.count("/")
    if d <= 2:
        return "root"
    if d <= 4:
        return "moderate"
    return "deep"


@dataclass(frozen=True)
class Row:
    path: str
    expected: bool
    score: float
    values: dict[str, float]  # raw signal values
    contrib: dict[str, float]  # additive contributions (weight · value · multiplier)
    factors: dict[str, float]  # multiplier factors

    @property
    def additive_total(self) -> float:
        return sum(max(0.0, self.contrib.get(s, 0.0)) for s in ADDITIVE)

    def share(self, s: str) -> float:
        t = self.additive_total
        return max(0.0, self.contrib.get(s, 0.0)) / t if t > 0 else 0.0


def parse_row(d: Mapping[str, Any]) -> Row | None:
    if not isinstance(d, Mapping) or "expected" not in d:
        return None
    values: dict[str, float] = {}
    contrib: dict[str, float] = {}
    factors: dict[str, float] = {}
    for sig in d.get("signals") or ():
        if not isinstance(sig, Mapping):
            continue
        name = sig.get("signal")
        if name in ADDITIVE:
            values[name] = finite(sig.get("value"), 0.0)
            contrib[name] = finite(sig.get("contribution"), 0.0)
        elif name in MULTIPLIERS:
            f = finite(sig.get("contribution"), finite(sig.get("value"), 1.0))
            values[name] = finite(sig.get("value"), 1.0)
            factors[name] = f if f > 0 else 1.0
    return Row(str(d.get("path", "")), bool(d.get("expected")), finite(d.get("score"), 0.0), values, contrib, factors)


@dataclass(frozen=True)
class SignalEvidence:
    """How one signal separates expected files from the files that outranked them."""

    signal: str
    kind: str  # "additive" | "multiplier"
    n: int  # failures with usable rows on both sides
    gap: float  # mean of per-failure (expected − wrong): score share, or mean log factor
    up: int  # failures where raising the signal's parameter would help the expected files
    down: int  # failures where lowering it would
    side_expected: float  # mean share (additive) or geometric-mean factor (multiplier)
    side_wrong: float
    value_expected: float  # mean raw signal value
    value_wrong: float
    needed_factor: float | None  # additive: median factor on the weight that lets the expected files
    # catch up (inf: turning the weight down cannot close the gap on its own); None: no estimate

    @property
    def direction(self) -> str | None:
        if self.kind == "additive" and abs(self.gap) < 0.05 or self.kind == "multiplier" and abs(self.gap) < 0.1:
            return None
        return "increase" if self.gap > 0 else "decrease"

    @property
    def agreeing(self) -> int:
        return self.up if self.gap > 0 else self.down

    @property
    def support(self) -> float:
        return self.agreeing / self.n if self.n else 0.0


@dataclass(frozen=True)
class Evidence:
    """Everything the heuristic agent knows about a batch of failures."""

    n_failures: int
    n_usable: int  # failures with scored expected rows and outranking rows
    mean_case_ndcg: float
    n_expected_rows: int
    n_wrong_rows: int
    unreachable: int  # expected files whose score is zero: no signal reaches them
    score_ratio: float | None  # median over failures of (wrong score / expected score), geometric means
    signals: dict[str, SignalEvidence]
    inert: tuple[str, ...]  # multipliers equal to 1 for every row (carry no information)
    depth_expected: float | None  # mean path depth
    depth_wrong: float | None
    band_expected: str | None  # dominant depth band
    band_wrong: str | None
    kinds: Mapping[str, int] = field(default_factory=dict)  # failures per kind
    kind_moves: Mapping[tuple[str, str, str], int] = field(default_factory=dict)
    """(kind, parameter, direction) → failures whose top file's lead that move would take away."""

    def ranked(self, kind: str) -> list[SignalEvidence]:
        """Signals of one kind with a direction, strongest gap first (ties by name: deterministic)."""
        out = [e for e in self.signals.values() if e.kind == kind and e.direction is not None and e.n > 0]
        return sorted(out, key=lambda e: (-abs(e.gap), e.signal))


#: raw-value gap (signals are in [0, 1]) at which a muted signal still counts as evidence
MUTED_VALUE_GAP = 0.2


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def _dominant(bands: Iterable[str]) -> str | None:
    counts: dict[str, int] = {}
    for b in bands:
        counts[b] = counts.get(b, 0) + 1
    if not counts:
        return None
    order = ("root", "moderate", "deep")
    return sorted(counts, key=lambda b: (-counts[b], order.index(b)))[0]


#: the parameter that weighs each signal a failure can be held back by
BLOCKER_PARAM: Mapping[str, str] = {**ADDITIVE_WEIGHT, **SIGNAL_PARAM}


def kind_move(d: Diagnosis, rows: Sequence[Mapping[str, Any]]) -> tuple[str, str] | None:
    """(parameter, direction) that takes away the top file's lead in the failure's kind.

    For a signal's weight or boost: lower it. For the depth prior: lower the anchor of
    the top file's depth band (when the two files sit in different bands). For the file
    class: raise the weight of a class the expected file belongs to (when its weight is
    below 1), else lower that of the top file's class (when above 1). ``None`` for the
    kinds no parameter addresses (unreachable, unmapped, other).
    """
    if d.kind == "depth":
        if d.top is None or d.expected is None or depth_band(d.top) == depth_band(d.expected):
            return None
        return DEPTH_PARAM[depth_band(d.top)], "decrease"
    if d.kind == "file_class":
        by_path = {str(r.get("path")): r for r in rows}
        e, t = by_path.get(str(d.expected), {}), by_path.get(str(d.top), {})
        for c in e.get("classes") or ():
            if c in CLASS_PARAM and finite(e.get("class_weight"), 1.0) < 1.0:
                return CLASS_PARAM[c], "increase"
        for c in t.get("classes") or ():
            if c in CLASS_PARAM and finite(t.get("class_weight"), 1.0) > 1.0:
                return CLASS_PARAM[c], "decrease"
        return None
    sig = d.signal
    if sig is None or sig not in BLOCKER_PARAM:
        return None
    return BLOCKER_PARAM[sig], "decrease"


def analyse(failures: Sequence[Mapping[str, Any]]) -> Evidence:
    """Aggregate per-failure signal gaps between expected and outranking files."""
    per_sig_gap: dict[str, list[float]] = {s: [] for s in (*ADDITIVE, *MULTIPLIERS)}
    side_e: dict[str, list[float]] = {s: [] for s in per_sig_gap}
    side_w: dict[str, list[float]] = {s: [] for s in per_sig_gap}
    val_e: dict[str, list[float]] = {s: [] for s in per_sig_gap}
    val_w: dict[str, list[float]] = {s: [] for s in per_sig_gap}
    needed: dict[str, list[float]] = {s: [] for s in ADDITIVE}
    ratios: list[float] = []
    n_e = n_w = unreachable = usable = 0
    ndcgs: list[float] = []
    seen_factor: dict[str, bool] = {m: False for m in MULTIPLIERS}
    depth_e: list[int] = []
    depth_w: list[int] = []
    kinds: Counter[str] = Counter()
    moves: Counter[tuple[str, str, str]] = Counter()
    for f in failures:
        if not isinstance(f, Mapping):
            continue
        ndcgs.append(finite(f.get("ndcg"), 0.0))
        raw = [d for d in f.get("explanations") or () if isinstance(d, Mapping)]
        diag = diagnose(raw)
        kind = str(f.get("kind") or diag.kind)  # an older record has no kind: classify it here
        kinds[kind] += 1
        move = kind_move(diag, raw) if kind == diag.kind else None
        if move is not None:
            moves[(kind, *move)] += 1
        rows = [r for r in (parse_row(d) for d in raw) if r is not None]
        exp = [r for r in rows if r.expected]
        wrong = [r for r in rows if not r.expected]
        n_e += len(exp)
        n_w += len(wrong)
        for r in rows:
            for m in MULTIPLIERS:
                if abs(r.factors.get(m, 1.0) - 1.0) > 1e-9:
                    seen_factor[m] = True
        scored = [r for r in exp if r.score > 0 and r.additive_total > 0]
        unreachable += len(exp) - len(scored)
        depth_e.extend(r.path.count("/") for r in exp)
        depth_w.extend(r.path.count("/") for r in wrong)
        wrong = [r for r in wrong if r.score > 0 and r.additive_total > 0]
        if not scored or not wrong:
            continue
        usable += 1
        log_gap = _mean([math.log(r.score) for r in wrong]) - _mean([math.log(r.score) for r in scored])
        ratios.append(math.exp(log_gap))
        s_e, s_w = _mean([r.score for r in scored]), _mean([r.score for r in wrong])
        for s in ADDITIVE:
            se, sw = _mean([r.share(s) for r in scored]), _mean([r.share(s) for r in wrong])
            d = se - sw
            per_sig_gap[s].append(d)
            side_e[s].append(se)
            side_w[s].append(sw)
            val_e[s].append(_mean([r.values.get(s, 0.0) for r in scored]))
            val_w[s].append(_mean([r.values.get(s, 0.0) for r in wrong]))
            k = catch_up_factor(s_e, s_w, _mean([r.contrib.get(s, 0.0) for r in scored]),
                                _mean([r.contrib.get(s, 0.0) for r in wrong]))
            if k is not None:
                needed[s].append(k)
        for m in MULTIPLIERS:
            le = _mean([math.log(r.factors.get(m, 1.0)) for r in scored])
            lw = _mean([math.log(r.factors.get(m, 1.0)) for r in wrong])
            per_sig_gap[m].append(le - lw)
            side_e[m].append(le)
            side_w[m].append(lw)
            val_e[m].append(_mean([r.values.get(m, 1.0) for r in scored]))
            val_w[m].append(_mean([r.values.get(m, 1.0) for r in wrong]))
    signals: dict[str, SignalEvidence] = {}
    for s in (*ADDITIVE, *MULTIPLIERS):
        kind = "additive" if s in ADDITIVE else "multiplier"
        gaps = per_sig_gap[s]
        eps = EPS_SHARE if kind == "additive" else EPS_LOG
        gap = _mean(gaps)
        nl: float | None = None
        if kind == "additive":
            # factors > 1 say "raise", < 1 "lower"; keep those that agree with the aggregate direction
            # ordered by the size of the move; the lower median never averages with inf
            agree = sorted((k for k in needed[s] if (k > 1.0) == (gap > 0)),
                           key=lambda k: abs(math.log(k)) if math.isfinite(k) else math.inf)
            nl = agree[(len(agree) - 1) // 2] if agree else None
        up = sum(1 for g in gaps if g > eps)
        down = sum(1 for g in gaps if g < -eps)
        if kind == "additive" and gaps and abs(gap) < 2.5 * EPS_SHARE:
            # Equal shares on both sides say nothing when the weights themselves flatten
            # them: a nearly silenced signal (weight near its low bound) is ~0% of every
            # score, a dominating one ~100% of every score, even when its raw values
            # separate the files cleanly. Then the raw values decide: expected files with
            # much more of the signal than the files above them ask for its weight to go
            # up; files above them with much more of it ask for it to go down.
            vgaps = [e - w for e, w in zip(val_e[s], val_w[s])]
            vg = _mean(vgaps)
            if abs(vg) >= MUTED_VALUE_GAP:
                gap = math.copysign(max(abs(gap), EPS_SHARE + 0.01, min(0.5, abs(vg) / 4)), vg)
                up = sum(1 for g in vgaps if g > MUTED_VALUE_GAP / 2)
                down = sum(1 for g in vgaps if g < -MUTED_VALUE_GAP / 2)
                nl = 10.0 if vg > 0 else 0.1
        signals[s] = SignalEvidence(
            signal=s, kind=kind, n=len(gaps), gap=gap,
            up=up, down=down,
            side_expected=_mean(side_e[s]) if kind == "additive" else math.exp(_mean(side_e[s])),
            side_wrong=_mean(side_w[s]) if kind == "additive" else math.exp(_mean(side_w[s])),
            value_expected=_mean(val_e[s]), value_wrong=_mean(val_w[s]), needed_factor=nl)
    return Evidence(
        n_failures=len(ndcgs), n_usable=usable, mean_case_ndcg=_mean(ndcgs), n_expected_rows=n_e,
        n_wrong_rows=n_w, unreachable=unreachable, score_ratio=median(ratios) if ratios else None,
        signals=signals, inert=tuple(m for m in MULTIPLIERS if not seen_factor[m]) if n_e + n_w else (),
        depth_expected=_mean(depth_e) if depth_e else None, depth_wrong=_mean(depth_w) if depth_w else None,
        band_expected=_dominant(depth_band_of(depth_e)), band_wrong=_dominant(depth_band_of(depth_w)),
        kinds=dict(kinds), kind_moves=dict(moves))


def catch_up_factor(score_e: float, score_w: float, contrib_e: float, contrib_w: float) -> float | None:
    """The factor on one additive weight at which the expected files' mean score meets the wrong ones'.

    Scaling the weight by ``k`` changes a score by ``(k - 1) * contribution`` (contributions
    already include the multiplier), so ``score_e + (k-1)·c_e = score_w + (k-1)·c_w``.
    ``None`` when the expected files already lead or the signal does not separate them;
    ``inf`` when even switching the signal off would not be enough.
    """
    gap = score_w - score_e
    diff = contrib_e - contrib_w
    if gap <= 0 or abs(diff) < 1e-12:
        return None
    k = 1.0 + gap / diff
    return k if k > 0 else math.inf


def depth_band_of(depths: Iterable[int]) -> list[str]:
    return [depth_band("/" * d) for d in depths]
