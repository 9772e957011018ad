"""The commands of the command line, one ``cmd_<name>(args) -> exit code`` each, with the
checks they share (output paths, checkpoints, the training log); :mod:`item2vec.cli.main` parses
the arguments and calls them. Heavy modules (TensorFlow, FAISS, pandas) are imported inside
the commands that need them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..exceptions import ParameterError
from ..flags import hyperparameters
from ..training.startup import start_tensorflow
from .console import STATUS, note, plain, print_results
from .log_options import BUNDLED, load_sessions, read_descriptions

__all__ = [
    "N_TEST",
    "cmd_data_describe",
    "cmd_demo",
    "cmd_evaluate",
    "cmd_export",
    "cmd_recommend",
    "cmd_similar",
    "cmd_train",
    "cmd_tune",
    "chosen_score",
    "default_n_test",
]

#: Test sessions of ``evaluate`` when ``--n-test`` is not given: half of the eligible
#: sessions, at most this many.
N_TEST = 2000


def check_out(path: str | os.PathLike, overwrite: bool, flag: str, directory: bool = False):
    """:func:`item2vec.io.check_output` for the option ``flag``."""
    from ..io import check_output

    return check_output(path, directory=directory, overwrite=overwrite, name=flag)


def chosen_score(args: argparse.Namespace) -> str:
    """``evaluate`` and ``tune``: ``--score`` (default ``blend``), or ``--ranking``, its
    deprecated former name, with a note; both is an error naming both."""
    if args.ranking is None:
        return "blend" if args.score is None else args.score
    if args.score is not None:
        raise ParameterError(
            f"give --score only: --ranking is its deprecated former name, got both "
            f"--score {args.score} and --ranking {args.ranking}"
        )
    note("--ranking is deprecated: use --score (the same values)")
    return args.ranking


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

    from ..io import check_writable

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

    from ..config import Config

    if args.update:
        return _update(args)
    if args.freeze_existing:
        raise ParameterError(
            "--freeze-existing applies to --update MODEL (an update of a saved model)"
        )
    if args.distributed:  # one worker of a tf.distribute cluster (TF_CONFIG)
        from ..distributed.cli import run_worker

        if args.device == "gpu":
            raise ParameterError(
                "--device gpu applies to training in one process; the distributed trainer "
                "(--distributed) leaves placement to TensorFlow: drop --device, or drop "
                "--distributed to train on one GPU"
            )
        _check_model_out(args.out, args.overwrite)
        start_tensorflow(args.verbose)
        return run_worker(args)
    params = hyperparameters(args)
    config = Config(**params).validate()  # bad settings fail before the data is read
    _check_model_out(args.out, args.overwrite)
    ckpt, has_checkpoint = _checkpoint(args, "train")
    started = _check_device(args, config.device)  # so does --device gpu without a GPU
    sessions, descriptions = _training_log(args, ckpt, has_checkpoint, "training")
    from ..estimator import Item2Vec, model_bytes
    from ..io import check_writable

    check_writable(args.out, model_bytes(len(sessions.vocabulary), config))
    if not started:
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
        f"{last['couples_per_second']:,.0f} couples/s on the {model.device_.upper()}"
    )
    return 0


def _check_device(args: argparse.Namespace, device: str) -> bool:
    """For ``--device gpu``: start TensorFlow now and fail (exit 2) if it sees no GPU, before
    the log is read. Returns whether TensorFlow was started."""
    if device != "gpu":
        return False
    with STATUS.step("starting TensorFlow"):
        start_tensorflow(args.verbose)
    from ..training.train import resolve_device

    resolve_device(device)
    return True


#: Settings an update may change; the others are the model's (see :func:`_update`).
UPDATE_SETTINGS = ("epochs", "learning_rate", "workers", "device")


def _update(args: argparse.Namespace) -> int:
    """``train LOG --update MODEL --out MODEL2``: ``Item2Vec.load(MODEL).update(LOG)`` saved
    to MODEL2; MODEL stays as it was."""
    import shutil

    from ..config import Config
    from ..estimator import Item2Vec, model_bytes
    from ..io import check_writable

    if args.distributed:
        raise ParameterError("--update runs in one process; drop --distributed")
    if Path(args.out).resolve() == Path(args.update).resolve():
        raise ParameterError(
            f"--out {args.out}: that is the model given to --update; write the updated model "
            "to another directory (the one you start from stays as it was)"
        )
    _check_model_out(args.out, args.overwrite)
    ckpt, has_checkpoint = _checkpoint(args, "update")
    started = _check_device(args, args.device)
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
    if not started:
        with STATUS.step("starting TensorFlow"):
            start_tensorflow(args.verbose)
    model.set_params(checkpoint_dir=ckpt, checkpoint_every=args.checkpoint_every,
                     progress=not args.quiet, workers=args.workers,
                     device=args.device)  # fmt: skip
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
    from ..estimator import Item2Vec

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
    from ..estimator import Item2Vec
    from ..export import export_projector, export_word2vec

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
    from ..config import Config

    score = chosen_score(args)
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
    from ..estimator import Item2Vec
    from ..evaluation import protocols as ev

    methods: dict = {}
    if args.model:
        with STATUS.step(f"loading {args.model}"):
            saved = Item2Vec.load(args.model)
        note(
            "a saved model is scored as is; it must not have been trained on the held-out "
            "last items, or the figures are optimistic"
        )

        def saved_model(train):
            return ev.model_recommender(saved, train, score)

        methods[f"item2vec ({args.model})"] = saved_model
    else:
        with STATUS.step("starting TensorFlow"):
            start_tensorflow(args.verbose)
        from ..training.train import resolve_device

        resolve_device(params["device"])  # --device gpu without a GPU: fail before the work

        def trained(train, seed):
            model = Item2Vec(**{**params, "seed": seed}, progress=not args.quiet).fit(train)
            return ev.model_recommender(model, train, score)

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
            from ..config import auto_epochs

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

    from ..tuning.search import DEFAULT_SPACE, tune

    score = chosen_score(args)
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
        score=score,
        test_defaults=args.test_defaults,
    )
    print(result.trials.round(4).to_string(index=False))
    print(result.summary())
    if args.json:
        out = {
            "best_params": result.best_params,
            "best_validation": result.best_validation,
            "metric": result.metric,
            "score": result.score,
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
