"""The scripts under ``bench/`` loaded as modules, for the tests of their pieces."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def load_bench(name: str):
    """``bench/<name>.py`` as the module ``bench_<name>``. It is registered before it runs
    (its dataclasses look their module up), and ``bench/`` is importable (a script may
    import its neighbour, as symbols.py imports quality.py)."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod
