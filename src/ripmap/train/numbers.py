"""How the trainer reads numbers from records and writes them in text, and stamps time.

Records come from JSON written by other runs, other versions and other agents, so a
"number" may be missing, a string, a bool or NaN; every reader asks :func:`finite`
instead of trusting the type. Text shows a missing number as a word, never as ``None``.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any, TypeVar

D = TypeVar("D", float, None)


def finite(x: Any, default: D = None) -> float | D:
    """``x`` as a float when it is a finite real number (not a bool), else ``default``."""
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(float(x)):
        return default
    return float(x)


def fixed(x: Any, nd: int = 4, missing: str = "n/a") -> str:
    """``x`` with ``nd`` decimals, or ``missing`` when it is no number."""
    return f"{x:.{nd}f}" if isinstance(x, (int, float)) and not isinstance(x, bool) else missing


def utc_now() -> str:
    """The time stamp of records (config.json, episodes, wisdom): UTC, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


__all__ = ["finite", "fixed", "utc_now"]
