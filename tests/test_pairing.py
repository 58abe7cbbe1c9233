"""Test ↔ source pairing (rank/pairing.py): the vectorized matrix against a plain
spelling of its rule, on hand-picked edge cases and on generated trees."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import ripmap.rank.pairing as pairing
from ripmap.rank.pairing import pairing_matrix, subject

GENERIC = {"", "__init__", "index", "mod", "lib", "main", "conftest", "helpers", "utils", "util", "common"}


def reference(files: list[str]) -> sp.csr_matrix:
    """The pairing rule spelled out test by test: each test pairs with the non-test
    files of its subject whose directories are fewest steps away (1/k each of k)."""
    n = len(files)
    tests: dict[str, list[int]] = {}
    sources: dict[str, list[int]] = {}
    for i, rel in enumerate(files):
        key, is_test = subject(rel)
        if key not in GENERIC:
            (tests if is_test else sources).setdefault(key, []).append(i)
    entries: dict[tuple[int, int], float] = {}
    for key, tl in tests.items():
        for t in tl:
            dists = {}
            for s in sources.get(key, []):
                a, b = files[t].rpartition("/")[0].split("/"), files[s].rpartition("/")[0].split("/")
                common = next((j for j, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
                dists[s] = len(a) + len(b) - 2 * common
            if dists:
                best = [s for s, d in dists.items() if d == min(dists.values())]
                for s in best:
                    entries[(t, s)] = entries[(s, t)] = 1.0 / len(best)
    rows = [r for r, _c in entries]
    cols = [c for _r, c in entries]
    return sp.csr_matrix((list(entries.values()), (rows, cols)), shape=(n, n))


def assert_same(files: list[str]) -> sp.csr_matrix:
    got = pairing_matrix(files)
    want = reference(files)
    assert got.shape == want.shape
    assert (abs(got - want) > 0).nnz == 0, files
    assert got.has_canonical_format and np.array_equal(got.data, got.T.tocsr().data)  # symmetric, canonical
    return got


EDGE_CASES = {
    "empty": [],
    "no tests": ["a.py", "b/c.py"],
    "no sources": ["tests/test_a.py", "b_test.go"],
    "generic subjects never pair": ["utils.py", "tests/test_utils.py", "__init__.py", "tests/__init__.py",
                                    "index.ts", "index.test.ts"],
    "closest of several": ["a/cli.py", "b/cli.py", "a/tests/test_cli.py", "other.py"],
    "ties split the weight": ["x/core.py", "y/core.py", "tests/test_core.py"],
    "root files": ["core.py", "test_core.py", "sub/core.py"],
    "root test, nested sources": ["test_io.py", "a/io.py", "a/b/io.py"],
    "deep against shallow": ["a/b/c/d/e/f/g/h/i/j/k/m.py", "a/b/x/test_m.py", "z/m.py"],
    "conventions": ["pkg/server.go", "pkg/server_test.go", "src/router.ts", "src/router.spec.ts",
                    "lib/rack.rb", "spec/rack_spec.rb", "src/main/java/Gson.java", "src/test/java/GsonTest.java",
                    "app/Foo.php", "tests/FooTest.php", "src/my-mod.js", "src/my_mod.test.js", "x.d.ts", "test_x.py"],
    "test directories alone mark tests": ["src/parser.rs", "tests/parser.rs", "t/parser.rs", "testing/parser.rs"],
    "a file is both candidates' neighbour": ["a/b/f.py", "a/c/f.py", "a/test_f.py", "a/b/test_f.py"],
    "odd separators": ["/lead.py", "/t/test_lead.py", "a//b/dbl.py", "a//c/test_dbl.py", "a/dbl.py"],
    "same name, many copies": [f"copy{i}/{d}{n}" for i in range(6) for d in ("src/", "tests/") for n in
                               ("alpha.py", "beta.py")],
}


@pytest.mark.parametrize("files", list(EDGE_CASES.values()), ids=list(EDGE_CASES))
def test_pairing_matches_the_rule_spelled_out(files: list[str]) -> None:
    assert_same(files)


def test_ties_share_the_weight_and_the_nearest_wins() -> None:
    P = assert_same(EDGE_CASES["ties split the weight"])
    assert P[2, 0] == P[2, 1] == 0.5
    P = assert_same(EDGE_CASES["closest of several"])
    assert P[2, 0] == 1.0 and P[2, 1] == 0


def test_blocks_of_pairs_give_the_same_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests are scored in blocks of candidate pairs (bounded memory); where the block
    boundaries fall must not change a single entry."""
    files = [f"r{i}/{d}/{n}" for i in range(9) for d in ("src", "tests", "src/deep") for n in
             ("test_a.py", "a.py", "b.py", "b_test.py")]
    whole = pairing_matrix(files)
    for block in (1, 2, 7, 50):
        monkeypatch.setattr(pairing, "_BLOCK_PAIRS", block)
        part = pairing_matrix(files)
        assert np.array_equal(part.indptr, whole.indptr) and np.array_equal(part.indices, whole.indices)
        assert np.array_equal(part.data, whole.data)


def test_each_distinct_name_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A big tree repeats names (copies, packages): subjects are worked out per name."""
    seen: list[str] = []
    real = pairing._name_subject

    def counting(name: str) -> tuple[str, bool]:
        seen.append(name)
        return real(name)

    monkeypatch.setattr(pairing, "_name_subject", counting)
    files = [f"pkg{i}/{n}" for i in range(50) for n in ("cli.py", "test_cli.py", "io.py")]
    pairing_matrix(files)
    assert sorted(seen) == ["cli.py", "io.py", "test_cli.py"]


_DIRS = st.lists(st.sampled_from(["a", "b", "src", "tests", "test", "spec", "t", "lib", "x-y", ""]), max_size=4)
_NAMES = st.sampled_from(["core.py", "test_core.py", "core_test.go", "Core.java", "CoreTest.java", "core.spec.ts",
                          "core.ts", "io.py", "io_tests.py", "Io.php", "IoSpec.scala", "utils.py", "test_utils.py",
                          "tests.py", "x.d.ts", "test_x.ts", "TestIo.py", "my-mod.js", "my_mod.test.js", "README"])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_DIRS, _NAMES), max_size=40))
def test_generated_trees_pair_like_the_rule(entries: list[tuple[list[str], str]]) -> None:
    files = list(dict.fromkeys("/".join([*dirs, name]) for dirs, name in entries))  # in any order
    assert_same(files)
