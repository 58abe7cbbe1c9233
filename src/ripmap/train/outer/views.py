"""Read-only views of outer runs: ``--list`` and ``--show RUN`` (with the lineage).

They read only what an outer run leaves behind (``config.json``, ``outer_scratchpad.json``
and the versions' ``.toml``), so they work on a run that is still going or was copied from
another machine. A folder that is not an outer run is skipped by ``--list``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

from ...errors import RipmapError, UsageError
from ..files import read_json
from ..numbers import fixed
from .edits import Edit
from .loop import PROMPTS_DIR, RUNS_DIR, judge_line, members_of
from .scratchpad import OUTER_SCRATCHPAD, OuterScratchpad
from .versions import PromptLibrary


def _short(s: str, n: int) -> str:
    s = " ".join(str(s).split())
    return s if len(s) <= n else s[: n - 1] + "…"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    fmt = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


def _load(d: Path) -> OuterScratchpad | None:
    try:
        return OuterScratchpad.load(d)
    except RipmapError:
        return None


def list_outer_runs(out: str | Path) -> str:
    runs_dir = Path(out) / RUNS_DIR
    rows = []
    for d in sorted(p for p in runs_dir.glob("*") if p.is_dir()) if runs_dir.is_dir() else []:
        if not (d / OUTER_SCRATCHPAD).is_file():
            continue
        sp = _load(d)
        if sp is None:
            continue
        cfg = read_json(d / "config.json") if (d / "config.json").is_file() else {}
        cfg = cfg if isinstance(cfg, dict) else {}
        members = members_of(sp)
        scored = [m for m in members if m.mean is not None]
        best = max(scored, key=lambda m: m.mean or 0.0) if scored else None
        j = sp.judge or {}
        rows.append([d.name, f"{sp.last_step}/{cfg.get('steps_outer', '?')}", str(cfg.get("episodes_inner", "?")),
                     f"{cfg.get('agent_outer', '?')}/{cfg.get('agent_inner', '?')}", str(len(members)),
                     f"{best.version} {fixed(best.mean)}" if best else "-",
                     f"{j['delta']:+.4f}" if isinstance(j.get("delta"), (int, float)) else "-",
                     str(cfg.get("created", "-"))[:16]])
    if not rows:
        return f"no outer runs in {runs_dir}"
    return _table(["run", "steps", "K", "agents (L2/L1)", "versions", "best (mean score)", "held-out Δ", "created"],
                  rows)


def lineage_lines(sp: OuterScratchpad, lib: PromptLibrary) -> list[str]:
    """The population as a tree: each version under its parent, with runs, scores and the edits that made it."""
    members = {m.version: m for m in members_of(sp)}
    kids: dict[str | None, list[str]] = {}
    for p in sp.population:
        parent = p.get("parent") if p.get("parent") in members else None
        kids.setdefault(parent, []).append(p["version"])
    out: list[str] = []

    def edits_of(v: str) -> str:
        try:
            ed = lib.get(v).edits
        except (UsageError, RipmapError):
            return ""
        return "; ".join(e.describe(60) for e in ed)

    def walk(v: str, prefix: str, last: bool, top: bool) -> None:
        m = members[v]
        conn = "" if top else ("└── " if last else "├── ")
        score = f"mean {fixed(m.mean)} best {fixed(m.best)}" if m.mean is not None else "not run"
        line = f"{prefix}{conn}{v}  runs {m.runs}  {score}"
        e = edits_of(v)
        out.append(line + (f"  [{e}]" if e else ""))
        ch = kids.get(v, [])
        for i, c in enumerate(ch):
            walk(c, prefix + ("" if top else ("    " if last else "│   ")), i == len(ch) - 1, False)

    for i, r in enumerate(kids.get(None, [])):
        walk(r, "", True, True)
    return out


def show_outer_run(out: str | Path, run: str) -> str:
    d = Path(out) / RUNS_DIR / run
    if not (d / OUTER_SCRATCHPAD).is_file():
        raise UsageError(f"no outer run '{run}' in {Path(out) / RUNS_DIR} (ripmap-train-outer --list shows them)")
    sp = OuterScratchpad.load(d)
    cfg = read_json(d / "config.json") if (d / "config.json").is_file() else {}
    cfg = cfg if isinstance(cfg, dict) else {}
    lib = PromptLibrary(Path(out) / PROMPTS_DIR)
    lines = [f"outer run {run}: {sp.last_step} of {cfg.get('steps_outer', '?')} step(s), K = "
             f"{cfg.get('episodes_inner', '?')} episode(s) per inner run, L2 {cfg.get('agent_outer', '?')}, "
             f"L1 {cfg.get('agent_inner', '?')}, warm start {'on' if cfg.get('warm_start') else 'off'}"]
    repos = [r for r in cfg.get("repos") or () if isinstance(r, Mapping)]
    if repos:
        lines.append("repositories: " + ", ".join(str(r.get("name")) for r in repos if not r.get("held_out"))
                     + (f" (held out: {', '.join(str(r.get('name')) for r in repos if r.get('held_out'))})"
                        if any(r.get("held_out") for r in repos) else ""))
    if sp.pending:
        lines.append(f"pending: step {sp.pending.get('outer_step')} with {sp.pending.get('promptgram')} "
                     f"(continue with --resume)")
    rows = []
    for s in sp.episodes:
        fm, sm = s.final_metrics, s.start_metrics
        t = fm.get("test") if isinstance(fm.get("test"), Mapping) else {}
        moved = sorted(s.moved_params, key=lambda p: -(s.moved_params[p].get("increase", 0)
                                                         + s.moved_params[p].get("decrease", 0)))[:3]
        rows.append([str(s.outer_step), s.promptgram, str(s.selection.get("how", "?")),
                     f"{fixed(sm.get('train'))}→{fixed(fm.get('train'))}", fixed(fm.get("validation"), missing="-"),
                     fixed(t.get("best"), missing="-"), _short(", ".join(moved) or "-", 40),
                     f"+{len(s.proposal.get('edits') or [])}/-{len(s.refused)}", s.child or "-",
                     _short(",".join(sorted({str(x.get('kind')) for x in s.diagnostics})) or "-", 40)])
    lines += ["", _table(["step", "promptgram", "sel", "train", "valid", "held-out", "L1 moved", "edits",
                          "child", "diagnostics"], rows) if rows else "no finished step yet"]
    lines += ["", "lineage (score: mean over the version's inner runs of start validation + median leave-one-repository-out gain):"]
    lines += ["  " + x for x in lineage_lines(sp, lib)]
    last = sp.episodes[-1] if sp.episodes else None
    if last is not None:
        lines += ["", f"step {last.outer_step}: L2 rationale: {_short(last.rationale or '-', 300)}"]
        for e in last.proposal.get("edits") or ():
            lines.append(f"  applied: {Edit.from_dict(e).describe(100)}")
        for r in last.refused:
            ed = r.get("edit")
            what = Edit.from_dict(ed).describe(60) if isinstance(ed, Mapping) else "the reply"
            lines.append(f"  refused: {what}: {r.get('reason')}")
        if last.diagnostics:
            lines.append("diagnostics (fed into the next L2 prompt):")
            lines += [f"  - {x.get('kind')}: {x.get('detail')}" for x in last.diagnostics]
        else:
            lines.append("diagnostics: none")
    refused_all = [(s.outer_step, r) for s in sp.episodes for r in s.refused]
    if refused_all:
        lines += ["", f"refused edits over the run: {len(refused_all)}"]
        for n, r in refused_all[-8:]:
            lines.append(f"  step {n}: {_short(str(r.get('reason')), 160)}")
    j = sp.judge
    if j:
        lines += ["", judge_line(j) if "delta" in j else f"judgement: {j.get('skipped')}"]
    plot = d / "outer_progress.png"
    if plot.is_file():
        lines.append(f"plot: {plot}")
    return "\n".join(lines)


__all__ = ["lineage_lines", "list_outer_runs", "show_outer_run"]
