"""The MCP server end to end: a real ``ripmap-mcp`` subprocess driven by the SDK's own client.

Going through stdio (not calling the tool functions) is the point: it checks the
schemas clients see, that errors arrive as ``isError`` results with readable text,
and that nothing but protocol reaches stdout (a stray print would break the session).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Awaitable, Callable

import anyio
import pytest

mcp = pytest.importorskip("mcp")
from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402

from ripmap import __version__  # noqa: E402
from ripmap.api import RepoMap  # noqa: E402

SESSION_TIMEOUT_S = 60

FILES = {
    "shop/__init__.py": "",
    "shop/pricing.py": '''\
"""Prices and discounts."""


class PriceBook:
    """All prices, by SKU."""

    def __init__(self, prices: dict[str, float]) -> None:
        self.prices = prices

    def price_of(self, sku: str) -> float:
        return self.prices[sku]


def apply_discount(amount: float, percent: float) -> float:
    return amount * (1 - percent / 100)


def compute_total(book: PriceBook, skus: list[str], percent: float = 0) -> float:
    return apply_discount(sum(book.price_of(s) for s in skus), percent)
''',
    "shop/cart.py": '''\
from shop.pricing import PriceBook, compute_total


class Cart:
    def __init__(self, book: PriceBook) -> None:
        self.book = book
        self.skus: list[str] = []

    def add(self, sku: str) -> None:
        self.skus.append(sku)

    def total(self) -> float:
        return compute_total(self.book, self.skus)
''',
    "shop/checkout.py": '''\
from shop.cart import Cart
from shop.pricing import PriceBook, apply_discount, compute_total


def checkout(cart: Cart, coupon: float) -> float:
    total = compute_total(cart.book, cart.skus)
    return apply_discount(total, coupon)


def receipt(cart: Cart) -> str:
    return f"{len(cart.skus)} items: {cart.total():.2f}"
''',
    "main.py": '''\
from shop.cart import Cart
from shop.checkout import checkout
from shop.pricing import PriceBook


def main() -> None:
    cart = Cart(PriceBook({"a": 1.0}))
    cart.add("a")
    print(checkout(cart, 10))
''',
}


def _git(cwd: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_SYSTEM": os.devnull}
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tmp/ with repo/ (a small git repository) and cache/ (the server's tag cache)."""
    base = tmp_path_factory.mktemp("mcp")
    repo = base / "repo"
    for rel, text in FILES.items():
        p = repo / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "initial")
    (base / "cache").mkdir()
    return base


def _server(workspace: Path, cwd: Path | None = None) -> StdioServerParameters:
    env = {"RIPMAP_CACHE_DIR": str(workspace / "cache"), "RIPMAP_PRESET_DIR": str(workspace / "presets"),
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return StdioServerParameters(command=sys.executable, args=["-m", "ripmap.mcp_server"], env=env,
                                 cwd=str(cwd or workspace))


def _run(params: StdioServerParameters, body: Callable[[ClientSession], Awaitable[None]]) -> None:
    async def go() -> None:
        with anyio.fail_after(SESSION_TIMEOUT_S):
            with open(os.devnull, "w") as errlog:  # server logs: not the test's business
                async with stdio_client(params, errlog=errlog) as (read, write):
                    async with ClientSession(read, write) as session:
                        await session.initialize()
                        await body(session)

    try:
        anyio.run(go)
    except BaseExceptionGroup as eg:  # task groups wrap the failing assertion; show it plainly
        leaf: BaseException = eg
        while isinstance(leaf, BaseExceptionGroup):
            leaf = leaf.exceptions[0]
        raise leaf from None


def _text(result: Any) -> str:
    return "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")


def _is_error(result: Any) -> bool:
    return bool(getattr(result, "is_error", getattr(result, "isError", False)))


def _rows(result: Any) -> list[dict]:
    """search_identifiers rows, from structured content when present, else the text blocks."""
    sc = getattr(result, "structured_content", getattr(result, "structuredContent", None))
    if isinstance(sc, dict) and isinstance(sc.get("result"), list):
        return sc["result"]
    if isinstance(sc, list):
        return sc
    return [json.loads(c.text) for c in result.content]


def test_tools_and_errors(workspace: Path) -> None:
    repo = workspace / "repo"
    with RepoMap(repo, cache_dir=workspace / "expected-cache", warn=lambda m: None) as rm:
        top = rm.rank().files[0]

    async def body(s: ClientSession) -> None:
        tools = {t.name: t for t in (await s.list_tools()).tools}
        assert set(tools) == {"repo_map", "search_identifiers", "explain_rank"}
        schema = {n: getattr(t, "input_schema", None) or getattr(t, "inputSchema") for n, t in tools.items()}
        assert {"project_root", "focus", "chat_files", "mentioned_idents", "tokens", "preset"} <= set(
            schema["repo_map"]["properties"])
        assert schema["repo_map"]["required"] == ["project_root"]
        assert {"project_root", "query", "limit"} <= set(schema["search_identifiers"]["properties"])
        assert set(schema["search_identifiers"]["required"]) == {"project_root", "query"}
        assert {"project_root", "path", "chat_files", "focus"} <= set(schema["explain_rank"]["properties"])
        assert set(schema["explain_rank"]["required"]) == {"project_root", "path"}
        assert all(t.description and len(t.description) > 80 for t in tools.values())

        # sloppy but valid: tokens as a string, empty focus
        r = await s.call_tool("repo_map", {"project_root": str(repo), "tokens": "2000", "focus": ""})
        assert not _is_error(r), _text(r)
        text = _text(r)
        assert top in text
        stats = text.strip().splitlines()[-1]
        m = re.search(r"shown (\d+) of (\d+) files, (\d+) of (\d+) symbols; (\d+) of 2000 tokens", stats)
        assert m, stats
        assert int(m.group(2)) == len(FILES) and 0 < int(m.group(1)) <= int(m.group(2))
        assert 0 < int(m.group(5)) <= 2000

        # a tiny budget still comes back within it
        r = await s.call_tool("repo_map", {"project_root": str(repo), "tokens": 60})
        assert not _is_error(r), _text(r)
        assert int(re.search(r"(\d+) of 60 tokens", _text(r)).group(1)) <= 60

        # one string where a list is expected; a comma-separated list with an unknown file
        r = await s.call_tool("repo_map", {"project_root": str(repo), "chat_files": "shop/cart.py",
                                           "mentioned_idents": "apply_discount", "preset": "default"})
        assert not _is_error(r), _text(r)
        assert "shop/cart.py" in _text(r)
        r = await s.call_tool("repo_map", {"project_root": str(repo), "chat_files": "shop/cart.py, nope.py"})
        assert _is_error(r) and "nope.py" in _text(r) and "\n" not in _text(r).strip()

        r = await s.call_tool("search_identifiers", {"project_root": str(repo), "query": "compute_total"})
        assert not _is_error(r), _text(r)
        rows = _rows(r)
        line = FILES["shop/pricing.py"].splitlines().index(next(
            ln for ln in FILES["shop/pricing.py"].splitlines() if ln.startswith("def compute_total"))) + 1
        assert rows[0] == {"file": "shop/pricing.py", "line": line, "name": "compute_total", "kind": "function",
                           "role": "definition", "signature": rows[0]["signature"], "parent": None}
        assert "compute_total(" in rows[0]["signature"]
        refs = [x for x in rows if x["role"] == "reference"]
        assert {x["file"] for x in refs} >= {"shop/cart.py", "shop/checkout.py"}
        assert rows.index(refs[0]) == 1  # one definition, then the references
        lines = _text(r).splitlines()  # what the model reads: a count, then one line per row
        assert lines[0].startswith(f"{len(rows)} matches") and len(lines) == len(rows) + 1
        assert lines[1].startswith(f"shop/pricing.py:{line} definition function compute_total: def ")

        # case-insensitive, identifier words in any spelling, limit as a string
        r = await s.call_tool("search_identifiers", {"project_root": str(repo), "query": "price of",
                                                     "limit": "1"})
        rows = _rows(r)
        assert len(rows) == 1 and rows[0]["name"] == "price_of" and rows[0]["parent"] == "PriceBook"
        assert "showing the first 1" in _text(r).splitlines()[0]
        r = await s.call_tool("search_identifiers", {"project_root": str(repo), "query": "zzz_nothing"})
        assert not _is_error(r) and "no identifier" in _text(r)

        r = await s.call_tool("explain_rank", {"project_root": str(repo), "path": "shop/pricing.py",
                                               "chat_files": ["shop/cart.py"], "focus": "discount"})
        assert not _is_error(r), _text(r)
        assert "rank" in _text(r) and "structure" in _text(r)
        assert re.search(r"rank \d+ of 5 files", _text(r))

        # invalid input: one-line isError results that name the problem
        missing = workspace / "no-such-dir"
        for args, needle in [
            ({"project_root": str(missing)}, str(missing)),
            ({"project_root": str(repo), "tokens": "lots"}, "tokens"),
            ({"project_root": str(repo), "tokens": 0}, "tokens"),
            ({"project_root": str(repo), "preset": "nonsense"}, "nonsense"),
        ]:
            r = await s.call_tool("repo_map", args)
            assert _is_error(r), args
            msg = _text(r)
            assert needle in msg and "\n" not in msg.strip() and "Traceback" not in msg, msg
        r = await s.call_tool("explain_rank", {"project_root": str(repo), "path": "shop/pricng.py"})
        assert _is_error(r) and "shop/pricng.py" in _text(r) and "shop/pricing.py" in _text(r)

    _run(_server(workspace), body)


def test_relative_root_and_changed_tree(workspace: Path, tmp_path: Path) -> None:
    """Relative roots resolve against the server's cwd; edits between calls are seen."""
    repo = tmp_path / "proj"
    repo.mkdir()
    (repo / "a.py").write_text("def alpha() -> int:\n    return 1\n", encoding="utf-8")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "one")

    async def body(s: ClientSession) -> None:
        r = await s.call_tool("search_identifiers", {"project_root": "proj", "query": "alpha"})
        assert not _is_error(r), _text(r)
        assert _rows(r)[0]["file"] == "a.py"

        r = await s.call_tool("repo_map", {"project_root": "elsewhere"})
        assert _is_error(r)
        assert str(tmp_path / "elsewhere") in _text(r) and "working directory" in _text(r)

        # a new file and an edited one, uncommitted: the warm RepoMap must not hide them
        (repo / "b.py").write_text("from a import alpha\n\n\ndef beta() -> int:\n    return alpha()\n",
                                   encoding="utf-8")
        r = await s.call_tool("search_identifiers", {"project_root": "proj", "query": "beta"})
        assert [x["file"] for x in _rows(r)] == ["b.py"]
        r = await s.call_tool("repo_map", {"project_root": "./proj", "tokens": "1000"})
        assert not _is_error(r) and re.search(r"shown \d of 2 files", _text(r)), _text(r)

    _run(_server(workspace, cwd=tmp_path), body)


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    out = subprocess.run([sys.executable, "-m", "ripmap.mcp_server", "--version"], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0 and __version__ in out.stdout

    from ripmap.mcp_server import main

    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0 and "--cache-dir" in capsys.readouterr().out


def test_watch_every_reaches_the_pool_and_bad_values_are_usage_errors(capsys, monkeypatch) -> None:
    import ripmap.mcp_server as m

    made: list[float] = []

    class Pool:
        def __init__(self, *a, watch_every: float = 0.0, **kw) -> None:
            made.append(watch_every)

        def close(self) -> None:
            pass

    class Server:
        def run(self) -> None:
            pass

    monkeypatch.setattr(m, "RepoMapPool", Pool)
    monkeypatch.setattr(m, "build_server", lambda tools: Server())
    assert m.main([]) == 0 and made == [m.WATCH_EVERY_S]
    assert m.main(["--watch-every", "0"]) == 0 and made[-1] == 0.0
    assert m.main(["--watch-every", "7.5"]) == 0 and made[-1] == 7.5
    for bad in ("-1", "soon", "nan", "inf"):
        with pytest.raises(SystemExit) as exc:
            m.main(["--watch-every", bad])
        assert exc.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert "--watch-every" in err and "Traceback" not in err


def _one_line_error(r: Any, *needles: str) -> str:
    """The text of an isError result, checked to be one line naming ``needles``."""
    msg = _text(r).strip()
    assert _is_error(r), msg
    assert "\n" not in msg and "Traceback" not in msg and "http" not in msg, msg
    for n in needles:
        assert n in msg, (n, msg)
    return msg


def test_bad_arguments_are_one_line_naming_the_argument(workspace: Path) -> None:
    """Calls that do not match a tool's schema (what the SDK's validation rejects
    before ripmap runs) and chat files that are not there: one line each, naming the
    argument, as the CLI does for ``--chat nope.py``."""
    repo = workspace / "repo"
    outside = workspace / "outside.py"
    outside.write_text("def elsewhere():\n    pass\n", encoding="utf-8")

    async def body(s: ClientSession) -> None:
        cases = [
            ("repo_map", {}, ["project_root", "required"]),
            ("repo_map", {"project_root": 5}, ["project_root"]),
            ("repo_map", {"project_root": str(repo), "tokens": [1]}, ["tokens"]),
            ("repo_map", {"project_root": str(repo), "tokens": True}, ["tokens"]),
            ("repo_map", {"project_root": str(repo), "tokens": False}, ["tokens"]),
            ("repo_map", {"project_root": str(repo), "focus": 3}, ["focus"]),
            ("repo_map", {"project_root": str(repo), "chat_files": [1, 2]}, ["chat_files"]),
            ("repo_map", {"project_root": str(repo), "mentioned_idents": {"a": 1}}, ["mentioned_idents"]),
            ("repo_map", {"project_root": str(repo), "preset": ["default"]}, ["preset"]),
            ("repo_map", {"project_root": str(repo), "chat_files": ["nope.py"]}, ["chat_files", "nope.py"]),
            ("repo_map", {"project_root": str(repo), "chat_files": [str(outside)]},
             ["chat_files", str(outside), "outside"]),
            ("repo_map", {"project_root": str(repo), "chat_files": "../outside.py"},
             ["chat_files", "../outside.py", "outside"]),
            ("search_identifiers", {"project_root": str(repo)}, ["query", "required"]),
            ("search_identifiers", {"project_root": str(repo), "query": "cart", "limit": True}, ["limit"]),
            ("search_identifiers", {"project_root": str(repo), "query": ["cart"]}, ["query"]),
            ("explain_rank", {"project_root": str(repo)}, ["path", "required"]),
            ("explain_rank", {"project_root": str(repo), "path": {}}, ["path"]),
            ("explain_rank", {"project_root": str(repo), "path": "shop/cart.py", "chat_files": ["shop/nope.py"]},
             ["chat_files", "shop/nope.py"]),
        ]
        for tool, args, needles in cases:
            _one_line_error(await s.call_tool(tool, args), *needles)
        # two bad arguments: both named, still one line
        _one_line_error(await s.call_tool("explain_rank", {"project_root": 5, "path": 6}), "project_root", "path")
        # a real directory with mapped files is still a fine chat target
        r = await s.call_tool("repo_map", {"project_root": str(repo), "chat_files": ["shop"]})
        assert not _is_error(r), _text(r)

    _run(_server(workspace), body)


def test_answer_never_exceeds_tokens(workspace: Path) -> None:
    """Map plus notes plus stats line within ``tokens`` by the server's own counter; a
    budget too small for even the stats line is a one-line error with the minimum, and
    that minimum works."""
    from ripmap.render.tokens import default_counter

    repo = workspace / "repo"

    async def body(s: ClientSession) -> None:
        minimum = None
        for tokens in (1, 10, 20, 30, 40, 45, 50, 60, 70, 80, 100, 150, 250, 400, 1000):
            r = await s.call_tool("repo_map", {"project_root": str(repo), "tokens": tokens,
                                               "chat_files": ["shop/cart.py"]})
            if _is_error(r):
                msg = _one_line_error(r, "tokens", "at least")
                need = int(re.search(r"at least (\d+)", msg).group(1))
                assert need > tokens
                minimum = need if minimum is None else minimum
                assert need == minimum  # the same answer for every budget below it
                continue
            text = _text(r)
            counter = default_counter("cl100k" if "(cl100k)" in text else "estimate")
            assert counter.count(text) <= tokens, (tokens, counter.count(text), text)
            m = re.search(r"; (\d+) of (\d+) tokens", text.strip().splitlines()[-1])
            assert m and int(m.group(2)) == tokens and int(m.group(1)) == counter.count(text), text
        assert minimum is not None, "even 1 token was accepted"
        r = await s.call_tool("repo_map", {"project_root": str(repo), "tokens": minimum})
        assert not _is_error(r), _text(r)
        text = _text(r)
        assert default_counter("cl100k" if "(cl100k)" in text else "estimate").count(text) <= minimum

    _run(_server(workspace), body)
