"""Independent sparse products of a large graph side by side on two threads.

scipy's sparse kernels let go of the GIL while they run, so two products that do not
depend on each other (one PageRank step's import share and shared path) can run on two
cores at once, each computing exactly what it would alone: the same bits in less wall
time. PageRank on a 70,000-file tree is a hundred such steps over matrices of a few
million entries; below :data:`MIN_NNZ` entries the hand-over costs more than it saves
and the products run one after the other.
"""
from __future__ import annotations

import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

#: the fewest stored entries worth a second thread (a product of 200,000 takes ~0.3 ms)
MIN_NNZ = 200_000

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _forget_helper() -> None:
    """In a forked child: the parent's helper thread is not there, so its executor would
    queue work no thread takes; the child makes its own when it needs one."""
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_helper)


def _helper() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ripmap-side")
    return _pool


def side_by_side(first, second, *, large: bool):
    """``(first(), second())``, the first on the helper thread while the second runs
    here when ``large`` and a second core is there; one after the other otherwise. For
    two independent products of one step (each computes what it would alone)."""
    if not large or usable_cores() < 2:
        return first(), second()
    pending = _helper().submit(first)
    b = second()
    return pending.result(), b
