"""Field-aware lexical retrieval, test↔source pairing and targeted co-change rules."""
from __future__ import annotations

import numpy as np
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
