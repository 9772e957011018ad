"""A vectorised stand-in for ``keras.preprocessing.sequence.skipgrams``.

:func:`skipgrams` takes Keras's arguments in Keras's order and returns the same couples as
numpy arrays, for code written against the Keras API. It is independent of the rest of the
sampler (one sequence, a fixed window, uniform negatives); :mod:`item2vec.windows` is the
sampler the trainers use.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .checks import check_int, check_real
from .exceptions import DataError, ParameterError
from .units import SeedLike

__all__ = ["skipgrams"]


def skipgrams(
    sequence: Any, vocabulary_size: int, window_size: int = 4, negative_samples: float = 1.0,
    shuffle: bool = True, categorical: bool = False, sampling_table: Any = None,
    seed: SeedLike = None,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Vectorised ``keras.preprocessing.sequence.skipgrams`` (same arguments, same order).

    For each word ``w_i != 0`` (index 0 is padding and skipped, as in Keras) and each
    ``w_j != 0`` with ``0 < |i - j| <= window_size`` (a fixed window, as in Keras), the couple
    ``[w_i, w_j]`` gets label 1. Then ``int(n_positive * negative_samples)`` couples
    ``[w, r]`` get label 0, where the ``w`` cycle through a shuffled copy of the positive
    couples' first words (as in Keras) and ``r`` is uniform over ``1..vocabulary_size-1``.
    ``sampling_table[w_i]`` is the probability of keeping ``w_i`` as a first word.

    Differences to Keras: ``r`` is never equal to ``w`` (so ``vocabulary_size >= 3`` is
    needed for negatives); randomness comes from ``np.random.default_rng(seed)``, not the
    global ``random`` module; values outside ``0..vocabulary_size-1`` raise an error; results
    are numpy arrays, not lists. With ``shuffle=False`` the order is Keras's: positives by
    ``i`` then ``j``, then negatives.

    Parameters
    ----------
    sequence : array_like of int, shape (n,)
        Word indices, 0 for padding.
    vocabulary_size : int >= 1
        Word indices lie in ``0..vocabulary_size-1``.
    window_size : int >= 1
    negative_samples : float >= 0
        Negative couples per positive couple.
    shuffle : bool
    categorical : bool
        One-hot labels ``[neg, pos]`` instead of 0/1.
    sampling_table : array_like of float, shape (vocabulary_size,), optional
    seed : int, Generator, SeedSequence or None

    Returns
    -------
    couples : ndarray of int32, shape (n, 2)
    labels : ndarray of int32, shape (n,), or (n, 2) one-hot ``[neg, pos]`` if ``categorical``
    """
    seq = np.asarray(sequence)
    if seq.ndim != 1 or (seq.size and seq.dtype.kind not in "iu"):
        raise DataError(
            f"sequence must be a 1-D sequence of integer word indices, got shape {seq.shape} "
            f"of {seq.dtype}"
        )
    v = check_int("vocabulary_size", vocabulary_size, 1)
    ws = check_int("window_size", window_size, 1)
    ns = check_real("negative_samples", negative_samples, 0)
    if seq.size and (seq.min() < 0 or seq.max() >= v):
        bad = seq[(seq < 0) | (seq >= v)][0]
        raise DataError(f"sequence values must be in 0..{v - 1} (vocabulary_size={v}), got {bad}")
    rng = np.random.default_rng(seed)
    seq = seq.astype(np.int32)
    n = len(seq)
    first_ok = seq != 0
    if sampling_table is not None:
        table = np.asarray(sampling_table, dtype=np.float64)
        if table.ndim != 1 or len(table) < v:
            raise ParameterError(
                f"sampling_table must be 1-D with vocabulary_size={v} entries, got shape "
                f"{table.shape}"
            )
        first_ok &= rng.random(n) <= table[seq]
    ctx = np.zeros((n, 2 * ws), np.int32)  # slot order = j ascending, as Keras loops
    for d in range(1, ws + 1):
        ctx[d:, ws - d] = seq[: max(n - d, 0)]
        ctx[: max(n - d, 0), ws + d - 1] = seq[d:]
    mask = (ctx != 0) & first_ok[:, None]
    second = ctx[mask]
    first = np.repeat(seq, np.count_nonzero(mask, axis=1))
    n_pos = len(first)
    n_neg = int(n_pos * ns)
    if n_neg and v < 3:
        raise ParameterError(
            f"vocabulary_size must be >= 3 to draw negatives other than the word, got {v}"
        )
    b = max(int(v - 1).bit_length(), 1)
    fast = shuffle and 2 * b + 1 <= 32
    words = r = None
    if n_neg:  # Keras: the words cycle through a shuffled copy of the positives' words
        if shuffle:  # the final shuffle makes the order of the words irrelevant
            reps, extra = divmod(n_neg, n_pos)
            pick = rng.choice(n_pos, extra, replace=False)
            words = np.concatenate([np.tile(first, reps), first[pick]])
        else:
            words = np.resize(first[rng.permutation(n_pos)], n_neg)
        r = rng.integers(1, v - 1, size=n_neg, dtype=np.int32)
        r += r >= words
    if fast:
        return _sorted_shuffle(first, second, words, r, b, categorical, rng)
    couples = np.empty((n_pos + n_neg, 2), np.int32)
    couples[:n_pos, 0], couples[:n_pos, 1] = first, second
    if n_neg:
        couples[n_pos:, 0], couples[n_pos:, 1] = words, r
    labels = np.zeros(n_pos + n_neg, np.int32)
    labels[:n_pos] = 1
    if shuffle:
        perm = rng.permutation(len(labels))
        couples, labels = np.take(couples, perm, axis=0), labels[perm]
    return couples, np.stack([1 - labels, labels], axis=1) if categorical else labels


def _sorted_shuffle(
    first: np.ndarray, second: np.ndarray, words: np.ndarray | None, r: np.ndarray | None,
    b: int, categorical: bool, rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Shuffle couples by sorting 64-bit words: random high bits, ``(first, second, label)`` in
    the low ``2b + 1`` bits. One SIMD sort and no gathers (about 2x ``permutation`` + ``take``).
    Couples whose random parts tie (about n**2 / 2**(64 - 2b) pairs: ~200 of 3.6 M couples of
    a 10 k vocabulary) end up next to each other in a fixed order; all else is uniform.
    """
    u32, n_pos = np.uint32, len(first)
    n = n_pos + (0 if words is None else len(words))
    payload = np.empty(n, u32)
    payload[:n_pos] = (first.astype(u32) << u32(b + 1)) | (second.astype(u32) << u32(1)) | u32(1)
    if words is not None:
        payload[n_pos:] = (words.astype(u32) << u32(b + 1)) | (r.astype(u32) << u32(1))
    keys = rng.bit_generator.random_raw(n)
    keys >>= np.uint64(2 * b + 1)
    keys <<= np.uint64(2 * b + 1)
    keys |= payload
    keys.sort()
    payload = keys.astype(u32)
    del keys
    couples, mask = np.empty((n, 2), np.int32), u32((1 << b) - 1)
    labels = (payload & u32(1)).astype(np.int32)
    payload >>= u32(1)
    couples[:, 1] = payload & mask
    payload >>= u32(b)
    payload &= mask
    couples[:, 0] = payload
    return couples, np.stack([1 - labels, labels], axis=1) if categorical else labels
