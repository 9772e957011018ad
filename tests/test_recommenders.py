"""Tests of the vector engine and the model adapters (moved from test_evaluate.py)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import corpus

from item2vec.evaluation.baselines import popularity
from item2vec.evaluation.protocols import evaluate
from item2vec.evaluation.recommenders import gensim_recommender, model_recommender
from item2vec.exceptions import ParameterError
from item2vec.queries.scoring import vector_recommender


# ----------------------------------------------------------------------------- vectors
def test_vector_recommender_cosine():
    v = np.array([[1, 0], [0.9, 0.1], [0, 1], [-1, 0], [0, 0]], dtype=np.float32)
    rec = vector_recommender(v)
    assert rec(np.array([0, 2]), 2).tolist() == [[1, 2], [1, 0]]
    assert rec(np.array([0]), 6).tolist() == [[1, 2, 3, -1, -1, -1]]  # zero row: unknown
    assert rec(np.array([4]), 2).tolist() == [[-1, -1]]  # unknown query: nothing
    keep = vector_recommender(v, exclude_query=False)
    assert keep(np.array([0]), 2).tolist() == [[0, 1]]
    known = vector_recommender(v, known=np.array([1, 0, 1, 1, 1], bool), fallback=[4, 1, 2])
    assert known(np.array([0]), 4).tolist() == [[2, 3, 4, 1]]
    chunked = vector_recommender(v, chunk_size=1)
    assert (chunked(np.arange(4), 3) == rec(np.arange(4), 3)).all()


def test_vector_recommender_dot_plus_bias_and_output_table():
    v = np.array([[1, 0], [0, 1], [1, 1], [2, 0]], dtype=np.float32)
    b = np.array([0, 0.5, -1, -3], dtype=np.float32)
    # query 0: row 1 scores 0 + 0.5, row 2 1 - 1, row 3 2 - 3; by cosine it would be 3, 2, 1
    assert vector_recommender(v, biases=b)(np.array([0]), 3).tolist() == [[1, 2, 3]]
    assert vector_recommender(v)(np.array([0]), 3).tolist() == [[3, 2, 1]]
    # an output table: query 0 . targets = [.., 0, 3, -1] + b = [.., 0.5, 2, -4]
    t = np.array([[5, 5], [0, 1], [3, 0], [-1, 0]], dtype=np.float32)
    rec = vector_recommender(v, biases=b, targets=t)
    assert rec(np.array([0]), 3).tolist() == [[2, 1, 3]]
    unknown = vector_recommender(v, biases=b, known=np.array([1, 0, 1, 1], bool))
    assert unknown(np.array([0, 1]), 3).tolist() == [[2, 3, -1], [-1, -1, -1]]


def test_vector_recommender_errors():
    with pytest.raises(ParameterError, match=r"biases must be finite with shape \(2,\), got "
                       r"shape \(3,\)"):  # fmt: skip
        vector_recommender(np.ones((2, 2)), biases=np.zeros(3))
    with pytest.raises(ParameterError, match=r"biases must be finite"):
        vector_recommender(np.ones((2, 2)), biases=np.array([0, np.nan]))
    with pytest.raises(ParameterError, match=r"targets needs biases .* without biases"):
        vector_recommender(np.ones((2, 2)), targets=np.ones((2, 2)))
    with pytest.raises(ParameterError, match=r"targets needs biases and the shape of vectors"):
        vector_recommender(np.ones((2, 2)), biases=np.zeros(2), targets=np.ones((2, 3)))
    with pytest.raises(ParameterError, match="vectors must have shape"):
        vector_recommender(np.zeros(3))
    with pytest.raises(ParameterError, match=r"known must have shape \(2,\)"):
        vector_recommender(np.ones((2, 2)), known=np.ones(3, bool))
    rec = vector_recommender(np.ones((2, 2)))
    with pytest.raises(ParameterError, match="k must be an integer >= 1, got 0"):
        rec(np.array([0]), 0)


def test_gensim_recommender(synth, synth_split):
    pytest.importorskip("gensim")
    train = synth_split.train
    rec, model = gensim_recommender(train, dim=16, epochs=5, workers=1, seed=0)
    out = rec(synth_split.queries, 10)
    assert out.shape == (len(synth_split), 10) and out.dtype == np.int32
    assert ((out >= 0) & (out < len(train.vocabulary))).all()
    assert not (out == synth_split.queries[:, None]).any()
    assert all(len(set(r)) == 10 for r in out.tolist())
    g = evaluate(rec, synth_split)
    pop = evaluate(popularity(train), synth_split)
    assert g["HR@10"] > pop["HR@10"] + 0.15
    # items gensim drops (min_count) are never returned
    counts = np.bincount(train.items, minlength=len(train.vocabulary))
    rec2, model2 = gensim_recommender(train, dim=8, epochs=1, min_count=60, workers=1)
    rare = np.flatnonzero(counts < 60)
    assert len(rare) and len(model2.wv) == (counts >= 60).sum()
    assert not np.isin(rec2(np.arange(len(counts)), 10), rare).any()


def test_gensim_log_prob_ranks_by_syn1neg_plus_prior(synth_split):
    pytest.importorskip("gensim")
    from item2vec.sampling import log_prior

    train = synth_split.train
    rec, model = gensim_recommender(
        train, dim=16, epochs=3, workers=1, seed=0, ns_exponent=0.5, sample=1e-3, score="log_prob"
    )
    rows = np.array([int(w) for w in model.wv.index_to_key])
    q = synth_split.queries[:20]
    slot = {r: i for i, r in enumerate(rows.tolist())}
    prior = log_prior(train.vocabulary.counts, 0.5, 1e-3)[rows]
    for query, got in zip(q.tolist(), rec(q, 5).tolist(), strict=True):
        scores = model.syn1neg @ model.wv.vectors[slot[query]] + prior
        scores[slot[query]] = -np.inf
        assert got == rows[np.argsort(-scores, kind="stable")[:5]].tolist()
    assert (
        evaluate(rec, synth_split)["HR@10"]
        > evaluate(popularity(train), synth_split)["HR@10"] + 0.15
    )


def test_model_recommender_rankings(synth_split):
    from item2vec import Item2Vec

    train = synth_split.train
    model = Item2Vec(dim=8, window=2, epochs=2, workers=1, progress=False, seed=0).fit(train)
    ids = train.vocabulary.ids
    q = synth_split.queries[:10]
    queries = {
        "cosine": lambda i: model.similar(i, 5)[0],
        "logit": lambda i: model.recommend(i, 5, score="logit")[0],
        "log_prob": lambda i: model.recommend(i, 5, score="log_prob")[0],
    }
    for score, query in queries.items():
        got = model_recommender(model, train, score)(q, 5)
        assert [ids[r].tolist() for r in got] == [query(ids[i]).tolist() for i in q]
    with pytest.raises(ParameterError, match=r"score must be one of 'cosine', 'logit', "
                       r"'log_prob', 'blend', got 'dot'"):  # fmt: skip
        model_recommender(model, train, "dot")
    # ranking=, the former name of score=: warns and ranks the same; both is an error
    blend = model_recommender(model, train)(q, 5)
    with pytest.warns(DeprecationWarning, match=r"ranking= is deprecated: use score="):
        old = model_recommender(model, train, ranking="blend")
    np.testing.assert_array_equal(old(q, 5), blend)
    with pytest.warns(DeprecationWarning, match=r"ranking= is deprecated"):
        old = model_recommender(model, train, ranking="logit")
    np.testing.assert_array_equal(old(q, 5), model_recommender(model, train, score="logit")(q, 5))
    with pytest.raises(ParameterError, match=r"got both score='logit' and ranking='cosine'"):
        model_recommender(model, train, "logit", ranking="cosine")


def test_gensim_recommender_errors():
    pytest.importorskip("gensim")
    s = corpus([[0, 1, 2]])
    with pytest.raises(ParameterError, match=r"score must be one of 'cosine', 'log_prob'"
                       r", got 'logit'"):  # fmt: skip
        gensim_recommender(s, score="logit")
    with pytest.raises(ParameterError, match=r"got both score='cosine' and ranking='log_prob'"):
        gensim_recommender(s, score="cosine", ranking="log_prob")
    with pytest.warns(DeprecationWarning, match=r"ranking= is deprecated: use score="):
        with pytest.raises(ParameterError, match=r"score must be one of .*got 'logit'"):
            gensim_recommender(s, ranking="logit")
    with pytest.raises(ParameterError, match="dim must be an integer >= 1, got 0"):
        gensim_recommender(s, dim=0)
    with pytest.raises(ParameterError, match="negatives must be an integer >= 0, got -1"):
        gensim_recommender(s, negatives=-1)
