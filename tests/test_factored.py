"""The factored file graph (rank/edges.FileGraph): ``W = Wi + Rw @ Dw`` is never
multiplied out, yet ranks exactly as the materialized ``W`` (rank/edges.file_graph, the
definition) did: the same matrix within float rounding, the same in-degree, the same focus
expansion bit for bit, the same rankings within PageRank's tolerance; and the graph's
referrer counts patched after an edit equal a full count."""
from __future__ import annotations

import io
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from fixtures_rank import init_repo, make_rich_repo
from planted import make_planted_repo
from ripmap.api import RepoMap
from ripmap.cache.arrays import load_arrays, save_arrays
from ripmap.cache.blobs import BlobStore, StoredGraph, decode_graph, encode_graph
from ripmap.cache.null import NullCache
from ripmap.extract.tags import Tag
from ripmap.graph import build_graph, patch_graph
from ripmap.rank import RankContext
from ripmap.rank.edges import FileGraph, factored_file_graph, file_graph, undirected
from ripmap.rank.params import DEFAULT, Params
from ripmap.rank.score import Query, rank_many
from ripmap.rank.signals import focus_expansion

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")

SRC = Path(__file__).resolve().parents[1] / "src" / "ripmap"
SAMPLES = Path(__file__).resolve().parent / "samples"


def _real_sample(root: Path) -> Path:
    """A real repository: ripmap's own package and the per-language samples, committed."""
    files = {f"ripmap/{p.relative_to(SRC).as_posix()}": p.read_text()
             for p in sorted(SRC.rglob("*.py")) if "__pycache__" not in p.parts}
    for p in sorted(SAMPLES.rglob("*")):
        if p.is_file() and p.name != "expected.json":
            files[f"samples/{p.relative_to(SAMPLES).as_posix()}"] = p.read_text(errors="replace")
    return init_repo(root, files)


@pytest.fixture(scope="module", params=["rich", "planted", "real"])
def repo(request, tmp_path_factory):
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    root = tmp_path_factory.mktemp(request.param) / "repo"
    {"rich": make_rich_repo, "planted": make_planted_repo, "real": _real_sample}[request.param](root)
    with RepoMap(root, cache_dir=tmp_path_factory.mktemp("cache"), warn=lambda m: None) as rm:
        yield rm


def _points() -> list[Params]:
    """The defaults and points across the graph parameters' bounds."""
    rng = random.Random(11)
    pts = [DEFAULT]
    for _ in range(3):
        pts.append(DEFAULT.replace(edge_weight_call=rng.uniform(0.01, 10), edge_weight_type=rng.uniform(0.01, 10),
                                   edge_weight_other=rng.uniform(0.01, 10), common_name_penalty=rng.uniform(0, 5),
                                   private_name_weight=rng.uniform(0.01, 1), import_resolution_bias=rng.uniform(1, 100),
                                   hub_damping=rng.uniform(0.05, 1.0)))
    return pts


def test_the_factors_multiply_out_to_the_materialized_graph(repo):
    """Entry for entry the same W (values to 1e-12), and what ranking reads from it without
    forming it (row sums, positive entries per column, W·x, Wᵀ·x, W among a few files)
    equal what W itself gives."""
    g = repo.graph
    rng = np.random.default_rng(3)
    for p in _points():
        W = file_graph(g, p)
        F = factored_file_graph(g, p)
        M = F.tocsr()
        assert W.nnz > 0 and ((W > 0) != (M > 0)).nnz == 0
        np.testing.assert_allclose(M.toarray(), W.toarray(), rtol=1e-12, atol=0)
        np.testing.assert_allclose(F.out, np.asarray(W.sum(axis=1)).ravel(), rtol=1e-12)
        assert F.referrers.tolist() == np.bincount(W.indices[W.data > 0], minlength=g.n_files).tolist()
        x = rng.random((g.n_files, 3))
        np.testing.assert_allclose(F @ x, W @ x, rtol=1e-12)
        np.testing.assert_allclose(F.rmatmul(x), W.T @ x, rtol=1e-12)
        idx = rng.permutation(g.n_files)[:12]
        np.testing.assert_allclose(F.among(idx).toarray(), W[idx][:, idx].toarray(), rtol=1e-12)


def test_focus_expansion_through_the_names_equals_the_file_adjacency_bit_for_bit(repo):
    """Walking names (files referencing or defining what the frontier defines or
    references) reaches the same files with the same strengths as the undirected
    file × file adjacency."""
    g = repo.graph
    W = file_graph(g, DEFAULT)
    F = factored_file_graph(g, DEFAULT)
    A = undirected(W)
    rng = np.random.default_rng(8)
    for _ in range(25):
        seed = np.zeros(g.n_files)
        k = int(rng.integers(1, 4))
        seed[rng.integers(0, g.n_files, k)] = rng.random(k)
        decay, hops = float(rng.uniform(0.05, 0.95)), float(rng.choice([0.5, 1.0, 2.0, 2.5, 5.0]))
        np.testing.assert_array_equal(focus_expansion(F, seed, decay, hops, A=F),
                                      focus_expansion(W, seed, decay, hops, A=A))


class _Materialized(RankContext):
    """The context as it was before the graph was factored: ``W`` multiplied out, its
    undirected adjacency and in-degree counted on it (the reference the factored
    ranking must reproduce)."""

    def file_graph(self, params):
        key = ("materialized",) + tuple(float(params[k]) for k in sorted(params.to_dict()))
        return self._get(key, lambda: file_graph(self.graph, params))

    def undirected(self, W):
        return self._get(("undirected", id(W)), lambda: undirected(W))

    def indegree(self, params):
        W = self.file_graph(params)
        return np.bincount(W.indices[W.data > 0], minlength=W.shape[1]).astype(np.float64)


def _queries(files: list[str]) -> list[Query]:
    qs = [Query(chat_files=(f,)) for f in files[::max(1, len(files) // 6)][:6]]
    qs += [Query(), Query(focus="parse the config and render the map"),
           Query(chat_files=(files[0],), focus="graph matrices rank"),
           Query(mentioned_idents=("main", "rank", "build_graph")), Query(mentioned_files=(files[-1],))]
    return qs


@pytest.mark.parametrize("direct", [False, True])
def test_rankings_on_the_factored_graph_equal_the_materialized_ones(repo, direct):
    """Every kind of query at several parameter points: the same scores (to 1e-6
    relative: PageRank's own tolerance) and the same order."""
    c = repo.context
    qs = _queries(list(c.graph.files))
    for p in _points():
        fact = rank_many(RankContext(graph=c.graph, git=c.git, flags=c.flags, defs=c.defs), p, qs, direct=direct)
        mat = rank_many(_Materialized(graph=c.graph, git=c.git, flags=c.flags, defs=c.defs), p, qs, direct=direct)
        for a, b in zip(fact, mat):
            sa = np.array([a.scores[f] for f in b.files])
            sb = np.array([b.scores[f] for f in b.files])
            np.testing.assert_allclose(sa, sb, rtol=1e-6, atol=1e-12)
            # the same order up to runs of scores within the tolerance of each other: at every
            # point where the materialized scores step by more, the same files come before it
            cuts = np.flatnonzero(np.abs(np.diff(sb)) > 1e-6 * np.abs(sb[:-1])) + 1
            for k in cuts.tolist():
                assert set(a.files[:k]) == set(b.files[:k])


def _blowup_tags(n_def: int, n_ref: int) -> tuple[list[str], dict[str, list[Tag]]]:
    """``n_def`` files define ``handle`` and ``n_ref`` files call it: ``n_def × n_ref``
    file edges from two lists of ``n_def + n_ref`` entries."""
    tags: dict[str, list[Tag]] = {}
    for i in range(n_def):
        tags[f"d/def{i}.py"] = [Tag(1, "handle", True, "function", 1, None, "def handle()"),
                                Tag(3, f"own{i}", True, "function", 1, None, f"def own{i}()")]
    for i in range(n_ref):
        tags[f"r/ref{i}.py"] = [Tag(1, f"user{i}", True, "function", 1, None, f"def user{i}()"),
                                Tag(2, "handle", False, "call", 1, None, None)]
    return sorted(tags), tags


def test_a_name_defined_and_used_everywhere_is_never_multiplied_out(monkeypatch):
    """300 definers × 300 callers of one name: 90,000 edges. Ranking (PageRank with hub
    damping and a focused query) runs on the factors, whose size is the files', and
    never builds W."""
    files, tags = _blowup_tags(300, 300)
    g = build_graph(files, tags)
    F = factored_file_graph(g, DEFAULT)
    assert F.Rw.nnz + F.Dw.nnz <= 2 * len(files)
    assert file_graph(g, DEFAULT).nnz == 300 * 300

    def boom(*a, **k):
        raise AssertionError("the file graph was multiplied out")

    monkeypatch.setattr(FileGraph, "tocsr", boom)
    monkeypatch.setattr("ripmap.rank.edges.file_graph", boom)
    ctx = RankContext(graph=g)
    got = rank_many(ctx, DEFAULT.replace(hub_damping=0.5), [Query(), Query(mentioned_idents=("user7",))],
                    direct=False)
    assert ctx.indegree(DEFAULT)[files.index("d/def0.py")] == 300
    assert got[1].files[0] == "r/ref7.py" and got[0].files[:1] != got[1].files[:1]


def _mutated(files: list[str], tags: dict[str, list[Tag]], rng: random.Random):
    """Some files edited (a reference or definition added or dropped), some deleted, one added."""
    tags = {f: list(t) for f, t in tags.items()}
    changed = set()
    for f in rng.sample(files, 6):
        t = tags[f]
        if rng.random() < 0.5 and t:
            t.pop(rng.randrange(len(t)))
        else:
            name = rng.choice(["handle", "own1", "user2", "helper", "own3"])
            t.append(Tag(9, name, rng.random() < 0.4, "call" if rng.random() < 0.6 else "function", 1, None, None))
        changed.add(f)
    gone = set(rng.sample(sorted(set(files) - changed), 3))
    for f in gone:
        del tags[f]
    tags["new/added.py"] = [Tag(1, "handle", False, "call", 1, None, None),
                            Tag(2, "helper", True, "function", 1, None, "def helper()")]
    return sorted(tags), tags, changed


@pytest.mark.parametrize("seed", range(6))
def test_patched_referrer_counts_equal_a_full_count(seed):
    """After edits, deletions and an addition, the counts patched from the old graph's
    (the changed files' edges only) equal the count of a cold build and W's own
    positive entries per column; also across a cache round trip of the old graph."""
    rng = random.Random(seed)
    files, tags = _blowup_tags(rng.randrange(5, 12), rng.randrange(5, 12))
    old = build_graph(files, tags)
    if seed % 2:
        old = decode_graph(encode_graph(StoredGraph(old))).graph
    files2, tags2, changed = _mutated(files, tags, rng)
    patched = patch_graph(old, files2, changed, tags2)
    cold = build_graph(files2, tags2)
    W = file_graph(cold, DEFAULT)
    assert patched.referrers.tolist() == cold.referrers.tolist()
    assert cold.referrers.tolist() == np.bincount(W.indices[W.data > 0], minlength=len(files2)).tolist()


def test_a_stored_graph_of_another_version_or_with_bad_counts_is_rebuilt(tmp_path):
    """The stored format changed (referrer counts, no multiplied-out W): an older blob or
    counts that do not fit the files are a miss, never trusted."""
    from ripmap.cache import TagCache

    files, tags = _blowup_tags(4, 5)
    g = build_graph(files, tags)
    blob = encode_graph(StoredGraph(g))

    def rewritten(**change) -> bytes:
        with load_arrays(blob) as z:
            arrays = {k: z[k] for k in z.files}
        arrays.update(change)
        buf = io.BytesIO()
        save_arrays(buf, **arrays)
        return buf.getvalue()

    root = tmp_path / "r"
    root.mkdir()
    with TagCache.open(root, tmp_path / "c", warn=lambda m: None) as cache:
        store = BlobStore(cache, "fp")
        store.save_graph(StoredGraph(g))
        assert store.load_graph(files).graph.referrers.tolist() == g.referrers.tolist()
        for bad in (rewritten(version=np.array("4")), rewritten(referrers=np.zeros(len(files) + 1))):
            cache.put_blob("graph:fp", bad)
            assert store.load_graph(files) is None
            assert store.load_previous_graph() is None
    assert BlobStore(NullCache(), "fp").load_graph(files) is None


@needs_git
def test_an_edit_resolves_only_the_edited_files_imports_and_patches_to_the_cold_graph(tmp_path, monkeypatch):
    """With the same files, a patch takes every unchanged file's import row over (its
    resolution depends on its own path and strings and the file list alone) and resolves
    the edited file's imports only; the result equals a cold build bit for bit, with the
    same referrer and import-resolution counts."""
    import ripmap.graph as graph_mod

    root = make_rich_repo(tmp_path / "repo")
    with RepoMap(root, use_cache=False, use_git=False) as rm:
        old = rm.graph
    mod = root / "d1" / "mod1.py"
    mod.write_text("from plugins.p1 import setup\nfrom core.utils import compute\n" + mod.read_text()
                   + "\ndef patched_probe():\n    setup()\n    return compute()\n")
    with RepoMap(root, use_cache=False, use_git=False) as rm:
        cold = rm.graph
        tags = rm.index.tags
        resolved: list[str] = []
        real = graph_mod._resolve_import
        monkeypatch.setattr(graph_mod, "_resolve_import",
                            lambda src, *a: resolved.append(src) or real(src, *a))
        patched = patch_graph(old, rm.files, {"d1/mod1.py"}, tags)
    assert resolved and set(resolved) == {"d1/mod1.py"}
    assert cold.I[cold.file_index["d1/mod1.py"]].nnz > old.I[old.file_index["d1/mod1.py"]].nnz
    for a, b in zip((*patched.R, patched.D, patched.I), (*cold.R, cold.D, cold.I)):
        assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
        assert np.array_equal(a.data, b.data)
    assert patched.referrers.tolist() == cold.referrers.tolist()
    assert patched.imported.tolist() == cold.imported.tolist()
