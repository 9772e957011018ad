"""The measuring commands: ``evaluate`` (the next-event protocols, and the cold-item one
through :mod:`item2vec.cli.features`) and ``tune`` (successive halving). As in
:mod:`item2vec.cli.commands`, heavy modules are imported inside the commands.
"""

from __future__ import annotations

import argparse

from ..exceptions import ParameterError
from ..flags import hyperparameters
from ..training.startup import start_tensorflow
from .commands import N_TEST, check_out, chosen_score
from .console import STATUS, note
from .features import cmd_evaluate_cold
from .log_options import load_sessions

__all__ = ["cmd_evaluate", "cmd_tune", "default_n_test"]


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
    from ..data.split import FULL_HISTORY  # here: --help must not import numpy / pandas

    score = chosen_score(args)
    for flag in ("json", "csv"):
        if getattr(args, flag):
            check_out(getattr(args, flag), args.overwrite, f"--{flag}")
    params = hyperparameters(args)
    Config(**params).validate()
    full = args.protocol == "full-ranking"
    for flag, value in (("--n-test", args.n_test), ("--history", args.history),
                        ("--cold-items", args.cold_items)):  # fmt: skip
        if full and value is not None:
            raise ParameterError(
                f"--protocol full-ranking tests every session with 3 items or more, "
                f"queried with all its earlier items: leave out {flag} (got {value})"
            )
    sessions, desc, _ = load_sessions(args, STATUS)
    if full:
        eligible = int((sessions.lengths >= 3).sum())
        print(
            f"test set (full ranking): the last item of all {eligible:,} sessions with 3 "
            f"items or more, queried with up to {FULL_HISTORY} items before it (masked); "
            "training data: every session but its last two items; the same split for every "
            "seed, only the models' seeds vary"
        )
    if args.cold_items is not None:
        with STATUS.step("starting TensorFlow"):
            start_tensorflow(args.verbose)
        return cmd_evaluate_cold(args, params, sessions, desc)
    n_test = args.n_test
    if n_test is None and not full:
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
            n_test=n_test, history=args.history, protocol=args.protocol,
        )  # fmt: skip
    if args.history is not None or full:
        what = (f"all (up to {FULL_HISTORY}) items" if full
                else f"the last <= {args.history} items")  # fmt: skip
        inside = int(table["answer in history"].iloc[0])
        print(
            f"history protocol: {what} before each held-out one; "
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
