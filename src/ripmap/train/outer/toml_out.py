"""Writing the small TOML documents of promptgram versions (``inner_vNNN.toml``).

The standard library reads TOML (``tomllib``) but does not write it, and the metadata of a
version is a handful of keys, a few tables and arrays of tables, so a short emitter is
enough: strings in basic quotes with TOML's escapes, numbers, booleans, arrays of scalars,
tables and arrays of tables. ``None`` values are left out (TOML has no null). Whatever it
writes, ``tomllib`` reads back to the same values (a test checks the round trip).
"""
from __future__ import annotations

import math
import re
from typing import Any, Mapping

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_ESC = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _string(s: str) -> str:
    out = []
    for ch in s:
        if ch in _ESC:
            out.append(_ESC[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _key(k: str) -> str:
    return k if _BARE.fullmatch(k) else _string(k)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v if x is not None) + "]"
    if isinstance(v, Mapping):
        return "{" + ", ".join(f"{_key(str(k))} = {_value(x)}" for k, x in v.items() if x is not None) + "}"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def _is_table_array(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and bool(v) and all(isinstance(x, Mapping) for x in v)


def _emit(doc: Mapping[str, Any], prefix: str, out: list[str]) -> None:
    for k, v in doc.items():
        if v is None or isinstance(v, Mapping) or _is_table_array(v):
            continue
        out.append(f"{_key(str(k))} = {_value(v)}")
    for k, v in doc.items():
        name = f"{prefix}.{_key(str(k))}" if prefix else _key(str(k))
        if isinstance(v, Mapping):
            out += ["", f"[{name}]"]
            _emit(v, name, out)
        elif _is_table_array(v):
            for item in v:
                out += ["", f"[[{name}]]"]
                _emit(item, name, out)


def dumps(doc: Mapping[str, Any]) -> str:
    """``doc`` as TOML text (top-level scalars first, then tables and arrays of tables)."""
    out: list[str] = []
    _emit(doc, "", out)
    return "\n".join(out).strip() + "\n"


__all__ = ["dumps"]
