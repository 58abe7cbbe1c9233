"""A printed map kept for the same question of the same tree (RepoMap.map_key,
kept_map, keep_map and the CLI's use of them): printed again only while nothing it was
drawn from has changed, never trusted when it does not read back."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import ripmap.api as api
from ripmap.api import RepoMap
from ripmap.cache.blobs import MAP
from ripmap.cli import run

from fixtures_rank import git, init_repo, isolate_git

FILES = {
    "pkg/store.py": "class TokenStore:\n    def get(self, key):\n        return key\n\n"
                    "def refresh_token(store, user):\n    return store.get(user)\n",
    "pkg/session.py": "from pkg.store import TokenStore, refresh_token\n\n"
                      "class Session:\n    def __init__(self):\n        self.store = TokenStore()\n\n"
                      "    def renew(self, user):\n        return refresh_token(self.store, user)\n",
    "pkg/cli.py": "from pkg.session import Session\n\ndef main():\n    Session().renew(1)\n",
    "docs/notes.md": "# notes\n\nSessions renew tokens.\n",
}
HOUR_AGO = time.time() - 3600


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_git(monkeypatch, tmp_path)
    monkeypatch.setenv("RIPMAP_TOKENIZER", "estimate")


def _settle(root: Path, when: float = HOUR_AGO) -> None:
    """Give every file an mtime outside the racy window (a tree nobody is editing)."""
    for p in root.rglob("*"):
        if p.is_file() and ".git" not in p.parts:
            os.utime(p, (when, when))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = init_repo(tmp_path / "repo", FILES)
    _settle(root)
    return root


def _map(root: Path, cache: Path, capsys, *extra: str) -> tuple[str, str]:
    assert run([str(root), "--cache-dir", str(cache), "-t", "512", "--stats", *extra]) == 0
    got = capsys.readouterr()
    return got.out, got.err


def _no_ranking(monkeypatch) -> None:
    def refuse(*_a, **_k):
        raise AssertionError("the map was ranked again")
    monkeypatch.setattr(api, "rank", refuse)
    monkeypatch.setattr(api, "build_index", refuse)


def test_the_same_question_of_the_same_tree_prints_the_kept_map_without_ranking(repo, tmp_path, capsys,
                                                                                 monkeypatch) -> None:
    cache = tmp_path / "cache"
    first, err1 = _map(repo, cache, capsys, "--focus", "refresh token")
    assert "kept from an earlier run" not in err1
    with monkeypatch.context() as m:
        _no_ranking(m)
        again, err2 = _map(repo, cache, capsys, "--focus", "refresh token")
    assert again == first and "pkg/store.py" in first
    assert "kept from an earlier run" in err2
    # another question is drawn, and matches what a cacheless run draws
    other, err3 = _map(repo, cache, capsys, "--focus", "session renew")
    assert "kept from an earlier run" not in err3
    assert other == _map(repo, tmp_path / "other-cache", capsys, "--no-cache", "--focus", "session renew")[0]


@pytest.mark.parametrize("change", ["edit", "new file", "commit", "budget", "param", "config"])
def test_any_change_to_what_the_map_is_drawn_from_draws_it_again(repo, tmp_path, capsys, change) -> None:
    cache = tmp_path / "cache"
    args = ["--focus", "refresh token"]
    _map(repo, cache, capsys, *args)
    assert "kept from" in _map(repo, cache, capsys, *args)[1]
    if change == "edit":
        (repo / "pkg/cli.py").write_text(FILES["pkg/cli.py"] + "\ndef refresh_everything():\n    main()\n")
        _settle(repo, HOUR_AGO + 60)
    elif change == "new file":
        (repo / "pkg/tokens.py").write_text("def refresh_token_later(store):\n    return store\n")
        _settle(repo, HOUR_AGO + 60)
    elif change == "commit":
        git(repo, "commit", "-q", "--allow-empty", "-m", "nothing but a new HEAD")
    elif change == "budget":
        args += ["-t", "300"]
    elif change == "param":
        (tmp_path / "p.json").write_text('{"pagerank_alpha": 0.6}')
        args += ["--params", str(tmp_path / "p.json")]
    elif change == "config":
        (repo / ".ripmap.toml").write_text('exclude = ["docs/"]\n')
        _settle(repo, HOUR_AGO + 60)
    out, err = _map(repo, cache, capsys, *args)
    assert "kept from" not in err
    assert out == _map(repo, tmp_path / "fresh", capsys, "--no-cache", *args)[0]
    # and the new map is the one kept from now on
    assert "kept from" in _map(repo, cache, capsys, *args)[1]


def test_a_map_drawn_while_a_file_was_just_written_is_not_kept(repo, tmp_path, capsys) -> None:
    cache = tmp_path / "cache"
    (repo / "pkg/cli.py").write_text(FILES["pkg/cli.py"] + "# touched\n")  # mtime: now
    _map(repo, cache, capsys)
    out, err = _map(repo, cache, capsys)
    assert "kept from" not in err  # its stamp cannot vouch for its content yet
    _settle(repo)
    _map(repo, cache, capsys)
    assert "kept from" in _map(repo, cache, capsys)[1]


def test_a_kept_map_that_does_not_read_back_is_drawn_again(repo, tmp_path, capsys) -> None:
    cache = tmp_path / "cache"
    first, _ = _map(repo, cache, capsys)
    rm = RepoMap(repo, cache_dir=cache, warn=lambda m: None)
    key = rm.map_key(tokens=512)
    for garbage in (b"\xff\xfe not json", b'{"version": 1, "kept": {"listing": 3}}', b"[]",
                    b'{"version": 99, "kept": {}}'):
        rm.cache.put_blob(f"{MAP}:{key}", garbage)
        assert rm.kept_map(key) is None
        out, err = _map(repo, cache, capsys)
        assert out == first and "kept from" not in err
    rm.close()


def test_what_the_tree_gave_cause_to_say_is_said_again_with_the_kept_map(repo, tmp_path) -> None:
    cache = tmp_path / "cache"
    (repo / "pkg/blob.py").write_bytes(b"x = 1\x00\x00\x01\n")  # skipped as binary: a note of the tree
    _settle(repo)
    said: list[str] = []
    with RepoMap(repo, cache_dir=cache, warn=said.append, verbose=True) as rm:
        key = rm.map_key(focus="token", tokens=400)
        assert rm.kept_map(key) is None  # nothing kept yet: nothing listed either
        out = rm.render(rm.rank(focus="token"), tokens=400)
        rm.keep_map(key, out)
    assert any("pkg/blob.py" in m and "binary" in m for m in said)
    heard: list[str] = []
    with RepoMap(repo, cache_dir=cache, warn=heard.append, verbose=True) as rm:
        kept = rm.kept_map(rm.map_key(focus="token", tokens=400))
        assert kept is not None and kept.text == out.text and kept.files == out.files
        assert heard == [m for m in said if "pkg/blob.py" in m]
        # the listing it took is the one the index then uses, and the ranking still works
        assert list(rm.rank(focus="token").files[:1]) == list(out.files[:1])


def test_the_caches_own_trouble_is_not_said_again_with_a_kept_map(repo, tmp_path, capsys) -> None:
    """A run that found the cache corrupt says so once; the map it kept does not repeat it."""
    from ripmap.cache.tags import cache_path_for

    cache = tmp_path / "cache"
    first, _ = _map(repo, cache, capsys)
    db = cache_path_for(repo, cache)
    db.write_bytes(db.read_bytes()[:4096] + b"\x00garbage" * 10)
    for f in db.parent.glob(db.name + "-*"):
        f.unlink()
    out, err = _map(repo, cache, capsys)
    assert out == first and "corrupt" in err and "kept from" not in err
    out, err = _map(repo, cache, capsys)
    assert out == first and "kept from" in err and "corrupt" not in err


def test_the_key_covers_the_question_the_format_and_ripmaps_own_code(repo, tmp_path, monkeypatch) -> None:
    rm = RepoMap(repo, cache_dir=tmp_path / "cache", warn=lambda m: None)
    base = rm.map_key(["pkg/cli.py"], "token", tokens=512)
    assert base == rm.map_key(["pkg/cli.py"], "token", tokens=512)
    variants = [rm.map_key(["pkg/store.py"], "token", tokens=512), rm.map_key(["pkg/cli.py"], "tokens", tokens=512),
                rm.map_key(["pkg/cli.py"], "token", tokens=513), rm.map_key(["pkg/cli.py"], "token", tokens=512,
                                                                             calls=True),
                rm.map_key(["pkg/cli.py"], "token", ["Session"], tokens=512),
                rm.map_key(["pkg/cli.py"], "token", tokens=512, params=rm.params.replace(pagerank_alpha=0.5))]
    assert len({base, *variants}) == len(variants) + 1
    monkeypatch.setenv("RIPMAP_TOKENIZER", "cl100k")
    assert rm.map_key(["pkg/cli.py"], "token", tokens=512) != base
    monkeypatch.setenv("RIPMAP_TOKENIZER", "estimate")
    monkeypatch.setattr(api, "_code_identity", lambda: "another ripmap")
    assert rm.map_key(["pkg/cli.py"], "token", tokens=512) != base
    # formats that carry timings are always drawn, and so is everything without a cache
    assert rm.map_key(tokens=512, format="json") is None
    assert RepoMap(repo, use_cache=False).map_key(tokens=512) is None
    rm.close()
