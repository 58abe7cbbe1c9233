"""A generated git repository with planted structure, for ranking and training tests.

Three modules whose files always change together (``auth``, ``billing``, ``search``),
plus decoys that every module imports and calls (``core/util.py``, ``core/log.py``) but
that never change together with anything. Ranking a module file should surface its
module mates; a structure-only ranker is pulled toward the decoys.

Only history reveals the modules: their files are spread over the directories ``x/``,
``y/`` and ``z/`` (each holding one file of every module) and share no words in their
names, so lexical evidence (path words, identifiers) points at the wrong mates.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

MODULES = {
    "auth": ["session", "token", "login"],
    "billing": ["invoice", "payment", "ledger"],
    "search": ["index", "query", "rank"],
}
DIRS = ("x", "y", "z")


def module_files(mod: str) -> list[str]:
    """The paths of one module's files (its k-th file lives in DIRS[k])."""
    return [f"{d}/{n}.py" for d, n in zip(DIRS, MODULES[mod])]


def module_of(path: str) -> str:
    return next(m for m in MODULES if path in module_files(m))
DECOYS = ["core/util.py", "core/log.py"]
T0 = 1_700_000_000


def git(root: Path, *args: str, when: int | None = None) -> None:
    env = dict(os.environ)
    if when is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"{when} +0000"
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main",
                    "-c", "commit.gpgsign=false", *args], cwd=root, check=True, capture_output=True, env=env)


def _module_file(mod: str, name: str, rev: int) -> str:
    lines = ["from core.util import helper, normalize", "from core.log import log", ""]
    lines.append(f"class {name.title()}Part:")
    lines.append(f"    def {name}_step(self, x):")
    lines.append(f"        log('{name}')")
    lines.append("        return helper(normalize(x))")
    lines.append("")
    lines.append(f"def {name}_entry(v):")
    lines.append(f"    return {name.title()}Part().{name}_step(v) + {rev}")
    return "\n".join(lines) + "\n"


def _decoy(path: str) -> str:
    if path.endswith("util.py"):
        return "def helper(x):\n    return x\n\n\ndef normalize(x):\n    return x\n"
    return "def log(msg):\n    print(msg)\n"


def make_planted_repo(root: Path, *, rounds: int = 6) -> Path:
    """Create the repository: an initial commit, then ``rounds`` commits per module
    that touch all of the module's files together (bug fixes and features)."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q")
    for d in DECOYS:
        (root / d).parent.mkdir(parents=True, exist_ok=True)
        (root / d).write_text(_decoy(d))
    for d in DIRS:
        (root / d).mkdir(exist_ok=True)
        (root / d / "__init__.py").write_text("")
    for mod, names in MODULES.items():
        for path, n in zip(module_files(mod), names):
            (root / path).write_text(_module_file(mod, n, 0))
    git(root, "add", "-A")
    git(root, "commit", "-qm", "initial import", when=T0)
    t = T0
    for r in range(1, rounds + 1):
        for mod, names in MODULES.items():
            t += 3600
            for path, n in zip(module_files(mod), names):
                (root / path).write_text(_module_file(mod, n, r))
            git(root, "add", "-A")
            verb = "fix" if r % 2 else "add"
            git(root, "commit", "-qm", f"{verb} {mod} handling round {r}", when=t)
    return root
