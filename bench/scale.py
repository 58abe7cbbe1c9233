"""Scale: the whole ``ripmap`` process on a tree of tens of thousands of files.

Assembles a tree of real source files from the checkouts under ``--sources`` (default
``/work/repos``): every mappable file of every repository, copied side by side as often
as needed (``<repo>-<copy>/...``), each copy of a file with one comment line of its own
appended, so every file's content is distinct and no content-keyed cache can skip work.
The tree becomes one git repository with one commit, outside any work tree of ripmap.

Then it runs ``ripmap ROOT -t TOKENS --stats`` as a fresh process per state and reports
wall time, CPU seconds (the process and its parse workers), the largest resident set of
any one process of the run, and the sampled peak of the proportional set size (PSS)
summed over the process tree (what the run really holds: forked workers share pages):

* ``cold``: the cache directory removed first;
* ``warm``: nothing changed since the last two runs: one unmeasured run precedes it (the
  second run over an unchanged tree is the one that keeps what ranking derives from the
  graph; the runs after it are what a user sees), so a warm run after ``cold``, or on a
  tree the last bench restored, is measured steady. The same question of the same tree:
  ripmap prints the map it kept from the run before;
* ``question``: the warm tree asked a question never asked before (a ``--focus`` of its
  own each time), after one unmeasured question (the first question after a change
  patches the stored word index once): ranked and drawn from the cached index, graph,
  word index and git signals;
* ``edit``: one file got a new function;
* ``add``: one new file;
* ``delete``: one file removed;
* ``commit``: the edits committed (HEAD moved by one commit).

The work tree is restored (``git reset --hard``, ``git clean``) afterwards and one
settling run brings the cache back to the committed tree.

    python bench/scale.py assemble /work/scale-tree --files 70000
    nice -n 10 python bench/scale.py run /work/scale-tree --cache /tmp/ripmap-cache-scale
    nice -n 10 python bench/scale.py run /work/scale-tree --states warm,edit,add,delete --rounds 3
    nice -n 10 python bench/scale.py curve /work/scale-curve --sizes 5000,20000,70000
    nice -n 10 python bench/scale.py server /work/scale-tree --cache /tmp/ripmap-cache-scale

Linux only (it reads ``/proc``).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

#: appended to each copied file as a comment in its own language: distinct content per copy
_COMMENT = {
    "#": ("python", "ruby", "bash", "elixir", "julia", "toml", "yaml", "r", "perl", "nix"),
    "//": ("c", "cpp", "java", "javascript", "typescript", "tsx", "go", "rust", "php", "kotlin", "dart",
           "c_sharp", "scala", "swift", "zig", "solidity", "groovy", "objc"),
    "--": ("haskell", "lua", "sql", "elm"),
}
_LEADER = {lang: lead for lead, langs in _COMMENT.items() for lang in langs}
_MARKER = "scale-tree.json"  # kept inside .git/: never mapped


@dataclass(frozen=True)
class Source:
    """One mappable file of a source checkout."""

    repo: str
    rel: str
    path: Path
    language: str
    size: int


def _sources(base: Path, max_size: int) -> list[Source]:
    """Every mappable file (by ripmap's own language table and size limit) of every git
    checkout under ``base``, in a fixed order."""
    from ripmap import languages

    out: list[Source] = []
    for repo in sorted(p for p in base.iterdir() if (p / ".git").exists()):
        listed = subprocess.run(["git", "-C", str(repo), "ls-files", "-z"], capture_output=True, check=True).stdout
        for raw in sorted(listed.split(b"\0")):
            if not raw:
                continue
            rel = os.fsdecode(raw)
            lang = languages.language_for_path(rel)
            if lang is None or (lang != "markdown" and lang not in _LEADER):
                continue
            p = repo / rel
            try:
                if p.is_symlink() or not p.is_file():
                    continue
                size = p.stat().st_size
            except OSError:
                continue
            if 0 < size <= max_size:
                out.append(Source(repo.name, rel, p, lang, size))
    return out


def _unique_line(src: Source, copy: int) -> bytes:
    text = f"scale-tree copy {copy} of {src.repo}/{src.rel}"
    if src.language == "markdown":
        return f"\n<!-- {text} -->\n".encode()
    return f"\n{_LEADER[src.language]} {text}\n".encode()


def _git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "GIT_AUTHOR_NAME": "scale", "GIT_AUTHOR_EMAIL": "scale@example.invalid",
           "GIT_COMMITTER_NAME": "scale", "GIT_COMMITTER_EMAIL": "scale@example.invalid",
           "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z"}
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=check, env=env)


def assemble(dest: Path, files: int, sources: Path) -> dict:
    """Build (or reuse, when the marker says it is the same) a tree of ``files`` files."""
    from ripmap.config import Config

    want = {"files": files, "sources": str(sources), "layout": 1}
    marker = dest / ".git" / _MARKER
    if marker.exists():
        have = json.loads(marker.read_text())
        if {k: have.get(k) for k in want} == want:
            return have
        raise SystemExit(f"{dest} holds another scale tree ({have}); remove it first")
    if dest.exists() and any(dest.iterdir()):
        raise SystemExit(f"{dest} exists and is not a scale tree; choose an empty directory")
    pool = _sources(sources, Config().max_file_size)
    if not pool:
        raise SystemExit(f"no mappable files under {sources}")
    dest.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    written = 0
    nbytes = 0
    copy = 0
    while written < files:
        for src in pool:
            if written >= files:
                break
            out = dest / f"{src.repo}-{copy}" / src.rel
            out.parent.mkdir(parents=True, exist_ok=True)
            data = src.path.read_bytes() + _unique_line(src, copy)
            out.write_bytes(data)
            nbytes += len(data)
            written += 1
        copy += 1
    _git(dest, "init", "-q", "-b", "main")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", f"scale tree: {files} files")
    info = {**want, "bytes": nbytes, "copies": copy, "source_files": len(pool),
            "assemble_s": round(time.perf_counter() - t, 1)}
    marker.write_text(json.dumps(info))
    return info


# ----------------------------------------------------------------------------- measuring

def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class _TreeSampler(threading.Thread):
    """Samples the PSS summed over a process and its descendants every ``period`` s."""

    def __init__(self, pid: int, period: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.period = pid, period
        self.peak_kb = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            pids, todo = [], [self.pid]
            while todo:
                p = todo.pop()
                pids.append(p)
                todo.extend(_children(p))
            self.peak_kb = max(self.peak_kb, sum(_pss_kb(p) for p in pids))
            self.stop.wait(self.period)


@dataclass(frozen=True)
class Run:
    state: str
    wall_s: float
    cpu_s: float
    max_rss_mb: float  # the largest resident set of any one process of the run
    peak_pss_mb: float  # sampled peak of the process tree's summed PSS
    parsed: int
    stats: str


def ripmap_once(root: Path, cache: Path, tokens: int, state: str, extra: list[str] | None = None) -> Run:
    """One fresh ``ripmap`` process; its wall time, CPU and memory."""
    env = {**os.environ, "RIPMAP_CACHE_DIR": str(cache)}
    args = [sys.executable, "-m", "ripmap.cli", str(root), "-t", str(tokens), "--stats", *(extra or [])]
    t = time.perf_counter()
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, stdin=subprocess.DEVNULL)
    sampler = _TreeSampler(p.pid)
    sampler.start()
    box: list[bytes] = []
    # read stderr on a thread so a chatty run cannot block; wait4 gives the tree's rusage
    reader = threading.Thread(target=lambda: box.append(p.stderr.read()), daemon=True)
    reader.start()
    _pid, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    p.returncode = os.waitstatus_to_exitcode(status)
    sampler.stop.set()
    sampler.join()
    reader.join()
    text = b"".join(box).decode(errors="replace")
    if p.returncode != 0:
        raise SystemExit(f"ripmap failed ({state}, exit {p.returncode}): {text[-2000:]}")
    m = re.search(r"parsed (\d+)", text)
    kept = "kept from an earlier run" in text  # the map printed before: nothing parsed
    line = next((ln for ln in text.splitlines() if ln.startswith("ripmap: ") and ("index " in ln or kept)),
                text.strip()[-300:])
    return Run(state, wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, sampler.peak_kb / 1024,
               int(m.group(1)) if m else 0 if kept else -1, line)


def _pick(root: Path, suffix: str) -> Path:
    """A deterministic tracked file with this suffix to edit or delete."""
    listed = _git(root, "ls-files", "-z", f"*{suffix}").stdout.split(b"\0")
    paths = sorted(os.fsdecode(x) for x in listed if x)
    if not paths:
        raise SystemExit(f"no *{suffix} file in {root}")
    return root / paths[len(paths) // 2]


def _restore(root: Path) -> None:
    _git(root, "reset", "-q", "--hard", "refs/scale/base")
    _git(root, "clean", "-q", "-fd")


def run_states(root: Path, cache: Path, tokens: int, states: list[str], log=print) -> list[Run]:
    """The states in order (see the module docs); the tree is restored afterwards."""
    base = _git(root, "rev-parse", "HEAD").stdout.decode().strip()
    if _git(root, "rev-parse", "-q", "--verify", "refs/scale/base", check=False).returncode != 0:
        _git(root, "update-ref", "refs/scale/base", base)
    _restore(root)
    out: list[Run] = []
    edited = _pick(root, ".py")
    doomed = _pick(root, ".go")
    try:
        for state in states:
            if state == "cold":
                shutil.rmtree(cache, ignore_errors=True)
            elif state == "edit":
                with open(edited, "a") as fh:
                    fh.write("\n\ndef scale_bench_edited_function(value):\n    return value\n")
            elif state == "add":
                (edited.parent / "scale_bench_added.py").write_text(
                    "class ScaleBenchAdded:\n    def added_method(self):\n        return scale_bench_edited_function(1)\n")
            elif state == "delete":
                doomed.unlink()
            elif state == "commit":
                _git(root, "add", "-A")
                _git(root, "commit", "-q", "-m", "scale bench: one edit, one new file, one deletion")
            elif state == "warm":
                ripmap_once(root, cache, tokens, "settle")  # see the module docs
            elif state != "question":
                raise SystemExit(f"unknown state {state!r}")

            def ask() -> list[str]:
                return ["--focus", f"scale bench question {time.time_ns()} parse config"]

            extra = ask() if state == "question" else None
            if state == "question":
                ripmap_once(root, cache, tokens, "settle", ask())  # see the module docs
            r = ripmap_once(root, cache, tokens, state, extra)
            log(f"{state}: {r.wall_s:.2f}s wall, {r.cpu_s:.1f} CPU-s, {r.max_rss_mb:.0f} MB max RSS, "
                f"{r.peak_pss_mb:.0f} MB peak PSS, parsed {r.parsed}\n  {r.stats}")
            out.append(r)
    finally:
        if any(s in states for s in ("edit", "add", "delete", "commit")):
            _restore(root)
            r = ripmap_once(root, cache, tokens, "settle")
            log(f"(settled after restoring the tree: {r.wall_s:.2f}s, parsed {r.parsed})")
    return out


def server_calls(root: Path, cache: Path, tokens: int, log=print, *, pause: float = 0.0,
                 watch_every: float | None = None) -> list[tuple[str, float, float]]:
    """What an agent's MCP session costs: ``repo_map`` calls on one warm server process
    (the MCP tools over a :class:`~ripmap.api.RepoMapPool` made as ``ripmap-mcp`` makes
    it), before and after an edit. ``pause``: seconds between one call's answer (or the
    edit) and the next call, the agent's own turn (not counted); ``watch_every``: the
    pool's background checks (None: the MCP server's default, 0: none)."""
    from ripmap.api import WATCH_EVERY_S, RepoMapPool
    from ripmap.mcp_server import Tools

    if _git(root, "rev-parse", "-q", "--verify", "refs/scale/base", check=False).returncode != 0:
        _git(root, "update-ref", "refs/scale/base", _git(root, "rev-parse", "HEAD").stdout.decode().strip())
    _restore(root)
    edited = _pick(root, ".py")
    chat = edited.relative_to(root).as_posix()
    pool = RepoMapPool(2, cache_dir=cache, watch_every=WATCH_EVERY_S if watch_every is None else watch_every)
    tools = Tools(pool)
    out: list[tuple[str, float, float]] = []

    def call(label: str, **kw) -> None:
        if out and pause > 0:
            time.sleep(pause)
        t, c = time.perf_counter(), time.process_time()
        text = tools.repo_map(str(root), tokens=tokens, **kw)
        out.append((label, time.perf_counter() - t, time.process_time() - c))
        log(f"{label}: {out[-1][1]:.2f}s wall, {out[-1][2]:.2f} CPU-s ({len(text)} chars)")

    try:
        call("first call (process start, warm disk cache)")
        call("same call again")
        call("another focus", focus="parse the configuration file")
        call("a chat file", chat_files=[chat])
        call("same chat file again", chat_files=[chat])
        with open(edited, "a") as fh:
            fh.write("\n\ndef scale_bench_server_edit(value):\n    return value\n")
        call("after editing the chat file", chat_files=[chat])
        call("after the edit, a focus", focus="scale_bench_server_edit value")
        call("again, nothing changed", focus="scale_bench_server_edit value")
    finally:
        pool.close()
        _restore(root)
    return out


def _tree_mb(root: Path) -> float:
    marker = root / ".git" / _MARKER
    return json.loads(marker.read_text())["bytes"] / 1e6 if marker.exists() else float("nan")


def table(root: Path, rounds: list[list[Run]]) -> str:
    """Per state: wall and CPU seconds (over several rounds, the median with its range),
    CPU-s per MB, the largest memory figures, the files parsed."""
    import statistics

    def cell(values: list[float], fmt: str) -> str:
        one = format(statistics.median(values), fmt)
        return one if len(values) == 1 else f"{one} [{format(min(values), fmt)}–{format(max(values), fmt)}]"

    mb = _tree_mb(root)
    lines = ["| state | wall s | CPU s | CPU-s / MB | max RSS MB | peak PSS (tree) MB | files parsed |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for i, first in enumerate(rounds[0]):
        runs = [r[i] for r in rounds]
        wall, cpu = [r.wall_s for r in runs], [r.cpu_s for r in runs]
        lines.append(f"| {first.state} | {cell(wall, '.2f')} | {cell(cpu, '.1f')} | "
                     f"{statistics.median(cpu) / mb:.3f} | {max(r.max_rss_mb for r in runs):.0f} | "
                     f"{max(r.peak_pss_mb for r in runs):.0f} | {first.parsed} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("assemble", help="build a scale tree (a git repository of N distinct source files)")
    a.add_argument("dest", type=Path)
    a.add_argument("--files", type=int, default=70_000)
    a.add_argument("--sources", type=Path, default=Path("/work/repos"))
    r = sub.add_parser("run", help="measure ripmap on a scale tree")
    r.add_argument("root", type=Path)
    r.add_argument("--cache", type=Path, default=Path("/tmp/ripmap-cache-scale"))
    r.add_argument("--tokens", type=int, default=4096)
    r.add_argument("--states", default="cold,warm,question,edit,add,delete,commit")
    r.add_argument("--rounds", type=int, default=1,
                   help="run the states this many times (the tree restored between rounds) and report each "
                        "state's median wall and CPU time with their range: this machine's speed drifts")
    v = sub.add_parser("server", help="repo_map calls on one warm MCP server (in process), before and after an edit")
    v.add_argument("root", type=Path)
    v.add_argument("--cache", type=Path, default=Path("/tmp/ripmap-cache-scale"))
    v.add_argument("--tokens", type=int, default=4096)
    v.add_argument("--pause", type=float, default=0.0,
                   help="seconds between calls (the agent's own turn; not counted; default 0)")
    v.add_argument("--watch-every", type=float, default=None,
                   help="the pool's background checks in seconds (default: the MCP server's; 0: none)")
    c = sub.add_parser("curve", help="cold and warm runs on trees of several sizes (CPU-s per MB)")
    c.add_argument("work", type=Path, help="directory holding one tree per size (built when missing)")
    c.add_argument("--sizes", default="5000,20000,70000")
    c.add_argument("--sources", type=Path, default=Path("/work/repos"))
    c.add_argument("--cache", type=Path, default=Path("/tmp/ripmap-cache-scale-curve"))
    c.add_argument("--tokens", type=int, default=4096)
    c.add_argument("--states", default="cold,warm,edit")
    args = ap.parse_args()
    if args.cmd in ("run", "server") and _git(args.root, "rev-parse", "--is-inside-work-tree",
                                                check=False).returncode != 0:
        raise SystemExit(f"scale.py: {args.root}: not a git work tree (build one with `scale.py assemble`)")
    if args.cmd == "assemble":
        print(json.dumps(assemble(args.dest.resolve(), args.files, args.sources)))
    elif args.cmd == "server":
        calls = server_calls(args.root.resolve(), args.cache, args.tokens, pause=args.pause,
                             watch_every=args.watch_every)
        print(f"\npause between calls {args.pause:g} s; background checks "
              f"{'default' if args.watch_every is None else f'every {args.watch_every:g} s'}")
        print("\n| call | wall s | CPU s |\n| --- | ---: | ---: |")
        for label, wall, cpu in calls:
            print(f"| {label} | {wall:.2f} | {cpu:.2f} |")
    elif args.cmd == "run":
        rounds = [run_states(args.root.resolve(), args.cache, args.tokens, args.states.split(","))
                  for _ in range(max(1, args.rounds))]
        print(f"\n{args.root}: {_tree_mb(args.root):.1f} MB, budget {args.tokens}"
              + (f", {len(rounds)} rounds (median, [min–max])" if len(rounds) > 1 else "") + "\n")
        print(table(args.root, rounds))
    else:
        rows = ["| files | MB | state | wall s | CPU s | CPU-s / MB | max RSS MB | peak PSS (tree) MB |",
                "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
        for n in (int(s) for s in args.sizes.split(",")):
            root = args.work / f"tree-{n}"
            info = assemble(root.resolve(), n, args.sources)
            mb = info["bytes"] / 1e6
            for run in run_states(root.resolve(), args.cache / str(n), args.tokens, args.states.split(",")):
                rows.append(f"| {n} | {mb:.1f} | {run.state} | {run.wall_s:.2f} | {run.cpu_s:.1f} | "
                            f"{run.cpu_s / mb:.3f} | {run.max_rss_mb:.0f} | {run.peak_pss_mb:.0f} |")
        print("\n".join(rows))


if __name__ == "__main__":
    main()
