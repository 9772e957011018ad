"""The next-event split: hold out each long session's last item, test on a seeded sample.

Protocol (see ``docs/design.md``): every session with at least ``min_length`` items loses its
last item in the training corpus; a seeded sample of those sessions is the test set, where
item n-1 is the query and item n the answer. :func:`validation_split` carves a validation
split out of the training part the same way, disjoint from the test sessions. Everything
works on vocabulary *rows*.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checks import check_int, check_real
from ..exceptions import DataError, ParameterError
from .sessions import Sessions, Vocabulary

__all__ = [
    "FULL_HISTORY",
    "NextEventSplit",
    "confirmation_split",
    "full_ranking_split",
    "next_event_split",
    "validation_pool",
    "validation_split",
]


@dataclass(frozen=True)
class NextEventSplit:
    """A next-event split.

    Attributes
    ----------
    train : Sessions
        Every session with >= ``min_length`` items minus its last item; shorter sessions
        whole. Same vocabulary rows as the input; ``vocabulary.counts`` are recounted on the
        training events (held-out answers are not counted; an item may have count 0).
    queries, answers : ndarray of int32, shape (n_cases,)
        Item n-1 and item n of each test session.
    test_sessions : ndarray of int64, shape (n_cases,)
        Index (in the input corpus, same in ``train``) of each case's session, ascending
        (repeated when a validation split holds out several events per session).
    seed : int
    min_length : int
    histories : ndarray of int32, shape (n_cases, N), or None
        The history protocol (``next_event_split(..., history=N)``): the last up to ``N``
        items before each answer, oldest first, ``-1`` padding on the left (the last column
        is ``queries``). ``None``: the previous-item protocol.
    """

    train: Sessions
    queries: np.ndarray
    answers: np.ndarray
    test_sessions: np.ndarray
    seed: int
    min_length: int = 3
    histories: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.queries)
        for name in ("answers", "test_sessions"):
            if np.shape(getattr(self, name)) != (n,):
                raise ParameterError(
                    f"{name} has shape {np.shape(getattr(self, name))}, queries has ({n},)"
                )
        if self.histories is not None and np.shape(self.histories)[:1] != (n,):
            raise ParameterError(
                f"histories has shape {np.shape(self.histories)}, queries has ({n},)"
            )

    @property
    def history(self) -> int | None:
        """``N`` of the history protocol, or None for the previous-item protocol."""
        return None if self.histories is None else self.histories.shape[1]

    def __len__(self) -> int:
        return len(self.queries)


def _strip(sessions: Sessions, drop: np.ndarray) -> Sessions:
    """Remove the last ``drop[i]`` items of each session i; counts are recounted."""
    lengths = sessions.lengths
    ends = np.repeat(sessions.offsets[1:], lengths)
    keep = np.arange(sessions.n_events) < ends - np.repeat(drop, lengths)
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths - drop, out=offsets[1:])
    items = sessions.items[keep]
    v = sessions.vocabulary
    counts = np.bincount(items, minlength=len(v)).astype(np.int64)
    vocab = Vocabulary(v.ids, counts, v.dropped_items, v.dropped_events)
    report = dict(sessions.report, **{"next-event: last items held out": int(drop.sum())})
    return Sessions(items, offsets, vocab, report)


def _strip_last(sessions: Sessions, min_length: int) -> tuple[Sessions, np.ndarray, np.ndarray]:
    """Remove the last item of each session with >= min_length items.

    Returns the new corpus, the eligible session indices (n_elig,) and the positions of
    their last items in ``sessions.items`` (n_elig,).
    """
    long = sessions.lengths >= min_length
    eligible = np.flatnonzero(long)
    return _strip(sessions, long.astype(np.int64)), eligible, sessions.offsets[eligible + 1] - 1


def _draw(pool: int, n: int | None, fraction: float, seed: int, what: str) -> np.ndarray:
    """Sorted positions of ``n`` (or ``fraction`` of ``pool``) draws without replacement."""
    if n is None:
        fraction = check_real(f"{what}_fraction", fraction, 0, strict=True, maximum=1)
        n = max(1, round(fraction * pool))
    else:
        check_int(f"n_{what}", n, 1)
        if n > pool:
            raise ParameterError(f"n_{what}={n} exceeds the {pool} sessions available for it")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(pool, size=n, replace=False))


def _histories(items: np.ndarray, starts: np.ndarray, answers: np.ndarray, n: int) -> np.ndarray:
    """The last up to ``n`` items before each answer position, within its session, oldest
    first, ``-1`` padding on the left: int32 (len(answers), n)."""
    pos = answers[:, None] - n + np.arange(n)  # the n positions before the answer
    ok = pos >= starts[:, None]
    return np.where(ok, items[np.maximum(pos, 0)], -1).astype(np.int32)


def next_event_split(
    sessions: Sessions,
    *,
    n_test: int | None = None,
    test_fraction: float = 0.1,
    seed: int = 0,
    min_length: int = 3,
    history: int | None = None,
) -> NextEventSplit:
    """Hold out the last item of every long session; test on a seeded sample of them.

    Parameters
    ----------
    sessions : Sessions
    n_test : number of test sessions; overrides ``test_fraction``.
    test_fraction : share of the eligible sessions drawn as the test set (at least 1).
    seed : seed of the draw.
    min_length : sessions with fewer items stay whole in ``train`` and are never tested.
    history : ``N`` for the history protocol: each case is queried with the last up to ``N``
        items before the answer (``NextEventSplit.histories``), the history's items are left
        out of every list, and cases whose answer is in the history are counted apart
        (:func:`item2vec.evaluation.protocols.evaluate`). ``None``: query with the previous
        item only.
    """
    check_int("min_length", min_length, 2)
    if history is not None:
        check_int("history", history, 1)
    train, eligible, last = _strip_last(sessions, min_length)
    if len(eligible) == 0:
        raise DataError(
            f"no session has >= {min_length} items; the next-event protocol needs "
            f"sessions of length >= {min_length}"
        )
    pick = _draw(len(eligible), n_test, test_fraction, seed, "test")
    items = sessions.items
    hist = None
    if history is not None:
        hist = _histories(items, sessions.offsets[eligible[pick]], last[pick], history)
    return NextEventSplit(
        train, items[last[pick] - 1], items[last[pick]], eligible[pick], seed, min_length, hist
    )


def validation_pool(split: NextEventSplit, events: int = 1) -> np.ndarray:
    """Sessions of ``split.train`` that :func:`validation_split` may draw, ascending: those
    outside the test set with at least ``min_length + events - 1`` items."""
    pool = np.flatnonzero(split.train.lengths >= split.min_length + events - 1)
    return pool[~np.isin(pool, split.test_sessions)]


def validation_split(
    split: NextEventSplit,
    *,
    n_valid: int | None = None,
    valid_fraction: float = 0.1,
    seed: int | None = None,
    events: int = 1,
) -> NextEventSplit:
    """Carve a validation split out of ``split.train`` the same way, disjoint from the test.

    Every session of ``split.train`` with >= ``min_length`` items loses its last item again;
    the validation sessions are drawn among those that are *not* test sessions. Tune on the
    returned split, then refit on ``split.train`` and report on ``split``.

    Parameters
    ----------
    split : NextEventSplit
    n_valid, valid_fraction : number (or share) of validation *sessions*, drawn as
        ``n_test``/``test_fraction``.
    seed : seed of the draw; ``split.seed`` when None.
    events : held-out events per validation session. With ``events=m`` each validation
        session loses its last ``m`` items and gives ``m`` cases (the item before each held-out
        item predicts it), so it needs ``min_length + m - 1`` items; ``test_sessions`` then
        repeats each session ``m`` times. More cases per session lower the noise of the
        validation metric when the sessions available are few.
    """
    check_int("events", events, 1)
    lengths = split.train.lengths
    need = split.min_length + events - 1
    pool = validation_pool(split, events)
    if len(pool) == 0:
        extra = "" if events == 1 else f" (min_length {split.min_length} + events {events} - 1)"
        raise DataError(f"no session outside the test set has >= {need} items{extra}; the "
                        f"validation split needs one")  # fmt: skip
    seed = split.seed if seed is None else seed
    pick = pool[_draw(len(pool), n_valid, valid_fraction, seed, "valid")]
    drop = (lengths >= split.min_length).astype(np.int64)
    drop[pick] = events
    pos = (split.train.offsets[pick + 1, None] - events + np.arange(events)).ravel()
    items = split.train.items
    hist = None
    if split.history is not None:  # the same protocol as the split it comes from
        starts = np.repeat(split.train.offsets[pick], events)
        hist = _histories(items, starts, pos, split.history)
    return NextEventSplit(
        _strip(split.train, drop), items[pos - 1], items[pos], np.repeat(pick, events),
        seed, split.min_length, hist,
    )  # fmt: skip


def confirmation_split(
    split: NextEventSplit, val: NextEventSplit, n_confirm: int | None = None, seed: int = 0
) -> NextEventSplit:
    """The cases of :func:`item2vec.tuning.search.tune`'s guard: sessions of ``split.train`` outside
    ``split`` and ``val``, each predicting its last item, with ``val.train`` as training
    corpus.

    ``val.train`` already lacks the last item of every session of ``split.train`` with
    >= ``min_length`` items (see :func:`~item2vec.data.split.validation_split`), so these answers
    are held out of the trials' corpus without any change to it, and the cases share no
    session with the selection (``val``) or the test cases. Same protocol as ``split``
    (histories of the same width). ``n_confirm``: sessions drawn (seeded), default
    ``min(2000, available)``.
    """
    pool = validation_pool(split, 1)
    pool = pool[~np.isin(pool, val.test_sessions)]
    if len(pool) == 0:
        raise DataError(
            f"no session is left for the guard's confirmation cases: the {len(val)} validation "
            "cases take every session outside the test set; lower n_valid (or n_test)"
        )
    if n_confirm is None:
        n_confirm = min(2000, len(pool))
    check_int("n_confirm", n_confirm, 1)
    if n_confirm > len(pool):
        raise ParameterError(
            f"n_confirm={n_confirm} exceeds the {len(pool)} sessions available for it (outside "
            "the test and validation sessions)"
        )
    rng = np.random.default_rng([seed, 1])  # not the validation draw's stream
    sessions = np.sort(pool[rng.choice(len(pool), size=n_confirm, replace=False)])
    items, starts = split.train.items, split.train.offsets[sessions]
    pos = split.train.offsets[sessions + 1] - 1  # each session's last item in split.train
    hist = None if split.history is None else _histories(items, starts, pos, split.history)
    return NextEventSplit(val.train, items[pos - 1], items[pos], sessions, seed,
                          split.min_length, hist)  # fmt: skip


#: Longest history of :func:`full_ranking_split` (the recency weights make older items
#: weigh less than 2 ** -40 of the newest).
FULL_HISTORY = 40


def full_ranking_split(sessions: Sessions, *, min_length: int = 3) -> NextEventSplit:
    """The protocol of the sequential-recommendation papers: train on every session but its
    last two items, test on the last item of every session with >= ``min_length`` items,
    queried with all items before it (up to :data:`FULL_HISTORY`, the second-to-last item
    included, though it was not trained on), those items masked from the ranking.

    A :class:`NextEventSplit` in the history protocol, so that
    :func:`item2vec.evaluation.protocols.evaluate` ranks it as it ranks the others (every
    item a candidate, cases whose answer is in the history counted apart).
    """
    check_int("min_length", min_length, 3)
    lengths = sessions.lengths
    eligible = np.flatnonzero(lengths >= min_length)
    if len(eligible) == 0:
        raise DataError(
            f"no session has >= {min_length} items; the full-ranking protocol needs them"
        )
    drop = np.zeros(len(lengths), np.int64)
    drop[eligible] = 2
    train = _strip(sessions, drop)
    last = sessions.offsets[eligible + 1] - 1
    items = sessions.items
    hist = _histories(items, sessions.offsets[eligible], last, FULL_HISTORY)
    return NextEventSplit(train, items[last - 1], items[last], eligible, 0, min_length, hist)
