"""What the trainer says on stderr: one-line notes, and a live status line while it works.

stdout is kept for results a user may pipe (tables, views); everything else goes here.
"""
from __future__ import annotations

import sys

PROG = "ripmap-train"


def say(msg: str) -> None:
    """A note to the user, one line, prefixed like every trainer message."""
    print(f"{PROG}: {msg}", file=sys.stderr, flush=True)


class Status:
    """A live progress line: redrawn in place on a terminal, or one line per update with
    ``verbose`` (so a log keeps every step); silent otherwise."""

    def __init__(self, verbose: bool = False) -> None:
        self.verbose = verbose
        self.tty = sys.stderr.isatty()
        self._open = False

    def show(self, line: str, *, keep: bool = False) -> None:
        """Draw ``line``; ``keep`` ends it with a newline on a terminal too (an episode's summary)."""
        if self.verbose or (keep and self.tty):
            self.close()
            print(line, file=sys.stderr, flush=True)
        elif self.tty:
            sys.stderr.write("\r\x1b[K" + line)
            sys.stderr.flush()
            self._open = True

    def close(self) -> None:
        if self._open:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._open = False


__all__ = ["PROG", "Status", "say"]
