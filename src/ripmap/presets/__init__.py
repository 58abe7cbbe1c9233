"""Named parameter sets: the ones shipped with ripmap and the ones distilled by training.

Shipped presets live beside this file as JSON (``{"description", "params", "provenance"}``).
A preset ships only with evidence: ``bench/refit_preset.py`` fits it on the training corpus
for its task(s) and judges it on held-out repositories, and it stays only when the lower
bound of its improvement interval over the defaults is above zero (``tests/test_presets.py``
checks every file); one that fails is removed, so ``--preset NAME`` says it is unknown.
Distilled presets are installed by ``ripmap-train --distill`` into the user config
directory (``platformdirs.user_config_dir("ripmap")/presets``) and override shipped
ones of the same name. ``RIPMAP_PRESET_DIR`` points somewhere else (tests use it).

:func:`resolve_params` is the one rule every front end (``ripmap``, ``ripmap-mcp``,
``ripmap-train``) applies to ``--preset`` and ``--params``.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..rank.params import Params

SHIPPED_DIR = Path(__file__).parent


def user_preset_dir() -> Path:
    env = os.environ.get("RIPMAP_PRESET_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_config_dir("ripmap")) / "presets"


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    params: Params
    source: str  # "shipped" | "user"


def _read(path: Path, source: str) -> Preset:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise UsageError(f"preset {path.stem}: unreadable ({e})") from None
    if not isinstance(data, dict):
        raise UsageError(f"preset {path.stem}: expected a JSON object")
    try:
        params = Params.from_dict(data.get("params", {}))
    except UsageError as e:
        raise UsageError(f"preset {path.stem}: {e}") from None
    return Preset(path.stem, str(data.get("description", "")), params, source)


def list_presets() -> dict[str, Preset]:
    out: dict[str, Preset] = {}
    for p in sorted(SHIPPED_DIR.glob("*.json")):
        out[p.stem] = _read(p, "shipped")
    ud = user_preset_dir()
    if ud.is_dir():
        for p in sorted(ud.glob("*.json")):
            try:
                out[p.stem] = _read(p, "user")
            except UsageError:
                continue  # a broken user preset must not hide the shipped ones
    return out


def load_preset(name: str) -> Preset:
    presets = list_presets()
    if name not in presets:
        raise UsageError(f"unknown preset '{name}' (available: {', '.join(sorted(presets))})")
    return presets[name]


def resolve_params(preset: str | None = None, params_file: str | Path | None = None) -> Params:
    """The parameters a front end runs with: the preset's, then the file's values over them.

    One rule for all front ends, so the same pair of options means the same ranking
    everywhere: no preset means the defaults; a preset name is matched exactly (an
    unknown one is a one-line :class:`UsageError` listing the known presets); a params
    file (``{"name": value}`` or the trainer's ``{"params": {...}}``) overrides only the
    values it names and leaves the preset's others in place.
    """
    base = load_preset(preset).params if preset is not None else Params()
    if params_file is None:
        return base
    from_file = Params.load(params_file)  # validates names, types and bounds, naming the file
    # the file's own names (read again: a Params cannot tell a value set to the default
    # from one left out)
    data = json.loads(Path(params_file).read_text(encoding="utf-8"))
    if isinstance(data.get("params"), dict):
        data = data["params"]
    return base.replace(**{k: from_file[k] for k in data})


def install_preset(name: str, description: str, params: Params) -> Path:
    """Write a preset where ``load_preset`` finds it (used by distillation)."""
    d = user_preset_dir()
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{name}.json"
    path.write_text(json.dumps({"description": description, "params": params.to_dict()}, indent=2) + "\n",
                    encoding="utf-8")
    return path
