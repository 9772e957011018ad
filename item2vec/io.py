"""The model format: saving and loading item embeddings, without pickle.

A saved model is a directory::

    model_dir/
      meta.json           format name and version, library version, n_items, dim, created
                          (UTC), config, history, vocabulary info, sha256 + size of each file
      vectors.npy         float32 (n_items, dim)   written by np.save, read with allow_pickle=False
      biases.npy          float32 (n_items,)
      vocabulary.parquet  columns id (int64 or string) and count (int64), one row per item
      extra_<name>.npy    optional numeric arrays (e.g. a separate output table)
      descriptions.parquet  optional: columns id and description (string), one row per item
                          that has one, in vocabulary order (``train --desc-col``)

Saving is atomic: every file is written and fsynced in a temporary sibling directory, then
swapped into place with renames, so a reader sees either the old model or the new one. Loading
checks every file against its recorded size and sha256 and every array against its expected
dtype and shape, and reports problems as :class:`~item2vec.exceptions.ModelFormatError`.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .data.sessions import Vocabulary
from .exceptions import DataError, ModelFormatError, ModelSaveError, ParameterError
from .version import __version__

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "LoadedModel",
    "ModelSaveError",
    "check_output",
    "check_writable",
    "load_model",
    "save_model",
]

FORMAT_NAME = "item2vec"
FORMAT_VERSION = 1
META = "meta.json"
VECTORS, BIASES, VOCAB = "vectors.npy", "biases.npy", "vocabulary.parquet"
DESCRIPTIONS = "descriptions.parquet"
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_HEX_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class LoadedModel:
    """Everything :func:`load_model` reads from a model directory.

    ``vectors`` is float32 (n_items, dim), ``biases`` float32 (n_items,); ``meta`` is the
    whole parsed ``meta.json``; ``extra_arrays`` maps each extra name to its array;
    ``descriptions`` maps item id -> text (``None`` when the model was saved without).
    """

    vectors: np.ndarray
    biases: np.ndarray
    vocabulary: Vocabulary
    config: dict[str, Any]
    history: list[dict[str, Any]] | None
    meta: dict[str, Any]
    extra_arrays: dict[str, np.ndarray] = field(default_factory=dict)
    descriptions: dict[Any, str] | None = None


def _after_file_written(name: str) -> None:
    """Test hook called after each file of a save; tests monkeypatch it to inject failures."""


# --------------------------------------------------------------------------------------- save


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
        if not _NAME_RE.match(name) or arr.dtype.kind not in "biuf":
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
    _check_target(target)
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
                _flush(f)
            with open(tmp / name, "rb") as f:
                meta["files"][name] = {"sha256": _sha256(f), "size": os.fstat(f.fileno()).st_size}
            _after_file_written(name)
        with open(tmp / META, "w", encoding="utf-8") as f:  # written last: marks completeness
            json.dump(meta, f, indent=2)
            _flush(f)
        _after_file_written(META)
        _fsync_dir(tmp)
        _swap_into_place(tmp, target)
        tmp = None
    except OSError as e:
        raise _save_error(target, e) from e
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def check_writable(path: str | os.PathLike[str], needed_bytes: int = 0) -> None:
    """Fail early, before hours of training, if a model cannot be saved at ``path``.

    Raises :class:`ModelSaveError` when the parent directory is missing or not writable,
    ``path`` is a file or a non-model directory, or the file system has less than
    ``needed_bytes`` free.
    """
    target = Path(path).absolute()
    _check_target(target)
    free = shutil.disk_usage(target.parent).free
    if free < needed_bytes:
        raise ModelSaveError(
            f"cannot save model to {target}: {free:,} bytes free on the device, the model "
            f"needs about {needed_bytes:,}; free space or choose another path",
            errno.ENOSPC,
        )


def check_output(
    path: str | os.PathLike[str],
    *,
    directory: bool = False,
    overwrite: bool = False,
    name: str = "output",
) -> Path:
    """Fail before any work when an output file (or, with ``directory``, a folder of files)
    cannot be written at ``path``; returns it as a :class:`~pathlib.Path`.

    Raises :class:`ParameterError`, its message starting with ``name`` and the path, when
    the parent directory is missing or not writable, when a file is wanted and ``path`` is a
    directory (or a folder is wanted and ``path`` is a file), or when ``path`` exists (a
    non-empty folder, for ``directory``) and ``overwrite`` is false.
    """
    target = Path(path)
    where = f"{name} {os.fspath(path)}"
    parent = target.absolute().parent
    if not parent.is_dir():
        raise ParameterError(f"{where}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ParameterError(f"{where}: the directory {parent} is not writable")
    if directory:
        if target.exists() and not target.is_dir():
            raise ParameterError(f"{where}: a file is in the way; give a folder name")
        if target.is_dir() and any(target.iterdir()) and not overwrite:
            raise ParameterError(
                f"{where}: the folder exists and is not empty; pass overwrite=True to write "
                "into it (files of the same name are replaced)"
            )
    else:
        if target.is_dir():
            raise ParameterError(f"{where}: it is a directory; give a file name")
        if target.exists() and not overwrite:
            raise ParameterError(f"{where}: the file exists; pass overwrite=True to replace it")
    if target.exists() and not os.access(target, os.W_OK):
        raise ParameterError(f"{where}: not writable")
    return target


def _check_target(target: Path) -> None:
    parent = target.parent
    if not parent.is_dir():
        raise ModelSaveError(
            f"cannot save model to {target}: directory {parent} does not exist", errno.ENOENT
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ModelSaveError(
            f"cannot save model to {target}: directory {parent} is not writable", errno.EACCES
        )
    if target.exists() or target.is_symlink():
        if not target.is_dir():
            raise ModelSaveError(
                f"cannot save model to {target}: it exists and is not a directory", errno.EEXIST
            )
        if any(target.iterdir()) and not _is_model_dir(target):
            raise ModelSaveError(
                f"refusing to replace {target}: it is a non-empty directory that is not an "
                "item2vec model (no meta.json with format 'item2vec'); choose another path",
                errno.EEXIST,
            )


def _is_model_dir(path: Path) -> bool:
    try:
        return json.loads((path / META).read_text("utf-8")).get("format") == FORMAT_NAME
    except (OSError, ValueError, AttributeError):
        return False


def _swap_into_place(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` to ``target``; an existing ``target`` is renamed aside, then removed.

    Window: between the two renames ``target`` does not exist; a crash there leaves the
    previous model at ``.<name>.old-<token>`` (``load_model`` points to it).
    """
    if not (target.exists() or target.is_symlink()):
        os.rename(tmp, target)
        _fsync_dir(target.parent)
        return
    old = target.with_name(f".{target.name}.old-{secrets.token_hex(4)}")
    os.rename(target, old)
    try:
        os.rename(tmp, target)
    except OSError as e:
        try:
            os.rename(old, target)  # put the previous model back
        except OSError:
            msg = f"cannot save model to {target} ({e}); the previous model is now at {old}"
            raise ModelSaveError(msg + ": rename it back", e.errno) from e
        raise
    _fsync_dir(target.parent)
    if old.is_symlink() or not old.is_dir():
        old.unlink()
    else:
        shutil.rmtree(old, ignore_errors=True)


def _save_error(target: Path, e: OSError) -> ModelSaveError:
    if isinstance(e, ModelSaveError):
        return e
    code = e.errno
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        why = "no space left on the device (or quota exceeded); free space or choose another path"
    elif code in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = f"permission denied or read-only file system ({e.strerror})"
    else:
        why = str(e)
    return ModelSaveError(
        f"cannot save model to {target}: {why}; any previous model there is unchanged", code
    )


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


def _flush(f: Any) -> None:
    f.flush()
    os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    if os.name == "nt":  # directories cannot be opened for fsync on Windows
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(f: BinaryIO) -> str:
    h = hashlib.sha256()
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------------------- load


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
    if not _is_int(version) or version < 1:
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
        if (kind is int and not _is_int(value)) or not isinstance(value, kind):
            raise ModelFormatError(f"{path}: {key!r} has the wrong type ({value!r})")
    if meta["n_items"] < 0 or meta["dim"] < 1:
        raise ModelFormatError(f"{path}: invalid n_items={meta['n_items']} or dim={meta['dim']}")
    if meta["history"] is not None and not all(isinstance(h, dict) for h in meta["history"]):
        raise ModelFormatError(f"{path}: 'history' must be a list of objects")
    voc = meta["vocabulary"]
    if voc.get("id_type") not in ("int64", "str") or not all(
        _is_int(voc.get(k)) for k in ("dropped_items", "dropped_events")
    ):
        raise ModelFormatError(f"{path}: 'vocabulary' must give id_type, dropped_items/events")
    extras = meta["extra_arrays"]
    if not all(isinstance(k, str) and _NAME_RE.match(k) for k in extras):
        raise ModelFormatError(f"{path}: 'extra_arrays' must be a list of plain names")
    for name in [VECTORS, BIASES, VOCAB] + [f"extra_{k}.npy" for k in extras]:
        if name not in meta["files"]:
            raise ModelFormatError(f"{path}: 'files' has no checksum entry for {name}")
    for name, info in meta["files"].items():
        ok = isinstance(info, dict) and _is_int(info.get("size")) and info["size"] >= 0
        if not (_NAME_RE.match(name) and ok and _HEX_RE.match(str(info.get("sha256")))):
            raise ModelFormatError(f"{path}: bad 'files' entry {name!r}: {info!r}")
    return meta


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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
        if _sha256(f) != info["sha256"]:
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
