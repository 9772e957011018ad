"""The query engine's parts with known answers: normalisers, candidate lists, filters, indexes."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import scipy.sparse as sp

from item2vec.exceptions import ModelFormatError
from item2vec.queries import recommend as rec_mod
from item2vec.queries.candidates import count_tops, count_values, merge, mixture_scores
from item2vec.queries.filters import clamp_k, eligible_rows
from item2vec.queries.index import ItemIndex
from item2vec.queries.normaliser import Normalisers, RowCache
from item2vec.queries.recommend import QueryEngine, pad_histories
from item2vec.queries.scoring import history_scores, recency_weights

RNG = np.random.default_rng(3)
N, D = 300, 8
E = (RNG.standard_normal((N, D)) * 0.6).astype(np.float32)
B = RNG.standard_normal(N).astype(np.float32)


def lse(x: np.ndarray) -> float:
    return float(x.max() + np.log(np.exp(x - x.max()).sum()))


def test_normalisers_are_the_log_sum_exp_and_computed_once():
    z = Normalisers(E, B, lambda r: np.full((len(r), 1), -1))
    rows = np.array([5, 7, 5, 0])
    got = z.get(rows)
    s = (E.astype(np.float64) @ E.T.astype(np.float64)) + B
    np.testing.assert_allclose(got, [lse(s[r]) for r in rows], rtol=1e-6)
    assert z.exact and z.computed == 3
    z.get(np.array([7, 0]))
    assert z.computed == 3  # cached
    z.get(np.array([1]))
    assert z.computed == 4


def test_estimated_normaliser_is_exact_where_it_sees_every_item():
    tops = lambda r: np.argsort(-(E[r] @ E.T + B), axis=1)[:, :5]  # noqa: E731
    z = Normalisers(E, B, tops, exact_items=0, head=100, sample=N)  # head + sample = all
    s = (E.astype(np.float64) @ E.T.astype(np.float64)) + B
    np.testing.assert_allclose(z.get(np.arange(10)), [lse(s[r]) for r in range(10)], rtol=1e-6)


def test_estimated_normaliser_of_a_flat_distribution_is_log_n():
    flat = np.zeros((1000, 4), np.float32)
    tops = lambda r: np.arange(3)[None].repeat(len(r), 0)  # noqa: E731
    z = Normalisers(flat, np.zeros(1000, np.float32), tops, exact_items=0, head=10, sample=50)
    np.testing.assert_allclose(z.get(np.array([0, 999])), np.log(1000.0), rtol=1e-12)


def test_estimated_normaliser_gets_closer_with_a_larger_sample():
    tops = lambda r: np.argsort(-(E[r] @ E.T + B), axis=1)[:, :16]  # noqa: E731
    s = (E.astype(np.float64) @ E.T.astype(np.float64)) + B
    exact = np.array([lse(s[r]) for r in range(N)])
    errors = []
    for sample in (50, 200, 279):  # of the 280 items outside the head
        z = Normalisers(E, B, tops, exact_items=0, head=20, sample=sample)
        errors.append(np.abs(z.get(np.arange(N)) - exact).mean())
    assert errors[0] > errors[1] > errors[2] and errors[0] < 0.06 and errors[2] < 0.002


def test_row_cache_computes_each_row_once_and_stays_bounded():
    calls = []

    def compute(rows):
        calls.append(rows.tolist())
        return np.stack([rows, rows + 1], axis=1)

    cache = RowCache(100, 3, compute, capacity=4)
    np.testing.assert_array_equal(cache.get(np.array([2, 1, 2])), [[2, 3, -1], [1, 2, -1]] * 1
                                  + [[2, 3, -1]])  # fmt: skip
    cache.get(np.array([1, 2]))
    assert calls == [[1, 2]]
    cache.get(np.array([10, 11, 12]))  # 2 + 3 > 4: emptied, then filled again
    assert cache._used <= cache.capacity == 4
    np.testing.assert_array_equal(cache.get(np.array([12])), [[12, 13, -1]])


def test_count_tops_and_values_by_hand():
    c = sp.csr_matrix(np.array([[0, 3, 1, 3], [0, 0, 0, 0], [5, 0, 0, 2], [1, 1, 1, 1.0]]))
    np.testing.assert_array_equal(count_tops(c, np.array([0, 1, 2]), 2), [[1, 3], [-1, -1], [0, 3]])
    hist = np.array([[-1, 0], [2, 3]])
    cand = np.array([[1, 2, -1], [0, 3, 1]])
    v = count_values(c, hist, cand)
    np.testing.assert_array_equal(v[0], [[0, 0, 0], [3, 1, 0]])
    np.testing.assert_array_equal(v[1], [[5, 2, 0], [1, 1, 1]])


def test_merge_keeps_each_row_once():
    got = merge(np.array([[3, 1, -1], [2, 2, 2]]), np.array([[1, 5], [-1, -1]]))
    assert [sorted(r[r >= 0].tolist()) for r in got] == [[1, 3, 5], [2]]
    assert got.shape == (2, 3) and (got[1, 1:] == -1).all()


def test_mixture_scores_on_candidates_are_the_exhaustive_ones():
    hist = np.array([[-1, 4, 9], [3, 2, 1]])
    counts = sp.random(N, N, density=0.05, random_state=1, format="csr") * 10
    z = Normalisers(E, B, lambda r: None).get(np.maximum(hist, 0).ravel()).reshape(hist.shape)
    cand = np.array([[0, 7, 50, -1], [8, 100, 299, 5]])
    for c in (None, counts):
        full = history_scores(hist, E, B, known=np.ones(N, bool), counts=c)
        got = mixture_scores(
            hist,
            recency_weights(hist),
            cand,
            E,
            B.astype(np.float64),
            z,
            counts=c,
            sums=None if c is None else np.asarray(c.sum(1)).ravel(),
        )
        want = np.take_along_axis(full, np.maximum(cand, 0), axis=1)
        np.testing.assert_allclose(got[cand >= 0], want[cand >= 0], rtol=1e-6)
        assert np.isneginf(got[cand < 0]).all()


def test_clamp_and_eligible_rows():
    with pytest.warns(UserWarning, match="k=5 is more than the 3 eligible rows; returning 3"):
        assert clamp_k(5, 3) == 3
    assert clamp_k(2, 3) == 2
    el = eligible_rows(
        10, np.array([1, 2, 3, 4]), np.array([4]), np.array([[1, 1, -1], [9, -1, -1]])
    )
    assert el.rows.tolist() == [1, 2, 3] and el.limit == 2  # 1 counted once, 9 not allowed
    assert eligible_rows(10, None, None, None).limit == 10


def test_pad_histories_pads_on_the_left():
    np.testing.assert_array_equal(pad_histories([np.array([1, 2]), np.array([3])]),
                                  [[1, 2], [-1, 3]])  # fmt: skip


def test_an_index_is_built_once_under_threads(monkeypatch):
    built = []
    real = ItemIndex.__init__

    def counting(self, *a, **kw):
        built.append(1)
        real(self, *a, **kw)

    monkeypatch.setattr(ItemIndex, "__init__", counting)
    eng = QueryEngine(E, B, np.zeros(N, np.float32), kind="exact")
    barrier = threading.Barrier(6)
    got = []

    def ask():
        barrier.wait()
        got.append(eng.index("log_prob"))

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(built) == 1 and all(g is got[0] for g in got) and eng.built == ["log_prob"]


def test_saved_indexes_come_back_or_are_refused():
    eng = QueryEngine(E, B, np.zeros(N, np.float32), kind="ivf", all_items=0)
    assert eng.built == []
    arrays = eng.index_arrays("blend")  # similar's and blend's indexes: built now, stored
    assert sorted(arrays) == ["index_cosine", "index_cosine_meta", "index_log_prob",
                              "index_log_prob_meta"]  # fmt: skip
    again = QueryEngine(E, B, np.zeros(N, np.float32), kind="ivf", all_items=0)
    again.adopt(arrays, "m")
    assert again.built == ["cosine", "log_prob"]
    q = np.hstack([E[:3], np.ones((3, 1), np.float32)])
    np.testing.assert_array_equal(again.index("log_prob").search(q, 5)[0],
                                  eng.index("log_prob").search(q, 5)[0])  # fmt: skip
    other = QueryEngine(E + 1, B, np.zeros(N, np.float32), kind="ivf")
    with pytest.warns(UserWarning, match="m: index 'log_prob' does not match the vectors"):
        other.adopt({k: v for k, v in arrays.items() if "log_prob" in k}, "m")
    assert other.built == []
    with pytest.raises(ModelFormatError, match="m: index 'log_prob' has no valid metadata"):
        other.adopt({"index_log_prob": arrays["index_log_prob"],
                     "index_log_prob_meta": np.frombuffer(b"{", np.uint8)}, "m")  # fmt: skip
    bad = {**arrays, "index_log_prob": np.zeros(10, np.uint8)}
    with pytest.raises(ModelFormatError, match="m: index 'log_prob' is not a FAISS index"):
        again.adopt(bad, "m")


def test_exact_indexes_are_not_stored_and_none_is_built_where_unused():
    eng = QueryEngine(E, B, np.zeros(N, np.float32), kind="auto")  # N <= ALL_ITEMS
    assert eng.index_arrays("blend") == {} and eng.built == []
    eng.recommend([np.array([1, 2])], 5, "log_prob")
    assert eng.built == []  # every item is a candidate: no index searched
    eng.recommend([np.array([1, 2])], 5, "logit")
    assert eng.built == []
    eng.similar(np.array([1]), 3, None, None)
    assert eng.built == ["cosine"]


def test_chunks_bound_the_memory(monkeypatch):
    eng = QueryEngine(E, B, np.zeros(N, np.float32), kind="exact", all_items=0)
    width, dim = 5, D
    for score in ("blend", "log_prob", "logit", "cosine"):
        step = eng.chunk_size(width, score)
        assert step * eng._max_candidates(width, score, None) * (dim + 2 * width) <= (
            rec_mod.CHUNK_FLOATS
        )
    # log_prob's candidates: the index search and each item's own tops (no count neighbours)
    monkeypatch.setattr(rec_mod, "CHUNK_FLOATS", 4 * (
        rec_mod.INDEX_CANDIDATES + 2 * rec_mod.ITEM_CANDIDATES) * (D + 4))  # fmt: skip
    sizes = []
    real = eng._chunk
    monkeypatch.setattr(eng, "_chunk", lambda h, *a: sizes.append(len(h)) or real(h, *a))
    eng.recommend([np.array([i, i + 1]) for i in range(10)], 3, "log_prob")
    assert sizes == [4, 4, 2]


@pytest.mark.parametrize("score", ["logit", "cosine"])
def test_logit_and_cosine_candidates_hold_each_history_items_own_tops(score):
    eng = QueryEngine(E, B, np.zeros(N, np.float32), kind="exact", all_items=0)
    hist = np.array([[-1, 4, 9], [2, 7, 11]])
    el = eligible_rows(N, None, None, hist)
    cand = eng._candidates(hist, 5, score, el)
    e64 = E.astype(np.float64)
    for h, c in zip(hist, cand, strict=True):
        for r in h[h >= 0]:
            if score == "logit":
                s = e64 @ e64[r] + B
            else:
                s = (e64 / np.linalg.norm(e64, axis=1)[:, None]) @ (e64[r] / np.linalg.norm(e64[r]))
            own = np.argsort(-s, kind="stable")[: rec_mod.ITEM_CANDIDATES]
            assert set(own) <= set(c.tolist())  # its own top items by that score
    got = eng.recommend(list(hist[:, 1:]), 5, score)
    want = eng.recommend(list(hist[:, 1:]), 5, score, exact=True)
    np.testing.assert_array_equal(got[0], want[0])
