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
