"""Updating a trained model with new sessions and new items (Item2Vec.update, issue 21).

Known answers: planted clusters on day 1, new items of the same clusters on day 2. Item ``i``
belongs to cluster ``i % 20``; items 220..279 (three per cluster) never occur on day 1, so
every cluster has 11 old items (an old item's 10 true neighbours among old items) and 3 new.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from item2vec import Item2Vec, Sessions, datasets
from item2vec.exceptions import (
    ModelFormatError,
    NotFittedError,
    ParameterError,
    TrainingError,
    UnknownItemError,
)
from item2vec.queries.counts import pair_matrix
from item2vec.sampling import log_prior
from item2vec.training.checkpoint import Checkpointer

CLUSTERS, NEW = 20, set(range(220, 280))
FAST = dict(dim=16, window=3, epochs=15, batch_size=256, workers=1, progress=False, seed=0)


def _days(seed: int = 0) -> tuple[list, list, list]:
    data = datasets.synthetic(n_items=280, n_clusters=CLUSTERS, n_sessions=3600,
                              mean_length=8, noise=0.02, seed=seed)  # fmt: skip
    lists = data.sessions.to_lists()
    day1 = [s for s in ([i for i in s if i not in NEW] for s in lists[:2400]) if len(s) >= 2]
    return day1, lists[2400:3300], lists[3300:]  # day 1, day 2, day 3 (held out)


@pytest.fixture(scope="module")
def days():
    day1, day2, day3 = _days()
    return Sessions.from_lists(day1), Sessions.from_lists(day2), day1, day2, day3


@pytest.fixture(scope="module")
def day1_model(days):
    return Item2Vec(**FAST).fit(days[0])


def _copy(model: Item2Vec, tmp_path, name: str = "m") -> Item2Vec:
    model.save(tmp_path / name)
    return Item2Vec.load(tmp_path / name)


@pytest.fixture(scope="module")
def updated(days, day1_model, tmp_path_factory):
    return _copy(day1_model, tmp_path_factory.mktemp("u")).update(days[1])


@pytest.fixture(scope="module")
def frozen(days, day1_model, tmp_path_factory):
    return _copy(day1_model, tmp_path_factory.mktemp("f")).update(days[1], freeze_existing=True)


def _precision(model: Item2Vec, items: list, allowed=None) -> float:
    found, _ = model.similar(items, 10, allowed=allowed)
    return float(
        np.mean((found.astype(np.int64) % CLUSTERS) == (np.array(items)[:, None] % CLUSTERS))
    )


def _hr(model: Item2Vec, sessions: list) -> float:
    """HR@10 of each held-out session's last item after the one before it."""
    ids, _ = model.recommend_batch([[s[-2]] for s in sessions], 10)
    return float(np.mean([s[-1] in set(r.tolist()) for s, r in zip(sessions, ids, strict=True)]))


# ----------------------------------------------------------------------------- known answers
def test_new_items_get_their_clusters_neighbours(updated):
    assert _precision(updated, sorted(NEW)) >= 0.9


def test_freeze_existing_keeps_old_rows_bit_identical_and_learns_the_new(frozen, day1_model):
    n = len(day1_model.vocabulary_)
    assert frozen.item_vectors_[:n].tobytes() == day1_model.item_vectors_.tobytes()
    assert frozen.item_biases_[:n].tobytes() == day1_model.item_biases_.tobytes()
    assert _precision(frozen, sorted(NEW)) >= 0.9


def test_old_items_lists_stay_stable(updated, day1_model):
    """Top-10 among the old items, before and after (new items would be additions)."""
    old = day1_model.vocabulary_.ids.tolist()
    before, _ = day1_model.similar(old, 10)
    after, _ = updated.similar(old, 10, allowed=old)
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(before, after, strict=True)])
    assert overlap >= 0.8


def test_updated_model_is_as_good_as_a_retrain_on_both_days(days, updated, frozen):
    retrain = Item2Vec(**FAST).fit(Sessions.from_lists(days[2] + days[3]))
    items = sorted(retrain.vocabulary_.ids.tolist())
    base = _precision(retrain, items)
    held_out = days[4]
    for model in (updated, frozen):
        assert _precision(model, items) >= base - 0.05
        assert _hr(model, held_out) >= _hr(retrain, held_out) - 0.05


def test_unknown_item_errors_become_answers(day1_model, updated):
    with pytest.raises(UnknownItemError, match="unknown item 250"):
        day1_model.similar(250)
    with pytest.raises(UnknownItemError):
        day1_model.recommend([3, 250])
    ids, _ = updated.similar(250, 10)
    assert len(ids) == 10 and 250 not in ids.tolist()
    assert len(updated.recommend([3, 250], 10)[0]) == 10


# ----------------------------------------------------------------------------- the rules
def test_rows_are_appended_and_counts_follow_the_combined_log(days, day1_model, updated):
    old, new = day1_model.vocabulary_, updated.vocabulary_
    n = len(old)
    np.testing.assert_array_equal(new.ids[:n], old.ids)  # existing rows and ids unchanged
    assert set(new.ids[n:].tolist()) == NEW
    both = Sessions.from_lists(days[2] + days[3]).vocabulary
    np.testing.assert_array_equal(new.counts, both.counts[both.encode(new.ids.tolist())])
    assert np.all(np.diff(new.counts[n:]) <= 0)  # new rows by descending count
    # negatives, subsampling and the log prior read these counts
    np.testing.assert_allclose(updated.item_log_prior_, log_prior(new.counts, 0.75, 1e-3))
    assert [h["update"] for h in updated.history_ if "update" in h] == [1] * FAST["epochs"]
    assert len(updated.history_) == 2 * FAST["epochs"]  # epochs=None: the model's epochs_


def test_neighbour_counts_are_those_of_the_combined_log(days, day1_model, updated):
    both = Sessions.from_lists(days[2] + days[3])
    rows = both.vocabulary.encode(updated.vocabulary_.ids.tolist())
    window = updated.update_state_.window  # chosen by the fit, kept by the update
    assert window == day1_model.update_state_.window
    expected = pair_matrix(both, window=window, symmetric=False)[rows][:, rows]
    forward = updated.update_state_.forward
    assert abs(forward - expected).max() < 1e-9  # 1/3, 1/5: summed in another order
    n = updated.neighbour_counts_
    assert n.shape == (len(rows), len(rows))
    beta = (n - forward).sum() / forward.sum()  # N = F + beta F.T
    assert abs(n - (forward + beta * forward.T)).max() < 1e-9
    assert updated.default_score_ == "blend"


def test_min_count_applies_to_accumulated_counts():
    base = [["a", "b", "c"]] * 5
    day1 = base + [["a", "x"], ["b", "y"], ["c", "x"]]  # x twice, y once
    day2 = base + [["a", "x"], ["b", "y"], ["z", "a"]]  # x 3 in all, y 2, z 1
    model = Item2Vec(**{**FAST, "epochs": 1, "min_count": 3}).fit(Sessions.from_lists(day1))
    assert sorted(model.vocabulary_.ids.tolist()) == ["a", "b", "c"]
    state = model.update_state_
    assert dict(zip(state.pending_ids.tolist(), state.pending_counts.tolist())) == {"x": 2, "y": 1}
    model.update(Sessions.from_lists(day2), epochs=1)
    voc = model.vocabulary_
    assert voc.ids.tolist()[:3] == ["a", "b", "c"] and voc.ids.tolist()[3:] == ["x"]
    assert voc.counts[voc.index("x")] == 3  # day 1's two and today's one
    state = model.update_state_
    assert dict(zip(state.pending_ids.tolist(), state.pending_counts.tolist())) == {"y": 2, "z": 1}


def test_integer_ids_in_a_string_model_are_the_same_items(days):
    model = Item2Vec(**{**FAST, "epochs": 2}).fit(
        Sessions.from_lists([[str(i) for i in s] for s in days[2][:300]])
    )
    model.update(Sessions.from_lists(days[3][:100]), epochs=1)
    assert len(set(model.vocabulary_.ids.tolist())) == len(model.vocabulary_)
    assert all(isinstance(i, str) for i in model.vocabulary_.ids.tolist())


def test_update_is_deterministic_and_the_same_after_save_and_load(days, day1_model, tmp_path):
    a = _copy(day1_model, tmp_path, "a").update(days[1], epochs=2)
    b = _copy(day1_model, tmp_path, "b").update(days[1], epochs=2)
    assert a.item_vectors_.tobytes() == b.item_vectors_.tobytes()
    # an in-memory fitted model and its saved copy update identically
    fresh = Item2Vec(**FAST).fit(days[0]).update(days[1], epochs=2)
    assert fresh.item_vectors_.tobytes() == a.item_vectors_.tobytes()
    assert abs(fresh.neighbour_counts_ - a.neighbour_counts_).sum() == 0


def test_updated_model_is_an_ordinary_model_directory(updated, tmp_path):
    updated.save(tmp_path / "u")
    meta = json.loads((tmp_path / "u" / "meta.json").read_text())
    assert meta["format_version"] == 1  # optional arrays only: no new format
    back = Item2Vec.load(tmp_path / "u")
    assert back.vocabulary_ == updated.vocabulary_
    assert back.item_vectors_.tobytes() == updated.item_vectors_.tobytes()
    assert abs(back.neighbour_counts_ - updated.neighbour_counts_).sum() == 0
    assert abs(back.update_state_.forward - updated.update_state_.forward).sum() == 0
    assert back.update_state_.window == updated.update_state_.window
    from item2vec.exceptions import ModelFormatError
    from item2vec.training.update_state import state_arrays, state_from_arrays

    arrays = state_arrays(updated.update_state_)
    arrays["forward_window"] = np.array([0])
    with pytest.raises(ModelFormatError, match="the forward counts' window must be >= 1, got 0"):
        state_from_arrays(arrays, updated.vocabulary_, 16, "a model")
    np.testing.assert_array_equal(
        back.recommend([3, 250], 10)[0], updated.recommend([3, 250], 10)[0]
    )


def test_a_directory_from_before_updates_loads_and_updates(days, day1_model, tmp_path):
    """What the format held before updates: vectors, biases, vocabulary, neighbour counts."""
    from item2vec import io
    from item2vec.queries.counts import next_counts

    m, c = day1_model, day1_model.neighbour_counts_
    counts = {"neighbour_indptr": c.indptr, "neighbour_indices": c.indices,
              "neighbour_counts": c.data}  # fmt: skip
    io.save_model(tmp_path / "old", vectors=m.item_vectors_, biases=m.item_biases_,
                  vocabulary=m.vocabulary_, config={**m.config().to_dict(), "epochs": m.epochs_},
                  history=m.history_, extra_arrays=counts)  # fmt: skip
    old = Item2Vec.load(tmp_path / "old")
    assert old.update_state_.forward is None
    np.testing.assert_array_equal(old.item_vectors_, m.item_vectors_)
    with pytest.warns(UserWarning, match="without its forward pair counts"):
        old.update(days[1], epochs=2)
    assert old.neighbour_counts_.shape == (len(old.vocabulary_),) * 2
    # the old counts plus the new sessions' own (window 1, as the old model had; at the
    # weight chosen on them)
    assert old.update_state_.window == 1
    added = float(next_counts(days[1], window=1).counts.sum())
    assert old.neighbour_counts_.sum() == pytest.approx(c.sum() + added, rel=1e-9)


def test_parquet_corpus_update_matches_the_in_memory_one(days, day1_model, updated, tmp_path):
    from item2vec.sampling.corpus import ParquetCorpus

    rows = [(s, i) for s, items in enumerate(days[3]) for i in items]
    path = tmp_path / "day2.parquet"
    pd.DataFrame(rows, columns=["session", "item"]).to_parquet(path, row_group_size=2000)
    corpus = ParquetCorpus(path, session="session", item="item")
    streamed = _copy(day1_model, tmp_path).update(corpus)
    assert streamed.vocabulary_ == updated.vocabulary_
    assert abs(streamed.update_state_.forward - updated.update_state_.forward).max() < 1e-9
    assert abs(streamed.neighbour_counts_ - updated.neighbour_counts_).sum() < 1e-6
    assert _precision(streamed, sorted(NEW)) >= 0.9
    frozen = _copy(day1_model, tmp_path, "f").update(corpus, epochs=3, freeze_existing=True)
    n = len(day1_model.vocabulary_)
    assert frozen.item_vectors_[:n].tobytes() == day1_model.item_vectors_.tobytes()


def test_ctrl_c_then_resume_gives_the_uninterrupted_update(days, day1_model, tmp_path, monkeypatch,
                                                           capsys):  # fmt: skip
    reference = _copy(day1_model, tmp_path, "r").update(days[1], epochs=3)
    model = _copy(day1_model, tmp_path, "m")
    model.set_params(checkpoint_dir=tmp_path / "ckpt", checkpoint_every=3)
    original, stopped = Checkpointer.on_step, []

    def on_step(self, state):
        original(self, state)
        if state.global_step >= 8 and not stopped:
            stopped.append(state.global_step)
            raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(Checkpointer, "on_step", on_step)
        with pytest.raises(KeyboardInterrupt):
            model.update(days[1], epochs=3)
    assert "update(sessions, resume=True)" in capsys.readouterr().err
    assert len(model.vocabulary_) == len(day1_model.vocabulary_)  # unchanged until success
    model.update(days[1], epochs=3, resume=True)
    assert model.item_vectors_.tobytes() == reference.item_vectors_.tobytes()
    assert [h["epoch"] for h in model.history_ if "update" in h] == [1, 2, 3]


def test_resuming_an_update_from_a_fits_checkpoint_is_refused(days, tmp_path):
    model = Item2Vec(**{**FAST, "epochs": 2}, checkpoint_dir=tmp_path / "ckpt").fit(days[0])
    with pytest.raises(TrainingError, match="different vocabulary"):
        model.update(days[1], resume=True)


def test_adagrad_state_is_kept_saved_and_frozen_rows_keep_theirs(days, tmp_path):
    model = Item2Vec(**{**FAST, "epochs": 3, "optimizer": "adagrad", "learning_rate": 0.05})
    model.fit(days[0])
    acc = model.update_state_.optimizer
    assert sorted(acc) == ["accumulator_0", "accumulator_1"]
    assert acc["accumulator_0"].min() > 0.1  # trained rows accumulated gradients
    back = _copy(model, tmp_path)
    np.testing.assert_array_equal(back.update_state_.optimizer["accumulator_0"],
                                  acc["accumulator_0"])  # fmt: skip
    back.update(days[1], epochs=2, freeze_existing=True)
    n = len(model.vocabulary_)
    after = back.update_state_.optimizer["accumulator_0"]
    np.testing.assert_array_equal(after[:n], acc["accumulator_0"])
    assert (
        after[n:].min() > 0.1 and back.item_vectors_[:n].tobytes() == model.item_vectors_.tobytes()
    )


def test_separate_output_table_is_kept(days, tmp_path):
    model = Item2Vec(**{**FAST, "epochs": 2, "separate_output": True}).fit(days[0])
    back = _copy(model, tmp_path)
    np.testing.assert_array_equal(back.update_state_.output_vectors, model.model_.E_out.numpy())
    back.update(days[1], epochs=1, freeze_existing=True)
    n = len(model.vocabulary_)
    assert back.model_.E_out.numpy()[:n].tobytes() == model.model_.E_out.numpy().tobytes()


def test_row_rates_of_zero_freeze_rows_exactly_in_the_step():
    import tensorflow as tf

    from item2vec.training.model import Item2VecModel
    from item2vec.training.step import bind_step

    rng = np.random.default_rng(0)
    model = Item2VecModel(20, 4, seed=3)
    rates = tf.Variable(np.r_[np.zeros(10), np.full(10, 0.5)].astype(np.float32)[:, None])
    step = bind_step([model.E, model.b], [], mode="skipgram", negatives=2, dense=True,
                     rates=rates)  # fmt: skip
    before = model.E.numpy().copy()
    step(rng.integers(-1, 20, (2, 8, 4)).astype(np.int32),
         rng.integers(0, 20, (2, 8)).astype(np.int32),
         rng.integers(0, 20, (2, 8, 2)).astype(np.int32), tf.constant([0.5, 0.5]))  # fmt: skip
    after = model.E.numpy()
    assert after[:10].tobytes() == before[:10].tobytes()
    assert not np.array_equal(after[10:], before[10:])


# ----------------------------------------------------------------------------- nothing to do
def test_freeze_with_no_new_items_updates_only_the_counts(days, day1_model, tmp_path):
    model = _copy(day1_model, tmp_path)
    with pytest.warns(UserWarning, match="nothing to train .*no new item"):
        model.update(Sessions.from_lists(days[2][:50]), freeze_existing=True)
    assert model.item_vectors_.tobytes() == day1_model.item_vectors_.tobytes()
    assert model.vocabulary_.counts.sum() > day1_model.vocabulary_.counts.sum()


def test_sessions_of_rare_new_items_only_are_remembered(tmp_path):
    model = Item2Vec(**{**FAST, "epochs": 1, "min_count": 2}).fit(
        Sessions.from_lists([["a", "b"]] * 5)
    )
    with pytest.warns(UserWarning, match="nothing to train"):
        model.update(Sessions.from_lists([["p", "q"], ["r", "s"]]))
    assert len(model.vocabulary_) == 2
    assert sorted(model.update_state_.pending_ids.tolist()) == ["p", "q", "r", "s"]
    back = _copy(model, tmp_path)
    assert sorted(back.update_state_.pending_ids.tolist()) == ["p", "q", "r", "s"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back.update(Sessions.from_lists([["p", "q"], ["p", "a"]]), epochs=1)
    assert back.vocabulary_.ids.tolist() == ["a", "b", "p", "q"]


# ----------------------------------------------------------------------------- bad input
def test_update_before_fit_is_an_error(days):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        Item2Vec().update(days[1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, r"epochs must be an integer >= 1 or None \(the model's epochs_\), got 0"),
        ({"epochs": 1.5}, r"epochs must be an integer >= 1 .*got 1.5"),
        ({"epochs": True}, r"epochs must be an integer >= 1 .*got True"),
        ({"freeze_existing": "yes"}, r"freeze_existing must be True or False, got 'yes'"),
        (
            {"existing_rate": -0.1},
            r"existing_rate must be 'auto' or a number in \[0, 1\], got -0.1",
        ),
        ({"existing_rate": 2}, r"existing_rate must be 'auto' or a number in \[0, 1\], got 2"),
        ({"existing_rate": "share"}, r"existing_rate must be 'auto' .*got 'share'"),
        ({"existing_rate": float("nan")}, r"existing_rate must be 'auto' .*got nan"),
        (
            {"freeze_existing": True, "existing_rate": 0.5},
            r"freeze_existing=True trains only the new rows; existing_rate=0.5 contradicts it",
        ),
        ({"learning_rate": 0}, r"learning_rate must be a finite number > 0, got 0"),
        ({"resume": True}, r"resume=True needs checkpoint_dir to be set"),
    ],
)
def test_bad_arguments_are_refused_by_name(days, day1_model, kwargs, message):
    before = day1_model.item_vectors_.copy()
    with pytest.raises(ParameterError, match=message):
        day1_model.update(days[1], **kwargs)
    np.testing.assert_array_equal(day1_model.item_vectors_, before)


def test_sessions_of_the_wrong_type_are_refused(day1_model):
    with pytest.raises(ParameterError, match=r"sessions must be an item2vec.Sessions .*got list"):
        day1_model.update([["1", "2"]])


def test_string_ids_for_an_integer_model_are_refused(days, day1_model):
    with pytest.raises(ParameterError, match=r"item ids are integers, .*the id 'sku-1'"):
        day1_model.update(Sessions.from_lists([["sku-1", "3"], ["4", "5"]]))


def test_a_separate_output_model_saved_without_its_table_is_refused(days, tmp_path):
    model = Item2Vec(**{**FAST, "epochs": 1, "separate_output": True}).fit(days[0])
    back = _copy(model, tmp_path)
    back.update_state_.output_vectors = None  # as a directory written before updates
    with pytest.raises(ParameterError, match="saved without its output table"):
        back.update(days[1])


def test_a_corrupt_update_state_is_refused_with_the_file_named(day1_model, tmp_path):
    from item2vec import io

    m = day1_model
    bad = {"pending_counts": np.array([1, 2]), "pending_ids": np.array([7])}
    io.save_model(tmp_path / "bad", vectors=m.item_vectors_, biases=m.item_biases_,
                  vocabulary=m.vocabulary_, config={**m.config().to_dict(), "epochs": 1},
                  extra_arrays=bad)  # fmt: skip
    with pytest.raises(ModelFormatError, match=r"meta.json: invalid update state: pending"):
        Item2Vec.load(tmp_path / "bad")
