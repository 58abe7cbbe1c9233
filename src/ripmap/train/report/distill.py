"""Distillation: an L1 run's scratchpad → presets, heuristics, warnings, intuitions.

The agent (the offline ``heuristic`` one by default) reads a summary of the run and
answers in the same ``REASONING:`` / ``JSON:`` shape as L1. Its answer is validated
strictly (preset names usable as ``--preset NAME``, known parameters, values inside the
registry bounds, lists of strings) and written to ``wisdom.json`` + ``wisdom.md``.

A distilled preset is only *installed* after it proves itself on cases it was not
tuned on: with an evaluator (repositories given), each preset's holdout NDCG must be at
least the default parameters' holdout NDCG minus :data:`TOLERANCE`. A preset that
merely memorized the training cases is recorded as rejected, with its numbers.
Without repositories nothing can be checked, so nothing is installed.

Installed presets are named ``<run>-<preset>`` (e.g. ``l1-night-cochange_first``): a
distilled preset must never shadow a shipped one (``default``, ``debug``...) or a
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
from ..files import atomic_write_json, atomic_write_text
from ..l1.reply import split_reply
from ..l1.scratchpad import SCRATCHPAD, Scratchpad, change_effects, evaluated_points
from ..numbers import fixed, utc_now

if TYPE_CHECKING:
    from ..agents import Agent
    from ..evaluation.evaluator import Evaluator

TOLERANCE = 0.01
"""How much holdout NDCG a preset may lose against the defaults and still be installed."""
PRESET_NAME = re.compile(r"[a-z][a-z0-9_-]*")
BEST_POINTS = 8


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
    """Which agent distills, and where wisdom.json / wisdom.md go (``None``: the run folder;
    a ``.json`` path: that file and its ``.md`` twin; else a folder)."""

    agent: AgentSettings = field(default_factory=AgentSettings)
    output: str | None = None


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

def _points(sp: Scratchpad) -> list[dict]:
    """Distinct evaluated points, best train NDCG first."""
    out = [{"params": dict(ps), "train_ndcg": tr, "holdout_ndcg": ho, "episode": ep}
           for tr, ho, ps, ep in evaluated_points(sp.start, sp.episodes)]
    out.sort(key=lambda p: (-p["train_ndcg"], p["episode"]))
    return out


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


def build_distill_prompt(sp: Scratchpad) -> str:
    """The run's record as text, then the shipped distillation task and schema."""
    pts = _points(sp)
    out = ["# Distilling an L1 run of ripmap", "", "## Run", "",
           f"Run {sp.run}: {len(sp.episodes)} episode(s). Start: train NDCG@10 "
           f"{fixed(sp.start.train if sp.start else None)}, holdout {fixed(sp.start.holdout if sp.start else None)}."]
    if pts:
        out.append(f"Best: train {fixed(pts[0]['train_ndcg'])}, holdout {fixed(pts[0]['holdout_ndcg'])} "
                   f"({'start' if not pts[0]['episode'] else 'after episode ' + str(pts[0]['episode'])}).")
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
        out.append(f"- train {fixed(p['train_ndcg'])}, holdout {fixed(p['holdout_ndcg'])}: {diff}")
    out += ["", "## Parameters", "", "name: default [low, high] scale: meaning"]
    out += [f"- {p.name}: {p.default:.6g} [{p.low:.6g}, {p.high:.6g}] {p.scale}: {p.meaning}" for p in REGISTRY]
    return "\n".join(out) + "\n\n" + _distill_protocol() + "\n"


def distill_context(sp: Scratchpad) -> dict:
    return {"task": "distill", "episodes": [e.to_dict() for e in sp.episodes],
            "best_points": [{k: p[k] for k in ("params", "train_ndcg", "holdout_ndcg")} for p in _points(sp)],
            "interactions": list(sp.param_interactions), "insights": list(sp.structural_insights),
            "success_patterns": list(sp.success_patterns), "failure_patterns": list(sp.failure_patterns)}


# -- the command --------------------------------------------------------------------------

def _outputs(run_dir: Path, output: str | None) -> tuple[Path, Path]:
    if not output:
        return run_dir / "wisdom.json", run_dir / "wisdom.md"
    p = Path(output)
    if p.suffix.lower() == ".json":
        return p, p.with_suffix(".md")
    return p / "wisdom.json", p / "wisdom.md"


def _holdout(evaluator: "Evaluator", params: Params) -> tuple[float, str]:
    cases = evaluator.holdout_cases
    if cases:
        return float(evaluator.evaluate(params, cases, explain_failures=False).ndcg), "holdout"
    return float(evaluator.evaluate(params, None, explain_failures=False).ndcg), "all (no holdout split)"


def _markdown(doc: dict) -> str:
    out = [f"# Wisdom distilled from run `{doc['run']}`", "",
           f"{doc['episodes']} episode(s); agent {doc['agent']}; {doc['created']}.", ""]
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
        if v.get("holdout_ndcg") is not None:
            out += [f"Holdout NDCG@10 {v['holdout_ndcg']:.4f} vs defaults {v['default_holdout_ndcg']:.4f} "
                    f"({v['cases']} cases).", ""]
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


def distill_run(out_dir: str | Path, run: str, settings: DistillSettings = DistillSettings(), *,
                evaluator: "Evaluator | None" = None, agent: "Agent | None" = None) -> str:
    """Distill ``out_dir/run``; write wisdom.json/.md; install presets that pass the holdout check.

    Returns a short report for the terminal. ``agent`` lets callers inject one; by
    default it is built from ``settings.agent`` like L1's.
    """
    from ...presets import install_preset
    from ..agents import RecordingAgent, ReplyStore

    out_dir = Path(out_dir)
    run_dir = out_dir / run
    if not run or "/" in run or not (run_dir / SCRATCHPAD).is_file():
        raise UsageError(f"no L1 run '{run}' with a scratchpad in {out_dir} (ripmap-train runs list shows runs)")
    sp = Scratchpad.load(run_dir)
    if not sp.episodes:
        raise UsageError(f"run '{run}' has no finished episodes to distill")
    prompt = build_distill_prompt(sp)
    inner = agent or settings.agent.build(run_dir)
    reply = RecordingAgent(inner, ReplyStore(run_dir)).propose(prompt, distill_context(sp))
    json_path, md_path = _outputs(run_dir, settings.output)
    doc: dict[str, Any] = {"run": sp.run or run, "created": utc_now(),
                           "agent": getattr(inner, "name", "agent"), "episodes": len(sp.episodes),
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
    base: tuple[float, str] | None = _holdout(evaluator, DEFAULT) if evaluator is not None and v.params else None
    for name, spec in v.wisdom.presets.items():
        point = v.params[name]
        entry: dict[str, Any] = {"description": spec.description, "when_to_use": spec.when_to_use,
                                 "params": point.to_dict(), "installed_as": None, "path": None}
        if base is None:
            entry["validation"] = {"decision": "not installed: no repositories to validate on"}
            lines.append(f"  {name}: not installed (no repositories given to check it on holdout cases)")
        else:
            score, cases = _holdout(evaluator, point)
            ok = score >= base[0] - TOLERANCE
            entry["validation"] = {"holdout_ndcg": score, "default_holdout_ndcg": base[0], "cases": cases,
                                   "tolerance": TOLERANCE, "accepted": ok,
                                   "decision": "accepted" if ok else
                                   f"rejected: holdout {score:.4f} < defaults {base[0]:.4f} - {TOLERANCE}"}
            if ok:
                inst = f"{sp.run or run}-{name}"
                desc = spec.description + (f" When to use: {spec.when_to_use}" if spec.when_to_use else "")
                entry["installed_as"] = inst
                entry["path"] = str(install_preset(inst, f"{desc} (distilled from run {run})".strip(), point))
                lines.append(f"  {name}: holdout {score:.4f} vs defaults {base[0]:.4f} → accepted, installed as "
                             f"'{inst}' (ripmap --preset {inst})")
            else:
                lines.append(f"  {name}: holdout {score:.4f} vs defaults {base[0]:.4f} → rejected (more than "
                             f"{TOLERANCE} below the defaults)")
        doc["presets"][name] = entry
    for r in v.rejected:
        lines.append(f"  {r['preset']}: invalid, {r['reason']}")
    if evaluator is None and v.params:
        lines.append("presets were not installed: give the repositories (--repo ...) to check them on holdout cases")
    atomic_write_json(json_path, doc)
    atomic_write_text(md_path, _markdown(doc))
    lines.append(f"wrote {json_path} and {md_path}")
    return "\n".join(lines)


__all__ = ["DistillSettings", "PresetSpec", "TOLERANCE", "Wisdom", "build_distill_prompt", "distill_context",
           "distill_run", "validate_wisdom"]
