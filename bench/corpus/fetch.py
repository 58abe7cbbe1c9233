"""Clone the repositories of corpus files into $RIPMAP_CORPUS at their pinned commits.

    RIPMAP_CORPUS=~/ripmap-corpus python bench/corpus/fetch.py bench/corpus/fit.toml bench/corpus/eval.toml
"""
from __future__ import annotations

import os
import subprocess
import sys

from ripmap.train.cases.corpus import load_corpus


def main(argv: list[str]) -> int:
    if not os.environ.get("RIPMAP_CORPUS"):
        print("fetch.py: set RIPMAP_CORPUS to the folder that should hold the checkouts", file=sys.stderr)
        return 2
    for path in argv or ["bench/corpus/fit.toml", "bench/corpus/eval.toml"]:
        for spec in load_corpus(path):
            dest = spec.path
            if dest is None or spec.url is None:
                continue
            if not (dest / ".git").exists():
                print(f"cloning {spec.url} → {dest}", file=sys.stderr)
                subprocess.run(["git", "clone", "--quiet", spec.url, str(dest)], check=True)
            if spec.commit:
                subprocess.run(["git", "-C", str(dest), "checkout", "--quiet", "--detach", spec.commit], check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
