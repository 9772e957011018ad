"""The training stage: the Keras model and the single-process trainer.

The shared item Embedding and target-only bias (:mod:`item2vec.training.model`), the
compiled step and its sparse updates (``step``, ``updates``), the epoch loop with progress,
validation and checkpoints (``train``, ``monitor``, ``checkpoint``, ``state``) and
incremental updates of a fitted model (``incremental``, ``update_state``).

May import: the data, sampling and queries stages (an update adds to the neighbour
counts) and the top-level helpers (``exceptions``, ``checks``, ``config``, ``io``).
Importing this package does not start TensorFlow; its modules do.
"""
