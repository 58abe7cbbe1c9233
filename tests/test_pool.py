"""The parse pool's lifecycle: a stopped or killed ``ripmap`` leaves no worker behind.

Each test starts the real command on a generated repository large enough that the
pool is busy, stops the parent with one signal while the workers parse, and checks
through /proc (no psutil) that every worker is gone within 5 seconds.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")

FILES = 400
FUNCS_PER_FILE = 80
GRACE_S = 5.0


@pytest.fixture(scope="module")
def big_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Enough Python that parsing it keeps two workers busy for seconds."""
    root = tmp_path_factory.mktemp("pool") / "repo"
    root.mkdir()
    for i in range(FILES):
        body = "\n".join(f"def f{i}_{j}(x):\n    return f{i}_{(j + 1) % FUNCS_PER_FILE}(x) + {j}\n"
                         for j in range(FUNCS_PER_FILE))
        (root / f"m{i}.py").write_text(body, encoding="utf-8")
    return root


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first), or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()


def _alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")  # a zombie has stopped running


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _workers(parent: int) -> list[int]:
    """Children of ``parent`` that are forks of it (same command line), not git or other helpers."""
    want = _cmdline(parent)
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        st = _stat(int(d))
        if st is not None and int(st[1]) == parent and _cmdline(int(d)) == want:
            out.append(int(d))
    return out


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="ripmap parses in one process on a single core")
@pytest.mark.parametrize("sig,group", [(signal.SIGKILL, False), (signal.SIGTERM, False), (signal.SIGHUP, False),
                                       (signal.SIGINT, False), (signal.SIGINT, True)],
                         ids=["SIGKILL", "SIGTERM", "SIGHUP", "SIGINT", "Ctrl-C"])
def test_no_worker_outlives_a_stopped_ripmap(big_repo: Path, tmp_path: Path, sig: signal.Signals,
                                             group: bool) -> None:
    """``group``: the signal goes to the whole process group, workers included, as a
    terminal's Ctrl-C does; it must still end in one line, not a traceback per worker."""
    env = {**os.environ, "RIPMAP_CACHE_DIR": str(tmp_path / "cache"), "RIPMAP_TOKENIZER": "estimate"}
    err = tmp_path / "stderr.txt"
    workers: list[int] = []
    with open(err, "w") as err_fh:
        # stderr to a file, not a pipe: an orphaned worker would hold a pipe open forever
        # the signal's default disposition in ripmap, whatever the runner's (under `nohup`
        # SIGHUP is ignored, and ripmap rightly keeps ignoring it)
        proc = subprocess.Popen([sys.executable, "-m", "ripmap.cli", str(big_repo), "--no-git", "-t", "100"],
                                stdout=subprocess.DEVNULL, stderr=err_fh, env=env, start_new_session=group,
                                preexec_fn=None if sig == signal.SIGKILL
                                else lambda: signal.signal(sig, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        while len(workers) < 2 and proc.poll() is None and time.monotonic() < deadline:
            workers = _workers(proc.pid)
            time.sleep(0.02)
        assert workers, f"no parse workers appeared (exit {proc.poll()}): {err.read_text()}"
        time.sleep(0.3)  # let them get into the work
        assert proc.poll() is None, "ripmap finished before it could be stopped; make the repository bigger"
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        code = proc.wait(timeout=30)
        gone_by = time.monotonic() + GRACE_S
        while any(_alive(w) for w in workers) and time.monotonic() < gone_by:
            time.sleep(0.05)
        survivors = [w for w in workers if _alive(w)]
        assert survivors == [], f"{len(survivors)} of {len(workers)} workers outlived the parent by {GRACE_S}s"
        if sig == signal.SIGKILL:
            assert code == -signal.SIGKILL
        else:
            assert code == 128 + sig, err.read_text()
            lines = err.read_text().strip().splitlines()
            assert lines == [f"ripmap: stopped by {sig.name}"], lines
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for w in workers:  # never leave them behind, even when the test fails
            if _alive(w):
                try:
                    os.kill(w, signal.SIGKILL)
                except OSError:
                    pass


def test_worker_started_after_its_parent_died_exits() -> None:
    """The fork race: a worker whose parent is already gone (so no death signal will
    ever come) must notice at start-up and exit instead of waiting for work."""
    import multiprocessing as mp

    from ripmap.index import _die_with_parent

    ctx = mp.get_context("fork") if sys.platform.startswith("linux") else mp.get_context()
    stranger = ctx.Process(target=_die_with_parent, args=(os.getpid() + 10_000_000,))
    stranger.start()
    stranger.join(10)
    assert stranger.exitcode == 1
    own = ctx.Process(target=_die_with_parent, args=(os.getpid(),))
    own.start()
    own.join(10)
    assert own.exitcode == 0


@pytest.mark.parametrize("pdeathsig", [True, False], ids=["prctl", "watch-thread"])
def test_worker_exits_when_its_parent_dies(tmp_path: Path, pdeathsig: bool) -> None:
    """Both ways of noticing a dead parent: the kernel's signal and the polling thread
    (what platforms without PR_SET_PDEATHSIG use)."""
    script = f"""
import os, sys, time
from ripmap import index
if not {pdeathsig}:
    index._set_pdeathsig = lambda sig: False
pid = os.fork()
if pid == 0:
    index._die_with_parent(os.getppid())
    time.sleep(60)
    os._exit(0)
print(pid, flush=True)
time.sleep(0.5)  # the child is past its start-up check when the parent goes
os._exit(0)
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    child = int(out.stdout.strip())
    try:
        gone_by = time.monotonic() + GRACE_S
        while _alive(child) and time.monotonic() < gone_by:
            time.sleep(0.05)
        assert not _alive(child)
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)
