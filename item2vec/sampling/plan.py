"""The window settings of a sampler, checked and bound to a vocabulary, and subsampling.

A :class:`WindowPlan` holds everything a chunk of sessions needs to be sampled: the window
(a number, or ``"session"`` with a cap of :data:`DEFAULT_MAX_CONTEXTS` contexts a target),
its direction (both sides of a target, or only before it), whether windows shrink, the
negatives per unit and their :class:`~item2vec.sampling.negatives.NegativeSampler`, and the
subsampling probabilities.
:func:`kept_events` applies the subsampling to a chunk and gives each kept event the number
of kept events before and after it in its session: where the window core of
:mod:`item2vec.sampling.windows` starts. ``windows`` re-exports :class:`WindowPlan` and
:data:`DEFAULT_MAX_CONTEXTS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..checks import DIRECTIONS, check_choice, check_int, check_real
from ..data.sessions import Sessions
from ..data.vocabulary import Vocabulary
from ..exceptions import DataError, ParameterError
from .negatives import NegativeSampler, keep_probability

__all__ = ["DEFAULT_MAX_CONTEXTS", "WindowPlan", "kept_events"]

#: Cap on contexts per target in ``window="session"`` mode (as many slots as ``window=10``).
DEFAULT_MAX_CONTEXTS = 20


@dataclass(frozen=True)
class WindowPlan:
    """Checked window settings bound to a vocabulary: everything a chunk needs to be sampled.

    Build one with :meth:`from_vocabulary` (or :meth:`from_sessions`), which check every
    setting; constructing it directly skips the checks (e.g. to give ``keep`` by hand).

    Attributes
    ----------
    window : int or None
        Largest effective window; None in session mode.
    max_contexts : int
        Context slots per unit: ``2 * window``, or the session-mode cap.
    shrink : bool
        Draw each target's effective window uniformly from ``1..window``.
    negatives : int
        Negatives per unit (``K``).
    keep : ndarray of float64, shape (n_items,), or None
        Probability of keeping an event of each item (:func:`keep_probability`); None keeps
        every event.
    sampler : NegativeSampler or None
        Draws the negatives; None when ``negatives == 0``.
    forward : bool
        ``direction="forward"``: a target's contexts are only the kept events before it in
        its session (within the effective window; in session mode every earlier one), so
        that a couple ``(c, t)`` always has ``c`` before ``t``. False: both sides.
    """

    window: int | None
    max_contexts: int
    shrink: bool
    negatives: int
    keep: np.ndarray | None
    sampler: NegativeSampler | None
    forward: bool = False

    @classmethod
    def from_vocabulary(
        cls, vocabulary: Vocabulary, *, window: int | str, negatives: int,
        ns_exponent: float = 0.75, sample: float = 1e-3, shrink_window: bool = True,
        max_contexts: int | None = None, direction: str = "both",
    ) -> WindowPlan:  # fmt: skip
        """Check the settings (parameters as in :func:`window_units`) and bind them to
        ``vocabulary.counts``; raises :class:`ParameterError` naming the first bad one, or
        when the vocabulary has too few drawable items for ``negatives``."""
        settings = _check_settings(window, negatives, ns_exponent, sample, shrink_window,
                                   max_contexts, direction)  # fmt: skip
        return _bind(vocabulary.counts, *settings)

    @classmethod
    def from_sessions(
        cls, sessions: Sessions, *, window: int | str, negatives: int,
        ns_exponent: float = 0.75, sample: float = 1e-3, shrink_window: bool = True,
        max_contexts: int | None = None, direction: str = "both",
    ) -> WindowPlan:  # fmt: skip
        """:meth:`from_vocabulary` of ``sessions.vocabulary``, after checking that ``sessions``
        is a non-empty :class:`~item2vec.data.sessions.Sessions` (a :class:`DataError`
        otherwise)."""
        if not isinstance(sessions, Sessions):
            raise DataError(f"sessions must be an item2vec.Sessions, got {type(sessions).__name__}")
        settings = _check_settings(window, negatives, ns_exponent, sample, shrink_window,
                                   max_contexts, direction)  # fmt: skip
        if len(sessions) == 0 or sessions.n_events == 0:
            raise DataError(
                f"the corpus is empty: {len(sessions)} sessions, {sessions.n_events} events"
            )
        return _bind(sessions.vocabulary.counts, *settings)


def _check_settings(
    window: Any, negatives: Any, ns_exponent: Any, sample: Any, shrink_window: Any,
    max_contexts: Any, direction: Any = "both",
) -> tuple[int | None, int, bool, int, float, float, bool]:  # fmt: skip
    """Checked ``(window, max_contexts, shrink, negatives, ns_exponent, sample, forward)``."""
    if isinstance(window, str) and window == "session":
        win = None
        cap = DEFAULT_MAX_CONTEXTS if max_contexts is None else max_contexts
        cap = check_int("max_contexts", cap, 1)
    else:
        win = check_int("window", window, 1, extra=" or 'session'")
        cap = 2 * win
        if max_contexts is not None:
            raise ParameterError(
                f"max_contexts applies only to window='session', got max_contexts={max_contexts!r}"
                f" with window={window!r}"
            )
    k = check_int("negatives", negatives, 0)
    ns_exponent = check_real("ns_exponent", ns_exponent)
    sample = check_real("sample", sample, 0)
    if not isinstance(shrink_window, bool | np.bool_):
        raise ParameterError(f"shrink_window must be True or False, got {shrink_window!r}")
    forward = check_choice("direction", direction, DIRECTIONS) == "forward"
    return win, cap, bool(shrink_window), k, ns_exponent, sample, forward


def _bind(
    counts: np.ndarray, win: int | None, cap: int, shrink: bool, k: int, ns_exponent: float,
    sample: float, forward: bool = False,
) -> WindowPlan:  # fmt: skip
    sampler = NegativeSampler(counts, ns_exponent) if k else None
    if sampler is not None:
        sampler.check(k)
    keep = keep_probability(counts, sample) if sample > 0 else None
    return WindowPlan(win, cap, shrink, k, keep, sampler, forward)


def kept_events(
    plan: WindowPlan, items: np.ndarray, offsets: np.ndarray, rng: np.random.Generator,
    trace: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:  # fmt: skip
    """Subsampled events: items, kept events before / after each in its session, and the
    local event indices (trace only). Draws the subsampling uniforms (if any) from ``rng``."""
    src = np.arange(len(items)) if trace else None
    if plan.keep is not None:
        kept = np.flatnonzero(rng.random(len(items)) < plan.keep[items])
        if len(offsets) * 8 < len(items):  # few sessions: count the kept events before each
            offsets = np.searchsorted(kept, offsets)
        else:
            ck = np.zeros(len(items) + 1, np.int64)
            ck[kept + 1] = 1
            np.cumsum(ck, out=ck)
            offsets = ck[offsets]
        items = np.take(items, kept)  # a gather: 4x faster than a boolean mask here
        src = None if src is None else kept
    lengths = np.diff(offsets).astype(np.int32)  # int32 throughout: half the memory traffic
    left = np.arange(len(items), dtype=np.int32)
    left -= np.repeat(np.asarray(offsets[:-1], np.int32), lengths)
    right = np.repeat(lengths, lengths)
    right -= left
    right -= 1
    return items, left, right, src
