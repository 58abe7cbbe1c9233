"""``Ranking.explain``: the breakdown adds up to the score the ranking used, names the
parameters that weigh each signal, and reads the same as a table and as JSON."""
from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import pytest

from ripmap import RepoMap
from ripmap.errors import UsageError
from ripmap.rank.explain import ADDITIVE, ADDITIVE_WEIGHT, MULTIPLIERS
from ripmap.rank.params import DEFAULT

from fixtures_rank import commit, init_repo

FILES = {
    "core/models.py": "class Record:\n    def save(self) -> None:\n        pass\n",
    "core/db.py": "from core.models import Record\n\n\ndef store(r: Record) -> None:\n    r.save()\n",
    "api/handlers.py": "from core.db import store\nfrom core.models import Record\n\n\n"
                       "def handle_upload(payload: dict) -> None:\n    store(Record())\n",
    "api/routes.py": "from api.handlers import handle_upload\n\n\ndef routes() -> list:\n    return [handle_upload]\n",
    "tests/test_db.py": "from core.db import store\n\n\ndef test_store() -> None:\n    store(None)\n",
    "main.py": "from api.routes import routes\n\n\ndef main() -> None:\n    routes()\n",
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    os.environ.setdefault("GIT_CONFIG_NOSYSTEM", "1")
    root = init_repo(tmp_path_factory.mktemp("explain") / "repo", FILES)
    for day in (1, 2, 3):  # db and handlers change together
        commit(root, day, ["core/db.py", "api/handlers.py"])
    return root


@pytest.fixture(scope="module")
def rm(repo: Path, tmp_path_factory):
    with RepoMap(repo, cache_dir=tmp_path_factory.mktemp("cache"), warn=lambda m: None) as r:
        yield r


def test_contributions_add_up_to_the_score_the_ranking_used(rm: RepoMap) -> None:
    ranking = rm.rank(chat_files=["core/db.py"], focus="upload handler")
    for pos, path in enumerate(ranking.files, start=1):
        e = ranking.explain(path)
        assert e.path == path and e.rank == pos
        assert math.isclose(e.score, ranking.scores[path], rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(e.score, e.base * e.multiplier, rel_tol=1e-9, abs_tol=1e-12)
        additive = [r for r in e.rows if r.kind == "additive"]
        mult = [r for r in e.rows if r.kind == "multiplier"]
        assert [r.signal for r in additive] == list(ADDITIVE) and [r.signal for r in mult] == list(MULTIPLIERS)
        assert math.isclose(sum(r.contribution for r in additive), e.score, rel_tol=1e-9, abs_tol=1e-12)
        assert math.isclose(math.prod(r.contribution for r in mult), e.multiplier, rel_tol=1e-9)
        for r in additive:
            assert r.weight == ranking.params[ADDITIVE_WEIGHT[r.signal]]


def test_the_chat_file_and_its_partner_show_why(rm: RepoMap) -> None:
    ranking = rm.rank(chat_files=["core/db.py"])
    chat = {r.signal: r for r in ranking.explain("core/db.py").rows}
    assert chat["chat"].contribution == pytest.approx(DEFAULT["boost_chat_file"])
    other = {r.signal: r for r in ranking.explain("api/handlers.py").rows}
    assert other["chat"].contribution == 1.0
    assert other["cochange"].value > 0 and other["cochange"].contribution > 0  # changed with the chat file
    # main.py only shares the first commit with it: far weaker evidence
    assert {r.signal: r for r in ranking.explain("main.py").rows}["cochange"].value < other["cochange"].value / 2


def test_weights_follow_the_parameters(rm: RepoMap) -> None:
    params = DEFAULT.replace(boost_temporal_coupling=DEFAULT["boost_temporal_coupling"] / 2)
    a = rm.rank(chat_files=["core/db.py"]).explain("api/handlers.py")
    b = rm.rank(chat_files=["core/db.py"], params=params).explain("api/handlers.py")
    ca = {r.signal: r for r in a.rows}["cochange"]
    cb = {r.signal: r for r in b.rows}["cochange"]
    assert cb.weight == ca.weight / 2 and cb.value == pytest.approx(ca.value)


def test_table_and_json_say_the_same(rm: RepoMap) -> None:
    ranking = rm.rank(chat_files=["core/db.py"], focus="handle_upload")
    e = ranking.explain("api/handlers.py")
    d = json.loads(json.dumps(e.as_dict()))
    assert (d["path"], d["rank"]) == ("api/handlers.py", e.rank)
    assert [s["signal"] for s in d["signals"]] == list(ADDITIVE) + list(MULTIPLIERS)
    assert d["query"]["identifiers"][0]["name"] == "handle_upload"  # how the focus was read
    lines = e.table().splitlines()
    assert lines[0].startswith(f"api/handlers.py: rank {e.rank}, score {e.score:.6g}")
    for s in d["signals"]:
        row = next(line for line in lines if re.match(rf"\s+{s['signal']}\s", line))
        assert (f"×{s['contribution']:.4g}" if s["kind"] == "multiplier" else f"{s['contribution']:.5g}") in row
    assert any(line.startswith("focus understood as") for line in lines)
    assert "query" not in rm.rank().explain("api/handlers.py").as_dict()  # no focus, no reading of one


def test_unknown_files_are_usage_errors(rm: RepoMap) -> None:
    with pytest.raises(UsageError, match="not among the mapped files"):
        rm.rank().explain("no/such.py")
