"""A small HTTP-ish client used as an extraction sample."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Optional

DEFAULT_TIMEOUT = 5.0
RETRY_CODES = (502, 503, 504)


class TransportError(Exception):
    """Raised when the transport gives up."""


@dataclass
class Response:
    status: int
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body.decode("utf-8"))

    @property
    def ok(self) -> bool:
        return self.status < 400


class Client:
    max_retries = 3

    def __init__(self, base_url: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def fetch(self, path: str) -> Response:
        for attempt in range(self.max_retries):
            response = self._send(path, attempt)
            if response.status not in RETRY_CODES:
                return response
        raise TransportError(f"gave up on {path}")

    def _send(self, path: str, attempt: int) -> Response:
        body = json.dumps({"path": path, "attempt": attempt}).encode()
        return Response(200, body)


def fetch_json(url: str, client: Optional[Client] = None) -> dict:
    client = client or Client(url)
    return client.fetch("/").json()


def main() -> None:
    print(fetch_json("https://example.invalid"))


if __name__ == "__main__":
    main()


class Hashable(Protocol, metaclass=ABCMeta):  # sigcomment: a trailing comment
    def invoke(  # sigcomment: type: ignore
        self, cli: object = None,  # sigcomment
    ) -> None:  # sigcomment
        pass
