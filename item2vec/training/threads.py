"""TensorFlow's threads per op for training: one, so that the trainer's workers are the
parallelism.

Like gensim's worker threads, the trainer's ``workers`` Python threads run the step
concurrently on shared tables (Hogwild!); by default TensorFlow also splits every op over
all cores, which oversubscribes them: with two workers on two cores training measured about
20% slower on Online Retail (README, "Training threads"). :func:`configure_threads` gives
each op one thread; :meth:`item2vec.Item2Vec.fit` and ``update`` apply it themselves
(:func:`threads_for_training`), before their first TensorFlow op, so a user never has to.
The setting is the process's: it can only be made before TensorFlow runs its first op, and
the user's own choice wins (``TF_NUM_INTRAOP_THREADS``, or
``tf.config.threading.set_intra_op_parallelism_threads`` with another value).
"""

from __future__ import annotations

import os
import warnings

import tensorflow as tf

__all__ = ["INTRA_OP_VARIABLE", "configure_threads", "threads_for_training"]

#: The environment variable by which a user sets TensorFlow's threads per op themselves.
INTRA_OP_VARIABLE = "TF_NUM_INTRAOP_THREADS"

_warned = False  # threads_for_training warns once per process


def configure_threads() -> bool:
    """Give each TensorFlow op one thread, so the trainer's ``workers`` are the parallelism.

    Returns False (and changes nothing) when it is too late (TensorFlow has already run an
    op) or when ``TF_NUM_INTRAOP_THREADS`` is set (the user's choice wins); True when each op
    now has one thread (also when an earlier call set it). On a GPU it concerns only the ops
    left on the CPU: the step's kernels run on the GPU either way, and
    :func:`~item2vec.training.train.resolve_device` (which only lists the devices) may run
    before it. ``fit`` calls it (:func:`threads_for_training`); the CLI and the test suite
    call it at start.
    """
    if INTRA_OP_VARIABLE in os.environ:
        return False
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
    except RuntimeError:  # TensorFlow has already started with another setting
        return False
    return True


def threads_for_training(workers: int) -> bool:
    """What a fit or an update calls before its first TensorFlow op: :func:`configure_threads`
    unless the user chose the threads per op (``TF_NUM_INTRAOP_THREADS``, or a value other
    than 1 set through ``tf.config.threading``), which are left alone. When TensorFlow
    already runs with its default (every op on all cores) it is too late to change: a
    :class:`UserWarning` (once per process) says why and what to do. Returns whether each
    op has one thread."""
    global _warned
    if INTRA_OP_VARIABLE in os.environ:
        return False
    if tf.config.threading.get_intra_op_parallelism_threads() not in (0, 1):
        return False  # set by the user through tf.config.threading
    if configure_threads():
        return True
    if not _warned:
        _warned = True
        warnings.warn(
            "TensorFlow had already run ops with its default threads (every op on all cores) "
            "when training started, and that cannot be changed in a running process: the "
            f"trainer's {workers} worker thread(s) and TensorFlow's threads share the cores "
            "(about 20% slower on 2 cores). Set TF_NUM_INTRAOP_THREADS=1 before starting "
            "Python, or call item2vec.training.threads.configure_threads() before using "
            "TensorFlow",
            UserWarning,
            stacklevel=3,
        )
    return False
