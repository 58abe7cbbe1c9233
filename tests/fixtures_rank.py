"""Shared builders for the ranking tests: small source trees and git histories with
controlled commit dates (so ages and churn are known exactly)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

T0 = 1_700_000_000  # an arbitrary fixed epoch for planted commits
DAY = 86_400

_LOCATING = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_PREFIX",
             "GIT_OBJECT_DIRECTORY", "GIT_NAMESPACE")


def git_env(when: float | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _LOCATING}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", LC_ALL="C")
    if when is not None:
        stamp = f"@{int(when)} +0000"
        env.update(GIT_AUTHOR_DATE=stamp, GIT_COMMITTER_DATE=stamp)
    return env


def isolate_git(monkeypatch, ceiling: Path) -> None:
    """Keep the user's git config, the git variables a hook may set and any repository
    above ``ceiling`` out of a test."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(ceiling))
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        monkeypatch.delenv(var, raising=False)


def git(cwd: Path, *args: str, when: float | None = None) -> str:
    r = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main",
         "-c", "commit.gpgsign=false", *args],
        cwd=cwd, env=git_env(when), capture_output=True, text=True, check=True,
    )
    return r.stdout.strip()


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def commit(root: Path, day: float, paths: list[str], msg: str | None = None) -> None:
    """Append a line to each path (creating it if needed) and commit at T0 + day days."""
    for rel in paths:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        with p.open("a") as fh:
            fh.write(f"# touched on day {day}\n")
    git(root, "add", "--", *paths)
    git(root, "commit", "-q", "-m", msg or f"day {day}", when=T0 + day * DAY)


def init_repo(root: Path, files: dict[str, str], day: float = 0) -> Path:
    """A git repository whose first commit (at T0 + day) adds ``files``."""
    write_tree(root, files)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial", when=T0 + day * DAY)
    return root


# ----------------------------------------------------------------------------------
# The rich repository: one tree in which every ranking parameter has something to act
# on. Layout (depth = number of '/'):
#
#   app.py, top.py, fresh.py, churny.py, pair_a.py, pair_b.py     depth 0
#   core/{utils,models,consts,private_mod}.py, plugins/p1..p5.py   depth 1
#   auth/{token,session,login}.py, api/{client,handlers,routes}.py depth 1
#   loaders/{json,yaml}_loader.py, io/{reader,importer,parser}.py  depth 1
#   vendor/lib/vendored.py (kept by ripmap.toml exclude = [])      vendor
#   d1/mod1.py ... d1/d2/d3/d4/d5/d6/d7/mod7.py                    depth 1..7
#   gen/schema_gen.py (generated header), testdata/inputs.py,      file classes
#   typings/extlib.pyi, docs/guide.md, tests/test_app.py
#
# References: calls (compute, setup, ...), type annotations (Model, Record), imported
# names only (SETTING, OTHER_SETTING), private names (_internal), a name defined in
# five files (setup; app.py imports it from plugins.p1), a name defined twice and
# imported from one definer by three files (load), a hub (core/utils.py), and a focus
# chain token -> session -> client -> handlers -> routes. History: churny.py changes
# 21 times, core/utils.py 9, auth/session.py co-changes with pair_a.py (6 commits),
# pair_b.py (2), the io/ files and mod2 (one 5-file commit, day 29) and auth/login.py
# (one recent commit, day 90), and the last commits touch top.py, mod1, app.py, mod3,
# fresh.py. tests/test_app.py is app.py's test (test pairing).
# ----------------------------------------------------------------------------------

RICH_FILES: dict[str, str] = {
    "ripmap.toml": "exclude = []\n",
    "app.py": (
        "from core.utils import compute\n"
        "from core.models import Model, Record\n"
        "from core.consts import SETTING\n"
        "from plugins.p1 import setup\n"
        "from vendor.lib.vendored import vendored_util\n"
        "from auth.session import start_session\n"
        "\n\n"
        "def main(r: Record) -> Model:\n"
        "    setup()\n"
        "    compute()\n"
        "    vendored_util()\n"
        "    start_session()\n"
        "    _internal()\n"
        "    mod3_func()\n"
        "    mod5_func()\n"
        "    mod7_func()\n"
        "    return Model()\n"
    ),
    "top.py": (
        "from core.utils import compute\n"
        "\n\n"
        "def top_func(r: Record) -> Record:\n"
        "    compute()\n"
        "    setup()\n"
        "    _internal()\n"
        "    public_api()\n"
        "    vendored_util()\n"
        "    return r\n"
    ),
    "fresh.py": "def fresh_fn(m: Model):\n    return compute()\n",
    "churny.py": "def churny_fn():\n    compute()\n    vendored_util()\n",
    "pair_a.py": "def pair_a_fn():\n    return compute()\n",
    "pair_b.py": "def pair_b_fn(r: Record):\n    return r\n",
    "core/utils.py": (
        "class UtilityBox:\n"
        "    pass\n"
        "\n\n"
        "def compute():\n"
        "    return 1\n"
    ),
    "core/models.py": "class Model:\n    pass\n\n\nclass Record:\n    pass\n",
    "core/consts.py": "SETTING = 1\nOTHER_SETTING = 2\n",
    "core/private_mod.py": "def _internal():\n    return 1\n\n\ndef public_api():\n    return _internal()\n",
    "vendor/lib/vendored.py": "def vendored_util():\n    return 1\n",
    "auth/token.py": (
        "def refresh_token():\n"
        "    return 1\n"
        "\n\n"
        "class TokenRefresher:\n"
        "    pass\n"
    ),
    "auth/session.py": "def start_session():\n    return refresh_token()\n",
    "auth/login.py": "def login_form():\n    return 0\n",
    "api/client.py": "class ApiClient:\n    def connect(self):\n        return start_session()\n",
    "api/handlers.py": "def handle_request():\n    return ApiClient()\n",
    "api/routes.py": "def route():\n    return handle_request()\n",
    "d1/mod1.py": "def mod1_func(m: Model):\n    top_func()\n    compute()\n    vendored_util()\n",
    "d1/d2/mod2.py": (
        "from core.consts import SETTING, OTHER_SETTING\n"
        "\n\n"
        "def mod2_func():\n"
        "    mod1_func()\n"
        "    setup()\n"
        "    compute()\n"
    ),
    "d1/d2/d3/mod3.py": "def mod3_func(r: Record):\n    mod2_func()\n    compute()\n",
    "d1/d2/d3/d4/mod4.py": "def mod4_func():\n    mod3_func()\n    vendored_util()\n",
    "d1/d2/d3/d4/d5/mod5.py": "def mod5_func():\n    mod4_func()\n    compute()\n",
    "d1/d2/d3/d4/d5/d6/mod6.py": "def mod6_func():\n    mod5_func()\n    _internal()\n",
    "d1/d2/d3/d4/d5/d6/d7/mod7.py": "def mod7_func(m: Model):\n    mod6_func()\n",
}
for _i in range(1, 6):
    RICH_FILES[f"plugins/p{_i}.py"] = "def setup():\n    return 0\n"
# ``load`` is defined twice; three files import it from the json loader, so how much
# of their reference the yaml loader still gets is set by import_resolution_bias.
RICH_FILES["loaders/json_loader.py"] = "def load(text):\n    return text\n"
RICH_FILES["loaders/yaml_loader.py"] = "def load(text):\n    return text\n"
for _name in ("reader", "importer", "parser"):
    RICH_FILES[f"io/{_name}.py"] = (
        "from loaders.json_loader import load\n"
        "\n\n"
        f"def {_name}_fn(text):\n"
        "    return load(text)\n"
    )

# One file per file class (see ripmap.fileclass), each defining names nobody else uses,
# so the class weights move them without changing the reference graph of the rest.
RICH_FILES["gen/schema_gen.py"] = (
    "# Code generated by schemagen from schema.yaml. DO NOT EDIT.\n"
    "def schema_fields():\n    return ()\n"
)
RICH_FILES["testdata/inputs.py"] = "def sample_input():\n    return 1\n"
RICH_FILES["typings/extlib.pyi"] = "def ext_call() -> int: ...\n"
RICH_FILES["docs/guide.md"] = "# Guide\n\n## Getting started\n\nRun the app.\n"
RICH_FILES["tests/test_app.py"] = "def test_entry_point():\n    assert True\n"

# (day, files) after the initial commit at day 0 (which touches > 30 files, so it is
# left out of co-change). The newest commit is on day 100.
RICH_HISTORY: list[tuple[float, list[str]]] = (
    [(d, ["churny.py"]) for d in range(1, 21)]
    + [(d, ["core/utils.py"]) for d in range(2, 18, 2)]
    + [(d, ["auth/session.py", "pair_a.py"]) for d in range(21, 27)]
    + [(27, ["auth/session.py", "pair_b.py"]), (28, ["auth/session.py", "pair_b.py"])]
    # a large commit (5 files) and a recent one: commit size and age as co-change evidence
    + [(29, ["auth/session.py", "io/reader.py", "io/importer.py", "io/parser.py", "d1/d2/mod2.py"]),
       (90, ["auth/session.py", "auth/login.py"])]
    # session.py's newest commit (its two newest: the work in progress) is with pair_b.py
    + [(92, ["auth/session.py", "pair_b.py"])]
    + [(50, ["top.py"]), (70, ["d1/mod1.py"]), (85, ["app.py"]), (95, ["d1/d2/d3/mod3.py"]),
       (100, ["fresh.py"])]
)


def make_rich_repo(root: Path) -> Path:
    init_repo(root, RICH_FILES)
    for day, paths in sorted(RICH_HISTORY, key=lambda x: x[0]):
        commit(root, day, paths)
    return root
