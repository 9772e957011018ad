"""A vectorised stand-in for ``keras.preprocessing.sequence.skipgrams``.

:func:`skipgrams` takes Keras's arguments in Keras's order and returns the same couples as
numpy arrays, for code written against the Keras API. It is independent of the rest of the
sampler (one sequence, a fixed window, uniform negatives); :mod:`item2vec.sampling.windows` is the
sampler the trainers use.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from ..checks import check_int, check_real
from ..exceptions import DataError, ParameterError
from .keysort import PARALLEL_FROM, THREADS, part_streams, run_parts, sort_keys
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
    has_zero = bool(n) and int(seq.min()) == 0
    first_ok = None if not has_zero else seq != 0
    if sampling_table is not None:
        table = np.asarray(sampling_table, dtype=np.float64)
        if table.ndim != 1 or len(table) < v:
            raise ParameterError(
                f"sampling_table must be 1-D with vocabulary_size={v} entries, got shape "
                f"{table.shape}"
            )
        sampled = rng.random(n) <= table[seq]
        first_ok = sampled if first_ok is None else first_ok & sampled
    b = max(int(v - 1).bit_length(), 1)
    if shuffle and 2 * b + 1 <= 32:
        return _shuffled(seq, ws, b, first_ok, has_zero, ns, v, categorical, rng)
    ctx = np.zeros((n, 2 * ws), np.int32)  # slot order = j ascending, as Keras loops
    for d in range(1, ws + 1):
        ctx[d:, ws - d] = seq[: max(n - d, 0)]
        ctx[: max(n - d, 0), ws + d - 1] = seq[d:]
    mask = ctx != 0
    if first_ok is not None:
        mask &= first_ok[:, None]
    second = ctx[mask]
    first = np.repeat(seq, np.count_nonzero(mask, axis=1))
    n_pos = len(first)
    n_neg = int(n_pos * ns)
    _check_negatives(n_neg, v)
    couples = np.empty((n_pos + n_neg, 2), np.int32)
    couples[:n_pos, 0], couples[:n_pos, 1] = first, second
    if n_neg:  # Keras: the words cycle through a shuffled copy of the positives' words
        if shuffle:  # the final shuffle makes the order of the words irrelevant
            reps, extra = divmod(n_neg, n_pos)
            pick = rng.choice(n_pos, extra, replace=False)
            words = np.concatenate([np.tile(first, reps), first[pick]])
        else:
            words = np.resize(first[rng.permutation(n_pos)], n_neg)
        r = rng.integers(1, v - 1, size=n_neg, dtype=np.int32)
        r += r >= words
        couples[n_pos:, 0], couples[n_pos:, 1] = words, r
    labels = np.zeros(n_pos + n_neg, np.int32)
    labels[:n_pos] = 1
    if shuffle:
        perm = rng.permutation(len(labels))
        couples, labels = np.take(couples, perm, axis=0), labels[perm]
    return couples, np.stack([1 - labels, labels], axis=1) if categorical else labels


def _check_negatives(n_neg: int, v: int) -> None:
    if n_neg and v < 3:
        raise ParameterError(
            f"vocabulary_size must be >= 3 to draw negatives other than the word, got {v}"
        )


_U64 = np.uint64
_BLOCK = 1 << 16  # elements per step of the packing and unpacking loops (cache-sized)


def _shuffled(
    seq: np.ndarray, ws: int, b: int, first_ok: np.ndarray | None, has_zero: bool, ns: float,
    v: int, categorical: bool, rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Shuffled couples, packed straight into sort keys: one sort is the whole shuffle.

    A couple is a 64-bit key: ``first`` in bits ``0..b-1``, ``second`` in ``b..2b-1``, the
    label in bit ``2b`` (``2b + 1 <= 32``) and random bits above. Positives are written
    offset by offset (``first`` at ``i``, ``second`` at ``i +- d``) and negatives word by
    word straight into the keys (their order before the sort is irrelevant), in
    cache-sized blocks; one sort shuffles (:func:`~item2vec.sampling.keysort.sort_keys`), and the
    sorted keys are unpacked in place into the ``(n, 2)`` int32 couples (a key and a couple
    are both 8 bytes): no couple array, mask compaction, gather or permutation on the way.
    From :data:`~item2vec.sampling.keysort.PARALLEL_FROM` couples on, the block loops and the sort
    run on two threads where there are two cores; the couples are the same either way.
    Couples whose ``63 - 2b`` random bits tie (about n**2 / 2**(64 - 2b) pairs: ~200 of
    3.6 M couples of a 10 k vocabulary) end up next to each other in key order instead of a
    random one; all else is uniform.
    """
    n = len(seq)
    u = seq.view(np.uint32)
    f_part = u.astype(_U64)  # first word
    s_part = f_part << _U64(b)  # second word and the label 1
    s_part |= _U64(1 << (2 * b))
    nz = (u != 0) if has_zero else None
    slots = []  # (first, second, first word) of each offset, compacted where masked
    for d in range(1, min(ws, n - 1) + 1):
        for fs, ss in ((slice(d, n), slice(0, n - d)), (slice(0, n - d), slice(d, n))):
            mk = None if first_ok is None else first_ok[fs]
            if nz is not None:
                mk = nz[ss] if mk is None else mk & nz[ss]
            if mk is None:
                slots.append((f_part[fs], s_part[ss], u[fs]))
            else:
                slots.append(tuple(np.compress(mk, x) for x in (f_part[fs], s_part[ss], u[fs])))
    n_pos = sum(len(s[0]) for s in slots)
    n_neg = int(n_pos * ns)
    _check_negatives(n_neg, v)
    reps, extra = divmod(n_neg, n_pos) if n_pos else (0, 0)
    pick = rng.choice(n_pos, extra, replace=False) if extra else None
    n_all = n_pos + n_neg
    keys = np.empty(n_all, _U64)
    blk = min(_BLOCK, max(n_all, 1))
    threads = THREADS if n_all >= PARALLEL_FROM else 1
    # the random bits of the keys and the negatives' draws: two streams of their own, one
    # per half of the blocks, so the couples are the same on one thread or two
    streams = part_streams(rng)
    pack = _pack_blocks(streams, b, v)
    positives, pos = [], 0
    for f, s, _ in slots:  # blocks of (keys, first words, second words and label)
        positives += _blocks(keys[pos : pos + len(f)], f, s, blk)
        pos += len(f)
    run_parts(pack, [(0, positives[0::2]), (1, positives[1::2])], threads)
    sources = [w for *_, w in slots] * reps
    if extra:  # and a random subset of the positives' words once more
        sources.append((keys[:n_pos][pick] & _U64((1 << b) - 1)).astype(np.uint32))
    negatives = []
    for w in sources:  # blocks of (keys, words, None): negatives (w, r), r drawn in pack
        negatives += _blocks(keys[pos : pos + len(w)], w, None, blk)
        pos += len(w)
    run_parts(pack, [(0, negatives[0::2]), (1, negatives[1::2])], threads)
    del f_part, s_part, slots, sources, positives, negatives
    sort_keys(keys, threads)
    labels = np.empty(n_all, np.int32)
    half = (n_all // 2 // blk) * blk
    run_parts(_unpack(keys, labels, b, blk), [(0, half), (half, n_all)], threads)
    couples = keys.view(np.int32).reshape(-1, 2)
    if sys.byteorder != "little":
        couples = couples[:, ::-1].copy()
    return couples, np.stack([1 - labels, labels], axis=1) if categorical else labels


_Block = tuple[np.ndarray, np.ndarray, np.ndarray | None]


def _blocks(keys: np.ndarray, x: np.ndarray, y: np.ndarray | None, blk: int) -> list[_Block]:
    """``keys`` with their sources ``x`` (and ``y``) cut into blocks of ``blk``."""
    return [
        (keys[a : a + blk], x[a : a + blk], None if y is None else y[a : a + blk])
        for a in range(0, len(keys), blk)
    ]


def _pack_blocks(
    streams: list[np.random.Generator], b: int, v: int
) -> Callable[[tuple[int, list[_Block]]], None]:
    """Fills blocks of keys from ``streams[i]``: random bits above bit ``2b``, and below
    them a positive's ``first | second << b | 1 << 2b`` (``y`` holds ``second``, shifted
    and labelled), or a negative's ``w | r << b`` (``y`` is None) with ``r`` uniform over
    ``1..v-1`` without ``w``."""
    top = ~_U64((1 << (2 * b + 1)) - 1)

    def pack(part: tuple[int, list[_Block]]) -> None:
        gen = streams[part[0]]
        for kb, x, y in part[1]:
            np.bitwise_and(gen.bit_generator.random_raw(len(kb)), top, out=kb)
            if y is None:
                y = gen.integers(1, v - 1, size=len(kb), dtype=_U64)
                y += y >= x
                y <<= _U64(b)
            kb |= x
            kb |= y

    return pack


def _unpack(
    keys: np.ndarray, labels: np.ndarray, b: int, blk: int
) -> Callable[[tuple[int, int]], None]:
    """Turns sorted keys ``[lo, hi)`` into ``first | second << 32`` in place, and their
    labels."""
    first_mask, second_mask = _U64((1 << b) - 1), _U64(((1 << b) - 1) << b)

    def unpack(span: tuple[int, int]) -> None:
        tmp = np.empty(blk, _U64)
        for a in range(*span, blk):
            kb = keys[a : min(a + blk, span[1])]
            t = tmp[: len(kb)]
            np.right_shift(kb, _U64(2 * b), out=t)
            t &= _U64(1)
            labels[a : a + len(kb)] = t
            np.bitwise_and(kb, second_mask, out=t)
            t <<= _U64(32 - b)
            kb &= first_mask
            kb |= t

    return unpack
