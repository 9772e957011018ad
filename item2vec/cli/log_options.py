"""The options that name a log on the command line (``DATA``, ``--session-col``, ``--sep``,
...), and reading the log they name: the bundled Online Retail data, a CSV or a Parquet
file or directory, with optional item descriptions (``--desc-col``).
"""

from __future__ import annotations

import argparse
import difflib
import os
from pathlib import Path
from typing import Any

from ..checks import RETAIL_KINDS
from ..exceptions import DataError, ParameterError
from .console import Status

__all__ = [
    "BUNDLED",
    "add_log_options",
    "check_log_options",
    "load_sessions",
    "log_format",
    "read_descriptions",
    "separator",
]

BUNDLED = "online-retail"
CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")


def add_log_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "data",
        metavar="DATA",
        help=f"CSV or Parquet log (file or Parquet directory), or '{BUNDLED}' for the bundled "
        "UCI Online Retail data",
    )
    g = p.add_argument_group("log")
    g.add_argument(
        "--session-col", metavar="COL", help="column with the session / basket / order id"
    )
    g.add_argument(
        "--item-col", metavar="COL", help="column with the item id (required for a file)"
    )
    g.add_argument("--time-col", metavar="COL", help="column to order the events of a session by")
    g.add_argument(
        "--user-col",
        metavar="COL",
        help="column with the user id: one session per user, or split by --gap",
    )
    g.add_argument(
        "--gap",
        metavar="GAP",
        help="split a user's events into sessions where more than this passes between two "
        "(needs --time-col), e.g. 30min, 2h, or a number for a numeric time column",
    )
    g.add_argument(
        "--sep",
        metavar="SEP",
        help="field separator of a CSV log, e.g. ';' or '\\t' (default: ',', a tab for .tsv)",
    )
    g.add_argument(
        "--min-count", metavar="N", type=int, default=1, help="drop items seen fewer times"
    )
    g.add_argument(
        "--min-length", metavar="N", type=int, default=2, help="drop sessions shorter than this"
    )
    g.add_argument(
        "--collapse-repeats",
        action="store_true",
        help="merge consecutive repeats of an item within a session",
    )
    g.add_argument(
        "--kind",
        choices=RETAIL_KINDS,
        default="customers",
        help=f"for '{BUNDLED}': baskets (one session per invoice; the default of the Python "
        "datasets.online_retail()) or customers (one time-ordered history per customer; "
        "the default here, as in the demo and benchmarks)",
    )


def log_format(path: str) -> str:
    """``"csv"``, ``"parquet"`` (a file or a directory) or a DataError naming the path."""
    p = Path(path)
    if p.is_dir():
        return "parquet"
    if not p.exists():
        close = difflib.get_close_matches(path, [BUNDLED], n=1, cutoff=0.7)
        hint = f"; did you mean '{BUNDLED}' (the bundled data)?" if close else ""
        raise DataError(f"file not found: {path}{hint}")
    low = path.lower()
    if low.endswith(CSV_SUFFIXES):
        return "csv"
    if low.endswith(PARQUET_SUFFIXES):
        return "parquet"
    raise DataError(
        f"unsupported file type: {path}; the command line reads CSV ({', '.join(CSV_SUFFIXES)}) "
        f"and Parquet ({', '.join(PARQUET_SUFFIXES)}, or a directory of Parquet files): "
        "convert the file, e.g. pandas.read_excel(path).to_parquet('log.parquet')"
    )


def separator(args: argparse.Namespace) -> str | None:
    sep = getattr(args, "sep", None)
    return "\t" if sep == "\\t" else sep


def check_log_options(args: argparse.Namespace) -> str:
    """The log's format, after the checks of the options that need no reading."""
    if args.data == BUNDLED:
        return "bundled"
    fmt = log_format(os.fspath(args.data))
    if args.item_col is None or (args.session_col is None and args.user_col is None):
        raise ParameterError(
            "give --item-col, and --session-col or --user-col (with --time-col and --gap to "
            "split a user's events into sessions)"
        )
    if args.gap is not None and args.time_col is None:
        raise ParameterError(f"--gap {args.gap} needs --time-col, the column to measure it in")
    if fmt == "parquet" and args.sep is not None:
        raise ParameterError("--sep applies to CSV logs; this one is Parquet")
    return fmt


def load_sessions(args: argparse.Namespace, status: Status | None = None):
    """Sessions, descriptions (or None) and the source's cleaning report of a command's log
    options."""
    from ..data.sessions import Sessions

    status = status or Status(quiet=True)
    fmt = check_log_options(args)
    if fmt == "bundled":
        from ..data.datasets import online_retail

        with status.step(f"loading the bundled Online Retail log ({args.kind})"):
            d = online_retail(args.kind, min_count=args.min_count, min_length=args.min_length)
        return d.sessions, d.descriptions, d.report
    kwargs = dict(
        session=args.session_col, item=args.item_col, time=args.time_col, user=args.user_col,
        gap=args.gap, min_count=args.min_count, min_length=args.min_length,
        collapse_repeats=args.collapse_repeats,
    )  # fmt: skip
    path = os.fspath(args.data)
    with status.step(f"reading {path} and grouping it into sessions"):
        if fmt == "csv":
            sessions = Sessions.from_csv(path, sep=separator(args), **kwargs)
        else:
            sessions = Sessions.from_parquet(path, **kwargs)
    return sessions, None, {}


def read_descriptions(args: argparse.Namespace) -> dict:
    """``--desc-col``: item id -> its first non-empty description in the log."""
    import pandas as pd

    from ..data.columns import csv_header, missing_ids, needed_columns, normalize_ids

    path, item, desc = os.fspath(args.data), args.item_col, args.desc_col
    try:
        if log_format(path) == "csv":
            opts: dict[str, Any] = {"sep": separator(args) or ","}
            if path.lower().endswith((".tsv", ".tsv.gz")) and args.sep is None:
                opts["sep"] = "\t"
            names, original = csv_header(path, opts, warn=False)
            needed_columns(names, item=item, description=desc)
            df = pd.read_csv(
                path, usecols=[original[item], original[desc]], dtype=str,
                keep_default_na=False, na_values=[""], **opts,
            )  # fmt: skip
            df = df.rename(columns={original[item]: item, original[desc]: desc})
        else:
            import pyarrow.dataset as ds

            dataset = ds.dataset(path, format="parquet", partitioning="hive")
            needed_columns(dataset.schema.names, item=item, description=desc)
            df = dataset.to_table(columns=[item, desc]).to_pandas()
    except DataError:
        raise
    except (ValueError, OSError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read the descriptions of {path}: {e}") from e
    df = df[~missing_ids(df[item]) & ~missing_ids(df[desc])]
    ids = normalize_ids(df[item], item)
    texts = df[desc].astype(str).str.strip().to_numpy()
    out: dict = {}
    for i, t in zip(ids.tolist(), texts.tolist(), strict=True):
        out.setdefault(i, t)
    return out
