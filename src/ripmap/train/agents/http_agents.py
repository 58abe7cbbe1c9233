"""Agents that call a chat API directly over HTTP: OpenAI-compatible and Anthropic.

``openai:MODEL`` speaks the chat-completions wire format, which local servers (vLLM,
Ollama, llama.cpp, LM Studio) also speak, so the Authorization header is sent only when
``OPENAI_API_KEY`` is set. ``anthropic:MODEL`` speaks the Messages API. Keys are read
from the environment at call time and never stored on the agent, in a reply or in an
error message.
"""
from __future__ import annotations

import json
import os
from typing import Any

import httpx

from ...errors import RipmapError, UsageError
from .base import AgentReply, Attempt, Sleep, one_line, redact, run_with_retries

OPENAI_DEFAULT_BASE = "https://api.openai.com/v1"
ANTHROPIC_DEFAULT_BASE = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
ANTHROPIC_MAX_TOKENS = 4096


def _retry_after(resp: httpx.Response) -> float | None:
    v = resp.headers.get("retry-after")
    try:
        return float(v) if v is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to plain back-off


def _error_body(resp: httpx.Response) -> str:
    """The most useful short description of an error response."""
    try:
        data = resp.json()
    except ValueError:
        return one_line(resp.text or resp.reason_phrase or "")
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return one_line(err["message"])
        if isinstance(err, str):
            return one_line(err)
    return one_line(json.dumps(data))


def _as_int(v: Any) -> int | None:
    return int(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


class HttpAgent:
    """POST one JSON request per prompt; subclasses build the request and parse the reply."""

    name = "http"

    def __init__(self, model: str, *, timeout: float = 300.0, retries: int = 2, sleep: Sleep | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        if not model:
            raise UsageError(f"{self.name}: no model given (use --agent {self.name}:MODEL)")
        self.model = model
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.sleep = sleep
        self._transport = transport  # tests may inject one; real runs use the network

    def url(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def headers(self) -> dict[str, str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def body(self, prompt: str) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def parse(self, data: Any) -> Attempt:  # pragma: no cover - abstract
        raise NotImplementedError

    def propose(self, prompt: str, context: dict | None = None) -> AgentReply:
        return run_with_retries(self.name, lambda: self._once(prompt), retries=self.retries, sleep=self.sleep)

    def _once(self, prompt: str) -> Attempt:
        url = self.url()
        try:
            with httpx.Client(timeout=self.timeout, transport=self._transport) as client:
                resp = client.post(url, headers=self.headers(), json=self.body(prompt))
        except httpx.TimeoutException:
            return Attempt(error=f"no answer from {url} within {self.timeout:g} s", retryable=True)
        except (httpx.TransportError, OSError) as e:
            return Attempt(error=f"cannot reach {url}: {one_line(str(e)) or type(e).__name__}", retryable=True)
        if resp.status_code == 429 or resp.status_code >= 500:
            return Attempt(error=f"HTTP {resp.status_code} from {url}: {redact(_error_body(resp))}", retryable=True,
                           retry_after_s=_retry_after(resp))
        if resp.status_code >= 400:
            # 400/401/403/404: a bad key, model or request; retrying cannot fix it
            return Attempt(error=f"HTTP {resp.status_code} from {url}: {redact(_error_body(resp))}")
        try:
            data = resp.json()
        except ValueError:
            return Attempt(error=f"{url} answered with something that is not JSON: {one_line(resp.text, 120)}")
        return self.parse(data)


def _join(base: str, path: str) -> str:
    base = base.rstrip("/")
    return base + path


class OpenAIAgent(HttpAgent):
    """Chat completions: ``POST {base_url}/chat/completions``."""

    name = "openai"

    def __init__(self, model: str, *, base_url: str | None = None, **kw: Any) -> None:
        super().__init__(model, **kw)
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_DEFAULT_BASE

    def __repr__(self) -> str:
        return f"OpenAIAgent(model={self.model!r}, base_url={self.base_url!r})"

    def url(self) -> str:
        return _join(self.base_url, "/chat/completions")

    def headers(self) -> dict[str, str]:
        h = {"content-type": "application/json"}
        key = os.environ.get("OPENAI_API_KEY")
        if key:
            h["authorization"] = f"Bearer {key}"
        return h

    def body(self, prompt: str) -> dict:
        return {"model": self.model, "messages": [{"role": "user", "content": prompt}], "temperature": 0}

    def parse(self, data: Any) -> Attempt:
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            return Attempt(error=f"reply has no choices[0].message.content: {one_line(json.dumps(data), 160)}")
        if not isinstance(content, str) or not content.strip():
            return Attempt(error="reply message is empty", retryable=True)
        usage = data.get("usage") if isinstance(data, dict) else None
        usage = usage if isinstance(usage, dict) else {}
        return Attempt(text=content.strip(), tokens_in=_as_int(usage.get("prompt_tokens")),
                       tokens_out=_as_int(usage.get("completion_tokens")))


class AnthropicAgent(HttpAgent):
    """Messages API: ``POST {base_url}/v1/messages``."""

    name = "anthropic"

    def __init__(self, model: str, *, base_url: str | None = None, **kw: Any) -> None:
        super().__init__(model, **kw)
        if not os.environ.get("ANTHROPIC_API_KEY"):
            raise RipmapError("anthropic: ANTHROPIC_API_KEY is not set (export it, or use --agent heuristic)")
        self.base_url = base_url or os.environ.get("ANTHROPIC_BASE_URL") or ANTHROPIC_DEFAULT_BASE

    def __repr__(self) -> str:
        return f"AnthropicAgent(model={self.model!r}, base_url={self.base_url!r})"

    def url(self) -> str:
        base = self.base_url.rstrip("/")
        return base + ("/messages" if base.endswith("/v1") else "/v1/messages")

    def headers(self) -> dict[str, str]:
        key = os.environ.get("ANTHROPIC_API_KEY")
        if not key:  # unset after construction
            raise RipmapError("anthropic: ANTHROPIC_API_KEY is not set (export it, or use --agent heuristic)")
        return {"content-type": "application/json", "x-api-key": key, "anthropic-version": ANTHROPIC_VERSION}

    def body(self, prompt: str) -> dict:
        return {"model": self.model, "max_tokens": ANTHROPIC_MAX_TOKENS,
                "messages": [{"role": "user", "content": prompt}]}

    def parse(self, data: Any) -> Attempt:
        blocks = data.get("content") if isinstance(data, dict) else None
        if not isinstance(blocks, list):
            return Attempt(error=f"reply has no content list: {one_line(json.dumps(data), 160)}")
        text = "".join(b.get("text", "") for b in blocks
                       if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str))
        if not text.strip():
            return Attempt(error="reply has no text content", retryable=True)
        usage = data.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        return Attempt(text=text.strip(), tokens_in=_as_int(usage.get("input_tokens")),
                       tokens_out=_as_int(usage.get("output_tokens")))

