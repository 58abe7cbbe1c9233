"""The L2 agent: the same backends as L1 plus the offline ``heuristic`` L2 agent, recorded.

``claude``, ``gemini``, ``codex``, ``openai:MODEL`` and ``anthropic:MODEL`` are built by
:func:`ripmap.train.agents.make_agent` exactly as for L1 (they answer any prompt);
``heuristic`` is :class:`.heuristic.HeuristicOuterAgent`, which reads the structured
context instead of the prompt.

Every reply is stored in the run folder (``l2/replies.jsonl``). A step that is resumed
after a kill sends the same prompt again; :class:`ReusingAgent` answers it from the store
instead of calling (and paying for) the agent a second time, so the resumed step applies
the edits the killed one had been given.
"""
from __future__ import annotations

from pathlib import Path

from ..agents import Agent, AgentReply, AgentSettings, ReplyStore, make_agent
from .heuristic import HeuristicOuterAgent


def make_outer_agent(settings: AgentSettings, run_dir: Path | None = None) -> Agent:
    spec = (settings.spec or "").strip().lower()
    if spec == "heuristic":
        return HeuristicOuterAgent()
    return make_agent(settings.spec, model=settings.model, base_url=settings.base_url, timeout=settings.timeout,
                      agentic=False, run_dir=run_dir, allow_dangerous=settings.allow_dangerous)


class ReusingAgent:
    """Answers a prompt from the store when it has a reply that is not an error; else asks
    ``inner`` and stores the reply."""

    def __init__(self, inner: Agent, store: ReplyStore) -> None:
        self.inner = inner
        self.store = store
        self.name = inner.name
        self.reused = False

    def propose(self, prompt: str, context: dict | None = None) -> AgentReply:
        old = self.store.get(prompt)
        if old is not None and old.error is None and old.text.strip():
            self.reused = True
            return old
        self.reused = False
        reply = self.inner.propose(prompt, context)
        self.store.put(prompt, self.inner.name, reply)
        return reply


__all__ = ["ReusingAgent", "make_outer_agent"]
