"""What every agent shares: the reply record, the protocol, retries and secret scrubbing.

An agent is anything that turns a prompt (plus, optionally, the structured context the
prompt was rendered from) into text. Agent *failures* — a timeout, a crashed CLI, an
HTTP 500 — are data for the L1 loop, so they come back as an :class:`AgentReply` with
``error`` set instead of an exception; only bad configuration (a missing executable, a
missing API key, an unknown agent name) raises :class:`~ripmap.errors.RipmapError`,
because no amount of retrying fixes those.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Callable, Protocol, runtime_checkable

Sleep = Callable[[float], None]

BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 60.0

# Environment variables whose values must never reach a reply, an error message or the
# reply store. Values shorter than this are too short to be real keys and would redact
# innocent substrings.
SECRET_ENV_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY",
                   "CODEX_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN")
_MIN_SECRET_LEN = 8


@dataclass(frozen=True)
class AgentReply:
    """One answer from an agent.

    ``latency_s`` is the wall time the caller waited, retries and back-off included, so
    run reports show what a call really cost. ``error`` is set when every attempt
    failed; ``text`` is then usually empty.
    """

    text: str
    latency_s: float
    attempts: int = 1
    tokens_in: int | None = None
    tokens_out: int | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@runtime_checkable
class Agent(Protocol):
    name: str

    def propose(self, prompt: str, context: dict | None = None) -> AgentReply: ...


@dataclass(frozen=True)
class Attempt:
    """The outcome of one try, before the retry policy decides what to do with it."""

    text: str = ""
    error: str | None = None
    retryable: bool = False
    tokens_in: int | None = None
    tokens_out: int | None = None
    retry_after_s: float | None = None  # a server's Retry-After hint, honoured as a floor


def redact(text: str | None) -> str | None:
    """Replace the value of every known secret environment variable with ``[redacted]``.

    Applied to every error message and to everything the reply store writes: servers
    and CLIs sometimes echo request headers or their configuration into error text.
    """
    if not text:
        return text
    for var in SECRET_ENV_VARS:
        val = os.environ.get(var)
        if val and len(val) >= _MIN_SECRET_LEN and val in text:
            text = text.replace(val, "[redacted]")
    return text


def backoff_delay(attempt_index: int, retry_after_s: float | None = None) -> float:
    """Exponential back-off (1 s, 2 s, 4 s, ...), capped, raised to a server's Retry-After."""
    delay = min(BACKOFF_MAX_S, BACKOFF_BASE_S * (2 ** attempt_index))
    if retry_after_s is not None and retry_after_s > delay:
        delay = min(BACKOFF_MAX_S, retry_after_s)
    return delay


def run_with_retries(name: str, once: Callable[[], Attempt], *, retries: int, sleep: Sleep | None = None,
                     clock: Callable[[], float] = time.perf_counter) -> AgentReply:
    """Call ``once`` until it succeeds, fails for good, or ``retries`` extra attempts are spent.

    ``sleep`` is injectable so tests exercise the back-off without waiting for it.
    """
    sleep = time.sleep if sleep is None else sleep
    t0 = clock()
    attempts = 0
    last = Attempt(error="no attempt was made")
    for i in range(max(0, retries) + 1):
        attempts += 1
        last = once()
        if last.error is None:
            return AgentReply(text=last.text, latency_s=clock() - t0, attempts=attempts,
                              tokens_in=last.tokens_in, tokens_out=last.tokens_out)
        if not last.retryable or i == max(0, retries):
            break
        sleep(backoff_delay(i, last.retry_after_s))
    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
    return AgentReply(text=last.text, latency_s=clock() - t0, attempts=attempts, tokens_in=last.tokens_in,
                      tokens_out=last.tokens_out, error=redact(f"{name}: {last.error} ({tries})"))


def one_line(text: str, limit: int = 300) -> str:
    """Collapse a CLI's stderr or a server's error body into one short line for messages."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
