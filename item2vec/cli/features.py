"""Item attributes on the command line: ``--features`` for ``train`` and ``evaluate``, and
``evaluate --cold-items SHARE``, the cold-item protocol (:mod:`item2vec.evaluation.cold`).

``--features FILE`` is a CSV or Parquet table with one row per item: ``--feature-item-col``
(default: the log's ``--item-col``) names its id column, ``--feature-cols`` the attribute
columns (each cell the token ``column=value``), ``--feature-words`` the text columns split
into words. ``--features descriptions`` takes the words of the items' descriptions: those
of the bundled log, or ``--desc-col``'s.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..exceptions import ParameterError

__all__ = ["add_cold_options", "add_feature_options", "cmd_evaluate_cold", "load_features"]

#: ``--features`` value that takes the words of the items' descriptions.
DESCRIPTIONS = "descriptions"


def _columns(value: str) -> list[str]:
    cols = [c.strip() for c in value.split(",") if c.strip()]
    if not cols:
        raise argparse.ArgumentTypeError(f"expected comma-separated column names, got {value!r}")
    return cols


def add_feature_options(p: argparse.ArgumentParser) -> None:
    """The "item attributes" option group."""
    g = p.add_argument_group("item attributes")
    g.add_argument(
        "--features", metavar="FILE",
        help="item attribute table (CSV or Parquet, one row per item), or "
        f"'{DESCRIPTIONS}' for the words of the items' descriptions; items with attributes "
        "and no events become cold items (vectors from their attributes)",
    )  # fmt: skip
    g.add_argument(
        "--feature-item-col", metavar="COL", help="its item id column (default: --item-col)"
    )
    g.add_argument(
        "--feature-cols", metavar="A,B", type=_columns, default=None,
        help="attribute columns, each value a token (default: every column but the id, "
        "unless --feature-words is given)",
    )  # fmt: skip
    g.add_argument(
        "--feature-words", metavar="A,B", type=_columns, default=[],
        help="text columns whose words are tokens (a title, a description)",
    )  # fmt: skip


def add_cold_options(g: Any) -> None:
    """``evaluate --cold-items SHARE``."""
    g.add_argument(
        "--cold-items", metavar="SHARE", type=float, default=None,
        help="the cold-item protocol: hold SHARE of the items (e.g. 0.1) out of training and "
        "rank the next item of users whose next item is one of them, among the cold items "
        "and among all, against attribute baselines; needs --features",
    )  # fmt: skip


def load_features(args: argparse.Namespace, sessions: Any, descriptions: Any) -> Any:
    """The :class:`~item2vec.data.features.ItemFeatures` of ``--features`` (None without)."""
    import pandas as pd

    from ..data.datasets import retail_features
    from ..data.features import ItemFeatures

    if args.features is None:
        for flag in ("feature_item_col", "feature_cols"):
            if getattr(args, flag):
                raise ParameterError(f"--{flag.replace('_', '-')} needs --features")
        return None
    if args.features == DESCRIPTIONS:
        if descriptions is None and getattr(args, "desc_col", None):
            from .log_options import read_descriptions

            descriptions = read_descriptions(args)
        if descriptions is None or not len(descriptions):
            raise ParameterError(
                f"--features {DESCRIPTIONS} needs descriptions: the bundled log's, or --desc-col"
            )
        return retail_features(pd.Series(dict(descriptions)), sessions.vocabulary.ids)
    path = os.fspath(args.features)
    item = args.feature_item_col or getattr(args, "item_col", None)
    if item is None:
        raise ParameterError("--features needs --feature-item-col (the table's item id column)")
    columns = args.feature_cols
    if columns is None and args.feature_words:
        columns = []
    if path.lower().endswith((".parquet", ".pq")) or os.path.isdir(path):
        if not os.path.exists(path):
            raise ParameterError(f"--features: no such file {path!r}")
        df = pd.read_parquet(path)
        return ItemFeatures.from_frame(df, item=item, columns=columns, words=args.feature_words)
    return ItemFeatures.from_csv(path, item=item, columns=columns, words=args.feature_words)


def cmd_evaluate_cold(args: argparse.Namespace, params: dict, sessions: Any, desc: Any) -> int:
    """``evaluate --cold-items SHARE``: item2vec fitted with the attributes on each split,
    beside the four attribute baselines; one table among the cold items, one among all."""
    from ..estimator import Item2Vec
    from ..evaluation.cold import compare_cold
    from ..evaluation.protocols import format_table
    from .console import STATUS

    if args.features is None:
        raise ParameterError(
            "--cold-items needs --features (the attributes that cold items are known by); "
            f"for the bundled log: --features {DESCRIPTIONS}"
        )
    if args.model:
        raise ParameterError("--cold-items trains a model per split: drop --model")
    features = load_features(args, sessions, desc)
    ks = sorted(set(args.k))

    def model(train, feats, seed):
        fitted = Item2Vec(**{**params, "seed": seed}, progress=not args.quiet)
        fitted.fit(train, item_features=feats)

        def rank(histories, k, allowed):
            return fitted.recommend_batch(histories, k, allowed=allowed)[0]

        return rank

    with STATUS.step(f"cold-item protocol, {len(args.seeds)} split(s)"):
        tables = compare_cold(
            model, sessions, features, args.seeds, share=args.cold_items,
            n_test=args.n_test or 2000, history=args.history or 5, ks=ks,
        )  # fmt: skip
    metrics = [f"HR@{k}" for k in ks]
    for among, title in (("cold", "among the cold items"), ("all", "among all items")):
        table = tables[among]
        n = int(table["n_cases"].iloc[0])
        print(f"\nnext item cold, ranked {title} ({n:,} cases, seeds {args.seeds}):")
        print(format_table(table, metrics))
        row = table.loc["item2vec"]
        first = f"HR@{ks[0]}"
        print(
            f"item2vec - {row['best baseline']}: {first} {row[first + ' diff']:+.3f} "
            f"({row[first + ' diff low']:+.3f} to {row[first + ' diff high']:+.3f}, 95%)"
        )
    return 0
