"""Every console script at its edges: a reader that goes away, an internal error, bad usage.

``ripmap``, ``ripmap-train`` and ``ripmap-mcp`` run as real subprocesses (``python -m``,
which is what their console-script wrappers do) so that stdout is a real pipe and the
interpreter's own exit flush is part of what is tested.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ripmap.api
import ripmap.train.report.views
from ripmap import cli
from ripmap.train import cli as train_cli


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main", *args],
                   cwd=root, check=True, capture_output=True)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("console") / "repo"
    (root / "app").mkdir(parents=True)
    for i in range(3):
        (root / "app" / f"m{i}.py").write_text(
            f"from app.m{(i + 1) % 3} import helper_{(i + 1) % 3}\n\n\ndef helper_{i}(x: int) -> int:\n"
            f"    return helper_{(i + 1) % 3}(x) + {i}\n", encoding="utf-8")
    (root / "main.py").write_text("from app.m0 import helper_0\n\n\ndef main():\n    helper_0(1)\n", encoding="utf-8")
    (root / "NOTES.bin").write_bytes(b"\x00\x01binary")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "init")
    return root


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runs folder whose ``--list`` is bigger than a pipe's buffer (64 KiB on Linux), so
    the writer is still writing when ``head -1`` has gone."""
    out = tmp_path_factory.mktemp("runs")
    for i in range(2000):
        d = out / f"run{i:04d}"
        d.mkdir()
        (d / "scratchpad.json").write_text(json.dumps({"episodes": []}), encoding="utf-8")
    return out


def _env(tmp: Path, *, unbuffered: bool) -> dict[str, str]:
    env = {**os.environ, "RIPMAP_CACHE_DIR": str(tmp / "cache"), "RIPMAP_TOKENIZER": "estimate"}
    env.pop("PYTHONUNBUFFERED", None)
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    return env


# ------------------------------------------------------------------- a reader that goes away

CLOSED_PIPE_COMMANDS = {
    "train-list": ["ripmap.train.cli", "--list", "--out", "{runs}"],
    "train-show": ["ripmap.train.cli", "--show", "run0000", "--out", "{runs}"],
    "train-help": ["ripmap.train.cli", "--help"],
    "mcp-help": ["ripmap.mcp_server", "--help"],
    "mcp-version": ["ripmap.mcp_server", "--version"],
    "ripmap-help": ["ripmap.cli", "--help"],
    "ripmap-map": ["ripmap.cli", "{repo}", "--no-git", "-t", "500"],
    "ripmap-presets": ["ripmap.cli", "--list-presets"],
}


@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize("name", sorted(CLOSED_PIPE_COMMANDS))
def test_closed_stdout_ends_quietly(name: str, unbuffered: bool, repo: Path, runs: Path, tmp_path: Path) -> None:
    """stdout's reader is gone before anything is written (the end state of
    ``... | head -1``): exit 0 and not a word on stderr, whether Python buffers stdout
    (the error then comes at the exit flush) or not (at the first print)."""
    args = [a.format(repo=repo, runs=runs) for a in CLOSED_PIPE_COMMANDS[name]]
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        p = subprocess.run([sys.executable, "-m", *args], stdout=write_end, stderr=subprocess.PIPE, text=True,
                           env=_env(tmp_path, unbuffered=unbuffered), timeout=120)
    finally:
        os.close(write_end)
    assert (p.returncode, p.stderr) == (0, "")


def test_train_list_into_head(runs: Path, tmp_path: Path) -> None:
    """The reported case itself, through a shell pipeline."""
    cmd = f"'{sys.executable}' -m ripmap.train.cli --list --out '{runs}' | head -1"
    p = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, env=_env(tmp_path, unbuffered=True),
                       timeout=120)
    assert p.stdout.startswith("runs in ") and p.stdout.count("\n") == 1
    assert p.stderr == ""
    listing = subprocess.run([sys.executable, "-m", "ripmap.train.cli", "--list", "--out", str(runs)],
                             capture_output=True, text=True, env=_env(tmp_path, unbuffered=True), timeout=120)
    assert len(listing.stdout) > 64 * 1024  # head really left while the list was being written


# ------------------------------------------------------------------------- internal errors

def _boom(*_a: object, **_k: object) -> None:
    raise RuntimeError("boom happened\nsecond line of the message")


def test_ripmap_internal_error_traceback_only_with_verbose(repo: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The message promises more with -v: -v must print the traceback; without it, one line."""
    monkeypatch.setattr(ripmap.api.RepoMap, "rank", _boom)
    monkeypatch.delenv("RIPMAP_DEBUG", raising=False)
    base = [str(repo), "--no-cache", "--no-git", "-t", "200"]

    assert cli.main(base) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "internal error: RuntimeError: boom happened" in err[0] and "-v" in err[0], err

    assert cli.main([*base, "-v"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "_boom" in err
    assert "internal error: RuntimeError: boom happened" in err.strip().splitlines()[-1]


def test_train_storage_failure_is_named_as_the_databases_trouble(runs: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Optuna wraps a locked or full study database in StorageInternalError with a guess
    about "invalid data": the user is told the database's own error instead, that finished
    trials are kept, and how to go on; it is not reported as a bug."""
    optuna = pytest.importorskip("optuna")
    sqlite3 = pytest.importorskip("sqlite3")

    def locked(*_a: object, **_k: object) -> None:
        try:
            raise sqlite3.OperationalError("database is locked")
        except sqlite3.OperationalError as e:
            raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from e

    monkeypatch.setattr(ripmap.train.report.views, "list_runs", locked)
    monkeypatch.delenv("RIPMAP_DEBUG", raising=False)
    assert train_cli.main(["--list", "--out", str(runs)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "the study's database failed: database is locked" in err[0] and "again" in err[0], err
    assert "internal error" not in err[0] and "please report" not in err[0]


def test_train_internal_error_traceback_only_with_verbose(runs: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(ripmap.train.report.views, "list_runs", _boom)
    monkeypatch.delenv("RIPMAP_DEBUG", raising=False)
    assert train_cli.main(["--list", "--out", str(runs)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "internal error: RuntimeError: boom happened" in err[0], err
    assert train_cli.main(["--list", "--out", str(runs), "-v"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "_boom" in err


# ------------------------------------------------------------------------------- bad usage

def _one_usage_line(p: subprocess.CompletedProcess, prog: str, *needles: str) -> str:
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: error: "), lines
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def test_ripmap_bad_usage_is_one_line_exit_2(repo: Path, tmp_path: Path) -> None:
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("not json", encoding="utf-8")
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"no_such_param": 1}), encoding="utf-8")
    a_file = repo / "main.py"
    cases = [
        (["-t", "lots"], ["--tokens"]),
        (["-t", "0"], ["--tokens"]),
        (["--params", str(bad_json)], [str(bad_json)]),
        (["--params", str(unknown)], ["no_such_param"]),
        (["--params", str(tmp_path / "missing.json")], ["missing.json"]),
        (["--preset", "no-such-preset"], ["no-such-preset"]),
        (["--format", "xml"], ["--format"]),
        (["--no-such-option"], ["--no-such-option"]),
        (["--chat", "nope.py"], ["nope.py"]),
        (["--explain", "nope.py"], ["nope.py"]),
        (["--explain", "NOTES.bin"], ["NOTES.bin", "not among the mapped files"]),
        (["--root", str(a_file)], [str(a_file), "not a directory"]),
        (["--root", str(tmp_path / "nowhere")], ["nowhere", "no such directory"]),
    ]
    env = _env(tmp_path, unbuffered=True)
    for extra, needles in cases:
        p = subprocess.run([sys.executable, "-m", "ripmap.cli", str(repo), "--no-git", *extra], capture_output=True,
                           text=True, env=env, timeout=120)
        _one_usage_line(p, "ripmap", *needles)
    p = subprocess.run([sys.executable, "-m", "ripmap.cli", str(tmp_path / "no-such-path")], capture_output=True,
                       text=True, env=env, timeout=120)
    _one_usage_line(p, "ripmap", "no-such-path")


def test_ripmap_chat_directory_means_its_files(repo: Path, tmp_path: Path) -> None:
    """``--chat DIR`` counts the directory's mapped files as chat files, as ``ripmap DIR`` does,
    instead of a chat entry that names no file; and a PATH may come after options."""
    env = _env(tmp_path, unbuffered=True)

    def chat_line(*args: str) -> str:
        p = subprocess.run([sys.executable, "-m", "ripmap.cli", str(repo), "--no-git", "-t", "400", *args],
                           capture_output=True, text=True, env=env, timeout=120)
        assert p.returncode == 0, p.stderr
        return next(ln for ln in p.stdout.splitlines() if ln.startswith("# in chat"))

    line = chat_line("--chat", "app")
    assert line == "# in chat (not repeated): app/m0.py, app/m1.py, app/m2.py"
    assert chat_line(str(repo / "app")) == line


def test_train_bad_usage_is_one_line_exit_2_and_comes_first(tmp_path: Path) -> None:
    """Bad usage is reported before the slow part (mining a repository), not after it."""
    not_json = tmp_path / "cases.json"
    not_json.write_text("not json", encoding="utf-8")
    wrong_shape = tmp_path / "shape.json"
    wrong_shape.write_text(json.dumps({"repos": [{"name": "x"}], "cases": []}), encoding="utf-8")
    nowhere = str(tmp_path / "no-repo")
    cases = [
        (["--cases", str(not_json)], [str(not_json), "not a cases file"]),
        (["--cases", str(wrong_shape)], [str(wrong_shape), "not a cases file"]),
        (["--cases", str(tmp_path / "missing.json")], ["missing.json"]),
        (["--extract-only", "--repo", nowhere], ["--output"]),
        (["--preset", "no-such-preset", "--repo", nowhere], ["no-such-preset"]),
        (["--budget", "many"], ["--budget"]),
        (["--strategy", "magic"], ["--strategy"]),
        (["--show", "no-such-run", "--out", str(tmp_path)], ["no-such-run"]),
    ]
    env = _env(tmp_path, unbuffered=True)
    for args, needles in cases:
        p = subprocess.run([sys.executable, "-m", "ripmap.train.cli", *args], capture_output=True, text=True,
                           env=env, timeout=120)
        _one_usage_line(p, "ripmap-train", *needles)


@pytest.mark.parametrize("module", ["ripmap.cli", "ripmap.train.cli", "ripmap.mcp_server"])
def test_help_describes_every_option(module: str) -> None:
    """A --help that teaches: no option without a line of help, and a --version."""
    import argparse
    import importlib

    parser = importlib.import_module(module).build_parser()
    bare = [a.option_strings or [a.dest] for a in parser._actions
            if not a.help or a.help == argparse.SUPPRESS]
    assert bare == []
    assert any("--version" in a.option_strings for a in parser._actions)
