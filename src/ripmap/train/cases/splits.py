"""The three splits every case belongs to, and how a whole repository is held out.

* ``train``: what the objective is computed on, what agents read failures from;
* ``holdout``: the validation split, the newest commits of each training repository
  (``--holdout F``): measured on every point and used only to *select* the final point;
* ``test``: every case of a repository kept out of training (``--holdout-repo``):
  evaluated once, at the end of a run, on the start point and the final point, and by the
  distillation gate. No agent and no distiller ever sees a test case or a test figure.

The validation split keeps its historical name ``holdout`` in case files and in
``results.json`` (``holdout_ndcg``), so files written before held-out repositories existed
read the same.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Iterable

from .oracle import Case, MinedRepo

TRAIN, VALIDATION, TEST = "train", "holdout", "test"


def of_split(cases: Iterable[Case], split: str) -> list[Case]:
    """The cases of one split, in their order."""
    return [c for c in cases if c.split == split]


def hold_out(mined: MinedRepo) -> MinedRepo:
    """The repository with every case moved to the test split: a held-out repository is
    judged as a whole, never split by time (none of it may steer training)."""
    return replace(mined, cases=[replace(c, split=TEST) for c in mined.cases])


def training_cases(cases: Iterable[Case]) -> list[Case]:
    """Every case that training may use (train and validation): never a test case."""
    return [c for c in cases if c.split != TEST]


__all__ = ["TEST", "TRAIN", "VALIDATION", "hold_out", "of_split", "training_cases"]
