"""Refit a shipped preset on the cases of its task and judge it on repositories it never saw.

    RIPMAP_CORPUS=/work/repos nice -n 10 python bench/refit_preset.py debug --tasks B \\
        --strategy tpe --budget 100 --seed 0 --train-corpus bench/corpus/fit.toml \\
        --judge-corpus bench/corpus/eval.toml --out bench-out/presets [--write]

One run of the chosen strategy (``bench/optimizers.py`` says which one wins) through the
trainer's loop, from the defaults, on the training corpus's cases of ``--tasks`` only; the
final point is the trainer's (best validation NDCG@10 on the newest commits of the training
repositories). Its values that differ from the defaults, rounded to three significant
figures, are the preset; that exact preset is then judged on the judging corpus (never
used for any choice) against the defaults and against the preset it would replace, with
95% bootstrap intervals over commits (resampled within each repository; each repository and
each task weighs the same). With ``--write`` the preset file is replaced only when the
lower bound of its interval against the defaults is above zero and it is not below the
preset it replaces; otherwise the old parameters stay and the file records how they were
judged and the refit that did not pass. Resumable: the run lives in ``OUT/<preset>-<strategy>-s<seed>``.
"""
from __future__ import annotations

import argparse
import json
import math
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
    ap.add_argument("--write", action="store_true", help="replace the preset file if the interval is above zero")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    a = parser().parse_args(argv)
    from ripmap.presets import SHIPPED_DIR, load_preset

    target = SHIPPED_DIR / f"{a.preset}.json"
    if not target.is_file():
        raise RefitError(f"no shipped preset '{a.preset}' ({target} does not exist)")
    if a.budget < 2:
        raise RefitError("--budget must be at least 2")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import optimizers as bench

    if a.strategy not in bench.STRATEGIES:
        raise RefitError(f"unknown strategy {a.strategy!r} (choose from {', '.join(bench.STRATEGIES)})")
    t0 = time.monotonic()

    def say(msg: str) -> None:
        el = time.monotonic() - t0
        print(f"[{int(el // 60):3d}m{int(el % 60):02d}s] {msg}", file=sys.stderr, flush=True)

    from ripmap.rank.params import DEFAULT, Params
    from ripmap.train.cases.corpus import ensure_local, load_corpus
    from ripmap.train.cases.oracle import MineSettings
    from ripmap.train.cases.splits import hold_out
    from ripmap.train.evaluation.comparison import compare
    from ripmap.train.evaluation.evaluator import Evaluator

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
    train = []
    for s in train_specs:
        m = ms.mine(ensure_local(s, "training/corpus"), name=s.name)
        say(f"{s.name}: {len(m.cases)} training cases")
        train.append(m)
    judged = []
    jms = replace(ms, holdout=0.0, max_commits=a.judge_max_commits)
    for s in judge_specs:
        m = hold_out(jms.mine(ensure_local(s, "training/corpus"), name=s.name))
        say(f"{s.name}: {len(m.cases)} judging cases")
        judged.append(m)
    ev_train = Evaluator(train, cache_dir=cache, progress=say)
    ev_judge = Evaluator(judged, cache_dir=cache, progress=say)

    label = f"{a.preset}/{a.strategy}-s{a.seed}"  # the run's folder under --out
    out = Path(a.out)
    trials = bench.run_one(ev_train, a.strategy, a.seed, a.budget, out / a.preset, say)
    from ripmap.train.search.study import best_of

    final = best_of(trials)
    start = next(t for t in trials if t.start)
    values = {k: round_sig(float(v)) for k, v in final.params.items() if float(v) != float(DEFAULT[k])}
    new = Params.from_dict(values)
    cases = ev_judge.cases
    vs_default = compare(ev_judge, cases, DEFAULT, new, seed=a.seed)
    old_vs_default = compare(ev_judge, cases, DEFAULT, old.params, seed=a.seed)
    vs_old = compare(ev_judge, cases, old.params, new, seed=a.seed)

    def fig(c) -> dict[str, Any]:
        return {"baseline": round(c.default, 4), "preset": round(c.best, 4), "delta": round(c.delta, 4),
                "delta_ci95": [round(x, 4) for x in c.delta_ci95]}

    ship = vs_default.improves and vs_old.delta >= 0.0
    prov = {
        "method": f"python bench/refit_preset.py {' '.join(_recorded(sys.argv[1:] if argv is None else argv))} "
                  f"(run {label}: trial {final.number} of {len(trials)}, selected by validation NDCG@10; values that "
                  f"differ from the defaults, rounded to three significant figures)",
        "strategy": a.strategy, "budget": a.budget, "seed": a.seed, "tasks": list(a.tasks),
        "corpus": {"train": f"{a.train_corpus}: {', '.join(s.name for s in train_specs)}; snapshot {a.snapshot_back} "
                            f"commits back, {a.max_commits} commits mined each, newest 30% for validation",
                   "judged_on": f"{a.judge_corpus}: {', '.join(s.name for s in judge_specs)} ({len(cases)} cases of "
                                f"{len({(c.repo, c.commit) for c in cases})} commits; {a.judge_max_commits} commits "
                                f"mined each); never used to choose the point, only by the gate that ships it"},
        "fit_figures": {"train": round(final.train_ndcg, 4), "validation": round(final.holdout_ndcg or 0.0, 4),
                        "defaults": {"train": round(start.train_ndcg, 4),
                                     "validation": round(start.holdout_ndcg or 0.0, 4)}},
        "held_out": {"vs_defaults": fig(vs_default), "previous_preset_vs_defaults": fig(old_vs_default),
                     "vs_previous_preset": fig(vs_old),
                     "interval": "95% bootstrap over commits, resampled within each repository; each repository "
                                 "and each task weighs the same"},
        "date": time.strftime("%Y-%m-%d"),
    }
    report = {"preset": a.preset, "ship": ship, "params": values, "provenance": prov}
    (out / f"{label}.preset.json").write_text(json.dumps(report, indent=1))
    lo, hi = vs_default.delta_ci95
    print(f"{a.preset} ({', '.join(a.tasks)}): refit {vs_default.best:.4f} vs defaults {vs_default.default:.4f}: "
          f"Δ {vs_default.delta:+.4f} [{lo:+.4f}, {hi:+.4f}]; previous preset Δ {old_vs_default.delta:+.4f} "
          f"[{old_vs_default.delta_ci95[0]:+.4f}, {old_vs_default.delta_ci95[1]:+.4f}]; refit vs previous "
          f"Δ {vs_old.delta:+.4f} [{vs_old.delta_ci95[0]:+.4f}, {vs_old.delta_ci95[1]:+.4f}]")
    print(json.dumps(values))
    if a.write and ship:
        data = json.loads(target.read_text(encoding="utf-8"))
        data = {"description": a.description or data.get("description", ""), "params": values, "provenance": prov}
        target.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {target}")
    elif a.write:
        # the old preset stays; its file records how it was judged and the refit that did not pass
        data = json.loads(target.read_text(encoding="utf-8"))
        kept = {"method": "kept: the refit below did not pass the gate (interval against the defaults above zero, "
                          "not below the preset it would replace)",
                "judged": {"on": prov["corpus"]["judged_on"], "tasks": list(a.tasks),
                           "vs_defaults": prov["held_out"]["previous_preset_vs_defaults"],
                           "interval": prov["held_out"]["interval"]},
                "refit_not_shipped": {k: v for k, v in prov.items() if k != "held_out"} | {
                    "params": values, "vs_defaults": prov["held_out"]["vs_defaults"]},
                "date": prov["date"]}
        data = {"description": data.get("description", ""), "params": data.get("params", {}), "provenance": kept}
        target.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        print(f"not shipped: the interval against the defaults is not above zero, or the previous preset scores "
              f"higher; {target} keeps its parameters and records these figures")
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
