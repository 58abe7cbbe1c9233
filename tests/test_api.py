"""The facade: ``RepoMap.resolve``, ``render`` (every format, budgets with a reserve),
``search``, ``stamp``/``is_stale``, the warm pool, and the front ends' one door in."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from ripmap.api import DEFAULT_TOKENS, RepoMap, RepoMapPool
from ripmap.errors import UsageError
from ripmap.render.tokens import EstimateCounter

from fixtures_rank import git, init_repo, isolate_git

SRC = Path(__file__).resolve().parents[1] / "src" / "ripmap"

FILES = {
    "pkg/__init__.py": "",
    "pkg/store.py": '''\
class TokenStore:
    """Where tokens live."""

    def load_token(self, user_id: int) -> str:
        return self.read_raw(user_id)

    def read_raw(self, user_id: int) -> str:
        return str(user_id)


def refresh_token(store: TokenStore, user_id: int) -> str:
    return store.load_token(user_id)
''',
    "pkg/session.py": '''\
from pkg.store import TokenStore, refresh_token


class Session:
    def __init__(self, store: TokenStore) -> None:
        self.store = store

    def renew(self, user_id: int) -> str:
        return refresh_token(self.store, user_id)
''',
    "app.py": '''\
from pkg.session import Session
from pkg.store import TokenStore


def main() -> None:
    Session(TokenStore()).renew(1)
''',
    "tools/cli.py": '''\
from pkg.store import refresh_token


def refresh_all(ids: list[int]) -> None:
    for i in ids:
        refresh_token(None, i)
''',
    "README.md": "# demo\n\nA token store.\n",
}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_git(monkeypatch, tmp_path)
    monkeypatch.setenv("RIPMAP_TOKENIZER", "estimate")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return init_repo(tmp_path / "repo", FILES)


def _open(root: Path, tmp_path: Path, **kw) -> RepoMap:
    return RepoMap(root, cache_dir=tmp_path / "cache", warn=lambda m: None, **kw)


# ------------------------------------------------------------------------------ resolve

def test_resolve_finds_the_root_and_turns_paths_inside_it_into_chat_files(repo: Path, monkeypatch) -> None:
    monkeypatch.chdir(repo / "pkg")
    here = RepoMap.resolve()
    assert here.root == repo.resolve() and here.chat == ()  # the enclosing repository, not the cwd
    # a PATH equal to the root only names it; files and directories inside it are chat targets
    r = RepoMap.resolve([str(repo), str(repo / "app.py"), str(repo / "tools")])
    assert r.root == repo.resolve() and r.chat == ("app.py", "tools")
    # --chat: relative to the cwd when it exists there (pkg/store.py from inside pkg), else to the root
    r = RepoMap.resolve([], ["store.py", "app.py"])
    assert r.chat == ("pkg/store.py", "app.py")
    assert r.relative("session.py") == "pkg/session.py"  # as for --explain


def test_resolve_errors_are_usage_errors(repo: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(repo)
    elsewhere = tmp_path / "elsewhere.py"
    elsewhere.write_text("x = 1\n")
    for call, needle in [
        (lambda: RepoMap.resolve(["nope.py"]), "no such file or directory"),
        (lambda: RepoMap.resolve([], ["nope.py"]), "no such file (relative to the current directory or"),
        (lambda: RepoMap.resolve([], [str(elsewhere)]), "outside the repository root"),
        (lambda: RepoMap.resolve([str(repo / "app.py")], root=repo / "pkg"), "outside the repository root"),
        (lambda: RepoMap.resolve([], root=repo / "app.py"), "not a directory"),
        (lambda: RepoMap.resolve([], root=repo / "gone"), "no such directory"),
    ]:
        with pytest.raises(UsageError, match=re.escape(needle)):
            call()


def test_resolve_outside_git_uses_the_directory_itself(tmp_path: Path) -> None:
    plain = tmp_path / "plain" / "sub"
    plain.mkdir(parents=True)
    (plain / "a.py").write_text("def a():\n    pass\n")
    assert RepoMap.resolve([str(plain / "a.py")]).root == plain.resolve()
    assert RepoMap.resolve([str(plain)], root=tmp_path / "plain").chat == ("sub",)


def test_rank_expands_a_chat_directory_and_render_names_the_chat_files(repo: Path, tmp_path: Path) -> None:
    with _open(repo, tmp_path) as rm:
        ranking = rm.rank(chat_files=["pkg", "README.md"])
        assert ranking.chat_files == ("pkg/__init__.py", "pkg/session.py", "pkg/store.py", "README.md")
        text = rm.render(ranking, tokens=2000).text
    head = text.splitlines()[1]
    assert head == "# in chat (not repeated): README.md, pkg/__init__.py, pkg/session.py, pkg/store.py"
    assert "pkg/store.py:" not in text and "app.py" in text


# ------------------------------------------------------------------------------- render

def test_render_formats(repo: Path, tmp_path: Path) -> None:
    with _open(repo, tmp_path) as rm:
        assert rm.counter is rm.counter and rm.counter.name == "estimate"  # one counter, set up once
        ranking = rm.rank(focus="refresh token")
        out = rm.render(ranking)
        assert out.budget == DEFAULT_TOKENS == 8192 and str(out) == out.text
        assert out.tokens == rm.counter.count(out.text) <= DEFAULT_TOKENS
        assert out.files == tuple(ranking.files[:len(out.files)]) and out.files_total == len(ranking.files)
        assert f"{out.tokens} of {DEFAULT_TOKENS} tokens" in out.text.splitlines()[0]

        js = json.loads(rm.render(ranking, tokens=300, format="json").text)
        assert js["root"] == str(repo.resolve()) and [f["path"] for f in js["files"]] == ranking.files
        assert js["stats"]["tokens"] <= 300 and js["stats"]["elapsed_s"] > 0

        joined = rm.render(ranking, tokens=400, format="join")
        assert joined.text.startswith(f"──── {joined.files[0]} ────\n{(repo / joined.files[0]).read_text()}")
        assert joined.tokens <= 400
        data = json.loads(rm.render(ranking, tokens=400, format="join-json").text)
        assert [f["path"] for f in data["files"]] == list(joined.files)

        calls = rm.render(ranking, tokens=3000, calls=True)
        assert calls.call_lines > 0 and "→ calls:" in calls.text and "→ calls:" not in out.text
        colored = rm.render(ranking, tokens=3000, color=True)
        assert "\x1b[" in colored.text and re.sub(r"\x1b\[[0-9;]*m", "", colored.text) == \
            rm.render(ranking, tokens=3000).text and colored.tokens == rm.render(ranking, tokens=3000).tokens
        tiny = rm.render(ranking, tokens=12)  # no room for a map: the same short line, colored or not
        assert tiny.files == () and rm.render(ranking, tokens=12, color=True).text == tiny.text


def test_render_rejects_bad_requests(repo: Path, tmp_path: Path) -> None:
    with _open(repo, tmp_path) as rm:
        ranking = rm.rank()
        for kw, needle in [({"format": "xml"}, "unknown format"), ({"tokens": 0}, "at least 1"),
                           ({"reserve": -1}, "negative"), ({"format": "join", "calls": True}, "calls")]:
            with pytest.raises(UsageError, match=needle):
                rm.render(ranking, **kw)
    with pytest.raises(UsageError, match="bogus"):
        _open(repo, tmp_path, tokenizer="bogus").counter


@pytest.mark.parametrize("tokens", [40, 120, 300, 700, 1500])
@pytest.mark.parametrize("reserve", [0, 7, 35, 90])
def test_reserve_keeps_room_for_the_callers_footer(repo: Path, tmp_path: Path, tokens: int, reserve: int) -> None:
    """map + a footer of ``reserve`` tokens stays within ``tokens``, after one fit."""
    with _open(repo, tmp_path) as rm:
        ranking = rm.rank(chat_files=["app.py"])
        out = rm.render(ranking, tokens=tokens, reserve=reserve)
        whole = rm.render(ranking, tokens=tokens)
    counter = EstimateCounter()
    footer = " ".join(["word"] * 200)
    while counter.count(footer + "\n") > reserve:  # a footer that costs at most the reserve
        footer = footer.rsplit(" ", 1)[0] if " " in footer else ""
        if not footer:
            break
    footer = (footer + "\n") if footer else ""
    if reserve >= tokens:
        assert out.text == "" and out.tokens == 0
        return
    assert out.budget == tokens - reserve and out.tokens <= tokens - reserve
    assert counter.count(out.text + footer) <= tokens
    if out.files:  # the header reports what the map was fitted to
        assert f" of {tokens - reserve} tokens" in out.text.splitlines()[0]
    assert len(out.files) <= len(whole.files)  # less room, never more shown


def test_reserve_taking_the_whole_budget_leaves_no_map(repo: Path, tmp_path: Path) -> None:
    with _open(repo, tmp_path) as rm:
        ranking = rm.rank()
        for fmt in ("text", "join"):
            out = rm.render(ranking, tokens=50, reserve=50, format=fmt)
            assert out.text == "" and out.files == () and out.files_total == len(ranking.files)
        js = json.loads(rm.render(ranking, tokens=50, reserve=60, format="json").text)
        assert js["stats"]["tokens"] == 0 and all(f["symbols"] == [] for f in js["files"])


# ------------------------------------------------------------------------------- search

def test_search_orders_definitions_then_quality_then_place(repo: Path, tmp_path: Path) -> None:
    with _open(repo, tmp_path) as rm:
        found = rm.search("refresh_token")
        first = found.hits[0]
        assert (first.file, first.name, first.role, first.kind) == ("pkg/store.py", "refresh_token",
                                                                    "definition", "function")
        assert first.signature.startswith("def refresh_token(")
        refs = [h for h in found.hits if h.role == "reference"]
        assert {h.file for h in refs} >= {"pkg/session.py", "tools/cli.py"}
        assert found.definitions == 1 + sum(1 for h in found.hits[1:] if h.role == "definition")
        assert found.total == len(found.hits) == found.definitions + found.references
        roles = [h.role for h in found.hits]
        assert roles == sorted(roles)  # "definition" < "reference": every definition first

        # a prefix (TokenStore) before substrings (load_token, refresh_token: by file, then line);
        # identifier words in any order and spelling
        defs = [h.name for h in rm.search("token").hits if h.role == "definition"]
        assert defs == ["TokenStore", "load_token", "refresh_token"]
        words = rm.search("token refresh").hits
        assert words[0].name == "refresh_token" and words[0].role == "definition" and len(words) >= 4
        assert all({"refresh", "token"} <= set(re.split(r"[._]", h.name)) for h in words)

        some = rm.search("token", limit=2)
        assert len(some.hits) == 2 and some.total > 2
        assert some.hits == rm.search("token").hits[:2]
        assert rm.search("zzz_nothing").total == 0
        assert first.as_text() == f"pkg/store.py:{first.line} definition function refresh_token: {first.signature}"
        with pytest.raises(UsageError):
            rm.search("  ")


# ----------------------------------------------------------------------- stamp / stale

def test_is_stale_after_edits_new_files_commits_and_config(repo: Path, tmp_path: Path) -> None:
    rm = _open(repo, tmp_path)
    assert not rm.is_stale()  # nothing built yet
    rm.index  # noqa: B018
    assert not rm.is_stale() and rm.stamp() == rm.stamp()
    # an edit (size and mtime change)
    store = repo / "pkg" / "store.py"
    store.write_text(store.read_text() + "\n\ndef extra():\n    pass\n")
    assert rm.is_stale()
    rm = _open(repo, tmp_path)
    rm.index  # noqa: B018
    assert not rm.is_stale()
    (repo / "new.py").write_text("def fresh():\n    pass\n")  # a new, untracked file
    assert rm.is_stale()
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "more")
    rm = _open(repo, tmp_path)
    rm.index  # noqa: B018
    git(repo, "commit", "-q", "--allow-empty", "-m", "empty")  # HEAD moves, no file does
    assert rm.is_stale()
    assert not _open(repo, tmp_path, use_git=False).is_stale()
    off = _open(repo, tmp_path, use_git=False)
    off.index  # noqa: B018
    git(repo, "commit", "-q", "--allow-empty", "-m", "again")
    assert not off.is_stale()  # without git, HEAD is no input
    (repo / "ripmap.toml").write_text('exclude = ["tools/**"]\n')
    assert off.is_stale()  # the config decides which files are mapped


def test_pool_reuses_refreshes_when_stale_and_evicts(repo: Path, tmp_path: Path, monkeypatch) -> None:
    closed: list[RepoMap] = []
    real_close = RepoMap.close

    def close(self: RepoMap) -> None:
        closed.append(self)
        real_close(self)

    monkeypatch.setattr(RepoMap, "close", close)
    other = init_repo(tmp_path / "other", {"b.py": "def b():\n    pass\n"})
    pool = RepoMapPool(1, cache_dir=tmp_path / "cache")
    try:
        with pool.session(repo.resolve()) as e1:
            first = e1.repo
        with pool.session(repo.resolve()) as e2:
            assert e2.repo is first and not closed  # warm
        (repo / "app.py").write_text((repo / "app.py").read_text() + "\n\ndef pool_edit_probe():\n    pass\n")
        with pool.session(repo.resolve()) as e3:
            # stale: refreshed in place (only the edited file read again), not closed
            assert e3.repo is first and not closed
            assert e3.repo.search("pool_edit_probe").definitions == 1
            rebuilt = e3.repo
        with pool.session(other.resolve()) as e4:
            assert e4.repo.files == ("b.py",)
        assert closed == [rebuilt]  # evicted (size 1) once its call was over
    finally:
        pool.close()
    assert closed[-1] is e4.repo


# ------------------------------------------------------------------------ the one door

# `ripmap serve` is parsed by the CLI and handed to the web front end (ripmap.web)
@pytest.mark.parametrize("front, also", [("cli.py", {"web"}), ("mcp_server.py", set())])
def test_front_ends_import_only_api_errors_and_presets(front: str, also: set[str]) -> None:
    tree = ast.parse((SRC / front).read_text(encoding="utf-8"))
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                used.update([node.module.split(".")[0]] if node.module else [a.name for a in node.names])
            elif node.module and node.module.split(".")[0] == "ripmap":
                used.add(node.module.split(".")[1] if "." in node.module else "ripmap")
        elif isinstance(node, ast.Import):
            used.update(a.name.split(".")[1] for a in node.names if a.name.startswith("ripmap."))
    assert used <= {"api", "errors", "presets"} | also, used
    assert len((SRC / front).read_text(encoding="utf-8").splitlines()) < 600
