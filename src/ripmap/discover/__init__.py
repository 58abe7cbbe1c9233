"""Find the source files under a root: the first stage of every map.

Candidates come from git when the root is inside a work tree, because git
already knows the ignore rules exactly (including ``.git/info/exclude`` and the
user's global excludes). Without git we walk the tree ourselves and apply every
``.gitignore`` we find, so a plain checkout or tarball maps the same way.

Both sources feed one per-file pipeline that applies the excludes, the size
limit and the binary check, and turns every surprise (unreadable file, symlink
loop, link escaping the root) into a one-line note instead of an exception: a
map with a few files missing is far more useful than no map at all.

Only what nobody ever wants is left out (installed packages, virtualenvs, build
outputs, lock files). Vendored, generated, fixture, stub, docs and test files are
kept but *classified*: each :class:`SourceFile` carries its
:class:`~ripmap.fileclass.FileClass` flags to the index and on to ranking, which
weighs them and never re-classifies a path.

The stage is cut into its concerns, each a module of this package:

* :mod:`.listing`: where candidate paths come from (``git ls-files``, else a walk);
* :mod:`.ignore`: what is left out (built-in excludes, the config's globs, ``.gitignore``);
* :mod:`.checks`: per-file checks (size, binary, symlinks, special files);
* :mod:`.classes`: file-class detection (path, neighbours, ``.gitattributes``, content);
* :mod:`.source`: the records handed on (:class:`SourceFile`, :class:`Discovery`);
* :mod:`.paths`: paths split and interned once, so each directory and each name is
  judged once however many files share it (a warm 70,000-file tree must list in well
  under a second).
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from stat import S_ISREG

import numpy as np

from ..config import Config
from ..errors import RipmapError
from .checks import inspect_file, is_binary
from .classes import CLASSIFY_VERSION, class_bits, classify_path, content_flags
from .ignore import VENDOR_DIRS, Filters, is_vendor_path
from .listing import git_list, walk
from .paths import PathTable
from .source import Discovery, SourceFile, listing_fingerprint
from .watch import open_feed

__all__ = ["CLASSIFY_VERSION", "VENDOR_DIRS", "Discovery", "Listing", "ListingProbe", "ProbeSnapshot", "RawListing",
           "SourceFile", "classify_path",
           "content_flags", "discover", "is_binary", "is_vendor_path", "list_files", "rediscover"]

#: the longest a :class:`ListingProbe` with change events trusts them alone: changes the
#: kernel never reports (writes through ``mmap``, network file systems) are seen by a
#: sweep no later than this; a server's background checks usually pay it, not a call
SWEEP_S = 10.0

#: files whose change can change what discovery or its classes decide, besides the sources
_CONTROL_FILES = frozenset({".gitignore", ".gitattributes", ".gitmodules", "ripmap.toml", "pyproject.toml"})


class ListingProbe:
    """A cheap fingerprint of everything discovery would see: each candidate path's
    (size, mtime), the control files (ignore rules, attributes, the config) and the
    directories they sit in.

    For long-lived callers that ask "did anything change?" before every answer: on a
    70,000-file tree a full :func:`discover` (git, filters, classes, per-file checks)
    takes seconds. The probe lists the tree once (and again whenever a watched
    directory's mtime moved, which is what adding, removing or renaming an entry does,
    or when the last listing is older than ``relist_s``), then only ``stat``s the paths
    that matter and their directories. Equal fingerprints mean discovery would list the
    same files with the same sizes and mtimes; a different one may still turn out to
    change nothing (a touched file).

    With ``events`` (Linux: :mod:`.watch`), the kernel reports every change in the
    watched directories as it happens, and a fingerprint with no event since the last
    one, within ``sweep_s`` of the last sweep, is the last one again, without a ``stat``.
    """

    def __init__(self, root: Path, config: Config | None = None, *,
                 language_of: Callable[[str], str | None] | None = None, relist_s: float = 30.0,
                 events: bool = False, sweep_s: float = SWEEP_S) -> None:
        self.root = Path(root).resolve()
        self.filters = Filters.from_config(config or Config())
        self.language_of = language_of
        self.relist_s = relist_s
        self._paths: list[str] = []  # absolute paths of the files that matter
        self._dirs: list[str] = []  # their directories (and every directory of a listed path)
        self._dir_state: str | None = None
        self._listed_at = 0.0
        #: bumped at every listing: two snapshots of one generation watched the same paths
        self.generation = 0
        self._snapshot: ProbeSnapshot | None = None
        self._raw: RawListing | None = None  # the last check's listing, if it made one (take_listing)
        #: kernel change events (``events``): while they report nothing, and the last sweep
        #: is younger than ``sweep_s``, the last fingerprint stands without a ``stat``
        self._feed = open_feed() if events else None
        self.sweep_s = sweep_s
        self._swept_at = 0.0
        self._at: tuple[int, dict[str, int]] | None = None  # (generation, path → its row in _paths)
        # one fingerprint at a time: with events, a second caller must not find the queue
        # drained by a sweep still under way and take the fingerprint from before it
        self._lock = threading.Lock()

    def _matters(self, rel: str, wanted: bool, mapped_names: dict[str, bool]) -> bool:
        """A control file, or a file discovery would map (``mapped_names``: whether
        ``language_of`` knows a name, asked once per name as :func:`discover` does)."""
        name = rel.rpartition("/")[2]
        if name in _CONTROL_FILES:
            return True
        if not wanted or self.language_of is None:
            return wanted
        known = mapped_names.get(name)
        if known is None:
            known = mapped_names[name] = self.language_of(rel) is not None
        return known

    def _list(self) -> None:
        import time

        self._raw = raw_listing(self.root, self.filters)
        listed = self._raw.paths
        prefix = os.path.join(str(self.root), "")
        dirs = {str(self.root)}
        for rel in listed:
            d = rel.rpartition("/")[0]
            while d and prefix + d not in dirs:
                dirs.add(prefix + d)
                d = d.rpartition("/")[0]
        extra = [".git/info/exclude", "ripmap.toml", "pyproject.toml"]
        wanted = set(self.filters.select(listed))
        mapped_names: dict[str, bool] = {}
        self._paths = [prefix + rel for rel in [*listed, *extra]
                       if self._matters(rel, rel in wanted, mapped_names) or rel in extra]
        self._dirs = sorted(dirs)
        if self._feed is not None:
            # the folders whose entries the probe stats, and those of the extra paths that exist
            extra_dirs = {os.path.dirname(prefix + rel) for rel in extra}
            if not self._feed.watch([*self._dirs, *(d for d in extra_dirs if os.path.isdir(d))]):
                self._feed = None
        self._dir_state = None
        self._listed_at = time.monotonic()
        self.generation += 1

    @staticmethod
    def _stamp(paths: list[str], seen: list | None = None) -> str:
        """The digest of ``paths`` with their sizes and mtimes (``seen``, when given, gets
        each path's ``(size, mtime_ns)``, or None where it cannot be read)."""
        got = in_halves(_stat_each, paths)
        if seen is not None:
            seen.extend(got)
        return ListingProbe._digest(paths, got)

    @staticmethod
    def _digest(paths: list[str], got: list) -> str:
        h = hashlib.blake2b(digest_size=16)
        h.update("\0".join(paths).encode("utf-8", "surrogateescape"))
        h.update(repr(got).encode())
        return h.hexdigest()

    def fingerprint(self, trust_s: float | None = None) -> str:
        """The fingerprint now. ``trust_s``: how long after the last sweep the change events
        alone may answer (default, and at least, ``sweep_s``): a caller whose sweeps are
        due is answered sooner when someone else (a server's background checks) sweeps
        meanwhile, within that longer bound."""
        with self._lock:
            return self._fingerprint(self.sweep_s if trust_s is None else max(trust_s, self.sweep_s))

    def _fingerprint(self, trust_s: float) -> str:
        import time

        now = time.monotonic()
        self._raw = None  # a listing is taken over only from the check that made it
        feed, last = self._feed, self._snapshot
        if feed is not None:
            if (last is not None and last.generation == self.generation and now - self._swept_at < trust_s
                    and now - self._listed_at <= self.relist_s):
                touched = feed.touched()
                if touched is not None:  # nothing happened, or entries written in place
                    return self._restat(last, touched) if touched else last.fingerprint
            feed.quiet()  # drained now: the sweep below sees everything that happened until here
            if feed.closed:
                self._feed = None
        self._swept_at = now
        dirs_now = self._stamp(self._dirs) if self._dirs else None
        if (dirs_now is None or dirs_now != self._dir_state
                or time.monotonic() - self._listed_at > self.relist_s):
            self._list()
            dirs_now = self._stamp(self._dirs)
        self._dir_state = dirs_now
        seen: list = []
        fp = f"{dirs_now}:{self._stamp(self._paths, seen)}"
        self._snapshot = ProbeSnapshot(fp, self.generation, self.root, self._paths, seen)
        return fp

    def _restat(self, last: "ProbeSnapshot", touched: set[str]) -> str:
        """The fingerprint a sweep would give when only ``touched`` (entries written or
        touched in place: no entry came, went or moved, so the listing and the folders
        stand) can have changed since ``last``: those paths' ``stat`` and ``last``'s for
        the others. After an edit of one file of 70,000, a stat instead of 70,000."""
        if self._at is None or self._at[0] != self.generation:
            self._at = (self.generation, {p: i for i, p in enumerate(self._paths)})
        at = self._at[1]
        rows = sorted(at[p] for p in touched if p in at)  # the rest are not files that matter
        if not rows:
            return last.fingerprint
        got = _stat_each([self._paths[i] for i in rows])
        if all(last.seen[i] == g for i, g in zip(rows, got)):
            return last.fingerprint
        seen = list(last.seen)
        for i, g in zip(rows, got):
            seen[i] = g
        fp = f"{self._dir_state}:{self._digest(self._paths, seen)}"
        self._snapshot = ProbeSnapshot(fp, self.generation, self.root, self._paths, seen)
        return fp

    def snapshot(self) -> "ProbeSnapshot | None":
        """What the last :meth:`fingerprint` saw, path by path."""
        return self._snapshot

    def take_listing(self) -> "RawListing | None":
        """The candidate paths listed by the last :meth:`fingerprint`, once; None when that
        check listed nothing (the tree's entries had not changed) or they were taken. A
        watched map's first build, or its refresh after files came or went, lists the tree
        right after the probe did, and takes them over (:func:`list_files`'s ``listed``)
        instead of asking git again (0.3–0.4 s at 70,000 files)."""
        with self._lock:
            raw, self._raw = self._raw, None
            return raw

    @property
    def has_events(self) -> bool:
        """Whether kernel change events stand in for most sweeps."""
        return self._feed is not None

    def close(self) -> None:
        """Stop the change events (their file descriptor); fingerprints sweep from now on."""
        with self._lock:
            if self._feed is not None:
                self._feed.close()
                self._feed = None


@dataclass(frozen=True)
class RawListing:
    """What git listed under a root (or a walk found, ``in_git`` False), with its notes."""

    paths: tuple[str, ...]
    in_git: bool
    notes: tuple[str, ...] = ()


def raw_listing(root: Path, filters: Filters) -> RawListing:
    """The candidate paths under ``root``: what git lists there, else a walk of the tree."""
    notes: list[str] = []
    listed = git_list(root, notes)
    if listed is None:
        return RawListing(tuple(walk(root, filters, notes)), False, tuple(notes))
    return RawListing(tuple(listed), True, tuple(notes))


@dataclass(frozen=True, eq=False)
class ProbeSnapshot:
    """One :meth:`ListingProbe.fingerprint`: the paths it watched (those of one listing,
    its ``generation``) and each one's ``(size, mtime_ns)``."""

    fingerprint: str
    generation: int
    root: Path
    paths: list[str]  # absolute
    seen: list  # per path: (size, mtime_ns) or None

    def changed_since(self, before: "ProbeSnapshot") -> list[str] | None:
        """The root-relative paths whose size or mtime differs from ``before``'s, or None
        when the two did not watch the same listing (a directory changed in between:
        files may have come or gone, which only a listing tells)."""
        if before.generation != self.generation or before.paths is not self.paths:
            return None
        cut = len(os.path.join(str(self.root), ""))
        return [p[cut:] for p, a, b in zip(self.paths, self.seen, before.seen) if a != b]


def discover(
    root: Path,
    config: Config | None = None,
    *,
    language_of: Callable[[str], str | None] | None = None,
    keep_unknown: bool = False,
    known: Mapping[str, tuple[int, int]] | None = None,
    sniff: bool = True,
) -> Discovery:
    """List the mappable files under ``root``, deterministically sorted: :func:`list_files`,
    then each file's classes and record (:meth:`Listing.finish`)."""
    return list_files(root, config, language_of=language_of, keep_unknown=keep_unknown, known=known,
                      sniff=sniff).finish()


def list_files(
    root: Path,
    config: Config | None = None,
    *,
    language_of: Callable[[str], str | None] | None = None,
    keep_unknown: bool = False,
    known: Mapping[str, tuple[int, int]] | None = None,
    sniff: bool = True,
    listed: "RawListing | None" = None,
) -> Listing:
    """The mappable files under ``root``, deterministically sorted, with their sizes and
    mtimes (see :class:`Listing`; :func:`discover` makes them records).

    ``listed``: the candidate paths a :class:`ListingProbe` of the same root and config
    has just listed (:meth:`ListingProbe.take_listing`), instead of asking git (or
    walking) again; everything after the listing is done as always.

    ``language_of`` maps a root-relative path to a language name. When it is
    given and ``keep_unknown`` is false, files it does not recognise are
    dropped silently and *before* any I/O: they are not source code, and not
    touching them is what keeps discovery fast on asset-heavy repos. A language is
    told by the file's name (its extension), so ``language_of`` is asked once per
    distinct name and its answer reused for every file of that name: a big tree
    repeats names (70,000 files under 5,000 names in the scale benchmark).

    ``known`` maps paths to the (size, mtime_ns) at which they were last parsed as
    text (the tag cache): an unchanged file needs no binary sniff. ``sniff=False``
    leaves the binary check to the caller altogether (the index does it in its parse
    workers, which read every file anyway; see :func:`is_binary`).
    """
    if config is None:
        config = Config()
    root = Path(root)
    if not root.is_dir():
        raise RipmapError(f"{root}: no such directory")
    root = root.resolve()
    filters = Filters.from_config(config)

    raw = listed if listed is not None else raw_listing(root, filters)  # or the probe's, taken over
    listed, in_git, notes = raw.paths, raw.in_git, list(raw.notes)
    if in_git and not listed:
        # The root may sit inside a git-ignored directory of an enclosing repo
        # (a build dir, a vendored checkout); git then lists nothing at all.
        walk_notes: list[str] = []
        walked = walk(root, filters, walk_notes)
        if walked:
            in_git = False
            notes.append("git lists no files here (ignored directory?); walked the tree instead")
            notes.extend(walk_notes)
            listed = walked

    root_str = str(root)
    prefix = os.path.join(root_str, "")  # with exactly one trailing separator
    # sorted, then duplicates dropped: git's listing comes sorted, so the sort is one pass
    table = PathTable.of(list(dict.fromkeys(sorted(listed))))
    candidates = table.take(np.flatnonzero(filters.keep(table)))
    languages: list[str | None] = [None] * len(table.names)
    if language_of is not None:
        # a language is told by the name: asked once per name, of the first path having it
        first = candidates.first_of_name().tolist()
        for k, at in enumerate(first):
            if at >= 0:
                languages[k] = language_of(candidates.rels[at])
        if not keep_unknown:
            recognised = np.fromiter((lang is not None for lang in languages), dtype=bool, count=len(languages))
            candidates = candidates.take(np.flatnonzero(recognised[candidates.name_of]))
    kept, sizes, mtimes = _inspect_all(root_str, prefix, candidates.rels, config.max_file_size, notes, known, sniff)
    found = candidates.take(np.asarray(kept, dtype=np.int64))
    return Listing(root, found, sizes, mtimes, languages, listed, notes, in_git)


@dataclass(eq=False)
class Listing:
    """What :func:`list_files` saw: the mappable files' paths, sizes and mtimes (file
    order), before their classes are told and their records made (:meth:`finish`).
    Enough to tell whether the tree is as it was (:meth:`fingerprint`): a map kept for
    an unchanged tree needs no more (:meth:`ripmap.api.RepoMap.kept_map`)."""

    root: Path
    found: PathTable
    sizes: list[int]
    mtimes: list[int]
    languages: list[str | None]  # per name of the path table
    listed: Sequence[str]  # every candidate path (class detection reads its neighbours)
    notes: list[str]
    in_git: bool
    _fingerprint: str | None = field(default=None, init=False, repr=False)

    def fingerprint(self) -> str:
        """:func:`~ripmap.index.files_fingerprint` of the files :meth:`finish` will make
        (taken once: a kept map's miss and the index both ask for it)."""
        if self._fingerprint is None:
            self._fingerprint = listing_fingerprint(self.found.rels, self.sizes, self.mtimes)
        return self._fingerprint

    def finish(self) -> Discovery:
        """The discovery: each file's classes told and its record made."""
        found, notes = self.found, list(self.notes)
        flags, fixed = class_bits(self.root, found, self.listed, notes=notes)
        files = SourceFile.many(rel=found.rels, root=repeat(str(self.root), len(self.sizes)), size=self.sizes,
                                mtime_ns=self.mtimes, language=[self.languages[k] for k in found.name_of.tolist()],
                                flags=flags.tolist(), fixed=fixed.tolist())
        return Discovery(files, tuple(notes), self.in_git, self._fingerprint)


def rediscover(previous: Discovery, changed: Sequence[str], config: Config | None = None) -> Discovery | None:
    """What :func:`discover` would answer now, from its ``previous`` answer and the paths
    whose size or mtime changed since (a :class:`ListingProbe` saw no directory change,
    so no file came or went): the changed files' records with their new size and mtime.
    None when that cannot be told without a listing (a changed path that was not mapped:
    a control file, a file that was skipped; or a changed file now skipped: too big, no
    longer a regular file, gone)."""
    config = config if config is not None else Config()
    if not previous.files:
        return None
    at = {f.rel: i for i, f in enumerate(previous.files)}
    rels = list(dict.fromkeys(changed))
    if any(r not in at for r in rels):
        return None
    root_str = previous.files[0].root
    notes: list[str] = []
    kept, sizes, mtimes = _inspect_all(root_str, os.path.join(root_str, ""), rels, config.max_file_size, notes,
                                       None, False)
    if len(kept) != len(rels) or notes:
        return None
    files = list(previous.files)
    for r, size, mtime in zip(rels, sizes, mtimes):
        i = at[r]
        files[i] = dataclasses.replace(files[i], size=size, mtime_ns=mtime)
    return Discovery(tuple(files), previous.notes, previous.in_git)


#: the fewest paths whose ``stat`` calls are split over two threads (each call waits
#: outside the GIL: a server's check of 70,000 files takes 0.28 s instead of 0.32 s; the
#: listing's own loop does more Python per file and gains nothing from a second thread)
SPLIT_MIN = 8192


def in_halves(fn: Callable[[Sequence], list], items: Sequence) -> list:
    """``fn(items)``, worked out as ``fn`` of each half, the first on a thread of its own,
    joined in order, when there are at least :data:`SPLIT_MIN` items."""
    if len(items) < SPLIT_MIN:
        return fn(items)
    from concurrent.futures import ThreadPoolExecutor

    mid = len(items) // 2
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ripmap-stat") as ex:
        first = ex.submit(fn, items[:mid])
        second = fn(items[mid:])
        return first.result() + second


def _stat_each(paths: Sequence[str]) -> list[tuple[int, int] | None]:
    """Each path's ``(size, mtime_ns)``, or None where it cannot be read."""
    stat = os.stat
    out: list[tuple[int, int] | None] = []
    put = out.append
    for p in paths:
        try:
            st = stat(p)
            put((st.st_size, st.st_mtime_ns))
        except OSError:
            put(None)
    return out


def _inspect_all(root_str: str, prefix: str, rels: Sequence[str], max_size: int, notes: list[str],
                 known: Mapping[str, tuple[int, int]] | None, sniff: bool) -> tuple[list[int], list[int], list[int]]:
    """:func:`inspect_file` over ``rels``: the indexes of the mappable ones, with their
    sizes and mtimes.

    The common case (a regular file within the limit that needs no binary sniff) is
    decided here from one ``lstat``; anything else (links, special files, errors,
    files to sniff) goes through :func:`inspect_file`, which words the notes.
    """
    kept: list[int] = []
    sizes: list[int] = []
    mtimes: list[int] = []
    lstat = os.lstat
    for i, rel in enumerate(rels):
        try:
            st = lstat(prefix + rel)
        except OSError:
            st = None
        if (st is not None and S_ISREG(st.st_mode) and st.st_size <= max_size
                and (not sniff or not st.st_size or (known is not None
                                                     and known.get(rel) == (st.st_size, st.st_mtime_ns)))):
            found: tuple[int, int] | None = (st.st_size, st.st_mtime_ns)
        else:
            found = inspect_file(root_str, prefix + rel, rel, max_size, notes, known, sniff)
        if found is not None:
            kept.append(i)
            sizes.append(found[0])
            mtimes.append(found[1])
    return kept, sizes, mtimes
