"""item2vec: item embeddings from interaction logs.

Sessions are sentences and items are words: a shared item Embedding is learned in
TensorFlow/Keras with skip-gram (or CBOW) and negative sampling, and FAISS answers
similar-item and next-item queries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
from .version import __version__

if TYPE_CHECKING:
    from . import sampling
    from .data import datasets
    from .data.sessions import Sessions, Vocabulary
    from .estimator import Item2Vec
    from .queries.index import ItemIndex

# Imported on first use (PEP 562), so that `import item2vec` and `item2vec --help` do not
# load pandas, FAISS or TensorFlow.
_LAZY = {
    "datasets": ".data.datasets",
    "sampling": ".sampling",
    "Sessions": ".data",
    "Vocabulary": ".data",
    "Item2Vec": ".estimator",
    "ItemIndex": ".queries",
    "ItemFeatures": ".data.features",
    "ParquetCorpus": ".sampling.corpus",
    "evaluate": ".evaluation",
    "tune": ".tuning",
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'item2vec' has no attribute {name!r}")
    import importlib

    module = importlib.import_module(_LAZY[name], __name__)
    value = module if name in ("datasets", "sampling") else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "Item2Vec",
    "ItemFeatures",
    "ItemIndex",
    "ParquetCorpus",
    "Sessions",
    "Vocabulary",
    "datasets",
    "evaluate",
    "sampling",
    "tune",
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
