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
from .features import load_features
from .log_options import BUNDLED, load_sessions, read_descriptions

__all__ = [
    "N_TEST",
    "cmd_data_describe",
    "cmd_demo",
    "cmd_export",
    "cmd_recommend",
    "cmd_similar",
    "cmd_train",
    "chosen_score",
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
    features = load_features(args, sessions, descriptions)
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
        model.fit(sessions, resume=args.resume, item_features=features)
    except KeyboardInterrupt:
        print("item2vec: resume with the same command and --resume", file=sys.stderr)
        return 130
    model.save(args.out)
    shutil.rmtree(ckpt, ignore_errors=True)
    last = model.history_[-1]
    described = ", with descriptions" if descriptions is not None and len(descriptions) else ""
    if len(model.cold_items_):
        described += f", {len(model.cold_items_):,} of them cold (attributes, no events)"
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
    features = load_features(args, sessions, descriptions)
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
                     learning_rate=rate, resume=args.resume, item_features=features)  # fmt: skip
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


def cmd_demo(args: argparse.Namespace) -> int:
    check_out(args.out, True, "--out", directory=True)  # a report folder: its files replaced
    with STATUS.step("starting TensorFlow"):
        start_tensorflow(args.verbose)
    from .demo import run_demo

    return run_demo(out=args.out, epochs=args.epochs, quick=args.quick, progress=not args.quiet)
