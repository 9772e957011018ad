"""Exceptions raised by item2vec.

Every error a user can trigger with bad input is a subclass of :class:`Item2VecError`, and
also of the matching built-in (``ValueError``, ``KeyError``, ...) so that generic handlers
keep working.
"""

from __future__ import annotations


class Item2VecError(Exception):
    """Base class of all item2vec errors."""


class DataError(Item2VecError, ValueError):
    """The interaction log cannot be turned into sessions (missing columns, empty, ...)."""


class ParameterError(Item2VecError, ValueError):
    """A hyperparameter or argument is out of its valid range."""


class NotFittedError(Item2VecError, RuntimeError):
    """A query was made on a model that has not been fitted or loaded."""


class UnknownItemError(Item2VecError, KeyError):
    """An item id is not in the model's vocabulary."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class ModelFormatError(Item2VecError, ValueError):
    """A model directory is missing, corrupt, truncated or from an unsupported version."""


class ModelSaveError(ModelFormatError, OSError):
    """A model could not be written (read-only or missing directory, disk full, ...).

    Both a :class:`ModelFormatError` and an :class:`OSError`; ``errno`` holds the cause.
    """

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.errno = code


class TrainingError(Item2VecError, RuntimeError):
    """Training diverged (NaN/inf) or could not continue."""
