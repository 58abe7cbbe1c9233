"""``ripmap-train-outer``: the L2 loop that evolves L1's promptgram.

::

    ripmap-train-outer RUN --steps-outer N --episodes-inner K --agent-outer X --agent-inner Y
                       [--repo PATH ... | --corpus FILE | --cases FILE] [--holdout-repo PATH ...]
                       [--resume] [--dry] [--warm-start] [--out DIR]
    ripmap-train-outer --list | --show RUN | --install RUN [--as NAME]

This module reads the command line, reconciles a resumed run with its ``config.json``
(the run's source of truth, as for ``ripmap-train``), builds the cases once through the
trainer's :class:`~ripmap.train.commands.Session`, and hands typed settings to
:mod:`ripmap.train.outer.loop`. Everything runs offline with the ``heuristic`` agents;
the LLM backends are those of L1.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

from ..errors import UsageError
from .agents import AGENT_SPECS, AgentSettings
from .console import run_entry

PROG = "ripmap-train-outer"
DEFAULT_OUT = "training-outer"
CONFIG = "config.json"

EPILOG = """\
examples:
  ripmap-train-outer l2a --repo ~/src/flask --repo ~/src/click --holdout-repo ~/src/httpx \\
      --steps-outer 6 --episodes-inner 5                      # offline: heuristic L2 and L1
  ripmap-train-outer l2b --corpus bench/corpus/fit.toml --steps-outer 10 --episodes-inner 5 \\
      --agent-outer gemini --agent-inner claude
  ripmap-train-outer l2a --resume --steps-outer 10            # continue (and extend) a run
  ripmap-train-outer l2a --dry                                # the next step's L1 and L2 prompts
  ripmap-train-outer --list
  ripmap-train-outer --show l2a                               # steps, lineage, diagnostics
  ripmap-train-outer --install l2a --as evolved               # then: ripmap-train reason --prompt evolved
  ripmap-train reason --repo ~/src/flask --prompt inner_v004  # any version, by name

files: DIR/runs/RUN/outer_scratchpad.json (one episode per outer step), DIR/runs/RUN/inner_runs/step_NNN/
(complete L1 run folders), DIR/runs/RUN/l2/ (L2 prompts and replies), DIR/runs/RUN/outer_progress.png,
DIR/prompts/inner/inner_vNNN.md + .toml (the promptgram versions; inner_v001 is the shipped default).
L2 may edit only Role, Policy, Heuristics and Style; L1's output protocol is appended after the promptgram at run
time and no edit can reach it. Promptgram directives (directive: prefer PARAM [increase|decrease], avoid PARAM,
step small|medium|large, max-changes N, explore F, on plateau N: orthogonal|escalate|hold) steer the offline L1
agent; LLM agents read them as text.
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        print(f"{PROG}: error: {message} (see {PROG} --help)", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__
    from .cli import _evaluation, _mining, _repos

    p = _Parser(prog=PROG, description="L2: evolve the promptgram that steers the L1 agent. Each outer step runs "
                                       "L1 with one promptgram, summarizes the run, asks L2 for edits and writes "
                                       "the edited promptgram as a new version.",
                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", nargs="?", metavar="RUN_NAME", help="the outer run (letters, digits, '.', '_', '-')")
    g = p.add_argument_group("outer loop")
    g.add_argument("--steps-outer", type=int, default=5, metavar="N", help="outer steps (default: 5)")
    g.add_argument("--episodes-inner", type=int, default=5, metavar="K",
                   help="L1 episodes per outer step (default: 5)")
    g.add_argument("--warm-start", action="store_true",
                   help="start each inner run from the best final point so far (default: every run starts from the "
                        "same point, so runs compare)")
    g.add_argument("--explore-quota", type=float, default=0.2, metavar="Q",
                   help="share of re-runs drawn with weight 1/(runs+1) instead of the best mean (default: 0.2)")
    g.add_argument("--prompt", metavar="VERSION|FILE",
                   help="the promptgram the population starts from (default: inner_v001, the shipped default)")
    g.add_argument("--seed", type=int, default=0, help="seed of selection and the bootstrap (default: 0)")
    a = p.add_argument_group("agents")
    a.add_argument("--agent-outer", default="heuristic", metavar="NAME",
                   help=f"L2 agent: {' | '.join(AGENT_SPECS)} (default: heuristic, offline)")
    a.add_argument("--agent-inner", default="heuristic", metavar="NAME",
                   help=f"L1 agent: {' | '.join(AGENT_SPECS)} (default: heuristic, offline)")
    a.add_argument("--model-outer", metavar="M", help="model for the L2 agent")
    a.add_argument("--model-inner", metavar="M", help="model for the L1 agent")
    a.add_argument("--base-url", metavar="URL", help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL)")
    a.add_argument("--timeout", type=float, default=300.0, metavar="S", help="agent call timeout (default: 300)")
    a.add_argument("--agentic", action="store_true", help="give the L1 CLI agent read-only tools on its run folder")
    a.add_argument("--dangerously-skip-permissions", action="store_true",
                   help="let CLI agents bypass their approval/sandbox prompts (off by default)")
    a.add_argument("--min-confidence", type=float, default=0.3, metavar="X",
                   help="L1 proposals below this confidence are not applied (default: 0.3)")
    a.add_argument("--failures-shown", type=int, default=5, metavar="N", help="failures per L1 episode (default: 5)")
    _repos(p)
    _mining(p)
    _evaluation(p)
    r = p.add_argument_group("run folder and views")
    r.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"outer folder: DIR/runs/RUN and DIR/prompts/inner (default: {DEFAULT_OUT})")
    r.add_argument("--resume", action="store_true", help="continue RUN from its last finished step")
    r.add_argument("--dry", action="store_true", help="print the next step's L1 and L2 prompts; call no agent")
    r.add_argument("--list", action="store_true", help="list the outer runs")
    r.add_argument("--show", metavar="RUN", help="a run's steps, lineage, refusals, diagnostics and judgement")
    r.add_argument("--install", metavar="RUN",
                   help="install RUN's best evolved promptgram for ripmap-train --prompt NAME (only when it beat "
                        "the root on held-out repositories, unless --force)")
    r.add_argument("--as", dest="install_as", metavar="NAME", help="name for --install (default: the run name)")
    r.add_argument("--force", action="store_true", help="--install even without a held-out improvement")
    p.add_argument("-v", "--verbose", action="store_true", help="one line per inner trial; tracebacks")
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    return p


def given_options(argv: Sequence[str]) -> frozenset[str]:
    from .cli import given_options as given

    return given(build_parser(), argv)


# -- config.json: the source of truth of a run ------------------------------------------------

RECORDED: tuple[tuple[str, str, bool], ...] = (
    # (namespace name, flag, may a different value override the recorded one)
    ("steps_outer", "--steps-outer", True), ("episodes_inner", "--episodes-inner", False),
    ("warm_start", "--warm-start", False), ("explore_quota", "--explore-quota", False), ("seed", "--seed", False),
    ("agent_outer", "--agent-outer", False), ("agent_inner", "--agent-inner", False),
    ("model_outer", "--model-outer", False), ("model_inner", "--model-inner", False),
    ("base_url", "--base-url", False), ("timeout", "--timeout", True), ("agentic", "--agentic", True),
    ("min_confidence", "--min-confidence", False), ("failures_shown", "--failures-shown", False),
    ("failure_threshold", "--failure-threshold", False), ("failure_pool", "--failure-pool", False),
    ("history", "--history", False),
    ("prompt", "--prompt", False), ("preset", "--preset", False), ("params", "--params", False),
)


def reconcile(a: argparse.Namespace, cfg: dict[str, Any], session: Any) -> None:
    """Fill what the command line leaves out from the run's config.json; refuse contradictions (one line)."""
    from .resume import MINING, REPO_OPTIONS

    conflicts = []
    for dest, flag, override in RECORDED:
        if dest not in cfg:
            continue
        rec = cfg[dest]
        if dest in a.given:
            if getattr(a, dest) != rec and not override:
                conflicts.append(f"{flag} {rec}, not {getattr(a, dest)}")
        else:
            setattr(a, dest, rec)
    mining = cfg.get("mining") if isinstance(cfg.get("mining"), dict) else {}
    for k in MINING:
        if k in mining:
            if k in a.given and (list(getattr(a, k)) if k == "tasks" else getattr(a, k)) != mining[k]:
                conflicts.append(f"--{k.replace('_', '-')} {mining[k]}, not {getattr(a, k)}")
            elif k not in a.given:
                setattr(a, k, mining[k])
    recorded = sorted((str(r.get("name")), bool(r.get("held_out"))) for r in cfg.get("repos") or ()
                      if isinstance(r, dict))
    if any(o in a.given for o in REPO_OPTIONS):
        mine = sorted((str(r.get("name")), bool(r.get("held_out"))) for r in session.sources().get("repos") or ())
        if mine != recorded:
            conflicts.append("other repositories (" + ", ".join(n + (" held out" if h else "") for n, h in recorded)
                             + ")")
    else:
        for k, v in (cfg.get("repo_options") or {}).items():
            if k in REPO_OPTIONS:
                setattr(a, k, v)
    if conflicts:
        raise UsageError(f"outer run '{a.run}' was started with {'; '.join(conflicts)}: leave these options out to "
                         f"continue it as it was started, or choose another name")


def write_config(run_dir: Path, a: argparse.Namespace, sources: dict[str, Any], start: dict[str, float],
                 root: str) -> None:
    from .files import atomic_write_json, read_json
    from .numbers import utc_now

    path = run_dir / CONFIG
    old = read_json(path) if path.is_file() else {}
    old = old if isinstance(old, dict) else {}
    atomic_write_json(path, {
        "run": a.run, "kind": "outer", "created": old.get("created") or utc_now(),
        **{dest: getattr(a, dest) for dest, _f, _o in RECORDED}, "root": root, "start": start,
        **sources, "resumed": list(old.get("resumed", [])) + ([utc_now()] if old else [])})


# -- commands ---------------------------------------------------------------------------------

def _settings(a: argparse.Namespace, session: Any, sources: dict[str, Any] | None) -> Any:
    from .outer.loop import OuterSettings

    def agent(spec: str, model: str | None, agentic: bool) -> AgentSettings:
        return AgentSettings(spec=spec, model=model, base_url=a.base_url, timeout=float(a.timeout), agentic=agentic,
                             allow_dangerous=bool(a.dangerously_skip_permissions))

    return OuterSettings(run=a.run, out=Path(a.out), steps=int(a.steps_outer), episodes=int(a.episodes_inner),
                         agent_outer=agent(a.agent_outer, a.model_outer, False),
                         agent_inner=agent(a.agent_inner, a.model_inner, bool(a.agentic)),
                         warm_start=bool(a.warm_start), seed=int(a.seed), start=session.params(), prompt=a.prompt,
                         min_confidence=float(a.min_confidence), failures_shown=int(a.failures_shown),
                         explore_quota=float(a.explore_quota), verbose=bool(a.verbose), sources=sources)


def _check_agents(a: argparse.Namespace) -> None:
    """Bad agent names, missing CLIs and keys: one line before anything is mined."""
    from .agents import make_agent

    for flag, spec, model in (("--agent-outer", a.agent_outer, a.model_outer),
                              ("--agent-inner", a.agent_inner, a.model_inner)):
        try:
            make_agent(spec, model=model, base_url=a.base_url, timeout=float(a.timeout))
        except UsageError as e:
            raise UsageError(f"{flag}: {e}") from None


def cmd_run(a: argparse.Namespace) -> None:
    from .commands import Session
    from .files import read_json
    from .search.loop import check_run_name

    if not a.run:
        raise UsageError("give a RUN_NAME (or --list / --show RUN)")
    check_run_name(a.run)
    run_dir = Path(a.out) / "runs" / a.run
    session = Session(a)
    exists = (run_dir / CONFIG).is_file()
    if exists and not (a.resume or a.dry):
        raise UsageError(f"outer run '{a.run}' already exists in {run_dir.parent}; use --resume to continue it or "
                         f"choose another name")
    if a.resume and not exists:
        raise UsageError(f"--resume: no outer run '{a.run}' in {run_dir.parent} ({PROG} --list shows them)")
    if exists:
        cfg = read_json(run_dir / CONFIG)
        reconcile(a, cfg if isinstance(cfg, dict) else {}, session)
    if a.steps_outer < 1 or a.episodes_inner < 1:
        raise UsageError("--steps-outer and --episodes-inner must be at least 1")
    if a.failures_shown < 1 or a.failure_pool < 1:
        raise UsageError("--failures-shown and --failure-pool must be at least 1")
    if not 0.0 <= a.explore_quota <= 1.0:
        raise UsageError("--explore-quota must be in [0, 1]")
    session.check_mining()
    if not a.dry:
        _check_agents(a)
    if a.prompt:
        from .l1.promptgram import load_promptgram

        p = Path(a.prompt).expanduser()
        if not p.is_file():
            from .outer.versions import PromptLibrary

            PromptLibrary(Path(a.out) / "prompts" / "inner").get(a.prompt)  # a one-line error if unknown
        else:
            load_promptgram(p)
    session.params()
    sources = session.sources()
    ev = session.training_evaluator()
    settings = _settings(a, session, sources)
    if a.dry:
        from .outer.dry import dry_run

        print(dry_run(settings, ev))
        return
    from .outer.loop import root_version, run_outer

    root = root_version(settings).name if not exists else str(read_json(run_dir / CONFIG).get("root") or "")
    run_dir.mkdir(parents=True, exist_ok=True)
    write_config(run_dir, a, sources, settings.start.to_dict(), root)
    run_outer(settings, ev, resume=exists)


def cmd_install(a: argparse.Namespace) -> None:
    from .files import atomic_write_text
    from .l1.promptgram import installed_dir
    from .outer.loop import judge_line
    from .outer.scratchpad import OuterScratchpad
    from .outer.versions import PromptLibrary
    from .search.loop import check_run_name

    run_dir = Path(a.out) / "runs" / a.install
    if not (run_dir / "outer_scratchpad.json").is_file():
        raise UsageError(f"no outer run '{a.install}' in {run_dir.parent}")
    sp = OuterScratchpad.load(run_dir)
    j = sp.judge or {}
    cand = j.get("candidate")
    if not cand or "delta" not in j:
        raise UsageError(f"outer run '{a.install}' has no judgement on held-out repositories (run it with "
                         f"--holdout-repo); nothing to install")
    lo = (j.get("delta_ci95") or [0.0])[0]
    if not (isinstance(lo, (int, float)) and lo > 0) and not a.force:
        raise UsageError(f"not installed: {cand} did not beat {j.get('baseline')} on the held-out repositories with "
                         f"the 95% interval above zero ({judge_line(j)}); --force installs it anyway")
    name = check_run_name(a.install_as or a.install)
    v = PromptLibrary(Path(a.out) / "prompts" / "inner").get(cand)
    target = installed_dir() / f"{name}.md"
    atomic_write_text(target, v.promptgram().render())
    print(f"installed {cand} of outer run {a.install} as '{name}' ({target}); use: ripmap-train reason --prompt {name}")


def run(argv: Sequence[str]) -> int:
    a = build_parser().parse_args(list(argv))
    a.given = given_options(argv)
    if a.list:
        from .outer.views import list_outer_runs

        print(list_outer_runs(a.out))
    elif a.show:
        from .outer.views import show_outer_run

        print(show_outer_run(a.out, a.show))
    elif a.install:
        cmd_install(a)
    else:
        cmd_run(a)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_entry(PROG, run, list(sys.argv[1:] if argv is None else argv),
                     "finished steps are saved; continue with --resume")


__all__ = ["build_parser", "main"]


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
