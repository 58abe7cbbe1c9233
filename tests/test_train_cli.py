"""``ripmap-train``: one subcommand per thing it does, the older flat spelling as aliases.

The subcommands (mine, eval, search, sensitivity, reason, distill, runs list|show|insights)
each teach their use in ``--help``. Every older command line (``--eval``, ``--strategy X
--budget N``, ``--list``, ``--show RUN``, ``--show-insights``, ``--distill RUN``,
``--extract-only``...) must keep meaning what it meant, and print what the subcommand
prints, byte for byte.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from planted import make_planted_repo
from ripmap.train import cli
from ripmap.train.cli import COMMANDS, main, parse

pytest.importorskip("optuna")
pytest.importorskip("matplotlib")

MINE = ["--snapshot-back", "6", "--max-commits", "30"]


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return make_planted_repo(tmp_path_factory.mktemp("cli") / "repo")


@pytest.fixture
def run(tmp_path, monkeypatch, capsys):
    """Run ripmap-train in-process; returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("RIPMAP_CACHE_DIR", str(tmp_path / "cache"))

    def go(*argv: str) -> tuple[int, str, str]:
        try:
            code = main(list(argv))
        except SystemExit as e:
            code = int(e.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return go


@pytest.mark.parametrize("argv,commands,extra", [
    (["--repo", "r"], ["eval"], {}),
    (["--repo", "r", "--eval", "--preset", "default"], ["eval"], {"preset": "default"}),
    (["--repo", "r", "--collect-failures", "f.json"], ["eval"], {"collect_failures": "f.json"}),
    (["--repo", "r", "--extract-only", "--output", "c.json"], ["mine"], {"output": "c.json"}),
    (["--repo", "r", "--cleanup-snapshots"], ["mine"], {"cleanup_snapshots": True}),
    (["--repo", "r", "--strategy", "tpe", "--budget", "7"], ["search"], {"strategy": "tpe", "budget": 7}),
    (["--repo", "r", "--strategy", "grid", "--sensitivity"], ["search", "sensitivity"], {}),
    (["--repo", "r", "--sensitivity"], ["sensitivity"], {}),
    (["--repo", "r", "--reason", "--episodes", "3"], ["reason"], {"episodes": 3}),
    (["--repo", "r", "--replay", "l1", "--run-name", "l1b"], ["reason"], {"replay": "l1"}),
    (["--distill", "l1"], ["distill"], {"run": "l1"}),
    (["--distill", "l1", "--repo", "r"], ["distill"], {"run": "l1"}),
    (["--list"], ["runs"], {"action": "list"}),
    (["--show", "eval"], ["runs"], {"action": "show", "run": "eval"}),  # a run may be named like a command
    (["--show-insights"], ["runs"], {"action": "insights", "run": None}),
    (["--show-insights", "l1"], ["runs"], {"action": "insights", "run": "l1"}),
    (["--strat", "lhs", "--repo", "r"], ["search"], {"strategy": "lhs"}),  # abbreviations, as argparse allows
    # the subcommands, with options before or after them
    (["--repo", "r", "eval"], ["eval"], {"repo": ["r"]}),
    (["search", "--repo", "r", "--budget", "3"], ["search"], {"strategy": "tpe", "budget": 3}),
    (["--out", "runs", "runs", "show", "x"], ["runs"], {"action": "show", "run": "x", "out": "runs"}),
    (["--tasks", "A", "B", "mine", "--repo", "r"], ["mine"], {"tasks": ["A", "B"]}),
])
def test_both_spellings_name_the_same_commands(argv, commands, extra):
    got, args = parse(argv)
    assert got == commands
    for k, v in extra.items():
        assert getattr(args, k) == v, k


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_teaches_its_use(run, command):
    code, out, _err = run(command, "--help")
    assert code == 0
    _short, description, examples = COMMANDS[command]
    assert " ".join(description.split()[:6]) in " ".join(out.split())
    assert "examples:" in out
    lines = [ln.strip() for ln in out.split("examples:", 1)[1].splitlines() if ln.strip()]
    assert lines and all(ln.startswith(f"ripmap-train {command}") for ln in lines)


def test_overview_lists_the_commands_and_the_old_spelling(run):
    code, out, _err = run("--help")
    assert code == 0
    for command in COMMANDS:
        assert f"    {command}" in out
    for old in ("--eval", "--strategy", "--list", "--show RUN", "--distill RUN"):
        assert old in out


def test_eval_prints_one_row_per_task_in_both_spellings(repo, run, tmp_path):
    code, old, err = run("--repo", str(repo), *MINE, "--eval")
    assert code == 0, err
    rows = [ln.split()[0] for ln in old.splitlines()[1:4]]
    assert rows == ["A", "A+msg", "B"]
    assert "overall" in old and "repo repo" in old
    code, new, _ = run("eval", "--repo", str(repo), *MINE)
    assert code == 0 and new == old
    code, bare, _ = run("--repo", str(repo), *MINE)  # no action flag: eval, as before
    assert code == 0 and bare == old
    # cases mined once, evaluated from the case file: the same table
    cases = tmp_path / "cases.json"
    code, _out, err = run("mine", "--repo", str(repo), *MINE, "--output", str(cases))
    assert code == 0 and f"cases to {cases}" in err
    code, from_file, _ = run("eval", "--cases", str(cases))
    assert code == 0 and from_file == old
    legacy = tmp_path / "legacy.json"
    code, _out, _err = run("--repo", str(repo), *MINE, "--extract-only", "--output", str(legacy))
    assert code == 0 and json.loads(legacy.read_text()) == json.loads(cases.read_text())


def test_search_and_the_run_views_in_both_spellings(repo, run, tmp_path):
    out = str(tmp_path / "runs")
    code, _o, err = run("--repo", str(repo), *MINE, "--strategy", "random", "--budget", "3", "--seed", "5",
                        "--out", out, "--run-name", "old")
    assert code == 0, err
    code, _o, err = run("search", "--strategy", "random", "--repo", str(repo), *MINE, "--budget", "3", "--seed", "5",
                        "--out", out, "--run-name", "new")
    assert code == 0, err
    trials = {n: [(t["params"], t["train_ndcg"]) for t in json.loads((Path(out) / n / "results.json").read_text())
                  ["trials"]] for n in ("old", "new")}
    assert len(trials["old"]) == 3 and trials["old"] == trials["new"]
    pairs = [(["--list"], ["runs", "list"]), (["--show", "old"], ["runs", "show", "old"]),
             (["--show-insights"], ["runs", "insights"])]
    for old, new in pairs:
        a, b = run(*old, "--out", out), run(*new, "--out", out)
        assert a[0] == b[0] == 0 and a[1] == b[1] and a[1]
    assert "old" in run("runs", "list", "--out", out)[1]


@pytest.mark.parametrize("argv,message", [
    (["runs", "show"], "runs show needs a RUN"),
    (["mine", "--repo", "."], "needs --output FILE"),
    (["--extract-only", "--repo", "."], "needs --output FILE"),
    (["search", "--strategy", "annealing"], "invalid choice"),
    (["eval"], "no repositories"),
    (["runs", "show", "nope", "--out", "."], "no run 'nope'"),
])
def test_bad_usage_is_one_line(run, argv, message):
    code, out, err = run(*argv)
    assert code == 2 and not out
    lines = err.strip().splitlines()
    assert message in lines[-1] and lines[-1].startswith("ripmap-train")
    assert "Traceback" not in err


def test_split_command_skips_option_values():
    arity = cli._arity([cli.legacy_parser()])
    assert cli.split_command(["--run-name", "eval", "--repo", "r"], arity) == (None, ["--run-name", "eval",
                                                                                      "--repo", "r"])
    assert cli.split_command(["--verbose", "reason", "--repo", "r"], arity) == ("reason", ["--verbose", "--repo",
                                                                                         "r"])
