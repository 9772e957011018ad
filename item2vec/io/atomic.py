"""Writing safely: the checks that an output can be written, before the work, and the
atomic swap of a model directory into place.

:func:`check_writable` and :func:`check_output` fail early, before hours of training, when
a model or another output cannot be written; :func:`check_target`, :func:`swap_into_place`,
:func:`flush_file`, :func:`fsync_dir` and :func:`save_error` are the steps
:func:`~item2vec.io.save.save_model` writes a model directory with (a reader sees either the
old model or the new one).
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from ..exceptions import ModelSaveError, ParameterError
from .format import FORMAT_NAME, META

__all__ = [
    "check_output",
    "check_target",
    "check_writable",
    "flush_file",
    "fsync_dir",
    "is_model_dir",
    "save_error",
    "swap_into_place",
]


def check_writable(path: str | os.PathLike[str], needed_bytes: int = 0) -> None:
    """Fail early, before hours of training, if a model cannot be saved at ``path``.

    Raises :class:`ModelSaveError` when the parent directory is missing or not writable,
    ``path`` is a file or a non-model directory, or the file system has less than
    ``needed_bytes`` free.
    """
    target = Path(path).absolute()
    check_target(target)
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


def check_target(target: Path) -> None:
    """Raise :class:`ModelSaveError` unless a model directory can be written at ``target``
    (a writable parent; nothing there, an empty directory or an item2vec model)."""
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
        if any(target.iterdir()) and not is_model_dir(target):
            raise ModelSaveError(
                f"refusing to replace {target}: it is a non-empty directory that is not an "
                "item2vec model (no meta.json with format 'item2vec'); choose another path",
                errno.EEXIST,
            )


def is_model_dir(path: Path) -> bool:
    """True when ``path`` holds a ``meta.json`` of the item2vec format."""
    try:
        return json.loads((path / META).read_text("utf-8")).get("format") == FORMAT_NAME
    except (OSError, ValueError, AttributeError):
        return False


def swap_into_place(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` to ``target``; an existing ``target`` is renamed aside, then removed.

    Window: between the two renames ``target`` does not exist; a crash there leaves the
    previous model at ``.<name>.old-<token>`` (``load_model`` points to it).
    """
    if not (target.exists() or target.is_symlink()):
        os.rename(tmp, target)
        fsync_dir(target.parent)
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
    fsync_dir(target.parent)
    if old.is_symlink() or not old.is_dir():
        old.unlink()
    else:
        shutil.rmtree(old, ignore_errors=True)


def save_error(target: Path, e: OSError) -> ModelSaveError:
    """``e`` as a :class:`ModelSaveError` naming ``target`` and the likely cause."""
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


def flush_file(f: Any) -> None:
    """Flush an open file to the disk (``fsync``)."""
    f.flush()
    os.fsync(f.fileno())


def fsync_dir(path: Path) -> None:
    """Make a directory's entries durable (nothing on Windows)."""
    if os.name == "nt":  # directories cannot be opened for fsync on Windows
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
