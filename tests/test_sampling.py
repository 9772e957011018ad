"""The sampler's facade: ``item2vec.sampling`` re-exports the public names of its modules."""

from __future__ import annotations

import pytest

import item2vec
from item2vec import sampling
from item2vec.sampling import keras_skipgrams, negatives, streaming, units, windows

HOMES = (keras_skipgrams, negatives, streaming, units, windows)


def test_facade_re_exports_every_public_name_of_the_sampler():
    exported = set(sampling.__all__)
    for home in HOMES:
        assert set(home.__all__) <= exported, home.__name__
        for name in home.__all__:
            assert getattr(sampling, name) is getattr(home, name), name
    assert exported == {name for home in HOMES for name in home.__all__}
    assert item2vec.sampling is sampling


@pytest.mark.parametrize(
    "name", ["keep_probability", "stream_units", "log_prior", "expected_units", "epoch_units",
             "Units", "Couples", "NegativeSampler", "window_units", "skipgram_couples",
             "stream_couples", "skipgrams", "UnitSource", "DEFAULT_MAX_CONTEXTS"],
)  # fmt: skip
def test_names_the_package_imports_from_the_facade(name):
    assert name in sampling.__all__ and hasattr(sampling, name)


def test_property_tests_are_deterministic_by_default():
    # conftest's profile: CI must not draw new examples (or replay stored ones) per run
    import os

    from hypothesis import settings as current

    if os.environ.get("HYPOTHESIS_PROFILE", "deterministic") == "deterministic":
        assert current.default.derandomize and current.default.database is None
