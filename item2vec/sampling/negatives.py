"""Item distributions of the sampler: negatives, subsampling and the prior they imply.

* :class:`NegativeSampler` draws item rows from ``count ** ns_exponent`` (a Walker alias table
  built by :func:`alias_table`: one uniform variate per draw, exact), never a given target.
* :func:`keep_probability` is word2vec's subsampling: the chance that an event is kept.
* :func:`expected_units` is the number of window units an epoch yields on average.
* :func:`log_prior` turns a trained logit into a next-item log-probability.

Everything here depends on the vocabulary's counts only, not on sessions or windows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..checks import check_real
from ..exceptions import DataError, ParameterError

__all__ = [
    "NegativeSampler",
    "alias_table",
    "expected_units",
    "keep_probability",
    "log_prior",
]

_REDRAW_PASSES = 3  # vectorised redraws of negatives equal to their target, then a fallback
_SAMPLE_BLOCK = 1 << 16  # draws per step of NegativeSampler._sample_into (fits in L2)


def alias_table(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker alias table of ``p`` (sums to 1), built without a loop per item.

    Bucket ``i`` keeps item ``i`` with probability ``prob[i]`` and gives ``alias[i]`` the rest;
    item ``i`` is drawn with probability ``(prob[i] + sum(1 - prob[j] for alias[j] == i)) / n``,
    which equals ``p[i]`` up to float rounding (``tests/test_negatives.py`` rebuilds it).

    Vose's pairing in closed form. Scale to ``q = n p``. Lay the deficits ``1 - q`` of the
    small buckets (``q <= 1``) end to end on a line: small ``k`` covers ``[S_k, S_{k+1})``.
    Lay the excesses ``q - 1`` of the large buckets over the same line: large ``j`` covers
    ``[E_{j-1}, E_j)`` (rescaled so that both lines have the same length). Then

    * small ``k`` takes its alias from the large ``j`` whose span holds ``S_k``;
    * large ``j`` gives away the part of the small ``k`` holding ``E_j`` that lies past
      ``E_j`` (``S_{k+1} - E_j``, at most that small's deficit, so at most 1): its height is
      ``1 - (S_{k+1} - E_j)`` and its alias is large ``j + 1``, which owns that part.

    Large ``j`` then collects ``1 - (S_{k+1} - E_j)`` from its bucket, the deficits of the
    smalls starting in its span and what large ``j - 1`` passed on: ``q_j`` in all. Both
    searches compare the same two arrays (``S`` and ``E``), so an end that coincides with a
    start is placed consistently: comparing recomputed ends (``S_{k+1} - d_k``) instead was
    issue 16's bug.

    Parameters
    ----------
    p : ndarray of float64, shape (n,)
        Probabilities, non-negative, summing to 1.

    Returns
    -------
    prob : ndarray of float64, shape (n,)
        Height of each bucket: the chance that bucket ``i`` gives item ``i``.
    alias : ndarray of int32, shape (n,)
        Item that bucket ``i`` gives otherwise.
    """
    n = len(p)
    q = p * n
    prob, alias = np.ones(n), np.arange(n, dtype=np.int32)
    small, large = np.flatnonzero(q <= 1), np.flatnonzero(q > 1)
    if len(small) == 0 or len(large) == 0:
        return prob, alias
    starts = np.zeros(len(small) + 1)  # S_0 .. S_m: S_m is the line's length
    np.cumsum(1.0 - q[small], out=starts[1:])
    excess_end = np.cumsum(q[large] - 1.0)
    excess_end *= starts[-1] / excess_end[-1]  # same length despite rounding
    excess_end[-1] = starts[-1]
    donor = np.searchsorted(excess_end, starts[:-1], side="right")  # first E_j > S_k
    prob[small] = q[small]
    alias[small] = large[np.minimum(donor, len(large) - 1)]
    k = np.searchsorted(starts[:-1], excess_end, side="left") - 1  # last S_k < E_j
    owed = np.clip(starts[k + 1] - excess_end, 0.0, 1.0)
    owed[-1] = 0.0
    prob[large] = 1.0 - owed
    alias[large[:-1]] = large[1:]
    return prob, alias


class NegativeSampler:
    """Draw item rows with probability proportional to ``count ** ns_exponent``.

    Works for any finite exponent (1, 0.75, 0: uniform, negative: favour rare items). Weights
    are computed in log space, so large counts or exponents do not overflow; items with count 0
    are never drawn. Draws use a Walker alias table: O(1) per draw, one uniform variate, exact.

    Parameters
    ----------
    counts : array_like of int, shape (n_items,)
        Occurrences of each item row (``sessions.vocabulary.counts``).
    ns_exponent : float

    Attributes
    ----------
    probabilities : ndarray of float64, shape (n_items,)
    n_drawable : int
        Items with non-zero probability.
    """

    def __init__(self, counts: Any, ns_exponent: float = 0.75) -> None:
        c = np.asarray(counts, dtype=np.float64)
        if c.ndim != 1 or len(c) == 0 or not np.all(np.isfinite(c)) or np.any(c < 0):
            raise DataError(f"counts must be a non-empty 1-D array of counts >= 0, got {c!r}")
        a = check_real("ns_exponent", ns_exponent)
        logw = np.full(len(c), -np.inf)
        pos = c > 0
        logw[pos] = a * np.log(c[pos])
        w = np.exp(logw - logw.max()) if pos.any() else np.zeros(len(c))
        self.probabilities = w / w.sum() if pos.any() else w
        self.n_drawable = int(np.count_nonzero(self.probabilities))
        self._prob, self._alias = alias_table(self.probabilities)
        self._cdf: np.ndarray | None = None

    def check(self, negatives: int) -> None:
        """Raise :class:`ParameterError` unless ``negatives`` can avoid every target."""
        n = len(self.probabilities)
        if negatives > 0 and self.n_drawable < 2:
            extra = "" if n == self.n_drawable else f" of {n} with count ** ns_exponent > 0"
            raise ParameterError(
                f"vocabulary too small for negatives={negatives}: {self.n_drawable} item"
                f"{'' if self.n_drawable == 1 else 's'}{extra}"
            )

    def sample(self, size: int | tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """Independent draws (targets not excluded); int32 array of shape ``size``."""
        out = np.empty(size, np.int32)
        self._sample_into(out.reshape(-1), rng)
        return out

    def _sample_into(
        self, out: np.ndarray, rng: np.random.Generator, targets: np.ndarray | None = None
    ) -> np.ndarray | None:
        """Fill the 1-D int32 ``out`` with draws, in cache-sized blocks (one uniform each).

        Bucket = integer part of ``u * n``, coin = fractional part: the same numbers as one
        ``rng.random(len(out))`` for the whole array (blocks draw the stream in order), at
        about a third of the memory traffic of whole-array temporaries; ``take`` with
        ``mode="clip"`` skips the bounds checks (the bucket is clipped to ``n - 1`` first).
        With ``targets`` (``out`` holds ``k = len(out) // len(targets)`` draws per target),
        returns the flat indices of the draws equal to their target, found while each block
        is in cache.
        """
        n = len(self._prob)
        k = 1 if targets is None else max(1, len(out) // max(len(targets), 1))
        step = max(1, _SAMPLE_BLOCK // k) * k
        m0 = min(step, len(out))
        ub, fb, ib, kb = np.empty(m0), np.empty(m0), np.empty(m0, np.int32), np.empty(m0, bool)
        bad = []
        for a in range(0, len(out), step):
            o = out[a : a + step]
            m = len(o)
            u, f, i, keep = ub[:m], fb[:m], ib[:m], kb[:m]
            rng.random(out=u)
            u *= n
            np.floor(u, out=f)
            u -= f
            np.copyto(i, f, casting="unsafe")
            np.minimum(i, n - 1, out=i)  # u * n may round up to n
            np.take(self._prob, i, out=f, mode="clip")
            np.less(u, f, out=keep)
            np.take(self._alias, i, out=o, mode="clip")
            i -= o  # o = i where kept: arithmetic, 10x faster than copyto(where=) here
            i *= keep
            o += i
            if targets is not None:
                own = targets[a // k : (a + m) // k, None]
                np.equal(o.reshape(-1, k), own, out=keep.reshape(-1, k))
                if keep.any():
                    bad.append(np.flatnonzero(keep) + a)
        if targets is None:
            return None
        return np.concatenate(bad) if bad else np.empty(0, np.intp)

    def draw(self, targets: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
        """``k`` negatives per target, none equal to it: int32 array of shape (len(targets), k).

        Collisions are redrawn (vectorised, up to 3 passes over the few colliding slots);
        the rare survivors are drawn by inverse CDF from ``p`` with the target's mass removed.
        Both steps sample exactly ``p`` conditioned on ``!= target``.
        """
        self.check(k)
        targets = np.asarray(targets, dtype=np.int32)
        out = np.empty((len(targets), k), np.int32)
        flat = out.reshape(-1)
        step = max(1, (1 << 20) // max(k, 1))  # redraw after each ~1 M draws
        for a in range(0, len(targets), step):
            t = targets[a : a + step]
            bad = self._sample_into(out[a : a + step].reshape(-1), rng, t)
            self._fix(flat, bad + a * k, t[bad // k], rng)
        return out

    def _fix(
        self, flat: np.ndarray, bad: np.ndarray, tgt: np.ndarray, rng: np.random.Generator
    ) -> None:
        for _ in range(_REDRAW_PASSES):
            if len(bad) == 0:
                return
            flat[bad] = new = self.sample(len(bad), rng)
            still = new == tgt
            bad, tgt = bad[still], tgt[still]
        if len(bad):
            flat[bad] = self._draw_excluding(tgt, rng)

    def _draw_excluding(self, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self._cdf is None:
            self._cdf = np.cumsum(self.probabilities)
        cdf, p = self._cdf, self.probabilities
        before = np.where(t > 0, cdf[np.maximum(t - 1, 0)], 0.0)  # mass of rows < t
        u = rng.random(len(t)) * (cdf[-1] - p[t])
        j = np.where(
            u < before,
            np.searchsorted(cdf, u, side="right"),
            np.searchsorted(cdf, cdf[t] + (u - before), side="right"),
        )
        j = np.minimum(j, len(p) - 1)
        edge = (j == t) | (p[j] == 0)  # rounding at the very end of the CDF only
        if edge.any():
            top = np.argsort(-p)[:2]
            j[edge] = np.where(t[edge] == top[0], top[1], top[0])
        return j.astype(np.int32)


def keep_probability(counts: Any, sample: float) -> np.ndarray:
    """word2vec subsampling: probability of keeping each event of an item.

    ``threshold = sample * counts.sum()``; an item seen ``f`` times is kept with probability
    ``min(1, (sqrt(f / threshold) + 1) * threshold / f)``. ``sample=0`` keeps everything.

    Parameters
    ----------
    counts : array_like of int, shape (n_items,)
    sample : float >= 0

    Returns
    -------
    ndarray of float64, shape (n_items,)
    """
    sample = check_real("sample", sample, 0)
    f = np.asarray(counts, dtype=np.float64)
    keep = np.ones(f.shape)
    threshold = sample * f.sum()
    if threshold > 0:
        pos = f > 0
        keep[pos] = np.minimum(1.0, (np.sqrt(f[pos] / threshold) + 1.0) * threshold / f[pos])
    return keep


def expected_units(counts: Any, sample: float) -> float:
    """Expected window units per epoch (one per kept event) of a corpus with these counts.

    ``sum(counts * keep_probability(counts, sample))``: what the learning-rate schedule of
    every trainer divides by, for an in-memory corpus and for a Parquet shard alike.
    """
    counts = np.asarray(counts, dtype=np.float64)
    return float(np.sum(counts * keep_probability(counts, sample)))


def log_prior(counts: Any, ns_exponent: float, sample: float) -> np.ndarray:
    """Per-item term that turns a trained logit into a next-item log-probability.

    With negative sampling the logit of a couple converges to
    ``log P(t | c) - log(k q(t))`` for the noise distribution ``q(t) ∝ count(t) **
    ns_exponent``, measured on the subsampled corpus, where ``t`` survives with probability
    ``keep(t)``. So ``logit + log q(t) - log keep(t)`` estimates ``log P(t | c)`` up to a
    constant per context ``c``: it ranks next items by how often they follow, as
    transition counts do, where the logit alone ranks by how much more often than chance
    (favouring rare items). Returns ``ns_exponent * log(count) - log keep(count)``; items
    never seen count as seen once.

    Parameters
    ----------
    counts : array_like of int, shape (n_items,)
    ns_exponent, sample : the values the model was trained with.

    Returns
    -------
    ndarray of float32, shape (n_items,)
    """
    ns_exponent = check_real("ns_exponent", ns_exponent)
    counts = np.asarray(counts, dtype=np.float64)
    keep = keep_probability(counts, sample)  # the threshold counts the real total
    prior = ns_exponent * np.log(np.maximum(counts, 1.0)) - np.log(keep)
    return prior.astype(np.float32)
