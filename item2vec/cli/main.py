"""Command line: ``item2vec data describe``, ``train``, ``similar``, ``recommend``, ``export``,
``evaluate``, ``tune``, ``demo``, ``serve`` (``python -m item2vec`` runs the same): the
parser, its help and examples, and :func:`main`; the commands themselves are in
:mod:`item2vec.cli.commands` (``serve`` in :mod:`item2vec.serving`).

How it behaves, for every command:

- exit codes: 0 done, 2 a user error (bad option, input or output path; the message says
  what and how to fix it, in the command's flags), 130 interrupted (Ctrl-C), 1 a bug (a
  traceback);
- outputs are checked before any work: an existing file or model is replaced only with
  ``--overwrite``, a missing directory or a directory where a file is wanted is refused;
- ``--help`` and ``--version`` import neither TensorFlow nor FAISS; the commands that train
  import TensorFlow with its C++ log lines hidden (``--verbose``, or the user's own
  ``TF_CPP_MIN_LOG_LEVEL``, shows them);
- long steps show progress on stderr (status lines, tqdm bars) when stderr is a terminal and
  ``--quiet`` is not given; warnings of the library become one-line ``item2vec: note:``s.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence

from .. import serving
from ..checks import EXPORT_FORMATS, PROTOCOLS, SCORES
from ..distributed.cli import add_distributed_options
from ..exceptions import Item2VecError
from ..flags import HelpFormatter, add_hyperparameters, cli_message
from ..training.startup import quiet_tensorflow
from ..version import __version__
from .commands import (
    N_TEST,
    cmd_data_describe,
    cmd_demo,
    cmd_export,
    cmd_recommend,
    cmd_similar,
    cmd_train,
)
from .console import STATUS, show_warning
from .features import add_cold_options, add_feature_options
from .log_options import add_log_options
from .measure import cmd_evaluate, cmd_tune
from .options import add_output_options

# ------------------------------------------------------------------------------ parser

EXAMPLES = {
    "describe": """examples:
  item2vec data describe online-retail --kind baskets
  item2vec data describe log.csv --session-col basket --item-col product
  item2vec data describe log.csv --sep ';' --user-col user --time-col ts --gap 30min \\
      --item-col item""",
    "train": """examples:
  item2vec train log.csv --session-col basket --item-col product --out model
  item2vec train log.parquet --user-col user --time-col ts --gap 30min --item-col item \\
      --desc-col title --dim 128 --epochs 20 --out model --overwrite
  item2vec train ... --out model --resume     # after Ctrl-C or a crash: the same command
  item2vec train today.csv ... --update model --out model2   # new sessions and items

Writes the model directory --out (an existing model is replaced only with --overwrite) and,
while it trains, checkpoints in --checkpoint-dir (removed when the model is saved).""",
    "similar": """examples:
  item2vec similar model 85123A 22423 -k 5
  item2vec similar model 85123A --json""",
    "recommend": """examples:
  item2vec recommend model 85123A 22423 -k 10          # after 85123A, then 22423
  item2vec recommend model 85123A --score log_prob --json""",
    "export": """examples:
  item2vec export model --out vectors.txt              # gensim: KeyedVectors.load_word2vec_format
  item2vec export model --format projector --out proj  # TensorBoard's Embedding Projector""",
    "evaluate": """examples:
  item2vec evaluate online-retail --seeds 0 1 2
  item2vec evaluate log.csv --session-col basket --item-col product --history 5
  item2vec evaluate online-retail --protocol full-ranking --seeds 0 1 2
  item2vec evaluate log.csv --session-col basket --item-col product --model model --json t.json

Holds out the last item of --n-test sessions, trains item2vec on the rest (or scores --model)
and compares it with popularity, transitions, co-occurrence, SKNN and gensim (when installed),
on the same splits.""",
    "tune": """examples:
  item2vec tune online-retail --budget 900 --json best.json
  item2vec tune log.csv --session-col basket --item-col product --space window=1,3,5 \\
      --space dim=32,64 --budget 300""",
    "demo": """examples:
  item2vec demo
  item2vec demo --quick --out /tmp/demo""",
    "serve": """examples:
  item2vec serve model/                      # http://127.0.0.1:8000, this machine only
  item2vec serve model/ --port 9000 --watch  # reload when model/ is trained again
  curl 'http://127.0.0.1:8000/similar?item=85123A&k=5'
  curl -X POST http://127.0.0.1:8000/recommend -d '{"history": ["85123A"], "k": 5}'""",
}


_COMMANDS: list[argparse.ArgumentParser] = []


def _subcommand(sub, name: str, helptext: str) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name, help=helptext, description=helptext[:1].upper() + helptext[1:] + ".",
        epilog=EXAMPLES.get(name), formatter_class=HelpFormatter,
    )  # fmt: skip
    _COMMANDS.append(p)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="item2vec",
        description="Item embeddings from interaction logs (skip-gram/CBOW, FAISS queries).",
        epilog="Exit codes: 0 done, 2 a usage or input error (the message says which), "
        "130 interrupted. 'item2vec COMMAND --help' shows a command's options and examples.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"item2vec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _COMMANDS.clear()

    data = sub.add_parser("data", help="inspect interaction logs", formatter_class=HelpFormatter)
    data_sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    data_sub.required = True
    describe = _subcommand(
        data_sub, "describe", "sessions, items, lengths, cleaning report of a log"
    )
    add_log_options(describe)
    describe.set_defaults(func=cmd_data_describe)

    train = _subcommand(sub, "train", "train a model on a log and save it")
    add_log_options(train)
    train.add_argument(
        "--desc-col", metavar="COL",
        help="column with item descriptions, saved with the model and shown by similar / "
        "recommend (automatic for online-retail)",
    )  # fmt: skip
    add_feature_options(train)
    add_hyperparameters(train)
    train.add_argument("--out", required=True, metavar="DIR", help="model directory to write")
    train.add_argument("--overwrite", action="store_true", help="replace a model at --out")
    train.add_argument(
        "--checkpoint-dir", metavar="DIR", help="checkpoints (default: OUT.checkpoint)"
    )
    train.add_argument(
        "--checkpoint-every",
        type=int,
        default=1000,
        metavar="STEPS",
        help="steps between checkpoints",
    )
    train.add_argument(
        "--resume", action="store_true",
        help="continue from the checkpoint of an interrupted run (an error if there is none)",
    )  # fmt: skip
    train.add_argument(
        "--update", metavar="MODEL",
        help="update the saved model MODEL with this log (new sessions and new items) instead "
        "of training from scratch; the model's settings are kept (--epochs, --learning-rate, "
        "--workers and --device apply to the update); --out must be another directory",
    )  # fmt: skip
    train.add_argument(
        "--freeze-existing", action="store_true",
        help="with --update: train only the new items' rows (old vectors stay bit-identical)",
    )  # fmt: skip
    train.add_argument(
        "--distributed",
        action="store_true",
        help="run as one worker of a MultiWorkerMirroredStrategy cluster described by "
        "TF_CONFIG (Parquet data, --session-col); see docs/scaling.md",
    )
    add_distributed_options(train)
    train.set_defaults(func=cmd_train)

    for name, helptext, func in (
        ("similar", "items most similar to each ITEM (cosine)", cmd_similar),
        ("recommend", "next-item candidates after the ITEMs (one history)", cmd_recommend),
    ):
        q = _subcommand(sub, name, helptext)
        q.add_argument("model", metavar="MODEL_DIR", help="a model directory (train --out)")
        q.add_argument(
            "items", metavar="ITEM", nargs="+",
            help="item ids" + (", oldest first" if name == "recommend" else ""),
        )  # fmt: skip
        q.add_argument("-k", type=int, default=10, help="results per query")
        q.add_argument("--json", action="store_true", help="machine-readable output on stdout")
        if name == "recommend":
            q.add_argument(
                "--score", choices=SCORES, default=None,
                help="blend: the items' neighbour counts smoothed by the model (the default "
                "when the model has them); log_prob: the model's next-item probabilities; "
                "both mixed over the ITEMs, the last weighing most. logit / cosine: dot + bias "
                "or cosine, summed over the ITEMs with the same weights",
            )  # fmt: skip
        q.set_defaults(func=func)

    export = _subcommand(sub, "export", "write vectors for gensim or TensorBoard")
    export.add_argument("model", metavar="MODEL_DIR", help="a model directory (train --out)")
    export.add_argument(
        "--format", choices=EXPORT_FORMATS, default="word2vec",
        help="word2vec text or binary (one file), or projector (a folder of TSV files)",
    )  # fmt: skip
    export.add_argument(
        "--out", required=True, metavar="PATH", help="file (word2vec) or folder (projector)"
    )
    export.add_argument(
        "--overwrite", action="store_true", help="replace an existing file (or write into a "
        "non-empty folder)",
    )  # fmt: skip
    export.set_defaults(func=cmd_export)

    evaluate = _subcommand(
        sub, "evaluate", "next-event HR/NDCG/MRR of item2vec vs baselines (and gensim)"
    )
    add_log_options(evaluate)
    add_hyperparameters(evaluate)
    g = evaluate.add_argument_group("evaluation")
    g.add_argument(
        "--model", metavar="DIR", help="score this saved model instead of training one per split"
    )
    g.add_argument(
        "--n-test", type=int, default=None,
        help=f"held-out test sessions (default: half of the sessions with 3 items or more, at "
        f"most {N_TEST})",
    )  # fmt: skip
    g.add_argument(
        "--seeds", metavar="SEED", type=int, nargs="+", default=[0], help="one split per seed"
    )
    g.add_argument(
        "-k", metavar="K", type=int, nargs="+", default=[10, 20], help="cut-offs of HR and NDCG"
    )
    g.add_argument("--no-gensim", action="store_true", help="leave out the gensim peer")
    g.add_argument(
        "--history", type=int, default=None, metavar="N",
        help="query with the last N items before each held-out one (their items never "
        "recommended) instead of the previous item only",
    )  # fmt: skip
    g.add_argument(
        "--protocol", choices=PROTOCOLS, default="next-event",
        help="next-event: the last item of --n-test sessions drawn per seed (previous item, "
        "or --history); full-ranking: train on every session but its last two items, rank "
        "every item for the last one given all before it (up to 40), those masked",
    )  # fmt: skip
    g.add_argument(
        "--score", choices=SCORES, default=None,
        help="how item2vec answers a query, as recommend --score: blend (neighbour counts "
        "smoothed by the model), log_prob (logit + log prior), logit (dot + bias) or cosine "
        "(as similar); default blend",
    )  # fmt: skip
    _add_ranking_alias(g)
    add_cold_options(g)
    g.add_argument("--json", metavar="FILE", help="also write the table as JSON here")
    g.add_argument("--csv", metavar="FILE", help="also write the table as CSV here")
    g.add_argument("--overwrite", action="store_true", help="replace existing --json / --csv")
    add_feature_options(evaluate)
    evaluate.set_defaults(func=cmd_evaluate)

    tune_p = _subcommand(sub, "tune", "hyperparameter search by successive halving")
    add_log_options(tune_p)
    g = tune_p.add_argument_group("search")
    g.add_argument("--budget", type=float, default=900.0, help="seconds of search")
    g.add_argument(
        "--space",
        action="append",
        metavar="NAME=V1,V2,...",
        help="replace one dimension of the default space, e.g. --space window=1,2,3",
    )
    g.add_argument(
        "--n-test", metavar="N", type=int, default=None, help="test cases (default: automatic)"
    )
    g.add_argument(
        "--n-valid", type=int, default=None, help="validation sessions (default: automatic)"
    )
    g.add_argument(
        "--n-confirm", type=int, default=None,
        help="held-back validation sessions of the guard: the winner must beat the defaults "
        "there (default: up to 2000)",
    )  # fmt: skip
    g.add_argument(
        "--valid-events", type=int, default=1,
        help="held-out events (validation cases) per validation session",
    )  # fmt: skip
    g.add_argument(
        "--history", type=int, default=None, metavar="N",
        help="search and test with the last N items before each held-out one as the query "
        "(see evaluate --history)",
    )  # fmt: skip
    g.add_argument(
        "--test-defaults", action="store_true",
        help="also refit the defaults and report their test scores beside the tuned ones",
    )  # fmt: skip
    g.add_argument("--min-epochs", type=int, default=2, help="epochs of the first round")
    g.add_argument("--max-epochs", type=int, default=50, help="epochs of the last round at most")
    g.add_argument("--metric", default="HR@10", help="HR@K, NDCG@K or MRR@K")
    g.add_argument("--seed", type=int, default=0, help="seed of the splits and the trials")
    g.add_argument(
        "--score", choices=SCORES, default=None,
        help="how trials answer validation queries (see evaluate --score); default blend",
    )  # fmt: skip
    _add_ranking_alias(g)
    g.add_argument(
        "--json", help="write the best and chosen settings, the guard, scores and trials here"
    )
    g.add_argument("--overwrite", action="store_true", help="replace an existing --json")
    tune_p.set_defaults(func=cmd_tune)

    demo = _subcommand(sub, "demo", "train on the bundled Online Retail data and show neighbours")
    demo.add_argument(
        "--out", default="item2vec-demo",
        help="report folder (created; files of an earlier demo in it are replaced)",
    )  # fmt: skip
    demo.add_argument("--epochs", type=int, default=None, help="override the demo's epochs")
    demo.add_argument("--quick", action="store_true", help="a few-second smoke run")
    demo.set_defaults(func=cmd_demo)

    serve = _subcommand(
        sub, "serve", "answer similar-item and next-item requests over HTTP, with hot reload"
    )
    serving.add_arguments(serve)
    serve.set_defaults(func=serving.run)
    for p in _COMMANDS:  # last, below each command's own groups
        add_output_options(p)
    return parser


def _add_ranking_alias(group: argparse._ArgumentGroup) -> None:
    """``--ranking``, the deprecated former name of ``--score`` (see
    :func:`~item2vec.cli.commands.chosen_score`)."""
    group.add_argument(
        "--ranking", choices=SCORES, default=None, help="deprecated: the former name of --score"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``item2vec ...``; returns the exit code (see the module docstring)."""
    # FAISS's idle OpenMP threads spin by default, which slows everything else on a small
    # machine; a user's own setting wins. Must happen before faiss is imported.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = build_parser().parse_args(argv)
    quiet_tensorflow(args.verbose)  # before anything imports TensorFlow
    STATUS.reset(args.quiet)
    with warnings.catch_warnings():
        warnings.showwarning = show_warning
        try:
            return int(args.func(args) or 0)
        except Item2VecError as e:
            STATUS.end_line()
            print(f"item2vec: error: {cli_message(str(e))}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            STATUS.end_line()
            print("item2vec: interrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:  # `item2vec ... | head`: the reader left; say nothing more
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 141  # as a process killed by SIGPIPE


def entry() -> None:
    """The ``item2vec`` program: :func:`main`, then exit without running the C++ teardown
    of FAISS / Arrow / TensorFlow threads, which can abort an exiting process ("terminate
    called without an active exception") after all work is done and every file is closed."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            pass
    os._exit(code)


if __name__ == "__main__":
    entry()
