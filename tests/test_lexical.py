"""Field-aware lexical retrieval, test↔source pairing and targeted co-change rules."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from ripmap.cache.blobs import decode_git, decode_lexical, encode_git, encode_lexical
from ripmap.extract.tags import Tag
from ripmap.gitinfo import GitSignals
from ripmap.rank.lexical import LexicalIndex, stem_all
from ripmap.rank.pairing import paired_with, pairing_matrix, subject


def _tag(name: str, kind: str = "function", sig: str = "", parent: str | None = None, line: int = 1) -> Tag:
    return Tag._make((line, name, True, kind, line + 3, parent, sig or f"def {name}()"))


def _index(files: dict[str, list[Tag]], refs: dict[str, list[str]] | None = None) -> tuple[LexicalIndex, list[str]]:
    rels = sorted(files)
    names = sorted({t.name for ts in files.values() for t in ts} | {n for r in (refs or {}).values() for n in r})
    ni = {n: i for i, n in enumerate(names)}
    D = sp.lil_matrix((len(names), len(rels)))
    R = sp.lil_matrix((len(rels), len(names)))
    for j, rel in enumerate(rels):
        for t in files[rel]:
            D[ni[t.name], j] = 1
        for n in (refs or {}).get(rel, ()):
            R[j, ni[n]] += 1
    return LexicalIndex.build(rels, names, D.tocsr(), R.tocsr(), {r: files[r] for r in rels}), rels


def _rank(lx: LexicalIndex, rels: list[str], words: list[str]) -> list[str]:
    ids, w = lx.query_vector([(t, 1.0) for t in words])
    s = lx.scores(ids, w)
    return [rels[i] for i in np.lexsort((np.arange(len(rels)), -s)) if s[i] > 0]


def test_defined_names_beat_mere_use_and_stemming_joins_forms():
    lx, rels = _index({
        "net/cookies.py": [_tag("parse_cookie"), _tag("CookieJar", "class")],
        "app/views.py": [_tag("index"), _tag("render_page")],
    }, refs={"app/views.py": ["parse_cookie", "CookieJar"]})
    # "parsing cookies" matches parse_cookie/CookieJar by stem; the definer wins over the user
    assert _rank(lx, rels, ["parsing", "cookies"])[0] == "net/cookies.py"
    assert stem_all(["parsing", "parses"]) == stem_all(["parse", "parse"])


def test_long_file_does_not_win_by_length():
    many = [_tag(f"helper_{i}_thing") for i in range(200)] + [_tag("token_store")]
    lx, rels = _index({
        "big/everything.py": many + [_tag("refresh_misc")],
        "auth/refresh.py": [_tag("refresh_token"), _tag("TokenRefresher", "class")],
    })
    assert _rank(lx, rels, ["refresh", "token"])[0] == "auth/refresh.py"


def test_path_words_count():
    lx, rels = _index({"src/billing/invoice.py": [_tag("make")], "src/misc/other.py": [_tag("invoice_note")]})
    assert _rank(lx, rels, ["billing", "invoice"])[0] == "src/billing/invoice.py"


def test_signature_words_are_searchable():
    lx, rels = _index({"a.py": [_tag("send", sig="def send(request, timeout: Timeout)")], "b.py": [_tag("other")]})
    assert _rank(lx, rels, ["timeout"]) == ["a.py"]


def test_chat_file_terms_find_related_file():
    lx, rels = _index({
        "auth/session.py": [_tag("Session", "class"), _tag("refresh_session_token")],
        "auth/token.py": [_tag("SessionToken", "class"), _tag("refresh_token")],
        "misc/colors.py": [_tag("paint"), _tag("rainbow")],
    })
    ids, w = lx.file_terms([rels.index("auth/session.py")])
    s = lx.scores(ids, w)
    assert s[rels.index("auth/token.py")] > s[rels.index("misc/colors.py")]


def test_index_round_trips_bytes():
    lx, rels = _index({"a.py": [_tag("alpha_beta")], "b.py": [_tag("gamma")]})
    back = decode_lexical(encode_lexical(lx))
    ids, w = back.query_vector([("alpha", 1.0)])
    assert np.allclose(back.scores(ids, w), lx.scores(*lx.query_vector([("alpha", 1.0)])))


def test_subjects_of_test_conventions():
    assert subject("tests/test_cli.py") == ("cli", True)
    assert subject("pkg/server_test.go") == ("server", True)
    assert subject("src/test/java/a/GsonBuilderTest.java") == ("gsonbuilder", True)
    assert subject("src/router.spec.ts") == ("router", True)
    assert subject("spec/rack_spec.rb") == ("rack", True)
    assert subject("src/cli.py") == ("cli", False)
    assert subject("test/spec_request.rb") == ("request", True)  # rack's bacon-style names
    assert subject("src/logging_unittest.cc") == ("logging", True)  # googletest's
    assert subject("httpx/_client.py") == ("client", False)  # a private module is what test_client tests
    assert subject("pkg/__init__.py") == ("__init__", False)  # a dunder name is not private


def test_pairing_knows_spec_prefixes_unittests_and_private_modules():
    files = ["lib/rack/request.rb", "test/spec_request.rb", "src/logging.cc", "src/logging_unittest.cc",
             "httpx/_client.py", "tests/test_client.py", "spec/spec_helper.rb"]
    P = pairing_matrix(files).toarray()
    assert P[0, 1] == P[1, 0] == 1.0
    assert P[2, 3] == P[3, 2] == 1.0
    assert P[4, 5] == P[5, 4] == 1.0
    assert not P[6].any()  # a spec helper has no source named helper here


def test_pairing_prefers_the_closest_source():
    files = ["a/cli.py", "b/cli.py", "a/tests/test_cli.py", "other.py"]
    P = pairing_matrix(files)
    assert P[2, 0] > 0 and P[0, 2] > 0 and P[2, 1] == 0 and P[3].nnz == 0
    seeds = np.zeros(4)
    seeds[0] = 1.0
    got = paired_with(P, seeds)
    assert got[2] > 0 and got[1] == 0 and got[3] == 0


def _git(rows: list[list[int]], ages: list[float], nfiles: int, sizes: list[int] | None = None) -> GitSignals:
    data, ri, ci = [], [], []
    for r, cols in enumerate(rows):
        for c in cols:
            ri.append(r)
            ci.append(c)
            data.append(1.0)
    m = sp.csr_matrix((data, (ri, ci)), shape=(len(rows), nfiles))
    return GitSignals(files=tuple(f"f{i}.py" for i in range(nfiles)), age_days=np.zeros(nfiles),
                      churn=np.asarray(m.sum(axis=0)).ravel().astype(int), commit_files=m,
                      commit_age=np.asarray(ages, float), commit_size=np.asarray(sizes or [len(r) for r in rows], float))


def test_association_combines_rules_and_weights_recency():
    # seed 0 changed with 1 three times long ago, with 2 once recently
    g = _git([[0, 1], [0, 1], [0, 1], [0, 2]], ages=[900, 900, 900, 1], nfiles=4)
    q = np.array([1.0, 0, 0, 0])
    slow = g.association_vector(q, half_life_days=10_000, prior=0.0)
    fast = g.association_vector(q, half_life_days=30, prior=0.0)
    assert slow[1] > slow[2] > 0 and fast[2] > fast[1]
    assert slow[0] == 0 and slow[3] == 0  # never evidence for itself; unrelated stays 0
    # aggregated confidence: the recency-weighted share of the seed's commits that touched f1
    w_old, w_new = 2 ** (-900 / 10_000), 2 ** (-1 / 10_000)
    assert abs(slow[1] - 3 * w_old / (3 * w_old + w_new)) < 1e-9
    # the prior shrinks thin evidence more than plentiful evidence
    thin = _git([[0, 1]], ages=[0], nfiles=2).association_vector(np.array([1.0, 0]), prior=1.0)
    thick = _git([[0, 1]] * 5, ages=[0] * 5, nfiles=2).association_vector(np.array([1.0, 0]), prior=1.0)
    assert abs(thin[1] - 1 / 2) < 1e-9 and abs(thick[1] - 5 / 6) < 1e-9


def test_association_discounts_large_commits():
    g = _git([[0, 1], [0, 2, 3, 4, 5, 6]], ages=[0, 0], nfiles=7)
    q = np.array([1.0, 0, 0, 0, 0, 0, 0])
    flat = g.association_vector(q, size_exponent=0.0)
    steep = g.association_vector(q, size_exponent=1.0)
    assert flat[1] == flat[2] and steep[1] > steep[2]


def test_association_survives_the_cache_and_restrict():
    g = _git([[0, 1], [1, 2]], ages=[5, 7], nfiles=3)
    back = decode_git(encode_git(g))
    assert np.array_equal(back.commit_age, g.commit_age) and np.array_equal(back.commit_size, g.commit_size)
    r = g.restrict(["f1.py", "f2.py"])
    assert list(r.commit_age) == [5.0, 7.0] and list(r.commit_size) == [2.0, 2.0]


def test_scores_are_bm25f_of_the_stored_counts_worked_out_densely():
    # the index keeps counts and weighs a query's postings; an independent dense
    # computation of the documented formula must give the same scores and file terms
    from ripmap.rank.lexical import FILE_FIELDS, K1

    lx, rels = _index({
        "auth/session.py": [_tag("SessionStore", "class"), _tag("load_session"), _tag("token_for")],
        "auth/token.py": [_tag("SessionToken", "class"), _tag("refresh_token")],
        "misc/colors.py": [_tag("paint"), _tag("rainbow"), _tag("paint_session")],
    }, refs={"misc/colors.py": ["refresh_token"], "auth/session.py": ["SessionToken", "refresh_token"]})
    n = len(rels)
    tf = np.zeros((n, len(lx.vocab)))
    for m, (_name, w, b) in zip(lx.counts.fields, FILE_FIELDS):
        dense = m.toarray()
        ln = dense.sum(axis=1)
        norm = 1.0 - b + b * ln / (ln[ln > 0].mean() if (ln > 0).any() else 1.0)  # an empty field: no length
        tf += w * dense / norm[:, None]
    df = (tf > 0).sum(axis=0)
    idf = np.log1p((n - df + 0.5) / (df + 0.5))
    weight = np.where(tf > 0, tf / (K1 + tf), 0.0) * idf
    ids, w = lx.query_vector([("session", 1.0), ("token", 0.5), ("paint", 2.0)])
    raw = weight[:, ids] @ w
    assert np.allclose(lx.scores(ids, w), raw / raw.max())
    t_ids, t_w = lx.file_terms([0, 2])
    expect = weight[[0, 2]].max(axis=0)
    assert t_ids.tolist() == np.flatnonzero(expect).tolist()
    assert np.allclose(t_w, expect[t_ids] / expect.max())
    assert lx.file_df.tolist() == df.tolist()


@pytest.mark.parametrize("eager", [True, False])
def test_every_way_of_weighing_a_query_gives_the_same_bits(monkeypatch, eager):
    # a first query scans the postings, later ones read columns (and a small index its
    # whole weight matrix), terms already weighed come from memory: all must agree exactly
    import ripmap.rank.lexical as lexical

    monkeypatch.setattr(lexical, "EAGER_ENTRIES", 10**9 if eager else 0)
    monkeypatch.setattr(lexical, "TERM_MEMO", 40)  # let go of memos along the way too
    files = {f"pkg/m{i}.py": [_tag(f"load_{w}"), _tag(f"{w}Store", "class"), _tag(f"save_{w}_session")]
             for i, w in enumerate(["user", "token", "session", "cart", "order", "user_token"])}
    queries = [[("session", 1.0), ("token", 0.5)], [("user", 2.0), ("store", 1.0), ("session", 0.3)],
               [("load", 1.0)], [("token", 0.5), ("session", 1.0), ("cart", 1.5)]]

    def fresh_scores(q):
        lx, _ = _index(files)
        return lx.scores_and_chunks(*lx.query_vector(q))

    lx, _ = _index(files)
    for _round in range(2):
        for q in queries:
            got = lx.scores_and_chunks(*lx.query_vector(q))
            want = fresh_scores(q)
            assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1]) and got[2] == want[2]
    assert (lx._files._matrix is not None) == eager
    assert eager or lx._files._columns is not None


@pytest.mark.parametrize("eager", [True, False])
def test_an_index_warmed_ahead_answers_its_first_query_from_columns_with_the_same_bits(monkeypatch, eager):
    # a server warms the index between calls: the first query then reads the weight matrix
    # (small index) or the columns (large) instead of scanning every posting, to the bit
    import ripmap.rank.lexical as lexical

    monkeypatch.setattr(lexical, "EAGER_ENTRIES", 10**9 if eager else 0)
    files = {f"pkg/m{i}.py": [_tag(f"load_{w}"), _tag(f"{w}Store", "class"), _tag(f"save_{w}_session")]
             for i, w in enumerate(["user", "token", "session", "cart"])}
    q = [("session", 1.0), ("token", 0.5), ("cart", 2.0)]
    cold, _ = _index(files)
    warm, _ = _index(files)
    warm.warm()
    assert (warm._files._matrix is not None) == eager
    assert (warm._files._columns is not None) == (not eager)
    scans = []
    orig = lexical._Bm25._weigh

    def weigh(self, ids):
        scans.append(self._columns is None and self._matrix is None)
        return orig(self, ids)
    monkeypatch.setattr(lexical._Bm25, "_weigh", weigh)
    got = warm.scores_and_chunks(*warm.query_vector(q))
    assert not any(scans)  # nothing was read posting by posting
    want = cold.scores_and_chunks(*cold.query_vector(q))
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1]) and got[2] == want[2]
    assert cold._files._columns is None and cold._files._matrix is None  # the first query scanned


def test_rows_are_stacked_and_ordered_as_a_stack_and_a_take_would():
    # the patch copies runs of rows as slices; any keep/fresh/order must equal vstack + take
    from ripmap.rank.lexical import _stacked

    rng = np.random.default_rng(3)
    old = sp.random(40, 30, density=0.2, random_state=1, format="csr")
    old.data = np.round(old.data * 5) + 1
    fresh = sp.random(6, 33, density=0.3, random_state=2, format="csr")
    for _ in range(20):
        keep = np.sort(rng.choice(40, size=int(rng.integers(0, 41)), replace=False))
        order = rng.permutation(keep.size + 6) if rng.random() < 0.5 else np.arange(keep.size + 6)
        kept = old[keep]
        kept.resize((keep.size, 33))
        want = sp.vstack([kept, fresh], format="csr")[order]
        got = _stacked(old, keep, fresh, 33, order)
        assert got.shape == want.shape and (got != want).nnz == 0
        assert np.array_equal(got.indptr, want.indptr) and np.array_equal(got.data, want.data)


def test_an_index_built_in_batches_of_files_equals_one_built_at_once(monkeypatch):
    import ripmap.rank.lexical as lexical

    files = {f"pkg/m{i}.py": [_tag(f"load_{w}"), _tag(f"{w}Store", "class")]
             for i, w in enumerate(["user", "token", "session", "cart", "order"])}
    whole, _ = _index(files)
    monkeypatch.setattr(lexical, "_BUILD_BATCH", 2)
    batched, _ = _index(files)
    assert batched.vocab == whole.vocab and np.array_equal(batched.chunk_file, whole.chunk_file)
    for a, b in zip((*batched.counts.fields, *batched.counts.cfields), (*whole.counts.fields, *whole.counts.cfields)):
        assert a.shape == b.shape and (a != b).nnz == 0


def test_remembered_identifier_splits_give_the_index_of_fresh_splits(monkeypatch):
    # a build remembers how each identifier splits (signatures repeat them); a memory that
    # starts over every few identifiers, or none at all, must give the same counts
    import ripmap.rank.lexical as lexical

    files = {f"pkg/m{i}.py": [_tag(f"load_{w}", sig=f"def load_{w}(self, store: {w.title()}Store, n: int) -> LoadResult"),
                              _tag(f"{w}Store", "class", sig=f"class {w.title()}Store(BaseStore):"),
                              _tag("parse", parent=f"{w}Store", sig="def parse(self, rawData: bytes) -> ParsedLoad")]
             for i, w in enumerate(["user", "token", "session", "cart", "order"])}
    kept, _ = _index(files)
    monkeypatch.setattr(lexical._Vocab, "WORDS_KEPT", 2)
    forgetful, _ = _index(files)
    monkeypatch.setattr(lexical._Vocab, "words", lambda self, ident: lexical.split_identifier(ident))
    fresh, _ = _index(files)
    for other in (forgetful, fresh):
        assert other.vocab == kept.vocab
        for a, b in zip((*other.counts.fields, *other.counts.cfields), (*kept.counts.fields, *kept.counts.cfields)):
            assert a.shape == b.shape and (a != b).nnz == 0
    sig = kept.counts.cfields[1]  # the signature words of each definition, without its own name
    assert sig.nnz and "store" in kept.vocab and "result" in kept.vocab
