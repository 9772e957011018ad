"""Saving a model: :func:`save_model` writes a model directory atomically.

Every file is written and fsynced in a temporary sibling directory, then swapped into
place (:mod:`item2vec.io.atomic`); here are the checks of what is saved and the writers of
the vocabulary and the descriptions.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..data.sessions import Vocabulary
from ..exceptions import ParameterError
from ..version import __version__
from .atomic import check_target, flush_file, fsync_dir, save_error, swap_into_place
from .format import (
    BIASES,
    DESCRIPTIONS,
    FORMAT_NAME,
    FORMAT_VERSION,
    META,
    NAME_RE,
    VECTORS,
    VOCAB,
    sha256_file,
)

__all__ = ["save_model"]


def _after_file_written(name: str) -> None:
    """Test hook called after each file of a save; tests monkeypatch it to inject failures."""


def save_model(
    path: str | os.PathLike[str],
    *,
    vectors: np.ndarray,
    biases: np.ndarray,
    vocabulary: Vocabulary,
    config: Mapping[str, Any],
    history: list[dict[str, Any]] | None = None,
    extra_arrays: Mapping[str, np.ndarray] | None = None,
    state: Mapping[str, Any] | None = None,
    descriptions: Mapping[Any, Any] | Any = None,
) -> Path:
    """Write a model directory at ``path`` atomically, replacing a model already there.

    ``state`` (JSON-able) is stored as ``meta["state"]``; training checkpoints keep their
    position (epoch, step) there.

    ``vectors`` (n_items, dim) and ``biases`` (n_items,) are stored as float32 and must be
    finite; ``config`` and ``history`` must be JSON-serialisable (numpy scalars are
    converted). ``extra_arrays`` names must be letters, digits, ``_``, ``.`` or ``-``.
    ``descriptions`` (item id -> text, a mapping or a pandas Series indexed by id) are kept
    for the vocabulary's items that have one (missing values skipped, text as ``str``).
    An existing directory at ``path`` is replaced only if it is empty or an item2vec model.

    On failure the previous model at ``path`` is left intact and the temporary directory is
    removed; OS errors are raised as :class:`ModelSaveError` (a ``ModelFormatError`` and an
    ``OSError``) naming the path. Returns the model directory.
    """
    target = Path(path).absolute()
    vectors = _finite_float32("vectors", vectors, ndim=2)
    n, dim = vectors.shape
    biases = _finite_float32("biases", biases, ndim=1)
    if len(biases) != n or len(vocabulary) != n:
        raise ParameterError(
            f"vectors, biases and vocabulary must have one row per item, got {n}, "
            f"{len(biases)} and {len(vocabulary)}"
        )
    extras = {k: np.asarray(v) for k, v in (extra_arrays or {}).items()}
    for name, arr in extras.items():
        if not NAME_RE.match(name) or arr.dtype.kind not in "biuf":
            raise ParameterError(f"extra array {name!r} needs a plain name and a numeric dtype")
    meta: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "n_items": int(n),
        "dim": int(dim),
        "config": _jsonable("config", dict(config)),
        "history": None if history is None else _jsonable("history", list(history)),
        "vocabulary": {
            "id_type": "int64" if vocabulary.is_numeric else "str",
            "dropped_items": int(vocabulary.dropped_items),
            "dropped_events": int(vocabulary.dropped_events),
        },
        "extra_arrays": sorted(extras),
        "state": None if state is None else _jsonable("state", dict(state)),
        "files": {},
    }
    check_target(target)
    tmp: Path | None = None
    try:
        fresh = target.with_name(f".{target.name}.tmp-{secrets.token_hex(4)}")
        os.mkdir(fresh)  # not mkdtemp: the model directory gets the usual umask permissions
        tmp = fresh
        writes = [(VECTORS, vectors), (BIASES, biases), (VOCAB, vocabulary)]
        writes += [(f"extra_{k}.npy", extras[k]) for k in sorted(extras)]
        if descriptions is not None:
            writes.append((DESCRIPTIONS, _description_table(vocabulary, descriptions)))
        for name, obj in writes:
            with open(tmp / name, "wb") as f:
                if isinstance(obj, Vocabulary):
                    _write_vocabulary(f, obj)
                elif name == DESCRIPTIONS:
                    _write_descriptions(f, vocabulary, *obj)
                else:
                    np.save(f, obj, allow_pickle=False)
                flush_file(f)
            with open(tmp / name, "rb") as f:
                meta["files"][name] = {
                    "sha256": sha256_file(f),
                    "size": os.fstat(f.fileno()).st_size,
                }
            _after_file_written(name)
        with open(tmp / META, "w", encoding="utf-8") as f:  # written last: marks completeness
            json.dump(meta, f, indent=2)
            flush_file(f)
        _after_file_written(META)
        fsync_dir(tmp)
        swap_into_place(tmp, target)
        tmp = None
    except OSError as e:
        raise save_error(target, e) from e
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _write_vocabulary(f: Any, vocabulary: Vocabulary) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if vocabulary.is_numeric:
        ids = pa.array(np.asarray(vocabulary.ids, dtype=np.int64), type=pa.int64())
    else:
        values = vocabulary.ids.tolist()
        if not all(isinstance(v, str) for v in values):
            raise ParameterError("vocabulary ids must all be int64 or all be str to be saved")
        ids = pa.array(values, type=pa.string())
    counts = pa.array(np.asarray(vocabulary.counts, dtype=np.int64), type=pa.int64())
    pq.write_table(pa.table({"id": ids, "count": counts}), f)


def _description_table(vocabulary: Vocabulary, descriptions: Any) -> tuple[list, list]:
    """The (ids, texts) of the vocabulary's items that have a description, in row order."""
    import pandas as pd

    if isinstance(descriptions, pd.Series):
        keep = ~descriptions.index.duplicated(keep="first")
        descriptions = dict(zip(descriptions.index[keep], descriptions[keep], strict=True))
    if not isinstance(descriptions, Mapping):
        raise ParameterError(
            f"descriptions must map item ids to text, got {type(descriptions).__name__}"
        )
    ids, texts = [], []
    for item in vocabulary.ids.tolist():
        text = descriptions.get(item)
        if text is None and vocabulary.is_numeric:  # numeric ids may be keyed as strings
            text = descriptions.get(str(item))
        if text is None or (not isinstance(text, str) and bool(np.all(pd.isna(text)))):
            continue
        ids.append(item)
        texts.append(str(text))
    return ids, texts


def _write_descriptions(f: Any, vocabulary: Vocabulary, ids: list, texts: list) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    typ = pa.int64() if vocabulary.is_numeric else pa.string()
    table = pa.table({"id": pa.array(ids, type=typ), "description": pa.array(texts, pa.string())})
    pq.write_table(table, f)


def _finite_float32(name: str, arr: Any, *, ndim: int) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim != ndim or arr.dtype.kind not in "fiu":
        raise ParameterError(f"{name} must be a {ndim}-D float array, got {arr.dtype} {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.all(np.isfinite(arr)):
        raise ParameterError(f"{name} contain NaN or inf; refusing to save an unusable model")
    return arr


def _jsonable(what: str, obj: Any) -> Any:
    def default(o: Any) -> Any:
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, os.PathLike):
            return os.fspath(o)
        raise TypeError(f"{type(o).__name__} {o!r}")

    try:
        return json.loads(json.dumps(obj, default=default))
    except (TypeError, ValueError) as e:
        raise ParameterError(f"{what} must be JSON-serialisable: {e}") from None
