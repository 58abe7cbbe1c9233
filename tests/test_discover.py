"""Discovery and config loading against real files and real git repositories."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ripmap.config import Config, load_config
from ripmap.discover import VENDOR_DIRS, Discovery, SourceFile, discover, is_vendor_path
from ripmap.errors import ConfigError, RipmapError

from fixtures_rank import isolate_git

HAS_GIT = shutil.which("git") is not None
needs_git = pytest.mark.skipif(not HAS_GIT, reason="git is not installed")
needs_symlinks = pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture(autouse=True)
def _isolate_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep git from finding a repository above tmp_path or reading user config."""
    isolate_git(monkeypatch, tmp_path.parent)


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main", *args],
        cwd=cwd, check=True, capture_output=True,
    )


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q")
    return path


def commit_all(repo: Path) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "c")


def write(root: Path, rel: str, text: str | bytes = "x = 1\n") -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


def rels(d: Discovery) -> list[str]:
    return [f.rel for f in d.files]


def run_with_deadline(fn, seconds: float = 20.0):
    """Call fn in a thread; fail (instead of hanging the suite) if it never returns."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # re-raised in the test thread
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "discover() did not return (hang)"
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]


@pytest.fixture(params=["git", "walk"])
def mode_root(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A root that is a git repo or a plain directory, to run a test both ways."""
    root = tmp_path / "proj"
    if request.param == "git":
        if not HAS_GIT:
            pytest.skip("git is not installed")
        make_repo(root)
    else:
        root.mkdir()
    return root


# -- git mode -----------------------------------------------------------------


@needs_git
def test_git_mode_lists_tracked_and_untracked_but_not_ignored(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    write(repo, ".gitignore", "*.log\nsecret/\n")
    write(repo, "src/tracked.py")
    commit_all(repo)
    write(repo, "src/untracked.py")
    write(repo, "debug.log", "noise\n")
    write(repo, "secret/key.py")

    d = discover(repo)

    assert d.in_git is True
    assert rels(d) == [".gitignore", "src/tracked.py", "src/untracked.py"]
    f = d.files[1]
    assert f.path == repo.resolve() / "src" / "tracked.py"
    assert f.path.is_absolute()
    assert f.size == len("x = 1\n")
    assert f.mtime_ns == os.lstat(f.path).st_mtime_ns
    assert f.language is None


@needs_git
def test_git_mode_honours_info_exclude(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "exclude").write_text("scratch.py\n")
    write(repo, "scratch.py")
    write(repo, "main.py")
    assert rels(discover(repo)) == ["main.py"]


@needs_git
def test_git_mode_unusual_file_names_round_trip(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    names = ["naïve file.py", "tab\there.py", 'quote"d.py', "ünï/cödé.py"]
    for n in names:
        write(repo, n)
    commit_all(repo)
    d = discover(repo)
    assert rels(d) == sorted(names)
    assert all(f.path.exists() for f in d.files)


@needs_git
def test_tracked_file_deleted_from_disk_is_skipped(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    write(repo, "keep.py")
    write(repo, "gone.py")
    commit_all(repo)
    (repo / "gone.py").unlink()  # still in the index, so ls-files --cached lists it

    d = discover(repo)

    assert rels(d) == ["keep.py"]
    assert d.notes == ()  # a normal work-tree state, not worth a note


@needs_git
def test_subdirectory_root_lists_only_its_subtree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    write(repo, ".gitignore", "*.tmp\n")
    write(repo, "top.py")
    write(repo, "pkg/a.py")
    write(repo, "pkg/inner/b.py")
    write(repo, "pkg/junk.tmp")  # ignored by the repo-root .gitignore
    write(repo, "pkgx/c.py")  # shares a prefix, must not leak in
    commit_all(repo)
    write(repo, "pkg/new.py")  # untracked, inside the subtree

    d = discover(repo / "pkg")

    assert d.in_git is True
    assert rels(d) == ["a.py", "inner/b.py", "new.py"]
    assert d.files[0].path == (repo / "pkg" / "a.py").resolve()


@needs_git
def test_root_inside_ignored_directory_falls_back_to_walk(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    write(repo, ".gitignore", "checkout/\n")
    write(repo, "checkout/lib.py")
    d = discover(repo / "checkout")
    assert rels(d) == ["lib.py"]
    assert d.in_git is False
    assert any("walked the tree" in n for n in d.notes)


@needs_git
def test_git_env_from_hooks_does_not_redirect_discovery(tmp_path: Path, monkeypatch) -> None:
    other = make_repo(tmp_path / "other")
    write(other, "wrong.py")
    commit_all(other)
    repo = make_repo(tmp_path / "r")
    write(repo, ".gitignore", "wrong.py\n")
    write(repo, "wrong.py")  # tracked in `other`, ignored here
    write(repo, "right.py")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    assert rels(discover(repo)) == [".gitignore", "right.py"]


@needs_git
def test_without_git_on_path_a_repo_is_walked(tmp_path: Path, monkeypatch) -> None:
    repo = make_repo(tmp_path / "r")
    write(repo, ".gitignore", "out/\n")
    write(repo, "a.py")
    write(repo, "out/gen.py")
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin-here"))
    d = discover(repo)
    assert d.in_git is False
    assert rels(d) == [".gitignore", "a.py"]  # .git/ itself is never listed


# -- walk mode ----------------------------------------------------------------


def test_walk_honours_root_and_nested_gitignore(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    write(root, ".gitignore", "*.log\n/local.py\ncache/\n")
    write(root, "local.py")  # anchored pattern: ignored only at the top
    write(root, "app.log", "x\n")
    write(root, "cache/c.py")
    write(root, "sub/.gitignore", "!keep.log\n/local.py\ngenerated_*.py\n")
    write(root, "sub/local.py")
    write(root, "sub/keep.log", "x\n")
    write(root, "sub/drop.log", "x\n")
    write(root, "sub/generated_a.py")
    write(root, "sub/deeper/local.py")  # '/local.py' in sub/ is anchored to sub/
    write(root, "sub/deeper/generated_b.py")  # unanchored: applies to the subtree
    write(root, "other/generated_c.py")  # sub/.gitignore does not reach here

    d = discover(root)

    assert d.in_git is False
    assert rels(d) == [
        ".gitignore",
        "other/generated_c.py",
        "sub/.gitignore",
        "sub/deeper/local.py",
        "sub/keep.log",
    ]


def test_walk_cannot_reinclude_inside_ignored_directory(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    write(root, ".gitignore", "data/\n!data/keep.py\n")
    write(root, "data/keep.py")
    write(root, "main.py")
    assert rels(discover(root)) == [".gitignore", "main.py"]  # same as git


def test_walk_skips_fifo_without_blocking(tmp_path: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    root = tmp_path / "plain"
    write(root, "a.py")
    os.mkfifo(root / "pipe")
    d = run_with_deadline(lambda: discover(root))
    assert rels(d) == ["a.py"]
    assert d.notes == ("skipped pipe: not a regular file",)


# -- default excludes ---------------------------------------------------------


def test_default_excludes_are_by_path_component(mode_root: Path) -> None:
    kept = ["targeting.rs", "src/vendored_utils.py", "src/builder.py", "docs/distance.md",
            "src/build", "app.js", "src/map.py"]
    dropped = ["vendor/x.go", "a/vendor/b.go", "node_modules/pkg/index.js",
               "web/node_modules/x.js", "dist/bundle.js", "third_party/lib.c",
               "static/app.min.js", "static/site.min.css", "static/app.js.map",
               "Cargo.lock", "web/package-lock.json", "go.sum", "src/__pycache__/m.py"]
    for rel in kept + dropped:
        write(mode_root, rel)

    assert rels(discover(mode_root)) == sorted(kept)


def test_is_vendor_path_examples() -> None:
    assert is_vendor_path("a/vendor/b.go")
    assert is_vendor_path("vendor/x.go")
    assert is_vendor_path("node_modules/")
    assert is_vendor_path("pkg/site-packages/m.py")
    assert not is_vendor_path("targeting.rs")
    assert not is_vendor_path("src/vendored_utils.py")
    assert not is_vendor_path("src/build")  # a file named like a vendor dir
    assert not is_vendor_path("myvendor/x.go")


_component = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_.-", min_size=1, max_size=12).filter(
    lambda s: s not in VENDOR_DIRS and s not in (".", ".."))


@given(st.lists(_component, min_size=1, max_size=6), st.sampled_from(sorted(VENDOR_DIRS)), st.data())
def test_is_vendor_path_is_component_based(parts: list[str], vendor: str, data) -> None:
    assert not is_vendor_path("/".join(parts))
    # a vendor name glued into a component is still not a vendor dir
    glued = [*parts[:-1], vendor + parts[-1]]
    assert not is_vendor_path("/".join([*glued, "f.py"]))
    # as a real directory component anywhere, it is
    i = data.draw(st.integers(0, len(parts) - 1))
    assert is_vendor_path("/".join([*parts[:i], vendor, *parts[i:]]))


# -- configuration --------------------------------------------------------------


def _tree_for_config(root: Path) -> None:
    for rel in ["src/a.py", "src/b.py", "docs/d.py", "vendor/v.go", "tests/t.py"]:
        write(root, rel)


def test_ripmap_toml_include(mode_root: Path) -> None:
    _tree_for_config(mode_root)
    write(mode_root, "ripmap.toml", 'include = ["src/**", "vendor/**"]\n')
    cfg = load_config(mode_root)
    assert cfg.include == ("src/**", "vendor/**")
    assert cfg.source == "ripmap.toml"
    # include filters, default excludes still apply afterwards
    assert rels(discover(mode_root, cfg)) == ["src/a.py", "src/b.py"]


def test_ripmap_toml_exclude_replaces_defaults(mode_root: Path) -> None:
    _tree_for_config(mode_root)
    write(mode_root, "ripmap.toml", 'exclude = ["docs/", "ripmap.toml"]\n')
    d = discover(mode_root, load_config(mode_root))
    assert rels(d) == ["src/a.py", "src/b.py", "tests/t.py", "vendor/v.go"]


def test_ripmap_toml_empty_exclude_keeps_vendor(mode_root: Path) -> None:
    _tree_for_config(mode_root)
    write(mode_root, "ripmap.toml", "exclude = []\n")
    assert "vendor/v.go" in rels(discover(mode_root, load_config(mode_root)))


def test_ripmap_toml_extend_exclude_adds_to_defaults(mode_root: Path) -> None:
    _tree_for_config(mode_root)
    write(mode_root, "ripmap.toml", 'extend-exclude = ["tests/", "*.toml"]\nmax-file-size = 5000\n')
    cfg = load_config(mode_root)
    assert cfg == Config(extend_exclude=("tests/", "*.toml"), max_file_size=5000, source="ripmap.toml")
    assert rels(discover(mode_root, cfg)) == ["docs/d.py", "src/a.py", "src/b.py"]


def test_pyproject_tool_ripmap_section(tmp_path: Path) -> None:
    root = tmp_path / "p"
    _tree_for_config(root)
    write(root, "pyproject.toml", '[project]\nname = "x"\n\n[tool.ripmap]\ninclude = ["src/**"]\n')
    cfg = load_config(root)
    assert cfg.include == ("src/**",)
    assert cfg.source == "pyproject.toml"
    assert rels(discover(root, cfg)) == ["src/a.py", "src/b.py"]


def test_pyproject_without_section_gives_defaults(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", '[project]\nname = "x"\n')
    assert load_config(tmp_path) == Config()


def test_ripmap_toml_wins_over_pyproject(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", '[tool.ripmap]\ninclude = ["from-pyproject/**"]\n')
    write(tmp_path, "ripmap.toml", 'include = ["from-ripmap/**"]\n')
    assert load_config(tmp_path).include == ("from-ripmap/**",)


def test_config_above_root_is_not_read(tmp_path: Path) -> None:
    write(tmp_path, "ripmap.toml", 'include = ["nothing/**"]\n')
    write(tmp_path, "pyproject.toml", '[tool.ripmap]\ninclude = ["nothing/**"]\n')
    child = tmp_path / "child"
    write(child, "a.py")
    cfg = load_config(child)
    assert cfg == Config()
    assert cfg.source is None
    assert rels(discover(child, cfg)) == ["a.py"]


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ('exclude = "vendor"\n', ["ripmap.toml", "'exclude'", "list of strings"]),
        ("include = [1, 2]\n", ["ripmap.toml", "'include'"]),
        ('extend-exclude = {a = 1}\n', ["ripmap.toml", "'extend-exclude'"]),
        ('max-file-size = "big"\n', ["ripmap.toml", "'max-file-size'"]),
        ("max-file-size = 0\n", ["ripmap.toml", "'max-file-size'"]),
        ("max-file-size = true\n", ["ripmap.toml", "'max-file-size'"]),
        ('extend_exclude = ["x"]\n', ["ripmap.toml", "'extend_exclude'", "'extend-exclude'"]),
        ('colour = "red"\n', ["ripmap.toml", "unknown key", "'colour'"]),
        ("include = [\n", ["ripmap.toml", "invalid TOML"]),
    ],
)
def test_bad_ripmap_toml_raises_config_error_naming_key(tmp_path: Path, text: str, needles: list[str]) -> None:
    write(tmp_path, "ripmap.toml", text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    msg = str(info.value)
    assert "\n" not in msg
    for needle in needles:
        assert needle in msg


def test_bad_pyproject_section_names_file_and_key(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", "[tool.ripmap]\nexclude = 3\n")
    with pytest.raises(ConfigError, match=r"pyproject\.toml \[tool\.ripmap\]: 'exclude'"):
        load_config(tmp_path)
    write(tmp_path, "pyproject.toml", "[tool]\nripmap = 3\n")
    with pytest.raises(ConfigError, match=r"pyproject\.toml: 'tool\.ripmap' must be a table"):
        load_config(tmp_path)


def test_config_error_is_a_usage_error(tmp_path: Path) -> None:
    write(tmp_path, "ripmap.toml", "nope = 1\n")
    with pytest.raises(RipmapError) as info:
        load_config(tmp_path)
    assert info.value.exit_code == 2


def test_config_accepts_lists_and_validates() -> None:
    cfg = Config(include=["a/**"], exclude=[], extend_exclude=["b"])  # type: ignore[arg-type]
    assert cfg.include == ("a/**",) and cfg.exclude == () and cfg.extend_exclude == ("b",)
    hash(cfg)
    with pytest.raises(ConfigError, match="max_file_size"):
        Config(max_file_size=-1)
    with pytest.raises(ConfigError, match="include"):
        Config(include="src")  # type: ignore[arg-type]


# -- per-file checks ------------------------------------------------------------


def test_size_limit_skips_with_note(mode_root: Path) -> None:
    write(mode_root, "small.py", "a" * 100)
    write(mode_root, "big.py", "a" * 101)
    d = discover(mode_root, Config(max_file_size=100))
    assert rels(d) == ["small.py"]
    assert d.notes == ("skipped big.py: over the 100-byte size limit",)


def test_default_size_limit_is_one_megabyte(tmp_path: Path) -> None:
    write(tmp_path, "big.js", b"a" * 1_000_001)
    write(tmp_path, "ok.js", b"a" * 1_000_000)
    d = discover(tmp_path)
    assert rels(d) == ["ok.js"]
    assert d.notes == ("skipped big.js: over the 1000000-byte size limit",)


def test_binary_with_nul_is_skipped_with_note(mode_root: Path) -> None:
    write(mode_root, "img.dat", b"\x89PNG\r\n\x00\x00rest")
    write(mode_root, "late_nul.txt", b"a" * 9000 + b"\x00")  # beyond the sniff window
    write(mode_root, "empty.py", b"")
    write(mode_root, "utf8.py", "s = 'héllo ✓'\n")
    d = discover(mode_root)
    assert rels(d) == ["empty.py", "late_nul.txt", "utf8.py"]
    assert d.notes == ("skipped img.dat: binary",)


def test_language_of_drops_unknown_silently(mode_root: Path) -> None:
    write(mode_root, "a.py")
    write(mode_root, "README.md", "# hi\n")
    write(mode_root, "blob.bin", b"\x00\x01")
    langs = {"py": "python"}

    def language_of(rel: str) -> str | None:
        return langs.get(rel.rpartition(".")[2])

    d = discover(mode_root, language_of=language_of)
    assert [(f.rel, f.language) for f in d.files] == [("a.py", "python")]
    assert d.notes == ()  # unknown files are not source: no note, not even for the binary

    kept = discover(mode_root, language_of=language_of, keep_unknown=True)
    assert [(f.rel, f.language) for f in kept.files] == [("README.md", None), ("a.py", "python")]
    assert kept.notes == ("skipped blob.bin: binary",)


def test_unreadable_file_is_noted_not_raised(mode_root: Path) -> None:
    write(mode_root, "ok.py")
    locked = write(mode_root, "locked.py")
    locked.chmod(0)
    try:
        d = discover(mode_root)
    finally:
        locked.chmod(0o644)
    assert "ok.py" in rels(d)
    if not IS_ROOT:  # root can read anything, so only the no-crash part applies
        assert "locked.py" not in rels(d)
        assert d.notes == ("skipped locked.py: unreadable (Permission denied)",)


@needs_symlinks
def test_symlink_loops_do_not_hang(mode_root: Path) -> None:
    write(mode_root, "a.py")
    os.symlink("loop", mode_root / "loop")  # points at itself
    os.symlink("ping", mode_root / "pong")
    os.symlink("pong", mode_root / "ping")
    os.symlink(".", mode_root / "here")  # directory cycle
    os.symlink("..", mode_root / "sub_up")

    d = run_with_deadline(lambda: discover(mode_root))

    assert rels(d) == ["a.py"]
    assert "skipped loop: symlink loop" in d.notes
    assert "skipped ping: symlink loop" in d.notes
    assert "skipped pong: symlink loop" in d.notes
    assert "skipped sub_up: symlink points outside the root" in d.notes
    assert any(n.startswith("skipped here:") for n in d.notes)


@needs_symlinks
def test_symlink_outside_root_is_skipped_inside_is_kept(mode_root: Path, tmp_path: Path) -> None:
    secret = write(tmp_path / "outside", "secret.py", "password = 1\n")
    write(mode_root, "real.py", "y = 22\n")
    os.symlink(secret, mode_root / "escape.py")
    os.symlink("real.py", mode_root / "alias.py")
    os.symlink(tmp_path / "outside", mode_root / "outdir")
    os.symlink("missing.py", mode_root / "dangling.py")

    d = discover(mode_root)

    assert rels(d) == ["alias.py", "real.py"]
    alias = d.files[0]
    assert alias.size == len("y = 22\n")  # the target's size, not the link's
    assert alias.path == mode_root.resolve() / "alias.py"
    assert "skipped escape.py: symlink points outside the root" in d.notes
    assert "skipped outdir: symlink points outside the root" in d.notes
    assert "skipped dangling.py: broken symlink" in d.notes


# -- root handling and determinism ----------------------------------------------


def test_missing_root_raises(tmp_path: Path) -> None:
    with pytest.raises(RipmapError, match="no such directory"):
        discover(tmp_path / "nope")
    f = write(tmp_path, "file.py")
    with pytest.raises(RipmapError, match="no such directory"):
        discover(f)


def test_output_is_sorted_and_deterministic(mode_root: Path) -> None:
    for rel in ["b/z.py", "a.py", "B.py", "b/a.py", "a/b.py", "a-b.py", "img1.dat", "img0.dat"]:
        write(mode_root, rel, b"\x00" if rel.endswith(".dat") else b"x\n")
    first, second = discover(mode_root), discover(mode_root)
    assert first == second
    assert rels(first) == sorted(rels(first))
    assert first.notes == ("skipped img0.dat: binary", "skipped img1.dat: binary")
    assert all(isinstance(f, SourceFile) for f in first.files)


def test_bad_glob_in_config_is_a_config_error(tmp_path: Path) -> None:
    write(tmp_path, "a.py")
    with pytest.raises(ConfigError, match="'exclude'"):
        discover(tmp_path, Config(exclude=("a/***/b\\",), source="ripmap.toml"))
    with pytest.raises(ConfigError, match="ripmap.toml: bad pattern in 'extend-exclude'"):
        discover(tmp_path, Config(extend_exclude=("a/***/b\\",), source="ripmap.toml"))


# -- file classes ---------------------------------------------------------------

from ripmap.cache import TagCache  # noqa: E402
from ripmap.discover import classify_path, content_flags  # noqa: E402
from ripmap.fileclass import FileClass, class_labels  # noqa: E402
from ripmap.index import build_index  # noqa: E402

# path -> the classes it is in; ("",) marks ordinary code. Files are written together,
# so the stub rule sees its neighbours: pkg/mod.pyi has pkg/mod.py beside it.
LAYOUTS: dict[str, tuple[str, ...]] = {
    "src/core.py": (),
    "src/samples.py": (),  # a file named like a fixture dir
    "src/vendored_utils.py": (),
    "crates/core/flags/doc/man.rs": (),  # a doc/ module deep in the code is code
    "pkg/mod.py": (),
    "pkg/mod.pyi": (),  # the typed face of pkg/mod.py, not a stub tree
    "mypy/typeshed/stdlib/os/__init__.pyi": ("vendor", "stub"),
    "stubs/requests/api.pyi": ("stub",),
    "lib/only/types.pyi": ("stub",),  # .pyi with no .py beside it
    "requests-stubs/__init__.pyi": ("stub",),
    "types/index.d.ts": ("stub",),
    "web/src/app.ts": (),
    "web/src/app.d.ts": (),
    "test-data/unit/lib-stub/typing.pyi": ("fixture", "stub"),
    "test-data/unit/check.py": ("fixture",),
    "pkg/testdata/input.go": ("fixture",),
    "tests/fixtures/data.py": ("fixture", "test"),
    "tests/samples/dart/sample.dart": ("fixture", "test"),
    "src/test/resources/Sample.java": ("fixture", "test"),
    "external/geom/shapes.c": ("vendor",),
    "vendored/lib.py": ("vendor",),
    # a bundled test framework is vendored; the framework's own repository is not
    "test/gtest/gtest/gtest.h": ("vendor", "test"),
    "test/gtest/gmock-gtest-all.cc": ("vendor", "test"),
    "tests/catch.hpp": ("vendor", "test"),
    "googletest/include/gtest/gtest.h": (),  # the framework's own repository
    "googlemock/src/gmock.cc": (),
    "src/catch_handler.hpp": (),
    "include/spdlog/fmt/bundled/core.h": ("vendor",),  # spdlog's copy of fmt
    "src/pip/_vendor/rich/console.py": ("vendor",),
    "api/v1/service.pb.go": ("generated",),
    "proto/msg_pb2.py": ("generated",),
    "proto/msg_pb2_grpc.py": ("generated",),
    "web/gen/msg_pb.js": ("generated",),
    "lib/model.g.dart": ("generated",),
    "docs/conf.py": ("docs",),
    "README.md": ("docs",),
    "guide/intro.rst": ("docs",),
    "tests/test_core.py": ("test",),
    "src/core_test.go": ("test",),
    "src/main/java/FooTest.java": ("test",),
    "web/src/app.spec.ts": ("test",),
    "conftest.py": ("test",),
}


def flags_of(d: Discovery) -> dict[str, tuple[str, ...]]:
    return {f.rel: class_labels(f.flags) for f in d.files}


def test_each_layout_is_classified(mode_root: Path) -> None:
    for rel in LAYOUTS:
        write(mode_root, rel)
    got = flags_of(discover(mode_root))
    assert got == LAYOUTS


def test_a_stub_tree_is_told_by_its_neighbours(mode_root: Path) -> None:
    """The path alone cannot tell a stub tree from a package's typed face."""
    assert classify_path("lib/types.pyi") == classify_path("pkg/mod.pyi") == 0
    for rel in ("lib/types.pyi", "pkg/mod.pyi", "pkg/mod.py"):
        write(mode_root, rel)
    assert flags_of(discover(mode_root)) == {"lib/types.pyi": ("stub",), "pkg/mod.pyi": (), "pkg/mod.py": ()}


def test_default_excluded_trees_stay_excluded(mode_root: Path) -> None:
    for rel in ("node_modules/x/index.js", ".venv/lib/m.py", "build/out.py", "static/app.min.js", "src/a.py"):
        write(mode_root, rel)
    assert rels(discover(mode_root)) == ["src/a.py"]


ATTRIBUTES = (
    "gen/** linguist-generated\n"
    "*.proto.py linguist-generated=true\n"
    "third/** linguist-vendored\n"
    "manual/*.py linguist-documentation\n"
    "legacy/ linguist-generated\n"  # a directory pattern names no file in an attributes file
    "docs/conf.py -linguist-documentation\n"  # unset: the path's own class goes too
    "tests/fixtures/real.py linguist-vendored=false\n"
    "# gen2/** linguist-generated\n"
)
ATTRIBUTE_FILES = {
    "gen/models.py": ("generated",),
    "gen/sub/deep.py": ("generated",),
    "src/wire.proto.py": ("generated",),
    "third/lib/x.py": ("vendor",),
    "manual/howto.py": ("docs",),
    "legacy/old.py": (),
    "docs/conf.py": (),
    "tests/fixtures/real.py": ("fixture", "test"),
    "gen2/x.py": (),
    "sub/gen/nested.py": (),  # "gen/**" is anchored at the file's directory
    "sub/local.py": ("vendor",),  # from sub/.gitattributes
}


@needs_git
def test_gitattributes_agree_with_git_check_attr(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r")
    write(root, ".gitattributes", ATTRIBUTES)
    write(root, "sub/.gitattributes", "local.py linguist-vendored\n")
    for rel in ATTRIBUTE_FILES:
        write(root, rel)
    got = flags_of(discover(root))
    # git itself is the oracle for which linguist attributes each file has
    out = subprocess.run(["git", "check-attr", "--stdin", "-z", "linguist-generated", "linguist-vendored",
                          "linguist-documentation"], cwd=root, input="\0".join(ATTRIBUTE_FILES) + "\0",
                         capture_output=True, text=True, check=True).stdout.split("\0")
    says = {(out[i], out[i + 1]): out[i + 2] for i in range(0, len(out) - 2, 3)}
    names = {"generated": "linguist-generated", "vendor": "linguist-vendored", "docs": "linguist-documentation"}
    for rel, labels in ATTRIBUTE_FILES.items():
        assert got[rel] == labels, rel
        for label, attr in names.items():
            if says[(rel, attr)] in ("set", "true"):
                assert label in got[rel], (rel, attr)
            elif says[(rel, attr)] in ("unset", "false"):
                assert label not in got[rel], (rel, attr)


def test_gitattributes_are_read_without_git(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    write(root, ".gitattributes", ATTRIBUTES)
    write(root, "sub/.gitattributes", "local.py linguist-vendored\n")
    for rel in ATTRIBUTE_FILES:
        write(root, rel)
    got = flags_of(discover(root))
    assert {rel: got[rel] for rel in ATTRIBUTE_FILES} == ATTRIBUTE_FILES


def test_submodules_declared_in_gitmodules_are_vendored(tmp_path: Path) -> None:
    """A walked tree with its submodules filled in (git would list them as one entry)."""
    root = tmp_path / "plain"
    write(root, ".gitmodules", '[submodule "libfoo"]\n\tpath = deps/libfoo\n\turl = https://example.invalid/x\n')
    write(root, "deps/libfoo/src/foo.c")
    write(root, "deps/libfoo.c")  # beside the submodule, not in it
    write(root, "src/main.c")
    got = flags_of(discover(root))
    del got[".gitmodules"]
    assert got == {"deps/libfoo/src/foo.c": ("vendor",), "deps/libfoo.c": (), "src/main.c": ()}


GENERATED_HEADERS = [
    b"// Code generated by protoc-gen-go. DO NOT EDIT.\npackage pb\n",
    b"// Copyright 2024 Someone\n// License: MIT\n\n// Code generated by stringer -type=Kind; DO NOT EDIT.\n\npackage x\n",
    b"# -*- coding: utf-8 -*-\n# Generated by the protocol buffer compiler.  DO NOT EDIT!\n# source: a.proto\n",
    b"/**\n * @generated SignedSource<<abc>>\n */\nexport const x = 1;\n",
    b"# This file is automatically generated by tool.py; edits will be lost\nX = 1\n",
    b"// <auto-generated>\n//   This code was generated by a tool.\n// </auto-generated>\nclass A {}\n",
    b"# Generated by Django 4.2 on 2024-01-01 00:00\nfrom django.db import migrations\n",
    b'"""Autogenerated module: edit the template instead."""\nX = 1\n',
    b"-- Code generated by sqlc. DO NOT EDIT.\n",
]
NOT_GENERATED = [
    b"def f():\n    return 1\n",
    # prose about generated code, not a header
    b'"""Find the source files; vendored and generated code is classified here."""\nimport os\n',
    b'def test_header():\n    write("x.go", "// Code generated by x. DO NOT EDIT.\\n")\n',
    b"x = 1\n" * 50 + b"# Code generated by late.py. DO NOT EDIT.\n",  # past the first lines
    b"# The generator script lives in tools/gen.py\nX = 1\n",
    b"def a():\n    return 'a very long line' \n" * 300,  # long, but lines of ordinary length
]


@pytest.mark.parametrize("data", GENERATED_HEADERS, ids=lambda b: b[:24].decode(errors="replace"))
def test_generated_headers_are_found(data: bytes) -> None:
    assert content_flags(data) == FileClass.GENERATED


@pytest.mark.parametrize("data", NOT_GENERATED, ids=range(len(NOT_GENERATED)))
def test_ordinary_heads_are_not_generated(data: bytes) -> None:
    assert content_flags(data) == 0


def test_minified_text_is_generated() -> None:
    one_line = b"var a=1;" + b"function f(n){return n+1};" * 400 + b"\n"
    assert content_flags(one_line) == FileClass.GENERATED
    assert content_flags(b"var a=1;\n" * 600) == 0


def _backdate(root: Path) -> None:
    t = time.time() - 3600
    for p in root.rglob("*"):
        if p.is_file():
            os.utime(p, (t, t))


def test_generated_header_is_flagged_and_stays_flagged_on_a_warm_run(tmp_path: Path) -> None:
    root = tmp_path / "r"
    write(root, "api/client.go", "// Code generated by oapi-codegen. DO NOT EDIT.\npackage api\n\nfunc Get() {}\n")
    write(root, "api/hand.go", "package api\n\nfunc Hand() { Get() }\n")
    write(root, "gen/keep.go", "// Code generated by tool. DO NOT EDIT.\npackage gen\n\nfunc Keep() {}\n")
    write(root, ".gitattributes", "gen/keep.go linguist-generated=false\n")  # the user's word wins
    _backdate(root)

    def classes() -> tuple[dict[str, tuple[str, ...]], int]:
        with TagCache.open(root, tmp_path / "c") as cache:
            idx = build_index(root, cache=cache, progress=False)
        return {f.rel: class_labels(f.flags) for f in idx.files}, idx.parsed

    cold, parsed = classes()
    assert parsed == 3
    expected = {"api/client.go": ("generated",), "api/hand.go": (), "gen/keep.go": ()}
    assert cold == expected
    warm, parsed = classes()
    assert parsed == 0  # every file from the cache, none read again
    assert warm == expected
    # the header goes: the flag goes with it
    write(root, "api/client.go", "package api\n\nfunc Get() {}\n")
    _backdate(root)
    edited, parsed = classes()
    assert parsed == 1 and edited["api/client.go"] == ()


# -- one verdict per directory and per name (the warm path of a big tree) ---------------

from ripmap import languages  # noqa: E402
from ripmap.discover.checks import inspect_file  # noqa: E402
from ripmap.discover.ignore import Filters  # noqa: E402
from ripmap.discover.listing import git_list, walk  # noqa: E402

_PARTS = st.sampled_from(["src", "vendor", "node_modules", "dist", "build", "lib", "a", "tests", ".venv",
                          "site-packages", "vendored", "x.min.js", "Cargo.lock", "yarn.lock", "m.map", "m.py",
                          "build.rs", "targeting.rs", "deep", ""])
_CONFIGS = [
    Config(),
    Config(exclude=()),  # the user opts back into vendor/ and the rest
    Config(extend_exclude=("tests/", "*.rs")),
    Config(include=("src/**", "*.lock")),
    Config(exclude=("deep/", "!deep/m.py"), include=("**/*.py", "**/*.rs")),
]


@given(st.lists(st.lists(_PARTS, min_size=1, max_size=4).map("/".join), max_size=30))
def test_filters_select_agrees_with_wanted_path_by_path(paths: list[str]) -> None:
    """The batch verdict (per directory, per name) is the per-path rule, for every config."""
    for config in _CONFIGS:
        filters = Filters.from_config(config)
        assert filters.select(paths) == [p for p in paths if filters.wanted(p)]


def _reference_discovery(root: Path, config: Config, known, sniff: bool) -> tuple[list[tuple], list[str]]:
    """discover() spelled out file by file with the per-path rules (no classes but the
    path's own and the stub-tree rule; the fixture has no .gitattributes)."""
    notes: list[str] = []
    listed = git_list(root, notes)
    if listed is None:
        listed = walk(root, Filters.from_config(config), notes)
    filters = Filters.from_config(config)
    kept = []
    for rel in sorted(set(listed)):
        lang = languages.language_for_path(rel)
        if not filters.wanted(rel) or lang is None:
            continue
        found = inspect_file(str(root), f"{root}/{rel}", rel, config.max_file_size, notes, known, sniff)
        if found is not None:
            kept.append((rel, found, lang))
    impl = {stub: {r.rpartition("/")[0] for r, _f, _l in kept if r.endswith(exts) and not r.endswith(stub)}
            for stub, exts in ((".pyi", (".py",)), (".d.ts", (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs")))}
    out = []
    for rel, (size, mtime), lang in kept:
        flags = classify_path(rel)
        if any(rel.endswith(stub) and rel.rpartition("/")[0] not in dirs for stub, dirs in impl.items()):
            flags |= int(FileClass.STUB)
        out.append((rel, root / rel, size, mtime, lang, flags, 0))
    return out, notes


def _messy_tree(root: Path) -> None:
    for copy in ("one", "two", "three"):
        for rel in ("src/core.py", "src/core.pyi", "stubs/only.pyi", "tests/test_core.py", "web/app.ts",
                    "web/app.d.ts", "types/index.d.ts", "proto/msg_pb2.py", "docs/conf.py", "vendored/lib.py",
                    "vendor/skip.py", "node_modules/x/index.js", "build/out.py", "static/app.min.js",
                    "Cargo.lock", "README.md", "data.bin.py", "big.py", "empty.py", "notes.txt"):
            write(root, f"{copy}/{rel}", b"\x00\x01binary" if rel == "data.bin.py" else
                  "x" * 3000 if rel == "big.py" else "" if rel == "empty.py" else "x = 1\n")
    write(root, "top.py")
    write(root, "tests/fixtures/case.py")
    if sys.platform != "win32":
        os.symlink("top.py", root / "link.py")
        os.symlink("missing.py", root / "dangling.py")
        os.symlink(str(root.parent), root / "escape.py")
        os.symlink("one", root / "dirlink.py")


@pytest.mark.parametrize("sniff", [True, False])
def test_discovery_matches_the_per_file_rules(mode_root: Path, sniff: bool) -> None:
    _messy_tree(mode_root)
    root = mode_root.resolve()
    config = Config(max_file_size=2000)
    known = {"two/data.bin.py": (0, 0)}  # a stale entry: still sniffed
    want, want_notes = _reference_discovery(root, config, known, sniff)
    d = discover(root, config, language_of=languages.language_for_path, known=known, sniff=sniff)
    got = [(f.rel, f.path, f.size, f.mtime_ns, f.language, f.flags, f.fixed) for f in d.files]
    assert got == want
    assert list(d.notes) == want_notes
    assert any("binary" in n for n in want_notes) == sniff and any("size limit" in n for n in want_notes)


def test_language_of_is_asked_once_per_file_name(mode_root: Path) -> None:
    """Languages are told by name: a tree that repeats names pays once per name."""
    for pkg in ("a", "b", "c/d"):
        write(mode_root, f"{pkg}/__init__.py")
        write(mode_root, f"{pkg}/util.rs")
    asked: list[str] = []

    def language_of(rel: str) -> str | None:
        asked.append(rel)
        return languages.language_for_path(rel)

    d = discover(mode_root, language_of=language_of)
    assert len(d.files) == 6 and {f.language for f in d.files} == {"python", "rust"}
    assert sorted(rel.rpartition("/")[2] for rel in asked) == ["__init__.py", "util.rs"]


def test_source_file_path_is_its_root_joined_with_rel(mode_root: Path) -> None:
    """The absolute path is derived, not stored: the root once, as a string."""
    write(mode_root, "pkg/mod.py")
    (f,) = discover(mode_root).files
    assert f.root == str(mode_root.resolve())
    assert f.path == mode_root.resolve() / "pkg" / "mod.py"
    assert f.with_content_flags(int(FileClass.GENERATED)).path == f.path


def test_source_files_built_in_bulk_equal_those_built_one_by_one() -> None:
    rows = [("a.py", "/r", 1, 10, "python", 0, 0), ("b/c.rs", "/r", 2, 20, None, 5, 1)]
    bulk = SourceFile.many(rel=[r[0] for r in rows], root=[r[1] for r in rows], size=[r[2] for r in rows],
                           mtime_ns=[r[3] for r in rows], language=[r[4] for r in rows],
                           flags=[r[5] for r in rows], fixed=[r[6] for r in rows])
    one_by_one = tuple(SourceFile(*r) for r in rows)
    assert bulk == one_by_one and [hash(f) for f in bulk] == [hash(f) for f in one_by_one]
    assert [repr(f) for f in bulk] == [repr(f) for f in one_by_one]
    with pytest.raises(AttributeError):  # still frozen
        bulk[0].size = 3  # type: ignore[misc]
    with pytest.raises(TypeError, match="columns"):
        SourceFile.many(rel=["a.py"], root=["/r"])


_COMPONENTS = st.sampled_from(["src", "lib", "a", "Docs", "doc", "documentation", "test", "Tests", "resources",
                               "spec", "vendor", "node_modules", "gtest", "googletest", "third_party", "typeshed",
                               "pkg-stubs", "@types", "fixtures", "testdata", "examples", ""])


@given(st.lists(st.lists(_COMPONENTS, min_size=1, max_size=6).map("/".join), max_size=40))
@example(["gtest/a/googletest", "src/gtest", "googletest/src", "x/test/resources", "x/test/a/resources",
          "docs/a", "a/docs", "/docs", "a/documentation/b"])
def test_directories_classified_from_their_parents_agree_with_each_alone(dirs: list[str]) -> None:
    """Discovery works a directory's classes out from its parent's (a big tree's
    directories share their leading components); each agrees with the rule applied to the
    whole path, whatever order the directories come in."""
    from ripmap.discover import classes as c

    def whole_path(directory: str) -> int:
        parts = directory.lower().split("/") if directory else []
        flags = 0
        if set(parts) & c.VENDOR_COMPONENTS or (parts and parts[0] not in c.BUNDLED_COMPONENTS
                                                and not c.BUNDLED_COMPONENTS.isdisjoint(parts[1:])):
            flags |= FileClass.VENDOR
        if set(parts) & c.STUB_COMPONENTS or any(p.endswith("-stubs") for p in parts):
            flags |= FileClass.STUB
        if set(parts) & c.FIXTURE_COMPONENTS or ("test", "resources") in zip(parts, parts[1:]):
            flags |= FileClass.FIXTURE
        if (parts and parts[0] in c.DOCS_TOP_DIRS) or "documentation" in parts:
            flags |= FileClass.DOCS
        if set(parts) & c.TEST_COMPONENTS:
            flags |= FileClass.TEST
        return int(flags)

    dirs = dirs + [""]
    assert c._dir_flags(dirs) == [whole_path(d) for d in dirs]
    assert [c._dir_flags([d])[0] for d in dirs] == [whole_path(d) for d in dirs]  # one at a time


def test_a_listing_fingerprint_taken_once_is_the_one_its_files_give(tmp_path: Path) -> None:
    # a kept map's miss takes the listing's fingerprint, and the index built from that
    # listing reuses it instead of hashing every record again: it must be the records' own
    from ripmap.discover import list_files
    from ripmap.index import build_index, files_fingerprint

    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("def a():\n    return 1\n")
    (tmp_path / "b.js").write_text("function b() {}\n")
    listing = list_files(tmp_path, Config())
    taken = listing.fingerprint()
    assert listing.fingerprint() is taken  # taken once
    disc = listing.finish()
    assert disc.fingerprint == taken == files_fingerprint(disc.files)
    (tmp_path / "b.js").write_text("function b() { return 2 }\n")  # another size: another identity
    again = list_files(tmp_path, Config()).finish()
    assert again.fingerprint is None and files_fingerprint(again.files) != taken
    idx = build_index(tmp_path, config=Config(), discovered=disc, workers=1)
    assert idx.listing == taken and idx.fingerprint == taken
