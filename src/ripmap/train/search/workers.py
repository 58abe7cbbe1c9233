"""Who evaluates a trial, and how the other workers tell that it died.

Every trial carries its worker's host, pid and a random token, and a heartbeat refreshed
from a side thread. A RUNNING trial whose worker is gone is failed by the others: at
once on the same host (the pid is gone, or is ours with another token), after
:data:`STALE_AFTER_S` of silence elsewhere, so a killed worker's trial neither counts nor
blocks the budget.
"""
from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

# How often a worker refreshes the heartbeat of the trial it is evaluating, and how old a
# heartbeat may get before other workers treat the trial as abandoned (its worker died on
# another machine). Generous, so clock skew or a slow evaluation never steals a live trial.
HEARTBEAT_S = 20.0
STALE_AFTER_S = 180.0
# A trial is created and then labelled with its owner (two storage writes): one still
# unlabelled this long after it started was orphaned by a kill between the two.
OWNERLESS_AFTER_S = 15.0


@dataclass(frozen=True)
class Worker:
    """Who evaluates a trial: stored on the trial so others can tell a dead owner."""

    host: str
    pid: int
    token: str

    @classmethod
    def current(cls) -> "Worker":
        return cls(socket.gethostname(), os.getpid(), uuid.uuid4().hex)

    def as_attr(self) -> dict:
        return {"host": self.host, "pid": self.pid, "token": self.token}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def is_abandoned(t: "FrozenTrial", me: Worker, now: float) -> bool:
    """Whether a RUNNING trial will never be finished by its owner.

    On the owner's own host this is exact: the owner's pid is gone (or it is our pid
    but not our token: a previous process that was killed and whose pid came back).
    Elsewhere only the heartbeat tells, after :data:`STALE_AFTER_S` of silence; a trial
    that never got an owner record is abandoned after :data:`OWNERLESS_AFTER_S`.
    """
    owner = t.user_attrs.get("owner")
    started = t.datetime_start.timestamp() if t.datetime_start else now
    if not isinstance(owner, dict):
        # A worker writes its owner record right after asking; a trial still without one
        # after a grace period lost its worker in between.
        return now - started > OWNERLESS_AFTER_S
    if owner.get("token") == me.token:
        return False
    if owner.get("host") == me.host:
        pid = int(owner.get("pid", -1))
        if pid == me.pid or not pid_alive(pid):
            return True
    beat = t.user_attrs.get("heartbeat")
    if not isinstance(beat, (int, float)):
        beat = started
    return now - float(beat) > STALE_AFTER_S


class Heartbeat:
    """Refreshes the ``heartbeat`` user attribute of a running trial from a side thread."""

    def __init__(self, trial: "optuna.Trial", interval: float = HEARTBEAT_S) -> None:
        self._trial = trial
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ripmap-heartbeat", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._trial.set_user_attr("heartbeat", time.time())
            except Exception:  # noqa: BLE001 - the trial was finished (e.g. failed as stale): stop beating
                return

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


__all__ = ["HEARTBEAT_S", "Heartbeat", "OWNERLESS_AFTER_S", "STALE_AFTER_S", "Worker", "is_abandoned", "pid_alive"]
