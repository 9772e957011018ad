"""ItemIndex: exact search equals numpy brute force; approximate kinds reach known recall."""

from __future__ import annotations

import hashlib
import json
import warnings

import faiss
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from item2vec.data.datasets import vector_clusters
from item2vec.exceptions import ModelFormatError, ParameterError
from item2vec.queries.index import EXACT_FILTER_FRACTION, ItemIndex


def clustered(n: int, dim: int = 32, n_clusters: int = 50, spread: float = 0.5, seed: int = 0):
    """Seeded gaussian mixture: (vectors (n, dim), queries (50, dim)) from the same clusters."""
    return vector_clusters(
        n, dim=dim, n_clusters=n_clusters, spread=spread, n_queries=50, seed=seed
    )


def all_scores(x, q, metric="cosine"):
    """float64 scores (m, n) of queries against vectors; cosine leaves zero vectors zero."""
    x, q = np.asarray(x, np.float64), np.atleast_2d(np.asarray(q, np.float64))
    if metric == "cosine":
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-300)
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-300)
    return q @ x.T


def brute_force(x, q, k, metric="cosine", eligible=None):
    """numpy top-k: rows (m, k) and float64 scores, best first; ``eligible`` (m, n) bool."""
    s = all_scores(x, q, metric)
    if eligible is not None:
        s[~eligible] = -np.inf
    rows = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return rows, np.take_along_axis(s, rows, 1)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(
        np.mean([len(set(a) & set(b)) / truth.shape[1] for a, b in zip(found, truth, strict=True)])
    )


@pytest.fixture(scope="module")
def data():
    return clustered(4000, seed=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("metric", ["cosine", "ip"])
def test_exact_equals_brute_force(seed, metric):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((500, 16)).astype(np.float32)
    q = rng.standard_normal((20, 16)).astype(np.float32)
    index = ItemIndex(x, metric=metric, kind="exact")
    rows, scores = index.search(q, 10)
    want_rows, want_scores = brute_force(x, q, 10, metric)
    assert rows.shape == scores.shape == (20, 10)
    assert rows.dtype == np.int64 and scores.dtype == np.float32
    np.testing.assert_array_equal(rows, want_rows)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-5, atol=1e-5)
    # 1-D query -> 1-D results; a batch equals the stacked single calls
    singles = [index.search(qi, 10) for qi in q]
    assert singles[0][0].shape == singles[0][1].shape == (10,)
    np.testing.assert_array_equal(np.stack([r for r, _ in singles]), rows)
    np.testing.assert_allclose(np.stack([s for _, s in singles]), scores, rtol=1e-6)


def test_cosine_scores_are_cosines_and_item_finds_itself(data):
    x, _ = data
    rows, scores = ItemIndex(x, kind="exact").search(x[:5] * 3.0, 1)
    np.testing.assert_array_equal(rows[:, 0], np.arange(5))
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)


def test_inner_product_over_augmented_vectors_ranks_by_dot_plus_bias():
    rng = np.random.default_rng(3)
    emb = rng.standard_normal((800, 16)).astype(np.float32)
    bias = (2.0 * rng.standard_normal(800)).astype(np.float32)  # big enough to reorder
    context = rng.integers(0, 800, (30, 3))
    q = emb[context].mean(axis=1)  # (30, 16): mean of the context vectors
    index = ItemIndex(np.hstack([emb, bias[:, None]]), metric="ip", kind="exact")
    rows, scores = index.search(np.hstack([q, np.ones((30, 1), np.float32)]), 10)
    want = q.astype(np.float64) @ emb.T.astype(np.float64) + bias  # q . E[t] + b[t]
    np.testing.assert_array_equal(rows, np.argsort(-want, axis=1, kind="stable")[:, :10])
    np.testing.assert_allclose(scores, np.take_along_axis(want, rows, 1), rtol=1e-4, atol=1e-4)
    assert not np.array_equal(rows, np.argsort(-(q @ emb.T), axis=1)[:, :10])  # bias matters


@pytest.mark.parametrize("kind", ["exact", "hnsw", "ivf", "ivfpq"])
def test_exclude_and_allowed_are_honoured(data, kind):
    x, q = data
    q = q[:6]
    index = ItemIndex(x, kind=kind, nprobe=64, ef_search=128)
    exact = ItemIndex(x, kind="exact")
    top = exact.search(q, 3)[0]
    per_query = [top[i, : i % 3 + 1].tolist() for i in range(6)]  # 1..3 rows each
    padded = np.full((6, 3), -1)
    for i, r in enumerate(per_query):
        padded[i, : len(r)] = r
    allowed = np.arange(0, 4000, 3)
    for excl in (per_query, padded):
        rows, _ = index.search(q, 10, exclude=excl)
        for i in range(6):
            assert not set(rows[i]) & set(per_query[i])
        if kind == "exact":
            mask = np.ones((6, 4000), bool)
            for i, r in enumerate(per_query):
                mask[i, r] = False
            np.testing.assert_array_equal(rows, brute_force(x, q, 10, eligible=mask)[0])
    shared = set(top[:, 0].tolist())
    rows, _ = index.search(q, 10, exclude=shared, allowed=allowed)
    assert np.isin(rows, allowed).all() and not np.isin(rows, list(shared)).any()
    rows, _ = index.search(q[0], 5, exclude=int(top[0, 0]))
    assert top[0, 0] not in rows and rows.shape == (5,)
    # a selective filter (under 5% of rows) is searched exactly: equals the reference
    small = np.arange(100, 160)
    assert len(small) < EXACT_FILTER_FRACTION * len(x)
    rows, _ = index.search(q, 10, allowed=small)
    mask = np.zeros((6, 4000), bool)
    mask[:, small] = True
    np.testing.assert_array_equal(rows, brute_force(x, q, 10, eligible=mask)[0])


def test_ivf_missing_results_are_filled_never_minus_one():
    # 40 tight clusters, 40 lists of ~50 rows, nprobe=1: FAISS finds ~50 of the k=200 asked
    x, q = clustered(2000, dim=16, n_clusters=40, spread=0.05, seed=5)
    index = ItemIndex(x, kind="ivf", nlist=40, nprobe=1)
    raw = index._index.search(index_query(q), 200)[1]
    assert (raw == -1).any()  # the situation under test does happen in FAISS
    rows, scores = index.search(q, 200, exclude=[[i] for i in range(50)])
    assert rows.shape == (50, 200) and (rows >= 0).all()
    assert all(len(set(r)) == 200 for r in rows)
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first
    mask = np.ones((50, 2000), bool)
    mask[np.arange(50), np.arange(50)] = False
    want_rows, want_scores = brute_force(x, q, 200, eligible=mask)
    assert np.mean(rows == want_rows) > 0.99  # tight clusters: near-ties may swap
    np.testing.assert_allclose(scores, want_scores, atol=1e-5)  # but scores are the exact ones


def index_query(q):
    return np.ascontiguousarray(q / np.linalg.norm(q, axis=1, keepdims=True), np.float32)


def test_hnsw_with_filter_never_returns_minus_one(data):
    x, q = data
    index = ItemIndex(x, kind="hnsw", ef_search=16)
    allowed = np.arange(0, 4000, 16)  # 250 rows: HNSW is used, with a selector
    assert len(allowed) > EXACT_FILTER_FRACTION * len(x)
    rows, _ = index.search(q, 50, allowed=allowed)
    assert (rows >= 0).all() and np.isin(rows, allowed).all()


def test_k_is_checked_and_clamped_with_a_warning(data):
    x, q = data
    index = ItemIndex(x[:30], kind="exact")
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ParameterError, match=r"k must be an integer >= 1, got"):
            index.search(q, bad)
    with pytest.warns(UserWarning, match=r"k=50 is more than the 30 eligible rows"):
        rows, _ = index.search(q[0], 50)
    assert sorted(rows) == list(range(30))
    with pytest.warns(UserWarning, match=r"more than the 2 eligible"):
        rows, _ = index.search(q[:2], 5, allowed=[1, 2, 3], exclude=[[1], [2]])
    assert rows.shape == (2, 2) and set(rows[0]) == {2, 3} and set(rows[1]) == {1, 3}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        index.search(q, 30)  # exactly the catalogue: no warning


@pytest.mark.parametrize(
    ("kind", "knobs"),
    [("hnsw", {"ef_search": 64}), ("ivf", {"nprobe": 16}), ("ivfpq", {"nprobe": 16})],
)
def test_approximate_recall_at_10(data, kind, knobs):
    x, q = data
    truth = brute_force(x, q, 10)[0]
    index = ItemIndex(x, kind=kind, **knobs)
    rows, scores = index.search(q, 10)
    assert recall(rows, truth) >= 0.9
    # HNSW/IVF-Flat store floats and ivfpq re-ranks against them: scores are exact cosines
    exact = np.take_along_axis(all_scores(x, q), rows, 1)
    np.testing.assert_allclose(scores, exact, atol=1e-5)
    threads = faiss.omp_get_max_threads()
    one_rows, _ = index.search(q[0], 10)  # a single query runs on one thread ...
    np.testing.assert_array_equal(one_rows, rows[0])
    assert faiss.omp_get_max_threads() == threads  # ... and leaves the setting as it was


def test_ivfpq_without_rerank_and_knob_setters(data):
    x, q = data
    index = ItemIndex(x, kind="ivfpq", rerank=0, nprobe=8)
    rows, _ = index.search(q, 10)
    assert recall(rows, brute_force(x, q, 10)[0]) >= 0.5 and (rows >= 0).all()
    with pytest.raises(ParameterError, match="rerank.*rebuild"):
        index.rerank = 5
    with pytest.raises(ParameterError, match=r"nprobe must be <= nlist \(\d+\), got 100000"):
        index.nprobe = 100_000
    with pytest.raises(ParameterError, match="ef_search must be an integer >= 1, got 0"):
        index.ef_search = 0


def test_auto_is_exact_below_threshold(data):
    x, _ = data
    assert ItemIndex(x).kind == "exact"
    assert ItemIndex(x, auto_threshold=1000).kind == "ivf"


@pytest.mark.parametrize("kind", ["exact", "hnsw", "ivf", "ivfpq"])
def test_save_load_round_trip(tmp_path, data, kind):
    x, q = data
    index = ItemIndex(x, kind=kind, metric="cosine", nprobe=7, ef_search=33)
    path = tmp_path / "items.faiss"
    index.save(path)
    assert json.loads((tmp_path / "items.faiss.json").read_text())["params"]["kind"] == kind
    loaded = ItemIndex.load(path)
    assert (loaded.kind, loaded.metric, loaded.n_items, loaded.dim) == (kind, "cosine", 4000, 32)
    assert (loaded.nprobe, loaded.ef_search) == (7, 33)
    for a, b in zip(
        index.search(q, 10, exclude=[[0]] * 50),
        loaded.search(q, 10, exclude=[[0]] * 50),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


def test_corrupt_or_truncated_files_name_the_file(tmp_path, data):
    x, _ = data
    path = tmp_path / "items.faiss"
    ItemIndex(x[:200], kind="hnsw").save(path)
    sidecar = tmp_path / "items.faiss.json"
    good = sidecar.read_text()
    sidecar.write_text(good.replace('"kind": "hnsw"', '"kind": "ivf"'))
    with pytest.raises(ModelFormatError, match=r"items\.faiss holds a IndexHNSWFlat.*kind='ivf'"):
        ItemIndex.load(path)
    sidecar.write_text(good)
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ModelFormatError, match=r"items\.faiss is truncated or corrupt"):
        ItemIndex.load(path)
    path.write_bytes(blob[:100] + bytes(len(blob) - 100))
    with pytest.raises(ModelFormatError, match=r"items\.faiss is truncated or corrupt"):
        ItemIndex.load(path)
    # garbage whose checksum matches the sidecar: FAISS itself refuses it, and we say which file
    meta = json.loads(sidecar.read_text())
    path.write_bytes(b"not a faiss index at all")
    meta.update(size=path.stat().st_size, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(ModelFormatError, match=r"cannot read FAISS index file .*items\.faiss"):
        ItemIndex.load(path)
    sidecar.write_text("{not json")
    with pytest.raises(ModelFormatError, match=r"index sidecar .*items\.faiss\.json is corrupt"):
        ItemIndex.load(path)
    sidecar.unlink()
    with pytest.raises(ModelFormatError, match=r"items\.faiss\.json does not exist"):
        ItemIndex.load(path)


def test_bad_inputs_raise_clear_errors(data):
    x, q = data
    index = ItemIndex(x[:100], kind="exact")
    with pytest.raises(ParameterError, match=r"queries must have 32 columns.*got shape \(50, 31\)"):
        index.search(q[:, :31], 5)
    bad_q = q.copy()
    bad_q[3, 4] = np.nan
    with pytest.raises(ParameterError, match=r"queries contains NaN or inf \(first in row 3\)"):
        index.search(bad_q, 5)
    bad_x = x[:100].copy()
    bad_x[7, 0] = np.inf
    with pytest.raises(ParameterError, match=r"vectors contains NaN or inf \(first in row 7\)"):
        ItemIndex(bad_x)
    with pytest.raises(ParameterError, match=r"vectors must be non-empty, got shape \(0, 32\)"):
        ItemIndex(np.empty((0, 32)))
    with pytest.raises(ParameterError, match=r"vectors must be 2-D \(n, dim\), got shape \(32,\)"):
        ItemIndex(x[0])
    with pytest.raises(ParameterError, match=r"vectors must be a numeric array, got str"):
        ItemIndex("abc")
    with pytest.raises(ParameterError, match=r"kind must be one of .*got 'annoy'"):
        ItemIndex(x, kind="annoy")
    with pytest.raises(ParameterError, match=r"metric must be one of .*got 'l2'"):
        ItemIndex(x, metric="l2")
    with pytest.raises(ParameterError, match=r"pq_m must divide the vector dim 32, got 5"):
        ItemIndex(x, kind="ivfpq", pq_m=5)
    with pytest.raises(ParameterError, match=r"nlist must be <= the number of vectors \(100\)"):
        ItemIndex(x[:100], kind="ivf", nlist=500)
    with pytest.raises(ParameterError, match=r"exclude rows must be in \[0, 100\), got 100"):
        index.search(q, 5, exclude=[100])
    with pytest.raises(ParameterError, match=r"allowed must hold integer row numbers"):
        index.search(q, 5, allowed=[0.5, 2.0])
    with pytest.raises(ParameterError, match=r"exclude per query must have one entry per query"):
        index.search(q[:3], 5, exclude=[[1], [2]])


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 60),
    k=st.integers(1, 10),
    seed=st.integers(0, 2**16),
    metric=st.sampled_from(["cosine", "ip"]),
)
def test_exact_scores_match_numpy_property(n, k, seed, metric):
    """Whatever the data (duplicates, zeros, ties): exact scores equal numpy's, no -1 leaks."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, (n, 4)).astype(np.float32)  # small ints: many ties and zeros
    q = rng.integers(-2, 3, (3, 4)).astype(np.float32)
    excl = rng.integers(0, n, (3, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        rows, scores = ItemIndex(x, metric=metric, kind="exact").search(q, k, exclude=excl)
    mask = np.ones((3, n), bool)
    mask[np.arange(3)[:, None], excl] = False
    assert rows.shape[1] == min(k, mask.sum(1).min()) and (rows >= 0).all()
    assert np.take_along_axis(mask, rows, 1).all()  # no excluded row
    full = all_scores(x, q, metric)
    np.testing.assert_allclose(scores, np.take_along_axis(full, rows, 1), atol=1e-5)
    best = -np.sort(-np.where(mask, full, -np.inf), axis=1)[:, : rows.shape[1]]
    np.testing.assert_allclose(scores, best, atol=1e-5)


def test_approximate_inner_product_finds_the_top_rows_whatever_their_norms():
    """Rows of very unequal norms (popular items' large biases): IVF clusters by inner
    product miss the top rows unless every row is brought to one norm (equal_norms); the
    scores stay the exact inner products."""
    from item2vec.arrays import equal_norms

    rng = np.random.default_rng(0)
    n, d = 20_000, 16
    x = rng.standard_normal((n, d)).astype(np.float32)
    x *= rng.lognormal(0.0, 1.0, (n, 1)).astype(np.float32)  # norms over two decades
    q = rng.standard_normal((200, d)).astype(np.float32)
    exact = np.argsort(-(q @ x.T), axis=1)[:, :10]
    index = ItemIndex(x, metric="ip", kind="ivf", nprobe=4)
    assert index.params.augmented and index.dim == d
    rows, scores = index.search(q, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(rows, exact)])
    assert recall > 0.9
    np.testing.assert_allclose(scores, np.take_along_axis(q @ x.T, rows, 1), rtol=1e-4, atol=1e-4)
    a = equal_norms(x)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), np.linalg.norm(x, axis=1).max(), 1e-4)
    assert not ItemIndex(x, metric="ip", kind="exact").params.augmented
