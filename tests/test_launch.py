"""The local launcher and the distributed command line, without training (no TensorFlow)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from item2vec import launch
from item2vec.exceptions import ParameterError
from item2vec.launch import free_ports, launch_local


def test_free_ports_are_distinct():
    ports = free_ports(4)
    assert len(set(ports)) == 4 and all(p > 0 for p in ports)


def test_launch_arguments_are_checked():
    with pytest.raises(ParameterError, match="n_workers must be an integer >= 1, got 0"):
        launch_local(0, [])
    with pytest.raises(ParameterError, match="n_workers must be an integer >= 1, got True"):
        launch_local(True, [])
    with pytest.raises(ParameterError, match="timeout must be > 0 seconds, got 0"):
        launch_local(1, [], timeout=0)


def test_the_launcher_is_still_importable_from_distributed():
    import item2vec.distributed as d

    assert d.launch_local is launch_local and d.free_ports is free_ports
    assert d.WorkerExit is launch.WorkerExit


def test_failed_workers_are_reported_with_their_output(tmp_path, monkeypatch):
    # a stand-in worker program that rejects the arguments: exit code 2 and a usage line
    monkeypatch.setattr(launch, "WORKER_MODULE", "json.tool")
    exits = launch_local(2, ["--no-such-option"], timeout=60, grace=10, log_dir=tmp_path)
    assert [e.index for e in exits] == [0, 1]
    assert [e.returncode for e in exits] == [2, 2] and not any(e.ok for e in exits)
    assert all(e.log == str(tmp_path / f"worker-{e.index}.log") for e in exits)
    assert all(any("usage" in line for line in e.tail) for e in exits)


def test_python_m_distributed_delegates_to_its_command_line():
    run = [sys.executable, "-m", "item2vec.distributed"]
    out = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "{launch,train}" in out.stderr
    out = subprocess.run([*run, "launch", "--workers", "0", "--", "x"], capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert out.returncode == 2
    assert "n_workers must be an integer >= 1, got 0" in out.stderr


def test_worker_parser_takes_the_shared_options():
    from item2vec.checks import SHARD_MODES
    from item2vec.distributed import AGGREGATIONS
    from item2vec.distributed_cli import worker_parser
    from item2vec.options import hyperparameters

    args = worker_parser().parse_args(
        ["log.parquet", "--session-col", "s", "--item-col", "i", "--out", "m", "--window",
         "session", "--optimizer", "adagrad", "--shard", "hash", "--aggregation", "dense"]
    )  # fmt: skip
    params = hyperparameters(args)
    assert params["window"] == "session" and params["optimizer"] == "adagrad"
    assert (args.shard, args.aggregation) == ("hash", "dense")
    actions = {a.dest: a for a in worker_parser()._actions}
    assert tuple(actions["shard"].choices) == SHARD_MODES
    assert tuple(actions["aggregation"].choices) == AGGREGATIONS


def test_tf_config_is_what_cluster_from_env_reads():
    from item2vec.cluster import cluster_from_env, tf_config

    spec = cluster_from_env({"TF_CONFIG": tf_config(["a:1", "b:2", "c:3"], 2)})
    assert (spec.task_index, spec.n_workers, spec.workers) == (2, 3, ("a:1", "b:2", "c:3"))
    assert not spec.is_chief
