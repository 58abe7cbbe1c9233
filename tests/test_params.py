"""The parameter registry and the immutable, validated ``Params`` point."""
from __future__ import annotations

import math

import pytest

from ripmap.errors import UsageError
from ripmap.rank.params import DEFAULT, NAMES, REGISTRY, SPECS, Params

SEED_NAMES = (
    "pagerank_alpha", "pagerank_chat_multiplier", "depth_weight_root", "depth_weight_moderate",
    "depth_weight_deep", "depth_weight_vendor", "boost_mentioned_ident", "boost_mentioned_file",
    "boost_chat_file", "boost_temporal_coupling", "boost_focus_expansion", "git_recency_decay_days",
    "git_recency_max_boost", "git_churn_threshold", "git_churn_max_boost", "focus_decay", "focus_max_hops",
)


def test_registry_has_the_seed_parameters():
    names = [p.name for p in REGISTRY]
    assert len(SEED_NAMES) == 17
    missing = [n for n in SEED_NAMES if n not in names]
    assert not missing, missing


def test_registry_names_unique_and_consistent():
    names = [p.name for p in REGISTRY]
    assert len(names) == len(set(names))
    assert tuple(names) == NAMES
    assert set(SPECS) == set(names)


@pytest.mark.parametrize("spec", REGISTRY, ids=lambda s: s.name)
def test_spec_is_well_formed(spec):
    assert spec.scale in ("linear", "log")
    assert spec.low < spec.high
    assert spec.low <= spec.default <= spec.high
    assert math.isfinite(spec.low) and math.isfinite(spec.high)
    if spec.scale == "log":
        assert spec.low > 0
    assert spec.meaning.strip()
    assert spec.stage.strip()


def test_default_point_is_the_defaults():
    p = Params()
    for spec in REGISTRY:
        assert p[spec.name] == spec.default
        assert getattr(p, spec.name) == spec.default
    assert p == DEFAULT
    assert len(p) == len(REGISTRY)
    assert list(p) == [s.name for s in REGISTRY]


def test_params_are_immutable():
    p = Params(pagerank_alpha=0.9)
    with pytest.raises(AttributeError):
        p.pagerank_alpha = 0.5
    with pytest.raises(AttributeError):
        p.brand_new = 1.0
    with pytest.raises(TypeError):
        p["pagerank_alpha"] = 0.5  # type: ignore[index]
    q = p.replace(pagerank_alpha=0.6)
    assert p["pagerank_alpha"] == 0.9
    assert q["pagerank_alpha"] == 0.6
    assert q != p
    assert hash(Params(pagerank_alpha=0.9)) == hash(p)
    assert Params(pagerank_alpha=0.9) == p


def test_values_are_floats_and_mapping_or_kwargs():
    p = Params({"focus_max_hops": 3}, boost_lexical=7)
    assert p["focus_max_hops"] == 3.0 and isinstance(p["focus_max_hops"], float)
    assert p["boost_lexical"] == 7.0
    # keywords win over the mapping
    assert Params({"boost_lexical": 2.0}, boost_lexical=4.0)["boost_lexical"] == 4.0


def test_json_round_trip(tmp_path):
    p = Params(pagerank_alpha=0.71, depth_weight_vendor=0.0003, focus_max_hops=2.5, hub_damping=1.0)
    text = p.to_json()
    q = Params.from_json(text)
    assert q == p
    assert q.to_dict() == p.to_dict()
    f = tmp_path / "p.json"
    f.write_text(p.to_json(indent=2))
    assert Params.load(f) == p
    # the trainer's wrapper form
    assert Params.from_dict({"params": {"pagerank_alpha": 0.71}})["pagerank_alpha"] == 0.71


def test_round_trip_every_bound():
    for spec in REGISTRY:
        for v in (spec.low, spec.high):
            p = Params({spec.name: v})
            assert Params.from_json(p.to_json())[spec.name] == v


@pytest.mark.parametrize("spec", REGISTRY, ids=lambda s: s.name)
def test_out_of_bounds_raises_naming_parameter(spec):
    below = spec.low - max(1e-6, abs(spec.low) * 0.01)
    above = spec.high + max(1e-6, abs(spec.high) * 0.01)
    for v in (below, above, math.inf, -math.inf, math.nan):
        with pytest.raises(UsageError, match=spec.name):
            Params({spec.name: v})
    with pytest.raises(UsageError, match=spec.name):
        DEFAULT.replace(**{spec.name: above})
    # the bounds themselves are allowed
    assert Params({spec.name: spec.low})[spec.name] == spec.low
    assert Params({spec.name: spec.high})[spec.name] == spec.high


def test_unknown_parameter_raises_naming_it():
    with pytest.raises(UsageError, match="pagerank_alfa"):
        Params(pagerank_alfa=0.8)
    with pytest.raises(UsageError, match="no_such_knob"):
        Params.from_json('{"no_such_knob": 1}')


@pytest.mark.parametrize("bad", ["0.8", None, True, [0.8], {"v": 1}])
def test_non_number_raises(bad):
    with pytest.raises(UsageError, match="pagerank_alpha"):
        Params({"pagerank_alpha": bad})


def test_bad_json_and_files(tmp_path):
    with pytest.raises(UsageError):
        Params.from_json("{not json")
    with pytest.raises(UsageError):
        Params.from_json("[1, 2]")
    with pytest.raises(UsageError, match="missing.json"):
        Params.load(tmp_path / "missing.json")
    f = tmp_path / "bad.json"
    f.write_text('{"pagerank_alpha": 7}')
    with pytest.raises(UsageError, match="pagerank_alpha"):
        Params.load(f)


@pytest.mark.parametrize("spec", REGISTRY, ids=lambda s: s.name)
def test_unit_mapping(spec):
    assert spec.to_unit(spec.low) == pytest.approx(0.0, abs=1e-12)
    assert spec.to_unit(spec.high) == pytest.approx(1.0, abs=1e-12)
    assert spec.from_unit(0.0) == pytest.approx(spec.low, rel=1e-12)
    assert spec.from_unit(1.0) == pytest.approx(spec.high, rel=1e-12)
    for u in (0.0, 0.1, 0.25, 0.5, 0.9, 1.0):
        assert spec.to_unit(spec.from_unit(u)) == pytest.approx(u, abs=1e-12)
    for v in (spec.low, spec.default, spec.high, spec.from_unit(0.37)):
        assert spec.from_unit(spec.to_unit(v)) == pytest.approx(v, rel=1e-12, abs=1e-15)
    # the midpoint is the arithmetic mean on a linear scale, the geometric mean on a log scale
    mid = math.sqrt(spec.low * spec.high) if spec.scale == "log" else (spec.low + spec.high) / 2
    assert spec.from_unit(0.5) == pytest.approx(mid, rel=1e-12)
    # outside [0, 1] clamps to the bounds
    assert spec.from_unit(-1.0) == pytest.approx(spec.low, rel=1e-12)
    assert spec.from_unit(2.0) == pytest.approx(spec.high, rel=1e-12)
    assert spec.clamp(spec.high * 10 + 1) == spec.high
    assert spec.clamp(spec.low - 1) == spec.low
