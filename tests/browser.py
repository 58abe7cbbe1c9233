"""Driving the page in a real browser: Debian's Chromium through Playwright, and a real
``ripmap serve`` subprocess. Shared by the browser tests and ``bench/serve.py``.

Playwright's own browser download does not work on these machines, so the browser is
the system's (``RIPMAP_CHROMIUM``, default ``/usr/bin/chromium``; ``.ci/run`` installs
it). Waits are on attributes the page sets (``body[data-rank-seq]`` ...), never on
script predicates: the page's Content-Security-Policy forbids evaluating strings.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = os.environ.get("RIPMAP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
_SERVING = re.compile(r"serving .* on (http://\S+/)")


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set RIPMAP_CHROMIUM)"
    return None


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@dataclass
class Served:
    """A running ``ripmap serve`` and everything it wrote to stderr."""

    proc: subprocess.Popen
    url: str
    stderr: list[str] = field(default_factory=list)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return "".join(self.stderr)


def start_server(root: Path, env: dict[str, str] | None = None, timeout: float = 300.0,
                 extra: tuple[str, ...] = ()) -> Served:
    """``ripmap serve ROOT --port 0`` in a subprocess, once it says where it listens."""
    proc = subprocess.Popen([sys.executable, "-m", "ripmap.cli", "serve", str(root), "--port", "0", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    served = Served(proc, "")
    found = threading.Event()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            served.stderr.append(line)
            m = _SERVING.search(line)
            if m and not found.is_set():
                served.url = m.group(1)
                found.set()
        found.set()

    threading.Thread(target=pump, daemon=True).start()
    t0 = time.monotonic()
    while not found.wait(0.2):
        if time.monotonic() - t0 > timeout:
            served.stop()
            raise RuntimeError(f"ripmap serve did not start within {timeout:.0f} s: {''.join(served.stderr)}")
    if not served.url:
        raise RuntimeError(f"ripmap serve exited: {''.join(served.stderr)}")
    return served


def wait_ranked(page, seq: int, timeout: float = 60_000) -> None:
    """Wait until the page has shown its ``seq``-th ranking."""
    page.wait_for_selector(f"body[data-rank-seq='{seq}']", state="attached", timeout=timeout)


def rank_seq(page) -> int:
    return int(page.get_attribute("body", "data-rank-seq") or 0)


def list_paths(page) -> list[str]:
    return page.eval_on_selector_all("[data-testid=file-list] > li", "els => els.map(e => e.dataset.path)")
