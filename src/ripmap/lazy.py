"""Modules imported on first use: ``from ripmap.lazy import sparse as sp``.

``scipy.sparse`` costs about 0.2–0.4 s to import (most of it scipy's array-API layer
walking numpy's namespace), as much as a whole warm ``ripmap`` run that finds its map
kept. Every module that builds matrices takes it from here, so a run that never builds
one (a kept map, ``--help``, a usage error) never pays for it.

The stand-in imports the real module on the first attribute read and then copies its
namespace into itself, so later reads are plain attribute lookups. The import goes
through :func:`importlib.import_module`, whose per-module lock makes a first use from
two threads at once (the read-ahead threads of :mod:`ripmap.api`) safe.
"""
from __future__ import annotations

import importlib
import types


class LazyModule(types.ModuleType):
    """A module object that becomes ``target`` when first read."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.__dict__["_lazy_target"] = target

    def __getattr__(self, attr: str):
        # called only for names not copied in yet (or not in the module at all)
        real = importlib.import_module(self.__dict__["_lazy_target"])
        self.__dict__.update({k: v for k, v in vars(real).items() if k not in ("__dict__", "__class__")})
        return getattr(real, attr)


#: ``scipy.sparse``, imported on first use
sparse = LazyModule("scipy.sparse")
