"""Argument checks and lists of choices: one home for each, used by every module.

Every check raises :class:`~item2vec.exceptions.ParameterError` with a message that names the
parameter and repeats the value received ("window must be an integer >= 1, got 0"), and
returns the value converted to a plain Python type. Lists of choices live here too, so that
the library, its command line and its error messages spell them the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .exceptions import ParameterError

MODES = ("skipgram", "cbow")
"""Training objectives: skip-gram (each context item predicts the target) or CBOW (their mean)."""
DIRECTIONS = ("both", "forward")
"""Which neighbours of a target are its contexts: those before and after it (word2vec's
symmetric window), or only those before it ("what comes next after c")."""
OPTIMIZERS = ("sgd", "adagrad")
"""Row-update rules of the trainers (:mod:`item2vec.training.updates`)."""
DEVICES = ("auto", "cpu", "gpu")
"""Where the single-process trainer keeps its tables and runs its step: the first visible GPU
if there is one, else the CPU; always the CPU; the GPU (an error if TensorFlow sees none)."""
SCORES = ("cosine", "logit", "log_prob", "blend")
"""Next-item scores: cosine, ``E[q].E[t] + b[t]``, the logit plus the sampler's log prior, or
neighbour counts smoothed by that log_prob distribution (:mod:`item2vec.queries.scoring`)."""
PROTOCOLS = ("next-event", "full-ranking")
"""Evaluation splits: each held-out session's last item after a seeded draw (previous item,
or a history of N), or the full-ranking protocol of the sequential-recommendation papers
(:func:`~item2vec.data.split.full_ranking_split`)."""
SHARD_MODES = ("auto", "row_groups", "hash")
"""How :class:`~item2vec.sampling.corpus.ParquetCorpus` splits a corpus between workers."""
RETAIL_KINDS = ("baskets", "customers")
"""Sessions of the bundled Online Retail log: one per invoice, or one per customer."""
EXPORT_FORMATS = ("word2vec", "word2vec-binary", "projector")
"""Vector exports: word2vec text, word2vec binary, TensorBoard projector TSV pair."""


def is_int(value: Any) -> bool:
    """True for Python and numpy integers, False for ``bool`` (a ``bool`` is not a count)."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """True for finite Python and numpy ints and floats, False for ``bool``, NaN and inf."""
    number = isinstance(value, int | float | np.integer | np.floating)
    return number and not isinstance(value, bool) and math.isfinite(value)


def check_int(name: str, value: Any, minimum: int, extra: str = "") -> int:
    """``value`` as an int ``>= minimum``; ``extra`` is appended to the bound in the message."""
    if not is_int(value) or value < minimum:
        raise ParameterError(f"{name} must be an integer >= {minimum}{extra}, got {value!r}")
    return int(value)


def check_real(
    name: str,
    value: Any,
    minimum: float | None = None,
    *,
    strict: bool = False,
    maximum: float | None = None,
) -> float:
    """``value`` as a finite float, ``>= minimum`` (``> minimum`` if ``strict``), ``<= maximum``.

    One message for every failure, with the bounds: "sample must be a finite number >= 0, got
    -0.1", "noise must be a finite number in [0, 1], got 1.5".
    """
    ok = is_real(value)
    ok = ok and (minimum is None or value > minimum or (not strict and value == minimum))
    ok = ok and (maximum is None or value <= maximum)
    if not ok:
        if minimum is not None and maximum is not None:
            bound = f" in {'(' if strict else '['}{minimum:g}, {maximum:g}]"
        elif minimum is not None:
            bound = f" {'>' if strict else '>='} {minimum:g}"
        elif maximum is not None:
            bound = f" <= {maximum:g}"
        else:
            bound = ""
        raise ParameterError(f"{name} must be a finite number{bound}, got {value!r}")
    return float(value)


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``, else an error that lists them."""
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ParameterError(f"{name} must be one of {listed}, got {value!r}")
    return value


def check_k(k: Any, name: str = "k") -> int:
    """A result count: an integer >= 1."""
    return check_int(name, k, 1)
