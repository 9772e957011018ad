"""Multi-worker fits count the blend's neighbour pairs: each worker its shard, summed with
the engine's collectives, saved by the chief; the same counts as one process.

Starts two real worker processes on 127.0.0.1 (as tests/test_distributed.py does), one
short epoch, under a hard timeout; marked ``distributed``.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from item2vec import Item2Vec, Sessions, datasets
from item2vec.distributed.launch import launch_local
from item2vec.queries.counts import next_counts

pytestmark = pytest.mark.distributed

TIMEOUT = 240  # seconds per launch, all workers killed after it


@pytest.fixture(scope="module")
def walk_log(tmp_path_factory) -> str:
    s = datasets.synthetic(n_items=200, n_clusters=10, n_sessions=600, mean_length=6,
                           noise=0.2, seed=4, successors=4).sessions  # fmt: skip
    df = pd.DataFrame(
        {"session": np.repeat(np.arange(len(s)), s.lengths), "item": s.vocabulary.ids[s.items]}
    )
    path = tmp_path_factory.mktemp("log") / "log.parquet"
    df.to_parquet(path, row_group_size=300)  # 12 row groups: sharded by row groups
    return str(path)


def test_two_workers_save_the_single_process_counts(walk_log, tmp_path):
    out = str(tmp_path / "model")
    args = [walk_log, "--session-col", "session", "--item-col", "item", "--out", out,
            "--quiet", "--dim", "8", "--epochs", "1", "--batch-size", "256",
            "--seed", "0"]  # fmt: skip
    exits = launch_local(2, args, timeout=TIMEOUT, log_dir=str(tmp_path / "logs"))
    for e in exits:
        assert e.ok, f"worker {e.index}: {e.returncode}, timed out {e.timed_out}\n" + "\n".join(
            e.tail
        )
    model = Item2Vec.load(out)
    want = next_counts(Sessions.from_parquet(walk_log, session="session", item="item"))
    assert model.default_score_ == "blend"
    assert (model.neighbour_counts_ != want.counts).nnz == 0
    assert model.update_state_.window == want.window
    assert (model.update_state_.forward != want.forward).nnz == 0
    assert os.path.isdir(out)
