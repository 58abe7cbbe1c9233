"""THE coordinate space: every tunable parameter of the ranking, in one registry.

Each parameter has a name, default, bounds, a scale (``log`` for multiplicative
knobs that span orders of magnitude, ``linear`` otherwise), the pipeline stage that
reads it, and a one-line meaning. Classical samplers, the L1 reasoning agent and the
CLI all read bounds and scales from here, so nothing else hard-codes a range.

Every coordinate is continuous ("dissolved decision trees"): the hop limit of focus
expansion and the churn threshold have smooth effects, so a proposal such as
"raise focus_max_hops a little" always means something.

The defaults are evidence, not guesses: the fusion weights and git constants were fitted
with ripmap's own trainer (TPE, 200 trials, ``ripmap-train --strategy tpe``) on the 11
repositories of ``bench/corpus/fit.toml`` (Python, JavaScript, Go, Rust, Java), all three
tasks, task-balanced NDCG@10, the trial chosen by train and validation (newest 30% of
commits) together; they are judged only on the other repositories of
``bench/corpus/eval.toml`` (see README, "Ranking quality"). The provenance is recorded in
``presets/default.json``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..errors import UsageError


@dataclass(frozen=True)
class ParamSpec:
    name: str
    default: float
    low: float
    high: float
    scale: str  # "linear" | "log"
    stage: str  # graph | pagerank | boosts | git | focus | lexical | symbols
    meaning: str

    def clamp(self, v: float) -> float:
        return min(self.high, max(self.low, v))

    def to_unit(self, v: float) -> float:
        """Position of ``v`` in [0, 1] along this parameter's own scale."""
        if self.scale == "log":
            return (math.log(v) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (v - self.low) / (self.high - self.low)

    def from_unit(self, u: float) -> float:
        u = min(1.0, max(0.0, u))
        if self.scale == "log":
            return math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        return self.low + u * (self.high - self.low)


_P = ParamSpec
REGISTRY: tuple[ParamSpec, ...] = (
    # --- the seeds' 17 -------------------------------------------------------------
    _P("pagerank_alpha", 0.86, 0.5, 0.98, "linear", "pagerank",
       "PageRank damping: high spreads importance along references, low keeps it near the personalization"),
    _P("pagerank_chat_multiplier", 78.0, 1.0, 1000.0, "log", "pagerank",
       "personalization weight of chat / mentioned / focus-matched files relative to other files"),
    _P("depth_weight_root", 1.0, 0.05, 5.0, "log", "pagerank",
       "prior weight of files at depth 0-1 (e.g. src/app.py)"),
    _P("depth_weight_moderate", 0.9, 0.05, 5.0, "log", "pagerank",
       "prior weight of files at depth 3-4; depths in between interpolate smoothly"),
    _P("depth_weight_deep", 0.7, 0.01, 5.0, "log", "pagerank",
       "prior weight of files at depth 6 and deeper"),
    _P("depth_weight_vendor", 0.01, 0.0001, 1.0, "log", "pagerank",
       "prior and score factor of vendored / third-party files (vendor/, external/, bundled/, typeshed/, "
       "bundled test frameworks, linguist-vendored, submodules), on top of their depth weight"),
    _P("boost_mentioned_ident", 1.5, 1.0, 100.0, "log", "boosts",
       "score multiplier for files defining an identifier the user mentioned"),
    _P("boost_mentioned_file", 1.8, 1.0, 100.0, "log", "boosts",
       "score multiplier for files the user mentioned by path"),
    _P("boost_chat_file", 20.0, 1.0, 200.0, "log", "boosts",
       "score multiplier for files already in the chat"),
    _P("boost_temporal_coupling", 74.0, 0.01, 100.0, "log", "boosts",
       "weight of co-change evidence: files that historically change together with the chat files"),
    _P("boost_focus_expansion", 0.037, 0.01, 100.0, "log", "focus",
       "weight of focus evidence: files matching the focus query and their graph neighbours"),
    _P("git_recency_decay_days", 7.0, 1.0, 365.0, "log", "git",
       "half-life in days of the recency boost"),
    _P("git_recency_max_boost", 1.5, 1.0, 50.0, "log", "git",
       "multiplier for a file changed in the newest commit; decays with its half-life"),
    _P("git_churn_threshold", 10.0, 1.0, 200.0, "log", "git",
       "commit count at which a file gets half of the churn boost"),
    _P("git_churn_max_boost", 1.3, 1.0, 20.0, "log", "git",
       "multiplier approached by files with far more commits than the threshold"),
    _P("focus_decay", 0.5, 0.05, 0.95, "linear", "focus",
       "focus evidence kept per hop of expansion through the reference graph"),
    _P("focus_max_hops", 2.0, 0.0, 5.0, "linear", "focus",
       "expansion radius; fractional values fade the last hop in (2.5 = half weight at hop 3)"),
    # --- ripmap's own ----------------------------------------------------------------
    _P("weight_structure", 0.15, 0.01, 100.0, "log", "pagerank",
       "weight of the (normalized) PageRank evidence in the additive base score"),
    _P("boost_lexical", 24.0, 0.01, 100.0, "log", "lexical",
       "weight of lexical evidence from the focus text: field-aware BM25 of its words and identifiers"),
    _P("lexical_floor", 0.23, 0.05, 1.0, "linear", "lexical",
       "match quality (best raw score / a perfect match's) below which focus-text lexical evidence is scaled down"),
    _P("boost_lexical_chat", 53.0, 0.01, 100.0, "log", "lexical",
       "weight of lexical evidence from the chat files: files sharing their names and path words"),
    _P("boost_test_pairing", 13.0, 0.01, 100.0, "log", "boosts",
       "weight of test/source pairing: the test file of a seed file, or the file a seed test tests"),
    _P("cochange_half_life_days", 3100.0, 7.0, 3650.0, "log", "git",
       "half-life in days of a commit's weight as co-change evidence (older commits say less)"),
    _P("cochange_size_exponent", 0.71, 0.0, 2.0, "linear", "git",
       "how much large commits are discounted as co-change evidence: weight (files-1)^-exponent"),
    _P("cochange_recent_weight", 0.2, 0.0, 1.0, "linear", "git",
       "co-change from the seeds' two newest commits alone (the work in progress), against the whole history's"),
    _P("cochange_jaccard", 0.7, 0.0, 2.0, "linear", "git",
       "co-change as the Jaccard overlap of commit sets with the chat files (a file's own unrelated commits "
       "count against it), added to the association rules' confidence"),
    _P("cochange_from_lexical", 0.6, 0.0, 1.0, "linear", "git",
       "with no chat file, how strongly the focus text's best lexical matches seed co-change and pairing"),
    _P("edge_weight_call", 1.0, 0.01, 10.0, "log", "graph",
       "graph weight of call references"),
    _P("edge_weight_type", 1.0, 0.01, 10.0, "log", "graph",
       "graph weight of type / class / inheritance references"),
    _P("edge_weight_other", 0.5, 0.01, 10.0, "log", "graph",
       "graph weight of other references (imports of names, modules, macros, ...)"),
    _P("import_resolution_bias", 4.0, 1.0, 100.0, "log", "graph",
       "how strongly a name defined in a file the referrer imports wins over same-named definitions elsewhere"),
    _P("common_name_penalty", 0.5, 0.0, 5.0, "linear", "graph",
       "down-weighting of names defined in many files: weight 1/(1 + penalty*(definers-1))"),
    _P("private_name_weight", 0.2, 0.01, 1.0, "log", "graph",
       "weight of references to private names (leading underscore)"),
    _P("hub_damping", 0.079, 0.0, 1.0, "linear", "pagerank",
       "divides structural evidence by (in-degree)^hub_damping so utility hubs stop dominating"),
    _P("symbol_ref_weight", 1.0, 0.0, 10.0, "linear", "symbols",
       "how much a symbol's incoming references (weighted by referrer score) lift it within its file"),
    # --- file classes (discover's flags); a file in several classes gets the product, and
    # chat files, mentioned files and files the focus names by path shed the weight ------
    _P("weight_generated", 0.1, 0.001, 1.0, "log", "pagerank",
       "prior and score factor of generated files (*.pb.*, *_pb2.py, 'DO NOT EDIT' headers, minified, "
       "linguist-generated)"),
    _P("weight_fixture", 0.05, 0.001, 1.0, "log", "pagerank",
       "prior and score factor of test data and samples (fixtures/, testdata/, test-data/, samples/)"),
    _P("weight_stub", 0.1, 0.001, 1.0, "log", "pagerank",
       "prior and score factor of stub trees (.pyi / .d.ts with no implementation beside them, stubs/)"),
    _P("weight_docs", 0.2, 0.001, 1.0, "log", "pagerank",
       "prior and score factor of documentation (markdown, docs/); 1 when the focus asks for docs"),
    _P("weight_test", 1.0, 0.05, 5.0, "log", "pagerank",
       "prior and score factor of test files (tests/, test_*.py, *Test.java, *.spec.ts, ...)"),
)

SPECS: dict[str, ParamSpec] = {p.name: p for p in REGISTRY}
NAMES: tuple[str, ...] = tuple(p.name for p in REGISTRY)


class Params(Mapping[str, float]):
    """An immutable point in the coordinate space. Validates names and bounds.

    Behaves like a read-only mapping; ``replace(**changes)`` returns a new point.
    """

    __slots__ = ("_v", "_hash")

    def __init__(self, values: Mapping[str, float] | None = None, **kw: float) -> None:
        v = {p.name: p.default for p in REGISTRY}
        given = dict(values or {})
        given.update(kw)
        for k, x in given.items():
            spec = SPECS.get(k)
            if spec is None:
                raise UsageError(f"unknown parameter '{k}'")
            if isinstance(x, bool) or not isinstance(x, (int, float)):
                raise UsageError(f"parameter '{k}' must be a number, got {x!r}")
            x = float(x)
            if not math.isfinite(x) or x < spec.low or x > spec.high:
                raise UsageError(f"parameter '{k}' = {x:g} is outside its bounds [{spec.low:g}, {spec.high:g}]")
            v[k] = x
        object.__setattr__(self, "_v", v)
        object.__setattr__(self, "_hash", None)

    def __setattr__(self, *_a):  # pragma: no cover - immutability guard
        raise AttributeError("Params is immutable; use replace()")

    def __getitem__(self, k: str) -> float:
        return self._v[k]

    def __getattr__(self, k: str) -> float:
        try:
            return self._v[k]
        except KeyError:
            raise AttributeError(k) from None

    def __iter__(self) -> Iterator[str]:
        return iter(NAMES)

    def __len__(self) -> int:
        return len(NAMES)

    def __hash__(self) -> int:
        return hash(tuple(self._v[n] for n in NAMES))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Params) and all(self._v[n] == other._v[n] for n in NAMES)

    def __repr__(self) -> str:
        changed = {k: v for k, v in self._v.items() if v != SPECS[k].default}
        return f"Params({changed})"

    def replace(self, **changes: float) -> "Params":
        return Params({**self._v, **changes})

    def to_dict(self) -> dict[str, float]:
        return {n: self._v[n] for n in NAMES}

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Params":
        if not isinstance(d, Mapping):
            raise UsageError("parameters must be a JSON object of name → number")
        # accept a wrapper such as {"params": {...}} written by the trainer
        if "params" in d and isinstance(d["params"], Mapping):
            d = d["params"]
        return cls(dict(d))

    @classmethod
    def from_json(cls, text: str) -> "Params":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise UsageError(f"parameters are not valid JSON: {e.msg} at line {e.lineno}") from None

    @classmethod
    def load(cls, path: str | Path) -> "Params":
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as e:
            raise UsageError(f"{p}: cannot read parameters file ({e.strerror or e})") from None
        try:
            return cls.from_json(text)
        except UsageError as e:
            raise UsageError(f"{p}: {e}") from None


DEFAULT = Params()
