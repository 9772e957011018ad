"""A worker program with an injected fault, for the failure tests of multi-worker training.

``python -m distributed_faults train ...`` (with ``tests/`` on ``PYTHONPATH``) is
``python -m item2vec.distributed train ...``, except that one worker dies or stalls once
at a chosen point of its own input stream. The fault is described by the environment
variable ``ITEM2VEC_TEST_FAULT``, a JSON object:

- ``worker``, ``epoch``, ``batch``: the worker, and the batch of its stream (both 0-based)
  before which it acts;
- ``action``: ``"kill"`` (SIGKILL itself: no clean-up, as the OOM killer or a pre-emption)
  or ``"stall"`` (sleep for an hour: alive, heartbeats still sent, but no progress);
- ``checkpoints``, ``min_step``: it first waits (up to 120 s) until this directory holds a
  checkpoint taken in that epoch after at least ``min_step`` of its steps (default 1), so
  that the fault always lands mid-epoch, after a mid-epoch checkpoint;
- ``marker``: a file created just before acting; when it exists the worker acts normally
  (the relaunched run is healthy).

The real program runs in the process (the launcher's ``WORKER_MODULE`` is pointed here);
only ``item2vec.sampling.epoch_units``, the worker's input stream, is wrapped.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time


def _mid_epoch_checkpoint(directory: str, epoch: int, min_step: int) -> bool:
    try:
        names = os.listdir(directory)
    except OSError:
        return False
    for name in names:
        if not name.startswith("ckpt-") or "." in name:
            continue
        try:
            with open(os.path.join(directory, name, "meta.json")) as f:
                state = json.load(f)["state"]
        except (OSError, ValueError, KeyError):
            continue
        if state["epoch"] == epoch and state["step_in_epoch"] >= min_step:
            return True
    return False


def _install(fault: dict) -> None:
    import item2vec.sampling as sampling

    me = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    real = sampling.epoch_units

    def epoch_units(part, **kwargs):
        for k, units in enumerate(real(part, **kwargs)):
            if (me == fault["worker"] and kwargs.get("epoch") == fault["epoch"]
                    and k == fault["batch"] and not os.path.exists(fault["marker"])):  # fmt: skip
                deadline = time.monotonic() + 120
                while not _mid_epoch_checkpoint(fault["checkpoints"], fault["epoch"],
                                                fault.get("min_step", 1)):  # fmt: skip
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.1)
                open(fault["marker"], "w").close()
                print(f"distributed_faults: worker {me}: {fault['action']} at epoch "
                      f"{fault['epoch']} batch {k}", file=sys.stderr, flush=True)  # fmt: skip
                if fault["action"] == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                time.sleep(3600)
            yield units

    sampling.epoch_units = epoch_units


if __name__ == "__main__":
    _install(json.loads(os.environ["ITEM2VEC_TEST_FAULT"]))
    import runpy

    runpy.run_module("item2vec.distributed", run_name="__main__", alter_sys=True)
