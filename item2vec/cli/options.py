"""The option groups of ``item2vec``'s own commands: :func:`add_output_options`
(``--quiet``, ``--verbose``, the same on every command). The hyperparameters' options are
:mod:`item2vec.flags` (shared with the distributed command line), the distributed ones
:func:`item2vec.distributed.cli.add_distributed_options`.
"""

from __future__ import annotations

import argparse

__all__ = ["add_output_options"]


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """``--quiet`` and ``--verbose``, the same on every command."""
    g = parser.add_argument_group("output")
    g.add_argument(
        "--quiet", action="store_true",
        help="no progress bars or status lines (they only show on a terminal anyway)",
    )  # fmt: skip
    g.add_argument(
        "--verbose", action="store_true",
        help="also show TensorFlow's own log lines, hidden by default (or set "
        "TF_CPP_MIN_LOG_LEVEL yourself)",
    )  # fmt: skip
