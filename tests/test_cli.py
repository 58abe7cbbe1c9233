"""The `ripmap` command: output contracts, budget, colors, errors and exit codes."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ripmap import RepoMap
from ripmap.render import map_json, render_map
from ripmap.render.tokens import EstimateCounter

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main", *args],
                   cwd=root, check=True, capture_output=True)


def make_repo(root: Path, modules: int = 12) -> Path:
    """A small repository with enough content to fill a few thousand tokens."""
    (root / "app").mkdir(parents=True)
    for i in range(modules):
        lines = [f"from app.m{(i + 1) % modules} import Service{(i + 1) % modules}", "",
                 f"class Service{i}:", f"    '''Service number {i}.'''"]
        for j in range(6):
            lines += [f"    def handle_{j}_request_{i}(self, payload: dict, *, retries: int = {j}) -> dict:",
                      f"        return Service{(i + 1) % modules}().handle_{j}_request_{(i + 1) % modules}(payload)", ""]
        lines += [f"def make_service_{i}(config: dict | None = None) -> 'Service{i}':", f"    return Service{i}()", "",
                  f"TIMEOUT_{i} = {i * 10}", ""]
        (root / "app" / f"m{i}.py").write_text("\n".join(lines))
    (root / "main.py").write_text("from app.m0 import make_service_0\n\n\ndef main():\n    make_service_0().handle_0_request_0({})\n")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "init")
    return root


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return make_repo(tmp_path_factory.mktemp("cli") / "repo")


def ripmap(*args: str, cwd: Path | None = None, cache: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "RIPMAP_TOKENIZER": "estimate"}
    if cache is not None:
        env["RIPMAP_CACHE_DIR"] = str(cache)
    return subprocess.run([sys.executable, "-m", "ripmap.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120)


def test_default_map_of_current_directory(repo: Path, tmp_path: Path) -> None:
    r = ripmap(cwd=repo, cache=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("# ripmap")
    assert "app/m0.py:" in r.stdout and "class Service0" in r.stdout


def test_piped_output_has_no_ansi_and_always_does(repo: Path, tmp_path: Path) -> None:
    piped = ripmap(str(repo), "-t", "1500", cache=tmp_path)
    assert not ANSI.search(piped.stdout)
    colored = ripmap(str(repo), "-t", "1500", "--color", "always", cache=tmp_path)
    assert ANSI.search(colored.stdout)
    # colors never cost tokens: stripping them gives the plain map exactly
    assert ANSI.sub("", colored.stdout) == piped.stdout
    js = ripmap(str(repo), "--format", "json", "--color", "always", cache=tmp_path)
    assert not ANSI.search(js.stdout)


def test_json_contract(repo: Path, tmp_path: Path) -> None:
    r = ripmap(str(repo), "--format", "json", "-t", "120", cache=tmp_path)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert list(data) == ["root", "params", "files", "stats"]
    assert data["root"] == str(repo.resolve())
    assert set(data["params"]) >= {"pagerank_alpha", "boost_chat_file", "focus_max_hops"}
    assert list(data["stats"]) == ["files", "symbols", "tokens", "elapsed_s", "cache_hits"]
    files = data["files"]
    assert len(files) == data["stats"]["files"] == 13  # every mapped file, not just those that fit
    assert [f["rank"] for f in files] == list(range(1, 14))
    assert all(list(f) == ["path", "rank", "score", "symbols"] for f in files)
    scores = [f["score"] for f in files]
    assert scores == sorted(scores, reverse=True)
    assert any(f["symbols"] for f in files) and not all(f["symbols"] for f in files)
    sym = next(s for f in files for s in f["symbols"])
    assert list(sym) == ["name", "kind", "line", "signature", "score"]
    assert data["stats"]["tokens"] <= 120


def test_json_is_valid_for_an_empty_map(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    r = ripmap(str(empty), "--format", "json", cache=tmp_path / "c")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["files"] == [] and data["stats"]["files"] == 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(budget=st.integers(min_value=1, max_value=6000), modules=st.sampled_from([3, 12]),
       chat=st.booleans())
def test_budget_never_exceeded(budget: int, modules: int, chat: bool, tmp_path_factory) -> None:
    root = _cached_repo(tmp_path_factory, modules)
    counter = EstimateCounter()
    with RepoMap(root, cache_dir=root.parent / "cache") as rm:
        chat_files = ["app/m1.py"] if chat else []
        ranking = rm.rank(chat_files=chat_files)
        rendered, _ = render_map(ranking, rm.index.tags, tokens=budget, counter=counter, chat_files=chat_files)
    assert counter.count(rendered.text) <= budget
    assert rendered.tokens == counter.count(rendered.text)


_REPOS: dict[int, Path] = {}


def _cached_repo(factory, modules: int) -> Path:
    if modules not in _REPOS:
        _REPOS[modules] = make_repo(factory.mktemp(f"budget{modules}") / "repo", modules)
    return _REPOS[modules]


@pytest.mark.parametrize("budget", [300, 800, 2000, 4000])
def test_fills_at_least_90_percent_when_there_is_enough(budget: int, tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r", modules=40)
    counter = EstimateCounter()
    with RepoMap(root, cache_dir=tmp_path / "c") as rm:
        ranking = rm.rank()
        rendered, _ = render_map(ranking, rm.index.tags, tokens=budget, counter=counter)
        full, _ = render_map(ranking, rm.index.tags, tokens=10**6, counter=counter)
    assert full.tokens > budget  # the repository has more than the budget
    assert 0.9 * budget <= rendered.tokens <= budget


def test_top_files_get_signatures_and_order_is_by_rank(repo: Path, tmp_path: Path) -> None:
    with RepoMap(repo, cache_dir=tmp_path) as rm:
        ranking = rm.rank(chat_files=["main.py"])
        rendered, _ = render_map(ranking, rm.index.tags, tokens=3000, counter=EstimateCounter(),
                                 chat_files=["main.py"])
    shown = [b.path for b in rendered.blocks]
    assert shown == [f for f in ranking.files if f in shown]  # rank order, not alphabetical
    assert rendered.blocks[0].detail == "sig"
    assert "def handle_" in rendered.text and "-> dict" in rendered.text
    assert "main.py:" not in rendered.text.split("\n", 2)[2]  # the chat file is not repeated


def test_header_reports_counts_and_tokens(repo: Path, tmp_path: Path) -> None:
    r = ripmap(str(repo), "-t", "900", cache=tmp_path)
    head = r.stdout.splitlines()[0]
    m = re.search(r"(\d+) of (\d+) files, (\d+) of (\d+) symbols, (\d+) of 900 tokens", head)
    assert m, head
    assert int(m.group(2)) == 13 and int(m.group(5)) <= 900
    assert EstimateCounter().count(r.stdout) == int(m.group(5))


def test_explain_table(repo: Path, tmp_path: Path) -> None:
    r = ripmap(str(repo), "--chat", "main.py", "--explain", "app/m0.py", cache=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("app/m0.py: rank ")
    for signal in ("structure", "cochange", "lexical", "focus", "depth", "chat", "recency", "churn"):
        assert signal in r.stdout
    js = ripmap(str(repo), "--chat", "main.py", "--explain", "app/m0.py", "--format", "json", cache=tmp_path)
    e = json.loads(js.stdout)
    additive = sum(s["contribution"] for s in e["signals"] if s["kind"] == "additive")
    assert additive == pytest.approx(e["score"], rel=1e-9)


def test_paths_inside_root_become_chat_files(repo: Path, tmp_path: Path) -> None:
    r = ripmap(str(repo / "app" / "m5.py"), "--format", "json", cache=tmp_path)
    data = json.loads(r.stdout)
    assert data["files"][0]["path"] == "app/m5.py"
    assert data["root"] == str(repo.resolve())


def test_calls_lines(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / "a.py").write_text("def top():\n    return mid()\n\n\ndef mid():\n    return leaf()\n")
    (root / "b.py").write_text("def leaf():\n    return 1\n")
    (root / "c.py").write_text("def dup():\n    pass\n")
    (root / "d.py").write_text("def dup():\n    pass\n\n\ndef caller():\n    return dup()\n\n\ndef other():\n    return dup()\n")
    (root / "e.py").write_text("def dup():\n    pass\n\n\ndef amb():\n    return dup()\n")
    (root / "f.py").write_text("def amb_user():\n    return dup()\n")
    r = ripmap(str(root), "--calls", "-t", "4000", "--no-git", cache=tmp_path / "c")
    out = r.stdout
    assert r.returncode == 0, r.stderr
    # same-file call: full confidence, no percentage
    assert re.search(r"def top\(\)\n\s+→ calls: mid\n", out)
    # unique name in another file: 70%
    assert re.search(r"def mid\(\)\n\s+→ calls: leaf \(b\.py\) 70%", out)
    assert re.search(r"def leaf\(\)\n\s+← called by: mid \(a\.py\) 70%", out)
    # ambiguous: dup is defined in c.py, d.py and e.py -> shared 50%/3 = 17% each, never one arbitrary pick
    m = re.search(r"def amb_user\(\)\n\s+→ calls: (.*)\n", out)
    assert m and m.group(1).count("dup (") == 3 and "17%" in m.group(1)


@pytest.mark.parametrize("args, code, needle", [
    (["--tokens", "0"], 2, "--tokens must be at least 1"),
    (["--preset", "nope"], 2, "unknown preset 'nope'"),
    (["--params", "/nonexistent/params.json"], 2, "cannot read parameters file"),
    (["--chat", "no/such/file.py"], 2, "no such file"),
    (["--explain", "missing.py"], 2, "no such file"),
    (["--format", "xml"], 2, "invalid choice"),
    (["/no/such/dir"], 2, "no such file or directory"),
])
def test_errors_are_one_line_with_exit_codes(repo: Path, tmp_path: Path, args, code, needle) -> None:
    r = ripmap(*args, cwd=repo, cache=tmp_path)
    assert r.returncode == code
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert needle in lines[0]
    assert "Traceback" not in r.stderr


def test_bad_params_file_contents(repo: Path, tmp_path: Path) -> None:
    bad = tmp_path / "p.json"
    bad.write_text('{"pagerank_alpha": 7}')
    r = ripmap("--params", str(bad), cwd=repo, cache=tmp_path)
    assert r.returncode == 2 and "pagerank_alpha" in r.stderr and "bounds" in r.stderr
    bad.write_text("{not json")
    r = ripmap("--params", str(bad), cwd=repo, cache=tmp_path)
    assert r.returncode == 2 and "not valid JSON" in r.stderr


def test_preset_and_params_change_the_output(repo: Path, tmp_path: Path, monkeypatch) -> None:
    good = tmp_path / "p.json"
    good.write_text(json.dumps({"pagerank_alpha": 0.6}))
    r = ripmap("--params", str(good), "--format", "json", cwd=repo, cache=tmp_path)
    assert json.loads(r.stdout)["params"]["pagerank_alpha"] == 0.6
    # a preset of the tests' own (which presets ship depends on held-out figures)
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "structural.json").write_text(json.dumps({"description": "t", "params": {"weight_structure": 3.0}}))
    monkeypatch.setenv("RIPMAP_PRESET_DIR", str(presets))
    r = ripmap("--preset", "structural", "--format", "json", cwd=repo, cache=tmp_path)
    assert json.loads(r.stdout)["params"]["weight_structure"] == 3.0


def test_languages_listing() -> None:
    r = ripmap("--languages")
    assert r.returncode == 0
    rows = [ln for ln in r.stdout.splitlines()[1:] if ln.strip()]
    assert len(rows) >= 20
    assert any(ln.startswith("python") and ".py" in ln and " yes " in ln for ln in rows)
    assert any(ln.startswith("markdown") and " no " in ln for ln in rows)
    assert any(ln.startswith(".h headers are read as C, or as C++") for ln in rows)  # the content rule


def test_join_concatenates_whole_files_within_budget(repo: Path, tmp_path: Path) -> None:
    r = ripmap(str(repo), "--join", "-t", "1500", cache=tmp_path)
    assert r.returncode == 0, r.stderr
    assert EstimateCounter().count(r.stdout) <= 1500
    blocks = re.findall(r"──── (\S+) ────\n", r.stdout)
    assert blocks
    for path in blocks:  # whole files only
        assert (repo / path).read_text() in r.stdout


def test_help_teaches_every_option() -> None:
    r = ripmap("--help")
    for opt in ("--focus", "--tokens", "--chat", "--format", "--preset", "--params", "--calls", "--explain",
                "--join", "--stats", "--no-git", "--no-cache", "--languages", "--verbose", "default: 8192"):
        assert opt in r.stdout


def test_map_json_function_matches_cli(repo: Path, tmp_path: Path) -> None:
    with RepoMap(repo, cache_dir=tmp_path) as rm:
        ranking = rm.rank()
        rendered, _ = render_map(ranking, rm.index.tags, tokens=700, counter=EstimateCounter())
        data = json.loads(map_json(rm.root, ranking, rendered, elapsed_s=0.1, cache_hits=rm.index.cache_hits))
    assert [f["path"] for f in data["files"]] == ranking.files
    assert data["stats"]["tokens"] == rendered.tokens


def test_command_flushes_everything_before_its_fast_exit(tmp_path: Path) -> None:
    """`ripmap` ends with os._exit: output bigger than a pipe buffer must still arrive
    whole, and a reader that stops early must not turn into a traceback."""
    big = tmp_path / "big"
    big.mkdir()
    for i in range(40):
        body = "".join(f"def f{i}_{j}(x):\n    return g{i}_{j}(x) + {j}\n\n" for j in range(60))
        (big / f"m{i}.py").write_text(body)
    env = {**os.environ, "RIPMAP_CACHE_DIR": str(tmp_path / "c"), "RIPMAP_TOKENIZER": "estimate"}
    cmd = [sys.executable, "-m", "ripmap.cli", str(big), "--join", "-t", "200000", "--no-git"]
    full = subprocess.run(cmd, capture_output=True, env=env)
    assert full.returncode == 0, full.stderr
    assert len(full.stdout) > 65536  # more than one pipe buffer
    joined = subprocess.run([sys.executable, "-c", "import ripmap.cli as c, sys; sys.exit(c.main(sys.argv[1:]))",
                             *cmd[3:]], capture_output=True, env=env)
    assert joined.stdout == full.stdout  # the same bytes as the ordinary exit path
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    p.stdout.read(100)
    p.stdout.close()  # the reader goes away early
    err = p.stderr.read().decode()
    assert p.wait() == 0 and "Traceback" not in err
