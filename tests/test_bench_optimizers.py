"""bench/optimizers.py: one-line argument errors, the seeds-and-commits interval, and a run
that resumes per (strategy, seed) instead of starting over."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("optuna")

from fixtures_rank import init_repo  # noqa: E402
from planted import make_planted_repo  # noqa: E402
from bench_scripts import load_bench  # noqa: E402

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "optimizers.py"


@pytest.fixture(scope="module")
def repos(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("bench")
    return make_planted_repo(root / "one"), make_planted_repo(root / "two", rounds=5)


@pytest.mark.parametrize("argv,message", [
    ([], "no repositories"),
    (["--repo", "{one}"], "no held-out repository"),
    (["--repo", "{one}", "--holdout-repo", "nope"], "--holdout-repo nope: no such directory"),
    (["--repo", "{one}", "--holdout-repo", "one"], "every repository is held out"),
    (["--repo", "{one}", "--holdout-repo", "{two}", "--strategies", "l1,annealing"], "unknown strategy 'annealing'"),
    (["--repo", "{one}", "--holdout-repo", "{two}", "--budgets", "10,x"], "expected comma-separated integers"),
    (["--repo", "{one}", "--holdout-repo", "{two}", "--budgets", "0"], "expected positive integers"),
    (["--repo", "{one}", "--holdout-repo", "{two}", "--seeds", "0"], "--seeds must be at least 1"),
    (["--repo", "{one}", "--holdout-repo", "{two}", "--holdout", "0"], "--holdout must be in (0, 1)"),
    (["--repo", "{one}", "--holdout-repo", "{two}", "--only", "zzz"], "--only zzz: no such entry"),
    (["--repo", "{plain}", "--holdout-repo", "{two}"], "not a git repository"),
    (["--corpus", "{missing}", "--holdout-repo", "{two}"], "cannot read corpus"),
])
def test_bad_arguments_are_one_line(repos, tmp_path, argv, message):
    one, two = repos
    plain = tmp_path / "plain"
    plain.mkdir()
    subs = {"one": str(one), "two": str(two), "plain": str(plain), "missing": str(tmp_path / "none.toml")}
    args = [a.format(**subs) for a in argv]
    r = subprocess.run([sys.executable, str(SCRIPT), *args, "--out", str(tmp_path / "out")], capture_output=True,
                       text=True, timeout=120)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and not r.stdout, r.stderr
    assert lines[0].startswith("optimizers.py: error:") and message in lines[0]
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_interval_resamples_seeds_as_well_as_commits():
    boot = load_bench("optimizers").boot_delta
    n = 40
    w = np.ones(n)
    commits = [f"c{i // 2}" for i in range(n)]  # two cases per commit
    strata = ["r"] * n
    same = np.full((1, n), 0.25)
    assert boot(same, w, commits, strata, n_boot=500) == pytest.approx((0.25, 0.25, 0.25))
    # two seeds that disagree completely: no commit resampling can see that, the seed resampling must
    split = np.vstack([np.ones(n), -np.ones(n)])
    point, lo, hi = boot(split, w, commits, strata, n_boot=2000)
    assert point == pytest.approx(0.0) and lo <= -0.9 and hi >= 0.9
    # one seed whose gain sits on half the commits: the commit resampling gives an interval around it
    half = np.array([[1.0 if i < n // 2 else 0.0 for i in range(n)]])
    point, lo, hi = boot(half, w, commits, strata, n_boot=2000)
    assert point == pytest.approx(0.5) and lo < 0.5 < hi and hi - lo > 0.2


def test_a_killed_comparison_resumes_where_it_stopped(repos, tmp_path, capsys):
    bench = load_bench("optimizers")
    one, two = repos
    out = tmp_path / "out"
    argv = ["--repo", str(one), "--holdout-repo", str(two), "--snapshot-back", "6", "--strategies", "random,l1,hybrid",
            "--seeds", "2", "--budgets", "2,3", "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
            "--n-boot", "200"]
    assert bench.main(argv) == 0
    table = capsys.readouterr().out
    for label in ("L1 (heuristic)", "random", "hybrid (L1 + TPE)"):
        assert f"| {label} |" in table
    assert "1 (deterministic)" in table  # L1 ran once for both seeds
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert runs == ["hybrid-s0", "hybrid-s1", "l1-s0", "random-s0", "random-s1"]
    figures = json.loads((out / "table.json").read_text())
    assert set(figures["cells"]) == {f"{s}@{b}" for s in ("l1", "random", "hybrid") for b in (2, 3)}
    assert figures["cells"]["random@3"]["runs"] == 2 and figures["cells"]["l1@3"]["runs"] == 1

    # a kill after random-s1's run but before its judgement: only that run is judged again,
    # from its finished study; no other run is touched
    stamps = {p.name: (p / "results.json").stat().st_mtime_ns for p in (out / "runs").iterdir()}
    (out / "judged" / "random-s1.json").unlink()
    assert bench.main(argv) == 0
    assert capsys.readouterr().out == table
    after = {p.name: (p / "results.json").stat().st_mtime_ns for p in (out / "runs").iterdir()}
    assert {k for k in stamps if stamps[k] != after[k]} <= {"random-s1"}
    trials = json.loads((out / "runs" / "random-s1" / "results.json").read_text())["trials"]
    assert len([t for t in trials if t["state"] == "COMPLETE"]) == 3  # not evaluated again

    # the same folder with other cases is refused, in one line
    with pytest.raises(bench.BenchError, match="holds runs made with other cases"):
        bench.main([a if a != "6" else "5" for a in argv])  # --snapshot-back 5


def test_a_corpus_entry_that_is_no_repository_is_refused(tmp_path):
    """A corpus entry that is no git repository is refused before mining."""
    root = init_repo(tmp_path / "r", {"a.py": "x = 1\n"})
    bad = tmp_path / "corpus.toml"
    bad.write_text(f'[[repo]]\nname = "gone"\npath = "{tmp_path / "gone"}"\n[[repo]]\nname = "r"\npath = "{root}"\n')
    bench = load_bench("optimizers")
    with pytest.raises(bench.BenchError, match="not a git repository"):
        bench.main(["--corpus", str(bad), "--holdout-repo", "r", "--out", str(tmp_path / "o")])
