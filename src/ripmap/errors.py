"""One exception family for everything ripmap reports to a person.

Front ends (CLI, MCP server, trainer) catch :class:`RipmapError` and print its
message as a single line; anything else is a bug and is reported as such.
"""
from __future__ import annotations


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
