"""The training runs under the served root, as plain dicts for the page's training view.

Three kinds of run folder are read, each from the files it leaves behind:

* an L1 run (``scratchpad.json``): its episodes, NDCG trajectory, parameter moves and
  the agent's reasoning;
* a classical search (``results.json`` with ``trials``): its trials;
* an L2 outer run (``outer_scratchpad.json``, ``inner_runs/step_NNN/``): its outer steps,
  and the promptgram lineage in ``training-outer/prompts/inner/inner_vNNN.toml``.

Everything is read defensively, straight from JSON and TOML, not through the trainer's
classes: a run may be half written, come from another ripmap version, or (the outer
format) still be evolving. A key that is missing or of the wrong type is left out, a
folder that cannot be read is listed with the reason, and nothing here raises on a
bad file. Reading stays inside the served root: the run folders are fixed paths under
it, a run is named by one path component, and symlinks that lead out are refused.
"""
from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any, Iterable

from ..errors import UsageError

#: where runs live, relative to the served root (``ripmap-train`` and ``ripmap-train-outer`` defaults)
RUN_FOLDERS = ("training/runs", "training-outer/runs")
#: the L2 promptgram versions
PROMPTS_FOLDER = "training-outer/prompts/inner"
#: files larger than this are not parsed (a runaway log is no scratchpad)
MAX_FILE_BYTES = 64 * 1024 * 1024
#: long agent texts are cut for the page (the run folder keeps them whole)
MAX_TEXT = 20_000
_STEP = re.compile(r"^step_(\d+)$")
_VERSION = re.compile(r"^inner_v(\d+)$")


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else None


def _text(x: Any, limit: int = MAX_TEXT) -> str:
    if x is None:
        return ""
    s = x if isinstance(x, str) else json.dumps(x, indent=1, ensure_ascii=False, default=str)
    return s if len(s) <= limit else s[:limit] + f"\n… ({len(s) - limit:,} more characters in the run folder)"


def _dict(x: Any) -> dict:
    return x if isinstance(x, dict) else {}


def _list(x: Any) -> list:
    return x if isinstance(x, list) else []


def _numbers(d: Any) -> dict[str, float]:
    """The numeric entries of a mapping (parameter points, metrics)."""
    return {str(k): float(v) for k, v in _dict(d).items() if _num(v) is not None}


def _inside(root: Path, p: Path) -> bool:
    try:
        p.resolve().relative_to(root.resolve())
        return True
    except (ValueError, OSError):
        return False


def _read_json(p: Path) -> tuple[Any, str | None]:
    """A JSON file's value, or None and why it could not be read."""
    try:
        if p.stat().st_size > MAX_FILE_BYTES:
            return None, f"{p.name} is larger than {MAX_FILE_BYTES // 2**20} MiB"
        return json.loads(p.read_text(encoding="utf-8")), None
    except FileNotFoundError:
        return None, f"no {p.name}"
    except (OSError, UnicodeDecodeError) as e:
        return None, f"{p.name}: unreadable ({e})"
    except ValueError as e:
        return None, f"{p.name}: not valid JSON ({e})"


def _read_toml(p: Path) -> tuple[dict, str | None]:
    try:
        if p.stat().st_size > MAX_FILE_BYTES:
            return {}, f"{p.name} is too large"
        return tomllib.loads(p.read_text(encoding="utf-8")), None
    except FileNotFoundError:
        return {}, None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        return {}, f"{p.name}: unreadable ({e})"


class NoSuchRun(UsageError):
    """A run name that names no run folder (the API answers 404)."""


def kind_of(d: Path) -> str:
    """What kind of run a folder holds, by the files in it."""
    if (d / "outer_scratchpad.json").is_file():
        return "outer"
    if (d / "scratchpad.json").is_file():
        return "l1"
    if (d / "results.json").is_file():
        return "search"
    return "unknown"


def run_dir(root: Path, folder: str, name: str) -> Path:
    """The folder of run ``name`` in ``folder`` (one of :data:`RUN_FOLDERS`, or an outer
    run's ``inner_runs``), refusing anything that would read outside the root."""
    parts = folder.split("/")
    outer_inner = (len(parts) == 4 and "/".join(parts[:2]) == RUN_FOLDERS[1] and parts[3] == "inner_runs"
                   and _safe_name(parts[2]))
    if folder not in RUN_FOLDERS and not outer_inner:
        raise UsageError(f"unknown runs folder '{folder}' (expected one of {', '.join(RUN_FOLDERS)})")
    if not _safe_name(name):
        raise UsageError(f"'{name}' is not a run name (one folder name, no '/' or '..')")
    d = root / folder / name
    if not d.is_dir() or not _inside(root, d):
        raise NoSuchRun(f"no run '{name}' in {folder}")
    return d


def _safe_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name and "\0" not in name


# ----------------------------------------------------------------------------- listing

def list_runs(root: Path) -> dict[str, Any]:
    """Every run folder under the root's run folders, with a one-line summary each."""
    folders = []
    for folder in RUN_FOLDERS:
        base = root / folder
        runs = []
        if base.is_dir() and _inside(root, base):
            for d in sorted((p for p in base.iterdir() if p.is_dir()), key=lambda p: p.name):
                if _inside(root, d):
                    runs.append(_summary(d, folder))
        folders.append({"folder": folder, "exists": base.is_dir(), "runs": runs})
    return {"folders": folders, "lineage": lineage(root)}


def _summary(d: Path, folder: str) -> dict[str, Any]:
    kind = kind_of(d)
    out: dict[str, Any] = {"name": d.name, "folder": folder, "kind": kind}
    try:
        if kind == "l1":
            pts = l1_detail(d)
            prog = pts["progress"]
        elif kind == "search":
            pts = search_detail(d)
            prog = pts["progress"]
        elif kind == "outer":
            pts = outer_detail(d, folder)
            prog = pts["progress"]
        else:
            out["note"] = "no scratchpad.json, outer_scratchpad.json or results.json"
            return out
    except Exception as e:  # a folder this view does not understand is listed, never fatal
        out["note"] = f"unreadable: {type(e).__name__}: {e}"
        return out
    train = [p["train"] for p in prog if _num(p.get("train")) is not None]
    out.update(count=max(0, len(prog) - (1 if prog and prog[0].get("start") else 0)),
               first=train[0] if train else None, best=max(train) if train else None,
               updated=pts.get("updated"), note=pts.get("note"))
    return out


# ----------------------------------------------------------------------------- L1 runs

def l1_detail(d: Path) -> dict[str, Any]:
    """An L1 run: trajectory, parameter moves, episodes with the agent's words."""
    sp, err = _read_json(d / "scratchpad.json")
    cfg, _ = _read_json(d / "config.json")
    results, _ = _read_json(d / "results.json")
    sp = _dict(sp)
    start = _dict(sp.get("start"))
    progress: list[dict[str, Any]] = []
    points: list[dict[str, float]] = []
    if _num(start.get("train")) is not None or start.get("params"):
        progress.append({"x": 0, "train": _num(start.get("train")), "holdout": _num(start.get("holdout")),
                         "start": True})
        points.append(_numbers(start.get("params")))
    episodes = []
    for e in _list(sp.get("episodes")):
        if not isinstance(e, dict) or _num(e.get("episode")) is None:
            continue
        n = int(e["episode"])
        proposal = _dict(e.get("proposal"))
        applied = [{"param": str(p), "from": _num(a.get("from")), "to": _num(a.get("to")),
                    "direction": str(a.get("direction", "")), "magnitude": str(a.get("magnitude", "")),
                    "rationale": _text(a.get("rationale"), 2000)}
                   for p, a in _dict(e.get("applied")).items() if isinstance(a, dict)]
        episodes.append({
            "episode": n, "timestamp": str(e.get("timestamp") or ""), "agent": str(e.get("agent") or ""),
            "ndcg_before": _num(e.get("ndcg_before")), "ndcg_after": _num(e.get("ndcg_after")),
            "holdout_after": _num(e.get("holdout_after")), "confidence": _num(e.get("confidence")),
            "flags": [str(f) for f in _list(e.get("flags"))], "error": None if e.get("error") is None else str(e["error"]),
            "diagnosis": _text(proposal.get("diagnosis"), 4000), "capsule": _text(proposal.get("strategy_capsule"), 500),
            "insights": [_text(s, 1000) for s in _list(proposal.get("param_interactions"))
                         + _list(proposal.get("structural_insights")) if isinstance(s, str)],
            "proposed": _text(e.get("proposed_changes")), "applied": applied,
            "rejected": [{"param": str(r.get("param", "")), "reason": str(r.get("reason", ""))}
                         for r in _list(e.get("rejected")) if isinstance(r, dict)],
            "reasoning": _text(e.get("reasoning") or e.get("raw_reply")),
        })
        progress.append({"x": n, "train": _num(e.get("ndcg_after")), "holdout": _num(e.get("holdout_after"))})
        points.append(_numbers(e.get("params_after")))
    test = _dict(results).get("test") if isinstance(results, dict) else None
    return {"kind": "l1", "name": d.name, "config": _config(cfg), "progress": progress, "x_label": "episode",
            "params": trajectories(points, [p["x"] for p in progress]), "episodes": episodes,
            "insights": {k: [_text(s, 1000) for s in _list(sp.get(k)) if isinstance(s, str)]
                         for k in ("param_interactions", "structural_insights", "success_patterns",
                                   "failure_patterns")},
            "test": test if isinstance(test, dict) else None,
            "updated": episodes[-1]["timestamp"] if episodes else None,
            "note": err if err else (None if episodes else "no episodes yet")}


def _config(cfg: Any) -> dict[str, str]:
    """The run's settings worth a line each (agent, budget, repositories...)."""
    out: dict[str, str] = {}
    for k, v in _dict(cfg).items():
        if k in ("start", "search_params"):
            continue
        if k == "repos" and isinstance(v, list):
            v = ", ".join(str(_dict(r).get("name", r)) for r in v)
        out[str(k)] = _text(v, 300)
    return out


def trajectories(points: list[dict[str, float]], xs: list[Any]) -> dict[str, list[list[Any]]]:
    """Per parameter that moved at least once: its ``[x, value]`` points along the run."""
    names: dict[str, None] = {}
    for p in points:
        names.update(dict.fromkeys(p))
    out = {}
    for name in names:
        vals = [(x, p.get(name)) for x, p in zip(xs, points) if p.get(name) is not None]
        if len({v for _, v in vals}) > 1:
            out[name] = [[x, v] for x, v in vals]
    return out


# ----------------------------------------------------------------------------- classical searches

def search_detail(d: Path) -> dict[str, Any]:
    """A classical search (TPE, CMA-ES, random...): one point per trial."""
    data, err = _read_json(d / "results.json")
    data = _dict(data)
    trials = [t for t in _list(data.get("trials")) if isinstance(t, dict)]
    progress, points = [], []
    for i, t in enumerate(trials):
        x = int(t["number"]) if _num(t.get("number")) is not None else i
        progress.append({"x": x, "train": _num(t.get("train_ndcg", t.get("train"))),
                         "holdout": _num(t.get("holdout_ndcg", t.get("holdout"))), "start": bool(t.get("start"))})
        points.append(_numbers(t.get("params")))
    cfg, _ = _read_json(d / "config.json")
    return {"kind": "search", "name": d.name, "strategy": str(data.get("strategy") or ""), "config": _config(cfg),
            "progress": progress, "x_label": "trial", "params": trajectories(points, [p["x"] for p in progress]),
            "test": data.get("test") if isinstance(data.get("test"), dict) else None, "episodes": [],
            "updated": str(data.get("created") or "") or None,
            "note": err if err else (None if trials else "no trials yet")}


# ----------------------------------------------------------------------------- L2 outer runs

#: where an outer step's figures may be, most specific first (the format is young)
_OUTER_HELDOUT = ("validation", "holdout_ndcg", "validation_ndcg", "holdout", "score")
_OUTER_TRAIN = ("train", "train_ndcg", "ndcg")


def _first_num(d: dict[str, float], keys: tuple[str, ...]) -> float | None:
    return next((d[k] for k in keys if k in d), None)


def _lines(x: Any, limit: int = 4000) -> list[str]:
    """A list of records ({kind, detail}, {edit, reason}, plain strings) as lines of text."""
    out = []
    for item in (x if isinstance(x, list) else [x] if x else []):
        if isinstance(item, dict):
            head = item.get("kind") or item.get("reason") or ""
            rest = item.get("detail") if "detail" in item else item.get("edit")
            if isinstance(rest, dict):
                rest = f"{rest.get('edit_type', '')} {rest.get('section', '')}: {rest.get('content', '')}".strip()
            out.append(_text(f"{head}: {rest}" if head and rest else head or rest or item, limit))
        elif item is not None:
            out.append(_text(item, limit))
    return out


def _steps(data: Any) -> list[dict]:
    """The outer steps, whether the file is a list or an object holding one."""
    if isinstance(data, list):
        return [s for s in data if isinstance(s, dict)]
    for key in ("episodes", "steps", "outer_steps", "history"):
        if isinstance(_dict(data).get(key), list):
            return [s for s in data[key] if isinstance(s, dict)]
    return []


def outer_detail(d: Path, folder: str = RUN_FOLDERS[1]) -> dict[str, Any]:
    """An L2 run: one row per outer step (promptgram, figures, proposal, refusals,
    diagnostics) and the inner L1 runs it made."""
    data, err = _read_json(d / "outer_scratchpad.json")
    steps, progress, points = [], [], []
    for i, s in enumerate(_steps(data)):
        n = s.get("outer_step", s.get("step", i + 1))
        n = int(n) if _num(n) is not None else i + 1
        metrics = _numbers(s.get("final_metrics") or s.get("metrics"))
        proposal = s.get("proposal")
        edits = _list(_dict(proposal).get("edits")) if isinstance(proposal, dict) else []
        steps.append({
            "step": n, "version": _text(s.get("promptgram", s.get("promptgram_version", s.get("version"))), 200),
            "parent": _text(s.get("parent", s.get("parent_version")), 200), "metrics": metrics,
            "capsules": [_text(c, 500) for c in _list(s.get("strategy_capsules"))],
            "edits": [{"section": str(_dict(e).get("section", "")), "edit_type": str(_dict(e).get("edit_type", "")),
                       "content": _text(_dict(e).get("content"), 4000), "target": _text(_dict(e).get("target"), 500)}
                      for e in edits],
            "proposal": _text(proposal) if proposal and not edits else "",
            "rationale": _text(s.get("rationale")),
            "refused": _lines(s.get("refused", s.get("refused_edits")), 2000),
            "diagnostics": "\n".join(_lines(s.get("diagnostics", s.get("diagnosis")))),
            "child": _text(s.get("child"), 200) if s.get("child") else "",
        })
        progress.append({"x": n, "train": _first_num(metrics, _OUTER_TRAIN),
                         "holdout": _first_num(metrics, _OUTER_HELDOUT), "version": steps[-1]["version"]})
        points.append(_numbers(s.get("final_params")))
    inner = []
    inner_dir = d / "inner_runs"
    if inner_dir.is_dir() and _inside(d, inner_dir):
        for p in sorted(inner_dir.iterdir(), key=lambda p: p.name):
            if p.is_dir() and _STEP.match(p.name) and _inside(d, p):
                inner.append({"name": p.name, "folder": f"{folder}/{d.name}/inner_runs", "kind": kind_of(p)})
    pending = _dict(data).get("pending") if isinstance(data, dict) else None
    note = err if err and not inner else (None if steps or inner else "no outer steps yet")
    if isinstance(pending, dict) and pending:
        what = pending.get("outer_step", pending.get("step"))
        note = ((note + "; ") if note else "") + f"step {what if what is not None else '?'} is running" + (
            f" with {pending['promptgram']}" if isinstance(pending.get("promptgram"), str) else "")
    return {"kind": "outer", "name": d.name, "progress": progress, "x_label": "outer step", "steps": steps,
            "params": trajectories(points, [p["x"] for p in progress]), "inner_runs": inner, "episodes": [],
            "updated": None, "note": note}


def lineage(root: Path) -> list[dict[str, Any]]:
    """The promptgram versions (``inner_vNNN.md`` + ``.toml``): parent, edits, runs, scores."""
    base = root / PROMPTS_FOLDER
    if not base.is_dir() or not _inside(root, base):
        return []
    out = []
    stems = sorted({p.stem for p in base.iterdir() if p.suffix in (".md", ".toml") and _VERSION.match(p.stem)})
    for stem in stems:
        meta, err = _read_toml(base / f"{stem}.toml")
        md = base / f"{stem}.md"
        text = ""
        if md.is_file() and _inside(root, md) and md.stat().st_size <= MAX_FILE_BYTES:
            try:
                text = md.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                text = ""
        parent = meta.get("parent")
        runs = meta.get("runs")
        out.append({"version": stem, "parent": str(parent) if parent else None,
                    "runs": len(runs) if isinstance(runs, list) else runs if _num(runs) is not None else None,
                    "scores": _scores(meta.get("scores")),
                    "edits": "\n".join(_edit_line(e) for e in _list(meta.get("edits"))) or _text(meta.get("edits") or ""),
                    "rationale": _text(meta.get("rationale") or "", 4000), "text": _text(text), "note": err})
    return out


def _edit_line(e: Any) -> str:
    if not isinstance(e, dict):
        return _text(e, 2000)
    return _text(f"{e.get('edit_type', '')} {e.get('section', '')}: {e.get('content', '')}".strip(), 2000)


def _scores(x: Any) -> Any:
    if isinstance(x, dict):
        return _numbers(x) or _text(x, 500)
    if isinstance(x, list):
        return [v for v in x if _num(v) is not None] or _text(x, 500)
    return _num(x)


def run_detail(root: Path, folder: str, name: str) -> dict[str, Any]:
    """One run, by kind: what the page's run view draws."""
    d = run_dir(root, folder, name)
    kind = kind_of(d)
    if kind == "l1":
        out = l1_detail(d)
    elif kind == "search":
        out = search_detail(d)
    elif kind == "outer":
        out = outer_detail(d, folder)
    else:
        out = {"kind": "unknown", "name": name, "progress": [], "params": {}, "episodes": [],
               "note": "this folder has no scratchpad.json, outer_scratchpad.json or results.json; its files: "
                       + ", ".join(sorted(p.name for p in _first(d.iterdir(), 30)))}
    out["folder"] = folder
    return out


def _first(it: Iterable[Path], n: int) -> list[Path]:
    out = []
    for p in it:
        out.append(p)
        if len(out) >= n:
            break
    return out


__all__ = ["NoSuchRun", "RUN_FOLDERS", "PROMPTS_FOLDER", "list_runs", "run_detail", "lineage", "kind_of", "run_dir",
           "trajectories"]
