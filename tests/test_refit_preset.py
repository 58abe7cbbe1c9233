"""bench/refit_preset.py: the parameters a refit may vary, and the gate's verdict written
into the package (a passing preset with its provenance; a failing one removed)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from bench_scripts import load_bench


def test_the_refit_varies_the_presets_own_parameters_unless_told_otherwise() -> None:
    m = load_bench("refit_preset")
    ns = argparse.Namespace(preset="p", search_params=None)
    assert m.search_names(ns, ["pagerank_alpha", "focus_max_hops"]) == ("pagerank_alpha", "focus_max_hops")
    ns = argparse.Namespace(preset="p", search_params="boost_lexical, pagerank_alpha,boost_lexical")
    assert m.search_names(ns, ["focus_max_hops"]) == ("boost_lexical", "pagerank_alpha")
    with pytest.raises(m.RefitError, match="unknown parameter 'nope'"):
        m.search_names(argparse.Namespace(preset="p", search_params="pagerank_alpha,nope"), [])
    with pytest.raises(m.RefitError, match="sets no parameter"):
        m.search_names(argparse.Namespace(preset="p", search_params=None), [])


def test_a_passing_refit_replaces_the_file_and_a_failing_one_removes_it(tmp_path: Path) -> None:
    m = load_bench("refit_preset")
    target = tmp_path / "near.json"
    target.write_text(json.dumps({"description": "stay near", "params": {"pagerank_alpha": 0.7}}))
    prov = {"held_out": {"vs_defaults": {"delta": 0.01, "delta_ci95": [0.002, 0.02]}}}
    msg = m.apply_gate(target, True, {"focus_max_hops": 1.5}, prov, None, tmp_path / "r.json")
    data = json.loads(target.read_text())
    assert data == {"description": "stay near", "params": {"focus_max_hops": 1.5}, "provenance": prov}
    assert msg.startswith("wrote ")
    msg = m.apply_gate(target, False, {"focus_max_hops": 1.5}, prov, None, tmp_path / "r.json")
    assert not target.exists() and "not shipped" in msg and str(tmp_path / "r.json") in msg


def test_the_recorded_command_leaves_out_where_files_went() -> None:
    m = load_bench("refit_preset")
    argv = ["debug", "--tasks", "B", "--out", "x", "--cache-dir=/c", "--write", "--seed", "0"]
    assert m._recorded(argv) == ["debug", "--tasks", "B", "--seed", "0"]
