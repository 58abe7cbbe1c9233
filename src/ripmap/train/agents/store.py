"""Every agent reply, on disk: the record that makes an LLM-driven run replayable.

``replies.jsonl`` in the run folder is append-only, one JSON object per line, keyed by
the SHA-256 of the prompt. Because the L1 loop is deterministic given the replies,
replaying them reproduces a run exactly without calling (or paying for) the agent — and
the first prompt that has no stored reply pinpoints where a changed loop diverged.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ...errors import RipmapError
from .base import Agent, AgentReply, redact

REPLIES_FILE = "replies.jsonl"


def prompt_key(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


class ReplyStore:
    """Replies of one run, grouped by prompt key in the order they were stored."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / REPLIES_FILE
        self._by_key: dict[str, list[tuple[str, AgentReply]]] | None = None

    def _load(self) -> dict[str, list[tuple[str, AgentReply]]]:
        if self._by_key is not None:
            return self._by_key
        by_key: dict[str, list[tuple[str, AgentReply]]] = {}
        if self.path.exists():
            with self.path.open(encoding="utf-8") as fh:
                for line in fh:
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        d = json.loads(line)
                        reply = AgentReply(text=str(d.get("text", "")), latency_s=float(d.get("latency_s", 0.0)),
                                           attempts=int(d.get("attempts", 1)), tokens_in=d.get("tokens_in"),
                                           tokens_out=d.get("tokens_out"), error=d.get("error"))
                        key = str(d["key"])
                    except (ValueError, KeyError, TypeError):
                        continue  # a line torn by a crash mid-write: skip it, keep the rest
                    by_key.setdefault(key, []).append((str(d.get("agent", "")), reply))
        self._by_key = by_key
        return by_key

    def __len__(self) -> int:
        return sum(len(v) for v in self._load().values())

    def __contains__(self, prompt: object) -> bool:
        return isinstance(prompt, str) and prompt_key(prompt) in self._load()

    def get_all(self, prompt: str) -> list[AgentReply]:
        """Every reply stored for this prompt, oldest first (an LLM may answer a repeated prompt differently)."""
        return [r for _a, r in self._load().get(prompt_key(prompt), [])]

    def get(self, prompt: str) -> AgentReply | None:
        """The newest reply stored for this prompt, or ``None``."""
        got = self._load().get(prompt_key(prompt))
        return got[-1][1] if got else None

    def agent_name(self) -> str | None:
        """The agent that produced the first stored reply (what a replay impersonates)."""
        for entries in self._load().values():
            if entries:
                return entries[0][0] or None
        return None

    def put(self, prompt: str, agent: str, reply: AgentReply) -> None:
        key = prompt_key(prompt)
        stored = AgentReply(text=redact(reply.text) or "", latency_s=reply.latency_s, attempts=reply.attempts,
                            tokens_in=reply.tokens_in, tokens_out=reply.tokens_out, error=redact(reply.error))
        record = {"key": key, "agent": agent, "text": stored.text, "latency_s": round(stored.latency_s, 6),
                  "attempts": stored.attempts, "tokens_in": stored.tokens_in, "tokens_out": stored.tokens_out,
                  "error": stored.error}
        self.run_dir.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(line)  # one write per record: a crash tears at most the last line
            fh.flush()
        self._load().setdefault(key, []).append((agent, stored))


class RecordingAgent:
    """Wraps an agent and stores every reply it gives, failures included."""

    def __init__(self, inner: Agent, store: ReplyStore) -> None:
        self.inner = inner
        self.store = store
        self.name = inner.name

    def propose(self, prompt: str, context: dict | None = None) -> AgentReply:
        reply = self.inner.propose(prompt, context)
        self.store.put(prompt, self.inner.name, reply)
        return reply


class ReplayAgent:
    """Answers from a :class:`ReplyStore` instead of calling an agent.

    The n-th time a prompt is asked it gets the n-th reply stored for it (the last one
    once they run out), so a run that asked the same question twice replays faithfully.
    """

    def __init__(self, store: ReplyStore, name: str | None = None) -> None:
        self.store = store
        self.name = name or store.agent_name() or "replay"
        self._calls = 0
        self._seen: dict[str, int] = {}

    def propose(self, prompt: str, context: dict | None = None) -> AgentReply:
        self._calls += 1
        key = prompt_key(prompt)
        replies = self.store.get_all(prompt)
        if not replies:
            where = f"call {self._calls}"
            if isinstance(context, dict) and isinstance(context.get("episode"), int):
                where += f", episode {context['episode']}"
            raise RipmapError(f"replay: no stored reply for this prompt (the run diverged at {where}; "
                              f"prompt key {key[:12]}, {len(self.store)} replies in {self.store.path})")
        i = self._seen.get(key, 0)
        self._seen[key] = i + 1
        return replies[min(i, len(replies) - 1)]
