"""item2vec: item embeddings from interaction logs.

Sessions are sentences and items are words: a shared item Embedding is learned in
TensorFlow/Keras with skip-gram (or CBOW) and negative sampling, and FAISS answers
similar-item and next-item queries.
"""

from __future__ import annotations

from . import datasets, sampling
from .data import Sessions, Vocabulary
from .estimator import Item2Vec
from .exceptions import (
    DataError,
    Item2VecError,
    ModelFormatError,
    ModelSaveError,
    NotFittedError,
    ParameterError,
    TrainingError,
    UnknownItemError,
)
from .index import ItemIndex
from .version import __version__

__all__ = [
    "Item2Vec",
    "ItemIndex",
    "Sessions",
    "Vocabulary",
    "datasets",
    "sampling",
    "DataError",
    "Item2VecError",
    "ModelFormatError",
    "ModelSaveError",
    "NotFittedError",
    "ParameterError",
    "TrainingError",
    "UnknownItemError",
    "__version__",
]
