"""Item2Vec.save / load: exact round trip, same answers in a fresh process, bad directories."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from item2vec import Item2Vec, Sessions, datasets
from item2vec.exceptions import ModelFormatError


@pytest.fixture(scope="module")
def fitted():
    data = datasets.synthetic(n_items=120, n_clusters=6, n_sessions=800, mean_length=6, seed=5)
    ids = {i: f"sku-{i:04d}" for i in range(120)}
    sessions = Sessions.from_lists([[ids[i] for i in s] for s in data.sessions.to_lists()])
    return Item2Vec(dim=8, epochs=2, batch_size=128, progress=False, seed=0).fit(sessions)


def test_round_trip_is_exact(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    loaded = Item2Vec.load(tmp_path / "m")
    np.testing.assert_array_equal(loaded.item_vectors_, fitted.item_vectors_)
    np.testing.assert_array_equal(loaded.item_biases_, fitted.item_biases_)
    np.testing.assert_array_equal(loaded.vocabulary_.ids, fitted.vocabulary_.ids)
    np.testing.assert_array_equal(loaded.vocabulary_.counts, fitted.vocabulary_.counts)
    assert loaded.get_params() == {**fitted.get_params(), "progress": False}
    assert loaded.history_ == fitted.history_
    np.testing.assert_array_equal(loaded.item_log_prior_, fitted.item_log_prior_)
    q = list(fitted.vocabulary_.ids[:3])
    np.testing.assert_array_equal(
        loaded.recommend(q, 5, score="log_prob")[0], fitted.recommend(q, 5, score="log_prob")[0]
    )
    meta = json.loads((tmp_path / "m" / "meta.json").read_text())
    assert meta["format_version"] == 1 and meta["library_version"]


def test_fresh_process_gives_identical_answers(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    queries = list(fitted.vocabulary_.ids[:4])
    code = (
        "import json, sys; from item2vec import Item2Vec\n"
        f"m = Item2Vec.load({str(tmp_path / 'm')!r})\n"
        f"ids, s = m.similar({queries!r}, 5)\n"
        f"rids, rs = m.recommend({queries[:2]!r}, 5)\n"
        "print(json.dumps([ids.tolist(), s.tolist(), rids.tolist(), rs.tolist()]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    ids, scores, rids, rscores = json.loads(out.stdout.strip().splitlines()[-1])
    want_ids, want_scores = fitted.similar(queries, 5)
    want_rids, want_rscores = fitted.recommend(queries[:2], 5)
    assert ids == want_ids.tolist() and rids == want_rids.tolist()
    assert scores == want_scores.tolist() and rscores == want_rscores.tolist()


def test_k_larger_than_the_catalogue_is_clamped_with_a_warning(fitted):
    n = len(fitted.vocabulary_)
    with pytest.warns(UserWarning, match=rf"k={n + 5} is more than the {n - 1} eligible rows"):
        ids, scores = fitted.similar(fitted.vocabulary_.ids[0], n + 5)
    assert ids.shape == (n - 1,) and fitted.vocabulary_.ids[0] not in ids


def test_load_refuses_a_directory_that_is_not_a_model(tmp_path):
    with pytest.raises(ModelFormatError, match="meta.json"):
        Item2Vec.load(tmp_path)
    with pytest.raises(ModelFormatError, match="does not exist|not found|no such"):
        Item2Vec.load(tmp_path / "missing")


def test_load_refuses_a_truncated_vector_file(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    vec = tmp_path / "m" / "vectors.npy"
    vec.write_bytes(vec.read_bytes()[:-10])
    with pytest.raises(ModelFormatError, match="vectors.npy"):
        Item2Vec.load(tmp_path / "m")


def test_load_refuses_a_config_with_bad_values(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    meta_path = tmp_path / "m" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["config"]["dim"] = "sixty-four"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ModelFormatError, match="dim"):
        Item2Vec.load(tmp_path / "m")


def test_descriptions_are_saved_and_loaded_with_the_model(fitted, tmp_path, monkeypatch):
    ids = fitted.vocabulary_.ids.tolist()
    fitted.save(tmp_path / "plain")
    assert Item2Vec.load(tmp_path / "plain").descriptions is None
    monkeypatch.setattr(fitted, "descriptions", {ids[0]: "first", "not an item": "dropped"})
    fitted.save(tmp_path / "m")
    loaded = Item2Vec.load(tmp_path / "m")
    assert loaded.descriptions == {ids[0]: "first"}
    assert loaded.get_params()["descriptions"] == {ids[0]: "first"}
