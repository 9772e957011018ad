"""What a trained model keeps so that it can be updated, and how an update's vocabulary is
merged into the model's (:mod:`item2vec.training.incremental` runs the update itself).

- :class:`UpdateState` (``Item2Vec.update_state_``): the forward pair counts behind
  ``neighbour_counts_`` and their window, the items still below ``min_count`` with their
  counts, Adagrad's accumulators, a separate output table. :func:`after_fit` makes it from a fit;
  :func:`state_arrays` / :func:`state_from_arrays` store it in the model directory as
  optional numeric ``extra_<name>.npy`` arrays (string ids of pending items as UTF-8 bytes
  plus offsets), so the format version is unchanged and a directory without them loads with
  an empty state.
- :func:`plan_vocabulary`: existing rows kept, new items appended (descending count, ties
  in the new log's order), ``min_count`` on accumulated counts; :func:`encode_sessions`
  re-encodes a log's sessions in the combined rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..data.sessions import Sessions, Vocabulary
from ..exceptions import ModelFormatError, ParameterError

__all__ = [
    "UpdateState",
    "VocabularyPlan",
    "after_fit",
    "as_sessions",
    "encode_sessions",
    "grow_square",
    "plan_vocabulary",
    "state_arrays",
    "state_from_arrays",
]

_FORWARD = ("forward_indptr", "forward_indices", "forward_counts")
_WINDOW = "forward_window"
_PENDING_BYTES, _PENDING_OFFSETS = "pending_id_bytes", "pending_id_offsets"
_PENDING_IDS, _PENDING_COUNTS = "pending_ids", "pending_counts"


@dataclass
class UpdateState:
    """What a model keeps beyond its vectors so that it can be updated (``update_state_``).

    forward : float64 CSR (n_items, n_items) or None: how often each item followed each
        other within ``window`` places (a pair ``d`` apart counting ``1 / d``) in every
        session trained on (each item's strongest ``MAX_NEIGHBOURS``); None where the model
        has no neighbour counts or was saved before they were kept.
    window : the window of ``forward``, chosen at the fit
        (:func:`item2vec.queries.counts.next_counts`); 1 for models saved before it was
        chosen.
    pending_ids, pending_counts : items seen fewer than ``min_count`` times so far, which
        have no row, and their counts.
    optimizer : Adagrad's accumulators (``{"accumulator_<i>": (n, 1)}``), empty for SGD.
    output_vectors : the separate output table (``separate_output=True``), else None.
    """

    forward: Any = None
    window: int = 1
    pending_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pending_counts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    optimizer: dict[str, np.ndarray] = field(default_factory=dict)
    output_vectors: np.ndarray | None = None


# ----------------------------------------------------------------------------- after a fit
def after_fit(raw: Any, sessions: Any, trainer: Any) -> UpdateState:
    """The update state of a fit: ``raw`` before ``min_count``, ``sessions`` trained on.
    Its ``forward`` counts are None and ``window`` 1 until the fit's neighbour counts are
    computed (``Item2Vec`` fills them in with them, on first use)."""
    pending_ids, pending_counts = np.zeros(0, sessions.vocabulary.ids.dtype), np.zeros(0, np.int64)
    if raw is not sessions:
        rv = raw.vocabulary
        gone = ~pd.Index(rv.ids).isin(pd.Index(sessions.vocabulary.ids))
        pending_ids, pending_counts = rv.ids[gone], rv.counts[gone]
    out = trainer.model.E_out.numpy() if trainer.model.output_embedding is not None else None
    return UpdateState(None, 1, pending_ids, pending_counts, trainer.optimizer_state(), out)


# ----------------------------------------------------------------------------- save / load
def state_arrays(state: UpdateState | None) -> dict[str, np.ndarray]:
    """The state as numeric arrays for the model directory (``extra_<name>.npy``)."""
    if state is None:
        return {}
    out: dict[str, np.ndarray] = dict(state.optimizer)
    if state.forward is not None:
        f = state.forward
        out.update(zip(_FORWARD, (f.indptr, f.indices, f.data), strict=True))
        out[_WINDOW] = np.array([state.window], np.int64)
    if len(state.pending_ids):
        out[_PENDING_COUNTS] = state.pending_counts.astype(np.int64)
        if state.pending_ids.dtype.kind in "iu":
            out[_PENDING_IDS] = state.pending_ids.astype(np.int64)
        else:
            raw = [str(i).encode("utf-8") for i in state.pending_ids.tolist()]
            out[_PENDING_OFFSETS] = np.cumsum([0] + [len(b) for b in raw]).astype(np.int64)
            out[_PENDING_BYTES] = np.frombuffer(b"".join(raw), np.uint8)
    if state.output_vectors is not None:
        out["output_vectors"] = state.output_vectors
    return out


def state_from_arrays(
    extras: dict[str, np.ndarray], vocabulary: Vocabulary, dim: int, where: str
) -> UpdateState:
    """:func:`state_arrays` back; a directory written before it gives an empty state."""
    n = len(vocabulary)
    try:
        state = UpdateState(pending_ids=np.zeros(0, vocabulary.ids.dtype))
        if any(k in extras for k in _FORWARD):
            indptr, indices, data = (extras[k] for k in _FORWARD)
            state.forward = sp.csr_matrix((data.astype(np.float64), indices, indptr), (n, n))
            state.forward.check_format(full_check=True)
            state.window = int(extras[_WINDOW][0]) if _WINDOW in extras else 1
            if state.window < 1:
                raise ValueError(f"the forward counts' window must be >= 1, got {state.window}")
        state.optimizer = {k: v for k, v in extras.items() if k.startswith("accumulator_")}
        if any(v.shape != (n, 1) or v.dtype != np.float32 for v in state.optimizer.values()):
            raise ValueError("optimizer accumulators must be float32 (n_items, 1)")
        if _PENDING_COUNTS in extras:
            counts = extras[_PENDING_COUNTS].astype(np.int64)
            if vocabulary.is_numeric:
                ids = extras[_PENDING_IDS].astype(np.int64)
            else:
                off, raw = extras[_PENDING_OFFSETS], extras[_PENDING_BYTES].tobytes()
                ids = np.array(
                    [raw[a:b].decode("utf-8") for a, b in zip(off[:-1], off[1:])], dtype=object
                )
            if ids.shape != counts.shape or np.any(counts < 0):
                raise ValueError("pending ids and counts do not match")
            state.pending_ids, state.pending_counts = ids, counts
        if "output_vectors" in extras:
            state.output_vectors = extras["output_vectors"].astype(np.float32)
            if state.output_vectors.shape != (n, dim):
                raise ValueError(f"output vectors must be ({n}, {dim})")
    except (KeyError, ValueError, TypeError, UnicodeDecodeError) as e:
        raise ModelFormatError(f"{where}: invalid update state: {e}") from None
    return state


# ----------------------------------------------------------------------------- vocabulary
@dataclass
class VocabularyPlan:
    """How the new log's vocabulary rows map onto the combined table."""

    vocabulary: Vocabulary  # combined
    rows: np.ndarray  # int64 per row of the new log's vocabulary: combined row, or -1
    pending_ids: np.ndarray
    pending_counts: np.ndarray
    n_old: int


def _same_kind(ids: np.ndarray, old: Vocabulary) -> np.ndarray:
    """The new log's ids as the model's kind: strings for a string vocabulary (``85123``
    becomes ``"85123"``, as queries do), integers for an integer one."""
    if not old.is_numeric:
        return ids if ids.dtype == object else np.array([str(i) for i in ids.tolist()], object)
    if ids.dtype.kind in "iu":
        return ids.astype(np.int64)
    try:
        return np.array([int(str(i).strip()) for i in ids.tolist()], np.int64)
    except ValueError:
        bad = next(i for i in ids.tolist() if not str(i).strip().lstrip("+-").isdigit())
        raise ParameterError(
            f"the model's item ids are integers, the new sessions have the id {bad!r}; "
            "build the sessions with the same id column as the model's"
        ) from None


def plan_vocabulary(
    old: Vocabulary, state: UpdateState, new: Vocabulary, raw: np.ndarray, kept: Any, min_count: int
) -> VocabularyPlan:
    """Merge: ``raw`` counts of the new log's rows decide who may enter (accumulated
    ``>= min_count``); ``kept(rows)`` gives the counts per combined row that survive the
    short-session rule, which decide who does (an item left with no event stays out)."""
    ids, code = np.unique(_same_kind(new.ids, old), return_inverse=True)  # "01" and "1": one id
    counts = np.bincount(code, weights=raw, minlength=len(ids)).astype(np.int64)
    first = np.full(len(ids), len(code), np.int64)
    np.minimum.at(first, code, np.arange(len(code)))  # the new log's row order
    seen = counts > 0
    known = pd.Index(old.ids).get_indexer(ids)
    at = pd.Index(state.pending_ids).get_indexer(ids) if len(state.pending_ids) else known * 0 - 1
    prior = np.zeros(len(ids), np.int64)
    prior[at >= 0] = state.pending_counts[at[at >= 0]]
    acc = prior + counts
    cand = np.flatnonzero((known < 0) & seen & (acc >= min_count))
    n_old = len(old)
    rows = np.full(len(ids), -1, np.int64)
    rows[known >= 0] = known[known >= 0]
    rows[cand] = n_old + np.arange(len(cand))
    kept_counts = kept(rows[code])  # (n_old + len(cand),)
    enter = cand[kept_counts[n_old:] > 0]
    total = prior[enter] + kept_counts[n_old + np.searchsorted(cand, enter)]
    enter = enter[np.lexsort((first[enter], -total))]
    total = prior[enter] + kept_counts[n_old + np.searchsorted(cand, enter)]
    rows[cand] = -1
    rows[enter] = n_old + np.arange(len(enter))
    # pending: the old ones not entering (counts accumulated) and the new ones left out
    out = (known < 0) & seen & (rows < 0)
    was = at[out]
    p_counts = state.pending_counts.copy()
    p_counts[was[was >= 0]] = acc[out][was >= 0]
    stay = np.ones(len(state.pending_ids), bool)
    stay[at[enter][at[enter] >= 0]] = False
    p_ids = np.concatenate([state.pending_ids[stay], ids[out][was < 0]])
    p_counts = np.concatenate([p_counts[stay], acc[out][was < 0]]).astype(np.int64)
    old_counts = old.counts + kept_counts[:n_old]
    entered_pending = int((at[enter] >= 0).sum())
    vocab = Vocabulary(
        ids=np.concatenate([old.ids, ids[enter]]).astype(old.ids.dtype),
        counts=np.concatenate([old_counts, total]),
        dropped_items=max(0, old.dropped_items + int((was < 0).sum()) - entered_pending),
        dropped_events=old.dropped_events + int(raw.sum() - kept_counts.sum()),
    )
    return VocabularyPlan(vocab, rows[code], p_ids, p_counts, n_old)


def encode_sessions(
    rows: np.ndarray, items: np.ndarray, lengths: np.ndarray, n_old: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Items as combined rows, events without a row removed, then sessions shorter than 2
    (and, with ``n_old``, sessions without a new row); ``(items int32, lengths int64)``."""
    r = rows[items]
    sid = np.repeat(np.arange(len(lengths)), lengths)
    keep = r >= 0
    r, sid = r[keep], sid[keep]
    n = np.bincount(sid, minlength=len(lengths))
    ok = n >= 2
    if n_old is not None:
        ok &= np.bincount(sid, weights=r >= n_old, minlength=len(lengths)) > 0
    return r[ok[sid]].astype(np.int32), n[ok].astype(np.int64)


def as_sessions(items: np.ndarray, lengths: np.ndarray, vocabulary: Vocabulary) -> Sessions:
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return Sessions(items, offsets, vocabulary)


def grow_square(m: sp.spmatrix, n: int) -> sp.csr_matrix:
    """A square sparse matrix padded with empty rows and columns to (n, n)."""
    m = m.tocsr()
    out = sp.csr_matrix(
        (
            m.data,
            m.indices,
            np.concatenate([m.indptr, np.full(n - m.shape[0], m.indptr[-1], m.indptr.dtype)]),
        ),
        shape=(n, n),
    )
    out.sort_indices()
    return out
