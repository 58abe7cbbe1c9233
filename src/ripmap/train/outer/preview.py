"""The L1 prompt an inner run is about to send, built without calling any agent (``--dry``).

It is assembled from the same pieces and in the same way as
:meth:`ripmap.train.l1.strategy.L1Strategy.ask` builds it: the point the inner run is at
(its start, or where its last finished episode ended), the failures drawn for it with the
same rotation, the trajectory and insights so far. For an inner run that has not started,
that is exactly the prompt of its first episode.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ...rank.params import Params
from ..evaluation.measurement import measure
from ..l1.episode import StartPoint
from ..l1.prompt import PromptState, build_prompt, slices
from ..l1.promptgram import Promptgram
from ..l1.rotation import select_failures
from ..l1.scratchpad import SCRATCHPAD, Scratchpad, unchanged_streak

if TYPE_CHECKING:
    from ..evaluation.evaluator import Evaluator


def l1_prompt_preview(ev: "Evaluator", promptgram: Promptgram, start: Params, inner_dir: Path | None, *,
                      episodes_total: int, failures_shown: int) -> tuple[int, str]:
    """(the episode number, the prompt) of the next L1 episode of the inner run in ``inner_dir``."""
    sp = Scratchpad.load(inner_dir) if inner_dir is not None and (inner_dir / SCRATCHPAD).is_file() \
        else Scratchpad(run="preview")
    if sp.episodes:
        point = Params.from_dict(sp.episodes[-1].params_after)
    elif sp.start is not None:
        point = Params.from_dict(sp.start.params)
    else:
        point = start
    cur = measure(ev, point)
    if sp.start is None:
        sp.start = StartPoint(point.to_dict(), cur.ndcg, cur.holdout)
    sel = select_failures(ev, cur, sp.episodes, shown=failures_shown, pool=int(ev.failure_pool))
    threshold = float(ev.failure_threshold)
    n = sp.last_episode + 1
    state = PromptState(
        episode=n, episodes_total=episodes_total, params=cur.params, ndcg=cur.ndcg, best=sp.best(),
        n_train=len(cur.train.per_case), n_failing=cur.n_failing, failure_threshold=threshold,
        failures=sel.failures, history=tuple(sp.episodes), start=sp.start, insights=sp.insights(),
        unchanged_for=unchanged_streak(sp.episodes), failure_pool=sel.pool, new_failures=sel.new,
        slices=slices(cur.train, threshold, sel.failures))
    return n, build_prompt(promptgram, state)


__all__ = ["l1_prompt_preview"]
