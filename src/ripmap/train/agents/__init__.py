"""Agents for the L1 loop: something that reads a prompt about ranking failures and answers.

``make_agent(spec)`` builds one from a name:

* ``heuristic`` — offline, deterministic analysis of the structured context (default)
* ``claude`` / ``gemini`` / ``codex`` — the vendors' coding CLIs, non-interactive
* ``openai:MODEL`` — any OpenAI-compatible chat-completions endpoint (local servers too)
* ``anthropic:MODEL`` — the Anthropic Messages API

Wrap any agent in :class:`RecordingAgent` to keep every reply in the run folder, and
use :class:`ReplayAgent` to re-run a loop from those replies without calling anyone.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...errors import UsageError
from .base import Agent, AgentReply, Attempt, Sleep, redact, run_with_retries
from .cli_agents import CLI_FLAGS, CliAgent
from .heuristic import HeuristicAgent
from .http_agents import AnthropicAgent, OpenAIAgent
from .store import ReplayAgent, RecordingAgent, ReplyStore, prompt_key

AGENT_SPECS = ("heuristic", "claude", "gemini", "codex", "openai:MODEL", "anthropic:MODEL")


def make_agent(spec: str, *, model: str | None = None, base_url: str | None = None, timeout: float = 300.0,
               retries: int = 2, agentic: bool = False, run_dir: Path | None = None,
               allow_dangerous: bool = False, sleep: Sleep | None = None) -> Agent:
    """Build the agent named by ``spec``.

    ``model`` applies to the CLIs and stands in for a missing ``:MODEL`` on the HTTP
    agents. ``agentic`` / ``allow_dangerous`` only concern the CLIs. ``sleep`` replaces
    ``time.sleep`` in the retry back-off (tests pass a no-op).
    """
    raw = (spec or "").strip()
    kind, _, rest = raw.partition(":")
    kind = kind.lower()
    if timeout <= 0:
        raise UsageError("--timeout must be positive")
    if retries < 0:
        raise UsageError("retries must be 0 or more")
    if kind == "heuristic" and not rest:
        return HeuristicAgent()
    if kind in CLI_FLAGS and not rest:
        return CliAgent(kind, model=model, timeout=timeout, retries=retries, agentic=agentic,
                        run_dir=Path(run_dir) if run_dir is not None else None,
                        allow_dangerous=allow_dangerous, sleep=sleep)
    if kind in ("openai", "anthropic"):
        name = rest.strip() or (model or "")
        if not name:
            raise UsageError(f"agent '{raw}' needs a model: use {kind}:MODEL (e.g. {kind}:"
                             f"{'gpt-4o-mini' if kind == 'openai' else 'claude-sonnet-4-5'})")
        cls = OpenAIAgent if kind == "openai" else AnthropicAgent
        return cls(name, base_url=base_url, timeout=timeout, retries=retries, sleep=sleep)
    raise UsageError(f"unknown agent '{raw}' (choose one of: {', '.join(AGENT_SPECS)})")


@dataclass(frozen=True)
class AgentSettings:
    """Which agent to call and how (the ``--agent`` family of options).

    ``spec`` is a name from :data:`AGENT_SPECS`; ``model`` goes to the CLIs (and stands
    in for a missing ``:MODEL``); ``agentic`` gives CLI agents read-only tools on the run
    folder; ``allow_dangerous`` lets them skip their approval prompts (off by default).
    """

    spec: str = "heuristic"
    model: str | None = None
    base_url: str | None = None
    timeout: float = 300.0
    agentic: bool = False
    allow_dangerous: bool = False

    def build(self, run_dir: Path | None = None) -> Agent:
        return make_agent(self.spec, model=self.model, base_url=self.base_url, timeout=self.timeout,
                          agentic=self.agentic, run_dir=run_dir, allow_dangerous=self.allow_dangerous)


__all__ = [
    "AGENT_SPECS", "Agent", "AgentSettings", "AgentReply", "AnthropicAgent", "Attempt", "CLI_FLAGS", "CliAgent", "HeuristicAgent",
    "OpenAIAgent", "RecordingAgent", "ReplayAgent", "ReplyStore", "make_agent", "prompt_key", "redact",
    "run_with_retries",
]
