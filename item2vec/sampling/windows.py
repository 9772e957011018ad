"""Window units and couples from sessions: the window core, chunks, the whole corpus.

For every kept event ``t`` at position ``i`` of a session, each item ``c`` within the
effective window around ``i`` gives a positive couple ``(c, t)``; a negative couple
replaces the target by an item drawn from ``count ** ns_exponent`` that is never ``t``.

Window semantics, shared by every function of the sampler:

* Subsampling (word2vec) drops events *before* windowing, so windows span dropped items.
* ``window=W``: the effective window of a target is drawn uniformly from ``1..W``
  (``shrink_window=True``, word2vec) or is ``W``; contexts never cross a session boundary.
* ``direction="forward"``: only the kept events *before* a target (within its effective
  window; in session mode every earlier kept event) are its contexts, so every couple
  ``(c, t)`` has ``c`` before ``t``: the model learns what comes next after ``c``.
  ``"both"`` (the default) is the symmetric window. Forward windows are units and couples
  only: :func:`chunk_spans` refuses them (the trainer feeds them as units).
* ``window="session"``: every other kept event of the session is a context (baskets have
  no order). A target with more than ``max_contexts`` (default
  :data:`DEFAULT_MAX_CONTEXTS` = 20) others gets a uniform random subset of that size
  (Floyd's algorithm, vectorised), so long sessions cost ``O(n * max_contexts)``, not
  ``O(n ** 2)``.

A :class:`WindowPlan` (:mod:`item2vec.sampling.plan`, re-exported here) holds the checked
settings bound to a vocabulary's counts (subsampling probabilities, negative sampler), and
:func:`~item2vec.sampling.plan.kept_events` applies the subsampling. :func:`chunk_units`,
:func:`chunk_spans` and :func:`chunk_couples` turn one chunk of sessions (``items``,
``offsets``) into shuffled examples with a plan: the seam between a corpus and the sampler.
:func:`window_units` and :func:`skipgram_couples` build a whole in-memory corpus at once;
:mod:`item2vec.sampling.streaming` streams it in batches.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np

from ..data.sessions import Sessions
from .keysort import PARALLEL_FROM, THREADS, part_streams, run_parts, sort_keys
from .plan import DEFAULT_MAX_CONTEXTS, WindowPlan, kept_events
from .units import Couples, SeedLike, Spans, Units, pool_size

__all__ = [
    "DEFAULT_MAX_CONTEXTS",
    "WindowPlan",
    "chunk_couples",
    "chunk_spans",
    "chunk_units",
    "permutation",
    "skipgram_couples",
    "window_units",
]

_CHUNK = 1_000_000  # events per piece when building the whole corpus (cache-friendly)
_SORTED_PERMUTATION_FROM = 1 << 22  # larger permutations sort random keys (see permutation)


def permutation(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random permutation of ``0..n-1``, fast for the tens of millions of units of a corpus.

    ``rng.permutation(n)`` up to 4 M; beyond, by sorting random 64-bit keys whose low bits hold
    the index: a SIMD sort streams memory where Fisher-Yates jumps (3x faster at 26 M). Keys
    whose random parts tie (about n**2 / 2**(65 - bits(n)) pairs: ~600 at 26 M) keep index order.

    Parameters
    ----------
    n : int >= 0
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of int64, shape (n,)
    """
    if n <= _SORTED_PERMUTATION_FROM:
        return rng.permutation(n)
    bits = np.uint64(int(n - 1).bit_length())
    keys = rng.bit_generator.random_raw(n)
    keys >>= bits
    keys <<= bits
    keys |= np.arange(n, dtype=np.uint64)
    keys.sort()
    keys &= (np.uint64(1) << bits) - np.uint64(1)
    return keys.view(np.int64)


# --------------------------------------------------------------------------- core
def _core(
    plan: WindowPlan, items: np.ndarray, offsets: np.ndarray, rng: np.random.Generator,
    trace: bool, shuffle: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:  # fmt: skip
    """Targets (U,), contexts (U, C), effective windows and local event indices (trace only)."""
    items, left, right, src = kept_events(plan, items, offsets, rng, trace)
    if plan.forward:  # no context after the target (the +d slots stay -1)
        right = np.zeros_like(right)
    n = len(items)
    w = None
    if plan.window is None:
        ctx, has = _session_contexts(items, left, right, plan.max_contexts, rng)
    else:
        big_w = plan.window
        w = rng.integers(1, big_w + 1, size=n, dtype=np.int32) if plan.shrink else big_w
        lw, rw = np.minimum(left, w), np.minimum(right, w)
        ctx_t = np.empty((2 * big_w, n), np.int32)  # slot-major: contiguous writes
        shifted = np.empty(n, np.int32)
        for d in range(1, big_w + 1):
            m = max(n - d, 0)
            shifted[n - m :], shifted[: n - m] = items[:m], -1  # item at offset -d
            np.copyto(ctx_t[big_w - d], np.where(lw >= d, shifted, np.int32(-1)))
            shifted[:m], shifted[m:] = items[n - m :], -1  # item at offset +d
            np.copyto(ctx_t[big_w + d - 1], np.where(rw >= d, shifted, np.int32(-1)))
        ctx = np.ascontiguousarray(ctx_t.T)
        del ctx_t
        has = (lw > 0) | (rw > 0)
        if not plan.shrink:
            w = np.full(n, big_w, np.int32) if trace else None
    rows = None if has.all() else np.flatnonzero(has)  # one gather: filter (and shuffle)
    if shuffle:
        rows = rng.permutation(n if rows is None else rows)
    pick = (lambda a: a) if rows is None else (lambda a: np.take(a, rows, axis=0))  # noqa: E731
    windows = pick(w) if trace and w is not None else None
    return pick(items), pick(ctx), windows, None if src is None else pick(src)


def _session_contexts(
    items: np.ndarray, left: np.ndarray, right: np.ndarray, cap: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """All other events of the session (or a uniform random ``cap``-subset of them)."""
    n_ctx = left + right  # others in the session
    ctx = np.full((len(items), cap), -1, np.int32)
    short = np.flatnonzero((n_ctx > 0) & (n_ctx <= cap))
    lft, nc = left[short], n_ctx[short]
    start = short - lft
    for j in range(min(cap, int(nc.max(initial=0)))):
        ok = np.flatnonzero(j < nc)
        ctx[short[ok], j] = items[start[ok] + j + (j >= lft[ok])]
    long_ = np.flatnonzero(n_ctx > cap)
    if len(long_):
        # Floyd's algorithm for a uniform cap-subset of 0..m-1, one column at a time
        m = n_ctx[long_].astype(np.int64)
        chosen = np.empty((len(long_), cap), np.int64)
        for k in range(cap):
            top = m - cap + k
            t = np.minimum((rng.random(len(long_)) * (top + 1)).astype(np.int64), top)
            dup = (chosen[:, :k] == t[:, None]).any(axis=1)
            chosen[:, k] = np.where(dup, top, t)
        lft = left[long_][:, None]
        ctx[long_] = items[(long_[:, None] - lft) + chosen + (chosen >= lft)]
    return ctx, n_ctx > 0


def chunk_units(
    plan: WindowPlan, items: np.ndarray, offsets: np.ndarray, rng: np.random.Generator,
    trace: bool = False,
) -> Units:  # fmt: skip
    """The units of one chunk of sessions, shuffled: the seam every corpus streams through.

    Draws, in this order from ``rng``: subsampling, effective windows (or session subsets),
    the shuffle, then the negatives. In-memory sessions
    (:func:`~item2vec.sampling.streaming.stream_units`) and Parquet corpora
    (:class:`~item2vec.sampling.corpus.ParquetCorpus`) both call it chunk by chunk.

    Parameters
    ----------
    plan : WindowPlan
    items : ndarray of int32, shape (n_events,)
        Vocabulary rows of the chunk's events, session after session.
    offsets : ndarray of int64, shape (n_sessions + 1,)
        Session ``s`` is ``items[offsets[s]:offsets[s + 1]]`` (``offsets[0] == 0``).
    rng : numpy.random.Generator
    trace : bool
        Also fill ``Units.events`` (indices into ``items``) and ``Units.windows``.

    Returns
    -------
    Units
        One row per kept event with at least one context, in random order.
    """
    t, ctx, w, ev = _core(plan, items, offsets, rng, trace, shuffle=True)
    k = plan.negatives
    neg = plan.sampler.draw(t, k, rng) if plan.sampler else np.empty((len(t), 0), np.int32)
    return Units(t, ctx, neg, ev, w)


def chunk_spans(
    plan: WindowPlan, items: np.ndarray, offsets: np.ndarray, rng: np.random.Generator,
    block: int,
) -> Spans:  # fmt: skip
    """The window units of one chunk of sessions in blocks of ``block`` consecutive targets,
    blocks shuffled (:class:`~item2vec.sampling.units.Spans`): the couples of :func:`chunk_units`
    for the same kept events and effective windows, each block's events gathered once.

    Draws, in this order from ``rng``: subsampling, effective windows, the shuffle, then
    each block's pool of ``pool_size(plan.negatives, block)`` independent negatives (each
    target skips the draws equal to it, see :func:`~item2vec.sampling.units.pool_order`).
    A session's kept events are cut into blocks from its first one; targets without a
    context (one kept event) are -1, and blocks without targets are dropped. Integer
    windows only (``plan.window`` not None).
    """
    if plan.window is None:
        raise ValueError("chunk_spans needs an integer window, not window='session'")
    if plan.forward:
        raise ValueError("chunk_spans needs direction='both'; forward windows are units")
    items, left, right, _ = kept_events(plan, items, offsets, rng, False)
    n, big_w = len(items), plan.window
    w = rng.integers(1, big_w + 1, size=n, dtype=np.int32) if plan.shrink else None
    starts = np.flatnonzero(left % block == 0)
    off = np.arange(block + 2 * big_w) - big_w  # slot s holds the event at start + off[s]
    inside = (off >= -left[starts][:, None]) & (off <= right[starts][:, None])
    at = np.clip(starts[:, None] + off, 0, max(n - 1, 0))
    spans = np.where(inside, items[at], np.int32(-1)).astype(np.int32)
    real = spans[:, big_w : big_w + block] >= 0  # (B, M): targets in the session
    pos = np.minimum(starts[:, None] + np.arange(block), max(n - 1, 0))
    radii = np.where(real, big_w if w is None else w[pos], 0).astype(np.int32)
    has = np.zeros_like(real)
    for d in range(1, big_w + 1):  # a context at offset -d or +d within the radius
        near = spans[:, big_w - d : big_w - d + block] >= 0
        near |= spans[:, big_w + d : big_w + d + block] >= 0
        has |= near & (d <= radii)
    targets = np.where(has, spans[:, big_w : big_w + block], np.int32(-1))
    radii = np.where(has, radii, 0).astype(np.int32)
    keep = np.flatnonzero(has.any(axis=1))
    order = keep[permutation(len(keep), rng)]
    spans, targets, radii = spans[order], targets[order], radii[order]
    p = pool_size(plan.negatives, block)
    if plan.sampler is None or p == 0:
        negatives = np.empty((len(order), 0), np.int32)
    else:
        negatives = plan.sampler.sample((len(order), p), rng)
    return Spans(spans, targets, radii, negatives)


def chunk_couples(
    plan: WindowPlan, items: np.ndarray, offsets: np.ndarray, rng: np.random.Generator
) -> Couples:
    """The flat couples of one chunk of sessions, shuffled (see :func:`skipgram_couples`).

    Parameters as in :func:`chunk_units`.

    Returns
    -------
    Couples
        Each positive ``(c, t)`` and its ``plan.negatives`` negatives ``(c, n)``, shuffled:
        shape (P * (1 + negatives),).
    """
    if plan.window is None:  # session mode: the padded contexts of _core
        t, ctx, _, _ = _core(plan, items, offsets, rng, False, shuffle=False)
        rows, cols = np.nonzero(ctx >= 0)
        tgt, cx = t[rows], ctx[rows, cols]
        del t, ctx, rows, cols
    else:
        tgt, cx = _window_pairs(plan, items, offsets, rng)
    return _shuffled_couples(plan, tgt, cx, int(items.max(initial=0)), rng)


def _window_pairs(
    plan: WindowPlan, items: np.ndarray, offsets: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Positive ``(target, context)`` pairs of a numeric window, offset by offset (the same
    draws as :func:`_core`: subsampling, then the effective windows), without the padded
    ``(U, 2 * window)`` block: each offset's pairs are compacted straight into place."""
    items, left, right, _ = kept_events(plan, items, offsets, rng, False)
    n, big_w = len(items), plan.window
    w = rng.integers(1, big_w + 1, size=n, dtype=np.int32) if plan.shrink else np.int32(big_w)
    lw, rw = np.minimum(left, w), np.minimum(right, w)
    slots = []  # (mask, target slice, context slice): context at offset -d, then +d
    for d in range(1, min(big_w, n - 1) + 1):
        slots.append((lw[d:] >= d, slice(d, n), slice(0, n - d)))
        if not plan.forward:
            slots.append((rw[: n - d] >= d, slice(0, n - d), slice(d, n)))
    counts = [int(np.count_nonzero(mk)) for mk, _, _ in slots]
    tgt, cx = np.empty(sum(counts), np.int32), np.empty(sum(counts), np.int32)
    pos = 0
    for (mk, ts, cs), m in zip(slots, counts, strict=True):
        if m == len(mk):  # every event has this neighbour (one long session): a plain copy
            tgt[pos : pos + m], cx[pos : pos + m] = items[ts], items[cs]
        else:
            np.compress(mk, items[ts], out=tgt[pos : pos + m])
            np.compress(mk, items[cs], out=cx[pos : pos + m])
        pos += m
    return tgt, cx


_LOW = 0 if sys.byteorder == "little" else 1  # the low 32-bit half of a uint64 in memory
_TIE_MARGIN = 12  # packed shuffle: random bits >= bits(n) + 12, at most ~n / 8192 tied pairs


def _shuffled_couples(
    plan: WindowPlan, tgt: np.ndarray, cx: np.ndarray, max_item: int, rng: np.random.Generator
) -> Couples:
    """Each positive ``(c, t)``, its ``plan.negatives`` negatives ``(c, n)``, shuffled.

    When ``(target, context, label)`` fit in 32 bits and leave enough random bits for the
    couple count, a couple is one 64-bit sort key (random bits above the payload) and one
    sort is the shuffle (:func:`~item2vec.sampling.keysort.sort_keys`), unpacked straight into the
    three arrays: no pair array, permutation or gather (couples whose random bits tie, at
    most ~1 pair per 8,192 couples, keep key order). The negatives, random bits, packing,
    sort and unpacking run on two threads from :data:`~item2vec.sampling.keysort.PARALLEL_FROM`
    couples on where there are two cores (same couples either way). Otherwise (big
    vocabularies and chunks) pairs are gathered by a permutation, as before.
    """
    p, k = len(tgt), plan.negatives
    n_all = p * (k + 1)
    if k:
        max_item = max(max_item, len(plan.sampler.probabilities) - 1)
    b = max(int(max_item).bit_length(), 1)
    if 2 * b + 1 > 32 or 63 - 2 * b < int(n_all).bit_length() + _TIE_MARGIN:
        neg = plan.sampler.draw(tgt, k, rng) if k else None
        pairs = np.empty((n_all, 2), np.int32)  # (target, context): one 8-byte gather below
        pairs[:p, 0], pairs[:p, 1] = tgt, cx
        if k:
            pairs[p:, 0] = neg.reshape(-1)
            pairs[p:, 1] = np.repeat(cx, k)
        perm = permutation(n_all, rng)
        pairs = np.take(pairs.view(np.int64).ravel(), perm).view(np.int32).reshape(-1, 2)
        labels = (perm < p).astype(np.float32)
        return Couples(np.ascontiguousarray(pairs[:, 0]), np.ascontiguousarray(pairs[:, 1]), labels)
    threads = THREADS if n_all >= PARALLEL_FROM else 1
    # two halves of the positives, each with its negatives and a random stream of its own
    # (the couples are the same on one thread or two)
    streams = part_streams(rng)
    keys = np.empty(n_all, np.uint64)
    half = p // 2
    run_parts(_packer(plan, tgt, cx, b, keys, streams), [(0, 0, half), (1, half, p)], threads)
    sort_keys(keys, threads)
    out = Couples(*(np.empty(n_all, np.int32) for _ in range(2)), np.empty(n_all, np.float32))
    run_parts(_unpacker(keys, b, out), [(0, n_all // 2), (n_all // 2, n_all)], threads)
    return out


def _packer(
    plan: WindowPlan, tgt: np.ndarray, cx: np.ndarray, b: int, keys: np.ndarray,
    streams: list[np.random.Generator],
) -> Callable[[tuple[int, int, int]], None]:  # fmt: skip
    """Packs positives ``lo..hi-1`` (keys ``lo..hi-1``) and their negatives (keys
    ``p + lo * k`` on) from ``streams[i]``: random bits above bit ``2b``, and below them
    ``target | context << b | label << 2b``."""
    u32, sb, p, k = np.uint32, np.uint32(b), len(tgt), plan.negatives
    top = ~np.uint64((1 << (2 * b + 1)) - 1)

    def pack(part: tuple[int, int, int]) -> None:
        i, lo, hi = part
        gen = streams[i]
        neg = plan.sampler.draw(tgt[lo:hi], k, gen) if k else None
        for kb in (keys[lo:hi], keys[p + lo * k : p + hi * k]):
            np.bitwise_and(gen.bit_generator.random_raw(len(kb)), top, out=kb)
        c_part = cx[lo:hi].view(u32) << sb
        payload = c_part | u32(1 << (2 * b))
        payload |= tgt[lo:hi].view(u32)
        keys[lo:hi].view(u32)[_LOW::2] |= payload
        if k:
            payload = c_part if k == 1 else np.repeat(c_part, k)  # c_part is not needed after
            payload |= neg.view(u32).reshape(-1)
            keys[p + lo * k : p + hi * k].view(u32)[_LOW::2] |= payload

    return pack


def _unpacker(keys: np.ndarray, b: int, out: Couples) -> Callable[[tuple[int, int]], None]:
    """Writes sorted keys ``lo..hi-1`` into ``out``'s targets, contexts and labels."""
    u32, sb, mask = np.uint32, np.uint32(b), np.uint32((1 << b) - 1)

    def unpack(span: tuple[int, int]) -> None:
        lo, hi = span
        low = keys[lo:hi].view(u32)[_LOW::2]
        np.bitwise_and(low, mask, out=out.targets[lo:hi].view(u32))
        cv, lv = out.contexts[lo:hi].view(u32), out.labels[lo:hi].view(u32)
        np.right_shift(low, sb, out=cv)
        cv &= mask
        np.right_shift(low, u32(2 * b), out=lv)
        lv &= u32(1)
        lv *= u32(0x3F800000)  # the bits of float32 1.0

    return unpack


# --------------------------------------------------------------------------- whole corpus
def window_units(
    sessions: Sessions, *, window: int | str, negatives: int, ns_exponent: float = 0.75,
    sample: float = 1e-3, shrink_window: bool = True, max_contexts: int | None = None,
    seed: SeedLike = None, trace: bool = False, direction: str = "both",
) -> Units:  # fmt: skip
    """Training units of the whole corpus, in shuffled order (the form the trainer consumes).

    Parameters
    ----------
    sessions : Sessions
    window : int >= 1 or ``"session"``
    negatives : int >= 0
        Negatives per unit, shared by all its contexts (``K``).
    ns_exponent : float
        Negatives are drawn from ``count ** ns_exponent``.
    sample : float >= 0
        Subsampling threshold (see :func:`keep_probability`); 0 disables it.
    shrink_window : bool
        Draw each target's effective window uniformly from ``1..window``.
    max_contexts : int, optional
        Session mode only: contexts per target (default :data:`DEFAULT_MAX_CONTEXTS`).
    seed : int, Generator or None
    trace : bool
        Also fill ``Units.events`` and ``Units.windows`` (for checks and debugging).
    direction : ``"both"`` or ``"forward"``
        Contexts on both sides of a target, or only before it (see the module docstring).

    Returns
    -------
    Units
        ``targets`` (U,) int32, ``contexts`` (U, C) int32 padded with -1, ``negatives``
        (U, K) int32; one unit per kept event with at least one context.
    """
    plan = WindowPlan.from_sessions(
        sessions, window=window, negatives=negatives, ns_exponent=ns_exponent, sample=sample,
        shrink_window=shrink_window, max_contexts=max_contexts, direction=direction,
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    off, parts = sessions.offsets, []
    cuts = np.searchsorted(off, np.arange(0, sessions.n_events, _CHUNK), side="right") - 1
    cuts = np.append(np.unique(cuts), len(sessions))
    for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True):  # cache-sized pieces
        t, ctx, w, ev = _core(
            plan, sessions.items[off[a] : off[b]], off[a : b + 1] - off[a], rng, trace, False
        )
        parts.append((t, ctx, w, None if ev is None else ev + off[a]))
    t, ctx, w, ev = (None if x[0] is None else np.concatenate(x) for x in zip(*parts, strict=True))
    del parts
    perm = permutation(len(t), rng)
    t, ctx, w, ev = (None if x is None else np.take(x, perm, axis=0) for x in (t, ctx, w, ev))
    k = plan.negatives
    neg = plan.sampler.draw(t, k, rng) if plan.sampler else np.empty((len(t), 0), np.int32)
    return Units(t, ctx, neg, ev, w)


def skipgram_couples(
    sessions: Sessions, *, window: int | str, negatives: int, ns_exponent: float = 0.75,
    sample: float = 1e-3, shrink_window: bool = True, max_contexts: int | None = None,
    seed: SeedLike = None, direction: str = "both",
) -> Couples:  # fmt: skip
    """Flat skip-gram couples of the whole corpus, shuffled.

    Same windows as :func:`window_units`; each positive ``(c, t)`` is followed by
    ``negatives`` couples ``(c, n)`` with ``n`` drawn from ``count ** ns_exponent`` for that
    positive alone (word2vec style), ``n != t``. Parameters as in :func:`window_units`.

    Returns
    -------
    Couples
        ``targets``, ``contexts`` int32 and ``labels`` float32, shape (P * (1 + negatives),).
    """
    plan = WindowPlan.from_sessions(
        sessions, window=window, negatives=negatives, ns_exponent=ns_exponent, sample=sample,
        shrink_window=shrink_window, max_contexts=max_contexts, direction=direction,
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    return chunk_couples(plan, sessions.items, sessions.offsets, rng)
