"""History queries and the blend score: recency weights, mixtures and top-k by hand."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from item2vec.exceptions import ParameterError
from item2vec.queries.scoring import (
    PRIOR_EVENTS,
    RECENCY,
    check_histories,
    history_scores,
    recency_weights,
    score_recommender,
    top_k,
    vector_recommender,
)

RNG = np.random.default_rng(7)
E = RNG.standard_normal((6, 3)).astype(np.float32)
B = RNG.standard_normal(6).astype(np.float32)


def softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max())
    return e / e.sum()


def test_recency_weights_halve_per_step_back_and_skip_padding():
    h = np.array([[-1, 4, 2], [-1, -1, 3], [1, 2, 3]])
    w = recency_weights(h)
    np.testing.assert_allclose(w[0], [0, 1 / 3, 2 / 3])
    np.testing.assert_allclose(w[1], [0, 0, 1])
    np.testing.assert_allclose(w[2], np.array([RECENCY**2, RECENCY, 1]) / (1 + 0.5 + 0.25))
    valid = np.array([[False, True, False]] * 3)  # an unknown newest item: the next one leads
    np.testing.assert_allclose(recency_weights(h, valid)[0], [0, 1, 0])


def test_histories_are_checked():
    np.testing.assert_array_equal(check_histories("q", np.array([1, 2]), 6), [[1], [2]])
    with pytest.raises(ParameterError, match=r"q must be vocabulary rows in \[0, 6\) or -1, "
                       r"got 6"):  # fmt: skip
        check_histories("q", np.array([[0, 6]]), 6)
    with pytest.raises(ParameterError, match="q: every history needs at least one item"):
        check_histories("q", np.array([[-1, -1]]), 6)
    with pytest.raises(ParameterError, match=r"q must be rows of shape \(n,\) or histories"):
        check_histories("q", np.zeros((1, 1, 1), int), 6)


def test_log_prob_mixture_by_hand():
    h = np.array([[-1, 1, 4]])
    known = np.ones(6, bool)
    got = history_scores(h, E, B, known=known)[0]
    p1, p4 = softmax(E @ E[1] + B), softmax(E @ E[4] + B)
    np.testing.assert_allclose(got, np.log((p1 + 2 * p4) / 3), rtol=1e-6)


def test_blend_by_hand_and_counts_win_where_dense():
    counts = sp.csr_matrix(np.array([[0, 5, 0, 0, 0, 1]] + [[0] * 6] * 5, float))
    known = np.ones(6, bool)
    got = history_scores(np.array([[0]]), E, B, known=known, counts=counts)[0]
    pm = softmax(E @ E[0] + B)
    want = (counts.toarray()[0] + PRIOR_EVENTS * pm) / (6 + PRIOR_EVENTS)
    np.testing.assert_allclose(got, np.log(want), rtol=1e-6)
    # an item with no counts falls back on the model alone
    alone = history_scores(np.array([[3]]), E, B, known=known, counts=counts)[0]
    np.testing.assert_allclose(alone, np.log(softmax(E @ E[3] + B)), rtol=1e-6)


def test_unknown_rows_are_never_scored_or_used():
    known = np.array([True, True, False, True, True, True])
    got = history_scores(np.array([[2, 1]]), E, B, known=known)[0]
    assert got[2] == -np.inf
    want = np.log(softmax(np.where(known, E @ E[1] + B, -np.inf))[known])
    np.testing.assert_allclose(got[known], want, rtol=1e-6)  # only the known item
    assert np.isneginf(history_scores(np.array([[2]]), E, B, known=known)).all()


def test_recommender_ranks_histories_by_the_mixture_and_excludes_them():
    rec = score_recommender(E, B, np.zeros(6, np.float32), "log_prob")
    h = np.array([[-1, 1, 4], [0, 2, 3]])
    got = rec(h, 3)
    for row, hist in zip(got, h, strict=True):
        s = history_scores(hist[None], E, B, known=np.ones(6, bool))[0]
        s[hist[hist >= 0]] = -np.inf
        assert row.tolist() == np.argsort(-s, kind="stable")[:3].tolist()
    # a history of one item ranks as that item queried alone (1-D)
    np.testing.assert_array_equal(rec(np.array([[1], [4]]), 4), rec(np.array([1, 4]), 4))
    # k beyond the candidates: -1 padding, no history item ever listed
    full = rec(h, 6)
    assert (full[0, 4:] == -1).all() and not np.isin(full[0, :4], [1, 4]).any()


def test_blend_recommender_needs_counts():
    with pytest.raises(ParameterError, match="score='blend' needs the neighbour counts"):
        score_recommender(E, B, np.zeros(6, np.float32), "blend")
    counts = sp.csr_matrix(50 * np.eye(6, k=1))  # 50 events each: far more than the prior's 10
    rec = score_recommender(E, B, np.zeros(6, np.float32), "blend", counts=counts)
    assert rec(np.array([0, 2]), 1).ravel().tolist() == [1, 3]  # the only counted successor


def test_top_k_orders_pads_and_keeps_scores():
    s = np.array([[0.1, 3.0, -np.inf, 2.0]])
    rows, best = top_k(s, 5)
    assert rows.tolist() == [[1, 3, 0, -1, -1]]
    np.testing.assert_allclose(best[0, :3], [3.0, 2.0, 0.1])


def test_cosine_histories_weigh_per_item_cosines():
    rec = vector_recommender(E)
    unit = E / np.linalg.norm(E, axis=1, keepdims=True)
    cos = unit @ unit.T
    want = (cos[1] + 2 * cos[4]) / 3
    want[[1, 4]] = -np.inf
    assert rec(np.array([[1, 4]]), 2)[0].tolist() == np.argsort(-want)[:2].tolist()
