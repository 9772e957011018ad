"""Item attributes and cold items: the feature table, the attributes -> vector map, the
cold-item protocol and its baselines, each with a known answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from item2vec import DataError, ParameterError, Sessions, Vocabulary
from item2vec.data.features import ItemFeatures, as_item_features, tokenize
from item2vec.evaluation.cold import cold_baselines, cold_split, evaluate_cold
from item2vec.training.attributes import AttributeEncoder, add_cold_items

# ------------------------------------------------------------------------- the table


def test_a_mapping_keeps_each_items_attributes_once_in_order():
    f = ItemFeatures.from_mapping({"a": ["brand:x", "cat:y", "brand:x"], "b": []})
    assert f.ids.tolist() == ["a", "b"]
    assert f.tokens == (("brand:x", "cat:y"), ())


def test_a_frame_gives_column_value_tokens_and_words():
    df = pd.DataFrame({"sku": [1, 2], "brand": ["acme", None], "title": ["Red Mug", "red-cup"]})
    f = ItemFeatures.from_frame(df, item="sku", columns=["brand"], words=["title"])
    assert f.ids.dtype.kind == "i"
    assert f.tokens == (("brand=acme", "title:red", "title:mug"), ("title:red", "title:cup"))
    assert as_item_features(df, item="sku").tokens[0][:1] == ("brand=acme",)


def test_tokenize_splits_on_punctuation_and_lowers():
    assert tokenize("WHITE HANGING-HEART T-LIGHT, holder") == [
        "white", "hanging", "heart", "t", "light", "holder",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("features", "message"),
    [
        ({"a": "red"}, r"item 'a' must be an iterable of strings, got the string 'red'"),
        ({"a": ["red", 3]}, r"attributes of item 'a' must be strings, got 3 \(int\)"),
        ({"a": 5}, r"item 'a' must be an iterable of strings, got int"),
        (["a", "b"], r"item_features must be a mapping .* got list"),
    ],
)
def test_bad_attribute_lists_are_named(features, message):
    with pytest.raises(ParameterError, match=message):
        as_item_features(features)


def test_a_table_that_lists_an_item_twice_is_refused():
    df = pd.DataFrame({"sku": ["a", "b", "a"], "brand": ["x", "y", "z"]})
    with pytest.raises(DataError, match=r"list item 'a' more than once \(1 repeated ids\)"):
        ItemFeatures.from_frame(df, item="sku")


def test_a_missing_column_is_named():
    df = pd.DataFrame({"sku": ["a"], "brand": ["x"]})
    with pytest.raises(DataError, match=r"no column 'colour'; the table has \['sku', 'brand'\]"):
        ItemFeatures.from_frame(df, item="sku", columns=["colour"])
    with pytest.raises(DataError, match=r"no item column 'id'"):
        ItemFeatures.from_frame(df, item="id")


# ------------------------------------------------------------------------- the map


def _planted(n_per: int = 30, dim: int = 8, seed: int = 0):
    """Warm items w0..: those with token 'p' point along e0, those with 'q' along e1."""
    rng = np.random.default_rng(seed)
    ids, tokens, vectors = [], [], []
    for j, (tok, axis) in enumerate((("p", 0), ("q", 1))):
        for i in range(n_per):
            ids.append(f"w{j}_{i}")
            tokens.append((tok, f"noise{rng.integers(20)}"))
            v = rng.normal(0, 0.05, dim)
            v[axis] += 2.0
            vectors.append(v)
    vocab = Vocabulary(ids=np.array(ids, dtype=object), counts=np.arange(1, len(ids) + 1))
    biases = np.linspace(-1, 1, len(ids)).astype(np.float32)
    return ids, tokens, np.array(vectors, np.float32), biases, vocab


def test_a_cold_item_points_where_its_attributes_point():
    ids, tokens, vectors, biases, vocab = _planted()
    f = ItemFeatures(
        np.array([*ids, "cold_p", "cold_q", "cold_none", "cold_unknown"], dtype=object),
        (*tokens, ("p",), ("q",), (), ("never seen",)),
    )
    t = add_cold_items(f, vocab, vectors, biases)
    assert t.cold_ids.tolist() == ["cold_p", "cold_q", "cold_none", "cold_unknown"]
    assert len(t.vocabulary) == len(ids) + 4 and t.vocabulary.counts[-4:].tolist() == [0] * 4
    np.testing.assert_array_equal(t.vectors[: len(ids)], vectors)  # warm rows unchanged
    unit = t.vectors[-4:] / np.linalg.norm(t.vectors[-4:], axis=1, keepdims=True)
    assert unit[0, 0] > 0.95 and unit[1, 1] > 0.95  # along e0 / e1, not the other
    assert abs(unit[0, 1]) < 0.2 and abs(unit[1, 0]) < 0.2
    prior = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    prior = prior.mean(0) / np.linalg.norm(prior.mean(0))
    np.testing.assert_allclose(unit[2], prior, atol=1e-5)  # no attribute: the prior
    np.testing.assert_allclose(unit[3], prior, atol=1e-5)
    norms = np.linalg.norm(t.vectors[-4:], axis=1)
    np.testing.assert_allclose(norms, np.median(np.linalg.norm(vectors, axis=1)), rtol=1e-5)
    rare = biases[vocab.counts <= 5]
    np.testing.assert_allclose(t.biases[-4:], np.median(rare), rtol=1e-6)


def test_the_encoder_round_trips_through_its_arrays():
    ids, tokens, vectors, biases, vocab = _planted()
    enc = AttributeEncoder.fit(
        ItemFeatures(np.array(ids, dtype=object), tuple(tokens)),
        np.arange(len(ids)), vectors, biases, vocab.counts,
    )  # fmt: skip
    again = AttributeEncoder.from_arrays(enc.arrays())
    f = ItemFeatures(np.array(["x"], dtype=object), (("q", "noise3"),))
    np.testing.assert_array_equal(enc.encode(f), again.encode(f))
    with pytest.raises(DataError, match="arrays are incomplete"):
        AttributeEncoder.from_arrays({"tokens": enc.tokens})


def test_features_that_match_no_trained_item_are_refused():
    ids, tokens, vectors, biases, vocab = _planted()
    f = ItemFeatures(np.array(["x", "y"], dtype=object), (("p",), ("q",)))
    with pytest.raises(DataError, match="none of their items has events"):
        add_cold_items(f, vocab, vectors, biases)


# --------------------------------------------------------------------- the protocol


def _shop(seed: int = 0, n_sessions: int = 600):
    """Two departments (items d0_*, d1_*); sessions stay in one; attributes say which."""
    rng = np.random.default_rng(seed)
    items = [f"d{d}_{i}" for d in range(2) for i in range(20)]
    sessions = []
    for _ in range(n_sessions):
        d = rng.integers(2)
        sessions.append([f"d{d}_{i}" for i in rng.integers(0, 20, rng.integers(3, 8))])
    feats = {it: [f"dept:{it[1]}"] for it in items}
    return Sessions.from_lists(sessions), ItemFeatures.from_mapping(feats)


def test_the_cold_split_holds_every_event_of_the_cold_items_out():
    s, _ = _shop()
    split = cold_split(s, 0.1, seed=3)
    assert len(split.cold_ids) == 4
    trained = set(np.asarray(split.train.vocabulary.ids).tolist())
    assert not trained & set(split.cold_ids.tolist())
    assert set(split.answers.tolist()) <= set(split.cold_ids.tolist())
    assert all(h and set(h) <= trained for h in split.histories)
    assert len(split) == len(split.histories)
    with pytest.raises(ParameterError, match=r"cold share must be a finite number"):
        cold_split(s, 0.9)


def test_content_knn_and_transitions_find_the_department_random_does_not():
    s, f = _shop()
    split = cold_split(s, 0.2, seed=1, n_test=None)
    res = evaluate_cold(split, cold_baselines(split, f), ks=(1, 4))
    cold = res["cold"]
    # 8 cold items, 4 per department: the right department puts the answer in the top 4
    assert cold["content kNN"]["HR@4"] == pytest.approx(1.0)
    assert cold["attribute transitions"]["HR@4"] == pytest.approx(1.0)
    assert cold["random"]["HR@4"] < 0.75
    assert res["all"]["content kNN"]["n_cases"] == len(split)


def test_attribute_popularity_ranks_by_the_attributes_events():
    s = Sessions.from_lists([["a", "b"]] * 5 + [["c", "b"]] + [["a", "x"]])
    f = ItemFeatures.from_mapping({"a": ["hot"], "c": ["cold"], "x": [], "b": ["hot"]})
    split = cold_split(s, 0.25, seed=0)  # one of the 4 items cold
    rank = cold_baselines(split, f)["attribute popularity"]
    out = rank([["b"]], 3, np.array(["a", "c", "x"], dtype=object))
    assert out[0].tolist()[0] == "a"  # "hot" items were seen 5 + 6 times, "cold" ones once


# --------------------------------------------------------------------- the estimator


@pytest.fixture(scope="module")
def clustered():
    """A planted-cluster log whose items 0..9 never occur, attributes naming the clusters."""
    from item2vec import datasets
    from item2vec.data.datasets import synthetic_features

    data = datasets.synthetic(n_items=200, n_clusters=5, n_sessions=1500, seed=0)
    features = synthetic_features(data, noise=0.0, tags=1, seed=0)
    cold = set(range(10))
    train = Sessions.from_lists([[i for i in s if i not in cold] for s in data.sessions.to_lists()])
    return train, features, data


def _fit(train, features=None, **kw):
    from item2vec import Item2Vec

    kw = {"dim": 16, "epochs": 3, "seed": 0, "workers": 1, "progress": False, **kw}
    return Item2Vec(**kw).fit(train, item_features=features)


def test_cold_items_get_rows_and_neighbours_from_their_cluster(clustered):
    train, features, data = clustered
    m = _fit(train, features)
    assert sorted(m.cold_items_.tolist()) == list(range(10))
    assert len(m.vocabulary_) == 200 and m.vocabulary_.counts[-10:].tolist() == [0] * 10
    ids, _ = m.similar(list(range(10)), k=10)
    same = np.mean([[n % 5 == c % 5 for n in row] for c, row in zip(range(10), ids)])
    assert same > 0.9  # the planted cluster: 1 in 5 by chance
    # a history of cluster 0 (item 5 is cold itself): the other cold item of cluster 0 first
    top, _ = m.recommend([5, 10, 15], k=2, allowed=list(range(10)))
    assert top[0] == 0


def test_warm_items_answer_as_without_features(clustered):
    train, features, _ = clustered
    with_f, without = _fit(train, features), _fit(train)
    n = len(without.vocabulary_)
    np.testing.assert_array_equal(with_f.item_vectors_[:n], without.item_vectors_)
    np.testing.assert_array_equal(with_f.vocabulary_.ids[:n], without.vocabulary_.ids)
    assert len(without.cold_items_) == 0 and without.item_features_ is None


def test_cold_items_survive_save_and_load(clustered, tmp_path):
    from item2vec import Item2Vec

    train, features, _ = clustered
    m = _fit(train, features)
    m.save(tmp_path / "m")
    back = Item2Vec.load(tmp_path / "m")
    np.testing.assert_array_equal(back.cold_items_, m.cold_items_)
    np.testing.assert_array_equal(back.item_vectors_, m.item_vectors_)
    assert back.item_features_.tokens == m.item_features_.tokens
    a, _ = m.recommend([11, 16], k=5, allowed=m.cold_items_)
    b, _ = back.recommend([11, 16], k=5, allowed=back.cold_items_)
    np.testing.assert_array_equal(a, b)


def test_an_update_warms_a_cold_item_and_encodes_new_ones(clustered):
    train, features, _ = clustered
    m = _fit(train, features)
    new = Sessions.from_lists([[0, 5, 10, 15]] * 30)
    m.update(new, epochs=1, item_features={1000: ["cluster=0"]})
    cold = set(m.cold_items_.tolist())
    assert 0 not in cold and 1000 in cold and 1 in cold
    assert m.vocabulary_.counts[m.vocabulary_.index(0)] == 30
    np.testing.assert_array_equal(m.vocabulary_.counts[-len(cold) :], 0)  # still the last rows
    ids, _ = m.similar(1000, k=10)
    assert np.mean([i % 5 == 0 for i in ids]) > 0.8


def test_features_that_name_no_trained_item_leave_a_fitted_model_as_it_was(clustered):
    train, features, _ = clustered
    m = _fit(train, features)
    before = m.item_vectors_.copy()
    with pytest.raises(DataError, match="none of their items has events"):
        m.fit(train, item_features={"x": ["cluster=1"]})
    np.testing.assert_array_equal(m.item_vectors_, before)


def test_rows_without_events_are_encoded_in_place(clustered, tmp_path):
    """A vocabulary may hold items with no training event (count 0: a split's held-out
    items); with attributes they are cold items where they are, nothing appended."""
    from item2vec import Item2Vec

    _, features, data = clustered
    full = data.sessions
    keep = ~np.isin(np.asarray(full.vocabulary.ids)[full.items], np.arange(10))
    starts = np.repeat(np.arange(len(full)), full.lengths)[keep]
    offsets = np.concatenate([[0], np.cumsum(np.bincount(starts, minlength=len(full)))])
    items = full.items[keep]
    counts = np.bincount(items, minlength=len(full.vocabulary))
    train = Sessions(items, offsets, Vocabulary(full.vocabulary.ids, counts))
    m = _fit(train, features)
    assert len(m.vocabulary_) == 200 and sorted(m.cold_items_.tolist()) == list(range(10))
    rows = m.vocabulary_.encode(list(range(10)))
    ids, _ = m.similar(list(range(10)), k=10)
    assert np.mean([[n % 5 == c % 5 for n in row] for c, row in zip(range(10), ids)]) > 0.9
    again = _fit(train)  # the same rows without features: untrained, not encoded
    assert not np.allclose(again.item_vectors_[rows], m.item_vectors_[rows])
    m.save(tmp_path / "m")
    np.testing.assert_array_equal(Item2Vec.load(tmp_path / "m").cold_items_, m.cold_items_)
