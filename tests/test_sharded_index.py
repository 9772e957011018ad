"""Tests of ShardedIndex (moved from test_index.py): sharded search equals unsharded."""

from __future__ import annotations

import numpy as np
import pytest

from item2vec.data.datasets import vector_clusters
from item2vec.exceptions import ModelFormatError, ParameterError
from item2vec.queries.index import ItemIndex
from item2vec.queries.sharded_index import ShardedIndex


def clustered(n: int, dim: int = 32, n_clusters: int = 50, spread: float = 0.5, seed: int = 0):
    """Seeded gaussian mixture: (vectors (n, dim), queries (50, dim)) from the same clusters."""
    return vector_clusters(
        n, dim=dim, n_clusters=n_clusters, spread=spread, n_queries=50, seed=seed
    )


@pytest.mark.parametrize("metric", ["cosine", "ip"])
def test_exact_sharded_search_equals_unsharded(metric, tmp_path):
    x, q = clustered(900, seed=3)
    whole = ItemIndex(x, metric=metric, kind="exact")
    sharded = ShardedIndex(x, n_shards=4, metric=metric, kind="exact")
    assert sharded.n_items == 900 and len(sharded.shards) == 4
    want_rows, want_scores = whole.search(q, 15)
    rows, scores = sharded.search(q, 15)
    np.testing.assert_array_equal(rows, want_rows)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-5)
    one_rows, _ = sharded.search(q[0], 15)
    np.testing.assert_array_equal(one_rows, want_rows[0])
    # filters use global rows, across shard boundaries
    excl = np.stack([want_rows[:, 0], np.full(len(q), 450)], axis=1)
    r2, _ = sharded.search(q, 10, exclude=excl)
    w2, _ = whole.search(q, 10, exclude=excl)
    np.testing.assert_array_equal(r2, w2)
    allowed = np.arange(200, 700)
    r3, _ = sharded.search(q, 10, allowed=allowed)
    w3, _ = whole.search(q, 10, allowed=allowed)
    np.testing.assert_array_equal(r3, w3)
    sharded.save(tmp_path / "shards")
    again = ShardedIndex.load(tmp_path / "shards")
    np.testing.assert_array_equal(again.search(q, 15)[0], want_rows)


def test_sharded_index_bad_inputs(tmp_path):
    x, _ = clustered(50)
    with pytest.raises(ParameterError, match="n_shards must be <= the number of vectors"):
        ShardedIndex(x, n_shards=51, kind="exact")
    with pytest.raises(ParameterError, match="shards must hold at least one ItemIndex"):
        ShardedIndex.from_shards([])
    with pytest.raises(ModelFormatError, match="no shard"):
        ShardedIndex.load(tmp_path)
    with pytest.warns(UserWarning, match="k=60 is more than the 50 eligible rows"):
        rows, _ = ShardedIndex(x, n_shards=2, kind="exact").search(x[0], 60)
    assert len(rows) == 50
