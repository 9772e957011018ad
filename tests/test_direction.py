"""``direction="forward"``: a target's contexts are only the items before it (issue 35).

Known answers on hand-built sessions (``shrink_window=False, sample=0``: no randomness in
the windows), both directions and the session window, for every path of the sampler:
whole-corpus units and couples, streamed units and couples, one chunk's units.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from sampling_helpers import corpus, positives

from item2vec.exceptions import ParameterError
from item2vec.sampling.streaming import stream_couples, stream_spans, stream_units
from item2vec.sampling.windows import (
    WindowPlan,
    chunk_spans,
    chunk_units,
    skipgram_couples,
    window_units,
)

# items 0..4 in one session, 5..7 in another, 8 alone (no context either way)
LISTS = [[0, 1, 2, 3, 4], [5, 6, 7], [8]]
S = corpus(LISTS)
EXACT = dict(shrink_window=False, sample=0.0, negatives=2, seed=0)

# (context, target) couples listed by hand
FORWARD_W2 = Counter({
    (0, 1): 1, (0, 2): 1, (1, 2): 1, (1, 3): 1, (2, 3): 1, (2, 4): 1, (3, 4): 1,
    (5, 6): 1, (5, 7): 1, (6, 7): 1,
})  # fmt: skip
FORWARD_SESSION = Counter({
    (0, 1): 1, (0, 2): 1, (1, 2): 1, (0, 3): 1, (1, 3): 1, (2, 3): 1,
    (0, 4): 1, (1, 4): 1, (2, 4): 1, (3, 4): 1, (5, 6): 1, (5, 7): 1, (6, 7): 1,
})  # fmt: skip
BOTH_W1 = Counter({
    (1, 0): 1, (0, 1): 1, (2, 1): 1, (1, 2): 1, (3, 2): 1, (2, 3): 1, (4, 3): 1, (3, 4): 1,
    (6, 5): 1, (5, 6): 1, (7, 6): 1, (6, 7): 1,
})  # fmt: skip


def _streamed(fn, **kw) -> Counter:
    out: Counter = Counter()
    for batch in fn(S, batch_size=3, **kw):
        out += positives(batch)
    return out


@pytest.mark.parametrize(
    "window, direction, expected",
    [(2, "forward", FORWARD_W2), ("session", "forward", FORWARD_SESSION), (1, "both", BOTH_W1)],
)
def test_known_contexts_on_every_path(window, direction, expected):
    kw = dict(EXACT, window=window, direction=direction)
    assert positives(window_units(S, **kw)) == expected
    assert positives(skipgram_couples(S, **kw)) == expected
    del kw["seed"]
    assert _streamed(stream_units, **kw) == expected
    assert _streamed(stream_couples, **kw) == expected
    plan = WindowPlan.from_sessions(S, **{k: v for k, v in kw.items() if k != "direction"},
                                    direction=direction)  # fmt: skip
    units = chunk_units(plan, S.items, S.offsets, np.random.default_rng(0))
    assert positives(units) == expected


def test_forward_units_by_target_in_the_slots_before_it():
    units = window_units(S, window=2, direction="forward", trace=True, **EXACT)
    by_event = {int(e): u for u, e in enumerate(units.events)}
    # no unit for the first item of a session (nothing before it) or the lone item
    assert sorted(by_event) == [1, 2, 3, 4, 6, 7]
    c = units.contexts
    assert c.shape[1] == 4  # the 2 * window layout: slot window - d is offset -d
    assert (c[:, 2:] == -1).all()  # nothing after the target
    assert c[by_event[4]].tolist() == [2, 3, -1, -1]
    assert c[by_event[1]].tolist() == [-1, 0, -1, -1]
    assert c[by_event[7]].tolist() == [5, 6, -1, -1]


def test_forward_session_cap_takes_a_subset_of_the_earlier_items():
    lists = [list(range(12))]
    s = corpus(lists)
    units = window_units(s, window="session", max_contexts=3, direction="forward",
                         trace=True, **EXACT)  # fmt: skip
    for t, ctx in zip(units.targets.tolist(), units.contexts.tolist(), strict=True):
        real = [c for c in ctx if c >= 0]
        assert len(real) == min(t, 3) and len(set(real)) == len(real)
        assert all(c < t for c in real)  # only earlier items (here item == position)


def test_forward_with_shrink_and_subsampling_stays_before_the_target():
    lists = [list(range(20)), list(range(20, 35))]
    s = corpus(lists, n_items=40, counts=np.r_[np.full(35, 50), np.ones(5)])
    units = window_units(s, window=4, negatives=1, sample=1e-2, direction="forward",
                         seed=3, trace=True)  # fmt: skip
    rows, cols = np.nonzero(units.contexts >= 0)
    assert len(rows) and (cols < 4).all()
    # items are their positions, so every context is an earlier item of the same session
    assert (units.contexts[rows, cols] < units.targets[rows]).all()
    same = (units.contexts[rows, cols] >= 20) == (units.targets[rows] >= 20)
    assert same.all()


def test_both_is_the_default_and_draws_the_same():
    kw = dict(window=3, negatives=2, sample=1e-3, seed=5)
    a, b = window_units(S, **kw), window_units(S, direction="both", **kw)
    for x, y in zip(a.arrays(), b.arrays(), strict=True):
        np.testing.assert_array_equal(x, y)


def test_spans_refuse_forward_windows():
    with pytest.raises(ParameterError, match=r"stream_spans needs direction='both'"):
        stream_spans(S, batch_size=2, block=2, window=2, negatives=1, direction="forward")
    plan = WindowPlan.from_sessions(S, window=2, negatives=1, direction="forward")
    with pytest.raises(ValueError, match=r"chunk_spans needs direction='both'"):
        chunk_spans(plan, S.items, S.offsets, np.random.default_rng(0), 2)


# ----------------------------------------------------------------------------- the trainer
def test_direction_is_checked_by_config_and_estimator():
    from item2vec import Item2Vec
    from item2vec.config import Config

    with pytest.raises(ParameterError, match=r"direction must be one of 'both', 'forward', "
                                             r"got 'backward'"):  # fmt: skip
        Config(direction="backward").validate()
    with pytest.raises(ParameterError, match=r"direction must be one of .* got 'next'"):
        Item2Vec(direction="next", progress=False).fit(S)
    assert Config().direction == "both" and Config().stream_kwargs(0)["direction"] == "both"
    assert Item2Vec(direction="forward").get_params()["direction"] == "forward"


def test_forward_width_groups_keep_only_the_columns_before_the_target():
    from item2vec.sampling import Units
    from item2vec.sampling.feed import width_groups

    # window 2: columns are offsets -2, -1, +1, +2; forward units fill only the first two
    ctx = np.array([[-1, 5, -1, -1], [7, 8, -1, -1], [-1, 9, -1, -1], [1, 3, -1, -1]], np.int32)
    u = Units(np.arange(4, dtype=np.int32), ctx, np.zeros((4, 1), np.int32))
    groups = list(width_groups(iter([u]), 2, 2, 8, forward=True))
    by_width = {g[0].shape[2]: g for g in groups}
    assert sorted(by_width) == [1, 2]
    np.testing.assert_array_equal(by_width[1][0][0], [[5], [9]])
    np.testing.assert_array_equal(by_width[2][0][0], [[7, 8], [1, 3]])


def test_forward_trains_units_with_exactly_the_forward_couples():
    from item2vec.config import Config
    from item2vec.sampling.feed import uses_spans
    from item2vec.training.model import Item2VecModel
    from item2vec.training.train import Trainer

    s = corpus([list(range(i, i + 7)) for i in range(0, 60, 7)] * 20, n_items=70)
    config = Config(dim=8, epochs=2, batch_size=64, workers=1, window=3, direction="forward",
                    shrink_window=False, sample=0.0, seed=1)  # fmt: skip
    assert not uses_spans(s, config) and uses_spans(s, Config(window=3))
    trainer = Trainer(Item2VecModel(70, 8, seed=1), s, config, progress=False)
    history = trainer.fit()
    per_session = sum(min(i, 3) for i in range(7))  # contexts before each of 7 positions
    assert not trainer.spans
    assert [h.couples for h in history] == [per_session * len(s)] * 2


@pytest.mark.filterwarnings("ignore:epochs=")
def test_forward_biases_learn_which_items_come_later():
    """Item 0 opens every session and item 1 closes it: with forward contexts item 1 is
    often a target and item 0 never, so the target-only bias tells them apart; with both
    directions their roles are mirror images and their biases close."""
    from item2vec import Item2Vec

    rng = np.random.default_rng(0)
    lists = [[0, *rng.choice(np.arange(2, 40), 4, replace=False).tolist(), 1]
             for _ in range(600)]  # fmt: skip
    s = corpus(lists, n_items=40)
    kw = dict(dim=8, window=2, epochs=5, batch_size=128, workers=1, sample=0.0,
              progress=False, seed=0)  # fmt: skip
    fwd = Item2Vec(direction="forward", **kw).fit(s).item_biases_
    both = Item2Vec(**kw).fit(s).item_biases_
    assert fwd[1] - fwd[0] > 1.0
    assert abs(both[1] - both[0]) < 0.5 * (fwd[1] - fwd[0])


def test_the_direction_flag_reaches_the_config():
    import argparse

    from item2vec.flags import add_hyperparameters, hyperparameters

    p = argparse.ArgumentParser()
    add_hyperparameters(p)
    assert hyperparameters(p.parse_args([]))["direction"] == "both"
    assert hyperparameters(p.parse_args(["--direction", "forward"]))["direction"] == "forward"
    with pytest.raises(SystemExit):
        p.parse_args(["--direction", "back"])
