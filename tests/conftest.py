"""Shared test set-up, and helpers for the data-layer tests (``from conftest import ...``)."""

from __future__ import annotations

import os

# Idle OpenMP threads (FAISS) spin by default; on a shared 2-core machine that slowed the
# index tests 10x. Set before anything imports faiss.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

from item2vec import datasets  # noqa: E402
from item2vec.data.sessions import Sessions, Vocabulary  # noqa: E402
from item2vec.data.split import next_event_split  # noqa: E402
from item2vec.training.train import configure_threads  # noqa: E402

configure_threads()  # as the CLI does: the trainer's workers are the parallelism

# Property tests draw the same examples on every run unless a developer asks for fresh ones
# (HYPOTHESIS_PROFILE=random pytest): CI's verdict depends on the code alone, and a
# counterexample found locally is not replayed from .hypothesis/ into later runs.
settings.register_profile("deterministic", derandomize=True, database=None, print_blob=True)
settings.register_profile("random", derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


def check_corpus(s: Sessions, min_length: int = 1) -> None:
    """The invariants every corpus keeps, whatever the log looked like."""
    n = len(s.vocabulary)
    assert s.items.dtype == np.int32 and s.offsets.dtype == np.int64
    assert s.offsets[0] == 0 and s.offsets[-1] == len(s.items)
    assert np.all(np.diff(s.offsets) >= max(min_length, 1))
    assert len(s.items) == 0 or (s.items.min() >= 0 and s.items.max() < n)
    counts = np.bincount(s.items, minlength=n)
    np.testing.assert_array_equal(s.vocabulary.counts, counts)  # every row used, exact counts
    assert np.all(counts > 0)
    assert np.all(np.diff(s.vocabulary.counts) <= 0)  # most frequent first
    first = np.full(n, len(s.items))
    np.minimum.at(first, s.items, np.arange(len(s.items)))
    ties = np.diff(s.vocabulary.counts) == 0
    assert np.all(np.diff(first)[ties] > 0)  # ties by first appearance
    ids = s.vocabulary.ids
    assert ids.dtype == np.int64 or all(isinstance(i, str) for i in ids.tolist())
    assert len(set(ids.tolist())) == n
    assert s.report.get("sessions", len(s)) == len(s)
    assert s.report.get("events", s.n_events) == s.n_events


def corpus(sessions: list[list[int]], n_items: int | None = None) -> Sessions:
    """Sessions whose items are given directly as vocabulary rows (hand-made logs)."""
    items = np.concatenate([np.asarray(s, np.int32) for s in sessions])
    n_items = n_items or int(items.max()) + 1
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sessions])])
    counts = np.bincount(items, minlength=n_items)
    return Sessions(items, offsets, Vocabulary(np.arange(n_items, dtype=np.int64), counts))


@pytest.fixture(scope="module")
def synth():
    """Planted clusters: 200 items, 10 clusters, 2,000 sessions (split, baselines, adapters)."""
    return datasets.synthetic(n_items=200, n_clusters=10, n_sessions=2000, seed=0)


@pytest.fixture(scope="module")
def synth_split(synth):
    return next_event_split(synth.sessions, n_test=600, seed=0)
