"""Shared builders for the web tests: a served repository with training runs beside its code.

The L1 run is written by the trainer's own record classes (``Episode``, ``Scratchpad``),
so the page is tested on the format the trainer really writes; the classical search and
the L2 outer run (whose format is still being built) are written as the DESIGN describes
them, with a few fields of the wrong type thrown in, as a half-written run would have.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from fixtures_rank import git, make_rich_repo

from ripmap.train.l1.episode import Episode, StartPoint
from ripmap.train.l1.scratchpad import Scratchpad
from ripmap.train.l1.step import Applied

#: the L1 run's train NDCG after each episode (episode 0 is the start point)
L1_TRAIN = (0.50, 0.55, 0.52, 0.61)
L1_ALPHA = (0.85, 0.85, 0.80, 0.80)  # pagerank_alpha after each episode: it moves, so it has a trajectory
OUTER_STEPS = (("inner_v001", None, 0.60), ("inner_v002", "inner_v001", 0.64))
#: a preset the tests install in RIPMAP_PRESET_DIR: which presets ship depends on held-out
#: figures (a preset that cannot show a gain is dropped), so the tests of the preset path
#: bring their own, which resolves exactly as a shipped one does
TEST_PRESET = "nearby"
TEST_PRESET_PARAMS = {"pagerank_alpha": 0.7, "weight_structure": 3.0, "git_recency_max_boost": 4.0}


def install_test_preset(presets_dir: Path) -> None:
    """Write :data:`TEST_PRESET` where ``ripmap --preset`` finds user presets."""
    presets_dir.mkdir(parents=True, exist_ok=True)
    (presets_dir / f"{TEST_PRESET}.json").write_text(
        json.dumps({"description": "test preset", "params": TEST_PRESET_PARAMS}), encoding="utf-8")


def make_served_repo(root: Path) -> Path:
    """The rich ranking repository, with its training folders ignored as ripmap's own are."""
    make_rich_repo(root)
    (root / ".gitignore").write_text("training/\ntraining-outer/\n")
    git(root, "add", ".gitignore")
    git(root, "commit", "-q", "-m", "ignore training output")
    write_runs(root)
    return root


def write_runs(root: Path) -> None:
    runs = root / "training" / "runs"
    l1 = runs / "l1-demo"
    l1.mkdir(parents=True)
    sp = Scratchpad(run="l1-demo", start=StartPoint({"pagerank_alpha": L1_ALPHA[0]}, L1_TRAIN[0], 0.40))
    for n in range(1, len(L1_TRAIN)):
        before, after = L1_ALPHA[n - 1], L1_ALPHA[n]
        applied = ({"pagerank_alpha": Applied(before, after, "decrease", "small", "restart sooner near the seed")}
                   if after != before else {})
        sp.add_episode(Episode(
            episode=n, timestamp=f"2026-01-0{n}T10:00:00+00:00", episodes_total=len(L1_TRAIN) - 1,
            params_before={"pagerank_alpha": before}, params_after={"pagerank_alpha": after},
            ndcg_before=L1_TRAIN[n - 1], ndcg_after=L1_TRAIN[n], holdout_after=0.40 + n / 100,
            reasoning=f"Episode {n}: the chat file's neighbours rank too low.",
            proposal={"strategy_capsule": f"capsule {n}", "diagnosis": f"diagnosis of episode {n}"},
            applied=applied, agent="heuristic", flags=("basin_lock_in",) if n == 3 else ()))
    sp.save(l1)
    (l1 / "config.json").write_text(json.dumps({"agent": "heuristic", "episodes": 3}))

    search = runs / "tpe-demo"
    search.mkdir()
    (search / "results.json").write_text(json.dumps({"strategy": "tpe", "trials": [
        {"number": 0, "train_ndcg": 0.5, "holdout_ndcg": 0.4, "start": True, "params": {"boost_lexical": 1.0}},
        {"number": 1, "train_ndcg": 0.58, "holdout_ndcg": "n/a", "params": {"boost_lexical": 2.0}},
        {"number": 2, "train_ndcg": None, "params": "broken"}]}))

    broken = runs / "broken-run"
    broken.mkdir()
    (broken / "scratchpad.json").write_text("{ not json")

    outer = root / "training-outer" / "runs" / "l2-demo"
    (outer / "inner_runs" / "step_001").mkdir(parents=True)
    (outer / "inner_runs" / "step_001" / "scratchpad.json").write_text(json.dumps({"run": "step_001", "episodes": []}))
    # the layout of issue 14's outer_scratchpad.json (OuterStep.to_dict), with the nested
    # tables (by_repo, test) a flat reader must step over
    steps = [{"outer_step": i + 1, "promptgram": v, "parent": p, "inner_run": f"step_{i + 1:03d}",
              "final_metrics": {"ndcg": m + 0.1, "train": m + 0.1, "validation": m, "score": m,
                                "by_repo": {"flask": {"train": m}}, "test": None},
              "final_params": {"boost_lexical": 1.0 + i}, "strategy_capsules": [f"outer capsule {i + 1}"],
              "proposal": {"edits": [{"section": "Heuristics", "edit_type": "add", "content": f"prefer boost_lexical {i}"}]},
              "rationale": f"rationale {i + 1}",
              "refused": [{"edit": {"section": "Output_schema", "edit_type": "replace", "content": "x"},
                           "reason": "section 'Output_schema' belongs to the L1 output protocol"}] if i else [],
              "diagnostics": [{"kind": "basin_lock_in", "detail": "same parameters for 5 steps", "params": [], "step": 2}]
              if i else [], "child": f"inner_v00{i + 2}"}
             for i, (v, p, m) in enumerate(OUTER_STEPS)]
    (outer / "outer_scratchpad.json").write_text(json.dumps({"format": 1, "run": "l2-demo", "episodes": steps,
                                                             "pending": {"outer_step": 3, "promptgram": "inner_v002"}}))
    prompts = root / "training-outer" / "prompts" / "inner"
    prompts.mkdir(parents=True)
    for v, p, m in OUTER_STEPS:
        (prompts / f"{v}.md").write_text(f"# Role\n{v} text\n")
        (prompts / f"{v}.toml").write_text(f'version = "{v}"\n' + (f'parent = "{p}"\n' if p else "")
                                           + f"\n[scores]\nruns = 1\nmean = {m}\nbest = {m}\n\n[[runs]]\n"
                                           f'run = "l2-demo"\nouter_step = 1\nscore = {m}\n')


def ripmap_json(root: Path, *args: str, env: dict[str, str] | None = None) -> dict:
    """What ``ripmap --format json`` prints for ``root`` and ``args`` (a real subprocess)."""
    out = subprocess.run([sys.executable, "-m", "ripmap.cli", str(root), "--format", "json", *args],
                         capture_output=True, text=True, env={**os.environ, **(env or {})}, check=True)
    return json.loads(out.stdout)
