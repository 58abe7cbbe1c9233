"""Agents that shell out to a coding-assistant CLI: Claude Code, Gemini CLI, Codex CLI.

Each CLI's flags live in one :class:`CliFlags` record in :data:`CLI_FLAGS`, so when a
vendor renames a flag there is exactly one line to fix. The argument lists are::

    claude --print [--model M] [--tools Read,Glob,Grep --add-dir RUN] [--permission-mode bypassPermissions] -p PROMPT
    gemini -o text [-m M] [--include-directories RUN] [--yolo] -p PROMPT
    codex exec --skip-git-repo-check [--sandbox read-only] [-m M] [-C RUN]
               [--dangerously-bypass-approvals-and-sandbox] -o OUTFILE -          (prompt on stdin)

Prompts that are too long for one command-line argument (Linux caps a single argument
at 128 KiB) or that start with ``-`` (they would parse as an option) go through stdin
instead: Claude Code reads its prompt from stdin when none is given, and the Gemini CLI
appends ``-p``'s text to whatever arrives on stdin.

Dangerous flags (skip approvals / sandbox) are added only with ``allow_dangerous``; the
agentic flags only with ``agentic``, and they give read-only access to the run folder.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ...errors import RipmapError, UsageError
from .base import AgentReply, Attempt, Sleep, one_line, redact, run_with_retries

MAX_ARG_BYTES = 100_000
"""Longest prompt passed as an argument; longer ones go through stdin (Linux's
MAX_ARG_STRLEN is 131072 bytes per argument, and the rest of argv needs room too)."""


@dataclass(frozen=True)
class CliFlags:
    """How to drive one CLI non-interactively. ``{run_dir}`` / ``{outfile}`` are filled in."""

    exe: str
    install_hint: str
    base: tuple[str, ...]  # always present, right after the executable
    model: tuple[str, ...]  # followed by the model name
    agentic: tuple[str, ...]  # read-only tools on the run folder
    dangerous: tuple[str, ...]  # only with allow_dangerous
    safe: tuple[str, ...] = ()  # only *without* allow_dangerous (explicit read-only sandbox)
    output_file: tuple[str, ...] = ()  # the final answer is written to {outfile}, not stdout
    prompt_flag: tuple[str, ...] = ("-p",)  # precedes the prompt argument
    stdin_only: bool = False  # the prompt always goes through stdin (after ``stdin_marker``)
    stdin_marker: tuple[str, ...] = ()  # final argv element(s) when the prompt is on stdin
    stdin_note: str | None = None  # ``-p`` text when a long prompt travels on stdin (gemini)


CLI_FLAGS: dict[str, CliFlags] = {
    "claude": CliFlags(
        exe="claude",
        install_hint="install Claude Code or use --agent heuristic",
        base=("--print",),
        model=("--model",),
        agentic=("--tools", "Read,Glob,Grep", "--add-dir", "{run_dir}"),
        dangerous=("--permission-mode", "bypassPermissions"),
    ),
    "gemini": CliFlags(
        exe="gemini",
        install_hint="install the Gemini CLI or use --agent heuristic",
        base=("-o", "text"),
        model=("-m",),
        agentic=("--include-directories", "{run_dir}"),
        dangerous=("--yolo",),
        stdin_note="Answer the request given above on standard input.",
    ),
    "codex": CliFlags(
        exe="codex",
        install_hint="install the Codex CLI or use --agent heuristic",
        # --skip-git-repo-check: codex exec refuses to start outside a git repository,
        # and a run may be started anywhere; it only skips that check.
        base=("exec", "--skip-git-repo-check"),
        model=("-m",),
        agentic=("-C", "{run_dir}"),
        dangerous=("--dangerously-bypass-approvals-and-sandbox",),
        # read-only is codex exec's default; saying it overrides a wider sandbox_mode
        # in the user's config.toml.
        safe=("--sandbox", "read-only"),
        output_file=("-o", "{outfile}"),
        prompt_flag=(),
        stdin_only=True,
        stdin_marker=("-",),
    ),
}


def _prompt_fits_argv(prompt: str) -> bool:
    return len(prompt.encode("utf-8")) <= MAX_ARG_BYTES and not prompt.startswith("-") and "\0" not in prompt


def build_argv(flags: CliFlags, exe_path: str, prompt: str, *, model: str | None, agentic: bool,
               run_dir: Path | None, allow_dangerous: bool, outfile: Path | None) -> tuple[list[str], str | None]:
    """The argument list and the stdin text (``None`` → stdin is closed) for one call."""
    fill = {"run_dir": str(run_dir) if run_dir is not None else "", "outfile": str(outfile) if outfile else ""}
    argv = [exe_path, *flags.base]
    if model:
        argv += [*flags.model, model]
    if agentic:
        argv += [a.format(**fill) for a in flags.agentic]
    argv += list(flags.dangerous if allow_dangerous else flags.safe)
    argv += [a.format(**fill) for a in flags.output_file]
    if flags.stdin_only:
        return argv + list(flags.stdin_marker), prompt
    if _prompt_fits_argv(prompt):
        return argv + [*flags.prompt_flag, prompt], None
    if flags.stdin_note:
        return argv + [*flags.prompt_flag, flags.stdin_note], prompt
    return argv, prompt


def _kill_tree(proc: subprocess.Popen) -> None:
    """Kill the CLI and everything it spawned (node CLIs fork helpers that would linger)."""
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass


class CliAgent:
    """One coding-assistant CLI run once per prompt, with retries."""

    def __init__(self, kind: str, *, model: str | None = None, timeout: float = 300.0, retries: int = 2,
                 agentic: bool = False, run_dir: Path | None = None, allow_dangerous: bool = False,
                 sleep: Sleep | None = None) -> None:
        if kind not in CLI_FLAGS:
            raise UsageError(f"unknown CLI agent '{kind}' (known: {', '.join(CLI_FLAGS)})")
        self.flags = CLI_FLAGS[kind]
        self.name = kind
        exe = shutil.which(self.flags.exe)
        if exe is None:
            raise RipmapError(f"{kind}: command not found on PATH ({self.flags.install_hint})")
        if agentic and run_dir is None:
            raise UsageError(f"{kind}: --agentic needs a run folder to give the agent read access to")
        self.exe_path = exe
        self.model = model
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.agentic = agentic
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.allow_dangerous = allow_dangerous
        self.sleep = sleep

    def __repr__(self) -> str:
        return f"CliAgent({self.name!r}, model={self.model!r}, agentic={self.agentic})"

    def argv_for(self, prompt: str, outfile: Path | None = None) -> tuple[list[str], str | None]:
        return build_argv(self.flags, self.exe_path, prompt, model=self.model, agentic=self.agentic,
                          run_dir=self.run_dir, allow_dangerous=self.allow_dangerous, outfile=outfile)

    def propose(self, prompt: str, context: dict | None = None) -> AgentReply:
        return run_with_retries(self.name, lambda: self._once(prompt), retries=self.retries, sleep=self.sleep)

    def _once(self, prompt: str) -> Attempt:
        if self.flags.output_file:
            with tempfile.TemporaryDirectory(prefix=f"ripmap-{self.name}-") as tmp:
                outfile = Path(tmp) / "last-message.txt"
                return self._run(prompt, outfile)
        return self._run(prompt, None)

    def _run(self, prompt: str, outfile: Path | None) -> Attempt:
        argv, stdin_text = self.argv_for(prompt, outfile)
        env = dict(os.environ)
        env.setdefault("NO_COLOR", "1")  # no ANSI escapes in the reply text
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                    start_new_session=True, text=True, encoding="utf-8", errors="replace")
        except FileNotFoundError:
            raise RipmapError(f"{self.name}: command not found on PATH ({self.flags.install_hint})") from None
        except OSError as e:
            return Attempt(error=f"could not start {self.flags.exe}: {e.strerror or e}", retryable=False)
        try:
            out, err = proc.communicate(stdin_text, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(proc)
            proc.communicate()
            return Attempt(error=f"timed out after {self.timeout:g} s", retryable=True)
        if proc.returncode != 0:
            detail = one_line(err or out or "") or "no output"
            return Attempt(error=f"exited with status {proc.returncode}: {redact(detail)}", retryable=True)
        text = out
        if outfile is not None:
            try:
                text = outfile.read_text(encoding="utf-8", errors="replace")
            except OSError:
                text = out  # older CLIs without the output file still print the answer
        text = text.strip()
        if not text:
            return Attempt(error="returned an empty reply", retryable=True)
        return Attempt(text=text)
