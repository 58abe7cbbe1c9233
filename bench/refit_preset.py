"""Refit a shipped preset on the cases of its task and judge it on repositories it never saw.

    RIPMAP_CORPUS=/work/repos nice -n 10 python bench/refit_preset.py debug --tasks B \\
        --search-params pagerank_alpha,boost_temporal_coupling,git_recency_max_boost \\
        --strategy tpe --budget 100 --seed 0 --train-corpus bench/corpus/fit.toml \\
        --judge-corpus bench/corpus/eval.toml --out bench-out/presets [--write]

One run of the chosen strategy (``bench/optimizers.py`` says which one wins) through the
trainer's loop, from the defaults, on the training corpus's cases of ``--tasks`` only,
varying only ``--search-params`` (the preset's point of view; default: the parameters the
preset file sets); the final point is the trainer's (best validation NDCG@10 on the newest
commits of the training repositories). Its values that differ from the defaults, rounded to
three significant figures, are the preset; that exact preset is then judged once on the
judging corpus (never used for any choice) against the defaults, with a 95% bootstrap
interval over commits (resampled within each repository; each repository and each task
weighs the same) and one row per task. The gate: the preset ships only when the lower bound
of that interval is above zero. With ``--write`` a passing preset replaces the file with its
provenance; a failing one is removed from the package (``ripmap --preset NAME`` then answers
"unknown preset"), its figures kept in OUT. Resumable: the run lives in ``OUT/<preset>/<strategy>-s<seed>``.

``--judge-only`` does no refit: it judges the preset's parameters as they are against
``--baseline`` (a params file; e.g. the defaults a refit replaced) on ``--tasks``, and with
``--write`` records the figures as ``provenance.held_out_vs_baseline`` in the preset file.
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

PROG = "refit_preset.py"


class RefitError(Exception):
    """Bad input: one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        raise RefitError(message)


def round_sig(x: float, sig: int = 3) -> float:
    """``x`` to ``sig`` significant figures: a preset a person can read, judged as shipped."""
    if x == 0 or not math.isfinite(x):
        return x
    return float(f"{x:.{sig}g}")


def _recorded(argv: Sequence[str]) -> list[str]:
    """The command line as provenance records it: without where files went (--out,
    --cache-dir) or --write, which do not change the result."""
    out, skip = [], False
    for tok in argv:
        if skip:
            skip = False
            continue
        name = tok.split("=", 1)[0]
        if name in ("--out", "--cache-dir"):
            skip = "=" not in tok
            continue
        if name != "--write":
            out.append(tok)
    return out


def parser() -> argparse.ArgumentParser:
    from ripmap.train.cases.oracle import TASKS

    ap = _Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("preset", help="the shipped preset to refit (its file in src/ripmap/presets/)")
    ap.add_argument("--tasks", nargs="+", required=True, choices=TASKS, help="the task(s) the preset serves")
    ap.add_argument("--strategy", default="tpe", help="the strategy (default: tpe)")
    ap.add_argument("--search-params", metavar="A,B,...",
                    help="the parameters the refit varies, the preset's point of view (default: the names the "
                         "preset file sets); the others stay at the defaults")
    ap.add_argument("--judge-only", action="store_true",
                    help="no refit: judge the preset's parameters as they are against --baseline")
    ap.add_argument("--baseline", metavar="FILE",
                    help="with --judge-only: the parameters judged against (a params JSON file; default: the "
                         "registry defaults)")
    ap.add_argument("--baseline-label", default="previous defaults", metavar="TEXT",
                    help="with --judge-only: what --baseline is, as the provenance names it")
    ap.add_argument("--budget", type=int, default=100, help="evaluations, the start point included (default: 100)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-corpus", required=True, metavar="FILE")
    ap.add_argument("--judge-corpus", required=True, metavar="FILE")
    ap.add_argument("--only", metavar="A,B,...", help="use only these training repositories")
    ap.add_argument("--max-commits", type=int, default=150, metavar="N")
    ap.add_argument("--judge-max-commits", type=int, default=300, metavar="N")
    ap.add_argument("--snapshot-back", type=int, default=300, metavar="N")
    ap.add_argument("--description", help="the preset's new description (default: keep the old one)")
    ap.add_argument("--out", default="bench-out/presets", metavar="DIR")
    ap.add_argument("--cache-dir", metavar="DIR")
    ap.add_argument("--write", action="store_true", help="apply the gate: replace the preset file if the interval is above zero, else remove it")
    return ap



INTERVAL = ("95% bootstrap over commits, resampled within each repository; each repository and each task "
            "weighs the same")


def search_names(a: argparse.Namespace, preset_params: Sequence[str]) -> tuple[str, ...]:
    """The parameters the refit varies: ``--search-params``, else the names the preset sets
    (its point of view); each checked against the registry, so a typo is one line."""
    from ripmap.rank.params import SPECS

    names = [x.strip() for x in a.search_params.split(",") if x.strip()] if a.search_params else list(preset_params)
    if not names:
        raise RefitError(f"preset '{a.preset}' sets no parameter: give --search-params A,B,...")
    bad = [n for n in names if n not in SPECS]
    if bad:
        raise RefitError(f"--search-params: unknown parameter '{bad[0]}'")
    return tuple(dict.fromkeys(names))


def figures(c) -> dict[str, Any]:
    """A comparison as provenance records it (four decimals)."""
    return {"baseline": round(c.default, 4), "preset": round(c.best, 4), "delta": round(c.delta, 4),
            "delta_ci95": [round(x, 4) for x in c.delta_ci95], "cases": c.n, "commits": c.commits}


def judged(ev, cases, baseline, candidate, tasks: Sequence[str], seed: int) -> tuple[Any, dict[str, Any]]:
    """(overall comparison, its figures with one row per task): the gate reads the overall
    interval; the rows say where a multi-task preset gains or loses."""
    from ripmap.train.evaluation.comparison import compare

    overall = compare(ev, cases, baseline, candidate, seed=seed)
    out = figures(overall)
    if len(tasks) > 1:
        out["by_task"] = {t: figures(compare(ev, [c for c in cases if c.task == t], baseline, candidate, seed=seed))
                          for t in tasks}
    return overall, out


def _line(c) -> str:
    lo, hi = c.delta_ci95
    return f"{c.best:.4f} vs {c.default:.4f}: Δ {c.delta:+.4f} [{lo:+.4f}, {hi:+.4f}]"


def apply_gate(target: Path, ship: bool, values: dict[str, float], prov: dict[str, Any], description: str | None,
               report: Path) -> str:
    """Write the gate's verdict into the package: a passing refit replaces ``target`` with
    its values and provenance; a failing one removes ``target``, since a preset that cannot
    show a held-out gain over the defaults must not be offered (its figures stay in
    ``report``). Returns the line to print."""
    if ship:
        old = json.loads(target.read_text(encoding="utf-8"))
        data = {"description": description or old.get("description", ""), "params": values, "provenance": prov}
        target.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        return f"wrote {target}"
    target.unlink()
    return f"not shipped: the interval against the defaults is not above zero; removed {target} (figures in {report})"


def main(argv: Sequence[str] | None = None) -> int:
    a = parser().parse_args(argv)
    from ripmap.presets import SHIPPED_DIR, load_preset

    target = SHIPPED_DIR / f"{a.preset}.json"
    if not target.is_file():
        raise RefitError(f"no shipped preset '{a.preset}' ({target} does not exist)")
    if a.budget < 2:
        raise RefitError("--budget must be at least 2")
    if a.baseline and not a.judge_only:
        raise RefitError("--baseline needs --judge-only (a refit is always judged against the defaults)")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import optimizers as bench

    if a.strategy not in bench.STRATEGIES:
        raise RefitError(f"unknown strategy {a.strategy!r} (choose from {', '.join(bench.STRATEGIES)})")
    raw = json.loads(target.read_text(encoding="utf-8"))
    search = () if a.judge_only else search_names(a, list((raw.get("params") or {}).keys()))
    t0 = time.monotonic()

    def say(msg: str) -> None:
        el = time.monotonic() - t0
        print(f"[{int(el // 60):3d}m{int(el % 60):02d}s] {msg}", file=sys.stderr, flush=True)

    from ripmap.rank.params import DEFAULT, Params
    from ripmap.train.cases.corpus import ensure_local, load_corpus
    from ripmap.train.cases.oracle import MineSettings
    from ripmap.train.cases.splits import hold_out
    from ripmap.train.evaluation.evaluator import Evaluator

    baseline = Params.load(a.baseline) if a.baseline else DEFAULT
    train_specs = load_corpus(a.train_corpus)
    if a.only:
        keep = set(bench._names(a.only))
        unknown = keep - {s.name for s in train_specs}
        if unknown:
            raise RefitError(f"--only {sorted(unknown)[0]}: no such entry in {a.train_corpus}")
        train_specs = [s for s in train_specs if s.name in keep]
    judge_specs = load_corpus(a.judge_corpus)
    overlap = {s.name for s in train_specs} & {s.name for s in judge_specs}
    if overlap:
        raise RefitError(f"{', '.join(sorted(overlap))} in both corpora: a preset is judged on repositories it never saw")
    old = load_preset(a.preset)
    ms = MineSettings(snapshot_back=a.snapshot_back, max_commits=a.max_commits, tasks=tuple(a.tasks), holdout=0.3)
    cache = Path(a.cache_dir) if a.cache_dir else bench._default_cache()
    judge_m = []
    jms = replace(ms, holdout=0.0, max_commits=a.judge_max_commits)
    for s in judge_specs:
        m = hold_out(jms.mine(ensure_local(s, "training/corpus"), name=s.name))
        say(f"{s.name}: {len(m.cases)} judging cases")
        judge_m.append(m)
    ev_judge = Evaluator(judge_m, cache_dir=cache, progress=say)
    cases = ev_judge.cases
    judged_on = (f"{a.judge_corpus}: {', '.join(s.name for s in judge_specs)} ({len(cases)} cases of "
                 f"{len({(c.repo, c.commit) for c in cases})} commits; snapshot {a.snapshot_back} commits back, "
                 f"{a.judge_max_commits} commits mined each); never used to choose the point, only to judge it")
    command = f"python bench/refit_preset.py {shlex.join(_recorded(sys.argv[1:] if argv is None else argv))}"
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    if a.judge_only:
        comp, figs = judged(ev_judge, cases, baseline, old.params, a.tasks, a.seed)
        block = {"command": command, "baseline": a.baseline_label if a.baseline else "registry defaults",
                 # the file may be temporary: its values (those that differ from today's defaults) are kept
                 "baseline_params": {k: v for k, v in baseline.items() if v != DEFAULT[k]},
                 "on": judged_on, "tasks": list(a.tasks), "vs_baseline": figs, "interval": INTERVAL,
                 "date": time.strftime("%Y-%m-%d")}
        (out / f"{a.preset}.judged.json").write_text(json.dumps(block, indent=1))
        print(f"{a.preset} ({', '.join(a.tasks)}) vs {block['baseline']}: {_line(comp)}")
        for t, f in figs.get("by_task", {}).items():
            print(f"  {t}: Δ {f['delta']:+.4f} [{f['delta_ci95'][0]:+.4f}, {f['delta_ci95'][1]:+.4f}]")
        if a.write:
            prov = dict(raw.get("provenance") or {})
            prov["held_out_vs_baseline"] = block
            raw["provenance"] = prov
            target.write_text(json.dumps(raw, indent=1) + "\n", encoding="utf-8")
            print(f"wrote {target}")
        return 0

    train = []
    for s in train_specs:
        m = ms.mine(ensure_local(s, "training/corpus"), name=s.name)
        say(f"{s.name}: {len(m.cases)} training cases")
        train.append(m)
    ev_train = Evaluator(train, cache_dir=cache, progress=say)

    from ripmap.train.search.loop import LoopSettings, optimize
    from ripmap.train.search.study import best_of

    run = f"{a.strategy}-s{a.seed}"
    runs = out / a.preset
    label = f"{a.preset}/{run}"  # the run's folder under --out
    res = optimize(bench.with_progress(bench.make(a.strategy), run, a.budget, say), ev_train,
                   LoopSettings(out_dir=runs, budget=a.budget, start=DEFAULT, run_name=run, seed=a.seed,
                                resume=(runs / run / "config.json").is_file(), search_params=search))
    trials = [t for t in res.trials if t.complete]
    final = best_of(trials)
    start = next(t for t in trials if t.start)
    values = {k: round_sig(float(v)) for k, v in final.params.items() if float(v) != float(DEFAULT[k])}
    values = {k: v for k, v in values.items() if v != float(DEFAULT[k])}
    new = Params.from_dict(values)
    vs_default, figs = judged(ev_judge, cases, DEFAULT, new, a.tasks, a.seed)
    old_vs_default = judged(ev_judge, cases, DEFAULT, old.params, a.tasks, a.seed)[0]
    ship = bool(values) and vs_default.improves
    prov = {
        "method": f"{command} (run {label}: trial {final.number} of {len(trials)}, selected by validation NDCG@10; "
                  f"values that differ from the defaults, rounded to three significant figures)",
        "strategy": a.strategy, "budget": a.budget, "seed": a.seed, "tasks": list(a.tasks),
        "search_params": list(search), "start": "the registry defaults (src/ripmap/rank/params.py)",
        "corpus": {"train": f"{a.train_corpus}: {', '.join(s.name for s in train_specs)}; snapshot {a.snapshot_back} "
                            f"commits back, {a.max_commits} commits mined each, newest 30% for validation",
                   "judged_on": judged_on},
        "fit_figures": {"train": round(final.train_ndcg, 4), "validation": round(final.holdout_ndcg or 0.0, 4),
                        "defaults": {"train": round(start.train_ndcg, 4),
                                     "validation": round(start.holdout_ndcg or 0.0, 4)}},
        "held_out": {"vs_defaults": figs, "interval": INTERVAL,
                     "gate": "shipped only when the lower bound of vs_defaults.delta_ci95 is above zero"},
        "date": time.strftime("%Y-%m-%d"),
    }
    report = {"preset": a.preset, "ship": ship, "params": values, "provenance": prov,
              "previous_preset_vs_defaults": figures(old_vs_default)}
    (out / f"{label}.preset.json").write_text(json.dumps(report, indent=1))
    print(f"{a.preset} ({', '.join(a.tasks)}): refit {_line(vs_default)}; previous preset {_line(old_vs_default)}")
    for t, f in figs.get("by_task", {}).items():
        print(f"  {t}: Δ {f['delta']:+.4f} [{f['delta_ci95'][0]:+.4f}, {f['delta_ci95'][1]:+.4f}]")
    print(json.dumps(values))
    if a.write:
        print(apply_gate(target, ship, values, prov, a.description, out / f"{label}.preset.json"))
    return 0


if __name__ == "__main__":
    from ripmap.errors import RipmapError, UsageError

    try:
        raise SystemExit(main())
    except RefitError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except RipmapError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        raise SystemExit(2 if isinstance(e, UsageError) else 1) from None
