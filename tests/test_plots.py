"""Every chart writes a real PNG, for normal and for degenerate input."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

from ripmap.rank.params import DEFAULT, REGISTRY, SPECS  # noqa: E402
from ripmap.train.report.plots import most_moved, plot_l1_progress, plot_search_progress, plot_sensitivity  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


def _is_png(path: Path) -> bool:
    data = path.read_bytes()
    return data.startswith(PNG) and len(data) > 1000


def _episode(i: int, *, holdout: bool = True, confidence: float | None = 0.6) -> dict:
    before = DEFAULT.to_dict()
    after = dict(before, boost_temporal_coupling=min(100.0, 10.0 * (1.5 ** i)), hub_damping=min(1.0, 0.1 * i))
    return {"episode": i, "ndcg_before": 0.40 + 0.01 * i, "ndcg_after": 0.41 + 0.012 * i,
            "holdout_before": 0.38 + 0.01 * i if holdout else None,
            "holdout_after": 0.385 + 0.01 * i if holdout else None,
            "failures": 20 - i, "confidence": confidence, "params_before": before, "params_after": after}


def test_search_progress(tmp_path):
    trials = [{"number": i, "train_ndcg": 0.4 + 0.05 * ((i * 7) % 5), "holdout_ndcg": 0.35 + 0.04 * ((i * 3) % 5)}
              for i in range(20)]
    plot_search_progress(trials, tmp_path / "p.png", title="tpe")
    assert _is_png(tmp_path / "p.png")


@pytest.mark.parametrize("trials", [
    [],
    [{"number": 0, "train_ndcg": 0.5, "holdout_ndcg": None}],
    [{"number": 0, "train_ndcg": 0.5, "holdout_ndcg": None}, {"number": 1, "train_ndcg": None, "holdout_ndcg": None},
     {"number": 2, "train_ndcg": 0.6, "holdout_ndcg": None}],
])
def test_search_progress_degenerate(tmp_path, trials):
    plot_search_progress(trials, tmp_path / "nested" / "p.png")
    assert _is_png(tmp_path / "nested" / "p.png")


def test_l1_progress(tmp_path):
    eps = [_episode(i) for i in range(1, 9)]
    plot_l1_progress(eps, tmp_path / "l1.png", title="l1 run")
    assert _is_png(tmp_path / "l1.png")


@pytest.mark.parametrize("episodes", [
    [],
    [_episode(1, holdout=False, confidence=None)],
    [{"episode": 1, "ndcg_before": 0.5, "ndcg_after": None, "holdout_before": None, "holdout_after": None,
      "failures": 0, "confidence": None, "params_before": {}, "params_after": {}}],
    [_episode(1), {**_episode(2), "params_after": {"not_a_parameter": 3.0}, "failures": None}],
])
def test_l1_progress_degenerate(tmp_path, episodes):
    plot_l1_progress(episodes, tmp_path / "l1.png")
    assert _is_png(tmp_path / "l1.png")


def test_most_moved_compares_on_each_parameters_own_scale():
    # the starting point is spelled out: the comment's moves must not depend on the fitted defaults
    before = dict(DEFAULT.to_dict(), boost_temporal_coupling=10.0, hub_damping=0.0)
    # 10 → 100 is a quarter of boost_temporal_coupling's log range; 0.0 → 0.1 a tenth of hub_damping's
    eps = [{"params_before": before, "params_after": dict(before, boost_temporal_coupling=100.0, hub_damping=0.1)}]
    assert most_moved(eps) == ["boost_temporal_coupling", "hub_damping"]
    assert most_moved([{"params_before": before, "params_after": before}]) == []


def _sensitivity_data() -> dict:
    params = {}
    for j, spec in enumerate(REGISTRY):
        sweep = [{"u": i / 6, "value": spec.from_unit(i / 6), "ndcg": 0.5 + 0.01 * ((i + j) % 4)} for i in range(7)]
        params[spec.name] = {"base": spec.default, "neutral": spec.low, "importance": 0.01 * (j % 5) - 0.01,
                             "ablated_ndcg": 0.5, "scale": spec.scale, "sweep": sweep, "changed": True}
    imp = {k: v["importance"] for k, v in params.items()}
    ranking = sorted(imp, key=lambda k: -abs(imp[k]))
    top = ranking[:6]
    inter = [{"a": a, "b": b, "interaction": 0.003 * (i - j)} for i, a in enumerate(top) for j, b in enumerate(top)
             if i < j]
    return {"base": {"train_ndcg": 0.52}, "importance": imp, "ranking": ranking, "params": params,
            "interactions": inter}


def test_sensitivity(tmp_path):
    plot_sensitivity(_sensitivity_data(), tmp_path / "s.png")
    assert _is_png(tmp_path / "s.png")


@pytest.mark.parametrize("data", [
    {},
    {"base": {"train_ndcg": 1.0}, "importance": {n: 0.0 for n in SPECS}, "ranking": list(SPECS),
     "params": {n: {"sweep": [{"u": 0, "value": SPECS[n].low, "ndcg": 1.0}], "scale": SPECS[n].scale,
                    "base": SPECS[n].default} for n in SPECS},
     "interactions": []},
])
def test_sensitivity_degenerate(tmp_path, data):
    plot_sensitivity(data, tmp_path / "s.png")
    assert _is_png(tmp_path / "s.png")
