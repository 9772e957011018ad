"""Command line: ``item2vec data describe``, ``train``, ``similar``, ``recommend``, ``export``,
``evaluate``, ``tune``, ``demo`` (``python -m item2vec`` runs the same).

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
from pathlib import Path

from .checks import EXPORT_FORMATS, SCORES
from .console import STATUS, note, plain, print_results, show_warning
from .exceptions import Item2VecError, ParameterError
from .log_options import (
    BUNDLED,
    add_log_options,
    load_sessions,
    read_descriptions,
)
from .options import (
    HelpFormatter,
    add_distributed_options,
    add_hyperparameters,
    add_output_options,
    cli_message,
    hyperparameters,
    quiet_tensorflow,
    start_tensorflow,
)
from .version import __version__

#: Test sessions of ``evaluate`` when ``--n-test`` is not given: half of the eligible
#: sessions, at most this many.
N_TEST = 2000


def check_out(path: str | os.PathLike, overwrite: bool, flag: str, directory: bool = False):
    """:func:`item2vec.io.check_output` for the option ``flag``."""
    from .io import check_output

    return check_output(path, directory=directory, overwrite=overwrite, name=flag)


# ---------------------------------------------------------------------------- commands


def cmd_data_describe(args: argparse.Namespace) -> int:
    sessions, _, report = load_sessions(args, STATUS)
    if report:
        print("source cleaning report")
        width = max(len(k) for k in report)
        for k, v in report.items():
            print(f"  {k:<{width}}  {v:,}")
    print(sessions.describe())
    return 0


def _check_model_out(out: str, overwrite: bool) -> None:
    """``train --out``: refused when a model is there, unless ``--overwrite``."""
    import json

    from .io import check_writable

    check_writable(out)
    meta = Path(out) / "meta.json"
    if overwrite or not meta.is_file():
        return
    try:
        m = json.loads(meta.read_text("utf-8"))
        what = f" ({m['n_items']:,} items x {m['dim']} dims, saved {m['created']})"
    except (OSError, ValueError, KeyError, TypeError):
        what = ""
    raise ParameterError(
        f"--out {out}: a model is already there{what}; pass --overwrite to replace it, or "
        "choose another --out"
    )


def _checkpoint(args: argparse.Namespace, what: str) -> tuple[str, bool]:
    """``train``'s checkpoint directory and whether one is there; ``--resume`` without one
    is an error (``what``: "train" or "update", for the message)."""
    ckpt = args.checkpoint_dir or f"{os.fspath(args.out).rstrip(os.sep)}.checkpoint"
    has_checkpoint = (Path(ckpt) / "meta.json").is_file()
    if args.resume and not has_checkpoint:
        how = "" if args.checkpoint_dir else " (give --checkpoint-dir if it is elsewhere)"
        raise ParameterError(
            f"--resume: no checkpoint at {ckpt} to resume from{how}; run without --resume "
            f"to {what} from the start"
        )
    return ckpt, has_checkpoint


def _training_log(args: argparse.Namespace, ckpt: str, has_checkpoint: bool, what: str):
    """The sessions and descriptions (or None) of ``train``'s log, described on stderr, with
    a note when an unfinished run's checkpoint is about to be replaced."""
    sessions, descriptions, _ = load_sessions(args, STATUS)
    if args.desc_col and args.data != BUNDLED:
        with STATUS.step(f"reading the descriptions in --desc-col {args.desc_col}"):
            descriptions = read_descriptions(args)
    if not args.quiet:
        print(sessions.describe(), file=sys.stderr)
    if has_checkpoint and not args.resume:
        note(
            f"{what} from the start: the checkpoint at {ckpt}, left by an unfinished run, "
            "will be replaced (add --resume to continue that run instead)"
        )
    return sessions, descriptions


def cmd_train(args: argparse.Namespace) -> int:
    import shutil

    from .config import Config

    if args.update:
        return _update(args)
    if args.freeze_existing:
        raise ParameterError(
            "--freeze-existing applies to --update MODEL (an update of a saved model)"
        )
    if args.distributed:  # one worker of a tf.distribute cluster (TF_CONFIG)
        from .distributed_cli import run_worker

        _check_model_out(args.out, args.overwrite)
        start_tensorflow(args.verbose)
        return run_worker(args)
    params = hyperparameters(args)
    config = Config(**params).validate()  # bad settings fail before the data is read
    _check_model_out(args.out, args.overwrite)
    ckpt, has_checkpoint = _checkpoint(args, "train")
    sessions, descriptions = _training_log(args, ckpt, has_checkpoint, "training")
    from .estimator import Item2Vec, model_bytes
    from .io import check_writable

    check_writable(args.out, model_bytes(len(sessions.vocabulary), config))
    with STATUS.step("starting TensorFlow"):
        start_tensorflow(args.verbose)
    model = Item2Vec(
        **params, checkpoint_dir=ckpt, checkpoint_every=args.checkpoint_every,
        progress=not args.quiet, descriptions=descriptions,
    )  # fmt: skip
    try:
        model.fit(sessions, resume=args.resume)
    except KeyboardInterrupt:
        print("item2vec: resume with the same command and --resume", file=sys.stderr)
        return 130
    model.save(args.out)
    shutil.rmtree(ckpt, ignore_errors=True)
    last = model.history_[-1]
    described = ", with descriptions" if descriptions is not None and len(descriptions) else ""
    print(
        f"saved {args.out}: {len(model.vocabulary_):,} items x {model.dim} dims{described}; "
        f"{model.epochs_} epochs, last loss {last['loss']:.4f}, "
        f"{last['couples_per_second']:,.0f} couples/s"
    )
    return 0


#: Settings an update may change; the others are the model's (see :func:`_update`).
UPDATE_SETTINGS = ("epochs", "learning_rate", "workers")


def _update(args: argparse.Namespace) -> int:
    """``train LOG --update MODEL --out MODEL2``: ``Item2Vec.load(MODEL).update(LOG)`` saved
    to MODEL2; MODEL stays as it was."""
    import shutil

    from .config import Config
    from .estimator import Item2Vec, model_bytes
    from .io import check_writable

    if args.distributed:
        raise ParameterError("--update runs in one process; drop --distributed")
    if Path(args.out).resolve() == Path(args.update).resolve():
        raise ParameterError(
            f"--out {args.out}: that is the model given to --update; write the updated model "
            "to another directory (the one you start from stays as it was)"
        )
    _check_model_out(args.out, args.overwrite)
    ckpt, has_checkpoint = _checkpoint(args, "update")
    with STATUS.step(f"loading {args.update}"):
        model = Item2Vec.load(args.update)
    defaults = Config().to_dict()
    for key, value in hyperparameters(args).items():  # a changed model setting is a mistake
        if key in UPDATE_SETTINGS or value in (defaults[key], getattr(model, key)):
            continue
        flag = "--" + key.replace("_", "-")
        raise ParameterError(
            f"{flag} {value}: the model in --update was trained with {flag} "
            f"{getattr(model, key)}, and an update keeps the model's settings; drop {flag} (or "
            "train from scratch without --update)"
        )
    sessions, descriptions = _training_log(args, ckpt, has_checkpoint, "updating")
    if descriptions is not None:  # the model's descriptions, completed by the log's
        model.descriptions = {**dict(model.descriptions or {}), **dict(descriptions)}
    check_writable(args.out, model_bytes(len(model.vocabulary_) + len(sessions.vocabulary),
                                         model.config()))  # fmt: skip
    with STATUS.step("starting TensorFlow"):
        start_tensorflow(args.verbose)
    model.set_params(checkpoint_dir=ckpt, checkpoint_every=args.checkpoint_every,
                     progress=not args.quiet, workers=args.workers)  # fmt: skip
    before = len(model.vocabulary_)
    rate = None if args.learning_rate == defaults["learning_rate"] else args.learning_rate
    try:
        model.update(sessions, epochs=args.epochs, freeze_existing=args.freeze_existing,
                     learning_rate=rate, resume=args.resume)  # fmt: skip
    except KeyboardInterrupt:
        print("item2vec: resume with the same command and --resume", file=sys.stderr)
        return 130
    model.save(args.out)
    shutil.rmtree(ckpt, ignore_errors=True)
    print(
        f"saved {args.out}: {len(model.vocabulary_):,} items "
        f"({len(model.vocabulary_) - before:,} new) x {model.dim} dims, updated from "
        f"{args.update} with {sessions.n_events:,} events"
    )
    return 0


def _load_model(args: argparse.Namespace):
    """The model of a query command, and the model's id of each ITEM (None if unknown)."""
    from .estimator import Item2Vec

    with STATUS.step(f"loading {args.model}"):
        model = Item2Vec.load(args.model)
    vocab = model.vocabulary_
    rows = vocab.encode(args.items, missing="ignore")
    return model, [plain(vocab.ids[r]) if r >= 0 else None for r in rows]


def _build_index(model, score: str) -> None:
    """Build the FAISS index a query needs now, with a status line when it takes a while."""
    n = len(model.vocabulary_)
    if model.index == "exact" or (model.index == "auto" and n < 100_000):
        return
    with STATUS.step(f"building the {model.index} index of {n:,} items"):
        _ = model.similar_index_ if score == "cosine" else model.recommend_index_


def cmd_similar(args: argparse.Namespace) -> int:
    model, query_ids = _load_model(args)
    _build_index(model, "cosine")
    ids, scores = model.similar(args.items, args.k)
    print_results("similar to", args.items, ids, scores, args.json, model.descriptions, query_ids)
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    model, _ = _load_model(args)
    if args.score in ("cosine", "logit"):
        _build_index(model, args.score)
    ids, scores = model.recommend(args.items, args.k, score=args.score)
    query = " + ".join(args.items)
    print_results("after", [query], [ids], [scores], args.json, model.descriptions)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .estimator import Item2Vec
    from .export import export_projector, export_word2vec

    check_out(args.out, args.overwrite, "--out", directory=args.format == "projector")
    with STATUS.step(f"loading {args.model}"):
        model = Item2Vec.load(args.model)
    if args.format == "projector":
        out = export_projector(
            args.out, model.item_vectors_, model.vocabulary_.ids,
            descriptions=model.descriptions, overwrite=True,
        )  # fmt: skip
    else:
        binary = args.format == "word2vec-binary"
        out = export_word2vec(
            args.out, model.item_vectors_, model.vocabulary_.ids, binary=binary, overwrite=True
        )
    print(f"wrote {out}")
    return 0


def _gensim_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("gensim") is not None


def default_n_test(sessions, min_length: int = 3) -> tuple[int, int]:
    """``evaluate``'s test sessions when ``--n-test`` is not given, and the sessions it was
    drawn from: half of those with ``min_length`` items or more, at most :data:`N_TEST`."""
    eligible = int((sessions.lengths >= min_length).sum())
    return (min(N_TEST, eligible // 2) if eligible >= 2 else eligible), eligible


def _with_progress(methods: dict, bar) -> dict:
    """Each method's recommender ticks ``bar`` when it has answered its test queries."""
    import inspect

    out = {}
    for name, make in methods.items():
        seeded = "seed" in inspect.signature(make).parameters

        def run(train, seed=0, _make=make, _seeded=seeded, _name=name):
            bar.set_description(f"{_name}, seed {seed}")
            rec = _make(train, seed) if _seeded else _make(train)

            def answer(queries, k):
                ranked = rec(queries, k)
                bar.update()
                return ranked

            return answer

        out[name] = run
    return out


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Next-event protocol: item2vec (trained per split, or a saved model), baselines, gensim."""
    from .config import Config

    for flag in ("json", "csv"):
        if getattr(args, flag):
            check_out(getattr(args, flag), args.overwrite, f"--{flag}")
    params = hyperparameters(args)
    Config(**params).validate()
    sessions, _, _ = load_sessions(args, STATUS)
    n_test = args.n_test
    if n_test is None:
        n_test, eligible = default_n_test(sessions)
        print(
            f"test set: the last item of {n_test:,} sessions, half of the {eligible:,} with "
            f"3 items or more (at most {N_TEST:,}; --n-test sets it)"
        )
    from . import evaluate as ev
    from .estimator import Item2Vec

    methods: dict = {}
    if args.model:
        with STATUS.step(f"loading {args.model}"):
            saved = Item2Vec.load(args.model)
        note(
            "a saved model is scored as is; it must not have been trained on the held-out "
            "last items, or the figures are optimistic"
        )

        def saved_model(train):
            return ev.model_recommender(saved, train, args.ranking)

        methods[f"item2vec ({args.model})"] = saved_model
    else:
        with STATUS.step("starting TensorFlow"):
            start_tensorflow(args.verbose)

        def trained(train, seed):
            model = Item2Vec(**{**params, "seed": seed}, progress=not args.quiet).fit(train)
            return ev.model_recommender(model, train, args.ranking)

        methods["item2vec"] = trained
    methods.update(ev.BASELINES)
    if not args.no_gensim and not _gensim_installed():
        note("gensim is not installed, so the gensim peer is left out (pip install gensim, "
             "or pass --no-gensim to leave it out without this note)")  # fmt: skip
    elif not args.no_gensim:
        shared = ("dim", "window", "negatives", "ns_exponent", "sample", "epochs")
        gensim_params = {k: params[k] for k in shared}
        if gensim_params["window"] == "session":
            gensim_params["window"] = 10_000
        if gensim_params["epochs"] is None:  # the same automatic number as item2vec's
            from .config import auto_epochs

            gensim_params["epochs"] = auto_epochs(sessions.n_events)
        methods["gensim sg"] = lambda train, seed: ev.gensim_recommender(
            train, **gensim_params, workers=args.workers, seed=seed
        )[0]
    from tqdm.auto import tqdm

    ours = next(iter(methods))
    total = len(methods) * len(args.seeds)
    with tqdm(total=total, unit="run", disable=True if args.quiet else None, leave=False) as bar:
        table = ev.compare(
            _with_progress(methods, bar), sessions, args.seeds, reference=ours, ks=tuple(args.k),
            n_test=n_test, history=args.history,
        )  # fmt: skip
    if args.history is not None:
        inside = int(table["answer in history"].iloc[0])
        print(
            f"history protocol: the last <= {args.history} items before each held-out one; "
            f"{inside} test cases whose answer is in its history are left out (per split)"
        )
    shown = [f"{m}@{k}" for k in args.k for m in ("HR", "NDCG")]
    print(ev.format_table(table, [*shown, "MRR", *(f"coverage@{k}" for k in args.k)]))
    how = "t over seeds" if len(args.seeds) > 1 else "bootstrap over the test cases"
    print(
        f"\npaired difference, each method minus {ours} on the same splits (95% interval, {how}):"
    )
    print(ev.format_table(table.drop(index=ours), [f"{m} diff" for m in shown]))
    if args.json:
        table.to_json(args.json, orient="index", indent=2)
    if args.csv:
        table.to_csv(args.csv)
    return 0


def _space_value(text: str):
    if text == "session":
        return text
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def cmd_tune(args: argparse.Namespace) -> int:
    import json

    from .tune import DEFAULT_SPACE, tune

    if args.json:
        check_out(args.json, args.overwrite, "--json")
    space = dict(DEFAULT_SPACE)
    for spec in args.space or []:
        name, _, values = spec.partition("=")
        space[name.replace("-", "_")] = [_space_value(v) for v in values.split(",") if v]
    sessions, _, _ = load_sessions(args, STATUS)
    with STATUS.step("starting TensorFlow"):
        start_tensorflow(args.verbose)
    result = tune(
        sessions,
        space=space,
        budget_seconds=args.budget,
        n_test=args.n_test,
        n_valid=args.n_valid,
        n_confirm=args.n_confirm,
        valid_events=args.valid_events,
        history=args.history,
        min_epochs=args.min_epochs,
        max_epochs=args.max_epochs,
        metric=args.metric,
        seed=args.seed,
        progress=not args.quiet,
        ranking=args.ranking,
        test_defaults=args.test_defaults,
    )
    print(result.trials.round(4).to_string(index=False))
    print(result.summary())
    if args.json:
        out = {
            "best_params": result.best_params,
            "best_validation": result.best_validation,
            "metric": result.metric,
            "ranking": result.ranking,
            "params": result.params,
            "chose_defaults": result.chose_defaults,
            "defaults_params": result.defaults_params,
            "guard": result.guard,
            "test_metrics": result.test_metrics,
            "defaults_test_metrics": result.defaults_test_metrics,
            "baselines": result.baselines,
            "interrupted": result.interrupted,
            "trials": json.loads(result.trials.to_json(orient="records")),
        }
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    check_out(args.out, True, "--out", directory=True)  # a report folder: its files replaced
    with STATUS.step("starting TensorFlow"):
        start_tensorflow(args.verbose)
    from .demo import run_demo

    return run_demo(out=args.out, epochs=args.epochs, quick=args.quick, progress=not args.quiet)


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
        "of training from scratch; the model's settings are kept (--epochs, --learning-rate "
        "and --workers apply to the update); --out must be another directory",
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
                "both mixed over the ITEMs, the last weighing most. logit / cosine: the ITEMs' "
                "mean vector, dot + bias or cosine",
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
        "--ranking", choices=SCORES, default="blend",
        help="how item2vec answers a query, as recommend --score: blend (neighbour counts "
        "smoothed by the model), log_prob (logit + log prior), logit (dot + bias) or cosine "
        "(as similar); default %(default)s",
    )  # fmt: skip
    g.add_argument("--json", metavar="FILE", help="also write the table as JSON here")
    g.add_argument("--csv", metavar="FILE", help="also write the table as CSV here")
    g.add_argument("--overwrite", action="store_true", help="replace existing --json / --csv")
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
        "--ranking", choices=SCORES, default="blend",
        help="how trials answer validation queries (see evaluate --ranking)",
    )  # fmt: skip
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
    for p in _COMMANDS:  # last, below each command's own groups
        add_output_options(p)
    return parser


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
