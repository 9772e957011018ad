"""Exports of item vectors for other tools: the word2vec C format and TensorBoard's projector.

These files are for reading elsewhere (gensim ``KeyedVectors.load_word2vec_format``, the
Embedding Projector), not for reloading a model: :mod:`item2vec.io` holds the model format.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .exceptions import ParameterError
from .io import check_output

__all__ = ["export_projector", "export_word2vec"]


def export_word2vec(
    path: str | os.PathLike[str],
    vectors: np.ndarray,
    ids: Any,
    *,
    binary: bool = False,
    whitespace: str | None = "_",
    overwrite: bool = True,
) -> Path:
    """Write vectors in the word2vec C format (gensim ``load_word2vec_format`` reads it).

    Header ``"n_items dim"``; then per item the id and its ``dim`` floats, space-separated
    (text, ``%.9g``: float32 round-trips exactly) or as little-endian float32 after one
    space, followed by a newline (``binary=True``). The format cannot hold whitespace in an
    id: each whitespace character is replaced by ``whitespace`` (default ``"_"``), or, with
    ``whitespace=None``, such ids raise :class:`ParameterError`. Ids that collide after
    replacement, or empty ids, also raise. UTF-8 encoded. A directory at ``path``, a
    missing parent directory or (with ``overwrite=False``) an existing file raise
    :class:`ParameterError` before anything is written. Returns the file path.
    """
    target = check_output(path, overwrite=overwrite, name="word2vec file")
    vectors, keys = _export_inputs(vectors, ids)
    out = []
    for key in keys:
        if whitespace is None and re.search(r"\s", key):
            raise ParameterError(f"item id {key!r} contains whitespace; pass whitespace='_'")
        clean = key if whitespace is None else re.sub(r"\s", whitespace, key)
        if not clean:
            raise ParameterError("empty item ids cannot be written in the word2vec format")
        out.append(clean)
    if len(set(out)) != len(out):
        raise ParameterError(f"item ids collide after replacing whitespace with {whitespace!r}")
    n, dim = vectors.shape
    with open(target, "wb") as f:
        f.write(f"{n} {dim}\n".encode("ascii"))
        if binary:
            rows = vectors.astype("<f4")
            for key, row in zip(out, rows, strict=True):
                f.write(key.encode("utf-8") + b" " + row.tobytes() + b"\n")
        else:
            fmt = " ".join(["%.9g"] * dim)
            for key, row in zip(out, vectors.tolist(), strict=True):
                f.write(f"{key} {fmt % tuple(row)}\n".encode())
    return target


def export_projector(
    directory: str | os.PathLike[str],
    vectors: np.ndarray,
    ids: Any,
    *,
    descriptions: Mapping[Any, Any] | pd.Series | None = None,
    overwrite: bool = True,
) -> Path:
    """Write TensorBoard Embedding Projector files into ``directory`` (created if needed;
    a file in the way, a missing parent or, with ``overwrite=False``, a non-empty folder
    raise :class:`ParameterError` first).

    ``vectors.tsv``: one row of tab-separated floats per item, no header.
    ``metadata.tsv``: with ``descriptions`` (id -> text; a Series indexed by id, first
    value kept for repeated ids), a header ``id\\tdescription`` and one row per item (empty
    when an id has none); without, one id per line and no header (the projector's rule for
    a single column). Tabs and newlines inside fields become spaces.
    ``projector_config.pbtxt`` points to both files. Returns the directory.
    """
    out = check_output(directory, directory=True, overwrite=overwrite, name="projector folder")
    vectors, keys = _export_inputs(vectors, ids)
    out.mkdir(exist_ok=True)
    fmt = "\t".join(["%.9g"] * vectors.shape[1])
    with open(out / "vectors.tsv", "w", encoding="utf-8", newline="\n") as f:
        f.writelines(fmt % tuple(row) + "\n" for row in vectors.tolist())
    ids_arr = np.asarray(ids)
    lines = [_tsv(k) for k in keys]
    if descriptions is not None:
        lookup = _description_lookup(descriptions)
        texts = [
            _describe(lookup, raw, key) for raw, key in zip(ids_arr.tolist(), keys, strict=True)
        ]
        lines = ["id\tdescription"] + [f"{k}\t{_tsv(t)}" for k, t in zip(lines, texts, strict=True)]
    with open(out / "metadata.tsv", "w", encoding="utf-8", newline="\n") as f:
        f.writelines(line + "\n" for line in lines)
    config = (
        "embeddings {\n"
        '  tensor_name: "item2vec"\n'
        '  tensor_path: "vectors.tsv"\n'
        '  metadata_path: "metadata.tsv"\n'
        "}\n"
    )
    (out / "projector_config.pbtxt").write_text(config, encoding="utf-8")
    return out


def _export_inputs(vectors: Any, ids: Any) -> tuple[np.ndarray, list[str]]:
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or vectors.dtype.kind not in "fiu":
        raise ParameterError(
            f"vectors must be a 2-D float array, got {vectors.dtype} {vectors.shape}"
        )
    keys = [str(k) for k in np.asarray(ids).tolist()]
    if len(keys) != len(vectors):
        raise ParameterError(f"got {len(keys)} ids for {len(vectors)} vectors")
    return np.asarray(vectors, dtype=np.float32), keys


def _description_lookup(descriptions: Mapping[Any, Any] | pd.Series) -> Mapping[Any, Any]:
    if isinstance(descriptions, pd.Series):
        keep = ~descriptions.index.duplicated(keep="first")
        return dict(
            zip(descriptions.index[keep].tolist(), descriptions[keep].tolist(), strict=True)
        )
    return descriptions


def _describe(lookup: Mapping[Any, Any], raw: Any, key: str) -> str:
    value = lookup.get(raw, lookup.get(key))
    if value is None or (not isinstance(value, str) and bool(np.all(pd.isna(value)))):
        return ""
    return str(value)


def _tsv(text: str) -> str:
    return re.sub(r"[\t\r\n]", " ", text)
