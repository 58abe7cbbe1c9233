"""Per-repository settings: which files ripmap looks at.

Settings live in ``ripmap.toml`` at the mapped root, or failing that in the
``[tool.ripmap]`` table of the root's ``pyproject.toml``. We deliberately never
look above the root: mapping a subdirectory must not silently pick up rules
written for an enclosing project, and the result must depend only on what is
inside the directory being mapped.

Every problem becomes a one-line :class:`~ripmap.errors.ConfigError` naming the
file and the key, because the person fixing it needs exactly those two facts.
"""
from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ripmap.errors import ConfigError

RIPMAP_TOML = "ripmap.toml"
PYPROJECT_TOML = "pyproject.toml"
DEFAULT_MAX_FILE_SIZE = 1_000_000

#: TOML key → Config field. Kebab-case in files, like most Python tool configs.
_KEYS = {
    "include": "include",
    "exclude": "exclude",
    "extend-exclude": "extend_exclude",
    "max-file-size": "max_file_size",
}


@dataclass(frozen=True)
class Config:
    """What to map. Defaults map everything except the built-in excludes.

    ``exclude`` is ``None`` to mean "use the built-in defaults"; an explicit
    sequence (even an empty one) *replaces* them, which is how a user opts back
    into ``vendor/`` or ``node_modules/``. ``extend_exclude`` adds to whichever
    exclude set is in force, so the common case never has to restate defaults.
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] | None = None
    extend_exclude: tuple[str, ...] = ()
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    source: str | None = None

    def __post_init__(self) -> None:
        # Front ends build Configs from argparse lists; accept any sequence but
        # store tuples so the object stays hashable and truly immutable.
        label = self.source or "config"
        for name in ("include", "exclude", "extend_exclude"):
            value = getattr(self, name)
            if value is None and name == "exclude":
                continue
            if isinstance(value, str) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{label}: {name!r} must be a list of strings")
            object.__setattr__(self, name, tuple(value))
        size = self.max_file_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ConfigError(f"{label}: 'max_file_size' must be a positive integer (bytes)")


def load_config(root: Path) -> Config:
    """Read the config for ``root``; :class:`Config` defaults if there is none.

    ``ripmap.toml`` wins over ``pyproject.toml`` outright (no merging), so a
    dedicated file is always the whole truth about the settings.
    """
    root = Path(root)
    own = root / RIPMAP_TOML
    if own.is_file():
        return _from_table(_read_toml(own, RIPMAP_TOML), RIPMAP_TOML, RIPMAP_TOML)
    pyproject = root / PYPROJECT_TOML
    if pyproject.is_file():
        data = _read_toml(pyproject, PYPROJECT_TOML)
        tool = data.get("tool", {})
        label = f"{PYPROJECT_TOML} [tool.ripmap]"
        if not isinstance(tool, dict):
            raise ConfigError(f"{PYPROJECT_TOML}: 'tool' must be a table")
        if "ripmap" not in tool:
            return Config()
        table = tool["ripmap"]
        if not isinstance(table, dict):
            raise ConfigError(f"{PYPROJECT_TOML}: 'tool.ripmap' must be a table")
        return _from_table(table, label, PYPROJECT_TOML)
    return Config()


def _read_toml(path: Path, label: str) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{label}: invalid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{label}: invalid TOML: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read: {exc.strerror or exc}") from None


def _from_table(table: dict[str, Any], label: str, source: str) -> Config:
    """Validate a parsed table key by key, so each error names its key."""
    values: dict[str, Any] = {}
    for key, value in table.items():
        field = _KEYS.get(key)
        if field is None:
            hint = difflib.get_close_matches(key.replace("_", "-"), _KEYS, n=1)
            suffix = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ConfigError(f"{label}: unknown key {key!r}{suffix}")
        if field == "max_file_size":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{label}: {key!r} must be a positive integer (bytes)")
        elif not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{label}: {key!r} must be a list of strings")
        else:
            value = tuple(value)
        values[field] = value
    return Config(source=source, **values)
