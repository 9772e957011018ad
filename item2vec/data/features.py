"""Item attributes: what a catalogue says about its items (brand, category, title words).

:class:`ItemFeatures` holds, per item id, a tuple of attribute strings (tokens). It is built
from a mapping ``{item id: iterable of str}``, from a DataFrame with an item column and
attribute columns (:meth:`ItemFeatures.from_frame`: each cell becomes the token
``"column=value"``; the columns named in ``words`` are split into lower-case words,
``"column:word"``) or from a CSV file (:meth:`ItemFeatures.from_csv`).

Items with attributes but no events are the *cold items* of a fit
(:meth:`item2vec.Item2Vec.fit`, ``item_features=``). An item with an empty attribute list is
allowed: it gets the prior (the mean direction of the known items). Ids are normalised as the
session readers normalise them (:func:`~item2vec.data.columns.normalize_ids`), so that a
feature table read from CSV matches sessions read from the same kind of file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..exceptions import DataError, ParameterError
from .columns import normalize_ids

__all__ = ["ItemFeatures", "as_item_features", "tokenize"]

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """The lower-case words of ``text`` (letters and digits; punctuation splits)."""
    return _WORD.findall(text.lower())


@dataclass(frozen=True)
class ItemFeatures:
    """Attribute tokens per item.

    Attributes
    ----------
    ids : ndarray, shape (n,)
        Item ids, unique: int64, or object of ``str`` (as :class:`~item2vec.Sessions` holds).
    tokens : tuple of tuple of str, length n
        The attributes of each item, without repeats, in first-seen order; may be empty.
    """

    ids: np.ndarray
    tokens: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.tokens):
            raise DataError(
                f"item features need one attribute list per id, got {len(self.ids)} ids and "
                f"{len(self.tokens)} lists"
            )
        ids = pd.Series(self.ids)
        dup = ids[ids.duplicated()]
        if len(dup):
            raise DataError(
                f"item features list item {dup.iloc[0]!r} more than once ({len(dup)} repeated "
                "ids): give each item one row, with all of its attributes"
            )

    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        n_tokens = len({t for ts in self.tokens for t in ts})
        return f"ItemFeatures({len(self)} items, {n_tokens} distinct attributes)"

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_mapping(cls, mapping: Mapping[Hashable, Iterable[str]]) -> ItemFeatures:
        """``{item id: iterable of attribute strings}``. A bare string is refused (it would
        be read as its characters); so are attributes that are not strings."""
        if not isinstance(mapping, Mapping):
            raise ParameterError(
                f"item_features must be a mapping item id -> attributes, a DataFrame or "
                f"ItemFeatures, got {type(mapping).__name__}"
            )
        keys = list(mapping)
        tokens = []
        for key in keys:
            value = mapping[key]
            if isinstance(value, str | bytes):
                raise ParameterError(
                    f"the attributes of item {key!r} must be an iterable of strings, got the "
                    f"string {value!r}: wrap it in a list ([{value!r}])"
                )
            try:
                values = list(value)
            except TypeError:
                raise ParameterError(
                    f"the attributes of item {key!r} must be an iterable of strings, got "
                    f"{type(value).__name__}"
                ) from None
            bad = [v for v in values if not isinstance(v, str)]
            if bad:
                raise ParameterError(
                    f"the attributes of item {key!r} must be strings, got {bad[0]!r} "
                    f"({type(bad[0]).__name__})"
                )
            tokens.append(tuple(dict.fromkeys(values)))
        ids = normalize_ids(np.array(keys, dtype=object) if keys else np.array([], dtype=object))
        return cls(ids=ids, tokens=tuple(tokens))

    @classmethod
    def from_frame(
        cls,
        df: pd.DataFrame,
        *,
        item: Hashable,
        columns: Sequence[Hashable] | None = None,
        words: Sequence[Hashable] = (),
    ) -> ItemFeatures:
        """One row per item: ``item`` names the id column; ``columns`` (default: all the
        others) the attribute columns. A cell gives the token ``"column=value"``, or, for a
        column named in ``words``, one token ``"column:word"`` per word of its text. Missing
        cells give no token."""
        if not isinstance(df, pd.DataFrame):
            raise ParameterError(f"df must be a pandas DataFrame, got {type(df).__name__}")
        if item not in df.columns:
            raise DataError(
                f"item features: no item column {item!r}; the table has {list(df.columns)}"
            )
        columns = [c for c in df.columns if c != item] if columns is None else list(columns)
        missing = [c for c in [*columns, *words] if c not in df.columns]
        if missing:
            raise DataError(
                f"item features: no column {missing[0]!r}; the table has {list(df.columns)}"
            )
        if df[item].isna().any():
            raise DataError(f"item features: column {item!r} has missing item ids")
        ids = normalize_ids(df[item].to_numpy(), item)
        per_item: list[list[str]] = [[] for _ in range(len(df))]
        for col in dict.fromkeys([*columns, *words]):
            values = df[col]
            ok = values.notna().to_numpy()
            text = values.astype(str).to_numpy(object)
            for r in np.flatnonzero(ok):
                if col in words:
                    per_item[r].extend(f"{col}:{w}" for w in tokenize(text[r]))
                else:
                    per_item[r].append(f"{col}={text[r]}")
        return cls(ids=ids, tokens=tuple(tuple(dict.fromkeys(t)) for t in per_item))

    @classmethod
    def from_csv(
        cls,
        path: str | os.PathLike,
        *,
        item: Hashable,
        columns: Sequence[Hashable] | None = None,
        words: Sequence[Hashable] = (),
        sep: str = ",",
    ) -> ItemFeatures:
        """:meth:`from_frame` of a CSV file (every column read as text but the item ids,
        which are read as the session readers read them)."""
        if not os.path.exists(path):
            raise DataError(f"item features: no such file {os.fspath(path)!r}")
        df = pd.read_csv(path, sep=sep, dtype={c: str for c in [*(columns or ()), *words]})
        return cls.from_frame(df, item=item, columns=columns, words=words)

    # --------------------------------------------------------------------- queries

    def lookup(self) -> dict[Hashable, int]:
        """Item id -> position in :attr:`ids`."""
        return {k: i for i, k in enumerate(self.ids.tolist())}

    def matrix(self, vocabulary: Mapping[str, int] | None = None) -> tuple[sp.csr_matrix, dict]:
        """The binary (n, n_tokens) matrix of the items' attributes, float64 CSR, and the
        token -> column mapping (built from these items when ``vocabulary`` is None; with a
        ``vocabulary``, tokens outside it are dropped)."""
        grow = vocabulary is None
        vocab: dict[str, int] = {} if grow else dict(vocabulary)
        indptr, cols = [0], []
        for ts in self.tokens:
            for t in ts:
                j = vocab.setdefault(t, len(vocab)) if grow else vocab.get(t, -1)
                if j >= 0:
                    cols.append(j)
            indptr.append(len(cols))
        data = np.ones(len(cols))
        shape = (len(self), len(vocab))
        return sp.csr_matrix((data, np.asarray(cols, np.int64), indptr), shape=shape), vocab


def as_item_features(features: Any, *, item: Hashable | None = None) -> ItemFeatures:
    """``features`` as :class:`ItemFeatures`: itself, a mapping (:meth:`~ItemFeatures.
    from_mapping`) or a DataFrame (:meth:`~ItemFeatures.from_frame`; ``item`` names its id
    column, default the first column)."""
    if isinstance(features, ItemFeatures):
        return features
    if isinstance(features, pd.DataFrame):
        if not len(features.columns):
            raise DataError("item features: the DataFrame has no columns")
        return ItemFeatures.from_frame(features, item=features.columns[0] if item is None else item)
    return ItemFeatures.from_mapping(features)
