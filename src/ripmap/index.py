"""The index: every mapped file with its tags, from the cache or a parallel parse.

This is the seam between "which files" (discover), "what is in them" (extract) and
"remembered from last time" (cache). Cold files are parsed in a process pool so a
first run uses every core; warm files cost one SQLite read. Files that vanish or turn
unreadable between discovery and parsing are dropped with a note, never an error.
"""
from __future__ import annotations

import functools
import hashlib
import multiprocessing as mp
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np

from . import languages
from .cache import NullCache, TagCache, decode_blob, decode_raw, encode_tuples
from .config import Config, load_config
from .discover import Discovery, SourceFile, content_flags, discover, is_binary
from .discover.source import listing_fingerprint
from .extract import extract_split
from .extract.tags import Tag, graph_row, ref_counts
from .graph import positions

# A file modified this recently may have changed again within the filesystem's mtime
# granularity after its tags were cached ("racily clean", as git calls it): verify its hash.
RACY_WINDOW_NS = 2_000_000_000

# Below this many files to parse, a process pool costs more than it saves.
_POOL_MIN_FILES = 48


class TagTable(Mapping[str, list[Tag]]):
    """rel → every tag of the file, sorted.

    Nothing is decoded before something asks. A warm map of a big tree shows a hundred
    files out of tens of thousands and ranks from the stored graph and symbol table, so
    the definitions of a file that came from the cache are decoded when a caller first
    asks for them (:meth:`defs`, or every file at once for a graph rebuild), and its
    references only when something needs a file's full tags (building the reference
    graph on a cache miss, ``--calls``, identifier search): references are most of the
    decoding cost, and at 70,000 files decoding every definition alone took 8 s.
    """

    def __init__(self, defs: dict[str, list[Tag]], full: dict[str, list[Tag]],
                 load_refs: Callable[[list[str]], dict[str, list[Tag]]] | None = None,
                 reparse: Callable[[list[str]], dict[str, list[Tag]]] | None = None,
                 load_counts: Callable[[list[str]], dict[str, list[tuple]]] | None = None,
                 *, order: Sequence[str] | None = None,
                 load_defs: Callable[[list[str]], dict[str, list[Tag]]] | None = None) -> None:
        """``defs``: the definitions already decoded; ``order``: every file of the table in
        index order (default: ``defs``' keys), those missing from ``defs`` decoded through
        ``load_defs`` when first asked for (a file it cannot give is parsed again)."""
        self._order: dict[str, None] = dict.fromkeys(defs if order is None else order)
        self._defs = defs
        self._full = full
        self._load_refs = load_refs
        self._reparse = reparse
        self._load_counts = load_counts
        self._load_defs = load_defs

    def defs(self, rel: str) -> list[Tag]:
        got = self._defs.get(rel)
        if got is None:
            if rel not in self._order:
                return []
            self.load_defs([rel])
            got = self._defs.get(rel, [])
        return got

    def loaded_defs(self, rel: str) -> list[Tag] | None:
        """A file's definitions if they are decoded already, else None (nothing is read)."""
        return self._defs.get(rel)

    def load_defs(self, rels: Iterable[str] | None = None) -> None:
        """Decode the definitions of ``rels`` (default: every file) that are not yet, in
        one batch: for callers about to ask for many files' definitions."""
        wanted = self._order if rels is None else rels
        missing = [r for r in wanted if r in self._order and r not in self._defs]
        if not missing:
            return
        got = self._load_defs(missing) if self._load_defs is not None else {}
        lost = [r for r in missing if got.get(r) is None]
        if lost and self._reparse is not None:
            # the cache lost the row, or it does not decode (damaged, or replaced by another
            # process since this index was built): parse again rather than drop the file
            full = self._reparse(lost)
            for r, tags in full.items():
                self._full.setdefault(r, tags)
                got[r] = [t for t in tags if t.is_def]
        for r in missing:
            self._defs[r] = got.get(r) or []

    def peek_defs(self, rels: Sequence[str]) -> dict[str, list[Tag]]:
        """The definitions of ``rels`` without keeping the ones decoded for this call: a
        caller that reads every file's once (the lexical index of 70,000 files, 1.4M
        definitions) holds a window of them at a time, not all."""
        out = {r: self._defs[r] for r in rels if r in self._defs}
        missing = [r for r in rels if r not in out and r in self._order]
        got = self._load_defs(missing) if missing and self._load_defs is not None else {}
        for r in missing:
            tags = got.get(r)
            out[r] = tags if tags is not None else self.defs(r)  # lost from the cache: the usual way
        return out

    def __getitem__(self, rel: str) -> list[Tag]:
        got = self._full.get(rel)
        if got is not None:
            return got
        if rel not in self._order:
            raise KeyError(rel)
        self._load_all()
        return self._full[rel]

    def _load_all(self) -> None:
        self.load_defs()
        missing = [r for r in self._order if r not in self._full]
        refs = self._load_refs(missing) if self._load_refs and missing else {}
        lost = [r for r in missing if r not in refs]
        if lost and self._reparse is not None:
            # the cache went away (closed, or disabled after an error): parse again
            # rather than silently returning files without references
            self._full.update(self._reparse(lost))
        for r in missing:
            if r in self._full:
                continue
            merged = self._defs[r] + refs.get(r, [])
            merged.sort(key=Tag.sort_key)
            self._full[r] = merged

    def graph_rows(self, rels: Iterable[str] | None = None) -> Iterator[tuple[str, list, list]]:
        """(rel, definitions, reference counts) per file (of ``rels``, default all), the
        counts as ``(name, kind, count)`` (see :func:`ripmap.extract.tags.ref_counts`).

        For the graph builder: it needs only how often each name is used, so neither
        a Tag per reference nor the references themselves are decoded.
        """
        wanted = list(self._order) if rels is None else [r for r in rels if r in self._order]
        self.load_defs(wanted)
        missing = [r for r in wanted if r not in self._full]
        counts = self._counts(missing) if missing else {}
        for rel in wanted:
            full = self._full.get(rel)
            if full is None and rel not in counts:
                full = self[rel]
            if full is not None:
                yield rel, *graph_row(full)
            else:
                yield rel, self._defs[rel], counts[rel]

    def _counts(self, rels: list[str]) -> dict[str, list[tuple]]:
        if self._load_counts is None:
            return {}
        try:
            return self._load_counts(rels)
        except Exception:  # fall back to the full (Tag-building) path
            return {}

    def __iter__(self) -> Iterator[str]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, rel: object) -> bool:
        return rel in self._order


def definitions(tags: Mapping[str, Sequence[Tag]], rel: str) -> list[Tag]:
    """A file's definitions, without loading references when ``tags`` is a TagTable."""
    if isinstance(tags, TagTable):
        return tags.defs(rel)
    return [t for t in tags.get(rel, ()) if t.is_def]


@dataclass
class Index:
    """All mapped files of one root, with their tags (sorted, de-duplicated)."""

    root: Path
    files: tuple[SourceFile, ...]
    tags: TagTable
    notes: list[str] = field(default_factory=list)
    cache_hits: int = 0
    parsed: int = 0
    elapsed_s: float = 0.0

    #: :func:`files_fingerprint` of what discovery listed, before parsing dropped any
    #: file: what a later discovery is compared with to tell whether the index is current
    listing: str = ""
    #: files whose tags were parsed (or re-validated by content hash) by this build: what an
    #: incremental graph update reads again even when its size and mtime look unchanged
    fresh: frozenset[str] = frozenset()
    #: what discovery answered for this index (where a refresh that saw no directory
    #: change starts from, instead of listing the tree again)
    discovery: Discovery | None = None

    @functools.cached_property
    def stamps(self) -> np.ndarray:
        """(size, mtime_ns) per file, in file order (read-only): what a stored graph or
        lexical index remembers to tell later which files changed. Taken once."""
        n = len(self.files)
        flat = np.fromiter((v for f in self.files for v in (f.size, f.mtime_ns)), dtype=np.int64, count=2 * n)
        out = flat.reshape(n, 2)
        out.setflags(write=False)
        return out

    @functools.cached_property
    def fingerprint(self) -> str:
        """Identity of the indexed content: changes whenever any file is added, removed or
        edited. Taken once (0.1 s for 70,000 files); the file tuple is never replaced."""
        return files_fingerprint(self.files)


def changed_files(old_files: Sequence[str], old_stamps, files: Sequence[str], stamps,
                  fresh: Iterable[str] = ()) -> set[str]:
    """The files of ``files`` that an incremental update must read again: new ones, those
    whose (size, mtime) differs from what the old structure saw (``*_stamps``: one
    ``(size, mtime_ns)`` row per file), and ``fresh`` (parsed by this index)."""
    out = set(fresh)
    n = len(files)
    if not n:
        return out
    files = tuple(files)
    j = positions(files, old_files)
    moved = j < 0
    known = np.flatnonzero(~moved)
    moved[known] = (np.asarray(old_stamps)[j[known]] != np.asarray(stamps)[known]).any(axis=1)
    out.update(files[i] for i in np.flatnonzero(moved).tolist())
    return out


def files_fingerprint(files: Sequence[SourceFile]) -> str:
    """Identity of a file list by each file's path, size and mtime (see
    :func:`~ripmap.discover.source.listing_fingerprint`, which a listing not yet made
    into records gives the same)."""
    return listing_fingerprint([f.rel for f in files], [f.size for f in files], [f.mtime_ns for f in files])


def _hash(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def _read_hash(f: SourceFile) -> bytes | None:
    try:
        with open(f.path, "rb") as fh:
            return _hash(fh.read())
    except OSError:
        return None


def _same_content(cache, f: SourceFile) -> bool:
    digest = _read_hash(f)
    return digest is not None and cache.lookup_hash(f.rel, f.size, digest) is not None


def _hash_hit(cache, f: SourceFile) -> list[Tag] | None:
    """Tags stored for this path with the same size and content hash, if any."""
    if not cache.has_size(f.rel, f.size):
        return None
    digest = _read_hash(f)
    return cache.lookup_hash(f.rel, f.size, digest) if digest is not None else None


#: What a parse worker returns: (rel, content hash, definition tuples, encoded
#: references, encoded reference counts, notes, content class flags).
Parsed = tuple[str, bytes | None, list[tuple] | None, bytes, bytes, list[str], int]


def _parse_one(job: tuple[str, str, str]) -> Parsed:
    """Worker: read and extract one file.

    The references, most of the volume, travel back already in the cache's encoding:
    the main process stores them as they are and decodes them only if something asks;
    the graph reads the counts. The worker also reports the classes the file's first
    bytes reveal (a generator's header, minified text), since it holds them anyway.
    """
    rel, path, language = job
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return rel, None, None, b"", b"", ["vanished before it could be parsed; skipped"], 0
    except OSError as e:
        return rel, None, None, b"", b"", [f"unreadable ({e.strerror or type(e).__name__}); skipped"], 0
    if is_binary(data):
        return rel, None, None, b"", b"", ["binary; skipped"], 0
    defs, refs, notes = extract_split(data, languages.content_language(language, rel, data))
    return (rel, _hash(data), [tuple(t) for t in defs], encode_tuples(refs), encode_tuples(ref_counts(refs)), notes,
            content_flags(data))


def _parse_chunk(jobs: list[tuple[str, str, str]]):
    return [_parse_one(j) for j in jobs]


# prctl(2) option: the signal a process gets when its parent dies (linux/prctl.h).
_PR_SET_PDEATHSIG = 1
# How often a worker without PR_SET_PDEATHSIG checks that its parent is still there.
_PARENT_POLL_S = 1.0


def _die_with_parent(parent_pid: int) -> None:
    """Pool initializer: make this worker exit when the process that started it dies.

    A killed ``ripmap`` (SIGKILL, or any signal it does not survive) must not leave its
    workers parsing a whole repository for nobody. On Linux the kernel does it:
    PR_SET_PDEATHSIG sends SIGKILL the moment the parent goes. The parent may already
    have died between the fork and the prctl call, in which case no signal will come;
    the ``getppid`` check after it closes that window. Elsewhere a daemon thread
    notices the re-parenting instead.

    The worker also drops the parent's signal handlers inherited through fork (the CLI
    turns SIGTERM/SIGHUP into an exception, which a worker would report back as a
    task result and carry on) and ignores SIGINT: Ctrl-C reaches the whole process
    group, and it is the parent's job to stop the pool, without a traceback per worker.
    """
    import signal

    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None:
            signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux") and _set_pdeathsig(signal.SIGKILL):
        if os.getppid() != parent_pid:
            os._exit(1)
        return
    if os.getppid() != parent_pid:
        os._exit(1)
    import threading

    def watch() -> None:
        while True:
            time.sleep(_PARENT_POLL_S)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="ripmap-parent-watch", daemon=True).start()


def _set_pdeathsig(sig: int) -> bool:
    """prctl(PR_SET_PDEATHSIG, sig) through libc; False when that is not possible."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _stop_workers(ex: ProcessPoolExecutor) -> None:
    """Stop a pool now: drop the queued chunks and end the running workers.

    ``shutdown(wait=True)``, what leaving the ``with`` block does, would first finish
    every queued chunk, which after Ctrl-C or SIGTERM means parsing the rest of the
    repository before exiting.
    """
    ex.shutdown(wait=False, cancel_futures=True)
    kill = getattr(ex, "kill_workers", None)  # Python 3.14+
    if kill is not None:
        kill()
        return
    procs = list((getattr(ex, "_processes", None) or {}).values())
    for proc in procs:
        try:
            proc.kill()
        except (OSError, ValueError, AttributeError):
            pass
    for proc in procs:
        try:
            proc.join(timeout=2)
        except (OSError, ValueError, AttributeError, AssertionError):
            pass


def _pool_context():
    # fork is much cheaper than spawn (no re-import of grammars per worker) and safe
    # here: the parent holds no threads or locks the children touch.
    if sys.platform.startswith("linux"):
        return mp.get_context("fork")
    return mp.get_context()


def _progress(total: int, enabled: bool):
    """A rich progress bar on stderr, or a no-op when stderr is not a terminal."""
    if not enabled:
        return None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    prog = Progress(TextColumn("parsing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=Console(stderr=True), transient=True)
    prog.start()
    prog.add_task("parse", total=total)
    return prog


def parse_files(jobs: list[tuple[str, str, str]], *, workers: int | None = None,
                progress: bool = False) -> Iterator[Parsed]:
    """Extract many files, in parallel when there are enough of them, yielding each
    result as its chunk comes back (the caller stores them while the workers go on)."""
    if not jobs:
        return
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(jobs) < _POOL_MIN_FILES:
        for j in jobs:
            yield _parse_one(j)
        return
    # big files first so the pool does not end on one straggler
    jobs = sorted(jobs, key=lambda j: -_size(j[1]))
    chunk = max(4, min(64, len(jobs) // (workers * 8) or 4))
    chunks = [jobs[i:i + chunk] for i in range(0, len(jobs), chunk)]
    bar = _progress(len(jobs), progress and len(jobs) >= 400)
    ex = ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context(),
                             initializer=_die_with_parent, initargs=(os.getpid(),))
    try:
        for res in ex.map(_parse_chunk, chunks):
            if bar is not None:
                bar.advance(bar.task_ids[0], len(res))
            yield from res
    except BaseException:  # Ctrl-C, SIGTERM turned into an exception, a broken pool, a closed generator
        _stop_workers(ex)
        raise
    else:
        ex.shutdown(wait=True)
    finally:
        if bar is not None:
            bar.stop()


#: parse results written to the cache per transaction while the workers go on
_WRITE_BATCH = 2048


def _parsed_or_cached(blobs: Mapping[str, bytes], rels: list[str], decode: Callable[[bytes], list | None],
                      from_cache: Callable[[list[str]], dict[str, list]]) -> dict[str, list]:
    """rel → decoded blob: this run's parse results where there are some (blobs that do
    not decode are left out), the cache for the rest."""
    out: dict[str, list] = {}
    for r in rels:
        blob = blobs.get(r)
        if blob is not None:
            got = decode(blob)
            if got is not None:
                out[r] = got
    rest = [r for r in rels if r not in blobs]
    if rest:
        out.update(from_cache(rest))
    return out


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def build_index(root: Path, *, config: Config | None = None, cache: TagCache | NullCache | None = None,
                workers: int | None = None, progress: bool | None = None,
                warn: Callable[[str], None] | None = None, previous: Index | None = None,
                discovered: Discovery | None = None,
                known_files: Callable[[], Mapping[str, tuple[int, int]] | None] | None = None,
                changed: Iterable[str] | None = None) -> Index:
    """Discover, then take tags from the cache or parse them; update the cache.

    ``previous``, an index of the same root held in memory (a server's), lends the
    definitions of files whose size and mtime it saw too, so a refresh decodes only
    what changed instead of every file's definitions. ``discovered``: what discovery
    would answer, when the caller knows it already (see :func:`~ripmap.discover.rediscover`);
    ``known_files``: gives the cache's stamps (:meth:`TagCache.known_files`) when the
    caller started reading them already (None from it: they are read here).

    ``changed``, with ``previous`` and ``discovered``: the paths whose size or mtime
    differs from ``previous``'s (a server's refresh, told by its probe); every other file
    of ``discovered`` is as ``previous`` saw it. Then only those, the files ``previous``
    did not map and the ones changed too recently to trust their stamp are checked
    against the cache; the rest are taken as ``previous`` had them (a 70,000-file
    refresh after one edit read every stamp the cache holds and looked at every file)."""
    t0 = time.perf_counter()
    root = Path(root).resolve()
    config = config if config is not None else load_config(root)
    cache = cache if cache is not None else NullCache()
    # the binary sniff happens in the parse workers, which read each file anyway, so
    # discovery does not need the cache's stamps: they are read beside it (SQLite and
    # discovery's `git ls-files` and `lstat`s wait outside the GIL; 0.35 s of 70,000 rows)
    racy_ns = time.time_ns() - RACY_WINDOW_NS
    check: set[str] | None = None  # with ``changed``: the files to look at (the rest are as before)
    if changed is not None and previous is not None and discovered is not None and cache.enabled:
        before = previous.tags  # the files it mapped
        check = set(changed)
        check.update(f.rel for f in discovered.files if f.mtime_ns >= racy_ns or f.rel not in before)
        known = cache.known_files(check)
        disc = discovered
    else:
        with ThreadPoolExecutor(max_workers=1) as reader:
            known_soon = reader.submit(known_files or cache.known_files)
            disc = discovered or discover(root, config, language_of=languages.language_for_path, sniff=False)
            known = known_soon.result()
            if known is None:
                known = cache.known_files()
    notes = list(disc.notes)
    if progress is None:
        progress = sys.stderr.isatty()

    files = list(disc.files)
    seen: dict[str, tuple[int, int]] = {}
    if previous is not None and cache.enabled and check is None:
        seen = {f.rel: (f.size, f.mtime_ns) for f in previous.files}
    defs: dict[str, list[Tag]] = {}  # decoded definitions (this run's parses, lent, hash hits)
    stored: list[str] = []  # valid in the cache, decoded only if asked for
    tags: dict[str, list[Tag]] = {}
    jobs: list[tuple[str, str, str]] = []
    touched: list[tuple[str, int, int]] = []
    hits = 0
    lent_before = previous.tags.loaded_defs if previous is not None else None
    for f in files:
        if check is not None and f.rel not in check:  # as ``previous`` had it: valid in the cache
            hits += 1
            lent = lent_before(f.rel)  # type: ignore[misc]
            if lent is not None:
                defs[f.rel] = lent
            else:
                stored.append(f.rel)
            continue
        stamp = (f.size, f.mtime_ns)
        # (with ``check``, ``seen`` is empty: a checked file's stamp decides below)
        lent = lent_before(f.rel) if seen.get(f.rel) == stamp and f.mtime_ns < racy_ns else None  # type: ignore[misc]
        valid = lent is not None or known.get(f.rel) == stamp
        if valid and f.mtime_ns >= racy_ns and not _same_content(cache, f):
            valid = False  # modified again within the mtime granularity: size+mtime cannot be trusted
        if not valid and cache.enabled:
            # A new mtime with the old size (checkout, touch, copy): the content hash
            # decides whether the stored tags still hold, which saves the parse.
            full = _hash_hit(cache, f)
            if full is not None:
                tags[f.rel] = full
                lent = [x for x in full if x.is_def]
                touched.append((f.rel, f.size, f.mtime_ns))
                valid = True
        if valid:
            hits += 1
            if lent is not None:
                defs[f.rel] = lent
            else:
                stored.append(f.rel)
        else:
            jobs.append((f.rel, str(f.path), f.language or ""))
    if touched:
        cache.touch_many(touched)

    by_rel = {f.rel: f for f in files}
    rows = []
    parsed_rels: list[str] = []
    raw_refs: dict[str, bytes] = {}
    raw_counts: dict[str, bytes] = {}
    dropped: set[str] = set()
    # classes read from file contents: this run's parse, else what the cache kept
    found = cache.get_flags(list(defs) + stored) if defs or stored else {}
    # Results are stored as they come, a batch per transaction: the references (most of
    # the volume) then never pile up in this process; they are read back from the cache
    # if something asks (``--calls``, search). Without a cache they stay here.
    keep_refs = not cache.enabled
    for rel, digest, def_tuples, refs_blob, counts_blob, fnotes, cflags in parse_files(
            jobs, workers=workers, progress=progress):
        for n in fnotes:
            notes.append(f"{rel}: {n}")
        if def_tuples is None:
            dropped.add(rel)
            continue
        f = by_rel[rel]
        defs[rel] = [Tag._make(t) for t in def_tuples]
        if keep_refs:
            raw_refs[rel] = refs_blob
        raw_counts[rel] = counts_blob
        found[rel] = cflags
        rows.append((rel, f.size, f.mtime_ns, digest, encode_tuples(def_tuples), refs_blob, counts_blob, cflags))
        parsed_rels.append(rel)
        if len(rows) >= _WRITE_BATCH:
            cache.put_encoded(rows)
            rows.clear()
    if rows:
        cache.put_encoded(rows)
        rows.clear()
    if found:  # few files have content classes: only theirs are replaced
        at = {f.rel: i for i, f in enumerate(files)}
        for rel, cflags in found.items():
            i = at.get(rel)
            if i is not None:
                files[i] = files[i].with_content_flags(cflags)
    if dropped:
        files = [f for f in files if f.rel not in dropped]
    if jobs:
        keep = {f.rel for f in files}
        if not keep.issuperset(known) or not keep.issuperset(parsed_rels):
            cache.prune(keep)  # a write transaction over every row: only when a row must go
    file_of = {f.rel: f for f in files}

    def reparse(rels: list[str]) -> dict[str, list[Tag]]:
        out: dict[str, list[Tag]] = {}
        for rel, _digest, def_tuples, refs_blob, _counts, _notes, _flags in parse_files(
                [(r, str(file_of[r].path), file_of[r].language or "") for r in rels if r in file_of],
                workers=workers, progress=False):
            if def_tuples is not None:
                full = [Tag._make(t) for t in def_tuples] + (decode_blob(refs_blob) or [])
                full.sort(key=Tag.sort_key)
                out[rel] = full
        return out

    def load_refs(rels: list[str]) -> dict[str, list[Tag]]:
        return _parsed_or_cached(raw_refs, rels, lambda b: decode_blob(b) or [], cache.get_refs)

    def load_counts(rels: list[str]) -> dict[str, list[tuple]]:
        return _parsed_or_cached(raw_counts, rels, decode_raw, cache.get_ref_counts)

    def load_defs(rels: list[str]) -> dict[str, list[Tag]]:
        got = cache.get_many([(r, file_of[r].size, file_of[r].mtime_ns) for r in rels if r in file_of], refs=False)
        return {r: t for r, t in got.items() if t is not None}

    kept = [f.rel for f in files]
    table = TagTable({r: defs[r] for r in kept if r in defs}, tags, load_refs, reparse, load_counts,
                     order=kept, load_defs=load_defs)
    if warn is not None:
        for n in notes:
            warn(n)
    fresh = frozenset(parsed_rels) | frozenset(r[0] for r in touched)
    listing = disc.fingerprint or files_fingerprint(disc.files)
    idx = Index(root=root, files=tuple(files), tags=table, notes=notes, cache_hits=hits,
                parsed=len(parsed_rels), elapsed_s=time.perf_counter() - t0, listing=listing, fresh=fresh,
                discovery=disc)
    if not dropped:  # discovery's files, flags aside: the same (path, size, mtime) fingerprint
        idx.__dict__["fingerprint"] = listing
    return idx
