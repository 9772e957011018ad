"""``python -m item2vec.serving MODEL_DIR [options]``: the same as ``item2vec serve``."""

from __future__ import annotations

import argparse
import sys

from . import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m item2vec.serving",
        description="Answer similar-item and next-item requests over HTTP from a trained model.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
