"""Training and the estimator: planted clusters recovered, errors named, queries exact."""

from __future__ import annotations

import time

import numpy as np
import pytest

from item2vec import Item2Vec, Sessions, datasets
from item2vec.evaluation.protocols import evaluate, model_recommender, next_event_split
from item2vec.exceptions import NotFittedError, ParameterError, TrainingError, UnknownItemError

FAST = dict(dim=16, window=3, epochs=4, batch_size=256, progress=False, seed=0)


@pytest.fixture(scope="module")
def planted():
    return datasets.synthetic(n_items=300, n_clusters=10, n_sessions=3000, mean_length=8, seed=1)


@pytest.fixture(scope="module")
def fitted(planted):
    return Item2Vec(**FAST).fit(planted.sessions)


def _neighbour_rows(model: Item2Vec) -> np.ndarray:
    ids, _ = model.similar(list(model.vocabulary_.ids), 10)
    return model.vocabulary_.encode(ids.ravel()).reshape(ids.shape)


def test_skipgram_recovers_planted_clusters(planted, fitted):
    # Reached 1.0 on this corpus (random neighbours: ~0.10); a model that does not learn,
    # or learns the wrong slot, stays near 0.1.
    precision = planted.same_cluster_precision(_neighbour_rows(fitted))
    assert precision >= 0.9


def test_cbow_recovers_planted_clusters(planted):
    model = Item2Vec(**{**FAST, "mode": "cbow"}).fit(planted.sessions)
    assert planted.same_cluster_precision(_neighbour_rows(model)) >= 0.9


def test_untrained_vectors_do_not_pass_the_cluster_bound(planted):
    model = Item2Vec(**{**FAST, "epochs": 1, "learning_rate": 1e-7, "min_learning_rate": 0.0})
    model.fit(planted.sessions)
    assert planted.same_cluster_precision(_neighbour_rows(model)) < 0.5


def test_fitted_attributes_and_history(planted, fitted):
    n = len(planted.sessions.vocabulary)
    assert fitted.item_vectors_.shape == (n, 16) and fitted.item_vectors_.dtype == np.float32
    assert fitted.item_biases_.shape == (n,)
    assert fitted.vocabulary_ is planted.sessions.vocabulary
    assert [h["epoch"] for h in fitted.history_] == [1, 2, 3, 4]
    assert fitted.history_[-1]["loss"] < fitted.history_[0]["loss"]
    assert all(h["couples"] > 0 and h["couples_per_second"] > 0 for h in fitted.history_)
    lrs = [h["learning_rate"] for h in fitted.history_]
    assert lrs == sorted(lrs, reverse=True) and lrs[-1] < 0.01


def test_validation_metrics_per_epoch(planted):
    split = next_event_split(planted.sessions, n_test=300, seed=0)
    model = Item2Vec(**{**FAST, "epochs": 2}).fit(split.train, validation=split)
    hr = [h["HR@10"] for h in model.history_]
    assert len(hr) == 2 and all(0 <= v <= 1 for v in hr)
    assert hr[-1] > 0.3  # within-cluster successors: popularity alone gets ~0.1
    # ranked as recommend(..., score="log_prob") ranks
    final = evaluate(model_recommender(model, split.train, "log_prob"), split)
    assert hr[-1] == pytest.approx(final["HR@10"])


def test_divergence_names_epoch_and_step(planted):
    model = Item2Vec(**{**FAST, "learning_rate": 1e12, "min_learning_rate": 1e12})
    with pytest.raises(TrainingError, match=r"epoch 1.*step \d+|after epoch 1"):
        model.fit(planted.sessions)


def test_single_worker_is_deterministic(planted):
    a = Item2Vec(**{**FAST, "epochs": 1, "workers": 1}).fit(planted.sessions)
    b = Item2Vec(**{**FAST, "epochs": 1, "workers": 1}).fit(planted.sessions)
    c = Item2Vec(**{**FAST, "epochs": 1, "workers": 1, "seed": 1}).fit(planted.sessions)
    np.testing.assert_array_equal(a.item_vectors_, b.item_vectors_)
    assert not np.array_equal(a.item_vectors_, c.item_vectors_)


@pytest.mark.parametrize(
    "param, value, message",
    [
        ("dim", 0, r"dim must be an integer >= 1, got 0"),
        ("epochs", 0, r"epochs must be an integer >= 1 or None \(automatic\), got 0"),
        ("batch_size", 0, r"batch_size must be an integer >= 1, got 0"),
        ("mode", "glove", r"mode must be one of 'skipgram', 'cbow', got 'glove'"),
        ("window", 0, r"window must be an integer >= 1 or 'session', got 0"),
        ("negatives", -1, r"negatives must be an integer >= 0, got -1"),
        ("ns_exponent", float("nan"), r"ns_exponent must be a finite number, got nan"),
        ("sample", -1.0, r"sample must be a finite number >= 0, got -1.0"),
        ("learning_rate", 0.0, r"learning_rate must be a finite number > 0, got 0.0"),
        ("optimizer", "adam", r"optimizer must be one of 'sgd', 'adagrad', got 'adam'"),
        ("workers", 0, r"workers must be an integer >= 1, got 0"),
        ("min_count", 0, r"min_count must be an integer >= 1, got 0"),
        ("max_contexts", 5, r"max_contexts applies only to window='session', got max_contexts=5"),
        ("negative_block", 0, r"negative_block must be an integer >= 1 or None \(auto.*, got 0"),
        ("negative_block", 3, r"negative_block must divide batch_size \(256\), got 3"),
    ],
)
def test_bad_hyperparameters_are_named(planted, param, value, message):
    model = Item2Vec(**{**FAST, param: value})  # __init__ only stores
    assert getattr(model, param) is value
    with pytest.raises(ParameterError, match=message):
        model.fit(planted.sessions)


def test_negative_block_is_eight_where_it_pays_and_one_elsewhere():
    from item2vec.config import AUTO_NEGATIVE_BLOCK, Config

    assert AUTO_NEGATIVE_BLOCK == 8
    assert Config().block() == 8
    assert Config(negative_block=1).block() == 1
    assert Config(negative_block=4).block() == 4
    assert Config(window="session").block() == 1  # contexts outnumber the negatives
    assert Config(mode="cbow").block() == 1
    assert Config(batch_size=100).block() == 1  # 8 does not divide it


def test_fit_rejects_non_sessions():
    with pytest.raises(ParameterError, match="sessions must be an item2vec.Sessions, got list"):
        Item2Vec(**FAST).fit([["a", "b"]])


def test_empty_vocabulary_after_min_count():
    sessions = Sessions.from_lists([["a", "b"], ["c", "d"]])
    with pytest.raises(ParameterError, match="min_count=5"):
        Item2Vec(**{**FAST, "min_count": 5}).fit(sessions)


def test_queries_on_unfitted_model():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        Item2Vec().similar("x")
    with pytest.raises(NotFittedError, match="not fitted yet"):
        Item2Vec().recommend(["x"])


def test_unknown_item_is_named_with_a_suggestion():
    sessions = Sessions.from_lists([["apple", "banana", "cherry"]] * 5)
    model = Item2Vec(**{**FAST, "epochs": 1}).fit(sessions)
    with pytest.raises(UnknownItemError, match=r"unknown item 'bananna'.*did you mean 'banana'"):
        model.similar("bananna")
    with pytest.raises(ParameterError, match=r"k must be an integer >= 1, got 0"):
        model.similar("apple", k=0)


def test_similar_batch_equals_single_and_excludes_query(fitted):
    ids = list(fitted.vocabulary_.ids[:5])
    batch_ids, batch_scores = fitted.similar(ids, 7)
    assert batch_ids.shape == (5, 7)
    for i, item in enumerate(ids):
        one_ids, one_scores = fitted.similar(item, 7)
        assert one_ids.shape == (7,)
        np.testing.assert_array_equal(one_ids, batch_ids[i])
        np.testing.assert_allclose(one_scores, batch_scores[i], rtol=1e-6)
        assert item not in one_ids


def test_similar_matches_numpy_cosine(fitted):
    E = fitted.item_vectors_ / np.linalg.norm(fitted.item_vectors_, axis=1, keepdims=True)
    q = 3
    scores = E @ E[q]
    scores[q] = -np.inf
    want = fitted.vocabulary_.ids[np.argsort(-scores, kind="stable")[:10]]
    got, got_scores = fitted.similar(fitted.vocabulary_.ids[q], 10)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(got_scores, np.sort(scores)[::-1][:10], rtol=1e-5)


def test_recommend_matches_brute_force_dot_plus_bias(fitted):
    """logit of a history: the recency-weighted sum of E[h] . E[t] + b[t], the newest item
    (last) weighing twice the one before: weights 1/7, 2/7, 4/7 oldest first."""
    context = list(fitted.vocabulary_.ids[[0, 5, 9]])
    rows = fitted.vocabulary_.encode(context)
    q = np.array([1, 2, 4], np.float32) @ fitted.item_vectors_[rows] / 7
    scores = fitted.item_vectors_ @ q + fitted.item_biases_
    scores[rows] = -np.inf
    want = np.argsort(-scores, kind="stable")[:10]
    got, got_scores = fitted.recommend(context, 10, score="logit")
    np.testing.assert_array_equal(fitted.vocabulary_.encode(got), want)
    np.testing.assert_allclose(got_scores, scores[want], rtol=1e-4, atol=1e-5)
    unmasked = fitted.item_vectors_ @ q + fitted.item_biases_
    with_context, _ = fitted.recommend(context, 10, exclude_context=False, score="logit")
    np.testing.assert_array_equal(
        fitted.vocabulary_.encode(with_context), np.argsort(-unmasked, kind="stable")[:10]
    )


def test_allowed_and_exclude_filters(fitted):
    ids = fitted.vocabulary_.ids
    allowed = list(ids[10:30])
    got, _ = fitted.similar(ids[0], 5, allowed=allowed, exclude=[ids[10]])
    assert set(got) <= set(allowed) - {ids[10]}


def test_neighbour_monitor_matches_similar_and_respects_its_interval(fitted):
    from item2vec.training.monitor import NeighbourMonitor
    from item2vec.training.state import TrainState

    items = list(fitted.vocabulary_.ids[:3])
    lines: list[str] = []
    monitor = NeighbourMonitor(
        fitted.model_, fitted.vocabulary_, items, every=10, k=4,
        descriptions={items[0]: "first item"}, write=lines.append,
    )  # fmt: skip
    monitor(TrainState(epoch=0, global_step=8))
    assert lines == []
    # steps advance a group of batches at a time: print once each time a multiple is passed
    monitor(TrainState(epoch=0, global_step=16))
    monitor(TrainState(epoch=1, global_step=19))
    assert len(lines) == 1 and "step 16 (epoch 1)" in lines[0]
    monitor(TrainState(epoch=1, global_step=20))
    assert len(lines) == 2 and "step 20 (epoch 2)" in lines[1] and "first item" in lines[1]
    want, _ = fitted.similar(items, 4)
    np.testing.assert_array_equal(fitted.vocabulary_.decode(monitor.neighbours()), want)


def test_monitor_prints_during_fit(planted, capsys):
    item = planted.sessions.vocabulary.ids[0]
    Item2Vec(**{**FAST, "epochs": 1}, monitor=[item], monitor_every=5).fit(planted.sessions)
    out = capsys.readouterr()
    assert "nearest neighbours" in out.out + out.err


def test_several_workers_stay_within_the_documented_tolerance(planted):
    # Hogwild threads race like gensim's: vectors differ run to run, quality does not.
    runs = [Item2Vec(**{**FAST, "workers": 2}).fit(planted.sessions) for _ in range(2)]
    precisions = [planted.same_cluster_precision(_neighbour_rows(m)) for m in runs]
    assert min(precisions) >= 0.9 and abs(precisions[0] - precisions[1]) <= 0.05


def test_workers_run_across_epoch_ends_yet_epochs_end_in_order_with_every_couple(planted):
    import tensorflow as tf

    from item2vec.config import Config
    from item2vec.sampling import stream_spans
    from item2vec.training.model import Item2VecModel, span_context_mask
    from item2vec.training.train import Trainer

    config = Config(dim=8, epochs=6, batch_size=64, workers=2, window=2, seed=3)
    trainer = Trainer(Item2VecModel(len(planted.sessions.vocabulary), 8), planted.sessions,
                      config, progress=False)  # fmt: skip
    ended: list[tuple[int, int]] = []
    trainer.on_epoch_end = lambda stats: ended.append((stats.epoch, trainer.state.epoch))
    t0 = time.perf_counter()
    history = trainer.fit()
    wall = time.perf_counter() - t0
    assert ended == [(e, e) for e in range(1, 7)]  # in order, state.epoch = epochs done
    assert trainer.spans  # in-memory sessions: blocks of consecutive targets

    def sampled(epoch: int) -> tuple[int, int]:
        """(couples, targets) of the epoch's spans, straight from the sampler."""
        kwargs = {**config.stream_kwargs(epoch), "batch_size": 64 // trainer.block}
        couples = targets = 0
        for b in stream_spans(planted.sessions, block=trainer.block, **kwargs):
            mask = span_context_mask(*(tf.constant(a) for a in (b.spans, b.targets, b.radii)))
            couples += int(tf.reduce_sum(mask))
            targets += int((b.targets >= 0).sum())
        return couples, targets

    counts = [sampled(e) for e in range(6)]
    for stats in history:  # each epoch counted exactly its own sampler's couples
        assert stats.couples == counts[stats.epoch - 1][0]
    # epochs overlap, but their seconds partition the run instead of counting twice
    assert sum(h.seconds for h in history) <= wall
    assert trainer.state.units_done == sum(t for _, t in counts)


def test_a_sampler_error_during_fit_is_raised_by_fit(planted, monkeypatch):
    from item2vec.training.train import Trainer

    groups = Trainer.groups

    def failing(self, epoch, skip=0):
        if epoch == 1:
            raise OSError("disk read failed in epoch 2")
        return groups(self, epoch, skip)

    monkeypatch.setattr(Trainer, "groups", failing)
    model = Item2Vec(**{**FAST, "workers": 2})
    with pytest.raises(OSError, match="disk read failed in epoch 2"):
        model.fit(planted.sessions)


def test_an_error_in_a_worker_thread_stops_training_and_is_raised(planted):
    from item2vec.config import Config
    from item2vec.training.model import Item2VecModel
    from item2vec.training.train import Trainer

    config = Config(dim=8, epochs=1, batch_size=64, workers=2)
    trainer = Trainer(Item2VecModel(len(planted.sessions.vocabulary), 8), planted.sessions,
                      config, progress=False)  # fmt: skip
    step, calls = trainer._step_fn, []

    def failing(*args):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("boom in a worker")
        return step(*args)

    trainer._step_fn = failing
    with pytest.raises(RuntimeError, match="boom in a worker"):
        trainer.fit()
    assert len(calls) < 20  # the other worker stopped too


def test_learning_rate_decays_by_units_to_the_floor(planted):
    from item2vec.config import Config
    from item2vec.training.model import Item2VecModel
    from item2vec.training.train import Trainer, expected_units_per_epoch

    c = Config(dim=8, epochs=3, learning_rate=0.1, min_learning_rate=0.01)
    t = Trainer(Item2VecModel(len(planted.sessions.vocabulary), 8), planted.sessions, c)
    total = expected_units_per_epoch(planted.sessions, c) * 3
    assert t.learning_rate(0) == pytest.approx(0.1)
    assert t.learning_rate(int(total / 2)) == pytest.approx(0.05, rel=1e-3)
    assert t.learning_rate(int(total * 0.95)) == pytest.approx(0.01)  # floored
    assert t.learning_rate(int(total * 2)) == pytest.approx(0.01)


def test_configure_threads_leaves_a_users_setting_alone(monkeypatch):
    from item2vec.training.train import configure_threads

    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "3")
    assert configure_threads() is False
    import tensorflow as tf

    # conftest.py configured this process as the CLI does
    assert tf.config.threading.get_intra_op_parallelism_threads() == 1


def test_reported_loss_estimates_the_full_loss(planted):
    """The history's loss comes from 512 units per batch; it must match the exact mean."""
    import tensorflow as tf

    from item2vec.sampling import window_units
    from item2vec.training.model import unit_loss_and_grads

    model = Item2Vec(**{**FAST, "epochs": 1, "batch_size": 4096, "workers": 1})
    model.fit(planted.sessions)
    u = window_units(planted.sessions, window=3, negatives=5, seed=7)
    loss, _ = unit_loss_and_grads(model.model_, tf.constant(u.contexts),
                                  tf.constant(u.targets), tf.constant(u.negatives))  # fmt: skip
    exact = float(loss) / int((u.contexts >= 0).sum())
    # after the epoch, the loss on fresh units is near the epoch's running estimate
    assert model.history_[0]["loss"] == pytest.approx(exact, rel=0.25)


# ----------------------------------------------------------------------------- log_prob
@pytest.fixture(scope="module")
def popular_vs_rare():
    """After Q comes A (popular everywhere) 60 times and R (seen only after Q) 20 times.

    P(A | Q) = 0.75 > P(R | Q) = 0.25, but R is far more *specific* to Q: with
    ns_exponent=1 the logit estimates log(P(t | Q) / count(t)) (a PMI), so it ranks R first;
    log_prob adds back log count(t) and ranks by P(t | Q): A first.
    """
    rng = np.random.default_rng(0)
    fill = [f"f{i}" for i in range(50)]
    sessions = [["Q", "A"]] * 60 + [["Q", "R"]] * 20
    for _ in range(1000):
        s = list(rng.choice(fill, 3, replace=False))
        s.insert(int(rng.integers(4)), "A")
        sessions.append(s)
    model = Item2Vec(dim=8, window=1, negatives=5, ns_exponent=1.0, sample=0, epochs=30,
                     batch_size=256, workers=1, progress=False, seed=0)  # fmt: skip
    return model.fit(Sessions.from_lists(sessions))


def test_log_prob_ranks_by_conditional_probability_logit_by_specificity(popular_vs_rare):
    m = popular_vs_rare
    assert m.recommend("Q", 1, score="logit")[0][0] == "R"
    assert m.recommend("Q", 1, score="log_prob")[0][0] == "A"
    counts = dict(zip(m.vocabulary_.ids.tolist(), m.vocabulary_.counts.tolist(), strict=True))
    assert counts["A"] == 1060 and counts["R"] == 20
    prior = m.item_log_prior_  # ns_exponent * log(count), no subsampling
    np.testing.assert_allclose(prior, np.log(m.vocabulary_.counts), rtol=1e-6)


def log_softmax(s: np.ndarray) -> np.ndarray:
    s = s - s.max()
    return s - np.log(np.exp(s).sum())


def test_log_prob_of_one_item_is_logit_plus_prior(fitted):
    row = 5
    item = fitted.vocabulary_.ids[row]
    scores = fitted.item_vectors_ @ fitted.item_vectors_[row]
    scores += fitted.item_biases_ + fitted.item_log_prior_
    # the score is log P(t | item): the logit plus prior, normalised over the catalogue
    log_p = log_softmax(scores)
    scores[row] = -np.inf  # the item itself is never recommended
    want = np.argsort(-scores, kind="stable")[:10]
    got, got_scores = fitted.recommend(item, 10, score="log_prob")
    np.testing.assert_array_equal(fitted.vocabulary_.encode(got), want)
    np.testing.assert_allclose(got_scores, log_p[want], rtol=1e-4, atol=1e-4)


def test_log_prob_of_a_history_is_the_recency_mixture(fitted):
    history = list(fitted.vocabulary_.ids[[0, 5, 9]])  # oldest first
    rows = fitted.vocabulary_.encode(history)
    E, bias = fitted.item_vectors_, fitted.item_biases_ + fitted.item_log_prior_
    p = [np.exp(log_softmax(E @ E[r] + bias)) for r in rows]
    w = np.array([0.25, 0.5, 1.0]) / 1.75  # the newest weighs most, halving per step back
    scores = np.log(w @ np.array(p))
    scores[rows] = -np.inf
    want = np.argsort(-scores, kind="stable")[:10]
    got, got_scores = fitted.recommend(history, 10, score="log_prob")
    np.testing.assert_array_equal(fitted.vocabulary_.encode(got), want)
    np.testing.assert_allclose(got_scores, scores[want], rtol=1e-4, atol=1e-4)
    batch, _ = fitted.recommend_batch([history, history[:1]], 10, score="log_prob")
    np.testing.assert_array_equal(batch[0], got)
    np.testing.assert_array_equal(batch[1], fitted.recommend(history[0], 10, score="log_prob")[0])
    with pytest.raises(ParameterError, match=r"score must be one of 'cosine', 'logit', "
                       r"'log_prob', 'blend', got 'dot'"):  # fmt: skip
        fitted.recommend(history, 10, score="dot")


def test_the_loops_pieces_are_importable_from_train_and_their_homes():
    """``item2vec.training.train`` re-exports the names it used to define (estimator,
    benchmarks)."""
    from item2vec import sampling
    from item2vec.training import checkpoint, monitor, state, train

    assert train.Checkpointer is checkpoint.Checkpointer
    assert train.NeighbourMonitor is monitor.NeighbourMonitor
    assert train.EpochStats is state.EpochStats and train.TrainState is state.TrainState
    stats = state.EpochStats(2, 0.5, 10, 2.0, 0.01, metrics={"HR@10": 0.3})
    assert state.EpochStats.from_dict(stats.as_dict()) == stats
    from item2vec.config import Config

    data = datasets.synthetic(n_items=30, n_clusters=3, n_sessions=50, mean_length=5, seed=0)
    c = Config(sample=1e-2)
    assert train.expected_units_per_epoch(data.sessions, c) == sampling.expected_units(
        data.sessions.vocabulary.counts, c.sample
    )


def test_auto_epochs_follow_the_corpus_size():
    from item2vec.config import AUTO_EVENTS, Config, auto_epochs

    assert auto_epochs(AUTO_EVENTS // 10) == 10  # 400 k events: the minimum, 10 passes
    assert auto_epochs(AUTO_EVENTS // 10 - 1) == 11
    assert auto_epochs(100_000) == 40
    assert auto_epochs(20_000) == 100 and auto_epochs(0) == 100  # capped
    assert auto_epochs(50_000_000) == 10
    assert Config().epochs is None and Config().for_corpus(100_000).epochs == 40
    assert Config(epochs=3).for_corpus(100_000).epochs == 3  # given epochs are kept


def test_fit_resolves_auto_epochs_and_warns_when_a_fit_is_short(planted):
    s = planted.sessions  # ~24 k events: 100 automatic epochs
    model = Item2Vec(dim=8, window=2, epochs=None, workers=1, progress=False, seed=0)
    assert model.epochs is None
    short = Item2Vec(dim=8, window=2, epochs=2, workers=1, progress=False, seed=0)
    with pytest.warns(UserWarning, match=r"epochs=2 over a log of [\d,]+ events .* "
                      r"\(epochs=None would use 100\)"):  # fmt: skip
        short.fit(s)
    assert short.epochs_ == 2 and len(short.history_) == 2
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # long enough: no warning
        Item2Vec(dim=8, window=2, epochs=50, workers=1, progress=False, seed=0).fit(s)
    from item2vec.config import auto_epochs

    assert auto_epochs(s.n_events) == 100
    assert model.get_params()["epochs"] is None


def test_the_divergence_guard_known_answers():
    """Hand-computed thresholds: untrained vectors lose (1 + negatives) ln 2 per couple."""
    import math

    from item2vec.config import Config
    from item2vec.training.divergence import DivergenceGuard, untrained_loss

    assert untrained_loss(5) == pytest.approx(6 * math.log(2))
    counts = np.array([600, 300, 100])  # the first item is in 60% of the targets
    guard = DivergenceGuard(Config(negatives=5, batch_size=10, learning_rate=0.5), counts)
    ref = 6 * math.log(2)
    at = {"epoch": 2, "step": 40, "lr": 0.25}
    assert guard.group(99 * ref * 8, 8, **at) is None  # under 100x: training
    err = guard.group(101 * ref * 8, 8, **at)
    assert str(err).startswith(f"training diverged: loss is {101 * ref:.3g} at epoch 2, by step 40 "
                               "(learning rate 0.25), over 100x")  # fmt: skip
    assert "lower learning_rate (it is 0.5), or batch_size (10: its most frequent item is in " \
        "about 6 targets of a batch" in str(err)  # fmt: skip
    assert "loss is nan" in str(guard.group(float("nan"), 8, **at))
    import tensorflow as tf

    fine = tf.Variable(np.ones((3, 4), np.float32))
    long = tf.Variable(np.zeros((3, 4), np.float32))
    assert guard.epoch(9 * ref, [fine], epoch=1, step=5) is None
    assert "the epoch's loss is" in str(guard.epoch(11 * ref, [fine], epoch=1, step=5))
    long[1, 0].assign(2e3)
    assert "has norm 2e+03 after epoch 1 (step 5), over 1000" in str(
        guard.epoch(ref, [fine, long], epoch=1, step=5)
    )
    quiet = DivergenceGuard(Config(batch_size=1), counts)  # one target a batch: no batch advice
    assert "batch_size" not in str(quiet.group(float("inf"), 1, **at))
