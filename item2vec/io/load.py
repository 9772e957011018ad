"""Loading a model: :func:`load_model` reads and verifies a model directory. Never unpickles.

Every file is checked against its recorded size and sha256 and every array against its
expected dtype and shape; problems are reported as
:class:`~item2vec.exceptions.ModelFormatError` naming the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..data.sessions import Vocabulary
from ..exceptions import DataError, ModelFormatError
from .format import (
    BIASES,
    DESCRIPTIONS,
    FORMAT_NAME,
    FORMAT_VERSION,
    HEX_RE,
    META,
    NAME_RE,
    VECTORS,
    VOCAB,
    LoadedModel,
    is_int,
    sha256_file,
)

__all__ = ["load_model"]


def load_model(path: str | os.PathLike[str]) -> LoadedModel:
    """Read and verify a model directory written by :func:`save_model`. Never unpickles.

    Raises :class:`ModelFormatError` naming the file and the problem for a missing path, a
    directory without ``meta.json``, malformed or newer-format metadata, a file whose size
    or sha256 differs from ``meta.json``, arrays of the wrong dtype or shape, inconsistent
    row counts, non-finite vectors or an object (pickled) array. Each file is checksummed
    and parsed through one open handle, so a concurrent save can fail a load but never
    mix two models.
    """
    root = Path(path)
    _check_dir(root)
    meta = _read_meta(root / META)
    n, dim, files = meta["n_items"], meta["dim"], meta["files"]
    with _open_verified(root / VECTORS, files[VECTORS]) as f:
        vectors = _load_array(f, ndim=2, float32=True)
    if vectors.shape != (n, dim):
        raise ModelFormatError(
            f"{root / VECTORS}: shape {vectors.shape} but meta.json says n_items={n}, dim={dim}"
        )
    if not np.all(np.isfinite(vectors)):
        raise ModelFormatError(f"{root / VECTORS}: contains NaN or inf values")
    with _open_verified(root / BIASES, files[BIASES]) as f:
        biases = _load_array(f, ndim=1, float32=True)
    if len(biases) != n:
        raise ModelFormatError(f"{root / BIASES}: {len(biases)} biases for {n} item vectors")
    with _open_verified(root / VOCAB, files[VOCAB]) as f:
        vocabulary = _read_vocabulary(f, meta["vocabulary"])
    if len(vocabulary) != n:
        raise ModelFormatError(
            f"{root / VOCAB}: {len(vocabulary)} items but {VECTORS} has {n} rows"
        )
    extras = {}
    for k in meta["extra_arrays"]:
        with _open_verified(root / f"extra_{k}.npy", files[f"extra_{k}.npy"]) as f:
            extras[k] = _load_array(f, ndim=None, float32=False)
    descriptions = None
    if DESCRIPTIONS in files:
        with _open_verified(root / DESCRIPTIONS, files[DESCRIPTIONS]) as f:
            descriptions = _read_descriptions(f, vocabulary)
    return LoadedModel(
        vectors, biases, vocabulary, meta["config"], meta["history"], meta, extras, descriptions
    )


def _check_dir(root: Path) -> None:
    if root.is_dir():
        if not (root / META).is_file():
            raise ModelFormatError(
                f"{root} is not an item2vec model directory: {META} is missing "
                "(not a model, or a save that never completed)"
            )
        return
    if root.exists():
        raise ModelFormatError(f"{root} is not a directory; a model is a directory of files")
    msg = f"model directory {root} does not exist"
    leftovers = sorted(root.absolute().parent.glob(f".{root.name}.old-*"))
    if leftovers:
        msg += f"; an interrupted save left the previous model at {leftovers[-1]}: rename it back"
    raise ModelFormatError(msg)


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise ModelFormatError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise ModelFormatError(f"{path}: expected a JSON object, got {type(meta).__name__}")
    if meta.get("format") != FORMAT_NAME:
        raise ModelFormatError(
            f"{path}: format is {meta.get('format')!r}, expected {FORMAT_NAME!r}; "
            "not an item2vec model"
        )
    version = meta.get("format_version")
    if not is_int(version) or version < 1:
        raise ModelFormatError(
            f"{path}: format_version must be a positive integer, got {version!r}"
        )
    if version > FORMAT_VERSION:
        raise ModelFormatError(
            f"{path}: written by a newer item2vec {meta.get('library_version', '')} "
            f"(format {version}); this version reads up to {FORMAT_VERSION}: upgrade item2vec"
        )
    spec: dict[str, Any] = {
        "library_version": str, "created": str, "n_items": int, "dim": int, "config": dict,
        "history": (list, type(None)), "vocabulary": dict, "extra_arrays": list, "files": dict,
    }  # fmt: skip
    for key, kind in spec.items():
        if key not in meta:
            raise ModelFormatError(f"{path}: missing key {key!r}")
        value = meta[key]
        if (kind is int and not is_int(value)) or not isinstance(value, kind):
            raise ModelFormatError(f"{path}: {key!r} has the wrong type ({value!r})")
    if meta["n_items"] < 0 or meta["dim"] < 1:
        raise ModelFormatError(f"{path}: invalid n_items={meta['n_items']} or dim={meta['dim']}")
    if meta["history"] is not None and not all(isinstance(h, dict) for h in meta["history"]):
        raise ModelFormatError(f"{path}: 'history' must be a list of objects")
    voc = meta["vocabulary"]
    if voc.get("id_type") not in ("int64", "str") or not all(
        is_int(voc.get(k)) for k in ("dropped_items", "dropped_events")
    ):
        raise ModelFormatError(f"{path}: 'vocabulary' must give id_type, dropped_items/events")
    extras = meta["extra_arrays"]
    if not all(isinstance(k, str) and NAME_RE.match(k) for k in extras):
        raise ModelFormatError(f"{path}: 'extra_arrays' must be a list of plain names")
    for name in [VECTORS, BIASES, VOCAB] + [f"extra_{k}.npy" for k in extras]:
        if name not in meta["files"]:
            raise ModelFormatError(f"{path}: 'files' has no checksum entry for {name}")
    for name, info in meta["files"].items():
        ok = isinstance(info, dict) and is_int(info.get("size")) and info["size"] >= 0
        if not (NAME_RE.match(name) and ok and HEX_RE.match(str(info.get("sha256")))):
            raise ModelFormatError(f"{path}: bad 'files' entry {name!r}: {info!r}")
    return meta


def _open_verified(path: Path, info: dict[str, Any]) -> BinaryIO:
    """Open ``path``, check its size and sha256 against ``info``, return it rewound."""
    try:
        f = open(path, "rb")  # closed by the caller's ``with``
    except FileNotFoundError:
        raise ModelFormatError(f"{path}: file is missing") from None
    except OSError as e:
        raise ModelFormatError(f"{path}: cannot be opened ({e})") from None
    try:
        size = os.fstat(f.fileno()).st_size
        if size != info["size"]:
            raise ModelFormatError(
                f"{path}: size is {size} bytes but meta.json records {info['size']} "
                "(truncated or modified)"
            )
        if sha256_file(f) != info["sha256"]:
            raise ModelFormatError(f"{path}: sha256 checksum mismatch (file corrupted or modified)")
        f.seek(0)
        return f
    except BaseException:
        f.close()
        raise


def _load_array(f: BinaryIO, *, ndim: int | None, float32: bool) -> np.ndarray:
    path = f.name
    if f.read(6) != b"\x93NUMPY":  # np.load would treat any other bytes as a pickle
        raise ModelFormatError(f"{path}: not a .npy file (bad magic bytes)")
    f.seek(0)
    try:
        arr = np.load(f, allow_pickle=False)
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise ModelFormatError(
                f"{path}: holds a pickled object array; refused (models never unpickle)"
            ) from None
        raise ModelFormatError(f"{path}: not a valid .npy array ({e})") from None
    except (OSError, EOFError) as e:
        raise ModelFormatError(f"{path}: cannot be read as a .npy array ({e})") from None
    if float32 and arr.dtype.newbyteorder("=") != np.dtype(np.float32):
        raise ModelFormatError(f"{path}: dtype is {arr.dtype}, expected float32")
    if not float32 and arr.dtype.kind not in "biuf":
        raise ModelFormatError(f"{path}: dtype {arr.dtype} is not numeric")
    if ndim is not None and arr.ndim != ndim:
        raise ModelFormatError(f"{path}: expected a {ndim}-D array, got shape {arr.shape}")
    return arr.astype(arr.dtype.newbyteorder("="), copy=False)


def _read_table(f: BinaryIO, columns: list[str]) -> Any:
    """A model file's Parquet table, which must have exactly ``columns``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(f)
    except (pa.ArrowException, OSError, ValueError) as e:
        raise ModelFormatError(f"{f.name}: not a readable Parquet file ({e})") from None
    if table.column_names != columns:
        raise ModelFormatError(
            f"{f.name}: columns are {table.column_names}, expected {', '.join(columns)}"
        )
    return table


def _read_vocabulary(f: BinaryIO, info: dict[str, Any]) -> Vocabulary:
    import pyarrow as pa

    path = f.name
    table = _read_table(f, ["id", "count"])
    ids, counts = table.column("id"), table.column("count")
    want_str = info["id_type"] == "str"
    is_str = pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type)
    if is_str != want_str or not (is_str or pa.types.is_int64(ids.type)):
        raise ModelFormatError(
            f"{path}: 'id' column is {ids.type}, meta.json says {info['id_type']}"
        )
    if not pa.types.is_int64(counts.type):
        raise ModelFormatError(f"{path}: 'count' column is {counts.type}, expected int64")
    if ids.null_count or counts.null_count:
        raise ModelFormatError(f"{path}: missing values in the id or count column")
    id_arr = (
        np.array(ids.to_pylist(), dtype=object) if want_str else ids.to_numpy().astype(np.int64)
    )
    count_arr = counts.to_numpy().astype(np.int64)
    if np.any(count_arr < 0):
        raise ModelFormatError(f"{path}: negative item counts")
    try:
        return Vocabulary(
            id_arr, count_arr, int(info["dropped_items"]), int(info["dropped_events"])
        )
    except DataError as e:
        raise ModelFormatError(f"{path}: {e}") from None


def _read_descriptions(f: BinaryIO, vocabulary: Vocabulary) -> dict[Any, str]:
    import pyarrow as pa

    path = f.name
    table = _read_table(f, ["id", "description"])
    ids, texts = table.column("id"), table.column("description")

    def text(typ: Any) -> bool:
        return pa.types.is_string(typ) or pa.types.is_large_string(typ)

    id_ok = pa.types.is_int64(ids.type) if vocabulary.is_numeric else text(ids.type)
    if not id_ok or not text(texts.type) or ids.null_count or texts.null_count:
        raise ModelFormatError(f"{path}: expected an id column as the vocabulary's and text")
    out = dict(zip(ids.to_pylist(), texts.to_pylist(), strict=True))
    if len(out) != len(ids):
        raise ModelFormatError(f"{path}: an item has more than one description")
    try:
        vocabulary.encode(list(out))
    except (KeyError, ValueError) as e:
        raise ModelFormatError(f"{path}: describes an item not in the model ({e})") from None
    return out
