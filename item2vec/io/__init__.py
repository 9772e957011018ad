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

Modules: :mod:`~item2vec.io.format` (the file names, the version, :class:`LoadedModel`),
:mod:`~item2vec.io.save` (:func:`save_model`), :mod:`~item2vec.io.load`
(:func:`load_model`) and :mod:`~item2vec.io.atomic` (the checks that an output can be
written, :func:`check_writable` and :func:`check_output`, and the atomic swap). Their public
names are here.
"""

from ..exceptions import ModelSaveError
from .atomic import check_output, check_writable
from .format import FORMAT_NAME, FORMAT_VERSION, LoadedModel
from .load import load_model
from .save import save_model

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
