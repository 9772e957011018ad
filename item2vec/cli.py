"""Command line: ``item2vec data describe``, ``demo``, ``train``, ``similar``, ``recommend``, ..."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .checks import EXPORT_FORMATS, RETAIL_KINDS, SCORES
from .exceptions import Item2VecError
from .options import add_distributed_options, add_hyperparameters, hyperparameters
from .version import __version__

BUNDLED = "online-retail"


def _add_log_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "data",
        metavar="DATA",
        help=f"CSV or Parquet log (file or Parquet directory), or '{BUNDLED}' for the bundled data",
    )
    p.add_argument("--session-col", help="column with the session / basket id")
    p.add_argument("--item-col", help="column with the item id")
    p.add_argument("--time-col", help="column to order events by")
    p.add_argument("--user-col", help="column with the user id (sessions split by --gap)")
    p.add_argument("--gap", help="split a user's events into sessions after this gap, e.g. 30min")
    p.add_argument("--min-count", type=int, default=1, help="drop items seen fewer times")
    p.add_argument("--min-length", type=int, default=2, help="drop shorter sessions")
    p.add_argument("--collapse-repeats", action="store_true", help="merge consecutive repeats")
    p.add_argument(
        "--kind",
        choices=RETAIL_KINDS,
        default="customers",
        help=f"for '{BUNDLED}': invoices as baskets, or customer histories (default)",
    )


def load_sessions(args: argparse.Namespace):
    """Sessions (and descriptions, if known) from the log options of a command."""
    from .data import Sessions
    from .datasets import online_retail

    if args.data == BUNDLED:
        d = online_retail(args.kind, min_count=args.min_count, min_length=args.min_length)
        return d.sessions, d.descriptions, d.report
    if args.item_col is None or (args.session_col is None and args.user_col is None):
        raise Item2VecError("give --item-col and --session-col (or --user-col with --gap)")
    kwargs = dict(
        session=args.session_col,
        item=args.item_col,
        time=args.time_col,
        user=args.user_col,
        gap=args.gap,
        min_count=args.min_count,
        min_length=args.min_length,
        collapse_repeats=args.collapse_repeats,
    )
    path = str(args.data)
    if path.lower().endswith((".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz")):
        sessions = Sessions.from_csv(path, **kwargs)
    else:
        sessions = Sessions.from_parquet(path, **kwargs)
    return sessions, None, {}


def cmd_data_describe(args: argparse.Namespace) -> int:
    sessions, _, report = load_sessions(args)
    if report:
        print("source cleaning report")
        width = max(len(k) for k in report)
        for k, v in report.items():
            print(f"  {k:<{width}}  {v:,}")
    print(sessions.describe())
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    import shutil

    from .config import Config
    from .estimator import Item2Vec, model_bytes
    from .io import check_writable

    if args.distributed:  # one worker of a tf.distribute cluster (TF_CONFIG)
        from .distributed_cli import run_worker

        return run_worker(args)
    params = hyperparameters(args)
    config = Config(**params).validate()  # bad settings fail before the data is read
    check_writable(args.out)
    sessions, _, _ = load_sessions(args)
    print(sessions.describe(), file=sys.stderr)
    ckpt = args.checkpoint_dir or f"{os.fspath(args.out).rstrip(os.sep)}.checkpoint"
    check_writable(args.out, model_bytes(len(sessions.vocabulary), config))
    model = Item2Vec(
        **params,
        checkpoint_dir=ckpt,
        checkpoint_every=args.checkpoint_every,
        progress=not args.quiet,
    )
    try:
        model.fit(sessions, resume=args.resume)
    except KeyboardInterrupt:
        print("item2vec: resume with the same command and --resume", file=sys.stderr)
        return 130
    model.save(args.out)
    shutil.rmtree(ckpt, ignore_errors=True)
    last = model.history_[-1]
    print(
        f"saved {args.out}: {len(model.vocabulary_):,} items x {model.dim} dims; last epoch "
        f"loss {last['loss']:.4f}, {last['couples_per_second']:,.0f} couples/s"
    )
    return 0


def _print_results(title: str, queries, ids, scores, as_json: bool, descriptions=None) -> None:
    import json

    if as_json:
        out = [
            {"query": q, "results": [{"item": _plain(i), "score": float(s)} for i, s in zip(r, c)]}
            for q, r, c in zip(queries, ids, scores)
        ]
        print(json.dumps(out, indent=2))
        return
    for q, r, c in zip(queries, ids, scores):
        print(f"{title} {q}")
        for rank, (i, sc) in enumerate(zip(r, c), 1):
            desc = f"  {descriptions.get(i, '')}" if descriptions is not None else ""
            print(f"  {rank:>3}  {str(i):<14} {sc:8.4f}{desc}")


def _plain(x):
    return x.item() if hasattr(x, "item") else x


def cmd_similar(args: argparse.Namespace) -> int:
    from .estimator import Item2Vec

    model = Item2Vec.load(args.model)
    ids, scores = model.similar(args.items, args.k)
    _print_results("similar to", args.items, ids, scores, args.json)
    return 0


def cmd_recommend(args: argparse.Namespace) -> int:
    from .estimator import Item2Vec

    model = Item2Vec.load(args.model)
    ids, scores = model.recommend(args.items, args.k, score=args.score)
    _print_results("after", [" + ".join(args.items)], [ids], [scores], args.json)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .estimator import Item2Vec
    from .export import export_projector, export_word2vec

    model = Item2Vec.load(args.model)
    if args.format == "projector":
        out = export_projector(args.out, model.item_vectors_, model.vocabulary_.ids)
    else:
        binary = args.format == "word2vec-binary"
        out = export_word2vec(args.out, model.item_vectors_, model.vocabulary_.ids, binary=binary)
    print(f"wrote {out}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Next-event protocol: item2vec (trained per split, or a saved model), baselines, gensim."""
    import importlib.util

    from . import evaluate as ev
    from .estimator import Item2Vec

    sessions, _, _ = load_sessions(args)
    params = hyperparameters(args)
    methods: dict = {}
    if args.model:
        saved = Item2Vec.load(args.model)
        print(
            "note: a saved model is scored as is; it must not have been trained on the held-out "
            "last items, or the figures are optimistic",
            file=sys.stderr,
        )

        def saved_model(train):
            return ev.model_recommender(saved, train, args.ranking)

        methods[f"item2vec ({args.model})"] = saved_model
    else:

        def trained(train, seed):
            model = Item2Vec(**{**params, "seed": seed}, progress=False).fit(train)
            return ev.model_recommender(model, train, args.ranking)

        methods["item2vec"] = trained
    methods.update(ev.BASELINES)
    if not args.no_gensim and importlib.util.find_spec("gensim") is not None:
        shared = ("dim", "window", "negatives", "ns_exponent", "sample", "epochs")
        gensim_params = {k: params[k] for k in shared}
        if gensim_params["window"] == "session":
            gensim_params["window"] = 10_000
        methods["gensim sg"] = lambda train, seed: ev.gensim_recommender(
            train, **gensim_params, workers=args.workers, seed=seed
        )[0]
    ours = next(iter(methods))
    table = ev.compare(
        methods, sessions, args.seeds, reference=ours, ks=tuple(args.k), n_test=args.n_test,
        history=args.history,
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

    space = dict(DEFAULT_SPACE)
    for spec in args.space or []:
        name, _, values = spec.partition("=")
        space[name.replace("-", "_")] = [_space_value(v) for v in values.split(",") if v]
    sessions, _, _ = load_sessions(args)
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
    from .demo import run_demo

    return run_demo(out=args.out, epochs=args.epochs, quick=args.quick)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="item2vec",
        description="Item embeddings from interaction logs (skip-gram/CBOW, FAISS queries).",
    )
    parser.add_argument("--version", action="version", version=f"item2vec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    data = sub.add_parser("data", help="inspect interaction logs")
    data_sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    data_sub.required = True
    describe = data_sub.add_parser("describe", help="sessions, items, lengths, cleaning report")
    _add_log_options(describe)
    describe.set_defaults(func=cmd_data_describe)

    train = sub.add_parser("train", help="train a model on a log and save it")
    _add_log_options(train)
    add_hyperparameters(train)
    train.add_argument("--out", required=True, help="model directory to write")
    train.add_argument("--checkpoint-dir", help="default: OUT.checkpoint")
    train.add_argument("--checkpoint-every", type=int, default=1000, help="steps")
    train.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
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
        ("recommend", "next-item candidates after the ITEMs (one context)", cmd_recommend),
    ):
        q = sub.add_parser(name, help=helptext)
        q.add_argument("model", metavar="MODEL_DIR")
        q.add_argument("items", metavar="ITEM", nargs="+")
        q.add_argument("-k", type=int, default=10, help="results per query (default 10)")
        q.add_argument("--json", action="store_true", help="machine-readable output")
        if name == "recommend":
            q.add_argument(
                "--score", choices=SCORES, default=None,
                help="blend: the items' neighbour counts smoothed by the model (the default "
                "when the model has them); log_prob: the model's next-item probabilities; "
                "both mixed over the ITEMs, the last weighing most. logit / cosine: the ITEMs' "
                "mean vector, dot + bias or cosine",
            )  # fmt: skip
        q.set_defaults(func=func)

    export = sub.add_parser("export", help="write vectors for gensim or TensorBoard")
    export.add_argument("model", metavar="MODEL_DIR")
    export.add_argument("--format", choices=EXPORT_FORMATS, default="word2vec")
    export.add_argument("--out", required=True, help="file (word2vec) or folder (projector)")
    export.set_defaults(func=cmd_export)

    evaluate = sub.add_parser(
        "evaluate", help="next-event HR/NDCG/MRR of item2vec vs baselines (and gensim)"
    )
    _add_log_options(evaluate)
    add_hyperparameters(evaluate)
    evaluate.add_argument("--model", help="score this saved model instead of training")
    evaluate.add_argument("--n-test", type=int, default=2000, help="held-out sessions")
    evaluate.add_argument("--seeds", type=int, nargs="+", default=[0], help="one split per seed")
    evaluate.add_argument("-k", type=int, nargs="+", default=[10, 20], help="cut-offs")
    evaluate.add_argument("--no-gensim", action="store_true", help="skip the gensim peer")
    evaluate.add_argument(
        "--history", type=int, default=None, metavar="N",
        help="query with the last N items before each held-out one (their items never "
        "recommended) instead of the previous item only",
    )  # fmt: skip
    evaluate.add_argument(
        "--ranking", choices=SCORES, default="blend",
        help="how item2vec answers a query, as recommend --score: blend (neighbour counts "
        "smoothed by the model), log_prob (logit + log prior), logit (dot + bias) or cosine "
        "(as similar); default %(default)s",
    )  # fmt: skip
    evaluate.add_argument("--json", help="also write the table as JSON here")
    evaluate.add_argument("--csv", help="also write the table as CSV here")
    evaluate.set_defaults(func=cmd_evaluate)

    tune_p = sub.add_parser("tune", help="hyperparameter search by successive halving")
    _add_log_options(tune_p)
    tune_p.add_argument("--budget", type=float, default=900.0, help="seconds (default 900)")
    tune_p.add_argument(
        "--space",
        action="append",
        metavar="NAME=V1,V2,...",
        help="replace one dimension of the default space, e.g. --space window=1,2,3",
    )
    tune_p.add_argument("--n-test", type=int, default=None, help="test cases")
    tune_p.add_argument("--n-valid", type=int, default=None, help="validation sessions")
    tune_p.add_argument(
        "--n-confirm", type=int, default=None,
        help="held-back validation sessions of the guard: the winner must beat the defaults "
        "there (default: up to 2000)",
    )  # fmt: skip
    tune_p.add_argument(
        "--history", type=int, default=None, metavar="N",
        help="search and test with the last N items before each held-out one as the query "
        "(see evaluate --history)",
    )  # fmt: skip
    tune_p.add_argument(
        "--test-defaults", action="store_true",
        help="also refit the defaults and report their test scores beside the tuned ones",
    )  # fmt: skip
    tune_p.add_argument(
        "--valid-events", type=int, default=1,
        help="held-out events (validation cases) per validation session (default 1)",
    )  # fmt: skip
    tune_p.add_argument("--min-epochs", type=int, default=2)
    tune_p.add_argument("--max-epochs", type=int, default=50)
    tune_p.add_argument("--metric", default="HR@10", help="HR@K, NDCG@K or MRR@K")
    tune_p.add_argument("--seed", type=int, default=0)
    tune_p.add_argument(
        "--ranking", choices=SCORES, default="blend",
        help="how trials answer validation queries (see evaluate --ranking)",
    )  # fmt: skip
    tune_p.add_argument(
        "--json", help="write the best and chosen settings, the guard, scores and trials here"
    )
    tune_p.add_argument("--quiet", action="store_true", help="no progress bar")
    tune_p.set_defaults(func=cmd_tune)

    demo = sub.add_parser(
        "demo", help="train on the bundled Online Retail data and show neighbours"
    )
    demo.add_argument("--out", default="item2vec-demo", help="report folder (default: %(default)s)")
    demo.add_argument("--epochs", type=int, default=None, help="override the demo's epochs")
    demo.add_argument("--quick", action="store_true", help="a few-second smoke run")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # FAISS's idle OpenMP threads spin by default, which slows everything else on a small
    # machine; a user's own setting wins. Must happen before faiss is imported.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from .train import configure_threads

    configure_threads()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except Item2VecError as e:
        print(f"item2vec: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("item2vec: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
