"""``ripmap-train-outer``: the L2 loop that evolves L1's promptgram (not built yet)."""
from __future__ import annotations

import sys


def main(argv=None) -> int:
    print("ripmap-train-outer: not yet implemented (the L2 promptgram loop has its own issue)", file=sys.stderr)
    return 2
