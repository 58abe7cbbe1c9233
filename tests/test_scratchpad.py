"""The scratchpad: an L1 run's memory, its Episode records, and how insights accumulate.

``scratchpad.json`` is what resume, replay, the run views and distillation read, so its
JSON form is a contract: an :class:`Episode` must survive a round trip unchanged, a
scratchpad written by an older ripmap (keys missing, keys this version does not know)
must still load and be written back without losing anything, and a broken file is one
clear error.
"""
from __future__ import annotations

import json

import pytest

from ripmap.errors import RipmapError
from ripmap.rank.params import DEFAULT
from ripmap.train.evaluation.evaluator import Failure
from ripmap.train.l1.episode import Episode, StartPoint
from ripmap.train.l1.reply import Rejection
from ripmap.train.l1.scratchpad import (
    SCRATCHPAD, Scratchpad, derive_patterns, evaluated_points, insight_occurrences, merge_unique, unchanged_streak,
)
from ripmap.train.l1.step import Applied

P0 = DEFAULT.to_dict()
P1 = DEFAULT.replace(boost_lexical=DEFAULT.boost_lexical * 2).to_dict()
P2 = DEFAULT.replace(weight_structure=DEFAULT.weight_structure / 2).to_dict()


def episode(n: int, before: float, after: float, *, params_before=P0, params_after=P1, applied=None,
            interactions=(), insights=(), **kw) -> Episode:
    applied = {"boost_lexical": Applied(1.0, 2.0, "increase", "large", "why")} if applied is None else applied
    return Episode(episode=n, ndcg_before=before, ndcg_after=after, params_before=params_before,
                   params_after=params_after, applied=applied,
                   proposal={"strategy_capsule": f"capsule {n}", "param_interactions": list(interactions),
                             "structural_insights": list(insights)}, **kw)


def full_episode() -> Episode:
    failure = Failure(repo="r", file_count=12, commit="abc", message="fix it", intent="debug", seed_file="a.py",
                      expected_top=("b.py",), actual_top=("c.py", "d.py"), ndcg=0.1,
                      explanations=({"path": "b.py", "rank": 4, "signals": []},), task="A+msg")
    return Episode(
        episode=1, timestamp="2026-01-01T00:00:00+00:00", episodes_total=5, min_confidence=0.3,
        params_before=P0, params_after=P1, ndcg_before=0.5, ndcg_after=0.6, holdout_before=0.4, holdout_after=0.45,
        failures=3, failures_shown=(failure,), prompt_sha256="f" * 64, raw_reply="REASONING: r\nJSON: {}",
        reasoning="r", proposed_changes={"boost_lexical": ["increase", "large", "why"], "nope": 1},
        proposal={"strategy_capsule": "c", "confidence": 0.8},
        applied={"boost_lexical": Applied(1.0, 2.0, "increase", "large", "why")},
        rejected=(Rejection("nope", "unknown parameter"),), parse_errors=("diagnosis missing",), confidence=0.8,
        agent="fake", error=None, latency_s=1.5, attempts=2, tokens_in=100, tokens_out=20,
        flags=("low_confidence",), duration_s=2.25)


def test_episode_round_trips_through_json():
    e = full_episode()
    d = json.loads(json.dumps(e.to_dict()))
    assert Episode.from_dict(d) == e
    assert Episode.from_dict(d).to_dict() == d
    # the scratchpad's key spelling, which the views and older runs rely on
    assert d["tokens"] == {"in": 100, "out": 20}
    assert d["applied"]["boost_lexical"] == {"from": 1.0, "to": 2.0, "direction": "increase", "magnitude": "large",
                                             "rationale": "why"}
    assert d["rejected"] == [{"param": "nope", "reason": "unknown parameter"}]
    assert d["failures_shown"][0]["expected_top"] == ["b.py"] and d["failures_shown"][0]["task"] == "A+msg"


def test_episode_from_an_older_or_newer_scratchpad_loses_nothing():
    old = {"episode": 2, "ndcg_before": 0.5, "ndcg_after": None, "params_after": P1, "applied": {},
           "a_key_from_another_version": {"kept": True}}
    e = Episode.from_dict(old)
    assert e.episode == 2 and e.ndcg_after is None and e.delta is None and e.flags == () and e.failures_shown == ()
    assert e.to_dict()["a_key_from_another_version"] == {"kept": True}
    with pytest.raises((KeyError, ValueError)):
        Episode.from_dict({"ndcg_before": 0.5})


def test_scratchpad_save_and_load_is_byte_stable(tmp_path):
    sp = Scratchpad(run="r1", start=StartPoint(P0, 0.5, 0.4))
    sp.add_episode(full_episode())
    sp.add_episode(episode(2, 0.6, 0.55, params_before=P1, params_after=P2, interactions=["a couples with b"]))
    sp.save(tmp_path)
    text = (tmp_path / SCRATCHPAD).read_text(encoding="utf-8")
    back = Scratchpad.load(tmp_path)
    assert back.episodes == sp.episodes and back.start == sp.start and back.insights() == sp.insights()
    back.save(tmp_path)
    assert (tmp_path / SCRATCHPAD).read_text(encoding="utf-8") == text
    data = json.loads(text)
    assert data["format"] == 1 and data["run"] == "r1" and data["start"] == {"params": P0, "train": 0.5,
                                                                              "holdout": 0.4}
    assert not list(tmp_path.glob(".*.tmp"))  # written through the atomic writer


def test_episodes_must_follow_each_other():
    sp = Scratchpad(run="r")
    sp.add_episode(episode(1, 0.5, 0.6))
    with pytest.raises(RipmapError, match="episode 3 recorded after 1"):
        sp.add_episode(episode(3, 0.6, 0.7))
    with pytest.raises(RipmapError, match="not numbered"):
        Scratchpad.from_dict({"run": "r", "episodes": [episode(1, 0.5, 0.6).to_dict(),
                                                       episode(3, 0.6, 0.7).to_dict()]})
    with pytest.raises(RipmapError, match="not an L1 scratchpad"):
        Scratchpad.from_dict({"trials": []}, run="search-run")


def test_unreadable_scratchpad_is_one_line(tmp_path):
    (tmp_path / SCRATCHPAD).write_text("{not json", encoding="utf-8")
    with pytest.raises(RipmapError, match="not valid JSON") as info:
        Scratchpad.load(tmp_path)
    assert "\n" not in str(info.value)


def test_insights_accumulate_once_and_patterns_follow_the_effects():
    sp = Scratchpad(run="r", start=StartPoint(P0, 0.5, None))
    lex_up = {"boost_lexical": Applied(1.0, 2.0, "increase", "large", "x")}
    sp.add_episode(episode(1, 0.50, 0.60, applied=lex_up, interactions=["Lexical  and co-change overlap"]))
    sp.add_episode(episode(2, 0.60, 0.65, applied=lex_up, interactions=["lexical and CO-CHANGE overlap", "other"]))
    sp.add_episode(episode(3, 0.65, 0.55, applied={"hub_damping": Applied(0.5, 0.4, "decrease", "small", "y")},
                           insights=["tests look like code"]))
    assert sp.param_interactions == ["Lexical  and co-change overlap", "other"]  # the first wording is kept
    assert sp.structural_insights == ["tests look like code"]
    assert len(sp.success_patterns) == 1 and sp.success_patterns[0].startswith(
        "raising boost_lexical raised train NDCG in 2 of 2 episode(s) (mean +0.0750; episodes 1, 2)")
    assert len(sp.failure_patterns) == 1 and sp.failure_patterns[0].startswith("lowering hub_damping lowered")
    occ = insight_occurrences(sp.episodes)
    assert occ["param_interactions"] == {"Lexical  and co-change overlap": [1, 2], "other": [2]}
    assert occ["structural_insights"] == {"tests look like code": [3]}
    assert derive_patterns([]) == ([], [])


def test_merge_unique_ignores_case_spacing_and_junk():
    assert merge_unique(["A b"], ["a  B", " new ", "", 3, "NEW"]) == ["A b", "new"]


def test_evaluated_points_best_point_and_lock_in_streak():
    start = StartPoint(P0, 0.5, 0.4)
    eps = [episode(1, 0.5, 0.7, params_after=P1), episode(2, 0.7, 0.5, params_before=P1, params_after=P0),
           episode(3, 0.5, 0.7, params_before=P0, params_after=P1)]
    # a revert to an earlier point keeps that point's first appearance
    assert [(tr, ep) for tr, _ho, _ps, ep in evaluated_points(start, eps)] == [(0.5, 0), (0.7, 1)]
    sp = Scratchpad(run="r", start=start)
    for e in eps:
        sp.add_episode(e)
    best = sp.best()
    assert (best.episode, best.train) == (1, 0.7)  # ties go to the earliest point
    assert Scratchpad(run="r", start=start).best().episode == 0
    same = [episode(n, 0.5, 0.5, params_before=P1, params_after=P1, applied={}) for n in (1, 2, 3)]
    assert unchanged_streak(same) == 3 and unchanged_streak(eps) == 1 and unchanged_streak([]) == 0
