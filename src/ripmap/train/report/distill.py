"""Distillation: a run's record → presets, heuristics, warnings, intuitions.

The run is an L1 run (its scratchpad: episodes, stated insights, evaluated points) or a
classical search (its ``results.json``: the evaluated points). The agent (the offline
``heuristic`` one by default) reads a summary of the run and answers in the same
``REASONING:`` / ``JSON:`` shape as L1. Its answer is validated strictly (preset names
usable as ``--preset NAME``, known parameters, values inside the registry bounds, lists of
strings) and written to ``wisdom.json`` + ``wisdom.md``; the prompt and the reply are kept
as ``prompts/distill.md`` and ``prompts/distill.reply.md``.

The gate: a distilled preset is only *installed* after it proves itself on repositories
the run never trained on (held-out repositories: the ``test`` cases of the evaluator).
Each preset is compared with ripmap's defaults there (:func:`..evaluation.comparison.compare`:
per repository, and overall with a 95% bootstrap interval over commits resampled per
repository); it is accepted only when the interval's lower bound is above zero. Anything
else is recorded as rejected, with the figures. The distiller reads the run's train and
validation figures (what chose its points), never a test figure, and the gate refuses to
judge on a repository the run trained on: what picks a preset never also validates it.
Without held-out repositories nothing can be checked, so nothing is installed.

Installed presets are named ``<run>-<preset>`` (e.g. ``l1-night-cochange_first``): a
distilled preset must never shadow a shipped one (``default``) or a
preset distilled from another run, and the run name says where it came from.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from pydantic import BaseModel, ConfigDict, Field, StrictStr, TypeAdapter, ValidationError

from ...errors import RipmapError, UsageError
from ...rank.params import DEFAULT, NAMES, REGISTRY, SPECS, Params
from ..agents import AgentSettings
from ..cases.splits import TEST, of_split
from ..files import atomic_write_json, atomic_write_text, read_json
from ..l1.episode import StartPoint
from ..l1.reply import split_reply
from ..l1.scratchpad import SCRATCHPAD, Scratchpad, change_effects, evaluated_points
from ..l1.transcripts import write_transcript
from ..numbers import finite, fixed, utc_now

if TYPE_CHECKING:
    from ..agents import Agent
    from ..evaluation.evaluator import Evaluator

PRESET_NAME = re.compile(r"[a-z][a-z0-9_-]*")
BEST_POINTS = 8
RESULTS, CONFIG = "results.json", "config.json"


class PresetSpec(BaseModel):
    """One distilled preset as the agent must send it (strict: no coercion)."""

    model_config = ConfigDict(strict=True, extra="ignore")

    description: StrictStr = ""
    when_to_use: StrictStr = ""
    params: dict[StrictStr, float]


_STR_LIST = TypeAdapter(list[StrictStr])


class Wisdom(BaseModel):
    """The validated distillation: what ``wisdom.json`` holds besides bookkeeping."""

    presets: dict[str, PresetSpec] = Field(default_factory=dict)
    heuristics: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    intuitions: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class DistillSettings:
    """Which agent distills, where wisdom.json / wisdom.md go (``None``: the run folder;
    a ``.json`` path: that file and its ``.md`` twin; else a folder), and the seed of the
    gate's bootstrap."""

    agent: AgentSettings = field(default_factory=AgentSettings)
    output: str | None = None
    seed: int = 0


@dataclass
class RunRecord:
    """What a distiller reads of a run: its kind, start, evaluated points and, for an L1
    run, the scratchpad with its episodes and stated insights. Never a test figure."""

    run: str
    kind: str  # "l1" | "search"
    strategy: str
    start: StartPoint | None
    points: list[dict]  # distinct points: params, train_ndcg, holdout_ndcg (validation), episode / trial
    sp: Scratchpad | None = None

    @property
    def steps(self) -> int:
        return len(self.sp.episodes) if self.sp is not None else max(0, len(self.points) - 1)

    @classmethod
    def of_scratchpad(cls, sp: Scratchpad) -> "RunRecord":
        pts = [{"params": dict(ps), "train_ndcg": tr, "holdout_ndcg": ho, "episode": ep}
               for tr, ho, ps, ep in evaluated_points(sp.start, sp.episodes)]
        pts.sort(key=lambda p: (-p["train_ndcg"], p["episode"]))
        return cls(sp.run, "l1", "l1", sp.start, pts, sp)

    @classmethod
    def of_results(cls, run: str, data: Mapping[str, Any]) -> "RunRecord":
        """A classical search's results.json: its complete trials as points (the ``test``
        block, if any, is not read)."""
        pts: list[dict] = []
        seen: set[tuple] = set()
        start: StartPoint | None = None
        for t in data.get("trials") or ():
            if not isinstance(t, Mapping) or t.get("state") != "COMPLETE" or finite(t.get("train_ndcg")) is None:
                continue
            ps = {k: float(v) for k, v in (t.get("params") or {}).items() if k in SPECS and finite(v) is not None}
            if t.get("start") and start is None:
                start = StartPoint(ps, finite(t.get("train_ndcg")), finite(t.get("holdout_ndcg")))
            key = tuple(ps.get(n) for n in NAMES)
            if not ps or key in seen:
                continue
            seen.add(key)
            pts.append({"params": ps, "train_ndcg": float(t["train_ndcg"]),
                        "holdout_ndcg": finite(t.get("holdout_ndcg")),
                        "episode": 0 if t.get("start") else int(t.get("number") or 0)})
        pts.sort(key=lambda p: (-p["train_ndcg"], p["episode"]))
        return cls(str(data.get("run") or run), "search", str(data.get("strategy") or "search"), start, pts)


def load_run(run_dir: Path) -> RunRecord:
    """The run in ``run_dir``: an L1 scratchpad, else a search's results.json."""
    if (run_dir / SCRATCHPAD).is_file():
        return RunRecord.of_scratchpad(Scratchpad.load(run_dir))
    data = read_json(run_dir / RESULTS)
    if not isinstance(data, dict) or not isinstance(data.get("trials"), list):
        raise UsageError(f"{run_dir / RESULTS}: not the results of a ripmap-train run")
    return RunRecord.of_results(run_dir.name, data)


def trained_on(run_dir: str | Path) -> set[str]:
    """The names of the repositories a run trained on (config.json; the held-out ones excluded)."""
    p = Path(run_dir) / CONFIG
    cfg = read_json(p) if p.is_file() else {}
    rows = cfg.get("repos") if isinstance(cfg, dict) else None
    return {str(r.get("name")) for r in rows or () if isinstance(r, dict) and not r.get("held_out")}


@dataclass(frozen=True)
class Validated:
    wisdom: Wisdom
    params: dict[str, Params]  # preset name → full parameter point
    rejected: list[dict] = field(default_factory=list)  # [{preset, reason}]
    issues: list[str] = field(default_factory=list)


def validate_wisdom(data: Mapping[str, Any]) -> Validated:
    """Keep every valid preset and list; record why anything else was dropped."""
    issues: list[str] = []
    lists: dict[str, list[str]] = {}
    for key in ("heuristics", "warnings", "intuitions"):
        if key not in data:
            issues.append(f"{key} missing")
            continue
        try:
            lists[key] = _STR_LIST.validate_python(data[key])
        except ValidationError as e:
            err = e.errors()[0]
            issues.append(f"{key}: must be a list of strings ({err['msg']} at {list(err['loc'])}); ignored")
    presets: dict[str, PresetSpec] = {}
    params: dict[str, Params] = {}
    rejected: list[dict] = []
    raw = data.get("presets")
    if raw is None:
        issues.append("presets missing")
    elif not isinstance(raw, dict):
        issues.append(f"presets must be an object of name → preset, got {type(raw).__name__}")
    else:
        for name, spec in raw.items():
            if not PRESET_NAME.fullmatch(name):
                rejected.append({"preset": name, "reason": "name must match [a-z][a-z0-9_-]*"})
                continue
            try:
                ps = PresetSpec.model_validate(spec)
            except ValidationError as e:
                err = e.errors()[0]
                loc = ".".join(str(x) for x in err["loc"])
                rejected.append({"preset": name, "reason": f"{loc}: {err['msg']} (got {err.get('input')!r})"})
                continue
            unknown = sorted(set(ps.params) - set(SPECS))
            if unknown:
                rejected.append({"preset": name, "reason": f"unknown parameter(s): {', '.join(unknown)}"})
                continue
            try:
                point = Params(ps.params)  # checks bounds; parameters left out keep ripmap's defaults
            except UsageError as e:
                rejected.append({"preset": name, "reason": str(e)})
                continue
            presets[name] = ps
            params[name] = point
    return Validated(Wisdom(presets=presets, **lists), params, rejected, issues)


# -- the prompt ---------------------------------------------------------------------------

def _record(run: Scratchpad | RunRecord) -> RunRecord:
    return run if isinstance(run, RunRecord) else RunRecord.of_scratchpad(run)


def _change_table(sp: Scratchpad) -> list[str]:
    rows = []
    for (param, direction), effects in change_effects(sp.episodes).items():
        ups = sum(1 for _, d in effects if d > 1e-9)
        downs = sum(1 for _, d in effects if d < -1e-9)
        mean = sum(d for _, d in effects) / len(effects)
        rows.append((-len(effects), param, direction, ups, downs, mean))
    return [f"- {direction} {param}: applied {-n} time(s), NDCG up {u}, down {d}, mean effect {m:+.4f}"
            for n, param, direction, u, d, m in sorted(rows)]


def _distill_protocol() -> str:
    return resources.files("ripmap.train").joinpath("prompts/distill.md").read_text(encoding="utf-8").strip()


def build_distill_prompt(run: Scratchpad | RunRecord) -> str:
    """The run's record as text, then the shipped distillation task and schema."""
    rec = _record(run)
    pts, sp = rec.points, rec.sp
    what = "an L1 run" if rec.kind == "l1" else f"a {rec.strategy} search"
    unit = "episode(s)" if rec.kind == "l1" else "trial(s) after the start point"
    label = "after episode" if rec.kind == "l1" else "trial"
    out = [f"# Distilling {what} of ripmap", "", "## Run", "",
           f"Run {rec.run}: {rec.steps} {unit}. Start: train NDCG@10 {fixed(rec.start.train if rec.start else None)}, "
           f"validation {fixed(rec.start.holdout if rec.start else None)}."]
    if pts:
        out.append(f"Best: train {fixed(pts[0]['train_ndcg'])}, validation {fixed(pts[0]['holdout_ndcg'])} "
                   f"({'start' if not pts[0]['episode'] else label + ' ' + str(pts[0]['episode'])}).")
    if sp is not None:
        for title, items in (("Parameter interactions", sp.param_interactions),
                             ("Structural insights", sp.structural_insights),
                             ("Changes that raised train NDCG", sp.success_patterns),
                             ("Changes that lowered train NDCG", sp.failure_patterns)):
            out += ["", f"## {title}", ""] + ([f"- {x}" for x in items] or ["none"])
        out += ["", "## Most common changes", ""] + (_change_table(sp) or ["no change was applied"])
    out += ["", f"## Best points (top {min(BEST_POINTS, len(pts))}; values that differ from the defaults)", ""]
    for p in pts[:BEST_POINTS]:
        diff = ", ".join(f"{n}={p['params'][n]:.6g}" for n in NAMES
                         if n in p["params"] and p["params"][n] != SPECS[n].default) or "(the defaults)"
        out.append(f"- train {fixed(p['train_ndcg'])}, validation {fixed(p['holdout_ndcg'])}: {diff}")
    out += ["", "## Parameters", "", "name: default [low, high] scale: meaning"]
    out += [f"- {p.name}: {p.default:.6g} [{p.low:.6g}, {p.high:.6g}] {p.scale}: {p.meaning}" for p in REGISTRY]
    return "\n".join(out) + "\n\n" + _distill_protocol() + "\n"


def distill_context(run: Scratchpad | RunRecord) -> dict:
    rec = _record(run)
    sp = rec.sp
    return {"task": "distill", "kind": rec.kind, "episodes": [e.to_dict() for e in sp.episodes] if sp else [],
            "best_points": [{k: p[k] for k in ("params", "train_ndcg", "holdout_ndcg")} for p in rec.points],
            "interactions": list(sp.param_interactions) if sp else [],
            "insights": list(sp.structural_insights) if sp else [],
            "success_patterns": list(sp.success_patterns) if sp else [],
            "failure_patterns": list(sp.failure_patterns) if sp else []}


# -- the command --------------------------------------------------------------------------

def _outputs(run_dir: Path, output: str | None) -> tuple[Path, Path]:
    if not output:
        return run_dir / "wisdom.json", run_dir / "wisdom.md"
    p = Path(output)
    if p.suffix.lower() == ".json":
        return p, p.with_suffix(".md")
    return p / "wisdom.json", p / "wisdom.md"


def judge(evaluator: "Evaluator", point: Params, *, seed: int = 0) -> dict[str, Any]:
    """The gate's verdict on one preset: ripmap's defaults against it on the evaluator's
    held-out repositories (test cases), accepted only when the lower bound of the 95%
    interval of the improvement is above zero."""
    from ..evaluation.comparison import compare

    c = compare(evaluator, of_split(evaluator.cases, TEST), DEFAULT, point, seed=seed)
    lo, hi = c.delta_ci95
    ok = c.improves
    return {"judged_on": "held-out repositories", "repos": {k: v.to_dict() for k, v in c.repos.items()},
            "default_ndcg": c.default, "preset_ndcg": c.best, "delta": c.delta, "delta_ci95": [lo, hi],
            "cases": c.n, "commits": c.commits, "accepted": ok,
            "decision": "accepted" if ok else f"rejected: the 95% interval of the improvement over the defaults, "
                                              f"[{lo:+.4f}, {hi:+.4f}], is not above zero"}


def _markdown(doc: dict) -> str:
    out = [f"# Wisdom distilled from run `{doc['run']}`", "",
           f"{doc['episodes']} {'trial(s)' if doc.get('kind') == 'search' else 'episode(s)'}; agent {doc['agent']}; "
           f"{doc['created']}.", ""]
    if doc.get("reasoning"):
        out += ["## Reasoning", "", doc["reasoning"], ""]
    out += ["## Presets", ""]
    if not doc["presets"]:
        out.append("None.")
    for name, p in doc["presets"].items():
        v = p.get("validation") or {}
        status = ("installed as `" + p["installed_as"] + "` (`ripmap --preset " + p["installed_as"] + "`)"
                  if p.get("installed_as") else v.get("decision", "not installed"))
        out += [f"### {name}", "", p.get("description") or "", ""]
        if p.get("when_to_use"):
            out += [f"When to use: {p['when_to_use']}", ""]
        if v.get("preset_ndcg") is not None:
            lo, hi = v["delta_ci95"]
            per = "; ".join(f"{k} {r['default']:.4f} → {r['best']:.4f} (n {r['n']})" for k, r in v["repos"].items())
            out += [f"On held-out repositories: NDCG@10 {v['preset_ndcg']:.4f} vs defaults {v['default_ndcg']:.4f}, "
                    f"Δ {v['delta']:+.4f} [{lo:+.4f}, {hi:+.4f}] ({v['cases']} cases, {v['commits']} commits; {per}).",
                    ""]
        out += [f"Status: {status}.", "", "| parameter | value | default |", "| --- | --- | --- |"]
        out += [f"| {k} | {val:.6g} | {SPECS[k].default:.6g} |" for k, val in p["params"].items()
                if val != SPECS[k].default] or ["| (all defaults) | | |"]
        out.append("")
    for r in doc.get("rejected_presets", []):
        out.append(f"- rejected preset `{r['preset']}`: {r['reason']}")
    for key, title in (("heuristics", "Heuristics"), ("warnings", "Warnings"), ("intuitions", "Intuitions")):
        out += ["", f"## {title}", ""] + ([f"- {x}" for x in doc[key]] or ["None."])
    if doc.get("issues"):
        out += ["", "## Problems with the agent's reply", ""] + [f"- {x}" for x in doc["issues"]]
    return "\n".join(out).rstrip() + "\n"


def check_held_out(run_dir: str | Path, repos: set[str]) -> None:
    """Refuse to judge a run's presets on a repository it trained on (one line, exit 2)."""
    both = sorted(repos & trained_on(run_dir))
    if both:
        raise UsageError(f"run '{Path(run_dir).name}' trained on {', '.join(both)}: the gate judges presets on "
                         f"repositories the run never saw (--holdout-repo PATH)")


def distill_run(out_dir: str | Path, run: str, settings: DistillSettings = DistillSettings(), *,
                evaluator: "Evaluator | None" = None, agent: "Agent | None" = None) -> str:
    """Distill ``out_dir/run``; write wisdom.json/.md; install the presets that pass the gate
    on the evaluator's held-out repositories (its test cases).

    Returns a short report for the terminal. ``agent`` lets callers inject one; by
    default it is built from ``settings.agent`` like L1's.
    """
    from ...presets import install_preset
    from ..agents import RecordingAgent, ReplyStore

    out_dir = Path(out_dir)
    run_dir = out_dir / run
    if not run or "/" in run or not ((run_dir / SCRATCHPAD).is_file() or (run_dir / RESULTS).is_file()):
        raise UsageError(f"no run '{run}' in {out_dir} (ripmap-train runs list shows runs)")
    rec = load_run(run_dir)
    if rec.steps == 0:
        raise UsageError(f"run '{run}' has no finished " + ("episodes" if rec.kind == "l1" else "trials")
                         + " to distill")
    judged = of_split(evaluator.cases, TEST) if evaluator is not None else []
    if judged:
        check_held_out(run_dir, {c.repo for c in judged})
    prompt = build_distill_prompt(rec)
    inner = agent or settings.agent.build(run_dir)
    reply = RecordingAgent(inner, ReplyStore(run_dir)).propose(prompt, distill_context(rec))
    write_transcript(run_dir, "distill", prompt, reply.text)
    json_path, md_path = _outputs(run_dir, settings.output)
    doc: dict[str, Any] = {"run": rec.run or run, "kind": rec.kind, "created": utc_now(),
                           "agent": getattr(inner, "name", "agent"), "episodes": rec.steps,
                           "raw_reply": reply.text, "reasoning": "", "presets": {}, "rejected_presets": [],
                           "heuristics": [], "warnings": [], "intuitions": [], "issues": []}
    if reply.error:
        doc["issues"].append(f"agent error: {reply.error}")
        atomic_write_json(json_path, doc)
        atomic_write_text(md_path, _markdown(doc))
        raise RipmapError(f"distillation agent {doc['agent']} failed: {reply.error} (details in {json_path})")
    reasoning, data, error = split_reply(reply.text)
    doc["reasoning"] = reasoning
    if data is None:
        doc["issues"].append(error or "no JSON object in the reply")
        atomic_write_json(json_path, doc)
        atomic_write_text(md_path, _markdown(doc))
        raise RipmapError(f"distillation reply unusable: {error} (raw reply in {json_path})")
    v = validate_wisdom(data)
    doc.update(heuristics=v.wisdom.heuristics, warnings=v.wisdom.warnings, intuitions=v.wisdom.intuitions,
               issues=v.issues, rejected_presets=list(v.rejected))
    lines = [f"distilled run {run}: {len(v.params)} preset(s), {len(v.wisdom.heuristics)} heuristic(s), "
             f"{len(v.wisdom.warnings)} warning(s), {len(v.wisdom.intuitions)} intuition(s)"]
    for name, spec in v.wisdom.presets.items():
        point = v.params[name]
        entry: dict[str, Any] = {"description": spec.description, "when_to_use": spec.when_to_use,
                                 "params": point.to_dict(), "installed_as": None, "path": None}
        if not judged:
            entry["validation"] = {"accepted": False,
                                   "decision": "not installed: no held-out repositories to judge it on"}
            lines.append(f"  {name}: not installed (no held-out repositories to judge it on)")
        else:
            verdict = judge(evaluator, point, seed=settings.seed)  # type: ignore[arg-type]
            entry["validation"] = verdict
            lo, hi = verdict["delta_ci95"]
            figures = (f"held-out NDCG@10 {verdict['preset_ndcg']:.4f} vs defaults {verdict['default_ndcg']:.4f}, "
                       f"Δ {verdict['delta']:+.4f} [{lo:+.4f}, {hi:+.4f}]")
            if verdict["accepted"]:
                inst = f"{rec.run or run}-{name}"
                desc = spec.description + (f" When to use: {spec.when_to_use}" if spec.when_to_use else "")
                entry["installed_as"] = inst
                entry["path"] = str(install_preset(inst, f"{desc} (distilled from run {run})".strip(), point))
                lines.append(f"  {name}: {figures} → accepted, installed as '{inst}' (ripmap --preset {inst})")
            else:
                lines.append(f"  {name}: {figures} → rejected (the interval is not above zero)")
        doc["presets"][name] = entry
    for r in v.rejected:
        lines.append(f"  {r['preset']}: invalid, {r['reason']}")
    if not judged and v.params:
        lines.append("presets were not installed: give repositories the run did not train on (--holdout-repo PATH) "
                     "to judge them")
    atomic_write_json(json_path, doc)
    atomic_write_text(md_path, _markdown(doc))
    lines.append(f"wrote {json_path} and {md_path}")
    return "\n".join(lines)


__all__ = ["DistillSettings", "PresetSpec", "RunRecord", "Wisdom", "build_distill_prompt", "check_held_out",
           "distill_context", "distill_run", "judge", "load_run", "trained_on", "validate_wisdom"]
