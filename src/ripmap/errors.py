"""One exception family for everything ripmap reports to a person.

Front ends (CLI, MCP server, trainer) catch :class:`RipmapError` and print its
message as a single line; anything else is a bug and is reported as such.
"""
from __future__ import annotations

import os
import sys


class RipmapError(Exception):
    """A failure the user can act on. ``exit_code`` is what the CLI returns."""

    exit_code = 1


class UsageError(RipmapError):
    """Bad input from the user: unknown preset, invalid params file, budget < 1."""

    exit_code = 2


class ConfigError(UsageError):
    """A ``ripmap.toml`` / ``[tool.ripmap]`` section that cannot be read or has bad values."""


class Interrupted(BaseException):
    """The process was asked to stop (SIGTERM, SIGHUP, SIGINT) while it worked.

    A ``BaseException`` like ``KeyboardInterrupt``, so the many ``except Exception``
    fallbacks (a bad cache blob, a parser error) cannot swallow it on its way to the
    front end, and the ``finally`` blocks on the way (the parse pool, the cache
    connection) still run. The front end exits with ``128 + signum``, as a shell does.
    """

    def __init__(self, signum: int) -> None:
        import signal

        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        super().__init__(name)
        self.signum = signum
        self.name = name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def drop_stdout() -> None:
    """Point stdout at /dev/null once its reader has gone (``ripmap-train --list | head -1``).

    Whatever is still buffered, and any later print, then goes nowhere instead of
    raising ``BrokenPipeError`` again, above all at the interpreter's final flush,
    where Python reports it as "Exception ignored ... BrokenPipeError" and exits 120.
    """
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(fd, sys.stdout.fileno())
        finally:
            os.close(fd)
    except (OSError, ValueError, AttributeError):  # no real stdout: nothing left to protect
        pass


def finish_stdout() -> None:
    """Flush stdout now, inside the front end's error handling, not at exit.

    A console script calls this before it returns (and when argparse exits for
    ``--help``), so a reader that stopped early ends the command quietly.
    """
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except BrokenPipeError:
        drop_stdout()
    except (OSError, ValueError):
        pass
