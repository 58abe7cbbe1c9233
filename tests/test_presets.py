"""``presets.resolve_params``: the one --preset / --params rule of the CLI, MCP and trainer."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ripmap.errors import UsageError
from ripmap.presets import list_presets, load_preset, resolve_params
from ripmap.rank.params import DEFAULT, Params

from fixtures_rank import init_repo


@pytest.fixture(autouse=True)
def _no_user_presets(monkeypatch, tmp_path):
    monkeypatch.setenv("RIPMAP_PRESET_DIR", str(tmp_path / "user-presets"))


def test_no_preset_and_no_file_is_the_defaults() -> None:
    assert resolve_params() == DEFAULT and resolve_params(None, None) == Params()


def test_the_file_overrides_only_the_values_it_names(tmp_path: Path) -> None:
    debug = load_preset("debug").params
    assert all(debug[k] != DEFAULT[k] for k in ("pagerank_alpha", "focus_max_hops", "git_recency_decay_days"))
    f = tmp_path / "p.json"
    f.write_text(json.dumps({"pagerank_alpha": 0.6, "boost_lexical": 2.0}))
    got = resolve_params("debug", f)
    assert got["pagerank_alpha"] == 0.6 and got["boost_lexical"] == 2.0  # the file wins
    assert got["focus_max_hops"] == debug["focus_max_hops"]  # the preset's other values stay
    assert got["git_recency_decay_days"] == debug["git_recency_decay_days"]
    # the trainer's wrapper {"params": {...}} reads the same; without a preset the base is the defaults
    f.write_text(json.dumps({"params": {"pagerank_alpha": 0.6}, "ndcg": 0.5}))
    assert resolve_params("debug", f) == debug.replace(pagerank_alpha=0.6)
    assert resolve_params(None, f) == DEFAULT.replace(pagerank_alpha=0.6)
    # a value equal to the default still overrides the preset's
    f.write_text(json.dumps({"pagerank_alpha": DEFAULT["pagerank_alpha"]}))
    assert resolve_params("debug", f)["pagerank_alpha"] == DEFAULT["pagerank_alpha"]


def test_names_are_exact_and_an_unknown_one_lists_the_presets() -> None:
    known = sorted(list_presets())
    for bad in ("Debug", "DEBUG", "debug ", "nope"):
        with pytest.raises(UsageError) as e:
            resolve_params(bad)
        msg = str(e.value)
        assert f"unknown preset '{bad}'" in msg and "\n" not in msg
        assert msg.endswith(f"(available: {', '.join(known)})")


def test_bad_files_are_one_line_usage_errors_naming_the_file(tmp_path: Path) -> None:
    f = tmp_path / "p.json"
    for text, needle in [('{"no_such_param": 1}', "unknown parameter 'no_such_param'"),
                         ('{"pagerank_alpha": 7}', "outside its bounds"),
                         ("{not json", "not valid JSON"), ("[1, 2]", "JSON object")]:
        f.write_text(text)
        with pytest.raises(UsageError) as e:
            resolve_params("debug", f)
        assert str(f) in str(e.value) and needle in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(UsageError, match="cannot read"):
        resolve_params(None, tmp_path / "missing.json")


def test_cli_and_trainer_apply_the_same_rule(tmp_path: Path, monkeypatch) -> None:
    from ripmap.train.commands import Session

    def start_params(ns: argparse.Namespace) -> Params:
        return Session(ns).params()

    f = tmp_path / "p.json"
    f.write_text(json.dumps({"pagerank_alpha": 0.6}))
    expected = resolve_params("debug", f)
    assert expected != Params.load(f)  # the trainer used to take the file alone
    assert start_params(argparse.Namespace(preset="debug", params=str(f))) == expected
    assert start_params(argparse.Namespace(preset=None, params=None)) == DEFAULT

    repo = init_repo(tmp_path / "repo", {"a.py": "def a():\n    return 1\n"})
    env = {**os.environ, "RIPMAP_CACHE_DIR": str(tmp_path / "cache"), "RIPMAP_TOKENIZER": "estimate",
           "RIPMAP_PRESET_DIR": str(tmp_path / "user-presets")}
    out = subprocess.run([sys.executable, "-m", "ripmap.cli", str(repo), "--format", "json", "--preset", "debug",
                          "--params", str(f)], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["params"] == expected.to_dict()
    bad = subprocess.run([sys.executable, "-m", "ripmap.cli", str(repo), "--preset", "Debug"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "available: " in bad.stderr


def test_mcp_preset_names_are_exact(tmp_path: Path) -> None:
    pytest.importorskip("mcp")
    from ripmap.api import RepoMapPool
    from ripmap.mcp_server import ToolError, Tools

    repo = init_repo(tmp_path / "repo", {"a.py": "def a():\n    return 1\n"})
    pool = RepoMapPool(cache_dir=tmp_path / "cache")
    tools = Tools(pool)
    try:
        with pytest.raises(ToolError, match=r"unknown preset 'Debug' \(available: .*debug"):
            tools.repo_map(project_root=str(repo), preset="Debug")
        answer = tools.repo_map(project_root=str(repo), preset="debug", tokens=500)
        assert answer.rstrip("\n").splitlines()[-1].split("; ")[-2] == "preset debug"
    finally:
        pool.close()
