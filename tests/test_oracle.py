"""The git oracle and the evaluator: planted cases are found, nothing leaks from the future."""
from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from planted import T0, git, make_planted_repo, module_files, module_of  # noqa: E402

from ripmap.rank.params import DEFAULT  # noqa: E402
from ripmap.train.evaluation.evaluator import Evaluator  # noqa: E402
from ripmap.train.cases.oracle import classify, mine_cases  # noqa: E402
from ripmap.train.cases.snapshots import cleanup_snapshots, materialize  # noqa: E402


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Path:
    return make_planted_repo(tmp_path_factory.mktemp("planted") / "repo")


def test_classify_messages() -> None:
    assert classify("fix crash when token expires")[:2] == ("debug", 1.5)
    assert classify("Add retry support to the client")[:2] == ("extend", 1.2)
    assert classify("refactor: move helpers into utils")[0] == "refactor"
    assert classify("refactor: move helpers into utils")[1] < 1.0
    assert classify("wip")[2] == "wip"
    assert classify("WIP: half of the parser rewrite, tests later")[1] == 0.2
    assert classify("Reformat with black")[2] == "formatting-only"
    assert classify("Bump version to 2.3.1")[2] == "version bump"
    assert classify("1.4.0")[2] == "version bump"
    assert classify("Update docs wording")[:2] == ("explore", 1.0)


def test_oracle_finds_the_planted_cases(planted: Path) -> None:
    mined = mine_cases(planted, snapshot_back=9, max_commits=50)
    # 9 commits after the snapshot, each touching the 3 files of one module → 3 cases each
    assert len(mined.cases) == 27
    by_commit: dict[str, set[str]] = {}
    for c in mined.cases:
        mod = module_of(c.seed_file)
        assert {e.path for e in c.expected} == set(module_files(mod)) - {c.seed_file}
        by_commit.setdefault(c.commit, set()).add(c.seed_file)
        assert c.intent in ("debug", "extend")
        assert c.case_weight > 0
    assert all(len(s) == 3 for s in by_commit.values())
    assert all(c.timestamp > mined.snapshot_time for c in mined.cases)


def test_holdout_is_the_newest_cases(planted: Path) -> None:
    mined = mine_cases(planted, snapshot_back=9, max_commits=50, holdout=0.3)
    train = [c for c in mined.cases if c.split == "train"]
    hold = [c for c in mined.cases if c.split == "holdout"]
    assert train and hold
    assert max(c.timestamp for c in train) < min(c.timestamp for c in hold)
    assert 0.2 <= len(hold) / len(mined.cases) <= 0.4


def test_planted_structure_is_learnable(planted: Path, tmp_path: Path) -> None:
    mined = mine_cases(planted, snapshot_back=9, max_commits=50)
    ev = Evaluator([mined], cache_dir=tmp_path)
    good = ev.evaluate(DEFAULT)
    # a structure-only ranking is pulled toward the central decoys
    blind = ev.evaluate(DEFAULT.replace(boost_temporal_coupling=0.01, boost_lexical=0.01, weight_structure=100.0))
    assert good.ndcg > 0.9
    assert blind.ndcg < good.ndcg
    again = ev.evaluate(DEFAULT)
    assert [m for _, m in again.per_case] == [m for _, m in good.per_case]  # deterministic


def _future_only_repo(root: Path, n_pairs: int = 10) -> tuple[Path, list[tuple[str, str]]]:
    """Files that never change together (nor reference each other) before the snapshot;
    after it, fixed pairs change together. Only the future reveals the answer."""
    rnd = random.Random(7)
    root.mkdir(parents=True)
    git(root, "init", "-q")
    words = ["amber", "birch", "cobalt", "dune", "ember", "fjord", "garnet", "harbor", "iris", "jade", "kelp",
             "lumen", "moss", "nectar", "onyx", "pine", "quartz", "reef", "sage", "tundra"]
    names = [f"f{i:02d}.py" for i in range(2 * n_pairs)]
    for i, name in enumerate(names):
        (root / name).write_text(f"def {words[i]}_{i}():\n    return {i}\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "initial", when=T0)
    t = T0
    for rnd_i in range(3):  # history before the snapshot: every file alone
        for i, name in enumerate(names):
            t += 60
            (root / name).write_text(f"def {words[i]}_{i}():\n    return {i + 100 * (rnd_i + 1)}\n")
            git(root, "commit", "-qam", f"update {words[i]}", when=t)
    order = names[:]
    rnd.shuffle(order)
    pairs = [(order[2 * k], order[2 * k + 1]) for k in range(n_pairs)]
    for rep in range(2):  # after the snapshot: pairs change together
        for a, b in pairs:
            t += 60
            for p in (a, b):
                (root / p).write_text((root / p).read_text() + f"# {rep}\n")
            git(root, "commit", "-qam", f"change {a} with {b}", when=t)
    return root, pairs


def test_no_leakage_future_cochange_does_not_help(tmp_path: Path) -> None:
    root, pairs = _future_only_repo(tmp_path / "r")
    mined = mine_cases(root, snapshot_back=2 * len(pairs), max_commits=100)
    assert len(mined.cases) == 4 * len(pairs)
    # relevance grades come from history before the snapshot only, where the pairs are not
    # special (all files co-changed once, in the initial commit): 0.5 + 1/7 for everyone
    assert {e.relevance for c in mined.cases for e in c.expected} == {round(0.5 + 1 / 7, 6)}
    ev = Evaluator([mined], cache_dir=tmp_path / "c", history="snapshot")
    res = ev.evaluate(DEFAULT)
    # 1 relevant file among 19 with no usable signal: chance NDCG@10 is about 0.2; a leak
    # of the predicted commits' own co-change would put the partner first (NDCG 1.0)
    assert res.ndcg < 0.45
    cochange = ev.evaluate(DEFAULT.replace(boost_temporal_coupling=100.0, boost_lexical=0.01, weight_structure=0.01))
    assert cochange.ndcg < 0.45
    # the evaluator's git view ends at the snapshot
    snap = next(iter(ev.snapshots.values()))
    head = subprocess.run(["git", "-C", str(snap.root), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert head == mined.snapshot


def test_each_case_sees_the_history_before_its_own_commit_and_none_after(tmp_path: Path) -> None:
    """Per-case history (the default): a pair's second commit may use its first (made
    before it, as its author would have it), but no case sees its own commit or a later one."""
    root, pairs = _future_only_repo(tmp_path / "r")
    mined = mine_cases(root, snapshot_back=2 * len(pairs), max_commits=100)
    ev = Evaluator([mined], cache_dir=tmp_path / "c")
    assert ev.history == "case"
    # the rules alone: the Jaccard term would tell files that share only the initial commit apart by
    # how often they changed since, which is no leak but moves the chance level this test relies on
    p = DEFAULT.replace(boost_temporal_coupling=100.0, boost_lexical=0.01, weight_structure=0.01, cochange_jaccard=0.0)
    res = ev.evaluate(p, explain_failures=False)
    order = {sha: i for i, sha in enumerate(dict.fromkeys(c.commit for c in mined.cases))}
    first = [m.ndcg_10 for c, m in res.per_case if order[c.commit] < len(pairs)]
    second = [m.ndcg_10 for c, m in res.per_case if order[c.commit] >= len(pairs)]
    assert len(first) == len(second) == 2 * len(pairs)
    assert sum(first) / len(first) < 0.45  # the pair's own commit is not in its history
    assert min(second) == 1.0  # the first commit of the pair is
    # the context a case is ranked in holds history up to its parent, on the snapshot's code
    case = mined.cases[-1]
    ctx = ev.context_for(case)
    parent = subprocess.run(["git", "-C", str(root), "rev-parse", f"{case.commit}^"], capture_output=True,
                            text=True).stdout.strip()
    assert ctx.git.head == parent and ctx.graph is ev.snapshots[(case.repo, case.snapshot)].ctx.graph
    a, b = next(pr for pr in pairs if case.seed_file in pr)
    col = ctx.git.index[a]
    assert ctx.git.churn[col] == 3 + 1 + 1  # initial commit, its own update, the pair's first commit
def test_files_created_after_the_snapshot_are_dropped(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    git(root, "init", "-q")
    (root / "a.py").write_text("def a():\n    pass\n")
    (root / "b.py").write_text("def b():\n    pass\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "init", when=T0)
    (root / "a.py").write_text("def a():\n    return 1\n")
    (root / "b.py").write_text("def b():\n    return 1\n")
    (root / "new.py").write_text("def n():\n    pass\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "add new feature", when=T0 + 60)
    mined = mine_cases(root, snapshot_back=1, max_commits=10)
    assert mined.cases
    assert all("new.py" not in {e.path for e in c.expected} and c.seed_file != "new.py" for c in mined.cases)


def test_snapshot_worktree_is_reused_and_cleaned(planted: Path, tmp_path: Path) -> None:
    mined = mine_cases(planted, snapshot_back=9, max_commits=50)
    a = materialize(planted, mined.snapshot, tmp_path)
    marker = a / "marker.txt"
    marker.write_text("x")
    b = materialize(planted, mined.snapshot, tmp_path)
    assert a == b and marker.exists()  # reused, not rebuilt
    assert cleanup_snapshots(planted, tmp_path) == 1
    assert not a.exists()
    listing = subprocess.run(["git", "-C", str(planted), "worktree", "list"], capture_output=True, text=True).stdout
    assert str(a) not in listing


def test_not_enough_history_is_a_clear_error(tmp_path: Path) -> None:
    from ripmap.errors import RipmapError

    root = tmp_path / "r"
    root.mkdir()
    git(root, "init", "-q")
    (root / "a.py").write_text("x = 1\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "init", when=T0)
    with pytest.raises(RipmapError, match="not enough history"):
        mine_cases(root, snapshot_back=5)


def test_train_cli_eval_and_extract(planted: Path, tmp_path: Path) -> None:
    out = tmp_path / "cases.json"
    run = subprocess.run([sys.executable, "-m", "ripmap.train.cli", "--repo", str(planted), "--snapshot-back", "9",
                          "--extract-only", "--output", str(out), "--cache-dir", str(tmp_path / "c")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    ev = subprocess.run([sys.executable, "-m", "ripmap.train.cli", "--cases", str(out), "--eval",
                         "--cache-dir", str(tmp_path / "c"), "--collect-failures", str(tmp_path / "f.json")],
                        capture_output=True, text=True)
    assert ev.returncode == 0, ev.stderr
    assert "overall" in ev.stdout and "ndcg@10" in ev.stdout and "repo repo" in ev.stdout
    bad = subprocess.run([sys.executable, "-m", "ripmap.train.cli", "--eval"], capture_output=True, text=True)
    assert bad.returncode == 2 and "no repositories" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_three_tasks_per_commit(planted: Path, tmp_path: Path) -> None:
    """A: seed in the chat; A+msg: seed plus the message as focus; B: the message alone,
    every changed file expected. The evaluator ranks each as the task says."""
    from ripmap.train.cases.oracle import TASKS

    mined = mine_cases(planted, snapshot_back=9, max_commits=50, tasks=TASKS)
    by_task: dict[str, list] = {t: [c for c in mined.cases if c.task == t] for t in TASKS}
    assert len(by_task["A"]) == len(by_task["A+msg"]) == 27 and len(by_task["B"]) == 9
    for c in by_task["A"]:
        assert c.chat_files == (c.seed_file,) and c.focus is None
    for c in by_task["A+msg"]:
        assert c.chat_files == (c.seed_file,) and c.focus and "handling round" in c.focus
    for c in by_task["B"]:
        mod = c.subject.split()[1]
        assert c.chat_files == () and c.focus == c.message
        assert {e.path for e in c.expected} == set(module_files(mod))
    ev = Evaluator([mined], cache_dir=tmp_path)
    res = ev.evaluate(DEFAULT)
    assert set(res.by_task) == set(TASKS)
    table = res.table().splitlines()
    assert [ln.split()[0] for ln in table[1:4]] == list(TASKS)
    # a B case ranks every file of the commit (nothing is in the chat to drop)
    b = by_task["B"][0]
    assert len(ev.ranking_for(DEFAULT, b)) == len(ev.ranking_for(DEFAULT, by_task["A"][0])) + 1


def test_commit_messages_lose_trailers() -> None:
    from ripmap.train.cases.oracle import clean_message

    text = "Fix pool leak\n\nThe adapter kept sockets.\n\n\n\nSigned-off-by: A <a@b>\nCo-authored-by: B <b@c>\n"
    assert clean_message(text) == "Fix pool leak\n\nThe adapter kept sockets."


def test_unknown_task_is_refused(planted: Path) -> None:
    from ripmap.errors import RipmapError

    with pytest.raises(RipmapError, match="unknown task"):
        mine_cases(planted, snapshot_back=9, tasks=("C",))
