"""Interrupted training: checkpoints, Ctrl-C, SIGKILL and exact resumption."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from item2vec import Item2Vec, datasets
from item2vec.exceptions import TrainingError
from item2vec.training.checkpoint import Checkpointer

FAST = dict(dim=16, window=3, epochs=3, batch_size=128, progress=False, seed=0, workers=1)


@pytest.fixture(scope="module")
def planted():
    return datasets.synthetic(n_items=200, n_clusters=10, n_sessions=1500, mean_length=8, seed=3)


def _interrupt_at(monkeypatch, step: int) -> list[int]:
    """Make the checkpointer raise KeyboardInterrupt (as Ctrl-C would) once ``step`` batches
    are done (steps advance a group of batches at a time); returns where it stopped."""
    original = Checkpointer.on_step
    stopped: list[int] = []

    def on_step(self, state):
        original(self, state)
        if state.global_step >= step and not stopped:
            stopped.append(state.global_step)
            raise KeyboardInterrupt

    monkeypatch.setattr(Checkpointer, "on_step", on_step)
    return stopped


@pytest.mark.parametrize("optimizer", ["sgd", "adagrad"])
def test_ctrl_c_then_resume_gives_the_uninterrupted_result(
    planted, tmp_path, monkeypatch, capsys, optimizer
):
    params = {
        **FAST,
        "optimizer": optimizer,
        "learning_rate": 0.05 if optimizer == "adagrad" else 0.025,
    }
    reference = Item2Vec(**params).fit(planted.sessions)
    ckpt = tmp_path / "ckpt"
    model = Item2Vec(**params, checkpoint_dir=ckpt, checkpoint_every=7)
    with monkeypatch.context() as m:
        stopped = _interrupt_at(m, 30)  # mid-epoch 1 or 2 (about 24 steps per epoch)
        with pytest.raises(KeyboardInterrupt):
            model.fit(planted.sessions)
    err = capsys.readouterr().err
    assert "checkpoint saved to" in err and "resume=True" in err
    state = json.loads((ckpt / "meta.json").read_text())["state"]
    assert state["global_step"] == stopped[0] and 0 < state["batch_in_epoch"]
    model.fit(planted.sessions, resume=True)
    # one worker: the resumed run replays exactly the same batches and learning rates
    np.testing.assert_array_equal(model.item_vectors_, reference.item_vectors_)
    np.testing.assert_array_equal(model.item_biases_, reference.item_biases_)
    assert [h["epoch"] for h in model.history_] == [1, 2, 3]


def test_resume_refuses_other_settings(planted, tmp_path, monkeypatch):
    ckpt = tmp_path / "ckpt"
    with monkeypatch.context() as m:
        _interrupt_at(m, 10)
        with pytest.raises(KeyboardInterrupt):
            Item2Vec(**FAST, checkpoint_dir=ckpt, checkpoint_every=5).fit(planted.sessions)
    other = Item2Vec(**{**FAST, "dim": 8}, checkpoint_dir=ckpt)
    with pytest.raises(TrainingError, match=r"different settings \(dim=16 vs 8\)"):
        other.fit(planted.sessions, resume=True)


def test_resume_without_checkpoint_dir_is_an_error(planted):
    with pytest.raises(Exception, match="resume=True needs checkpoint_dir"):
        Item2Vec(**FAST).fit(planted.sessions, resume=True)


def test_resume_with_no_checkpoint_yet_starts_fresh(planted, tmp_path):
    model = Item2Vec(**{**FAST, "epochs": 1}, checkpoint_dir=tmp_path / "none")
    model.fit(planted.sessions, resume=True)
    assert len(model.history_) == 1
    assert (tmp_path / "none" / "meta.json").exists()  # written after the epoch


def _precision(model: Item2Vec, planted) -> float:
    """Same-cluster share of the 10 neighbours of every item, in ``planted``'s row order."""
    vocab = planted.sessions.vocabulary
    ids, _ = model.similar(list(vocab.ids), 10)  # ids may come back as str (read from CSV)
    return planted.same_cluster_precision(vocab.encode(ids.ravel()).reshape(ids.shape))


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume(planted, tmp_path):
    """Kill the CLI with SIGKILL mid-training, resume, and reach the same quality."""
    data = datasets.synthetic(n_items=200, n_clusters=10, n_sessions=6000, mean_length=8, seed=3)
    import pandas as pd

    rows = [(s, it) for s, items in enumerate(data.sessions.to_lists()) for it in items]
    csv = tmp_path / "log.csv"
    pd.DataFrame(rows, columns=["session", "item"]).to_csv(csv, index=False)
    out, ckpt = tmp_path / "model", tmp_path / "ckpt"
    cmd = [sys.executable, "-m", "item2vec.cli.main", "train", str(csv), "--session-col", "session",
           "--item-col", "item", "--dim", "16", "--epochs", "6", "--batch-size", "64",
           "--workers", "1", "--out", str(out), "--checkpoint-dir", str(ckpt),
           "--checkpoint-every", "20", "--quiet"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    killed_at = None
    try:
        while time.time() < deadline and proc.poll() is None:
            meta = ckpt / "meta.json"
            if meta.exists():
                try:
                    state = json.loads(meta.read_text())["state"]
                except (ValueError, OSError):  # mid-rename: try again
                    state = None
                if state and state["epoch"] >= 1 and state["batch_in_epoch"] > 0:
                    proc.send_signal(signal.SIGKILL)
                    killed_at = state
                    break
            time.sleep(0.05)
    finally:
        if proc.poll() is None and killed_at is None:
            proc.kill()
        proc.wait(timeout=60)
    assert killed_at is not None, proc.stderr.read().decode()[-2000:]
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    resumed = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    model = Item2Vec.load(out)
    assert [h["epoch"] for h in model.history_] == [1, 2, 3, 4, 5, 6]
    assert not ckpt.exists()  # removed once the final model is saved
    uninterrupted = Item2Vec(dim=16, epochs=6, batch_size=64, workers=1, progress=False)
    uninterrupted.fit(data.sessions)
    # tolerance: the resumed run redoes at most the steps since the last checkpoint
    p_resumed = _precision(model, data)
    p_reference = _precision(uninterrupted, data)
    assert p_resumed >= 0.9 and abs(p_resumed - p_reference) <= 0.05


def test_the_trainer_hands_its_optimizer_state_to_the_checkpointer(planted, tmp_path):
    """The checkpointer reads and restores Adagrad's accumulators through the trainer's public
    optimizer_state / restore_optimizer_state, one (rows, 1) array per table."""
    from item2vec.config import Config
    from item2vec.training.model import Item2VecModel
    from item2vec.training.train import Trainer

    n = len(planted.sessions.vocabulary)
    config = Config(dim=8, epochs=1, batch_size=128, workers=1, optimizer="adagrad")
    trainer = Trainer(Item2VecModel(n, 8), planted.sessions, config, progress=False)
    trainer.fit()
    state = trainer.optimizer_state()
    assert sorted(state) == ["accumulator_0", "accumulator_1"]  # E and b
    assert all(a.shape == (n, 1) and a.dtype == np.float32 for a in state.values())
    assert state["accumulator_0"].max() > 0.1  # grown from the initial 0.1
    Checkpointer(trainer, str(tmp_path / "ck"), every=1).save()
    fresh = Trainer(Item2VecModel(n, 8), planted.sessions, config, progress=False)
    Checkpointer(fresh, str(tmp_path / "ck"), every=1).restore()
    for k, v in fresh.optimizer_state().items():
        np.testing.assert_array_equal(v, state[k])
    sgd = Trainer(Item2VecModel(n, 8), planted.sessions, Config(dim=8), progress=False)
    assert sgd.optimizer_state() == {}
