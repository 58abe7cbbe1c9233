"""The real ``ripmap-train`` in a subprocess, slowed down on purpose.

``[sys.executable, "-c", SLOW, DELAY, *argv]`` runs the CLI with every evaluation delayed
by DELAY seconds, so a kill lands in the middle of a search and two workers really overlap.
"""
from __future__ import annotations

SLOW = """\
import sys, time
import ripmap.train.evaluation.evaluator as e
_orig = e.Evaluator.evaluate
def _slow(self, *a, **k):
    time.sleep(float(sys.argv[1]))
    return _orig(self, *a, **k)
e.Evaluator.evaluate = _slow
from ripmap.train.cli import main
raise SystemExit(main(sys.argv[2:]))
"""
