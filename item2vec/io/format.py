"""The model format: its file names, its version, and what loading returns.

The layout of a model directory is described in :mod:`item2vec.io`; :mod:`item2vec.io.save`
writes it and :mod:`item2vec.io.load` reads it back. Both use the names and the helpers
here (the checksum of a file, the plain-name pattern of extra arrays).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import numpy as np

from ..data.sessions import Vocabulary

__all__ = [
    "BIASES",
    "DESCRIPTIONS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "HEX_RE",
    "META",
    "NAME_RE",
    "VECTORS",
    "VOCAB",
    "LoadedModel",
    "is_int",
    "sha256_file",
]

FORMAT_NAME = "item2vec"
FORMAT_VERSION = 1
META = "meta.json"
VECTORS, BIASES, VOCAB = "vectors.npy", "biases.npy", "vocabulary.parquet"
DESCRIPTIONS = "descriptions.parquet"
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
HEX_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class LoadedModel:
    """Everything :func:`load_model` reads from a model directory.

    ``vectors`` is float32 (n_items, dim), ``biases`` float32 (n_items,); ``meta`` is the
    whole parsed ``meta.json``; ``extra_arrays`` maps each extra name to its array;
    ``descriptions`` maps item id -> text (``None`` when the model was saved without).
    """

    vectors: np.ndarray
    biases: np.ndarray
    vocabulary: Vocabulary
    config: dict[str, Any]
    history: list[dict[str, Any]] | None
    meta: dict[str, Any]
    extra_arrays: dict[str, np.ndarray] = field(default_factory=dict)
    descriptions: dict[Any, str] | None = None


def is_int(value: Any) -> bool:
    """True for an ``int`` that is not a ``bool`` (as JSON numbers are read)."""
    return isinstance(value, int) and not isinstance(value, bool)


def sha256_file(f: BinaryIO) -> str:
    """The sha256 (hex) of an open binary file, read from its current position to the end."""
    h = hashlib.sha256()
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
    return h.hexdigest()
