"""Starting TensorFlow for a command: quietly, and with one thread per op.

:func:`quiet_tensorflow` hides TensorFlow's C++ log lines unless ``--verbose`` or the
user's own ``TF_CPP_MIN_LOG_LEVEL``; :func:`start_tensorflow` imports it (quietly) and gives
each op one thread (:func:`item2vec.training.train.configure_threads`), only for the
commands that train.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

__all__ = ["quiet_tensorflow", "start_tensorflow"]


_TF_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|[IW]\d{4} [\d:.]+\s+\d+ \S+:\d+\]"  # absl INFO / WARNING lines: I0000 00:00:17.1 12 x.cc:1]
    r"|To enable the following instructions:)"
)

_hiding = False  # whether quiet_tensorflow set TF_CPP_MIN_LOG_LEVEL itself


def quiet_tensorflow(verbose: bool = False) -> bool:
    """Hide TensorFlow's C++ INFO and WARNING lines (``TF_CPP_MIN_LOG_LEVEL=2``) for this
    process and the workers it starts, unless ``verbose`` or the user set the variable.
    Returns whether the lines are hidden. Must run before TensorFlow is imported."""
    global _hiding
    if verbose:
        if _hiding:  # an earlier command of this process set it, not the user
            os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)
            _hiding = False
        return False
    if "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
        _hiding = True
    return _hiding


def start_tensorflow(verbose: bool = False, *, one_thread_per_op: bool = True) -> None:
    """Import TensorFlow and give each op one thread
    (:func:`item2vec.training.train.configure_threads`; not with ``one_thread_per_op=False``,
    which leaves TensorFlow's own choice).

    Some of TensorFlow's lines are written while its libraries load, before any log level
    applies ("All log messages before absl::InitializeLog() ...", oneDNN's notice): unless
    ``verbose`` or the user's own ``TF_CPP_MIN_LOG_LEVEL``, the import runs with the
    process's stderr captured, and whatever else it wrote there (a Python warning, an
    error) is passed on.
    """
    if not quiet_tensorflow(verbose) or "tensorflow" in sys.modules:
        from ..training.train import configure_threads
    else:
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                from ..training.train import configure_threads
            finally:  # even when the import fails: its message is passed on
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                captured.seek(0)
                for line in captured.read().decode(errors="replace").splitlines():
                    if line.strip() and not _TF_NOISE.match(line):
                        print(line, file=sys.stderr)
    if one_thread_per_op:
        configure_threads()
