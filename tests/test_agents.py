"""Agents for the L1 loop: CLI and HTTP wire formats, retries, the reply store, the heuristic.

The CLIs are fakes written into a temporary directory put first on PATH; each checks
the arguments it receives (and fails loudly, exit 3, when a flag is wrong, missing or
dangerous without being asked for), logs its argv, and answers in the real CLI's
output format. The HTTP agents talk to a local server speaking the OpenAI and Anthropic
wire formats. Back-off sleeps are injected, so nothing here waits for real.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from explained import explanation_rows
from ripmap.errors import RipmapError, UsageError
from ripmap.rank.params import DEFAULT, NAMES, SPECS
from ripmap.train.agents import (AgentReply, HeuristicAgent, RecordingAgent, ReplayAgent, ReplyStore,
                                 make_agent, prompt_key)
from ripmap.train.agents.cli_agents import CLI_FLAGS, build_argv

# ------------------------------------------------------------------------------------------
# fake CLIs
# ------------------------------------------------------------------------------------------

FAKE_COMMON = r'''#!/usr/bin/env python3
import hashlib, json, os, sys, time

NAME = "{name}"
argv = sys.argv[1:]


def die(msg):
    sys.stderr.write(NAME + " (fake): " + msg + "\n")
    sys.exit(3)


def value_after(flag):
    if flag not in argv:
        return None
    i = argv.index(flag)
    if i + 1 >= len(argv):
        die("missing value after " + flag)
    return argv[i + 1]


log = os.environ.get("FAKE_LOG")
if log:
    with open(log, "a") as fh:
        fh.write(json.dumps(argv) + "\n")

expect_dangerous = os.environ.get("FAKE_EXPECT_DANGEROUS") == "1"
expect_agentic = os.environ.get("FAKE_EXPECT_AGENTIC")  # the run folder, when agentic
expect_model = os.environ.get("FAKE_EXPECT_MODEL")


def reply_for(prompt):
    h = hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]
    return NAME + " reply to " + h + " (" + str(len(prompt)) + " chars)\nJSON: {{\"ok\": true}}"


def behave():
    mode = os.environ.get("FAKE_MODE", "ok")
    if mode == "fail":
        sys.stderr.write("boom: the model is overloaded\n")
        sys.exit(7)
    if mode == "hang":
        time.sleep(30)
    if mode == "flaky":
        state = os.environ["FAKE_STATE"]
        n = int(open(state).read()) if os.path.exists(state) else 0
        open(state, "w").write(str(n + 1))
        if n == 0:
            sys.stderr.write("transient failure\n")
            sys.exit(1)
    if mode == "empty":
        sys.exit(0)
'''

FAKE_CLAUDE = FAKE_COMMON + r'''
if "--print" not in argv:
    die("not in print mode: --print missing")
dangerous = "--permission-mode" in argv or "--dangerously-skip-permissions" in argv
if dangerous and not expect_dangerous:
    die("dangerous flag without being asked for")
if expect_dangerous and value_after("--permission-mode") != "bypassPermissions":
    die("expected --permission-mode bypassPermissions")
if expect_agentic:
    if value_after("--tools") != "Read,Glob,Grep":
        die("agentic mode needs --tools Read,Glob,Grep")
    if value_after("--add-dir") != expect_agentic:
        die("agentic mode needs --add-dir RUN_DIR")
elif "--tools" in argv or "--add-dir" in argv:
    die("tools given without agentic mode")
if expect_model and value_after("--model") != expect_model:
    die("expected --model " + expect_model)
if "-p" in argv:
    i = argv.index("-p")
    if i != len(argv) - 2:
        die("the prompt must directly follow -p as the last argument")
    prompt = argv[-1]
else:
    prompt = sys.stdin.read()
if not prompt:
    die("no prompt")
behave()
sys.stdout.write(reply_for(prompt) + "\n")
'''

FAKE_GEMINI = FAKE_COMMON + r'''
if value_after("-o") != "text" and value_after("--output-format") != "text":
    die("expected -o text")
p = value_after("-p")
if p is None:
    die("not headless: -p missing")
if argv.index("-p") != len(argv) - 2:
    die("-p PROMPT must come last")
dangerous = "--yolo" in argv or "-y" in argv
if dangerous and not expect_dangerous:
    die("--yolo without being asked for")
if expect_dangerous and not dangerous:
    die("expected --yolo")
if expect_agentic:
    if value_after("--include-directories") != expect_agentic:
        die("agentic mode needs --include-directories RUN_DIR")
elif "--include-directories" in argv:
    die("directories given without agentic mode")
if expect_model and value_after("-m") != expect_model:
    die("expected -m " + expect_model)
piped = sys.stdin.read()
prompt = piped + "\n" + p if piped else p
behave()
sys.stdout.write(reply_for(prompt) + "\n")
'''

FAKE_CODEX = FAKE_COMMON + r'''
if not argv or argv[0] != "exec":
    die("expected the exec subcommand")
if "--skip-git-repo-check" not in argv:
    die("--skip-git-repo-check missing")
out = value_after("-o") or value_after("--output-last-message")
if out is None:
    die("-o FILE missing")
if argv[-1] != "-":
    die("expected the prompt on stdin (last argument -)")
dangerous = "--dangerously-bypass-approvals-and-sandbox" in argv or "--yolo" in argv
if dangerous and not expect_dangerous:
    die("sandbox bypass without being asked for")
if expect_dangerous and not dangerous:
    die("expected --dangerously-bypass-approvals-and-sandbox")
if not dangerous and value_after("--sandbox") != "read-only":
    die("expected --sandbox read-only")
if expect_agentic:
    if value_after("-C") != expect_agentic:
        die("agentic mode needs -C RUN_DIR")
elif "-C" in argv:
    die("-C given without agentic mode")
if expect_model and value_after("-m") != expect_model:
    die("expected -m " + expect_model)
prompt = sys.stdin.read()
if not prompt:
    die("no prompt on stdin")
behave()
sys.stderr.write("[codex] workdir: .\n[codex] model thinking...\n")
sys.stdout.write("codex: exec session started\ntokens used: 1234\n")
with open(out, "w") as fh:
    fh.write(reply_for(prompt))
'''

FAKES = {"claude": FAKE_CLAUDE, "gemini": FAKE_GEMINI, "codex": FAKE_CODEX}


def fake_reply(name: str, prompt: str) -> str:
    return f"{name} reply to {hashlib.sha256(prompt.encode()).hexdigest()[:16]} ({len(prompt)} chars)\nJSON: {{\"ok\": true}}"


@pytest.fixture
def fake_bin(tmp_path, monkeypatch):
    """A bin dir with fake claude/gemini/codex first on PATH; returns a helper namespace."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name, src in FAKES.items():
        p = bindir / name
        p.write_text(src.format(name=name))
        p.chmod(p.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    # python3 must resolve for the shebang even if PATH is otherwise minimal
    py_dir = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", os.pathsep.join([str(bindir), py_dir, os.environ.get("PATH", "")]))
    log = tmp_path / "argv.log"
    monkeypatch.setenv("FAKE_LOG", str(log))
    for var in ("FAKE_MODE", "FAKE_EXPECT_DANGEROUS", "FAKE_EXPECT_AGENTIC", "FAKE_EXPECT_MODEL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FAKE_STATE", str(tmp_path / "state"))

    class Fake:
        dir = bindir

        @staticmethod
        def calls() -> list[list[str]]:
            return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    return Fake


class Sleeps(list):
    """An injected sleep that records the back-off instead of waiting."""

    def __call__(self, s: float) -> None:
        self.append(s)


PROMPT = "# Role\nYou tune ripmap.\n\nFailures:\n- case 1: expected a.py, got b.py\n"


@pytest.mark.parametrize("name", ["claude", "gemini", "codex"])
def test_cli_reply_round_trips(fake_bin, name):
    agent = make_agent(name, retries=0)
    assert agent.name == name
    r = agent.propose(PROMPT)
    assert r.error is None, r.error
    assert r.text == fake_reply(name, PROMPT)
    assert r.attempts == 1 and r.latency_s > 0
    (argv,) = fake_bin.calls()
    assert "--permission-mode" not in argv and "--yolo" not in argv
    assert "--dangerously-bypass-approvals-and-sandbox" not in argv


def test_cli_exact_argument_lists(tmp_path):
    run = tmp_path / "run"
    out = tmp_path / "out.txt"
    kw = dict(model="M", agentic=False, run_dir=None, allow_dangerous=False, outfile=out)
    assert build_argv(CLI_FLAGS["claude"], "claude", "P", **kw) == (["claude", "--print", "--model", "M", "-p", "P"], None)
    assert build_argv(CLI_FLAGS["gemini"], "gemini", "P", **kw) == (["gemini", "-o", "text", "-m", "M", "-p", "P"], None)
    assert build_argv(CLI_FLAGS["codex"], "codex", "P", **kw) == (
        ["codex", "exec", "--skip-git-repo-check", "-m", "M", "--sandbox", "read-only", "-o", str(out), "-"], "P")
    kw.update(agentic=True, run_dir=run, allow_dangerous=True, model=None)
    assert build_argv(CLI_FLAGS["claude"], "claude", "P", **kw)[0] == [
        "claude", "--print", "--tools", "Read,Glob,Grep", "--add-dir", str(run),
        "--permission-mode", "bypassPermissions", "-p", "P"]
    assert build_argv(CLI_FLAGS["gemini"], "gemini", "P", **kw)[0] == [
        "gemini", "-o", "text", "--include-directories", str(run), "--yolo", "-p", "P"]
    assert build_argv(CLI_FLAGS["codex"], "codex", "P", **kw)[0] == [
        "codex", "exec", "--skip-git-repo-check", "-C", str(run), "--dangerously-bypass-approvals-and-sandbox",
        "-o", str(out), "-"]


@pytest.mark.parametrize("name", ["claude", "gemini", "codex"])
def test_cli_agentic_dangerous_and_model(fake_bin, monkeypatch, tmp_path, name):
    run = tmp_path / "run"
    run.mkdir()
    monkeypatch.setenv("FAKE_EXPECT_AGENTIC", str(run))
    monkeypatch.setenv("FAKE_EXPECT_DANGEROUS", "1")
    monkeypatch.setenv("FAKE_EXPECT_MODEL", "big-model")
    agent = make_agent(name, model="big-model", agentic=True, run_dir=run, allow_dangerous=True, retries=0)
    r = agent.propose(PROMPT)
    assert r.error is None, r.error
    assert r.text == fake_reply(name, PROMPT)


@pytest.mark.parametrize("name", ["claude", "gemini", "codex"])
def test_cli_fakes_reject_missing_agentic_flags(fake_bin, monkeypatch, tmp_path, name):
    """The fakes really check: agentic expected, but the agent was built without it → exit 3."""
    monkeypatch.setenv("FAKE_EXPECT_AGENTIC", str(tmp_path))
    r = make_agent(name, retries=0).propose(PROMPT)
    assert r.error is not None and "exited with status 3" in r.error and "agentic" in r.error


def test_agentic_without_run_dir_is_a_usage_error(fake_bin):
    with pytest.raises(UsageError, match="run folder"):
        make_agent("claude", agentic=True)


@pytest.mark.parametrize("name", ["claude", "codex"])
def test_cli_long_prompt_goes_through_stdin(fake_bin, name):
    prompt = "x" * 200_000 + "\nanswer please"
    r = make_agent(name, retries=0).propose(prompt)
    assert r.error is None, r.error
    assert r.text == fake_reply(name, prompt)
    (argv,) = fake_bin.calls()
    assert all(len(a) < 1000 for a in argv)


def test_gemini_long_prompt_goes_through_stdin_with_a_note(fake_bin):
    prompt = "- starts with a dash, which would parse as an option"
    r = make_agent("gemini", retries=0).propose(prompt)
    assert r.error is None, r.error
    (argv,) = fake_bin.calls()
    note = argv[argv.index("-p") + 1]
    assert note != prompt
    assert r.text == fake_reply("gemini", prompt + "\n" + note)


def test_cli_nonzero_exit_retries_with_backoff_then_reports(fake_bin, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", "fail")
    sleeps = Sleeps()
    r = make_agent("claude", retries=2, sleep=sleeps).propose(PROMPT)
    assert r.error is not None
    assert "exited with status 7" in r.error and "boom" in r.error and "3 attempts" in r.error
    assert r.attempts == 3 and r.text == ""
    assert sleeps == [1.0, 2.0]
    assert len(fake_bin.calls()) == 3


def test_cli_transient_failure_is_retried(fake_bin, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", "flaky")
    sleeps = Sleeps()
    r = make_agent("gemini", retries=2, sleep=sleeps).propose(PROMPT)
    assert r.error is None and r.attempts == 2 and sleeps == [1.0]
    assert r.text == fake_reply("gemini", PROMPT)


def test_cli_empty_reply_is_an_error(fake_bin, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", "empty")
    r = make_agent("claude", retries=0).propose(PROMPT)
    assert r.error is not None and "empty" in r.error


def test_cli_hang_times_out(fake_bin, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", "hang")
    t0 = time.perf_counter()
    sleeps = Sleeps()
    r = make_agent("codex", timeout=0.5, retries=1, sleep=sleeps).propose(PROMPT)
    assert time.perf_counter() - t0 < 10
    assert r.error is not None and "timed out after 0.5 s" in r.error and r.attempts == 2
    assert sleeps == [1.0]


@pytest.mark.parametrize("name", ["claude", "gemini", "codex"])
def test_missing_executable_is_a_clear_error(tmp_path, monkeypatch, name):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RipmapError) as ei:
        make_agent(name)
    msg = str(ei.value)
    assert msg.startswith(f"{name}: command not found on PATH (") and "--agent heuristic" in msg
    assert "\n" not in msg


def test_unknown_agent_lists_the_choices():
    with pytest.raises(UsageError) as ei:
        make_agent("gpt5")
    for known in ("heuristic", "claude", "gemini", "codex", "openai:MODEL", "anthropic:MODEL"):
        assert known in str(ei.value)
    with pytest.raises(UsageError, match="needs a model"):
        make_agent("openai:")


# ------------------------------------------------------------------------------------------
# HTTP agents against a local server
# ------------------------------------------------------------------------------------------

class _Server:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.closed = False
        self.script: deque = deque()  # (status, body dict|str, delay_s, headers) consumed per request
        srv = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # keep test output clean
                pass

            def do_POST(self):  # noqa: N802
                n = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(n)
                srv.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                     "body": json.loads(raw or b"{}")})
                status, body, delay, extra = srv.script.popleft() if srv.script else (200, None, 0.0, {})
                if delay:
                    time.sleep(delay)
                if body is None:
                    body = srv.default_body(self.path)
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for k, v in extra.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def default_body(self, path: str) -> dict:
        if path.endswith("/chat/completions"):
            return {"id": "x", "object": "chat.completion",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "REASONING: ok\nJSON: {}"},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}}
        if path.endswith("/v1/messages"):
            return {"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
                    "content": [{"type": "text", "text": "REASONING: first part. "},
                                {"type": "tool_use", "id": "t", "name": "x", "input": {}},
                                {"type": "text", "text": "JSON: {}"}],
                    "stop_reason": "end_turn", "usage": {"input_tokens": 21, "output_tokens": 9}}
        return {"error": {"message": f"no route {path}"}}

    def then(self, status: int, body=None, delay: float = 0.0, headers: dict | None = None) -> "_Server":
        self.script.append((status, body, delay, headers or {}))
        return self

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.httpd.shutdown()
            self.httpd.server_close()


@pytest.fixture
def server(monkeypatch):
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
                "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    s = _Server()
    yield s
    s.close()


def test_openai_wire_format_without_key(server):
    agent = make_agent("openai:local-model", base_url=server.url + "/v1", retries=0)
    r = agent.propose(PROMPT)
    assert r.error is None, r.error
    assert r.text == "REASONING: ok\nJSON: {}" and (r.tokens_in, r.tokens_out) == (11, 7)
    (req,) = server.requests
    assert req["path"] == "/v1/chat/completions"
    assert "authorization" not in req["headers"]  # local servers need none
    assert req["body"] == {"model": "local-model", "messages": [{"role": "user", "content": PROMPT}], "temperature": 0}


def test_openai_bearer_when_key_set_and_base_url_from_env(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-abcdef123456")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1/")
    r = make_agent("openai:gpt-test", retries=0).propose(PROMPT)
    assert r.error is None, r.error
    assert server.requests[0]["headers"]["authorization"] == "Bearer sk-test-abcdef123456"
    assert server.requests[0]["path"] == "/v1/chat/completions"


def test_anthropic_wire_format_and_key_never_stored(server, monkeypatch, tmp_path):
    key = "sk-ant-SECRET-0123456789abcdef"
    monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    store = ReplyStore(tmp_path / "run")
    agent = RecordingAgent(make_agent("anthropic:claude-test", base_url=server.url, retries=0), store)
    assert agent.name == "anthropic" and key not in repr(agent.inner)
    r = agent.propose(PROMPT)
    assert r.error is None, r.error
    assert r.text == "REASONING: first part. JSON: {}" and (r.tokens_in, r.tokens_out) == (21, 9)
    (req,) = server.requests
    assert req["path"] == "/v1/messages"
    assert req["headers"]["x-api-key"] == key and req["headers"]["anthropic-version"] == "2023-06-01"
    assert req["body"] == {"model": "claude-test", "max_tokens": 4096, "messages": [{"role": "user", "content": PROMPT}]}
    # a server that echoes the key in its error body must not get it into the store either
    server.then(401, {"error": {"type": "authentication_error", "message": f"invalid x-api-key {key}"}})
    bad = agent.propose(PROMPT + " again")
    assert bad.error is not None and "HTTP 401" in bad.error and key not in bad.error and bad.attempts == 1
    text = (tmp_path / "run" / "replies.jsonl").read_text()
    assert key not in text and "[redacted]" in text
    assert len(text.splitlines()) == 2


def test_anthropic_missing_key_is_a_config_error(server):
    with pytest.raises(RipmapError, match="ANTHROPIC_API_KEY"):
        make_agent("anthropic:claude-test", base_url=server.url)


def test_http_500_then_200_is_retried(server):
    server.then(500, {"error": {"message": "internal"}})
    sleeps = Sleeps()
    r = make_agent("openai:m", base_url=server.url + "/v1", retries=2, sleep=sleeps).propose(PROMPT)
    assert r.error is None and r.attempts == 2 and sleeps == [1.0]
    assert r.text == "REASONING: ok\nJSON: {}"


def test_http_persistent_500_sets_error(server):
    for _ in range(3):
        server.then(503, {"error": {"message": "overloaded"}})
    sleeps = Sleeps()
    r = make_agent("openai:m", base_url=server.url + "/v1", retries=2, sleep=sleeps).propose(PROMPT)
    assert r.error is not None and "HTTP 503" in r.error and "overloaded" in r.error
    assert r.attempts == 3 and r.text == "" and sleeps == [1.0, 2.0]


def test_http_429_honours_retry_after(server):
    server.then(429, {"error": {"message": "rate limited"}}, headers={"retry-after": "7"})
    sleeps = Sleeps()
    r = make_agent("openai:m", base_url=server.url + "/v1", retries=1, sleep=sleeps).propose(PROMPT)
    assert r.error is None and r.attempts == 2 and sleeps == [7.0]


def test_http_400_is_not_retried(server):
    server.then(404, {"error": {"message": "model not found"}})
    r = make_agent("openai:nope", base_url=server.url + "/v1", retries=2, sleep=Sleeps()).propose(PROMPT)
    assert r.attempts == 1 and "HTTP 404" in r.error and "model not found" in r.error


def test_http_timeout_sets_error(server):
    server.then(200, None, delay=1.5).then(200, None, delay=1.5)
    t0 = time.perf_counter()
    r = make_agent("openai:m", base_url=server.url + "/v1", timeout=0.2, retries=1, sleep=Sleeps()).propose(PROMPT)
    assert time.perf_counter() - t0 < 3
    assert r.error is not None and "within 0.2 s" in r.error and r.attempts == 2


def test_http_connection_error_is_retried_then_reported(server):
    url = server.url
    server.close()
    sleeps = Sleeps()
    r = make_agent("openai:m", base_url=url + "/v1", retries=1, sleep=sleeps, timeout=2).propose(PROMPT)
    assert r.error is not None and "cannot reach" in r.error and r.attempts == 2 and sleeps == [1.0]


# ------------------------------------------------------------------------------------------
# store, recording, replay
# ------------------------------------------------------------------------------------------

class CountingAgent:
    """Answers differently every call, so replay order is observable."""

    name = "counting"

    def __init__(self) -> None:
        self.n = 0

    def propose(self, prompt: str, context: dict | None = None) -> AgentReply:
        self.n += 1
        return AgentReply(text=f"answer {self.n} to {prompt}", latency_s=0.01 * self.n, tokens_in=self.n,
                          tokens_out=2 * self.n)


def test_record_then_replay_is_identical(tmp_path):
    run = tmp_path / "run"
    rec = RecordingAgent(CountingAgent(), ReplyStore(run))
    assert rec.name == "counting"
    prompts = ["p1", "p2", "p1", "p3"]
    originals = [rec.propose(p) for p in prompts]
    lines = [json.loads(line) for line in (run / "replies.jsonl").read_text().splitlines()]
    assert len(lines) == 4
    assert set(lines[0]) == {"key", "agent", "text", "latency_s", "attempts", "tokens_in", "tokens_out", "error"}
    assert lines[0]["key"] == hashlib.sha256(b"p1").hexdigest() == prompt_key("p1")
    replay = ReplayAgent(ReplyStore(run))  # a fresh store reads the file
    assert replay.name == "counting"
    replayed = [replay.propose(p) for p in prompts]
    assert [r.text for r in replayed] == [r.text for r in originals]
    assert replayed == originals
    assert ReplyStore(run).get("p1").text == "answer 3 to p1"  # newest
    with pytest.raises(RipmapError, match=r"replay: no stored reply for this prompt \(the run diverged at call 5"):
        replay.propose("never asked", {"episode": 4})


def test_store_skips_a_torn_line(tmp_path):
    store = ReplyStore(tmp_path)
    store.put("a", "x", AgentReply("A", 0.1))
    with (tmp_path / "replies.jsonl").open("a") as fh:
        fh.write('{"key": "trunc')
    assert ReplyStore(tmp_path).get("a").text == "A"
    assert ReplyStore(tmp_path).get("b") is None


def test_failed_replies_are_recorded_and_replayed(tmp_path, fake_bin, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", "fail")
    store = ReplyStore(tmp_path / "run")
    rec = RecordingAgent(make_agent("claude", retries=0), store)
    bad = rec.propose(PROMPT)
    assert bad.error
    again = ReplayAgent(ReplyStore(tmp_path / "run")).propose(PROMPT)
    assert again.error == bad.error and again.text == ""


# ------------------------------------------------------------------------------------------
# heuristic agent
# ------------------------------------------------------------------------------------------

def _failure(params: dict, files, i: int, classes: dict | None = None) -> dict:
    rows = explanation_rows(params, files, classes)
    return {"repo": "demo", "file_count": 120, "commit": f"{i:040x}", "message": f"fix bug {i}", "intent": "fix",
            "seed_file": "src/app/seed.py", "expected_top": [p for p, e, _ in files if e],
            "actual_top": [r["path"] for r in sorted(rows, key=lambda r: r["rank"])], "ndcg": 0.2 + 0.01 * i,
            "explanations": rows}


def lexical_context(trajectory=None, episode: int = 3) -> dict:
    params = DEFAULT.to_dict()
    params.update(boost_temporal_coupling=0.5, boost_lexical=8.0)
    failures = []
    for i in range(4):  # wrong files ride on lexical; the expected files co-change with the seed
        failures.append(_failure(params, [
            (f"src/app/expected_{i}.py", True, {"structure": 0.2, "cochange": 0.8, "lexical": 0.1}),
            (f"src/app/sibling_{i}.py", True, {"structure": 0.1, "cochange": 0.6, "lexical": 0.2}),
            (f"src/app/lexical_twin_{i}.py", False, {"structure": 0.3, "cochange": 0.0, "lexical": 0.9}),
            (f"src/app/name_alike_{i}.py", False, {"structure": 0.2, "cochange": 0.05, "lexical": 0.7}),
        ], i))
    # a fifth failure that points elsewhere: structure lifts the wrong file
    failures.append(_failure(params, [
        ("src/app/quiet.py", True, {"structure": 0.05, "cochange": 0.1, "lexical": 0.3}),
        ("src/app/hub.py", False, {"structure": 1.0, "cochange": 0.0, "lexical": 0.3}),
    ], 4))
    bounds = {p.name: [p.low, p.high, p.scale] for p in SPECS.values()}
    return {"params": params, "bounds": bounds, "ndcg": 0.41, "best_ndcg": 0.42, "episode": episode,
            "trajectory": trajectory or [], "failures": failures}


def parse_reply(text: str) -> tuple[str, dict]:
    assert text.startswith("REASONING:")
    reasoning, _, js = text.partition("JSON:")
    return reasoning, json.loads(js)


def check_protocol(answer: dict) -> None:
    assert set(answer) == {"strategy_capsule", "diagnosis", "param_interactions", "proposed_changes",
                           "structural_insights", "confidence"}
    assert isinstance(answer["strategy_capsule"], str) and "\n" not in answer["strategy_capsule"]
    assert isinstance(answer["param_interactions"], list) and isinstance(answer["structural_insights"], list)
    assert 0.2 <= answer["confidence"] <= 0.9
    for name, change in answer["proposed_changes"].items():
        assert name in NAMES
        direction, magnitude, rationale = change
        assert direction in ("increase", "decrease") and magnitude in ("small", "medium", "large")
        assert isinstance(rationale, str) and rationale


def test_heuristic_shifts_weight_from_lexical_to_cochange():
    r = HeuristicAgent().propose("(the prompt text is not parsed)", lexical_context())
    assert r.error is None
    reasoning, answer = parse_reply(r.text)
    check_protocol(answer)
    changes = answer["proposed_changes"]
    assert changes.get("boost_lexical", [None])[0] == "decrease" \
        or changes.get("boost_temporal_coupling", [None])[0] == "increase"
    assert changes["boost_lexical"][0] == "decrease" and changes["boost_temporal_coupling"][0] == "increase"
    assert "In 4 of 5 failures" in reasoning or "in 4 of 5 failures" in reasoning
    assert re.search(r"\d+% of their score from lexical", reasoning)
    assert re.search(r"mean value \d\.\d\d vs \d\.\d\d", reasoning)
    assert 0.5 <= answer["confidence"] <= 0.9


def test_heuristic_is_deterministic():
    a = HeuristicAgent().propose("p", lexical_context()).text
    b = HeuristicAgent().propose("p", lexical_context()).text
    assert a == b


def test_heuristic_reverts_a_change_that_lowered_ndcg():
    traj = [{"episode": 1, "ndcg_before": 0.40, "ndcg_after": 0.41, "applied": {"boost_focus_expansion": ["decrease", "small"]}},
            {"episode": 2, "ndcg_before": 0.41, "ndcg_after": 0.37,
             "applied": {"boost_temporal_coupling": ["increase", "large"]}}]
    _r, answer = parse_reply(HeuristicAgent().propose("p", lexical_context(traj, episode=3)).text)
    check_protocol(answer)
    change = answer["proposed_changes"]["boost_temporal_coupling"]
    assert change[:2] == ["decrease", "large"] and change[2].startswith("revert")
    assert "0.4100" in change[2] and "0.3700" in change[2]
    # next episode, after the revert: the harmful move is not proposed again
    traj.append({"episode": 3, "ndcg_before": 0.37, "ndcg_after": 0.41,
                 "applied": {"boost_temporal_coupling": ["decrease", "large"]}})
    _r, answer = parse_reply(HeuristicAgent().propose("p", lexical_context(traj, episode=4)).text)
    check_protocol(answer)
    assert answer["proposed_changes"].get("boost_temporal_coupling", ["?"])[0] != "increase"
    assert answer["proposed_changes"]["boost_lexical"][0] == "decrease"
    assert any("not re-proposing increase boost_temporal_coupling" in s for s in answer["structural_insights"])


def test_heuristic_explores_on_a_plateau():
    traj = [{"episode": e, "ndcg_before": 0.41, "ndcg_after": 0.4105, "applied": {"boost_lexical": ["decrease", "small"]}}
            for e in (1, 2, 3)]
    reasoning, answer = parse_reply(HeuristicAgent().propose("p", lexical_context(traj, episode=4)).text)
    check_protocol(answer)
    assert "plateau" in reasoning
    # the evidence still points the same way in every failure: keep going, but with a
    # large step, since small ones did not swap any ranks
    lex = answer["proposed_changes"].get("boost_lexical")
    assert lex is None or lex[:2] == ["decrease", "large"]
    explored = [k for k, v in answer["proposed_changes"].items() if "has not been touched recently" in v[2]]
    assert len(explored) == 1 and explored[0] != "boost_lexical"
    # deterministic rotation: another episode number explores another parameter
    _r, other = parse_reply(HeuristicAgent().propose("p", lexical_context(traj, episode=5)).text)
    explored2 = [k for k, v in other["proposed_changes"].items() if "has not been touched recently" in v[2]]
    assert explored2 and explored2 != explored


def test_heuristic_depth_prior():
    params = DEFAULT.to_dict()
    files_fn = lambda i: [  # noqa: E731
        (f"src/a/b/c/d/e/deep_{i}.py", True, {"structure": 0.5, "cochange": 0.5, "lexical": 0.5, "depth": 0.7}),
        (f"top_{i}.py", False, {"structure": 0.5, "cochange": 0.5, "lexical": 0.5, "depth": 3.0}),
    ]
    ctx = {"params": params, "ndcg": 0.3, "best_ndcg": 0.3, "episode": 1, "trajectory": [],
           "failures": [_failure(params, files_fn(i), i) for i in range(3)]}
    _r, answer = parse_reply(HeuristicAgent().propose("p", ctx).text)
    check_protocol(answer)
    assert answer["proposed_changes"]["depth_weight_root"][0] == "decrease"


def test_heuristic_without_failures_proposes_nothing():
    ctx = lexical_context()
    ctx["failures"] = []
    reasoning, answer = parse_reply(HeuristicAgent().propose("p", ctx).text)
    check_protocol(answer)
    assert answer["proposed_changes"] == {}
    assert "no failures" in answer["diagnosis"] and answer["confidence"] == 0.2


def test_heuristic_without_context_reports_an_error():
    r = HeuristicAgent().propose("free text only")
    assert r.error and "context" in r.error and r.text == ""


def distill_context() -> dict:
    base = DEFAULT.to_dict()

    def pt(t, h, **kw):
        return {"params": {**base, **kw}, "train_ndcg": t, "holdout_ndcg": h}

    def ep(i, before, after, b, a):
        return {"episode": i, "params_before": {**base, **b}, "params_after": {**base, **a},
                "ndcg_before": before, "ndcg_after": after}

    episodes = [
        ep(1, 0.40, 0.43, {"boost_temporal_coupling": 10.0}, {"boost_temporal_coupling": 20.0}),
        ep(2, 0.43, 0.41, {"boost_lexical": 4.0}, {"boost_lexical": 8.0}),
        ep(3, 0.41, 0.44, {"boost_temporal_coupling": 20.0}, {"boost_temporal_coupling": 40.0}),
        ep(4, 0.44, 0.42, {"boost_lexical": 4.0}, {"boost_lexical": 6.0}),
    ]
    points = [pt(0.47, 0.44, boost_temporal_coupling=40.0, pagerank_alpha=0.7),
              pt(0.45, 0.43, boost_temporal_coupling=20.0, pagerank_alpha=0.75),
              pt(0.44, 0.42, boost_temporal_coupling=30.0, pagerank_alpha=0.8),
              pt(0.40, 0.38, boost_temporal_coupling=100.0, pagerank_alpha=0.98)]
    return {"task": "distill", "episodes": episodes, "best_points": points,
            "interactions": ["boost_lexical and boost_temporal_coupling compete"], "insights": ["co-change matters"]}


def test_heuristic_distill():
    r = HeuristicAgent().propose("distill", distill_context())
    assert r.error is None
    assert "JSON:" in r.text
    data = json.loads(r.text.partition("JSON:")[2])
    assert set(data) == {"presets", "heuristics", "warnings", "intuitions"}
    assert {"tuned_best", "tuned_robust"} <= set(data["presets"])
    for preset in data["presets"].values():
        assert preset["description"] and preset["when_to_use"]
        for k, v in preset["params"].items():
            assert k in SPECS and SPECS[k].low <= v <= SPECS[k].high
    assert data["presets"]["tuned_best"]["params"]["boost_temporal_coupling"] == 40.0
    assert any("increase boost_temporal_coupling" in h and h.startswith("if ") for h in data["heuristics"])
    assert any(w.startswith("⚠") and "increase boost_lexical" in w for w in data["warnings"])
    assert all(w.startswith("⚠") for w in data["warnings"])
    assert "co-change matters" in data["intuitions"]
    assert HeuristicAgent().propose("distill", distill_context()).text == r.text


def test_heuristic_explores_instead_of_stalling_when_evidence_disagrees():
    """Failures that pull in opposite directions give no consistent signal: rather than
    hold forever, the agent takes exactly one sideways step on an untouched parameter."""
    params = DEFAULT.to_dict()
    # half the failures want more lexical, half want less: no agreement
    failures = [_lexical_split(params, i, *((0.9, 0.1) if i % 2 else (0.1, 0.9))) for i in range(4)]
    bounds = {p.name: [p.low, p.high, p.scale] for p in SPECS.values()}
    ctx = {"params": params, "bounds": bounds, "ndcg": 0.4, "best_ndcg": 0.4, "episode": 7,
           "trajectory": [], "failures": failures}
    reasoning, answer = parse_reply(HeuristicAgent().propose("p", ctx).text)
    check_protocol(answer)
    explored = [k for k, v in answer["proposed_changes"].items() if "agree on no signal" in v[2]]
    assert len(explored) == 1
    assert answer["confidence"] >= 0.3  # above the default --min-confidence, so it is applied
    assert "explored" in reasoning


def test_heuristic_names_the_failure_kinds():
    """Each failure's kind (the signal in which its best expected file is furthest behind
    the top file) is computed from the rows when a record has none, and reported."""
    reasoning, _answer = parse_reply(HeuristicAgent().propose("p", lexical_context()).text)
    assert "By kind" in reasoning and "lexical 4, structure 1" in reasoning


def _lexical_split(params: dict, i: int, exp_lex: float, wrong_lex: float) -> dict:
    """A failure whose two files differ in their lexical value only."""
    return _failure(params, [(f"src/e{i}.py", True, {"structure": 0.3, "cochange": 0.2, "lexical": exp_lex}),
                             (f"src/w{i}.py", False, {"structure": 0.3, "cochange": 0.2, "lexical": wrong_lex})], i)


def test_heuristic_raises_the_weight_of_the_expected_files_class():
    params = {**DEFAULT.to_dict(), "weight_test": 0.5}
    sig = {"structure": 0.4, "cochange": 0.3, "lexical": 0.2}
    # the expected file is a test (its class weight 0.5 scales its score), otherwise the
    # same as the code file that outranks it
    failures = [_failure(params, [(f"src/pkg/code_{i}.py", False, sig),
                                  (f"src/pkg/test_code_{i}.py", True, {**sig, "file_class": 0.5})], i,
                         classes={f"src/pkg/test_code_{i}.py": ("test",)}) for i in range(3)]
    ctx = {"params": params, "ndcg": 0.4, "best_ndcg": 0.4, "episode": 2, "trajectory": [], "failures": failures}
    reasoning, answer = parse_reply(HeuristicAgent().propose("p", ctx).text)
    check_protocol(answer)
    assert "file_class 3" in reasoning
    change = answer["proposed_changes"]["weight_test"]
    assert change[0] == "increase" and "file-class weight" in change[2]


def test_heuristic_explores_where_the_failure_kinds_point():
    """No signal gap has the support of half the failures, but two failures are held back
    most by recency: the sideways step takes the recency boost down, not a parameter picked
    by rotation."""
    params = DEFAULT.to_dict()
    same = {"structure": 0.3, "cochange": 0.2, "lexical": 0.3}
    failures = [_failure(params, [("src/e0.py", True, same), ("src/w0.py", False, {**same, "recency": 3.0})], 0),
                _failure(params, [("src/e1.py", True, same), ("src/w1.py", False, {**same, "recency": 3.0})], 1)]
    failures += [_lexical_split(params, i, *lex) for i, lex in enumerate(((0.9, 0.1), (0.1, 0.9), (0.9, 0.1)), 2)]
    bounds = {p.name: [p.low, p.high, p.scale] for p in SPECS.values()}
    ctx = {"params": params, "bounds": bounds, "ndcg": 0.4, "best_ndcg": 0.4, "episode": 7,
           "trajectory": [], "failures": failures}
    reasoning, answer = parse_reply(HeuristicAgent().propose("p", ctx).text)
    check_protocol(answer)
    assert list(answer["proposed_changes"]) == ["git_recency_max_boost"]
    change = answer["proposed_changes"]["git_recency_max_boost"]
    assert change[0] == "decrease" and "held back most by recency" in change[2]
