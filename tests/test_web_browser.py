"""The page in a real browser (Chromium via Playwright) against a real ``ripmap serve``.

Skipped, with the reason, where Playwright or Chromium is missing; ``.ci/run`` installs
both, so in CI these run. Everything stays on this machine: the server listens on
loopback and the static export is opened from a file with every request refused.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from browser import browser_missing, launch, list_paths, rank_seq, start_server, wait_ranked
from web_fixtures import L1_TRAIN, OUTER_STEPS, TEST_PRESET, install_test_preset, make_served_repo, ripmap_json

from ripmap.render.html import GRAPH_TOP

_missing = browser_missing()
pytestmark = pytest.mark.skipif(_missing is not None, reason=_missing or "")

ARTIFACTS = Path(os.environ.get("RIPMAP_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "build" / "test-artifacts"))
TIMEOUT = 60_000


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("env")
    install_test_preset(d / "presets")
    return {"RIPMAP_CACHE_DIR": str(d / "cache"), "RIPMAP_PRESET_DIR": str(d / "presets"),
            "RIPMAP_TOKENIZER": "estimate"}


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return make_served_repo(tmp_path_factory.mktemp("served") / "repo")


@pytest.fixture(scope="module")
def server(repo, env):
    served = start_server(repo, env)
    yield served
    log = served.stop()
    assert "Traceback" not in log, log


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()


class Console:
    """Every console error and uncaught exception a page reports."""

    def __init__(self, page) -> None:
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1500, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(TIMEOUT)
    pg.console = Console(pg)  # type: ignore[attr-defined]
    yield pg
    ctx.close()


def open_page(page, server, query: str = "") -> None:
    page.goto(server.url + query)
    page.wait_for_selector("body[data-ready='1']", state="attached")


def test_list_order_equals_the_json_map(page, server, repo, env):
    open_page(page, server, "?focus=token%20refresh&chat=auth/session.py&preset=" + TEST_PRESET)
    want = [f["path"] for f in ripmap_json(repo, "-f", "token refresh", "--chat", "auth/session.py",
                                           "--preset", TEST_PRESET, env=env)["files"]]
    assert list_paths(page) == want
    assert page.get_attribute("[data-testid=file-list] > li:first-child", "value") == "1"


def test_a_long_list_is_complete_and_in_json_order(browser, tmp_path, env):
    """More files than the first screenful the page draws at once: the rest follows, in order."""
    from fixtures_rank import init_repo

    files = {f"pkg{i % 7}/mod{i}.py": f"from pkg{(i + 1) % 7}.mod{(i + 1) % 300} import f{(i + 1) % 300}\n\n"
                                      f"def f{i}():\n    return f{(i + 1) % 300}()\n" for i in range(300)}
    root = init_repo(tmp_path / "big", files)
    served = start_server(root, env)
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = ctx.new_page()
        page.goto(served.url + "?focus=f17")
        page.wait_for_selector("body[data-ready='1']", state="attached", timeout=TIMEOUT)
        assert list_paths(page) == [f["path"] for f in ripmap_json(root, "-f", "f17", env=env)["files"]]
        assert page.get_attribute("[data-testid=file-list] > li:last-child", "value") == "300"
    finally:
        ctx.close()
        assert "Traceback" not in served.stop()


def test_focus_reranks(page, server, repo, env):
    open_page(page, server)
    before = list_paths(page)
    assert before == [f["path"] for f in ripmap_json(repo, env=env)["files"]]
    seq = rank_seq(page)
    page.fill("[data-testid=focus]", "yaml loader parse")
    page.press("[data-testid=focus]", "Enter")
    wait_ranked(page, seq + 1)
    after = list_paths(page)
    assert after == [f["path"] for f in ripmap_json(repo, "-f", "yaml loader parse", env=env)["files"]]
    assert after != before
    assert "focus=yaml+loader+parse" in page.url  # the address can be shared
    page.wait_for_selector("[data-testid=query] dd")
    assert "yaml" in page.inner_text("[data-testid=query]")


def test_click_shows_the_explain_breakdown(page, server, repo, env):
    open_page(page, server, "?focus=session%20login")
    target = "auth/session.py"
    page.click(f"[data-testid=file-list] > li[data-path='{target}']")
    page.wait_for_selector(f"[data-testid=explain][data-path='{target}'] [data-testid=explain-bars]")
    out = subprocess.run([sys.executable, "-m", "ripmap.cli", str(repo), "-f", "session login", "--explain", target,
                          "--format", "json"], capture_output=True, text=True, check=True, env={**os.environ, **env})
    want = json.loads(out.stdout)
    assert page.inner_text("[data-testid=explain-rank]").startswith(f"rank {want['rank']} of ")
    shown = page.eval_on_selector_all("[data-testid=explain-bars] [data-signal]", "els => els.map(e => e.dataset.signal)")
    assert shown == [s["signal"] for s in want["signals"]]
    for name in ("structure", "cochange", "lexical", "focus"):
        assert name in shown
    assert "focus understood as" in page.inner_text("[data-testid=query]")
    assert page.get_attribute(f"[data-testid=file-list] > li[data-path='{target}']", "class") == "selected"


def test_graph_renders_nodes(page, server, tmp_path):
    open_page(page, server)
    graph = page.locator("[data-testid=graph]")
    n = int(graph.get_attribute("data-nodes"))
    assert n == min(GRAPH_TOP, len(list_paths(page))) and int(graph.get_attribute("data-edges")) > 0
    assert graph.locator("canvas").count() >= 1
    shot = tmp_path / "graph.png"
    graph.screenshot(path=str(shot))
    from PIL import Image  # matplotlib's dependency, in the test extra

    colours = Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50, "an empty canvas has a handful of colours"
    page.hover("[data-testid=graph]", position={"x": 5, "y": 5})
    assert page.locator("[data-testid=legend] span").count() >= 2


def test_graph_hover_names_the_file_click_explains_it_and_wheel_zooms(page, server):
    open_page(page, server)
    node = page.evaluate("window.__ripmap.nodes()")[3]
    box = page.locator("[data-testid=graph]").bounding_box()
    page.mouse.move(box["x"] + node["x"], box["y"] + node["y"])
    page.wait_for_selector("[data-testid=graph-tooltip]:not([hidden])")
    tip = page.inner_text("[data-testid=graph-tooltip]").splitlines()
    assert tip[0] == node["id"] and tip[1].startswith("rank ")
    page.mouse.click(box["x"] + node["x"], box["y"] + node["y"])
    page.wait_for_selector(f"[data-testid=explain][data-path='{node['id']}'] [data-testid=explain-bars]")
    before = page.evaluate("window.__ripmap.zoom()")
    page.mouse.wheel(0, -400)
    page.wait_for_timeout(200)
    assert page.evaluate("window.__ripmap.zoom()") > before


def test_no_console_errors_in_a_session(page, server, browser):
    open_page(page, server)
    seq = rank_seq(page)
    page.fill("[data-testid=focus]", "routes handlers")
    page.press("[data-testid=focus]", "Enter")
    wait_ranked(page, seq + 1)
    page.click("[data-testid=file-list] > li:nth-child(3)")
    page.wait_for_selector("[data-testid=explain-bars]")
    page.click("[data-testid=explain-chat]")
    wait_ranked(page, seq + 2)
    page.select_option("[data-testid=preset]", TEST_PRESET)
    wait_ranked(page, seq + 3)
    page.wait_for_selector("body[data-map-seq]", state="attached")
    page.click("[data-testid=tab-training]")
    page.click("[data-testid=run][data-run='l1-demo']")
    page.wait_for_selector("[data-testid=episodes]")
    page.click("[data-testid=tab-map]")
    assert page.console.errors == []  # type: ignore[attr-defined]


def test_copy_button_copies_the_map(browser, server):
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url.rstrip("/"))
    page = ctx.new_page()
    try:
        open_page(page, server)
        page.wait_for_selector("body[data-map-seq]", state="attached", timeout=TIMEOUT)
        text = page.inner_text("[data-testid=map-text]")
        tokens = int(page.get_attribute("[data-testid=map-tokens]", "data-tokens"))
        assert text.strip() and tokens > 0
        page.click("[data-testid=copy-map]")
        page.wait_for_selector("[data-testid=copy-map][data-copied='1']")
        assert page.evaluate("navigator.clipboard.readText()").strip() == text.strip()
    finally:
        ctx.close()


def test_static_export_opens_with_no_network(browser, repo, env, tmp_path):
    out = subprocess.run([sys.executable, "-m", "ripmap.cli", str(repo), "--format", "html", "-f", "token"],
                         capture_output=True, text=True, check=True, env={**os.environ, **env})
    page_file = tmp_path / "map.html"
    page_file.write_text(out.stdout, encoding="utf-8")
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, offline=True)
    requests: list[str] = []

    def refuse(route) -> None:
        if not route.request.url.startswith("file://"):
            requests.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    ctx.route("**/*", refuse)
    page = ctx.new_page()
    console = Console(page)
    try:
        page.goto(page_file.as_uri())
        page.wait_for_selector("body[data-ready='1']", state="attached", timeout=TIMEOUT)
        want = [f["path"] for f in ripmap_json(repo, "-f", "token", env=env)["files"]]
        assert list_paths(page) == want
        assert int(page.get_attribute("[data-testid=graph]", "data-nodes")) == min(GRAPH_TOP, len(want))
        page.click(f"[data-testid=file-list] > li[data-path='{want[1]}']")
        page.wait_for_selector(f"[data-testid=explain][data-path='{want[1]}'] [data-testid=explain-bars]")
        assert page.is_disabled("[data-testid=focus]")
        assert page.input_value("[data-testid=focus]") == "token"
        assert requests == [] and console.errors == []
    finally:
        ctx.close()


def test_screenshot_is_saved_as_an_artifact(page, server):
    open_page(page, server, "?focus=token%20session%20refresh&chat=auth/token.py")
    page.click("[data-testid=file-list] > li:nth-child(2)")
    page.wait_for_selector("[data-testid=explain-bars]")
    page.wait_for_selector("body[data-map-seq]", state="attached")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "serve.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000


def test_bad_input_gets_a_message_on_the_page(page, server):
    open_page(page, server, "?preset=nope")
    msg = page.locator("[data-testid=message]")
    assert msg.is_visible() and "unknown preset 'nope' (available:" in msg.inner_text()
    assert page.is_visible("[data-testid=focus]") and "No ranking yet" in page.inner_text("[data-testid=explain]")

    open_page(page, server)
    n = len(list_paths(page))
    page.fill("[data-testid=chat-add]", "auth/no_such_file.py")
    page.press("[data-testid=chat-add]", "Enter")
    page.wait_for_selector("[data-testid=message][data-kind=error]")
    assert "chat file auth/no_such_file.py: no such file" in msg.inner_text()
    assert page.locator("[data-testid=chat] .chip").count() == 0 and len(list_paths(page)) == n

    page.fill("[data-testid=focus]", "stack trace line " * 4000)
    page.press("[data-testid=focus]", "Enter")
    page.wait_for_selector("[data-testid=message]:has-text('characters long')")
    assert len(list_paths(page)) == n
    for text in (msg.inner_text(), page.inner_text("body")):
        assert "Traceback" not in text


def test_training_view_shows_runs_episodes_and_lineage(page, server):
    open_page(page, server)
    page.click("[data-testid=tab-training]")
    page.wait_for_selector("[data-testid=run][data-run='l1-demo']")
    names = page.eval_on_selector_all("[data-testid=run]", "els => els.map(e => e.dataset.run)")
    assert {"l1-demo", "tpe-demo", "broken-run", "l2-demo"} <= set(names)
    assert "not valid JSON" in page.inner_text("[data-testid=run][data-run='broken-run']")
    page.click("[data-testid=run][data-run='l1-demo']")
    page.wait_for_selector("[data-testid=episodes]")
    assert page.locator("[data-testid=episodes] tbody tr").count() == len(L1_TRAIN) - 1
    assert page.locator("[data-testid=run-progress] svg circle").count() >= len(L1_TRAIN)
    assert "pagerank_alpha" in page.inner_text("[data-testid=run-params]")
    assert "diagnosis of episode 2" in page.inner_text("[data-testid=episodes]")
    page.click("[data-testid=run][data-run='l2-demo']")
    page.wait_for_selector("[data-testid=outer-steps]")
    steps = page.inner_text("[data-testid=outer-steps]")
    assert all(v in steps for v, _, _ in OUTER_STEPS) and "refused: section 'Output_schema'" in steps
    assert "basin_lock_in" in steps
    assert page.locator("[data-testid=lineage] li[data-version='inner_v001'] li[data-version='inner_v002']").count() == 1
