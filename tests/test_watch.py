"""Kernel change events standing in for the probe's stat sweep (ripmap.discover.watch)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import ripmap.discover as discover
from ripmap import languages
from ripmap.api import RepoMap
from ripmap.discover import ListingProbe
from ripmap.discover.watch import ChangeFeed, open_feed
from test_incremental import EDITS, _count_calls, make_rich_repo

needs_inotify = pytest.mark.skipif(not sys.platform.startswith("linux") or open_feed() is None,
                                   reason="inotify (Linux, inotify_simple) is not available")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_rich_repo(tmp_path / "repo")


@pytest.fixture
def sweeps(monkeypatch) -> list[int]:
    """How many paths each stat sweep covered (directories and files are two sweeps)."""
    seen: list[int] = []
    real = discover._stat_each
    monkeypatch.setattr(discover, "_stat_each", lambda ps: seen.append(len(ps)) or real(ps))
    return seen


@needs_inotify
def test_no_event_no_stat_and_every_change_is_seen(repo: Path, sweeps: list[int]) -> None:
    probe = ListingProbe(repo, language_of=languages.language_for_path, events=True, sweep_s=3600)
    assert probe.has_events
    first = probe.fingerprint()
    assert sweeps  # the first one sweeps
    sweeps.clear()
    assert probe.fingerprint() == first and probe.fingerprint() == first
    assert sweeps == []  # nothing happened: no stat at all
    prints = [first]
    for change in ("edit", "add", "delete"):
        EDITS[change](repo)
        prints.append(probe.fingerprint())
        assert sweeps, change
        sweeps.clear()
        assert probe.fingerprint() == prints[-1] and sweeps == []  # and quiet again after it
    os.utime(repo / "app.py", ns=(1, 1))  # a touch: same bytes, another mtime
    prints.append(probe.fingerprint())
    (repo / ".gitignore").write_text("*.tmp\n")  # a control file
    prints.append(probe.fingerprint())
    assert len(set(prints)) == len(prints)
    # the same answers as a probe that sweeps every time
    plain = ListingProbe(repo, language_of=languages.language_for_path)
    assert plain.fingerprint() == probe.fingerprint()
    probe.close()
    assert not probe.has_events


@needs_inotify
def test_a_file_written_in_place_is_statted_alone(repo: Path, sweeps: list[int]) -> None:
    # an edit in place (an agent's or an editor's save) names its file in the events: the
    # probe stats that file, not the whole tree, and answers what a sweep would
    probe = ListingProbe(repo, language_of=languages.language_for_path, events=True, sweep_s=3600)
    first = probe.fingerprint()
    watched = len(probe.snapshot().paths)
    assert watched > 3
    sweeps.clear()
    before_edit = probe.snapshot()
    EDITS["edit"](repo)
    edited = probe.fingerprint()
    assert edited != first and sweeps == [1]  # one stat: the written file's
    assert edited == ListingProbe(repo, language_of=languages.language_for_path).fingerprint()
    assert probe.snapshot().changed_since(before_edit) == ["d1/mod1.py"]  # what a refresh reads
    sweeps.clear()
    (repo / "notes.txt").write_text("not a source file\n")  # created: only a sweep tells
    assert probe.fingerprint() == ListingProbe(repo, language_of=languages.language_for_path).fingerprint()
    assert sweeps and max(sweeps) >= watched
    sweeps.clear()
    probe.fingerprint()
    (repo / "notes.txt").write_text("written again, in place\n")  # no file the map reads
    assert probe.fingerprint() == probe.fingerprint() and sweeps == []
    before = probe.fingerprint()
    os.utime(repo / "app.py", ns=(5, 5))  # a touch of a mapped file: a stat, a new fingerprint
    assert probe.fingerprint() != before and sweeps == [1]
    probe.close()


@needs_inotify
def test_a_caller_may_trust_the_events_longer_than_the_sweep_interval(repo: Path, sweeps: list[int]) -> None:
    # a server's call leaves the due sweep to its background checks: events alone answer it
    # (a written file is statted alone) until its longer bound, then it sweeps itself
    probe = ListingProbe(repo, language_of=languages.language_for_path, events=True, sweep_s=0.0)
    probe.fingerprint()
    sweeps.clear()
    EDITS["edit"](repo)
    trusted = probe.fingerprint(trust_s=3600)
    assert sweeps == [1] and trusted == ListingProbe(repo, language_of=languages.language_for_path).fingerprint()
    sweeps.clear()
    assert probe.fingerprint() == trusted and sweeps and max(sweeps) > 1  # the due sweep, by default
    sweeps.clear()
    probe.fingerprint(trust_s=0.0)  # a bound below the interval is the interval
    assert sweeps
    probe.close()


@needs_inotify
def test_events_are_trusted_only_until_the_next_sweep_is_due(repo: Path, sweeps: list[int]) -> None:
    probe = ListingProbe(repo, language_of=languages.language_for_path, events=True, sweep_s=3600)
    before = probe.fingerprint()
    # a change the kernel never reports (a write through mmap, a network file system)
    probe._feed.touched = lambda: set()
    EDITS["edit"](repo)
    assert probe.fingerprint() == before  # trusted: no event
    probe.sweep_s = 0.0  # the sweep is due
    after = probe.fingerprint()
    assert after != before and after == ListingProbe(repo, language_of=languages.language_for_path).fingerprint()
    probe.close()


@needs_inotify
def test_a_check_during_anothers_sweep_waits_for_it(repo: Path, monkeypatch) -> None:
    # the first check drains the events and sweeps; a second one must not find the queue
    # empty and answer the fingerprint from before that sweep
    import threading

    probe = ListingProbe(repo, language_of=languages.language_for_path, events=True, sweep_s=3600)
    before = probe.fingerprint()
    EDITS["edit"](repo)
    inside, release = threading.Event(), threading.Event()
    real = discover._stat_each

    def slow(paths):
        inside.set()
        release.wait(10)
        return real(paths)

    monkeypatch.setattr(discover, "_stat_each", slow)
    got: dict[str, str] = {}
    a = threading.Thread(target=lambda: got.setdefault("a", probe.fingerprint()))
    a.start()
    assert inside.wait(10)
    b = threading.Thread(target=lambda: got.setdefault("b", probe.fingerprint()))
    b.start()
    b.join(0.3)
    assert b.is_alive()  # waits for the sweep under way
    release.set()
    a.join(10)
    b.join(10)
    assert got["a"] == got["b"] != before
    probe.close()


class _RefusingInotify:
    """An inotify whose watch limit is reached at once."""

    def __init__(self) -> None:
        self.closed = False

    def add_watch(self, path, mask):
        raise OSError(28, "No space left on device")

    def rm_watch(self, wd):
        pass

    def read(self, timeout=None):
        return []

    def close(self):
        self.closed = True


def test_a_refused_watch_falls_back_to_sweeping(repo: Path, sweeps: list[int], monkeypatch) -> None:
    ino = _RefusingInotify()
    monkeypatch.setattr(discover, "open_feed", lambda: ChangeFeed(ino, 0))
    probe = ListingProbe(repo, language_of=languages.language_for_path, events=True)
    first = probe.fingerprint()
    assert ino.closed and not probe.has_events  # the feed was closed and dropped
    sweeps.clear()
    assert probe.fingerprint() == first and sweeps  # every check sweeps, as without events
    EDITS["edit"](repo)
    assert probe.fingerprint() != first


def test_a_closed_or_failing_feed_is_never_quiet() -> None:
    class Broken(_RefusingInotify):
        def read(self, timeout=None):
            raise OSError(9, "Bad file descriptor")

    assert not ChangeFeed(Broken(), 0).quiet()
    feed = ChangeFeed(_RefusingInotify(), 0)
    assert feed.quiet()  # nothing queued
    feed.close()
    assert feed.closed and not feed.quiet()


@needs_inotify
def test_a_watched_map_answers_from_events_and_closes_them(repo: Path, tmp_path: Path, sweeps: list[int]) -> None:
    rm = RepoMap(repo, cache_dir=tmp_path / "cache", use_git=False)
    try:
        rm.watch()
        rm.rank(chat_files=["app.py"])
        assert rm._probe.has_events
        sweeps.clear()
        assert not rm.is_stale() and sweeps == []  # an unchanged tree: no stat
        EDITS["edit"](repo)
        assert rm.is_stale() and rm.refresh()
        seen = rm.render(rm.rank(chat_files=["app.py"])).text
        assert not rm.is_stale()
    finally:
        rm.close()
    assert not rm._probe.has_events
    with RepoMap(repo, cache_dir=tmp_path / "cold", use_git=False) as cold:  # the edited tree from scratch
        assert seen == cold.render(cold.rank(chat_files=["app.py"])).text


def test_a_watched_maps_first_build_takes_the_probes_listing_over(repo: Path, tmp_path: Path, monkeypatch) -> None:
    # the probe lists the tree right before the first build: the build takes that listing
    # over instead of asking git again, once, and only from the check that made it
    gits, walks = _count_calls(monkeypatch, discover, "git_list"), _count_calls(monkeypatch, discover, "walk")
    with RepoMap(repo, cache_dir=tmp_path / "cache") as rm:
        rm.watch()
        seen = rm.render(rm.rank(chat_files=["app.py"])).text
    assert len(gits) + len(walks) == 1
    monkeypatch.undo()
    with RepoMap(repo, cache_dir=tmp_path / "cold") as cold:
        assert seen == cold.render(cold.rank(chat_files=["app.py"])).text
    probe = ListingProbe(repo, language_of=languages.language_for_path)
    probe.fingerprint()
    raw = probe.take_listing()
    assert raw is not None and "app.py" in raw.paths and probe.take_listing() is None
    probe.fingerprint()  # nothing came or went: this check listed nothing
    assert probe.take_listing() is None
