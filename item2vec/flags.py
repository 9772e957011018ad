"""The hyperparameters' command-line face, shared by ``item2vec ...`` (:mod:`item2vec.cli`)
and ``python -m item2vec.distributed ...`` (:mod:`item2vec.distributed.cli`).

- the options: :func:`add_hyperparameters` (the "model" group, one flag per field of
  :data:`HYPERPARAMETERS`, defaults from :class:`~item2vec.config.Config`, choices from
  :mod:`item2vec.checks`) and :class:`HelpFormatter`, which shows every option's default;
- the messages: :func:`cli_message` rewrites the library's Python parameter names
  (``min_count must be ...``, ``gap='30min'``) into the flags a user typed (``--min-count``,
  ``--gap 30min``).

This module imports neither TensorFlow nor pandas: ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from .checks import DEVICES, DIRECTIONS, MODES, OPTIMIZERS
from .config import Config

__all__ = [
    "FLAGS",
    "HYPERPARAMETERS",
    "HelpFormatter",
    "add_hyperparameters",
    "cli_message",
    "hyperparameters",
    "parse_window",
]


#: The :class:`~item2vec.config.Config` fields :func:`add_hyperparameters` sets, in order.
HYPERPARAMETERS = ("dim", "window", "direction", "negatives", "ns_exponent", "sample",
                   "epochs", "mode", "batch_size", "negative_block", "learning_rate",
                   "optimizer", "workers", "device", "seed")  # fmt: skip


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's examples as written and appends ``(default: ...)`` to every option
    that has a default worth showing (not ``None``, not a flag's ``False``), unless its help
    already speaks of its default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            not action.option_strings
            or default is None
            or default is False
            or default == argparse.SUPPRESS
            or isinstance(action, argparse._HelpAction | argparse._VersionAction)
            or "%(default)" in text
            or "default" in text
        ):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, list | tuple) else default
        return f"{text} (default: {str(shown).replace('%', '%%')})"


def parse_window(value: str) -> int | str:
    """``--window``: an integer, or ``"session"``."""
    if value == "session":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer or 'session', got {value!r}"
        ) from None


def add_hyperparameters(parser: argparse.ArgumentParser) -> None:
    """The "model" option group: one option per name of :data:`HYPERPARAMETERS`."""
    d = Config()
    g = parser.add_argument_group("model")
    g.add_argument(
        "--dim", metavar="N", type=int, default=d.dim, help="embedding width (numbers per item)"
    )
    g.add_argument(
        "--window", type=parse_window, default=d.window, metavar="N|session",
        help="context items on each side of a target, or 'session' for every other item of "
        "its session (unordered baskets)",
    )  # fmt: skip
    g.add_argument(
        "--direction", choices=DIRECTIONS, default=d.direction,
        help="contexts of a target: the items on both sides of it (word2vec), or forward: "
        "only those before it, so that the model learns what comes next",
    )  # fmt: skip
    g.add_argument(
        "--negatives", metavar="N", type=int, default=d.negatives,
        help="negative samples per target (shared by its window); 0 disables",
    )  # fmt: skip
    g.add_argument(
        "--ns-exponent", metavar="X", type=float, default=d.ns_exponent,
        help="negatives are drawn from count ** this (word2vec: 0.75; lower favours rare items)",
    )  # fmt: skip
    g.add_argument(
        "--sample", metavar="X", type=float, default=d.sample,
        help="subsampling threshold of frequent items (word2vec's formula); 0 disables",
    )  # fmt: skip
    g.add_argument(
        "--epochs", metavar="N", type=int, default=d.epochs,
        help="passes over the log (default: from its size, about 4 M events of training, "
        "10-100 epochs)",
    )  # fmt: skip
    g.add_argument(
        "--mode", choices=MODES, default=d.mode,
        help="skipgram: each context item predicts the target; cbow: their mean does",
    )  # fmt: skip
    g.add_argument(
        "--batch-size", metavar="N", type=int, default=d.batch_size,
        help="targets (window units) per training step",
    )  # fmt: skip
    g.add_argument(
        "--negative-block", metavar="N", type=int, default=d.negative_block,
        help="targets trained together: consecutive targets of a session that share their "
        "context rows and draws of negatives (each context still meets --negatives of them); "
        "1 draws per unit, as word2vec (default: 8 for skipgram with an integer window, else 1)",
    )  # fmt: skip
    g.add_argument(
        "--learning-rate", metavar="X", type=float, default=d.learning_rate,
        help="first learning rate, decayed linearly to 1e-4 (word2vec)",
    )  # fmt: skip
    g.add_argument(
        "--optimizer", choices=OPTIMIZERS, default=d.optimizer,
        help="sgd (as word2vec) or row-wise sparse adagrad",
    )  # fmt: skip
    g.add_argument(
        "--workers", metavar="N", type=int, default=d.workers,
        help="training threads updating the shared tables (as gensim's workers)",
    )  # fmt: skip
    g.add_argument(
        "--device", choices=DEVICES, default=d.device,
        help="where the tables live and the training step runs: auto (the first GPU "
        "TensorFlow sees, else the CPU), cpu, or gpu (an error when TensorFlow sees none); "
        "sampling stays on the CPU",
    )  # fmt: skip
    g.add_argument(
        "--seed", metavar="N", type=int, default=d.seed,
        help="seed of initialisation and sampling (same seed, --workers 1: same vectors)",
    )  # fmt: skip


def hyperparameters(args: argparse.Namespace) -> dict[str, Any]:
    """The values of :func:`add_hyperparameters`' options, as :class:`Config` keyword
    arguments."""
    return {k: getattr(args, k) for k in HYPERPARAMETERS}


#: The library's parameter names and the command-line flags that set them.
FLAGS = {
    "session": "--session-col", "item": "--item-col", "time": "--time-col",
    "user": "--user-col", "gap": "--gap", "sep": "--sep", "min_count": "--min-count",
    "min_length": "--min-length", "collapse_repeats": "--collapse-repeats",
    "n_test": "--n-test", "n_valid": "--n-valid", "n_confirm": "--n-confirm",
    "valid_events": "--valid-events", "min_epochs": "--min-epochs", "max_epochs": "--max-epochs",
    "history": "--history", "ranking": "--ranking", "score": "--score", "seeds": "--seeds",
    "budget_seconds": "--budget", "metric": "--metric", "k": "-k", "kind": "--kind",
    "checkpoint_every": "--checkpoint-every", "checkpoint_dir": "--checkpoint-dir",
    "chunk_events": "--chunk-events", "batch_rows": "--batch-rows", "shard": "--shard",
    "aggregation": "--aggregation", "threads": "--threads",
    **{name: "--" + name.replace("_", "-") for name in HYPERPARAMETERS},
}  # fmt: skip

#: Whole phrases that read wrong once their names are flags.
_PHRASES = (
    ("epochs=None would use", "leaving --epochs out would use"),
    ("or None (automatic)", "(or leave --epochs out: automatic)"),
    ("eligible rows", "eligible items"),
    (" or pd.Timedelta(minutes=30)", ""),
    ("pass overwrite=True", "pass --overwrite"),
    ("Sessions.from_csv", "a .csv file"),
    ("Sessions.from_parquet", "a .parquet file"),
    ("read_csv_kwargs={'sep': ", "--sep "),
)

_NAMES = "|".join(sorted(map(re.escape, FLAGS), key=len, reverse=True))

_ASSIGN = re.compile(rf"(?<![\w.\-'\"/])({_NAMES})=(?!=)")  # gap='30min', n_test=2000

_SUBJECT = re.compile(rf"(?<![\w.\-'\"/])({_NAMES}) (must|needs|applies)\b")  # dim must be

_UNDERSCORED = re.compile(  # learning_rate anywhere: such names are never plain words
    rf"(?<![\w.\-'\"/])({'|'.join(re.escape(n) for n in FLAGS if '_' in n)})(?![\w'\"/])"
)


def cli_message(text: str) -> str:
    """A library message in the flags of the command line: ``min_count must be ...`` ->
    ``--min-count must be ...``, ``gap='30min' needs ... (time=...)`` -> ``--gap '30min'
    needs ... (--time-col ...)``, ``lower learning_rate or batch_size`` -> ``lower
    --learning-rate or --batch-size``. Words that are only words ("item 'x'", "the time
    column") are left alone: a short name changes only where it is assigned or is the
    subject of the sentence."""
    for old, new in _PHRASES:
        text = text.replace(old, new)
    text = _ASSIGN.sub(lambda m: FLAGS[m.group(1)] + " ", text)
    text = _SUBJECT.sub(lambda m: f"{FLAGS[m.group(1)]} {m.group(2)}", text)
    return _UNDERSCORED.sub(lambda m: FLAGS[m.group(1)], text)
