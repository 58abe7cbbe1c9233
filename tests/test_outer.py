"""L2's parts, each on its own: directives, edits, L2 replies, selection, versions, diagnostics, the heuristic L2.

The loop itself (inner runs, files, resume, fake CLIs) is in ``test_outer_run.py``.
"""
from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from ripmap.errors import UsageError
from ripmap.train.agents.directives import directives_of, parse_directives, parse_line
from ripmap.train.agents.heuristic import propose_from_context
from ripmap.train.l1.promptgram import default_promptgram_text, load_promptgram, parse_promptgram
from ripmap.train.l1.reply import parse_reply
from ripmap.train.outer.diagnostics import diagnose
from ripmap.train.outer.edits import MAX_EDITS, Edit, apply_edits
from ripmap.train.outer.heuristic import propose_outer
from ripmap.train.outer.population import EXPLORE_QUOTA, Member, select
from ripmap.train.outer.reply import parse_l2_reply
from ripmap.train.outer.scratchpad import OuterStep
from ripmap.train.outer.toml_out import dumps
from ripmap.train.outer.versions import PromptLibrary, VersionRun

MINIMAL = "## Role\nr\n\n## Policy\n- p\n\n## Heuristics\n- h\n\n## Style\ns\n"


# -- directives ---------------------------------------------------------------------------------

def test_directive_grammar_parses_folds_and_explains_bad_lines():
    text = """- directive: prefer boost_lexical, boost_focus_expansion increase  # helped
`directive: avoid pagerank_alpha`
directive: step medium
directive: step large
directive: explore 0.3
directive: on plateau 2: escalate
directive: max-changes 2
directive: prefer pagerank_alpha decrease
Prefer few changes per episode (prose, not a directive).
```
directive: avoid boost_lexical
```
directive: prefer boost_lexcal
directive: step huge
directive: on plateau 2: panic
"""
    d = parse_directives([text])
    assert d.prefer == (("boost_lexical", "increase"), ("boost_focus_expansion", "increase"))  # avoid wins
    assert d.avoids("pagerank_alpha") and d.avoids("pagerank_alpha", "increase")
    assert not d.avoids("boost_lexical")  # the fenced example is not an instruction
    assert (d.step, d.explore, d.max_changes, d.plateau_after, d.plateau_action) == ("large", 0.3, 2, 2, "escalate")
    assert len(d.errors) == 3
    assert "did you mean 'boost_lexical'" in d.errors[0]
    assert "step takes one of small, medium, large" in d.errors[1]
    assert "orthogonal" in d.errors[2]
    assert parse_line("Prefer few changes")[0] is None and parse_line("Prefer few changes")[1] is None
    # only Policy and Heuristics are read
    assert directives_of({"Role": "directive: step large", "Policy": "", "Heuristics": ""}).empty
    assert directives_of({"Heuristics": "directive: step large"}).step == "large"


def _failure(rows: list[dict], ndcg: float = 0.2) -> dict:
    return {"repo": "r", "file_count": 10, "commit": "c", "message": "m", "intent": "fix", "seed_file": "a.py",
            "expected_top": ["b.py"], "actual_top": ["z.py"], "ndcg": ndcg, "explanations": rows, "task": "A",
            "kind": ""}


def _row(path: str, expected: bool, structure: float, cochange: float, lexical: float, rank: int) -> dict:
    sig = [{"signal": "structure", "kind": "additive", "value": structure, "weight": 1.0, "contribution": structure},
           {"signal": "cochange", "kind": "additive", "value": cochange, "weight": 1.0, "contribution": cochange},
           {"signal": "lexical", "kind": "additive", "value": lexical, "weight": 1.0, "contribution": lexical}]
    return {"path": path, "rank": rank, "score": structure + cochange + lexical, "expected": expected, "signals": sig}


def _context(promptgram: dict | None) -> dict:
    fails = [_failure([_row("core/util.py", False, 0.9, 0.0, 0.1, 1), _row(f"m/{i}.py", True, 0.1, 0.5, 0.1, 8)])
             for i in range(4)]
    ctx = {"params": {}, "ndcg": 0.3, "best_ndcg": 0.3, "episode": 1, "episodes_total": 5, "trajectory": [],
           "failures": fails}
    if promptgram is not None:
        ctx["promptgram"] = promptgram
    return ctx


def test_directives_change_the_heuristic_agents_proposal():
    plain = parse_reply(propose_from_context(_context(None)))
    same = parse_reply(propose_from_context(_context({"Policy": "- no directives here", "Heuristics": ""})))
    assert {c.param for c in plain.changes} == {c.param for c in same.changes}
    steered = parse_reply(propose_from_context(_context({
        "Policy": "- directive: step large\n- directive: max-changes 2",
        "Heuristics": "- directive: avoid weight_structure\n- directive: prefer git_recency_max_boost increase"})))
    moved = [(c.param, c.direction, c.magnitude) for c in steered.changes]
    assert moved[0] == ("git_recency_max_boost", "increase", "large")  # preferred first, at the directed step
    assert "weight_structure" in {c.param for c in plain.changes}
    assert "weight_structure" not in {c.param for c in steered.changes}
    assert len(moved) <= 2 and all(m == "large" for _p, _d, m in moved)


def test_agree_directive_keeps_only_moves_several_repositories_ask_for():
    lone = _context(None)  # four failures, all from repository "r", all asking to lower structure
    plain = parse_reply(propose_from_context(lone))
    assert "weight_structure" in {c.param for c in plain.changes}
    agree2 = {"Policy": "- directive: agree 2", "Heuristics": ""}
    steered = parse_reply(propose_from_context({**lone, "promptgram": agree2}))
    assert not steered.changes and "1 of 1 repositories lean that way" in steered.reasoning
    # the same failures spread over two repositories: both lean the same way, so the move is made
    two = {**lone, "failures": [{**f, "repo": f"r{i % 2}"} for i, f in enumerate(lone["failures"])],
           "promptgram": agree2}
    both = parse_reply(propose_from_context(two))
    assert "weight_structure" in {c.param for c in both.changes}
    assert parse_line("directive: agree 9")[1] and parse_line("directive: agree two")[1]
    assert directives_of({"Policy": "- directive: agree 3"}).agree == 3


def test_revert_nearest_lands_closest_to_the_value_before_the_harmful_change():
    # episode 1 raised boost_temporal_coupling 74 -> 100 (x2 clamped at the bound) and NDCG fell
    ctx = {**_context(None), "params": {"boost_temporal_coupling": 100.0}, "episode": 2,
           "trajectory": [{"episode": 1, "ndcg_before": 0.40, "ndcg_after": 0.35,
                           "applied": {"boost_temporal_coupling": ["increase", "large", 74.0]}}]}
    same = parse_reply(propose_from_context(ctx))
    near = parse_reply(propose_from_context({**ctx, "promptgram": {"Policy": "- directive: revert nearest"}}))
    mag = {c.param: (c.direction, c.magnitude) for c in same.changes}
    assert mag["boost_temporal_coupling"] == ("decrease", "large")  # halves: 50, far below 74
    assert {c.param: (c.direction, c.magnitude) for c in near.changes}["boost_temporal_coupling"] == \
        ("decrease", "medium")  # x0.7: 70, the step closest to 74
    assert parse_line("directive: revert back")[1] and directives_of({"Policy": "directive: revert same"}).revert == "same"


def test_stall_directive_stops_a_run_that_no_longer_improves():
    traj = [{"episode": 1, "ndcg_before": 0.30, "ndcg_after": 0.32, "applied": {}},
            {"episode": 2, "ndcg_before": 0.32, "ndcg_after": 0.32, "applied": {}},
            {"episode": 3, "ndcg_before": 0.32, "ndcg_after": 0.3201, "applied": {}}]
    ctx = {**_context(None), "episode": 4, "trajectory": traj}
    assert parse_reply(propose_from_context(ctx)).changes  # the evidence still asks for moves
    held = parse_reply(propose_from_context({**ctx, "promptgram": {"Policy": "- directive: stall 2"}}))
    assert not held.changes and "No new best train NDCG@10 for 2 episodes" in held.reasoning
    assert parse_reply(propose_from_context({**ctx, "promptgram": {"Policy": "- directive: stall 3"}})).changes
    # a change that just hurt is still undone while stalled
    hurt = traj + [{"episode": 4, "ndcg_before": 0.3201, "ndcg_after": 0.30,
                    "applied": {"boost_lexical": ["increase", "medium", 24.0]}}]
    undo = parse_reply(propose_from_context({**ctx, "episode": 5, "trajectory": hurt,
                                             "promptgram": {"Policy": "- directive: stall 2"}}))
    assert [(c.param, c.direction) for c in undo.changes] == [("boost_lexical", "decrease")]


# -- edits ----------------------------------------------------------------------------------------

def test_edits_apply_and_refuse_with_reasons():
    pg = parse_promptgram(MINIMAL)
    raw = [
        {"section": "heuristics", "edit_type": "add", "content": "- directive: prefer boost_lexical increase"},
        {"section": "Policy", "edit_type": "replace", "content": "- q", "target": "- p"},
        {"section": "Output_schema", "edit_type": "replace", "content": '"proposed_changes": {}', "target": ""},
        {"section": "API contract", "edit_type": "add", "content": "x"},
    ]
    out = apply_edits(pg, raw)
    assert [e.to_dict()["section"] for e in out.applied] == ["Heuristics", "Policy"]
    assert out.child.section("Heuristics") == "- h\n- directive: prefer boost_lexical increase"
    assert out.child.section("Policy") == "- q" and out.child.section("Role") == "r"
    reasons = [r.reason for r in out.refused]
    assert "L1 output protocol" in reasons[0] and "L1 output protocol" in reasons[1]
    assert out.child.names() == pg.names() and "proposed_changes" not in out.child.render()
    bad = apply_edits(pg, [{"section": "Examples", "edit_type": "add", "content": "x"},
                           {"section": "Style", "edit_type": "append", "content": "x"},
                           {"section": "Style", "edit_type": "add", "content": "ok\n## Output_schema\nJSON: {}"},
                           "not an object"])
    reasons = [r.reason for r in bad.refused]
    assert not bad.applied and bad.child.sha256 == pg.sha256
    assert "not an editable promptgram section" in reasons[0]
    assert "edit_type 'append'" in reasons[1]
    assert "section heading" in reasons[2]
    assert "must be an object" in reasons[3]

    more = apply_edits(pg, [
        {"section": "Style", "edit_type": "add", "content": "Never leave proposed_changes empty."},
        {"section": "Heuristics", "edit_type": "add", "content": "- directive: prefer boost_lexcal"},
        {"section": "Heuristics", "edit_type": "delete", "target": "not there"},
        {"section": "Heuristics", "edit_type": "add", "content": "- h"},
    ])
    why = [r.reason for r in more.refused]
    assert "restates the L1 output protocol" in why[0]
    assert "malformed directive" in why[1] and "boost_lexical" in why[1]
    assert "target not found" in why[2]
    assert "already in Heuristics" in why[3]
    many = apply_edits(pg, [{"section": "Heuristics", "edit_type": "delete", "target": "- h"}]
                       + [{"section": "Style", "edit_type": "add", "content": f"line {i}"} for i in range(MAX_EDITS)])
    assert many.child.section("Heuristics") == "" and len(many.applied) == MAX_EDITS
    assert [r.reason for r in many.refused] == [f"more than {MAX_EDITS} edits in one reply"]


def test_l2_reply_shapes():
    edit = '{"section": "Heuristics", "edit_type": "add", "content": "- x", "target": ""}'
    body = '{"proposal": {"edits": [' + edit + ']}, "rationale": "because"}'
    for text in (body, f"Some thoughts.\n```json\n{body}\n```\nmore prose", f"REASONING: r\nJSON: {body}"):
        r = parse_l2_reply(text)
        assert r.error is None and r.rationale == "because" and r.edits[0]["content"] == "- x"
    assert parse_l2_reply("").error == "empty reply"
    assert "no JSON" in (parse_l2_reply("I think the promptgram is fine.").error or "")
    assert "'proposal'" in (parse_l2_reply('{"edits": []}').error or "")
    assert "empty" in (parse_l2_reply('{"proposal": {"edits": []}, "rationale": "long"}').error or "")
    assert "list" in (parse_l2_reply('{"proposal": {"edits": {}}}').error or "")


# -- selection --------------------------------------------------------------------------------------

def test_selection_new_first_then_quota_and_weights():
    ms = [Member("inner_v001", None, (0.5,), 1), Member("inner_v002", "inner_v001", (), 0, 1),
          Member("inner_v003", "inner_v001", (), 0, 2)]
    assert select(ms, step=5, seed=0).how == "new" and select(ms, step=5, seed=0).version == "inner_v002"
    ms = [Member("inner_v001", None, (0.5, 0.5, 0.5), 3), Member("inner_v002", "inner_v001", (0.6,), 1, 1),
          Member("inner_v003", "inner_v002", (0.4,), 1, 2)]
    picks = [select(ms, step=s, seed=7) for s in range(1, 2001)]
    assert picks == [select(ms, step=s, seed=7) for s in range(1, 2001)]  # seeded by (seed, step): resumable
    explore = [p for p in picks if p.how == "explore"]
    assert abs(len(explore) / len(picks) - EXPLORE_QUOTA) < 0.03
    assert all(p.version == "inner_v002" for p in picks if p.how == "exploit")  # best mean
    w = explore[0].weights
    assert w == pytest.approx({"inner_v001": 0.2, "inner_v002": 0.4, "inner_v003": 0.4})  # ∝ 1/(runs+1)
    share = sum(p.version == "inner_v001" for p in explore) / len(explore)
    assert abs(share - 0.2) < 0.06


# -- versions --------------------------------------------------------------------------------------

def test_toml_round_trip():
    doc = {"version": "inner_v002", "parent": "inner_v001", "score": 0.25, "n": 3, "ok": True, "none": None,
           "tags": ["a", 'b"c'], "origin": {"run": "r", "outer_step": 1},
           "edits": [{"section": "Heuristics", "content": "line\n\\ \t é \x7f \x01 😀 \"q\"", "target": ""}],
           "runs": [{"run": "r", "score": 0.5}, {"run": "s", "score": 1e-9}], "empty": []}
    assert tomllib.loads(dumps(doc)) == {k: v for k, v in doc.items() if v is not None}


def test_library_versions_are_numbered_idempotent_and_record_runs(tmp_path):
    lib = PromptLibrary(tmp_path / "inner")
    root = lib.ensure_default()
    assert root.name == "inner_v001" and root.path.read_text() == default_promptgram_text()
    assert lib.ensure_default().name == "inner_v001"
    child = parse_promptgram(root.path.read_text()).with_section("Style", "short")
    e = (Edit("Style", "replace", "short", ""),)
    v2 = lib.add_child(root, child, edits=e, rationale="why", run="r", outer_step=1, agent="heuristic")
    again = lib.add_child(root, child, edits=e, rationale="why", run="r", outer_step=1, agent="heuristic")
    assert v2.name == again.name == "inner_v002" and lib.names() == ["inner_v001", "inner_v002"]
    lib.record_run("inner_v002", VersionRun("r", 2, "runs/r/inner_runs/step_002", 0.5, 0.4, 0.5, 0.3, 3))
    lib.record_run("inner_v002", VersionRun("r", 2, "runs/r/inner_runs/step_002", 0.6, 0.4, 0.6, 0.3, 3))
    meta = tomllib.loads((tmp_path / "inner" / "inner_v002.toml").read_text())
    assert meta["parent"] == "inner_v001" and meta["edits"][0]["content"] == "short"
    assert [r["score"] for r in meta["runs"]] == [0.6] and meta["scores"]["mean"] == 0.6
    assert lib.get("inner_v002").promptgram().section("Style") == "short"


def test_prompt_accepts_version_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RIPMAP_PROMPTGRAM_DIR", str(tmp_path / "installed"))
    lib = PromptLibrary(Path("training-outer/prompts/inner"))
    root = lib.ensure_default()
    lib.add_child(root, parse_promptgram(root.path.read_text()).with_section("Style", "evolved"), edits=(),
                  rationale="", run="r", outer_step=1, agent="h")
    assert load_promptgram("inner_v002").section("Style") == "evolved"
    (tmp_path / "installed").mkdir()
    (tmp_path / "installed" / "mine.md").write_text(MINIMAL)
    assert load_promptgram("mine").section("Role") == "r"
    with pytest.raises(UsageError, match="no promptgram 'inner_v009'"):
        load_promptgram("inner_v009")


# -- diagnostics ------------------------------------------------------------------------------------

def _step(n: int, score: float, params: dict | None = None, moved: dict | None = None, version: str = "inner_v001",
          inner: dict | None = None, proposal: dict | None = None, rationale: str = "") -> OuterStep:
    return OuterStep(outer_step=n, promptgram=version, parent=None, final_params=params or {"a": 1.0},
                     final_metrics={"score": score}, moved_params=moved or {}, inner=inner or {"episodes": 4},
                     start_metrics={"train": 0.1}, proposal=proposal or {"edits": [{"x": 1}]}, rationale=rationale)


def test_diagnostics_find_the_seeds_failure_modes():
    kinds = lambda ds: {d.kind for d in ds}  # noqa: E731
    assert diagnose([_step(i, 0.5) for i in range(1, 5)], {}) == []
    locked = diagnose([_step(i, 0.5 + i / 100) for i in range(1, 6)], {})
    assert kinds(locked) == {"basin_lock_in"}
    falling = diagnose([_step(i, 0.6 - i / 100, {"a": float(i)}) for i in range(1, 5)], {})
    assert kinds(falling) == {"collapse"}
    osc = diagnose([_step(1, 0.5, moved={"boost_lexical": {"increase": 2, "decrease": 1,
                                                            "directions": ["increase", "decrease", "increase"]}})], {})
    assert kinds(osc) == {"oscillation"} and osc[0].params == ("boost_lexical",)
    schema = diagnose([_step(1, 0.5, inner={"episodes": 4, "flags": {"schema_corruption": 3}})], {})
    assert kinds(schema) == {"schema_corruption"}
    l2_schema = diagnose([_step(1, 0.5, {"a": 1.0}, proposal={"edits": []}, rationale="x" * 300),
                          _step(2, 0.5, {"a": 2.0}, proposal={"edits": []}, rationale="x" * 300),
                          _step(3, 0.5, {"a": 3.0})], {})
    assert kinds(l2_schema) == {"schema_corruption"}
    edits = {"inner_v002": (Edit("Heuristics", "add", "- directive: prefer boost_lexical increase"),
                            Edit("Heuristics", "add", "- directive: avoid pagerank_alpha"))}
    ignored = diagnose([_step(1, 0.5, version="inner_v002",
                              moved={"pagerank_alpha": {"increase": 1, "decrease": 0, "directions": ["increase"]}})],
                       edits)
    assert kinds(ignored) == {"l2_not_steering"} and set(ignored[0].params) == {"boost_lexical", "pagerank_alpha"}
    followed = diagnose([_step(1, 0.5, version="inner_v002",
                               moved={"boost_lexical": {"increase": 2, "decrease": 0, "directions": []}})], edits)
    assert followed == []
    prose = diagnose([_step(1, 0.5, version="inner_v003")],
                     {"inner_v003": (Edit("Style", "add", "Think harder about the failures."),)})
    assert kinds(prose) == {"l2_not_steering"}


# -- the heuristic L2 agent ------------------------------------------------------------------------

def _l2_ctx(**kw) -> dict:
    base = {"task": "outer", "step": 2, "version": "inner_v001", "parent": None,
            "promptgram": {"Role": "r", "Policy": "- p", "Heuristics": "- h", "Style": "s"},
            "members": [{"version": "inner_v001", "parent": None, "runs": 1, "mean": 0.5}], "version_edits": {},
            "effects": {}, "diagnostics": [], "latest": {"episodes": 4, "moved": {}, "trajectory": []}}
    base.update(kw)
    return base


def _edits_of(text: str) -> list[dict]:
    r = parse_l2_reply(text)
    assert r.error is None, r.error
    return list(r.edits)


def test_heuristic_l2_avoids_moves_that_hurt_validation_and_prefers_rare_helpful_ones():
    effects = {
        "boost_lexical increase": {"param": "boost_lexical", "direction": "increase", "episodes": 4, "train": 0.01,
                                   "validation": -0.01, "up": 3, "down": 1, "validation_up": 0, "validation_down": 3},
        "focus_decay decrease": {"param": "focus_decay", "direction": "decrease", "episodes": 2, "train": 0.0,
                                 "validation": 0.02, "up": 0, "down": 0, "validation_up": 2, "validation_down": 0},
    }
    edits = _edits_of(propose_outer(_l2_ctx(effects=effects)))  # one new directive per step, the harm first
    assert [e["content"].split("#")[0].strip() for e in edits] == ["- directive: avoid boost_lexical increase"]
    out = apply_edits(parse_promptgram(MINIMAL), edits)
    assert not out.refused  # what it writes passes validation
    nxt = _edits_of(propose_outer(_l2_ctx(effects=effects, promptgram=dict(out.child.sections))))
    assert [e["content"].split("#")[0].strip() for e in nxt] == ["- directive: prefer focus_decay decrease"]
    once = {k: {**v, "validation_up": 1, "validation_down": 0, "episodes": 1} for k, v in effects.items()
            if k.startswith("focus")}
    assert "focus_decay" not in propose_outer(_l2_ctx(effects=once))  # one episode is noise


def test_heuristic_l2_undoes_a_child_that_scored_below_its_parent():
    line = "- directive: prefer boost_lexical increase"
    ctx = _l2_ctx(version="inner_v002", parent="inner_v001",
                  promptgram={"Role": "r", "Policy": "- p", "Heuristics": "- h\n" + line, "Style": "s"},
                  members=[{"version": "inner_v001", "parent": None, "runs": 1, "mean": 0.5},
                           {"version": "inner_v002", "parent": "inner_v001", "runs": 1, "mean": 0.4}],
                  version_edits={"inner_v002": [{"section": "Heuristics", "edit_type": "add", "content": line}]})
    edits = _edits_of(propose_outer(ctx))
    assert edits[0]["edit_type"] == "delete" and "prefer boost_lexical increase" in edits[0]["target"]
    pg = parse_promptgram(MINIMAL.replace("- h\n", "- h\n" + line + "\n"))
    assert apply_edits(pg, edits[:1]).child.sha256 == parse_promptgram(MINIMAL).sha256  # back to the parent's text
    # and it never re-adds what made a child worse
    again = _l2_ctx(members=ctx["members"], version_edits=ctx["version_edits"],
                    effects={"x": {"param": "boost_lexical", "direction": "increase", "episodes": 3, "train": 0.01,
                                   "validation": 0.01, "up": 3, "down": 0, "validation_up": 3, "validation_down": 0}})
    assert all("boost_lexical" not in e["content"] for e in _edits_of(propose_outer(again)))


def test_heuristic_l2_asks_for_agreement_when_the_left_out_repository_loses():
    def ctx(gains: dict, **kw) -> dict:
        tr = {"gain": sum(gains.values()) / len(gains), "repos": {r: {"point": 3, "gain": g} for r, g in gains.items()}}
        return _l2_ctx(latest={"episodes": 4, "moved": {}, "trajectory": [], "transfer": tr}, **kw)

    edits = _edits_of(propose_outer(ctx({"a": 0.004, "b": -0.012, "c": -0.001})))
    assert [e["content"] for e in edits] == ["- directive: agree 2"] and "b" in parse_l2_reply(
        propose_outer(ctx({"a": 0.004, "b": -0.012, "c": -0.001}))).rationale
    pg = apply_edits(parse_promptgram(MINIMAL), edits).child
    assert directives_of(dict(pg.sections)).agree == 2
    # still losing with agree 2: one more repository must agree (the line is replaced, not added)
    again = _edits_of(propose_outer(ctx({"a": -0.002, "b": -0.001, "c": 0.0}, promptgram=dict(pg.sections))))
    assert again[0]["edit_type"] == "replace" and again[0]["content"] == "- directive: agree 3"
    # moves that carry over to the left-out repository ask for nothing of the kind
    assert "agree" not in propose_outer(ctx({"a": 0.004, "b": 0.002}))


def test_heuristic_l2_asks_for_agreement_when_most_left_out_repositories_lose_though_one_gains_much():
    # the mean is positive only because of d; three of four repositories lose when left out
    gains = {"a": -0.003, "b": -0.0016, "c": -0.0032, "d": 0.0101}
    assert sum(gains.values()) > 0
    tr = {"gain": sum(gains.values()) / len(gains), "repos": {r: {"point": 6, "gain": g} for r, g in gains.items()}}
    edits = _edits_of(propose_outer(_l2_ctx(latest={"episodes": 24, "moved": {}, "trajectory": [], "transfer": tr})))
    assert [e["content"] for e in edits] == ["- directive: agree 2"]


def _four_repo_rows(point1: dict[str, tuple[float, float]]) -> list[dict]:
    start = {r: {"train": 0.5, "holdout": 0.5} for r in "abcd"}
    return [{"number": 0, "state": "COMPLETE", "start": True, "episode": 0, "by_repo": start},
            {"number": 1, "state": "COMPLETE", "start": False, "episode": 1,
             "by_repo": {r: {"train": t, "holdout": h} for r, (t, h) in point1.items()}}]


def test_runs_are_ranked_by_what_a_typical_left_out_repository_gains():
    from ripmap.train.outer.summary import InnerSummary, transfer_estimate

    # point 1 raises a, b and c's validation a little and lowers their train; d gains much
    one_wins = transfer_estimate(_four_repo_rows({"a": (.46, .52), "b": (.46, .52), "c": (.46, .52), "d": (.6, .6)}))
    assert {v["point"] for v in one_wins["repos"].values()} == {1}
    assert one_wins["gain"] > 0
    # a run whose visited points no validation prefers to the start: every repository stays
    stays = transfer_estimate(_four_repo_rows({r: (.55, .45) for r in "abcd"}))
    score = {name: InnerSummary.from_dict({"start_validation": 0.5, "transfer": tr}).score
             for name, tr in (("one_wins", one_wins), ("stays", stays))}
    assert score["stays"] == pytest.approx(0.5) and score["stays"] > score["one_wins"]

    from ripmap.train.outer.summary import transfer_median
    assert one_wins["losing"] == 3
    assert transfer_median(one_wins) == pytest.approx(-0.01)  # (.46 + .52) / 2 - .5, for a, b and c
    # a summary stored without the median reads the same (it is recomputed from the repositories)
    old = {k: v for k, v in one_wins.items() if k != "median"}
    assert transfer_median(old) == transfer_median(one_wins)


def test_heuristic_l2_stops_wandering_reverts_and_summary_counts_them():
    from ripmap.train.l1.episode import Episode
    from ripmap.train.l1.step import Applied
    from ripmap.train.outer.summary import revert_drift

    def ep(n: int, p: str, d: str, a: float, b: float) -> Episode:
        return Episode(episode=n, applied={p: Applied(a, b, d, "large", "")})
    eps = [ep(1, "boost_temporal_coupling", "increase", 74.0, 100.0), ep(2, "boost_temporal_coupling", "decrease", 100.0, 50.0),
           ep(3, "boost_lexical", "increase", 24.0, 48.0), ep(4, "boost_lexical", "decrease", 48.0, 24.0),
           ep(5, "git_churn_max_boost", "increase", 1.3, 1.69), ep(6, "git_churn_max_boost", "decrease", 1.69, 1.183)]
    rv = revert_drift(eps)
    assert rv["reverts"] == 3 and rv["drifted"] == 2  # the lexical one came back exactly
    edits = _edits_of(propose_outer(_l2_ctx(latest={"episodes": 6, "moved": {}, "trajectory": [], "reverts": rv})))
    assert [e["content"] for e in edits] == ["- directive: revert nearest"]
    once = {**rv, "drifted": 1}
    assert "revert nearest" not in propose_outer(_l2_ctx(latest={"episodes": 6, "moved": {}, "trajectory": [],
                                                                 "reverts": once}))


def test_heuristic_l2_stops_a_run_whose_final_point_came_after_it_stopped_improving():
    traj = [{"episode": i, "train_before": 0.5, "train_after": 0.51 if i == 2 else 0.5, "applied": {}}
            for i in range(1, 13)]
    late = {"episodes": 12, "moved": {}, "trajectory": traj, "start_train": 0.5, "final_episode": 9}
    edits = _edits_of(propose_outer(_l2_ctx(latest=late)))
    assert [e["content"] for e in edits] == ["- directive: stall 3"]
    early = {**late, "final_episode": 2}  # validation chose the point where train improved: nothing to stop
    assert "stall" not in propose_outer(_l2_ctx(latest=early))


def test_transfer_estimate_scores_each_repository_at_the_point_the_others_select():
    from ripmap.train.outer.summary import transfer_estimate

    def t(n: int, a: tuple, b: tuple, c: tuple) -> dict:
        return {"number": n, "state": "COMPLETE", "start": n == 0, "episode": n,
                "by_repo": {"a": {"train": a[0], "holdout": a[1]}, "b": {"train": b[0], "holdout": b[1]},
                            "c": {"train": c[0], "holdout": c[1]}}}
    # point 1 pleases a's and b's validation and hurts c; point 2 is a small gain everywhere
    rows = [t(0, (.5, .5), (.5, .5), (.5, .5)), t(1, (.5, .7), (.5, .7), (.4, .4)), t(2, (.52, .52), (.5, .51), (.5, .51))]
    est = transfer_estimate(rows)
    # without a: b and c's mean validation is .5 / .55 / .51 -> point 1; without b: .5 / .55 / .515 -> point 1;
    # without c: .5 / .7 / .515 -> point 1, where c drops to .4 / .4
    assert {r: v["point"] for r, v in est["repos"].items()} == {"a": 1, "b": 1, "c": 1}
    assert est["repos"]["a"]["gain"] == pytest.approx(0.1)  # (.5 + .7) / 2 - .5
    assert est["repos"]["c"]["gain"] == pytest.approx(-0.1)  # (.4 + .4) / 2 - .5
    assert est["gain"] == pytest.approx(0.1 / 3) and est["worst"] == pytest.approx(-0.1)
    # c's validation at point 1 low enough to outweigh: without a, b and c now prefer point 2
    rows[1]["by_repo"]["c"] = {"train": 0.4, "holdout": 0.2}
    est = transfer_estimate(rows)
    assert est["repos"]["a"]["point"] == 2 and est["repos"]["a"]["gain"] == pytest.approx(0.02)  # (.52+.52)/2-.5
    assert transfer_estimate([t(0, (.5, .5), (.5, .5), (.5, .5))])["gain"] == 0.0
    one = [{"number": 0, "start": True, "by_repo": {"a": {"train": 0.5, "holdout": 0.5}}}]
    assert transfer_estimate(one) is None  # one repository: nothing to leave out


def test_heuristic_l2_never_stands_still():
    first = _edits_of(propose_outer(_l2_ctx()))
    assert len(first) == 1 and first[0]["content"].startswith("- directive:")
    pg = apply_edits(parse_promptgram(MINIMAL), first).child
    second = _edits_of(propose_outer(_l2_ctx(promptgram=dict(pg.sections))))
    assert second != first


# -- asking L2: every failure is a refusal with its reason, never a crash -----------------------------

def test_l2_failures_are_refused_and_recorded(tmp_path):
    from ripmap.train.agents import AgentReply
    from ripmap.train.outer.loop import OuterSettings, ask_l2
    from ripmap.train.outer.prompt import L2State

    lib = PromptLibrary(tmp_path / "prompts" / "inner")
    root = lib.ensure_default()
    pg = root.promptgram()
    settings = OuterSettings(run="r", out=tmp_path, steps=2, episodes=1)
    state = L2State(step=1, steps_total=2, episodes_inner=1, agent_inner="heuristic", warm_start=False,
                    version=root.name, parent=None, promptgram_text=pg.render(), promptgram_sections=dict(pg.sections),
                    members=(Member(root.name, None, (0.5,), 1),), version_edits={}, history=(), latest=None)

    class Scripted:
        name = "scripted"

        def __init__(self, reply):
            self.reply, self.calls = reply, 0

        def propose(self, prompt, context=None):
            self.calls += 1
            if isinstance(self.reply, Exception):
                raise self.reply
            return self.reply

    cases = [(AgentReply("", 300.0, attempts=3, error="gemini: timed out after 300 s (3 attempts)"), "timed out"),
             (AgentReply("   ", 0.1), "empty reply"),
             (AgentReply('{"proposal": {"edits": [{"section": "Output_schema", "edit_type": "add", "content": "x"}]}}',
                         0.1), "protocol"),
             (ValueError("agent bug"), "ValueError: agent bug")]
    for i, (reply, why) in enumerate(cases):
        out = ask_l2(replace_step(settings, i), state, root, agent=Scripted(reply))
        assert out.refused and why in out.refused[0].reason
        assert out.edits is None or not out.edits.changed
    # a good reply is stored; asked again (a resumed step) it is reused, not asked for twice
    good = Scripted(AgentReply('{"proposal": {"edits": [{"section": "Style", "edit_type": "add", "content": "Be '
                               'brief."}]}, "rationale": "r"}', 0.1))
    first = ask_l2(settings, state, root, agent=good)
    again = ask_l2(settings, state, root, agent=good)
    assert first.edits.changed and again.edits.child.sha256 == first.edits.child.sha256
    assert good.calls == 1 and again.info["reused"] is True
    assert (tmp_path / "runs" / "r" / "l2" / "prompts" / "step_001.md").read_text().rstrip().endswith("```")


def replace_step(settings, i):
    from dataclasses import replace

    return replace(settings, run=f"r{i}")
