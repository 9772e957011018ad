"""Vocabulary: id <-> row lookups, decoding, unknown items and its own checks."""

from __future__ import annotations

import numpy as np
import pytest

from item2vec import DataError, ParameterError, Sessions, UnknownItemError, Vocabulary
from item2vec.data.sessions import Vocabulary as DataVocabulary
from item2vec.data.vocabulary import Vocabulary as HomeVocabulary


def test_vocabulary_is_importable_from_its_old_home():
    assert DataVocabulary is HomeVocabulary is Vocabulary


def test_index_encode_decode_round_trip():
    s = Sessions.from_lists([["x", "y", "z"], ["y", "z"], ["z", "w"]])
    v = s.vocabulary
    rows = v.encode(["z", "y", "w", "x"])
    assert rows.dtype == np.int32
    assert rows.tolist() == [v.index(i) for i in ["z", "y", "w", "x"]] == [0, 1, 3, 2]
    assert v.decode(rows).tolist() == ["z", "y", "w", "x"]
    assert v.decode(np.array([[0, 1], [2, 3]])).shape == (2, 2)
    assert v.encode(["x", "nope"], missing="ignore").tolist() == [2, -1]
    assert "x" in v and "nope" not in v and len(v) == 4
    assert [v.decode(s[k]).tolist() for k in range(len(s))] == s.to_lists()


def test_decode_refuses_rows_out_of_range():
    v = Sessions.from_lists([["a", "b"]]).vocabulary
    with pytest.raises(ParameterError, match=r"rows must be integers in \[0, 2\), got \[-1\]"):
        v.decode([0, -1])
    with pytest.raises(ParameterError, match=r"got \[2\]"):
        v.decode(np.array([2]))
    with pytest.raises(ParameterError, match="missing must be 'raise' or 'ignore'"):
        v.encode(["a"], missing="skip")


def test_unknown_item_names_it_and_suggests_a_close_id():
    v = Sessions.from_lists([["85123A", "22423"], ["85123A", "84879"]]).vocabulary
    with pytest.raises(UnknownItemError, match=r"unknown item '85123B'.*did you mean '85123A'"):
        v.index("85123B")
    with pytest.raises(UnknownItemError, match=r"unknown item 'zzz': not in the vocabulary of 3"):
        v.encode(["22423", "zzz"])
    with pytest.raises(KeyError):  # UnknownItemError is also a KeyError
        v.index(["unhashable"])
    n = Sessions.from_lists([[1001, 5005], [1001, 3003]]).vocabulary
    with pytest.raises(UnknownItemError, match=r"unknown item 1002.*did you mean 1001"):
        n.index(1002)


def test_vocabulary_checks_its_arrays():
    with pytest.raises(DataError, match="not unique"):
        Vocabulary(np.array(["a", "a"], dtype=object), np.array([1, 1]))
    with pytest.raises(DataError, match="one length"):
        Vocabulary(np.array(["a"], dtype=object), np.array([1, 1]))
    v = Vocabulary(["a", "b"], [2, 1])
    assert v == Vocabulary(np.array(["a", "b"], dtype=object), np.array([2, 1]))
    assert v != Vocabulary(np.array([1, 2]), np.array([2, 1]))
