"""``ripmap-train``: the command line of the trainer, one subcommand per thing it does.

``mine`` cases from git history → ``eval`` a parameter point on them → ``search`` with a
classical strategy, ``reason`` with the L1 agent, or study ``sensitivity`` → ``distill``
a run into presets → look at ``runs``. Every command runs offline with the default
``heuristic`` agent; real LLM agents are opt-in with ``--agent``.

The older flat spelling (``--extract-only``, ``--eval``, ``--strategy X``, ``--sensitivity``,
``--reason``, ``--replay RUN``, ``--distill RUN``, ``--list``, ``--show RUN``,
``--show-insights [RUN]``, ``--cleanup-snapshots``; no action flag means ``eval``) keeps
working: a command line without a subcommand is read with the old parser and mapped onto
the subcommands (:func:`legacy_commands`).
"""
from __future__ import annotations

import argparse
import sys
from functools import partial
from typing import Callable, Sequence

from .console import PROG, run_entry
from .search.strategies import STRATEGIES

OVERVIEW = """\
Each command has its own --help with examples.

examples:
  ripmap-train mine --repo ~/src/httpx --output cases.json
  ripmap-train eval --repo ~/src/httpx --repo ~/src/fzf --preset default
  ripmap-train search --repo ~/src/httpx --strategy tpe --budget 50 --run-name tpe1
  ripmap-train reason --repo ~/src/flask --holdout-repo ~/src/httpx --episodes 20 --run-name l1
  ripmap-train runs show l1
  ripmap-train distill l1          # judged on l1's held-out repositories (httpx)

Options may come before or after the command (ripmap-train --repo R eval). The older flat
spelling still works: --extract-only, --eval, --strategy X, --sensitivity, --reason,
--replay RUN, --distill RUN, --list, --show RUN, --show-insights [RUN], --cleanup-snapshots
(no action flag: eval). Runs are written to training/runs/<run>/ (--out to change).
"""

COMMANDS: dict[str, tuple[str, str, str]] = {
    # name: (one-line help, description, examples)
    "mine": ("mine cases from git history into a case file",
             "Mine training cases from the commits after a snapshot of each repository and write them to a case "
             "file, so later commands can use --cases FILE instead of mining again.",
             "  ripmap-train mine --repo ~/src/httpx --output cases.json\n"
             "  ripmap-train mine --corpus bench/corpus/fit.toml --tasks B --output debug-cases.json\n"
             "  ripmap-train mine --repo ~/src/httpx --cleanup-snapshots     # remove its snapshot worktrees\n"),
    "eval": ("metrics of a parameter point (one row per task)",
             "Rank every case with a parameter point and print NDCG@10/@5, MRR, MAP, recall and hit rate: one row "
             "per task (A: a file in the chat; A+msg: that file plus the commit message; B: the message alone), "
             "then overall, per split and per repository.",
             "  ripmap-train eval --repo ~/src/httpx --preset default\n"
             "  ripmap-train eval --cases cases.json --params training/runs/tpe1/results.trained.json\n"
             "  ripmap-train eval --repo ~/src/httpx --collect-failures failures.json\n"),
    "search": ("search on Optuna (random, tpe, cmaes, grid, lhs; hybrid: TPE + the L1 agent)",
               "Spend a budget of evaluations with a classical strategy, starting from the start point (one trial "
               "at --params/--preset, or the defaults). The final point is the best on the validation split "
               "(--holdout); repositories given with --holdout-repo are evaluated once at the end, on the start and "
               "the final point (the test block of results.json). The study is resumable (run the same command "
               "again: the run's config.json supplies every option left out) and can be shared by several workers "
               "(same --storage and --run-name).",
               "  ripmap-train search --repo ~/src/httpx --strategy tpe --budget 50 --run-name tpe1\n"
               "  ripmap-train search --repo ~/src/flask --repo ~/src/click --holdout-repo ~/src/httpx --budget 50 "
               "--run-name h1\n"
               "  ripmap-train search --repo ~/src/httpx --strategy grid --budget 28 --search-params "
               "boost_lexical,weight_structure\n"
               "  ripmap-train search --repo R --strategy tpe --budget 200 --storage sqlite:///shared.db "
               "--run-name s1   # run on several machines\n"),
    "sensitivity": ("ablation, sweeps and interactions around a point",
                    "Which knobs matter on these cases: each parameter set to a neutral value (ablation), swept "
                    "over its range, and the pairwise interactions of the most important ones. Writes "
                    "sensitivity.json and sensitivity.png.",
                    "  ripmap-train sensitivity --repo ~/src/httpx --preset default --run-name sens1\n"),
    "reason": ("L1: an agent proposes parameter changes from ranking failures",
               "Run L1 episodes: the agent reads the worst failures with per-signal attributions and the "
               "trajectory (train figures only), replies {param: [direction, magnitude, rationale]}, the step rule "
               "moves the parameters and the new point is measured. The final point is the best on the validation "
               "split; --holdout-repo repositories are evaluated once at the end. Every prompt and reply is kept in "
               "the run folder. --resume continues a run with the settings of its config.json.",
               "  ripmap-train reason --repo ~/src/httpx --episodes 20 --run-name l1\n"
               "  ripmap-train reason --run-name l1 --resume --episodes 40   # repositories, agent: from config.json\n"
               "  ripmap-train reason --repo ~/src/httpx --agent openai:qwen2.5 --base-url http://localhost:8000/v1\n"
               "  ripmap-train reason --repo ~/src/httpx --replay l1 --run-name l1-again   # no agent call\n"),
    "distill": ("turn an L1 run into presets, heuristics and warnings",
                "Ask the agent to distill a run (L1 or a classical search) into presets, heuristics, warnings and "
                "intuitions (wisdom.json, wisdom.md). A preset is installed (ripmap --preset RUN-NAME) only if it "
                "beats the defaults on repositories the run never trained on, with the 95% interval of the "
                "improvement above zero; otherwise it is recorded as rejected with its figures. The repositories "
                "judged on: --holdout-repo / --repo PATH, else the run's own held-out repositories.",
                "  ripmap-train distill l1                             # on l1's held-out repositories\n"
                "  ripmap-train distill tpe1 --holdout-repo ~/src/httpx\n"
                "  ripmap-train distill l1 --output wisdom/      # write only, install nothing\n"),
    "runs": ("list | show RUN | insights [RUN]",
             "Read-only views of the runs folder: one line per run, a run's episode or trial table, or the "
             "insights agents stated across runs.",
             "  ripmap-train runs list\n  ripmap-train runs show l1\n  ripmap-train runs insights\n"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        print(f"{PROG}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


# -- option groups, each defined once ---------------------------------------------------------

def _repos(p: argparse.ArgumentParser, *, cases: bool = True) -> None:
    g = p.add_argument_group("repositories")
    g.add_argument("--repo", action="append", default=[], metavar="PATH", help="a local git repository (repeatable)")
    g.add_argument("--corpus", metavar="FILE", help="TOML list of repositories ([[repo]] path/url, language, notes)")
    g.add_argument("--curated", action="store_true",
                   help="the built-in list of public repositories (needs network to clone)")
    g.add_argument("--holdout-repo", action="append", default=[], metavar="PATH|NAME",
                   help="keep a whole repository out of training and validation (repeatable): a path, or the name "
                        "of a --repo/--corpus/--cases entry; evaluated once at the end of a run (the test block)")
    g.add_argument("--clone-dir", default="training/corpus", metavar="DIR",
                   help="where --curated/--corpus URLs are cloned (default: training/corpus)")
    if cases:
        g.add_argument("--cases", metavar="FILE", help="use cases from a file written by mine instead of mining")


def _mining(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("cases")
    g.add_argument("--snapshot-back", type=int, default=300, metavar="N",
                   help="snapshot N non-merge commits before HEAD (default: 300)")
    g.add_argument("--max-commits", type=int, default=300, metavar="N",
                   help="commits after the snapshot to mine (default: 300)")
    g.add_argument("--min-files", type=int, default=2, metavar="N",
                   help="fewest changed source files in a case commit (default: 2)")
    g.add_argument("--max-files", type=int, default=12, metavar="N",
                   help="most changed source files in a case commit (default: 12)")
    g.add_argument("--tasks", nargs="+", default=None, metavar="TASK",
                   help="which tasks to mine: A (a changed file in the chat), A+msg (that file plus the commit "
                        "message as focus), B (the message alone) (default: all three)")
    g.add_argument("--holdout", type=float, default=0.3, metavar="F",
                   help="newest fraction of each training repository's cases kept for validation: never optimized, "
                        "it selects the final point (default: 0.3; 0: the final point is the best on train)")
    g.add_argument("--cache-dir", metavar="DIR", help="snapshot worktrees and tag caches (default: user cache dir)")


def _evaluation(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("evaluation")
    g.add_argument("--params", metavar="FILE", help="parameters to evaluate / start from (JSON; its values override --preset's)")
    g.add_argument("--preset", metavar="NAME", help="named preset to evaluate / start from")
    g.add_argument("--history", choices=("case", "snapshot"), default="case",
                   help="git history each case is ranked with: its own, every commit before the case's (default; "
                        "what a user working on it has), or the snapshot's, cut where the code was indexed")
    g.add_argument("--failure-threshold", type=float, default=0.5, metavar="X",
                   help="per-case NDCG@10 below which a case fails (default: 0.5)")
    g.add_argument("--failure-pool", type=int, default=50, metavar="N",
                   help="failing cases explained per evaluation, spread over repositories and tasks; what "
                        "--collect-failures writes and L1 draws its shown failures from (default: 50)")


def _run_folder(p: argparse.ArgumentParser, *, storage: bool = True, resume: bool = False) -> None:
    g = p.add_argument_group("run folder")
    g.add_argument("--out", default="training/runs", metavar="DIR", help="runs folder (default: training/runs)")
    g.add_argument("--run-name", metavar="NAME", help="run folder name (default: the strategy and a timestamp)")
    if storage:
        g.add_argument("--seed", type=int, default=0, help="random seed for samplers and bootstrap (default: 0)")
        g.add_argument("--storage", metavar="URL",
                       help="Optuna storage URL shared by workers (default: SQLite in the run folder)")
    if resume:
        g.add_argument("--resume", action="store_true", help="continue the named run from its last finished episode")


def _search(p: argparse.ArgumentParser, *, default: str | None) -> None:
    g = p.add_argument_group("search")
    g.add_argument("--strategy", choices=STRATEGIES, default=default,
                   help="strategy on Optuna; hybrid: the heuristic L1 agent steps from the best point so far every "
                        "other trial, TPE proposes the others" + (f" (default: {default})" if default else ""))
    g.add_argument("--budget", type=int, default=50, metavar="N",
                   help="evaluations, the start point included (default: 50)")
    g.add_argument("--search-params", metavar="A,B,...",
                   help="search only these parameters (comma-separated); the rest stay at the start point "
                        "(default: all)")


def _agent(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("agent")
    g.add_argument("--agent", default="heuristic", metavar="NAME",
                   help="heuristic (default, offline) | claude | gemini | codex | openai:MODEL | anthropic:MODEL")
    g.add_argument("--model", metavar="M", help="model passed to the agent CLI")
    g.add_argument("--agentic", action="store_true", help="give CLI agents read-only tools on the run folder")
    g.add_argument("--base-url", metavar="URL", help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL)")
    g.add_argument("--timeout", type=float, default=300.0, metavar="S",
                   help="agent call timeout in seconds (default: 300)")
    g.add_argument("--dangerously-skip-permissions", action="store_true",
                   help="let CLI agents bypass their approval/sandbox prompts (off by default)")


def _l1(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("L1")
    g.add_argument("--episodes", type=int, default=10, metavar="N", help="L1 episodes (default: 10)")
    g.add_argument("--prompt", metavar="FILE|NAME",
                   help="promptgram (Markdown: Role, Policy, Heuristics, Style) for L1: a file, a version the outer "
                        "loop wrote (inner_v003, in training-outer/prompts/inner/) or a name installed by "
                        "ripmap-train-outer --install")
    g.add_argument("--min-confidence", type=float, default=0.3, metavar="X",
                   help="proposals below this confidence are not applied (default: 0.3)")
    g.add_argument("--replay", metavar="RUN", help="re-run a loop from RUN's stored agent replies")
    g.add_argument("--failures-shown", type=int, default=5, metavar="N",
                   help="failures shown per episode, sampled across repositories, tasks and failure kinds; "
                        "failures not shown yet come first (default: 5)")


def _verbose(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--verbose", action="store_true",
                   help="one progress line per trial; the traceback of an internal error")


def _mine_only(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", metavar="FILE", help="the case file to write")
    p.add_argument("--cleanup-snapshots", action="store_true",
                   help="remove the snapshot worktrees of the given repositories and exit")


def _eval_only(p: argparse.ArgumentParser) -> None:
    p.add_argument("--collect-failures", metavar="FILE", help="write the failing cases (--failure-pool of them, spread over repositories and tasks) "
                        "with explanations and kinds to FILE")


def _distill_only(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="the L1 run to distill")
    p.add_argument("--output", metavar="FILE", help="wisdom.json path, or a folder (default: the run folder)")
    p.add_argument("--out", default="training/runs", metavar="DIR", help="runs folder (default: training/runs)")


def _runs_only(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("list", "show", "insights"), help="what to show")
    p.add_argument("run", nargs="?", metavar="RUN", help="the run (show: required; insights: all runs if left out)")
    p.add_argument("--out", default="training/runs", metavar="DIR", help="runs folder (default: training/runs)")


Group = Callable[[argparse.ArgumentParser], None]
CASES: tuple[Group, ...] = (_repos, _mining, _evaluation)
"""What every command that evaluates needs: repositories (or a case file), mining, the point."""
GROUPS: dict[str, tuple[Group, ...]] = {
    "mine": (partial(_repos, cases=False), _mining, _mine_only),
    "eval": (*CASES, _eval_only),
    "search": (*CASES, partial(_search, default="tpe"), _run_folder),
    "sensitivity": (*CASES, partial(_run_folder, storage=False)),
    "reason": (*CASES, _l1, _agent, partial(_run_folder, resume=True)),
    "distill": (_distill_only, *CASES, _agent),
    "runs": (_runs_only,),
}
"""Each command's option groups, each group defined once above."""


def _parsers() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    from .. import __version__

    top = _Parser(prog=PROG, description="Tune ripmap's ranking parameters on cases mined from git history.",
                  epilog=OVERVIEW, formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", help="what to do (see the list below)")
    cmds: dict[str, argparse.ArgumentParser] = {}
    for name, (short, desc, examples) in COMMANDS.items():
        p = sub.add_parser(name, help=short, description=desc, epilog="examples:\n" + examples,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        for group in (*GROUPS[name], _verbose):
            group(p)
        cmds[name] = p
    return top, cmds


def build_parser() -> argparse.ArgumentParser:
    """The ``ripmap-train`` parser: the commands, each with its own options and examples."""
    return _parsers()[0]


def legacy_parser() -> argparse.ArgumentParser:
    """The flat parser of the older spelling: every option, and actions as flags."""
    from .. import __version__

    p = _Parser(prog=PROG, add_help=False)
    _repos(p)
    _mining(p)
    _evaluation(p)
    _search(p, default=None)
    _l1(p)
    _agent(p)
    _run_folder(p, resume=True)
    _verbose(p)
    g = p.add_argument_group("actions (older spelling)")
    g.add_argument("--extract-only", action="store_true", help="= mine")
    g.add_argument("--output", metavar="FILE", help="output file for --extract-only / --distill")
    g.add_argument("--eval", action="store_true", help="= eval")
    g.add_argument("--collect-failures", metavar="FILE", help="= eval --collect-failures FILE")
    g.add_argument("--sensitivity", action="store_true", help="= sensitivity")
    g.add_argument("--reason", action="store_true", help="= reason")
    g.add_argument("--list", action="store_true", help="= runs list")
    g.add_argument("--show", metavar="RUN", help="= runs show RUN")
    g.add_argument("--show-insights", metavar="RUN", nargs="?", const="", help="= runs insights [RUN]")
    g.add_argument("--distill", metavar="RUN", help="= distill RUN")
    g.add_argument("--cleanup-snapshots", action="store_true", help="= mine --cleanup-snapshots")
    g.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    return p


def legacy_commands(a: argparse.Namespace) -> list[str]:
    """The subcommand(s) an old-style command line means, in the old order of precedence;
    sets the positional values the subcommands expect (``run``, ``action``)."""
    has_repos = bool(a.repo or a.corpus or a.curated or a.cases or a.holdout_repo)
    if a.list or a.show or a.show_insights is not None:
        a.action = "list" if a.list else "show" if a.show else "insights"
        a.run = a.show if a.show else (a.show_insights or None)
        return ["runs"]
    if a.distill and not has_repos:
        a.run = a.distill
        return ["distill"]
    if a.cleanup_snapshots or a.extract_only:
        return ["mine"]
    if a.distill:
        a.run = a.distill
        return ["distill"]
    if a.strategy or a.sensitivity:
        return (["search"] if a.strategy else []) + (["sensitivity"] if a.sensitivity else [])
    if a.reason or a.replay:
        return ["reason"]
    return ["eval"]


def _arity(parsers: Sequence[argparse.ArgumentParser]) -> dict[str, object]:
    out: dict[str, object] = {}
    for p in parsers:
        for opt, action in p._option_string_actions.items():
            out.setdefault(opt, 1 if action.nargs is None else action.nargs)
    return out


def split_command(argv: Sequence[str], arity: dict[str, object]) -> tuple[str | None, list[str]]:
    """(the subcommand, the other arguments) when argv names one, else (None, argv).

    The subcommand is the first argument that is no option and no option's value, so
    options may come before it (``ripmap-train --repo R eval``).
    """
    args = list(argv)
    i = 0
    while i < len(args):
        tok = args[i]
        if tok == "--":
            break
        if tok.startswith("-") and tok != "-":
            name, eq, _ = tok.partition("=")
            hits = [o for o in arity if o == name] or [o for o in arity if o.startswith(name) and o.startswith("--")]
            n = arity[hits[0]] if len(hits) == 1 else 0
            i += 1
            if eq or n == 0:
                continue
            if n == "?":
                if i < len(args) and not args[i].startswith("-") and args[i] not in COMMANDS:
                    i += 1
            elif n in ("+", "*"):
                while i < len(args) and not args[i].startswith("-") and args[i] not in COMMANDS:
                    i += 1
            else:
                i += int(n) if isinstance(n, int) else 1
            continue
        if tok in COMMANDS:
            return tok, args[:i] + args[i + 1:]
        break
    return None, args


def parse(argv: Sequence[str]) -> tuple[list[str], argparse.Namespace]:
    """The command(s) to run and their options, from either spelling."""
    top, cmds = _parsers()
    legacy = legacy_parser()
    command, rest = split_command(argv, _arity([legacy, *cmds.values()]))
    if command is not None:
        a = cmds[command].parse_args(rest)
        a.given = given_options(cmds[command], rest)
        return [command], a
    if any(a in ("-h", "--help") for a in argv):
        top.parse_args(["--help"])  # the overview, not the flat parser's option list
    a = legacy.parse_args(list(argv))
    a.given = given_options(legacy, list(argv))
    return legacy_commands(a), a


def given_options(parser: argparse.ArgumentParser, argv: Sequence[str]) -> frozenset[str]:
    """The options the command line itself set (not their defaults): parsed again with every
    default suppressed. A resumed run takes the others from its config.json; ``parser`` is
    used up by this (its defaults are gone)."""
    for action in parser._actions:
        action.default = argparse.SUPPRESS
    return frozenset(vars(parser.parse_args(list(argv))))


def run(argv: Sequence[str] | None = None) -> int:
    from .commands import Session

    commands, args = parse(list(sys.argv[1:] if argv is None else argv))
    session = Session(args)
    for c in commands:
        session.run(c)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_entry(PROG, run, list(sys.argv[1:] if argv is None else argv),
                     "finished episodes and trials are saved; run the same command again, with --resume for reason")


__all__ = ["COMMANDS", "build_parser", "given_options", "legacy_commands", "legacy_parser", "main", "parse",
           "split_command"]


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
