"""The local launcher and the distributed command line, without training (no TensorFlow)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from item2vec.distributed import launch
from item2vec.distributed.launch import free_ports, launch_local
from item2vec.exceptions import ParameterError


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
    from item2vec.distributed.cli import worker_parser
    from item2vec.flags import hyperparameters

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
    from item2vec.distributed.cluster import cluster_from_env, tf_config

    spec = cluster_from_env({"TF_CONFIG": tf_config(["a:1", "b:2", "c:3"], 2)})
    assert (spec.task_index, spec.n_workers, spec.workers) == (2, 3, ("a:1", "b:2", "c:3"))
    assert not spec.is_chief


FLAKY = """
import json, os, signal, sys, time
index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
marker = f"{os.environ['FLAKY_MARKER']}-{index}"  # one per worker: no race between them
if not os.path.exists(marker):  # the first attempt
    open(marker, "w").close()
    if index == 1:  # dies, as a worker killed by the OOM killer
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(120)  # the survivor: stopped by the launcher
print("worker", index, "done", sys.argv[1:])
"""


def _flaky(tmp_path, monkeypatch) -> dict:
    """A stand-in worker program (no TensorFlow): worker 1 SIGKILLs itself the first time."""
    (tmp_path / "flaky_worker.py").write_text(FLAKY)
    monkeypatch.setattr(launch, "WORKER_MODULE", "flaky_worker")
    return dict(os.environ, PYTHONPATH=str(tmp_path), FLAKY_MARKER=str(tmp_path / "died"))


def test_restarts_stop_the_others_and_start_all_again(tmp_path, monkeypatch, capsys):
    env = _flaky(tmp_path, monkeypatch)
    exits = launch_local(2, ["--x"], timeout=120, grace=1, log_dir=tmp_path / "logs", env=env,
                         restarts=2)  # fmt: skip
    assert [(e.index, e.attempt, e.returncode) for e in exits] == [(0, 2, 0), (1, 2, 0)]
    err = capsys.readouterr().err
    assert ("attempt 1 failed (worker 0 killed after another worker failed, worker 1 killed "
            "by SIGKILL); restarting all 2 workers (restart 1 of 2)") in err  # fmt: skip
    log = (tmp_path / "logs" / "worker-1.log").read_text()
    assert log.index("--- attempt 2 ---") < log.index("worker 1 done")  # appended, not lost


def test_without_restarts_a_dead_worker_ends_the_run(tmp_path, monkeypatch):
    env = _flaky(tmp_path, monkeypatch)
    exits = launch_local(2, [], timeout=120, grace=1, log_dir=tmp_path / "logs", env=env)
    assert [(e.attempt, e.how) for e in exits] == [
        (1, "killed after another worker failed"), (1, "killed by SIGKILL")]  # fmt: skip


def test_an_error_a_restart_would_repeat_is_not_restarted(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(launch, "WORKER_MODULE", "json.tool")  # exit code 2: bad arguments
    exits = launch_local(2, ["--no-such-option"], timeout=60, grace=10, log_dir=tmp_path,
                         restarts=3)  # fmt: skip
    assert [(e.attempt, e.returncode) for e in exits] == [(1, 2), (1, 2)]
    assert "not restarting: a worker exited with code 2" in capsys.readouterr().err
    with pytest.raises(ParameterError, match="restarts must be an integer >= 0, got -1"):
        launch_local(1, [], restarts=-1)


def test_the_command_lines_take_the_checkpoint_and_restart_options():
    from item2vec.distributed.cli import launch_parser, worker_parser
    from item2vec.distributed.watchdog import DEFAULT_COLLECTIVE_TIMEOUT

    assert launch_parser().parse_args(["--workers", "2", "--restarts", "3"]).restarts == 3
    args = worker_parser().parse_args(["log", "--session-col", "s", "--item-col", "i", "--out",
                                       "m"])  # fmt: skip
    assert (args.checkpoint_dir, args.checkpoint_every, args.checkpoint_keep) == (None, 1000, 2)
    assert args.collective_timeout == DEFAULT_COLLECTIVE_TIMEOUT
    args = worker_parser().parse_args(["log", "--session-col", "s", "--item-col", "i", "--out",
                                       "m", "--checkpoint-dir", "ck", "--checkpoint-every", "0",
                                       "--collective-timeout", "30"])  # fmt: skip
    assert (args.checkpoint_dir, args.checkpoint_every, args.collective_timeout) == ("ck", 0, 30)
