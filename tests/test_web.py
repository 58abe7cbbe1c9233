"""``ripmap serve`` without a browser: who may call it, what its API answers, the runs
reader, and the ``--format html`` export. (The page itself: test_web_browser.py.)"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from fixtures_rank import commit  # noqa: E402
from web_fixtures import (L1_ALPHA, L1_TRAIN, OUTER_STEPS, TEST_PRESET, install_test_preset,  # noqa: E402
                          make_served_repo, ripmap_json)  # noqa: E402

from ripmap.api import RepoMap  # noqa: E402
from ripmap.errors import UsageError  # noqa: E402
from ripmap.render.html import force_layout, group_of  # noqa: E402
from ripmap.web import runs  # noqa: E402
from ripmap.web.guard import HostPolicy, check_bind, cross_site, host_allowed  # noqa: E402
from ripmap.web.server import create_app  # noqa: E402
from ripmap.web.service import MAX_FOCUS_CHARS, LiveRepo, MapService  # noqa: E402

PORT = 8765


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
def live(repo, env):
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    lr = LiveRepo(repo, lambda root: RepoMap(root, cache_dir=env["RIPMAP_CACHE_DIR"], progress=False),
                  refresh_every=0)
    lr.start()
    yield lr
    lr.close()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def client(live):
    app = create_app(MapService(live), HostPolicy.for_bind("127.0.0.1", PORT))
    with TestClient(app, base_url=f"http://127.0.0.1:{PORT}") as c:
        yield c


# ------------------------------------------------------------------------- the guard

def test_host_header_must_name_this_server():
    """DNS rebinding: a foreign name resolving to 127.0.0.1 still sends its own name as Host."""
    p = HostPolicy.for_bind("127.0.0.1", PORT)
    assert host_allowed(f"127.0.0.1:{PORT}", p) and host_allowed(f"localhost:{PORT}", p)
    assert host_allowed(f"[::1]:{PORT}", p)
    for bad in (f"evil.example:{PORT}", "evil.example", f"127.0.0.1:{PORT + 1}", "127.0.0.1", "", None,
                f"localhost.evil.example:{PORT}", f"127.0.0.1:{PORT}x"):
        assert not host_allowed(bad, p), bad
    wild = HostPolicy.for_bind("0.0.0.0", PORT)
    assert host_allowed(f"192.0.2.7:{PORT}", wild)  # an IP literal cannot be rebound
    assert not host_allowed(f"evil.example:{PORT}", wild)


def test_non_loopback_bind_needs_the_flag_and_warns():
    assert check_bind("127.0.0.1", False) is None and check_bind("::1", False) is None
    assert check_bind("localhost", False) is None
    for host in ("0.0.0.0", "192.0.2.7", "::"):
        with pytest.raises(UsageError, match="--allow-remote"):
            check_bind(host, False)
        assert "beyond this machine" in check_bind(host, True)


def test_cross_site_api_calls_are_refused():
    p = HostPolicy.for_bind("127.0.0.1", PORT)
    assert cross_site(None, None, p) is None
    assert cross_site(f"http://127.0.0.1:{PORT}", "same-origin", p) is None
    assert cross_site("https://evil.example", None, p)
    assert cross_site(None, "cross-site", p)
    assert cross_site("null", None, p)


def test_server_refuses_foreign_host_and_origin(client):
    r = client.get("/api/info", headers={"Host": f"evil.example:{PORT}"})
    assert r.status_code == 403 and "DNS" in r.json()["error"]
    r = client.get("/", headers={"Host": f"evil.example:{PORT}"})
    assert r.status_code == 403
    r = client.post("/api/rank", json={}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and "another site" in r.json()["error"]
    assert client.get("/api/info").status_code == 200


# ------------------------------------------------------------------------- the API

def test_rank_order_is_the_json_maps_order(client, repo, env):
    """The page's list is `ripmap --format json`'s files, in the same order, for the same inputs."""
    for args, body in [((), {}),
                       (("-f", "token refresh session", "--chat", "auth/token.py", "--preset", TEST_PRESET),
                        {"focus": "token refresh session", "chat": ["auth/token.py"], "preset": TEST_PRESET})]:
        want = [f["path"] for f in ripmap_json(repo, *args, env=env)["files"]]
        got = client.post("/api/rank", json=body).json()
        assert [f["path"] for f in got["files"]] == want
        assert [f["rank"] for f in got["files"]] == list(range(1, len(want) + 1))


def test_rank_gives_graph_of_top_files_with_edges_between_them(client):
    r = client.post("/api/rank", json={"top": 12}).json()
    top = [f["path"] for f in r["files"][:12]]
    nodes = r["graph"]["nodes"]
    assert [n["id"] for n in nodes] == top
    ids = set(top)
    assert r["graph"]["edges"], "the rich repository's top files reference each other"
    assert all(e["source"] in ids and e["target"] in ids and e["weight"] > 0 for e in r["graph"]["edges"])
    assert all(isinstance(n["x"], float) and isinstance(n["y"], float) for n in nodes)


def test_rank_get_query_string_matches_post(client):
    a = client.get("/api/rank", params={"focus": "parser", "chat": ["io/reader.py", "app.py"]}).json()
    b = client.post("/api/rank", json={"focus": "parser", "chat": ["io/reader.py", "app.py"]}).json()
    assert [f["path"] for f in a["files"]] == [f["path"] for f in b["files"]]


def test_explain_matches_cli_explain(client, repo, env):
    out = subprocess.run([sys.executable, "-m", "ripmap.cli", str(repo), "-f", "session login", "--explain",
                          "auth/session.py", "--format", "json"], capture_output=True, text=True, check=True,
                         env={**os.environ, **env})
    want = json.loads(out.stdout)
    got = client.post("/api/explain", json={"focus": "session login", "path": "auth/session.py"}).json()
    assert got["rank"] == want["rank"]
    assert [s["signal"] for s in got["signals"]] == [s["signal"] for s in want["signals"]]
    assert got["query"]["words"] == want["query"]["words"]


def test_map_text_is_what_ripmap_prints(client, repo, env):
    out = subprocess.run([sys.executable, "-m", "ripmap.cli", str(repo), "-t", "600", "-f", "loader"],
                         capture_output=True, text=True, check=True, env={**os.environ, **env})
    got = client.post("/api/map", json={"tokens": 600, "focus": "loader"}).json()
    assert got["text"] == out.stdout
    assert 0 < got["tokens"] <= 600 and got["budget"] == 600


def test_search_finds_definitions(client):
    r = client.get("/api/search", params={"q": "Model"}).json()
    assert r["total"] >= 1 and any(h["role"] == "definition" for h in r["hits"])


@pytest.mark.parametrize("body, status, pattern", [
    ({"preset": "nope"}, 400, r"unknown preset 'nope' \(available: default, .*nearby"),
    ({"chat": ["auth/tokn.py"]}, 400, r"no such file .*did you mean auth/token.py"),
    ({"chat": ["../outside.py"]}, 400, r"outside the served root"),
    ({"chat": ["/etc/passwd"]}, 400, r"outside the served root"),
    ({"focus": "x" * (MAX_FOCUS_CHARS + 1)}, 400, r"focus text is .* characters long; at most"),
    ({"params": {"pagerank_alpha": 7}}, 400, r"params: parameter 'pagerank_alpha' = 7 is outside"),
    ({"tokens": 0}, 400, r"tokens must be between 1"),
    ({"focsu": "x"}, 400, r"unknown field\(s\) focsu"),
    ({"path": "auth/nope.py"}, 400, r"not among the mapped files"),
])
def test_bad_input_is_one_line(client, body, status, pattern):
    endpoint = "/api/explain" if "path" in body else "/api/rank"
    r = client.post(endpoint, json=body)
    assert r.status_code == status
    msg = r.json()["error"]
    assert re.search(pattern, msg), msg
    assert "\n" not in msg and "Traceback" not in msg


def test_symlink_out_of_root_is_refused(client, repo, tmp_path):
    (tmp_path / "secret.py").write_text("KEY = 1\n")
    link = repo / "escape"
    link.symlink_to(tmp_path, target_is_directory=True)
    try:
        r = client.post("/api/rank", json={"chat": ["escape/secret.py"]})
        assert r.status_code == 400 and "outside the served root" in r.json()["error"]
    finally:
        link.unlink()


def test_oversized_body_is_refused_before_reading(client):
    r = client.post("/api/rank", content=b'{"focus": "' + b"x" * (1 << 20) + b'"}',
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "bytes" in r.json()["error"]


def test_internal_error_is_one_line_json(live, monkeypatch):
    service = MapService(live)
    monkeypatch.setattr(service, "rank", lambda inp: (_ for _ in ()).throw(ZeroDivisionError("boom\nsecond line")))
    with TestClient(create_app(service, HostPolicy.for_bind("127.0.0.1", PORT)),
                    base_url=f"http://127.0.0.1:{PORT}") as c:
        r = c.post("/api/rank", json={})
    assert r.status_code == 500
    assert r.json()["error"].startswith("internal error: ZeroDivisionError: boom (")
    assert "Traceback" not in r.text and "second line" not in r.text


def test_unknown_api_and_static_paths(client):
    assert client.get("/api/nope").status_code == 404
    assert client.get("/static/../../etc/passwd").status_code == 404
    r = client.get("/static/vendor/cytoscape.LICENSE")
    assert r.status_code == 200 and "Permission is hereby granted" in r.text
    page = client.get("/")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert 'data-testid="file-list"' in page.text and "static/app.js" in page.text


def test_list_map_and_explain_of_one_input_rank_once(live, monkeypatch):
    from ripmap.web.service import Inputs

    service = MapService(live)
    with live.session() as rm:
        calls = []
        real = rm.rank
        monkeypatch.setattr(rm, "rank", lambda *a, **k: calls.append(k.get("focus")) or real(*a, **k))
    inp = Inputs.parse({"focus": "reader parser", "chat": ["app.py"]})
    service.rank(inp)
    service.map(Inputs.parse({"focus": "reader parser", "chat": ["app.py"], "tokens": 500}))
    service.explain(Inputs.parse({"focus": "reader parser", "chat": ["app.py"], "path": "io/reader.py"}))
    assert calls == ["reader parser"]
    service.rank(Inputs.parse({"focus": "reader", "chat": ["app.py"]}))
    service.rank(Inputs.parse({"focus": "reader", "chat": ["app.py"], "preset": TEST_PRESET}))
    assert calls == ["reader parser", "reader", "reader"]


def _live_repo(tmp_path, env, monkeypatch, make=None) -> tuple[Path, LiveRepo]:
    """A served repository and its started LiveRepo (no refresh thread: refreshes are
    driven by the test); ``make`` builds the RepoMap (default: one on the test's cache)."""
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    root = make_served_repo(tmp_path / "r")
    lr = LiveRepo(root, make or (lambda r: RepoMap(r, cache_dir=env["RIPMAP_CACHE_DIR"], progress=False)),
                  refresh_every=0)
    lr.start()
    return root, lr


def test_live_repo_picks_up_a_new_file(tmp_path, env, monkeypatch):
    root, lr = _live_repo(tmp_path, env, monkeypatch)
    try:
        service = MapService(lr)
        assert not lr.refresh() and lr.generation == 0
        commit(root, 200, ["newly_added.py"])
        assert lr.refresh() and lr.generation == 1
        with TestClient(create_app(service, HostPolicy.for_bind("127.0.0.1", PORT)),
                        base_url=f"http://127.0.0.1:{PORT}") as c:
            files = [f["path"] for f in c.post("/api/rank", json={}).json()["files"]]
            assert "newly_added.py" in files
            assert c.get("/api/status").json() == {"generation": 1}
    finally:
        lr.close()


def test_live_repo_patches_an_edit_in_place_into_the_map_a_cold_build_makes(tmp_path, env, monkeypatch):
    made: list[RepoMap] = []

    def make(r):
        made.append(RepoMap(r, cache_dir=env["RIPMAP_CACHE_DIR"], progress=False))
        return made[-1]

    root, lr = _live_repo(tmp_path, env, monkeypatch, make)
    try:
        with lr.session() as rm:
            before = {sf.rel: list(rm.index.tags[sf.rel]) for sf in rm.index.files}
        edited = sorted(before)[0]
        (root / edited).write_text((root / edited).read_text() + "\n\ndef brand_new_helper():\n    return 1\n")

        def no_stamp(self):
            raise AssertionError("a full listing was taken before the refresh's own")

        monkeypatch.setattr(RepoMap, "stamp", no_stamp)  # the probe finds the change
        assert lr.refresh() and lr.generation == 1
        assert not lr.refresh() and lr.generation == 1  # and then finds nothing
        assert len(made) == 1  # the same RepoMap, brought up to date, not a second index
        with lr.session() as rm:
            assert "brand_new_helper" in {t.name for t in rm.index.tags[edited]}
            for f, tags in before.items():
                if f != edited:
                    assert list(rm.index.tags[f]) == tags
            # the patched map equals a map built from scratch on the edited tree
            fresh = RepoMap(root, cache_dir=str(tmp_path / "other-cache"), progress=False)
            assert list(rm.rank().paths[:20]) == list(fresh.rank().paths[:20])
            fresh.close()
    finally:
        lr.close()


def test_live_repo_stores_what_its_map_kept_back_once_it_has_settled(tmp_path, env, monkeypatch):
    import ripmap.api

    _root, lr = _live_repo(tmp_path, env, monkeypatch)
    try:
        with lr.session() as rm:
            assert rm.writes_pending  # the graph and word index built at start are kept back
        monkeypatch.setattr(ripmap.api, "FLUSH_AFTER_S", 3600.0)
        lr.flush_if_settled()
        assert rm.writes_pending  # changed too recently
        monkeypatch.setattr(ripmap.api, "FLUSH_AFTER_S", 0.0)
        lr.flush_if_settled()
        assert not rm.writes_pending
        with lr.session() as rm:
            rm._writer.submit(lambda: None).result()
            assert rm.cache.get_blob(f"lexical3:{rm.index.fingerprint}") is not None
    finally:
        lr.close()


# ------------------------------------------------------------------------- the runs reader

def test_runs_are_listed_by_kind_and_a_broken_one_is_shown_not_fatal(repo):
    d = runs.list_runs(repo)
    by = {(r["folder"], r["name"]): r for f in d["folders"] for r in f["runs"]}
    assert by[("training/runs", "l1-demo")]["kind"] == "l1"
    assert by[("training/runs", "l1-demo")]["count"] == len(L1_TRAIN) - 1
    assert by[("training/runs", "l1-demo")]["best"] == max(L1_TRAIN)
    assert by[("training/runs", "tpe-demo")]["kind"] == "search"
    assert by[("training-outer/runs", "l2-demo")]["kind"] == "outer"
    assert "not valid JSON" in by[("training/runs", "broken-run")]["note"]
    assert [v["version"] for v in d["lineage"]] == [v for v, _, _ in OUTER_STEPS]
    assert d["lineage"][1]["parent"] == "inner_v001"
    assert d["lineage"][1]["runs"] == 1 and d["lineage"][1]["scores"]["best"] == OUTER_STEPS[1][2]


def test_l1_run_detail_has_trajectory_moves_and_reasoning(repo):
    d = runs.run_detail(repo, "training/runs", "l1-demo")
    assert [p["train"] for p in d["progress"]] == list(L1_TRAIN)
    assert [v for _, v in d["params"]["pagerank_alpha"]] == list(L1_ALPHA)
    ep2 = d["episodes"][1]
    assert ep2["applied"][0]["param"] == "pagerank_alpha" and ep2["applied"][0]["to"] == L1_ALPHA[2]
    assert ep2["diagnosis"] == "diagnosis of episode 2" and "Episode 2" in ep2["reasoning"]
    assert d["episodes"][2]["flags"] == ["basin_lock_in"]


def test_outer_steps_in_the_seeds_shape_are_read_too(tmp_path):
    """The outer format is young: a list of steps with other key names still reads."""
    d = tmp_path / "training-outer" / "runs" / "old"
    d.mkdir(parents=True)
    (d / "outer_scratchpad.json").write_text(json.dumps([
        {"step": 1, "promptgram_version": "inner_v001", "final_metrics": {"holdout_ndcg": 0.5, "train_ndcg": 0.6},
         "refused_edits": ["API_contract: not editable"], "diagnosis": "collapse", "proposal": {"free": "text"}},
        "garbage", {"step": "two"}]))
    o = runs.run_detail(tmp_path, "training-outer/runs", "old")
    assert [s["version"] for s in o["steps"]] == ["inner_v001", ""]
    assert o["progress"][0]["train"] == 0.6 and o["progress"][0]["holdout"] == 0.5
    assert o["steps"][0]["refused"] == ["API_contract: not editable"] and o["steps"][0]["diagnostics"] == "collapse"
    assert '"free": "text"' in o["steps"][0]["proposal"]


def test_search_and_outer_details_tolerate_odd_fields(repo):
    s = runs.run_detail(repo, "training/runs", "tpe-demo")
    assert [p["train"] for p in s["progress"]] == [0.5, 0.58, None]
    assert s["progress"][1]["holdout"] is None  # "n/a" is no number
    o = runs.run_detail(repo, "training-outer/runs", "l2-demo")
    assert [st["version"] for st in o["steps"]] == [v for v, _, _ in OUTER_STEPS]
    assert [p["holdout"] for p in o["progress"]] == [m for _, _, m in OUTER_STEPS]
    assert o["steps"][1]["refused"] == ["section 'Output_schema' belongs to the L1 output protocol: replace Output_schema: x"]
    assert o["steps"][1]["diagnostics"] == "basin_lock_in: same parameters for 5 steps"
    assert "step 3 is running with inner_v002" in o["note"]
    assert o["inner_runs"][0]["name"] == "step_001"
    inner = runs.run_detail(repo, o["inner_runs"][0]["folder"], "step_001")
    assert inner["kind"] == "l1" and inner["episodes"] == []


@pytest.mark.parametrize("folder, name", [("training/runs", ".."), ("training/runs", "../../etc"),
                                          ("../training/runs", "l1-demo"), ("/etc", "passwd"),
                                          ("training-outer/runs/../../x/inner_runs", "a")])
def test_run_names_cannot_leave_the_root(client, folder, name):
    r = client.get("/api/run", params={"folder": folder, "name": name})
    assert r.status_code in (400, 404) and "error" in r.json()


def test_unknown_run_is_404_and_a_folder_of_other_files_is_described(client, repo):
    r = client.get("/api/run", params={"folder": "training/runs", "name": "nope"})
    assert r.status_code == 404 and r.json()["error"] == "no run 'nope' in training/runs"
    odd = repo / "training" / "runs" / "notes-only"
    odd.mkdir()
    (odd / "README.txt").write_text("hand-written notes\n")
    d = client.get("/api/run", params={"folder": "training/runs", "name": "notes-only"}).json()
    assert d["kind"] == "unknown" and "README.txt" in d["note"]


# ------------------------------------------------------------------------- static export and the CLI

def test_format_html_is_one_self_contained_page(repo, env):
    out = subprocess.run([sys.executable, "-m", "ripmap.cli", str(repo), "--format", "html", "-f", "token"],
                         capture_output=True, text=True, check=True, env={**os.environ, **env})
    page = out.stdout
    assert page.startswith("<!doctype html>")
    assert "default-src 'none'" in page  # the page may fetch nothing at all
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=(?!["']?data:)""", page)
    data = json.loads(re.search(r'<script type="application/json" id="ripmap-data">(.*?)</script>', page, re.S).group(1))
    want = [f["path"] for f in ripmap_json(repo, "-f", "token", env=env)["files"]]
    assert [f["path"] for f in data["ranking"]["files"]] == want
    assert set(data["explains"]) == set(want[:data["explain_top"]])
    assert data["focus"] == "token" and data["map"]["tokens"] > 0
    assert "Permission is hereby granted" in page or "Cytoscape Consortium" in page  # the licence header travels along


def test_html_export_survives_a_path_that_closes_a_script(tmp_path, env):
    root = tmp_path / "r"
    (root / "x<").mkdir(parents=True)
    (root / "x<" / "script>.py").write_text("def evil():\n    return 1\n")
    (root / "main.py").write_text("from x import evil\nevil()\n")
    out = subprocess.run([sys.executable, "-m", "ripmap.cli", str(root), "--format", "html", "--no-git"],
                         capture_output=True, text=True, check=True, env={**os.environ, **env})
    blocks = re.findall(r'<script type="application/json" id="ripmap-data">(.*?)</script>', out.stdout, re.S)
    assert len(blocks) == 1
    assert "x</script>.py" in [f["path"] for f in json.loads(blocks[0])["ranking"]["files"]]


def test_join_with_html_is_a_usage_error(repo, env):
    out = subprocess.run([sys.executable, "-m", "ripmap.cli", str(repo), "--format", "html", "--join"],
                         capture_output=True, text=True, env={**os.environ, **env})
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "--join" in out.stderr


def test_serve_refuses_remote_host_without_flag(repo, env):
    out = subprocess.run([sys.executable, "-m", "ripmap.cli", "serve", str(repo), "--host", "0.0.0.0"],
                         capture_output=True, text=True, env={**os.environ, **env}, timeout=60)
    assert out.returncode == 2 and "--allow-remote" in out.stderr and out.stderr.count("\n") == 1


def test_serve_port_in_use_is_one_line(repo, env):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "ripmap.cli", "serve", str(repo), "--port", str(port)],
                             capture_output=True, text=True, env={**os.environ, **env}, timeout=60)
    assert out.returncode == 2 and "already in use" in out.stderr and out.stderr.count("\n") == 1


def test_layout_is_deterministic_and_spreads_nodes():
    import numpy as np

    paths = [f"pkg/m{i}.py" for i in range(30)]
    rows, cols = np.arange(29), np.arange(1, 30)
    a = force_layout(paths, rows, cols, np.ones(29))
    assert np.array_equal(a, force_layout(paths, rows, cols, np.ones(29)))
    d = np.sqrt(((a[:, None] - a[None]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    assert d.min() > 10  # no two files drawn on top of each other
    linked = np.mean([d[i, i + 1] for i in range(29)])
    assert linked < np.median(d[np.isfinite(d)])  # referenced files are drawn nearer than most pairs


def test_colour_groups_skip_src_and_keep_two_levels():
    assert group_of("src/ripmap/render/html.py") == "ripmap/render"
    assert group_of("mypy/server/update.py") == "mypy/server"
    assert group_of("setup.py") == "."
