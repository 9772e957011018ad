"""recommend / recommend_batch through the query engine: exact on candidates, one ranking per
score with evaluate, filters, batches, saved indexes and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from item2vec import Item2Vec
from item2vec.checks import SCORES
from item2vec.data import datasets
from item2vec.data.split import next_event_split
from item2vec.evaluation.recommenders import model_recommender
from item2vec.exceptions import ParameterError, UnknownItemError
from item2vec.queries import recommend as rec_mod
from item2vec.queries.index import ItemIndex
from item2vec.queries.recommend import QueryEngine


@pytest.fixture(scope="module")
def split():
    walks = datasets.synthetic(
        n_items=120, n_clusters=6, n_sessions=2000, mean_length=6, successors=2, seed=0
    )
    return next_event_split(walks.sessions, seed=0, history=5)


@pytest.fixture(scope="module")
def model(split) -> Item2Vec:
    return Item2Vec(dim=16, window=2, epochs=5, workers=1, progress=False, seed=0).fit(split.train)


def ids_of(model: Item2Vec, rows: np.ndarray) -> list[list]:
    return [model.vocabulary_.ids[r[r >= 0]].tolist() for r in rows]


@pytest.mark.parametrize("score", SCORES)
def test_recommend_ranks_as_evaluate_on_multi_item_histories(model, split, score):
    hist = split.histories[:150]
    assert (np.sum(hist >= 0, axis=1) > 1).mean() > 0.9
    ranked = model_recommender(model, split.train, score)(hist, 10)  # what evaluate ranks
    exact_ids, exact_scores = model.recommend_batch(ids_of(model, hist), 10, score=score,
                                                    exact=True)  # fmt: skip
    np.testing.assert_array_equal(model.vocabulary_.encode(exact_ids.ravel().tolist()),
                                  ranked.ravel())  # fmt: skip
    got_ids, got_scores = model.recommend_batch(ids_of(model, hist), 10, score=score)
    np.testing.assert_allclose(got_scores, exact_scores, rtol=1e-5, atol=1e-6)
    assert (got_ids == exact_ids).mean() > 0.99  # the same lists, up to float ties


def test_candidate_answers_are_the_exhaustive_ones_on_planted_tables():
    rng = np.random.default_rng(0)
    n, d = 3000, 16  # more than ALL_ITEMS: candidates, not every item
    vectors = (rng.standard_normal((n, d)) * 0.5).astype(np.float32)
    biases = rng.standard_normal(n).astype(np.float32)
    prior = (rng.standard_normal(n) * 0.3).astype(np.float32)
    r, c = rng.integers(0, n, 30_000), rng.integers(0, n, 30_000)
    counts = sp.csr_matrix((np.ones(30_000), (r, c)), shape=(n, n))
    engine = QueryEngine(vectors, biases, prior, kind="exact")
    histories = [rng.integers(0, n, rng.integers(1, 6)) for _ in range(120)]
    for score in SCORES:
        got = engine.recommend(histories, 10, score, counts=counts)
        want = engine.recommend(histories, 10, score, counts=counts, exact=True)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_allclose(got[1], want[1], rtol=1e-5)
    assert engine.normalisers.computed == len(np.unique(np.concatenate(histories)))


def test_candidate_path_through_the_estimator(model, split, monkeypatch):
    monkeypatch.setattr(rec_mod, "ALL_ITEMS", 0)
    model._set_weights(model.item_vectors_, model.item_biases_)  # a new engine
    try:
        hist = ids_of(model, split.histories[:80])
        for score in SCORES:
            got = model.recommend_batch(hist, 10, score=score)
            want = model.recommend_batch(hist, 10, score=score, exact=True)
            np.testing.assert_array_equal(got[0], want[0])
        assert model._query_engine().built == ["cosine", "log_prob", "logit"]
    finally:
        monkeypatch.undo()
        model._set_weights(model.item_vectors_, model.item_biases_)


def test_batch_equals_single_calls(model, split):
    hist = ids_of(model, split.histories[:30])
    for score in SCORES:
        ids, scores = model.recommend_batch(hist, 7, score=score)
        for i, h in enumerate(hist):
            one_ids, one_scores = model.recommend(h, 7, score=score)
            np.testing.assert_array_equal(one_ids, ids[i])
            np.testing.assert_allclose(one_scores, scores[i], rtol=1e-6)


def test_allowed_exclude_and_exclude_context(model):
    v = model.vocabulary_.ids
    history = v[[3, 8, 5]].tolist()
    allowed = v[10:40].tolist()
    for score in SCORES:
        ids, _ = model.recommend(history, 5, allowed=allowed, score=score)
        assert set(ids) <= set(allowed)
        want = model.recommend(history, 5, allowed=allowed, score=score, exact=True)[0]
        np.testing.assert_array_equal(ids, want)
        top = model.recommend(history, 3, score=score)[0]
        ids, _ = model.recommend(history, 5, exclude=top, score=score)
        assert not set(ids) & set(top) and not set(ids) & set(history)
        kept = model.recommend(history, 5, exclude_context=False, score=score)[0]
        want = model.recommend(history, 5, exclude_context=False, score=score, exact=True)[0]
        np.testing.assert_array_equal(kept, want)
    itself = model.recommend(v[3], 1, exclude_context=False, score="cosine")
    assert itself[0][0] == v[3] and abs(itself[1][0] - 1) < 1e-5


def test_k_above_the_eligible_rows_is_clamped_once(model):
    v = model.vocabulary_.ids
    with pytest.warns(UserWarning, match="k=10 is more than the 2 eligible rows; returning 2"):
        ids, scores = model.recommend(v[[1, 2]].tolist(), 10, allowed=v[[1, 2, 3, 4]].tolist())
    assert ids.tolist() == [v[3], v[4]] or set(ids) == {v[3], v[4]}
    assert scores.shape == (2,)


def test_bad_queries_name_the_problem(model):
    v = model.vocabulary_.ids
    with pytest.raises(ParameterError, match="histories is empty: give at least one history"):
        model.recommend_batch([], 5)
    with pytest.raises(ParameterError, match="items is empty: give at least one item id"):
        model.recommend_batch([[v[0]], []], 5)
    with pytest.raises(UnknownItemError, match="unknown item 'nope'"):
        model.recommend(["nope"], 5)
    with pytest.raises(UnknownItemError, match="unknown item 'nope'"):
        model.recommend([v[0]], 5, allowed=["nope"])
    with pytest.raises(UnknownItemError, match="unknown item 'nope'"):
        model.recommend([v[0]], 5, exclude=["nope"])
    with pytest.raises(ParameterError, match=r"k must be an integer >= 1, got 0"):
        model.recommend_batch([[v[0]]], 0)
    with pytest.raises(ParameterError, match="score must be one of 'cosine', 'logit'"):
        model.recommend_batch([[v[0]]], 3, score="dot")
    bare = Item2Vec.__new__(Item2Vec)
    bare.__dict__.update(model.__dict__)
    bare.neighbour_counts_ = None
    assert bare.default_score_ == "log_prob"
    with pytest.raises(ParameterError, match="score='blend' needs the neighbour counts"):
        bare.recommend([v[0]], 3, score="blend")


def test_the_saved_index_answers_after_load(model, split, tmp_path, monkeypatch):
    monkeypatch.setattr(rec_mod, "ALL_ITEMS", 0)  # so that blend searches an index
    m = Item2Vec(dim=16, window=2, epochs=2, workers=1, progress=False, seed=0, index="ivf")
    m.fit(split.train)
    hist = ids_of(m, split.histories[:20])
    before = m.recommend_batch(hist, 5)
    m.save(tmp_path / "m")  # builds similar's and the default score's indexes, stores them
    assert m._query_engine().built == ["cosine", "log_prob"]
    loaded = Item2Vec.load(tmp_path / "m")
    assert loaded._query_engine().built == ["cosine", "log_prob"]

    def no_build(*a, **kw):
        raise AssertionError("an index was built after load")

    monkeypatch.setattr(ItemIndex, "__init__", no_build)
    after = loaded.recommend_batch(hist, 5)
    np.testing.assert_array_equal(m.similar(hist[0][-1], 5)[0], loaded.similar(hist[0][-1], 5)[0])
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_allclose(before[1], after[1], rtol=1e-6)


@pytest.mark.parametrize("score", SCORES)
def test_items_never_trained_on_are_never_answers(score):
    """A model fitted on a split knows the held-out-only items (count 0, untrained vectors,
    zero bias): evaluate leaves them out, and so do recommend and similar."""
    walks = datasets.synthetic(n_items=60, n_clusters=4, n_sessions=400, mean_length=6, seed=1)
    lists = [[f"i{x}" for x in s] for s in walks.sessions.to_lists()]
    for n, s in enumerate(lists[:30]):  # 10 items seen only as a held-out last event
        s.append(f"new{n % 10}")
    from item2vec import Sessions

    split = next_event_split(Sessions.from_lists(lists), seed=0, history=3)
    untrained = set(split.train.vocabulary.ids[split.train.vocabulary.counts == 0].tolist())
    assert {f"new{n}" for n in range(10)} <= untrained
    m = Item2Vec(dim=8, window=2, epochs=3, workers=1, progress=False, seed=0).fit(split.train)
    hist = split.histories[:100]
    ids, _ = m.recommend_batch(ids_of(m, hist), 10, score=score)
    assert not untrained & set(ids.ravel().tolist())
    ranked = model_recommender(m, split.train, score)(hist, 10)
    np.testing.assert_array_equal(m.vocabulary_.encode(ids.ravel().tolist()), ranked.ravel())
    assert not untrained & set(m.similar("i1", 50)[0].tolist())
